/* Raw GGUF byte builder and parse walker for tests (see the header). */
#include "support_gguf_builder.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ primitives */

void gb_init(gb_buf *b) {
    b->p = NULL;
    b->len = b->cap = 0;
}

void gb_release(gb_buf *b) {
    free(b->p);
    gb_init(b);
}

void gb_reset(gb_buf *b) {
    b->len = 0;
}

/* Make room for n more bytes; test code, so out of memory is fatal. */
static uint8_t *grow(gb_buf *b, size_t n) {
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 256;
        while (n > cap - b->len) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            fprintf(stderr, "gguf builder: out of memory (%zu bytes)\n", cap);
            abort();
        }
        b->p = p;
        b->cap = cap;
    }
    uint8_t *at = b->p + b->len;
    b->len += n;
    return at;
}

void gb_raw(gb_buf *b, const void *p, size_t n) {
    if (n) memcpy(grow(b, n), p, n);
}

void gb_zeros(gb_buf *b, size_t n) {
    if (n) memset(grow(b, n), 0, n);
}

void gb_fill(gb_buf *b, size_t n, uint32_t seed) {
    uint8_t *p = grow(b, n);
    uint32_t x = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u; /* LCG: reproducible, not random */
        p[i] = (uint8_t)(x >> 24);
    }
}

void gb_u8(gb_buf *b, uint8_t v) {
    *grow(b, 1) = v;
}

