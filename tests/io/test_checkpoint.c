/* Checkpoint and patcher files: bit-exact round trips, every documented failure with its message
 * (and the file left as it was), and a writer killed at random moments never leaving a torn
 * checkpoint behind. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/params.h"
#include "core/rng.h"
#include "tests/run_command.h"
#include "tests/tempdir.h"
#include "io/checkpoint.h"
#include "io/h5util.h"
#include "io/inspect.h"
#include "io/patcher_file.h"

/* ---- fixtures ---- */

static char dir[256];

static void make_dir(void) { tempdir_make(dir, sizeof dir, "ckpt"); }

static void remove_dir(void) { tempdir_remove(dir); }

TestSuite(checkpoint, .init = make_dir, .fini = remove_dir);
TestSuite(patcher, .init = make_dir, .fini = remove_dir);
TestSuite(inspect, .init = make_dir, .fini = remove_dir);

static const char *in_dir(const char *name) { return tempdir_file(dir, name); }

static const char RECIPE[] = "name: test\ndata:\n  path: generated\n  lookback: 96\n"
                             "levels:\n  - patching: learned\n    rate: 8\n  - rate: 2\n";

enum { QKV_OK, QKV_WIDER, EXTRA_TENSOR, FEWER_TENSORS };

/* A small model with the shapes and names of the real ones. */
static void declare(rp_params *P, int variant) {
    rp_error err;
    params_init(P);
    int conv[3] = {16, 2, 5};
    cr_assert_neq(params_declare(P, "levels/0/policy/conv0/w", 3, conv, &err), (size_t)-1);
    params_declare1(P, "levels/0/policy/conv0/b", 16, &err);
    params_declare2(P, "levels/0/policy/out/w", 1, 16, &err);
    params_declare2(P, "levels/0/tokens/proj/w", 16, 16, &err);
    params_declare2(P, "levels/1/policy/conv0/w", 8, 12, &err);
    params_declare2(P, "backbone/layers/0/attn/w_qkv", 16, variant == QKV_WIDER ? 32 : 48, &err);
    params_declare1(P, "backbone/layers/0/attn/b_qkv", 48, &err);
    int bn[1] = {16};
    params_declare_buffer(P, "backbone/layers/0/norm1/running_mean", 1, bn, &err);
    if (variant != FEWER_TENSORS) params_declare2(P, "head/w", 96, 256, &err);
    if (variant == EXTRA_TENSOR) params_declare1(P, "head/b", 96, &err);
    cr_assert_eq(params_alloc(P, &err), 0, "%s", err.msg);
}

/* Every bit pattern a float slab can carry, including the awkward ones. */
static void fill(float *x, size_t n, uint64_t seed) {
    rp_rng r;
    rng_seed(&r, seed, 0);
    for (size_t i = 0; i < n; i++) x[i] = (float)rng_normal(&r);
    if (n > 4) {
        x[0] = -0.0f;
        x[1] = 1e-42f; /* subnormal */
        x[2] = FLT_MAX;
        x[3] = -FLT_MIN;
    }
}

static void fill_params(rp_params *P, uint64_t seed) {
    fill(P->value, P->total, seed);
    fill(P->adam_m, P->total, seed + 1);
    fill(P->adam_v, P->total, seed + 2);
    for (size_t i = 0; i < P->total; i++) P->adam_v[i] = fabsf(P->adam_v[i]); /* a second moment */
}

static double MEAN[3] = {1.5, -2.25, 1e300}, STD[3] = {0.5, 3.0, 4.9e-324};

static rp_run_state make_state(void) {
    rp_run_state s;
    memset(&s, 0, sizeof s);
    s.step = 123456789012LL;
    s.epoch = 7;
    s.best_val = 0.1 + 0.2;
    s.best_epoch = 5;
    s.epochs_since_best = 2;
    rng_seed(&s.rng, 2021, 3);
    for (int i = 0; i < 5; i++) rng_next(&s.rng);
    s.n_channels = 3;
    s.mean = MEAN;
    s.std = STD;
    s.recipe_text = (char *)RECIPE;
    return s;
}

static void save_good(const char *path, rp_params *P, float **best) {
    rp_error err;
    declare(P, QKV_OK);
    fill_params(P, 11);
    *best = malloc(P->total * sizeof(float));
    fill(*best, P->total, 99);
    rp_run_state s = make_state();
    cr_assert_eq(checkpoint_save(path, P, &s, *best, &err), 0, "%s", err.msg);
}

