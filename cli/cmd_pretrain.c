/* reinpatch pretrain-patcher RECIPE [--set K=V]... [--out DIR] [--sources S]... [--exclude NAME]...
 *                            [--val-fraction F] [--progress | --quiet]
 *
 * Pretrains a recipe's level stack on a pool of many univariate series (io/pool.h) and writes it
 * as a patcher file, with a report of the pool, the GRPG reward curve and the patch lengths.
 * docs/foundation.md. */
#include <dirent.h>
#include <fnmatch.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/blas.h"
#include "core/dist.h"
#include "core/util.h"
#include "io/patcher_file.h"
#include "io/pool.h"
#include "levels/segmentation.h"
#include "train/train.h"

static const char *pretrain_help =
    "usage: reinpatch pretrain-patcher RECIPE [--set KEY=VALUE]... [--out DIR]\n"
    "                                 [--sources DIR|GLOB|FILE.tsf]... [--exclude NAME]...\n"
    "                                 [--val-fraction F] [--progress | --quiet]\n"
    "\n"
    "Pretrains the recipe's level stack (its learned levels with GRPG, together with the recipe's\n"
    "backbone) on windows drawn from many univariate series of .tsf collections (the Monash\n"
    "archive), then writes the stack alone as a patcher file that other runs load, frozen, with\n"
    "the recipe key levels_from (zero-shot transfer). The recipe's data.path is not read; its\n"
    "data.lookback and data.horizon size the windows. Each series is z-scored with its own train\n"
    "statistics; its last F rows (at least horizon) are validation. docs/foundation.md.\n"
    "\n"
    "  --sources S       a directory (every *.tsf in it), a quoted glob ('DIR/m4_*.tsf') or one\n"
    "                    .tsf file; repeatable (default: $REINPATCH_DATA/monash)\n"
    "  --exclude NAME    leave out the source file NAME (with or without .tsf; shell patterns\n"
    "                    allowed); repeatable; an exclusion that matches no source is an error\n"
    "  --val-fraction F  validation fraction of each series, in [0, 1) (default 0.1)\n"
    "  --set KEY=VALUE   override a recipe key (same validation as the file)\n"
    "  --out DIR         output directory (default: the recipe's output.dir or runs/<name>)\n"
    "  --progress        progress on stderr even when it is not a terminal\n"
    "  --quiet           no progress, even on a terminal\n"
    "\n"
    "Writes DIR/patcher.h5 (best-validation weights), DIR/checkpoint.h5 (after every epoch),\n"
    "DIR/pretrain_report.json and DIR/pretrain_report.md (pool, reward curve, patch lengths).\n";

#define MAX_ARGS 256
#define HIST_WINDOW_CAP 50000

/* ---- sources ---- */

typedef struct path_list {
    int n, cap;
    char **p;
} path_list;

static int list_add(path_list *l, const char *path) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->p[i], path)) return 0;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        char **p = realloc(l->p, (size_t)cap * sizeof *p);
        if (!p) return -1;
        l->p = p;
        l->cap = cap;
    }
    l->p[l->n] = strdup(path);
    if (!l->p[l->n]) return -1;
    l->n++;
    return 0;
}

static void list_free(path_list *l) {
    for (int i = 0; i < l->n; i++) free(l->p[i]);
    free(l->p);
    memset(l, 0, sizeof *l);
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Adds the .tsf files a --sources argument names, sorted by path. */
static int add_sources(path_list *out, const char *arg, rp_error *err) {
    struct stat st;
    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
        DIR *dir = opendir(arg);
        if (!dir) return rp_fail(err, "%s: cannot open the directory", arg);
        path_list found = {0};
        struct dirent *e;
        int rc = 0;
        while ((e = readdir(dir)) && !rc) {
            if (e->d_name[0] == '.' || !ends_with(e->d_name, ".tsf")) continue;
            char path[RP_PATH_MAX];
            if (snprintf(path, sizeof path, "%s%s%s", arg, ends_with(arg, "/") ? "" : "/", e->d_name) >=
                (int)sizeof path)
                rc = rp_fail(err, "%s/%s: path too long", arg, e->d_name);
            else if (list_add(&found, path))
                rc = rp_fail(err, "out of memory");
        }
        closedir(dir);
        if (!rc && found.n == 0) rc = rp_fail(err, "%s: the directory holds no .tsf file", arg);
        if (!rc) qsort(found.p, (size_t)found.n, sizeof *found.p, cmp_str);
        for (int i = 0; i < found.n && !rc; i++)
            if (list_add(out, found.p[i])) rc = rp_fail(err, "out of memory");
        list_free(&found);
        return rc;
    }
    if (strpbrk(arg, "*?[")) {
        glob_t g;
        int grc = glob(arg, 0, NULL, &g); /* sorted */
        if (grc == GLOB_NOMATCH) return rp_fail(err, "%s: no file matches", arg);
        if (grc != 0) return rp_fail(err, "%s: cannot expand the pattern", arg);
        int rc = 0;
        for (size_t i = 0; i < g.gl_pathc && !rc; i++) {
            if (!ends_with(g.gl_pathv[i], ".tsf"))
                rc = rp_fail(err, "%s: '%s' is not a .tsf file", arg, g.gl_pathv[i]);
            else if (list_add(out, g.gl_pathv[i]))
                rc = rp_fail(err, "out of memory");
        }
        globfree(&g);
        return rc;
    }
    if (stat(arg, &st) != 0) return rp_fail(err, "%s: no such file or directory", arg);
    if (!ends_with(arg, ".tsf")) return rp_fail(err, "%s: not a .tsf file (sources are Monash .tsf collections)", arg);
    return list_add(out, arg) ? rp_fail(err, "out of memory") : 0;
}

