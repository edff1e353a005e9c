/* Per-tensor type policy: which type each tensor of a model gets for a
 * target such as Q4_K_M. The rules are llama.cpp's (src/llama-quant.cpp,
 * llama_tensor_get_type), so that a file made here has the same tensor
 * types, and the same size, as llama-quantize's for the same target:
 *
 *   - only 2-D (and 3-D expert) weights are quantized; norms and other 1-D
 *     tensors keep their type;
 *   - the LM head (output.weight, or token_embd.weight when the model ties
 *     them) gets Q6_K (Q8_0 when its rows are not a multiple of 256);
 *   - attn_v and ffn_down get more bits on the "more bits" layers (the first
 *     and last eighth, and every third one between) for the _M recipes;
 *   - a type whose block does not divide the row length falls back: Q2_K,
 *     Q3_K, IQ4_XS -> IQ4_NL; Q4_K -> Q5_0; Q5_K -> Q5_1; Q6_K -> Q8_0; and
 *     F16 when even that does not fit (llama-quantize stops with
 *     "Unsupported tensor size" for the legacy types instead; we use F16, as
 *     the reference files in ../shared/reference were made).
 */
#include "../core/core.h"

#include <stdio.h>
#include <string.h>

static const nb_quant_target targets[] = {
    /* name      ftype                 default type     recipe */
    {"F32", NB_FTYPE_ALL_F32, NB_TYPE_F32, 0},
    {"F16", NB_FTYPE_MOSTLY_F16, NB_TYPE_F16, 0},
    {"BF16", NB_FTYPE_MOSTLY_BF16, NB_TYPE_BF16, 0},
    {"Q4_0", NB_FTYPE_MOSTLY_Q4_0, NB_TYPE_Q4_0, 1},
    {"Q4_1", NB_FTYPE_MOSTLY_Q4_1, NB_TYPE_Q4_1, 1},
    {"Q5_0", NB_FTYPE_MOSTLY_Q5_0, NB_TYPE_Q5_0, 1},
    {"Q5_1", NB_FTYPE_MOSTLY_Q5_1, NB_TYPE_Q5_1, 1},
    {"Q8_0", NB_FTYPE_MOSTLY_Q8_0, NB_TYPE_Q8_0, 1},
    {"IQ4_NL", NB_FTYPE_MOSTLY_IQ4_NL, NB_TYPE_IQ4_NL, 1},
    {"IQ4_XS", NB_FTYPE_MOSTLY_IQ4_XS, NB_TYPE_IQ4_XS, 1},
    {"Q2_K", NB_FTYPE_MOSTLY_Q2_K, NB_TYPE_Q2_K, 1},
    {"Q3_K_S", NB_FTYPE_MOSTLY_Q3_K_S, NB_TYPE_Q3_K, 1},
    {"Q3_K_M", NB_FTYPE_MOSTLY_Q3_K_M, NB_TYPE_Q3_K, 1},
    {"Q3_K_L", NB_FTYPE_MOSTLY_Q3_K_L, NB_TYPE_Q3_K, 1},
    {"Q4_K_S", NB_FTYPE_MOSTLY_Q4_K_S, NB_TYPE_Q4_K, 1},
    {"Q4_K_M", NB_FTYPE_MOSTLY_Q4_K_M, NB_TYPE_Q4_K, 1},
    {"Q5_K_S", NB_FTYPE_MOSTLY_Q5_K_S, NB_TYPE_Q5_K, 1},
    {"Q5_K_M", NB_FTYPE_MOSTLY_Q5_K_M, NB_TYPE_Q5_K, 1},
    {"Q6_K", NB_FTYPE_MOSTLY_Q6_K, NB_TYPE_Q6_K, 1},
    /* single K-quant types: every weight matrix in that type (llama.cpp has
     * no recipe of these names; the file type is the nearest _S recipe) */
    {"Q3_K", NB_FTYPE_MOSTLY_Q3_K_S, NB_TYPE_Q3_K, 0},
    {"Q4_K", NB_FTYPE_MOSTLY_Q4_K_S, NB_TYPE_Q4_K, 0},
    {"Q5_K", NB_FTYPE_MOSTLY_Q5_K_S, NB_TYPE_Q5_K, 0},
};

static int name_eq(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'a' && x <= 'z') x = (char)(x - 32);
        if (y >= 'a' && y <= 'z') y = (char)(y - 32);
        if (x != y) return 0;
    }
    return *a == *b;
}

nb_status nb_quant_target_parse(const char *name, nb_quant_target *t, nb_err *err) {
    if (!name || !t) return nb_errf(err, NB_ERR_INVALID_ARG, "quantize: no target type given");
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        if (name_eq(name, targets[i].name)) {
            *t = targets[i];
            return NB_OK;
        }
    return nb_errf(err, NB_ERR_INVALID_ARG,
                   "unknown quantization type '%s' (types: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K "
                   "Q4_K Q5_K Q6_K IQ4_NL IQ4_XS F16 BF16 F32; recipes: Q3_K_S Q3_K_M Q3_K_L "
                   "Q4_K_S Q4_K_M Q5_K_S Q5_K_M)",
                   name);
}

