/* SPM tokenizer: llama.cpp's test vectors (llama-spm, phi-3), stories260K,
 * decode round trips, hostile vocabularies, nb-tokenize. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "support_vectors.h"

#include <stdlib.h>
#include <string.h>


typedef struct membuf {
    uint8_t *p;
    size_t n, cap;
} membuf;

static nb_status mem_write(void *user, const void *data, size_t size, nb_err *err) {
    (void)err;
    membuf *m = user;
    if (m->n + size > m->cap) {
        size_t cap = m->cap ? m->cap : 256;
        while (cap < m->n + size) cap *= 2;
        uint8_t *p = realloc(m->p, cap);
        if (!p) return NB_ERR_NOMEM;
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->n, data, size);
    m->n += size;
    return NB_OK;
}

typedef struct loaded {
    void *bytes;
    nb_gguf g;
    nb_tokenizer tok;
    int ok;
} loaded;

static int load_path(const char *path, loaded *L) {
    nb_err err = {0};
    size_t n = 0;
    memset(L, 0, sizeof *L);
    L->bytes = nb_test_read_file(path, &n);
    CHECK_MSG(L->bytes != NULL, "cannot read %s", path);
    if (!L->bytes) return 0;
    nb_status s = nb_gguf_parse(L->bytes, n, &L->g, &err);
    CHECK_OK(s, err);
    if (s) return 0;
    s = nb_tokenizer_load(&L->g, &L->tok, NULL, &err);
    CHECK_OK(s, err);
    if (s) {
        nb_gguf_free(&L->g);
        return 0;
    }
    L->ok = 1;
    return 1;
}

static void unload(loaded *L) {
    if (L->ok) {
        nb_tokenizer_free(&L->tok);
        nb_gguf_free(&L->g);
    }
    free(L->bytes);
    memset(L, 0, sizeof *L);
}

/* decode ids into malloc'd string */
static char *decode(const nb_tokenizer *tok, const int32_t *ids, int32_t n, size_t *len) {
    size_t cap = 64, m = 0;
    char *s = malloc(cap);
    for (int32_t i = 0; i < n && s; i++) {
        int32_t k = nb_token_to_piece(tok, ids[i], s + m, (int32_t)(cap - m));
        if (k < 0) {
            while (cap - m < (size_t)-k) cap *= 2;
            char *t = realloc(s, cap);
            if (!t) {
                free(s);
                return NULL;
            }
            s = t;
            k = nb_token_to_piece(tok, ids[i], s + m, (int32_t)(cap - m));
        }
        m += (size_t)k;
    }
    *len = m;
    return s;
}

static void run_vectors(const char *name, int must_match_all) {
    const char *sh = nb_test_shared_dir();
    if (!sh) {
        nb_test_skip("no shared data folder");
        return;
    }
    char path[1024], pin[1100], pout[1100];
    snprintf(path, sizeof path, "%s/models/vocab/%s", sh, name);
    snprintf(pin, sizeof pin, "%s.inp", path);
    snprintf(pout, sizeof pout, "%s.out", path);
    loaded L;
    if (!load_path(path, &L)) {
        unload(&L);
        return;
    }
    nb_vectors vec;
    CHECK(nb_vectors_open(&vec, pin, pout) == 0);
    int total = 0, match = 0, rt_ok = 0;
    int32_t ids[4096];
    const char *str;
    size_t slen;
    int ne;
    static int32_t exp[4096];
    while (nb_vectors_next(&vec, &str, &slen, exp, 4096, &ne)) {
        total++;
        nb_err err = {0};
        int32_t n = 0;
        nb_status s = nb_tokenize(&L.tok, str, slen, 0, 0, ids, 4096, &n, &err);
        int same = s == NB_OK && n == ne && !memcmp(ids, exp, (size_t)n * sizeof *ids);
        if (same) {
            match++;
        } else {
            printf("  %s: mismatch on string %d '%.*s' (got %d ids, want %d)\n", name, total,
                   (int)(slen > 60 ? 60 : slen), str, (int)n, ne);
        }
        /* round trip, modulo the added leading space */
        size_t dl = 0;
        char *d = decode(&L.tok, ids, s == NB_OK ? n : 0, &dl);
        const char *dd = d;
        if (d && L.tok.add_space_prefix && slen > 0 && dl > 0 && d[0] == ' ') dd++, dl--;
        if (d && dl == slen && !memcmp(dd, str, slen)) rt_ok++;
        else if (same)
            printf("  %s: round trip differs on string %d '%.*s'\n", name, total,
                   (int)(slen > 60 ? 60 : slen), str);
        free(d);
    }
    printf("  %s: %d/%d vectors match, %d/%d round trips exact\n", name, match, total, rt_ok,
           total);
    if (must_match_all) CHECK_MSG(match == total && total > 0, "%s: %d/%d", name, match, total);
    else CHECK_MSG(match == total && total > 0, "%s: %d/%d", name, match, total);
    nb_vectors_close(&vec);
    unload(&L);
}

