/* nb-convert: Hugging Face checkpoints to GGUF.
 *
 * Differential: ../shared/models/derived/hf/stories260K-hf-{f32,f16} (HF
 * q/k row order, no lm_head) must give back the tensors of
 * tinystories/stories260K.gguf bit for bit (F32) or F16-rounded, and the
 * converted file must reproduce llama.cpp's logits and greedy tokens of the
 * reference. One-pass quantization must equal convert + nb-quantize.
 * Other families: each synthetic reference model (qwen2, qwen3, gemma2,
 * gemma3, phi3, llama) is written out as an HF checkpoint here (HF names,
 * gemma norms - 1, llama q/k rows in rotate-half order) and converted
 * back: every tensor and the logits must be identical. CLI errors leave no
 * output file. */
#include "harness.h"
#include "support_reference.h"
#include "convert/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct membuf {
    uint8_t *p;
    size_t n, cap;
} membuf;

static nb_status mem_write(void *user, const void *data, size_t size, nb_err *err) {
    membuf *b = user;
    (void)err;
    if (b->n + size > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1 << 16;
        while (cap < b->n + size) cap *= 2;
        b->p = realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, size);
    b->n += size;
    return NB_OK;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Convert dir with the given target into memory; 0 on success. */
static int convert(const char *dir, const char *target, const char *vocab_from, membuf *out,
                   nb_err *err) {
    nb_convert_params p;
    memset(&p, 0, sizeof p);
    p.hf_dir = dir;
    p.vocab_from = vocab_from;
    p.quant.n_threads = 1;
    if (nb_quant_target_parse(target, &p.quant.target, err)) return -1;
    memset(out, 0, sizeof *out);
    return nb_convert_hf(&p, mem_write, out, NULL, err) == NB_OK ? 0 : -1;
}

static int save(const char *path, const membuf *b) {
    return nb_test_write_file(path, b->p, b->n);
}

/* ------------------------------------------------------ stories260K */

/* stories260K-hf-<variant> converted to `target` (vocabulary from the
 * original GGUF), both files parsed: *a the conversion, *b the original.
 * 0 on success; the caller frees out->p, *rbytes and both parses. */
static int convert_stories(const char *sh, const char *variant, const char *target, membuf *out,
                           void **rbytes, nb_gguf *a, nb_gguf *b) {
    char dir[512], ref_path[512];
    snprintf(dir, sizeof dir, "%s/models/derived/hf/stories260K-hf-%s", sh, variant);
    snprintf(ref_path, sizeof ref_path, "%s/models/tinystories/stories260K.gguf", sh);
    nb_err err = {0};
    CHECK_MSG(convert(dir, target, ref_path, out, &err) == 0, "convert: %s", err.msg);
    if (nb_test_failed()) return -1;
    size_t rsize;
    *rbytes = nb_test_read_file(ref_path, &rsize);
    CHECK_OK(nb_gguf_parse(out->p, out->n, a, &err), err);
    CHECK_OK(nb_gguf_parse(*rbytes, rsize, b, &err), err);
    if (nb_test_failed()) {
        free(out->p);
        free(*rbytes);
        return -1;
    }
    return 0;
}

static void t_stories_f32_bit_exact(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    membuf out;
    void *rbytes;
    nb_gguf a, b;
    if (convert_stories(sh, "f32", "F32", &out, &rbytes, &a, &b)) return;
    /* every tensor of the original, under the same name, bit for bit; the
     * original's output.weight is a copy of the embedding, which the HF
     * checkpoint ties (no lm_head), so the converted file has none */
    int compared = 0;
    for (uint64_t i = 0; i < b.n_tensors; i++) {
        const nb_gguf_tensor *t = &b.tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        const nb_gguf_tensor *u = nb_gguf_find_tensor(&a, strcmp(name, "output.weight") ? name : "token_embd.weight");
        CHECK_MSG(u != NULL, "converted file lacks %s", name);
        if (!u) continue;
        CHECK_MSG(u->type == NB_TYPE_F32 && u->n_dims == t->n_dims && u->ne[0] == t->ne[0] &&
                      u->ne[1] == t->ne[1] && u->nbytes == t->nbytes,
                  "%s: type/shape differ", name);
        CHECK_MSG(u->nbytes == t->nbytes && !memcmp(u->data, t->data, t->nbytes), "%s: bytes differ", name);
        compared++;
    }
    CHECK_MSG(compared == 48, "compared %d tensors", compared);
    CHECK(nb_gguf_find_tensor(&a, "output.weight") == NULL);
    CHECK(a.n_tensors == 47);
    /* metadata llama.cpp reads */
    uint32_t u32;
    float f;
    nb_str s;
    CHECK(nb_gguf_get_str(&a, "general.architecture", &s, NULL) == NB_OK && nb_str_eq(s, "llama"));
    CHECK(nb_gguf_get_u32(&a, "llama.block_count", &u32, NULL) == NB_OK && u32 == 5);
    CHECK(nb_gguf_get_u32(&a, "llama.attention.head_count_kv", &u32, NULL) == NB_OK && u32 == 4);
    CHECK(nb_gguf_get_u32(&a, "llama.rope.dimension_count", &u32, NULL) == NB_OK && u32 == 8);
    CHECK(nb_gguf_get_u32(&a, "general.file_type", &u32, NULL) == NB_OK && u32 == 0);
    CHECK(nb_gguf_get_f32(&a, "llama.attention.layer_norm_rms_epsilon", &f, NULL) == NB_OK && f == 1e-5f);
    CHECK(nb_gguf_get_u32(&a, "tokenizer.ggml.bos_token_id", &u32, NULL) == NB_OK && u32 == 1);
    nb_gguf_free(&a);
    nb_gguf_free(&b);
    free(rbytes);

    /* and llama.cpp's logits and greedy tokens */
    char path[600], ref[600];
    snprintf(path, sizeof path, "%s/stories-f32.gguf", nb_test_tmp_dir());
    CHECK(save(path, &out) == 0);
    free(out.p);
    snprintf(ref, sizeof ref, "%s/reference/stories260K/F32-kvf32", sh);
    nb_ctx_params cp = {.n_ctx = 256, .kv_f32 = 1, .float_path = 1};
    nb_ref_result r = nb_ref_check_dir(path, ref, 1e-4, 1e-3, cp, "converted stories260K F32");
    CHECK(r.ran);
}

static void t_stories_f16(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    membuf out;
    void *rbytes;
    nb_gguf a, b;
    if (convert_stories(sh, "f16", "F16", &out, &rbytes, &a, &b)) return;
    /* 2-D weights F16 = the original rounded to nearest even; 1-D norms
     * F32 holding the F16-rounded values (the checkpoint's precision) */
    int compared = 0;
    for (uint64_t i = 0; i < b.n_tensors; i++) {
        const nb_gguf_tensor *t = &b.tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        if (!strcmp(name, "output.weight")) continue;
        const nb_gguf_tensor *u = nb_gguf_find_tensor(&a, name);
        CHECK_MSG(u != NULL, "converted file lacks %s", name);
        if (!u) continue;
        const float *x = t->data;
        int64_t n = nb_tensor_nelements(t), bad = 0;
        if (t->n_dims == 2) {
            CHECK_MSG(u->type == NB_TYPE_F16, "%s: type %u", name, u->type);
            const uint8_t *y = u->data;
            for (int64_t k = 0; k < n && u->type == NB_TYPE_F16; k++)
                bad += nb_f32_to_fp16(x[k]) != (uint16_t)(y[2 * k] | (y[2 * k + 1] << 8));
        } else {
            CHECK_MSG(u->type == NB_TYPE_F32, "%s: type %u", name, u->type);
            const float *y = u->data;
            for (int64_t k = 0; k < n && u->type == NB_TYPE_F32; k++)
                bad += nb_fp16_to_f32(nb_f32_to_fp16(x[k])) != y[k];
        }
        CHECK_MSG(bad == 0, "%s: %lld values differ from the F16-rounded original", name, (long long)bad);
        compared++;
    }
    CHECK(compared == 47);
    uint32_t ft;
    CHECK(nb_gguf_get_u32(&a, "general.file_type", &ft, NULL) == NB_OK && ft == 1);
    nb_gguf_free(&a);
    nb_gguf_free(&b);
    free(rbytes);
    /* F16 weights: llama.cpp's F32 logits within F16 rounding, same greedy
     * text up to the first near tie */
    char path[600], ref[600];
    snprintf(path, sizeof path, "%s/stories-f16.gguf", nb_test_tmp_dir());
    CHECK(save(path, &out) == 0);
    free(out.p);
    snprintf(ref, sizeof ref, "%s/reference/stories260K/F32-kvf32", sh);
    nb_ctx_params cp = {.n_ctx = 256, .kv_f32 = 1, .float_path = 1};
    nb_ref_result r = nb_ref_check_dir(path, ref, 2e-2, 0.1, cp, "converted stories260K F16");
    CHECK(r.ran && r.matched >= 16);
}

/* One pass (convert + quantize) = convert to F32, then nb_quantize_gguf. */
static void t_one_pass_quantize(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char dir[512], vocab[512];
    snprintf(dir, sizeof dir, "%s/models/derived/hf/stories260K-hf-f32", sh);
    snprintf(vocab, sizeof vocab, "%s/models/tinystories/stories260K.gguf", sh);
    const char *targets[] = {"Q8_0", "Q4_0", "Q4_K_M", "BF16"};
    nb_err err = {0};
    membuf f32;
    CHECK_MSG(convert(dir, "F32", vocab, &f32, &err) == 0, "convert: %s", err.msg);
    if (nb_test_failed()) return;
    nb_gguf g;
    CHECK_OK(nb_gguf_parse(f32.p, f32.n, &g, &err), err);
    for (int i = 0; i < 4 && !nb_test_failed(); i++) {
        membuf one, two;
        CHECK_MSG(convert(dir, targets[i], vocab, &one, &err) == 0, "%s: %s", targets[i], err.msg);
        nb_quant_params p;
        memset(&p, 0, sizeof p);
        p.n_threads = 1;
        CHECK_OK(nb_quant_target_parse(targets[i], &p.target, &err), err);
        memset(&two, 0, sizeof two);
        CHECK_OK(nb_quantize_gguf(&g, &p, mem_write, &two, NULL, &err), err);
        CHECK_MSG(one.n == two.n && !memcmp(one.p, two.p, one.n),
                  "%s: one pass (%zu bytes) differs from convert + quantize (%zu bytes)", targets[i],
                  one.n, two.n);
        free(one.p);
        free(two.p);
    }
    nb_gguf_free(&g);
    free(f32.p);
}

/* ------------------------------------------- synthetic HF checkpoints */

typedef struct st_entry {
    char name[128];
    const char *dtype;
    int n_dims;
    int64_t shape[2];
    uint8_t *data;
    size_t nbytes;
} st_entry;

static int write_safetensors(const char *path, st_entry *e, int n) {
    char *hdr = malloc(1 << 20);
    size_t h = 0, off = 0;
    h += (size_t)sprintf(hdr + h, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        h += (size_t)sprintf(hdr + h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", e[i].name, e[i].dtype);
        for (int d = 0; d < e[i].n_dims; d++)
            h += (size_t)sprintf(hdr + h, "%s%lld", d ? "," : "", (long long)e[i].shape[d]);
        h += (size_t)sprintf(hdr + h, "],\"data_offsets\":[%zu,%zu]}", off, off + e[i].nbytes);
        off += e[i].nbytes;
    }
    hdr[h++] = '}';
    while (h % 8) hdr[h++] = ' '; /* as the reference writer pads */
    FILE *f = fopen(path, "wb");
    if (!f) { free(hdr); return -1; }
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)h >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(hdr, 1, h, f);
    for (int i = 0; i < n; i++) fwrite(e[i].data, 1, e[i].nbytes, f);
    free(hdr);
    return fclose(f) ? -1 : 0;
}

typedef struct hf_arch {
    const char *model, *arch, *hf;
    int gemma, permute, phi3;
} hf_arch;

static const hf_arch hf_archs[] = {
    {"synth-llama", "llama", "LlamaForCausalLM", 0, 1, 0},
    {"synth-qwen2", "qwen2", "Qwen2ForCausalLM", 0, 0, 0},
    {"synth-qwen3", "qwen3", "Qwen3ForCausalLM", 0, 0, 0},
    {"synth-gemma2", "gemma2", "Gemma2ForCausalLM", 1, 0, 0},
    {"synth-gemma3", "gemma3", "Gemma3ForCausalLM", 1, 0, 0},
    {"synth-phi3", "phi3", "Phi3ForCausalLM", 0, 0, 1},
};

/* GGUF tensor name -> HF name (the inverse of the converter's table,
 * written out separately here). */
static int hf_name(const hf_arch *a, const char *g, char *out, size_t n) {
    static const char *const pairs[][2] = {
        {"attn_norm.weight", "input_layernorm.weight"},
        {"attn_q.weight", "self_attn.q_proj.weight"}, {"attn_k.weight", "self_attn.k_proj.weight"},
        {"attn_v.weight", "self_attn.v_proj.weight"}, {"attn_q.bias", "self_attn.q_proj.bias"},
        {"attn_k.bias", "self_attn.k_proj.bias"}, {"attn_v.bias", "self_attn.v_proj.bias"},
        {"attn_qkv.weight", "self_attn.qkv_proj.weight"},
        {"attn_q_norm.weight", "self_attn.q_norm.weight"},
        {"attn_k_norm.weight", "self_attn.k_norm.weight"},
        {"attn_output.weight", "self_attn.o_proj.weight"},
        {"post_attention_norm.weight", "post_attention_layernorm.weight"},
        {"post_ffw_norm.weight", "post_feedforward_layernorm.weight"},
        {"ffn_gate.weight", "mlp.gate_proj.weight"}, {"ffn_down.weight", "mlp.down_proj.weight"},
    };
    if (!strcmp(g, "token_embd.weight")) return snprintf(out, n, "model.embed_tokens.weight"), 0;
    if (!strcmp(g, "output_norm.weight")) return snprintf(out, n, "model.norm.weight"), 0;
    if (!strcmp(g, "output.weight")) return snprintf(out, n, "lm_head.weight"), 0;
    int l, k;
    if (sscanf(g, "blk.%d.%n", &l, &k) != 1) return -1;
    const char *tail = g + k, *hf = NULL;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (!strcmp(tail, pairs[i][0])) hf = pairs[i][1];
    if (!strcmp(tail, "ffn_norm.weight"))
        hf = a->gemma ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight";
    if (!strcmp(tail, "ffn_up.weight")) hf = a->phi3 ? "mlp.gate_up_proj.weight" : "mlp.up_proj.weight";
    if (!hf) return -1;
    snprintf(out, n, "model.layers.%d.%s", l, hf);
    return 0;
}

static int64_t key_i(const nb_gguf *g, const char *arch, const char *k) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, k);
    int64_t v = -1;
    const nb_gguf_kv *kv = nb_gguf_find_key(g, key);
    if (kv) nb_gguf_kv_i64(kv, &v, NULL);
    return v;
}