/* Loading path into a model declared as `variant` fails with a message containing want, and
 * neither the file nor the model changes. */
static void expect_load_failure(const char *path, int variant, const char *want) {
    size_t n0, n1;
    char *before = slurp_size(path, &n0);
    rp_params P;
    declare(&P, variant);
    fill_params(&P, 5);
    float *copy = malloc(P.total * sizeof(float));
    memcpy(copy, P.value, P.total * sizeof(float));
    rp_run_state s = make_state();
    rp_run_state s0 = s;
    rp_error err = {{0}};
    cr_assert_eq(checkpoint_load(path, &P, &s, NULL, NULL, &err), -1);
    cr_assert(strstr(err.msg, want), "message '%s' does not contain '%s'", err.msg, want);
    cr_assert(strstr(err.msg, path), "message '%s' does not name the file", err.msg);
    cr_assert_eq(memcmp(copy, P.value, P.total * sizeof(float)), 0, "model changed on failure");
    cr_assert_eq(memcmp(&s, &s0, sizeof s), 0, "run state changed on failure");
    char *after = slurp_size(path, &n1);
    cr_assert_eq(n0, n1);
    cr_assert_eq(memcmp(before, after, n0), 0, "file changed on a failed load");
    free(before);
    free(after);
    free(copy);
    params_free(&P);
}

/* ---- checkpoint ---- */

Test(checkpoint, round_trip_is_bit_exact) {
    const char *path = in_dir("ckpt.h5");
    rp_params P, Q;
    float *best;
    save_good(path, &P, &best);
    rp_run_state s = make_state();

    declare(&Q, QKV_OK);
    float *best2 = calloc(Q.total, sizeof(float));
    rp_run_state t;
    memset(&t, 0, sizeof t);
    int has_best = -1;
    rp_error err;
    cr_assert_eq(checkpoint_load(path, &Q, &t, best2, &has_best, &err), 0, "%s", err.msg);
    cr_assert_eq(has_best, 1);
    size_t bytes = P.total * sizeof(float);
    cr_assert_eq(memcmp(P.value, Q.value, bytes), 0);
    cr_assert_eq(memcmp(P.adam_m, Q.adam_m, bytes), 0);
    cr_assert_eq(memcmp(P.adam_v, Q.adam_v, bytes), 0);
    cr_assert_eq(memcmp(best, best2, bytes), 0);
    cr_assert_eq(t.step, s.step);
    cr_assert_eq(t.epoch, s.epoch);
    cr_assert_eq(memcmp(&t.best_val, &s.best_val, sizeof(double)), 0);
    cr_assert_eq(t.best_epoch, s.best_epoch);
    cr_assert_eq(t.epochs_since_best, s.epochs_since_best);
    cr_assert_eq(memcmp(&t.rng, &s.rng, sizeof s.rng), 0);
    cr_assert_eq(t.n_channels, 3);
    cr_assert_eq(memcmp(t.mean, MEAN, sizeof MEAN), 0);
    cr_assert_eq(memcmp(t.std, STD, sizeof STD), 0);
    cr_assert_str_eq(t.recipe_text, RECIPE);
    /* The restored generator continues the same stream. */
    cr_assert_eq(rng_next(&t.rng), rng_next(&s.rng));

    char *text = NULL;
    cr_assert_eq(checkpoint_read_recipe(path, &text, &err), 0, "%s", err.msg);
    cr_assert_str_eq(text, RECIPE);
    free(text);

    /* Documented root attributes. */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    char *kind, *lib;
    int version;
    cr_assert_eq(h5_read_attr_string(f, "reinpatch_kind", &kind, &err), 0);
    cr_assert_str_eq(kind, "checkpoint");
    cr_assert_eq(h5_read_attr_string(f, "library_version", &lib, &err), 0);
    cr_assert_str_eq(lib, RP_LIBRARY_VERSION);
    cr_assert_eq(h5_read_attr_int(f, "format_version", &version, &err), 0);
    cr_assert_eq(version, 1);
    cr_assert(h5_exists(f, "/params/backbone/layers/0/attn/w_qkv"));
    cr_assert(h5_exists(f, "/adam_v/levels/0/policy/conv0/w"));
    cr_assert(h5_exists(f, "/best/head/w"));
    H5Fclose(f);
    free(kind);
    free(lib);

    checkpoint_state_free(&t);
    free(best);
    free(best2);
    params_free(&P);
    params_free(&Q);
}

