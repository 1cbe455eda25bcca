#include "io/h5header.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5raw.h"

/* The layouts below are HDF5's file format (version 1 object headers, attribute, datatype and
 * dataspace messages) as 1.10.8 decodes them (H5Ocache.c, H5Oattr.c, H5Odtype.c,
 * H5Osdspace.c). */
#define ALIGN8(x) (((x) + 7) / 8 * 8)
#define MSG_ATTRIBUTE 0x000C
#define MSG_CONTINUATION 0x0010
#define MSG_FLAG_SHARED 0x02
#define MAX_CHUNKS 64
#define MAX_RANK 32

/* Bytes a datatype's description takes (its properties, and a variable-length type's base),
 * and its element size in *element; 0 for a class whose description HDF5 decodes without
 * bounds (compound, enum, array) or that does not fit in n bytes. */
static size_t datatype_length(const unsigned char *p, size_t n, size_t addr_len, int depth,
                              uint64_t *element) {
    if (n < 8 || depth > 2) return 0;
    int cls = p[0] & 0x0f;
    size_t props;
    switch (cls) {
    case 0: props = 4; break;        /* fixed-point: offset, precision */
    case 1: props = 12; break;       /* floating-point: offset, precision, exponent, mantissa */
    case 2: props = 2; break;        /* time: precision */
    case 3: case 7: props = 0; break; /* string, reference */
    case 4: props = 4; break;        /* bitfield */
    case 5: props = p[1]; break;     /* opaque: its tag, NUL-padded to 8 bytes */
    case 9: {                        /* variable-length: the base type follows */
        uint64_t base_element;
        size_t base = datatype_length(p + 8, n - 8, addr_len, depth + 1, &base_element);
        *element = 4 + addr_len + 4; /* on disk: length, heap address, object index */
        /* HDF5 sizes the stored value by the message's size field, then reads it as the
         * descriptor's size: the two must agree. */
        if (h5_raw_le(p + 4, 4) != *element) return 0;
        return base ? 8 + base : 0;
    }
    default: return 0;
    }
    *element = h5_raw_le(p + 4, 4);
    return 8 + props <= n ? 8 + props : 0;
}

/* Bytes a dataspace's description takes and its number of points; 0 when it does not fit. */
static size_t dataspace_length(const unsigned char *p, size_t n, size_t size_len,
                               uint64_t *points) {
    if (n < 4 || (p[0] != 1 && p[0] != 2) || p[1] > MAX_RANK) return 0;
    int version = p[0], rank = p[1], flags = p[2], type = version == 2 ? p[3] : rank > 0;
    size_t at = version == 1 ? 8 : 4;
    size_t need = at + (size_t)rank * size_len * ((flags & 1) ? 2 : 1);
    if (need > n || (version == 1 && (flags & 2))) return 0; /* permutations: never written */
    *points = type == 2 ? 0 : 1; /* 2: the null dataspace; else the product of the extents */
    for (int d = 0; d < rank && type != 2; d++) {
        uint64_t extent = h5_raw_le(p + at + (size_t)d * size_len, size_len);
        if (extent && *points > UINT64_MAX / extent) return 0;
        *points *= extent;
    }
    return need;
}

/* An attribute message of n bytes: 0 when every part HDF5 decodes lies inside it. */
static int check_attribute(const unsigned char *p, size_t n, const h5_raw_file *f, int number,
                           char *why, size_t wsize) {
    if (n < 8 || p[0] < 1 || p[0] > 3) {
        snprintf(why, wsize, "attribute message %d is damaged (version %d in %zu bytes)", number,
                 n ? p[0] : 0, n);
        return 1;
    }
    int version = p[0];
    size_t name = h5_raw_le(p + 2, 2), type = h5_raw_le(p + 4, 2), space = h5_raw_le(p + 6, 2);
    /* Version 1 pads each part to 8 bytes; version 3 adds the name's character set. */
    size_t at = version == 3 ? 9 : 8;
    size_t name_end = at + (version == 1 ? ALIGN8(name) : name);
    size_t type_end = name_end + (version == 1 ? ALIGN8(type) : type);
    size_t space_end = type_end + (version == 1 ? ALIGN8(space) : space);
    if (name == 0 || space_end > n || p[at + name - 1] != 0) {
        snprintf(why, wsize, "attribute message %d claims a %zu-byte name, %zu-byte datatype "
                 "and %zu-byte dataspace in %zu bytes", number, name, type, space, n);
        return 1;
    }
    if (version > 1 && (p[1] & 3)) {
        snprintf(why, wsize, "attribute message %d has a shared datatype or dataspace", number);
        return 1;
    }
    uint64_t element = 0, points = 0;
    if (!datatype_length(p + name_end, type, f->addr_len, 0, &element) ||
        !dataspace_length(p + type_end, space, f->size_len, &points)) {
        snprintf(why, wsize, "attribute message %d has a datatype or dataspace that does not fit "
                 "its %zu or %zu bytes", number, type, space);
        return 1;
    }
    if (element && points > (n - space_end) / element) {
        snprintf(why, wsize, "attribute message %d claims %llu values of %llu bytes in %zu",
                 number, (unsigned long long)points, (unsigned long long)element, n - space_end);
        return 1;
    }
    return 0;
}

/* Walks the version 1 object header at addr: every chunk must lie inside the file (HDF5
 * allocates a continuation chunk's claimed length before it reads it) and every attribute
 * message must fit (check_attribute). */
