/* nb-quantize and lib/quantize: recipes against llama.cpp's own files,
 * recipe rules on synthetic layer counts, round trips F32 -> TYPE -> run,
 * imatrix reading, and the failure cases (no partial output, ever). */
#include "harness.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* No "<anything>.tmp.<pid>" left in the scratch directory. */
static int no_temp_files(void) {
    DIR *d = opendir(nb_test_tmp_dir());
    if (!d) return 1;
    struct dirent *e;
    int ok = 1;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) ok = 0;
    closedir(d);
    return ok;
}

/* -------------------------------------------------- in-memory output */

typedef struct membuf {
    uint8_t *p;
    size_t len, cap;
    size_t fail_after;  /* 0: never fail; else fail once len would pass it */
} membuf;

static nb_status mem_write(void *user, const void *data, size_t size, nb_err *err) {
    membuf *m = user;
    if (m->fail_after && m->len + size > m->fail_after) {
        snprintf(err->msg, sizeof err->msg, "No space left on device (test sink)");
        err->status = NB_ERR_IO;
        return NB_ERR_IO;
    }
    if (m->len + size > m->cap) {
        size_t cap = m->cap ? m->cap : 1 << 16;
        while (cap < m->len + size) cap *= 2;
        uint8_t *p = realloc(m->p, cap);
        if (!p) return NB_ERR_NOMEM;
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->len, data, size);
    m->len += size;
    return NB_OK;
}

typedef struct model_file {
    nb_file_map map;
    nb_gguf g;
    int ok;
} model_file;

static int open_model(const char *path, model_file *m) {
    nb_err err;
    m->ok = 0;
    if (nb_file_map_open(path, &m->map, &err)) return -1;
    if (nb_gguf_parse(m->map.data, m->map.size, &m->g, &err)) {
        nb_file_map_close(&m->map);
        return -1;
    }
    m->ok = 1;
    return 0;
}

static void close_model(model_file *m) {
    if (!m->ok) return;
    nb_gguf_free(&m->g);
    nb_file_map_close(&m->map);
    m->ok = 0;
}

static nb_status quantize_mem(const nb_gguf *g, const char *target, int threads, membuf *out,
                              nb_quant_summary *sum, nb_err *err) {
    nb_quant_params p;
    memset(&p, 0, sizeof p);
    nb_status s = nb_quant_target_parse(target, &p.target, err);
    if (s) return s;
    p.n_threads = threads;
    return nb_quantize_gguf(g, &p, mem_write, out, sum, err);
}

/* ------------------------------------ recipes vs llama.cpp's own files */

/* The type of every tensor in <dir>/tensors.txt (name \t type \t ...). */
static int ref_type(const char *tensors_txt, const char *name, char *type, size_t size) {
    const char *p = tensors_txt;
    size_t n = strlen(name);
    while ((p = strstr(p, name))) {
        if ((p == tensors_txt || p[-1] == '\n') && p[n] == '\t') {
            const char *t = p + n + 1;
            size_t k = strcspn(t, "\t\n");
            if (k >= size) k = size - 1;
            memcpy(type, t, k);
            type[k] = 0;
            return 0;
        }
        p += n;
    }
    return -1;
}

/* For every quantized file of ../shared/reference (made by llama-quantize
 * from the model's F32/F16 file), our policy picks the same type for every
 * tensor. */
static void t_recipes_match_llama_cpp(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    const char *models[] = {"stories260K", "synth-llama", "synth-qwen2", "synth-phi3",
                            "synth-gemma2", "synth-qwen3", "synth-gemma3"};
    int n_dirs = 0, n_tensors = 0;
    for (size_t mi = 0; mi < sizeof models / sizeof models[0]; mi++) {
        char dir[512], src[600];
        snprintf(dir, sizeof dir, "%s/reference/%s", sh, models[mi]);
        if (!strcmp(models[mi], "stories260K"))
            snprintf(src, sizeof src, "%s/models/tinystories/stories260K.gguf", sh);
        else
            snprintf(src, sizeof src, "%s/F16/model.gguf", dir);
        model_file m;
        if (open_model(src, &m)) { CHECK_MSG(0, "cannot open %s", src); continue; }
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.' || strchr(e->d_name, '-')) continue;
            nb_quant_target tgt;
            if (nb_quant_target_parse(e->d_name, &tgt, NULL)) continue;
            if (!strcmp(e->d_name, "F32") || !strcmp(e->d_name, "F16")) continue; /* sources */
            char tp[1024];
            snprintf(tp, sizeof tp, "%s/%s/tensors.txt", dir, e->d_name);
            char *txt = nb_test_slurp(tp);
            if (!txt) continue;
            nb_quant_model_facts f;
            nb_quant_model_facts_get(&m.g, 0, &f);
            nb_quant_policy pol;
            nb_quant_policy_init(&pol, &tgt, 0, &f);
            for (uint64_t i = 0; i < m.g.n_tensors; i++) {
                const nb_gguf_tensor *t = &m.g.tensors[i];
                char name[256], want[32];
                snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
                nb_quant_choice c = nb_quant_policy_choose(&pol, name, t->n_dims, t->ne, t->type, -1);
                CHECK_MSG(ref_type(txt, name, want, sizeof want) == 0, "%s: %s missing", tp, name);
                CHECK_MSG(!strcmp(want, nb_type_name(c.type)), "%s/%s %s: llama.cpp %s, ours %s",
                          models[mi], e->d_name, name, want, nb_type_name(c.type));
                n_tensors++;
            }
            n_dirs++;
            free(txt);
        }
        if (d) closedir(d);
        close_model(&m);
    }
    printf("  recipes: %d reference files, %d tensors compared\n", n_dirs, n_tensors);
    CHECK(n_dirs >= 25);
}

/* ---------------------------------------------- rules on layer counts */

static nb_quant_choice choose(nb_quant_policy *p, const char *name, int64_t ne0, int64_t ne1) {
    int64_t ne[4] = {ne0, ne1, 1, 1};
    return nb_quant_policy_choose(p, name, 2, ne, NB_TYPE_F16, -1);
}

