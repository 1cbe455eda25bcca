/* Replays every seed of tests/fuzz/corpus/<harness>/ and every input that once crashed a reader
 * (tests/fuzz/regressions/<harness>/, minimised, named after what it broke) through the fuzz
 * harnesses' own code: a reader must refuse such a file with one printable line or read it, never
 * crash, leak (under scripts/sanitize) or print raw bytes. Runs in every test build; libFuzzer is
 * not needed. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_util.h"
#include "tests/run_command.h"

typedef int (*fuzz_fn)(const uint8_t *data, size_t size);

/* Feeds every file of <source root>/tests/fuzz/<kind>/<name>/ to fn; returns how many. */
static int replay(const char *kind, const char *name, fuzz_fn fn) {
    const char *root = getenv("REINPATCH_SOURCE_ROOT");
    char dir[1024], path[1400];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/%s/%s", root ? root : ".", kind, name);
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t size;
        char *buf = slurp_size(path, &size);
        fn((const uint8_t *)buf, size);
        free(buf);
        n++;
    }
    closedir(d);
    return n;
}

static void replay_all(const char *name, fuzz_fn fn, int want_regressions) {
    int seeds = replay("corpus", name, fn);
    cr_assert_gt(seeds, 0, "no seeds in tests/fuzz/corpus/%s", name);
    int found = replay("regressions", name, fn);
    cr_assert_geq(found, want_regressions, "tests/fuzz/regressions/%s has %d inputs", name, found);
}

Test(fuzz_regressions, csv) { replay_all("csv", fuzz_one_csv, 0); }
/* nul-byte-in-data-line: a NUL inside a data line made strchr miss a counted ':' (NULL + 1). */
Test(fuzz_regressions, tsf) { replay_all("tsf", fuzz_one_tsf, 1); }
/* render-empty-buffer: recipe_render formatted into a NULL buffer at offset 0 (UB). */
Test(fuzz_regressions, recipe) { replay_all("recipe", fuzz_one_recipe, 1); }
/* slow-under-load: timed out at 10 s on a loaded machine; refused in ~2 s under ASan alone. */
Test(fuzz_regressions, checkpoint) { replay_all("checkpoint", fuzz_one_checkpoint, 1); }
/* recipe-length-claims-1.7GB: the /recipe string's descriptor claims 1.7 GB; HDF5 allocated it
 * inside H5Dread before failing (out-of-memory under libFuzzer). float-element-claims-1.9GB: a
 * policy tensor's float type claims 1.9 GB per element; H5Dread sized its conversion buffer so. */
Test(fuzz_regressions, patcher) { replay_all("patcher", fuzz_one_patcher, 2); }
/* heap-free-space-of-size-zero: the global heap's free space has size 0; HDF5 looped for ever
 * decoding the collection inside H5Aread of reinpatch_kind. attribute-dataspace-past-its-message:
 * n_levels' dataspace claims 29704 bytes of a 56-byte message; H5Aexists copied the value from
 * past the object header (heap over-read). root-continuation-claims-16GB: the root group's
 * header continues in a 16 GB chunk of a 17 kB file; H5Fopen allocated it before reading.
 * compact-layout-8-bytes-for-264: /windows/start_row turned compact with 8 stored bytes for 66
 * int32s; H5Dread copied 264 (SEGV). n-windows-claims-1.1-billion: segexport_read sized its
 * arrays by the n_windows attribute before the datasets' shapes agreed (4.4 GB). */
Test(fuzz_regressions, segexport, .timeout = 60) { replay_all("segexport", fuzz_one_segexport, 5); }
/* kind-characters-claim-1.6GB: reinpatch_kind's characters claim 1.6 GB each; H5Aread allocated
 * length x character size. kind-type-size-11-not-16: its string type's size field says 11; HDF5
 * stored 11 bytes and read the 16 of a descriptor (heap over-read in H5A__read). */
Test(fuzz_regressions, test_windows) { replay_all("test_windows", fuzz_one_test_windows, 2); }
