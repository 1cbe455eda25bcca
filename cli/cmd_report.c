/* reinpatch report RUN_DIR [RUN_DIR...] [--out report.html]
 *
 * One self-contained HTML page (inline SVG and CSS, no script, nothing fetched) about one or more
 * run directories: the recipe and metrics, the curves of history.csv, forecasts of the best,
 * median and worst test windows with each level's patches, and patch-length histograms; with
 * several runs, an overlaid validation chart and a comparison table first. The windows are ranked
 * by the scores train left in test_windows.h5 (else by scoring the whole test split), and only
 * the drawn windows' batches are evaluated again. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/svg.h"
#include "core/util.h"
#include "io/run_metrics.h"
#include "train/history.h"
#include "train/predict.h"
#include "train/train.h"
#include "train/window_scores.h"

static const char *report_help =
    "usage: reinpatch report RUN_DIR [RUN_DIR...] [--out report.html]\n"
    "\n"
    "Writes one self-contained HTML page (inline SVG and CSS: no script, nothing fetched; it\n"
    "opens from disk) about training runs: the resolved recipe and the metrics of metrics.json,\n"
    "train loss and val MSE per epoch with the best epoch marked, the learning rates, each learned\n"
    "level's entropy, cuts_off_uniform and patch length per epoch (history.csv), forecasts of the\n"
    "best, median and worst test windows by MSE in original units with every level's patches, and\n"
    "a histogram of patch lengths per level over the test split (checkpoint.h5 and the run's data;\n"
    "the per-window test scores of test_windows.h5, which train writes, when it is there and fits).\n"
    "With several RUN_DIRs the page starts with one overlaid val-MSE chart and a comparison table.\n"
    "\n"
    "  --out FILE   the page (default report.html; written atomically)\n"
    "\n"
    "Exit status: 0; 1 when a directory is not a run, a file cannot be read, or a part is missing\n"
    "(a run from before history.csv, an unfinished run, data not found): the page is then still\n"
    "written with what can be drawn and the one error line says what is missing; 2 usage.\n";

enum { N_SHOWN = 3, MAX_RUNS = 16 };
static const char *const SHOWN_NAME[N_SHOWN] = {"best", "median", "worst"};

/* A test window drawn in the report: values in original units. */
typedef struct shown_window {
    int window, rank, channel, start_row;
    double mse;                     /* z-scored units, as metrics.json */
    double *lookback, *truth, *forecast;   /* [L], [H], [H]; one allocation at lookback */
    int32_t *starts[RP_MAX_LEVELS]; /* [K_l] raw patch starts; one allocation at starts[0] */
} shown_window;

typedef struct run_view {
    const char *dir;
    char name[RP_NAME_MAX + 8];
    int has_metrics, has_history, has_checkpoint, has_recipe, has_test;
    rp_run_metrics metrics;
    rp_history history;
    rp_recipe recipe;
    char missing[512];              /* what could not be drawn, for the page and the error line */
    /* From the checkpoint and the test split: */
    int L, H, n_levels, K[RP_MAX_LEVELS];
    int n_windows;
    rp_test_windows scores;         /* every test window's MSE, the patch-length counts */
    shown_window shown[N_SHOWN];
    char column[N_SHOWN][RP_NAME_MAX];
    char first_time[N_SHOWN][64];
} run_view;

static void note_missing(run_view *v, const char *what) {
    size_t n = strlen(v->missing);
    snprintf(v->missing + n, sizeof v->missing - n, "%s%s", n ? "; " : "", what);
}

static const char *patching_word(rp_patching p) {
    return p == PATCHING_LEARNED ? "learned" : p == PATCHING_RANDOM ? "random" : "fixed";
}

/* ---- loading a run ---- */

