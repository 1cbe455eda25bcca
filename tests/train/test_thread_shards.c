/* Per-thread sharded training steps (train.threads = T > 1, issue 15; train/train.c, train_step):
 * each thread runs the whole step on its share of the batch, as an MPI rank does, and the
 * gradients are summed in thread order. What must hold: a step's gradient is one thread's up to
 * the rounding of the sums (batch norm's statistics and dropout masks are the whole batch's,
 * sampled cuts are drawn per global row), for fixed and learned patching and every backbone
 * loss; two runs at the same T are bit-identical; batches that do not split evenly, or have fewer
 * windows than threads, train the same. The model is the tiny recipe (tests/tiny_recipe.h) with
 * two layers and dropout 0.2, so that every row-coupling layer is exercised. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tempdir.h"
#include "tests/tiny_recipe.h"
#include "train/run.h"
#include "train/train.h"

static char tmpdir[256];

static void make_tmpdir(void) { tempdir_make(tmpdir, sizeof tmpdir, "shards"); }
static void remove_tmpdir(void) { tempdir_remove(tmpdir); }

TestSuite(thread_shards, .init = make_tmpdir, .fini = remove_tmpdir, .timeout = 120);

#define FIXED_LEVEL "patching: fixed, rate: 4, patch_len: 8"
#define LEARNED_LEVEL "patching: learned, rate: 4, patch_len: 8, group_size: 3, policy: {prior_scale: 0}"

/* The tiny recipe with `level`, then the assignments in sets (NULL-terminated), then threads. */
static void recipe_with(rp_recipe *r, const char *level, const char *const *sets, int threads) {
    char text[2048], assign[64];
    snprintf(text, sizeof text, TINY_RECIPE("shards", 600, "%s") TINY_TRAIN(5), level);
    rp_error err = {{0}};
    cr_assert_eq(recipe_parse(text, "shards.yaml", r, &err), 0, "%s", err.msg);
    const char *common[] = {"backbone.n_layers=2", "backbone.dropout=0.2", "train.batch_size=24",
                            "train.policy_lr=0.1", NULL};
    for (int i = 0; common[i]; i++) cr_assert_eq(recipe_set(r, common[i], &err), 0, "%s", err.msg);
    for (int i = 0; sets && sets[i]; i++) cr_assert_eq(recipe_set(r, sets[i], &err), 0, "%s: %s", sets[i], err.msg);
    snprintf(assign, sizeof assign, "train.threads=%d", threads);
    cr_assert_eq(recipe_set(r, assign, &err), 0, "%s", err.msg);
    snprintf(r->output.dir, sizeof r->output.dir, "%s/run", tmpdir);
    cr_assert_eq(recipe_validate(r, &err), 0, "%s", err.msg);
    cr_assert_eq(recipe_render(r, &err), 0, "%s", err.msg);
}

typedef struct steps_result {
    int step_threads;        /* what the trainer chose */
    size_t n;
    float *grad, *value;     /* the last step's gradient (trainer_update leaves it), the weights */
    rp_tensor_info *tensors; /* the parameter table */
    int n_tensors;
    rp_epoch_log log;
} steps_result;

/* `steps` optimizer steps of epoch 0 from the recipe's initialisation. */
static steps_result train_steps(const char *level, const char *const *sets, int threads, int steps) {
    rp_recipe r;
    recipe_with(&r, level, sets, threads);
    rp_error err = {{0}};
    rp_trainer t;
    cr_assert_eq(trainer_setup(&t, &r, &err), 0, "%s", err.msg);
    steps_result s = {.step_threads = t.step_threads, .n = t.model.P.total};
    cr_assert_eq(trainer_train_epoch(&t, 0, steps, 0, &s.log, &err), 0, "%s", err.msg);
    s.grad = malloc(s.n * sizeof(float));
    s.value = malloc(s.n * sizeof(float));
    cr_assert(s.grad && s.value);
    memcpy(s.grad, t.model.P.grad, s.n * sizeof(float));
    memcpy(s.value, t.model.P.value, s.n * sizeof(float));
    s.n_tensors = t.model.P.n_tensors;
    s.tensors = malloc((size_t)s.n_tensors * sizeof *s.tensors);
    cr_assert_not_null(s.tensors);
    memcpy(s.tensors, t.model.P.tensors, (size_t)s.n_tensors * sizeof *s.tensors);
    trainer_free(&t);
    recipe_free(&r);
    return s;
}

static void steps_free(steps_result *s) {
    free(s->grad);
    free(s->value);
    free(s->tensors);
}

