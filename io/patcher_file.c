#include "io/patcher_file.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/h5slab.h"


int patcher_is_policy_tensor(const char *name) {
    if (strncmp(name, "levels/", 7) != 0) return 0;
    const char *p = name + 7;
    if (!isdigit((unsigned char)*p)) return 0;
    while (isdigit((unsigned char)*p)) p++;
    if (strncmp(p, "/policy", 7) != 0) return 0;
    return p[7] == 0 || p[7] == '/';
}

static int write_level(hid_t file, int i, const rp_level_recipe *l, rp_error *err) {
    char name[64];
    snprintf(name, sizeof name, "/levels/%d", i);
    if (h5_create_groups(file, name, err) != 0) return -1;
    hid_t g = H5Gopen2(file, name, H5P_DEFAULT);
    if (g < 0) return rp_fail(err, "cannot open group %s", name);
    if ((unsigned)l->patching > PATCHING_CHANGEPOINT || (unsigned)l->policy_init > POLICY_INIT_CHANGEPOINT ||
        (unsigned)l->tokens > TOKENS_POOLED) {
        H5Gclose(g);
        return rp_fail(err, "levels[%d]: invalid patching or tokens value", i);
    }
    int rc = 0;
    rc = rc || h5_write_attr_string(g, "patching", rp_patching_names[l->patching], err);
    rc = rc || h5_write_attr_double(g, "rate", l->rate, err);
    rc = rc || h5_write_attr_int(g, "patch_len", l->patch_len, err);
    rc = rc || h5_write_attr_int(g, "min_len", l->min_len, err);
    rc = rc || h5_write_attr_int(g, "max_len", l->max_len, err);
    rc = rc || h5_write_attr_int(g, "group_size", l->group_size, err);
    rc = rc || h5_write_attr_int(g, "policy_channels", l->policy_channels, err);
    rc = rc || h5_write_attr_int(g, "policy_kernel", l->policy_kernel, err);
    rc = rc || h5_write_attr_int(g, "policy_layers", l->policy_layers, err);
    rc = rc || h5_write_attr_double(g, "prior_scale", l->prior_scale, err);
    rc = rc || h5_write_attr_int(g, "policy_position", l->policy_position ? 1 : 0, err);
    /* 0 uniform, 1 changepoint (rp_policy_init) */
    rc = rc || h5_write_attr_int(g, "policy_init", (int)l->policy_init, err);
    rc = rc || h5_write_attr_int(g, "trainable", l->trainable ? 1 : 0, err);
    rc = rc || h5_write_attr_string(g, "tokens", rp_token_source_names[l->tokens], err);
    H5Gclose(g);
    return rc ? -1 : 0;
}

int patcher_save(const char *path, const rp_params *P, const rp_recipe *r, rp_error *err) {
    if (!P->value) return rp_fail(err, "%s: parameters are not allocated", path);
    if (r->n_levels < 1 || r->n_levels > RP_MAX_LEVELS)
        return rp_fail(err, "%s: %d levels (1..%d allowed)", path, r->n_levels, RP_MAX_LEVELS);
    char tmp[RP_H5_TMP_MAX];
    hid_t file = h5_atomic_create(path, tmp, err);
    if (file < 0) return -1;
    int rc = 0;
    rc = rc || h5_write_kind(file, "patcher", RP_PATCHER_FORMAT_VERSION, err);
    rc = rc || h5_write_attr_int(file, "lookback", r->data.lookback, err);
    rc = rc || h5_write_attr_int(file, "n_levels", r->n_levels, err);
    for (int i = 0; i < r->n_levels && !rc; i++) rc = write_level(file, i, &r->levels[i], err);
    rc = rc || h5_create_groups(file, "/params", err);
    rc = rc || h5slab_write(file, "params", P, P->value, patcher_is_policy_tensor, err);
    rc = rc || h5_write_string(file, "/recipe", r->text ? r->text : "", err);
    if (rc) {
        h5_atomic_abort(file, tmp);
        return rp_fail_prefix(err, "writing patcher %s", path);
    }
    return h5_atomic_commit(file, tmp, path, err);
}

static int parse_name(const char *path, int level, const char *key, const char *value,
                      const char *const *names, int n, int *out, rp_error *err) {
    for (int i = 0; i < n; i++)
        if (strcmp(value, names[i]) == 0) {
            *out = i;
            return 0;
        }
    return rp_fail(err, "%s: /levels/%d: attribute %s: unknown value '%s'", path, level, key,
                   value);
}

