/*
 * Dot products, AVX-512 (F + BW + VL + DQ, with AVX2 + FMA + F16C)
 * versions (x86-64). See dot.c for the block layouts and the math; these
 * compute the same integer sums per block and differ only in the order of
 * the float operations.
 *
 * The Makefile compiles this file with the AVX-512 flags; built without
 * them the pragmas below turn them on for this file alone. The dispatcher
 * runs this code only on CPUs that have the features.
 *
 * 64 bytes per register: two 32-value blocks, or 64 values of a
 * super-block. _mm512_maddubs_epi16 (u8 x s8, pairs into int16) is exact as
 * in the AVX2 file; AVX-512 has no sign instruction, so signed x signed
 * products negate the activation bytes under the weights' sign mask.
 */
#include "dot.h"

#if NB_DOT_X86

#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VL__) || \
    !defined(__AVX512DQ__) || !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#if defined(__clang__)
#pragma clang attribute push(                                                                   \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"))),              \
    apply_to = function)
#define NB_DOT_POP_ATTRIBUTE 1
#elif defined(__GNUC__)
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")
#endif
#endif

#include <immintrin.h>

/* ---------------------------------------------------------------- helpers */

static inline float h2f(nb_half h) {
    return _cvtsh_ss(h);
}

static inline float hsum_ps256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* dx * dy in lane 0, converting each fp16 scale straight from memory (8
 * bytes are read at each: the scale and the 6 bytes after it, still inside
 * its block). */
static inline __m128 scale_xy(const nb_half *dx, const nb_half *dy) {
    __m128 a = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)dx));
    __m128 b = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)dy));
    return _mm_mul_ss(a, b);
}

/* The scales of two blocks: lanes 0..7 get dxa*dya, lanes 8..15 dxb*dyb. */
static inline __m512 two_scales(const nb_half *dxa, const nb_half *dya, const nb_half *dxb,
                                const nb_half *dyb) {
    return _mm512_mask_broadcastss_ps(_mm512_broadcastss_ps(scale_xy(dxa, dya)), 0xFF00,
                                      scale_xy(dxb, dyb));
}

/* Two int16: lanes 0..15 get a, lanes 16..31 get b. */
static inline __m512i two_epi16(int a, int b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16((short)a)),
                              _mm256_set1_epi16((short)b), 1);
}

/* Two 32-byte loads into one register. */
static inline __m512i load_2x32(const void *a, const void *b) {
    return _mm512_mask_broadcast_i64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                                       0xF0, _mm256_loadu_si256((const __m256i *)b));
}

/* Packed nibbles of two blocks (16 bytes each) -> 64 bytes: a's low
 * nibbles, a's high nibbles, b's low nibbles, b's high nibbles. */
static inline __m512i nibbles_2blocks(const uint8_t *qa, const uint8_t *qb) {
    /* [qa, qa, qb, qb] by broadcasts (no shuffles), then lanes 1 and 3 >> 4 */
    __m512i t = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)qa));
    t = _mm512_mask_broadcast_i32x4(t, 0xFF00, _mm_loadu_si128((const __m128i *)qb));
    t = _mm512_mask_srli_epi16(t, 0xFF00FF00u, t, 4);
    return _mm512_and_si512(t, _mm512_set1_epi8(0x0F));
}

/* 32 bytes -> 64: x's low nibbles then its high nibbles. */
static inline __m512i nibbles_lo_hi(__m256i q) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(q, m4)),
                              _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), 1);
}

static inline __m512i dot_u8s8(__m512i q, __m512i p) {
    return _mm512_madd_epi16(_mm512_maddubs_epi16(q, p), _mm512_set1_epi16(1));
}

/* sum of (q - off) * p, pairs into 16 int32 lanes. */
static inline __m512i dot_u8s8_off(__m512i q, __m512i p, int off) {
    __m512i t = _mm512_maddubs_epi16(q, p);
    __m512i o = _mm512_maddubs_epi16(_mm512_set1_epi8((char)off), p);
    return _mm512_madd_epi16(_mm512_sub_epi16(t, o), _mm512_set1_epi16(1));
}

/* signed x signed as |x| * (p negated where x < 0), int16 pair sums
 * (|x| <= 128, |p| <= 127). */
static inline __m512i maddubs_s8s8(__m512i x, __m512i p) {
    __mmask64 neg = _mm512_movepi8_mask(x);
    __m512i ps = _mm512_mask_sub_epi8(p, neg, _mm512_setzero_si512(), p);
    return _mm512_maddubs_epi16(_mm512_abs_epi8(x), ps);
}

static inline __m512i dot_s8s8(__m512i x, __m512i p) {
    return _mm512_madd_epi16(maddubs_s8s8(x, p), _mm512_set1_epi16(1));
}

/* 256-bit helpers for a last odd block. */
static inline __m256i nibbles_1block(const uint8_t *qs) {
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
}
static inline __m256i dot256_u8s8(__m256i q, __m256i p) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(q, p), _mm256_set1_epi16(1));
}
static inline __m256i dot256_u8s8_off(__m256i q, __m256i p, int off) {
    __m256i t = _mm256_maddubs_epi16(q, p);
    __m256i o = _mm256_maddubs_epi16(_mm256_set1_epi8((char)off), p);
    return _mm256_madd_epi16(_mm256_sub_epi16(t, o), _mm256_set1_epi16(1));
}
static inline __m256i dot256_s8s8(__m256i x, __m256i p) {
    return dot256_u8s8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(p, x));
}
static inline __m256i load256(const void *p) {
    return _mm256_loadu_si256((const __m256i *)p);
}

/* The IQ4_NL grid in all four 128-bit lanes. */
static inline __m512i iq4nl_table512(void) {
    return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)nb_kvalues_iq4nl));
}

/* ------------------------------------------------------------ plain types */

static inline __mmask16 tail_mask(int64_t r) {
    return (__mmask16)((1u << r) - 1u);
}

void nb_vec_dot_f32_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), _mm512_loadu_ps(y + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), _mm512_loadu_ps(y + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16)
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), a1);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

