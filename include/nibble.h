/*
 * nibble — a tiny transformer inference library in C11.
 *
 * The one public header. Everything here is prefixed nb_. The library never
 * prints, never exits and never aborts: every fallible function returns an
 * nb_status and, when given an nb_err, fills it with a message naming the
 * field, key, tensor or value at fault.
 *
 * Layers (see docs/design.md): core (errors, allocators, fp16), gguf (parse
 * and write), formats (block-format traits), io (hosted: files, mmap).
 */
#ifndef NIBBLE_H
#define NIBBLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NB_VERSION_MAJOR 0
#define NB_VERSION_MINOR 1
#define NB_VERSION_PATCH 0

/* ------------------------------------------------------------------ core */

typedef enum nb_status {
    NB_OK = 0,
    NB_ERR_INVALID_ARG,   /* caller passed a bad argument                  */
    NB_ERR_FORMAT,        /* input bytes are malformed                     */
    NB_ERR_UNSUPPORTED,   /* well-formed but not supported (version, type) */
    NB_ERR_NOT_FOUND,     /* key or tensor absent                          */
    NB_ERR_TYPE,          /* value has another type than asked for         */
    NB_ERR_RANGE,         /* value out of range / arithmetic overflow      */
    NB_ERR_NOMEM,         /* allocation failed or arena too small          */
    NB_ERR_IO,            /* file system error (hosted helpers only)       */
    NB_ERR_CANCELLED      /* a callback asked to stop                      */
} nb_status;

/* Error report. `msg` is always NUL-terminated after a failing call. */
typedef struct nb_err {
    nb_status status;
    char msg[256];
} nb_err;

const char *nb_status_str(nb_status s);

/* Allocator hooks. Where a function takes `const nb_allocator *`, NULL means
 * the default (malloc/free) unless the library was built with NB_NO_MALLOC,
 * in which case NULL is an error. Firmware passes an arena (nb_arena_*). */
typedef struct nb_allocator {
    void *(*alloc)(void *user, size_t size);   /* 16-byte aligned or NULL */
    void (*free)(void *user, void *ptr);       /* may be NULL (arena)     */
    void *user;
} nb_allocator;

/* A bump allocator over caller memory: never frees individual blocks. */
typedef struct nb_arena {
    uint8_t *base;
    size_t size;
    size_t used;
} nb_arena;

void nb_arena_init(nb_arena *a, void *mem, size_t size);
void *nb_arena_alloc(nb_arena *a, size_t size);      /* 16-byte aligned */
nb_allocator nb_arena_allocator(nb_arena *a);

/* IEEE half and bfloat16 conversions (round to nearest even). */
float nb_fp16_to_f32(uint16_t h);
uint16_t nb_f32_to_fp16(float f);
float nb_bf16_to_f32(uint16_t h);
uint16_t nb_f32_to_bf16(float f);

/* --------------------------------------------------------- tensor types */

/* ggml tensor type ids as stored in GGUF files. */
typedef enum nb_type {
    NB_TYPE_F32 = 0,
    NB_TYPE_F16 = 1,
    NB_TYPE_Q4_0 = 2,
    NB_TYPE_Q4_1 = 3,
    NB_TYPE_Q5_0 = 6,
    NB_TYPE_Q5_1 = 7,
    NB_TYPE_Q8_0 = 8,
    NB_TYPE_Q8_1 = 9,
    NB_TYPE_Q2_K = 10,
    NB_TYPE_Q3_K = 11,
    NB_TYPE_Q4_K = 12,
    NB_TYPE_Q5_K = 13,
    NB_TYPE_Q6_K = 14,
    NB_TYPE_Q8_K = 15,
    NB_TYPE_IQ2_XXS = 16,
    NB_TYPE_IQ2_XS = 17,
    NB_TYPE_IQ3_XXS = 18,
    NB_TYPE_IQ1_S = 19,
    NB_TYPE_IQ4_NL = 20,
    NB_TYPE_IQ3_S = 21,
    NB_TYPE_IQ2_S = 22,
    NB_TYPE_IQ4_XS = 23,
    NB_TYPE_I8 = 24,
    NB_TYPE_I16 = 25,
    NB_TYPE_I32 = 26,
    NB_TYPE_I64 = 27,
    NB_TYPE_F64 = 28,
    NB_TYPE_IQ1_M = 29,
    NB_TYPE_BF16 = 30,
    NB_TYPE_TQ1_0 = 34,
    NB_TYPE_TQ2_0 = 35,
    NB_TYPE_MXFP4 = 39,
    NB_TYPE_COUNT = 40
} nb_type;

/* Facts and functions of a type: one table for every ggml type id (see
 * lib/formats/types.c). Function pointers are NULL where nibble has no
 * support for that operation on that type. Rows hold n values, n a multiple
 * of block_size. */
typedef struct nb_type_info {
    const char *name;      /* "Q4_K", as llama.cpp prints it             */
    uint32_t block_size;   /* elements per block (1 for plain types)     */
    uint32_t type_size;    /* bytes per block                            */
    /* decode n values, bit-exact with ggml's dequantize_row_* */
    void (*to_float)(const void *x, float *y, int64_t n);
    /* nibble's own error-minimizing quantizer; imatrix: n per-column
     * importance weights or NULL */
    void (*quantize)(const float *x, void *y, int64_t n, const float *imatrix);
    /* activation formats only: bytes identical to ggml's from_float */
    void (*from_float)(const float *x, void *y, int64_t n);
    /* dot product of a weight row (this type) with an activation row of
     * type vec_dot_type: *s = sum x[i] * y[i] */
    uint32_t vec_dot_type;
    void (*vec_dot)(int64_t n, float *s, const void *x, const void *y);
} nb_type_info;

/* NULL when `type` is not a known type id. */
const nb_type_info *nb_type_get(uint32_t type);
/* "Q4_K", or "?" for an unknown id. */
const char *nb_type_name(uint32_t type);
/* Type id from its name (case-insensitive); -1 if unknown. */
int nb_type_from_name(const char *name);
/* Bytes of a row of n values (n must be a multiple of the block size). */
size_t nb_row_size(uint32_t type, int64_t n);

/* Checked wrappers over the table: NB_ERR_UNSUPPORTED for a type without
 * the operation, NB_ERR_INVALID_ARG for n not a multiple of the block size. */
