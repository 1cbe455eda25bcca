/* libFuzzer harness: bytes -> .h5 file -> the patcher readers (level stack, lookback check,
 * policy weights into the tiny model, recipe text, inspect). */
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/fuzz_model.h"
#include "io/patcher_file.h"

int fuzz_one_patcher(const uint8_t *data, size_t size) {
    rp_recipe *tiny;
    rp_model *m = fuzz_model(&tiny);
    const char *path = fuzz_input_file(data, size, ".h5");
    rp_error err = {{0}};
    rp_recipe levels;
    recipe_defaults(&levels);
    if (patcher_load_recipe(path, &levels, &err) != 0) fuzz_check_message(&err);
    recipe_free(&levels);
    if (patcher_check_lookback(path, tiny->data.lookback, &err) != 0) fuzz_check_message(&err);
    if (patcher_load_params(path, &m->P, &err) != 0) fuzz_check_message(&err);
    char *text = NULL;
    if (patcher_read_recipe(path, &text, &err) != 0) fuzz_check_message(&err);
    free(text);
    fuzz_inspect(path);
    return 0;
}

FUZZ_ENTRY(fuzz_one_patcher)
