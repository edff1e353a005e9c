/* libFuzzer target over the GGUF reader.
 *
 * For each input: parse with malloc; on success walk everything a caller can
 * reach (typed getters, string and nested arrays, every tensor by name, the
 * first and last byte of its data: gb_walk); on failure require a message.
 * Then parse again inside an nb_arena sized by nb_gguf_index_size() and
 * with an allocator that always fails, and require the same verdict. Any
 * broken promise aborts, which libFuzzer reports as a crash. */
#include "nibble.h"
#include "../support_gguf_builder.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void *fail_alloc(void *user, size_t size) {
    (void)user;
    (void)size;
    return NULL;
}

static void die(const char *what, const nb_err *err) {
    fprintf(stderr, "fuzz_gguf: %s (%s)\n", what, err ? err->msg : "");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nb_gguf g;
    nb_err err = {NB_OK, ""}, err2 = {NB_OK, ""};
    char why[256];

    nb_status s = nb_gguf_parse(data, size, &g, &err);
    if (s != NB_OK) {
        if (err.status != s || !err.msg[0] || strlen(err.msg) >= sizeof err.msg)
            die("error without a message", &err);
        if (s != NB_ERR_FORMAT && s != NB_ERR_UNSUPPORTED) die("unexpected status", &err);
        if (g.kv || g.tensors || g.hash) die("failed parse left an index", &err);
    } else if (gb_walk(&g, why, sizeof why)) {
        die(why, NULL);
    }
    nb_gguf_free(&g);

    size_t need = nb_gguf_index_size(data, size);
    if (!need) {
        if (s == NB_OK) die("index size 0 for a file that parses", NULL);
        return 0;
    }

    /* the arena path: index_size must be enough, and the verdict the same */
    void *mem = malloc(need);
    if (!mem) return 0;
    nb_arena arena;
    nb_arena_init(&arena, mem, need);
    nb_allocator aa = nb_arena_allocator(&arena);
    nb_status s2 = nb_gguf_parse_ex(data, size, &aa, &g, &err2);
    if (s2 != s || (s && strcmp(err.msg, err2.msg) != 0)) die("arena parse differs", &err2);
    if (s2 == NB_OK) {
        if (arena.used > need) die("arena overrun", NULL);
        for (uint64_t i = 0; i < g.n_tensors; i++) {
            const nb_gguf_tensor *t = &g.tensors[i];
            const volatile uint8_t *d = t->data;
            (void)d[t->nbytes - 1];
        }
    }
    nb_gguf_free(&g);
    free(mem);

    /* allocation failure: reported as such once the header is readable */
    nb_allocator fa = {fail_alloc, NULL, NULL};
    s2 = nb_gguf_parse_ex(data, size, &fa, &g, &err2);
    if (s2 != NB_ERR_NOMEM || g.kv) die("failing allocator not reported", &err2);
    return 0;
}
