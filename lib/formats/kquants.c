/*
 * K-quants: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (weights, super-blocks of 256) and
 * Q8_K (activations).
 *
 * - nb_dequant_row_T decodes bit-exactly like ggml's dequantize_row_T: the
 *   same float operations in the same order (e.g. Q4_K forms d1 = d*sc and
 *   m1 = dmin*m, then d1*q - m1), never fused into an FMA.
 * - nb_from_float_q8_K writes the bytes of ggml's quantize_row_q8_K_ref.
 * - nb_quantize_row_T is nibble's own quantizer. Every type goes through the
 *   same three stages (details above asym_quantize and sym_quantize):
 *     1. per sub-block, a weighted least-squares fit of a continuous scale
 *        (and min): candidate start scales, each refined by alternating
 *        "assign q" / "refit by least squares with q fixed";
 *     2. for a given fp16 super-block scale d (and dmin), every sub-block
 *        scans its integer sub-scale (and min) candidates, re-assigns q
 *        for each and keeps the one of least error, computed exactly as
 *        the decoder will reproduce the values;
 *     3. d (and dmin) are refit by least squares with the integer
 *        sub-scales and q fixed, rounded to fp16, and stage 2 runs again
 *        while the error falls; a few seeds for d are tried.
 *   Error sums are weighted: imatrix[j] per column, or uniform (plain RMSE).
 *
 * Everything is reentrant: state lives on the stack, nothing is allocated.
 */
#include "formats.h"

#include <float.h>
#include <math.h>

/* The decoders must not be contracted into FMAs (ggml's reference output
 * rounds the product and the difference separately). GCC in ISO C mode
 * does not contract; clang needs to be told. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define FP16_MAX 65504.0f

/* ------------------------------------------------------------ helpers */

/* Nearest integer of v clamped to [lo, hi] (lo >= -128); NaN gives lo. */
static inline int qround(float v, int lo, int hi) {
    if (!(v > (float)lo)) return lo;
    if (v >= (float)hi) return hi;
    return (int)(v + 128.5f) - 128; /* v + 128.5 > 0: truncation is floor */
}

/* ggml's nearest_int: round half to even through the float mantissa
 * (valid for |v| < 2^22), which Q8_K needs for identical bytes. */
