/*
 * Dot products, AVX2 + FMA + F16C versions (x86-64). See dot.c for the
 * block layouts and the math; these compute the same integer sums per
 * block and differ only in the order of the float operations.
 *
 * The Makefile compiles this file with -mavx2 -mfma -mf16c; built without
 * those flags (e.g. all sources on one command line) the pragmas below turn
 * them on for this file alone. The dispatcher runs this code only on CPUs
 * that have the features.
 *
 * Tools used throughout:
 *  - _mm256_maddubs_epi16(u, s): u8 x s8 products, adjacent pairs added into
 *    int16. Exact here because the unsigned side is at most 63 (or 128 with
 *    a signed side of at most 127 in magnitude, the activation contract).
 *  - _mm256_madd_epi16(a, b): int16 x int16, pairs added into int32: used to
 *    apply sub-block scales and to widen to int32.
 */
#include "dot.h"

#if NB_DOT_X86

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#define NB_DOT_POP_ATTRIBUTE 1
#elif defined(__GNUC__)
#pragma GCC target("avx2,fma,f16c")
#endif
#endif

#include <immintrin.h>

/* ---------------------------------------------------------------- helpers */

static inline float hsum_ps256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float h2f(nb_half h) {
    return _cvtsh_ss(h);
}

/* dx * dy as a broadcast, converting each fp16 scale straight from memory
 * (8 bytes are read at each: the scale and the 6 bytes after it, still
 * inside its block; only lane 0 is used). */
static inline __m256 scale_xy(const nb_half *dx, const nb_half *dy) {
    __m128 a = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)dx));
    __m128 b = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)dy));
    return _mm256_broadcastss_ps(_mm_mul_ss(a, b));
}

/* 16 bytes of packed nibbles -> 32 bytes: the low nibbles (values 0..15 of
 * the block) then the high nibbles (values 16..31). */
static inline __m256i unpack_nibbles(const uint8_t *qs) {
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

/* 32 bits -> 32 bytes: byte j = 0x10 if bit j is set, else 0 (Q5 high bits). */
static inline __m256i q5_high_bits(const uint8_t qh[4]) {
    uint32_t v;
    memcpy(&v, qh, 4);
    const __m256i spread = _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL,
                                             0x0101010101010101LL, 0x0000000000000000LL);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), spread); /* byte j = byte j/8 */
    b = _mm256_cmpeq_epi8(_mm256_and_si256(b, bit), bit);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x10));
}

/* sum over pairs of u8 q x s8 p, into 8 int32 lanes. */
static inline __m256i dot_u8s8(__m256i q, __m256i p) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(q, p), _mm256_set1_epi16(1));
}

/* sum of (q - off) * p into 8 int32 lanes, q u8 (q*p pair sums in int16). */
static inline __m256i dot_u8s8_off(__m256i q, __m256i p, int off) {
    __m256i t = _mm256_maddubs_epi16(q, p);
    __m256i o = _mm256_maddubs_epi16(_mm256_set1_epi8((char)off), p);
    return _mm256_madd_epi16(_mm256_sub_epi16(t, o), _mm256_set1_epi16(1));
}

/* signed x signed, |x| <= 128 and |p| <= 127: |x| * (p with x's sign). */
static inline __m256i dot_s8s8(__m256i x, __m256i p) {
    return dot_u8s8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(p, x));
}

/* The IQ4_NL grid in both 128-bit lanes, for _mm256_shuffle_epi8. */
static inline __m256i iq4nl_table(void) {
    __m128i t = _mm_loadu_si128((const __m128i *)nb_kvalues_iq4nl);
    return _mm256_set_m128i(t, t);
}

/* ------------------------------------------------------------ plain types */

void nb_vec_dot_f32_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    float sum = hsum_ps256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) sum += x[i] * y[i];
    *s = sum;
}