static double key_f(const nb_gguf *g, const char *arch, const char *k) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, k);
    float v = NAN;
    nb_gguf_get_f32(g, key, &v, NULL);
    return v;
}

/* Write model.gguf of a reference dir as an HF folder. */
/* extra: more config members (",\n  \"k\": v"); cond: as a Gemma 3
 * multimodal checkpoint (language_model. prefix, text_config, a vision
 * tensor the converter must skip) */
static int export_hf(const hf_arch *a, const nb_gguf *g, const char *dir, const char *extra, int cond) {
    char path[700];
    st_entry *e = calloc(g->n_tensors + 1, sizeof *e);
    int n = 0;
    int64_t n_head = key_i(g, a->arch, "attention.head_count"),
            n_kv = key_i(g, a->arch, "attention.head_count_kv");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const nb_gguf_tensor *t = &g->tensors[i];
        char gname[128];
        snprintf(gname, sizeof gname, "%.*s", (int)t->name.len, t->name.ptr);
        st_entry *x = &e[n++];
        char hn[96];
        if (hf_name(a, gname, hn, sizeof hn)) return -1;
        snprintf(x->name, sizeof x->name, "%s%s", cond ? "language_model." : "", hn);
        x->dtype = t->type == NB_TYPE_F16 ? "F16" : "F32";
        x->n_dims = (int)t->n_dims;
        x->shape[0] = t->n_dims == 2 ? t->ne[1] : t->ne[0];
        x->shape[1] = t->ne[0];
        x->nbytes = t->nbytes;
        x->data = malloc(t->nbytes);
        memcpy(x->data, t->data, t->nbytes);
        size_t len = strlen(gname);
        if (a->gemma && len > 11 && !strcmp(gname + len - 11, "norm.weight")) {
            float *v = (float *)x->data; /* HF: x * (1 + w) */
            for (int64_t k = 0; k < t->ne[0]; k++) v[k] -= 1.0f;
        }
        int perm = !a->permute ? 0 : strstr(gname, "attn_q.weight") ? (int)n_head
                                   : strstr(gname, "attn_k.weight") ? (int)n_kv : 0;
        if (perm) { /* HF row (h, j, i) <- GGUF row (h, 2i + j) */
            size_t rb = (size_t)t->ne[0] * (t->type == NB_TYPE_F16 ? 2 : 4);
            int64_t rows = t->ne[1], hd = rows / perm;
            for (int64_t r = 0; r < rows; r++) {
                int64_t h = r / hd, k = r % hd, j = k / (hd / 2), ii = k % (hd / 2);
                memcpy(x->data + (size_t)r * rb, (const uint8_t *)t->data + (size_t)(h * hd + 2 * ii + j) * rb, rb);
            }
        }
    }
    static uint8_t vision[16];
    if (cond) {
        st_entry *x = &e[n++];
        snprintf(x->name, sizeof x->name, "vision_tower.vision_model.embeddings.patch_embedding.weight");
        x->dtype = "F32";
        x->n_dims = 2;
        x->shape[0] = x->shape[1] = 2;
        x->nbytes = 16;
        x->data = malloc(16);
        memcpy(x->data, vision, 16);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int rc = write_safetensors(path, e, n);
    for (int i = 0; i < n; i++) free(e[i].data);
    free(e);
    if (rc) return rc;
    char cfg[4096];
    int c = snprintf(cfg, sizeof cfg,
                     "{\n  \"architectures\": [\"%s\"],%s\n  \"hidden_size\": %lld,\n"
                     "  \"num_hidden_layers\": %lld,\n  \"intermediate_size\": %lld,\n"
                     "  \"num_attention_heads\": %lld,\n  \"num_key_value_heads\": %lld,\n"
                     "  \"max_position_embeddings\": %lld,\n  \"rms_norm_eps\": %.9g,\n"
                     "  \"rope_theta\": %.1f,\n  \"vocab_size\": %lld,\n"
                     "  \"tie_word_embeddings\": %s",
                     cond ? "Gemma3ForConditionalGeneration" : a->hf,
                     cond ? "\n  \"vision_config\": {\"hidden_size\": 8},\n  \"text_config\": {" : "",
                     (long long)key_i(g, a->arch, "embedding_length"),
                     (long long)key_i(g, a->arch, "block_count"),
                     (long long)key_i(g, a->arch, "feed_forward_length"), (long long)n_head,
                     (long long)n_kv, (long long)key_i(g, a->arch, "context_length"),
                     key_f(g, a->arch, "attention.layer_norm_rms_epsilon"),
                     key_f(g, a->arch, "rope.freq_base"), (long long)key_i(g, a->arch, "vocab_size"),
                     nb_gguf_find_tensor(g, "output.weight") ? "false" : "true");
    int64_t hd = key_i(g, a->arch, "attention.key_length");
    if (hd > 0) c += snprintf(cfg + c, sizeof cfg - (size_t)c, ",\n  \"head_dim\": %lld", (long long)hd);
    int64_t swa = key_i(g, a->arch, "attention.sliding_window");
    if (swa > 0) c += snprintf(cfg + c, sizeof cfg - (size_t)c, ",\n  \"sliding_window\": %lld", (long long)swa);
    double cap = key_f(g, a->arch, "attn_logit_softcapping");
    if (!isnan(cap)) c += snprintf(cfg + c, sizeof cfg - (size_t)c, ",\n  \"attn_logit_softcapping\": %.9g", cap);
    cap = key_f(g, a->arch, "final_logit_softcapping");
    if (!isnan(cap)) c += snprintf(cfg + c, sizeof cfg - (size_t)c, ",\n  \"final_logit_softcapping\": %.9g", cap);
    snprintf(cfg + c, sizeof cfg - (size_t)c, "%s\n}%s\n", extra ? extra : "", cond ? "}" : "");
    snprintf(path, sizeof path, "%s/config.json", dir);
    return nb_test_write_file(path, cfg, strlen(cfg));
}