static void t_llama_spm_vectors(void) { run_vectors("ggml-vocab-llama-spm.gguf", 1); }
static void t_phi3_vectors(void) { run_vectors("ggml-vocab-phi-3.gguf", 0); }

static void t_stories(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) {
        nb_test_skip("no shared data folder");
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/models/tinystories/stories260K.gguf", sh);
    loaded L;
    if (!load_path(path, &L)) {
        unload(&L);
        return;
    }
    nb_err err = {0};
    int32_t ids[16], n = 0;
    const char *s = "Once upon a time";
    CHECK_OK(nb_tokenize(&L.tok, s, strlen(s), 1, 0, ids, 16, &n, &err), err);
    int32_t want[] = {1, 403, 407, 261, 378};
    CHECK_MSG(n == 5 && !memcmp(ids, want, sizeof want), "got %d ids", (int)n);
    CHECK(L.tok.n_vocab == 512 && L.tok.bos_id == 1 && L.tok.eos_id == 2);
    /* too small: NB_ERR_RANGE with the needed count */
    CHECK(nb_tokenize(&L.tok, s, strlen(s), 1, 0, ids, 2, &n, &err) == NB_ERR_RANGE && n == 5);
    CHECK(nb_tokenize(&L.tok, s, strlen(s), 1, 0, NULL, 0, &n, &err) == NB_ERR_RANGE && n == 5);
    /* empty text: just BOS / nothing */
    CHECK_OK(nb_tokenize(&L.tok, "", 0, 1, 0, ids, 16, &n, &err), err);
    CHECK(n == 1 && ids[0] == 1);
    CHECK_OK(nb_tokenize(&L.tok, "", 0, 0, 0, ids, 16, &n, &err), err);
    CHECK(n == 0);
    /* parse_special: "<s>" becomes BOS only when asked */
    CHECK_OK(nb_tokenize(&L.tok, "<s>", 3, 0, 1, ids, 16, &n, &err), err);
    CHECK(n == 1 && ids[0] == 1);
    CHECK_OK(nb_tokenize(&L.tok, "<s>", 3, 0, 0, ids, 16, &n, &err), err);
    CHECK(n > 1);
    /* pieces */
    char buf[16];
    CHECK(nb_token_to_piece(&L.tok, 1, buf, sizeof buf) == 0);
    CHECK(nb_token_to_piece_ex(&L.tok, 1, buf, sizeof buf, NB_PIECE_SPECIAL) == 3);
    CHECK(nb_token_to_piece(&L.tok, 3 + 'A', buf, sizeof buf) == 1 && buf[0] == 'A');
    CHECK(nb_token_to_piece(&L.tok, 403, buf, 0) < 0);
    CHECK(nb_token_to_piece(&L.tok, -1, buf, sizeof buf) == 0);
    CHECK(nb_token_to_piece(&L.tok, 512, buf, sizeof buf) == 0);
    /* arena load */
    size_t need = nb_tokenizer_mem_size(&L.g);
    CHECK(need > 0);
    void *mem = malloc(need);
    nb_arena a;
    nb_arena_init(&a, mem, need);
    nb_allocator al = nb_arena_allocator(&a);
    nb_tokenizer t2;
    CHECK_OK(nb_tokenizer_load(&L.g, &t2, &al, &err), err);
    CHECK_OK(nb_tokenize(&t2, s, strlen(s), 1, 0, ids, 16, &n, &err), err);
    CHECK(n == 5 && !memcmp(ids, want, sizeof want));
    nb_tokenizer_free(&t2);
    nb_arena_init(&a, mem, need - 16);
    CHECK(nb_tokenizer_load(&L.g, &t2, &al, &err) == NB_ERR_NOMEM);
    free(mem);
    /* long input: no quadratic blow-up, byte fallback for odd bytes */
    size_t big = 200000;
    char *txt = malloc(big);
    for (size_t i = 0; i < big; i++) txt[i] = "ab c\xff"[i % 5];
    int32_t *many = malloc(big * 2 * sizeof *many);
    CHECK_OK(nb_tokenize(&L.tok, txt, big, 0, 0, many, (int32_t)(big * 2), &n, &err), err);
    CHECK(n > 0);
    free(many);
    free(txt);
    unload(&L);
}

