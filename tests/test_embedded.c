/* Embedded use (issue 9): the whole path from model bytes to generated text
 * runs in caller memory. This program is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free (Makefile), so
 * every heap call made by the library or this file goes through the
 * counters below; a counting window around parse, load, init and a 32-token
 * greedy generation must see none. Heap use inside libc or libgomp (printf
 * buffers, OpenMP thread start-up) is not wrapped and not counted: it is not
 * the library's. Also: nb_ctx_init in exactly nb_ctx_size bytes (any start
 * alignment), fails cleanly with one byte less, and nb_ctx_size is not
 * padded (highest arena byte written vs the size it asked for). */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------- heap counters */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

/* volatile: the compiler knows malloc and free as builtins that touch no
 * user globals, and would otherwise move these stores across the calls */
static volatile int g_counting;     /* inside the window                       */
static volatile long g_heap_calls;  /* malloc/calloc/realloc/free in the window */

void *__wrap_malloc(size_t n) {
    g_heap_calls += g_counting;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size) {
    g_heap_calls += g_counting;
    return __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) {
    g_heap_calls += g_counting;
    return __real_realloc(p, n);
}
void __wrap_free(void *p) {
    g_heap_calls += g_counting;
    __real_free(p);
}

/* The wrap must really be in place, or a zero count proves nothing. */
static void t_wrap_active(void) {
    g_heap_calls = 0;
    g_counting = 1;
    void *volatile p = malloc(16); /* volatile: the pair cannot be elided */
    free(p);
    g_counting = 0;
    long n = g_heap_calls;
    CHECK_MSG(n == 2, "counted %ld heap calls for malloc+free (wrap not linked?)", n);
}

/* ------------------------------------------------------------- helpers */

static const int32_t k_prompt[] = {1, 403, 407, 261, 378}; /* <s> "Once upon a time" */
enum { N_PROMPT = 5, N_GEN = 32 };

static char *model_path(char *buf, size_t size) {
    const char *sh = nb_test_shared_dir();
    if (!sh) return NULL;
    snprintf(buf, size, "%s/models/tinystories/stories260K.gguf", sh);
    return buf;
}

/* The first n ids of llama.cpp's greedy continuation; -1 if unreadable. */
static int read_reference(int32_t *ids, int n) {
    char path[512];
    snprintf(path, sizeof path, "%s/reference/stories260K/F32/prompt1.greedy64.txt",
             nb_test_shared_dir());
    size_t len;
    char *t = nb_test_read_file(path, &len);
    if (!t) return -1;
    t[len] = 0;
    char *p = t, *e;
    int k = 0;
    while (k < n) {
        long v = strtol(p, &e, 10);
        if (e == p) break;
        ids[k++] = (int32_t)v;
        p = e;
    }
    free(t);
    return k == n ? 0 : -1;
}

/* ---------------------------------------------------- no heap, exact size */

/* From the model bytes on, everything lives in three caller blocks (GGUF
 * index + tokenizer, context, sampler) and nothing touches the heap. */
