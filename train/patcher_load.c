/* levels_from: a level stack loaded from a patcher file (train/patcher_load.h). */
#include "train/patcher_load.h"

#include <stdlib.h>
#include <string.h>

#include "io/patcher_file.h"

/* Index of "trainable" among the per-level schema keys (the index of rp_recipe.marks.level[l]). */
static int trainable_mark_index(void) {
    char key[128];
    int first_level = -1;
    for (int i = 0; recipe_key(i, key, sizeof key) == 0; i++) {
        if (strncmp(key, "levels[].", 9) != 0) continue;
        if (first_level < 0) first_level = i;
        if (!strcmp(key + 9, "trainable")) return i - first_level;
    }
    return -1;
}

int recipe_apply_levels_from(rp_recipe *r, rp_error *err) {
    if (!r->levels_from[0]) return 0;
    char path[RP_PATH_MAX];
    snprintf(path, sizeof path, "%s", r->levels_from);
    if (patcher_check_lookback(path, r->data.lookback, err)) return rp_fail_prefix(err, "levels_from");
    rp_recipe loaded = *r;
    if (patcher_load_recipe(path, &loaded, err)) return rp_fail_prefix(err, "levels_from");
    int idx = trainable_mark_index();
    for (int l = 0; l < loaded.n_levels; l++) {
        int written = idx >= 0 && idx < RP_LEVEL_MARKS && l < r->n_levels && r->marks.level[l][idx].line != 0;
        loaded.levels[l].trainable = written ? r->levels[l].trainable : false;
        /* How tokens carry their place is the backbone's side, not the patcher's: the recipe's. */
        loaded.levels[l].position = l < r->n_levels ? r->levels[l].position : POSITION_INDEX;
        /* The recipe's marks described its own levels: the loaded ones come from the file. */
        if (!written) memset(loaded.marks.level[l], 0, sizeof loaded.marks.level[l]);
        else {
            rp_recipe_mark keep = loaded.marks.level[l][idx];
            memset(loaded.marks.level[l], 0, sizeof loaded.marks.level[l]);
            loaded.marks.level[l][idx] = keep;
        }
        loaded.marks.level_item[l] = (rp_recipe_mark){0, 0};
    }
    for (int l = loaded.n_levels; l < RP_MAX_LEVELS; l++) {
        memset(loaded.marks.level[l], 0, sizeof loaded.marks.level[l]);
        loaded.marks.level_item[l] = (rp_recipe_mark){0, 0};
    }
    loaded.levels_from[0] = '\0';
    if (recipe_validate(&loaded, err)) return rp_fail_prefix(err, "levels_from: %s: the loaded levels", path);
    /* recipe_render frees the text loaded shares with r and gives loaded a new one; on failure
     * it changes nothing, so r keeps its text. */
    if (recipe_render(&loaded, err)) return rp_fail_prefix(err, "levels_from");
    *r = loaded;
    return 0;
}

int trainer_apply_levels_from(rp_trainer *t, rp_error *err) {
    rp_recipe *r = t->recipe;
    if (!r->levels_from[0]) return 0;
    char path[RP_PATH_MAX];
    snprintf(path, sizeof path, "%s", r->levels_from);
    if (recipe_apply_levels_from(r, err)) return -1;
    model_free(&t->model);
    memset(&t->model, 0, sizeof t->model);
    if (model_build(&t->model, r, err)) return rp_fail_prefix(err, "levels_from: %s", path);
    if (model_init(&t->model, (unsigned long long)r->train.seed, err)) return -1;
    if (patcher_load_params(path, &t->model.P, err)) return rp_fail_prefix(err, "levels_from");
    return 0;
}
