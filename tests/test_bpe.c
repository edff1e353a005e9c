/* Byte-level BPE tokenizer: llama.cpp's test vectors for every "gpt2"
 * vocabulary in ../shared (and Llama 3's, from its encoder.json/vocab.bpe),
 * decode round trips, special tokens, the pre-tokenizer scanners on their
 * own, the Unicode tables, hostile vocabularies, speed on TinyStories. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "support_vectors.h"
#include "text/text.h"
#include "text/unicode.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>


static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------ GGUF in memory */

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

/* a vocabulary: tokens (all NORMAL unless types given), merges, keys */
typedef struct vocab_spec {
    const char *model;      /* NULL: omitted */
    const char *pre;        /* NULL: omitted */
    const nb_str *tokens;
    const int32_t *types;   /* NULL: omitted */
    int n_tokens;
    const nb_str *merges;
    int n_merges;           /* -1: key omitted */
    int merges_as_ints;     /* store tokenizer.ggml.merges with the wrong type */
} vocab_spec;

static int build_vocab(const vocab_spec *v, membuf *m) {
    nb_gguf_writer *w = NULL;
    nb_err e = {0};
    memset(m, 0, sizeof *m);
    if (nb_gguf_writer_new(&w, mem_write, m, NULL, &e)) return 0;
    if (v->model) nb_gguf_set_str(w, "tokenizer.ggml.model", v->model, &e);
    if (v->pre) nb_gguf_set_str(w, "tokenizer.ggml.pre", v->pre, &e);
    nb_gguf_set_arr_str(w, "tokenizer.ggml.tokens", v->tokens, (uint64_t)v->n_tokens, &e);
    if (v->types)
        nb_gguf_set_arr(w, "tokenizer.ggml.token_type", NB_GGUF_I32, v->types,
                        (uint64_t)v->n_tokens, &e);
    if (v->merges_as_ints) {
        int32_t z[2] = {0, 0};
        nb_gguf_set_arr(w, "tokenizer.ggml.merges", NB_GGUF_I32, z, 2, &e);
    } else if (v->n_merges >= 0) {
        nb_gguf_set_arr_str(w, "tokenizer.ggml.merges", v->merges, (uint64_t)v->n_merges, &e);
    }
    nb_status s = nb_gguf_writer_write_header(w, &e);
    if (!s) s = nb_gguf_writer_finish(w, &e);
    nb_gguf_writer_free(w);
    CHECK_MSG(s == NB_OK, "builder: %s", e.msg);
    return s == NB_OK;
}

/* ---------------------------------------------------------- loading */

typedef struct loaded {
    void *bytes;
    nb_gguf g;
    nb_tokenizer tok;
    int ok;
} loaded;

static int load_bytes(void *bytes, size_t n, loaded *L) {
    nb_err err = {0};
    L->bytes = bytes;
    nb_status s = nb_gguf_parse(bytes, n, &L->g, &err);
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

static int load_path(const char *path, loaded *L) {
    size_t n = 0;
    memset(L, 0, sizeof *L);
    void *b = nb_test_read_file(path, &n);
    CHECK_MSG(b != NULL, "cannot read %s", path);
    return b && load_bytes(b, n, L);
}

static void unload(loaded *L) {
    if (L->ok) {
        nb_tokenizer_free(&L->tok);
        nb_gguf_free(&L->g);
    }
    free(L->bytes);
    memset(L, 0, sizeof *L);
}

/* decode ids into a malloc'd string */
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
        m += (size_t)(k > 0 ? k : 0);
    }
    *len = m;
    return s;
}

/* ----------------------------------------------------------- vectors */

/* Tokenize every string of inp with add_special=0, parse_special=0 and
 * compare with the lines of out; check the decode round trip. */
