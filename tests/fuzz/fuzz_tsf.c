/* libFuzzer harness: bytes -> .tsf file -> tsf_read under each missing-value policy. */
#include "tests/fuzz/fuzz_util.h"
#include "io/series.h"

int fuzz_one_tsf(const uint8_t *data, size_t size) {
    const char *path = fuzz_input_file(data, size, ".tsf");
    const rp_tsf_missing policies[3] = {TSF_MISSING_FAIL, TSF_MISSING_DROP_SERIES, TSF_MISSING_KEEP_NAN};
    for (int k = 0; k < 3; k++) {
        rp_tsf t;
        rp_error err = {{0}};
        memset(&t, 0, sizeof t);
        if (tsf_read(path, policies[k], &t, &err) == 0) {
            double sum = 0;
            for (int i = 0; i < t.n_series; i++)
                for (int j = 0; j < t.series[i].length; j++) sum += t.series[i].values[j];
            fuzz_consume(sum);
        } else {
            fuzz_check_message(&err);
        }
        tsf_free(&t);
    }
    return 0;
}

FUZZ_ENTRY(fuzz_one_tsf)
