/*
 * Attention kernels, reference versions in plain C, and their dispatcher
 * (see attn.h for the cache layout and the order of the sums).
 */
#include "attn.h"

static void scores_f16_scalar(int32_t hd, int32_t n_tiles, const float *q, const uint16_t *k,
                              size_t tile_stride, float *s) {
    for (int32_t j = 0; j < n_tiles; j++) {
        const uint16_t *kt = k + (size_t)j * tile_stride;
        float acc[NB_ATTN_TILE] = {0};
        for (int32_t i = 0; i < hd; i++)
            for (int32_t l = 0; l < NB_ATTN_TILE; l++)
                acc[l] += q[i] * nb_attn_h2f(kt[i * NB_ATTN_TILE + l]);
        memcpy(s + (size_t)j * NB_ATTN_TILE, acc, sizeof acc);
    }
}

static void scores_f32_scalar(int32_t hd, int32_t n_tiles, const float *q, const float *k,
                              size_t tile_stride, float *s) {
    for (int32_t j = 0; j < n_tiles; j++) {
        const float *kt = k + (size_t)j * tile_stride;
        float acc[NB_ATTN_TILE] = {0};
        for (int32_t i = 0; i < hd; i++)
            for (int32_t l = 0; l < NB_ATTN_TILE; l++) acc[l] += q[i] * kt[i * NB_ATTN_TILE + l];
        memcpy(s + (size_t)j * NB_ATTN_TILE, acc, sizeof acc);
    }
}

static void mix_f16_scalar(int32_t hd, int32_t n, const float *p, const uint16_t *v,
                           size_t row_stride, float *out) {
    for (int32_t i = 0; i < hd; i++) out[i] = 0.0f;
    for (int32_t t = 0; t < n; t++) {
        const uint16_t *vr = v + (size_t)t * row_stride;
        for (int32_t i = 0; i < hd; i++) out[i] += p[t] * nb_attn_h2f(vr[i]);
    }
}

static void mix_f32_scalar(int32_t hd, int32_t n, const float *p, const float *v,
                           size_t row_stride, float *out) {
    for (int32_t i = 0; i < hd; i++) out[i] = 0.0f;
    for (int32_t t = 0; t < n; t++) {
        const float *vr = v + (size_t)t * row_stride;
        for (int32_t i = 0; i < hd; i++) out[i] += p[t] * vr[i];
    }
}

static void round_f16_scalar(int32_t n, float *x) {
    for (int32_t i = 0; i < n; i++) x[i] = nb_fp16_to_f32(nb_f32_to_fp16(x[i]));
}

const nb_attn_kernels nb_attn_scalar = {scores_f16_scalar, scores_f32_scalar, mix_f16_scalar,
                                        mix_f32_scalar, round_f16_scalar};

const nb_attn_kernels *nb_attn_get(int level) {
    if (!nb_simd_available(level)) return NULL;
    switch (level) {
    case NB_SIMD_SCALAR: return &nb_attn_scalar;
#if NB_DOT_X86
    case NB_SIMD_AVX2: return &nb_attn_avx2;
    case NB_SIMD_AVX512: return &nb_attn_avx512;
#endif
#if NB_DOT_NEON
    case NB_SIMD_NEON: return &nb_attn_neon;
#endif
    default: return NULL;
    }
}

const nb_attn_kernels *nb_attn_current(void) {
    const nb_attn_kernels *k = nb_attn_get(nb_simd_current());
    return k ? k : &nb_attn_scalar;
}
