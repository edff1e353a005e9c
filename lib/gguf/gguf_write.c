/*
 * Streaming GGUF writer (version 3, little-endian on any host).
 *
 * Keys and tensor declarations stay in memory until write_header; then the
 * header, metadata, tensor infos and padding go to the sink, and tensor data
 * is passed straight through, one tensor at a time, in declaration order.
 * The layout follows llama.cpp's writer: offsets are assigned in order and
 * every tensor's data, the last one included, is zero-padded to the
 * alignment. A file read and written back unchanged is thus byte-identical.
 *
 * Everything the writer accepts, nb_gguf_parse accepts: the same limits
 * (string length, nesting depth, entry counts, dimensions) are checked here,
 * at the call that would break them.
 */
#include "gguf_internal.h"

#include <stdint.h>

#define GGUF_VERSION 3
#define MAX_KEY 65535          /* GGUF spec: a key is at most 2^16-1 bytes    */
#define MAX_NAME 63            /* llama.cpp's GGML_MAX_NAME (64) counts a NUL */
#define STAGE_SIZE 4096        /* header bytes batched per sink call          */
#define SHOW 80                /* bytes of a key/name quoted in messages      */

enum { ST_META, ST_DATA, ST_DONE, ST_FAILED };
enum { KEYS, TENSORS }; /* the two name indexes */

/* One metadata entry, kept as the exact bytes it will be written as. */
typedef struct wkv {
    uint8_t *blob;             /* u64 key_len | key | u32 type | value        */
    size_t size;
    uint64_t key_len;          /* the key is at blob + 8                      */
} wkv;

typedef struct wtensor {
    char *name;                /* NUL-terminated copy                         */
    size_t name_len;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[NB_GGUF_MAX_DIMS];
    uint64_t nbytes;
    uint64_t offset;           /* assigned by write_header                    */
} wtensor;

struct nb_gguf_writer {
    nb_write_fn write;
    void *user;
    nb_allocator alloc;
    int state;
    wkv *kv;                   /* [n_kv], output order                        */
    size_t n_kv, cap_kv;
    wtensor *t;                /* [n_t], declaration order = data order       */
    size_t n_t, cap_t;
    uint32_t *hash[2];         /* [KEYS], [TENSORS]: index + 1, 0 = empty     */
    size_t hash_cap[2];        /* powers of two >= 2 * entries                */
    uint32_t alignment;        /* fixed by write_header                       */
    size_t cur;                /* tensor now receiving data                   */
    uint64_t cur_done;         /* bytes of it received so far                 */
    size_t staged;
    uint8_t stage[STAGE_SIZE];
};

static const uint8_t zeros[4096];

#define SHOWN(len) (int)((len) > SHOW ? SHOW : (len))

/* ------------------------------------------------------------- helpers */