void gb_u16(gb_buf *b, uint16_t v) {
    uint8_t *p = grow(b, 2);
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void gb_u32(gb_buf *b, uint32_t v) {
    grow(b, 4);
    gb_put_u32(b, b->len - 4, v);
}

void gb_u64(gb_buf *b, uint64_t v) {
    grow(b, 8);
    gb_put_u64(b, b->len - 8, v);
}

void gb_f32(gb_buf *b, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    gb_u32(b, u);
}

void gb_f64(gb_buf *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    gb_u64(b, u);
}

void gb_put_u32(gb_buf *b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; i++) b->p[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}

void gb_put_u64(gb_buf *b, size_t at, uint64_t v) {
    for (int i = 0; i < 8; i++) b->p[at + (size_t)i] = (uint8_t)(v >> (8 * i));
}

/* ----------------------------------------------------------- GGUF pieces */

void gb_str(gb_buf *b, const char *s) {
    gb_strn(b, s, strlen(s));
}

void gb_strn(gb_buf *b, const void *s, size_t n) {
    gb_u64(b, n);
    gb_raw(b, s, n);
}

void gb_str_lying(gb_buf *b, uint64_t len_field, const void *s, size_t n) {
    gb_u64(b, len_field);
    gb_raw(b, s, n);
}

void gb_header(gb_buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    gb_raw(b, "GGUF", 4);
    gb_u32(b, version);
    gb_u64(b, n_tensors);
    gb_u64(b, n_kv);
}

void gb_key(gb_buf *b, const char *key, uint32_t type) {
    gb_str(b, key);
    gb_u32(b, type);
}

void gb_arr_head(gb_buf *b, uint32_t elem_type, uint64_t n) {
    gb_u32(b, elem_type);
    gb_u64(b, n);
}

void gb_kv_u8(gb_buf *b, const char *key, uint8_t v) {
    gb_key(b, key, NB_GGUF_U8);
    gb_u8(b, v);
}
void gb_kv_i8(gb_buf *b, const char *key, int8_t v) {
    gb_key(b, key, NB_GGUF_I8);
    gb_u8(b, (uint8_t)v);
}
void gb_kv_u16(gb_buf *b, const char *key, uint16_t v) {
    gb_key(b, key, NB_GGUF_U16);
    gb_u16(b, v);
}
void gb_kv_i16(gb_buf *b, const char *key, int16_t v) {
    gb_key(b, key, NB_GGUF_I16);
    gb_u16(b, (uint16_t)v);
}
void gb_kv_u32(gb_buf *b, const char *key, uint32_t v) {
    gb_key(b, key, NB_GGUF_U32);
    gb_u32(b, v);
}
void gb_kv_i32(gb_buf *b, const char *key, int32_t v) {
    gb_key(b, key, NB_GGUF_I32);
    gb_u32(b, (uint32_t)v);
}
void gb_kv_u64(gb_buf *b, const char *key, uint64_t v) {
    gb_key(b, key, NB_GGUF_U64);
    gb_u64(b, v);
}
void gb_kv_i64(gb_buf *b, const char *key, int64_t v) {
    gb_key(b, key, NB_GGUF_I64);
    gb_u64(b, (uint64_t)v);
}
void gb_kv_f32(gb_buf *b, const char *key, float v) {
    gb_key(b, key, NB_GGUF_F32);
    gb_f32(b, v);
}
void gb_kv_f64(gb_buf *b, const char *key, double v) {
    gb_key(b, key, NB_GGUF_F64);
    gb_f64(b, v);
}
void gb_kv_bool(gb_buf *b, const char *key, int v) {
    gb_key(b, key, NB_GGUF_BOOL);
    gb_u8(b, v ? 1 : 0);
}
void gb_kv_str(gb_buf *b, const char *key, const char *v) {
    gb_key(b, key, NB_GGUF_STRING);
    gb_str(b, v);
}

void gb_kv_arr(gb_buf *b, const char *key, uint32_t elem_type, uint64_t n) {
    gb_key(b, key, NB_GGUF_ARRAY);
    gb_arr_head(b, elem_type, n);
}

void gb_kv_arr_u32(gb_buf *b, const char *key, const uint32_t *v, uint64_t n) {
    gb_kv_arr(b, key, NB_GGUF_U32, n);
    for (uint64_t i = 0; i < n; i++) gb_u32(b, v[i]);
}

void gb_kv_arr_str(gb_buf *b, const char *key, const char *const *v, uint64_t n) {
    gb_kv_arr(b, key, NB_GGUF_STRING, n);
    for (uint64_t i = 0; i < n; i++) gb_str(b, v[i]);
}

void gb_tensor_info(gb_buf *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                    uint32_t type, uint64_t offset) {
    gb_str(b, name);
    gb_u32(b, n_dims);
    for (uint32_t d = 0; ne && d < n_dims; d++) gb_u64(b, ne[d]);
    gb_u32(b, type);
    gb_u64(b, offset);
}

void gb_pad(gb_buf *b, uint64_t align) {
    if (align > 1 && b->len % align) gb_zeros(b, (size_t)(align - b->len % align));
}

uint64_t gb_tensor_bytes(uint32_t type, uint32_t n_dims, const uint64_t *ne) {
    const nb_type_info *ti = nb_type_get(type);
    if (!ti) return 0;
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims; d++) n *= ne[d];
    return n / ti->block_size * ti->type_size;
}

/* ------------------------------------------------------- the valid file */

