/* The type table (lib/formats/types.c) wired to the format functions, the
 * checked entry points, and nb-inspect --dump. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    uint32_t type, partner;
    const char *ref; /* file stem in reference/quants */
} weights[] = {
    {NB_TYPE_F32, NB_TYPE_F32, NULL},         {NB_TYPE_F16, NB_TYPE_F16, "f16"},
    {NB_TYPE_BF16, NB_TYPE_BF16, "bf16"},     {NB_TYPE_Q4_0, NB_TYPE_Q8_0, "q4_0"},
    {NB_TYPE_Q4_1, NB_TYPE_Q8_1, "q4_1"},     {NB_TYPE_Q5_0, NB_TYPE_Q8_0, "q5_0"},
    {NB_TYPE_Q5_1, NB_TYPE_Q8_1, "q5_1"},     {NB_TYPE_Q8_0, NB_TYPE_Q8_0, "q8_0"},
    {NB_TYPE_Q2_K, NB_TYPE_Q8_K, "q2_K"},     {NB_TYPE_Q3_K, NB_TYPE_Q8_K, "q3_K"},
    {NB_TYPE_Q4_K, NB_TYPE_Q8_K, "q4_K"},     {NB_TYPE_Q5_K, NB_TYPE_Q8_K, "q5_K"},
    {NB_TYPE_Q6_K, NB_TYPE_Q8_K, "q6_K"},     {NB_TYPE_IQ4_NL, NB_TYPE_Q8_0, "iq4_nl"},
    {NB_TYPE_IQ4_XS, NB_TYPE_Q8_K, "iq4_xs"},
};
#define N_WEIGHTS (sizeof weights / sizeof weights[0])

static void t_table_complete(void) {
    for (size_t i = 0; i < N_WEIGHTS; i++) {
        const nb_type_info *ti = nb_type_get(weights[i].type);
        CHECK_MSG(ti && ti->to_float && ti->quantize && ti->vec_dot, "%s: functions missing",
                  nb_type_name(weights[i].type));
        if (!ti) continue;
        CHECK_MSG(ti->vec_dot_type == weights[i].partner, "%s: partner %s", ti->name,
                  nb_type_name(ti->vec_dot_type));
        const nb_type_info *p = nb_type_get(ti->vec_dot_type);
        CHECK_MSG(p && p->from_float, "%s: partner %s has no from_float", ti->name, p ? p->name : "?");
    }
    CHECK(nb_type_get(NB_TYPE_Q8_K)->to_float && nb_type_get(NB_TYPE_Q8_1)->from_float);
    /* types without support say so through the checked entry points */
    nb_err err = {0};
    float y[256];
    uint8_t x[256] = {0};
    CHECK(nb_dequantize_row(NB_TYPE_IQ2_XXS, x, y, 256, &err) == NB_ERR_UNSUPPORTED &&
          strstr(err.msg, "IQ2_XXS"));
    CHECK(nb_dequantize_row(NB_TYPE_Q4_0, x, y, 48, &err) == NB_ERR_INVALID_ARG &&
          strstr(err.msg, "48"));
    CHECK(nb_dequantize_row(4, x, y, 32, &err) == NB_ERR_UNSUPPORTED);
    CHECK(nb_quantize_rows(NB_TYPE_Q8_K, y, x, 1, 256, NULL, &err) == NB_ERR_UNSUPPORTED);
    CHECK(nb_row_size(NB_TYPE_Q4_K, 512) == 288 && nb_row_size(NB_TYPE_Q4_K, 100) == 0);
}