static inline int round_even(float v) {
    float t = v + 12582912.0f; /* 1.5 * 2^23: the integer lands in the low bits */
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* The fp16 value nearest to f, as the decoder will see it; magnitudes are
 * clamped to the largest finite half so a scale never decodes to inf. */
static inline float fp16_round(float f) {
    if (f > FP16_MAX) f = FP16_MAX;
    if (f < -FP16_MAX) f = -FP16_MAX;
    if (!(f == f)) f = 0.0f;
    return nb_fp16_to_f32(nb_f32_to_fp16(f));
}

static inline float fp16_get(nb_half h) {
    return nb_fp16_to_f32(h);
}

/* Per-value weights of one super-block: the importance matrix where given,
 * floored at 1e-4 of its mean so no sub-block is weightless; else uniform. */
static void block_weights(const float *imatrix, float *w) {
    double sum = 0;
    if (imatrix)
        for (int i = 0; i < QK_K; i++)
            if (imatrix[i] > 0 && imatrix[i] <= FLT_MAX) sum += imatrix[i];
    if (!(sum > 0)) {
        for (int i = 0; i < QK_K; i++) w[i] = 1.0f;
        return;
    }
    float floor_w = (float)(sum / QK_K) * 1e-4f;
    for (int i = 0; i < QK_K; i++) {
        float v = imatrix[i];
        w[i] = ((v > 0 && v <= FLT_MAX) ? v : 0.0f) + floor_w;
    }
}

/* 6-bit scale/min pairs of Q4_K and Q5_K: 8 pairs in 12 bytes. */
static inline void get_scale_min_6(int j, const uint8_t *s, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

static void put_scale_min_6(const uint8_t *sc, const uint8_t *m, uint8_t *s) {
    for (int j = 0; j < 4; j++) {
        s[j] = sc[j];
        s[j + 4] = m[j];
    }
    for (int j = 4; j < 8; j++) {
        s[j + 4] = (uint8_t)((sc[j] & 0xF) | ((m[j] & 0xF) << 4));
        s[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
        s[j] |= (uint8_t)((m[j] >> 4) << 6);
    }
}

/* Q3_K: 16 six-bit scales in 12 bytes: low nibbles in bytes 0-7 (scale j
 * and j+8 share byte j), high 2-bit pairs in bytes 8-11. */
static inline int get_scale_q3(int j, const uint8_t *s) {
    int lo = j < 8 ? (s[j] & 0xF) : (s[j - 8] >> 4);
    int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return lo | (hi << 4);
}

/* 2-bit fields of Q2_K / Q3_K: value e of a super-block sits in byte
 * (e/128)*32 + e%32 at bit 2*((e%128)/32). */
static inline int q2_byte(int e) { return (e / 128) * 32 + e % 32; }
static inline int q2_shift(int e) { return 2 * ((e % 128) / 32); }

/* ------------------------------------------------------------ decoders */

void nb_dequant_row_q2_K(const void *vx, float *y, int64_t n) {
    const block_q2_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = fp16_get(x[i].d), dmin = fp16_get(x[i].dmin);
        for (int j = 0; j < QK_K / 16; j++) {
            const uint8_t sc = x[i].scales[j];
            const float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
            for (int e = 16 * j; e < 16 * j + 16; e++) {
                const int q = (x[i].qs[q2_byte(e)] >> q2_shift(e)) & 3;
                const float p = dl * q; /* separate statements: no contraction */
                y[e] = p - ml;
            }
        }
        y += QK_K;
    }
}

void nb_dequant_row_q3_K(const void *vx, float *y, int64_t n) {
    const block_q3_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = fp16_get(x[i].d);
        for (int j = 0; j < QK_K / 16; j++) {
            const float dl = d * (get_scale_q3(j, x[i].scales) - 32);
            for (int e = 16 * j; e < 16 * j + 16; e++) {
                int q = (x[i].qs[q2_byte(e)] >> q2_shift(e)) & 3;
                if (!(x[i].hmask[e % 32] & (1 << (e / 32)))) q -= 4; /* clear bit: q - 4 */
                y[e] = dl * q;
            }
        }
        y += QK_K;
    }
}

void nb_dequant_row_q4_K(const void *vx, float *y, int64_t n) {
    const block_q4_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = fp16_get(x[i].d), dmin = fp16_get(x[i].dmin);
        for (int j = 0; j < QK_K / 32; j++) {
            uint8_t sc, m;
            get_scale_min_6(j, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            const uint8_t *q = x[i].qs + 32 * (j / 2);
            const int shift = 4 * (j & 1);
            for (int l = 0; l < 32; l++) {
                const float p = d1 * ((q[l] >> shift) & 0xF);
                y[32 * j + l] = p - m1;
            }
        }
        y += QK_K;
    }
}

void nb_dequant_row_q5_K(const void *vx, float *y, int64_t n) {
    const block_q5_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = fp16_get(x[i].d), dmin = fp16_get(x[i].dmin);
        for (int j = 0; j < QK_K / 32; j++) {
            uint8_t sc, m;
            get_scale_min_6(j, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            const uint8_t *q = x[i].qs + 32 * (j / 2);
            const int shift = 4 * (j & 1);
            for (int l = 0; l < 32; l++) {
                const int v = ((q[l] >> shift) & 0xF) + ((x[i].qh[l] >> j) & 1) * 16;
                const float p = d1 * v;
                y[32 * j + l] = p - m1;
            }
        }
        y += QK_K;
    }
}

/* Q6_K value e: h = e/128, k = (e%128)/32, l = e%32; low nibble k<2 / high
 * nibble k>=2 of ql[64h + 32(k&1) + l]; 2 high bits at 2k in qh[32h + l]. */
void nb_dequant_row_q6_K(const void *vx, float *y, int64_t n) {
    const block_q6_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = fp16_get(x[i].d);
        for (int j = 0; j < QK_K / 16; j++) {
            const int sc = x[i].scales[j];
            for (int e = 16 * j; e < 16 * j + 16; e++) {
                const int h = e / 128, k = (e % 128) / 32, l = e % 32;
                const int lo = (x[i].ql[64 * h + 32 * (k & 1) + l] >> (4 * (k >> 1))) & 0xF;
                const int hi = (x[i].qh[32 * h + l] >> (2 * k)) & 3;
                y[e] = d * sc * ((lo | (hi << 4)) - 32); /* (d*sc)*q as ggml */
            }
        }
        y += QK_K;
    }
}

void nb_dequant_row_q8_K(const void *vx, float *y, int64_t n) {
    const block_q8_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        for (int e = 0; e < QK_K; e++) y[e] = x[i].d * x[i].qs[e];
        y += QK_K;
    }
}

/* ---------------------------------------------------- Q8_K activations */

void nb_from_float_q8_K(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float max = 0, amax = 0; /* signed value of largest magnitude */
        for (int j = 0; j < QK_K; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        if (amax == 0) {
            y[i].d = 0;
            memset(y[i].qs, 0, sizeof y[i].qs);
            memset(y[i].bsums, 0, sizeof y[i].bsums);
            x += QK_K;
            continue;
        }
        /* max maps to -127; nothing can round past +127 but clamp anyway */
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = round_even(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v > 127 ? 127 : v);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
        x += QK_K;
    }
}

/* ------------------------------------------------ vectorizable pieces */

