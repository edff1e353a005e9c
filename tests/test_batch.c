/* Batched prompt processing (nb_decode with many tokens, nb_decode_all)
 * against token-by-token decoding, for each family's synthetic model in
 * ../shared/reference and stories260K: the float path (F32 cache) and the
 * fast path (partner formats, F16 cache). A batch computes every dot
 * product and attention head exactly as a single token does, so the logits
 * agree to the bit; the test allows 1e-4 relative so that a future kernel
 * that reorders sums within a batch is still judged fairly. Also: results
 * do not depend on the thread count or the batch size (a few models), and
 * nb_ctx_size is
 * exact (init fits in that many bytes at any alignment, fails with one
 * fewer). */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N_TOK 24 /* three batches of 8; past gemma's sliding window (4) */

typedef struct {
    nb_file_map fm;
    nb_gguf g;
    nb_model m;
} loaded;

static int load(const char *path, loaded *l) {
    nb_err err = {0};
    CHECK_OK(nb_file_map_open(path, &l->fm, &err), err);
    if (nb_test_failed()) return -1;
    CHECK_OK(nb_gguf_parse(l->fm.data, l->fm.size, &l->g, &err), err);
    if (nb_test_failed()) { nb_file_map_close(&l->fm); return -1; }
    CHECK_OK(nb_model_load(&l->g, &l->m, &err), err);
    if (nb_test_failed()) { nb_gguf_free(&l->g); nb_file_map_close(&l->fm); return -1; }
    return 0;
}

static void unload(loaded *l) {
    nb_gguf_free(&l->g);
    nb_file_map_close(&l->fm);
}

/* A context in its own exactly sized block. */
static nb_ctx *make_ctx(const nb_model *m, nb_ctx_params cp, void **mem) {
    nb_err err = {0};
    size_t sz = nb_ctx_size(m, &cp);
    *mem = malloc(sz);
    nb_ctx *c = NULL;
    CHECK(*mem != NULL);
    if (*mem) CHECK_OK(nb_ctx_init(&c, m, &cp, *mem, sz, &err), err);
    return c;
}

/* The logits of every position: one token per call (n_batch 1, one
 * thread), as the differential tests against llama.cpp run. */
static void logits_one_by_one(const nb_model *m, nb_ctx_params cp, const int32_t *toks,
                              float *out) {
    nb_err err = {0};
    void *mem;
    cp.n_batch = 1;
    cp.n_threads = 1;
    nb_ctx *c = make_ctx(m, cp, &mem);
    for (int i = 0; c && i < N_TOK; i++)
        CHECK_OK(nb_decode(c, &toks[i], 1, out + (size_t)i * m->hp.n_vocab, &err), err);
    free(mem);
}

static double rel_err(const float *a, const float *ref, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]) / fmax(1.0, fabs((double)ref[i]));
        if (!(d <= worst)) worst = d; /* NaN counts as worst */
    }
    return worst;
}

static void check_model(const char *path, const char *label, int float_path, int thread_check) {
    loaded *l = calloc(1, sizeof *l);
    CHECK(l != NULL);
    if (!l || load(path, l)) { free(l); return; }
    const nb_model *m = &l->m;
    size_t nv = (size_t)m->hp.n_vocab;
    int32_t toks[N_TOK];
    uint32_t r = 12345;
    for (int i = 0; i < N_TOK; i++) {
        r = r * 1664525u + 1013904223u;
        toks[i] = (int32_t)((r >> 8) % nv);
    }
    nb_ctx_params base = {.n_ctx = 48, .kv_f32 = float_path, .float_path = float_path,
                          .n_batch = 8, .n_threads = 1};
    float *ref = malloc(N_TOK * nv * sizeof(float)), *all = malloc(N_TOK * nv * sizeof(float));
    float *all2 = malloc(N_TOK * nv * sizeof(float)), *last = malloc(nv * sizeof(float));
    CHECK(ref && all && all2 && last);
    if (ref && all && all2 && last) {
        logits_one_by_one(m, base, toks, ref);
        nb_err err = {0};
        void *mem;
        /* batches of 8: every position, then the
         * whole prompt in one nb_decode call (last logits only) */
        nb_ctx *c = make_ctx(m, base, &mem);
        if (c) {
            CHECK_OK(nb_decode_all(c, toks, N_TOK, all, &err), err);
            CHECK(nb_ctx_pos(c) == N_TOK);
            double e = rel_err(all, ref, N_TOK * nv);
            CHECK_MSG(e <= 1e-4, "%s: nb_decode_all vs one by one: %.3g", label, e);
            nb_ctx_reset(c);
            CHECK_OK(nb_decode(c, toks, N_TOK, last, &err), err);
            double e2 = rel_err(last, ref + (N_TOK - 1) * nv, nv);
            CHECK_MSG(e2 <= 1e-4, "%s: nb_decode(%d) last logits: %.3g", label, N_TOK, e2);
            printf("  %-28s batch 8 vs one by one: %.2g (all), %.2g (last)\n", label, e, e2);
        }
        free(mem);
        /* another batch size and thread count: the same bits (a few models
         * only: on a loaded machine OpenMP's spinning barriers are slow) */
        nb_ctx_params odd = base;
        odd.n_batch = 5;
        odd.n_threads = 2;
        c = thread_check ? make_ctx(m, odd, &mem) : (mem = NULL, NULL);
        if (c) {
            /* a prefix first, so that batches start mid-sequence */
            CHECK_OK(nb_decode(c, toks, 10, NULL, &err), err);
            CHECK_OK(nb_decode_all(c, toks + 10, N_TOK - 10, all2 + 10 * nv, &err), err);
            memcpy(all2, all, 10 * nv * sizeof(float));
            CHECK_MSG(!memcmp(all, all2, N_TOK * nv * sizeof(float)),
                      "%s: batch 5, 2 threads differs from batch 8, 1 thread", label);
        }
        free(mem);
    }
    free(ref);
    free(all);
    free(all2);
    free(last);
    unload(l);
    free(l);
}

