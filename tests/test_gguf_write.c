/* gguf writer and atomic file output: write -> nb_gguf_parse round trips of
 * every value type, nested arrays, tensors and alignments; exact bytes of a
 * small file; real model files copied key by key and tensor by tensor; every
 * writer error; nb_file_out commit / abort / refusal. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

/* A growable memory sink that can be told to fail after `fail_at` bytes. */
typedef struct membuf {
    uint8_t *p;
    size_t n, cap;
    size_t calls;
    size_t fail_at;      /* 0: never fail */
    const char *fail_msg; /* NULL: fail without a message */
} membuf;

static nb_status mem_write(void *user, const void *data, size_t size, nb_err *err) {
    membuf *m = user;
    m->calls++;
    if (m->fail_at && m->n + size > m->fail_at) {
        if (err && m->fail_msg) snprintf(err->msg, sizeof err->msg, "%s", m->fail_msg);
        return NB_ERR_IO;
    }
    if (m->n + size > m->cap) {
        size_t cap = m->cap ? m->cap : 256;
        while (cap < m->n + size) cap *= 2;
        uint8_t *p = realloc(m->p, cap);
        if (!p) return NB_ERR_NOMEM;
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->n, data, size);
    m->n += size;
    return NB_OK;
}

static void mem_free(membuf *m) {
    free(m->p);
    memset(m, 0, sizeof *m);
}

static nb_gguf_writer *new_writer(membuf *m) {
    nb_err err = {0};
    nb_gguf_writer *w = NULL;
    memset(m, 0, sizeof *m);
    CHECK_OK(nb_gguf_writer_new(&w, mem_write, m, NULL, &err), err);
    return w;
}

/* Header + finish for a writer without tensors, then parse. */
static int finish_and_parse(nb_gguf_writer *w, membuf *m, nb_gguf *g) {
    nb_err err = {0};
    nb_status s = nb_gguf_writer_write_header(w, &err);
    if (!s) s = nb_gguf_writer_finish(w, &err);
    CHECK_OK(s, err);
    nb_gguf_writer_free(w);
    if (s) return 0;
    s = nb_gguf_parse(m->p, m->n, g, &err);
    CHECK_OK(s, err);
    return s == NB_OK;
}

static uint64_t le(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int has(const nb_err *err, const char *needle) {
    return strstr(err->msg, needle) != NULL;
}

/* Expect `s` to be status `want` with a message containing each needle. */
#define CHECK_ERR(expr, want, ...) \
    do { \
        nb_err e_ = {0}; \
        nb_err *err_ = &e_; \
        nb_status s_ = (expr); \
        const char *n_[] = {__VA_ARGS__}; \
        CHECK_MSG(s_ == (want), "%s -> %s (want %s): %s", #expr, nb_status_str(s_), \
                  nb_status_str(want), e_.msg); \
        for (size_t i_ = 0; i_ < sizeof n_ / sizeof n_[0]; i_++) \
            CHECK_MSG(has(&e_, n_[i_]), "%s: message '%s' lacks '%s'", #expr, e_.msg, n_[i_]); \
    } while (0)
/* inside CHECK_ERR, pass `err_` as the nb_err argument */

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static uint64_t f64_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

/* -------------------------------------------------------- exact bytes */

static void t_empty_file_bytes(void) {
    membuf m;
    nb_gguf_writer *w = new_writer(&m);
    nb_gguf g;
    if (!finish_and_parse(w, &m, &g)) { mem_free(&m); return; }
    static const uint8_t want[32] = {'G', 'G', 'U', 'F', 3};
    CHECK_MSG(m.n == 32, "size %zu", m.n);
    CHECK(m.n == 32 && memcmp(m.p, want, 32) == 0);
    CHECK(g.version == 3 && g.n_kv == 0 && g.n_tensors == 0 && g.alignment == 32);
    CHECK(g.data_offset == 32);
    nb_gguf_free(&g);
    mem_free(&m);
}

/* A tiny file spelled out byte by byte, so the layout does not rest on the
 * parser agreeing with the writer. */
static void t_golden_bytes(void) {
    membuf m;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m);
    const int64_t ne[1] = {2};
    const float data[2] = {1.0f, -2.0f};
    CHECK_OK(nb_gguf_set_u8(w, "k", 7, &err), err);
    CHECK_OK(nb_gguf_set_str(w, "s", "ab", &err), err);
    CHECK_OK(nb_gguf_add_tensor(w, "t", NB_TYPE_F32, 1, ne, &err), err);
    CHECK_OK(nb_gguf_writer_write_header(w, &err), err);
    CHECK_OK(nb_gguf_writer_write_data(w, data, sizeof data, &err), err);
    CHECK_OK(nb_gguf_writer_finish(w, &err), err);
    nb_gguf_writer_free(w);
    static const uint8_t want[] = {
        'G', 'G', 'U', 'F', 3, 0, 0, 0,                   /* magic, version 3  */
        1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,   /* n_tensors, n_kv   */
        1, 0, 0, 0, 0, 0, 0, 0, 'k', 0, 0, 0, 0, 7,       /* "k": u8 7         */
        1, 0, 0, 0, 0, 0, 0, 0, 's', 8, 0, 0, 0,          /* "s": string       */
        2, 0, 0, 0, 0, 0, 0, 0, 'a', 'b',                 /*   "ab"            */
        1, 0, 0, 0, 0, 0, 0, 0, 't', 1, 0, 0, 0,          /* "t", n_dims 1     */
        2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,               /* ne 2, type F32    */
        0, 0, 0, 0, 0, 0, 0, 0,                           /* offset 0          */
        0, 0,                                             /* pad 94 -> 96      */
        0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0,                  /* 1.0f, -2.0f       */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* pad 8 -> 32       */
        0, 0, 0, 0, 0, 0, 0, 0,
    };
    CHECK_MSG(m.n == sizeof want, "size %zu, want %zu", m.n, sizeof want);
    CHECK(m.n == sizeof want && memcmp(m.p, want, sizeof want) == 0);
    mem_free(&m);
}

/* ------------------------------------------------------------- scalars */

static void t_scalars(void) {
    membuf m;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m);
    const float f32_nan = nanf("");
    uint32_t nan_payload = 0x7fc12345u;
    float f32_pnan;
    memcpy(&f32_pnan, &nan_payload, 4);
    struct { const char *key; uint32_t type; uint64_t bits; } want[] = {
        {"u8.min", NB_GGUF_U8, 0}, {"u8.max", NB_GGUF_U8, 255},
        {"i8.min", NB_GGUF_I8, 0x80}, {"i8.max", NB_GGUF_I8, 127},
        {"u16.max", NB_GGUF_U16, 65535}, {"i16.min", NB_GGUF_I16, 0x8000},
        {"i16.max", NB_GGUF_I16, 0x7fff}, {"u32.max", NB_GGUF_U32, UINT32_MAX},
        {"i32.min", NB_GGUF_I32, 0x80000000u}, {"i32.max", NB_GGUF_I32, INT32_MAX},
        {"u64.max", NB_GGUF_U64, UINT64_MAX}, {"i64.min", NB_GGUF_I64, (uint64_t)INT64_MIN},
        {"i64.max", NB_GGUF_I64, INT64_MAX}, {"i64.m1", NB_GGUF_I64, UINT64_MAX},
        {"f32.max", NB_GGUF_F32, f32_bits(FLT_MAX)}, {"f32.nmax", NB_GGUF_F32, f32_bits(-FLT_MAX)},
        {"f32.tiny", NB_GGUF_F32, f32_bits(FLT_TRUE_MIN)}, {"f32.negzero", NB_GGUF_F32, 0x80000000u},
        {"f32.inf", NB_GGUF_F32, f32_bits(INFINITY)}, {"f32.nan", NB_GGUF_F32, f32_bits(f32_nan)},
        {"f32.payload_nan", NB_GGUF_F32, nan_payload},
        {"f64.max", NB_GGUF_F64, f64_bits(DBL_MAX)}, {"f64.tiny", NB_GGUF_F64, f64_bits(DBL_TRUE_MIN)},
        {"f64.ninf", NB_GGUF_F64, f64_bits(-INFINITY)}, {"f64.pi", NB_GGUF_F64, f64_bits(3.141592653589793)},
        {"bool.false", NB_GGUF_BOOL, 0}, {"bool.true", NB_GGUF_BOOL, 1}, {"bool.42", NB_GGUF_BOOL, 1},
    };
    const size_t n = sizeof want / sizeof want[0];
    CHECK_OK(nb_gguf_set_u8(w, "u8.min", 0, &err), err);
    CHECK_OK(nb_gguf_set_u8(w, "u8.max", UINT8_MAX, &err), err);
    CHECK_OK(nb_gguf_set_i8(w, "i8.min", INT8_MIN, &err), err);
    CHECK_OK(nb_gguf_set_i8(w, "i8.max", INT8_MAX, &err), err);
    CHECK_OK(nb_gguf_set_u16(w, "u16.max", UINT16_MAX, &err), err);
    CHECK_OK(nb_gguf_set_i16(w, "i16.min", INT16_MIN, &err), err);
    CHECK_OK(nb_gguf_set_i16(w, "i16.max", INT16_MAX, &err), err);
    CHECK_OK(nb_gguf_set_u32(w, "u32.max", UINT32_MAX, &err), err);
    CHECK_OK(nb_gguf_set_i32(w, "i32.min", INT32_MIN, &err), err);
    CHECK_OK(nb_gguf_set_i32(w, "i32.max", INT32_MAX, &err), err);
    CHECK_OK(nb_gguf_set_u64(w, "u64.max", UINT64_MAX, &err), err);
    CHECK_OK(nb_gguf_set_i64(w, "i64.min", INT64_MIN, &err), err);
    CHECK_OK(nb_gguf_set_i64(w, "i64.max", INT64_MAX, &err), err);
    CHECK_OK(nb_gguf_set_i64(w, "i64.m1", -1, &err), err);
    CHECK_OK(nb_gguf_set_f32(w, "f32.max", FLT_MAX, &err), err);
    CHECK_OK(nb_gguf_set_f32(w, "f32.nmax", -FLT_MAX, &err), err);
    CHECK_OK(nb_gguf_set_f32(w, "f32.tiny", FLT_TRUE_MIN, &err), err);
    CHECK_OK(nb_gguf_set_f32(w, "f32.negzero", -0.0f, &err), err);
    CHECK_OK(nb_gguf_set_f32(w, "f32.inf", INFINITY, &err), err);
    CHECK_OK(nb_gguf_set_f32(w, "f32.nan", f32_nan, &err), err);
    CHECK_OK(nb_gguf_set_f32(w, "f32.payload_nan", f32_pnan, &err), err);
    CHECK_OK(nb_gguf_set_f64(w, "f64.max", DBL_MAX, &err), err);
    CHECK_OK(nb_gguf_set_f64(w, "f64.tiny", DBL_TRUE_MIN, &err), err);
    CHECK_OK(nb_gguf_set_f64(w, "f64.ninf", -INFINITY, &err), err);
    CHECK_OK(nb_gguf_set_f64(w, "f64.pi", 3.141592653589793, &err), err);
    CHECK_OK(nb_gguf_set_bool(w, "bool.false", 0, &err), err);
    CHECK_OK(nb_gguf_set_bool(w, "bool.true", 1, &err), err);
    CHECK_OK(nb_gguf_set_bool(w, "bool.42", 42, &err), err);
    nb_gguf g;
    if (!finish_and_parse(w, &m, &g)) { mem_free(&m); return; }
    CHECK_MSG(g.n_kv == n, "n_kv %llu", (unsigned long long)g.n_kv);
    for (size_t i = 0; i < n && i < g.n_kv; i++) {
        const nb_gguf_kv *kv = &g.kv[i];
        size_t sz = nb_gguf_type_size(want[i].type);
        CHECK_MSG(nb_str_eq(kv->key, want[i].key), "kv %zu is '%.*s', want '%s'", i,
                  (int)kv->key.len, kv->key.ptr, want[i].key);
        CHECK_MSG(kv->type == want[i].type && kv->val_size == sz, "%s: type %u size %llu",
                  want[i].key, kv->type, (unsigned long long)kv->val_size);
        CHECK_MSG(le(kv->val, sz) == want[i].bits, "%s: bits 0x%llx want 0x%llx", want[i].key,
                  (unsigned long long)le(kv->val, sz), (unsigned long long)want[i].bits);
    }
    /* and through the typed getters */
    int64_t i64;
    uint64_t u64;
    double d;
    float f;
    int b;
    CHECK_OK(nb_gguf_get_i64(&g, "i64.min", &i64, &err), err);
    CHECK(i64 == INT64_MIN);
    CHECK_OK(nb_gguf_get_u64(&g, "u64.max", &u64, &err), err);
    CHECK(u64 == UINT64_MAX);
    CHECK_OK(nb_gguf_get_i64(&g, "i8.min", &i64, &err), err);
    CHECK(i64 == -128);
    CHECK_OK(nb_gguf_get_f32(&g, "f32.max", &f, &err), err);
    CHECK(f == FLT_MAX);
    CHECK_OK(nb_gguf_get_f64(&g, "f64.tiny", &d, &err), err);
    CHECK(d == DBL_TRUE_MIN);
    CHECK_OK(nb_gguf_get_bool(&g, "bool.42", &b, &err), err);
    CHECK(b == 1);
    nb_gguf_free(&g);
    mem_free(&m);
}

