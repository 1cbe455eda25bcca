/* Monash .tsf reader (Godahewa et al. 2021, the Monash Time Series Forecasting Archive).
 *
 * Layout: '#' comment lines; a header of @relation, @attribute NAME TYPE (string | date |
 * numeric), @frequency, @horizon, @missing, @equallength; then @data and one series a line,
 *   attr_1:attr_2:...:attr_n:v1,v2,...,vm
 * where '?' marks a missing value. Dates are "YYYY-MM-DD HH-MM-SS" (dashes, so ':' stays the
 * field separator). The reference loader (convert_tsf_to_dataframe in the archive's code) is the
 * behaviour followed here; where it is lax we are stricter, and each case is commented.
 *
 * The whole file is read in one go and lines are cut in place (io/lines.h): data lines of several
 * hundred KB (one long daily series) need no line buffer. */
#include "io/series.h"

#include "io/lines.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ATTRIBUTES 64

typedef enum { ATTR_STRING, ATTR_DATE, ATTR_NUMERIC } attr_type;

typedef struct tsf_reader {
    rp_lines in;
    rp_tsf_missing policy;
    int n_attr;
    char *attr_name[MAX_ATTRIBUTES];  /* point into the file buffer */
    attr_type attr_type[MAX_ATTRIBUTES];
    int name_attr, date_attr;         /* indices, -1 when absent */
    int seen_horizon, seen_missing, seen_equallength;
    int cap_series;
} tsf_reader;


static int is_blank_line(const tsf_reader *rd) {
    for (const char *p = rd->in.line; p < rd->in.line_end; p++)
        if (!isspace((unsigned char)*p)) return 0;
    return 1;
}

static char *dup_text(const char *s, size_t n, rp_error *err) {
    char *copy = rp_malloc(n + 1, err);
    if (copy) {
        memcpy(copy, s, n);
        copy[n] = '\0';
    }
    return copy;
}

void tsf_free(rp_tsf *t) {
    if (!t) return;
    if (t->series)
        for (int i = 0; i < t->n_series; i++) {
            free(t->series[i].name);
            free(t->series[i].start);
            free(t->series[i].values);
        }
    free(t->series);
    free(t->source);
    free(t->relation);
    free(t->frequency);
    memset(t, 0, sizeof *t);
}

/* ---- header ----------------------------------------------------------------------------- */

/* Splits the directive's argument text into at most max words separated by blanks (in place);
 * returns the word count (words beyond max are counted, not stored). */
static int split_words(char *s, char **words, int max) {
    int n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t') s++;
        if (!*s) return n;
        if (n < max) words[n] = s;
        n++;
        while (*s && *s != ' ' && *s != '\t') s++;
        if (*s) *s++ = '\0';
    }
}

/* Python's strtobool, which the reference loader uses for @missing and @equallength. */
static int parse_bool(const char *s, bool *out) {
    static const char *const yes[] = {"true", "t", "yes", "y", "on", "1"};
    static const char *const no[] = {"false", "f", "no", "n", "off", "0"};
    for (int i = 0; i < 6; i++) {
        if (strcasecmp(s, yes[i]) == 0) return *out = true, 0;
        if (strcasecmp(s, no[i]) == 0) return *out = false, 0;
    }
    return -1;
}

