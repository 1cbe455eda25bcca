/* Prints a segmentation export (reinpatch segment --out) in the layout examples/segment.c prints,
 * so that tests/api/install_test.sh can compare the two as text:
 *
 *   row R level l: start+length start+length ...     (one line per window and level)
 *
 * A test helper, built in-tree against the internals (h5dump and h5py are not assumed). */
#include <stdio.h>

#include "io/segexport.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: segexport_dump SEG.h5\n");
        return 2;
    }
    rp_segexport e;
    rp_error err;
    if (segexport_read(argv[1], &e, &err)) {
        fprintf(stderr, "segexport_dump: %s\n", err.msg);
        return 1;
    }
    for (int w = 0; w < e.n_windows; w++)
        for (int l = 0; l < e.n_levels; l++) {
            int K = e.levels[l].K;
            printf("row %d level %d:", e.start_row[w], l);
            for (int k = 0; k < K; k++)
                printf(" %d+%d", e.levels[l].starts[(size_t)w * K + k], e.levels[l].lengths[(size_t)w * K + k]);
            printf("\n");
        }
    segexport_free(&e);
    return 0;
}
