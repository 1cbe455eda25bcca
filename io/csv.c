/* CSV reading and the rp_series basics (free, column selection).
 *
 * The file is read in one go into a buffer that we own, and fields are cut in place (the
 * delimiter becomes '\0'), so a numeric cell goes straight to strtod with no copy. Every cell is
 * checked: a cell that is empty, not a number, NaN/Inf or outside float range is an error naming
 * path:line:column, never skipped or zero-filled. Columns in messages are 1-based field positions
 * counting the date column, the way a spreadsheet numbers them. */
#include "io/series.h"

#include "io/lines.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Cell text in messages is cut to this many bytes so one huge cell cannot crowd out the
 * location. */
#define CELL_SHOWN_MAX 64

void series_free(rp_series *s) {
    if (!s) return;
    if (s->col_names)
        for (int c = 0; c < s->cols; c++) free(s->col_names[c]);
    if (s->timestamps)
        for (int r = 0; r < s->rows; r++) free(s->timestamps[r]);
    free(s->col_names);
    free(s->timestamps);
    free(s->values);
    free(s->date_name);
    free(s->source);
    memset(s, 0, sizeof *s);
}

static char *dup_string(const char *text, rp_error *err) {
    size_t n = strlen(text) + 1;
    char *copy = rp_malloc(n, err);
    if (copy) memcpy(copy, text, n);
    return copy;
}

int series_select_columns(rp_series *s, const char *const *names, int n_names, rp_error *err) {
    if (n_names <= 0) return rp_fail(err, "%s: no columns selected", s->source ? s->source : "series");
    int *index = rp_malloc(sizeof(int) * (size_t)n_names, err);
    if (!index) return -1;
    for (int k = 0; k < n_names; k++) {
        index[k] = -1;
        for (int c = 0; c < s->cols; c++)
            if (strcmp(s->col_names[c], names[k]) == 0) {
                index[k] = c;
                break;
            }
        if (index[k] < 0) {
            /* List what exists: the usual cause is a typo or a renamed column. */
            char known[512];
            size_t used = 0;
            known[0] = '\0';
            for (int c = 0; c < s->cols && used + 1 < sizeof known; c++) {
                int w = snprintf(known + used, sizeof known - used, "%s'%s'", c ? ", " : "", s->col_names[c]);
                if (w < 0) break;
                used += (size_t)w;
            }
            free(index);
            return rp_fail(err, "%s: unknown column '%s' (columns: %s)", s->source ? s->source : "series",
                           names[k], known);
        }
        for (int j = 0; j < k; j++)
            if (index[j] == index[k]) {
                free(index);
                return rp_fail(err, "%s: column '%s' selected twice", s->source ? s->source : "series",
                               names[k]);
            }
    }
    float *values = rp_malloc(sizeof(float) * (size_t)s->rows * (size_t)n_names, err);
    char **col_names = rp_calloc((size_t)n_names, sizeof(char *), err);
    int ok = values && col_names;
    for (int k = 0; ok && k < n_names; k++) ok = (col_names[k] = dup_string(names[k], err)) != NULL;
    if (!ok) {
        if (col_names)
            for (int k = 0; k < n_names; k++) free(col_names[k]);
        free(col_names);
        free(values);
        free(index);
        return -1;
    }
    for (int r = 0; r < s->rows; r++) {
        const float *from = s->values + (size_t)r * (size_t)s->cols;
        float *to = values + (size_t)r * (size_t)n_names;
        for (int k = 0; k < n_names; k++) to[k] = from[index[k]];
    }
    for (int c = 0; c < s->cols; c++) free(s->col_names[c]);
    free(s->col_names);
    free(s->values);
    s->col_names = col_names;
    s->values = values;
    s->cols = n_names;
    free(index);
    return 0;
}

/* ---- parsing ---------------------------------------------------------------------------- */


