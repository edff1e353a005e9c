/* nb-convert's tokenizer side (lib/convert/vocab.h): tokenizer.model read
 * with the protobuf reader and compared with llama.cpp's GGUF of the same
 * vocabulary, tokenizer.json rebuilt from a llama.cpp BPE GGUF and read
 * back, llama.cpp's test vectors through GGUFs written from both, the
 * special-token and pre-tokenizer rules, and hostile input. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "convert/vocab.h"
#include "support_vectors.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


/* ------------------------------------------------------------- buffers */

typedef struct membuf {
    uint8_t *p;
    size_t n, cap;
} membuf;

static void mb_put(membuf *m, const void *data, size_t size) {
    if (m->n + size + 1 > m->cap) {
        size_t cap = m->cap ? m->cap : 256;
        while (cap < m->n + size + 1) cap *= 2;
        uint8_t *p = realloc(m->p, cap);
        if (!p) abort(); /* test code */
        m->p = p;
        m->cap = cap;
    }
    if (size) memcpy(m->p + m->n, data, size);
    m->n += size;
    m->p[m->n] = 0;
}

static nb_status mem_write(void *user, const void *data, size_t size, nb_err *err) {
    (void)err;
    mb_put(user, data, size);
    return NB_OK;
}

static void mb_puts(membuf *m, const char *s) { mb_put(m, s, strlen(s)); }

static void mb_printf(membuf *m, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    mb_put(m, buf, (size_t)k < sizeof buf ? (size_t)k : sizeof buf - 1);
}

/* a JSON string literal */
static void mb_jstr(membuf *m, const char *s, size_t len) {
    mb_puts(m, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            mb_put(m, e, 2);
        } else if (c < 0x20) {
            mb_printf(m, "\\u%04x", c);
        } else {
            mb_put(m, &s[i], 1);
        }
    }
    mb_puts(m, "\"");
}

static nb_hf_bytes bytes_of(const membuf *m) {
    nb_hf_bytes b = {m->p ? (const void *)m->p : "", m->n};
    return b;
}

static nb_hf_bytes text(const char *s) {
    nb_hf_bytes b = {s, strlen(s)};
    return b;
}

/* vocabulary -> GGUF bytes (vocab only) -> parsed */
typedef struct gguf_mem {
    membuf buf;
    nb_gguf g;
    int parsed;
} gguf_mem;

static int write_vocab(const nb_hf_vocab *v, gguf_mem *out) {
    memset(out, 0, sizeof *out);
    nb_err err = {0};
    nb_gguf_writer *w = NULL;
    nb_status s = nb_gguf_writer_new(&w, mem_write, &out->buf, NULL, &err);
    if (!s) s = nb_gguf_set_str(w, "general.architecture", "llama", &err);
    if (!s) s = nb_hf_vocab_write(v, w, &err);
    if (!s) s = nb_gguf_writer_write_header(w, &err);
    if (!s) s = nb_gguf_writer_finish(w, &err);
    nb_gguf_writer_free(w);
    CHECK_OK(s, err);
    if (s) return 0;
    s = nb_gguf_parse(out->buf.p, out->buf.n, &out->g, &err);
    CHECK_OK(s, err);
    out->parsed = s == NB_OK;
    return out->parsed;
}

static void gguf_mem_free(gguf_mem *m) {
    if (m->parsed) nb_gguf_free(&m->g);
    free(m->buf.p);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------- comparing with GGUF */

static int64_t gguf_id(const nb_gguf *g, const char *key) {
    int64_t v;
    return nb_gguf_get_i64(g, key, &v, NULL) == NB_OK ? v : -1;
}

/* tokens, types (and scores when the GGUF has them) of v against g;
 * returns the number of differing tokens */
static int compare_tokens(const nb_hf_vocab *v, const nb_gguf *g, int with_scores) {
    nb_err err = {0};
    const nb_gguf_kv *tk = NULL, *ty = NULL, *sc = NULL;
    CHECK_OK(nb_gguf_get_arr(g, "tokenizer.ggml.tokens", NB_GGUF_STRING, &tk, &err), err);
    CHECK_OK(nb_gguf_get_arr(g, "tokenizer.ggml.token_type", NB_GGUF_TYPE_COUNT, &ty, &err), err);
    if (with_scores)
        CHECK_OK(nb_gguf_get_arr(g, "tokenizer.ggml.scores", NB_GGUF_TYPE_COUNT, &sc, &err), err);
    if (!tk || !ty || (with_scores && !sc)) return -1;
    CHECK_MSG(tk->arr_n == v->n_tokens, "%llu tokens in the GGUF, %u converted",
              (unsigned long long)tk->arr_n, v->n_tokens);
    if (tk->arr_n != v->n_tokens) return -1;
    uint64_t cur = 0;
    int bad = 0;
    for (uint32_t i = 0; i < v->n_tokens; i++) {
        nb_str s;
        nb_gguf_arr_next_str(tk, &cur, &s);
        int64_t t = -1;
        double d = 0;
        nb_gguf_arr_i64(ty, i, &t, NULL);
        if (sc) nb_gguf_arr_f64(sc, i, &d, NULL);
        int same = s.len == v->token_len[i] && !memcmp(s.ptr, v->tokens[i], s.len) &&
                   t == v->types[i] && (!sc || (float)d == v->scores[i]);
        if (!same && bad++ < 5)
            printf("  token %u: GGUF '%.*s' type %lld score %g, converted '%s' type %d score %g\n",
                   i, (int)s.len, s.ptr, (long long)t, d, v->tokens[i], (int)v->types[i],
                   v->scores ? (double)v->scores[i] : 0.0);
    }
    return bad;
}

static int compare_merges(const nb_hf_vocab *v, const nb_gguf *g) {
    nb_err err = {0};
    const nb_gguf_kv *mk = NULL;
    CHECK_OK(nb_gguf_get_arr(g, "tokenizer.ggml.merges", NB_GGUF_STRING, &mk, &err), err);
    if (!mk) return -1;
    CHECK_MSG(mk->arr_n == v->n_merges, "%llu merges in the GGUF, %u converted",
              (unsigned long long)mk->arr_n, v->n_merges);
    if (mk->arr_n != v->n_merges) return -1;
    uint64_t cur = 0;
    int bad = 0;
    for (uint32_t i = 0; i < v->n_merges; i++) {
        nb_str s;
        nb_gguf_arr_next_str(mk, &cur, &s);
        if (s.len != strlen(v->merges[i]) || memcmp(s.ptr, v->merges[i], s.len)) {
            if (bad++ < 5)
                printf("  merge %u: GGUF '%.*s', converted '%s'\n", i, (int)s.len, s.ptr,
                       v->merges[i]);
        }
    }
    return bad;
}

/* ------------------------------------------------------- test vectors */

/* llama.cpp's .inp/.out pairs through tok; prints and returns matches */
static int run_vectors(const nb_tokenizer *tok, const char *base, int *total_out) {
    char pin[1100], pout[1100];
    snprintf(pin, sizeof pin, "%s.inp", base);
    snprintf(pout, sizeof pout, "%s.out", base);
    nb_vectors vec;
    CHECK_MSG(nb_vectors_open(&vec, pin, pout) == 0, "cannot read %s / .out", pin);
    int total = 0, match = 0, ne;
    static int32_t ids[4096], exp[4096];
    const char *str;
    size_t slen;
    while (nb_vectors_next(&vec, &str, &slen, exp, 4096, &ne)) {
        total++;
        nb_err err = {0};
        int32_t n = 0;
        nb_status s = nb_tokenize(tok, str, slen, 0, 0, ids, 4096, &n, &err);
        if (s == NB_OK && n == ne && !memcmp(ids, exp, (size_t)n * sizeof *ids)) match++;
        else
            printf("  mismatch on string %d '%.*s' (got %d ids, want %d)\n", total,
                   (int)(slen > 60 ? 60 : slen), str, (int)n, ne);
    }
    nb_vectors_close(&vec);
    *total_out = total;
    return match;
}

/* ------------------------------------------------ SentencePiece (real) */

static void t_spm_llama2(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) {
        nb_test_skip("no shared data folder");
        return;
    }
    char pm[1024], pg[1024];
    snprintf(pm, sizeof pm, "%s/models/vocab/llama2-spm/tokenizer.model", sh);
    snprintf(pg, sizeof pg, "%s/models/vocab/ggml-vocab-llama-spm.gguf", sh);
    size_t nm = 0, ng = 0;
    void *model = nb_test_read_file(pm, &nm);
    void *gb = nb_test_read_file(pg, &ng);
    if (!model || !gb) {
        free(model);
        free(gb);
        nb_test_skip("no %s or %s", pm, pg);
        return;
    }
    nb_err err = {0};
    nb_gguf g;
    nb_hf_vocab v;
    CHECK_OK(nb_gguf_parse(gb, ng, &g, &err), err);
    nb_status s = nb_spm_model_read(model, nm, 0, &v, &err);
    CHECK_OK(s, err);
    if (!s) {
        CHECK(!strcmp(v.model, "llama") && !strcmp(v.pre, "default"));
        CHECK(v.n_tokens == 32000 && v.n_base == 32000);
        CHECK_MSG(v.spm_model_type == 2, "model_type %d (BPE is 2)", v.spm_model_type);
        int bad = compare_tokens(&v, &g, 1);
        CHECK_MSG(bad == 0, "%d tokens differ", bad);
        int counts[7] = {0};
        for (uint32_t i = 0; i < v.n_tokens; i++)
            if (v.types[i] >= 0 && v.types[i] < 7) counts[v.types[i]]++;
        printf("  llama2 tokenizer.model: %u tokens (%d normal, %d unknown, %d control, %d byte) "
               "equal to the GGUF's, scores and types too\n",
               v.n_tokens, counts[1], counts[2], counts[3], counts[6]);
        CHECK(v.bos == gguf_id(&g, "tokenizer.ggml.bos_token_id") && v.bos == 1);
        CHECK(v.eos == gguf_id(&g, "tokenizer.ggml.eos_token_id") && v.eos == 2);
        CHECK(v.unk == gguf_id(&g, "tokenizer.ggml.unknown_token_id") && v.unk == 0);
        CHECK(v.pad == -1);

        /* through a GGUF of our own: the tokenizer gives llama.cpp's ids */
        gguf_mem m;
        if (write_vocab(&v, &m)) {
            CHECK(compare_tokens(&v, &m.g, 1) == 0);
            nb_tokenizer tok;
            s = nb_tokenizer_load(&m.g, &tok, NULL, &err);
            CHECK_OK(s, err);
            if (!s) {
                int total = 0;
                int match = run_vectors(&tok, pg, &total);
                printf("  llama-spm vectors through the converted vocabulary: %d/%d\n", match,
                       total);
                CHECK_MSG(match == total && total > 0, "%d/%d", match, total);
                nb_tokenizer_free(&tok);
            }
        }
        gguf_mem_free(&m);

        /* vocab_size from config.json: padded, never truncated */
        nb_hf_vocab p;
        CHECK_OK(nb_spm_model_read(model, nm, 32003, &p, &err), err);
        CHECK(p.n_tokens == 32003 && p.n_base == 32000);
        CHECK(!strcmp(p.tokens[32002], "[PAD32002]") && p.types[32002] == NB_TOKEN_UNUSED &&
              p.scores[32002] == -10000.0f);
        CHECK(!strcmp(p.tokens[31999], v.tokens[31999]));
        nb_hf_vocab_free(&p);
        /* fewer than the model's pieces: another model's tokenizer */
        CHECK(nb_spm_model_read(model, nm, 100, &p, &err) == NB_ERR_FORMAT);
        CHECK_MSG(strstr(err.msg, "32000 pieces") && strstr(err.msg, "100"), "%s", err.msg);
    }
    nb_hf_vocab_free(&v);
    nb_gguf_free(&g);
    free(model);
    free(gb);
}

