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

void nb_vec_dot_q4_0_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK4_0;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t ib = 0;
    for (; ib + 4 <= nb; ib += 4) {
        __m512i i0 = dot_u8s8_off(nibbles_2blocks(x[ib].qs, x[ib + 1].qs),
                                  load_2x32(y[ib].qs, y[ib + 1].qs), 8);
        __m512i i1 = dot_u8s8_off(nibbles_2blocks(x[ib + 2].qs, x[ib + 3].qs),
                                  load_2x32(y[ib + 2].qs, y[ib + 3].qs), 8);
        __m512 d0 = two_scales(&x[ib].d, &y[ib].d, &x[ib + 1].d, &y[ib + 1].d);
        __m512 d1 = two_scales(&x[ib + 2].d, &y[ib + 2].d, &x[ib + 3].d, &y[ib + 3].d);
        acc0 = _mm512_fmadd_ps(d0, _mm512_cvtepi32_ps(i0), acc0);
        acc1 = _mm512_fmadd_ps(d1, _mm512_cvtepi32_ps(i1), acc1);
    }
    for (; ib + 2 <= nb; ib += 2) {
        __m512i i0 = dot_u8s8_off(nibbles_2blocks(x[ib].qs, x[ib + 1].qs),
                                  load_2x32(y[ib].qs, y[ib + 1].qs), 8);
        __m512 d0 = two_scales(&x[ib].d, &y[ib].d, &x[ib + 1].d, &y[ib + 1].d);
        acc0 = _mm512_fmadd_ps(d0, _mm512_cvtepi32_ps(i0), acc0);
    }
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    if (ib < nb) {
        __m256i i0 = dot256_u8s8_off(nibbles_1block(x[ib].qs), load256(y[ib].qs), 8);
        sum += h2f(x[ib].d) * h2f(y[ib].d) * hsum_ps256(_mm256_cvtepi32_ps(i0));
    }
    *s = sum;
}

/* Q4_1: the AVX2 version (ggml's order, one block per step) is faster
 * here than two blocks per 512-bit register, and it is what the matmul
 * tiles (nb_vec_dot_mn_q4_1_avx2) compute at this level too. */
void nb_vec_dot_q4_1_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    nb_vec_dot_q4_1_avx2(n, s, vx, vy);
}

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

void nb_vec_dot_q8_0_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK8_0;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t ib = 0;
    for (; ib + 4 <= nb; ib += 4) {
        __m512i i0 = dot_s8s8(load_2x32(x[ib].qs, x[ib + 1].qs), load_2x32(y[ib].qs, y[ib + 1].qs));
        __m512i i1 = dot_s8s8(load_2x32(x[ib + 2].qs, x[ib + 3].qs),
                              load_2x32(y[ib + 2].qs, y[ib + 3].qs));
        __m512 d0 = two_scales(&x[ib].d, &y[ib].d, &x[ib + 1].d, &y[ib + 1].d);
        __m512 d1 = two_scales(&x[ib + 2].d, &y[ib + 2].d, &x[ib + 3].d, &y[ib + 3].d);
        acc0 = _mm512_fmadd_ps(d0, _mm512_cvtepi32_ps(i0), acc0);
        acc1 = _mm512_fmadd_ps(d1, _mm512_cvtepi32_ps(i1), acc1);
    }
    for (; ib + 2 <= nb; ib += 2) {
        __m512i i0 = dot_s8s8(load_2x32(x[ib].qs, x[ib + 1].qs), load_2x32(y[ib].qs, y[ib + 1].qs));
        __m512 d0 = two_scales(&x[ib].d, &y[ib].d, &x[ib + 1].d, &y[ib + 1].d);
        acc0 = _mm512_fmadd_ps(d0, _mm512_cvtepi32_ps(i0), acc0);
    }
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    if (ib < nb) {
        __m256i i0 = dot256_s8s8(load256(x[ib].qs), load256(y[ib].qs));
        sum += h2f(x[ib].d) * h2f(y[ib].d) * hsum_ps256(_mm256_cvtepi32_ps(i0));
    }
    *s = sum;
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

void nb_vec_dot_q4_K_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    __m512 acc = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8];
        __m256i summ = k4_prepare(x[i].scales, y[i].bsums, sc);
        /* int16 lanes 0..15 get sc[2c], 16..31 sc[2c+1] */
        const __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
        __m512i idx = two_epi16(0, 1);
        const int8_t *p = y[i].qs;
        __m512i sumi = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            __m512i z = nibbles_lo_hi(load256(x[i].qs + 32 * c)); /* values 64c + 0..63 */
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

void nb_vec_dot_q6_K_avx512(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m512i c01 = counts2(0, 2), c23 = counts2(4, 6);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        __m512i sc16 = scales16_i8(x[i].scales);
        /* q = u - 32: subtract 32 * sum_k sc_k bsums_k */
        __m256i corr = bsums_dot(y[i].bsums, sc16);
        const int8_t *p = y[i].qs;
        __m512i sumi = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m512i L = _mm512_loadu_si512(x[i].ql + 64 * h);      /* [ql0..31 | ql32..63] */
            __m512i H = dup256(load256(x[i].qh + 32 * h));
            __m512i z0 = _mm512_or_si512(_mm512_and_si512(L, m4),
                                         _mm512_slli_epi16(shift2_256(H, c01, m3), 4));
            __m512i z1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
                                         _mm512_slli_epi16(shift2_256(H, c23, m3), 4));
            __m512i t0 = _mm512_maddubs_epi16(z0, _mm512_loadu_si512(p));
            __m512i t1 = _mm512_maddubs_epi16(z1, _mm512_loadu_si512(p + 64));
            sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(t0, scales_4x16(sc16, 8 * h)));
            sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(t1, scales_4x16(sc16, 8 * h + 4)));
            p += 128;
        }
        __m256i tot = _mm256_sub_epi32(fold512(sumi), _mm256_slli_epi32(corr, 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(x[i].d)), _mm256_cvtepi32_ps(tot), acc);
    }
    *s = hsum_ps256(acc);
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

#if defined(NB_DOT_POP_ATTRIBUTE)
#pragma clang attribute pop
#endif

#else
/* Not x86-64 (or NB_NO_SIMD): nothing here. ISO C wants a declaration. */
typedef int nb_dot_avx512_empty;
#endif
