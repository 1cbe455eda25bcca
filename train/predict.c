/* timegm is a BSD/GNU extension: ask glibc for it on top of the project's POSIX level. */
#define _DEFAULT_SOURCE 1

#include "train/predict.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int predict_recipe_from_checkpoint(const char *path, rp_recipe *r, rp_error *err) {
    recipe_defaults(r);
    char *text = NULL;
    if (checkpoint_read_recipe(path, &text, err)) return -1;
    char name[RP_PATH_MAX + 16];
    snprintf(name, sizeof name, "%s:/recipe", path);
    int rc = recipe_parse(text, name, r, err);
    free(text);
    return rc;
}

int loaded_model_from_checkpoint(rp_loaded_model *lm, const char *path, rp_error *err) {
    memset(lm, 0, sizeof *lm);
    if (predict_recipe_from_checkpoint(path, &lm->recipe, err)) goto fail;
    if (model_build(&lm->model, &lm->recipe, err)) {
        rp_fail_prefix(err, "%s: cannot rebuild the model from its recipe", path);
        goto fail;
    }
    float *best = rp_malloc(lm->model.P.total * sizeof(float) + 1, err);
    if (!best) goto fail;
    if (checkpoint_load(path, &lm->model.P, &lm->state, best, &lm->has_best, err)) {
        free(best);
        goto fail;
    }
    if (lm->has_best) memcpy(lm->model.P.value, best, lm->model.P.total * sizeof(float));
    free(best);
    if (lm->state.n_channels < 1 || !lm->state.mean || !lm->state.std) {
        rp_fail(err, "%s: the checkpoint holds no normalisation statistics", path);
        goto fail;
    }
    return 0;
fail:
    loaded_model_free(lm);
    return -1;
}

void loaded_model_free(rp_loaded_model *lm) {
    model_free(&lm->model);
    checkpoint_state_free(&lm->state);
    recipe_free(&lm->recipe);
    memset(lm, 0, sizeof *lm);
}

void predict_segment(rp_model *m, rp_model_buffers *b, int B, unsigned long long seed,
                     unsigned long long stream_base) {
    model_segment(m, b, B, 1, CUT_EVAL, seed, stream_base);
}

int predict_segment_windows(rp_model *m, rp_model_buffers *b, const rp_dataset *d, int n,
                            const int32_t *channel, const int32_t *start_row, unsigned long long seed,
                            unsigned long long stream_base, int32_t *const *raw_starts, rp_error *err) {
    int L = m->lookback, Bmax = b->max_windows;
    float *x = rp_malloc((size_t)Bmax * L * sizeof(float), err);
    if (!x) return -1;
    for (int w0 = 0; w0 < n; w0 += Bmax) {
        int B = n - w0 < Bmax ? n - w0 : Bmax;
        for (int i = 0; i < B; i++)
            memcpy(x + (size_t)i * L, dataset_channel(d, channel[w0 + i], NULL) + start_row[w0 + i],
                   (size_t)L * sizeof(float));
        model_prepare(m, b, x, B, 1);
        predict_segment(m, b, B, seed, stream_base + (unsigned long long)w0);
        for (int l = 0; l < m->n_levels; l++) {
            size_t K = (size_t)m->levels[l].K;
            for (size_t j = 0; j < (size_t)B * K; j++) raw_starts[l][(size_t)w0 * K + j] = b->lv[l].raw_starts[j];
        }
    }
    free(x);
    return 0;
}

int predict_segment_split(rp_model *m, rp_model_buffers *b, const rp_dataset *d, rp_split_id split,
                          unsigned long long seed, unsigned long long stream_base,
                          int32_t *const *raw_starts, rp_error *err) {
    int n = d->split[split].n_windows;
    int32_t *channel = rp_malloc((size_t)n * sizeof(int32_t) + 1, err);
    int32_t *start_row = rp_malloc((size_t)n * sizeof(int32_t) + 1, err);
    int rc = -1;
    if (channel && start_row) {
        for (int w = 0; w < n; w++) {
            int c, s;
            dataset_window_origin(d, split, w, &c, &s);
            channel[w] = c;
            start_row[w] = s;
        }
        rc = predict_segment_windows(m, b, d, n, channel, start_row, seed, stream_base, raw_starts, err);
    }
    free(channel);
    free(start_row);
    return rc;
}

