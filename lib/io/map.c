/* Hosted helper: map a whole file read-only (POSIX mmap). The parser never
 * needs this: a flash image or a buffer goes straight to nb_gguf_parse. */
#define _POSIX_C_SOURCE 200809L
#include "../core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

nb_status nb_file_map_open(const char *path, nb_file_map *m, nb_err *err) {
    if (!m || !path) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_file_map_open: NULL argument");
    m->data = NULL;
    m->size = 0;
    m->mapped = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return nb_errf(err, NB_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return nb_errf(err, NB_ERR_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return nb_errf(err, NB_ERR_IO, "'%s' is not a regular file", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return nb_errf(err, NB_ERR_IO, "'%s' is too large to map", path);
    }
    if (st.st_size == 0) { /* mmap of length 0 fails; an empty view is fine */
        close(fd);
        return NB_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return nb_errf(err, NB_ERR_IO, "cannot mmap '%s': %s", path, strerror(e));
    m->data = p;
    m->size = (size_t)st.st_size;
    m->mapped = 1;
    return NB_OK;
}

void nb_file_map_close(nb_file_map *m) {
    if (!m) return;
    if (m->mapped && m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
    m->mapped = 0;
}