static inline __m512 load_h16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
static inline __m512 load_h16_mask(const uint16_t *p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

void nb_vec_dot_f16_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(load_h16(x + i), load_h16(y + i), a0);
        a1 = _mm512_fmadd_ps(load_h16(x + i + 16), load_h16(y + i + 16), a1);
        a2 = _mm512_fmadd_ps(load_h16(x + i + 32), load_h16(y + i + 32), a2);
        a3 = _mm512_fmadd_ps(load_h16(x + i + 48), load_h16(y + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(load_h16(x + i), load_h16(y + i), a0);
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        a1 = _mm512_fmadd_ps(load_h16_mask(x + i, m), load_h16_mask(y + i, m), a1);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

static inline __m512 bf16_to_ps(__m256i v) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}
static inline __m512 load_bf16(const uint16_t *p) {
    return bf16_to_ps(_mm256_loadu_si256((const __m256i *)p));
}

void nb_vec_dot_bf16_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(load_bf16(x + i), load_bf16(y + i), a0);
        a1 = _mm512_fmadd_ps(load_bf16(x + i + 16), load_bf16(y + i + 16), a1);
        a2 = _mm512_fmadd_ps(load_bf16(x + i + 32), load_bf16(y + i + 32), a2);
        a3 = _mm512_fmadd_ps(load_bf16(x + i + 48), load_bf16(y + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(load_bf16(x + i), load_bf16(y + i), a0);
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        a1 = _mm512_fmadd_ps(bf16_to_ps(_mm256_maskz_loadu_epi16(m, x + i)),
                             bf16_to_ps(_mm256_maskz_loadu_epi16(m, y + i)), a1);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

/* --------------------------------------------------- 32-value block types
 *
 * Two blocks per register: int32 lanes 0..7 belong to the first block,
 * 8..15 to the second, scaled by two_scales(...). A last odd block goes
 * through 256-bit code. */



/* The fifth bits of two Q5 blocks as a 64-bit byte mask. */
static inline __mmask64 q5_mask_2x(const uint8_t *qa, const uint8_t *qb) {
    uint32_t a, b;
    memcpy(&a, qa, 4);
    memcpy(&b, qb, 4);
    return (__mmask64)((uint64_t)a | ((uint64_t)b << 32));
}

static inline __m256i q5_high_256(const uint8_t *qh) {
    uint32_t a;
    memcpy(&a, qh, 4);
    return _mm256_maskz_mov_epi8((__mmask32)a, _mm256_set1_epi8(0x10));
}

void nb_vec_dot_q5_0_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK5_0;
    const __m512i b4 = _mm512_set1_epi8(0x10);
    __m512 acc = _mm512_setzero_ps();
    int64_t ib = 0;
    for (; ib + 2 <= nb; ib += 2) {
        __m512i q = nibbles_2blocks(x[ib].qs, x[ib + 1].qs);
        q = _mm512_or_si512(q, _mm512_maskz_mov_epi8(q5_mask_2x(x[ib].qh, x[ib + 1].qh), b4));
        __m512i i0 = dot_u8s8_off(q, load_2x32(y[ib].qs, y[ib + 1].qs), 16);
        __m512 d0 = two_scales(&x[ib].d, &y[ib].d, &x[ib + 1].d, &y[ib + 1].d);
        acc = _mm512_fmadd_ps(d0, _mm512_cvtepi32_ps(i0), acc);
    }
    float sum = _mm512_reduce_add_ps(acc);
    if (ib < nb) {
        __m256i q = _mm256_or_si256(nibbles_1block(x[ib].qs), q5_high_256(x[ib].qh));
        __m256i i0 = dot256_u8s8_off(q, load256(y[ib].qs), 16);
        sum += h2f(x[ib].d) * h2f(y[ib].d) * hsum_ps256(_mm256_cvtepi32_ps(i0));
    }
    *s = sum;
}

void nb_vec_dot_q5_1_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    const int64_t nb = n / QK5_1;
    const __m512i b4 = _mm512_set1_epi8(0x10);
    __m512 acc = _mm512_setzero_ps();
    float summ = 0.0f;
    int64_t ib = 0;
    for (; ib + 2 <= nb; ib += 2) {
        __m512i q = nibbles_2blocks(x[ib].qs, x[ib + 1].qs);
        q = _mm512_or_si512(q, _mm512_maskz_mov_epi8(q5_mask_2x(x[ib].qh, x[ib + 1].qh), b4));
        __m512i i0 = dot_u8s8(q, load_2x32(y[ib].qs, y[ib + 1].qs));
        __m512 d0 = two_scales(&x[ib].d, &y[ib].d, &x[ib + 1].d, &y[ib + 1].d);
        acc = _mm512_fmadd_ps(d0, _mm512_cvtepi32_ps(i0), acc);
        summ += h2f(x[ib].m) * h2f(y[ib].s) + h2f(x[ib + 1].m) * h2f(y[ib + 1].s);
    }
    float sum = _mm512_reduce_add_ps(acc);
    if (ib < nb) {
        __m256i q = _mm256_or_si256(nibbles_1block(x[ib].qs), q5_high_256(x[ib].qh));
        __m256i i0 = dot256_u8s8(q, load256(y[ib].qs));
        sum += h2f(x[ib].d) * h2f(y[ib].d) * hsum_ps256(_mm256_cvtepi32_ps(i0));
        summ += h2f(x[ib].m) * h2f(y[ib].s);
    }
    *s = sum + summ;
}


void nb_vec_dot_iq4_nl_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK4_NL;
    const __m512i grid = iq4nl_table512();
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t ib = 0;
    for (; ib + 4 <= nb; ib += 4) {
        __m512i v0 = _mm512_shuffle_epi8(grid, nibbles_2blocks(x[ib].qs, x[ib + 1].qs));
        __m512i v1 = _mm512_shuffle_epi8(grid, nibbles_2blocks(x[ib + 2].qs, x[ib + 3].qs));
        __m512i i0 = dot_s8s8(v0, load_2x32(y[ib].qs, y[ib + 1].qs));
        __m512i i1 = dot_s8s8(v1, load_2x32(y[ib + 2].qs, y[ib + 3].qs));
        __m512 d0 = two_scales(&x[ib].d, &y[ib].d, &x[ib + 1].d, &y[ib + 1].d);
        __m512 d1 = two_scales(&x[ib + 2].d, &y[ib + 2].d, &x[ib + 3].d, &y[ib + 3].d);
        acc0 = _mm512_fmadd_ps(d0, _mm512_cvtepi32_ps(i0), acc0);
        acc1 = _mm512_fmadd_ps(d1, _mm512_cvtepi32_ps(i1), acc1);
    }
    for (; ib + 2 <= nb; ib += 2) {
        __m512i v0 = _mm512_shuffle_epi8(grid, nibbles_2blocks(x[ib].qs, x[ib + 1].qs));
        __m512i i0 = dot_s8s8(v0, load_2x32(y[ib].qs, y[ib + 1].qs));
        __m512 d0 = two_scales(&x[ib].d, &y[ib].d, &x[ib + 1].d, &y[ib + 1].d);
        acc0 = _mm512_fmadd_ps(d0, _mm512_cvtepi32_ps(i0), acc0);
    }
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    if (ib < nb) {
        __m256i v = _mm256_shuffle_epi8(_mm512_castsi512_si256(grid), nibbles_1block(x[ib].qs));
        __m256i i0 = dot256_s8s8(v, load256(y[ib].qs));
        sum += h2f(x[ib].d) * h2f(y[ib].d) * hsum_ps256(_mm256_cvtepi32_ps(i0));
    }
    *s = sum;
}

/* -------------------------------------------------- 256-value super-blocks
 *
 * 64 values per register. A maddubs result has 32 int16 lanes, 2 per 4
 * values: a sub-block of 16 values covers 8 lanes, one of 32 covers 16. */

/* The 16 Q3_K scales minus 32 as int8 (the values of nb_dot_q3k_scale),
 * from the 12 packed bytes without a round trip through memory: low
 * nibbles of bytes 0..7 then their high nibbles, | the 2-bit fields of
 * bytes 8..11 (word 2 shifted right by 2w for scales 4w..4w+3) << 4. */
static inline __m128i q3k_scales_v(const uint8_t *p) {
    uint64_t lo;
    uint32_t hi;
    memcpy(&lo, p, 8);
    memcpy(&hi, p + 8, 4);
    __m128i v = _mm_cvtsi64_si128((long long)lo);
    __m128i nib = _mm_and_si128(_mm_unpacklo_epi64(v, _mm_srli_epi16(v, 4)), _mm_set1_epi8(0x0F));
    __m128i h = _mm_srlv_epi32(_mm_set1_epi32((int)hi), _mm_set_epi32(6, 4, 2, 0));
    h = _mm_slli_epi16(_mm_and_si128(h, _mm_set1_epi8(3)), 4);
    return _mm_sub_epi8(_mm_or_si128(nib, h), _mm_set1_epi8(32));
}

/* int16 lane i (0..31) gets sc16[base + i/8]: scales of 4 sub-blocks of 16. */
static inline __m512i scales_4x16(__m512i sc16, int base) {
    const __m512i idx = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2,
                                         1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_permutexvar_epi16(_mm512_add_epi16(idx, _mm512_set1_epi16((short)base)), sc16);
}

/* 16 int8 scales as int16 in the low 256 bits. */
static inline __m512i scales16_i8(const int8_t *sc) {
    return _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc)));
}

/* sum_k sc_k * bsums_k (16 sub-blocks), 8 int32 lanes to add up. */
static inline __m256i bsums_dot(const int16_t *bsums, __m512i sc16) {
    return _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums),
                             _mm512_castsi512_si256(sc16));
}

/* [q >> a | q >> b] per byte, masked to `mask`, from 32 bytes q. */
static inline __m512i shift2_256(__m512i qq, __m512i counts, __m512i mask) {
    return _mm512_and_si512(_mm512_srlv_epi16(qq, counts), mask);
}

