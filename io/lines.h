/* A text file held in one buffer and read line by line in place: what the CSV and .tsf readers
 * share. Lines end at "\n" or "\r\n" (a last line may have neither); a UTF-8 byte-order mark at
 * the start of the file is skipped.
 *
 * Ownership: rp_lines owns its buffer; lines_close frees it. */
#ifndef RP_LINES_H
#define RP_LINES_H

#include <stddef.h>

#include "core/error.h"

/* Reads a whole file into a NUL-terminated buffer of *len bytes (the NUL not counted), owned by
 * the caller (free()). */
int rp_read_text_file(const char *path, char **data, size_t *len, rp_error *err);

typedef struct rp_lines {
    const char *path;
    char *buf, *end;        /* the whole file; *end is its terminating NUL */
    char *line, *line_end;  /* the current line [line, line_end), without its line break */
    char *next;             /* the first byte of the following line */
    int line_no;            /* 1-based number of the current line */
} rp_lines;

/* Reads path; no line is current until lines_next. */
int lines_open(rp_lines *l, const char *path, rp_error *err);
/* Advances to the next line and NUL-terminates it (over its '\r' or '\n': the buffer is ours);
 * returns 0 at the end of the file. */
int lines_next(rp_lines *l);
void lines_close(rp_lines *l);

#endif
