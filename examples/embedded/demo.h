/* The embedded demo's core, shared by the host build (examples/embedded/
 * host.c) and the firmware (examples/firmware/): a model linked into the
 * binary as a const array, read in place, and one RAM block for everything
 * else. Uses only nibble.h; no heap, no stdio. */
#ifndef NB_EMBEDDED_DEMO_H
#define NB_EMBEDDED_DEMO_H

#include "nibble.h"

/* The model bytes, generated at build time by tools/bin2c.c. */
extern const unsigned char nb_model_bytes[];
extern const unsigned long nb_model_bytes_size;

/* Where text goes: a UART, semihosting, stdout. */
typedef void (*nb_demo_write_fn)(void *user, const char *text, size_t len);

/* What the run took from the RAM block, in bytes. */
typedef struct nb_demo_report {
    size_t index;      /* GGUF index (keys, tensor infos, hash)        */
    size_t model;      /* struct nb_model (tensor views)               */
    size_t tokenizer;  /* scores, types, hash of the vocabulary        */
    size_t ctx;        /* nb_ctx_size: KV cache and scratch            */
    size_t sampler;    /* nb_sampler_size                              */
    size_t logits;     /* n_vocab floats                               */
    size_t used;       /* all of the above with arena alignment        */
    int32_t n_tokens;  /* tokens generated                             */
} nb_demo_report;

#define NB_DEMO_N_CTX 64

/* Parse, load, and write "Once upon a time" and n_gen greedy tokens (at most
 * NB_DEMO_N_CTX - 5) through `write`. Everything lives in ram[0..ram_size).
 * On failure the error message is written too. */
nb_status nb_demo_run(void *ram, size_t ram_size, int32_t n_gen, nb_demo_write_fn write,
                      void *user, nb_demo_report *rep);

#endif