nb_status nb_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n, nb_err *err);
nb_status nb_quantize_rows(uint32_t type, const float *src, void *dst, int64_t n_rows,
                           int64_t n_per_row, const float *imatrix, nb_err *err);

/* Row conversions, round to nearest even, NaN/Inf preserved. */
void nb_f32_to_f16_row(const float *x, uint16_t *y, int64_t n);
void nb_f16_to_f32_row(const uint16_t *x, float *y, int64_t n);
void nb_f32_to_bf16_row(const float *x, uint16_t *y, int64_t n);
void nb_bf16_to_f32_row(const uint16_t *x, float *y, int64_t n);

/* ------------------------------------------------------------------ gguf */

/* GGUF metadata value types (GGUF spec, gguf_type). */
typedef enum nb_gguf_type {
    NB_GGUF_U8 = 0,
    NB_GGUF_I8 = 1,
    NB_GGUF_U16 = 2,
    NB_GGUF_I16 = 3,
    NB_GGUF_U32 = 4,
    NB_GGUF_I32 = 5,
    NB_GGUF_F32 = 6,
    NB_GGUF_BOOL = 7,
    NB_GGUF_STRING = 8,
    NB_GGUF_ARRAY = 9,
    NB_GGUF_U64 = 10,
    NB_GGUF_I64 = 11,
    NB_GGUF_F64 = 12,
    NB_GGUF_TYPE_COUNT = 13
} nb_gguf_type;

/* "u32", "string", "array", ...; "?" for unknown. */
const char *nb_gguf_type_name(uint32_t t);

/* A string inside the GGUF bytes: NOT NUL-terminated. Print with "%.*s". */
typedef struct nb_str {
    const char *ptr;
    uint64_t len;
} nb_str;

/* Limits the parser enforces (documented in docs/gguf.md). */
#define NB_GGUF_MAX_DIMS 4
#define NB_GGUF_MAX_STRING (1ull << 30)   /* 1 GiB                     */
#define NB_GGUF_MAX_DEPTH 4               /* arrays nested inside arrays */
#define NB_GGUF_MAX_ENTRIES (1ull << 24)  /* n_kv and n_tensors each    */
#define NB_GGUF_DEFAULT_ALIGNMENT 32

/* One metadata key/value, pointing into the file bytes. */
typedef struct nb_gguf_kv {
    nb_str key;
    uint32_t type;          /* nb_gguf_type                              */
    uint32_t arr_type;      /* element type when type == NB_GGUF_ARRAY   */
    uint64_t arr_n;         /* element count when type == NB_GGUF_ARRAY  */
    const uint8_t *val;     /* value bytes; for arrays the first element */
    uint64_t val_size;      /* bytes of the value (all array elements)   */
} nb_gguf_kv;

/* One tensor description, pointing into the file bytes. */
typedef struct nb_gguf_tensor {
    nb_str name;
    uint32_t n_dims;        /* 1..4                                       */
    uint32_t type;          /* nb_type                                    */
    int64_t ne[NB_GGUF_MAX_DIMS]; /* ne[0] = row length; unused dims = 1  */
    uint64_t offset;        /* relative to the data section               */
    uint64_t nbytes;        /* size of the tensor data                    */
    const void *data;       /* base + data_offset + offset                */
} nb_gguf_tensor;

/* A parsed view over GGUF bytes. Nothing is copied: keys, strings and
 * tensor data point into `base`, which must outlive this struct. */
typedef struct nb_gguf {
    const uint8_t *base;    /* the bytes given to nb_gguf_parse            */
    size_t size;
    uint32_t version;       /* 2 or 3                                      */
    uint32_t alignment;     /* general.alignment or 32                     */
    uint64_t n_kv;
    uint64_t n_tensors;
    uint64_t data_offset;   /* start of the data section in `base`         */
    nb_gguf_kv *kv;         /* [n_kv], file order                          */
    nb_gguf_tensor *tensors; /* [n_tensors], file order                    */
    uint32_t *hash;         /* open-addressing index over keys and names   */
    uint64_t hash_cap;      /* power of two                                */
    nb_allocator alloc;     /* where the three arrays above came from      */
} nb_gguf;

/* Validates every byte of the header (see docs/gguf.md for the list of
 * checks) and indexes keys and tensors. Allocates only the index arrays, via
 * `alloc` (NULL = malloc). On failure, *g holds nothing to free. */
nb_status nb_gguf_parse(const void *data, size_t size, nb_gguf *g, nb_err *err);
nb_status nb_gguf_parse_ex(const void *data, size_t size, const nb_allocator *alloc,
                           nb_gguf *g, nb_err *err);
/* The same checks over the header alone (magic .. tensor infos), for a
 * GGUF whose data are produced elsewhere (nb_convert_hf): tensor `data`
 * pointers are NULL; offsets are checked against each other only. */
nb_status nb_gguf_parse_header(const void *data, size_t size, nb_gguf *g, nb_err *err);
/* Bytes the index of these GGUF bytes needs from the allocator (an upper
 * bound, exact for the arena: arena alignment included). 0 if the header
 * cannot be read (nb_gguf_parse then reports why). */
size_t nb_gguf_index_size(const void *data, size_t size);
void nb_gguf_free(nb_gguf *g);

/* Lookups (hashed, O(1)). NULL / -1 when absent. */
const nb_gguf_kv *nb_gguf_find_key(const nb_gguf *g, const char *key);
int64_t nb_gguf_find_key_index(const nb_gguf *g, const char *key);
const nb_gguf_tensor *nb_gguf_find_tensor(const nb_gguf *g, const char *name);
int64_t nb_gguf_find_tensor_index(const nb_gguf *g, const char *name);

/* Typed getters. NB_ERR_NOT_FOUND if absent, NB_ERR_TYPE if the value has an
 * incompatible type, NB_ERR_RANGE if an integer does not fit. Integer getters
 * accept any integer type whose value fits; float getters accept F32 and F64. */
