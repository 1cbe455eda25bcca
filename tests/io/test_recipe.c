#include <criterion/criterion.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/dataset.h"
#include "io/recipe.h"

static const char *source_root(void) {
    const char *root = getenv("REINPATCH_SOURCE_ROOT");
    return root ? root : ".";
}

static const char *source_path(const char *relative) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", source_root(), relative);
    return path;
}

/* Bytewise comparison of everything a recipe declares: the owned strings and the source marks
 * are where a recipe came from, not what it says. memcpy keeps padding (zeroed by defaults). */
static void assert_same_recipe(const rp_recipe *a, const rp_recipe *b) {
    static rp_recipe x, y;
    memcpy(&x, a, sizeof x);
    memcpy(&y, b, sizeof y);
    x.path = y.path = NULL;
    x.text = y.text = NULL;
    memset(&x.marks, 0, sizeof x.marks);
    memset(&y.marks, 0, sizeof y.marks);
    cr_assert(memcmp(&x, &y, sizeof x) == 0, "recipes differ:\n%s\n---\n%s", a->text ? a->text : "(no text)",
              b->text ? b->text : "(no text)");
}

/* render(r), parse it back, and compare. */
static void assert_render_round_trip(rp_recipe *r) {
    rp_error err = {{0}};
    cr_assert_eq(recipe_render(r, &err), 0, "%s", err.msg);
    rp_recipe back;
    cr_assert_eq(recipe_parse(r->text, "rendered.yaml", &back, &err), 0, "%s\n%s", err.msg, r->text);
    assert_same_recipe(r, &back);
    cr_assert_str_eq(back.text, r->text);
    recipe_free(&back);
}

static void assert_contains(const char *msg, const char *needle) {
    cr_assert(strstr(msg, needle) != NULL, "expected '%s' in the message:\n  %s", needle, msg);
}

/* Parses text that must fail; checks the message holds every needle (NULL-terminated). */
static void expect_parse_error(const char *text, const char *first, ...) {
    rp_recipe r;
    rp_error err = {{0}};
    cr_assert_eq(recipe_parse(text, "recipes/x.yaml", &r, &err), -1, "accepted:\n%s", text);
    cr_assert_null(r.path);
    cr_assert_null(r.text);
    va_list ap;
    va_start(ap, first);
    for (const char *needle = first; needle; needle = va_arg(ap, const char *)) assert_contains(err.msg, needle);
    va_end(ap);
}

static void load_ok(const char *path, rp_recipe *r) {
    rp_error err = {{0}};
    cr_assert_eq(recipe_load(path, r, &err), 0, "%s", err.msg);
}

/* ---- defaults -------------------------------------------------------------------------------- */

Test(recipe, defaults) {
    rp_recipe r;
    recipe_defaults(&r);
    cr_assert_null(r.path);
    cr_assert_null(r.text);
    cr_assert_str_eq(r.data.path, "generated");
    cr_assert_eq(r.data.protocol, PROTOCOL_AUTO);
    cr_assert_eq(r.data.n_columns, 0);
    cr_assert_eq(r.data.lookback, 336);
    cr_assert_eq(r.data.horizon, 96);
    cr_assert_eq(r.data.generated_rows, 4000);
    cr_assert_eq(r.data.generated_channels, 3);
    cr_assert_eq(r.data.generated_seed, 7);
    cr_assert_eq(r.n_levels, 1);
    for (int l = 0; l < RP_MAX_LEVELS; l++) {
        const rp_level_recipe *lv = &r.levels[l];
        cr_assert_eq(lv->patching, PATCHING_FIXED);
        cr_assert_eq(lv->rate, 8.0);
        cr_assert_eq(lv->patch_len, 16);
        cr_assert_eq(lv->min_len, 0);
        cr_assert_eq(lv->max_len, 0);
        cr_assert_eq(lv->group_size, 4);
        cr_assert_eq(lv->policy_channels, 16);
        cr_assert_eq(lv->policy_kernel, 5);
        cr_assert_eq(lv->policy_layers, 2);
        cr_assert_eq(lv->prior_scale, 2.0);
        cr_assert(!lv->policy_position);
        cr_assert(lv->trainable);
        cr_assert_eq(lv->tokens, TOKENS_RAW);
    }
    cr_assert_str_eq(r.levels_from, "");
    cr_assert_eq(r.backbone.kind, BACKBONE_TRANSFORMER);
    cr_assert_eq(r.backbone.inputs, INPUTS_TOP);
    cr_assert_eq(r.backbone.d_model, 16);
    cr_assert_eq(r.backbone.n_heads, 4);
    cr_assert_eq(r.backbone.n_layers, 3);
    cr_assert_eq(r.backbone.d_ff, 128);
    cr_assert_eq(r.backbone.dropout, 0.3);
    cr_assert_eq(r.backbone.head_dropout, 0.0);
    cr_assert_eq(r.backbone.norm, NORM_BATCH);
    cr_assert_eq(r.backbone.state_size, 16);
    cr_assert_eq(r.backbone.expand, 2);
    cr_assert_eq(r.train.epochs, 10);
    cr_assert_eq(r.train.batch_size, 128);
    cr_assert_eq(r.train.batch_unit, BATCH_UNIT_WINDOW);
    cr_assert_eq(r.train.lr, 1e-4);
    cr_assert_eq(r.train.policy_lr, 1e-3);
    cr_assert_eq(r.train.schedule, SCHEDULE_TYPE3);
    cr_assert_eq(r.train.pct_start, 0.3);
    cr_assert_eq(r.train.optimizer, OPTIMIZER_ADAM);
    cr_assert_eq(r.train.weight_decay, 0.0);
    cr_assert_eq(r.train.seed, 2021);
    cr_assert_eq(r.train.threads, 0);
    cr_assert_eq(r.train.patience, 3);
    cr_assert_eq(r.train.max_steps_per_epoch, 0);
    cr_assert_eq(r.train.warmup_epochs, 0);
    cr_assert_eq(r.train.backbone_loss, BACKBONE_LOSS_ALL);
    cr_assert_eq(r.train.advantage, ADVANTAGE_GROUP_STD);
    cr_assert_eq(r.train.entropy_beta, 0.0);
    cr_assert_eq(r.train.policy_anchor, 0.0);
    cr_assert_eq(r.train.checkpoint_every, 0);
    cr_assert_eq(r.train.eval_batch_size, 256);
    cr_assert_str_eq(r.output.dir, "");
    cr_assert(r.output.checkpoint);
}