static void check_vectors(const char *name, const nb_tokenizer *tok, const char *pin,
                          const char *pout) {
    nb_vectors vec;
    CHECK_MSG(nb_vectors_open(&vec, pin, pout) == 0, "cannot read %s / %s", pin, pout);
    int total = 0, match = 0, rt_ok = 0, ne;
    enum { MAXT = 4096 };
    static int32_t ids[MAXT], exp[MAXT];
    const char *str;
    size_t slen;
    while (nb_vectors_next(&vec, &str, &slen, exp, MAXT, &ne)) {
        total++;
        nb_err err = {0};
        int32_t n = 0;
        nb_status s = nb_tokenize(tok, str, slen, 0, 0, ids, MAXT, &n, &err);
        int same = s == NB_OK && n == ne && !memcmp(ids, exp, (size_t)n * sizeof *ids);
        if (same) {
            match++;
        } else {
            printf("  %s: string %d '%.*s': got", name, total, (int)(slen > 40 ? 40 : slen), str);
            for (int32_t i = 0; i < n && i < 24; i++) printf(" %d", (int)ids[i]);
            printf(" | want");
            for (int i = 0; i < ne && i < 24; i++) printf(" %d", (int)exp[i]);
            printf("\n");
        }
        size_t dl = 0;
        char *d = decode(tok, ids, s == NB_OK ? n : 0, &dl);
        if (d && dl == slen && !memcmp(d, str, slen)) rt_ok++;
        else printf("  %s: round trip differs on string %d\n", name, total);
        free(d);
    }
    printf("  %s: %d/%d strings exact, %d/%d round trips exact\n", name, match, total, rt_ok,
           total);
    CHECK_MSG(match == total && total > 0, "%s: %d/%d", name, match, total);
    CHECK_MSG(rt_ok == total, "%s: round trips %d/%d", name, rt_ok, total);
    nb_vectors_close(&vec);
}

static void run_vocab(const char *name, const char *want_pre) {
    const char *sh = nb_test_shared_dir();
    if (!sh) {
        nb_test_skip("no shared data folder");
        return;
    }
    char path[1024], pin[1100], pout[1100];
    snprintf(path, sizeof path, "%s/models/vocab/ggml-vocab-%s.gguf", sh, name);
    snprintf(pin, sizeof pin, "%s.inp", path);
    snprintf(pout, sizeof pout, "%s.out", path);
    loaded L;
    if (load_path(path, &L)) {
        CHECK(L.tok.vocab_type == NB_VOCAB_BPE);
        CHECK_MSG(!strcmp(L.tok.pre, want_pre), "pre %s", L.tok.pre);
        check_vectors(name, &L.tok, pin, pout);
    }
    unload(&L);
}

static void t_gpt2(void) { run_vocab("gpt-2", "gpt-2"); }
static void t_deepseek_coder(void) { run_vocab("deepseek-coder", "deepseek-coder"); }
static void t_deepseek_llm(void) { run_vocab("deepseek-llm", "deepseek-llm"); }
static void t_falcon(void) { run_vocab("falcon", "falcon"); }
static void t_mpt(void) { run_vocab("mpt", "mpt"); }
static void t_refact(void) { run_vocab("refact", "refact"); }
static void t_starcoder(void) { run_vocab("starcoder", "starcoder"); }

/* ------------------------------------------- Llama 3 from encoder.json */

/* Minimal reader of a JSON object {"string": int, ...} (GPT-2's
 * encoder.json form): fills texts[id] with malloc'd token strings. */
static int parse_encoder(const char *j, size_t n, nb_str *texts, int max_id) {
    size_t i = 0;
    int count = 0;
    char *buf = malloc(n + 1);
    if (!buf) return -1;
    while (i < n && j[i] != '{') i++;
    i++;
    for (;;) {
        while (i < n && (j[i] == ' ' || j[i] == '\n' || j[i] == '\r' || j[i] == '\t' || j[i] == ','))
            i++;
        if (i >= n || j[i] == '}') break;
        if (j[i] != '"') goto bad;
        i++;
        size_t m = 0;
        while (i < n && j[i] != '"') {
            char c = j[i++];
            if (c != '\\') {
                buf[m++] = c;
                continue;
            }
            if (i >= n) goto bad;
            c = j[i++];
            switch (c) {
            case 'n': buf[m++] = '\n'; break;
            case 't': buf[m++] = '\t'; break;
            case 'r': buf[m++] = '\r'; break;
            case 'b': buf[m++] = '\b'; break;
            case 'f': buf[m++] = '\f'; break;
            case 'u': {
                if (i + 4 > n) goto bad;
                char hx[5] = {j[i], j[i + 1], j[i + 2], j[i + 3], 0};
                uint32_t cp = (uint32_t)strtoul(hx, NULL, 16);
                i += 4;
                if (cp >= 0xd800 && cp < 0xdc00 && i + 6 <= n && j[i] == '\\' && j[i + 1] == 'u') {
                    char lo[5] = {j[i + 2], j[i + 3], j[i + 4], j[i + 5], 0};
                    cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)strtoul(lo, NULL, 16) - 0xdc00);
                    i += 6;
                }
                m += nb_utf8_encode(cp, (uint8_t *)buf + m);
                break;
            }
            default: buf[m++] = c; break; /* \" \\ \/ */
            }
        }
        i++; /* closing quote */
        while (i < n && (j[i] == ' ' || j[i] == ':')) i++;
        long id = strtol(j + i, NULL, 10);
        while (i < n && ((j[i] >= '0' && j[i] <= '9') || j[i] == '-')) i++;
        if (id < 0 || id >= max_id || texts[id].ptr) goto bad;
        char *t = malloc(m ? m : 1);
        if (!t) goto bad;
        memcpy(t, buf, m);
        texts[id].ptr = t;
        texts[id].len = m;
        count++;
    }
    free(buf);
    return count;
