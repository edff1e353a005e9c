/* Hostile GGUF input: every malformed file must give a non-OK status and a
 * message naming the field or value at fault, never a crash, over-read or
 * leak.
 *
 * The table `cases` below is the corpus of malformed files (DESIGN's
 * tests/data/bad/): each entry builds its bytes in code and says which
 * status and message it must produce. `test_gguf_bad --write-corpus DIR`
 * writes them out as DIR/<name>.gguf (plus DIR/EXPECTED.txt) for use as
 * fuzz seeds or with nb-inspect. */
#include "harness.h"
#include "support_gguf_builder.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

/* Tests parse from an exact-size heap copy, so ASan sees any read past the
 * end (the builder's buffer has slack capacity). */
static uint8_t *exact_copy(const uint8_t *p, size_t n) {
    uint8_t *c = malloc(n ? n : 1);
    if (!c) abort();
    if (n) memcpy(c, p, n);
    return c;
}

/* An allocator that counts live blocks, and one that always fails. */
typedef struct counting {
    long live, total;
} counting;

static void *count_alloc(void *user, size_t size) {
    counting *c = user;
    void *p = malloc(size ? size : 1);
    if (p) c->live++, c->total++;
    return p;
}

static void count_free(void *user, void *ptr) {
    counting *c = user;
    if (ptr) c->live--;
    free(ptr);
}

static void *fail_alloc(void *user, size_t size) {
    (void)user;
    (void)size;
    return NULL;
}

static void fail_free(void *user, void *ptr) {
    (void)user;
    if (ptr) abort(); /* nothing was ever handed out */
}

/* `msg` contains each of the NULL-terminated substrings. */
static int has_all(const char *msg, const char *const *subs) {
    for (; *subs; subs++)
        if (!strstr(msg, *subs)) return 0;
    return 1;
}

/* ----------------------------------------------------- file builders */

/* kv-only files get this many trailing bytes so that the header's "could
 * the file hold n_kv entries" check passes and the fault under test is the
 * one reported. */
#define TAIL 32

static void kv_header(gb_buf *b, uint64_t n_kv) {
    gb_header(b, 3, 0, n_kv);
}

/* One F32-ish tensor file: header, info, padding to 32, `data` bytes. */
static void one_tensor(gb_buf *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                       uint32_t type, uint64_t offset, size_t data) {
    gb_header(b, 3, 1, 0);
    gb_tensor_info(b, name, n_dims, ne, type, offset);
    gb_pad(b, 32);
    gb_fill(b, data, 7);
}

/* `levels` arrays nested in one another, the innermost holding two u8. */
static void nested(gb_buf *b, const char *key, int levels) {
    gb_key(b, key, NB_GGUF_ARRAY);
    for (int i = 0; i < levels - 1; i++) gb_arr_head(b, NB_GGUF_ARRAY, 1);
    gb_arr_head(b, NB_GGUF_U8, 2);
    gb_u8(b, 1);
    gb_u8(b, 2);
}

/* -- header */
static void b_bad_magic(gb_buf *b) {
    gb_build_valid(b, NULL);
    memcpy(b->p, "GGML", 4);
}
static void b_short_magic(gb_buf *b) { gb_raw(b, "GGU", 3); }
static void b_version_0(gb_buf *b) { gb_header(b, 0, 0, 0); gb_zeros(b, TAIL); }
static void b_version_1(gb_buf *b) { gb_header(b, 1, 0, 0); gb_zeros(b, TAIL); }
static void b_version_4(gb_buf *b) { gb_header(b, 4, 0, 0); gb_zeros(b, TAIL); }
static void b_big_endian(gb_buf *b) {
    /* llama.cpp's big-endian files keep the magic bytes; the rest is BE */
    static const uint8_t be[] = {'G', 'G', 'U', 'F', 0, 0, 0, 3,  0, 0, 0, 0, 0, 0, 0, 1,
                                 0,   0,   0,   0,   0, 0, 0, 1};
    gb_raw(b, be, sizeof be);
    gb_zeros(b, 64);
}
static void b_n_tensors_huge(gb_buf *b) { gb_header(b, 3, 1000, 0); gb_zeros(b, 100); }
static void b_n_tensors_max(gb_buf *b) { gb_header(b, 3, UINT64_MAX, 0); gb_zeros(b, 100); }
static void b_n_tensors_plus_kv(gb_buf *b) {
    /* 2 kv (>= 28 bytes) and 2 tensors (>= 66) each fit in 70 bytes, both don't */
    gb_header(b, 3, 2, 2);
    gb_zeros(b, 70);
}
static void b_n_kv_huge(gb_buf *b) { gb_header(b, 3, 0, 1000); gb_zeros(b, 100); }
static void b_n_kv_max(gb_buf *b) { gb_header(b, 3, 0, UINT64_MAX); gb_zeros(b, 100); }
static void b_n_kv_limit(gb_buf *b) {
    /* over NB_GGUF_MAX_ENTRIES even though the count check alone would not
     * say so for a file this size: only the header is built, so the size
     * check fires; the limit itself is exercised via index_size below */
    gb_header(b, 3, 0, NB_GGUF_MAX_ENTRIES + 1);
    gb_zeros(b, 64);
}
static void b_header_truncated(gb_buf *b) { gb_raw(b, "GGUF\3\0\0\0\0\0\0\0", 12); }

/* -- strings */
static void b_key_len_past_end(gb_buf *b) {
    kv_header(b, 1);
    gb_str_lying(b, 100, "abcdef", 6);
    gb_zeros(b, 8);
}
static void b_str_value_past_end(gb_buf *b) {
    kv_header(b, 1);
    gb_key(b, "s", NB_GGUF_STRING);
    gb_str_lying(b, 1000, "xyz", 3);
}
static void b_key_over_1gib(gb_buf *b) {
    kv_header(b, 1);
    gb_str_lying(b, NB_GGUF_MAX_STRING + 1, "abc", 3);
    gb_zeros(b, TAIL);
}
static void b_str_value_over_1gib(gb_buf *b) {
    kv_header(b, 1);
    gb_key(b, "big", NB_GGUF_STRING);
    gb_str_lying(b, UINT64_MAX, "abc", 3);
}
static void b_tensor_name_past_end(gb_buf *b) {
    gb_header(b, 3, 1, 0);
    gb_str_lying(b, 500, "w", 1);
    gb_zeros(b, 40);
}