/* logits of the prompt "Once upon a time" (ids 1 403 407 261 378) */
static int run_logits(const nb_gguf *g, float *out, nb_err *err) {
    nb_model m;
    if (nb_model_load(g, &m, err)) return -1;
    nb_ctx_params cp = {.n_ctx = 64, .n_threads = 1};
    size_t sz = nb_ctx_size(&m, &cp);
    void *mem = malloc(sz);
    nb_ctx *ctx;
    int rc = -1;
    const int32_t toks[5] = {1, 403, 407, 261, 378};
    if (!nb_ctx_init(&ctx, &m, &cp, mem, sz, err) && !nb_decode(ctx, toks, 5, out, err)) rc = 0;
    free(mem);
    return rc;
}

static void t_families_round_trip(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    for (size_t ai = 0; ai < sizeof hf_archs / sizeof hf_archs[0]; ai++) {
        const hf_arch *a = &hf_archs[ai];
        char src[600], dir[600];
        snprintf(src, sizeof src, "%s/reference/%s/F16/model.gguf", sh, a->model);
        snprintf(dir, sizeof dir, "%s/hf-%s", nb_test_tmp_dir(), a->arch);
        if (!exists(src)) { CHECK_MSG(0, "missing %s", src); continue; }
        mkdir(dir, 0755);
        size_t size;
        void *bytes = nb_test_read_file(src, &size);
        nb_gguf g;
        nb_err err = {0};
        CHECK_OK(nb_gguf_parse(bytes, size, &g, &err), err);
        if (nb_test_failed()) { free(bytes); return; }
        CHECK_MSG(export_hf(a, &g, dir, NULL, 0) == 0, "%s: cannot write the HF folder", a->model);
        membuf out;
        CHECK_MSG(convert(dir, "F16", src, &out, &err) == 0, "%s: %s", a->model, err.msg);
        if (nb_test_failed()) { nb_gguf_free(&g); free(bytes); return; }
        nb_gguf c;
        CHECK_OK(nb_gguf_parse(out.p, out.n, &c, &err), err);
        CHECK_MSG(c.n_tensors == g.n_tensors, "%s: %llu tensors, original %llu", a->model,
                  (unsigned long long)c.n_tensors, (unsigned long long)g.n_tensors);
        int same = 0;
        for (uint64_t i = 0; i < g.n_tensors; i++) {
            const nb_gguf_tensor *t = &g.tensors[i];
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
            const nb_gguf_tensor *u = nb_gguf_find_tensor(&c, name);
            CHECK_MSG(u && u->type == t->type && u->nbytes == t->nbytes && !memcmp(u->data, t->data, t->nbytes),
                      "%s: tensor %s differs", a->model, name);
            same += u && u->nbytes == t->nbytes && !memcmp(u->data, t->data, t->nbytes);
        }
        /* the model function: logits bit-identical */
        nb_model m0;
        CHECK_OK(nb_model_load(&c, &m0, &err), err);
        int64_t nv = m0.hp.n_vocab;
        float *l0 = malloc((size_t)nv * sizeof(float)), *l1 = malloc((size_t)nv * sizeof(float));
        CHECK_MSG(run_logits(&g, l0, &err) == 0, "%s original: %s", a->model, err.msg);
        CHECK_MSG(run_logits(&c, l1, &err) == 0, "%s converted: %s", a->model, err.msg);
        CHECK_MSG(!memcmp(l0, l1, (size_t)nv * sizeof(float)), "%s: logits differ", a->model);
        printf("  %-13s %3d/%llu tensors identical, logits identical: %s\n", a->model, same,
               (unsigned long long)g.n_tensors, memcmp(l0, l1, (size_t)nv * sizeof(float)) ? "no" : "yes");
        free(l0);
        free(l1);
        nb_gguf_free(&c);
        nb_gguf_free(&g);
        free(out.p);
        free(bytes);
    }
}