static void store_le(uint8_t *p, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Grow an array to hold at least n + 1 elements; NULL when out of memory. */
static void *grow(nb_gguf_writer *w, void *arr, size_t n, size_t *cap, size_t elem) {
    if (n < *cap) return arr;
    size_t ncap = *cap ? *cap * 2 : 16;
    if (ncap > SIZE_MAX / elem) return NULL;
    void *p = nb_alloc(&w->alloc, ncap * elem);
    if (!p) return NULL;
    if (n) memcpy(p, arr, n * elem);
    nb_free(&w->alloc, arr);
    *cap = ncap;
    return p;
}

static uint64_t hash_name(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a 64 */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static const char *entry_name(const nb_gguf_writer *w, int which, size_t i, uint64_t *len) {
    if (which == KEYS) {
        *len = w->kv[i].key_len;
        return (const char *)w->kv[i].blob + 8;
    }
    *len = w->t[i].name_len;
    return w->t[i].name;
}

/* Hashed lookup, so copying a file with millions of keys or tensors stays
 * linear. Returns the slot of `name`, or the empty slot where it would go. */
static size_t probe(const nb_gguf_writer *w, int which, const char *name, uint64_t len,
                    int *found) {
    *found = 0;
    if (!w->hash_cap[which]) return 0;
    size_t mask = w->hash_cap[which] - 1, h = (size_t)hash_name(name, (size_t)len) & mask;
    for (;; h = (h + 1) & mask) {
        uint32_t v = w->hash[which][h];
        if (v == 0) return h;
        uint64_t n;
        const char *s = entry_name(w, which, v - 1, &n);
        if (n == len && memcmp(s, name, (size_t)len) == 0) {
            *found = 1;
            return h;
        }
    }
}

/* Rebuild an index with room for `n` entries (reusing the table when big
 * enough) over the first `have` entries. */
static nb_status reindex(nb_gguf_writer *w, int which, size_t have, size_t n, nb_err *err) {
    size_t cap = w->hash_cap[which] ? w->hash_cap[which] : 64;
    while (cap < 2 * n) cap *= 2;
    if (cap != w->hash_cap[which]) {
        uint32_t *h = cap <= SIZE_MAX / sizeof *h ? nb_alloc(&w->alloc, cap * sizeof *h) : NULL;
        if (!h) return nb_errf(err, NB_ERR_NOMEM, "cannot grow the name index to %zu slots", cap);
        nb_free(&w->alloc, w->hash[which]);
        w->hash[which] = h;
        w->hash_cap[which] = cap;
    }
    memset(w->hash[which], 0, cap * sizeof *w->hash[which]);
    for (size_t i = 0; i < have; i++) {
        uint64_t len;
        const char *name = entry_name(w, which, i, &len);
        int found;
        w->hash[which][probe(w, which, name, len, &found)] = (uint32_t)(i + 1);
    }
    return NB_OK;
}

static int find_key(const nb_gguf_writer *w, const char *key, uint64_t len, size_t *at) {
    int found;
    size_t h = probe(w, KEYS, key, len, &found);
    if (found) *at = w->hash[KEYS][h] - 1;
    return found;
}

/* Keys and tensors may only change before the header is written. */
static nb_status check_state(const nb_gguf_writer *w, const char *what, const char *name,
                             uint64_t name_len, nb_err *err) {
    if (w->state == ST_META) return NB_OK;
    return nb_errf(err, NB_ERR_INVALID_ARG, "cannot %s '%.*s': %s", what, SHOWN(name_len), name,
                   w->state == ST_FAILED ? "the writer failed earlier"
                                         : "the header was already written");
}

/* ------------------------------------------------------------- sink */

/* Pass bytes to the sink; a failure is final (the output is now partial). */
static nb_status sink(nb_gguf_writer *w, const void *p, size_t n, const wtensor *t,
                      nb_err *err) {
    if (n == 0) return NB_OK;
    nb_err local;
    nb_err *e = err ? err : &local;
    e->msg[0] = 0;
    nb_status s = w->write(w->user, p, n, e);
    if (s == NB_OK) return NB_OK;
    w->state = ST_FAILED;
    char why[sizeof e->msg];
    memcpy(why, e->msg, sizeof why);
    why[sizeof why - 1] = 0;
    if (!why[0]) memcpy(why, "sink returned an error", sizeof "sink returned an error");
    if (t)
        return nb_errf(err, s, "writing data of tensor '%s': %s", t->name, why);
    return nb_errf(err, s, "writing the GGUF header: %s", why);
}

static nb_status flush(nb_gguf_writer *w, nb_err *err) {
    size_t n = w->staged;
    w->staged = 0;
    return sink(w, w->stage, n, NULL, err);
}

/* Header bytes go through the stage so small fields cost no sink call. */
static nb_status emit(nb_gguf_writer *w, const void *p, size_t n, nb_err *err) {
    nb_status s;
    if (w->staged + n > STAGE_SIZE && (s = flush(w, err))) return s;
    if (n >= STAGE_SIZE) return sink(w, p, n, NULL, err);
    memcpy(w->stage + w->staged, p, n);
    w->staged += n;
    return NB_OK;
}

static nb_status emit_u32(nb_gguf_writer *w, uint32_t v, nb_err *err) {
    uint8_t b[4];
    nb_store_u32(b, v);
    return emit(w, b, 4, err);
}

static nb_status emit_u64(nb_gguf_writer *w, uint64_t v, nb_err *err) {
    uint8_t b[8];
    nb_store_u64(b, v);
    return emit(w, b, 8, err);
}

/* ------------------------------------------------------ writer lifetime */

nb_status nb_gguf_writer_new(nb_gguf_writer **w, nb_write_fn write, void *user,
                             const nb_allocator *alloc, nb_err *err) {
    if (!w) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_gguf_writer_new: output is NULL");
    *w = NULL;
    if (!write)
        return nb_errf(err, NB_ERR_INVALID_ARG, "nb_gguf_writer_new: write function is NULL");
    nb_allocator a = alloc ? *alloc : nb_default_allocator();
    if (!a.alloc)
        return nb_errf(err, NB_ERR_INVALID_ARG, "nb_gguf_writer_new: allocator has no alloc");
    nb_gguf_writer *nw = nb_alloc(&a, sizeof *nw);
    if (!nw)
        return nb_errf(err, NB_ERR_NOMEM, "nb_gguf_writer_new: cannot allocate %zu bytes",
                       sizeof *nw);
    memset(nw, 0, sizeof *nw);
    nw->write = write;
    nw->user = user;
    nw->alloc = a;
    nw->state = ST_META;
    nw->alignment = NB_GGUF_DEFAULT_ALIGNMENT;
    *w = nw;
    return NB_OK;
}

static void free_kvs(nb_gguf_writer *w) {
    for (size_t i = 0; i < w->n_kv; i++) nb_free(&w->alloc, w->kv[i].blob);
    nb_free(&w->alloc, w->kv);
    nb_free(&w->alloc, w->hash[KEYS]);
    w->kv = NULL;
    w->hash[KEYS] = NULL;
    w->n_kv = w->cap_kv = w->hash_cap[KEYS] = 0;
}

void nb_gguf_writer_free(nb_gguf_writer *w) {
    if (!w) return;
    free_kvs(w);
    for (size_t i = 0; i < w->n_t; i++) nb_free(&w->alloc, w->t[i].name);
    nb_free(&w->alloc, w->t);
    nb_free(&w->alloc, w->hash[TENSORS]);
    nb_allocator a = w->alloc;
    nb_free(&a, w);
}

/* ------------------------------------------------------------ metadata */

/* A kv being built: its blob holds key and type; the caller fills `val`. */
typedef struct kv_build {
    uint8_t *blob;
    size_t size;
    uint64_t key_len;
    uint8_t *val;
} kv_build;

static nb_status begin_kv(nb_gguf_writer *w, const char *key, uint64_t key_len, uint32_t type,
                          uint64_t val_size, kv_build *b, nb_err *err) {
    nb_status s;
    if (!w) return nb_errf(err, NB_ERR_INVALID_ARG, "cannot set a key: writer is NULL");
    if (!key) return nb_errf(err, NB_ERR_INVALID_ARG, "cannot set a key: key is NULL");
    if (key_len == 0) return nb_errf(err, NB_ERR_INVALID_ARG, "cannot set an empty key");
    if (key_len > MAX_KEY)
        return nb_errf(err, NB_ERR_INVALID_ARG,
                       "key '%.*s...' is %llu bytes long, more than the %d GGUF allows",
                       SHOW, key, (unsigned long long)key_len, MAX_KEY);
    if ((s = check_state(w, "set key", key, key_len, err))) return s;
    uint64_t size = 8 + key_len + 4;
    if (nb_add_overflow_u64(size, val_size, &size) || size > SIZE_MAX)
        return nb_errf(err, NB_ERR_RANGE, "key '%.*s': value of %llu bytes is too large",
                       SHOWN(key_len), key, (unsigned long long)val_size);
    b->blob = nb_alloc(&w->alloc, (size_t)size);
    if (!b->blob)
        return nb_errf(err, NB_ERR_NOMEM, "key '%.*s': cannot allocate %llu bytes",
                       SHOWN(key_len), key, (unsigned long long)size);
    b->size = (size_t)size;
    b->key_len = key_len;
    nb_store_u64(b->blob, key_len);
    memcpy(b->blob + 8, key, (size_t)key_len);
    nb_store_u32(b->blob + 8 + key_len, type);
    b->val = b->blob + 12 + key_len;
    return NB_OK;
}

static int is_alignment_key(const kv_build *b) {
    static const char k[] = "general.alignment";
    return b->key_len == sizeof k - 1 && memcmp(b->blob + 8, k, sizeof k - 1) == 0;
}

/* Check the finished kv and store it: in place of an old value of the same
 * key (keeping its position), else at the end. Consumes b->blob. */
static nb_status end_kv(nb_gguf_writer *w, kv_build *b, nb_err *err) {
    const char *key = (const char *)b->blob + 8;
    if (is_alignment_key(b)) {
        uint32_t type = nb_load_u32(b->val - 4);
        nb_status s = NB_OK;
        if (type != NB_GGUF_U32) {
            s = nb_errf(err, NB_ERR_TYPE, "general.alignment must be a u32, got %s",
                        nb_gguf_type_name(type));
        } else {
            uint32_t a = nb_load_u32(b->val);
            if (a == 0 || (a & (a - 1)) != 0)
                s = nb_errf(err, NB_ERR_INVALID_ARG,
                            "general.alignment %u is not a power of two greater than zero", a);
        }
        if (s) {
            nb_free(&w->alloc, b->blob);
            return s;
        }
    }
    size_t at;
    if (find_key(w, key, b->key_len, &at)) {
        nb_free(&w->alloc, w->kv[at].blob);
    } else {
        if (w->n_kv >= NB_GGUF_MAX_ENTRIES) {
            nb_free(&w->alloc, b->blob);
            return nb_errf(err, NB_ERR_RANGE, "key '%.*s': more than %llu keys",
                           SHOWN(b->key_len), key, (unsigned long long)NB_GGUF_MAX_ENTRIES);
        }
        wkv *nkv = grow(w, w->kv, w->n_kv, &w->cap_kv, sizeof *w->kv);
        if (!nkv) {
            nb_free(&w->alloc, b->blob);
            return nb_errf(err, NB_ERR_NOMEM, "key '%.*s': cannot grow the key list",
                           SHOWN(b->key_len), key);
        }
        w->kv = nkv;
        nb_status s;
        if (2 * (w->n_kv + 1) > w->hash_cap[KEYS] &&
            (s = reindex(w, KEYS, w->n_kv, w->n_kv + 1, err))) {
            nb_free(&w->alloc, b->blob);
            return s;
        }
        at = w->n_kv++;
        int found;
        w->hash[KEYS][probe(w, KEYS, key, b->key_len, &found)] = (uint32_t)(at + 1);
    }
    w->kv[at].blob = b->blob;
    w->kv[at].size = b->size;
    w->kv[at].key_len = b->key_len;
    return NB_OK;
}

static nb_status set_scalar(nb_gguf_writer *w, const char *key, uint32_t type, uint64_t bits,
                            nb_err *err) {
    size_t n = nb_gguf_type_size(type);
    kv_build b;
    nb_status s = begin_kv(w, key, key ? strlen(key) : 0, type, n, &b, err);
    if (s) return s;
    store_le(b.val, bits, n);
    return end_kv(w, &b, err);
}

nb_status nb_gguf_set_u8(nb_gguf_writer *w, const char *key, uint8_t v, nb_err *err) {
    return set_scalar(w, key, NB_GGUF_U8, v, err);
}
nb_status nb_gguf_set_i8(nb_gguf_writer *w, const char *key, int8_t v, nb_err *err) {
    return set_scalar(w, key, NB_GGUF_I8, (uint8_t)v, err);
}
nb_status nb_gguf_set_u16(nb_gguf_writer *w, const char *key, uint16_t v, nb_err *err) {
    return set_scalar(w, key, NB_GGUF_U16, v, err);
}
nb_status nb_gguf_set_i16(nb_gguf_writer *w, const char *key, int16_t v, nb_err *err) {
    return set_scalar(w, key, NB_GGUF_I16, (uint16_t)v, err);
}
nb_status nb_gguf_set_u32(nb_gguf_writer *w, const char *key, uint32_t v, nb_err *err) {
    return set_scalar(w, key, NB_GGUF_U32, v, err);
}
nb_status nb_gguf_set_i32(nb_gguf_writer *w, const char *key, int32_t v, nb_err *err) {
    return set_scalar(w, key, NB_GGUF_I32, (uint32_t)v, err);
}
nb_status nb_gguf_set_u64(nb_gguf_writer *w, const char *key, uint64_t v, nb_err *err) {
    return set_scalar(w, key, NB_GGUF_U64, v, err);
}
nb_status nb_gguf_set_i64(nb_gguf_writer *w, const char *key, int64_t v, nb_err *err) {
    return set_scalar(w, key, NB_GGUF_I64, (uint64_t)v, err);
}
nb_status nb_gguf_set_f32(nb_gguf_writer *w, const char *key, float v, nb_err *err) {
    uint32_t u;
    memcpy(&u, &v, 4);
    return set_scalar(w, key, NB_GGUF_F32, u, err);
}
nb_status nb_gguf_set_f64(nb_gguf_writer *w, const char *key, double v, nb_err *err) {
    uint64_t u;
    memcpy(&u, &v, 8);
    return set_scalar(w, key, NB_GGUF_F64, u, err);
}
nb_status nb_gguf_set_bool(nb_gguf_writer *w, const char *key, int v, nb_err *err) {
    return set_scalar(w, key, NB_GGUF_BOOL, v != 0, err);
}

/* A string value (element `i` of an array, or i == UINT64_MAX for a plain
 * string) must be readable and within the parser's 1 GiB limit. */
static nb_status check_str(const char *key, uint64_t key_len, const char *v, uint64_t len,
                           uint64_t i, nb_err *err) {
    int kl = SHOWN(key_len);
    unsigned long long n = (unsigned long long)len, ii = (unsigned long long)i;
    if (!v && len)
        return i == UINT64_MAX
                   ? nb_errf(err, NB_ERR_INVALID_ARG,
                             "key '%.*s': string value is NULL with length %llu", kl, key, n)
                   : nb_errf(err, NB_ERR_INVALID_ARG,
                             "key '%.*s': array string %llu is NULL with length %llu", kl, key,
                             ii, n);
    if (len > NB_GGUF_MAX_STRING)
        return i == UINT64_MAX
                   ? nb_errf(err, NB_ERR_RANGE,
                             "key '%.*s': string value of %llu bytes exceeds the 1 GiB GGUF "
                             "limit", kl, key, n)
                   : nb_errf(err, NB_ERR_RANGE,
                             "key '%.*s': array string %llu of %llu bytes exceeds the 1 GiB "
                             "GGUF limit", kl, key, ii, n);
    return NB_OK;
}

nb_status nb_gguf_set_strn(nb_gguf_writer *w, const char *key, const char *v, uint64_t len,
                           nb_err *err) {
    nb_status s = check_str(key ? key : "(null)", key ? strlen(key) : 6, v, len, UINT64_MAX, err);
    if (s) return s;
    kv_build b;
    if ((s = begin_kv(w, key, key ? strlen(key) : 0, NB_GGUF_STRING, 8 + len, &b, err))) return s;
    nb_store_u64(b.val, len);
    if (len) memcpy(b.val + 8, v, (size_t)len);
    return end_kv(w, &b, err);
}

nb_status nb_gguf_set_str(nb_gguf_writer *w, const char *key, const char *v, nb_err *err) {
    if (!v)
        return nb_errf(err, NB_ERR_INVALID_ARG, "key '%.*s': string value is NULL", SHOW,
                       key ? key : "(null)");
    return nb_gguf_set_strn(w, key, v, strlen(v), err);
}

nb_status nb_gguf_set_arr(nb_gguf_writer *w, const char *key, uint32_t elem_type,
                          const void *data, uint64_t n, nb_err *err) {
    const char *k = key ? key : "(null)";
    size_t es = nb_gguf_type_size(elem_type);
    if (!es) {
        if (elem_type == NB_GGUF_STRING)
            return nb_errf(err, NB_ERR_INVALID_ARG,
                           "key '%.*s': arrays of strings go through nb_gguf_set_arr_str", SHOW, k);
        if (elem_type == NB_GGUF_ARRAY)
            return nb_errf(err, NB_ERR_INVALID_ARG,
                           "key '%.*s': arrays of arrays go through nb_gguf_set_kv", SHOW, k);
        return nb_errf(err, NB_ERR_INVALID_ARG, "key '%.*s': unknown array element type %u",
                       SHOW, k, elem_type);
    }
    if (!data && n)
        return nb_errf(err, NB_ERR_INVALID_ARG, "key '%.*s': array data is NULL with %llu elements",
                       SHOW, k, (unsigned long long)n);
    uint64_t bytes;
    if (nb_mul_overflow_u64(n, es, &bytes) || bytes > UINT64_MAX - 12)
        return nb_errf(err, NB_ERR_RANGE, "key '%.*s': array of %llu %s overflows", SHOW, k,
                       (unsigned long long)n, nb_gguf_type_name(elem_type));
    kv_build b;
    nb_status s = begin_kv(w, key, key ? strlen(key) : 0, NB_GGUF_ARRAY, 12 + bytes, &b, err);
    if (s) return s;
    nb_store_u32(b.val, elem_type);
    nb_store_u64(b.val + 4, n);
    /* elements come in host order: load natively, store little-endian */
    const uint8_t *src = data;
    uint8_t *dst = b.val + 12;
    for (uint64_t i = 0; i < n; i++, src += es, dst += es) {
        uint64_t v;
        if (es == 1) {
            v = src[0];
        } else if (es == 2) {
            uint16_t x;
            memcpy(&x, src, 2);
            v = x;
        } else if (es == 4) {
            uint32_t x;
            memcpy(&x, src, 4);
            v = x;
        } else {
            memcpy(&v, src, 8);
        }
        store_le(dst, v, es);
    }
    return end_kv(w, &b, err);
}

nb_status nb_gguf_set_arr_str(nb_gguf_writer *w, const char *key, const nb_str *v, uint64_t n,
                              nb_err *err) {
    const char *k = key ? key : "(null)";
    if (!v && n)
        return nb_errf(err, NB_ERR_INVALID_ARG, "key '%.*s': string array is NULL with %llu "
                       "elements", SHOW, k, (unsigned long long)n);
    uint64_t bytes = 12;
    for (uint64_t i = 0; i < n; i++) {
        nb_status s = check_str(k, strlen(k), v[i].ptr, v[i].len, i, err);
        if (s) return s;
        if (nb_add_overflow_u64(bytes, 8 + v[i].len, &bytes))
            return nb_errf(err, NB_ERR_RANGE, "key '%.*s': array of %llu strings overflows",
                           SHOW, k, (unsigned long long)n);
    }
    kv_build b;
    nb_status s = begin_kv(w, key, key ? strlen(key) : 0, NB_GGUF_ARRAY, bytes, &b, err);
    if (s) return s;
    nb_store_u32(b.val, NB_GGUF_STRING);
    nb_store_u64(b.val + 4, n);
    uint8_t *p = b.val + 12;
    for (uint64_t i = 0; i < n; i++) {
        nb_store_u64(p, v[i].len);
        if (v[i].len) memcpy(p + 8, v[i].ptr, (size_t)v[i].len);
        p += 8 + v[i].len;
    }
    return end_kv(w, &b, err);
}

/* Check that `n` elements of type `elem` fit in p[0, avail) and say how many
 * bytes they take. Arrays at depth >= NB_GGUF_MAX_DEPTH are refused, as the
 * parser refuses them (the kv's own array is depth 0). */
static nb_status walk_elems(const uint8_t *p, uint64_t avail, uint32_t elem, uint64_t n,
                            int depth, const nb_str *key, uint64_t *used, nb_err *err) {
    size_t es = nb_gguf_type_size(elem);
    if (es) {
        uint64_t bytes;
        if (nb_mul_overflow_u64(n, es, &bytes) || bytes > avail)
            return nb_errf(err, NB_ERR_FORMAT,
                           "key '%.*s': array of %llu %s runs past its %llu value bytes",
                           SHOWN(key->len), key->ptr, (unsigned long long)n,
                           nb_gguf_type_name(elem), (unsigned long long)avail);
        *used = bytes;
        return NB_OK;
    }
    if (elem != NB_GGUF_STRING && elem != NB_GGUF_ARRAY)
        return nb_errf(err, NB_ERR_FORMAT, "key '%.*s': unknown array element type %u",
                       SHOWN(key->len), key->ptr, elem);
    if (elem == NB_GGUF_ARRAY && depth + 1 >= NB_GGUF_MAX_DEPTH)
        return nb_errf(err, NB_ERR_FORMAT, "key '%.*s': arrays nested deeper than %d levels",
                       SHOWN(key->len), key->ptr, NB_GGUF_MAX_DEPTH);
    uint64_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t left = avail - off;
        if (elem == NB_GGUF_STRING) {
            uint64_t len = left >= 8 ? nb_load_u64(p + off) : 0;
            if (left < 8 || len > left - 8 || len > NB_GGUF_MAX_STRING)
                return nb_errf(err, NB_ERR_FORMAT,
                               "key '%.*s': string %llu of %llu is malformed or runs past the "
                               "value bytes", SHOWN(key->len), key->ptr, (unsigned long long)i,
                               (unsigned long long)n);
            off += 8 + len;
        } else {
            if (left < 12)
                return nb_errf(err, NB_ERR_FORMAT,
                               "key '%.*s': nested array %llu of %llu runs past the value bytes",
                               SHOWN(key->len), key->ptr, (unsigned long long)i,
                               (unsigned long long)n);
            uint64_t sub;
            nb_status s = walk_elems(p + off + 12, left - 12, nb_load_u32(p + off),
                                     nb_load_u64(p + off + 4), depth + 1, key, &sub, err);
            if (s) return s;
            off += 12 + sub;
        }
    }
    *used = off;
    return NB_OK;
}

nb_status nb_gguf_set_kv(nb_gguf_writer *w, const nb_gguf_kv *kv, nb_err *err) {
    if (!kv) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_gguf_set_kv: kv is NULL");
    const nb_str *key = &kv->key;
    if (!key->ptr && key->len)
        return nb_errf(err, NB_ERR_INVALID_ARG, "nb_gguf_set_kv: key is NULL");
    const char *kp = key->ptr ? key->ptr : "";
    if (!kv->val && kv->val_size)
        return nb_errf(err, NB_ERR_INVALID_ARG, "key '%.*s': value pointer is NULL",
                       SHOWN(key->len), kp);
    uint64_t head = 0; /* bytes written before kv->val: string length, array header */
    size_t fixed = nb_gguf_type_size(kv->type);
    if (fixed) {
        if (kv->val_size != fixed)
            return nb_errf(err, NB_ERR_FORMAT, "key '%.*s': %s value has %llu bytes, expected %zu",
                           SHOWN(key->len), kp, nb_gguf_type_name(kv->type),
                           (unsigned long long)kv->val_size, fixed);
    } else if (kv->type == NB_GGUF_STRING) {
        nb_status s = check_str(kp, key->len, (const char *)kv->val, kv->val_size, UINT64_MAX,
                                err);
        if (s) return s;
        head = 8;
    } else if (kv->type == NB_GGUF_ARRAY) {
        uint64_t used;
        nb_status s = walk_elems(kv->val, kv->val_size, kv->arr_type, kv->arr_n, 0, key, &used,
                                 err);
        if (s) return s;
        if (used != kv->val_size)
            return nb_errf(err, NB_ERR_FORMAT,
                           "key '%.*s': array elements take %llu bytes but the value has %llu",
                           SHOWN(key->len), kp, (unsigned long long)used,
                           (unsigned long long)kv->val_size);
        head = 12;
    } else {
        return nb_errf(err, NB_ERR_FORMAT, "key '%.*s': unknown value type %u", SHOWN(key->len),
                       kp, kv->type);
    }
    kv_build b;
    nb_status s = begin_kv(w, kp, key->len, kv->type, head + kv->val_size, &b, err);
    if (s) return s;
    if (kv->type == NB_GGUF_STRING) {
        nb_store_u64(b.val, kv->val_size);
    } else if (kv->type == NB_GGUF_ARRAY) {
        nb_store_u32(b.val, kv->arr_type);
        nb_store_u64(b.val + 4, kv->arr_n);
    }
    if (kv->val_size) memcpy(b.val + head, kv->val, (size_t)kv->val_size);
    return end_kv(w, &b, err);
}

nb_status nb_gguf_remove_key(nb_gguf_writer *w, const char *key, nb_err *err) {
    if (!w) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_gguf_remove_key: writer is NULL");
    if (!key) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_gguf_remove_key: key is NULL");
    size_t at;
    nb_status s = check_state(w, "remove key", key, strlen(key), err);
    if (s) return s;
    if (!find_key(w, key, strlen(key), &at)) return NB_OK;
    nb_free(&w->alloc, w->kv[at].blob);
    memmove(&w->kv[at], &w->kv[at + 1], (w->n_kv - at - 1) * sizeof *w->kv);
    w->n_kv--;
    /* later entries moved down: rebuild the index in place (O(n), like the
     * memmove; removal is rare, lookups are not) */
    return reindex(w, KEYS, w->n_kv, w->n_kv, err);
}

/* -------------------------------------------------------------- tensors */

nb_status nb_gguf_add_tensor(nb_gguf_writer *w, const char *name, uint32_t type,
                             uint32_t n_dims, const int64_t *ne, nb_err *err) {
    nb_status s;
    if (!w) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_gguf_add_tensor: writer is NULL");
    if (!name) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_gguf_add_tensor: name is NULL");
    size_t len = strlen(name);
    if ((s = check_state(w, "add tensor", name, len, err))) return s;
    if (len == 0) return nb_errf(err, NB_ERR_INVALID_ARG, "tensor name is empty");
    if (len > MAX_NAME)
        return nb_errf(err, NB_ERR_INVALID_ARG,
                       "tensor name '%.*s...' is %zu bytes long; at most %d fit llama.cpp's "
                       "GGML_MAX_NAME", SHOW, name, len, MAX_NAME);
    int found;
    probe(w, TENSORS, name, len, &found);
    if (found) return nb_errf(err, NB_ERR_INVALID_ARG, "duplicate tensor name '%s'", name);
    if (n_dims == 0 || n_dims > NB_GGUF_MAX_DIMS)
        return nb_errf(err, NB_ERR_INVALID_ARG, "tensor '%s': n_dims %u (must be 1 to %d)", name,
                       n_dims, NB_GGUF_MAX_DIMS);
    if (!ne) return nb_errf(err, NB_ERR_INVALID_ARG, "tensor '%s': ne is NULL", name);
    const nb_type_info *ti = nb_type_get(type);
    if (!ti) return nb_errf(err, NB_ERR_INVALID_ARG, "tensor '%s': unknown type id %u", name, type);
    uint64_t nelem = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] <= 0)
            return nb_errf(err, NB_ERR_INVALID_ARG,
                           "tensor '%s': dimension %u is %lld (must be positive)", name, d,
                           (long long)ne[d]);
        if (nb_mul_overflow_u64(nelem, (uint64_t)ne[d], &nelem) || nelem > (uint64_t)INT64_MAX)
            return nb_errf(err, NB_ERR_RANGE,
                           "tensor '%s': element count overflows 64 bits at dimension %u", name,
                           d);
    }
    if ((uint64_t)ne[0] % ti->block_size != 0)
        return nb_errf(err, NB_ERR_INVALID_ARG,
                       "tensor '%s': row length %lld is not a multiple of the %s block size %u",
                       name, (long long)ne[0], ti->name, ti->block_size);
    uint64_t nbytes;
    if (nb_mul_overflow_u64(nelem / ti->block_size, ti->type_size, &nbytes))
        return nb_errf(err, NB_ERR_RANGE, "tensor '%s': byte size overflows 64 bits", name);
    if (w->n_t >= NB_GGUF_MAX_ENTRIES)
        return nb_errf(err, NB_ERR_RANGE, "tensor '%s': more than %llu tensors", name,
                       (unsigned long long)NB_GGUF_MAX_ENTRIES);

    wtensor *nt = grow(w, w->t, w->n_t, &w->cap_t, sizeof *w->t);
    if (!nt) return nb_errf(err, NB_ERR_NOMEM, "tensor '%s': cannot grow the tensor list", name);
    w->t = nt;
    if (2 * (w->n_t + 1) > w->hash_cap[TENSORS] &&
        (s = reindex(w, TENSORS, w->n_t, w->n_t + 1, err)))
        return s;
    char *copy = nb_alloc(&w->alloc, len + 1);
    if (!copy) return nb_errf(err, NB_ERR_NOMEM, "tensor '%s': cannot copy the name", name);
    memcpy(copy, name, len + 1);
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = copy;
    t->name_len = len;
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < NB_GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->nbytes = nbytes;
    w->hash[TENSORS][probe(w, TENSORS, copy, len, &found)] = (uint32_t)(w->n_t + 1);
    w->n_t++;
    return NB_OK;
}

