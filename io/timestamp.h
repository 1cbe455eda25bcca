/* Timestamps of a series' first column: parsing the common date/time forms, and continuing a
 * series' timestamps past its end in the same style (the rows `reinpatch predict` writes).
 * Pure string and calendar work: no time zone, no locale. */
#ifndef RP_TIMESTAMP_H
#define RP_TIMESTAMP_H

#include <stddef.h>

/* A parsed timestamp and how it was written, so that continuations look like the input.
 * Accepted: "YYYY-MM-DD", "YYYY-MM-DD HH:MM", "YYYY-MM-DD HH:MM:SS" with '-', '/' or '.' between
 * the date fields, 1- or 2-digit month, day and hour, and ' ' or 'T' before the time
 * ("2016-07-01 00:00:00", "2016/7/1 0:00", "2016-07-01T00:00"). */
typedef struct rp_timestamp {
    int year, mon, day, hour, min, sec;
    char date_sep, time_sep;   /* '-' '/' '.'; ' ' or 'T' */
    int pad_mon, pad_day, pad_hour; /* 1: zero-padded ("07"), 0: not ("7"), -1: cannot tell
                                       (two digits, value >= 10); formatting treats != 0 as padded */
    int has_time, has_sec;
} rp_timestamp;

/* 0 when s is one of the accepted forms with a valid date and time, -1 otherwise. */
int rp_timestamp_parse(const char *s, rp_timestamp *t);
/* Seconds since 1970-01-01 00:00:00 UTC (timegm: no time zone, no DST). */
long long rp_timestamp_seconds(const rp_timestamp *t);
/* Writes t in fmt's style into buf. */
void rp_timestamp_format(const rp_timestamp *t, const rp_timestamp *fmt, char *buf, size_t size);

/* The n timestamps that continue a series whose last two are prev and last, written like last.
 * The step is last − prev: whole calendar months when both fall on the same day of the month at
 * the same time (or both on the last day of their months), e.g. monthly or yearly data; else a
 * fixed number of seconds. out[i] receives malloc'd strings (free each). Returns -1 (out
 * untouched) when either timestamp does not parse or the step is not positive. */
int rp_timestamps_continue(const char *prev, const char *last, int n, char **out);

#endif