/* Config variants: Gemma 3 as a multimodal checkpoint (text part only),
 * Llama 3 rope scaling (rope_freqs.weight), Phi-3 longrope factors. */
static void t_config_variants(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    struct { const hf_arch *a; const char *extra; int cond; } v[3] = {
        {&hf_archs[4], NULL, 1},
        {&hf_archs[0],
         ",\n  \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 32.0, \"low_freq_factor\": 1.0,"
         " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}", 0},
        {&hf_archs[5], NULL, 0},
    };
    char phi_extra[2048];
    int c = snprintf(phi_extra, sizeof phi_extra,
                     ",\n  \"original_max_position_embeddings\": 64,\n  \"rope_scaling\": {\"type\": \"longrope\", \"long_factor\": [");
    for (int i = 0; i < 32; i++) c += snprintf(phi_extra + c, sizeof phi_extra - (size_t)c, "%s%g", i ? ", " : "", 1.0 + i * 0.25);
    c += snprintf(phi_extra + c, sizeof phi_extra - (size_t)c, "], \"short_factor\": [");
    for (int i = 0; i < 32; i++) c += snprintf(phi_extra + c, sizeof phi_extra - (size_t)c, "%s%g", i ? ", " : "", 1.0 + i * 0.01);
    snprintf(phi_extra + c, sizeof phi_extra - (size_t)c, "]}");
    v[2].extra = phi_extra;
    for (int k = 0; k < 3; k++) {
        const hf_arch *a = v[k].a;
        char src[600], dir[600];
        snprintf(src, sizeof src, "%s/reference/%s/F16/model.gguf", sh, a->model);
        snprintf(dir, sizeof dir, "%s/variant-%d", nb_test_tmp_dir(), k);
        mkdir(dir, 0755);
        size_t size;
        void *bytes = nb_test_read_file(src, &size);
        nb_gguf g, c2;
        nb_err err = {0};
        CHECK_OK(nb_gguf_parse(bytes, size, &g, &err), err);
        CHECK(export_hf(a, &g, dir, v[k].extra, v[k].cond) == 0);
        membuf out;
        CHECK_MSG(convert(dir, "F16", src, &out, &err) == 0, "%s variant %d: %s", a->model, k, err.msg);
        if (nb_test_failed()) { nb_gguf_free(&g); free(bytes); return; }
        CHECK_OK(nb_gguf_parse(out.p, out.n, &c2, &err), err);
        nb_model m;
        CHECK_OK(nb_model_load(&c2, &m, &err), err);
        if (k == 0) { /* every text tensor back, the vision tower skipped */
            CHECK(c2.n_tensors == g.n_tensors);
            for (uint64_t i = 0; i < g.n_tensors; i++) {
                const nb_gguf_tensor *t = &g.tensors[i];
                char name[128];
                snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
                const nb_gguf_tensor *u = nb_gguf_find_tensor(&c2, name);
                CHECK_MSG(u && u->nbytes == t->nbytes && !memcmp(u->data, t->data, t->nbytes), "%s differs", name);
            }
        } else if (k == 1) { /* Meta's llama3 scaling: 1 for short wavelengths, 32 for long */
            const nb_gguf_tensor *t = nb_gguf_find_tensor(&c2, "rope_freqs.weight");
            CHECK(t && t->type == NB_TYPE_F32 && t->ne[0] == 32 && m.rope_freqs == t);
            const float *f = t ? t->data : NULL;
            for (int i = 0; f && i < 32; i++) {
                double freq = pow(10000.0, -2.0 * i / 64.0), wl = 2 * 3.141592653589793 / freq, want;
                if (wl < 8192.0 / 4.0) want = 1;
                else if (wl > 8192.0) want = 32;
                else {
                    double sm = (8192.0 / wl - 1.0) / 3.0;
                    want = 1 / ((1 - sm) / 32 + sm);
                }
                CHECK_MSG(fabs(f[i] - want) <= 1e-4 * want, "rope_freqs[%d] = %g, want %g", i, f[i], want);
            }
            CHECK(f && f[0] == 1.0f && f[31] == 32.0f);
        } else { /* Phi-3 longrope */
            const nb_gguf_tensor *lo = nb_gguf_find_tensor(&c2, "rope_factors_long.weight"),
                                 *sf = nb_gguf_find_tensor(&c2, "rope_factors_short.weight");
            CHECK(lo && sf && lo->ne[0] == 32 && m.rope_factors_long == lo && m.rope_factors_short == sf);
            CHECK(lo && ((const float *)lo->data)[4] == 2.0f && ((const float *)sf->data)[0] == 1.0f);
            float af = 0;
            uint32_t orig = 0;
            CHECK(nb_gguf_get_f32(&c2, "phi3.rope.scaling.attn_factor", &af, NULL) == NB_OK &&
                  fabs(af - sqrt(1 + log(4.0) / log(64.0))) < 1e-6);
            CHECK(nb_gguf_get_u32(&c2, "phi3.rope.scaling.original_context_length", &orig, NULL) == NB_OK && orig == 64);
        }
        nb_gguf_free(&c2);
        nb_gguf_free(&g);
        free(out.p);
        free(bytes);
    }
}


