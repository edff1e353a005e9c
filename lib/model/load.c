/* Model loading: hyperparameters from the <arch>.* keys, tensor views bound
 * by name and checked for shape and type. Nothing is copied.
 *
 * Every supported family is llama plus a few differences; `families` below
 * is the one place that says which. The forward pass (forward.c) reads the
 * result as data: flags in nb_hparams and optional tensors in nb_layer.
 * Facts follow llama.cpp's loaders (src/models/<arch>.cpp), see
 * docs/architectures.md. */
#include "model.h"

#include <math.h>
#include <stdio.h>

/* What a family has beyond llama. */
typedef struct family {
    nb_arch arch;
    const char *name;
    int rope_neox;    /* RoPE on (i, i + n_rot/2) pairs                      */
    int qkv_bias;     /* attn_{q,k,v}.bias required (optional elsewhere)     */
    int qk_norm;      /* attn_{q,k}_norm.weight: per-head RMSNorm before RoPE */
    int post_norms;   /* post_attention_norm / post_ffw_norm ("sandwich")    */
    int fused_up;     /* ffn_up holds gate and up (2*n_ff rows), no ffn_gate */
    int gemma;        /* sqrt(n_embd) embedding scale, GELU FFN, soft-capping,
                       * sliding-window layers, gemma attention scale        */
    int swa_period;   /* default sliding_window_pattern: layer il is local
                       * iff il % period < period - 1                        */
} family;

static const family families[] = {
    {.arch = NB_ARCH_LLAMA, .name = "llama"},
    {.arch = NB_ARCH_QWEN2, .name = "qwen2", .rope_neox = 1, .qkv_bias = 1},
    {.arch = NB_ARCH_QWEN3, .name = "qwen3", .rope_neox = 1, .qk_norm = 1},
    {.arch = NB_ARCH_PHI3, .name = "phi3", .rope_neox = 1, .fused_up = 1},
    {.arch = NB_ARCH_GEMMA2, .name = "gemma2", .rope_neox = 1, .post_norms = 1, .gemma = 1,
     .swa_period = 2},
    {.arch = NB_ARCH_GEMMA3, .name = "gemma3", .rope_neox = 1, .qk_norm = 1, .post_norms = 1,
     .gemma = 1, .swa_period = 6},
};
#define N_FAMILIES ((int)(sizeof families / sizeof families[0]))

const char *nb_arch_name(nb_arch arch) {
    for (int i = 0; i < N_FAMILIES; i++)
        if (families[i].arch == arch) return families[i].name;
    return "?";
}

static int has_key(const nb_gguf *g, const char *arch, const char *suffix) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return nb_gguf_find_key(g, key) != NULL;
}

static nb_status get_i32(const nb_gguf *g, const char *arch, const char *suffix, int32_t *out,
                         int required, nb_err *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!nb_gguf_find_key(g, key)) {
        if (required) return nb_errf(err, NB_ERR_NOT_FOUND, "missing key '%s'", key);
        return NB_OK;
    }
    uint32_t v;
    nb_status s = nb_gguf_get_u32(g, key, &v, err);
    if (s) return s;
    if (v > INT32_MAX) return nb_errf(err, NB_ERR_RANGE, "key '%s': %u is too large", key, v);
    *out = (int32_t)v;
    return NB_OK;
}

static nb_status get_f32(const nb_gguf *g, const char *arch, const char *suffix, float *out,
                         nb_err *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!nb_gguf_find_key(g, key)) return NB_OK; /* keep the default */
    return nb_gguf_get_f32(g, key, out, err);
}

/* Find `name` and check it is (ne0, ne1) (ne1 = 1 for vectors) and of a
 * type with a dequantizer. */