static inline __m512i counts2(int a, int b) {
    return two_epi16(a, b);
}

/* 16 int32 lanes -> 8 (the two halves added). */
static inline __m256i fold512(__m512i v) {
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

static inline __m512i dup256(__m256i v) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(v), v, 1);
}

void nb_vec_dot_q2_K_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m512i c01 = counts2(0, 2), c23 = counts2(4, 6);
    __m256 accm = _mm256_setzero_ps();
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m128i sc8 = _mm_loadu_si128((const __m128i *)x[i].scales);
        __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(0x0F)));
        __m256i summ = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[i].bsums), mins16);
        __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(sc8, _mm_set1_epi8(0x0F))));
        const int8_t *p = y[i].qs;
        __m512i sumi = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m512i qq = dup256(load256(x[i].qs + 32 * h));
            __m512i z0 = shift2_256(qq, c01, m3); /* values 128h + 0..63  */
            __m512i z1 = shift2_256(qq, c23, m3); /* values 128h + 64..127 */
            __m512i t0 = _mm512_maddubs_epi16(z0, _mm512_loadu_si512(p));
            __m512i t1 = _mm512_maddubs_epi16(z1, _mm512_loadu_si512(p + 64));
            sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(t0, scales_4x16(sc16, 8 * h)));
            sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(t1, scales_4x16(sc16, 8 * h + 4)));
            p += 128;
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(y[i].d * h2f(x[i].d)), _mm512_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].dmin)), _mm256_cvtepi32_ps(summ), accm);
    }
    *s = _mm512_reduce_add_ps(acc) - hsum_ps256(accm);
}

void nb_vec_dot_q3_K_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m512i one = _mm512_set1_epi8(1);
    const __m512i c01 = counts2(0, 2), c23 = counts2(4, 6);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(q3k_scales_v(x[i].scales)));
        /* q = u - 4, u = low2 | high << 2: subtract 4 * sum_k sc_k bsums_k */
        __m256i corr = bsums_dot(y[i].bsums, sc16);
        __m512i hh = dup256(load256(x[i].hmask));
        const int8_t *p = y[i].qs;
        __m512i sumi = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m512i qq = dup256(load256(x[i].qs + 32 * h));
            /* value 128h + 32s + l: high bit is bit 4h + s of hmask[l], moved to bit 2 */
            __m512i hb01 = _mm512_slli_epi16(
                _mm512_and_si512(_mm512_srlv_epi16(hh, counts2(4 * h, 4 * h + 1)), one), 2);
            __m512i hb23 = _mm512_slli_epi16(
                _mm512_and_si512(_mm512_srlv_epi16(hh, counts2(4 * h + 2, 4 * h + 3)), one), 2);
            __m512i z0 = _mm512_or_si512(shift2_256(qq, c01, m3), hb01); /* 128h + 0..63   */
            __m512i z1 = _mm512_or_si512(shift2_256(qq, c23, m3), hb23); /* 128h + 64..127 */
            __m512i t0 = _mm512_maddubs_epi16(z0, _mm512_loadu_si512(p));
            __m512i t1 = _mm512_maddubs_epi16(z1, _mm512_loadu_si512(p + 64));
            sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(t0, scales_4x16(sc16, 8 * h)));
            sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(t1, scales_4x16(sc16, 8 * h + 4)));
            p += 128;
        }
        __m256i tot = _mm256_sub_epi32(fold512(sumi), _mm256_slli_epi32(corr, 2));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].d)), _mm256_cvtepi32_ps(tot), acc);
    }
    *s = hsum_ps256(acc);
}

/* Q4_K / Q5_K: 8 scales and mins, and sum_k m_k (bsums[2k] + bsums[2k+1]). */
static inline __m256i k4_prepare(const uint8_t *packed, const int16_t *bsums, uint8_t sc[8]) {
    uint8_t m[8];
    nb_dot_k4_unpack(packed, sc, m);
    __m128i m8 = _mm_loadl_epi64((const __m128i *)m);
    __m128i mm = _mm_unpacklo_epi8(m8, m8);
    return _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), _mm256_cvtepu8_epi16(mm));
}


void nb_vec_dot_q5_K_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m512i b4 = _mm512_set1_epi8(0x10);
    __m512 acc = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8];
        __m256i summ = k4_prepare(x[i].scales, y[i].bsums, sc);
        /* int16 lanes 0..15 get sc[2c], 16..31 sc[2c+1] */
        const __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
        __m512i idx = two_epi16(0, 1);
        __m512i hh = dup256(load256(x[i].qh));
        /* bit 2c of qh[l] for the low nibbles, bit 2c+1 for the high ones */
        __m512i bit = _mm512_inserti64x4(_mm512_set1_epi8(1), _mm256_set1_epi8(2), 1);
        const int8_t *p = y[i].qs;
        __m512i sumi = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            __m512i z = nibbles_lo_hi(load256(x[i].qs + 32 * c));
            z = _mm512_mask_add_epi8(z, _mm512_test_epi8_mask(hh, bit), z, b4);
            bit = _mm512_slli_epi16(bit, 2);
            __m512i t = _mm512_maddubs_epi16(z, _mm512_loadu_si512(p));
            sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(t, _mm512_permutexvar_epi16(idx, sc16)));
            idx = _mm512_add_epi16(idx, _mm512_set1_epi16(2));
            p += 64;
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(y[i].d * h2f(x[i].d)), _mm512_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].dmin)), _mm256_cvtepi32_ps(summ), accm);
    }
    *s = _mm512_reduce_add_ps(acc) - hsum_ps256(accm);
}


void nb_vec_dot_iq4_xs_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m512i grid = iq4nl_table512();
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const int8_t *p = y[i].qs;
        __m512i sumi = _mm512_setzero_si512();
        for (int k = 0; k < 8; k += 2) {
            __m512i v = _mm512_shuffle_epi8(grid, nibbles_2blocks(x[i].qs + 16 * k, x[i].qs + 16 * k + 16));
            __m512i t = maddubs_s8s8(v, _mm512_loadu_si512(p));
            __m512i sc = two_epi16(nb_dot_iq4xs_scale(&x[i], k), nb_dot_iq4xs_scale(&x[i], k + 1));
            sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(t, sc));
            p += 64;
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(y[i].d * h2f(x[i].d)), _mm512_cvtepi32_ps(sumi), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

/* ------------------------------------------- rows x tokens (matmul tiles)
 *
 * Q4_0, Q8_0 (x Q8_0), Q4_K and Q6_K (x Q8_K) at this level: the single
 * dot product finds, per block (super-block), the exact integer sums and
 * then runs one float step per block into one float accumulator (fma with
 * the block's scale product). The tiles (nb_vec_dot_mn_T_*) find the same
 * integers another way: the weights of 16 rows transposed into one int32
 * lane per row (vpdpbusd with an activation group broadcast to all lanes,
 * a weight block unpacked once for all the tokens of the tile), or for
 * generation a few rows at a time reduced together; then the same float
 * steps lane by lane. So every tile shape gives the single dot product's
 * bits (tests check), and batched logits equal token-by-token ones.
 *
 * vpdpbusd (AVX-512 VNNI) is written as inline assembly so that this file
 * needs no extra flags; the dispatcher uses the tiles that need it only
 * when the CPU has it (nb_simd_has_vnni). */
#define NB_ALWAYS_INLINE static inline __attribute__((always_inline))
/* the tile loops are unrolled, so that the accumulator arrays live in registers */
#if defined(__clang__)
#define NB_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define NB_UNROLL _Pragma("GCC unroll 8")
#else
#define NB_UNROLL
#endif

/* acc + the sums of 4 adjacent u8 x s8 products per int32 lane. Without
 * VNNI through int16 pair sums, exact when a pair sum fits in int16 (the
 * callers' values: u <= 128 with |s| <= 127, or u <= 15). */
NB_ALWAYS_INLINE __m512i dp4(__m512i acc, __m512i u, __m512i s, int vnni) {
    if (vnni) {
        __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
        return acc;
    }
    return _mm512_add_epi32(acc, dot_u8s8(u, s));
}