/* SPM + the HF files: added_tokens.json, added_tokens_decoder, special
 * ids from tokenizer_config / config.json, padding, the directory loader */
static void t_spm_dir(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) {
        nb_test_skip("no shared data folder");
        return;
    }
    char pm[1024];
    snprintf(pm, sizeof pm, "%s/models/vocab/llama2-spm/tokenizer.model", sh);
    size_t nm = 0;
    void *model = nb_test_read_file(pm, &nm);
    if (!model) {
        nb_test_skip("no %s", pm);
        return;
    }
    char dir[512], path[700];
    snprintf(dir, sizeof dir, "%s/spm-dir", nb_test_tmp_dir());
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    CHECK(nb_test_write_file(path, model, nm) == 0);
    const char *cfg = "{\"vocab_size\": 32004, \"bos_token_id\": 1, \"eos_token_id\": 32003,"
                      " \"pad_token_id\": null, \"text_config\": {\"pad_token_id\": 32000}}";
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK(nb_test_write_file(path, cfg, strlen(cfg)) == 0);
    const char *added = "{\"<pad>\": 32000, \"<extra>\": 32001, \"<too_far>\": 40000}";
    snprintf(path, sizeof path, "%s/added_tokens.json", dir);
    CHECK(nb_test_write_file(path, added, strlen(added)) == 0);
    const char *tcfg =
        "{\"add_bos_token\": true, \"add_eos_token\": false,"
        " \"bos_token\": {\"content\": \"<s>\", \"lstrip\": false},"
        " \"chat_template\": \"{{ messages }}\","
        " \"added_tokens_decoder\": {"
        "   \"32001\": {\"content\": \"\xe2\x96\x81user\xe2\x96\x81\", \"special\": false},"
        "   \"32002\": {\"content\": \"<|im_end|>\", \"special\": false},"
        "   \"32003\": {\"content\": \"<eot>\", \"special\": true},"
        "   \"99999\": {\"content\": \"<ignored>\", \"special\": true}}}";
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    CHECK(nb_test_write_file(path, tcfg, strlen(tcfg)) == 0);

    nb_err err = {0};
    nb_hf_vocab v;
    nb_status s = nb_hf_vocab_load_dir(dir, NULL, &v, &err);
    CHECK_OK(s, err);
    if (!s) {
        CHECK(!strcmp(v.model, "llama") && v.n_tokens == 32004 && v.n_base == 32000);
        CHECK(!strcmp(v.tokens[32000], "<pad>") && v.types[32000] == NB_TOKEN_USER_DEFINED &&
              v.scores[32000] == -1000.0f);
        /* user-defined: U+2581 written as a space */
        CHECK_MSG(!strcmp(v.tokens[32001], " user ") && v.types[32001] == NB_TOKEN_USER_DEFINED,
                  "'%s' %d", v.tokens[32001], (int)v.types[32001]);
        /* looks special -> control even when "special": false */
        CHECK(!strcmp(v.tokens[32002], "<|im_end|>") && v.types[32002] == NB_TOKEN_CONTROL);
        CHECK(!strcmp(v.tokens[32003], "<eot>") && v.types[32003] == NB_TOKEN_CONTROL &&
              v.scores[32003] == -1000.0f);
        /* no tokenizer.json: names are not looked up; config.json ids win
         * over trainer_spec's, text_config fills pad */
        CHECK(v.bos == 1 && v.eos == 32003 && v.unk == 0 && v.pad == 32000);
        CHECK(v.add_bos == 1 && v.add_eos == 0);
        CHECK(v.chat_template && !strcmp(v.chat_template, "{{ messages }}"));
        /* source forced to tokenizer.json, which is absent */
        nb_hf_vocab w;
        nb_hf_vocab_opts o = {NB_HF_VOCAB_JSON, 0, NULL};
        CHECK(nb_hf_vocab_load_dir(dir, &o, &w, &err) == NB_ERR_NOT_FOUND);
        CHECK_MSG(strstr(err.msg, "tokenizer.json") != NULL, "%s", err.msg);
        /* explicit vocab_size and pre win */
        o.source = NB_HF_VOCAB_SPM;
        o.vocab_size = 32010;
        o.pre = "custom";
        CHECK_OK(nb_hf_vocab_load_dir(dir, &o, &w, &err), err);
        CHECK(w.n_tokens == 32010 && !strcmp(w.pre, "custom") && w.pre_known == 1);
        nb_hf_vocab_free(&w);
    }
    nb_hf_vocab_free(&v);
    /* no tokenizer at all */
    snprintf(path, sizeof path, "%s/empty-dir", nb_test_tmp_dir());
    mkdir(path, 0700);
    CHECK(nb_hf_vocab_load_dir(path, NULL, &v, &err) == NB_ERR_NOT_FOUND);
    free(model);
}

