/* Experiment driver for the learned-patching test (tests/train/test_grpg_learning.c): trains the
 * same small forecaster with fixed, random and learned patching on a change-point series
 * (series_generate_changepoints) and reports validation MSE and how close the boundaries sit to
 * the true change points (validation split; the test measures on the test split).
 * Defaults reproduce the test's configuration; docs/levels.md ("Learning test") has the results.
 *
 * usage: grpg_changepoints [key=value]...     keys: the fields of `opts` below, plus
 *   only=fixed,random,learned,oracle,synth,replica   which runs (default: fixed, random, learned)
 *     oracle   fixed-patching model trained and scored with boundaries ON the true change points
 *     synth    GRPG with reward = -(distance to the change points), no backbone (policy side only)
 *     replica  a copy of train.c's GRPG step that also logs corr(advantage, -distance); adv_mode=1
 *              uses mean-centred rewards without the std division, adv_eps sets the epsilon
 *   probe=1    after training, val MSE with hand-made segmentations (grid, snapped to changes, ...)
 *   verbose=2  per-epoch lines and a few windows' greedy starts next to their change points
 * e.g.   grpg_changepoints only=learned prior_scale=1 seed=3 data_seed=13 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "levels/grpg.h"
#include "train/predict.h"
#include "train/train.h"

typedef struct opts {
    int rows, segment, lookback, horizon, patch_len, d_model, heads, layers, d_ff, epochs, warmup, batch, group,
        min_len, max_len, pchannels, pkernel, players, max_steps, threads, verbose, probe, adv_mode, seed, data_seed,
        bloss, sched;
    double adv_eps, adv_scale, noise, slope, rate, lr, policy_lr, prior_scale, beta, dropout;
    const char *only;
} opts;

static void set_opt(opts *o, const char *kv) {
    char key[64];
    const char *eq = strchr(kv, '=');
    if (!eq || eq - kv >= 64) { fprintf(stderr, "bad option %s\n", kv); exit(2); }
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = 0;
    const char *v = eq + 1;
#define I(name) if (!strcmp(key, #name)) { o->name = atoi(v); return; }
#define D(name) if (!strcmp(key, #name)) { o->name = atof(v); return; }
    I(rows) I(segment) I(lookback) I(horizon) I(patch_len) I(d_model) I(heads) I(layers) I(d_ff) I(epochs)
    I(warmup) I(batch) I(group) I(min_len) I(max_len) I(pchannels) I(pkernel) I(players) I(max_steps) I(threads)
    I(verbose) I(probe) I(adv_mode) I(seed) I(data_seed) I(bloss) I(sched)
    D(adv_eps) D(adv_scale) D(noise) D(slope) D(rate) D(lr) D(policy_lr) D(prior_scale) D(beta) D(dropout)
    if (!strcmp(key, "only")) { o->only = v; return; }
    fprintf(stderr, "unknown option %s\n", key);
    exit(2);
}

static void make_recipe(const opts *o, rp_patching patching, rp_recipe *r) {
    recipe_defaults(r);
    snprintf(r->name, sizeof r->name, "grpg_changepoints");
    r->data.protocol = PROTOCOL_RATIO;
    r->data.lookback = o->lookback;
    r->data.horizon = o->horizon;
    rp_level_recipe *lv = &r->levels[0];
    lv->patching = patching;
    lv->rate = o->rate;
    lv->patch_len = o->patch_len;
    lv->min_len = o->min_len;
    lv->max_len = o->max_len;
    lv->group_size = o->group;
    lv->policy_channels = o->pchannels;
    lv->policy_kernel = o->pkernel;
    lv->policy_layers = o->players;
    lv->prior_scale = o->prior_scale;
    r->backbone.d_model = o->d_model;
    r->backbone.n_heads = o->heads;
    r->backbone.n_layers = o->layers;
    r->backbone.d_ff = o->d_ff;
    r->backbone.dropout = o->dropout;
    r->train.epochs = o->epochs;
    r->train.batch_size = o->batch;
    r->train.lr = o->lr;
    r->train.policy_lr = o->policy_lr;
    r->train.schedule = (rp_schedule)o->sched;
    r->train.seed = o->seed;
    r->train.threads = o->threads;
    r->train.warmup_epochs = o->warmup;
    r->train.entropy_beta = o->beta;
    r->train.backbone_loss = (rp_backbone_loss)o->bloss;
    r->train.max_steps_per_epoch = o->max_steps;
    r->train.patience = o->epochs; /* never stops early: every epoch is trained */
    r->output.checkpoint = false;
}