static int more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* Walk an n_layer model in llama.cpp's tensor order and check each rule. */
static void check_layers(const char *target, int n_layer, int n_gqa) {
    nb_quant_target t;
    CHECK_OK(nb_quant_target_parse(target, &t, &(nb_err){0}), (nb_err){0});
    nb_quant_model_facts f = {.n_attention_wv = n_layer, .n_ffn_down = n_layer, .n_gqa = n_gqa,
                              .has_output = 1};
    nb_quant_policy p;
    nb_quant_policy_init(&p, &t, 0, &f);
    CHECK(choose(&p, "token_embd.weight", 512, 1000).type == t.type);
    CHECK(choose(&p, "output.weight", 512, 1000).type ==
          (t.type == NB_TYPE_Q8_0 ? NB_TYPE_Q8_0 : NB_TYPE_Q6_K));
    int64_t norm_ne[4] = {512, 1, 1, 1};
    for (int i = 0; i < n_layer; i++) {
        char n[64];
        snprintf(n, sizeof n, "blk.%d.attn_norm.weight", i);
        nb_quant_choice c = nb_quant_policy_choose(&p, n, 1, norm_ne, NB_TYPE_F32, -1);
        CHECK(c.type == NB_TYPE_F32 && !c.quantize);
        snprintf(n, sizeof n, "blk.%d.attn_q.weight", i);
        CHECK(choose(&p, n, 512, 512).type == t.type);
        snprintf(n, sizeof n, "blk.%d.attn_v.weight", i);
        uint32_t v = choose(&p, n, 512, 128).type, want_v = t.type;
        snprintf(n, sizeof n, "blk.%d.attn_output.weight", i);
        uint32_t o = choose(&p, n, 512, 512).type, want_o = t.type;
        snprintf(n, sizeof n, "blk.%d.ffn_down.weight", i);
        uint32_t d = choose(&p, n, 1536, 512).type, want_d = t.type;
        switch (t.ftype) {
        case NB_FTYPE_MOSTLY_Q2_K:
            want_v = n_gqa >= 4 ? NB_TYPE_Q4_K : NB_TYPE_Q3_K;
            want_o = want_d = NB_TYPE_Q3_K;
            break;
        case NB_FTYPE_MOSTLY_Q3_K_M:
            want_v = i < 2 ? NB_TYPE_Q5_K : NB_TYPE_Q4_K;
            want_o = NB_TYPE_Q4_K;
            want_d = i < n_layer / 16 ? NB_TYPE_Q5_K : NB_TYPE_Q4_K;
            break;
        case NB_FTYPE_MOSTLY_Q3_K_L: want_v = want_o = want_d = NB_TYPE_Q5_K; break;
        case NB_FTYPE_MOSTLY_Q4_K_S:
            if (i < 4) want_v = NB_TYPE_Q5_K;
            if (i < n_layer / 8) want_d = NB_TYPE_Q5_K;
            break;
        case NB_FTYPE_MOSTLY_Q4_K_M:
        case NB_FTYPE_MOSTLY_Q5_K_M:
            if (more_bits(i, n_layer)) want_v = want_d = NB_TYPE_Q6_K;
            break;
        case NB_FTYPE_MOSTLY_IQ4_XS:
            if (n_gqa >= 4) want_v = NB_TYPE_Q5_K;
            if (i < n_layer / 8) want_d = NB_TYPE_Q5_K;
            break;
        default: break;
        }
        CHECK_MSG(v == want_v, "%s, %d layers, layer %d attn_v: %s, want %s", target, n_layer, i,
                  nb_type_name(v), nb_type_name(want_v));
        CHECK_MSG(o == want_o, "%s layer %d attn_output: %s", target, i, nb_type_name(o));
        CHECK_MSG(d == want_d, "%s, %d layers, layer %d ffn_down: %s, want %s", target, n_layer, i,
                  nb_type_name(d), nb_type_name(want_d));
    }
}

static void t_recipe_rules(void) {
    const char *targets[] = {"Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M",
                             "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0", "Q4_0", "IQ4_XS"};
    const int layers[] = {1, 4, 16, 22, 26, 28, 32, 80};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
            check_layers(targets[i], layers[l], 2);
            check_layers(targets[i], layers[l], 4);
        }
}

