#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef NB_SHARED_DIR
#define NB_SHARED_DIR "../shared"
#endif
#ifndef NB_BIN_DIR
#define NB_BIN_DIR "build/bin"
#endif

static int n_pass, n_fail, n_skip;
static int cur_failed, cur_skipped;
static char skip_reason[512];

void nb_test_fail(const char *file, int line, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cur_failed < 20) printf("  %s:%d: %s\n", file, line, msg);
    else if (cur_failed == 20) printf("  (further failures of this test not shown)\n");
    cur_failed++;
}

void nb_test_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(skip_reason, sizeof skip_reason, fmt, ap);
    va_end(ap);
    cur_skipped = 1;
}

int nb_test_failed(void) {
    return cur_failed != 0;
}

void nb_test_run(const char *name, void (*fn)(void)) {
    cur_failed = 0;
    cur_skipped = 0;
    skip_reason[0] = 0;
    fflush(stdout);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fn();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (cur_failed) {
        printf("FAIL %s (%d checks failed)\n", name, cur_failed);
        n_fail++;
    } else if (cur_skipped) {
        printf("SKIP %s: %s\n", name, skip_reason);
        n_skip++;
    } else {
        if (dt >= 0.5) printf("PASS %s (%.1f s)\n", name, dt);
        else printf("PASS %s\n", name);
        n_pass++;
    }
    fflush(stdout);
}

int nb_test_done(void) {
    printf("# %d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip);
    return n_fail ? 1 : 0;
}

const char *nb_test_shared_dir(void) {
    const char *d = getenv("NB_SHARED");
    if (!d || !*d) d = NB_SHARED_DIR;
    struct stat st;
    if (stat(d, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    return d;
}

const char *nb_test_bin_dir(void) {
    const char *d = getenv("NB_BIN");
    return (d && *d) ? d : NB_BIN_DIR;
}

char *nb_test_slurp(const char *path) {
    size_t n;
    char *t = nb_test_read_file(path, &n);
    if (t) t[n] = 0;
    return t;
}

int nb_test_system(const char *cmd) {
    int rc = system(cmd);
    return rc == -1 ? -1 : (rc >> 8) & 0xff;
}

void *nb_test_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return NULL; }
    long n = ftell(f);
    if (n < 0) { fclose(f); return NULL; }
    rewind(f);
    void *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf && size) *size = (size_t)n;
    return buf;
}

int nb_test_write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, size, f) == size;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

const char *nb_test_tmp_dir(void) {
    static char dir[256];
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/nb-test-%ld", base && *base ? base : "/tmp", (long)getpid());
        mkdir(dir, 0700);
    }
    return dir;
}
