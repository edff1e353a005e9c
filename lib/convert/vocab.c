/* nb_hf_vocab: storage, llama.cpp's tokenizer keys, the directory loader.
 *
 * Token and merge texts live in a pool of large blocks (one malloc per
 * 64 KiB, not per token: a vocabulary has up to 262144 tokens and as many
 * merges). The keys and their types are gguf-py's (GGUFWriter.add_token_list,
 * add_token_scores, add_token_types, add_*_token_id as uint32, add_add_*
 * as bool). */
#define _POSIX_C_SOURCE 200809L
#include "convert/vocab.h"

#include "core/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct pool_block {
    struct pool_block *next;
    size_t used, cap;
    char data[];
} pool_block;

#define POOL_BLOCK (64u * 1024u)

void nb_hf_vocab_init(nb_hf_vocab *v) {
    memset(v, 0, sizeof *v);
    v->bos = v->eos = v->unk = v->sep = v->pad = v->cls = v->mask = v->eot = -1;
    v->add_bos = v->add_eos = v->add_sep = v->add_space_prefix = -1;
    v->token_type_count = -1;
}

void nb_hf_vocab_free(nb_hf_vocab *v) {
    if (!v) return;
    pool_block *b = v->pool;
    while (b) {
        pool_block *n = b->next;
        free(b);
        b = n;
    }
    free(v->tokens);
    free(v->token_len);
    free(v->scores);
    free(v->types);
    free(v->merges);
    free(v->chat_template);
    nb_hf_vocab_init(v);
}

char *nb_hf_vocab_strdup(nb_hf_vocab *v, const char *s, size_t len) {
    if (len >= SIZE_MAX - sizeof(pool_block) - POOL_BLOCK) return NULL;
    pool_block *b = v->pool;
    if (!b || b->cap - b->used < len + 1) {
        size_t cap = len + 1 > POOL_BLOCK ? len + 1 : POOL_BLOCK;
        pool_block *nb = malloc(sizeof *nb + cap);
        if (!nb) return NULL;
        nb->used = 0;
        nb->cap = cap;
        /* a big string gets a block of its own behind the current one, so
         * the current block's free space stays in use */
        if (b && cap > POOL_BLOCK) {
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            v->pool = nb;
        }
        b = nb;
    }
    char *p = b->data + b->used;
    if (len) memcpy(p, s, len);
    p[len] = 0;
    b->used += len + 1;
    return p;
}

nb_status nb_hf_vocab_alloc_tokens(nb_hf_vocab *v, uint32_t n, int with_scores, nb_err *err) {
    if (n > NB_HF_MAX_TOKENS)
        return nb_errf(err, NB_ERR_RANGE, "vocabulary of %u tokens exceeds the limit %u", n,
                       NB_HF_MAX_TOKENS);
    free(v->tokens);
    free(v->token_len);
    free(v->scores);
    free(v->types);
    v->scores = NULL;
    size_t m = n ? n : 1;
    v->tokens = malloc(m * sizeof *v->tokens);
    v->token_len = malloc(m * sizeof *v->token_len);
    v->types = malloc(m * sizeof *v->types);
    if (with_scores) v->scores = malloc(m * sizeof *v->scores);
    v->n_tokens = 0;
    if (!v->tokens || !v->token_len || !v->types || (with_scores && !v->scores))
        return nb_errf(err, NB_ERR_NOMEM, "out of memory for %u tokens", n);
    for (uint32_t i = 0; i < n; i++) {
        char buf[24];
        int k = snprintf(buf, sizeof buf, "[PAD%u]", i);
        v->tokens[i] = nb_hf_vocab_strdup(v, buf, (size_t)k);
        if (!v->tokens[i]) return nb_errf(err, NB_ERR_NOMEM, "out of memory for %u tokens", n);
        v->token_len[i] = (uint32_t)k;
        v->types[i] = NB_TOKEN_UNUSED;
        if (with_scores) v->scores[i] = -10000.0f;
    }
    v->n_tokens = n;
    return NB_OK;
}

nb_status nb_hf_vocab_set_token(nb_hf_vocab *v, uint32_t id, const char *s, size_t len,
                                nb_err *err) {
    if (id >= v->n_tokens)
        return nb_errf(err, NB_ERR_RANGE, "token id %u out of range (%u tokens)", id, v->n_tokens);
    if (len > UINT32_MAX) return nb_errf(err, NB_ERR_RANGE, "token %u: text too long", id);
    char *p = nb_hf_vocab_strdup(v, s, len);
    if (!p) return nb_errf(err, NB_ERR_NOMEM, "out of memory for token %u", id);
    v->tokens[id] = p;
    v->token_len[id] = (uint32_t)len;
    return NB_OK;
}