/* Mean distance from each true change point inside a window of `split` to the nearest internal
 * boundary (segment start k >= 1) of the window's segmentation: the greedy one for learned
 * levels, the uniform one otherwise. */
static double changepoint_distance(rp_trainer *t, rp_split_id split, const int *changes, int n_changes,
                                   int use_policy, long long *count_out) {
    const rp_dataset *d = &t->data;
    rp_model *m = &t->model;
    const rp_level *lv = &m->levels[0];
    int L = d->lookback, K = lv->K, n = d->split[split].n_windows;
    int32_t *greedy = malloc((size_t)n * K * sizeof(int32_t));
    int *grid = malloc((size_t)K * sizeof(int));
    rp_error err = {{0}};
    if (!greedy || !grid || (use_policy && predict_segment_split(m, &t->buf, d, split, 1, 0, &greedy, &err))) {
        fprintf(stderr, "grpg_changepoints: cannot segment the split: %s\n", greedy && grid ? err.msg : "out of memory");
        exit(1);
    }
    seg_uniform(L, lv->cfg.rate, grid);
    double sum = 0;
    long long count = 0;
    for (int w = 0; w < n; w++) {
        const int32_t *starts = greedy + (size_t)w * K;
        int ch, start;
        dataset_window_origin(d, split, w, &ch, &start);
        for (int c = 0; c < n_changes; c++) {
            int p = changes[c] - start;
            if (p < 1 || p >= L) continue;
            int best = L;
            for (int k = 1; k < K; k++) {
                int dist = abs((use_policy ? starts[k] : grid[k]) - p);
                if (dist < best) best = dist;
            }
            sum += best;
            count++;
        }
    }
    free(greedy);
    free(grid);
    if (count_out) *count_out = count;
    return count ? sum / count : NAN;
}

/* MSE on a split of two reference forecasts: the mean of the window's last regime (the oracle
 * that knows the change points) and the last value. */
static void reference_mse(const rp_trainer *t, rp_split_id split, const int *changes, int n_changes) {
    const rp_dataset *d = &t->data;
    int L = d->lookback, H = d->horizon, n = d->split[split].n_windows;
    float *x = malloc((size_t)L * sizeof(float)), *y = malloc((size_t)H * sizeof(float));
    double se_oracle = 0, se_last = 0, se_mean = 0;
    for (int w = 0; w < n; w++) {
        dataset_window(d, split, w, x, y);
        int ch, start, from = 0;
        dataset_window_origin(d, split, w, &ch, &start);
        for (int c = 0; c < n_changes; c++)
            if (changes[c] - start >= 1 && changes[c] - start < L) from = changes[c] - start;
        double m = 0, all = 0;
        for (int i = from; i < L; i++) m += x[i];
        m /= L - from;
        for (int i = 0; i < L; i++) all += x[i];
        all /= L;
        for (int h = 0; h < H; h++) {
            se_oracle += (y[h] - m) * (y[h] - m);
            se_last += (y[h] - x[L - 1]) * (y[h] - x[L - 1]);
            se_mean += (y[h] - all) * (y[h] - all);
        }
    }
    printf("reference val mse: last-regime mean %.5f  last value %.5f  window mean %.5f\n", se_oracle / ((double)n * H),
           se_last / ((double)n * H), se_mean / ((double)n * H));
    free(x);
    free(y);
}

/* Prints the greedy starts and the true change positions of a few validation windows, and the mean
 * logit per gap over the split (minus the prior). */
