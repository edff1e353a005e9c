/* Typed access to GGUF metadata values. Integer getters accept any integer
 * type whose value fits (converters disagree on i32 vs u32 for counts);
 * float getters accept f32 and f64; everything else is a type error that
 * names the key. */
#include "gguf_internal.h"

static int is_int_type(uint32_t t) {
    return t == NB_GGUF_U8 || t == NB_GGUF_I8 || t == NB_GGUF_U16 || t == NB_GGUF_I16 ||
           t == NB_GGUF_U32 || t == NB_GGUF_I32 || t == NB_GGUF_U64 || t == NB_GGUF_I64;
}

/* Scalar at p of type t, as signed/unsigned 64-bit; *neg set when negative. */
static uint64_t load_int(const uint8_t *p, uint32_t t, int *neg) {
    int64_t v = 0;
    *neg = 0;
    switch (t) {
    case NB_GGUF_U8: return p[0];
    case NB_GGUF_I8: v = (int8_t)p[0]; break;
    case NB_GGUF_U16: return nb_load_u16(p);
    case NB_GGUF_I16: v = (int16_t)nb_load_u16(p); break;
    case NB_GGUF_U32: return nb_load_u32(p);
    case NB_GGUF_I32: v = (int32_t)nb_load_u32(p); break;
    case NB_GGUF_U64: return nb_load_u64(p);
    case NB_GGUF_I64: v = (int64_t)nb_load_u64(p); break;
    default: return 0;
    }
    *neg = v < 0;
    return (uint64_t)v;
}

static double load_num(const uint8_t *p, uint32_t t) {
    if (t == NB_GGUF_F32) return nb_load_f32(p);
    if (t == NB_GGUF_F64) return nb_load_f64(p);
    if (t == NB_GGUF_BOOL) return p[0] != 0;
    int neg;
    uint64_t u = load_int(p, t, &neg);
    return neg ? (double)(int64_t)u : (double)u;
}

static nb_status kv_type_err(const nb_gguf_kv *kv, const char *want, nb_err *err) {
    return nb_errf(err, NB_ERR_TYPE, "key '%.*s' has type %s, expected %s", (int)kv->key.len,
                   kv->key.ptr, nb_gguf_type_name(kv->type), want);
}

nb_status nb_gguf_kv_i64(const nb_gguf_kv *kv, int64_t *out, nb_err *err) {
    if (!is_int_type(kv->type)) return kv_type_err(kv, "an integer", err);
    int neg;
    uint64_t u = load_int(kv->val, kv->type, &neg);
    if (!neg && u > (uint64_t)INT64_MAX)
        return nb_errf(err, NB_ERR_RANGE, "key '%.*s': value %llu does not fit in i64",
                       (int)kv->key.len, kv->key.ptr, (unsigned long long)u);
    *out = (int64_t)u;
    return NB_OK;
}

nb_status nb_gguf_kv_u64(const nb_gguf_kv *kv, uint64_t *out, nb_err *err) {
    if (!is_int_type(kv->type)) return kv_type_err(kv, "an integer", err);
    int neg;
    uint64_t u = load_int(kv->val, kv->type, &neg);
    if (neg)
        return nb_errf(err, NB_ERR_RANGE, "key '%.*s': value %lld is negative", (int)kv->key.len,
                       kv->key.ptr, (long long)(int64_t)u);
    *out = u;
    return NB_OK;
}

nb_status nb_gguf_kv_f64(const nb_gguf_kv *kv, double *out, nb_err *err) {
    if (!nb_gguf_type_size(kv->type)) return kv_type_err(kv, "a number", err);
    *out = load_num(kv->val, kv->type);
    return NB_OK;
}

static nb_status find(const nb_gguf *g, const char *key, const nb_gguf_kv **kv, nb_err *err) {
    *kv = nb_gguf_find_key(g, key);
    if (!*kv) return nb_errf(err, NB_ERR_NOT_FOUND, "key '%s' not found", key);
    return NB_OK;
}

nb_status nb_gguf_get_u64(const nb_gguf *g, const char *key, uint64_t *out, nb_err *err) {
    const nb_gguf_kv *kv;
    nb_status s = find(g, key, &kv, err);
    return s ? s : nb_gguf_kv_u64(kv, out, err);
}