/* 1 when an --exclude pattern names this source file. */
static int excluded_by(const char *pattern, const char *path) {
    const char *name = base_name(path);
    if (!fnmatch(pattern, name, 0)) return 1;
    char stem[RP_PATH_MAX];
    snprintf(stem, sizeof stem, "%s", name);
    if (ends_with(stem, ".tsf")) stem[strlen(stem) - 4] = '\0';
    return !fnmatch(pattern, stem, 0);
}

/* ---- segmentation statistics over the validation windows ---- */

typedef struct level_hist {
    long long *count;       /* [L + 1]: patches of each raw length */
    long long patches, moved, gaps;
    double sum, sum2;
    int min, max;
} level_hist;

/* Greedy segmentation (CUT_EVAL) of up to HIST_WINDOW_CAP windows of a split, evenly spaced. */
static int segment_histograms(rp_trainer *t, rp_split_id split, level_hist *h, long long *windows, rp_error *err) {
    rp_model *m = &t->model;
    rp_model_buffers *b = &t->buf;
    int L = m->lookback, n = t->data.split[split].n_windows;
    long long take = n < HIST_WINDOW_CAP ? n : HIST_WINDOW_CAP;
    *windows = take;
    int Bmax = b->max_windows;
    float *x = rp_malloc((size_t)Bmax * L * sizeof(float), err);
    int *uniform = NULL;
    for (int l = 0; l < m->n_levels; l++) {
        h[l].count = rp_calloc((size_t)L + 1, sizeof(long long), err);
        if (!h[l].count) {
            free(x);
            return -1;
        }
        h[l].min = L + 1;
    }
    int max_units = L;
    uniform = rp_malloc((size_t)max_units * sizeof(int), err);
    if (!x || !uniform) {
        free(x);
        free(uniform);
        return -1;
    }
    for (long long w0 = 0; w0 < take; w0 += Bmax) {
        int B = take - w0 < Bmax ? (int)(take - w0) : Bmax;
        for (int i = 0; i < B; i++) {
            int w = (int)((w0 + i) * (long long)n / take);
            dataset_window(&t->data, split, w, x + (size_t)i * L, NULL);
        }
        model_prepare(m, b, x, B, 1);
        model_segment(m, b, B, 1, CUT_EVAL, (unsigned long long)t->recipe->train.seed,
                      0x4157000000ull + (unsigned long long)w0);
        for (int l = 0; l < m->n_levels; l++) {
            const rp_level *lv = &m->levels[l];
            int K = lv->K;
            seg_uniform(lv->n_units, lv->cfg.rate, uniform);
            for (int i = 0; i < B; i++) {
                const int *raw = b->lv[l].raw_starts + (size_t)i * K, *st = b->lv[l].starts + (size_t)i * K;
                for (int k = 0; k < K; k++) {
                    int len = (k + 1 < K ? raw[k + 1] : L) - raw[k];
                    h[l].count[len]++;
                    h[l].sum += len;
                    h[l].sum2 += (double)len * len;
                    if (len < h[l].min) h[l].min = len;
                    if (len > h[l].max) h[l].max = len;
                }
                h[l].moved += seg_cuts_off_uniform(st, uniform, K);
                h[l].patches += K;
                h[l].gaps += K - 1;
            }
        }
    }
    free(x);
    free(uniform);
    return 0;
}

/* ---- reports ---- */

typedef struct epoch_row {
    rp_epoch_log log;
    rp_eval_result val;
    int steps, policy_active, best;
} epoch_row;


/* JSON has no NaN: missing numbers are null. */
static void json_num(FILE *f, double v) { rp_json_number(f, "%.6g", v); }

