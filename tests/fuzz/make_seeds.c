/* make_seeds DIR: writes a seed corpus of small, valid, varied GGUF files
 * for fuzz_gguf (raw builder, so seeds do not depend on the writer). Each is
 * checked to parse before it is written. */
#include "nibble.h"
#include "../support_gguf_builder.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *out_dir;
static int n_written, n_failed;

static void emit(const char *name, gb_buf *b) {
    nb_gguf g;
    nb_err err;
    if (nb_gguf_parse(b->p, b->len, &g, &err) != NB_OK) {
        fprintf(stderr, "make_seeds: seed %s does not parse: %s\n", name, err.msg);
        n_failed++;
    } else {
        nb_gguf_free(&g);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.gguf", out_dir, name);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(b->p, 1, b->len, f) != b->len || fclose(f) != 0) {
            fprintf(stderr, "make_seeds: cannot write %s\n", path);
            n_failed++;
        } else {
            n_written++;
        }
    }
    gb_reset(b);
}

/* Tensors of the given types, one row each of `row` elements, placed in
 * order with `align` padding; the file ends with the last tensor. */
static void tensors_file(gb_buf *b, uint32_t version, uint32_t align, const uint32_t *types,
                         const uint64_t *rows, int n, int with_kv) {
    gb_header(b, version, (uint64_t)n, (uint64_t)(with_kv != 0) + (align != 0));
    if (with_kv) gb_kv_str(b, "general.architecture", "seed");
    if (align) gb_kv_u32(b, "general.alignment", align);
    uint32_t a = align ? align : 32;
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "t.%d", i);
        uint64_t ne[2] = {rows[i], (uint64_t)(i % 3) + 1};
        gb_tensor_info(b, name, 2, ne, types[i], off);
        off += gb_tensor_bytes(types[i], 2, ne);
        off = (off + a - 1) / a * a;
    }
    for (int i = 0; i < n; i++) { /* the data section starts aligned too */
        uint64_t ne[2] = {rows[i], (uint64_t)(i % 3) + 1};
        gb_pad(b, a);
        gb_fill(b, (size_t)gb_tensor_bytes(types[i], 2, ne), (uint32_t)i);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
        perror(out_dir);
        return 1;
    }
    gb_buf b;
    gb_init(&b);

    gb_build_valid(&b, NULL);
    emit("valid", &b);

    gb_header(&b, 3, 0, 0);
    emit("empty", &b);

    /* metadata only: every scalar type, strings, no tensors, no padding */
    gb_header(&b, 3, 0, 13);
    gb_kv_u8(&b, "k.u8", 1);
    gb_kv_i8(&b, "k.i8", -1);
    gb_kv_u16(&b, "k.u16", 65535);
    gb_kv_i16(&b, "k.i16", -32768);
    gb_kv_u32(&b, "k.u32", 7);
    gb_kv_i32(&b, "k.i32", INT32_MIN);
    gb_kv_u64(&b, "k.u64", UINT64_MAX);
    gb_kv_i64(&b, "k.i64", INT64_MIN);
    gb_kv_f32(&b, "k.f32", -0.0f);
    gb_kv_f64(&b, "k.f64", 1e300);
    gb_kv_bool(&b, "k.bool", 0);
    gb_kv_str(&b, "k.str", "");
    gb_kv_str(&b, "general.name", "a seed with only metadata");
    emit("kv_only", &b);

    /* arrays: of every fixed type, of strings, nested to the maximum depth */
    gb_header(&b, 3, 0, 6);
    gb_kv_arr(&b, "a.u8", NB_GGUF_U8, 3);
    gb_raw(&b, "\1\2\3", 3);
    gb_kv_arr(&b, "a.i64", NB_GGUF_I64, 2);
    gb_u64(&b, (uint64_t)-1);
    gb_u64(&b, 5);
    gb_kv_arr(&b, "a.bool", NB_GGUF_BOOL, 2);
    gb_raw(&b, "\0\1", 2);
    static const char *const toks[] = {"a", "", "<0x0A>", "\xe2\x96\x81the"};
    gb_kv_arr_str(&b, "tokenizer.ggml.tokens", toks, 4);
    gb_kv_arr(&b, "a.deep", NB_GGUF_ARRAY, 2);
    for (int i = 0; i < 2; i++) {
        gb_arr_head(&b, NB_GGUF_ARRAY, 1);
        gb_arr_head(&b, NB_GGUF_ARRAY, 1);
        gb_arr_head(&b, NB_GGUF_F32, 1);
        gb_f32(&b, (float)i);
    }
    gb_kv_arr(&b, "a.empty", NB_GGUF_ARRAY, 0);
    emit("arrays", &b);

    /* version 2, default alignment, one F32 tensor */
    static const uint32_t t_f32[] = {NB_TYPE_F32};
    static const uint64_t r_8[] = {8};
    tensors_file(&b, 2, 0, t_f32, r_8, 1, 0);
    emit("v2_one_tensor", &b);

    /* many types, custom alignment 256 */
    static const uint32_t t_many[] = {NB_TYPE_F16,  NB_TYPE_BF16,   NB_TYPE_Q4_1, NB_TYPE_Q5_0,
                                      NB_TYPE_Q4_K, NB_TYPE_Q6_K,   NB_TYPE_I8,   NB_TYPE_I32,
                                      NB_TYPE_F64,  NB_TYPE_IQ4_NL, NB_TYPE_MXFP4, NB_TYPE_Q8_0};
    static const uint64_t r_many[] = {3, 5, 32, 64, 256, 256, 7, 2, 1, 32, 32, 96};
    tensors_file(&b, 3, 256, t_many, r_many, 12, 1);
    emit("many_types_align256", &b);

    /* alignment 1: tensors packed at odd offsets */
    static const uint32_t t_odd[] = {NB_TYPE_I8, NB_TYPE_F16, NB_TYPE_Q4_0, NB_TYPE_I8};
    static const uint64_t r_odd[] = {3, 5, 32, 1};
    tensors_file(&b, 3, 1, t_odd, r_odd, 4, 1);
    emit("align1", &b);

    /* many small tensors: sorting and overlap checks */
    uint32_t t_lots[40];
    uint64_t r_lots[40];
    for (int i = 0; i < 40; i++) {
        t_lots[i] = i % 2 ? NB_TYPE_F32 : NB_TYPE_Q8_0;
        r_lots[i] = i % 2 ? (uint64_t)i + 1 : 32;
    }
    tensors_file(&b, 3, 0, t_lots, r_lots, 40, 1);
    emit("forty_tensors", &b);

    /* 4-d tensor */
    gb_header(&b, 3, 1, 0);
    uint64_t ne4[4] = {2, 3, 4, 5};
    gb_tensor_info(&b, "blk.0.attn_q.weight", 4, ne4, NB_TYPE_F16, 0);
    gb_pad(&b, 32);
    gb_fill(&b, 2 * 120, 9);
    emit("dims4", &b);

    gb_release(&b);
    printf("make_seeds: wrote %d seeds to %s\n", n_written, out_dir);
    return n_failed ? 1 : 0;
}