static void show_windows(rp_trainer *t, const int *changes, int n_changes, int count) {
    const rp_dataset *d = &t->data;
    rp_model *m = &t->model;
    const rp_level *lv = &m->levels[0];
    int L = d->lookback, K = lv->K, n = d->split[SPLIT_VAL].n_windows;
    float *x = malloc((size_t)L * sizeof(float));
    int *starts = malloc((size_t)K * sizeof(int));
    for (int c = 0; c < count; c++) {
        int w = (int)((long long)n * c / count);
        dataset_window(d, SPLIT_VAL, w, x, NULL);
        model_prepare(m, &t->buf, x, 1, 1);
        model_segment(m, &t->buf, 1, 1, CUT_EVAL, 1, 0);
        memcpy(starts, t->buf.lv[0].starts, (size_t)K * sizeof(int));
        int ch, start;
        dataset_window_origin(d, SPLIT_VAL, w, &ch, &start);
        fprintf(stderr, "  window %5d starts:", w);
        for (int k = 0; k < K; k++) fprintf(stderr, " %d", starts[k]);
        fprintf(stderr, "   changes:");
        for (int i = 0; i < n_changes; i++)
            if (changes[i] - start >= 1 && changes[i] - start < L) fprintf(stderr, " %d", changes[i] - start);
        fprintf(stderr, "\n    score-prior:");
        const float *prior = m->P.value + lv->policy.prior;
        for (int j = 0; j < L - 1; j++) fprintf(stderr, " %.1f", t->buf.lv[0].logits[j] - prior[j]);
        fprintf(stderr, "\n");
    }
    free(x);
    free(starts);
}

/* Val MSE of the trained model under hand-made segmentations: uniform; uniform with the nearest
 * grid boundary moved onto every change point (mode 1) or onto the last one only (mode 2); the
 * same moves to change + 3 (mode 3, a control with the same deviation from the grid). */
static void probe(rp_trainer *t, const int *changes, int n_changes) {
    const rp_dataset *d = &t->data;
    rp_model *m = &t->model;
    rp_model_buffers *b = &t->buf;
    int L = d->lookback, H = d->horizon, K = m->levels[0].K, n = d->split[SPLIT_VAL].n_windows;
    double rate = m->levels[0].cfg.rate;
    int bs = t->recipe->train.eval_batch_size;
    float *x = malloc(sizeof(float) * (size_t)bs * L), *y = malloc(sizeof(float) * (size_t)bs * H);
    double se[6] = {0};
    for (int mode = 0; mode < 6; mode++)
        for (int s0 = 0; s0 < n; s0 += bs) {
            int nb = n - s0 < bs ? n - s0 : bs;
            for (int i = 0; i < nb; i++) {
                dataset_window(d, SPLIT_VAL, s0 + i, x + (size_t)i * L, y + (size_t)i * H);
                int *st = b->lv[0].starts + (size_t)i * K, ch, start;
                seg_uniform(L, rate, st);
                dataset_window_origin(d, SPLIT_VAL, s0 + i, &ch, &start);
                int last = -1;
                for (int c = 0; c < n_changes; c++)
                    if (changes[c] - start >= 1 && changes[c] - start < L) last = c;
                for (int c = 0; c < n_changes && mode > 0; c++) {
                    int p = changes[c] - start;
                    if (p < 1 || p >= L || (mode == 2 && c != last)) continue;
                    if (mode == 3) p = p + 3 < L ? p + 3 : p - 3;
                    if (mode == 4) p = p - 1;
                    if (mode == 5) p = p + 1 < L ? p + 1 : p;
                    int kb = 1;
                    for (int k = 1; k < K; k++) if (abs(st[k] - p) < abs(st[kb] - p)) kb = k;
                    int lo = st[kb - 1], hi = kb + 1 < K ? st[kb + 1] : L;
                    if (p > lo && p < hi) st[kb] = p;
                }
            }
            memcpy(b->lv[0].raw_starts, b->lv[0].starts, sizeof(int) * (size_t)nb * K);
            model_prepare(m, b, x, nb, 1);
            model_forward(m, b, y, nb, 1, PASS_SCORE, 0);
            for (int i = 0; i < nb; i++) se[mode] += b->row_loss[i];
        }
    printf("probe val mse: uniform %.5f  aligned-all %.5f  aligned-last %.5f  off-by-3 %.5f  at c-1 %.5f  "
           "at c+1 %.5f\n",
           se[0] / n, se[1] / n, se[2] / n, se[3] / n, se[4] / n, se[5] / n);
    free(x);
    free(y);
}

