/* Hugging Face checkpoint -> GGUF, the way llama.cpp's convert_hf_to_gguf.py
 * does it (tensor names, metadata keys, the few tensor transforms), in one
 * streaming pass:
 *
 *   config.json ──> architecture + hyperparameters ──> GGUF keys
 *   tokenizer   ──> tokenizer.* keys (vocab.h, or copied from a GGUF)
 *   safetensors ──> tensor plan: GGUF name, shape, source, transform
 *        │
 *        └─ header-only GGUF (every tensor declared F32) ─> nb_quantize_gguf
 *           with read_rows: rows are read from the mmapped shards,
 *           transformed, and converted / quantized chunk by chunk.
 *
 * Transforms (all row-local, so streaming works):
 *   - Llama q_proj/k_proj: HF stores each head's rows as [first halves of
 *     the rotated pairs; second halves] (rotate_half RoPE); GGUF's llama
 *     rope rotates adjacent pairs, so rows are interleaved back
 *     (convert_hf_to_gguf.py LlamaModel.permute).
 *   - Gemma 2/3 RMSNorm weights: HF computes x * (1 + w), llama.cpp x * w,
 *     so 1 is added to every "*norm.weight" (Gemma2Model / Gemma3Model).
 *   - Llama 3 rope scaling: the per-frequency factors become the tensor
 *     rope_freqs.weight; Phi-3 longrope's long/short factors become
 *     rope_factors_long/short.weight. */
#define _POSIX_C_SOURCE 200809L
#include "../core/core.h"
#include "json.h"
#include "safetensors.h"
#include "vocab.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ architectures */

typedef struct arch_info {
    const char *hf;          /* config.json "architectures"[0]              */
    const char *gguf;        /* general.architecture                        */
    int permute_qk;          /* llama: undo HF's rotate_half row order      */
    int gemma;               /* norms + 1, sandwich norm names, no lm_head  */
    int text_config;         /* hyperparameters in config.text_config       */
    int phi3;                /* partial rotary, longrope factors            */
} arch_info;

static const arch_info archs[] = {
    {"LlamaForCausalLM", "llama", 1, 0, 0, 0},
    {"MistralForCausalLM", "llama", 1, 0, 0, 0},
    {"Qwen2ForCausalLM", "qwen2", 0, 0, 0, 0},
    {"Qwen3ForCausalLM", "qwen3", 0, 0, 0, 0},
    {"Gemma2ForCausalLM", "gemma2", 0, 1, 0, 0},
    {"Gemma3ForCausalLM", "gemma3", 0, 1, 0, 0},
    {"Gemma3ForConditionalGeneration", "gemma3", 0, 1, 1, 0},
    {"Phi3ForCausalLM", "phi3", 0, 0, 0, 1},
};
#define N_ARCHS (sizeof archs / sizeof archs[0])

const char *const *nb_convert_architectures(void) {
    static const char *names[N_ARCHS + 1];
    for (size_t i = 0; i < N_ARCHS; i++) names[i] = archs[i].hf;
    names[N_ARCHS] = NULL;
    return names;
}

/* ------------------------------------------------------- tensor plan */

/* Per-layer HF names -> GGUF names, in the order the GGUF lists them. */
typedef struct layer_map {
    const char *hf, *gguf, *gguf_gemma; /* gguf_gemma: NULL = same as gguf */
} layer_map;

static const layer_map layer_maps[] = {
    {"input_layernorm.weight", "attn_norm.weight", NULL},
    {"self_attn.q_proj.weight", "attn_q.weight", NULL},
    {"self_attn.k_proj.weight", "attn_k.weight", NULL},
    {"self_attn.v_proj.weight", "attn_v.weight", NULL},
    {"self_attn.q_proj.bias", "attn_q.bias", NULL},
    {"self_attn.k_proj.bias", "attn_k.bias", NULL},
    {"self_attn.v_proj.bias", "attn_v.bias", NULL},
    {"self_attn.qkv_proj.weight", "attn_qkv.weight", NULL},
    {"self_attn.q_norm.weight", "attn_q_norm.weight", NULL},
    {"self_attn.k_norm.weight", "attn_k_norm.weight", NULL},
    {"self_attn.o_proj.weight", "attn_output.weight", NULL},
    {"self_attn.o_proj.bias", "attn_output.bias", NULL},
    {"post_attention_layernorm.weight", "ffn_norm.weight", "post_attention_norm.weight"},
    {"pre_feedforward_layernorm.weight", "ffn_norm.weight", NULL},
    {"mlp.gate_proj.weight", "ffn_gate.weight", NULL},
    {"mlp.up_proj.weight", "ffn_up.weight", NULL},
    {"mlp.gate_up_proj.weight", "ffn_up.weight", NULL},
    {"mlp.down_proj.weight", "ffn_down.weight", NULL},
    {"post_feedforward_layernorm.weight", "post_ffw_norm.weight", NULL},
};
#define N_LAYER_MAPS (sizeof layer_maps / sizeof layer_maps[0])

