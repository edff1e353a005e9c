/* formats: the dot products nb_vec_dot_T of a weight row with an activation
 * row (lib/formats/dot*.c).
 *
 * Oracle: a double-precision dot product of the two rows decoded by small
 * decoders written here from the block layouts (not the library's
 * dequantizers). The integer part of every dot product is exact, so the
 * library may differ from that only by the rounding of its float
 * operations: with A = sum_i |x_i| |y_i| (for offset formats the two terms
 * of x_i counted separately) and c the length of the longest chain of float
 * additions (the number of blocks; n for the plain float types), every
 * version must be within
 *     gamma * A,   gamma = (c + 8) * 2^-24
 * of the exact value (plus, for Q8_1 partners, the fp16 rounding of the
 * block sums s that ggml's formula uses: sum_b |m_b| |s_b - d_b sum p|),
 * and each SIMD version within 2 * gamma * A of the scalar one.
 *
 * A second set of rows uses power-of-two scales and small integers so that
 * every partial sum is exact in float (checked: A < 2^24 units): there,
 * every version must equal the exact value bit for bit, whatever its
 * summation order.
 *
 * Plus: llama.cpp's own result on the cos data set (../shared), the
 * dispatcher (run-time level, forcing a level), and end to end from float
 * rows through the library's quantizers. */
#include "harness.h"
#include "formats/dot.h"
#include "formats/formats.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ randomness */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rng_u64(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rng_unit(void) { /* [0, 1) */
    return (double)(rng_u64() >> 11) / 9007199254740992.0;
}
static int rng_int(int lo, int hi) { /* [lo, hi] */
    return lo + (int)(rng_u64() % (uint64_t)(hi - lo + 1));
}
static double rng_normal(void) {
    double u = rng_unit() + 1e-300, v = rng_unit();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}
/* a random scale: magnitude log-uniform in [lo, hi], random sign */
static double rng_scale(double lo, double hi) {
    double m = lo * pow(hi / lo, rng_unit());
    return (rng_u64() & 1) ? -m : m;
}
static uint16_t rng_half(double lo, double hi) {
    return nb_f32_to_fp16((float)rng_scale(lo, hi));
}

/* ------------------------------------------------ decoding, test's own */

static double half_d(uint16_t h) { /* IEEE binary16 -> double, finite only */
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp((double)m, -24) : ldexp((double)(1024 + m), e - 25);
    return (h & 0x8000) ? -v : v;
}
static double bf16_d(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return (double)f;
}
static uint16_t rd16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}
static void wr16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static const int grid_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                   1,    13,   25,  38,  53,  69,  89,  113};

/* Each decoder writes the values of one block (v) and, for each value, the
 * sum of the magnitudes of its terms (mag: |d*q| + |m| for offset formats,
 * |v| otherwise). */

static void dec_f32(const uint8_t *b, double *v, double *mag) {
    float f;
    memcpy(&f, b, 4);
    v[0] = f;
    mag[0] = fabs(v[0]);
}
static void dec_f16(const uint8_t *b, double *v, double *mag) {
    v[0] = half_d(rd16(b));
    mag[0] = fabs(v[0]);
}
static void dec_bf16(const uint8_t *b, double *v, double *mag) {
    v[0] = bf16_d(rd16(b));
    mag[0] = fabs(v[0]);
}

/* the 4-bit value j (0..31) of a 32-value block's 16 nibble bytes */
static int nib32(const uint8_t *qs, int j) {
    return j < 16 ? (qs[j] & 15) : (qs[j - 16] >> 4);
}

static void dec_q4_0(const uint8_t *b, double *v, double *mag) { /* d qs[16] */
    double d = half_d(rd16(b));
    for (int j = 0; j < 32; j++) {
        v[j] = d * (nib32(b + 2, j) - 8);
        mag[j] = fabs(v[j]);
    }
}
static void dec_q4_1(const uint8_t *b, double *v, double *mag) { /* d m qs[16] */
    double d = half_d(rd16(b)), m = half_d(rd16(b + 2));
    for (int j = 0; j < 32; j++) {
        v[j] = d * nib32(b + 4, j) + m;
        mag[j] = fabs(d * nib32(b + 4, j)) + fabs(m);
    }
}
static void dec_q5_0(const uint8_t *b, double *v, double *mag) { /* d qh[4] qs[16] */
    double d = half_d(rd16(b));
    uint32_t qh = (uint32_t)b[2] | (uint32_t)b[3] << 8 | (uint32_t)b[4] << 16 | (uint32_t)b[5] << 24;
    for (int j = 0; j < 32; j++) {
        int q = nib32(b + 6, j) | (int)((qh >> j) & 1) << 4;
        v[j] = d * (q - 16);
        mag[j] = fabs(v[j]);
    }
}
static void dec_q5_1(const uint8_t *b, double *v, double *mag) { /* d m qh[4] qs[16] */
    double d = half_d(rd16(b)), m = half_d(rd16(b + 2));
    uint32_t qh = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
    for (int j = 0; j < 32; j++) {
        int q = nib32(b + 8, j) | (int)((qh >> j) & 1) << 4;
        v[j] = d * q + m;
        mag[j] = fabs(d * q) + fabs(m);
    }
}
static void dec_q8_0(const uint8_t *b, double *v, double *mag) { /* d qs[32] */
    double d = half_d(rd16(b));
    for (int j = 0; j < 32; j++) {
        v[j] = d * (int8_t)b[2 + j];
        mag[j] = fabs(v[j]);
    }
}
static void dec_iq4_nl(const uint8_t *b, double *v, double *mag) { /* d qs[16] */
    double d = half_d(rd16(b));
    for (int j = 0; j < 32; j++) {
        v[j] = d * grid_iq4nl[nib32(b + 2, j)];
        mag[j] = fabs(v[j]);
    }
}

/* Q2_K: scales[16] qs[64] d dmin. Value e: 2 bits at 2*s of qs[32h + l],
 * h = e/128, s = e%128/32, l = e%32; sub-block e/16 has scale low nibble,
 * min high nibble. */
