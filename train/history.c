#include "train/history.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "core/util.h"
#include "io/lines.h"

static const char *const FIXED_COLUMNS[] = {"epoch", "step", "lr", "policy_lr", "train_loss", "val_mse", "val_mae",
                                            "seconds", "train_windows_per_second", "mean_reward",
                                            "advantage_spread"};
enum { N_FIXED = sizeof FIXED_COLUMNS / sizeof FIXED_COLUMNS[0], N_PER_LEVEL = 4 };
static const char *const LEVEL_COLUMNS[N_PER_LEVEL] = {"entropy", "patch_len_mean", "patch_len_std",
                                                       "cuts_off_uniform"};

void history_row_from_log(rp_history_row *row, const rp_epoch_log *log, const rp_eval_result *val,
                          long long step, double policy_lr) {
    memset(row, 0, sizeof *row);
    row->epoch = log->epoch + 1;
    row->step = step;
    row->lr = log->lr;
    row->policy_lr = policy_lr;
    row->train_loss = log->train_loss;
    row->val_mse = val ? val->mse : NAN;
    row->val_mae = val ? val->mae : NAN;
    row->seconds = log->seconds;
    row->windows_per_second = log->windows_per_second;
    row->mean_reward = log->mean_reward;
    row->advantage_spread = log->advantage_spread;
    for (int l = 0; l < RP_MAX_LEVELS; l++) {
        row->entropy[l] = log->policy_entropy[l];
        row->patch_len_mean[l] = log->patch_len_mean[l];
        row->patch_len_std[l] = log->patch_len_std[l];
        row->cuts_off_uniform[l] = log->frac_moved[l];
    }
}

static void write_header(FILE *f, int n_levels) {
    for (int i = 0; i < N_FIXED; i++) fprintf(f, "%s%s", i ? "," : "", FIXED_COLUMNS[i]);
    for (int l = 0; l < n_levels; l++)
        for (int k = 0; k < N_PER_LEVEL; k++) fprintf(f, ",level%d_%s", l + 1, LEVEL_COLUMNS[k]);
    fputc('\n', f);
}

/* %.9g keeps a float's every digit and most of a double's; the file is for reading back and
 * plotting, not for bit-exact state (the checkpoint holds that). */
static void write_row(FILE *f, const rp_history_row *r, int n_levels) {
    fprintf(f, "%d,%lld,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g", r->epoch, r->step, r->lr, r->policy_lr,
            r->train_loss, r->val_mse, r->val_mae, r->seconds, r->windows_per_second, r->mean_reward,
            r->advantage_spread);
    for (int l = 0; l < n_levels; l++)
        fprintf(f, ",%.9g,%.9g,%.9g,%.9g", r->entropy[l], r->patch_len_mean[l], r->patch_len_std[l],
                r->cuts_off_uniform[l]);
    fputc('\n', f);
}

int history_append(const char *run_dir, const rp_history_row *row, int n_levels, rp_error *err) {
    char path[RP_PATH_MAX + 32], tmp[RP_ATOMIC_TMP_MAX];
    snprintf(path, sizeof path, "%s/history.csv", run_dir);
    /* Earlier rows are kept as written, when the file has this run's columns. */
    char *old = NULL;
    size_t old_len;
    if (rp_read_text_file(path, &old, &old_len, NULL)) old = NULL; /* no file yet */
    char header[4096];
    FILE *hf = fmemopen(header, sizeof header, "w");
    if (hf) {
        write_header(hf, n_levels);
        fclose(hf);
    }
    FILE *f = rp_atomic_open(path, tmp, err);
    if (!f) {
        free(old);
        return -1;
    }
    fputs(header, f);
    size_t header_len = strlen(header);
    if (old && hf && !strncmp(old, header, header_len)) {
        int last = 0;
        for (char *line = old + header_len; *line;) {
            char *nl = strchr(line, '\n');
            if (!nl) break; /* a line cut by a crash mid-write: dropped */
            long e = strtol(line, NULL, 10);
            if (e > last && e < row->epoch) {
                fwrite(line, 1, (size_t)(nl - line + 1), f);
                last = (int)e;
            }
            line = nl + 1;
        }
    }
    free(old);
    write_row(f, row, n_levels);
    return rp_atomic_close(f, tmp, path, err);
}

int history_record(const rp_trainer *t, const rp_epoch_log *log, const rp_eval_result *val, rp_error *err) {
    if (dist_rank() != 0) return 0; /* under MPI, rank 0 writes the run's files */
    rp_history_row row;
    history_row_from_log(&row, log, val, t->step, t->recipe->train.policy_lr);
    return history_append(t->run_dir, &row, t->model.n_levels, err);
}

void history_free(rp_history *h) {
    free(h->rows);
    memset(h, 0, sizeof *h);
}