typedef struct conv_tensor {
    char name[96];
    const nb_st_tensor *src;  /* NULL: `synth` holds the values           */
    float *synth;
    uint32_t n_dims;
    int64_t ne[4];
    int permute_heads;        /* > 0: llama q/k row order, this many heads */
    int plus_one;             /* gemma norm                                */
    int layer, rank;          /* output order                              */
} conv_tensor;

typedef struct shard {
    nb_file_map map;
    nb_safetensors st;
    char *path;
} shard;

typedef struct converter {
    const arch_info *arch;
    nb_json_doc *config_doc;
    const nb_json *hp;        /* config or its text_config                */
    shard *shards;
    size_t n_shards;
    conv_tensor *t;
    size_t n_t, cap_t;
    int64_t n_embd, n_layer, n_ff, n_head, n_head_kv, head_dim, n_rot, vocab_size;
} converter;

/* ---------------------------------------------------------- helpers */

static char *join(const char *dir, const char *file) {
    size_t a = strlen(dir), b = strlen(file);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t n = a;
    if (n && p[n - 1] != '/') p[n++] = '/';
    memcpy(p + n, file, b + 1);
    return p;
}

static int file_exists(const char *dir, const char *file) {
    char *p = join(dir, file);
    if (!p) return 0;
    FILE *f = fopen(p, "rb");
    free(p);
    if (f) fclose(f);
    return f != NULL;
}

/* Parse DIR/FILE as JSON; *doc NULL and NB_ERR_NOT_FOUND when absent and
 * optional. */
static nb_status read_json(const char *dir, const char *file, int optional, nb_json_doc **doc,
                           nb_err *err) {
    *doc = NULL;
    if (optional && !file_exists(dir, file)) return NB_ERR_NOT_FOUND;
    char *path = join(dir, file);
    if (!path) return nb_errf(err, NB_ERR_NOMEM, "out of memory");
    nb_file_map m;
    nb_status s = nb_file_map_open(path, &m, err);
    if (!s) {
        s = nb_json_parse(m.data, m.size, path, NULL, NULL, doc, err);
        nb_file_map_close(&m);
    }
    free(path);
    return s;
}

static int64_t cfg_int(const nb_json *o, const char *key, int64_t dflt) {
    int64_t v;
    return nb_json_get_int(o, key, &v, NULL) == NB_OK ? v : dflt;
}

static double cfg_num(const nb_json *o, const char *key, double dflt) {
    double v;
    return nb_json_get_num(o, key, &v, NULL) == NB_OK ? v : dflt;
}

static nb_status cfg_need(const nb_json *o, const char *key, int64_t *out, nb_err *err) {
    nb_status s = nb_json_get_int(o, key, out, err);
    if (s == NB_ERR_NOT_FOUND)
        return nb_errf(err, NB_ERR_FORMAT, "config.json: missing '%s'", key);
    if (s) return s;
    if (*out <= 0 || *out > INT32_MAX)
        return nb_errf(err, NB_ERR_RANGE, "config.json: '%s' = %lld is out of range", key,
                       (long long)*out);
    return NB_OK;
}

/* ----------------------------------------------------------- config */

