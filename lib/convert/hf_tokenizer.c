/* A Hugging Face tokenizer (tokenizer.json, tokenizer_config.json,
 * special_tokens_map.json, added_tokens.json, config.json) -> nb_hf_vocab,
 * following llama.cpp's convert_hf_to_gguf.py and gguf-py's SpecialVocab.
 *
 * tokenizer.json (the `tokenizers` library's serialization):
 *   model.type "BPE"       -> "gpt2": model.vocab {token: id}, model.merges
 *                             as ["a b", ...] or [["a", "b"], ...] (since
 *                             transformers 4.45; a space inside a part is
 *                             written U+0120, as gguf-py does)
 *   model.type "WordPiece" -> "bert": llama.cpp's "phantom space" spelling:
 *                             control tokens as they are, "##x" -> "x",
 *                             everything else "\u2581" + text
 *   "Unigram", "WordLevel", BPE with byte_fallback (SentencePiece converted
 *   to json): NB_ERR_UNSUPPORTED, suggesting tokenizer.model.
 *   A missing model.type is inferred as the library does from the fields
 *   (merges: BPE; continuing_subword_prefix: WordPiece; a vocab array:
 *   Unigram).
 *
 * Ids (get_vocab_base): tokens are ids 0..n-1 with n = config.json's
 * vocab_size, else the largest id + 1 (llama.cpp uses len(vocab) and asserts
 * there are no gaps; here gaps are filled instead). An id without a token
 * becomes "[PAD{id}]", type UNUSED, as llama.cpp fills them. An id >= a
 * given vocab_size, or two vocab entries on one id, is an error.
 * added_tokens: CONTROL when "special" (or when the text looks special:
 * "<|...|>" ...), else USER_DEFINED with U+2581 written as a space; an added
 * token takes over its id's slot. llama.cpp also re-encodes added tokens
 * marked "normalized": false through transformers; that needs the
 * normalizer, so it is not done here.
 *
 * tokenizer.ggml.pre: llama.cpp hashes the ids of a test string, which
 * needs the tokenizer itself. Here the pre_tokenizer is recognised by shape:
 *   ByteLevel (use_regex), or Split(GPT-2 regex) + ByteLevel -> "gpt-2"
 *   Split(Llama 3 regex, \p{N}{1,3}) + ByteLevel            -> "llama-bpe"
 *   Split(Qwen2 regex, \p{N}) + ByteLevel                    -> "qwen2"
 *   Digits(individual) + ByteLevel(use_regex)                -> "smollm"
 *     (StarCoder and Refact have the same pre-tokenizer; llama.cpp's
 *     tokenizer treats the three names alike)
 *   anything else: "default", pre_known = 0 (the caller may override);
 *   WordPiece: "default" (llama.cpp's WPM tokenizer ignores the key).
 *
 * Special tokens (SpecialVocab): for bos, eos, unk, sep, pad, cls, mask the
 * tokenizer_config.json entry "<typ>_token" (a string or {"content": ...};
 * special_tokens_map.json fills entries tokenizer_config.json lacks, which
 * llama.cpp does not read) names the first added token with that content;
 * then config.json's "<typ>_token_id" (or text_config's) for those still
 * unset; ids out of range are skipped. A missing bos/eos falls back to
 * cls/sep. add_bos/add_eos come from the post_processor (RobertaProcessing:
 * both; TemplateProcessing: a special token first / last in "single"; a last
 * one that is not the eos makes the old eos the eot) and then from
 * tokenizer_config.json's add_bos_token / add_eos_token / add_sep_token.
 * The "pair" template's separator rule is not read. Without
 * tokenizer_config.json llama.cpp reads no token names (nor here).
 * chat_template: tokenizer_config.json's (a string, or the "default" entry
 * of a [{name, template}] list), else chat_template.jinja.
 *
 * SentencePiece (tokenizer.model): spm_model.c, then added_tokens.json
 * ({text: id}: USER_DEFINED, score -1000) and tokenizer_config.json's
 * added_tokens_decoder ({"id": {"content", "special"}}: CONTROL if special
 * or looking special, else USER_DEFINED with U+2581 -> space; score -1000),
 * ids >= vocab_size skipped, as _create_vocab_sentencepiece does. Special
 * ids as above, trainer_spec's ids where nothing else names one. */
#include "convert/json.h"
#include "convert/vocab.h"

#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPACE_MARK "\xe2\x96\x81" /* U+2581, SentencePiece's space */

