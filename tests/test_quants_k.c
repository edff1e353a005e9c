/* K-quants (Q2_K..Q6_K, Q8_K): decoders bit for bit against ggml's output
 * in ../shared/reference/quants, Q8_K activation bytes identical to ggml's,
 * nibble's quantizer at least as accurate as ggml's reference quantizer on
 * the same input, and the quantizer's behaviour on awkward inputs. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "formats/formats.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* the spec decoders below must round like ggml's: no FMA contraction */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

typedef void (*dequant_fn)(const void *x, float *y, int64_t n);
typedef void (*quant_fn)(const float *x, void *y, int64_t n, const float *imatrix);

typedef struct ktype {
    const char *name;  /* file name part: cos.<name>.q */
    size_t type_size;
    dequant_fn deq;
    quant_fn quant;    /* NULL for Q8_K */
    double rel_bound;  /* round-trip RMSE bound / block max|x| on random data */
} ktype;

static const ktype types[] = {
    {"q2_K", sizeof(block_q2_K), nb_dequant_row_q2_K, nb_quantize_row_q2_K, 0.16},
    {"q3_K", sizeof(block_q3_K), nb_dequant_row_q3_K, nb_quantize_row_q3_K, 0.08},
    {"q4_K", sizeof(block_q4_K), nb_dequant_row_q4_K, nb_quantize_row_q4_K, 0.035},
    {"q5_K", sizeof(block_q5_K), nb_dequant_row_q5_K, nb_quantize_row_q5_K, 0.018},
    {"q6_K", sizeof(block_q6_K), nb_dequant_row_q6_K, nb_quantize_row_q6_K, 0.009},
    {"q8_K", sizeof(block_q8_K), nb_dequant_row_q8_K, NULL, 0},
};
#define N_TYPES (sizeof types / sizeof types[0])
#define N_QUANT 5 /* the first five have a quantizer */

/* ------------------------------------------------------------ helpers */

static void *read_ref(const char *name, size_t *size) {
    const char *dir = nb_test_shared_dir();
    if (!dir) return NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/reference/quants/%s", dir, name);
    return nb_test_read_file(path, size);
}

/* The cos0 input (4096 floats), or NULL with the test marked skipped. */
static float *load_cos0(size_t *n) {
    size_t size = 0;
    float *x = read_ref("cos0.f32", &size);
    if (!x) {
        nb_test_skip("../shared/reference/quants/cos0.f32 not available");
        return NULL;
    }
    *n = size / sizeof(float);
    return x;
}

static double rmse(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s / (double)n);
}

static int all_finite(const float *y, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(y[i])) return 0;
    return 1;
}

/* xorshift64* and Box-Muller: deterministic test data */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545f4914f6cdd1dull) >> 11) * (1.0 / 9007199254740992.0);
}
static float nrand(void) {
    double u = urand(), v = urand();
    if (u < 1e-300) u = 1e-300;
    return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

/* quantize then dequantize n values with type t */
static void round_trip(const ktype *t, const float *x, float *y, int64_t n, const float *imatrix) {
    uint8_t *q = malloc((size_t)(n / QK_K) * t->type_size);
    if (!q) abort();
    t->quant(x, q, n, imatrix);
    t->deq(q, y, n);
    free(q);
}

/* ------------------------------------------ (a) decoders bit for bit */

static void t_dequant_matches_ggml(void) {
    size_t n0 = 0;
    float *x0 = load_cos0(&n0); /* skips the test when the data is absent */
    if (!x0) return;
    free(x0);
    for (size_t k = 0; k < N_TYPES; k++) {
        const ktype *t = &types[k];
        char name[64];
        size_t qsize = 0, fsize = 0;
        snprintf(name, sizeof name, "cos.%s.q", t->name);
        uint8_t *q = read_ref(name, &qsize);
        snprintf(name, sizeof name, "cos.%s.deq.f32", t->name);
        float *ref = read_ref(name, &fsize);
        CHECK_MSG(q && ref, "%s: reference files missing", t->name);
        if (q && ref) {
            size_t n = fsize / sizeof(float);
            CHECK_MSG(qsize == n / QK_K * t->type_size, "%s: %zu bytes for %zu values", t->name,
                      qsize, n);
            float *y = malloc(n * sizeof(float));
            t->deq(q, y, (int64_t)n);
            size_t bad = 0, first = 0;
            for (size_t i = 0; i < n; i++)
                if (memcmp(&y[i], &ref[i], 4) != 0 && bad++ == 0) first = i;
            CHECK_MSG(bad == 0, "%s: %zu of %zu values differ, first at %zu: %.9g vs %.9g",
                      t->name, bad, n, first, y[first], ref[first]);
            free(y);
        }
        free(q);
        free(ref);
    }
}

/* Decoders written the way ggml's loops walk the blocks (running pointers,
 * shifts and masks) rather than by index arithmetic as in the library: on
 * random block bytes every bit of every field is exercised, which the cos
 * data cannot guarantee. */
static void spec_q2_K(const block_q2_K *x, float *y) {
    const float d = nb_fp16_to_f32(x->d), min = nb_fp16_to_f32(x->dmin);
    const uint8_t *q = x->qs;
    int is = 0;
    for (int n = 0; n < QK_K; n += 128) {
        for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 2; half++) {
                const uint8_t sc = x->scales[is++];
                const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                for (int l = 0; l < 16; l++) {
                    const float p = dl * ((q[l + 16 * half] >> shift) & 3);
                    *y++ = p - ml;
                }
            }
        }
        q += 32;
    }
}