static nb_status read_config(converter *c, const char *dir, nb_err *err) {
    nb_status s = read_json(dir, "config.json", 0, &c->config_doc, err);
    if (s) return s;
    const nb_json *cfg = nb_json_root(c->config_doc);
    if (cfg->kind != NB_JSON_OBJECT)
        return nb_errf(err, NB_ERR_FORMAT, "config.json: not a JSON object");
    const nb_json *archs_j = nb_json_get(cfg, "architectures");
    const char *name = NULL;
    if (archs_j && archs_j->kind == NB_JSON_ARRAY && archs_j->first &&
        archs_j->first->kind == NB_JSON_STRING)
        name = archs_j->first->str;
    if (!name)
        return nb_errf(err, NB_ERR_FORMAT, "config.json: no \"architectures\" list naming the model class");
    for (size_t i = 0; i < N_ARCHS; i++)
        if (!strcmp(name, archs[i].hf)) c->arch = &archs[i];
    if (!c->arch)
        return nb_errf(err, NB_ERR_UNSUPPORTED,
                       "unsupported architecture '%.60s' (supported: LlamaForCausalLM, "
                       "MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, "
                       "Gemma2ForCausalLM, Gemma3ForCausalLM, Gemma3ForConditionalGeneration, "
                       "Phi3ForCausalLM)",
                       name);
    c->hp = cfg;
    if (c->arch->text_config) {
        c->hp = nb_json_get(cfg, "text_config");
        if (!c->hp || c->hp->kind != NB_JSON_OBJECT)
            return nb_errf(err, NB_ERR_FORMAT, "config.json: %s without a text_config object", name);
    }
    const nb_json *hp = c->hp;
    if ((s = cfg_need(hp, "hidden_size", &c->n_embd, err)) ||
        (s = cfg_need(hp, "num_hidden_layers", &c->n_layer, err)) ||
        (s = cfg_need(hp, "intermediate_size", &c->n_ff, err)) ||
        (s = cfg_need(hp, "num_attention_heads", &c->n_head, err)))
        return s;
    c->n_head_kv = cfg_int(hp, "num_key_value_heads", c->n_head);
    if (c->n_head_kv <= 0 || c->n_head % c->n_head_kv)
        return nb_errf(err, NB_ERR_FORMAT,
                       "config.json: num_key_value_heads %lld does not divide num_attention_heads %lld",
                       (long long)c->n_head_kv, (long long)c->n_head);
    c->head_dim = cfg_int(hp, "head_dim", c->n_embd / c->n_head);
    if (c->head_dim <= 0 || c->head_dim > 4096)
        return nb_errf(err, NB_ERR_FORMAT, "config.json: head_dim %lld is out of range",
                       (long long)c->head_dim);
    if (c->n_layer > 65536)
        return nb_errf(err, NB_ERR_RANGE, "config.json: num_hidden_layers %lld is out of range (max 65536)",
                       (long long)c->n_layer);
    c->n_rot = c->head_dim;
    if (c->arch->phi3) { /* Phi-3 rotates a fraction of each head */
        double f = cfg_num(hp, "partial_rotary_factor", 1.0);
        if (!(f > 0.0 && f <= 1.0))
            return nb_errf(err, NB_ERR_RANGE, "config.json: partial_rotary_factor %g is not in (0, 1]", f);
        c->n_rot = (int64_t)(f * (double)c->n_embd) / c->n_head;
        if (c->n_rot < 2 || c->n_rot > c->head_dim)
            return nb_errf(err, NB_ERR_RANGE, "config.json: %lld rotary dimensions for heads of %lld",
                           (long long)c->n_rot, (long long)c->head_dim);
    }
    c->vocab_size = cfg_int(hp, "vocab_size", cfg_int(cfg, "vocab_size", 0));
    return NB_OK;
}

static nb_status set_i32(nb_gguf_writer *w, const char *arch, const char *key, int64_t v, nb_err *err) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return nb_gguf_set_u32(w, k, (uint32_t)v, err);
}

static nb_status set_f32(nb_gguf_writer *w, const char *arch, const char *key, double v, nb_err *err) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return nb_gguf_set_f32(w, k, (float)v, err);
}

/* The keys convert_hf_to_gguf.py writes for these architectures. */
static nb_status write_hparams(const converter *c, nb_gguf_writer *w, const char *name, nb_err *err) {
    const char *a = c->arch->gguf;
    const nb_json *hp = c->hp;
    nb_status s;
    if ((s = nb_gguf_set_str(w, "general.architecture", a, err)) ||
        (s = nb_gguf_set_str(w, "general.name", name, err)))
        return s;
    int64_t ctx = cfg_int(hp, "max_position_embeddings", cfg_int(hp, "n_positions", 0));
    if (ctx > 0 && (s = set_i32(w, a, "context_length", ctx, err))) return s;
    if ((s = set_i32(w, a, "embedding_length", c->n_embd, err)) ||
        (s = set_i32(w, a, "block_count", c->n_layer, err)) ||
        (s = set_i32(w, a, "feed_forward_length", c->n_ff, err)) ||
        (s = set_i32(w, a, "attention.head_count", c->n_head, err)) ||
        (s = set_i32(w, a, "attention.head_count_kv", c->n_head_kv, err)))
        return s;
    double theta_default = !strcmp(a, "gemma3") ? 1000000.0 : 10000.0;
    double eps = cfg_num(hp, "rms_norm_eps", 1e-6);
    if ((s = set_f32(w, a, "rope.freq_base", cfg_num(hp, "rope_theta", theta_default), err)) ||
        (s = set_f32(w, a, "attention.layer_norm_rms_epsilon", eps, err)) ||
        (s = set_i32(w, a, "rope.dimension_count", c->n_rot, err)))
        return s;
    const nb_json *hd = nb_json_get(hp, "head_dim");
    if ((hd && hd->kind == NB_JSON_NUMBER) || c->arch->gemma)
        if ((s = set_i32(w, a, "attention.key_length", c->head_dim, err)) ||
            (s = set_i32(w, a, "attention.value_length", c->head_dim, err)))
            return s;
    if (!strcmp(a, "llama") && c->vocab_size > 0 && (s = set_i32(w, a, "vocab_size", c->vocab_size, err)))
        return s;
    if (c->arch->gemma) {
        double v;
        if (nb_json_get_num(hp, "attn_logit_softcapping", &v, NULL) == NB_OK &&
            (s = set_f32(w, a, "attn_logit_softcapping", v, err)))
            return s;
        if (nb_json_get_num(hp, "final_logit_softcapping", &v, NULL) == NB_OK &&
            (s = set_f32(w, a, "final_logit_softcapping", v, err)))
            return s;
    }
    int64_t swa = cfg_int(hp, "sliding_window", 0);
    if ((c->arch->gemma || c->arch->phi3) && (s = set_i32(w, a, "attention.sliding_window", swa, err)))
        return s;
    const nb_json *rs = nb_json_get(hp, "rope_scaling");
    if (rs && rs->kind == NB_JSON_OBJECT) {
        const char *type = NULL;
        if (nb_json_get_str(rs, "rope_type", &type, NULL) && nb_json_get_str(rs, "type", &type, NULL))
            type = "";
        if (!strcmp(type, "linear")) {
            char k[128];
            snprintf(k, sizeof k, "%s.rope.scaling.type", a);
            if ((s = nb_gguf_set_str(w, k, "linear", err)) ||
                (s = set_f32(w, a, "rope.scaling.factor", cfg_num(rs, "factor", 1.0), err)))
                return s;
        } else if (c->arch->phi3 && (!strcmp(type, "longrope") || !strcmp(type, "su"))) {
            /* Phi3MiniModel: attention factor from the context extension */
            int64_t orig = cfg_int(hp, "original_max_position_embeddings", ctx);
            double scale = orig > 0 ? (double)ctx / (double)orig : 1.0;
            double attn = scale > 1.0 ? sqrt(1.0 + log(scale) / log((double)orig)) : 1.0;
            if ((s = set_i32(w, a, "rope.scaling.original_context_length", orig, err)) ||
                (s = set_f32(w, a, "rope.scaling.attn_factor", attn, err)))
                return s;
        }
    } else if (c->arch->phi3) {
        int64_t orig = cfg_int(hp, "original_max_position_embeddings", 0);
        if (orig > 0 && (s = set_i32(w, a, "rope.scaling.original_context_length", orig, err))) return s;
    }
    return NB_OK;
}