/* -- arrays */
static void b_nested_too_deep(gb_buf *b) { kv_header(b, 1); nested(b, "deep.arr", NB_GGUF_MAX_DEPTH + 1); }
static void b_nested_max_depth(gb_buf *b) { kv_header(b, 1); nested(b, "deep.arr", NB_GGUF_MAX_DEPTH); }
static void b_nested_way_too_deep(gb_buf *b) {
    /* 10000 levels: the parser must not recurse that far */
    kv_header(b, 1);
    nested(b, "deep.arr", 10000);
}
static void b_arr_count_overflow(gb_buf *b) {
    kv_header(b, 1);
    gb_kv_arr(b, "big.arr", NB_GGUF_U64, 1ull << 62); /* x 8 = 2^65 */
    gb_zeros(b, TAIL);
}
static void b_arr_count_past_end(gb_buf *b) {
    kv_header(b, 1);
    gb_kv_arr(b, "u32.arr", NB_GGUF_U32, 1000);
    gb_zeros(b, TAIL);
}
static void b_str_arr_count(gb_buf *b) {
    kv_header(b, 1);
    gb_kv_arr(b, "str.arr", NB_GGUF_STRING, 1000);
    gb_str(b, "a");
    gb_zeros(b, TAIL);
}
static void b_str_arr_count_huge(gb_buf *b) {
    kv_header(b, 1);
    gb_kv_arr(b, "str.arr", NB_GGUF_STRING, UINT64_MAX);
    gb_zeros(b, TAIL);
}
static void b_arr_arr_count(gb_buf *b) {
    kv_header(b, 1);
    gb_kv_arr(b, "arr.arr", NB_GGUF_ARRAY, 1000);
    gb_arr_head(b, NB_GGUF_U8, 0);
    gb_zeros(b, TAIL);
}
static void b_str_arr_elem_past_end(gb_buf *b) {
    kv_header(b, 1);
    gb_kv_arr(b, "str.arr", NB_GGUF_STRING, 2);
    gb_str(b, "a");
    gb_str_lying(b, 100, "bc", 2);
    gb_zeros(b, 8);
}
static void b_unknown_value_type(gb_buf *b) {
    kv_header(b, 1);
    gb_key(b, "odd.key", NB_GGUF_TYPE_COUNT);
    gb_zeros(b, TAIL);
}
static void b_unknown_value_type_max(gb_buf *b) {
    kv_header(b, 1);
    gb_key(b, "odd.key", UINT32_MAX);
    gb_zeros(b, TAIL);
}
static void b_unknown_arr_elem(gb_buf *b) {
    kv_header(b, 1);
    gb_kv_arr(b, "odd.arr", NB_GGUF_TYPE_COUNT, 1);
    gb_zeros(b, TAIL);
}
static void b_unknown_nested_elem(gb_buf *b) {
    kv_header(b, 1);
    gb_kv_arr(b, "odd.arr", NB_GGUF_ARRAY, 1);
    gb_arr_head(b, 99, 0);
    gb_zeros(b, TAIL);
}
static void b_value_truncated(gb_buf *b) {
    kv_header(b, 1);
    gb_key(b, "k.u64", NB_GGUF_U64);
    gb_u32(b, 1);
    gb_zeros(b, 3); /* 7 of 8 bytes, and enough file for the n_kv check */
}

/* -- keys */
static void b_empty_key(gb_buf *b) {
    kv_header(b, 1);
    gb_kv_u8(b, "", 1);
    gb_zeros(b, TAIL);
}
static void b_duplicate_key(gb_buf *b) {
    kv_header(b, 3);
    gb_kv_u32(b, "a.b", 1);
    gb_kv_str(b, "a.bc", "x");
    gb_kv_u32(b, "a.b", 2);
}
static void b_duplicate_key_types(gb_buf *b) {
    /* same name, other type: still a duplicate */
    kv_header(b, 2);
    gb_kv_str(b, "general.name", "x");
    gb_kv_arr_u32(b, "general.name", (const uint32_t[]){1, 2}, 2);
}

/* -- tensor infos */
static void b_duplicate_tensor(gb_buf *b) {
    uint64_t ne[] = {8};
    gb_header(b, 3, 2, 0);
    gb_tensor_info(b, "blk.0.w", 1, ne, NB_TYPE_F32, 0);
    gb_tensor_info(b, "blk.0.w", 1, ne, NB_TYPE_F32, 32);
    gb_pad(b, 32);
    gb_fill(b, 64, 1);
}
static void b_key_and_tensor_same_name(gb_buf *b) {
    /* keys and tensor names are separate namespaces: allowed */
    uint64_t ne[] = {8};
    gb_header(b, 3, 1, 1);
    gb_kv_u32(b, "same", 1);
    gb_tensor_info(b, "same", 1, ne, NB_TYPE_F32, 0);
    gb_pad(b, 32);
    gb_fill(b, 32, 1);
}
static void b_empty_tensor_name(gb_buf *b) {
    uint64_t ne[] = {8};
    one_tensor(b, "", 1, ne, NB_TYPE_F32, 0, 32);
}
static void b_n_dims_0(gb_buf *b) { one_tensor(b, "w0", 0, NULL, NB_TYPE_F32, 0, 64); }
static void b_n_dims_5(gb_buf *b) {
    uint64_t ne[] = {1, 1, 1, 1, 8};
    one_tensor(b, "w5", 5, ne, NB_TYPE_F32, 0, 32);
}
static void b_n_dims_huge(gb_buf *b) { one_tensor(b, "wh", UINT32_MAX, NULL, NB_TYPE_F32, 0, 64); }
static void b_dim_zero(gb_buf *b) {
    uint64_t ne[] = {4, 0};
    one_tensor(b, "wz", 2, ne, NB_TYPE_F32, 0, 32);
}
static void b_dim_negative(gb_buf *b) {
    uint64_t ne[] = {1ull << 63};
    one_tensor(b, "wneg", 1, ne, NB_TYPE_F32, 0, 32);
}
static void b_dim_minus_one(gb_buf *b) {
    uint64_t ne[] = {4, 4, UINT64_MAX};
    one_tensor(b, "wm1", 3, ne, NB_TYPE_F32, 0, 64);
}
static void b_nelem_overflow(gb_buf *b) {
    uint64_t ne[] = {1ull << 32, 1ull << 32}; /* 2^64 */
    one_tensor(b, "wover", 2, ne, NB_TYPE_F32, 0, 32);
}
static void b_nelem_over_int64(gb_buf *b) {
    uint64_t ne[] = {1ull << 31, 1ull << 31, 2}; /* 2^63: fits u64, not i64 */
    one_tensor(b, "wover", 3, ne, NB_TYPE_F32, 0, 32);
}
static void b_nbytes_overflow(gb_buf *b) {
    uint64_t ne[] = {1ull << 31, 1ull << 31}; /* 2^62 elements x 4 bytes */
    one_tensor(b, "wbytes", 2, ne, NB_TYPE_F32, 0, 32);
}
static void b_nbytes_overflow_f64(gb_buf *b) {
    /* 2^61 elements x 8 bytes (block types cannot overflow: their bytes per
     * element are < 2 and element counts stop at 2^63 - 1) */
    uint64_t ne[] = {1ull << 61};
    one_tensor(b, "wf64", 1, ne, NB_TYPE_F64, 0, 32);
}
static void b_type_4(gb_buf *b) {
    uint64_t ne[] = {32};
    one_tensor(b, "wt", 1, ne, 4, 0, 32);
}
static void b_type_1000(gb_buf *b) {
    uint64_t ne[] = {32};
    one_tensor(b, "wt", 1, ne, 1000, 0, 32);
}
static void b_type_count(gb_buf *b) {
    uint64_t ne[] = {32};
    one_tensor(b, "wt", 1, ne, NB_TYPE_COUNT, 0, 32);
}
static void b_row_not_multiple(gb_buf *b) {
    uint64_t ne[] = {48, 2};
    one_tensor(b, "wq4", 2, ne, NB_TYPE_Q4_0, 0, 64);
}
static void b_row_not_multiple_k(gb_buf *b) {
    uint64_t ne[] = {128, 4}; /* 512 elements, but rows are half a Q4_K block */
    one_tensor(b, "wq4k", 2, ne, NB_TYPE_Q4_K, 0, 288);
}

