/* safetensors reader; see safetensors.h for the layout. The checks follow
 * the format's own rules (huggingface/safetensors docs): header size
 * bounded, JSON object, each tensor's byte range equal to its shape times
 * the dtype size, ranges inside the data section and not overlapping. */
#include "safetensors.h"

#include "../core/core.h"
#include "json.h"

#include <stdlib.h>
#include <string.h>

static int dtype_of(const char *s, uint32_t *type, uint32_t *elem) {
    static const struct { const char *name; uint32_t type, size; } known[] = {
        {"F32", NB_TYPE_F32, 4}, {"F16", NB_TYPE_F16, 2}, {"BF16", NB_TYPE_BF16, 2}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(s, known[i].name)) {
            *type = known[i].type;
            *elem = known[i].size;
            return 1;
        }
    return 0;
}

/* dtypes the format defines but a checkpoint converter cannot use as weights */
static int dtype_other(const char *s) {
    static const char *const other[] = {"F64", "I64", "I32", "I16", "I8", "U8", "U16", "U32",
                                        "U64", "BOOL", "F8_E4M3", "F8_E5M2", "F8_E8M0",
                                        "F4", "F6_E2M3", "F6_E3M2", "C64"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (!strcmp(s, other[i])) return 1;
    return 0;
}

static int by_begin(const void *a, const void *b) {
    const nb_st_tensor *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int64_t nb_st_nelements(const nb_st_tensor *t) {
    int64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) n *= t->shape[d];
    return n;
}

static nb_status parse_entry(const nb_json *e, const char *what, uint64_t data_size,
                             nb_st_tensor *t, nb_err *err) {
    const char *name = e->key;
    if (e->kind != NB_JSON_OBJECT)
        return nb_errf(err, NB_ERR_FORMAT, "%s: tensor '%s': entry is not an object", what, name);
    const nb_json *dt = nb_json_get(e, "dtype"), *sh = nb_json_get(e, "shape"),
                  *off = nb_json_get(e, "data_offsets");
    if (!dt || dt->kind != NB_JSON_STRING)
        return nb_errf(err, NB_ERR_FORMAT, "%s: tensor '%s': missing string 'dtype'", what, name);
    if (!sh || sh->kind != NB_JSON_ARRAY)
        return nb_errf(err, NB_ERR_FORMAT, "%s: tensor '%s': missing array 'shape'", what, name);
    if (!off || off->kind != NB_JSON_ARRAY || off->count != 2)
        return nb_errf(err, NB_ERR_FORMAT, "%s: tensor '%s': 'data_offsets' must be [begin, end]",
                       what, name);
    uint32_t elem = 0;
    if (!dtype_of(dt->str, &t->type, &elem)) {
        if (dtype_other(dt->str))
            return nb_errf(err, NB_ERR_UNSUPPORTED,
                           "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 can be converted",
                           what, name, dt->str);
        return nb_errf(err, NB_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%.32s'", what, name,
                       dt->str);
    }
    if (sh->count > NB_ST_MAX_DIMS)
        return nb_errf(err, NB_ERR_UNSUPPORTED, "%s: tensor '%s' has %zu dimensions (max %d)", what,
                       name, sh->count, NB_ST_MAX_DIMS);
    t->name = name;
    t->n_dims = (uint32_t)sh->count;
    uint64_t n = elem;
    uint32_t d = 0;
    for (const nb_json *v = sh->first; v; v = v->next, d++) {
        if (v->kind != NB_JSON_NUMBER || !v->is_int || v->integer < 0)
            return nb_errf(err, NB_ERR_FORMAT,
                           "%s: tensor '%s': shape[%u] is not a non-negative integer", what, name, d);
        t->shape[d] = v->integer;
        if (nb_mul_overflow_u64(n, (uint64_t)v->integer, &n))
            return nb_errf(err, NB_ERR_RANGE, "%s: tensor '%s': shape overflows", what, name);
    }
    const nb_json *b = off->first, *en = b->next;
    if (b->kind != NB_JSON_NUMBER || !b->is_int || b->integer < 0 || en->kind != NB_JSON_NUMBER ||
        !en->is_int || en->integer < 0)
        return nb_errf(err, NB_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets are not non-negative integers", what, name);
    t->begin = (uint64_t)b->integer;
    t->end = (uint64_t)en->integer;
    if (t->end < t->begin)
        return nb_errf(err, NB_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] end before begin",
                       what, name, (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end > data_size)
        return nb_errf(err, NB_ERR_FORMAT,
                       "%s: tensor '%s': data_offsets [%llu, %llu] beyond the %llu bytes of data "
                       "(truncated file?)",
                       what, name, (unsigned long long)t->begin, (unsigned long long)t->end,
                       (unsigned long long)data_size);
    if (t->end - t->begin != n)
        return nb_errf(err, NB_ERR_FORMAT,
                       "%s: tensor '%s': %llu bytes in data_offsets but shape x %s needs %llu", what,
                       name, (unsigned long long)(t->end - t->begin), dt->str, (unsigned long long)n);
    return NB_OK;
}

nb_status nb_safetensors_parse(const void *data, size_t size, const char *what,
                               nb_safetensors *st, nb_err *err) {
    if (!what) what = "safetensors";
    if (!st || (!data && size)) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_safetensors_parse: NULL argument");
    memset(st, 0, sizeof *st);
    const uint8_t *p = data;
    if (size < 8)
        return nb_errf(err, NB_ERR_FORMAT, "%s: %zu bytes, too short for the 8-byte header length",
                       what, size);
    uint64_t n = nb_load_u64(p);
    if (n > NB_ST_MAX_HEADER)
        return nb_errf(err, NB_ERR_FORMAT, "%s: header length %llu exceeds the 100 MB limit", what,
                       (unsigned long long)n);
    if (n > size - 8)
        return nb_errf(err, NB_ERR_FORMAT, "%s: header length %llu beyond the end of the %zu-byte file",
                       what, (unsigned long long)n, size);
    if (n < 2 || p[8] != '{')
        return nb_errf(err, NB_ERR_FORMAT, "%s: header does not start with '{' (not a safetensors file?)",
                       what);
    nb_json_doc *doc = NULL;
    nb_status s = nb_json_parse((const char *)p + 8, (size_t)n, what, NULL, NULL, &doc, err);
    if (s) return s;
    const nb_json *root = nb_json_root(doc);
    if (root->kind != NB_JSON_OBJECT) {
        nb_json_free(doc);
        return nb_errf(err, NB_ERR_FORMAT, "%s: header is not a JSON object", what);
    }
    uint64_t data_size = size - 8 - n;
    size_t count = 0;
    for (const nb_json *e = root->first; e; e = e->next)
        if (strcmp(e->key, "__metadata__")) count++;
    nb_st_tensor *ts = count ? calloc(count, sizeof *ts) : NULL;
    const char **names = count ? malloc(count * sizeof *names) : NULL;
    if (count && (!ts || !names)) {
        free(ts);
        free(names);
        nb_json_free(doc);
        return nb_errf(err, NB_ERR_NOMEM, "%s: cannot allocate %zu tensor entries", what, count);
    }
    size_t i = 0;
    for (const nb_json *e = root->first; e && !s; e = e->next) {
        if (!strcmp(e->key, "__metadata__")) {
            if (e->kind != NB_JSON_OBJECT)
                s = nb_errf(err, NB_ERR_FORMAT, "%s: __metadata__ is not an object", what);
            for (const nb_json *m = e->first; m && !s; m = m->next)
                if (m->kind != NB_JSON_STRING)
                    s = nb_errf(err, NB_ERR_FORMAT, "%s: __metadata__ value '%s' is not a string",
                                what, m->key);
            continue;
        }
        if (strlen(e->key) != e->key_len || e->key_len == 0)
            s = nb_errf(err, NB_ERR_FORMAT, "%s: empty tensor name or name containing NUL", what);
        else
            s = parse_entry(e, what, data_size, &ts[i], err);
        if (!s) {
            ts[i].data = p + 8 + n + ts[i].begin;
            names[i] = ts[i].name;
            i++;
        }
    }
    if (!s && count) {
        qsort(names, count, sizeof *names, by_name);
        for (size_t k = 1; k < count && !s; k++)
            if (!strcmp(names[k - 1], names[k]))
                s = nb_errf(err, NB_ERR_FORMAT, "%s: tensor '%s' appears twice", what, names[k]);
        qsort(ts, count, sizeof *ts, by_begin);
        for (size_t k = 1; k < count && !s; k++)
            if (ts[k].begin < ts[k - 1].end && ts[k].begin != ts[k].end &&
                ts[k - 1].begin != ts[k - 1].end)
                s = nb_errf(err, NB_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap (bytes %llu..%llu)",
                            what, ts[k - 1].name, ts[k].name, (unsigned long long)ts[k].begin,
                            (unsigned long long)ts[k - 1].end);
    }
    free(names);
    if (s) {
        free(ts);
        nb_json_free(doc);
        return s;
    }
    st->base = p;
    st->size = size;
    st->header_size = n;
    st->n_tensors = count;
    st->tensors = ts;
    st->doc = doc;
    return NB_OK;
}

void nb_safetensors_free(nb_safetensors *st) {
    if (!st) return;
    free(st->tensors);
    nb_json_free(st->doc);
    memset(st, 0, sizeof *st);
}

const nb_st_tensor *nb_safetensors_find(const nb_safetensors *st, const char *name) {
    for (size_t i = 0; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}
