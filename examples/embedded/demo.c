/* See demo.h. The order of the steps is the porting recipe of
 * docs/embedded.md: parse the const model bytes in place, then take every
 * block the library needs from one arena, each sized by the library. */
#include "demo.h"

#include <string.h>

/* <s> "Once upon a time" in stories260K's vocabulary. nb_tokenize still
 * mallocs its scratch (a known debt), so a firmware encodes its prompts
 * offline, or gives the tokenizer a heap. */
static const int32_t k_prompt[] = {1, 403, 407, 261, 378};
#define N_PROMPT ((int32_t)(sizeof k_prompt / sizeof k_prompt[0]))

static void put_str(nb_demo_write_fn write, void *user, const char *s) {
    write(user, s, strlen(s));
}

static nb_status fail(nb_demo_write_fn write, void *user, const nb_err *err) {
    put_str(write, user, "error: ");
    put_str(write, user, err->msg);
    put_str(write, user, "\n");
    return err->status;
}

/* The RAM block ran out: the caller's budget, not the library's error. */
static nb_status too_small(nb_demo_write_fn write, void *user, const char *what) {
    put_str(write, user, "error: the RAM block is too small for ");
    put_str(write, user, what);
    put_str(write, user, " (enlarge it: docs/embedded.md has the formula)\n");
    return NB_ERR_NOMEM;
}

/* The arena bytes taken since `before`, for the report. */
#define TAKEN(arena, before) ((arena)->used - (before))

nb_status nb_demo_run(void *ram, size_t ram_size, int32_t n_gen, nb_demo_write_fn write,
                      void *user, nb_demo_report *rep) {
    nb_err err = {0};
    nb_arena arena;
    nb_arena_init(&arena, ram, ram_size);
    nb_allocator alloc = nb_arena_allocator(&arena);
    memset(rep, 0, sizeof *rep);
    if (n_gen > NB_DEMO_N_CTX - N_PROMPT) n_gen = NB_DEMO_N_CTX - N_PROMPT;

    /* 1. the model stays where it is (flash); only its index is built */
    nb_gguf g;
    size_t before = arena.used;
    if (nb_gguf_parse_ex(nb_model_bytes, (size_t)nb_model_bytes_size, &alloc, &g, &err))
        return fail(write, user, &err);
    rep->index = TAKEN(&arena, before);

    /* 2. tensor views: large (NB_MAX_LAYERS layers), so not on a small stack */
    before = arena.used;
    nb_model *m = nb_arena_alloc(&arena, sizeof *m);
    if (!m) return too_small(write, user, "the model");
    rep->model = TAKEN(&arena, before);
    if (nb_model_load(&g, m, &err)) return fail(write, user, &err);

    /* 3. the tokenizer, only to print tokens as text */
    nb_tokenizer tok;
    before = arena.used;
    if (nb_tokenizer_load(&g, &tok, &alloc, &err)) return fail(write, user, &err);
    rep->tokenizer = TAKEN(&arena, before);

    /* 4. KV cache and scratch: the exact size the library asks for */
    /* one token at a time: the smallest scratch (no prompt micro-batches) */
    nb_ctx_params cp = {.n_ctx = NB_DEMO_N_CTX, .n_batch = 1};
    size_t ctx_size = nb_ctx_size(m, &cp);
    before = arena.used;
    void *ctx_mem = nb_arena_alloc(&arena, ctx_size);
    if (!ctx_mem) return too_small(write, user, "the context");
    nb_ctx *ctx;
    if (nb_ctx_init(&ctx, m, &cp, ctx_mem, ctx_size, &err)) return fail(write, user, &err);
    rep->ctx = TAKEN(&arena, before);

    /* 5. a greedy sampler and the logits */
    nb_sampler_params sp = nb_sampler_default_params();
    sp.temp = 0;
    size_t smp_size = nb_sampler_size(m->hp.n_vocab, &sp);
    before = arena.used;
    void *smp_mem = nb_arena_alloc(&arena, smp_size);
    if (!smp_mem) return too_small(write, user, "the sampler");
    nb_sampler *smp;
    if (nb_sampler_init(&smp, m->hp.n_vocab, &sp, smp_mem, smp_size, &err))
        return fail(write, user, &err);
    rep->sampler = TAKEN(&arena, before);
    before = arena.used;
    float *logits = nb_arena_alloc(&arena, (size_t)m->hp.n_vocab * sizeof(float));
    if (!logits) return too_small(write, user, "the logits");
    rep->logits = TAKEN(&arena, before);
    rep->used = arena.used;

    /* 6. the prompt, then one token at a time: nothing is allocated here */
    char piece[64];
    int first = 1;
    for (int32_t i = 0; i < N_PROMPT; i++) {
        int32_t len = nb_token_to_piece(&tok, k_prompt[i], piece, (int32_t)sizeof piece);
        if (len <= 0) continue; /* <s> has no text */
        /* the space SentencePiece put before the text is not the user's */
        int skip = first && piece[0] == ' ';
        first = 0;
        if (len > skip) write(user, piece + skip, (size_t)(len - skip));
    }
    if (nb_decode(ctx, k_prompt, N_PROMPT, logits, &err)) return fail(write, user, &err);
    for (int32_t i = 0; i < n_gen; i++) {
        int32_t t = nb_sampler_sample(smp, logits);
        if (t == tok.eos_id) break;
        nb_sampler_accept(smp, t);
        int32_t len = nb_token_to_piece(&tok, t, piece, (int32_t)sizeof piece);
        if (len > 0) write(user, piece, (size_t)len);
        rep->n_tokens++;
        if (i + 1 < n_gen && nb_decode(ctx, &t, 1, logits, &err)) return fail(write, user, &err);
    }
    write(user, "\n", 1);
    return NB_OK;
}
