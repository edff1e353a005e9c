/*
 * Dot products, reference versions in plain C, and the dispatchers.
 *
 * nb_vec_dot_T(n, s, x, y): *s = sum_i x_i * y_i over a row of n values,
 * x a row of weight blocks of type T, y a row of activation blocks of the
 * partner type (see dot.h). The math follows ggml's vec_dot: per block an
 * exact integer dot product of the quants, then the scales in float. So
 * for Q4_0 x Q8_0, with x_i = dx*(q_i - 8) and y_i = dy*p_i:
 *
 *   sum_i x_i y_i = dx*dy * sum_i (q_i - 8) p_i
 *
 * where the sum is done in int (exact) and only the two multiplications
 * and the accumulation over blocks round. These versions are the reference
 * that the SIMD versions are tested against; they are written to be read.
 */
#include "dot.h"

#include <stddef.h>

#if defined(__STDC_NO_ATOMICS__)
#define NB_ATOMIC
#define nb_atomic_load(p) (*(p))
#define nb_atomic_store(p, v) (*(p) = (v))
#else
#include <stdatomic.h>
#define NB_ATOMIC _Atomic
#define nb_atomic_load(p) atomic_load_explicit((p), memory_order_acquire)
#define nb_atomic_store(p, v) atomic_store_explicit((p), (v), memory_order_release)
#endif

#if NB_DOT_X86
#include <cpuid.h>
#endif

/* ------------------------------------------------------------ plain types */

/* F32 x F32: products in float, summed in double (as ggml's plain C path). */
void nb_vec_dot_f32_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}

/* F16 x F16: each product of two halves is exact in float (11 + 11 bits of
 * mantissa); summed in double. */
void nb_vec_dot_f16_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(nb_dot_h2f(x[i]) * nb_dot_h2f(y[i]));
    *s = (float)sum;
}

/* BF16 x BF16: products exact in float (8 + 8 bits), summed in double. */
void nb_vec_dot_bf16_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)(nb_dot_bf2f(x[i]) * nb_dot_bf2f(y[i]));
    *s = (float)sum;
}

/* --------------------------------------------------- 32-value block types */

/* Q4_0 x Q8_0. Block: d (fp16), qs[16]; value j < 16 is the low nibble of
 * qs[j], value j >= 16 the high nibble of qs[j-16]; x_j = d*(q_j - 8).
 * Q8_0: d (fp16), qs[32] int8; y_j = d*p_j.
 *   sum_j dx*(q_j-8) * dy*p_j = dx*dy * sum_j (q_j - 8)*p_j              */
void nb_vec_dot_q4_0_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK4_0;
    float sum = 0.0f;
    for (int64_t ib = 0; ib < nb; ib++) {
        int sumi = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            sumi += ((x[ib].qs[j] & 0xF) - 8) * y[ib].qs[j];
            sumi += ((x[ib].qs[j] >> 4) - 8) * y[ib].qs[j + QK4_0 / 2];
        }
        sum += nb_dot_h2f(x[ib].d) * nb_dot_h2f(y[ib].d) * (float)sumi;
    }
    *s = sum;
}

/* Q4_1 x Q8_1. Block: d, m (fp16), qs[16] (nibbles as Q4_0); x_j = d*q_j + m.
 * Q8_1: d, s (fp16) with s = d * sum_j p_j, qs[32]; y_j = d*p_j.
 *   sum_j (dx*q_j + m) * dy*p_j = dx*dy * sum_j q_j p_j + m * (dy * sum_j p_j)
 *                               = dx*dy * sumi + m * s_y                  */
