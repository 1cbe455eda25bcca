#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rp_fail(rp_error *err, const char *fmt, ...) {
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int rp_fail_prefix(rp_error *err, const char *fmt, ...) {
    if (!err) return -1;
    char prefix[RP_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[RP_ERROR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    /* A message longer than the buffer is cut at its end: the prefix (where) always survives. */
    if (snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old) >= (int)sizeof err->msg)
        memcpy(err->msg + sizeof err->msg - 4, "...", 4);
    return -1;
}

void *rp_malloc(size_t bytes, rp_error *err) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) rp_fail(err, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *rp_calloc(size_t count, size_t size, rp_error *err) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) rp_fail(err, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}