void predict_normalize(const float *v, int C, int row0, int L, const double *mean,
                       const double *std, float *x) {
    for (int c = 0; c < C; c++)
        for (int t = 0; t < L; t++)
            x[(size_t)c * L + t] =
                (float)(((double)v[(size_t)(row0 + t) * C + c] - mean[c]) / std[c]);
}

void predict_denormalize(const float *z, int C, int H, const double *mean, const double *std,
                         float *out) {
    for (int c = 0; c < C; c++)
        for (int h = 0; h < H; h++)
            out[(size_t)h * C + c] = (float)((double)z[(size_t)c * H + h] * std[c] + mean[c]);
}

int predict_last_window(rp_model *m, rp_model_buffers *b, const float *v, int rows, int C,
                        const double *mean, const double *std, float *out, rp_error *err) {
    int L = m->lookback, H = m->horizon;
    if (rows < L)
        return rp_fail(err, "%d rows, the model's lookback needs at least %d", rows, L);
    if (C > b->max_windows)
        return rp_fail(err, "%d channels, the buffers hold %d windows", C, b->max_windows);
    for (int c = 0; c < C; c++)
        if (!(std[c] > 0) || !isfinite(mean[c]))
            return rp_fail(err, "channel %d: invalid normalisation statistics (mean %g, std %g)", c,
                           mean[c], std[c]);
    float *x = rp_malloc((size_t)C * L * sizeof(float), err);
    if (!x) return -1;
    predict_normalize(v, C, rows - L, L, mean, std, x);
    for (size_t i = 0; i < (size_t)C * L; i++)
        if (!isfinite(x[i])) {
            free(x);
            return rp_fail(err, "a non-finite value in the last %d rows", L);
        }
    model_prepare(m, b, x, C, 1);
    predict_segment(m, b, C, (unsigned long long)m->recipe.train.seed, 0x9ed1c7ull);
    model_forward(m, b, NULL, C, 1, 0, 0);
    free(x);
    for (size_t i = 0; i < (size_t)C * H; i++)
        if (!isfinite(b->forecast[i])) return rp_fail(err, "the model produced a non-finite forecast");
    predict_denormalize(b->forecast, C, H, mean, std, out);
    return 0;
}

/* ---- timestamps ---- */

