/* nb_model_load on hand-made GGUFs: a valid tiny llama, then each way the
 * hyperparameters or tensors can be wrong, each with a clear error; then a
 * tiny model of every other family, valid and with its own tensors missing
 * or mis-shaped. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct { uint8_t *buf; size_t len, cap; } membuf;

static nb_status mem_write(void *user, const void *data, size_t size, nb_err *err) {
    membuf *m = user;
    (void)err;
    if (m->len + size > m->cap) {
        m->cap = (m->len + size) * 2;
        m->buf = realloc(m->buf, m->cap);
    }
    memcpy(m->buf + m->len, data, size);
    m->len += size;
    return NB_OK;
}

enum { BAD_NONE, BAD_ARCH, BAD_NO_HEADS, BAD_HEADS, BAD_SHAPE, BAD_MISSING_TENSOR, BAD_NORM_TYPE };

/* dim 32, 1 layer, 4 heads (2 kv), ff 64, vocab 16; optional defect. */
static float g_rope_freq = 0; /* > 0: add rope_freqs.weight filled with it */

static membuf make_model(int bad) {
    membuf mb = {0};
    nb_err err = {0};
    nb_gguf_writer *w;
    nb_gguf_writer_new(&w, mem_write, &mb, NULL, &err);
    nb_gguf_set_str(w, "general.architecture", bad == BAD_ARCH ? "mamba" : "llama", &err);
    nb_gguf_set_u32(w, "llama.embedding_length", 32, &err);
    nb_gguf_set_u32(w, "llama.block_count", 1, &err);
    nb_gguf_set_u32(w, "llama.feed_forward_length", 64, &err);
    if (bad != BAD_NO_HEADS) nb_gguf_set_u32(w, "llama.attention.head_count", bad == BAD_HEADS ? 5 : 4, &err);
    nb_gguf_set_u32(w, "llama.attention.head_count_kv", 2, &err);
    struct { const char *name; uint32_t type; int64_t ne0, ne1; } t[] = {
        {"token_embd.weight", NB_TYPE_F32, 32, 16}, {"output_norm.weight", NB_TYPE_F32, 32, 1},
        {"blk.0.attn_norm.weight", bad == BAD_NORM_TYPE ? NB_TYPE_F16 : NB_TYPE_F32, 32, 1},
        {"blk.0.attn_q.weight", NB_TYPE_F32, 32, 32},
        {"blk.0.attn_k.weight", NB_TYPE_F32, 32, bad == BAD_SHAPE ? 32 : 16},
        {"blk.0.attn_v.weight", NB_TYPE_F32, 32, 16}, {"blk.0.attn_output.weight", NB_TYPE_F32, 32, 32},
        {"blk.0.ffn_norm.weight", NB_TYPE_F32, 32, 1}, {"blk.0.ffn_gate.weight", NB_TYPE_F32, 32, 64},
        {"blk.0.ffn_up.weight", NB_TYPE_F32, 32, 64}, {"blk.0.ffn_down.weight", NB_TYPE_F32, 64, 32},
    };
    int n = (int)(sizeof t / sizeof t[0]) - (bad == BAD_MISSING_TENSOR);
    for (int i = 0; i < n; i++) {
        int64_t ne[2] = {t[i].ne0, t[i].ne1};
        nb_gguf_add_tensor(w, t[i].name, t[i].type, t[i].ne1 == 1 ? 1 : 2, ne, &err);
    }
    int64_t rf_ne = 4; /* n_rot / 2 */
    if (g_rope_freq > 0) nb_gguf_add_tensor(w, "rope_freqs.weight", NB_TYPE_F32, 1, &rf_ne, &err);
    nb_gguf_writer_write_header(w, &err);
    for (int i = 0; i < n; i++) {
        size_t bytes = (size_t)(t[i].ne0 * t[i].ne1) * (t[i].type == NB_TYPE_F32 ? 4 : 2);
        float *data = calloc(bytes, 1);
        for (size_t j = 0; j < bytes / 4 && t[i].type == NB_TYPE_F32; j++) data[j] = 0.01f * (float)(j % 7);
        nb_gguf_writer_write_data(w, data, bytes, &err);
        free(data);
    }
    if (g_rope_freq > 0) {
        float rf[4] = {g_rope_freq, g_rope_freq, g_rope_freq, g_rope_freq};
        nb_gguf_writer_write_data(w, rf, sizeof rf, &err);
    }
    nb_gguf_writer_finish(w, &err);
    nb_gguf_writer_free(w);
    return mb;
}

