/* Checks a variable-length string in an HDF5 file before HDF5 reads it (issue 17).
 *
 * On disk such a string is a descriptor (its length, the address of a global heap collection
 * and an object index) and its bytes live in that collection. HDF5 1.10.8 trusts both: it
 * allocates the length the descriptor claims before reading (a damaged patcher claiming 1.7 GB
 * made it malloc 1.7 GB), loops for ever on a collection holding an object of size zero (a
 * damaged segmentation export hung in H5Aread), and copies the object's own size into a buffer
 * sized from the descriptor. h5_vlen_check reads the descriptor and walks the collection itself,
 * with every step bounded by the file's size, so that HDF5 is only asked to read strings whose
 * storage is intact. */
#ifndef RP_H5VLEN_H
#define RP_H5VLEN_H

#include <stddef.h>

#include <hdf5.h>

/* id is a scalar attribute (is_attr 1) or dataset (0) of variable-length string type. Returns 0
 * when HDF5 may read it; 1 when it must not, with the reason in why ("its string claims
 * 1700000000 bytes but its heap object holds 12"); -1 when memory runs out (why says so). Files
 * on a driver other than the default one (sec2) are those reinpatch is writing in memory itself;
 * they are not checked. */
int h5_vlen_check(hid_t id, int is_attr, char *why, size_t size);

#endif