/* ------------------------------------------------ hostile vocabularies */

typedef struct vspec {
    const char *model;
    int n_tok, n_scores, n_types;
    int64_t bos;          /* -2: absent */
    int type_val;         /* value of types[0] */
    int omit_tokens;
} vspec;

/* "\u2581ab" (a literal would need concatenation, which clang flags) */
static const char UAB[] = {(char)0xe2, (char)0x96, (char)0x81, 'a', 'b', 0};

static nb_status build_and_load(const vspec *v, nb_err *err, nb_tokenizer *tok) {
    membuf m = {0};
    nb_gguf_writer *w = NULL;
    nb_err e2 = {0};
    nb_status s = nb_gguf_writer_new(&w, mem_write, &m, NULL, &e2);
    if (s) return s;
    if (v->model) nb_gguf_set_str(w, "tokenizer.ggml.model", v->model, &e2);
    nb_str toks[8];
    float sc[8];
    int32_t ty[8];
    const char *texts[8] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", "ab", UAB};
    for (int i = 0; i < 8; i++) {
        toks[i].ptr = texts[i];
        toks[i].len = strlen(texts[i]);
        sc[i] = (float)i;
        ty[i] = i < 3 ? 3 : 1;
    }
    ty[0] = v->type_val;
    if (!v->omit_tokens) nb_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, (uint64_t)v->n_tok, &e2);
    if (v->n_scores >= 0) nb_gguf_set_arr(w, "tokenizer.ggml.scores", NB_GGUF_F32, sc, (uint64_t)v->n_scores, &e2);
    if (v->n_types >= 0) nb_gguf_set_arr(w, "tokenizer.ggml.token_type", NB_GGUF_I32, ty, (uint64_t)v->n_types, &e2);
    if (v->bos != -2) nb_gguf_set_i64(w, "tokenizer.ggml.bos_token_id", v->bos, &e2);
    s = nb_gguf_writer_write_header(w, &e2);
    if (!s) s = nb_gguf_writer_finish(w, &e2);
    nb_gguf_writer_free(w);
    nb_gguf g;
    if (!s) s = nb_gguf_parse(m.p, m.n, &g, &e2);
    if (s) {
        free(m.p);
        CHECK_MSG(0, "builder failed: %s", e2.msg);
        return s;
    }
    s = nb_tokenizer_load(&g, tok, NULL, err);
    if (!s) {
        int32_t ids[8], n = 0;
        nb_err e3 = {0};
        CHECK_OK(nb_tokenize(tok, "ab ab", 5, 1, 0, ids, 8, &n, &e3), e3);
        /* "▁ab" "▁ab": BOS 1, 7, 7 */
        CHECK_MSG(n == 3 && ids[0] == 1 && ids[1] == 7 && ids[2] == 7, "n=%d", (int)n);
        nb_tokenizer_free(tok);
    }
    nb_gguf_free(&g);
    free(m.p);
    return s;
}

