/*
 * nb-bench: throughput of nibble's kernels.
 *
 *   nb-bench --kernels [-t TYPES] [-r REPS]
 *
 * --kernels: for each weight type, on one thread, a 4096 x 4096 matrix of
 * random blocks (sane fp16 scales) times one activation row:
 *   dequantize  every row through the type table's to_float, into one
 *               reused row of floats;
 *   dot         every row against the activation row (the type's partner
 *               format) with nb_vec_dot_T at each SIMD level this CPU runs.
 * Both are reported in GB/s of weight bytes (bytes of the matrix / best
 * time of REPS runs), as a markdown table; "-" where the operation or the
 * level is not available.
 *
 * Exit status: 0 done, 1 out of memory, 2 bad command line.
 */
#define _POSIX_C_SOURCE 200809L
#include "nibble.h"
#include "common/tool.h"
#include "formats/dot.h"
#include "formats/formats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROWS 4096
#define COLS 4096

static void usage(FILE *f) {
    fprintf(f,
            "usage: nb-bench --kernels [-t TYPES] [-r REPS]\n"
            "Kernel throughput on one thread, 4096x4096 matrix times one vector:\n"
            "dequantize and dot product GB/s (of weight bytes) per type and SIMD level.\n"
            "  -t TYPES  comma-separated type names (default: all with a dot product),\n"
            "            e.g. -t q4_0,q4_K,f16\n"
            "  -r REPS   runs per measurement, the best is kept (default 5)\n"
            "  --help    show this help\n");
}


static uint64_t rng = 0x853c49e6748fea9bull;
static uint32_t rnd32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float rndf(void) { /* [-1, 1) */
    return (float)((int32_t)rnd32()) / 2147483648.0f;
}

/* The types benchmarked by default: those with a dot product. */
static const uint32_t ALL_TYPES[] = {
    NB_TYPE_F32,  NB_TYPE_F16,  NB_TYPE_BF16, NB_TYPE_Q4_0, NB_TYPE_Q4_1,
    NB_TYPE_Q5_0, NB_TYPE_Q5_1, NB_TYPE_Q8_0, NB_TYPE_IQ4_NL, NB_TYPE_Q2_K,
    NB_TYPE_Q3_K, NB_TYPE_Q4_K, NB_TYPE_Q5_K, NB_TYPE_Q6_K, NB_TYPE_IQ4_XS,
};
#define N_ALL (int)(sizeof ALL_TYPES / sizeof ALL_TYPES[0])

/* Byte offsets of the fp16 scale fields in a block (-1 ends the list). */
static void scale_offsets(uint32_t type, int off[3]) {
    off[0] = off[1] = off[2] = -1;
    switch (type) {
    case NB_TYPE_Q4_0: case NB_TYPE_Q5_0: case NB_TYPE_Q8_0: case NB_TYPE_IQ4_NL:
    case NB_TYPE_IQ4_XS: off[0] = 0; break;
    case NB_TYPE_Q4_1: case NB_TYPE_Q5_1: case NB_TYPE_Q4_K: case NB_TYPE_Q5_K:
        off[0] = 0;
        off[1] = 2;
        break;
    case NB_TYPE_Q2_K:
        off[0] = (int)offsetof(block_q2_K, d);
        off[1] = (int)offsetof(block_q2_K, dmin);
        break;
    case NB_TYPE_Q3_K: off[0] = (int)offsetof(block_q3_K, d); break;
    case NB_TYPE_Q6_K: off[0] = (int)offsetof(block_q6_K, d); break;
    default: break;
    }
}

/* Random weights: plain types get values in [-1, 1), block types random
 * bytes with their scales set to sane values (no NaN, no subnormals). */