static int walk_header(const h5_raw_file *f, uint64_t addr, char *why, size_t size) {
    unsigned char prefix[16];
    if (h5_raw_read(f, prefix, sizeof prefix, addr) != 0) {
        snprintf(why, size, "an object header at address %llu lies outside the file",
                 (unsigned long long)addr);
        return 1;
    }
    if (memcmp(prefix, "OHDR", 4) == 0 || prefix[0] != 1) return 0; /* checksummed, or HDF5 refuses */
    /* Chunks to walk: the first follows the 16-byte prefix; continuation messages add more. */
    uint64_t chunk_addr[MAX_CHUNKS], chunk_size[MAX_CHUNKS];
    int chunks = 1, number = 0, rc = 0;
    chunk_addr[0] = addr + 16;
    chunk_size[0] = h5_raw_le(prefix + 8, 4);
    for (int c = 0; c < chunks && !rc; c++) {
        unsigned char *chunk = NULL;
        if (chunk_size[c] > f->size || !(chunk = malloc(chunk_size[c] ? (size_t)chunk_size[c] : 1)) ||
            h5_raw_read(f, chunk, (size_t)chunk_size[c], chunk_addr[c]) != 0) {
            snprintf(why, size, "an object header chunk of %llu bytes at address %llu lies "
                     "outside the file (%llu bytes)", (unsigned long long)chunk_size[c],
                     (unsigned long long)chunk_addr[c], (unsigned long long)f->size);
            free(chunk);
            return 1;
        }
        for (size_t p = 0; !rc && p + 8 <= chunk_size[c];) {
            unsigned type = (unsigned)h5_raw_le(chunk + p, 2), flags = chunk[p + 4];
            size_t n = (size_t)h5_raw_le(chunk + p + 2, 2);
            const unsigned char *body = chunk + p + 8;
            if (n > chunk_size[c] - p - 8) break; /* HDF5's own loader refuses this one */
            if (type == MSG_ATTRIBUTE) {
                number++;
                if (flags & MSG_FLAG_SHARED) {
                    snprintf(why, size, "attribute message %d is shared", number);
                    rc = 1;
                } else {
                    rc = check_attribute(body, n, f, number, why, size);
                }
            } else if (type == MSG_CONTINUATION) {
                /* HDF5 decodes the address and length whatever size the message claims. */
                if (n < f->addr_len + f->size_len) {
                    snprintf(why, size, "a continuation message of %zu bytes", n);
                    rc = 1;
                } else if (chunks == MAX_CHUNKS) {
                    snprintf(why, size, "an object header has more than %d chunks", MAX_CHUNKS);
                    rc = 1;
                } else {
                    chunk_addr[chunks] = h5_raw_le(body, f->addr_len);
                    chunk_size[chunks++] = h5_raw_le(body + f->addr_len, f->size_len);
                }
            }
            p += 8 + n;
        }
        free(chunk);
    }
    return rc;
}

int h5_header_check(hid_t obj, char *why, size_t size) {
    why[0] = 0;
    h5_raw_file f;
    int opened = h5_raw_open(obj, &f);
    if (opened > 0) return 0;
    H5O_info_t info;
    if (opened < 0 || H5Oget_info2(obj, &info, H5O_INFO_BASIC) < 0) {
        snprintf(why, size, "cannot query its file");
        return 1;
    }
    return walk_header(&f, info.addr, why, size);
}

int h5_header_check_at(hid_t loc, haddr_t addr, char *why, size_t size) {
    why[0] = 0;
    h5_raw_file f;
    int opened = h5_raw_open(loc, &f);
    if (opened > 0) return 0;
    if (opened < 0) {
        snprintf(why, size, "cannot query its file");
        return 1;
    }
    return walk_header(&f, addr, why, size);
}

int h5_header_check_link(hid_t loc, const char *path, char *why, size_t size) {
    H5L_info_t link;
    why[0] = 0;
    if (H5Lget_info(loc, path, &link, H5P_DEFAULT) < 0) {
        snprintf(why, size, "cannot read the link");
        return 1;
    }
    return link.type == H5L_TYPE_HARD ? h5_header_check_at(loc, link.u.address, why, size) : 0;
}

/* Superblock versions 0 and 1 (no checksum): the signature at 0, 512, 1024, ... (a userblock
 * before it), then versions, the sizes of addresses and lengths, and the root group's symbol
 * table entry, whose second field is the root's object header address. */
int h5_header_check_file(const char *path, char *why, size_t size) {
    static const unsigned char signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    why[0] = 0;
    h5_raw_file f = {.fd = open(path, O_RDONLY), .base = 0, .addr_len = 8, .size_len = 8};
    struct stat st;
    if (f.fd < 0 || fstat(f.fd, &st) != 0) {
        if (f.fd >= 0) close(f.fd);
        return 0; /* H5Fopen says why */
    }
    f.size = (uint64_t)st.st_size;
    unsigned char sb[128];
    int rc = 0, found = 0;
    for (uint64_t at = 0; at + 8 <= f.size && !found; at = at ? 2 * at : 512) {
        found = h5_raw_read(&f, sb, 8, at) == 0 && memcmp(sb, signature, 8) == 0;
        if (found) f.base = at;
    }
    if (found && h5_raw_read(&f, sb, 24, 0) == 0 && sb[8] <= 1 && (sb[13] == 2 || sb[13] == 4 ||
        sb[13] == 8) && (sb[14] == 2 || sb[14] == 4 || sb[14] == 8)) {
        f.addr_len = sb[13];
        f.size_len = sb[14];
        size_t root = (sb[8] == 0 ? 24 : 28) + 5 * f.addr_len;
        if (h5_raw_read(&f, sb, root + f.addr_len, 0) == 0)
            rc = walk_header(&f, h5_raw_le(sb + root, f.addr_len), why, size);
    }
    close(f.fd);
    return rc;
}