/* Nearest level of v in [bottom, top], as a float. After the clamp
 * v - bottom + 0.5 > 0, so truncation is floor. Branch-free on purpose:
 * the loops below vectorize. */
static inline float level(float v, float bottom, float top) {
    v = v > bottom ? v : bottom; /* NaN goes to bottom */
    v = v < top ? v : top;
    return (float)(int)(v + 0.5f - bottom) + bottom;
}

/* Sum of n (a multiple of 8, at most 32) terms in a fixed order: eight
 * columns, then a pairwise tree. Computing the terms into an array first
 * and summing after is what lets both GCC and clang vectorize the loops
 * below, and the fixed order keeps results identical across compilers. */
static inline float sum_fixed(float *t, int n) {
    for (int i = 8; i < n; i += 8)
        for (int k = 0; k < 8; k++) t[k] += t[i + k];
    return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

/* --------------------------------------------- stage 1: sub-block fits */

/* Continuous weighted least-squares fit of x ≈ a + s*q with
 * q = clamp(round((x - a)/s), 0, nmax), s >= 0 and a*sign <= 0 (sign +1:
 * the offset is a subtracted min, -1: an added one). Tries 16 start scales
 * from range/(nmax - 1) to range/(nmax + 0.5); from each it alternates
 * "assign q" and "refit (s, a) jointly by least squares with q fixed"
 * until q settles. Returns the weighted squared error. */
static double fit_asym(const float *x, const float *w, int n, int nmax, int sign, float *ps,
                       float *pa) {
    float lo = x[0], hi = x[0];
    double sw = 0, sx = 0, sxx = 0; /* independent of q */
    for (int i = 0; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
        sw += w[i];
        sx += (double)w[i] * x[i];
        sxx += (double)w[i] * x[i] * x[i];
    }
    if (sign > 0 && lo > 0) lo = 0; /* the offset may not be positive */
    if (sign < 0 && lo < 0) lo = 0; /* ... may not be negative */
    if (hi < lo) hi = lo;
    double best = sxx - 2.0 * lo * sx + (double)lo * lo * sw; /* all at lo */
    *ps = 0;
    *pa = lo;
    if (!(hi - lo > 0) || !(hi - lo < FLT_MAX)) return best;

    const int nstep = 16;
    float q[32] = {0}, tq[32], tqq[32], tqx[32];
    for (int k = 0; k < nstep; k++) {
        float s = (hi - lo) / ((float)nmax - 1.0f + 1.5f * (float)k / (nstep - 1));
        float a = lo;
        for (int it = 0; it < 6; it++) {
            int changed = it == 0;
            const float is = 1.0f / s;
            int i0 = 0;
            do /* at least once: n >= 8 */
                for (int i = i0; i < i0 + 8; i++) {
                    const float l = level((x[i] - a) * is, 0.0f, (float)nmax);
                    changed |= l != q[i];
                    q[i] = l;
                    tq[i] = w[i] * l;
                    tqq[i] = tq[i] * l;
                    tqx[i] = tq[i] * x[i];
                }
            while ((i0 += 8) < n);
            const double sq = sum_fixed(tq, n), sqq = sum_fixed(tqq, n), sqx = sum_fixed(tqx, n);
            if (!changed) break;
            const double D = sw * sqq - sq * sq;
            double ns = s, na;
            if (D > 0) ns = (sw * sqx - sq * sx) / D;
            na = (sx - ns * sq) / sw; /* all q equal (D = 0): keep s, fit a */
            if (na * sign > 0) {      /* offset out of bounds: pin it at 0 */
                na = 0;
                ns = sqq > 0 ? sqx / sqq : 0;
            }
            if (!(ns > 0)) break;
            s = (float)ns;
            a = (float)na;
            /* sum w (x - a - s q)^2, expanded */
            const double sd = s, ad = a;
            const double err = sxx - 2 * (sd * sqx + ad * sx) + sd * sd * sqq + 2 * sd * ad * sq +
                               ad * ad * sw;
            if (err < best) {
                best = err;
                *ps = s;
                *pa = a;
            }
        }
    }
    return best;
}

/* Continuous fit of x ≈ s*q, q = clamp(round(x/s), qmin, qmax), s of
 * either sign (the grid is lopsided: |qmin| = qmax + 1). Start scales put
 * the value of largest magnitude near qmin or near qmax (+-0.5); then
 * assign / refit s = sum(w x q) / sum(w q^2) until q settles. */
static double fit_sym(const float *x, const float *w, int qmin, int qmax, float *ps) {
    float amax = 0, xm = 0;
    double best = 0;
    for (int i = 0; i < 16; i++) {
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            xm = x[i];
        }
        best += (double)w[i] * x[i] * x[i];
    }
    const double sxx = best; /* error of s = 0 */
    *ps = 0;
    if (!(amax > 0) || !(amax <= FLT_MAX)) return best;

    const int nstep = 8;
    float q[16] = {0}, tqq[16], tqx[16];
    for (int side = 0; side < 2; side++) {
        const float top = side == 0 ? (float)qmin : (float)qmax;
        for (int k = 0; k < nstep; k++) {
            const float f = (float)k / (nstep - 1) - 0.5f;
            float s = xm / (top + (top > 0 ? f : -f));
            for (int it = 0; it < 6; it++) {
                int changed = it == 0;
                const float is = 1.0f / s;
                for (int i = 0; i < 16; i++) {
                    const float l = level(x[i] * is, (float)qmin, (float)qmax);
                    changed |= l != q[i];
                    q[i] = l;
                    tqq[i] = w[i] * l * l;
                    tqx[i] = w[i] * l * x[i];
                }
                const double sqq = sum_fixed(tqq, 16), sqx = sum_fixed(tqx, 16);
                if (!changed || !(sqq > 0) || sqx == 0) break;
                s = (float)(sqx / sqq);
                /* sum w (x - s q)^2 at the least-squares s */
                const double err = sxx - sqx * sqx / sqq;
                if (err < best) {
                    best = err;
                    *ps = s;
                }
            }
        }
    }
    return best;
}

