/* Checks the attribute messages of an HDF5 object header before HDF5 decodes them (issue 17).
 *
 * HDF5 1.10.8 decodes an attribute message (H5O_attr_decode, reached from H5Aexists, H5Aopen
 * and H5Aread) by trusting the sizes it holds: a name, datatype or dataspace size larger than the
 * message moves its read pointer past the message and the attribute's value is then copied from
 * beyond the object header's buffer (a heap over-read found by fuzzing a segmentation export).
 * h5_header_check reads the object's header itself, with every step bounded by the message and
 * the file, and refuses an object whose attribute messages do not fit. Headers of version 2
 * carry checksums that HDF5 verifies before decoding; only version 1 headers (no checksum, what
 * HDF5 writes by default and reinpatch's files hold) are walked. */
#ifndef RP_H5HEADER_H
#define RP_H5HEADER_H

#include <stddef.h>

#include <hdf5.h>

/* obj: a file, group or dataset. Returns 0 when HDF5 may decode its attributes; 1 with the
 * reason in why ("attribute message 7 claims a 29704-byte dataspace in 56 bytes") otherwise.
 * Files on a driver other than sec2 (those reinpatch writes in memory) are not checked. */
int h5_header_check(hid_t obj, char *why, size_t size);
/* The same for the object at address addr of loc's file, before HDF5 loads it: HDF5 1.10.8
 * allocates the length a damaged continuation chunk claims (16 GB in a 17 kB file) before it
 * reads it, so each header's chunks must lie inside the file. */
int h5_header_check_at(hid_t loc, haddr_t addr, char *why, size_t size);
/* The same for the object the hard link path (relative to loc) points to; 0 for other links. */
int h5_header_check_link(hid_t loc, const char *path, char *why, size_t size);
/* The root group's header of the file at path, before H5Fopen loads it (superblock versions 0
 * and 1; later ones carry checksums HDF5 verifies). 0 when the file cannot be read: H5Fopen
 * then says why. */
int h5_header_check_file(const char *path, char *why, size_t size);

#endif