static void expect(int bad, nb_status want, const char *msg_part) {
    membuf mb = make_model(bad);
    nb_gguf g;
    nb_err err = {0};
    CHECK_OK(nb_gguf_parse(mb.buf, mb.len, &g, &err), err);
    nb_model *m = malloc(sizeof *m);
    nb_status s = nb_model_load(&g, m, &err);
    CHECK_MSG(s == want, "defect %d: status %s (%s)", bad, nb_status_str(s), err.msg);
    if (msg_part) CHECK_MSG(strstr(err.msg, msg_part), "defect %d: message '%s' lacks '%s'", bad, err.msg, msg_part);
    if (s == NB_OK) { /* run a few tokens on both paths */
        CHECK(m->output == m->tok_embd && m->hp.head_dim == 8 && m->hp.n_rot == 8);
        for (int path = 0; path < 2; path++) {
            nb_ctx_params cp = {.n_ctx = 8, .float_path = path, .kv_f32 = path};
            size_t sz = nb_ctx_size(m, &cp);
            void *arena = malloc(sz);
            nb_ctx *ctx;
            float logits[16];
            int32_t toks[3] = {1, 5, 9};
            CHECK(nb_ctx_init(&ctx, m, &cp, arena, sz - 16, &err) == NB_ERR_NOMEM);
            CHECK_OK(nb_ctx_init(&ctx, m, &cp, arena, sz, &err), err);
            CHECK_OK(nb_decode(ctx, toks, 3, logits, &err), err);
            int32_t bad_tok = 16;
            CHECK(nb_decode(ctx, &bad_tok, 1, logits, &err) == NB_ERR_INVALID_ARG);
            int32_t many[8] = {0};
            CHECK(nb_decode(ctx, many, 8, logits, &err) == NB_ERR_RANGE && strstr(err.msg, "context"));
            free(arena);
        }
    }
    free(m);
    nb_gguf_free(&g);
    free(mb.buf);
}

static void t_valid(void) { expect(BAD_NONE, NB_OK, NULL); }
static void t_unknown_arch(void) { expect(BAD_ARCH, NB_ERR_UNSUPPORTED, "mamba"); }
static void t_missing_key(void) { expect(BAD_NO_HEADS, NB_ERR_NOT_FOUND, "llama.attention.head_count"); }
static void t_contradictory(void) { expect(BAD_HEADS, NB_ERR_FORMAT, "n_head 5"); }
static void t_wrong_shape(void) { expect(BAD_SHAPE, NB_ERR_FORMAT, "blk.0.attn_k.weight"); }
static void t_missing_tensor(void) { expect(BAD_MISSING_TENSOR, NB_ERR_NOT_FOUND, "blk.0.ffn_down.weight"); }
static void t_norm_type(void) { expect(BAD_NORM_TYPE, NB_ERR_UNSUPPORTED, "blk.0.attn_norm.weight"); }