/* --------------------------------------------------------------- output */

static nb_status emit_zeros(nb_gguf_writer *w, uint64_t n, nb_err *err) {
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        nb_status s = emit(w, zeros, k, err);
        if (s) return s;
        n -= k;
    }
    return NB_OK;
}

static uint64_t pad_to(uint64_t n, uint64_t a) {
    return (a - n % a) % a;
}

nb_status nb_gguf_writer_write_header(nb_gguf_writer *w, nb_err *err) {
    nb_status s;
    if (!w) return nb_errf(err, NB_ERR_INVALID_ARG, "write_header: writer is NULL");
    if (w->state != ST_META)
        return nb_errf(err, NB_ERR_INVALID_ARG, "write_header: %s",
                       w->state == ST_FAILED ? "the writer failed earlier"
                                             : "the header was already written");

    size_t at;
    w->alignment = NB_GGUF_DEFAULT_ALIGNMENT;
    if (find_key(w, "general.alignment", 17, &at)) /* validated when set */
        w->alignment = nb_load_u32(w->kv[at].blob + w->kv[at].size - 4);
    uint64_t a = w->alignment, off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        t->offset = off;
        if (nb_add_overflow_u64(off, t->nbytes, &off) ||
            nb_add_overflow_u64(off, pad_to(off, a), &off))
            return nb_errf(err, NB_ERR_RANGE, "tensor '%s': data offset overflows 64 bits",
                           t->name);
    }

    uint8_t head[24];
    memcpy(head, "GGUF", 4);
    nb_store_u32(head + 4, GGUF_VERSION);
    nb_store_u64(head + 8, w->n_t);
    nb_store_u64(head + 16, w->n_kv);
    uint64_t total = sizeof head;
    if ((s = emit(w, head, sizeof head, err))) return s;
    for (size_t i = 0; i < w->n_kv; i++) {
        if ((s = emit(w, w->kv[i].blob, w->kv[i].size, err))) return s;
        total += w->kv[i].size;
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        if ((s = emit_u64(w, t->name_len, err)) || (s = emit(w, t->name, t->name_len, err)) ||
            (s = emit_u32(w, t->n_dims, err)))
            return s;
        for (uint32_t d = 0; d < t->n_dims; d++)
            if ((s = emit_u64(w, (uint64_t)t->ne[d], err))) return s;
        if ((s = emit_u32(w, t->type, err)) || (s = emit_u64(w, t->offset, err))) return s;
        total += 8 + t->name_len + 4 + 8ull * t->n_dims + 4 + 8;
    }
    if ((s = emit_zeros(w, pad_to(total, a), err)) || (s = flush(w, err))) return s;
    free_kvs(w); /* written: the metadata is no longer needed */
    w->state = ST_DATA;
    w->cur = 0;
    w->cur_done = 0;
    return NB_OK;
}