/* One '@' line of the header. Returns 1 on @data, 0 for another directive, -1 on error. */
static int header_directive(tsf_reader *rd, rp_tsf *out, rp_error *err) {
    const char *path = rd->in.path;
    int line = rd->in.line_no;
    char *p = rd->in.line + 1;
    char *keyword = p;
    while (*p && *p != ' ' && *p != '\t') p++;
    if (*p) *p++ = '\0';
    char *words[3];
    int n_words = split_words(p, words, 3);

    if (strcasecmp(keyword, "data") == 0) {
        if (n_words != 0) return rp_fail(err, "%s:%d: @data takes no argument", path, line);
        if (rd->n_attr == 0)
            return rp_fail(err, "%s:%d: @data before any @attribute (a data line needs at least its series name)",
                           path, line);
        return 1;
    }
    if (strcasecmp(keyword, "attribute") == 0) {
        if (n_words != 2) return rp_fail(err, "%s:%d: expected '@attribute NAME TYPE'", path, line);
        if (rd->n_attr == MAX_ATTRIBUTES)
            return rp_fail(err, "%s:%d: more than %d attributes", path, line, MAX_ATTRIBUTES);
        attr_type type;
        if (strcasecmp(words[1], "string") == 0) type = ATTR_STRING;
        else if (strcasecmp(words[1], "date") == 0) type = ATTR_DATE;
        else if (strcasecmp(words[1], "numeric") == 0) type = ATTR_NUMERIC;
        else
            return rp_fail(err, "%s:%d: attribute '%s': unknown type '%s' (expected string, date or numeric)",
                           path, line, words[0], words[1]);
        for (int i = 0; i < rd->n_attr; i++)
            if (strcmp(rd->attr_name[i], words[0]) == 0)
                return rp_fail(err, "%s:%d: attribute '%s' declared twice", path, line, words[0]);
        if (strcmp(words[0], "series_name") == 0) rd->name_attr = rd->n_attr;
        if (type == ATTR_DATE && rd->date_attr < 0) rd->date_attr = rd->n_attr;
        rd->attr_name[rd->n_attr] = words[0];
        rd->attr_type[rd->n_attr] = type;
        rd->n_attr++;
        return 0;
    }
    if (strcasecmp(keyword, "relation") == 0 || strcasecmp(keyword, "frequency") == 0) {
        char **slot = keyword[0] == 'r' || keyword[0] == 'R' ? &out->relation : &out->frequency;
        if (n_words != 1) return rp_fail(err, "%s:%d: expected '@%s VALUE'", path, line, keyword);
        if (*slot) return rp_fail(err, "%s:%d: @%s given twice", path, line, keyword);
        return (*slot = dup_text(words[0], strlen(words[0]), err)) ? 0 : -1;
    }
    if (strcasecmp(keyword, "horizon") == 0) {
        if (n_words != 1) return rp_fail(err, "%s:%d: expected '@horizon N'", path, line);
        if (rd->seen_horizon++) return rp_fail(err, "%s:%d: @horizon given twice", path, line);
        char *stop;
        errno = 0;
        long h = strtol(words[0], &stop, 10);
        if (stop == words[0] || *stop || errno || h < 1 || h > INT_MAX)
            return rp_fail(err, "%s:%d: @horizon: expected a positive integer, got '%s'", path, line, words[0]);
        out->horizon = (int)h;
        return 0;
    }
    if (strcasecmp(keyword, "missing") == 0 || strcasecmp(keyword, "equallength") == 0) {
        int is_missing = keyword[0] == 'm' || keyword[0] == 'M';
        if (n_words != 1) return rp_fail(err, "%s:%d: expected '@%s true|false'", path, line, keyword);
        int *seen = is_missing ? &rd->seen_missing : &rd->seen_equallength;
        if ((*seen)++)
            return rp_fail(err, "%s:%d: @%s given twice", path, line, keyword);
        if (parse_bool(words[0], is_missing ? &out->declares_missing : &out->equal_length))
            return rp_fail(err, "%s:%d: @%s: expected true or false, got '%s'", path, line, keyword, words[0]);
        return 0;
    }
    /* The reference loader silently ignores directives it does not know. We do not: the format
     * defines exactly the seven above, and an unknown one (a misspelt "@equalength", or a
     * directive from a later format version that changes how data lines read) would otherwise
     * be dropped without anyone noticing. */
    return rp_fail(err, "%s:%d: unknown directive '@%s' (known: @relation, @attribute, @frequency, @horizon, "
                   "@missing, @equallength, @data)", path, line, keyword);
}