nb_status nb_gguf_get_u32(const nb_gguf *g, const char *key, uint32_t *out, nb_err *err);
nb_status nb_gguf_get_i32(const nb_gguf *g, const char *key, int32_t *out, nb_err *err);
nb_status nb_gguf_get_u64(const nb_gguf *g, const char *key, uint64_t *out, nb_err *err);
nb_status nb_gguf_get_i64(const nb_gguf *g, const char *key, int64_t *out, nb_err *err);
nb_status nb_gguf_get_f32(const nb_gguf *g, const char *key, float *out, nb_err *err);
nb_status nb_gguf_get_f64(const nb_gguf *g, const char *key, double *out, nb_err *err);
nb_status nb_gguf_get_bool(const nb_gguf *g, const char *key, int *out, nb_err *err);
nb_status nb_gguf_get_str(const nb_gguf *g, const char *key, nb_str *out, nb_err *err);
/* An array whose elements have type `elem` (pass NB_GGUF_TYPE_COUNT to accept
 * any element type). */
nb_status nb_gguf_get_arr(const nb_gguf *g, const char *key, uint32_t elem,
                          const nb_gguf_kv **out, nb_err *err);

/* Scalar value of a kv (or of array element i) converted; the kv must have a
 * numeric / bool type, else NB_ERR_TYPE. Reads are unaligned-safe. */
nb_status nb_gguf_kv_i64(const nb_gguf_kv *kv, int64_t *out, nb_err *err);
nb_status nb_gguf_kv_u64(const nb_gguf_kv *kv, uint64_t *out, nb_err *err);
nb_status nb_gguf_kv_f64(const nb_gguf_kv *kv, double *out, nb_err *err);
/* Element i of a numeric array (any numeric element type). */
nb_status nb_gguf_arr_i64(const nb_gguf_kv *kv, uint64_t i, int64_t *out, nb_err *err);
nb_status nb_gguf_arr_f64(const nb_gguf_kv *kv, uint64_t i, double *out, nb_err *err);

/* Walk an array of strings in order: start with *cursor = 0 (byte offset
 * into kv->val); each call yields the next string. Returns NB_ERR_NOT_FOUND
 * after the last one. Arrays were validated by the parser. */
nb_status nb_gguf_arr_next_str(const nb_gguf_kv *kv, uint64_t *cursor, nb_str *out);

/* Nested arrays: the element at *cursor of an array of arrays, returned as
 * a kv view (key empty) of type NB_GGUF_ARRAY; advances *cursor. */
nb_status nb_gguf_arr_next_arr(const nb_gguf_kv *kv, uint64_t *cursor, nb_gguf_kv *out);

/* Byte size of one element of a fixed-size value type; 0 for string/array. */
size_t nb_gguf_type_size(uint32_t t);

/* Tensor helpers. */
int64_t nb_tensor_nelements(const nb_gguf_tensor *t);
int nb_str_eq(nb_str s, const char *cstr);

/* --------------------------------------------------------- gguf writer */

/* Output sink: write all `size` bytes or fail. */
typedef nb_status (*nb_write_fn)(void *user, const void *data, size_t size, nb_err *err);

typedef struct nb_gguf_writer nb_gguf_writer;

/* The writer keeps metadata and tensor infos in memory (from `alloc`, NULL =
 * malloc) until nb_gguf_writer_write_header; tensor data is then streamed
 * straight to the sink, one tensor at a time, in the order they were added.
 * Setting a key twice replaces its value (first position is kept). */
nb_status nb_gguf_writer_new(nb_gguf_writer **w, nb_write_fn write, void *user,
                             const nb_allocator *alloc, nb_err *err);
void nb_gguf_writer_free(nb_gguf_writer *w);

nb_status nb_gguf_set_u8(nb_gguf_writer *w, const char *key, uint8_t v, nb_err *err);
nb_status nb_gguf_set_i8(nb_gguf_writer *w, const char *key, int8_t v, nb_err *err);
nb_status nb_gguf_set_u16(nb_gguf_writer *w, const char *key, uint16_t v, nb_err *err);
nb_status nb_gguf_set_i16(nb_gguf_writer *w, const char *key, int16_t v, nb_err *err);
nb_status nb_gguf_set_u32(nb_gguf_writer *w, const char *key, uint32_t v, nb_err *err);
nb_status nb_gguf_set_i32(nb_gguf_writer *w, const char *key, int32_t v, nb_err *err);
nb_status nb_gguf_set_u64(nb_gguf_writer *w, const char *key, uint64_t v, nb_err *err);
nb_status nb_gguf_set_i64(nb_gguf_writer *w, const char *key, int64_t v, nb_err *err);
nb_status nb_gguf_set_f32(nb_gguf_writer *w, const char *key, float v, nb_err *err);
nb_status nb_gguf_set_f64(nb_gguf_writer *w, const char *key, double v, nb_err *err);
nb_status nb_gguf_set_bool(nb_gguf_writer *w, const char *key, int v, nb_err *err);
nb_status nb_gguf_set_str(nb_gguf_writer *w, const char *key, const char *v, nb_err *err);
nb_status nb_gguf_set_strn(nb_gguf_writer *w, const char *key, const char *v, uint64_t len,
                           nb_err *err);
/* Array of fixed-size elements given in host (little-endian) layout. */
nb_status nb_gguf_set_arr(nb_gguf_writer *w, const char *key, uint32_t elem_type,
                          const void *data, uint64_t n, nb_err *err);
nb_status nb_gguf_set_arr_str(nb_gguf_writer *w, const char *key, const nb_str *v,
                              uint64_t n, nb_err *err);
/* Copy a parsed kv (any type, nested arrays included), under its own key. */
nb_status nb_gguf_set_kv(nb_gguf_writer *w, const nb_gguf_kv *kv, nb_err *err);
/* Remove a key if present (NB_OK either way). */
nb_status nb_gguf_remove_key(nb_gguf_writer *w, const char *key, nb_err *err);

/* Declare the next tensor: ne[0] is the row length. Offsets are assigned in
 * order with general.alignment (default 32) padding. */
nb_status nb_gguf_add_tensor(nb_gguf_writer *w, const char *name, uint32_t type,
                             uint32_t n_dims, const int64_t *ne, nb_err *err);
/* Emit header, metadata, tensor infos and padding. No set_/add_ after it. */
nb_status nb_gguf_writer_write_header(nb_gguf_writer *w, nb_err *err);
/* Emit the data of the next declared tensor (exactly its nbytes). May be
 * called in pieces: the tensor is complete once its nbytes have arrived. A
 * call must not run past the end of the current tensor. */