nb_status nb_gguf_get_i64(const nb_gguf *g, const char *key, int64_t *out, nb_err *err) {
    const nb_gguf_kv *kv;
    nb_status s = find(g, key, &kv, err);
    return s ? s : nb_gguf_kv_i64(kv, out, err);
}

nb_status nb_gguf_get_u32(const nb_gguf *g, const char *key, uint32_t *out, nb_err *err) {
    uint64_t v;
    nb_status s = nb_gguf_get_u64(g, key, &v, err);
    if (s) return s;
    if (v > UINT32_MAX)
        return nb_errf(err, NB_ERR_RANGE, "key '%s': value %llu does not fit in u32", key,
                       (unsigned long long)v);
    *out = (uint32_t)v;
    return NB_OK;
}

nb_status nb_gguf_get_i32(const nb_gguf *g, const char *key, int32_t *out, nb_err *err) {
    int64_t v;
    nb_status s = nb_gguf_get_i64(g, key, &v, err);
    if (s) return s;
    if (v < INT32_MIN || v > INT32_MAX)
        return nb_errf(err, NB_ERR_RANGE, "key '%s': value %lld does not fit in i32", key,
                       (long long)v);
    *out = (int32_t)v;
    return NB_OK;
}

nb_status nb_gguf_get_f64(const nb_gguf *g, const char *key, double *out, nb_err *err) {
    const nb_gguf_kv *kv;
    nb_status s = find(g, key, &kv, err);
    if (s) return s;
    if (kv->type != NB_GGUF_F32 && kv->type != NB_GGUF_F64) return kv_type_err(kv, "f32", err);
    *out = load_num(kv->val, kv->type);
    return NB_OK;
}

nb_status nb_gguf_get_f32(const nb_gguf *g, const char *key, float *out, nb_err *err) {
    double d;
    nb_status s = nb_gguf_get_f64(g, key, &d, err);
    if (!s) *out = (float)d;
    return s;
}

nb_status nb_gguf_get_bool(const nb_gguf *g, const char *key, int *out, nb_err *err) {
    const nb_gguf_kv *kv;
    nb_status s = find(g, key, &kv, err);
    if (s) return s;
    if (kv->type != NB_GGUF_BOOL) return kv_type_err(kv, "bool", err);
    *out = kv->val[0] != 0;
    return NB_OK;
}

nb_status nb_gguf_get_str(const nb_gguf *g, const char *key, nb_str *out, nb_err *err) {
    const nb_gguf_kv *kv;
    nb_status s = find(g, key, &kv, err);
    if (s) return s;
    if (kv->type != NB_GGUF_STRING) return kv_type_err(kv, "string", err);
    out->ptr = (const char *)kv->val;
    out->len = kv->val_size;
    return NB_OK;
}

nb_status nb_gguf_get_arr(const nb_gguf *g, const char *key, uint32_t elem,
                          const nb_gguf_kv **out, nb_err *err) {
    const nb_gguf_kv *kv;
    nb_status s = find(g, key, &kv, err);
    if (s) return s;
    if (kv->type != NB_GGUF_ARRAY) return kv_type_err(kv, "array", err);
    if (elem != NB_GGUF_TYPE_COUNT && kv->arr_type != elem)
        return nb_errf(err, NB_ERR_TYPE, "key '%s' is an array of %s, expected array of %s", key,
                       nb_gguf_type_name(kv->arr_type), nb_gguf_type_name(elem));
    *out = kv;
    return NB_OK;
}

static nb_status arr_elem(const nb_gguf_kv *kv, uint64_t i, const uint8_t **p, nb_err *err) {
    size_t es = kv->type == NB_GGUF_ARRAY ? nb_gguf_type_size(kv->arr_type) : 0;
    if (!es)
        return nb_errf(err, NB_ERR_TYPE, "key '%.*s' is not an array of numbers",
                       (int)kv->key.len, kv->key.ptr);
    if (i >= kv->arr_n)
        return nb_errf(err, NB_ERR_RANGE, "key '%.*s': index %llu out of %llu elements",
                       (int)kv->key.len, kv->key.ptr, (unsigned long long)i,
                       (unsigned long long)kv->arr_n);
    *p = kv->val + i * es;
    return NB_OK;
}

