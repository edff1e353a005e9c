/* nb-inspect: runs the built tool on GGUF files written byte by byte here
 * and checks its listing, its error messages and its exit codes. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* ------------------------------------------------------- a byte builder */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put_le(buf *b, uint64_t v, int nbytes) {
    uint8_t t[8];
    for (int i = 0; i < nbytes; i++) t[i] = (uint8_t)(v >> (8 * i));
    put(b, t, (size_t)nbytes);
}
static void put_u32(buf *b, uint32_t v) { put_le(b, v, 4); }
static void put_u64(buf *b, uint64_t v) { put_le(b, v, 8); }
static void put_f32(buf *b, float f) { uint32_t u; memcpy(&u, &f, 4); put_u32(b, u); }
static void put_f64(buf *b, double d) { uint64_t u; memcpy(&u, &d, 8); put_u64(b, u); }
static void put_strn(buf *b, const char *s, size_t n) { put_u64(b, n); put(b, s, n); }
static void put_str(buf *b, const char *s) { put_strn(b, s, strlen(s)); }
static void key(buf *b, const char *k, uint32_t type) { put_str(b, k); put_u32(b, type); }
static void arr_head(buf *b, uint32_t elem, uint64_t n) { put_u32(b, elem); put_u64(b, n); }

static void header(buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}

static void tensor_info(buf *b, const char *name, uint32_t n_dims, const int64_t *ne,
                        uint32_t type, uint64_t offset) {
    put_str(b, name);
    put_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) put_u64(b, (uint64_t)ne[d]);
    put_u32(b, type);
    put_u64(b, offset);
}

#define N_KV 22
#define LONG_STR_LEN 100
#define ARR_N 100

/* A GGUF v3 file with every value type, escapes, long values, nested
 * arrays, alignment 64 and two tensors. Its data section starts at
 * *data_offset. */
static buf make_sample(uint64_t *data_offset) {
    buf b = {0};
    header(&b, 3, 2, N_KV);
    key(&b, "general.architecture", NB_GGUF_STRING); put_str(&b, "tiny");
    key(&b, "general.alignment", NB_GGUF_U32); put_u32(&b, 64);
    key(&b, "t.u8", NB_GGUF_U8); put_le(&b, 200, 1);
    key(&b, "t.i8", NB_GGUF_I8); put_le(&b, (uint8_t)-5, 1);
    key(&b, "t.u16", NB_GGUF_U16); put_le(&b, 65535, 2);
    key(&b, "t.i16", NB_GGUF_I16); put_le(&b, (uint16_t)-300, 2);
    key(&b, "t.u32", NB_GGUF_U32); put_u32(&b, 4000000000u);
    key(&b, "t.i32", NB_GGUF_I32); put_u32(&b, (uint32_t)-2000000000);
    key(&b, "t.u64", NB_GGUF_U64); put_u64(&b, UINT64_MAX);
    key(&b, "t.i64", NB_GGUF_I64); put_u64(&b, (uint64_t)INT64_MIN);
    key(&b, "t.f32", NB_GGUF_F32); put_f32(&b, 1e-5f);
    key(&b, "t.f32int", NB_GGUF_F32); put_f32(&b, 10000.0f);
    key(&b, "t.f64", NB_GGUF_F64); put_f64(&b, 0.1);
    key(&b, "t.f64third", NB_GGUF_F64); put_f64(&b, 1.0 / 3.0);
    key(&b, "t.bool", NB_GGUF_BOOL); put_le(&b, 1, 1);
    /* a, newline, b, tab, c, quote, d, backslash, e, 0x01, 0x7f, é (UTF-8), 0xff (invalid) */
    key(&b, "t.esc", NB_GGUF_STRING); put_strn(&b, "a\nb\tc\"d\\e\x01\x7f\xc3\xa9\xff", 14);
    char longs[LONG_STR_LEN];
    for (int i = 0; i < LONG_STR_LEN; i++) longs[i] = (char)('a' + i % 26);
    key(&b, "t.long", NB_GGUF_STRING); put_strn(&b, longs, LONG_STR_LEN);
    key(&b, "t.arr", NB_GGUF_ARRAY); arr_head(&b, NB_GGUF_U32, ARR_N);
    for (uint32_t i = 0; i < ARR_N; i++) put_u32(&b, i);
    key(&b, "t.strs", NB_GGUF_ARRAY); arr_head(&b, NB_GGUF_STRING, 3);
    put_str(&b, "a"); put_str(&b, "b c"); put_str(&b, "");
    key(&b, "t.nested", NB_GGUF_ARRAY); arr_head(&b, NB_GGUF_ARRAY, 2);
    arr_head(&b, NB_GGUF_I16, 2); put_le(&b, 1, 2); put_le(&b, 2, 2);
    arr_head(&b, NB_GGUF_I16, 1); put_le(&b, (uint16_t)-3, 2);
    key(&b, "t.f32arr", NB_GGUF_ARRAY); arr_head(&b, NB_GGUF_F32, 2);
    put_f32(&b, 0.5f); put_f32(&b, -2.0f);
    key(&b, "t.boolarr", NB_GGUF_ARRAY); arr_head(&b, NB_GGUF_BOOL, 2);
    put_le(&b, 0, 1); put_le(&b, 1, 1);

    int64_t ne_w[2] = {4, 2}, ne_q[2] = {32, 3};
    tensor_info(&b, "w", 2, ne_w, NB_TYPE_F32, 0);   /* 32 bytes            */
    tensor_info(&b, "q", 2, ne_q, NB_TYPE_Q8_0, 64); /* 3 blocks x 34 = 102 */
    while (b.n % 64) put_le(&b, 0, 1);
    *data_offset = b.n;
    for (int i = 0; i < 8; i++) put_f32(&b, (float)i);
    for (int i = 0; i < 32 + 102; i++) put_le(&b, (uint64_t)i, 1);
    return b;
}

