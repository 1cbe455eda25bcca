/* Token-count scaling: training time per step and per epoch of the forecaster as the number of
 * tokens grows, for each backbone (issue 7).
 *
 * For each backbone kind and each fixed patching rate r (default 8 4 2 1, i.e. K = ceil(L / r) =
 * 42, 84, 168, 336 tokens at L = 336), it builds the recipe's trainer with `backbone.kind` and
 * `levels[0].rate` set (patch_len stays the recipe's: every token resamples 16 steps, so only the
 * token count changes), trains --warmup steps, then times --steps steps of the real training loop
 * (trainer_train_epoch: window gathering, RevIN, segmentation, tokenizer, backbone, head, loss,
 * Adam). Each backbone keeps the recipe's size keys.
 *
 * Clock: CPU time of this process (getrusage, user + sys), with train.threads forced to 1. On a
 * machine shared with other jobs, wall-clock time also counts the time the process waits for a
 * core; the CPU time of a single-threaded process does not (it still feels the neighbours through
 * shared caches and memory bandwidth). Wall time is printed next to it for comparison.
 *
 * Rate 1: the recipe schema requires rate > 1 (a level must compress). The segmentation and the
 * tokenizer accept rate 1, so for it the recipe is validated at rate 2 and the rate set to 1
 * afterwards: K = L tokens, the 16-step windows starting at every step (stride 1).
 *
 * Seconds per epoch = seconds per step × (training windows / batch): an epoch of the ETTh1 recipe is
 * 8209 × 7 = 57,463 windows, 448.9 steps of 128.
 *
 * usage: token_scaling [RECIPE] [--kinds transformer,s7,etsmlp] [--rates 8,4,2,1] [--steps N]
 *                      [--warmup N] [--repeat N] [--svg PATH] [--set KEY=VALUE]...
 *        token_scaling --replot OUTPUT.txt [--svg PATH]
 * Default recipe: recipes/etth1_fixed.yaml (needs $REINPATCH_DATA; without it, a generated series
 * of ETTh1's shape, which has the same cost). With --repeat N each configuration is timed N times
 * (after one warm-up) and the smallest CPU time is kept. Prints one line per configuration, then a
 * markdown table; --svg writes a log–log plot of seconds per epoch against tokens. --replot FILE
 * reads what an earlier run printed instead of measuring, and redraws the table and the plot. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "train/train.h"

#define MAX_KINDS 3
#define MAX_RATES 8

typedef struct measurement {
    int tokens;
    double step_cpu, step_wall, epoch_cpu;
    double windows;      /* training windows of an epoch */
    int batch;
    double arena_mib;
    size_t params;
} measurement;

static int parse_kind(const char *s, rp_backbone_kind *k) {
    for (int i = 0; i < RP_BACKBONE_KINDS; i++)
        if (!strcmp(s, rp_backbone_names[i])) {
            *k = (rp_backbone_kind)i;
            return 0;
        }
    return -1;
}

/* Least-squares slope of log(y) against log(x): the exponent p in y ∝ x^p. */
static double loglog_slope(const measurement *m, int n) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        double x = log((double)m[i].tokens), y = log(m[i].epoch_cpu);
        sx += x; sy += y; sxx += x * x; sxy += x * y;
    }
    return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

