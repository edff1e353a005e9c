/* nb-tokenize: print the token ids of a text under a GGUF's vocabulary.
 *
 *   nb-tokenize -m FILE.gguf (-p TEXT | -f FILE) [--pieces] [--no-bos]
 *
 * Ids go on one line, space-separated (BOS/EOS as the vocab's add_bos /
 * add_eos flags say, unless --no-bos); --pieces prints "id 'piece'" per
 * line. Exit 1: bad input; 2: bad flags. */
#include "nibble.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void) {
    fprintf(stderr, "usage: nb-tokenize -m FILE.gguf (-p TEXT | -f FILE) [--pieces] [--no-bos]\n");
}

int main(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *file = NULL;
    int pieces = 0, no_bos = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "-p") && i + 1 < argc) prompt = argv[++i];
        else if (!strcmp(argv[i], "-f") && i + 1 < argc) file = argv[++i];
        else if (!strcmp(argv[i], "--pieces")) pieces = 1;
        else if (!strcmp(argv[i], "--no-bos")) no_bos = 1;
        else {
            fprintf(stderr, "nb-tokenize: unknown or incomplete argument '%s'\n", argv[i]);
            usage();
            return 2;
        }
    }
    if (!model || (!prompt) == (!file)) {
        usage();
        return 2;
    }
    nb_err err = {0};
    nb_file_map map, tmap = {0};
    if (nb_file_map_open(model, &map, &err)) {
        fprintf(stderr, "nb-tokenize: %s\n", err.msg);
        return 1;
    }
    int rc = 1;
    nb_gguf g;
    nb_tokenizer tok;
    int32_t *ids = NULL;
    if (nb_gguf_parse(map.data, map.size, &g, &err)) {
        fprintf(stderr, "nb-tokenize: %s: %s\n", model, err.msg);
        nb_file_map_close(&map);
        return 1;
    }
    if (nb_tokenizer_load(&g, &tok, NULL, &err)) {
        fprintf(stderr, "nb-tokenize: %s: %s\n", model, err.msg);
        goto out_g;
    }
    const char *text = prompt;
    size_t len = prompt ? strlen(prompt) : 0;
    if (file) {
        if (nb_file_map_open(file, &tmap, &err)) {
            fprintf(stderr, "nb-tokenize: %s\n", err.msg);
            goto out_t;
        }
        text = tmap.data;
        len = tmap.size;
    }
    int save = tok.add_bos;
    if (no_bos) tok.add_bos = 0;
    int32_t n = 0;
    nb_status s = nb_tokenize(&tok, text, len, 1, 0, NULL, 0, &n, &err);
    if (s == NB_ERR_RANGE && n > 0) {
        ids = malloc((size_t)n * sizeof *ids);
        if (!ids) {
            fprintf(stderr, "nb-tokenize: out of memory\n");
            goto out_t;
        }
        s = nb_tokenize(&tok, text, len, 1, 0, ids, n, &n, &err);
    }
    tok.add_bos = save;
    if (s) {
        fprintf(stderr, "nb-tokenize: %s\n", err.msg);
        goto out_t;
    }
    for (int32_t i = 0; i < n; i++) {
        if (pieces) {
            char buf[512];
            int32_t m = nb_token_to_piece_ex(&tok, ids[i], buf, sizeof buf, NB_PIECE_SPECIAL);
            if (m < 0) m = 0;
            printf("%d '%.*s'\n", (int)ids[i], (int)m, buf);
        } else {
            printf(i ? " %d" : "%d", (int)ids[i]);
        }
    }
    if (!pieces) printf("\n");
    rc = fflush(stdout) ? 1 : 0;
out_t:
    free(ids);
    if (file) nb_file_map_close(&tmap);
    nb_tokenizer_free(&tok);
out_g:
    nb_gguf_free(&g);
    nb_file_map_close(&map);
    return rc;
}
