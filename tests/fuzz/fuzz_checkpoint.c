/* libFuzzer harness: bytes -> .h5 file -> the checkpoint readers (recipe text, full load into the
 * tiny model, inspect). A damaged file is refused with one line; a file claiming huge datasets
 * must not make the reader allocate what it claims. */
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/fuzz_model.h"
#include "io/checkpoint.h"

int fuzz_one_checkpoint(const uint8_t *data, size_t size) {
    rp_model *m = fuzz_model(NULL);
    const char *path = fuzz_input_file(data, size, ".h5");
    rp_error err = {{0}};
    char *text = NULL;
    if (checkpoint_read_recipe(path, &text, &err) != 0) fuzz_check_message(&err);
    free(text);
    static float *best;
    if (!best) best = calloc(m->P.total, sizeof(float));
    rp_run_state s;
    memset(&s, 0, sizeof s);
    int has_best = 0;
    if (checkpoint_load(path, &m->P, &s, best, &has_best, &err) == 0) checkpoint_state_free(&s);
    else fuzz_check_message(&err);
    fuzz_inspect(path);
    return 0;
}

FUZZ_ENTRY(fuzz_one_checkpoint)
