/* Tokenizers over a GGUF vocabulary: loading for both vocabulary types,
 * the special-token partition, SentencePiece ("llama" / SPM) encoding and
 * token_to_piece. Byte-level BPE ("gpt2") encoding is in bpe.c.
 *
 * SPM encoding follows llama.cpp's llm_tokenizer_spm: special-token partition
 * (control tokens only when parse_special, user-defined always), an optional
 * space prefix before each raw-text fragment that follows a special token or
 * starts the text, spaces escaped to U+2581, then a bigram merge loop driven
 * by a binary max-heap (highest score first, ties: leftmost), then every
 * symbol that is not a vocab token falls back to <0xNN> byte tokens (or the
 * bare byte's token, or unk).
 *
 * Memory: nb_tokenizer_load takes ONE block from its allocator (texts and
 * merges as views into the GGUF, scores, types, hash indexes, special
 * list); nb_tokenize mallocs its scratch per call and frees it before
 * returning. */
#include "text/text.h"

#include <stdlib.h>

/* ------------------------------------------------------------ helpers */

static uint32_t hash_bytes(const char *p, size_t n) { return nb_fnv1a(NB_FNV_INIT, p, n); }

int32_t nb_tok_find(const nb_tokenizer *tok, const char *p, size_t n) {
    if (!tok->hash || n == 0) return -1;
    uint32_t i = hash_bytes(p, n) & tok->hash_mask;
    for (;;) {
        int32_t id = tok->hash[i];
        if (id < 0) return -1;
        const nb_str *s = &tok->text[id];
        if (s->len == n && memcmp(s->ptr, p, n) == 0) return id;
        i = (i + 1) & tok->hash_mask;
    }
}

int32_t nb_token_find(const nb_tokenizer *tok, const char *text, size_t len) {
    if (!tok || (!text && len)) return -1;
    return nb_tok_find(tok, text, len);
}

/* The one block: 8-byte items first, then 4-byte, then bytes.
 *   text[n] | merge[m] | score[n] | hash[cap] | special[n] | merge_hash[mcap]
 *   | merge_split[m] | type[n] */
typedef struct layout {
    size_t n, cap, m, mcap;
    size_t off_merge, off_score, off_hash, off_special, off_mhash, off_split, off_type, total;
} layout;

#define MAX_ITEMS ((uint64_t)INT32_MAX / 4)

static int make_layout(uint64_t n, uint64_t m, layout *l) {
    if (n == 0 || n > MAX_ITEMS || m > MAX_ITEMS) return 0;
    size_t cap = 16, mcap = 0;
    while (cap < 2 * (size_t)n) cap *= 2;
    if (m > 0) {
        mcap = 16;
        while (mcap < 2 * (size_t)m) mcap *= 2;
    }
    l->n = (size_t)n;
    l->cap = cap;
    l->m = (size_t)m;
    l->mcap = mcap;
    l->off_merge = l->n * sizeof(nb_str);
    l->off_score = l->off_merge + l->m * sizeof(nb_str);
    l->off_hash = l->off_score + l->n * sizeof(float);
    l->off_special = l->off_hash + cap * sizeof(int32_t);
    l->off_mhash = l->off_special + l->n * sizeof(int32_t);
    l->off_split = l->off_mhash + mcap * sizeof(int32_t);
    l->off_type = l->off_split + l->m * sizeof(uint32_t);
    l->total = l->off_type + l->n;
    return 1;
}

/* merges that count: only a "gpt2" vocabulary's (0 otherwise or if unreadable,
 * in which case nb_tokenizer_load fails before allocating) */
static uint64_t merge_count(const nb_gguf *g) {
    nb_str model;
    if (nb_gguf_get_str(g, "tokenizer.ggml.model", &model, NULL) || !nb_str_eq(model, "gpt2"))
        return 0;
    const nb_gguf_kv *kv = nb_gguf_find_key(g, "tokenizer.ggml.merges");
    if (!kv || kv->type != NB_GGUF_ARRAY || kv->arr_type != NB_GGUF_STRING) return 0;
    return kv->arr_n;
}