void gb_build_valid(gb_buf *b, gb_valid_info *info) {
    gb_valid_info local;
    gb_valid_info *in = info ? info : &local;
    memset(in, 0, sizeof *in);

    gb_header(b, 3, GB_VALID_N_TENSORS, GB_VALID_N_KV);
    in->n_tensors_at = 8;
    in->n_kv_at = 16;

    gb_kv_str(b, "general.architecture", "nibble");
    gb_kv_u32(b, "general.alignment", GB_VALID_ALIGNMENT);
    in->alignment_at = b->len - 4;
    gb_kv_u8(b, "test.u8", 200);
    gb_kv_i8(b, "test.i8", -5);
    gb_kv_u16(b, "test.u16", 65000);
    gb_kv_i16(b, "test.i16", -30000);
    gb_kv_u32(b, "test.u32", 4000000000u);
    gb_kv_i32(b, "test.i32", -7);
    gb_kv_u64(b, "test.u64", 1ull << 40);
    gb_kv_u64(b, "test.u64_big", (1ull << 63) + 5);
    gb_kv_i64(b, "test.i64", -(INT64_C(1) << 40));
    gb_kv_f32(b, "test.f32", 1.5f);
    gb_kv_f64(b, "test.f64", -2.25);
    gb_kv_bool(b, "test.bool", 1);
    static const char *const tokens[] = {"<s>", "hello", "", "w\xc3\xb6rld"};
    gb_kv_arr_str(b, "tokenizer.tokens", tokens, 4);
    gb_kv_arr(b, "test.f32_arr", NB_GGUF_F32, 3);
    gb_f32(b, 0.5f);
    gb_f32(b, -1.0f);
    gb_f32(b, 2.0f);
    /* [[u32]] {{1,2,3}, {}, {42}} */
    gb_kv_arr(b, "test.nested", NB_GGUF_ARRAY, 3);
    gb_arr_head(b, NB_GGUF_U32, 3);
    gb_u32(b, 1);
    gb_u32(b, 2);
    gb_u32(b, 3);
    gb_arr_head(b, NB_GGUF_U32, 0);
    gb_arr_head(b, NB_GGUF_U32, 1);
    gb_u32(b, 42);
    /* [[string]] {{"a","bc"}, {"def"}} */
    gb_kv_arr(b, "test.nested_str", NB_GGUF_ARRAY, 2);
    gb_arr_head(b, NB_GGUF_STRING, 2);
    gb_str(b, "a");
    gb_str(b, "bc");
    gb_arr_head(b, NB_GGUF_STRING, 1);
    gb_str(b, "def");
    /* [[[i16]]] {{{-1,2}}, {{3},{}}} */
    gb_kv_arr(b, "test.deep", NB_GGUF_ARRAY, 2);
    gb_arr_head(b, NB_GGUF_ARRAY, 1);
    gb_arr_head(b, NB_GGUF_I16, 2);
    gb_u16(b, (uint16_t)-1);
    gb_u16(b, 2);
    gb_arr_head(b, NB_GGUF_ARRAY, 2);
    gb_arr_head(b, NB_GGUF_I16, 1);
    gb_u16(b, 3);
    gb_arr_head(b, NB_GGUF_I16, 0);

    /* tensor infos, listed out of data order */
    static const char *const names[GB_VALID_N_TENSORS] = {"blk.0.q8", "tok_embd", "blk.0.q4",
                                                          "norm"};
    static const uint32_t types[GB_VALID_N_TENSORS] = {NB_TYPE_Q8_0, NB_TYPE_F32, NB_TYPE_Q4_0,
                                                       NB_TYPE_F16};
    static const uint32_t ndims[GB_VALID_N_TENSORS] = {2, 2, 2, 1};
    static const uint64_t nes[GB_VALID_N_TENSORS][2] = {{32, 3}, {8, 2}, {64, 2}, {16, 1}};
    static const uint64_t offsets[GB_VALID_N_TENSORS] = {256, 0, 128, 64};
    for (int i = 0; i < GB_VALID_N_TENSORS; i++) {
        in->tinfo_at[i] = b->len;
        gb_tensor_info(b, names[i], ndims[i], nes[i], types[i], offsets[i]);
        in->toffset_at[i] = b->len - 8;
        in->tname[i] = names[i];
        in->ttype[i] = types[i];
        in->toffset[i] = offsets[i];
        in->tnbytes[i] = gb_tensor_bytes(types[i], ndims[i], nes[i]);
    }
    in->infos_end = b->len;
    gb_pad(b, GB_VALID_ALIGNMENT);
    in->data_offset = b->len;

    /* data: each tensor at its offset, zero padding between; the Q8_0
     * tensor at 256 is last, so the file ends with its final byte */
    static const int by_offset[GB_VALID_N_TENSORS] = {1, 3, 2, 0};
    for (int k = 0; k < GB_VALID_N_TENSORS; k++) {
        int i = by_offset[k];
        gb_zeros(b, (size_t)(in->data_offset + in->toffset[i] - b->len));
        if (types[i] == NB_TYPE_F32) {
            for (uint64_t j = 0; j < in->tnbytes[i] / 4; j++) gb_f32(b, (float)j * 0.25f);
        } else if (types[i] == NB_TYPE_F16) {
            for (uint64_t j = 0; j < in->tnbytes[i] / 2; j++)
                gb_u16(b, nb_f32_to_fp16((float)j - 8.0f));
        } else {
            gb_fill(b, (size_t)in->tnbytes[i], (uint32_t)i + 1);
        }
    }
}