static nb_status bind(const nb_gguf *g, const char *name, int64_t ne0, int64_t ne1, int optional,
                      const nb_gguf_tensor **out, nb_err *err) {
    const nb_gguf_tensor *t = nb_gguf_find_tensor(g, name);
    *out = t;
    if (!t) {
        if (optional) return NB_OK;
        return nb_errf(err, NB_ERR_NOT_FOUND, "missing tensor '%s'", name);
    }
    int64_t ne1_got = nb_tensor_nelements(t) / t->ne[0];
    if (t->ne[0] != ne0 || ne1_got != ne1 || t->ne[2] != 1 || t->ne[3] != 1)
        return nb_errf(err, NB_ERR_FORMAT,
                       "tensor '%s' has shape %lld,%lld,%lld,%lld, expected %lld,%lld", name,
                       (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                       (long long)t->ne[3], (long long)ne0, (long long)ne1);
    const nb_type_info *ti = nb_type_get(t->type);
    if (!ti || !ti->to_float)
        return nb_errf(err, NB_ERR_UNSUPPORTED, "tensor '%s': type %s is not supported", name,
                       nb_type_name(t->type));
    return NB_OK;
}

/* Norm weights, biases and rope factors are read as plain floats. */
static nb_status bind_f32(const nb_gguf *g, const char *name, int64_t ne0, int optional,
                          const nb_gguf_tensor **out, nb_err *err) {
    nb_status s = bind(g, name, ne0, 1, optional, out, err);
    if (!s && *out && (*out)->type != NB_TYPE_F32)
        return nb_errf(err, NB_ERR_UNSUPPORTED, "tensor '%s' has type %s, expected F32", name,
                       nb_type_name((*out)->type));
    return s;
}

/* "blk.<l>.<what>.<kind>" */
static const char *blk(char *buf, size_t n, int32_t l, const char *what, const char *kind) {
    snprintf(buf, n, "blk.%d.%s.%s", (int)l, what, kind);
    return buf;
}

/* Hyperparameters: llama's keys, then the family's own. */
static nb_status load_hparams(const nb_gguf *g, const family *f, nb_hparams *hp, nb_err *err) {
    const char *a = f->name;
    nb_status s;
    hp->arch = f->arch;
    hp->rope_freq_base = 10000.0f;
    hp->rms_eps = 1e-5f;
    hp->n_ctx_train = 2048;
    hp->rope_attn_factor = 1.0f;
    if ((s = get_i32(g, a, "embedding_length", &hp->n_embd, 1, err)) ||
        (s = get_i32(g, a, "block_count", &hp->n_layer, 1, err)) ||
        (s = get_i32(g, a, "feed_forward_length", &hp->n_ff, 1, err)) ||
        (s = get_i32(g, a, "attention.head_count", &hp->n_head, 1, err)) ||
        (s = get_i32(g, a, "context_length", &hp->n_ctx_train, 0, err)) ||
        (s = get_f32(g, a, "rope.freq_base", &hp->rope_freq_base, err)) ||
        (s = get_f32(g, a, "attention.layer_norm_rms_epsilon", &hp->rms_eps, err)) ||
        (s = get_f32(g, a, "rope.scaling.attn_factor", &hp->rope_attn_factor, err)))
        return s;
    hp->n_head_kv = hp->n_head;
    if ((s = get_i32(g, a, "attention.head_count_kv", &hp->n_head_kv, 0, err))) return s;
    /* gemma files state the head size (key_length); it need not be
     * n_embd / n_head */
    int has_head_dim = has_key(g, a, "attention.key_length");
    if ((s = get_i32(g, a, "attention.key_length", &hp->head_dim, 0, err))) return s;
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_ff <= 0 || hp->n_head <= 0 ||
        hp->n_head_kv <= 0 || (!has_head_dim && hp->n_embd % hp->n_head) ||
        hp->n_head % hp->n_head_kv || hp->n_layer > NB_MAX_LAYERS ||
        (has_head_dim && hp->head_dim <= 0))
        return nb_errf(err, NB_ERR_FORMAT,
                       "contradictory hyperparameters: n_embd %d, n_layer %d, n_ff %d, n_head %d, "
                       "n_head_kv %d (max layers %d)",
                       hp->n_embd, hp->n_layer, hp->n_ff, hp->n_head, hp->n_head_kv, NB_MAX_LAYERS);
    if (!has_head_dim) hp->head_dim = hp->n_embd / hp->n_head;
    int32_t v_dim = hp->head_dim;
    if ((s = get_i32(g, a, "attention.value_length", &v_dim, 0, err))) return s;
    if (v_dim != hp->head_dim)
        return nb_errf(err, NB_ERR_UNSUPPORTED, "value length %d differs from key length %d",
                       v_dim, hp->head_dim);
    hp->n_rot = hp->head_dim;
    if ((s = get_i32(g, a, "rope.dimension_count", &hp->n_rot, 0, err))) return s;
    if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return nb_errf(err, NB_ERR_FORMAT, "rope dimension count %d invalid for head size %d",
                       hp->n_rot, hp->head_dim);
    hp->n_ctx_orig = hp->n_ctx_train;
    if ((s = get_i32(g, a, "rope.scaling.original_context_length", &hp->n_ctx_orig, 0, err)))
        return s;

    hp->rope_neox = f->rope_neox;
    hp->embd_scale = 1.0f;
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    hp->rope_freq_base_swa = hp->rope_freq_base;
    if (!f->gemma) return NB_OK;

    /* Gemma (Team Gemma 2024): embeddings times sqrt(n_embd), GELU FFN */
    hp->embd_scale = sqrtf((float)hp->n_embd);
    hp->ffn_gelu = 1;
    /* query scale: 1/sqrt(query_pre_attn_scalar) (Gemma's config name; not
     * a key llama.cpp writes) or, as llama.cpp, 1/sqrt(n_embd / n_head) for
     * the 27B models (gemma2: 46 layers, gemma3: 62), else 1/sqrt(head_dim) */
    float qpas = 0.0f;
    if ((s = get_f32(g, a, "attention.query_pre_attn_scalar", &qpas, err))) return s;
    int is_27b = hp->n_layer == (f->arch == NB_ARCH_GEMMA2 ? 46 : 62);
    if (qpas > 0.0f)
        hp->attn_scale = 1.0f / sqrtf(qpas);
    else if (is_27b)
        hp->attn_scale = 1.0f / sqrtf((float)(hp->n_embd / hp->n_head));
    /* soft-capping: gemma2 always (llama.cpp's defaults 50 and 30), gemma3
     * only the final one and only when the file says so */
    if (f->arch == NB_ARCH_GEMMA2) {
        hp->attn_softcap = 50.0f;
        hp->final_softcap = 30.0f;
        hp->n_swa = 4096;
        if ((s = get_f32(g, a, "attn_logit_softcapping", &hp->attn_softcap, err))) return s;
    }
    if ((s = get_f32(g, a, "final_logit_softcapping", &hp->final_softcap, err))) return s;
    /* local layers' RoPE base: gemma2 the global one, gemma3 10000 */
    if (f->arch == NB_ARCH_GEMMA3) hp->rope_freq_base_swa = 10000.0f;
    if ((s = get_i32(g, a, "attention.sliding_window", &hp->n_swa, 0, err)) ||
        (s = get_f32(g, a, "rope.freq_base_swa", &hp->rope_freq_base_swa, err)))
        return s;
    return NB_OK;
}

