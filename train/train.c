#include "train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include <unistd.h>

#include "core/adam.h"
#include "core/blas.h"
#include "core/loss.h"
#include "core/dist.h"
#include "core/norm.h"
#include "core/util.h"
#include "io/checkpoint.h"
#include "levels/grpg.h"
#include "train/batching.h"
#include "train/grpg_probe.h"
#include "train/history.h"
#include "train/patcher_load.h"

/* PyTorch's Adam defaults, which PatchTST uses. */
#define ADAM_BETA1 0.9f
#define ADAM_BETA2 0.999f
#define ADAM_EPS 1e-8f
/* Levels with more patches than this skip the "moved from uniform" statistic. */
#define RP_MAX_TOKENS_LOGGED 4096

int trainer_load_data(rp_trainer *t, rp_recipe *r, rp_error *err) {
    if (strcmp(r->data.path, "generated") == 0) {
        if (series_generate(&t->series, r->data.generated_rows, r->data.generated_channels,
                            (unsigned long long)r->data.generated_seed, err))
            return -1;
    } else {
        if (recipe_resolve_data(r, err)) return -1;
        const char *p = r->data.resolved_path;
        size_t n = strlen(p);
        if (n > 4 && strcmp(p + n - 4, ".tsf") == 0)
            return rp_fail(err, "%s: .tsf collections are for `reinpatch pretrain-patcher`; train reads a CSV", p);
        if (csv_read(p, &t->series, err)) return -1;
    }
    if (r->data.n_columns > 0) {
        const char *names[RP_MAX_COLUMNS];
        for (int i = 0; i < r->data.n_columns; i++) names[i] = r->data.columns[i];
        if (series_select_columns(&t->series, names, r->data.n_columns, err)) return -1;
    }
    return 0;
}

/* The per-step statistics of one shard of a training step, kept as sums so that the shards of a
 * step combine in a fixed order (log_step). */
typedef struct rp_step_stats {
    double loss_sum;                /* Σ of the rollouts' MSE */
    double policy_seconds;
    int windows, rows;              /* B and R = B·G of the shard */
    double reward_sum, spread_sum;  /* Σ reward, Σ |advantage| over the rows (policy active) */
    double entropy[RP_MAX_LEVELS];  /* policy entropy, mean over the level's policy rows */
    double len_sum[RP_MAX_LEVELS], len_sq[RP_MAX_LEVELS], moved[RP_MAX_LEVELS]; /* patch lengths, moved cuts */
} rp_step_stats;

/* Threads a training step is sharded over (issue 15; docs/method.md §8): train.threads, unless a
 * layer cannot combine its sums over threads. Batch norm's team sums keep per-feature arrays on
 * the stack (core/norm.h, RP_NORM_TEAM_MAX_DIM): a wider batch-norm backbone keeps today's layout,
 * OpenMP threads inside each layer. */
static int step_threads_for(const rp_recipe *r, const rp_model *m) {
    int T = rp_threads() < RP_DIST_MAX_THREADS ? rp_threads() : RP_DIST_MAX_THREADS;
    if (r->backbone.norm == NORM_BATCH && m->d_model > RP_NORM_TEAM_MAX_DIM) return 1;
    return T > 1 ? T : 1;
}

/* Threads 1 .. T−1 of a sharded step: each a gradient, buffers for its share of a batch, and its
 * GRPG scratch. */
static int step_threads_alloc(rp_trainer *t, int step_windows, rp_error *err) {
    const rp_recipe *r = t->recipe;
    int T = t->step_threads;
    t->step_stats = rp_calloc((size_t)T, sizeof *t->step_stats, err);
    if (!t->step_stats) return -1;
    if (T == 1) return 0;
    t->threads = rp_calloc((size_t)(T - 1), sizeof *t->threads, err);
    if (!t->threads) return -1;
    int share = (step_windows + T - 1) / T;
    for (int u = 0; u < T - 1; u++) {
        rp_step_thread *th = &t->threads[u];
        th->grad = rp_calloc(t->model.P.total, sizeof(float), err);
        if (!th->grad || model_buffers_alloc(&th->buf, &t->model, share, t->group, err)) return -1;
        th->rewards = rp_malloc((size_t)share * t->group * sizeof(float), err);
        th->advantages = rp_malloc((size_t)share * t->group * sizeof(float), err);
        th->greedy_rewards = rp_malloc((size_t)share * sizeof(float), err);
        if (!th->rewards || !th->advantages || !th->greedy_rewards) return -1;
        if (r->train.backbone_loss == BACKBONE_LOSS_MIXED) {
            size_t cuts = 0;
            for (int l = 0; l < t->model.n_levels; l++) cuts += (size_t)2 * share * t->model.levels[l].K;
            th->mix_store = rp_malloc(cuts * sizeof(int), err);
            if (!th->mix_store) return -1;
        }
    }
    return 0;
}

/* Everything after the data: threads, model, buffers, RNG and run directory. */
static int trainer_setup_model(rp_trainer *t, rp_recipe *r, rp_error *err) {
    /* A dataset handed over by trainer_setup_dataset is already built. */
    if (!t->data.values &&
        dataset_build(&t->data, &t->series, (rp_protocol)r->data.protocol, r->data.lookback, r->data.horizon, err))
        return -1;
    if (model_build(&t->model, r, err)) return -1;
    if (model_init(&t->model, (unsigned long long)r->train.seed, err)) return -1;
    if (trainer_apply_levels_from(t, err)) return -1;
    /* Rollouts per window: the largest group size among the trainable learned levels (1 without
     * any: frozen policies decode greedily, so their rollouts would all be the same). */
    t->group = 1;
    for (int l = 0; l < t->model.n_levels; l++)
        if (t->model.levels[l].has_policy && r->levels[l].trainable && r->levels[l].group_size > t->group)
            t->group = r->levels[l].group_size;
    if (batching_check(r, &t->data, err)) return -1;
    int step_windows = batching_step_windows(r, &t->data);
    int windows = step_windows > r->train.eval_batch_size ? step_windows : r->train.eval_batch_size;
    if (model_buffers_alloc(&t->buf, &t->model, windows, t->group, err)) return -1;
    t->best_values = rp_malloc(t->model.P.total * sizeof(float), err);
    t->rewards = rp_malloc((size_t)windows * t->group * sizeof(float), err);
    t->advantages = rp_malloc((size_t)windows * t->group * sizeof(float), err);
    t->greedy_rewards = rp_malloc((size_t)windows * sizeof(float), err);
    if (!t->best_values || !t->rewards || !t->advantages || !t->greedy_rewards) return -1;
    if (r->train.backbone_loss == BACKBONE_LOSS_MIXED) {
        size_t cuts = 0;
        for (int l = 0; l < t->model.n_levels; l++) cuts += (size_t)2 * windows * t->model.levels[l].K;
        t->mix_rows = rp_malloc((size_t)windows, err);
        t->mix_store = rp_malloc(cuts * sizeof(int), err);
        if (!t->mix_rows || !t->mix_store) return -1;
    }
    t->step_threads = step_threads_for(r, &t->model);
    if (step_threads_alloc(t, step_windows, err)) return -1;
    memcpy(t->best_values, t->model.P.value, t->model.P.total * sizeof(float));
    t->best_val = INFINITY;
    rng_seed(&t->rng, (unsigned long long)r->train.seed, 0x5eed);
    if (r->output.dir[0]) snprintf(t->run_dir, sizeof t->run_dir, "%s", r->output.dir);
    else snprintf(t->run_dir, sizeof t->run_dir, "runs/%s", r->name);
    return 0;
}