void nb_vec_dot_q4_1_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    const int64_t nb = n / QK4_1;
    float sum = 0.0f;
    for (int64_t ib = 0; ib < nb; ib++) {
        int sumi = 0;
        for (int j = 0; j < QK4_1 / 2; j++) {
            sumi += (x[ib].qs[j] & 0xF) * y[ib].qs[j];
            sumi += (x[ib].qs[j] >> 4) * y[ib].qs[j + QK4_1 / 2];
        }
        sum += nb_dot_h2f(x[ib].d) * nb_dot_h2f(y[ib].d) * (float)sumi +
               nb_dot_h2f(x[ib].m) * nb_dot_h2f(y[ib].s);
    }
    *s = sum;
}

/* The fifth bit of value j (0..31) of a Q5 block: bit j of qh (a LE u32). */
static inline int q5_high_bit(uint32_t qh, int j) {
    return (int)((qh >> j) & 1);
}

/* Q5_0 x Q8_0. Block: d, qh[4], qs[16]; q_j = nibble (as Q4_0) | bit j of
 * qh << 4, 0..31; x_j = d*(q_j - 16).
 *   sum_j x_j y_j = dx*dy * sum_j (q_j - 16)*p_j                           */
void nb_vec_dot_q5_0_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK5_0;
    float sum = 0.0f;
    for (int64_t ib = 0; ib < nb; ib++) {
        const uint32_t qh = nb_load_u32(x[ib].qh);
        int sumi = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            int q0 = (x[ib].qs[j] & 0xF) | (q5_high_bit(qh, j) << 4);
            int q1 = (x[ib].qs[j] >> 4) | (q5_high_bit(qh, j + 16) << 4);
            sumi += (q0 - 16) * y[ib].qs[j] + (q1 - 16) * y[ib].qs[j + QK5_0 / 2];
        }
        sum += nb_dot_h2f(x[ib].d) * nb_dot_h2f(y[ib].d) * (float)sumi;
    }
    *s = sum;
}

/* Q5_1 x Q8_1. Block: d, m, qh[4], qs[16]; x_j = d*q_j + m, q_j 0..31.
 *   sum_j x_j y_j = dx*dy * sum_j q_j p_j + m * s_y                        */
void nb_vec_dot_q5_1_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    const int64_t nb = n / QK5_1;
    float sum = 0.0f;
    for (int64_t ib = 0; ib < nb; ib++) {
        const uint32_t qh = nb_load_u32(x[ib].qh);
        int sumi = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            int q0 = (x[ib].qs[j] & 0xF) | (q5_high_bit(qh, j) << 4);
            int q1 = (x[ib].qs[j] >> 4) | (q5_high_bit(qh, j + 16) << 4);
            sumi += q0 * y[ib].qs[j] + q1 * y[ib].qs[j + QK5_1 / 2];
        }
        sum += nb_dot_h2f(x[ib].d) * nb_dot_h2f(y[ib].d) * (float)sumi +
               nb_dot_h2f(x[ib].m) * nb_dot_h2f(y[ib].s);
    }
    *s = sum;
}

/* Q8_0 x Q8_0. x_j = dx*q_j, y_j = dy*p_j: sum = dx*dy * sum_j q_j p_j.  */
void nb_vec_dot_q8_0_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK8_0;
    float sum = 0.0f;
    for (int64_t ib = 0; ib < nb; ib++) {
        int sumi = 0;
        for (int j = 0; j < QK8_0; j++) sumi += x[ib].qs[j] * y[ib].qs[j];
        sum += nb_dot_h2f(x[ib].d) * nb_dot_h2f(y[ib].d) * (float)sumi;
    }
    *s = sum;
}

/* IQ4_NL x Q8_0. Block: d, qs[16] (nibbles as Q4_0); x_j = d * grid[q_j].
 *   sum_j x_j y_j = dx*dy * sum_j grid[q_j] p_j                            */
void nb_vec_dot_iq4_nl_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK4_NL;
    float sum = 0.0f;
    for (int64_t ib = 0; ib < nb; ib++) {
        int sumi = 0;
        for (int j = 0; j < QK4_NL / 2; j++) {
            sumi += nb_kvalues_iq4nl[x[ib].qs[j] & 0xF] * y[ib].qs[j];
            sumi += nb_kvalues_iq4nl[x[ib].qs[j] >> 4] * y[ib].qs[j + QK4_NL / 2];
        }
        sum += nb_dot_h2f(x[ib].d) * nb_dot_h2f(y[ib].d) * (float)sumi;
    }
    *s = sum;
}