static void dec_q2_K(const uint8_t *b, double *v, double *mag) {
    const uint8_t *sc = b, *qs = b + 16;
    double d = half_d(rd16(b + 80)), dmin = half_d(rd16(b + 82));
    for (int e = 0; e < 256; e++) {
        int q = (qs[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3;
        double a = d * (sc[e / 16] & 15) * q, m = dmin * (sc[e / 16] >> 4);
        v[e] = a - m;
        mag[e] = fabs(a) + fabs(m);
    }
}

/* Q3_K: hmask[32] qs[64] scales[12] d. Scales unpacked the way ggml's
 * dequantizer does it, on 32-bit words: word k of the 16 bytes of 6-bit
 * values = low nibbles (k < 2) or high nibbles (k >= 2) of words 0/1, with
 * bits 4..5 from the 2-bit fields of word 2. */
static void dec_q3_K(const uint8_t *b, double *v, double *mag) {
    const uint8_t *hm = b, *qs = b + 32;
    uint32_t aux[4];
    memcpy(aux, b + 96, 12);
    uint32_t tmp = aux[2];
    const uint32_t k1 = 0x03030303, k2 = 0x0f0f0f0f;
    aux[2] = ((aux[0] >> 4) & k2) | (((tmp >> 4) & k1) << 4);
    aux[3] = ((aux[1] >> 4) & k2) | (((tmp >> 6) & k1) << 4);
    aux[0] = (aux[0] & k2) | (((tmp >> 0) & k1) << 4);
    aux[1] = (aux[1] & k2) | (((tmp >> 2) & k1) << 4);
    uint8_t sc6[16];
    memcpy(sc6, aux, 16); /* little-endian host assumed, as the library's */
    double d = half_d(rd16(b + 108));
    for (int e = 0; e < 256; e++) {
        int h = e / 128, s = e % 128 / 32, l = e % 32;
        int q = (qs[32 * h + l] >> (2 * s)) & 3;
        if (!(hm[l] & (1 << (4 * h + s)))) q -= 4;
        v[e] = d * (sc6[e / 16] - 32) * q;
        mag[e] = fabs(v[e]);
    }
}

/* Q4_K / Q5_K scales: ggml's word-level unpacking (utmp). */
static void k4_unpack(const uint8_t *p12, uint8_t sc[8], uint8_t mn[8]) {
    uint32_t u[4];
    const uint32_t km1 = 0x3f3f3f3f, km2 = 0x0f0f0f0f, km3 = 0x03030303;
    memcpy(u, p12, 12);
    u[3] = ((u[2] >> 4) & km2) | (((u[1] >> 6) & km3) << 4);
    uint32_t ua = u[1] & km1;
    u[1] = (u[2] & km2) | (((u[0] >> 6) & km3) << 4);
    u[2] = ua;
    u[0] &= km1;
    memcpy(sc, u, 8);
    memcpy(mn, u + 2, 8);
}

/* Q4_K: d dmin scales[12] qs[128]. Value e: c = e/64, l = e%32; low nibble
 * of qs[32c + l] if e%64 < 32, else high nibble; sub-block e/32. */
static void dec_q4_K(const uint8_t *b, double *v, double *mag) {
    double d = half_d(rd16(b)), dmin = half_d(rd16(b + 2));
    uint8_t sc[8], mn[8];
    k4_unpack(b + 4, sc, mn);
    const uint8_t *qs = b + 16;
    for (int e = 0; e < 256; e++) {
        uint8_t byte = qs[32 * (e / 64) + e % 32];
        int q = (e % 64 < 32) ? (byte & 15) : (byte >> 4);
        double a = d * sc[e / 32] * q, m = dmin * mn[e / 32];
        v[e] = a - m;
        mag[e] = fabs(a) + fabs(m);
    }
}

/* Q5_K: d dmin scales[12] qh[32] qs[128]; fifth bit of value e is bit e/32
 * of qh[e%32]. */
static void dec_q5_K(const uint8_t *b, double *v, double *mag) {
    double d = half_d(rd16(b)), dmin = half_d(rd16(b + 2));
    uint8_t sc[8], mn[8];
    k4_unpack(b + 4, sc, mn);
    const uint8_t *qh = b + 16, *qs = b + 48;
    for (int e = 0; e < 256; e++) {
        uint8_t byte = qs[32 * (e / 64) + e % 32];
        int q = (e % 64 < 32) ? (byte & 15) : (byte >> 4);
        q += ((qh[e % 32] >> (e / 32)) & 1) * 16;
        double a = d * sc[e / 32] * q, m = dmin * mn[e / 32];
        v[e] = a - m;
        mag[e] = fabs(a) + fabs(m);
    }
}

/* Q6_K: ql[128] qh[64] scales[16] d. Value e = 128h + 32c + l: low 4 bits
 * from ql[64h + 32(c&1) + l] (low nibble for c < 2, high for c >= 2), high 2
 * bits from qh[32h + l] at bit 2c; minus 32; sub-block e/16. */
static void dec_q6_K(const uint8_t *b, double *v, double *mag) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    double d = half_d(rd16(b + 208));
    for (int e = 0; e < 256; e++) {
        int h = e / 128, c = e % 128 / 32, l = e % 32;
        int lo = (ql[64 * h + 32 * (c & 1) + l] >> (c < 2 ? 0 : 4)) & 15;
        int hi = (qh[32 * h + l] >> (2 * c)) & 3;
        v[e] = d * sc[e / 16] * ((lo | hi << 4) - 32);
        mag[e] = fabs(v[e]);
    }
}

/* IQ4_XS: d scales_h scales_l[4] qs[128]; sub-block k of 32: scale
 * (nibble k%2 of scales_l[k/2]) | (bits 2k..2k+1 of scales_h) << 4, minus 32;
 * values: nibbles of qs[16k..16k+15], low nibbles first. */
static void dec_iq4_xs(const uint8_t *b, double *v, double *mag) {
    double d = half_d(rd16(b));
    unsigned sh = rd16(b + 2);
    const uint8_t *sl = b + 4, *qs = b + 8;
    for (int k = 0; k < 8; k++) {
        int ls = ((sl[k / 2] >> (4 * (k % 2))) & 15) | (int)((sh >> (2 * k)) & 3) << 4;
        for (int j = 0; j < 32; j++) {
            v[32 * k + j] = d * (ls - 32) * grid_iq4nl[nib32(qs + 16 * k, j)];
            mag[32 * k + j] = fabs(v[32 * k + j]);
        }
    }
}

/* activations */
static void dec_q8_1(const uint8_t *b, double *v, double *mag) { /* d s qs[32] */
    double d = half_d(rd16(b));
    for (int j = 0; j < 32; j++) {
        v[j] = d * (int8_t)b[4 + j];
        mag[j] = fabs(v[j]);
    }
}
static void dec_q8_K(const uint8_t *b, double *v, double *mag) { /* f32 d, qs[256], bsums[16] */
    float d;
    memcpy(&d, b, 4);
    for (int j = 0; j < 256; j++) {
        v[j] = (double)d * (int8_t)b[4 + j];
        mag[j] = fabs(v[j]);
    }
}

/* ---------------------------------------------------------- generators */

/* exact mode: scales are powers of two, integers small (see the top) */
#define EXACT_D 0x2C00  /* 2^-4 as fp16 */
#define EXACT_DY 0x3000 /* 2^-3 as fp16 */

/* a plain-type value */
static void gen_f32(uint8_t *b, int exact) {
    float f = exact ? (float)rng_int(-32, 32) / 8.0f : (float)(2.0 * rng_unit() - 1.0);
    memcpy(b, &f, 4);
}
static void gen_f16(uint8_t *b, int exact) {
    float f = exact ? (float)rng_int(-32, 32) / 8.0f : (float)(4.0 * rng_unit() - 2.0);
    wr16(b, nb_f32_to_fp16(f));
}
static void gen_bf16(uint8_t *b, int exact) {
    float f = exact ? (float)rng_int(-32, 32) / 8.0f : (float)(4.0 * rng_unit() - 2.0);
    wr16(b, nb_f32_to_bf16(f));
}

static void fill_random(uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)rng_u64();
}
/* a weight scale: random normal-range fp16, or 2^-4 */
static uint16_t wscale(int exact) {
    return exact ? EXACT_D : rng_half(1e-4, 0.5);
}
/* an additive offset m: random, or a small multiple of 2^-4 */
static uint16_t woffset(int exact) {
    return exact ? nb_f32_to_fp16((float)rng_int(-8, 8) / 16.0f) : rng_half(1e-4, 4.0);
}