/* ------------------------------------------- SentencePiece (hand-made) */

static void pb_varint(membuf *m, uint64_t v) {
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) c |= 0x80;
        mb_put(m, &c, 1);
    } while (v);
}

static void pb_tag(membuf *m, uint32_t field, uint32_t wire) { pb_varint(m, (uint64_t)field << 3 | wire); }

static void pb_bytes(membuf *m, uint32_t field, const void *p, size_t n) {
    pb_tag(m, field, 2);
    pb_varint(m, n);
    mb_put(m, p, n);
}

static void pb_float(membuf *m, uint32_t field, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    pb_tag(m, field, 5);
    mb_put(m, b, 4);
}

static void pb_piece(membuf *m, const char *text, float score, int type) {
    membuf p = {0};
    pb_bytes(&p, 1, text, strlen(text));
    pb_float(&p, 2, score);
    if (type) {
        pb_tag(&p, 3, 0);
        pb_varint(&p, (uint64_t)type);
    }
    pb_tag(&p, 200, 1); /* an extension field: fixed64, skipped */
    mb_put(&p, "\1\2\3\4\5\6\7\x08", 8);
    pb_bytes(m, 1, p.p, p.n);
    free(p.p);
}

/* A small ModelProto; *bounds gets the offsets where a top-level field ends
 * (the prefixes that are themselves valid messages). */
static void small_model(membuf *m, size_t *bounds, int *n_bounds) {
    static const struct {
        const char *t;
        float s;
        int type;
    } P[] = {{"<unk>", 0, 2},     {"<s>", 0, 3},           {"</s>", 0, 3},
             {"<0x41>", 0, 6},    {"\xe2\x96\x81" "a", -1.5f, 0}, {"xy", -2.25f, 4},
             {"z", -3, 9},        {"<unused>", 0, 5}};
    *n_bounds = 0;
    for (size_t i = 0; i < sizeof P / sizeof *P; i++) {
        pb_piece(m, P[i].t, P[i].s, P[i].type);
        bounds[(*n_bounds)++] = m->n;
    }
    membuf t = {0};
    pb_tag(&t, 3, 0);
    pb_varint(&t, 2);           /* model_type BPE */
    pb_bytes(&t, 1, "corpus.txt", 10);
    pb_float(&t, 10, 0.9995f);  /* character_coverage: skipped */
    pb_tag(&t, 40, 0);
    pb_varint(&t, 0);
    pb_tag(&t, 41, 0);
    pb_varint(&t, 1);
    pb_tag(&t, 42, 0);
    pb_varint(&t, 2);
    pb_tag(&t, 43, 0);
    pb_varint(&t, (uint64_t)(int64_t)-1); /* int32 -1: ten bytes */
    pb_bytes(m, 2, t.p, t.n);
    bounds[(*n_bounds)++] = m->n;
    free(t.p);
    membuf nrm = {0};
    pb_bytes(&nrm, 1, "identity", 8);
    pb_tag(&nrm, 3, 0);
    pb_varint(&nrm, 1);
    pb_bytes(m, 3, nrm.p, nrm.n); /* normalizer_spec: skipped */
    bounds[(*n_bounds)++] = m->n;
    free(nrm.p);
}

/* parse bytes from an exactly-sized copy, so a sanitizer sees overreads */
static nb_status spm_parse_copy(const void *p, size_t n, nb_hf_vocab *v, nb_err *err) {
    void *c = malloc(n ? n : 1);
    if (n) memcpy(c, p, n);
    nb_status s = nb_spm_model_read(n ? c : NULL, n, 0, v, err);
    free(c);
    return s;
}

static void t_spm_small(void) {
    membuf m = {0};
    size_t bounds[16];
    int nb = 0;
    small_model(&m, bounds, &nb);
    nb_err err = {0};
    nb_hf_vocab v;
    nb_status s = spm_parse_copy(m.p, m.n, &v, &err);
    CHECK_OK(s, err);
    if (!s) {
        static const int32_t want[] = {NB_TOKEN_UNKNOWN, NB_TOKEN_CONTROL, NB_TOKEN_CONTROL,
                                       NB_TOKEN_BYTE,    NB_TOKEN_NORMAL,  NB_TOKEN_NORMAL,
                                       NB_TOKEN_NORMAL,  NB_TOKEN_UNUSED};
        CHECK(v.n_tokens == 8);
        for (uint32_t i = 0; i < v.n_tokens && i < 8; i++)
            CHECK_MSG(v.types[i] == want[i], "piece %u: type %d, want %d", i, (int)v.types[i],
                      (int)want[i]);
        CHECK(!strcmp(v.tokens[4], "\xe2\x96\x81" "a") && v.scores[4] == -1.5f);
        CHECK(!strcmp(v.tokens[5], "xy") && v.scores[5] == -2.25f);
        CHECK(v.unk == 0 && v.bos == 1 && v.eos == 2 && v.pad == -1 && v.spm_model_type == 2);
    }
    nb_hf_vocab_free(&v);

    /* every prefix: a clean error, or (at a field boundary) a smaller model */
    int n_ok = 0, n_err = 0, wrong = 0;
    for (size_t len = 0; len < m.n; len++) {
        err.msg[0] = 0;
        s = spm_parse_copy(m.p, len, &v, &err);
        int boundary = 0;
        for (int i = 0; i < nb; i++) boundary |= bounds[i] == len;
        if (s == NB_OK) {
            n_ok++;
            if (!boundary) wrong++;
        } else {
            n_err++;
            if (boundary || !err.msg[0] || s != NB_ERR_FORMAT) wrong++;
            if (boundary) printf("  prefix %zu: %s\n", len, err.msg);
        }
        CHECK(v.n_tokens == 0 || s == NB_OK);
        nb_hf_vocab_free(&v);
    }
    printf("  %zu prefixes of a %zu-byte ModelProto: %d parse (field boundaries), %d clean "
           "errors\n", m.n, m.n, n_ok, n_err);
    CHECK(wrong == 0 && n_ok == nb - 1 && n_err == (int)m.n - (nb - 1));
    free(m.p);
}

static void expect_spm_error(const char *name, const membuf *m, const char *needle) {
    nb_err err = {0};
    nb_hf_vocab v;
    nb_status s = spm_parse_copy(m->p, m->n, &v, &err);
    CHECK_MSG(s == NB_ERR_FORMAT, "%s: %s", name, nb_status_str(s));
    CHECK_MSG(strstr(err.msg, needle) && strstr(err.msg, "byte"), "%s: '%s' lacks '%s'", name,
              err.msg, needle);
    CHECK(v.n_tokens == 0 && v.tokens == NULL);
    nb_hf_vocab_free(&v);
}