static void fill_weights(uint32_t type, uint8_t *w, size_t bytes, size_t type_size) {
    if (type == NB_TYPE_F32) {
        float *f = (float *)w;
        for (size_t i = 0; i < bytes / 4; i++) f[i] = rndf();
        return;
    }
    if (type == NB_TYPE_F16 || type == NB_TYPE_BF16) {
        uint16_t *h = (uint16_t *)w;
        for (size_t i = 0; i < bytes / 2; i++)
            h[i] = type == NB_TYPE_F16 ? nb_f32_to_fp16(rndf()) : nb_f32_to_bf16(rndf());
        return;
    }
    for (size_t i = 0; i < bytes; i++) w[i] = (uint8_t)rnd32();
    int off[3];
    scale_offsets(type, off);
    for (size_t b = 0; b < bytes / type_size; b++)
        for (int k = 0; k < 3 && off[k] >= 0; k++) {
            uint16_t h = nb_f32_to_fp16(0.001f + 0.01f * (rndf() + 1.0f));
            memcpy(w + b * type_size + (size_t)off[k], &h, 2);
        }
}

/* One activation row of the partner type, from random floats. */
static int make_activations(uint32_t partner, void *y, int64_t n) {
    float *f = malloc(sizeof(float) * (size_t)n);
    if (!f) return -1;
    for (int64_t i = 0; i < n; i++) f[i] = rndf();
    switch (partner) {
    case NB_TYPE_F32: memcpy(y, f, sizeof(float) * (size_t)n); break;
    case NB_TYPE_F16: nb_from_float_f16(f, y, n); break;
    case NB_TYPE_BF16: nb_from_float_bf16(f, y, n); break;
    case NB_TYPE_Q8_0: nb_from_float_q8_0(f, y, n); break;
    case NB_TYPE_Q8_1: nb_from_float_q8_1(f, y, n); break;
    case NB_TYPE_Q8_K: nb_from_float_q8_K(f, y, n); break;
    default: free(f); return -1;
    }
    free(f);
    return 0;
}

static volatile float g_sink; /* keeps results alive */

typedef void (*deq_fn)(const void *, float *, int64_t);

/* The dequantizer: the type table's to_float, else nb_dequant_row_T. */
static deq_fn dequantizer(uint32_t type) {
    const nb_type_info *info = nb_type_get(type);
    if (info && info->to_float) return info->to_float;
    switch (type) {
    case NB_TYPE_F32: return nb_dequant_row_f32;
    case NB_TYPE_F16: return nb_dequant_row_f16;
    case NB_TYPE_BF16: return nb_dequant_row_bf16;
#define NB_BENCH_DEQ(ID, T) case ID: return nb_dequant_row_##T;
    NB_BENCH_DEQ(NB_TYPE_Q4_0, q4_0) NB_BENCH_DEQ(NB_TYPE_Q4_1, q4_1)
    NB_BENCH_DEQ(NB_TYPE_Q5_0, q5_0) NB_BENCH_DEQ(NB_TYPE_Q5_1, q5_1)
    NB_BENCH_DEQ(NB_TYPE_Q8_0, q8_0) NB_BENCH_DEQ(NB_TYPE_Q2_K, q2_K)
    NB_BENCH_DEQ(NB_TYPE_Q3_K, q3_K) NB_BENCH_DEQ(NB_TYPE_Q4_K, q4_K)
    NB_BENCH_DEQ(NB_TYPE_Q5_K, q5_K) NB_BENCH_DEQ(NB_TYPE_Q6_K, q6_K)
#undef NB_BENCH_DEQ
    case NB_TYPE_IQ4_NL: return nb_dequant_row_iq4_nl;
    case NB_TYPE_IQ4_XS: return nb_dequant_row_iq4_xs;
    default: return NULL;
    }
}

static double bench_dequant(deq_fn to_float, const uint8_t *w, size_t row_bytes, float *row,
                            int reps) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = nb_tool_now_s();
        float acc = 0;
        for (int i = 0; i < ROWS; i++) {
            to_float(w + (size_t)i * row_bytes, row, COLS);
            acc += row[i % COLS];
        }
        double t = nb_tool_now_s() - t0;
        g_sink = acc;
        if (t < best) best = t;
    }
    return best;
}

static double bench_dot(nb_vec_dot_fn dot, const uint8_t *w, size_t row_bytes, const void *y,
                        float *out, int reps) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = nb_tool_now_s();
        for (int i = 0; i < ROWS; i++) dot(COLS, &out[i], w + (size_t)i * row_bytes, y);
        double t = nb_tool_now_s() - t0;
        g_sink = out[r % ROWS];
        if (t < best) best = t;
    }
    return best;
}

