/*
 * Dot products of a weight row with an activation row (internal header).
 *
 * Every type T with a dot product has one reference version in plain C
 * (dot.c, nb_vec_dot_T_scalar) and SIMD versions in dot_avx2.c,
 * dot_avx512.c (x86-64) and dot_neon.c (aarch64). The exported
 * nb_vec_dot_T (formats.h) calls the best version this CPU runs, chosen once
 * at run time; tests and benchmarks can ask for any version by level and
 * force a level.
 *
 * Pairs (weights x activations), as ggml's vec_dot_type:
 *   f32 x f32, f16 x f16, bf16 x bf16,
 *   q4_0, q5_0, q8_0, iq4_nl x q8_0,   q4_1, q5_1 x q8_1,
 *   q2_K, q3_K, q4_K, q5_K, q6_K, iq4_xs x q8_K.
 *
 * Semantics are ggml's: per block (or sub-block) an exact integer dot
 * product of the quants, then scaled by the fp16 (q8_K: f32) scales in
 * float. Versions differ only in the order of the float operations, so they
 * agree within float rounding.
 *
 * Input contract (the same as ggml's SIMD kernels): weight blocks may hold
 * any bytes; activation quants (qs of q8_0, q8_1, q8_K) lie in [-127, 127],
 * which is what the activation quantizers produce (-128 never occurs), and
 * q8_K's bsums are the sums of its 16 consecutive qs. Scales are finite.
 */
#ifndef NB_DOT_H
#define NB_DOT_H

#include "formats.h"

/* Which SIMD files hold code in this build. */
#if !defined(NB_NO_SIMD) && (defined(__x86_64__) || defined(_M_X64))
#define NB_DOT_X86 1
#else
#define NB_DOT_X86 0
#endif
#if !defined(NB_NO_SIMD) && (defined(__aarch64__) || defined(_M_ARM64))
#define NB_DOT_NEON 1
#else
#define NB_DOT_NEON 0
#endif

typedef enum nb_simd_level {
    NB_SIMD_SCALAR = 0,
    NB_SIMD_AVX2 = 1,   /* AVX2 + FMA + F16C                          */
    NB_SIMD_AVX512 = 2, /* AVX-512 F + BW + VL + DQ (and AVX2 + FMA + F16C) */
    NB_SIMD_NEON = 3,   /* aarch64 Advanced SIMD (baseline, no dotprod) */
    NB_SIMD_COUNT = 4
} nb_simd_level;

typedef void (*nb_vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);

/* "scalar", "avx2", "avx512", "neon"; "?" otherwise. */
const char *nb_simd_name(int level);
/* Is the level compiled into this build and supported by this CPU? */
int nb_simd_available(int level);
/* The best available level (detected once, at run time). */
nb_simd_level nb_simd_best(void);
/* The level the nb_vec_dot_T dispatchers use now. */
nb_simd_level nb_simd_current(void);
/* Make the dispatchers use `level` (if available; -1 = back to the best).
 * Returns the level in use afterwards. Meant for tests and benchmarks:
 * call it while no other thread is inside a dot product. */
nb_simd_level nb_simd_force(int level);

/* The version of type `type`'s dot product at `level`, or NULL when that
 * type has no dot product or the level is not available. */
nb_vec_dot_fn nb_vec_dot_get(uint32_t type, int level);
/* The partner (activation) type of `type`'s dot product; -1 if none. */
int nb_vec_dot_partner(uint32_t type);

/* The types with a dot product: X(T, TYPE_ID). */
#define NB_FOR_EACH_DOT_TYPE(X)                                                               \
    X(f32, NB_TYPE_F32) X(f16, NB_TYPE_F16) X(bf16, NB_TYPE_BF16) X(q4_0, NB_TYPE_Q4_0)         \
    X(q4_1, NB_TYPE_Q4_1) X(q5_0, NB_TYPE_Q5_0) X(q5_1, NB_TYPE_Q5_1) X(q8_0, NB_TYPE_Q8_0)     \
    X(q2_K, NB_TYPE_Q2_K) X(q3_K, NB_TYPE_Q3_K) X(q4_K, NB_TYPE_Q4_K) X(q5_K, NB_TYPE_Q5_K)     \
    X(q6_K, NB_TYPE_Q6_K) X(iq4_nl, NB_TYPE_IQ4_NL) X(iq4_xs, NB_TYPE_IQ4_XS)

