/* nb-ppl end to end on stories260K: perplexity against an independent
 * computation with the library, KL divergence of a model from itself and of
 * Q4_0 from F32, and the error exits. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CTX 128
#define CHUNKS 4

/* Runs nb-ppl with `args`; returns its stdout (malloc'd) and exit code. */
static char *nb_ppl(const char *args, int *rc) {
    char cmd[2048], out[512];
    snprintf(out, sizeof out, "%s/ppl.out", nb_test_tmp_dir());
    snprintf(cmd, sizeof cmd, "%s/nb-ppl %s > %s 2>/dev/null", nb_test_bin_dir(), args, out);
    *rc = nb_test_system(cmd);
    return nb_test_slurp(out);
}

/* The number after `key` in `text`, and optionally the one after "+/-". */
static int get_val(const char *text, const char *key, double *val, double *err) {
    const char *p = text ? strstr(text, key) : NULL;
    if (!p) return -1;
    p += strlen(key);
    char *end;
    *val = strtod(p, &end);
    if (end == p) return -1;
    if (err) {
        const char *q = strstr(end, "+/-");
        if (!q || q - end > 4) return -1;
        *err = strtod(q + 3, &end);
    }
    return 0;
}

static void paths(const char *sh, char *model, char *q4, char *text, size_t n) {
    snprintf(model, n, "%s/models/tinystories/stories260K.gguf", sh);
    snprintf(q4, n, "%s/reference/stories260K/Q4_0/model.gguf", sh);
    snprintf(text, n, "%s/models/text/tinystories_val.txt", sh);
}

/* llama.cpp's perplexity recomputed here: tokenize with BOS, chunks of CTX
 * with BOS first, score the second half. */
static double library_ppl(const char *model_path, const char *text_path) {
    nb_err err = {0};
    nb_file_map fm;
    nb_gguf g;
    nb_model *m = malloc(sizeof *m);
    nb_tokenizer tok;
    size_t len = 0;
    char *text = nb_test_read_file(text_path, &len);
    double ppl = -1;
    if (!m || !text) { free(m); free(text); return -1; }
    if (nb_file_map_open(model_path, &fm, &err) || nb_gguf_parse(fm.data, fm.size, &g, &err) ||
        nb_model_load(&g, m, &err) || nb_tokenizer_load(&g, &tok, NULL, &err)) {
        CHECK_MSG(0, "%s: %s", model_path, err.msg); /* leaks on this path: a test */
        free(m);
        free(text);
        return -1;
    }
    int32_t n = 0;
    int32_t *ids = malloc((len + 8) * sizeof *ids);
    CHECK_OK(nb_tokenize(&tok, text, len, 1, 0, ids, (int32_t)len + 8, &n, &err), err);
    CHECK(n >= CTX * CHUNKS && ids[0] == tok.bos_id);
    nb_ctx_params cp = {.n_ctx = CTX};
    size_t sz = nb_ctx_size(m, &cp);
    void *arena = malloc(sz);
    nb_ctx *ctx;
    CHECK_OK(nb_ctx_init(&ctx, m, &cp, arena, sz, &err), err);
    int32_t nv = m->hp.n_vocab;
    float *logits = malloc((size_t)nv * sizeof *logits);
    double sum = 0;
    int count = 0;
    for (int c = 0; c < CHUNKS && !nb_test_failed(); c++) {
        int32_t chunk[CTX];
        memcpy(chunk, ids + c * CTX, sizeof chunk);
        chunk[0] = tok.bos_id;
        nb_ctx_reset(ctx);
        for (int j = 0; j + 1 < CTX; j++) {
            CHECK_OK(nb_decode(ctx, &chunk[j], 1, logits, &err), err);
            if (j < CTX / 2) continue;
            double mx = logits[0], z = 0;
            for (int v = 1; v < nv; v++) mx = logits[v] > mx ? logits[v] : mx;
            for (int v = 0; v < nv; v++) z += exp(logits[v] - mx);
            sum += -(logits[chunk[j + 1]] - mx - log(z));
            count++;
        }
    }
    CHECK(count == CHUNKS * (CTX - 1 - CTX / 2));
    if (!nb_test_failed()) ppl = exp(sum / count);
    free(logits);
    free(arena);
    free(ids);
    nb_tokenizer_free(&tok);
    nb_gguf_free(&g);
    nb_file_map_close(&fm);
    free(m);
    free(text);
    return ppl;
}