static inline __m256 load_h8(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

void nb_vec_dot_f16_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(load_h8(x + i), load_h8(y + i), a0);
        a1 = _mm256_fmadd_ps(load_h8(x + i + 8), load_h8(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(load_h8(x + i + 16), load_h8(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(load_h8(x + i + 24), load_h8(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_h8(x + i), load_h8(y + i), a0);
    float sum = hsum_ps256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) sum += h2f(x[i]) * h2f(y[i]);
    *s = sum;
}

static inline __m256 load_bf8(const uint16_t *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

void nb_vec_dot_bf16_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(load_bf8(x + i), load_bf8(y + i), a0);
        a1 = _mm256_fmadd_ps(load_bf8(x + i + 8), load_bf8(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(load_bf8(x + i + 16), load_bf8(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(load_bf8(x + i + 24), load_bf8(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_bf8(x + i), load_bf8(y + i), a0);
    float sum = hsum_ps256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) sum += nb_dot_bf2f(x[i]) * nb_dot_bf2f(y[i]);
    *s = sum;
}

/* --------------------------------------------------- 32-value block types */

static inline __m256i load_p(const int8_t *qs) {
    return _mm256_loadu_si256((const __m256i *)qs);
}

void nb_vec_dot_q4_0_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK4_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t ib = 0;
    for (; ib + 2 <= nb; ib += 2) {
        __m256i i0 = dot_u8s8_off(unpack_nibbles(x[ib].qs), load_p(y[ib].qs), 8);
        __m256i i1 = dot_u8s8_off(unpack_nibbles(x[ib + 1].qs), load_p(y[ib + 1].qs), 8);
        __m256 d0 = scale_xy(&x[ib].d, &y[ib].d);
        __m256 d1 = scale_xy(&x[ib + 1].d, &y[ib + 1].d);
        acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(i0), acc0);
        acc1 = _mm256_fmadd_ps(d1, _mm256_cvtepi32_ps(i1), acc1);
    }
    for (; ib < nb; ib++) {
        __m256i i0 = dot_u8s8_off(unpack_nibbles(x[ib].qs), load_p(y[ib].qs), 8);
        __m256 d0 = scale_xy(&x[ib].d, &y[ib].d);
        acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(i0), acc0);
    }
    *s = hsum_ps256(_mm256_add_ps(acc0, acc1));
}

void nb_vec_dot_q4_1_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    const int64_t nb = n / QK4_1;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f;
    for (int64_t ib = 0; ib < nb; ib++) {
        __m256i i0 = dot_u8s8(unpack_nibbles(x[ib].qs), load_p(y[ib].qs));
        __m256 d = scale_xy(&x[ib].d, &y[ib].d);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(i0), acc);
        summ += h2f(x[ib].m) * h2f(y[ib].s);
    }
    *s = hsum_ps256(acc) + summ;
}

void nb_vec_dot_q5_0_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK5_0;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < nb; ib++) {
        __m256i q = _mm256_or_si256(unpack_nibbles(x[ib].qs), q5_high_bits(x[ib].qh));
        __m256i i0 = dot_u8s8_off(q, load_p(y[ib].qs), 16);
        __m256 d = scale_xy(&x[ib].d, &y[ib].d);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(i0), acc);
    }
    *s = hsum_ps256(acc);
}

void nb_vec_dot_q5_1_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    const int64_t nb = n / QK5_1;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f;
    for (int64_t ib = 0; ib < nb; ib++) {
        __m256i q = _mm256_or_si256(unpack_nibbles(x[ib].qs), q5_high_bits(x[ib].qh));
        __m256i i0 = dot_u8s8(q, load_p(y[ib].qs));
        __m256 d = scale_xy(&x[ib].d, &y[ib].d);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(i0), acc);
        summ += h2f(x[ib].m) * h2f(y[ib].s);
    }
    *s = hsum_ps256(acc) + summ;
}

