/*
 * Plain float types, the legacy block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
 * Q8_1) and the non-linear IQ4_NL / IQ4_XS formats.
 *
 * Dequantizers: bit-exact with ggml's dequantize_row_*. Every product they
 * form is exact in binary32 (an fp16 scale has 11 significant bits, a quant at
 * most 7, and IQ4_XS's d * (ls - 32) * grid at most 11 + 6 + 7 = 24), so the
 * only rounding is the "+ m" of Q4_1 / Q5_1: fusing it into an FMA or not
 * gives the same bits.
 *
 * Quantizers: nibble's own, minimizing the (importance-)weighted squared
 * error of the values the block will really decode to: every candidate
 * scale is an fp16 value, and for it each quant is the exact nearest level.
 * No allocation, no static mutable state: reentrant.
 */
#include "formats.h"

#include <math.h>

/* The searches compare errors of nearly equal candidates: keep clang from
 * fusing a*b + c (its default), so every compiler picks the same bytes.
 * (GCC does not contract in the -std=c11 mode the Makefile uses.) */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

const int8_t nb_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                     1,    13,   25,  38,  53,  69,  89,  113};

#define HALF_MAX_BITS 0x7bffu /* largest finite fp16: 65504 */
#define HALF_MAX 65504.0f
#define HALF_MIN_SUB 5.9604644775390625e-08 /* smallest positive fp16, 2^-24 */

/* Scale search spans, as divisors of the block's largest magnitude: wide
 * enough to hold the best scale found on normal, uniform, Laplace, cosine
 * and outlier-heavy data with margin (an outlier block can want a coarser
 * scale; a grid end far from its neighbour, a finer one). */
#define Q4_0_LO_DIV 12.0
#define Q4_0_HI_DIV 2.0
#define Q5_0_LO_DIV 22.0
#define Q5_0_HI_DIV 4.0
#define Q8_0_LO_DIV 130.0
#define Q8_0_HI_DIV 48.0
#define GRID_LO_DIV 170.0
#define GRID_HI_DIV 32.0
/* Q4_1 / Q5_1: coordinate-descent rounds per start (see quantize_affine) */
#define AFFINE_ROUNDS 8

/* ================================================================ dequant */

void nb_dequant_row_f32(const void *x, float *y, int64_t n) {
    if (n > 0) memcpy(y, x, (size_t)n * sizeof(float));
}

void nb_dequant_row_f16(const void *x, float *y, int64_t n) {
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = nb_fp16_to_f32(h[i]);
}

void nb_dequant_row_bf16(const void *x, float *y, int64_t n) {
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = nb_bf16_to_f32(h[i]);
}