size_t nb_tokenizer_mem_size(const nb_gguf *g) {
    if (!g) return 0;
    const nb_gguf_kv *kv = nb_gguf_find_key(g, "tokenizer.ggml.tokens");
    if (!kv || kv->type != NB_GGUF_ARRAY || kv->arr_type != NB_GGUF_STRING) return 0;
    layout l;
    if (!make_layout(kv->arr_n, merge_count(g), &l)) return 0;
    return l.total + 15;
}

/* Special ids: absent -> default (or -1 when the default is out of range);
 * present -> must be -1 or in [0, n). */
static nb_status get_id(const nb_gguf *g, const char *key, int32_t def, int32_t n, int32_t *out,
                        nb_err *err) {
    const nb_gguf_kv *kv = nb_gguf_find_key(g, key);
    if (!kv) {
        *out = def < n ? def : -1;
        return NB_OK;
    }
    int64_t v;
    nb_status s = nb_gguf_kv_i64(kv, &v, err);
    if (s) return nb_errf(err, s, "%s: %s", key, err ? err->msg : "not an integer");
    if (kv->type == NB_GGUF_U32 && v == UINT32_MAX) v = -1;
    if (v < -1 || v >= n)
        return nb_errf(err, NB_ERR_RANGE, "%s = %lld is out of range (vocab has %d tokens)", key,
                       (long long)v, (int)n);
    *out = (int32_t)v;
    return NB_OK;
}

static nb_status get_flag(const nb_gguf *g, const char *key, int def, int *out, nb_err *err) {
    if (!nb_gguf_find_key(g, key)) {
        *out = def;
        return NB_OK;
    }
    return nb_gguf_get_bool(g, key, out, err);
}

/* special order: longer text first, then lower id */
static int special_before(const nb_tokenizer *tok, int32_t a, int32_t b) {
    uint64_t la = tok->text[a].len, lb = tok->text[b].len;
    if (la != lb) return la > lb;
    return a < b;
}

static void sift_down(const nb_tokenizer *tok, int32_t *v, size_t i, size_t n) {
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) return;
        /* max-heap on "comes later" so the sorted array has "before" first */
        if (c + 1 < n && special_before(tok, v[c], v[c + 1])) c++;
        if (!special_before(tok, v[i], v[c])) return;
        int32_t t = v[i];
        v[i] = v[c];
        v[c] = t;
        i = c;
    }
}

static void sort_special(const nb_tokenizer *tok, int32_t *v, size_t n) {
    if (n < 2) return;
    for (size_t i = n / 2; i-- > 0;) sift_down(tok, v, i, n);
    for (size_t end = n - 1; end > 0; end--) {
        int32_t t = v[0];
        v[0] = v[end];
        v[end] = t;
        sift_down(tok, v, 0, end);
    }
}

