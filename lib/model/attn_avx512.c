/*
 * Attention kernels, AVX-512 (F + BW + VL + DQ, with AVX2 + FMA + F16C)
 * versions (x86-64): a tile of 16 keys is one register of 16 scores; V rows
 * are summed 64 values (four registers) at a time. See attn.h for the
 * layout and why these agree with attn.c to the bit.
 *
 * The Makefile compiles this file with the AVX-512 flags; built without
 * them the pragmas below turn them on for this file alone. The dispatcher
 * runs this code only on CPUs that have the features.
 */
#include "attn.h"

#if NB_DOT_X86

#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VL__) || \
    !defined(__AVX512DQ__) || !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#if defined(__clang__)
#pragma clang attribute push(                                                                   \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"))),              \
    apply_to = function)
#define NB_ATTN_POP_ATTRIBUTE 1
#elif defined(__GNUC__)
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")
#endif
#endif

#include <immintrin.h>

static inline __m512 load_h16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

/* four tiles at a time: four independent chains of multiply-adds */
static void scores_f16(int32_t hd, int32_t n_tiles, const float *q, const uint16_t *k,
                       size_t ts, float *s) {
    int32_t j = 0;
    for (; j + 4 <= n_tiles; j += 4) {
        const uint16_t *k0 = k + (size_t)j * ts;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int32_t i = 0; i < hd; i++) {
            const __m512 qi = _mm512_set1_ps(q[i]);
            const uint16_t *ki = k0 + (size_t)i * NB_ATTN_TILE;
            a0 = _mm512_fmadd_ps(qi, load_h16(ki), a0);
            a1 = _mm512_fmadd_ps(qi, load_h16(ki + ts), a1);
            a2 = _mm512_fmadd_ps(qi, load_h16(ki + 2 * ts), a2);
            a3 = _mm512_fmadd_ps(qi, load_h16(ki + 3 * ts), a3);
        }
        _mm512_storeu_ps(s + (size_t)j * 16, a0);
        _mm512_storeu_ps(s + (size_t)j * 16 + 16, a1);
        _mm512_storeu_ps(s + (size_t)j * 16 + 32, a2);
        _mm512_storeu_ps(s + (size_t)j * 16 + 48, a3);
    }
    for (; j < n_tiles; j++) {
        const uint16_t *k0 = k + (size_t)j * ts;
        __m512 a0 = _mm512_setzero_ps();
        for (int32_t i = 0; i < hd; i++)
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(q[i]), load_h16(k0 + (size_t)i * NB_ATTN_TILE), a0);
        _mm512_storeu_ps(s + (size_t)j * 16, a0);
    }
}

/* F32: a multiply and an add, as the scalar version */
static void scores_f32(int32_t hd, int32_t n_tiles, const float *q, const float *k, size_t ts,
                       float *s) {
    int32_t j = 0;
    for (; j + 2 <= n_tiles; j += 2) {
        const float *k0 = k + (size_t)j * ts;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        for (int32_t i = 0; i < hd; i++) {
            const __m512 qi = _mm512_set1_ps(q[i]);
            const float *ki = k0 + (size_t)i * NB_ATTN_TILE;
            a0 = _mm512_add_ps(a0, _mm512_mul_ps(qi, _mm512_loadu_ps(ki)));
            a1 = _mm512_add_ps(a1, _mm512_mul_ps(qi, _mm512_loadu_ps(ki + ts)));
        }
        _mm512_storeu_ps(s + (size_t)j * 16, a0);
        _mm512_storeu_ps(s + (size_t)j * 16 + 16, a1);
    }
    for (; j < n_tiles; j++) {
        const float *k0 = k + (size_t)j * ts;
        __m512 a0 = _mm512_setzero_ps();
        for (int32_t i = 0; i < hd; i++)
            a0 = _mm512_add_ps(a0, _mm512_mul_ps(_mm512_set1_ps(q[i]),
                                                 _mm512_loadu_ps(k0 + (size_t)i * NB_ATTN_TILE)));
        _mm512_storeu_ps(s + (size_t)j * 16, a0);
    }
}