/* Val MSE of the learned model with its greedy segmentation, and with every boundary that sits
 * within 2 steps of a change point moved onto it (shift -1 / +1 variants too). */
static void probe_greedy(rp_trainer *t, const int *changes, int n_changes) {
    const rp_dataset *d = &t->data;
    rp_model *m = &t->model;
    rp_model_buffers *b = &t->buf;
    int L = d->lookback, H = d->horizon, K = m->levels[0].K, n = d->split[SPLIT_VAL].n_windows;
    int bs = t->recipe->train.eval_batch_size;
    float *x = malloc(sizeof(float) * (size_t)bs * L), *y = malloc(sizeof(float) * (size_t)bs * H);
    double se[4] = {0};
    long long moved = 0;
    for (int mode = 0; mode < 4; mode++)
        for (int s0 = 0; s0 < n; s0 += bs) {
            int nb = n - s0 < bs ? n - s0 : bs;
            for (int i = 0; i < nb; i++) dataset_window(d, SPLIT_VAL, s0 + i, x + (size_t)i * L, y + (size_t)i * H);
            model_prepare(m, b, x, nb, 1);
            model_segment(m, b, nb, 1, CUT_EVAL, 1, 0);
            for (int i = 0; i < nb && mode > 0; i++) {
                int *st = b->lv[0].starts + (size_t)i * K, ch, start;
                dataset_window_origin(d, SPLIT_VAL, s0 + i, &ch, &start);
                for (int c = 0; c < n_changes; c++) {
                    int p = changes[c] - start;
                    if (p < 1 || p >= L) continue;
                    int target = mode == 1 ? p : mode == 2 ? p - 1 : p + 1;
                    for (int k = 1; k < K; k++)
                        if (abs(st[k] - p) <= 2 && st[k] != target) {
                            int lo = st[k - 1], hi = k + 1 < K ? st[k + 1] : L;
                            if (target > lo && target < hi) { st[k] = target; if (mode == 1) moved++; }
                            break;
                        }
                }
            }
            memcpy(b->lv[0].raw_starts, b->lv[0].starts, sizeof(int) * (size_t)nb * K);
            model_forward(m, b, y, nb, 1, PASS_SCORE, 0);
            for (int i = 0; i < nb; i++) se[mode] += b->row_loss[i];
        }
    printf("greedy probe val mse: greedy %.5f  snapped to c %.5f (%lld moved)  to c-1 %.5f  to c+1 %.5f\n", se[0] / n,
           se[1] / n, moved, se[2] / n, se[3] / n);
    free(x);
    free(y);
}

typedef struct epoch_line {
    const char *label;
    const int *changes;
    int n_changes;
} epoch_line;

/* verbose: a line per epoch (learned levels: GRPG statistics and the validation distance). */
static int print_epoch(rp_trainer *t, const rp_epoch_report *e, void *ctx, rp_error *err) {
    const epoch_line *line = ctx;
    const rp_epoch_log *log = &e->log;
    fprintf(stderr, "%-7s ep %2d  train %.4f  val %.4f  %.1fs", line->label, log->epoch + 1, log->train_loss,
            e->val.mse, log->seconds);
    if (t->model.levels[0].cfg.patching == PATCHING_LEARNED)
        fprintf(stderr, "  R %.4f |A| %.3f H %.2f moved %.0f%%  dist %.3f", log->mean_reward, log->advantage_spread,
                log->policy_entropy[0], 100 * log->frac_moved[0],
                changepoint_distance(t, SPLIT_VAL, line->changes, line->n_changes, 1, NULL));
    fputc('\n', stderr);
    return 0;
}

/* The options' change-point series and a trainer on it with the given patching; r becomes the
 * trainer's recipe and must outlive it. Exits on error (a driver, not a library). */