nb_status nb_hf_vocab_add_merge(nb_hf_vocab *v, const char *s, size_t len, nb_err *err) {
    if (v->n_merges >= NB_HF_MAX_TOKENS)
        return nb_errf(err, NB_ERR_RANGE, "more than %u merges", NB_HF_MAX_TOKENS);
    if (v->n_merges == v->merges_cap) {
        uint32_t cap = v->merges_cap ? v->merges_cap * 2 : 1024;
        char **m = realloc(v->merges, (size_t)cap * sizeof *m);
        if (!m) return nb_errf(err, NB_ERR_NOMEM, "out of memory for %u merges", cap);
        v->merges = m;
        v->merges_cap = cap;
    }
    char *p = nb_hf_vocab_strdup(v, s, len);
    if (!p) return nb_errf(err, NB_ERR_NOMEM, "out of memory for merge %u", v->n_merges);
    v->merges[v->n_merges++] = p;
    return NB_OK;
}

static int has_prefix(const char *s, size_t len, const char *p) {
    size_t n = strlen(p);
    return len >= n && !memcmp(s, p, n);
}

static int has_suffix(const char *s, size_t len, const char *p) {
    size_t n = strlen(p);
    return len >= n && !memcmp(s + len - n, p, n);
}

int nb_hf_token_looks_special(const char *s, size_t len) {
    static const char *const exact[] = {"<pad>", "<mask>", "<2mass>", "[@BOS@]"};
    for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
        if (len == strlen(exact[i]) && !memcmp(s, exact[i], len)) return 1;
    /* Python's startswith/endswith: the two ends may overlap ("<|>") */
    if (has_prefix(s, len, "<|") && has_suffix(s, len, "|>")) return 1;
    /* deepseek's fullwidth bar U+FF5C */
    if (has_prefix(s, len, "<\xef\xbd\x9c") && has_suffix(s, len, "\xef\xbd\x9c>")) return 1;
    if (has_prefix(s, len, "<unused") && has_suffix(s, len, ">")) return 1;
    return 0;
}

/* ------------------------------------------------------------- writing */

static nb_status set_id(nb_gguf_writer *w, const char *key, int64_t id, nb_err *err) {
    if (id < 0) return NB_OK;
    return nb_gguf_set_u32(w, key, (uint32_t)id, err);
}

static nb_status set_flag(nb_gguf_writer *w, const char *key, int flag, nb_err *err) {
    if (flag < 0) return NB_OK;
    return nb_gguf_set_bool(w, key, flag != 0, err);
}

nb_status nb_hf_vocab_write(const nb_hf_vocab *v, nb_gguf_writer *w, nb_err *err) {
    if (!v || !w) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_hf_vocab_write: NULL argument");
    if (!v->model[0]) return nb_errf(err, NB_ERR_INVALID_ARG, "vocabulary has no model name");
    if (!v->n_tokens || !v->tokens || !v->token_len || !v->types)
        return nb_errf(err, NB_ERR_INVALID_ARG, "vocabulary has no tokens");
    if (v->n_merges && !v->merges)
        return nb_errf(err, NB_ERR_INVALID_ARG, "vocabulary has %u merges and no array",
                       v->n_merges);
    const struct {
        const char *name;
        int64_t id;
    } ids[] = {{"bos", v->bos}, {"eos", v->eos}, {"unk", v->unk}, {"sep", v->sep},
               {"pad", v->pad}, {"cls", v->cls}, {"mask", v->mask}, {"eot", v->eot}};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        if (ids[i].id >= (int64_t)v->n_tokens)
            return nb_errf(err, NB_ERR_RANGE, "%s token id %lld out of range (%u tokens)",
                           ids[i].name, (long long)ids[i].id, v->n_tokens);

    nb_status s = nb_gguf_set_str(w, "tokenizer.ggml.model", v->model, err);
    if (!s && v->pre[0]) s = nb_gguf_set_str(w, "tokenizer.ggml.pre", v->pre, err);
    if (s) return s;

    nb_str *strs = malloc((size_t)(v->n_tokens > v->n_merges ? v->n_tokens : v->n_merges) *
                          sizeof *strs);
    if (!strs) return nb_errf(err, NB_ERR_NOMEM, "out of memory writing %u tokens", v->n_tokens);
    for (uint32_t i = 0; i < v->n_tokens; i++) {
        strs[i].ptr = v->tokens[i];
        strs[i].len = v->token_len[i];
    }
    s = nb_gguf_set_arr_str(w, "tokenizer.ggml.tokens", strs, v->n_tokens, err);
    if (!s && v->scores)
        s = nb_gguf_set_arr(w, "tokenizer.ggml.scores", NB_GGUF_F32, v->scores, v->n_tokens, err);
    if (!s)
        s = nb_gguf_set_arr(w, "tokenizer.ggml.token_type", NB_GGUF_I32, v->types, v->n_tokens,
                            err);
    if (!s && v->token_type_count >= 0)
        s = nb_gguf_set_u32(w, "tokenizer.ggml.token_type_count", (uint32_t)v->token_type_count,
                            err);
    if (!s && v->n_merges) {
        for (uint32_t i = 0; i < v->n_merges; i++) {
            strs[i].ptr = v->merges[i];
            strs[i].len = strlen(v->merges[i]);
        }
        s = nb_gguf_set_arr_str(w, "tokenizer.ggml.merges", strs, v->n_merges, err);
    }
    free(strs);
    if (s) return s;

    if ((s = set_id(w, "tokenizer.ggml.bos_token_id", v->bos, err)) ||
        (s = set_id(w, "tokenizer.ggml.eos_token_id", v->eos, err)) ||
        (s = set_id(w, "tokenizer.ggml.unknown_token_id", v->unk, err)) ||
        (s = set_id(w, "tokenizer.ggml.seperator_token_id", v->sep, err)) ||
        (s = set_id(w, "tokenizer.ggml.padding_token_id", v->pad, err)) ||
        (s = set_id(w, "tokenizer.ggml.cls_token_id", v->cls, err)) ||
        (s = set_id(w, "tokenizer.ggml.mask_token_id", v->mask, err)) ||
        (s = set_id(w, "tokenizer.ggml.eot_token_id", v->eot, err)) ||
        (s = set_flag(w, "tokenizer.ggml.add_bos_token", v->add_bos, err)) ||
        (s = set_flag(w, "tokenizer.ggml.add_eos_token", v->add_eos, err)) ||
        (s = set_flag(w, "tokenizer.ggml.add_sep_token", v->add_sep, err)) ||
        (s = set_flag(w, "tokenizer.ggml.add_space_prefix", v->add_space_prefix, err)))
        return s;
    if (v->chat_template) return nb_gguf_set_str(w, "tokenizer.chat_template", v->chat_template, err);
    return NB_OK;
}

