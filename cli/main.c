/* reinpatch: the command-line front end. Each subcommand parses its arguments, calls the
 * library, prints one error line and exits non-zero on failure. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/dist.h"
#include "core/util.h"

static void usage(FILE *f) {
    fputs("usage: reinpatch <command> [options]\n"
          "\n"
          "Learned, variable-size patching for time-series forecasting.\n"
          "\n"
          "commands:\n"
          "  train RECIPE        train a forecaster from a YAML recipe, write a run directory\n"
          "  eval CHECKPOINT     evaluate a checkpoint on a split, print MSE/MAE as JSON\n"
          "  predict CHECKPOINT  forecast the horizon after a series, in original units\n"
          "  segment             export every level's segmentation of a series to HDF5\n"
          "  export-patcher      write a checkpoint's level stack as a standalone patcher file\n"
          "  inspect FILE.h5     describe a checkpoint, patcher or segmentation file\n"
          "  pretrain-patcher    pretrain a level stack on many series (.tsf), write a patcher\n"
          "  report RUN_DIR...   one HTML page of charts and tables about training runs\n"
          "\n"
          "`reinpatch <command> --help` describes a command. Data paths in recipes are resolved\n"
          "against $REINPATCH_DATA when relative. Docs: docs/ in the source tree.\n",
          f);
}

int main(int argc, char **argv) {
    rp_choose_omp_waiting(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        puts("reinpatch 0.1.0");
        return 0;
    }
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } commands[] = {
        {"train", cmd_train},       {"eval", cmd_eval},
        {"predict", cmd_predict},   {"segment", cmd_segment},
        {"export-patcher", cmd_export_patcher}, {"inspect", cmd_inspect},
        {"pretrain-patcher", cmd_pretrain}, {"report", cmd_report},
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name)) {
            /* Under mpirun (an MPI build): one rank per process, docs/cli.md "Several processes". */
            rp_error err = {{0}};
            if (dist_init(&argc, &argv, &err)) {
                fprintf(stderr, "reinpatch: %s\n", err.msg);
                return 1;
            }
            int rc = commands[i].run(argc - 1, argv + 1);
            dist_finalize();
            return rc;
        }
    fprintf(stderr, "reinpatch: unknown command '%s' (try reinpatch --help)\n", cmd);
    return 2;
}
