/* libFuzzer harness: bytes -> CSV file -> csv_read. Refusal is fine; a crash, a leak, an
 * unprintable message or a series whose shape disagrees with its values is not. */
#include "tests/fuzz/fuzz_util.h"
#include "io/series.h"

int fuzz_one_csv(const uint8_t *data, size_t size) {
    const char *path = fuzz_input_file(data, size, ".csv");
    rp_series s;
    rp_error err = {{0}};
    memset(&s, 0, sizeof s);
    if (csv_read(path, &s, &err) == 0) {
        if (s.rows < 1 || s.cols < 1) abort();
        double sum = 0; /* touches every value: ASan checks the slab's size */
        for (size_t i = 0; i < (size_t)s.rows * s.cols; i++) sum += s.values[i];
        fuzz_consume(sum);
    } else {
        fuzz_check_message(&err);
    }
    series_free(&s);
    return 0;
}

FUZZ_ENTRY(fuzz_one_csv)