Test(recipe, defaults_validate_and_round_trip) {
    rp_recipe r;
    rp_error err = {{0}};
    recipe_defaults(&r);
    cr_assert_eq(recipe_validate(&r, &err), 0, "%s", err.msg);
    assert_render_round_trip(&r);
    recipe_free(&r);
}

Test(recipe, empty_mapping_is_all_defaults) {
    rp_recipe r, d;
    rp_error err = {{0}};
    cr_assert_eq(recipe_parse("train:\ndata: ~\n", "recipes/default.yaml", &r, &err), 0, "%s", err.msg);
    recipe_defaults(&d);
    assert_same_recipe(&r, &d);
    recipe_free(&r);
}

Test(recipe, name_defaults_to_file_basename) {
    rp_recipe r;
    rp_error err = {{0}};
    cr_assert_eq(recipe_parse("train: {epochs: 2}\n", "some/dir/etth1_try.yaml", &r, &err), 0, "%s", err.msg);
    cr_assert_str_eq(r.name, "etth1_try");
    cr_assert_str_eq(r.path, "some/dir/etth1_try.yaml");
    recipe_free(&r);
    cr_assert_eq(recipe_parse("train: {epochs: 2}\n", "b.yml", &r, &err), 0, "%s", err.msg);
    cr_assert_str_eq(r.name, "b");
    recipe_free(&r);
    cr_assert_eq(recipe_parse("name: given\n", "b.yml", &r, &err), 0, "%s", err.msg);
    cr_assert_str_eq(r.name, "given");
    recipe_free(&r);
}

/* ---- a full recipe --------------------------------------------------------------------------- */

Test(recipe, full_fixture_every_key) {
    rp_recipe r;
    load_ok(source_path("tests/data/recipes/full.yaml"), &r);
    cr_assert_str_eq(r.name, "full run: \"quoted\"");
    cr_assert_str_eq(r.data.path, "ETTm2.csv");
    cr_assert_eq(r.data.protocol, PROTOCOL_ETT_MINUTE);
    cr_assert_eq(r.data.n_columns, 2);
    cr_assert_str_eq(r.data.columns[0], "HUFL");
    cr_assert_str_eq(r.data.columns[1], "OT");
    cr_assert_eq(r.data.lookback, 512);
    cr_assert_eq(r.data.horizon, 192);
    cr_assert_eq(r.data.generated_rows, 1234);
    cr_assert_eq(r.data.generated_channels, 5);
    cr_assert_eq(r.data.generated_seed, 99);
    cr_assert_eq(r.n_levels, 2);
    const rp_level_recipe *a = &r.levels[0], *b = &r.levels[1];
    cr_assert_eq(a->patching, PATCHING_LEARNED);
    cr_assert_eq(a->rate, 4.0);
    cr_assert_eq(a->patch_len, 12);
    cr_assert_eq(a->min_len, 2);
    cr_assert_eq(a->max_len, 12);
    cr_assert_eq(a->group_size, 6);
    cr_assert_eq(a->policy_channels, 8);
    cr_assert_eq(a->policy_kernel, 3);
    cr_assert_eq(a->policy_layers, 1);
    cr_assert_eq(a->prior_scale, 1.5);
    cr_assert(a->policy_position);
    cr_assert(!a->trainable);
    cr_assert_eq(a->tokens, TOKENS_RAW);
    cr_assert_eq(b->patching, PATCHING_RANDOM);
    cr_assert_eq(b->rate, 2.5);
    cr_assert_eq(b->patch_len, 20);
    cr_assert_eq(b->min_len, 1);
    cr_assert_eq(b->max_len, 0);
    cr_assert_eq(b->group_size, 2);
    cr_assert_eq(a->policy_init, POLICY_INIT_CHANGEPOINT);
    cr_assert_eq(b->policy_init, POLICY_INIT_CHANGEPOINT);
    cr_assert_eq(b->policy_channels, 32);
    cr_assert_eq(b->policy_kernel, 7);
    cr_assert_eq(b->policy_layers, 3);
    cr_assert_eq(b->prior_scale, 0.0);
    cr_assert(b->policy_position);
    cr_assert(b->trainable);
    cr_assert_eq(b->tokens, TOKENS_POOLED);
    cr_assert_str_eq(r.levels_from, "patchers/etth1.h5");
    cr_assert_eq(r.backbone.kind, BACKBONE_S7);
    cr_assert_eq(r.backbone.inputs, INPUTS_ALL);
    cr_assert_eq(r.backbone.d_model, 64);
    cr_assert_eq(r.backbone.n_heads, 3);   /* heads need not divide d_model for s7 */
    cr_assert_eq(r.backbone.n_layers, 4);
    cr_assert_eq(r.backbone.d_ff, 256);
    cr_assert_eq(r.backbone.dropout, 0.05);
    cr_assert_eq(r.backbone.head_dropout, 0.1);
    cr_assert_eq(r.backbone.norm, NORM_LAYER);
    cr_assert_eq(r.backbone.state_size, 32);
    cr_assert_eq(r.backbone.expand, 4);
    cr_assert_eq(r.train.epochs, 7);
    cr_assert_eq(r.train.batch_size, 32);
    cr_assert_eq(r.train.batch_unit, BATCH_UNIT_SAMPLE);
    cr_assert_eq(r.train.lr, 3e-4);
    cr_assert_eq(r.train.policy_lr, 5e-3);
    cr_assert_eq(r.train.schedule, SCHEDULE_ONECYCLE);
    cr_assert_eq(r.train.pct_start, 0.25);
    cr_assert_eq(r.train.optimizer, OPTIMIZER_ADAMW);
    cr_assert_eq(r.train.weight_decay, 0.01);
    cr_assert_eq(r.train.seed, 123456789012LL);
    cr_assert_eq(r.train.threads, 2);
    cr_assert_eq(r.train.patience, 5);
    cr_assert_eq(r.train.max_steps_per_epoch, 100);
    cr_assert_eq(r.train.warmup_epochs, 2);
    cr_assert_eq(r.train.backbone_loss, BACKBONE_LOSS_BEST);
    cr_assert_eq(r.train.advantage, ADVANTAGE_LEAVE_ONE_OUT);
    cr_assert_eq(r.train.entropy_beta, 0.01);
    cr_assert_eq(r.train.policy_anchor, 0.5);
    cr_assert_eq(r.train.checkpoint_every, 500);
    cr_assert_eq(r.train.eval_batch_size, 512);
    cr_assert_str_eq(r.output.dir, "runs/full");
    cr_assert(!r.output.checkpoint);

    int counts[RP_MAX_LEVELS];
    cr_assert_eq(recipe_level_counts(&r, counts), 2);
    cr_assert_eq(counts[0], 128);   /* 512 / 4 */
    cr_assert_eq(counts[1], 52);    /* ceil(128 / 2.5) */

    cr_assert_not_null(r.text);
    assert_render_round_trip(&r);
    recipe_free(&r);
}

