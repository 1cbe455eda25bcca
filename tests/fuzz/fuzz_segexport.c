/* libFuzzer harness: bytes -> .h5 file -> segexport_read (every array it returns is walked, so
 * ASan checks the sizes the reader allocated against the counts it reports) and inspect. */
#include "tests/fuzz/fuzz_util.h"
#include "io/segexport.h"

int fuzz_one_segexport(const uint8_t *data, size_t size) {
    const char *path = fuzz_input_file(data, size, ".h5");
    rp_error err = {{0}};
    rp_segexport e;
    if (segexport_read(path, &e, &err) == 0) {
        long long sum = 0;
        for (int w = 0; w < e.n_windows; w++) sum += e.channel[w] + e.start_row[w];
        for (int l = 0; l < e.n_levels; l++)
            for (long long i = 0; i < (long long)e.n_windows * e.levels[l].K; i++)
                sum += e.levels[l].starts[i] + e.levels[l].lengths[i];
        fuzz_consume((double)sum);
        segexport_free(&e);
    } else {
        fuzz_check_message(&err);
    }
    fuzz_inspect(path);
    return 0;
}

FUZZ_ENTRY(fuzz_one_segexport)
