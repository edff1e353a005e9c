/* formats: the plain float types, the legacy block formats and IQ4_NL /
 * IQ4_XS. Dequantizers bit for bit against ggml's golden files, our
 * quantizers' error against ggml's (and on awkward inputs), activation
 * bytes against ggml's CPU from_float, and the f16 / bf16 row converters
 * over every 16-bit pattern. */
#include "harness.h"
#include "formats/formats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define COS_N 4096

typedef void (*deq_fn)(const void *, float *, int64_t);
typedef void (*quant_fn)(const float *, void *, int64_t, const float *);

typedef struct {
    const char *name;  /* as in the golden file names */
    int block;         /* values per block */
    int bytes;         /* bytes per block */
    deq_fn deq;
    quant_fn quant;
    int strict;        /* our RMSE must be strictly below ggml's */
    double rel_bound;  /* block RMS error <= rel_bound * block amax + ABS_SLACK */
} qtype;

static const qtype types[] = {
    {"f16", 1, 2, nb_dequant_row_f16, nb_quantize_row_f16, 0, 1.0 / 2048},
    {"bf16", 1, 2, nb_dequant_row_bf16, nb_quantize_row_bf16, 0, 1.0 / 256},
    {"q4_0", 32, 18, nb_dequant_row_q4_0, nb_quantize_row_q4_0, 1, 1.0 / 16},
    {"q4_1", 32, 20, nb_dequant_row_q4_1, nb_quantize_row_q4_1, 1, 2.0 / 30},
    {"q5_0", 32, 22, nb_dequant_row_q5_0, nb_quantize_row_q5_0, 1, 1.0 / 32},
    {"q5_1", 32, 24, nb_dequant_row_q5_1, nb_quantize_row_q5_1, 1, 2.0 / 62},
    {"q8_0", 32, 34, nb_dequant_row_q8_0, nb_quantize_row_q8_0, 1, 1.0 / 254},
    {"iq4_nl", 32, 18, nb_dequant_row_iq4_nl, nb_quantize_row_iq4_nl, 0, 12.0 / 113},
    {"iq4_xs", 256, 136, nb_dequant_row_iq4_xs, nb_quantize_row_iq4_xs, 0, 0.12},
};
#define N_TYPES (int)(sizeof types / sizeof types[0])

/* fp16 granularity near zero: a scale or offset cannot get finer */
#define ABS_SLACK 1.2e-7

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static void *read_ref(const char *file, size_t *size) {
    const char *dir = nb_test_shared_dir();
    char path[1024];
    if (!dir) return NULL;
    snprintf(path, sizeof path, "%s/reference/quants/%s", dir, file);
    return nb_test_read_file(path, size);
}

/* cos0.f32, or NULL (test skipped) when the shared folder is absent */
static float *load_cos0(void) {
    size_t size = 0;
    if (!nb_test_shared_dir()) {
        nb_test_skip("shared folder (../shared) not present");
        return NULL;
    }
    float *x = read_ref("cos0.f32", &size);
    if (!x || size != COS_N * sizeof(float)) {
        nb_test_fail(__FILE__, __LINE__, "cos0.f32 missing or of %zu bytes", size);
        free(x);
        return NULL;
    }
    return x;
}

static double rmse(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        s += d * d;
    }
    return sqrt(s / (double)n);
}

/* quantize then dequantize a row with one of our types */
static void round_trip(const qtype *t, const float *x, float *y, int64_t n, const float *imat) {
    void *q = malloc((size_t)(n / t->block) * (size_t)t->bytes);
    t->quant(x, q, n, imat);
    t->deq(q, y, n);
    free(q);
}

