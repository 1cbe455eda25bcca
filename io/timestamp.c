/* timegm is a BSD/GNU extension: ask glibc for it on top of the project's POSIX level. */
#define _DEFAULT_SOURCE 1

#include "io/timestamp.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Reads 1..max digits; returns the count (0 when none). */
static int read_digits(const char **p, int max, int *value) {
    int n = 0, v = 0;
    while (n < max && isdigit((unsigned char)**p)) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    *value = v;
    return n;
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int m) {
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

int rp_timestamp_parse(const char *s, rp_timestamp *t) {
    memset(t, 0, sizeof *t);
    const char *p = s;
    while (*p == ' ') p++;
    int n;
    if (read_digits(&p, 4, &t->year) != 4) return -1;
    if (*p != '-' && *p != '/' && *p != '.') return -1;
    t->date_sep = *p++;
    if ((n = read_digits(&p, 2, &t->mon)) == 0) return -1;
    t->pad_mon = n == 2 ? (t->mon < 10 ? 1 : -1) : 0;
    if (*p++ != t->date_sep) return -1;
    if ((n = read_digits(&p, 2, &t->day)) == 0) return -1;
    t->pad_day = n == 2 ? (t->day < 10 ? 1 : -1) : 0;
    t->time_sep = ' ';
    if ((*p == ' ' || *p == 'T') && isdigit((unsigned char)p[1])) {
        t->time_sep = *p++;
        t->has_time = 1;
        if ((n = read_digits(&p, 2, &t->hour)) == 0) return -1;
        t->pad_hour = n == 2 ? (t->hour < 10 ? 1 : -1) : 0;
        if (*p++ != ':') return -1;
        if (read_digits(&p, 2, &t->min) != 2) return -1;
        if (*p == ':') {
            p++;
            if (read_digits(&p, 2, &t->sec) != 2) return -1;
            t->has_sec = 1;
        }
    }
    while (*p == ' ') p++;
    if (*p) return -1;
    if (t->mon < 1 || t->mon > 12 || t->day < 1 || t->day > days_in_month(t->year, t->mon)) return -1;
    if (t->hour > 23 || t->min > 59 || t->sec > 59) return -1;
    return 0;
}

long long rp_timestamp_seconds(const rp_timestamp *t) {
    struct tm tm = {0};
    tm.tm_year = t->year - 1900;
    tm.tm_mon = t->mon - 1;
    tm.tm_mday = t->day;
    tm.tm_hour = t->hour;
    tm.tm_min = t->min;
    tm.tm_sec = t->sec;
    return (long long)timegm(&tm);
}

void rp_timestamp_format(const rp_timestamp *t, const rp_timestamp *fmt, char *buf, size_t size) {
    int n = snprintf(buf, size, "%04d%c%0*d%c%0*d", t->year, fmt->date_sep, fmt->pad_mon ? 2 : 1, t->mon,
                     fmt->date_sep, fmt->pad_day ? 2 : 1, t->day);
    if (n < 0 || (size_t)n >= size || !fmt->has_time) return;
    n += snprintf(buf + n, size - (size_t)n, "%c%0*d:%02d", fmt->time_sep, fmt->pad_hour ? 2 : 1, t->hour,
                  t->min);
    if (n < 0 || (size_t)n >= size || !fmt->has_sec) return;
    snprintf(buf + n, size - (size_t)n, ":%02d", t->sec);
}

static void from_seconds(long long secs, rp_timestamp *t) {
    time_t tt = (time_t)secs;
    struct tm tm;
    gmtime_r(&tt, &tm);
    t->year = tm.tm_year + 1900;
    t->mon = tm.tm_mon + 1;
    t->day = tm.tm_mday;
    t->hour = tm.tm_hour;
    t->min = tm.tm_min;
    t->sec = tm.tm_sec;
}

int rp_timestamps_continue(const char *prev, const char *last, int n, char **out) {
    rp_timestamp a, b;
    if (!prev || !last || rp_timestamp_parse(prev, &a) || rp_timestamp_parse(last, &b)) return -1;
    long long sa = rp_timestamp_seconds(&a), sb = rp_timestamp_seconds(&b);
    if (sb <= sa) return -1;
    int same_time = a.hour == b.hour && a.min == b.min && a.sec == b.sec;
    int month_ends = a.day == days_in_month(a.year, a.mon) && b.day == days_in_month(b.year, b.mon);
    int months = (b.year - a.year) * 12 + (b.mon - a.mon);
    int by_month = same_time && months > 0 && (a.day == b.day || month_ends);
    long long step = sb - sa;
    /* Zero padding: a field below 10 shows it; for fields >= 10 (unknown, -1) take the other
     * timestamp's, then the other fields' style, then two digits. */
    rp_timestamp fmt = b;
    int *pads[3] = {&fmt.pad_mon, &fmt.pad_day, &fmt.pad_hour};
    const int other[3] = {a.pad_mon, a.pad_day, a.pad_hour};
    int known = -1;
    for (int i = 0; i < 3; i++) {
        if (*pads[i] < 0) *pads[i] = other[i];
        if (known < 0 && *pads[i] >= 0 && (i < 2 || fmt.has_time)) known = *pads[i];
    }
    for (int i = 0; i < 3; i++)
        if (*pads[i] < 0) *pads[i] = known < 0 ? 1 : known;
    char **tmp = calloc((size_t)(n > 0 ? n : 1), sizeof *tmp);
    if (!tmp) return -1;
    for (int i = 0; i < n; i++) {
        rp_timestamp t = b;
        if (by_month) {
            long long m0 = (long long)b.year * 12 + (b.mon - 1) + (long long)months * (i + 1);
            t.year = (int)(m0 / 12);
            t.mon = (int)(m0 % 12) + 1;
            int dim = days_in_month(t.year, t.mon);
            t.day = month_ends ? dim : (b.day < dim ? b.day : dim);
        } else {
            from_seconds(sb + step * (i + 1), &t);
        }
        char buf[64];
        rp_timestamp_format(&t, &fmt, buf, sizeof buf);
        tmp[i] = strdup(buf);
        if (!tmp[i]) {
            for (int j = 0; j < i; j++) free(tmp[j]);
            free(tmp);
            return -1;
        }
    }
    memcpy(out, tmp, (size_t)n * sizeof *out);
    free(tmp);
    return 0;
}
