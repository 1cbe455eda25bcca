#include "backbone/stack.h"

#include "core/dist.h"
#include "core/norm.h"

int stack_check_args(const char *prefix, int n_tokens, int d_model, const char *size_name, int size, int n_layers,
                     int max_layers, float dropout, rp_norm_kind norm, rp_error *err) {
    if (n_tokens <= 0 || d_model <= 0 || size <= 0)
        return rp_fail(err, "%s: n_tokens %d, d_model %d and %s %d must be positive", prefix, n_tokens, d_model,
                       size_name, size);
    if (n_layers < 1 || n_layers > max_layers)
        return rp_fail(err, "%s: n_layers %d outside 1..%d", prefix, n_layers, max_layers);
    if (!(dropout >= 0.0f && dropout < 1.0f))
        return rp_fail(err, "%s: dropout %g outside [0, 1)", prefix, (double)dropout);
    if ((unsigned)norm >= RP_NORM_KINDS) return rp_fail(err, "%s: unknown norm kind %d", prefix, (int)norm);
    /* On several ranks batch norm sums over them through norm_*_team (core/norm.h), whose
     * per-feature sums live on the stack. */
    if (norm == NORM_BATCH && dist_size() > 1 && d_model > RP_NORM_TEAM_MAX_DIM)
        return rp_fail(err, "%s: d_model %d above %d, the most batch norm supports on several ranks", prefix, d_model,
                       RP_NORM_TEAM_MAX_DIM);
    return 0;
}