/* --------------------------------------------------------- tensors */

static nb_status add_tensor(converter *c, conv_tensor **out, nb_err *err) {
    if (c->n_t == c->cap_t) {
        size_t cap = c->cap_t ? 2 * c->cap_t : 64;
        conv_tensor *t = realloc(c->t, cap * sizeof *t);
        if (!t) return nb_errf(err, NB_ERR_NOMEM, "out of memory for the tensor list");
        c->t = t;
        c->cap_t = cap;
    }
    *out = &c->t[c->n_t++];
    memset(*out, 0, sizeof **out);
    return NB_OK;
}

/* Llama 3 "llama3" rope scaling (Meta's reference apply_scaling, as
 * LlamaModel.generate_extra_tensors writes it): long wavelengths are
 * slowed down by `factor`, short ones kept, the band between blended. */
static nb_status add_llama3_rope_freqs(converter *c, const nb_json *rs, nb_err *err) {
    double base = cfg_num(c->hp, "rope_theta", 10000.0);
    double factor = cfg_num(rs, "factor", 8.0), lo = cfg_num(rs, "low_freq_factor", 1.0),
           hi = cfg_num(rs, "high_freq_factor", 4.0);
    double old_ctx = (double)cfg_int(rs, "original_max_position_embeddings", 8192);
    if (hi == lo) return nb_errf(err, NB_ERR_FORMAT, "config.json: rope_scaling high_freq_factor = low_freq_factor");
    int64_t n = c->n_rot / 2;
    conv_tensor *t;
    nb_status s = add_tensor(c, &t, err);
    if (s) return s;
    snprintf(t->name, sizeof t->name, "rope_freqs.weight");
    t->synth = malloc((size_t)n * sizeof(float));
    if (!t->synth) return nb_errf(err, NB_ERR_NOMEM, "out of memory");
    t->n_dims = 1;
    t->ne[0] = n;
    t->layer = -1;
    t->rank = 1;
    double lo_wl = old_ctx / lo, hi_wl = old_ctx / hi;
    for (int64_t i = 0; i < n; i++) {
        float freq = 1.0f / powf((float)base, (float)(2 * i) / (float)c->n_rot);
        double wl = 2.0 * 3.14159265358979323846 / freq;
        double f;
        if (wl < hi_wl) f = 1.0;
        else if (wl > lo_wl) f = factor;
        else {
            double smooth = (old_ctx / wl - lo) / (hi - lo);
            f = 1.0 / ((1.0 - smooth) / factor + smooth);
        }
        t->synth[i] = (float)f;
    }
    return NB_OK;
}