Test(checkpoint, without_best_weights) {
    const char *path = in_dir("ckpt.h5");
    rp_params P, Q;
    rp_error err;
    declare(&P, QKV_OK);
    fill_params(&P, 3);
    rp_run_state s = make_state();
    cr_assert_eq(checkpoint_save(path, &P, &s, NULL, &err), 0, "%s", err.msg);
    declare(&Q, QKV_OK);
    float *best = calloc(Q.total, sizeof(float));
    rp_run_state t;
    memset(&t, 0, sizeof t);
    int has_best = -1;
    cr_assert_eq(checkpoint_load(path, &Q, &t, best, &has_best, &err), 0, "%s", err.msg);
    cr_assert_eq(has_best, 0);
    for (size_t i = 0; i < Q.total; i++) cr_assert_eq(best[i], 0.0f);
    cr_assert_eq(memcmp(P.value, Q.value, P.total * sizeof(float)), 0);
    checkpoint_state_free(&t);
    free(best);
    params_free(&P);
    params_free(&Q);
}

/* A mid-epoch checkpoint keeps the epoch's running sums bit for bit (NaN sign agreement
 * included); at an epoch's end none are written, and a damaged sum is refused. */
Test(checkpoint, epoch_sums_round_trip) {
    const char *path = in_dir("mid.h5");
    rp_params P, Q;
    rp_error err = {{0}};
    declare(&P, QKV_OK);
    fill_params(&P, 3);
    rp_run_state s = make_state();
    s.step_in_epoch = 4;
    s.sums = (rp_epoch_sums){.present = 1, .loss = 0.1 + 0.2, .windows = 128, .seconds = 1.5, .policy_seconds = 0.25,
                             .mean_reward = -0.7, .advantage_spread = 3.1, .sign_agreement = NAN, .sign_pairs = 17,
                             .n_levels = 2, .entropy = {1.0 / 3, 2.0 / 3}, .patch_len_mean = {8, 16},
                             .patch_len_std = {0.5, 1e-300}, .cuts_off_uniform = {0.125, 0}};
    cr_assert_eq(checkpoint_save(path, &P, &s, NULL, &err), 0, "%s", err.msg);
    declare(&Q, QKV_OK);
    rp_run_state t;
    memset(&t, 0, sizeof t);
    cr_assert_eq(checkpoint_load(path, &Q, &t, NULL, NULL, &err), 0, "%s", err.msg);
    cr_assert(t.sums.present);
    cr_expect(isnan(t.sums.sign_agreement));
    t.sums.sign_agreement = s.sums.sign_agreement = 0;
    cr_expect_eq(memcmp(&t.sums, &s.sums, sizeof s.sums), 0, "the epoch's sums changed on the way");
    checkpoint_state_free(&t);

    s.step_in_epoch = 0; /* an epoch's end: nothing to continue */
    cr_assert_eq(checkpoint_save(path, &P, &s, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(checkpoint_load(path, &Q, &t, NULL, NULL, &err), 0, "%s", err.msg);
    cr_expect_eq(t.sums.present, 0);
    checkpoint_state_free(&t);

    s.step_in_epoch = 4;
    s.sums.loss = INFINITY;
    cr_assert_eq(checkpoint_save(path, &P, &s, NULL, &err), 0, "%s", err.msg);
    expect_load_failure(path, QKV_OK, "/epoch_sums holds a value no epoch sums to");
    params_free(&P);
    params_free(&Q);
}

/* Files in the test directory, hidden ones aside. */
static int count_entries(void) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

Test(checkpoint, overwrite_leaves_no_tmp) {
    const char *path = in_dir("ckpt.h5");
    rp_params P;
    float *best;
    save_good(path, &P, &best);
    rp_run_state s = make_state();
    rp_error err;
    s.step = 2;
    cr_assert_eq(checkpoint_save(path, &P, &s, best, &err), 0, "%s", err.msg);
    cr_assert_eq(count_entries(), 1, "expected only ckpt.h5 in %s", dir);
    free(best);
    params_free(&P);
}

Test(checkpoint, missing_file) {
    rp_params P;
    declare(&P, QKV_OK);
    rp_run_state s = make_state();
    rp_error err;
    const char *path = in_dir("nope.h5");
    cr_assert_eq(checkpoint_load(path, &P, &s, NULL, NULL, &err), -1);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "No such file"), "%s", err.msg);
    params_free(&P);
}

