/* A work directory shared by every test of one Criterion run (each test runs in its own
 * process, a child of the runner): named after the runner's pid, so the first test that needs an
 * expensive fixture (a trained checkpoint) makes it there under a lock and the others reuse it;
 * removed when the run ends. Header only, like tempdir.h. The including file defines
 * SHARED_DIR_TAG ("cli" -> /tmp/reinpatch-cli-test-<pid>) and, before every include,
 * _XOPEN_SOURCE 700 (nftw) and _DEFAULT_SOURCE (flock). */
#ifndef RP_TESTS_SHARED_DIR_H
#define RP_TESTS_SHARED_DIR_H

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static char work[512];

/* Points `work` at the directory of the Criterion runner with this pid (getppid() in a test,
 * getpid() in the runner's hooks). */
static inline const char *work_dir(pid_t runner) {
    snprintf(work, sizeof work, "/tmp/reinpatch-" SHARED_DIR_TAG "-test-%ld", (long)runner);
    return work;
}

/* work/name, in one of 8 rotating buffers (several may appear in one call). */
static inline const char *at(const char *name) {
    static char bufs[8][700];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, 700, "%s/%s", work, name);
    return b;
}

static inline void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* The size of a file, -1 when it does not exist. */
static inline long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Enters the run's directory (making it) and takes its lock: the caller makes the fixture when
 * it is missing, then passes the returned descriptor to shared_dir_unlock. */
static inline int shared_dir_lock(void) {
    work_dir(getppid());
    mkdir(work, 0755);
    int lock = open(at("lock"), O_RDWR | O_CREAT, 0644);
    cr_assert_geq(lock, 0, "cannot create %s", at("lock"));
    flock(lock, LOCK_EX);
    return lock;
}

static inline void shared_dir_unlock(int lock) {
    flock(lock, LOCK_UN);
    close(lock);
}

static inline int shared_dir_remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats) {
    (void)stats;
    work_dir(getpid());
    nftw(work, shared_dir_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