static int file_exists(const char *dir, const char *name) {
    char p[RP_PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* qsort has no context argument: the keys of the one sort in progress (the CLI is one thread). */
static const double *sort_keys;
static int by_mse(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_keys[i] < sort_keys[j]) return -1;
    if (sort_keys[i] > sort_keys[j]) return 1;
    return (i > j) - (i < j);
}

/* The run's DIR/test_windows.h5 when it is the scores of this checkpoint's best weights on this
 * test split; 0 (and a warning line when the file is there but unusable) otherwise. */
static int read_scores_file(run_view *v, const rp_trainer *t, rp_test_windows *s) {
    char path[RP_PATH_MAX + 32], what[RP_PATH_MAX + RP_ERROR_MSG_MAX + 256] = "";
    snprintf(path, sizeof path, "%s/test_windows.h5", v->dir);
    if (!file_exists(v->dir, "test_windows.h5")) return 0; /* a run from before train wrote it */
    rp_error e;
    const rp_dataset *d = &t->data;
    if (test_windows_read(path, s, &e)) {
        snprintf(what, sizeof what, "%s", e.msg);
    } else if (s->step != t->step) {
        snprintf(what, sizeof what, "%s: scores the weights of step %lld, the checkpoint is at step %lld", path,
                 s->step, t->step);
    } else if (s->n_windows != v->n_windows || s->lookback != v->L || s->horizon != v->H ||
               s->n_levels != v->n_levels) {
        snprintf(what, sizeof what, "%s: %d windows of lookback %d, horizon %d, %d levels; the checkpoint's test "
                 "split has %d of %d, %d, %d", path, s->n_windows, s->lookback, s->horizon, s->n_levels, v->n_windows,
                 v->L, v->H, v->n_levels);
    }
    for (int l = 0; !what[0] && l < v->n_levels; l++)
        if (s->K[l] != v->K[l])
            snprintf(what, sizeof what, "%s: level %d has K = %d, the checkpoint's %d", path, l, s->K[l], v->K[l]);
    for (int w = 0; !what[0] && w < v->n_windows; w++) {
        int channel, start;
        dataset_window_origin(d, SPLIT_TEST, w, &channel, &start);
        if (s->channel[w] != channel || s->start_row[w] != start)
            snprintf(what, sizeof what, "%s: window %d is channel %d from row %d, the test split's is channel %d "
                     "from row %d", path, w, s->channel[w], s->start_row[w], channel, start);
    }
    if (!what[0]) return 1;
    test_windows_free(s);
    fprintf(stderr, "reinpatch report: warning: %s; scoring every test window instead\n", what);
    return 0;
}

/* The batch callback for one drawn window: its forecast in original units, its MSE as the
 * scores compute it, every level's patch starts. */
typedef struct drawn_window {
    shown_window *sw;
    int H, n_levels, K[RP_MAX_LEVELS];
    double mean, sd, mse;
} drawn_window;

static void draw_window(void *ctx, const rp_model *m, const rp_model_buffers *b, int first, int B, const float *y) {
    (void)m;
    drawn_window *d = ctx;
    int i = d->sw->window - first, H = d->H;
    if (i < 0 || i >= B) return;
    const float *f = b->forecast + (size_t)i * H;
    d->mse = window_mse(f, y + (size_t)i * H, H);
    for (int h = 0; h < H; h++) d->sw->forecast[h] = f[h] * d->sd + d->mean;
    for (int l = 0; l < d->n_levels; l++)
        memcpy(d->sw->starts[l], b->lv[l].raw_starts + (size_t)i * d->K[l], (size_t)d->K[l] * sizeof(int32_t));
}

/* Draws the best, median and worst windows by the scores: each one's batch is evaluated again.
 * Returns 1 when a drawn window's MSE is not the one the scores hold (scores of other weights). */
static int draw_shown(run_view *v, rp_trainer *t, rp_error *err) {
    const rp_dataset *d = &t->data;
    int *order = rp_malloc((size_t)v->n_windows * sizeof(int), err);
    float *x = rp_malloc((size_t)(v->L + v->H) * sizeof(float), err);
    int rc = !order || !x ? -1 : 0;
    for (int w = 0; !rc && w < v->n_windows; w++) order[w] = w;
    if (!rc) {
        sort_keys = v->scores.mse;
        qsort(order, (size_t)v->n_windows, sizeof(int), by_mse);
    }
    int rank[N_SHOWN] = {0, v->n_windows / 2, v->n_windows - 1}, total_k = 0;
    for (int l = 0; l < v->n_levels; l++) total_k += v->K[l];
    for (int s = 0; s < N_SHOWN && !rc; s++) {
        shown_window *sw = &v->shown[s];
        int w = order[rank[s]];
        sw->window = w;
        sw->rank = rank[s] + 1;
        sw->mse = v->scores.mse[w];
        dataset_window_origin(d, SPLIT_TEST, w, &sw->channel, &sw->start_row);
        dataset_window(d, SPLIT_TEST, w, x, x + v->L);
        sw->lookback = rp_malloc((size_t)(v->L + 2 * v->H) * sizeof(double), err);
        sw->starts[0] = rp_malloc((size_t)total_k * sizeof(int32_t), err);
        if (!sw->lookback || !sw->starts[0]) {
            rc = -1;
            break;
        }
        for (int l = 1; l < v->n_levels; l++) sw->starts[l] = sw->starts[l - 1] + v->K[l - 1];
        sw->truth = sw->lookback + v->L;
        sw->forecast = sw->truth + v->H;
        double mean = d->mean[sw->channel], sd = d->std[sw->channel];
        for (int i = 0; i < v->L + v->H; i++) sw->lookback[i] = x[i] * sd + mean;
        drawn_window dw = {.sw = sw, .H = v->H, .n_levels = v->n_levels, .mean = mean, .sd = sd, .mse = NAN};
        memcpy(dw.K, v->K, sizeof dw.K);
        rc = trainer_evaluate_window_batch(t, SPLIT_TEST, w, draw_window, &dw, err);
        /* Scores from another process agree to rounding (BLIS may block sums another way). */
        if (!rc && !(fabs(dw.mse - sw->mse) <= 1e-6 * fmax(fabs(dw.mse), fabs(sw->mse)) + 1e-12)) {
            rp_fail(err, "%s/test_windows.h5: window %d has MSE %.9g there, %.9g when scored again (the scores of "
                    "other weights)", v->dir, w, sw->mse, dw.mse);
            rc = 1;
        }
        const char *col = t->series.col_names && sw->channel < t->series.cols ? t->series.col_names[sw->channel] : NULL;
        snprintf(v->column[s], sizeof v->column[s], "%s", col ? col : "?");
        v->first_time[s][0] = '\0';
        if (t->series.timestamps && sw->start_row + v->L < t->series.rows)
            snprintf(v->first_time[s], sizeof v->first_time[s], "%s", t->series.timestamps[sw->start_row + v->L]);
    }
    free(x);
    free(order);
    return rc;
}

static void free_shown(run_view *v) {
    for (int s = 0; s < N_SHOWN; s++) {
        free(v->shown[s].lookback);
        free(v->shown[s].starts[0]);
        memset(&v->shown[s], 0, sizeof v->shown[s]);
    }
}

/* The checkpoint's model on the test split of its data: per-window errors, the three windows
 * shown, the patch-length counts — from the run's test_windows.h5 when it holds this
 * checkpoint's scores, else by scoring every window. Returns 1 when the data could not be loaded
 * (noted, nothing drawn from it), -1 on another error. */
static int load_test_windows(run_view *v, rp_error *err) {
    char ckpt[RP_PATH_MAX + 32];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", v->dir);
    rp_recipe r;
    if (predict_recipe_from_checkpoint(ckpt, &r, err)) return -1;
    rp_trainer t;
    rp_error data_err;
    if (trainer_setup(&t, &r, &data_err)) {
        trainer_free(&t);
        recipe_free(&r);
        char what[sizeof data_err.msg + 64];
        snprintf(what, sizeof what, "no forecasts or patch lengths: the data did not load (%s)", data_err.msg);
        note_missing(v, what);
        return 1;
    }
    int rc = -1;
    if (trainer_load_checkpoint(&t, ckpt, err)) goto done;
    trainer_restore_best(&t);
    const rp_dataset *d = &t.data;
    v->L = d->lookback;
    v->H = d->horizon;
    v->n_levels = t.model.n_levels;
    v->n_windows = d->split[SPLIT_TEST].n_windows;
    if (v->n_windows < 1) {
        note_missing(v, "no forecasts: the test split holds no window");
        rc = 1;
        goto done;
    }
    for (int l = 0; l < v->n_levels; l++) v->K[l] = t.model.levels[l].K;
    int from_file = read_scores_file(v, &t, &v->scores);
    rp_eval_result res;
    if (!from_file && trainer_score_windows(&t, SPLIT_TEST, &res, &v->scores, err)) goto done;
    int drawn = draw_shown(v, &t, err);
    if (drawn == 1 && from_file) {
        fprintf(stderr, "reinpatch report: warning: %s; scoring every test window instead\n", err->msg);
        free_shown(v);
        test_windows_free(&v->scores);
        if (trainer_score_windows(&t, SPLIT_TEST, &res, &v->scores, err)) goto done;
        drawn = draw_shown(v, &t, err);
    }
    if (drawn) goto done;
    v->has_test = 1;
    rc = 0;
done:
    trainer_free(&t);
    recipe_free(&r);
    return rc;
}

static void run_view_free(run_view *v) {
    run_metrics_free(&v->metrics);
    history_free(&v->history);
    if (v->has_recipe) recipe_free(&v->recipe);
    test_windows_free(&v->scores);
    free_shown(v);
}

/* Reads what the directory holds. -1: not a run, or a file that is there cannot be read. */
static int load_run(run_view *v, const char *dir, rp_error *err) {
    memset(v, 0, sizeof *v);
    v->dir = dir;
    struct stat st;
    if (stat(dir, &st) != 0) return rp_fail(err, "%s: no such directory", dir);
    if (!S_ISDIR(st.st_mode)) return rp_fail(err, "%s: not a directory (give a run directory of reinpatch train)", dir);
    v->has_metrics = file_exists(dir, "metrics.json");
    v->has_history = file_exists(dir, "history.csv");
    v->has_checkpoint = file_exists(dir, "checkpoint.h5");
    if (!v->has_metrics && !v->has_history && !v->has_checkpoint)
        return rp_fail(err, "%s: not a run directory (no metrics.json, history.csv or checkpoint.h5)", dir);
    char path[RP_PATH_MAX + 64];
    if (v->has_metrics) {
        snprintf(path, sizeof path, "%s/metrics.json", dir);
        if (run_metrics_read(path, &v->metrics, err)) return -1;
    } else {
        note_missing(v, "no metrics.json (the run has not finished)");
    }
    if (v->has_history) {
        snprintf(path, sizeof path, "%s/history.csv", dir);
        if (history_read(path, &v->history, err)) return -1;
    } else {
        note_missing(v, "no history.csv (a run from before reinpatch wrote one): no training curves");
    }
    /* The recipe: metrics.json's resolved copy, else the checkpoint's. */
    rp_error recipe_err;
    if (v->has_metrics && v->metrics.resolved_recipe[0]) {
        snprintf(path, sizeof path, "%s/metrics.json:resolved_recipe", dir);
        v->has_recipe = recipe_parse(v->metrics.resolved_recipe, path, &v->recipe, &recipe_err) == 0 &&
                        recipe_validate(&v->recipe, &recipe_err) == 0 && recipe_render(&v->recipe, &recipe_err) == 0;
        if (!v->has_recipe) recipe_free(&v->recipe);
    }
    if (!v->has_recipe && v->has_checkpoint) {
        snprintf(path, sizeof path, "%s/checkpoint.h5", dir);
        if (predict_recipe_from_checkpoint(path, &v->recipe, err)) return -1;
        v->has_recipe = 1;
    }
    const char *base = strrchr(dir, '/');
    base = base && base[1] ? base + 1 : dir;
    snprintf(v->name, sizeof v->name, "%s",
             v->has_metrics && v->metrics.recipe_name[0] ? v->metrics.recipe_name
             : v->has_recipe                             ? v->recipe.name
                                                         : base);
    if (v->has_checkpoint) {
        if (load_test_windows(v, err) < 0) return -1;
    } else {
        note_missing(v, "no checkpoint.h5: no forecasts or patch lengths");
    }
    return 0;
}

/* ---- charts ---- */

typedef struct chart_line {
    const char *name;
    const double *x, *y;
    int n;
    const char *colour;
    const char *extra;   /* more polyline attributes, or NULL */
    const double *band_lo, *band_hi; /* a shaded band around the line (both or neither), or NULL */
} chart_line;

typedef struct chart {
    const char *title, *xlabel, *ylabel;
    double width, height;
    int integer_x;
    double mark_x;        /* a vertical marker (the best epoch), NaN: none */
    const char *mark_label;
} chart;

static void chart_open(FILE *f, const chart *c, const char *id) {
    fprintf(f, "<figure class=\"chart\"%s%s%s><svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" "
               "viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-label=\"",
            id ? " id=\"" : "", id ? id : "", id ? "\"" : "", c->width, c->height, c->width, c->height);
    svg_text(f, c->title);
    fprintf(f, "\">\n<text x=\"%.1f\" y=\"18\" font-size=\"14\" font-weight=\"bold\">", 12.0);
    svg_text(f, c->title);
    fputs("</text>\n", f);
}

static void chart_close(FILE *f) {
    fputs("</svg></figure>\n", f);
}

/* The frame of a chart of the given size: room for the title, legend, axis labels. */
static svg_frame chart_frame(const chart *c) {
    svg_frame fr = {.left = 74, .top = 46, .width = c->width - 74 - 16, .height = c->height - 46 - 44};
    return fr;
}

static void legend(FILE *f, const svg_frame *fr, const chart_line *lines, int n) {
    double x = fr->left;
    for (int i = 0; i < n; i++) {
        if (!lines[i].name) continue;
        fprintf(f, "<line x1=\"%.1f\" y1=\"34\" x2=\"%.1f\" y2=\"34\" stroke=\"%s\" stroke-width=\"2.5\"%s/>",
                x, x + 18, lines[i].colour, lines[i].extra ? lines[i].extra : "");
        fprintf(f, "<text x=\"%.1f\" y=\"38\" font-size=\"11\">", x + 22);
        svg_text(f, lines[i].name);
        fputs("</text>\n", f);
        x += 30 + 6.2 * (double)strlen(lines[i].name);
    }
}

/* A line chart of several series over a shared x range. */
static void line_chart(FILE *f, const chart *c, const chart_line *lines, int n, const char *id) {
    svg_frame fr = chart_frame(c);
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < lines[i].n; k++) {
            if (!isfinite(lines[i].y[k])) continue;
            double lo = lines[i].band_lo ? lines[i].band_lo[k] : lines[i].y[k];
            double hi = lines[i].band_hi ? lines[i].band_hi[k] : lines[i].y[k];
            xlo = fmin(xlo, lines[i].x[k]);
            xhi = fmax(xhi, lines[i].x[k]);
            ylo = fmin(ylo, lo);
            yhi = fmax(yhi, hi);
        }
    if (!(xhi > xlo)) {
        xlo = isfinite(xlo) ? xlo - 1 : 0;
        xhi = isfinite(xhi) ? xhi + 1 : 1;
    }
    svg_pad_range(&ylo, &yhi, 0.06);
    fr.x0 = xlo;
    fr.x1 = xhi;
    fr.y0 = ylo;
    fr.y1 = yhi;
    chart_open(f, c, id);
    svg_frame_y_axis(f, &fr, c->ylabel);
    svg_frame_x_axis(f, &fr, c->integer_x, c->xlabel);
    for (int i = 0; i < n; i++) {
        const chart_line *ln = &lines[i];
        if (!ln->band_lo) continue;
        fprintf(f, "<polygon class=\"data\" fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" points=\"", ln->colour);
        for (int k = 0; k < ln->n; k++)
            fprintf(f, "%.2f,%.2f ", svg_fx(&fr, ln->x[k]), svg_fy(&fr, ln->band_hi[k]));
        for (int k = ln->n - 1; k >= 0; k--)
            fprintf(f, "%.2f,%.2f ", svg_fx(&fr, ln->x[k]), svg_fy(&fr, ln->band_lo[k]));
        fputs("\"/>\n", f);
    }
    if (isfinite(c->mark_x)) {
        double x = svg_fx(&fr, c->mark_x);
        fprintf(f, "<line class=\"marker\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#2ca02c\" "
                   "stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/>\n", x, fr.top, x, fr.top + fr.height);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#1b7a1b\" text-anchor=\"%s\">",
                x + (x > fr.left + fr.width * 0.75 ? -4 : 4), fr.top + 13, x > fr.left + fr.width * 0.75 ? "end" : "start");
        svg_text(f, c->mark_label);
        fputs("</text>\n", f);
    }
    for (int i = 0; i < n; i++) {
        const chart_line *ln = &lines[i];
        svg_polyline(f, &fr, ln->x, ln->y, ln->n, ln->colour, 2.0, ln->extra);
        /* a lone point draws no line: a dot */
        if (ln->n == 1 && isfinite(ln->y[0]))
            fprintf(f, "<circle class=\"data\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", svg_fx(&fr, ln->x[0]),
                    svg_fy(&fr, ln->y[0]), ln->colour);
    }
    legend(f, &fr, lines, n);
    chart_close(f);
}