static void spec_q3_K(const block_q3_K *x, float *y) {
    const float d = nb_fp16_to_f32(x->d);
    /* unpack the 12 scale bytes as four 32-bit words (little-endian) */
    uint32_t a[3], sc32[4];
    for (int k = 0; k < 3; k++)
        a[k] = (uint32_t)x->scales[4 * k] | (uint32_t)x->scales[4 * k + 1] << 8 |
               (uint32_t)x->scales[4 * k + 2] << 16 | (uint32_t)x->scales[4 * k + 3] << 24;
    sc32[0] = (a[0] & 0x0f0f0f0f) | ((a[2] & 0x03030303) << 4);
    sc32[1] = (a[1] & 0x0f0f0f0f) | (((a[2] >> 2) & 0x03030303) << 4);
    sc32[2] = ((a[0] >> 4) & 0x0f0f0f0f) | (((a[2] >> 4) & 0x03030303) << 4);
    sc32[3] = ((a[1] >> 4) & 0x0f0f0f0f) | (((a[2] >> 6) & 0x03030303) << 4);
    int scales[16];
    for (int j = 0; j < 16; j++) scales[j] = (int)((sc32[j / 4] >> (8 * (j % 4))) & 0xff) - 32;
    const uint8_t *q = x->qs;
    uint8_t m = 1;
    int is = 0;
    for (int n = 0; n < QK_K; n += 128) {
        for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 2; half++) {
                const float dl = d * scales[is++];
                for (int l = 16 * half; l < 16 * half + 16; l++)
                    *y++ = dl * (((q[l] >> shift) & 3) - ((x->hmask[l] & m) ? 0 : 4));
            }
            m = (uint8_t)(m << 1);
        }
        q += 32;
    }
}

static void spec_scale_min(int j, const uint8_t *q, int *d, int *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Q4_K (qh == NULL) and Q5_K */
static void spec_q45_K(nb_half hd, nb_half hmin, const uint8_t *scales, const uint8_t *qh,
                       const uint8_t *q, float *y) {
    const float d = nb_fp16_to_f32(hd), min = nb_fp16_to_f32(hmin);
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < QK_K; j += 64) {
        int sc, m;
        spec_scale_min(j / 32, scales, &sc, &m);
        const float d1 = d * sc, m1 = min * m;
        spec_scale_min(j / 32 + 1, scales, &sc, &m);
        const float d2 = d * sc, m2 = min * m;
        for (int l = 0; l < 32; l++) {
            const float p = d1 * ((q[l] & 0xF) + (qh && (qh[l] & u1) ? 16 : 0));
            *y++ = p - m1;
        }
        for (int l = 0; l < 32; l++) {
            const float p = d2 * ((q[l] >> 4) + (qh && (qh[l] & u2) ? 16 : 0));
            *y++ = p - m2;
        }
        q += 32;
        u1 = (uint8_t)(u1 << 2);
        u2 = (uint8_t)(u2 << 2);
    }
}

