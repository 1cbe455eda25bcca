/* libFuzzer harness: bytes -> .h5 file -> test_windows_read (every array it returns is walked, so
 * ASan checks the sizes the reader allocated against the counts it reports) and inspect (fuzz_inspect). */
#include "tests/fuzz/fuzz_util.h"
#include "io/test_windows.h"

int fuzz_one_test_windows(const uint8_t *data, size_t size) {
    const char *path = fuzz_input_file(data, size, ".h5");
    rp_error err = {{0}};
    rp_test_windows s;
    if (test_windows_read(path, &s, &err) == 0) {
        double sum = 0;
        for (int w = 0; w < s.n_windows; w++) sum += s.mse[w] + s.channel[w] + s.start_row[w];
        for (int l = 0; l < s.n_levels; l++)
            for (int n = 0; n <= s.lookback; n++) sum += (double)s.length_count[l][n];
        fuzz_consume(sum);
        test_windows_free(&s);
    } else {
        fuzz_check_message(&err);
    }
    fuzz_inspect(path);
    return 0;
}

FUZZ_ENTRY(fuzz_one_test_windows)