void nb_dequant_row_q4_0(const void *vx, float *y, int64_t n) {
    const block_q4_0 *x = vx;
    for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
        const float d = nb_fp16_to_f32(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = (float)((x[i].qs[j] & 0x0f) - 8) * d;
            y[j + QK4_0 / 2] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void nb_dequant_row_q4_1(const void *vx, float *y, int64_t n) {
    const block_q4_1 *x = vx;
    for (int64_t i = 0; i < n / QK4_1; i++, y += QK4_1) {
        const float d = nb_fp16_to_f32(x[i].d);
        const float m = nb_fp16_to_f32(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = (float)(x[i].qs[j] & 0x0f) * d + m;
            y[j + QK4_1 / 2] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

/* bit 4 of value j is bit j of qh, read as a little-endian u32 */
static inline uint32_t load_qh(const uint8_t qh[4]) {
    return nb_load_u32(qh);
}

void nb_dequant_row_q5_0(const void *vx, float *y, int64_t n) {
    const block_q5_0 *x = vx;
    for (int64_t i = 0; i < n / QK5_0; i++, y += QK5_0) {
        const float d = nb_fp16_to_f32(x[i].d);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < QK5_0 / 2; j++) {
            const int h0 = (int)((qh >> j) & 1) << 4;
            const int h1 = (int)((qh >> (j + QK5_0 / 2)) & 1) << 4;
            y[j] = (float)(((x[i].qs[j] & 0x0f) | h0) - 16) * d;
            y[j + QK5_0 / 2] = (float)(((x[i].qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

void nb_dequant_row_q5_1(const void *vx, float *y, int64_t n) {
    const block_q5_1 *x = vx;
    for (int64_t i = 0; i < n / QK5_1; i++, y += QK5_1) {
        const float d = nb_fp16_to_f32(x[i].d);
        const float m = nb_fp16_to_f32(x[i].m);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < QK5_1 / 2; j++) {
            const int h0 = (int)((qh >> j) & 1) << 4;
            const int h1 = (int)((qh >> (j + QK5_1 / 2)) & 1) << 4;
            y[j] = (float)((x[i].qs[j] & 0x0f) | h0) * d + m;
            y[j + QK5_1 / 2] = (float)((x[i].qs[j] >> 4) | h1) * d + m;
        }
    }
}

void nb_dequant_row_q8_0(const void *vx, float *y, int64_t n) {
    const block_q8_0 *x = vx;
    for (int64_t i = 0; i < n / QK8_0; i++, y += QK8_0) {
        const float d = nb_fp16_to_f32(x[i].d);
        for (int j = 0; j < QK8_0; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

/* ggml has no Q8_1 dequantizer; x = d * q, the s field is not needed. */
void nb_dequant_row_q8_1(const void *vx, float *y, int64_t n) {
    const block_q8_1 *x = vx;
    for (int64_t i = 0; i < n / QK8_1; i++, y += QK8_1) {
        const float d = nb_fp16_to_f32(x[i].d);
        for (int j = 0; j < QK8_1; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

void nb_dequant_row_iq4_nl(const void *vx, float *y, int64_t n) {
    const block_iq4_nl *x = vx;
    for (int64_t i = 0; i < n / QK4_NL; i++, y += QK4_NL) {
        const float d = nb_fp16_to_f32(x[i].d);
        for (int j = 0; j < QK4_NL / 2; j++) {
            y[j] = d * (float)nb_kvalues_iq4nl[x[i].qs[j] & 0x0f];
            y[j + QK4_NL / 2] = d * (float)nb_kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}

void nb_dequant_row_iq4_xs(const void *vx, float *y, int64_t n) {
    const block_iq4_xs *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = nb_fp16_to_f32(x[i].d);
        const uint8_t *qs = x[i].qs;
        for (int ib = 0; ib < QK_K / 32; ib++, y += 32, qs += 16) {
            const int ls = ((x[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0x0f) |
                           (((x[i].scales_h >> 2 * ib) & 3) << 4);
            const float dl = d * (float)(ls - 32); /* rounded first, as ggml */
            for (int j = 0; j < 16; j++) {
                y[j] = dl * (float)nb_kvalues_iq4nl[qs[j] & 0x0f];
                y[j + 16] = dl * (float)nb_kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}

/* ========================================================= plain formats */

void nb_quantize_row_f32(const float *x, void *y, int64_t n, const float *imatrix) {
    (void)imatrix;
    if (n > 0) memcpy(y, x, (size_t)n * sizeof(float));
}

/* Round to nearest even is already the least-error choice per value. */
void nb_quantize_row_f16(const float *x, void *y, int64_t n, const float *imatrix) {
    uint16_t *h = y;
    (void)imatrix;
    for (int64_t i = 0; i < n; i++) h[i] = nb_f32_to_fp16(x[i]);
}

void nb_quantize_row_bf16(const float *x, void *y, int64_t n, const float *imatrix) {
    uint16_t *h = y;
    (void)imatrix;
    for (int64_t i = 0; i < n; i++) h[i] = nb_f32_to_bf16(x[i]);
}

/* ====================================================== quantizer helpers */

/* Per-value weights of one block: the importance matrix if given, else 1.
 * Negative or non-finite weights count as 0; a block whose weights sum to 0
 * falls back to uniform weights (any choice would do, keep a sane one). */
static void block_weights(const float *imatrix, int n, float *w) {
    double sum = 0;
    if (imatrix) {
        for (int j = 0; j < n; j++) {
            float v = imatrix[j];
            w[j] = (v > 0 && v <= 3.0e38f) ? v : 0.0f;
            sum += w[j];
        }
    }
    if (!(sum > 0))
        for (int j = 0; j < n; j++) w[j] = 1.0f;
}

/* A working copy of one block's values: beyond +-1e30 nothing is
 * representable anyway (the largest decodable magnitude is below 3e8), and
 * clamping keeps infinities out of the error sums; NaN reads as 0. */
#define VALUE_LIMIT 1e30f
static const float *block_values(const float *x, int n, float *buf) {
    int clean = 1;
    for (int j = 0; j < n; j++) clean &= (x[j] >= -VALUE_LIMIT && x[j] <= VALUE_LIMIT);
    if (clean) return x;
    for (int j = 0; j < n; j++)
        buf[j] = x[j] != x[j] ? 0.0f : x[j] > VALUE_LIMIT ? VALUE_LIMIT
                                     : x[j] < -VALUE_LIMIT ? -VALUE_LIMIT : x[j];
    return buf;
}

static float block_amax(const float *x, int n) {
    float amax = 0;
    for (int j = 0; j < n; j++) {
        float a = fabsf(x[j]);
        if (a > amax) amax = a;
    }
    return amax;
}

/* Clamp to the finite fp16 range (the stored scale must not become inf). */
static float clamp_half(float v) {
    if (v > HALF_MAX) return HALF_MAX;
    if (v < -HALF_MAX) return -HALF_MAX;
    return v;
}

/* fp16 bit patterns of positive values bracketing [lo, hi] (both >= 0), at
 * least 1 and at most the largest finite half. Positive halves are ordered
 * like their bit patterns, so the search just walks the integers. */
static void half_range(float lo, float hi, unsigned *h_lo, unsigned *h_hi) {
    unsigned a = nb_f32_to_fp16(clamp_half(lo));
    unsigned b = nb_f32_to_fp16(clamp_half(hi));
    a = a > 1 ? a - 1 : 1;
    b = b + 1 < HALF_MAX_BITS ? b + 1 : HALF_MAX_BITS;
    if (b < a) b = a;
    *h_lo = a;
    *h_hi = b;
}

static double zero_error(const float *x, const float *w, int n) {
    double e = 0;
    for (int j = 0; j < n; j++) e += (double)w[j] * (double)x[j] * (double)x[j];
    return e;
}

/* t clamped to [lo, hi]; NaN goes to lo (keeps the int conversion defined) */
static inline float clampf(float t, float lo, float hi) {
    if (!(t >= lo)) return lo;
    return t > hi ? hi : t;
}

/* ----------------------------------------- exact search of the fp16 scale */

/* The levels a format's quants decode to before scaling, ascending: first,
 * first + 1, ... for the linear formats, or a table (IQ4_NL's grid). */
typedef struct {
    int n;
    int first;
    const int8_t *grid; /* NULL: linear */
} level_set;

static inline double level_at(const level_set *L, int k) {
    return L->grid ? (double)L->grid[k] : (double)(L->first + k);
}

/* midpoint between levels k and k + 1 */
static inline double level_mid(const level_set *L, int k) {
    return 0.5 * (level_at(L, k) + level_at(L, k + 1));
}

static int nearest_level(const level_set *L, double t) {
    if (!L->grid) {
        double r = floor(t - (double)L->first + 0.5);
        if (!(r >= 0)) return 0;
        return r > (double)(L->n - 1) ? L->n - 1 : (int)r;
    }
    int k = 0;
    while (k < L->n - 1 && t > level_mid(L, k)) k++;
    return k;
}

/* As d decreases, x/d moves away from 0 and the nearest level of a value x
 * steps outwards, one level at a time, at d = x / midpoint. The next such d
 * for a value at level k; -1 for none (at the last level, or x = 0). */
static inline double next_break(const level_set *L, double xv, int k) {
    if (xv > 0 && k < L->n - 1) {
        double m = level_mid(L, k);
        return m > 0 ? xv / m : INFINITY; /* INFINITY: already past it */
    }
    if (xv < 0 && k > 0) {
        double m = level_mid(L, k - 1);
        return m < 0 ? xv / m : INFINITY;
    }
    return -1;
}

/* a max-heap of pending breakpoints, one per value at most */
typedef struct {
    double d;
    int j;
} brk;

static inline void heap_push(brk *h, int *n, brk e) {
    int i = (*n)++;
    while (i > 0 && h[(i - 1) / 2].d < e.d) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = e;
}

static inline brk heap_pop(brk *h, int *n) {
    brk top = h[0], last = h[--*n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1].d > h[c].d) c++;
        if (h[c].d <= last.d) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

/* The exact best fp16 scale in [dlo, dhi] (0 < dlo <= dhi) for
 * sign*(x - off) ~ d*level, the sign bit of the result set for sign < 0.
 * Sweeps d down from dhi through the breakpoints where one value's nearest
 * level changes. Between two breakpoints the levels are fixed and the error
 * is the quadratic sxx - 2 d sxl + d^2 sll: only the fp16 values next to its
 * vertex (clamped into the interval) can be the interval's best. So every
 * fp16 scale of the range is covered at the cost of one heap operation per
 * breakpoint. Improves *best / *best_h (analytic errors, in double). */
static void sweep_scales(const float *x, const float *w, int n, int sign, double off,
                         const level_set *L, double dlo, double dhi, double sxx, double *best,
                         uint16_t *best_h) {
    int k[32];
    brk heap[32];
    int nh = 0;
    double sxl = 0, sll = 0;
    for (int j = 0; j < n; j++) {
        const double xv = sign * ((double)x[j] - off);
        k[j] = nearest_level(L, xv / dhi);
        const double lv = level_at(L, k[j]);
        sxl += (double)w[j] * xv * lv;
        sll += (double)w[j] * lv * lv;
        const double nb = next_break(L, xv, k[j]);
        if (nb > 0) heap_push(heap, &nh, (brk){nb, j});
    }
    double hi = dhi;
    for (;;) {
        double lo = (nh && heap[0].d > dlo) ? heap[0].d : dlo;
        if (lo > hi) lo = hi;
        /* interval [lo, hi] with fixed levels; skip it if even its
         * continuous minimum cannot beat the best so far */
        if (sll > 0 && sxx - sxl * (sxl / sll) < *best) {
            const double v = sxl / sll;
            const double c = v < lo ? lo : v > hi ? hi : v;
            const unsigned h = nb_f32_to_fp16((float)c);
            for (unsigned hh = h > 1 ? h - 1 : 1; hh <= h + 1 && hh <= HALF_MAX_BITS; hh++) {
                const double d = nb_fp16_to_f32((uint16_t)hh);
                if (d < lo || d > hi) continue;
                const double e = sxx - d * (2 * sxl - d * sll);
                if (e < *best) {
                    *best = e;
                    *best_h = (uint16_t)(hh | (sign < 0 ? 0x8000u : 0));
                }
            }
        }
        if (!nh || heap[0].d <= dlo) break;
        const int j = heap_pop(heap, &nh).j;
        const double xv = sign * ((double)x[j] - off);
        const double old = level_at(L, k[j]);
        k[j] += xv > 0 ? 1 : -1;
        const double lv = level_at(L, k[j]);
        sxl += (double)w[j] * xv * (lv - old);
        sll += (double)w[j] * (lv * lv - old * old);
        const double nb = next_break(L, xv, k[j]);
        if (nb > 0) heap_push(heap, &nh, (brk){nb, j});
        hi = lo;
    }
}

/* Best fp16 scale for a block of n <= 32 values over |d| in
 * [amax/lo_div, amax/hi_div], of both signs unless the levels are
 * symmetric. 0 if nothing beats d = 0. */
static uint16_t best_scale(const float *x, const float *w, int n, const level_set *L,
                           double lo_div, double hi_div) {
    const float amax = block_amax(x, n);
    const int symmetric = level_at(L, 0) == -level_at(L, L->n - 1);
    const double sxx = zero_error(x, w, n);
    double best = sxx;
    uint16_t best_h = 0;
    if (!(amax > 0) || !(sxx > 0)) return 0;
    /* at least the smallest fp16 scale, for blocks of tiny values */
    const double dhi = fmax(fmin(amax / hi_div, HALF_MAX), HALF_MIN_SUB);
    const double dlo = fmin(amax / lo_div, dhi);
    sweep_scales(x, w, n, 1, 0.0, L, dlo, dhi, sxx, &best, &best_h);
    if (!symmetric) sweep_scales(x, w, n, -1, 0.0, L, dlo, dhi, sxx, &best, &best_h);
    return best_h;
}

/* ----------------------------------------------- linear, symmetric: d*q */

/* Weighted error of x ~ d*q with q in [qmin, qmax] the exact nearest level
 * for each value (d != 0; either sign). Stores q when `q` is non-NULL;
 * stops early (returning a value >= `stop`) once the error exceeds `stop`. */
static double sym_error(const float *x, const float *w, int n, float d, int qmin, int qmax,
                        int *q, double stop) {
    const float id = 1.0f / d;
    double e = 0;
    for (int j = 0; j < n; j++) {
        float t = clampf(x[j] * id, (float)qmin, (float)qmax);
        int q0 = (int)floorf(t);
        if (q0 >= qmax) q0 = qmax - 1;
        /* the two levels around x/d: pick the one really closer to x */
        double e0 = (double)x[j] - (double)((float)q0 * d);
        double e1 = (double)x[j] - (double)((float)(q0 + 1) * d);
        int take1 = e1 * e1 < e0 * e0;
        double ej = take1 ? e1 : e0;
        if (q) q[j] = q0 + take1;
        e += (double)w[j] * ej * ej;
        if (e > stop) return e;
    }
    return e;
}

/* Linear symmetric formats: the exact best fp16 scale (best_scale), then
 * each quant the exactly nearest level for it. Fills q; returns d. */
static uint16_t quantize_sym(const float *x, const float *w, int n, int qmin, int qmax,
                             double lo_div, double hi_div, int *q) {
    const level_set L = {qmax - qmin + 1, qmin, NULL};
    const uint16_t h = best_scale(x, w, n, &L, lo_div, hi_div);
    if (h) {
        sym_error(x, w, n, nb_fp16_to_f32(h), qmin, qmax, q, INFINITY);
    } else {
        for (int j = 0; j < n; j++) q[j] = 0;
    }
    return h;
}

/* ---------------------------------------------- linear, affine: d*q + m */

/* Decoded value exactly as the dequantizer forms it (d*q is exact). */
static inline float affine_value(int q, float d, float m) {
    return (float)q * d + m;
}

/* Weighted error of x ~ d*q + m, q in [0, qmax] the exact nearest level
 * (d >= 0). Stores q when non-NULL; early exit past `stop`. */
static double affine_error(const float *x, const float *w, int n, float d, float m, int qmax,
                           int *q, double stop) {
    double e = 0;
    if (d == 0) {
        for (int j = 0; j < n; j++) {
            double ej = (double)x[j] - (double)m;
            if (q) q[j] = 0;
            e += (double)w[j] * ej * ej;
        }
        return e;
    }
    const float id = 1.0f / d;
    for (int j = 0; j < n; j++) {
        float t = clampf((x[j] - m) * id, 0.0f, (float)qmax);
        int q0 = (int)floorf(t);
        if (q0 >= qmax) q0 = qmax - 1;
        double e0 = (double)x[j] - (double)affine_value(q0, d, m);
        double e1 = (double)x[j] - (double)affine_value(q0 + 1, d, m);
        int take1 = e1 * e1 < e0 * e0;
        double ej = take1 ? e1 : e0;
        if (q) q[j] = q0 + take1;
        e += (double)w[j] * ej * ej;
        if (e > stop) return e;
    }
    return e;
}

/* fp16 bits k steps from h, walking through zero (sign-magnitude) */
static int half_step(uint16_t h, int k, uint16_t *out) {
    int v = (h & 0x8000) ? -(int)(h & 0x7fff) : (int)(h & 0x7fff);
    v += k;
    if (v > (int)HALF_MAX_BITS || v < -(int)HALF_MAX_BITS) return 0;
    *out = (uint16_t)(v < 0 ? 0x8000u | (unsigned)-v : (unsigned)v);
    return 1;
}

/* The exact best fp16 offset in [mlo, mhi] for x ~ d*q + m, d > 0 fixed,
 * q in [0, qmax] the nearest level: the offset's counterpart of
 * sweep_scales. As m decreases, value j steps up a level at
 * m = x_j - (q_j + 0.5) d; between two such points the error is
 * a - 2 m b + m^2 sw with r = x - d q, a = sum w r^2, b = sum w r, and
 * only the fp16 offsets next to its vertex can win. Improves *best / *mh
 * (closed-form errors: the float rounding of d*q + m is left out). */
static void sweep_offsets(const float *x, const float *w, int n, double d, int qmax, double mlo,
                          double mhi, double *best, uint16_t *mh) {
    int q[32];
    brk heap[32];
    int nh = 0;
    double a = 0, b = 0, sw = 0;
    if (!(d > 0)) return;
    for (int j = 0; j < n; j++) {
        const double t = floor(((double)x[j] - mhi) / d + 0.5);
        q[j] = !(t > 0) ? 0 : t > qmax ? qmax : (int)t;
        const double r = (double)x[j] - d * q[j];
        a += (double)w[j] * r * r;
        b += (double)w[j] * r;
        sw += w[j];
        if (q[j] < qmax) heap_push(heap, &nh, (brk){(double)x[j] - (q[j] + 0.5) * d, j});
    }
    double hi = mhi;
    for (;;) {
        double lo = (nh && heap[0].d > mlo) ? heap[0].d : mlo;
        if (lo > hi) lo = hi;
        if (a - b * (b / sw) < *best) {
            const double v = b / sw;
            const double c = v < lo ? lo : v > hi ? hi : v;
            const uint16_t h = nb_f32_to_fp16(clamp_half((float)c));
            for (int k = -1; k <= 1; k++) {
                uint16_t hk;
                if (!half_step(h, k, &hk)) continue;
                const double m = nb_fp16_to_f32(hk);
                if (m < lo || m > hi) continue;
                const double e = a - m * (2 * b - m * sw);
                if (e < *best) {
                    *best = e;
                    *mh = hk;
                }
            }
        }
        if (!nh || heap[0].d <= mlo) break;
        const int j = heap_pop(heap, &nh).j;
        const double r = (double)x[j] - d * q[j];
        q[j]++;
        a += (double)w[j] * ((r - d) * (r - d) - r * r);
        b -= (double)w[j] * d;
        if (q[j] < qmax) heap_push(heap, &nh, (brk){(double)x[j] - (q[j] + 0.5) * d, j});
        hi = lo;
    }
}

/* Offsets worth trying for d: from one level below the minimum up to where
 * the top level still reaches the maximum, plus a level. */
static void offset_range(float mn, float mx, double d, int qmax, double *mlo, double *mhi) {
    *mlo = (double)mn - d;
    *mhi = fmax((double)mn, (double)mx - qmax * d) + d;
}

/* Coordinate descent where each step is an exact global 1-D search: the
 * best fp16 offset for the current d (sweep_offsets), then the best fp16 d
 * in [range/(qmax + 4), range/(qmax - 2)] for that offset (sweep_scales
 * on x - m), until neither improves; from a few starting scales. The
 * winner is polished with exact errors (decoded values d*q + m rounded to
 * float, as the dequantizer makes them) over a few fp16 steps of d and m.
 * Fills q; returns the d and m bits. */
static void quantize_affine(const float *x, const float *w, int n, int qmax, int *q,
                            uint16_t *dh_out, uint16_t *mh_out) {
    float mn = x[0], mx = x[0];
    double sw = 0, swx = 0;
    for (int j = 0; j < n; j++) {
        if (x[j] < mn) mn = x[j];
        if (x[j] > mx) mx = x[j];
        sw += w[j];
        swx += (double)w[j] * x[j];
    }
    mn = clamp_half(mn);
    mx = clamp_half(mx);
    const float range = mx - mn;
    /* d = 0: a constant block, m the weighted mean */
    const uint16_t mean_h = nb_f32_to_fp16(clamp_half((float)(swx / sw)));
    uint16_t best_d = 0, best_m = mean_h;
    if (range > 0) {
        const level_set L = {qmax + 1, 0, NULL};
        const double dhi = fmax(fmin(range / (qmax - 2.0), HALF_MAX), HALF_MIN_SUB);
        const double dlo = fmin(range / (qmax + 4.0), dhi);
        double best = INFINITY;
        static const double start_div[] = {0.0, 1.0, -1.0};
        for (int s = 0; s < (int)(sizeof start_div / sizeof start_div[0]); s++) {
            uint16_t dh = nb_f32_to_fp16(clamp_half((float)(range / (qmax + start_div[s]))));
            if (dh == 0) dh = 1; /* tiny block: the smallest scale */
            uint16_t mh = nb_f32_to_fp16(mn);
            double e = INFINITY;
            for (int round = 0; round < AFFINE_ROUNDS; round++) {
                const double d = nb_fp16_to_f32(dh);
                double mlo, mhi, em = INFINITY, ed = INFINITY;
                offset_range(mn, mx, d, qmax, &mlo, &mhi);
                sweep_offsets(x, w, n, d, qmax, mlo, mhi, &em, &mh);
                const double m = nb_fp16_to_f32(mh);
                double sxx = 0;
                for (int j = 0; j < n; j++)
                    sxx += (double)w[j] * ((double)x[j] - m) * ((double)x[j] - m);
                sweep_scales(x, w, n, 1, m, &L, dlo, dhi, sxx, &ed, &dh);
                if (!(ed < e)) break;
                e = ed;
                if (e > 1.2 * best) break; /* this start trails far behind: drop it */
            }
            if (e < best) {
                best = e;
                best_d = dh;
                best_m = mh;
            }
        }
    }
    /* exact polish around the winner (d = 0 included when it is the winner) */
    double best = affine_error(x, w, n, nb_fp16_to_f32(best_d), nb_fp16_to_f32(best_m), qmax,
                               NULL, INFINITY);
    const uint16_t d0 = best_d, m0 = best_m;
    for (int kd = -2; kd <= 2; kd++) {
        uint16_t dk;
        if (!half_step(d0, kd, &dk) || (dk & 0x8000)) continue;
        for (int km = -3; km <= 3; km++) {
            uint16_t mk;
            if (!half_step(m0, km, &mk)) continue;
            const double e = affine_error(x, w, n, nb_fp16_to_f32(dk), nb_fp16_to_f32(mk), qmax,
                                          NULL, best);
            if (e < best) {
                best = e;
                best_d = dk;
                best_m = mk;
            }
        }
    }
    if (affine_error(x, w, n, 0.0f, nb_fp16_to_f32(mean_h), qmax, NULL, best) < best) {
        best_d = 0; /* flat beats everything tried (a nearly constant block) */
        best_m = mean_h;
    }
    affine_error(x, w, n, nb_fp16_to_f32(best_d), nb_fp16_to_f32(best_m), qmax, q, INFINITY);
    *dh_out = best_d;
    *mh_out = best_m;
}

/* ------------------------------------------- non-linear grid: d*grid[q] */

/* midpoints between consecutive grid values, for the nearest-value search */
static const float iq4nl_mid[15] = {
    -115.5f, -93.5f, -74.0f, -57.0f, -42.0f, -28.5f, -16.0f, -4.5f,
    7.0f,    19.0f,  31.5f,  45.5f,  61.0f,  79.0f,  101.0f};

/* Weighted error of x ~ d*grid[q], q the exact nearest grid value (any d,
 * 0 included). Stores q when non-NULL; early exit past `stop`. */
static double grid_error(const float *x, const float *w, int n, float d, uint8_t *q,
                         double stop) {
    double e = 0;
    if (d == 0) {
        for (int j = 0; j < n; j++) {
            if (q) q[j] = 8; /* grid value 1: any index decodes to 0 */
            e += (double)w[j] * (double)x[j] * (double)x[j];
        }
        return e;
    }
    const float id = 1.0f / d;
    for (int j = 0; j < n; j++) {
        const float t = x[j] * id;
        int k = 0; /* branch-free binary search over the 15 midpoints */
        k += (t >= iq4nl_mid[k + 7]) ? 8 : 0;
        k += (t >= iq4nl_mid[k + 3]) ? 4 : 0;
        k += (t >= iq4nl_mid[k + 1]) ? 2 : 0;
        k += (t >= iq4nl_mid[k]) ? 1 : 0;
        /* x*id is rounded: confirm against the neighbour on t's side */
        int k2 = (t > (float)nb_kvalues_iq4nl[k]) ? k + 1 : k - 1;
        double ej = (double)x[j] - (double)(d * (float)nb_kvalues_iq4nl[k]);
        if (k2 >= 0 && k2 < 16) {
            double e2 = (double)x[j] - (double)(d * (float)nb_kvalues_iq4nl[k2]);
            if (e2 * e2 < ej * ej) {
                ej = e2;
                k = k2;
            }
        }
        if (q) q[j] = (uint8_t)k;
        e += (double)w[j] * ej * ej;
        if (e > stop) return e;
    }
    return e;
}

/* IQ4_NL: the exact best fp16 scale over the grid (best_scale), each
 * quant the nearest grid value for it. Fills q; returns d. */
static uint16_t quantize_grid(const float *x, const float *w, int n, uint8_t *q) {
    const level_set L = {16, 0, nb_kvalues_iq4nl};
    const uint16_t h = best_scale(x, w, n, &L, GRID_LO_DIV, GRID_HI_DIV);
    grid_error(x, w, n, nb_fp16_to_f32(h), q, INFINITY);
    return h;
}

/* ============================================================ quantizers */

static void pack_nibbles(const int *q, uint8_t *qs, int bias) {
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)(((q[j] + bias) & 0x0f) | (((q[j + 16] + bias) & 0x0f) << 4));
}

static uint32_t high_bits(const int *q, int bias) {
    uint32_t qh = 0;
    for (int j = 0; j < 32; j++) qh |= (uint32_t)(((q[j] + bias) >> 4) & 1) << j;
    return qh;
}

/* Q4_0: x = d*(q - 8), q - 8 in [-8, 7]; see quantize_sym. */
void nb_quantize_row_q4_0(const float *x, void *vy, int64_t n, const float *imatrix) {
    block_q4_0 *y = vy;
    float w[QK4_0];
    float xbuf[QK4_0];
    int q[QK4_0];
    for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
        block_weights(imatrix ? imatrix + i * QK4_0 : NULL, QK4_0, w);
        const float *xb = block_values(x, QK4_0, xbuf);
        y[i].d = quantize_sym(xb, w, QK4_0, -8, 7, Q4_0_LO_DIV, Q4_0_HI_DIV, q);
        pack_nibbles(q, y[i].qs, 8);
    }
}

/* Q5_0: x = d*(q - 16), q - 16 in [-16, 15]; see quantize_sym. */
void nb_quantize_row_q5_0(const float *x, void *vy, int64_t n, const float *imatrix) {
    block_q5_0 *y = vy;
    float w[QK5_0];
    float xbuf[QK5_0];
    int q[QK5_0];
    for (int64_t i = 0; i < n / QK5_0; i++, x += QK5_0) {
        block_weights(imatrix ? imatrix + i * QK5_0 : NULL, QK5_0, w);
        const float *xb = block_values(x, QK5_0, xbuf);
        y[i].d = quantize_sym(xb, w, QK5_0, -16, 15, Q5_0_LO_DIV, Q5_0_HI_DIV, q);
        pack_nibbles(q, y[i].qs, 16);
        nb_store_u32(y[i].qh, high_bits(q, 16));
    }
}

/* Q8_0: x = d*q. Levels kept in [-127, 127] like ggml's own quantizers:
 * -128 is legal, but int8 dot kernels built on sign tricks may assume
 * |q| <= 127. */
void nb_quantize_row_q8_0(const float *x, void *vy, int64_t n, const float *imatrix) {
    block_q8_0 *y = vy;
    float w[QK8_0];
    float xbuf[QK8_0];
    int q[QK8_0];
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        block_weights(imatrix ? imatrix + i * QK8_0 : NULL, QK8_0, w);
        const float *xb = block_values(x, QK8_0, xbuf);
        y[i].d = quantize_sym(xb, w, QK8_0, -127, 127, Q8_0_LO_DIV, Q8_0_HI_DIV, q);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)q[j];
    }
}

/* Q4_1: x = d*q + m, q in [0, 15]; see quantize_affine. */
void nb_quantize_row_q4_1(const float *x, void *vy, int64_t n, const float *imatrix) {
    block_q4_1 *y = vy;
    float w[QK4_1];
    float xbuf[QK4_1];
    int q[QK4_1];
    for (int64_t i = 0; i < n / QK4_1; i++, x += QK4_1) {
        block_weights(imatrix ? imatrix + i * QK4_1 : NULL, QK4_1, w);
        const float *xb = block_values(x, QK4_1, xbuf);
        quantize_affine(xb, w, QK4_1, 15, q, &y[i].d, &y[i].m);
        pack_nibbles(q, y[i].qs, 0);
    }
}

/* Q5_1: x = d*q + m, q in [0, 31]; see quantize_affine. */
void nb_quantize_row_q5_1(const float *x, void *vy, int64_t n, const float *imatrix) {
    block_q5_1 *y = vy;
    float w[QK5_1];
    float xbuf[QK5_1];
    int q[QK5_1];
    for (int64_t i = 0; i < n / QK5_1; i++, x += QK5_1) {
        block_weights(imatrix ? imatrix + i * QK5_1 : NULL, QK5_1, w);
        const float *xb = block_values(x, QK5_1, xbuf);
        quantize_affine(xb, w, QK5_1, 31, q, &y[i].d, &y[i].m);
        pack_nibbles(q, y[i].qs, 0);
        nb_store_u32(y[i].qh, high_bits(q, 0));
    }
}

/* IQ4_NL: x = d*grid[q]; see quantize_grid. */
void nb_quantize_row_iq4_nl(const float *x, void *vy, int64_t n, const float *imatrix) {
    block_iq4_nl *y = vy;
    float w[QK4_NL];
    float xbuf[QK4_NL];
    uint8_t q[QK4_NL];
    for (int64_t i = 0; i < n / QK4_NL; i++, x += QK4_NL) {
        block_weights(imatrix ? imatrix + i * QK4_NL : NULL, QK4_NL, w);
        const float *xb = block_values(x, QK4_NL, xbuf);
        y[i].d = quantize_grid(xb, w, QK4_NL, q);
        for (int j = 0; j < 16; j++) y[i].qs[j] = (uint8_t)(q[j] | (q[j + 16] << 4));
    }
}

/* --------------------------------------------------------------- IQ4_XS */

/* The error of a 32-value sub-block as a function of its scale dl > 0 (one
 * curve per sign of dl; the negative one is built on -x): a value steps to
 * the next grid value outwards each time x/dl passes a grid midpoint, at
 * most 8 times, so the curve has at most 32*8 + 1 quadratic pieces
 * sxx - 2 dl sxl + dl^2 sll. Built once per sub-block by the breakpoint
 * sweep; then the error of any scale is a binary search away. */
#define CURVE_PIECES (32 * 8 + 1)
typedef struct {
    int n;
    double sxx;
    float lo[CURVE_PIECES]; /* piece i: dl in [lo[i], lo[i-1]], lo[-1] = inf */
    double sxl[CURVE_PIECES], sll[CURVE_PIECES];
} err_curve;

static void curve_build(const float *x, const float *w, int sign, err_curve *c) {
    const level_set L = {16, 0, nb_kvalues_iq4nl};
    const int k0 = nearest_level(&L, 0.0);
    int k[32];
    brk heap[32];
    int nh = 0, i = 0;
    double sxl = 0, sll = 0, sxx = 0;
    for (int j = 0; j < 32; j++) {
        const double xv = sign * (double)x[j];
        k[j] = k0; /* dl -> inf: every x/dl near 0 */
        sxx += (double)w[j] * xv * xv;
        sxl += (double)w[j] * xv * level_at(&L, k0);
        sll += (double)w[j] * level_at(&L, k0) * level_at(&L, k0);
        const double nb = next_break(&L, xv, k0);
        if (nb > 0) heap_push(heap, &nh, (brk){nb, j});
    }
    while (nh) {
        const brk e = heap_pop(heap, &nh);
        c->lo[i] = (float)e.d;
        c->sxl[i] = sxl;
        c->sll[i] = sll;
        i++;
        const int j = e.j;
        const double xv = sign * (double)x[j];
        const double old = level_at(&L, k[j]);
        k[j] += xv > 0 ? 1 : -1;
        const double lv = level_at(&L, k[j]);
        sxl += (double)w[j] * xv * (lv - old);
        sll += (double)w[j] * (lv * lv - old * old);
        const double nb = next_break(&L, xv, k[j]);
        if (nb > 0) heap_push(heap, &nh, (brk){nb, j});
    }
    c->lo[i] = 0;
    c->sxl[i] = sxl;
    c->sll[i] = sll;
    c->n = i + 1;
    c->sxx = sxx;
}

/* error at scale dl > 0 */
static double curve_error(const err_curve *c, double dl) {
    int a = 0, b = c->n - 1; /* first piece with lo <= dl */
    while (a < b) {
        const int mid = (a + b) / 2;
        if ((double)c->lo[mid] <= dl) b = mid;
        else a = mid + 1;
    }
    return c->sxx - dl * (2 * c->sxl[a] - dl * c->sll[a]);
}

/* the best scale of the curve (continuous) and its error */
static double curve_best(const err_curve *c, double *err) {
    double best = c->sxx, best_s = 0, hi = INFINITY;
    for (int i = 0; i < c->n; hi = c->lo[i], i++) {
        if (!(c->sll[i] > 0)) continue;
        double v = c->sxl[i] / c->sll[i];
        v = v < c->lo[i] ? c->lo[i] : v > hi ? hi : v;
        const double e = c->sxx - v * (2 * c->sxl[i] - v * c->sll[i]);
        if (e < best) {
            best = e;
            best_s = v;
        }
    }
    *err = best;
    return best_s;
}

/* IQ4_XS: x = d*(ls - 32)*grid[q] per sub-block of 32, ls 6 bits, d fp16.
 * Each sub-block's error curve gives its best scale of either sign. Then
 * every fp16 |d| in [smax/40, smax/16] (smax: the largest of those scales)
 * is scored: each sub-block takes the better of the integers k = ls - 32
 * bracketing its two scales / d, read off its curves at dl = d*k. d < 0
 * is the same as d > 0 with every k negated, except that the 6-bit range
 * [-32, 31] then reads [-31, 32]: both totals come out of one pass. The
 * winner is polished with exact errors (nearest grid values for the dl the
 * decoder computes) over a few fp16 steps of d and k +-1. */
enum { XS_SUB = QK_K / 32 };

/* exact total for a given d (bits) with the k of each sub-block refined by
 * +-1; fills k */
static double xs_polish(const float *x, const float *w, uint16_t dh, int *k, double stop) {
    const float d = nb_fp16_to_f32(dh);
    double total = 0;
    for (int b = 0; b < XS_SUB && total < stop; b++) {
        const int k0 = k[b];
        double eb = grid_error(x + 32 * b, w + 32 * b, 32, 0.0f, NULL, INFINITY);
        int kb = 0;
        for (int kk = k0 - 1; kk <= k0 + 1; kk++) {
            if (kk < -32 || kk > 31 || kk == 0) continue;
            const double e = grid_error(x + 32 * b, w + 32 * b, 32, d * (float)kk, NULL, eb);
            if (e < eb) {
                eb = e;
                kb = kk;
            }
        }
        k[b] = kb;
        total += eb;
    }
    return total;
}

static void quantize_xs_block(const float *x, const float *w, block_iq4_xs *y) {
    err_curve curve[XS_SUB][2]; /* ~80 KiB: no allocation, so it lives here */
    double cand[XS_SUB][2], e_zero[XS_SUB];
    double smax = 0, best = 0;
    int best_k[XS_SUB];
    uint16_t best_h = 0;
    for (int b = 0; b < XS_SUB; b++) {
        double e[2];
        for (int s = 0; s < 2; s++) {
            curve_build(x + 32 * b, w + 32 * b, s ? -1 : 1, &curve[b][s]);
            cand[b][s] = curve_best(&curve[b][s], &e[s]);
        }
        e_zero[b] = curve[b][0].sxx;
        const double a = e[0] <= e[1] ? cand[b][0] : cand[b][1];
        if (a > smax) smax = a;
        best += e_zero[b];
        best_k[b] = 0;
    }
    if (smax > 0 && best > 0) {
        unsigned h_lo, h_hi;
        half_range((float)(smax / 40), (float)(smax / 16), &h_lo, &h_hi);
        for (unsigned h = h_lo; h <= h_hi; h++) {
            const float d = nb_fp16_to_f32((uint16_t)h);
            int k_pos[XS_SUB], k_neg[XS_SUB];
            double tot_pos = 0, tot_neg = 0;
            for (int b = 0; b < XS_SUB && (tot_pos < best || tot_neg < best); b++) {
                double common = e_zero[b], e_m32 = INFINITY, e_p32 = INFINITY;
                int k_common = 0;
                for (int s = 0; s < 2; s++) {
                    if (!(cand[b][s] > 0)) continue;
                    const double r = cand[b][s] / d;
                    if (r > 40) continue;
                    const int kf = (int)r;
                    for (int k = kf; k <= kf + 1; k++) {
                        if (k < 1 || k > 32) continue;
                        const double e = curve_error(&curve[b][s], (double)(d * (float)k));
                        const int ks = s ? -k : k;
                        if (ks == -32) e_m32 = fmin(e_m32, e);
                        else if (ks == 32) e_p32 = fmin(e_p32, e);
                        else if (e < common) {
                            common = e;
                            k_common = ks;
                        }
                    }
                }
                k_pos[b] = e_m32 < common ? -32 : k_common;
                k_neg[b] = e_p32 < common ? 32 : k_common;
                tot_pos += fmin(common, e_m32);
                tot_neg += fmin(common, e_p32);
            }
            if (tot_pos < best && tot_pos <= tot_neg) {
                best = tot_pos;
                best_h = (uint16_t)h;
                for (int b = 0; b < XS_SUB; b++) best_k[b] = k_pos[b];
            } else if (tot_neg < best) {
                best = tot_neg;
                best_h = (uint16_t)(h | 0x8000u);
                for (int b = 0; b < XS_SUB; b++) best_k[b] = -k_neg[b];
            }
        }
    }
    if (best_h) { /* exact polish */
        double exact = xs_polish(x, w, best_h, best_k, INFINITY);
        const uint16_t h0 = best_h;
        int k0[XS_SUB];
        memcpy(k0, best_k, sizeof k0);
        for (int step = -2; step <= 2; step++) {
            uint16_t hs;
            int ks[XS_SUB];
            if (step == 0 || !half_step(h0, step, &hs) || (hs & 0x7fff) == 0) continue;
            /* same scales dl, re-expressed for this d */
            const double ratio = nb_fp16_to_f32(h0) / nb_fp16_to_f32(hs);
            for (int b = 0; b < XS_SUB; b++) ks[b] = (int)lrint(k0[b] * ratio);
            const double e = xs_polish(x, w, hs, ks, exact);
            if (e < exact) {
                exact = e;
                best_h = hs;
                memcpy(best_k, ks, sizeof ks);
            }
        }
    }
    const float d = nb_fp16_to_f32(best_h);
    y->d = best_h;
    y->scales_h = 0;
    memset(y->scales_l, 0, sizeof y->scales_l);
    for (int b = 0; b < XS_SUB; b++) {
        const int ls = best_k[b] + 32;
        uint8_t q[32];
        y->scales_l[b / 2] |= (uint8_t)((ls & 0x0f) << (4 * (b % 2)));
        y->scales_h |= (uint16_t)(((ls >> 4) & 3) << (2 * b));
        grid_error(x + 32 * b, w + 32 * b, 32, d * (float)best_k[b], q, INFINITY);
        for (int j = 0; j < 16; j++) y->qs[16 * b + j] = (uint8_t)(q[j] | (q[j + 16] << 4));
    }
}

void nb_quantize_row_iq4_xs(const float *x, void *vy, int64_t n, const float *imatrix) {
    block_iq4_xs *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float w[QK_K], xbuf[QK_K];
        /* weights per sub-block: one without importance falls back alone */
        for (int b = 0; b < XS_SUB; b++)
            block_weights(imatrix ? imatrix + i * QK_K + 32 * b : NULL, 32, w + 32 * b);
        quantize_xs_block(block_values(x, QK_K, xbuf), w, &y[i]);
    }
}
