/*
 * Dot products, NEON versions (aarch64 Advanced SIMD, baseline ARMv8-A: no
 * dotprod extension needed; with __ARM_FEATURE_DOTPROD the int8 dot uses
 * SDOT). See dot.c for the block layouts and the math; these compute the
 * same integer sums per block and differ only in the order of the float
 * operations.
 *
 * int8 x int8 products go through vmull_s8 (exact in int16 for any bytes)
 * and pairwise widening adds into int32, so no input range is assumed.
 */
#include "dot.h"

#if NB_DOT_NEON

#include <arm_neon.h>

/* ---------------------------------------------------------------- helpers */

/* acc + the 16 products a_i * b_i, spread over 4 int32 lanes. */
static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

/* The 32-value dot of two 16-byte halves each. */
static inline int32x4_t dot32(int8x16_t a0, int8x16_t a1, const int8_t *p) {
    return dot16(dot16(vdupq_n_s32(0), a0, vld1q_s8(p)), a1, vld1q_s8(p + 16));
}

static inline int8x16_t u2s(uint8x16_t v) {
    return vreinterpretq_s8_u8(v);
}

/* Q5 high bits: byte j of the 32 gets 0x10 if bit j of qh is set. */
static inline void q5_high(const uint8_t qh[4], uint8x16_t *lo, uint8x16_t *hi) {
    static const uint8_t idx_lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t idx_hi[16] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint32_t v;
    memcpy(&v, qh, 4);
    uint8x16_t q = vreinterpretq_u8_u32(vdupq_n_u32(v));
    uint8x16_t b = vld1q_u8(bits), m16 = vdupq_n_u8(0x10);
    *lo = vandq_u8(vtstq_u8(vqtbl1q_u8(q, vld1q_u8(idx_lo)), b), m16);
    *hi = vandq_u8(vtstq_u8(vqtbl1q_u8(q, vld1q_u8(idx_hi)), b), m16);
}

/* ------------------------------------------------------------ plain types */

void nb_vec_dot_f32_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
        a1 = vfmaq_f32(a1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
        a2 = vfmaq_f32(a2, vld1q_f32(x + i + 8), vld1q_f32(y + i + 8));
        a3 = vfmaq_f32(a3, vld1q_f32(x + i + 12), vld1q_f32(y + i + 12));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++) sum += x[i] * y[i];
    *s = sum;
}

static inline float32x4_t load_h4(const uint16_t *p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

/* F16 x F16: each product of two halves is exact in float; the sum is kept
 * in double lanes (as the scalar reference does). A float accumulation
 * order differs enough to flip later F16 roundings of the KV cache, which
 * moves logits by more than llama.cpp's own F16-vs-F32 gap. */
void nb_vec_dot_f16_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    float64x2_t a0 = vdupq_n_f64(0.0), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t p0 = vmulq_f32(load_h4(x + i), load_h4(y + i));
        float32x4_t p1 = vmulq_f32(load_h4(x + i + 4), load_h4(y + i + 4));
        a0 = vaddq_f64(a0, vcvt_f64_f32(vget_low_f32(p0)));
        a1 = vaddq_f64(a1, vcvt_high_f64_f32(p0));
        a2 = vaddq_f64(a2, vcvt_f64_f32(vget_low_f32(p1)));
        a3 = vaddq_f64(a3, vcvt_high_f64_f32(p1));
    }
    double sum = vaddvq_f64(vaddq_f64(vaddq_f64(a0, a1), vaddq_f64(a2, a3)));
    for (; i < n; i++) sum += (double)(nb_dot_h2f(x[i]) * nb_dot_h2f(y[i]));
    *s = (float)sum;
}

static inline float32x4_t load_bf4(const uint16_t *p) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

void nb_vec_dot_bf16_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, load_bf4(x + i), load_bf4(y + i));
        a1 = vfmaq_f32(a1, load_bf4(x + i + 4), load_bf4(y + i + 4));
        a2 = vfmaq_f32(a2, load_bf4(x + i + 8), load_bf4(y + i + 8));
        a3 = vfmaq_f32(a3, load_bf4(x + i + 12), load_bf4(y + i + 12));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, load_bf4(x + i), load_bf4(y + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++) sum += nb_dot_bf2f(x[i]) * nb_dot_bf2f(y[i]);
    *s = sum;
}