Test(recipe, every_key_differs_from_default_in_full_fixture) {
    /* Guards the fixture itself: a key left at its default would make the round trip weaker.
     * Every "key: value" line of the rendered defaults must be absent from the fixture's text, except
     * level keys that only some of the fixture's levels change. */
    rp_recipe r, d;
    rp_error err = {{0}};
    load_ok(source_path("tests/data/recipes/full.yaml"), &r);
    recipe_defaults(&d);
    cr_assert_eq(recipe_render(&d, &err), 0, "%s", err.msg);
    const char *varied_per_level[] = {"    trainable: true", "    tokens: raw", "    max_len: 0"};
    int checked = 0;
    for (const char *line = d.text; *line;) {
        const char *end = strchr(line, '\n');
        char one[256];
        snprintf(one, sizeof one, "\n%.*s\n", (int)(end - line), line);
        line = end + 1;
        if (one[1] == '#' || one[strlen(one) - 2] == ':') continue;   /* comment or section */
        bool allowed = false;
        for (size_t i = 0; i < sizeof varied_per_level / sizeof *varied_per_level; i++)
            allowed |= !strncmp(one + 1, varied_per_level[i], strlen(varied_per_level[i]));
        if (allowed) continue;
        cr_assert_null(strstr(r.text, one), "full.yaml leaves a default:%s", one);
        checked++;
    }
    cr_assert_gt(checked, 45);
    recipe_free(&r);
    recipe_free(&d);
}

Test(recipe, render_is_yaml_of_every_key) {
    rp_recipe r;
    rp_error err = {{0}};
    recipe_defaults(&r);
    cr_assert_eq(recipe_render(&r, &err), 0, "%s", err.msg);
    assert_contains(r.text, "\ndata:\n  path: \"generated\"\n  protocol: auto\n  columns: []\n");
    assert_contains(r.text, "  generated:\n    rows: 4000\n");
    assert_contains(r.text, "\nlevels:\n  - patching: fixed\n    rate: 8\n    patch_len: 16\n");
    assert_contains(r.text, "    policy:\n      channels: 16\n      kernel: 5\n");
    assert_contains(r.text, "\n    tokens: raw\nlevels_from: \"\"\nbackbone:\n");
    assert_contains(r.text, "  lr: 0.0001\n");
    assert_contains(r.text, "\noutput:\n  dir: \"\"\n  checkpoint: true\n");
    recipe_free(&r);
}

Test(recipe, render_round_trip_awkward_values) {
    rp_recipe r;
    rp_error err = {{0}};
    recipe_defaults(&r);
    r.train.lr = 0.1 + 0.2;   /* needs 17 digits */
    r.train.policy_lr = 1e-300;
    r.levels[0].prior_scale = 1.0 / 3.0;
    r.levels[0].patching = PATCHING_LEARNED;
    r.levels[0].rate = 7.3;
    snprintf(r.name, sizeof r.name, "tab\there \"q\" back\\slash: #x");
    snprintf(r.output.dir, sizeof r.output.dir, "runs/ü");
    r.data.n_columns = 2;
    snprintf(r.data.columns[0], RP_NAME_MAX, "a, b");
    snprintf(r.data.columns[1], RP_NAME_MAX, "[c]");
    r.train.seed = 9223372036854775807LL;
    cr_assert_eq(recipe_validate(&r, &err), 0, "%s", err.msg);
    assert_render_round_trip(&r);
    recipe_free(&r);
}

/* ---- errors: each names file:line:column and the key path ----------------------------------- */

Test(recipe_errors, rate_out_of_range_from_file) {
    rp_recipe r;
    rp_error err = {{0}};
    cr_assert_eq(recipe_load(source_path("tests/data/recipes/bad_rate.yaml"), &r, &err), -1);
    assert_contains(err.msg, "bad_rate.yaml:7:5: levels[0].rate: must be > 1, got 0.5");
}

Test(recipe_errors, missing_file) {
    rp_recipe r;
    rp_error err = {{0}};
    cr_assert_eq(recipe_load("no/such/recipe.yaml", &r, &err), -1);
    assert_contains(err.msg, "no/such/recipe.yaml: cannot open recipe");
    cr_assert_null(r.path);
}

Test(recipe_errors, unknown_key_suggests_spelling) {
    expect_parse_error("train:\n  epoch: 3\n", "recipes/x.yaml:2:3: train.epoch: unknown key 'epoch'",
                       "(did you mean 'epochs'?)", NULL);
    expect_parse_error("levels:\n  - rate: 4\n    polcy: {channels: 3}\n",
                       "recipes/x.yaml:3:5: levels[0].polcy: unknown key 'polcy'", "did you mean 'policy'?", NULL);
    expect_parse_error("levels:\n  - policy: {chanels: 3}\n",
                       "recipes/x.yaml:2:14: levels[0].policy.chanels: unknown key 'chanels' (did you mean 'channels'?)",
                       NULL);
    expect_parse_error("levels:\n  - {rate: 4, channels: 3}\n",
                       "recipes/x.yaml:2:15: levels[0].channels: unknown key", "(did you mean 'policy.channels'?)",
                       NULL);
}