/* Every reference .q decoded through the table equals ggml's floats. */
static void t_table_dequant_reference(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char path[512];
    for (size_t i = 0; i < N_WEIGHTS; i++) {
        if (!weights[i].ref) continue;
        size_t nq, nd;
        snprintf(path, sizeof path, "%s/reference/quants/cos.%s.q", sh, weights[i].ref);
        void *q = nb_test_read_file(path, &nq);
        snprintf(path, sizeof path, "%s/reference/quants/cos.%s.deq.f32", sh, weights[i].ref);
        float *want = nb_test_read_file(path, &nd);
        CHECK_MSG(q && want, "missing %s", path);
        if (q && want) {
            int64_t n = (int64_t)(nd / 4);
            float *got = malloc(nd);
            nb_err err = {0};
            CHECK_OK(nb_dequantize_row(weights[i].type, q, got, n, &err), err);
            CHECK_MSG(nq == nb_row_size(weights[i].type, n), "%s: size", weights[i].ref);
            CHECK_MSG(memcmp(got, want, nd) == 0, "%s: not bit-exact", weights[i].ref);
            free(got);
        }
        free(q);
        free(want);
    }
}

static void t_inspect_dump(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char model[512], out[512], cmd[2048];
    snprintf(model, sizeof model, "%s/reference/stories260K/Q4_0/model.gguf", sh);
    snprintf(out, sizeof out, "%s/dump.f32", nb_test_tmp_dir());
    snprintf(cmd, sizeof cmd, "%s/nb-inspect %s --dump blk.0.ffn_gate.weight -o %s 2>/dev/null",
             nb_test_bin_dir(), model, out);
    CHECK(nb_test_system(cmd) == 0);
    size_t n_out = 0, n_model = 0;
    float *dumped = nb_test_read_file(out, &n_out);
    void *bytes = nb_test_read_file(model, &n_model);
    nb_gguf g;
    nb_err err = {0};
    CHECK(dumped && bytes);
    if (!dumped || !bytes) { free(dumped); free(bytes); return; }
    CHECK_OK(nb_gguf_parse(bytes, n_model, &g, &err), err);
    const nb_gguf_tensor *t = nb_gguf_find_tensor(&g, "blk.0.ffn_gate.weight");
    CHECK(t && t->type == NB_TYPE_Q4_0 && n_out == (size_t)nb_tensor_nelements(t) * 4);
    if (t && n_out == (size_t)nb_tensor_nelements(t) * 4) {
        float *want = malloc(n_out);
        for (int64_t r = 0; r < t->ne[1]; r++)
            CHECK_OK(nb_dequantize_row(t->type, (const uint8_t *)t->data + r * nb_row_size(t->type, t->ne[0]),
                                       want + r * t->ne[0], t->ne[0], &err), err);
        CHECK(memcmp(want, dumped, n_out) == 0);
        free(want);
    }
    nb_gguf_free(&g);
    free(dumped);
    free(bytes);

    /* statistics mode */
    snprintf(cmd, sizeof cmd, "%s/nb-inspect %s --dump blk.0.ffn_gate.weight > %s/stats.txt",
             nb_test_bin_dir(), model, nb_test_tmp_dir());
    CHECK(nb_test_system(cmd) == 0);
    snprintf(out, sizeof out, "%s/stats.txt", nb_test_tmp_dir());
    char *txt = nb_test_read_file(out, &n_out);
    CHECK(txt);
    if (txt) {
        txt[n_out] = 0;
        CHECK(strstr(txt, "type: Q4_0") && strstr(txt, "shape: 64,172") && strstr(txt, "rms: ") &&
              strstr(txt, "first: "));
        free(txt);
    }
    /* unknown tensor: exit 1, no output file left */
    snprintf(out, sizeof out, "%s/none.f32", nb_test_tmp_dir());
    snprintf(cmd, sizeof cmd, "%s/nb-inspect %s --dump no.such.tensor -o %s 2>/dev/null",
             nb_test_bin_dir(), model, out);
    CHECK(nb_test_system(cmd) == 1);
    CHECK(nb_test_read_file(out, &n_out) == NULL);
    snprintf(cmd, sizeof cmd, "%s/nb-inspect %s -o %s 2>/dev/null", nb_test_bin_dir(), model, out);
    CHECK(nb_test_system(cmd) == 2);
}

int main(void) {
    RUN(t_table_complete);
    RUN(t_table_dequant_reference);
    RUN(t_inspect_dump);
    return nb_test_done();
}