#define NB_DOT_DECLARE_VARIANTS(T, ID)                                                     \
    void nb_vec_dot_##T##_scalar(int64_t n, float *s, const void *x, const void *y);     \
    void nb_vec_dot_##T##_avx2(int64_t n, float *s, const void *x, const void *y);       \
    void nb_vec_dot_##T##_avx512(int64_t n, float *s, const void *x, const void *y);     \
    void nb_vec_dot_##T##_neon(int64_t n, float *s, const void *x, const void *y);
NB_FOR_EACH_DOT_TYPE(NB_DOT_DECLARE_VARIANTS)

/* ------------------------------------------------ matmul tiles
 *
 * A tile of weight rows times activation rows (a matrix product's inner
 * part): s[r * s_row + t * s_tok] = nb_vec_dot_T(n, x + r * x_stride,
 * y + t * y_stride) for r < n_rows, t < n_tok, each value to the bit what
 * the current level's nb_vec_dot_T gives (tests check), so results do not
 * depend on how a product is cut into tiles. Types with a tiled version
 * (Q4_1 on x86: dot_avx2.c) reuse each unpacked weight block for several
 * tokens and each activation block for several rows; the others loop over
 * nb_vec_dot_T. */
typedef void (*nb_vec_dot_mn_fn)(int64_t n, int32_t n_rows, int32_t n_tok, float *s,
                                 size_t s_row, size_t s_tok, const void *x, size_t x_stride,
                                 const void *y, size_t y_stride);
void nb_vec_dot_mn(uint32_t type, int64_t n, int32_t n_rows, int32_t n_tok, float *s,
                   size_t s_row, size_t s_tok, const void *x, size_t x_stride, const void *y,
                   size_t y_stride);
/* The tiled version of `type` at `level`; NULL when it has none (then
 * nb_vec_dot_mn loops over the single dot product). */
nb_vec_dot_mn_fn nb_vec_dot_mn_get(uint32_t type, int level);
void nb_vec_dot_mn_q4_1_avx2(int64_t n, int32_t n_rows, int32_t n_tok, float *s, size_t s_row,
                             size_t s_tok, const void *x, size_t x_stride, const void *y,
                             size_t y_stride);
/* AVX-512 tiles (dot_avx512.c): Q4_0, Q8_0, Q4_K, Q6_K; the _vnni ones
 * use vpdpbusd (AVX-512 VNNI, checked at run time: nb_simd_has_vnni) and
 * give the same bits as the plain ones. */
#define NB_DOT_DECLARE_MN(NAME)                                                               \
    void NAME(int64_t n, int32_t n_rows, int32_t n_tok, float *s, size_t s_row, size_t s_tok, \
              const void *x, size_t x_stride, const void *y, size_t y_stride);
NB_DOT_DECLARE_MN(nb_vec_dot_mn_q4_0_avx512)
NB_DOT_DECLARE_MN(nb_vec_dot_mn_q4_0_vnni)
NB_DOT_DECLARE_MN(nb_vec_dot_mn_q4_1_vnni)
NB_DOT_DECLARE_MN(nb_vec_dot_mn_q8_0_vnni)
NB_DOT_DECLARE_MN(nb_vec_dot_mn_q4_K_vnni)
NB_DOT_DECLARE_MN(nb_vec_dot_mn_q6_K_vnni)
/* Does the CPU have AVX-512 VNNI (and the AVX-512 level)? Tests can turn
 * its use off (nb_simd_force_vnni(0)) to check the plain tiles. */
int nb_simd_has_vnni(void);
void nb_simd_force_vnni(int on);

/* Activation quantizers: SIMD versions of nb_from_float_q8_0 / _q8_1
 * (act.c, the reference), byte for byte the same output (tests check). */