/* Logits after tokens 1, 5, 9, 3 on the float path. */
static void run_logits(float freq, float *out) {
    g_rope_freq = freq;
    membuf mb = make_model(BAD_NONE);
    g_rope_freq = 0;
    nb_gguf g;
    nb_err err = {0};
    nb_model *m = malloc(sizeof *m);
    CHECK_OK(nb_gguf_parse(mb.buf, mb.len, &g, &err), err);
    CHECK_OK(nb_model_load(&g, m, &err), err);
    CHECK((freq > 0) == (m->rope_freqs != NULL));
    nb_ctx_params cp = {.n_ctx = 8, .float_path = 1};
    size_t sz = nb_ctx_size(m, &cp);
    void *arena = malloc(sz);
    nb_ctx *ctx;
    int32_t toks[4] = {1, 5, 9, 3};
    CHECK_OK(nb_ctx_init(&ctx, m, &cp, arena, sz, &err), err);
    CHECK_OK(nb_decode(ctx, toks, 4, out, &err), err);
    free(arena);
    free(m);
    nb_gguf_free(&g);
    free(mb.buf);
}

/* rope_freqs.weight divides the rotation frequencies (Llama 3 scaling):
 * all ones changes nothing, other values change the result. */
static void t_rope_freqs(void) {
    float base[16], ones[16], twos[16];
    run_logits(0, base);
    run_logits(1.0f, ones);
    run_logits(2.0f, twos);
    CHECK(memcmp(base, ones, sizeof base) == 0);
    CHECK(memcmp(base, twos, sizeof base) != 0);
}

/* ------------------------------------------------ the other families */

/* A tiny model of family `arch` (dim 32, 2 layers, 4 heads of 8, 2 kv, ff
 * 64, vocab 16) with the tensors that family has; `drop` (a tensor name)
 * is left out, `reshape` is written one row (or value) too long. */
static membuf make_family(const char *arch, const char *drop, const char *reshape) {
    int phi3 = !strcmp(arch, "phi3"), qwen2 = !strcmp(arch, "qwen2");
    int qk_norm = !strcmp(arch, "qwen3") || !strcmp(arch, "gemma3");
    int gemma = !strncmp(arch, "gemma", 5);
    membuf mb = {0};
    nb_err err = {0};
    nb_gguf_writer *w;
    char key[96];
    nb_gguf_writer_new(&w, mem_write, &mb, NULL, &err);
    nb_gguf_set_str(w, "general.architecture", arch, &err);
    const char *k32[][2] = {{"embedding_length", "32"}, {"block_count", "2"},
                            {"feed_forward_length", "64"}, {"attention.head_count", "4"},
                            {"attention.head_count_kv", "2"}};
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "%s.%s", arch, k32[i][0]);
        nb_gguf_set_u32(w, key, (uint32_t)atoi(k32[i][1]), &err);
    }
    if (gemma) {
        snprintf(key, sizeof key, "%s.attention.sliding_window", arch);
        nb_gguf_set_u32(w, key, 2, &err);
    }
    struct { char name[64]; int64_t ne0, ne1; } t[40];
    int n = 0;
#define T(nm, a, b) (snprintf(t[n].name, 64, "%s", nm), t[n].ne0 = (a), t[n].ne1 = (b), n++)
    T("token_embd.weight", 32, 16);
    T("output_norm.weight", 32, 1);
    for (int l = 0; l < 2; l++) {
        char nm[64];
#define B(what, a, b) (snprintf(nm, sizeof nm, "blk.%d.%s", l, what), T(nm, a, b))
        B("attn_norm.weight", 32, 1);
        if (phi3) {
            B("attn_qkv.weight", 32, 64);
        } else {
            B("attn_q.weight", 32, 32);
            B("attn_k.weight", 32, 16);
            B("attn_v.weight", 32, 16);
        }
        if (qwen2) {
            B("attn_q.bias", 32, 1);
            B("attn_k.bias", 16, 1);
            B("attn_v.bias", 16, 1);
        }
        if (qk_norm) {
            B("attn_q_norm.weight", 8, 1);
            B("attn_k_norm.weight", 8, 1);
        }
        B("attn_output.weight", 32, 32);
        if (gemma) B("post_attention_norm.weight", 32, 1);
        B("ffn_norm.weight", 32, 1);
        if (phi3) {
            B("ffn_up.weight", 32, 128);
        } else {
            B("ffn_gate.weight", 32, 64);
            B("ffn_up.weight", 32, 64);
        }
        B("ffn_down.weight", 64, 32);
        if (gemma) B("post_ffw_norm.weight", 32, 1);
#undef B
    }
