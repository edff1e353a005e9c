/* Llama forward pass against llama.cpp's logits (../shared/reference).
 * Float path: stories260K/F32-kvf32 and every <TYPE>-deqf32 (llama.cpp in
 * plain F32), within 1e-4. Fast path: every native <TYPE> directory, within
 * the reference's own native-vs-deqf32 gap (compare.tsv). */
#include "harness.h"
#include "formats/dot.h" /* which dot-product kernels run */

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

/* Run one reference directory: logits at every prompt position (token by
 * token) within tol, then greedy tokens up to the first small margin. */
static void check_dir(const char *model_path, const char *ref_dir, double tol, double min_margin,
                      nb_ctx_params cp, const char *label) {
    char path[1024];
    nb_err err = {0};
    nb_file_map fm;
    nb_gguf g;
    nb_model *m = malloc(sizeof *m);
    nblg ref = {0};
    snprintf(path, sizeof path, "%s/prompt1.logits.bin", ref_dir);
    CHECK_MSG(read_nblg(path, &ref) == 0, "cannot read %s", path);
    if (nb_test_failed()) { free(m); return; }
    CHECK_OK(nb_file_map_open(model_path, &fm, &err), err);
    if (nb_test_failed()) { free(m); free(ref.buf); return; }
    CHECK_OK(nb_gguf_parse(fm.data, fm.size, &g, &err), err);
    CHECK_OK(nb_model_load(&g, m, &err), err);
    if (nb_test_failed()) { free(m); free(ref.buf); nb_file_map_close(&fm); return; }
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
            if (d > max_err) max_err = d;
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
    printf("  %-26s max err %.2e  greedy %2d/%2d\n", label, max_err, matched, comparable);
    free(logits);
    free(arena);
    nb_gguf_free(&g);
    nb_file_map_close(&fm);
    free(ref.buf);
    free(m);
}

static const nb_ctx_params float_params = {.n_ctx = 256, .kv_f32 = 1, .float_path = 1};

static void t_stories_f32(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char model[512], ref[512];
    snprintf(model, sizeof model, "%s/models/tinystories/stories260K.gguf", sh);
    snprintf(ref, sizeof ref, "%s/reference/stories260K/F32-kvf32", sh);
    check_dir(model, ref, 1e-4, 1e-3, float_params, "stories260K F32-kvf32");
}

static void t_deqf32_all(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    const char *models[] = {"stories260K", "synth-llama"};
    int n_dirs = 0;
    for (int mi = 0; mi < 2; mi++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/reference/%s", sh, models[mi]);
        DIR *d = opendir(dir);
        CHECK_MSG(d, "cannot open %s", dir);
        if (!d) continue;
        struct dirent *e;
        char names[64][64];
        int n = 0;
        while ((e = readdir(d)) && n < 64) {
            size_t L = strlen(e->d_name);
            if (L > 7 && strcmp(e->d_name + L - 7, "-deqf32") == 0 && L < 64)
                snprintf(names[n++], 64, "%.63s", e->d_name);
        }
        closedir(d);
        qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
        for (int i = 0; i < n; i++) {
            char model[1024], ref[1024], label[128];
            snprintf(model, sizeof model, "%s/%.*s/model.gguf", dir, (int)strlen(names[i]) - 7, names[i]);
            snprintf(ref, sizeof ref, "%s/%s", dir, names[i]);
            snprintf(label, sizeof label, "%s %s", models[mi], names[i]);
            check_dir(model, ref, 1e-4, 1e-3, float_params, label);
            n_dirs++;
        }
    }
    CHECK_MSG(n_dirs >= 24, "only %d -deqf32 directories found", n_dirs);
}

/* The gap column of compare.tsv for model/type (deqf32 or kvf32 row). */
static double ref_gap(const char *sh, const char *model, const char *type) {
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
            !strcmp(ty, type)) {
            gap = d;
            break;
        }
    }
    free(t);
    return gap;
}

static void t_fast_native(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    /* The reference ran ggml's x86 AVX kernels; ours for AVX2/AVX-512 sum in
     * the same order. The scalar and NEON kernels sum in another order, and
     * with an F16 KV cache a last-bit difference can flip a later F16
     * rounding, so against x86 data they get twice the reference's gap. */
    int level = nb_simd_current();
    double factor = (level == NB_SIMD_AVX2 || level == NB_SIMD_AVX512) ? 1.0 : 2.0;
    printf("  kernels: %s, tolerance %.0fx the reference gap\n", nb_simd_name(level), factor);
    const char *models[] = {"stories260K", "synth-llama"};
    int n_dirs = 0;
    for (int mi = 0; mi < 2; mi++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/reference/%s", sh, models[mi]);
        DIR *d = opendir(dir);
        CHECK_MSG(d, "cannot open %s", dir);
        if (!d) continue;
        struct dirent *e;
        char names[64][64];
        int n = 0;
        while ((e = readdir(d)) && n < 64)
            if (e->d_name[0] != '.' && !strchr(e->d_name, '-') && strlen(e->d_name) < 64)
                snprintf(names[n++], 64, "%.63s", e->d_name);
        closedir(d);
        qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
        for (int i = 0; i < n; i++) {
            char model[1024], ref[1024], label[128];
            if (!strcmp(names[i], "F32"))
                snprintf(model, sizeof model, "%s/models/tinystories/stories260K.gguf", sh);
            else
                snprintf(model, sizeof model, "%.500s/%.60s/model.gguf", dir, names[i]);
            snprintf(ref, sizeof ref, "%.500s/%.60s", dir, names[i]);
            snprintf(label, sizeof label, "%.20s %.60s (fast)", models[mi], names[i]);
            double gap = ref_gap(sh, models[mi], names[i]);
            CHECK_MSG(gap > 0, "no compare.tsv gap for %s", label);
            nb_ctx_params fast = {.n_ctx = 256};
            check_dir(model, ref, factor * gap, factor * gap, fast, label);
            n_dirs++;
        }
    }
    CHECK_MSG(n_dirs >= 25, "only %d native directories found", n_dirs);
}

int main(void) {
    RUN(t_stories_f32);
    RUN(t_deqf32_all);
    RUN(t_fast_native);
    return nb_test_done();
}
