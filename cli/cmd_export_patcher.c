/* reinpatch export-patcher CHECKPOINT OUT.h5 */
#include <stdio.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "io/patcher_file.h"
#include "train/predict.h"

static const char *export_help =
    "usage: reinpatch export-patcher CHECKPOINT OUT.h5\n"
    "\n"
    "Writes the level stack of a checkpoint (every level's settings and policy weights, the\n"
    "lookback and the recipe) as a standalone patcher file, loadable without a backbone by\n"
    "`reinpatch segment --patcher` or a recipe's levels_from. The weights are those of the best\n"
    "validation epoch when the checkpoint holds them, else the last ones. OUT.h5 is written\n"
    "atomically and replaced if it exists; it may not be the checkpoint itself.\n";

int cmd_export_patcher(int argc, char **argv) {
    const char *ckpt = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(export_help, stdout);
            return 0;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "reinpatch export-patcher: unknown option '%s' (see reinpatch export-patcher --help)\n", a);
            return 2;
        }
        if (!ckpt) ckpt = a;
        else if (!out) out = a;
        else {
            fprintf(stderr, "reinpatch export-patcher: unexpected argument '%s' (give CHECKPOINT OUT.h5)\n", a);
            return 2;
        }
    }
    if (!ckpt || !out) {
        fputs(export_help, stderr);
        return 2;
    }
    if (!strcmp(ckpt, out) || cli_same_file(ckpt, out))
        return cli_fail("export-patcher", out, "is the checkpoint itself: refusing to overwrite it");

    rp_error err = {{0}};
    rp_loaded_model lm;
    if (loaded_model_from_checkpoint(&lm, ckpt, &err)) return cli_fail("export-patcher", ckpt, err.msg);
    int rc = patcher_save(out, &lm.model.P, &lm.recipe, &err);
    int n_levels = lm.recipe.n_levels, lookback = lm.recipe.data.lookback, has_best = lm.has_best;
    size_t n_policy = 0;
    for (int i = 0; i < lm.model.P.n_tensors; i++)
        if (patcher_is_policy_tensor(lm.model.P.tensors[i].name)) n_policy += lm.model.P.tensors[i].count;
    loaded_model_free(&lm);
    if (rc) return cli_fail("export-patcher", out, err.msg);
    printf("wrote %s: %d level%s, lookback %d, %zu policy parameters (%s weights)\n", out, n_levels,
           n_levels == 1 ? "" : "s", lookback, n_policy, has_best ? "best-validation" : "last");
    return 0;
}