static void t_ppl_matches_library(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char model[512], q4[512], text[512], args[2048];
    paths(sh, model, q4, text, sizeof model);
    snprintf(args, sizeof args, "-m %s -f %s -c %d --chunks %d", model, text, CTX, CHUNKS);
    int rc;
    char *out = nb_ppl(args, &rc);
    double ppl = 0, err = 0;
    CHECK(rc == 0);
    CHECK_MSG(get_val(out, "Final estimate: PPL = ", &ppl, &err) == 0, "output: %.300s", out);
    CHECK_MSG(out && strstr(out, "252 scored in 4 chunks of 128"), "output: %.300s", out);
    CHECK_MSG(err > 0 && isfinite(err), "+/- %g", err);
    /* llama-perplexity (llama.cpp ae1a0b1c7, same flags) prints
     * "PPL = 3.8574 +/- 0.42241"; its batched kernels round differently */
    CHECK_MSG(fabs(ppl - 3.8574) < 1e-3 * 3.8574 && fabs(err - 0.42241) < 1e-3 * 0.42241,
              "PPL %.4f +/- %.5f, llama.cpp 3.8574 +/- 0.42241", ppl, err);
    double want = library_ppl(model, text);
    CHECK_MSG(want > 1 && fabs(ppl - want) <= 1e-3 * want, "nb-ppl %.6f, library %.6f", ppl, want);
    free(out);
}

static void t_kld_self(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char model[512], q4[512], text[512], args[2048];
    paths(sh, model, q4, text, sizeof model);
    snprintf(args, sizeof args, "-m %s --kld-base %s -f %s -c %d --chunks %d", model, model, text,
             CTX, CHUNKS);
    int rc;
    char *out = nb_ppl(args, &rc);
    double kld = -1, same = 0, dppl = -1, ppl = 0, ppl_b = 1, e;
    CHECK(rc == 0);
    CHECK_MSG(get_val(out, "Mean KLD: ", &kld, &e) == 0 && fabs(kld) < 1e-9, "output: %.600s", out);
    CHECK(get_val(out, "Maximum KLD: ", &kld, NULL) == 0 && fabs(kld) < 1e-9);
    CHECK(get_val(out, "Same top p: ", &same, &e) == 0 && same == 100.0);
    CHECK(get_val(out, "Mean PPL(Q)-PPL(base): ", &dppl, NULL) == 0 && dppl == 0);
    CHECK(get_val(out, "PPL(Q): ", &ppl, NULL) == 0 && get_val(out, "PPL(base): ", &ppl_b, NULL) == 0 &&
          ppl == ppl_b);
    free(out);
}

static void t_kld_q4_0(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char model[512], q4[512], text[512], args[2048];
    paths(sh, model, q4, text, sizeof model);
    int rc;
    snprintf(args, sizeof args, "-m %s -f %s -c %d --chunks %d", model, text, CTX, CHUNKS);
    char *plain = nb_ppl(args, &rc);
    double ppl_f32 = 0, e;
    CHECK(rc == 0 && get_val(plain, "Final estimate: PPL = ", &ppl_f32, &e) == 0);
    snprintf(args, sizeof args, "-m %s --kld-base %s -f %s -c %d --chunks %d", q4, model, text,
             CTX, CHUNKS);
    char *out = nb_ppl(args, &rc);
    double kld = 0, kld_e = 0, same = 0, ppl_b = 0, ppl_q = 0, ppl_plain_q = 0, lr = 0;
    CHECK(rc == 0);
    CHECK_MSG(get_val(out, "Mean KLD: ", &kld, &kld_e) == 0 && kld > 0 && isfinite(kld) &&
              kld_e > 0 && isfinite(kld_e), "output: %.600s", out);
    CHECK_MSG(get_val(out, "Same top p: ", &same, &e) == 0 && same > 50 && same < 100,
              "same top p %g", same);
    CHECK_MSG(get_val(out, "PPL(base): ", &ppl_b, &e) == 0 && ppl_b == ppl_f32,
              "PPL(base) %.4f, plain run %.4f", ppl_b, ppl_f32);
    /* PPL(Q) is the model's own perplexity line; ln ratio consistent */
    CHECK(get_val(out, "PPL(Q): ", &ppl_q, &e) == 0 &&
          get_val(out, "Final estimate: PPL = ", &ppl_plain_q, &e) == 0 && ppl_q == ppl_plain_q);
    CHECK(get_val(out, "Mean ln(PPL(Q)/PPL(base)): ", &lr, &e) == 0 &&
          fabs(lr - log(ppl_q / ppl_b)) < 1e-3);
    free(plain);
    free(out);
}