/* deterministic normal deviates (xorshift64 + Box-Muller) */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double rng_uniform(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static float rng_normal(void) {
    double u = rng_uniform(), v = rng_uniform();
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* ------------------------------------------------------ (a) dequantizers */

static void t_dequant_matches_ggml(void) {
    if (!nb_test_shared_dir()) {
        nb_test_skip("shared folder (../shared) not present");
        return;
    }
    for (int k = 0; k < N_TYPES; k++) {
        const qtype *t = &types[k];
        char qn[64], dn[64];
        size_t qsize = 0, dsize = 0;
        snprintf(qn, sizeof qn, "cos.%s.q", t->name);
        snprintf(dn, sizeof dn, "cos.%s.deq.f32", t->name);
        uint8_t *q = read_ref(qn, &qsize);
        float *ref = read_ref(dn, &dsize);
        CHECK_MSG(q && qsize == (size_t)COS_N / t->block * t->bytes, "%s: %zu bytes", qn, qsize);
        CHECK_MSG(ref && dsize == COS_N * sizeof(float), "%s: %zu bytes", dn, dsize);
        if (q && ref && qsize == (size_t)COS_N / t->block * t->bytes &&
            dsize == COS_N * sizeof(float)) {
            float *y = malloc(COS_N * sizeof(float));
            t->deq(q, y, COS_N);
            int bad = 0, first = -1;
            for (int i = 0; i < COS_N; i++)
                if (fbits(y[i]) != fbits(ref[i])) {
                    if (first < 0) first = i;
                    bad++;
                }
            CHECK_MSG(memcmp(y, ref, COS_N * sizeof(float)) == 0,
                      "%s: %d values differ from ggml (first at %d: %.9g vs %.9g)", t->name,
                      bad, first, first >= 0 ? y[first] : 0.0, first >= 0 ? ref[first] : 0.0);
            free(y);
        }
        free(q);
        free(ref);
    }
}

/* q8_1 has no ggml dequantizer: x = d*q by definition */
static void t_dequant_q8_1(void) {
    block_q8_1 b;
    float y[QK8_1];
    b.d = nb_f32_to_fp16(0.5f);
    b.s = 0;
    for (int j = 0; j < QK8_1; j++) b.qs[j] = (int8_t)(j * 8 - 128);
    nb_dequant_row_q8_1(&b, y, QK8_1);
    for (int j = 0; j < QK8_1; j++) CHECK(y[j] == 0.5f * (float)(j * 8 - 128));
}

/* ------------------------------------------------- (b) RMSE against ggml */

static void t_rmse_vs_ggml(void) {
    float *x = load_cos0();
    if (!x) return;
    float *y = malloc(COS_N * sizeof(float));
    printf("  %-7s %14s %14s %8s\n", "type", "nibble RMSE", "ggml RMSE", "ratio");
    for (int k = 0; k < N_TYPES; k++) {
        const qtype *t = &types[k];
        char dn[64];
        size_t dsize = 0;
        snprintf(dn, sizeof dn, "cos.%s.deq.f32", t->name);
        float *ref = read_ref(dn, &dsize);
        if (!ref || dsize != COS_N * sizeof(float)) {
            CHECK_MSG(0, "%s missing", dn);
            free(ref);
            continue;
        }
        round_trip(t, x, y, COS_N, NULL);
        double ours = rmse(x, y, COS_N), theirs = rmse(x, ref, COS_N);
        printf("  %-7s %14.9f %14.9f %8.4f\n", t->name, ours, theirs, ours / theirs);
        if (t->strict)
            CHECK_MSG(ours < theirs, "%s: RMSE %.9g not below ggml's %.9g", t->name, ours, theirs);
        else
            CHECK_MSG(ours <= theirs, "%s: RMSE %.9g above ggml's %.9g", t->name, ours, theirs);
        free(ref);
    }
    free(x);
    free(y);
}

/* -------------------------------------------- (c) other inputs, imatrix */

/* The scale searches of Q4_0, Q5_0, Q8_0 and IQ4_NL claim the exact best
 * fp16 scale of a span around amax/(largest level): check against brute
 * force over every fp16 value of a narrower span inside it. */
static double block_sq_error(const float *x, const float *y, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    return s;
}

static double brute_best(const float *x, const int8_t *lv, int nlv, int first, double dlo,
                         double dhi) {
    double best = block_sq_error(x, (const float[32]){0}, 32);
    for (int sign = 0; sign < 2; sign++)
        for (uint32_t h = 1; h < 0x7c00; h++) {
            const float d = nb_fp16_to_f32((uint16_t)(h | (sign ? 0x8000u : 0)));
            if (fabsf(d) < dlo || fabsf(d) > dhi) continue;
            double e = 0;
            for (int j = 0; j < 32; j++) {
                double bj = INFINITY;
                for (int k = 0; k < nlv; k++) {
                    const float v = d * (float)(lv ? lv[k] : first + k);
                    const double dd = (double)x[j] - v;
                    if (dd * dd < bj) bj = dd * dd;
                }
                e += bj;
            }
            if (e < best) best = e;
        }
    return best;
}

static void t_scale_search_is_exhaustive(void) {
    float x[32], y[32];
    uint8_t q[64];
    int worse = 0;
    for (int blk = 0; blk < 12; blk++) {
        for (int j = 0; j < 32; j++) x[j] = rng_normal() * (blk % 3 == 2 && j == 5 ? 6.0f : 1.0f);
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        struct { const qtype *t; const int8_t *lv; int nlv, first; double lo, hi; } c[4] = {
            {&types[2], NULL, 16, -8, amax / 9.0, amax / 6.0},
            {&types[4], NULL, 32, -16, amax / 17.0, amax / 13.0},
            {&types[6], NULL, 255, -127, amax / 128.0, amax / 124.0},
            {&types[7], nb_kvalues_iq4nl, 16, 0, amax / 140.0, amax / 100.0},
        };
        for (int k = 0; k < 4; k++) {
            c[k].t->quant(x, q, 32, NULL);
            c[k].t->deq(q, y, 32);
            const double ours = block_sq_error(x, y, 32);
            const double brute = brute_best(x, c[k].lv, c[k].nlv, c[k].first, c[k].lo, c[k].hi);
            if (!(ours <= brute * (1 + 1e-9))) {
                worse++;
                CHECK_MSG(0, "%s block %d: error %.12g above brute force %.12g", c[k].t->name, blk,
                          ours, brute);
            }
        }
    }
    CHECK(worse == 0);
}

/* The max-scaled baselines (ggml's reference quantizers, recomputed here
 * as decoded values) on random rows: ours must do better. */
static double baseline_rmse(const char *type, const float *x, int n) {
    double s = 0;
    for (int b = 0; b < n / 32; b++) {
        const float *xb = x + 32 * b;
        float amax = 0, mx = 0, lo = xb[0], hi = xb[0];
        for (int j = 0; j < 32; j++) {
            if (fabsf(xb[j]) > amax) { amax = fabsf(xb[j]); mx = xb[j]; }
            lo = fminf(lo, xb[j]);
            hi = fmaxf(hi, xb[j]);
        }
        const int affine = type[3] == '1', bits = type[1] - '0';
        const int qmax = affine ? (1 << bits) - 1 : (bits == 8 ? 127 : (1 << (bits - 1)) - 1);
        const int qmin = affine ? 0 : (bits == 8 ? -127 : -(1 << (bits - 1)));
        float d = affine ? (hi - lo) / (float)qmax : bits == 8 ? amax / 127 : mx / (float)qmin;
        d = nb_fp16_to_f32(nb_f32_to_fp16(d));
        const float m = affine ? nb_fp16_to_f32(nb_f32_to_fp16(lo)) : 0.0f;
        for (int j = 0; j < 32; j++) {
            float t = d != 0 ? roundf((xb[j] - m) / d) : 0.0f;
            t = fminf(fmaxf(t, (float)qmin), (float)qmax);
            const double e = (double)xb[j] - (double)(t * d + m);
            s += e * e;
        }
    }
    return sqrt(s / n);
}

static void t_beats_max_scaling(void) {
    enum { N = 4096 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    for (int dist = 0; dist < 2; dist++) {
        for (int i = 0; i < N; i++) {
            const double u = rng_uniform();
            x[i] = dist ? (float)(u < 0.5 ? log(2 * u) : -log(2 - 2 * u)) : rng_normal();
        }
        for (int k = 2; k <= 6; k++) {
            round_trip(&types[k], x, y, N, NULL);
            const double ours = rmse(x, y, N), base = baseline_rmse(types[k].name, x, N);
            printf("  %-7s %s row: RMSE %.6f vs max-scaled %.6f (%.3f)\n", types[k].name,
                   dist ? "laplace" : "normal ", ours, base, ours / base);
            CHECK_MSG(ours < base, "%s: %g not below the baseline %g", types[k].name, ours, base);
        }
    }
    free(x);
    free(y);
}


enum { ROW_N = 1024, N_KINDS = 7 };
static const char *kind_name[N_KINDS] = {"normal", "outliers", "zeros",  "constant",
                                         "tiny",   "large",    "skewed"};

static void make_row(int kind, float *x, int n) {
    for (int i = 0; i < n; i++) {
        float v = rng_normal();
        switch (kind) {
        case 0: x[i] = v; break;
        case 1: x[i] = (i % 37 == 5) ? 40.0f * v : v; break;
        case 2: x[i] = 0.0f; break;
        case 3: x[i] = (i / 256) % 2 ? -0.3f : 1.7f; break;
        case 4: x[i] = 1e-8f * v; break;
        case 5: x[i] = 1e4f * v; break;
        default: x[i] = 3.0f + 0.1f * v; break; /* far from zero: an offset matters */
        }
    }
}

static void t_round_trip_inputs(void) {
    float *x = malloc(ROW_N * sizeof(float)), *y = malloc(ROW_N * sizeof(float));
    for (int kind = 0; kind < N_KINDS; kind++) {
        make_row(kind, x, ROW_N);
        for (int k = 0; k < N_TYPES; k++) {
            const qtype *t = &types[k];
            round_trip(t, x, y, ROW_N, NULL);
            int finite = 1;
            for (int i = 0; i < ROW_N; i++) finite &= isfinite(y[i]) != 0;
            CHECK_MSG(finite, "%s on %s: NaN/Inf in output", t->name, kind_name[kind]);
            if (kind == 2)
                for (int i = 0; i < ROW_N; i++)
                    CHECK_MSG(y[i] == 0.0f, "%s: zeros decode to %g", t->name, y[i]);
            /* error per group of 32 (per value for plain types), relative to the
             * group's (super-block's for IQ4_XS) largest magnitude */
            const int g = t->block == 1 ? 1 : 32, span = t->block == 1 ? 1 : t->block;
            for (int b = 0; b < ROW_N / g; b++) {
                double amax = 0, e2 = 0;
                for (int i = (b * g / span) * span; i < (b * g / span + 1) * span; i++)
                    amax = fmax(amax, fabs((double)x[i]));
                for (int i = b * g; i < (b + 1) * g; i++)
                    e2 += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
                double rms = sqrt(e2 / g), bound = t->rel_bound * amax + ABS_SLACK;
                if (t->block == 1) bound = t->rel_bound * amax + 3e-8; /* half subnormals */
                if (!(rms <= bound)) {
                    CHECK_MSG(0, "%s on %s, group %d: RMS error %g > bound %g (amax %g)",
                              t->name, kind_name[kind], b, rms, bound, amax);
                    break;
                }
            }
        }
    }
    free(x);
    free(y);
}

/* magnitudes far beyond fp16: block scales saturate, nothing overflows */
static void t_huge_values_stay_finite(void) {
    float x[512], y[512];
    for (int i = 0; i < 512; i++)
        x[i] = (i % 3 == 0 ? 1.0e38f : 1.0e6f) * fmaxf(-3.0f, fminf(3.0f, rng_normal()));
    x[7] = 3.4e38f;
    x[9] = -3.4e38f;
    for (int pass = 0; pass < 2; pass++) {
        if (pass) { /* not a promised input, but infinities must not leak through */
            x[100] = INFINITY;
            x[300] = -INFINITY;
        }
        for (int k = 2; k < N_TYPES; k++) { /* f16/bf16 overflow to inf by definition */
            round_trip(&types[k], x, y, 512, NULL);
            int finite = 1;
            for (int i = 0; i < 512; i++) finite &= isfinite(y[i]) != 0;
            CHECK_MSG(finite, "%s: non-finite output for huge input%s", types[k].name,
                      pass ? " with infinities" : "");
        }
    }
    /* and values that straddle the subnormal fp16 scales */
    for (int i = 0; i < 512; i++) x[i] = 1e-6f * rng_normal();
    for (int k = 2; k < N_TYPES; k++) {
        round_trip(&types[k], x, y, 512, NULL);
        CHECK_MSG(rmse(x, y, 512) < 1e-6, "%s: tiny row error %g", types[k].name,
                  rmse(x, y, 512));
    }
}

static void t_quantizer_deterministic(void) {
    float x[512];
    uint8_t a[512 * 4], b[512 * 4];
    for (int i = 0; i < 512; i++) x[i] = rng_normal();
    for (int k = 0; k < N_TYPES; k++) {
        const qtype *t = &types[k];
        size_t bytes = (size_t)(512 / t->block) * t->bytes;
        memset(a, 0xaa, sizeof a);
        memset(b, 0x55, sizeof b);
        t->quant(x, a, 512, NULL);
        t->quant(x, b, 512, NULL);
        CHECK_MSG(memcmp(a, b, bytes) == 0, "%s: two runs differ", t->name);
        /* every byte of the row written (no garbage from the fill) */
        t->quant(x, b, 512, NULL);
        memset(a, 0x55, sizeof a);
        t->quant(x, a, 512, NULL);
        CHECK_MSG(memcmp(a, b, bytes) == 0, "%s: output depends on prior contents", t->name);
    }
}

static double weighted_error(const float *x, const float *y, const float *w, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)w[i] * ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    return s;
}

static void t_imatrix_helps(void) {
    enum { N = 2048 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    float *w = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) {
        x[i] = rng_normal();
        w[i] = (float)(0.05 + rng_uniform());
        if (i % 11 == 3 || i % 29 == 0) w[i] *= 100.0f; /* emphasized columns */
    }
    for (int k = 2; k < N_TYPES; k++) {
        const qtype *t = &types[k];
        round_trip(t, x, y, N, NULL);
        double plain = weighted_error(x, y, w, N);
        round_trip(t, x, y, N, w);
        double aware = weighted_error(x, y, w, N);
        printf("  %-7s weighted error: uniform %.6g, imatrix-aware %.6g\n", t->name, plain,
               aware);
        CHECK_MSG(aware <= plain, "%s: imatrix-aware %g > plain %g", t->name, aware, plain);
        CHECK_MSG(aware < plain, "%s: the importance weights changed nothing", t->name);
    }
    /* all-zero weights: falls back to plain RMSE, still a sane result */
    for (int i = 0; i < N; i++) w[i] = 0.0f;
    for (int k = 2; k < N_TYPES; k++) {
        round_trip(&types[k], x, y, N, w);
        CHECK_MSG(rmse(x, y, N) < 0.2, "%s: zero imatrix gives RMSE %g", types[k].name,
                  rmse(x, y, N));
    }
    free(x);
    free(y);
    free(w);
}

/* ----------------------------------------------- (d) activation formats */

/* ggml's portable quantize_row_q8_0_ref, which wrote cos.q8_0.q: 1/d and
 * roundf (half away from zero) where the CPU path uses 127/amax and
 * round-half-even */
static void ref_q8_0(const float *x, block_q8_0 *y, int nb) {
    for (int i = 0; i < nb; i++, x += 32) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = nb_f32_to_fp16(d);
        for (int j = 0; j < 32; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

static void t_act_q8_1_matches_ggml(void) {
    float *x = load_cos0();
    if (!x) return;
    size_t size = 0;
    uint8_t *ref = read_ref("cos.q8_1.q", &size);
    CHECK_MSG(ref && size == COS_N / 32 * sizeof(block_q8_1), "cos.q8_1.q: %zu bytes", size);
    if (ref && size == COS_N / 32 * sizeof(block_q8_1)) {
        block_q8_1 y[COS_N / 32];
        nb_from_float_q8_1(x, y, COS_N);
        int diff = 0;
        for (size_t i = 0; i < size; i++) diff += ((uint8_t *)y)[i] != ref[i];
        printf("  q8_1 from_float: %d of %zu bytes differ from cos.q8_1.q\n", diff, size);
        CHECK_MSG(diff == 0, "q8_1: %d bytes differ", diff);
    }
    free(ref);
    free(x);
}

static void t_act_q8_0_vs_ggml(void) {
    float *x = load_cos0();
    if (!x) return;
    size_t size = 0;
    uint8_t *ref = read_ref("cos.q8_0.q", &size);
    CHECK_MSG(ref && size == COS_N / 32 * sizeof(block_q8_0), "cos.q8_0.q: %zu bytes", size);
    if (ref && size == COS_N / 32 * sizeof(block_q8_0)) {
        block_q8_0 ours[COS_N / 32], portable[COS_N / 32];
        nb_from_float_q8_0(x, ours, COS_N);
        ref_q8_0(x, portable, COS_N / 32);
        /* the file is the portable reference, byte for byte */
        CHECK_MSG(memcmp(portable, ref, size) == 0, "cos.q8_0.q is not quantize_row_q8_0_ref");
        int diff = 0, unexplained = 0;
        for (int b = 0; b < COS_N / 32; b++) {
            CHECK(ours[b].d == portable[b].d); /* d = amax/127 in both */
            for (int j = 0; j < 32; j++) {
                if (ours[b].qs[j] == ((const block_q8_0 *)ref)[b].qs[j]) continue;
                diff++;
                /* a difference must come from the multiplier 127/amax vs 1/d
                 * or from a tie: both values within one step, near a half */
                const float v = x[b * 32 + j];
                float amax = 0;
                for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[b * 32 + i]));
                const float t_cpu = v * (127.0f / amax), t_ref = v * (1.0f / (amax / 127.0f));
                if (abs(ours[b].qs[j] - ((const block_q8_0 *)ref)[b].qs[j]) != 1 ||
                    fabsf(fabsf(t_cpu - truncf(t_cpu)) - 0.5f) > 1e-4f ||
                    fabsf(fabsf(t_ref - truncf(t_ref)) - 0.5f) > 1e-4f)
                    unexplained++;
            }
        }
        printf("  q8_0 from_float (AVX2 path) vs cos.q8_0.q (roundf reference): %d of %zu "
               "bytes differ, %d unexplained\n",
               diff, size, unexplained);
        CHECK_MSG(unexplained == 0, "q8_0: %d differing quants are not rounding ties", unexplained);
    }
    free(ref);
    free(x);
}

/* the CPU path's rounding on exact ties, its multiplier, and edge blocks */
static void t_act_q8_rounding(void) {
    float x[32];
    block_q8_0 y0;
    block_q8_1 y1;
    /* amax = 127: the multiplier is exactly 1, x*id = x */
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16) + 0.5f;
    x[31] = 127.0f;
    nb_from_float_q8_0(x, &y0, 32);
    nb_from_float_q8_1(x, &y1, 32);
    int sum = 0;
    for (int j = 0; j < 31; j++) {
        const float r = (float)(j - 16) + 0.5f;
        const float even = fmodf(floorf(r), 2.0f) == 0.0f ? floorf(r) : floorf(r) + 1.0f;
        CHECK_MSG(y0.qs[j] == (int8_t)even, "x=%g -> %d, want %g", r, y0.qs[j], even);
        CHECK(y1.qs[j] == y0.qs[j]);
        sum += y1.qs[j];
    }
    sum += y1.qs[31];
    CHECK(y0.qs[31] == 127);
    CHECK(y0.d == nb_f32_to_fp16(1.0f));
    CHECK(y1.s == nb_f32_to_fp16((float)sum));
    /* all zeros: d = 0, q = 0, s = 0 */
    memset(x, 0, sizeof x);
    nb_from_float_q8_1(x, &y1, 32);
    CHECK(y1.d == 0 && y1.s == 0);
    for (int j = 0; j < 32; j++) CHECK(y1.qs[j] == 0);
    /* negative maximum: q = -127 exactly */
    for (int j = 0; j < 32; j++) x[j] = 0.01f * (float)j;
    x[3] = -5.0f;
    nb_from_float_q8_0(x, &y0, 32);
    CHECK(y0.qs[3] == -127);
}

static void t_act_plain_match_ggml(void) {
    float *x = load_cos0();
    if (!x) return;
    const char *files[2] = {"cos.f16.q", "cos.bf16.q"};
    for (int k = 0; k < 2; k++) {
        size_t size = 0;
        uint8_t *ref = read_ref(files[k], &size);
        uint16_t y[COS_N];
        CHECK_MSG(ref && size == sizeof y, "%s: %zu bytes", files[k], size);
        if (ref && size == sizeof y) {
            (k ? nb_from_float_bf16 : nb_from_float_f16)(x, y, COS_N);
            CHECK_MSG(memcmp(y, ref, size) == 0, "%s: from_float bytes differ", files[k]);
        }
        free(ref);
    }
    float z[COS_N];
    nb_from_float_f32(x, z, COS_N);
    CHECK(memcmp(z, x, sizeof z) == 0);
    free(x);
}

/* --------------------------------------------------- (e) row converters */

static void t_half_rows_all_values(void) {
    uint16_t *h = malloc(65536 * 2), *back = malloc(65536 * 2);
    float *f = malloc(65536 * sizeof(float));
    for (uint32_t i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    for (int bf = 0; bf < 2; bf++) {
        (bf ? nb_bf16_to_f32_row : nb_f16_to_f32_row)(h, f, 65536);
        (bf ? nb_f32_to_bf16_row : nb_f32_to_f16_row)(f, back, 65536);
        int bad = 0;
        for (uint32_t i = 0; i < 65536; i++) {
            const int exp_all = bf ? ((i >> 7) & 0xff) == 0xff : ((i >> 10) & 0x1f) == 0x1f;
            const int man = bf ? (i & 0x7f) : (i & 0x3ff);
            if (exp_all && man) { /* NaN stays NaN (quieted), sign kept */
                bad += !isnan(f[i]) || !(((back[i] >> (bf ? 7 : 10)) & (bf ? 0xff : 0x1f)) ==
                                          (bf ? 0xffu : 0x1fu) && (back[i] & (bf ? 0x7f : 0x3ff)));
                bad += (back[i] & 0x8000) != (i & 0x8000);
            } else if (exp_all) { /* infinity */
                bad += !isinf(f[i]) || back[i] != i;
            } else {
                bad += back[i] != i;
            }
        }
        CHECK_MSG(bad == 0, "%s: %d of 65536 values do not survive the round trip",
                  bf ? "bf16" : "f16", bad);
    }
    free(h);
    free(back);
    free(f);
}

/* f32 -> f16 / bf16 on exact midpoints between neighbours: to the even one;
 * one f32 ulp either side: to the nearer one */
static void t_half_rows_midpoints(void) {
    enum { M = 3 * 0x7bff };
    float *x = malloc(M * sizeof(float));
    uint16_t *y = malloc(M * 2);
    int bad = 0;
    for (uint32_t h = 0; h < 0x7bff; h++) { /* f16: finite positive pairs h, h+1 */
        float lo = nb_fp16_to_f32((uint16_t)h), hi = nb_fp16_to_f32((uint16_t)(h + 1));
        float mid = (float)(((double)lo + (double)hi) / 2); /* exact in f32 */
        x[3 * h] = mid;
        x[3 * h + 1] = nextafterf(mid, 0.0f);
        x[3 * h + 2] = nextafterf(mid, INFINITY);
    }
    nb_f32_to_f16_row(x, y, M);
    for (uint32_t h = 0; h < 0x7bff; h++) {
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        bad += y[3 * h] != even || y[3 * h + 1] != h || y[3 * h + 2] != h + 1;
    }
    /* negative side, and the overflow threshold 65520 (midpoint to 2^16) */
    float neg = -x[3 * 100], top[3] = {65519.996f, 65520.0f, -65520.0f};
    uint16_t yn, yt[3];
    nb_f32_to_f16_row(&neg, &yn, 1);
    bad += yn != (0x8000 | 100);
    nb_f32_to_f16_row(top, yt, 3);
    bad += yt[0] != 0x7bff || yt[1] != 0x7c00 || yt[2] != 0xfc00;
    CHECK_MSG(bad == 0, "f16 midpoint rounding: %d wrong", bad);

    bad = 0; /* bf16: midpoints are f32 bits (b << 16) | 0x8000 */
    for (uint32_t b = 0; b < 0x7f7f; b += 7) {
        float f[3] = {from_bits((b << 16) | 0x8000), from_bits((b << 16) | 0x7fff),
                      from_bits((b << 16) | 0x8001)};
        uint16_t r[3];
        nb_f32_to_bf16_row(f, r, 3);
        uint16_t even = (b & 1) ? (uint16_t)(b + 1) : (uint16_t)b;
        bad += r[0] != even || r[1] != b || r[2] != b + 1;
    }
    CHECK_MSG(bad == 0, "bf16 midpoint rounding: %d wrong", bad);
    free(x);
    free(y);
}

int main(void) {
    RUN(t_dequant_matches_ggml);
    RUN(t_dequant_q8_1);
    RUN(t_rmse_vs_ggml);
    RUN(t_scale_search_is_exhaustive);
    RUN(t_beats_max_scaling);
    RUN(t_round_trip_inputs);
    RUN(t_huge_values_stay_finite);
    RUN(t_quantizer_deterministic);
    RUN(t_imatrix_helps);
    RUN(t_act_q8_1_matches_ggml);
    RUN(t_act_q8_0_vs_ggml);
    RUN(t_act_q8_rounding);
    RUN(t_act_plain_match_ggml);
    RUN(t_half_rows_all_values);
    RUN(t_half_rows_midpoints);
    return nb_test_done();
}
