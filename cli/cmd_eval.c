#include <stdio.h>

#include "cli/commands.h"

int cmd_eval(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "reinpatch eval: not available in this build yet\n");
    return 1;
}