Test(recipe_errors, unknown_key_in_the_wrong_section) {
    expect_parse_error("epochs: 3\n", "recipes/x.yaml:1:1: epochs: unknown key 'epochs'",
                       "(did you mean 'train.epochs'?)", NULL);
    expect_parse_error("rate: 3\n", "recipes/x.yaml:1:1: rate: unknown key", "'levels[].rate'", NULL);
    expect_parse_error("bogus_thing: 1\n", "recipes/x.yaml:1:1: bogus_thing: unknown key 'bogus_thing'", NULL);
}

Test(recipe_errors, wrong_types) {
    expect_parse_error("train:\n  epochs: abc\n",
                       "recipes/x.yaml:2:3: train.epochs: expected an integer, got 'abc'", NULL);
    expect_parse_error("train:\n  epochs: 2.5\n", "recipes/x.yaml:2:3: train.epochs: expected an integer, got '2.5'",
                       NULL);
    expect_parse_error("train:\n  lr: fast\n", "recipes/x.yaml:2:3: train.lr: expected a number, got 'fast'", NULL);
    expect_parse_error("train:\n  lr: .nan\n", "train.lr: expected a number", NULL);
    expect_parse_error("output:\n  checkpoint: yes\n",
                       "recipes/x.yaml:2:3: output.checkpoint: expected true or false, got 'yes'", NULL);
    expect_parse_error("train:\n  epochs: \"5\"\n",
                       "recipes/x.yaml:2:3: train.epochs: expected an integer, got the string '5'", NULL);
    expect_parse_error("train:\n  epochs: [1, 2]\n", "recipes/x.yaml:2:3: train.epochs: expected an integer, got a list",
                       NULL);
    expect_parse_error("train:\n  epochs:\n", "recipes/x.yaml:2:3: train.epochs: expected an integer, got nothing",
                       NULL);
    expect_parse_error("data:\n  path: {a: 1}\n", "recipes/x.yaml:2:3: data.path: expected a string, got a mapping",
                       NULL);
    expect_parse_error("train: 5\n", "recipes/x.yaml:1:1: train: expected a mapping of keys, got '5'", NULL);
    expect_parse_error("train:\n  epochs: 99999999999\n", "recipes/x.yaml:2:3: train.epochs:",
                       "out of range for a 32-bit integer", NULL);
}

Test(recipe_errors, out_of_range) {
    expect_parse_error("levels:\n  - rate: 1\n", "recipes/x.yaml:2:5: levels[0].rate: must be > 1, got 1", NULL);
    expect_parse_error("backbone:\n  dropout: 1.0\n",
                       "recipes/x.yaml:2:3: backbone.dropout: must be in [0, 1), got 1.0", NULL);
    expect_parse_error("train:\n  lr: 0\n", "recipes/x.yaml:2:3: train.lr: must be > 0, got 0", NULL);
    expect_parse_error("train:\n  batch_size: 0\n", "recipes/x.yaml:2:3: train.batch_size: must be >= 1, got 0",
                       NULL);
    expect_parse_error("train:\n  batch_unit: samples\n",
                       "recipes/x.yaml:2:3: train.batch_unit: must be one of window, sample; got 'samples'", NULL);
    expect_parse_error("data:\n  lookback: -4\n", "recipes/x.yaml:2:3: data.lookback: must be >= 1, got -4", NULL);
    expect_parse_error("levels:\n  - policy:\n      kernel: 4\n",
                       "recipes/x.yaml:3:7: levels[0].policy.kernel: must be odd, got 4", NULL);
    expect_parse_error("levels:\n  - group_size: 0\n", "recipes/x.yaml:2:5: levels[0].group_size: must be >= 1",
                       NULL);
    expect_parse_error("name: ''\n", "recipes/x.yaml:1:1: name: must not be empty", NULL);
}

Test(recipe_errors, bad_enum_lists_allowed_values) {
    expect_parse_error("levels:\n  - patching: fixd\n",
                       "recipes/x.yaml:2:5: levels[0].patching: must be one of fixed, learned, random, changepoint; got 'fixd'",
                       NULL);
    expect_parse_error("train:\n  schedule: cosine\n",
                       "recipes/x.yaml:2:3: train.schedule: must be one of type3, onecycle, constant; got 'cosine'",
                       NULL);
    expect_parse_error("data:\n  protocol: ETT\n",
                       "data.protocol: must be one of auto, ett_hourly, ett_minute, ratio; got 'ETT'", NULL);
}

Test(recipe_errors, duplicate_key) {
    expect_parse_error("train:\n  epochs: 3\n  lr: 0.1\n  epochs: 4\n",
                       "recipes/x.yaml:4:3: train.epochs: duplicate key 'epochs' (first at line 2)", NULL);
    expect_parse_error("train: {epochs: 1}\ntrain: {lr: 0.1}\n", "recipes/x.yaml:2:1: train: duplicate key", NULL);
}

Test(recipe_errors, yaml_syntax_error) {
    rp_recipe r;
    rp_error err = {{0}};
    cr_assert_eq(recipe_load(source_path("tests/data/recipes/syntax_error.yaml"), &r, &err), -1);
    assert_contains(err.msg, "syntax_error.yaml:3:");
    assert_contains(err.msg, "YAML syntax error: mapping values are not allowed in this context");
    expect_parse_error("data: [1, 2\n", "recipes/x.yaml:2:1: YAML syntax error:", NULL);
    expect_parse_error("a: *nope\n", "recipes/x.yaml:1:4: YAML syntax error:", "undefined alias", NULL);
    expect_parse_error("data:\n\tlookback: 3\n", "recipes/x.yaml:2:1: YAML syntax error:", "YAML indents with spaces",
                       NULL);
}

