/* reinpatch segment (--checkpoint CK | --patcher P.h5) [--data FILE] [--columns A,B] [--split S]
 *                  --out SEG.h5 [--plot OUT.svg] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/svg.h"
#include "io/checkpoint.h"
#include "io/patcher_file.h"
#include "io/pool.h"
#include "io/segexport.h"
#include "train/predict.h"
#include "train/train.h"

static const char *segment_help =
    "usage: reinpatch segment (--checkpoint CK.h5 | --patcher P.h5) [--data FILE.csv|FILE.tsf]\n"
    "                         [--columns NAME[,NAME...]] [--split train|val|test|all] --out SEG.h5\n"
    "                         [--plot OUT.svg] [--plot-windows N]\n"
    "\n"
    "Cuts every window of a split into patches with a trained level stack and writes the\n"
    "boundaries of every level to an HDF5 segmentation export (docs/formats.md): learned levels\n"
    "decode their policy greedily, fixed levels space patches uniformly, random levels draw a\n"
    "seeded uniform segmentation.\n"
    "\n"
    "  --checkpoint CK   a training checkpoint (its best-validation weights)\n"
    "  --patcher P       a patcher file (reinpatch export-patcher)\n"
    "  --data FILE       the series (default: the recipe's data.path); with --data every column\n"
    "                    is segmented, split borders come from the file name (auto). A .tsf\n"
    "                    collection (Monash format): every series is one channel, --split all\n"
    "  --columns A,B     segment only these CSV columns, in this order (default: every column\n"
    "                    with --data, else the recipe's data.columns); the export's channel is\n"
    "                    still each column's index among the file's value columns\n"
    "  --split S         train, val, test (default for a CSV): the stride-1 windows of the dataset\n"
    "                    protocol, one per start row and channel; all (default for a .tsf):\n"
    "                    consecutive non-overlapping windows of lookback rows over the whole\n"
    "                    series, per channel, for any series of at least lookback rows (windows\n"
    "                    holding a missing value are skipped)\n"
    "  --out SEG.h5      the export (written atomically)\n"
    "  --plot OUT.svg    also draw a few windows with each level's boundaries as an SVG\n"
    "  --plot-windows N  windows in the plot (default 4, at most 12)\n";

typedef struct window_list {
    int n;
    int32_t *channel, *start_row;
} window_list;

/* 1 when the window of channel c at row start holds no NaN (a .tsf missing value). */
static int window_complete(const rp_dataset *d, int c, int start) {
    const float *v = dataset_channel(d, c, NULL) + start;
    for (int i = 0; i < d->lookback; i++)
        if (isnan(v[i])) return 0;
    return 1;
}

/* The windows to segment: dataset split windows or the non-overlapping cover of every channel
 * (channels of different lengths in a ragged dataset; windows with a NaN left out). */
static int list_windows(const rp_dataset *d, int split, window_list *wl, rp_error *err) {
    int L = d->lookback;
    long long n = 0;
    if (split >= 0) n = d->split[split].n_windows;
    else
        for (int c = 0; c < d->channels; c++) {
            int rows;
            dataset_channel(d, c, &rows);
            for (int k = 0; k < rows / L; k++) n += window_complete(d, c, k * L);
        }
    if (n < 1)
        return rp_fail(err, split >= 0 ? "the split holds no window of lookback %d"
                                       : "no series holds %d consecutive values (the lookback)", L);
    if (n > 0x7fffffff) return rp_fail(err, "too many windows (%lld)", n);
    wl->n = (int)n;
    wl->channel = rp_malloc((size_t)n * sizeof(int32_t), err);
    wl->start_row = rp_malloc((size_t)n * sizeof(int32_t), err);
    if (!wl->channel || !wl->start_row) return -1;
    if (split >= 0) {
        for (int w = 0; w < wl->n; w++) {
            int c, s;
            dataset_window_origin(d, (rp_split_id)split, w, &c, &s);
            wl->channel[w] = c;
            wl->start_row[w] = s;
        }
    } else {
        int w = 0;
        for (int c = 0; c < d->channels; c++) {
            int rows;
            dataset_channel(d, c, &rows);
            for (int k = 0; k < rows / L; k++)
                if (window_complete(d, c, k * L)) {
                    wl->channel[w] = c;
                    wl->start_row[w] = k * L;
                    w++;
                }
        }
    }
    return 0;
}