/* --------------------------------------------------- 32-value block types */

void nb_vec_dot_q4_0_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK4_0;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t s8 = vdupq_n_s8(8);
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t ib = 0; ib < nb; ib++) {
        uint8x16_t q = vld1q_u8(x[ib].qs);
        int8x16_t lo = vsubq_s8(u2s(vandq_u8(q, m4)), s8);
        int8x16_t hi = vsubq_s8(u2s(vshrq_n_u8(q, 4)), s8);
        int32x4_t sumi = dot32(lo, hi, y[ib].qs);
        float d = nb_dot_h2f(x[ib].d) * nb_dot_h2f(y[ib].d);
        acc = vmlaq_n_f32(acc, vcvtq_f32_s32(sumi), d);
    }
    *s = vaddvq_f32(acc);
}

void nb_vec_dot_q4_1_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    const int64_t nb = n / QK4_1;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float32x4_t acc = vdupq_n_f32(0.0f);
    float summ = 0.0f;
    for (int64_t ib = 0; ib < nb; ib++) {
        uint8x16_t q = vld1q_u8(x[ib].qs);
        int32x4_t sumi = dot32(u2s(vandq_u8(q, m4)), u2s(vshrq_n_u8(q, 4)), y[ib].qs);
        float d = nb_dot_h2f(x[ib].d) * nb_dot_h2f(y[ib].d);
        acc = vmlaq_n_f32(acc, vcvtq_f32_s32(sumi), d);
        summ += nb_dot_h2f(x[ib].m) * nb_dot_h2f(y[ib].s);
    }
    *s = vaddvq_f32(acc) + summ;
}

void nb_vec_dot_q5_0_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK5_0;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t s16 = vdupq_n_s8(16);
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t ib = 0; ib < nb; ib++) {
        uint8x16_t hl, hh;
        q5_high(x[ib].qh, &hl, &hh);
        uint8x16_t q = vld1q_u8(x[ib].qs);
        int8x16_t lo = vsubq_s8(u2s(vorrq_u8(vandq_u8(q, m4), hl)), s16);
        int8x16_t hi = vsubq_s8(u2s(vorrq_u8(vshrq_n_u8(q, 4), hh)), s16);
        int32x4_t sumi = dot32(lo, hi, y[ib].qs);
        float d = nb_dot_h2f(x[ib].d) * nb_dot_h2f(y[ib].d);
        acc = vmlaq_n_f32(acc, vcvtq_f32_s32(sumi), d);
    }
    *s = vaddvq_f32(acc);
}

void nb_vec_dot_q5_1_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    const int64_t nb = n / QK5_1;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float32x4_t acc = vdupq_n_f32(0.0f);
    float summ = 0.0f;
    for (int64_t ib = 0; ib < nb; ib++) {
        uint8x16_t hl, hh;
        q5_high(x[ib].qh, &hl, &hh);
        uint8x16_t q = vld1q_u8(x[ib].qs);
        int8x16_t lo = u2s(vorrq_u8(vandq_u8(q, m4), hl));
        int8x16_t hi = u2s(vorrq_u8(vshrq_n_u8(q, 4), hh));
        int32x4_t sumi = dot32(lo, hi, y[ib].qs);
        float d = nb_dot_h2f(x[ib].d) * nb_dot_h2f(y[ib].d);
        acc = vmlaq_n_f32(acc, vcvtq_f32_s32(sumi), d);
        summ += nb_dot_h2f(x[ib].m) * nb_dot_h2f(y[ib].s);
    }
    *s = vaddvq_f32(acc) + summ;
}