static void t_generation_without_heap(void) {
    char path[512];
    if (!model_path(path, sizeof path)) { nb_test_skip("../shared not found"); return; }
    int32_t want[N_GEN];
    CHECK_MSG(read_reference(want, N_GEN) == 0, "cannot read the F32 greedy reference");
    size_t file_size;
    void *file = nb_test_read_file(path, &file_size);
    CHECK_MSG(file != NULL, "cannot read %s", path);
    if (nb_test_failed()) { free(file); return; }

    /* Caller memory, sized through the API before the window opens. The
     * model struct is static-sized but large: off the stack. */
    static nb_model m;
    static nb_gguf g;
    static nb_tokenizer tok;
    nb_err err = {0};
    size_t index_size = nb_gguf_index_size(file, file_size);
    CHECK(index_size > 0);
    /* the tokenizer's block needs the parsed index first: parse once with
     * the heap to size it (outside the window), then redo it all inside */
    nb_gguf probe;
    CHECK_OK(nb_gguf_parse(file, file_size, &probe, &err), err);
    if (nb_test_failed()) { free(file); return; }
    size_t tok_size = nb_tokenizer_mem_size(&probe);
    CHECK_OK(nb_model_load(&probe, &m, &err), err);
    nb_ctx_params cp = {.n_ctx = 64};
    size_t ctx_size = nb_ctx_size(&m, &cp);
    nb_sampler_params sp = nb_sampler_default_params();
    sp.temp = 0; /* greedy */
    size_t smp_size = nb_sampler_size(m.hp.n_vocab, &sp);
    int32_t n_vocab = m.hp.n_vocab;
    nb_gguf_free(&probe);
    CHECK(tok_size > 0 && ctx_size > 0 && smp_size > 0);
    size_t meta_size = index_size + tok_size;
    void *meta_mem = malloc(meta_size), *ctx_mem = malloc(ctx_size), *smp_mem = malloc(smp_size);
    float *logits = malloc((size_t)n_vocab * sizeof(float));
    CHECK(meta_mem && ctx_mem && smp_mem && logits);
    if (nb_test_failed()) goto done;

    int32_t got[N_GEN];
    char text[1024];
    size_t text_len = 0;
    nb_status st[8] = {0};
    g_heap_calls = 0;
    g_counting = 1; /* ------------------------------ no heap from here */
    nb_arena meta;
    nb_arena_init(&meta, meta_mem, meta_size);
    nb_allocator meta_alloc = nb_arena_allocator(&meta);
    nb_ctx *ctx = NULL;
    nb_sampler *smp = NULL;
    st[0] = nb_gguf_parse_ex(file, file_size, &meta_alloc, &g, &err);
    if (!st[0]) st[1] = nb_model_load(&g, &m, &err);
    if (!st[0] && !st[1]) st[2] = nb_tokenizer_load(&g, &tok, &meta_alloc, &err);
    if (!st[0] && !st[1]) st[3] = nb_ctx_init(&ctx, &m, &cp, ctx_mem, ctx_size, &err);
    if (!st[3] && ctx) st[4] = nb_sampler_init(&smp, n_vocab, &sp, smp_mem, smp_size, &err);
    if (!st[3] && ctx && !st[4] && smp) {
        st[5] = nb_decode(ctx, k_prompt, N_PROMPT, logits, &err);
        for (int i = 0; i < N_GEN && !st[5]; i++) {
            got[i] = nb_sampler_sample(smp, logits);
            nb_sampler_accept(smp, got[i]);
            if (!st[2]) {
                int32_t len = nb_token_to_piece(&tok, got[i], text + text_len,
                                                (int32_t)(sizeof text - 1 - text_len));
                if (len > 0) text_len += (size_t)len;
            }
            if (i + 1 < N_GEN) st[5] = nb_decode(ctx, &got[i], 1, logits, &err);
        }
    }
    g_counting = 0; /* ------------------------------------------------ */
    text[text_len] = 0;

    for (int i = 0; i < 6; i++)
        CHECK_MSG(st[i] == NB_OK, "step %d: %s: %s", i, nb_status_str(st[i]), err.msg);
    long n_heap = g_heap_calls;
    CHECK_MSG(n_heap == 0, "%ld heap calls between parse and the last token", n_heap);
    if (!nb_test_failed()) {
        int same = memcmp(got, want, sizeof got) == 0;
        CHECK_MSG(same, "greedy tokens differ from llama.cpp's");
        CHECK(nb_ctx_pos(ctx) == N_PROMPT + N_GEN - 1);
        CHECK(meta.used <= meta.size);
        printf("  index+tokenizer %zu B, context %zu B, sampler %zu B; text:%s\n", meta_size,
               ctx_size, smp_size, text);
    }
done:
    free(logits);
    free(smp_mem);
    free(ctx_mem);
    free(meta_mem);
    free(file);
}