nb_status nb_gguf_writer_write_data(nb_gguf_writer *w, const void *data, size_t size,
                                    nb_err *err);
/* Checks that every tensor got all its bytes. */
nb_status nb_gguf_writer_finish(nb_gguf_writer *w, nb_err *err);

/* ------------------------------------------------------------- tokenizer */
/* (tokenizer section: lib/text/tokenizer*.c) */

/* Token types (tokenizer.ggml.token_type, llama.cpp's llama_token_type). */
enum {
    NB_TOKEN_UNDEFINED = 0,
    NB_TOKEN_NORMAL = 1,
    NB_TOKEN_UNKNOWN = 2,
    NB_TOKEN_CONTROL = 3,
    NB_TOKEN_USER_DEFINED = 4,
    NB_TOKEN_UNUSED = 5,
    NB_TOKEN_BYTE = 6
};

/* Vocabulary types (tokenizer.ggml.model). */
enum {
    NB_VOCAB_SPM = 1, /* "llama": SentencePiece BPE over scores          */
    NB_VOCAB_BPE = 2  /* "gpt2": byte-level BPE over tokenizer.ggml.merges */
};

/* A tokenizer over the vocabulary of a GGUF: SentencePiece ("llama") or
 * byte-level BPE ("gpt2", with the pre-tokenizer tokenizer.ggml.pre names).
 * Token and merge texts are views into the GGUF bytes (which must outlive
 * it); the scores, types, hash indexes and special-token list live in ONE
 * block from the allocator given to nb_tokenizer_load. Fields are
 * read-only. */
typedef struct nb_tokenizer {
    int32_t n_vocab;
    int vocab_type;                           /* NB_VOCAB_*                 */
    int32_t bos_id, eos_id, unk_id, pad_id;  /* -1: none                   */
    int add_bos, add_eos;                     /* tokenizer.ggml.add_*_token */
    int add_space_prefix;                     /* prefix a space to text
                                                 (SPM only; 0 for BPE)     */
    const nb_str *text;       /* [n_vocab] token texts (views)              */
    const float *score;       /* [n_vocab] (0 where the vocab has none)     */
    const uint8_t *type;      /* [n_vocab] NB_TOKEN_*                        */
    const int32_t *hash;      /* [hash_mask + 1] ids, -1 = empty slot        */
    uint32_t hash_mask;
    const int32_t *special;   /* control / user-defined / unknown ids,
                                 longest text first                        */
    int32_t n_special;
    int32_t byte_id[256];     /* byte-fallback token of each byte, or -1    */
    /* BPE only */
    const char *pre;          /* pre-tokenizer name ("gpt-2", "llama-bpe" …;
                                 "default" when the key is absent)         */
    int pre_type;             /* internal id of the pre-tokenizer           */
    int ignore_merges;        /* a pre-token that is a token skips merging  */
    int32_t n_merges;
    const nb_str *merge;      /* [n_merges] "left right" (views); rank = index */
    const uint32_t *merge_split; /* [n_merges] offset of the separating space */
    const int32_t *merge_hash;   /* [merge_hash_mask + 1] ranks, -1 = empty  */
    uint32_t merge_hash_mask;
    void *mem;                /* the one allocation                         */
    nb_allocator alloc;
} nb_tokenizer;

/* Reads tokenizer.ggml.{model,tokens,scores,token_type,bos/eos/unknown/
 * padding_token_id,add_bos_token,add_eos_token,add_space_prefix} and, for
 * model "gpt2", tokenizer.ggml.{merges,pre}. Model "llama" (SPM) needs
 * scores; "gpt2" needs merges, and an unknown pre-tokenizer name is
 * NB_ERR_UNSUPPORTED naming it; other models are NB_ERR_UNSUPPORTED. Ids
 * out of range, missing arrays, arrays of mismatched length and merges that
 * are not "left right" are errors. Defaults follow llama.cpp (BPE: bos/eos
 * 11 when in range, no unk, add_bos only for Llama-3-style pre-tokenizers).
 * `alloc` NULL = malloc. On failure *tok holds nothing to free. */
nb_status nb_tokenizer_load(const nb_gguf *g, nb_tokenizer *tok, const nb_allocator *alloc,
                            nb_err *err);
/* Bytes nb_tokenizer_load takes from an arena for this GGUF (arena
 * alignment included); 0 if the vocabulary cannot be read. */
size_t nb_tokenizer_mem_size(const nb_gguf *g);
void nb_tokenizer_free(nb_tokenizer *tok);

/* Token id of an exact token text, or -1. */
int32_t nb_token_find(const nb_tokenizer *tok, const char *text, size_t len);

/* Encode `len` bytes of UTF-8 text. add_special: add BOS/EOS as the vocab's
 * add_bos/add_eos flags say. parse_special: control-token texts in `text`
 * (e.g. "<s>") become those tokens; user-defined tokens are always matched
 * (as llama.cpp does). BPE: invalid UTF-8 bytes are encoded as U+FFFD, as
 * llama.cpp does. *n_out receives the token count; if it exceeds max_out,
 * NB_ERR_RANGE (out holds the first max_out). The scratch memory (about
 * 100 bytes per input byte) is malloc'd and freed per call, so this
 * function needs the default allocator (NB_ERR_NOMEM under NB_NO_MALLOC). */
nb_status nb_tokenize(const nb_tokenizer *tok, const char *text, size_t len, int add_special,
                      int parse_special, int32_t *out, int32_t max_out, int32_t *n_out,
                      nb_err *err);

/* Text of a token. SPM: U+2581 becomes ' ', <0xNN> byte tokens that byte,
 * control tokens empty (NB_PIECE_SPECIAL renders their text), unknown
 * tokens U+2585. BPE: normal tokens map their byte-level characters back
 * to bytes ('Ġ' -> ' '), user-defined tokens are their text, control and
 * unknown tokens empty (NB_PIECE_SPECIAL renders their text). Returns the
 * piece length; when it does not fit in `size` bytes, nothing is written
 * and -(length) is returned. No NUL is added. An invalid id gives 0. */