/* -------------------------------------------------- 256-value super-blocks
 *
 * Q8_K activations: d (f32), qs[256] int8, bsums[16] = sums of qs[16k..16k+15];
 * y_j = dy * p_j. Where a weight format has a per-sub-block offset (the
 * "min" of Q2_K, Q4_K, Q5_K), the offset term needs only the sums of p over
 * the sub-block, which bsums hold:
 *   sum_j (d*sc_k*q_j - dmin*m_k) * dy*p_j
 *     = d*dy * sum_k sc_k * sum_{j in k} q_j p_j  -  dmin*dy * sum_k m_k * sum_{j in k} p_j
 */

/* Q2_K x Q8_K. Block: scales[16] (low nibble: scale sc_k, high nibble: min
 * m_k of sub-block k of 16 values), qs[64] (2 bits per value), d, dmin.
 * Value 128*h + 32*s + l (h 0..1, s 0..3, l 0..31) is bits 2s..2s+1 of
 * qs[32*h + l]; it lies in sub-block (128*h + 32*s + l) / 16.
 *   x_j = d*sc_k*q_j - dmin*m_k                                            */
void nb_vec_dot_q2_K_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int sum_mins = 0; /* sum_k m_k * sum_{j in k} p_j */
        for (int k = 0; k < QK_K / 16; k++) sum_mins += (x[i].scales[k] >> 4) * y[i].bsums[k];
        int sumi = 0;     /* sum_k sc_k * sum_{j in k} q_j p_j */
        for (int h = 0; h < 2; h++) {
            for (int sh = 0; sh < 4; sh++) {
                for (int half = 0; half < 2; half++) { /* sub-block k, 16 values */
                    const int k = 8 * h + 2 * sh + half;
                    const uint8_t *q2 = x[i].qs + 32 * h + 16 * half;
                    const int8_t *p = y[i].qs + 16 * k;
                    int sub = 0;
                    for (int l = 0; l < 16; l++) sub += ((q2[l] >> (2 * sh)) & 3) * p[l];
                    sumi += (x[i].scales[k] & 0xF) * sub;
                }
            }
        }
        float dall = y[i].d * nb_dot_h2f(x[i].d);
        float dmin = y[i].d * nb_dot_h2f(x[i].dmin);
        sum += dall * (float)sumi - dmin * (float)sum_mins;
    }
    *s = sum;
}

/* Q3_K x Q8_K. Block: hmask[32], qs[64], scales[12] (16 6-bit scales, see
 * nb_dot_q3k_scale), d. Value 128*h + 32*s + l: low 2 bits are bits
 * 2s..2s+1 of qs[32*h + l], high bit is bit 4*h + s of hmask[l];
 * q_j = low2 - (high bit ? 0 : 4), -4..3.  x_j = d*(sc_k - 32)*q_j.
 *   sum = d*dy * sum_k (sc_k - 32) * sum_{j in k} q_j p_j                  */
void nb_vec_dot_q3_K_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int sumi = 0;
        for (int k = 0; k < QK_K / 16; k++) {
            const int h = k / 8, sh = (k % 8) / 2, l0 = 16 * (k % 2); /* value 128h + 32sh + l */
            const int8_t *p = y[i].qs + 16 * k;
            int sub = 0;
            for (int l = l0; l < l0 + 16; l++) {
                int q = (x[i].qs[32 * h + l] >> (2 * sh)) & 3;
                if (!((x[i].hmask[l] >> (4 * h + sh)) & 1)) q -= 4;
                sub += q * p[l - l0];
            }
            sumi += nb_dot_q3k_scale(x[i].scales, k) * sub;
        }
        sum += nb_dot_h2f(x[i].d) * y[i].d * (float)sumi;
    }
    *s = sum;
}