/* ---- SVG ---- */

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}


/* The series in original units for the plot: a CSV table or a .tsf collection. */
typedef struct plot_data {
    const rp_series *csv;   /* or NULL */
    const rp_tsf *tsf;      /* or NULL */
} plot_data;

static double plot_value(const plot_data *p, int c, int row) {
    return p->csv ? (double)p->csv->values[(size_t)row * p->csv->cols + c] : (double)p->tsf->series[c].values[row];
}

static const char *plot_name(const plot_data *p, int c) {
    const char *name = p->csv ? (p->csv->col_names ? p->csv->col_names[c] : NULL) : p->tsf->series[c].name;
    return name ? name : "?";
}

/* channel[w]: window w's channel in pd's series (e->channel holds source column indices, which
 * differ when columns were selected). */
static int write_plot(const char *path, const rp_model *m, const plot_data *pd, const rp_segexport *e,
                      const int32_t *channel, const char *model_path, int n_show, rp_error *err) {
    char **timestamps = pd->csv ? pd->csv->timestamps : NULL;
    int L = e->lookback, nl = e->n_levels;
    if (n_show > e->n_windows) n_show = e->n_windows;
    const double width = 1000, left = 90, right = 30, plot_w = width - left - right;
    const double head = 84, caption = 24, plot_h = 140, band_h = 16, axis = 42, gap = 18;
    const double panel_h = caption + plot_h + 6 + nl * band_h + axis + gap;
    const double height = head + n_show * panel_h + 10;

    /* a window's values in original units, and the x of each (the middle of its step) */
    double *values = rp_malloc(2 * (size_t)L * sizeof(double), err), *steps = values + L;
    if (!values) return -1;
    for (int i = 0; i < L; i++) steps[i] = i + 0.5;
    char tmp[RP_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        free(values);
        return rp_fail(err, "%s: cannot create the plot", path);
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
            width, height, width, height);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", width, height);
    fprintf(f, "<text x=\"%.1f\" y=\"26\" font-size=\"17\" font-weight=\"bold\" text-anchor=\"middle\">"
               "Segmentation of ", width / 2);
    svg_text(f, base_name(e->source ? e->source : "series"));
    fprintf(f, " (%s split) by ", e->split);
    svg_text(f, model_path);
    fputs("</text>\n", f);
    fprintf(f, "<text x=\"%.1f\" y=\"48\" font-size=\"12\" text-anchor=\"middle\" fill=\"#333\">", width / 2);
    for (int l = 0; l < nl; l++)
        fprintf(f, "%slevel %d: %s, rate %g, K = %d", l ? "; " : "", l + 1, rp_patching_names[m->levels[l].cfg.patching],
                e->levels[l].rate, e->levels[l].K);
    fprintf(f, "</text>\n<text x=\"%.1f\" y=\"64\" font-size=\"11\" text-anchor=\"middle\" fill=\"#555\">"
               "Vertical lines: patch boundaries (level 1 dashed). Bands: one row of patches per level, "
               "numbers are patch lengths in steps.</text>\n", width / 2);

    for (int p = 0; p < n_show; p++) {
        /* Spread over the split: panel p takes the channel at fraction (p + 1/2) / n_show of the
         * windows, and within that channel's run of windows the same fraction of its time span
         * (a bare fraction of all windows lands on the same rows of every channel when the
         * channel count divides n_show). */
        int w = (int)((2LL * p + 1) * e->n_windows / (2LL * n_show));
        int lo = w, hi = w + 1;
        while (lo > 0 && channel[lo - 1] == channel[w]) lo--;
        while (hi < e->n_windows && channel[hi] == channel[w]) hi++;
        w = lo + (int)((2LL * p + 1) * (hi - lo) / (2LL * n_show));
        int c = channel[w], r0 = e->start_row[w];
        double y0 = head + p * panel_h;
        double top = y0 + caption, bottom = top + plot_h;
        /* Values of the window in original units, and their range. */
        for (int i = 0; i < L; i++) values[i] = plot_value(pd, c, r0 + i);
        svg_frame fr = {.left = left, .top = top, .width = plot_w, .height = plot_h, .x0 = 0, .x1 = L};
        svg_value_range(values, L, 0.08, &fr.y0, &fr.y1);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\">window %d of %d: %s '", left, y0 + 16, w + 1,
                e->n_windows, pd->csv ? "channel" : "series");
        svg_text(f, plot_name(pd, c));
        fprintf(f, "', rows %d to %d", r0, r0 + L - 1);
        if (timestamps) {
            fputs(" (", f);
            svg_text(f, timestamps[r0]);
            fputs(" to ", f);
            svg_text(f, timestamps[r0 + L - 1]);
            fputc(')', f);
        }
        fputs("</text>\n", f);
        svg_frame_y_axis(f, &fr, "value");
        /* boundaries: level 1 first, upper levels drawn over it, thicker */
        for (int l = 0; l < nl; l++)
            svg_boundaries(f, &fr, e->levels[l].starts + (size_t)w * e->levels[l].K, e->levels[l].K, l);
        /* the series */
        svg_polyline(f, &fr, steps, values, L, "#10284d", 1.6, NULL);
        /* band rows */
        for (int l = 0; l < nl; l++) {
            double by = bottom + 6 + l * band_h;
            const int32_t *st = e->levels[l].starts + (size_t)w * e->levels[l].K;
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">level %d (K=%d)</text>\n",
                    left - 5, by + 11, l + 1, e->levels[l].K);
            svg_patch_band(f, &fr, by, band_h - 2, st, e->levels[l].K, L, l);
        }
        /* x axis */
        double ay = bottom + 6 + nl * band_h + 2;
        for (int k = 0; k <= 4; k++) {
            int tt = (int)lround((double)L * k / 4.0);
            double x = svg_fx(&fr, tt);
            fprintf(f, "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"#444\"/>\n", x, ay, x, ay + 4);
            fprintf(f, "<text x=\"%.2f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"middle\">%d</text>\n", x, ay + 15, tt);
        }
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">time step within the window "
                   "(lookback %d)</text>\n", left + plot_w / 2, ay + 30, L);
    }
    fputs("</svg>\n", f);
    free(values);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        remove(tmp);
        return rp_fail(err, "%s: cannot write the plot", path);
    }
    return 0;
}

