/* Llama forward pass against llama.cpp's logits (../shared/reference).
 * Float path: stories260K/F32-kvf32 and every <TYPE>-deqf32 (llama.cpp in
 * plain F32), within 1e-4. Fast path: every native <TYPE> directory, within
 * the reference's own native-vs-deqf32 gap (compare.tsv). The other
 * families: test_arch.c. */
#include "harness.h"
#include "support_reference.h"
#include "formats/dot.h" /* which dot-product kernels run */

#include <string.h>

static const nb_ctx_params float_params = {.n_ctx = 256, .kv_f32 = 1, .float_path = 1};

static void t_stories_f32(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char model[512], ref[512];
    snprintf(model, sizeof model, "%s/models/tinystories/stories260K.gguf", sh);
    snprintf(ref, sizeof ref, "%s/reference/stories260K/F32-kvf32", sh);
    nb_ref_check_dir(model, ref, 1e-4, 1e-3, float_params, "stories260K F32-kvf32");
}

static void t_deqf32_all(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    const char *models[] = {"stories260K", "synth-llama"};
    int n_dirs = 0;
    for (int mi = 0; mi < 2; mi++) {
        char dir[512], names[64][64];
        snprintf(dir, sizeof dir, "%s/reference/%s", sh, models[mi]);
        int n = nb_ref_list_dirs(dir, "-deqf32", names, 64);
        CHECK_MSG(n >= 0, "cannot open %s", dir);
        for (int i = 0; i < n; i++) {
            char model[1024], ref[1024], label[128];
            snprintf(model, sizeof model, "%s/%.*s/model.gguf", dir, (int)strlen(names[i]) - 7, names[i]);
            snprintf(ref, sizeof ref, "%s/%s", dir, names[i]);
            snprintf(label, sizeof label, "%s %s", models[mi], names[i]);
            nb_ref_check_dir(model, ref, 1e-4, 1e-3, float_params, label);
            n_dirs++;
        }
    }
    CHECK_MSG(n_dirs >= 24, "only %d -deqf32 directories found", n_dirs);
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
        char dir[512], names[64][64];
        snprintf(dir, sizeof dir, "%s/reference/%s", sh, models[mi]);
        int n = nb_ref_list_dirs(dir, NULL, names, 64);
        CHECK_MSG(n >= 0, "cannot open %s", dir);
        for (int i = 0; i < n; i++) {
            char model[1024], ref[1024], label[128];
            if (!strcmp(names[i], "F32"))
                snprintf(model, sizeof model, "%s/models/tinystories/stories260K.gguf", sh);
            else
                snprintf(model, sizeof model, "%.500s/%.60s/model.gguf", dir, names[i]);
            snprintf(ref, sizeof ref, "%.500s/%.60s", dir, names[i]);
            snprintf(label, sizeof label, "%.20s %.60s (fast)", models[mi], names[i]);
            double gap = nb_ref_gap(sh, models[mi], names[i], NULL);
            CHECK_MSG(gap > 0, "no compare.tsv gap for %s", label);
            nb_ctx_params fast = {.n_ctx = 256};
            nb_ref_check_dir(model, ref, factor * gap, factor * gap, fast, label);
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