static void t_spm_hostile(void) {
    membuf m = {0};
    /* a varint of 11 bytes */
    pb_piece(&m, "a", 0, 0);
    for (int i = 0; i < 10; i++) mb_put(&m, "\x80", 1);
    mb_put(&m, "\x01", 1);
    expect_spm_error("varint too long", &m, "longer than 10 bytes");
    /* 10 bytes whose last one has more than bit 63 */
    m.n = 0;
    pb_piece(&m, "a", 0, 0);
    pb_tag(&m, 2, 2);
    for (int i = 0; i < 9; i++) mb_put(&m, "\xff", 1);
    mb_put(&m, "\x7f", 1);
    expect_spm_error("varint overflow", &m, "overflows 64 bits");
    /* a length past the end */
    m.n = 0;
    pb_piece(&m, "a", 0, 0);
    pb_tag(&m, 1, 2);
    pb_varint(&m, 1000);
    mb_put(&m, "abc", 3);
    expect_spm_error("length beyond end", &m, "length 1000");
    /* a length of 2^63 */
    m.n = 0;
    pb_tag(&m, 1, 2);
    pb_varint(&m, (uint64_t)1 << 63);
    expect_spm_error("huge length", &m, "length");
    /* wrong wire types for known fields */
    m.n = 0;
    pb_tag(&m, 1, 0);
    pb_varint(&m, 5);
    expect_spm_error("pieces as varint", &m, "pieces[0]");
    m.n = 0;
    {
        membuf p = {0};
        pb_bytes(&p, 1, "a", 1);
        pb_tag(&p, 2, 0); /* score as a varint */
        pb_varint(&p, 3);
        pb_bytes(&m, 1, p.p, p.n);
        free(p.p);
    }
    expect_spm_error("score as varint", &m, "pieces[0].score");
    m.n = 0;
    {
        membuf p = {0};
        pb_bytes(&p, 1, "a", 1);
        pb_bytes(&p, 3, "x", 1); /* type as bytes */
        pb_bytes(&m, 1, p.p, p.n);
        free(p.p);
    }
    expect_spm_error("type as bytes", &m, "pieces[0].type");
    m.n = 0;
    pb_piece(&m, "a", 0, 0);
    {
        membuf t = {0};
        pb_bytes(&t, 41, "1", 1); /* bos_id as bytes */
        pb_bytes(&m, 2, t.p, t.n);
        free(t.p);
    }
    expect_spm_error("bos_id as bytes", &m, "trainer_spec.bos_id");
    m.n = 0;
    pb_tag(&m, 2, 0); /* trainer_spec as varint */
    pb_varint(&m, 1);
    expect_spm_error("trainer_spec as varint", &m, "trainer_spec");
    /* a group, field number 0, wire type 7 */
    m.n = 0;
    pb_piece(&m, "a", 0, 0);
    pb_tag(&m, 9, 3);
    expect_spm_error("group", &m, "group");
    m.n = 0;
    pb_tag(&m, 0, 0);
    pb_varint(&m, 1);
    expect_spm_error("field 0", &m, "field number 0");
    m.n = 0;
    pb_tag(&m, 9, 7);
    expect_spm_error("wire type 7", &m, "wire type 7");
    /* truncated fixed32 / fixed64 inside a piece */
    m.n = 0;
    {
        membuf p = {0};
        pb_bytes(&p, 1, "a", 1);
        pb_tag(&p, 2, 5);
        mb_put(&p, "\0\0", 2);
        pb_bytes(&m, 1, p.p, p.n);
        free(p.p);
    }
    expect_spm_error("short fixed32", &m, "4 bytes");
    m.n = 0;
    {
        membuf p = {0};
        pb_bytes(&p, 1, "a", 1);
        pb_tag(&p, 7, 1);
        mb_put(&p, "\0\0\0", 3);
        pb_bytes(&m, 1, p.p, p.n);
        free(p.p);
    }
    expect_spm_error("short fixed64", &m, "8 bytes");
    /* a piece without text, an empty piece */
    m.n = 0;
    {
        membuf p = {0};
        pb_float(&p, 2, 1.0f);
        pb_bytes(&m, 1, p.p, p.n);
        free(p.p);
    }
    expect_spm_error("piece without text", &m, "no text");
    m.n = 0;
    pb_piece(&m, "", 0, 0);
    expect_spm_error("empty piece", &m, "no text");
    /* no pieces at all; an empty file */
    m.n = 0;
    pb_bytes(&m, 3, "", 0);
    expect_spm_error("no pieces", &m, "no pieces");
    nb_err err = {0};
    nb_hf_vocab v;
    CHECK(nb_spm_model_read(NULL, 0, 0, &v, &err) == NB_ERR_FORMAT);
    CHECK(nb_spm_model_read("x", 1, -5, &v, &err) == NB_ERR_RANGE);
    /* trainer ids out of range are dropped */
    m.n = 0;
    pb_piece(&m, "a", 0, 0);
    {
        membuf t = {0};
        pb_tag(&t, 41, 0);
        pb_varint(&t, 7);
        pb_tag(&t, 40, 0);
        pb_varint(&t, (uint64_t)(int64_t)-5);
        pb_bytes(&m, 2, t.p, t.n);
        free(t.p);
    }
    CHECK_OK(spm_parse_copy(m.p, m.n, &v, &err), err);
    CHECK(v.n_tokens == 1 && v.bos == -1 && v.unk == -1 && v.eos == -1);
    nb_hf_vocab_free(&v);
    /* random bytes never crash */
    uint32_t x = 12345;
    int n_ok = 0;
    for (int round = 0; round < 3000; round++) {
        m.n = 0;
        small_model(&m, (size_t[16]){0}, &(int){0});
        for (int k = 0; k < 1 + round % 4; k++) {
            x = x * 1103515245u + 12345u;
            m.p[(x >> 8) % m.n] ^= (uint8_t)(1u << ((x >> 4) & 7));
        }
        nb_status s = spm_parse_copy(m.p, m.n, &v, &err);
        n_ok += s == NB_OK;
        CHECK(s == NB_OK || s == NB_ERR_FORMAT || s == NB_ERR_RANGE);
        nb_hf_vocab_free(&v);
    }
    printf("  3000 bit-flipped models: %d still parse, the rest clean errors\n", n_ok);
    free(m.p);
}

/* -------------------------------------------------- tokenizer.json BPE */

/* tokenizer.json text for a BPE GGUF's vocabulary: its tokens in
 * model.vocab, its control tokens also in added_tokens, its merges as
 * strings or pairs */
static void bpe_json_from_gguf(const nb_gguf *g, int pairs, membuf *out) {
    const nb_gguf_kv *tk = NULL, *ty = NULL, *mk = NULL;
    nb_gguf_get_arr(g, "tokenizer.ggml.tokens", NB_GGUF_STRING, &tk, NULL);
    nb_gguf_get_arr(g, "tokenizer.ggml.token_type", NB_GGUF_TYPE_COUNT, &ty, NULL);
    nb_gguf_get_arr(g, "tokenizer.ggml.merges", NB_GGUF_STRING, &mk, NULL);
    mb_puts(out, "{\n  \"version\": \"1.0\",\n  \"added_tokens\": [");
    uint64_t cur = 0;
    int first = 1;
    for (uint64_t i = 0; tk && i < tk->arr_n; i++) {
        nb_str s;
        int64_t t = 1;
        nb_gguf_arr_next_str(tk, &cur, &s);
        nb_gguf_arr_i64(ty, i, &t, NULL);
        if (t != NB_TOKEN_CONTROL) continue;
        mb_printf(out, "%s\n    {\"id\": %llu, \"content\": ", first ? "" : ",",
                  (unsigned long long)i);
        mb_jstr(out, s.ptr, (size_t)s.len);
        mb_puts(out, ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
                     "\"normalized\": true, \"special\": true}");
        first = 0;
    }
    mb_puts(out, "],\n  \"normalizer\": null,\n"
                 "  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
                 "\"trim_offsets\": true, \"use_regex\": true},\n"
                 "  \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
                 "\"trim_offsets\": false, \"use_regex\": true},\n"
                 "  \"decoder\": {\"type\": \"ByteLevel\"},\n"
                 "  \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, "
                 "\"byte_fallback\": false,\n    \"vocab\": {");
    cur = 0;
    for (uint64_t i = 0; tk && i < tk->arr_n; i++) {
        nb_str s;
        nb_gguf_arr_next_str(tk, &cur, &s);
        mb_puts(out, i ? ", " : "");
        mb_jstr(out, s.ptr, (size_t)s.len);
        mb_printf(out, ": %llu", (unsigned long long)i);
    }
    mb_puts(out, "},\n    \"merges\": [");
    cur = 0;
    for (uint64_t i = 0; mk && i < mk->arr_n; i++) {
        nb_str s;
        nb_gguf_arr_next_str(mk, &cur, &s);
        mb_puts(out, i ? ", " : "");
        if (pairs) {
            const char *sp = memchr(s.ptr + 1, ' ', (size_t)s.len - 1);
            size_t l = (size_t)(sp - s.ptr);
            mb_puts(out, "[");
            mb_jstr(out, s.ptr, l);
            mb_puts(out, ", ");
            mb_jstr(out, sp + 1, (size_t)s.len - l - 1);
            mb_puts(out, "]");
        } else {
            mb_jstr(out, s.ptr, (size_t)s.len);
        }
    }
    mb_puts(out, "]\n  }\n}\n");
}