void nb_vec_dot_q8_0_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK8_0;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0;
    int64_t ib = 0;
    for (; ib + 2 <= nb; ib += 2) {
        int32x4_t i0 = dot32(vld1q_s8(x[ib].qs), vld1q_s8(x[ib].qs + 16), y[ib].qs);
        int32x4_t i1 = dot32(vld1q_s8(x[ib + 1].qs), vld1q_s8(x[ib + 1].qs + 16), y[ib + 1].qs);
        acc0 = vmlaq_n_f32(acc0, vcvtq_f32_s32(i0), nb_dot_h2f(x[ib].d) * nb_dot_h2f(y[ib].d));
        acc1 = vmlaq_n_f32(acc1, vcvtq_f32_s32(i1),
                           nb_dot_h2f(x[ib + 1].d) * nb_dot_h2f(y[ib + 1].d));
    }
    for (; ib < nb; ib++) {
        int32x4_t i0 = dot32(vld1q_s8(x[ib].qs), vld1q_s8(x[ib].qs + 16), y[ib].qs);
        acc0 = vmlaq_n_f32(acc0, vcvtq_f32_s32(i0), nb_dot_h2f(x[ib].d) * nb_dot_h2f(y[ib].d));
    }
    *s = vaddvq_f32(vaddq_f32(acc0, acc1));
}

void nb_vec_dot_iq4_nl_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK4_NL;
    const int8x16_t grid = vld1q_s8(nb_kvalues_iq4nl);
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t ib = 0; ib < nb; ib++) {
        uint8x16_t q = vld1q_u8(x[ib].qs);
        int8x16_t lo = vqtbl1q_s8(grid, vandq_u8(q, m4));
        int8x16_t hi = vqtbl1q_s8(grid, vshrq_n_u8(q, 4));
        int32x4_t sumi = dot32(lo, hi, y[ib].qs);
        acc = vmlaq_n_f32(acc, vcvtq_f32_s32(sumi), nb_dot_h2f(x[ib].d) * nb_dot_h2f(y[ib].d));
    }
    *s = vaddvq_f32(acc);
}

/* -------------------------------------------------- 256-value super-blocks
 *
 * Each sub-block's integer dot is formed in a vector, multiplied by its
 * integer scale (vmlaq_n_s32) and added up; one float multiply per
 * super-block. */

/* sum_k w_k * bsums_k over the 16 sub-blocks of 16, w as int16 x 16. */
static inline int32_t bsums_dot(const int16_t *bsums, int16x8_t w0, int16x8_t w1) {
    int16x8_t b0 = vld1q_s16(bsums), b1 = vld1q_s16(bsums + 8);
    int32x4_t t = vmull_s16(vget_low_s16(b0), vget_low_s16(w0));
    t = vmlal_s16(t, vget_high_s16(b0), vget_high_s16(w0));
    t = vmlal_s16(t, vget_low_s16(b1), vget_low_s16(w1));
    t = vmlal_s16(t, vget_high_s16(b1), vget_high_s16(w1));
    return vaddvq_s32(t);
}

void nb_vec_dot_q2_K_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const uint8x16_t m3 = vdupq_n_u8(3);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        uint8x16_t sc8 = vld1q_u8(x[i].scales);
        uint8x16_t mins = vshrq_n_u8(sc8, 4);
        int32_t summ = bsums_dot(y[i].bsums,
                                 vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mins))),
                                 vreinterpretq_s16_u16(vmovl_u8(vget_high_u8(mins))));
        uint8_t sc[16];
        vst1q_u8(sc, vandq_u8(sc8, vdupq_n_u8(0x0F)));
        const int8_t *p = y[i].qs;
        int32x4_t sumi = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * h), q1 = vld1q_u8(x[i].qs + 32 * h + 16);
            for (int sh = 0; sh < 4; sh++) {
                int8x16_t shift = vdupq_n_s8((int8_t)(-2 * sh));
                int8x16_t v0 = u2s(vandq_u8(vshlq_u8(q0, shift), m3));
                int8x16_t v1 = u2s(vandq_u8(vshlq_u8(q1, shift), m3));
                int k = 8 * h + 2 * sh;
                sumi = vmlaq_n_s32(sumi, dot16(vdupq_n_s32(0), v0, vld1q_s8(p)), sc[k]);
                sumi = vmlaq_n_s32(sumi, dot16(vdupq_n_s32(0), v1, vld1q_s8(p + 16)), sc[k + 1]);
                p += 32;
            }
        }
        float dall = y[i].d * nb_dot_h2f(x[i].d);
        float dmin = y[i].d * nb_dot_h2f(x[i].dmin);
        sum += dall * (float)vaddvq_s32(sumi) - dmin * (float)summ;
    }
    *s = sum;
}

