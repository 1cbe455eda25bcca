#include "io/h5raw.h"

#include <sys/stat.h>
#include <unistd.h>

int h5_raw_open(hid_t obj, h5_raw_file *f) {
    hid_t file = H5Iget_file_id(obj);
    hid_t fapl = file >= 0 ? H5Fget_access_plist(file) : -1;
    hid_t fcpl = file >= 0 ? H5Fget_create_plist(file) : -1;
    hsize_t base = 0;
    void *handle = NULL;
    struct stat st;
    int rc = -1;
    if (fapl < 0 || fcpl < 0 || H5Pget_sizes(fcpl, &f->addr_len, &f->size_len) < 0 ||
        H5Pget_userblock(fcpl, &base) < 0)
        rc = -1;
    else if (H5Pget_driver(fapl) != H5FD_SEC2)
        rc = 1;
    else if (H5Fget_vfd_handle(file, H5P_DEFAULT, &handle) >= 0 && handle &&
             fstat(*(int *)handle, &st) == 0) {
        f->fd = *(int *)handle;
        f->size = (uint64_t)st.st_size;
        f->base = base;
        rc = 0;
    }
    if (fcpl >= 0) H5Pclose(fcpl);
    if (fapl >= 0) H5Pclose(fapl);
    if (file >= 0) H5Fclose(file);
    return rc;
}

int h5_raw_read(const h5_raw_file *f, void *buf, size_t n, uint64_t addr) {
    if (addr > f->size || f->base > f->size - addr || n > f->size - f->base - addr) return -1;
    uint64_t offset = f->base + addr;
    for (size_t done = 0; done < n;) {
        ssize_t r = pread(f->fd, (char *)buf + done, n - done, (off_t)(offset + done));
        if (r <= 0) return -1;
        done += (size_t)r;
    }
    return 0;
}

uint64_t h5_raw_le(const unsigned char *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (i >= 8) {
            if (p[i]) return UINT64_MAX;
            continue;
        }
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}