/* Which layers are local (sliding window): llama.cpp's swa pattern. */
static nb_status mark_local_layers(const nb_gguf *g, const family *f, nb_model *m, nb_err *err) {
    int32_t period = f->swa_period;
    nb_status s = get_i32(g, f->name, "attention.sliding_window_pattern", &period, 0, err);
    if (s) return s;
    for (int32_t l = 0; l < m->hp.n_layer; l++)
        m->layers[l].swa = m->hp.n_swa > 0 && f->swa_period > 0 &&
                           (period == 0 || l % period < period - 1);
    return NB_OK;
}

static nb_status load_layer(const nb_gguf *g, const family *f, const nb_hparams *hp, int32_t l,
                            nb_layer *L, nb_err *err) {
    int64_t dim = hp->n_embd, hd = hp->head_dim;
    int64_t q_dim = (int64_t)hp->n_head * hd, kv_dim = (int64_t)hp->n_head_kv * hd;
    char n[96];
    nb_status s;
    if ((s = bind_f32(g, blk(n, sizeof n, l, "attn_norm", "weight"), dim, 0, &L->attn_norm, err)))
        return s;
    /* Q, K, V: one fused matrix (phi3) or three, with optional biases */
    if ((s = bind(g, blk(n, sizeof n, l, "attn_qkv", "weight"), dim, q_dim + 2 * kv_dim, 1,
                  &L->wqkv, err)))
        return s;
    if (!L->wqkv) {
        if ((s = bind(g, blk(n, sizeof n, l, "attn_q", "weight"), dim, q_dim, 0, &L->wq, err)) ||
            (s = bind(g, blk(n, sizeof n, l, "attn_k", "weight"), dim, kv_dim, 0, &L->wk, err)) ||
            (s = bind(g, blk(n, sizeof n, l, "attn_v", "weight"), dim, kv_dim, 0, &L->wv, err)) ||
            (s = bind_f32(g, blk(n, sizeof n, l, "attn_q", "bias"), q_dim, !f->qkv_bias, &L->bq, err)) ||
            (s = bind_f32(g, blk(n, sizeof n, l, "attn_k", "bias"), kv_dim, !f->qkv_bias, &L->bk, err)) ||
            (s = bind_f32(g, blk(n, sizeof n, l, "attn_v", "bias"), kv_dim, !f->qkv_bias, &L->bv, err)))
            return s;
    }
    if ((s = bind(g, blk(n, sizeof n, l, "attn_output", "weight"), q_dim, dim, 0, &L->wo, err)))
        return s;
    if (f->qk_norm &&
        ((s = bind_f32(g, blk(n, sizeof n, l, "attn_q_norm", "weight"), hd, 0, &L->attn_q_norm, err)) ||
         (s = bind_f32(g, blk(n, sizeof n, l, "attn_k_norm", "weight"), hd, 0, &L->attn_k_norm, err))))
        return s;
    if (f->post_norms &&
        ((s = bind_f32(g, blk(n, sizeof n, l, "post_attention_norm", "weight"), dim, 0,
                       &L->attn_post_norm, err)) ||
         (s = bind_f32(g, blk(n, sizeof n, l, "post_ffw_norm", "weight"), dim, 0, &L->ffn_post_norm,
                       err))))
        return s;
    /* FFN: gate and up separate, or stacked in ffn_up (phi3) */
    L->fused_up = f->fused_up;
    if ((s = bind_f32(g, blk(n, sizeof n, l, "ffn_norm", "weight"), dim, 0, &L->ffn_norm, err)) ||
        (!f->fused_up &&
         (s = bind(g, blk(n, sizeof n, l, "ffn_gate", "weight"), dim, hp->n_ff, 0, &L->ffn_gate, err))) ||
        (s = bind(g, blk(n, sizeof n, l, "ffn_up", "weight"), dim, (f->fused_up ? 2 : 1) * (int64_t)hp->n_ff,
                  0, &L->ffn_up, err)) ||
        (s = bind(g, blk(n, sizeof n, l, "ffn_down", "weight"), hp->n_ff, dim, 0, &L->ffn_down, err)))
        return s;
    return NB_OK;
}