void nb_vec_dot_q8_0_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK8_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t ib = 0;
    for (; ib + 2 <= nb; ib += 2) {
        __m256i i0 = dot_s8s8(load_p(x[ib].qs), load_p(y[ib].qs));
        __m256i i1 = dot_s8s8(load_p(x[ib + 1].qs), load_p(y[ib + 1].qs));
        __m256 d0 = scale_xy(&x[ib].d, &y[ib].d);
        __m256 d1 = scale_xy(&x[ib + 1].d, &y[ib + 1].d);
        acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(i0), acc0);
        acc1 = _mm256_fmadd_ps(d1, _mm256_cvtepi32_ps(i1), acc1);
    }
    for (; ib < nb; ib++) {
        __m256i i0 = dot_s8s8(load_p(x[ib].qs), load_p(y[ib].qs));
        __m256 d0 = scale_xy(&x[ib].d, &y[ib].d);
        acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(i0), acc0);
    }
    *s = hsum_ps256(_mm256_add_ps(acc0, acc1));
}

void nb_vec_dot_iq4_nl_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK4_NL;
    const __m256i grid = iq4nl_table();
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t ib = 0;
    for (; ib + 2 <= nb; ib += 2) {
        __m256i v0 = _mm256_shuffle_epi8(grid, unpack_nibbles(x[ib].qs));
        __m256i v1 = _mm256_shuffle_epi8(grid, unpack_nibbles(x[ib + 1].qs));
        __m256i i0 = dot_s8s8(v0, load_p(y[ib].qs));
        __m256i i1 = dot_s8s8(v1, load_p(y[ib + 1].qs));
        __m256 d0 = scale_xy(&x[ib].d, &y[ib].d);
        __m256 d1 = scale_xy(&x[ib + 1].d, &y[ib + 1].d);
        acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(i0), acc0);
        acc1 = _mm256_fmadd_ps(d1, _mm256_cvtepi32_ps(i1), acc1);
    }
    for (; ib < nb; ib++) {
        __m256i v0 = _mm256_shuffle_epi8(grid, unpack_nibbles(x[ib].qs));
        __m256i i0 = dot_s8s8(v0, load_p(y[ib].qs));
        __m256 d0 = scale_xy(&x[ib].d, &y[ib].d);
        acc0 = _mm256_fmadd_ps(d0, _mm256_cvtepi32_ps(i0), acc0);
    }
    *s = hsum_ps256(_mm256_add_ps(acc0, acc1));
}

/* -------------------------------------------------- 256-value super-blocks */

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

/* Scales of sub-blocks k and k+1 (of 16 values each) for one 32-byte
 * maddubs result: int16 lanes 0..7 get sc[k], lanes 8..15 sc[k+1]. `idx`
 * starts at pair_index0() and steps by pair_step() from pair to pair; sc8
 * holds the 16 int8 scales. */
static inline __m128i pair_index0(void) {
    return _mm_set_epi8(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
}
static inline __m128i pair_step(void) {
    return _mm_set1_epi8(2);
}
static inline __m256i scale_pair(__m128i sc8, __m128i idx) {
    return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, idx));
}

/* sum_k sc_k * bsums_k over the 16 sub-blocks of 16 (sc8: 16 int8). */
static inline __m256i bsums_dot(const int16_t *bsums, __m128i sc8) {
    __m256i b = _mm256_loadu_si256((const __m256i *)bsums);
    return _mm256_madd_epi16(b, _mm256_cvtepi8_epi16(sc8));
}

void nb_vec_dot_q2_K_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        /* scales: low nibbles = scale, high nibbles = min */
        __m128i sc8 = _mm_loadu_si128((const __m128i *)x[i].scales);
        __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(0x0F)));
        __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        __m256i summ = _mm256_madd_epi16(bs, mins16);
        const __m128i scl = _mm_and_si128(sc8, _mm_set1_epi8(0x0F));
        __m128i idx = pair_index0();
        const int8_t *p = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i q2 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int sh = 0; sh < 4; sh++) {
                __m256i q = _mm256_and_si256(q2, m3);
                q2 = _mm256_srli_epi16(q2, 2);
                __m256i t = _mm256_maddubs_epi16(q, load_p(p));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(t, scale_pair(scl, idx)));
                idx = _mm_add_epi8(idx, pair_step());
                p += 32;
            }
        }
        __m256 dall = _mm256_set1_ps(y[i].d * h2f(x[i].d));
        __m256 dmin = _mm256_set1_ps(y[i].d * h2f(x[i].dmin));
        acc = _mm256_fmadd_ps(dall, _mm256_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(dmin, _mm256_cvtepi32_ps(summ), accm);
    }
    *s = hsum_ps256(_mm256_sub_ps(acc, accm));
}