static void gen_q4_0(uint8_t *b, int exact) {
    fill_random(b, sizeof(block_q4_0));
    wr16(b + offsetof(block_q4_0, d), wscale(exact));
}
static void gen_q4_1(uint8_t *b, int exact) {
    fill_random(b, sizeof(block_q4_1));
    wr16(b + offsetof(block_q4_1, d), wscale(exact));
    wr16(b + offsetof(block_q4_1, m), woffset(exact));
}
static void gen_q5_0(uint8_t *b, int exact) {
    fill_random(b, sizeof(block_q5_0));
    wr16(b + offsetof(block_q5_0, d), wscale(exact));
}
static void gen_q5_1(uint8_t *b, int exact) {
    fill_random(b, sizeof(block_q5_1));
    wr16(b + offsetof(block_q5_1, d), wscale(exact));
    wr16(b + offsetof(block_q5_1, m), woffset(exact));
}
static void gen_q8_0(uint8_t *b, int exact) {
    fill_random(b, sizeof(block_q8_0)); /* all 256 byte values, -128 too */
    wr16(b + offsetof(block_q8_0, d), wscale(exact));
}
static void gen_iq4_nl(uint8_t *b, int exact) {
    fill_random(b, sizeof(block_iq4_nl));
    wr16(b + offsetof(block_iq4_nl, d), wscale(exact));
}
static void gen_q2_K(uint8_t *b, int exact) {
    fill_random(b, sizeof(block_q2_K));
    if (exact)
        for (int i = 0; i < 16; i++) b[offsetof(block_q2_K, scales) + i] &= 0x33;
    wr16(b + offsetof(block_q2_K, d), wscale(exact));
    wr16(b + offsetof(block_q2_K, dmin), wscale(exact));
}
static void gen_q3_K(uint8_t *b, int exact) {
    fill_random(b, sizeof(block_q3_K));
    if (exact) { /* 6-bit scales 32 + 0..3 or 16 + 0..3: (sc - 32) small */
        uint8_t *sc = b + offsetof(block_q3_K, scales);
        for (int i = 0; i < 8; i++) sc[i] &= 0x33;
        for (int i = 8; i < 12; i++) sc[i] = (uint8_t)(rng_u64() & 1 ? 0xAA : 0x99);
    }
    wr16(b + offsetof(block_q3_K, d), wscale(exact));
}
static void gen_q4_K(uint8_t *b, int exact) {
    fill_random(b, sizeof(block_q4_K));
    if (exact)
        for (int i = 0; i < 12; i++) b[offsetof(block_q4_K, scales) + i] &= 0x03; /* 0..3 */
    wr16(b + offsetof(block_q4_K, d), wscale(exact));
    wr16(b + offsetof(block_q4_K, dmin), wscale(exact));
}
static void gen_q5_K(uint8_t *b, int exact) {
    fill_random(b, sizeof(block_q5_K));
    if (exact)
        for (int i = 0; i < 12; i++) b[offsetof(block_q5_K, scales) + i] &= 0x03; /* 0..3 */
    wr16(b + offsetof(block_q5_K, d), wscale(exact));
    wr16(b + offsetof(block_q5_K, dmin), wscale(exact));
}
static void gen_q6_K(uint8_t *b, int exact) {
    fill_random(b, sizeof(block_q6_K)); /* int8 scales, -128 too */
    if (exact)
        for (int i = 0; i < 16; i++) b[offsetof(block_q6_K, scales) + i] = (uint8_t)(int8_t)rng_int(-4, 4);
    wr16(b + offsetof(block_q6_K, d), wscale(exact));
}
static void gen_iq4_xs(uint8_t *b, int exact) {
    fill_random(b, sizeof(block_iq4_xs));
    if (exact) { /* scales 32 + 0..3 */
        for (int i = 0; i < 4; i++) b[offsetof(block_iq4_xs, scales_l) + i] &= 0x33;
        wr16(b + offsetof(block_iq4_xs, scales_h), 0xAAAA);
    }
    wr16(b + offsetof(block_iq4_xs, d), wscale(exact));
}

/* activation quants: [-127, 127] (the quantizers' range), or [-15, 15] */
static int8_t act_q(int exact) {
    return (int8_t)(exact ? rng_int(-15, 15) : rng_int(-127, 127));
}
static void gen_a_q8_0(uint8_t *b, int exact) {
    wr16(b, exact ? EXACT_DY : rng_half(1e-4, 0.1));
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)act_q(exact);
}
static void gen_a_q8_1(uint8_t *b, int exact) {
    uint16_t d = exact ? EXACT_DY : rng_half(1e-4, 0.1);
    int sum = 0;
    for (int j = 0; j < 32; j++) {
        int8_t q = act_q(exact);
        b[4 + j] = (uint8_t)q;
        sum += q;
    }
    wr16(b, d);
    wr16(b + 2, nb_f32_to_fp16(nb_fp16_to_f32(d) * (float)sum)); /* s = d * sum(q) */
}
static void gen_a_q8_K(uint8_t *b, int exact) {
    float d = exact ? 0.125f : (float)rng_scale(1e-4, 0.1); /* q8_K d may be negative */
    memcpy(b, &d, 4);
    for (int k = 0; k < 16; k++) {
        int sum = 0;
        for (int j = 0; j < 16; j++) {
            int8_t q = act_q(exact);
            b[4 + 16 * k + j] = (uint8_t)q;
            sum += q;
        }
        int16_t s16 = (int16_t)sum;
        memcpy(b + 260 + 2 * k, &s16, 2);
    }
}

/* -------------------------------------------------------------- the types */

typedef void (*gen_fn)(uint8_t *b, int exact);
typedef void (*dec_fn)(const uint8_t *b, double *v, double *mag);

typedef struct dtype {
    const char *name;
    uint32_t type, partner;
    int block;              /* values per block (1 for plain types)  */
    size_t wbytes, abytes;  /* bytes per weight / activation block     */
    gen_fn gen_w, gen_a;
    dec_fn dec_w, dec_a;
    nb_vec_dot_fn dispatch; /* the exported nb_vec_dot_T               */
} dtype;