/* ---- the command ---- */

static int parse_split(const char *s) {
    if (!strcmp(s, "train")) return SPLIT_TRAIN;
    if (!strcmp(s, "val")) return SPLIT_VAL;
    if (!strcmp(s, "test")) return SPLIT_TEST;
    if (!strcmp(s, "all")) return -1;
    return -2;
}

/* Splits --columns A,B,... into names (exact, no trimming: a column name may hold spaces). A usage
 * error is printed and returns -1. */
static int parse_columns(const char *list, char names[RP_MAX_COLUMNS][RP_NAME_MAX], int *n_names) {
    if (!*list) {
        fprintf(stderr, "reinpatch segment: --columns needs at least one column name (A,B,...)\n");
        return -1;
    }
    int n = 0;
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0) {
            fprintf(stderr, "reinpatch segment: --columns '%s': empty column name (names are separated by "
                            "single commas)\n", list);
            return -1;
        }
        if (n == RP_MAX_COLUMNS) {
            fprintf(stderr, "reinpatch segment: --columns: more than %d columns\n", RP_MAX_COLUMNS);
            return -1;
        }
        if (len >= RP_NAME_MAX) {
            fprintf(stderr, "reinpatch segment: --columns: a column name longer than %d characters ('%.32s...')\n",
                    RP_NAME_MAX - 1, p);
            return -1;
        }
        memcpy(names[n], p, len);
        names[n][len] = '\0';
        for (int j = 0; j < n; j++)
            if (!strcmp(names[j], names[n])) {
                fprintf(stderr, "reinpatch segment: --columns: column '%s' is listed twice\n", names[n]);
                return -1;
            }
        n++;
        if (!comma) break;
        p = comma + 1;
    }
    *n_names = n;
    return 0;
}

