/* The quantizer driver: a GGUF in, a quantized GGUF out, streamed.
 *
 *   1. plan: the policy (policy.c) picks every tensor's type, in file order;
 *   2. metadata: every key copied, general.file_type and
 *      general.quantization_version set (llama.cpp writes 2, the version of
 *      the block formats since May 2023), imatrix provenance added;
 *   3. data: for each tensor, chunks of rows are converted to F32,
 *      quantized (rows split across threads), written, and decoded again to
 *      measure the relative RMSE. Memory holds one chunk, never the model.
 */
#include "../core/core.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define QNT_VERSION 2
/* rows per chunk are chosen so one chunk holds at most this many values */
#define CHUNK_VALUES (1 << 20)

static int64_t key_int(const nb_gguf *g, const char *arch, const char *suffix, int64_t dflt) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    const nb_gguf_kv *kv = nb_gguf_find_key(g, key);
    int64_t v;
    if (!kv || nb_gguf_kv_i64(kv, &v, NULL) != NB_OK) return dflt;
    return v;
}

static void tensor_name(const nb_gguf_tensor *t, char *buf, size_t size) {
    size_t n = t->name.len < size - 1 ? (size_t)t->name.len : size - 1;
    memcpy(buf, t->name.ptr, n);
    buf[n] = 0;
}

void nb_quant_model_facts_get(const nb_gguf *g, int has_imatrix, nb_quant_model_facts *f) {
    memset(f, 0, sizeof *f);
    char arch[64] = "llama";
    nb_str a;
    if (nb_gguf_get_str(g, "general.architecture", &a, NULL) == NB_OK && a.len < sizeof arch) {
        memcpy(arch, a.ptr, a.len);
        arch[a.len] = 0;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        char name[256];
        tensor_name(&g->tensors[i], name, sizeof name);
        if (strstr(name, "attn_v.weight") || strstr(name, "attn_qkv.weight") ||
            strstr(name, "attn_kv_b.weight"))
            f->n_attention_wv++;
        if (!strcmp(name, "output.weight")) f->has_output = 1;
    }
    int64_t n_layer = key_int(g, arch, "block_count", 0);
    int64_t n_head = key_int(g, arch, "attention.head_count", 1);
    int64_t n_head_kv = key_int(g, arch, "attention.head_count_kv", n_head);
    f->n_ffn_down = (int)n_layer;
    f->n_gqa = n_head_kv > 0 ? (int)(n_head / n_head_kv) : 1;
    f->n_expert = (int)key_int(g, arch, "expert_count", 0);
    f->has_imatrix = has_imatrix;
    f->falcon = !strcmp(arch, "falcon");
    f->is_70b = !strcmp(arch, "llama") && n_layer == 80;
}

/* ------------------------------------------------------------ the plan */

typedef struct plan_entry {
    char name[256];
    nb_quant_choice c;
    const nb_imatrix_entry *im;
} plan_entry;

static int is_float_type(uint32_t t) {
    return t == NB_TYPE_F32 || t == NB_TYPE_F16 || t == NB_TYPE_BF16;
}

static nb_status make_plan(const nb_gguf *in, const nb_quant_params *p, plan_entry *plan,
                           nb_err *err) {
    nb_quant_model_facts facts;
    nb_quant_model_facts_get(in, p->imatrix != NULL, &facts);
    nb_quant_policy pol;
    nb_quant_policy_init(&pol, &p->target, p->pure, &facts);

    for (uint64_t i = 0; i < in->n_tensors; i++) {
        const nb_gguf_tensor *t = &in->tensors[i];
        plan_entry *e = &plan[i];
        e->im = NULL;
        if (t->name.len >= sizeof e->name)
            return nb_errf(err, NB_ERR_UNSUPPORTED, "tensor %llu: name of %llu bytes is too long",
                           (unsigned long long)i, (unsigned long long)t->name.len);
        tensor_name(t, e->name, sizeof e->name);
        int ov = -1;
        if (p->override_type && nb_quant_wants(e->name, t->n_dims))
            ov = p->override_type(p->override_user, e->name);
        e->c = nb_quant_policy_choose(&pol, e->name, t->n_dims, t->ne, t->type, ov);
        if (!e->c.quantize) continue;

        const nb_type_info *in_ti = nb_type_get(t->type), *out_ti = nb_type_get(e->c.type);
        if (!in_ti || !in_ti->to_float)
            return nb_errf(err, NB_ERR_UNSUPPORTED, "tensor '%s': cannot read type %s", e->name,
                           nb_type_name(t->type));
        if (!is_float_type(t->type) && !p->allow_requantize)
            return nb_errf(err, NB_ERR_UNSUPPORTED,
                           "tensor '%s' is already quantized (%s); requantizing loses quality "
                           "(allow it explicitly)",
                           e->name, in_ti->name);
        if (!out_ti || !out_ti->quantize)
            return nb_errf(err, NB_ERR_UNSUPPORTED, "tensor '%s': nibble cannot write type %s",
                           e->name, nb_type_name(e->c.type));
        if (p->imatrix) {
            e->im = nb_imatrix_find(p->imatrix, e->name);
            int64_t n_mat = t->ne[2] * t->ne[3];
            if (e->im && e->im->n != t->ne[0] * n_mat)
                return nb_errf(err, NB_ERR_FORMAT,
                               "imatrix entry '%s' has %lld values, the tensor needs %lld (%lld "
                               "per row x %lld matrices)",
                               e->name, (long long)e->im->n, (long long)(t->ne[0] * n_mat),
                               (long long)t->ne[0], (long long)n_mat);
        }
    }
    return NB_OK;
}