Test(recipe_errors, empty_file_and_comments_only) {
    rp_recipe r;
    rp_error err = {{0}};
    cr_assert_eq(recipe_load(source_path("tests/data/recipes/empty.yaml"), &r, &err), -1);
    assert_contains(err.msg, "empty.yaml:1:1: empty recipe");
    cr_assert_eq(recipe_load(source_path("tests/data/recipes/comments_only.yaml"), &r, &err), -1);
    assert_contains(err.msg, "comments_only.yaml:1:1: empty recipe");
}

Test(recipe_errors, top_level_not_a_mapping) {
    expect_parse_error("- a\n- b\n", "recipes/x.yaml:1:1: the top level must be a mapping", "got a list", NULL);
    expect_parse_error("just words\n", "recipes/x.yaml:1:1: the top level must be a mapping", "got 'just words'",
                       NULL);
    expect_parse_error("train: {}\n---\ntrain: {}\n", "recipes/x.yaml:3:1: a second YAML document", NULL);
}

Test(recipe_errors, levels_empty_too_long_or_malformed) {
    expect_parse_error("levels: []\n", "recipes/x.yaml:1:1: levels: must list 1 to 8 levels, got none", NULL);
    expect_parse_error("levels:\n", "recipes/x.yaml:1:1: levels: must list 1 to 8 levels, got none", NULL);
    expect_parse_error("data: {lookback: 100000}\nlevels: [{rate: 2}, {rate: 2}, {rate: 2}, {rate: 2}, {rate: 2}, "
                       "{rate: 2}, {rate: 2}, {rate: 2}, {rate: 2}]\n",
                       "recipes/x.yaml:2:1: levels: must list 1 to 8 levels, got 9", NULL);
    expect_parse_error("levels: {rate: 2}\n", "recipes/x.yaml:1:1: levels: expected a list of levels", NULL);
    expect_parse_error("levels:\n  - fixed\n", "recipes/x.yaml:2:5: levels[0]: expected a mapping of level keys",
                       NULL);
}

Test(recipe_errors, columns) {
    expect_parse_error("data:\n  columns: [OT, HUFL, OT]\n", "recipes/x.yaml:2:23: data.columns[2]: 'OT' is listed twice",
                       NULL);
    expect_parse_error("data:\n  columns: [OT, {a: 1}]\n", "recipes/x.yaml:2:17: data.columns[1]: expected a column name",
                       NULL);
    expect_parse_error("data:\n  columns: {a: 1}\n", "recipes/x.yaml:2:3: data.columns: expected a list", NULL);
    rp_recipe r;
    rp_error err = {{0}};
    cr_assert_eq(recipe_parse("data: {columns: OT}\n", "x.yaml", &r, &err), 0, "%s", err.msg);
    cr_assert_eq(r.data.n_columns, 1);
    cr_assert_str_eq(r.data.columns[0], "OT");
    recipe_free(&r);
}

/* ---- cross-field validation ------------------------------------------------------------------ */

Test(recipe_validate, min_len_infeasible_names_key_line) {
    rp_recipe r;
    rp_error err = {{0}};
    cr_assert_eq(recipe_load(source_path("tests/data/recipes/infeasible_min_len.yaml"), &r, &err), -1);
    assert_contains(err.msg, "infeasible_min_len.yaml:6:5: levels[0]: min_len 9 × 42 patches > 336 steps");
}

Test(recipe_validate, max_len_and_min_max) {
    expect_parse_error("levels:\n  - patching: learned\n    rate: 8\n    max_len: 7\n",
                       "recipes/x.yaml:4:5: levels[0]: max_len 7 × 42 patches < 336 steps", NULL);
    expect_parse_error("levels:\n  - patching: learned\n    min_len: 5\n    max_len: 4\n",
                       "recipes/x.yaml:3:5: levels[0]: min_len 5 > max_len 4", NULL);
    expect_parse_error("data: {lookback: 9}\nlevels:\n  - {rate: 8, max_len: 7}\n",
                       "recipes/x.yaml:3:15: levels[0]: fixed segments of 8 steps > max_len 7", NULL);
    expect_parse_error("data: {lookback: 100}\nlevels:\n  - {rate: 8, min_len: 5}\n",
                       "recipes/x.yaml:3:15: levels[0]: the last fixed segment has 4 steps < min_len 5", NULL);
    expect_parse_error("levels:\n  - {rate: 8}\n  - {rate: 4, patching: learned, min_len: 5}\n",
                       "levels[1]: min_len 5 × 11 patches > 42 patches of levels[0]", NULL);
}

Test(recipe_validate, heads_must_divide_d_model) {
    expect_parse_error("backbone:\n  d_model: 16\n  n_heads: 3\n",
                       "recipes/x.yaml:3:3: backbone.n_heads: 3 heads do not divide d_model 16", NULL);
    expect_parse_error("backbone:\n  d_model: 18\n", "recipes/x.yaml:2:3: backbone.n_heads: 4 heads do not divide d_model 18",
                       NULL);
}

Test(recipe_validate, fixed_rate_must_be_integer) {
    expect_parse_error("levels:\n  - patching: fixed\n    rate: 2.5\n",
                       "recipes/x.yaml:3:5: levels[0].rate: a fixed level cuts segments of length rate",
                       "got 2.5", NULL);
}

Test(recipe_validate, learned_level_needs_a_group) {
    expect_parse_error("levels:\n  - patching: learned\n    group_size: 1\n",
                       "recipes/x.yaml:3:5: levels[0].group_size: a trainable learned level needs group_size >= 2",
                       NULL);
    rp_recipe r;
    rp_error err = {{0}};
    cr_assert_eq(recipe_parse("levels: [{patching: learned, group_size: 1, trainable: false}]\n", "x.yaml", &r, &err),
                 0, "%s", err.msg);
    recipe_free(&r);
}

Test(recipe_validate, upper_level_needs_units_and_pooled_needs_a_lower_level) {
    expect_parse_error("data: {lookback: 8}\nlevels:\n  - rate: 8\n  - rate: 2\n",
                       "recipes/x.yaml:4:5: levels[1]: nothing to group: levels[0] leaves 1 patch", NULL);
    expect_parse_error("levels:\n  - tokens: pooled\n",
                       "recipes/x.yaml:2:5: levels[0].tokens: pooled pools the tokens of a lower level", NULL);
}