nb_status nb_tokenizer_load(const nb_gguf *g, nb_tokenizer *tok, const nb_allocator *alloc,
                            nb_err *err) {
    if (!g || !tok) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_tokenizer_load: NULL argument");
    memset(tok, 0, sizeof *tok);
    nb_str model;
    nb_status s = nb_gguf_get_str(g, "tokenizer.ggml.model", &model, err);
    if (s == NB_ERR_NOT_FOUND)
        return nb_errf(err, s, "tokenizer.ggml.model is missing: the file has no tokenizer");
    if (s) return s;
    int vt = nb_str_eq(model, "llama") ? NB_VOCAB_SPM : nb_str_eq(model, "gpt2") ? NB_VOCAB_BPE : 0;
    if (!vt)
        return nb_errf(err, NB_ERR_UNSUPPORTED,
                       "tokenizer.ggml.model \"%.*s\" is not supported (only \"llama\" / SPM "
                       "and \"gpt2\" / byte-level BPE)",
                       (int)(model.len > 64 ? 64 : model.len), model.ptr);

    nb_tokenizer t;
    memset(&t, 0, sizeof t);
    t.vocab_type = vt;
    const nb_gguf_kv *kt, *ks = NULL, *ky = NULL, *km = NULL;
    if (vt == NB_VOCAB_BPE) {
        /* the pre-tokenizer first: an unsupported one is the clearest error */
        nb_str pre = {"default", 7}; /* llama.cpp's choice when the key is absent */
        if (nb_gguf_find_key(g, "tokenizer.ggml.pre") &&
            (s = nb_gguf_get_str(g, "tokenizer.ggml.pre", &pre, err)))
            return s;
        int add_bos_def = 0;
        if (!nb_bpe_pre_lookup(pre, &t.pre_type, &t.ignore_merges, &add_bos_def, &t.pre))
            return nb_errf(err, NB_ERR_UNSUPPORTED,
                           "tokenizer.ggml.pre \"%.*s\" is not a supported BPE pre-tokenizer "
                           "(docs/tokenizers.md lists them)",
                           (int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
        t.add_bos = add_bos_def;
        s = nb_gguf_get_arr(g, "tokenizer.ggml.merges", NB_GGUF_STRING, &km, err);
        if (s == NB_ERR_NOT_FOUND)
            return nb_errf(err, s,
                           "tokenizer.ggml.merges is missing (a \"gpt2\" BPE vocabulary needs "
                           "its merges)");
        if (s) return s;
    }
    s = nb_gguf_get_arr(g, "tokenizer.ggml.tokens", NB_GGUF_STRING, &kt, err);
    if (s) return s;
    /* scores: SentencePiece merges by them; BPE vocabularies may omit them */
    if (vt == NB_VOCAB_SPM || nb_gguf_find_key(g, "tokenizer.ggml.scores")) {
        s = nb_gguf_get_arr(g, "tokenizer.ggml.scores", NB_GGUF_TYPE_COUNT, &ks, err);
        if (s) return s;
    }
    if (nb_gguf_find_key(g, "tokenizer.ggml.token_type")) {
        s = nb_gguf_get_arr(g, "tokenizer.ggml.token_type", NB_GGUF_TYPE_COUNT, &ky, err);
        if (s) return s;
    }
    layout l;
    if (kt->arr_n == 0 || kt->arr_n > MAX_ITEMS)
        return nb_errf(err, NB_ERR_RANGE, "tokenizer.ggml.tokens: %llu tokens (need 1..%d)",
                       (unsigned long long)kt->arr_n, INT32_MAX / 4);
    if (km && km->arr_n > MAX_ITEMS)
        return nb_errf(err, NB_ERR_RANGE, "tokenizer.ggml.merges: %llu merges (at most %d)",
                       (unsigned long long)km->arr_n, INT32_MAX / 4);
    make_layout(kt->arr_n, km ? km->arr_n : 0, &l);
    if (ks && ks->arr_n != kt->arr_n)
        return nb_errf(err, NB_ERR_FORMAT, "tokenizer.ggml.scores has %llu entries, tokens %llu",
                       (unsigned long long)ks->arr_n, (unsigned long long)kt->arr_n);
    if (ky && ky->arr_n != kt->arr_n)
        return nb_errf(err, NB_ERR_FORMAT,
                       "tokenizer.ggml.token_type has %llu entries, tokens %llu",
                       (unsigned long long)ky->arr_n, (unsigned long long)kt->arr_n);
    int32_t n = (int32_t)l.n;

    t.n_vocab = n;
    /* llama.cpp's defaults: SPM bos 1 eos 2 unk 0, add_bos, space prefix;
     * BPE bos = eos = 11, no unk, no space prefix */
    int spm = vt == NB_VOCAB_SPM;
    if ((s = get_id(g, "tokenizer.ggml.bos_token_id", spm ? 1 : 11, n, &t.bos_id, err)) ||
        (s = get_id(g, "tokenizer.ggml.eos_token_id", spm ? 2 : 11, n, &t.eos_id, err)) ||
        (s = get_id(g, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, n, &t.unk_id, err)) ||
        (s = get_id(g, "tokenizer.ggml.padding_token_id", -1, n, &t.pad_id, err)) ||
        (s = get_flag(g, "tokenizer.ggml.add_bos_token", spm ? 1 : t.add_bos, &t.add_bos, err)) ||
        (s = get_flag(g, "tokenizer.ggml.add_eos_token", 0, &t.add_eos, err)) ||
        (s = get_flag(g, "tokenizer.ggml.add_space_prefix", spm, &t.add_space_prefix, err)))
        return s;
    /* llama.cpp's BPE encoder never adds the prefix, whatever the key says */
    if (!spm) t.add_space_prefix = 0;

    t.alloc = alloc ? *alloc : nb_default_allocator();
    uint8_t *mem = nb_alloc(&t.alloc, l.total);
    if (!mem)
        return nb_errf(err, NB_ERR_NOMEM, "tokenizer: cannot allocate %zu bytes", l.total);
    nb_str *text = (nb_str *)mem;
    float *score = (float *)(mem + l.off_score);
    int32_t *hash = (int32_t *)(mem + l.off_hash);
    int32_t *special = (int32_t *)(mem + l.off_special);
    uint8_t *type = mem + l.off_type;

    uint64_t cur = 0;
    for (int32_t i = 0; i < n; i++) {
        if (nb_gguf_arr_next_str(kt, &cur, &text[i]) != NB_OK) {
            s = nb_errf(err, NB_ERR_FORMAT, "tokenizer.ggml.tokens: cannot read token %d", i);
            goto fail;
        }
        double d = 0;
        if (ks && (s = nb_gguf_arr_f64(ks, (uint64_t)i, &d, err))) {
            s = nb_errf(err, s, "tokenizer.ggml.scores[%d]: %s", i, err ? err->msg : "");
            goto fail;
        }
        score[i] = (float)d;
        int64_t ty = NB_TOKEN_NORMAL;
        if (ky && (s = nb_gguf_arr_i64(ky, (uint64_t)i, &ty, err))) {
            s = nb_errf(err, s, "tokenizer.ggml.token_type[%d]: %s", i, err ? err->msg : "");
            goto fail;
        }
        if (ty < 0 || ty > NB_TOKEN_BYTE) {
            s = nb_errf(err, NB_ERR_RANGE, "tokenizer.ggml.token_type[%d] = %lld is not 0..6", i,
                        (long long)ty);
            goto fail;
        }
        type[i] = (uint8_t)ty;
    }
    if (km) {
        nb_str *merge = (nb_str *)(mem + l.off_merge);
        uint32_t *split = (uint32_t *)(mem + l.off_split);
        int32_t *mhash = (int32_t *)(mem + l.off_mhash);
        if (l.m > 0) {
            if ((s = nb_bpe_load_merges(km, merge, split, mhash, (uint32_t)(l.mcap - 1), err)))
                goto fail;
            t.merge = merge;
            t.merge_split = split;
            t.merge_hash = mhash;
            t.merge_hash_mask = (uint32_t)(l.mcap - 1);
        }
        t.n_merges = (int32_t)l.m;
    }
    t.text = text;
    t.score = score;
    t.type = type;
    t.hash = hash;
    t.hash_mask = (uint32_t)(l.cap - 1);
    for (size_t i = 0; i < l.cap; i++) hash[i] = -1;
    for (int32_t i = 0; i < n; i++) {
        if (text[i].len == 0) continue;
        uint32_t h = hash_bytes(text[i].ptr, (size_t)text[i].len) & t.hash_mask;
        for (;;) {
            int32_t id = hash[h];
            if (id < 0) {
                hash[h] = i;
                break;
            }
            if (text[id].len == text[i].len &&
                memcmp(text[id].ptr, text[i].ptr, (size_t)text[i].len) == 0) {
                hash[h] = i; /* a later duplicate wins, as in llama.cpp */
                break;
            }
            h = (h + 1) & t.hash_mask;
        }
    }
    int32_t ns = 0;
    for (int32_t i = 0; i < n; i++)
        if ((type[i] == NB_TOKEN_CONTROL || type[i] == NB_TOKEN_USER_DEFINED ||
             type[i] == NB_TOKEN_UNKNOWN) &&
            text[i].len > 0)
            special[ns++] = i;
    sort_special(&t, special, (size_t)ns);
    t.special = special;
    t.n_special = ns;
    for (int b = 0; b < 256; b++) {
        static const char hex[] = "0123456789ABCDEF";
        char buf[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
        char c = (char)b;
        /* SPM: <0xNN> tokens, else the bare byte; byte-level BPE looks up
         * the bare byte only (llama.cpp's fallback) */
        int32_t id = spm ? nb_tok_find(&t, buf, 6) : -1;
        if (id < 0) id = nb_tok_find(&t, &c, 1);
        t.byte_id[b] = id;
    }
    t.mem = mem;
    *tok = t;
    return NB_OK;
fail:
    nb_free(&t.alloc, mem);
    return s;
}

void nb_tokenizer_free(nb_tokenizer *tok) {
    if (!tok) return;
    if (tok->mem) nb_free(&tok->alloc, tok->mem);
    memset(tok, 0, sizeof *tok);
}

/* ------------------------------------------------------------- encode */

typedef struct frag {
    int32_t token;   /* -1: raw text */
    uint32_t off, n; /* raw text span */
    int32_t next;    /* -1: end      */
} frag;

typedef struct sym {
    int32_t prev, next;
    uint32_t off, n;
} sym;

typedef struct bigram {
    float score;
    int32_t left, right;
    uint32_t size;
} bigram;

typedef struct enc {
    const nb_tokenizer *tok;
    nb_tok_out o;
    char *esc;
    sym *syms;
    bigram *heap;
    size_t n_heap;
} enc;

static void emit(enc *e, int32_t id) { nb_tok_emit(&e->o, id); }

static int heap_better(const bigram *a, const bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(enc *e, bigram b) {
    size_t i = e->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_better(&b, &e->heap[p])) break;
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = b;
}

static bigram heap_pop(enc *e) {
    bigram top = e->heap[0];
    bigram last = e->heap[--e->n_heap];
    size_t n = e->n_heap, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_better(&e->heap[c + 1], &e->heap[c])) c++;
        if (!heap_better(&e->heap[c], &last)) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n > 0) e->heap[i] = last;
    return top;
}

static void try_bigram(enc *e, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const sym *l = &e->syms[left], *r = &e->syms[right];
    uint32_t size = l->n + r->n;
    int32_t id = nb_tok_find(e->tok, e->esc + l->off, size);
    if (id < 0) return;
    bigram b = {e->tok->score[id], left, right, size};
    heap_push(e, b);
}

static const uint8_t utf8_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};