bad:
    free(buf);
    return -1;
}

static void t_llama3(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) {
        nb_test_skip("no shared data folder");
        return;
    }
    char pe[1024], pm[1024], pin[1024], pout[1024];
    snprintf(pe, sizeof pe, "%s/models/vocab/llama3-bpe/encoder.json", sh);
    snprintf(pm, sizeof pm, "%s/models/vocab/llama3-bpe/vocab.bpe", sh);
    snprintf(pin, sizeof pin, "%s/models/vocab/no-gguf/ggml-vocab-llama-bpe.gguf.inp", sh);
    snprintf(pout, sizeof pout, "%s/models/vocab/no-gguf/ggml-vocab-llama-bpe.gguf.out", sh);
    size_t ne = 0, nm = 0;
    char *ej = nb_test_read_file(pe, &ne);
    char *mb = nb_test_read_file(pm, &nm);
    if (!ej || !mb) {
        free(ej);
        free(mb);
        nb_test_skip("no llama3-bpe encoder.json / vocab.bpe");
        return;
    }
    enum { NV = 128000 };
    nb_str *texts = calloc(NV, sizeof *texts);
    int got = parse_encoder(ej, ne, texts, NV);
    CHECK_MSG(got == NV, "encoder.json: %d tokens", got);
    /* merges: one "a b" per line, in rank order */
    size_t nmerge = 0;
    for (size_t i = 0; i < nm; i++) nmerge += mb[i] == '\n';
    nb_str *merges = calloc(nmerge + 1, sizeof *merges);
    size_t k = 0;
    for (size_t i = 0; i < nm && k <= nmerge;) {
        size_t e = i;
        while (e < nm && mb[e] != '\n') e++;
        if (e > i && !(mb[i] == '#' && k == 0)) {
            merges[k].ptr = mb + i;
            merges[k].len = e - i;
            k++;
        }
        i = e + 1;
    }
    if (got == NV) {
        vocab_spec v = {"gpt2", "llama-bpe", texts, NULL, NV, merges, (int)k, 0};
        membuf m;
        loaded L;
        memset(&L, 0, sizeof L);
        if (build_vocab(&v, &m) && load_bytes(m.p, m.n, &L)) {
            CHECK(L.tok.ignore_merges && L.tok.add_bos && L.tok.n_merges == (int32_t)k);
            check_vectors("llama-bpe (encoder.json + vocab.bpe)", &L.tok, pin, pout);
        }
        unload(&L);
    }
    for (int i = 0; i < NV; i++) free((void *)texts[i].ptr);
    free(texts);
    free(merges);
    free(ej);
    free(mb);
}

/* -------------------------------------------- special tokens, pieces */