/* ---- the page ---- */

static const char *const STYLE =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0;"
    "background:#f4f5f7;color:#1d2330}\n"
    "main{max-width:1180px;margin:0 auto;padding:20px 28px 40px}\n"
    "h1{font-size:24px;margin:4px 0 2px}h2{font-size:20px;margin:0 0 6px}h2 small{font-weight:normal;color:#667;"
    "font-size:13px;margin-left:8px}\n"
    "h3{font-size:14px;text-transform:uppercase;letter-spacing:.05em;color:#556;margin:22px 0 8px}\n"
    "p.sub{color:#556;margin:0 0 18px;font-size:14px}\n"
    "section{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:18px 22px;"
    "margin:0 0 22px}\n"
    ".cols{display:grid;grid-template-columns:minmax(300px,1fr) minmax(300px,1.3fr);gap:22px}\n"
    ".grid2{display:grid;grid-template-columns:1.4fr 1fr;gap:14px}\n"
    ".grid3{display:grid;grid-template-columns:repeat(3,1fr);gap:12px}\n"
    "figure.chart{margin:0}svg.chart{width:100%;height:auto;display:block;font-family:inherit}\n"
    "table{border-collapse:collapse;font-size:14px;font-variant-numeric:tabular-nums}\n"
    "td,th{padding:5px 10px;border-bottom:1px solid #e3e5ea;text-align:right}\n"
    "th{background:#f0f2f6;font-weight:600}td:first-child,th:first-child{text-align:left}\n"
    "table.metrics td:first-child{color:#445}tr.best td{font-weight:700}table.compare td{white-space:nowrap}\n"
    "pre.recipe{background:#f6f7f9;border:1px solid #e3e5ea;border-radius:6px;padding:10px 12px;font-size:12px;"
    "max-height:330px;overflow:auto;margin:0}\n"
    ".missing{background:#fff4e5;border-left:4px solid #f0a030;padding:8px 12px;font-size:14px;margin:8px 0}\n"
    ".note{color:#667;font-size:13px;margin:4px 0 0}\n"
    "@media print{body{background:#fff}section{box-shadow:none;border:1px solid #ddd}}\n";