static void t_errors(void) {
    char cmd[2048], log[512], small[512];
    const char *bin = nb_test_bin_dir();
    snprintf(log, sizeof log, "%s/err.txt", nb_test_tmp_dir());
    snprintf(cmd, sizeof cmd, "%s/nb-ppl 2>/dev/null >/dev/null", bin);
    CHECK(nb_test_system(cmd) == 2);
    snprintf(cmd, sizeof cmd, "%s/nb-ppl -m x.gguf -f x.txt --chunks x 2>/dev/null >/dev/null", bin);
    CHECK(nb_test_system(cmd) == 2);
    snprintf(cmd, sizeof cmd, "%s/nb-ppl -m x.gguf -f x.txt -c 1 2>/dev/null >/dev/null", bin);
    CHECK(nb_test_system(cmd) == 2);
    snprintf(cmd, sizeof cmd, "%s/nb-ppl -m x.gguf 2>/dev/null >/dev/null", bin);
    CHECK(nb_test_system(cmd) == 2);
    snprintf(cmd, sizeof cmd, "%s/nb-ppl -m x.gguf -f x.txt --bogus 2>/dev/null >/dev/null", bin);
    CHECK(nb_test_system(cmd) == 2);
    snprintf(cmd, sizeof cmd, "%s/nb-ppl -m /nonexistent/model.gguf -f x.txt 2>%s >/dev/null", bin, log);
    CHECK(nb_test_system(cmd) == 1);
    char *msg = nb_test_slurp(log);
    CHECK_MSG(msg && strstr(msg, "/nonexistent/model.gguf"), "stderr: %s", msg ? msg : "(none)");
    free(msg);
    const char *sh = nb_test_shared_dir();
    if (!sh) return;
    char model[512], q4[512], text[512];
    paths(sh, model, q4, text, sizeof model);
    snprintf(small, sizeof small, "%s/small.txt", nb_test_tmp_dir());
    CHECK(nb_test_write_file(small, "Once upon.", 10) == 0);
    snprintf(cmd, sizeof cmd, "%s/nb-ppl -m %s -f %s -c 64 2>%s >/dev/null", bin, model, small, log);
    CHECK(nb_test_system(cmd) == 1);
    msg = nb_test_slurp(log);
    CHECK_MSG(msg && strstr(msg, "tokens") && strstr(msg, "64"), "stderr: %s", msg ? msg : "(none)");
    free(msg);
    snprintf(cmd, sizeof cmd, "%s/nb-ppl -m %s -f /nonexistent/text.txt 2>%s >/dev/null", bin, model, log);
    CHECK(nb_test_system(cmd) == 1);
    msg = nb_test_slurp(log);
    CHECK_MSG(msg && strstr(msg, "/nonexistent/text.txt"), "stderr: %s", msg ? msg : "(none)");
    free(msg);
    snprintf(cmd, sizeof cmd, "%s/nb-ppl -m %s --kld-base %s/models/gguf/llama-2-tiny-random.gguf -f %s -c 64 --chunks 1 2>%s >/dev/null",
             bin, model, sh, text, log);
    CHECK(nb_test_system(cmd) == 1);
    msg = nb_test_slurp(log);
    CHECK_MSG(msg && strstr(msg, "vocabulary"), "stderr: %s", msg ? msg : "(none)");
    free(msg);
}

int main(void) {
    RUN(t_ppl_matches_library);
    RUN(t_kld_self);
    RUN(t_kld_q4_0);
    RUN(t_errors);
    return nb_test_done();
}