static void mix_f16(int32_t hd, int32_t n, const float *p, const uint16_t *v, size_t rs,
                    float *out) {
    int32_t i = 0;
    for (; i + 64 <= hd; i += 64) {
        __m512 o0 = _mm512_setzero_ps(), o1 = o0, o2 = o0, o3 = o0;
        for (int32_t t = 0; t < n; t++) {
            const __m512 pt = _mm512_set1_ps(p[t]);
            const uint16_t *vr = v + (size_t)t * rs + i;
            o0 = _mm512_fmadd_ps(pt, load_h16(vr), o0);
            o1 = _mm512_fmadd_ps(pt, load_h16(vr + 16), o1);
            o2 = _mm512_fmadd_ps(pt, load_h16(vr + 32), o2);
            o3 = _mm512_fmadd_ps(pt, load_h16(vr + 48), o3);
        }
        _mm512_storeu_ps(out + i, o0);
        _mm512_storeu_ps(out + i + 16, o1);
        _mm512_storeu_ps(out + i + 32, o2);
        _mm512_storeu_ps(out + i + 48, o3);
    }
    for (; i + 16 <= hd; i += 16) {
        __m512 o0 = _mm512_setzero_ps();
        for (int32_t t = 0; t < n; t++)
            o0 = _mm512_fmadd_ps(_mm512_set1_ps(p[t]), load_h16(v + (size_t)t * rs + i), o0);
        _mm512_storeu_ps(out + i, o0);
    }
    for (; i < hd; i++) {
        float o = 0.0f;
        for (int32_t t = 0; t < n; t++) o += p[t] * _cvtsh_ss(v[(size_t)t * rs + i]);
        out[i] = o;
    }
}

static void mix_f32(int32_t hd, int32_t n, const float *p, const float *v, size_t rs, float *out) {
    int32_t i = 0;
    for (; i + 64 <= hd; i += 64) {
        __m512 o0 = _mm512_setzero_ps(), o1 = o0, o2 = o0, o3 = o0;
        for (int32_t t = 0; t < n; t++) {
            const __m512 pt = _mm512_set1_ps(p[t]);
            const float *vr = v + (size_t)t * rs + i;
            o0 = _mm512_add_ps(o0, _mm512_mul_ps(pt, _mm512_loadu_ps(vr)));
            o1 = _mm512_add_ps(o1, _mm512_mul_ps(pt, _mm512_loadu_ps(vr + 16)));
            o2 = _mm512_add_ps(o2, _mm512_mul_ps(pt, _mm512_loadu_ps(vr + 32)));
            o3 = _mm512_add_ps(o3, _mm512_mul_ps(pt, _mm512_loadu_ps(vr + 48)));
        }
        _mm512_storeu_ps(out + i, o0);
        _mm512_storeu_ps(out + i + 16, o1);
        _mm512_storeu_ps(out + i + 32, o2);
        _mm512_storeu_ps(out + i + 48, o3);
    }
    for (; i + 16 <= hd; i += 16) {
        __m512 o0 = _mm512_setzero_ps();
        for (int32_t t = 0; t < n; t++)
            o0 = _mm512_add_ps(o0, _mm512_mul_ps(_mm512_set1_ps(p[t]),
                                                 _mm512_loadu_ps(v + (size_t)t * rs + i)));
        _mm512_storeu_ps(out + i, o0);
    }
    for (; i < hd; i++) {
        float o = 0.0f;
        for (int32_t t = 0; t < n; t++) o += p[t] * v[(size_t)t * rs + i];
        out[i] = o;
    }
}

static void round_f16(int32_t n, float *x) {
    int32_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(x + i, _mm512_cvtph_ps(_mm512_cvtps_ph(
                                    _mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    for (; i < n; i++) x[i] = _cvtsh_ss(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}

const nb_attn_kernels nb_attn_avx512 = {scores_f16, scores_f32, mix_f16, mix_f32, round_f16};

#if defined(NB_ATTN_POP_ATTRIBUTE)
#pragma clang attribute pop
#endif

#else
/* Not x86-64 (or NB_NO_SIMD): nothing here. ISO C wants a declaration. */
typedef int nb_attn_avx512_empty;
#endif
