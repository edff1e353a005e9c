/* Size facts of every ggml tensor type id, as ggml's type_traits define
 * them (block size in elements, bytes per block). The formats issue adds
 * dequantize / quantize / dot functions beside these. Ids 4, 5 (removed
 * Q4_2/Q4_3), 31-33 and 36-38 (removed repacked layouts) are unknown. */
#include "../core/core.h"

#define QK_K 256

static const nb_type_info type_table[NB_TYPE_COUNT] = {
    [NB_TYPE_F32] = {"F32", 1, 4},
    [NB_TYPE_F16] = {"F16", 1, 2},
    [NB_TYPE_Q4_0] = {"Q4_0", 32, 2 + 16},
    [NB_TYPE_Q4_1] = {"Q4_1", 32, 2 + 2 + 16},
    [NB_TYPE_Q5_0] = {"Q5_0", 32, 2 + 4 + 16},
    [NB_TYPE_Q5_1] = {"Q5_1", 32, 2 + 2 + 4 + 16},
    [NB_TYPE_Q8_0] = {"Q8_0", 32, 2 + 32},
    [NB_TYPE_Q8_1] = {"Q8_1", 32, 2 + 2 + 32},
    [NB_TYPE_Q2_K] = {"Q2_K", QK_K, 16 + 64 + 2 + 2},
    [NB_TYPE_Q3_K] = {"Q3_K", QK_K, 32 + 64 + 12 + 2},
    [NB_TYPE_Q4_K] = {"Q4_K", QK_K, 2 + 2 + 12 + 128},
    [NB_TYPE_Q5_K] = {"Q5_K", QK_K, 2 + 2 + 12 + 32 + 128},
    [NB_TYPE_Q6_K] = {"Q6_K", QK_K, 128 + 64 + 16 + 2},
    [NB_TYPE_Q8_K] = {"Q8_K", QK_K, 4 + 256 + 32},
    [NB_TYPE_IQ2_XXS] = {"IQ2_XXS", QK_K, 2 + 64},
    [NB_TYPE_IQ2_XS] = {"IQ2_XS", QK_K, 2 + 64 + 8},
    [NB_TYPE_IQ3_XXS] = {"IQ3_XXS", QK_K, 2 + 96},
    [NB_TYPE_IQ1_S] = {"IQ1_S", QK_K, 2 + 32 + 16},
    [NB_TYPE_IQ4_NL] = {"IQ4_NL", 32, 2 + 16},
    [NB_TYPE_IQ3_S] = {"IQ3_S", QK_K, 2 + 64 + 8 + 32 + 4},
    [NB_TYPE_IQ2_S] = {"IQ2_S", QK_K, 2 + 64 + 8 + 8},
    [NB_TYPE_IQ4_XS] = {"IQ4_XS", QK_K, 2 + 2 + 4 + 128},
    [NB_TYPE_I8] = {"I8", 1, 1},
    [NB_TYPE_I16] = {"I16", 1, 2},
    [NB_TYPE_I32] = {"I32", 1, 4},
    [NB_TYPE_I64] = {"I64", 1, 8},
    [NB_TYPE_F64] = {"F64", 1, 8},
    [NB_TYPE_IQ1_M] = {"IQ1_M", QK_K, 32 + 16 + 8},
    [NB_TYPE_BF16] = {"BF16", 1, 2},
    [NB_TYPE_TQ1_0] = {"TQ1_0", QK_K, 48 + 4 + 2},
    [NB_TYPE_TQ2_0] = {"TQ2_0", QK_K, 64 + 2},
    [NB_TYPE_MXFP4] = {"MXFP4", 32, 1 + 16},
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