/* -- data placement */
static void b_offset_misaligned(gb_buf *b) {
    uint64_t ne[] = {8};
    one_tensor(b, "wmis", 1, ne, NB_TYPE_F32, 4, 64);
}
static void b_offset_misaligned_custom(gb_buf *b) {
    uint64_t ne[] = {8};
    gb_header(b, 3, 1, 1);
    gb_kv_u32(b, "general.alignment", 64);
    gb_tensor_info(b, "wmis", 1, ne, NB_TYPE_F32, 32);
    gb_pad(b, 64);
    gb_fill(b, 128, 1);
}
static void b_offset_past_end(gb_buf *b) {
    uint64_t ne[] = {8};
    one_tensor(b, "wpast", 1, ne, NB_TYPE_F32, 1024, 32);
}
static void b_offset_size_past_end(gb_buf *b) {
    uint64_t ne[] = {16}; /* 64 bytes, 32 present */
    one_tensor(b, "wshort", 1, ne, NB_TYPE_F32, 0, 32);
}
static void b_offset_wraps(gb_buf *b) {
    uint64_t ne[] = {16}; /* offset + size wraps around 2^64 */
    one_tensor(b, "wwrap", 1, ne, NB_TYPE_F32, UINT64_MAX & ~31ull, 32);
}
static void b_overlap(gb_buf *b) {
    uint64_t ne_a[] = {16}, ne_b[] = {8};
    gb_header(b, 3, 3, 0);
    gb_tensor_info(b, "t.c", 1, ne_b, NB_TYPE_F32, 96);
    gb_tensor_info(b, "t.b", 1, ne_b, NB_TYPE_F32, 32); /* inside t.a */
    gb_tensor_info(b, "t.a", 1, ne_a, NB_TYPE_F32, 0);
    gb_pad(b, 32);
    gb_fill(b, 128, 1);
}
static void b_overlap_same_offset(gb_buf *b) {
    uint64_t ne[] = {8};
    gb_header(b, 3, 2, 0);
    gb_tensor_info(b, "t.x", 1, ne, NB_TYPE_F32, 0);
    gb_tensor_info(b, "t.y", 1, ne, NB_TYPE_F32, 0);
    gb_pad(b, 32);
    gb_fill(b, 32, 1);
}

/* -- general.alignment */
static void align_file(gb_buf *b, void (*kv)(gb_buf *)) {
    uint64_t ne[] = {8};
    gb_header(b, 3, 1, 1);
    kv(b);
    gb_tensor_info(b, "w", 1, ne, NB_TYPE_F32, 0);
    gb_pad(b, 32);
    gb_fill(b, 32, 1);
}
static void kv_align_u64(gb_buf *b) { gb_kv_u64(b, "general.alignment", 32); }
static void kv_align_str(gb_buf *b) { gb_kv_str(b, "general.alignment", "32"); }
static void kv_align_i32(gb_buf *b) { gb_kv_i32(b, "general.alignment", 32); }
static void kv_align_0(gb_buf *b) { gb_kv_u32(b, "general.alignment", 0); }
static void kv_align_48(gb_buf *b) { gb_kv_u32(b, "general.alignment", 48); }
static void b_align_u64(gb_buf *b) { align_file(b, kv_align_u64); }
static void b_align_str(gb_buf *b) { align_file(b, kv_align_str); }
static void b_align_i32(gb_buf *b) { align_file(b, kv_align_i32); }
static void b_align_0(gb_buf *b) { align_file(b, kv_align_0); }
static void b_align_48(gb_buf *b) { align_file(b, kv_align_48); }
static void b_data_start_beyond(gb_buf *b) {
    /* the tensor info ends at byte 57; the data section would start at 64 */
    uint64_t ne[] = {8};
    gb_header(b, 3, 1, 0);
    gb_tensor_info(b, "w", 1, ne, NB_TYPE_F32, 0);
}
static void b_data_start_beyond_align(gb_buf *b) {
    gb_valid_info in;
    gb_build_valid(b, &in);
    gb_put_u32(b, in.alignment_at, 1u << 20);
}

/* -- well-formed edge cases (must parse) */
static void b_valid(gb_buf *b) { gb_build_valid(b, NULL); }
static void b_version_2(gb_buf *b) {
    kv_header(b, 1);
    gb_put_u32(b, 4, 2);
    gb_kv_str(b, "general.architecture", "v2");
}
static void b_empty(gb_buf *b) { gb_header(b, 3, 0, 0); }
static void b_no_tensors_no_padding(gb_buf *b) {
    kv_header(b, 1);
    gb_kv_u8(b, "k", 1); /* ends at 38, the data section "starts" at 64 */
}
static void b_align_1(gb_buf *b) {
    uint64_t ne[] = {3};
    gb_header(b, 3, 2, 1);
    gb_kv_u32(b, "general.alignment", 1);
    gb_tensor_info(b, "h", 1, ne, NB_TYPE_F16, 0);
    gb_tensor_info(b, "b", 1, ne, NB_TYPE_I8, 6); /* odd sizes, packed */
    gb_fill(b, 9, 1);
}

typedef struct bad_case {
    const char *name;
    void (*build)(gb_buf *b);
    nb_status status;
    const char *msg[4]; /* substrings the message must hold (NULL-terminated) */
} bad_case;