#define NB_PIECE_SPECIAL 1
int32_t nb_token_to_piece(const nb_tokenizer *tok, int32_t id, char *buf, int32_t size);
int32_t nb_token_to_piece_ex(const nb_tokenizer *tok, int32_t id, char *buf, int32_t size,
                             int flags);
/* end of tokenizer section */

/* -------------------------------------------------------------- samplers */
/* (sampler section: lib/text/sampler.c) */

/* Token samplers as llama.cpp's common sampler chains them, applied in this
 * fixed order to a copy of the logits (the caller's logits are never
 * modified):
 *
 *   penalties -> top-k -> top-p -> min-p -> temperature -> softmax -> draw
 *
 * - penalties: over the last penalty_last_n accepted tokens, a token seen
 *   count > 0 times has its logit divided by repeat_penalty when positive
 *   (multiplied when <= 0), then count*freq_penalty + presence_penalty
 *   subtracted. Off when last_n is 0 or all three are neutral (1, 0, 0).
 * - top-k: keep the k largest logits (ties: lower id first); k <= 0 keeps
 *   all. A partial selection, not a full sort of the vocabulary.
 * - top-p: keep the smallest prefix (by descending probability) whose
 *   cumulative probability reaches top_p, at least 1 token; 1 = off.
 * - min-p: keep tokens whose probability is >= min_p times the largest
 *   probability (logit >= max + log(min_p)); 0 = off.
 * - temperature: logits divided by temp; temp <= 0 means greedy: the
 *   largest penalized logit, lowest id on ties, and no random draw.
 * - draw: softmax over what is left and one uniform number in [0,1) with
 *   24 bits from a xoshiro256** generator seeded through splitmix64. Same
 *   seed, settings, history and logits give the same tokens.
 *
 * The sampler lives in caller memory of nb_sampler_size() bytes, aligned
 * to 8 bytes (malloc and nb_arena_alloc memory are); sampling and accepting
 * never allocate. */
typedef struct nb_sampler nb_sampler;

typedef struct nb_sampler_params {
    float temp;              /* >= 0; 0 = greedy                        */
    int32_t top_k;           /* <= 0: off                               */
    float top_p;             /* [0,1]; 1: off                           */
    float min_p;             /* [0,1]; 0: off                           */
    float repeat_penalty;    /* > 0; 1: off                             */
    float freq_penalty;      /* 0: off                                  */
    float presence_penalty;  /* 0: off                                  */
    int32_t penalty_last_n;  /* >= 0 tokens of history; 0: off          */
    uint64_t seed;
} nb_sampler_params;

#define NB_SAMPLER_DEFAULT_SEED 0x6e6962626c65ULL /* "nibble" */

/* llama.cpp's defaults: temp 0.8, top_k 40, top_p 0.95, min_p 0.05,
 * repeat 1.0, freq 0, presence 0, last_n 64, seed NB_SAMPLER_DEFAULT_SEED. */
nb_sampler_params nb_sampler_default_params(void);
/* Exact bytes nb_sampler_init needs (p NULL: the defaults); 0 when n_vocab
 * <= 0, the params are invalid or the size overflows. */
size_t nb_sampler_size(int32_t n_vocab, const nb_sampler_params *p);
/* NB_ERR_INVALID_ARG for a bad argument (the message names the field),
 * NB_ERR_NOMEM when mem_size < nb_sampler_size(). p NULL: the defaults. */
nb_status nb_sampler_init(nb_sampler **s, int32_t n_vocab, const nb_sampler_params *p,
                          void *mem, size_t mem_size, nb_err *err);
/* One token id from n_vocab logits (NaN counts as -inf). */
int32_t nb_sampler_sample(nb_sampler *s, const float *logits);
/* Record an emitted token in the penalty history (ids outside the
 * vocabulary are ignored). */
void nb_sampler_accept(nb_sampler *s, int32_t token);
/* Forget the history and reseed the generator with the params' seed. */
void nb_sampler_reset(nb_sampler *s);
/* end of sampler section */

/* ------------------------------------------------------------------ chat */
/* (chat section: lib/text/chat.c) */

/* Chat template families, recognized from tokenizer.chat_template (no
 * Jinja is run) or, when a file has none, from the architecture. */
enum { NB_CHAT_UNKNOWN = 0, NB_CHAT_CHATML, NB_CHAT_LLAMA3, NB_CHAT_GEMMA, NB_CHAT_PHI3 };

typedef struct nb_chat_template {
    int kind;                    /* NB_CHAT_*                                */
    char default_system[256];    /* system text the template inserts when the
                                    conversation has none ("" if none)      */
} nb_chat_template;

typedef struct nb_chat_msg {
    const char *role;            /* "system", "user", "assistant"            */
    const char *content;
} nb_chat_msg;

/* "chatml", "llama3", "gemma", "phi3"; "unknown" otherwise. */
const char *nb_chat_template_name(int kind);
int nb_chat_template_from_name(const char *name);          /* 0: unknown */
int nb_chat_template_detect(const char *tmpl, size_t len);  /* 0: unknown */
/* The model's template: NB_ERR_UNSUPPORTED for a template of an unknown
 * family, NB_ERR_NOT_FOUND when there is none and the architecture implies
 * none (the message says so). */
nb_status nb_chat_template_for_model(const nb_gguf *g, nb_chat_template *t, nb_err *err);
/* The prompt text for a conversation (tokenize it with parse_special = 1);
 * add_assistant opens the assistant's turn. snprintf-like: *len gets the
 * full length; NB_ERR_RANGE when it does not fit in size bytes (NUL
 * included). */
nb_status nb_chat_format(const nb_chat_template *t, const nb_chat_msg *msgs, int n_msgs,
                         int add_assistant, char *buf, size_t size, size_t *len, nb_err *err);
/* The token text that ends a turn ("<|im_end|>" ...), NULL if unknown. */
const char *nb_chat_end_of_turn(const nb_chat_template *t);
/* end of chat section */

/* ----------------------------------------------------------------- model */

#define NB_MAX_LAYERS 256

/* The transformer families nb_model_load reads (general.architecture).
 * They share one forward pass; docs/architectures.md lists what differs. */
typedef enum nb_arch {
    NB_ARCH_LLAMA = 0,
    NB_ARCH_QWEN2,
    NB_ARCH_QWEN3,
    NB_ARCH_PHI3,
    NB_ARCH_GEMMA2,
    NB_ARCH_GEMMA3,
} nb_arch;

