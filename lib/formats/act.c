/*
 * Activation formats: the bytes llama.cpp's CPU backend produces at run time
 * on x86 (ggml-cpu quantize_row_q8_0 / quantize_row_q8_1, AVX/AVX2 paths),
 * so dot products see exactly the operands ggml's would. Plus the public
 * row converters between f32 and f16 / bf16.
 *
 * What the SIMD path computes per block of 32, written out in scalar C:
 *   amax = max |x|                        (exact, order does not matter)
 *   d    = amax / 127                     (stored as fp16, rounded to even)
 *   id   = amax != 0 ? 127 / amax : 0     (NOT 1/d: differs in the last bit)
 *   q    = round_half_even(x * id)        (_mm256_round_ps, _MM_ROUND_NEAREST)
 *          then int32 (cvtps: out of range / NaN -> INT32_MIN) saturated to
 *          int16 and int8 (packs)
 *   Q8_1: s = fp16(d * (float)sum(q))     (the int32 sum before packing)
 * The portable reference ggml uses for weights (quantize_row_q8_0_ref) rounds
 * half away from zero with roundf and multiplies by 1/d: it can differ.
 */
#include "formats.h"

#include <math.h>

/* _mm256_round_ps(v, _MM_ROUND_NEAREST) then _mm256_cvtps_epi32: round half
 * to even (independent of the current rounding mode); NaN and values out of
 * the int32 range give INT32_MIN, the "integer indefinite". */
static int32_t simd_round_i32(float v) {
    const float fl = floorf(v), diff = v - fl; /* exact below 2^23; above, v is whole */
    float r;
    if (diff == 0.5f) r = (fmodf(fl, 2.0f) == 0.0f) ? fl : fl + 1.0f;
    else r = diff < 0.5f ? fl : fl + 1.0f;
    if (r >= -2147483648.0f && r < 2147483648.0f) return (int32_t)r;
    return INT32_MIN;
}

/* ... then the two saturating packs (epi32 -> epi16 -> epi8) */
static int8_t sat_i8(int32_t i) {
    if (i > 127) return 127;
    if (i < -128) return -128;
    return (int8_t)i;
}

static float block_amax32(const float *x) {
    float amax = 0;
    for (int j = 0; j < 32; j++) {
        const float a = fabsf(x[j]);
        if (a > amax) amax = a;
    }
    return amax;
}

void nb_from_float_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        const float amax = block_amax32(x);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = nb_f32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = sat_i8(simd_round_i32(x[j] * id));
    }
}

void nb_from_float_q8_1(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        const float amax = block_amax32(x);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int32_t sum = 0;
        y[i].d = nb_f32_to_fp16(d);
        for (int j = 0; j < QK8_1; j++) {
            const float v = x[j] * id;
            /* wrapping add, as _mm256_add_epi32 (only overflows on NaN input) */
            const int32_t r = simd_round_i32(v);
            sum = (int32_t)((uint32_t)sum + (uint32_t)r);
            y[i].qs[j] = sat_i8(r);
        }
        y[i].s = nb_f32_to_fp16(d * (float)sum);
    }
}

void nb_from_float_f32(const float *x, void *y, int64_t n) {
    if (n > 0) memcpy(y, x, (size_t)n * sizeof(float));
}

void nb_from_float_f16(const float *x, void *y, int64_t n) {
    nb_f32_to_f16_row(x, y, n);
}

void nb_from_float_bf16(const float *x, void *y, int64_t n) {
    nb_f32_to_bf16_row(x, y, n);
}

/* ------------------------------------------------------- row converters */

void nb_f32_to_f16_row(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = nb_f32_to_fp16(x[i]);
}

void nb_f16_to_f32_row(const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = nb_fp16_to_f32(x[i]);
}

void nb_f32_to_bf16_row(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = nb_f32_to_bf16(x[i]);
}

void nb_bf16_to_f32_row(const uint16_t *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = nb_bf16_to_f32(x[i]);
}