/* The checkpoint's own tokenizer files: tokenizer.json (byte-level BPE),
 * tokenizer_config.json (chat template, add_bos), generation_config.json
 * (bos/eos where nothing else names them). */
static void t_tokenizer_files(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char src[512], dir[600], path[700], cmd[3000];
    snprintf(src, sizeof src, "%s/models/derived/hf/stories260K-hf-f32", sh);
    snprintf(dir, sizeof dir, "%s/tok-files", nb_test_tmp_dir());
    mkdir(dir, 0755);
    snprintf(cmd, sizeof cmd, "cp %s/model.safetensors %s/ && grep -v _token_id %s/config.json > %s/config.json",
             src, dir, src, dir);
    CHECK(nb_test_system(cmd) == 0);
    /* 512 tokens: the 256 byte-level symbols' first 250 as themselves
     * ("!".."~" and friends), then "t<i>" pieces, merges "t 0" ... */
    char *tj = malloc(1 << 16);
    size_t n = (size_t)sprintf(tj, "{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 0, \"content\": \"<|endoftext|>\", "
                                   "\"special\": true}], \"pre_tokenizer\": {\"type\": \"ByteLevel\"}, "
                                   "\"model\": {\"type\": \"BPE\", \"vocab\": {\"<|endoftext|>\": 0");
    for (int i = 1; i < 512; i++) n += (size_t)sprintf(tj + n, ", \"t%d\": %d", i, i);
    n += (size_t)sprintf(tj + n, "}, \"merges\": [\"t 1\", [\"t1\", \"0\"]]}}");
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    CHECK(nb_test_write_file(path, tj, n) == 0);
    const char *tc = "{\"add_bos_token\": true, \"chat_template\": \"{% for m in messages %}{{ m.content }}{% endfor %}\"}";
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    CHECK(nb_test_write_file(path, tc, strlen(tc)) == 0);
    const char *gc = "{\"bos_token_id\": 1, \"eos_token_id\": [2, 3]}";
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    CHECK(nb_test_write_file(path, gc, strlen(gc)) == 0);
    membuf out;
    nb_err err = {0};
    CHECK_MSG(convert(dir, "Q8_0", NULL, &out, &err) == 0, "convert: %s", err.msg);
    free(tj);
    if (nb_test_failed()) return;
    nb_gguf g;
    CHECK_OK(nb_gguf_parse(out.p, out.n, &g, &err), err);
    nb_str str;
    uint32_t id;
    int b;
    CHECK(nb_gguf_get_str(&g, "tokenizer.ggml.model", &str, NULL) == NB_OK && nb_str_eq(str, "gpt2"));
    CHECK(nb_gguf_get_str(&g, "tokenizer.ggml.pre", &str, NULL) == NB_OK && nb_str_eq(str, "gpt-2"));
    CHECK(nb_gguf_get_str(&g, "tokenizer.chat_template", &str, NULL) == NB_OK && str.len > 10);
    CHECK(nb_gguf_get_bool(&g, "tokenizer.ggml.add_bos_token", &b, NULL) == NB_OK && b == 1);
    CHECK(nb_gguf_get_u32(&g, "tokenizer.ggml.bos_token_id", &id, NULL) == NB_OK && id == 1);
    CHECK(nb_gguf_get_u32(&g, "tokenizer.ggml.eos_token_id", &id, NULL) == NB_OK && id == 2);
    const nb_gguf_kv *tk = nb_gguf_find_key(&g, "tokenizer.ggml.tokens"),
                     *mg = nb_gguf_find_key(&g, "tokenizer.ggml.merges"),
                     *ty = nb_gguf_find_key(&g, "tokenizer.ggml.token_type");
    CHECK(tk && tk->arr_n == 512 && mg && mg->arr_n == 2 && ty && ty->arr_n == 512);
    int64_t t0 = -1;
    CHECK(ty && nb_gguf_arr_i64(ty, 0, &t0, NULL) == NB_OK && t0 == NB_TOKEN_CONTROL);
    /* it loads as a model and as a tokenizer */
    nb_model m;
    CHECK_OK(nb_model_load(&g, &m, &err), err);
    nb_gguf_free(&g);
    free(out.p);
}