static void t_special(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) {
        nb_test_skip("no shared data folder");
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/models/vocab/ggml-vocab-gpt-2.gguf", sh);
    loaded L;
    if (!load_path(path, &L)) {
        unload(&L);
        return;
    }
    const nb_tokenizer *t = &L.tok;
    nb_err err = {0};
    int32_t ids[512], n = 0;
    CHECK(t->bos_id == 50256 && t->eos_id == 50256 && t->unk_id == -1 && !t->add_bos);
    CHECK(t->add_space_prefix == 0 && t->n_merges == 50000);
    /* <|endoftext|> is a control token: text unless parse_special */
    const char *s = "Hi<|endoftext|>there";
    CHECK_OK(nb_tokenize(t, s, strlen(s), 0, 1, ids, 64, &n, &err), err);
    CHECK_MSG(n == 3 && ids[1] == 50256, "n=%d", (int)n);
    CHECK_OK(nb_tokenize(t, s, strlen(s), 0, 0, ids, 64, &n, &err), err);
    CHECK_MSG(n > 3, "n=%d", (int)n);
    for (int32_t i = 0; i < n; i++) CHECK(ids[i] != 50256);
    /* add_special: gpt-2 has no add_bos key and llama.cpp's default is off */
    CHECK_OK(nb_tokenize(t, "Hi", 2, 1, 0, ids, 64, &n, &err), err);
    CHECK(n == 1);
    /* pieces: 'Ġ' decodes to a space, control tokens only when asked */
    char buf[32];
    int32_t id = nb_token_find(t, "\xc4\xa0the", 5); /* "Ġthe" */
    CHECK(id >= 0 && nb_token_to_piece(t, id, buf, sizeof buf) == 4 && !memcmp(buf, " the", 4));
    CHECK(nb_token_to_piece(t, id, buf, 3) == -4);
    CHECK(nb_token_to_piece(t, 50256, buf, sizeof buf) == 0);
    CHECK(nb_token_to_piece_ex(t, 50256, buf, sizeof buf, NB_PIECE_SPECIAL) == 13 &&
          !memcmp(buf, "<|endoftext|>", 13));
    /* every ASCII byte round-trips; a byte that is not UTF-8 becomes U+FFFD
     * (llama.cpp decodes the text to code points first) */
    char bytes[256];
    for (int b = 0; b < 256; b++) bytes[b] = (char)b;
    CHECK_OK(nb_tokenize(t, bytes, 128, 0, 0, ids, 512, &n, &err), err);
    size_t dl = 0;
    char *d = decode(t, ids, n, &dl);
    CHECK(d && dl == 128 && !memcmp(d, bytes, 128));
    free(d);
    CHECK_OK(nb_tokenize(t, "a\xff" "b", 3, 0, 0, ids, 64, &n, &err), err);
    d = decode(t, ids, n, &dl);
    CHECK_MSG(d && dl == 5 && !memcmp(d, "a\xef\xbf\xbd" "b", 5), "dl=%zu", dl);
    free(d);
    /* output too small: NB_ERR_RANGE with the count */
    CHECK(nb_tokenize(t, "Hello world", 11, 0, 0, ids, 1, &n, &err) == NB_ERR_RANGE && n == 2);
    /* arena: nb_tokenizer_mem_size is exact */
    size_t need = nb_tokenizer_mem_size(&L.g);
    CHECK(need > 0);
    void *mem = malloc(need);
    nb_arena a;
    nb_arena_init(&a, mem, need);
    nb_allocator al = nb_arena_allocator(&a);
    nb_tokenizer t2;
    CHECK_OK(nb_tokenizer_load(&L.g, &t2, &al, &err), err);
    CHECK_OK(nb_tokenize(&t2, "Hello world", 11, 0, 0, ids, 64, &n, &err), err);
    CHECK(n == 2 && ids[0] == 15496 && ids[1] == 995);
    nb_tokenizer_free(&t2);
    nb_arena_init(&a, mem, need - 16);
    CHECK(nb_tokenizer_load(&L.g, &t2, &al, &err) == NB_ERR_NOMEM);
    free(mem);
    unload(&L);

    /* user-defined tokens are matched even without parse_special (mpt's
     * runs of spaces are such tokens) */
    snprintf(path, sizeof path, "%s/models/vocab/ggml-vocab-mpt.gguf", sh);
    if (!load_path(path, &L)) {
        unload(&L);
        return;
    }
    t = &L.tok;
    int32_t ud = -1;
    for (int32_t i = 0; i < t->n_vocab && ud < 0; i++)
        if (t->type[i] == NB_TOKEN_USER_DEFINED && t->text[i].len >= 2) ud = i;
    CHECK(ud >= 0);
    if (ud >= 0) {
        char txt[64];
        size_t tl = (size_t)t->text[ud].len < 40 ? (size_t)t->text[ud].len : 40;
        memcpy(txt, "x", 1);
        memcpy(txt + 1, t->text[ud].ptr, tl);
        memcpy(txt + 1 + tl, "y", 1);
        CHECK_OK(nb_tokenize(t, txt, tl + 2, 0, 0, ids, 64, &n, &err), err);
        int found = 0;
        for (int32_t i = 0; i < n; i++) found |= ids[i] == ud;
        CHECK_MSG(found, "user-defined token %d not matched", (int)ud);
        CHECK(nb_token_to_piece(t, ud, buf, sizeof buf) == (int32_t)t->text[ud].len);
    }
    unload(&L);
}

/* ------------------------------------------ pre-tokenizers on their own */