void nb_vec_dot_q3_K_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i m4 = _mm256_set1_epi8(4);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m128i sc8 = q3k_scales_v(x[i].scales);
        __m128i idx = pair_index0();
        /* q = u - 4 with u = low2 | high << 2 in 0..7:
         * sum_k sc_k sum_j q_j p_j = sum_k sc_k sum_j u_j p_j - 4 sum_k sc_k bsums_k */
        __m256i corr = bsums_dot(y[i].bsums, sc8);
        __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        const int8_t *p = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i q3 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int sh = 0; sh < 4; sh++) {
                /* hmask bit (4h + sh) -> 4 in each byte; hm is shifted right
                 * by one after each use, so the bit is always at bit 0 */
                __m256i hi = _mm256_and_si256(_mm256_slli_epi16(hm, 2), m4);
                hm = _mm256_srli_epi16(hm, 1);
                __m256i u = _mm256_or_si256(_mm256_and_si256(q3, m3), hi);
                q3 = _mm256_srli_epi16(q3, 2);
                __m256i t = _mm256_maddubs_epi16(u, load_p(p));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(t, scale_pair(sc8, idx)));
                idx = _mm_add_epi8(idx, pair_step());
                p += 32;
            }
        }
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(corr, 2));
        __m256 d = _mm256_set1_ps(y[i].d * h2f(x[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_ps256(acc);
}

/* sum_k m_k * (bsums[2k] + bsums[2k+1]) as 8 int32 lanes to add up. */
static inline __m256i k4_mins_dot(const int16_t *bsums, const uint8_t m[8]) {
    __m256i b = _mm256_loadu_si256((const __m256i *)bsums);
    /* int16 lane 2k and 2k+1 both get m_k */
    __m128i m8 = _mm_loadl_epi64((const __m128i *)m);
    __m128i mm = _mm_unpacklo_epi8(m8, m8); /* m0 m0 m1 m1 ... m7 m7 */
    return _mm256_madd_epi16(b, _mm256_cvtepu8_epi16(mm));
}

void nb_vec_dot_q4_K_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8], m[8];
        nb_dot_k4_unpack(x[i].scales, sc, m);
        __m256i summ = k4_mins_dot(y[i].bsums, m);
        const int8_t *p = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i q4 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            __m256i lo = _mm256_and_si256(q4, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), m4);
            __m256i t0 = _mm256_maddubs_epi16(lo, load_p(p));
            __m256i t1 = _mm256_maddubs_epi16(hi, load_p(p + 32));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(t0, _mm256_set1_epi16(sc[2 * c])));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(t1, _mm256_set1_epi16(sc[2 * c + 1])));
            p += 64;
        }
        __m256 d = _mm256_set1_ps(y[i].d * h2f(x[i].d));
        __m256 dmin = _mm256_set1_ps(y[i].d * h2f(x[i].dmin));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(dmin, _mm256_cvtepi32_ps(summ), accm);
    }
    *s = hsum_ps256(_mm256_sub_ps(acc, accm));
}

void nb_vec_dot_q5_K_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m16 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8], m[8];
        nb_dot_k4_unpack(x[i].scales, sc, m);
        __m256i summ = k4_mins_dot(y[i].bsums, m);
        __m256i qh = _mm256_loadu_si256((const __m256i *)x[i].qh);
        const int8_t *p = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            __m256i q4 = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            /* bit 2c of qh -> 16 for the low nibbles, bit 2c+1 for the high */
            __m256i lo = _mm256_or_si256(_mm256_and_si256(q4, m4),
                                         _mm256_and_si256(_mm256_slli_epi16(qh, 4), m16));
            __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q4, 4), m4),
                                         _mm256_and_si256(_mm256_slli_epi16(qh, 3), m16));
            qh = _mm256_srli_epi16(qh, 2);
            __m256i t0 = _mm256_maddubs_epi16(lo, load_p(p));
            __m256i t1 = _mm256_maddubs_epi16(hi, load_p(p + 32));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(t0, _mm256_set1_epi16(sc[2 * c])));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(t1, _mm256_set1_epi16(sc[2 * c + 1])));
            p += 64;
        }
        __m256 d = _mm256_set1_ps(y[i].d * h2f(x[i].d));
        __m256 dmin = _mm256_set1_ps(y[i].d * h2f(x[i].dmin));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(dmin, _mm256_cvtepi32_ps(summ), accm);
    }
    *s = hsum_ps256(_mm256_sub_ps(acc, accm));
}