const nb_quant_target *nb_quant_target_at(int i) {
    if (i < 0 || (size_t)i >= sizeof targets / sizeof targets[0]) return NULL;
    return &targets[i];
}

static int is_quantized(uint32_t type) {
    return type != NB_TYPE_F32 && type != NB_TYPE_F16 && type != NB_TYPE_BF16;
}

static int contains(const char *s, const char *sub) {
    return strstr(s, sub) != NULL;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* llama.cpp's use_more_bits: the first and last eighth of the layers and
 * every third layer in between. */
static int use_more_bits(int i_layer, int n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 ||
           (i_layer - n_layers / 8) % 3 == 2;
}

/* Does llama.cpp quantize this tensor at all? 2-D and 3-D weights only,
 * never norms, the MoE router, positional/token-type embeddings, small
 * recurrent (Mamba/RWKV) matrices or T5's relative position bias
 * (llama-quant.cpp, tensor_allows_quantization). */
int nb_quant_wants(const char *name, uint32_t n_dims) {
    if (n_dims < 2) return 0;
    if (!ends_with(name, "weight")) return 0;
    static const char *const never[] = {
        "_norm.weight", "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj",
        "ssm_conv1d", "shortconv.conv.weight", "time_mix_first.weight", "time_mix_w0.weight",
        "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight",
        "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight",
        "time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight",
        "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
        ".position_embd", ".rel_pos", ".patch_embd", ".patch_merger"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (contains(name, never[i])) return 0;
    if (!strcmp(name, "position_embd.weight") || !strcmp(name, "token_types.weight")) return 0;
    return 1;
}

/* The K-quant fallback for a row length the block does not divide. */
static uint32_t fallback_of(uint32_t type) {
    switch (type) {
    case NB_TYPE_Q2_K:
    case NB_TYPE_Q3_K:
    case NB_TYPE_IQ4_XS: return NB_TYPE_IQ4_NL;
    case NB_TYPE_Q4_K: return NB_TYPE_Q5_0;
    case NB_TYPE_Q5_K: return NB_TYPE_Q5_1;
    case NB_TYPE_Q6_K: return NB_TYPE_Q8_0;
    default: return NB_TYPE_F16;
    }
}

void nb_quant_policy_init(nb_quant_policy *p, const nb_quant_target *t, int pure,
                          const nb_quant_model_facts *facts) {
    memset(p, 0, sizeof *p);
    p->target = *t;
    p->pure = pure;
    p->facts = *facts;
}

/* The recipe's choice before the row-length check (llama_tensor_get_type). */
static uint32_t recipe_type(nb_quant_policy *p, const char *name, const int64_t *ne) {
    const nb_quant_model_facts *f = &p->facts;
    const int ft = p->target.ftype;
    uint32_t t = p->target.type;
    const int falcon = f->falcon;

    if (!strcmp(name, "output.weight") || (!f->has_output && !strcmp(name, "token_embd.weight"))) {
        /* the LM head: tied embeddings take the output's type */
        if (falcon || ne[0] % 256 != 0) t = NB_TYPE_Q8_0;
        else if (t != NB_TYPE_Q8_0) t = NB_TYPE_Q6_K;
    } else if (!strcmp(name, "token_embd.weight")) {
        /* kept in the file type (llama.cpp changes it only for IQ1/IQ2/IQ3
         * and TQ targets, which nibble does not make) */
    } else if (contains(name, "attn_v.weight")) {
        int i = p->i_attention_wv++;
        if (ft == NB_FTYPE_MOSTLY_Q2_K) t = f->n_gqa >= 4 ? NB_TYPE_Q4_K : NB_TYPE_Q3_K;
        else if (ft == NB_FTYPE_MOSTLY_Q3_K_M) t = i < 2 ? NB_TYPE_Q5_K : NB_TYPE_Q4_K;
        else if (ft == NB_FTYPE_MOSTLY_Q3_K_L) t = NB_TYPE_Q5_K;
        else if ((ft == NB_FTYPE_MOSTLY_IQ4_NL || ft == NB_FTYPE_MOSTLY_IQ4_XS) && f->n_gqa >= 4)
            t = NB_TYPE_Q5_K;
        else if ((ft == NB_FTYPE_MOSTLY_Q4_K_M || ft == NB_FTYPE_MOSTLY_Q5_K_M) &&
                 use_more_bits(i, f->n_attention_wv))
            t = NB_TYPE_Q6_K;
        else if (ft == NB_FTYPE_MOSTLY_Q4_K_S && i < 4) t = NB_TYPE_Q5_K;
        /* 70B: 8 query heads share each V head, so V is small: more bits */
        if (f->is_70b && (t == NB_TYPE_Q3_K || t == NB_TYPE_Q4_K)) t = NB_TYPE_Q5_K;
        if (f->n_expert == 8) t = NB_TYPE_Q8_0;
    } else if (contains(name, "attn_k.weight")) {
        if (f->n_expert == 8) t = NB_TYPE_Q8_0;
    } else if (contains(name, "ffn_down")) {
        int i = p->i_ffn_down++, n = f->n_ffn_down;
        if (ft == NB_FTYPE_MOSTLY_Q2_K) t = NB_TYPE_Q3_K;
        else if (ft == NB_FTYPE_MOSTLY_Q3_K_M)
            t = i < n / 16 ? NB_TYPE_Q5_K
              : (!falcon || use_more_bits(i, n)) ? NB_TYPE_Q4_K : NB_TYPE_Q3_K;
        else if (ft == NB_FTYPE_MOSTLY_Q3_K_L) t = falcon ? NB_TYPE_Q4_K : NB_TYPE_Q5_K;
        else if (ft == NB_FTYPE_MOSTLY_Q4_K_M) {
            if (falcon) {
                if (i < n / 16) t = NB_TYPE_Q6_K;
                else if (use_more_bits(i, n)) t = NB_TYPE_Q5_K;
            } else if (use_more_bits(i, n)) {
                t = NB_TYPE_Q6_K;
            }
        } else if (i < n / 8 && (ft == NB_FTYPE_MOSTLY_IQ4_NL || ft == NB_FTYPE_MOSTLY_IQ4_XS) &&
                   !f->has_imatrix)
            t = NB_TYPE_Q5_K;
        else if (ft == NB_FTYPE_MOSTLY_Q5_K_M && use_more_bits(i, n)) t = NB_TYPE_Q6_K;
        else if (ft == NB_FTYPE_MOSTLY_Q4_K_S && !falcon && i < n / 8) t = NB_TYPE_Q5_K;
        else if ((ft == NB_FTYPE_MOSTLY_Q4_0 || ft == NB_FTYPE_MOSTLY_Q5_0) && f->has_imatrix &&
                 i < n / 8)
            /* guards the first ffn_down layers, which go wrong easily */
            t = ft == NB_FTYPE_MOSTLY_Q4_0 ? NB_TYPE_Q4_1 : NB_TYPE_Q5_1;
    } else if (contains(name, "attn_output.weight")) {
        if (!falcon) {
            if (f->n_expert == 8) {
                if (ft == NB_FTYPE_MOSTLY_Q2_K || ft == NB_FTYPE_MOSTLY_Q3_K_S ||
                    ft == NB_FTYPE_MOSTLY_Q3_K_M || ft == NB_FTYPE_MOSTLY_IQ4_NL ||
                    ft == NB_FTYPE_MOSTLY_Q4_K_S || ft == NB_FTYPE_MOSTLY_Q4_K_M ||
                    ft == NB_FTYPE_MOSTLY_IQ4_XS)
                    t = NB_TYPE_Q5_K;
            } else {
                if (ft == NB_FTYPE_MOSTLY_Q2_K) t = NB_TYPE_Q3_K;
                else if (ft == NB_FTYPE_MOSTLY_Q3_K_M) t = NB_TYPE_Q4_K;
                else if (ft == NB_FTYPE_MOSTLY_Q3_K_L) t = NB_TYPE_Q5_K;
            }
        } else if (ft == NB_FTYPE_MOSTLY_Q3_K_L) {
            t = NB_TYPE_Q4_K;
        }
    } else if (contains(name, "attn_qkv.weight")) {
        if (ft == NB_FTYPE_MOSTLY_Q3_K_M || ft == NB_FTYPE_MOSTLY_Q3_K_L) t = NB_TYPE_Q4_K;
        else if (ft == NB_FTYPE_MOSTLY_Q4_K_M) t = NB_TYPE_Q5_K;
        else if (ft == NB_FTYPE_MOSTLY_Q5_K_M) t = NB_TYPE_Q6_K;
    }
    return t;
}

nb_quant_choice nb_quant_policy_choose(nb_quant_policy *p, const char *name, uint32_t n_dims,
                                       const int64_t *ne, uint32_t in_type, int override_type) {
    nb_quant_choice c;
    memset(&c, 0, sizeof c);
    c.type = in_type;
    c.wanted = in_type;
    if (!nb_quant_wants(name, n_dims)) return c;
    uint32_t t = p->target.type;
    if (p->target.recipe && !p->pure && is_quantized(t)) t = recipe_type(p, name, ne);
    if (override_type >= 0) t = (uint32_t)override_type;
    c.wanted = t;

    const nb_type_info *ti = nb_type_get(t);
    if (ti && ne[0] % ti->block_size != 0) {
        uint32_t fb = fallback_of(t);
        const nb_type_info *fi = nb_type_get(fb);
        if (fi && ne[0] % fi->block_size != 0) fb = NB_TYPE_F16;
        c.fallback = 1;
        snprintf(c.why, sizeof c.why, "rows of %lld are not a multiple of the %s block (%u)",
                 (long long)ne[0], ti->name, ti->block_size);
        t = fb;
    }
    c.type = t;
    c.quantize = c.type != in_type;
    return c;
}
