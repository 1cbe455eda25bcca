#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/dist.h"
#include "io/checkpoint.h"
#include "train/run.h"
#include "train/train.h"

static const char *train_help =
    "usage: reinpatch train RECIPE [--set KEY=VALUE]... [--out DIR] [--progress | --quiet]\n"
    "       reinpatch train --resume RUN_DIR [--set KEY=VALUE]... [--progress | --quiet]\n"
    "\n"
    "Trains the forecaster a recipe describes, evaluates val and test with the best-validation\n"
    "weights, writes DIR/metrics.json (default DIR: runs/<recipe name>/) and prints the metrics.\n"
    "\n"
    "  --set KEY=VALUE   override a recipe key, e.g. --set train.epochs=1 --set data.horizon=192\n"
    "                    or --set levels[0].rate=4 (same validation as the file)\n"
    "  --out DIR         run directory\n"
    "  --resume RUN_DIR  continue a run from RUN_DIR/checkpoint.h5 (written after every epoch);\n"
    "                    the recipe is the one stored in the checkpoint (--set may extend\n"
    "                    train.epochs; a change of shapes is refused when the checkpoint loads)\n"
    "  --stop-after N    stop after epoch N as an interrupted run would (checkpoint written,\n"
    "                    no final evaluation); --resume continues it\n"
    "  --progress        progress on stderr even when it is not a terminal (then a line every\n"
    "                    15 s and one per epoch, fit for a log file)\n"
    "  --quiet           no progress, even on a terminal\n";

#define MAX_SETS 256

static int too_many_sets(void) {
    fprintf(stderr, "reinpatch train: more than %d --set options\n", MAX_SETS);
    return 2;
}

int cmd_train(int argc, char **argv) {
    const char *recipe_path = NULL, *out_dir = NULL, *resume_dir = NULL;
    long stop_after = 0;
    int tty = isatty(STDERR_FILENO);
    int progress = tty ? RP_PROGRESS_TERMINAL : RP_PROGRESS_OFF;
    const char *sets[MAX_SETS];
    int n_sets = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(train_help, stdout);
            return 0;
        } else if (!strcmp(a, "--set") || !strcmp(a, "--out") || !strcmp(a, "--resume") ||
                   !strcmp(a, "--stop-after")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "reinpatch train: %s needs a value\n", a);
                return 2;
            }
            if (!strcmp(a, "--out")) out_dir = argv[++i];
            else if (!strcmp(a, "--resume")) resume_dir = argv[++i];
            else if (!strcmp(a, "--stop-after")) {
                char *end;
                stop_after = strtol(argv[++i], &end, 10);
                if (*end || stop_after < 1) {
                    fprintf(stderr, "reinpatch train: --stop-after needs an epoch count >= 1, got '%s'\n", argv[i]);
                    return 2;
                }
            }
            else if (n_sets < MAX_SETS) sets[n_sets++] = argv[++i];
            else return too_many_sets();
        } else if (!strncmp(a, "--set=", 6)) {
            if (n_sets == MAX_SETS) return too_many_sets();
            sets[n_sets++] = a + 6;
        } else if (!strcmp(a, "--progress")) {
            progress = tty ? RP_PROGRESS_TERMINAL : RP_PROGRESS_LOG;
        } else if (!strcmp(a, "--quiet")) {
            progress = RP_PROGRESS_OFF;
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
    if (!recipe_path == !resume_dir) {
        fprintf(stderr, resume_dir ? "reinpatch train: give a recipe or --resume, not both\n" : "%s", train_help);
        return 2;
    }
    if (resume_dir && out_dir) {
        fprintf(stderr, "reinpatch train: --resume writes into the run directory it continues; --out does not apply\n");
        return 2;
    }
    rp_error err = {{0}};
    rp_recipe recipe;
    recipe_defaults(&recipe);
    char checkpoint[4096];
    int agreed = 0; /* under MPI: whether the ranks have agreed that setup succeeded everywhere */
    if (resume_dir) {
        snprintf(checkpoint, sizeof checkpoint, "%s/checkpoint.h5", resume_dir);
        char *text = NULL;
        if (checkpoint_read_recipe(checkpoint, &text, &err)) goto fail;
        int rc = recipe_parse(text, checkpoint, &recipe, &err);
        free(text);
        if (rc) goto fail;
        out_dir = resume_dir;
    } else if (recipe_load(recipe_path, &recipe, &err)) {
        goto fail;
    }
    for (int i = 0; i < n_sets; i++)
        if (recipe_set(&recipe, sets[i], &err)) goto fail;
    if (recipe_validate(&recipe, &err) || recipe_render(&recipe, &err)) goto fail;

    rp_trainer trainer;
    int setup_rc = trainer_setup(&trainer, &recipe, &err) ||
                   (resume_dir && trainer_load_checkpoint(&trainer, checkpoint, &err));
    /* Every rank stops if one failed (its message, printed once by rank 0). */
    agreed = 1;
    if (dist_agree(setup_rc, &err)) {
        trainer_free(&trainer);
        goto fail;
    }
    rp_train_options opt = {.progress = progress, .out_dir = out_dir, .verbose = progress,
                            .stop_after_epoch = (int)stop_after};
    int rc = trainer_run(&trainer, &opt, stdout, &err);
    if (rc) dist_abort_if_parallel("reinpatch train", &err);
    trainer_free(&trainer);
    if (rc) goto fail;
    recipe_free(&recipe);
    return 0;
fail:
    /* A rank that failed before the agreement meets the others there. */
    if (!agreed) dist_agree(-1, &err);
    if (dist_rank() == 0) fprintf(stderr, "reinpatch train: %s\n", err.msg);
    recipe_free(&recipe);
    return 1;
}
