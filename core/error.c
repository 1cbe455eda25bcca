#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence starting at p (1 to 4), or 0 when p does not start one. */
static int utf8_sequence(const unsigned char *p) {
    int n = p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    return n;
}

/* Copies src into dst (size bytes) with every byte that is neither printable ASCII, a newline nor
 * part of a valid UTF-8 sequence written as \xNN: messages quote file contents, and a binary
 * file's bytes must not reach a terminal raw. Escapes nothing else, so escaping twice changes
 * nothing. A result that does not fit ends in "...". */
static void escape_message(char *dst, size_t size, const char *src) {
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)src;
    while (*p) {
        int n = *p < 0x80 ? 1 : utf8_sequence(p);
        char hex[5];
        const char *piece = (const char *)p;
        int len = n;
        if ((n == 1 && (*p < 0x20 || *p == 0x7f) && *p != '\n') || n == 0) {
            snprintf(hex, sizeof hex, "\\x%02x", *p);
            piece = hex;
            len = 4;
            n = 1;
        }
        if (o + (size_t)len >= size) {
            memcpy(dst + size - 4, "...", 4);
            return;
        }
        memcpy(dst + o, piece, (size_t)len);
        o += (size_t)len;
        p += n;
    }
    dst[o] = '\0';
}

int rp_fail(rp_error *err, const char *fmt, ...) {
    if (!err) return -1;
    char raw[RP_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    escape_message(err->msg, sizeof err->msg, raw);
    return -1;
}

int rp_fail_prefix(rp_error *err, const char *fmt, ...) {
    if (!err) return -1;
    char prefix[RP_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[RP_ERROR_MSG_MAX], joined[RP_ERROR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    /* A message longer than the buffer is cut at its end: the prefix (where) always survives. */
    int cut = snprintf(joined, sizeof joined, "%s: %s", prefix, old) >= (int)sizeof joined;
    escape_message(err->msg, sizeof err->msg, joined);
    if (cut) memcpy(err->msg + sizeof err->msg - 4, "...", 4);
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