/* The address of column `name`'s field in a row, or NULL when the name is not a column. */
static double *column_slot(rp_history_row *r, const char *name, int *level) {
    static const size_t fixed_offsets[] = {
        0, 0, offsetof(rp_history_row, lr), offsetof(rp_history_row, policy_lr),
        offsetof(rp_history_row, train_loss), offsetof(rp_history_row, val_mse), offsetof(rp_history_row, val_mae),
        offsetof(rp_history_row, seconds), offsetof(rp_history_row, windows_per_second),
        offsetof(rp_history_row, mean_reward), offsetof(rp_history_row, advantage_spread)};
    *level = -1;
    for (int i = 2; i < N_FIXED; i++)
        if (!strcmp(name, FIXED_COLUMNS[i])) return (double *)((char *)r + fixed_offsets[i]);
    int l = 0, used = 0;
    if (sscanf(name, "level%d_%n", &l, &used) != 1 || used == 0 || l < 1 || l > RP_MAX_LEVELS) return NULL;
    double *level_fields[N_PER_LEVEL] = {r->entropy, r->patch_len_mean, r->patch_len_std, r->cuts_off_uniform};
    for (int k = 0; k < N_PER_LEVEL; k++)
        if (!strcmp(name + used, LEVEL_COLUMNS[k])) {
            *level = l;
            return level_fields[k] + (l - 1);
        }
    return NULL;
}

enum { MAX_COLUMNS = N_FIXED + N_PER_LEVEL * RP_MAX_LEVELS };

int history_read(const char *path, rp_history *h, rp_error *err) {
    memset(h, 0, sizeof *h);
    char *text = NULL;
    size_t len;
    if (rp_read_text_file(path, &text, &len, NULL)) return rp_fail(err, "%s: cannot read the file (%s)", path, strerror(errno ? errno : EIO));
    /* Header: the column of each field; epoch and step first. */
    char *line = text, *nl = strchr(line, '\n');
    if (!nl) {
        free(text);
        return rp_fail(err, "%s:1: no header line (epoch,step,lr,...)", path);
    }
    *nl = '\0';
    char names[MAX_COLUMNS][48];
    int n_cols = 0;
    for (char *tok = line, *end; tok; tok = end ? end + 1 : NULL) {
        end = strchr(tok, ',');
        if (end) *end = '\0';
        if (n_cols == MAX_COLUMNS) {
            free(text);
            return rp_fail(err, "%s:1: more than %d columns", path, MAX_COLUMNS);
        }
        snprintf(names[n_cols++], sizeof names[0], "%s", tok);
    }
    if (n_cols < 2 || strcmp(names[0], "epoch") || strcmp(names[1], "step")) {
        free(text);
        return rp_fail(err, "%s:1: not a history file (the header must start with epoch,step)", path);
    }
    for (int i = 0; i < N_FIXED; i++) {
        int found = 0;
        for (int c = 0; c < n_cols; c++) found |= !strcmp(names[c], FIXED_COLUMNS[i]);
        if (!found) {
            free(text);
            return rp_fail(err, "%s:1: no column '%s'", path, FIXED_COLUMNS[i]);
        }
    }
    int cap = 64;
    h->rows = malloc((size_t)cap * sizeof *h->rows);
    if (!h->rows) {
        free(text);
        return rp_fail(err, "%s: out of memory", path);
    }
    int lineno = 1;
    for (line = nl + 1; *line; line = nl ? nl + 1 : line + strlen(line)) {
        lineno++;
        nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        if (!*line) continue;
        if (h->n_rows == cap) {
            rp_history_row *bigger = realloc(h->rows, (size_t)cap * 2 * sizeof *bigger);
            if (!bigger) goto oom;
            h->rows = bigger;
            cap *= 2;
        }
        rp_history_row *r = &h->rows[h->n_rows];
        memset(r, 0, sizeof *r);
        int c = 0;
        for (char *tok = line, *end; tok; tok = end ? end + 1 : NULL, c++) {
            end = strchr(tok, ',');
            if (end) *end = '\0';
            if (c >= n_cols) {
                rp_fail(err, "%s:%d: more fields than the %d columns of the header", path, lineno, n_cols);
                goto fail;
            }
            char *stop = NULL;
            double v = strtod(tok, &stop);
            if (!*tok || *stop) {
                rp_fail(err, "%s:%d: column '%s': '%.40s' is not a number", path, lineno, names[c], tok);
                goto fail;
            }
            int level = -1;
            double *slot = column_slot(r, names[c], &level);
            if (c == 0) r->epoch = (int)v;
            else if (c == 1) r->step = (long long)v;
            else if (slot) {
                *slot = v;
                if (level > h->n_levels) h->n_levels = level;
            }
        }
        if (c != n_cols) {
            rp_fail(err, "%s:%d: %d fields, the header has %d columns", path, lineno, c, n_cols);
            goto fail;
        }
        if (r->epoch < 1 || (h->n_rows > 0 && r->epoch <= h->rows[h->n_rows - 1].epoch)) {
            rp_fail(err, "%s:%d: epoch %d does not follow epoch %d", path, lineno, r->epoch,
                    h->n_rows > 0 ? h->rows[h->n_rows - 1].epoch : 0);
            goto fail;
        }
        h->n_rows++;
    }
    free(text);
    return 0;
oom:
    rp_fail(err, "%s: out of memory", path);
fail:
    free(text);
    history_free(h);
    return -1;
}
