/* llama.cpp's tokenizer test vectors (tests/test-tokenizer-0.cpp's files):
 * NAME.inp holds the strings separated by "\n__ggml_vocab_test__\n", NAME.out
 * one line of expected ids per string. Used by test_tokenizer, test_bpe and
 * test_hf_vocab. */
#ifndef NB_SUPPORT_VECTORS_H
#define NB_SUPPORT_VECTORS_H

#include <stddef.h>
#include <stdint.h>

typedef struct nb_vectors {
    char *inp, *out;
    size_t ni, no, ip, op;
} nb_vectors;

/* 0 when both files were read (then close it); -1 otherwise. */
int nb_vectors_open(nb_vectors *v, const char *inp_path, const char *out_path);
/* The next case: str and slen point into the .inp text, exp receives up to
 * cap expected ids, *ne their count. 0 when there is none left. */
int nb_vectors_next(nb_vectors *v, const char **str, size_t *slen, int32_t *exp, int cap, int *ne);
void nb_vectors_close(nb_vectors *v);

#endif