static void hist_stats(const level_hist *h, double *mean, double *sd) {
    *mean = h->patches ? h->sum / h->patches : NAN;
    *sd = h->patches ? sqrt(fmax(0, h->sum2 / h->patches - *mean * *mean)) : NAN;
}

/* Smallest length whose cumulative count reaches q of the patches. */
static int hist_quantile(const level_hist *h, int L, double q) {
    long long need = (long long)ceil(q * (double)h->patches), cum = 0;
    if (need < 1) need = 1;
    for (int len = 1; len <= L; len++) {
        cum += h->count[len];
        if (cum >= need) return len;
    }
    return L;
}

typedef struct report_ctx {
    const rp_trainer *t;
    const rp_pool_report *pool;
    const path_list *sources;
    const path_list *excluded; /* sources left out by --exclude */
    const epoch_row *rows;
    int n_rows;
    const level_hist *hist;
    long long hist_windows;
    const char *hist_split;
    double wall;
    const char *dir;
} report_ctx;

static void write_json(const report_ctx *c, FILE *f) {
    const rp_trainer *t = c->t;
    const rp_model *m = &t->model;
    const rp_pool_report *p = c->pool;
    fprintf(f, "{\n  \"recipe\": ");
    rp_json_string(f, t->recipe->name);
    fprintf(f, ",\n  \"lookback\": %d,\n  \"horizon\": %d,\n  \"val_fraction\": %g,\n  \"min_length\": %d,\n",
            p->lookback, p->horizon, p->val_fraction, p->min_length);
    fprintf(f, "  \"pool\": {\"sources\": %d, \"series\": %d, \"used\": %d, \"skipped_short\": %d, "
               "\"skipped_missing\": %d, \"skipped_constant\": %d, \"train_only\": %d, \"train_windows\": %lld, "
               "\"val_windows\": %lld},\n",
            p->n_sources, p->series, p->used, p->skipped_short, p->skipped_missing, p->skipped_constant,
            p->train_only, p->train_windows, p->val_windows);
    fprintf(f, "  \"sources\": [");
    for (int s = 0; s < p->n_sources; s++) {
        const rp_pool_source_report *r = &p->sources[s];
        fprintf(f, "%s\n    {\"name\": ", s ? "," : "");
        rp_json_string(f, r->name);
        fprintf(f, ", \"path\": ");
        rp_json_string(f, c->sources->p[s]);
        fprintf(f, ", \"series\": %d, \"used\": %d, \"skipped_short\": %d, \"skipped_missing\": %d, "
                   "\"skipped_constant\": %d, \"train_only\": %d, \"min_length\": %d, \"max_length\": %d, "
                   "\"train_windows\": %lld, \"val_windows\": %lld}",
                r->series, r->used, r->skipped_short, r->skipped_missing, r->skipped_constant, r->train_only,
                r->min_length, r->max_length, r->train_windows, r->val_windows);
    }
    fprintf(f, "\n  ],\n  \"excluded\": [");
    for (int i = 0; i < c->excluded->n; i++) {
        fputs(i ? ", " : "", f);
        rp_json_string(f, base_name(c->excluded->p[i]));
    }
    fprintf(f, "],\n  \"epochs\": [");
    int best_epoch = 0;
    long long steps = 0;
    for (int e = 0; e < c->n_rows; e++) {
        const epoch_row *r = &c->rows[e];
        if (r->best) best_epoch = e + 1;
        steps += r->steps;
        fprintf(f, "%s\n    {\"epoch\": %d, \"steps\": %d, \"policy_active\": %s, \"train_loss\": ", e ? "," : "",
                e + 1, r->steps, r->policy_active ? "true" : "false");
        json_num(f, r->log.train_loss);
        fputs(", \"mean_reward\": ", f);
        json_num(f, r->policy_active ? r->log.mean_reward : NAN);
        fputs(", \"advantage_spread\": ", f);
        json_num(f, r->policy_active ? r->log.advantage_spread : NAN);
        fputs(", \"val_mse\": ", f);
        json_num(f, r->val.mse);
        fputs(", \"val_mae\": ", f);
        json_num(f, r->val.mae);
        fprintf(f, ", \"seconds\": %.3f, \"windows_per_second\": %.1f, \"levels\": [", r->log.seconds,
                r->log.windows_per_second);
        for (int l = 0; l < m->n_levels; l++) {
            fprintf(f, "%s{\"entropy\": ", l ? ", " : "");
            json_num(f, m->levels[l].has_policy && r->policy_active ? r->log.policy_entropy[l] : NAN);
            fputs(", \"patch_len_mean\": ", f);
            json_num(f, r->log.patch_len_mean[l]);
            fputs(", \"patch_len_std\": ", f);
            json_num(f, r->log.patch_len_std[l]);
            fputs(", \"frac_moved\": ", f);
            json_num(f, r->log.frac_moved[l]);
            fputc('}', f);
        }
        fputs("]}", f);
    }
    fprintf(f, "\n  ],\n  \"best_epoch\": %d,\n  \"steps\": %lld,\n", best_epoch, steps);
    fprintf(f, "  \"segmentation\": {\"split\": \"%s\", \"windows\": %lld, \"decoding\": \"greedy\", \"levels\": [",
            c->hist_split, c->hist_windows);
    for (int l = 0; l < m->n_levels; l++) {
        const rp_level *lv = &m->levels[l];
        const level_hist *h = &c->hist[l];
        double mean, sd;
        hist_stats(h, &mean, &sd);
        fprintf(f, "%s\n    {\"level\": %d, \"patching\": \"%s\", \"trainable\": %s, \"rate\": %g, \"K\": %d, "
                   "\"units\": %d, \"patches\": %lld, \"mean\": ",
                l ? "," : "", l + 1, rp_patching_names[lv->cfg.patching], lv->cfg.trainable ? "true" : "false",
                lv->cfg.rate, lv->K, lv->n_units, h->patches);
        json_num(f, mean);
        fputs(", \"std\": ", f);
        json_num(f, sd);
        fprintf(f, ", \"min\": %d, \"max\": %d, \"median\": %d, \"frac_moved\": ", h->patches ? h->min : 0,
                h->patches ? h->max : 0, h->patches ? hist_quantile(h, m->lookback, 0.5) : 0);
        json_num(f, h->gaps ? (double)h->moved / h->gaps : NAN);
        fputs(", \"histogram\": {\"length\": [", f);
        int first = 1;
        for (int len = 1; len <= m->lookback; len++)
            if (h->count[len]) {
                fprintf(f, "%s%d", first ? "" : ", ", len);
                first = 0;
            }
        fputs("], \"count\": [", f);
        first = 1;
        for (int len = 1; len <= m->lookback; len++)
            if (h->count[len]) {
                fprintf(f, "%s%lld", first ? "" : ", ", h->count[len]);
                first = 0;
            }
        fputs("]}}", f);
    }
    size_t n_policy = 0;
    for (int i = 0; i < m->P.n_tensors; i++)
        if (patcher_is_policy_tensor(m->P.tensors[i].name)) n_policy += m->P.tensors[i].count;
    fprintf(f, "\n  ]},\n  \"parameters\": %zu,\n  \"policy_parameters\": %zu,\n  \"threads\": %d,\n",
            params_count_prefix(&m->P, ""), n_policy, rp_threads());
    fprintf(f, "  \"wall_seconds\": %.3f,\n  \"patcher\": ", c->wall);
    char buf[RP_PATH_MAX + 32];
    snprintf(buf, sizeof buf, "%s/patcher.h5", c->dir);
    rp_json_string(f, buf);
    fputs(",\n  \"checkpoint\": ", f);
    snprintf(buf, sizeof buf, "%s/checkpoint.h5", c->dir);
    rp_json_string(f, t->recipe->output.checkpoint ? buf : "");
    fputs("\n}\n", f);
}