#define F NB_ERR_FORMAT
#define U NB_ERR_UNSUPPORTED
static const bad_case cases[] = {
    {"bad_magic", b_bad_magic, F, {"magic", "0x4c4d4747", NULL}},
    {"short_magic", b_short_magic, F, {"magic", "3 bytes", NULL}},
    {"version_0", b_version_0, U, {"version 0", NULL}},
    {"version_1", b_version_1, U, {"version 1", NULL}},
    {"version_4", b_version_4, U, {"version 4", NULL}},
    {"big_endian", b_big_endian, U, {"big-endian", "0x03000000", NULL}},
    {"header_truncated", b_header_truncated, F, {"truncated", "n_tensors", NULL}},
    {"n_tensors_huge", b_n_tensors_huge, F, {"n_tensors 1000", "could hold", NULL}},
    {"n_tensors_max", b_n_tensors_max, F, {"n_tensors 18446744073709551615", NULL}},
    {"n_tensors_plus_kv", b_n_tensors_plus_kv, F, {"n_tensors 2", "n_kv 2", NULL}},
    {"n_kv_huge", b_n_kv_huge, F, {"n_kv 1000", "could hold", NULL}},
    {"n_kv_max", b_n_kv_max, F, {"n_kv 18446744073709551615", NULL}},
    {"n_kv_limit", b_n_kv_limit, F, {"n_kv 16777217", NULL}},
    {"key_len_past_end", b_key_len_past_end, F, {"key", "length 100", "past the end", NULL}},
    {"str_value_past_end", b_str_value_past_end, F, {"string value", "length 1000", NULL}},
    {"key_over_1gib", b_key_over_1gib, F, {"key", "1073741825", "1 GiB", NULL}},
    {"str_value_over_1gib", b_str_value_over_1gib, F, {"18446744073709551615", "1 GiB", NULL}},
    {"tensor_name_past_end", b_tensor_name_past_end, F, {"tensor name", "length 500", NULL}},
    {"nested_too_deep", b_nested_too_deep, F, {"deep.arr", "nested deeper than 4", NULL}},
    {"nested_way_too_deep", b_nested_way_too_deep, F, {"deep.arr", "nested", NULL}},
    {"arr_count_overflow", b_arr_count_overflow, F,
     {"big.arr", "4611686018427387904", "overflows", NULL}},
    {"arr_count_past_end", b_arr_count_past_end, F, {"u32.arr", "1000 u32", NULL}},
    {"str_arr_count", b_str_arr_count, F, {"str.arr", "count 1000", "could hold", NULL}},
    {"str_arr_count_huge", b_str_arr_count_huge, F, {"str.arr", "18446744073709551615", NULL}},
    {"arr_arr_count", b_arr_arr_count, F, {"arr.arr", "count 1000", NULL}},
    {"str_arr_elem_past_end", b_str_arr_elem_past_end, F, {"length 100", "past the end", NULL}},
    {"unknown_value_type", b_unknown_value_type, F, {"odd.key", "unknown value type 13", NULL}},
    {"unknown_value_type_max", b_unknown_value_type_max, F, {"odd.key", "4294967295", NULL}},
    {"unknown_arr_elem", b_unknown_arr_elem, F, {"odd.arr", "element type 13", NULL}},
    {"unknown_nested_elem", b_unknown_nested_elem, F, {"odd.arr", "element type 99", NULL}},
    {"value_truncated", b_value_truncated, F, {"truncated", "8 bytes", NULL}},
    {"empty_key", b_empty_key, F, {"empty key", "kv 0", NULL}},
    {"duplicate_key", b_duplicate_key, F, {"duplicate key", "'a.b'", "kv 2", NULL}},
    {"duplicate_key_types", b_duplicate_key_types, F, {"duplicate key", "general.name", NULL}},
    {"duplicate_tensor", b_duplicate_tensor, F, {"duplicate tensor name", "blk.0.w", NULL}},
    {"empty_tensor_name", b_empty_tensor_name, F, {"tensor 0", "empty name", NULL}},
    {"n_dims_0", b_n_dims_0, F, {"'w0'", "n_dims 0", NULL}},
    {"n_dims_5", b_n_dims_5, F, {"'w5'", "n_dims 5", NULL}},
    {"n_dims_huge", b_n_dims_huge, F, {"'wh'", "n_dims 4294967295", NULL}},
    {"dim_zero", b_dim_zero, F, {"'wz'", "dimension 1 is 0", NULL}},
    {"dim_negative", b_dim_negative, F, {"'wneg'", "dimension 0", "-9223372036854775808", NULL}},
    {"dim_minus_one", b_dim_minus_one, F, {"'wm1'", "dimension 2 is -1", NULL}},
    {"nelem_overflow", b_nelem_overflow, F, {"'wover'", "element count overflows", NULL}},
    {"nelem_over_int64", b_nelem_over_int64, F, {"'wover'", "element count", "dimension 2", NULL}},
    {"nbytes_overflow", b_nbytes_overflow, F, {"'wbytes'", "byte size overflows", NULL}},
    {"nbytes_overflow_f64", b_nbytes_overflow_f64, F, {"'wf64'", "byte size overflows", NULL}},
    {"type_4", b_type_4, F, {"'wt'", "unknown type id 4", NULL}},
    {"type_1000", b_type_1000, F, {"'wt'", "unknown type id 1000", NULL}},
    {"type_count", b_type_count, F, {"'wt'", "unknown type id 40", NULL}},
    {"row_not_multiple", b_row_not_multiple, F, {"'wq4'", "row length 48", "Q4_0", NULL}},
    {"row_not_multiple_k", b_row_not_multiple_k, F, {"'wq4k'", "row length 128", "Q4_K", NULL}},
    {"offset_misaligned", b_offset_misaligned, F, {"'wmis'", "offset 4", "alignment 32", NULL}},
    {"offset_misaligned_custom", b_offset_misaligned_custom, F,
     {"'wmis'", "offset 32", "alignment 64", NULL}},
    {"offset_past_end", b_offset_past_end, F, {"'wpast'", "1024", "past the end", NULL}},
    {"offset_size_past_end", b_offset_size_past_end, F,
     {"'wshort'", "[0, +64)", "(32 bytes)", NULL}},
    {"offset_wraps", b_offset_wraps, F, {"'wwrap'", "18446744073709551584", "past the end", NULL}},
    {"overlap", b_overlap, F, {"'t.a'", "overlaps", "'t.b'", NULL}},
    {"overlap_same_offset", b_overlap_same_offset, F, {"overlaps", "t.x", "t.y", NULL}},
    {"align_u64", b_align_u64, F, {"general.alignment", "type u64", NULL}},
    {"align_string", b_align_str, F, {"general.alignment", "type string", NULL}},
    {"align_i32", b_align_i32, F, {"general.alignment", "type i32", NULL}},
    {"align_zero", b_align_0, F, {"general.alignment 0", "power of two", NULL}},
    {"align_48", b_align_48, F, {"general.alignment 48", "power of two", NULL}},
    {"data_start_beyond", b_data_start_beyond, F, {"data section starts at 64", "57 bytes", NULL}},
    {"data_start_beyond_align", b_data_start_beyond_align, F,
     {"data section starts at 1048576", NULL}},
    /* well-formed: must parse, and gb_walk must find everything in order */
    {"ok_valid", b_valid, NB_OK, {NULL}},
    {"ok_nested_max_depth", b_nested_max_depth, NB_OK, {NULL}},
    {"ok_version_2", b_version_2, NB_OK, {NULL}},
    {"ok_empty", b_empty, NB_OK, {NULL}},
    {"ok_no_tensors_no_padding", b_no_tensors_no_padding, NB_OK, {NULL}},
    {"ok_key_and_tensor_same_name", b_key_and_tensor_same_name, NB_OK, {NULL}},
    {"ok_align_1", b_align_1, NB_OK, {NULL}},
};
#undef F
#undef U
#define N_CASES (sizeof cases / sizeof cases[0])

/* --------------------------------------------------------- case runner */

/* Parse through malloc, a counting allocator and an arena: all three must
 * agree on status and message, leak nothing, and a success must walk. */
