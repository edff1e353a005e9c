/* The tokenizer side of nb-convert: a Hugging Face checkpoint's tokenizer
 * (tokenizer.model, or tokenizer.json + tokenizer_config.json ...) turned
 * into the tokenizer.* keys llama.cpp's convert_hf_to_gguf.py writes.
 * Internal, not part of the API. Hosted only (malloc, files).
 *
 *   nb_hf_vocab v;
 *   nb_hf_vocab_opts o = {0};                 (source auto, sizes from files)
 *   nb_hf_vocab_load_dir("ckpt/", &o, &v, &err);
 *   nb_hf_vocab_write(&v, writer, &err);
 *   nb_hf_vocab_free(&v);
 *
 * Which file, as llama.cpp's converter for llama / qwen2 / gemma / phi3:
 * tokenizer.model (SentencePiece) when present, else tokenizer.json. */
#ifndef NB_CONVERT_VOCAB_H
#define NB_CONVERT_VOCAB_H

#include "nibble.h"

#include <stddef.h>
#include <stdint.h>

/* More tokens than any real vocabulary (Gemma 3: 262144); bounds every
 * count and id read from a file, and a config.json vocab_size. */
#define NB_HF_MAX_TOKENS (1u << 24)

typedef struct nb_hf_vocab {
    char model[16];          /* tokenizer.ggml.model: "llama" (SPM), "gpt2"
                                (byte-level BPE), "bert" (WordPiece)        */
    char pre[32];            /* tokenizer.ggml.pre; "" = key not written    */
    int pre_known;           /* 1: recognised or given; 0: "default" as a
                                fallback (llama.cpp would have refused)     */
    uint32_t n_tokens;
    char **tokens;           /* [n_tokens] texts, NUL-terminated            */
    uint32_t *token_len;     /* [n_tokens] bytes (a text may hold a NUL)    */
    float *scores;           /* [n_tokens]; NULL: no scores key (BPE, WPM)  */
    int32_t *types;          /* [n_tokens] NB_TOKEN_*                       */
    uint32_t n_merges;
    char **merges;           /* [n_merges] "left right"                     */
    /* special token ids, -1 = none (key not written) */
    int64_t bos, eos, unk, sep, pad, cls, mask, eot;
    int add_bos, add_eos, add_sep;   /* -1 unset, else 0 / 1               */
    int add_space_prefix;    /* -1 unset; the readers never set it          */
    int64_t token_type_count; /* bert: config.json type_vocab_size; -1 none */
    char *chat_template;     /* tokenizer.chat_template; NULL = none        */
    int spm_model_type;      /* tokenizer.model: trainer_spec.model_type
                                (1 unigram, 2 bpe, 3 word, 4 char); 0 n/a   */
    uint32_t n_base;         /* tokens the tokenizer defined before padding
                                up to config.json's vocab_size              */
    /* storage (nb_hf_vocab_free releases it) */
    void *pool;              /* token and merge texts                       */
    uint32_t merges_cap;
} nb_hf_vocab;

/* Empty vocabulary: every id -1, every flag -1, no arrays. */
void nb_hf_vocab_init(nb_hf_vocab *v);
/* Frees everything and re-inits; safe on an init'ed or failed vocabulary. */
void nb_hf_vocab_free(nb_hf_vocab *v);

/* Sets llama.cpp's keys with gguf-py's types: tokenizer.ggml.model, .pre
 * (when non-empty), .tokens, .scores (when present), .token_type (i32),
 * .token_type_count (u32, when >= 0), .merges (when any), the special ids
 * as u32 (.bos_token_id, .eos_token_id, .unknown_token_id,
 * .seperator_token_id [sic, llama.cpp's spelling], .padding_token_id,
 * .cls_token_id, .mask_token_id, .eot_token_id; only those >= 0),
 * .add_bos_token / .add_eos_token / .add_sep_token / .add_space_prefix as
 * bool (when set), tokenizer.chat_template (when set). Checks the
 * vocabulary first (ids in range, arrays present). */
nb_status nb_hf_vocab_write(const nb_hf_vocab *v, nb_gguf_writer *w, nb_err *err);

