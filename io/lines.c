#include "io/lines.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rp_read_text_file(const char *path, char **data, size_t *len, rp_error *err) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return rp_fail(err, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return rp_fail(err, "%s: out of memory", path);
    }
    for (;;) {
        if (cap - n < 2) {
            if (cap > SIZE_MAX / 2) break;
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                fclose(f);
                return rp_fail(err, "%s: out of memory reading %zu bytes", path, cap * 2);
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int read_error = ferror(f);
    fclose(f);
    if (read_error) {
        free(buf);
        return rp_fail(err, "%s: read error", path);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

int lines_open(rp_lines *l, const char *path, rp_error *err) {
    memset(l, 0, sizeof *l);
    l->path = path;
    size_t len;
    if (rp_read_text_file(path, &l->buf, &len, err)) return -1;
    l->end = l->buf + len;
    l->next = l->buf;
    if (len >= 3 && memcmp(l->buf, "\xEF\xBB\xBF", 3) == 0) l->next += 3; /* spreadsheet exports */
    return 0;
}

int lines_next(rp_lines *l) {
    if (l->next >= l->end) return 0;
    l->line = l->next;
    char *nl = memchr(l->line, '\n', (size_t)(l->end - l->line));
    char *stop = nl ? nl : l->end;
    l->next = nl ? nl + 1 : l->end;
    if (stop > l->line && stop[-1] == '\r') stop--;
    *stop = '\0';
    l->line_end = stop;
    l->line_no++;
    return 1;
}

void lines_close(rp_lines *l) {
    free(l->buf);
    memset(l, 0, sizeof *l);
}
