/* nb-run and examples/generate end to end on stories260K. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --ids --temp 0: prompt ids then the 64 greedy ids of llama.cpp. */
static void t_greedy_ids(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    const char *types[] = {"F32", "Q8_0"};
    for (int i = 0; i < 2; i++) {
        char model[512], cmd[2048], out[512], want_path[512];
        if (!strcmp(types[i], "F32"))
            snprintf(model, sizeof model, "%s/models/tinystories/stories260K.gguf", sh);
        else
            snprintf(model, sizeof model, "%s/reference/stories260K/%s/model.gguf", sh, types[i]);
        snprintf(out, sizeof out, "%s/ids.txt", nb_test_tmp_dir());
        snprintf(cmd, sizeof cmd, "%s/nb-run -m %s -p 'Once upon a time' -n 64 --temp 0 --ids > %s 2>/dev/null",
                 nb_test_bin_dir(), model, out);
        CHECK(nb_test_system(cmd) == 0);
        snprintf(want_path, sizeof want_path, "%s/reference/stories260K/%s/prompt1.greedy64.txt", sh, types[i]);
        char *got = nb_test_slurp(out), *want = nb_test_slurp(want_path);
        CHECK(got && want);
        if (got && want) {
            want[strcspn(want, "\n")] = 0;
            char expect[2048];
            snprintf(expect, sizeof expect, "1 403 407 261 378 %s\n", want);
            /* Q8_0's reference greedy tokens are only comparable up to its
             * first small margin; compare the first 16 there */
            size_t cmp = strcmp(types[i], "F32") ? 5 * 4 + 16 * 4 : strlen(expect);
            CHECK_MSG(strncmp(got, expect, cmp) == 0, "%s: got '%.200s'", types[i], got);
        }
        free(got);
        free(want);
    }
}

static void t_text_and_logits(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char model[512], cmd[2048], out[512], lg[512], ref[512];
    snprintf(model, sizeof model, "%s/models/tinystories/stories260K.gguf", sh);
    snprintf(out, sizeof out, "%s/text.txt", nb_test_tmp_dir());
    snprintf(lg, sizeof lg, "%s/logits.bin", nb_test_tmp_dir());
    snprintf(cmd, sizeof cmd,
             "%s/nb-run -m %s -p 'Once upon a time' -n 40 --temp 0 --f32 --logits-out %s > %s 2>/dev/null",
             nb_test_bin_dir(), model, lg, out);
    CHECK(nb_test_system(cmd) == 0);
    char *text = nb_test_slurp(out);
    CHECK(text && strstr(text, "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."));
    free(text);
    size_t n_got, n_ref;
    snprintf(ref, sizeof ref, "%s/reference/stories260K/F32-kvf32/prompt1.logits.bin", sh);
    uint8_t *got = nb_test_read_file(lg, &n_got), *want = nb_test_read_file(ref, &n_ref);
    CHECK(got && want && n_got == n_ref && n_got > 36);
    if (got && want && n_got == n_ref && n_got > 36) {
        CHECK(memcmp(got, want, 16 + 5 * 4) == 0); /* header and ids */
        double max_err = 0;
        for (size_t off = 36; off + 4 <= n_got; off += 4) {
            float a, b;
            memcpy(&a, got + off, 4);
            memcpy(&b, want + off, 4);
            if (fabs((double)a - b) > max_err) max_err = fabs((double)a - b);
        }
        CHECK_MSG(max_err < 1e-4, "logits-out max err %g", max_err);
    }
    free(got);
    free(want);
    /* the example program */
    snprintf(cmd, sizeof cmd, "build/examples/generate %s 'Once upon a time' 12 > %s 2>/dev/null",
             model, out);
    if (strcmp(nb_test_bin_dir(), "build/bin") == 0) {
        CHECK(nb_test_system(cmd) == 0);
        text = nb_test_slurp(out);
        CHECK(text && strstr(text, "Once upon a time, there was a little girl"));
        free(text);
    }
}

static void t_errors(void) {
    char cmd[1024];
    const char *bin = nb_test_bin_dir();
    snprintf(cmd, sizeof cmd, "%s/nb-run -m /nonexistent.gguf -p hi 2>/dev/null >/dev/null", bin);
    CHECK(nb_test_system(cmd) == 1);
    snprintf(cmd, sizeof cmd, "%s/nb-run --bogus 2>/dev/null >/dev/null", bin);
    CHECK(nb_test_system(cmd) == 2);
    snprintf(cmd, sizeof cmd, "%s/nb-run -m x.gguf -p hi --temp -1 2>/dev/null >/dev/null", bin);
    CHECK(nb_test_system(cmd) == 2);
    snprintf(cmd, sizeof cmd, "%s/nb-run -m x.gguf 2>/dev/null >/dev/null", bin);
    CHECK(nb_test_system(cmd) == 2);
    const char *sh = nb_test_shared_dir();
    if (sh) { /* a vocab-only file has no tensors: a clear error, exit 1 */
        snprintf(cmd, sizeof cmd, "%s/nb-run -m %s/models/vocab/ggml-vocab-llama-spm.gguf -p hi 2>&1 >/dev/null | grep -q token_embd",
                 bin, sh);
        CHECK(nb_test_system(cmd) == 0);
    }
}

int main(void) {
    RUN(t_greedy_ids);
    RUN(t_text_and_logits);
    RUN(t_errors);
    return nb_test_done();
}
