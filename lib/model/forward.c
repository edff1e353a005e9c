/*
 * The forward pass of every supported family (llama, qwen2, qwen3, phi3,
 * gemma2, gemma3). Two paths share it, differing only in matmul and
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
#include "attn.h"
#include "formats/dot.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#include <stdatomic.h>
#include <threads.h>
#include <time.h>
#endif

/* OpenMP only when built with it: `make OPENMP=0` must build without
 * unknown-pragma warnings, and then everything runs on one thread. */
#ifdef _OPENMP
#define NB_OMP(directive) _Pragma(directive)
static int32_t thread_id(void) { return omp_get_thread_num(); }
static int32_t team_size(void) { return omp_get_num_threads(); }
#else
#define NB_OMP(directive)
static int32_t thread_id(void) { return 0; }
static int32_t team_size(void) { return 1; }
#endif

/* ------------------------------------------------------------- threads
 *
 * One parallel region per batch (forward_batch): every thread runs the
 * whole pass, and each step gives each thread its share of the work:
 *   - per-token steps (norms, RoPE, cache stores, SwiGLU, the conversion
 *     of a matrix's input): token t to thread t mod team_size, so that a
 *     thread can convert the rows it has just normalized with no barrier;
 *   - matrix products: tiles of weight rows in one contiguous block per
 *     thread (my_share);
 *   - attention: (token, head) pairs, interleaved like the tokens.
 * Each output is computed by exactly one thread with the same code
 * whatever the thread count, so results do not depend on it. Where a step
 * reads what other threads wrote, a barrier (sync_threads) comes first. */

struct nb_team {
#ifdef _OPENMP
    atomic_int arrived;  /* threads at the current barrier             */
    atomic_int phase;    /* barriers passed                            */
    atomic_int sleepers; /* threads asleep in cnd_wait                 */
    atomic_int spin_ns;  /* how long to spin before sleeping           */
    mtx_t mtx;
    cnd_t cnd;
#else
    int unused;
#endif
};

/* How long a thread spins at a barrier before it sleeps, at most: longer
 * than a step's usual imbalance and than waking a sleeping thread takes
 * (tens of microseconds in a virtual machine), far shorter than a time
 * slice of the scheduler. */
#define NB_SPIN_MAX_NS 200000
#define NB_SPIN_MIN_NS 4000