static nb_status add_factor_tensor(converter *c, const nb_json *arr, const char *name, int rank,
                                   nb_err *err) {
    int64_t n = c->n_rot / 2;
    if (!arr || arr->kind != NB_JSON_ARRAY || (int64_t)arr->count != n)
        return nb_errf(err, NB_ERR_FORMAT,
                       "config.json: rope_scaling needs %s with %lld numbers (rotary dims / 2)",
                       strstr(name, "long") ? "long_factor" : "short_factor", (long long)n);
    conv_tensor *t;
    nb_status s = add_tensor(c, &t, err);
    if (s) return s;
    snprintf(t->name, sizeof t->name, "%s", name);
    t->synth = malloc((size_t)n * sizeof(float));
    if (!t->synth) return nb_errf(err, NB_ERR_NOMEM, "out of memory");
    t->n_dims = 1;
    t->ne[0] = n;
    t->layer = -1;
    t->rank = rank;
    int64_t i = 0;
    for (const nb_json *v = arr->first; v; v = v->next, i++) {
        if (v->kind != NB_JSON_NUMBER)
            return nb_errf(err, NB_ERR_FORMAT, "config.json: %s[%lld] is not a number", name, (long long)i);
        t->synth[i] = (float)v->number;
    }
    return NB_OK;
}

static nb_status add_extra_tensors(converter *c, nb_err *err) {
    const nb_json *rs = nb_json_get(c->hp, "rope_scaling");
    if (!rs || rs->kind != NB_JSON_OBJECT) return NB_OK;
    const char *type = NULL;
    if (nb_json_get_str(rs, "rope_type", &type, NULL) && nb_json_get_str(rs, "type", &type, NULL))
        return NB_OK;
    if (!strcmp(c->arch->gguf, "llama") && !strcmp(type, "llama3"))
        return add_llama3_rope_freqs(c, rs, err);
    if (c->arch->phi3 && (!strcmp(type, "longrope") || !strcmp(type, "su"))) {
        nb_status s = add_factor_tensor(c, nb_json_get(rs, "long_factor"), "rope_factors_long.weight", 2, err);
        if (!s) s = add_factor_tensor(c, nb_json_get(rs, "short_factor"), "rope_factors_short.weight", 3, err);
        return s;
    }
    return NB_OK;
}

/* HF name -> plan entry. 1: mapped, 0: skipped on purpose. */
static nb_status map_tensor(converter *c, const nb_st_tensor *src, nb_err *err) {
    const char *name = src->name;
    const arch_info *a = c->arch;
    if (a->text_config) {
        if (!strncmp(name, "vision_tower.", 13) || !strncmp(name, "multi_modal_projector.", 22))
            return NB_OK; /* the text model only (llama.cpp writes these to an mmproj file) */
        if (!strncmp(name, "language_model.", 15)) name += 15;
    }
    size_t len = strlen(name);
    if (len > 14 && !strcmp(name + len - 14, ".rotary_emb.inv_freq")) return NB_OK;
    char gguf[96];
    int layer = -1, rank = 0, permute = 0;
    const char *tail = NULL;
    if (!strcmp(name, "model.embed_tokens.weight")) {
        snprintf(gguf, sizeof gguf, "token_embd.weight");
        rank = 0;
    } else if (!strcmp(name, "model.norm.weight")) {
        snprintf(gguf, sizeof gguf, "output_norm.weight");
        layer = INT_MAX;
    } else if (!strcmp(name, "lm_head.weight")) {
        if (a->gemma) return NB_OK; /* Gemma ties the LM head to the embedding */
        snprintf(gguf, sizeof gguf, "output.weight");
        layer = INT_MAX;
        rank = 1;
    } else if (!strncmp(name, "model.layers.", 13)) {
        char *end;
        long l = strtol(name + 13, &end, 10);
        if (end == name + 13 || *end != '.' || l < 0 || l >= c->n_layer)
            return nb_errf(err, NB_ERR_FORMAT, "tensor '%s': layer index outside 0..%lld", src->name,
                           (long long)c->n_layer - 1);
        tail = end + 1;
        for (size_t i = 0; i < N_LAYER_MAPS; i++)
            if (!strcmp(tail, layer_maps[i].hf)) {
                const char *g = a->gemma && layer_maps[i].gguf_gemma ? layer_maps[i].gguf_gemma
                                                                     : layer_maps[i].gguf;
                snprintf(gguf, sizeof gguf, "blk.%ld.%s", l, g);
                layer = (int)l;
                rank = (int)i;
                break;
            }
        if (layer < 0) tail = NULL;
        if (a->permute_qk && tail && !strncmp(tail, "self_attn.q_proj.", 17)) permute = (int)c->n_head;
        if (a->permute_qk && tail && !strncmp(tail, "self_attn.k_proj.", 17)) permute = (int)c->n_head_kv;
    }
    if (layer == -1 && rank == 0 && strcmp(name, "model.embed_tokens.weight"))
        return nb_errf(err, NB_ERR_UNSUPPORTED, "tensor '%s': no GGUF name for it in %s", src->name,
                       a->hf);
    if (src->n_dims < 1 || src->n_dims > 2)
        return nb_errf(err, NB_ERR_UNSUPPORTED, "tensor '%s' has %u dimensions (1 or 2 expected)",
                       src->name, src->n_dims);
    for (size_t i = 0; i < c->n_t; i++)
        if (!strcmp(c->t[i].name, gguf))
            return nb_errf(err, NB_ERR_FORMAT, "tensor '%s': a second source for %s", src->name, gguf);
    conv_tensor *t;
    nb_status s = add_tensor(c, &t, err);
    if (s) return s;
    snprintf(t->name, sizeof t->name, "%s", gguf);
    t->src = src;
    t->n_dims = src->n_dims;
    t->ne[0] = src->shape[src->n_dims - 1];
    t->ne[1] = src->n_dims == 2 ? src->shape[0] : 1;
    t->ne[2] = t->ne[3] = 1;
    t->layer = layer;
    t->rank = rank;
    t->plus_one = a->gemma && len >= 11 && !strcmp(name + len - 11, "norm.weight");
    if (permute) {
        int64_t rows = src->n_dims == 2 ? t->ne[1] : t->ne[0];
        if (rows % (2 * permute))
            return nb_errf(err, NB_ERR_FORMAT,
                           "tensor '%s': %lld rows cannot be split into %d heads of rotated pairs",
                           src->name, (long long)rows, permute);
        t->permute_heads = permute;
    }
    if (t->ne[0] <= 0 || t->ne[1] <= 0)
        return nb_errf(err, NB_ERR_FORMAT, "tensor '%s' is empty", src->name);
    return NB_OK;
}

