/* Running the reinpatch binary from a test as a user would: one child process, started in a given
 * directory, its stdout and stderr captured whole and its exit status returned (header only, like
 * tempdir.h). The binary is $REINPATCH_BUILD_ROOT/cli/reinpatch (set by tests/meson.build), or
 * build/cli/reinpatch when a test executable is run by hand from the source root. */
#ifndef RP_TESTS_RUN_COMMAND_H
#define RP_TESTS_RUN_COMMAND_H

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct command_result {
    int status;        /* exit status, or 128 + signal */
    char *out, *err;   /* everything the command wrote to stdout and stderr; command_result_free */
} command_result;

/* The rest of an open file, NUL-terminated, owned by the caller (free); closes f. */
static inline char *read_whole(FILE *f, size_t *size) {
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    if (size) *size = got;
    return s;
}

/* The whole file as a string owned by the caller (free); "" when it cannot be read. */
static inline char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    return f ? read_whole(f, NULL) : strdup("");
}

/* The whole file (binary) and its size; the test fails when it cannot be opened. Caller frees. */
static inline char *slurp_size(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    return read_whole(f, size);
}

/* Writes n bytes to path (replacing it); the test fails when it cannot. */
static inline void write_bytes(const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

/* An absolute path: the command runs in another directory. */
static inline const char *reinpatch_binary(void) {
    static char path[1024];
    const char *root = getenv("REINPATCH_BUILD_ROOT");
    char cwd[900];
    if (root) snprintf(path, sizeof path, "%s/cli/reinpatch", root);
    else snprintf(path, sizeof path, "%s/build/cli/reinpatch", getcwd(cwd, sizeof cwd) ? cwd : ".");
    return path;
}

static inline void command_result_free(command_result *r) {
    free(r->out);
    free(r->err);
}

/* When > 0, the next commands run with RLIMIT_FSIZE at this many bytes and SIGXFSZ ignored: a
 * write past it fails with EFBIG, as on a full disk. */
static long run_fsize_limit;

/* Runs `reinpatch first ...` (the arguments up to a NULL, at most 30) in dir. The output goes
 * through two files in dir named after the test's pid, removed afterwards. */
static inline command_result run_reinpatch_v(const char *dir, const char *first, va_list ap) {
    const char *argv[32];
    int n = 0;
    argv[n++] = reinpatch_binary();
    for (const char *a = first; a && n < 31; a = va_arg(ap, const char *)) argv[n++] = a;
    argv[n] = NULL;
    char out_path[1024], err_path[1024];
    snprintf(out_path, sizeof out_path, "%s/stdout.%ld", dir, (long)getpid());
    snprintf(err_path, sizeof err_path, "%s/stderr.%ld", dir, (long)getpid());
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0 || chdir(dir) != 0) _exit(127);
        dup2(o, 1);
        dup2(e, 2);
        if (run_fsize_limit > 0) {
            struct rlimit lim = {.rlim_cur = (rlim_t)run_fsize_limit, .rlim_max = (rlim_t)run_fsize_limit};
            signal(SIGXFSZ, SIG_IGN);
            setrlimit(RLIMIT_FSIZE, &lim);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    command_result r;
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    unlink(out_path);
    unlink(err_path);
    return r;
}

static inline command_result run_reinpatch(const char *dir, const char *first, ...) {
    va_list ap;
    va_start(ap, first);
    command_result r = run_reinpatch_v(dir, first, ap);
    va_end(ap);
    return r;
}

static inline int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* A failure as the CLI promises it: non-zero, nothing on stdout, exactly one line on stderr that
 * starts with "reinpatch <cmd>: " and contains `needle`. */
static inline void expect_failure(command_result *r, const char *cmd, const char *needle) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "reinpatch %s: ", cmd);
    cr_expect_neq(r->status, 0, "exit status 0 (stderr: %s)", r->err);
    cr_expect_lt(r->status, 128, "killed by a signal: %d (stderr: %s)", r->status - 128, r->err);
    cr_expect_str_empty(r->out, "stdout: %s", r->out);
    cr_expect_eq(count_lines(r->err), 1, "expected one error line, got: %s", r->err);
    cr_expect(strncmp(r->err, prefix, strlen(prefix)) == 0, "'%s' does not start with '%s'", r->err, prefix);
    cr_expect_not_null(strstr(r->err, needle), "'%s' does not mention '%s'", r->err, needle);
}

#endif
