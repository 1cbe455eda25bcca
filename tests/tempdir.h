/* A temporary directory per test (Criterion runs each test in its own process): created under
 * /tmp from a tag, removed with everything inside it, subdirectories included. */
#ifndef RP_TESTS_TEMPDIR_H
#define RP_TESTS_TEMPDIR_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline void tempdir_make(char *dir, size_t size, const char *tag) {
    snprintf(dir, size, "/tmp/rp_test_%s_XXXXXX", tag);
    cr_assert_not_null(mkdtemp(dir), "mkdtemp %s", dir);
}

/* DIR/NAME in one of four rotating static buffers: valid until the fourth call after it, so up to
 * four can be used in one expression. */
static inline const char *tempdir_file(const char *dir, const char *name) {
    static char bufs[4][700];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

static inline void tempdir_remove(const char *path) {
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        int n = snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        if (n < 0 || (size_t)n >= sizeof p) continue; /* not a path this helper made */
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) tempdir_remove(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(path);
}

#endif
