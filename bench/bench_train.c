/* Training-throughput benchmark: trains a recipe's model for a fixed number of steps and reports
 * training and evaluation windows per second (one window = one channel's lookback + horizon),
 * achieved GFLOP/s (forward FLOPs × 3 for forward + backward), BLIS sgemm GFLOP/s measured in the
 * same run at a large square size, and peak resident memory.
 *
 * usage: bench_train [RECIPE] [--steps N] [--set KEY=VALUE]...
 * Default recipe: recipes/etth1_fixed.yaml; with no $REINPATCH_DATA it runs on a generated series
 * of ETTh1's length (17420 rows × 7 channels), which has the same cost.
 * Under mpirun (an MPI build) it runs data-parallel as `reinpatch train` does; rank 0 prints, with
 * the bytes it exchanged per step; the sgemm line is then rank 0's alone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/dist.h"
#include "core/util.h"
#include "train/train.h"

static double sgemm_gflops(int n) {
    float *a = malloc((size_t)n * n * sizeof(float)), *b = malloc((size_t)n * n * sizeof(float));
    float *c = malloc((size_t)n * n * sizeof(float));
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
        c[i] = 0;
    }
    rp_matmul(c, a, b, n, n, n, 0, 0, 1.0f, 0.0f); /* warm-up */
    int reps = 5;
    double t0 = rp_now_seconds();
    for (int r = 0; r < reps; r++) rp_matmul(c, a, b, n, n, n, 0, 0, 1.0f, 0.0f);
    double dt = rp_now_seconds() - t0;
    free(a); free(b); free(c);
    return 2.0 * n * n * (double)n * reps / dt / 1e9;
}

int main(int argc, char **argv) {
    rp_choose_omp_waiting(argv); /* measure what the reinpatch command does */
    const char *recipe_path = "recipes/etth1_fixed.yaml";
    int steps = 30;
    const char *sets[64];
    int n_sets = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--set") && i + 1 < argc && n_sets < 64) sets[n_sets++] = argv[++i];
        else if (argv[i][0] != '-') recipe_path = argv[i];
        else {
            fprintf(stderr, "usage: bench_train [RECIPE] [--steps N] [--set KEY=VALUE]...\n");
            return 2;
        }
    }
    rp_error err = {{0}};
    rp_recipe r;
    recipe_defaults(&r);
    if (dist_init(&argc, &argv, &err)) goto fail;
    if (recipe_load(recipe_path, &r, &err)) goto fail;
    if (!getenv("REINPATCH_DATA") && strcmp(r.data.path, "generated") != 0) {
        fprintf(stderr, "bench: REINPATCH_DATA unset; using a generated series of ETTh1's shape\n");
        snprintf(r.data.path, sizeof r.data.path, "generated");
        r.data.generated_rows = 17420;
        r.data.generated_channels = 7;
        r.data.protocol = PROTOCOL_ETT_HOURLY; /* the same split sizes as ETTh1 */
    }
    for (int i = 0; i < n_sets; i++)
        if (recipe_set(&r, sets[i], &err)) goto fail;
    r.train.epochs = 1;
    r.train.max_steps_per_epoch = steps;
    if (recipe_validate(&r, &err) || recipe_render(&r, &err)) goto fail;

    rp_trainer t;
    if (trainer_setup(&t, &r, &err)) goto fail;
    int B = r.train.batch_size, G = t.group;
    rp_epoch_log warm, log;
    /* One short warm-up epoch (page faults, BLIS packing buffers), then the timed one. */
    if (trainer_train_epoch(&t, 0, 3, 0, &warm, &err)) goto fail;
    double c0 = rp_cpu_seconds();
    unsigned long long bytes0 = dist_bytes_exchanged();
    if (trainer_train_epoch(&t, 0, steps, 0, &log, &err)) goto fail;
    double train_cpu = rp_cpu_seconds() - c0;
    double step_bytes = (double)(dist_bytes_exchanged() - bytes0) / steps;
    double s0 = rp_now_seconds();
    rp_eval_result ev;
    if (trainer_evaluate(&t, SPLIT_TEST, &ev, &err)) goto fail;
    double eval_s = rp_now_seconds() - s0;
    double flops = model_flops(&t.model, B * G) * 3.0 * steps;
    double gemm = sgemm_gflops(2048);
    if (dist_rank() != 0) goto done;
    if (dist_size() > 1)
        printf("ranks: %d  bytes exchanged per step (rank 0, sent + received): %.0f\n", dist_size(), step_bytes);
    printf("recipe: %s  threads: %d  batch: %d  group: %d  tokens: %d  d_model: %d  params: %zu\n", r.name,
           rp_threads(), B, G, t.model.n_tokens, t.model.d_model, params_count_prefix(&t.model.P, ""));
    const char *policy = getenv("OMP_WAIT_POLICY"), *spin = getenv("GOMP_SPINCOUNT");
    printf("BLIS kernels: %s\n", rp_blas_kernels());
    printf("omp waiting: OMP_WAIT_POLICY=%s GOMP_SPINCOUNT=%s\n", policy ? policy : "(unset)",
           spin ? spin : "(unset)");
    printf("train windows/s: %.1f  (%d steps of %d windows in %.3f s)\n", log.windows_per_second, steps, B,
           log.seconds);
    printf("train CPU seconds: %.3f  (all threads of rank 0; %.1f windows per CPU second)\n", train_cpu,
           (double)steps * B / train_cpu);
    printf("policy share of training time: %.1f %%  (segmentation, policy forward and GRPG backward)\n",
           100.0 * log.policy_seconds / log.seconds);
    printf("eval windows/s: %.1f  (%lld test windows in %.3f s)\n", ev.windows / eval_s, ev.windows, eval_s);
    printf("achieved GFLOP/s: %.2f  (model forward FLOPs x3)\n", flops / log.seconds / 1e9);
    printf("sgemm GFLOP/s (2048^3, same run): %.2f  ratio: %.3f\n", gemm, flops / log.seconds / 1e9 / gemm);
    printf("peak RSS: %.1f MiB\n", rp_peak_rss_bytes() / 1048576.0);
    if (G > 1) {
        /* What a GRPG step computes, per window, against a fixed step's 3 forwards (the convention of
         * "achieved" above): with backbone_loss greedy or mixed, G scoring forwards, one training
         * step on the greedy cuts and the policies; with all or best, a training step over all G
         * rollouts (best's backward still runs over every row) and the policies. */
        const double fwd = model_flops(&t.model, 1), pol = model_policy_flops(&t.model, 1, G);
        const int scored = r.train.backbone_loss == BACKBONE_LOSS_GREEDY || r.train.backbone_loss == BACKBONE_LOSS_MIXED;
        const double step = scored ? (G + 3.0) * fwd + pol : 3.0 * G * fwd + pol;
        printf("learned step by flop count: %.2f fixed steps  (per window: forward %.3f MFLOP, policy %.3f MFLOP, "
               "backbone_loss %s)\n", step / (3.0 * fwd), fwd / 1e6, pol / 1e6,
               rp_backbone_loss_names[r.train.backbone_loss]);
    }
done:
    trainer_free(&t);
    recipe_free(&r);
    dist_finalize();
    return 0;
fail:
    fprintf(stderr, "bench: %s\n", err.msg);
    return 1;
}
