#include "support_vectors.h"
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static const char SEP[] = "\n__ggml_vocab_test__\n";

int nb_vectors_open(nb_vectors *v, const char *inp_path, const char *out_path) {
    memset(v, 0, sizeof *v);
    v->inp = nb_test_read_file(inp_path, &v->ni);
    v->out = nb_test_read_file(out_path, &v->no);
    if (v->inp && v->out) return 0;
    nb_vectors_close(v);
    return -1;
}

int nb_vectors_next(nb_vectors *v, const char **str, size_t *slen, int32_t *exp, int cap, int *ne) {
    if (!v->inp || v->ip >= v->ni || v->op >= v->no) return 0;
    const char *end = NULL;
    for (size_t k = v->ip; k + sizeof SEP - 1 <= v->ni; k++)
        if (!memcmp(v->inp + k, SEP, sizeof SEP - 1)) {
            end = v->inp + k;
            break;
        }
    *str = v->inp + v->ip;
    *slen = end ? (size_t)(end - *str) : v->ni - v->ip;
    v->ip += *slen + (end ? sizeof SEP - 1 : 0);
    size_t le = v->op;
    while (le < v->no && v->out[le] != '\n') le++;
    *ne = 0;
    char *q = v->out + v->op;
    while (q < v->out + le) {
        char *e2;
        long id = strtol(q, &e2, 10);
        if (e2 == q) break;
        if (*ne < cap) exp[(*ne)++] = (int32_t)id;
        q = e2;
    }
    v->op = le + 1;
    return 1;
}

void nb_vectors_close(nb_vectors *v) {
    free(v->inp);
    free(v->out);
    memset(v, 0, sizeof *v);
}
