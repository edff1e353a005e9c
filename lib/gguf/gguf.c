/*
 * GGUF reader over (const void *data, size_t size), zero copy.
 *
 * Layout (GGUF v2/v3, little-endian; docs/gguf.md has the byte diagram):
 *   magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
 *   n_kv      x { string key | u32 value_type | value }
 *   n_tensors x { string name | u32 n_dims | u64 ne[n_dims] | u32 type | u64 offset }
 *   padding to general.alignment | data section
 * A string is { u64 len | len bytes }, an array { u32 elem_type | u64 n | elems }.
 *
 * Every count, length, product and offset read from the file is checked
 * against the bytes that remain and against overflow before it is used:
 * these are the bug classes of the 2024-2026 GGUF CVEs.
 */
#include "gguf_internal.h"

#include <stdint.h>

/* ---------------------------------------------------------------- reader */

typedef struct reader {
    const uint8_t *p;
    size_t size;
    size_t pos;
    nb_err *err;
} reader;

static size_t remaining(const reader *r) {
    return r->size - r->pos;
}

static nb_status need(reader *r, uint64_t n, const char *what) {
    if (n > remaining(r))
        return nb_errf(r->err, NB_ERR_FORMAT,
                       "truncated: %s needs %llu bytes at offset %zu, file has %zu left", what,
                       (unsigned long long)n, r->pos, remaining(r));
    return NB_OK;
}

static nb_status rd_u32(reader *r, uint32_t *v, const char *what) {
    nb_status s = need(r, 4, what);
    if (s) return s;
    *v = nb_load_u32(r->p + r->pos);
    r->pos += 4;
    return NB_OK;
}

static nb_status rd_u64(reader *r, uint64_t *v, const char *what) {
    nb_status s = need(r, 8, what);
    if (s) return s;
    *v = nb_load_u64(r->p + r->pos);
    r->pos += 8;
    return NB_OK;
}

static nb_status rd_str(reader *r, nb_str *out, const char *what) {
    uint64_t len;
    size_t at = r->pos;
    nb_status s = rd_u64(r, &len, what);
    if (s) return s;
    if (len > NB_GGUF_MAX_STRING)
        return nb_errf(r->err, NB_ERR_FORMAT,
                       "%s: string length %llu at offset %zu exceeds the 1 GiB limit", what,
                       (unsigned long long)len, at);
    if (len > remaining(r))
        return nb_errf(r->err, NB_ERR_FORMAT,
                       "%s: string length %llu at offset %zu runs past the end (%zu bytes left)",
                       what, (unsigned long long)len, at, remaining(r));
    out->ptr = (const char *)(r->p + r->pos);
    out->len = len;
    r->pos += (size_t)len;
    return NB_OK;
}

/* ------------------------------------------------------------ value types */

static const char *const gguf_type_names[NB_GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};

const char *nb_gguf_type_name(uint32_t t) {
    return t < NB_GGUF_TYPE_COUNT ? gguf_type_names[t] : "?";
}

size_t nb_gguf_type_size(uint32_t t) {
    switch (t) {
    case NB_GGUF_U8: case NB_GGUF_I8: case NB_GGUF_BOOL: return 1;
    case NB_GGUF_U16: case NB_GGUF_I16: return 2;
    case NB_GGUF_U32: case NB_GGUF_I32: case NB_GGUF_F32: return 4;
    case NB_GGUF_U64: case NB_GGUF_I64: case NB_GGUF_F64: return 8;
    default: return 0;
    }
}

/* Walk one value of type `type` (arrays recursively) and check it fits.
 * `key` names the kv for messages. */