/* max |a − b| over max |b|: the largest difference relative to the largest entry. */
static double max_rel_diff(const float *a, const float *b, size_t n) {
    double d = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return scale > 0 ? d / scale : d;
}

/* The weights of a and b, tensor by tensor, relative to the tensor's largest weight, except where b's
 * last gradient is rounding noise (below 1e-6 of its largest entry anywhere): a parameter whose
 * true gradient is zero, such as the policy's output bias (a shift of every logit changes no
 * sampling probability), gets noise that depends on the order of the sums, and Adam scales any
 * gradient up to steps of about lr (the same caveat as ETSMLP's in docs/cli.md). */
static void assert_weights_close(const steps_result *a, const steps_result *b, double tol, int threads) {
    double gmax = 0;
    for (size_t i = 0; i < b->n; i++) gmax = fmax(gmax, fabs(b->grad[i]));
    int compared = 0;
    for (int k = 0; k < b->n_tensors; k++) {
        const rp_tensor_info *ti = &b->tensors[k];
        double g = 0;
        for (size_t i = ti->offset; i < ti->offset + ti->count; i++) g = fmax(g, fabs(b->grad[i]));
        if (ti->trainable && g < 1e-6 * gmax) continue;
        double v = max_rel_diff(a->value + ti->offset, b->value + ti->offset, ti->count);
        cr_assert(v < tol, "%s after 5 steps: %d threads differ from 1 by %.3g", ti->name, threads, v);
        compared++;
    }
    cr_assert(compared > b->n_tensors / 2, "only %d of %d tensors compared", compared, b->n_tensors);
}

static void assert_rel(double a, double b, double tol, const char *what) {
    cr_assert(fabs(a - b) <= tol * fabs(b), "%s: T threads %.9g, 1 thread %.9g (relative %.3g)", what, a, b,
              fabs(a - b) / fabs(b));
}

/* One step at `threads` against one thread: the same gradient to rounding (the sums of batch-norm
 * statistics and of the gradients run in another order: measured ~1e-7 of the largest entry, a
 * row seen by the wrong batch statistics or dropout mask moves it by 1e-3 or more); then five
 * steps: the same training loss and epoch statistics. */
static void check_agrees_with_one_thread(const char *level, const char *const *sets, int threads) {
    steps_result one = train_steps(level, sets, 1, 1), many = train_steps(level, sets, threads, 1);
    cr_assert_eq(one.step_threads, 1);
    cr_assert_eq(many.step_threads, threads, "train.threads=%d: the step was not sharded", threads);
    cr_assert_eq(one.n, many.n);
    double g = max_rel_diff(many.grad, one.grad, one.n);
    cr_assert(g < 1e-5, "gradient of the first step: %d threads differ from 1 by %.3g (relative to its largest)",
              threads, g);
    steps_free(&one);
    steps_free(&many);

    one = train_steps(level, sets, 1, 5);
    many = train_steps(level, sets, threads, 5);
    assert_rel(many.log.train_loss, one.log.train_loss, 1e-6, "train loss over 5 steps");
    assert_rel(many.log.patch_len_mean[0], one.log.patch_len_mean[0], 1e-9, "mean patch length");
    if (one.log.policy_active) {
        assert_rel(many.log.mean_reward, one.log.mean_reward, 1e-5, "mean reward");
        assert_rel(many.log.policy_entropy[0], one.log.policy_entropy[0], 1e-5, "policy entropy");
    }
    /* Five Adam steps compound the first step's differences (about 1e-6 in the policy's
     * gradient) at the policy's lr 0.1: measured up to 1.4e-4 (a policy conv weight, greedy loss
     * with the greedy baseline); the backbone's agree to 1e-6. */
    assert_weights_close(&many, &one, 1e-3, threads);
    steps_free(&one);
    steps_free(&many);
}

Test(thread_shards, fixed_two_threads_agree_with_one) { check_agrees_with_one_thread(FIXED_LEVEL, NULL, 2); }

Test(thread_shards, learned_two_threads_agree_with_one) {
    check_agrees_with_one_thread(LEARNED_LEVEL, NULL, 2);
}

/* The backbone losses and advantages that change what a step runs: a greedy pass after the
 * rollouts (greedy, mixed), the best rollout only, the self-critical greedy baseline. */
Test(thread_shards, learned_greedy_loss_agrees_with_one) {
    const char *sets[] = {"train.backbone_loss=greedy", "train.advantage=greedy_baseline", NULL};
    check_agrees_with_one_thread(LEARNED_LEVEL, sets, 2);
}