static void spec_q6_K(const block_q6_K *x, float *y) {
    const float d = nb_fp16_to_f32(x->d);
    const uint8_t *ql = x->ql, *qh = x->qh;
    const int8_t *sc = x->scales;
    for (int n = 0; n < QK_K; n += 128) {
        for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * sc[is] * q1;
            y[l + 32] = d * sc[is + 2] * q2;
            y[l + 64] = d * sc[is + 4] * q3;
            y[l + 96] = d * sc[is + 6] * q4;
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

static nb_half rand_half(void) {
    return nb_f32_to_fp16(nrand() * 0.05f);
}

static void t_dequant_random_blocks(void) {
    enum { NB = 32 };
    static uint8_t raw[NB * sizeof(block_q8_K)];
    static float y[NB * QK_K], ref[NB * QK_K];
    for (size_t k = 0; k < N_TYPES; k++) {
        const ktype *t = &types[k];
        for (size_t i = 0; i < sizeof raw; i++) raw[i] = (uint8_t)(urand() * 256);
        for (int b = 0; b < NB; b++) {
            uint8_t *blk = raw + (size_t)b * t->type_size;
            float *r = ref + b * QK_K;
            switch (k) {
            case 0: {
                block_q2_K *x = (block_q2_K *)blk;
                x->d = rand_half();
                x->dmin = rand_half();
                spec_q2_K(x, r);
                break;
            }
            case 1: {
                block_q3_K *x = (block_q3_K *)blk;
                x->d = rand_half();
                spec_q3_K(x, r);
                break;
            }
            case 2: {
                block_q4_K *x = (block_q4_K *)blk;
                x->d = rand_half();
                x->dmin = rand_half();
                spec_q45_K(x->d, x->dmin, x->scales, NULL, x->qs, r);
                break;
            }
            case 3: {
                block_q5_K *x = (block_q5_K *)blk;
                x->d = rand_half();
                x->dmin = rand_half();
                spec_q45_K(x->d, x->dmin, x->scales, x->qh, x->qs, r);
                break;
            }
            case 4: {
                block_q6_K *x = (block_q6_K *)blk;
                x->d = rand_half();
                spec_q6_K(x, r);
                break;
            }
            default: {
                block_q8_K *x = (block_q8_K *)blk;
                x->d = nrand();
                for (int l = 0; l < QK_K; l++) r[l] = x->d * x->qs[l];
                break;
            }
            }
        }
        t->deq(raw, y, NB * QK_K);
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < NB * QK_K; i++)
            if (memcmp(&y[i], &ref[i], 4) != 0 && bad++ == 0) first = i;
        CHECK_MSG(bad == 0, "%s: %zu values differ from the spec decoder, first at %zu: %.9g/%.9g",
                  t->name, bad, first, (double)y[first], (double)ref[first]);
    }
}

/* ------------------------------------------ (b) Q8_K bytes identical */

static void t_q8_K_from_float_matches_ggml(void) {
    size_t n = 0, qsize = 0;
    float *x = load_cos0(&n);
    if (!x) return;
    uint8_t *ref = read_ref("cos.q8_K.q", &qsize);
    CHECK_MSG(ref && qsize == n / QK_K * sizeof(block_q8_K), "cos.q8_K.q missing or wrong size");
    if (ref && qsize == n / QK_K * sizeof(block_q8_K)) {
        uint8_t *q = malloc(qsize);
        nb_from_float_q8_K(x, q, (int64_t)n);
        size_t first = 0;
        while (first < qsize && q[first] == ref[first]) first++;
        CHECK_MSG(first == qsize, "bytes differ from offset %zu (block %zu, byte %zu)", first,
                  first / sizeof(block_q8_K), first % sizeof(block_q8_K));
        free(q);
    }
    free(ref);
    free(x);
}

static void t_q8_K_edge_cases(void) {
    float x[2 * QK_K];
    block_q8_K b[2];
    memset(b, 0x55, sizeof b);
    for (int i = 0; i < QK_K; i++) x[i] = 0.0f;                   /* all zero */
    for (int i = 0; i < QK_K; i++) x[QK_K + i] = (float)(i - 100); /* max magnitude 155 */
    nb_from_float_q8_K(x, b, 2 * QK_K);
    CHECK(b[0].d == 0.0f);
    int zero = 1;
    for (int i = 0; i < QK_K; i++) zero &= b[0].qs[i] == 0;
    for (int j = 0; j < QK_K / 16; j++) zero &= b[0].bsums[j] == 0;
    CHECK_MSG(zero, "all-zero block must encode as zeros (bsums included)");
    /* the value of largest magnitude (+155) maps to -127 with d < 0 */
    CHECK(b[1].qs[QK_K - 1] == -127 && b[1].d < 0);
    for (int j = 0; j < QK_K / 16; j++) {
        int s = 0;
        for (int l = 0; l < 16; l++) s += b[1].qs[16 * j + l];
        CHECK_MSG(b[1].bsums[j] == s, "bsums[%d] = %d, sum %d", j, b[1].bsums[j], s);
    }
    float y[2 * QK_K];
    nb_dequant_row_q8_K(b, y, 2 * QK_K);
    for (int i = 0; i < 2 * QK_K; i++)
        CHECK_MSG(fabsf(y[i] - x[i]) <= 155.0f / 254 * 1.0001f, "value %d: %g vs %g", i,
                  (double)y[i], (double)x[i]);
}

/* ---------------------------------- (c) accuracy against ggml's quantizer */

static void t_rmse_vs_reference(void) {
    size_t n = 0;
    float *x = load_cos0(&n);
    if (!x) return;
    float *y = malloc(n * sizeof(float));
    printf("  type  rmse(nibble)  rmse(ggml ref)  ratio\n");
    for (size_t k = 0; k < N_QUANT; k++) {
        const ktype *t = &types[k];
        char name[64];
        size_t fsize = 0;
        snprintf(name, sizeof name, "cos.%s.deq.f32", t->name);
        float *ref = read_ref(name, &fsize);
        CHECK_MSG(ref && fsize == n * sizeof(float), "%s missing", name);
        if (!ref || fsize != n * sizeof(float)) {
            free(ref);
            continue;
        }
        round_trip(t, x, y, (int64_t)n, NULL);
        double ours = rmse(x, y, n), theirs = rmse(x, ref, n);
        printf("  %-5s %.9f   %.9f     %.4f\n", t->name, ours, theirs, ours / theirs);
        CHECK_MSG(ours <= theirs, "%s: rmse %.9f above the reference %.9f", t->name, ours, theirs);
        free(ref);
    }
    free(y);
    free(x);
}

/* ------------------------------------------- (d) awkward inputs */

/* Quantize rows of each kind and check: finite, RMSE per super-block within
 * rel_bound * max|x| of that block (plus an absolute floor for values fp16
 * cannot scale down to). */
static void check_input(const char *what, const float *x, int64_t n, double rel, double abs_floor) {
    float *y = malloc((size_t)n * sizeof(float));
    for (size_t k = 0; k < N_QUANT; k++) {
        const ktype *t = &types[k];
        round_trip(t, x, y, n, NULL);
        CHECK_MSG(all_finite(y, (size_t)n), "%s %s: non-finite output", t->name, what);
        for (int64_t b = 0; b < n / QK_K; b++) {
            float amax = 0;
            for (int i = 0; i < QK_K; i++) amax = fmaxf(amax, fabsf(x[b * QK_K + i]));
            double e = rmse(x + b * QK_K, y + b * QK_K, QK_K);
            double bound = rel * t->rel_bound * amax + abs_floor;
            CHECK_MSG(e <= bound, "%s %s block %lld: rmse %g > %g (max %g)", t->name, what,
                      (long long)b, e, bound, amax);
        }
    }
    free(y);
}

/* Values fp16 scales cannot reach: the output must still be finite. */
static void check_finite(const char *what, const float *x, int64_t n) {
    float *y = malloc((size_t)n * sizeof(float));
    for (size_t k = 0; k < N_QUANT; k++) {
        round_trip(&types[k], x, y, n, NULL);
        CHECK_MSG(all_finite(y, (size_t)n), "%s %s: non-finite output", types[k].name, what);
    }
    free(y);
}

static void t_quantize_random_rows(void) {
    static const int64_t sizes[] = {256, 512, 1024, 4096};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t n = sizes[s];
        float *x = malloc((size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++) x[i] = nrand();
        char what[64];
        snprintf(what, sizeof what, "normal n=%lld", (long long)n);
        check_input(what, x, n, 1.0, 0);
        free(x);
    }
}

static void t_quantize_awkward(void) {
    enum { N = 1024 };
    float x[N];
    /* outliers: one huge value per sub-block region */
    for (int i = 0; i < N; i++) x[i] = nrand() * 0.1f;
    for (int i = 0; i < N; i += 97) x[i] = (i & 1) ? 25.0f : -40.0f;
    check_input("outliers", x, N, 2.0, 0);
    for (int i = 0; i < N; i++) x[i] = 0.0f;
    check_input("zeros", x, N, 1.0, 0);
    for (int i = 0; i < N; i++) x[i] = 3.25f;
    check_input("constant", x, N, 1.0, 0);
    for (int i = 0; i < N; i++) x[i] = -0.7f;
    check_input("negative constant", x, N, 1.0, 0);
    for (int i = 0; i < N; i++) x[i] = -fabsf(nrand()) - 0.5f;
    check_input("all negative", x, N, 1.0, 0);
    for (int i = 0; i < N; i++) x[i] = fabsf(nrand()) + 2.0f;
    check_input("all positive", x, N, 1.0, 0);
    /* half the super-block zeros, half values */
    for (int i = 0; i < N; i++) x[i] = (i % 256) < 128 ? 0.0f : nrand();
    check_input("half zero", x, N, 1.0, 0);
    /* 1e-8: fp16 cannot scale that far down, the output may be all zero
     * but must be finite and no worse than zero */
    for (int i = 0; i < N; i++) x[i] = nrand() * 1e-8f;
    check_input("tiny", x, N, 0.0, 4e-8);
    for (int i = 0; i < N; i++) x[i] = nrand() * 1e4f;
    check_input("large", x, N, 1.0, 0);
    for (int i = 0; i < N; i++) x[i] = nrand() * 3e4f;
    check_input("very large", x, N, 1.0, 0);
    /* beyond what fp16 scales reach: clipped, but finite */
    for (int i = 0; i < N; i++) x[i] = nrand() * 1e30f;
    check_finite("huge", x, N);
    for (int i = 0; i < N; i++) x[i] = (i & 1) ? 3e38f : -3e38f;
    check_finite("float max", x, N);
}

static void t_quantize_deterministic(void) {
    enum { N = 2048 };
    float x[N];
    for (int i = 0; i < N; i++) x[i] = nrand();
    for (size_t k = 0; k < N_QUANT; k++) {
        const ktype *t = &types[k];
        size_t bytes = N / QK_K * t->type_size;
        uint8_t *a = malloc(bytes), *b = malloc(bytes);
        memset(a, 0x00, bytes);
        memset(b, 0xff, bytes); /* every byte must be written */
        t->quant(x, a, N, NULL);
        t->quant(x, b, N, NULL);
        CHECK_MSG(memcmp(a, b, bytes) == 0, "%s: two runs differ", t->name);
        /* a row is the concatenation of its super-blocks */
        t->quant(x + QK_K, b, QK_K, NULL);
        CHECK_MSG(memcmp(a + t->type_size, b, t->type_size) == 0, "%s: block depends on its row",
                  t->name);
        free(a);
        free(b);
    }
}

/* With an importance matrix emphasising some columns, the weighted error of
 * the imatrix-aware result is no worse than the plain quantizer's. */
static void t_quantize_imatrix(void) {
    enum { N = 4096 };
    static float x[N], im[N], y0[N], y1[N];
    for (int i = 0; i < N; i++) x[i] = nrand();
    for (int i = 0; i < N; i++) im[i] = (i % 7 == 0) ? 50.0f : (i % 3 == 0) ? 0.0f : 1.0f;
    for (size_t k = 0; k < N_QUANT; k++) {
        const ktype *t = &types[k];
        round_trip(t, x, y0, N, NULL);
        round_trip(t, x, y1, N, im);
        double e0 = 0, e1 = 0;
        for (int i = 0; i < N; i++) {
            e0 += im[i] * ((double)x[i] - y0[i]) * ((double)x[i] - y0[i]);
            e1 += im[i] * ((double)x[i] - y1[i]) * ((double)x[i] - y1[i]);
        }
        printf("  %-5s weighted error: plain %.6g, with imatrix %.6g\n", t->name, e0, e1);
        CHECK_MSG(e1 <= e0, "%s: imatrix-aware weighted error %g > plain %g", t->name, e1, e0);
        CHECK(all_finite(y1, N));
    }
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Throughput of each quantizer (informational): rows of 4096 normal
 * values, repeated for at least 0.1 s. */
static void t_quantize_speed(void) {
    enum { N = 16 * QK_K };
    static float x[N];
    static uint8_t q[N / QK_K * sizeof(block_q8_K)];
    for (int i = 0; i < N; i++) x[i] = nrand();
    for (size_t k = 0; k < N_QUANT; k++) {
        const ktype *t = &types[k];
        double t0 = now_s(), t1;
        long rows = 0;
        do {
            t->quant(x, q, N, NULL);
            rows++;
            t1 = now_s();
        } while (t1 - t0 < 0.1);
        printf("  %-5s %.2f M weights/s\n", t->name, (double)rows * N / (t1 - t0) * 1e-6);
    }
}

int main(void) {
    RUN(t_dequant_matches_ggml);
    RUN(t_dequant_random_blocks);
    RUN(t_q8_K_from_float_matches_ggml);
    RUN(t_q8_K_edge_cases);
    RUN(t_rmse_vs_reference);
    RUN(t_quantize_random_rows);
    RUN(t_quantize_awkward);
    RUN(t_quantize_deterministic);
    RUN(t_quantize_imatrix);
    RUN(t_quantize_speed);
    return nb_test_done();
}