static const dtype TYPES[] = {
    {"f32", NB_TYPE_F32, NB_TYPE_F32, 1, 4, 4, gen_f32, gen_f32, dec_f32, dec_f32, nb_vec_dot_f32},
    {"f16", NB_TYPE_F16, NB_TYPE_F16, 1, 2, 2, gen_f16, gen_f16, dec_f16, dec_f16, nb_vec_dot_f16},
    {"bf16", NB_TYPE_BF16, NB_TYPE_BF16, 1, 2, 2, gen_bf16, gen_bf16, dec_bf16, dec_bf16,
     nb_vec_dot_bf16},
    {"q4_0", NB_TYPE_Q4_0, NB_TYPE_Q8_0, 32, 18, 34, gen_q4_0, gen_a_q8_0, dec_q4_0, dec_q8_0,
     nb_vec_dot_q4_0},
    {"q4_1", NB_TYPE_Q4_1, NB_TYPE_Q8_1, 32, 20, 36, gen_q4_1, gen_a_q8_1, dec_q4_1, dec_q8_1,
     nb_vec_dot_q4_1},
    {"q5_0", NB_TYPE_Q5_0, NB_TYPE_Q8_0, 32, 22, 34, gen_q5_0, gen_a_q8_0, dec_q5_0, dec_q8_0,
     nb_vec_dot_q5_0},
    {"q5_1", NB_TYPE_Q5_1, NB_TYPE_Q8_1, 32, 24, 36, gen_q5_1, gen_a_q8_1, dec_q5_1, dec_q8_1,
     nb_vec_dot_q5_1},
    {"q8_0", NB_TYPE_Q8_0, NB_TYPE_Q8_0, 32, 34, 34, gen_q8_0, gen_a_q8_0, dec_q8_0, dec_q8_0,
     nb_vec_dot_q8_0},
    {"iq4_nl", NB_TYPE_IQ4_NL, NB_TYPE_Q8_0, 32, 18, 34, gen_iq4_nl, gen_a_q8_0, dec_iq4_nl,
     dec_q8_0, nb_vec_dot_iq4_nl},
    {"q2_K", NB_TYPE_Q2_K, NB_TYPE_Q8_K, 256, 84, 292, gen_q2_K, gen_a_q8_K, dec_q2_K, dec_q8_K,
     nb_vec_dot_q2_K},
    {"q3_K", NB_TYPE_Q3_K, NB_TYPE_Q8_K, 256, 110, 292, gen_q3_K, gen_a_q8_K, dec_q3_K, dec_q8_K,
     nb_vec_dot_q3_K},
    {"q4_K", NB_TYPE_Q4_K, NB_TYPE_Q8_K, 256, 144, 292, gen_q4_K, gen_a_q8_K, dec_q4_K, dec_q8_K,
     nb_vec_dot_q4_K},
    {"q5_K", NB_TYPE_Q5_K, NB_TYPE_Q8_K, 256, 176, 292, gen_q5_K, gen_a_q8_K, dec_q5_K, dec_q8_K,
     nb_vec_dot_q5_K},
    {"q6_K", NB_TYPE_Q6_K, NB_TYPE_Q8_K, 256, 210, 292, gen_q6_K, gen_a_q8_K, dec_q6_K, dec_q8_K,
     nb_vec_dot_q6_K},
    {"iq4_xs", NB_TYPE_IQ4_XS, NB_TYPE_Q8_K, 256, 136, 292, gen_iq4_xs, gen_a_q8_K, dec_iq4_xs,
     dec_q8_K, nb_vec_dot_iq4_xs},
};
#define N_TYPES (int)(sizeof TYPES / sizeof TYPES[0])

static const dtype *find_type(uint32_t type) {
    for (int i = 0; i < N_TYPES; i++)
        if (TYPES[i].type == type) return &TYPES[i];
    return NULL;
}

/* Row lengths: plain types get odd lengths too (SIMD tails). */
static const int64_t LEN_PLAIN[] = {1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 4096, 4097, 11008};
static const int64_t LEN_32[] = {32, 64, 96, 160, 224, 4096, 11008};
static const int64_t LEN_256[] = {256, 512, 768, 1280, 4096, 11008};

static const int64_t *lengths(const dtype *t, int *count) {
    if (t->block == 1) {
        *count = (int)(sizeof LEN_PLAIN / sizeof LEN_PLAIN[0]);
        return LEN_PLAIN;
    }
    if (t->block == 32) {
        *count = (int)(sizeof LEN_32 / sizeof LEN_32[0]);
        return LEN_32;
    }
    *count = (int)(sizeof LEN_256 / sizeof LEN_256[0]);
    return LEN_256;
}

/* ---------------------------------------------------------- one case */

typedef struct rows {
    int64_t n;
    uint8_t *x, *y;   /* weight and activation blocks        */
    double exact;     /* sum_i x_i y_i, double               */
    double amag;      /* A = sum_i mag(x_i) |y_i|             */
    double s_err;     /* Q8_1: sum_b |m_b| |s_b - d_b sum p| */
} rows;

static void rows_free(rows *r) {
    free(r->x);
    free(r->y);
}

/* decoded exact dot of the rows in r (fills exact, amag, s_err) */
static void rows_reference(const dtype *t, rows *r) {
    const int64_t nb = r->n / t->block;
    double *vx = malloc(sizeof(double) * (size_t)t->block * 4);
    double *mx = vx + t->block, *vy = mx + t->block, *my = vy + t->block;
    double sum = 0, amag = 0, s_err = 0;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *xb = r->x + (size_t)b * t->wbytes, *yb = r->y + (size_t)b * t->abytes;
        t->dec_w(xb, vx, mx);
        t->dec_a(yb, vy, my);
        for (int j = 0; j < t->block; j++) {
            sum += vx[j] * vy[j];
            amag += mx[j] * fabs(vy[j]);
        }
        if (t->partner == NB_TYPE_Q8_1) { /* ggml uses the stored s for the offset term */
            double psum = 0;
            for (int j = 0; j < 32; j++) psum += vy[j];
            double m = half_d(rd16(xb + 2)); /* m follows d in q4_1 / q5_1 */
            s_err += fabs(m) * fabs(half_d(rd16(yb + 2)) - psum);
        }
    }
    r->exact = sum;
    r->amag = amag;
    r->s_err = s_err;
    free(vx);
}

static rows make_rows(const dtype *t, int64_t n, int exact) {
    rows r;
    memset(&r, 0, sizeof r);
    r.n = n;
    const int64_t nb = n / t->block;
    r.x = malloc((size_t)nb * t->wbytes);
    r.y = malloc((size_t)nb * t->abytes);
    for (int64_t b = 0; b < nb; b++) {
        t->gen_w(r.x + (size_t)b * t->wbytes, exact);
        t->gen_a(r.y + (size_t)b * t->abytes, exact);
    }
    rows_reference(t, &r);
    return r;
}

static double gamma_for(const dtype *t, int64_t n) {
    double chain = (double)(t->block == 1 ? n : n / t->block);
    return (chain + 8.0) * ldexp(1.0, -24);
}

static float run_dot(nb_vec_dot_fn f, int64_t n, const rows *r) {
    float s = -12345.0f;
    f(n, &s, r->x, r->y);
    return s;
}

/* ----------------------------------------------------------------- tests */

static int levels_tested[NB_SIMD_COUNT];