static int measure(const char *recipe_path, const char **sets, int n_sets, rp_backbone_kind kind, int rate,
                   int warmup, int steps, int repeat, measurement *out, rp_error *err) {
    rp_recipe r;
    recipe_defaults(&r);
    int rc = -1;
    rp_trainer t;
    int have_trainer = 0;
    if (recipe_load(recipe_path, &r, err)) goto done;
    if (!getenv("REINPATCH_DATA") && strcmp(r.data.path, "generated") != 0) {
        snprintf(r.data.path, sizeof r.data.path, "generated");
        r.data.generated_rows = 17420;
        r.data.generated_channels = 7;
        r.data.protocol = PROTOCOL_ETT_HOURLY; /* the same split sizes as ETTh1 */
    }
    for (int i = 0; i < n_sets; i++)
        if (recipe_set(&r, sets[i], err)) goto done;
    r.backbone.kind = kind;
    r.levels[0].rate = rate > 1 ? rate : 2;
    r.train.threads = 1;
    r.output.checkpoint = 0;
    if (recipe_validate(&r, err) || recipe_render(&r, err)) goto done;
    r.levels[0].rate = rate; /* rate 1: see the note at the top */
    if (trainer_setup(&t, &r, err)) goto done;
    have_trainer = 1;
    rp_epoch_log log;
    if (trainer_train_epoch(&t, 0, warmup, 0, &log, err)) goto done;
    double best_cpu = INFINITY, best_wall = 0;
    for (int k = 0; k < repeat; k++) {
        double c0 = rp_cpu_seconds(), w0 = rp_now_seconds();
        if (trainer_train_epoch(&t, 0, steps, 0, &log, err)) goto done;
        double c = rp_cpu_seconds() - c0, w = rp_now_seconds() - w0;
        if (c < best_cpu) {
            best_cpu = c;
            best_wall = w;
        }
    }
    int B = r.train.batch_size;
    double windows = t.data.split[SPLIT_TRAIN].n_windows;
    out->tokens = t.model.n_tokens;
    out->step_cpu = best_cpu / steps;
    out->step_wall = best_wall / steps;
    out->epoch_cpu = out->step_cpu * windows / B;
    out->windows = windows;
    out->batch = B;
    out->arena_mib = backbone_act_floats(&t.model.backbone, B * t.group) * sizeof(float) / 1048576.0;
    out->params = params_count_prefix(&t.model.P, "");
    rc = 0;
done:
    if (have_trainer) trainer_free(&t);
    recipe_free(&r);
    return rc;
}

/* ---- the plot ------------------------------------------------------------------------------------ */

/* By backbone kind, so a kind keeps its colour whatever --kinds lists. */
static const char *kind_colour(const char *kind) {
    return !strcmp(kind, "transformer") ? "#d62728" : !strcmp(kind, "s7") ? "#1f77b4" : "#2ca02c";
}