/* Fill the arena with a byte, run until the KV cache is full, and return
 * one past the highest byte that no longer holds it (relative to `mem`). */
static size_t high_water(const nb_model *m, const nb_ctx_params *cp, uint8_t *mem, size_t size,
                         uint8_t fill, nb_status *st, nb_err *err) {
    memset(mem, fill, size);
    nb_ctx *ctx;
    *st = nb_ctx_init(&ctx, m, cp, mem, size, err);
    if (*st) return 0;
    /* the whole context in one call: a batched decode may use buffers a
     * single token does not */
    int32_t toks[512];
    int32_t n = cp->n_ctx < 512 ? cp->n_ctx : 512;
    for (int32_t i = 0; i < n; i++) toks[i] = (int32_t)(1 + (i * 37) % (m->hp.n_vocab - 1));
    *st = nb_decode(ctx, toks, n, NULL, err);
    size_t hi = size;
    while (hi > 0 && mem[hi - 1] == fill) hi--;
    return hi;
}

/* nb_ctx_init works in exactly nb_ctx_size bytes at every start alignment,
 * fails with one byte less without writing to the arena, and the size has
 * no padding beyond the alignment slack: after filling the whole KV cache,
 * the highest byte written is within 1 % (and 32 bytes + alignment) of the
 * end. Checked with two fill bytes, so a written value that happens to equal
 * the fill cannot hide the true high-water mark. */
static void t_exact_budget(void) {
    char path[512];
    if (!model_path(path, sizeof path)) { nb_test_skip("../shared not found"); return; }
    nb_err err = {0};
    nb_file_map fm;
    nb_gguf g;
    static nb_model m;
    CHECK_OK(nb_file_map_open(path, &fm, &err), err);
    if (nb_test_failed()) return;
    CHECK_OK(nb_gguf_parse(fm.data, fm.size, &g, &err), err);
    CHECK_OK(nb_model_load(&g, &m, &err), err);
    if (nb_test_failed()) { nb_file_map_close(&fm); return; }
    const nb_ctx_params variants[] = {
        {.n_ctx = 48},                 /* fast path, F16 KV cache */
        {.n_ctx = 48, .kv_f32 = 1},    /* F32 KV cache            */
        {.n_ctx = 33, .float_path = 1} /* float path              */
    };
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        const nb_ctx_params *cp = &variants[v];
        size_t size = nb_ctx_size(&m, cp);
        /* the KV cache alone is a lower bound: the size must cover it */
        size_t kv_elem = cp->kv_f32 || cp->float_path ? 4 : 2;
        size_t kv = 2 * (size_t)m.hp.n_layer * (size_t)cp->n_ctx * (size_t)m.hp.n_head_kv *
                    (size_t)m.hp.head_dim * kv_elem;
        CHECK_MSG(size > kv, "variant %zu: nb_ctx_size %zu <= KV cache %zu", v, size, kv);
        uint8_t *raw = malloc(size + 16);
        CHECK(raw != NULL);
        if (!raw) break;
        /* one byte less: NB_ERR_NOMEM with a message, arena untouched */
        memset(raw, 0xA5, size + 16);
        nb_ctx *ctx = (nb_ctx *)raw; /* a sentinel: must stay as it is */
        nb_err e2 = {0};
        nb_status s = nb_ctx_init(&ctx, &m, cp, raw, size - 1, &e2);
        CHECK_MSG(s == NB_ERR_NOMEM, "variant %zu: %zu - 1 bytes: %s", v, size, nb_status_str(s));
        CHECK(e2.msg[0] != 0);
        CHECK(ctx == (nb_ctx *)raw);
        size_t untouched = 0;
        while (untouched < size + 16 && raw[untouched] == 0xA5) untouched++;
        CHECK_MSG(untouched == size + 16, "variant %zu: a failed init wrote byte %zu", v,
                  untouched);
        /* exactly nb_ctx_size bytes, whatever the start's alignment */
        static const size_t offsets[] = {0, 1, 15}; /* aligned, most and least slack */
        for (size_t o = 0; o < 3 && !nb_test_failed(); o++) {
            size_t off = offsets[o];
            nb_status st1, st2;
            size_t hi1 = high_water(&m, cp, raw + off, size, 0x00, &st1, &err);
            CHECK_MSG(st1 == NB_OK, "variant %zu offset %zu: %s", v, off, err.msg);
            size_t hi2 = high_water(&m, cp, raw + off, size, 0xFF, &st2, &err);
            CHECK_MSG(st2 == NB_OK, "variant %zu offset %zu: %s", v, off, err.msg);
            size_t hi = hi1 > hi2 ? hi1 : hi2;
            /* what no layout can avoid: start alignment (<= 15) and the
             * rounding of the last buffer to 16 bytes (<= 15) */
            size_t slack = size - hi;
            CHECK_MSG(slack <= size / 100 && slack <= 32 + 15,
                      "variant %zu offset %zu: %zu of %zu bytes never written", v, off, slack,
                      size);
            if (off == 0 || off == 15)
                printf("  n_ctx %d%s%s offset %2zu: size %zu, high water %zu (%zu unused)\n",
                       cp->n_ctx, cp->kv_f32 ? " kv_f32" : "", cp->float_path ? " float" : "",
                       off, size, hi, slack);
        }
        free(raw);
    }
    nb_gguf_free(&g);
    nb_file_map_close(&fm);
}