static void check_case(const bad_case *c) {
    gb_buf b;
    gb_init(&b);
    c->build(&b);
    uint8_t *data = exact_copy(b.p, b.len);
    size_t size = b.len;
    gb_release(&b);

    nb_gguf g;
    nb_err err = {NB_OK, "untouched"};
    nb_status s = nb_gguf_parse(data, size, &g, &err);
    CHECK_MSG(s == c->status, "%s: status %s, expected %s (%s)", c->name, nb_status_str(s),
              nb_status_str(c->status), s ? err.msg : "ok");
    if (s != NB_OK) {
        CHECK_MSG(err.status == s, "%s: err.status %d != %d", c->name, err.status, s);
        CHECK_MSG(has_all(err.msg, c->msg), "%s: message '%s' lacks an expected word", c->name,
                  err.msg);
        CHECK_MSG(g.kv == NULL && g.tensors == NULL && g.hash == NULL,
                  "%s: failed parse left an index behind", c->name);
    } else {
        char why[256];
        CHECK_MSG(gb_walk(&g, why, sizeof why) == 0, "%s: walk: %s", c->name, why);
    }
    nb_gguf_free(&g);
    nb_gguf_free(&g); /* idempotent */

    /* counting allocator: every block handed out comes back */
    counting cnt = {0, 0};
    nb_allocator ca = {count_alloc, count_free, &cnt};
    nb_err err2;
    nb_status s2 = nb_gguf_parse_ex(data, size, &ca, &g, &err2);
    CHECK_MSG(s2 == s, "%s: counting allocator gave %s", c->name, nb_status_str(s2));
    CHECK_MSG(s2 != NB_OK ? cnt.live == 0 : cnt.live == 1, "%s: %ld blocks live after parse",
              c->name, cnt.live);
    nb_gguf_free(&g);
    CHECK_MSG(cnt.live == 0, "%s: %ld blocks leaked", c->name, cnt.live);
    if (s2 && s) CHECK_MSG(strcmp(err.msg, err2.msg) == 0, "%s: messages differ", c->name);

    /* arena sized by nb_gguf_index_size: same verdict (0 = header unreadable) */
    size_t need = nb_gguf_index_size(data, size);
    if (need) {
        void *mem = malloc(need);
        nb_arena arena;
        nb_arena_init(&arena, mem, need);
        nb_allocator aa = nb_arena_allocator(&arena);
        nb_status s3 = nb_gguf_parse_ex(data, size, &aa, &g, &err2);
        CHECK_MSG(s3 == s, "%s: arena parse gave %s (%s)", c->name, nb_status_str(s3),
                  s3 ? err2.msg : "ok");
        if (s3 && s) CHECK_MSG(strcmp(err.msg, err2.msg) == 0, "%s: arena message differs",
                               c->name);
        nb_gguf_free(&g);
        free(mem);
    } else {
        CHECK_MSG(s != NB_OK, "%s: index size 0 for a file that parses", c->name);
    }
    free(data);
}

static const bad_case *cur_case;
static void run_cur_case(void) {
    check_case(cur_case);
}

/* --------------------------------------------------------- other tests */

static void parse_bytes(const gb_buf *b, size_t size, nb_gguf *g, nb_status *s, nb_err *err) {
    uint8_t *data = exact_copy(b->p, size);
    *s = nb_gguf_parse(data, size, g, err);
    if (*s == NB_OK) {
        char why[256];
        CHECK_MSG(gb_walk(g, why, sizeof why) == 0, "walk: %s", why);
    }
    nb_gguf_free(g);
    free(data);
}

/* Every proper prefix of the valid file is malformed, says so, and neither
 * crashes nor reads past its end; the whole file parses. */
static void t_truncate_every_byte(void) {
    gb_buf b;
    gb_init(&b);
    gb_build_valid(&b, NULL);
    static const char *const words[] = {"truncated", "past the end", "could hold", "too small",
                                        "file has"};
    for (size_t n = 0; n < b.len; n++) {
        nb_gguf g;
        nb_err err = {NB_OK, ""};
        nb_status s;
        parse_bytes(&b, n, &g, &s, &err);
        int named = 0;
        for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
            named |= strstr(err.msg, words[w]) != NULL;
        CHECK_MSG(s == NB_ERR_FORMAT && named, "prefix %zu of %zu: %s '%s'", n, b.len,
                  nb_status_str(s), err.msg);
        if (nb_test_failed()) break;
    }
    nb_gguf g;
    nb_err err;
    nb_status s;
    parse_bytes(&b, b.len, &g, &s, &err);
    CHECK_MSG(s == NB_OK, "whole file: %s", err.msg);
    gb_release(&b);
}

/* Deterministic mutation sweep: each byte of the valid file set to a few
 * hostile values. No crash; errors have messages; successes walk. */
static void t_mutate_every_byte(void) {
    gb_buf b;
    gb_init(&b);
    gb_build_valid(&b, NULL);
    uint8_t *data = exact_copy(b.p, b.len);
    long n_ok = 0, n_bad = 0;
    for (size_t i = 0; i < b.len && !nb_test_failed(); i++) {
        const uint8_t vals[] = {0x00, 0xff, (uint8_t)(b.p[i] ^ 0x01), (uint8_t)(b.p[i] ^ 0x80),
                                (uint8_t)(b.p[i] + 0x10)};
        for (size_t k = 0; k < sizeof vals; k++) {
            memcpy(data, b.p, b.len);
            data[i] = vals[k];
            nb_gguf g;
            nb_err err = {NB_OK, ""};
            nb_status s = nb_gguf_parse(data, b.len, &g, &err);
            if (s == NB_OK) {
                char why[256];
                n_ok++;
                CHECK_MSG(gb_walk(&g, why, sizeof why) == 0, "byte %zu = 0x%02x: walk: %s", i,
                          vals[k], why);
            } else {
                n_bad++;
                CHECK_MSG((s == NB_ERR_FORMAT || s == NB_ERR_UNSUPPORTED) && err.msg[0],
                          "byte %zu = 0x%02x: %s '%s'", i, vals[k], nb_status_str(s), err.msg);
            }
            nb_gguf_free(&g);
        }
    }
    CHECK(n_ok > 0 && n_bad > 0);
    free(data);
    gb_release(&b);
}

static void t_null_and_empty(void) {
    nb_gguf g;
    nb_err err = {NB_OK, ""};
    CHECK(nb_gguf_parse(NULL, 100, &g, &err) == NB_ERR_INVALID_ARG);
    CHECK_MSG(strstr(err.msg, "NULL") && strstr(err.msg, "100"), "%s", err.msg);
    CHECK(g.kv == NULL);
    CHECK(nb_gguf_parse(NULL, 0, &g, &err) == NB_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "magic") && strstr(err.msg, "0 bytes"), "%s", err.msg);
    static const uint8_t one = 'G';
    CHECK(nb_gguf_parse(&one, 0, &g, &err) == NB_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "0 bytes"), "%s", err.msg);
    CHECK(nb_gguf_parse(&one, 1, NULL, &err) == NB_ERR_INVALID_ARG);
    CHECK_MSG(strstr(err.msg, "NULL"), "%s", err.msg);
    /* err may be NULL */
    CHECK(nb_gguf_parse(&one, 1, &g, NULL) == NB_ERR_FORMAT);
    nb_gguf_free(&g);
    nb_gguf_free(NULL);
    CHECK(nb_gguf_index_size(NULL, 0) == 0);
    CHECK(nb_gguf_index_size(NULL, 100) == 0);
    CHECK(nb_gguf_index_size(&one, 1) == 0);
    /* lookups on a failed parse find nothing */
    CHECK(nb_gguf_find_key(&g, "x") == NULL && nb_gguf_find_tensor(&g, "x") == NULL);
}

static void t_alloc_fails(void) {
    gb_buf b;
    gb_init(&b);
    gb_build_valid(&b, NULL);
    nb_allocator fa = {fail_alloc, fail_free, NULL};
    nb_gguf g;
    nb_err err;
    CHECK(nb_gguf_parse_ex(b.p, b.len, &fa, &g, &err) == NB_ERR_NOMEM);
    CHECK_MSG(strstr(err.msg, "allocate") && strstr(err.msg, "19 kv") &&
                  strstr(err.msg, "4 tensors"),
              "%s", err.msg);
    CHECK(g.kv == NULL);
    nb_gguf_free(&g);
    /* even an empty file needs its (hash) index */
    gb_reset(&b);
    b_empty(&b);
    CHECK(nb_gguf_parse_ex(b.p, b.len, &fa, &g, &err) == NB_ERR_NOMEM);
    /* header errors win over allocation: nothing is allocated for them */
    gb_reset(&b);
    b_version_4(&b);
    CHECK(nb_gguf_parse_ex(b.p, b.len, &fa, &g, &err) == NB_ERR_UNSUPPORTED);
    gb_release(&b);
}