/* ------------------------------------------------------------- strings */

static void t_strings(void) {
    membuf m;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m);
    static const char nul_inside[] = {'a', 0, 'b'};
    char big[5000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 26);
    CHECK_OK(nb_gguf_set_str(w, "s.empty", "", &err), err);
    CHECK_OK(nb_gguf_set_str(w, "s.hello", "hello, world", &err), err);
    CHECK_OK(nb_gguf_set_str(w, "s.utf8", "\xe2\x96\x81gr\xc3\xbc\xc3\x9f \xf0\x9f\x99\x82", &err), err);
    CHECK_OK(nb_gguf_set_strn(w, "s.nul", nul_inside, 3, &err), err);
    CHECK_OK(nb_gguf_set_strn(w, "s.emptyn", NULL, 0, &err), err);
    CHECK_OK(nb_gguf_set_strn(w, "s.big", big, sizeof big, &err), err); /* > stage buffer */
    nb_gguf g;
    if (!finish_and_parse(w, &m, &g)) { mem_free(&m); return; }
    nb_str s;
    CHECK_OK(nb_gguf_get_str(&g, "s.empty", &s, &err), err);
    CHECK(s.len == 0);
    CHECK_OK(nb_gguf_get_str(&g, "s.hello", &s, &err), err);
    CHECK(nb_str_eq(s, "hello, world"));
    CHECK_OK(nb_gguf_get_str(&g, "s.utf8", &s, &err), err);
    CHECK(nb_str_eq(s, "\xe2\x96\x81gr\xc3\xbc\xc3\x9f \xf0\x9f\x99\x82"));
    CHECK_OK(nb_gguf_get_str(&g, "s.nul", &s, &err), err);
    CHECK(s.len == 3 && memcmp(s.ptr, nul_inside, 3) == 0);
    CHECK_OK(nb_gguf_get_str(&g, "s.emptyn", &s, &err), err);
    CHECK(s.len == 0);
    CHECK_OK(nb_gguf_get_str(&g, "s.big", &s, &err), err);
    CHECK(s.len == sizeof big && memcmp(s.ptr, big, sizeof big) == 0);
    nb_gguf_free(&g);
    mem_free(&m);
}

/* -------------------------------------------------------------- arrays */

static void t_numeric_arrays(void) {
    membuf m;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m);
    const uint8_t u8[] = {0, 1, 127, 128, 255};
    const int8_t i8[] = {INT8_MIN, -1, 0, 1, INT8_MAX};
    const uint16_t u16[] = {0, 1, 0x1234, UINT16_MAX};
    const int16_t i16[] = {INT16_MIN, -2, 0, INT16_MAX};
    const uint32_t u32[] = {0, 0xdeadbeefu, UINT32_MAX};
    const int32_t i32[] = {INT32_MIN, -1, 0, 1, INT32_MAX};
    const float f32[] = {0.0f, -0.0f, 1.5f, -FLT_MAX, FLT_TRUE_MIN, INFINITY};
    const uint8_t bools[] = {0, 1, 1, 0};
    const uint64_t u64[] = {0, 0x0102030405060708ull, UINT64_MAX};
    const int64_t i64[] = {INT64_MIN, -1, INT64_MAX};
    const double f64[] = {0.0, -1e300, DBL_TRUE_MIN, -INFINITY, 0.1};
    struct { const char *key; uint32_t type; const void *data; uint64_t n; } arr[] = {
        {"a.u8", NB_GGUF_U8, u8, 5}, {"a.i8", NB_GGUF_I8, i8, 5}, {"a.u16", NB_GGUF_U16, u16, 4},
        {"a.i16", NB_GGUF_I16, i16, 4}, {"a.u32", NB_GGUF_U32, u32, 3},
        {"a.i32", NB_GGUF_I32, i32, 5}, {"a.f32", NB_GGUF_F32, f32, 6},
        {"a.bool", NB_GGUF_BOOL, bools, 4}, {"a.u64", NB_GGUF_U64, u64, 3},
        {"a.i64", NB_GGUF_I64, i64, 3}, {"a.f64", NB_GGUF_F64, f64, 5},
        {"a.empty_u32", NB_GGUF_U32, NULL, 0}, {"a.empty_f64", NB_GGUF_F64, f64, 0},
    };
    const size_t n = sizeof arr / sizeof arr[0];
    for (size_t i = 0; i < n; i++)
        CHECK_OK(nb_gguf_set_arr(w, arr[i].key, arr[i].type, arr[i].data, arr[i].n, &err), err);
    nb_gguf g;
    if (!finish_and_parse(w, &m, &g)) { mem_free(&m); return; }
    CHECK(g.n_kv == n);
    for (size_t i = 0; i < n; i++) {
        const nb_gguf_kv *kv = NULL;
        nb_status st = nb_gguf_get_arr(&g, arr[i].key, arr[i].type, &kv, &err);
        CHECK_MSG(st == NB_OK, "%s: %s", arr[i].key, err.msg);
        if (st) continue;
        size_t es = nb_gguf_type_size(arr[i].type);
        CHECK_MSG(nb_str_eq(g.kv[i].key, arr[i].key), "order: kv %zu", i);
        CHECK_MSG(kv->arr_n == arr[i].n && kv->val_size == arr[i].n * es, "%s: n %llu size %llu",
                  arr[i].key, (unsigned long long)kv->arr_n, (unsigned long long)kv->val_size);
        for (uint64_t j = 0; j < arr[i].n && j < kv->arr_n; j++) {
            uint64_t host = 0; /* the element as the host stores it */
            const uint8_t *src = (const uint8_t *)arr[i].data + j * es;
            if (es == 1) host = src[0];
            else if (es == 2) { uint16_t x; memcpy(&x, src, 2); host = x; }
            else if (es == 4) { uint32_t x; memcpy(&x, src, 4); host = x; }
            else memcpy(&host, src, 8);
            CHECK_MSG(le(kv->val + j * es, es) == host, "%s[%llu]", arr[i].key,
                      (unsigned long long)j);
        }
    }
    int64_t v;
    double d;
    CHECK_OK(nb_gguf_arr_i64(nb_gguf_find_key(&g, "a.i16"), 0, &v, &err), err);
    CHECK(v == INT16_MIN);
    CHECK_OK(nb_gguf_arr_f64(nb_gguf_find_key(&g, "a.f64"), 1, &d, &err), err);
    CHECK(d == -1e300);
    nb_gguf_free(&g);
    mem_free(&m);
}

static void t_string_arrays(void) {
    membuf m;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m);
    const nb_str v[] = {{"<unk>", 5}, {"", 0}, {"\xe2\x96\x81the", 6}, {"a\0b", 3}, {NULL, 0}};
    CHECK_OK(nb_gguf_set_arr_str(w, "tokens", v, 5, &err), err);
    CHECK_OK(nb_gguf_set_arr_str(w, "empty", NULL, 0, &err), err);
    nb_gguf g;
    if (!finish_and_parse(w, &m, &g)) { mem_free(&m); return; }
    const nb_gguf_kv *kv = NULL;
    CHECK_OK(nb_gguf_get_arr(&g, "tokens", NB_GGUF_STRING, &kv, &err), err);
    if (kv) {
        CHECK(kv->arr_n == 5);
        uint64_t cur = 0;
        nb_str s;
        for (int i = 0; i < 5; i++) {
            CHECK_MSG(nb_gguf_arr_next_str(kv, &cur, &s) == NB_OK, "string %d", i);
            CHECK_MSG(s.len == v[i].len && (s.len == 0 || memcmp(s.ptr, v[i].ptr, s.len) == 0),
                      "string %d", i);
        }
        CHECK(nb_gguf_arr_next_str(kv, &cur, &s) == NB_ERR_NOT_FOUND);
    }
    kv = NULL;
    CHECK_OK(nb_gguf_get_arr(&g, "empty", NB_GGUF_STRING, &kv, &err), err);
    if (kv) CHECK(kv->arr_n == 0 && kv->val_size == 0);
    nb_gguf_free(&g);
    mem_free(&m);
}

