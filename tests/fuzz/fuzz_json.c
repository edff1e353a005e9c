/* libFuzzer target over the strict JSON reader (lib/convert/json.c).
 *
 * For each input: parse; on failure require a message and a status the
 * reader promises (malformed or over a limit). On success walk the tree and
 * check what a caller relies on (counts, NUL-terminated strings, valid
 * UTF-8, lookups, is_int agreeing with number), write it back out as JSON
 * and require the re-parse to give the same tree. Then parse again under
 * tight limits and with an allocator that fails after a few blocks, and
 * require a consistent verdict and no leak. Any broken promise aborts,
 * which libFuzzer reports as a crash. */
#include "convert/json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *detail) {
    fprintf(stderr, "fuzz_json: %s (%s)\n", what, detail ? detail : "");
    abort();
}

/* Well-formed UTF-8 per Unicode table 3-7, written independently of the
 * reader's own check. */
static int utf8_ok(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        uint32_t cp;
        size_t k;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xE0) == 0xC0) { k = 2; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { k = 3; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { k = 4; cp = c & 0x07; }
        else return 0;
        if (n - i < k) return 0;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += k;
    }
    return 1;
}

/* The typed getters on member m of obj agree with the node. */
static void check_getters(const nb_json *obj, const nb_json *m) {
    nb_err err = {NB_OK, ""};
    int64_t i = 0;
    double d = 0;
    int b = 0;
    const char *s = NULL;
    nb_status si = nb_json_get_int(obj, m->key, &i, &err);
    nb_status sd = nb_json_get_num(obj, m->key, &d, &err);
    nb_status sb = nb_json_get_bool(obj, m->key, &b, &err);
    nb_status ss = nb_json_get_str(obj, m->key, &s, &err);
    nb_status want_d = m->kind == NB_JSON_NULL ? NB_ERR_NOT_FOUND : NB_ERR_TYPE;
    if (m->kind == NB_JSON_NUMBER) {
        if (sd || memcmp(&d, &m->number, sizeof d) != 0) die("get_num", m->key);
        if (m->is_int && (si || i != m->integer)) die("get_int on an integer", m->key);
        if (!m->is_int && !si && (double)i != m->number) die("get_int value", m->key);
        if (!m->is_int && si != NB_OK && si != NB_ERR_TYPE && si != NB_ERR_RANGE)
            die("get_int status", m->key);
    } else if (si != want_d || sd != want_d) {
        die("number getters on another kind", m->key);
    }
    if (m->kind == NB_JSON_BOOL ? (sb || b != m->boolean) : sb != want_d) die("get_bool", m->key);
    if (m->kind == NB_JSON_STRING ? (ss || s != m->str) : ss != want_d) die("get_str", m->key);
}

static void walk(const nb_json *v, int in_object) {
    if (v->line < 1 || v->col < 1) die("position below 1:1", NULL);
    if (in_object) {
        if (!v->key || v->key[v->key_len] != 0 || !utf8_ok((const unsigned char *)v->key, v->key_len))
            die("bad member name", v->key);
    } else if (v->key || v->key_len) {
        die("name on a value outside an object", v->key);
    }
    switch (v->kind) {
    case NB_JSON_NULL: break;
    case NB_JSON_BOOL:
        if (v->boolean != 0 && v->boolean != 1) die("bool not 0/1", NULL);
        break;
    case NB_JSON_NUMBER:
        if (isnan(v->number)) die("NaN", NULL);
        if (v->is_int && v->number != (double)v->integer) die("integer and number disagree", NULL);
        break;
    case NB_JSON_STRING:
        if (!v->str || v->str[v->len] != 0) die("string not NUL-terminated", NULL);
        if (!utf8_ok((const unsigned char *)v->str, v->len)) die("string not UTF-8", NULL);
        break;
    case NB_JSON_ARRAY:
    case NB_JSON_OBJECT: {
        size_t n = 0;
        const nb_json *last = NULL;
        for (const nb_json *c = v->first; c; c = c->next, n++) {
            walk(c, v->kind == NB_JSON_OBJECT);
            last = c;
        }
        if (n != v->count) die("count differs from the children", NULL);
        if (v->kind == NB_JSON_ARRAY) {
            if (n && nb_json_at(v, n - 1) != last) die("nb_json_at", NULL);
            if (nb_json_at(v, n) != NULL) die("nb_json_at past the end", NULL);
        } else {
            /* a lookup finds the last member of that name */
            for (const nb_json *c = v->first; c; c = c->next) {
                if (strlen(c->key) != c->key_len) continue; /* a C string cannot name it */
                const nb_json *want = c;
                for (const nb_json *d = c->next; d; d = d->next)
                    if (d->key_len == c->key_len && memcmp(d->key, c->key, c->key_len) == 0) want = d;
                if (nb_json_get(v, c->key) != want) die("nb_json_get", c->key);
                check_getters(v, want);
            }
        }
        break;
    }
    default: die("unknown kind", NULL);
    }
}

typedef struct { char *s; size_t n, cap; } sbuf;

static void put(sbuf *b, const char *s, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->s = realloc(b->s, b->cap);
        if (!b->s) die("out of memory", NULL);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
}