/* split UTF-8 text with pre-tokenizer `kind`, pieces joined by '|' */
static void split_str(int kind, const char *s, char *out, size_t cap) {
    size_t len = strlen(s), n = 0;
    uint32_t cps[256], ends[256], tmp[256];
    uint8_t fl[256];
    size_t off[257];
    for (size_t i = 0; i < len && n < 256; n++) {
        off[n] = i;
        i += nb_utf8_decode((const uint8_t *)s + i, len - i, &cps[n]);
        fl[n] = nb_uc_flags(cps[n]);
    }
    off[n] = len;
    size_t np = nb_bpe_split(kind, cps, fl, n, ends, tmp), o = 0, st = 0;
    for (size_t k = 0; k < np && o + 2 < cap; k++) {
        if (k) out[o++] = '|';
        size_t b = off[st], e = off[ends[k]];
        for (size_t i = b; i < e && o + 1 < cap; i++) out[o++] = s[i];
        st = ends[k];
    }
    out[o] = 0;
}

static void expect_split(int kind, const char *s, const char *want) {
    char got[512];
    split_str(kind, s, got, sizeof got);
    CHECK_MSG(!strcmp(got, want), "kind %d '%s': got '%s' want '%s'", kind, s, got, want);
}

static void t_pretokenizers(void) {
    /* GPT-2: contractions, optional space before a class run, whitespace
     * runs keep their last space for the next word */
    expect_split(NB_PRE_GPT2, "I'll go  now!!", "I|'ll| go| | now|!!");
    expect_split(NB_PRE_GPT2, "a   ", "a|   ");
    expect_split(NB_PRE_GPT2, "x\n\ny", "x|\n|\n|y");
    expect_split(NB_PRE_GPT2, "12345 67", "12345| 67");
    /* Llama 3: case-insensitive contractions, digits in threes, newlines
     * end a whitespace run, punctuation takes trailing newlines */
    expect_split(NB_PRE_LLAMA3, "I'LL 1234567", "I|'LL| |123|456|7");
    expect_split(NB_PRE_LLAMA3, "x  \n\n y", "x|  \n\n| y");
    expect_split(NB_PRE_LLAMA3, "hi!!\n\nthere", "hi|!!\n\n|there");
    expect_split(NB_PRE_LLAMA3, "$hello", "$hello");
    /* Qwen2: the same with single digits */
    expect_split(NB_PRE_QWEN2, "ab 1234", "ab| |1|2|3|4");
    expect_split(NB_PRE_QWEN2, "I'LL", "I|'LL");
    /* StarCoder / Refact / Command-R / SmolLM: digits alone, then GPT-2 */
    expect_split(NB_PRE_STARCODER, "x 123", "x| |1|2|3");
    /* Falcon: punctuation runs first, then GPT-2, then ASCII digit triples
     * (found left to right: what precedes a triple becomes its own piece) */
    expect_split(NB_PRE_FALCON, "a=>b 12345", "a|=>|b| |123|45");
    expect_split(NB_PRE_FALCON, "12345", "123|45");
    /* DeepSeek Coder: newlines alone, \s?letters, \s?punctuation, digits */
    expect_split(NB_PRE_DEEPSEEK_CODER, "a b\n(12)", "a| b|\n|(|1|2|)");
    /* DeepSeek LLM: trailing whitespace split off, CJK runs, digit runs */
    expect_split(NB_PRE_DEEPSEEK_LLM, "ab 12  ", "ab| |12|  ");
    expect_split(NB_PRE_DEEPSEEK_LLM, "\xe6\x88\x91\xe6\x83\xb3ok", "\xe6\x88\x91\xe6\x83\xb3|ok");
    /* default (no tokenizer.ggml.pre) */
    expect_split(NB_PRE_DEFAULT, "a+=b 1234", "a|+=|b| |123|4");
    /* non-ASCII: Cyrillic letters are \p{L}, U+3000 is whitespace */
    expect_split(NB_PRE_GPT2, "\xd0\xbd\xd0\xb0 x\xe3\x80\x80y", "\xd0\xbd\xd0\xb0| x|\xe3\x80\x80|y");
}

/* Random text: every pre-tokenizer covers its input with increasing piece
 * ends; raw random bytes through the GPT-2 vocabulary decode back to the
 * text as llama.cpp normalizes it (bad bytes -> U+FFFD). */