static void t_hostile(void) {
    nb_err err = {0};
    nb_tokenizer tok;
    vspec ok = {"llama", 8, 8, 8, -2, 2, 0};
    CHECK_OK(build_and_load(&ok, &err, &tok), err);
    vspec v = ok;
    v.model = "t5"; /* "gpt2" (byte-level BPE) is tested in test_bpe.c */
    CHECK(build_and_load(&v, &err, &tok) == NB_ERR_UNSUPPORTED && strstr(err.msg, "t5"));
    v = ok;
    v.model = NULL;
    CHECK(build_and_load(&v, &err, &tok) == NB_ERR_NOT_FOUND && strstr(err.msg, "model"));
    v = ok;
    v.omit_tokens = 1;
    CHECK(build_and_load(&v, &err, &tok) == NB_ERR_NOT_FOUND && strstr(err.msg, "tokens"));
    v = ok;
    v.n_scores = -1;
    CHECK(build_and_load(&v, &err, &tok) == NB_ERR_NOT_FOUND && strstr(err.msg, "scores"));
    v = ok;
    v.n_scores = 7;
    CHECK(build_and_load(&v, &err, &tok) == NB_ERR_FORMAT && strstr(err.msg, "scores"));
    v = ok;
    v.n_types = 5;
    CHECK(build_and_load(&v, &err, &tok) == NB_ERR_FORMAT && strstr(err.msg, "token_type"));
    v = ok;
    v.n_types = -1; /* optional: all NORMAL */
    CHECK_OK(build_and_load(&v, &err, &tok), err);
    v = ok;
    v.bos = 8;
    CHECK(build_and_load(&v, &err, &tok) == NB_ERR_RANGE && strstr(err.msg, "bos_token_id"));
    v = ok;
    v.bos = -5;
    CHECK(build_and_load(&v, &err, &tok) == NB_ERR_RANGE);
    v = ok;
    v.type_val = 9;
    CHECK(build_and_load(&v, &err, &tok) == NB_ERR_RANGE && strstr(err.msg, "token_type"));
    v = ok;
    v.n_tok = v.n_scores = v.n_types = 0;
    CHECK(build_and_load(&v, &err, &tok) == NB_ERR_RANGE);
}

static void t_tool(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) {
        nb_test_skip("no shared data folder");
        return;
    }
    char cmd[2048], outp[1024];
    snprintf(outp, sizeof outp, "%s/tok.txt", nb_test_tmp_dir());
    snprintf(cmd, sizeof cmd,
             "%s/nb-tokenize -m %s/models/tinystories/stories260K.gguf -p 'Once upon a time' > %s",
             nb_test_bin_dir(), sh, outp);
    CHECK(system(cmd) == 0);
    size_t n = 0;
    char *s = nb_test_read_file(outp, &n);
    CHECK_MSG(s && n == 18 && !memcmp(s, "1 403 407 261 378\n", 18), "got '%.*s'", (int)n, s ? s : "");
    free(s);
    snprintf(cmd, sizeof cmd,
             "%s/nb-tokenize -m %s/models/tinystories/stories260K.gguf -p 'Once' --no-bos --pieces > %s",
             nb_test_bin_dir(), sh, outp);
    CHECK(system(cmd) == 0);
    s = nb_test_read_file(outp, &n);
    CHECK_MSG(s && n > 0 && s[0] != '1', "got '%.*s'", (int)n, s ? s : "");
    free(s);
    snprintf(cmd, sizeof cmd, "%s/nb-tokenize -m /nonexistent.gguf -p x 2>/dev/null", nb_test_bin_dir());
    int rc = system(cmd);
    CHECK(rc != -1 && (rc >> 8) == 1);
    snprintf(cmd, sizeof cmd, "%s/nb-tokenize --bogus 2>/dev/null", nb_test_bin_dir());
    rc = system(cmd);
    CHECK(rc != -1 && (rc >> 8) == 2);
}

int main(void) {
    RUN(t_llama_spm_vectors);
    RUN(t_phi3_vectors);
    RUN(t_stories);
    RUN(t_hostile);
    RUN(t_tool);
    return nb_test_done();
}
