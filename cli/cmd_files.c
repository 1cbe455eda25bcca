#include <stdio.h>

#include "cli/commands.h"

static int unavailable(const char *name) {
    fprintf(stderr, "reinpatch %s: not available in this build yet\n", name);
    return 1;
}
int cmd_predict(int argc, char **argv) { (void)argc; (void)argv; return unavailable("predict"); }
int cmd_segment(int argc, char **argv) { (void)argc; (void)argv; return unavailable("segment"); }
int cmd_export_patcher(int argc, char **argv) { (void)argc; (void)argv; return unavailable("export-patcher"); }
int cmd_inspect(int argc, char **argv) { (void)argc; (void)argv; return unavailable("inspect"); }