static uint32_t rng_state = 12345;
static uint32_t rnd(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static void t_random(void) {
    static const uint32_t alphabet[] = {' ', ' ', '\n', '\r', '\t', 'a', 'Z', '\'', 's', '1', '9',
                                        '!', '$', '`', '~', 0xa0, 0x3000, 0x2028, 0x85, 0xe9,
                                        0x4e00, 0xac00, 0x301, 0xbd, 0x1f999, 0x660, 0xe000,
                                        0x378, 0x3001, 0xff01, 0x2018, 0x0b};
    enum { N = 64 };
    uint32_t cps[N], ends[N], tmp[N];
    uint8_t fl[N];
    int bad = 0;
    for (int kind = 0; kind < NB_PRE_COUNT; kind++)
        for (int it = 0; it < 3000; it++) {
            size_t n = 1 + rnd() % N;
            for (size_t i = 0; i < n; i++) {
                cps[i] = alphabet[rnd() % (sizeof alphabet / sizeof alphabet[0])];
                fl[i] = nb_uc_flags(cps[i]);
            }
            size_t np = nb_bpe_split(kind, cps, fl, n, ends, tmp);
            int ok = np >= 1 && np <= n && ends[np - 1] == n;
            for (size_t k = 1; k < np && ok; k++) ok = ends[k] > ends[k - 1];
            bad += !ok;
        }
    CHECK_MSG(bad == 0, "%d splits do not cover their input", bad);

    const char *sh = nb_test_shared_dir();
    if (!sh) return;
    char path[1024];
    snprintf(path, sizeof path, "%s/models/vocab/ggml-vocab-gpt-2.gguf", sh);
    loaded L;
    if (!load_path(path, &L)) {
        unload(&L);
        return;
    }
    char txt[256], want[1024];
    int32_t ids[1024], n = 0;
    int mism = 0;
    for (int it = 0; it < 500; it++) {
        size_t len = 1 + rnd() % 200, wl = 0;
        for (size_t i = 0; i < len; i++) txt[i] = (char)(rnd() & 0xff);
        for (size_t i = 0; i < len;) {
            uint32_t c;
            i += nb_utf8_decode((const uint8_t *)txt + i, len - i, &c);
            wl += nb_utf8_encode(c, (uint8_t *)want + wl);
        }
        nb_err err = {0};
        CHECK_OK(nb_tokenize(&L.tok, txt, len, 0, 0, ids, 1024, &n, &err), err);
        size_t dl = 0;
        char *d = decode(&L.tok, ids, n, &dl);
        mism += !(d && dl == wl && !memcmp(d, want, wl));
        free(d);
    }
    CHECK_MSG(mism == 0, "%d random byte strings do not decode back", mism);
    unload(&L);
}

static void t_tool(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) {
        nb_test_skip("no shared data folder");
        return;
    }
    char cmd[2048], outp[1024];
    snprintf(outp, sizeof outp, "%s/bpe.txt", nb_test_tmp_dir());
    snprintf(cmd, sizeof cmd,
             "%s/nb-tokenize -m %s/models/vocab/ggml-vocab-gpt-2.gguf -p 'Hello world' > %s",
             nb_test_bin_dir(), sh, outp);
    CHECK(system(cmd) == 0);
    size_t n = 0;
    char *s = nb_test_read_file(outp, &n);
    CHECK_MSG(s && n == 10 && !memcmp(s, "15496 995\n", 10), "got '%.*s'", (int)n, s ? s : "");
    free(s);
}

/* ------------------------------------------------------ Unicode tables */