/* ------------------------------------------- error of a decoded sub-block */

/* Weighted squared error of n values (a multiple of 8, at most 32) decoded
 * as ds*q - dm with ds = d*sc and dm = dmin*m, the decoder's own floats,
 * and each q the nearest level in [0, nmax]. */
static float asym_err(const float *x, const float *w, int n, float nmax, float ds, float dm) {
    float t[32];
    const float is = ds != 0 ? 1.0f / ds : 0.0f;
    int i0 = 0;
    do /* at least once: n >= 8 */
        for (int i = i0; i < i0 + 8; i++) {
            const float l = level((x[i] + dm) * is, 0.0f, nmax);
            const float p = ds * l; /* rounded, then subtracted: as decoded */
            const float diff = x[i] - (p - dm);
            t[i] = w[i] * diff * diff;
        }
    while ((i0 += 8) < n);
    return sum_fixed(t, n);
}

/* The least-squares dm for the q that are nearest under (ds, dm):
 * dm = weighted mean of ds*q - x; sw: the sum of the weights. */
static float asym_refit_dm(const float *x, const float *w, int n, float sw, float nmax, float ds,
                           float dm) {
    float t[32];
    const float is = ds != 0 ? 1.0f / ds : 0.0f;
    int i0 = 0;
    do /* at least once: n >= 8 */
        for (int i = i0; i < i0 + 8; i++) {
            const float l = level((x[i] + dm) * is, 0.0f, nmax);
            t[i] = w[i] * (ds * l - x[i]);
        }
    while ((i0 += 8) < n);
    return sw > 0 ? sum_fixed(t, n) / sw : dm;
}

/* Sixteen values decoded as ds*q, q nearest in [qmin, qmax]. */
static float sym_err(const float *x, const float *w, float qmin, float qmax, float ds) {
    float t[16];
    const float is = ds != 0 ? 1.0f / ds : 0.0f;
    for (int i = 0; i < 16; i++) {
        const float l = level(x[i] * is, qmin, qmax);
        const float diff = x[i] - ds * l;
        t[i] = w[i] * diff * diff;
    }
    return sum_fixed(t, 16);
}

/* Integer range [*k0, *k1] of sub-scale magnitudes k for which a step of
 * |d|*k puts `span` (the extent the levels must cover) between level
 * `finest` (no clipping) and level `coarsest`; both within [0, lmax]. */
static void scale_range(float span, float ad, float finest, float coarsest, int lmax, int *k0,
                        int *k1) {
    const float lo = span / (ad * finest), hi = span / (ad * coarsest);
    *k0 = lo < (float)lmax ? (int)lo : lmax; /* also catches NaN */
    *k1 = hi < (float)lmax ? (int)hi + 1 : lmax;
}

/* ---------------------------------- asymmetric types: Q2_K, Q4_K, Q5_K */

typedef struct asym_cfg {
    int nsub, len;   /* sub-blocks per super-block, values per sub-block */
    int nmax;        /* q in [0, nmax]                                   */
    int lmax;        /* integer sub-scales and mins in [0, lmax]         */
    int rm;          /* stage 2 tries mins within +-rm of the LS offset  */
} asym_cfg;

/* Stage 2 scans sub-scales whose step puts the sub-block's extent between
 * level nmax + 0.5 and level ASYM_COARSEST * nmax. */
#define ASYM_COARSEST 0.85f

