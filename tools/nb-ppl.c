/* nb-ppl: perplexity of a model over a text file, as llama.cpp's
 * llama-perplexity computes it; with --kld-base, also the KL divergence of
 * the model's token distributions from a base model's.
 *
 *   nb-ppl -m model.gguf -f text.txt -c 128
 *   nb-ppl -m model-Q4_0.gguf --kld-base model-F32.gguf -f text.txt -c 128
 *
 * The text is tokenized once (BOS as the vocabulary says) and cut into
 * chunks of ctx tokens; the first token of each chunk becomes BOS. Each
 * chunk runs in a fresh context, and only the second half is scored: the
 * logits at positions ctx/2 .. ctx-2 predict the tokens after them. */
#define _POSIX_C_SOURCE 200809L
#include "nibble.h"
#include "common/tool.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: nb-ppl -m MODEL.gguf -f TEXT [options]\n"
            "  -c N                 tokens per chunk (default 512); the second half of each is scored\n"
            "  --chunks N           evaluate at most N chunks (default: all; N <= 0 = all)\n"
            "  --kld-base BASE.gguf also run BASE over the same chunks and report the KL divergence\n"
            "                       of MODEL from BASE (same vocabulary size; MODEL's tokenizer)\n"
            "  --f32                float path (dequantize weights, F32 activations and KV cache)\n"
            "  --kv-f32             F32 KV cache (default F16, as llama.cpp)\n"
            "  -t N                 threads (default: OpenMP's, e.g. OMP_NUM_THREADS; 1 without OpenMP)\n"
            "  -h, --help           this help\n");
}


static int parse_num(const char *flag, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || d < lo || d > hi || d != floor(d)) {
        fprintf(stderr, "nb-ppl: %s: invalid value '%s' (expected an integer %.0f..%.0f)\n", flag, v,
                lo, hi);
        return -1;
    }
    *out = d;
    return 0;
}


/* A mapped, parsed and bound model. */
typedef struct loaded {
    nb_file_map fm;
    nb_gguf g;
    nb_model m;
    int stage;              /* 1: mapped, 2: parsed */
} loaded;

static int load_model(const char *path, loaded *l) {
    nb_err err = {0};
    l->stage = 0;
    if (nb_file_map_open(path, &l->fm, &err)) goto fail;
    l->stage = 1;
    if (nb_gguf_parse(l->fm.data, l->fm.size, &l->g, &err)) goto fail;
    l->stage = 2;
    if (nb_model_load(&l->g, &l->m, &err)) goto fail;
    return 0;
fail:
    fprintf(stderr, "nb-ppl: %s: %s\n", path, err.msg);
    return -1;
}

static void unload_model(loaded *l) {
    if (l->stage >= 2) nb_gguf_free(&l->g);
    if (l->stage >= 1) nb_file_map_close(&l->fm);
    l->stage = 0;
}

/* log-softmax of n logits into lp (double, max subtracted first); returns
 * the argmax (lowest id on ties). */
static int32_t log_softmax(const float *logits, int32_t n, double *lp) {
    int32_t best = 0;
    for (int32_t v = 1; v < n; v++)
        if (logits[v] > logits[best]) best = v;
    double mx = logits[best], sum = 0;
    for (int32_t v = 0; v < n; v++) sum += exp((double)logits[v] - mx);
    double lz = mx + log(sum);
    for (int32_t v = 0; v < n; v++) lp[v] = (double)logits[v] - lz;
    return best;
}

/* Running sums of x and x^2: mean and standard error of the mean. */
typedef struct stat2 {
    double s, s2;
} stat2;