static void html_text(FILE *f, const char *s) { svg_text(f, s); }

/* The numbers of metrics.json, exactly as written there (data-key names the JSON key). */
static void metrics_table(FILE *f, const run_view *v) {
    const rp_run_metrics *m = &v->metrics;
    struct {
        const char *label, *key;
        const rp_metric *x;
    } rows[] = {
        {"test MSE", "test.mse", &m->test_mse},   {"test MAE", "test.mae", &m->test_mae},
        {"val MSE", "val.mse", &m->val_mse},      {"val MAE", "val.mae", &m->val_mae},
        {"epochs", "epochs", &m->epochs},         {"best epoch", "best_epoch", &m->best_epoch},
        {"steps", "steps", &m->steps},            {"parameters", "parameters", &m->parameters},
        {"train windows/s", "train_windows_per_second", &m->train_windows_per_second},
        {"wall seconds", "wall_seconds", &m->wall_seconds}, {"threads", "threads", &m->threads},
        {"test windows", "test.windows", &m->test_windows},
    };
    fputs("<table class=\"metrics\">\n<tr><th>metric</th><th>value</th></tr>\n", f);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (!rows[i].x->text[0]) continue;
        fprintf(f, "<tr><td>%s</td><td data-key=\"%s\">%s</td></tr>\n", rows[i].label, rows[i].key, rows[i].x->text);
    }
    for (int l = 0; l < m->n_levels; l++)
        fprintf(f, "<tr><td>level %d cuts off uniform (test)</td><td data-key=\"test.cuts_off_uniform.%d\">%s</td></tr>\n",
                l + 1, l, m->cuts_off_uniform[l].text);
    fputs("</table>\n", f);
    fputs("<p class=\"note\">MSE and MAE in z-scored units (each channel scaled by its train-split statistics), "
          "test with the weights of the best validation epoch.</p>\n", f);
}

