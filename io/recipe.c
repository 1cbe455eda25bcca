/* Recipes: one schema table drives parsing (libyaml document API), --set overrides, range
 * validation and rendering, so a key can never be parsed one way and printed another.
 *
 * The schema is two tables of (key path, type, offset, range or enum names): recipe_fields for
 * rp_recipe (dotted paths: "train.epochs"; the entry "levels" holds the list of levels) and
 * level_fields for one rp_level_recipe ("rate", "policy.kernel"). A dotted path's leading
 * components are nested mappings; an entry's index in its table is also the index of its mark
 * (file line/column) in rp_recipe.marks. */
#include "io/recipe.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "io/dataset.h"

/* ---------------------------------------------------------------------------------------------
 * The schema */

typedef enum {
    FIELD_INT,
    FIELD_INT64,
    FIELD_DOUBLE,
    FIELD_BOOL,
    FIELD_STRING,
    FIELD_ENUM,
    FIELD_COLUMNS,   /* data.columns: list of names */
    FIELD_LEVELS,    /* levels: list of mappings over level_fields */
} field_type;

enum {
    MIN_OPEN = 1u,   /* value > min instead of >= min */
    MAX_OPEN = 2u,   /* value < max instead of <= max */
    NONEMPTY = 4u,   /* strings: "" is an error */
    ODD = 8u,        /* ints: must be odd (centred conv kernels) */
};

typedef struct field {
    const char *path;
    field_type type;
    size_t offset;
    size_t size;               /* FIELD_STRING: buffer size */
    double min, max;           /* inclusive unless MIN_OPEN / MAX_OPEN; +-INFINITY = unbounded */
    unsigned flags;
    const char *const *names;  /* FIELD_ENUM: names indexed by value */
    int n_names;
} field;

typedef struct schema {
    const field *fields;
    int n;
    const char *display_prefix;   /* how recipe_key names its keys: "" or "levels[]." */
} schema;

static const char *const protocol_names[] = {
    [PROTOCOL_AUTO] = "auto", [PROTOCOL_ETT_HOURLY] = "ett_hourly",
    [PROTOCOL_ETT_MINUTE] = "ett_minute", [PROTOCOL_RATIO] = "ratio"};
#define LENGTH(a) (sizeof(a) / sizeof *(a))
const char *const rp_patching_names[] = {
    [PATCHING_FIXED] = "fixed", [PATCHING_LEARNED] = "learned", [PATCHING_RANDOM] = "random",
    [PATCHING_CHANGEPOINT] = "changepoint"};
_Static_assert(LENGTH(rp_patching_names) == RP_PATCHING_KINDS, "one name per patching kind");
const char *const rp_policy_init_names[] = {[POLICY_INIT_UNIFORM] = "uniform", [POLICY_INIT_CHANGEPOINT] = "changepoint"};
_Static_assert(LENGTH(rp_policy_init_names) == RP_POLICY_INITS, "one name per policy init");
const char *const rp_token_source_names[] = {[TOKENS_RAW] = "raw", [TOKENS_POOLED] = "pooled"};
_Static_assert(LENGTH(rp_token_source_names) == RP_TOKEN_SOURCES, "one name per token source");
const char *const rp_backbone_names[] = {
    [BACKBONE_TRANSFORMER] = "transformer", [BACKBONE_S7] = "s7", [BACKBONE_ETSMLP] = "etsmlp"};
_Static_assert(LENGTH(rp_backbone_names) == RP_BACKBONE_KINDS, "one name per backbone kind");
const char *const rp_backbone_inputs_names[] = {[INPUTS_TOP] = "top", [INPUTS_ALL] = "all"};
_Static_assert(LENGTH(rp_backbone_inputs_names) == RP_BACKBONE_INPUTS, "one name per backbone input");
const char *const rp_optimizer_names[] = {[OPTIMIZER_ADAM] = "adam", [OPTIMIZER_ADAMW] = "adamw"};
_Static_assert(LENGTH(rp_optimizer_names) == RP_OPTIMIZERS, "one name per optimizer");
const char *const rp_backbone_loss_names[] = {
    [BACKBONE_LOSS_ALL] = "all", [BACKBONE_LOSS_GREEDY] = "greedy", [BACKBONE_LOSS_BEST] = "best",
    [BACKBONE_LOSS_MIXED] = "mixed"};
_Static_assert(LENGTH(rp_backbone_loss_names) == RP_BACKBONE_LOSSES, "one name per backbone loss");
const char *const rp_advantage_names[] = {
    [ADVANTAGE_GROUP_STD] = "group_std", [ADVANTAGE_GROUP_MEAN] = "group_mean",
    [ADVANTAGE_LEAVE_ONE_OUT] = "leave_one_out", [ADVANTAGE_GREEDY_BASELINE] = "greedy_baseline"};
_Static_assert(LENGTH(rp_advantage_names) == RP_ADVANTAGES, "one name per advantage estimator");
const char *const rp_batch_unit_names[] = {[BATCH_UNIT_WINDOW] = "window", [BATCH_UNIT_SAMPLE] = "sample"};
_Static_assert(LENGTH(rp_batch_unit_names) == RP_BATCH_UNITS, "one name per batch unit");
const char *const rp_position_names[] = {[POSITION_INDEX] = "index", [POSITION_TIME] = "time"};
_Static_assert(LENGTH(rp_position_names) == RP_POSITIONS, "one name per token position");
const char *const rp_head_names[] = {[HEAD_FLATTEN] = "flatten", [HEAD_UNPATCH] = "unpatch"};
_Static_assert(LENGTH(rp_head_names) == RP_HEAD_KINDS, "one name per head");

/* Enum fields are read and written as int. */
_Static_assert(sizeof(rp_patching) == sizeof(int), "enum size");
_Static_assert(sizeof(rp_token_source) == sizeof(int), "enum size");
_Static_assert(sizeof(rp_backbone_kind) == sizeof(int), "enum size");
_Static_assert(sizeof(rp_backbone_inputs) == sizeof(int), "enum size");
_Static_assert(sizeof(rp_norm_kind) == sizeof(int), "enum size");
_Static_assert(sizeof(rp_schedule) == sizeof(int), "enum size");
_Static_assert(sizeof(rp_optimizer) == sizeof(int), "enum size");
_Static_assert(sizeof(rp_backbone_loss) == sizeof(int), "enum size");
_Static_assert(sizeof(rp_policy_init) == sizeof(int), "enum size");
_Static_assert(sizeof(rp_advantage) == sizeof(int), "enum size");
_Static_assert(sizeof(rp_batch_unit) == sizeof(int), "enum size");
_Static_assert(sizeof(rp_position) == sizeof(int), "enum size");
_Static_assert(sizeof(rp_head_kind) == sizeof(int), "enum size");

#define NO_LIMIT INFINITY
#define R(member) offsetof(rp_recipe, member)
#define LV(member) offsetof(rp_level_recipe, member)
#define F_INT(p, off, lo, hi, fl) \
    {.path = p, .type = FIELD_INT, .offset = off, .min = lo, .max = hi, .flags = fl}
#define F_INT64(p, off, lo) \
    {.path = p, .type = FIELD_INT64, .offset = off, .min = lo, .max = NO_LIMIT}
#define F_DOUBLE(p, off, lo, hi, fl) \
    {.path = p, .type = FIELD_DOUBLE, .offset = off, .min = lo, .max = hi, .flags = fl}
#define F_BOOL(p, off) {.path = p, .type = FIELD_BOOL, .offset = off}
#define F_STRING(p, member, fl) \
    {.path = p, .type = FIELD_STRING, .offset = R(member), \
     .size = sizeof(((rp_recipe *)0)->member), .flags = fl}
