/* Reading an open HDF5 file's bytes directly, for the checks that must look at its structures
 * before HDF5 does (h5vlen.c, h5header.c). Addresses are HDF5's: relative to the superblock
 * (the userblock size, usually 0), and every read is bounded by the file's size. */
#ifndef RP_H5RAW_H
#define RP_H5RAW_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

typedef struct h5_raw_file {
    int fd;             /* HDF5's own descriptor (sec2 driver); read with pread only */
    uint64_t size;      /* bytes in the file */
    uint64_t base;      /* where HDF5's address 0 lies (the userblock size) */
    size_t addr_len;    /* bytes of an address in this file (8 by default) */
    size_t size_len;    /* bytes of a length (8 by default) */
} h5_raw_file;

/* The file obj lives in. Returns 0; 1 when the file is not on the sec2 driver (a file reinpatch
 * is writing in memory: nothing to check); -1 when it cannot be queried. */
int h5_raw_open(hid_t obj, h5_raw_file *f);
/* Reads n bytes at HDF5 address addr; -1 when they are not all inside the file. */
int h5_raw_read(const h5_raw_file *f, void *buf, size_t n, uint64_t addr);
/* Little-endian unsigned of n bytes; UINT64_MAX when it does not fit 64 bits (HDF5 decodes an
 * all-ones address as undefined: out of range either way). */
uint64_t h5_raw_le(const unsigned char *p, size_t n);

#endif
