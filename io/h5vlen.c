#include "io/h5vlen.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5raw.h"

/* HDF5's public API hands out a variable-length string only after converting it, and that
 * conversion is what allocates and walks the heap. To see the raw descriptor we register, for
 * the duration of one read, a conversion from string to an opaque type carrying our tag: HDF5
 * then passes the descriptor's bytes as they are on disk to copy_descriptor and touches no heap.
 * Soft conversions are chosen by class (string -> opaque), so the init step accepts only a
 * variable-length source and our tagged destination. */
#define DESC_NAME "reinpatch_vlen_descriptor"
#define DESC_TAG "reinpatch: raw variable-length string descriptor"
#define DESC_MAX 48 /* 4 (length) + address (at most 32 bytes in HDF5) + 4 (object index) */

/* The global heap collection's layout (HDF5 file format, "Global Heap"; 1.10.8's
 * H5HGpkg.h): "GCOL", version 1, 3 reserved bytes, the collection size; then objects, each a
 * 2-byte index, 2-byte reference count, 4 reserved bytes and its size, then its bytes padded to
 * 8. Index 0 is the free space, whose size already counts its header. */
#define HEAP_MIN_SIZE 4096
#define ALIGN8(x) (((x) + 7) / 8 * 8)

static herr_t copy_descriptor(hid_t src, hid_t dst, H5T_cdata_t *cdata, size_t n,
                              size_t buf_stride, size_t bkg_stride, void *buf, void *bkg,
                              hid_t dxpl) {
    (void)bkg_stride, (void)bkg, (void)dxpl;
    size_t s = H5Tget_size(src), d = H5Tget_size(dst);
    if (cdata->command == H5T_CONV_INIT) {
        cdata->need_bkg = H5T_BKG_NO;
        char *tag = H5Tget_tag(dst);
        int ours = tag && strcmp(tag, DESC_TAG) == 0 && H5Tis_variable_str(src) > 0 && s <= d;
        if (tag) H5free_memory(tag);
        return ours ? 0 : -1;
    }
    if (cdata->command != H5T_CONV_CONV) return 0;
    /* In place: n packed s-byte elements become n d-byte ones (from the back), zero padded. */
    unsigned char *b = buf;
    size_t sstep = buf_stride ? buf_stride : s, dstep = buf_stride ? buf_stride : d;
    for (size_t i = n; i-- > 0;) {
        memmove(b + i * dstep, b + i * sstep, s);
        memset(b + i * dstep + s, 0, d - s);
    }
    return 0;
}

static int read_descriptor(hid_t id, int is_attr, unsigned char *desc) {
    hid_t str = H5Tcopy(H5T_C_S1), opaque = H5Tcreate(H5T_OPAQUE, DESC_MAX);
    int rc = -1;
    if (str >= 0 && opaque >= 0 && H5Tset_size(str, H5T_VARIABLE) >= 0 &&
        H5Tset_tag(opaque, DESC_TAG) >= 0 &&
        H5Tregister(H5T_PERS_SOFT, DESC_NAME, str, opaque, copy_descriptor) >= 0) {
        memset(desc, 0, DESC_MAX);
        herr_t r = is_attr ? H5Aread(id, opaque, desc)
                           : H5Dread(id, opaque, H5S_ALL, H5S_ALL, H5P_DEFAULT, desc);
        rc = r < 0 ? -1 : 0;
        H5Tunregister(H5T_PERS_SOFT, DESC_NAME, str, opaque, copy_descriptor);
    }
    if (str >= 0) H5Tclose(str);
    if (opaque >= 0) H5Tclose(opaque);
    return rc;
}

/* Walks the collection as H5HG__cache_heap_deserialize does, refusing what would make that
 * loop stall (a zero step) or leave the collection, and finds object idx (the last one with that
 * index wins there too). Returns 0 with its size in *obj_size, else 1 with why set. */