static void put_str(sbuf *b, const char *s, size_t n) {
    put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c == '"' || c == '\\') {
            e[0] = '\\';
            e[1] = (char)c;
            put(b, e, 2);
        } else if (c < 0x20) {
            snprintf(e, sizeof e, "\\u%04x", c);
            put(b, e, 6);
        } else {
            put(b, (const char *)&s[i], 1);
        }
    }
    put(b, "\"", 1);
}

static void dump(sbuf *b, const nb_json *v) {
    char t[40];
    switch (v->kind) {
    case NB_JSON_NULL: put(b, "null", 4); break;
    case NB_JSON_BOOL: v->boolean ? put(b, "true", 4) : put(b, "false", 5); break;
    case NB_JSON_NUMBER:
        if (v->is_int && !(v->integer == 0 && signbit(v->number))) /* "-0" is -0.0 */
            snprintf(t, sizeof t, "%lld", (long long)v->integer);
        else if (isinf(v->number)) snprintf(t, sizeof t, "%s", v->number < 0 ? "-1e999" : "1e999");
        else snprintf(t, sizeof t, "%.17g", v->number);
        put(b, t, strlen(t));
        break;
    case NB_JSON_STRING: put_str(b, v->str, v->len); break;
    case NB_JSON_ARRAY:
    case NB_JSON_OBJECT:
        put(b, v->kind == NB_JSON_ARRAY ? "[" : "{", 1);
        for (const nb_json *c = v->first; c; c = c->next) {
            if (c != v->first) put(b, ",", 1);
            if (v->kind == NB_JSON_OBJECT) {
                put_str(b, c->key, c->key_len);
                put(b, ":", 1);
            }
            dump(b, c);
        }
        put(b, v->kind == NB_JSON_ARRAY ? "]" : "}", 1);
        break;
    }
}

static int same(const nb_json *a, const nb_json *b) {
    if (a->kind != b->kind || a->key_len != b->key_len) return 0;
    if (a->key_len && memcmp(a->key, b->key, a->key_len) != 0) return 0;
    switch (a->kind) {
    case NB_JSON_NULL: return 1;
    case NB_JSON_BOOL: return a->boolean == b->boolean;
    case NB_JSON_NUMBER: return memcmp(&a->number, &b->number, sizeof a->number) == 0;
    case NB_JSON_STRING: return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
    default:
        if (a->count != b->count) return 0;
        for (const nb_json *x = a->first, *y = b->first; x; x = x->next, y = y->next)
            if (!same(x, y)) return 0;
        return 1;
    }
}

typedef struct { int left; } budget;
static void *fail_alloc(void *user, size_t size) {
    budget *b = user;
    if (b->left-- <= 0) return NULL;
    return malloc(size);
}
static void plain_free(void *user, void *p) {
    (void)user;
    free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    nb_json_doc *doc = NULL;
    nb_err err = {NB_OK, ""};
    nb_status s = nb_json_parse(text, size, NULL, NULL, NULL, &doc, &err);
    if (s != NB_OK) {
        if (doc) die("failed parse returned a document", err.msg);
        if (err.status != s || strncmp(err.msg, "json", 4) != 0) die("error without a message", err.msg);
        if (s != NB_ERR_FORMAT && s != NB_ERR_RANGE) die("unexpected status", err.msg);
    } else {
        const nb_json *root = nb_json_root(doc);
        if (!root) die("no root", NULL);
        walk(root, 0);
        /* write it out and read it back: the same tree */
        sbuf b = {0};
        dump(&b, root);
        nb_json_doc *again = NULL;
        nb_err err2 = {NB_OK, ""};
        if (nb_json_parse(b.s, b.n, "dump", NULL, NULL, &again, &err2) != NB_OK)
            die("re-parse of the dump failed", err2.msg);
        if (!same(root, nb_json_root(again))) die("re-parse differs", NULL);
        nb_json_free(again);
        free(b.s);
    }

    /* tight limits: never accept what the defaults reject; only a limit
     * may turn an accepted document down */
    nb_json_limits lim = {4, 0, 64};
    nb_json_doc *small = NULL;
    nb_err err3 = {NB_OK, ""};
    nb_status s3 = nb_json_parse(text, size, NULL, &lim, NULL, &small, &err3);
    if (s != NB_OK && s3 == NB_OK) die("accepted under tight limits only", NULL);
    if (s == NB_OK && s3 != NB_OK && s3 != NB_ERR_RANGE) die("limits changed the verdict", err3.msg);
    if (s3 == NB_OK && !same(nb_json_root(doc), nb_json_root(small))) die("limits changed the tree", NULL);
    nb_json_free(small);

    /* allocation failure after a few blocks: reported, nothing leaked (LSan) */
    budget bud = {(int)(size % 4)};
    nb_allocator fa = {fail_alloc, plain_free, &bud};
    nb_json_doc *d4 = NULL;
    nb_status s4 = nb_json_parse(text, size, NULL, NULL, &fa, &d4, &err3);
    if (s4 != s && s4 != NB_ERR_NOMEM) die("failing allocator changed the verdict", err3.msg);
    if (s4 == NB_OK && !same(nb_json_root(doc), nb_json_root(d4))) die("allocator changed the tree", NULL);
    nb_json_free(d4);
    nb_json_free(doc);
    return 0;
}
