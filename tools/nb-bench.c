/*
 * nb-bench: throughput of nibble's kernels, of whole models, of memory.
 *
 *   nb-bench --kernels [-t TYPES] [-r REPS]
 *   nb-bench -m FILE [-m FILE ...] [-p N] [-n N] [-t THREADS] [-r REPS] [-o md|csv|json]
 *   nb-bench --membw [-t THREADS] [-r REPS]
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
 * -m (model mode, in the spirit of llama-bench): for each model and each
 * thread count of the comma-separated THREADS list, prompt processing (pp:
 * N random tokens in one nb_decode call, micro-batched) and text generation
 * (tg: N tokens one call each, from an empty context), after one warm-up;
 * each test REPS times, reported as tokens/s mean and standard deviation,
 * with the model size, load time (map + parse + bind; the weights are paged
 * in by the warm-up) and peak RSS of the process so far. -o json uses
 * llama-bench's field names where they exist (model_filename, model_size,
 * n_threads, n_prompt, n_gen, avg_ts, stddev_ts, samples_ts).
 *
 * --membw: streaming read bandwidth, summing a 1 GiB buffer of 64-bit words
 * (best of REPS), with each thread count of THREADS.
 *
 * Exit status: 0 done, 1 out of memory or unreadable model, 2 bad command line.
 */
#define _POSIX_C_SOURCE 200809L
#include "nibble.h"
#include "common/tool.h"
#include "formats/dot.h"
#include "formats/formats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define ROWS 4096
#define COLS 4096

static void usage(FILE *f) {
    fprintf(f,
            "usage: nb-bench --kernels [-t TYPES] [-r REPS]\n"
            "       nb-bench -m FILE [-m FILE ...] [-p N] [-n N] [-t THREADS] [-r REPS] [-o md|csv|json]\n"
            "       nb-bench --membw [-t THREADS] [-r REPS]\n"
            "--kernels: kernel throughput on one thread, 4096x4096 matrix times one vector:\n"
            "dequantize and dot product GB/s (of weight bytes) per type and SIMD level.\n"
            "  -t TYPES  comma-separated type names (default: all with a dot product),\n"
            "            e.g. -t q4_0,q4_K,f16\n"
            "  -r REPS   runs per measurement, the best is kept (default 5)\n"
            "-m: model speed, as llama-bench: prompt processing and text generation tok/s.\n"
            "  -p N      prompt tokens (default 512; 0: no pp test)\n"
            "  -n N      generated tokens (default 128; 0: no tg test)\n"
            "  -t LIST   comma-separated thread counts (default: OpenMP's default)\n"
            "  -r REPS   repetitions of each test, mean and stddev (default 5)\n"
            "  -ub N     tokens per micro-batch of the prompt (nb_ctx_params.n_batch;\n"
            "            default: the library's, 32), as llama-bench's -ub\n"
            "  -o FMT    md (default), csv or json\n"
            "--membw: streaming read bandwidth over 1 GiB, GB/s, per thread count.\n"
            "  --help    show this help\n");
}

static int32_t n_ubatch; /* -ub: 0 = the library's default */

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


/* ------------------------------------------------------------- models */

typedef struct {
    const char *path;
    double size, load_ms, rss_mib;
    int32_t n_threads, n_prompt, n_gen, reps;
    double avg_ts, stddev_ts, samples[100];
} bench_row;

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0; /* KiB on Linux */
}

static void mean_sd(const double *v, int n, double *mean, double *sd) {
    double s = 0, q = 0;
    for (int i = 0; i < n; i++) s += v[i];
    *mean = s / n;
    for (int i = 0; i < n; i++) q += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(q / (n - 1)) : 0.0;
}

/* One model at one thread count: the pp and/or tg rows. Returns the number
 * of rows written, -1 on error. */