/* SentencePiece model bytes (tokenizer.model, a ModelProto) -> model
 * "llama", pre "default", tokens / scores / types as llama.cpp's
 * _create_vocab_sentencepiece writes them (see spm_model.c), unk / bos /
 * eos / pad from trainer_spec. vocab_size > 0 (config.json's) truncates or
 * pads ("[PAD{id}]", score -10000, UNUSED); 0 = the model's piece count.
 * *v is init'ed here; on failure it holds nothing. Errors name the byte
 * offset and the field. */
nb_status nb_spm_model_read(const void *data, size_t size, int64_t vocab_size, nb_hf_vocab *v,
                            nb_err *err);

/* Bytes of one file; data NULL = the file is absent. */
typedef struct nb_hf_bytes {
    const void *data;
    size_t size;
} nb_hf_bytes;

/* The tokenizer files of a checkpoint directory (any may be absent). */
typedef struct nb_hf_tokenizer_files {
    nb_hf_bytes tokenizer_json;      /* tokenizer.json                      */
    nb_hf_bytes tokenizer_model;     /* tokenizer.model (SentencePiece)     */
    nb_hf_bytes tokenizer_config;    /* tokenizer_config.json               */
    nb_hf_bytes special_tokens_map;  /* special_tokens_map.json             */
    nb_hf_bytes added_tokens;        /* added_tokens.json (SPM only)        */
    nb_hf_bytes config;              /* config.json: vocab_size, *_token_id */
    nb_hf_bytes chat_template;       /* chat_template.jinja                 */
} nb_hf_tokenizer_files;

typedef enum nb_hf_vocab_source {
    NB_HF_VOCAB_AUTO = 0,    /* tokenizer.model if present, else tokenizer.json */
    NB_HF_VOCAB_SPM,         /* tokenizer.model only                        */
    NB_HF_VOCAB_JSON         /* tokenizer.json only                         */
} nb_hf_vocab_source;

typedef struct nb_hf_vocab_opts {
    nb_hf_vocab_source source;
    int64_t vocab_size;      /* > 0: overrides config.json's vocab_size      */
    const char *pre;         /* non-NULL: tokenizer.ggml.pre as given        */
} nb_hf_vocab_opts;

/* The whole vocabulary from the files (opts NULL = defaults). Unigram,
 * WordLevel and SentencePiece-style (byte_fallback) BPE tokenizer.json are
 * NB_ERR_UNSUPPORTED suggesting tokenizer.model. Errors name the file and
 * the field (JSON errors also line:column). *v is init'ed here; on failure
 * it holds nothing. */
nb_status nb_hf_vocab_from_files(const nb_hf_tokenizer_files *f, const nb_hf_vocab_opts *o,
                                 nb_hf_vocab *v, nb_err *err);

/* The same, reading the files named above from `dir`. */
nb_status nb_hf_vocab_load_dir(const char *dir, const nb_hf_vocab_opts *o, nb_hf_vocab *v,
                               nb_err *err);

/* ---- shared by spm_model.c, hf_tokenizer.c and vocab.c */

/* A copy of len bytes (NUL added) in the vocabulary's pool; NULL: no memory. */
char *nb_hf_vocab_strdup(nb_hf_vocab *v, const char *s, size_t len);
/* n tokens "[PAD{i}]", type UNUSED, score -10000 (scores only when
 * with_scores), as llama.cpp pre-fills them. Any previous tokens are lost. */
nb_status nb_hf_vocab_alloc_tokens(nb_hf_vocab *v, uint32_t n, int with_scores, nb_err *err);
/* Token `id` becomes a copy of s. */
nb_status nb_hf_vocab_set_token(nb_hf_vocab *v, uint32_t id, const char *s, size_t len,
                                nb_err *err);
/* Append a merge (a copy of s). */
nb_status nb_hf_vocab_add_merge(nb_hf_vocab *v, const char *s, size_t len, nb_err *err);
/* llama.cpp's does_token_look_special: "<|...|>", "<｜...｜>", "<unused...>",
 * "<pad>", "<mask>", "<2mass>", "[@BOS@]". */
int nb_hf_token_looks_special(const char *s, size_t len);

#endif
