/*
 * Attention kernels, NEON versions (aarch64 Advanced SIMD): a tile of 16
 * keys is four registers of 4 scores; V rows are summed 32 values (eight
 * registers) at a time. See attn.h for the layout and why these agree with
 * attn.c to the bit (vfmaq_f32 on F16 values; vmulq + vaddq on F32).
 */
#include "attn.h"

#if NB_DOT_NEON

#include <arm_neon.h>

static inline float32x4_t load_h4(const uint16_t *p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

static void scores_f16(int32_t hd, int32_t n_tiles, const float *q, const uint16_t *k,
                       size_t ts, float *s) {
    for (int32_t j = 0; j < n_tiles; j++) {
        const uint16_t *k0 = k + (size_t)j * ts;
        float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
        for (int32_t i = 0; i < hd; i++) {
            const float32x4_t qi = vdupq_n_f32(q[i]);
            const uint16_t *ki = k0 + (size_t)i * NB_ATTN_TILE;
            a0 = vfmaq_f32(a0, qi, load_h4(ki));
            a1 = vfmaq_f32(a1, qi, load_h4(ki + 4));
            a2 = vfmaq_f32(a2, qi, load_h4(ki + 8));
            a3 = vfmaq_f32(a3, qi, load_h4(ki + 12));
        }
        float *sj = s + (size_t)j * 16;
        vst1q_f32(sj, a0);
        vst1q_f32(sj + 4, a1);
        vst1q_f32(sj + 8, a2);
        vst1q_f32(sj + 12, a3);
    }
}

static void scores_f32(int32_t hd, int32_t n_tiles, const float *q, const float *k, size_t ts,
                       float *s) {
    for (int32_t j = 0; j < n_tiles; j++) {
        const float *k0 = k + (size_t)j * ts;
        float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
        for (int32_t i = 0; i < hd; i++) {
            const float32x4_t qi = vdupq_n_f32(q[i]);
            const float *ki = k0 + (size_t)i * NB_ATTN_TILE;
            a0 = vaddq_f32(a0, vmulq_f32(qi, vld1q_f32(ki)));
            a1 = vaddq_f32(a1, vmulq_f32(qi, vld1q_f32(ki + 4)));
            a2 = vaddq_f32(a2, vmulq_f32(qi, vld1q_f32(ki + 8)));
            a3 = vaddq_f32(a3, vmulq_f32(qi, vld1q_f32(ki + 12)));
        }
        float *sj = s + (size_t)j * 16;
        vst1q_f32(sj, a0);
        vst1q_f32(sj + 4, a1);
        vst1q_f32(sj + 8, a2);
        vst1q_f32(sj + 12, a3);
    }
}

static void mix_f16(int32_t hd, int32_t n, const float *p, const uint16_t *v, size_t rs,
                    float *out) {
    int32_t i = 0;
    for (; i + 16 <= hd; i += 16) {
        float32x4_t o0 = vdupq_n_f32(0.0f), o1 = o0, o2 = o0, o3 = o0;
        for (int32_t t = 0; t < n; t++) {
            const float32x4_t pt = vdupq_n_f32(p[t]);
            const uint16_t *vr = v + (size_t)t * rs + i;
            o0 = vfmaq_f32(o0, pt, load_h4(vr));
            o1 = vfmaq_f32(o1, pt, load_h4(vr + 4));
            o2 = vfmaq_f32(o2, pt, load_h4(vr + 8));
            o3 = vfmaq_f32(o3, pt, load_h4(vr + 12));
        }
        vst1q_f32(out + i, o0);
        vst1q_f32(out + i + 4, o1);
        vst1q_f32(out + i + 8, o2);
        vst1q_f32(out + i + 12, o3);
    }
    for (; i + 4 <= hd; i += 4) {
        float32x4_t o0 = vdupq_n_f32(0.0f);
        for (int32_t t = 0; t < n; t++)
            o0 = vfmaq_f32(o0, vdupq_n_f32(p[t]), load_h4(v + (size_t)t * rs + i));
        vst1q_f32(out + i, o0);
    }
    for (; i < hd; i++) {
        float o = 0.0f;
        for (int32_t t = 0; t < n; t++) o += p[t] * nb_attn_h2f(v[(size_t)t * rs + i]);
        out[i] = o;
    }
}

static void mix_f32(int32_t hd, int32_t n, const float *p, const float *v, size_t rs, float *out) {
    int32_t i = 0;
    for (; i + 16 <= hd; i += 16) {
        float32x4_t o0 = vdupq_n_f32(0.0f), o1 = o0, o2 = o0, o3 = o0;
        for (int32_t t = 0; t < n; t++) {
            const float32x4_t pt = vdupq_n_f32(p[t]);
            const float *vr = v + (size_t)t * rs + i;
            o0 = vaddq_f32(o0, vmulq_f32(pt, vld1q_f32(vr)));
            o1 = vaddq_f32(o1, vmulq_f32(pt, vld1q_f32(vr + 4)));
            o2 = vaddq_f32(o2, vmulq_f32(pt, vld1q_f32(vr + 8)));
            o3 = vaddq_f32(o3, vmulq_f32(pt, vld1q_f32(vr + 12)));
        }
        vst1q_f32(out + i, o0);
        vst1q_f32(out + i + 4, o1);
        vst1q_f32(out + i + 8, o2);
        vst1q_f32(out + i + 12, o3);
    }
    for (; i + 4 <= hd; i += 4) {
        float32x4_t o0 = vdupq_n_f32(0.0f);
        for (int32_t t = 0; t < n; t++)
            o0 = vaddq_f32(o0, vmulq_f32(vdupq_n_f32(p[t]), vld1q_f32(v + (size_t)t * rs + i)));
        vst1q_f32(out + i, o0);
    }
    for (; i < hd; i++) {
        float o = 0.0f;
        for (int32_t t = 0; t < n; t++) o += p[t] * v[(size_t)t * rs + i];
        out[i] = o;
    }
}

static void round_f16(int32_t n, float *x) {
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vcvt_f32_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++) x[i] = nb_fp16_to_f32(nb_f32_to_fp16(x[i]));
}

const nb_attn_kernels nb_attn_neon = {scores_f16, scores_f32, mix_f16, mix_f32, round_f16};

#else
/* Not aarch64 (or NB_NO_SIMD): nothing here. ISO C wants a declaration. */
typedef int nb_attn_neon_empty;
#endif