static int by_position(const void *x, const void *y) {
    const conv_tensor *a = x, *b = y;
    if (a->layer != b->layer) return a->layer < b->layer ? -1 : 1;
    return (a->rank > b->rank) - (a->rank < b->rank);
}

/* --------------------------------------------------------- shards */

static nb_status open_shard(converter *c, const char *dir, const char *file, nb_err *err) {
    for (size_t i = 0; i < c->n_shards; i++)
        if (!strcmp(strrchr(c->shards[i].path, '/') + 1, file)) return NB_OK;
    if (strchr(file, '/') || !strcmp(file, "..") || !*file)
        return nb_errf(err, NB_ERR_FORMAT, "model.safetensors.index.json: bad shard name '%.80s'", file);
    shard *sh = realloc(c->shards, (c->n_shards + 1) * sizeof *sh);
    if (!sh) return nb_errf(err, NB_ERR_NOMEM, "out of memory");
    c->shards = sh;
    shard *x = &c->shards[c->n_shards];
    memset(x, 0, sizeof *x);
    x->path = join(dir, file);
    if (!x->path) return nb_errf(err, NB_ERR_NOMEM, "out of memory");
    c->n_shards++;
    nb_status s = nb_file_map_open(x->path, &x->map, err);
    if (!s) s = nb_safetensors_parse(x->map.data, x->map.size, x->path, &x->st, err);
    return s;
}

static nb_status open_weights(converter *c, const char *dir, nb_err *err) {
    nb_json_doc *index = NULL;
    nb_status s = read_json(dir, "model.safetensors.index.json", 1, &index, err);
    if (s == NB_ERR_NOT_FOUND) {
        if (!file_exists(dir, "model.safetensors"))
            return nb_errf(err, NB_ERR_NOT_FOUND,
                           "%s: no model.safetensors or model.safetensors.index.json%s", dir,
                           file_exists(dir, "pytorch_model.bin")
                               ? " (pytorch_model.bin, a pickle, is not read: save as safetensors)"
                               : "");
        return open_shard(c, dir, "model.safetensors", err);
    }
    if (s) return s;
    const nb_json *map = nb_json_get(nb_json_root(index), "weight_map");
    if (!map || map->kind != NB_JSON_OBJECT)
        s = nb_errf(err, NB_ERR_FORMAT, "model.safetensors.index.json: no \"weight_map\" object");
    for (const nb_json *e = map ? map->first : NULL; e && !s; e = e->next) {
        if (e->kind != NB_JSON_STRING)
            s = nb_errf(err, NB_ERR_FORMAT, "model.safetensors.index.json: weight_map['%s'] is not a string",
                        e->key);
        else
            s = open_shard(c, dir, e->str, err);
        if (s) break;
        /* the index must agree with the shard's own header */
        const shard *sh = NULL;
        for (size_t i = 0; i < c->n_shards; i++)
            if (!strcmp(strrchr(c->shards[i].path, '/') + 1, e->str)) sh = &c->shards[i];
        if (!nb_safetensors_find(&sh->st, e->key))
            s = nb_errf(err, NB_ERR_FORMAT, "model.safetensors.index.json: tensor '%s' is not in %s",
                        e->key, e->str);
    }
    nb_json_free(index);
    return s;
}

/* ------------------------------------------------------- read_rows */