static void setup(const opts *o, rp_patching patching, rp_recipe *r, rp_trainer *t, int **changes, int *nch) {
    rp_error err = {{0}};
    make_recipe(o, patching, r);
    rp_series s;
    if (recipe_validate(r, &err) ||
        series_generate_changepoints(&s, o->rows, 1, o->segment, o->noise, o->slope, (unsigned long long)o->data_seed,
                                     changes, nch, &err) ||
        trainer_setup_series(t, r, &s, &err)) {
        fprintf(stderr, "grpg_changepoints: %s\n", err.msg);
        exit(1);
    }
}

static int run_one(const opts *o, rp_patching patching, const char *label, double *val_out, double *dist_out,
                   double *udist_out) {
    rp_error err = {{0}};
    rp_recipe r;
    rp_trainer t;
    int *changes, nch;
    setup(o, patching, &r, &t, &changes, &nch);
    if (patching == PATCHING_FIXED) reference_mse(&t, SPLIT_VAL, changes, nch);
    double t0 = rp_now_seconds();
    epoch_line line = {.label = label, .changes = changes, .n_changes = nch};
    rp_train_options fit = {.on_epoch = o->verbose ? print_epoch : NULL, .epoch_ctx = &line};
    if (trainer_fit(&t, &fit, &err)) { fprintf(stderr, "%s\n", err.msg); return -1; }
    double best = t.best_val;
    if (patching == PATCHING_LEARNED && o->verbose > 1) show_windows(&t, changes, nch, 6);
    if (o->probe) probe(&t, changes, nch);
    if (o->probe && patching == PATCHING_LEARNED) probe_greedy(&t, changes, nch);
    trainer_restore_best(&t);
    long long cnt;
    *val_out = best;
    *dist_out = changepoint_distance(&t, SPLIT_VAL, changes, nch, patching == PATCHING_LEARNED, &cnt);
    *udist_out = changepoint_distance(&t, SPLIT_VAL, changes, nch, 0, NULL);
    printf("%-7s val mse %.5f  boundary->change distance %.3f (uniform %.3f, %lld change points, ratio %.2f)  %.1fs\n",
           label, best, *dist_out, *udist_out, cnt, *udist_out / *dist_out, rp_now_seconds() - t0);
    fflush(stdout);
    trainer_free(&t);
    free(changes);
    return 0;
}

/* Oracle boundaries for window w: every true change point inside it (the last K-1 if there are
 * more), then uniform grid points, farthest from the chosen ones first, until there are K-1. */
static void oracle_starts(const rp_dataset *d, rp_split_id split, int w, int K, double rate, const int *changes,
                          int n_changes, int *starts) {
    int L = d->lookback, ch, start, gaps[64], m = 0;
    dataset_window_origin(d, split, w, &ch, &start);
    for (int c = 0; c < n_changes; c++) {
        int p = changes[c] - start;
        if (p >= 1 && p < L) gaps[m++] = p - 1;
    }
    if (m > K - 1) {
        memmove(gaps, gaps + (m - (K - 1)), sizeof(int) * (size_t)(K - 1));
        m = K - 1;
    }
    int grid[64];
    seg_uniform(L, rate, grid);
    while (m < K - 1) {
        int best = -1, bestd = -1;
        for (int k = 1; k < K; k++) {
            int g = grid[k] - 1, dmin = L;
            for (int i = 0; i < m; i++) dmin = abs(gaps[i] - g) < dmin ? abs(gaps[i] - g) : dmin;
            if (dmin > bestd) bestd = dmin, best = g;
        }
        gaps[m++] = best;
    }
    for (int i = 1; i < m; i++)
        for (int j = i; j > 0 && gaps[j] < gaps[j - 1]; j--) {
            int tmp = gaps[j];
            gaps[j] = gaps[j - 1];
            gaps[j - 1] = tmp;
        }
    seg_starts_from_gaps(K, gaps, starts);
}