static nb_status load(const nb_gguf *g, const family *f, nb_model *m, nb_err *err) {
    nb_status s;
    nb_hparams *hp = &m->hp;
    if ((s = load_hparams(g, f, hp, err))) return s;
    const nb_gguf_tensor *emb = nb_gguf_find_tensor(g, "token_embd.weight");
    if (!emb) return nb_errf(err, NB_ERR_NOT_FOUND, "missing tensor 'token_embd.weight'");
    int64_t n_vocab = nb_tensor_nelements(emb) / emb->ne[0]; /* ne[0] >= 1: parser */
    if (n_vocab > INT32_MAX)
        return nb_errf(err, NB_ERR_RANGE, "token_embd.weight has %lld rows", (long long)n_vocab);
    hp->n_vocab = (int32_t)n_vocab;
    if ((s = bind(g, "token_embd.weight", hp->n_embd, hp->n_vocab, 0, &m->tok_embd, err)) ||
        (s = bind_f32(g, "output_norm.weight", hp->n_embd, 0, &m->output_norm, err)) ||
        (s = bind(g, "output.weight", hp->n_embd, hp->n_vocab, 1, &m->output, err)) ||
        (s = bind_f32(g, "rope_freqs.weight", hp->n_rot / 2, 1, &m->rope_freqs, err)) ||
        (s = bind_f32(g, "rope_factors_long.weight", hp->n_rot / 2, 1, &m->rope_factors_long, err)) ||
        (s = bind_f32(g, "rope_factors_short.weight", hp->n_rot / 2, 1, &m->rope_factors_short, err)))
        return s;
    /* tied embeddings; gemma2 always uses the embedding table (as llama.cpp) */
    if (!m->output || f->arch == NB_ARCH_GEMMA2) m->output = m->tok_embd;
    for (int32_t l = 0; l < hp->n_layer; l++)
        if ((s = load_layer(g, f, hp, l, &m->layers[l], err))) return s;
    return mark_local_layers(g, f, m, err);
}

nb_status nb_model_load(const nb_gguf *g, nb_model *m, nb_err *err) {
    nb_status s;
    memset(m, 0, sizeof *m);
    m->gguf = g;
    nb_str arch;
    if ((s = nb_gguf_get_str(g, "general.architecture", &arch, err))) return s;
    const family *f = NULL;
    for (int i = 0; i < N_FAMILIES; i++)
        if (nb_str_eq(arch, families[i].name)) f = &families[i];
    if (!f)
        return nb_errf(err, NB_ERR_UNSUPPORTED,
                       "unknown architecture '%.*s' (supported: llama, qwen2, qwen3, phi3, gemma2, "
                       "gemma3)",
                       (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
    s = load(g, f, m, err);
    if (s && err) { /* say which architecture the file claimed */
        char why[sizeof err->msg];
        memcpy(why, err->msg, sizeof why);
        nb_errf(err, s, "%s model: %.*s", f->name, (int)(sizeof why - 16), why);
    }
    return s;
}