/* "llama", "qwen2", ... (the general.architecture string); "?" if unknown. */
const char *nb_arch_name(nb_arch arch);

/* Hyperparameters, from the <arch>.* GGUF keys. The fields after n_ctx_train
 * say how a family differs from llama; llama's values are the defaults. */
typedef struct nb_hparams {
    int32_t n_vocab;
    int32_t n_embd;        /* model width                                */
    int32_t n_layer;
    int32_t n_ff;          /* feed-forward hidden width                  */
    int32_t n_head;
    int32_t n_head_kv;     /* < n_head: grouped-query attention          */
    int32_t head_dim;      /* <arch>.attention.key_length, else n_embd / n_head */
    int32_t n_rot;         /* rotary dimensions per head                 */
    int32_t n_ctx_train;
    float rope_freq_base;
    float rms_eps;
    nb_arch arch;
    int32_t rope_neox;     /* 1: RoPE rotates (i, i + n_rot/2) (GPT-NeoX);
                            * 0: adjacent pairs (2i, 2i+1) (llama)        */
    int32_t ffn_gelu;      /* 1: GELU(tanh)-gated FFN (gemma); 0: SwiGLU  */
    float embd_scale;      /* input embedding multiplier (gemma: sqrt(n_embd)) */
    float attn_scale;      /* attention score scale (1/sqrt(head_dim))   */
    float attn_softcap;    /* > 0: scores s -> c*tanh(s/c) (gemma2)      */
    float final_softcap;   /* > 0: logits -> c*tanh(logits/c) (gemma2)   */
    int32_t n_swa;         /* sliding window on local layers: a query at p
                            * sees keys p-n_swa+1 .. p; 0: none          */
    float rope_freq_base_swa; /* RoPE base of local (sliding-window) layers */
    float rope_attn_factor;   /* RoPE magnitude scale (rope.scaling.attn_factor), 1 */
    int32_t n_ctx_orig;    /* rope.scaling.original_context_length: a
                            * context longer than this uses the long factors */
} nb_hparams;

/* One transformer block: views of its weight tensors (no copies). */
typedef struct nb_layer {
    const nb_gguf_tensor *attn_norm;  /* (n_embd)                       */
    const nb_gguf_tensor *wq;         /* (n_embd) -> (n_head*head_dim)  */
    const nb_gguf_tensor *wk;         /* (n_embd) -> (n_head_kv*head_dim) */
    const nb_gguf_tensor *wv;         /* (n_embd) -> (n_head_kv*head_dim) */
    const nb_gguf_tensor *wo;         /* (n_head*head_dim) -> (n_embd)  */
    const nb_gguf_tensor *ffn_norm;   /* (n_embd)                       */
    const nb_gguf_tensor *ffn_gate;   /* (n_embd) -> (n_ff)             */
    const nb_gguf_tensor *ffn_up;     /* (n_embd) -> (n_ff)             */
    const nb_gguf_tensor *ffn_down;   /* (n_ff) -> (n_embd)             */
    /* optional, by family (NULL when absent): */
    const nb_gguf_tensor *bq, *bk, *bv;  /* F32 biases of wq/wk/wv (qwen2) */
    const nb_gguf_tensor *wqkv;       /* fused (n_embd) -> (q_dim+2*kv_dim), rows
                                       * Q then K then V; wq/wk/wv NULL (phi3) */
    const nb_gguf_tensor *attn_q_norm, *attn_k_norm; /* (head_dim) per-head
                                       * RMSNorm of q and k before RoPE (qwen3, gemma3) */
    const nb_gguf_tensor *attn_post_norm; /* (n_embd) RMSNorm of the attention
                                       * output before the residual add (gemma2/3) */
    const nb_gguf_tensor *ffn_post_norm;  /* (n_embd) likewise for the FFN */
    int32_t fused_up;                 /* 1: ffn_up is (n_embd) -> (2*n_ff), rows gate
                                       * then up, ffn_gate NULL (phi3)      */
    int32_t swa;                      /* 1: local layer, sliding-window attention
                                       * with rope_freq_base_swa (gemma2/3)  */
} nb_layer;

typedef struct nb_model {
    const nb_gguf *gguf;
    nb_hparams hp;
    const nb_gguf_tensor *tok_embd;    /* (n_vocab rows of n_embd)       */
    const nb_gguf_tensor *output_norm; /* (n_embd)                       */
    const nb_gguf_tensor *output;      /* (n_vocab rows of n_embd); tied: = tok_embd */
    const nb_gguf_tensor *rope_freqs;  /* optional (n_rot/2) divisors    */
    nb_layer layers[NB_MAX_LAYERS];
    /* optional (n_rot/2) divisors, phi3 su/longrope: long when the context
     * is longer than hp.n_ctx_orig, else short */
    const nb_gguf_tensor *rope_factors_long, *rope_factors_short;
} nb_model;

/* Binds hyperparameters and tensors of a GGUF of a supported family
 * (llama, qwen2, qwen3, phi3, gemma2, gemma3); checks every tensor's shape
 * and that its type can be computed with. Errors name the architecture and
 * the key or tensor at fault. */
nb_status nb_model_load(const nb_gguf *g, nb_model *m, nb_err *err);

typedef struct nb_ctx_params {
    int32_t n_ctx;         /* positions of KV cache (0: min(train, 2048)) */
    int32_t kv_f32;        /* 1: F32 KV cache; 0 (default): F16 as llama.cpp */
    int32_t float_path;    /* 1: float path (weights dequantized row by row,
                            * F32 activations and KV cache); 0 (default): fast path,
                            * activations quantized to each weight type's
                            * partner format and integer dot products */
    int32_t n_batch;       /* tokens per micro-batch of nb_decode (0: 32): the
                            * weights are read once per batch; the scratch
                            * grows with it (1: the least memory) */
    int32_t n_threads;     /* threads of the matrix products and attention
                            * (0: OpenMP's default, omp_get_max_threads(), read
                            * by nb_ctx_size and nb_ctx_init: the scratch holds
                            * one row per thread); 1 without OpenMP. Results
                            * do not depend on it */
} nb_ctx_params;

typedef struct nb_ctx nb_ctx;