static void levels_summary(FILE *f, const run_view *v) {
    if (!v->has_recipe) return;
    const rp_recipe *r = &v->recipe;
    fprintf(f, "lookback %d, horizon %d; ", r->data.lookback, r->data.horizon);
    for (int l = 0; l < r->n_levels; l++)
        fprintf(f, "%slevel %d: %s, rate %g", l ? "; " : "", l + 1, patching_word(r->levels[l].patching),
                r->levels[l].rate);
}

static int level_is_learned(const run_view *v, int l) {
    return v->has_recipe && l < v->recipe.n_levels && v->recipe.levels[l].patching != PATCHING_FIXED;
}

/* x (epoch) and columns of the history, in one allocation the caller frees. */
static double *history_columns(const rp_history *h, int n_cols, double **cols) {
    double *all = malloc((size_t)(n_cols + 1) * (h->n_rows ? h->n_rows : 1) * sizeof(double));
    if (!all) return NULL;
    for (int c = 0; c <= n_cols; c++) cols[c] = all + (size_t)c * h->n_rows;
    for (int e = 0; e < h->n_rows; e++) cols[0][e] = h->rows[e].epoch;
    return all;
}

static int training_charts(FILE *f, const run_view *v, int index) {
    const rp_history *h = &v->history;
    double *c[14];
    double *mem = history_columns(h, 13, c);
    if (!mem) return -1;
    int any_learned = 0;
    for (int l = 0; l < h->n_levels; l++) any_learned |= level_is_learned(v, l);
    for (int e = 0; e < h->n_rows; e++) {
        const rp_history_row *r = &h->rows[e];
        c[1][e] = r->train_loss;
        c[2][e] = r->val_mse;
        c[3][e] = r->lr;
        c[4][e] = r->policy_lr;
    }
    /* the best epoch: metrics.json's, else the lowest val MSE so far */
    double best = NAN;
    if (v->has_metrics && isfinite(v->metrics.best_epoch.value)) {
        best = v->metrics.best_epoch.value;
    } else {
        int at = -1;
        for (int e = 0; e < h->n_rows; e++)
            if (isfinite(c[2][e]) && (at < 0 || c[2][e] < c[2][at])) at = e;
        if (at >= 0) best = c[0][at];
    }
    char mark[64] = "";
    if (isfinite(best)) snprintf(mark, sizeof mark, "best epoch %d", (int)best);
    char id[32];
    fputs("<h3>Training</h3>\n<div class=\"grid2\">\n", f);
    chart loss = {"Loss per epoch", "epoch", "MSE (z-scored)", 680, 300, 1, best, mark};
    chart_line ll[2] = {{"train loss", c[0], c[1], h->n_rows, SVG_PALETTE[0], NULL, NULL, NULL},
                        {"val MSE", c[0], c[2], h->n_rows, SVG_PALETTE[1], NULL, NULL, NULL}};
    snprintf(id, sizeof id, "loss-%d", index);
    line_chart(f, &loss, ll, 2, id);
    chart lr = {"Learning rate", "epoch", "learning rate", 480, 300, 1, NAN, NULL};
    chart_line lrl[2] = {{"backbone (last step)", c[0], c[3], h->n_rows, SVG_PALETTE[2], NULL, NULL, NULL},
                         {"policy", c[0], c[4], h->n_rows, SVG_PALETTE[3], " stroke-dasharray=\"6 3\"", NULL, NULL}};
    snprintf(id, sizeof id, "lr-%d", index);
    line_chart(f, &lr, lrl, any_learned ? 2 : 1, id);
    fputs("</div>\n", f);
    for (int l = 0; l < h->n_levels; l++) {
        if (!level_is_learned(v, l)) continue;
        for (int e = 0; e < h->n_rows; e++) {
            const rp_history_row *r = &h->rows[e];
            c[5][e] = r->entropy[l];
            c[6][e] = r->cuts_off_uniform[l];
            c[7][e] = r->patch_len_mean[l];
            c[8][e] = r->patch_len_mean[l] - r->patch_len_std[l];
            c[9][e] = r->patch_len_mean[l] + r->patch_len_std[l];
        }
        fprintf(f, "<h3>Level %d (%s, rate %g) during training</h3>\n<div class=\"grid3\">\n", l + 1,
                patching_word(v->recipe.levels[l].patching), v->recipe.levels[l].rate);
        const char *colour = SVG_LEVEL_LINE[l % 4];
        chart ce = {"Policy entropy", "epoch", "nats", 380, 260, 1, best, mark};
        chart_line le = {NULL, c[0], c[5], h->n_rows, colour, NULL, NULL, NULL};
        snprintf(id, sizeof id, "entropy-%d-%d", index, l + 1);
        line_chart(f, &ce, &le, 1, id);
        chart cc = {"Cuts off uniform (train)", "epoch", "share of cuts", 380, 260, 1, best, mark};
        chart_line lc = {NULL, c[0], c[6], h->n_rows, colour, NULL, NULL, NULL};
        snprintf(id, sizeof id, "cuts-%d-%d", index, l + 1);
        line_chart(f, &cc, &lc, 1, id);
        chart cp = {"Patch length, mean ± std", "epoch", "steps", 380, 260, 1, best, mark};
        chart_line lp = {NULL, c[0], c[7], h->n_rows, colour, NULL, c[8], c[9]};
        snprintf(id, sizeof id, "patchlen-%d-%d", index, l + 1);
        line_chart(f, &cp, &lp, 1, id);
        fputs("</div>\n", f);
    }
    free(mem);
    return 0;
}