nb_status nb_gguf_arr_i64(const nb_gguf_kv *kv, uint64_t i, int64_t *out, nb_err *err) {
    const uint8_t *p = NULL;
    nb_status s = arr_elem(kv, i, &p, err);
    if (s) return s;
    if (!is_int_type(kv->arr_type) && kv->arr_type != NB_GGUF_BOOL)
        return nb_errf(err, NB_ERR_TYPE, "key '%.*s' is an array of %s, expected integers",
                       (int)kv->key.len, kv->key.ptr, nb_gguf_type_name(kv->arr_type));
    if (kv->arr_type == NB_GGUF_BOOL) {
        *out = p[0] != 0;
        return NB_OK;
    }
    int neg;
    uint64_t u = load_int(p, kv->arr_type, &neg);
    if (!neg && u > (uint64_t)INT64_MAX)
        return nb_errf(err, NB_ERR_RANGE, "key '%.*s'[%llu]: value does not fit in i64",
                       (int)kv->key.len, kv->key.ptr, (unsigned long long)i);
    *out = (int64_t)u;
    return NB_OK;
}

nb_status nb_gguf_arr_f64(const nb_gguf_kv *kv, uint64_t i, double *out, nb_err *err) {
    const uint8_t *p = NULL;
    nb_status s = arr_elem(kv, i, &p, err);
    if (s) return s;
    *out = load_num(p, kv->arr_type);
    return NB_OK;
}

nb_status nb_gguf_arr_next_str(const nb_gguf_kv *kv, uint64_t *cursor, nb_str *out) {
    if (kv->type != NB_GGUF_ARRAY || kv->arr_type != NB_GGUF_STRING) return NB_ERR_TYPE;
    if (*cursor + 8 > kv->val_size) return NB_ERR_NOT_FOUND;
    uint64_t len = nb_load_u64(kv->val + *cursor);
    if (len > kv->val_size - *cursor - 8) return NB_ERR_FORMAT; /* not from the parser */
    out->ptr = (const char *)kv->val + *cursor + 8;
    out->len = len;
    *cursor += 8 + len;
    return NB_OK;
}

/* Size of one (already validated) value of type t at p, within `avail`. */
static uint64_t value_size(const uint8_t *p, uint64_t avail, uint32_t t, int depth) {
    size_t fixed = nb_gguf_type_size(t);
    if (fixed) return fixed <= avail ? fixed : 0;
    if (t == NB_GGUF_STRING) {
        if (avail < 8) return 0;
        uint64_t len = nb_load_u64(p);
        return len <= avail - 8 ? 8 + len : 0;
    }
    if (t != NB_GGUF_ARRAY || depth >= NB_GGUF_MAX_DEPTH || avail < 12) return 0;
    uint32_t elem = nb_load_u32(p);
    uint64_t n = nb_load_u64(p + 4), off = 12;
    size_t es = nb_gguf_type_size(elem);
    if (es) {
        uint64_t bytes;
        if (nb_mul_overflow_u64(n, es, &bytes) || bytes > avail - 12) return 0;
        return 12 + bytes;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t sz = value_size(p + off, avail - off, elem, depth + 1);
        if (!sz) return 0;
        off += sz;
    }
    return off;
}

nb_status nb_gguf_arr_next_arr(const nb_gguf_kv *kv, uint64_t *cursor, nb_gguf_kv *out) {
    if (kv->type != NB_GGUF_ARRAY || kv->arr_type != NB_GGUF_ARRAY) return NB_ERR_TYPE;
    if (*cursor >= kv->val_size) return NB_ERR_NOT_FOUND;
    const uint8_t *p = kv->val + *cursor;
    uint64_t sz = value_size(p, kv->val_size - *cursor, NB_GGUF_ARRAY, 1);
    if (!sz) return NB_ERR_FORMAT;
    memset(out, 0, sizeof *out);
    out->key.ptr = "";
    out->type = NB_GGUF_ARRAY;
    out->arr_type = nb_load_u32(p);
    out->arr_n = nb_load_u64(p + 4);
    out->val = p + 12;
    out->val_size = sz - 12;
    *cursor += sz;
    return NB_OK;
}