/* ------------------------------------------- row-lane tiles: Q4_0, Q8_0
 *
 * Q4_0 and Q8_0 (x Q8_0) at this level: the weights of 16 rows are
 * transposed in 4-byte groups (vector g of block b holds values 4g..4g+3
 * of the 16 rows, one int32 lane per row, as u8: Q4_0 q, Q8_0 x + 128)
 * once per tile and chunk of blocks, then each token's activations, four
 * at a time broadcast to all lanes, go through vpdpbusd (AVX-512 VNNI) or
 * maddubs + madd: the lane of row r ends with the exact integer sum of
 * block b, sum (u - off) * p (off = 8 or 128, subtracted as off * sum p).
 * The float part, per (row, token), is then the one of nb_vec_dot_T_avx512
 * (one row, one token, the same integer sums found another way):
 *
 *   acc = 0;  for each block b:  acc = fma(dx_b * dy_b, (float)isum_b, acc)
 *
 * (dx_b * dy_b, two fp16 values, is exact in float; isum_b too), so every
 * tile shape, 16 rows x 1 token for generation included, gives the bits
 * of the single dot product. Without VNNI only Q4_0 (u <= 15: the int16
 * pair sums of maddubs cannot saturate) has this tile. */
#define RL_CH 32 /* blocks per chunk: 16 KiB of transposed weights */
enum { RL_Q4_0, RL_Q8_0, RL_Q4_1 }; /* the weight type (`kind`); Q4_1 x Q8_1 */
#define RL_T 8   /* tokens per inner group */

/* 8 vectors: z[k] = row 2k's 8 groups then row 2k+1's, to z[g] = group g
 * of rows 0..15 (three rounds of two-source permutes). */
NB_ALWAYS_INLINE void rl_transpose(__m512i z[8]) {
    const __m512i i0l = _mm512_setr_epi32(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
    const __m512i i0h = _mm512_setr_epi32(4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31);
    const __m512i i1l = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    const __m512i i1h = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
    NB_UNROLL
    for (int m = 4; m >= 1; m >>= 1) {
        const __m512i il = m == 4 ? i0l : i1l, ih = m == 4 ? i0h : i1h;
        NB_UNROLL
        for (int i = 0; i < 8; i++) {
            if (i & m) continue;
            const __m512i a = z[i], b = z[i | m];
            z[i] = _mm512_permutex2var_epi32(a, il, b);
            z[i | m] = _mm512_permutex2var_epi32(a, ih, b);
        }
    }
}

/* Transposes blocks [b0, b0 + nbc) of rows xr[0..15] (block size bs,
 * q8: Q8_0 else Q4_0) into W (8 x 64 bytes per block) and their scales
 * into DX (16 floats per block). */
NB_ALWAYS_INLINE void rl_pack(int kind, const uint8_t *const xr[16], int64_t b0, int nbc, uint8_t *W,
                              float *DX, float *DM) {
    const size_t bs = kind == RL_Q8_0 ? sizeof(block_q8_0) : kind == RL_Q4_1 ? sizeof(block_q4_1) : sizeof(block_q4_0);
    int32_t off[16];
    for (int r = 0; r < 16; r++) off[r] = (int32_t)(xr[r] - xr[0]);
    const __m512i voff = _mm512_loadu_si512(off);
    for (int b = 0; b < nbc; b++) {
        const size_t o = (size_t)(b0 + b) * bs;
        __m512i z[8];
        NB_UNROLL
        for (int k = 0; k < 8; k++) {
            if (kind == RL_Q8_0) {
                const block_q8_0 *xa = (const block_q8_0 *)(xr[2 * k] + o),
                                 *xb = (const block_q8_0 *)(xr[2 * k + 1] + o);
                z[k] = _mm512_xor_si512(load_2x32(xa->qs, xb->qs), _mm512_set1_epi8((char)0x80));
            } else if (kind == RL_Q4_1) {
                const block_q4_1 *xa = (const block_q4_1 *)(xr[2 * k] + o),
                                 *xb = (const block_q4_1 *)(xr[2 * k + 1] + o);
                z[k] = nibbles_2blocks(xa->qs, xb->qs);
            } else {
                const block_q4_0 *xa = (const block_q4_0 *)(xr[2 * k] + o),
                                 *xb = (const block_q4_0 *)(xr[2 * k + 1] + o);
                z[k] = nibbles_2blocks(xa->qs, xb->qs);
            }
        }
        rl_transpose(z);
        NB_UNROLL
        for (int g = 0; g < 8; g++) _mm512_storeu_si512(W + ((size_t)b * 8 + g) * 64, z[g]);
        /* the fp16 d at the start of each block (4 bytes read: d and the
         * first 2 bytes of qs) */
        const __m512i dw = _mm512_i32gather_epi32(voff, (const void *)(xr[0] + o), 1);
        _mm512_storeu_ps(DX + (size_t)b * 16, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dw)));
        if (kind == RL_Q4_1) /* Q4_1: d and m next to each other */
            _mm512_storeu_ps(DM + (size_t)b * 16, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dw, 16))));
    }
}

/* off * sum of the 32 activations of a block. */
NB_ALWAYS_INLINE int32_t rl_psum(const int8_t *p, int off) {
    __m256i v = dot256_u8s8(_mm256_set1_epi8(1), load256(p));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s4 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 1));
    return off * _mm_cvtsi128_si32(s4);
}

/* T tokens (y rows yt[0..T-1]) against the packed chunk; acc[t] holds the
 * 16 rows' accumulators of token t. */
NB_ALWAYS_INLINE void rl_tokens(int T, int vnni, int kind, const uint8_t *const yt[RL_T], int64_t b0,
                                int nbc, const uint8_t *W, const float *DX, __m512 acc[RL_T]) {
    const int off = kind == RL_Q8_0 ? 128 : 8;
    for (int b = 0; b < nbc; b++) {
        __m512i w[8];
        NB_UNROLL
        for (int g = 0; g < 8; g++) w[g] = _mm512_loadu_si512(W + ((size_t)b * 8 + g) * 64);
        const __m512 dx = _mm512_loadu_ps(DX + (size_t)b * 16);
        NB_UNROLL
        for (int t = 0; t < T; t++) {
            const block_q8_0 *yb = (const block_q8_0 *)yt[t] + b0 + b;
            const int8_t *qs = yb->qs;
            __m512i i = _mm512_set1_epi32(-rl_psum(qs, off));
            NB_UNROLL
            for (int g = 0; g < 8; g++) {
                int32_t p4;
                memcpy(&p4, qs + 4 * g, 4);
                i = dp4(i, w[g], _mm512_set1_epi32(p4), vnni);
            }
            const __m512 d = _mm512_mul_ps(dx, _mm512_set1_ps(h2f(yb->d)));
            acc[t] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(i), acc[t]);
        }
    }
}

/* The accumulators of rows 0..nr-1 of token t from / to s (zero at the start). */
NB_ALWAYS_INLINE __m512 rl_load(const float *s, size_t s_row, int nr) {
    if (s_row == 1 && nr == 16) return _mm512_loadu_ps(s);
    float tmp[16] = {0};
    for (int r = 0; r < nr; r++) tmp[r] = s[(size_t)r * s_row];
    return _mm512_loadu_ps(tmp);
}
NB_ALWAYS_INLINE void rl_store(float *s, size_t s_row, int nr, __m512 v) {
    if (s_row == 1 && nr == 16) {
        _mm512_storeu_ps(s, v);
        return;
    }
    float tmp[16];
    _mm512_storeu_ps(tmp, v);
    for (int r = 0; r < nr; r++) s[(size_t)r * s_row] = tmp[r];
}