/* A small byte builder for hand-made array values. */
typedef struct bb {
    uint8_t b[1024];
    size_t n;
} bb;
static void bb_u32(bb *b, uint32_t v) { for (int i = 0; i < 4; i++) b->b[b->n++] = (uint8_t)(v >> (8 * i)); }
static void bb_u64(bb *b, uint64_t v) { for (int i = 0; i < 8; i++) b->b[b->n++] = (uint8_t)(v >> (8 * i)); }
static void bb_arr(bb *b, uint32_t elem, uint64_t n) { bb_u32(b, elem); bb_u64(b, n); }
static void bb_str(bb *b, const char *s) {
    size_t n = strlen(s);
    bb_u64(b, n);
    memcpy(b->b + b->n, s, n);
    b->n += n;
}

static nb_gguf_kv make_kv(const char *key, uint32_t elem, uint64_t n, const bb *b) {
    nb_gguf_kv kv;
    memset(&kv, 0, sizeof kv);
    kv.key.ptr = key;
    kv.key.len = strlen(key);
    kv.type = NB_GGUF_ARRAY;
    kv.arr_type = elem;
    kv.arr_n = n;
    kv.val = b->b;
    kv.val_size = b->n;
    return kv;
}

static void t_nested_arrays(void) {
    membuf m;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m);
    /* 2 deep: [[1, 2], [], [3, 4, 5]] of i32 */
    bb two = {{0}, 0};
    bb_arr(&two, NB_GGUF_I32, 2); bb_u32(&two, 1); bb_u32(&two, 2);
    bb_arr(&two, NB_GGUF_I32, 0);
    bb_arr(&two, NB_GGUF_I32, 3); bb_u32(&two, 3); bb_u32(&two, 4); bb_u32(&two, (uint32_t)-5);
    /* 3 deep: [[["a", ""], ["bc"]], [[]]] of strings, then a mixed level */
    bb three = {{0}, 0};
    bb_arr(&three, NB_GGUF_ARRAY, 2);
    bb_arr(&three, NB_GGUF_STRING, 2); bb_str(&three, "a"); bb_str(&three, "");
    bb_arr(&three, NB_GGUF_STRING, 1); bb_str(&three, "bc");
    bb_arr(&three, NB_GGUF_ARRAY, 1);
    bb_arr(&three, NB_GGUF_F64, 0);
    /* mixed element types under one array: [["x"], [1.5f], [[true]]] */
    bb mixed = {{0}, 0};
    bb_arr(&mixed, NB_GGUF_STRING, 1); bb_str(&mixed, "x");
    bb_arr(&mixed, NB_GGUF_F32, 1); bb_u32(&mixed, f32_bits(1.5f));
    bb_arr(&mixed, NB_GGUF_ARRAY, 1); bb_arr(&mixed, NB_GGUF_BOOL, 1); mixed.b[mixed.n++] = 1;
    /* 4 levels, the parser's limit: [[[[7]]]] of u8 */
    bb four = {{0}, 0};
    bb_arr(&four, NB_GGUF_ARRAY, 1); bb_arr(&four, NB_GGUF_ARRAY, 1); bb_arr(&four, NB_GGUF_U8, 1);
    four.b[four.n++] = 7;
    /* an empty array of arrays */
    bb none = {{0}, 0};

    nb_gguf_kv kvs[] = {
        make_kv("nest.two", NB_GGUF_ARRAY, 3, &two), make_kv("nest.three", NB_GGUF_ARRAY, 2, &three),
        make_kv("nest.mixed", NB_GGUF_ARRAY, 3, &mixed), make_kv("nest.four", NB_GGUF_ARRAY, 1, &four),
        make_kv("nest.empty", NB_GGUF_ARRAY, 0, &none),
    };
    const size_t n = sizeof kvs / sizeof kvs[0];
    for (size_t i = 0; i < n; i++) CHECK_OK(nb_gguf_set_kv(w, &kvs[i], &err), err);
    nb_gguf g;
    if (!finish_and_parse(w, &m, &g)) { mem_free(&m); return; }
    CHECK(g.n_kv == n);
    for (size_t i = 0; i < n && i < g.n_kv; i++) {
        const nb_gguf_kv *kv = &g.kv[i];
        CHECK_MSG(kv->key.len == kvs[i].key.len && memcmp(kv->key.ptr, kvs[i].key.ptr, kv->key.len) == 0,
                  "kv %zu key", i);
        CHECK_MSG(kv->type == NB_GGUF_ARRAY && kv->arr_type == NB_GGUF_ARRAY &&
                      kv->arr_n == kvs[i].arr_n && kv->val_size == kvs[i].val_size &&
                      memcmp(kv->val, kvs[i].val, kv->val_size) == 0,
                  "%s: bytes differ", kvs[i].key.ptr);
    }
    /* walk "nest.two" through the reader's nested-array API */
    const nb_gguf_kv *kv = nb_gguf_find_key(&g, "nest.two");
    if (kv) {
        nb_gguf_kv sub;
        uint64_t cur = 0;
        int64_t v;
        CHECK(nb_gguf_arr_next_arr(kv, &cur, &sub) == NB_OK && sub.arr_n == 2);
        CHECK(nb_gguf_arr_i64(&sub, 1, &v, &err) == NB_OK && v == 2);
        CHECK(nb_gguf_arr_next_arr(kv, &cur, &sub) == NB_OK && sub.arr_n == 0);
        CHECK(nb_gguf_arr_next_arr(kv, &cur, &sub) == NB_OK && sub.arr_n == 3);
        CHECK(nb_gguf_arr_i64(&sub, 2, &v, &err) == NB_OK && v == -5);
        CHECK(nb_gguf_arr_next_arr(kv, &cur, &sub) == NB_ERR_NOT_FOUND);
    }
    nb_gguf_free(&g);
    mem_free(&m);
}

/* set_kv copies parsed scalars and strings too */
static void t_set_kv_scalars(void) {
    membuf m1, m2;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m1);
    const nb_str toks[] = {{"x", 1}, {"yz", 2}};
    const int16_t arr[] = {-3, 4};
    CHECK_OK(nb_gguf_set_str(w, "a.s", "text", &err), err);
    CHECK_OK(nb_gguf_set_u64(w, "a.u64", 1ull << 40, &err), err);
    CHECK_OK(nb_gguf_set_f32(w, "a.f32", -0.5f, &err), err);
    CHECK_OK(nb_gguf_set_bool(w, "a.b", 1, &err), err);
    CHECK_OK(nb_gguf_set_arr_str(w, "a.toks", toks, 2, &err), err);
    CHECK_OK(nb_gguf_set_arr(w, "a.i16", NB_GGUF_I16, arr, 2, &err), err);
    CHECK_OK(nb_gguf_set_str(w, "a.empty", "", &err), err);
    nb_gguf g1, g2;
    if (!finish_and_parse(w, &m1, &g1)) { mem_free(&m1); return; }
    w = new_writer(&m2);
    for (uint64_t i = 0; i < g1.n_kv; i++) CHECK_OK(nb_gguf_set_kv(w, &g1.kv[i], &err), err);
    if (finish_and_parse(w, &m2, &g2)) {
        CHECK(m1.n == m2.n && memcmp(m1.p, m2.p, m1.n) == 0);
        nb_gguf_free(&g2);
    }
    nb_gguf_free(&g1);
    mem_free(&m1);
    mem_free(&m2);
}

/* ---------------------------------------------------- order / replace */

static void t_key_order_replace_remove(void) {
    membuf m;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m);
    CHECK_OK(nb_gguf_set_u32(w, "a", 1, &err), err);
    CHECK_OK(nb_gguf_set_str(w, "b", "old", &err), err);
    CHECK_OK(nb_gguf_set_f32(w, "c", 2.0f, &err), err);
    CHECK_OK(nb_gguf_set_u64(w, "b", 77, &err), err);      /* new type, same place */
    CHECK_OK(nb_gguf_set_u32(w, "a", 5, &err), err);
    CHECK_OK(nb_gguf_remove_key(w, "a", &err), err);
    CHECK_OK(nb_gguf_remove_key(w, "nope", &err), err);    /* absent: still ok */
    CHECK_OK(nb_gguf_set_i8(w, "d", -1, &err), err);
    CHECK_OK(nb_gguf_set_u32(w, "a", 9, &err), err);       /* re-added: at the end */
    CHECK_OK(nb_gguf_remove_key(w, "d", &err), err);
    nb_gguf g;
    if (!finish_and_parse(w, &m, &g)) { mem_free(&m); return; }
    const char *order[] = {"b", "c", "a"};
    CHECK(g.n_kv == 3);
    for (uint64_t i = 0; i < g.n_kv && i < 3; i++)
        CHECK_MSG(nb_str_eq(g.kv[i].key, order[i]), "kv %llu is '%.*s', want '%s'",
                  (unsigned long long)i, (int)g.kv[i].key.len, g.kv[i].key.ptr, order[i]);
    uint64_t u;
    uint32_t a;
    CHECK(g.kv[0].type == NB_GGUF_U64);
    CHECK_OK(nb_gguf_get_u64(&g, "b", &u, &err), err);
    CHECK(u == 77);
    CHECK_OK(nb_gguf_get_u32(&g, "a", &a, &err), err);
    CHECK(a == 9);
    nb_gguf_free(&g);
    mem_free(&m);
}

/* Many keys: lookups stay hashed through growth, replacement and removal. */
static void t_many_keys(void) {
    membuf m;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m);
    enum { N = 50000 };
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k.%d", i);
        CHECK_OK(nb_gguf_set_u32(w, key, (uint32_t)i, &err), err);
    }
    for (int i = 0; i < 3500; i += 7) { /* remove every 7th of the first 3500 */
        snprintf(key, sizeof key, "k.%d", i);
        CHECK_OK(nb_gguf_remove_key(w, key, &err), err);
    }
    for (int i = 1; i < N; i += 1000) { /* replace some: keeps the place */
        if (i % 7 == 0 && i < 3500) continue;
        snprintf(key, sizeof key, "k.%d", i);
        CHECK_OK(nb_gguf_set_u32(w, key, (uint32_t)i + 1000000u, &err), err);
    }
    CHECK_OK(nb_gguf_set_u32(w, "k.0", 42, &err), err); /* removed, re-added last */
    nb_gguf g;
    if (!finish_and_parse(w, &m, &g)) { mem_free(&m); return; }
    uint64_t want_n = N - 500 + 1;
    CHECK_MSG(g.n_kv == want_n, "n_kv %llu want %llu", (unsigned long long)g.n_kv,
              (unsigned long long)want_n);
    uint64_t j = 0;
    int bad = 0;
    for (int i = 0; i < N && j < g.n_kv; i++) {
        if (i % 7 == 0 && i < 3500) continue;
        snprintf(key, sizeof key, "k.%d", i);
        uint32_t v = (uint32_t)le(g.kv[j].val, 4);
        uint32_t want = (i - 1) % 1000 == 0 ? (uint32_t)i + 1000000u : (uint32_t)i;
        CHECK_MSG(nb_gguf_find_key(&g, key) == &g.kv[j], "'%s' not found", key);
        bad += !nb_str_eq(g.kv[j].key, key) || v != want;
        j++;
    }
    CHECK_MSG(bad == 0, "%d keys out of place or wrong", bad);
    CHECK(j + 1 == g.n_kv && nb_str_eq(g.kv[j].key, "k.0") && le(g.kv[j].val, 4) == 42);
    nb_gguf_free(&g);
    mem_free(&m);
}