/* Q4_K x Q8_K. Block: d, dmin, scales[12] (8 6-bit scales and mins, see
 * nb_dot_scale_min_k4), qs[128]. Value 64*c + l (c 0..3, l 0..31) is the
 * low nibble of qs[32*c + l] (sub-block 2c), value 64*c + 32 + l its high
 * nibble (sub-block 2c+1). x_j = d*sc_k*q_j - dmin*m_k, sub-blocks of 32:
 *   sum = d*dy * sum_k sc_k * sum_{j in k} q_j p_j
 *       - dmin*dy * sum_k m_k * (bsums[2k] + bsums[2k+1])                  */
void nb_vec_dot_q4_K_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int sumi = 0, sum_mins = 0;
        for (int k = 0; k < 8; k++) {
            uint8_t sc, m;
            nb_dot_scale_min_k4(k, x[i].scales, &sc, &m);
            const uint8_t *q4 = x[i].qs + 32 * (k / 2);
            const int8_t *p = y[i].qs + 32 * k;
            int sub = 0;
            for (int l = 0; l < 32; l++) sub += ((k & 1) ? q4[l] >> 4 : q4[l] & 0xF) * p[l];
            sumi += sc * sub;
            sum_mins += m * (y[i].bsums[2 * k] + y[i].bsums[2 * k + 1]);
        }
        float d = nb_dot_h2f(x[i].d) * y[i].d;
        float dmin = nb_dot_h2f(x[i].dmin) * y[i].d;
        sum += d * (float)sumi - dmin * (float)sum_mins;
    }
    *s = sum;
}

/* Q5_K x Q8_K. As Q4_K, plus qh[32]: the fifth bit of value 32*k + l
 * (sub-block k, l 0..31) is bit k of qh[l]; q_j 0..31.                      */
void nb_vec_dot_q5_K_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int sumi = 0, sum_mins = 0;
        for (int k = 0; k < 8; k++) {
            uint8_t sc, m;
            nb_dot_scale_min_k4(k, x[i].scales, &sc, &m);
            const uint8_t *q4 = x[i].qs + 32 * (k / 2);
            const int8_t *p = y[i].qs + 32 * k;
            int sub = 0;
            for (int l = 0; l < 32; l++) {
                int q = ((k & 1) ? q4[l] >> 4 : q4[l] & 0xF) | (((x[i].qh[l] >> k) & 1) << 4);
                sub += q * p[l];
            }
            sumi += sc * sub;
            sum_mins += m * (y[i].bsums[2 * k] + y[i].bsums[2 * k + 1]);
        }
        float d = nb_dot_h2f(x[i].d) * y[i].d;
        float dmin = nb_dot_h2f(x[i].dmin) * y[i].d;
        sum += d * (float)sumi - dmin * (float)sum_mins;
    }
    *s = sum;
}

/* Q6_K x Q8_K. Block: ql[128] (low 4 bits), qh[64] (high 2 bits),
 * scales[16] (int8), d. For half h (0..1) and l 0..31, with
 * L = ql + 64h, H = qh + 32h, value 128h + 32c + l is
 *   c=0: L[l] & 15     | (H[l] >> 0 & 3) << 4
 *   c=1: L[l+32] & 15  | (H[l] >> 2 & 3) << 4
 *   c=2: L[l] >> 4     | (H[l] >> 4 & 3) << 4
 *   c=3: L[l+32] >> 4  | (H[l] >> 6 & 3) << 4
 * q_j = that - 32 (-32..31); x_j = d*sc_k*q_j, sub-blocks of 16:
 *   sum = d*dy * sum_k sc_k * sum_{j in k} q_j p_j                         */
