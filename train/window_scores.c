#include "train/window_scores.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"

double window_mse(const float *forecast, const float *truth, int H) {
    double se = 0;
    for (int h = 0; h < H; h++) se += ((double)forecast[h] - truth[h]) * ((double)forecast[h] - truth[h]);
    return se / H;
}

void window_scores_collect(void *ctx, const rp_model *m, const rp_model_buffers *b, int first, int B, const float *y) {
    rp_test_windows *s = ctx;
    int H = s->horizon, L = s->lookback;
    for (int i = 0; i < B; i++)
        s->mse[first + i] = window_mse(b->forecast + (size_t)i * H, y + (size_t)i * H, H);
    for (int l = 0; l < m->n_levels && l < s->n_levels; l++) {
        int K = s->K[l];
        for (int i = 0; i < B; i++) {
            const int *st = b->lv[l].raw_starts + (size_t)i * K;
            for (int k = 0; k < K; k++) {
                int len = (k + 1 < K ? st[k + 1] : L) - st[k];
                if (len >= 1 && len <= L) s->length_count[l][len]++;
            }
        }
    }
}

/* Under MPI each rank scored whole batches of its own: every value is held by one rank and zero on
 * the others, so the sums in rank order are exact. */
static int gather_ranks(rp_test_windows *s, rp_error *err) {
    dist_sum_doubles(s->mse, (size_t)s->n_windows);
    double *c = rp_malloc(((size_t)s->lookback + 1) * sizeof(double), err);
    if (!c) return -1;
    for (int l = 0; l < s->n_levels; l++) {
        for (int n = 0; n <= s->lookback; n++) c[n] = (double)s->length_count[l][n];
        dist_sum_doubles(c, (size_t)s->lookback + 1);
        for (int n = 0; n <= s->lookback; n++) s->length_count[l][n] = (int64_t)c[n];
    }
    free(c);
    return 0;
}

int trainer_score_windows(rp_trainer *t, rp_split_id split, rp_eval_result *res, rp_test_windows *s, rp_error *err) {
    memset(s, 0, sizeof *s);
    const rp_dataset *d = &t->data;
    int n = d->split[split].n_windows;
    if (n < 1) return trainer_evaluate(t, split, res, err);
    if (test_windows_alloc(s, n, t->model.n_levels, d->lookback, d->horizon, err)) return -1;
    for (int l = 0; l < s->n_levels; l++) s->K[l] = t->model.levels[l].K;
    if (trainer_evaluate_with(t, split, res, window_scores_collect, s, err) ||
        (dist_size() > 1 && gather_ranks(s, err))) {
        test_windows_free(s);
        return -1;
    }
    s->step = t->step;
    for (int w = 0; w < n; w++) {
        int channel, start;
        dataset_window_origin(d, split, w, &channel, &start);
        s->channel[w] = channel;
        s->start_row[w] = start;
    }
    return 0;
}

/* Sums over the windows whose sample (start row within the split) falls in a whole batch. */
typedef struct drop_last_sums {
    int per_channel, kept, H; /* windows per channel; samples 0..kept-1 are scored */
    double se, ae, windows;
} drop_last_sums;

static void drop_last_collect(void *ctx, const rp_model *m, const rp_model_buffers *b, int first, int B,
                              const float *y) {
    drop_last_sums *s = ctx;
    (void)m;
    for (int i = 0; i < B; i++) {
        if ((first + i) % s->per_channel >= s->kept) continue; /* window w is sample w % per_channel */
        const float *f = b->forecast + (size_t)i * s->H, *yt = y + (size_t)i * s->H;
        for (int h = 0; h < s->H; h++) {
            double e = (double)f[h] - yt[h];
            s->se += e * e;
            s->ae += fabs(e);
        }
        s->windows++;
    }
}

int trainer_evaluate_drop_last(rp_trainer *t, rp_split_id split, int batch, rp_eval_result *res, rp_error *err) {
    const rp_dataset *d = &t->data;
    if (d->channel_rows) return rp_fail(err, "scoring in whole batches of samples needs one multichannel series, not a pool");
    if (batch < 1) return rp_fail(err, "the batch of samples must be at least 1, got %d", batch);
    int per_channel = d->split[split].per_channel;
    if (per_channel < batch)
        return rp_fail(err, "the split has %d samples, fewer than one batch of %d", per_channel, batch);
    drop_last_sums s = {per_channel, per_channel / batch * batch, d->horizon, 0, 0, 0};
    if (trainer_evaluate_with(t, split, res, drop_last_collect, &s, err)) return -1;
    if (dist_size() > 1) {
        /* Each rank scored whole evaluation batches of its own: partial sums, added in rank order. */
        double v[3] = {s.se, s.ae, s.windows};
        dist_sum_doubles(v, 3);
        s.se = v[0];
        s.ae = v[1];
        s.windows = v[2];
    }
    res->windows = (long long)s.windows;
    res->mse = s.se / (s.windows * s.H);
    res->mae = s.ae / (s.windows * s.H);
    return 0;
}