static void t_long_key_ok(void) {
    membuf m;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m);
    char *key = malloc(65536);
    memset(key, 'k', 65535);
    key[65535] = 0;
    CHECK_OK(nb_gguf_set_u8(w, key, 1, &err), err);
    nb_gguf g;
    if (finish_and_parse(w, &m, &g)) {
        CHECK(g.n_kv == 1 && g.kv[0].key.len == 65535);
        CHECK(nb_gguf_find_key(&g, key) != NULL);
        nb_gguf_free(&g);
    }
    free(key);
    mem_free(&m);
}

/* ------------------------------------------------------------- tensors */

typedef struct tdesc {
    const char *name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
    uint64_t nbytes; /* expected */
} tdesc;

static const tdesc tensors[] = {
    {"a", NB_TYPE_F32, 1, {3, 1, 1, 1}, 12},
    {"blk.0.attn_q.weight", NB_TYPE_F16, 2, {5, 3, 1, 1}, 30},
    {"c", NB_TYPE_I8, 3, {7, 1, 2, 1}, 14},
    {"d", NB_TYPE_F32, 4, {2, 2, 2, 2}, 64},
    {"q4_0", NB_TYPE_Q4_0, 2, {64, 3, 1, 1}, 3 * 2 * 18},
    {"q4_k", NB_TYPE_Q4_K, 2, {256, 2, 1, 1}, 2 * 144},
    {"q8_0", NB_TYPE_Q8_0, 1, {32, 1, 1, 1}, 34},
    {"q6_k", NB_TYPE_Q6_K, 1, {512, 1, 1, 1}, 2 * 210},
    {"bf16", NB_TYPE_BF16, 1, {1, 1, 1, 1}, 2},
    {"iq4_xs", NB_TYPE_IQ4_XS, 1, {256, 1, 1, 1}, 136},
    {"mxfp4", NB_TYPE_MXFP4, 1, {32, 1, 1, 1}, 17},
    {"i64", NB_TYPE_I64, 2, {1, 3, 1, 1}, 24},
};
#define N_TENSORS (sizeof tensors / sizeof tensors[0])

static uint8_t tensor_byte(size_t t, uint64_t i) {
    return (uint8_t)(t * 31 + i * 7 + 1);
}

/* Write `tensors` with the given alignment (0 = default) and pieces of
 * `piece` bytes (0 = whole tensors). */
static int write_tensors(membuf *m, uint32_t align, size_t piece) {
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(m);
    if (!w) return 0;
    CHECK_OK(nb_gguf_set_str(w, "general.architecture", "test", &err), err);
    if (align) CHECK_OK(nb_gguf_set_u32(w, "general.alignment", align, &err), err);
    for (size_t i = 0; i < N_TENSORS; i++)
        CHECK_OK(nb_gguf_add_tensor(w, tensors[i].name, tensors[i].type, tensors[i].n_dims,
                                    tensors[i].ne, &err), err);
    CHECK_OK(nb_gguf_writer_write_header(w, &err), err);
    for (size_t i = 0; i < N_TENSORS; i++) {
        uint64_t n = tensors[i].nbytes;
        uint8_t *buf = malloc(n);
        for (uint64_t j = 0; j < n; j++) buf[j] = tensor_byte(i, j);
        size_t step = piece ? piece : n;
        for (uint64_t off = 0; off < n; off += step) {
            size_t k = n - off < step ? n - off : step;
            CHECK_OK(nb_gguf_writer_write_data(w, buf + off, k, &err), err);
        }
        free(buf);
    }
    CHECK_OK(nb_gguf_writer_finish(w, &err), err);
    nb_gguf_writer_free(w);
    return !nb_test_failed();
}

static void check_tensors(uint32_t align) {
    membuf m;
    nb_err err = {0};
    if (!write_tensors(&m, align, 0)) { mem_free(&m); return; }
    nb_gguf g;
    CHECK_OK(nb_gguf_parse(m.p, m.n, &g, &err), err);
    if (err.status) { mem_free(&m); return; }
    uint64_t a = align ? align : 32;
    CHECK_MSG(g.alignment == a, "alignment %u", g.alignment);
    CHECK(g.data_offset % a == 0);
    CHECK(g.n_tensors == N_TENSORS);
    uint64_t off = 0;
    for (size_t i = 0; i < N_TENSORS && i < g.n_tensors; i++) {
        const nb_gguf_tensor *t = &g.tensors[i];
        const tdesc *d = &tensors[i];
        CHECK_MSG(nb_str_eq(t->name, d->name), "tensor %zu name", i);
        CHECK_MSG(t->type == d->type && t->n_dims == d->n_dims, "%s: type %u n_dims %u", d->name,
                  t->type, t->n_dims);
        for (int k = 0; k < 4; k++)
            CHECK_MSG(t->ne[k] == d->ne[k], "%s: ne[%d] = %lld", d->name, k, (long long)t->ne[k]);
        CHECK_MSG(t->nbytes == d->nbytes, "%s: nbytes %llu want %llu", d->name,
                  (unsigned long long)t->nbytes, (unsigned long long)d->nbytes);
        CHECK_MSG(t->offset == off, "%s: offset %llu want %llu", d->name,
                  (unsigned long long)t->offset, (unsigned long long)off);
        CHECK(t->offset % a == 0);
        const uint8_t *p = t->data;
        int same = 1;
        for (uint64_t j = 0; j < d->nbytes; j++) same &= p[j] == tensor_byte(i, j);
        CHECK_MSG(same, "%s: data differs", d->name);
        off += (d->nbytes + a - 1) / a * a;
    }
    /* every tensor is padded, the last one included */
    CHECK_MSG(m.n == g.data_offset + off, "file %zu bytes, want %llu", m.n,
              (unsigned long long)(g.data_offset + off));
    /* padding bytes are zero */
    for (size_t i = 0; i < N_TENSORS && i < g.n_tensors; i++) {
        const nb_gguf_tensor *t = &g.tensors[i];
        uint64_t end = g.data_offset + t->offset + t->nbytes;
        uint64_t next = i + 1 < g.n_tensors ? g.data_offset + g.tensors[i + 1].offset : m.n;
        for (uint64_t j = end; j < next; j++) CHECK_MSG(m.p[j] == 0, "pad byte at %llu", (unsigned long long)j);
    }
    nb_gguf_free(&g);
    mem_free(&m);
}

static void t_tensors_default_alignment(void) { check_tensors(0); }
static void t_tensors_alignment_64(void) { check_tensors(64); }
static void t_tensors_alignment_1(void) { check_tensors(1); }
static void t_tensors_alignment_4096(void) { check_tensors(4096); }

static void t_quantized_sizes(void) {
    membuf m;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m);
    struct { uint32_t type; int64_t ne0, ne1; uint64_t nbytes; } q[] = {
        {NB_TYPE_Q4_0, 64, 1, 36}, {NB_TYPE_Q4_0, 64, 5, 180}, {NB_TYPE_Q4_1, 32, 1, 20},
        {NB_TYPE_Q5_0, 32, 1, 22}, {NB_TYPE_Q8_0, 96, 1, 102}, {NB_TYPE_Q2_K, 256, 1, 84},
        {NB_TYPE_Q3_K, 256, 1, 110}, {NB_TYPE_Q4_K, 256, 1, 144}, {NB_TYPE_Q4_K, 512, 3, 864},
        {NB_TYPE_Q5_K, 256, 1, 176}, {NB_TYPE_Q6_K, 256, 1, 210}, {NB_TYPE_IQ4_NL, 32, 1, 18},
        {NB_TYPE_TQ2_0, 256, 1, 66},
    };
    const size_t n = sizeof q / sizeof q[0];
    char name[32];
    for (size_t i = 0; i < n; i++) {
        int64_t ne[2] = {q[i].ne0, q[i].ne1};
        snprintf(name, sizeof name, "%s.%zu", nb_type_name(q[i].type), i);
        CHECK_OK(nb_gguf_add_tensor(w, name, q[i].type, 2, ne, &err), err);
    }
    CHECK_OK(nb_gguf_writer_write_header(w, &err), err);
    uint8_t buf[1024] = {0};
    for (size_t i = 0; i < n; i++) CHECK_OK(nb_gguf_writer_write_data(w, buf, q[i].nbytes, &err), err);
    CHECK_OK(nb_gguf_writer_finish(w, &err), err);
    nb_gguf_writer_free(w);
    nb_gguf g;
    CHECK_OK(nb_gguf_parse(m.p, m.n, &g, &err), err);
    if (!err.status) {
        for (size_t i = 0; i < n && i < g.n_tensors; i++)
            CHECK_MSG(g.tensors[i].nbytes == q[i].nbytes, "%s: %llu bytes, want %llu",
                      nb_type_name(q[i].type), (unsigned long long)g.tensors[i].nbytes,
                      (unsigned long long)q[i].nbytes);
        nb_gguf_free(&g);
    }
    mem_free(&m);
}

static void t_data_in_pieces(void) {
    membuf whole = {0}, ones = {0}, sevens = {0}, sevens_whole = {0};
    if (write_tensors(&whole, 0, 0) && write_tensors(&ones, 0, 1) &&
        write_tensors(&sevens, 64, 7) && write_tensors(&sevens_whole, 64, 0)) {
        CHECK(whole.n == ones.n && memcmp(whole.p, ones.p, whole.n) == 0);
        CHECK(sevens.n == sevens_whole.n && memcmp(sevens.p, sevens_whole.p, sevens.n) == 0);
        CHECK(whole.n != sevens.n); /* the alignment did change the layout */
    }
    mem_free(&whole);
    mem_free(&ones);
    mem_free(&sevens);
    mem_free(&sevens_whole);
}

/* Small header fields are batched, not one sink call each. */
static void t_header_batched(void) {
    membuf m;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m);
    char key[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "key.%d", i);
        CHECK_OK(nb_gguf_set_u32(w, key, (uint32_t)i, &err), err);
    }
    CHECK_OK(nb_gguf_writer_write_header(w, &err), err);
    CHECK_MSG(m.calls <= 2, "%zu sink calls for a %zu-byte header", m.calls, m.n);
    nb_gguf_writer_free(w);
    mem_free(&m);
}