static nb_status skip_value(reader *r, uint32_t type, int depth, const nb_str *key) {
    nb_status s;
    size_t fixed = nb_gguf_type_size(type);
    if (fixed) {
        if ((s = need(r, fixed, "value"))) return s;
        r->pos += fixed;
        return NB_OK;
    }
    if (type == NB_GGUF_STRING) {
        nb_str v;
        return rd_str(r, &v, "string value");
    }
    if (type != NB_GGUF_ARRAY)
        return nb_errf(r->err, NB_ERR_FORMAT, "key '%.*s': unknown value type %u at offset %zu",
                       (int)key->len, key->ptr, type, r->pos - 4);
    if (depth >= NB_GGUF_MAX_DEPTH)
        return nb_errf(r->err, NB_ERR_FORMAT,
                       "key '%.*s': arrays nested deeper than %d levels at offset %zu",
                       (int)key->len, key->ptr, NB_GGUF_MAX_DEPTH, r->pos);
    uint32_t elem;
    uint64_t n;
    if ((s = rd_u32(r, &elem, "array element type")) || (s = rd_u64(r, &n, "array count")))
        return s;
    size_t esize = nb_gguf_type_size(elem);
    if (esize) {
        uint64_t bytes;
        if (nb_mul_overflow_u64(n, esize, &bytes))
            return nb_errf(r->err, NB_ERR_FORMAT,
                           "key '%.*s': array count %llu x element size %zu overflows",
                           (int)key->len, key->ptr, (unsigned long long)n, esize);
        if (bytes > remaining(r))
            return nb_errf(r->err, NB_ERR_FORMAT,
                           "key '%.*s': array of %llu %s needs %llu bytes, file has %zu left",
                           (int)key->len, key->ptr, (unsigned long long)n,
                           nb_gguf_type_name(elem), (unsigned long long)bytes, remaining(r));
        r->pos += (size_t)bytes;
        return NB_OK;
    }
    if (elem != NB_GGUF_STRING && elem != NB_GGUF_ARRAY)
        return nb_errf(r->err, NB_ERR_FORMAT,
                       "key '%.*s': unknown array element type %u at offset %zu", (int)key->len,
                       key->ptr, elem, r->pos - 12);
    /* each string element takes >= 8 bytes, each nested array >= 12 */
    uint64_t min_each = elem == NB_GGUF_STRING ? 8 : 12;
    if (n > remaining(r) / min_each)
        return nb_errf(r->err, NB_ERR_FORMAT,
                       "key '%.*s': array count %llu larger than the file could hold",
                       (int)key->len, key->ptr, (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++)
        if ((s = skip_value(r, elem, depth + 1, key))) return s;
    return NB_OK;
}

/* ------------------------------------------------------------------ index */

static uint64_t hash_bytes(const char *p, uint64_t n, uint32_t salt) {
    uint64_t h = 1469598103934665603ull ^ salt; /* FNV-1a 64 */
    for (uint64_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

#define TENSOR_FLAG 0x80000000u

static nb_str slot_name(const nb_gguf *g, uint32_t slot) {
    uint32_t idx = (slot & ~TENSOR_FLAG) - 1;
    return (slot & TENSOR_FLAG) ? g->tensors[idx].name : g->kv[idx].key;
}

/* Find `name` in the keys (is_tensor 0) or tensor names (1). Returns the
 * table position where it is or where it would go; *found says which. */
static uint64_t hash_probe(const nb_gguf *g, const char *name, uint64_t len, int is_tensor,
                           int *found) {
    uint64_t mask = g->hash_cap - 1;
    uint64_t h = hash_bytes(name, len, (uint32_t)is_tensor) & mask;
    for (;;) {
        uint32_t slot = g->hash[h];
        if (slot == 0) {
            *found = 0;
            return h;
        }
        if (((slot & TENSOR_FLAG) != 0) == (is_tensor != 0)) {
            nb_str s = slot_name(g, slot);
            if (s.len == len && memcmp(s.ptr, name, (size_t)len) == 0) {
                *found = 1;
                return h;
            }
        }
        h = (h + 1) & mask;
    }
}

static uint64_t hash_capacity(uint64_t n_entries) {
    uint64_t cap = 16;
    while (cap < 2 * n_entries) cap <<= 1;
    return cap;
}

/* One allocation holds kv[], tensors[] and hash[]. */
static uint64_t index_bytes(uint64_t n_kv, uint64_t n_tensors) {
    return n_kv * sizeof(nb_gguf_kv) + n_tensors * sizeof(nb_gguf_tensor) +
           hash_capacity(n_kv + n_tensors) * sizeof(uint32_t);
}

/* ----------------------------------------------------------------- header */

#define GGUF_MAGIC 0x46554747u /* "GGUF" read as a little-endian u32 */
#define MIN_KV_BYTES 14        /* u64 len + 1-byte key + u32 type + 1-byte value */
#define MIN_TENSOR_BYTES 33    /* u64 len + 1-byte name + u32 n_dims + u64 ne + u32 type + u64 offset */

static nb_status read_header(reader *r, uint32_t *version, uint64_t *n_tensors, uint64_t *n_kv) {
    nb_status s;
    if (r->size < 4)
        return nb_errf(r->err, NB_ERR_FORMAT, "file too small for a GGUF magic (%zu bytes)",
                       r->size);
    uint32_t magic = nb_load_u32(r->p);
    if (magic != GGUF_MAGIC)
        return nb_errf(r->err, NB_ERR_FORMAT,
                       "bad magic 0x%08x (expected 0x%08x, \"GGUF\"): not a GGUF file", magic,
                       GGUF_MAGIC);
    r->pos = 4;
    if ((s = rd_u32(r, version, "version"))) return s;
    if (*version != 0 && (*version & 0xffff) == 0)
        return nb_errf(r->err, NB_ERR_UNSUPPORTED,
                       "version field 0x%08x: a big-endian GGUF file, not supported", *version);
    if (*version < 2 || *version > 3)
        return nb_errf(r->err, NB_ERR_UNSUPPORTED,
                       "unsupported GGUF version %u (supported: 2 and 3)", *version);
    if ((s = rd_u64(r, n_tensors, "n_tensors")) || (s = rd_u64(r, n_kv, "n_kv"))) return s;
    if (*n_kv > NB_GGUF_MAX_ENTRIES || *n_kv > remaining(r) / MIN_KV_BYTES)
        return nb_errf(r->err, NB_ERR_FORMAT,
                       "n_kv %llu larger than the file could hold (%zu bytes after the header)",
                       (unsigned long long)*n_kv, remaining(r));
    if (*n_tensors > NB_GGUF_MAX_ENTRIES || *n_tensors > remaining(r) / MIN_TENSOR_BYTES ||
        *n_kv * MIN_KV_BYTES + *n_tensors * MIN_TENSOR_BYTES > remaining(r))
        return nb_errf(r->err, NB_ERR_FORMAT,
                       "n_tensors %llu larger than the file could hold (%zu bytes after the "
                       "header, n_kv %llu)",
                       (unsigned long long)*n_tensors, remaining(r), (unsigned long long)*n_kv);
    return NB_OK;
}

size_t nb_gguf_index_size(const void *data, size_t size) {
    reader r = {(const uint8_t *)data, data ? size : 0, 0, NULL};
    uint32_t version;
    uint64_t n_tensors, n_kv;
    if (read_header(&r, &version, &n_tensors, &n_kv)) return 0;
    uint64_t bytes = index_bytes(n_kv, n_tensors) + 16; /* + arena alignment */
    return bytes > SIZE_MAX ? 0 : (size_t)bytes;
}

/* ------------------------------------------------------------ kv section */

static nb_status parse_kvs(reader *r, nb_gguf *g) {
    nb_status s;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        nb_gguf_kv *kv = &g->kv[i];
        size_t at = r->pos;
        if ((s = rd_str(r, &kv->key, "key"))) return s;
        if (kv->key.len == 0)
            return nb_errf(r->err, NB_ERR_FORMAT, "kv %llu: empty key at offset %zu",
                           (unsigned long long)i, at);
        if ((s = rd_u32(r, &kv->type, "value type"))) return s;
        int found;
        uint64_t h = hash_probe(g, kv->key.ptr, kv->key.len, 0, &found);
        if (found)
            return nb_errf(r->err, NB_ERR_FORMAT, "duplicate key '%.*s' (kv %llu, offset %zu)",
                           (int)kv->key.len, kv->key.ptr, (unsigned long long)i, at);
        size_t vstart = r->pos;
        if ((s = skip_value(r, kv->type, 0, &kv->key))) return s;
        kv->arr_type = 0;
        kv->arr_n = 0;
        kv->val = r->p + vstart;
        kv->val_size = r->pos - vstart;
        if (kv->type == NB_GGUF_STRING) { /* value = the string bytes */
            kv->val += 8;
            kv->val_size -= 8;
        } else if (kv->type == NB_GGUF_ARRAY) { /* value = the elements */
            kv->arr_type = nb_load_u32(kv->val);
            kv->arr_n = nb_load_u64(kv->val + 4);
            kv->val += 12;
            kv->val_size -= 12;
        }
        g->hash[h] = (uint32_t)(i + 1);
    }
    return NB_OK;
}

static nb_status check_alignment(nb_gguf *g, nb_err *err) {
    const nb_gguf_kv *kv = nb_gguf_find_key(g, "general.alignment");
    g->alignment = NB_GGUF_DEFAULT_ALIGNMENT;
    if (!kv) return NB_OK;
    if (kv->type != NB_GGUF_U32)
        return nb_errf(err, NB_ERR_FORMAT, "general.alignment has type %s, expected u32",
                       nb_gguf_type_name(kv->type));
    uint32_t a = nb_load_u32(kv->val);
    if (a == 0 || (a & (a - 1)) != 0)
        return nb_errf(err, NB_ERR_FORMAT,
                       "general.alignment %u is not a power of two greater than zero", a);
    g->alignment = a;
    return NB_OK;
}

/* -------------------------------------------------------- tensor section */

static nb_status parse_tensor_infos(reader *r, nb_gguf *g) {
    nb_status s;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        nb_gguf_tensor *t = &g->tensors[i];
        size_t at = r->pos;
        if ((s = rd_str(r, &t->name, "tensor name"))) return s;
        const int nl = (int)(t->name.len > 200 ? 200 : t->name.len);
        if (t->name.len == 0)
            return nb_errf(r->err, NB_ERR_FORMAT, "tensor %llu: empty name at offset %zu",
                           (unsigned long long)i, at);
        int found;
        uint64_t h = hash_probe(g, t->name.ptr, t->name.len, 1, &found);
        if (found)
            return nb_errf(r->err, NB_ERR_FORMAT, "duplicate tensor name '%.*s' (tensor %llu)",
                           nl, t->name.ptr, (unsigned long long)i);
        if ((s = rd_u32(r, &t->n_dims, "n_dims"))) return s;
        if (t->n_dims == 0 || t->n_dims > NB_GGUF_MAX_DIMS)
            return nb_errf(r->err, NB_ERR_FORMAT, "tensor '%.*s': n_dims %u (must be 1 to %d)",
                           nl, t->name.ptr, t->n_dims, NB_GGUF_MAX_DIMS);
        uint64_t nelem = 1;
        for (uint32_t d = 0; d < NB_GGUF_MAX_DIMS; d++) {
            uint64_t ne = 1;
            if (d < t->n_dims) {
                if ((s = rd_u64(r, &ne, "tensor dimension"))) return s;
                if (ne == 0 || ne > (uint64_t)INT64_MAX)
                    return nb_errf(r->err, NB_ERR_FORMAT,
                                   "tensor '%.*s': dimension %u is %lld (must be positive)", nl,
                                   t->name.ptr, d, (long long)ne);
                if (nb_mul_overflow_u64(nelem, ne, &nelem) || nelem > (uint64_t)INT64_MAX)
                    return nb_errf(r->err, NB_ERR_FORMAT,
                                   "tensor '%.*s': element count overflows 64 bits at dimension %u",
                                   nl, t->name.ptr, d);
            }
            t->ne[d] = (int64_t)ne;
        }
        if ((s = rd_u32(r, &t->type, "tensor type"))) return s;
        const nb_type_info *ti = nb_type_get(t->type);
        if (!ti)
            return nb_errf(r->err, NB_ERR_FORMAT, "tensor '%.*s': unknown type id %u", nl,
                           t->name.ptr, t->type);
        if ((uint64_t)t->ne[0] % ti->block_size != 0)
            return nb_errf(r->err, NB_ERR_FORMAT,
                           "tensor '%.*s': row length %lld is not a multiple of the %s block "
                           "size %u",
                           nl, t->name.ptr, (long long)t->ne[0], ti->name, ti->block_size);
        /* bytes = (nelem / block_size) * type_size: nelem is a multiple of
         * block_size since ne[0] is */
        if (nb_mul_overflow_u64(nelem / ti->block_size, ti->type_size, &t->nbytes))
            return nb_errf(r->err, NB_ERR_FORMAT, "tensor '%.*s': byte size overflows 64 bits",
                           nl, t->name.ptr);
        if ((s = rd_u64(r, &t->offset, "tensor offset"))) return s;
        g->hash[h] = (uint32_t)(i + 1) | TENSOR_FLAG;
    }
    return NB_OK;
}

/* In-place heap sort of tensor indices by data offset: no allocation and
 * O(n log n) even on hostile inputs. */
static void sort_by_offset(uint32_t *idx, uint64_t n, const nb_gguf_tensor *t) {
#define KEY(k) t[idx[k]].offset
    for (uint64_t start = n / 2; start-- > 0;) {
        for (uint64_t root = start;;) {
            uint64_t child = 2 * root + 1;
            if (child >= n) break;
            if (child + 1 < n && KEY(child + 1) > KEY(child)) child++;
            if (KEY(root) >= KEY(child)) break;
            uint32_t tmp = idx[root]; idx[root] = idx[child]; idx[child] = tmp;
            root = child;
        }
    }
    for (uint64_t end = n; end-- > 1;) {
        uint32_t tmp = idx[0]; idx[0] = idx[end]; idx[end] = tmp;
        for (uint64_t root = 0;;) {
            uint64_t child = 2 * root + 1;
            if (child >= end) break;
            if (child + 1 < end && KEY(child + 1) > KEY(child)) child++;
            if (KEY(root) >= KEY(child)) break;
            tmp = idx[root]; idx[root] = idx[child]; idx[child] = tmp;
            root = child;
        }
    }
#undef KEY
}

static nb_status place_tensors(nb_gguf *g, uint64_t info_end, int header_only, nb_err *err) {
    uint64_t a = g->alignment;
    if (info_end > UINT64_MAX - (a - 1))
        return nb_errf(err, NB_ERR_FORMAT, "data section offset overflows");
    g->data_offset = (info_end + a - 1) & ~(a - 1);
    if (g->n_tensors == 0) {
        /* a vocab-only file may end before the padding */
        if (g->data_offset > g->size) g->data_offset = g->size;
        return NB_OK;
    }
    /* header only: the data live elsewhere (a converter's source), so
     * only the offsets are checked, against each other */
    uint64_t data_size = header_only ? UINT64_MAX : g->size - g->data_offset;
    if (!header_only && g->data_offset > g->size)
        return nb_errf(err, NB_ERR_FORMAT,
                       "truncated: data section starts at %llu, file is %zu bytes",
                       (unsigned long long)g->data_offset, g->size);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        nb_gguf_tensor *t = &g->tensors[i];
        const int nl = (int)(t->name.len > 200 ? 200 : t->name.len);
        if (t->offset % a != 0)
            return nb_errf(err, NB_ERR_FORMAT,
                           "tensor '%.*s': data offset %llu is not a multiple of the alignment %llu",
                           nl, t->name.ptr, (unsigned long long)t->offset, (unsigned long long)a);
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            return nb_errf(err, NB_ERR_FORMAT,
                           "tensor '%.*s': data [%llu, +%llu) runs past the end of the data "
                           "section (%llu bytes)",
                           nl, t->name.ptr, (unsigned long long)t->offset,
                           (unsigned long long)t->nbytes, (unsigned long long)data_size);
        t->data = header_only ? NULL : g->base + g->data_offset + t->offset;
    }
    /* Overlap check: sort indices by offset in the hash table's memory,
     * which is free again after the lookups below are rebuilt. */
    uint32_t *idx = g->hash;
    for (uint64_t i = 0; i < g->n_tensors; i++) idx[i] = (uint32_t)i;
    sort_by_offset(idx, g->n_tensors, g->tensors);
    nb_status s = NB_OK;
    for (uint64_t i = 0; i + 1 < g->n_tensors && !s; i++) {
        const nb_gguf_tensor *x = &g->tensors[idx[i]], *y = &g->tensors[idx[i + 1]];
        if (x->offset + x->nbytes > y->offset)
            s = nb_errf(err, NB_ERR_FORMAT,
                        "tensor '%.*s' data [%llu, +%llu) overlaps tensor '%.*s' at %llu",
                        (int)(x->name.len > 100 ? 100 : x->name.len), x->name.ptr,
                        (unsigned long long)x->offset, (unsigned long long)x->nbytes,
                        (int)(y->name.len > 100 ? 100 : y->name.len), y->name.ptr,
                        (unsigned long long)y->offset);
    }
    /* rebuild the hash (names were already checked unique) */
    memset(g->hash, 0, (size_t)g->hash_cap * sizeof(uint32_t));
    for (uint64_t i = 0; i < g->n_kv; i++) {
        int found;
        g->hash[hash_probe(g, g->kv[i].key.ptr, g->kv[i].key.len, 0, &found)] = (uint32_t)(i + 1);
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        int found;
        uint64_t h = hash_probe(g, g->tensors[i].name.ptr, g->tensors[i].name.len, 1, &found);
        g->hash[h] = (uint32_t)(i + 1) | TENSOR_FLAG;
    }
    return s;
}