void nb_vec_dot_q6_K_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)x[i].scales);
        __m128i idx = pair_index0();
        /* q = u - 32, u = 6 bits in 0..63:
         * sum_k sc_k sum_j q_j p_j = sum_k sc_k sum_j u_j p_j - 32 sum_k sc_k bsums_k */
        __m256i corr = bsums_dot(y[i].bsums, sc8);
        const int8_t *p = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            __m256i u[4];
            u[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
            u[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
            u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
            u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
            for (int c = 0; c < 4; c++) {
                __m256i t = _mm256_maddubs_epi16(u[c], load_p(p));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(t, scale_pair(sc8, idx)));
                idx = _mm_add_epi8(idx, pair_step());
                p += 32;
            }
        }
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(corr, 5));
        __m256 d = _mm256_set1_ps(y[i].d * h2f(x[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_ps256(acc);
}

void nb_vec_dot_iq4_xs_avx2(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256i grid = iq4nl_table();
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const int8_t *p = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int k = 0; k < 8; k++) {
            __m256i v = _mm256_shuffle_epi8(grid, unpack_nibbles(x[i].qs + 16 * k));
            __m256i t = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(load_p(p), v));
            sumi = _mm256_add_epi32(
                sumi, _mm256_madd_epi16(t, _mm256_set1_epi16((short)nb_dot_iq4xs_scale(&x[i], k))));
            p += 32;
        }
        __m256 d = _mm256_set1_ps(y[i].d * h2f(x[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_ps256(acc);
}

/* ------------------------------------------- rows x tokens (matmul tiles)
 *
 * Q4_1 x Q8_1 for a tile of weight rows and activation rows: two rows and
 * four tokens at a time, so that each weight block is unpacked once for
 * four tokens and each activation block loaded once for two rows. Every
 * (row, token) pair goes through the operations of nb_vec_dot_q4_1_avx2,
 * in the same order (one 8-lane accumulator over the blocks, summ a
 * float sum over the blocks, then hsum + summ); the scale products dx*dy
 * and m*s are exact (products of two fp16 values), however formed. The
 * pairs outside whole 2 x 4 groups call nb_vec_dot_q4_1_avx2 itself. */
static void q4_1_tile_2x4(int64_t nb, float *s, size_t s_row, size_t s_tok, const block_q4_1 *x0,
                          const block_q4_1 *x1, const uint8_t *y, size_t y_stride) {
    const block_q8_1 *y0 = (const block_q8_1 *)y, *y1 = (const block_q8_1 *)(y + y_stride),
                     *y2 = (const block_q8_1 *)(y + 2 * y_stride),
                     *y3 = (const block_q8_1 *)(y + 3 * y_stride);
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
    __m256 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    __m128 sm0 = _mm_setzero_ps(), sm1 = sm0; /* summ of row 0 / row 1, lane = token */
    for (int64_t ib = 0; ib < nb; ib++) {
        const __m256i q0 = unpack_nibbles(x0[ib].qs), q1 = unpack_nibbles(x1[ib].qs);
        const __m256 dx0 = _mm256_set1_ps(h2f(x0[ib].d)), dx1 = _mm256_set1_ps(h2f(x1[ib].d));
        const __m128i dys = _mm_setr_epi16((short)y0[ib].d, (short)y1[ib].d, (short)y2[ib].d,
                                           (short)y3[ib].d, (short)y0[ib].s, (short)y1[ib].s,
                                           (short)y2[ib].s, (short)y3[ib].s);
        const __m256 dsy = _mm256_cvtph_ps(dys); /* dy of tokens 0..3, then their s */
        const __m128 sy = _mm256_extractf128_ps(dsy, 1);
        sm0 = _mm_add_ps(sm0, _mm_mul_ps(_mm_set1_ps(h2f(x0[ib].m)), sy));
        sm1 = _mm_add_ps(sm1, _mm_mul_ps(_mm_set1_ps(h2f(x1[ib].m)), sy));
#define NB_Q41_TOKEN(T, YT)                                                                      \
    do {                                                                                          \
        const __m256i p = load_p(YT[ib].qs);                                                      \
        const __m256 dy = _mm256_permutevar8x32_ps(dsy, _mm256_set1_epi32(T));                    \
        a0##T = _mm256_fmadd_ps(_mm256_mul_ps(dx0, dy), _mm256_cvtepi32_ps(dot_u8s8(q0, p)), a0##T); \
        a1##T = _mm256_fmadd_ps(_mm256_mul_ps(dx1, dy), _mm256_cvtepi32_ps(dot_u8s8(q1, p)), a1##T); \
    } while (0)
        NB_Q41_TOKEN(0, y0);
        NB_Q41_TOKEN(1, y1);
        NB_Q41_TOKEN(2, y2);
        NB_Q41_TOKEN(3, y3);
#undef NB_Q41_TOKEN
    }
    float m0[4], m1[4];
    _mm_storeu_ps(m0, sm0);
    _mm_storeu_ps(m1, sm1);
    s[0] = hsum_ps256(a00) + m0[0];
    s[s_tok] = hsum_ps256(a01) + m0[1];
    s[2 * s_tok] = hsum_ps256(a02) + m0[2];
    s[3 * s_tok] = hsum_ps256(a03) + m0[3];
    s[s_row] = hsum_ps256(a10) + m1[0];
    s[s_row + s_tok] = hsum_ps256(a11) + m1[1];
    s[s_row + 2 * s_tok] = hsum_ps256(a12) + m1[2];
    s[s_row + 3 * s_tok] = hsum_ps256(a13) + m1[3];
}

/* Four rows, one token (generation): each activation block loaded and its
 * scales converted once for the four rows. */
static void q4_1_tile_4x1(int64_t nb, float *s, size_t s_row, const uint8_t *x, size_t x_stride,
                          const block_q8_1 *y) {
    const block_q4_1 *x0 = (const block_q4_1 *)x, *x1 = (const block_q4_1 *)(x + x_stride),
                     *x2 = (const block_q4_1 *)(x + 2 * x_stride),
                     *x3 = (const block_q4_1 *)(x + 3 * x_stride);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m128 sm = _mm_setzero_ps(); /* summ, lane = row */
    for (int64_t ib = 0; ib < nb; ib++) {
        const __m256i p = load_p(y[ib].qs);
        const __m256 dxm = _mm256_cvtph_ps(_mm_setr_epi16(
            (short)x0[ib].d, (short)x1[ib].d, (short)x2[ib].d, (short)x3[ib].d, (short)x0[ib].m,
            (short)x1[ib].m, (short)x2[ib].m, (short)x3[ib].m)); /* dx of rows 0..3, then m */
        const __m128 dsy = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)y[ib].d | ((uint32_t)y[ib].s << 16))));
        const __m256 dy = _mm256_broadcastss_ps(dsy);
        sm = _mm_add_ps(sm, _mm_mul_ps(_mm256_extractf128_ps(dxm, 1), _mm_shuffle_ps(dsy, dsy, 0x55)));
#define NB_Q41_ROW(R, XR)                                                                        \
    do {                                                                                          \
        const __m256 d = _mm256_mul_ps(_mm256_permutevar8x32_ps(dxm, _mm256_set1_epi32(R)), dy);  \
        a##R = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_u8s8(unpack_nibbles(XR[ib].qs), p)), a##R); \
    } while (0)
        NB_Q41_ROW(0, x0);
        NB_Q41_ROW(1, x1);
        NB_Q41_ROW(2, x2);
        NB_Q41_ROW(3, x3);
#undef NB_Q41_ROW
    }
    float m[4];
    _mm_storeu_ps(m, sm);
    s[0] = hsum_ps256(a0) + m[0];
    s[s_row] = hsum_ps256(a1) + m[1];
    s[2 * s_row] = hsum_ps256(a2) + m[2];
    s[3 * s_row] = hsum_ps256(a3) + m[3];
}