static void t_tensor_name_63(void) {
    membuf m;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m);
    char name[64];
    memset(name, 'n', 63);
    name[63] = 0;
    const int64_t ne[1] = {1};
    CHECK_OK(nb_gguf_add_tensor(w, name, NB_TYPE_F32, 1, ne, &err), err);
    CHECK_OK(nb_gguf_writer_write_header(w, &err), err);
    CHECK_OK(nb_gguf_writer_write_data(w, "abcd", 4, &err), err);
    CHECK_OK(nb_gguf_writer_finish(w, &err), err);
    nb_gguf_writer_free(w);
    nb_gguf g;
    CHECK_OK(nb_gguf_parse(m.p, m.n, &g, &err), err);
    if (!err.status) {
        CHECK(nb_gguf_find_tensor(&g, name) != NULL);
        nb_gguf_free(&g);
    }
    mem_free(&m);
}

static void t_alignment_removed(void) {
    membuf m;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m);
    CHECK_OK(nb_gguf_set_u32(w, "general.alignment", 256, &err), err);
    CHECK_OK(nb_gguf_remove_key(w, "general.alignment", &err), err);
    const int64_t ne[1] = {1};
    CHECK_OK(nb_gguf_add_tensor(w, "x", NB_TYPE_F32, 1, ne, &err), err);
    CHECK_OK(nb_gguf_writer_write_header(w, &err), err);
    CHECK(m.n % 32 == 0 && m.n % 256 != 0);
    CHECK_OK(nb_gguf_writer_write_data(w, "abcd", 4, &err), err);
    CHECK_OK(nb_gguf_writer_finish(w, &err), err);
    nb_gguf_writer_free(w);
    nb_gguf g;
    CHECK_OK(nb_gguf_parse(m.p, m.n, &g, &err), err);
    if (!err.status) {
        CHECK(g.alignment == 32);
        nb_gguf_free(&g);
    }
    mem_free(&m);
}

static void t_arena_allocator(void) {
    static uint8_t mem[1 << 16];
    nb_arena arena;
    nb_arena_init(&arena, mem, sizeof mem);
    nb_allocator a = nb_arena_allocator(&arena);
    membuf m;
    memset(&m, 0, sizeof m);
    nb_err err = {0};
    nb_gguf_writer *w = NULL;
    CHECK_OK(nb_gguf_writer_new(&w, mem_write, &m, &a, &err), err);
    if (!w) return;
    const int64_t ne[1] = {4};
    CHECK_OK(nb_gguf_set_str(w, "general.name", "arena", &err), err);
    CHECK_OK(nb_gguf_add_tensor(w, "x", NB_TYPE_F32, 1, ne, &err), err);
    static const uint8_t big[1 << 16];
    CHECK_ERR(nb_gguf_set_arr(w, "too.big", NB_GGUF_U8, big, sizeof big, err_), NB_ERR_NOMEM,
              "too.big");
    CHECK_OK(nb_gguf_writer_write_header(w, &err), err);
    CHECK_OK(nb_gguf_writer_write_data(w, big, 16, &err), err);
    CHECK_OK(nb_gguf_writer_finish(w, &err), err);
    nb_gguf_writer_free(w); /* the arena never frees: a no-op */
    nb_gguf g;
    CHECK_OK(nb_gguf_parse(m.p, m.n, &g, &err), err);
    if (!err.status) {
        CHECK(g.n_kv == 1 && g.n_tensors == 1);
        nb_gguf_free(&g);
    }
    mem_free(&m);
    /* an arena too small for the writer itself */
    static uint8_t tiny[64];
    nb_arena_init(&arena, tiny, sizeof tiny);
    a = nb_arena_allocator(&arena);
    CHECK_ERR(nb_gguf_writer_new(&w, mem_write, &m, &a, err_), NB_ERR_NOMEM, "allocate");
    CHECK(w == NULL);
}

/* ----------------------------------------------------- real model files */

static void rewrite_real(const char *rel, int report_identical) {
    const char *shared = nb_test_shared_dir();
    if (!shared) {
        nb_test_skip("shared folder absent (set NB_SHARED): cannot read %s", rel);
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", shared, rel);
    struct stat st;
    if (stat(path, &st) != 0) {
        nb_test_skip("%s not found", path);
        return;
    }
    nb_err err = {0};
    nb_file_map map;
    nb_gguf in, out;
    CHECK_OK(nb_file_map_open(path, &map, &err), err);
    if (err.status) return;
    CHECK_OK(nb_gguf_parse(map.data, map.size, &in, &err), err);
    if (err.status) { nb_file_map_close(&map); return; }

    membuf m;
    nb_gguf_writer *w = new_writer(&m);
    for (uint64_t i = 0; i < in.n_kv; i++) CHECK_OK(nb_gguf_set_kv(w, &in.kv[i], &err), err);
    char name[64];
    for (uint64_t i = 0; i < in.n_tensors; i++) {
        const nb_gguf_tensor *t = &in.tensors[i];
        CHECK(t->name.len < sizeof name);
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        CHECK_OK(nb_gguf_add_tensor(w, name, t->type, t->n_dims, t->ne, &err), err);
    }
    CHECK_OK(nb_gguf_writer_write_header(w, &err), err);
    for (uint64_t i = 0; i < in.n_tensors; i++) { /* two pieces each */
        const nb_gguf_tensor *t = &in.tensors[i];
        size_t half = (size_t)t->nbytes / 2;
        CHECK_OK(nb_gguf_writer_write_data(w, t->data, half, &err), err);
        CHECK_OK(nb_gguf_writer_write_data(w, (const uint8_t *)t->data + half,
                                           (size_t)t->nbytes - half, &err), err);
    }
    CHECK_OK(nb_gguf_writer_finish(w, &err), err);
    nb_gguf_writer_free(w);

    CHECK_OK(nb_gguf_parse(m.p, m.n, &out, &err), err);
    if (!err.status) {
        CHECK(out.n_kv == in.n_kv && out.n_tensors == in.n_tensors);
        CHECK(out.alignment == in.alignment);
        for (uint64_t i = 0; i < in.n_kv && i < out.n_kv; i++) {
            const nb_gguf_kv *a = &in.kv[i], *b = &out.kv[i];
            CHECK_MSG(a->key.len == b->key.len && memcmp(a->key.ptr, b->key.ptr, a->key.len) == 0 &&
                          a->type == b->type && a->arr_type == b->arr_type &&
                          a->arr_n == b->arr_n && a->val_size == b->val_size &&
                          memcmp(a->val, b->val, a->val_size) == 0,
                      "kv %llu '%.*s' differs", (unsigned long long)i, (int)a->key.len, a->key.ptr);
        }
        for (uint64_t i = 0; i < in.n_tensors && i < out.n_tensors; i++) {
            const nb_gguf_tensor *a = &in.tensors[i], *b = &out.tensors[i];
            CHECK_MSG(a->name.len == b->name.len &&
                          memcmp(a->name.ptr, b->name.ptr, a->name.len) == 0 &&
                          a->type == b->type && a->n_dims == b->n_dims &&
                          memcmp(a->ne, b->ne, sizeof a->ne) == 0 && a->nbytes == b->nbytes &&
                          memcmp(a->data, b->data, a->nbytes) == 0,
                      "tensor %llu '%.*s' differs", (unsigned long long)i, (int)a->name.len,
                      a->name.ptr);
        }
        int same = m.n == map.size && memcmp(m.p, map.data, m.n) == 0;
        printf("  # %s: %zu -> %zu bytes, re-written file is %sbyte-identical\n", rel, map.size,
               m.n, same ? "" : "NOT ");
        if (report_identical) CHECK_MSG(same, "%s: output differs from the input", rel);
        nb_gguf_free(&out);
    }
    mem_free(&m);
    nb_gguf_free(&in);
    nb_file_map_close(&map);
}

static void t_rewrite_stories260k(void) {
    rewrite_real("models/tinystories/stories260K.gguf", 1);
}

static void t_rewrite_gemma2_q4km(void) {
    rewrite_real("reference/synth-gemma2/Q4_K_M/model.gguf", 1);
}

/* -------------------------------------------------------------- errors */

static void t_err_null_args(void) {
    membuf m;
    nb_gguf_writer *w = NULL;
    memset(&m, 0, sizeof m);
    CHECK_ERR(nb_gguf_writer_new(NULL, mem_write, &m, NULL, err_), NB_ERR_INVALID_ARG, "NULL");
    CHECK_ERR(nb_gguf_writer_new(&w, NULL, &m, NULL, err_), NB_ERR_INVALID_ARG, "write function");
    w = new_writer(&m);
    CHECK_ERR(nb_gguf_set_u32(NULL, "k", 1, err_), NB_ERR_INVALID_ARG, "writer is NULL");
    CHECK_ERR(nb_gguf_set_str(w, "k", NULL, err_), NB_ERR_INVALID_ARG, "'k'", "NULL");
    CHECK_ERR(nb_gguf_set_strn(w, "k", NULL, 3, err_), NB_ERR_INVALID_ARG, "'k'", "NULL");
    CHECK_ERR(nb_gguf_set_arr(w, "k", NB_GGUF_U32, NULL, 2, err_), NB_ERR_INVALID_ARG, "'k'",
              "NULL");
    CHECK_ERR(nb_gguf_set_arr_str(w, "k", NULL, 2, err_), NB_ERR_INVALID_ARG, "'k'", "NULL");
    const nb_str bad[] = {{"ok", 2}, {NULL, 4}};
    CHECK_ERR(nb_gguf_set_arr_str(w, "k", bad, 2, err_), NB_ERR_INVALID_ARG, "'k'",
              "array string 1");
    CHECK_ERR(nb_gguf_set_kv(w, NULL, err_), NB_ERR_INVALID_ARG, "kv is NULL");
    CHECK_ERR(nb_gguf_add_tensor(w, NULL, NB_TYPE_F32, 1, NULL, err_), NB_ERR_INVALID_ARG,
              "name is NULL");
    CHECK_ERR(nb_gguf_add_tensor(w, "t", NB_TYPE_F32, 1, NULL, err_), NB_ERR_INVALID_ARG, "'t'",
              "ne is NULL");
    CHECK_ERR(nb_gguf_remove_key(w, NULL, err_), NB_ERR_INVALID_ARG, "key is NULL");
    CHECK_ERR(nb_gguf_writer_write_header(NULL, err_), NB_ERR_INVALID_ARG, "NULL");
    /* a NULL nb_err is allowed everywhere */
    CHECK(nb_gguf_set_u32(w, "", 1, NULL) == NB_ERR_INVALID_ARG);
    nb_gguf_writer_free(w);
    nb_gguf_writer_free(NULL);
    mem_free(&m);
}

static void t_err_empty_key(void) {
    membuf m;
    nb_gguf_writer *w = new_writer(&m);
    CHECK_ERR(nb_gguf_set_u32(w, "", 1, err_), NB_ERR_INVALID_ARG, "empty key");
    CHECK_ERR(nb_gguf_set_u32(w, NULL, 1, err_), NB_ERR_INVALID_ARG, "key is NULL");
    nb_gguf_kv kv;
    memset(&kv, 0, sizeof kv);
    uint8_t v = 1;
    kv.type = NB_GGUF_U8;
    kv.val = &v;
    kv.val_size = 1;
    CHECK_ERR(nb_gguf_set_kv(w, &kv, err_), NB_ERR_INVALID_ARG, "empty key");
    nb_gguf_writer_free(w);
    mem_free(&m);
}

static void t_err_key_too_long(void) {
    membuf m;
    nb_gguf_writer *w = new_writer(&m);
    char *key = malloc(65537);
    memset(key, 'x', 65536);
    key[65536] = 0;
    CHECK_ERR(nb_gguf_set_str(w, key, "v", err_), NB_ERR_INVALID_ARG, "65536 bytes", "65535",
              "'xxxx");
    free(key);
    nb_gguf_writer_free(w);
    mem_free(&m);
}

static void t_err_alignment(void) {
    membuf m;
    nb_gguf_writer *w = new_writer(&m);
    CHECK_ERR(nb_gguf_set_i32(w, "general.alignment", 64, err_), NB_ERR_TYPE,
              "general.alignment", "u32", "i32");
    CHECK_ERR(nb_gguf_set_u64(w, "general.alignment", 64, err_), NB_ERR_TYPE,
              "general.alignment", "u64");
    CHECK_ERR(nb_gguf_set_str(w, "general.alignment", "64", err_), NB_ERR_TYPE,
              "general.alignment", "string");
    CHECK_ERR(nb_gguf_set_u32(w, "general.alignment", 0, err_), NB_ERR_INVALID_ARG,
              "general.alignment 0", "power of two");
    CHECK_ERR(nb_gguf_set_u32(w, "general.alignment", 48, err_), NB_ERR_INVALID_ARG,
              "general.alignment 48", "power of two");
    nb_err err = {0};
    CHECK_OK(nb_gguf_set_u32(w, "general.alignment", 64, &err), err);
    /* a rejected value leaves the previous one in place */
    CHECK_ERR(nb_gguf_set_u32(w, "general.alignment", 3, err_), NB_ERR_INVALID_ARG, "3");
    uint8_t bytes[4] = {0, 0, 0, 0};
    nb_gguf_kv kv;
    memset(&kv, 0, sizeof kv);
    kv.key.ptr = "general.alignment";
    kv.key.len = 17;
    kv.type = NB_GGUF_U32;
    kv.val = bytes;
    kv.val_size = 4;
    CHECK_ERR(nb_gguf_set_kv(w, &kv, err_), NB_ERR_INVALID_ARG, "general.alignment 0");
    nb_gguf g;
    if (finish_and_parse(w, &m, &g)) {
        CHECK(g.alignment == 64 && m.n % 64 == 0);
        nb_gguf_free(&g);
    }
    mem_free(&m);
}

static void t_err_tensor_name(void) {
    membuf m;
    nb_gguf_writer *w = new_writer(&m);
    const int64_t ne[1] = {32};
    char name[65];
    memset(name, 'n', 64);
    name[64] = 0;
    CHECK_ERR(nb_gguf_add_tensor(w, "", NB_TYPE_F32, 1, ne, err_), NB_ERR_INVALID_ARG,
              "name is empty");
    CHECK_ERR(nb_gguf_add_tensor(w, name, NB_TYPE_F32, 1, ne, err_), NB_ERR_INVALID_ARG,
              "64 bytes", "GGML_MAX_NAME", "'nnnn");
    nb_gguf_writer_free(w);
    mem_free(&m);
}

static void t_err_duplicate_tensor(void) {
    membuf m;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m);
    const int64_t ne[1] = {32};
    char name[32];
    for (int i = 0; i < 200; i++) { /* enough to grow the name index */
        snprintf(name, sizeof name, "blk.%d.w", i);
        CHECK_OK(nb_gguf_add_tensor(w, name, NB_TYPE_F32, 1, ne, &err), err);
    }
    CHECK_ERR(nb_gguf_add_tensor(w, "blk.7.w", NB_TYPE_F16, 1, ne, err_), NB_ERR_INVALID_ARG,
              "duplicate", "'blk.7.w'");
    CHECK_ERR(nb_gguf_add_tensor(w, "blk.199.w", NB_TYPE_F32, 1, ne, err_), NB_ERR_INVALID_ARG,
              "duplicate", "'blk.199.w'");
    nb_gguf_writer_free(w);
    mem_free(&m);
}

