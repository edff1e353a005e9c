/*
 * The forward pass of every supported family (llama, qwen2, qwen3, phi3,
 * gemma2, gemma3). Two paths share it, differing only in matvec and
 * the KV cache storage: the float path (the readable reference: weights
 * dequantized one row at a time, F32 activations) and the fast path
 * (activations quantized to each weight's partner format, integer block dot
 * products, F16 KV cache, as llama.cpp computes). Read top to bottom like
 * the math (Touvron et al. 2023, "LLaMA"); [brackets] mark the steps only
 * some families have, decided by flags and optional tensors that
 * nb_model_load sets (docs/architectures.md):
 *
 *   x = embedding[token]                            [* sqrt(n_embd): gemma]
 *   for each layer:
 *       xb = rmsnorm(x) * attn_norm
 *       q, k, v = Wq xb, Wk xb, Wv xb  [+ biases: qwen2] [fused Wqkv: phi3]
 *       [q, k = rmsnorm per head: qwen3, gemma3]
 *       rope(q, k, pos)            (adjacent pairs: llama; halves: the rest)
 *       cache k, v
 *       xb = attention(q, K, V)    (causal, grouped heads)
 *                                  [soft-capped scores: gemma2]
 *                                  [sliding window on local layers: gemma]
 *       xb2 = Wo xb                [rmsnorm(xb2) * post_attention_norm: gemma]
 *       x += xb2
 *       xb = rmsnorm(x) * ffn_norm
 *       xb2 = Wdown (act(Wgate xb) * (Wup xb))   act = silu (SwiGLU) or
 *                                  [gelu: gemma] [gate/up fused: phi3]
 *                                  [rmsnorm(xb2) * post_ffw_norm: gemma]
 *       x += xb2
 *   logits = Woutput (rmsnorm(x) * output_norm)  [soft-capped: gemma2]
 */
#include "model.h"

#include <math.h>

/* ------------------------------------------------------------- sizes */

static size_t align16(size_t n) {
    return (n + 15) & ~(size_t)15;
}

static int32_t ctx_len(const nb_model *m, const nb_ctx_params *p) {
    int32_t n = p && p->n_ctx > 0 ? p->n_ctx : m->hp.n_ctx_train;
    if (!(p && p->n_ctx > 0) && n > 2048) n = 2048;
    return n;
}

/* Every buffer of struct nb_ctx, in layout order; `base` NULL just sizes. */
static size_t layout(nb_ctx *c, uint8_t *base, const nb_model *m, int32_t n_ctx, int kv_f16) {
    const nb_hparams *hp = &m->hp;
    size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    size_t q_dim = (size_t)hp->n_head * hp->head_dim;
    size_t max_row = (size_t)(hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd);
    if (q_dim > max_row) max_row = q_dim;
    size_t off = align16(sizeof(nb_ctx));
#define TAKE_BYTES(field, bytes)                                      \
    do {                                                              \
        if (base) c->field = (void *)(base + off);                    \
        off += align16((size_t)(bytes));                              \
    } while (0)
#define TAKE(field, count) TAKE_BYTES(field, (size_t)(count) * sizeof(float))
    TAKE(x, hp->n_embd);
    TAKE(xb, (size_t)hp->n_embd > q_dim ? (size_t)hp->n_embd : q_dim);
    TAKE(xb2, hp->n_embd);
    /* q, k, v side by side: a fused Wqkv (phi3) writes all three at once */
    TAKE(q, q_dim + 2 * kv_dim);
    TAKE(att, n_ctx);
    /* gate then up: a fused ffn_up (phi3) writes both at once */
    TAKE(hb, 2 * (size_t)hp->n_ff);
    TAKE(row, max_row);
    TAKE(logits, hp->n_vocab);
    TAKE(rope_inv, hp->n_rot / 2);
    TAKE(rope_inv_swa, hp->n_rot / 2);
    /* partner formats take at most 4 bytes per value (F32); + one block */
    TAKE_BYTES(act, max_row * 4 + 512);
    size_t kv_elem = kv_f16 ? 2 : 4;
    TAKE_BYTES(key_cache, (size_t)hp->n_layer * n_ctx * kv_dim * kv_elem);
    TAKE_BYTES(value_cache, (size_t)hp->n_layer * n_ctx * kv_dim * kv_elem);
#undef TAKE
#undef TAKE_BYTES
    return off;
}

/* F16 cache by default (as llama.cpp); F32 when asked or on the float path. */
static int kv_is_f16(const nb_ctx_params *p) {
    return !(p && (p->kv_f32 || p->float_path));
}

