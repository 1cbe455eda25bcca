#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "policy/train.h"

static const char *train_help =
    "usage: reinpatch train RECIPE [--set KEY=VALUE]... [--out DIR] [--progress | --quiet]\n"
    "\n"
    "Trains the forecaster a recipe describes, evaluates val and test with the best-validation\n"
    "weights, writes DIR/metrics.json (default DIR: runs/<recipe name>/) and prints the metrics.\n"
    "\n"
    "  --set KEY=VALUE   override a recipe key, e.g. --set train.epochs=1 --set data.horizon=192\n"
    "                    or --set levels[0].rate=4 (same validation as the file)\n"
    "  --out DIR         run directory\n"
    "  --progress        progress on stderr even when it is not a terminal\n"
    "  --quiet           no progress, even on a terminal\n";

int cmd_train(int argc, char **argv) {
    const char *recipe_path = NULL, *out_dir = NULL;
    int progress = isatty(STDERR_FILENO);
    const char *sets[256];
    int n_sets = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(train_help, stdout);
            return 0;
        } else if (!strcmp(a, "--set") || !strcmp(a, "--out")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "reinpatch train: %s needs a value\n", a);
                return 2;
            }
            if (!strcmp(a, "--out")) out_dir = argv[++i];
            else if (n_sets < 256) sets[n_sets++] = argv[++i];
        } else if (!strncmp(a, "--set=", 6)) {
            if (n_sets < 256) sets[n_sets++] = a + 6;
        } else if (!strcmp(a, "--progress")) {
            progress = 1;
        } else if (!strcmp(a, "--quiet")) {
            progress = 0;
        } else if (a[0] == '-') {
            fprintf(stderr, "reinpatch train: unknown option '%s' (see reinpatch train --help)\n", a);
            return 2;
        } else if (!recipe_path) {
            recipe_path = a;
        } else {
            fprintf(stderr, "reinpatch train: more than one recipe given ('%s', '%s')\n", recipe_path, a);
            return 2;
        }
    }
    if (!recipe_path) {
        fputs(train_help, stderr);
        return 2;
    }
    rp_error err = {{0}};
    rp_recipe recipe;
    recipe_defaults(&recipe);
    if (recipe_load(recipe_path, &recipe, &err)) goto fail;
    for (int i = 0; i < n_sets; i++)
        if (recipe_set(&recipe, sets[i], &err)) goto fail;
    if (recipe_validate(&recipe, &err) || recipe_render(&recipe, &err)) goto fail;

    rp_trainer trainer;
    if (trainer_setup(&trainer, &recipe, &err)) {
        trainer_free(&trainer);
        goto fail;
    }
    rp_train_options opt = {.progress = progress, .out_dir = out_dir, .verbose = progress};
    int rc = trainer_run(&trainer, &opt, stdout, &err);
    trainer_free(&trainer);
    if (rc) goto fail;
    recipe_free(&recipe);
    return 0;
fail:
    fprintf(stderr, "reinpatch train: %s\n", err.msg);
    recipe_free(&recipe);
    return 1;
}
