/* Raw GGUF byte builder for tests and fuzz seeds.
 *
 * Not the library writer: nothing here checks anything, so tests can emit
 * lying lengths, bad types, misaligned offsets, truncated sections. All
 * multi-byte values are written little-endian. Out of memory aborts (test
 * code only).
 *
 *   gb_buf b; gb_init(&b);
 *   gb_header(&b, 3, 1, 1);
 *   gb_kv_u32(&b, "general.alignment", 32);
 *   uint64_t ne[] = {8};
 *   gb_tensor_info(&b, "w", 1, ne, NB_TYPE_F32, 0);
 *   gb_pad(&b, 32); gb_fill(&b, 32, 1);
 *   ... nb_gguf_parse(b.p, b.len, ...) ...; gb_release(&b);
 */
#ifndef NB_SUPPORT_GGUF_BUILDER_H
#define NB_SUPPORT_GGUF_BUILDER_H

#include "nibble.h"

#include <stddef.h>
#include <stdint.h>

typedef struct gb_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
} gb_buf;

void gb_init(gb_buf *b);
void gb_release(gb_buf *b);
void gb_reset(gb_buf *b);                 /* len = 0, keeps the memory */

/* ---- primitives */
void gb_raw(gb_buf *b, const void *p, size_t n);
void gb_zeros(gb_buf *b, size_t n);
void gb_fill(gb_buf *b, size_t n, uint32_t seed);   /* deterministic bytes */
void gb_u8(gb_buf *b, uint8_t v);
void gb_u16(gb_buf *b, uint16_t v);
void gb_u32(gb_buf *b, uint32_t v);
void gb_u64(gb_buf *b, uint64_t v);
void gb_f32(gb_buf *b, float v);
void gb_f64(gb_buf *b, double v);
/* Overwrite an already written field at byte offset `at`. */
void gb_put_u32(gb_buf *b, size_t at, uint32_t v);
void gb_put_u64(gb_buf *b, size_t at, uint64_t v);

/* ---- GGUF pieces */
void gb_str(gb_buf *b, const char *s);                  /* u64 len | bytes */
void gb_strn(gb_buf *b, const void *s, size_t n);
/* A string whose length field says `len_field` but only `n` bytes follow. */
void gb_str_lying(gb_buf *b, uint64_t len_field, const void *s, size_t n);
/* "GGUF" | version | n_tensors | n_kv */
void gb_header(gb_buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv);
/* key string | u32 value type; the value follows (caller appends it) */
void gb_key(gb_buf *b, const char *key, uint32_t type);
/* u32 element type | u64 count; the elements follow */
void gb_arr_head(gb_buf *b, uint32_t elem_type, uint64_t n);

void gb_kv_u8(gb_buf *b, const char *key, uint8_t v);
void gb_kv_i8(gb_buf *b, const char *key, int8_t v);
void gb_kv_u16(gb_buf *b, const char *key, uint16_t v);
void gb_kv_i16(gb_buf *b, const char *key, int16_t v);
void gb_kv_u32(gb_buf *b, const char *key, uint32_t v);
void gb_kv_i32(gb_buf *b, const char *key, int32_t v);
void gb_kv_u64(gb_buf *b, const char *key, uint64_t v);
void gb_kv_i64(gb_buf *b, const char *key, int64_t v);
void gb_kv_f32(gb_buf *b, const char *key, float v);
void gb_kv_f64(gb_buf *b, const char *key, double v);
void gb_kv_bool(gb_buf *b, const char *key, int v);
void gb_kv_str(gb_buf *b, const char *key, const char *v);
/* key | ARRAY | elem_type | n; the caller appends the n elements */
void gb_kv_arr(gb_buf *b, const char *key, uint32_t elem_type, uint64_t n);
void gb_kv_arr_u32(gb_buf *b, const char *key, const uint32_t *v, uint64_t n);
void gb_kv_arr_str(gb_buf *b, const char *key, const char *const *v, uint64_t n);

/* name | n_dims | ne[n_dims] | type | offset; a NULL ne writes no
 * dimensions at all (for a lying n_dims) */
void gb_tensor_info(gb_buf *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                    uint32_t type, uint64_t offset);
/* Zero bytes up to the next multiple of `align` (of the whole buffer). */
void gb_pad(gb_buf *b, uint64_t align);
/* Data bytes of a well-formed tensor; 0 for an unknown type. */
uint64_t gb_tensor_bytes(uint32_t type, uint32_t n_dims, const uint64_t *ne);

/* ---- a small valid file
 *
 * version 3, alignment 64, these kvs (file order):
 *   general.architecture  string  "nibble"
 *   general.alignment     u32     64
 *   test.u8 u8 200 | test.i8 i8 -5 | test.u16 u16 65000 | test.i16 i16 -30000
 *   test.u32 u32 4000000000 | test.i32 i32 -7 | test.u64 u64 2^40
 *   test.u64_big u64 2^63+5 | test.i64 i64 -2^40 | test.f32 f32 1.5
 *   test.f64 f64 -2.25 | test.bool bool 1
 *   tokenizer.tokens      [string] {"<s>", "hello", "", "w\xc3\xb6rld"}
 *   test.f32_arr          [f32]    {0.5, -1, 2}
 *   test.nested           [[u32]]  {{1,2,3}, {}, {42}}
 *   test.nested_str       [[string]] {{"a","bc"}, {"def"}}
 *   test.deep             [[[i16]]]  {{{-1,2}}, {{3},{}}}
 * and four tensors, infos listed out of data order (tests the sorting):
 *   blk.0.q8   Q8_0 {32, 3}   offset 256, 102 bytes  (ends the file)
 *   tok_embd   F32  {8, 2}    offset 0,    64 bytes
 *   blk.0.q4   Q4_0 {64, 2}   offset 128,  72 bytes
 *   norm       F16  {16}      offset 64,   32 bytes
 * The file ends exactly where the last tensor's data ends, so every proper
 * prefix of it is malformed. */
#define GB_VALID_N_KV 19
#define GB_VALID_N_TENSORS 4
#define GB_VALID_ALIGNMENT 64

typedef struct gb_valid_info {
    size_t n_tensors_at, n_kv_at;          /* header fields                 */
    size_t alignment_at;                   /* u32 value of general.alignment */
    size_t tinfo_at[GB_VALID_N_TENSORS];   /* start of each tensor info      */
    size_t toffset_at[GB_VALID_N_TENSORS]; /* its u64 offset field           */
    size_t infos_end;                      /* end of the tensor infos        */
    size_t data_offset;                    /* start of the data section      */
    const char *tname[GB_VALID_N_TENSORS];
    uint32_t ttype[GB_VALID_N_TENSORS];
    uint64_t toffset[GB_VALID_N_TENSORS];
    uint64_t tnbytes[GB_VALID_N_TENSORS];
} gb_valid_info;

void gb_build_valid(gb_buf *b, gb_valid_info *info /* may be NULL */);

/* ---- walk a parsed file
 *
 * Reads every kv through the typed getters and the kv/array accessors
 * (string arrays with nb_gguf_arr_next_str, nested arrays recursively with
 * nb_gguf_arr_next_arr), looks every key and tensor up by name, and touches
 * the first and last byte of every tensor's data. Checks the invariants a
 * successful parse promises. Returns 0, or 1 with the first broken
 * invariant described in `why`. */
int gb_walk(const nb_gguf *g, char *why, size_t why_size);

#endif