/* Trains the fixed-patching model with oracle boundaries instead (own loop, same optimiser). */
static void run_oracle(const opts *o) {
    rp_recipe r;
    rp_trainer t;
    int *changes, nch;
    setup(o, PATCHING_FIXED, &r, &t, &changes, &nch);
    rp_model *m = &t.model;
    rp_model_buffers *b = &t.buf;
    const rp_dataset *d = &t.data;
    int L = d->lookback, H = d->horizon, K = m->n_tokens, B = o->batch;
    float *x = malloc(sizeof(float) * (size_t)r.train.eval_batch_size * L);
    float *y = malloc(sizeof(float) * (size_t)r.train.eval_batch_size * H);
    int ntr = d->split[SPLIT_TRAIN].n_windows, nval = d->split[SPLIT_VAL].n_windows;
    rp_rng rng;
    rng_seed(&rng, 5, 5);
    double best = INFINITY, t0 = rp_now_seconds();
    int steps = o->max_steps > 0 ? o->max_steps : (ntr + B - 1) / B;
    for (int e = 0; e < o->epochs; e++) {
        for (int st = 0; st < steps; st++) {
            for (int i = 0; i < B; i++) {
                int w = (int)rng_below(&rng, (uint64_t)ntr);
                dataset_window(d, SPLIT_TRAIN, w, x + (size_t)i * L, y + (size_t)i * H);
                oracle_starts(d, SPLIT_TRAIN, w, K, o->rate, changes, nch, b->lv[0].starts + (size_t)i * K);
            }
            memcpy(b->lv[0].raw_starts, b->lv[0].starts, sizeof(int) * (size_t)B * K);
            model_prepare(m, b, x, B, 1);
            params_zero_grad(&m->P);
            model_forward(m, b, y, B, 1, PASS_TRAIN, (unsigned long long)t.step);
            for (int i = 0; i < B * H; i++) b->dforecast[i] = 2.0f / (float)(B * H) * (b->forecast[i] - y[i]);
            model_backward(m, b, B, 1);
            trainer_update(&t, o->lr, TRAIN_BACKBONE);
        }
        double se = 0;
        int bs = r.train.eval_batch_size;
        for (int s0 = 0; s0 < nval; s0 += bs) {
            int nb = nval - s0 < bs ? nval - s0 : bs;
            for (int i = 0; i < nb; i++) {
                dataset_window(d, SPLIT_VAL, s0 + i, x + (size_t)i * L, y + (size_t)i * H);
                oracle_starts(d, SPLIT_VAL, s0 + i, K, o->rate, changes, nch, b->lv[0].starts + (size_t)i * K);
            }
            memcpy(b->lv[0].raw_starts, b->lv[0].starts, sizeof(int) * (size_t)nb * K);
            model_prepare(m, b, x, nb, 1);
            model_forward(m, b, y, nb, 1, PASS_SCORE, 0);
            for (int i = 0; i < nb; i++) se += b->row_loss[i];
        }
        double v = se / nval;
        if (v < best) best = v;
        if (o->verbose) fprintf(stderr, "oracle  ep %2d  val %.4f\n", e + 1, v);
    }
    printf("oracle  val mse %.5f  %.1fs\n", best, rp_now_seconds() - t0);
    free(x); free(y); free(changes);
    trainer_free(&t);
}

/* GRPG outside the trainer, for diagnosis. reward_kind 0: the policy machinery alone, reward =
 * -(mean distance from the window's change points to the rollout's boundaries), no backbone;
 * reward_kind 1: a replica of train.c's train_step (reward -MSE, backbone trained on every rollout)
 * that also reports corr(advantage, -distance), i.e. how much the real reward asks for alignment. */
static double g_last_dist;
static double rollout_distance(const rp_dataset *d, int w, const int *st, int K, const int *changes, int nch,
                               int *cnt_out) {
    int L = d->lookback, ch, start, cnt = 0;
    double sum = 0;
    dataset_window_origin(d, SPLIT_TRAIN, w, &ch, &start);
    for (int c = 0; c < nch; c++) {
        int p = changes[c] - start;
        if (p < 1 || p >= L) continue;
        int best = L;
        for (int k = 1; k < K; k++) best = abs(st[k] - p) < best ? abs(st[k] - p) : best;
        sum += best;
        cnt++;
        g_last_dist = best;
    }
    *cnt_out = cnt;
    return cnt ? sum / cnt : 0;
}