/* Stage-1 results of one sub-block. */
typedef struct asym_sub {
    float s, m;      /* fitted scale and offset magnitude (>= 0)          */
    float span;      /* extent the levels must cover (offset bound incl.) */
    float sw;        /* sum of the weights                                */
} asym_sub;

/* A candidate encoding of a super-block. */
typedef struct asym_enc {
    float d, dmin;   /* decoded fp16 values; dmin carries the sign        */
    uint8_t sc[16], mn[16];
    uint8_t q[QK_K];
    double err;
} asym_enc;

/* Stage 2: with d and dmin fixed, each sub-block scans integer scales sc
 * (its fit +-1 and the range where its extent fills the levels); for each
 * sc the least-squares offset gives a centre m, and mins within +-rm of it
 * are tried. The (sc, m) of least decoded error wins and q is re-assigned
 * with it. The error is rugged in sc and m (it jumps whenever a value
 * changes level), so scanning beats local refinement. */
static void asym_assign(const asym_cfg *c, const float *x, const float *w, const asym_sub *sub,
                        asym_enc *e) {
    const float admin = fabsf(e->dmin), nmax = (float)c->nmax;
    e->err = 0;
    for (int j = 0; j < c->nsub; j++) {
        const float *xj = x + j * c->len, *wj = w + j * c->len;
        const int sc0 = e->d > 0 ? qround(sub[j].s / e->d, 0, c->lmax) : 0;
        const int m0 = admin > 0 ? qround(sub[j].m / admin, 0, c->lmax) : 0;
        float best = asym_err(xj, wj, c->len, nmax, e->d * sc0, e->dmin * m0);
        e->sc[j] = (uint8_t)sc0;
        e->mn[j] = (uint8_t)m0;
        int k0 = sc0 - 1, k1 = sc0 + 1;
        if (e->d > 0) {
            int r0, r1;
            scale_range(sub[j].span, e->d, nmax + 0.5f, ASYM_COARSEST * nmax, c->lmax, &r0, &r1);
            if (r0 < k0) k0 = r0;
            if (r1 > k1) k1 = r1;
        }
        if (k0 < 0) k0 = 0;
        if (k1 > c->lmax) k1 = c->lmax;
        if (e->d == 0) k1 = 0;
        for (int sc = k0; sc <= k1; sc++) {
            const float ds = e->d * sc;
            int mc = m0;
            if (admin > 0) {
                const float dm = asym_refit_dm(xj, wj, c->len, sub[j].sw, nmax, ds, e->dmin * m0);
                mc = qround(dm / e->dmin, 0, c->lmax);
            }
            const int mlo = mc - c->rm < 0 ? 0 : mc - c->rm;
            const int mhi = admin == 0 ? 0 : mc + c->rm > c->lmax ? c->lmax : mc + c->rm;
            for (int mm = mlo; mm <= mhi; mm++) {
                const float err = asym_err(xj, wj, c->len, nmax, ds, e->dmin * mm);
                if (err < best) {
                    best = err;
                    e->sc[j] = (uint8_t)sc;
                    e->mn[j] = (uint8_t)mm;
                }
            }
        }
        const float ds = e->d * e->sc[j], dm = e->dmin * e->mn[j];
        const float is = ds != 0 ? 1.0f / ds : 0.0f;
        for (int i = 0; i < c->len; i++)
            e->q[j * c->len + i] = (uint8_t)level((xj[i] + dm) * is, 0.0f, nmax);
        e->err += best;
    }
}

/* Stage 3: least-squares (d, dmin) for the integer sub-scales, mins and q
 * of e (x ≈ d*(sc*q) - dmin*m: two unknowns, normal equations), rounded to
 * fp16. The signs the encoding assumed are kept. 0 if degenerate. */
static int asym_refit(const asym_cfg *c, const float *x, const float *w, int sign,
                      const asym_enc *e, float *pd, float *pdmin) {
    double aa = 0, ab = 0, bb = 0, ax = 0, bx = 0;
    for (int j = 0; j < c->nsub; j++) {
        const double mj = e->mn[j];
        for (int i = j * c->len; i < (j + 1) * c->len; i++) {
            const double A = (double)e->sc[j] * e->q[i], W = w[i];
            aa += W * A * A;
            ab += W * A * mj;
            bb += W * mj * mj;
            ax += W * A * x[i];
            bx += W * mj * x[i];
        }
    }
    double d = e->d, dmin = e->dmin;
    const double det = aa * bb - ab * ab;
    if (aa > 0 && bb > 0 && det > 1e-9 * aa * bb) {
        d = (ax * bb - ab * bx) / det;
        dmin = (ab * ax - aa * bx) / det;
    } else if (aa > 0) {
        d = (ax + dmin * ab) / aa;
    } else if (bb > 0) {
        dmin = -bx / bb;
    } else {
        return 0;
    }
    if (dmin * sign < 0) { /* wrong sign: pin at 0, refit the other alone */
        dmin = 0;
        d = aa > 0 ? ax / aa : 0;
    }
    if (d < 0) {
        d = 0;
        dmin = bb > 0 ? -bx / bb : 0;
        if (dmin * sign < 0) dmin = 0;
    }
    *pd = fp16_round((float)d);
    *pdmin = fp16_round((float)dmin);
    return 1;
}