static void t_bpe_gpt2(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) {
        nb_test_skip("no shared data folder");
        return;
    }
    char pg[1024];
    snprintf(pg, sizeof pg, "%s/models/vocab/ggml-vocab-gpt-2.gguf", sh);
    size_t ng = 0;
    void *gb = nb_test_read_file(pg, &ng);
    if (!gb) {
        nb_test_skip("no %s", pg);
        return;
    }
    nb_err err = {0};
    nb_gguf g;
    nb_status s = nb_gguf_parse(gb, ng, &g, &err);
    CHECK_OK(s, err);
    if (s) {
        free(gb);
        return;
    }
    const char *config = "{\"architectures\": [\"GPT2LMHeadModel\"], \"vocab_size\": 50257,"
                         " \"bos_token_id\": 50256, \"eos_token_id\": 50256}";
    for (int pairs = 0; pairs < 2; pairs++) {
        membuf js = {0};
        bpe_json_from_gguf(&g, pairs, &js);
        nb_hf_tokenizer_files f = {0};
        f.tokenizer_json = bytes_of(&js);
        f.config = text(config);
        nb_hf_vocab v;
        s = nb_hf_vocab_from_files(&f, NULL, &v, &err);
        CHECK_OK(s, err);
        if (!s) {
            CHECK(!strcmp(v.model, "gpt2") && !strcmp(v.pre, "gpt-2") && v.pre_known);
            CHECK(v.scores == NULL && v.n_tokens == 50257);
            int bt = compare_tokens(&v, &g, 0), bm = compare_merges(&v, &g);
            CHECK_MSG(bt == 0 && bm == 0, "%d tokens, %d merges differ", bt, bm);
            CHECK(v.bos == gguf_id(&g, "tokenizer.ggml.bos_token_id") && v.bos == 50256);
            CHECK(v.eos == gguf_id(&g, "tokenizer.ggml.eos_token_id"));
            CHECK(v.unk == -1 && v.add_bos == -1 && v.chat_template == NULL);
            printf("  gpt-2 tokenizer.json (%.1f MB, merges as %s): %u tokens, %u merges equal "
                   "to the GGUF's\n",
                   (double)js.n / 1e6, pairs ? "pairs" : "strings", v.n_tokens, v.n_merges);
            if (!pairs) {
                gguf_mem m;
                if (write_vocab(&v, &m)) {
                    nb_tokenizer tok;
                    s = nb_tokenizer_load(&m.g, &tok, NULL, &err);
                    CHECK_OK(s, err);
                    if (!s) {
                        int total = 0;
                        int match = run_vectors(&tok, pg, &total);
                        printf("  gpt-2 vectors through the converted vocabulary: %d/%d\n", match,
                               total);
                        CHECK_MSG(match == total && total > 0, "%d/%d", match, total);
                        nb_tokenizer_free(&tok);
                    }
                }
                gguf_mem_free(&m);
            }
        }
        nb_hf_vocab_free(&v);
        free(js.p);
    }
    nb_gguf_free(&g);
    free(gb);
}

/* a small tokenizer.json around a model object and a pre_tokenizer */
static char *small_json(const char *pre_tokenizer, const char *model, const char *added,
                        const char *post) {
    membuf m = {0};
    mb_puts(&m, "{\"version\": \"1.0\", \"added_tokens\": ");
    mb_puts(&m, added ? added : "[]");
    mb_puts(&m, ", \"pre_tokenizer\": ");
    mb_puts(&m, pre_tokenizer ? pre_tokenizer : "null");
    mb_puts(&m, ", \"post_processor\": ");
    mb_puts(&m, post ? post : "null");
    mb_puts(&m, ", \"model\": ");
    mb_puts(&m, model);
    mb_puts(&m, "}");
    return (char *)m.p;
}

static const char SMALL_BPE[] =
    "{\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"\xc4\xa0\": 4, \"c\": 7},"
    " \"merges\": [[\"a\", \"b\"], [\"a b\", \"c\"], \"ab c\"]}";
static const char SMALL_ADDED[] =
    "[{\"id\": 5, \"content\": \"<|im_start|>\", \"special\": true},"
    " {\"id\": 6, \"content\": \"\xe2\x96\x81hi\xe2\x96\x81\", \"special\": false},"
    " {\"id\": 7, \"content\": \"<pad>\", \"special\": false},"
    " {\"id\": 8, \"content\": \"<|im_end|>\", \"special\": true}]";

static nb_status from_json(const char *tok_json, const char *tcfg, const char *config,
                           const nb_hf_vocab_opts *o, nb_hf_vocab *v, nb_err *err) {
    nb_hf_tokenizer_files f = {0};
    f.tokenizer_json = text(tok_json);
    if (tcfg) f.tokenizer_config = text(tcfg);
    if (config) f.config = text(config);
    return nb_hf_vocab_from_files(&f, o, v, err);
}