static void t_unicode(void) {
    /* ASCII classes must be what llama.cpp's collapsed regexes assume:
     * \p{P} = !"#%&'()*,-./:;?@[\]_{} and \p{S} = $+<=>^`|~ */
    for (int c = 0; c < 128; c++) {
        int cls = nb_uc_flags((uint32_t)c) & NB_UC_CLASS, want;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) want = NB_UC_L;
        else if (c >= '0' && c <= '9') want = NB_UC_N;
        else if (c == ' ') want = NB_UC_Z;
        else if (c < 32 || c == 127) want = NB_UC_C;
        else if (strchr("$+<=>^`|~", c)) want = NB_UC_S;
        else want = NB_UC_P;
        CHECK_MSG(cls == want, "U+%04X: class %d, want %d", c, cls, want);
        int ws = (nb_uc_flags((uint32_t)c) & NB_UC_WS) != 0;
        CHECK_MSG(ws == (c == ' ' || (c >= 9 && c <= 13)), "U+%04X whitespace %d", c, ws);
    }
    CHECK((nb_uc_flags(0x3000) & NB_UC_WS) && (nb_uc_flags(0x85) & NB_UC_WS));
    CHECK((nb_uc_flags(0x4e00) & NB_UC_CLASS) == NB_UC_L);   /* CJK, a First/Last block */
    CHECK((nb_uc_flags(0x0301) & NB_UC_CLASS) == NB_UC_M);   /* combining acute */
    CHECK((nb_uc_flags(0x00bd) & NB_UC_CLASS) == NB_UC_N);   /* ½ */
    CHECK((nb_uc_flags(0x1f999) & NB_UC_CLASS) == NB_UC_S);  /* 🦙 */
    CHECK((nb_uc_flags(0xe000) & NB_UC_CLASS) == NB_UC_C);   /* private use */
    CHECK((nb_uc_flags(0x0378) & NB_UC_CLASS) == NB_UC_CN);  /* unassigned */
    CHECK((nb_uc_flags(0x10ffff) & NB_UC_CLASS) == NB_UC_CN);
    CHECK((nb_uc_flags(0x110000) & NB_UC_CLASS) == NB_UC_CN);
    /* UTF-8 decoding as llama.cpp: bad bytes are U+FFFD, one byte each */
    uint32_t cp;
    CHECK(nb_utf8_decode((const uint8_t *)"\xc3\xa4", 2, &cp) == 2 && cp == 0xe4);
    CHECK(nb_utf8_decode((const uint8_t *)"\xc3", 1, &cp) == 1 && cp == 0xfffd);
    CHECK(nb_utf8_decode((const uint8_t *)"\x80", 1, &cp) == 1 && cp == 0xfffd);
    CHECK(nb_utf8_decode((const uint8_t *)"\xe2\x28\xa1", 3, &cp) == 1 && cp == 0xfffd);
    CHECK(nb_utf8_decode((const uint8_t *)"\xf0\x9f\xa6\x99", 4, &cp) == 4 && cp == 0x1f999);
    CHECK(nb_utf8_decode((const uint8_t *)"\xf7\xbf\xbf\xbf", 4, &cp) == 1 && cp == 0xfffd);
}

/* ------------------------------------------------ hostile vocabularies */

static nb_status load_spec(const vocab_spec *v, nb_err *err) {
    membuf m;
    if (!build_vocab(v, &m)) return NB_ERR_FORMAT;
    nb_gguf g;
    nb_err e2 = {0};
    nb_status s = nb_gguf_parse(m.p, m.n, &g, &e2);
    CHECK_OK(s, e2);
    if (!s) {
        nb_tokenizer tok;
        s = nb_tokenizer_load(&g, &tok, NULL, err);
        if (!s) {
            /* tiny vocab: "a" "b" "ab" "Ġ" "Ġab" with merges a+b, Ġ+ab */
            int32_t ids[8], n = 0;
            nb_err e3 = {0};
            CHECK_OK(nb_tokenize(&tok, "ab ab", 5, 0, 0, ids, 8, &n, &e3), e3);
            CHECK_MSG(n == 2 && ids[0] == 2 && ids[1] == 4, "n=%d", (int)n);
            nb_tokenizer_free(&tok);
        }
        nb_gguf_free(&g);
    }
    free(m.p);
    return s;
}