/* A text histogram of one level's patch lengths: one row per length up to the 99th percentile
 * when that is at most 32 rows, else 16 equal-width bins; the longer tail in one last row. */
static void md_histogram(FILE *f, const level_hist *h, int L) {
    int lo = h->min, hi = hist_quantile(h, L, 0.99);
    if (hi < lo) hi = lo;
    int span = hi - lo + 1, bins = span <= 32 ? span : 16;
    int width = (span + bins - 1) / bins;
    bins = (span + width - 1) / width;
    long long counts[34] = {0}, peak = 0;
    int first[34], last[34];
    for (int i = 0; i < bins; i++) {
        first[i] = lo + i * width;
        last[i] = first[i] + width - 1 < hi ? first[i] + width - 1 : hi;
    }
    if (h->max > hi) { /* the tail */
        first[bins] = hi + 1;
        last[bins] = h->max;
        bins++;
    }
    for (int i = 0; i < bins; i++) {
        for (int len = first[i]; len <= last[i]; len++) counts[i] += h->count[len];
        if (counts[i] > peak) peak = counts[i];
    }
    fputs("```\n", f);
    for (int i = 0; i < bins; i++) {
        char label[32];
        if (first[i] == last[i]) snprintf(label, sizeof label, "%d", first[i]);
        else snprintf(label, sizeof label, "%d-%d", first[i], last[i]);
        int bar = peak ? (int)llround(50.0 * (double)counts[i] / (double)peak) : 0;
        if (counts[i] && !bar) bar = 1;
        fprintf(f, "%9s | ", label);
        for (int k = 0; k < bar; k++) fputc('#', f);
        fprintf(f, "%s%lld (%.2f%%)\n", bar ? " " : "", counts[i],
                h->patches ? 100.0 * (double)counts[i] / (double)h->patches : 0.0);
    }
    fputs("```\n", f);
}