static void t_bpe_small(void) {
    const char *bl = "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}";
    char *js = small_json("{\"type\": \"ByteLevel\"}", SMALL_BPE, SMALL_ADDED, NULL);
    nb_err err = {0};
    nb_hf_vocab v;
    const char *tcfg = "{\"bos_token\": {\"content\": \"<|im_start|>\", \"special\": true},"
                       " \"eos_token\": \"<|im_end|>\", \"pad_token\": \"<|im_end|>\","
                       " \"unk_token\": \"<not-a-token>\", \"add_bos_token\": false,"
                       " \"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"},"
                       "                     {\"name\": \"default\", \"template\": \"D\"}]}";
    nb_status s = from_json(js, tcfg, "{\"vocab_size\": 10, \"unk_token_id\": 1}", NULL, &v, &err);
    CHECK_OK(s, err);
    if (!s) {
        CHECK(v.n_tokens == 10 && v.n_base == 9 && !strcmp(v.pre, "gpt-2"));
        CHECK(!strcmp(v.tokens[3], "[PAD3]") && v.types[3] == NB_TOKEN_UNUSED);
        CHECK(!strcmp(v.tokens[9], "[PAD9]") && v.types[9] == NB_TOKEN_UNUSED);
        CHECK(!strcmp(v.tokens[4], "\xc4\xa0") && v.types[4] == NB_TOKEN_NORMAL);
        CHECK(v.types[5] == NB_TOKEN_CONTROL && !strcmp(v.tokens[5], "<|im_start|>"));
        CHECK_MSG(!strcmp(v.tokens[6], " hi ") && v.types[6] == NB_TOKEN_USER_DEFINED, "'%s'",
                  v.tokens[6]);
        /* an added token takes its slot; "<pad>" looks special */
        CHECK(!strcmp(v.tokens[7], "<pad>") && v.types[7] == NB_TOKEN_CONTROL);
        CHECK(v.n_merges == 3);
        if (v.n_merges == 3) {
            CHECK(!strcmp(v.merges[0], "a b"));
            CHECK_MSG(!strcmp(v.merges[1], "a\xc4\xa0" "b c"), "'%s'", v.merges[1]);
            CHECK(!strcmp(v.merges[2], "ab c"));
        }
        /* names -> the first added token with that content; unk from
         * config.json since its name is no added token */
        CHECK(v.bos == 5 && v.eos == 8 && v.pad == 8 && v.unk == 1);
        CHECK(v.add_bos == 0 && v.add_eos == -1);
        CHECK(v.chat_template && !strcmp(v.chat_template, "D"));

        /* the keys as llama.cpp writes them */
        v.sep = 2;
        v.cls = 0;
        v.mask = 1;
        v.eot = 8;
        v.add_sep = 1;
        v.token_type_count = 2;
        gguf_mem m;
        if (write_vocab(&v, &m)) {
            static const char *const u32keys[] = {
                "tokenizer.ggml.bos_token_id",       "tokenizer.ggml.eos_token_id",
                "tokenizer.ggml.unknown_token_id",   "tokenizer.ggml.seperator_token_id",
                "tokenizer.ggml.padding_token_id",   "tokenizer.ggml.cls_token_id",
                "tokenizer.ggml.mask_token_id",      "tokenizer.ggml.eot_token_id",
                "tokenizer.ggml.token_type_count"};
            for (size_t i = 0; i < sizeof u32keys / sizeof *u32keys; i++) {
                const nb_gguf_kv *kv = nb_gguf_find_key(&m.g, u32keys[i]);
                CHECK_MSG(kv && kv->type == NB_GGUF_U32, "%s", u32keys[i]);
            }
            const nb_gguf_kv *kv = nb_gguf_find_key(&m.g, "tokenizer.ggml.add_bos_token");
            CHECK(kv && kv->type == NB_GGUF_BOOL && kv->val[0] == 0);
            kv = nb_gguf_find_key(&m.g, "tokenizer.ggml.add_sep_token");
            CHECK(kv && kv->type == NB_GGUF_BOOL && kv->val[0] == 1);
            CHECK(nb_gguf_find_key(&m.g, "tokenizer.ggml.add_eos_token") == NULL);
            CHECK(nb_gguf_find_key(&m.g, "tokenizer.ggml.scores") == NULL);
            CHECK(nb_gguf_find_key(&m.g, "tokenizer.ggml.add_space_prefix") == NULL);
            kv = nb_gguf_find_key(&m.g, "tokenizer.ggml.token_type");
            CHECK(kv && kv->arr_type == NB_GGUF_I32 && kv->arr_n == 10);
            nb_str str;
            CHECK(nb_gguf_get_str(&m.g, "tokenizer.chat_template", &str, NULL) == NB_OK &&
                  nb_str_eq(str, "D"));
            CHECK(nb_gguf_get_str(&m.g, "tokenizer.ggml.pre", &str, NULL) == NB_OK &&
                  nb_str_eq(str, "gpt-2"));
            CHECK(gguf_id(&m.g, "tokenizer.ggml.seperator_token_id") == 2);
            CHECK(compare_tokens(&v, &m.g, 0) == 0 && compare_merges(&v, &m.g) == 0);
        }
        gguf_mem_free(&m);
        /* the writer refuses an id out of range */
        v.eot = 10;
        nb_gguf_writer *w = NULL;
        membuf sink = {0};
        CHECK_OK(nb_gguf_writer_new(&w, mem_write, &sink, NULL, &err), err);
        CHECK(nb_hf_vocab_write(&v, w, &err) == NB_ERR_RANGE && strstr(err.msg, "eot"));
        nb_gguf_writer_free(w);
        free(sink.p);
    }
    nb_hf_vocab_free(&v);
    free(js);

    /* pre-tokenizers recognised by shape */
    static const struct {
        const char *pre_tokenizer, *want;
        int known;
    } P[] = {
        {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": "
         "{\"Regex\": \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|"
         "\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|"
         "\\\\s+\"}, \"behavior\": \"Isolated\", \"invert\": false}, %s]}",
         "llama-bpe", 1},
        {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": "
         "{\"Regex\": \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|"
         "\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|"
         "\\\\s+\"}, \"behavior\": \"Isolated\", \"invert\": false}, %s]}",
         "qwen2", 1},
        {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", "
         "\"individual_digits\": true}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
         "\"trim_offsets\": true, \"use_regex\": true}]}%.0s",
         "smollm", 1},
        {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": "
         "{\"Regex\": \"\\\\p{N}+\"}}, %s]}",
         "default", 0},
        {"{\"type\": \"Whitespace\"}%.0s", "default", 0},
    };
    for (size_t i = 0; i < sizeof P / sizeof *P; i++) {
        char pt[1024];
        snprintf(pt, sizeof pt, P[i].pre_tokenizer, bl);
        js = small_json(pt, SMALL_BPE, NULL, NULL);
        s = from_json(js, NULL, NULL, NULL, &v, &err);
        CHECK_OK(s, err);
        if (!s)
            CHECK_MSG(!strcmp(v.pre, P[i].want) && v.pre_known == P[i].known, "%zu: '%s' %d", i,
                      v.pre, v.pre_known);
        nb_hf_vocab_free(&v);
        nb_hf_vocab_opts o = {NB_HF_VOCAB_AUTO, 0, "llama3"};
        CHECK_OK(from_json(js, NULL, NULL, &o, &v, &err), err);
        CHECK(!strcmp(v.pre, "llama3") && v.pre_known);
        nb_hf_vocab_free(&v);
        free(js);
    }

    /* post_processor: Llama 3's TemplateProcessing adds BOS; a trailing
     * special token other than the eos becomes the eos, the old eos the eot */
    const char *post =
        "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": "
        "\"<|im_start|>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, "
        "{\"SpecialToken\": {\"id\": \"<pad>\", \"type_id\": 0}}]}";
    js = small_json(NULL, SMALL_BPE, SMALL_ADDED, post);
    s = from_json(js, "{\"bos_token\": \"<|im_start|>\", \"eos_token\": \"<|im_end|>\"}", NULL,
                  NULL, &v, &err);
    CHECK_OK(s, err);
    if (!s) CHECK(v.add_bos == 1 && v.add_eos == 1 && v.bos == 5 && v.eos == 7 && v.eot == 8);
    nb_hf_vocab_free(&v);
    free(js);
    const char *seq = "{\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\"}, "
                      "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": "
                      "{\"id\": \"<|im_end|>\"}}, {\"Sequence\": {\"id\": \"A\"}}]}]}";
    js = small_json(NULL, SMALL_BPE, SMALL_ADDED, seq);
    s = from_json(js, "{\"bos_token\": \"<|im_start|>\"}", NULL, NULL, &v, &err);
    CHECK_OK(s, err);
    if (!s) CHECK(v.add_bos == 0 && v.add_eos == -1 && v.bos == 5);
    nb_hf_vocab_free(&v);
    /* without tokenizer_config.json no names are looked up; special_tokens_map
     * fills in */
    s = from_json(js, NULL, NULL, NULL, &v, &err);
    CHECK_OK(s, err);
    if (!s) CHECK(v.bos == -1 && v.add_bos == 1);
    nb_hf_vocab_free(&v);
    {
        nb_hf_tokenizer_files f = {0};
        f.tokenizer_json = text(js);
        f.special_tokens_map = text("{\"bos_token\": {\"content\": \"<|im_end|>\"}}");
        CHECK_OK(nb_hf_vocab_from_files(&f, NULL, &v, &err), err);
        CHECK(v.bos == 8 && v.add_bos == 1);
        nb_hf_vocab_free(&v);
    }
    free(js);
}

