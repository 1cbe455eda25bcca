/* Forecasts the steps after the last window of a CSV file with a trained checkpoint, through the
 * public API only, and prints them as `reinpatch predict CHECKPOINT --data FILE --out -` does
 * for a file without a date column: a header of channel names, then one row per step (%.7g).
 *
 *   cc forecast.c $(pkg-config --cflags --libs reinpatch) -o forecast
 *   ./forecast run/checkpoint.h5 series.csv
 *
 * The CSV: a header row, then numbers; a first column that is not numeric (a date) is skipped.
 * When the recipe named its columns (data.columns) those are taken, else every value column.
 * Exit status: 0, 1 on any error (one line on stderr), 2 on a usage error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <reinpatch.h>

#define MAX_LINE 65536
#define MAX_COLUMNS 512

typedef struct table {
    int cols, rows;
    char *names[MAX_COLUMNS];
    float *values;       /* rows × cols, row-major */
} table;

/* A copy of s that the caller frees (strdup is not C99). */
static char *copy(const char *s) {
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    return c ? memcpy(c, s, n) : NULL;
}

/* Splits line at commas in place (no quoting: an example, not a CSV library); returns the count. */
static int split(char *line, char **fields) {
    int n = 0;
    line[strcspn(line, "\r\n")] = 0;
    for (char *p = line; n < MAX_COLUMNS; p++) {
        fields[n++] = p;
        p = strchr(p, ',');
        if (!p) break;
        *p = 0;
    }
    return n;
}

/* The value columns of path (a first non-numeric column skipped); 0, or -1 after a message. */
static int read_table(const char *path, table *t) {
    static char line[MAX_LINE];
    char *fields[MAX_COLUMNS];
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "forecast: %s: cannot open\n", path);
        return -1;
    }
    int skip = -1, capacity = 0, n_header = 0;
    memset(t, 0, sizeof *t);
    if (fgets(line, sizeof line, f)) {
        n_header = split(line, fields);
        for (int c = 0; c < n_header; c++) t->names[c] = copy(fields[c]);
    }
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '\n' || line[0] == '\r') continue;
        int n = split(line, fields);
        if (skip < 0) {   /* the first data row says whether column 0 is a date */
            char *end;
            strtod(fields[0], &end);
            skip = end == fields[0] ? 1 : 0;
            t->cols = n_header - skip;
        }
        if (n != n_header) {
            fprintf(stderr, "forecast: %s: row %d has %d fields, the header %d\n", path, t->rows + 2, n, n_header);
            fclose(f);
            return -1;
        }
        if (t->rows == capacity) {
            capacity = capacity ? 2 * capacity : 1024;
            t->values = realloc(t->values, (size_t)capacity * t->cols * sizeof(float));
        }
        for (int c = 0; c < t->cols; c++)
            t->values[(size_t)t->rows * t->cols + c] = (float)strtod(fields[c + skip], NULL);
        t->rows++;
    }
    fclose(f);
    if (skip > 0) {   /* drop the date column's name */
        free(t->names[0]);
        memmove(t->names, t->names + 1, (size_t)t->cols * sizeof *t->names);
    }
    return 0;
}

static void table_free(table *t) {
    for (int c = 0; c < t->cols; c++) free(t->names[c]);
    free(t->values);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: forecast CHECKPOINT.h5 FILE.csv\n");
        return 2;
    }
    if (rp_api_version() != RP_API_VERSION) {
        fprintf(stderr, "forecast: built for reinpatch API %d, the library is %d\n", RP_API_VERSION, rp_api_version());
        return 1;
    }
    rp_error *err = NULL;
    rp_forecaster *f = rp_forecaster_open(argv[1], &err);
    if (!f) {
        fprintf(stderr, "forecast: %s\n", rp_error_message(err));
        rp_error_free(err);
        return 1;
    }
    /* Compute with the thread count `reinpatch predict` uses for this checkpoint. */
    rp_set_thread_count(rp_forecaster_threads(f));
    int L = rp_forecaster_lookback(f), H = rp_forecaster_horizon(f), C = rp_forecaster_channels(f);

    table t;
    if (read_table(argv[2], &t)) {
        rp_forecaster_close(f);
        return 1;
    }
    /* The checkpoint's columns by name when its recipe named them, else every value column. */
    int pick[MAX_COLUMNS], n_pick = 0;
    for (int c = 0; c < C && rp_forecaster_channel_name(f, c); c++)
        for (int k = 0; k < t.cols; k++)
            if (!strcmp(t.names[k], rp_forecaster_channel_name(f, c))) pick[n_pick++] = k;
    if (!rp_forecaster_channel_name(f, 0))
        for (int k = 0; k < t.cols; k++) pick[n_pick++] = k;

    int status = 1;
    float *x = malloc((size_t)(n_pick ? n_pick : 1) * L * sizeof(float));
    float *y = malloc((size_t)(n_pick ? n_pick : 1) * H * sizeof(float));
    if (t.rows < L) {
        fprintf(stderr, "forecast: %s: %d rows, the checkpoint's lookback needs %d\n", argv[2], t.rows, L);
        goto done;
    }
    /* x is channel-major: channel c's last L values, oldest first. */
    for (int c = 0; c < n_pick; c++)
        for (int s = 0; s < L; s++) x[(size_t)c * L + s] = t.values[(size_t)(t.rows - L + s) * t.cols + pick[c]];
    if (rp_forecast(f, x, n_pick, y, &err)) {
        fprintf(stderr, "forecast: %s: %s\n", argv[2], rp_error_message(err));
        rp_error_free(err);
        goto done;
    }
    for (int c = 0; c < n_pick; c++) printf(c ? ",%s" : "%s", t.names[pick[c]]);
    printf("\n");
    for (int h = 0; h < H; h++) {
        for (int c = 0; c < n_pick; c++) printf(c ? ",%.7g" : "%.7g", y[(size_t)c * H + h]);
        printf("\n");
    }
    status = 0;
done:
    free(x);
    free(y);
    table_free(&t);
    rp_forecaster_close(f);
    return status;
}
