/* Errors travel as a return status plus a message in an rp_error that the caller owns.
 *
 * Convention used by every fallible function in reinpatch:
 *   int f(..., rp_error *err);   returns 0 on success, -1 on failure with err->msg set.
 * Messages say what and where: "data/x.csv:12:3: column 'OT': not a number: 'abc'".
 * Library code never prints and never calls exit(); the CLI prints err->msg and exits non-zero. */
#ifndef RP_ERROR_H
#define RP_ERROR_H

#include <stddef.h>

#define RP_ERROR_MSG_MAX 1024

typedef struct rp_error {
    char msg[RP_ERROR_MSG_MAX];
} rp_error;

/* Formats the message into err (if err is not NULL) and returns -1, so callers can write
 * `return rp_fail(err, "%s:%d: ...", path, line);`. Bytes that are not printable (control
 * characters other than newline, invalid UTF-8: a binary file's contents quoted in a message)
 * are written as \xNN, here and in rp_fail_prefix. */
int rp_fail(rp_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to an existing message (adds context as an error travels up). */
int rp_fail_prefix(rp_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation that reports failure through err instead of crashing. Free with free(). */
void *rp_malloc(size_t bytes, rp_error *err);
void *rp_calloc(size_t count, size_t size, rp_error *err);

#endif
