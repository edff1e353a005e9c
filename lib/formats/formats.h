/*
 * ggml block formats: each block is a C struct whose size is asserted; the
 * struct is the spec (docs/quants.md draws every one byte by byte).
 * All multi-byte fields are little-endian; `nb_half` is IEEE binary16 bits.
 * Blocks are read in place from GGUF data (aligned to >= 32 bytes in the
 * file, and every block size is even, so the 16-bit fields are aligned).
 *
 * Function naming, one set per type T (lower case, e.g. q4_K):
 *   nb_dequant_row_T(const void *x, float *y, int64_t n)      bit-exact with ggml
 *   nb_quantize_row_T(const float *x, void *y, int64_t n, const float *imatrix)
 *                                                 own error-minimizing quantizer
 *   nb_from_float_T(const float *x, void *y, int64_t n)       activation formats
 *                                                 (q8_0, q8_1, q8_K, f16, bf16):
 *                                                 bytes identical to ggml's
 *   nb_vec_dot_T(int64_t n, float *s, const void *x, const void *y)
 *                                                 x: weights of type T, y: the
 *                                                 partner type (see nb_type_info)
 * n is the number of values in the row: a multiple of the block size.
 */
#ifndef NB_FORMATS_H
#define NB_FORMATS_H

#include "../core/core.h"

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK4_NL 32
#define QK_K 256

typedef uint16_t nb_half;

/* Q4_0: x = d * (q - 8); value j in the low nibble of qs[j] for j < 16, in
 * the high nibble of qs[j - 16] for j >= 16. */
typedef struct { nb_half d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");

/* Q4_1: x = d * q + m, same nibble order as Q4_0. */
typedef struct { nb_half d; nb_half m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");

/* Q5_0: x = d * (q - 16); bit 4 of value j is bit j of qh (as a u32). */
typedef struct { nb_half d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");

/* Q5_1: x = d * q + m. */
typedef struct { nb_half d; nb_half m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");

/* Q8_0: x = d * q. */
typedef struct { nb_half d; int8_t qs[QK8_0]; } block_q8_0;
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");

/* Q8_1 (activations): x = d * q, s = d * sum(q), computed (as ggml does)
 * with the f32 d before d is rounded to fp16. */
typedef struct { nb_half d; nb_half s; int8_t qs[QK8_1]; } block_q8_1;
_Static_assert(sizeof(block_q8_1) == 36, "block_q8_1 size");

/* Q2_K: 16 sub-blocks of 16; scales[i] = (4-bit min << 4) | 4-bit scale;
 * x = d * sc * q - dmin * m, q 2 bits. */
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; nb_half d; nb_half dmin; } block_q2_K;
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");

/* Q3_K: 16 sub-blocks of 16, 6-bit signed scales packed in 12 bytes; q is
 * 2 low bits in qs + 1 high bit in hmask; x = d * (sc - 32) * (q - 4 if the
 * hmask bit is clear else q). */
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; nb_half d; } block_q3_K;
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");

/* Q4_K: 8 sub-blocks of 32, 6-bit scales and mins packed in 12 bytes;
 * x = d * sc * q - dmin * m. */
typedef struct { nb_half d; nb_half dmin; uint8_t scales[12]; uint8_t qs[QK_K / 2]; } block_q4_K;
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");

/* Q5_K: as Q4_K plus a fifth bit per value in qh. */
typedef struct { nb_half d; nb_half dmin; uint8_t scales[12]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_K;
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");

/* Q6_K: 16 sub-blocks of 16, int8 scales; q = 4 low bits (ql) + 2 high bits
 * (qh); x = d * sc * (q - 32). */
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; nb_half d; } block_q6_K;
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");

/* Q8_K (activations): x = d * q (d is f32); bsums = sums of 16 consecutive q. */
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K;
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");

/* IQ4_NL: nibble order as Q4_0; x = d * kvalues_iq4nl[q] (a non-linear grid). */
typedef struct { nb_half d; uint8_t qs[QK4_NL / 2]; } block_iq4_nl;
_Static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl size");

/* IQ4_XS: 8 sub-blocks of 32 with 6-bit scales (low 4 bits in scales_l,
 * high 2 bits in scales_h); x = d * (sc - 32) * kvalues_iq4nl[q]. */
typedef struct { nb_half d; uint16_t scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; } block_iq4_xs;
_Static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs size");

/* The IQ4_NL / IQ4_XS value grid. */
extern const int8_t nb_kvalues_iq4nl[16];

#define NB_FOR_EACH_WEIGHT_TYPE(X) \
    X(q4_0) X(q4_1) X(q5_0) X(q5_1) X(q8_0) X(q2_K) X(q3_K) X(q4_K) X(q5_K) X(q6_K) \
    X(iq4_nl) X(iq4_xs)

#define NB_DECLARE_DEQUANT(T) void nb_dequant_row_##T(const void *x, float *y, int64_t n);
#define NB_DECLARE_QUANT(T) \
    void nb_quantize_row_##T(const float *x, void *y, int64_t n, const float *imatrix);
#define NB_DECLARE_DOT(T) void nb_vec_dot_##T(int64_t n, float *s, const void *x, const void *y);
NB_FOR_EACH_WEIGHT_TYPE(NB_DECLARE_DEQUANT)
NB_FOR_EACH_WEIGHT_TYPE(NB_DECLARE_QUANT)
NB_FOR_EACH_WEIGHT_TYPE(NB_DECLARE_DOT)

/* plain and activation types */
void nb_dequant_row_f32(const void *x, float *y, int64_t n);
void nb_dequant_row_f16(const void *x, float *y, int64_t n);
void nb_dequant_row_bf16(const void *x, float *y, int64_t n);
void nb_dequant_row_q8_K(const void *x, float *y, int64_t n);
void nb_dequant_row_q8_1(const void *x, float *y, int64_t n);
void nb_quantize_row_f32(const float *x, void *y, int64_t n, const float *imatrix);
void nb_quantize_row_f16(const float *x, void *y, int64_t n, const float *imatrix);
void nb_quantize_row_bf16(const float *x, void *y, int64_t n, const float *imatrix);
void nb_from_float_f32(const float *x, void *y, int64_t n);
void nb_from_float_f16(const float *x, void *y, int64_t n);
void nb_from_float_bf16(const float *x, void *y, int64_t n);
void nb_from_float_q8_0(const float *x, void *y, int64_t n);
void nb_from_float_q8_1(const float *x, void *y, int64_t n);
void nb_from_float_q8_K(const float *x, void *y, int64_t n);
void nb_vec_dot_f32(int64_t n, float *s, const void *x, const void *y);
void nb_vec_dot_f16(int64_t n, float *s, const void *x, const void *y);
void nb_vec_dot_bf16(int64_t n, float *s, const void *x, const void *y);

#endif