#ifdef _OPENMP
static int64_t now_ns(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
#endif

/* Wait until every thread of the team has arrived. A waiting thread spins,
 * then sleeps on a condition variable. Spinning alone (OpenMP's default
 * barriers) fails on a busy machine: when another process takes a core
 * from one of our threads, its sibling holds the other core spinning
 * instead of handing it over, and two threads run slower than one. So the
 * spin adapts (the team's spin_ns, kept in the context from batch to
 * batch): it doubles, up to NB_SPIN_MAX_NS, when a spin ends in time, and
 * shrinks by an eighth each time one runs out, down to NB_SPIN_MIN_NS
 * when the threads keep waiting for each other's cores. Only how long the
 * threads wait changes, never what they compute. */
static void sync_threads(nb_ctx *c) {
#ifdef _OPENMP
    int n = omp_get_num_threads();
    if (n == 1) return;
    struct nb_team *tm = c->team;
    int phase = atomic_load(&tm->phase);
    if (atomic_fetch_add(&tm->arrived, 1) == n - 1) { /* the last one in */
        atomic_store(&tm->arrived, 0);
        atomic_store(&tm->phase, phase + 1);
        if (atomic_load(&tm->sleepers)) {
            mtx_lock(&tm->mtx);
            cnd_broadcast(&tm->cnd);
            mtx_unlock(&tm->mtx);
        }
        return;
    }
    int spin = atomic_load_explicit(&tm->spin_ns, memory_order_relaxed);
    int64_t until = now_ns() + spin;
    do {
        for (int i = 0; i < 256; i++)
            if (atomic_load_explicit(&tm->phase, memory_order_acquire) != phase) {
                int longer = spin < NB_SPIN_MAX_NS / 2 ? 2 * spin : NB_SPIN_MAX_NS;
                if (longer != spin)
                    atomic_store_explicit(&tm->spin_ns, longer, memory_order_relaxed);
                return;
            }
    } while (now_ns() < until);
    int shorter = spin > NB_SPIN_MIN_NS ? spin - spin / 8 : NB_SPIN_MIN_NS;
    atomic_store_explicit(&tm->spin_ns, shorter, memory_order_relaxed);
    mtx_lock(&tm->mtx);
    atomic_fetch_add(&tm->sleepers, 1); /* before the check: see the last one in */
    while (atomic_load(&tm->phase) == phase) cnd_wait(&tm->cnd, &tm->mtx);
    atomic_fetch_sub(&tm->sleepers, 1);
    mtx_unlock(&tm->mtx);
#else
    (void)c;
#endif
}

/* This thread's block of n items (rows, tiles): [begin, end). */
typedef struct {
    int64_t begin, end;
} nb_share;

static nb_share my_share(int64_t n) {
    int64_t id = thread_id(), nth = team_size();
    nb_share s = {n * id / nth, n * (id + 1) / nth};
    return s;
}

/* ------------------------------------------------------------- sizes */

#define NB_DEFAULT_BATCH 32
#define NB_MAX_THREADS 256

static size_t align16(size_t n) {
    return (n + 15) & ~(size_t)15;
}

/* Positions the key cache and a row of scores hold: n_ctx rounded up to
 * whole tiles of 16 keys (attn.h). */
static size_t keys_len(int32_t n_ctx) {
    return ((size_t)n_ctx + NB_ATTN_TILE - 1) / NB_ATTN_TILE * NB_ATTN_TILE;
}

static int32_t ctx_len(const nb_model *m, const nb_ctx_params *p) {
    int32_t n = p && p->n_ctx > 0 ? p->n_ctx : m->hp.n_ctx_train;
    if (!(p && p->n_ctx > 0) && n > 2048) n = 2048;
    return n;
}

static int32_t ctx_batch(const nb_ctx_params *p) {
    return p && p->n_batch > 0 ? p->n_batch : NB_DEFAULT_BATCH;
}

/* The thread count decides how many per-thread scratch rows the arena
 * holds, so nb_ctx_size and nb_ctx_init must see the same number: the
 * caller's, or OpenMP's default at the time of the call; 1 without OpenMP. */
static int32_t ctx_threads(const nb_ctx_params *p) {
#ifdef _OPENMP
    int32_t n = p && p->n_threads > 0 ? p->n_threads : omp_get_max_threads();
    return n < 1 ? 1 : n > NB_MAX_THREADS ? NB_MAX_THREADS : n;
#else
    (void)p;
    return 1;
#endif
}

/* Every buffer of struct nb_ctx, in layout order; `base` NULL just sizes. */
static size_t layout(nb_ctx *c, uint8_t *base, const nb_model *m, int32_t n_ctx, int kv_f16,
                     int32_t n_batch, int32_t n_threads) {
    const nb_hparams *hp = &m->hp;
    size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    size_t q_dim = (size_t)hp->n_head * hp->head_dim;
    size_t max_row = (size_t)(hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd);
    if (q_dim > max_row) max_row = q_dim;
    size_t xb_dim = (size_t)hp->n_embd > q_dim ? (size_t)hp->n_embd : q_dim;
    /* partner formats take at most 4 bytes per value (F32); + one block */
    size_t act_stride = align16(max_row * 4 + 512);
    size_t B = (size_t)n_batch;
    if (base) {
        c->xb_dim = (int32_t)xb_dim;
        c->qkv_dim = (int32_t)(q_dim + 2 * kv_dim);
        c->max_row = (int32_t)max_row;
        c->act_stride = act_stride;
    }
    size_t off = align16(sizeof(nb_ctx));
#define TAKE_BYTES(field, bytes)                                      \
    do {                                                              \
        if (base) c->field = (void *)(base + off);                    \
        off += align16((size_t)(bytes));                              \
    } while (0)
#define TAKE(field, count) TAKE_BYTES(field, (size_t)(count) * sizeof(float))
    TAKE(x, B * hp->n_embd);
    TAKE(xb, B * xb_dim);
    TAKE(xb2, B * hp->n_embd);
    /* q, k, v side by side: a fused Wqkv (phi3) writes all three at once */
    TAKE(q, B * (q_dim + 2 * kv_dim));
    /* per thread: the scores of one head (whole tiles of keys) */
    TAKE(att, (size_t)n_threads * keys_len(n_ctx));
    /* gate then up: a fused ffn_up (phi3) writes both at once */
    TAKE(hb, B * 2 * (size_t)hp->n_ff);
    TAKE(row, (size_t)n_threads * max_row);
    TAKE(logits, hp->n_vocab);
    TAKE(rope_inv, hp->n_rot / 2);
    TAKE(rope_inv_swa, hp->n_rot / 2);
    TAKE_BYTES(act, B * act_stride);
    size_t kv_elem = kv_f16 ? 2 : 4;
    TAKE_BYTES(key_cache, (size_t)hp->n_layer * keys_len(n_ctx) * kv_dim * kv_elem);
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
    return layout(NULL, NULL, m, ctx_len(m, p), kv_is_f16(p), ctx_batch(p), ctx_threads(p)) +
           15; /* + arena alignment */
}

nb_status nb_ctx_init(nb_ctx **out, const nb_model *m, const nb_ctx_params *p, void *arena,
                      size_t arena_size, nb_err *err) {
    if (!out || !m || !arena) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_ctx_init: NULL argument");
    int32_t n_ctx = ctx_len(m, p);
    if (n_ctx <= 0) return nb_errf(err, NB_ERR_INVALID_ARG, "n_ctx %d must be positive", n_ctx);
    if (p && (p->n_batch < 0 || p->n_threads < 0))
        return nb_errf(err, NB_ERR_INVALID_ARG, "n_batch %d and n_threads %d must not be negative",
                       p->n_batch, p->n_threads);
    size_t need = nb_ctx_size(m, p);
    if (arena_size < need)
        return nb_errf(err, NB_ERR_NOMEM, "arena of %zu bytes is too small: the context needs %zu",
                       arena_size, need);
    uint8_t *base = (uint8_t *)arena + ((16 - ((uintptr_t)arena & 15)) & 15);
    nb_ctx *c = (nb_ctx *)base;
    memset(c, 0, sizeof *c);
    c->n_batch = ctx_batch(p);
    c->n_threads = ctx_threads(p);
    layout(c, base, m, n_ctx, kv_is_f16(p), c->n_batch, c->n_threads);
    c->m = m;
    c->kv_f16 = kv_is_f16(p);
    c->float_path = p && p->float_path;
    c->n_ctx = n_ctx;
    c->spin_ns = NB_SPIN_MAX_NS;
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

int32_t nb_ctx_threads(const nb_ctx *ctx) {
    return ctx->n_threads;
}

/* ------------------------------------------------------------- steps */

/* One row of a weight tensor as floats, into `dst` (max_row floats). */
static const float *weight_row(float *dst, const nb_gguf_tensor *w, int64_t r) {
    const nb_type_info *ti = nb_type_get(w->type);
    size_t row_bytes = nb_row_size(w->type, w->ne[0]);
    ti->to_float((const uint8_t *)w->data + (size_t)r * row_bytes, dst, w->ne[0]);
    return dst;
}

/* Weight rows per tile of a matrix product: their bytes stay in L1 while
 * every token of the batch goes past them. */
#define NB_TILE_ROWS 16

/* One matrix of a product: out[t][r] = W[r] . x[t]; rows t of out lie
 * out_stride floats apart. */
typedef struct {
    const nb_gguf_tensor *w;
    float *out;
    size_t out_stride;
} nb_product;

/* The products of `count` matrices with one input, x[t] for the n tokens
 * of a batch (rows x_stride floats apart): q, k, v of one normalized x,
 * or gate and up. Called by every thread of the team; returns after a
 * barrier, when every output is there. Each W is (n_in = ne[0]) x n_out.
 *
 * Fast path (as llama.cpp): each x[t] is converted once to the weight
 * type's partner format, into act (again only when the next matrix's
 * partner differs), by the thread that owns token t: the one that may
 * have just computed x[t], so no barrier is needed before. Then the
 * weight rows, in tiles of NB_TILE_ROWS, each thread a block of tiles:
 * a tile, once read from memory, serves every token of the batch while
 * it is in cache (a prompt streams the weights once per batch instead of
 * once per token), tiles of rows times tokens at once (nb_vec_dot_mn).
 * No barrier between two matrices of the same partner format: their
 * outputs are independent. Float path: each row dequantized (into the
 * thread's own row buffer), F32 dot. Each output is computed by one thread
 * with the same operations whatever the thread count, the tile or the
 * batch size, so results depend on none. */
static void matmuls(nb_ctx *c, int32_t n, const float *x, size_t x_stride, int count,
                    const nb_product *p) {
    uint8_t *act = (uint8_t *)c->act;
    size_t as = c->act_stride;
    int32_t converted = -1; /* partner format act holds */
    for (int k = 0; k < count; k++) {
        const nb_gguf_tensor *w = p[k].w;
        int64_t n_in = w->ne[0], n_out = nb_tensor_nelements(w) / n_in;
        const nb_type_info *ti = nb_type_get(w->type);
        const uint8_t *wdata = (const uint8_t *)w->data;
        size_t row_bytes = nb_row_size(w->type, n_in), os = p[k].out_stride;
        float *out = p[k].out;
        if (!c->float_path && ti->vec_dot) {
            if (converted != (int32_t)ti->vec_dot_type) {
                if (converted >= 0) sync_threads(c); /* act is still being read */
                nb_quantize_fn quantize = nb_act_quantize(ti->vec_dot_type);
                for (int32_t t = thread_id(); t < n; t += team_size())
                    quantize(x + t * x_stride, act + t * as, n_in);
                converted = (int32_t)ti->vec_dot_type;
                sync_threads(c);
            }
            nb_share tiles = my_share((n_out + NB_TILE_ROWS - 1) / NB_TILE_ROWS);
            for (int64_t r = tiles.begin * NB_TILE_ROWS; r < tiles.end * NB_TILE_ROWS && r < n_out;
                 r += NB_TILE_ROWS) {
                int32_t rows = n_out - r < NB_TILE_ROWS ? (int32_t)(n_out - r) : NB_TILE_ROWS;
                nb_vec_dot_mn(w->type, n_in, rows, n, out + r, 1, os,
                              wdata + (size_t)r * row_bytes, row_bytes, act, as);
            }
            continue;
        }
        if (k == 0) sync_threads(c); /* x of every token */
        float *row = c->row + (size_t)thread_id() * c->max_row;
        nb_share rows = my_share(n_out);
        for (int64_t r = rows.begin; r < rows.end; r++) {
            weight_row(row, w, r);
            for (int32_t t = 0; t < n; t++) {
                const float *xt = x + t * x_stride;
                float sum = 0.0f;
                for (int64_t i = 0; i < n_in; i++) sum += row[i] * xt[i];
                out[t * os + r] = sum;
            }
        }
    }
    sync_threads(c);
}

/* out = W x for the n tokens (see matmuls). */
static void matmul(nb_ctx *c, int32_t n, float *out, size_t out_stride, const nb_gguf_tensor *w,
                   const float *x, size_t x_stride) {
    nb_product p = {w, out, out_stride};
    matmuls(c, n, x, x_stride, 1, &p);
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

/* One query head of the token at position `pos` over the cache of one
 * layer (causal: keys 0..pos), into oh (head_dim); `att` holds a row of
 * scores. A local layer sees only the last n_swa positions (sliding
 * window, Beltagy et al. 2020; llama.cpp masks a key when pos - t >= n_swa).
 * Scores are scaled by attn_scale (llama.cpp scales q instead for gemma and
 * phi3: the same numbers for a power-of-two scale such as 1/sqrt(64)) and,
 * for gemma2, soft-capped before the softmax. The two products go through
 * the attention kernels `kern` (attn.h: keys in tiles of 16 positions, so
 * the scores of whole tiles are computed; those outside t0..pos are
 * ignored). With an F16 cache, llama.cpp's matrix products round the
 * other operand (q, then the attention weights) to F16 too; so do we. */
static void attention_head(const nb_ctx *c, const nb_attn_kernels *kern, float *oh, float *qh,
                           const void *kcache, const void *vcache, int32_t kvh, int32_t pos,
                           int local, float *att) {
    const nb_hparams *hp = &c->m->hp;
    int32_t hd = hp->head_dim, kv_dim = hp->n_head_kv * hd;
    int32_t t0 = local && pos >= hp->n_swa ? pos - hp->n_swa + 1 : 0, n = pos + 1 - t0;
    float scale = hp->attn_scale;
    /* scores of the tiles j0 .. j1 that hold keys t0 .. pos */
    int32_t j0 = t0 / NB_ATTN_TILE, j1 = pos / NB_ATTN_TILE;
    size_t tile = (size_t)NB_ATTN_TILE * kv_dim, head = (size_t)kvh * hd * NB_ATTN_TILE;
    float *s = att + (size_t)j0 * NB_ATTN_TILE;
    if (c->kv_f16) {
        kern->round_f16(hd, qh);
        kern->scores_f16(hd, j1 - j0 + 1, qh, (const uint16_t *)kcache + j0 * tile + head, tile, s);
    } else {
        kern->scores_f32(hd, j1 - j0 + 1, qh, (const float *)kcache + j0 * tile + head, tile, s);
    }
    for (int32_t t = t0; t <= pos; t++) {
        float x = att[t] * scale;
        att[t] = hp->attn_softcap > 0.0f ? softcap(x, hp->attn_softcap) : x;
    }
    softmax(att + t0, n);
    /* out = sum over t of att[t] * v[t] */
    size_t v_at = (size_t)t0 * kv_dim + (size_t)kvh * hd;
    if (c->kv_f16) {
        kern->round_f16(n, att + t0);
        kern->mix_f16(hd, n, att + t0, (const uint16_t *)vcache + v_at, (size_t)kv_dim, oh);
    } else {
        kern->mix_f32(hd, n, att + t0, (const float *)vcache + v_at, (size_t)kv_dim, oh);
    }
}

/* Causal grouped-query attention of the n tokens of a batch (positions
 * pos0 ..), once every thread has stored its tokens' keys and values in
 * the cache: each query head h reads kv head h / (n_head / n_head_kv);
 * token t sees positions up to pos0 + t, so within the batch the mask is
 * causal as well. The (token, head) pairs are independent and interleaved
 * among the threads (later tokens see more keys), each thread with its
 * own row of scores; barriers before and after. */
static void attention(nb_ctx *c, int32_t n, int32_t pos0, const void *kcache, const void *vcache,
                      int local) {
    const nb_hparams *hp = &c->m->hp;
    const nb_attn_kernels *kern = nb_attn_current();
    int32_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv, n_pairs = n * hp->n_head;
    float *att = c->att + (size_t)thread_id() * keys_len(c->n_ctx);
    sync_threads(c); /* keys and values of every token, q of every head */
    for (int32_t i = thread_id(); i < n_pairs; i += team_size()) {
        int32_t t = i / hp->n_head, h = i % hp->n_head;
        attention_head(c, kern, c->xb + (size_t)t * c->xb_dim + (size_t)h * hd,
                       c->q + (size_t)t * c->qkv_dim + (size_t)h * hd, kcache, vcache, h / group,
                       pos0 + t, local, att);
    }
    sync_threads(c); /* every head of the output */
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

/* Append one position's k and v to the layer's cache: v as a row, k into
 * column pos % 16 of its tile of 16 positions (attn.h). */
static void store_kv(nb_ctx *c, void *kcache, void *vcache, int32_t pos, int32_t kv_dim,
                     const float *k, const float *v) {
    size_t at = (size_t)pos * kv_dim;
    size_t k_at = (size_t)(pos / NB_ATTN_TILE) * NB_ATTN_TILE * kv_dim + pos % NB_ATTN_TILE;
    if (c->kv_f16) {
        uint16_t *kc = (uint16_t *)kcache + k_at;
        for (int32_t i = 0; i < kv_dim; i++) kc[(size_t)i * NB_ATTN_TILE] = nb_f32_to_fp16(k[i]);
        nb_f32_to_f16_row(v, (uint16_t *)vcache + at, kv_dim);
    } else {
        float *kc = (float *)kcache + k_at;
        for (int32_t i = 0; i < kv_dim; i++) kc[(size_t)i * NB_ATTN_TILE] = k[i];
        memcpy((float *)vcache + at, v, (size_t)kv_dim * sizeof(float));
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

/* q, k, v of the n tokens of a batch: three matrices, or one fused Wqkv
 * (phi3) whose rows are Q, then K, then V, written straight into each
 * token's adjacent q, k, v. */
static void qkv_projections(nb_ctx *c, const nb_layer *L, int32_t n) {
    const nb_hparams *hp = &c->m->hp;
    int32_t q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    size_t qs = (size_t)c->qkv_dim, xs = (size_t)c->xb_dim;
    if (L->wqkv) {
        matmul(c, n, c->q, qs, L->wqkv, c->xb, xs);
        return;
    }
    nb_product p[3] = {{L->wq, c->q, qs}, {L->wk, c->q + q_dim, qs},
                       {L->wv, c->q + q_dim + kv_dim, qs}};
    matmuls(c, n, c->xb, xs, 3, p);
}

/* gate and up projections of the n tokens: two matrices, or one stacked
 * ffn_up (phi3) whose first n_ff rows are the gate, written straight into
 * each token's gate and up halves of hb. */
static void gate_up_projections(nb_ctx *c, const nb_layer *L, int32_t n) {
    size_t hs = 2 * (size_t)c->m->hp.n_ff, xs = (size_t)c->xb_dim;
    if (L->fused_up) {
        matmul(c, n, c->hb, hs, L->ffn_up, c->xb, xs);
        return;
    }
    nb_product p[2] = {{L->ffn_gate, c->hb, hs}, {L->ffn_up, c->hb + c->m->hp.n_ff, hs}};
    matmuls(c, n, c->xb, xs, 2, p);
}

/* The n (<= n_batch) tokens at positions pos, pos + 1, ... through the
 * model, run by every thread of the team. Every step below is done for
 * each token of the batch ("for t": each thread its tokens, t = its id,
 * id + team size, ...), the matrix products for all of them at once; a
 * barrier separates the steps where a thread reads rows that others
 * wrote (inside matmuls and attention, and before the attention). The
 * logits: of every token into logits_all (n rows of n_vocab) when it is
 * given, else of the last token into c->logits when want_last. */
static void forward_steps(nb_ctx *c, const int32_t *tokens, int32_t n, int32_t pos,
                          float *logits_all, int want_last) {
    const nb_model *m = c->m;
    const nb_hparams *hp = &m->hp;
    int32_t dim = hp->n_embd, q_dim = hp->n_head * hp->head_dim;
    int32_t kv_dim = hp->n_head_kv * hp->head_dim, n_ff = hp->n_ff;
    size_t xs = (size_t)c->xb_dim, qs = (size_t)c->qkv_dim, hs = 2 * (size_t)n_ff;
    int32_t t0 = thread_id(), dt = team_size(); /* this thread's tokens */
    float *row = c->row + (size_t)t0 * c->max_row;

    /* embedding: one row of the (possibly quantized) table; gemma scales it */
    for (int32_t t = t0; t < n; t += dt) {
        const float *e = weight_row(row, m->tok_embd, tokens[t]);
        for (int32_t i = 0; i < dim; i++) c->x[t * dim + i] = e[i] * hp->embd_scale;
    }

    for (int32_t l = 0; l < hp->n_layer; l++) {
        const nb_layer *L = &m->layers[l];
        size_t kv_elem = c->kv_f16 ? 2 : 4;
        uint8_t *kcache = (uint8_t *)c->key_cache + (size_t)l * keys_len(c->n_ctx) * kv_dim * kv_elem;
        uint8_t *vcache = (uint8_t *)c->value_cache + (size_t)l * c->n_ctx * kv_dim * kv_elem;
        const float *inv_freq = L->swa ? c->rope_inv_swa : c->rope_inv;

        /* attention block */
        for (int32_t t = t0; t < n; t += dt)
            rmsnorm(c->xb + t * xs, c->x + t * dim, norm_weight(L->attn_norm), dim, hp->rms_eps);
        qkv_projections(c, L, n);
        for (int32_t t = t0; t < n; t += dt) {
            float *q = c->q + t * qs, *k = q + q_dim, *v = k + kv_dim;
            add_bias(q, L->bq, q_dim);
            add_bias(k, L->bk, kv_dim);
            add_bias(v, L->bv, kv_dim);
            if (L->attn_q_norm) {
                head_rmsnorm(q, hp->n_head, hp->head_dim, norm_weight(L->attn_q_norm), hp->rms_eps);
                head_rmsnorm(k, hp->n_head_kv, hp->head_dim, norm_weight(L->attn_k_norm),
                             hp->rms_eps);
            }
            rope(q, hp->n_head, hp->head_dim, hp->n_rot, pos + t, inv_freq, hp->rope_neox,
                 hp->rope_attn_factor);
            rope(k, hp->n_head_kv, hp->head_dim, hp->n_rot, pos + t, inv_freq, hp->rope_neox,
                 hp->rope_attn_factor);
            store_kv(c, kcache, vcache, pos + t, kv_dim, k, v);
        }
        attention(c, n, pos, kcache, vcache, L->swa);
        matmul(c, n, c->xb2, (size_t)dim, L->wo, c->xb, xs);
        for (int32_t t = t0; t < n; t += dt) {
            float *b = c->xb2 + t * dim;
            if (L->attn_post_norm) rmsnorm(b, b, norm_weight(L->attn_post_norm), dim, hp->rms_eps);
            residual_add(c->x + t * dim, b, dim);
        }

        /* feed-forward block */
        for (int32_t t = t0; t < n; t += dt)
            rmsnorm(c->xb + t * xs, c->x + t * dim, norm_weight(L->ffn_norm), dim, hp->rms_eps);
        gate_up_projections(c, L, n);
        for (int32_t t = t0; t < n; t += dt) {
            float *gate = c->hb + t * hs, *up = gate + n_ff;
            if (hp->ffn_gelu)
                geglu(gate, up, n_ff);
            else
                swiglu(gate, up, n_ff);
        }
        matmul(c, n, c->xb2, (size_t)dim, L->ffn_down, c->hb, hs);
        for (int32_t t = t0; t < n; t += dt) {
            float *b = c->xb2 + t * dim;
            if (L->ffn_post_norm) rmsnorm(b, b, norm_weight(L->ffn_post_norm), dim, hp->rms_eps);
            residual_add(c->x + t * dim, b, dim);
        }
    }

    /* logits = Woutput rmsnorm(x): of tokens first .. n-1 only */
    int32_t first = logits_all ? 0 : n - 1;
    float *out = logits_all ? logits_all : c->logits;
    if (!logits_all && !want_last) return;
    /* row t - first of xb, owned like token t - first: x[t] may come from
     * another thread */
    sync_threads(c);
    for (int32_t t = first + t0; t < n; t += dt)
        rmsnorm(c->xb + (t - first) * xs, c->x + t * dim, norm_weight(m->output_norm), dim,
                hp->rms_eps);
    matmul(c, n - first, out, (size_t)hp->n_vocab, m->output, c->xb, xs);
    if (hp->final_softcap > 0.0f) {
        nb_share s = my_share((int64_t)(n - first) * hp->n_vocab);
        for (int64_t i = s.begin; i < s.end; i++) out[i] = softcap(out[i], hp->final_softcap);
    }
}

/* Multiply-adds of one token through the matrices of the model. */
static double token_work(const nb_hparams *hp) {
    double q_dim = (double)hp->n_head * hp->head_dim, kv_dim = (double)hp->n_head_kv * hp->head_dim;
    double layer = hp->n_embd * (2 * q_dim + 2 * kv_dim) + 3.0 * hp->n_embd * hp->n_ff;
    return hp->n_layer * layer + (double)hp->n_embd * hp->n_vocab;
}

/* One parallel region per batch: the team's threads run forward_steps
 * together. Below ~1M multiply-adds per batch (tiny models, one token of
 * them) waking the other threads costs more than it saves: one thread
 * runs it; the results are the same either way. */
static void forward_batch(nb_ctx *c, const int32_t *tokens, int32_t n, int32_t pos,
                          float *logits_all, int want_last) {
    struct nb_team team;
#ifdef _OPENMP
    atomic_init(&team.arrived, 0);
    atomic_init(&team.phase, 0);
    atomic_init(&team.sleepers, 0);
    atomic_init(&team.spin_ns, c->spin_ns);
    mtx_init(&team.mtx, mtx_plain);
    cnd_init(&team.cnd);
#endif
    c->team = &team;
    int par = c->n_threads > 1 && n * token_work(&c->m->hp) >= 1048576.0;
    (void)par; /* unused without OpenMP */
    NB_OMP("omp parallel num_threads(c->n_threads) if(par)")
    forward_steps(c, tokens, n, pos, logits_all, want_last);
#ifdef _OPENMP
    c->spin_ns = atomic_load(&team.spin_ns);
    mtx_destroy(&team.mtx);
    cnd_destroy(&team.cnd);
#endif
    c->team = NULL;
}

static nb_status check_tokens(const nb_ctx *c, const int32_t *tokens, int32_t n_tokens,
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
    return NB_OK;
}

/* The tokens in micro-batches of up to n_batch; only the last batch's
 * last token needs logits (when the caller wants them). */
nb_status nb_decode(nb_ctx *c, const int32_t *tokens, int32_t n_tokens, float *logits,
                    nb_err *err) {
    nb_status s = check_tokens(c, tokens, n_tokens, err);
    if (s) return s;
    for (int32_t i = 0; i < n_tokens; i += c->n_batch) {
        int32_t n = n_tokens - i < c->n_batch ? n_tokens - i : c->n_batch;
        int last = i + n == n_tokens;
        forward_batch(c, tokens + i, n, c->pos, NULL, last && logits);
        c->pos += n;
    }
    if (logits && n_tokens)
        memcpy(logits, c->logits, (size_t)c->m->hp.n_vocab * sizeof(float));
    return NB_OK;
}

nb_status nb_decode_all(nb_ctx *c, const int32_t *tokens, int32_t n_tokens, float *logits_all,
                        nb_err *err) {
    nb_status s = check_tokens(c, tokens, n_tokens, err);
    if (s) return s;
    if (!logits_all && n_tokens)
        return nb_errf(err, NB_ERR_INVALID_ARG, "nb_decode_all: NULL logits");
    for (int32_t i = 0; i < n_tokens; i += c->n_batch) {
        int32_t n = n_tokens - i < c->n_batch ? n_tokens - i : c->n_batch;
        forward_batch(c, tokens + i, n, c->pos, logits_all + (size_t)i * c->m->hp.n_vocab, 0);
        c->pos += n;
    }
    return NB_OK;
}