static void stat_add(stat2 *st, double x) {
    st->s += x;
    st->s2 += x * x;
}
static double stat_mean(const stat2 *st, double n) {
    return st->s / n;
}
static double stat_err(const stat2 *st, double n) {
    double m = st->s / n, var = st->s2 / n - m * m;
    return n > 1 && var > 0 ? sqrt(var / (n - 1)) : 0.0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Linear interpolation between the sorted values around fraction f. */
static double percentile(const double *sorted, size_t n, double f) {
    double p = f * (double)(n - 1);
    size_t i = (size_t)p;
    if (i + 1 >= n) return sorted[n - 1];
    return sorted[i] + (p - (double)i) * (sorted[i + 1] - sorted[i]);
}

/* Scored positions per nb_decode_all call: the logits of PIECE positions
 * (PIECE * n_vocab floats per model) are kept at once. */
#define PIECE 32

static size_t align16(size_t n) {
    return (n + 15) & ~(size_t)15;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *text_path = NULL, *base_path = NULL;
    int32_t n_ctx = 512;
    long max_chunks = 0;
    nb_ctx_params cp = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        double d;
#define NEED_VALUE()                                                          \
    if (i + 1 >= argc) {                                                      \
        fprintf(stderr, "nb-ppl: option '%s' needs a value\n", a);            \
        usage(stderr);                                                        \
        return 2;                                                             \
    }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--f32")) { cp.float_path = 1; cp.kv_f32 = 1; }
        else if (!strcmp(a, "--kv-f32")) cp.kv_f32 = 1;
        else if (!strcmp(a, "-m")) { NEED_VALUE(); model_path = argv[++i]; }
        else if (!strcmp(a, "-f")) { NEED_VALUE(); text_path = argv[++i]; }
        else if (!strcmp(a, "--kld-base")) { NEED_VALUE(); base_path = argv[++i]; }
        else if (!strcmp(a, "-c")) { NEED_VALUE(); if (parse_num(a, argv[++i], 3, 1 << 20, &d)) return 2; n_ctx = (int32_t)d; }
        else if (!strcmp(a, "--chunks")) { NEED_VALUE(); if (parse_num(a, argv[++i], -1e9, 1e9, &d)) return 2; max_chunks = (long)d; }
        else if (!strcmp(a, "-t")) { NEED_VALUE(); if (parse_num(a, argv[++i], 1, 256, &d)) return 2; cp.n_threads = (int32_t)d; }
        else {
            fprintf(stderr, "nb-ppl: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
#undef NEED_VALUE
    }
    if (!model_path || !text_path) {
        fprintf(stderr, "nb-ppl: need -m MODEL and -f TEXT\n");
        usage(stderr);
        return 2;
    }

    int rc = 1;
    double t0 = nb_tool_now_s();
    nb_err err = {0};
    loaded *lm = calloc(1, sizeof *lm), *lb = base_path ? calloc(1, sizeof *lb) : NULL;
    nb_tokenizer tok;
    int have_tok = 0;
    char *text = NULL;
    int32_t *ids = NULL;
    void *mem = NULL;
    double *kl_vals = NULL;
    if (!lm || (base_path && !lb)) { fprintf(stderr, "nb-ppl: out of memory\n"); goto done; }
    if (load_model(model_path, lm)) goto done;
    if (nb_tokenizer_load(&lm->g, &tok, NULL, &err)) {
        fprintf(stderr, "nb-ppl: %s: %s\n", model_path, err.msg);
        goto done;
    }
    have_tok = 1;
    const int32_t n_vocab = lm->m.hp.n_vocab;
    if (lb) {
        if (load_model(base_path, lb)) goto done;
        if (lb->m.hp.n_vocab != n_vocab) {
            fprintf(stderr, "nb-ppl: %s has %d vocabulary entries but %s has %d: the KL "
                    "divergence needs the same vocabulary\n",
                    base_path, lb->m.hp.n_vocab, model_path, n_vocab);
            goto done;
        }
    }
    if (n_ctx > lm->m.hp.n_ctx_train)
        fprintf(stderr, "nb-ppl: note: context %d exceeds the %d tokens the model was trained on\n",
                n_ctx, lm->m.hp.n_ctx_train);

    /* tokenize: at most one token per byte, plus a space prefix, BOS, EOS */
    double t1 = nb_tool_now_s(), t_load = t1 - t0;
    size_t text_len = 0;
    text = nb_tool_read_file(text_path, &text_len);
    if (!text) {
        fprintf(stderr, "nb-ppl: cannot read text file '%s': %s\n", text_path, strerror(errno));
        goto done;
    }
    if (text_len > (size_t)INT32_MAX - 8) {
        fprintf(stderr, "nb-ppl: %s: text of %zu bytes is too long\n", text_path, text_len);
        goto done;
    }
    int32_t cap = (int32_t)text_len + 4, n_tokens = 0;
    ids = malloc((size_t)cap * sizeof *ids);
    nb_status s = ids ? nb_tokenize(&tok, text, text_len, 1, 0, ids, cap, &n_tokens, &err)
                      : NB_ERR_NOMEM;
    if (s == NB_ERR_RANGE) { /* cannot happen by the bound above; be safe */
        int32_t *bigger = realloc(ids, (size_t)n_tokens * sizeof *ids);
        if (!bigger) s = NB_ERR_NOMEM;
        else {
            ids = bigger;
            s = nb_tokenize(&tok, text, text_len, 1, 0, ids, n_tokens, &n_tokens, &err);
        }
    }
    if (s) {
        fprintf(stderr, "nb-ppl: tokenize %s: %s\n", text_path,
                s == NB_ERR_NOMEM ? "out of memory" : err.msg);
        goto done;
    }
    double t_tok = nb_tool_now_s() - t1;
    if (n_tokens < n_ctx) {
        fprintf(stderr, "nb-ppl: %s has %d tokens; you need at least %d tokens to evaluate "
                "perplexity with a context of %d\n", text_path, n_tokens, n_ctx, n_ctx);
        goto done;
    }

    /* one block: the context(s), then PIECE logits rows per model and two
     * n_vocab log-probability rows */
    cp.n_ctx = n_ctx;
    size_t sz_m = align16(nb_ctx_size(&lm->m, &cp));
    size_t sz_b = lb ? align16(nb_ctx_size(&lb->m, &cp)) : 0;
    size_t sz_rows = 2 * align16((size_t)PIECE * n_vocab * sizeof(float)) +
                     2 * align16((size_t)n_vocab * sizeof(double));
    size_t total = sz_m + sz_b + sz_rows + 16;
    mem = malloc(total);
    if (!mem) {
        fprintf(stderr, "nb-ppl: cannot allocate %zu bytes for a context of %d\n", total, n_ctx);
        goto done;
    }
    uint8_t *p = (uint8_t *)mem + ((16 - ((uintptr_t)mem & 15)) & 15);
    nb_ctx *ctx_m, *ctx_b = NULL;
    if (nb_ctx_init(&ctx_m, &lm->m, &cp, p, sz_m, &err) ||
        (lb && nb_ctx_init(&ctx_b, &lb->m, &cp, p + sz_m, sz_b, &err))) {
        fprintf(stderr, "nb-ppl: %s\n", err.msg);
        goto done;
    }
    p += sz_m + sz_b;
    float *logits_m = (float *)p;
    p += align16((size_t)PIECE * n_vocab * sizeof(float));
    float *logits_b = (float *)p;
    p += align16((size_t)PIECE * n_vocab * sizeof(float));
    double *lp_m = (double *)p;
    p += align16((size_t)n_vocab * sizeof(double));
    double *lp_b = (double *)p;

    long n_chunk = n_tokens / n_ctx;
    if (max_chunks > 0 && max_chunks < n_chunk) n_chunk = max_chunks;
    const int32_t first = n_ctx / 2, per_chunk = n_ctx - 1 - first;
    const int add_bos = tok.add_bos && tok.bos_id >= 0;
    if (lb) {
        kl_vals = malloc((size_t)n_chunk * per_chunk * sizeof *kl_vals);
        if (!kl_vals) { fprintf(stderr, "nb-ppl: out of memory\n"); goto done; }
    }
    fprintf(stderr, "nb-ppl: %d tokens; %ld chunks of %d, %d scored each; %s path, KV %s%s\n",
            n_tokens, n_chunk, n_ctx, per_chunk, cp.float_path ? "float" : "fast",
            cp.kv_f32 || cp.float_path ? "F32" : "F16", lb ? "; with base model" : "");

    /* evaluate */
    stat2 nll = {0}, nll_b = {0}, dnll = {0}, kl = {0};
    double kl_max = 0, n_same = 0, count = 0;
    size_t n_kl = 0;
    double t2 = nb_tool_now_s();
    for (long c = 0; c < n_chunk; c++) {
        int32_t *chunk = ids + (size_t)c * n_ctx;
        int32_t saved = chunk[0];
        if (add_bos) chunk[0] = tok.bos_id;
        nb_ctx_reset(ctx_m);
        if (ctx_b) nb_ctx_reset(ctx_b);
        /* the unscored first half in one call, no logits; then the scored
         * positions PIECE at a time with the logits of each; token n_ctx-1
         * is only predicted, never run */
        if (nb_decode(ctx_m, chunk, first, NULL, &err) ||
            (ctx_b && nb_decode(ctx_b, chunk, first, NULL, &err))) {
            fprintf(stderr, "\nnb-ppl: chunk %ld: %s\n", c + 1, err.msg);
            chunk[0] = saved;
            goto done;
        }
        for (int32_t j = first; j < n_ctx - 1; j++) {
            int32_t k = (j - first) % PIECE; /* row of position j */
            if (k == 0) {
                int32_t n = n_ctx - 1 - j < PIECE ? n_ctx - 1 - j : PIECE;
                if (nb_decode_all(ctx_m, &chunk[j], n, logits_m, &err) ||
                    (ctx_b && nb_decode_all(ctx_b, &chunk[j], n, logits_b, &err))) {
                    fprintf(stderr, "\nnb-ppl: chunk %ld, position %d: %s\n", c + 1, j, err.msg);
                    chunk[0] = saved;
                    goto done;
                }
            }
            int32_t next = chunk[j + 1];
            int32_t top_m = log_softmax(logits_m + (size_t)k * n_vocab, n_vocab, lp_m);
            stat_add(&nll, -lp_m[next]);
            if (ctx_b) {
                int32_t top_b = log_softmax(logits_b + (size_t)k * n_vocab, n_vocab, lp_b);
                double d = 0;
                for (int32_t v = 0; v < n_vocab; v++) d += exp(lp_b[v]) * (lp_b[v] - lp_m[v]);
                stat_add(&kl, d);
                kl_vals[n_kl++] = d;
                if (d > kl_max) kl_max = d;
                n_same += top_m == top_b;
                stat_add(&nll_b, -lp_b[next]);
                stat_add(&dnll, lp_b[next] - lp_m[next]);
            }
            count++;
        }
        chunk[0] = saved;
        fprintf(stderr, "[%ld]%.4f,", c + 1, exp(stat_mean(&nll, count)));
        fflush(stderr);
    }
    double t_eval = nb_tool_now_s() - t2;
    fprintf(stderr, "\n");

    /* report (llama.cpp's formulas) */
    double ppl = exp(stat_mean(&nll, count));
    printf("tokens: %.0f scored in %ld chunks of %d\n", count, n_chunk, n_ctx);
    printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, stat_err(&nll, count) * ppl);
    if (lb) {
        qsort(kl_vals, n_kl, sizeof *kl_vals, cmp_double);
        double ppl_b = exp(stat_mean(&nll_b, count)), f = n_same / count;
        double e_m = stat_err(&nll, count) * ppl, e_b = stat_err(&nll_b, count) * ppl_b;
        /* covariance of the two mean log-perplexities, from the variance of
         * their difference */
        double e_d = stat_err(&dnll, count), e_lm = stat_err(&nll, count),
               e_lb = stat_err(&nll_b, count);
        double cov = 0.5 * (e_lm * e_lm + e_lb * e_lb - e_d * e_d);
        double var_dppl = e_m * e_m + e_b * e_b - 2 * cov * ppl * ppl_b;
        printf("\nKL divergence vs %s over %.0f tokens\n", base_path, count);
        printf("Mean KLD: %.6f +/- %.6f\n", stat_mean(&kl, count), stat_err(&kl, count));
        printf("Maximum KLD: %.6f\n", kl_max);
        printf("99.0%% KLD: %.6f\n", percentile(kl_vals, n_kl, 0.99));
        printf("Median KLD: %.6f\n", percentile(kl_vals, n_kl, 0.5));
        printf("Same top p: %.3f +/- %.3f %%\n", 100 * f,
               count > 1 ? 100 * sqrt(f * (1 - f) / (count - 1)) : 0.0);
        printf("PPL(base): %.4f +/- %.5f\n", ppl_b, e_b);
        printf("PPL(Q): %.4f +/- %.5f\n", ppl, e_m);
        printf("Mean ln(PPL(Q)/PPL(base)): %.6f +/- %.6f\n", stat_mean(&dnll, count), e_d);
        printf("Mean PPL(Q)-PPL(base): %.6f +/- %.6f\n", ppl - ppl_b,
               var_dppl > 0 ? sqrt(var_dppl) : 0.0);
    }
    fflush(stdout);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double decoded = (double)n_chunk * (n_ctx - 1) * (lb ? 2 : 1);
    fprintf(stderr,
            "nb-ppl: load %.1f ms | tokenize %d tokens in %.1f ms | decoded %.0f tokens in %.2f s, "
            "%.1f tok/s%s | peak RSS %.1f MiB\n",
            1e3 * t_load, n_tokens, 1e3 * t_tok, decoded, t_eval,
            t_eval > 0 ? decoded / t_eval : 0.0, lb ? " (both models)" : "", ru.ru_maxrss / 1024.0);
    rc = 0;
done:
    free(kl_vals);
    free(ids);
    free(text);
    free(mem);
    if (have_tok) nb_tokenizer_free(&tok);
    if (lb) unload_model(lb);
    if (lm) unload_model(lm);
    free(lb);
    free(lm);
    return rc;
}