void nb_vec_dot_q3_K_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const uint8x16_t m3 = vdupq_n_u8(3), one = vdupq_n_u8(1);
    const int8x16_t s4 = vdupq_n_s8(4);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int8_t sc[16];
        nb_dot_q3k_scales(x[i].scales, sc);
        uint8x16_t hm0 = vld1q_u8(x[i].hmask), hm1 = vld1q_u8(x[i].hmask + 16);
        const int8_t *p = y[i].qs;
        int32x4_t sumi = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * h), q1 = vld1q_u8(x[i].qs + 32 * h + 16);
            for (int sh = 0; sh < 4; sh++) {
                int8x16_t shift = vdupq_n_s8((int8_t)(-2 * sh));
                int8x16_t hshift = vdupq_n_s8((int8_t)(-(4 * h + sh)));
                /* u = low2 | high << 2 (0..7), q = u - 4 */
                uint8x16_t u0 = vorrq_u8(vandq_u8(vshlq_u8(q0, shift), m3),
                                         vshlq_n_u8(vandq_u8(vshlq_u8(hm0, hshift), one), 2));
                uint8x16_t u1 = vorrq_u8(vandq_u8(vshlq_u8(q1, shift), m3),
                                         vshlq_n_u8(vandq_u8(vshlq_u8(hm1, hshift), one), 2));
                int k = 8 * h + 2 * sh;
                sumi = vmlaq_n_s32(sumi, dot16(vdupq_n_s32(0), vsubq_s8(u2s(u0), s4), vld1q_s8(p)), sc[k]);
                sumi = vmlaq_n_s32(sumi, dot16(vdupq_n_s32(0), vsubq_s8(u2s(u1), s4), vld1q_s8(p + 16)),
                                   sc[k + 1]);
                p += 32;
            }
        }
        sum += nb_dot_h2f(x[i].d) * y[i].d * (float)vaddvq_s32(sumi);
    }
    *s = sum;
}

/* Q4_K / Q5_K: scales, and sum_k m_k * (bsums[2k] + bsums[2k+1]). */
static inline int32_t k4_prepare(const uint8_t *packed, const int16_t *bsums, uint8_t sc[8]) {
    uint8_t m[8];
    nb_dot_k4_unpack(packed, sc, m);
    int16x8_t pair = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
    int16x8_t mm = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(m)));
    int32x4_t t = vmull_s16(vget_low_s16(pair), vget_low_s16(mm));
    t = vmlal_s16(t, vget_high_s16(pair), vget_high_s16(mm));
    return vaddvq_s32(t);
}

void nb_vec_dot_q4_K_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8];
        int32_t summ = k4_prepare(x[i].scales, y[i].bsums, sc);
        const int8_t *p = y[i].qs;
        int32x4_t sumi = vdupq_n_s32(0);
        for (int c = 0; c < 4; c++) {
            uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * c), q1 = vld1q_u8(x[i].qs + 32 * c + 16);
            int32x4_t lo = dot32(u2s(vandq_u8(q0, m4)), u2s(vandq_u8(q1, m4)), p);
            int32x4_t hi = dot32(u2s(vshrq_n_u8(q0, 4)), u2s(vshrq_n_u8(q1, 4)), p + 32);
            sumi = vmlaq_n_s32(sumi, lo, sc[2 * c]);
            sumi = vmlaq_n_s32(sumi, hi, sc[2 * c + 1]);
            p += 64;
        }
        float d = nb_dot_h2f(x[i].d) * y[i].d;
        float dmin = nb_dot_h2f(x[i].dmin) * y[i].d;
        sum += d * (float)vaddvq_s32(sumi) - dmin * (float)summ;
    }
    *s = sum;
}