/* ------------------------------------------------------------------ walk */

typedef struct walker {
    const nb_gguf *g;
    char *why;
    size_t why_size;
    int bad;
} walker;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void fail(walker *w, const char *fmt, ...) {
    if (w->bad++) return; /* keep the first one */
    if (!w->why || !w->why_size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->why, w->why_size, fmt, ap);
    va_end(ap);
}

/* A NUL-terminated copy of s, or NULL when s holds a NUL (then no C-string
 * lookup can name it). */
static char *cstr(nb_str s) {
    if (memchr(s.ptr, 0, (size_t)s.len)) return NULL;
    char *c = malloc((size_t)s.len + 1);
    if (!c) abort();
    memcpy(c, s.ptr, (size_t)s.len);
    c[s.len] = 0;
    return c;
}

static int in_file(const nb_gguf *g, const void *p, uint64_t n) {
    const uint8_t *q = p;
    return q >= g->base && q <= g->base + g->size && n <= (uint64_t)(g->base + g->size - q);
}

static int is_int(uint32_t t) {
    return t == NB_GGUF_U8 || t == NB_GGUF_I8 || t == NB_GGUF_U16 || t == NB_GGUF_I16 ||
           t == NB_GGUF_U32 || t == NB_GGUF_I32 || t == NB_GGUF_U64 || t == NB_GGUF_I64;
}

static int is_signed(uint32_t t) {
    return t == NB_GGUF_I8 || t == NB_GGUF_I16 || t == NB_GGUF_I32 || t == NB_GGUF_I64;
}

/* A getter's status must be one of the allowed ones; errors need a message
 * naming the key (when the key is short enough to fit in one). */
static void expect(walker *w, const char *key, const char *what, nb_status s, nb_err *e,
                   nb_status ok1, nb_status ok2) {
    if (s != ok1 && s != ok2) {
        fail(w, "key '%s': %s -> %s, expected %s or %s", key, what, nb_status_str(s),
             nb_status_str(ok1), nb_status_str(ok2));
        return;
    }
    if (s != NB_OK && (e->status != s || (strlen(key) < 64 && !strstr(e->msg, key))))
        fail(w, "key '%s': %s -> %s with message '%s'", key, what, nb_status_str(s), e->msg);
}

static void walk_arr(walker *w, const nb_gguf_kv *kv, int depth);

