/* Importance matrices, as llama-imatrix writes them, in either format:
 *
 * GGUF (current): general.type = "imatrix"; per weight matrix W two F32
 *   tensors "W.in_sum2" (ne = [n_per_row, n_mat]: sums of squared input
 *   activations) and "W.counts" (ne = [1, n_mat]: how many activations were
 *   summed); keys imatrix.datasets (string array), imatrix.chunk_count,
 *   imatrix.chunk_size. Importance = in_sum2 / count (1 where count is 0).
 *
 * Legacy .dat: i32 n_entries; per entry i32 name_len, name bytes,
 *   i32 ncall, i32 nval, f32 values[nval] (mean squares times ncall);
 *   optionally i32 chunk_count, i32 len, dataset bytes. Importance =
 *   values / ncall.
 *
 * Both become, per matrix, n_per_row x n_mat floats (llama-quantize does
 * the same normalization, tools/quantize/quantize.cpp load_imatrix).
 */
#include "../core/core.h"

#include <stdlib.h>
#include <string.h>

void nb_imatrix_free(nb_imatrix *im) {
    if (!im) return;
    for (int64_t i = 0; i < im->n_entries; i++) {
        free(im->e[i].name);
        free(im->e[i].values);
    }
    free(im->e);
    memset(im, 0, sizeof *im);
}

const nb_imatrix_entry *nb_imatrix_find(const nb_imatrix *im, const char *name) {
    if (!im) return NULL;
    for (int64_t i = 0; i < im->n_entries; i++)
        if (!strcmp(im->e[i].name, name)) return &im->e[i];
    return NULL;
}

static nb_status add_entry(nb_imatrix *im, int64_t cap, const char *name, size_t name_len,
                           int64_t n, nb_imatrix_entry **out, nb_err *err) {
    if (im->n_entries >= cap) return nb_errf(err, NB_ERR_FORMAT, "imatrix: too many entries");
    for (int64_t i = 0; i < im->n_entries; i++)
        if (strlen(im->e[i].name) == name_len && !memcmp(im->e[i].name, name, name_len))
            return nb_errf(err, NB_ERR_FORMAT, "imatrix: entry '%.*s' appears twice",
                           (int)name_len, name);
    nb_imatrix_entry *e = &im->e[im->n_entries];
    e->name = malloc(name_len + 1);
    e->values = n > 0 && (uint64_t)n < SIZE_MAX / sizeof(float) ? malloc((size_t)n * sizeof(float))
                                                                : NULL;
    if (!e->name || !e->values) {
        free(e->name);
        free(e->values);
        e->name = NULL;
        e->values = NULL;
        return nb_errf(err, NB_ERR_NOMEM, "imatrix: cannot allocate entry '%.*s' (%lld values)",
                       (int)name_len, name, (long long)n);
    }
    memcpy(e->name, name, name_len);
    e->name[name_len] = 0;
    e->n = n;
    im->n_entries++;
    *out = e;
    return NB_OK;
}

/* --------------------------------------------------------------- legacy */

typedef struct reader {
    const uint8_t *p;
    size_t left;
} reader;

static int rd_i32(reader *r, int32_t *v) {
    if (r->left < 4) return 0;
    *v = (int32_t)nb_load_u32(r->p);
    r->p += 4;
    r->left -= 4;
    return 1;
}

static nb_status load_legacy(const uint8_t *data, size_t size, nb_imatrix *im, nb_err *err) {
    reader r = {data, size};
    int32_t n_entries;
    if (!rd_i32(&r, &n_entries) || n_entries < 1)
        return nb_errf(err, NB_ERR_FORMAT, "imatrix: not a GGUF and no entries as a legacy .dat file");
    /* each entry takes at least 12 bytes + 1 value: bound the count first */
    if ((uint64_t)n_entries > r.left / 16)
        return nb_errf(err, NB_ERR_FORMAT, "imatrix: %d entries cannot fit in %zu bytes",
                       n_entries, size);
    im->e = calloc((size_t)n_entries, sizeof *im->e);
    if (!im->e) return nb_errf(err, NB_ERR_NOMEM, "imatrix: cannot allocate %d entries", n_entries);
    for (int32_t i = 0; i < n_entries; i++) {
        int32_t len, ncall, nval;
        if (!rd_i32(&r, &len) || len <= 0 || (size_t)len > r.left)
            return nb_errf(err, NB_ERR_FORMAT, "imatrix: entry %d: bad name length", i);
        const char *name = (const char *)r.p;
        r.p += len;
        r.left -= (size_t)len;
        if (!rd_i32(&r, &ncall) || !rd_i32(&r, &nval) || nval < 1 ||
            (size_t)nval > r.left / 4)
            return nb_errf(err, NB_ERR_FORMAT,
                           "imatrix: entry %d ('%.*s'): bad value count or truncated data", i,
                           (int)len, name);
        nb_imatrix_entry *e;
        nb_status s = add_entry(im, n_entries, name, (size_t)len, nval, &e, err);
        if (s) return s;
        for (int32_t j = 0; j < nval; j++) {
            float v = nb_load_f32(r.p + 4 * (size_t)j);
            e->values[j] = ncall > 0 ? v / (float)ncall : v;
        }
        r.p += 4 * (size_t)nval;
        r.left -= 4 * (size_t)nval;
    }
    /* optional trailer: chunk count and the dataset's file name */
    int32_t chunks, len;
    if (rd_i32(&r, &chunks)) {
        im->n_chunks = chunks;
        if (rd_i32(&r, &len) && len > 0 && (size_t)len <= r.left) {
            size_t n = (size_t)len < sizeof im->dataset - 1 ? (size_t)len : sizeof im->dataset - 1;
            memcpy(im->dataset, r.p, n);
            im->dataset[n] = 0;
        }
    }
    return NB_OK;
}