static int is_blank(const char *s, const char *e) {
    for (; s < e; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return 0;
    return 1;
}

/* True when nothing but blank lines follows the current line. Trailing blank lines carry no
 * data, so they are accepted; a blank line with rows after it is an error. */
static int only_blank_lines_left(const rp_lines *rd) { return is_blank(rd->next, rd->end); }

/* Cuts the current line into fields in place: each field becomes a NUL-terminated string
 * (quoted fields "..." are unescaped, "" being a literal quote; a quoted field may not span
 * lines). Stores up to max_fields pointers, returns the total field count, or -1 with
 * *bad_field set (1-based) for an unterminated or malformed quoted field. */
static int split_fields(rp_lines *rd, char **fields, int max_fields, int *bad_field) {
    char *p = rd->line, *e = rd->line_end;
    int n = 0;
    for (;;) {
        char *start = p;
        if (p < e && *p == '"') {
            char *w = p;
            p++;
            for (;;) {
                if (p >= e) {
                    *bad_field = n + 1;
                    return -1;
                }
                if (*p == '"') {
                    if (p + 1 < e && p[1] == '"') {
                        *w++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *w++ = *p++;
            }
            if (p < e && *p != ',') {
                *bad_field = n + 1;
                return -1;
            }
            *w = '\0';
        } else {
            while (p < e && *p != ',') p++;
        }
        char *delim = p;
        if (n < max_fields) fields[n] = start;
        n++;
        if (delim >= e) {
            *delim = '\0'; /* e is '\r', '\n' or the buffer's terminating NUL: all ours */
            break;
        }
        *delim = '\0';
        p = delim + 1;
    }
    return n;
}

typedef enum { CELL_OK, CELL_EMPTY, CELL_NOT_NUMBER, CELL_NOT_FINITE, CELL_RANGE } cell_status;

/* Parses one numeric cell (NUL-terminated, surrounding blanks allowed) with a full-consumption
 * check. Only decimal notation is a number here: strtod also accepts hex floats and "nan(...)",
 * which no data file means. */
static cell_status parse_cell(char *cell, float *out) {
    while (*cell == ' ' || *cell == '\t') cell++;
    if (*cell == '\0') return CELL_EMPTY;
    char *stop;
    errno = 0;
    double v = strtod(cell, &stop);
    if (stop == cell) return CELL_NOT_NUMBER;
    char *tail = stop;
    while (*tail == ' ' || *tail == '\t') tail++;
    if (*tail != '\0') return CELL_NOT_NUMBER;
    if (isnan(v)) return CELL_NOT_FINITE;
    if (isinf(v)) return errno == ERANGE ? CELL_RANGE : CELL_NOT_FINITE;
    for (const char *c = cell; c < stop; c++)
        if (!strchr("0123456789+-.eE", *c)) return CELL_NOT_NUMBER;
    if (fabs(v) > FLT_MAX) return CELL_RANGE;
    *out = (float)v;
    return CELL_OK;
}

static void shown(const char *cell, char out[CELL_SHOWN_MAX + 4]) {
    size_t n = strlen(cell);
    if (n <= CELL_SHOWN_MAX) {
        memcpy(out, cell, n + 1);
    } else {
        memcpy(out, cell, CELL_SHOWN_MAX);
        memcpy(out + CELL_SHOWN_MAX, "...", 4);
    }
}

static int cell_error(const rp_lines *rd, int col, const char *name, const char *cell, cell_status st,
                      rp_error *err) {
    char text[CELL_SHOWN_MAX + 4];
    shown(cell, text);
    const char *path = rd->path;
    switch (st) {
    case CELL_EMPTY:
        return rp_fail(err, "%s:%d:%d: column '%s': empty cell", path, rd->line_no, col, name);
    case CELL_NOT_FINITE:
        return rp_fail(err, "%s:%d:%d: column '%s': NaN or Inf is not allowed: '%s'", path, rd->line_no, col,
                       name, text);
    case CELL_RANGE:
        return rp_fail(err, "%s:%d:%d: column '%s': number out of float range: '%s'", path, rd->line_no, col,
                       name, text);
    default:
        return rp_fail(err, "%s:%d:%d: column '%s': not a number: '%s'", path, rd->line_no, col, name, text);
    }
}

/* Whether the first cell of the current line is text (not a number). Works on a copy of the
 * line, because the main loop splits the original in place. Returns 1, 0, or -1 (out of memory). */
static int first_cell_is_text(const rp_lines *rd, rp_error *err) {
    size_t n = (size_t)(rd->line_end - rd->line);
    char *copy = rp_malloc(n + 1, err);
    if (!copy) return -1;
    memcpy(copy, rd->line, n);
    copy[n] = '\0';
    rp_lines probe = {.path = rd->path, .buf = copy, .end = copy + n, .line = copy, .line_end = copy + n};
    char *first = NULL;
    int bad = 0;
    int text = 0;
    if (split_fields(&probe, &first, 1, &bad) > 0) {
        float ignored;
        text = parse_cell(first, &ignored) == CELL_NOT_NUMBER;
    }
    free(copy);
    return text;
}

static int is_date_name(const char *name) {
    static const char *const known[] = {"date", "time", "timestamp", "datetime"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcasecmp(name, known[i]) == 0) return 1;
    return 0;
}

static int parse_csv(rp_lines *rd, rp_series *out, rp_error *err) {
    const char *path = rd->path;
    if (is_blank(rd->next, rd->end)) return rp_fail(err, "%s: empty file", path);
    lines_next(rd);
    if (is_blank(rd->line, rd->line_end)) return rp_fail(err, "%s:1: empty header line", path);

    /* Header. Quotes only shrink fields, so commas + 1 bounds the field count. */
    int max_header = 1;
    for (const char *p = rd->line; p < rd->line_end; p++) max_header += *p == ',';
    char **header = rp_calloc((size_t)max_header, sizeof(char *), err);
    char **fields = NULL;
    if (!header) return -1;
    int rc = -1, bad = 0;
    int n_fields = split_fields(rd, header, max_header, &bad);
    if (n_fields < 0) {
        rp_fail(err, "%s:1:%d: unterminated or malformed quoted field", path, bad);
        goto done;
    }
    for (int c = 0; c < n_fields; c++) {
        if (header[c][0] == '\0') {
            rp_fail(err, "%s:1:%d: empty column name", path, c + 1);
            goto done;
        }
        for (int j = 0; j < c; j++)
            if (strcmp(header[j], header[c]) == 0) {
                rp_fail(err, "%s:1:%d: duplicated column name '%s' (also column %d)", path, c + 1, header[c], j + 1);
                goto done;
            }
    }

    if (!lines_next(rd) || (is_blank(rd->line, rd->line_end) && only_blank_lines_left(rd))) {
        rp_fail(err, "%s: header only, no data rows", path);
        goto done;
    }

    /* Date column: column 1 when its name says so or when its first cell is not a number. The
     * data line is inspected without being cut: it is split again below. */
    int has_date = is_date_name(header[0]);
    if (!has_date && (has_date = first_cell_is_text(rd, err)) < 0) goto done;
    int first_value = has_date ? 1 : 0;
    int cols = n_fields - first_value;
    if (cols <= 0) {
        rp_fail(err, "%s:1: no numeric columns (only the date column '%s')", path, header[0]);
        goto done;
    }

    /* Rows: the current (first data) line, whose break lines_next has cut, then at most one per
     * newline after it, plus a last line without one. */
    size_t max_rows = 2;
    for (const char *p = rd->next; (p = memchr(p, '\n', (size_t)(rd->end - p))) != NULL; p++) max_rows++;
    if (max_rows > (size_t)INT32_MAX || (size_t)cols > SIZE_MAX / sizeof(float) / max_rows) {
        rp_fail(err, "%s: too large (%zu lines × %d columns)", path, max_rows, cols);
        goto done;
    }

    out->cols = cols;
    out->col_names = rp_calloc((size_t)cols, sizeof(char *), err);
    if (!out->col_names) goto done;
    for (int c = 0; c < cols; c++)
        if (!(out->col_names[c] = dup_string(header[first_value + c], err))) goto done;
    if (has_date && !(out->date_name = dup_string(header[0], err))) goto done;
    out->values = rp_malloc(sizeof(float) * max_rows * (size_t)cols, err);
    if (!out->values) goto done;
    if (has_date) {
        out->timestamps = rp_calloc(max_rows, sizeof(char *), err);
        if (!out->timestamps) goto done;
        out->rows = (int)max_rows; /* so series_free sees every slot while they fill */
    }

    fields = rp_malloc(sizeof(char *) * (size_t)(n_fields + 1), err);
    if (!fields) goto done;
    int rows = 0;
    do {
        if (is_blank(rd->line, rd->line_end)) {
            if (only_blank_lines_left(rd)) break;
            rp_fail(err, "%s:%d: empty line (blank lines between rows are not allowed)", path, rd->line_no);
            goto done;
        }
        int got = split_fields(rd, fields, n_fields + 1, &bad);
        if (got < 0) {
            rp_fail(err, "%s:%d:%d: unterminated or malformed quoted field", path, rd->line_no, bad);
            goto done;
        }
        if (got != n_fields) {
            rp_fail(err, "%s:%d: ragged row: expected %d fields, got %d", path, rd->line_no, n_fields, got);
            goto done;
        }
        if (has_date) {
            if (is_blank(fields[0], fields[0] + strlen(fields[0]))) {
                rp_fail(err, "%s:%d:1: column '%s': empty cell", path, rd->line_no, header[0]);
                goto done;
            }
            if (!(out->timestamps[rows] = dup_string(fields[0], err))) goto done;
        }
        float *row = out->values + (size_t)rows * (size_t)cols;
        for (int c = 0; c < cols; c++) {
            cell_status st = parse_cell(fields[first_value + c], &row[c]);
            if (st != CELL_OK) {
                cell_error(rd, first_value + c + 1, header[first_value + c], fields[first_value + c], st, err);
                goto done;
            }
        }
        rows++;
    } while (lines_next(rd));
    out->rows = rows;
    rc = 0;
done:
    free(fields);
    free(header);
    return rc;
}

int csv_read(const char *path, rp_series *out, rp_error *err) {
    memset(out, 0, sizeof *out);
    rp_lines rd;
    if (lines_open(&rd, path, err)) return -1;
    int rc = parse_csv(&rd, out, err);
    if (rc == 0) rc = (out->source = dup_string(path, err)) ? 0 : -1;
    lines_close(&rd);
    if (rc) series_free(out);
    return rc;
}