static void t_fallbacks_and_overrides(void) {
    nb_quant_target t;
    nb_err err = {0};
    CHECK_OK(nb_quant_target_parse("q4_k_m", &t, &err), err);   /* case-insensitive */
    nb_quant_model_facts f = {.n_attention_wv = 2, .n_ffn_down = 2, .n_gqa = 1};
    nb_quant_policy p;
    nb_quant_policy_init(&p, &t, 0, &f);
    /* tied LM head: token_embd takes the output rule */
    nb_quant_choice c = choose(&p, "token_embd.weight", 512, 100);
    CHECK(c.type == NB_TYPE_Q6_K);
    /* 96 columns: Q4_K (256) -> Q5_0 (32), with the reason */
    c = choose(&p, "blk.0.attn_q.weight", 96, 96);
    CHECK(c.type == NB_TYPE_Q5_0 && c.fallback && c.wanted == NB_TYPE_Q4_K);
    CHECK_MSG(strstr(c.why, "96") && strstr(c.why, "Q4_K"), "why: %s", c.why);
    /* 172 columns fit no block: F16 */
    c = choose(&p, "blk.0.ffn_up.weight", 172, 96);
    CHECK(c.type == NB_TYPE_F16 && c.fallback);
    /* Q6_K -> Q8_0 and Q2_K/Q3_K -> IQ4_NL, Q5_K -> Q5_1 */
    struct { const char *target, *name; uint32_t want; } fb[] = {
        {"Q6_K", "blk.0.attn_q.weight", NB_TYPE_Q8_0}, {"Q3_K_S", "blk.0.attn_q.weight", NB_TYPE_IQ4_NL},
        {"Q2_K", "blk.0.attn_q.weight", NB_TYPE_IQ4_NL}, {"Q5_K_S", "blk.0.attn_q.weight", NB_TYPE_Q5_1},
        {"IQ4_XS", "blk.0.attn_q.weight", NB_TYPE_IQ4_NL}};
    for (size_t i = 0; i < sizeof fb / sizeof fb[0]; i++) {
        CHECK_OK(nb_quant_target_parse(fb[i].target, &t, &err), err);
        nb_quant_policy_init(&p, &t, 0, &f);
        c = choose(&p, fb[i].name, 320, 64);
        CHECK_MSG(c.type == fb[i].want && c.fallback, "%s: %s", fb[i].target, nb_type_name(c.type));
    }
    /* pure: no recipe rules, output too */
    CHECK_OK(nb_quant_target_parse("Q4_K_M", &t, &err), err);
    f.has_output = 1;
    nb_quant_policy_init(&p, &t, 1, &f);
    CHECK(choose(&p, "output.weight", 512, 100).type == NB_TYPE_Q4_K);
    /* an override replaces the rule, and still falls back when it must */
    nb_quant_policy_init(&p, &t, 0, &f);
    int64_t ne[4] = {512, 64, 1, 1};
    c = nb_quant_policy_choose(&p, "blk.0.attn_v.weight", 2, ne, NB_TYPE_F16, NB_TYPE_Q8_0);
    CHECK(c.type == NB_TYPE_Q8_0);
    ne[0] = 64;
    c = nb_quant_policy_choose(&p, "blk.1.attn_v.weight", 2, ne, NB_TYPE_F16, NB_TYPE_Q6_K);
    CHECK(c.type == NB_TYPE_Q8_0 && c.fallback);
    /* never quantized: norms, 1-D, router, positional embeddings */
    CHECK(!nb_quant_wants("blk.0.attn_norm.weight", 2));
    CHECK(!nb_quant_wants("blk.0.ffn_gate_inp.weight", 2));
    CHECK(!nb_quant_wants("blk.0.attn_q.bias", 2));
    CHECK(!nb_quant_wants("rope_freqs.weight", 1));
    CHECK(nb_quant_wants("blk.0.ffn_down_exps.weight", 3));
    /* names and ftypes */
    CHECK(nb_quant_target_parse("Q4_K_X", &t, &err) == NB_ERR_INVALID_ARG);
    CHECK(strstr(err.msg, "Q4_K_X") && strstr(err.msg, "Q4_K_M"));
    struct { const char *n; int ft; } ids[] = {{"F32", 0}, {"F16", 1}, {"Q4_0", 2}, {"Q4_1", 3},
        {"Q8_0", 7}, {"Q5_0", 8}, {"Q5_1", 9}, {"Q2_K", 10}, {"Q3_K_S", 11}, {"Q3_K_M", 12},
        {"Q3_K_L", 13}, {"Q4_K_S", 14}, {"Q4_K_M", 15}, {"Q5_K_S", 16}, {"Q5_K_M", 17},
        {"Q6_K", 18}, {"IQ4_NL", 25}, {"IQ4_XS", 30}, {"BF16", 32}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        CHECK_OK(nb_quant_target_parse(ids[i].n, &t, &err), err);
        CHECK_MSG(t.ftype == ids[i].ft, "%s: ftype %d", ids[i].n, t.ftype);
    }
}

/* --------------------------------------------- round trip F32 -> TYPE */