/* Exact bytes nb_ctx_init needs for this model and these parameters. */
size_t nb_ctx_size(const nb_model *m, const nb_ctx_params *p);
/* Lay the context out in caller memory (16-byte aligned start
 * recommended); nothing is allocated afterwards. */
nb_status nb_ctx_init(nb_ctx **ctx, const nb_model *m, const nb_ctx_params *p, void *arena,
                      size_t arena_size, nb_err *err);
/* Forget the sequence (position 0 again). */
void nb_ctx_reset(nb_ctx *ctx);
int32_t nb_ctx_pos(const nb_ctx *ctx);
int32_t nb_ctx_n_ctx(const nb_ctx *ctx);
/* Threads this context computes with (1 without OpenMP). */
int32_t nb_ctx_threads(const nb_ctx *ctx);
/* Run tokens at the next positions (in micro-batches of n_batch); `logits`
 * (n_vocab floats, may be NULL) receives the logits after the last one.
 * The same numbers as running the tokens one call at a time. */
nb_status nb_decode(nb_ctx *ctx, const int32_t *tokens, int32_t n_tokens, float *logits,
                    nb_err *err);
/* The same, with the logits after every token: `logits_all` receives
 * n_tokens rows of n_vocab floats (perplexity, logits dumps). */
nb_status nb_decode_all(nb_ctx *ctx, const int32_t *tokens, int32_t n_tokens, float *logits_all,
                        nb_err *err);

/* -------------------------------------------------------------- quantize */
/* (quantize section: lib/quantize/) */

/* llama.cpp's file types (general.file_type, enum llama_ftype). */
typedef enum nb_ftype {
    NB_FTYPE_ALL_F32 = 0,
    NB_FTYPE_MOSTLY_F16 = 1,
    NB_FTYPE_MOSTLY_Q4_0 = 2,
    NB_FTYPE_MOSTLY_Q4_1 = 3,
    NB_FTYPE_MOSTLY_Q8_0 = 7,
    NB_FTYPE_MOSTLY_Q5_0 = 8,
    NB_FTYPE_MOSTLY_Q5_1 = 9,
    NB_FTYPE_MOSTLY_Q2_K = 10,
    NB_FTYPE_MOSTLY_Q3_K_S = 11,
    NB_FTYPE_MOSTLY_Q3_K_M = 12,
    NB_FTYPE_MOSTLY_Q3_K_L = 13,
    NB_FTYPE_MOSTLY_Q4_K_S = 14,
    NB_FTYPE_MOSTLY_Q4_K_M = 15,
    NB_FTYPE_MOSTLY_Q5_K_S = 16,
    NB_FTYPE_MOSTLY_Q5_K_M = 17,
    NB_FTYPE_MOSTLY_Q6_K = 18,
    NB_FTYPE_MOSTLY_IQ4_NL = 25,
    NB_FTYPE_MOSTLY_IQ4_XS = 30,
    NB_FTYPE_MOSTLY_BF16 = 32
} nb_ftype;

/* What nb-quantize's TYPE argument names: a single type (every weight
 * matrix in that type) or a recipe (llama.cpp's per-tensor choices). */
typedef struct nb_quant_target {
    const char *name;      /* "Q4_K_M"                                   */
    int ftype;             /* nb_ftype written as general.file_type      */
    uint32_t type;         /* the default tensor type                    */
    int recipe;            /* 1: llama.cpp's per-tensor rules apply      */
} nb_quant_target;

/* Case-insensitive; NB_ERR_INVALID_ARG naming the known types otherwise. */
nb_status nb_quant_target_parse(const char *name, nb_quant_target *t, nb_err *err);
/* The i-th known target (for listings); NULL past the end. */
const nb_quant_target *nb_quant_target_at(int i);

/* Facts about the model the rules depend on (nb_quant_model_facts_get). */
typedef struct nb_quant_model_facts {
    int n_attention_wv;    /* tensors named *attn_v.weight               */
    int n_ffn_down;        /* tensors named *ffn_down*                   */
    int n_gqa;             /* head_count / head_count_kv                 */
    int n_expert;          /* <arch>.expert_count, 0 if none             */
    int has_output;        /* output.weight present (untied LM head)     */
    int has_imatrix;
    int falcon;            /* architecture falcon (own rules)            */
    int is_70b;            /* llama with 80 layers                       */
} nb_quant_model_facts;

/* Counts and reads the facts from a parsed model file. */
void nb_quant_model_facts_get(const nb_gguf *g, int has_imatrix, nb_quant_model_facts *f);

/* Walks the tensors in file order (layer counters advance as in
 * llama-quantize). */
typedef struct nb_quant_policy {
    nb_quant_target target;
    int pure;              /* 1: no per-tensor rules, only fallbacks     */
    nb_quant_model_facts facts;
    int i_attention_wv, i_ffn_down;
} nb_quant_policy;

typedef struct nb_quant_choice {
    uint32_t type;         /* the type written                           */
    uint32_t wanted;       /* what the rules asked for (before fallback) */
    int quantize;          /* 0: bytes copied as they are                */
    int fallback;          /* 1: `wanted` did not fit the rows           */
    char why[96];          /* the reason, when fallback                  */
} nb_quant_choice;

/* Is this a tensor llama.cpp would quantize (2-D+ weight, not a norm ...)? */
int nb_quant_wants(const char *name, uint32_t n_dims);
void nb_quant_policy_init(nb_quant_policy *p, const nb_quant_target *t, int pure,
                          const nb_quant_model_facts *facts);
/* The type for the next tensor. override_type >= 0 replaces the rules'
 * choice (the fallback check still applies); -1: none. */
nb_quant_choice nb_quant_policy_choose(nb_quant_policy *p, const char *name, uint32_t n_dims,
                                       const int64_t *ne, uint32_t in_type, int override_type);

/* An importance matrix: per weight matrix, the mean squared activation of
 * each input column (llama.cpp's imatrix GGUF "<name>.in_sum2" / ".counts",
 * or its legacy .dat file). */
typedef struct nb_imatrix_entry {
    char *name;
    int64_t n;             /* values: row length x number of matrices    */
    float *values;
} nb_imatrix_entry;