void nb_vec_dot_mn_q4_1_avx2(int64_t n, int32_t n_rows, int32_t n_tok, float *s, size_t s_row,
                             size_t s_tok, const void *vx, size_t x_stride, const void *vy,
                             size_t y_stride) {
    const uint8_t *x = vx, *y = vy;
    int32_t t = 0;
    for (; t + 4 <= n_tok; t += 4) {
        int32_t r = 0;
        for (; r + 2 <= n_rows; r += 2)
            q4_1_tile_2x4(n / QK4_1, s + (size_t)r * s_row + (size_t)t * s_tok, s_row, s_tok,
                          (const block_q4_1 *)(x + (size_t)r * x_stride),
                          (const block_q4_1 *)(x + (size_t)(r + 1) * x_stride),
                          y + (size_t)t * y_stride, y_stride);
        for (; r < n_rows; r++)
            for (int32_t u = t; u < t + 4; u++)
                nb_vec_dot_q4_1_avx2(n, s + (size_t)r * s_row + (size_t)u * s_tok,
                                     x + (size_t)r * x_stride, y + (size_t)u * y_stride);
    }
    for (; t < n_tok; t++) {
        int32_t r = 0;
        for (; r + 4 <= n_rows; r += 4)
            q4_1_tile_4x1(n / QK4_1, s + (size_t)r * s_row + (size_t)t * s_tok, s_row,
                          x + (size_t)r * x_stride, x_stride,
                          (const block_q8_1 *)(y + (size_t)t * y_stride));
        for (; r < n_rows; r++)
            nb_vec_dot_q4_1_avx2(n, s + (size_t)r * s_row + (size_t)t * s_tok,
                                 x + (size_t)r * x_stride, y + (size_t)t * y_stride);
    }
}