static int read_level(hid_t file, const char *path, int i, rp_level_recipe *l, rp_error *err) {
    char name[64];
    snprintf(name, sizeof name, "/levels/%d", i);
    hid_t g = h5_open_group(file, path, name, err);
    if (g < 0) return -1;
    char *patching = NULL, *tokens = NULL;
    int trainable = 0, patching_i = 0, tokens_i = 0, position = 0, init = 0;
    int rc = 0;
    rc = rc || h5_read_attr_string(g, "patching", &patching, err);
    rc = rc || h5_read_attr_double(g, "rate", &l->rate, err);
    rc = rc || h5_read_attr_int(g, "patch_len", &l->patch_len, err);
    rc = rc || h5_read_attr_int(g, "min_len", &l->min_len, err);
    rc = rc || h5_read_attr_int(g, "max_len", &l->max_len, err);
    rc = rc || h5_read_attr_int(g, "group_size", &l->group_size, err);
    rc = rc || h5_read_attr_int(g, "policy_channels", &l->policy_channels, err);
    rc = rc || h5_read_attr_int(g, "policy_kernel", &l->policy_kernel, err);
    rc = rc || h5_read_attr_int(g, "policy_layers", &l->policy_layers, err);
    rc = rc || h5_read_attr_double(g, "prior_scale", &l->prior_scale, err);
    /* Patchers written before policy.position existed have no such attribute: no position feature. */
    rc = rc || h5_read_attr_int_or(g, "policy_position", 0, &position, err);
    /* Patchers written before policy.init existed start from the uniform-spacing prior. */
    rc = rc || h5_read_attr_int_or(g, "policy_init", POLICY_INIT_UNIFORM, &init, err);
    if (!rc && (init < POLICY_INIT_UNIFORM || init > POLICY_INIT_CHANGEPOINT))
        rc = rp_fail(err, "%s: /levels/%d: attribute policy_init: unknown value %d (0 uniform, 1 changepoint)", path,
                     i, init) != 0;
    rc = rc || h5_read_attr_int(g, "trainable", &trainable, err);
    rc = rc || h5_read_attr_string(g, "tokens", &tokens, err);
    rc = rc || parse_name(path, i, "patching", patching, rp_patching_names, RP_PATCHING_KINDS, &patching_i, err);
    rc = rc || parse_name(path, i, "tokens", tokens, rp_token_source_names, RP_TOKEN_SOURCES, &tokens_i, err);
    if (!rc) {
        l->patching = (rp_patching)patching_i;
        l->tokens = (rp_token_source)tokens_i;
        l->trainable = trainable != 0;
        l->policy_position = position != 0;
        l->policy_init = (rp_policy_init)init;
    }
    free(patching);
    free(tokens);
    H5Gclose(g);
    return rc ? -1 : 0;
}

int patcher_load_recipe(const char *path, rp_recipe *levels_out, rp_error *err) {
    hid_t file = h5_open_checked(path, "patcher", RP_PATCHER_FORMAT_VERSION, NULL, err);
    if (file < 0) return -1;
    int n_levels = 0, lookback = 0, rc = 0;
    rp_level_recipe levels[RP_MAX_LEVELS];
    memcpy(levels, levels_out->levels, sizeof levels);
    rc = rc || h5_read_attr_int(file, "lookback", &lookback, err);
    rc = rc || h5_read_attr_int(file, "n_levels", &n_levels, err);
    if (!rc && (n_levels < 1 || n_levels > RP_MAX_LEVELS))
        rc = rp_fail(err, "%s: n_levels is %d (1..%d allowed)", path, n_levels, RP_MAX_LEVELS);
    for (int i = 0; i < n_levels && !rc; i++) rc = read_level(file, path, i, &levels[i], err);
    H5Fclose(file);
    if (rc) return -1;
    levels_out->n_levels = n_levels;
    memcpy(levels_out->levels, levels, sizeof levels);
    levels_out->data.lookback = lookback;
    return 0;
}

int patcher_check_lookback(const char *path, int expected_lookback, rp_error *err) {
    hid_t file = h5_open_checked(path, "patcher", RP_PATCHER_FORMAT_VERSION, NULL, err);
    if (file < 0) return -1;
    int lookback = 0;
    int rc = h5_read_attr_int(file, "lookback", &lookback, err);
    H5Fclose(file);
    if (rc) return -1;
    if (lookback != expected_lookback)
        return rp_fail(err, "%s: patcher was built for lookback %d, but the recipe's "
                       "data.lookback is %d", path, lookback, expected_lookback);
    return 0;
}

int patcher_load_params(const char *path, rp_params *P, rp_error *err) {
    if (!P->value) return rp_fail(err, "%s: parameters are not allocated", path);
    hid_t file = h5_open_checked(path, "patcher", RP_PATCHER_FORMAT_VERSION, NULL, err);
    if (file < 0) return -1;
    /* Read into a copy first, so that a failure halfway leaves P whole. */
    float *stage = NULL;
    int rc = h5slab_check(file, path, "patcher", "params", P, patcher_is_policy_tensor, err);
    if (!rc) {
        stage = rp_malloc(P->total * sizeof(float) + 1, err);
        rc = stage ? 0 : -1;
    }
    if (!rc) {
        memcpy(stage, P->value, P->total * sizeof(float));
        rc = h5slab_read(file, "params", P, stage, patcher_is_policy_tensor, err);
    }
    H5Fclose(file);
    const rp_tensor_info *bad = rc ? NULL : params_first_nonfinite(P, stage);
    if (bad) rc = rp_fail(err, "%s: tensor '%s' holds NaN or infinite values", path, bad->name);
    if (!rc) memcpy(P->value, stage, P->total * sizeof(float));
    free(stage);
    return rc ? -1 : 0;
}

int patcher_read_recipe(const char *path, char **recipe_text, rp_error *err) {
    return h5_read_file_string(path, "patcher", RP_PATCHER_FORMAT_VERSION, "/recipe", recipe_text, err);
}

int patcher_read_model_recipe(const char *path, rp_recipe *r, rp_error *err) {
    char *text = NULL;
    recipe_defaults(r);
    if (patcher_read_recipe(path, &text, err)) return -1;
    if (text && text[0]) {
        char name[RP_PATH_MAX + 16];
        snprintf(name, sizeof name, "%s:/recipe", path);
        rp_error ignored;
        if (recipe_parse(text, name, r, &ignored)) recipe_defaults(r);
    }
    free(text);
    if (patcher_load_recipe(path, r, err)) return -1;
    r->levels_from[0] = 0;
    return 0;
}