/* The arena only needs nb_gguf_index_size() bytes, whatever the alignment
 * of its memory; 16 of those are alignment slack, so a 16-aligned arena of
 * size - 16 works and one byte less fails. */
static void t_arena_sizes(void) {
    gb_buf b;
    gb_init(&b);
    gb_build_valid(&b, NULL);
    size_t need = nb_gguf_index_size(b.p, b.len);
    CHECK(need > 16);
    uint8_t *mem = malloc(need + 64);
    uint8_t *aligned = (uint8_t *)(((uintptr_t)mem + 15) & ~(uintptr_t)15);
    nb_gguf g;
    nb_err err;
    for (int mis = 0; mis < 16; mis++) {
        nb_arena a;
        nb_arena_init(&a, aligned + mis, need);
        nb_allocator al = nb_arena_allocator(&a);
        nb_status s = nb_gguf_parse_ex(b.p, b.len, &al, &g, &err);
        CHECK_MSG(s == NB_OK, "misalignment %d: %s", mis, err.msg);
        if (s == NB_OK) {
            CHECK(a.used <= need);
            CHECK(nb_gguf_find_tensor(&g, "norm") != NULL);
            char why[256];
            CHECK_MSG(gb_walk(&g, why, sizeof why) == 0, "%s", why);
        }
        nb_gguf_free(&g); /* arena: no free, must not crash */
    }
    nb_arena a;
    nb_arena_init(&a, aligned, need - 16);
    nb_allocator al = nb_arena_allocator(&a);
    CHECK(nb_gguf_parse_ex(b.p, b.len, &al, &g, &err) == NB_OK);
    CHECK(a.used == need - 16);
    nb_gguf_free(&g);
    nb_arena_init(&a, aligned, need - 17);
    al = nb_arena_allocator(&a);
    CHECK(nb_gguf_parse_ex(b.p, b.len, &al, &g, &err) == NB_ERR_NOMEM);
    CHECK_MSG(strstr(err.msg, "allocate"), "%s", err.msg);
    CHECK(g.kv == NULL);
    nb_arena_init(&a, aligned, 64);
    al = nb_arena_allocator(&a);
    CHECK(nb_gguf_parse_ex(b.p, b.len, &al, &g, &err) == NB_ERR_NOMEM);
    /* empty arena (real memory: nb_arena_alloc on a NULL base computes
     * NULL + 0, which clang's UBSan reports; see the report) */
    nb_arena_init(&a, aligned, 0);
    al = nb_arena_allocator(&a);
    CHECK(nb_gguf_parse_ex(b.p, b.len, &al, &g, &err) == NB_ERR_NOMEM);
    free(mem);
    gb_release(&b);
}

/* A header claiming the maximum entry counts must not make index_size
 * promise a gigantic allocation: it reads 0 (header rejected). */
static void t_index_size_limits(void) {
    gb_buf b;
    gb_init(&b);
    gb_header(&b, 3, NB_GGUF_MAX_ENTRIES + 1, 0);
    gb_zeros(&b, 64);
    CHECK(nb_gguf_index_size(b.p, b.len) == 0);
    gb_reset(&b);
    gb_header(&b, 3, 0, 1);
    gb_kv_u8(&b, "k", 1);
    gb_zeros(&b, 8);
    size_t one = nb_gguf_index_size(b.p, b.len);
    CHECK(one > sizeof(nb_gguf_kv) && one < 4096);
    gb_release(&b);
}

static nb_gguf valid_g;
static gb_buf valid_b;
static gb_valid_info valid_in;

static int load_valid(void) {
    gb_init(&valid_b);
    gb_build_valid(&valid_b, &valid_in);
    nb_err err;
    nb_status s = nb_gguf_parse(valid_b.p, valid_b.len, &valid_g, &err);
    CHECK_MSG(s == NB_OK, "valid file: %s", err.msg);
    return s == NB_OK;
}

static void unload_valid(void) {
    nb_gguf_free(&valid_g);
    gb_release(&valid_b);
}

static void t_valid_contents(void) {
    if (!load_valid()) return;
    const nb_gguf *g = &valid_g;
    CHECK(g->version == 3 && g->alignment == GB_VALID_ALIGNMENT);
    CHECK(g->n_kv == GB_VALID_N_KV && g->n_tensors == GB_VALID_N_TENSORS);
    CHECK(g->data_offset == valid_in.data_offset && g->data_offset % 64 == 0);
    CHECK(g->data_offset + 256 + 102 == valid_b.len);
    for (int i = 0; i < GB_VALID_N_TENSORS; i++) {
        const nb_gguf_tensor *t = nb_gguf_find_tensor(g, valid_in.tname[i]);
        CHECK_MSG(t == &g->tensors[i], "tensor %s", valid_in.tname[i]);
        if (!t) continue;
        CHECK(t->type == valid_in.ttype[i] && t->offset == valid_in.toffset[i]);
        CHECK(t->nbytes == valid_in.tnbytes[i]);
        CHECK((const uint8_t *)t->data == valid_b.p + valid_in.data_offset + t->offset);
    }
    const nb_gguf_tensor *t = nb_gguf_find_tensor(g, "tok_embd");
    if (t) {
        CHECK(t->n_dims == 2 && t->ne[0] == 8 && t->ne[1] == 2 && t->ne[2] == 1 && t->ne[3] == 1);
        CHECK(nb_tensor_nelements(t) == 16);
        float f;
        memcpy(&f, (const uint8_t *)t->data + 4 * 5, 4);
        CHECK(f == 1.25f);
    }
    t = nb_gguf_find_tensor(g, "norm");
    if (t) {
        uint16_t h;
        memcpy(&h, (const uint8_t *)t->data + 2 * 3, 2);
        CHECK(nb_fp16_to_f32(h) == -5.0f);
    }
    CHECK(nb_gguf_find_tensor(g, "tok_emb") == NULL && nb_gguf_find_tensor(g, "") == NULL);
    CHECK(nb_gguf_find_key(g, "tok_embd") == NULL); /* names are not keys */
    CHECK(nb_gguf_find_key_index(g, "general.alignment") == 1);
    CHECK(nb_gguf_find_tensor_index(g, "norm") == 3);
    char why[256];
    CHECK_MSG(gb_walk(g, why, sizeof why) == 0, "%s", why);
    unload_valid();
}