/* A test window: the lookback and the truth after it, the forecast, every level's patches (lines
 * across the lookback, one band row per level under the plot). */
static void forecast_chart(FILE *f, const run_view *v, int s, int index) {
    const shown_window *sw = &v->shown[s];
    int L = v->L, H = v->H, nl = v->n_levels;
    const double band_h = 15;
    chart c = {"", "time step (0 = first step of the lookback)", "value (original units)", 1120,
               300 + nl * band_h, 1, NAN, NULL};
    char title[RP_NAME_MAX + 192];
    snprintf(title, sizeof title, "%s test window (MSE %.4g, %d of %d by MSE): channel '%s', rows %d to %d%s%s",
             SHOWN_NAME[s], sw->mse, sw->rank, v->n_windows, v->column[s], sw->start_row, sw->start_row + L + H - 1,
             v->first_time[s][0] ? ", forecast from " : "", v->first_time[s]);
    c.title = title;
    svg_frame fr = chart_frame(&c);
    fr.height -= nl * band_h + 4;
    fr.x0 = 0;
    fr.x1 = L + H;
    double lo = INFINITY, hi = -INFINITY, a, b;
    svg_value_range(sw->lookback, L + H, 0, &a, &b);
    lo = a;
    hi = b;
    svg_value_range(sw->forecast, H, 0, &a, &b);
    lo = fmin(lo, a);
    hi = fmax(hi, b);
    svg_pad_range(&lo, &hi, 0.06);
    fr.y0 = lo;
    fr.y1 = hi;
    char id[32];
    snprintf(id, sizeof id, "forecast-%d-%s", index, SHOWN_NAME[s]);
    chart_open(f, &c, id);
    svg_frame_y_axis(f, &fr, c.ylabel);
    /* the horizon, shaded */
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fff3e0\"/>\n", svg_fx(&fr, L),
            fr.top, svg_fx(&fr, L + H) - svg_fx(&fr, L), fr.height);
    /* the top level's patches shaded in alternation over the lookback */
    int top = nl - 1;
    for (int k = 0; k < v->K[top]; k++) {
        int s0 = sw->starts[top][k], s1 = k + 1 < v->K[top] ? sw->starts[top][k + 1] : L;
        if (k % 2)
            fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\" fill-opacity=\"0.25\"/>\n",
                    svg_fx(&fr, s0), fr.top, svg_fx(&fr, s1) - svg_fx(&fr, s0), fr.height, SVG_LEVEL_BAND[top % 4][0]);
    }
    for (int l = 0; l < nl; l++) svg_boundaries(f, &fr, sw->starts[l], v->K[l], l);
    double xl = svg_fx(&fr, L);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\" stroke-width=\"1.2\"/>\n", xl,
            fr.top, xl, fr.top + fr.height);
    double *x = malloc((size_t)(L + H) * sizeof(double));
    if (x) {
        for (int i = 0; i < L + H; i++) x[i] = i + 0.5;
        svg_polyline(f, &fr, x, sw->lookback, L + H, "#10284d", 1.5, NULL);
        svg_polyline(f, &fr, x + L, sw->forecast, H, SVG_PALETTE[1], 2.2, NULL);
        free(x);
    }
    for (int l = 0; l < nl; l++) {
        double by = fr.top + fr.height + 4 + l * band_h;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">level %d</text>\n", fr.left - 5,
                by + 10.5, l + 1);
        svg_patch_band(f, &fr, by, band_h - 2, sw->starts[l], v->K[l], L, l);
    }
    svg_frame x_axis = fr;
    x_axis.height += nl * band_h + 4;
    svg_frame_x_axis(f, &x_axis, 1, c.xlabel);
    chart_line keys[3] = {{"lookback and truth", NULL, NULL, 0, "#10284d", NULL, NULL, NULL},
                          {"forecast", NULL, NULL, 0, SVG_PALETTE[1], NULL, NULL, NULL},
                          {"patch boundaries (level 1 dashed)", NULL, NULL, 0, SVG_LEVEL_LINE[0], " stroke-dasharray=\"4 3\"", NULL, NULL}};
    legend(f, &fr, keys, 3);
    chart_close(f);
}