NB_ALWAYS_INLINE void rl_tile(int vnni, int kind, int64_t n, int32_t n_rows, int32_t n_tok, float *s,
                              size_t s_row, size_t s_tok, const uint8_t *x, size_t xs, const uint8_t *y,
                              size_t ys) {
    const int64_t nb = n / QK8_0; /* QK4_0 = QK4_1 = QK8_0 */
    _Alignas(64) uint8_t W[RL_CH * 8 * 64];
    _Alignas(64) float DX[RL_CH * 16], DM[RL_CH * 16];
    for (int32_t r0 = 0; r0 < n_rows; r0 += 16) {
        const int nr = n_rows - r0 < 16 ? (int)(n_rows - r0) : 16;
        const uint8_t *xr[16];
        for (int r = 0; r < 16; r++) xr[r] = x + (size_t)(r0 + (r < nr ? r : nr - 1)) * xs;
        float *sr = s + (size_t)r0 * s_row;
        for (int64_t b0 = 0; b0 < nb; b0 += RL_CH) {
            const int nbc = nb - b0 < RL_CH ? (int)(nb - b0) : RL_CH;
            rl_pack(kind, xr, b0, nbc, W, DX, DM);
            int32_t t = 0;
            for (; t + RL_T <= n_tok; t += RL_T) {
                const uint8_t *yt[RL_T];
                __m512 acc[RL_T];
                NB_UNROLL
                for (int u = 0; u < RL_T; u++) {
                    yt[u] = y + (size_t)(t + u) * ys;
                    acc[u] = b0 ? rl_load(sr + (size_t)(t + u) * s_tok, s_row, nr) : _mm512_setzero_ps();
                }
                rl_tokens(RL_T, vnni, kind, yt, b0, nbc, W, DX, acc);
                NB_UNROLL
                for (int u = 0; u < RL_T; u++) rl_store(sr + (size_t)(t + u) * s_tok, s_row, nr, acc[u]);
            }
            for (; t < n_tok; t++) {
                const uint8_t *yt[RL_T] = {y + (size_t)t * ys};
                __m512 acc[RL_T];
                acc[0] = b0 ? rl_load(sr + (size_t)t * s_tok, s_row, nr) : _mm512_setzero_ps();
                rl_tokens(1, vnni, kind, yt, b0, nbc, W, DX, acc);
                rl_store(sr + (size_t)t * s_tok, s_row, nr, acc[0]);
            }
        }
    }
}

void nb_vec_dot_mn_q4_0_avx512(int64_t n, int32_t n_rows, int32_t n_tok, float *s, size_t s_row,
                               size_t s_tok, const void *x, size_t xs, const void *y, size_t ys) {
    rl_tile(0, RL_Q4_0, n, n_rows, n_tok, s, s_row, s_tok, x, xs, y, ys);
}
void nb_vec_dot_mn_q4_0_vnni(int64_t n, int32_t n_rows, int32_t n_tok, float *s, size_t s_row,
                             size_t s_tok, const void *x, size_t xs, const void *y, size_t ys) {
    rl_tile(1, RL_Q4_0, n, n_rows, n_tok, s, s_row, s_tok, x, xs, y, ys);
}
void nb_vec_dot_mn_q8_0_vnni(int64_t n, int32_t n_rows, int32_t n_tok, float *s, size_t s_row,
                             size_t s_tok, const void *x, size_t xs, const void *y, size_t ys) {
    rl_tile(1, RL_Q8_0, n, n_rows, n_tok, s, s_row, s_tok, x, xs, y, ys);
}

/* Q4_1 x Q8_1 in ggml's order (that of nb_vec_dot_q4_1_avx2, which the
 * AVX-512 level uses): per (row, token) 8 float lanes, lane l summing
 * dx*dy * (integer sum of values 4l..4l+3) over the blocks, then
 * hsum_ps256's tree ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), plus the sum of
 * m * s. Transposed, lane l is group g = l of the block: one accumulator
 * vector (16 rows) per group and token. Rows up to Q41_MAXB blocks, 2 or
 * more tokens; otherwise the AVX2 tile. */
#define Q41_MAXB 64
#define Q41_T 2

NB_ALWAYS_INLINE void q41_tokens(int T, int vnni, const uint8_t *const yt[Q41_T], int nb,
                                 const uint8_t *W, const float *DX, const float *DM, __m512 out[Q41_T]) {
    __m512 a[Q41_T][8], sm[Q41_T];
    NB_UNROLL
    for (int t = 0; t < T; t++) {
        sm[t] = _mm512_setzero_ps();
        NB_UNROLL
        for (int g = 0; g < 8; g++) a[t][g] = _mm512_setzero_ps();
    }
    for (int b = 0; b < nb; b++) {
        __m512i w[8];
        NB_UNROLL
        for (int g = 0; g < 8; g++) w[g] = _mm512_loadu_si512(W + ((size_t)b * 8 + g) * 64);
        const __m512 dx = _mm512_loadu_ps(DX + (size_t)b * 16), dm = _mm512_loadu_ps(DM + (size_t)b * 16);
        NB_UNROLL
        for (int t = 0; t < T; t++) {
            const block_q8_1 *yb = (const block_q8_1 *)yt[t] + b;
            const __m512 d = _mm512_mul_ps(dx, _mm512_set1_ps(h2f(yb->d)));
            NB_UNROLL
            for (int g = 0; g < 8; g++) {
                int32_t p4;
                memcpy(&p4, yb->qs + 4 * g, 4);
                const __m512i i = dp4(_mm512_setzero_si512(), w[g], _mm512_set1_epi32(p4), vnni);
                a[t][g] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(i), a[t][g]);
            }
            sm[t] = _mm512_add_ps(sm[t], _mm512_mul_ps(dm, _mm512_set1_ps(h2f(yb->s))));
        }
    }
    NB_UNROLL
    for (int t = 0; t < T; t++) {
        const __m512 c0 = _mm512_add_ps(_mm512_add_ps(a[t][0], a[t][4]), _mm512_add_ps(a[t][2], a[t][6]));
        const __m512 c1 = _mm512_add_ps(_mm512_add_ps(a[t][1], a[t][5]), _mm512_add_ps(a[t][3], a[t][7]));
        out[t] = _mm512_add_ps(_mm512_add_ps(c0, c1), sm[t]);
    }
}

NB_ALWAYS_INLINE void q41_tile(int vnni, int64_t n, int32_t n_rows, int32_t n_tok, float *s,
                               size_t s_row, size_t s_tok, const uint8_t *x, size_t xs, const uint8_t *y,
                               size_t ys) {
    const int64_t nb = n / QK4_1;
    if (n_tok < 4 || nb > Q41_MAXB) {
        nb_vec_dot_mn_q4_1_avx2(n, n_rows, n_tok, s, s_row, s_tok, x, xs, y, ys);
        return;
    }
    _Alignas(64) uint8_t W[Q41_MAXB * 8 * 64];
    _Alignas(64) float DX[Q41_MAXB * 16], DM[Q41_MAXB * 16];
    for (int32_t r0 = 0; r0 < n_rows; r0 += 16) {
        const int nr = n_rows - r0 < 16 ? (int)(n_rows - r0) : 16;
        const uint8_t *xr[16];
        for (int r = 0; r < 16; r++) xr[r] = x + (size_t)(r0 + (r < nr ? r : nr - 1)) * xs;
        float *sr = s + (size_t)r0 * s_row;
        rl_pack(RL_Q4_1, xr, 0, (int)nb, W, DX, DM);
        int32_t t = 0;
        for (; t + Q41_T <= n_tok; t += Q41_T) {
            const uint8_t *yt[Q41_T];
            __m512 o[Q41_T];
            for (int u = 0; u < Q41_T; u++) yt[u] = y + (size_t)(t + u) * ys;
            q41_tokens(Q41_T, vnni, yt, (int)nb, W, DX, DM, o);
            for (int u = 0; u < Q41_T; u++) rl_store(sr + (size_t)(t + u) * s_tok, s_row, nr, o[u]);
        }
        for (; t < n_tok; t++) {
            const uint8_t *yt[Q41_T] = {y + (size_t)t * ys};
            __m512 o[Q41_T];
            q41_tokens(1, vnni, yt, (int)nb, W, DX, DM, o);
            rl_store(sr + (size_t)t * s_tok, s_row, nr, o[0]);
        }
    }
}