static nb_status check_data_state(const nb_gguf_writer *w, const char *call, nb_err *err) {
    if (!w) return nb_errf(err, NB_ERR_INVALID_ARG, "%s: writer is NULL", call);
    switch (w->state) {
    case ST_META:
        return nb_errf(err, NB_ERR_INVALID_ARG, "%s called before write_header", call);
    case ST_FAILED:
        return nb_errf(err, NB_ERR_INVALID_ARG, "%s: the writer failed earlier", call);
    default: return NB_OK;
    }
}

nb_status nb_gguf_writer_write_data(nb_gguf_writer *w, const void *data, size_t size,
                                    nb_err *err) {
    nb_status s = check_data_state(w, "write_data", err);
    if (s || size == 0) return s;
    if (w->cur >= w->n_t)
        return nb_errf(err, NB_ERR_INVALID_ARG,
                       "write_data: %zu bytes more than declared: all %zu tensors are complete",
                       size, w->n_t);
    wtensor *t = &w->t[w->cur];
    uint64_t left = t->nbytes - w->cur_done;
    if (size > left)
        return nb_errf(err, NB_ERR_INVALID_ARG,
                       "write_data: %zu bytes given but tensor '%s' (%zu of %zu) needs only "
                       "%llu more of its %llu", size, t->name, w->cur + 1, w->n_t,
                       (unsigned long long)left, (unsigned long long)t->nbytes);
    if (!data) return nb_errf(err, NB_ERR_INVALID_ARG, "write_data: data is NULL");
    if ((s = sink(w, data, size, t, err))) return s;
    w->cur_done += size;
    if (w->cur_done < t->nbytes) return NB_OK;
    /* tensor complete: pad it to the alignment, as llama.cpp does */
    for (uint64_t pad = pad_to(t->nbytes, w->alignment); pad;) {
        size_t k = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        if ((s = sink(w, zeros, k, t, err))) return s;
        pad -= k;
    }
    w->cur++;
    w->cur_done = 0;
    return NB_OK;
}

nb_status nb_gguf_writer_finish(nb_gguf_writer *w, nb_err *err) {
    nb_status s = check_data_state(w, "finish", err);
    if (s) return s;
    if (w->cur < w->n_t) {
        const wtensor *t = &w->t[w->cur];
        return nb_errf(err, NB_ERR_INVALID_ARG,
                       "finish: tensor '%s' (%zu of %zu) got %llu of its %llu bytes; %zu "
                       "tensors incomplete", t->name, w->cur + 1, w->n_t,
                       (unsigned long long)w->cur_done, (unsigned long long)t->nbytes,
                       w->n_t - w->cur);
    }
    w->state = ST_DONE;
    return NB_OK;
}