/* Share of the test split's patches of each length, per level. */
static void length_histograms(FILE *f, const run_view *v, int index) {
    fprintf(f, "<h3>Patch lengths over the test split (%d windows)</h3>\n<div class=\"grid3\">\n", v->n_windows);
    for (int l = 0; l < v->n_levels; l++) {
        const int64_t *cnt = v->scores.length_count[l];
        long long total = 0;
        int lo = v->L, hi = 1;
        for (int n = 1; n <= v->L; n++)
            if (cnt[n]) {
                total += cnt[n];
                if (n < lo) lo = n;
                if (n > hi) hi = n;
            }
        char title[96], id[32];
        snprintf(title, sizeof title, "Level %d (%s, K = %d)", l + 1,
                 v->has_recipe && l < v->recipe.n_levels ? patching_word(v->recipe.levels[l].patching) : "?", v->K[l]);
        chart c = {title, "patch length (steps)", "share of patches (%)", 380, 260, 1, NAN, NULL};
        svg_frame fr = chart_frame(&c);
        /* at least 12 lengths wide, so that fixed patching's one length is a bar, not a wall */
        double span = fmax(12, hi - lo + 1), mid = 0.5 * (lo + hi);
        fr.x0 = fmax(0.5, mid - span / 2);
        fr.x1 = fr.x0 + span;
        double top = 0;
        for (int n = lo; n <= hi; n++) top = fmax(top, 100.0 * cnt[n] / (double)(total ? total : 1));
        fr.y0 = 0;
        fr.y1 = top > 0 ? top * 1.08 : 1;
        snprintf(id, sizeof id, "lengths-%d-%d", index, l + 1);
        chart_open(f, &c, id);
        svg_frame_y_axis(f, &fr, c.ylabel);
        svg_frame_x_axis(f, &fr, 1, c.xlabel);
        double bw = fmin(36, fr.width / (fr.x1 - fr.x0));
        for (int n = lo; n <= hi; n++) {
            if (!cnt[n]) continue;
            double share = 100.0 * cnt[n] / (double)total, y = svg_fy(&fr, share);
            fprintf(f, "<rect class=\"data\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\">"
                       "<title>length %d: %lld patches (%.2f %%)</title></rect>\n",
                    svg_fx(&fr, n) - bw / 2 + fmin(1.0, bw * 0.1), y, fmax(0.5, bw - 2 * fmin(1.0, bw * 0.1)),
                    svg_fy(&fr, 0) - y, SVG_LEVEL_BAND[l % 4][1], n, (long long)cnt[n], share);
        }
        chart_close(f);
    }
    fputs("</div>\n", f);
}

static void run_section(FILE *f, const run_view *v, int index) {
    fprintf(f, "<section class=\"run\" id=\"run-%d\">\n<h2>", index);
    html_text(f, v->name);
    fputs("<small>", f);
    html_text(f, v->dir);
    fputs("</small></h2>\n<p class=\"sub\">", f);
    if (v->has_metrics && v->metrics.data[0]) {
        const char *slash = strrchr(v->metrics.data, '/');
        fputs("data: ", f);
        html_text(f, slash ? slash + 1 : v->metrics.data);
        fputs("; ", f);
    }
    levels_summary(f, v);
    fputs("</p>\n", f);
    if (v->missing[0]) {
        fputs("<p class=\"missing\">Not drawn: ", f);
        html_text(f, v->missing);
        fputs(".</p>\n", f);
    }
    fputs("<div class=\"cols\">\n<div><h3>Metrics</h3>\n", f);
    if (v->has_metrics) metrics_table(f, v);
    else fputs("<p class=\"note\">no metrics.json</p>\n", f);
    fputs("</div>\n<div><h3>Recipe (resolved)</h3>\n<pre class=\"recipe\">", f);
    if (v->has_recipe) html_text(f, v->recipe.text);
    fputs("</pre></div>\n</div>\n", f);
    if (v->has_history && v->history.n_rows > 0) training_charts(f, v, index);
    if (v->has_test) {
        fputs("<h3>Test forecasts: best, median and worst window by MSE</h3>\n", f);
        for (int s = 0; s < N_SHOWN; s++) forecast_chart(f, v, s, index);
        fputs("<p class=\"note\">Shaded columns: the top level's patches over the lookback; band rows: every level's "
              "patches with their lengths; orange area: the horizon.</p>\n", f);
        length_histograms(f, v, index);
    }
    fputs("</section>\n", f);
}

