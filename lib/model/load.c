/* Model loading: hyperparameters from the llama.* keys, tensor views bound
 * by name and checked for shape and type. Nothing is copied. */
#include "model.h"

#include <stdio.h>

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

/* Norm weights and rope factors are read as plain floats. */
static nb_status bind_f32(const nb_gguf *g, const char *name, int64_t ne0, int optional,
                          const nb_gguf_tensor **out, nb_err *err) {
    nb_status s = bind(g, name, ne0, 1, optional, out, err);
    if (!s && *out && (*out)->type != NB_TYPE_F32)
        return nb_errf(err, NB_ERR_UNSUPPORTED, "tensor '%s' has type %s, expected F32", name,
                       nb_type_name((*out)->type));
    return s;
}

nb_status nb_model_load(const nb_gguf *g, nb_model *m, nb_err *err) {
    nb_status s;
    memset(m, 0, sizeof *m);
    m->gguf = g;
    nb_str arch;
    if ((s = nb_gguf_get_str(g, "general.architecture", &arch, err))) return s;
    if (!nb_str_eq(arch, "llama"))
        return nb_errf(err, NB_ERR_UNSUPPORTED, "unknown architecture '%.*s' (supported: llama)",
                       (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
    const char *a = "llama";
    nb_hparams *hp = &m->hp;
    hp->rope_freq_base = 10000.0f;
    hp->rms_eps = 1e-5f;
    hp->n_ctx_train = 2048;
    if ((s = get_i32(g, a, "embedding_length", &hp->n_embd, 1, err)) ||
        (s = get_i32(g, a, "block_count", &hp->n_layer, 1, err)) ||
        (s = get_i32(g, a, "feed_forward_length", &hp->n_ff, 1, err)) ||
        (s = get_i32(g, a, "attention.head_count", &hp->n_head, 1, err)) ||
        (s = get_i32(g, a, "context_length", &hp->n_ctx_train, 0, err)) ||
        (s = get_f32(g, a, "rope.freq_base", &hp->rope_freq_base, err)) ||
        (s = get_f32(g, a, "attention.layer_norm_rms_epsilon", &hp->rms_eps, err)))
        return s;
    hp->n_head_kv = hp->n_head;
    if ((s = get_i32(g, a, "attention.head_count_kv", &hp->n_head_kv, 0, err))) return s;
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_ff <= 0 || hp->n_head <= 0 ||
        hp->n_head_kv <= 0 || hp->n_embd % hp->n_head || hp->n_head % hp->n_head_kv ||
        hp->n_layer > NB_MAX_LAYERS)
        return nb_errf(err, NB_ERR_FORMAT,
                       "contradictory hyperparameters: n_embd %d, n_layer %d, n_ff %d, n_head %d, "
                       "n_head_kv %d (max layers %d)",
                       hp->n_embd, hp->n_layer, hp->n_ff, hp->n_head, hp->n_head_kv, NB_MAX_LAYERS);
    hp->head_dim = hp->n_embd / hp->n_head;
    hp->n_rot = hp->head_dim;
    if ((s = get_i32(g, a, "rope.dimension_count", &hp->n_rot, 0, err))) return s;
    if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return nb_errf(err, NB_ERR_FORMAT, "rope dimension count %d invalid for head size %d",
                       hp->n_rot, hp->head_dim);

    const nb_gguf_tensor *emb = nb_gguf_find_tensor(g, "token_embd.weight");
    if (!emb) return nb_errf(err, NB_ERR_NOT_FOUND, "missing tensor 'token_embd.weight'");
    int64_t n_vocab = nb_tensor_nelements(emb) / emb->ne[0]; /* ne[0] >= 1: parser */
    if (n_vocab > INT32_MAX)
        return nb_errf(err, NB_ERR_RANGE, "token_embd.weight has %lld rows", (long long)n_vocab);
    hp->n_vocab = (int32_t)n_vocab;
    int32_t kv_dim = hp->n_head_kv * hp->head_dim;
    if ((s = bind(g, "token_embd.weight", hp->n_embd, hp->n_vocab, 0, &m->tok_embd, err)) ||
        (s = bind_f32(g, "output_norm.weight", hp->n_embd, 0, &m->output_norm, err)) ||
        (s = bind(g, "output.weight", hp->n_embd, hp->n_vocab, 1, &m->output, err)) ||
        (s = bind_f32(g, "rope_freqs.weight", hp->n_rot / 2, 1, &m->rope_freqs, err)))
        return s;
    if (!m->output) m->output = m->tok_embd; /* tied embeddings */
    for (int32_t l = 0; l < hp->n_layer; l++) {
        nb_layer *L = &m->layers[l];
        char n[9][64];
        const char *names[9] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"};
        for (int i = 0; i < 9; i++) snprintf(n[i], sizeof n[i], "blk.%d.%s.weight", (int)l, names[i]);
        if ((s = bind_f32(g, n[0], hp->n_embd, 0, &L->attn_norm, err)) ||
            (s = bind(g, n[1], hp->n_embd, hp->n_head * hp->head_dim, 0, &L->wq, err)) ||
            (s = bind(g, n[2], hp->n_embd, kv_dim, 0, &L->wk, err)) ||
            (s = bind(g, n[3], hp->n_embd, kv_dim, 0, &L->wv, err)) ||
            (s = bind(g, n[4], hp->n_head * hp->head_dim, hp->n_embd, 0, &L->wo, err)) ||
            (s = bind_f32(g, n[5], hp->n_embd, 0, &L->ffn_norm, err)) ||
            (s = bind(g, n[6], hp->n_embd, hp->n_ff, 0, &L->ffn_gate, err)) ||
            (s = bind(g, n[7], hp->n_embd, hp->n_ff, 0, &L->ffn_up, err)) ||
            (s = bind(g, n[8], hp->n_ff, hp->n_embd, 0, &L->ffn_down, err)))
            return s;
    }
    return NB_OK;
}