static int walk_heap(const unsigned char *heap, uint64_t heap_size, size_t size_len,
                     uint64_t idx, uint64_t *obj_size, char *why, size_t wsize) {
    uint64_t hdr = ALIGN8(8 + size_len), p = hdr, max_idx = 0;
    int found = 0;
    while (p < heap_size) {
        uint64_t left = heap_size - p, need;
        if (left < hdr) break; /* the tail too small for a header: free space, as HDF5 has it */
        uint64_t i = h5_raw_le(heap + p, 2), size = h5_raw_le(heap + p + 8, size_len);
        if (i > 0 && size > left - hdr) {
            snprintf(why, wsize, "its global heap object %llu claims %llu bytes, past its collection",
                     (unsigned long long)i, (unsigned long long)size);
            return 1;
        }
        need = i > 0 ? hdr + ALIGN8(size) : size;
        if (need == 0 || need > left) {
            snprintf(why, wsize, "its global heap collection is damaged (free space of %llu bytes "
                     "where %llu remain)", (unsigned long long)size, (unsigned long long)left);
            return 1;
        }
        if (i > max_idx) max_idx = i;
        if (i == idx) {
            found = 1;
            *obj_size = size;
        }
        p += need;
    }
    if (!found || idx == 0 || idx > max_idx) {
        snprintf(why, wsize, "its global heap object %llu is missing", (unsigned long long)idx);
        return 1;
    }
    return 0;
}

/* Checks the collection at HDF5 address addr against the descriptor's length and object index. */
static int check_heap(const h5_raw_file *f, uint64_t addr, uint64_t seq_len, uint64_t idx,
                      char *why, size_t wsize) {
    unsigned char head[16 + 8];
    uint64_t hdr = ALIGN8(8 + f->size_len);
    if (h5_raw_read(f, head, hdr, addr) != 0) {
        snprintf(why, wsize, "its global heap address %llu is outside the file (%llu bytes)",
                 (unsigned long long)addr, (unsigned long long)f->size);
        return 1;
    }
    uint64_t heap_size = h5_raw_le(head + 8, f->size_len);
    if (memcmp(head, "GCOL", 4) != 0 || head[4] != 1) {
        snprintf(why, wsize, "no global heap collection at address %llu", (unsigned long long)addr);
        return 1;
    }
    if (heap_size < HEAP_MIN_SIZE || heap_size > f->size) {
        snprintf(why, wsize, "its global heap collection claims %llu bytes (the file has %llu)",
                 (unsigned long long)heap_size, (unsigned long long)f->size);
        return 1;
    }
    unsigned char *heap = malloc((size_t)heap_size);
    if (!heap) {
        snprintf(why, wsize, "out of memory reading a global heap collection of %llu bytes",
                 (unsigned long long)heap_size);
        return -1;
    }
    uint64_t obj_size = 0;
    int rc = 0;
    if (h5_raw_read(f, heap, (size_t)heap_size, addr) != 0) {
        snprintf(why, wsize, "its global heap collection claims %llu bytes, past the file's end "
                 "(%llu bytes)", (unsigned long long)heap_size, (unsigned long long)f->size);
        rc = 1;
    } else {
        rc = walk_heap(heap, heap_size, f->size_len, idx, &obj_size, why, wsize);
    }
    free(heap);
    /* HDF5 sizes its buffer from the descriptor, then copies the object's own size into it. */
    if (rc == 0 && obj_size != seq_len) {
        snprintf(why, wsize, "its string claims %llu bytes but its heap object holds %llu",
                 (unsigned long long)seq_len, (unsigned long long)obj_size);
        rc = 1;
    }
    return rc;
}

int h5_vlen_check(hid_t id, int is_attr, char *why, size_t size) {
    why[0] = 0;
    h5_raw_file f;
    int opened = h5_raw_open(id, &f);
    if (opened > 0) return 0; /* a file reinpatch is writing in memory (h5_atomic_create) */
    if (opened < 0 || f.addr_len + 8 > DESC_MAX || f.size_len > 8) {
        snprintf(why, size, "cannot query its file");
        return 1;
    }
    /* HDF5 allocates length x character size: a string's characters are single bytes. */
    hid_t type = is_attr ? H5Aget_type(id) : H5Dget_type(id);
    hid_t base = type >= 0 ? H5Tget_super(type) : -1;
    size_t char_size = base >= 0 ? H5Tget_size(base) : 0;
    if (base >= 0) H5Tclose(base);
    if (type >= 0) H5Tclose(type);
    if (char_size != 1) {
        snprintf(why, size, "its characters take %zu bytes each", char_size);
        return 1;
    }
    unsigned char desc[DESC_MAX];
    if (read_descriptor(id, is_attr, desc) != 0) {
        snprintf(why, size, "cannot read its descriptor");
        return 1;
    }
    uint64_t seq_len = h5_raw_le(desc, 4), addr = h5_raw_le(desc + 4, f.addr_len);
    uint64_t idx = h5_raw_le(desc + 4 + f.addr_len, 4);
    if (addr == 0) return 0; /* a null string: HDF5 reads no heap */
    return check_heap(&f, addr, seq_len, idx, why, size);
}