/* SPM over one raw fragment; `prefix`: add a leading space. */
static void spm(enc *e, const char *text, size_t len, int prefix) {
    size_t m = 0;
    if (prefix) {
        memcpy(e->esc, "\xe2\x96\x81", 3);
        m = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(e->esc + m, "\xe2\x96\x81", 3);
            m += 3;
        } else {
            e->esc[m++] = text[i];
        }
    }
    if (m == 0) return;
    int32_t ns = 0;
    for (size_t off = 0; off < m;) {
        size_t cl = utf8_len[(uint8_t)e->esc[off] >> 4];
        if (cl > m - off) cl = m - off;
        sym *y = &e->syms[ns];
        y->off = (uint32_t)off;
        y->n = (uint32_t)cl;
        off += cl;
        y->prev = ns - 1;
        y->next = off == m ? -1 : ns + 1;
        ns++;
    }
    e->n_heap = 0;
    for (int32_t i = 1; i < ns; i++) try_bigram(e, i - 1, i);
    while (e->n_heap > 0) {
        bigram b = heap_pop(e);
        sym *l = &e->syms[b.left], *r = &e->syms[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) e->syms[r->next].prev = b.left;
        try_bigram(e, l->prev, b.left);
        try_bigram(e, b.left, l->next);
    }
    for (int32_t i = 0; i != -1; i = e->syms[i].next) {
        const sym *y = &e->syms[i];
        int32_t id = nb_tok_find(e->tok, e->esc + y->off, y->n);
        if (id >= 0) {
            emit(e, id);
            continue;
        }
        for (uint32_t j = 0; j < y->n; j++) {
            int32_t b = e->tok->byte_id[(uint8_t)e->esc[y->off + j]];
            emit(e, b >= 0 ? b : e->tok->unk_id);
        }
    }
}

