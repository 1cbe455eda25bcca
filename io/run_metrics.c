#include "io/run_metrics.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

void run_metrics_free(rp_run_metrics *m) {
    free(m->recipe_name);
    free(m->data);
    free(m->resolved_recipe);
    memset(m, 0, sizeof *m);
}

/* The value of key in a mapping node, or NULL. */
static yaml_node_t *member(yaml_document_t *doc, yaml_node_t *map, const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static int read_number(const char *path, yaml_node_t *v, const char *key, int required, rp_metric *out,
                       rp_error *err) {
    out->text[0] = '\0';
    out->value = NAN;
    if (!v) return required ? rp_fail(err, "%s: no key '%s' (not a metrics.json of reinpatch train?)", path, key) : 0;
    const char *s = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : NULL;
    char *end = NULL;
    double x = s ? strtod(s, &end) : NAN;
    if (!s || !*s || *end || strlen(s) >= sizeof out->text)
        return rp_fail(err, "%s:%zu: '%s' is not a number", path, v->start_mark.line + 1, key);
    snprintf(out->text, sizeof out->text, "%s", s);
    out->value = x;
    return 0;
}

static char *read_string(yaml_node_t *v) {
    return strdup(v && v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "");
}

int run_metrics_read(const char *path, rp_run_metrics *m, rp_error *err) {
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f) return rp_fail(err, "%s: cannot read the file (%s)", path, strerror(errno));
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return rp_fail(err, "%s: out of memory", path);
    }
    yaml_parser_set_input_file(&parser, f);
    int loaded = yaml_parser_load(&parser, &doc);
    fclose(f);
    if (!loaded) {
        rp_fail(err, "%s:%zu:%zu: not JSON: %s", path, parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                parser.problem ? parser.problem : "parse error");
        yaml_parser_delete(&parser);
        return -1;
    }
    yaml_parser_delete(&parser);
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = rp_fail(err, "%s: not a JSON object", path);
        goto done;
    }
    yaml_node_t *test = member(&doc, root, "test"), *val = member(&doc, root, "val");
    struct {
        yaml_node_t *node;
        const char *key, *shown;
        int required;
        rp_metric *out;
    } numbers[] = {
        {member(&doc, test, "mse"), "mse", "test.mse", 1, &m->test_mse},
        {member(&doc, test, "mae"), "mae", "test.mae", 1, &m->test_mae},
        {member(&doc, test, "windows"), "windows", "test.windows", 0, &m->test_windows},
        {member(&doc, val, "mse"), "mse", "val.mse", 1, &m->val_mse},
        {member(&doc, val, "mae"), "mae", "val.mae", 1, &m->val_mae},
        {member(&doc, val, "windows"), "windows", "val.windows", 0, &m->val_windows},
        {member(&doc, root, "epochs"), "epochs", "epochs", 1, &m->epochs},
        {member(&doc, root, "best_epoch"), "best_epoch", "best_epoch", 1, &m->best_epoch},
        {member(&doc, root, "steps"), "steps", "steps", 0, &m->steps},
        {member(&doc, root, "wall_seconds"), "wall_seconds", "wall_seconds", 0, &m->wall_seconds},
        {member(&doc, root, "train_windows_per_second"), "", "train_windows_per_second", 0,
         &m->train_windows_per_second},
        {member(&doc, root, "parameters"), "", "parameters", 0, &m->parameters},
        {member(&doc, root, "threads"), "", "threads", 0, &m->threads},
    };
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0] && !rc; i++)
        rc = read_number(path, numbers[i].node, numbers[i].shown, numbers[i].required, numbers[i].out, err);
    yaml_node_t *cuts = member(&doc, test, "cuts_off_uniform");
    if (!rc && cuts && cuts->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = cuts->data.sequence.items.start; it < cuts->data.sequence.items.top && !rc; it++) {
            if (m->n_levels == RP_MAX_LEVELS) {
                rc = rp_fail(err, "%s: test.cuts_off_uniform has more than %d entries", path, RP_MAX_LEVELS);
                break;
            }
            rc = read_number(path, yaml_document_get_node(&doc, *it), "test.cuts_off_uniform", 1,
                             &m->cuts_off_uniform[m->n_levels++], err);
        }
    }
    if (rc) goto done;
    m->recipe_name = read_string(member(&doc, root, "recipe"));
    m->data = read_string(member(&doc, root, "data"));
    m->resolved_recipe = read_string(member(&doc, root, "resolved_recipe"));
    if (!m->recipe_name || !m->data || !m->resolved_recipe) rc = rp_fail(err, "%s: out of memory", path);
done:
    yaml_document_delete(&doc);
    if (rc) run_metrics_free(m);
    return rc;
}