static void t_getters(void) {
    if (!load_valid()) return;
    const nb_gguf *g = &valid_g;
    nb_err err;
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    int64_t i64;
    float f32;
    double f64;
    int bl;
    nb_str str;
    CHECK_OK(nb_gguf_get_u32(g, "general.alignment", &u32, &err), err);
    CHECK(u32 == 64);
    CHECK_OK(nb_gguf_get_u32(g, "test.u8", &u32, &err), err);
    CHECK(u32 == 200);
    CHECK_OK(nb_gguf_get_i32(g, "test.i8", &i32, &err), err);
    CHECK(i32 == -5);
    CHECK_OK(nb_gguf_get_i64(g, "test.i16", &i64, &err), err);
    CHECK(i64 == -30000);
    CHECK_OK(nb_gguf_get_u64(g, "test.u16", &u64, &err), err);
    CHECK(u64 == 65000);
    CHECK_OK(nb_gguf_get_u32(g, "test.u32", &u32, &err), err);
    CHECK(u32 == 4000000000u);
    CHECK_OK(nb_gguf_get_i64(g, "test.u32", &i64, &err), err);
    CHECK(i64 == 4000000000);
    CHECK_OK(nb_gguf_get_u64(g, "test.u64", &u64, &err), err);
    CHECK(u64 == 1ull << 40);
    CHECK_OK(nb_gguf_get_u64(g, "test.u64_big", &u64, &err), err);
    CHECK(u64 == (1ull << 63) + 5);
    CHECK_OK(nb_gguf_get_i64(g, "test.i64", &i64, &err), err);
    CHECK(i64 == -(INT64_C(1) << 40));
    CHECK_OK(nb_gguf_get_f32(g, "test.f32", &f32, &err), err);
    CHECK(f32 == 1.5f);
    CHECK_OK(nb_gguf_get_f64(g, "test.f64", &f64, &err), err);
    CHECK(f64 == -2.25);
    CHECK_OK(nb_gguf_get_f64(g, "test.f32", &f64, &err), err);
    CHECK(f64 == 1.5);
    CHECK_OK(nb_gguf_get_bool(g, "test.bool", &bl, &err), err);
    CHECK(bl == 1);
    CHECK_OK(nb_gguf_get_str(g, "general.architecture", &str, &err), err);
    CHECK(nb_str_eq(str, "nibble"));
    const nb_gguf_kv *kv = NULL;
    CHECK_OK(nb_gguf_get_arr(g, "test.f32_arr", NB_GGUF_F32, &kv, &err), err);
    if (kv) {
        CHECK(kv->arr_n == 3);
        CHECK_OK(nb_gguf_arr_f64(kv, 1, &f64, &err), err);
        CHECK(f64 == -1.0);
    }
    unload_valid();
}