static nb_status read_rows(void *user, uint64_t i, int64_t r0, int64_t nr, float *dst, nb_err *err) {
    const converter *c = user;
    if (i >= c->n_t) return nb_errf(err, NB_ERR_INVALID_ARG, "read_rows: tensor %llu", (unsigned long long)i);
    const conv_tensor *t = &c->t[i];
    const int64_t ne0 = t->ne[0];
    if (!t->src) {
        memcpy(dst, t->synth + r0 * ne0, (size_t)(nr * ne0) * sizeof(float));
        return NB_OK;
    }
    const nb_st_tensor *src = t->src;
    const nb_type_info *ti = nb_type_get(src->type);
    const size_t row_bytes = (size_t)ne0 * ti->type_size;
    for (int64_t r = r0; r < r0 + nr; r++) {
        float *y = dst + (r - r0) * ne0;
        int64_t sr = r;
        if (t->permute_heads && t->n_dims == 2) {
            /* GGUF row (head h, pair i, half j) <- HF row (h, j, i) */
            int64_t hd = t->ne[1] / t->permute_heads, h = r / hd, k = r % hd;
            sr = h * hd + (k % 2) * (hd / 2) + k / 2;
        }
        ti->to_float(src->data + (size_t)sr * row_bytes, y, ne0);
        if (t->permute_heads && t->n_dims == 1) { /* a q/k bias: the same order, on elements */
            float *tmp = malloc((size_t)ne0 * sizeof(float));
            if (!tmp) return nb_errf(err, NB_ERR_NOMEM, "out of memory");
            int64_t hd = ne0 / t->permute_heads;
            for (int64_t e = 0; e < ne0; e++) {
                int64_t h = e / hd, k = e % hd;
                tmp[e] = y[h * hd + (k % 2) * (hd / 2) + k / 2];
            }
            memcpy(y, tmp, (size_t)ne0 * sizeof(float));
            free(tmp);
        }
        if (t->plus_one) {
            /* convert_hf_to_gguf adds 1 after widening BF16 to F32 but in
             * the tensor's own precision for F16 */
            for (int64_t e = 0; e < ne0; e++) {
                float v = y[e] + 1.0f;
                y[e] = src->type == NB_TYPE_F16 ? nb_fp16_to_f32(nb_f32_to_fp16(v)) : v;
            }
        }
    }
    return NB_OK;
}

/* ------------------------------------------------------- vocabulary */

static nb_status copy_vocab(const char *path, nb_gguf_writer *w, uint64_t *n_tokens, nb_err *err) {
    nb_file_map m;
    nb_status s = nb_file_map_open(path, &m, err);
    if (s) return s;
    nb_gguf g;
    s = nb_gguf_parse(m.data, m.size, &g, err);
    if (s) {
        nb_file_map_close(&m);
        return s;
    }
    int n = 0;
    for (uint64_t i = 0; i < g.n_kv && !s; i++)
        if (g.kv[i].key.len > 10 && !memcmp(g.kv[i].key.ptr, "tokenizer.", 10)) {
            s = nb_gguf_set_kv(w, &g.kv[i], err);
            n++;
        }
    const nb_gguf_kv *tk = nb_gguf_find_key(&g, "tokenizer.ggml.tokens");
    if (!s && !tk)
        s = nb_errf(err, NB_ERR_NOT_FOUND, "%s: no tokenizer.ggml.tokens to take the vocabulary from", path);
    if (tk) *n_tokens = tk->arr_n;
    nb_gguf_free(&g);
    nb_file_map_close(&m);
    (void)n;
    return s;
}

static nb_status write_vocab(const converter *c, const nb_convert_params *p, nb_gguf_writer *w,
                             uint64_t *n_tokens, nb_err *err) {
    if (p->vocab_from) return copy_vocab(p->vocab_from, w, n_tokens, err);
    if (!file_exists(p->hf_dir, "tokenizer.json") && !file_exists(p->hf_dir, "tokenizer.model"))
        return nb_errf(err, NB_ERR_NOT_FOUND,
                       "%s: no tokenizer (tokenizer.json or tokenizer.model); give a GGUF to take "
                       "the vocabulary from (--vocab-from)",
                       p->hf_dir);
    (void)c;
    nb_hf_vocab v;
    nb_hf_vocab_opts o;
    memset(&o, 0, sizeof o);
    nb_status s = nb_hf_vocab_load_dir(p->hf_dir, &o, &v, err);
    if (s) return s;
    /* generation_config.json names bos/eos too (eos may be a list: the
     * first is the end of text); used only where nothing else did */
    nb_json_doc *gen = NULL;
    if ((v.bos < 0 || v.eos < 0) && !read_json(p->hf_dir, "generation_config.json", 1, &gen, err)) {
        const nb_json *r = nb_json_root(gen);
        const char *keys[2] = {"bos_token_id", "eos_token_id"};
        int64_t *ids[2] = {&v.bos, &v.eos};
        for (int k = 0; k < 2; k++) {
            const nb_json *x = nb_json_get(r, keys[k]);
            if (x && x->kind == NB_JSON_ARRAY) x = x->first;
            if (*ids[k] < 0 && x && x->kind == NB_JSON_NUMBER && x->is_int && x->integer >= 0 &&
                x->integer < (int64_t)v.n_tokens)
                *ids[k] = x->integer;
        }
        nb_json_free(gen);
    }
    s = nb_hf_vocab_write(&v, w, err);
    *n_tokens = v.n_tokens;
    nb_hf_vocab_free(&v);
    return s;
}