void nb_vec_dot_q5_K_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), one = vdupq_n_u8(1);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8];
        int32_t summ = k4_prepare(x[i].scales, y[i].bsums, sc);
        uint8x16_t h0 = vld1q_u8(x[i].qh), h1 = vld1q_u8(x[i].qh + 16);
        const int8_t *p = y[i].qs;
        int32x4_t sumi = vdupq_n_s32(0);
        for (int c = 0; c < 4; c++) {
            uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * c), q1 = vld1q_u8(x[i].qs + 32 * c + 16);
            /* bit 0 of h0/h1 is bit 2c of qh, bit 1 is bit 2c+1 */
            uint8x16_t l0 = vorrq_u8(vandq_u8(q0, m4), vshlq_n_u8(vandq_u8(h0, one), 4));
            uint8x16_t l1 = vorrq_u8(vandq_u8(q1, m4), vshlq_n_u8(vandq_u8(h1, one), 4));
            uint8x16_t g0 = vorrq_u8(vshrq_n_u8(q0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(h0, 1), one), 4));
            uint8x16_t g1 = vorrq_u8(vshrq_n_u8(q1, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(h1, 1), one), 4));
            h0 = vshrq_n_u8(h0, 2);
            h1 = vshrq_n_u8(h1, 2);
            sumi = vmlaq_n_s32(sumi, dot32(u2s(l0), u2s(l1), p), sc[2 * c]);
            sumi = vmlaq_n_s32(sumi, dot32(u2s(g0), u2s(g1), p + 32), sc[2 * c + 1]);
            p += 64;
        }
        float d = nb_dot_h2f(x[i].d) * y[i].d;
        float dmin = nb_dot_h2f(x[i].dmin) * y[i].d;
        sum += d * (float)vaddvq_s32(sumi) - dmin * (float)summ;
    }
    *s = sum;
}

void nb_vec_dot_q6_K_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m3 = vdupq_n_u8(3);
    const int8x16_t s32 = vdupq_n_s8(32);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const int8_t *sc = x[i].scales;
        const int8_t *p = y[i].qs;
        int32x4_t sumi = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            const uint8_t *L = x[i].ql + 64 * h, *H = x[i].qh + 32 * h;
            for (int half = 0; half < 2; half++) { /* l = 16*half .. +15 */
                uint8x16_t l0 = vld1q_u8(L + 16 * half), l1 = vld1q_u8(L + 32 + 16 * half);
                uint8x16_t hb = vld1q_u8(H + 16 * half);
                uint8x16_t u[4];
                u[0] = vorrq_u8(vandq_u8(l0, m4), vshlq_n_u8(vandq_u8(hb, m3), 4));
                u[1] = vorrq_u8(vandq_u8(l1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m3), 4));
                u[2] = vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m3), 4));
                u[3] = vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4));
                for (int c = 0; c < 4; c++) {
                    /* values 128h + 32c + 16*half .. +15: sub-block 8h + 2c + half */
                    int k = 8 * h + 2 * c + half;
                    int8x16_t q = vsubq_s8(u2s(u[c]), s32);
                    sumi = vmlaq_n_s32(sumi, dot16(vdupq_n_s32(0), q, vld1q_s8(p + 32 * c + 16 * half)),
                                       sc[k]);
                }
            }
            p += 128;
        }
        sum += nb_dot_h2f(x[i].d) * y[i].d * (float)vaddvq_s32(sumi);
    }
    *s = sum;
}

void nb_vec_dot_iq4_xs_neon(int64_t n, float *s, const void *vx, const void *vy) {
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const int8x16_t grid = vld1q_s8(nb_kvalues_iq4nl);
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const int8_t *p = y[i].qs;
        int32x4_t sumi = vdupq_n_s32(0);
        for (int k = 0; k < 8; k++) {
            uint8x16_t q = vld1q_u8(x[i].qs + 16 * k);
            int8x16_t lo = vqtbl1q_s8(grid, vandq_u8(q, m4));
            int8x16_t hi = vqtbl1q_s8(grid, vshrq_n_u8(q, 4));
            sumi = vmlaq_n_s32(sumi, dot32(lo, hi, p), nb_dot_iq4xs_scale(&x[i], k));
            p += 32;
        }
        sum += nb_dot_h2f(x[i].d) * y[i].d * (float)vaddvq_s32(sumi);
    }
    *s = sum;
}

#else
/* Not aarch64 (or NB_NO_SIMD): nothing here. ISO C wants a declaration. */
typedef int nb_dot_neon_empty;
#endif