/* ------------------------------------------------- activation quantizers
 *
 * Q8_0 / Q8_1 as ggml-cpu's AVX2 quantize_row_q8_0 / _q8_1 (the bytes
 * nb_from_float_q8_0 / _q8_1 in act.c describe and reproduce): block
 * max |x| (max is exact in any order), d = amax / 127, id = 127 / amax,
 * round half to even, saturating packs; Q8_1 also s = fp16(d * sum q). */
static inline __m256i q8_block(const float *x, float *amax_out, __m256i *sum) {
    __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
    __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_andnot_ps(sign, v0);
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v1));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v2));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v3));
    __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    *amax_out = amax;
    const __m256 mul = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    if (sum) *sum = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    i0 = _mm256_packs_epi32(i0, i1);
    i2 = _mm256_packs_epi32(i2, i3);
    i0 = _mm256_packs_epi16(i0, i2);
    return _mm256_permutevar8x32_epi32(i0, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static inline int32_t hsum_epi32_256(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

void nb_quantize_q8_0_avx2(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        float amax;
        __m256i q = q8_block(x, &amax, NULL);
        y[i].d = nb_f32_to_fp16(amax / 127.0f);
        _mm256_storeu_si256((__m256i *)y[i].qs, q);
    }
}

void nb_quantize_q8_1_avx2(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        float amax;
        __m256i sum;
        __m256i q = q8_block(x, &amax, &sum);
        const float d = amax / 127.0f;
        y[i].d = nb_f32_to_fp16(d);
        y[i].s = nb_f32_to_fp16(d * (float)hsum_epi32_256(sum));
        _mm256_storeu_si256((__m256i *)y[i].qs, q);
    }
}

#if defined(NB_DOT_POP_ATTRIBUTE)
#pragma clang attribute pop
#endif

#else
/* Not x86-64 (or NB_NO_SIMD): nothing here. ISO C wants a declaration. */
typedef int nb_dot_avx2_empty;
#endif