/* ------------------------------------------------------------ metadata */

static nb_status write_metadata(nb_gguf_writer *w, const nb_gguf *in, const nb_quant_params *p,
                                nb_err *err) {
    nb_status s = NB_OK;
    for (uint64_t i = 0; i < in->n_kv && !s; i++) s = nb_gguf_set_kv(w, &in->kv[i], err);
    if (!s) s = nb_gguf_set_u32(w, "general.quantization_version", QNT_VERSION, err);
    if (!s) s = nb_gguf_set_u32(w, "general.file_type", (uint32_t)p->target.ftype, err);
    /* an old imatrix record would describe a different quantization */
    static const char *const stale[] = {"quantize.imatrix.file", "quantize.imatrix.dataset",
                                        "quantize.imatrix.entries_count",
                                        "quantize.imatrix.chunks_count"};
    for (size_t i = 0; i < 4 && !s; i++) s = nb_gguf_remove_key(w, stale[i], err);
    if (!s && p->imatrix) {
        if (p->imatrix_file) s = nb_gguf_set_str(w, "quantize.imatrix.file", p->imatrix_file, err);
        if (!s && p->imatrix->dataset[0])
            s = nb_gguf_set_str(w, "quantize.imatrix.dataset", p->imatrix->dataset, err);
        if (!s)
            s = nb_gguf_set_i32(w, "quantize.imatrix.entries_count",
                                (int32_t)p->imatrix->n_entries, err);
        if (!s && p->imatrix->n_chunks > 0)
            s = nb_gguf_set_i32(w, "quantize.imatrix.chunks_count",
                                (int32_t)p->imatrix->n_chunks, err);
    }
    return s;
}

/* ---------------------------------------------------------------- data */

typedef struct work {
    float *x;          /* chunk of input rows as F32      */
    uint8_t *q;        /* the same rows quantized         */
    float *y;          /* decoded again, for the error    */
    double *err2, *sum2; /* per row                        */
} work;

static int report(const nb_quant_params *p, nb_quant_status *st) {
    return p->progress ? p->progress(p->progress_user, st) : 0;
}

/* Quantize rows [r0, r0 + nr) of tensor t (rows of ne0 values) into w.q. */
static void quantize_chunk(const nb_gguf_tensor *t, const plan_entry *e, int64_t r0, int64_t nr,
                           int n_threads, int have_x, work *w) {
    const int64_t ne0 = t->ne[0], rows_per_mat = t->ne[1];
    const nb_type_info *in_ti = nb_type_get(t->type), *out_ti = nb_type_get(e->c.type);
    const size_t in_row = nb_row_size(t->type, ne0), out_row = nb_row_size(e->c.type, ne0);
    (void)n_threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 4) num_threads(n_threads)
#endif
    for (int64_t r = 0; r < nr; r++) {
        const int64_t row = r0 + r;
        float *x = w->x + r * ne0, *y = w->y + r * ne0;
        uint8_t *q = w->q + (size_t)r * out_row;
        if (!have_x) in_ti->to_float((const uint8_t *)t->data + (size_t)row * in_row, x, ne0);
        /* an imatrix holds one row of weights per expert matrix */
        const float *imat = e->im ? e->im->values + (row / rows_per_mat) * ne0 : NULL;
        out_ti->quantize(x, q, ne0, imat);
        out_ti->to_float(q, y, ne0);
        double e2 = 0, s2 = 0;
        for (int64_t j = 0; j < ne0; j++) {
            double d = (double)x[j] - (double)y[j];
            e2 += d * d;
            s2 += (double)x[j] * x[j];
        }
        w->err2[r] = e2;
        w->sum2[r] = s2;
    }
}