static void t_err_n_dims(void) {
    membuf m;
    nb_gguf_writer *w = new_writer(&m);
    const int64_t ne[5] = {32, 1, 1, 1, 1};
    CHECK_ERR(nb_gguf_add_tensor(w, "t0", NB_TYPE_F32, 0, ne, err_), NB_ERR_INVALID_ARG, "'t0'",
              "n_dims 0");
    CHECK_ERR(nb_gguf_add_tensor(w, "t5", NB_TYPE_F32, 5, ne, err_), NB_ERR_INVALID_ARG, "'t5'",
              "n_dims 5");
    nb_gguf_writer_free(w);
    mem_free(&m);
}

static void t_err_nonpositive_dim(void) {
    membuf m;
    nb_gguf_writer *w = new_writer(&m);
    const int64_t zero[2] = {32, 0}, neg[3] = {32, 2, -4};
    CHECK_ERR(nb_gguf_add_tensor(w, "z", NB_TYPE_F32, 2, zero, err_), NB_ERR_INVALID_ARG, "'z'",
              "dimension 1 is 0");
    CHECK_ERR(nb_gguf_add_tensor(w, "n", NB_TYPE_F32, 3, neg, err_), NB_ERR_INVALID_ARG, "'n'",
              "dimension 2 is -4");
    nb_gguf_writer_free(w);
    mem_free(&m);
}

static void t_err_unknown_type(void) {
    membuf m;
    nb_gguf_writer *w = new_writer(&m);
    const int64_t ne[1] = {256};
    CHECK_ERR(nb_gguf_add_tensor(w, "t", 4, 1, ne, err_), NB_ERR_INVALID_ARG, "'t'",
              "unknown type id 4");
    CHECK_ERR(nb_gguf_add_tensor(w, "t", NB_TYPE_COUNT, 1, ne, err_), NB_ERR_INVALID_ARG,
              "unknown type id 40");
    CHECK_ERR(nb_gguf_add_tensor(w, "t", 0xffffffffu, 1, ne, err_), NB_ERR_INVALID_ARG,
              "unknown type id 4294967295");
    nb_gguf_writer_free(w);
    mem_free(&m);
}

static void t_err_block_multiple(void) {
    membuf m;
    nb_gguf_writer *w = new_writer(&m);
    const int64_t ne33[2] = {33, 2}, ne128[1] = {128};
    CHECK_ERR(nb_gguf_add_tensor(w, "q", NB_TYPE_Q4_0, 2, ne33, err_), NB_ERR_INVALID_ARG, "'q'",
              "row length 33", "Q4_0 block size 32");
    CHECK_ERR(nb_gguf_add_tensor(w, "k", NB_TYPE_Q4_K, 1, ne128, err_), NB_ERR_INVALID_ARG,
              "'k'", "row length 128", "Q4_K block size 256");
    nb_gguf_writer_free(w);
    mem_free(&m);
}

static void t_err_overflow(void) {
    membuf m;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m);
    const int64_t many[2] = {INT64_MAX, 2};
    const int64_t big[1] = {(int64_t)1 << 62};
    const int64_t half[1] = {(int64_t)1 << 61};
    CHECK_ERR(nb_gguf_add_tensor(w, "elems", NB_TYPE_F32, 2, many, err_), NB_ERR_RANGE,
              "'elems'", "element count overflows");
    CHECK_ERR(nb_gguf_add_tensor(w, "bytes", NB_TYPE_F32, 1, big, err_), NB_ERR_RANGE, "'bytes'",
              "byte size overflows");
    /* each fits, but the second one's end offset does not */
    CHECK_OK(nb_gguf_add_tensor(w, "h1", NB_TYPE_F32, 1, half, &err), err);
    CHECK_OK(nb_gguf_add_tensor(w, "h2", NB_TYPE_F32, 1, half, &err), err);
    CHECK_ERR(nb_gguf_writer_write_header(w, err_), NB_ERR_RANGE, "'h2'", "offset overflows");
    CHECK(m.n == 0); /* nothing was written */
    static const uint32_t dummy[1];
    CHECK_ERR(nb_gguf_set_arr(w, "arr", NB_GGUF_U32, dummy, UINT64_MAX / 2, err_), NB_ERR_RANGE,
              "'arr'", "overflows");
    CHECK_ERR(nb_gguf_set_strn(w, "str", "x", NB_GGUF_MAX_STRING + 1, err_), NB_ERR_RANGE,
              "'str'", "1 GiB");
    const nb_str huge[1] = {{"x", NB_GGUF_MAX_STRING + 1}};
    CHECK_ERR(nb_gguf_set_arr_str(w, "strs", huge, 1, err_), NB_ERR_RANGE, "'strs'",
              "array string 0", "1 GiB");
    nb_gguf_writer_free(w);
    mem_free(&m);
}

static void t_err_set_arr_type(void) {
    membuf m;
    nb_gguf_writer *w = new_writer(&m);
    const uint32_t v[1] = {0};
    CHECK_ERR(nb_gguf_set_arr(w, "s", NB_GGUF_STRING, v, 1, err_), NB_ERR_INVALID_ARG, "'s'",
              "nb_gguf_set_arr_str");
    CHECK_ERR(nb_gguf_set_arr(w, "a", NB_GGUF_ARRAY, v, 1, err_), NB_ERR_INVALID_ARG, "'a'",
              "nb_gguf_set_kv");
    CHECK_ERR(nb_gguf_set_arr(w, "u", 13, v, 1, err_), NB_ERR_INVALID_ARG, "'u'",
              "unknown array element type 13");
    nb_gguf_writer_free(w);
    mem_free(&m);
}