/* ---- data lines ------------------------------------------------------------------------- */

static int is_tsf_date(const char *s) {
    /* YYYY-MM-DD HH-MM-SS, the format the reference loader gives strptime. */
    static const char shape[] = "dddd-dd-dd dd-dd-dd";
    for (int i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i]) return 0;
    }
    return s[sizeof shape - 1] == '\0';
}

static int is_number(const char *s) {
    char *stop;
    double v = strtod(s, &stop);
    return stop != s && *stop == '\0' && isfinite(v);
}

static int data_line(tsf_reader *rd, rp_tsf *out, rp_error *err) {
    const char *path = rd->in.path;
    int line = rd->in.line_no;
    char *field[MAX_ATTRIBUTES] = {NULL};
    char *p = rd->in.line;
    int colons = 0;
    /* The fields below are split with string functions, which a NUL byte would cut short. */
    if (memchr(rd->in.line, '\0', (size_t)(rd->in.line_end - rd->in.line)))
        return rp_fail(err, "%s:%d: a NUL byte in the line (not a text file?)", path, line);
    for (const char *q = rd->in.line; q < rd->in.line_end; q++) colons += *q == ':';
    if (colons != rd->n_attr)
        return rp_fail(err, "%s:%d: expected %d ':'-separated fields (%d attribute%s, then the values), got %d",
                       path, line, rd->n_attr + 1, rd->n_attr, rd->n_attr == 1 ? "" : "s", colons + 1);
    for (int i = 0; i < rd->n_attr; i++) {
        field[i] = p;
        p = strchr(p, ':');
        *p++ = '\0';
        const char *bad = NULL;
        if (rd->attr_type[i] == ATTR_DATE && !is_tsf_date(field[i])) bad = "a date YYYY-MM-DD HH-MM-SS";
        if (rd->attr_type[i] == ATTR_NUMERIC && !is_number(field[i])) bad = "a number";
        if (i == rd->name_attr && field[i][0] == '\0') bad = "a non-empty series name";
        if (bad)
            return rp_fail(err, "%s:%d:%d: attribute '%s': expected %s, got '%s'", path, line,
                           (int)(field[i] - rd->in.line) + 1, rd->attr_name[i], bad, field[i]);
    }
    const char *name = field[rd->name_attr >= 0 ? rd->name_attr : 0];
    char *values_text = p;
    if (values_text >= rd->in.line_end || *values_text == '\0')
        return rp_fail(err, "%s:%d: series '%s' is empty (no values after the last ':')", path, line, name);

    int n_values = 1;
    for (const char *q = values_text; q < rd->in.line_end; q++) n_values += *q == ',';
    float *values = rp_malloc(sizeof(float) * (size_t)n_values, err);
    if (!values) return -1;
    int n_missing = 0;
    for (int k = 0; k < n_values; k++) {
        char *cell = p;
        while (*p && *p != ',') p++;
        *p++ = '\0'; /* the last cell ends on the line's NUL; p is not read again */
        int col = (int)(cell - rd->in.line) + 1;
        while (*cell == ' ' || *cell == '\t') cell++;
        char *tail = cell + strlen(cell);
        while (tail > cell && (tail[-1] == ' ' || tail[-1] == '\t')) *--tail = '\0';
        if (strcmp(cell, "?") == 0) {
            if (rd->policy == TSF_MISSING_FAIL) {
                free(values);
                return rp_fail(err, "%s:%d:%d: series '%s': value %d is missing ('?') and the missing-value "
                               "policy is fail", path, line, col, name, k + 1);
            }
            n_missing++;
            values[k] = NAN;
            continue;
        }
        const char *what = NULL;
        char *stop;
        errno = 0;
        if (!*cell) {
            free(values);
            return rp_fail(err, "%s:%d:%d: series '%s': value %d is empty", path, line, col, name, k + 1);
        }
        double v = strtod(cell, &stop);
        if (stop == cell || *stop) what = "not a number";
        else if (isnan(v) || (isinf(v) && errno != ERANGE)) what = "NaN or Inf is not allowed (write '?')";
        else if (!(fabs(v) <= FLT_MAX)) what = "number out of float range";
        if (what) {
            free(values);
            return rp_fail(err, "%s:%d:%d: series '%s': value %d: %s: '%.64s'", path, line, col, name, k + 1,
                           what, cell);
        }
        values[k] = (float)v;
    }
    out->n_missing_total += n_missing;

    if (n_missing > 0 && rd->policy == TSF_MISSING_DROP_SERIES) {
        free(values);
        out->n_dropped++;
        return 0;
    }
    if (n_missing == n_values) {
        free(values);
        return rp_fail(err, "%s:%d: series '%s': every value is missing", path, line, name);
    }
    /* @equallength true is a promise that later code may rely on (stacking series into a
     * matrix): check it rather than trust it. */
    if (out->equal_length && out->n_series > 0 && out->series[0].length != n_values) {
        free(values);
        return rp_fail(err, "%s:%d: series '%s' has %d values but @equallength is true and series '%s' has %d",
                       path, line, name, n_values, out->series[0].name, out->series[0].length);
    }
    if (out->n_series == rd->cap_series) {
        int cap = rd->cap_series ? rd->cap_series * 2 : 64;
        rp_tsf_series *bigger = realloc(out->series, sizeof *bigger * (size_t)cap);
        if (!bigger) {
            free(values);
            return rp_fail(err, "%s: out of memory for %d series", path, cap);
        }
        out->series = bigger;
        rd->cap_series = cap;
    }
    rp_tsf_series *s = &out->series[out->n_series];
    memset(s, 0, sizeof *s);
    s->values = values;
    s->length = n_values;
    s->n_missing = n_missing;
    out->n_series++;
    s->name = dup_text(name, strlen(name), err);
    if (!s->name) return -1;
    if (rd->date_attr >= 0) {
        const char *start = field[rd->date_attr];
        if (!(s->start = dup_text(start, strlen(start), err))) return -1;
    }
    return 0;
}

