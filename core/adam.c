#include "core/adam.h"

#include <math.h>
#include <string.h>

static int under_prefix(const char *name, const char *prefix, size_t len) {
    if (len == 0) return 1;
    if (strncmp(name, prefix, len) != 0) return 0;
    return name[len] == '\0' || name[len] == '/' || prefix[len - 1] == '/';
}

void adam_update(rp_params *P, const char *prefix, float lr, float beta1, float beta2, float eps,
                 float weight_decay, int decoupled, long long step) {
    if (step < 1) step = 1;
    const double bc1 = 1.0 - pow((double)beta1, (double)step);
    const double bc2 = 1.0 - pow((double)beta2, (double)step);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = decoupled ? 1.0f - lr * weight_decay : 1.0f;
    const float l2 = decoupled ? 0.0f : weight_decay;
    const size_t len = strlen(prefix);
    for (int k = 0; k < P->n_tensors; k++) {
        const rp_tensor_info *t = &P->tensors[k];
        if (!t->trainable || !under_prefix(t->name, prefix, len)) continue;
        float *w = P->value + t->offset, *g = P->grad + t->offset;
        float *m = P->adam_m + t->offset, *v = P->adam_v + t->offset;
        for (size_t i = 0; i < t->count; i++) {
            float gi = g[i] + l2 * w[i];
            w[i] *= decay;
            m[i] = beta1 * m[i] + (1.0f - beta1) * gi;
            v[i] = beta2 * v[i] + (1.0f - beta2) * gi * gi;
            w[i] -= step_size * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
        }
    }
}

/* torch's _annealing_cos: from start (pct = 0) to end (pct = 1) along half a cosine. */
static double anneal_cos(double start, double end, double pct) {
    return end + (start - end) / 2.0 * (cos(3.14159265358979323846 * pct) + 1.0);
}

/* OneCycleLR's two phases: warm-up ends at step pct_start·total − 1 (a float, as in torch), the
 * anneal at total − 1. Returns the phase-interpolated value between the given endpoints. */
static double onecycle(double total, double s, double pct_start, double v0, double v1, double v2) {
    double end1 = pct_start * total - 1.0, end2 = total - 1.0;
    if (s <= end1) {
        double pct = end1 > 0.0 ? s / end1 : 1.0;
        return anneal_cos(v0, v1, pct);
    }
    double pct = end2 > end1 ? (s - end1) / (end2 - end1) : 1.0;
    return anneal_cos(v1, v2, pct);
}

float lr_schedule(rp_schedule kind, double base_lr, int epoch, int step_in_epoch, int steps_per_epoch,
                  int epochs, double pct_start) {
    switch (kind) {
    case SCHEDULE_TYPE3:
        if (epoch <= 0) return (float)(base_lr / 25.0);
        if (epoch <= 3) return (float)base_lr;
        return (float)(base_lr * pow(0.9, (double)(epoch - 3)));
    case SCHEDULE_ONECYCLE: {
        double total = (double)epochs * steps_per_epoch;
        double s = (double)epoch * steps_per_epoch + step_in_epoch;
        if (s > total - 1.0) s = total - 1.0;
        if (s < 0.0) s = 0.0;
        double initial = base_lr / 25.0, min_lr = initial / 1e4;
        return (float)onecycle(total, s, pct_start, initial, base_lr, min_lr);
    }
    case SCHEDULE_CONSTANT:
    default:
        return (float)base_lr;
    }
}
