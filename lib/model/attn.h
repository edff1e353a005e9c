/*
 * Attention kernels (internal to lib/model): the two products of one query
 * head with the KV cache, and the F16 rounding llama.cpp applies around
 * them. attn.c holds the reference versions in plain C and the dispatcher;
 * attn_avx2.c, attn_avx512.c (x86-64) and attn_neon.c (aarch64) hold SIMD
 * versions, chosen at run time at the level the dot products use
 * (formats/dot.h: nb_simd_current, nb_simd_force).
 *
 * Cache layout. Values: row-major, position p's kv_dim values at
 * p * kv_dim. Keys: in tiles of NB_ATTN_TILE (16) positions, each tile
 * dimension-major: key element i of position p at
 *     (p / 16) * 16 * kv_dim + i * 16 + p % 16,
 * so that 16 keys' element i are adjacent and the 16 scores of a tile run
 * side by side in vector lanes, each still summed over i in order.
 *
 * Every version computes the same sums in the same order as the scalar
 * one, per output element:
 *   scores: s[l] = (((0 + q_0 k_0l) + q_1 k_1l) + ...) over i = 0 .. hd-1,
 *   mix:    out[i] = (((0 + p_0 v_0i) + p_1 v_1i) + ...) over t = 0 .. n-1.
 * With an F16 cache the caller has rounded q and p to F16 values, so each
 * product of two F16 values is exact in float and a fused multiply-add
 * gives the same bits as a multiply and an add: the F16 versions agree
 * with the scalar ones to the bit. The F32 versions multiply and add
 * separately; they agree too unless a compiler contracts the scalar tails
 * (clang's default), then within float rounding.
 *
 * Nothing depends on where a query sits in a batch or on the thread that
 * runs it, so batched results stay identical to token-by-token ones.
 */
#ifndef NB_ATTN_H
#define NB_ATTN_H

#include "formats/dot.h"

#define NB_ATTN_TILE 16

typedef struct nb_attn_kernels {
    /* s[16 j + l] = q . key l of tile j, for the n_tiles tiles at k,
     * k + tile_stride, ... (k points at the query's kv head inside the
     * first tile: its element i of key l at k[i * 16 + l]) */
    void (*scores_f16)(int32_t hd, int32_t n_tiles, const float *q, const uint16_t *k,
                       size_t tile_stride, float *s);
    void (*scores_f32)(int32_t hd, int32_t n_tiles, const float *q, const float *k,
                       size_t tile_stride, float *s);
    /* out[i] = sum over t < n of p[t] * v[t * row_stride + i], i < hd */
    void (*mix_f16)(int32_t hd, int32_t n, const float *p, const uint16_t *v, size_t row_stride,
                    float *out);
    void (*mix_f32)(int32_t hd, int32_t n, const float *p, const float *v, size_t row_stride,
                    float *out);
    /* x[i] = the F16 value nearest x[i] (ties to even), as a float */
    void (*round_f16)(int32_t n, float *x);
} nb_attn_kernels;

/* The kernels at `level` (nb_simd_level), or NULL when not available. */
const nb_attn_kernels *nb_attn_get(int level);
/* The kernels at the level the dot products use now. */
const nb_attn_kernels *nb_attn_current(void);

extern const nb_attn_kernels nb_attn_scalar;
#if NB_DOT_X86
extern const nb_attn_kernels nb_attn_avx2;
extern const nb_attn_kernels nb_attn_avx512;
#endif
#if NB_DOT_NEON
extern const nb_attn_kernels nb_attn_neon;
#endif

/* F16 -> F32 without branches: the exponent and mantissa bits moved into
 * place and multiplied by 2^112, which rebiases the exponent and turns F16
 * subnormals, read as F32 subnormals, into their exact values; Inf and NaN
 * are set apart. The same values as nb_fp16_to_f32. */
static inline float nb_attn_h2f(uint16_t h) {
    uint32_t u = (uint32_t)(h & 0x7fff) << 13;
    float f;
    memcpy(&f, &u, 4);
    f *= 0x1p112f;
    memcpy(&u, &f, 4);
    if ((h & 0x7c00) == 0x7c00)
        u = 0x7f800000u | ((uint32_t)(h & 0x3ff) << 13) | (h & 0x3ff ? 0x400000u : 0);
    u |= (uint32_t)(h & 0x8000) << 16;
    memcpy(&f, &u, 4);
    return f;
}

#endif