/* Sharded checkpoints: the same tensors split over two files with an index
 * give the same GGUF as the single file. */
static void t_sharded(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char src[512], vocab[512], dir[600], path[700];
    snprintf(src, sizeof src, "%s/models/derived/hf/stories260K-hf-f32", sh);
    snprintf(vocab, sizeof vocab, "%s/models/tinystories/stories260K.gguf", sh);
    snprintf(dir, sizeof dir, "%s/sharded", nb_test_tmp_dir());
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/model.safetensors", src);
    size_t size;
    uint8_t *bytes = nb_test_read_file(path, &size);
    nb_safetensors st;
    nb_err err = {0};
    CHECK_OK(nb_safetensors_parse(bytes, size, path, &st, &err), err);
    if (nb_test_failed()) { free(bytes); return; }
    st_entry *e = calloc(st.n_tensors, sizeof *e);
    char *index = malloc(1 << 16);
    size_t ix = (size_t)sprintf(index, "{\"metadata\":{\"total_size\":%zu},\"weight_map\":{", size);
    size_t half = st.n_tensors / 2;
    for (size_t i = 0; i < st.n_tensors; i++) {
        const nb_st_tensor *t = &st.tensors[i];
        snprintf(e[i].name, sizeof e[i].name, "%s", t->name);
        e[i].dtype = "F32";
        e[i].n_dims = (int)t->n_dims;
        e[i].shape[0] = t->shape[0];
        e[i].shape[1] = t->shape[1];
        e[i].data = (uint8_t *)t->data;
        e[i].nbytes = (size_t)(t->end - t->begin);
        ix += (size_t)sprintf(index + ix, "%s\"%s\":\"model-0000%d-of-00002.safetensors\"", i ? "," : "",
                              t->name, i < half ? 1 : 2);
    }
    ix += (size_t)sprintf(index + ix, "}}\n");
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir);
    CHECK(write_safetensors(path, e, (int)half) == 0);
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
    CHECK(write_safetensors(path, e + half, (int)(st.n_tensors - half)) == 0);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    CHECK(nb_test_write_file(path, index, ix) == 0);
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "cp %s/config.json %s/", src, dir);
    CHECK(nb_test_system(cmd) == 0);
    membuf one, two;
    CHECK_MSG(convert(src, "Q8_0", vocab, &one, &err) == 0, "%s", err.msg);
    CHECK_MSG(convert(dir, "Q8_0", vocab, &two, &err) == 0, "sharded: %s", err.msg);
    /* general.name comes from the folder's name: compare the tensor data */
    nb_gguf a, b;
    if (!nb_test_failed()) {
        CHECK_OK(nb_gguf_parse(one.p, one.n, &a, &err), err);
        CHECK_OK(nb_gguf_parse(two.p, two.n, &b, &err), err);
        CHECK(a.n_tensors == b.n_tensors && a.size - a.data_offset == b.size - b.data_offset &&
              !memcmp(a.base + a.data_offset, b.base + b.data_offset, a.size - a.data_offset));
        nb_gguf_free(&a);
        nb_gguf_free(&b);
    }
    free(one.p);
    free(two.p);
    /* an index naming a tensor its shard lacks, or a missing shard */
    ix = (size_t)sprintf(index, "{\"weight_map\":{\"model.norm.weight\":\"model-00001-of-00002.safetensors\"}}");
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    nb_test_write_file(path, index, ix);
    CHECK(convert(dir, "F16", vocab, &one, &err) != 0);
    CHECK_MSG(strstr(err.msg, "model.norm.weight") && strstr(err.msg, "not in"), "msg: %s", err.msg);
    ix = (size_t)sprintf(index, "{\"weight_map\":{\"model.norm.weight\":\"model-00009-of-00009.safetensors\"}}");
    nb_test_write_file(path, index, ix);
    CHECK(convert(dir, "F16", vocab, &one, &err) != 0);
    CHECK_MSG(strstr(err.msg, "model-00009-of-00009.safetensors"), "msg: %s", err.msg);
    ix = (size_t)sprintf(index, "{\"weight_map\":{\"model.norm.weight\":\"../model.safetensors\"}}");
    nb_test_write_file(path, index, ix);
    CHECK(convert(dir, "F16", vocab, &one, &err) != 0);
    CHECK_MSG(strstr(err.msg, "bad shard name"), "msg: %s", err.msg);
    free(index);
    free(e);
    nb_safetensors_free(&st);
    free(bytes);
}