static float max_abs_diff(const float *a, const float *b, int n) {
    float m = 0;
    for (int i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

/* Quantize stories260K to every type and recipe in memory; the file
 * parses, keeps every key (file type and quantization version set), each
 * tensor holds exactly nibble's quantization of the source rows, and the
 * model runs (close to F32 for the 8-bit and float types). */
static void t_round_trip_stories(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char path[512];
    snprintf(path, sizeof path, "%s/models/tinystories/stories260K.gguf", sh);
    model_file src;
    if (open_model(path, &src)) { CHECK_MSG(0, "cannot open %s", path); return; }

    /* F32 reference logits after "<s> Once" */
    const int32_t toks[] = {1, 403, 407};
    nb_model m0;
    nb_err err = {0};
    CHECK_OK(nb_model_load(&src.g, &m0, &err), err);
    nb_ctx_params cp = {.n_ctx = 16, .float_path = 1, .kv_f32 = 1};
    size_t csz = nb_ctx_size(&m0, &cp);
    void *mem = malloc(csz * 4);
    float ref[512], got[512];
    nb_ctx *ctx;
    CHECK_OK(nb_ctx_init(&ctx, &m0, &cp, mem, csz, &err), err);
    CHECK_OK(nb_decode(ctx, toks, 3, ref, &err), err);

    /* every single type, and one recipe (the others differ from it only
     * in rules the stories260K shapes turn into the same fallbacks) */
    for (int i = 0;; i++) {
        const nb_quant_target *tg = nb_quant_target_at(i);
        if (!tg) break;
        if (tg->recipe && tg->ftype >= NB_FTYPE_MOSTLY_Q3_K_S && tg->ftype <= NB_FTYPE_MOSTLY_Q5_K_M &&
            tg->ftype != NB_FTYPE_MOSTLY_Q4_K_M)
            continue;
        membuf out = {0};
        nb_quant_summary sum;
        nb_status s = quantize_mem(&src.g, tg->name, 2, &out, &sum, &err);
        CHECK_MSG(s == NB_OK, "%s: %s", tg->name, err.msg);
        if (s) { free(out.p); continue; }
        CHECK(sum.file_bytes == out.len && sum.n_tensors == 48);
        nb_gguf q;
        s = nb_gguf_parse(out.p, out.len, &q, &err);
        CHECK_MSG(s == NB_OK, "%s: output does not parse: %s", tg->name, err.msg);
        if (s) { free(out.p); continue; }
        uint32_t ft = 99, qv = 0;
        CHECK(nb_gguf_get_u32(&q, "general.file_type", &ft, &err) == NB_OK && ft == (uint32_t)tg->ftype);
        CHECK(nb_gguf_get_u32(&q, "general.quantization_version", &qv, &err) == NB_OK && qv == 2);
        /* every source key is there with the same value bytes */
        for (uint64_t k = 0; k < src.g.n_kv; k++) {
            char key[128];
            snprintf(key, sizeof key, "%.*s", (int)src.g.kv[k].key.len, src.g.kv[k].key.ptr);
            const nb_gguf_kv *kv = nb_gguf_find_key(&q, key);
            CHECK_MSG(kv && kv->val_size == src.g.kv[k].val_size &&
                          !memcmp(kv->val, src.g.kv[k].val, kv->val_size),
                      "%s: key %s", tg->name, key);
        }
        /* tensor bytes == nibble's quantizer on the source rows (the first
         * block's tensors: the embedding, the LM head, one of each matrix) */
        for (uint64_t t = 0; t < q.n_tensors; t++) {
            const nb_gguf_tensor *a = &src.g.tensors[t], *b = &q.tensors[t];
            CHECK(nb_str_eq(b->name, "") == 0 && a->name.len == b->name.len);
            if (t >= 12) continue;
            if (a->type == b->type) {
                CHECK(a->nbytes == b->nbytes && !memcmp(a->data, b->data, a->nbytes));
                continue;
            }
            int64_t n = nb_tensor_nelements(a);
            float *x = malloc((size_t)n * sizeof(float));
            void *qq = malloc(b->nbytes);
            nb_dequantize_row(a->type, a->data, x, n, &err);
            nb_quantize_rows(b->type, x, qq, n / a->ne[0], a->ne[0], NULL, &err);
            CHECK_MSG(!memcmp(qq, b->data, b->nbytes), "%s: %.*s bytes differ", tg->name,
                      (int)b->name.len, b->name.ptr);
            free(x);
            free(qq);
        }
        /* it runs */
        nb_model m;
        s = nb_model_load(&q, &m, &err);
        CHECK_MSG(s == NB_OK, "%s: %s", tg->name, err.msg);
        if (!s) {
            nb_ctx_params fp = {.n_ctx = 16};
            size_t sz = nb_ctx_size(&m, &fp);
            void *cm = malloc(sz);
            nb_ctx *c2;
            CHECK_OK(nb_ctx_init(&c2, &m, &fp, cm, sz, &err), err);
            CHECK_OK(nb_decode(c2, toks, 3, got, &err), err);
            int finite = 1, amax_r = 0, amax_g = 0;
            for (int v = 0; v < 512; v++) {
                finite &= isfinite(got[v]);
                if (ref[v] > ref[amax_r]) amax_r = v;
                if (got[v] > got[amax_g]) amax_g = v;
            }
            CHECK_MSG(finite, "%s: non-finite logits", tg->name);
            float d = max_abs_diff(ref, got, 512);
            /* fast path (F16 KV cache, 8-bit activations) vs F32 float
             * path: llama.cpp's own gaps are 0.01 (F32) to 0.3 (Q8_0) */
            float tol = tg->type == NB_TYPE_F32 ? 0.02f
                      : (tg->type == NB_TYPE_F16 || tg->type == NB_TYPE_Q8_0 ||
                         tg->type == NB_TYPE_BF16) ? 0.5f : 4.0f;
            CHECK_MSG(d < tol, "%s: max |logit diff| vs F32 %g (tol %g)", tg->name, d, tol);
            CHECK_MSG(amax_r == amax_g, "%s: top token %d vs %d", tg->name, amax_g, amax_r);
            free(cm);
        }
        nb_gguf_free(&q);
        free(out.p);
    }
    free(mem);
    close_model(&src);
}

/* K-quant recipes on the synthetic llama (rows of 256). Every recipe's plan
 * gives exactly the tensor bytes of llama-quantize's file. Then a real
 * Q4_K_M run over the first block (the other tensors copied, to keep the
 * test quick under emulation): identical bytes for 1 and 2 threads, each
 * tensor exactly nibble's quantization of its rows, and the model runs. */
static int keep_all_but_block0(void *user, const char *name) {
    (void)user;
    return strncmp(name, "blk.0.", 6) ? NB_TYPE_F16 : -1;
}

static void t_round_trip_kquants(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char path[512];
    snprintf(path, sizeof path, "%s/reference/synth-llama/F16/model.gguf", sh);
    model_file src;
    if (open_model(path, &src)) { CHECK_MSG(0, "cannot open %s", path); return; }
    nb_err err = {0};
    const char *recipes[] = {"Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M",
                             "Q5_K_S", "Q5_K_M", "Q6_K", "IQ4_XS", "IQ4_NL"};
    for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++) {
        char ref[600];
        snprintf(ref, sizeof ref, "%s/reference/synth-llama/%s/model.gguf", sh, recipes[i]);
        model_file r;
        if (open_model(ref, &r)) { CHECK_MSG(0, "cannot open %s", ref); continue; }
        nb_quant_target tgt;
        CHECK_OK(nb_quant_target_parse(recipes[i], &tgt, &err), err);
        nb_quant_model_facts f;
        nb_quant_model_facts_get(&src.g, 0, &f);
        nb_quant_policy pol;
        nb_quant_policy_init(&pol, &tgt, 0, &f);
        uint64_t ours = 0, theirs = 0;
        for (uint64_t t = 0; t < src.g.n_tensors; t++) {
            const nb_gguf_tensor *x = &src.g.tensors[t];
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)x->name.len, x->name.ptr);
            nb_quant_choice c = nb_quant_policy_choose(&pol, name, x->n_dims, x->ne, x->type, -1);
            ours += nb_row_size(c.type, x->ne[0]) * (uint64_t)(nb_tensor_nelements(x) / x->ne[0]);
            theirs += r.g.tensors[t].nbytes;
        }
        CHECK_MSG(ours == theirs, "%s: %llu tensor bytes, llama.cpp %llu", recipes[i],
                  (unsigned long long)ours, (unsigned long long)theirs);
        close_model(&r);
    }

    nb_quant_params p;
    memset(&p, 0, sizeof p);
    CHECK_OK(nb_quant_target_parse("Q4_K_M", &p.target, &err), err);
    p.override_type = keep_all_but_block0;
    membuf a = {0}, b = {0};
    nb_quant_summary sum;
    p.n_threads = 1;
    CHECK_OK(nb_quantize_gguf(&src.g, &p, mem_write, &a, &sum, &err), err);
    CHECK(sum.n_quantized == 7);
    p.n_threads = 2;
    CHECK_OK(nb_quantize_gguf(&src.g, &p, mem_write, &b, NULL, &err), err);
    CHECK_MSG(a.len == b.len && !memcmp(a.p, b.p, a.len), "1 vs 2 threads differ");
    nb_gguf q;
    if (nb_gguf_parse(a.p, a.len, &q, &err) == NB_OK) {
        for (uint64_t t = 0; t < q.n_tensors; t++) {
            const nb_gguf_tensor *x = &src.g.tensors[t], *y = &q.tensors[t];
            if (x->type == y->type) continue;
            int64_t n = nb_tensor_nelements(x);
            float *f = malloc((size_t)n * sizeof(float));
            void *qq = malloc(y->nbytes);
            nb_dequantize_row(x->type, x->data, f, n, &err);
            nb_quantize_rows(y->type, f, qq, n / x->ne[0], x->ne[0], NULL, &err);
            CHECK_MSG(!memcmp(qq, y->data, y->nbytes), "%.*s: bytes differ", (int)y->name.len,
                      y->name.ptr);
            free(f);
            free(qq);
        }
        CHECK(nb_gguf_find_tensor(&q, "blk.0.attn_v.weight")->type == NB_TYPE_Q4_K);
        CHECK(nb_gguf_find_tensor(&q, "blk.0.attn_q.weight")->type == NB_TYPE_Q4_K);
        nb_model m;
        CHECK_OK(nb_model_load(&q, &m, &err), err);
        nb_ctx_params cp = {.n_ctx = 8};
        size_t sz = nb_ctx_size(&m, &cp);
        void *mem = malloc(sz);
        nb_ctx *ctx;
        float logits[512];
        const int32_t toks[] = {1, 403, 407};
        CHECK_OK(nb_ctx_init(&ctx, &m, &cp, mem, sz, &err), err);
        CHECK_OK(nb_decode(ctx, toks, 3, logits, &err), err);
        int finite = 1;
        for (int v = 0; v < 512; v++) finite &= isfinite(logits[v]);
        CHECK(finite);
        free(mem);
        nb_gguf_free(&q);
    }
    free(a.p);
    free(b.p);
    close_model(&src);
}