/* Reads 1..max digits; returns the count (0 when none). */
static int read_digits(const char **p, int max, int *value) {
    int n = 0, v = 0;
    while (n < max && isdigit((unsigned char)**p)) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    *value = v;
    return n;
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int m) {
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

int rp_timestamp_parse(const char *s, rp_timestamp *t) {
    memset(t, 0, sizeof *t);
    const char *p = s;
    while (*p == ' ') p++;
    int n;
    if (read_digits(&p, 4, &t->year) != 4) return -1;
    if (*p != '-' && *p != '/' && *p != '.') return -1;
    t->date_sep = *p++;
    if ((n = read_digits(&p, 2, &t->mon)) == 0) return -1;
    t->pad_mon = n == 2 ? (t->mon < 10 ? 1 : -1) : 0;
    if (*p++ != t->date_sep) return -1;
    if ((n = read_digits(&p, 2, &t->day)) == 0) return -1;
    t->pad_day = n == 2 ? (t->day < 10 ? 1 : -1) : 0;
    t->time_sep = ' ';
    if ((*p == ' ' || *p == 'T') && isdigit((unsigned char)p[1])) {
        t->time_sep = *p++;
        t->has_time = 1;
        if ((n = read_digits(&p, 2, &t->hour)) == 0) return -1;
        t->pad_hour = n == 2 ? (t->hour < 10 ? 1 : -1) : 0;
        if (*p++ != ':') return -1;
        if (read_digits(&p, 2, &t->min) != 2) return -1;
        if (*p == ':') {
            p++;
            if (read_digits(&p, 2, &t->sec) != 2) return -1;
            t->has_sec = 1;
        }
    }
    while (*p == ' ') p++;
    if (*p) return -1;
    if (t->mon < 1 || t->mon > 12 || t->day < 1 || t->day > days_in_month(t->year, t->mon)) return -1;
    if (t->hour > 23 || t->min > 59 || t->sec > 59) return -1;
    return 0;
}

long long rp_timestamp_seconds(const rp_timestamp *t) {
    struct tm tm = {0};
    tm.tm_year = t->year - 1900;
    tm.tm_mon = t->mon - 1;
    tm.tm_mday = t->day;
    tm.tm_hour = t->hour;
    tm.tm_min = t->min;
    tm.tm_sec = t->sec;
    return (long long)timegm(&tm);
}

void rp_timestamp_format(const rp_timestamp *t, const rp_timestamp *fmt, char *buf, size_t size) {
    int n = snprintf(buf, size, "%04d%c%0*d%c%0*d", t->year, fmt->date_sep, fmt->pad_mon ? 2 : 1, t->mon,
                     fmt->date_sep, fmt->pad_day ? 2 : 1, t->day);
    if (n < 0 || (size_t)n >= size || !fmt->has_time) return;
    n += snprintf(buf + n, size - (size_t)n, "%c%0*d:%02d", fmt->time_sep, fmt->pad_hour ? 2 : 1, t->hour,
                  t->min);
    if (n < 0 || (size_t)n >= size || !fmt->has_sec) return;
    snprintf(buf + n, size - (size_t)n, ":%02d", t->sec);
}

static void from_seconds(long long secs, rp_timestamp *t) {
    time_t tt = (time_t)secs;
    struct tm tm;
    gmtime_r(&tt, &tm);
    t->year = tm.tm_year + 1900;
    t->mon = tm.tm_mon + 1;
    t->day = tm.tm_mday;
    t->hour = tm.tm_hour;
    t->min = tm.tm_min;
    t->sec = tm.tm_sec;
}

int rp_timestamps_continue(const char *prev, const char *last, int n, char **out) {
    rp_timestamp a, b;
    if (!prev || !last || rp_timestamp_parse(prev, &a) || rp_timestamp_parse(last, &b)) return -1;
    long long sa = rp_timestamp_seconds(&a), sb = rp_timestamp_seconds(&b);
    if (sb <= sa) return -1;
    int same_time = a.hour == b.hour && a.min == b.min && a.sec == b.sec;
    int month_ends = a.day == days_in_month(a.year, a.mon) && b.day == days_in_month(b.year, b.mon);
    int months = (b.year - a.year) * 12 + (b.mon - a.mon);
    int by_month = same_time && months > 0 && (a.day == b.day || month_ends);
    long long step = sb - sa;
    /* Zero padding: a field below 10 shows it; for fields >= 10 (unknown, -1) take the other
     * timestamp's, then the other fields' style, then two digits. */
    rp_timestamp fmt = b;
    int *pads[3] = {&fmt.pad_mon, &fmt.pad_day, &fmt.pad_hour};
    const int other[3] = {a.pad_mon, a.pad_day, a.pad_hour};
    int known = -1;
    for (int i = 0; i < 3; i++) {
        if (*pads[i] < 0) *pads[i] = other[i];
        if (known < 0 && *pads[i] >= 0 && (i < 2 || fmt.has_time)) known = *pads[i];
    }
    for (int i = 0; i < 3; i++)
        if (*pads[i] < 0) *pads[i] = known < 0 ? 1 : known;
    char **tmp = calloc((size_t)(n > 0 ? n : 1), sizeof *tmp);
    if (!tmp) return -1;
    for (int i = 0; i < n; i++) {
        rp_timestamp t = b;
        if (by_month) {
            long long m0 = (long long)b.year * 12 + (b.mon - 1) + (long long)months * (i + 1);
            t.year = (int)(m0 / 12);
            t.mon = (int)(m0 % 12) + 1;
            int dim = days_in_month(t.year, t.mon);
            t.day = month_ends ? dim : (b.day < dim ? b.day : dim);
        } else {
            from_seconds(sb + step * (i + 1), &t);
        }
        char buf[64];
        rp_timestamp_format(&t, &fmt, buf, sizeof buf);
        tmp[i] = strdup(buf);
        if (!tmp[i]) {
            for (int j = 0; j < i; j++) free(tmp[j]);
            free(tmp);
            return -1;
        }
    }
    memcpy(out, tmp, (size_t)n * sizeof *out);
    free(tmp);
    return 0;
}