static int write_svg(const char *path, const char *kinds[], int n_kinds, measurement m[][MAX_RATES], int n_rates,
                     const char *caption, rp_error *err) {
    FILE *f = fopen(path, "w");
    if (!f) return rp_fail(err, "%s: cannot open for writing", path);
    const double W = 760, H = 480, left = 78, right = 200, top = 52, bottom = 64;
    const double pw = W - left - right, ph = H - top - bottom;
    double kmin = 1e30, kmax = 0, ymin = 1e30, ymax = 0;
    for (int k = 0; k < n_kinds; k++)
        for (int i = 0; i < n_rates; i++) {
            kmin = fmin(kmin, m[k][i].tokens); kmax = fmax(kmax, m[k][i].tokens);
            ymin = fmin(ymin, m[k][i].epoch_cpu); ymax = fmax(ymax, m[k][i].epoch_cpu);
        }
    /* x: log2 of tokens with a margin; y: whole decades around the data. */
    double x0 = log2(kmin) - 0.25, x1 = log2(kmax) + 0.25;
    double y0 = floor(log10(ymin)), y1 = ceil(log10(ymax));
    if (y1 - y0 < 1) y1 = y0 + 1;
#define PX(k) (left + (log2(k) - x0) / (x1 - x0) * pw)
#define PY(v) (top + (y1 - log10(v)) / (y1 - y0) * ph)
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
               "font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"13\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.1f\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">%s</text>\n", W / 2,
            "Training time per epoch vs. token count");
    fprintf(f, "<text x=\"%.1f\" y=\"40\" font-size=\"11\" fill=\"#555\" text-anchor=\"middle\">%s</text>\n",
            W / 2, caption);
    /* grid and y ticks: decades labelled, 2 and 5 as light lines */
    for (double e = y0; e <= y1 + 1e-9; e += 1) {
        for (int s = 1; s <= 9; s++) {
            double v = s * pow(10, e);
            if (log10(v) > y1 + 1e-9) break;
            int major = s == 1;
            fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1\"/>\n", left,
                    left + pw, PY(v), PY(v), major ? "#ccc" : "#eee");
            if (major || s == 2 || s == 5)
                fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"%d\">%g</text>\n", left - 6,
                        PY(v) + 4, major ? 12 : 10, v);
        }
    }
    /* x ticks at the measured token counts */
    for (int i = 0; i < n_rates; i++) {
        double k = m[0][i].tokens;
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", PX(k), PX(k), top,
                top + ph);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", PX(k), top + ph + 18, k);
    }
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n", left,
            top, pw, ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">tokens per window K (log scale)</text>\n",
            left + pw / 2, H - 18);
    fprintf(f, "<text transform=\"translate(20 %.1f) rotate(-90)\" text-anchor=\"middle\">CPU seconds per epoch "
               "(log scale)</text>\n", top + ph / 2);
    /* guides: ∝ K and ∝ K² through the highest first point (the slowest backbone at the fewest
     * tokens), so that no guide runs through another curve's points by coincidence */
    int hi = 0;
    for (int k = 1; k < n_kinds; k++)
        if (m[k][0].epoch_cpu > m[hi][0].epoch_cpu) hi = k;
    double ka = m[hi][0].tokens, va = m[hi][0].epoch_cpu;
    for (int p = 1; p <= 2; p++) {
        double kb = kmax, vb = va * pow(kb / ka, p);
        int clipped = log10(vb) > y1;
        if (clipped) { vb = pow(10, y1); kb = ka * pow(vb / va, 1.0 / p); }
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" stroke-dasharray=\"5 4\"/>\n",
                PX(ka), PY(va), PX(kb), PY(vb));
        /* the label past the guide's end, or below it where the guide leaves through the top */
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#777\"%s>%s</text>\n",
                clipped ? PX(kb) - 6 : PX(kb) + 4, clipped ? PY(vb) + 16 : PY(vb) + 4,
                clipped ? " text-anchor=\"end\"" : "", p == 1 ? "∝ K" : "∝ K²");
    }
    for (int k = 0; k < n_kinds; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.2\" points=\"", kind_colour(kinds[k]));
        for (int i = 0; i < n_rates; i++) fprintf(f, "%.1f,%.1f ", PX(m[k][i].tokens), PY(m[k][i].epoch_cpu));
        fprintf(f, "\"/>\n");
        for (int i = 0; i < n_rates; i++)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", PX(m[k][i].tokens),
                    PY(m[k][i].epoch_cpu), kind_colour(kinds[k]));
        double ly = top + 16 + 40 * k, lx = left + pw + 16;
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2.2\"/>\n", lx,
                lx + 24, ly, ly, kind_colour(kinds[k]));
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", lx + 12, ly, kind_colour(kinds[k]));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", lx + 30, ly + 4, kinds[k]);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#555\">slope %.2f, ×%.1f overall</text>\n",
                lx + 30, ly + 19, loglog_slope(m[k], n_rates), m[k][n_rates - 1].epoch_cpu / m[k][0].epoch_cpu);
    }
#undef PX
#undef PY
    fprintf(f, "</svg>\n");
    if (fclose(f)) return rp_fail(err, "%s: write failed", path);
    return 0;
}

/* --replot: reads the lines a measuring run printed (its header and one line per configuration),
 * so the table and the plot can be redrawn without measuring again. */
static char replot_names[MAX_KINDS][32];
static char replot_recipe[256];