static void t_wordpiece(void) {
    const char *model = "{\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", "
                        "\"continuing_subword_prefix\": \"##\", \"max_input_chars_per_word\": 100,"
                        " \"vocab\": {\"[PAD]\": 0, \"[UNK]\": 1, \"[CLS]\": 2, \"[SEP]\": 3,"
                        " \"[MASK]\": 4, \"hello\": 5, \"##lo\": 6, \"[unused0]\": 7}}";
    const char *added = "[{\"id\": 0, \"content\": \"[PAD]\", \"special\": true},"
                        " {\"id\": 1, \"content\": \"[UNK]\", \"special\": true},"
                        " {\"id\": 2, \"content\": \"[CLS]\", \"special\": true},"
                        " {\"id\": 3, \"content\": \"[SEP]\", \"special\": true},"
                        " {\"id\": 4, \"content\": \"[MASK]\", \"special\": true}]";
    const char *post = "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": "
                       "{\"id\": \"[CLS]\"}}, {\"Sequence\": {\"id\": \"A\"}}, {\"SpecialToken\": "
                       "{\"id\": \"[SEP]\"}}]}";
    char *js = small_json("{\"type\": \"BertPreTokenizer\"}", model, added, post);
    const char *tcfg = "{\"cls_token\": \"[CLS]\", \"sep_token\": \"[SEP]\", \"unk_token\": "
                       "\"[UNK]\", \"pad_token\": \"[PAD]\", \"mask_token\": \"[MASK]\"}";
    nb_err err = {0};
    nb_hf_vocab v;
    nb_status s = from_json(js, tcfg, "{\"type_vocab_size\": 2}", NULL, &v, &err);
    CHECK_OK(s, err);
    if (!s) {
        CHECK(!strcmp(v.model, "bert") && !strcmp(v.pre, "default") && v.n_merges == 0);
        CHECK(v.n_tokens == 8 && v.token_type_count == 2);
        CHECK(!strcmp(v.tokens[2], "[CLS]") && v.types[2] == NB_TOKEN_CONTROL);
        CHECK(!strcmp(v.tokens[5], "\xe2\x96\x81hello") && v.types[5] == NB_TOKEN_NORMAL);
        CHECK(!strcmp(v.tokens[6], "lo") && v.token_len[6] == 2);
        CHECK(!strcmp(v.tokens[7], "\xe2\x96\x81[unused0]"));
        /* bos/eos from cls/sep, add both from the template */
        CHECK(v.cls == 2 && v.sep == 3 && v.bos == 2 && v.eos == 3 && v.unk == 1 && v.pad == 0 &&
              v.mask == 4);
        CHECK(v.add_bos == 1 && v.add_eos == 1);
    }
    nb_hf_vocab_free(&v);
    free(js);
}

/* ---------------------------------------------- unsupported, malformed */

static void expect_json_error(const char *name, const char *tok_json, const char *config,
                              nb_status want, const char *needle) {
    nb_err err = {0};
    nb_hf_vocab v;
    nb_status s = from_json(tok_json, NULL, config, NULL, &v, &err);
    CHECK_MSG(s == want, "%s: %s (%s), want %s", name, nb_status_str(s), err.msg,
              nb_status_str(want));
    CHECK_MSG(s == NB_OK || strstr(err.msg, needle), "%s: '%s' lacks '%s'", name, err.msg, needle);
    CHECK(v.n_tokens == 0 && v.tokens == NULL && v.merges == NULL);
    nb_hf_vocab_free(&v);
}

static void t_json_bad(void) {
    char *js;
#define BAD(name, model, added, config, st, needle)                 \
    js = small_json(NULL, model, added, NULL);                      \
    expect_json_error(name, js, config, st, needle);                \
    free(js)
    BAD("unigram", "{\"type\": \"Unigram\", \"vocab\": [[\"a\", 0.0]]}", NULL, NULL,
        NB_ERR_UNSUPPORTED, "tokenizer.model");
    BAD("unigram inferred", "{\"vocab\": [[\"a\", 0.0]]}", NULL, NULL, NB_ERR_UNSUPPORTED,
        "Unigram");
    BAD("byte_fallback", "{\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0}, "
        "\"merges\": []}", NULL, NULL, NB_ERR_UNSUPPORTED, "tokenizer.model");
    BAD("wordlevel", "{\"type\": \"WordLevel\", \"vocab\": {\"a\": 0}}", NULL, NULL,
        NB_ERR_UNSUPPORTED, "WordLevel");
    BAD("type not a string", "{\"type\": 3, \"vocab\": {}}", NULL, NULL, NB_ERR_FORMAT,
        "model.type");
    BAD("merges not strings", "{\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [1, 2]}",
        NULL, NULL, NB_ERR_FORMAT, "model.merges[0]");
    BAD("merge pair of 3", "{\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": "
        "[\"a b\", [\"a\", \"b\", \"c\"]]}", NULL, NULL, NB_ERR_FORMAT, "model.merges[1]");
    BAD("merge pair not strings", "{\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": "
        "[[\"a\", 5]]}", NULL, NULL, NB_ERR_FORMAT, "model.merges[0]");
    BAD("merge without space", "{\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": "
        "[\"ab\"]}", NULL, NULL, NB_ERR_FORMAT, "model.merges[0]");
    BAD("merge space first", "{\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": "
        "[\" ab\"]}", NULL, NULL, NB_ERR_FORMAT, "model.merges[0]");
    BAD("merges missing", "{\"type\": \"BPE\", \"vocab\": {\"a\": 0}}", NULL, NULL, NB_ERR_FORMAT,
        "model.merges");
    BAD("merges an object", "{\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": {}}", NULL,
        NULL, NB_ERR_FORMAT, "model.merges");
    BAD("vocab missing", "{\"type\": \"BPE\", \"merges\": []}", NULL, NULL, NB_ERR_FORMAT,
        "model.vocab");
    BAD("vocab empty", "{\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}", NULL, NULL,
        NB_ERR_FORMAT, "model.vocab");
    BAD("duplicate ids", "{\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"c\": 1}, "
        "\"merges\": []}", NULL, NULL, NB_ERR_FORMAT, "model.vocab[\"c\"]");
    BAD("id negative", "{\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}", NULL, NULL,
        NB_ERR_RANGE, "model.vocab[\"a\"]");
    BAD("id not integer", "{\"type\": \"BPE\", \"vocab\": {\"a\": 1.5}, \"merges\": []}", NULL,
        NULL, NB_ERR_RANGE, "model.vocab[\"a\"]");
    BAD("id a string", "{\"type\": \"BPE\", \"vocab\": {\"a\": \"0\"}, \"merges\": []}", NULL,
        NULL, NB_ERR_FORMAT, "model.vocab[\"a\"]");
    BAD("id huge", "{\"type\": \"BPE\", \"vocab\": {\"a\": 99999999999}, \"merges\": []}", NULL,
        NULL, NB_ERR_RANGE, "model.vocab[\"a\"]");
    BAD("id beyond vocab_size", "{\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 12}, "
        "\"merges\": []}", NULL, "{\"vocab_size\": 10}", NB_ERR_RANGE, "model.vocab[\"b\"]");
    BAD("added id beyond vocab_size", SMALL_BPE,
        "[{\"id\": 10, \"content\": \"<x>\", \"special\": true}]", "{\"vocab_size\": 10}",
        NB_ERR_RANGE, "added_tokens[0] \"<x>\" has id 10, not below vocab_size 10");
    BAD("added without content", SMALL_BPE, "[{\"id\": 10}]", NULL, NB_ERR_FORMAT,
        "added_tokens[0]");
    BAD("added without id", SMALL_BPE, "[{\"content\": \"x\"}]", NULL, NB_ERR_FORMAT,
        "added_tokens[0]");
    BAD("added duplicate ids", SMALL_BPE,
        "[{\"id\": 9, \"content\": \"x\"}, {\"id\": 9, \"content\": \"y\"}]", NULL,
        NB_ERR_FORMAT, "added_tokens[1]");
    BAD("added not an array", SMALL_BPE, "{}", NULL, NB_ERR_FORMAT, "added_tokens");
    BAD("model not an object", "[]", NULL, NULL, NB_ERR_FORMAT, "\"model\"");
    BAD("vocab_size negative", SMALL_BPE, NULL, "{\"vocab_size\": -3}", NB_ERR_RANGE,
        "vocab_size");
    BAD("vocab_size huge", SMALL_BPE, NULL, "{\"vocab_size\": 4000000000}", NB_ERR_RANGE,
        "vocab_size");