static int parse_types(const char *list, uint32_t *types, int *n) {
    char buf[512];
    if (strlen(list) >= sizeof buf) return -1;
    strcpy(buf, list);
    *n = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int t = nb_type_from_name(tok);
        if (t < 0 || nb_vec_dot_partner((uint32_t)t) < 0) {
            fprintf(stderr, "nb-bench: no dot product for type '%s'\n", tok);
            return -1;
        }
        if (*n >= 64) return -1;
        types[(*n)++] = (uint32_t)t;
    }
    return *n > 0 ? 0 : -1;
}

static int run_kernels(const uint32_t *types, int ntypes, int reps) {
    int levels[NB_SIMD_COUNT], nlev = 0;
    for (int l = 0; l < NB_SIMD_COUNT; l++)
        if (nb_simd_available(l)) levels[nlev++] = l;

    printf("kernels: %d x %d matrix times a vector, 1 thread, best of %d; GB/s of weight bytes\n"
           "best SIMD level here: %s\n\n",
           ROWS, COLS, reps, nb_simd_name(nb_simd_best()));
    printf("| type | bits/weight | dequantize |");
    for (int k = 0; k < nlev; k++) printf(" dot %s |", nb_simd_name(levels[k]));
    printf("\n|---|---:|---:|");
    for (int k = 0; k < nlev; k++) printf("---:|");
    printf("\n");

    float *row = malloc(sizeof(float) * COLS);
    float *out = malloc(sizeof(float) * ROWS);
    if (!row || !out) {
        free(row);
        free(out);
        fprintf(stderr, "nb-bench: out of memory\n");
        return 1;
    }
    for (int ti = 0; ti < ntypes; ti++) {
        const uint32_t type = types[ti];
        const nb_type_info *info = nb_type_get(type);
        const int partner = nb_vec_dot_partner(type);
        const size_t row_bytes = nb_row_size(type, COLS);
        const size_t ybytes = nb_row_size((uint32_t)partner, COLS);
        uint8_t *w = malloc(row_bytes * ROWS);
        void *y = malloc(ybytes);
        if (!w || !y || make_activations((uint32_t)partner, y, COLS) != 0) {
            free(w);
            free(y);
            free(row);
            free(out);
            fprintf(stderr, "nb-bench: out of memory\n");
            return 1;
        }
        fill_weights(type, w, row_bytes * ROWS, info->type_size);
        const double gb = (double)(row_bytes * ROWS) / 1e9;

        printf("| %s | %.2f |", info->name, 8.0 * (double)row_bytes / COLS);
        deq_fn deq = dequantizer(type);
        if (deq) printf(" %.2f |", gb / bench_dequant(deq, w, row_bytes, row, reps));
        else printf(" - |");
        fflush(stdout);
        for (int k = 0; k < nlev; k++) {
            nb_vec_dot_fn f = nb_vec_dot_get(type, levels[k]);
            if (f) printf(" %.2f |", gb / bench_dot(f, w, row_bytes, y, out, reps));
            else printf(" - |");
            fflush(stdout);
        }
        printf("\n");
        free(w);
        free(y);
    }
    free(row);
    free(out);
    return 0;
}

int main(int argc, char **argv) {
    int kernels = 0, reps = 5, ntypes = 0;
    uint32_t types[64];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--kernels") == 0) {
            kernels = 1;
        } else if (strcmp(a, "-t") == 0 && i + 1 < argc) {
            if (parse_types(argv[++i], types, &ntypes) != 0) {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(a, "-r") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1000) {
                fprintf(stderr, "nb-bench: bad -r '%s' (1..1000)\n", argv[i]);
                return 2;
            }
            reps = (int)v;
        } else {
            fprintf(stderr, "nb-bench: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!kernels) {
        usage(stderr);
        return 2;
    }
    if (ntypes == 0) {
        for (int i = 0; i < N_ALL; i++) types[i] = ALL_TYPES[i];
        ntypes = N_ALL;
    }
    return run_kernels(types, ntypes, reps);
}