#undef T
    int keep[40], n_keep = 0;
    for (int i = 0; i < n; i++) {
        if (drop && !strcmp(t[i].name, drop)) continue;
        if (reshape && !strcmp(t[i].name, reshape)) {
            if (t[i].ne1 == 1) t[i].ne0++;
            else t[i].ne1++;
        }
        keep[n_keep++] = i;
    }
    for (int k = 0; k < n_keep; k++) {
        int i = keep[k];
        int64_t ne[2] = {t[i].ne0, t[i].ne1};
        nb_gguf_add_tensor(w, t[i].name, NB_TYPE_F32, t[i].ne1 == 1 ? 1 : 2, ne, &err);
    }
    nb_gguf_writer_write_header(w, &err);
    for (int k = 0; k < n_keep; k++) {
        int i = keep[k];
        size_t count = (size_t)(t[i].ne0 * t[i].ne1);
        float *data = malloc(count * sizeof *data);
        /* norms near 1, matrices small and varied */
        for (size_t j = 0; j < count; j++)
            data[j] = t[i].ne1 == 1 ? 1.0f + 0.01f * (float)(j % 5) : 0.05f * (float)((j * 7 + (size_t)i) % 11) - 0.25f;
        nb_gguf_writer_write_data(w, data, count * sizeof *data, &err);
        free(data);
    }
    nb_gguf_writer_finish(w, &err);
    nb_gguf_writer_free(w);
    return mb;
}

/* Load the family's tiny model; on success run 5 tokens on both paths. */
static nb_status load_family(const char *arch, const char *drop, const char *reshape, nb_err *err,
                             nb_model *m) {
    membuf mb = make_family(arch, drop, reshape);
    nb_gguf g;
    CHECK_OK(nb_gguf_parse(mb.buf, mb.len, &g, err), *err);
    nb_status s = nb_model_load(&g, m, err);
    for (int path = 0; s == NB_OK && path < 2; path++) {
        nb_ctx_params cp = {.n_ctx = 8, .float_path = path};
        size_t sz = nb_ctx_size(m, &cp);
        void *arena = malloc(sz);
        nb_ctx *ctx;
        float logits[16];
        int32_t toks[5] = {1, 5, 9, 3, 7};
        CHECK_OK(nb_ctx_init(&ctx, m, &cp, arena, sz, err), *err);
        CHECK_OK(nb_decode(ctx, toks, 5, logits, err), *err);
        for (int i = 0; i < 16; i++) CHECK_MSG(isfinite(logits[i]), "%s: logit %d not finite", arch, i);
        free(arena);
    }
    nb_gguf_free(&g);
    free(mb.buf);
    return s;
}

static const char *families[] = {"qwen2", "qwen3", "phi3", "gemma2", "gemma3"};