/* ------------------------------------------------------- running the tool */

typedef struct run_result {
    int status;  /* exit status; -1 when it did not exit normally */
    char *out;   /* stdout, NUL-terminated */
    char *err;   /* stderr */
} run_result;

static char *read_text(const char *path) {
    size_t n = 0;
    char *s = nb_test_read_file(path, &n);
    if (!s) {
        s = malloc(1);
        if (!s) abort();
        n = 0;
    }
    s[n] = 0; /* nb_test_read_file leaves room for it */
    return s;
}

/* Run nb-inspect with `args` (already shell-quoted). */
static run_result run_inspect(const char *args) {
    char out_path[512], err_path[512], cmd[2048];
    snprintf(out_path, sizeof out_path, "%s/out.txt", nb_test_tmp_dir());
    snprintf(err_path, sizeof err_path, "%s/err.txt", nb_test_tmp_dir());
    snprintf(cmd, sizeof cmd, "'%s/nb-inspect' %s >'%s' 2>'%s'", nb_test_bin_dir(), args,
             out_path, err_path);
    run_result r;
    int st = system(cmd);
    r.status = (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
    r.out = read_text(out_path);
    r.err = read_text(err_path);
    return r;
}

static void run_free(run_result *r) {
    free(r->out);
    free(r->err);
}

/* Does `text` have a line equal to `want` once runs of spaces are squeezed
 * to one and leading/trailing spaces dropped? (Column widths vary.) */
static int has_line(const char *text, const char *want) {
    const char *p = text;
    char line[4096];
    while (*p) {
        size_t n = 0;
        int space = 1; /* drop leading spaces */
        for (; *p && *p != '\n'; p++) {
            if (*p == ' ') {
                if (space) continue;
                space = 1;
            } else {
                space = 0;
            }
            if (n + 1 < sizeof line) line[n++] = *p;
        }
        if (*p == '\n') p++;
        while (n && line[n - 1] == ' ') n--;
        line[n] = 0;
        if (strcmp(line, want) == 0) return 1;
    }
    return 0;
}

#define CHECK_LINE(text, want) CHECK_MSG(has_line(text, want), "no line '%s' in:\n%s", want, text)

static const char *sample_path(void) {
    static char path[512];
    snprintf(path, sizeof path, "%s/sample.gguf", nb_test_tmp_dir());
    return path;
}

static int write_sample(uint64_t *data_offset, size_t *size) {
    buf b = make_sample(data_offset);
    int rc = nb_test_write_file(sample_path(), b.p, b.n);
    *size = b.n;
    free(b.p);
    return rc;
}

/* ------------------------------------------------------------------ tests */

static void t_tool_exists(void) {
    run_result r = run_inspect("--help");
    CHECK_MSG(r.status == 0, "'%s/nb-inspect --help' exited %d (built? run from the project root)",
              nb_test_bin_dir(), r.status);
    CHECK(strstr(r.out, "usage: nb-inspect") != NULL);
    CHECK(r.err[0] == 0);
    run_free(&r);
}

/* The library's own view of the sample agrees with what was written. */
static void t_sample_parses(void) {
    uint64_t off;
    buf b = make_sample(&off);
    nb_gguf g;
    nb_err err = {0};
    CHECK_OK(nb_gguf_parse(b.p, b.n, &g, &err), err);
    if (!nb_test_failed()) {
        CHECK(g.n_kv == N_KV);
        CHECK(g.n_tensors == 2);
        CHECK(g.alignment == 64);
        CHECK(g.data_offset == off);
        nb_gguf_free(&g);
    }
    free(b.p);
}

static void t_listing(void) {
    uint64_t off;
    size_t size;
    CHECK(write_sample(&off, &size) == 0);
    char args[600], want[1024];
    snprintf(args, sizeof args, "'%s'", sample_path());
    run_result r = run_inspect(args);
    CHECK_MSG(r.status == 0, "exit %d, stderr: %s", r.status, r.err);
    CHECK_MSG(r.err[0] == 0, "stderr: %s", r.err);

    snprintf(want, sizeof want, "file: %s", sample_path());
    CHECK_LINE(r.out, want);
    snprintf(want, sizeof want, "size: %zu bytes", size);
    CHECK_LINE(r.out, want);
    CHECK_LINE(r.out, "gguf version: 3");
    CHECK_LINE(r.out, "alignment: 64");
    snprintf(want, sizeof want, "data offset: %llu", (unsigned long long)off);
    CHECK_LINE(r.out, want);
    snprintf(want, sizeof want, "n_kv: %d", N_KV);
    CHECK_LINE(r.out, want);
    CHECK_LINE(r.out, "n_tensors: 2");

    /* metadata: key, type, value */
    CHECK_LINE(r.out, "general.architecture string \"tiny\"");
    CHECK_LINE(r.out, "general.alignment u32 64");
    CHECK_LINE(r.out, "t.u8 u8 200");
    CHECK_LINE(r.out, "t.i8 i8 -5");
    CHECK_LINE(r.out, "t.u16 u16 65535");
    CHECK_LINE(r.out, "t.i16 i16 -300");
    CHECK_LINE(r.out, "t.u32 u32 4000000000");
    CHECK_LINE(r.out, "t.i32 i32 -2000000000");
    CHECK_LINE(r.out, "t.u64 u64 18446744073709551615");
    CHECK_LINE(r.out, "t.i64 i64 -9223372036854775808");
    CHECK_LINE(r.out, "t.f32 f32 1e-05");
    CHECK_LINE(r.out, "t.f32int f32 10000.0");
    CHECK_LINE(r.out, "t.f64 f64 0.1");
    CHECK_LINE(r.out, "t.f64third f64 0.3333333333333333");
    CHECK_LINE(r.out, "t.bool bool true");
    CHECK_LINE(r.out, "t.esc string \"a\\nb\\tc\\\"d\\\\e\\x01\\x7f\xc3\xa9\\xff\"");
    CHECK_LINE(r.out, "t.strs array[string; 3] [\"a\", \"b c\", \"\"]");
    CHECK_LINE(r.out, "t.nested array[array; 2] [[1, 2], [-3]]");
    CHECK_LINE(r.out, "t.f32arr array[f32; 2] [0.5, -2.0]");
    CHECK_LINE(r.out, "t.boolarr array[bool; 2] [false, true]");
    /* abbreviated by default */
    CHECK_LINE(r.out, "t.arr array[u32; 100] [0, 1, 2, 3, 4, 5, 6, 7, ... (+92 more)]");
    snprintf(want, sizeof want,
             "t.long string \"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl\"..."
             " (%d bytes)", LONG_STR_LEN);
    CHECK_LINE(r.out, want);

    /* tensor table: index, name, type, shape, offset, bytes */
    CHECK_LINE(r.out, "tensors: 2");
    CHECK_LINE(r.out, "0 w F32 4,2 0 32");
    CHECK_LINE(r.out, "1 q Q8_0 32,3 64 102");
    /* totals by type and overall */
    CHECK_LINE(r.out, "F32 1 8 32 32.0000");
    CHECK_LINE(r.out, "Q8_0 1 96 102 8.5000");
    CHECK_LINE(r.out, "total: 2 tensors, 104 parameters, 134 bytes, 10.3077 bits per weight");
    run_free(&r);
}

static void t_full(void) {
    uint64_t off;
    size_t size;
    CHECK(write_sample(&off, &size) == 0);
    char args[600], want[1024];
    snprintf(args, sizeof args, "--full '%s'", sample_path());
    run_result r = run_inspect(args);
    CHECK_MSG(r.status == 0, "exit %d, stderr: %s", r.status, r.err);
    /* every element of the long array */
    int n = snprintf(want, sizeof want, "t.arr array[u32; %d] [", ARR_N);
    for (int i = 0; i < ARR_N; i++)
        n += snprintf(want + n, sizeof want - (size_t)n, "%s%d", i ? ", " : "", i);
    snprintf(want + n, sizeof want - (size_t)n, "]");
    CHECK_LINE(r.out, want);
    CHECK(strstr(r.out, "(+92 more)") == NULL);
    /* the whole string */
    n = snprintf(want, sizeof want, "t.long string \"");
    for (int i = 0; i < LONG_STR_LEN; i++) want[n++] = (char)('a' + i % 26);
    snprintf(want + n, sizeof want - (size_t)n, "\"");
    CHECK_LINE(r.out, want);
    /* flag after the file works too */
    run_free(&r);
    snprintf(args, sizeof args, "'%s' --full", sample_path());
    r = run_inspect(args);
    CHECK(r.status == 0);
    CHECK(strstr(r.out, "97, 98, 99]") != NULL);
    run_free(&r);
}

/* A vocab-only style file: no tensors, version 2, file ends right after
 * the kv section (no padding). */
static void t_no_tensors(void) {
    buf b = {0};
    header(&b, 2, 0, 1);
    key(&b, "tokenizer.ggml.tokens", NB_GGUF_ARRAY);
    arr_head(&b, NB_GGUF_STRING, 2);
    put_str(&b, "<s>");
    put_str(&b, "\xe2\x96\x81the"); /* "▁the" */
    char path[512], args[600];
    snprintf(path, sizeof path, "%s/vocab.gguf", nb_test_tmp_dir());
    CHECK(nb_test_write_file(path, b.p, b.n) == 0);
    snprintf(args, sizeof args, "'%s'", path);
    run_result r = run_inspect(args);
    CHECK_MSG(r.status == 0, "exit %d, stderr: %s", r.status, r.err);
    CHECK_LINE(r.out, "gguf version: 2");
    CHECK_LINE(r.out, "n_tensors: 0");
    CHECK_LINE(r.out, "tokenizer.ggml.tokens array[string; 2] [\"<s>\", \"\xe2\x96\x81the\"]");
    CHECK_LINE(r.out, "total: 0 tensors, 0 parameters, 0 bytes");
    run_free(&r);
    free(b.p);
}

/* Run on bytes that must be rejected: exit 1, nothing on stdout, one line
 * "nb-inspect: PATH: ..." on stderr containing `why`. */
static void check_rejected(const char *name, const void *data, size_t size, const char *why) {
    char path[512], args[600], prefix[600];
    snprintf(path, sizeof path, "%s/%s", nb_test_tmp_dir(), name);
    CHECK(nb_test_write_file(path, data, size) == 0);
    snprintf(args, sizeof args, "'%s'", path);
    run_result r = run_inspect(args);
    CHECK_MSG(r.status == 1, "%s: exit %d (want 1)", name, r.status);
    CHECK_MSG(r.out[0] == 0, "%s: stdout not empty:\n%s", name, r.out);
    snprintf(prefix, sizeof prefix, "nb-inspect: %s: ", path);
    CHECK_MSG(strncmp(r.err, prefix, strlen(prefix)) == 0, "%s: stderr '%s' does not start with '%s'",
              name, r.err, prefix);
    CHECK_MSG(strstr(r.err, why) != NULL, "%s: stderr '%s' does not say '%s'", name, r.err, why);
    run_free(&r);
}

static void t_bad_files(void) {
    uint64_t off;
    buf b = make_sample(&off);
    check_rejected("empty.gguf", "", 0, "too small");
    /* bad magic */
    memcpy(b.p, "GGUX", 4);
    check_rejected("magic.gguf", b.p, b.n, "magic");
    memcpy(b.p, "GGUF", 4);
    /* truncated inside the header counts, inside a key, and inside the data */
    check_rejected("trunc-header.gguf", b.p, 20, "truncated");
    check_rejected("trunc-kv.gguf", b.p, 400, "truncated");
    check_rejected("trunc-data.gguf", b.p, (size_t)off + 40, "past the end");
    /* unsupported version */
    b.p[4] = 7;
    check_rejected("version.gguf", b.p, b.n, "version 7");
    free(b.p);
}

static void t_missing_file(void) {
    char path[512], args[600];
    snprintf(path, sizeof path, "%s/does-not-exist.gguf", nb_test_tmp_dir());
    snprintf(args, sizeof args, "'%s'", path);
    run_result r = run_inspect(args);
    CHECK_MSG(r.status == 1, "exit %d", r.status);
    CHECK(r.out[0] == 0);
    CHECK_MSG(strstr(r.err, "does-not-exist.gguf") != NULL, "stderr: %s", r.err);
    run_free(&r);
    /* a directory is not a GGUF file either */
    snprintf(args, sizeof args, "'%s'", nb_test_tmp_dir());
    r = run_inspect(args);
    CHECK_MSG(r.status == 1, "directory: exit %d", r.status);
    CHECK(r.out[0] == 0);
    run_free(&r);
}

static void t_usage_errors(void) {
    uint64_t off;
    size_t size;
    CHECK(write_sample(&off, &size) == 0);
    char args[1200];
    const char *cases[3];
    char bad_flag[600], two_files[1200];
    snprintf(bad_flag, sizeof bad_flag, "--bogus '%s'", sample_path());
    snprintf(two_files, sizeof two_files, "'%s' '%s'", sample_path(), sample_path());
    cases[0] = bad_flag;
    cases[1] = "";        /* no file */
    cases[2] = two_files; /* one file at a time */
    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof args, "%s", cases[i]);
        run_result r = run_inspect(args);
        CHECK_MSG(r.status == 2, "args [%s]: exit %d (want 2)", cases[i], r.status);
        CHECK_MSG(r.out[0] == 0, "args [%s]: stdout not empty", cases[i]);
        CHECK_MSG(strstr(r.err, "usage: nb-inspect") != NULL, "args [%s]: stderr: %s", cases[i],
                  r.err);
        run_free(&r);
    }
}