/* The part every trainer_setup* shares: a clean trainer bound to its recipe and thread count. */
static void trainer_begin(rp_trainer *t, rp_recipe *r) {
    memset(t, 0, sizeof *t);
    t->recipe = r;
    rp_set_threads(r->train.threads > 0 ? r->train.threads : rp_cpu_count());
}

int trainer_setup(rp_trainer *t, rp_recipe *r, rp_error *err) {
    trainer_begin(t, r);
    if (trainer_load_data(t, r, err)) return -1;
    return trainer_setup_model(t, r, err);
}

int trainer_setup_series(rp_trainer *t, rp_recipe *r, rp_series *series, rp_error *err) {
    trainer_begin(t, r);
    t->series = *series;
    memset(series, 0, sizeof *series);
    return trainer_setup_model(t, r, err);
}

int trainer_setup_dataset(rp_trainer *t, rp_recipe *r, rp_dataset *data, rp_error *err) {
    trainer_begin(t, r);
    t->data = *data;
    memset(data, 0, sizeof *data);
    if (!t->data.values)
        return rp_fail(err, "trainer_setup_dataset: the dataset is empty (not built)");
    if (t->data.lookback != r->data.lookback || t->data.horizon != r->data.horizon)
        return rp_fail(err, "the dataset was built for lookback %d, horizon %d; the recipe has data.lookback %d, "
                       "data.horizon %d", t->data.lookback, t->data.horizon, r->data.lookback, r->data.horizon);
    return trainer_setup_model(t, r, err);
}

void trainer_free(rp_trainer *t) {
    if (t->lock_fd > 0) close(t->lock_fd);
    model_buffers_free(&t->buf);
    model_free(&t->model);
    dataset_free(&t->data);
    series_free(&t->series);
    free(t->best_values);
    free(t->rewards);
    free(t->advantages);
    free(t->greedy_rewards);
    free(t->mix_rows);
    free(t->mix_store);
    for (int u = 0; t->threads && u < t->step_threads - 1; u++) {
        rp_step_thread *th = &t->threads[u];
        model_buffers_free(&th->buf);
        model_buffers_free(&th->eval_buf);
        free(th->grad);
        free(th->rewards);
        free(th->advantages);
        free(th->greedy_rewards);
        free(th->mix_store);
    }
    free(t->threads);
    free(t->step_stats);
    memset(t, 0, sizeof *t);
}