/* ------------------------------------------------------------ errors */

static void t_errors(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    const char *tmp = nb_test_tmp_dir(), *bin = nb_test_bin_dir();
    char src[512], vocab[512], d[600], cmd[3000], out[600];
    snprintf(src, sizeof src, "%s/models/derived/hf/stories260K-hf-f32", sh);
    snprintf(vocab, sizeof vocab, "%s/models/tinystories/stories260K.gguf", sh);
    snprintf(out, sizeof out, "%s/err-out.gguf", tmp);
    nb_err err = {0};
    membuf m;

    /* no tokenizer and no --vocab-from: a clear error naming both ways */
    CHECK(convert(src, "F16", NULL, &m, &err) != 0);
    CHECK_MSG(strstr(err.msg, "tokenizer") && strstr(err.msg, "--vocab-from"), "msg: %s", err.msg);

    /* unknown architecture lists the supported ones */
    snprintf(d, sizeof d, "%s/bad-arch", tmp);
    mkdir(d, 0755);
    snprintf(cmd, sizeof cmd, "cp %s/model.safetensors %s/ && sed 's/LlamaForCausalLM/GPTNeoXForCausalLM/' %s/config.json > %s/config.json",
             src, d, src, d);
    CHECK(nb_test_system(cmd) == 0);
    CHECK(convert(d, "F16", vocab, &m, &err) != 0);
    CHECK_MSG(strstr(err.msg, "GPTNeoXForCausalLM") && strstr(err.msg, "Qwen2ForCausalLM"), "msg: %s", err.msg);

    /* truncated safetensors */
    snprintf(d, sizeof d, "%s/truncated", tmp);
    mkdir(d, 0755);
    snprintf(cmd, sizeof cmd, "head -c 600000 %s/model.safetensors > %s/model.safetensors && cp %s/config.json %s/",
             src, d, src, d);
    CHECK(nb_test_system(cmd) == 0);
    CHECK(convert(d, "F16", vocab, &m, &err) != 0);
    CHECK_MSG(strstr(err.msg, "beyond") != NULL, "msg: %s", err.msg);

    /* missing weights / config */
    snprintf(d, sizeof d, "%s/empty", tmp);
    mkdir(d, 0755);
    CHECK(convert(d, "F16", vocab, &m, &err) != 0);
    CHECK_MSG(strstr(err.msg, "config.json") != NULL, "msg: %s", err.msg);
    snprintf(cmd, sizeof cmd, "cp %s/config.json %s/", src, d);
    CHECK(nb_test_system(cmd) == 0);
    CHECK(convert(d, "F16", vocab, &m, &err) != 0);
    CHECK_MSG(strstr(err.msg, "model.safetensors") != NULL, "msg: %s", err.msg);

    /* config says more layers than the checkpoint has */
    snprintf(d, sizeof d, "%s/layers", tmp);
    mkdir(d, 0755);
    snprintf(cmd, sizeof cmd, "cp %s/model.safetensors %s/ && sed 's/\"num_hidden_layers\": 5/\"num_hidden_layers\": 6/' %s/config.json > %s/config.json",
             src, d, src, d);
    CHECK(nb_test_system(cmd) == 0);
    CHECK(convert(d, "F16", vocab, &m, &err) != 0);
    CHECK_MSG(strstr(err.msg, "blk.5") != NULL, "msg: %s", err.msg);

    /* hostile hyperparameters: clean errors naming the key */
    const char *subst[][2] = {
        {"\"num_hidden_layers\": 5", "\"num_hidden_layers\": 2147483647"},
        {"\"num_hidden_layers\": 5", "\"num_hidden_layers\": -5"},
        {"\"num_key_value_heads\": 4", "\"num_key_value_heads\": 3"},
        {"\"hidden_size\": 64", "\"hidden_size\": 1e300"},
        {"\"LlamaForCausalLM\"", "7"},
    };
    const char *want[] = {"num_hidden_layers", "num_hidden_layers", "num_key_value_heads", "hidden_size",
                          "architectures"};
    for (int i = 0; i < 5; i++) {
        snprintf(d, sizeof d, "%s/hostile-%d", tmp, i);
        mkdir(d, 0755);
        snprintf(cmd, sizeof cmd, "cp %s/model.safetensors %s/ && sed 's/%s/%s/' %s/config.json > %s/config.json",
                 src, d, subst[i][0], subst[i][1], src, d);
        CHECK(nb_test_system(cmd) == 0);
        CHECK_MSG(convert(d, "F16", vocab, &m, &err) != 0, "hostile %d accepted", i);
        CHECK_MSG(strstr(err.msg, want[i]) != NULL, "hostile %d: %s", i, err.msg);
    }

    /* a tokenizer whose size does not match the embedding */
    snprintf(d, sizeof d, "%s/vocab-mismatch", tmp);
    mkdir(d, 0755);
    snprintf(cmd, sizeof cmd, "cp %s/model.safetensors %s/config.json %s/ && cp %s/models/vocab/llama2-spm/tokenizer.model %s/",
             src, src, d, sh, d);
    CHECK(nb_test_system(cmd) == 0);
    CHECK(convert(d, "F16", NULL, &m, &err) != 0);
    CHECK_MSG(strstr(err.msg, "32000") && strstr(err.msg, "512"), "msg: %s", err.msg);

    /* CLI: bad flags, bad outtype, existing output, every failure leaves no file */
    const char *bad[] = {"--outtype q9_9", "--bogus", "--threads 0", "", "--vocab-from /nonexistent.gguf"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        remove(out);
        snprintf(cmd, sizeof cmd, "%s/nb-convert %s %s %s %s 2>/dev/null >/dev/null", bin, bad[i],
                 i == 3 ? tmp : src, i == 3 ? "" : out, "");
        int rc = nb_test_system(cmd);
        CHECK_MSG(rc != 0 && rc != -1, "'%s' exit %d", bad[i], rc);
        CHECK_MSG(!exists(out), "'%s' left %s", bad[i], out);
    }
    snprintf(cmd, sizeof cmd, "%s/nb-convert -q %s %s --vocab-from %s > /dev/null 2>&1", bin, src, out, vocab);
    CHECK(nb_test_system(cmd) == 0);
    CHECK(exists(out));
    snprintf(cmd, sizeof cmd, "%s/nb-convert -q %s %s --vocab-from %s > /dev/null 2>&1", bin, src, out, vocab);
    CHECK_MSG(nb_test_system(cmd) != 0, "existing output overwritten without --force");
    snprintf(cmd, sizeof cmd, "%s/nb-convert -q --force --outtype q8_0 %s %s --vocab-from %s > /dev/null 2>&1",
             bin, src, out, vocab);
    CHECK(nb_test_system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp > /dev/null", tmp);
    CHECK_MSG(nb_test_system(cmd) != 0, "temporary files left in %s", tmp);
}

int main(void) {
    RUN(t_stories_f32_bit_exact);
    RUN(t_stories_f16);
    RUN(t_one_pass_quantize);
    RUN(t_families_round_trip);
    RUN(t_config_variants);
    RUN(t_tokenizer_files);
    RUN(t_sharded);
    RUN(t_errors);
    return nb_test_done();
}