/* ------------------------------------------------------------ imatrix */

static void put_i32(membuf *m, int32_t v) { mem_write(m, &v, 4, &(nb_err){0}); }

static void t_imatrix_legacy(void) {
    membuf m = {0};
    put_i32(&m, 2);
    const char *names[] = {"blk.0.attn_q.weight", "blk.0.ffn_down.weight"};
    for (int e = 0; e < 2; e++) {
        put_i32(&m, (int32_t)strlen(names[e]));
        mem_write(&m, names[e], strlen(names[e]), &(nb_err){0});
        put_i32(&m, 10);          /* ncall */
        put_i32(&m, 4);           /* nval */
        for (int j = 0; j < 4; j++) {
            float v = 10.0f * (float)(j + 1 + e);
            mem_write(&m, &v, 4, &(nb_err){0});
        }
    }
    put_i32(&m, 7);
    put_i32(&m, 8);
    mem_write(&m, "wiki.txt", 8, &(nb_err){0});
    nb_imatrix im;
    nb_err err = {0};
    CHECK_OK(nb_imatrix_load(m.p, m.len, &im, &err), err);
    CHECK(im.n_entries == 2 && im.n_chunks == 7 && !strcmp(im.dataset, "wiki.txt"));
    const nb_imatrix_entry *e = nb_imatrix_find(&im, "blk.0.ffn_down.weight");
    CHECK(e && e->n == 4 && e->values[0] == 2.0f && e->values[3] == 5.0f);
    CHECK(nb_imatrix_find(&im, "nope") == NULL);
    nb_imatrix_free(&im);
    /* truncated at every length: an error, never a crash */
    for (size_t n = 0; n + 16 < m.len; n++) {
        nb_status s = nb_imatrix_load(m.p, n, &im, &err);
        if (s == NB_OK) nb_imatrix_free(&im);
        CHECK_MSG(s != NB_OK || n >= m.len - 16, "truncated at %zu accepted", n);
    }
    free(m.p);
}

static nb_status build_gguf_imatrix(membuf *m, const char *name, int64_t ne0, float count,
                                    nb_err *err) {
    nb_gguf_writer *w;
    nb_status s = nb_gguf_writer_new(&w, mem_write, m, NULL, err);
    if (s) return s;
    char n1[256], n2[256];
    snprintf(n1, sizeof n1, "%s.in_sum2", name);
    snprintf(n2, sizeof n2, "%s.counts", name);
    int64_t ne_s[2] = {ne0, 1}, ne_c[2] = {1, 1};
    nb_str ds = {"tinystories_val.txt", 19};
    s = nb_gguf_set_str(w, "general.type", "imatrix", err);
    if (!s) s = nb_gguf_set_arr_str(w, "imatrix.datasets", &ds, 1, err);
    if (!s) s = nb_gguf_set_u32(w, "imatrix.chunk_count", 3, err);
    if (!s) s = nb_gguf_set_u32(w, "imatrix.chunk_size", 512, err);
    if (!s) s = nb_gguf_add_tensor(w, n1, NB_TYPE_F32, 2, ne_s, err);
    if (!s) s = nb_gguf_add_tensor(w, n2, NB_TYPE_F32, 2, ne_c, err);
    if (!s) s = nb_gguf_writer_write_header(w, err);
    float *v = malloc((size_t)ne0 * sizeof(float));
    /* importance grows steeply along the row */
    for (int64_t j = 0; j < ne0; j++) v[j] = count * (float)((j % 64) * (j % 64) + 1);
    if (!s) s = nb_gguf_writer_write_data(w, v, (size_t)ne0 * sizeof(float), err);
    if (!s) s = nb_gguf_writer_write_data(w, &count, sizeof count, err);
    if (!s) s = nb_gguf_writer_finish(w, err);
    free(v);
    nb_gguf_writer_free(w);
    return s;
}

