/* Internals shared by the tokenizer files of lib/text (not part of the API).
 *
 * tokenizer.c: loading (both vocab types), the special-token partition,
 * SentencePiece, token_to_piece. bpe.c: byte-level BPE (pre-tokenizers,
 * merges, byte <-> unicode mapping). unicode.c: code point classes. */
#ifndef NB_TEXT_TEXT_H
#define NB_TEXT_TEXT_H

#include "core/core.h"

/* 32-bit FNV-1a: the token and merge hash tables use it. */
static inline uint32_t nb_fnv1a(uint32_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 16777619u;
    }
    return h;
}
#define NB_FNV_INIT 2166136261u

/* Id of a token text, -1 if none (a later duplicate wins, as in llama.cpp). */
int32_t nb_tok_find(const nb_tokenizer *tok, const char *p, size_t n);

/* Output sink of an encode: ids past max_out are counted, not stored. */
typedef struct nb_tok_out {
    int32_t *out;
    int32_t max_out;
    int64_t count;
} nb_tok_out;

static inline void nb_tok_emit(nb_tok_out *o, int32_t id) {
    if (o->count < o->max_out) o->out[o->count] = id;
    o->count++;
}

/* BPE pre-tokenizers (each is a list of split passes, bpe.c). */
enum {
    NB_PRE_DEFAULT = 0,
    NB_PRE_GPT2,
    NB_PRE_LLAMA3,
    NB_PRE_QWEN2,
    NB_PRE_DEEPSEEK_LLM,
    NB_PRE_DEEPSEEK_CODER,
    NB_PRE_FALCON,
    NB_PRE_STARCODER,
    NB_PRE_COUNT
};

/* Look up a tokenizer.ggml.pre value. Returns 0 if unknown; else fills
 * *kind (NB_PRE_*), *ignore_merges and *add_bos (llama.cpp's per-name
 * defaults) and *canon (a static name for the kind). */
int nb_bpe_pre_lookup(nb_str name, int *kind, int *ignore_merges, int *add_bos,
                      const char **canon);

/* Load tokenizer.ggml.merges into the block laid out by tokenizer.c:
 * views, split offsets and the hash (first occurrence of a pair wins). */
nb_status nb_bpe_load_merges(const nb_gguf_kv *kv, nb_str *merge, uint32_t *split,
                             int32_t *hash, uint32_t hash_mask, nb_err *err);

/* Per-call scratch of the BPE encoder, grown on demand (default allocator). */
typedef struct nb_bpe_work {
    nb_allocator a;
    size_t frag_cap, piece_cap;
    void *frag_mem, *piece_mem;
} nb_bpe_work;

/* Encode one raw-text fragment (no special tokens inside). */
nb_status nb_bpe_fragment(const nb_tokenizer *tok, const char *text, size_t len,
                          nb_bpe_work *w, nb_tok_out *o, nb_err *err);
void nb_bpe_work_free(nb_bpe_work *w);

/* Split a fragment into pre-tokens (exposed for tests): cps/fl are the code
 * points and their nb_uc_flags; ends receives the exclusive end index of
 * each piece; tmp has room for n entries. Returns the piece count. */
size_t nb_bpe_split(int kind, const uint32_t *cps, const uint8_t *fl, size_t n, uint32_t *ends,
                    uint32_t *tmp);

/* token_to_piece of a NORMAL BPE token: byte-level chars back to bytes. */
int32_t nb_bpe_piece(const nb_str *text, char *buf, int32_t size);

#endif
