/* nb_model_load on hand-made GGUFs: a valid tiny llama, then each way the
 * hyperparameters or tensors can be wrong, each with a clear error. */
#include "harness.h"

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

int main(void) {
    RUN(t_valid);
    RUN(t_unknown_arch);
    RUN(t_missing_key);
    RUN(t_contradictory);
    RUN(t_wrong_shape);
    RUN(t_missing_tensor);
    RUN(t_norm_type);
    RUN(t_rope_freqs);
    return nb_test_done();
}
