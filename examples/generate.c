/* The smallest complete program: load a model, generate text greedily,
 * free everything. Only include/nibble.h is used.
 * Usage: generate MODEL.gguf "prompt" [n_tokens] */
#include "nibble.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s MODEL.gguf PROMPT [N]\n", argv[0]); return 2; }
    int n_gen = argc > 3 ? atoi(argv[3]) : 32;
    nb_err err = {0};
    nb_file_map fm;
    nb_gguf g;
    static nb_model m; /* large (per-layer views): keep it off the stack */
    nb_tokenizer tok;
    if (nb_file_map_open(argv[1], &fm, &err) || nb_gguf_parse(fm.data, fm.size, &g, &err) ||
        nb_model_load(&g, &m, &err) || nb_tokenizer_load(&g, &tok, NULL, &err)) {
        fprintf(stderr, "%s: %s\n", argv[1], err.msg);
        return 1;
    }
    nb_ctx_params cp = {.n_ctx = 512};           /* one arena holds KV cache + scratch */
    size_t size = nb_ctx_size(&m, &cp);
    void *arena = malloc(size);
    float *logits = malloc((size_t)m.hp.n_vocab * sizeof(float));
    int32_t ids[512], n = 0;
    nb_ctx *ctx;
    if (!arena || !logits || nb_ctx_init(&ctx, &m, &cp, arena, size, &err) ||
        nb_tokenize(&tok, argv[2], strlen(argv[2]), 1, 0, ids, 512, &n, &err) ||
        nb_decode(ctx, ids, n, logits, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("%s", argv[2]);
    for (int i = 0; i < n_gen && n + i < cp.n_ctx; i++) {
        int32_t best = 0; /* greedy: the most likely next token */
        for (int32_t j = 1; j < m.hp.n_vocab; j++) if (logits[j] > logits[best]) best = j;
        if (best == tok.eos_id) break;
        char piece[128];
        int32_t len = nb_token_to_piece(&tok, best, piece, sizeof piece);
        if (len > 0) fwrite(piece, 1, (size_t)len, stdout);
        if (nb_decode(ctx, &best, 1, logits, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    }
    printf("\n");
    free(logits);
    free(arena);
    nb_tokenizer_free(&tok);
    nb_gguf_free(&g);
    nb_file_map_close(&fm);
    return 0;
}