void nb_vec_dot_q6_K_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int sumi = 0;
        for (int k = 0; k < QK_K / 16; k++) {
            const int h = k / 8, c = (k % 8) / 2, l0 = 16 * (k % 2); /* value 128h + 32c + l */
            const uint8_t *L = x[i].ql + 64 * h + 32 * (c & 1), *H = x[i].qh + 32 * h;
            const int lshift = (c & 2) ? 4 : 0;
            const int8_t *p = y[i].qs + 16 * k;
            int sub = 0;
            for (int l = l0; l < l0 + 16; l++) {
                int q = (((L[l] >> lshift) & 0xF) | (((H[l] >> (2 * c)) & 3) << 4)) - 32;
                sub += q * p[l - l0];
            }
            sumi += x[i].scales[k] * sub;
        }
        sum += nb_dot_h2f(x[i].d) * y[i].d * (float)sumi;
    }
    *s = sum;
}

/* IQ4_XS x Q8_K. Block: d, scales_h, scales_l[4], qs[128]: 8 sub-blocks of
 * 32 with 6-bit scales (see nb_dot_iq4xs_scale); sub-block k's values are
 * the nibbles of qs[16k..16k+15], low nibbles first (as IQ4_NL).
 *   x_j = d*(sc_k - 32)*grid[q_j]
 *   sum = d*dy * sum_k (sc_k - 32) * sum_{j in k} grid[q_j] p_j            */
void nb_vec_dot_iq4_xs_scalar(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int sumi = 0;
        for (int k = 0; k < QK_K / 32; k++) {
            const uint8_t *q = x[i].qs + 16 * k;
            const int8_t *p = y[i].qs + 32 * k;
            int sub = 0;
            for (int l = 0; l < 16; l++) {
                sub += nb_kvalues_iq4nl[q[l] & 0xF] * p[l];
                sub += nb_kvalues_iq4nl[q[l] >> 4] * p[l + 16];
            }
            sumi += nb_dot_iq4xs_scale(&x[i], k) * sub;
        }
        sum += nb_dot_h2f(x[i].d) * y[i].d * (float)sumi;
    }
    *s = sum;
}

/* ------------------------------------------------------------- dispatch */

#define NB_DOT_ENTRY(T, ID, SUFFIX) [ID] = nb_vec_dot_##T##_##SUFFIX,
#define NB_DOT_ENTRY_SCALAR(T, ID) NB_DOT_ENTRY(T, ID, scalar)
#define NB_DOT_ENTRY_AVX2(T, ID) NB_DOT_ENTRY(T, ID, avx2)
#define NB_DOT_ENTRY_AVX512(T, ID) NB_DOT_ENTRY(T, ID, avx512)
#define NB_DOT_ENTRY_NEON(T, ID) NB_DOT_ENTRY(T, ID, neon)

static const nb_vec_dot_fn table_scalar[NB_TYPE_COUNT] = {
    NB_FOR_EACH_DOT_TYPE(NB_DOT_ENTRY_SCALAR)};
#if NB_DOT_X86
static const nb_vec_dot_fn table_avx2[NB_TYPE_COUNT] = {NB_FOR_EACH_DOT_TYPE(NB_DOT_ENTRY_AVX2)};
static const nb_vec_dot_fn table_avx512[NB_TYPE_COUNT] = {
    NB_FOR_EACH_DOT_TYPE(NB_DOT_ENTRY_AVX512)};
#endif
#if NB_DOT_NEON
static const nb_vec_dot_fn table_neon[NB_TYPE_COUNT] = {NB_FOR_EACH_DOT_TYPE(NB_DOT_ENTRY_NEON)};
#endif

static const nb_vec_dot_fn *level_table(int level) {
    switch (level) {
    case NB_SIMD_SCALAR: return table_scalar;
#if NB_DOT_X86
    case NB_SIMD_AVX2: return table_avx2;
    case NB_SIMD_AVX512: return table_avx512;
#endif
#if NB_DOT_NEON
    case NB_SIMD_NEON: return table_neon;
#endif
    default: return NULL;
    }
}

