/* Helpers shared by the reinpatch subcommands: one-line error reports and argument handling. */
#ifndef RP_CLI_UTIL_H
#define RP_CLI_UTIL_H

#include <stddef.h>

#include "core/error.h"

/* Prints "reinpatch CMD: FILE: MSG" on stderr as one line (FILE is left out when NULL or when
 * the message already starts with it; newlines in MSG become "; "). Returns 1. */
int cli_fail(const char *cmd, const char *file, const char *msg);
/* cli_fail for a file the user named `shown` that the library knows as `actual` (an absolute
 * path made by cli_data_path): a message that starts with `actual` is printed with `shown`. */
int cli_fail_path(const char *cmd, const char *shown, const char *actual, const char *msg);
/* The same with a printf-style message. */
int cli_failf(const char *cmd, const char *file, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* For "--opt VALUE" and "--opt=VALUE": when argv[*i] is option `name`, stores the value in
 * *value (advancing *i past it) and returns 1; returns 0 when argv[*i] is another argument;
 * returns -1 after printing a usage error when the value is missing. */
int cli_option(const char *cmd, int argc, char **argv, int *i, const char *name, const char **value);

/* A data path given on the command line, as the recipe must hold it: "generated" as is, an
 * absolute path as is, a relative one made absolute against the current directory (so that
 * $REINPATCH_DATA, which applies to paths written in recipes, does not apply to it). Returns -1
 * with err set when the file does not exist or the path is too long. */
int cli_data_path(const char *arg, char *out, size_t size, rp_error *err);

/* 1 when a and b name the same existing file (same device and inode). */
int cli_same_file(const char *a, const char *b);

#endif