size_t nb_ctx_size(const nb_model *m, const nb_ctx_params *p) {
    return layout(NULL, NULL, m, ctx_len(m, p), kv_is_f16(p)) + 15; /* + arena alignment */
}

nb_status nb_ctx_init(nb_ctx **out, const nb_model *m, const nb_ctx_params *p, void *arena,
                      size_t arena_size, nb_err *err) {
    if (!out || !m || !arena) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_ctx_init: NULL argument");
    int32_t n_ctx = ctx_len(m, p);
    if (n_ctx <= 0) return nb_errf(err, NB_ERR_INVALID_ARG, "n_ctx %d must be positive", n_ctx);
    size_t need = nb_ctx_size(m, p);
    if (arena_size < need)
        return nb_errf(err, NB_ERR_NOMEM, "arena of %zu bytes is too small: the context needs %zu",
                       arena_size, need);
    uint8_t *base = (uint8_t *)arena + ((16 - ((uintptr_t)arena & 15)) & 15);
    nb_ctx *c = (nb_ctx *)base;
    memset(c, 0, sizeof *c);
    layout(c, base, m, n_ctx, kv_is_f16(p));
    c->k = c->q + (size_t)m->hp.n_head * m->hp.head_dim;
    c->v = c->k + (size_t)m->hp.n_head_kv * m->hp.head_dim;
    c->hb2 = c->hb + m->hp.n_ff;
    c->m = m;
    c->kv_f16 = kv_is_f16(p);
    c->float_path = p && p->float_path;
    c->n_ctx = n_ctx;
    const nb_hparams *hp = &m->hp;
    /* theta_i = base^(-2i/n_rot), divided by rope_freqs[i] when present
     * (Llama 3 long-context scaling) or by phi3's su/longrope factors: the
     * long ones when this context is longer than the trained original
     * (llama.cpp, llama_model::get_rope_factors). Local (sliding-window)
     * layers may have their own base (gemma3). */
    const nb_gguf_tensor *factors = m->rope_freqs;
    if (!factors)
        factors = n_ctx > hp->n_ctx_orig ? m->rope_factors_long : m->rope_factors_short;
    for (int32_t i = 0; i < hp->n_rot / 2; i++) {
        float f = powf(hp->rope_freq_base, -2.0f * (float)i / (float)hp->n_rot);
        float f_swa = powf(hp->rope_freq_base_swa, -2.0f * (float)i / (float)hp->n_rot);
        if (factors) {
            f /= ((const float *)factors->data)[i];
            f_swa /= ((const float *)factors->data)[i];
        }
        c->rope_inv[i] = f;
        c->rope_inv_swa[i] = f_swa;
    }
    *out = c;
    return NB_OK;
}

void nb_ctx_reset(nb_ctx *ctx) {
    ctx->pos = 0;
}

int32_t nb_ctx_pos(const nb_ctx *ctx) {
    return ctx->pos;
}

int32_t nb_ctx_n_ctx(const nb_ctx *ctx) {
    return ctx->n_ctx;
}

/* ------------------------------------------------------------- steps */

/* One row of a weight tensor as floats. */
static const float *weight_row(nb_ctx *c, const nb_gguf_tensor *w, int64_t r) {
    const nb_type_info *ti = nb_type_get(w->type);
    size_t row_bytes = nb_row_size(w->type, w->ne[0]);
    ti->to_float((const uint8_t *)w->data + (size_t)r * row_bytes, c->row, w->ne[0]);
    return c->row;
}

/* out[r] = W[r] . x for each of W's rows; W is (n_in = ne[0]) x n_out.
 * Fast path (as llama.cpp): x is converted once to the weight type's
 * partner format and each row is an integer-block dot product. Float path:
 * each row dequantized, F32 dot. */
static void matvec(nb_ctx *c, float *out, const nb_gguf_tensor *w, const float *x) {
    int64_t n_in = w->ne[0], n_out = nb_tensor_nelements(w) / n_in;
    const nb_type_info *ti = nb_type_get(w->type);
    if (!c->float_path && ti->vec_dot) {
        nb_type_get(ti->vec_dot_type)->from_float(x, c->act, n_in);
        size_t row_bytes = nb_row_size(w->type, n_in);
        for (int64_t r = 0; r < n_out; r++)
            ti->vec_dot(n_in, &out[r], (const uint8_t *)w->data + (size_t)r * row_bytes, c->act);
        return;
    }
    for (int64_t r = 0; r < n_out; r++) {
        const float *row = weight_row(c, w, r);
        float sum = 0.0f;
        for (int64_t i = 0; i < n_in; i++) sum += row[i] * x[i];
        out[r] = sum;
    }
}

