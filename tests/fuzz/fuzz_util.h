/* Shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c): the readers take paths, so each input
 * is written to one file per harness process first. Header only. */
#ifndef RP_FUZZ_UTIL_H
#define RP_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "io/h5util.h"
#include "io/inspect.h"

/* Each harness is `int fuzz_one_<name>(data, size)`, declared here for the regression suite
 * (test_fuzz_regressions.c replays tests/fuzz/corpus and tests/fuzz/regressions through them in
 * every test build); FUZZ_ENTRY makes it libFuzzer's entry point in the fuzz build only. */
int fuzz_one_csv(const uint8_t *data, size_t size);
int fuzz_one_tsf(const uint8_t *data, size_t size);
int fuzz_one_recipe(const uint8_t *data, size_t size);
int fuzz_one_checkpoint(const uint8_t *data, size_t size);
int fuzz_one_patcher(const uint8_t *data, size_t size);
int fuzz_one_segexport(const uint8_t *data, size_t size);
int fuzz_one_test_windows(const uint8_t *data, size_t size);
#ifdef RP_LIBFUZZER
#define FUZZ_ENTRY(fn) \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fn(data, size); }
#else
#define FUZZ_ENTRY(fn)
#endif

/* Writes the input to "<dir>/rp_fuzz_<pid><ext>" (dir: $TMPDIR, else /tmp) and returns the path
 * (a static buffer); aborts when it cannot, which is the machine's fault, not the input's. */
static inline const char *fuzz_input_file(const uint8_t *data, size_t size, const char *ext) {
    static char path[512];
    if (!path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/rp_fuzz_%ld%s", dir && dir[0] ? dir : "/tmp", (long)getpid(), ext);
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
    return path;
}

/* Stores v where the compiler must keep it: sums over everything a reader returned make ASan
 * check each element against the allocation. */
static volatile double fuzz_sink;
static inline void fuzz_consume(double v) { fuzz_sink = v; }

/* Every message a reader returns is one line of printable text (issue 17): a fault otherwise. */
static inline void fuzz_check_message(const rp_error *err) {
    for (const unsigned char *p = (const unsigned char *)err->msg; *p; p++)
        if (*p < 0x20 && *p != '\n') abort();
}

/* `reinpatch inspect` on the input too (output dropped): it reads any reinpatch HDF5 file. */
static inline void fuzz_inspect(const char *path) {
    rp_error err = {{0}};
    FILE *devnull = fopen("/dev/null", "w");
    if (h5_inspect(path, devnull, &err) != 0) fuzz_check_message(&err);
    fclose(devnull);
}

#endif
