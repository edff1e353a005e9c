/* The type table: for every ggml tensor type id its size facts (as ggml's
 * type_traits define them) and nibble's functions: bit-exact dequantization,
 * own quantizer, activation conversion (partner types), dot product. Ids 4, 5 (removed
 * Q4_2/Q4_3), 31-33 and 36-38 (removed repacked layouts) are unknown. */
#include "formats.h"


static const nb_type_info type_table[NB_TYPE_COUNT] = {
    [NB_TYPE_F32] = {.name = "F32", .block_size = 1, .type_size = 4, .to_float = nb_dequant_row_f32, .quantize = nb_quantize_row_f32, .vec_dot_type = NB_TYPE_F32, .vec_dot = nb_vec_dot_f32, .from_float = nb_from_float_f32},
    [NB_TYPE_F16] = {.name = "F16", .block_size = 1, .type_size = 2, .to_float = nb_dequant_row_f16, .quantize = nb_quantize_row_f16, .vec_dot_type = NB_TYPE_F16, .vec_dot = nb_vec_dot_f16, .from_float = nb_from_float_f16},
    [NB_TYPE_Q4_0] = {.name = "Q4_0", .block_size = 32, .type_size = 2 + 16, .to_float = nb_dequant_row_q4_0, .quantize = nb_quantize_row_q4_0, .vec_dot_type = NB_TYPE_Q8_0, .vec_dot = nb_vec_dot_q4_0},
    [NB_TYPE_Q4_1] = {.name = "Q4_1", .block_size = 32, .type_size = 2 + 2 + 16, .to_float = nb_dequant_row_q4_1, .quantize = nb_quantize_row_q4_1, .vec_dot_type = NB_TYPE_Q8_1, .vec_dot = nb_vec_dot_q4_1},
    [NB_TYPE_Q5_0] = {.name = "Q5_0", .block_size = 32, .type_size = 2 + 4 + 16, .to_float = nb_dequant_row_q5_0, .quantize = nb_quantize_row_q5_0, .vec_dot_type = NB_TYPE_Q8_0, .vec_dot = nb_vec_dot_q5_0},
    [NB_TYPE_Q5_1] = {.name = "Q5_1", .block_size = 32, .type_size = 2 + 2 + 4 + 16, .to_float = nb_dequant_row_q5_1, .quantize = nb_quantize_row_q5_1, .vec_dot_type = NB_TYPE_Q8_1, .vec_dot = nb_vec_dot_q5_1},
    [NB_TYPE_Q8_0] = {.name = "Q8_0", .block_size = 32, .type_size = 2 + 32, .to_float = nb_dequant_row_q8_0, .quantize = nb_quantize_row_q8_0, .vec_dot_type = NB_TYPE_Q8_0, .vec_dot = nb_vec_dot_q8_0, .from_float = nb_from_float_q8_0},
    [NB_TYPE_Q8_1] = {.name = "Q8_1", .block_size = 32, .type_size = 2 + 2 + 32, .to_float = nb_dequant_row_q8_1, .from_float = nb_from_float_q8_1},
    [NB_TYPE_Q2_K] = {.name = "Q2_K", .block_size = QK_K, .type_size = 16 + 64 + 2 + 2, .to_float = nb_dequant_row_q2_K, .quantize = nb_quantize_row_q2_K, .vec_dot_type = NB_TYPE_Q8_K, .vec_dot = nb_vec_dot_q2_K},
    [NB_TYPE_Q3_K] = {.name = "Q3_K", .block_size = QK_K, .type_size = 32 + 64 + 12 + 2, .to_float = nb_dequant_row_q3_K, .quantize = nb_quantize_row_q3_K, .vec_dot_type = NB_TYPE_Q8_K, .vec_dot = nb_vec_dot_q3_K},
    [NB_TYPE_Q4_K] = {.name = "Q4_K", .block_size = QK_K, .type_size = 2 + 2 + 12 + 128, .to_float = nb_dequant_row_q4_K, .quantize = nb_quantize_row_q4_K, .vec_dot_type = NB_TYPE_Q8_K, .vec_dot = nb_vec_dot_q4_K},
    [NB_TYPE_Q5_K] = {.name = "Q5_K", .block_size = QK_K, .type_size = 2 + 2 + 12 + 32 + 128, .to_float = nb_dequant_row_q5_K, .quantize = nb_quantize_row_q5_K, .vec_dot_type = NB_TYPE_Q8_K, .vec_dot = nb_vec_dot_q5_K},
    [NB_TYPE_Q6_K] = {.name = "Q6_K", .block_size = QK_K, .type_size = 128 + 64 + 16 + 2, .to_float = nb_dequant_row_q6_K, .quantize = nb_quantize_row_q6_K, .vec_dot_type = NB_TYPE_Q8_K, .vec_dot = nb_vec_dot_q6_K},
    [NB_TYPE_Q8_K] = {.name = "Q8_K", .block_size = QK_K, .type_size = 4 + 256 + 32, .to_float = nb_dequant_row_q8_K, .from_float = nb_from_float_q8_K},
    [NB_TYPE_IQ2_XXS] = {.name = "IQ2_XXS", .block_size = QK_K, .type_size = 2 + 64},
    [NB_TYPE_IQ2_XS] = {.name = "IQ2_XS", .block_size = QK_K, .type_size = 2 + 64 + 8},
    [NB_TYPE_IQ3_XXS] = {.name = "IQ3_XXS", .block_size = QK_K, .type_size = 2 + 96},
    [NB_TYPE_IQ1_S] = {.name = "IQ1_S", .block_size = QK_K, .type_size = 2 + 32 + 16},
    [NB_TYPE_IQ4_NL] = {.name = "IQ4_NL", .block_size = 32, .type_size = 2 + 16, .to_float = nb_dequant_row_iq4_nl, .quantize = nb_quantize_row_iq4_nl, .vec_dot_type = NB_TYPE_Q8_0, .vec_dot = nb_vec_dot_iq4_nl},
    [NB_TYPE_IQ3_S] = {.name = "IQ3_S", .block_size = QK_K, .type_size = 2 + 64 + 8 + 32 + 4},
    [NB_TYPE_IQ2_S] = {.name = "IQ2_S", .block_size = QK_K, .type_size = 2 + 64 + 8 + 8},
    [NB_TYPE_IQ4_XS] = {.name = "IQ4_XS", .block_size = QK_K, .type_size = 2 + 2 + 4 + 128, .to_float = nb_dequant_row_iq4_xs, .quantize = nb_quantize_row_iq4_xs, .vec_dot_type = NB_TYPE_Q8_K, .vec_dot = nb_vec_dot_iq4_xs},
    [NB_TYPE_I8] = {.name = "I8", .block_size = 1, .type_size = 1},
    [NB_TYPE_I16] = {.name = "I16", .block_size = 1, .type_size = 2},
    [NB_TYPE_I32] = {.name = "I32", .block_size = 1, .type_size = 4},
    [NB_TYPE_I64] = {.name = "I64", .block_size = 1, .type_size = 8},
    [NB_TYPE_F64] = {.name = "F64", .block_size = 1, .type_size = 8},
    [NB_TYPE_IQ1_M] = {.name = "IQ1_M", .block_size = QK_K, .type_size = 32 + 16 + 8},
    [NB_TYPE_BF16] = {.name = "BF16", .block_size = 1, .type_size = 2, .to_float = nb_dequant_row_bf16, .quantize = nb_quantize_row_bf16, .vec_dot_type = NB_TYPE_BF16, .vec_dot = nb_vec_dot_bf16, .from_float = nb_from_float_bf16},
    [NB_TYPE_TQ1_0] = {.name = "TQ1_0", .block_size = QK_K, .type_size = 48 + 4 + 2},
    [NB_TYPE_TQ2_0] = {.name = "TQ2_0", .block_size = QK_K, .type_size = 64 + 2},
    [NB_TYPE_MXFP4] = {.name = "MXFP4", .block_size = 32, .type_size = 1 + 16},
};

const nb_type_info *nb_type_get(uint32_t type) {
    if (type >= NB_TYPE_COUNT || type_table[type].name == NULL) return NULL;
    return &type_table[type];
}

const char *nb_type_name(uint32_t type) {
    const nb_type_info *ti = nb_type_get(type);
    return ti ? ti->name : "?";
}

static int ascii_lower(int c) {
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

int nb_type_from_name(const char *name) {
    if (!name) return -1;
    for (int t = 0; t < NB_TYPE_COUNT; t++) {
        const char *n = type_table[t].name;
        if (!n) continue;
        size_t i = 0;
        while (n[i] && name[i] && ascii_lower((unsigned char)n[i]) == ascii_lower((unsigned char)name[i]))
            i++;
        if (n[i] == 0 && name[i] == 0) return t;
    }
    return -1;
}