static void t_err_set_kv_malformed(void) {
    membuf m;
    nb_gguf_writer *w = new_writer(&m);
    uint8_t one[8] = {0};
    nb_gguf_kv kv;
    memset(&kv, 0, sizeof kv);
    kv.key.ptr = "bad";
    kv.key.len = 3;
    kv.val = one;
    /* scalar with the wrong byte count */
    kv.type = NB_GGUF_U32;
    kv.val_size = 2;
    CHECK_ERR(nb_gguf_set_kv(w, &kv, err_), NB_ERR_FORMAT, "'bad'", "2 bytes", "expected 4");
    /* unknown value type */
    kv.type = 13;
    CHECK_ERR(nb_gguf_set_kv(w, &kv, err_), NB_ERR_FORMAT, "'bad'", "unknown value type 13");
    /* NULL value */
    kv.type = NB_GGUF_STRING;
    kv.val = NULL;
    kv.val_size = 3;
    CHECK_ERR(nb_gguf_set_kv(w, &kv, err_), NB_ERR_INVALID_ARG, "'bad'", "NULL");
    /* array count larger than its bytes */
    kv.val = one;
    kv.type = NB_GGUF_ARRAY;
    kv.arr_type = NB_GGUF_U32;
    kv.arr_n = 3;
    kv.val_size = 8;
    CHECK_ERR(nb_gguf_set_kv(w, &kv, err_), NB_ERR_FORMAT, "'bad'", "runs past");
    /* bytes left over after the elements */
    kv.arr_n = 1;
    CHECK_ERR(nb_gguf_set_kv(w, &kv, err_), NB_ERR_FORMAT, "'bad'", "take 4 bytes", "has 8");
    /* unknown element type */
    kv.arr_type = 99;
    CHECK_ERR(nb_gguf_set_kv(w, &kv, err_), NB_ERR_FORMAT, "'bad'", "unknown array element type 99");
    /* a string element running past the bytes */
    bb s = {{0}, 0};
    bb_u64(&s, 100);
    nb_gguf_kv ks = make_kv("strs", NB_GGUF_STRING, 1, &s);
    CHECK_ERR(nb_gguf_set_kv(w, &ks, err_), NB_ERR_FORMAT, "'strs'", "string 0 of 1");
    /* a truncated nested array */
    bb t = {{0}, 0};
    bb_arr(&t, NB_GGUF_I32, 2);
    bb_u32(&t, 1);
    nb_gguf_kv kt = make_kv("nest", NB_GGUF_ARRAY, 1, &t);
    CHECK_ERR(nb_gguf_set_kv(w, &kt, err_), NB_ERR_FORMAT, "'nest'", "runs past");
    /* five levels of arrays: one more than the parser reads */
    bb five = {{0}, 0};
    bb_arr(&five, NB_GGUF_ARRAY, 1); bb_arr(&five, NB_GGUF_ARRAY, 1);
    bb_arr(&five, NB_GGUF_ARRAY, 1); bb_arr(&five, NB_GGUF_U8, 0);
    nb_gguf_kv k5 = make_kv("deep", NB_GGUF_ARRAY, 1, &five);
    CHECK_ERR(nb_gguf_set_kv(w, &k5, err_), NB_ERR_FORMAT, "'deep'", "nested deeper than 4");
    /* none of these were stored */
    nb_gguf g;
    if (finish_and_parse(w, &m, &g)) {
        CHECK(g.n_kv == 0);
        nb_gguf_free(&g);
    }
    mem_free(&m);
}

static void t_err_set_after_header(void) {
    membuf m;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m);
    const int64_t ne[1] = {4};
    CHECK_OK(nb_gguf_set_u32(w, "a", 1, &err), err);
    CHECK_OK(nb_gguf_add_tensor(w, "t", NB_TYPE_F32, 1, ne, &err), err);
    CHECK_OK(nb_gguf_writer_write_header(w, &err), err);
    size_t n = m.n;
    CHECK_ERR(nb_gguf_set_u32(w, "late.key", 1, err_), NB_ERR_INVALID_ARG, "'late.key'",
              "header was already written");
    CHECK_ERR(nb_gguf_set_str(w, "a", "x", err_), NB_ERR_INVALID_ARG, "'a'", "header");
    CHECK_ERR(nb_gguf_remove_key(w, "a", err_), NB_ERR_INVALID_ARG, "'a'", "header");
    CHECK_ERR(nb_gguf_add_tensor(w, "late.tensor", NB_TYPE_F32, 1, ne, err_), NB_ERR_INVALID_ARG,
              "'late.tensor'", "header was already written");
    CHECK_ERR(nb_gguf_writer_write_header(w, err_), NB_ERR_INVALID_ARG, "write_header",
              "already written");
    CHECK(m.n == n);
    /* the writer still works */
    CHECK_OK(nb_gguf_writer_write_data(w, "0123456789abcdef", 16, &err), err);
    CHECK_OK(nb_gguf_writer_finish(w, &err), err);
    nb_gguf_writer_free(w);
    mem_free(&m);
}

static void t_err_data_before_header(void) {
    membuf m;
    nb_gguf_writer *w = new_writer(&m);
    const int64_t ne[1] = {4};
    nb_err err = {0};
    CHECK_OK(nb_gguf_add_tensor(w, "t", NB_TYPE_F32, 1, ne, &err), err);
    CHECK_ERR(nb_gguf_writer_write_data(w, "0123456789abcdef", 16, err_), NB_ERR_INVALID_ARG,
              "write_data", "before write_header");
    CHECK_ERR(nb_gguf_writer_finish(w, err_), NB_ERR_INVALID_ARG, "finish",
              "before write_header");
    CHECK(m.n == 0);
    nb_gguf_writer_free(w);
    mem_free(&m);
}

static void t_err_too_much_data(void) {
    membuf m;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m);
    const int64_t ne[1] = {3};
    uint8_t buf[64] = {0};
    CHECK_OK(nb_gguf_add_tensor(w, "first", NB_TYPE_F32, 1, ne, &err), err);
    CHECK_OK(nb_gguf_add_tensor(w, "second", NB_TYPE_F32, 1, ne, &err), err);
    CHECK_OK(nb_gguf_writer_write_header(w, &err), err);
    /* more than the current tensor: refused before anything is written */
    size_t n = m.n;
    CHECK_ERR(nb_gguf_writer_write_data(w, buf, 13, err_), NB_ERR_INVALID_ARG, "13 bytes",
              "'first'", "needs only 12");
    CHECK(m.n == n);
    CHECK_OK(nb_gguf_writer_write_data(w, buf, 10, &err), err);
    CHECK_ERR(nb_gguf_writer_write_data(w, buf, 3, err_), NB_ERR_INVALID_ARG, "'first'",
              "needs only 2");
    CHECK_OK(nb_gguf_writer_write_data(w, buf, 2, &err), err);
    CHECK_OK(nb_gguf_writer_write_data(w, buf, 12, &err), err);
    CHECK_ERR(nb_gguf_writer_write_data(w, buf, 1, err_), NB_ERR_INVALID_ARG,
              "more than declared", "all 2 tensors");
    CHECK_OK(nb_gguf_writer_write_data(w, buf, 0, &err), err); /* nothing: fine */
    CHECK_OK(nb_gguf_writer_finish(w, &err), err);
    nb_gguf_writer_free(w);
    nb_gguf g;
    CHECK_OK(nb_gguf_parse(m.p, m.n, &g, &err), err);
    if (!err.status) nb_gguf_free(&g);
    mem_free(&m);
}

static void t_err_finish_missing(void) {
    membuf m;
    nb_err err = {0};
    nb_gguf_writer *w = new_writer(&m);
    const int64_t ne[1] = {4};
    uint8_t buf[16] = {0};
    CHECK_OK(nb_gguf_add_tensor(w, "one", NB_TYPE_F32, 1, ne, &err), err);
    CHECK_OK(nb_gguf_add_tensor(w, "two", NB_TYPE_F32, 1, ne, &err), err);
    CHECK_OK(nb_gguf_add_tensor(w, "three", NB_TYPE_F32, 1, ne, &err), err);
    CHECK_OK(nb_gguf_writer_write_header(w, &err), err);
    CHECK_ERR(nb_gguf_writer_finish(w, err_), NB_ERR_INVALID_ARG, "'one'", "0 of its 16",
              "3 tensors incomplete");
    CHECK_OK(nb_gguf_writer_write_data(w, buf, 16, &err), err);
    CHECK_OK(nb_gguf_writer_write_data(w, buf, 5, &err), err);
    CHECK_ERR(nb_gguf_writer_finish(w, err_), NB_ERR_INVALID_ARG, "'two'", "(2 of 3)",
              "5 of its 16", "2 tensors incomplete");
    nb_gguf_writer_free(w);
    mem_free(&m);
}

static void t_err_sink_failure(void) {
    membuf m;
    nb_err err = {0};
    const int64_t ne[1] = {64};
    uint8_t buf[256] = {0};
    /* the header fails */
    nb_gguf_writer *w = new_writer(&m);
    m.fail_at = 10;
    m.fail_msg = "disk full (test sink)";
    CHECK_OK(nb_gguf_add_tensor(w, "w", NB_TYPE_F32, 1, ne, &err), err);
    CHECK_ERR(nb_gguf_writer_write_header(w, err_), NB_ERR_IO, "header", "disk full (test sink)");
    CHECK_ERR(nb_gguf_writer_write_data(w, buf, 256, err_), NB_ERR_INVALID_ARG, "failed earlier");
    CHECK_ERR(nb_gguf_writer_finish(w, err_), NB_ERR_INVALID_ARG, "failed earlier");
    CHECK_ERR(nb_gguf_set_u8(w, "k", 1, err_), NB_ERR_INVALID_ARG, "'k'", "failed earlier");
    nb_gguf_writer_free(w);
    mem_free(&m);
    /* the data fails, with a sink that gives no message */
    w = new_writer(&m);
    CHECK_OK(nb_gguf_add_tensor(w, "a", NB_TYPE_F32, 1, ne, &err), err);
    CHECK_OK(nb_gguf_add_tensor(w, "b", NB_TYPE_F32, 1, ne, &err), err);
    CHECK_OK(nb_gguf_writer_write_header(w, &err), err);
    m.fail_at = m.n + 256 + 100;
    CHECK_OK(nb_gguf_writer_write_data(w, buf, 256, &err), err);
    CHECK_ERR(nb_gguf_writer_write_data(w, buf, 256, err_), NB_ERR_IO, "tensor 'b'",
              "sink returned an error");
    CHECK_ERR(nb_gguf_writer_write_data(w, buf, 1, err_), NB_ERR_INVALID_ARG, "failed earlier");
    /* and with a NULL nb_err, the status still comes back */
    CHECK(nb_gguf_writer_finish(w, NULL) == NB_ERR_INVALID_ARG);
    nb_gguf_writer_free(w);
    mem_free(&m);
    /* failure in a tensor's padding */
    const int64_t ne3[1] = {3};
    w = new_writer(&m);
    CHECK_OK(nb_gguf_add_tensor(w, "pad", NB_TYPE_F32, 1, ne3, &err), err);
    CHECK_OK(nb_gguf_writer_write_header(w, &err), err);
    m.fail_at = m.n + 12 + 1;
    m.fail_msg = "pad fail";
    CHECK_ERR(nb_gguf_writer_write_data(w, buf, 12, err_), NB_ERR_IO, "tensor 'pad'", "pad fail");
    nb_gguf_writer_free(w);
    mem_free(&m);
}