Test(recipe_validate, checks_fields_set_in_code) {
    rp_recipe r;
    rp_error err = {{0}};
    recipe_defaults(&r);
    r.train.batch_size = 0;
    cr_assert_eq(recipe_validate(&r, &err), -1);
    cr_assert_str_eq(err.msg, "train.batch_size: must be >= 1, got 0");
    recipe_defaults(&r);
    r.levels[0].patch_len = 0;
    cr_assert_eq(recipe_validate(&r, &err), -1);
    cr_assert_str_eq(err.msg, "levels[0].patch_len: must be >= 1, got 0");
    recipe_defaults(&r);
    r.n_levels = 0;
    cr_assert_eq(recipe_validate(&r, &err), -1);
    cr_assert_str_eq(err.msg, "levels: must list 1 to 8 levels, got 0");
    recipe_defaults(&r);
    r.data.horizon = 0;
    cr_assert_eq(recipe_validate(&r, &err), -1);
    cr_assert_str_eq(err.msg, "data.horizon: must be >= 1, got 0");
    recipe_defaults(&r);
    r.train.schedule = (rp_schedule)9;
    cr_assert_eq(recipe_validate(&r, &err), -1);
    assert_contains(err.msg, "train.schedule: must be one of type3, onecycle, constant");
}

Test(recipe_validate, default_key_named_with_file_only) {
    /* n_heads and d_model both defaults: the message names the file and the key, not a line. */
    rp_recipe r;
    rp_error err = {{0}};
    cr_assert_eq(recipe_parse("train: {epochs: 1}\n", "recipes/y.yaml", &r, &err), 0, "%s", err.msg);
    r.backbone.n_heads = 5;
    cr_assert_eq(recipe_validate(&r, &err), -1);
    cr_assert_str_eq(err.msg, "recipes/y.yaml: backbone.n_heads: 5 heads do not divide d_model 16");
    recipe_free(&r);
}

/* ---- level counts ---------------------------------------------------------------------------- */

Test(recipe, level_counts) {
    rp_recipe r;
    recipe_defaults(&r);
    int counts[RP_MAX_LEVELS];
    cr_assert_eq(recipe_level_counts(&r, counts), 1);
    cr_assert_eq(counts[0], 42);
    r.n_levels = 3;
    r.levels[1].rate = 4;   /* ceil(42 / 4) = 11 */
    r.levels[2].rate = 3;   /* ceil(11 / 3) = 4 */
    cr_assert_eq(recipe_level_counts(&r, counts), 3);
    cr_assert_eq(counts[1], 11);
    cr_assert_eq(counts[2], 4);
    cr_assert_eq(recipe_level_count(336, 8), 42);
    cr_assert_eq(recipe_level_count(337, 8), 43);
    cr_assert_eq(recipe_level_count(104, 2), 52);
    cr_assert_eq(recipe_level_count(7, 8), 1);
    cr_assert_eq(recipe_level_count(3, 0.3 * 10), 1);   /* 0.3 * 10 rounds to 3.0000000000000004 */
    cr_assert_eq(recipe_level_count(30, 0.1 * 3 * 10), 10);
    cr_assert_eq(recipe_level_count(10, 1.0), -1);
    cr_assert_eq(recipe_level_count(0, 2.0), -1);
}

/* ---- --set ----------------------------------------------------------------------------------- */

static void set_ok(rp_recipe *r, const char *assignment) {
    rp_error err = {{0}};
    cr_assert_eq(recipe_set(r, assignment, &err), 0, "%s: %s", assignment, err.msg);
}

static void set_fails(rp_recipe *r, const char *assignment, const char *expected) {
    rp_error err = {{0}};
    cr_assert_eq(recipe_set(r, assignment, &err), -1, "accepted %s", assignment);
    assert_contains(err.msg, expected);
}

Test(recipe_set, overrides) {
    rp_recipe r;
    load_ok(source_path("recipes/etth1_fixed.yaml"), &r);
    set_ok(&r, "train.epochs=1");
    set_ok(&r, " train.lr = 3e-4");
    set_ok(&r, "levels[0].rate=4");
    set_ok(&r, "levels[0].policy.kernel=7");
    set_ok(&r, "levels[0].patching=learned");
    set_ok(&r, "data.columns=[OT, HUFL]");
    set_ok(&r, "data.path=/data/ETTh1.csv");
    set_ok(&r, "output.checkpoint=false");
    set_ok(&r, "backbone={d_model: 32, n_heads: 8}");
    set_ok(&r, "name=etth1 quick");
    cr_assert_eq(r.train.epochs, 1);
    cr_assert_eq(r.train.lr, 3e-4);
    cr_assert_eq(r.levels[0].rate, 4.0);
    cr_assert_eq(r.levels[0].policy_kernel, 7);
    cr_assert_eq(r.levels[0].patching, PATCHING_LEARNED);
    cr_assert_eq(r.data.n_columns, 2);
    cr_assert_str_eq(r.data.columns[1], "HUFL");
    cr_assert_str_eq(r.data.path, "/data/ETTh1.csv");
    cr_assert(!r.output.checkpoint);
    cr_assert_eq(r.backbone.d_model, 32);
    cr_assert_eq(r.backbone.n_heads, 8);
    cr_assert_eq(r.backbone.d_ff, 128);   /* untouched keys of a section stay */
    cr_assert_str_eq(r.name, "etth1 quick");
    rp_error err = {{0}};
    cr_assert_eq(recipe_validate(&r, &err), 0, "%s", err.msg);
    /* text follows the overrides */
    assert_contains(r.text, "  epochs: 1\n");
    assert_contains(r.text, "    rate: 4\n");
    assert_render_round_trip(&r);
    recipe_free(&r);
}

