/* Hosted helper: atomic file output (POSIX). Bytes go to "<path>.tmp.<pid>"
 * in the target's directory, so the final rename stays on one file system
 * and is atomic: readers see the old file or the complete new one, never a
 * partial one. */
#define _POSIX_C_SOURCE 200809L
#include "../core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void out_reset(nb_file_out *o) {
    free(o->path);
    free(o->tmp_path);
    o->fp = NULL;
    o->path = NULL;
    o->tmp_path = NULL;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

nb_status nb_file_out_open(nb_file_out *o, const char *path, const char *refuse_same_as,
                           nb_err *err) {
    if (!o) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_file_out_open: output is NULL");
    o->fp = NULL;
    o->path = o->tmp_path = NULL;
    if (!path || !*path) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_file_out_open: empty path");

    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return nb_errf(err, NB_ERR_INVALID_ARG, "cannot write '%s': it is a directory", path);
        struct stat in;
        if (refuse_same_as && stat(refuse_same_as, &in) == 0 && in.st_dev == st.st_dev &&
            in.st_ino == st.st_ino)
            return nb_errf(err, NB_ERR_INVALID_ARG,
                           "refusing to write '%s': it is the same file as the input '%s'", path,
                           refuse_same_as);
    }

    size_t n = strlen(path) + 32;
    o->path = dup_str(path);
    o->tmp_path = malloc(n);
    if (!o->path || !o->tmp_path) {
        out_reset(o);
        return nb_errf(err, NB_ERR_NOMEM, "cannot allocate the path of '%s'", path);
    }
    snprintf(o->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    /* O_EXCL: never truncate a file this process did not create */
    int fd = open(o->tmp_path, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0) {
        int e = errno;
        nb_errf(err, NB_ERR_IO, "cannot create '%s' (temporary file for '%s'): %s",
                o->tmp_path, path, strerror(e));
        out_reset(o);
        return NB_ERR_IO;
    }
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        int e = errno;
        close(fd);
        unlink(o->tmp_path);
        nb_errf(err, NB_ERR_IO, "cannot open a stream on '%s': %s", o->tmp_path, strerror(e));
        out_reset(o);
        return NB_ERR_IO;
    }
    o->fp = fp;
    return NB_OK;
}

nb_status nb_file_out_write(void *user, const void *data, size_t size, nb_err *err) {
    nb_file_out *o = user;
    if (!o || !o->fp) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_file_out_write: file is not open");
    if (size == 0) return NB_OK;
    if (!data) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_file_out_write: data is NULL");
    if (fwrite(data, 1, size, (FILE *)o->fp) != size)
        return nb_errf(err, NB_ERR_IO, "cannot write %zu bytes to '%s': %s", size, o->tmp_path,
                       strerror(errno));
    return NB_OK;
}

/* fsync the directory so the rename itself survives a crash; best effort
 * (some file systems refuse to open or sync directories). */
static void sync_dir(const char *path) {
    char *dir = dup_str(path);
    if (!dir) return;
    char *slash = strrchr(dir, '/');
    const char *d = ".";
    if (slash) {
        slash[slash == dir ? 1 : 0] = 0; /* "/x" -> "/", "a/x" -> "a" */
        d = dir;
    }
    int fd = open(d, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

nb_status nb_file_out_commit(nb_file_out *o, nb_err *err) {
    if (!o || !o->fp) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_file_out_commit: file is not open");
    FILE *fp = o->fp;
    o->fp = NULL;
    const char *step = NULL;
    int e = 0;
    if (fflush(fp) != 0) {
        step = "flush";
        e = errno;
    } else if (fsync(fileno(fp)) != 0 && errno != EINVAL) { /* EINVAL: cannot sync this fd */
        step = "fsync";
        e = errno;
    }
    if (fclose(fp) != 0 && !step) {
        step = "close";
        e = errno;
    }
    if (!step && rename(o->tmp_path, o->path) != 0) {
        step = "rename";
        e = errno;
    }
    if (step) {
        nb_errf(err, NB_ERR_IO, "cannot %s '%s' (temporary file for '%s'): %s", step,
                o->tmp_path, o->path, strerror(e));
        unlink(o->tmp_path);
        out_reset(o);
        return NB_ERR_IO;
    }
    sync_dir(o->path);
    out_reset(o);
    return NB_OK;
}

void nb_file_out_abort(nb_file_out *o) {
    if (!o) return;
    if (o->fp) fclose((FILE *)o->fp);
    if (o->tmp_path) unlink(o->tmp_path);
    out_reset(o);
}