/* Split text on special-token texts (llama.cpp tokenizer_st_partition):
 * longest token first, every occurrence in every raw fragment. Control and
 * unknown tokens only when parse_special; user-defined ones always. fr has
 * room for 2 * len + 1 fragments. Returns the head of the list (-1: empty). */
static int32_t partition(const nb_tokenizer *tok, const char *text, size_t len, int parse_special,
                         frag *fr) {
    int32_t head = -1, nf = 0;
    if (len > 0) {
        fr[0] = (frag){-1, 0, (uint32_t)len, -1};
        head = 0;
        nf = 1;
    }
    for (int32_t k = 0; k < tok->n_special && head >= 0; k++) {
        int32_t id = tok->special[k];
        uint8_t ty = tok->type[id];
        if (!parse_special && ty != NB_TOKEN_USER_DEFINED) continue;
        const char *st = tok->text[id].ptr;
        size_t sl = (size_t)tok->text[id].len;
        for (int32_t f = head; f >= 0; f = fr[f].next) {
            if (fr[f].token >= 0 || fr[f].n < sl) continue;
            /* scan this raw fragment, splitting in place */
            size_t base = fr[f].off, end = base + fr[f].n;
            size_t p = base;
            int32_t cur = f; /* fragment that holds text [base, end) */
            while (p + sl <= end) {
                if (text[p] != st[0] || memcmp(text + p, st, sl) != 0) {
                    p++;
                    continue;
                }
                /* cur = [base, p) raw | token | [p+sl, end) raw */
                int32_t after = fr[cur].next;
                int32_t tk;
                if (p > base) {
                    fr[cur].n = (uint32_t)(p - base);
                    tk = nf++;
                    fr[cur].next = tk;
                } else {
                    tk = cur;
                }
                fr[tk] = (frag){id, 0, 0, after};
                base = p + sl;
                p = base;
                if (base < end) {
                    int32_t r = nf++;
                    fr[r] = (frag){-1, (uint32_t)base, (uint32_t)(end - base), after};
                    fr[tk].next = r;
                    cur = r;
                } else {
                    cur = tk;
                    break;
                }
            }
            f = cur;
        }
    }
    return head;
}