/* ------------------------------------------------------------------ parse */

static nb_status parse(const void *data, size_t size, const nb_allocator *alloc, int header_only,
                       nb_gguf *g, nb_err *err) {
    nb_status s;
    if (!g) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_gguf_parse: output is NULL");
    memset(g, 0, sizeof *g);
    if (!data && size)
        return nb_errf(err, NB_ERR_INVALID_ARG, "nb_gguf_parse: data is NULL with size %zu",
                       size);
    reader r = {(const uint8_t *)data, data ? size : 0, 0, err};
    g->base = r.p;
    g->size = r.size;
    g->alloc = alloc ? *alloc : nb_default_allocator();
    if ((s = read_header(&r, &g->version, &g->n_tensors, &g->n_kv))) return s;

    uint64_t bytes = index_bytes(g->n_kv, g->n_tensors);
    uint8_t *mem = bytes <= SIZE_MAX ? nb_alloc(&g->alloc, (size_t)bytes) : NULL;
    if (!mem)
        return nb_errf(err, NB_ERR_NOMEM, "cannot allocate %llu bytes for the index of %llu kv "
                       "and %llu tensors", (unsigned long long)bytes,
                       (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors);
    memset(mem, 0, (size_t)bytes);
    g->kv = (nb_gguf_kv *)mem;
    g->tensors = (nb_gguf_tensor *)(mem + g->n_kv * sizeof(nb_gguf_kv));
    g->hash = (uint32_t *)(mem + g->n_kv * sizeof(nb_gguf_kv) +
                           g->n_tensors * sizeof(nb_gguf_tensor));
    g->hash_cap = hash_capacity(g->n_kv + g->n_tensors);

    if ((s = parse_kvs(&r, g)) || (s = check_alignment(g, err)) ||
        (s = parse_tensor_infos(&r, g)) || (s = place_tensors(g, r.pos, header_only, err))) {
        nb_gguf_free(g);
        return s;
    }
    return NB_OK;
}

nb_status nb_gguf_parse_ex(const void *data, size_t size, const nb_allocator *alloc, nb_gguf *g,
                           nb_err *err) {
    return parse(data, size, alloc, 0, g, err);
}

nb_status nb_gguf_parse_header(const void *data, size_t size, nb_gguf *g, nb_err *err) {
    return parse(data, size, NULL, 1, g, err);
}

nb_status nb_gguf_parse(const void *data, size_t size, nb_gguf *g, nb_err *err) {
    return nb_gguf_parse_ex(data, size, NULL, g, err);
}

void nb_gguf_free(nb_gguf *g) {
    if (!g) return;
    nb_free(&g->alloc, g->kv); /* kv[] heads the single index allocation */
    g->kv = NULL;
    g->tensors = NULL;
    g->hash = NULL;
    g->n_kv = g->n_tensors = 0;
}

/* ---------------------------------------------------------------- lookups */

int64_t nb_gguf_find_key_index(const nb_gguf *g, const char *key) {
    if (!g || !g->hash || !key) return -1;
    int found;
    uint64_t h = hash_probe(g, key, strlen(key), 0, &found);
    return found ? (int64_t)((g->hash[h] & ~TENSOR_FLAG) - 1) : -1;
}

const nb_gguf_kv *nb_gguf_find_key(const nb_gguf *g, const char *key) {
    int64_t i = nb_gguf_find_key_index(g, key);
    return i < 0 ? NULL : &g->kv[i];
}

int64_t nb_gguf_find_tensor_index(const nb_gguf *g, const char *name) {
    if (!g || !g->hash || !name) return -1;
    int found;
    uint64_t h = hash_probe(g, name, strlen(name), 1, &found);
    return found ? (int64_t)((g->hash[h] & ~TENSOR_FLAG) - 1) : -1;
}

const nb_gguf_tensor *nb_gguf_find_tensor(const nb_gguf *g, const char *name) {
    int64_t i = nb_gguf_find_tensor_index(g, name);
    return i < 0 ? NULL : &g->tensors[i];
}

int64_t nb_tensor_nelements(const nb_gguf_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

int nb_str_eq(nb_str s, const char *cstr) {
    size_t n = strlen(cstr);
    return s.len == n && memcmp(s.ptr, cstr, n) == 0;
}
