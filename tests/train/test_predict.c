/* train/predict: the maps between a series' original units and the model's z-scored units. */
#include <criterion/criterion.h>

#include "train/predict.h"

Test(predict, denormalize_formula) {
    /* z-scored forecast (C=2 channels × H=3, channel-major) back to original units (H × C). */
    const float z[6] = {0, 1, -2, 0.5f, -1, 3};
    const double mean[2] = {5000, -20}, std[2] = {100, 0.5};
    float out[6];
    predict_denormalize(z, 2, 3, mean, std, out);
    const float want[6] = {5000, -19.75f, 5100, -20.5f, 4800, -18.5f};
    for (int i = 0; i < 6; i++) cr_expect_float_eq(out[i], want[i], 1e-3, "out[%d] = %g", i, out[i]);
    /* normalise then de-normalise is the identity */
    const float v[8] = {5100, -20, 4900, -21, 5000, -19.5f, 5050, -20.25f}; /* 4 rows × 2 */
    float x[6], back[6];
    predict_normalize(v, 2, 1, 3, mean, std, x); /* rows 1..3 */
    cr_expect_float_eq(x[0], -1.0f, 1e-6);       /* (4900 - 5000) / 100 */
    cr_expect_float_eq(x[3], -2.0f, 1e-6);       /* (-21 + 20) / 0.5 */
    predict_denormalize(x, 2, 3, mean, std, back);
    for (int t = 0; t < 3; t++)
        for (int c = 0; c < 2; c++) cr_expect_float_eq(back[t * 2 + c], v[(t + 1) * 2 + c], 1e-3);
}
