/* history.csv: rows written and read back, an epoch repeated after an interruption written once,
 * a fresh run in an old directory starting over, and every bad file named with its line. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tests/tempdir.h"
#include "train/history.h"

static rp_history_row make_row(int epoch, int n_levels) {
    rp_history_row r;
    memset(&r, 0, sizeof r);
    r.epoch = epoch;
    r.step = 10LL * epoch;
    r.lr = 1e-3 / epoch;
    r.policy_lr = 1e-4;
    r.train_loss = 1.0 / (epoch + 1);
    r.val_mse = 0.5 + 0.01 * epoch;
    r.val_mae = 0.25 * epoch;
    r.seconds = 1.5;
    r.windows_per_second = 1234.5;
    r.mean_reward = -0.75;
    r.advantage_spread = 0.8;
    for (int l = 0; l < n_levels; l++) {
        r.entropy[l] = 3.0 - 0.1 * epoch - l;
        r.patch_len_mean[l] = 4.0 * (l + 1);
        r.patch_len_std[l] = 0.5 * epoch;
        r.cuts_off_uniform[l] = 0.125 * l;
    }
    return r;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* A new directory (dir[256]) whose history.csv (path[300]) holds epochs 1..n of make_row. */
static void new_history(char *dir, char *path, int n, int n_levels) {
    tempdir_make(dir, 256, "history");
    snprintf(path, 300, "%s/history.csv", dir);
    rp_error err;
    for (int e = 1; e <= n; e++) {
        rp_history_row row = make_row(e, n_levels);
        cr_assert_eq(history_append(dir, &row, n_levels, &err), 0, "%s", err.msg);
    }
}

Test(history, round_trip) {
    char dir[256], path[300];
    rp_error err;
    new_history(dir, path, 3, 2);
    rp_history h;
    cr_assert_eq(history_read(path, &h, &err), 0, "%s", err.msg);
    cr_assert_eq(h.n_rows, 3);
    cr_assert_eq(h.n_levels, 2);
    for (int e = 1; e <= 3; e++) {
        rp_history_row want = make_row(e, 2);
        const rp_history_row *got = &h.rows[e - 1];
        cr_expect_eq(got->epoch, e);
        cr_expect_eq(got->step, want.step);
        /* %.9g: relative error below 1e-8 */
        double pairs[][2] = {{got->lr, want.lr}, {got->train_loss, want.train_loss}, {got->val_mse, want.val_mse},
                             {got->val_mae, want.val_mae}, {got->policy_lr, want.policy_lr},
                             {got->mean_reward, want.mean_reward}, {got->entropy[1], want.entropy[1]},
                             {got->patch_len_mean[1], want.patch_len_mean[1]},
                             {got->patch_len_std[0], want.patch_len_std[0]},
                             {got->cuts_off_uniform[1], want.cuts_off_uniform[1]}};
        for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++)
            cr_expect(fabs(pairs[k][0] - pairs[k][1]) <= 1e-8 * fabs(pairs[k][1]), "epoch %d field %zu: %.12g vs %.12g",
                      e, k, pairs[k][0], pairs[k][1]);
    }
    history_free(&h);
    tempdir_remove(dir);
}

Test(history, repeated_epoch_written_once) {
    char dir[256], path[300];
    rp_error err;
    new_history(dir, path, 3, 1);
    /* The process died after epoch 3's row but before its checkpoint: the resumed run repeats
     * epoch 3 (and later ones), which replace the rows written before. */
    rp_history_row again = make_row(3, 1);
    again.train_loss = 42.0;
    cr_assert_eq(history_append(dir, &again, 1, &err), 0, "%s", err.msg);
    rp_history h;
    cr_assert_eq(history_read(path, &h, &err), 0, "%s", err.msg);
    cr_assert_eq(h.n_rows, 3);
    cr_expect_eq(h.rows[2].train_loss, 42.0);
    history_free(&h);
    /* A checkpoint older than the file (epoch 2 after rows up to 3): rows 2 and 3 go. */
    rp_history_row two = make_row(2, 1);
    cr_assert_eq(history_append(dir, &two, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(history_read(path, &h, &err), 0, "%s", err.msg);
    cr_assert_eq(h.n_rows, 2);
    cr_expect_eq(h.rows[1].epoch, 2);
    history_free(&h);
    /* A fresh run in the same directory starts the file over. */
    rp_history_row first = make_row(1, 1);
    cr_assert_eq(history_append(dir, &first, 1, &err), 0, "%s", err.msg);
    cr_assert_eq(history_read(path, &h, &err), 0, "%s", err.msg);
    cr_expect_eq(h.n_rows, 1);
    history_free(&h);
    /* Another level count (another recipe in the same directory): the old rows are not this
     * run's. */
    rp_history_row other = make_row(2, 2);
    cr_assert_eq(history_append(dir, &other, 2, &err), 0, "%s", err.msg);
    cr_assert_eq(history_read(path, &h, &err), 0, "%s", err.msg);
    cr_expect_eq(h.n_rows, 1);
    cr_expect_eq(h.n_levels, 2);
    history_free(&h);
    tempdir_remove(dir);
}

Test(history, bad_files) {
    char dir[256], path[300];
    tempdir_make(dir, sizeof dir, "history");
    snprintf(path, sizeof path, "%s/history.csv", dir);
    const char *header = "epoch,step,lr,policy_lr,train_loss,val_mse,val_mae,seconds,train_windows_per_second,"
                         "mean_reward,advantage_spread\n";
    static const struct {
        const char *body, *needle;
        int header;
    } cases[] = {
        {"", "no header", 0},
        {"date,value\n1,2\n", "not a history file", 0},
        {"epoch,step,lr\n1,2,3\n", "no column 'policy_lr'", 0},
        {"1,10,0.1,0.1,0.5,0.4,0.3,1,100,0,x\n", ":2: column 'advantage_spread': 'x' is not a number", 1},
        {"1,10,0.1,0.1,0.5,0.4,0.3,1,100,0\n", ":2: 10 fields", 1},
        {"1,10,0.1,0.1,0.5,0.4,0.3,1,100,0,0,7\n", ":2: more fields", 1},
        {"2,10,0.1,0.1,0.5,0.4,0.3,1,100,0,0\n1,20,0.1,0.1,0.5,0.4,0.3,1,100,0,0\n", ":3: epoch 1 does not follow epoch 2", 1},
    };
    rp_error err;
    rp_history h;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "%s%s", cases[i].header ? header : "", cases[i].body);
        write_text(path, text);
        cr_expect_eq(history_read(path, &h, &err), -1, "case %zu read", i);
        cr_expect_not_null(strstr(err.msg, cases[i].needle), "case %zu: '%s' lacks '%s'", i, err.msg, cases[i].needle);
        cr_expect(strncmp(err.msg, path, strlen(path)) == 0, "case %zu: '%s' does not name the file", i, err.msg);
        cr_expect_null(h.rows);
    }
    snprintf(path, sizeof path, "%s/absent.csv", dir);
    cr_expect_eq(history_read(path, &h, &err), -1);
    cr_expect_not_null(strstr(err.msg, "cannot read"), "%s", err.msg);
    tempdir_remove(dir);
}