Test(checkpoint, not_hdf5) {
    const char *path = in_dir("x.h5");
    const char text[] = "step,loss\n1,0.5\n";
    write_bytes(path, text, sizeof text - 1);
    char want[700];
    snprintf(want, sizeof want, "%s: not an HDF5 file", path);
    expect_load_failure(path, QKV_OK, want);
}

Test(checkpoint, truncated) {
    const char *good = in_dir("good.h5"), *path = in_dir("cut.h5");
    rp_params P;
    float *best;
    save_good(good, &P, &best);
    size_t n;
    char *b = slurp_size(good, &n);
    write_bytes(path, b, n / 2);
    expect_load_failure(path, QKV_OK, "truncated");
    /* Cut just after the signature: HDF5 cannot tell truncation from damage. */
    write_bytes(path, b, 40);
    expect_load_failure(path, QKV_OK, "truncated or damaged HDF5 file");
    /* Cut inside the signature: not recognisable as HDF5 at all. */
    write_bytes(path, b, 6);
    expect_load_failure(path, QKV_OK, "not an HDF5 file");
    free(b);
    free(best);
    params_free(&P);
}

Test(checkpoint, newer_format_version) {
    const char *path = in_dir("ckpt.h5");
    rp_params P;
    float *best;
    save_good(path, &P, &best);
    rp_error err;
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    cr_assert_eq(h5_write_attr_int(f, "format_version", 3, &err), 0, "%s", err.msg);
    H5Fclose(f);
    expect_load_failure(path, QKV_OK, "written by format version 3; this build reads up to 1");
    char *text = NULL;
    cr_assert_eq(checkpoint_read_recipe(path, &text, &err), -1);
    cr_assert(strstr(err.msg, "format version 3"), "%s", err.msg);
    free(best);
    params_free(&P);
}

/* Sets one integer (or double) attribute of a good checkpoint, as a hand edit would. */
static void set_attr(const char *path, const char *name, long long v, double d) {
    rp_error err;
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    int rc = !strcmp(name, "best_val") ? h5_write_attr_double(f, name, d, &err)
             : !strcmp(name, "step")   ? h5_write_attr_int64(f, name, v, &err)
                                       : h5_write_attr_int(f, name, (int)v, &err);
    cr_assert_eq(rc, 0, "%s", err.msg);
    H5Fclose(f);
}

/* Counters a run cannot reach are refused: the epoch -5 trained from epoch -5. */
Test(checkpoint, run_counters_range_checked) {
    const char *path = in_dir("ckpt.h5");
    struct { const char *name; long long v; double d; const char *want; } cases[] = {
        {"epoch", -5, 0, "negative run counter"},
        {"step", -1, 0, "negative run counter"},
        {"step_in_epoch", -2, 0, "negative run counter"},
        {"epochs_since_best", -1, 0, "negative run counter"},
        {"best_epoch", 7, 0, "best_epoch 7 / epochs_since_best 2 do not fit epoch 7"},
        {"epochs_since_best", 8, 0, "do not fit epoch 7"},
        {"best_val", 0, NAN, "best_val nan is not a loss"},
        {"best_val", 0, -1.0, "best_val -1 is not a loss"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rp_params P;
        float *best;
        save_good(path, &P, &best);
        set_attr(path, cases[i].name, cases[i].v, cases[i].d);
        expect_load_failure(path, QKV_OK, cases[i].want);
        free(best);
        params_free(&P);
    }
}

/* A NaN or an infinity in any slab is refused with the tensor's name and group (the run
 * with NaN best weights wrote "mse": nan into metrics.json). */
Test(checkpoint, nonfinite_values_name_the_tensor) {
    const char *path = in_dir("ckpt.h5");
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++) {
        rp_params P;
        float *best;
        declare(&P, QKV_OK);
        fill_params(&P, 11);
        best = malloc(P.total * sizeof(float));
        fill(best, P.total, 99);
        const rp_tensor_info *t = &P.tensors[P.n_tensors - 1];
        best[t->offset + t->count - 1] = bad[k];
        rp_run_state s = make_state();
        rp_error err;
        cr_assert_eq(checkpoint_save(path, &P, &s, best, &err), 0, "%s", err.msg);
        char want[300];
        snprintf(want, sizeof want, "tensor '%s' in /best holds NaN or infinite values", t->name);
        /* Loading without a best slab reads no /best: only a load that wants it is refused. */
        rp_params Q;
        declare(&Q, QKV_OK);
        float *best2 = calloc(Q.total, sizeof(float));
        rp_run_state u = make_state();
        cr_assert_eq(checkpoint_load(path, &Q, &u, best2, NULL, &err), -1);
        cr_assert(strstr(err.msg, want), "'%s' lacks '%s'", err.msg, want);
        /* In the weights themselves. */
        P.value[P.tensors[0].offset] = bad[k];
        cr_assert_eq(checkpoint_save(path, &P, &s, NULL, &err), 0, "%s", err.msg);
        snprintf(want, sizeof want, "tensor '%s' in /params holds NaN or infinite values", P.tensors[0].name);
        expect_load_failure(path, QKV_OK, want);
        free(best2);
        params_free(&Q);
        free(best);
        params_free(&P);
    }
}