#undef BAD
    expect_json_error("missing model", "{\"version\": \"1.0\", \"added_tokens\": []}", NULL,
                      NB_ERR_FORMAT, "\"model\"");
    expect_json_error("top level array", "[1, 2]", NULL, NB_ERR_FORMAT, "tokenizer.json");
    expect_json_error("syntax", "{\"model\": {\"type\": \"BPE\",, }}", NULL, NB_ERR_FORMAT,
                      "tokenizer.json:1:");
    expect_json_error("bad config.json", SMALL_BPE, "{\"vocab_size\": }", NB_ERR_FORMAT,
                      "config.json");
    /* SPM-side files */
    nb_err err = {0};
    nb_hf_vocab v;
    membuf m = {0};
    pb_piece(&m, "a", 0, 0);
    nb_hf_tokenizer_files f = {0};
    f.tokenizer_model = bytes_of(&m);
    f.added_tokens = text("{\"<x>\": \"1\"}");
    CHECK(nb_hf_vocab_from_files(&f, NULL, &v, &err) == NB_ERR_FORMAT &&
          strstr(err.msg, "added_tokens.json") && v.tokens == NULL);
    f.added_tokens.data = NULL;
    f.tokenizer_config = text("{\"added_tokens_decoder\": {\"1x\": {\"content\": \"y\"}}}");
    CHECK(nb_hf_vocab_from_files(&f, NULL, &v, &err) == NB_ERR_FORMAT &&
          strstr(err.msg, "added_tokens_decoder[\"1x\"]"));
    f.tokenizer_config = text("{\"added_tokens_decoder\": {\"0\": {\"special\": true}}}");
    CHECK(nb_hf_vocab_from_files(&f, NULL, &v, &err) == NB_ERR_FORMAT &&
          strstr(err.msg, "content"));
    f.tokenizer_config = text("{\"added_tokens_decoder\": {\"0\": {\"content\": \"<s>\","
                              " \"special\": true}}}");
    CHECK_OK(nb_hf_vocab_from_files(&f, NULL, &v, &err), err);
    CHECK(v.n_tokens == 1 && !strcmp(v.tokens[0], "<s>") && v.types[0] == NB_TOKEN_CONTROL);
    nb_hf_vocab_free(&v);
    f.tokenizer_model.data = NULL;
    CHECK(nb_hf_vocab_from_files(&f, NULL, &v, &err) == NB_ERR_NOT_FOUND);
    nb_hf_vocab_opts o = {NB_HF_VOCAB_SPM, 0, "much-too-long-pre-tokenizer-name-here"};
    CHECK(nb_hf_vocab_from_files(&f, &o, &v, &err) == NB_ERR_INVALID_ARG);
    free(m.p);
    /* writing an empty vocabulary */
    nb_hf_vocab_init(&v);
    CHECK(nb_hf_vocab_write(&v, NULL, &err) == NB_ERR_INVALID_ARG);
}

/* a BPE directory: tokenizer.json + chat_template.jinja, through the loader */
static void t_bpe_dir(void) {
    char dir[512], path[700];
    snprintf(dir, sizeof dir, "%s/bpe-dir", nb_test_tmp_dir());
    mkdir(dir, 0700);
    char *js = small_json("{\"type\": \"ByteLevel\"}", SMALL_BPE, SMALL_ADDED, NULL);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    CHECK(nb_test_write_file(path, js, strlen(js)) == 0);
    const char *tcfg = "{\"eos_token\": \"<|im_end|>\", \"add_eos_token\": true}";
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    CHECK(nb_test_write_file(path, tcfg, strlen(tcfg)) == 0);
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    CHECK(nb_test_write_file(path, "{{ J }}\n", 8) == 0);
    nb_err err = {0};
    nb_hf_vocab v;
    nb_status s = nb_hf_vocab_load_dir(dir, NULL, &v, &err);
    CHECK_OK(s, err);
    if (!s) {
        CHECK(!strcmp(v.model, "gpt2") && v.n_tokens == 9 && v.eos == 8 && v.add_eos == 1);
        CHECK(v.chat_template && !strcmp(v.chat_template, "{{ J }}\n"));
    }
    nb_hf_vocab_free(&v);
    /* tokenizer_config's chat_template wins; null means none (Python's get) */
    tcfg = "{\"chat_template\": null}";
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    CHECK(nb_test_write_file(path, tcfg, strlen(tcfg)) == 0);
    CHECK_OK(nb_hf_vocab_load_dir(dir, NULL, &v, &err), err);
    CHECK(v.chat_template == NULL);
    nb_hf_vocab_free(&v);
    free(js);
}

/* tokenizer.json with random JSON-ish characters replaced: a vocabulary
 * or a clean error, never a crash (run under SAN=1) */
static void t_json_mutations(void) {
    const char *post = "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": "
                       "{\"id\": \"<|im_start|>\"}}, {\"Sequence\": {\"id\": \"A\"}}]}";
    char *base = small_json("{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", "
                            "\"individual_digits\": true}, {\"type\": \"ByteLevel\"}]}",
                            SMALL_BPE, SMALL_ADDED, post);
    const char *tcfg = "{\"bos_token\": \"<|im_start|>\", \"chat_template\": [{\"name\": "
                       "\"default\", \"template\": \"x\"}]}";
    static const char alphabet[] = "0123456789-\"[]{},: aE.n";
    size_t n = strlen(base);
    char *js = malloc(n + 1);
    uint32_t x = 99;
    int ok = 0, bad = 0;
    for (int round = 0; round < 4000; round++) {
        memcpy(js, base, n + 1);
        for (int k = 0; k < 1 + round % 3; k++) {
            x = x * 1103515245u + 12345u;
            js[(x >> 8) % n] = alphabet[(x >> 20) % (sizeof alphabet - 1)];
        }
        nb_err err = {0};
        nb_hf_vocab v;
        nb_hf_tokenizer_files f = {0};
        f.tokenizer_json.data = js;
        f.tokenizer_json.size = n;
        f.tokenizer_config = text(round & 1 ? tcfg : "{}");
        nb_status s = nb_hf_vocab_from_files(&f, NULL, &v, &err);
        if (s == NB_OK) {
            ok++;
            CHECK(v.n_tokens > 0 && v.n_tokens <= NB_HF_MAX_TOKENS && v.tokens && v.types);
        } else {
            bad++;
            CHECK_MSG(err.msg[0] && v.tokens == NULL, "round %d: %s", round, err.msg);
        }
        nb_hf_vocab_free(&v);
    }
    printf("  4000 mutated tokenizer.json: %d read, %d clean errors\n", ok, bad);
    free(js);
    free(base);
}

int main(void) {
    RUN(t_spm_llama2);
    RUN(t_spm_dir);
    RUN(t_spm_small);
    RUN(t_spm_hostile);
    RUN(t_bpe_gpt2);
    RUN(t_bpe_small);
    RUN(t_wordpiece);
    RUN(t_json_bad);
    RUN(t_bpe_dir);
    RUN(t_json_mutations);
    return nb_test_done();
}