static void run_synthetic(const opts *o, int reward_kind) {
    rp_error err = {{0}};
    rp_recipe r;
    rp_trainer t;
    int *changes, nch;
    setup(o, PATCHING_LEARNED, &r, &t, &changes, &nch);
    rp_model *m = &t.model;
    rp_model_buffers *b = &t.buf;
    const rp_dataset *d = &t.data;
    const rp_level *lv = &m->levels[0];
    int L = d->lookback, H = d->horizon, K = lv->K, B = o->batch, G = o->group, R = B * G;
    float *x = malloc(sizeof(float) * (size_t)B * L), *y = malloc(sizeof(float) * (size_t)B * H);
    float *rew = malloc(sizeof(float) * (size_t)R), *adv = malloc(sizeof(float) * (size_t)R);
    double *dist = malloc(sizeof(double) * (size_t)R), *ldist = malloc(sizeof(double) * (size_t)R);
    int *idx = malloc(sizeof(int) * (size_t)B);
    int ntr = d->split[SPLIT_TRAIN].n_windows;
    rp_rng rng;
    rng_seed(&rng, 5, 5);
    double t0 = rp_now_seconds();
    int steps = o->max_steps > 0 ? o->max_steps : 40;
    for (int e = 0; e < o->epochs; e++) {
        int active = e >= o->warmup;
        int g_now = active ? G : 1;
        double rsum = 0, corr_num = 0, corr_a = 0, corr_d = 0, loss = 0, cl_num = 0, cl_d = 0;
        for (int st = 0; st < steps; st++) {
            for (int i = 0; i < B; i++) {
                idx[i] = (int)rng_below(&rng, (uint64_t)ntr);
                dataset_window(d, SPLIT_TRAIN, idx[i], x + (size_t)i * L, y + (size_t)i * H);
            }
            model_prepare(m, b, x, B, g_now);
            model_segment(m, b, B, g_now, active ? CUT_TRAIN : CUT_WARMUP, 3, (unsigned long long)t.step);
            params_zero_grad(&m->P);
            if (reward_kind == 1) {
                model_forward(m, b, y, B, g_now, PASS_TRAIN, (unsigned long long)t.step);
                for (int row = 0; row < B * g_now; row++) {
                    const float *f = b->forecast + (size_t)row * H, *yt = y + (size_t)(row / g_now) * H;
                    for (int h = 0; h < H; h++)
                        b->dforecast[(size_t)row * H + h] = 2.0f / (float)(B * g_now * H) * (f[h] - yt[h]);
                    loss += b->row_loss[row] / (B * g_now);
                }
                model_backward(m, b, B, g_now);
            }
            if (active) {
                for (int row = 0; row < R; row++) {
                    int cnt;
                    g_last_dist = 0;
                    dist[row] = rollout_distance(d, idx[row / G], b->lv[0].starts + (size_t)row * K, K, changes, nch,
                                                 &cnt);
                    ldist[row] = g_last_dist;
                    rew[row] = reward_kind == 1 ? -b->row_loss[row] : (float)-dist[row];
                    rsum += rew[row];
                }
                grpg_advantages(rew, G, B, (float)o->adv_eps, adv);
                if (o->adv_mode == 1) /* mean-centred rewards, no division by the group's std */
                    for (int w = 0; w < B; w++) {
                        double mr = 0;
                        for (int g = 0; g < G; g++) mr += rew[w * G + g] / G;
                        for (int g = 0; g < G; g++) adv[w * G + g] = (float)((rew[w * G + g] - mr) * o->adv_scale);
                    }
                for (int w = 0; w < B; w++) {
                    double md = 0, ml = 0;
                    for (int g = 0; g < G; g++) md += dist[w * G + g] / G, ml += ldist[w * G + g] / G;
                    for (int g = 0; g < G; g++) {
                        double dd = -(dist[w * G + g] - md), a = adv[w * G + g], dl = -(ldist[w * G + g] - ml);
                        cl_num += a * dl;
                        cl_d += dl * dl;
                        corr_num += a * dd;
                        corr_a += a * a;
                        corr_d += dd * dd;
                    }
                }
                memset(b->lv[0].dlogits, 0, sizeof(float) * (size_t)B * (L - 1));
                grpg_policy_dlogits(&lv->spec, b->lv[0].logits, 0, b->lv[0].orders, adv, G, B, (float)o->beta,
                                    b->lv[0].dlogits, b->work);
                policy_net_backward(&lv->policy, &m->P, b->lv[0].dlogits, B, b->lv[0].policy_act);
            }
            trainer_update(&t, o->lr, (reward_kind == 1 ? TRAIN_BACKBONE : 0) | (active ? TRAIN_POLICIES : 0));
        }
        rp_eval_result val = {0};
        if (reward_kind == 1) trainer_evaluate(&t, SPLIT_VAL, &val, &err);
        fprintf(stderr,
                "synth%d  ep %2d  loss %.4f val %.4f  reward %.3f  corr(A,-dist) %.3f last %.3f  greedy dist %.3f\n",
                reward_kind, e + 1, loss / steps, val.mse, rsum / (steps * R), corr_num / sqrt(corr_a * corr_d + 1e-30),
                cl_num / sqrt(corr_a * cl_d + 1e-30),
                changepoint_distance(&t, SPLIT_VAL, changes, nch, 1, NULL));
    }
    printf("synth%d  greedy dist %.3f (uniform %.3f)  %.1fs\n", reward_kind,
           changepoint_distance(&t, SPLIT_VAL, changes, nch, 1, NULL),
           changepoint_distance(&t, SPLIT_VAL, changes, nch, 0, NULL), rp_now_seconds() - t0);
    if (o->verbose > 1) show_windows(&t, changes, nch, 4);
    free(x); free(y); free(rew); free(adv); free(idx); free(dist); free(ldist); free(changes);
    trainer_free(&t);
}

