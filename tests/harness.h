/* A tiny test harness. Each tests/test_<area>.c is one program:
 *
 *   static void t_something(void) { CHECK(x == 1); CHECK_MSG(ok, "got %d", v); }
 *   int main(void) { RUN(t_something); return nb_test_done(); }
 *
 * Output, one line per test: "PASS name", "FAIL name: file:line: why" or
 * "SKIP name: reason"; tests/run.sh adds them up across programs. */
#ifndef NB_HARNESS_H
#define NB_HARNESS_H

#include "nibble.h"

#include <stdio.h>

void nb_test_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Mark the running test skipped (call, then return). */
void nb_test_skip(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
void nb_test_run(const char *name, void (*fn)(void));
int nb_test_done(void);
/* Did the current test fail so far? */
int nb_test_failed(void);

#define RUN(fn) nb_test_run(#fn, fn)
#define CHECK(cond) \
    do { if (!(cond)) nb_test_fail(__FILE__, __LINE__, "%s", #cond); } while (0)
#define CHECK_MSG(cond, ...) \
    do { if (!(cond)) nb_test_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define CHECK_OK(expr, err) \
    do { nb_status s_ = (expr); \
         if (s_ != NB_OK) nb_test_fail(__FILE__, __LINE__, "%s -> %s: %s", #expr, \
                                       nb_status_str(s_), (err).msg); } while (0)

/* Path helpers: the shared data folder ($NB_SHARED, else NB_SHARED_DIR) and
 * the tools folder. Return NULL / "" when absent. */
const char *nb_test_shared_dir(void);   /* NULL if the folder does not exist */
const char *nb_test_bin_dir(void);
/* Read a whole file into malloc'd memory; NULL on failure. */
void *nb_test_read_file(const char *path, size_t *size);
/* A whole file as a NUL-terminated string (malloc'd); NULL on failure. */
char *nb_test_slurp(const char *path);
/* Run a shell command; its exit status (-1 if it could not run). */
int nb_test_system(const char *cmd);
/* Write bytes to a file; 0 on success. */
int nb_test_write_file(const char *path, const void *data, size_t size);
/* A scratch directory for this test program (created on first use). */
const char *nb_test_tmp_dir(void);

#endif