#define F_ENUM(p, off, n) \
    {.path = p, .type = FIELD_ENUM, .offset = off, .names = n, .n_names = sizeof n / sizeof *n}

/* Order = render order; a section's keys must be contiguous. Ranges are the single-field checks;
 * recipe_validate adds the cross-field ones. docs/recipes.md documents every entry. */
static const field recipe_fields[] = {
    F_STRING("name", name, NONEMPTY),
    F_STRING("data.path", data.path, NONEMPTY),
    F_ENUM("data.protocol", R(data.protocol), protocol_names),
    {.path = "data.columns", .type = FIELD_COLUMNS, .offset = R(data.columns)},
    F_INT("data.lookback", R(data.lookback), 1, NO_LIMIT, 0),
    F_INT("data.horizon", R(data.horizon), 1, NO_LIMIT, 0),
    F_INT("data.generated.rows", R(data.generated_rows), 1, NO_LIMIT, 0),
    F_INT("data.generated.channels", R(data.generated_channels), 1, NO_LIMIT, 0),
    F_INT64("data.generated.seed", R(data.generated_seed), 0),
    {.path = "levels", .type = FIELD_LEVELS, .offset = R(levels), .min = 1, .max = RP_MAX_LEVELS},
    F_STRING("levels_from", levels_from, 0),
    F_ENUM("backbone.kind", R(backbone.kind), rp_backbone_names),
    F_ENUM("backbone.inputs", R(backbone.inputs), rp_backbone_inputs_names),
    F_INT("backbone.d_model", R(backbone.d_model), 1, NO_LIMIT, 0),
    F_INT("backbone.n_heads", R(backbone.n_heads), 1, NO_LIMIT, 0),
    F_INT("backbone.n_layers", R(backbone.n_layers), 1, NO_LIMIT, 0),
    F_INT("backbone.d_ff", R(backbone.d_ff), 1, NO_LIMIT, 0),
    F_DOUBLE("backbone.dropout", R(backbone.dropout), 0, 1, MAX_OPEN),
    F_DOUBLE("backbone.head_dropout", R(backbone.head_dropout), 0, 1, MAX_OPEN),
    F_ENUM("backbone.norm", R(backbone.norm), rp_norm_names),
    F_INT("backbone.state_size", R(backbone.state_size), 1, NO_LIMIT, 0),
    F_INT("backbone.expand", R(backbone.expand), 1, NO_LIMIT, 0),
    F_ENUM("backbone.head", R(backbone.head), rp_head_names),
    F_INT("backbone.unpatch.channels", R(backbone.unpatch_channels), 1, NO_LIMIT, 0),
    F_INT("backbone.unpatch.knots", R(backbone.unpatch_knots), 1, NO_LIMIT, 0),
    F_INT("train.epochs", R(train.epochs), 1, NO_LIMIT, 0),
    F_INT("train.batch_size", R(train.batch_size), 1, NO_LIMIT, 0),
    F_ENUM("train.batch_unit", R(train.batch_unit), rp_batch_unit_names),
    F_DOUBLE("train.lr", R(train.lr), 0, NO_LIMIT, MIN_OPEN),
    F_DOUBLE("train.policy_lr", R(train.policy_lr), 0, NO_LIMIT, MIN_OPEN),
    F_ENUM("train.schedule", R(train.schedule), rp_schedule_names),
    F_DOUBLE("train.pct_start", R(train.pct_start), 0, 1, MIN_OPEN | MAX_OPEN),
    F_ENUM("train.optimizer", R(train.optimizer), rp_optimizer_names),
    F_DOUBLE("train.weight_decay", R(train.weight_decay), 0, NO_LIMIT, 0),
    F_INT64("train.seed", R(train.seed), 0),
    F_INT("train.threads", R(train.threads), 0, 4096, 0),
    F_INT("train.patience", R(train.patience), 1, NO_LIMIT, 0),
    F_INT("train.max_steps_per_epoch", R(train.max_steps_per_epoch), 0, NO_LIMIT, 0),
    F_INT("train.warmup_epochs", R(train.warmup_epochs), 0, NO_LIMIT, 0),
    F_ENUM("train.backbone_loss", R(train.backbone_loss), rp_backbone_loss_names),
    F_ENUM("train.advantage", R(train.advantage), rp_advantage_names),
    F_DOUBLE("train.mix_share", R(train.mix_share), 0, 1, 0),
    F_INT("train.mix_jitter", R(train.mix_jitter), 1, NO_LIMIT, 0),
    F_DOUBLE("train.entropy_beta", R(train.entropy_beta), 0, NO_LIMIT, 0),
    F_DOUBLE("train.policy_anchor", R(train.policy_anchor), 0, NO_LIMIT, 0),
    F_INT("train.checkpoint_every", R(train.checkpoint_every), 0, NO_LIMIT, 0),
    F_INT("train.eval_batch_size", R(train.eval_batch_size), 1, NO_LIMIT, 0),
    F_STRING("output.dir", output.dir, 0),
    F_BOOL("output.checkpoint", R(output.checkpoint)),
};

static const field level_fields[] = {
    F_ENUM("patching", LV(patching), rp_patching_names),
    F_DOUBLE("rate", LV(rate), 1, NO_LIMIT, MIN_OPEN),
    F_INT("patch_len", LV(patch_len), 1, NO_LIMIT, 0),
    F_INT("min_len", LV(min_len), 0, NO_LIMIT, 0),
    F_INT("max_len", LV(max_len), 0, NO_LIMIT, 0),
    F_INT("group_size", LV(group_size), 1, NO_LIMIT, 0),
    F_INT("policy.channels", LV(policy_channels), 1, NO_LIMIT, 0),
    F_INT("policy.kernel", LV(policy_kernel), 1, NO_LIMIT, ODD),
    F_INT("policy.layers", LV(policy_layers), 1, NO_LIMIT, 0),
    F_DOUBLE("policy.prior_scale", LV(prior_scale), 0, NO_LIMIT, 0),
    F_BOOL("policy.position", LV(policy_position)),
    F_ENUM("policy.init", LV(policy_init), rp_policy_init_names),
    F_ENUM("position", LV(position), rp_position_names),
    F_BOOL("trainable", LV(trainable)),
    F_ENUM("tokens", LV(tokens), rp_token_source_names),
};

#define N_RECIPE_FIELDS ((int)(sizeof recipe_fields / sizeof *recipe_fields))
#define N_LEVEL_FIELDS ((int)(sizeof level_fields / sizeof *level_fields))
_Static_assert(sizeof recipe_fields / sizeof *recipe_fields <= RP_RECIPE_MARKS, "marks");
_Static_assert(sizeof level_fields / sizeof *level_fields <= RP_LEVEL_MARKS, "marks");

static const schema recipe_schema = {recipe_fields, N_RECIPE_FIELDS, ""};
static const schema level_schema = {level_fields, N_LEVEL_FIELDS, "levels[]."};

/* Indices used by cross-field checks and defaults, found once by name so the tables stay the
 * only place that orders keys. */
static int field_index(const schema *sc, const char *path) {
    for (int i = 0; i < sc->n; i++)
        if (strcmp(sc->fields[i].path, path) == 0) return i;
    return -1;
}

/* True when path names a nested mapping of the schema ("data", "data.generated", "policy"). */
static bool is_section(const schema *sc, const char *path) {
    size_t n = strlen(path);
    for (int i = 0; i < sc->n; i++)
        if (strncmp(sc->fields[i].path, path, n) == 0 && sc->fields[i].path[n] == '.') return true;
    return false;
}

/* ---------------------------------------------------------------------------------------------
 * Defaults */