/* RMSNorm (Zhang & Sennrich 2019): out = x / sqrt(mean(x^2) + eps) * w */
static void rmsnorm(float *out, const float *x, const float *w, int32_t n, float eps) {
    double ss = 0.0; /* ggml accumulates in double */
    for (int32_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float scale = 1.0f / sqrtf((float)(ss / n) + eps);
    for (int32_t i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

/* RoPE (Su et al. 2021): rotate pair i of each head by pos * theta_i.
 * llama's "normal" form pairs adjacent values (v[2i], v[2i+1]) (its GGUF
 * files have Q/K permuted at conversion); the GPT-NeoX form, used by qwen,
 * phi3 and gemma, pairs the halves (v[i], v[i + n_rot/2]). `mscale`
 * scales the result (rope.scaling.attn_factor, 1 unless the file says). */
static void rope(float *v, int32_t n_heads, int32_t head_dim, int32_t n_rot, int32_t pos,
                 const float *inv_freq, int neox, float mscale) {
    int32_t half = n_rot / 2;
    for (int32_t h = 0; h < n_heads; h++) {
        float *hv = v + h * head_dim;
        for (int32_t i = 0; i < half; i++) {
            float theta = (float)pos * inv_freq[i];
            float cs = cosf(theta) * mscale, sn = sinf(theta) * mscale;
            int32_t ia = neox ? i : 2 * i, ib = neox ? i + half : 2 * i + 1;
            float a = hv[ia], b = hv[ib];
            hv[ia] = a * cs - b * sn;
            hv[ib] = a * sn + b * cs;
        }
    }
}

/* QK-norm (qwen3, gemma3; Dehghani et al. 2023): RMSNorm of each head's
 * vector with one shared (head_dim) weight, before RoPE. */
static void head_rmsnorm(float *v, int32_t n_heads, int32_t head_dim, const float *w, float eps) {
    for (int32_t h = 0; h < n_heads; h++) rmsnorm(v + h * head_dim, v + h * head_dim, w, head_dim, eps);
}

/* Soft-capping (Gemma 2): s -> cap * tanh(s / cap), as llama.cpp computes
 * it (a multiplication by 1/cap, then tanh, then by cap). */
static inline float softcap(float s, float cap) {
    return cap * tanhf(s * (1.0f / cap));
}

static void softmax(float *x, int32_t n) {
    float mx = x[0];
    for (int32_t i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    float sum = 0.0f;
    for (int32_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    for (int32_t i = 0; i < n; i++) x[i] /= sum;
}

/* Cache element at flat index idx (F32 or F16 storage). */
static inline float kv_get(const nb_ctx *c, const void *cache, size_t idx) {
    return c->kv_f16 ? nb_fp16_to_f32(((const uint16_t *)cache)[idx]) : ((const float *)cache)[idx];
}

/* With an F16 cache, llama.cpp's matrix products round the other operand
 * (q, then the attention weights) to F16 too; do the same to agree. */
static inline float f16_if(const nb_ctx *c, float x) {
    return c->kv_f16 ? nb_fp16_to_f32(nb_f32_to_fp16(x)) : x;
}

/* Causal grouped-query attention of position `pos` over the cache of one
 * layer: each query head h reads kv head h / (n_head / n_head_kv). A local
 * layer sees only the last n_swa positions (sliding window, Beltagy et al.
 * 2020; llama.cpp masks a key when pos - t >= n_swa). Scores are scaled by
 * attn_scale (llama.cpp scales q instead for gemma and phi3: the same
 * numbers for a power-of-two scale such as 1/sqrt(64)) and, for gemma2,
 * soft-capped before the softmax. */
static void attention(nb_ctx *c, float *out, float *q, const void *kcache,
                      const void *vcache, int32_t pos, int local) {
    const nb_hparams *hp = &c->m->hp;
    int32_t hd = hp->head_dim, kv_dim = hp->n_head_kv * hd, group = hp->n_head / hp->n_head_kv;
    int32_t t0 = local && pos >= hp->n_swa ? pos - hp->n_swa + 1 : 0;
    float scale = hp->attn_scale;
    for (int32_t h = 0; h < hp->n_head; h++) {
        float *qh = q + h * hd;
        for (int32_t i = 0; i < hd; i++) qh[i] = f16_if(c, qh[i]);
        int32_t kvh = h / group;
        for (int32_t t = t0; t <= pos; t++) {
            size_t kt = (size_t)t * kv_dim + (size_t)kvh * hd;
            float s = 0.0f;
            for (int32_t i = 0; i < hd; i++) s += qh[i] * kv_get(c, kcache, kt + i);
            s *= scale;
            if (hp->attn_softcap > 0.0f) s = softcap(s, hp->attn_softcap);
            c->att[t] = s;
        }
        softmax(c->att + t0, pos + 1 - t0);
        float *oh = out + h * hd;
        for (int32_t i = 0; i < hd; i++) oh[i] = 0.0f;
        for (int32_t t = t0; t <= pos; t++) {
            size_t vt = (size_t)t * kv_dim + (size_t)kvh * hd;
            float p = f16_if(c, c->att[t]);
            for (int32_t i = 0; i < hd; i++) oh[i] += p * kv_get(c, vcache, vt + i);
        }
    }
}

/* SwiGLU (Shazeer 2020): hb = silu(gate) * up */
static void swiglu(float *hb, const float *hb2, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        float g = hb[i];
        hb[i] = g / (1.0f + expf(-g)) * hb2[i];
    }
}

/* GELU, tanh form (Hendrycks & Gimpel 2016), computed as ggml's CPU
 * backend does for F32 (ggml_vec_gelu_f32 with its F16 table): the input
 * rounded to F16, the result rounded to F16; 0 below -10, x above 10.
 * Emulating the table keeps gemma within 1e-4 of llama.cpp instead of ~2e-2. */
static float gelu(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    float h = nb_fp16_to_f32(nb_f32_to_fp16(x));
    float y = 0.5f * h * (1.0f + tanhf(0.79788456080286535588f * h * (1.0f + 0.044715f * h * h)));
    return nb_fp16_to_f32(nb_f32_to_fp16(y));
}

/* GeGLU (Shazeer 2020), the gemma FFN: hb = gelu(gate) * up */
static void geglu(float *hb, const float *hb2, int32_t n) {
    for (int32_t i = 0; i < n; i++) hb[i] = gelu(hb[i]) * hb2[i];
}

/* Append this position's k and v to the layer's cache. */
static void store_kv(nb_ctx *c, void *kcache, void *vcache, int32_t pos, int32_t kv_dim) {
    size_t at = (size_t)pos * kv_dim;
    if (c->kv_f16) {
        nb_f32_to_f16_row(c->k, (uint16_t *)kcache + at, kv_dim);
        nb_f32_to_f16_row(c->v, (uint16_t *)vcache + at, kv_dim);
    } else {
        memcpy((float *)kcache + at, c->k, (size_t)kv_dim * sizeof(float));
        memcpy((float *)vcache + at, c->v, (size_t)kv_dim * sizeof(float));
    }
}

static const float *norm_weight(const nb_gguf_tensor *t) {
    return (const float *)t->data; /* F32, checked by nb_model_load */
}

static void residual_add(float *x, const float *branch, int32_t n) {
    for (int32_t i = 0; i < n; i++) x[i] += branch[i];
}

static void add_bias(float *v, const nb_gguf_tensor *b, int32_t n) {
    if (b) residual_add(v, (const float *)b->data, n); /* F32: nb_model_load */
}

/* q, k, v of this position: three matrices (+ biases, qwen2), or one fused
 * Wqkv (phi3) whose rows are Q, then K, then V, written straight into the
 * adjacent q, k, v buffers. */
static void qkv_projections(nb_ctx *c, const nb_layer *L, const float *xb) {
    const nb_hparams *hp = &c->m->hp;
    int32_t q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    if (L->wqkv) {
        matvec(c, c->q, L->wqkv, xb);
        return;
    }
    matvec(c, c->q, L->wq, xb);
    matvec(c, c->k, L->wk, xb);
    matvec(c, c->v, L->wv, xb);
    add_bias(c->q, L->bq, q_dim);
    add_bias(c->k, L->bk, kv_dim);
    add_bias(c->v, L->bv, kv_dim);
}

/* gate and up projections: two matrices, or one stacked ffn_up (phi3)
 * whose first n_ff rows are the gate, written straight into hb, hb2. */
static void gate_up_projections(nb_ctx *c, const nb_layer *L, const float *xb) {
    if (L->fused_up) {
        matvec(c, c->hb, L->ffn_up, xb);
        return;
    }
    matvec(c, c->hb, L->ffn_gate, xb);
    matvec(c, c->hb2, L->ffn_up, xb);
}

static void forward_token(nb_ctx *c, int32_t token, int32_t pos) {
    const nb_model *m = c->m;
    const nb_hparams *hp = &m->hp;
    int32_t dim = hp->n_embd, kv_dim = hp->n_head_kv * hp->head_dim;

    /* embedding: one row of the (possibly quantized) table; gemma scales it */
    const float *e = weight_row(c, m->tok_embd, token);
    for (int32_t i = 0; i < dim; i++) c->x[i] = e[i] * hp->embd_scale;

    for (int32_t l = 0; l < hp->n_layer; l++) {
        const nb_layer *L = &m->layers[l];
        size_t kv_elem = c->kv_f16 ? 2 : 4;
        uint8_t *kcache = (uint8_t *)c->key_cache + (size_t)l * c->n_ctx * kv_dim * kv_elem;
        uint8_t *vcache = (uint8_t *)c->value_cache + (size_t)l * c->n_ctx * kv_dim * kv_elem;
        const float *inv_freq = L->swa ? c->rope_inv_swa : c->rope_inv;

        /* attention block */
        rmsnorm(c->xb, c->x, norm_weight(L->attn_norm), dim, hp->rms_eps);
        qkv_projections(c, L, c->xb);
        if (L->attn_q_norm) {
            head_rmsnorm(c->q, hp->n_head, hp->head_dim, norm_weight(L->attn_q_norm), hp->rms_eps);
            head_rmsnorm(c->k, hp->n_head_kv, hp->head_dim, norm_weight(L->attn_k_norm), hp->rms_eps);
        }
        rope(c->q, hp->n_head, hp->head_dim, hp->n_rot, pos, inv_freq, hp->rope_neox,
             hp->rope_attn_factor);
        rope(c->k, hp->n_head_kv, hp->head_dim, hp->n_rot, pos, inv_freq, hp->rope_neox,
             hp->rope_attn_factor);
        store_kv(c, kcache, vcache, pos, kv_dim);
        attention(c, c->xb, c->q, kcache, vcache, pos, L->swa);
        matvec(c, c->xb2, L->wo, c->xb);
        if (L->attn_post_norm)
            rmsnorm(c->xb2, c->xb2, norm_weight(L->attn_post_norm), dim, hp->rms_eps);
        residual_add(c->x, c->xb2, dim);

        /* feed-forward block */
        rmsnorm(c->xb, c->x, norm_weight(L->ffn_norm), dim, hp->rms_eps);
        gate_up_projections(c, L, c->xb);
        if (hp->ffn_gelu)
            geglu(c->hb, c->hb2, hp->n_ff);
        else
            swiglu(c->hb, c->hb2, hp->n_ff);
        matvec(c, c->xb2, L->ffn_down, c->hb);
        if (L->ffn_post_norm)
            rmsnorm(c->xb2, c->xb2, norm_weight(L->ffn_post_norm), dim, hp->rms_eps);
        residual_add(c->x, c->xb2, dim);
    }
    rmsnorm(c->xb, c->x, norm_weight(m->output_norm), dim, hp->rms_eps);
    matvec(c, c->logits, m->output, c->xb);
    if (hp->final_softcap > 0.0f)
        for (int32_t i = 0; i < hp->n_vocab; i++)
            c->logits[i] = softcap(c->logits[i], hp->final_softcap);
}

nb_status nb_decode(nb_ctx *c, const int32_t *tokens, int32_t n_tokens, float *logits,
                    nb_err *err) {
    const nb_hparams *hp = &c->m->hp;
    if (n_tokens < 0 || (n_tokens && !tokens))
        return nb_errf(err, NB_ERR_INVALID_ARG, "nb_decode: %d tokens", n_tokens);
    if (n_tokens > c->n_ctx - c->pos)
        return nb_errf(err, NB_ERR_RANGE, "context full: %d tokens at position %d exceed n_ctx %d",
                       n_tokens, c->pos, c->n_ctx);
    for (int32_t i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
            return nb_errf(err, NB_ERR_INVALID_ARG, "token %d out of range (n_vocab %d)",
                           tokens[i], hp->n_vocab);
    for (int32_t i = 0; i < n_tokens; i++) forward_token(c, tokens[i], c->pos++);
    if (logits && n_tokens)
        memcpy(logits, c->logits, (size_t)hp->n_vocab * sizeof(float));
    return NB_OK;
}