static nb_status write_tensor(nb_gguf_writer *w, const nb_gguf *in, uint64_t i,
                              const plan_entry *e, const nb_quant_params *p, int n_threads,
                              work *wk, nb_quant_status *st, nb_err *err) {
    const nb_gguf_tensor *t = &in->tensors[i];
    st->event = NB_QUANT_TENSOR_BEGIN;
    st->i_tensor = (int64_t)i;
    st->name = e->name;
    st->n_dims = t->n_dims;
    st->ne = t->ne;
    st->in_type = t->type;
    st->choice = e->c;
    st->bytes_in = t->nbytes;
    st->bytes_out = e->c.quantize ? nb_row_size(e->c.type, t->ne[0]) *
                                        (uint64_t)(nb_tensor_nelements(t) / t->ne[0])
                                  : t->nbytes;
    st->rel_rmse = 0;
    st->used_imatrix = e->im != NULL;
    if (report(p, st)) return nb_errf(err, NB_ERR_CANCELLED, "cancelled at tensor '%s'", e->name);

    nb_status s;
    if (!e->c.quantize && !p->read_rows) {
        s = nb_gguf_writer_write_data(w, t->data, t->nbytes, err);
        st->done_in += t->nbytes;
    } else if (!e->c.quantize) { /* F32 rows from the source, copied */
        const int64_t ne0 = t->ne[0], n_rows = nb_tensor_nelements(t) / ne0;
        int64_t chunk = CHUNK_VALUES / ne0;
        if (chunk < 1) chunk = 1;
        s = NB_OK;
        for (int64_t r0 = 0; r0 < n_rows && !s; r0 += chunk) {
            int64_t nr = n_rows - r0 < chunk ? n_rows - r0 : chunk;
            s = p->read_rows(p->read_user, i, r0, nr, wk->x, err);
            if (!s) s = nb_gguf_writer_write_data(w, wk->x, (size_t)(nr * ne0) * sizeof(float), err);
            st->done_in += (uint64_t)(nr * ne0) * sizeof(float);
        }
    } else {
        const int64_t ne0 = t->ne[0], n_rows = nb_tensor_nelements(t) / ne0;
        int64_t chunk = CHUNK_VALUES / ne0;
        if (chunk < 1) chunk = 1;
        const size_t in_row = t->nbytes / (uint64_t)n_rows, out_row = nb_row_size(e->c.type, ne0);
        double e2 = 0, s2 = 0;
        s = NB_OK;
        for (int64_t r0 = 0; r0 < n_rows && !s; r0 += chunk) {
            int64_t nr = n_rows - r0 < chunk ? n_rows - r0 : chunk;
            if (p->read_rows && (s = p->read_rows(p->read_user, i, r0, nr, wk->x, err))) break;
            quantize_chunk(t, e, r0, nr, n_threads, p->read_rows != NULL, wk);
            for (int64_t r = 0; r < nr; r++) { /* in row order: same sums for any thread count */
                e2 += wk->err2[r];
                s2 += wk->sum2[r];
            }
            s = nb_gguf_writer_write_data(w, wk->q, (size_t)nr * out_row, err);
            st->done_in += (uint64_t)nr * in_row;
            st->event = NB_QUANT_PROGRESS;
            if (!s && report(p, st))
                s = nb_errf(err, NB_ERR_CANCELLED, "cancelled in tensor '%s'", e->name);
        }
        st->rel_rmse = s2 > 0 ? sqrt(e2 / s2) : (e2 > 0 ? INFINITY : 0);
    }
    if (s) return s;
    st->event = NB_QUANT_TENSOR_END;
    if (report(p, st)) return nb_errf(err, NB_ERR_CANCELLED, "cancelled after tensor '%s'", e->name);
    return NB_OK;
}

static void work_free(work *w) {
    nb_free(NULL, w->x);
    nb_free(NULL, w->q);
    nb_free(NULL, w->y);
    nb_free(NULL, w->err2);
    nb_free(NULL, w->sum2);
}