const char *nb_simd_name(int level) {
    switch (level) {
    case NB_SIMD_SCALAR: return "scalar";
    case NB_SIMD_AVX2: return "avx2";
    case NB_SIMD_AVX512: return "avx512";
    case NB_SIMD_NEON: return "neon";
    default: return "?";
    }
}

#if NB_DOT_X86
/* The CPU's features, read once (benign race: every thread computes the
 * same value). __builtin_cpu_supports checks that the OS saves the AVX and
 * AVX-512 registers; F16C comes from CPUID leaf 1 (ECX bit 29). */
static int x86_has_f16c(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c >> 29) & 1;
}
static int x86_level(void) {
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && x86_has_f16c()))
        return NB_SIMD_SCALAR;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return NB_SIMD_AVX512;
    return NB_SIMD_AVX2;
}
#endif

static int detect_best(void) {
#if NB_DOT_X86
    return x86_level();
#elif NB_DOT_NEON
    return NB_SIMD_NEON;
#else
    return NB_SIMD_SCALAR;
#endif
}

static NB_ATOMIC int g_best = -1;

nb_simd_level nb_simd_best(void) {
    int b = nb_atomic_load(&g_best);
    if (b < 0) {
        b = detect_best();
        nb_atomic_store(&g_best, b);
    }
    return (nb_simd_level)b;
}

int nb_simd_available(int level) {
    if (level_table(level) == NULL) return 0;
#if NB_DOT_X86
    /* AVX-512 machines run the AVX2 code too */
    return level <= (int)nb_simd_best();
#else
    return level == NB_SIMD_SCALAR || level == (int)nb_simd_best();
#endif
}

/* The table the dispatchers use; NULL until the first call. */
static const nb_vec_dot_fn *NB_ATOMIC g_table = NULL;
static NB_ATOMIC int g_level = -1;

static const nb_vec_dot_fn *current_table(void) {
    const nb_vec_dot_fn *t = nb_atomic_load(&g_table);
    if (t == NULL) {
        int level = nb_simd_best();
        t = level_table(level);
        nb_atomic_store(&g_level, level);
        nb_atomic_store(&g_table, t);
    }
    return t;
}

nb_simd_level nb_simd_current(void) {
    current_table();
    return (nb_simd_level)nb_atomic_load(&g_level);
}

nb_simd_level nb_simd_force(int level) {
    if (level < 0 || !nb_simd_available(level)) level = nb_simd_best();
    nb_atomic_store(&g_level, level);
    nb_atomic_store(&g_table, level_table(level));
    return (nb_simd_level)level;
}

nb_vec_dot_fn nb_vec_dot_get(uint32_t type, int level) {
    if (type >= NB_TYPE_COUNT || !nb_simd_available(level)) return NULL;
    return level_table(level)[type];
}

int nb_vec_dot_partner(uint32_t type) {
    switch (type) {
    case NB_TYPE_F32: return NB_TYPE_F32;
    case NB_TYPE_F16: return NB_TYPE_F16;
    case NB_TYPE_BF16: return NB_TYPE_BF16;
    case NB_TYPE_Q4_0:
    case NB_TYPE_Q5_0:
    case NB_TYPE_Q8_0:
    case NB_TYPE_IQ4_NL: return NB_TYPE_Q8_0;
    case NB_TYPE_Q4_1:
    case NB_TYPE_Q5_1: return NB_TYPE_Q8_1;
    case NB_TYPE_Q2_K:
    case NB_TYPE_Q3_K:
    case NB_TYPE_Q4_K:
    case NB_TYPE_Q5_K:
    case NB_TYPE_Q6_K:
    case NB_TYPE_IQ4_XS: return NB_TYPE_Q8_K;
    default: return -1;
    }
}

/* The exported dot products: one indirect call through the current table. */
#define NB_DOT_DISPATCH(T, ID)                                                    \
    void nb_vec_dot_##T(int64_t n, float *s, const void *x, const void *y) {    \
        current_table()[ID](n, s, x, y);                                         \
    }