static int bench_model(const char *path, int32_t n_threads, int32_t n_prompt, int32_t n_gen,
                       int reps, bench_row *rows) {
    nb_err err = {0};
    nb_file_map fm;
    nb_gguf g;
    nb_model *m = malloc(sizeof *m);
    double t0 = nb_tool_now_s();
    if (!m) return -1;
    if (nb_file_map_open(path, &fm, &err)) {
        fprintf(stderr, "nb-bench: %s: %s\n", path, err.msg);
        free(m);
        return -1;
    }
    if (nb_gguf_parse(fm.data, fm.size, &g, &err) || nb_model_load(&g, m, &err)) {
        fprintf(stderr, "nb-bench: %s: %s\n", path, err.msg);
        nb_file_map_close(&fm);
        free(m);
        return -1;
    }
    double load_ms = 1e3 * (nb_tool_now_s() - t0);
    int32_t n_ctx = n_prompt + n_gen > 0 ? n_prompt + n_gen : 1;
    nb_ctx_params cp = {.n_ctx = n_ctx, .n_threads = n_threads, .n_batch = n_ubatch};
    size_t sz = nb_ctx_size(m, &cp);
    void *mem = malloc(sz);
    int32_t n_tok = n_prompt > n_gen ? n_prompt : n_gen;
    int32_t *toks = malloc(((size_t)n_tok + 1) * sizeof *toks);
    float *logits = malloc((size_t)m->hp.n_vocab * sizeof *logits);
    nb_ctx *ctx = NULL;
    int n_rows = -1;
    if (!mem || !toks || !logits || nb_ctx_init(&ctx, m, &cp, mem, sz, &err)) {
        fprintf(stderr, "nb-bench: %s: %s\n", path, mem && toks && logits ? err.msg : "out of memory");
        goto done;
    }
    /* random tokens, as llama-bench (fixed seed: every run the same) */
    for (int32_t i = 0; i <= n_tok; i++) toks[i] = (int32_t)(rnd32() % (uint32_t)m->hp.n_vocab);
    /* warm-up: pages the weights in, starts OpenMP's threads */
    nb_ctx_reset(ctx);
    if (nb_decode(ctx, toks, n_prompt < 32 ? (n_prompt > 0 ? n_prompt : 1) : 32, logits, &err) ||
        nb_decode(ctx, toks, 1, logits, &err)) {
        fprintf(stderr, "nb-bench: %s: %s\n", path, err.msg);
        goto done;
    }
    n_rows = 0;
    for (int test = 0; test < 2; test++) {
        int32_t n = test == 0 ? n_prompt : n_gen;
        if (n <= 0) continue;
        bench_row *r = &rows[n_rows++];
        memset(r, 0, sizeof *r);
        r->path = path;
        r->size = (double)fm.size;
        r->load_ms = load_ms;
        r->n_threads = nb_ctx_threads(ctx);
        r->n_prompt = test == 0 ? n : 0;
        r->n_gen = test == 1 ? n : 0;
        r->reps = reps;
        for (int k = 0; k < reps; k++) {
            nb_ctx_reset(ctx);
            double t = nb_tool_now_s();
            nb_status st = NB_OK;
            if (test == 0)
                st = nb_decode(ctx, toks, n, logits, &err);
            else
                for (int32_t i = 0; i < n && !st; i++) st = nb_decode(ctx, &toks[i], 1, logits, &err);
            t = nb_tool_now_s() - t;
            if (st) {
                fprintf(stderr, "nb-bench: %s: %s\n", path, err.msg);
                n_rows = -1;
                goto done;
            }
            r->samples[k] = n / t;
        }
        mean_sd(r->samples, reps, &r->avg_ts, &r->stddev_ts);
        r->rss_mib = peak_rss_mib();
    }
done:
    free(logits);
    free(toks);
    free(mem);
    nb_gguf_free(&g);
    nb_file_map_close(&fm);
    free(m);
    return n_rows;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static void print_rows(const bench_row *rows, int n, const char *fmt) {
    if (!strcmp(fmt, "json")) {
        printf("[\n");
        for (int i = 0; i < n; i++) {
            const bench_row *r = &rows[i];
            printf("  {\"model_filename\": \"%s\", \"model_size\": %.0f, \"n_threads\": %d, "
                   "\"n_prompt\": %d, \"n_gen\": %d, \"avg_ts\": %.6f, \"stddev_ts\": %.6f, "
                   "\"samples_ts\": [",
                   r->path, r->size, r->n_threads, r->n_prompt, r->n_gen, r->avg_ts, r->stddev_ts);
            for (int k = 0; k < r->reps; k++) printf("%s%.6f", k ? ", " : "", r->samples[k]);
            printf("], \"load_ms\": %.3f, \"peak_rss_mib\": %.1f}%s\n", r->load_ms, r->rss_mib,
                   i + 1 < n ? "," : "");
        }
        printf("]\n");
    } else if (!strcmp(fmt, "csv")) {
        printf("model_filename,model_size,n_threads,n_prompt,n_gen,avg_ts,stddev_ts,load_ms,"
               "peak_rss_mib\n");
        for (int i = 0; i < n; i++) {
            const bench_row *r = &rows[i];
            printf("\"%s\",%.0f,%d,%d,%d,%.6f,%.6f,%.3f,%.1f\n", r->path, r->size, r->n_threads,
                   r->n_prompt, r->n_gen, r->avg_ts, r->stddev_ts, r->load_ms, r->rss_mib);
        }
    } else {
        printf("| model | size | threads | test | t/s | load ms | peak RSS |\n"
               "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for (int i = 0; i < n; i++) {
            const bench_row *r = &rows[i];
            char test[32];
            if (r->n_prompt)
                snprintf(test, sizeof test, "pp%d", r->n_prompt);
            else
                snprintf(test, sizeof test, "tg%d", r->n_gen);
            printf("| %s | %.2f MiB | %d | %s | %.2f ± %.2f | %.1f | %.1f MiB |\n",
                   base_name(r->path), r->size / 1048576.0, r->n_threads, test, r->avg_ts,
                   r->stddev_ts, r->load_ms, r->rss_mib);
        }
    }
}

/* "1,2,4" -> counts; 0 on success. */
static int parse_counts(const char *s, int32_t *out, int *n, int max) {
    *n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 256 || *n == max || (*end && *end != ',')) return -1;
        out[(*n)++] = (int32_t)v;
        s = *end ? end + 1 : end;
    }
    return *n ? 0 : -1;
}