Test(thread_shards, learned_best_loss_agrees_with_one) {
    const char *sets[] = {"train.backbone_loss=best", NULL};
    check_agrees_with_one_thread(LEARNED_LEVEL, sets, 2);
}

Test(thread_shards, learned_mixed_loss_agrees_with_one) {
    const char *sets[] = {"train.backbone_loss=mixed", "train.mix_share=0.5", NULL};
    check_agrees_with_one_thread(LEARNED_LEVEL, sets, 2);
}

/* Warm-up: a trainable learned level cut uniformly, mixed training jittering those cuts. */
Test(thread_shards, warmup_mixed_jitter_agrees_with_one) {
    const char *sets[] = {"train.warmup_epochs=1", "train.backbone_loss=mixed", "train.mix_share=0.5", NULL};
    check_agrees_with_one_thread(LEARNED_LEVEL, sets, 2);
}

/* S7 reaches batch norm through norm_forward/norm_backward (a one-thread team per shard). */
Test(thread_shards, s7_batch_norm_agrees_with_one) {
    const char *sets[] = {"backbone.kind=s7", "backbone.norm=batch", NULL};
    check_agrees_with_one_thread(FIXED_LEVEL, sets, 2);
}

/* A batch that does not split evenly: 23 windows on 2 threads (12 + 11), on 3 (8 + 8 + 7). */
Test(thread_shards, odd_batch_agrees_with_one) {
    const char *sets[] = {"train.batch_size=23", NULL};
    check_agrees_with_one_thread(LEARNED_LEVEL, sets, 2);
    check_agrees_with_one_thread(FIXED_LEVEL, sets, 3);
}

/* Fewer windows than threads: 3 windows on 4 threads run as 3 shards of one window; one window
 * on 2 threads is not sharded at all (today's layout). Both train as one thread does. */
Test(thread_shards, fewer_windows_than_threads) {
    const char *three[] = {"train.batch_size=3", NULL};
    steps_result one = train_steps(LEARNED_LEVEL, three, 1, 3), four = train_steps(LEARNED_LEVEL, three, 4, 3);
    cr_assert(max_rel_diff(four.grad, one.grad, one.n) < 1e-5);
    assert_rel(four.log.train_loss, one.log.train_loss, 1e-6, "train loss, 3 windows on 4 threads");
    steps_free(&one);
    steps_free(&four);
    const char *single[] = {"train.batch_size=1", NULL};
    one = train_steps(FIXED_LEVEL, single, 1, 3);
    steps_result two = train_steps(FIXED_LEVEL, single, 2, 3);
    cr_assert(max_rel_diff(two.grad, one.grad, one.n) < 1e-5);
    assert_rel(two.log.train_loss, one.log.train_loss, 1e-6, "train loss, 1 window on 2 threads");
    steps_free(&one);
    steps_free(&two);
}

/* Two whole runs (two epochs, validation, best weights, test) on 2 threads: the same bits. */
Test(thread_shards, two_threads_twice_bit_identical) {
    float *weights[2] = {NULL, NULL};
    double test_mse[2], val_mse[2];
    size_t n = 0;
    for (int k = 0; k < 2; k++) {
        rp_recipe r;
        recipe_with(&r, LEARNED_LEVEL, NULL, 2);
        snprintf(r.output.dir, sizeof r.output.dir, "%s/twice_%d", tmpdir, k);
        rp_error err = {{0}};
        rp_trainer t;
        cr_assert_eq(trainer_setup(&t, &r, &err), 0, "%s", err.msg);
        cr_assert_eq(t.step_threads, 2);
        cr_assert_eq(trainer_run(&t, NULL, NULL, &err), 0, "%s", err.msg);
        /* each shard ran its layers on one thread; evaluation, outside, keeps both */
        cr_assert_eq(omp_get_max_threads(), 2);
        rp_eval_result test;
        cr_assert_eq(trainer_evaluate(&t, SPLIT_TEST, &test, &err), 0, "%s", err.msg);
        test_mse[k] = test.mse;
        val_mse[k] = t.best_val;
        n = t.model.P.total;
        weights[k] = malloc(n * sizeof(float));
        memcpy(weights[k], t.model.P.value, n * sizeof(float));
        trainer_free(&t);
        recipe_free(&r);
    }
    cr_assert(isfinite(test_mse[0]));
    cr_assert_eq(test_mse[0], test_mse[1]);
    cr_assert_eq(val_mse[0], val_mse[1]);
    cr_assert_eq(memcmp(weights[0], weights[1], n * sizeof(float)), 0, "two 2-thread runs end with other weights");
    free(weights[0]);
    free(weights[1]);
}