int trainer_save_checkpoint(rp_trainer *t, rp_error *err) {
    if (dist_rank() != 0) return 0; /* every rank holds the same state; rank 0 writes it */
    char path[RP_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/checkpoint.h5", t->run_dir);
    /* Mid-epoch, the generator is saved as it was when the epoch began: resuming draws the
     * epoch's shuffle again and skips the steps already taken. */
    rp_run_state s = {
        .step = t->step, .epoch = t->epoch, .step_in_epoch = t->step_in_epoch, .best_val = t->best_val,
        .best_epoch = t->best_epoch, .epochs_since_best = t->epochs_since_best,
        .rng = t->step_in_epoch > 0 ? t->epoch_rng : t->rng, .n_channels = t->data.channels,
        .mean = t->data.mean, .std = t->data.std, .recipe_text = t->recipe->text,
        .sums = t->epoch_sums,
    };
    return checkpoint_save(path, &t->model.P, &s, t->best_values, err);
}

int trainer_load_checkpoint(rp_trainer *t, const char *path, rp_error *err) {
    rp_run_state s;
    memset(&s, 0, sizeof s);
    int has_best = 0;
    if (checkpoint_load(path, &t->model.P, &s, t->best_values, &has_best, err)) {
        checkpoint_state_free(&s);
        return -1;
    }
    if (s.n_channels != t->data.channels) {
        checkpoint_state_free(&s);
        return rp_fail(err, "%s: checkpoint has %d channels, the data has %d", path, s.n_channels, t->data.channels);
    }
    if (!has_best) memcpy(t->best_values, t->model.P.value, t->model.P.total * sizeof(float));
    t->step = s.step;
    t->epoch = s.epoch;
    t->best_val = s.best_val;
    t->best_epoch = s.best_epoch;
    t->epochs_since_best = s.epochs_since_best;
    t->step_in_epoch = s.step_in_epoch;
    t->rng = s.rng;
    t->epoch_sums = s.sums;
    checkpoint_state_free(&s);
    return 0;
}

/* Copies the windows idx[0..B) of a split into x (B, L) and y (B, H). */
static void gather_windows(const rp_dataset *d, rp_split_id split, const int *idx, int B, float *x, float *y) {
    int L = d->lookback, H = d->horizon;
#pragma omp parallel for schedule(static) if (B > 64)
    for (int i = 0; i < B; i++) dataset_window(d, split, idx[i], x + (size_t)i * L, y ? y + (size_t)i * H : NULL);
}

/* Random patching is scored on a fixed stream per window so evaluations repeat exactly. */
static unsigned long long eval_stream(rp_split_id split, int start) {
    return rp_mix_seed(0xe7a1, (unsigned long long)split * 1000003ull + (unsigned long long)start);
}

/* Adds to off[l], per level, the number of interior cuts of the B rows not at a uniform-spacing
 * position of the level. */
static void count_off_uniform(const rp_model *m, const rp_model_buffers *b, int B, double *off) {
    for (int l = 0; l < m->n_levels; l++) {
        const rp_level *lv = &m->levels[l];
        int K = lv->K, uniform[RP_MAX_TOKENS_LOGGED];
        if (K > RP_MAX_TOKENS_LOGGED) continue;
        seg_uniform(lv->n_units, lv->cfg.rate, uniform);
        for (int row = 0; row < B; row++) off[l] += seg_cuts_off_uniform(b->lv[l].starts + (size_t)row * K, uniform, K);
    }
}

int trainer_evaluate(rp_trainer *t, rp_split_id split, rp_eval_result *res, rp_error *err) {
    return trainer_evaluate_with(t, split, res, NULL, NULL, err);
}

/* Scores the windows [start, start + B) of a split with model m and buffers b (x, y, idx: room for
 * B windows), adding their squared and absolute errors and off-uniform cuts to se, ae and off,
 * and hands the batch to fn. */
static void evaluate_batch(rp_trainer *t, rp_model *m, rp_model_buffers *b, rp_split_id split, int start, int B,
                           float *x, float *y, int *idx, rp_eval_batch_fn fn, void *ctx, double *se, double *ae,
                           double *off) {
    int H = t->data.horizon;
    for (int i = 0; i < B; i++) idx[i] = start + i;
    gather_windows(&t->data, split, idx, B, x, y);
    model_prepare(m, b, x, B, 1);
    model_segment(m, b, B, 1, CUT_EVAL, (unsigned long long)t->recipe->train.seed, eval_stream(split, start));
    model_override_cuts(m, b, B, t->eval_cuts, ~0u, NULL, (unsigned long long)t->recipe->train.seed,
                        eval_stream(split, start));
    model_forward(m, b, y, B, 1, PASS_SCORE, 0);
    count_off_uniform(m, b, B, off);
    if (fn) fn(ctx, m, b, start, B, y);
    for (int i = 0; i < B; i++) {
        const float *f = b->forecast + (size_t)i * H, *yt = y + (size_t)i * H;
        for (int h = 0; h < H; h++) {
            double e = (double)f[h] - yt[h];
            *se += e * e;
            *ae += fabs(e);
        }
    }
}

/* Threads 1 .. T−1 score evaluation batches on buffers of their own, for eval_batch_size windows
 * (their step buffers hold only a share of a training batch); made once, at the first evaluation
 * that spreads its batches. */
static int eval_buffers_alloc(rp_trainer *t, rp_error *err) {
    for (int u = 0; u < t->step_threads - 1; u++) {
        rp_model_buffers *b = &t->threads[u].eval_buf;
        if (!b->forecast && model_buffers_alloc(b, &t->model, t->recipe->train.eval_batch_size, 1, err)) return -1;
    }
    return 0;
}

/* Thread u's model: the trainer's own for u = 0, else thread u's copy, whose gradient is its own
 * (the parameter values are shared, read only). */
static rp_model *thread_model(rp_trainer *t, int u) {
    if (u == 0) return &t->model;
    rp_step_thread *th = &t->threads[u - 1];
    th->model = t->model;
    th->model.P.grad = th->grad;
    return &th->model;
}

/* Thread u's share of the range: this rank's batches (every `ranks`-th from the range's first, whole
 * batches round-robin over ranks, so a batch's random-patching stream, keyed by its start, is the
 * one a single process draws), of which batch j goes to thread j mod `threads`. */
static void evaluate_share(rp_trainer *t, rp_model *m, rp_model_buffers *b, rp_split_id split, int from, int to,
                           int ranks, int rank, int u, int threads, float *x, float *y, int *idx, rp_eval_batch_fn fn,
                           void *ctx, double *se, double *ae, double *off) {
    const int bs = t->recipe->train.eval_batch_size;
    int mine = 0;
    for (int start = from; start < to; start += bs) {
        if ((start / bs) % ranks != rank) continue;
        if (mine++ % threads != u) continue;
        evaluate_batch(t, m, b, split, start, to - start < bs ? to - start : bs, x, y, idx, fn, ctx, se, ae, off);
    }
}

/* Batches of eval_batch_size windows from window `from` (a batch boundary) to `to`; every rank
 * takes whole batches round-robin when round_robin is set (else this process scores them all).
 * Without fn and with t->step_threads = T > 1, a rank's batches are dealt round-robin again over
 * T threads, each scoring its whole batches on one thread (as a sharded training step's threads
 * do) with a model copy (the parameter values are read only) and its own buffers; the threads'
 * sums are added in thread order. A batch's forecasts do not depend on the thread: batch norm
 * uses its running statistics in evaluation (no row sees another), the random-patching draws are
 * keyed by the batch's start, and no shard context is open (dist_row0() is 0). The fn of
 * window_scores and the report collectors keep one batch at a time, in order. */
static int evaluate_range(rp_trainer *t, rp_split_id split, int from, int to, int round_robin, rp_eval_batch_fn fn,
                          void *ctx, double *se, double *ae, double *off, rp_error *err) {
    int L = t->data.lookback, H = t->data.horizon, bs = t->recipe->train.eval_batch_size;
    const int ranks = round_robin ? dist_size() : 1, rank = round_robin ? dist_rank() : 0;
    /* this rank's batches k (start = from + k·bs): the ranks take them round-robin */
    int batches = 0;
    for (int start = from; start < to; start += bs)
        if ((start / bs) % ranks == rank) batches++;
    int T = fn || t->step_threads <= 1 ? 1 : t->step_threads < batches ? t->step_threads : batches;
    if (T > 1 && eval_buffers_alloc(t, err)) return -1;
    float *x = rp_malloc((size_t)T * bs * L * sizeof(float), err);
    float *y = rp_malloc((size_t)T * bs * H * sizeof(float), err);
    int *idx = rp_malloc((size_t)T * bs * sizeof(int), err);
    if (!x || !y || !idx) {
        free(x); free(y); free(idx);
        return -1;
    }
    if (T <= 1) {
        evaluate_share(t, &t->model, &t->buf, split, from, to, ranks, rank, 0, 1, x, y, idx, fn, ctx, se, ae, off);
    } else {
        /* per thread: se, ae, then off per level */
        double sums[RP_DIST_MAX_THREADS][2 + RP_MAX_LEVELS];
        memset(sums, 0, sizeof sums);
        int threads = T;
#pragma omp parallel num_threads(T)
        {
#pragma omp single
            threads = omp_get_num_threads();
            const int u = omp_get_thread_num();
            /* one thread inside: layers' own loops and BLIS see a parallel region and stay serial */
            omp_set_num_threads(1);
            /* a thread's model copy takes no gradient here: evaluation writes none */
            rp_model_buffers *b = u == 0 ? &t->buf : &t->threads[u - 1].eval_buf;
            double *s = sums[u];
            evaluate_share(t, thread_model(t, u), b, split, from, to, ranks, rank, u, threads, x + (size_t)u * bs * L,
                           y + (size_t)u * bs * H, idx + (size_t)u * bs, NULL, NULL, &s[0], &s[1], s + 2);
        }
        for (int u = 0; u < threads; u++) {
            *se += sums[u][0];
            *ae += sums[u][1];
            for (int l = 0; l < t->model.n_levels; l++) off[l] += sums[u][2 + l];
        }
    }
    free(x); free(y); free(idx);
    return 0;
}

int trainer_evaluate_with(rp_trainer *t, rp_split_id split, rp_eval_result *res, rp_eval_batch_fn fn, void *ctx,
                          rp_error *err) {
    int n = t->data.split[split].n_windows, H = t->data.horizon;
    double se = 0, ae = 0, off[RP_MAX_LEVELS] = {0};
    if (evaluate_range(t, split, 0, n, 1, fn, ctx, &se, &ae, off, err)) return -1;
    if (dist_size() > 1) {
        double sums[2 + RP_MAX_LEVELS] = {se, ae};
        memcpy(sums + 2, off, sizeof off);
        dist_sum_doubles(sums, 2 + RP_MAX_LEVELS);
        se = sums[0];
        ae = sums[1];
        memcpy(off, sums + 2, sizeof off);
    }
    res->windows = n;
    res->n_levels = t->model.n_levels;
    for (int l = 0; l < t->model.n_levels; l++) {
        long long cuts = (long long)n * (t->model.levels[l].K - 1);
        res->off_uniform[l] = cuts > 0 ? off[l] / (double)cuts : 0.0;
    }
    res->mse = n ? se / ((double)n * H) : NAN;
    res->mae = n ? ae / ((double)n * H) : NAN;
    return 0;
}

int trainer_evaluate_window_batch(rp_trainer *t, rp_split_id split, int window, rp_eval_batch_fn fn, void *ctx,
                                  rp_error *err) {
    int n = t->data.split[split].n_windows, bs = t->recipe->train.eval_batch_size;
    if (window < 0 || window >= n) return rp_fail(err, "window %d of a split of %d windows", window, n);
    int from = window / bs * bs, to = from + bs < n ? from + bs : n;
    double se = 0, ae = 0, off[RP_MAX_LEVELS] = {0};
    return evaluate_range(t, split, from, to, 0, fn, ctx, &se, &ae, off, err);
}

/* Patch-length sums of every level (raw steps) and the cuts moved from uniform spacing, over the
 * R rows of a shard (log_step turns them into the epoch log's means). */
static void segmentation_sums(const rp_model *m, const rp_model_buffers *b, int R, rp_step_stats *st) {
    for (int l = 0; l < m->n_levels; l++) {
        const rp_level *lv = &m->levels[l];
        int K = lv->K, n = lv->n_units, L = m->lookback;
        int uniform[RP_MAX_TOKENS_LOGGED];
        int check_moved = K <= RP_MAX_TOKENS_LOGGED;
        if (check_moved) seg_uniform(n, lv->cfg.rate, uniform);
        double s = 0, s2 = 0, moved = 0;
        for (int row = 0; row < R; row++) {
            const int *raw = b->lv[l].raw_starts + (size_t)row * K;
            const int *st_row = b->lv[l].starts + (size_t)row * K;
            for (int k = 0; k < K; k++) {
                double len = (k + 1 < K ? raw[k + 1] : L) - raw[k];
                s += len;
                s2 += len * len;
            }
            if (check_moved) moved += seg_cuts_off_uniform(st_row, uniform, K);
        }
        st->len_sum[l] += s;
        st->len_sq[l] += s2;
        st->moved[l] += moved;
    }
}

/* Adds a step's statistics to the epoch log (summed per step, divided by the step count at the
 * end of the epoch): the n shards' sums combined in shard order. With one shard this is the
 * arithmetic of the unsharded step, bit for bit. */
static void log_step(const rp_model *m, const rp_step_stats *st, int n, int policy_active, rp_epoch_log *log) {
    rp_step_stats all = st[0];
    for (int u = 1; u < n; u++) {
        all.windows += st[u].windows;
        all.rows += st[u].rows;
        all.reward_sum += st[u].reward_sum;
        all.spread_sum += st[u].spread_sum;
        for (int l = 0; l < m->n_levels; l++) {
            all.len_sum[l] += st[u].len_sum[l];
            all.len_sq[l] += st[u].len_sq[l];
            all.moved[l] += st[u].moved[l];
        }
    }
    /* the threads ran side by side: the step's policy time is thread 0's */
    log->policy_seconds += all.policy_seconds;
    if (policy_active) {
        log->mean_reward += all.reward_sum / all.rows;
        log->advantage_spread += all.spread_sum / all.rows;
        for (int l = 0; l < m->n_levels; l++) {
            if (!m->levels[l].has_policy) continue;
            /* entropy is a mean over the level's policy rows (windows at level 0, rollouts above) */
            if (n == 1) {
                log->policy_entropy[l] += st[0].entropy[l];
                continue;
            }
            double e = 0;
            for (int u = 0; u < n; u++) e += st[u].entropy[l] * (l == 0 ? st[u].windows : st[u].rows);
            log->policy_entropy[l] += e / (l == 0 ? all.windows : all.rows);
        }
    }
    for (int l = 0; l < m->n_levels; l++) {
        int K = m->levels[l].K;
        double cnt = (double)all.rows * K, s = all.len_sum[l], s2 = all.len_sq[l];
        log->patch_len_mean[l] += s / cnt;
        log->patch_len_std[l] += sqrt(fmax(0, s2 / cnt - (s / cnt) * (s / cnt)));
        log->frac_moved[l] += K > 1 ? all.moved[l] / ((double)all.rows * (K - 1)) : 0;
    }
}

void trainer_update(rp_trainer *t, double lr, int parts) {
    rp_model *m = &t->model;
    const rp_recipe *r = t->recipe;
    t->step++;
    int decoupled = r->train.optimizer == OPTIMIZER_ADAMW;
    float wd = (float)r->train.weight_decay;
    if (parts & TRAIN_BACKBONE) {
        adam_update(&m->P, "backbone/", (float)lr, ADAM_BETA1, ADAM_BETA2, ADAM_EPS, wd, decoupled, t->step);
        adam_update(&m->P, "head/", (float)lr, ADAM_BETA1, ADAM_BETA2, ADAM_EPS, wd, decoupled, t->step);
    }
    for (int l = 0; l < m->n_levels; l++) {
        char name[64];
        if (parts & TRAIN_BACKBONE) {
            snprintf(name, sizeof name, "levels/%d/tokens", l);
            adam_update(&m->P, name, (float)lr, ADAM_BETA1, ADAM_BETA2, ADAM_EPS, wd, decoupled, t->step);
        }
        if ((parts & TRAIN_POLICIES) && m->levels[l].has_policy && m->levels[l].cfg.trainable) {
            snprintf(name, sizeof name, "levels/%d/policy", l);
            adam_update(&m->P, name, (float)r->train.policy_lr, ADAM_BETA1, ADAM_BETA2, ADAM_EPS, 0.0f, 0, t->step);
        }
    }
}

/* train.backbone_loss: mixed — which of the B rows train the backbone on moved cuts: each with
 * probability mix_share, from a stream of (seed, step) alone. */
static void mixed_rows(const rp_trainer *t, int B, unsigned char *rows) {
    rp_rng rng;
    rng_seed(&rng, (unsigned long long)t->recipe->train.seed, rp_mix_seed(0x313ed, (unsigned long long)t->step));
    for (int i = 0; i < B; i++) rows[i] = rng_uniform(&rng) < t->recipe->train.mix_share;
}

/* The levels whose cuts mixed training jitters: those cut uniformly in this phase (fixed levels;
 * trainable learned levels while the policies are not yet active). */
static unsigned jittered_levels(const rp_model *m, int policy_active) {
    unsigned mask = 0;
    for (int l = 0; l < m->n_levels; l++) {
        const rp_level *lv = &m->levels[l];
        if (lv->cfg.patching == PATCHING_FIXED || (lv->has_policy && lv->cfg.trainable && !policy_active))
            mask |= 1u << l;
    }
    return mask;
}

/* Keeps (save) or puts back (!save) every level's cuts of row src·G into row src of the batch
 * for the rows marked in rows: the first rollout's sampled segmentation, which the greedy pass of
 * mixed training overwrites. store holds Σ_l B·K_l starts and as many raw starts. */
static void keep_sampled_cuts(const rp_model *m, rp_model_buffers *b, int B, int G, const unsigned char *rows,
                              int *store, int save) {
    for (int l = 0; l < m->n_levels; l++) {
        int K = m->levels[l].K;
        for (int w = 0; w < B; w++) {
            if (!rows[w]) continue;
            int *starts = b->lv[l].starts, *raw = b->lv[l].raw_starts;
            size_t n = (size_t)K * sizeof(int);
            if (save) {
                memcpy(store + (size_t)w * K, starts + (size_t)w * G * K, n);
                memcpy(store + ((size_t)B + w) * K, raw + (size_t)w * G * K, n);
            } else {
                memcpy(starts + (size_t)w * K, store + (size_t)w * K, n);
                memcpy(raw + (size_t)w * K, store + ((size_t)B + w) * K, n);
            }
        }
        store += (size_t)2 * B * K;
    }
}

/* What one shard of a step works on: the trainer's model, buffers and GRPG scratch, or those of
 * a thread of a per-thread sharded step (rp_step_thread). */
typedef struct step_shard {
    rp_model *m;
    rp_model_buffers *b;
    float *rewards, *advantages, *greedy_rewards;
    int *mix_store;
} step_shard;

/* Thread u's shard: its model (thread_model) with the trainer's own buffers and GRPG scratch for
 * thread 0, thread u's for u > 0. */
static step_shard thread_shard(rp_trainer *t, int u) {
    rp_model *m = thread_model(t, u);
    if (u == 0) return (step_shard){m, &t->buf, t->rewards, t->advantages, t->greedy_rewards, t->mix_store};
    rp_step_thread *th = &t->threads[u - 1];
    return (step_shard){m, &th->buf, th->rewards, th->advantages, th->greedy_rewards, th->mix_store};
}

/* One shard of a step: the windows idx[0..B) of the Bg-window batch, whose first is the batch's
 * window `lo` (x, y: room for B windows). With `sharded` (several ranks, or a thread of a sharded
 * step) the shard context is set (core/dist.h): batch norm sums over the whole batch, random
 * streams are keyed by global row, and the loss scales use the global sizes, so that the shards'
 * gradients summed are one process's. Leaves this shard's gradient in sh->m->P.grad (zeroed here)
 * and its statistics in *st. */
static void shard_step(rp_trainer *t, const step_shard *sh, const int *idx, long long lo, int B, int Bg,
                       int policy_active, int sharded, float *x, float *y, rp_step_stats *st) {
    rp_model *m = sh->m;
    rp_model_buffers *b = sh->b;
    const rp_recipe *r = t->recipe;
    int H = m->horizon;
    int G = policy_active ? t->group : 1;
    int R = B * G, Rg = Bg * G;
    unsigned long long seed = (unsigned long long)r->train.seed;
    memset(st, 0, sizeof *st);
    st->windows = B;
    st->rows = R;
    gather_windows(&t->data, SPLIT_TRAIN, idx, B, x, y);
    /* Self-critical baseline: scored before the rollouts, whose activations the backward needs;
     * one row per window. */
    if (policy_active && r->train.advantage == ADVANTAGE_GREEDY_BASELINE) {
        if (sharded) dist_shard_set(lo, Bg);
        grpg_greedy_rewards(m, b, x, y, B, seed, sh->greedy_rewards);
    }
    if (sharded) dist_shard_set(lo * G, (long long)Rg);
    model_prepare(m, b, x, B, G);
    double p0 = rp_now_seconds();
    model_segment(m, b, B, G, policy_active ? CUT_TRAIN : CUT_WARMUP, seed, rp_mix_seed(0x7a1, (unsigned long long)t->step));
    int mixed = r->train.backbone_loss == BACKBONE_LOSS_MIXED;
    /* the batch's draws (mixed_rows, train_step), this shard's windows */
    const unsigned char *mix = mixed ? t->mix_rows + lo : NULL;
    rp_cuts jitter = {CUTS_JITTER, r->train.mix_jitter};
    /* Without active policies there is one row per window: its uniform cuts move in place. */
    if (mixed && !policy_active)
        model_override_cuts(m, b, B, jitter, jittered_levels(m, 0), mix, seed, rp_mix_seed(0x313ed, (unsigned long long)t->step));
    st->policy_seconds += rp_now_seconds() - p0;
    params_zero_grad(&m->P);
    /* Backbone loss: the mean of the rollouts' MSE (`all`), only the best rollout's (`best`), or
     * that of a separate greedy pass (`greedy`, below). With `greedy` the rollouts only score
     * segmentations, so they run in inference mode: no dropout mask differs between the G
     * rollouts of a window, the advantages compare segmentations alone, and batch-norm statistics
     * are updated once, by the greedy pass. No backward reads them: a scoring pass, which keeps
     * less (core/kinds.h). */
    int best_only = policy_active && r->train.backbone_loss == BACKBONE_LOSS_BEST;
    int greedy_only = policy_active && (r->train.backbone_loss == BACKBONE_LOSS_GREEDY || mixed);
    model_forward(m, b, y, B, G, greedy_only ? PASS_SCORE : PASS_TRAIN, rp_mix_seed(seed, (unsigned long long)t->step));
    double loss_sum = 0;
    memset(b->dforecast, 0, (size_t)R * H * sizeof(float));
    for (int w = 0; w < B; w++) {
        int best = w * G;
        for (int g = 0; g < G; g++)
            if (b->row_loss[w * G + g] < b->row_loss[best]) best = w * G + g;
        for (int g = 0; g < G; g++) {
            int row = w * G + g;
            loss_sum += b->row_loss[row];
            /* `all`: the mean over every rollout's steps; `best`: over the best rollouts' alone. */
            if (best_only && row != best) continue;
            mse_backward(b->dforecast + (size_t)row * H, b->forecast + (size_t)row * H, y + (size_t)w * H, (size_t)H,
                         (size_t)(best_only ? Bg : Rg) * H);
        }
    }
    st->loss_sum = loss_sum;
    if (!greedy_only) model_backward(m, b, B, G);

    if (policy_active) {
        p0 = rp_now_seconds();
        /* GRPG: reward −MSE, advantages within each window's group as train.advantage says; every
         * learned level's policy gets the advantage of the joint rollout. */
        float *rewards = sh->rewards, *adv = sh->advantages;
        for (int i = 0; i < R; i++) rewards[i] = -b->row_loss[i];
        grpg_advantages_for(r->train.advantage, rewards, sh->greedy_rewards, G, B, 1e-6f, adv);
        double spread = 0, mean_reward = 0;
        for (int i = 0; i < R; i++) {
            mean_reward += rewards[i];
            spread += fabs(adv[i]);
        }
        st->reward_sum = mean_reward;
        st->spread_sum = spread;
        for (int l = 0; l < m->n_levels; l++) {
            const rp_level *lv = &m->levels[l];
            rp_level_buffers *lb = &b->lv[l];
            if (!lv->has_policy) continue;
            int rows = l == 0 ? B : R, gaps = lv->n_units - 1;
            st->entropy[l] = grpg_mean_entropy(lb->logits, rows, gaps);
            if (!lv->cfg.trainable) continue;
            memset(lb->dlogits, 0, (size_t)rows * gaps * sizeof(float));
            grpg_policy_dlogits(&lv->spec, lb->logits, l > 0, lb->orders, adv, G, B, (float)r->train.entropy_beta,
                                lb->dlogits, b->work);
            grpg_anchor_dlogits(lb->logits, m->P.value + lv->policy.prior, rows, gaps,
                                (float)r->train.policy_anchor, lb->dlogits);
            /* Both normalise by this shard's rows; the batch's are Bg / B times more. */
            if (Bg != B)
                for (size_t i = 0; i < (size_t)rows * gaps; i++) lb->dlogits[i] *= (float)B / (float)Bg;
            policy_net_backward(&lv->policy, &m->P, lb->dlogits, rows, lb->policy_act);
        }
        st->policy_seconds += rp_now_seconds() - p0;
    }
    segmentation_sums(m, b, R, st);

    if (greedy_only) {
        /* After the policies' backward, which reads the rollouts' activations: this pass
         * overwrites them. */
        if (sharded) dist_shard_set(lo, Bg);
        if (mixed) keep_sampled_cuts(m, b, B, G, mix, sh->mix_store, 1);
        model_prepare(m, b, x, B, 1);
        /* level 1 decodes from the rollouts' logits: same windows, parameters not yet stepped (method.md §7) */
        model_segment(m, b, B, 1, CUT_EVAL_SAME_LOGITS, seed, 0);
        if (mixed) {
            /* mixed: the marked windows train on their first rollout's sample, fixed levels on
             * jittered cuts, instead of the greedy segmentation. */
            keep_sampled_cuts(m, b, B, G, mix, sh->mix_store, 0);
            model_override_cuts(m, b, B, jitter, jittered_levels(m, 1), mix, seed,
                                rp_mix_seed(0x313ed, (unsigned long long)t->step));
        }
        model_forward(m, b, y, B, 1, PASS_TRAIN, rp_mix_seed(seed ^ 0x9eed, (unsigned long long)t->step));
        memset(b->dforecast, 0, (size_t)B * H * sizeof(float));
        mse_backward(b->dforecast, b->forecast, y, (size_t)B * H, (size_t)Bg * H);
        model_backward(m, b, B, 1);
    }
    if (sharded) dist_shard_clear();
}

/* One optimisation step on the windows idx[0..B). Returns the mean training MSE.
 *
 * Data parallel (core/dist.h): this rank computes windows [lo, hi) of the B-window batch. With
 * train.threads = T > 1 (t->step_threads) the rank's windows are split again over T threads, each
 * running the whole step on its share as a rank would (issue 15; docs/method.md §8): its own
 * activations and gradient, inner parallelism 1 (inside the region every layer and BLIS call runs
 * on one thread), batch-norm sums and the dist_sum_* calls combined over the threads, then the
 * gradients summed in thread order, then over ranks in rank order, and one Adam step. The same
 * recipe, seed, T and rank count give the same bits; another T agrees to rounding. With T = 1 this
 * is the unsharded step of one process, bit for bit as before. */
static double train_step(rp_trainer *t, const int *idx, int B, double lr, int policy_active, rp_epoch_log *log,
                         float *x, float *y) {
    rp_model *m = &t->model;
    const rp_recipe *r = t->recipe;
    int G = policy_active ? t->group : 1;
    const int Bg = B;
    long long lo = 0, hi = B;
    unsigned long long bytes0 = dist_bytes_exchanged();
    if (dist_size() > 1) dist_split(B, dist_rank(), dist_size(), &lo, &hi);
    const int Br = (int)(hi - lo);
    /* train.backbone_loss: mixed — drawn for the whole batch, so that a shard reads its windows'. */
    if (r->train.backbone_loss == BACKBONE_LOSS_MIXED) mixed_rows(t, Bg, t->mix_rows);
    rp_step_stats *stats = t->step_stats;
    int shards = t->step_threads < Br ? t->step_threads : Br;
    if (shards <= 1) {
        const step_shard own = thread_shard(t, 0);
        shard_step(t, &own, idx + lo, lo, Br, Bg, policy_active, dist_size() > 1, x, y, &stats[0]);
        shards = 1;
    } else {
        const int L = t->data.lookback, H = t->data.horizon, asked = shards;
#pragma omp parallel num_threads(asked)
        {
#pragma omp single
            {
                shards = omp_get_num_threads();
                dist_team_open(shards);
            }
            const int u = omp_get_thread_num();
            dist_team_join(u);
            /* one thread inside: layers' own loops and BLIS see a parallel region and stay serial */
            omp_set_num_threads(1);
            long long a, e;
            dist_split(Br, u, shards, &a, &e);
            const step_shard sh = thread_shard(t, u);
            shard_step(t, &sh, idx + lo + a, lo + a, (int)(e - a), Bg, policy_active, 1, x + a * L, y + a * H,
                       &stats[u]);
            dist_team_leave();
        }
        dist_team_close();
        /* the threads' gradients, in thread order, into thread 0's (the model's) */
        float *grad = m->P.grad;
        for (int u = 1; u < shards; u++) {
            const float *g = t->threads[u - 1].grad;
            for (size_t i = 0; i < m->P.total; i++) grad[i] += g[i];
        }
    }
    double loss_sum = stats[0].loss_sum;
    for (int u = 1; u < shards; u++) loss_sum += stats[u].loss_sum;
    log_step(m, stats, shards, policy_active, log);

    if (dist_size() > 1) {
        /* Every rank then takes the same Adam step from the same sums (fixed rank order). */
        dist_sum_floats(m->P.grad, m->P.total);
        dist_sum_doubles(&loss_sum, 1);
        t->dist_train_bytes += dist_bytes_exchanged() - bytes0;
    }
    trainer_update(t, lr, policy_active ? TRAIN_BACKBONE | TRAIN_POLICIES : TRAIN_BACKBONE);
    return loss_sum / (Bg * G);
}

static void print_progress(const rp_trainer *t, int mode, int epoch, int epochs, int step, int steps, double loss,
                           double wps, double eta) {
    fprintf(stderr, "%s[%s] epoch %d/%d  step %d/%d  loss %.4f  %.0f win/s  ETA %.0fs%s",
            mode == RP_PROGRESS_TERMINAL ? "\r" : "", t->recipe->name, epoch + 1, epochs, step, steps, loss, wps,
            eta, mode == RP_PROGRESS_TERMINAL ? "   " : "\n");
    fflush(stderr);
}

/* A diverging run stops at the first step whose loss or gradient is not finite, before it writes
 * a checkpoint: the last one on disk holds finite weights and resumes. Epoch and step count
 * from 1, as the progress line does. */
static int check_step_finite(const rp_trainer *t, int epoch, int step, double loss, double lr, rp_error *err) {
    const rp_tensor_info *bad = isfinite(loss) ? params_first_nonfinite(&t->model.P, t->model.P.grad) : NULL;
    if (isfinite(loss) && !bad) return 0;
    char lrs[32];
    rp_format_lr(lrs, sizeof lrs, lr);
    if (bad)
        return rp_fail(err, "epoch %d step %d: the gradient of '%s' is not finite (lr %s too high?)", epoch + 1, step,
                       bad->name, lrs);
    return rp_fail(err, "epoch %d step %d: loss is not finite (lr %s too high?)", epoch + 1, step, lrs);
}

/* The same for the validation loss at an epoch's end: weights can stay finite while their
 * forecasts overflow. */
static int check_val_finite(const rp_eval_result *val, int epoch, double lr, rp_error *err) {
    if (val->windows == 0 || isfinite(val->mse)) return 0;
    char lrs[32];
    rp_format_lr(lrs, sizeof lrs, lr);
    return rp_fail(err, "epoch %d: validation loss is not finite (lr %s too high?)", epoch + 1, lrs);
}

/* The epoch's running sums so far, for a mid-epoch checkpoint (io/checkpoint.h rp_epoch_sums). */
static void keep_epoch_sums(rp_trainer *t, const rp_epoch_log *log, double loss_sum, long long seen, double seconds) {
    rp_epoch_sums *p = &t->epoch_sums;
    memset(p, 0, sizeof *p);
    p->present = 1;
    p->loss = loss_sum;
    p->windows = (double)seen;
    p->seconds = seconds;
    p->policy_seconds = log->policy_seconds;
    p->mean_reward = log->mean_reward;
    p->advantage_spread = log->advantage_spread;
    p->sign_agreement = log->sign_agreement;
    p->sign_pairs = log->sign_pairs;
    p->n_levels = t->model.n_levels;
    for (int l = 0; l < p->n_levels; l++) {
        p->entropy[l] = log->policy_entropy[l];
        p->patch_len_mean[l] = log->patch_len_mean[l];
        p->patch_len_std[l] = log->patch_len_std[l];
        p->cuts_off_uniform[l] = log->frac_moved[l];
    }
}

int trainer_train_epoch(rp_trainer *t, int epoch, int max_steps, int progress, rp_epoch_log *log, rp_error *err) {
    const rp_recipe *r = t->recipe;
    int n = t->data.split[SPLIT_TRAIN].n_windows, B = batching_step_windows(r, &t->data);
    int steps = (n + B - 1) / B;
    if (max_steps > 0 && steps > max_steps) steps = max_steps;
    int L = t->data.lookback, H = t->data.horizon;
    int *order = rp_malloc((size_t)n * sizeof(int), err);
    float *x = rp_malloc((size_t)B * L * sizeof(float), err);
    float *y = rp_malloc((size_t)B * H * sizeof(float), err);
    if (!order || !x || !y) {
        free(order); free(x); free(y);
        return -1;
    }
    t->epoch_rng = t->rng;
    batching_epoch_order(r, &t->data, &t->rng, order);
    /* Resuming from a mid-epoch checkpoint: the shuffle above is the one the epoch began with;
     * skip the steps already taken. */
    int first_step = t->step_in_epoch < steps ? t->step_in_epoch : steps;
    int checkpoint_every = r->output.checkpoint ? r->train.checkpoint_every : 0;
    int any_policy = 0;
    for (int l = 0; l < t->model.n_levels; l++) any_policy |= t->model.levels[l].has_policy && r->levels[l].trainable;
    int policy_active = any_policy && epoch >= r->train.warmup_epochs;
    memset(log, 0, sizeof *log);
    log->epoch = epoch;
    log->sign_agreement = NAN;
    /* The sign agreement probe changes no parameter or RNG: training stays bit-identical. */
    if (policy_active && first_step == 0 && n > 0) {
        int nb = n < B ? n : B;
        gather_windows(&t->data, SPLIT_TRAIN, order, nb, x, y);
        if (grpg_sign_agreement_probe(t, x, y, nb, epoch, &log->sign_agreement, &log->sign_pairs, err)) {
            free(order); free(x); free(y);
            return -1;
        }
    }
    double e0 = rp_now_seconds(), loss_sum = 0, last_print = 0, seconds_before = 0;
    long long seen = 0;
    /* Resumed mid-epoch with the epoch's sums: go on adding to them, so that the epoch's means
     * are over all its steps, bit for bit the uninterrupted epoch's (its wall-clock time is the
     * two parts' sum). Without them (an older checkpoint) the means are over the steps taken
     * after the resume. */
    int counted_from = first_step;
    if (first_step > 0 && t->epoch_sums.present) {
        const rp_epoch_sums *p = &t->epoch_sums;
        counted_from = 0;
        loss_sum = p->loss;
        seen = (long long)p->windows;
        seconds_before = p->seconds;
        log->policy_seconds = p->policy_seconds;
        log->mean_reward = p->mean_reward;
        log->advantage_spread = p->advantage_spread;
        log->sign_agreement = p->sign_agreement;
        log->sign_pairs = p->sign_pairs;
        for (int l = 0; l < p->n_levels; l++) {
            log->policy_entropy[l] = p->entropy[l];
            log->patch_len_mean[l] = p->patch_len_mean[l];
            log->patch_len_std[l] = p->patch_len_std[l];
            log->frac_moved[l] = p->cuts_off_uniform[l];
        }
    }
    memset(&t->epoch_sums, 0, sizeof t->epoch_sums);
    for (int s = first_step; s < steps; s++) {
        int start = s * B, nb = n - start < B ? n - start : B;
        double lr = lr_schedule(r->train.schedule, r->train.lr, epoch, s, steps, r->train.epochs, r->train.pct_start);
        log->lr = lr;
        double loss = train_step(t, order + start, nb, lr, policy_active, log, x, y);
        if (check_step_finite(t, epoch, s + 1, loss, lr, err)) {
            free(order); free(x); free(y);
            return -1;
        }
        loss_sum += loss;
        seen += nb;
        t->step_in_epoch = s + 1;
        if (checkpoint_every > 0 && t->step % checkpoint_every == 0 && s + 1 < steps) {
            keep_epoch_sums(t, log, loss_sum, seen, seconds_before + rp_now_seconds() - e0);
            int rc = trainer_save_checkpoint(t, err);
            if (rc == 0 && t->stop_at_step > 0 && t->step == t->stop_at_step) t->stopped = 1;
            if (rc || t->stopped) {
                free(order); free(x); free(y);
                return rc;
            }
        }
        double now = rp_now_seconds();
        /* A terminal line is rewritten twice a second; a log gets a new line every 15 s. */
        double every = progress == RP_PROGRESS_TERMINAL ? 0.5 : 15.0;
        if (progress && (now - last_print > every || (progress == RP_PROGRESS_TERMINAL && s + 1 == steps))) {
            double wps = seen / (seconds_before + now - e0);
            double remaining = (double)(steps - s - 1) * B + (double)(r->train.epochs - epoch - 1) * steps * B;
            print_progress(t, progress, epoch, r->train.epochs, s + 1, steps, loss_sum / (s + 1 - counted_from), wps,
                           remaining / wps);
            last_print = now;
        }
    }
    if (progress == RP_PROGRESS_TERMINAL) fputc('\n', stderr);
    double seconds = seconds_before + rp_now_seconds() - e0;
    t->step_in_epoch = 0; /* the epoch's steps are all taken */
    /* The statistics were summed per step counted: report their means. */
    double taken = steps - counted_from > 0 ? steps - counted_from : 1;
    log->steps = steps - first_step;
    log->policy_active = policy_active;
    log->train_loss = loss_sum / taken;
    log->seconds = seconds;
    log->windows_per_second = seen / seconds;
    log->mean_reward /= taken;
    log->advantage_spread /= taken;
    for (int l = 0; l < RP_MAX_LEVELS; l++) {
        log->policy_entropy[l] /= taken;
        log->patch_len_mean[l] /= taken;
        log->patch_len_std[l] /= taken;
        log->frac_moved[l] /= taken;
    }
    free(order); free(x); free(y);
    return 0;
}

/* <run_dir>/sign_agreement.csv: the advantage sign agreement of each epoch with a trainable policy
 * (docs/formats.md), appended (a resumed run goes on with the next epoch's line). The other GRPG
 * statistics are in history.csv. */
static int append_sign_agreement(const rp_trainer *t, const rp_epoch_log *log, rp_error *err) {
    char path[RP_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/sign_agreement.csv", t->run_dir);
    FILE *f = fopen(path, "a");
    if (!f) return rp_fail(err, "cannot write %s", path);
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) == 0)
        fprintf(f, "epoch,advantage,sign_agreement,sign_decisions\n");
    fprintf(f, "%d,%s,%.4f,%lld\n", log->epoch + 1, rp_advantage_names[t->recipe->train.advantage],
            log->sign_agreement, log->sign_pairs);
    if (fclose(f) != 0) return rp_fail(err, "cannot write %s", path);
    return 0;
}