static int parse_tsf(tsf_reader *rd, rp_tsf *out, rp_error *err) {
    const char *path = rd->in.path;
    int in_data = 0;
    while (lines_next(&rd->in)) {
        /* Blank lines carry no series and no metadata; the reference loader rejects them, but
         * nothing is lost by passing over them. */
        if (is_blank_line(rd)) continue;
        if (rd->in.line[0] == '#') continue;
        if (!in_data) {
            if (rd->in.line[0] != '@')
                return rp_fail(err, "%s:%d: data line before @data (missing @data?)", path, rd->in.line_no);
            int rc = header_directive(rd, out, err);
            if (rc < 0) return -1;
            in_data = rc == 1;
            continue;
        }
        if (rd->in.line[0] == '@')
            return rp_fail(err, "%s:%d: directive after @data", path, rd->in.line_no);
        if (data_line(rd, out, err)) return -1;
    }
    if (!in_data) return rp_fail(err, "%s: missing @data (no series found)", path);
    if (out->n_series == 0 && out->n_dropped == 0) return rp_fail(err, "%s: no series after @data", path);
    if (out->n_series == 0)
        return rp_fail(err, "%s: all %d series were dropped for missing values", path, out->n_dropped);
    return 0;
}

int tsf_read(const char *path, rp_tsf_missing policy, rp_tsf *out, rp_error *err) {
    memset(out, 0, sizeof *out);
    tsf_reader rd = {.policy = policy, .name_attr = -1, .date_attr = -1};
    if (lines_open(&rd.in, path, err)) return -1;
    int rc = parse_tsf(&rd, out, err);
    if (rc == 0) rc = (out->source = dup_text(path, strlen(path), err)) ? 0 : -1;
    lines_close(&rd.in);
    if (rc) tsf_free(out);
    return rc;
}