/* --------------------------------------------- the model as a const array */

/* examples/embedded (make embedded-example): stories260K Q8_0 linked in as
 * a const array, parsed in place, one static RAM block. Its text must be
 * nb-run's greedy text for the same file. */
static void t_embedded_example(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    const char *wrap = getenv("NB_TEST_WRAPPER"); /* qemu for a cross build */
    char cmd[2048], out[512], want_out[512], err_out[512];
    snprintf(out, sizeof out, "%s/embedded.txt", nb_test_tmp_dir());
    snprintf(err_out, sizeof err_out, "%s/embedded.err", nb_test_tmp_dir());
    snprintf(want_out, sizeof want_out, "%s/embedded_want.txt", nb_test_tmp_dir());
    /* NB_BIN_DIR is "<build>/bin"; the example sits in "<build>/examples" */
    snprintf(cmd, sizeof cmd, "%s %s/../examples/embedded_model 32 > %s 2> %s", wrap ? wrap : "",
             NB_BIN_DIR, out, err_out);
    int rc = system(cmd);
    CHECK_MSG(rc == 0, "%s: status %d", cmd, rc);
    snprintf(cmd, sizeof cmd,
             "%s/nb-run -m %s/reference/stories260K/Q8_0/model.gguf -p 'Once upon a time' -n 32 "
             "--temp 0 > %s 2>/dev/null",
             nb_test_bin_dir(), sh, want_out);
    CHECK(system(cmd) == 0);
    char *got = nb_test_slurp(out), *want = nb_test_slurp(want_out), *report = nb_test_slurp(err_out);
    CHECK(got && want && report);
    if (got && want && report) {
        CHECK_MSG(strcmp(got, want) == 0, "example: '%s'\nnb-run:  '%s'", got, want);
        CHECK_MSG(strstr(report, "32 tokens") != NULL, "report: %s", report);
        printf("  %s", report);
    }
    free(got);
    free(want);
    free(report);
}

/* -------------------------------------------------- nb-inspect --memory */