int cmd_segment(int argc, char **argv) {
    const char *ckpt = NULL, *patcher = NULL, *data = NULL, *split_name = NULL, *out = NULL, *plot = NULL;
    const char *plot_n = "4", *columns_arg = NULL, *stray = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int o = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(segment_help, stdout);
            return 0;
        }
        static const char *names[] = {"--checkpoint", "--patcher", "--data", "--split", "--out", "--plot",
                                      "--plot-windows", "--columns"};
        const char **slots[] = {&ckpt, &patcher, &data, &split_name, &out, &plot, &plot_n, &columns_arg};
        int matched = 0;
        for (int k = 0; k < 8 && !matched; k++) {
            o = cli_option("segment", argc, argv, &i, names[k], &v);
            if (o < 0) return 2;
            if (o > 0) {
                *slots[k] = v;
                matched = 1;
            }
        }
        if (matched) continue;
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "reinpatch segment: unknown option '%s' (see reinpatch segment --help)\n", a);
            return 2;
        }
        if (!stray) stray = a;
    }
    if (stray) {
        fprintf(stderr, "reinpatch segment: unexpected argument '%s' (the model comes with --checkpoint or "
                        "--patcher, the series with --data)\n", stray);
        return 2;
    }
    if (!ckpt && !patcher && !out) {
        fputs(segment_help, stderr);
        return 2;
    }
    if (!!ckpt == !!patcher) {
        fprintf(stderr, "reinpatch segment: give exactly one of --checkpoint and --patcher\n");
        return 2;
    }
    if (!out) {
        fprintf(stderr, "reinpatch segment: --out SEG.h5 is required\n");
        return 2;
    }
    int split = parse_split(split_name ? split_name : "test");
    if (split < -1) {
        fprintf(stderr, "reinpatch segment: --split must be train, val, test or all, got '%s'\n", split_name);
        return 2;
    }
    char *end = NULL;
    long n_show = strtol(plot_n, &end, 10);
    if (!*plot_n || *end || n_show < 1 || n_show > 12) {
        fprintf(stderr, "reinpatch segment: --plot-windows must be an integer in 1..12, got '%s'\n", plot_n);
        return 2;
    }
    char columns[RP_MAX_COLUMNS][RP_NAME_MAX];
    int n_columns = 0;
    if (columns_arg && parse_columns(columns_arg, columns, &n_columns)) return 2;
    const char *model_path = ckpt ? ckpt : patcher;
    if (cli_same_file(out, model_path) || (data && cli_same_file(out, data)) ||
        (plot && (cli_same_file(plot, model_path) || cli_same_file(plot, out))))
        return cli_fail("segment", out, "--out/--plot would overwrite an input file");

    rp_error err = {{0}};
    rp_recipe r;
    int rc = ckpt ? predict_recipe_from_checkpoint(ckpt, &r, &err) : patcher_read_model_recipe(patcher, &r, &err);
    if (rc) {
        recipe_free(&r);
        return cli_fail("segment", model_path, err.msg);
    }
    const char *blame = model_path;
    char full[RP_PATH_MAX] = "";
    if (data) {
        if (cli_data_path(data, full, sizeof full, &err)) {
            recipe_free(&r);
            return cli_fail("segment", NULL, err.msg);
        }
        snprintf(r.data.path, sizeof r.data.path, "%s", full);
        r.data.protocol = PROTOCOL_AUTO;
        r.data.n_columns = 0;
    }
    /* --columns replaces the recipe's data.columns, so that the exported /recipe names them. */
    if (columns_arg) {
        for (int k = 0; k < n_columns; k++) memcpy(r.data.columns[k], columns[k], strlen(columns[k]) + 1);
        r.data.n_columns = n_columns;
    }
    if (recipe_validate(&r, &err) || recipe_render(&r, &err)) {
        recipe_free(&r);
        return cli_fail("segment", model_path, err.msg);
    }

    rp_trainer t;
    memset(&t, 0, sizeof t);
    window_list wl = {0};
    rp_segexport e;
    memset(&e, 0, sizeof e);
    int status = 1;
    rp_series series;
    memset(&series, 0, sizeof series);
    rp_tsf tsf;
    memset(&tsf, 0, sizeof tsf);
    rp_dataset dset;
    memset(&dset, 0, sizeof dset);
    int32_t *source_channel = NULL;   /* [selected columns]: the source column of each; NULL = same */
    int32_t *export_channel = NULL;   /* [windows]: wl.channel mapped through source_channel */
    const float **unit_values = NULL;
    int *unit_lengths = NULL;
    plot_data pd = {0};
    /* A .tsf collection: every series a channel of a ragged dataset, whole-series windows only. */
    const char *data_file = data ? full : r.data.path;
    size_t data_len = strlen(data_file);
    int is_tsf = data_len > 4 && !strcmp(data_file + data_len - 4, ".tsf");
    if (!split_name) {
        split_name = is_tsf ? "all" : "test";
        split = is_tsf ? -1 : SPLIT_TEST;
    }
    if (is_tsf && split >= 0) {
        recipe_free(&r);
        fprintf(stderr, "reinpatch segment: a .tsf collection has no protocol split: use --split all (its default)\n");
        return 2;
    }
    if (is_tsf && columns_arg) {
        recipe_free(&r);
        fprintf(stderr, "reinpatch segment: --columns selects CSV columns; a .tsf collection has no named columns "
                        "(each of its series is one channel)\n");
        return 2;
    }
    int L = r.data.lookback;
    blame = data ? data : model_path;
    if (is_tsf) {
        if (!data) {
            if (recipe_resolve_data(&r, &err)) goto done;
            data_file = r.data.resolved_path;
        }
        /* Missing values stay NaN so that channel c is series c of the file; windows holding one
         * are skipped. */
        if (tsf_read(data_file, TSF_MISSING_KEEP_NAN, &tsf, &err)) goto done;
        unit_values = rp_calloc((size_t)(tsf.n_series > 0 ? tsf.n_series : 1), sizeof *unit_values, &err);
        unit_lengths = rp_calloc((size_t)(tsf.n_series > 0 ? tsf.n_series : 1), sizeof *unit_lengths, &err);
        if (!unit_values || !unit_lengths) goto done;
        for (int i = 0; i < tsf.n_series; i++) {
            unit_values[i] = tsf.series[i].values;
            unit_lengths[i] = tsf.series[i].length;
        }
        if (dataset_build_unsplit(&dset, tsf.n_series, (const float *const *)unit_values, unit_lengths, 1, L,
                                  r.data.horizon, &err))
            goto done;
        pd.tsf = &tsf;
    } else {
        /* The whole file first, then the selection (--columns, else the recipe's data.columns):
         * each window's channel is exported as its column's index among the file's value columns
         * (formats.md), not as its place in the selection. */
        int n_pick = r.data.n_columns;
        const char *pick[RP_MAX_COLUMNS];
        for (int k = 0; k < n_pick; k++) pick[k] = r.data.columns[k];
        rp_trainer loader;
        memset(&loader, 0, sizeof loader);
        r.data.n_columns = 0;
        int lrc = trainer_load_data(&loader, &r, &err);
        r.data.n_columns = n_pick;
        series = loader.series;
        if (lrc) goto done;
        if (n_pick > 0) {
            source_channel = rp_malloc((size_t)n_pick * sizeof *source_channel, &err);
            if (!source_channel) goto done;
            for (int k = 0; k < n_pick; k++) {
                source_channel[k] = -1;
                for (int c = 0; c < series.cols; c++)
                    if (!strcmp(series.col_names[c], pick[k])) source_channel[k] = c;
            }
            if (series_select_columns(&series, pick, n_pick, &err)) {
                size_t n = strlen(err.msg);
                snprintf(err.msg + n, sizeof err.msg - n, "; the name comes from %s",
                         columns_arg ? "--columns" : "the recipe's data.columns");
                goto done;
            }
        }
        pd.csv = &series;
        rp_error protocol_err;
        if (dataset_build(&dset, &series, (rp_protocol)r.data.protocol, L, r.data.horizon, &protocol_err)) {
            if (split >= 0) {
                err = protocol_err;
                if (series.rows >= L) {
                    size_t n = strlen(err.msg);
                    snprintf(err.msg + n, sizeof err.msg - n, " (--split all segments any series of at least "
                             "lookback = %d rows)", L);
                }
                goto done;
            }
            /* --split all on a series too short for the protocol's three splits: z-score each
             * column with its own statistics (the model RevIN-normalises every window anyway). */
            if (series.rows < L) {
                rp_fail(&err, "%d row%s, the lookback needs at least %d", series.rows, series.rows == 1 ? "" : "s", L);
                goto done;
            }
            unit_values = rp_calloc((size_t)series.cols, sizeof *unit_values, &err);
            unit_lengths = rp_calloc((size_t)series.cols, sizeof *unit_lengths, &err);
            if (!unit_values || !unit_lengths) goto done;
            for (int c = 0; c < series.cols; c++) {
                unit_values[c] = series.values + c;
                unit_lengths[c] = series.rows;
            }
            if (dataset_build_unsplit(&dset, series.cols, (const float *const *)unit_values, unit_lengths,
                                      series.cols, L, r.data.horizon, &err))
                goto done;
        }
    }
    if (trainer_setup_dataset(&t, &r, &dset, &err)) goto done;
    blame = model_path;
    if (ckpt) {
        rp_run_state st;
        memset(&st, 0, sizeof st);
        int has_best = 0;
        rc = checkpoint_load(ckpt, &t.model.P, &st, t.best_values, &has_best, &err);
        checkpoint_state_free(&st);
        if (rc) goto done;
        if (has_best) memcpy(t.model.P.value, t.best_values, t.model.P.total * sizeof(float));
    } else if (patcher_load_params(patcher, &t.model.P, &err)) {
        goto done;
    }

    const rp_model *m = &t.model;
    const rp_dataset *d = &t.data;
    int nl = m->n_levels;
    blame = data ? data : model_path;
    if (list_windows(d, split, &wl, &err)) {
        rp_fail_prefix(&err, "--split %s", split_name);
        goto done;
    }
    e.source = is_tsf ? tsf.source : series.source;
    e.split = (char *)split_name;
    e.lookback = L;
    e.horizon = d->horizon;
    e.n_windows = wl.n;
    e.channel = wl.channel;
    if (source_channel) {
        export_channel = rp_malloc((size_t)wl.n * sizeof *export_channel, &err);
        if (!export_channel) goto done;
        for (int w = 0; w < wl.n; w++) export_channel[w] = source_channel[wl.channel[w]];
        e.channel = export_channel;
    }
    e.start_row = wl.start_row;
    e.n_levels = nl;
    e.recipe_text = r.text;
    for (int l = 0; l < nl; l++) {
        e.levels[l].rate = m->levels[l].cfg.rate;
        e.levels[l].K = m->levels[l].K;
        e.levels[l].starts = rp_malloc((size_t)wl.n * m->levels[l].K * sizeof(int32_t), &err);
        e.levels[l].lengths = rp_malloc((size_t)wl.n * m->levels[l].K * sizeof(int32_t), &err);
        if (!e.levels[l].starts || !e.levels[l].lengths) goto done;
    }
    /* Every level, top-down; raw_starts are in time steps at every level. Random levels draw
     * from streams fixed by the seed and the window's position, so a rerun repeats the file. */
    int32_t *level_starts[RP_MAX_LEVELS];
    for (int l = 0; l < nl; l++) level_starts[l] = e.levels[l].starts;
    if (predict_segment_windows(&t.model, &t.buf, d, wl.n, wl.channel, wl.start_row, (unsigned long long)r.train.seed,
                                0x5e9e000000ull, level_starts, &err))
        goto done;
    for (int l = 0; l < nl; l++) {
        int K = m->levels[l].K;
        for (int w = 0; w < wl.n; w++) {
            const int32_t *st = e.levels[l].starts + (size_t)w * K;
            int32_t *ln = e.levels[l].lengths + (size_t)w * K;
            for (int k = 0; k < K; k++) ln[k] = (k + 1 < K ? st[k + 1] : L) - st[k];
        }
    }
    blame = out;
    if (segexport_write(out, &e, &err)) goto done;
    printf("wrote %s: %d windows (%s split of %s), lookback %d", out, wl.n, split_name, e.source, L);
    for (int l = 0; l < nl; l++)
        printf(", level %d: %s K=%d", l + 1, rp_patching_names[m->levels[l].cfg.patching], m->levels[l].K);
    printf("\n");
    if (plot) {
        blame = plot;
        if (write_plot(plot, &t.model, &pd, &e, wl.channel, model_path, (int)n_show, &err)) goto done;
        printf("wrote %s\n", plot);
    }
    status = 0;
done:
    if (status) {
        if (data && blame == data) cli_fail_path("segment", data, full, err.msg);
        else cli_fail("segment", blame, err.msg);
    }
    for (int l = 0; l < RP_MAX_LEVELS; l++) {
        free(e.levels[l].starts);
        free(e.levels[l].lengths);
    }
    free(wl.channel);
    free(wl.start_row);
    free(source_channel);
    free(export_channel);
    free(unit_values);
    free(unit_lengths);
    trainer_free(&t);
    dataset_free(&dset);
    series_free(&series);
    tsf_free(&tsf);
    recipe_free(&r);
    return status;
}
