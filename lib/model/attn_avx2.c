/*
 * Attention kernels, AVX2 + FMA + F16C versions (x86-64): a tile of 16
 * keys is two registers of 8 scores; V rows are summed 64 values (eight
 * registers) at a time. See attn.h for the layout and why these agree
 * with attn.c to the bit.
 *
 * The Makefile compiles this file with -mavx2 -mfma -mf16c; built without
 * those flags the pragmas below turn them on for this file alone. The
 * dispatcher runs this code only on CPUs that have the features.
 */
#include "attn.h"

#if NB_DOT_X86

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#define NB_ATTN_POP_ATTRIBUTE 1
#elif defined(__GNUC__)
#pragma GCC target("avx2,fma,f16c")
#endif
#endif

#include <immintrin.h>

static inline __m256 load_h8(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

/* two tiles at a time: four independent chains of multiply-adds */
static void scores_f16(int32_t hd, int32_t n_tiles, const float *q, const uint16_t *k,
                       size_t ts, float *s) {
    int32_t j = 0;
    for (; j + 2 <= n_tiles; j += 2) {
        const uint16_t *k0 = k + (size_t)j * ts;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int32_t i = 0; i < hd; i++) {
            const __m256 qi = _mm256_set1_ps(q[i]);
            const uint16_t *ki = k0 + (size_t)i * NB_ATTN_TILE;
            a0 = _mm256_fmadd_ps(qi, load_h8(ki), a0);
            a1 = _mm256_fmadd_ps(qi, load_h8(ki + 8), a1);
            a2 = _mm256_fmadd_ps(qi, load_h8(ki + ts), a2);
            a3 = _mm256_fmadd_ps(qi, load_h8(ki + ts + 8), a3);
        }
        _mm256_storeu_ps(s + (size_t)j * 16, a0);
        _mm256_storeu_ps(s + (size_t)j * 16 + 8, a1);
        _mm256_storeu_ps(s + (size_t)j * 16 + 16, a2);
        _mm256_storeu_ps(s + (size_t)j * 16 + 24, a3);
    }
    for (; j < n_tiles; j++) {
        const uint16_t *k0 = k + (size_t)j * ts;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        for (int32_t i = 0; i < hd; i++) {
            const __m256 qi = _mm256_set1_ps(q[i]);
            const uint16_t *ki = k0 + (size_t)i * NB_ATTN_TILE;
            a0 = _mm256_fmadd_ps(qi, load_h8(ki), a0);
            a1 = _mm256_fmadd_ps(qi, load_h8(ki + 8), a1);
        }
        _mm256_storeu_ps(s + (size_t)j * 16, a0);
        _mm256_storeu_ps(s + (size_t)j * 16 + 8, a1);
    }
}

/* F32: a multiply and an add, as the scalar version */
static void scores_f32(int32_t hd, int32_t n_tiles, const float *q, const float *k, size_t ts,
                       float *s) {
    for (int32_t j = 0; j < n_tiles; j++) {
        const float *k0 = k + (size_t)j * ts;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        for (int32_t i = 0; i < hd; i++) {
            const __m256 qi = _mm256_set1_ps(q[i]);
            const float *ki = k0 + (size_t)i * NB_ATTN_TILE;
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(qi, _mm256_loadu_ps(ki)));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(qi, _mm256_loadu_ps(ki + 8)));
        }
        _mm256_storeu_ps(s + (size_t)j * 16, a0);
        _mm256_storeu_ps(s + (size_t)j * 16 + 8, a1);
    }
}

static void mix_f16(int32_t hd, int32_t n, const float *p, const uint16_t *v, size_t rs,
                    float *out) {
    int32_t i = 0;
    for (; i + 32 <= hd; i += 32) {
        __m256 o0 = _mm256_setzero_ps(), o1 = o0, o2 = o0, o3 = o0;
        for (int32_t t = 0; t < n; t++) {
            const __m256 pt = _mm256_set1_ps(p[t]);
            const uint16_t *vr = v + (size_t)t * rs + i;
            o0 = _mm256_fmadd_ps(pt, load_h8(vr), o0);
            o1 = _mm256_fmadd_ps(pt, load_h8(vr + 8), o1);
            o2 = _mm256_fmadd_ps(pt, load_h8(vr + 16), o2);
            o3 = _mm256_fmadd_ps(pt, load_h8(vr + 24), o3);
        }
        _mm256_storeu_ps(out + i, o0);
        _mm256_storeu_ps(out + i + 8, o1);
        _mm256_storeu_ps(out + i + 16, o2);
        _mm256_storeu_ps(out + i + 24, o3);
    }
    for (; i + 8 <= hd; i += 8) {
        __m256 o0 = _mm256_setzero_ps();
        for (int32_t t = 0; t < n; t++)
            o0 = _mm256_fmadd_ps(_mm256_set1_ps(p[t]), load_h8(v + (size_t)t * rs + i), o0);
        _mm256_storeu_ps(out + i, o0);
    }
    for (; i < hd; i++) {
        float o = 0.0f;
        for (int32_t t = 0; t < n; t++) o += p[t] * _cvtsh_ss(v[(size_t)t * rs + i]);
        out[i] = o;
    }
}

static void mix_f32(int32_t hd, int32_t n, const float *p, const float *v, size_t rs, float *out) {
    int32_t i = 0;
    for (; i + 32 <= hd; i += 32) {
        __m256 o0 = _mm256_setzero_ps(), o1 = o0, o2 = o0, o3 = o0;
        for (int32_t t = 0; t < n; t++) {
            const __m256 pt = _mm256_set1_ps(p[t]);
            const float *vr = v + (size_t)t * rs + i;
            o0 = _mm256_add_ps(o0, _mm256_mul_ps(pt, _mm256_loadu_ps(vr)));
            o1 = _mm256_add_ps(o1, _mm256_mul_ps(pt, _mm256_loadu_ps(vr + 8)));
            o2 = _mm256_add_ps(o2, _mm256_mul_ps(pt, _mm256_loadu_ps(vr + 16)));
            o3 = _mm256_add_ps(o3, _mm256_mul_ps(pt, _mm256_loadu_ps(vr + 24)));
        }
        _mm256_storeu_ps(out + i, o0);
        _mm256_storeu_ps(out + i + 8, o1);
        _mm256_storeu_ps(out + i + 16, o2);
        _mm256_storeu_ps(out + i + 24, o3);
    }
    for (; i + 8 <= hd; i += 8) {
        __m256 o0 = _mm256_setzero_ps();
        for (int32_t t = 0; t < n; t++)
            o0 = _mm256_add_ps(o0, _mm256_mul_ps(_mm256_set1_ps(p[t]),
                                                 _mm256_loadu_ps(v + (size_t)t * rs + i)));
        _mm256_storeu_ps(out + i, o0);
    }
    for (; i < hd; i++) {
        float o = 0.0f;
        for (int32_t t = 0; t < n; t++) o += p[t] * v[(size_t)t * rs + i];
        out[i] = o;
    }
}

static void round_f16(int32_t n, float *x) {
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(
                                    _mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    for (; i < n; i++) x[i] = _cvtsh_ss(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}

const nb_attn_kernels nb_attn_avx2 = {scores_f16, scores_f32, mix_f16, mix_f32, round_f16};

#if defined(NB_ATTN_POP_ATTRIBUTE)
#pragma clang attribute pop
#endif

#else
/* Not x86-64 (or NB_NO_SIMD): nothing here. ISO C wants a declaration. */
typedef int nb_attn_avx2_empty;
#endif