static void write_md(const report_ctx *c, FILE *f) {
    const rp_trainer *t = c->t;
    const rp_model *m = &t->model;
    const rp_pool_report *p = c->pool;
    fprintf(f, "# Pretrained patcher: %s\n\n", t->recipe->name);
    fprintf(f, "Lookback %d, horizon %d; %d level%s:", p->lookback, p->horizon, m->n_levels, m->n_levels == 1 ? "" : "s");
    for (int l = 0; l < m->n_levels; l++)
        fprintf(f, "%s level %d %s rate %g (K = %d)", l ? ";" : "", l + 1, rp_patching_names[m->levels[l].cfg.patching],
                m->levels[l].cfg.rate, m->levels[l].K);
    fprintf(f, ". Wall time %.1f s on %d thread%s. Files: `patcher.h5`%s, `pretrain_report.json`.\n\n", c->wall,
            rp_threads(), rp_threads() == 1 ? "" : "s", t->recipe->output.checkpoint ? ", `checkpoint.h5`" : "");

    fprintf(f, "## Pool\n\n");
    fprintf(f, "A series is used when it has at least L + H + 1 = %d rows, no missing value and a non-constant "
               "train part. Validation: the last max(floor(%g n), H) rows of each series (train-only when the "
               "series is too short for that). Test split: empty.\n\n",
            p->min_length, p->val_fraction);
    fprintf(f, "| source | series | used | too short | missing | constant | train-only | lengths used | train "
               "windows | val windows |\n|---|---:|---:|---:|---:|---:|---:|---|---:|---:|\n");
    for (int s = 0; s < p->n_sources; s++) {
        const rp_pool_source_report *r = &p->sources[s];
        char lengths[64] = "-";
        if (r->used) snprintf(lengths, sizeof lengths, "%d..%d", r->min_length, r->max_length);
        fprintf(f, "| %s | %d | %d | %d | %d | %d | %d | %s | %lld | %lld |\n", r->name, r->series, r->used,
                r->skipped_short, r->skipped_missing, r->skipped_constant, r->train_only, lengths, r->train_windows,
                r->val_windows);
    }
    fprintf(f, "| **total** | %d | %d | %d | %d | %d | %d | | %lld | %lld |\n\n", p->series, p->used,
            p->skipped_short, p->skipped_missing, p->skipped_constant, p->train_only, p->train_windows,
            p->val_windows);
    if (c->excluded->n) {
        fputs("Excluded with --exclude:", f);
        for (int i = 0; i < c->excluded->n; i++) fprintf(f, "%s %s", i ? "," : "", base_name(c->excluded->p[i]));
        fputs(".\n\n", f);
    }

    fprintf(f, "## Training (GRPG reward curve)\n\n");
    fprintf(f, "Mean reward: the mean of −MSE over every rollout of the epoch's steps (policy epochs only); "
               "val: greedy segmentation, all validation windows. `*` marks the best validation epoch, whose "
               "weights the patcher holds.\n\n");
    fprintf(f, "| epoch | steps | train loss | mean reward | mean abs advantage | val MSE | val MAE | s |");
    for (int l = 0; l < m->n_levels; l++)
        if (m->levels[l].has_policy) fprintf(f, " L%d entropy | L%d len mean±sd |", l + 1, l + 1);
    fputs("\n|---:|---:|---:|---:|---:|---:|---:|---:|", f);
    for (int l = 0; l < m->n_levels; l++)
        if (m->levels[l].has_policy) fputs("---:|---|", f);
    fputc('\n', f);
    for (int e = 0; e < c->n_rows; e++) {
        const epoch_row *r = &c->rows[e];
        fprintf(f, "| %d%s | %d | %.4f | ", e + 1, r->best ? "*" : "", r->steps, r->log.train_loss);
        if (r->policy_active) fprintf(f, "%.4f | %.3f | ", r->log.mean_reward, r->log.advantage_spread);
        else fputs("(warm-up) | | ", f);
        if (r->val.windows) fprintf(f, "%.4f | %.4f | ", r->val.mse, r->val.mae);
        else fputs("- | - | ", f);
        fprintf(f, "%.1f |", r->log.seconds);
        for (int l = 0; l < m->n_levels; l++)
            if (m->levels[l].has_policy) {
                if (r->policy_active) fprintf(f, " %.3f |", r->log.policy_entropy[l]);
                else fputs(" |", f);
                fprintf(f, " %.2f ± %.2f |", r->log.patch_len_mean[l], r->log.patch_len_std[l]);
            }
        fputc('\n', f);
    }

    fprintf(f, "\n## Patch lengths\n\nGreedy segmentation of %lld %s windows%s; lengths in raw time steps "
               "(a level > 1 patch spans the steps of the patches it groups).\n\n",
            c->hist_windows, c->hist_split, c->hist_windows == HIST_WINDOW_CAP ? " (evenly spaced, capped)" : "");
    for (int l = 0; l < m->n_levels; l++) {
        const rp_level *lv = &m->levels[l];
        const level_hist *h = &c->hist[l];
        double mean, sd;
        hist_stats(h, &mean, &sd);
        fprintf(f, "### Level %d (%s, rate %g, K = %d)\n\n", l + 1, rp_patching_names[lv->cfg.patching], lv->cfg.rate,
                lv->K);
        if (!h->patches) {
            fputs("No windows.\n\n", f);
            continue;
        }
        fprintf(f, "Mean %.2f, sd %.2f, min %d, median %d, max %d steps; %.1f%% of the boundaries differ from "
                   "uniform spacing.\n\n",
                mean, sd, h->min, hist_quantile(h, m->lookback, 0.5), h->max,
                h->gaps ? 100.0 * (double)h->moved / (double)h->gaps : 0.0);
        md_histogram(f, h, m->lookback);
        fputc('\n', f);
    }
}