/* status s, and a message holding both words */
#define CHECK_ERR(expr, want, w1, w2)                                                        \
    do {                                                                                     \
        err.msg[0] = 0;                                                                      \
        nb_status s_ = (expr);                                                               \
        CHECK_MSG(s_ == (want) && strstr(err.msg, w1) && strstr(err.msg, w2),                \
                  "%s -> %s '%s'", #expr, nb_status_str(s_), err.msg);                       \
    } while (0)

static void t_getter_errors(void) {
    if (!load_valid()) return;
    const nb_gguf *g = &valid_g;
    nb_err err;
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    int64_t i64;
    float f32;
    double f64;
    int bl;
    nb_str str;
    const nb_gguf_kv *kv;
    /* absent */
    CHECK_ERR(nb_gguf_get_u32(g, "no.such.key", &u32, &err), NB_ERR_NOT_FOUND, "no.such.key",
              "not found");
    CHECK_ERR(nb_gguf_get_str(g, "general.arch", &str, &err), NB_ERR_NOT_FOUND, "general.arch",
              "not found");
    CHECK_ERR(nb_gguf_get_arr(g, "tok_embd", NB_GGUF_TYPE_COUNT, &kv, &err), NB_ERR_NOT_FOUND,
              "tok_embd", "not found");
    /* wrong type */
    CHECK_ERR(nb_gguf_get_u32(g, "general.architecture", &u32, &err), NB_ERR_TYPE,
              "general.architecture", "string");
    CHECK_ERR(nb_gguf_get_i64(g, "test.f32", &i64, &err), NB_ERR_TYPE, "test.f32", "f32");
    CHECK_ERR(nb_gguf_get_f32(g, "test.u32", &f32, &err), NB_ERR_TYPE, "test.u32", "u32");
    CHECK_ERR(nb_gguf_get_bool(g, "test.u8", &bl, &err), NB_ERR_TYPE, "test.u8", "bool");
    CHECK_ERR(nb_gguf_get_str(g, "tokenizer.tokens", &str, &err), NB_ERR_TYPE,
              "tokenizer.tokens", "array");
    CHECK_ERR(nb_gguf_get_arr(g, "test.bool", NB_GGUF_TYPE_COUNT, &kv, &err), NB_ERR_TYPE,
              "test.bool", "array");
    CHECK_ERR(nb_gguf_get_arr(g, "tokenizer.tokens", NB_GGUF_U32, &kv, &err), NB_ERR_TYPE,
              "tokenizer.tokens", "array of string");
    CHECK_ERR(nb_gguf_get_u64(g, "test.nested", &u64, &err), NB_ERR_TYPE, "test.nested",
              "array");
    /* out of range */
    CHECK_ERR(nb_gguf_get_u32(g, "test.u64", &u32, &err), NB_ERR_RANGE, "test.u64",
              "1099511627776");
    CHECK_ERR(nb_gguf_get_i32(g, "test.u32", &i32, &err), NB_ERR_RANGE, "test.u32",
              "4000000000");
    CHECK_ERR(nb_gguf_get_i32(g, "test.i64", &i32, &err), NB_ERR_RANGE, "test.i64",
              "-1099511627776");
    CHECK_ERR(nb_gguf_get_u64(g, "test.i8", &u64, &err), NB_ERR_RANGE, "test.i8", "-5");
    CHECK_ERR(nb_gguf_get_u32(g, "test.i32", &u32, &err), NB_ERR_RANGE, "test.i32", "negative");
    CHECK_ERR(nb_gguf_get_i64(g, "test.u64_big", &i64, &err), NB_ERR_RANGE, "test.u64_big",
              "9223372036854775813");
    /* array elements */
    kv = nb_gguf_find_key(g, "test.f32_arr");
    if (kv) {
        CHECK_ERR(nb_gguf_arr_f64(kv, 3, &f64, &err), NB_ERR_RANGE, "test.f32_arr", "index 3");
        CHECK_ERR(nb_gguf_arr_i64(kv, 0, &i64, &err), NB_ERR_TYPE, "test.f32_arr", "f32");
        CHECK_ERR(nb_gguf_kv_i64(kv, &i64, &err), NB_ERR_TYPE, "test.f32_arr", "array");
    }
    kv = nb_gguf_find_key(g, "tokenizer.tokens");
    if (kv) {
        CHECK_ERR(nb_gguf_arr_i64(kv, 0, &i64, &err), NB_ERR_TYPE, "tokenizer.tokens",
                  "not an array of numbers");
        CHECK_ERR(nb_gguf_kv_f64(kv, &f64, &err), NB_ERR_TYPE, "tokenizer.tokens", "number");
    }
    kv = nb_gguf_find_key(g, "general.architecture");
    if (kv) CHECK_ERR(nb_gguf_arr_f64(kv, 0, &f64, &err), NB_ERR_TYPE, "general.architecture",
                      "array");
    unload_valid();
}

static void t_arr_next_str(void) {
    if (!load_valid()) return;
    const nb_gguf_kv *kv = nb_gguf_find_key(&valid_g, "tokenizer.tokens");
    CHECK(kv && kv->type == NB_GGUF_ARRAY && kv->arr_type == NB_GGUF_STRING && kv->arr_n == 4);
    if (kv) {
        static const char *const want[] = {"<s>", "hello", "", "w\xc3\xb6rld"};
        uint64_t cur = 0;
        nb_str s;
        for (int i = 0; i < 4; i++) {
            CHECK(nb_gguf_arr_next_str(kv, &cur, &s) == NB_OK);
            CHECK_MSG(nb_str_eq(s, want[i]), "token %d: '%.*s'", i, (int)s.len, s.ptr);
        }
        CHECK(cur == kv->val_size);
        CHECK(nb_gguf_arr_next_str(kv, &cur, &s) == NB_ERR_NOT_FOUND);
        CHECK(nb_gguf_arr_next_str(kv, &cur, &s) == NB_ERR_NOT_FOUND); /* stays at the end */
        nb_gguf_kv sub;
        cur = 0;
        CHECK(nb_gguf_arr_next_arr(kv, &cur, &sub) == NB_ERR_TYPE);
    }
    const nb_gguf_kv *f = nb_gguf_find_key(&valid_g, "test.f32_arr");
    if (f) {
        uint64_t cur = 0;
        nb_str s;
        CHECK(nb_gguf_arr_next_str(f, &cur, &s) == NB_ERR_TYPE);
    }
    unload_valid();
}

static void t_arr_next_arr(void) {
    if (!load_valid()) return;
    nb_err err;
    nb_gguf_kv sub, sub2;
    uint64_t cur, cur2;
    int64_t v;
    /* [[u32]] {{1,2,3}, {}, {42}} */
    const nb_gguf_kv *kv = nb_gguf_find_key(&valid_g, "test.nested");
    CHECK(kv && kv->arr_type == NB_GGUF_ARRAY && kv->arr_n == 3);
    if (kv) {
        static const int n_want[] = {3, 0, 1};
        static const int64_t first[] = {1, 0, 42};
        cur = 0;
        for (int i = 0; i < 3; i++) {
            CHECK(nb_gguf_arr_next_arr(kv, &cur, &sub) == NB_OK);
            CHECK(sub.type == NB_GGUF_ARRAY && sub.arr_type == NB_GGUF_U32);
            CHECK_MSG(sub.arr_n == (uint64_t)n_want[i], "inner %d has %llu", i,
                      (unsigned long long)sub.arr_n);
            if (n_want[i]) {
                CHECK_OK(nb_gguf_arr_i64(&sub, 0, &v, &err), err);
                CHECK(v == first[i]);
            }
            if (i == 0) {
                CHECK_OK(nb_gguf_arr_i64(&sub, 2, &v, &err), err);
                CHECK(v == 3);
            }
        }
        CHECK(cur == kv->val_size);
        CHECK(nb_gguf_arr_next_arr(kv, &cur, &sub) == NB_ERR_NOT_FOUND);
    }
    /* [[string]] {{"a","bc"}, {"def"}} */
    kv = nb_gguf_find_key(&valid_g, "test.nested_str");
    if (kv) {
        static const char *const want[] = {"a", "bc", "def"};
        int k = 0;
        cur = 0;
        while (nb_gguf_arr_next_arr(kv, &cur, &sub) == NB_OK) {
            CHECK(sub.arr_type == NB_GGUF_STRING);
            nb_str s;
            cur2 = 0;
            while (nb_gguf_arr_next_str(&sub, &cur2, &s) == NB_OK) {
                CHECK_MSG(k < 3 && nb_str_eq(s, want[k]), "string %d", k);
                k++;
            }
        }
        CHECK(k == 3);
    } else {
        CHECK(kv != NULL);
    }
    /* [[[i16]]] {{{-1,2}}, {{3},{}}} */
    kv = nb_gguf_find_key(&valid_g, "test.deep");
    if (kv) {
        int64_t got[8];
        int n = 0, inner = 0;
        cur = 0;
        while (nb_gguf_arr_next_arr(kv, &cur, &sub) == NB_OK) {
            CHECK(sub.arr_type == NB_GGUF_ARRAY);
            cur2 = 0;
            while (nb_gguf_arr_next_arr(&sub, &cur2, &sub2) == NB_OK) {
                CHECK(sub2.arr_type == NB_GGUF_I16);
                inner++;
                for (uint64_t i = 0; i < sub2.arr_n && n < 8; i++)
                    if (nb_gguf_arr_i64(&sub2, i, &got[n], &err) == NB_OK) n++;
            }
            CHECK(cur2 == sub.val_size);
        }
        CHECK(inner == 3);
        CHECK(n == 3 && got[0] == -1 && got[1] == 2 && got[2] == 3);
    } else {
        CHECK(kv != NULL);
    }
    unload_valid();
}

/* Arrays at the allowed depth are readable all the way down. */
static void t_max_depth_walk(void) {
    gb_buf b;
    gb_init(&b);
    kv_header(&b, 1);
    nested(&b, "deep.arr", NB_GGUF_MAX_DEPTH);
    nb_gguf g;
    nb_err err;
    CHECK_OK(nb_gguf_parse(b.p, b.len, &g, &err), err);
    const nb_gguf_kv *kv = nb_gguf_find_key(&g, "deep.arr");
    nb_gguf_kv cur_kv, next;
    int levels = 1;
    if (kv) {
        cur_kv = *kv;
        uint64_t c = 0;
        while (cur_kv.arr_type == NB_GGUF_ARRAY && nb_gguf_arr_next_arr(&cur_kv, &c, &next) == 0) {
            cur_kv = next;
            c = 0;
            levels++;
        }
        int64_t v = 0;
        CHECK(cur_kv.arr_type == NB_GGUF_U8 && cur_kv.arr_n == 2);
        CHECK(nb_gguf_arr_i64(&cur_kv, 1, &v, &err) == NB_OK && v == 2);
    }
    CHECK_MSG(levels == NB_GGUF_MAX_DEPTH, "%d levels", levels);
    nb_gguf_free(&g);
    gb_release(&b);
}

/* ---------------------------------------------------------------- main */

static int write_corpus(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/EXPECTED.txt", dir);
    FILE *man = fopen(path, "w");
    if (!man) {
        fprintf(stderr, "cannot write %s\n", path);
        return 1;
    }
    fprintf(man, "# name  expected status  message substrings\n");
    int rc = 0;
    for (size_t i = 0; i < N_CASES; i++) {
        gb_buf b;
        gb_init(&b);
        cases[i].build(&b);
        snprintf(path, sizeof path, "%s/%s.gguf", dir, cases[i].name);
        if (nb_test_write_file(path, b.p, b.len) != 0) {
            fprintf(stderr, "cannot write %s\n", path);
            rc = 1;
        }
        fprintf(man, "%s\t%s", cases[i].name, nb_status_str(cases[i].status));
        for (const char *const *m = cases[i].msg; *m; m++) fprintf(man, "\t%s", *m);
        fprintf(man, "\n");
        gb_release(&b);
    }
    fclose(man);
    printf("wrote %zu files to %s\n", N_CASES, dir);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) return write_corpus(argv[2]);
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--write-corpus DIR]\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < N_CASES; i++) {
        cur_case = &cases[i];
        nb_test_run(cases[i].name, run_cur_case);
    }
    RUN(t_truncate_every_byte);
    RUN(t_mutate_every_byte);
    RUN(t_null_and_empty);
    RUN(t_alloc_fails);
    RUN(t_arena_sizes);
    RUN(t_index_size_limits);
    RUN(t_valid_contents);
    RUN(t_getters);
    RUN(t_getter_errors);
    RUN(t_arr_next_str);
    RUN(t_arr_next_arr);
    RUN(t_max_depth_walk);
    return nb_test_done();
}
