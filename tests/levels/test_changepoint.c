/* Changepoint patching: exactly K patches, boundaries on known level shifts, min_len respected. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "core/rng.h"
#include "levels/changepoint.h"
#include "levels/sampler.h"

enum { L = 336 };
static const int shifts[4] = {60, 130, 200, 270};

/* Invented series: a level that jumps by ±2 at each shift, plus small Gaussian noise. */
static void shifted_series(float *x, unsigned long long seed) {
    rp_rng r;
    rng_seed(&r, seed, 0);
    double level = 0.0;
    for (int t = 0, s = 0; t < L; t++) {
        if (s < 4 && t == shifts[s]) level += (s % 2 ? -2.0 : 2.0), s++;
        x[t] = (float)(level + 0.1 * rng_normal(&r));
    }
}

static void segment(const float *x, int K, int min_len, int *starts) {
    rp_seg_spec spec;
    rp_error err = {{0}};
    cr_assert_eq(seg_spec_init(&spec, L, K, min_len, 0, &err), 0, "%s", err.msg);
    float values[L], scores[L];
    void *work = malloc(seg_workspace_bytes(&spec));
    changepoint_segment(&spec, x, L, NULL, values, scores, starts, work);
    cr_assert_eq(seg_check(&spec, starts, &err), 0, "%s", err.msg);
    free(work);
}

Test(changepoint, boundaries_on_known_level_shifts) {
    float x[L];
    for (unsigned long long seed = 1; seed <= 5; seed++) {
        shifted_series(x, seed);
        int starts[5];
        segment(x, 5, CHANGEPOINT_WINDOW, starts);
        cr_assert_eq(starts[0], 0);
        for (int k = 0; k < 4; k++)
            cr_assert_eq(starts[k + 1], shifts[k], "seed %llu: boundary %d at %d, shift at %d", seed, k + 1,
                         starts[k + 1], shifts[k]);
    }
}

Test(changepoint, exactly_k_patches_and_min_len) {
    float x[L];
    shifted_series(x, 7);
    const int Ks[4] = {42, 21, 12, 6};
    for (int i = 0; i < 4; i++) {
        int K = Ks[i], min_len = L / K / 2, starts[42];
        segment(x, K, min_len, starts); /* seg_check: K strictly increasing starts, lengths >= min_len */
        int found = 0;
        for (int k = 1; k < K; k++)
            for (int s = 0; s < 4; s++) found += starts[k] == shifts[s];
        /* K = 6 has 5 cuts for 4 shifts; every budget finds all four. */
        cr_assert_eq(found, 4, "K=%d: %d of 4 shifts cut", K, found);
    }
}

Test(changepoint, scores_by_hand) {
    /* v = {0, 0, 0, 0, 3, 3, 3, 3}: gap 3 (between units 3 and 4) sees left {0,0,0,0}, right
     * {3,3,3,3}: |3 − 0| / (0 + floor). Gap 1: left {0, 0}, right {0, 0, 3, 3}: mean 1.5, var
     * 2.25 -> 1.5 / (sqrt(2.25 / 2) + floor). */
    const float v[8] = {0, 0, 0, 0, 3, 3, 3, 3};
    float s[7];
    changepoint_scores(v, 8, s);
    cr_assert_float_eq(s[3], 3.0 / CHANGEPOINT_FLOOR, 1e-3);
    cr_assert_float_eq(s[1], 1.5 / (sqrt(2.25 / 2) + CHANGEPOINT_FLOOR), 1e-5);
    for (int j = 0; j < 7; j++)
        if (j != 3) cr_assert(s[j] < s[3]);
}

Test(changepoint, higher_level_units_are_patch_means) {
    float x[12] = {1, 1, 1, 5, 5, 5, 5, 2, 2, 2, 2, 2};
    const int lower[3] = {0, 3, 7};
    float v[3];
    changepoint_unit_values(x, 12, lower, 3, v);
    cr_assert_float_eq(v[0], 1.0, 1e-6);
    cr_assert_float_eq(v[1], 5.0, 1e-6);
    cr_assert_float_eq(v[2], 2.0, 1e-6);
}