/* Writes one report file atomically (a full disk leaves the previous file, or none). */
static int write_report(const report_ctx *c, void (*body)(const report_ctx *, FILE *), const char *path,
                        rp_error *err) {
    char tmp[RP_ATOMIC_TMP_MAX];
    FILE *f = rp_atomic_open(path, tmp, err);
    if (!f) return -1;
    body(c, f);
    return rp_atomic_close(f, tmp, path, err);
}

/* ---- the epoch loop's callback ---- */

typedef struct epoch_rows {
    epoch_row *rows;
    int n, progress;
} epoch_rows;

/* Keeps the epoch's row for the reports (marking the best one) and prints it with --progress. */
static int keep_epoch(rp_trainer *t, const rp_epoch_report *e, void *ctx, rp_error *err) {
    epoch_rows *kept = ctx;
    epoch_row *row = &kept->rows[kept->n++];
    row->log = e->log;
    row->val = e->val;
    row->steps = e->log.steps;
    row->policy_active = e->log.policy_active;
    if (e->best)
        for (int i = 0; i < kept->n; i++) kept->rows[i].best = i == kept->n - 1;
    if (kept->progress) {
        fprintf(stderr, "epoch %d: train %.4f  mean reward %.4f  val mse %.4f  %.1fs%s\n", e->log.epoch + 1,
                e->log.train_loss, e->log.mean_reward, e->val.mse, e->log.seconds, e->best ? "  (best)" : "");
        for (int l = 0; l < t->model.n_levels; l++)
            if (t->model.levels[l].has_policy)
                fprintf(stderr, "  level %d: entropy %.3f  patch len %.2f +- %.2f steps  moved %.1f%%\n", l + 1,
                        e->log.policy_entropy[l], e->log.patch_len_mean[l], e->log.patch_len_std[l],
                        100 * e->log.frac_moved[l]);
    }
    return 0;
}

/* ---- the command ---- */