Test(recipe_set, levels_by_index_and_whole_list) {
    rp_recipe r;
    recipe_defaults(&r);
    set_ok(&r, "levels=[{patching: learned, rate: 4}, {rate: 2, tokens: pooled}]");
    cr_assert_eq(r.n_levels, 2);
    cr_assert_eq(r.levels[0].patching, PATCHING_LEARNED);
    cr_assert_eq(r.levels[1].rate, 2.0);
    cr_assert_eq(r.levels[1].tokens, TOKENS_POOLED);
    set_ok(&r, "levels[1].rate=3");
    set_ok(&r, "levels[1]={patch_len: 8}");
    cr_assert_eq(r.levels[1].rate, 3.0);   /* a mapping on one level merges */
    cr_assert_eq(r.levels[1].patch_len, 8);
    rp_error err = {{0}};
    cr_assert_eq(recipe_validate(&r, &err), 0, "%s", err.msg);
    /* a shorter list resets the levels it drops */
    set_ok(&r, "levels=[{rate: 6}]");
    rp_recipe d;
    recipe_defaults(&d);
    d.levels[0].rate = 6;
    cr_assert_eq(r.n_levels, 1);
    cr_assert(memcmp(&r.levels[1], &d.levels[1], sizeof d.levels[1]) == 0);
    assert_render_round_trip(&r);
    recipe_free(&r);
}

Test(recipe_set, errors) {
    rp_recipe r;
    recipe_defaults(&r);
    set_fails(&r, "train.epochs=abc", "--set train.epochs=abc: train.epochs: expected an integer, got 'abc'");
    set_fails(&r, "train.epochs=", "--set train.epochs=: train.epochs: expected an integer, got nothing");
    set_fails(&r, "train.epoch=1", "--set train.epoch=1: train.epoch: unknown key 'train.epoch' (did you mean "
                                   "'train.epochs'?)");
    set_fails(&r, "levels[1].rate=4", "--set levels[1].rate=4: levels[1].rate: no level 1: the recipe has 1 level");
    set_fails(&r, "levels[x].rate=4", "--set levels[x].rate=4: levels[x].rate: expected levels[N]");
    set_fails(&r, "levels.rate=4", "--set levels.rate=4: levels.rate: unknown key 'levels.rate' (levels is a list: "
                                   "write levels[0].rate)");
    set_fails(&r, "levels[0].rate=0.5", "--set levels[0].rate=0.5: levels[0].rate: must be > 1, got 0.5");
    set_fails(&r, "levels[0].bogus=1", "--set levels[0].bogus=1: levels[0].bogus: unknown key 'bogus'");
    set_fails(&r, "train.schedule=cosine", "--set train.schedule=cosine: train.schedule: must be one of type3, "
                                           "onecycle, constant; got 'cosine'");
    set_fails(&r, "train.epochs", "--set train.epochs: expected key.path=value");
    set_fails(&r, "=3", "--set =3: missing key");
    set_fails(&r, "train.epochs=[1", "--set train.epochs=[1: train.epochs: cannot read the value as YAML");
    set_fails(&r, "levels=[]", "--set levels=[]: levels: must list 1 to 8 levels, got none");
    set_fails(&r, "train={epochs: 2, lr: -1}", "--set train={epochs: 2, lr: -1}: train.lr: must be > 0, got -1");
}

Test(recipe_set, failure_leaves_recipe_unchanged) {
    rp_recipe r, before;
    load_ok(source_path("recipes/default.yaml"), &r);
    memcpy(&before, &r, sizeof r);
    char *text = strdup(r.text);
    set_fails(&r, "train={epochs: 2, lr: -1}", "train.lr");
    set_fails(&r, "levels=[{rate: 2}, {rate: 0}]", "levels[1].rate");
    cr_assert(memcmp(&r, &before, sizeof r) == 0);
    cr_assert_str_eq(r.text, text);
    free(text);
    recipe_free(&r);
}

Test(recipe_set, validation_after_set_names_the_override) {
    rp_recipe r;
    rp_error err = {{0}};
    load_ok(source_path("recipes/default.yaml"), &r);
    set_ok(&r, "backbone.n_heads=3");
    cr_assert_eq(recipe_validate(&r, &err), -1);
    cr_assert_str_eq(err.msg, "--set backbone.n_heads: backbone.n_heads: 3 heads do not divide d_model 16");
    recipe_free(&r);
    load_ok(source_path("recipes/default.yaml"), &r);
    set_ok(&r, "levels[0].patching=learned");
    set_ok(&r, "levels[0].min_len=9");
    cr_assert_eq(recipe_validate(&r, &err), -1);
    cr_assert_str_eq(err.msg, "--set levels[0].min_len: levels[0]: min_len 9 × 12 patches > 96 steps");
    recipe_free(&r);
}

/* ---- data path resolution -------------------------------------------------------------------- */

static char *make_data_dir(void) {
    static char dir[] = "/tmp/rp_recipe_test_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/ETTh1.csv", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("date,OT\n", f);
    fclose(f);
    return dir;
}

static void remove_data_dir(const char *dir) {
    char path[256];
    snprintf(path, sizeof path, "%s/ETTh1.csv", dir);
    unlink(path);
    rmdir(dir);
}

Test(recipe_data, generated_passes_through) {
    rp_recipe r;
    rp_error err = {{0}};
    recipe_defaults(&r);
    setenv("REINPATCH_DATA", "/nonexistent", 1);
    cr_assert_eq(recipe_resolve_data(&r, &err), 0, "%s", err.msg);
    cr_assert_str_eq(r.data.resolved_path, "generated");
}

Test(recipe_data, relative_path_under_reinpatch_data) {
    char *dir = make_data_dir();
    rp_recipe r;
    rp_error err = {{0}};
    char expected[512], root[300];
    snprintf(root, sizeof root, "%s/", dir);   /* a trailing slash is fine */
    setenv("REINPATCH_DATA", root, 1);
    load_ok(source_path("recipes/etth1_fixed.yaml"), &r);
    cr_assert_eq(recipe_resolve_data(&r, &err), 0, "%s", err.msg);
    snprintf(expected, sizeof expected, "%s/ETTh1.csv", dir);
    cr_assert_str_eq(r.data.resolved_path, expected);
    cr_assert_str_eq(r.data.path, "ETTh1.csv");   /* the recipe still says what was written */

    /* absolute paths ignore REINPATCH_DATA */
    setenv("REINPATCH_DATA", "/nonexistent", 1);
    set_ok(&r, "data.path=\"" "/tmp\"");
    cr_assert_eq(recipe_resolve_data(&r, &err), -1);
    assert_contains(err.msg, "data.path: '/tmp' is a directory");
    char assignment[600];
    snprintf(assignment, sizeof assignment, "data.path=%s", expected);
    set_ok(&r, assignment);
    cr_assert_eq(recipe_resolve_data(&r, &err), 0, "%s", err.msg);
    cr_assert_str_eq(r.data.resolved_path, expected);
    recipe_free(&r);
    remove_data_dir(dir);
}