static void walk_elems(walker *w, const nb_gguf_kv *kv, int depth) {
    nb_err e;
    size_t es = nb_gguf_type_size(kv->arr_type);
    if (es) {
        if (kv->val_size != kv->arr_n * es)
            fail(w, "array of %llu %s has %llu bytes", (unsigned long long)kv->arr_n,
                 nb_gguf_type_name(kv->arr_type), (unsigned long long)kv->val_size);
        for (uint64_t i = 0; i < kv->arr_n && !w->bad; i++) {
            double d;
            int64_t v;
            if (nb_gguf_arr_f64(kv, i, &d, &e) != NB_OK) fail(w, "arr_f64 [%llu]: %s",
                                                             (unsigned long long)i, e.msg);
            nb_status s = nb_gguf_arr_i64(kv, i, &v, &e);
            nb_status want = (kv->arr_type == NB_GGUF_F32 || kv->arr_type == NB_GGUF_F64)
                                 ? NB_ERR_TYPE
                                 : kv->arr_type == NB_GGUF_U64 ? NB_ERR_RANGE : NB_OK;
            if (s != NB_OK && s != want)
                fail(w, "arr_i64 [%llu] of %s -> %s", (unsigned long long)i,
                     nb_gguf_type_name(kv->arr_type), nb_status_str(s));
        }
        int64_t v;
        if (nb_gguf_arr_i64(kv, kv->arr_n, &v, &e) != NB_ERR_RANGE)
            fail(w, "arr_i64 past the end is not a range error");
        return;
    }
    nb_gguf_kv sub;
    nb_str str;
    uint64_t cur = 0, n = 0;
    nb_status s = NB_ERR_NOT_FOUND;
    if (kv->arr_type == NB_GGUF_STRING) {
        if (nb_gguf_arr_next_arr(kv, &cur, &sub) != NB_ERR_TYPE)
            fail(w, "arr_next_arr accepted an array of strings");
        while ((s = nb_gguf_arr_next_str(kv, &cur, &str)) == NB_OK) {
            n++;
            if (!in_file(w->g, str.ptr, str.len) || (const uint8_t *)str.ptr < kv->val ||
                (const uint8_t *)str.ptr + str.len > kv->val + kv->val_size)
                fail(w, "string element %llu outside its array", (unsigned long long)n);
        }
    } else if (kv->arr_type == NB_GGUF_ARRAY) {
        if (nb_gguf_arr_next_str(kv, &cur, &str) != NB_ERR_TYPE)
            fail(w, "arr_next_str accepted an array of arrays");
        while (!w->bad && (s = nb_gguf_arr_next_arr(kv, &cur, &sub)) == NB_OK) {
            n++;
            if (sub.type != NB_GGUF_ARRAY || sub.key.len != 0 || sub.val < kv->val ||
                sub.val + sub.val_size > kv->val + kv->val_size)
                fail(w, "nested array %llu: bad view", (unsigned long long)n);
            else
                walk_arr(w, &sub, depth + 1);
        }
        if (w->bad) return;
    } else {
        fail(w, "array of unknown element type %u survived the parser", kv->arr_type);
        return;
    }
    if (s != NB_ERR_NOT_FOUND || n != kv->arr_n || cur != kv->val_size)
        fail(w, "walked %llu of %llu %s elements (%s, cursor %llu of %llu)",
             (unsigned long long)n, (unsigned long long)kv->arr_n,
             nb_gguf_type_name(kv->arr_type), nb_status_str(s), (unsigned long long)cur,
             (unsigned long long)kv->val_size);
}

static void walk_arr(walker *w, const nb_gguf_kv *kv, int depth) {
    if (depth > NB_GGUF_MAX_DEPTH) {
        fail(w, "arrays nested %d deep survived the parser", depth);
        return;
    }
    if (!in_file(w->g, kv->val, kv->val_size)) {
        fail(w, "array elements outside the file");
        return;
    }
    walk_elems(w, kv, depth);
}