void nb_vec_dot_mn_q4_1_vnni(int64_t n, int32_t n_rows, int32_t n_tok, float *s, size_t s_row,
                             size_t s_tok, const void *x, size_t xs, const void *y, size_t ys) {
    q41_tile(1, n, n_rows, n_tok, s, s_row, s_tok, x, xs, y, ys);
}

/* The single dot products: the same float steps, one block at a time. */
NB_ALWAYS_INLINE float rl_fma(float d, int32_t isum, float acc) {
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(d), _mm_set_ss((float)isum), _mm_set_ss(acc)));
}
NB_ALWAYS_INLINE int32_t hsum_epi32_256(__m256i v) {
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s4 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 1));
    return _mm_cvtsi128_si32(s4);
}
void nb_vec_dot_q4_0_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float acc = 0.0f;
    for (int64_t ib = 0; ib < n / QK4_0; ib++) {
        int32_t isum = hsum_epi32_256(dot256_u8s8_off(nibbles_1block(x[ib].qs), load256(y[ib].qs), 8));
        acc = rl_fma(h2f(x[ib].d) * h2f(y[ib].d), isum, acc);
    }
    *s = acc;
}
/* Q4_1: the AVX2 version (ggml's order: an 8-lane accumulator over the
 * blocks, then the sum of m * s), which keeps the logits of Q4_1 models
 * on llama.cpp's; the tiles below (nb_vec_dot_mn_q4_1_*) compute the same. */
void nb_vec_dot_q4_1_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    nb_vec_dot_q4_1_avx2(n, s, vx, vy);
}
void nb_vec_dot_q8_0_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    float acc = 0.0f;
    for (int64_t ib = 0; ib < n / QK8_0; ib++) {
        int32_t isum = hsum_epi32_256(dot256_s8s8(load256(x[ib].qs), load256(y[ib].qs)));
        acc = rl_fma(h2f(x[ib].d) * h2f(y[ib].d), isum, acc);
    }
    *s = acc;
}

/* Row after row (one stream through memory: generation), every token. */
static void nb_dot_rows(nb_vec_dot_fn dot, int64_t n, int32_t n_rows, int32_t n_tok, float *s,
                        size_t s_row, size_t s_tok, const uint8_t *x, size_t xs, const uint8_t *y,
                        size_t ys) {
    for (int32_t r = 0; r < n_rows; r++)
        for (int32_t t = 0; t < n_tok; t++)
            dot(n, s + (size_t)r * s_row + (size_t)t * s_tok, x + (size_t)r * xs, y + (size_t)t * ys);
}

/* ------------------------------------------------- row-lane tiles: Q4_K
 *
 * Q4_K x Q8_K at this level: per (row, token) and super-block the exact
 * integers isum = sum_k sc_k sum_{j in k} q_j p_j and imin = sum_k m_k
 * (bsums[2k] + bsums[2k+1]), then in float
 *
 *   acc = fma(dy * d, (float)isum, acc);  accm = fma(dy * dmin, (float)imin, accm)
 *
 * and the result acc - accm. The single dot product finds the integers a
 * row at a time; tiles of 4 or more tokens transpose 16 rows (as the
 * Q4_0 tiles, one sub-block of 32 values as 8 groups of 4) once per chunk
 * of super-blocks and find them with one int32 lane per row, the scales
 * applied per lane (mullo), the mins with int16 pairs (madd). */
#define RK_CH 8 /* super-blocks per chunk: 32 KiB of transposed weights */
#define RK_T 4  /* tokens per inner group */
#define RK_TB 64 /* tokens per pass when rows are longer than a chunk */

typedef struct rk_pack {
    _Alignas(64) uint8_t w[RK_CH][8][8][64]; /* [super-block][sub-block][group] 16 rows x 4 u8 */
    _Alignas(64) int32_t sc[RK_CH][8][16];   /* scale of sub-block k, lane = row */
    _Alignas(64) int32_t mp[RK_CH][4][16];   /* mins 2j, 2j+1 as int16 pairs */
    _Alignas(64) float d[RK_CH][16], dmin[RK_CH][16];
} rk_pack;

static void rk_pack_chunk(const uint8_t *const xr[16], int64_t b0, int nbc, rk_pack *P) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int b = 0; b < nbc; b++) {
        const size_t o = (size_t)(b0 + b) * sizeof(block_q4_K);
        for (int c = 0; c < 4; c++) {
            __m512i lo[8], hi[8];
            NB_UNROLL
            for (int k = 0; k < 8; k++) {
                const block_q4_K *xa = (const block_q4_K *)(xr[2 * k] + o),
                                 *xb = (const block_q4_K *)(xr[2 * k + 1] + o);
                const __m512i q = load_2x32(xa->qs + 32 * c, xb->qs + 32 * c);
                lo[k] = _mm512_and_si512(q, m4);
                hi[k] = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
            }
            rl_transpose(lo);
            rl_transpose(hi);
            NB_UNROLL
            for (int g = 0; g < 8; g++) {
                _mm512_store_si512(P->w[b][2 * c][g], lo[g]);
                _mm512_store_si512(P->w[b][2 * c + 1][g], hi[g]);
            }
        }
        for (int r = 0; r < 16; r++) {
            const block_q4_K *xb = (const block_q4_K *)(xr[r] + o);
            uint8_t sc[8], m[8];
            nb_dot_k4_unpack(xb->scales, sc, m);
            for (int k = 0; k < 8; k++) P->sc[b][k][r] = sc[k];
            for (int j = 0; j < 4; j++) P->mp[b][j][r] = (int32_t)((uint32_t)m[2 * j] | ((uint32_t)m[2 * j + 1] << 16));
            P->d[b][r] = h2f(xb->d);
            P->dmin[b][r] = h2f(xb->dmin);
        }
    }
}

NB_ALWAYS_INLINE void rk_tokens(int T, const uint8_t *const yt[RK_T], int64_t b0, int nbc,
                                const rk_pack *P, __m512 acc[RK_T], __m512 accm[RK_T]) {
    for (int b = 0; b < nbc; b++) {
        const block_q8_K *yb[RK_T];
        __m512i isum[RK_T];
        NB_UNROLL
        for (int t = 0; t < T; t++) {
            yb[t] = (const block_q8_K *)yt[t] + b0 + b;
            isum[t] = _mm512_setzero_si512();
        }
        for (int k = 0; k < 8; k++) {
            __m512i w[8];
            NB_UNROLL
            for (int g = 0; g < 8; g++) w[g] = _mm512_load_si512(P->w[b][k][g]);
            const __m512i sck = _mm512_load_si512(P->sc[b][k]);
            NB_UNROLL
            for (int t = 0; t < T; t++) {
                __m512i i0 = _mm512_setzero_si512(), i1 = _mm512_setzero_si512();
                NB_UNROLL
                for (int g = 0; g < 8; g += 2) {
                    int32_t p0, p1;
                    memcpy(&p0, yb[t]->qs + 32 * k + 4 * g, 4);
                    memcpy(&p1, yb[t]->qs + 32 * k + 4 * g + 4, 4);
                    i0 = dp4(i0, w[g], _mm512_set1_epi32(p0), 1);
                    i1 = dp4(i1, w[g + 1], _mm512_set1_epi32(p1), 1);
                }
                isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(_mm512_add_epi32(i0, i1), sck));
            }
        }
        const __m512 d = _mm512_load_ps(P->d[b]), dmin = _mm512_load_ps(P->dmin[b]);
        NB_UNROLL
        for (int t = 0; t < T; t++) {
            const int16_t *bs = yb[t]->bsums;
            __m512i imin = _mm512_setzero_si512();
            NB_UNROLL
            for (int j = 0; j < 4; j++) {
                const uint32_t s0 = (uint16_t)(bs[4 * j] + bs[4 * j + 1]);
                const uint32_t s1 = (uint16_t)(bs[4 * j + 2] + bs[4 * j + 3]);
                imin = _mm512_add_epi32(imin, _mm512_madd_epi16(_mm512_load_si512(P->mp[b][j]),
                                                                _mm512_set1_epi32((int32_t)(s0 | (s1 << 16)))));
            }
            const __m512 dy = _mm512_set1_ps(yb[t]->d);
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dy, d), _mm512_cvtepi32_ps(isum[t]), acc[t]);
            accm[t] = _mm512_fmadd_ps(_mm512_mul_ps(dy, dmin), _mm512_cvtepi32_ps(imin), accm[t]);
        }
    }
}