#define RANDOM_LEVEL "patching: random, rate: 4, patch_len: 8"

/* A trainer at `threads` whose evaluation batches are eval_batch_size 16 windows, so that a split
 * is several batches (an odd number of them on one of the splits). */
static void eval_trainer(rp_trainer *t, rp_recipe *r, const char *level, int threads) {
    const char *sets[] = {"train.eval_batch_size=16", NULL};
    recipe_with(r, level, sets, threads);
    rp_error err = {{0}};
    cr_assert_eq(trainer_setup(t, r, &err), 0, "%s", err.msg);
    cr_assert_eq(t->step_threads, threads);
}

/* Evaluation batches spread over 2 threads (train.c, evaluate_range) score what one thread does:
 * the same forecasts, summed in another order. One thread trains 3 steps (batch norm's running
 * statistics move off their initial values) and evaluates val and test; then a 2-thread trainer
 * takes its weights and running statistics and evaluates both twice. (One trainer at a time: the
 * thread count is the process's, and a trainer's buffers are sized for the one it was set up at.) */
static void check_evaluation_agrees(const char *level, rp_cuts cuts) {
    rp_recipe r;
    rp_trainer t;
    rp_error err = {{0}};
    rp_epoch_log log;
    rp_eval_result one[2], two[2][2];
    eval_trainer(&t, &r, level, 1);
    t.eval_cuts = cuts;
    cr_assert_eq(trainer_train_epoch(&t, 0, 3, 0, &log, &err), 0, "%s", err.msg);
    size_t n = t.model.P.total;
    float *weights = malloc(n * sizeof(float));
    cr_assert_not_null(weights);
    memcpy(weights, t.model.P.value, n * sizeof(float));
    for (int s = 0; s < 2; s++) {
        cr_assert(t.data.split[SPLIT_VAL + s].n_windows > 3 * 16, "split %d: too few windows to spread", s);
        cr_assert_eq(trainer_evaluate(&t, (rp_split_id)(SPLIT_VAL + s), &one[s], &err), 0, "%s", err.msg);
    }
    trainer_free(&t);
    recipe_free(&r);

    eval_trainer(&t, &r, level, 2);
    t.eval_cuts = cuts;
    cr_assert_eq(t.model.P.total, n);
    memcpy(t.model.P.value, weights, n * sizeof(float));
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 2; k++) {
            memset(&two[s][k], 0, sizeof two[s][k]);
            cr_assert_eq(trainer_evaluate(&t, (rp_split_id)(SPLIT_VAL + s), &two[s][k], &err), 0, "%s", err.msg);
        }
    /* the threads' layers ran on one thread each; the process keeps both outside */
    cr_assert_eq(omp_get_max_threads(), 2);
    trainer_free(&t);
    recipe_free(&r);
    free(weights);

    for (int s = 0; s < 2; s++) {
        const rp_eval_result *a = &one[s], *b = &two[s][0];
        cr_assert(isfinite(a->mse) && a->mse > 0);
        cr_assert_eq(b->windows, a->windows);
        assert_rel(b->mse, a->mse, 1e-9, "evaluation MSE");
        assert_rel(b->mae, a->mae, 1e-9, "evaluation MAE");
        for (int l = 0; l < a->n_levels; l++)
            cr_assert(fabs(b->off_uniform[l] - a->off_uniform[l]) <= 1e-9 * a->off_uniform[l],
                      "level %d off uniform: %.12g against %.12g", l, b->off_uniform[l], a->off_uniform[l]);
        cr_assert_eq(memcmp(&two[s][0], &two[s][1], sizeof two[s][0]), 0, "two 2-thread evaluations differ");
    }
}

/* Fixed patching, and a learned level's policy decoding greedily on each thread's model copy. */
Test(thread_shards, evaluation_two_threads_agree_with_one) {
    check_evaluation_agrees(FIXED_LEVEL, (rp_cuts){CUTS_OWN, 0});
    check_evaluation_agrees(LEARNED_LEVEL, (rp_cuts){CUTS_OWN, 0});
}

/* Random patching draws its cuts from a stream keyed by (split, batch start): the same cuts on
 * any thread. So do the override cuts of `reinpatch eval --cuts` (model_override_cuts). */
Test(thread_shards, random_evaluation_two_threads_agree_with_one) {
    check_evaluation_agrees(RANDOM_LEVEL, (rp_cuts){CUTS_OWN, 0});
    check_evaluation_agrees(FIXED_LEVEL, (rp_cuts){CUTS_JITTER, 2});
}