/* Each family's tiny model loads with its flags and runs. */
static void t_families_valid(void) {
    nb_model *m = malloc(sizeof *m);
    for (int f = 0; f < 5; f++) {
        nb_err err = {0};
        CHECK_OK(load_family(families[f], NULL, NULL, &err, m), err);
        CHECK(!strcmp(nb_arch_name(m->hp.arch), families[f]));
        CHECK(m->hp.rope_neox == 1);
    }
    /* what makes each differ, as data */
    nb_err err = {0};
    load_family("qwen2", NULL, NULL, &err, m);
    CHECK(m->layers[0].bq && m->layers[0].bk && m->layers[0].bv && m->output == m->tok_embd);
    load_family("qwen3", NULL, NULL, &err, m);
    CHECK(m->layers[1].attn_q_norm && m->layers[1].attn_k_norm && !m->layers[1].bq);
    load_family("phi3", NULL, NULL, &err, m);
    CHECK(m->layers[0].wqkv && !m->layers[0].wq && m->layers[0].fused_up && !m->layers[0].ffn_gate);
    load_family("gemma2", NULL, NULL, &err, m);
    CHECK(m->hp.ffn_gelu && m->hp.embd_scale == sqrtf(32.0f) && m->hp.attn_softcap == 50.0f &&
          m->hp.final_softcap == 30.0f && m->hp.n_swa == 2);
    CHECK(m->layers[0].swa == 1 && m->layers[1].swa == 0); /* even layers local */
    CHECK(m->layers[0].attn_post_norm && m->layers[0].ffn_post_norm);
    load_family("gemma3", NULL, NULL, &err, m);
    CHECK(m->layers[0].swa == 1 && m->layers[1].swa == 1); /* period 6: layer 5 global */
    CHECK(m->hp.rope_freq_base_swa == 10000.0f && m->hp.final_softcap == 0.0f);
    free(m);
}

/* A file that lacks what its architecture needs, or has it in the wrong
 * shape: the error names the architecture and the tensor. */
static void t_families_errors(void) {
    static const struct { const char *arch, *drop, *reshape; nb_status want; const char *msg; } c[] = {
        {"qwen2", "blk.1.attn_k.bias", NULL, NB_ERR_NOT_FOUND, "qwen2 model: missing tensor 'blk.1.attn_k.bias'"},
        {"qwen3", "blk.0.attn_q_norm.weight", NULL, NB_ERR_NOT_FOUND, "qwen3 model: missing tensor 'blk.0.attn_q_norm.weight'"},
        {"qwen3", NULL, "blk.0.attn_k_norm.weight", NB_ERR_FORMAT, "qwen3 model: tensor 'blk.0.attn_k_norm.weight' has shape 9,"},
        {"phi3", NULL, "blk.0.ffn_up.weight", NB_ERR_FORMAT, "phi3 model: tensor 'blk.0.ffn_up.weight' has shape 32,129,1,1, expected 32,128"},
        {"phi3", NULL, "blk.1.attn_qkv.weight", NB_ERR_FORMAT, "phi3 model: tensor 'blk.1.attn_qkv.weight'"},
        {"gemma2", "blk.1.post_ffw_norm.weight", NULL, NB_ERR_NOT_FOUND, "gemma2 model: missing tensor 'blk.1.post_ffw_norm.weight'"},
        {"gemma3", "blk.0.post_attention_norm.weight", NULL, NB_ERR_NOT_FOUND, "gemma3 model: missing tensor 'blk.0.post_attention_norm.weight'"},
        {"gemma3", NULL, "blk.1.attn_q_norm.weight", NB_ERR_FORMAT, "gemma3 model: tensor 'blk.1.attn_q_norm.weight'"},
    };
    nb_model *m = malloc(sizeof *m);
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        nb_err err = {0};
        nb_status s = load_family(c[i].arch, c[i].drop, c[i].reshape, &err, m);
        CHECK_MSG(s == c[i].want, "case %zu: status %s (%s)", i, nb_status_str(s), err.msg);
        CHECK_MSG(strstr(err.msg, c[i].msg), "case %zu: message '%s' lacks '%s'", i, err.msg, c[i].msg);
    }
    free(m);
}

int main(void) {
    RUN(t_valid);
    RUN(t_unknown_arch);
    RUN(t_missing_key);
    RUN(t_contradictory);
    RUN(t_wrong_shape);
    RUN(t_missing_tensor);
    RUN(t_norm_type);
    RUN(t_rope_freqs);
    RUN(t_families_valid);
    RUN(t_families_errors);
    return nb_test_done();
}
