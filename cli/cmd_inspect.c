/* reinpatch inspect FILE.h5 */
#include <stdio.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "io/inspect.h"

static const char *inspect_help =
    "usage: reinpatch inspect FILE.h5...\n"
    "\n"
    "Describes reinpatch HDF5 files (checkpoint, patcher or segmentation export): kind, format\n"
    "and library version, run state, level stack, parameter counts per module and the first\n"
    "lines of the recipe. Several files are described one after another.\n";

int cmd_inspect(int argc, char **argv) {
    int n_files = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(inspect_help, stdout);
            return 0;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "reinpatch inspect: unknown option '%s' (see reinpatch inspect --help)\n", a);
            return 2;
        }
        n_files++;
    }
    if (n_files == 0) {
        fputs(inspect_help, stderr);
        return 2;
    }
    int status = 0, first = 1;
    for (int i = 1; i < argc; i++) {
        rp_error err = {{0}};
        if (!first) putchar('\n');
        first = 0;
        fflush(stdout);
        if (h5_inspect(argv[i], stdout, &err)) status = cli_fail("inspect", argv[i], err.msg);
        fflush(stdout);
    }
    return status;
}
