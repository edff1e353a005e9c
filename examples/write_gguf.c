/* Example: write a small GGUF file with the streaming writer, then read it
 * back. Usage: write_gguf OUT.gguf
 *
 * The model is a toy: a few llama-style metadata keys and two tensors. It
 * shows the writer's order of calls: keys and tensor declarations first,
 * then the header, then each tensor's bytes in declaration order. */
#include "nibble.h"

#include <math.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT.gguf\n", argv[0]);
        return 2;
    }
    nb_err err = {0};
    nb_file_out out;
    nb_gguf_writer *w = NULL;
    if (nb_file_out_open(&out, argv[1], NULL, &err)) goto fail_open;
    if (nb_gguf_writer_new(&w, nb_file_out_write, &out, NULL, &err)) goto fail;

    const nb_str tokens[] = {{"<unk>", 5}, {"<s>", 3}, {"</s>", 4}, {"hello", 5}};
    const int64_t emb_ne[2] = {8, 4}; /* ne[0] = row length 8, 4 rows */
    const int64_t norm_ne[1] = {8};
    if (nb_gguf_set_str(w, "general.architecture", "llama", &err) ||
        nb_gguf_set_str(w, "general.name", "nibble example", &err) ||
        nb_gguf_set_u32(w, "llama.embedding_length", 8, &err) ||
        nb_gguf_set_u32(w, "llama.block_count", 0, &err) ||
        nb_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f, &err) ||
        nb_gguf_set_str(w, "tokenizer.ggml.model", "llama", &err) ||
        nb_gguf_set_arr_str(w, "tokenizer.ggml.tokens", tokens, 4, &err) ||
        nb_gguf_add_tensor(w, "token_embd.weight", NB_TYPE_F16, 2, emb_ne, &err) ||
        nb_gguf_add_tensor(w, "output_norm.weight", NB_TYPE_F32, 1, norm_ne, &err) ||
        nb_gguf_writer_write_header(w, &err))
        goto fail;

    uint16_t emb[4 * 8];
    for (int i = 0; i < 4 * 8; i++) emb[i] = nb_f32_to_fp16(sinf((float)i));
    float norm[8];
    for (int i = 0; i < 8; i++) norm[i] = 1.0f;
    if (nb_gguf_writer_write_data(w, emb, sizeof emb, &err) ||
        nb_gguf_writer_write_data(w, norm, sizeof norm, &err) ||
        nb_gguf_writer_finish(w, &err))
        goto fail;
    nb_gguf_writer_free(w);
    if (nb_file_out_commit(&out, &err)) goto fail_open; /* commit cleans up itself */

    /* read it back */
    nb_file_map m;
    nb_gguf g;
    if (nb_file_map_open(argv[1], &m, &err) || nb_gguf_parse(m.data, m.size, &g, &err)) {
        fprintf(stderr, "write_gguf: re-reading %s: %s\n", argv[1], err.msg);
        return 1;
    }
    printf("wrote %s: %zu bytes, %llu keys, %llu tensors\n", argv[1], m.size,
           (unsigned long long)g.n_kv, (unsigned long long)g.n_tensors);
    nb_gguf_free(&g);
    nb_file_map_close(&m);
    return 0;

fail:
    nb_file_out_abort(&out); /* no partial OUT.gguf is left behind */
    nb_gguf_writer_free(w);
fail_open:
    fprintf(stderr, "write_gguf: %s: %s\n", argv[1], err.msg);
    return 1;
}