/* Seeds for the super-block scales: the largest fitted sub-scale (min) on
 * integer level lmax - t. The error is far from convex in d (each d gives
 * another grid of sub-scale multiples), so two seeds well apart. */
static const float seed_t[] = {0.0f, 3.0f};
#define N_SEEDS (sizeof seed_t / sizeof seed_t[0])

/* Stages 2 and 3 for one sign of the offsets, from each seed: assign,
 * then refit (d, dmin) and re-assign while the error falls. */
static void asym_search(const asym_cfg *c, const float *x, const float *w, int sign,
                        const asym_sub *sub, asym_enc *best) {
    float smax = 0, mmax = 0;
    for (int j = 0; j < c->nsub; j++) {
        if (sub[j].s > smax) smax = sub[j].s;
        if (sub[j].m > mmax) mmax = sub[j].m;
    }
    asym_enc cur, next;
    for (size_t t = 0; t < N_SEEDS; t++) {
        cur.d = fp16_round(smax / ((float)c->lmax - seed_t[t]));
        cur.dmin = fp16_round((float)sign * mmax / ((float)c->lmax - seed_t[t]));
        asym_assign(c, x, w, sub, &cur);
        for (int it = 0; it < 8; it++) {
            if (!asym_refit(c, x, w, sign, &cur, &next.d, &next.dmin)) break;
            if (next.d == cur.d && next.dmin == cur.dmin) break;
            asym_assign(c, x, w, sub, &next);
            if (!(next.err < cur.err)) break;
            cur = next;
        }
        if (!(best->err >= 0) || cur.err < best->err) *best = cur; /* first always */
    }
}

/* Quantizer of the asymmetric types, x = d*sc*q - dmin*m:
 *   stage 1: fit (scale, offset) per sub-block by least squares (fit_asym);
 *   stage 2: for a given fp16 (d, dmin), pick each sub-block's integer
 *            (sc, m) by the error the decoder will reproduce, q nearest
 *            (asym_assign);
 *   stage 3: refit (d, dmin) by least squares with sc, m, q fixed, round
 *            to fp16 and repeat stage 2 while the error falls (asym_search).
 * Offsets are normally subtracted mins (dmin >= 0, as ggml writes them);
 * when some sub-block lies wholly above zero the mirrored encoding
 * (dmin < 0: added offsets) is tried too and the better one kept. */
static void asym_quantize(const asym_cfg *c, const float *x, const float *w, asym_enc *best) {
    asym_sub sub[16];
    float lo[16], hi[16];
    int any_positive = 0;
    for (int j = 0; j < c->nsub; j++) {
        lo[j] = hi[j] = x[j * c->len];
        for (int i = 1; i < c->len; i++) {
            lo[j] = fminf(lo[j], x[j * c->len + i]);
            hi[j] = fmaxf(hi[j], x[j * c->len + i]);
        }
        if (lo[j] > 0) any_positive = 1;
    }
    memset(best, 0, sizeof *best);
    best->err = -1; /* none yet (errors can overflow to inf with huge inputs) */
    for (int sign = 1; sign >= -1; sign -= 2) {
        if (sign < 0 && !any_positive) break;
        for (int j = 0; j < c->nsub; j++) {
            float a;
            fit_asym(x + j * c->len, w + j * c->len, c->len, c->nmax, sign, &sub[j].s, &a);
            sub[j].m = fabsf(a);
            /* the extent the levels must cover, down to the offset bound 0 */
            const float base = sign > 0 ? fminf(lo[j], 0.0f) : fmaxf(lo[j], 0.0f);
            sub[j].span = fmaxf(0.0f, hi[j] - base);
            sub[j].sw = 0;
            for (int i = 0; i < c->len; i++) sub[j].sw += w[j * c->len + i];
        }
        asym_search(c, x, w, sign, sub, best);
    }
}

/* ---------------------------------------- symmetric types: Q3_K, Q6_K */

typedef struct sym_cfg {
    int qmin, qmax;  /* q range                          */
    int lmin, lmax;  /* integer sub-scale range (signed) */
} sym_cfg;

/* Stage 2 scans sub-scales whose step puts the sub-block's largest
 * magnitude between level |qmin| + 0.5 and level SYM_COARSEST * qmax. */
#define SYM_COARSEST 0.8f

typedef struct sym_sub {
    float s;         /* fitted signed scale         */
    float amax;      /* largest magnitude of values */
} sym_sub;

