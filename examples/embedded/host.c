/* The embedded demo on the host: the model is a const array linked into
 * this program (make embedded-example generates it from stories260K Q8_0),
 * parsed in place; KV cache, scratch, index and tokenizer share one static
 * RAM block, as on a microcontroller. The text goes to stdout, the RAM
 * budget to stderr.
 * Usage: embedded_model [n_tokens] */
#include "demo.h"

#include <stdio.h>
#include <stdlib.h>

/* the budget a board would reserve; the demo reports what it used (about
 * 115 KiB at n_ctx 64, more when the context keeps scratch rows for
 * several tokens or threads) */
static _Alignas(16) unsigned char g_ram[512 * 1024];

static void to_stdout(void *user, const char *text, size_t len) {
    (void)user;
    fwrite(text, 1, len, stdout);
}

int main(int argc, char **argv) {
    int32_t n_gen = argc > 1 ? (int32_t)atoi(argv[1]) : 32;
    nb_demo_report r;
    nb_status s = nb_demo_run(g_ram, sizeof g_ram, n_gen, to_stdout, NULL, &r);
    fflush(stdout);
    if (s != NB_OK) return 1;
    fprintf(stderr,
            "model %lu bytes (const, read in place); RAM %zu of %zu bytes: index %zu, model "
            "views %zu, tokenizer %zu, context %zu, sampler %zu, logits %zu; %d tokens\n",
            nb_model_bytes_size, r.used, sizeof g_ram, r.index, r.model, r.tokenizer, r.ctx,
            r.sampler, r.logits, r.n_tokens);
    return 0;
}