NB_FOR_EACH_DOT_TYPE(NB_DOT_DISPATCH)

/* ------------------------------------------------- matmul tiles, quantizers */

static NB_ATOMIC int g_has_vnni = -1;
static NB_ATOMIC int g_use_vnni = 1;

int nb_simd_has_vnni(void) {
    int v = nb_atomic_load(&g_has_vnni);
    if (v < 0) {
        v = 0;
#if NB_DOT_X86
        v = nb_simd_best() == NB_SIMD_AVX512 && __builtin_cpu_supports("avx512vnni");
#endif
        nb_atomic_store(&g_has_vnni, v);
    }
    return v;
}

void nb_simd_force_vnni(int on) {
    nb_atomic_store(&g_use_vnni, on != 0);
}

nb_vec_dot_mn_fn nb_vec_dot_mn_get(uint32_t type, int level) {
    if (!nb_simd_available(level)) return NULL;
#if NB_DOT_X86
    if (level == NB_SIMD_AVX2 && type == NB_TYPE_Q4_1) return nb_vec_dot_mn_q4_1_avx2;
    /* AVX-512: 16 rows transposed into int32 lanes (dot_avx512.c); Q8_0,
     * Q4_K and Q6_K need VNNI for that (u8 values past the int16 pair
     * sums of maddubs, or the wide scales), else the single dot product */
    if (level == NB_SIMD_AVX512) {
        const int vnni = nb_simd_has_vnni() && nb_atomic_load(&g_use_vnni);
        switch (type) {
        case NB_TYPE_Q4_0: return vnni ? nb_vec_dot_mn_q4_0_vnni : nb_vec_dot_mn_q4_0_avx512;
        case NB_TYPE_Q4_1: return vnni ? nb_vec_dot_mn_q4_1_vnni : nb_vec_dot_mn_q4_1_avx2;
        case NB_TYPE_Q8_0: return vnni ? nb_vec_dot_mn_q8_0_vnni : NULL;
        case NB_TYPE_Q4_K: return vnni ? nb_vec_dot_mn_q4_K_vnni : NULL;
        case NB_TYPE_Q6_K: return vnni ? nb_vec_dot_mn_q6_K_vnni : NULL;
        default: break;
        }
    }
#endif
    (void)type;
    return NULL;
}

void nb_vec_dot_mn(uint32_t type, int64_t n, int32_t n_rows, int32_t n_tok, float *s,
                   size_t s_row, size_t s_tok, const void *x, size_t x_stride, const void *y,
                   size_t y_stride) {
    nb_vec_dot_mn_fn f = nb_vec_dot_mn_get(type, nb_simd_current());
    if (f) {
        f(n, n_rows, n_tok, s, s_row, s_tok, x, x_stride, y, y_stride);
        return;
    }
    const nb_vec_dot_fn dot = current_table()[type];
    for (int32_t r = 0; r < n_rows; r++)
        for (int32_t t = 0; t < n_tok; t++)
            dot(n, s + (size_t)r * s_row + (size_t)t * s_tok, (const uint8_t *)x + (size_t)r * x_stride,
                (const uint8_t *)y + (size_t)t * y_stride);
}

nb_quantize_fn nb_act_quantize_get(uint32_t type, int level) {
    if (!nb_simd_available(level)) return NULL;
#if NB_DOT_X86
    if (level == NB_SIMD_AVX2 || level == NB_SIMD_AVX512) {
        if (type == NB_TYPE_Q8_0) return nb_quantize_q8_0_avx2;
        if (type == NB_TYPE_Q8_1) return nb_quantize_q8_1_avx2;
    }
#endif
    (void)type;
    return NULL;
}

nb_quantize_fn nb_act_quantize(uint32_t type) {
    nb_quantize_fn f = nb_act_quantize_get(type, nb_simd_current());
    return f ? f : nb_type_get(type)->from_float;
}