nb_status nb_tokenize(const nb_tokenizer *tok, const char *text, size_t len, int add_special,
                      int parse_special, int32_t *out, int32_t max_out, int32_t *n_out,
                      nb_err *err) {
    if (n_out) *n_out = 0;
    if (!tok || !tok->mem || (!text && len) || (!out && max_out > 0) || max_out < 0)
        return nb_errf(err, NB_ERR_INVALID_ARG, "nb_tokenize: bad argument");
    if (len > (size_t)INT32_MAX / 8)
        return nb_errf(err, NB_ERR_RANGE, "nb_tokenize: text of %zu bytes is too long", len);
    int bpe = tok->vocab_type == NB_VOCAB_BPE;
    size_t nfrag = 2 * len + 1;
    /* SPM works on the whole text at once; BPE grows its own scratch */
    size_t nsym = bpe ? 0 : len + 1, nheap = bpe ? 0 : 3 * (len + 1), nesc = bpe ? 0 : 3 * len + 3;
    size_t bytes = nfrag * sizeof(frag) + nsym * sizeof(sym) + nheap * sizeof(bigram) + nesc;
    nb_allocator def = nb_default_allocator();
    uint8_t *scratch = nb_alloc(&def, bytes);
    if (!scratch)
        return nb_errf(err, NB_ERR_NOMEM, "nb_tokenize: cannot allocate %zu bytes of scratch",
                       bytes);
    frag *fr = (frag *)scratch;
    enc e;
    e.tok = tok;
    e.o = (nb_tok_out){out, max_out, 0};
    e.heap = (bigram *)(scratch + nfrag * sizeof(frag));
    e.syms = (sym *)((uint8_t *)e.heap + nheap * sizeof(bigram));
    e.esc = (char *)((uint8_t *)e.syms + nsym * sizeof(sym));
    e.n_heap = 0;
    nb_bpe_work w = {def, 0, 0, NULL, NULL};
    nb_status s = NB_OK;

    int32_t head = partition(tok, text, len, parse_special, fr);
    if (add_special && tok->add_bos && tok->bos_id >= 0) nb_tok_emit(&e.o, tok->bos_id);
    int prev_special = 1;
    for (int32_t f = head; f >= 0 && !s; f = fr[f].next) {
        if (fr[f].token >= 0) {
            nb_tok_emit(&e.o, fr[f].token);
            prev_special = 1;
        } else if (bpe) {
            s = nb_bpe_fragment(tok, text + fr[f].off, fr[f].n, &w, &e.o, err);
        } else {
            spm(&e, text + fr[f].off, fr[f].n, tok->add_space_prefix && prev_special);
            prev_special = 0;
        }
    }
    if (add_special && tok->add_eos && tok->eos_id >= 0) nb_tok_emit(&e.o, tok->eos_id);
    nb_bpe_work_free(&w);
    nb_free(&def, scratch);
    if (s) return s;

    if (e.o.count > INT32_MAX)
        return nb_errf(err, NB_ERR_RANGE, "nb_tokenize: more than INT32_MAX tokens");
    if (n_out) *n_out = (int32_t)e.o.count;
    if (e.o.count > max_out)
        return nb_errf(err, NB_ERR_RANGE, "nb_tokenize: %lld tokens do not fit in %d",
                       (long long)e.o.count, (int)max_out);
    return NB_OK;
}