/* The number on the row of the --memory listing that starts with `label`. */
static long long mem_value(const char *listing, const char *label) {
    char key[64];
    snprintf(key, sizeof key, "\n  %s ", label);
    const char *p = strstr(listing, key);
    return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

/* The budget table agrees with the API it reports: nb_ctx_size for the same
 * context and KV type, the KV cache formula, and the rows add up. */
static void t_inspect_memory(void) {
    char path[512];
    if (!model_path(path, sizeof path)) { nb_test_skip("../shared not found"); return; }
    nb_err err = {0};
    nb_file_map fm;
    nb_gguf g;
    static nb_model m;
    CHECK_OK(nb_file_map_open(path, &fm, &err), err);
    if (nb_test_failed()) return;
    CHECK_OK(nb_gguf_parse(fm.data, fm.size, &g, &err), err);
    CHECK_OK(nb_model_load(&g, &m, &err), err);
    if (nb_test_failed()) { nb_file_map_close(&fm); return; }
    for (int kv_f32 = 0; kv_f32 <= 1; kv_f32++) {
        char out[512], cmd[2048];
        snprintf(out, sizeof out, "%s/memory.txt", nb_test_tmp_dir());
        snprintf(cmd, sizeof cmd, "%s/nb-inspect %s --memory -c 512 --kv %s > %s 2>&1",
                 nb_test_bin_dir(), path, kv_f32 ? "f32" : "f16", out);
        CHECK(system(cmd) == 0);
        char *t = nb_test_slurp(out);
        CHECK(t != NULL);
        if (!t) break;
        nb_ctx_params cp = {.n_ctx = 512, .kv_f32 = kv_f32};
        long long kv = 2LL * m.hp.n_layer * 512 * m.hp.n_head_kv * m.hp.head_dim * (kv_f32 ? 4 : 2);
        CHECK_MSG(mem_value(t, "KV cache") == kv, "KV cache %lld, want %lld:\n%s",
                  mem_value(t, "KV cache"), kv, t);
        CHECK(mem_value(t, "  context (nb_ctx_size)") == (long long)nb_ctx_size(&m, &cp));
        CHECK(mem_value(t, "scratch") == (long long)nb_ctx_size(&m, &cp) - kv);
        CHECK(mem_value(t, "model file") == (long long)fm.size);
        CHECK(mem_value(t, "GGUF index") == (long long)nb_gguf_index_size(fm.data, fm.size));
        CHECK(mem_value(t, "tokenizer") == (long long)nb_tokenizer_mem_size(&g));
        CHECK(mem_value(t, "sampler") == (long long)nb_sampler_size(m.hp.n_vocab, NULL));
        long long sum = 0;
        const char *rows[] = {"GGUF index", "model views", "tokenizer", "KV cache", "scratch",
                              "sampler", "logits"};
        for (int i = 0; i < 7; i++) sum += mem_value(t, rows[i]);
        CHECK_MSG(mem_value(t, "total RAM") == sum, "total RAM %lld, rows add up to %lld",
                  mem_value(t, "total RAM"), sum);
        CHECK(strstr(t, kv_f32 ? "F32 KV cache" : "F16 KV cache") != NULL);
        free(t);
    }
    /* bad values and misplaced options: exit status 2 */
    const char *bad[] = {"--memory --kv q8", "--memory -c 0", "--memory -c 12x", "-c 512",
                         "--kv f32", "--memory --dump output.weight", "--memory -c"};
    for (int i = 0; i < 7; i++) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "%s/nb-inspect %s %s >/dev/null 2>&1", nb_test_bin_dir(), path,
                 bad[i]);
        int rc = system(cmd);
        CHECK_MSG(rc != -1 && (rc >> 8) == 2, "'%s': status %d, want 2", bad[i], rc >> 8);
    }
    nb_gguf_free(&g);
    nb_file_map_close(&fm);
}

int main(void) {
    RUN(t_wrap_active);
    RUN(t_generation_without_heap);
    RUN(t_exact_budget);
    RUN(t_embedded_example);
    RUN(t_inspect_memory);
    return nb_test_done();
}