static void t_hostile(void) {
    static const nb_str toks[] = {{"a", 1}, {"b", 1}, {"ab", 2}, {"\xc4\xa0", 2}, {"\xc4\xa0" "ab", 4}};
    static const nb_str merges[] = {{"a b", 3}, {"\xc4\xa0 ab", 5}, {"a b", 3}};
    nb_err err = {0};
    vocab_spec ok = {"gpt2", "gpt-2", toks, NULL, 5, merges, 3, 0};
    CHECK_OK(load_spec(&ok, &err), err);
    vocab_spec v = ok;
    v.pre = NULL; /* absent: llama.cpp's "default" */
    CHECK_OK(load_spec(&v, &err), err);
    v = ok;
    v.pre = "no-such-pre";
    CHECK(load_spec(&v, &err) == NB_ERR_UNSUPPORTED && strstr(err.msg, "no-such-pre") &&
          strstr(err.msg, "tokenizer.ggml.pre"));
    v = ok;
    v.model = "bert";
    CHECK(load_spec(&v, &err) == NB_ERR_UNSUPPORTED && strstr(err.msg, "bert"));
    v = ok;
    v.n_merges = -1;
    CHECK(load_spec(&v, &err) == NB_ERR_NOT_FOUND && strstr(err.msg, "tokenizer.ggml.merges"));
    v = ok;
    v.merges_as_ints = 1;
    CHECK(load_spec(&v, &err) != NB_OK && strstr(err.msg, "tokenizer.ggml.merges"));
    static const nb_str bad1[] = {{"a b", 3}, {"ab", 2}};
    v = ok;
    v.merges = bad1;
    v.n_merges = 2;
    CHECK(load_spec(&v, &err) == NB_ERR_FORMAT && strstr(err.msg, "merges[1]"));
    static const nb_str bad2[] = {{"a ", 2}};
    v.merges = bad2;
    v.n_merges = 1;
    CHECK(load_spec(&v, &err) == NB_ERR_FORMAT && strstr(err.msg, "merges[0]"));
    static const nb_str bad3[] = {{" ab", 3}};
    v.merges = bad3;
    CHECK(load_spec(&v, &err) == NB_ERR_FORMAT);
    /* no merges at all is a valid (character-level) vocabulary */
    v = ok;
    v.n_merges = 0;
    {
        membuf m;
        nb_gguf g;
        nb_tokenizer tok;
        if (build_vocab(&v, &m)) {
            CHECK_OK(nb_gguf_parse(m.p, m.n, &g, &err), err);
            CHECK_OK(nb_tokenizer_load(&g, &tok, NULL, &err), err);
            int32_t ids[8], n = 0;
            CHECK_OK(nb_tokenize(&tok, "ab", 2, 0, 0, ids, 8, &n, &err), err);
            CHECK(n == 2 && ids[0] == 0 && ids[1] == 1);
            nb_tokenizer_free(&tok);
            nb_gguf_free(&g);
        }
        free(m.p);
    }
    /* a file cut inside the merges array (the last key written) is refused
     * by the GGUF reader, wherever the cut falls in the last merges */
    {
        membuf m;
        if (build_vocab(&ok, &m)) {
            size_t last = 0;
            for (size_t i = 0; i + 3 <= m.n; i++)
                if (!memcmp(m.p + i, "a b", 3)) last = i;
            CHECK(last > 0);
            nb_gguf g;
            for (size_t cut = last - 12; cut < last + 3; cut++) {
                nb_status s = nb_gguf_parse(m.p, cut, &g, &err);
                CHECK_MSG(s != NB_OK, "cut at %zu accepted", cut);
                if (!s) nb_gguf_free(&g);
            }
        }
        free(m.p);
    }
    /* token types out of range, scores of the wrong length */
    static const int32_t types[] = {1, 1, 1, 1, 9};
    v = ok;
    v.types = types;
    CHECK(load_spec(&v, &err) == NB_ERR_RANGE && strstr(err.msg, "token_type"));
}

/* ---------------------------------------------------------------- speed */

static void t_speed(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) {
        nb_test_skip("no shared data folder");
        return;
    }
    char path[1024], ptxt[1024];
    snprintf(path, sizeof path, "%s/models/vocab/ggml-vocab-gpt-2.gguf", sh);
    snprintf(ptxt, sizeof ptxt, "%s/models/text/tinystories_val.txt", sh);
    size_t n = 0;
    char *txt = nb_test_read_file(ptxt, &n);
    if (!txt) {
        nb_test_skip("no %s", ptxt);
        return;
    }
    loaded L;
    if (load_path(path, &L)) {
        int32_t cap = (int32_t)n + 16, cnt = 0;
        int32_t *ids = malloc((size_t)cap * sizeof *ids);
        nb_err err = {0};
        double t0 = now_s();
        CHECK_OK(nb_tokenize(&L.tok, txt, n, 0, 0, ids, cap, &cnt, &err), err);
        double dt = now_s() - t0;
        printf("  tinystories_val.txt: %zu bytes -> %d gpt-2 tokens in %.3f s (%.1f MB/s)\n", n,
               (int)cnt, dt, (double)n / dt / 1e6);
        CHECK_MSG(dt < 10.0, "%.1f s", dt);
        size_t dl = 0;
        char *d = decode(&L.tok, ids, cnt, &dl);
        CHECK_MSG(d && dl == n && !memcmp(d, txt, n), "round trip of the whole text");
        free(d);
        free(ids);
    }
    unload(&L);
    free(txt);
}

int main(void) {
    RUN(t_unicode);
    RUN(t_pretokenizers);
    RUN(t_hostile);
    RUN(t_random);
    RUN(t_gpt2);
    RUN(t_deepseek_coder);
    RUN(t_deepseek_llm);
    RUN(t_falcon);
    RUN(t_mpt);
    RUN(t_refact);
    RUN(t_starcoder);
    RUN(t_llama3);
    RUN(t_special);
    RUN(t_speed);
    RUN(t_tool);
    return nb_test_done();
}