static const char *FAMILIES[] = {"llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3"};

static void t_float_path(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char path[512], label[64];
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/reference/synth-%s/F16/model.gguf", sh, FAMILIES[i]);
        snprintf(label, sizeof label, "synth-%s F16 float", FAMILIES[i]);
        check_model(path, label, 1, i == 1);
    }
    snprintf(path, sizeof path, "%s/models/tinystories/stories260K.gguf", sh);
    check_model(path, "stories260K F32 float", 1, 0);
}

static void t_fast_path(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char path[512], label[64];
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/reference/synth-%s/Q4_K_M/model.gguf", sh, FAMILIES[i]);
        snprintf(label, sizeof label, "synth-%s Q4_K_M fast", FAMILIES[i]);
        check_model(path, label, 0, i == 3);
    }
    snprintf(path, sizeof path, "%s/reference/synth-llama/Q4_1/model.gguf", sh);
    check_model(path, "synth-llama Q4_1 fast", 0, 0);
}

/* nb_ctx_size bytes suffice at every misalignment of the arena (run under
 * ASan, `make asan`, a write past them would be caught); one fewer fails. */
static void t_ctx_size_exact(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char path[512];
    snprintf(path, sizeof path, "%s/reference/synth-qwen2/Q8_0/model.gguf", sh);
    loaded *l = calloc(1, sizeof *l);
    CHECK(l != NULL);
    if (!l || load(path, l)) { free(l); return; }
    nb_ctx_params ps[] = {{.n_ctx = 64, .n_threads = 1},
                          {.n_ctx = 64, .n_batch = 1, .n_threads = 1, .kv_f32 = 1},
                          {.n_ctx = 33, .float_path = 1, .n_batch = 5, .n_threads = 2}};
    int32_t toks[40];
    for (int i = 0; i < 40; i++) toks[i] = (i * 37) % l->m.hp.n_vocab;
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        size_t sz = nb_ctx_size(&l->m, &ps[k]);
        for (size_t mis = 0; mis < 16; mis += 9) {
            nb_err err = {0};
            uint8_t *blk = malloc(sz + mis);
            CHECK(blk != NULL);
            if (!blk) continue;
            nb_ctx *c = NULL;
            CHECK_MSG(nb_ctx_init(&c, &l->m, &ps[k], blk + mis, sz - 1, &err) == NB_ERR_NOMEM,
                      "params %zu: %zu - 1 bytes accepted", k, sz);
            CHECK_OK(nb_ctx_init(&c, &l->m, &ps[k], blk + mis, sz, &err), err);
            int32_t n = nb_ctx_n_ctx(c) < 40 ? nb_ctx_n_ctx(c) : 40;
            float *lg = malloc((size_t)n * l->m.hp.n_vocab * sizeof(float));
            if (c && lg) CHECK_OK(nb_decode_all(c, toks, n, lg, &err), err);
            free(lg);
            free(blk);
        }
    }
    nb_ctx_params bad = {.n_ctx = 8, .n_batch = -1};
    uint8_t small[64];
    nb_ctx *c = NULL;
    nb_err err = {0};
    CHECK(nb_ctx_init(&c, &l->m, &bad, small, sizeof small, &err) == NB_ERR_INVALID_ARG);
    unload(l);
    free(l);
}

/* A longer sequence, so that the attention too is split among threads
 * (below some work it runs on one): 1, 2 and 3 threads give the same bits
 * (3 on a 2-core machine: threads that wait for a core at the barriers,
 * and shares of uneven size). */
static void t_threads_long(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char path[512];
    snprintf(path, sizeof path, "%s/reference/synth-qwen2/Q8_0/model.gguf", sh);
    loaded *l = calloc(1, sizeof *l);
    CHECK(l != NULL);
    if (!l || load(path, l)) { free(l); return; }
    enum { N = 200 };
    size_t nv = (size_t)l->m.hp.n_vocab;
    int32_t *toks = malloc(N * sizeof *toks);
    float *a = malloc(N * nv * sizeof(float)), *b = malloc(N * nv * sizeof(float));
    CHECK(toks && a && b);
    for (int i = 0; toks && i < N; i++) toks[i] = (int32_t)((i * 7919u + 13) % nv);
    for (int threads = 1; toks && a && b && threads <= 3; threads++) {
        nb_ctx_params cp = {.n_ctx = N, .n_batch = 16, .n_threads = threads};
        void *mem;
        nb_err err = {0};
        nb_ctx *c = make_ctx(&l->m, cp, &mem);
        if (c) CHECK_OK(nb_decode_all(c, toks, N, threads == 1 ? a : b, &err), err);
        if (threads > 1)
            CHECK_MSG(!memcmp(a, b, N * nv * sizeof(float)),
                      "1 and %d threads differ over %d tokens", threads, N);
        /* the last token's logits only (its row owned by another thread
         * than its token in the last batch of 8) */
        if (c && threads > 1) {
            nb_ctx_reset(c);
            CHECK_OK(nb_decode(c, toks, N, b, &err), err);
            CHECK_MSG(!memcmp(a + (N - 1) * nv, b, nv * sizeof(float)),
                      "last logits, %d threads: differ from nb_decode_all's", threads);
        }
        free(mem);
    }
    free(toks);
    free(a);
    free(b);
    unload(l);
    free(l);
}

int main(void) {
    RUN(t_float_path);
    RUN(t_fast_path);
    RUN(t_ctx_size_exact);
    RUN(t_threads_long);
    return nb_test_done();
}