typedef struct nb_imatrix {
    nb_imatrix_entry *e;
    int64_t n_entries;
    int64_t n_chunks;      /* chunks it was computed over (0 unknown)    */
    char dataset[256];     /* the text it was computed on, if recorded   */
} nb_imatrix;

/* Parse either format from bytes (GGUF by its magic, else legacy). The
 * entries are malloc'd; free with nb_imatrix_free. */
nb_status nb_imatrix_load(const void *data, size_t size, nb_imatrix *im, nb_err *err);
void nb_imatrix_free(nb_imatrix *im);
const nb_imatrix_entry *nb_imatrix_find(const nb_imatrix *im, const char *name);

/* Progress and report of nb_quantize_gguf, from the calling thread. */
typedef enum nb_quant_event {
    NB_QUANT_TENSOR_BEGIN,  /* a tensor starts (choice filled)           */
    NB_QUANT_PROGRESS,      /* some rows of it are done                  */
    NB_QUANT_TENSOR_END     /* it is written (rel_rmse filled)           */
} nb_quant_event;

typedef struct nb_quant_status {
    nb_quant_event event;
    int64_t i_tensor, n_tensors;
    const char *name;
    uint32_t n_dims;
    const int64_t *ne;
    uint32_t in_type;
    nb_quant_choice choice;
    uint64_t bytes_in, bytes_out;       /* this tensor                   */
    uint64_t done_in, total_in;         /* input bytes processed, in all */
    double rel_rmse;        /* ||x - deq(q(x))|| / ||x||, at TENSOR_END   */
    int used_imatrix;
} nb_quant_status;

/* Return non-zero to stop (the call then fails with NB_ERR_CANCELLED). */
typedef int (*nb_quant_progress_fn)(void *user, const nb_quant_status *s);

typedef struct nb_quant_params {
    nb_quant_target target;
    int pure;
    int allow_requantize;  /* accept quantized input tensors              */
    int n_threads;         /* <= 0: all (OpenMP); 1 without OpenMP        */
    const nb_imatrix *imatrix;          /* may be NULL                   */
    const char *imatrix_file;           /* recorded in the metadata      */
    /* per-tensor type override: a type id or -1 (may be NULL) */
    int (*override_type)(void *user, const char *name);
    void *override_user;
    nb_quant_progress_fn progress;
    void *progress_user;
    /* Where the values come from when `in` is a header without data
     * (nb_gguf_parse_header; then every input tensor must be F32): rows
     * [r0, r0 + nr) of tensor i as floats. Called from the calling thread.
     * NULL: the tensors' own data. */
    nb_status (*read_rows)(void *user, uint64_t i_tensor, int64_t r0, int64_t nr, float *dst,
                           nb_err *err);
    void *read_user;
} nb_quant_params;

typedef struct nb_quant_summary {
    int64_t n_tensors, n_quantized, n_fallback, n_imatrix;
    uint64_t bytes_in, bytes_out;       /* tensor data                   */
    uint64_t n_elements;
    uint64_t file_bytes;                /* everything written            */
} nb_quant_summary;

/* Stream a quantized copy of the model in `in` to `write`: metadata copied
 * (general.file_type and general.quantization_version set as llama.cpp
 * does), then one tensor at a time, rows split across threads, in row
 * chunks of at most a few MiB (memory does not grow with the model).
 * Nothing is printed; `summary` may be NULL. */
nb_status nb_quantize_gguf(const nb_gguf *in, const nb_quant_params *p, nb_write_fn write,
                           void *user, nb_quant_summary *summary, nb_err *err);
/* end of quantize section */

/* ------------------------------------------- convert (hosted, lib/convert) */

/* Hugging Face checkpoint folder -> GGUF (nb-convert). Reads config.json,
 * model.safetensors or the shards listed by model.safetensors.index.json,
 * and the tokenizer (tokenizer.json / tokenizer.model with
 * tokenizer_config.json), or takes the tokenizer.* keys of `vocab_from`.
 * Tensor names and metadata keys are llama.cpp's (convert_hf_to_gguf.py),
 * so llama.cpp and nibble both load the result. */
typedef struct nb_convert_params {
    const char *hf_dir;
    const char *vocab_from;      /* GGUF whose tokenizer.* keys are used     */
    const char *name;            /* general.name (NULL: from the folder)     */
    /* Output types: quant.target F32/F16/BF16 keeps weights in floats (1-D
     * tensors always F32, as llama.cpp's converter does); any other target
     * or recipe quantizes in the same pass (nb_quantize_gguf's rules).
     * read_rows/read_user are set by the converter. */
    nb_quant_params quant;
} nb_convert_params;

/* Architectures nb_convert_hf accepts ("LlamaForCausalLM", ...), NULL-ended. */
const char *const *nb_convert_architectures(void);

/* Stream the GGUF to `write`, one tensor at a time (memory does not grow
 * with the model). `summary` may be NULL. */
nb_status nb_convert_hf(const nb_convert_params *p, nb_write_fn write, void *user,
                        nb_quant_summary *summary, nb_err *err);

/* -------------------------------------------------- io (hosted helpers) */

/* A read-only mapping of a whole file. */
typedef struct nb_file_map {
    const void *data;
    size_t size;
    int mapped;             /* 1: munmap on close; 0: heap copy / empty   */
} nb_file_map;

nb_status nb_file_map_open(const char *path, nb_file_map *m, nb_err *err);
void nb_file_map_close(nb_file_map *m);

/* Atomic output: bytes go to "<path>.tmp.<pid>"; commit fsyncs and renames
 * over `path` (a failed commit removes the temporary file itself), abort
 * removes the temporary file. Refuses a path that is the
 * same file as `refuse_same_as` (may be NULL), e.g. the input. */
typedef struct nb_file_out {
    void *fp;               /* FILE *                                      */
    char *path;
    char *tmp_path;
} nb_file_out;

nb_status nb_file_out_open(nb_file_out *o, const char *path, const char *refuse_same_as,
                           nb_err *err);
nb_status nb_file_out_commit(nb_file_out *o, nb_err *err);
void nb_file_out_abort(nb_file_out *o);
/* An nb_write_fn whose `user` is an nb_file_out *. */
nb_status nb_file_out_write(void *user, const void *data, size_t size, nb_err *err);

#ifdef __cplusplus
}
#endif
#endif /* NIBBLE_H */