/* GGUF imatrix: values are in_sum2 / counts; the search uses them (the
 * weighted error drops), it is recorded in the metadata, and a size
 * mismatch is an error naming the tensor. */
static void t_imatrix_gguf_used(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    nb_err err = {0};
    membuf m = {0};
    CHECK_OK(build_gguf_imatrix(&m, "blk.0.ffn_gate.weight", 64, 4.0f, &err), err);
    nb_imatrix im;
    CHECK_OK(nb_imatrix_load(m.p, m.len, &im, &err), err);
    CHECK(im.n_entries == 1 && im.n_chunks == 3 && !strcmp(im.dataset, "tinystories_val.txt"));
    const nb_imatrix_entry *e = nb_imatrix_find(&im, "blk.0.ffn_gate.weight");
    CHECK(e && e->n == 64 && e->values[0] == 1.0f && e->values[10] == 101.0f);

    char path[512];
    snprintf(path, sizeof path, "%s/models/tinystories/stories260K.gguf", sh);
    model_file src;
    if (open_model(path, &src)) { CHECK_MSG(0, "cannot open %s", path); return; }
    nb_quant_params p;
    memset(&p, 0, sizeof p);
    CHECK_OK(nb_quant_target_parse("Q4_0", &p.target, &err), err);
    membuf with = {0}, without = {0};
    nb_quant_summary sum;
    CHECK_OK(nb_quantize_gguf(&src.g, &p, mem_write, &without, &sum, &err), err);
    p.imatrix = &im;
    p.imatrix_file = "test.imatrix";
    CHECK_OK(nb_quantize_gguf(&src.g, &p, mem_write, &with, &sum, &err), err);
    CHECK(sum.n_imatrix == 1);
    nb_gguf a, b;
    if (!nb_gguf_parse(with.p, with.len, &a, &err) && !nb_gguf_parse(without.p, without.len, &b, &err)) {
        nb_str f;
        CHECK(nb_gguf_get_str(&a, "quantize.imatrix.file", &f, &err) == NB_OK && nb_str_eq(f, "test.imatrix"));
        int32_t n;
        CHECK(nb_gguf_get_i32(&a, "quantize.imatrix.entries_count", &n, &err) == NB_OK && n == 1);
        const nb_gguf_tensor *ta = nb_gguf_find_tensor(&a, "blk.0.ffn_gate.weight");
        const nb_gguf_tensor *tb = nb_gguf_find_tensor(&b, "blk.0.ffn_gate.weight");
        const nb_gguf_tensor *x = nb_gguf_find_tensor(&src.g, "blk.0.ffn_gate.weight");
        int64_t nel = nb_tensor_nelements(x);
        float *ya = malloc((size_t)nel * 4), *yb = malloc((size_t)nel * 4);
        nb_dequantize_row(NB_TYPE_Q4_0, ta->data, ya, nel, &err);
        nb_dequantize_row(NB_TYPE_Q4_0, tb->data, yb, nel, &err);
        const float *xf = x->data;
        double wa = 0, wb = 0;
        for (int64_t i = 0; i < nel; i++) {
            double w = e->values[i % 64];
            wa += w * (xf[i] - ya[i]) * (xf[i] - ya[i]);
            wb += w * (xf[i] - yb[i]) * (xf[i] - yb[i]);
        }
        CHECK_MSG(wa < 0.99 * wb, "weighted error with imatrix %g, without %g", wa, wb);
        /* other tensors: unchanged */
        const nb_gguf_tensor *qa = nb_gguf_find_tensor(&a, "blk.0.attn_q.weight");
        const nb_gguf_tensor *qb = nb_gguf_find_tensor(&b, "blk.0.attn_q.weight");
        CHECK(!memcmp(qa->data, qb->data, qa->nbytes));
        free(ya);
        free(yb);
        nb_gguf_free(&a);
        nb_gguf_free(&b);
    }
    nb_imatrix_free(&im);
    free(m.p);
    /* wrong length for the tensor */
    m = (membuf){0};
    CHECK_OK(build_gguf_imatrix(&m, "blk.0.ffn_gate.weight", 128, 1.0f, &err), err);
    CHECK_OK(nb_imatrix_load(m.p, m.len, &im, &err), err);
    membuf bad = {0};
    CHECK(nb_quantize_gguf(&src.g, &p, mem_write, &bad, &sum, &err) == NB_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "blk.0.ffn_gate.weight") && strstr(err.msg, "128"), "%s", err.msg);
    nb_imatrix_free(&im);
    free(m.p);
    free(bad.p);
    free(with.p);
    free(without.p);
    close_model(&src);
}

/* ------------------------------------------- quality vs llama-quantize */

static double kld_of(const char *model, const char *base, const char *text, const char *opts) {
    char cmd[4096], out[512];
    snprintf(out, sizeof out, "%s/kld.txt", nb_test_tmp_dir());
    snprintf(cmd, sizeof cmd, "%s/nb-ppl -m %s --kld-base %s -f %s %s > %s 2>/dev/null",
             nb_test_bin_dir(), model, base, text, opts, out);
    if (nb_test_system(cmd) != 0) return -1;
    char *t = nb_test_slurp(out);
    const char *k = t ? strstr(t, "Mean KLD: ") : NULL;
    double v = k ? atof(k + 10) : -1;
    free(t);
    return v;
}

