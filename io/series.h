/* Time series as read from files.
 *
 * rp_series: a multichannel table [rows × cols] (CSV), row-major floats, with column names and,
 * when the file has a leading date/time column, the timestamps as strings.
 * rp_tsf: a Monash .tsf collection of univariate series of varying length.
 *
 * Ownership: the reader fills a caller-provided struct and allocates every buffer inside it;
 * the caller frees with series_free / tsf_free (safe on a zeroed or half-filled struct). */
#ifndef RP_SERIES_H
#define RP_SERIES_H

#include <stdbool.h>

#include "core/error.h"

typedef struct rp_series {
    char *source;        /* file path, or "generated(seed=...)" */
    int rows, cols;
    float *values;       /* [rows × cols] row-major */
    char **col_names;    /* [cols] */
    char *date_name;     /* name of the date column, NULL when there is none */
    char **timestamps;   /* [rows] strings, NULL when there is no date column */
} rp_series;

/* Reads a CSV: one header row, an optional first date/time column (detected when its cells are
 * not numbers), numeric columns. CRLF, a missing final newline and non-ASCII header bytes are
 * fine. Errors name file, line and column: a non-numeric cell, a ragged row, an empty file,
 * NaN/Inf, a duplicated column name. */
int csv_read(const char *path, rp_series *out, rp_error *err);
void series_free(rp_series *s);

/* Keeps only the named columns, in the given order; an unknown name is an error. */
int series_select_columns(rp_series *s, const char *const *names, int n_names, rp_error *err);

/* The built-in generated series for users with no data at hand: per channel a sum of seasonal
 * waves, a trend, regime changes (level and variance shifts at random rows) and noise.
 * Deterministic from seed. */
int series_generate(rp_series *out, int rows, int cols, unsigned long long seed, rp_error *err);

/* A series whose only structure is regime changes, for testing learned patching: per regime a level
 * (U(-2, 2), at least 1 away from the previous one) and a slope (U(-max_slope, max_slope); 0 gives
 * piecewise-constant levels), plus Gaussian noise of std `noise`; new regimes every mean_segment
 * rows on average (lengths uniform in [mean_segment/2, 3·mean_segment/2]), at the same rows in
 * every channel.
 * *change_rows (malloc'd, the caller frees) receives the *n_changes sorted rows where a regime
 * starts. Deterministic from seed. */
int series_generate_changepoints(rp_series *out, int rows, int cols, int mean_segment, double noise, double max_slope,
                                 unsigned long long seed, int **change_rows, int *n_changes, rp_error *err);

typedef enum { TSF_MISSING_FAIL, TSF_MISSING_DROP_SERIES, TSF_MISSING_KEEP_NAN } rp_tsf_missing;

typedef struct rp_tsf_series {
    char *name;
    char *start;          /* start timestamp text, NULL if the file has none */
    int length;
    float *values;        /* [length]; NaN where '?' when TSF_MISSING_KEEP_NAN */
    int n_missing;        /* count of '?' in this series */
} rp_tsf_series;

typedef struct rp_tsf {
    char *source;
    char *relation;       /* @relation, may be NULL */
    char *frequency;      /* @frequency, may be NULL */
    int horizon;          /* @horizon, 0 if absent */
    bool declares_missing;    /* @missing true */
    bool equal_length;        /* @equallength true */
    int n_series;
    rp_tsf_series *series;
    int n_dropped;            /* series dropped for missing values (TSF_MISSING_DROP_SERIES) */
    long long n_missing_total;/* '?' cells seen in the whole file, kept or dropped */
} rp_tsf;

/* Reads a Monash .tsf file. With TSF_MISSING_FAIL a '?' is an error naming line and position. */
int tsf_read(const char *path, rp_tsf_missing policy, rp_tsf *out, rp_error *err);
void tsf_free(rp_tsf *t);

#endif