int cmd_pretrain(int argc, char **argv) {
    const char *recipe_path = NULL, *out_dir = NULL, *val_arg = "0.1";
    const char *sets[MAX_ARGS], *source_args[MAX_ARGS], *excludes[MAX_ARGS];
    int n_sets = 0, n_source_args = 0, n_excludes = 0;
    int progress = isatty(STDERR_FILENO);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(pretrain_help, stdout);
            return 0;
        }
        int o;
        if ((o = cli_option("pretrain-patcher", argc, argv, &i, "--set", &v))) {
            if (o < 0) return 2;
            if (n_sets < MAX_ARGS) sets[n_sets++] = v;
        } else if ((o = cli_option("pretrain-patcher", argc, argv, &i, "--sources", &v))) {
            if (o < 0) return 2;
            if (n_source_args < MAX_ARGS) source_args[n_source_args++] = v;
        } else if ((o = cli_option("pretrain-patcher", argc, argv, &i, "--exclude", &v))) {
            if (o < 0) return 2;
            if (n_excludes < MAX_ARGS) excludes[n_excludes++] = v;
        } else if ((o = cli_option("pretrain-patcher", argc, argv, &i, "--out", &v))) {
            if (o < 0) return 2;
            out_dir = v;
        } else if ((o = cli_option("pretrain-patcher", argc, argv, &i, "--val-fraction", &v))) {
            if (o < 0) return 2;
            val_arg = v;
        } else if (!strcmp(a, "--progress")) {
            progress = 1;
        } else if (!strcmp(a, "--quiet")) {
            progress = 0;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "reinpatch pretrain-patcher: unknown option '%s' (see reinpatch pretrain-patcher --help)\n",
                    a);
            return 2;
        } else if (!recipe_path) {
            recipe_path = a;
        } else {
            fprintf(stderr, "reinpatch pretrain-patcher: more than one recipe given ('%s', '%s')\n", recipe_path, a);
            return 2;
        }
    }
    if (!recipe_path) {
        fputs(pretrain_help, stderr);
        return 2;
    }
    char *end = NULL;
    double val_fraction = strtod(val_arg, &end);
    if (!*val_arg || *end || !(val_fraction >= 0 && val_fraction < 1)) {
        fprintf(stderr, "reinpatch pretrain-patcher: --val-fraction must be a number in [0, 1), got '%s'\n", val_arg);
        return 2;
    }
    char default_sources[RP_PATH_MAX];
    if (n_source_args == 0) {
        const char *root = getenv("REINPATCH_DATA");
        snprintf(default_sources, sizeof default_sources, "%s%smonash", root && *root ? root : "",
                 root && *root ? "/" : "");
        source_args[n_source_args++] = default_sources;
    }

    double t0 = rp_now_seconds();
    rp_error err = {{0}};
    int status = 1, agreed = 0; /* agreed: under MPI, whether the ranks have met after setup */
    const char *blame = recipe_path;
    rp_recipe recipe;
    recipe_defaults(&recipe);
    path_list all = {0}, sources = {0}, dropped = {0};
    rp_tsf *tsfs = NULL;
    const rp_tsf **tsf_ptrs = NULL;
    rp_dataset pool;
    memset(&pool, 0, sizeof pool);
    rp_pool_report report;
    memset(&report, 0, sizeof report);
    rp_trainer t;
    memset(&t, 0, sizeof t);
    epoch_row *rows = NULL;
    level_hist hist[RP_MAX_LEVELS];
    memset(hist, 0, sizeof hist);

    if (recipe_load(recipe_path, &recipe, &err)) goto done;
    for (int i = 0; i < n_sets; i++)
        if (recipe_set(&recipe, sets[i], &err)) goto done;
    if (recipe_validate(&recipe, &err) || recipe_render(&recipe, &err)) goto done;

    /* Sources: expand, then apply the exclusions. */
    blame = NULL;
    for (int i = 0; i < n_source_args; i++)
        if (add_sources(&all, source_args[i], &err)) {
            if (i == 0 && source_args[0] == default_sources)
                rp_fail_prefix(&err, "default sources ($REINPATCH_DATA/monash; give --sources)");
            goto done;
        }
    for (int i = 0; i < n_excludes; i++) {
        int hit = 0;
        for (int s = 0; s < all.n; s++) hit |= excluded_by(excludes[i], all.p[s]);
        if (!hit) {
            rp_fail(&err, "--exclude %s matches none of the %d source files", excludes[i], all.n);
            goto done;
        }
    }
    for (int s = 0; s < all.n; s++) {
        int out = 0;
        for (int i = 0; i < n_excludes && !out; i++) out = excluded_by(excludes[i], all.p[s]);
        if (list_add(out ? &dropped : &sources, all.p[s])) {
            rp_fail(&err, "out of memory");
            goto done;
        }
    }
    if (sources.n == 0) {
        rp_fail(&err, "every source was excluded");
        goto done;
    }

    /* Read every source (series with missing values dropped and counted), build the pool. */
    tsfs = rp_calloc((size_t)sources.n, sizeof *tsfs, &err);
    tsf_ptrs = rp_calloc((size_t)sources.n, sizeof *tsf_ptrs, &err);
    if (!tsfs || !tsf_ptrs) goto done;
    for (int s = 0; s < sources.n; s++) {
        blame = sources.p[s];
        if (tsf_read(sources.p[s], TSF_MISSING_DROP_SERIES, &tsfs[s], &err)) goto done;
        tsf_ptrs[s] = &tsfs[s];
    }
    blame = NULL;
    if (dataset_build_pool(&pool, tsf_ptrs, sources.n, recipe.data.lookback, recipe.data.horizon, val_fraction,
                           &report, &err))
        goto done;
    for (int s = 0; s < sources.n; s++) tsf_free(&tsfs[s]);

    blame = recipe_path;
    if (trainer_setup_dataset(&t, &recipe, &pool, &err)) goto done;
    int trainable = 0;
    for (int l = 0; l < t.model.n_levels; l++) trainable |= t.model.levels[l].has_policy && recipe.levels[l].trainable;
    if (!trainable) {
        rp_fail(&err, "no trainable learned level to pretrain (levels[].patching: learned; a level loaded with "
                      "levels_from is frozen unless the recipe writes its trainable: true)");
        goto done;
    }
    if (out_dir) snprintf(t.run_dir, sizeof t.run_dir, "%s", out_dir);
    blame = t.run_dir;
    if (rp_mkdir_p(t.run_dir, &err)) goto done;
    /* Rank 0 alone writes the run's files, so it alone holds the directory's lock. */
    if (dist_rank() == 0 && rp_lock_dir(t.run_dir, &t.lock_fd, &err)) goto done;
    /* Under MPI every rank has read the pool; all stop if one failed, rank 0 printing why. */
    agreed = 1;
    blame = NULL;
    if (dist_agree(0, &err)) goto done;
    if (dist_rank() != 0) progress = 0;
    if (progress)
        fprintf(stderr, "[%s] pool: %d of %d series from %d source%s, %lld train / %lld val windows\n", recipe.name,
                report.used, report.series, report.n_sources, report.n_sources == 1 ? "" : "s", report.train_windows,
                report.val_windows);

    /* The trainer's epoch loop, keeping every epoch's log for the report. */
    rows = rp_calloc((size_t)recipe.train.epochs, sizeof *rows, &err);
    if (!rows) goto done;
    epoch_rows kept = {.rows = rows, .progress = progress};
    rp_train_options fit = {.progress = progress, .on_epoch = keep_epoch, .epoch_ctx = &kept};
    if (trainer_fit(&t, &fit, &err)) goto done;
    int n_rows = kept.n;
    int has_val = t.data.split[SPLIT_VAL].n_windows > 0;
    trainer_restore_best(&t);
    if (dist_rank() != 0) { /* rank 0 writes the patcher and the report */
        status = 0;
        goto done;
    }

    char path[RP_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/patcher.h5", t.run_dir);
    blame = path;
    if (patcher_save(path, &t.model.P, &recipe, &err)) goto done;

    long long hist_windows = 0;
    rp_split_id hist_split = has_val ? SPLIT_VAL : SPLIT_TRAIN;
    blame = NULL;
    if (segment_histograms(&t, hist_split, hist, &hist_windows, &err)) goto done;

    report_ctx ctx = {.t = &t, .pool = &report, .sources = &sources, .excluded = &dropped, .rows = rows,
                      .n_rows = n_rows, .hist = hist, .hist_windows = hist_windows,
                      .hist_split = has_val ? "val" : "train", .wall = rp_now_seconds() - t0, .dir = t.run_dir};
    snprintf(path, sizeof path, "%s/pretrain_report.json", t.run_dir);
    blame = path;
    if (write_report(&ctx, write_json, path, &err)) goto done;
    snprintf(path, sizeof path, "%s/pretrain_report.md", t.run_dir);
    if (write_report(&ctx, write_md, path, &err)) goto done;

    printf("wrote %s/patcher.h5: %d level%s, lookback %d; pool: %d of %d series from %d source%s, %lld train / "
           "%lld val windows; %d epoch%s, best %d; %.1f s\n",
           t.run_dir, t.model.n_levels, t.model.n_levels == 1 ? "" : "s", t.model.lookback, report.used,
           report.series, report.n_sources, report.n_sources == 1 ? "" : "s", report.train_windows,
           report.val_windows, n_rows, n_rows == 1 ? "" : "s", t.best_epoch + 1, ctx.wall);
    printf("report: %s/pretrain_report.md, %s/pretrain_report.json\n", t.run_dir, t.run_dir);
    status = 0;
done:
    if (status && !agreed) {
        /* A rank that failed before the agreement meets the others there. */
        dist_agree(-1, &err);
        blame = NULL;
    } else if (status) {
        dist_abort_if_parallel("reinpatch pretrain-patcher", &err);
    }
    if (status && dist_rank() == 0) cli_fail("pretrain-patcher", blame, err.msg);
    for (int l = 0; l < RP_MAX_LEVELS; l++) free(hist[l].count);
    free(rows);
    trainer_free(&t);
    dataset_free(&pool);
    pool_report_free(&report);
    if (tsfs)
        for (int s = 0; s < sources.n; s++) tsf_free(&tsfs[s]);
    free(tsfs);
    free(tsf_ptrs);
    list_free(&all);
    list_free(&sources);
    list_free(&dropped);
    recipe_free(&recipe);
    return status;
}