/* A write that fails part-way (here: the file size limit, as a full disk would) fails with one
 * line, leaves no temporary file and keeps the previous checkpoint whole. */
Test(checkpoint, failed_write_keeps_the_old_file) {
    const char *path = in_dir("ckpt.h5");
    rp_params P;
    float *best;
    save_good(path, &P, &best);
    size_t n0;
    char *before = slurp_size(path, &n0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN); /* then write() fails with EFBIG instead of killing */
        struct rlimit lim = {.rlim_cur = 4096, .rlim_max = 4096};
        setrlimit(RLIMIT_FSIZE, &lim);
        rp_run_state s = make_state();
        s.step = 2;
        rp_error err = {{0}};
        int rc = checkpoint_save(path, &P, &s, best, &err);
        /* Exit 3: refused with a message naming the file and no newline. */
        _exit(rc == -1 && strstr(err.msg, path) && !strchr(err.msg, '\n') ? 3 : 1);
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 3, "status %d", ws);
    size_t n1;
    char *after = slurp_size(path, &n1);
    cr_assert(n0 == n1 && memcmp(before, after, n0) == 0, "the old checkpoint changed");
    cr_assert_eq(count_entries(), 1, "a temporary file was left in %s", dir);
    free(before);
    free(after);
    free(best);
    params_free(&P);
}

/* A model that declares other tensors than the file holds: the load fails, names the file and the
 * tensor, and changes nothing. */
typedef struct mismatch {
    int variant;
    char want[120];
} mismatch;

