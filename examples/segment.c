/* Cuts a series into patches with a trained level stack, through the public API only.
 *
 *   cc segment.c $(pkg-config --cflags --libs reinpatch) -o segment
 *   ./segment patcher.h5 values.txt       (or a checkpoint; values from stdin without a file)
 *
 * The series is whitespace-separated numbers. It is cut into consecutive windows of the
 * patcher's lookback (rows 0, L, 2L, ...; a shorter tail is left out), as
 * `reinpatch segment --split all` does, and every level's patches of every window are printed:
 *
 *   row 0 level 0: 0+4 4+3 7+5 ...      (start+length in steps from the window's first row)
 *
 * Exit status: 0, 1 on any error (one line on stderr), 2 on a usage error. */
#include <stdio.h>
#include <stdlib.h>

#include <reinpatch.h>

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: segment PATCHER.h5 [VALUES.txt]\n");
        return 2;
    }
    FILE *in = argc == 3 ? fopen(argv[2], "r") : stdin;
    if (!in) {
        fprintf(stderr, "segment: %s: cannot open\n", argv[2]);
        return 1;
    }
    int n = 0, capacity = 1024;
    float *values = malloc((size_t)capacity * sizeof(float));
    double v;   /* read as double, then rounded once to float, as reinpatch reads a CSV */
    while (fscanf(in, "%lf", &v) == 1) {
        if (n == capacity) values = realloc(values, (size_t)(capacity *= 2) * sizeof(float));
        values[n++] = (float)v;
    }
    int bad = !feof(in);
    if (in != stdin) fclose(in);
    if (bad) {
        fprintf(stderr, "segment: %s: not a number after value %d\n", argc == 3 ? argv[2] : "stdin", n);
        free(values);
        return 1;
    }

    rp_error *err = NULL;
    rp_patcher *p = rp_patcher_open(argv[1], &err);
    if (!p) {
        fprintf(stderr, "segment: %s\n", rp_error_message(err));
        rp_error_free(err);
        free(values);
        return 1;
    }
    int L = rp_patcher_lookback(p), levels = rp_patcher_levels(p);
    /* Level 0 has the most patches: arrays of that size fit every level. */
    int *starts = malloc((size_t)rp_patcher_patches(p, 0) * sizeof(int));
    int *lengths = malloc((size_t)rp_patcher_patches(p, 0) * sizeof(int));
    int status = 0;
    for (int row = 0; row + L <= n && status == 0; row += L)
        for (int level = 0; level < levels; level++) {
            int K = rp_segment(p, values + row, L, level, starts, lengths, &err);
            if (K < 0) {
                fprintf(stderr, "segment: row %d: %s\n", row, rp_error_message(err));
                rp_error_free(err);
                status = 1;
                break;
            }
            printf("row %d level %d:", row, level);
            for (int k = 0; k < K; k++) printf(" %d+%d", starts[k], lengths[k]);
            printf("\n");
        }
    if (n < L) fprintf(stderr, "segment: %d values, fewer than one window of %d\n", n, L);
    free(starts);
    free(lengths);
    free(values);
    rp_patcher_close(p);
    return status || n < L;
}