typedef void (*nb_quantize_fn)(const float *x, void *y, int64_t n);
/* The version for activation type `type` at `level`; NULL when none. */
nb_quantize_fn nb_act_quantize_get(uint32_t type, int level);
/* The best at the current level: a SIMD version, else the type's from_float. */
nb_quantize_fn nb_act_quantize(uint32_t type);
void nb_quantize_q8_0_avx2(const float *x, void *y, int64_t n);
void nb_quantize_q8_1_avx2(const float *x, void *y, int64_t n);

/* fp16 -> f32, the same as nb_fp16_to_f32 but inline (hot loops). */
static inline float nb_dot_h2f(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t u;
    float f;
    if (exp == 0x1f) {
        u = sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0);
    } else if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: man * 2^-24, exact */
            f = (float)man * (1.0f / 16777216.0f);
            return sign ? -f : f;
        }
    } else {
        u = sign | ((exp + 112) << 23) | (man << 13);
    }
    memcpy(&f, &u, 4);
    return f;
}

/* bf16 -> f32: the top half of the binary32 bits. */
static inline float nb_dot_bf2f(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Q4_K / Q5_K: the 6-bit scale and min of sub-block j (0..7) from the 12
 * packed bytes: j < 4: low 6 bits of q[j] and q[j+4]; j >= 4: low nibbles of
 * q[j+4] (scale) / high nibbles of q[j+4] (min), with the top 2 bits taken
 * from the top bits of q[j-4] (scale) and q[j] (min). */
static inline void nb_dot_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q3_K: the 16 signed 6-bit scales (already minus 32) from the 12 packed
 * bytes: low 4 bits in the nibbles of bytes 0..7 (j < 8: low nibble of
 * byte j, else high nibble of byte j-8), high 2 bits in bytes 8..11 (bits
 * 2*(j/4)..+1 of byte 8 + j%4). */
static inline int nb_dot_q3k_scale(const uint8_t *p, int j) {
    int lo = j < 8 ? (p[j] & 0xF) : (p[j - 8] >> 4);
    int hi = (p[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
    return (lo | (hi << 4)) - 32;
}

/* The same for all 16 at once, four bytes at a time (for the SIMD files):
 * out word w (scales 4w..4w+3) = nibbles of word w%2 (low for w < 2, high
 * otherwise) | the 2-bit fields (bits 2w..2w+1 of each byte of word 2) << 4. */
static inline void nb_dot_q3k_scales(const uint8_t *p, int8_t out[16]) {
    uint32_t a[3], o[4];
    memcpy(a, p, 12);
    for (int w = 0; w < 4; w++) {
        uint32_t nib = (w < 2 ? a[w] : a[w - 2] >> 4) & 0x0f0f0f0fu;
        uint32_t hi = (a[2] >> (2 * w)) & 0x03030303u;
        /* minus 32 in every byte (0..63) without borrows between bytes:
         * with bit 7 set each byte stays positive, and flipping bit 7
         * back gives (v - 32) mod 256, the int8 value -32..31 */
        o[w] = (((nib | (hi << 4)) | 0x80808080u) - 0x20202020u) ^ 0x80808080u;
    }
    memcpy(out, o, 16);
}

/* Q4_K / Q5_K: all 8 scales and mins at once, four bytes at a time (for
 * the SIMD files; the same values as nb_dot_scale_min_k4). */
static inline void nb_dot_k4_unpack(const uint8_t *p, uint8_t sc[8], uint8_t m[8]) {
    uint32_t a[3], s[2], mm[2];
    memcpy(a, p, 12);
    s[0] = a[0] & 0x3f3f3f3fu;                                           /* j < 4  */
    mm[0] = a[1] & 0x3f3f3f3fu;
    s[1] = (a[2] & 0x0f0f0f0fu) | (((a[0] >> 6) & 0x03030303u) << 4);    /* j >= 4 */
    mm[1] = ((a[2] >> 4) & 0x0f0f0f0fu) | (((a[1] >> 6) & 0x03030303u) << 4);
    memcpy(sc, s, 8);
    memcpy(m, mm, 8);
}

/* IQ4_XS: the 6-bit scale of sub-block ib (0..7), minus 32. */
static inline int nb_dot_iq4xs_scale(const block_iq4_xs *b, int ib) {
    int lo = (b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
    int hi = (b->scales_h >> (2 * ib)) & 3;
    return (lo | (hi << 4)) - 32;
}

#endif