int trainer_fit(rp_trainer *t, const rp_train_options *opt, rp_error *err) {
    const rp_recipe *r = t->recipe;
    int progress = opt && dist_rank() == 0 ? opt->progress : RP_PROGRESS_OFF;
    int verbose = progress || (opt && opt->verbose && dist_rank() == 0);
    t->stopped = 0;
    for (int epoch = t->epoch; epoch < r->train.epochs; epoch++) {
        /* A resumed run that had already stopped early stays stopped. */
        if (r->train.patience > 0 && t->epochs_since_best >= r->train.patience) break;
        rp_epoch_report e;
        t->stop_at_step = opt ? opt->stop_after_step : 0;
        if (trainer_train_epoch(t, epoch, r->train.max_steps_per_epoch, progress, &e.log, err)) return -1;
        if (t->stopped) {
            if (verbose) fprintf(stderr, "stopped at step %lld; continue with --resume %s\n", t->step, t->run_dir);
            return 0;
        }
        if (trainer_evaluate(t, SPLIT_VAL, &e.val, err)) return -1;
        if (check_val_finite(&e.val, epoch, e.log.lr, err)) return -1;
        t->epoch = epoch + 1;
        /* Without validation windows (a pool with no validation part) the last epoch counts as
         * the best. */
        e.best = e.val.windows == 0 || e.val.mse < t->best_val;
        if (e.best) {
            if (e.val.windows) t->best_val = e.val.mse;
            t->best_epoch = epoch;
            t->epochs_since_best = 0;
            memcpy(t->best_values, t->model.P.value, t->model.P.total * sizeof(float));
        } else {
            t->epochs_since_best++;
        }
        /* history.csv belongs to the run directory, written when the run keeps its files. */
        if (r->output.checkpoint && history_record(t, &e.log, e.val.windows ? &e.val : NULL, err)) return -1;
        if (r->output.checkpoint && !isnan(e.log.sign_agreement) && append_sign_agreement(t, &e.log, err))
            return -1;
        if (opt && opt->on_epoch && opt->on_epoch(t, &e, opt->epoch_ctx, err)) return -1;
        if (r->output.checkpoint && trainer_save_checkpoint(t, err)) return -1;
        if (opt && opt->stop_after_epoch > 0 && t->epoch >= opt->stop_after_epoch) {
            if (verbose) fprintf(stderr, "stopped after epoch %d; continue with --resume %s\n", t->epoch, t->run_dir);
            t->stopped = 1;
            return 0;
        }
        if (r->train.patience > 0 && t->epochs_since_best >= r->train.patience) {
            if (verbose) fprintf(stderr, "early stop: no val improvement for %d epochs\n", r->train.patience);
            break;
        }
    }
    return 0;
}

void trainer_restore_best(rp_trainer *t) {
    memcpy(t->model.P.value, t->best_values, t->model.P.total * sizeof(float));
}