static void walk_kv(walker *w, uint64_t i) {
    const nb_gguf *g = w->g;
    const nb_gguf_kv *kv = &g->kv[i];
    if (kv->key.len == 0 || !in_file(g, kv->key.ptr, kv->key.len)) {
        fail(w, "kv %llu: empty key or key outside the file", (unsigned long long)i);
        return;
    }
    if (kv->type >= NB_GGUF_TYPE_COUNT || !in_file(g, kv->val, kv->val_size)) {
        fail(w, "kv %llu: type %u or value outside the file", (unsigned long long)i, kv->type);
        return;
    }
    char *key = cstr(kv->key);
    if (!key) { /* a key with a NUL: only the by-kv accessors can reach it */
        int64_t v;
        double d;
        nb_err e;
        (void)nb_gguf_kv_i64(kv, &v, &e);
        (void)nb_gguf_kv_f64(kv, &d, &e);
        if (kv->type == NB_GGUF_ARRAY) walk_arr(w, kv, 1);
        return;
    }
    if (nb_gguf_find_key_index(g, key) != (int64_t)i) {
        fail(w, "key '%s' (kv %llu) not found by name", key, (unsigned long long)i);
        free(key);
        return;
    }

    nb_err e;
    uint64_t u64;
    int64_t i64;
    uint32_t u32;
    int32_t i32;
    double f64;
    float f32;
    int bl;
    nb_str str;
    const nb_gguf_kv *arr;
    uint32_t t = kv->type;
    nb_status T = NB_ERR_TYPE, R = NB_ERR_RANGE, OK = NB_OK;
    int num = t == NB_GGUF_F32 || t == NB_GGUF_F64;
    if (is_int(t)) {
        expect(w, key, "get_u64", nb_gguf_get_u64(g, key, &u64, &e), &e, OK,
               is_signed(t) ? R : OK);
        expect(w, key, "get_i64", nb_gguf_get_i64(g, key, &i64, &e), &e, OK,
               t == NB_GGUF_U64 ? R : OK);
        expect(w, key, "get_u32", nb_gguf_get_u32(g, key, &u32, &e), &e, OK, R);
        expect(w, key, "get_i32", nb_gguf_get_i32(g, key, &i32, &e), &e, OK, R);
    } else {
        expect(w, key, "get_u64", nb_gguf_get_u64(g, key, &u64, &e), &e, T, T);
        expect(w, key, "get_i64", nb_gguf_get_i64(g, key, &i64, &e), &e, T, T);
        expect(w, key, "get_u32", nb_gguf_get_u32(g, key, &u32, &e), &e, T, T);
        expect(w, key, "get_i32", nb_gguf_get_i32(g, key, &i32, &e), &e, T, T);
    }
    expect(w, key, "get_f64", nb_gguf_get_f64(g, key, &f64, &e), &e, num ? OK : T, num ? OK : T);
    expect(w, key, "get_f32", nb_gguf_get_f32(g, key, &f32, &e), &e, num ? OK : T, num ? OK : T);
    int isb = t == NB_GGUF_BOOL, iss = t == NB_GGUF_STRING, isa = t == NB_GGUF_ARRAY;
    expect(w, key, "get_bool", nb_gguf_get_bool(g, key, &bl, &e), &e, isb ? OK : T, isb ? OK : T);
    expect(w, key, "get_str", nb_gguf_get_str(g, key, &str, &e), &e, iss ? OK : T, iss ? OK : T);
    if (iss && !w->bad && ((const uint8_t *)str.ptr != kv->val || str.len != kv->val_size))
        fail(w, "key '%s': get_str does not return the value bytes", key);
    expect(w, key, "get_arr", nb_gguf_get_arr(g, key, NB_GGUF_TYPE_COUNT, &arr, &e), &e,
           isa ? OK : T, isa ? OK : T);
    /* the by-kv converters: anything with a fixed size converts to f64 */
    int fixed = nb_gguf_type_size(t) != 0;
    nb_status s = nb_gguf_kv_f64(kv, &f64, &e);
    if ((s == NB_OK) != fixed) fail(w, "key '%s': kv_f64 -> %s", key, nb_status_str(s));
    s = nb_gguf_kv_i64(kv, &i64, &e);
    if (is_int(t) ? (s != OK && s != R) : s != T)
        fail(w, "key '%s': kv_i64 -> %s", key, nb_status_str(s));
    if (isa && !w->bad) {
        if (arr != kv) fail(w, "key '%s': get_arr returned another kv", key);
        if (nb_gguf_get_arr(g, key, kv->arr_type, &arr, &e) != NB_OK)
            fail(w, "key '%s': get_arr of its own element type: %s", key, e.msg);
        uint32_t other = kv->arr_type == NB_GGUF_U8 ? NB_GGUF_I8 : NB_GGUF_U8;
        expect(w, key, "get_arr(other type)", nb_gguf_get_arr(g, key, other, &arr, &e), &e, T, T);
        walk_arr(w, kv, 1);
    }
    free(key);
}