Test(recipe_data, relative_to_cwd_when_unset) {
    char *dir = make_data_dir();
    rp_recipe r;
    rp_error err = {{0}};
    unsetenv("REINPATCH_DATA");
    cr_assert_eq(chdir(dir), 0);
    load_ok(source_path("recipes/etth1_fixed.yaml"), &r);
    cr_assert_eq(recipe_resolve_data(&r, &err), 0, "%s", err.msg);
    cr_assert_str_eq(r.data.resolved_path, "ETTh1.csv");
    recipe_free(&r);
    cr_assert_eq(chdir("/"), 0);
    remove_data_dir(dir);
}

Test(recipe_data, missing_file_names_path_and_reinpatch_data) {
    rp_recipe r;
    rp_error err = {{0}};
    setenv("REINPATCH_DATA", "/no/such/data", 1);
    load_ok(source_path("recipes/etth2_fixed.yaml"), &r);
    cr_assert_eq(recipe_resolve_data(&r, &err), -1);
    assert_contains(err.msg, "etth2_fixed.yaml:6:3: data.path: 'ETTh2.csv' not found");
    assert_contains(err.msg, "'/no/such/data/ETTh2.csv'");
    assert_contains(err.msg, "REINPATCH_DATA=/no/such/data");
    unsetenv("REINPATCH_DATA");
    cr_assert_eq(chdir("/"), 0);
    cr_assert_eq(recipe_resolve_data(&r, &err), -1);
    assert_contains(err.msg, "'ETTh2.csv' not found");
    assert_contains(err.msg, "REINPATCH_DATA is unset");
    recipe_free(&r);
}

/* ---- shipped recipes and docs ---------------------------------------------------------------- */

Test(recipe_shipped, all_load_validate_and_round_trip) {
    DIR *dir = opendir(source_path("recipes"));
    cr_assert_not_null(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml")) continue;
        char rel[512];
        snprintf(rel, sizeof rel, "recipes/%s", e->d_name);
        rp_recipe r;
        rp_error err = {{0}};
        cr_assert_eq(recipe_load(source_path(rel), &r, &err), 0, "%s", err.msg);
        cr_assert_eq(recipe_validate(&r, &err), 0, "%s", err.msg);
        char stem[256];
        snprintf(stem, sizeof stem, "%.*s", (int)(len - 5), e->d_name);
        cr_assert_str_eq(r.name, stem, "%s: name should match the file", rel);
        assert_render_round_trip(&r);
        recipe_free(&r);
        n++;
    }
    closedir(dir);
    cr_assert_geq(n, 9, "found %d recipes", n);
}

Test(recipe_shipped, published_settings) {
    rp_recipe r;
    int counts[RP_MAX_LEVELS];
    load_ok(source_path("recipes/default.yaml"), &r);
    cr_assert_str_eq(r.data.path, "generated");
    cr_assert_eq(r.data.lookback, 96);
    cr_assert_eq(r.data.horizon, 24);
    cr_assert_eq(r.backbone.n_heads, 2);
    cr_assert_eq(r.train.epochs, 3);
    recipe_free(&r);

    load_ok(source_path("recipes/etth1_fixed.yaml"), &r);
    cr_assert_eq(recipe_level_counts(&r, counts), 1);
    cr_assert_eq(counts[0], 42);   /* PatchTST/42 */
    cr_assert_eq(r.levels[0].patch_len, 16);
    cr_assert_eq(r.backbone.d_model, 16);
    cr_assert_eq(r.train.seed, 2021);
    rp_recipe learned;
    load_ok(source_path("recipes/etth1_reinpatch.yaml"), &learned);
    cr_assert_eq(learned.levels[0].patching, PATCHING_LEARNED);
    cr_assert_eq(learned.levels[0].group_size, 4);
    /* the learned variant differs from the baseline only in its level, its name and the GRPG
     * settings that a fixed level does not read */
    cr_assert_eq(learned.train.backbone_loss, BACKBONE_LOSS_GREEDY);
    learned.levels[0].patching = PATCHING_FIXED;
    learned.train.backbone_loss = r.train.backbone_loss;
    learned.train.policy_lr = r.train.policy_lr;
    memcpy(learned.name, r.name, sizeof r.name);
    assert_same_recipe(&r, &learned);
    recipe_free(&r);
    recipe_free(&learned);

    load_ok(source_path("recipes/national_illness_fixed.yaml"), &r);
    cr_assert_eq(recipe_level_counts(&r, counts), 1);
    cr_assert_eq(counts[0], 52);
    cr_assert_eq(r.levels[0].patch_len, 24);
    cr_assert_eq(r.train.batch_size, 16);
    cr_assert_eq(r.train.lr, 0.0025);
    cr_assert_eq(r.train.schedule, SCHEDULE_CONSTANT);
    recipe_free(&r);
}

Test(recipe_docs, every_key_documented) {
    FILE *f = fopen(source_path("docs/recipes.md"), "r");
    cr_assert_not_null(f, "docs/recipes.md missing");
    static char docs[1 << 17];
    size_t n = fread(docs, 1, sizeof docs - 1, f);
    fclose(f);
    docs[n] = '\0';
    char key[128], quoted[140];
    int count = 0;
    for (int i = 0; recipe_key(i, key, sizeof key) == 0; i++, count++) {
        snprintf(quoted, sizeof quoted, "`%s`", key);
        cr_assert(strstr(docs, quoted), "docs/recipes.md does not document %s", quoted);
    }
    cr_assert_gt(count, 50);
}