/* ------------------------------------------------------------ driver */

static nb_status mem_write(void *user, const void *data, size_t size, nb_err *err) {
    struct membuf { uint8_t *p; size_t n, cap; } *b = user;
    if (b->n + size > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->n + size) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) return nb_errf(err, NB_ERR_NOMEM, "out of memory for the GGUF header");
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, size);
    b->n += size;
    return NB_OK;
}

static void converter_free(converter *c) {
    for (size_t i = 0; i < c->n_t; i++) free(c->t[i].synth);
    free(c->t);
    for (size_t i = 0; i < c->n_shards; i++) {
        nb_safetensors_free(&c->shards[i].st);
        nb_file_map_close(&c->shards[i].map);
        free(c->shards[i].path);
    }
    free(c->shards);
    nb_json_free(c->config_doc);
}

static nb_status check_layers(const converter *c, nb_err *err) {
    static const char *const need[] = {"attn_norm.weight", "attn_output.weight", "ffn_down.weight"};
    char name[96];
    int has_embd = 0;
    for (size_t i = 0; i < c->n_t; i++) has_embd |= !strcmp(c->t[i].name, "token_embd.weight");
    if (!has_embd) return nb_errf(err, NB_ERR_NOT_FOUND, "no model.embed_tokens.weight in the checkpoint");
    for (int64_t l = 0; l < c->n_layer; l++)
        for (size_t k = 0; k < sizeof need / sizeof need[0]; k++) {
            snprintf(name, sizeof name, "blk.%lld.%s", (long long)l, need[k]);
            size_t i = 0;
            while (i < c->n_t && strcmp(c->t[i].name, name)) i++;
            if (i == c->n_t)
                return nb_errf(err, NB_ERR_NOT_FOUND,
                               "config.json says %lld layers but the checkpoint has no %s", (long long)c->n_layer,
                               name);
        }
    return NB_OK;
}

static const char *base_name(const char *dir, char *buf, size_t n) {
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    size_t b = len;
    while (b > 0 && dir[b - 1] != '/') b--;
    size_t k = len - b < n - 1 ? len - b : n - 1;
    memcpy(buf, dir + b, k);
    buf[k] = 0;
    return buf;
}

nb_status nb_convert_hf(const nb_convert_params *p, nb_write_fn write, void *user,
                        nb_quant_summary *summary, nb_err *err) {
    if (!p || !p->hf_dir || !write) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_convert_hf: NULL argument");
    converter c;
    memset(&c, 0, sizeof c);
    struct membuf { uint8_t *p; size_t n, cap; } hdr = {NULL, 0, 0};
    nb_gguf_writer *w = NULL;
    nb_gguf g;
    memset(&g, 0, sizeof g);
    char namebuf[128];
    nb_status s = read_config(&c, p->hf_dir, err);
    if (!s) s = open_weights(&c, p->hf_dir, err);
    if (!s) s = add_extra_tensors(&c, err);
    for (size_t i = 0; i < c.n_shards && !s; i++)
        for (size_t k = 0; k < c.shards[i].st.n_tensors && !s; k++)
            s = map_tensor(&c, &c.shards[i].st.tensors[k], err);
    if (!s) {
        qsort(c.t, c.n_t, sizeof *c.t, by_position);
        s = check_layers(&c, err);
    }
    if (!s) s = nb_gguf_writer_new(&w, mem_write, &hdr, NULL, err);
    if (!s) s = write_hparams(&c, w, p->name ? p->name : base_name(p->hf_dir, namebuf, sizeof namebuf), err);
    uint64_t n_tokens = 0;
    if (!s) s = write_vocab(&c, p, w, &n_tokens, err);
    for (size_t i = 0; i < c.n_t && !s; i++)
        if (!strcmp(c.t[i].name, "token_embd.weight") && (uint64_t)c.t[i].ne[1] != n_tokens)
            s = nb_errf(err, NB_ERR_FORMAT,
                        "the tokenizer has %llu tokens but model.embed_tokens.weight has %lld rows",
                        (unsigned long long)n_tokens, (long long)c.t[i].ne[1]);
    for (size_t i = 0; i < c.n_t && !s; i++)
        s = nb_gguf_add_tensor(w, c.t[i].name, NB_TYPE_F32, c.t[i].n_dims, c.t[i].ne, err);
    if (!s) s = nb_gguf_writer_write_header(w, err);
    if (!s) s = nb_gguf_parse_header(hdr.p, hdr.n, &g, err);
    if (!s) {
        nb_quant_params q = p->quant;
        q.read_rows = read_rows;
        q.read_user = &c;
        s = nb_quantize_gguf(&g, &q, write, user, summary, err);
    }
    nb_gguf_free(&g);
    nb_gguf_writer_free(w);
    free(hdr.p);
    converter_free(&c);
    return s;
}
