/* libFuzzer harness: YAML text -> recipe_parse -> recipe_validate -> recipe_render, and --set
 * with the same text as an assignment. A recipe or an error, never a crash or a leak. */
#include "tests/fuzz/fuzz_util.h"
#include "io/recipe.h"

int fuzz_one_recipe(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    rp_recipe r;
    rp_error err = {{0}};
    recipe_defaults(&r);
    if (recipe_parse(text, "fuzz.yaml", &r, &err) == 0 && recipe_validate(&r, &err) == 0) {
        if (recipe_render(&r, &err) != 0) fuzz_check_message(&err);
    } else {
        fuzz_check_message(&err);
    }
    recipe_free(&r);
    recipe_defaults(&r);
    if (recipe_set(&r, text, &err) != 0) fuzz_check_message(&err);
    recipe_free(&r);
    free(text);
    return 0;
}

FUZZ_ENTRY(fuzz_one_recipe)