/* The single dot product: the same float steps, the integers of one row
 * (isum in lane 0, imin in lane 1), both steps in one 2-lane vector. */
NB_ALWAYS_INLINE __m128i q4_K_ints(const block_q4_K *x, const block_q8_K *y) {
    uint8_t sc[8];
    __m256i summ = k4_prepare(x->scales, y->bsums, sc);
    const __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
    __m512i idx = two_epi16(0, 1);
    const int8_t *p = y->qs;
    __m512i sumi = _mm512_setzero_si512();
    for (int c = 0; c < 4; c++) {
        __m512i z = nibbles_lo_hi(load256(x->qs + 32 * c));
        __m512i t = _mm512_maddubs_epi16(z, _mm512_loadu_si512(p));
        sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(t, _mm512_permutexvar_epi16(idx, sc16)));
        idx = _mm512_add_epi16(idx, _mm512_set1_epi16(2));
        p += 64;
    }
    __m256i h = _mm256_hadd_epi32(fold512(sumi), summ); /* a01 a23 m01 m23 | a45 a67 m45 m67 */
    h = _mm256_hadd_epi32(h, h);                         /* a0..3 m0..3 . . | a4..7 m4..7 . . */
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

void nb_vec_dot_q4_K_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    __m128 acc = _mm_setzero_ps(); /* lane 0: acc, lane 1: accm */
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint32_t dd; /* d and dmin, next to each other */
        memcpy(&dd, &x[i].d, 4);
        const __m128 d2 = _mm_mul_ps(_mm_set1_ps(y[i].d), _mm_cvtph_ps(_mm_cvtsi32_si128((int)dd)));
        acc = _mm_fmadd_ps(d2, _mm_cvtepi32_ps(q4_K_ints(&x[i], &y[i])), acc);
    }
    *s = _mm_cvtss_f32(acc) - _mm_cvtss_f32(_mm_shuffle_ps(acc, acc, 1));
}

void nb_vec_dot_mn_q4_K_vnni(int64_t n, int32_t n_rows, int32_t n_tok, float *s, size_t s_row,
                             size_t s_tok, const void *vx, size_t xs, const void *vy, size_t ys) {
    const uint8_t *x = vx, *y = vy;
    const int64_t nb = n / QK_K;
    /* rows longer than one chunk carry acc in s and accm here between
     * chunks, RK_TB tokens at a time */
    float mbuf[RK_TB * 16];
    if (n_tok < RK_T) { /* generation: a row at a time */
        nb_dot_rows(nb_vec_dot_q4_K_avx512, n, n_rows, n_tok, s, s_row, s_tok, x, xs, y, ys);
        return;
    }
    rk_pack P;
    for (int32_t r0 = 0; r0 < n_rows; r0 += 16) {
        const int nr = n_rows - r0 < 16 ? (int)(n_rows - r0) : 16;
        const uint8_t *xr[16];
        for (int r = 0; r < 16; r++) xr[r] = x + (size_t)(r0 + (r < nr ? r : nr - 1)) * xs;
        float *sr = s + (size_t)r0 * s_row;
        for (int32_t tb = 0; tb < n_tok; tb += nb > RK_CH ? RK_TB : n_tok) {
          const int32_t tend = nb > RK_CH && n_tok - tb > RK_TB ? tb + RK_TB : n_tok;
          for (int64_t b0 = 0; b0 < nb; b0 += RK_CH) {
            const int nbc = nb - b0 < RK_CH ? (int)(nb - b0) : RK_CH;
            const int last = b0 + nbc >= nb;
            rk_pack_chunk(xr, b0, nbc, &P);
            for (int32_t t = tb; t < tend;) {
                const uint8_t *yt[RK_T];
                __m512 acc[RK_T], accm[RK_T];
#define NB_RK_GROUP(T)                                                                            \
    do {                                                                                          \
        for (int u = 0; u < (T); u++) {                                                           \
            yt[u] = y + (size_t)(t + u) * ys;                                                     \
            acc[u] = b0 ? rl_load(sr + (size_t)(t + u) * s_tok, s_row, nr) : _mm512_setzero_ps(); \
            accm[u] = b0 ? _mm512_loadu_ps(mbuf + (size_t)(t - tb + u) * 16) : _mm512_setzero_ps(); \
        }                                                                                         \
        rk_tokens((T), yt, b0, nbc, &P, acc, accm);                                               \
        for (int u = 0; u < (T); u++) {                                                           \
            if (last) {                                                                           \
                rl_store(sr + (size_t)(t + u) * s_tok, s_row, nr, _mm512_sub_ps(acc[u], accm[u])); \
            } else {                                                                              \
                rl_store(sr + (size_t)(t + u) * s_tok, s_row, nr, acc[u]);                        \
                _mm512_storeu_ps(mbuf + (size_t)(t - tb + u) * 16, accm[u]);                      \
            }                                                                                     \
        }                                                                                         \
        t += (T);                                                                                 \
    } while (0)
                if (tend - t >= RK_T)
                    NB_RK_GROUP(RK_T);
                else
                    NB_RK_GROUP(1);
#undef NB_RK_GROUP
            }
          }
        }
    }
}

/* -------------------------------------------------- row-lane tiles: Q6_K
 *
 * Q6_K x Q8_K at this level, as Q4_K: per (row, token) and super-block the
 * exact isum = sum_k sc_k sum_{j in k} q_j p_j (q = u - 32, sub-blocks of
 * 16), then acc = fma(dy * d, (float)isum, acc). Tiles of 4 or more tokens
 * transpose 16 rows' 6-bit u once per chunk; per lane sum_k sc_k (sum u p)
 * (mullo) - 32 sum_k sc_k bsums_k (int16 pairs, madd). */
typedef struct r6_pack {
    _Alignas(64) uint8_t w[RK_CH][8][8][64]; /* [super-block][run of 32][group] 16 rows x 4 u8 */
    _Alignas(64) int32_t sc[RK_CH][16][16];  /* scale of sub-block k, lane = row */
    _Alignas(64) int32_t sp[RK_CH][8][16];   /* scales 2j, 2j+1 as int16 pairs */
    _Alignas(64) float d[RK_CH][16];
} r6_pack;

/* Run hc (h = hc / 4, c = hc % 4: values 128h + 32c .. + 31) of two rows. */
NB_ALWAYS_INLINE __m512i q6_run(const block_q6_K *xa, const block_q6_K *xb, int hc) {
    const int h = hc >> 2, c = hc & 3;
    const __m512i L = load_2x32(xa->ql + 64 * h + 32 * (c & 1), xb->ql + 64 * h + 32 * (c & 1));
    const __m512i H = load_2x32(xa->qh + 32 * h, xb->qh + 32 * h);
    const __m512i lo = _mm512_and_si512(_mm512_srli_epi16(L, 4 * (c >> 1)), _mm512_set1_epi8(0x0F));
    const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(H, 2 * c), _mm512_set1_epi8(3));
    return _mm512_or_si512(lo, _mm512_slli_epi16(hi, 4));
}