static void set_string(char *dst, size_t size, const char *src) {
    /* Zero-fill the whole buffer: two recipes with the same strings are then bytewise equal. */
    memset(dst, 0, size);
    size_t n = strlen(src);
    if (n >= size) n = size - 1;
    memcpy(dst, src, n);
}

static void level_defaults(rp_level_recipe *l) {
    memset(l, 0, sizeof *l);
    l->patching = PATCHING_FIXED;
    l->rate = 8;
    l->patch_len = 16;
    l->min_len = 0;
    l->max_len = 0;
    l->group_size = 4;
    l->policy_channels = 16;
    l->policy_kernel = 5;
    l->policy_layers = 2;
    l->prior_scale = 2.0;
    l->policy_position = false;
    l->policy_init = POLICY_INIT_UNIFORM;
    l->trainable = true;
    l->tokens = TOKENS_RAW;
    l->position = POSITION_INDEX;
}

void recipe_defaults(rp_recipe *r) {
    memset(r, 0, sizeof *r);
    set_string(r->name, sizeof r->name, "default");

    set_string(r->data.path, sizeof r->data.path, "generated");
    r->data.protocol = PROTOCOL_AUTO;
    r->data.n_columns = 0;
    r->data.lookback = 336;
    r->data.horizon = 96;
    r->data.generated_rows = 4000;
    r->data.generated_channels = 3;
    r->data.generated_seed = 7;

    r->n_levels = 1;
    for (int l = 0; l < RP_MAX_LEVELS; l++) level_defaults(&r->levels[l]);

    r->backbone.kind = BACKBONE_TRANSFORMER;
    r->backbone.inputs = INPUTS_TOP;
    r->backbone.d_model = 16;
    r->backbone.n_heads = 4;
    r->backbone.n_layers = 3;
    r->backbone.d_ff = 128;
    r->backbone.dropout = 0.3;
    r->backbone.head_dropout = 0.0;
    r->backbone.norm = NORM_BATCH;
    r->backbone.state_size = 16;
    r->backbone.expand = 2;
    r->backbone.head = HEAD_FLATTEN;
    r->backbone.unpatch_channels = 2;
    r->backbone.unpatch_knots = 8;

    r->train.epochs = 10;
    r->train.batch_size = 128;
    r->train.batch_unit = BATCH_UNIT_WINDOW;
    r->train.lr = 1e-4;
    r->train.policy_lr = 1e-3;
    r->train.schedule = SCHEDULE_TYPE3;
    r->train.pct_start = 0.3;
    r->train.optimizer = OPTIMIZER_ADAM;
    r->train.weight_decay = 0.0;
    r->train.seed = 2021;
    r->train.threads = 0;
    r->train.patience = 3;
    r->train.max_steps_per_epoch = 0;
    r->train.warmup_epochs = 0;
    r->train.backbone_loss = BACKBONE_LOSS_ALL;
    r->train.advantage = ADVANTAGE_GROUP_STD;
    r->train.mix_share = 0.5;
    r->train.mix_jitter = 2;
    r->train.entropy_beta = 0.0;
    r->train.policy_anchor = 0.0;
    r->train.checkpoint_every = 0;
    r->train.eval_batch_size = 256;

    r->output.checkpoint = true;
}