/* ----------------------------------------------------------------- GGUF */

static nb_status load_gguf(const uint8_t *data, size_t size, nb_imatrix *im, nb_err *err) {
    nb_gguf g;
    nb_status s = nb_gguf_parse(data, size, &g, err);
    if (s) return s;
    uint64_t n_sums = 0;
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        nb_str n = g.tensors[i].name;
        if (n.len > 8 && !memcmp(n.ptr + n.len - 8, ".in_sum2", 8)) n_sums++;
    }
    if (!n_sums) {
        nb_gguf_free(&g);
        return nb_errf(err, NB_ERR_FORMAT, "imatrix: GGUF file has no *.in_sum2 tensors");
    }
    im->e = calloc((size_t)n_sums, sizeof *im->e);
    if (!im->e) {
        nb_gguf_free(&g);
        return nb_errf(err, NB_ERR_NOMEM, "imatrix: cannot allocate %llu entries",
                       (unsigned long long)n_sums);
    }
    for (uint64_t i = 0; i < g.n_tensors && !s; i++) {
        const nb_gguf_tensor *t = &g.tensors[i];
        if (!(t->name.len > 8 && !memcmp(t->name.ptr + t->name.len - 8, ".in_sum2", 8))) continue;
        size_t base_len = (size_t)t->name.len - 8;
        char cname[300];
        if (base_len + 8 > sizeof cname) {
            s = nb_errf(err, NB_ERR_FORMAT, "imatrix: tensor name too long");
            break;
        }
        memcpy(cname, t->name.ptr, base_len);
        memcpy(cname + base_len, ".counts", 8);
        const nb_gguf_tensor *c = nb_gguf_find_tensor(&g, cname);
        if (!c) {
            s = nb_errf(err, NB_ERR_FORMAT, "imatrix: '%.*s.in_sum2' has no matching .counts",
                        (int)base_len, t->name.ptr);
            break;
        }
        int64_t nval = nb_tensor_nelements(t), ncounts = nb_tensor_nelements(c);
        if (t->type != NB_TYPE_F32 || c->type != NB_TYPE_F32 || ncounts < 1 ||
            nval % ncounts != 0) {
            s = nb_errf(err, NB_ERR_FORMAT,
                        "imatrix: '%.*s': sums (%s, %lld) and counts (%s, %lld) do not match",
                        (int)base_len, t->name.ptr, nb_type_name(t->type), (long long)nval,
                        nb_type_name(c->type), (long long)ncounts);
            break;
        }
        nb_imatrix_entry *e;
        s = add_entry(im, (int64_t)n_sums, t->name.ptr, base_len, nval, &e, err);
        if (s) break;
        const int64_t ne0 = nval / ncounts;
        const uint8_t *sums = t->data, *cnt = c->data;
        for (int64_t m = 0; m < ncounts; m++) {
            float count = nb_load_f32(cnt + 4 * m);
            for (int64_t j = 0; j < ne0; j++) {
                float v = nb_load_f32(sums + 4 * (m * ne0 + j));
                e->values[m * ne0 + j] = count > 0 ? v / count : 1.0f;
            }
        }
    }
    if (!s) {
        const nb_gguf_kv *kv = nb_gguf_find_key(&g, "imatrix.chunk_count");
        int64_t v;
        if (kv && nb_gguf_kv_i64(kv, &v, NULL) == NB_OK) im->n_chunks = v;
        kv = nb_gguf_find_key(&g, "imatrix.datasets");
        uint64_t cur = 0;
        nb_str ds;
        if (kv && kv->type == NB_GGUF_ARRAY && kv->arr_type == NB_GGUF_STRING &&
            nb_gguf_arr_next_str(kv, &cur, &ds) == NB_OK) {
            size_t n = ds.len < sizeof im->dataset - 1 ? (size_t)ds.len : sizeof im->dataset - 1;
            memcpy(im->dataset, ds.ptr, n);
            im->dataset[n] = 0;
        }
    }
    nb_gguf_free(&g);
    return s;
}

nb_status nb_imatrix_load(const void *data, size_t size, nb_imatrix *im, nb_err *err) {
    if (!im) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_imatrix_load: NULL output");
    memset(im, 0, sizeof *im);
    if (!data || size < 4) return nb_errf(err, NB_ERR_FORMAT, "imatrix: file of %zu bytes", size);
    const uint8_t *d = data;
    nb_status s = !memcmp(d, "GGUF", 4) ? load_gguf(d, size, im, err) : load_legacy(d, size, im, err);
    if (s) nb_imatrix_free(im);
    return s;
}