static void t_levels(void) {
    nb_simd_level best = nb_simd_best();
    char buf[128] = "";
    for (int l = 0; l < NB_SIMD_COUNT; l++) {
        if (!nb_simd_available(l)) continue;
        strcat(buf, " ");
        strcat(buf, nb_simd_name(l));
    }
    printf("# simd levels available:%s (best: %s)\n", buf, nb_simd_name(best));
    CHECK(nb_simd_available(NB_SIMD_SCALAR));
    CHECK(nb_simd_available(best));
    CHECK(nb_simd_current() == best);
#if defined(NB_NO_SIMD)
    CHECK(best == NB_SIMD_SCALAR);
#elif defined(__aarch64__)
    CHECK_MSG(best == NB_SIMD_NEON, "aarch64 must use NEON, got %s", nb_simd_name(best));
#endif
    CHECK(!nb_simd_available(-1) && !nb_simd_available(NB_SIMD_COUNT));
    CHECK(strcmp(nb_simd_name(NB_SIMD_SCALAR), "scalar") == 0);
    /* every dot type has a version at every available level; others none */
    for (int l = 0; l < NB_SIMD_COUNT; l++) {
        for (int i = 0; i < N_TYPES; i++) {
            nb_vec_dot_fn f = nb_vec_dot_get(TYPES[i].type, l);
            CHECK_MSG((f != NULL) == (nb_simd_available(l) != 0), "%s at %s: %p", TYPES[i].name,
                      nb_simd_name(l), (void *)(uintptr_t)f);
            CHECK_MSG(nb_vec_dot_partner(TYPES[i].type) == (int)TYPES[i].partner, "%s partner",
                      TYPES[i].name);
        }
        CHECK(nb_vec_dot_get(NB_TYPE_Q8_K, l) == NULL);
        CHECK(nb_vec_dot_get(NB_TYPE_COUNT, l) == NULL);
    }
    CHECK(nb_vec_dot_partner(NB_TYPE_Q8_K) == -1);
}

/* random scales: scalar vs exact within gamma*A, SIMD vs scalar within 2*gamma*A */
static void check_random(const dtype *t) {
    int nlen;
    const int64_t *lens = lengths(t, &nlen);
    double worst_ref = 0, worst_lvl[NB_SIMD_COUNT] = {0};
    nb_vec_dot_fn scalar = nb_vec_dot_get(t->type, NB_SIMD_SCALAR);
    for (int li = 0; li < nlen; li++) {
        for (int rep = 0; rep < 3; rep++) {
            const int64_t n = lens[li];
            rows r = make_rows(t, n, 0);
            const double g = gamma_for(t, n), A = r.amag > 0 ? r.amag : 1e-30;
            float s0 = run_dot(scalar, n, &r);
            double e0 = fabs((double)s0 - r.exact);
            CHECK_MSG(e0 <= g * A + r.s_err, "%s n=%lld scalar %.9g exact %.9g: error %.3g > %.3g",
                      t->name, (long long)n, s0, r.exact, e0, g * A + r.s_err);
            if ((e0 - r.s_err) / A > worst_ref) worst_ref = (e0 - r.s_err) / A;
            for (int l = 1; l < NB_SIMD_COUNT; l++) {
                nb_vec_dot_fn f = nb_vec_dot_get(t->type, l);
                if (!f) continue;
                levels_tested[l] = 1;
                float sl = run_dot(f, n, &r);
                double el = fabs((double)sl - (double)s0);
                CHECK_MSG(el <= 2 * g * A, "%s n=%lld %s %.9g scalar %.9g: differ by %.3g > %.3g",
                          t->name, (long long)n, nb_simd_name(l), sl, s0, el, 2 * g * A);
                if (el / A > worst_lvl[l]) worst_lvl[l] = el / A;
            }
            rows_free(&r);
        }
    }
    printf("# %-6s max |err|/A: scalar vs exact %.2e", t->name, worst_ref);
    for (int l = 1; l < NB_SIMD_COUNT; l++)
        if (nb_simd_available(l)) printf(", %s vs scalar %.2e", nb_simd_name(l), worst_lvl[l]);
    printf("\n");
}

/* power-of-two scales, small integers: every version exact, bit for bit */
static void check_exact(const dtype *t) {
    int nlen;
    const int64_t *lens = lengths(t, &nlen);
    for (int li = 0; li < nlen; li++) {
        const int64_t n = lens[li];
        rows r = make_rows(t, n, 1);
        /* units: x in multiples of 2^-4 (plain: 2^-3), y of 2^-3 */
        double unit = t->block == 1 ? 1.0 / 64 : 1.0 / 128;
        CHECK_MSG(r.amag / unit < 16777216.0, "%s n=%lld: A = %.6g units, too big to be exact",
                  t->name, (long long)n, r.amag / unit);
        for (int l = 0; l < NB_SIMD_COUNT; l++) {
            nb_vec_dot_fn f = nb_vec_dot_get(t->type, l);
            if (!f) continue;
            float s = run_dot(f, n, &r);
            CHECK_MSG((double)s == r.exact, "%s n=%lld %s: %.9g, exact %.9g", t->name,
                      (long long)n, nb_simd_name(l), s, r.exact);
        }
        rows_free(&r);
    }
}

/* the exported nb_vec_dot_T runs the level in force */
static void check_dispatch(const dtype *t) {
    const int64_t n = t->block == 1 ? 1000 : 8 * (int64_t)t->block;
    rows r = make_rows(t, n, 0);
    for (int l = 0; l < NB_SIMD_COUNT; l++) {
        if (!nb_simd_available(l)) continue;
        CHECK(nb_simd_force(l) == (nb_simd_level)l);
        CHECK(nb_simd_current() == (nb_simd_level)l);
        float a = run_dot(t->dispatch, n, &r);
        float b = run_dot(nb_vec_dot_get(t->type, l), n, &r);
        CHECK_MSG(memcmp(&a, &b, sizeof a) == 0, "%s forced %s: %.9g vs %.9g", t->name,
                  nb_simd_name(l), a, b);
    }
    CHECK(nb_simd_force(-1) == nb_simd_best());
    CHECK(nb_simd_current() == nb_simd_best());
    /* the type table, once wired, points at the same function and partner */
    const nb_type_info *ti = nb_type_get(t->type);
    CHECK(ti != NULL);
    if (ti && ti->vec_dot) {
        CHECK_MSG(ti->vec_dot_type == t->partner, "%s: table vec_dot_type %u, want %u", t->name,
                  ti->vec_dot_type, t->partner);
        float a = run_dot(ti->vec_dot, n, &r), b = run_dot(t->dispatch, n, &r);
        CHECK_MSG(memcmp(&a, &b, sizeof a) == 0, "%s: table vec_dot %.9g, nb_vec_dot %.9g",
                  t->name, a, b);
    }
    rows_free(&r);
}