/* Buffers for the largest chunk of any tensor to be quantized. */
static nb_status work_alloc(const nb_gguf *in, const plan_entry *plan, int all, work *w,
                            nb_err *err) {
    size_t max_vals = 0, max_rows = 0, max_q = 0;
    for (uint64_t i = 0; i < in->n_tensors; i++) {
        if (!plan[i].c.quantize && !all) continue;
        const nb_gguf_tensor *t = &in->tensors[i];
        int64_t ne0 = t->ne[0], n_rows = nb_tensor_nelements(t) / ne0;
        int64_t chunk = CHUNK_VALUES / ne0;
        if (chunk < 1) chunk = 1;
        if (chunk > n_rows) chunk = n_rows;
        size_t vals = (size_t)(chunk * ne0);
        size_t qb = (size_t)chunk * nb_row_size(plan[i].c.type, ne0);
        if (vals > max_vals) max_vals = vals;
        if ((size_t)chunk > max_rows) max_rows = (size_t)chunk;
        if (qb > max_q) max_q = qb;
    }
    memset(w, 0, sizeof *w);
    if (!max_vals) return NB_OK;
    w->x = nb_alloc(NULL, max_vals * sizeof(float));
    w->y = nb_alloc(NULL, max_vals * sizeof(float));
    w->q = nb_alloc(NULL, max_q);
    w->err2 = nb_alloc(NULL, max_rows * sizeof(double));
    w->sum2 = nb_alloc(NULL, max_rows * sizeof(double));
    if (!w->x || !w->y || !w->q || !w->err2 || !w->sum2) {
        work_free(w);
        return nb_errf(err, NB_ERR_NOMEM, "cannot allocate %zu MiB of quantization buffers",
                       (2 * max_vals * sizeof(float) + max_q) >> 20);
    }
    return NB_OK;
}

typedef struct count_sink {
    nb_write_fn write;
    void *user;
    uint64_t bytes;
} count_sink;

static nb_status count_write(void *user, const void *data, size_t size, nb_err *err) {
    count_sink *c = user;
    nb_status s = c->write(c->user, data, size, err);
    if (!s) c->bytes += size;
    return s;
}

nb_status nb_quantize_gguf(const nb_gguf *in, const nb_quant_params *p, nb_write_fn write,
                           void *user, nb_quant_summary *summary, nb_err *err) {
    if (!in || !p || !write) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_quantize_gguf: NULL argument");
    if (!nb_type_get(p->target.type))
        return nb_errf(err, NB_ERR_INVALID_ARG, "nb_quantize_gguf: no target type");
    int n_threads = p->n_threads;
#ifdef _OPENMP
    if (n_threads <= 0) n_threads = omp_get_max_threads();
#else
    n_threads = 1;
#endif
    if (n_threads < 1) n_threads = 1;

    nb_quant_summary sum;
    memset(&sum, 0, sizeof sum);
    plan_entry *plan = NULL;
    if (in->n_tensors) {
        plan = nb_alloc(NULL, (size_t)in->n_tensors * sizeof *plan);
        if (!plan) return nb_errf(err, NB_ERR_NOMEM, "cannot allocate the plan of %llu tensors",
                                  (unsigned long long)in->n_tensors);
    }
    work wk;
    memset(&wk, 0, sizeof wk);
    nb_gguf_writer *w = NULL;
    count_sink sink = {write, user, 0};

    nb_status s = make_plan(in, p, plan, err);
    if (!s && p->read_rows)
        for (uint64_t i = 0; i < in->n_tensors && !s; i++)
            if (in->tensors[i].type != NB_TYPE_F32)
                s = nb_errf(err, NB_ERR_INVALID_ARG, "nb_quantize_gguf: read_rows needs F32 inputs");
    if (!s) s = work_alloc(in, plan, p->read_rows != NULL, &wk, err);
    if (!s) s = nb_gguf_writer_new(&w, count_write, &sink, NULL, err);
    if (!s) s = write_metadata(w, in, p, err);
    for (uint64_t i = 0; i < in->n_tensors && !s; i++) {
        const nb_gguf_tensor *t = &in->tensors[i];
        s = nb_gguf_add_tensor(w, plan[i].name, plan[i].c.type, t->n_dims, t->ne, err);
    }
    if (!s) s = nb_gguf_writer_write_header(w, err);

    nb_quant_status st;
    memset(&st, 0, sizeof st);
    st.n_tensors = (int64_t)in->n_tensors;
    for (uint64_t i = 0; i < in->n_tensors; i++) st.total_in += in->tensors[i].nbytes;
    for (uint64_t i = 0; i < in->n_tensors && !s; i++) {
        s = write_tensor(w, in, i, &plan[i], p, n_threads, &wk, &st, err);
        if (s) break;
        sum.n_tensors++;
        sum.n_quantized += plan[i].c.quantize;
        sum.n_fallback += plan[i].c.fallback;
        sum.n_imatrix += plan[i].im != NULL;
        sum.bytes_in += st.bytes_in;
        sum.bytes_out += st.bytes_out;
        sum.n_elements += (uint64_t)nb_tensor_nelements(&in->tensors[i]);
    }
    if (!s) s = nb_gguf_writer_finish(w, err);
    sum.file_bytes = sink.bytes;
    if (summary) *summary = sum;
    nb_gguf_writer_free(w);
    work_free(&wk);
    nb_free(NULL, plan);
    return s;
}