/* Several runs: val MSE per epoch overlaid, and one row per run. */
static void comparison_section(FILE *f, const run_view *runs, int n) {
    fputs("<section id=\"comparison\">\n<h2>Comparison</h2>\n", f);
    fputs("<table class=\"compare\">\n<tr><th>run</th><th>levels</th><th>val MSE</th><th>val MAE</th><th>test MSE</th>"
          "<th>test MAE</th><th>epochs</th><th>best epoch</th><th>parameters</th><th>train windows/s</th>"
          "<th>wall seconds</th></tr>\n", f);
    int best = -1;
    for (int i = 0; i < n; i++)
        if (runs[i].has_metrics && (best < 0 || runs[i].metrics.test_mse.value < runs[best].metrics.test_mse.value))
            best = i;
    for (int i = 0; i < n; i++) {
        const run_view *v = &runs[i];
        fprintf(f, "<tr%s><td><a href=\"#run-%d\">", i == best ? " class=\"best\"" : "", i);
        html_text(f, v->name);
        fputs("</a></td><td>", f);
        if (v->has_recipe)
            for (int l = 0; l < v->recipe.n_levels; l++)
                fprintf(f, "%s%s r%g", l ? ", " : "", patching_word(v->recipe.levels[l].patching), v->recipe.levels[l].rate);
        fputs("</td>", f);
        const rp_metric *m[] = {&v->metrics.val_mse, &v->metrics.val_mae, &v->metrics.test_mse, &v->metrics.test_mae,
                                &v->metrics.epochs, &v->metrics.best_epoch, &v->metrics.parameters,
                                &v->metrics.train_windows_per_second, &v->metrics.wall_seconds};
        static const char *keys[] = {"val.mse", "val.mae", "test.mse", "test.mae", "epochs", "best_epoch",
                                     "parameters", "train_windows_per_second", "wall_seconds"};
        for (size_t k = 0; k < sizeof m / sizeof m[0]; k++)
            fprintf(f, "<td data-key=\"%s\">%s</td>", keys[k], v->has_metrics && m[k]->text[0] ? m[k]->text : "–");
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
    chart_line lines[MAX_RUNS];
    double *mem[MAX_RUNS];
    int nl = 0;
    for (int i = 0; i < n; i++) {
        const rp_history *h = &runs[i].history;
        if (!runs[i].has_history || h->n_rows == 0) continue;
        double *c[2];
        mem[nl] = history_columns(h, 1, c);
        if (!mem[nl]) continue;
        for (int e = 0; e < h->n_rows; e++) c[1][e] = h->rows[e].val_mse;
        lines[nl] = (chart_line){runs[i].name, c[0], c[1], h->n_rows, SVG_PALETTE[i % 8], NULL, NULL, NULL};
        nl++;
    }
    if (nl > 0) {
        chart c = {"Validation MSE per epoch", "epoch", "val MSE (z-scored)", 1120, 320, 1, NAN, NULL};
        line_chart(f, &c, lines, nl, "compare-val");
    }
    for (int i = 0; i < nl; i++) free(mem[i]);
    fputs("<p class=\"note\">Bold: the lowest test MSE. Numbers as in each run's metrics.json.</p>\n</section>\n", f);
}

static int write_page(const char *path, const run_view *runs, int n, rp_error *err) {
    char tmp[RP_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return rp_fail(err, "%s: cannot create the report", path);
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>reinpatch report: ", f);
    for (int i = 0; i < n; i++) {
        if (i) fputs(" vs ", f);
        html_text(f, runs[i].name);
    }
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n<h1>", STYLE);
    for (int i = 0; i < n; i++) {
        if (i) fputs(" <span style=\"color:#889\">vs</span> ", f);
        html_text(f, runs[i].name);
    }
    fputs("</h1>\n<p class=\"sub\">reinpatch report of ", f);
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", f);
        html_text(f, runs[i].dir);
    }
    fputs("</p>\n", f);
    if (n > 1) comparison_section(f, runs, n);
    for (int i = 0; i < n; i++) run_section(f, &runs[i], i);
    fputs("</main>\n</body>\n</html>\n", f);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        remove(tmp);
        return rp_fail(err, "%s: cannot write the report", path);
    }
    return 0;
}

int cmd_report(int argc, char **argv) {
    const char *out = "report.html";
    const char *dirs[MAX_RUNS];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(report_help, stdout);
            return 0;
        }
        int o = cli_option("report", argc, argv, &i, "--out", &v);
        if (o < 0) return 2;
        if (o > 0) {
            out = v;
            continue;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "reinpatch report: unknown option '%s' (see reinpatch report --help)\n", a);
            return 2;
        }
        if (n == MAX_RUNS) {
            fprintf(stderr, "reinpatch report: at most %d run directories\n", MAX_RUNS);
            return 2;
        }
        dirs[n++] = a;
    }
    if (n == 0) {
        fputs(report_help, stderr);
        return 2;
    }
    run_view *runs = calloc((size_t)n, sizeof *runs);
    if (!runs) return cli_fail("report", NULL, "out of memory");
    rp_error err = {{0}};
    int status = 1, loaded = 0;
    for (; loaded < n; loaded++)
        if (load_run(&runs[loaded], dirs[loaded], &err)) {
            loaded++;
            cli_fail("report", NULL, err.msg);
            goto done;
        }
    if (write_page(out, runs, n, &err)) {
        cli_fail("report", NULL, err.msg);
        goto done;
    }
    status = 0;
    for (int i = 0; i < n; i++)
        if (runs[i].missing[0]) {
            /* one line for all of them: the first run with something missing is named */
            fprintf(stderr, "reinpatch report: %s: %s; wrote %s with the rest\n", runs[i].dir, runs[i].missing, out);
            status = 1;
            break;
        }
    if (!status) printf("wrote %s\n", out);
done:
    for (int i = 0; i < loaded; i++) run_view_free(&runs[i]);
    free(runs);
    return status;
}