/* ------------------------------------------------------------- decode */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int32_t put(char *buf, int32_t size, const char *p, size_t n) {
    if (n > (size_t)INT32_MAX) return 0;
    if ((size_t)size < n || (n && !buf)) return -(int32_t)n;
    if (n) memcpy(buf, p, n);
    return (int32_t)n;
}

int32_t nb_token_to_piece_ex(const nb_tokenizer *tok, int32_t id, char *buf, int32_t size,
                             int flags) {
    if (!tok || !tok->mem || id < 0 || id >= tok->n_vocab) return 0;
    if (size < 0) size = 0;
    const nb_str *t = &tok->text[id];
    if (tok->vocab_type == NB_VOCAB_BPE) {
        /* llama.cpp's token_to_piece for BPE vocabularies */
        switch (tok->type[id]) {
        case NB_TOKEN_CONTROL:
        case NB_TOKEN_UNKNOWN:
            if (!(flags & NB_PIECE_SPECIAL)) return 0;
            return put(buf, size, t->ptr, (size_t)t->len);
        case NB_TOKEN_USER_DEFINED: return put(buf, size, t->ptr, (size_t)t->len);
        case NB_TOKEN_NORMAL: return nb_bpe_piece(t, buf, size);
        case NB_TOKEN_BYTE:
            if (t->len == 6 && hexval(t->ptr[3]) >= 0 && hexval(t->ptr[4]) >= 0) {
                char c = (char)(hexval(t->ptr[3]) * 16 + hexval(t->ptr[4]));
                return put(buf, size, &c, 1);
            }
            return 0;
        default: return 0; /* unused / undefined: nothing, as llama.cpp */
        }
    }
    switch (tok->type[id]) {
    case NB_TOKEN_CONTROL:
        if (!(flags & NB_PIECE_SPECIAL)) return 0;
        return put(buf, size, t->ptr, (size_t)t->len);
    case NB_TOKEN_UNKNOWN:
        return put(buf, size, "\xe2\x96\x85", 3);
    case NB_TOKEN_BYTE:
        if (t->len == 6 && t->ptr[0] == '<' && t->ptr[1] == '0' && t->ptr[2] == 'x' &&
            hexval(t->ptr[3]) >= 0 && hexval(t->ptr[4]) >= 0 && t->ptr[5] == '>') {
            char c = (char)(hexval(t->ptr[3]) * 16 + hexval(t->ptr[4]));
            return put(buf, size, &c, 1);
        }
        return put(buf, size, t->ptr, (size_t)t->len);
    default: {
        /* U+2581 -> ' ': first measure, then write */
        size_t n = 0;
        for (size_t i = 0; i < t->len;) {
            if (i + 3 <= t->len && memcmp(t->ptr + i, "\xe2\x96\x81", 3) == 0) i += 3;
            else i++;
            n++;
        }
        if (n > (size_t)INT32_MAX) return 0;
        if ((size_t)size < n || !buf) return n ? -(int32_t)n : 0;
        size_t o = 0;
        for (size_t i = 0; i < t->len;) {
            if (i + 3 <= t->len && memcmp(t->ptr + i, "\xe2\x96\x81", 3) == 0) {
                buf[o++] = ' ';
                i += 3;
            } else {
                buf[o++] = t->ptr[i++];
            }
        }
        return (int32_t)n;
    }
    }
}

int32_t nb_token_to_piece(const nb_tokenizer *tok, int32_t id, char *buf, int32_t size) {
    return nb_token_to_piece_ex(tok, id, buf, size, 0);
}