int main(int argc, char **argv) {
    rp_choose_omp_waiting(argv); /* as the reinpatch command does (core/util.h) */
    /* Defaults = the test's configuration (tests/train/test_grpg_learning.c). */
    opts o = {.rows = 20000, .segment = 50, .lookback = 150, .horizon = 8, .patch_len = 1, .d_model = 16,
              .heads = 2, .layers = 1, .d_ff = 32, .epochs = 10, .warmup = 1, .batch = 64, .group = 8,
              .min_len = 3, .pchannels = 8, .pkernel = 5, .players = 2, .max_steps = 40, .threads = 1,
              .verbose = 1, .seed = 1, .data_seed = 11, .bloss = 0, .sched = 2, .adv_eps = 1e-6, .adv_scale = 1,
              .noise = 0.1, .rate = 30, .lr = 3e-3, .policy_lr = 3e-3, .prior_scale = 0.0, .beta = 0.0,
              .dropout = 0.0, .only = ""};
    for (int i = 1; i < argc; i++) set_opt(&o, argv[i]);
    double v[3], dist[3], ud[3];
    const rp_patching kinds[3] = {PATCHING_FIXED, PATCHING_RANDOM, PATCHING_LEARNED};
    double t0 = rp_now_seconds();
    if (strstr(o.only, "oracle")) run_oracle(&o);
    if (strstr(o.only, "synth")) run_synthetic(&o, 0);
    if (strstr(o.only, "replica")) run_synthetic(&o, 1);
    for (int k = 0; k < 3; k++) {
        if (o.only[0] && !strstr(o.only, rp_patching_names[kinds[k]])) continue;
        if (run_one(&o, kinds[k], rp_patching_names[kinds[k]], &v[k], &dist[k], &ud[k])) return 1;
    }
    if (!o.only[0])
        printf("ratio uniform/learned %.2f   learned < fixed: %s   learned < random: %s   total %.1fs\n",
               ud[2] / dist[2], v[2] < v[0] ? "yes" : "NO", v[2] < v[1] ? "yes" : "NO", rp_now_seconds() - t0);
    return 0;
}