static const char LLAMA3_RE[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char QWEN2_RE[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char GPT2_RE[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* the special token kinds, in SpecialVocab's order (eot last: only the
 * TemplateProcessing rule adds it) */
enum { SP_BOS, SP_EOS, SP_UNK, SP_SEP, SP_PAD, SP_CLS, SP_MASK, SP_EOT, SP_N };
static const char *const SP_NAME[SP_N] = {"bos", "eos", "unk", "sep", "pad", "cls", "mask", "eot"};

typedef struct hf_ctx {
    const nb_hf_tokenizer_files *f;
    nb_json_doc *docs[5];
    const nb_json *tok;      /* tokenizer.json root, or NULL         */
    const nb_json *tcfg;     /* tokenizer_config.json root, or NULL  */
    const nb_json *stm;      /* special_tokens_map.json root         */
    const nb_json *added;    /* added_tokens.json root               */
    const nb_json *config;   /* config.json root                     */
    int64_t vocab_size;      /* 0: from the tokenizer                */
    const char *vocab_size_from;
} hf_ctx;

static nb_status parse_file(hf_ctx *c, int slot, nb_hf_bytes b, const char *what,
                            const nb_json **root, nb_err *err) {
    *root = NULL;
    if (!b.data) return NB_OK;
    nb_status s = nb_json_parse(b.data, b.size, what, NULL, NULL, &c->docs[slot], err);
    if (s) return s;
    const nb_json *r = nb_json_root(c->docs[slot]);
    if (!r || r->kind != NB_JSON_OBJECT)
        return nb_errf(err, NB_ERR_FORMAT, "%s: the top level is %s, not an object", what,
                       r ? nb_json_kind_str(r->kind) : "missing");
    *root = r;
    return NB_OK;
}

/* A member that is a string, or NULL. */
static const nb_json *str_member(const nb_json *obj, const char *key) {
    const nb_json *m = nb_json_get(obj, key);
    return m && m->kind == NB_JSON_STRING ? m : NULL;
}

static int str_is(const nb_json *s, const char *lit) {
    return s && s->kind == NB_JSON_STRING && s->len == strlen(lit) && !memcmp(s->str, lit, s->len);
}

/* A member that is an int (true: JSON booleans are not ids here). */
static int int_member(const nb_json *obj, const char *key, int64_t *out) {
    const nb_json *m = nb_json_get(obj, key);
    if (!m || m->kind != NB_JSON_NUMBER || !m->is_int) return 0;
    *out = m->integer;
    return 1;
}

/* Copy with U+2581 written as a space (llama.cpp pre-normalizes
 * user-defined tokens so). */
static nb_status set_user_defined(nb_hf_vocab *v, uint32_t id, const char *s, size_t len,
                                  nb_err *err) {
    char *tmp = malloc(len ? len : 1);
    if (!tmp) return nb_errf(err, NB_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        if (len - i >= 3 && !memcmp(s + i, SPACE_MARK, 3)) {
            tmp[k++] = ' ';
            i += 3;
        } else {
            tmp[k++] = s[i++];
        }
    }
    nb_status st = nb_hf_vocab_set_token(v, id, tmp, k, err);
    free(tmp);
    return st;
}

/* An added token's slot: control or user-defined, as get_vocab_base and
 * _create_vocab_sentencepiece decide. */
static nb_status set_added(nb_hf_vocab *v, uint32_t id, const char *s, size_t len, int special,
                           nb_err *err) {
    nb_status st;
    if (special || nb_hf_token_looks_special(s, len)) {
        st = nb_hf_vocab_set_token(v, id, s, len, err);
        v->types[id] = NB_TOKEN_CONTROL;
    } else {
        st = set_user_defined(v, id, s, len, err);
        v->types[id] = NB_TOKEN_USER_DEFINED;
    }
    if (!st && v->scores) v->scores[id] = -1000.0f;
    return st;
}

/* ------------------------------------------------------ tokenizer.json */

/* Shape of the pre_tokenizer -> llama.cpp's name for it. */
static int bytelevel(const nb_json *p, int want_regex) {
    if (!p || p->kind != NB_JSON_OBJECT || !str_is(nb_json_get(p, "type"), "ByteLevel")) return 0;
    const nb_json *r = nb_json_get(p, "use_regex");
    int regex = !r || r->kind != NB_JSON_BOOL || r->boolean; /* the library's default: true */
    return regex == want_regex;
}

static const char *split_regex(const nb_json *p) {
    if (!p || p->kind != NB_JSON_OBJECT || !str_is(nb_json_get(p, "type"), "Split")) return NULL;
    const nb_json *inv = nb_json_get(p, "invert");
    if (inv && inv->kind == NB_JSON_BOOL && inv->boolean) return NULL;
    const nb_json *re = str_member(nb_json_get(p, "pattern"), "Regex");
    return re ? re->str : NULL;
}

static const char *guess_pre(const nb_json *tok) {
    const nb_json *pt = nb_json_get(tok, "pre_tokenizer");
    if (!pt || pt->kind != NB_JSON_OBJECT) return NULL;
    if (bytelevel(pt, 1)) return "gpt-2";
    if (!str_is(nb_json_get(pt, "type"), "Sequence")) return NULL;
    const nb_json *list = nb_json_get(pt, "pretokenizers");
    if (!list || list->kind != NB_JSON_ARRAY || list->count != 2) return NULL;
    const nb_json *a = list->first, *b = list->first->next;
    const char *re = split_regex(a);
    if (re && bytelevel(b, 0)) {
        if (!strcmp(re, LLAMA3_RE)) return "llama-bpe";
        if (!strcmp(re, QWEN2_RE)) return "qwen2";
        if (!strcmp(re, GPT2_RE)) return "gpt-2";
        return NULL;
    }
    if (a->kind == NB_JSON_OBJECT && str_is(nb_json_get(a, "type"), "Digits")) {
        const nb_json *ind = nb_json_get(a, "individual_digits");
        if (ind && ind->kind == NB_JSON_BOOL && ind->boolean && bytelevel(b, 1)) return "smollm";
    }
    return NULL;
}

/* One merge, either form, as gguf-py writes it ("left right"). */
static nb_status read_merge(nb_hf_vocab *v, const nb_json *m, size_t i, nb_err *err) {
    if (m->kind == NB_JSON_STRING) {
        /* llama.cpp splits a merge at the first space after byte 0 */
        const char *sp = m->len > 1 ? memchr(m->str + 1, ' ', m->len - 1) : NULL;
        if (!sp || sp + 1 == m->str + m->len)
            return nb_errf(err, NB_ERR_FORMAT,
                           "tokenizer.json: model.merges[%zu] (%u:%u) = \"%.40s\" is not \"left right\"",
                           i, m->line, m->col, m->str);
        return nb_hf_vocab_add_merge(v, m->str, m->len, err);
    }
    if (m->kind == NB_JSON_ARRAY && m->count == 2 && m->first->kind == NB_JSON_STRING &&
        m->first->next->kind == NB_JSON_STRING && m->first->len && m->first->next->len) {
        const nb_json *l = m->first, *r = m->first->next;
        size_t n = 0;
        char *buf = malloc(2 * (l->len + r->len) + 2);
        if (!buf) return nb_errf(err, NB_ERR_NOMEM, "out of memory");
        for (int side = 0; side < 2; side++) {
            const nb_json *p = side ? r : l;
            if (side) buf[n++] = ' ';
            for (size_t k = 0; k < p->len; k++) {
                if (p->str[k] == ' ') { /* U+0120 */
                    buf[n++] = (char)0xc4;
                    buf[n++] = (char)0xa0;
                } else {
                    buf[n++] = p->str[k];
                }
            }
        }
        nb_status s = nb_hf_vocab_add_merge(v, buf, n, err);
        free(buf);
        return s;
    }
    return nb_errf(err, NB_ERR_FORMAT,
                   "tokenizer.json: model.merges[%zu] (%u:%u) is %s, not a string \"left right\" "
                   "or a pair of non-empty strings",
                   i, m->line, m->col, nb_json_kind_str(m->kind));
}

static nb_status read_tokenizer_json(hf_ctx *c, nb_hf_vocab *v, nb_err *err) {
    const nb_json *tok = c->tok;
    const nb_json *model = nb_json_get(tok, "model");
    if (!model || model->kind != NB_JSON_OBJECT)
        return nb_errf(err, NB_ERR_FORMAT, "tokenizer.json: \"model\" is %s, not an object",
                       model ? nb_json_kind_str(model->kind) : "missing");
    const nb_json *vocab = nb_json_get(model, "vocab");
    const nb_json *type = nb_json_get(model, "type");
    const char *tname;
    if (type) {
        if (type->kind != NB_JSON_STRING)
            return nb_errf(err, NB_ERR_FORMAT, "tokenizer.json: model.type (%u:%u) is %s, not a string",
                           type->line, type->col, nb_json_kind_str(type->kind));
        tname = type->str;
    } else if (nb_json_get(model, "merges")) {
        tname = "BPE";
    } else if (nb_json_get(model, "continuing_subword_prefix") ||
               nb_json_get(model, "max_input_chars_per_word")) {
        tname = "WordPiece";
    } else if (vocab && vocab->kind == NB_JSON_ARRAY) {
        tname = "Unigram";
    } else {
        return nb_errf(err, NB_ERR_FORMAT,
                       "tokenizer.json: model has no \"type\" and no fields that tell it");
    }
    int bpe = !strcmp(tname, "BPE"), wpm = !strcmp(tname, "WordPiece");
    if (!bpe && !wpm)
        return nb_errf(err, NB_ERR_UNSUPPORTED,
                       "tokenizer.json: model.type \"%.32s\" is not supported (BPE and WordPiece "
                       "are)%s",
                       tname,
                       !strcmp(tname, "Unigram") ? "; for a SentencePiece model convert from its "
                                                   "tokenizer.model"
                                                 : "");
    if (bpe) {
        const nb_json *bf = nb_json_get(model, "byte_fallback");
        if (bf && bf->kind == NB_JSON_BOOL && bf->boolean)
            return nb_errf(err, NB_ERR_UNSUPPORTED,
                           "tokenizer.json: a BPE model with byte_fallback (SentencePiece in "
                           "tokenizer.json) is not supported; convert from its tokenizer.model");
    }
    if (!vocab || vocab->kind != NB_JSON_OBJECT)
        return nb_errf(err, NB_ERR_FORMAT, "tokenizer.json: model.vocab is %s, not an object",
                       vocab ? nb_json_kind_str(vocab->kind) : "missing");
    const nb_json *added = nb_json_get(tok, "added_tokens");
    if (added && added->kind == NB_JSON_NULL) added = NULL;
    if (added && added->kind != NB_JSON_ARRAY)
        return nb_errf(err, NB_ERR_FORMAT, "tokenizer.json: added_tokens (%u:%u) is %s, not an array",
                       added->line, added->col, nb_json_kind_str(added->kind));
    const nb_json *merges = NULL;
    if (bpe) {
        merges = nb_json_get(model, "merges");
        if (!merges || merges->kind != NB_JSON_ARRAY)
            return nb_errf(err, NB_ERR_FORMAT, "tokenizer.json: model.merges is %s, not an array",
                           merges ? nb_json_kind_str(merges->kind) : "missing");
    }

    /* pass 1: check every id, find the largest (and who has it) */
    int64_t max_id = -1;
    const nb_json *max_node = NULL;
    size_t max_added = (size_t)-1;
    for (const nb_json *m = vocab->first; m; m = m->next) {
        if (m->kind != NB_JSON_NUMBER || !m->is_int || m->integer < 0 ||
            m->integer >= (int64_t)NB_HF_MAX_TOKENS)
            return nb_errf(err, m->kind == NB_JSON_NUMBER ? NB_ERR_RANGE : NB_ERR_FORMAT,
                           "tokenizer.json: model.vocab[\"%.40s\"] (%u:%u) is not an id in 0..%u",
                           m->key, m->line, m->col, NB_HF_MAX_TOKENS - 1);
        if (m->integer > max_id) {
            max_id = m->integer;
            max_node = m;
        }
    }
    size_t ai = 0;
    for (const nb_json *a = added ? added->first : NULL; a; a = a->next, ai++) {
        int64_t id;
        const nb_json *content = str_member(a, "content");
        if (a->kind != NB_JSON_OBJECT || !content)
            return nb_errf(err, NB_ERR_FORMAT,
                           "tokenizer.json: added_tokens[%zu] (%u:%u) has no \"content\" string",
                           ai, a->line, a->col);
        if (!int_member(a, "id", &id) || id < 0 || id >= (int64_t)NB_HF_MAX_TOKENS)
            return nb_errf(err, NB_ERR_FORMAT,
                           "tokenizer.json: added_tokens[%zu] (%u:%u) \"%.40s\": \"id\" is not an "
                           "id in 0..%u",
                           ai, a->line, a->col, content->str, NB_HF_MAX_TOKENS - 1);
        if (id > max_id) {
            max_id = id;
            max_node = content;
            max_added = ai;
        }
    }
    if (max_id < 0) return nb_errf(err, NB_ERR_FORMAT, "tokenizer.json: model.vocab is empty");
    int64_t n = c->vocab_size > 0 ? c->vocab_size : max_id + 1;
    if (max_id >= n) {
        if (max_added != (size_t)-1)
            return nb_errf(err, NB_ERR_RANGE,
                           "tokenizer.json: added_tokens[%zu] \"%.40s\" has id %lld, not below "
                           "vocab_size %lld (%s)",
                           max_added, max_node->str, (long long)max_id, (long long)n,
                           c->vocab_size_from);
        return nb_errf(err, NB_ERR_RANGE,
                       "tokenizer.json: model.vocab[\"%.40s\"] (%u:%u) has id %lld, not below "
                       "vocab_size %lld (%s)",
                       max_node->key, max_node->line, max_node->col, (long long)max_id,
                       (long long)n, c->vocab_size_from);
    }

    nb_status s = nb_hf_vocab_alloc_tokens(v, (uint32_t)n, 0, err);
    if (s) return s;
    snprintf(v->model, sizeof v->model, "%s", bpe ? "gpt2" : "bert");
    v->n_base = (uint32_t)(max_id + 1);
    uint8_t *owner = calloc((size_t)n, 1); /* 1: a vocab entry, 2: an added token */
    if (!owner) return nb_errf(err, NB_ERR_NOMEM, "out of memory");
    for (const nb_json *m = vocab->first; m && !s; m = m->next) {
        uint32_t id = (uint32_t)m->integer;
        if (owner[id]) {
            s = nb_errf(err, NB_ERR_FORMAT,
                        "tokenizer.json: model.vocab[\"%.40s\"] (%u:%u) has id %u, as has \"%.40s\"",
                        m->key, m->line, m->col, id, v->tokens[id]);
            break;
        }
        owner[id] = 1;
        s = nb_hf_vocab_set_token(v, id, m->key, m->key_len, err);
        v->types[id] = NB_TOKEN_NORMAL;
    }
    ai = 0;
    for (const nb_json *a = added ? added->first : NULL; a && !s; a = a->next, ai++) {
        int64_t id64 = 0;
        int_member(a, "id", &id64);
        uint32_t id = (uint32_t)id64;
        const nb_json *content = str_member(a, "content");
        if (owner[id] == 2) {
            s = nb_errf(err, NB_ERR_FORMAT,
                        "tokenizer.json: added_tokens[%zu] (%u:%u) \"%.40s\" has id %u, as has "
                        "added token \"%.40s\"",
                        ai, a->line, a->col, content->str, id, v->tokens[id]);
            break;
        }
        owner[id] = 2;
        const nb_json *sp = nb_json_get(a, "special");
        int special = sp && sp->kind == NB_JSON_BOOL && sp->boolean;
        s = set_added(v, id, content->str, content->len, special, err);
    }
    free(owner);
    if (s) return s;

    if (wpm) {
        /* BertModel.set_vocab: the "phantom space" spelling */
        for (uint32_t i = 0; i < v->n_tokens && !s; i++) {
            if (v->types[i] == NB_TOKEN_CONTROL) continue;
            const char *t = v->tokens[i];
            uint32_t len = v->token_len[i];
            if (len >= 2 && t[0] == '#' && t[1] == '#') {
                v->tokens[i] += 2;
                v->token_len[i] -= 2;
                continue;
            }
            char *tmp = malloc((size_t)len + 3);
            if (!tmp) return nb_errf(err, NB_ERR_NOMEM, "out of memory");
            memcpy(tmp, SPACE_MARK, 3);
            memcpy(tmp + 3, t, len);
            s = nb_hf_vocab_set_token(v, i, tmp, (size_t)len + 3, err);
            free(tmp);
        }
        if (s) return s;
        int64_t ttc = 1;
        if (c->config) int_member(c->config, "type_vocab_size", &ttc);
        v->token_type_count = ttc >= 0 && ttc <= UINT32_MAX ? ttc : 1;
        snprintf(v->pre, sizeof v->pre, "default");
        v->pre_known = 1;
        return NB_OK;
    }

    size_t i = 0;
    for (const nb_json *m = merges->first; m && !s; m = m->next, i++) s = read_merge(v, m, i, err);
    if (s) return s;
    const char *pre = guess_pre(tok);
    snprintf(v->pre, sizeof v->pre, "%s", pre ? pre : "default");
    v->pre_known = pre != NULL;
    return NB_OK;
}

/* ------------------------------------------------ SentencePiece extras */

static nb_status spm_added(hf_ctx *c, nb_hf_vocab *v, nb_err *err) {
    nb_status s = NB_OK;
    if (c->added) {
        for (const nb_json *m = c->added->first; m && !s; m = m->next) {
            if (m->kind != NB_JSON_NUMBER || !m->is_int || m->integer < 0)
                return nb_errf(err, NB_ERR_FORMAT,
                               "added_tokens.json: \"%.40s\" (%u:%u) is not a token id", m->key,
                               m->line, m->col);
            if (m->integer >= (int64_t)v->n_tokens) continue; /* llama.cpp: ignored */
            uint32_t id = (uint32_t)m->integer;
            s = nb_hf_vocab_set_token(v, id, m->key, m->key_len, err);
            v->scores[id] = -1000.0f;
            v->types[id] = NB_TOKEN_USER_DEFINED;
        }
    }
    const nb_json *dec = c->tcfg ? nb_json_get(c->tcfg, "added_tokens_decoder") : NULL;
    if (!dec || s) return s;
    if (dec->kind != NB_JSON_OBJECT)
        return nb_errf(err, NB_ERR_FORMAT,
                       "tokenizer_config.json: added_tokens_decoder (%u:%u) is %s, not an object",
                       dec->line, dec->col, nb_json_kind_str(dec->kind));
    for (const nb_json *m = dec->first; m && !s; m = m->next) {
        /* keys are decimal ids (Python: int(token_id)) */
        uint64_t id = 0;
        size_t k = 0;
        for (; k < m->key_len && m->key[k] >= '0' && m->key[k] <= '9' && id < (1u << 30); k++)
            id = id * 10 + (uint64_t)(m->key[k] - '0');
        const nb_json *content = str_member(m, "content");
        if (k == 0 || k != m->key_len || !content)
            return nb_errf(err, NB_ERR_FORMAT,
                           "tokenizer_config.json: added_tokens_decoder[\"%.40s\"] (%u:%u): %s",
                           m->key, m->line, m->col,
                           !content ? "no \"content\" string" : "the key is not a token id");
        if (id >= v->n_tokens) continue;
        const nb_json *sp = nb_json_get(m, "special");
        int special = sp && sp->kind == NB_JSON_BOOL && sp->boolean;
        s = set_added(v, (uint32_t)id, content->str, content->len, special, err);
    }
    return s;
}

/* ------------------------------------------------------ special tokens */

/* tokenizer_config.json's "<typ>_token": a string or {"content": ...}. */
static const nb_json *token_name(const nb_json *obj, const char *key) {
    const nb_json *e = nb_json_get(obj, key);
    if (!e) return NULL;
    if (e->kind == NB_JSON_STRING) return e;
    if (e->kind == NB_JSON_OBJECT) return str_member(e, "content");
    return NULL;
}

static int same(const nb_json *a, const nb_json *b) {
    return a && b && a->len == b->len && !memcmp(a->str, b->str, a->len);
}

/* The "id" of a post_processor template item {"SpecialToken": {"id": ..}}. */
static const nb_json *template_special(const nb_json *item) {
    const nb_json *st = nb_json_get(item, "SpecialToken");
    const nb_json *id = str_member(st, "id");
    return id && id->len ? id : NULL;
}

static nb_status apply_specials(hf_ctx *c, nb_hf_vocab *v, nb_err *err) {
    (void)err;
    const nb_json *name[SP_N] = {0}; /* token text for each kind */
    int have_cfg = (c->tcfg && c->tcfg->count) || (c->stm && c->stm->count);
    int want_eot = 0; /* SpecialVocab adds "eot" to its kinds only then */
    for (int k = 0; k < SP_EOT; k++) {
        char key[32];
        snprintf(key, sizeof key, "%s_token", SP_NAME[k]);
        name[k] = c->tcfg ? token_name(c->tcfg, key) : NULL;
        if (!name[k] && c->stm) name[k] = token_name(c->stm, key);
    }
    const nb_json *added = c->tok ? nb_json_get(c->tok, "added_tokens") : NULL;
    if (added && added->kind != NB_JSON_ARRAY) added = NULL;

    if (c->tok) {
        if (!name[SP_BOS] && name[SP_CLS] && have_cfg) name[SP_BOS] = name[SP_CLS];
        if (!name[SP_EOS] && name[SP_SEP] && have_cfg) name[SP_EOS] = name[SP_SEP];
        const nb_json *pp = nb_json_get(c->tok, "post_processor");
        if (pp && pp->kind == NB_JSON_OBJECT) {
            const nb_json *procs = nb_json_get(pp, "processors");
            const nb_json *one = pp;
            const nb_json *it = procs && procs->kind == NB_JSON_ARRAY ? procs->first : one;
            for (; it; it = procs && procs->kind == NB_JSON_ARRAY ? it->next : NULL) {
                if (it->kind != NB_JSON_OBJECT) continue;
                const nb_json *t = nb_json_get(it, "type");
                if (str_is(t, "RobertaProcessing")) {
                    v->add_bos = v->add_eos = v->add_sep = 1;
                    const nb_json *cls = nb_json_get(it, "cls"), *sep = nb_json_get(it, "sep");
                    if (!name[SP_CLS] && have_cfg && cls && cls->kind == NB_JSON_ARRAY &&
                        cls->first && cls->first->kind == NB_JSON_STRING)
                        name[SP_CLS] = cls->first;
                    if (!name[SP_SEP] && have_cfg && sep && sep->kind == NB_JSON_ARRAY &&
                        sep->first && sep->first->kind == NB_JSON_STRING)
                        name[SP_SEP] = sep->first;
                    continue;
                }
                if (!str_is(t, "TemplateProcessing")) continue;
                const nb_json *single = nb_json_get(it, "single");
                if (!single || single->kind != NB_JSON_ARRAY || single->count < 2) continue;
                const nb_json *first = template_special(single->first);
                const nb_json *lastn = single->first;
                while (lastn->next) lastn = lastn->next;
                const nb_json *last = template_special(lastn);
                if (first) {
                    if (!have_cfg) name[SP_BOS] = first;
                    v->add_bos = same(first, name[SP_BOS]) || same(first, name[SP_CLS]);
                }
                if (last) {
                    if (!have_cfg) {
                        name[SP_EOS] = last;
                    } else if (!same(last, name[SP_EOS])) {
                        /* SpecialVocab: the old eos becomes the eot */
                        name[SP_EOT] = name[SP_EOS];
                        name[SP_EOS] = last;
                        want_eot = 1;
                    }
                    v->add_eos = 1;
                }
            }
        }
    }

    int64_t found[SP_N];
    for (int k = 0; k < SP_N; k++) found[k] = -1;
    if (have_cfg) {
        const char *const addkey[] = {"add_bos_token", "add_eos_token", "add_sep_token"};
        int *addflag[] = {&v->add_bos, &v->add_eos, &v->add_sep};
        for (int k = 0; k < 3; k++) {
            const nb_json *a = c->tcfg ? nb_json_get(c->tcfg, addkey[k]) : NULL;
            if (a && a->kind == NB_JSON_BOOL) *addflag[k] = a->boolean;
        }
        for (int k = 0; k < SP_N && added; k++) {
            if (!name[k]) continue;
            for (const nb_json *a = added->first; a; a = a->next) {
                int64_t id;
                if (same(str_member(a, "content"), name[k])) {
                    if (int_member(a, "id", &id) && id >= 0 && id < (int64_t)v->n_tokens)
                        found[k] = id;
                    break; /* the first match only */
                }
            }
        }
    }
    if (c->config) {
        const nb_json *text = nb_json_get(c->config, "text_config");
        for (int k = 0; k < SP_N; k++) {
            if (found[k] >= 0 || (k == SP_EOT && !want_eot)) continue;
            char key[32];
            snprintf(key, sizeof key, "%s_token_id", SP_NAME[k]);
            int64_t id;
            const nb_json *m = nb_json_get(c->config, key);
            int ok = m && m->kind != NB_JSON_NULL ? int_member(c->config, key, &id)
                                                  : int_member(text, key, &id);
            /* negative ids: llama.cpp raises; here they mean "none" */
            if (ok && id >= 0 && id < (int64_t)v->n_tokens) found[k] = id;
        }
    }
    int64_t *dst[SP_N] = {&v->bos, &v->eos, &v->unk, &v->sep, &v->pad, &v->cls, &v->mask, &v->eot};
    for (int k = 0; k < SP_N; k++)
        if (found[k] >= 0) *dst[k] = found[k];

    /* chat template */
    const nb_json *ct = c->tcfg ? nb_json_get(c->tcfg, "chat_template") : NULL;
    const char *tmpl = NULL;
    size_t tlen = 0;
    if (ct && ct->kind == NB_JSON_STRING) {
        tmpl = ct->str;
        tlen = ct->len;
    } else if (ct && ct->kind == NB_JSON_ARRAY) {
        for (const nb_json *e = ct->first; e; e = e->next) {
            const nb_json *t = str_member(e, "template");
            if (str_is(nb_json_get(e, "name"), "default") && t) {
                tmpl = t->str;
                tlen = t->len;
            }
        }
    } else if (!ct && c->f->chat_template.data) {
        tmpl = c->f->chat_template.data;
        tlen = c->f->chat_template.size;
    }
    if (tmpl) {
        v->chat_template = malloc(tlen + 1);
        if (!v->chat_template) return nb_errf(err, NB_ERR_NOMEM, "out of memory");
        memcpy(v->chat_template, tmpl, tlen);
        v->chat_template[tlen] = 0;
    }
    return NB_OK;
}

/* ---------------------------------------------------------------- main */

nb_status nb_hf_vocab_from_files(const nb_hf_tokenizer_files *f, const nb_hf_vocab_opts *o,
                                 nb_hf_vocab *v, nb_err *err) {
    if (!v) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_hf_vocab_from_files: NULL vocabulary");
    nb_hf_vocab_init(v);
    if (!f) return nb_errf(err, NB_ERR_INVALID_ARG, "nb_hf_vocab_from_files: NULL files");
    nb_hf_vocab_opts dflt = {0};
    if (!o) o = &dflt;
    if (o->pre && strlen(o->pre) >= sizeof v->pre)
        return nb_errf(err, NB_ERR_INVALID_ARG, "pre-tokenizer name \"%.40s\" is too long", o->pre);

    hf_ctx c = {0};
    c.f = f;
    nb_status s;
    int spm;
    if ((s = parse_file(&c, 0, f->config, "config.json", &c.config, err)) ||
        (s = parse_file(&c, 1, f->tokenizer_config, "tokenizer_config.json", &c.tcfg, err)) ||
        (s = parse_file(&c, 2, f->special_tokens_map, "special_tokens_map.json", &c.stm, err)))
        goto done;

    c.vocab_size = 0;
    c.vocab_size_from = "the tokenizer";
    if (o->vocab_size > 0) {
        c.vocab_size = o->vocab_size;
        c.vocab_size_from = "given";
    } else if (c.config) {
        int64_t vs;
        const nb_json *text = nb_json_get(c.config, "text_config");
        if (int_member(c.config, "vocab_size", &vs) || int_member(text, "vocab_size", &vs)) {
            c.vocab_size = vs;
            c.vocab_size_from = "config.json";
        }
    }
    if (c.vocab_size < 0 || c.vocab_size > (int64_t)NB_HF_MAX_TOKENS) {
        s = nb_errf(err, NB_ERR_RANGE, "vocab_size %lld (%s) out of range (1..%u)",
                    (long long)c.vocab_size, c.vocab_size_from, NB_HF_MAX_TOKENS);
        goto done;
    }

    spm = o->source == NB_HF_VOCAB_SPM ||
          (o->source == NB_HF_VOCAB_AUTO && f->tokenizer_model.data);
    if (spm && !f->tokenizer_model.data) {
        s = nb_errf(err, NB_ERR_NOT_FOUND, "tokenizer.model is missing");
        goto done;
    }
    if (!spm && !f->tokenizer_json.data) {
        s = nb_errf(err, NB_ERR_NOT_FOUND, "tokenizer.json is missing");
        goto done;
    }
    /* tokenizer.json also names the special tokens of an SPM model */
    if ((s = parse_file(&c, 3, f->tokenizer_json, "tokenizer.json", &c.tok, err))) goto done;
    if (spm) {
        if ((s = parse_file(&c, 4, f->added_tokens, "added_tokens.json", &c.added, err))) goto done;
        if ((s = nb_spm_model_read(f->tokenizer_model.data, f->tokenizer_model.size, c.vocab_size,
                                   v, err)))
            goto done;
        s = spm_added(&c, v, err);
    } else {
        s = read_tokenizer_json(&c, v, err);
    }
    if (!s) s = apply_specials(&c, v, err);
    if (!s && o->pre) {
        snprintf(v->pre, sizeof v->pre, "%s", o->pre);
        v->pre_known = 1;
    }
done:
    for (int i = 0; i < 5; i++) nb_json_free(c.docs[i]);
    if (s) nb_hf_vocab_free(v);
    return s;
}
