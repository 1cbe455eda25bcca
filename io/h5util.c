#include "io/h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5header.h"
#include "io/h5vlen.h"

void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static herr_t innermost_cb(unsigned n, const H5E_error2_t *e, void *data) {
    /* Walking upward, entry 0 is the function that detected the problem: the most specific
     * message ("truncated file: eof = ..."). */
    if (n == 0 && e->desc) {
        char *buf = data;
        snprintf(buf, RP_ERROR_MSG_MAX, "%s", e->desc);
    }
    return 0;
}

void h5_last_error(char *buf, size_t size) {
    char tmp[RP_ERROR_MSG_MAX] = "";
    hid_t stack = H5Eget_current_stack();
    if (stack >= 0) {
        H5Ewalk2(stack, H5E_WALK_UPWARD, innermost_cb, tmp);
        H5Eclose_stack(stack);
    }
    snprintf(buf, size, "%s", tmp);
}

void h5_where(hid_t obj, char *buf, size_t size) {
    char file[RP_ERROR_MSG_MAX] = "?", name[RP_ERROR_MSG_MAX] = "";
    if (H5Fget_name(obj, file, sizeof file) < 0) snprintf(file, sizeof file, "?");
    if (H5Iget_name(obj, name, sizeof name) < 0) name[0] = 0;
    snprintf(buf, size, "%s:%s", file, name);
}

/* Fails with "<file>:<object path>[/<name>]: <what> (<HDF5's innermost message>)". */
static int h5_fail(rp_error *err, hid_t loc, const char *name, const char *what) {
    char file[RP_ERROR_MSG_MAX] = "?", obj[RP_ERROR_MSG_MAX] = "", detail[RP_ERROR_MSG_MAX];
    if (H5Fget_name(loc, file, sizeof file) < 0) snprintf(file, sizeof file, "?");
    if (H5Iget_name(loc, obj, sizeof obj) < 0) obj[0] = 0;
    h5_last_error(detail, sizeof detail);
    char where[2 * RP_ERROR_MSG_MAX];
    if (name && name[0] == '/')
        snprintf(where, sizeof where, "%s:%s", file, name);
    else if (name)
        snprintf(where, sizeof where, "%s:%s%s%s", file, obj,
                 (obj[0] && obj[strlen(obj) - 1] == '/') ? "" : "/", name);
    else
        snprintf(where, sizeof where, "%s:%s", file, obj);
    if (detail[0]) return rp_fail(err, "%s: %s (%s)", where, what, detail);
    return rp_fail(err, "%s: %s", where, what);
}

/* ---- atomic files ---- */

/* The file is built in memory (HDF5's core driver, no backing store) and written to disk by us in
 * one pass at commit: HDF5 cannot then be left holding a half-written file it fails to close (a
 * full disk made H5Fclose fail and the library crash at exit), and every write error is one
 * errno we report. The temporary file is created at once so that an unwritable directory fails
 * before any work. */