static int read_measurements(const char *path, const char *kind_names[], int *n_kinds, int *rates, int *n_rates,
                             measurement m[][MAX_RATES], int *steps, int *warmup, rp_error *err) {
    FILE *f = fopen(path, "r");
    if (!f) return rp_fail(err, "%s: cannot open", path);
    char line[512];
    int lineno = 0;
    *n_kinds = 0;
    *n_rates = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strncmp(line, "# recipe ", 9)) {
            char *comma = strchr(line + 9, ',');
            if (comma) {
                *comma = 0;
                snprintf(replot_recipe, sizeof replot_recipe, "%.200s", line + 9);
                sscanf(comma + 1, " threads 1, %d warm-up + %d timed steps", warmup, steps);
            }
            continue;
        }
        if (line[0] == '#' || !strchr(line, '\t')) continue;
        char kind[32];
        measurement x = {0};
        int rate;
        if (sscanf(line, "%31s %d %d %lf %lf %lf %lf %zu %d %lf", kind, &rate, &x.tokens, &x.step_cpu, &x.step_wall,
                   &x.epoch_cpu, &x.arena_mib, &x.params, &x.batch, &x.windows) != 10) {
            fclose(f);
            return rp_fail(err, "%s:%d: expected kind, rate, tokens, cpu_s_per_step, wall_s_per_step, "
                           "cpu_s_per_epoch, arena_MiB, parameters, batch, epoch_windows", path, lineno);
        }
        int k = 0;
        while (k < *n_kinds && strcmp(replot_names[k], kind)) k++;
        if (k == *n_kinds) {
            if (k == MAX_KINDS) break;
            snprintf(replot_names[k], sizeof replot_names[k], "%s", kind);
            kind_names[k] = replot_names[k];
            (*n_kinds)++;
        }
        int i = 0;
        while (i < *n_rates && rates[i] != rate) i++;
        if (i == *n_rates) {
            if (k > 0 || i == MAX_RATES) {
                fclose(f);
                return rp_fail(err, "%s:%d: rate %d not measured for %s", path, lineno, rate, kind_names[0]);
            }
            rates[(*n_rates)++] = rate;
        }
        m[k][i] = x;
    }
    fclose(f);
    if (*n_kinds < 1 || *n_rates < 2) return rp_fail(err, "%s: no measurements (a kind at two rates) found", path);
    for (int k = 0; k < *n_kinds; k++)
        for (int i = 0; i < *n_rates; i++)
            if (m[k][i].tokens == 0) return rp_fail(err, "%s: %s has no line for rate %d", path, kind_names[k], rates[i]);
    return 0;
}

