/* reinpatch eval CHECKPOINT [--split val|test] [--data OTHER.csv] [--cuts MODE] [--drop-last N] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/util.h"
#include "train/predict.h"
#include "train/train.h"
#include "train/window_scores.h"

static const char *eval_help =
    "usage: reinpatch eval CHECKPOINT [--split val|test|train] [--data FILE.csv] [--cuts MODE]\n"
    "                      [--drop-last N]\n"
    "\n"
    "Evaluates a checkpoint with the weights of its best validation epoch on every window of a\n"
    "split (greedy segmentation for learned levels) and prints JSON:\n"
    "  {\"checkpoint\": ..., \"data\": ..., \"split\": ..., \"cuts\": ..., \"mse\": ..., \"mae\": ...,\n"
    "   \"windows\": ..., \"cuts_off_uniform\": [per level]} (and \"drop_last\": N with --drop-last)\n"
    "MSE and MAE are in z-scored units, as in training. cuts_off_uniform is the fraction of each\n"
    "level's interior boundaries that are not where fixed patching puts them.\n"
    "\n"
    "  --split S      val, test (default) or train\n"
    "  --data FILE    evaluate on another CSV with the same channel count (or the recipe's\n"
    "                 data.columns); lookback and horizon stay the checkpoint's, the split\n"
    "                 protocol is chosen from the file name (auto), and FILE is z-scored with\n"
    "                 its own train split's statistics\n"
    "  --cuts MODE    cut every level another way, with the same number of patches K:\n"
    "                 greedy (default: the checkpoint's own cuts), uniform (fixed patching's),\n"
    "                 random (a uniformly random segmentation within min_len/max_len), or\n"
    "                 jitter:S (every interior cut of the uniform segmentation moved by a random\n"
    "                 integer in [-S, S], order and length bounds kept). Draws are seeded from the\n"
    "                 recipe's train.seed and the window, so a result repeats exactly.\n"
    "  --drop-last N  score as PatchTST's test loader does (drop_last, N samples per batch):\n"
    "                 the split's time points, every channel's window at each, in time order\n"
    "                 and in batches of N, the last partial batch left out; mse, mae and\n"
    "                 windows are the kept windows'. PatchTST's published numbers are scored\n"
    "                 so, with N its batch_size (128 on ETT)\n"
    "\n"
    "Exit status: 0 success, 1 a file or evaluation error, 2 a usage error (a bad --cuts or\n"
    "--drop-last value).\n";

static int parse_split(const char *s, rp_split_id *out) {
    if (!strcmp(s, "train")) *out = SPLIT_TRAIN;
    else if (!strcmp(s, "val")) *out = SPLIT_VAL;
    else if (!strcmp(s, "test")) *out = SPLIT_TEST;
    else return -1;
    return 0;
}

int cmd_eval(int argc, char **argv) {
    const char *ckpt = NULL, *data = NULL, *split_name = "test", *cuts_text = "greedy";
    int drop_last = 0; /* 0: every window */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int o;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(eval_help, stdout);
            return 0;
        }
        if ((o = cli_option("eval", argc, argv, &i, "--split", &v)) != 0) {
            if (o < 0) return 2;
            split_name = v;
        } else if ((o = cli_option("eval", argc, argv, &i, "--data", &v)) != 0) {
            if (o < 0) return 2;
            data = v;
        } else if ((o = cli_option("eval", argc, argv, &i, "--cuts", &v)) != 0) {
            if (o < 0) return 2;
            cuts_text = v;
        } else if ((o = cli_option("eval", argc, argv, &i, "--drop-last", &v)) != 0) {
            if (o < 0) return 2;
            char *end;
            long n = strtol(v, &end, 10);
            if (end == v || *end || n < 1 || n > 1000000) {
                fprintf(stderr, "reinpatch eval: --drop-last must be a batch size of 1 to 1000000 samples, got '%s'\n", v);
                return 2;
            }
            drop_last = (int)n;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "reinpatch eval: unknown option '%s' (see reinpatch eval --help)\n", a);
            return 2;
        } else if (!ckpt) {
            ckpt = a;
        } else {
            fprintf(stderr, "reinpatch eval: more than one checkpoint given ('%s', '%s')\n", ckpt, a);
            return 2;
        }
    }
    if (!ckpt) {
        fputs(eval_help, stderr);
        return 2;
    }
    rp_split_id split;
    if (parse_split(split_name, &split)) {
        fprintf(stderr, "reinpatch eval: --split must be train, val or test, got '%s'\n", split_name);
        return 2;
    }

    rp_error err = {{0}};
    rp_cuts cuts;
    if (cuts_parse(cuts_text, &cuts, &err)) {
        fprintf(stderr, "reinpatch eval: %s\n", err.msg);
        return 2;
    }
    rp_recipe recipe;
    if (predict_recipe_from_checkpoint(ckpt, &recipe, &err)) {
        recipe_free(&recipe);
        return cli_fail("eval", ckpt, err.msg);
    }
    char path[RP_PATH_MAX] = "";
    if (data) {
        if (cli_data_path(data, path, sizeof path, &err)) {
            recipe_free(&recipe);
            return cli_fail("eval", NULL, err.msg);
        }
        snprintf(recipe.data.path, sizeof recipe.data.path, "%s", path);
        recipe.data.protocol = PROTOCOL_AUTO; /* ETT borders for ETT* files, else ratio */
        if (recipe_validate(&recipe, &err) || recipe_render(&recipe, &err)) {
            recipe_free(&recipe);
            return cli_fail("eval", data, err.msg);
        }
    }

    rp_trainer t;
    rp_eval_result res;
    const char *blame = data ? data : ckpt;
    int rc = trainer_setup(&t, &recipe, &err);
    if (!rc) {
        blame = ckpt;
        rc = trainer_load_checkpoint(&t, ckpt, &err);
        if (rc && data && strstr(err.msg, "channels")) {
            char msg[RP_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err.msg);
            rp_fail(&err, "%s: not the checkpoint's channels (%s)", data, msg);
            blame = data;
        }
    }
    if (!rc) {
        /* The weights of the best validation epoch, as the run's own final evaluation used. */
        memcpy(t.model.P.value, t.best_values, t.model.P.total * sizeof(float));
        if (model_check_cuts(&t.model, cuts, &err)) {
            fprintf(stderr, "reinpatch eval: %s\n", err.msg);
            trainer_free(&t);
            recipe_free(&recipe);
            return 2;
        }
        t.eval_cuts = cuts;
        rc = drop_last ? trainer_evaluate_drop_last(&t, split, drop_last, &res, &err)
                       : trainer_evaluate(&t, split, &res, &err);
    }
    if (!rc && res.windows < 1) {
        blame = data ? data : ckpt;
        rc = rp_fail(&err, "the %s split holds no window", split_name);
    }
    if (rc) {
        trainer_free(&t);
        recipe_free(&recipe);
        return blame == data ? cli_fail_path("eval", data, path, err.msg) : cli_fail("eval", blame, err.msg);
    }
    printf("{\"checkpoint\": ");
    rp_json_string(stdout, ckpt);
    printf(", \"data\": ");
    rp_json_string(stdout, data ? data : t.series.source);
    printf(", \"split\": ");
    rp_json_string(stdout, split_name);
    char cuts_name[32];
    cuts_format(cuts, cuts_name, sizeof cuts_name);
    printf(", \"cuts\": ");
    rp_json_string(stdout, cuts_name);
    if (isfinite(res.mse) && isfinite(res.mae))
        printf(", \"mse\": %.6f, \"mae\": %.6f", res.mse, res.mae);
    else
        printf(", \"mse\": null, \"mae\": null");
    if (drop_last) printf(", \"drop_last\": %d", drop_last);
    printf(", \"windows\": %lld, \"cuts_off_uniform\": [", res.windows);
    for (int l = 0; l < res.n_levels; l++) printf("%s%.4f", l ? ", " : "", res.off_uniform[l]);
    printf("]}\n");
    trainer_free(&t);
    recipe_free(&recipe);
    return isfinite(res.mse) ? 0 : cli_fail("eval", ckpt, "the forecasts are not finite");
}