hid_t h5_atomic_create(const char *path, char *tmp, rp_error *err) {
    h5_quiet();
    int n = snprintf(tmp, RP_H5_TMP_MAX, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || n >= RP_H5_TMP_MAX) {
        rp_fail(err, "%s: path too long", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        rp_fail(err, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    close(fd);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    hid_t file = -1;
    if (fapl >= 0 && H5Pset_fapl_core(fapl, 1 << 20, 0) >= 0)
        file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (file < 0) {
        char detail[RP_ERROR_MSG_MAX];
        h5_last_error(detail, sizeof detail);
        remove(tmp);
        rp_fail(err, "%s: cannot create (%s)", tmp, detail[0] ? detail : "HDF5 error");
        return -1;
    }
    return file;
}

static int fsync_path(const char *path, int flags, rp_error *err) {
    int fd = open(path, flags);
    if (fd < 0) return rp_fail(err, "%s: cannot open to fsync: %s", path, strerror(errno));
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return rp_fail(err, "%s: fsync failed: %s", path, strerror(e));
    }
    close(fd);
    return 0;
}

/* Writes the n bytes of image to tmp and syncs it; returns 0 or an errno. */
static int write_image(const char *tmp, const unsigned char *image, size_t n) {
    int fd = open(tmp, O_WRONLY | O_TRUNC);
    if (fd < 0) return errno;
    for (size_t done = 0; done < n;) {
        ssize_t w = write(fd, image + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            close(fd);
            return e;
        }
        done += (size_t)w;
    }
    int e = fsync(fd) != 0 ? errno : 0;
    if (close(fd) != 0 && !e) e = errno;
    return e;
}

int h5_atomic_commit(hid_t file, const char *tmp, const char *path, rp_error *err) {
    ssize_t size = H5Fflush(file, H5F_SCOPE_GLOBAL) < 0 ? -1 : H5Fget_file_image(file, NULL, 0);
    if (size < 0) {
        h5_fail(err, file, NULL, "flush failed");
        h5_atomic_abort(file, tmp);
        return -1;
    }
    unsigned char *image = rp_malloc((size_t)size, err);
    if (!image || H5Fget_file_image(file, image, (size_t)size) != size) {
        if (image) h5_fail(err, file, NULL, "cannot take the file image");
        free(image);
        h5_atomic_abort(file, tmp);
        return -1;
    }
    H5Fclose(file);
    int e = write_image(tmp, image, (size_t)size);
    free(image);
    if (!e && rename(tmp, path) != 0) e = errno;
    if (e) {
        remove(tmp);
        return rp_fail(err, "cannot write %s: %s (left as it was)", path, strerror(e));
    }
    /* The rename is durable only once the directory entry is on disk. */
    char dir[RP_H5_TMP_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    return fsync_path(dir, O_RDONLY | O_DIRECTORY, err);
}

void h5_atomic_abort(hid_t file, const char *tmp) {
    if (file >= 0) H5Fclose(file);
    H5Eclear2(H5E_DEFAULT);
    remove(tmp);
}

int h5_write_kind(hid_t file, const char *kind, int format_version, rp_error *err) {
    if (h5_write_attr_string(file, "reinpatch_kind", kind, err)) return -1;
    if (h5_write_attr_int(file, "format_version", format_version, err)) return -1;
    return h5_write_attr_string(file, "library_version", RP_LIBRARY_VERSION, err);
}

/* ---- reading: open with checks ---- */

/* 0 when HDF5 may decode obj's attribute messages (h5_header_check): HDF5 1.10.8 reads past a
 * damaged one, from H5Aexists on. */
static int attributes_intact(hid_t obj, rp_error *err) {
    char why[RP_ERROR_MSG_MAX], what[RP_ERROR_MSG_MAX + 32];
    if (h5_header_check(obj, why, sizeof why) == 0) return 0;
    H5Eclear2(H5E_DEFAULT);
    snprintf(what, sizeof what, "damaged attributes: %s", why);
    return h5_fail(err, obj, NULL, what);
}

const char *h5_kind_noun(const char *kind, char *buf, size_t size) {
    if (strcmp(kind, "checkpoint") == 0) return "a checkpoint";
    if (strcmp(kind, "patcher") == 0) return "a patcher file";
    if (strcmp(kind, "segmentation") == 0) return "a segmentation export";
    if (strcmp(kind, "test_windows") == 0) return "a test-window scores file";
    snprintf(buf, size, "a '%s' file", kind);
    return buf;
}

hid_t h5_open_checked(const char *path, const char *kind, int max_version, int *version,
                      rp_error *err) {
    h5_quiet();
    struct stat st;
    if (stat(path, &st) != 0) {
        rp_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    htri_t is = H5Fis_hdf5(path);
    H5Eclear2(H5E_DEFAULT);
    if (is <= 0) {
        rp_fail(err, "%s: not an HDF5 file", path);
        return -1;
    }
    char why[RP_ERROR_MSG_MAX];
    if (h5_header_check_file(path, why, sizeof why) != 0) {
        rp_fail(err, "%s: truncated or damaged HDF5 file (%s)", path, why);
        return -1;
    }
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        char detail[RP_ERROR_MSG_MAX];
        h5_last_error(detail, sizeof detail);
        unsigned long long eof = 0, base = 0, stored = 0;
        if (sscanf(detail, "truncated file: eof = %llu, sblock->base_addr = %llu, "
                   "stored_eof = %llu", &eof, &base, &stored) == 3)
            rp_fail(err, "%s: truncated file: %llu bytes, its header says %llu", path, eof,
                    stored);
        else if (strstr(detail, "truncated"))
            rp_fail(err, "%s: truncated file (%s)", path, detail);
        else
            rp_fail(err, "%s: truncated or damaged HDF5 file (%s)", path, detail);
        return -1;
    }
    char *got = NULL;
    if (attributes_intact(file, err) != 0) {
        H5Fclose(file);
        return -1;
    }
    if (H5Aexists(file, "reinpatch_kind") <= 0) {
        H5Fclose(file);
        H5Eclear2(H5E_DEFAULT);
        rp_fail(err, "%s: not a reinpatch file (no reinpatch_kind attribute)", path);
        return -1;
    }
    if (h5_read_attr_string(file, "reinpatch_kind", &got, err) != 0) {
        H5Fclose(file);
        return -1;
    }
    if (kind && strcmp(got, kind) != 0) {
        char b1[64], b2[64];
        rp_fail(err, "%s is %s, not %s", path, h5_kind_noun(got, b1, sizeof b1),
                h5_kind_noun(kind, b2, sizeof b2));
        free(got);
        H5Fclose(file);
        return -1;
    }
    free(got);
    int v = 0;
    if (h5_read_attr_int(file, "format_version", &v, err) != 0) {
        H5Fclose(file);
        return -1;
    }
    if (v > max_version || v < 1) {
        if (v < 1)
            rp_fail(err, "%s: format_version %d is not valid", path, v);
        else
            rp_fail(err, "%s: written by format version %d; this build reads up to %d", path, v,
                    max_version);
        H5Fclose(file);
        return -1;
    }
    if (version) *version = v;
    return file;
}

/* ---- groups ---- */

/* An object counts as existing only when its header is intact (h5_header_check_link): every
 * reader asks h5_exists before it opens a group or dataset, and HDF5 1.10.8 would allocate what a
 * damaged header claims while opening it. */
int h5_exists(hid_t loc, const char *path) {
    char buf[RP_ERROR_MSG_MAX], why[RP_ERROR_MSG_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return 0;
    if (strcmp(buf, "/") == 0) return 1;
    /* H5Lexists fails (rather than returning 0) when an intermediate link is missing, so check
     * every prefix. */
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            htri_t e = H5Lexists(loc, buf, H5P_DEFAULT);
            if (e > 0 && h5_header_check_link(loc, buf, why, sizeof why) != 0) e = 0;
            *p = c;
            if (e <= 0) {
                H5Eclear2(H5E_DEFAULT);
                return 0;
            }
            if (c == 0) break;
        }
    }
    return 1;
}

hid_t h5_open_group(hid_t file, const char *path, const char *name, rp_error *err) {
    if (!h5_exists(file, name)) return rp_fail(err, "%s: missing group %s", path, name);
    hid_t g = H5Gopen2(file, name, H5P_DEFAULT);
    if (g < 0) {
        H5Eclear2(H5E_DEFAULT);
        return rp_fail(err, "%s: %s is not a group", path, name);
    }
    return g;
}

int h5_create_groups(hid_t loc, const char *path, rp_error *err) {
    char buf[RP_ERROR_MSG_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return rp_fail(err, "HDF5 path too long: '%s'", path);
    size_t len = strlen(buf);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
        if (!h5_exists(loc, buf)) {
            hid_t g = H5Gcreate2(loc, buf, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            if (g < 0) return h5_fail(err, loc, buf, "cannot create group");
            H5Gclose(g);
        }
        buf[i] = c;
    }
    return 0;
}

static int create_parents(hid_t loc, const char *path, rp_error *err) {
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return 0;
    char parent[RP_ERROR_MSG_MAX];
    snprintf(parent, sizeof parent, "%.*s", (int)(slash - path), path);
    return h5_create_groups(loc, parent, err);
}

/* ---- attributes ---- */

static hid_t vlen_string_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static int write_attr(hid_t obj, const char *name, hid_t file_type, hid_t mem_type,
                      const void *value, rp_error *err) {
    if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0)
        return h5_fail(err, obj, NULL, "cannot replace attribute");
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (attr < 0 || H5Awrite(attr, mem_type, value) < 0) {
        char what[RP_ERROR_MSG_MAX];
        snprintf(what, sizeof what, "cannot write attribute '%s'", name);
        rc = h5_fail(err, obj, NULL, what);
    }
    if (attr >= 0) H5Aclose(attr);
    H5Sclose(space);
    return rc;
}

int h5_write_attr_string(hid_t obj, const char *name, const char *value, rp_error *err) {
    hid_t t = vlen_string_type();
    const char *v = value ? value : "";
    int rc = write_attr(obj, name, t, t, &v, err);
    H5Tclose(t);
    return rc;
}

int h5_write_attr_int(hid_t obj, const char *name, int value, rp_error *err) {
    return write_attr(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT, &value, err);
}

int h5_write_attr_int64(hid_t obj, const char *name, long long value, rp_error *err) {
    return write_attr(obj, name, H5T_STD_I64LE, H5T_NATIVE_LLONG, &value, err);
}

int h5_write_attr_double(hid_t obj, const char *name, double value, rp_error *err) {
    return write_attr(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, err);
}

/* Opens a scalar attribute of the given class; -1 with a message naming it otherwise. */
static hid_t open_attr(hid_t obj, const char *name, H5T_class_t cls, rp_error *err) {
    char what[RP_ERROR_MSG_MAX];
    if (attributes_intact(obj, err) != 0) return -1;
    if (H5Aexists(obj, name) <= 0) {
        snprintf(what, sizeof what, "missing attribute '%s'", name);
        h5_fail(err, obj, NULL, what);
        return -1;
    }
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0) {
        snprintf(what, sizeof what, "cannot open attribute '%s'", name);
        h5_fail(err, obj, NULL, what);
        return -1;
    }
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    H5T_class_t got = H5Tget_class(type);
    hssize_t npoints = H5Sget_simple_extent_npoints(space);
    H5Tclose(type);
    H5Sclose(space);
    int ok = npoints == 1 && (got == cls || (cls == H5T_FLOAT && got == H5T_INTEGER));
    if (!ok) {
        const char *want = cls == H5T_STRING ? "a string" : cls == H5T_FLOAT ? "a number"
                                                                             : "an integer";
        snprintf(what, sizeof what, "attribute '%s' is not %s", name, want);
        H5Aclose(attr);
        h5_fail(err, obj, NULL, what);
        return -1;
    }
    return attr;
}

/* Reads a scalar string, variable- or fixed-length, of a dataset (is_attr 0) or an attribute into
 * a malloc'd copy. Returns 0; 1 when it cannot be read, with the reason in why when it is ours
 * (else HDF5's error stack has it; the caller names the object); -1 when memory runs out (err
 * set). A variable-length string is checked against the file first (h5_vlen_check): HDF5 1.10.8
 * would allocate what a damaged descriptor claims, or loop on a damaged heap. */
static int read_scalar_text(hid_t id, int is_attr, hid_t ftype, char **out, char *why,
                            size_t wsize, rp_error *err) {
    int variable = H5Tis_variable_str(ftype) > 0;
    why[0] = 0;
    if (variable) {
        int checked = h5_vlen_check(id, is_attr, why, wsize);
        if (checked < 0) return rp_fail(err, "%s", why);
        if (checked > 0) {
            H5Eclear2(H5E_DEFAULT);
            return 1;
        }
    }
    size_t size = variable ? 0 : H5Tget_size(ftype);
    if (!variable) {
        /* A fixed-length string is stored whole in the file: a longer one is damage, and would
         * be allocated here before HDF5 fails. */
        hid_t file = H5Iget_file_id(id);
        hsize_t file_size = 0;
        if (file < 0 || H5Fget_filesize(file, &file_size) < 0 || size > file_size)
            snprintf(why, wsize, "a fixed-length string of %zu bytes in a file of %llu", size,
                     (unsigned long long)file_size);
        if (file >= 0) H5Fclose(file);
        if (why[0]) {
            H5Eclear2(H5E_DEFAULT);
            return 1;
        }
    }
    hid_t mt = variable ? vlen_string_type() : H5Tcopy(H5T_C_S1);
    if (!variable) H5Tset_size(mt, size);
    char *s = NULL, *buf = variable ? NULL : rp_calloc(size + 1, 1, err);
    void *dst = variable ? (void *)&s : (void *)buf;
    int rc = 0;
    if (!variable && !buf)
        rc = -1;
    else if ((is_attr ? H5Aread(id, mt, dst) : H5Dread(id, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst)) < 0)
        rc = 1;
    if (variable && rc == 0) {
        size_t n = s ? strlen(s) : 0;
        buf = rp_malloc(n + 1, err);
        if (buf) memcpy(buf, s ? s : "", n + 1);
        else rc = -1;
    }
    if (s) H5free_memory(s);
    H5Tclose(mt);
    if (rc) free(buf);
    else *out = buf;
    return rc;
}

/* "<what>: <why>" when why says something, else what. */
static int fail_read(rp_error *err, hid_t loc, const char *name, const char *what,
                     const char *why) {
    if (!why[0]) return h5_fail(err, loc, name, what);
    char both[2 * RP_ERROR_MSG_MAX + 2];
    snprintf(both, sizeof both, "%s: %s", what, why);
    return h5_fail(err, loc, name, both);
}

int h5_read_attr_string(hid_t obj, const char *name, char **value, rp_error *err) {
    *value = NULL;
    hid_t attr = open_attr(obj, name, H5T_STRING, err);
    if (attr < 0) return -1;
    hid_t ftype = H5Aget_type(attr);
    char why[RP_ERROR_MSG_MAX], what[RP_ERROR_MSG_MAX];
    int rc = read_scalar_text(attr, 1, ftype, value, why, sizeof why, err);
    snprintf(what, sizeof what, "cannot read string attribute '%s'", name);
    if (rc > 0) rc = fail_read(err, obj, NULL, what, why);
    H5Tclose(ftype);
    H5Aclose(attr);
    return rc;
}

static int read_attr(hid_t obj, const char *name, H5T_class_t cls, hid_t mem_type, void *value,
                     rp_error *err) {
    hid_t attr = open_attr(obj, name, cls, err);
    if (attr < 0) return -1;
    int rc = 0;
    if (H5Aread(attr, mem_type, value) < 0) {
        char what[RP_ERROR_MSG_MAX];
        snprintf(what, sizeof what, "cannot read attribute '%s'", name);
        rc = h5_fail(err, obj, NULL, what);
    }
    H5Aclose(attr);
    return rc;
}

int h5_read_attr_int(hid_t obj, const char *name, int *value, rp_error *err) {
    return read_attr(obj, name, H5T_INTEGER, H5T_NATIVE_INT, value, err);
}

int h5_read_attr_int_or(hid_t obj, const char *name, int absent, int *value, rp_error *err) {
    if (attributes_intact(obj, err) != 0) return -1;
    if (H5Aexists(obj, name) <= 0) {
        *value = absent;
        return 0;
    }
    return h5_read_attr_int(obj, name, value, err);
}

int h5_read_attr_int64(hid_t obj, const char *name, long long *value, rp_error *err) {
    return read_attr(obj, name, H5T_INTEGER, H5T_NATIVE_LLONG, value, err);
}

int h5_read_attr_double(hid_t obj, const char *name, double *value, rp_error *err) {
    return read_attr(obj, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, value, err);
}

/* ---- datasets ---- */

static int write_dataset(hid_t loc, const char *path, hid_t file_type, hid_t mem_type, int ndim,
                         const hsize_t *dims, const void *data, rp_error *err) {
    if (create_parents(loc, path, err) != 0) return -1;
    hid_t space = ndim == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(ndim, dims, NULL);
    if (space < 0) return h5_fail(err, loc, path, "cannot create dataspace");
    hssize_t n = H5Sget_simple_extent_npoints(space);
    hid_t dset = H5Dcreate2(loc, path, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (dset < 0)
        rc = h5_fail(err, loc, path, "cannot create dataset");
    else if (n > 0 && H5Dwrite(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = h5_fail(err, loc, path, "cannot write dataset");
    if (dset >= 0) H5Dclose(dset);
    H5Sclose(space);
    return rc;
}

int h5_write_float(hid_t loc, const char *path, int ndim, const hsize_t *dims, const float *data,
                   rp_error *err) {
    return write_dataset(loc, path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, ndim, dims, data, err);
}

int h5_write_double(hid_t loc, const char *path, int ndim, const hsize_t *dims,
                    const double *data, rp_error *err) {
    return write_dataset(loc, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, ndim, dims, data, err);
}

int h5_write_int32(hid_t loc, const char *path, int ndim, const hsize_t *dims,
                   const int32_t *data, rp_error *err) {
    return write_dataset(loc, path, H5T_STD_I32LE, H5T_NATIVE_INT32, ndim, dims, data, err);
}

int h5_write_uint64(hid_t loc, const char *path, int ndim, const hsize_t *dims,
                    const uint64_t *data, rp_error *err) {
    return write_dataset(loc, path, H5T_STD_U64LE, H5T_NATIVE_UINT64, ndim, dims, data, err);
}

int h5_write_int64(hid_t loc, const char *path, int ndim, const hsize_t *dims,
                   const int64_t *data, rp_error *err) {
    return write_dataset(loc, path, H5T_STD_I64LE, H5T_NATIVE_INT64, ndim, dims, data, err);
}

int h5_write_string(hid_t loc, const char *path, const char *text, rp_error *err) {
    hid_t t = vlen_string_type();
    const char *v = text ? text : "";
    int rc = write_dataset(loc, path, t, t, 0, NULL, &v, err);
    H5Tclose(t);
    return rc;
}

void h5_format_shape(char *buf, size_t size, int ndim, const hsize_t *dims) {
    size_t used = 0;
    used += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%llu", i ? " x " : "",
                                 (unsigned long long)dims[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
}

static hid_t open_dataset(hid_t loc, const char *path, rp_error *err) {
    if (!h5_exists(loc, path)) {
        h5_fail(err, loc, path, "missing");
        return -1;
    }
    hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
    if (d < 0) h5_fail(err, loc, path, "not a dataset");
    return d;
}

/* 0 when d is compact or contiguous and its storage holds exactly `bytes`; else 1 with why set.
 * HDF5 1.10.8 compares neither a compact dataset's stored bytes nor a contiguous one's declared
 * size with its shape, and copies the shape's worth from them (a damaged export made it copy
 * from NULL); and a shape believed without its bytes would size the reader's arrays. */
static int storage_mismatch(hid_t d, hsize_t bytes, char *why, size_t size) {
    hid_t dcpl = H5Dget_create_plist(d);
    H5D_layout_t layout = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    if (dcpl >= 0) H5Pclose(dcpl);
    hsize_t stored = H5Dget_storage_size(d);
    int ok = (layout == H5D_COMPACT || layout == H5D_CONTIGUOUS) && stored == bytes;
    if (!ok && (layout == H5D_COMPACT || layout == H5D_CONTIGUOUS))
        snprintf(why, size, "%s storage of %llu bytes for %llu",
                 layout == H5D_COMPACT ? "compact" : "contiguous", (unsigned long long)stored,
                 (unsigned long long)bytes);
    else if (!ok)
        snprintf(why, size, "neither compact nor contiguous (reinpatch writes contiguous datasets)");
    return !ok;
}

int h5_dataset_shape(hid_t loc, const char *path, int *ndim, hsize_t *dims, int max_dims,
                     rp_error *err) {
    hid_t d = open_dataset(loc, path, err);
    if (d < 0) return -1;
    hid_t space = H5Dget_space(d);
    int n = H5Sget_simple_extent_ndims(space);
    int rc = 0;
    if (n < 0 || n > max_dims) {
        char what[128];
        snprintf(what, sizeof what, "has %d dimensions (at most %d expected)", n, max_dims);
        rc = h5_fail(err, loc, path, what);
    } else {
        H5Sget_simple_extent_dims(space, dims, NULL);
        *ndim = n;
        hid_t type = H5Dget_type(d);
        hsize_t bytes = H5Tget_size(type), overflow = 0;
        H5Tclose(type);
        for (int i = 0; i < n; i++) {
            if (dims[i] && bytes > UINT64_MAX / dims[i]) overflow = 1;
            bytes *= dims[i];
        }
        char why[RP_ERROR_MSG_MAX];
        if (overflow) {
            rc = h5_fail(err, loc, path, "a shape too large to hold");
        } else if (storage_mismatch(d, bytes, why, sizeof why)) {
            rc = h5_fail(err, loc, path, why);
        }
    }
    H5Sclose(space);
    H5Dclose(d);
    return rc;
}

int h5_expect_shape(hid_t loc, const char *path, int ndim, const hsize_t *dims, rp_error *err) {
    hsize_t got[H5S_MAX_RANK];
    int got_ndim = 0;
    if (h5_dataset_shape(loc, path, &got_ndim, got, H5S_MAX_RANK, err) != 0) return -1;
    int same = got_ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = got[i] == dims[i];
    if (same) return 0;
    char a[256], b[256], what[600];
    h5_format_shape(a, sizeof a, got_ndim, got);
    h5_format_shape(b, sizeof b, ndim, dims);
    snprintf(what, sizeof what, "shape %s in the file, expected %s", a, b);
    return h5_fail(err, loc, path, what);
}

int h5_read_checked(hid_t loc, const char *path, hid_t mem_type, int ndim, const hsize_t *dims,
                    void *data, rp_error *err) {
    if (h5_expect_shape(loc, path, ndim, dims, err) != 0) return -1;
    hid_t d = H5Dopen2(loc, path, H5P_DEFAULT);
    hid_t type = H5Dget_type(d);
    H5T_class_t cls = H5Tget_class(type), want = H5Tget_class(mem_type);
    size_t element = H5Tget_size(type);
    H5Tclose(type);
    int rc = 0;
    hsize_t n = 1;
    for (int i = 0; i < ndim; i++) n *= dims[i];
    char what[128];
    if (cls != want) {
        rc = h5_fail(err, loc, path, want == H5T_FLOAT ? "not a floating-point dataset"
                                                       : "not an integer dataset");
    } else if (element > RP_H5_NUMBER_MAX) {
        /* HDF5 1.10.8 sizes its conversion buffer from the element size the file claims. */
        snprintf(what, sizeof what, "elements of %zu bytes (a number takes at most %d)", element,
                 RP_H5_NUMBER_MAX);
        rc = h5_fail(err, loc, path, what);
    } else if (n > 0 && H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = h5_fail(err, loc, path, "cannot read dataset");
    H5Dclose(d);
    return rc;
}

int h5_read_string(hid_t loc, const char *path, char **text, rp_error *err) {
    *text = NULL;
    hid_t d = open_dataset(loc, path, err);
    if (d < 0) return -1;
    hid_t ftype = H5Dget_type(d), space = H5Dget_space(d);
    char why[RP_ERROR_MSG_MAX];
    int rc = 0;
    /* On disk a variable-length string is its descriptor: length, heap address, object index. */
    size_t addr_len = 8;
    hid_t file = H5Iget_file_id(d), fcpl = file >= 0 ? H5Fget_create_plist(file) : -1;
    if (fcpl >= 0) {
        H5Pget_sizes(fcpl, &addr_len, NULL);
        H5Pclose(fcpl);
    }
    if (file >= 0) H5Fclose(file);
    hsize_t bytes = H5Tis_variable_str(ftype) > 0 ? 4 + addr_len + 4 : H5Tget_size(ftype);
    if (H5Tget_class(ftype) != H5T_STRING || H5Sget_simple_extent_npoints(space) != 1)
        rc = h5_fail(err, loc, path, "not a scalar string dataset");
    else if (storage_mismatch(d, bytes, why, sizeof why))
        rc = h5_fail(err, loc, path, why);
    else if ((rc = read_scalar_text(d, 0, ftype, text, why, sizeof why, err)) > 0)
        rc = fail_read(err, loc, path, "cannot read string", why);
    H5Tclose(ftype);
    H5Sclose(space);
    H5Dclose(d);
    return rc;
}

/* ---- listing ---- */

typedef struct name_list {
    char **names;
    int count, cap;
    int failed;
} name_list;

static herr_t list_cb(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    name_list *l = data;
    if (info->type != H5L_TYPE_HARD) return 0;
    char why[RP_ERROR_MSG_MAX];
    if (h5_header_check_at(group, info->u.address, why, sizeof why) != 0) return -1;
    hid_t obj = H5Oopen(group, name, H5P_DEFAULT);
    if (obj < 0) return 0;
    int is_dataset = H5Iget_type(obj) == H5I_DATASET;
    H5Oclose(obj);
    if (!is_dataset) return 0;
    if (l->count == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **n = realloc(l->names, (size_t)cap * sizeof *n);
        if (!n) {
            l->failed = 1;
            return -1;
        }
        l->names = n;
        l->cap = cap;
    }
    size_t len = strlen(name);
    char *copy = malloc(len + 1);
    if (!copy) {
        l->failed = 1;
        return -1;
    }
    memcpy(copy, name, len + 1);
    l->names[l->count++] = copy;
    return 0;
}

int h5_list_datasets(hid_t loc, const char *path, char ***names, int *count, rp_error *err) {
    *names = NULL;
    *count = 0;
    if (!h5_exists(loc, path)) return 0;
    hid_t g = H5Gopen2(loc, path, H5P_DEFAULT);
    if (g < 0) return h5_fail(err, loc, path, "not a group");
    name_list l = {0};
    herr_t rc = H5Lvisit(g, H5_INDEX_NAME, H5_ITER_INC, list_cb, &l);
    H5Gclose(g);
    if (rc < 0 || l.failed) {
        h5_free_names(l.names, l.count);
        if (l.failed) return rp_fail(err, "out of memory listing datasets");
        return h5_fail(err, loc, path, "cannot list datasets");
    }
    *names = l.names;
    *count = l.count;
    return 0;
}

void h5_free_names(char **names, int count) {
    for (int i = 0; i < count; i++) free(names[i]);
    free(names);
}

int h5_read_file_string(const char *file_path, const char *kind, int max_version, const char *path, char **text,
                        rp_error *err) {
    *text = NULL;
    hid_t file = h5_open_checked(file_path, kind, max_version, NULL, err);
    if (file < 0) return -1;
    int rc = h5_read_string(file, path, text, err);
    H5Fclose(file);
    return rc;
}