/* ------------------------------------------------------------ file out */

static void tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", nb_test_tmp_dir(), name);
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void tmp_of(char *buf, size_t n, const char *path) {
    snprintf(buf, n, "%s.tmp.%ld", path, (long)getpid());
}

static int file_is(const char *path, const char *content) {
    size_t n = 0;
    char *p = nb_test_read_file(path, &n);
    int ok = p && n == strlen(content) && memcmp(p, content, n) == 0;
    free(p);
    return ok;
}

static void t_file_out_commit(void) {
    char path[512], tmp[600];
    tmp_path(path, sizeof path, "commit.gguf");
    tmp_of(tmp, sizeof tmp, path);
    unlink(path);
    nb_err err = {0};
    nb_file_out o;
    CHECK_OK(nb_file_out_open(&o, path, NULL, &err), err);
    if (err.status) return;
    CHECK(exists(tmp) && !exists(path));
    nb_gguf_writer *w = NULL;
    CHECK_OK(nb_gguf_writer_new(&w, nb_file_out_write, &o, NULL, &err), err);
    const int64_t ne[1] = {4};
    const float data[4] = {1, 2, 3, 4};
    CHECK_OK(nb_gguf_set_str(w, "general.name", "file", &err), err);
    CHECK_OK(nb_gguf_add_tensor(w, "x", NB_TYPE_F32, 1, ne, &err), err);
    CHECK_OK(nb_gguf_writer_write_header(w, &err), err);
    CHECK_OK(nb_gguf_writer_write_data(w, data, sizeof data, &err), err);
    CHECK_OK(nb_gguf_writer_finish(w, &err), err);
    nb_gguf_writer_free(w);
    CHECK(!exists(path)); /* nothing at the target before commit */
    CHECK_OK(nb_file_out_commit(&o, &err), err);
    CHECK(o.fp == NULL && o.path == NULL && o.tmp_path == NULL);
    CHECK(exists(path) && !exists(tmp));
    nb_file_map map;
    nb_gguf g;
    CHECK_OK(nb_file_map_open(path, &map, &err), err);
    if (!err.status) {
        CHECK_OK(nb_gguf_parse(map.data, map.size, &g, &err), err);
        if (!err.status) {
            const nb_gguf_tensor *t = nb_gguf_find_tensor(&g, "x");
            CHECK(t && memcmp(t->data, data, sizeof data) == 0);
            nb_gguf_free(&g);
        }
        nb_file_map_close(&map);
    }
    CHECK_ERR(nb_file_out_commit(&o, err_), NB_ERR_INVALID_ARG, "not open");
    CHECK_ERR(nb_file_out_write(&o, "x", 1, err_), NB_ERR_INVALID_ARG, "not open");
    nb_file_out_abort(&o); /* harmless after commit */
    CHECK(exists(path));
    unlink(path);
}

static void t_file_out_replace(void) {
    char path[512], tmp[600];
    tmp_path(path, sizeof path, "replace.bin");
    tmp_of(tmp, sizeof tmp, path);
    CHECK(nb_test_write_file(path, "old", 3) == 0);
    nb_err err = {0};
    nb_file_out o;
    CHECK_OK(nb_file_out_open(&o, path, NULL, &err), err);
    if (err.status) return;
    CHECK_OK(nb_file_out_write(&o, "new contents", 12, &err), err);
    CHECK(file_is(path, "old")); /* untouched until commit */
    CHECK_OK(nb_file_out_commit(&o, &err), err);
    CHECK(file_is(path, "new contents"));
    CHECK(!exists(tmp));
    unlink(path);
}

static void t_file_out_abort(void) {
    char path[512], tmp[600];
    tmp_path(path, sizeof path, "abort.bin");
    tmp_of(tmp, sizeof tmp, path);
    unlink(path);
    nb_err err = {0};
    nb_file_out o;
    CHECK_OK(nb_file_out_open(&o, path, NULL, &err), err);
    if (err.status) return;
    CHECK_OK(nb_file_out_write(&o, "partial", 7, &err), err);
    nb_file_out_abort(&o);
    CHECK(!exists(path) && !exists(tmp));
    CHECK(o.fp == NULL && o.path == NULL && o.tmp_path == NULL);
    nb_file_out_abort(&o); /* twice is fine */
    /* an existing target survives an abort */
    CHECK(nb_test_write_file(path, "keep", 4) == 0);
    CHECK_OK(nb_file_out_open(&o, path, NULL, &err), err);
    if (err.status) return;
    CHECK_OK(nb_file_out_write(&o, "partial", 7, &err), err);
    nb_file_out_abort(&o);
    CHECK(file_is(path, "keep") && !exists(tmp));
    unlink(path);
}

static void t_file_out_refuse_input(void) {
    char in[512], hard[512], sym[512], other[512], tmp[600];
    tmp_path(in, sizeof in, "input.gguf");
    tmp_path(hard, sizeof hard, "input-hardlink.gguf");
    tmp_path(sym, sizeof sym, "input-symlink.gguf");
    tmp_path(other, sizeof other, "other.gguf");
    unlink(hard), unlink(sym), unlink(other);
    CHECK(nb_test_write_file(in, "model", 5) == 0);
    CHECK(link(in, hard) == 0);
    CHECK(symlink(in, sym) == 0);
    nb_file_out o;
    CHECK_ERR(nb_file_out_open(&o, in, in, err_), NB_ERR_INVALID_ARG, "refusing", "same file",
              "input.gguf");
    CHECK(o.fp == NULL && o.path == NULL);
    CHECK_ERR(nb_file_out_open(&o, hard, in, err_), NB_ERR_INVALID_ARG, "same file",
              "input-hardlink.gguf");
    CHECK_ERR(nb_file_out_open(&o, sym, in, err_), NB_ERR_INVALID_ARG, "same file");
    CHECK_ERR(nb_file_out_open(&o, in, sym, err_), NB_ERR_INVALID_ARG, "same file");
    tmp_of(tmp, sizeof tmp, in);
    CHECK(!exists(tmp));
    CHECK(file_is(in, "model"));
    /* another file, or an input that does not exist, is fine */
    nb_err err = {0};
    CHECK_OK(nb_file_out_open(&o, other, in, &err), err);
    if (!err.status) nb_file_out_abort(&o);
    CHECK_OK(nb_file_out_open(&o, other, "/nonexistent/input.gguf", &err), err);
    if (!err.status) nb_file_out_abort(&o);
    CHECK(!exists(other));
    unlink(in), unlink(hard), unlink(sym);
}

static void t_file_out_missing_dir(void) {
    char path[512];
    tmp_path(path, sizeof path, "no-such-dir/out.gguf");
    nb_file_out o;
    CHECK_ERR(nb_file_out_open(&o, path, NULL, err_), NB_ERR_IO, "no-such-dir/out.gguf",
              "No such file or directory");
    CHECK(o.fp == NULL && o.path == NULL && o.tmp_path == NULL);
    nb_file_out_abort(&o); /* safe on a failed open */
    CHECK(!exists(path));
    /* the target is a directory */
    CHECK_ERR(nb_file_out_open(&o, nb_test_tmp_dir(), NULL, err_), NB_ERR_INVALID_ARG,
              "is a directory");
    CHECK_ERR(nb_file_out_open(&o, "", NULL, err_), NB_ERR_INVALID_ARG, "empty path");
    CHECK_ERR(nb_file_out_open(&o, NULL, NULL, err_), NB_ERR_INVALID_ARG, "empty path");
}

/* A writer error midway leaves no file behind, as in examples/write_gguf.c. */
static void t_file_out_failed_write(void) {
    char path[512], tmp[600];
    tmp_path(path, sizeof path, "failed.gguf");
    tmp_of(tmp, sizeof tmp, path);
    unlink(path);
    nb_err err = {0};
    nb_file_out o;
    nb_gguf_writer *w = NULL;
    CHECK_OK(nb_file_out_open(&o, path, NULL, &err), err);
    if (err.status) return;
    CHECK_OK(nb_gguf_writer_new(&w, nb_file_out_write, &o, NULL, &err), err);
    const int64_t ne[1] = {4};
    CHECK_OK(nb_gguf_add_tensor(w, "x", NB_TYPE_F32, 1, ne, &err), err);
    CHECK_OK(nb_gguf_writer_write_header(w, &err), err);
    CHECK_OK(nb_gguf_writer_write_data(w, "12345678", 8, &err), err);
    CHECK_ERR(nb_gguf_writer_finish(w, err_), NB_ERR_INVALID_ARG, "'x'");
    nb_file_out_abort(&o);
    nb_gguf_writer_free(w);
    CHECK(!exists(path) && !exists(tmp));
}

int main(void) {
    RUN(t_empty_file_bytes);
    RUN(t_golden_bytes);
    RUN(t_scalars);
    RUN(t_strings);
    RUN(t_numeric_arrays);
    RUN(t_string_arrays);
    RUN(t_nested_arrays);
    RUN(t_set_kv_scalars);
    RUN(t_key_order_replace_remove);
    RUN(t_many_keys);
    RUN(t_long_key_ok);
    RUN(t_tensors_default_alignment);
    RUN(t_tensors_alignment_64);
    RUN(t_tensors_alignment_1);
    RUN(t_tensors_alignment_4096);
    RUN(t_quantized_sizes);
    RUN(t_data_in_pieces);
    RUN(t_header_batched);
    RUN(t_tensor_name_63);
    RUN(t_alignment_removed);
    RUN(t_arena_allocator);
    RUN(t_rewrite_stories260k);
    RUN(t_rewrite_gemma2_q4km);
    RUN(t_err_null_args);
    RUN(t_err_empty_key);
    RUN(t_err_key_too_long);
    RUN(t_err_alignment);
    RUN(t_err_tensor_name);
    RUN(t_err_duplicate_tensor);
    RUN(t_err_n_dims);
    RUN(t_err_nonpositive_dim);
    RUN(t_err_unknown_type);
    RUN(t_err_block_multiple);
    RUN(t_err_overflow);
    RUN(t_err_set_arr_type);
    RUN(t_err_set_kv_malformed);
    RUN(t_err_set_after_header);
    RUN(t_err_data_before_header);
    RUN(t_err_too_much_data);
    RUN(t_err_finish_missing);
    RUN(t_err_sink_failure);
    RUN(t_file_out_commit);
    RUN(t_file_out_replace);
    RUN(t_file_out_abort);
    RUN(t_file_out_refuse_input);
    RUN(t_file_out_missing_dir);
    RUN(t_file_out_failed_write);
    rmdir(nb_test_tmp_dir());
    return nb_test_done();
}