int main(int argc, char **argv) {
    const char *recipe_path = "recipes/etth1_fixed.yaml", *svg = NULL, *replot = NULL;
    const char *kind_names[MAX_KINDS];
    for (int k = 0; k < RP_BACKBONE_KINDS; k++) kind_names[k] = rp_backbone_names[k];
    int n_kinds = RP_BACKBONE_KINDS, rates[MAX_RATES] = {8, 4, 2, 1}, n_rates = 4, steps = 30, warmup = 5, repeat = 1;
    const char *sets[64];
    int n_sets = 0;
    static char kinds_buf[256];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup") && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (!strcmp(a, "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (!strcmp(a, "--svg") && i + 1 < argc) svg = argv[++i];
        else if (!strcmp(a, "--replot") && i + 1 < argc) replot = argv[++i];
        else if (!strcmp(a, "--set") && i + 1 < argc && n_sets < 64) sets[n_sets++] = argv[++i];
        else if (!strcmp(a, "--kinds") && i + 1 < argc) {
            snprintf(kinds_buf, sizeof kinds_buf, "%s", argv[++i]);
            n_kinds = 0;
            for (char *tok = strtok(kinds_buf, ","); tok && n_kinds < MAX_KINDS; tok = strtok(NULL, ","))
                kind_names[n_kinds++] = tok;
        } else if (!strcmp(a, "--rates") && i + 1 < argc) {
            n_rates = 0;
            for (char *s = argv[++i]; *s && n_rates < MAX_RATES;) {
                rates[n_rates++] = (int)strtol(s, &s, 10);
                if (*s == ',') s++;
            }
        } else if (a[0] != '-') recipe_path = a;
        else {
            fprintf(stderr, "usage: token_scaling [RECIPE] [--kinds transformer,s7,etsmlp] [--rates 8,4,2,1] "
                            "[--steps N] [--warmup N] [--repeat N] [--svg PATH] [--set KEY=VALUE]...\n"
                            "       token_scaling --replot OUTPUT.txt [--svg PATH]\n");
            return 2;
        }
    }
    static measurement m[MAX_KINDS][MAX_RATES];
    rp_error err = {{0}};
    if (replot) {
        if (read_measurements(replot, kind_names, &n_kinds, rates, &n_rates, m, &steps, &warmup, &err)) {
            fprintf(stderr, "token_scaling: %s\n", err.msg);
            return 1;
        }
        if (replot_recipe[0]) recipe_path = replot_recipe;
        goto report;
    }
    if (steps < 1 || warmup < 0 || repeat < 1 || n_kinds < 1 || n_rates < 2) {
        fprintf(stderr, "token_scaling: need --steps >= 1, --warmup >= 0, --repeat >= 1, a kind and two rates\n");
        return 2;
    }
    rp_backbone_kind kinds[MAX_KINDS];
    for (int k = 0; k < n_kinds; k++)
        if (parse_kind(kind_names[k], &kinds[k])) {
            fprintf(stderr, "token_scaling: unknown backbone kind '%s' (transformer, s7, etsmlp)\n", kind_names[k]);
            return 2;
        }
    for (int i = 0; i < n_rates; i++)
        if (rates[i] < 1) {
            fprintf(stderr, "token_scaling: rates must be integers >= 1\n");
            return 2;
        }

    printf("# recipe %s, threads 1, %d warm-up + %d timed steps (best of %d), CPU time (getrusage user+sys)\n",
           recipe_path, warmup, steps, repeat);
    printf("# kind\trate\ttokens\tcpu_s_per_step\twall_s_per_step\tcpu_s_per_epoch\tarena_MiB\tparameters\tbatch"
           "\tepoch_windows\n");
    for (int k = 0; k < n_kinds; k++)
        for (int i = 0; i < n_rates; i++) {
            if (measure(recipe_path, sets, n_sets, kinds[k], rates[i], warmup, steps, repeat, &m[k][i], &err)) {
                fprintf(stderr, "token_scaling: %s, rate %d: %s\n", kind_names[k], rates[i], err.msg);
                return 1;
            }
            printf("%s\t%d\t%d\t%.6f\t%.6f\t%.3f\t%.1f\t%zu\t%d\t%.0f\n", kind_names[k], rates[i], m[k][i].tokens,
                   m[k][i].step_cpu, m[k][i].step_wall, m[k][i].epoch_cpu, m[k][i].arena_mib, m[k][i].params,
                   m[k][i].batch, m[k][i].windows);
            fflush(stdout);
        }

report:
    printf("\n| tokens (rate) |");
    for (int k = 0; k < n_kinds; k++) printf(" %s s/step | %s s/epoch |", kind_names[k], kind_names[k]);
    printf("\n|---|");
    for (int k = 0; k < n_kinds; k++) printf("---|---|");
    printf("\n");
    for (int i = 0; i < n_rates; i++) {
        printf("| %d (%d) |", m[0][i].tokens, rates[i]);
        for (int k = 0; k < n_kinds; k++) printf(" %.4f | %.1f |", m[k][i].step_cpu, m[k][i].epoch_cpu);
        printf("\n");
    }
    printf("| log–log slope |");
    for (int k = 0; k < n_kinds; k++) printf(" | %.2f |", loglog_slope(m[k], n_rates));
    printf("\n| ×, %d → %d tokens |", m[0][0].tokens, m[0][n_rates - 1].tokens);
    for (int k = 0; k < n_kinds; k++) printf(" | ×%.1f |", m[k][n_rates - 1].epoch_cpu / m[k][0].epoch_cpu);
    printf("\n");

    if (svg) {
        char caption[512];
        snprintf(caption, sizeof caption, "%.200s, batch %d, 1 thread: CPU time of %d steps (after %d warm-up) "
                 "× %.0f windows / batch", recipe_path, m[0][0].batch, steps, warmup, m[0][0].windows);
        if (write_svg(svg, kind_names, n_kinds, m, n_rates, caption, &err)) {
            fprintf(stderr, "token_scaling: %s\n", err.msg);
            return 1;
        }
        printf("\nwrote %s\n", svg);
    }
    return 0;
}
