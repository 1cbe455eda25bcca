#include "cli/cli_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_fail(const char *cmd, const char *file, const char *msg) {
    fprintf(stderr, "reinpatch %s: ", cmd);
    size_t n = file ? strlen(file) : 0;
    if (file && !(strncmp(msg, file, n) == 0 && (msg[n] == ':' || msg[n] == ' ' || msg[n] == 0)))
        fprintf(stderr, "%s: ", file);
    for (const char *p = msg; *p; p++) {
        if (*p == '\n') {
            if (p[1]) fputs("; ", stderr);
        } else {
            fputc(*p, stderr);
        }
    }
    fputc('\n', stderr);
    return 1;
}

int cli_fail_path(const char *cmd, const char *shown, const char *actual, const char *msg) {
    size_t n = actual ? strlen(actual) : 0;
    if (n && strncmp(msg, actual, n) == 0) {
        char buf[RP_ERROR_MSG_MAX + RP_ERROR_MSG_MAX];
        snprintf(buf, sizeof buf, "%s%s", shown, msg + n);
        return cli_fail(cmd, shown, buf);
    }
    return cli_fail(cmd, shown, msg);
}

int cli_failf(const char *cmd, const char *file, const char *fmt, ...) {
    char msg[RP_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cli_fail(cmd, file, msg);
}

int cli_option(const char *cmd, int argc, char **argv, int *i, const char *name, const char **value) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != 0) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "reinpatch %s: %s needs a value (see reinpatch %s --help)\n", cmd, name, cmd);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int cli_data_path(const char *arg, char *out, size_t size, rp_error *err) {
    if (!strcmp(arg, "generated") || arg[0] == '/') {
        if (strlen(arg) >= size) return rp_fail(err, "%s: path too long", arg);
        snprintf(out, size, "%s", arg);
    } else {
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd)) return rp_fail(err, "%s: cannot read the current directory", arg);
        int n = snprintf(out, size, "%s/%s", cwd, arg);
        if (n < 0 || (size_t)n >= size) return rp_fail(err, "%s: path too long", arg);
    }
    if (strcmp(arg, "generated") != 0) {
        struct stat st;
        if (stat(out, &st) != 0) return rp_fail(err, "%s: %s", arg, strerror(errno));
        if (S_ISDIR(st.st_mode)) return rp_fail(err, "%s: is a directory, expected a CSV file", arg);
    }
    return 0;
}

int cli_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (stat(a, &sa) != 0 || stat(b, &sb) != 0) return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}