/* The claim of docs/quantizer.md on a slice of the text: nibble's file of
 * each legacy type has a lower KL divergence from the F32 model than
 * llama-quantize's file of the same type (same tensor types, same size). */
static void t_quality_beats_llama_cpp(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    const char *types[] = {"Q8_0", "Q5_0", "Q5_1", "Q4_0", "Q4_1"};
    char base[512], text[512];
    snprintf(base, sizeof base, "%s/models/tinystories/stories260K.gguf", sh);
    snprintf(text, sizeof text, "%s/models/text/tinystories_val.txt", sh);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char ours[512], ref[512], cmd[2048];
        snprintf(ours, sizeof ours, "%s/q-%s.gguf", nb_test_tmp_dir(), types[i]);
        snprintf(ref, sizeof ref, "%s/reference/stories260K/%s/model.gguf", sh, types[i]);
        snprintf(cmd, sizeof cmd, "%s/nb-quantize -q --force %s %s %s > /dev/null 2>&1",
                 nb_test_bin_dir(), base, ours, types[i]);
        CHECK(nb_test_system(cmd) == 0);
        size_t n_ours = 0, n_ref = 0;
        free(nb_test_read_file(ours, &n_ours));
        free(nb_test_read_file(ref, &n_ref));
        CHECK_MSG(n_ours == n_ref, "%s: %zu bytes, llama.cpp's %zu", types[i], n_ours, n_ref);
        double k_ours = kld_of(ours, base, text, "-c 128 --chunks 8");
        double k_ref = kld_of(ref, base, text, "-c 128 --chunks 8");
        printf("  %s: KLD nibble %.6f, llama.cpp %.6f\n", types[i], k_ours, k_ref);
        CHECK_MSG(k_ours >= 0 && k_ref > 0 && k_ours < k_ref, "%s: KLD %g vs llama.cpp %g",
                  types[i], k_ours, k_ref);
        remove(ours);
    }
}

/* ---------------------------------------------------- failure cases */

static int cancel_at_third(void *user, const nb_quant_status *s) {
    (void)user;
    return s->i_tensor == 2;
}

static void t_lib_failures(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char path[512];
    snprintf(path, sizeof path, "%s/models/tinystories/stories260K.gguf", sh);
    model_file src;
    if (open_model(path, &src)) { CHECK_MSG(0, "cannot open %s", path); return; }
    nb_err err = {0};
    nb_quant_params p;
    memset(&p, 0, sizeof p);
    CHECK_OK(nb_quant_target_parse("Q8_0", &p.target, &err), err);
    /* disk full in the header and in the middle of the data */
    size_t fails[] = {100, 200000};
    for (int i = 0; i < 2; i++) {
        membuf m = {.fail_after = fails[i]};
        CHECK(nb_quantize_gguf(&src.g, &p, mem_write, &m, NULL, &err) == NB_ERR_IO);
        CHECK_MSG(strstr(err.msg, "No space left"), "%s", err.msg);
        free(m.p);
    }
    /* cancelled by the progress callback */
    membuf m = {0};
    p.progress = cancel_at_third;
    CHECK(nb_quantize_gguf(&src.g, &p, mem_write, &m, NULL, &err) == NB_ERR_CANCELLED);
    free(m.p);
    close_model(&src);

    /* quantized input without allow_requantize */
    snprintf(path, sizeof path, "%s/reference/stories260K/Q8_0/model.gguf", sh);
    if (!open_model(path, &src)) {
        m = (membuf){0};
        p.progress = NULL;
        CHECK_OK(nb_quant_target_parse("Q4_0", &p.target, &err), err);
        CHECK(nb_quantize_gguf(&src.g, &p, mem_write, &m, NULL, &err) == NB_ERR_UNSUPPORTED);
        CHECK_MSG(strstr(err.msg, "already quantized"), "%s", err.msg);
        free(m.p);
        m = (membuf){0};
        p.allow_requantize = 1;
        CHECK_OK(nb_quantize_gguf(&src.g, &p, mem_write, &m, NULL, &err), err);
        free(m.p);
        close_model(&src);
    }
}

