/* See support_reference.h. */
#include "support_reference.h"

#include "harness.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t n_tokens, n_vocab;
    int32_t *tokens;
    float *logits;
    void *buf;
} nblg;

static int read_nblg(const char *path, nblg *r) {
    size_t n;
    uint8_t *b = nb_test_read_file(path, &n);
    if (!b || n < 16 || memcmp(b, "NBLG", 4)) { free(b); return -1; }
    uint32_t h[3];
    memcpy(h, b + 4, 12);
    r->n_tokens = (int32_t)h[1];
    r->n_vocab = (int32_t)h[2];
    if (n != 16 + 4 * (size_t)r->n_tokens + 4 * (size_t)r->n_tokens * r->n_vocab) { free(b); return -1; }
    r->tokens = (int32_t *)(b + 16);
    r->logits = (float *)(b + 16 + 4 * (size_t)r->n_tokens);
    r->buf = b;
    return 0;
}

static int read_list(const char *path, double *v, int max) {
    size_t n;
    char *t = nb_test_read_file(path, &n);
    if (!t) return -1;
    t[n] = 0;
    int k = 0;
    char *p = t, *e;
    while (k < max) {
        double d = strtod(p, &e);
        if (e == p) break;
        v[k++] = d;
        p = e;
    }
    free(t);
    return k;
}

nb_ref_result nb_ref_check_dir(const char *model_path, const char *ref_dir, double tol,
                               double min_margin, nb_ctx_params cp, const char *label) {
    nb_ref_result res = {0};
    char path[1024];
    nb_err err = {0};
    nb_file_map fm;
    nb_gguf g;
    nb_model *m = malloc(sizeof *m);
    nblg ref = {0};
    snprintf(path, sizeof path, "%s/prompt1.logits.bin", ref_dir);
    CHECK_MSG(read_nblg(path, &ref) == 0, "cannot read %s", path);
    if (nb_test_failed()) { free(m); return res; }
    CHECK_OK(nb_file_map_open(model_path, &fm, &err), err);
    if (nb_test_failed()) { free(m); free(ref.buf); return res; }
    CHECK_OK(nb_gguf_parse(fm.data, fm.size, &g, &err), err);
    CHECK_OK(nb_model_load(&g, m, &err), err);
    if (nb_test_failed()) { free(m); free(ref.buf); nb_file_map_close(&fm); return res; }
    res.n_tokens = ref.n_tokens < 64 ? ref.n_tokens : 64;
    memcpy(res.tokens, ref.tokens, (size_t)res.n_tokens * sizeof(int32_t));
    size_t sz = nb_ctx_size(m, &cp);
    void *arena = malloc(sz);
    nb_ctx *ctx;
    CHECK_OK(nb_ctx_init(&ctx, m, &cp, arena, sz, &err), err);
    float *logits = malloc((size_t)m->hp.n_vocab * sizeof(float));
    double max_err = 0;
    CHECK(ref.n_vocab == m->hp.n_vocab);
    for (int32_t i = 0; i < ref.n_tokens && !nb_test_failed(); i++) {
        CHECK_OK(nb_decode(ctx, &ref.tokens[i], 1, logits, &err), err);
        for (int32_t j = 0; j < ref.n_vocab; j++) {
            double d = fabs((double)logits[j] - ref.logits[(size_t)i * ref.n_vocab + j]);
            if (!(d <= max_err)) max_err = isnan(d) ? INFINITY : d; /* NaN fails */
        }
    }
    CHECK_MSG(max_err <= tol, "%s: max |logit - ref| %.3g > %.3g", label, max_err, tol);
    /* greedy continuation */
    double want[64], margin[64];
    snprintf(path, sizeof path, "%s/prompt1.greedy64.txt", ref_dir);
    int n_want = read_list(path, want, 64);
    snprintf(path, sizeof path, "%s/prompt1.greedy64.margins.txt", ref_dir);
    int n_margin = read_list(path, margin, 64);
    CHECK(n_want == 64 && n_margin == 64);
    int matched = 0, comparable = 0;
    for (int step = 0; step < n_want && step < n_margin && !nb_test_failed(); step++) {
        if (margin[step] < min_margin) break;
        comparable++;
        int32_t best = 0;
        for (int32_t j = 1; j < m->hp.n_vocab; j++)
            if (logits[j] > logits[best]) best = j;
        if (best != (int32_t)want[step]) break;
        matched++;
        CHECK_OK(nb_decode(ctx, &best, 1, logits, &err), err);
    }
    CHECK_MSG(matched == comparable, "%s: greedy tokens matched %d of %d", label, matched, comparable);
    printf("  %-30s max err %.2e  tol %.1e  greedy %2d/%2d\n", label, max_err, tol, matched,
           comparable);
    res.ran = 1;
    res.max_err = max_err;
    res.matched = matched;
    res.comparable = comparable;
    free(logits);
    free(arena);
    nb_gguf_free(&g);
    nb_file_map_close(&fm);
    free(ref.buf);
    free(m);
    return res;
}

double nb_ref_gap(const char *sh, const char *model, const char *type, const char *variant) {
    char path[512];
    snprintf(path, sizeof path, "%s/reference/compare.tsv", sh);
    size_t n;
    char *t = nb_test_read_file(path, &n);
    if (!t) return -1;
    t[n] = 0;
    double gap = -1;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        char m[64], ty[64], var[64];
        double d;
        if (sscanf(line, "%63s %63s %63s %*d %lf", m, ty, var, &d) == 4 && !strcmp(m, model) &&
            !strcmp(ty, type) && (!variant || !strcmp(var, variant))) {
            gap = d;
            break;
        }
    }
    free(t);
    return gap;
}

int nb_ref_list_dirs(const char *dir, const char *suffix, char names[][64], int max) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) && n < max) {
        size_t L = strlen(e->d_name), S = suffix ? strlen(suffix) : 0;
        if (e->d_name[0] == '.' || L >= 64) continue;
        if (suffix ? (L > S && strcmp(e->d_name + L - S, suffix) == 0) : !strchr(e->d_name, '-'))
            snprintf(names[n++], 64, "%.63s", e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    return n;
}