typedef struct sym_enc {
    float d;
    int sc[16];
    int8_t q[QK_K];
    double err;
} sym_enc;

/* Stage 2: with d fixed, each sub-block scans integer scales of both signs
 * (its fit +-2 and the range where its largest magnitude fills the
 * levels), q nearest; the scale of least decoded error wins. */
static void sym_assign(const sym_cfg *c, const float *x, const float *w, const sym_sub *sub,
                       sym_enc *e) {
    const float qmin = (float)c->qmin, qmax = (float)c->qmax, ad = fabsf(e->d);
    e->err = 0;
    for (int j = 0; j < 16; j++) {
        const float *xj = x + 16 * j, *wj = w + 16 * j;
        const int sc0 = e->d != 0 ? qround(sub[j].s / e->d, c->lmin, c->lmax) : 0;
        float best = sym_err(xj, wj, qmin, qmax, e->d * sc0);
        e->sc[j] = sc0;
        if (e->d != 0) {
            int k0, k1;
            scale_range(sub[j].amax, ad, 0.5f - qmin, SYM_COARSEST * qmax, -c->lmin, &k0, &k1);
            for (int sign = -1; sign <= 1; sign += 2)
                for (int k = k0; k <= k1; k++) {
                    const int sc = sign * k;
                    if (sc < c->lmin || sc > c->lmax) continue;
                    const float err = sym_err(xj, wj, qmin, qmax, e->d * sc);
                    if (err < best) {
                        best = err;
                        e->sc[j] = sc;
                    }
                }
            for (int sc = sc0 - 2; sc <= sc0 + 2; sc++) {
                if (sc < c->lmin || sc > c->lmax) continue;
                const float err = sym_err(xj, wj, qmin, qmax, e->d * sc);
                if (err < best) {
                    best = err;
                    e->sc[j] = sc;
                }
            }
        }
        const float ds = e->d * e->sc[j], is = ds != 0 ? 1.0f / ds : 0.0f;
        for (int i = 0; i < 16; i++) e->q[16 * j + i] = (int8_t)level(xj[i] * is, qmin, qmax);
        e->err += best;
    }
}

/* Quantizer of the symmetric types, x = d*sc*q with signed sc:
 *   stage 1: fit a signed scale per sub-block (fit_sym);
 *   stage 2: for a given fp16 d, pick each sub-block's integer sc by the
 *            decoded error, q nearest (sym_assign);
 *   stage 3: refit d = sum(w x sc q) / sum(w (sc q)^2), round to fp16 and
 *            repeat stage 2 while the error falls.
 * Seeds put the fitted sub-scale of largest magnitude on either end of the
 * integer range (the negative end is one step longer), or 3 steps inside. */
static void sym_quantize(const sym_cfg *c, const float *x, const float *w, sym_enc *best) {
    sym_sub sub[16];
    float sm = 0;
    for (int j = 0; j < 16; j++) {
        fit_sym(x + 16 * j, w + 16 * j, c->qmin, c->qmax, &sub[j].s);
        sub[j].amax = 0;
        for (int i = 0; i < 16; i++) sub[j].amax = fmaxf(sub[j].amax, fabsf(x[16 * j + i]));
        if (fabsf(sub[j].s) > fabsf(sm)) sm = sub[j].s;
    }
    memset(best, 0, sizeof *best);
    best->err = -1; /* none yet (errors can overflow to inf with huge inputs) */
    sym_enc cur, next;
    for (int side = 0; side < 2; side++)
        for (size_t t = 0; t < N_SEEDS; t++) {
            const float top = side == 0 ? (float)c->lmin + seed_t[t] : (float)c->lmax - seed_t[t];
            cur.d = fp16_round(sm / top);
            sym_assign(c, x, w, sub, &cur);
            for (int it = 0; it < 8; it++) {
                double num = 0, den = 0;
                for (int i = 0; i < QK_K; i++) {
                    const double A = (double)cur.sc[i / 16] * cur.q[i];
                    num += w[i] * A * x[i];
                    den += w[i] * A * A;
                }
                if (!(den > 0)) break;
                next.d = fp16_round((float)(num / den));
                if (next.d == cur.d) break;
                sym_assign(c, x, w, sub, &next);
                if (!(next.err < cur.err)) break;
                cur = next;
            }
            if (!(best->err >= 0) || cur.err < best->err) *best = cur; /* first always */
        }
}

/* ------------------------------------------------------- quantizers */