void recipe_free(rp_recipe *r) {
    if (!r) return;
    free(r->path);
    free(r->text);
    r->path = NULL;
    r->text = NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Messages shared by parsing and validation */

static const char *enum_name(const field *f, int v) {
    if (v < 0 || v >= f->n_names) return NULL;
    return f->names[v];
}

static void enum_list(const field *f, char *out, size_t size) {
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < f->n_names && used < size; i++) {
        int n = snprintf(out + used, size - used, "%s%s", i ? ", " : "", f->names[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
}

/* Writes why v (shown as the user wrote it) breaks f's range into why; false when it does not. */
static bool out_of_range(const field *f, double v, const char *shown, char *why, size_t size) {
    bool low = (f->flags & MIN_OPEN) ? !(v > f->min) : !(v >= f->min);
    bool high = (f->flags & MAX_OPEN) ? !(v < f->max) : !(v <= f->max);
    if (low || high) {
        bool has_min = isfinite(f->min), has_max = isfinite(f->max);
        if (has_min && has_max)
            snprintf(why, size, "must be in %c%g, %g%c, got %s", (f->flags & MIN_OPEN) ? '(' : '[',
                     f->min, f->max, (f->flags & MAX_OPEN) ? ')' : ']', shown);
        else if (has_min)
            snprintf(why, size, "must be %s %g, got %s", (f->flags & MIN_OPEN) ? ">" : ">=", f->min,
                     shown);
        else
            snprintf(why, size, "must be %s %g, got %s", (f->flags & MAX_OPEN) ? "<" : "<=", f->max,
                     shown);
        return true;
    }
    if ((f->flags & ODD) && fmod(v, 2.0) == 0.0) {
        snprintf(why, size, "must be odd, got %s", shown);
        return true;
    }
    return false;
}

/* ---------------------------------------------------------------------------------------------
 * Applying YAML nodes through the schema (files and --set share this) */

typedef struct source {
    const char *file;         /* name for file:line:col, when parsing a document */
    const char *assignment;   /* the --set text, when applying an override */
    yaml_document_t *doc;
    rp_recipe *r;
    rp_error *err;
} source;

static rp_recipe_mark mark_of(const source *s, yaml_mark_t m) {
    if (s->assignment) return (rp_recipe_mark){-1, 0};
    return (rp_recipe_mark){(int)m.line + 1, (int)m.column + 1};
}

static int source_fail(const source *s, yaml_mark_t m, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int source_fail(const source *s, yaml_mark_t m, const char *path, const char *fmt, ...) {
    char what[RP_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    char where[RP_ERROR_MSG_MAX];
    if (s->assignment)
        snprintf(where, sizeof where, "--set %s", s->assignment);
    else
        snprintf(where, sizeof where, "%s:%zu:%zu", s->file, m.line + 1, m.column + 1);
    if (path && *path) return rp_fail(s->err, "%s: %s: %s", where, path, what);
    return rp_fail(s->err, "%s: %s", where, what);
}

static yaml_node_t *node_at(const source *s, int index) {
    return yaml_document_get_node(s->doc, index);
}

static bool is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    const char *v = (const char *)n->data.scalar.value;
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

/* Quotes a scalar for a message, shortened so one bad value cannot swamp the error. */
static const char *shown_value(const yaml_node_t *n, char *buf, size_t size) {
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE) return "a list";
    if (is_null(n)) return "nothing";
    const char *v = (const char *)n->data.scalar.value;
    if (strlen(v) > 60)
        snprintf(buf, size, "'%.57s...'", v);
    else
        snprintf(buf, size, "'%s'", v);
    return buf;
}

/* The text of a scalar that must be a plain (unquoted) YAML number or boolean. */
static int plain_text(const source *s, const yaml_node_t *v, const char *path, const char *expected,
                      yaml_mark_t at, const char **text) {
    char buf[80];
    if (v->type != YAML_SCALAR_NODE || is_null(v))
        return source_fail(s, at, path, "expected %s, got %s", expected, shown_value(v, buf, sizeof buf));
    if (v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return source_fail(s, at, path, "expected %s, got the string %s (write it without quotes)",
                           expected, shown_value(v, buf, sizeof buf));
    *text = (const char *)v->data.scalar.value;
    return 0;
}

/* The text of a scalar used as a string (any style; null is ""). */
static int string_text(const source *s, const yaml_node_t *v, const char *path, const char *expected,
                       yaml_mark_t at, const char **text) {
    char buf[80];
    if (v->type != YAML_SCALAR_NODE)
        return source_fail(s, at, path, "expected %s, got %s", expected, shown_value(v, buf, sizeof buf));
    if (strlen((const char *)v->data.scalar.value) != v->data.scalar.length)
        return source_fail(s, at, path, "contains a NUL character");
    *text = is_null(v) ? "" : (const char *)v->data.scalar.value;
    return 0;
}

static int apply_mapping(source *s, const schema *sc, void *base, rp_recipe_mark *marks,
                         const char *display_prefix, const char *schema_prefix, yaml_node_t *map);

static int apply_levels(source *s, const char *path, yaml_node_t *v, yaml_mark_t at) {
    char buf[80];
    rp_recipe *r = s->r;
    if (is_null(v)) return source_fail(s, at, path, "must list 1 to %d levels, got none", RP_MAX_LEVELS);
    if (v->type != YAML_SEQUENCE_NODE)
        return source_fail(s, at, path, "expected a list of levels (each a mapping), got %s",
                           shown_value(v, buf, sizeof buf));
    int n = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n < 1) return source_fail(s, at, path, "must list 1 to %d levels, got none", RP_MAX_LEVELS);
    if (n > RP_MAX_LEVELS)
        return source_fail(s, at, path, "must list 1 to %d levels, got %d", RP_MAX_LEVELS, n);
    for (int l = 0; l < RP_MAX_LEVELS; l++) {
        level_defaults(&r->levels[l]);
        memset(r->marks.level[l], 0, sizeof r->marks.level[l]);
        r->marks.level_item[l] = (rp_recipe_mark){0, 0};
    }
    for (int l = 0; l < n; l++) {
        yaml_node_t *item = node_at(s, v->data.sequence.items.start[l]);
        char item_path[64];
        snprintf(item_path, sizeof item_path, "levels[%d]", l);
        r->marks.level_item[l] = mark_of(s, item->start_mark);
        if (is_null(item)) continue;   /* "- " alone: a level with every default */
        if (item->type != YAML_MAPPING_NODE)
            return source_fail(s, item->start_mark, item_path,
                               "expected a mapping of level keys (patching, rate, ...), got %s",
                               shown_value(item, buf, sizeof buf));
        if (apply_mapping(s, &level_schema, &r->levels[l], r->marks.level[l], item_path, "", item))
            return -1;
    }
    r->n_levels = n;
    return 0;
}

static int apply_columns(source *s, const char *path, yaml_node_t *v, yaml_mark_t at) {
    char buf[80];
    rp_recipe *r = s->r;
    yaml_node_t *items[RP_MAX_COLUMNS];
    int n = 0;
    if (v->type == YAML_SCALAR_NODE) {
        if (!is_null(v)) items[n++] = v;   /* one name: a list of one */
    } else if (v->type == YAML_SEQUENCE_NODE) {
        int count = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (count > RP_MAX_COLUMNS)
            return source_fail(s, at, path, "at most %d columns, got %d", RP_MAX_COLUMNS, count);
        for (int i = 0; i < count; i++) items[n++] = node_at(s, v->data.sequence.items.start[i]);
    } else {
        return source_fail(s, at, path, "expected a list of column names, got %s",
                           shown_value(v, buf, sizeof buf));
    }
    for (int i = 0; i < n; i++) {
        char item_path[64];
        snprintf(item_path, sizeof item_path, "%s[%d]", path, i);
        const char *name = "";
        if (string_text(s, items[i], item_path, "a column name", items[i]->start_mark, &name)) return -1;
        if (!*name) return source_fail(s, items[i]->start_mark, item_path, "empty column name");
        if (strlen(name) >= RP_NAME_MAX)
            return source_fail(s, items[i]->start_mark, item_path, "longer than %d characters",
                               RP_NAME_MAX - 1);
        for (int j = 0; j < i; j++)
            if (!strcmp(r->data.columns[j], name))
                return source_fail(s, items[i]->start_mark, item_path, "'%s' is listed twice", name);
        set_string(r->data.columns[i], RP_NAME_MAX, name);
    }
    for (int i = n; i < RP_MAX_COLUMNS; i++) memset(r->data.columns[i], 0, RP_NAME_MAX);
    r->data.n_columns = n;
    return 0;
}

static int apply_value(source *s, const schema *sc, int idx, void *base, rp_recipe_mark *marks,
                       const char *path, yaml_node_t *v, yaml_mark_t at) {
    const field *f = &sc->fields[idx];
    void *p = (char *)base + f->offset;
    const char *text = "";
    char why[RP_ERROR_MSG_MAX], buf[80];
    switch (f->type) {
    case FIELD_INT:
    case FIELD_INT64: {
        if (plain_text(s, v, path, "an integer", at, &text)) return -1;
        char *end;
        errno = 0;
        long long x = strtoll(text, &end, 10);
        if (end == text || *end)
            return source_fail(s, at, path, "expected an integer, got %s", shown_value(v, buf, sizeof buf));
        if (errno == ERANGE || (f->type == FIELD_INT && (x < INT_MIN || x > INT_MAX)))
            return source_fail(s, at, path, "%s is out of range for a %s integer", text,
                               f->type == FIELD_INT ? "32-bit" : "64-bit");
        if (out_of_range(f, (double)x, text, why, sizeof why)) return source_fail(s, at, path, "%s", why);
        if (f->type == FIELD_INT)
            *(int *)p = (int)x;
        else
            *(long long *)p = x;
        break;
    }
    case FIELD_DOUBLE: {
        if (plain_text(s, v, path, "a number", at, &text)) return -1;
        char *end;
        double x = strtod(text, &end);
        /* strtod also takes hex floats, inf and nan, which YAML spells differently or not at all. */
        if (end == text || *end || strpbrk(text, "xXpP") || !isfinite(x))
            return source_fail(s, at, path, "expected a number, got %s", shown_value(v, buf, sizeof buf));
        if (out_of_range(f, x, text, why, sizeof why)) return source_fail(s, at, path, "%s", why);
        *(double *)p = x;
        break;
    }
    case FIELD_BOOL: {
        if (plain_text(s, v, path, "true or false", at, &text)) return -1;
        if (!strcmp(text, "true") || !strcmp(text, "True") || !strcmp(text, "TRUE"))
            *(bool *)p = true;
        else if (!strcmp(text, "false") || !strcmp(text, "False") || !strcmp(text, "FALSE"))
            *(bool *)p = false;
        else
            return source_fail(s, at, path, "expected true or false, got %s", shown_value(v, buf, sizeof buf));
        break;
    }
    case FIELD_STRING: {
        if (string_text(s, v, path, "a string", at, &text)) return -1;
        if ((f->flags & NONEMPTY) && !*text) return source_fail(s, at, path, "must not be empty");
        if (strlen(text) >= f->size)
            return source_fail(s, at, path, "longer than %zu characters", f->size - 1);
        set_string(p, f->size, text);
        break;
    }
    case FIELD_ENUM: {
        enum_list(f, why, sizeof why);
        if (v->type != YAML_SCALAR_NODE || is_null(v))
            return source_fail(s, at, path, "expected one of %s; got %s", why, shown_value(v, buf, sizeof buf));
        text = (const char *)v->data.scalar.value;
        int found = -1;
        for (int i = 0; i < f->n_names; i++)
            if (!strcmp(text, f->names[i])) found = i;
        if (found < 0)
            return source_fail(s, at, path, "must be one of %s; got %s", why, shown_value(v, buf, sizeof buf));
        *(int *)p = found;
        break;
    }
    case FIELD_COLUMNS:
        if (apply_columns(s, path, v, at)) return -1;
        break;
    case FIELD_LEVELS:
        if (apply_levels(s, path, v, at)) return -1;
        break;
    }
    marks[idx] = mark_of(s, at);
    return 0;
}

static int edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > 63 || m > 63) return INT_MAX;
    int row[64];
    for (size_t j = 0; j <= m; j++) row[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[m];
}

static const char *last_component(const char *path) {
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

/* Suggests a key for an unknown path: a close spelling among the schema's keys and sections, or
 * else a key of the same name elsewhere ("epochs" at the top level -> "train.epochs"). */
static void suggest(const schema *sc, const char *path, size_t parent_len, char *out, size_t size) {
    out[0] = '\0';
    int best = 3;
    for (int i = 0; i < sc->n; i++) {
        /* Every prefix of a key is a candidate too, so sections can be suggested. */
        char candidate[128];
        set_string(candidate, sizeof candidate, sc->fields[i].path);
        for (;;) {
            int d = edit_distance(path, candidate);
            if (d < best && d * 2 < (int)strlen(candidate)) {
                best = d;
                /* Within the same section, name the key as the user would write it there. */
                bool same_parent = parent_len && !strncmp(candidate, path, parent_len);
                snprintf(out, size, " (did you mean '%s'?)", candidate + (same_parent ? parent_len : 0));
            }
            char *dot = strrchr(candidate, '.');
            if (!dot) break;
            *dot = '\0';
        }
    }
    if (out[0]) return;
    const char *leaf = last_component(path);
    const schema *all[2] = {sc, sc == &recipe_schema ? &level_schema : &recipe_schema};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < all[k]->n; i++)
            if (!strcmp(last_component(all[k]->fields[i].path), leaf) &&
                (all[k] != sc || strcmp(all[k]->fields[i].path, path) != 0)) {
                snprintf(out, size, " (did you mean '%s%s'?)", all[k] == sc ? "" : all[k]->display_prefix,
                         all[k]->fields[i].path);
                return;
            }
}

/* Applies a value at schema_path (a key or a section) of sc. key_shown is the key as written. */
static int apply_path(source *s, const schema *sc, void *base, rp_recipe_mark *marks,
                      const char *display_path, const char *schema_path, const char *key_shown,
                      yaml_node_t *v, yaml_mark_t at) {
    int idx = field_index(sc, schema_path);
    if (idx >= 0) return apply_value(s, sc, idx, base, marks, display_path, v, at);
    if (is_section(sc, schema_path)) {
        char buf[80];
        if (is_null(v)) return 0;   /* "train:" with every key commented out */
        if (v->type != YAML_MAPPING_NODE)
            return source_fail(s, at, display_path, "expected a mapping of keys, got %s",
                               shown_value(v, buf, sizeof buf));
        return apply_mapping(s, sc, base, marks, display_path, schema_path, v);
    }
    char hint[200];
    if (sc == &recipe_schema && !strncmp(schema_path, "levels.", 7))
        snprintf(hint, sizeof hint, " (levels is a list: write levels[0].%s)", schema_path + 7);
    else
        suggest(sc, schema_path, strlen(schema_path) - strlen(key_shown), hint, sizeof hint);
    return source_fail(s, at, display_path, "unknown key '%s'%s", key_shown, hint);
}

static int apply_mapping(source *s, const schema *sc, void *base, rp_recipe_mark *marks,
                         const char *display_prefix, const char *schema_prefix, yaml_node_t *map) {
    yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
    int n = (int)(map->data.mapping.pairs.top - pairs);
    for (int i = 0; i < n; i++) {
        yaml_node_t *k = node_at(s, pairs[i].key), *v = node_at(s, pairs[i].value);
        if (k->type != YAML_SCALAR_NODE)
            return source_fail(s, k->start_mark, display_prefix, "keys must be names, got %s",
                               k->type == YAML_MAPPING_NODE ? "a mapping" : "a list");
        const char *key = (const char *)k->data.scalar.value;
        char display[256], path[256];
        snprintf(display, sizeof display, "%s%s%s", display_prefix, *display_prefix ? "." : "", key);
        snprintf(path, sizeof path, "%s%s%s", schema_prefix, *schema_prefix ? "." : "", key);
        for (int j = 0; j < i; j++) {
            yaml_node_t *prev = node_at(s, pairs[j].key);
            if (prev->type == YAML_SCALAR_NODE && !strcmp((const char *)prev->data.scalar.value, key))
                return source_fail(s, k->start_mark, display, "duplicate key '%s' (first at line %zu)",
                                   key, prev->start_mark.line + 1);
        }
        if (apply_path(s, sc, base, marks, display, path, key, v, k->start_mark)) return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Parsing */

static int yaml_problem(const char *where, const yaml_parser_t *p, const char *text, rp_error *err) {
    if (p->error == YAML_MEMORY_ERROR) return rp_fail(err, "%s: out of memory parsing YAML", where);
    if (p->error == YAML_READER_ERROR)
        return rp_fail(err, "%s: YAML error at byte %zu: %s", where, p->problem_offset,
                       p->problem ? p->problem : "unreadable input");
    char problem[256];
    snprintf(problem, sizeof problem, "%s", p->problem ? p->problem : "malformed YAML");
    if (text && p->problem_mark.index < strlen(text) && text[p->problem_mark.index] == '\t')
        snprintf(problem + strlen(problem), sizeof problem - strlen(problem),
                 " (a tab: YAML indents with spaces only)");
    if (p->context)
        return rp_fail(err, "%s:%zu:%zu: YAML syntax error: %s (%s at line %zu, column %zu)", where,
                       p->problem_mark.line + 1, p->problem_mark.column + 1, problem, p->context,
                       p->context_mark.line + 1, p->context_mark.column + 1);
    return rp_fail(err, "%s:%zu:%zu: YAML syntax error: %s", where, p->problem_mark.line + 1,
                   p->problem_mark.column + 1, problem);
}

static void name_from_path(const char *path, char *name, size_t size) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".yaml"))
        n -= 5;
    else if (n > 4 && !strcmp(base + n - 4, ".yml"))
        n -= 4;
    if (n == 0) {
        set_string(name, size, "recipe");
        return;
    }
    if (n >= size) n = size - 1;
    memset(name, 0, size);
    memcpy(name, base, n);
}

static int parse_document(const char *text, const char *file, rp_recipe *r, rp_error *err) {
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return rp_fail(err, "%s: out of memory parsing YAML", file);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    if (!yaml_parser_load(&parser, &doc)) {
        int rc = yaml_problem(file, &parser, text, err);
        yaml_parser_delete(&parser);
        return rc;
    }
    int rc = 0;
    source s = {.file = file, .doc = &doc, .r = r, .err = err};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    char buf[80];
    if (!root) {
        rc = rp_fail(err, "%s:1:1: empty recipe: expected a mapping of keys (data, levels, backbone, train, "
                          "output)", file);
    } else if (root->type != YAML_MAPPING_NODE) {
        rc = source_fail(&s, root->start_mark, NULL,
                         "the top level must be a mapping of keys (data, levels, backbone, train, "
                         "output), got %s", shown_value(root, buf, sizeof buf));
    } else {
        rc = apply_mapping(&s, &recipe_schema, r, r->marks.key, "", "", root);
    }
    yaml_document_delete(&doc);
    if (rc == 0) {
        yaml_document_t next;
        if (!yaml_parser_load(&parser, &next)) {
            rc = yaml_problem(file, &parser, text, err);
        } else {
            yaml_node_t *extra = yaml_document_get_root_node(&next);
            if (extra)
                rc = rp_fail(err, "%s:%zu:%zu: a second YAML document; a recipe is one document", file,
                             extra->start_mark.line + 1, extra->start_mark.column + 1);
            yaml_document_delete(&next);
        }
    }
    yaml_parser_delete(&parser);
    return rc;
}

int recipe_parse(const char *text, const char *name, rp_recipe *r, rp_error *err) {
    const char *file = name ? name : "recipe";
    recipe_defaults(r);
    name_from_path(file, r->name, sizeof r->name);
    r->path = strdup(file);
    if (!r->path) return rp_fail(err, "%s: out of memory", file);
    if (parse_document(text, file, r, err) || recipe_validate(r, err) || recipe_render(r, err)) {
        recipe_free(r);
        return -1;
    }
    return 0;
}

int recipe_load(const char *path, rp_recipe *r, rp_error *err) {
    enum { MAX_RECIPE_BYTES = 1 << 20 };
    r->path = r->text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return rp_fail(err, "%s: cannot open recipe: %s", path, strerror(errno));
    char *text = rp_malloc(MAX_RECIPE_BYTES + 1, err);
    if (!text) {
        fclose(f);
        return rp_fail_prefix(err, "%s", path);
    }
    size_t n = fread(text, 1, MAX_RECIPE_BYTES + 1, f);
    int read_error = ferror(f);
    fclose(f);
    int rc;
    if (read_error)
        rc = rp_fail(err, "%s: cannot read recipe", path);
    else if (n > MAX_RECIPE_BYTES)
        rc = rp_fail(err, "%s: larger than %d bytes; not a recipe?", path, MAX_RECIPE_BYTES);
    else if (memchr(text, '\0', n))
        rc = rp_fail(err, "%s: contains a NUL byte; not a YAML text file", path);
    else {
        text[n] = '\0';
        rc = recipe_parse(text, path, r, err);
    }
    free(text);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * --set overrides */

int recipe_set(rp_recipe *r, const char *assignment, rp_error *err) {
    const char *eq = strchr(assignment, '=');
    if (!eq) return rp_fail(err, "--set %s: expected key.path=value, e.g. train.epochs=1", assignment);
    char key[256];
    const char *k0 = assignment, *k1 = eq;
    while (k0 < k1 && (*k0 == ' ' || *k0 == '\t')) k0++;
    while (k1 > k0 && (k1[-1] == ' ' || k1[-1] == '\t')) k1--;
    if (k1 == k0) return rp_fail(err, "--set %s: missing key before '='", assignment);
    if ((size_t)(k1 - k0) >= sizeof key) return rp_fail(err, "--set %s: key too long", assignment);
    memcpy(key, k0, (size_t)(k1 - k0));
    key[k1 - k0] = '\0';

    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return rp_fail(err, "--set %s: out of memory", assignment);
    yaml_parser_set_input_string(&parser, (const unsigned char *)(eq + 1), strlen(eq + 1));
    if (!yaml_parser_load(&parser, &doc)) {
        rp_fail(err, "--set %s: %s: cannot read the value as YAML: %s", assignment, key,
                parser.problem ? parser.problem : "malformed");
        yaml_parser_delete(&parser);
        return -1;
    }
    yaml_parser_delete(&parser);

    /* Work on a copy so that a failure leaves r as it was. */
    rp_recipe *copy = rp_malloc(sizeof *copy, err);
    if (!copy) {
        yaml_document_delete(&doc);
        return rp_fail_prefix(err, "--set %s", assignment);
    }
    *copy = *r;
    source s = {.file = r->path, .assignment = assignment, .doc = &doc, .r = copy, .err = err};
    yaml_node_t empty = {.type = YAML_SCALAR_NODE};
    empty.data.scalar.value = (yaml_char_t *)"";
    empty.data.scalar.style = YAML_PLAIN_SCALAR_STYLE;
    yaml_node_t *value = yaml_document_get_root_node(&doc);
    if (!value) value = &empty;
    yaml_mark_t at = {0, 0, 0};

    int rc;
    if (!strncmp(key, "levels[", 7)) {
        char *end;
        errno = 0;
        long index = strtol(key + 7, &end, 10);
        if (end == key + 7 || *end != ']' || index < 0 || errno) {
            rc = source_fail(&s, at, key, "expected levels[N] with N a level index from 0");
        } else if (index >= copy->n_levels) {
            rc = source_fail(&s, at, key, "no level %ld: the recipe has %d level%s (levels[0] to levels[%d])",
                             index, copy->n_levels, copy->n_levels == 1 ? "" : "s", copy->n_levels - 1);
        } else {
            int l = (int)index;
            const char *rest = end + 1;
            char display[256];
            snprintf(display, sizeof display, "levels[%d]", l);
            if (!*rest) {
                char buf[80];
                if (value->type != YAML_MAPPING_NODE)
                    rc = source_fail(&s, at, display, "expected a mapping of level keys, got %s",
                                     shown_value(value, buf, sizeof buf));
                else
                    rc = apply_mapping(&s, &level_schema, &copy->levels[l], copy->marks.level[l], display,
                                       "", value);
            } else if (*rest != '.' || !rest[1]) {
                rc = source_fail(&s, at, key, "expected levels[N].key, e.g. levels[0].rate");
            } else {
                snprintf(display, sizeof display, "levels[%d].%s", l, rest + 1);
                rc = apply_path(&s, &level_schema, &copy->levels[l], copy->marks.level[l], display, rest + 1,
                                rest + 1, value, at);
            }
        }
    } else {
        rc = apply_path(&s, &recipe_schema, copy, copy->marks.key, key, key, key, value, at);
    }
    yaml_document_delete(&doc);
    if (rc == 0) {
        *r = *copy;
        /* Keep text current; the caller validates once all overrides are in. */
        rc = recipe_render(r, err);
    }
    free(copy);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Validation */

typedef struct located {
    rp_recipe_mark mark;
    const char *key;   /* the key the mark belongs to, for "--set key" */
} located;

static int check_fail(const rp_recipe *r, located at, const char *path, rp_error *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int check_fail(const rp_recipe *r, located at, const char *path, rp_error *err, const char *fmt, ...) {
    char what[RP_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const char *file = r->path ? r->path : "recipe";
    if (at.mark.line > 0)
        return rp_fail(err, "%s:%d:%d: %s: %s", file, at.mark.line, at.mark.column, path, what);
    if (at.mark.line < 0) return rp_fail(err, "--set %s: %s: %s", at.key, path, what);
    if (r->path) return rp_fail(err, "%s: %s: %s", file, path, what);
    return rp_fail(err, "%s: %s", path, what);
}

static located top_mark(const rp_recipe *r, const char *key) {
    int i = field_index(&recipe_schema, key);
    return (located){r->marks.key[i], key};
}

/* The mark of a level's key, else of the level's "- ", else of "levels:". */
static located level_mark(const rp_recipe *r, int l, const char *key, char *path, size_t size) {
    int i = field_index(&level_schema, key);
    snprintf(path, size, "levels[%d].%s", l, key);
    if (r->marks.level[l][i].line) return (located){r->marks.level[l][i], path};
    snprintf(path, size, "levels[%d]", l);
    if (r->marks.level_item[l].line) return (located){r->marks.level_item[l], path};
    return top_mark(r, "levels");
}

/* Single-field checks: the same ranges the parser enforces, for recipes changed in code. */
static int check_field(const rp_recipe *r, const field *f, const void *base, located at,
                       const char *path, rp_error *err) {
    const void *p = (const char *)base + f->offset;
    char why[RP_ERROR_MSG_MAX], shown[64];
    switch (f->type) {
    case FIELD_INT:
        snprintf(shown, sizeof shown, "%d", *(const int *)p);
        if (out_of_range(f, *(const int *)p, shown, why, sizeof why)) return check_fail(r, at, path, err, "%s", why);
        break;
    case FIELD_INT64:
        snprintf(shown, sizeof shown, "%lld", *(const long long *)p);
        if (out_of_range(f, (double)*(const long long *)p, shown, why, sizeof why))
            return check_fail(r, at, path, err, "%s", why);
        break;
    case FIELD_DOUBLE:
        snprintf(shown, sizeof shown, "%g", *(const double *)p);
        if (!isfinite(*(const double *)p)) return check_fail(r, at, path, err, "must be finite, got %s", shown);
        if (out_of_range(f, *(const double *)p, shown, why, sizeof why)) return check_fail(r, at, path, err, "%s", why);
        break;
    case FIELD_BOOL:
        break;
    case FIELD_STRING:
        if (!memchr(p, '\0', f->size)) return check_fail(r, at, path, err, "not NUL-terminated");
        if ((f->flags & NONEMPTY) && !*(const char *)p) return check_fail(r, at, path, err, "must not be empty");
        break;
    case FIELD_ENUM:
        if (!enum_name(f, *(const int *)p)) {
            enum_list(f, why, sizeof why);
            return check_fail(r, at, path, err, "must be one of %s; got the value %d", why, *(const int *)p);
        }
        break;
    case FIELD_COLUMNS:
        if (r->data.n_columns < 0 || r->data.n_columns > RP_MAX_COLUMNS)
            return check_fail(r, at, path, err, "must list 0 to %d columns, got %d", RP_MAX_COLUMNS,
                              r->data.n_columns);
        for (int i = 0; i < r->data.n_columns; i++) {
            if (!memchr(r->data.columns[i], '\0', RP_NAME_MAX) || !r->data.columns[i][0])
                return check_fail(r, at, path, err, "column %d is empty or not NUL-terminated", i);
            for (int j = 0; j < i; j++)
                if (!strcmp(r->data.columns[i], r->data.columns[j]))
                    return check_fail(r, at, path, err, "'%s' is listed twice", r->data.columns[i]);
        }
        break;
    case FIELD_LEVELS:
        if (r->n_levels < 1 || r->n_levels > RP_MAX_LEVELS)
            return check_fail(r, at, path, err, "must list 1 to %d levels, got %d", RP_MAX_LEVELS, r->n_levels);
        break;
    }
    return 0;
}

int recipe_level_count(int units, double rate) {
    if (units < 1 || !(rate > 1.0) || !isfinite(rate)) return -1;
    /* units / rate can land a rounding error above an exact integer; 1e-9 absorbs that while being
     * far below any fraction a real rate produces. */
    double k = ceil((double)units / rate - 1e-9);
    return k < 1 ? 1 : (int)k;
}

int recipe_level_counts(const rp_recipe *r, int *counts) {
    if (r->n_levels < 1 || r->n_levels > RP_MAX_LEVELS) return -1;
    int n = r->data.lookback;
    for (int l = 0; l < r->n_levels; l++) {
        int k = recipe_level_count(n, r->levels[l].rate);
        if (k < 0) return -1;
        counts[l] = n = k;
    }
    return r->n_levels;
}

static int check_level(const rp_recipe *r, int l, int n, rp_error *err) {
    const rp_level_recipe *lv = &r->levels[l];
    char path[64], mark_path[64], units[64];
    snprintf(path, sizeof path, "levels[%d]", l);
    if (l == 0)
        snprintf(units, sizeof units, "steps");
    else
        snprintf(units, sizeof units, "patches of levels[%d]", l - 1);
    if (l > 0 && n < 2)
        return check_fail(r, level_mark(r, l, "rate", mark_path, sizeof mark_path), path, err,
                          "nothing to group: levels[%d] leaves %d patch; drop this level or lower the "
                          "rates below it", l - 1, n);
    int k = recipe_level_count(n, lv->rate);

    if (lv->patching == PATCHING_FIXED && lv->rate != floor(lv->rate)) {
        located at = level_mark(r, l, "rate", mark_path, sizeof mark_path);
        snprintf(path, sizeof path, "levels[%d].rate", l);
        return check_fail(r, at, path, err,
                          "a fixed level cuts segments of length rate, so rate must be an integer, got %g",
                          lv->rate);
    }
    char min_path[64];
    located at_min = level_mark(r, l, "min_len", min_path, sizeof min_path);
    if (lv->min_len && lv->max_len && lv->min_len > lv->max_len)
        return check_fail(r, at_min, path, err, "min_len %d > max_len %d", lv->min_len, lv->max_len);
    if (lv->min_len && (long long)k * lv->min_len > n)
        return check_fail(r, at_min, path, err, "min_len %d × %d patches > %d %s", lv->min_len, k, n, units);
    char max_path[64];
    located at_max = level_mark(r, l, "max_len", max_path, sizeof max_path);
    if (lv->max_len && (long long)k * lv->max_len < n)
        return check_fail(r, at_max, path, err, "max_len %d × %d patches < %d %s", lv->max_len, k, n, units);
    if (lv->patching == PATCHING_FIXED) {
        /* Fixed segments: k-1 of length rate, the last one takes what is left. */
        int rate = (int)lv->rate;
        int longest = k > 1 ? rate : n, last = n - (k - 1) * rate;
        if (lv->max_len && longest > lv->max_len)
            return check_fail(r, at_max, path, err, "fixed segments of %d %s > max_len %d", longest, units,
                              lv->max_len);
        if (lv->min_len && last < lv->min_len)
            return check_fail(r, at_min, path, err, "the last fixed segment has %d %s < min_len %d", last,
                              units, lv->min_len);
    }
    if (lv->patching == PATCHING_LEARNED && lv->trainable && lv->group_size < 2) {
        located at = level_mark(r, l, "group_size", mark_path, sizeof mark_path);
        snprintf(path, sizeof path, "levels[%d].group_size", l);
        return check_fail(r, at, path, err,
                          "a trainable learned level needs group_size >= 2 (GRPG compares the rollouts "
                          "of a window), got %d", lv->group_size);
    }
    if (lv->patching == PATCHING_LEARNED && lv->trainable && lv->policy_init == POLICY_INIT_CHANGEPOINT &&
        r->train.policy_anchor > 0) {
        located at = level_mark(r, l, "policy.init", mark_path, sizeof mark_path);
        snprintf(path, sizeof path, "levels[%d].policy.init", l);
        return check_fail(r, at, path, err,
                          "train.policy_anchor pulls the logits toward the uniform-spacing prior, which a "
                          "changepoint-initialised policy does not have; set train.policy_anchor: 0");
    }
    if (l == 0 && lv->tokens == TOKENS_POOLED) {
        located at = level_mark(r, l, "tokens", mark_path, sizeof mark_path);
        snprintf(path, sizeof path, "levels[0].tokens");
        return check_fail(r, at, path, err, "pooled pools the tokens of a lower level and level 0 has "
                                            "none; use raw");
    }
    return 0;
}

int recipe_validate(const rp_recipe *r, rp_error *err) {
    for (int i = 0; i < recipe_schema.n; i++) {
        const field *f = &recipe_fields[i];
        if (check_field(r, f, r, (located){r->marks.key[i], f->path}, f->path, err)) return -1;
    }
    for (int l = 0; l < r->n_levels; l++)
        for (int i = 0; i < level_schema.n; i++) {
            char path[64], mark_path[64];
            snprintf(path, sizeof path, "levels[%d].%s", l, level_fields[i].path);
            located at = level_mark(r, l, level_fields[i].path, mark_path, sizeof mark_path);
            if (check_field(r, &level_fields[i], &r->levels[l], at, path, err)) return -1;
        }

    int n = r->data.lookback;
    for (int l = 0; l < r->n_levels; l++) {
        if (check_level(r, l, n, err)) return -1;
        /* mixed training moves fixed levels' cuts by up to mix_jitter of their units. */
        if (r->train.backbone_loss == BACKBONE_LOSS_MIXED && r->train.mix_jitter >= n)
            return check_fail(r, top_mark(r, "train.mix_jitter"), "train.mix_jitter", err,
                              "%d must be below levels[%d]'s %d units", r->train.mix_jitter, l, n);
        n = recipe_level_count(n, r->levels[l].rate);
    }

    if (r->backbone.kind == BACKBONE_TRANSFORMER && r->backbone.d_model % r->backbone.n_heads) {
        located at = top_mark(r, "backbone.n_heads");
        if (!at.mark.line) at = top_mark(r, "backbone.d_model");
        return check_fail(r, at, "backbone.n_heads", err, "%d heads do not divide d_model %d",
                          r->backbone.n_heads, r->backbone.d_model);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Rendering */

typedef struct textbuf {
    char *s;
    size_t len, cap;
    bool failed;
} textbuf;

static void put(textbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(textbuf *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        /* An empty buffer is NULL with cap 0: vsnprintf(NULL, 0, ...) measures (NULL + 0 is UB). */
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

static void put_quoted(textbuf *b, const char *s) {
    put(b, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            put(b, "\\%c", *c);
        else if (*c < 0x20 || *c == 0x7f)
            put(b, "\\x%02X", *c);
        else
            put(b, "%c", *c);
    }
    put(b, "\"");
}

/* The shortest decimal that reads back as exactly v, so render -> parse is the identity. */
static void put_double(textbuf *b, double v) {
    char text[40];
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(text, sizeof text, "%.*g", precision, v);
        if (strtod(text, NULL) == v) break;
    }
    put(b, "%s", text);
}

static void indent(textbuf *b, int spaces, bool *list_item) {
    if (*list_item) {
        put(b, "%*s- ", spaces - 2, "");
        *list_item = false;
    } else {
        put(b, "%*s", spaces, "");
    }
}

static void render_schema(textbuf *b, const schema *sc, const void *base, const rp_recipe *r, int base_indent,
                          bool list_item, rp_error *err);

static void render_value(textbuf *b, const field *f, const void *base, const rp_recipe *r, int depth_indent,
                         rp_error *err) {
    const void *p = (const char *)base + f->offset;
    switch (f->type) {
    case FIELD_INT: put(b, " %d\n", *(const int *)p); break;
    case FIELD_INT64: put(b, " %lld\n", *(const long long *)p); break;
    case FIELD_DOUBLE: put(b, " "); put_double(b, *(const double *)p); put(b, "\n"); break;
    case FIELD_BOOL: put(b, " %s\n", *(const bool *)p ? "true" : "false"); break;
    case FIELD_STRING: put(b, " "); put_quoted(b, p); put(b, "\n"); break;
    case FIELD_ENUM: {
        const char *name = enum_name(f, *(const int *)p);
        if (!name) {
            rp_fail(err, "%s: no name for the value %d", f->path, *(const int *)p);
            b->failed = true;
            return;
        }
        put(b, " %s\n", name);
        break;
    }
    case FIELD_COLUMNS:
        put(b, " [");
        for (int i = 0; i < r->data.n_columns; i++) {
            if (i) put(b, ", ");
            put_quoted(b, r->data.columns[i]);
        }
        put(b, "]\n");
        break;
    case FIELD_LEVELS:
        put(b, "\n");
        for (int l = 0; l < r->n_levels; l++)
            render_schema(b, &level_schema, &r->levels[l], r, depth_indent + 4, true, err);
        break;
    }
}

/* Emits the schema's keys as nested block mappings, opening each section when its first key comes.
 * list_item: the first line opens a list item ("- "). */
static void render_schema(textbuf *b, const schema *sc, const void *base, const rp_recipe *r, int base_indent,
                          bool list_item, rp_error *err) {
    const char *prev = "";
    size_t prev_len = 0;   /* length of prev's section part */
    for (int i = 0; i < sc->n; i++) {
        const char *path = sc->fields[i].path;
        const char *leaf = last_component(path);
        size_t section_len = leaf == path ? 0 : (size_t)(leaf - path - 1);
        /* Skip the sections shared with the previous key; open the rest. */
        size_t start = 0;
        int depth = 0;
        while (start < section_len && start < prev_len) {
            size_t a = start, p = start;
            while (a < section_len && path[a] != '.') a++;
            while (p < prev_len && prev[p] != '.') p++;
            if (a != p || memcmp(path + start, prev + start, a - start)) break;
            depth++;
            start = a + 1;
        }
        while (start < section_len) {
            size_t end = start;
            while (end < section_len && path[end] != '.') end++;
            indent(b, base_indent + 2 * depth, &list_item);
            put(b, "%.*s:\n", (int)(end - start), path + start);
            depth++;
            start = end + 1;
        }
        indent(b, base_indent + 2 * depth, &list_item);
        put(b, "%s:", leaf);
        render_value(b, &sc->fields[i], base, r, base_indent + 2 * depth, err);
        prev = path;
        prev_len = section_len;
    }
}

int recipe_render(rp_recipe *r, rp_error *err) {
    textbuf b = {0};
    if (err) err->msg[0] = '\0';
    put(&b, "# reinpatch recipe, resolved: every key with its value (docs/recipes.md)\n");
    render_schema(&b, &recipe_schema, r, r, 0, false, err);
    if (b.failed) {
        free(b.s);
        if (err && err->msg[0]) return rp_fail_prefix(err, "cannot render recipe");
        return rp_fail(err, "cannot render recipe: out of memory");
    }
    free(r->text);
    r->text = b.s;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Data path */

int recipe_resolve_data(rp_recipe *r, rp_error *err) {
    const char *path = r->data.path;
    if (!strcmp(path, "generated")) {
        set_string(r->data.resolved_path, sizeof r->data.resolved_path, path);
        return 0;
    }
    const char *root = getenv("REINPATCH_DATA");
    bool use_root = path[0] != '/' && root && *root;
    char full[RP_PATH_MAX];
    int n;
    if (use_root) {
        size_t root_len = strlen(root);
        while (root_len > 1 && root[root_len - 1] == '/') root_len--;
        n = snprintf(full, sizeof full, "%.*s/%s", (int)root_len, root, path);
    } else {
        n = snprintf(full, sizeof full, "%s", path);
    }
    located at = top_mark(r, "data.path");
    if (n < 0 || (size_t)n >= sizeof full)
        return check_fail(r, at, "data.path", err, "resolved path longer than %d characters", RP_PATH_MAX - 1);
    char context[RP_PATH_MAX + 96];
    if (path[0] == '/')
        snprintf(context, sizeof context, "an absolute path");
    else if (use_root)
        snprintf(context, sizeof context, "REINPATCH_DATA=%s", root);
    else
        snprintf(context, sizeof context, "REINPATCH_DATA is unset, so relative to the current directory");
    struct stat st;
    if (stat(full, &st) != 0)
        return check_fail(r, at, "data.path", err, "'%s' not found: no file '%s' (%s): %s", path, full, context,
                          strerror(errno));
    if (S_ISDIR(st.st_mode))
        return check_fail(r, at, "data.path", err, "'%s' is a directory ('%s', %s), expected a CSV or .tsf file",
                          path, full, context);
    set_string(r->data.resolved_path, sizeof r->data.resolved_path, full);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Schema listing */

int recipe_key(int i, char *out, int size) {
    if (i < 0 || size < 1) return -1;
    if (i < recipe_schema.n) {
        snprintf(out, (size_t)size, "%s", recipe_fields[i].path);
        return 0;
    }
    i -= recipe_schema.n;
    if (i < level_schema.n) {
        snprintf(out, (size_t)size, "%s%s", level_schema.display_prefix, level_fields[i].path);
        return 0;
    }
    return -1;
}