static void r6_pack_chunk(const uint8_t *const xr[16], int64_t b0, int nbc, r6_pack *P) {
    for (int b = 0; b < nbc; b++) {
        const size_t o = (size_t)(b0 + b) * sizeof(block_q6_K);
        for (int hc = 0; hc < 8; hc++) {
            __m512i z[8];
            NB_UNROLL
            for (int k = 0; k < 8; k++)
                z[k] = q6_run((const block_q6_K *)(xr[2 * k] + o), (const block_q6_K *)(xr[2 * k + 1] + o), hc);
            rl_transpose(z);
            NB_UNROLL
            for (int g = 0; g < 8; g++) _mm512_store_si512(P->w[b][hc][g], z[g]);
        }
        for (int r = 0; r < 16; r++) {
            const block_q6_K *xb = (const block_q6_K *)(xr[r] + o);
            for (int k = 0; k < 16; k++) P->sc[b][k][r] = xb->scales[k];
            for (int j = 0; j < 8; j++)
                P->sp[b][j][r] = (int32_t)((uint32_t)(uint16_t)xb->scales[2 * j] |
                                           ((uint32_t)(uint16_t)xb->scales[2 * j + 1] << 16));
            P->d[b][r] = h2f(xb->d);
        }
    }
}

NB_ALWAYS_INLINE void r6_tokens(int T, const uint8_t *const yt[RK_T], int64_t b0, int nbc,
                                const r6_pack *P, __m512 acc[RK_T]) {
    for (int b = 0; b < nbc; b++) {
        const block_q8_K *yb[RK_T];
        __m512i isum[RK_T];
        NB_UNROLL
        for (int t = 0; t < T; t++) {
            yb[t] = (const block_q8_K *)yt[t] + b0 + b;
            isum[t] = _mm512_setzero_si512();
        }
        for (int hc = 0; hc < 8; hc++) {
            __m512i w[8];
            NB_UNROLL
            for (int g = 0; g < 8; g++) w[g] = _mm512_load_si512(P->w[b][hc][g]);
            const __m512i sc0 = _mm512_load_si512(P->sc[b][2 * hc]);
            const __m512i sc1 = _mm512_load_si512(P->sc[b][2 * hc + 1]);
            NB_UNROLL
            for (int t = 0; t < T; t++) {
                __m512i i0 = _mm512_setzero_si512(), i1 = _mm512_setzero_si512();
                const int8_t *p = yb[t]->qs + 32 * hc;
                NB_UNROLL
                for (int g = 0; g < 4; g++) {
                    int32_t p0, p1;
                    memcpy(&p0, p + 4 * g, 4);
                    memcpy(&p1, p + 16 + 4 * g, 4);
                    i0 = dp4(i0, w[g], _mm512_set1_epi32(p0), 1);
                    i1 = dp4(i1, w[g + 4], _mm512_set1_epi32(p1), 1);
                }
                isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(i0, sc0),
                                                                     _mm512_mullo_epi32(i1, sc1)));
            }
        }
        const __m512 d = _mm512_load_ps(P->d[b]);
        NB_UNROLL
        for (int t = 0; t < T; t++) {
            const int16_t *bs = yb[t]->bsums;
            __m512i corr = _mm512_setzero_si512();
            NB_UNROLL
            for (int j = 0; j < 8; j++) {
                int32_t pair;
                memcpy(&pair, bs + 2 * j, 4);
                corr = _mm512_add_epi32(corr, _mm512_madd_epi16(_mm512_load_si512(P->sp[b][j]),
                                                                _mm512_set1_epi32(pair)));
            }
            const __m512i tot = _mm512_sub_epi32(isum[t], _mm512_slli_epi32(corr, 5));
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(yb[t]->d), d), _mm512_cvtepi32_ps(tot), acc[t]);
        }
    }
}

/* One row's integers, as the AVX-512 single kernel found them before. */
NB_ALWAYS_INLINE __m256i q6_K_ints8(const block_q6_K *x, const block_q8_K *y) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m512i c01 = counts2(0, 2), c23 = counts2(4, 6);
    __m512i sc16 = scales16_i8(x->scales);
    __m256i corr = bsums_dot(y->bsums, sc16);
    const int8_t *p = y->qs;
    __m512i sumi = _mm512_setzero_si512();
    for (int h = 0; h < 2; h++) {
        __m512i L = _mm512_loadu_si512(x->ql + 64 * h);
        __m512i H = dup256(load256(x->qh + 32 * h));
        __m512i z0 = _mm512_or_si512(_mm512_and_si512(L, m4), _mm512_slli_epi16(shift2_256(H, c01, m3), 4));
        __m512i z1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
                                     _mm512_slli_epi16(shift2_256(H, c23, m3), 4));
        __m512i t0 = _mm512_maddubs_epi16(z0, _mm512_loadu_si512(p));
        __m512i t1 = _mm512_maddubs_epi16(z1, _mm512_loadu_si512(p + 64));
        sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(t0, scales_4x16(sc16, 8 * h)));
        sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(t1, scales_4x16(sc16, 8 * h + 4)));
        p += 128;
    }
    return _mm256_sub_epi32(fold512(sumi), _mm256_slli_epi32(corr, 5));
}

void nb_vec_dot_q6_K_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    float acc = 0.0f;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) { /* two super-blocks' integers reduced together */
        __m256i h = _mm256_hadd_epi32(q6_K_ints8(&x[i], &y[i]), q6_K_ints8(&x[i + 1], &y[i + 1]));
        h = _mm256_hadd_epi32(h, h);
        const __m128i i2 = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        acc = rl_fma(y[i].d * h2f(x[i].d), _mm_cvtsi128_si32(i2), acc);
        acc = rl_fma(y[i + 1].d * h2f(x[i + 1].d), _mm_extract_epi32(i2, 1), acc);
    }
    if (i < nb) acc = rl_fma(y[i].d * h2f(x[i].d), hsum_epi32_256(q6_K_ints8(&x[i], &y[i])), acc);
    *s = acc;
}



void nb_vec_dot_mn_q6_K_vnni(int64_t n, int32_t n_rows, int32_t n_tok, float *s, size_t s_row,
                             size_t s_tok, const void *vx, size_t xs, const void *vy, size_t ys) {
    const uint8_t *x = vx, *y = vy;
    const int64_t nb = n / QK_K;
    if (n_tok < RK_T) { /* generation: a row at a time, one stream through memory */
        nb_dot_rows(nb_vec_dot_q6_K_avx512, n, n_rows, n_tok, s, s_row, s_tok, x, xs, y, ys);
        return;
    }
    r6_pack P;
    for (int32_t r0 = 0; r0 < n_rows; r0 += 16) {
        const int nr = n_rows - r0 < 16 ? (int)(n_rows - r0) : 16;
        const uint8_t *xr[16];
        for (int r = 0; r < 16; r++) xr[r] = x + (size_t)(r0 + (r < nr ? r : nr - 1)) * xs;
        float *sr = s + (size_t)r0 * s_row;
        for (int64_t b0 = 0; b0 < nb; b0 += RK_CH) {
            const int nbc = nb - b0 < RK_CH ? (int)(nb - b0) : RK_CH;
            r6_pack_chunk(xr, b0, nbc, &P);
            for (int32_t t = 0; t < n_tok;) {
                const uint8_t *yt[RK_T];
                __m512 acc[RK_T];
#define NB_R6_GROUP(T)                                                                            \
    do {                                                                                          \
        for (int u = 0; u < (T); u++) {                                                           \
            yt[u] = y + (size_t)(t + u) * ys;                                                     \
            acc[u] = b0 ? rl_load(sr + (size_t)(t + u) * s_tok, s_row, nr) : _mm512_setzero_ps(); \
        }                                                                                         \
        r6_tokens((T), yt, b0, nbc, &P, acc);                                                     \
        for (int u = 0; u < (T); u++) rl_store(sr + (size_t)(t + u) * s_tok, s_row, nr, acc[u]);  \
        t += (T);                                                                                 \
    } while (0)
                if (n_tok - t >= RK_T)
                    NB_R6_GROUP(RK_T);
                else
                    NB_R6_GROUP(1);
#undef NB_R6_GROUP
            }
        }
    }
}

#if defined(NB_DOT_POP_ATTRIBUTE)
#pragma clang attribute pop
#endif

#else
/* Not x86-64 (or NB_NO_SIMD): nothing here. ISO C wants a declaration. */
typedef int nb_dot_avx512_empty;
#endif