/* ------------------------------------------------------- from a folder */

typedef struct dir_file {
    const char *name;
    nb_file_map map;
    int present;
} dir_file;

/* Maps dir/name when it exists; an absent file is not an error. */
static nb_status map_optional(const char *dir, dir_file *f, nb_err *err) {
    char path[4096];
    size_t dl = strlen(dir);
    int sep = dl > 0 && dir[dl - 1] != '/';
    int k = snprintf(path, sizeof path, "%s%s%s", dir, sep ? "/" : "", f->name);
    if (k < 0 || (size_t)k >= sizeof path)
        return nb_errf(err, NB_ERR_INVALID_ARG, "path too long: %s/%s", dir, f->name);
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) return NB_OK;
        return nb_errf(err, NB_ERR_IO, "cannot stat '%s': %s", path, strerror(errno));
    }
    nb_status s = nb_file_map_open(path, &f->map, err);
    if (s) return s;
    f->present = 1;
    return NB_OK;
}

nb_status nb_hf_vocab_load_dir(const char *dir, const nb_hf_vocab_opts *o, nb_hf_vocab *v,
                               nb_err *err) {
    if (!v) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_hf_vocab_load_dir: NULL vocabulary");
    nb_hf_vocab_init(v);
    if (!dir) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_hf_vocab_load_dir: NULL directory");
    dir_file files[] = {{"tokenizer.json", {0}, 0},     {"tokenizer.model", {0}, 0},
                        {"tokenizer_config.json", {0}, 0}, {"special_tokens_map.json", {0}, 0},
                        {"added_tokens.json", {0}, 0},  {"config.json", {0}, 0},
                        {"chat_template.jinja", {0}, 0}};
    enum { N = sizeof files / sizeof *files };
    nb_status s = NB_OK;
    for (int i = 0; i < N && !s; i++) s = map_optional(dir, &files[i], err);
    if (!s) {
        nb_hf_bytes b[N];
        for (int i = 0; i < N; i++) {
            b[i].data = files[i].present ? (files[i].map.data ? files[i].map.data : "") : NULL;
            b[i].size = files[i].present ? files[i].map.size : 0;
        }
        nb_hf_tokenizer_files f = {b[0], b[1], b[2], b[3], b[4], b[5], b[6]};
        if (!b[0].data && !b[1].data)
            s = nb_errf(err, NB_ERR_NOT_FOUND,
                        "%s: neither tokenizer.json nor tokenizer.model is there", dir);
        else
            s = nb_hf_vocab_from_files(&f, o, v, err);
    }
    for (int i = 0; i < N; i++)
        if (files[i].present) nb_file_map_close(&files[i].map);
    return s;
}
