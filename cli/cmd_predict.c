/* reinpatch predict CHECKPOINT --data NEW.csv --out FORECAST.csv */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/util.h"
#include "io/series.h"
#include "io/timestamp.h"
#include "reinpatch.h"
#include "train/predict.h"

static const char *predict_help =
    "usage: reinpatch predict CHECKPOINT --data FILE.csv --out FORECAST.csv\n"
    "\n"
    "Forecasts the H steps (the checkpoint's horizon) after the last L rows (its lookback) of\n"
    "every channel of FILE.csv, in the file's original units: the window is z-scored with the\n"
    "train-split statistics stored in the checkpoint, the model runs with its best-validation\n"
    "weights (greedy segmentation for learned levels), and the forecast is mapped back with the\n"
    "same statistics.\n"
    "\n"
    "  --data FILE.csv  the series: the checkpoint's channels (all columns, or the recipe's\n"
    "                   data.columns by name), at least L rows\n"
    "  --out FILE.csv   the forecast ('-' for stdout): a header (the date column's name when\n"
    "                   the input has one, then the channel names) and H rows; timestamps\n"
    "                   continue the input's with the step between its last two rows, or are\n"
    "                   written +1, +2, ... when they cannot be parsed\n";

/* Writes a CSV field, quoted when it holds a comma, a quote or a line break. */
static void put_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static int write_forecast(FILE *f, const rp_series *s, const float *out, int H, char **stamps) {
    if (s->date_name) {
        put_field(f, s->date_name);
        fputc(',', f);
    }
    for (int c = 0; c < s->cols; c++) {
        if (c) fputc(',', f);
        put_field(f, s->col_names[c]);
    }
    fputc('\n', f);
    for (int h = 0; h < H; h++) {
        if (s->date_name) {
            if (stamps) put_field(f, stamps[h]);
            else fprintf(f, "+%d", h + 1);
            fputc(',', f);
        }
        for (int c = 0; c < s->cols; c++) fprintf(f, c ? ",%.7g" : "%.7g", out[(size_t)h * s->cols + c]);
        fputc('\n', f);
    }
    return ferror(f) ? -1 : 0;
}

int cmd_predict(int argc, char **argv) {
    const char *ckpt = NULL, *data = NULL, *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int o;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(predict_help, stdout);
            return 0;
        }
        if ((o = cli_option("predict", argc, argv, &i, "--data", &v)) != 0) {
            if (o < 0) return 2;
            data = v;
        } else if ((o = cli_option("predict", argc, argv, &i, "--out", &v)) != 0) {
            if (o < 0) return 2;
            out_path = v;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "reinpatch predict: unknown option '%s' (see reinpatch predict --help)\n", a);
            return 2;
        } else if (!ckpt) {
            ckpt = a;
        } else {
            fprintf(stderr, "reinpatch predict: more than one checkpoint given ('%s', '%s')\n", ckpt, a);
            return 2;
        }
    }
    if (!ckpt || !data || !out_path) {
        if (ckpt || data || out_path)
            fprintf(stderr, "reinpatch predict: %s is required (see reinpatch predict --help)\n",
                    !ckpt ? "CHECKPOINT" : !data ? "--data" : "--out");
        else
            fputs(predict_help, stderr);
        return 2;
    }
    if (strcmp(out_path, "-") != 0 && (cli_same_file(out_path, ckpt) || cli_same_file(out_path, data)))
        return cli_fail("predict", out_path, "--out would overwrite an input file");

    rp_error err = {{0}};
    rp_series s;
    memset(&s, 0, sizeof s);
    float *x = NULL, *y = NULL, *out = NULL;
    char **stamps = NULL;
    const char *blame = ckpt;
    int status = 1;
    /* The command is a client of the public API (include/reinpatch.h) for the model itself. */
    rp_error *api_err = NULL;
    rp_forecaster *model = rp_forecaster_open(ckpt, &api_err);
    if (!model) {
        cli_fail("predict", ckpt, rp_error_message(api_err));
        rp_error_free(api_err);
        return 1;
    }
    int C = rp_forecaster_channels(model), L = rp_forecaster_lookback(model), H = rp_forecaster_horizon(model);
    rp_set_thread_count(rp_forecaster_threads(model));

    blame = data;
    if (csv_read(data, &s, &err)) goto fail;
    if (rp_forecaster_channel_name(model, 0) && s.cols != C) {
        /* The recipe trained on named columns of a wider file: take the same ones. */
        const char *names[RP_MAX_COLUMNS];
        for (int i = 0; i < C; i++) names[i] = rp_forecaster_channel_name(model, i);
        if (series_select_columns(&s, names, C, &err)) goto fail;
    }
    if (s.cols != C) {
        rp_fail(&err, "%d value column%s, the checkpoint was trained on %d channel%s", s.cols,
                s.cols == 1 ? "" : "s", C, C == 1 ? "" : "s");
        goto fail;
    }
    if (s.rows < L) {
        rp_fail(&err, "%d row%s, the checkpoint's lookback needs at least %d", s.rows, s.rows == 1 ? "" : "s", L);
        goto fail;
    }
    x = rp_malloc((size_t)C * L * sizeof(float), &err);
    y = rp_malloc((size_t)C * H * sizeof(float), &err);
    out = rp_malloc((size_t)H * C * sizeof(float), &err);
    if (!x || !y || !out) goto fail;
    for (int c = 0; c < C; c++)
        for (int t = 0; t < L; t++) x[(size_t)c * L + t] = s.values[(size_t)(s.rows - L + t) * C + c];
    if (rp_forecast(model, x, C, y, &api_err)) {
        rp_fail(&err, "%s", rp_error_message(api_err));
        rp_error_free(api_err);
        goto fail;
    }
    for (int c = 0; c < C; c++)
        for (int h = 0; h < H; h++) out[(size_t)h * C + c] = y[(size_t)c * H + h];

    if (s.date_name && s.rows >= 2) {
        stamps = calloc((size_t)H, sizeof *stamps);
        if (stamps && rp_timestamps_continue(s.timestamps[s.rows - 2], s.timestamps[s.rows - 1], H, stamps)) {
            free(stamps);
            stamps = NULL;
        }
    }
    blame = out_path;
    if (!strcmp(out_path, "-")) {
        if (write_forecast(stdout, &s, out, H, stamps) || fflush(stdout)) {
            rp_fail(&err, "cannot write the forecast to stdout");
            goto fail;
        }
    } else {
        char tmp[RP_PATH_MAX + 32];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out_path, (long)getpid());
        FILE *f = fopen(tmp, "w");
        if (!f) {
            rp_fail(&err, "cannot create %s", tmp);
            goto fail;
        }
        int wrc = write_forecast(f, &s, out, H, stamps);
        if (fclose(f) != 0 || wrc || rename(tmp, out_path) != 0) {
            remove(tmp);
            rp_fail(&err, "cannot write the forecast");
            goto fail;
        }
        printf("wrote %s: %d rows x %d channels after row %d of %s%s\n", out_path, H, C,
                s.rows, data, s.date_name && !stamps ? " (timestamps not parsed: rows named +1, +2, ...)" : "");
    }
    status = 0;
fail:
    if (status) cli_fail("predict", blame, err.msg);
    if (stamps)
        for (int h = 0; h < H; h++) free(stamps[h]);
    free(stamps);
    free(x);
    free(y);
    free(out);
    series_free(&s);
    rp_forecaster_close(model);
    return status;
}