static void walk_tensor(walker *w, uint64_t i) {
    const nb_gguf *g = w->g;
    const nb_gguf_tensor *t = &g->tensors[i];
    if (t->name.len == 0 || !in_file(g, t->name.ptr, t->name.len)) {
        fail(w, "tensor %llu: empty name or name outside the file", (unsigned long long)i);
        return;
    }
    if (t->n_dims < 1 || t->n_dims > NB_GGUF_MAX_DIMS || !nb_type_get(t->type)) {
        fail(w, "tensor %llu: n_dims %u type %u", (unsigned long long)i, t->n_dims, t->type);
        return;
    }
    uint64_t ne[NB_GGUF_MAX_DIMS];
    for (uint32_t d = 0; d < NB_GGUF_MAX_DIMS; d++) {
        ne[d] = (uint64_t)t->ne[d];
        if (t->ne[d] < 1 || (d >= t->n_dims && t->ne[d] != 1)) {
            fail(w, "tensor %llu: ne[%u] = %lld", (unsigned long long)i, d, (long long)t->ne[d]);
            return;
        }
    }
    if (nb_tensor_nelements(t) < 1) fail(w, "tensor %llu: no elements", (unsigned long long)i);
    if (t->nbytes != gb_tensor_bytes(t->type, t->n_dims, ne))
        fail(w, "tensor %llu: nbytes %llu", (unsigned long long)i, (unsigned long long)t->nbytes);
    if (t->offset % g->alignment != 0)
        fail(w, "tensor %llu: offset %llu not aligned", (unsigned long long)i,
             (unsigned long long)t->offset);
    if ((const uint8_t *)t->data != g->base + g->data_offset + t->offset ||
        !in_file(g, t->data, t->nbytes) || t->nbytes == 0) {
        fail(w, "tensor %llu: data outside the file", (unsigned long long)i);
        return;
    }
    /* touch the ends: ASan / the fuzzer see any out-of-bounds pointer */
    const volatile uint8_t *d = t->data;
    uint8_t sink = (uint8_t)(d[0] ^ d[t->nbytes - 1]);
    (void)sink;
    char *name = cstr(t->name);
    if (name) {
        if (nb_gguf_find_tensor_index(g, name) != (int64_t)i ||
            nb_gguf_find_tensor(g, name) != t)
            fail(w, "tensor '%s' (%llu) not found by name", name, (unsigned long long)i);
        free(name);
    }
    /* no overlaps (quadratic, so only for small tables) */
    if (g->n_tensors <= 128)
        for (uint64_t j = i + 1; j < g->n_tensors; j++) {
            const nb_gguf_tensor *u = &g->tensors[j];
            if (t->offset < u->offset + u->nbytes && u->offset < t->offset + t->nbytes)
                fail(w, "tensors %llu and %llu overlap", (unsigned long long)i,
                     (unsigned long long)j);
        }
}

int gb_walk(const nb_gguf *g, char *why, size_t why_size) {
    walker w = {g, why, why_size, 0};
    if (why && why_size) why[0] = 0;
    if (g->version < 2 || g->version > 3) fail(&w, "version %u", g->version);
    if (g->alignment == 0 || (g->alignment & (g->alignment - 1)))
        fail(&w, "alignment %u", g->alignment);
    if (g->data_offset > g->size) fail(&w, "data offset past the end");
    if (g->n_tensors && g->data_offset % g->alignment)
        fail(&w, "data offset %llu not aligned", (unsigned long long)g->data_offset);
    if ((g->n_kv && !g->kv) || (g->n_tensors && !g->tensors)) fail(&w, "missing index");
    for (uint64_t i = 0; i < g->n_kv && !w.bad; i++) walk_kv(&w, i);
    for (uint64_t i = 0; i < g->n_tensors && !w.bad; i++) walk_tensor(&w, i);
    /* a lookup only ever returns an entry with exactly that name */
    static const char probe[] = "\x01no such name";
    const nb_gguf_kv *pk = w.bad ? NULL : nb_gguf_find_key(g, probe);
    const nb_gguf_tensor *pt = w.bad ? NULL : nb_gguf_find_tensor(g, probe);
    if ((pk && !nb_str_eq(pk->key, probe)) || (pt && !nb_str_eq(pt->name, probe)))
        fail(&w, "a lookup returned an entry of another name");
    return w.bad != 0;
}