ParameterizedTestParameters(checkpoint, mismatched_model_is_refused) {
    static mismatch cases[] = {
        {QKV_WIDER, "tensor 'backbone/layers/0/attn/w_qkv' has shape [16 x 48] in the file, the model declares "
                    "[16 x 32]"},
        {EXTRA_TENSOR, "tensor 'head/b' is declared by the model but missing from /params"},
        {FEWER_TENSORS, "tensor 'head/w' (in /params) is not declared by the model"},
    };
    return cr_make_param_array(mismatch, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(mismatch *c, checkpoint, mismatched_model_is_refused) {
    const char *path = in_dir("ckpt.h5");
    rp_params P;
    float *best;
    save_good(path, &P, &best);
    expect_load_failure(path, c->variant, c->want);
    free(best);
    params_free(&P);
}

static void save_patcher(const char *path, rp_params *P, rp_recipe *r, int lookback) {
    rp_error err;
    declare(P, QKV_OK);
    fill_params(P, 21);
    memset(r, 0, sizeof *r);
    r->text = (char *)RECIPE;
    r->data.lookback = lookback;
    r->n_levels = 2;
    for (int i = 0; i < 2; i++) {
        rp_level_recipe *l = &r->levels[i];
        l->patching = i == 0 ? PATCHING_LEARNED : PATCHING_RANDOM;
        l->rate = i == 0 ? 8.0 : 2.5;
        l->patch_len = 16 + i;
        l->min_len = i;
        l->max_len = 30 + i;
        l->group_size = 4 + i;
        l->policy_channels = 16 - i;
        l->policy_kernel = 5 + 2 * i;
        l->policy_layers = 2 + i;
        l->prior_scale = 2.0 / 3.0;
        l->policy_position = i == 0;
        l->trainable = i == 0;
        l->tokens = i == 0 ? TOKENS_RAW : TOKENS_POOLED;
    }
    cr_assert_eq(patcher_save(path, P, r, &err), 0, "%s", err.msg);
}

Test(checkpoint, wrong_kind) {
    const char *path = in_dir("p.h5");
    rp_params P;
    rp_recipe r;
    save_patcher(path, &P, &r, 96);
    char want[700];
    snprintf(want, sizeof want, "%s is a patcher file, not a checkpoint", path);
    expect_load_failure(path, QKV_OK, want);
    params_free(&P);
}

Test(checkpoint, not_a_reinpatch_file) {
    const char *path = in_dir("plain.h5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    expect_load_failure(path, QKV_OK, "not a reinpatch file");
}

/* All values of a checkpoint written by the killed writer encode its step, so a torn mixture of
 * two saves would show. */
static void fill_step(rp_params *P, long long step) {
    for (size_t i = 0; i < P->total; i++) {
        P->value[i] = (float)step;
        P->adam_m[i] = (float)-step;
        P->adam_v[i] = (float)(2 * step);
    }
}

Test(checkpoint, survives_sigkill_during_save) {
    const char *path = in_dir("ckpt.h5");
    rp_params P, Q;
    rp_error err;
    declare(&P, QKV_OK);
    declare(&Q, QKV_OK);
    rp_run_state s = make_state();
    s.step = 0;
    fill_step(&P, 0);
    cr_assert_eq(checkpoint_save(path, &P, &s, NULL, &err), 0, "%s", err.msg);

    /* The writer reports each completed save's step through a pipe; the parent lets it finish
     * 0 to 2 saves, then kills it a few pseudo-random milliseconds later, mostly in the middle
     * of the next save (one save takes a few ms, mostly fsync). */
    rp_rng r;
    rng_seed(&r, 4242, 0);
    long long last = 0;
    int torn_tmp = 0;
    for (int round = 1; round <= 20; round++) {
        int fds[2];
        cr_assert_eq(pipe(fds), 0);
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            for (long long i = 1;; i++) {
                s.step = round * 1000000LL + i;
                fill_step(&P, s.step);
                if (checkpoint_save(path, &P, &s, NULL, &err) != 0) _exit(3);
                if (write(fds[1], &s.step, sizeof s.step) != sizeof s.step) _exit(4);
            }
        }
        close(fds[1]);
        long long completed = last;
        int wait_saves = (int)rng_below(&r, 3);
        for (int k = 0; k < wait_saves; k++)
            cr_assert_eq(read(fds[0], &completed, sizeof completed), (ssize_t)sizeof completed);
        struct timespec ts = {0, (long)rng_below(&r, 6000) * 1000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        close(fds[0]);
        cr_assert(WIFSIGNALED(status), "writer exited on its own (status %d)", status);
        char tmp[700];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)pid);
        torn_tmp += access(tmp, F_OK) == 0;

        rp_run_state t;
        memset(&t, 0, sizeof t);
        cr_assert_eq(checkpoint_load(path, &Q, &t, NULL, NULL, &err), 0, "round %d: %s", round,
                     err.msg);
        cr_assert_geq(t.step, completed, "round %d: a completed save (step %lld) was lost, "
                      "found step %lld", round, completed, t.step);
        cr_assert_geq(t.step, last, "round %d: step went back from %lld to %lld", round, last,
                      t.step);
        last = t.step;
        for (int k = 0; k < Q.n_tensors; k++) {
            const rp_tensor_info *ti = &Q.tensors[k];
            for (size_t i = ti->offset; i < ti->offset + ti->count; i++) {
                cr_assert_eq(Q.value[i], (float)t.step, "round %d: torn values", round);
                cr_assert_eq(Q.adam_m[i], (float)-t.step, "round %d: torn adam_m", round);
                cr_assert_eq(Q.adam_v[i], (float)(2 * t.step), "round %d: torn adam_v", round);
            }
        }
        checkpoint_state_free(&t);
    }
    cr_assert_gt(last, 0, "no save ever completed");
    cr_log_info("kill-safety: last step %lld; %d of 20 kills left a temporary file behind", last,
                torn_tmp);
    params_free(&P);
    params_free(&Q);
}

/* ---- patcher ---- */

Test(patcher, round_trip) {
    const char *path = in_dir("p.h5");
    rp_params P, Q;
    rp_recipe r, back;
    rp_error err;
    save_patcher(path, &P, &r, 96);

    memset(&back, 0, sizeof back);
    back.data.horizon = 720;
    cr_assert_eq(patcher_load_recipe(path, &back, &err), 0, "%s", err.msg);
    cr_assert_eq(back.n_levels, 2);
    cr_assert_eq(back.data.lookback, 96);
    cr_assert_eq(back.data.horizon, 720, "fields outside the level stack are untouched");
    for (int i = 0; i < 2; i++) {
        const rp_level_recipe *a = &r.levels[i], *b = &back.levels[i];
        cr_assert_eq(a->patching, b->patching);
        cr_assert_eq(memcmp(&a->rate, &b->rate, sizeof(double)), 0);
        cr_assert_eq(a->patch_len, b->patch_len);
        cr_assert_eq(a->min_len, b->min_len);
        cr_assert_eq(a->max_len, b->max_len);
        cr_assert_eq(a->group_size, b->group_size);
        cr_assert_eq(a->policy_channels, b->policy_channels);
        cr_assert_eq(a->policy_kernel, b->policy_kernel);
        cr_assert_eq(a->policy_layers, b->policy_layers);
        cr_assert_eq(memcmp(&a->prior_scale, &b->prior_scale, sizeof(double)), 0);
        cr_assert_eq(a->policy_position, b->policy_position, "level %d: policy.position", i);
        cr_assert_eq(a->trainable, b->trainable);
        cr_assert_eq(a->tokens, b->tokens);
    }

    declare(&Q, QKV_OK);
    fill_params(&Q, 77);
    rp_params Q0;
    declare(&Q0, QKV_OK);
    fill_params(&Q0, 77);
    cr_assert_eq(patcher_load_params(path, &Q, &err), 0, "%s", err.msg);
    int policies = 0;
    for (int k = 0; k < Q.n_tensors; k++) {
        const rp_tensor_info *t = &Q.tensors[k];
        const float *want = patcher_is_policy_tensor(t->name) ? P.value : Q0.value;
        policies += patcher_is_policy_tensor(t->name);
        cr_assert_eq(memcmp(Q.value + t->offset, want + t->offset, t->count * sizeof(float)), 0,
                     "tensor %s", t->name);
    }
    cr_assert_eq(policies, 4);
    cr_assert_eq(memcmp(Q.adam_m, Q0.adam_m, Q.total * sizeof(float)), 0);

    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(h5_exists(f, "/params/levels/1/policy/conv0/w"));
    cr_assert(!h5_exists(f, "/params/levels/0/tokens"));
    cr_assert(!h5_exists(f, "/params/backbone"));
    H5Fclose(f);
    char *text;
    cr_assert_eq(patcher_read_recipe(path, &text, &err), 0, "%s", err.msg);
    cr_assert_str_eq(text, RECIPE);
    free(text);
    params_free(&P);
    params_free(&Q);
    params_free(&Q0);
}

/* A patcher written before policy.position existed has no policy_position attribute: it loads
 * with the position feature off (its policy weights were shaped without it). */
Test(patcher, file_without_policy_position_loads_as_off) {
    const char *path = in_dir("old.h5");
    rp_params P;
    rp_recipe r, back;
    rp_error err;
    save_patcher(path, &P, &r, 96);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t g = H5Gopen2(f, "/levels/0", H5P_DEFAULT);
    cr_assert_gt(H5Aexists(g, "policy_position"), 0, "the writer stores policy_position");
    cr_assert_geq(H5Adelete(g, "policy_position"), 0);
    H5Gclose(g);
    H5Fclose(f);
    memset(&back, 0, sizeof back);
    back.levels[0].policy_position = true;
    cr_assert_eq(patcher_load_recipe(path, &back, &err), 0, "%s", err.msg);
    cr_assert(!back.levels[0].policy_position);
    params_free(&P);
}

Test(patcher, policy_tensor_names) {
    cr_assert(patcher_is_policy_tensor("levels/0/policy"));
    cr_assert(patcher_is_policy_tensor("levels/12/policy/conv0/w"));
    cr_assert(!patcher_is_policy_tensor("levels/0/policy_extra/w"));
    cr_assert(!patcher_is_policy_tensor("levels/0/tokens/proj/w"));
    cr_assert(!patcher_is_policy_tensor("levels/x/policy/w"));
    cr_assert(!patcher_is_policy_tensor("backbone/levels/0/policy"));
}

Test(patcher, different_lookback) {
    const char *path = in_dir("p.h5");
    rp_params P;
    rp_recipe r;
    rp_error err;
    save_patcher(path, &P, &r, 96);
    size_t n0, n1;
    char *before = slurp_size(path, &n0);
    cr_assert_eq(patcher_check_lookback(path, 96, &err), 0, "%s", err.msg);
    cr_assert_eq(patcher_check_lookback(path, 512, &err), -1);
    char want[800];
    snprintf(want, sizeof want,
             "%s: patcher was built for lookback 96, but the recipe's data.lookback is 512",
             path);
    cr_assert_str_eq(err.msg, want);
    char *after = slurp_size(path, &n1);
    cr_assert(n0 == n1 && memcmp(before, after, n0) == 0);
    free(before);
    free(after);
    params_free(&P);
}

Test(patcher, shape_mismatch_and_wrong_kind) {
    const char *path = in_dir("p.h5"), *ck = in_dir("c.h5");
    rp_params P, Q;
    rp_recipe r;
    rp_error err;
    save_patcher(path, &P, &r, 96);
    params_init(&Q);
    params_declare2(&Q, "levels/0/policy/conv0/w", 16, 10, &err);
    params_alloc(&Q, &err);
    cr_assert_eq(patcher_load_params(path, &Q, &err), -1);
    /* The file's other policy tensors are not in Q. */
    cr_assert(strstr(err.msg, "is not declared by the model"), "%s", err.msg);
    params_free(&Q);

    params_init(&Q);
    int conv[3] = {16, 2, 7};
    params_declare(&Q, "levels/0/policy/conv0/w", 3, conv, &err);
    params_declare1(&Q, "levels/0/policy/conv0/b", 16, &err);
    params_declare2(&Q, "levels/0/policy/out/w", 1, 16, &err);
    params_declare2(&Q, "levels/1/policy/conv0/w", 8, 12, &err);
    params_alloc(&Q, &err);
    cr_assert_eq(patcher_load_params(path, &Q, &err), -1);
    cr_assert(strstr(err.msg, "tensor 'levels/0/policy/conv0/w' has shape [16 x 2 x 5] in the "
                              "patcher, the model declares [16 x 2 x 7]"), "%s", err.msg);
    for (size_t i = 0; i < Q.total; i++) cr_assert_eq(Q.value[i], 0.0f);
    params_free(&Q);

    rp_run_state s = make_state();
    cr_assert_eq(checkpoint_save(ck, &P, &s, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(patcher_load_params(ck, &P, &err), -1);
    char want[800];
    snprintf(want, sizeof want, "%s is a checkpoint, not a patcher file", ck);
    cr_assert_str_eq(err.msg, want);
    rp_recipe back;
    memset(&back, 0, sizeof back);
    cr_assert_eq(patcher_load_recipe(ck, &back, &err), -1);
    cr_assert_eq(back.n_levels, 0);
    params_free(&P);
}

/* ---- inspect ---- */

static char *inspect_to_string(const char *path, int expect_rc, rp_error *err) {
    char *buf = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&buf, &n);
    cr_assert_eq(h5_inspect(path, out, err), expect_rc, "%s", err->msg);
    fclose(out);
    return buf;
}

Test(inspect, checkpoint_and_patcher) {
    const char *ck = in_dir("c.h5"), *pa = in_dir("p.h5");
    rp_params P;
    float *best;
    rp_recipe r;
    rp_error err;
    save_good(ck, &P, &best);
    char *s = inspect_to_string(ck, 0, &err);
    cr_assert(strstr(s, "a checkpoint, format version 1, written by reinpatch 0.1.0"), "%s", s);
    /* best_epoch is stored 0-based (5): inspect prints it 1-based, as metrics.json does. */
    cr_assert(strstr(s, "step 123456789012, epochs completed 7, best validation loss 0.3 at epoch 6 "
                        "(2 epochs ago)"),
              "%s", s);
    cr_assert(strstr(s, "levels/0/policy"), "%s", s);
    cr_assert(strstr(s, "levels/0/tokens"), "%s", s);
    cr_assert(strstr(s, "backbone"), "%s", s);
    cr_assert(strstr(s, "24576"), "%s", s);
    cr_assert(strstr(s, "best weights: present"), "%s", s);
    cr_assert(strstr(s, "  | name: test"), "%s", s);
    free(s);
    params_free(&P);
    free(best);

    save_patcher(pa, &P, &r, 96);
    s = inspect_to_string(pa, 0, &err);
    cr_assert(strstr(s, "a patcher file"), "%s", s);
    cr_assert(strstr(s, "lookback 96, 2 levels"), "%s", s);
    cr_assert(strstr(s, "level 1: random, rate 2.5"), "%s", s);
    cr_assert(!strstr(s, "backbone"), "%s", s);
    free(s);
    params_free(&P);

    const char *bad = in_dir("bad.h5");
    write_bytes(bad, "hello", 5);
    s = inspect_to_string(bad, -1, &err);
    cr_assert(strstr(err.msg, "not an HDF5 file"), "%s", err.msg);
    free(s);
}