void nb_quantize_row_q2_K(const float *x, void *vy, int64_t n, const float *imatrix) {
    static const asym_cfg cfg = {16, 16, 3, 15, 1};
    block_q2_K *y = vy;
    float w[QK_K];
    asym_enc e;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        block_weights(imatrix ? imatrix + i * QK_K : NULL, w);
        asym_quantize(&cfg, x, w, &e);
        y[i].d = nb_f32_to_fp16(e.d);
        y[i].dmin = nb_f32_to_fp16(e.dmin);
        for (int j = 0; j < 16; j++) y[i].scales[j] = (uint8_t)(e.sc[j] | (e.mn[j] << 4));
        memset(y[i].qs, 0, sizeof y[i].qs);
        for (int k = 0; k < QK_K; k++) y[i].qs[q2_byte(k)] |= (uint8_t)(e.q[k] << q2_shift(k));
    }
}

void nb_quantize_row_q3_K(const float *x, void *vy, int64_t n, const float *imatrix) {
    static const sym_cfg cfg = {-4, 3, -32, 31};
    block_q3_K *y = vy;
    float w[QK_K];
    sym_enc e;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        block_weights(imatrix ? imatrix + i * QK_K : NULL, w);
        sym_quantize(&cfg, x, w, &e);
        y[i].d = nb_f32_to_fp16(e.d);
        memset(y[i].scales, 0, sizeof y[i].scales);
        for (int j = 0; j < 16; j++) {
            const int l = e.sc[j] + 32; /* stored biased by 32 */
            if (j < 8) y[i].scales[j] |= (uint8_t)(l & 0xF);
            else y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
            y[i].scales[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
        }
        memset(y[i].hmask, 0, sizeof y[i].hmask);
        memset(y[i].qs, 0, sizeof y[i].qs);
        for (int k = 0; k < QK_K; k++) {
            const int l = e.q[k] + 4; /* 0..7: bit 2 goes to hmask */
            y[i].qs[q2_byte(k)] |= (uint8_t)((l & 3) << q2_shift(k));
            if (l & 4) y[i].hmask[k % 32] |= (uint8_t)(1 << (k / 32));
        }
    }
}

void nb_quantize_row_q4_K(const float *x, void *vy, int64_t n, const float *imatrix) {
    static const asym_cfg cfg = {8, 32, 15, 63, 2};
    block_q4_K *y = vy;
    float w[QK_K];
    asym_enc e;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        block_weights(imatrix ? imatrix + i * QK_K : NULL, w);
        asym_quantize(&cfg, x, w, &e);
        y[i].d = nb_f32_to_fp16(e.d);
        y[i].dmin = nb_f32_to_fp16(e.dmin);
        put_scale_min_6(e.sc, e.mn, y[i].scales);
        for (int j = 0; j < QK_K / 64; j++)
            for (int l = 0; l < 32; l++)
                y[i].qs[32 * j + l] = (uint8_t)(e.q[64 * j + l] | (e.q[64 * j + 32 + l] << 4));
    }
}

void nb_quantize_row_q5_K(const float *x, void *vy, int64_t n, const float *imatrix) {
    static const asym_cfg cfg = {8, 32, 31, 63, 3};
    block_q5_K *y = vy;
    float w[QK_K];
    asym_enc e;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        block_weights(imatrix ? imatrix + i * QK_K : NULL, w);
        asym_quantize(&cfg, x, w, &e);
        y[i].d = nb_f32_to_fp16(e.d);
        y[i].dmin = nb_f32_to_fp16(e.dmin);
        put_scale_min_6(e.sc, e.mn, y[i].scales);
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int j = 0; j < QK_K / 64; j++)
            for (int l = 0; l < 32; l++) {
                const int q0 = e.q[64 * j + l], q1 = e.q[64 * j + 32 + l];
                y[i].qs[32 * j + l] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
                /* bit 4 of sub-block s's values: bit s of qh[l] */
                y[i].qh[l] |= (uint8_t)(((q0 >> 4) << (2 * j)) | ((q1 >> 4) << (2 * j + 1)));
            }
    }
}

void nb_quantize_row_q6_K(const float *x, void *vy, int64_t n, const float *imatrix) {
    static const sym_cfg cfg = {-32, 31, -128, 127};
    block_q6_K *y = vy;
    float w[QK_K];
    sym_enc e;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        block_weights(imatrix ? imatrix + i * QK_K : NULL, w);
        sym_quantize(&cfg, x, w, &e);
        y[i].d = nb_f32_to_fp16(e.d);
        for (int j = 0; j < 16; j++) y[i].scales[j] = (int8_t)e.sc[j];
        memset(y[i].ql, 0, sizeof y[i].ql);
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int k = 0; k < QK_K; k++) {
            const int h = k / 128, kk = (k % 128) / 32, l = k % 32;
            const int v = e.q[k] + 32; /* 0..63 */
            y[i].ql[64 * h + 32 * (kk & 1) + l] |= (uint8_t)((v & 0xF) << (4 * (kk >> 1)));
            y[i].qh[32 * h + l] |= (uint8_t)((v >> 4) << (2 * kk));
        }
    }
}