#define DOT_TESTS(T)                                  \
    static void t_random_##T(void) {                  \
        check_random(&TYPES[ix_##T]);                 \
    }                                                 \
    static void t_exact_##T(void) {                   \
        check_exact(&TYPES[ix_##T]);                  \
    }
enum {
    ix_f32, ix_f16, ix_bf16, ix_q4_0, ix_q4_1, ix_q5_0, ix_q5_1, ix_q8_0, ix_iq4_nl,
    ix_q2_K, ix_q3_K, ix_q4_K, ix_q5_K, ix_q6_K, ix_iq4_xs
};
DOT_TESTS(f32)
DOT_TESTS(f16)
DOT_TESTS(bf16)
DOT_TESTS(q4_0)
DOT_TESTS(q4_1)
DOT_TESTS(q5_0)
DOT_TESTS(q5_1)
DOT_TESTS(q8_0)
DOT_TESTS(iq4_nl)
DOT_TESTS(q2_K)
DOT_TESTS(q3_K)
DOT_TESTS(q4_K)
DOT_TESTS(q5_K)
DOT_TESTS(q6_K)
DOT_TESTS(iq4_xs)

/* Matmul tiles (nb_vec_dot_mn): every value of a tile of rows x tokens
 * equals, to the bit, the single dot product at the same level, for tile
 * shapes around the tiled kernels' groups (2 rows x 4 tokens) and strides
 * wider than a row. Through the library's own quantizers. */
static void t_mn_tiles(void) {
    static const int shapes[][2] = {{1, 1}, {2, 4}, {3, 5}, {16, 32}, {5, 9}, {16, 1}, {1, 7},
                                    {16, 8}, {13, 12}, {16, 3}, {7, 1}, {16, 80}, {3, 70}};
    for (int i = 0; i < N_TYPES; i++) {
        const dtype *t = &TYPES[i];
        /* short rows, and rows longer than the tiles' chunks (32 blocks of
         * 32, 8 super-blocks of 256) */
        for (int len = 0; len < 2; len++) {
            const int64_t n = t->block == 1 ? (len ? 1200 : 96) : (len ? 40 : 3) * (int64_t)t->block;
            const int64_t nblk = n / t->block;
            size_t xs = nblk * t->wbytes + 40, ys = nblk * t->abytes + 24;
            enum { R = 16, T = 80 }; /* more tokens than a pass over long rows (64) */
            uint8_t *x = calloc(R, xs), *y = calloc(T, ys);
            double *mx = malloc((size_t)n * R * sizeof(double)), *my = malloc((size_t)n * T * sizeof(double));
            double *v = malloc((size_t)t->block * sizeof(double));
            float out[R * T], one;
            CHECK(x && y && mx && my && v);
            if (!(x && y && mx && my && v)) { free(x), free(y), free(mx), free(my), free(v); return; }
            /* random blocks (every byte value, scales over a wide range),
             * and their value magnitudes for the scalar comparison */
            for (int r = 0; r < R; r++)
                for (int64_t b = 0; b < nblk; b++) {
                    uint8_t *blk = x + (size_t)r * xs + (size_t)b * t->wbytes;
                    t->gen_w(blk, 0);
                    t->dec_w(blk, v, mx + (size_t)r * n + b * t->block);
                }
            for (int u = 0; u < T; u++)
                for (int64_t b = 0; b < nblk; b++) {
                    uint8_t *blk = y + (size_t)u * ys + (size_t)b * t->abytes;
                    t->gen_a(blk, 0);
                    t->dec_a(blk, v, my + (size_t)u * n + b * t->block);
                }
            for (int l = 0; l < NB_SIMD_COUNT; l++) {
                if (!nb_simd_available(l)) continue;
                nb_simd_force(l);
                nb_vec_dot_fn dot = nb_vec_dot_get(t->type, l);
                /* with and without AVX-512 VNNI where the CPU has it: the same bits */
                for (int vnni = 1; vnni >= (nb_simd_has_vnni() ? 0 : 1); vnni--) {
                    nb_simd_force_vnni(vnni);
                    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
                        int nr = shapes[k][0], nt = shapes[k][1];
                        nb_vec_dot_mn(t->type, n, nr, nt, out, 1, R, x, xs, y, ys);
                        for (int r = 0; r < nr; r++)
                            for (int u = 0; u < nt; u++) {
                                dot(n, &one, x + (size_t)r * xs, y + (size_t)u * ys);
                                CHECK_MSG(memcmp(&one, &out[u * R + r], 4) == 0,
                                          "%s %s%s n %d tile %dx%d, row %d token %d: %.9g vs %.9g",
                                          t->name, nb_simd_name(l), vnni ? "" : " (no vnni)", (int)n,
                                          nr, nt, r, u, out[u * R + r], one);
                            }
                        /* rows apart in the output (s_row != 1), tokens next to each other */
                        nb_vec_dot_mn(t->type, n, nr, nt, out, T, 1, x, xs, y, ys);
                        for (int r = 0; r < nr; r++)
                            for (int u = 0; u < nt; u++) {
                                dot(n, &one, x + (size_t)r * xs, y + (size_t)u * ys);
                                CHECK_MSG(memcmp(&one, &out[r * T + u], 4) == 0,
                                          "%s %s transposed tile %dx%d, row %d token %d", t->name,
                                          nb_simd_name(l), nr, nt, r, u);
                            }
                    }
                    nb_vec_dot_mn_fn mn = nb_vec_dot_mn_get(t->type, l);
                    if (mn) { /* the tiled function itself, at its level */
                        mn(n, 3, 5, out, 1, R, x, xs, y, ys);
                        for (int r = 0; r < 3; r++)
                            for (int u = 0; u < 5; u++) {
                                dot(n, &one, x + (size_t)r * xs, y + (size_t)u * ys);
                                CHECK(memcmp(&one, &out[u * R + r], 4) == 0);
                            }
                    }
                    /* and within tolerance of the scalar reference */
                    nb_vec_dot_fn ref = nb_vec_dot_get(t->type, NB_SIMD_SCALAR);
                    nb_vec_dot_mn(t->type, n, 16, 8, out, 1, R, x, xs, y, ys);
                    for (int r = 0; r < 16; r++)
                        for (int u = 0; u < 8; u++) {
                            float want;
                            ref(n, &want, x + (size_t)r * xs, y + (size_t)u * ys);
                            double mag = 0.0;
                            for (int64_t j = 0; j < n; j++) mag += mx[(size_t)r * n + j] * my[(size_t)u * n + j];
                            double tol = 1e-5 * mag + 1e-30;
                            CHECK_MSG(fabs((double)out[u * R + r] - want) <= tol,
                                      "%s %s tile vs scalar row %d token %d: %.9g vs %.9g", t->name,
                                      nb_simd_name(l), r, u, out[u * R + r], want);
                        }
                }
                nb_simd_force_vnni(1);
            }
            nb_simd_force(-1);
            free(x), free(y), free(mx), free(my), free(v);
        }
    }
}

/* SIMD activation quantizers: the same bytes as act.c's reference, on
 * random rows with scales from tiny to large, ties (x * id exactly k +
 * 0.5), zero blocks and one-value blocks. */
static void t_act_quantizers(void) {
    const uint32_t types[] = {NB_TYPE_Q8_0, NB_TYPE_Q8_1};
    enum { N = 32 * 64 };
    static float x[N];
    static uint8_t a[N * 2], b[N * 2];
    for (int k = 0; k < 2; k++) {
        const nb_type_info *ti = nb_type_get(types[k]);
        for (int l = 0; l < NB_SIMD_COUNT; l++) {
            nb_quantize_fn q = nb_act_quantize_get(types[k], l);
            if (!q) continue;
            for (int rep = 0; rep < 20; rep++) {
                double sc = rng_scale(1e-6, 1e3);
                for (int i = 0; i < N; i++) x[i] = (float)(sc * rng_normal());
                for (int i = 0; i < 32; i++) x[32 + i] = 0.0f;         /* zero block */
                for (int i = 0; i < 32; i++) x[64 + i] = i == 5 ? 3.0f : 0.0f;
                for (int i = 0; i < 32; i++) x[96 + i] = (float)(i - 16) + 0.5f; /* ties */
                x[96] = 127.0f;
                ti->from_float(x, a, N);
                q(x, b, N);
                size_t bytes = nb_row_size(types[k], N);
                size_t at = 0;
                while (at < bytes && a[at] == b[at]) at++;
                CHECK_MSG(at == bytes, "%s %s: byte %zu differs (%u vs %u)", ti->name,
                          nb_simd_name(l), at, b[at], a[at]);
                if (at != bytes) break;
            }
        }
        /* the dispatcher's choice is one of the two */
        nb_quantize_fn cur = nb_act_quantize(types[k]);
        CHECK(cur == ti->from_float || cur == nb_act_quantize_get(types[k], nb_simd_current()));
    }
}

static void t_dispatch(void) {
    for (int i = 0; i < N_TYPES; i++) check_dispatch(&TYPES[i]);
}

/* Edge values: zero scales, an all-zero row, n = 0. */
static void t_edges(void) {
    for (int i = 0; i < N_TYPES; i++) {
        const dtype *t = &TYPES[i];
        const int64_t n = t->block == 1 ? 64 : 4 * (int64_t)t->block;
        rows r = make_rows(t, n, 0);
        memset(r.y, 0, (size_t)(n / t->block) * t->abytes); /* zero activations */
        for (int l = 0; l < NB_SIMD_COUNT; l++) {
            nb_vec_dot_fn f = nb_vec_dot_get(t->type, l);
            if (!f) continue;
            float s = run_dot(f, n, &r);
            CHECK_MSG(s == 0.0f, "%s %s: zero activations give %.9g", t->name, nb_simd_name(l), s);
            s = run_dot(f, 0, &r);
            CHECK_MSG(s == 0.0f, "%s %s: n = 0 gives %.9g", t->name, nb_simd_name(l), s);
        }
        rows_free(&r);
    }
}

/* ------------------------------------------------------ llama.cpp's result */

static void *read_ref(const char *file, size_t *size) {
    const char *dir = nb_test_shared_dir();
    char path[1024];
    if (!dir) return NULL;
    snprintf(path, sizeof path, "%s/reference/quants/%s", dir, file);
    return nb_test_read_file(path, size);
}

/* The partner's from_float, for float activation rows. */
static void from_float_partner(uint32_t partner, const float *x, void *y, int64_t n) {
    switch (partner) {
    case NB_TYPE_F32: memcpy(y, x, (size_t)n * 4); break;
    case NB_TYPE_F16: nb_from_float_f16(x, y, n); break;
    case NB_TYPE_BF16: nb_from_float_bf16(x, y, n); break;
    case NB_TYPE_Q8_0: nb_from_float_q8_0(x, y, n); break;
    case NB_TYPE_Q8_1: nb_from_float_q8_1(x, y, n); break;
    case NB_TYPE_Q8_K: nb_from_float_q8_K(x, y, n); break;
    default: break;
    }
}

/* summary.tsv: ggml's vec_dot of cos.<T>.q (4096 values) with cos1.f32
 * through the CPU from_float of the partner type, column 8. */
static void t_matches_llama_cpp(void) {
    if (!nb_test_shared_dir()) {
        nb_test_skip("shared folder (../shared) not present");
        return;
    }
    size_t tsize = 0, ysize = 0;
    char *tsv = read_ref("summary.tsv", &tsize);
    float *y = read_ref("cos1.f32", &ysize);
    CHECK_MSG(tsv && y && ysize == 4096 * sizeof(float), "summary.tsv / cos1.f32 missing");
    if (!tsv || !y || ysize != 4096 * sizeof(float)) {
        free(tsv);
        free(y);
        return;
    }
    tsv[tsize] = 0;
    int checked = 0;
    double worst = 0;
    for (int i = 0; i < N_TYPES; i++) {
        const dtype *t = &TYPES[i];
        if (t->type == NB_TYPE_F32) continue; /* no f32 row */
        /* ggml's from_float for IQ4_NL (quantize_row_iq4_nl_ref, ntry -1)
         * is not the quantizer of cos.iq4_nl.q (quantize_iq4_nl, ntry 7):
         * the dot column used other weight bytes than the file holds */
        if (t->type == NB_TYPE_IQ4_NL) continue;
        char key[32], qn[64];
        snprintf(key, sizeof key, "\n%s\tcos\t", t->name);
        const char *line = strstr(tsv, key);
        CHECK_MSG(line != NULL, "summary.tsv has no %s row", t->name);
        if (!line) continue;
        double dot_ggml = 0;
        const char *p = line + 1;
        for (int col = 0; col < 7 && p; col++) { /* skip to column 8 */
            p = strchr(p, '\t');
            if (p) p++;
        }
        if (!p || sscanf(p, "%lf", &dot_ggml) != 1) {
            CHECK_MSG(0, "summary.tsv: no dot for %s", t->name);
            continue;
        }
        snprintf(qn, sizeof qn, "cos.%s.q", t->name);
        size_t qsize = 0;
        uint8_t *xq = read_ref(qn, &qsize);
        CHECK_MSG(xq && qsize == (size_t)(4096 / t->block) * t->wbytes, "%s: %zu bytes", qn, qsize);
        if (!xq || qsize != (size_t)(4096 / t->block) * t->wbytes) {
            free(xq);
            continue;
        }
        rows r;
        memset(&r, 0, sizeof r);
        r.n = 4096;
        r.x = xq;
        r.y = malloc((size_t)(4096 / t->block) * t->abytes);
        from_float_partner(t->partner, y, r.y, 4096);
        rows_reference(t, &r);
        /* both are within gamma*A of the exact dot of these operands, and
         * summary.tsv prints 9 significant digits */
        double tol = 2 * gamma_for(t, 4096) * r.amag + 1e-8 * fabs(dot_ggml);
        for (int l = 0; l < NB_SIMD_COUNT; l++) {
            nb_vec_dot_fn f = nb_vec_dot_get(t->type, l);
            if (!f) continue;
            float s = run_dot(f, 4096, &r);
            double e = fabs((double)s - dot_ggml);
            CHECK_MSG(e <= tol, "%s %s: %.9g, llama.cpp %.9g (diff %.3g > %.3g)", t->name,
                      nb_simd_name(l), s, dot_ggml, e, tol);
            if (e / fabs(dot_ggml) > worst) worst = e / fabs(dot_ggml);
        }
        checked++;
        rows_free(&r);
    }
    printf("# llama.cpp cos dot products: %d types (not iq4_nl: its dot column was computed from\n"
           "# other bytes than cos.iq4_nl.q), max relative difference %.2e\n", checked, worst);
    free(tsv);
    free(y);
}

/* ------------------------------------------------------------ end to end */

typedef void (*quant_fn)(const float *, void *, int64_t, const float *);

static quant_fn quantizer(uint32_t type) {
    switch (type) {
    case NB_TYPE_F32: return nb_quantize_row_f32;
    case NB_TYPE_F16: return nb_quantize_row_f16;
    case NB_TYPE_BF16: return nb_quantize_row_bf16;
    case NB_TYPE_Q4_0: return nb_quantize_row_q4_0;
    case NB_TYPE_Q4_1: return nb_quantize_row_q4_1;
    case NB_TYPE_Q5_0: return nb_quantize_row_q5_0;
    case NB_TYPE_Q5_1: return nb_quantize_row_q5_1;
    case NB_TYPE_Q8_0: return nb_quantize_row_q8_0;
    case NB_TYPE_IQ4_NL: return nb_quantize_row_iq4_nl;
    case NB_TYPE_Q2_K: return nb_quantize_row_q2_K;
    case NB_TYPE_Q3_K: return nb_quantize_row_q3_K;
    case NB_TYPE_Q4_K: return nb_quantize_row_q4_K;
    case NB_TYPE_Q5_K: return nb_quantize_row_q5_K;
    case NB_TYPE_Q6_K: return nb_quantize_row_q6_K;
    case NB_TYPE_IQ4_XS: return nb_quantize_row_iq4_xs;
    default: return NULL;
    }
}

/* rms relative error a format may have on normal data (generous) */
static double max_rel_rms(uint32_t type) {
    switch (type) {
    case NB_TYPE_F32: return 1e-7;
    case NB_TYPE_F16: return 1e-3;
    case NB_TYPE_BF16: return 5e-3;
    case NB_TYPE_Q8_0: return 0.01;
    case NB_TYPE_Q8_1: return 0.02; /* activations with outliers */
    case NB_TYPE_Q8_K: return 0.03;
    case NB_TYPE_Q6_K: return 0.03;
    case NB_TYPE_Q5_0: case NB_TYPE_Q5_1: case NB_TYPE_Q5_K: return 0.06;
    case NB_TYPE_Q4_0: case NB_TYPE_Q4_1: case NB_TYPE_Q4_K:
    case NB_TYPE_IQ4_NL: case NB_TYPE_IQ4_XS: return 0.12;
    case NB_TYPE_Q3_K: return 0.25;
    default: return 0.45; /* q2_K */
    }
}

static double decode_row(const dtype *t, int is_w, const uint8_t *q, int64_t n, double *out) {
    const int64_t nb = n / t->block;
    double *mag = malloc(sizeof(double) * (size_t)t->block);
    for (int64_t b = 0; b < nb; b++) {
        if (is_w) t->dec_w(q + (size_t)b * t->wbytes, out + b * t->block, mag);
        else t->dec_a(q + (size_t)b * t->abytes, out + b * t->block, mag);
    }
    free(mag);
    return 0;
}

/* Float rows -> the library's quantizer (weights) and from_float
 * (activations) -> nb_vec_dot_T, against the double dot of the float rows.
 * Cauchy-Schwarz bounds the difference by |dx| |y^| + |x| |dy| (dx, dy the
 * quantization errors, measured with the decoders here) plus rounding; the
 * formats' errors must also be in their usual range. */
static void t_end_to_end(void) {
    const int64_t n = 4096;
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    double *xd = malloc(sizeof(double) * (size_t)n), *yd = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        x[i] = (float)(0.05 * rng_normal());
        y[i] = (float)(rng_normal() + (i % 97 == 0 ? 6.0 : 0.0)); /* a few outliers */
    }
    double dot = 0, nx = 0, ny = 0;
    for (int64_t i = 0; i < n; i++) {
        dot += (double)x[i] * y[i];
        nx += (double)x[i] * x[i];
        ny += (double)y[i] * y[i];
    }
    nx = sqrt(nx);
    ny = sqrt(ny);
    for (int i = 0; i < N_TYPES; i++) {
        const dtype *t = &TYPES[i];
        quant_fn q = quantizer(t->type);
        rows r;
        memset(&r, 0, sizeof r);
        r.n = n;
        r.x = malloc((size_t)(n / t->block) * t->wbytes);
        r.y = malloc((size_t)(n / t->block) * t->abytes);
        q(x, r.x, n, NULL);
        from_float_partner(t->partner, y, r.y, n);
        rows_reference(t, &r);
        decode_row(t, 1, r.x, n, xd);
        decode_row(t, 0, r.y, n, yd);
        double ex = 0, ey = 0, nyq = 0;
        for (int64_t j = 0; j < n; j++) {
            ex += (xd[j] - x[j]) * (xd[j] - x[j]);
            ey += (yd[j] - y[j]) * (yd[j] - y[j]);
            nyq += yd[j] * yd[j];
        }
        ex = sqrt(ex);
        ey = sqrt(ey);
        nyq = sqrt(nyq);
        float s = -1;
        t->dispatch(n, &s, r.x, r.y);
        double err = fabs((double)s - dot);
        double bound = ex * nyq + nx * ey + gamma_for(t, n) * r.amag + r.s_err;
        printf("# %-6s end to end: dot %.6f, float rows %.6f, |err|/(|x||y|) %.2e; "
               "rms rel err weights %.2e, activations %.2e\n",
               t->name, s, dot, err / (nx * ny), ex / nx, ey / ny);
        CHECK_MSG(err <= bound, "%s: |%.6f - %.6f| = %.3g > %.3g", t->name, s, dot, err, bound);
        CHECK_MSG(ex / nx <= max_rel_rms(t->type), "%s: weights rms rel err %.3g", t->name, ex / nx);
        CHECK_MSG(ey / ny <= max_rel_rms(t->partner), "%s: activations rms rel err %.3g", t->name,
                  ey / ny);
        rows_free(&r);
    }
    free(x);
    free(y);
    free(xd);
    free(yd);
}