static void t_tool(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    const char *bin = nb_test_bin_dir(), *tmp = nb_test_tmp_dir();
    char in[512], out[512], cmd[4096], log[512];
    snprintf(in, sizeof in, "%s/models/tinystories/stories260K.gguf", sh);
    snprintf(out, sizeof out, "%s/out.gguf", tmp);
    snprintf(log, sizeof log, "%s/log.txt", tmp);
    remove(out);

    /* success: report lines, summary, and nb-run runs the file */
    snprintf(cmd, sizeof cmd, "%s/nb-quantize %s %s Q4_K_M 2 > %s 2>&1", bin, in, out, log);
    CHECK(nb_test_system(cmd) == 0);
    char *t = nb_test_slurp(log);
    CHECK_MSG(t && strstr(t, "blk.0.ffn_down.weight") && strstr(t, "rel RMSE") &&
                  strstr(t, "fallback Q4_K -> Q5_0") && strstr(t, "bits per weight") &&
                  strstr(t, "time:"),
              "log: %.600s", t ? t : "");
    free(t);
    snprintf(cmd, sizeof cmd, "%s/nb-run -m %s -p 'Once upon a time' -n 8 --temp 0 > %s 2>&1", bin, out, log);
    CHECK(nb_test_system(cmd) == 0);

    struct { const char *args; int rc; const char *msg; } bad[] = {
        {"%s %s Q4_Z", 2, "unknown quantization type 'Q4_Z'"},
        {"%s %s Q4_0 0", 2, "THREADS"},
        {"--bogus %s %s Q4_0", 2, "unknown option"},
        {"%s %s", 2, "need IN.gguf OUT.gguf TYPE"},
        {"--tensor-type attn_v Q4_0 %s %s", 2, "REGEX=TYPE"},
        {"--tensor-type attn_v=Q9 %s %s Q4_0", 2, "unknown tensor type"},
        {"--tensor-type '(=Q8_0' %s %s Q4_0", 2, "bad regex"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char args[1024];
        remove(out);
        snprintf(args, sizeof args, bad[i].args, in, out);
        snprintf(cmd, sizeof cmd, "%s/nb-quantize %s > %s 2>&1", bin, args, log);
        CHECK_MSG(nb_test_system(cmd) == bad[i].rc, "%s", args);
        t = nb_test_slurp(log);
        CHECK_MSG(t && strstr(t, bad[i].msg), "%s: %.300s", args, t ? t : "");
        free(t);
        CHECK_MSG(!file_exists(out), "%s left an output", args);
    }

    /* input not a GGUF */
    char notg[512];
    snprintf(notg, sizeof notg, "%s/not.gguf", tmp);
    nb_test_write_file(notg, "hello, I am text\n", 17);
    snprintf(cmd, sizeof cmd, "%s/nb-quantize %s %s Q4_0 > %s 2>&1", bin, notg, out, log);
    CHECK(nb_test_system(cmd) == 1);
    t = nb_test_slurp(log);
    CHECK_MSG(t && strstr(t, "not a valid GGUF"), "%.300s", t ? t : "");
    free(t);
    CHECK(!file_exists(out));

    /* missing input, output directory missing */
    snprintf(cmd, sizeof cmd, "%s/nb-quantize %s/nope.gguf %s Q4_0 > %s 2>&1", bin, tmp, out, log);
    CHECK(nb_test_system(cmd) == 1);
    CHECK(!file_exists(out));
    snprintf(cmd, sizeof cmd, "%s/nb-quantize %s %s/no/such/dir/x.gguf Q4_0 > %s 2>&1", bin, in, tmp, log);
    CHECK(nb_test_system(cmd) == 1);

    /* existing output: refused and untouched; --force replaces it */
    nb_test_write_file(out, "keep me", 7);
    snprintf(cmd, sizeof cmd, "%s/nb-quantize %s %s Q4_0 > %s 2>&1", bin, in, out, log);
    CHECK(nb_test_system(cmd) == 1);
    t = nb_test_slurp(log);
    CHECK_MSG(t && strstr(t, "exists"), "%.300s", t ? t : "");
    free(t);
    t = nb_test_slurp(out);
    CHECK(t && !strcmp(t, "keep me"));
    free(t);
    snprintf(cmd, sizeof cmd, "%s/nb-quantize --force -q %s %s Q8_0 > %s 2>&1", bin, in, out, log);
    CHECK(nb_test_system(cmd) == 0);
    size_t n;
    t = nb_test_read_file(out, &n);
    CHECK(t && n > 4 && !memcmp(t, "GGUF", 4));
    free(t);

    /* output is the input (even with --force): refused */
    char copy[512];
    snprintf(copy, sizeof copy, "%s/copy.gguf", tmp);
    snprintf(cmd, sizeof cmd, "cp %s %s && %s/nb-quantize --force %s %s Q4_0 > %s 2>&1", in, copy, bin, copy, copy, log);
    CHECK(nb_test_system(cmd) == 1);
    t = nb_test_slurp(log);
    CHECK_MSG(t && strstr(t, "same file as the input"), "%.300s", t ? t : "");
    free(t);

    /* requantizing needs the flag */
    snprintf(cmd, sizeof cmd, "%s/nb-quantize --force %s %s Q4_0 > %s 2>&1", bin, out, copy, log);
    CHECK(nb_test_system(cmd) == 1);
    t = nb_test_slurp(log);
    CHECK_MSG(t && strstr(t, "already quantized"), "%.300s", t ? t : "");
    free(t);

    /* overrides: regex and output type */
    snprintf(cmd, sizeof cmd,
             "%s/nb-quantize --force --tensor-type 'attn_(q|k)\\.weight=Q8_0' --output-tensor-type F16 %s %s Q4_0 > %s 2>&1",
             bin, in, out, log);
    CHECK(nb_test_system(cmd) == 0);
    model_file q;
    if (!open_model(out, &q)) {
        CHECK(nb_gguf_find_tensor(&q.g, "blk.3.attn_q.weight")->type == NB_TYPE_Q8_0);
        CHECK(nb_gguf_find_tensor(&q.g, "blk.3.attn_k.weight")->type == NB_TYPE_Q8_0);
        CHECK(nb_gguf_find_tensor(&q.g, "blk.3.attn_v.weight")->type == NB_TYPE_Q4_0);
        CHECK(nb_gguf_find_tensor(&q.g, "output.weight")->type == NB_TYPE_F16);
        close_model(&q);
    }

    /* SIGINT half way: no output, no temporary file */
    remove(out);
    snprintf(cmd, sizeof cmd,
             "%s/nb-quantize %s/reference/synth-llama/F16/model.gguf %s Q6_K 1 > %s 2>&1 & "
             "pid=$!; sleep 0.3; kill -INT $pid; wait $pid", bin, sh, out, log);
    int rc = nb_test_system(cmd);
    if (rc == 0) {
        /* finished before the signal came: still a complete file */
        model_file z;
        CHECK(open_model(out, &z) == 0);
        close_model(&z);
    } else {
        CHECK(!file_exists(out));
        t = nb_test_slurp(log);
        CHECK_MSG(t && strstr(t, "cancelled"), "%.300s", t ? t : "");
        free(t);
    }
    CHECK(no_temp_files());
}

int main(void) {
    RUN(t_recipes_match_llama_cpp);
    RUN(t_recipe_rules);
    RUN(t_fallbacks_and_overrides);
    RUN(t_round_trip_stories);
    RUN(t_round_trip_kquants);
    RUN(t_quality_beats_llama_cpp);
    RUN(t_imatrix_legacy);
    RUN(t_imatrix_gguf_used);
    RUN(t_lib_failures);
    RUN(t_tool);
    return nb_test_done();
}