/* The last line says whether nibble can run the file as a model: its
 * family and shape, or the loader's reason naming the architecture and the
 * missing tensor. A real qwen3 file (../shared), then the same bytes with
 * one tensor renamed (same length, so still valid GGUF). */
static void t_model_line(void) {
    uint64_t off;
    size_t size;
    char args[600];
    CHECK(write_sample(&off, &size) == 0);
    snprintf(args, sizeof args, "'%s'", sample_path());
    run_result r = run_inspect(args);
    CHECK_LINE(r.out, "model: cannot be run: unknown architecture 'tiny' (supported: llama, "
                      "qwen2, qwen3, phi3, gemma2, gemma3)");
    run_free(&r);

    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char path[512];
    snprintf(path, sizeof path, "%s/reference/synth-qwen3/Q8_0/model.gguf", sh);
    snprintf(args, sizeof args, "'%s'", path);
    r = run_inspect(args);
    CHECK_MSG(r.status == 0, "exit %d, stderr: %s", r.status, r.err);
    CHECK_LINE(r.out, "model: qwen3, 2 layers, n_embd 256, 4 heads (2 kv) of 64, n_ff 256, vocab "
                      "512, rope neox base 1e+06, own output");
    run_free(&r);

    size_t n;
    uint8_t *b = nb_test_read_file(path, &n);
    CHECK(b != NULL);
    if (!b) return;
    const char *name = "blk.1.attn_q_norm.weight";
    size_t len = strlen(name);
    for (size_t i = 0; i + len <= n; i++)
        if (!memcmp(b + i, name, len)) {
            b[i + 11] = 'X'; /* blk.1.attn_X_norm.weight */
            break;
        }
    snprintf(path, sizeof path, "%s/qwen3-broken.gguf", nb_test_tmp_dir());
    CHECK(nb_test_write_file(path, b, n) == 0);
    free(b);
    snprintf(args, sizeof args, "'%s'", path);
    r = run_inspect(args);
    CHECK_MSG(r.status == 0, "exit %d, stderr: %s", r.status, r.err);
    CHECK_LINE(r.out, "model: cannot be run: qwen3 model: missing tensor 'blk.1.attn_q_norm.weight'");
    run_free(&r);
}

int main(void) {
    RUN(t_tool_exists);
    RUN(t_sample_parses);
    RUN(t_listing);
    RUN(t_full);
    RUN(t_no_tensors);
    RUN(t_bad_files);
    RUN(t_missing_file);
    RUN(t_usage_errors);
    RUN(t_model_line);
    return nb_test_done();
}