static void t_levels_tested(void) {
    char buf[128] = "scalar";
    for (int l = 1; l < NB_SIMD_COUNT; l++)
        if (levels_tested[l]) {
            strcat(buf, " ");
            strcat(buf, nb_simd_name(l));
        }
    printf("# dot products tested at levels: %s\n", buf);
#if !defined(NB_NO_SIMD) && (defined(__x86_64__) || defined(__aarch64__))
    CHECK_MSG(levels_tested[nb_simd_best()] || nb_simd_best() == NB_SIMD_SCALAR,
              "best level %s was not tested", nb_simd_name(nb_simd_best()));
#endif
}

int main(void) {
    (void)find_type;
    RUN(t_levels);
    RUN(t_random_f32);
    RUN(t_random_f16);
    RUN(t_random_bf16);
    RUN(t_random_q4_0);
    RUN(t_random_q4_1);
    RUN(t_random_q5_0);
    RUN(t_random_q5_1);
    RUN(t_random_q8_0);
    RUN(t_random_iq4_nl);
    RUN(t_random_q2_K);
    RUN(t_random_q3_K);
    RUN(t_random_q4_K);
    RUN(t_random_q5_K);
    RUN(t_random_q6_K);
    RUN(t_random_iq4_xs);
    RUN(t_exact_f32);
    RUN(t_exact_f16);
    RUN(t_exact_bf16);
    RUN(t_exact_q4_0);
    RUN(t_exact_q4_1);
    RUN(t_exact_q5_0);
    RUN(t_exact_q5_1);
    RUN(t_exact_q8_0);
    RUN(t_exact_iq4_nl);
    RUN(t_exact_q2_K);
    RUN(t_exact_q3_K);
    RUN(t_exact_q4_K);
    RUN(t_exact_q5_K);
    RUN(t_exact_q6_K);
    RUN(t_exact_iq4_xs);
    RUN(t_edges);
    RUN(t_dispatch);
    RUN(t_mn_tiles);
    RUN(t_act_quantizers);
    RUN(t_matches_llama_cpp);
    RUN(t_end_to_end);
    RUN(t_levels_tested);
    return nb_test_done();
}