/* ------------------------------------------------------------- memory */

/* Sum of a buffer of 64-bit words, split among n_threads (four independent
 * sums per thread so that the adds do not serialize). */
static uint64_t sum_words(const uint64_t *w, size_t n, int n_threads) {
    uint64_t total = 0;
    (void)n_threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(n_threads) reduction(+ : total)
#endif
    for (size_t i = 0; i < n; i += 4) total += w[i] + w[i + 1] + w[i + 2] + w[i + 3];
    return total;
}

static int run_membw(const int32_t *threads, int n_threads_list, int reps) {
    size_t bytes = (size_t)1 << 30, n = bytes / 8;
    uint64_t *w = malloc(bytes);
    if (!w) {
        fprintf(stderr, "nb-bench: cannot allocate 1 GiB\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) w[i] = i; /* touch every page */
    printf("| threads | read GB/s (best of %d) |\n| ---: | ---: |\n", reps);
    for (int k = 0; k < n_threads_list; k++) {
        double best = 0;
        uint64_t check = 0;
        for (int r = 0; r < reps; r++) {
            double t = nb_tool_now_s();
            check += sum_words(w, n, threads[k]);
            t = nb_tool_now_s() - t;
            if (bytes / t / 1e9 > best) best = bytes / t / 1e9;
        }
        printf("| %d | %.2f |%s\n", threads[k], best, check == 1 ? " " : ""); /* keep the sum live */
    }
    free(w);
    return 0;
}

int main(int argc, char **argv) {
    int kernels = 0, membw = 0, reps = -1, ntypes = 0, n_models = 0;
    int32_t n_prompt = 512, n_gen = 128;
    const char *t_arg = NULL, *fmt = "md", *models[16];
    uint32_t types[64];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--kernels") == 0) {
            kernels = 1;
        } else if (strcmp(a, "--membw") == 0) {
            membw = 1;
        } else if (strcmp(a, "-t") == 0 && i + 1 < argc) {
            t_arg = argv[++i]; /* types (--kernels) or thread counts */
        } else if (strcmp(a, "-m") == 0 && i + 1 < argc) {
            if (n_models == 16) {
                fprintf(stderr, "nb-bench: at most 16 models\n");
                return 2;
            }
            models[n_models++] = argv[++i];
        } else if (strcmp(a, "-o") == 0 && i + 1 < argc) {
            fmt = argv[++i];
            if (strcmp(fmt, "md") && strcmp(fmt, "csv") && strcmp(fmt, "json")) {
                fprintf(stderr, "nb-bench: bad -o '%s' (md, csv, json)\n", fmt);
                return 2;
            }
        } else if (strcmp(a, "-ub") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 4096) {
                fprintf(stderr, "nb-bench: bad -ub '%s' (1..4096)\n", argv[i]);
                return 2;
            }
            n_ubatch = (int32_t)v;
        } else if ((strcmp(a, "-r") == 0 || strcmp(a, "-p") == 0 || strcmp(a, "-n") == 0) &&
                   i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            long lo = a[1] == 'r' ? 1 : 0, hi = a[1] == 'r' ? 100 : 1 << 20;
            if (*end || v < lo || v > hi) {
                fprintf(stderr, "nb-bench: bad %s '%s' (%ld..%ld)\n", a, argv[i], lo, hi);
                return 2;
            }
            if (a[1] == 'r') reps = (int)v;
            else if (a[1] == 'p') n_prompt = (int32_t)v;
            else n_gen = (int32_t)v;
        } else {
            fprintf(stderr, "nb-bench: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (kernels + membw + (n_models > 0) != 1) {
        usage(stderr);
        return 2;
    }
    if (kernels) {
        if (t_arg && parse_types(t_arg, types, &ntypes) != 0) {
            usage(stderr);
            return 2;
        }
        if (ntypes == 0) {
            for (int i = 0; i < N_ALL; i++) types[i] = ALL_TYPES[i];
            ntypes = N_ALL;
        }
        return run_kernels(types, ntypes, reps > 0 ? reps : 5);
    }
    int32_t threads[64];
    int n_threads = 1;
    threads[0] = 0; /* OpenMP's default */
    if (t_arg && parse_counts(t_arg, threads, &n_threads, 64)) {
        fprintf(stderr, "nb-bench: bad -t '%s' (thread counts 1..256, comma-separated)\n", t_arg);
        return 2;
    }
    if (membw) {
#ifdef _OPENMP
        if (threads[0] == 0) threads[0] = omp_get_max_threads();
#else
        threads[0] = 1;
#endif
        return run_membw(threads, n_threads, reps > 0 ? reps : 5);
    }
    if (reps < 0) reps = 5;
    bench_row *rows = calloc((size_t)n_models * n_threads * 2, sizeof *rows);
    if (!rows) return 1;
    int n_rows = 0, rc = 0;
    for (int i = 0; i < n_models; i++)
        for (int k = 0; k < n_threads; k++) {
            int got = bench_model(models[i], threads[k], n_prompt, n_gen, reps, rows + n_rows);
            if (got < 0) rc = 1;
            else n_rows += got;
        }
    print_rows(rows, n_rows, fmt);
    free(rows);
    return rc;
}
