/* Strict JSON (RFC 8259) into a tree of nodes.
 *
 * One pass, no recursion: open arrays/objects are a linked stack of frames,
 * so the nesting limit costs no C stack and may be set as high as a caller
 * likes. Nodes, decoded strings and frames come from a chain of large blocks
 * (a bump allocator over the caller's nb_allocator); nb_json_free returns
 * the blocks. Decoding never makes a string longer than its quoted text, so
 * a string gets its raw length, is decoded in place and the tail given back.
 *
 * Choices where the RFC leaves room:
 * - a leading UTF-8 BOM is skipped (RFC 8259 §8.1: parsers MAY ignore it);
 *   anywhere else it is an unexpected byte;
 * - numbers beyond double range become +-HUGE_VAL (as Python's json does),
 *   ones too small become 0; is_int only for integer literals within int64;
 * - columns count bytes from the start of the line (1-based), lines count
 *   LF; after a BOM, columns start after it;
 * - limits (size, depth, values) fail with NB_ERR_RANGE, malformed text with
 *   NB_ERR_FORMAT, a failed allocation with NB_ERR_NOMEM. */
#include "convert/json.h"
#include "core/core.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEF_MAX_DEPTH 256
#define DEF_MAX_BYTES ((size_t)1 << 30)
#define DEF_MAX_NODES ((size_t)64 << 20)

/* Blocks: the first is sized from the input, later ones double the total
 * so far up to BLOCK_MAX (few allocations, at most BLOCK_MAX unused). */
#define BLOCK_MIN ((size_t)16 << 10)
#define BLOCK_MAX ((size_t)64 << 20)

typedef struct block {
    struct block *next;
    size_t size, used; /* bytes of data after the header */
} block;

/* header rounded up so that data keeps the allocator's 16-byte alignment */
#define BLOCK_HDR ((sizeof(block) + 15) & ~(size_t)15)

struct nb_json_doc {
    nb_allocator alloc;
    block *blocks;   /* newest first: the one being filled */
    size_t total;    /* data bytes in all blocks */
    nb_json *root;
};

/* An open array or object. */
typedef struct frame {
    nb_json *node;
    nb_json *tail;     /* last child so far (append in O(1)) */
    struct frame *up;
} frame;

typedef struct parser {
    nb_json_doc *doc;
    const unsigned char *start, *p, *end;
    const unsigned char *line_start; /* first byte of the current line */
    size_t line;
    const char *what;
    nb_err *err;
    size_t max_depth, max_nodes, depth, n_nodes;
    frame *top, *spare; /* open containers; popped frames for reuse */
} parser;

/* ---------------------------------------------------------------- memory */

static void *doc_alloc(parser *ps, size_t size, size_t align) {
    nb_json_doc *d = ps->doc;
    block *b = d->blocks;
    if (b) {
        size_t at = (b->used + align - 1) & ~(align - 1);
        if (at <= b->size && size <= b->size - at) {
            b->used = at + size;
            return (unsigned char *)b + BLOCK_HDR + at;
        }
    }
    size_t want = d->total < BLOCK_MIN ? BLOCK_MIN : d->total;
    if (want > BLOCK_MAX) want = BLOCK_MAX;
    if (want < size) want = size;
    if (want > SIZE_MAX - BLOCK_HDR) goto nomem;
    b = nb_alloc(&d->alloc, BLOCK_HDR + want);
    if (!b) goto nomem;
    b->next = d->blocks;
    b->size = want;
    b->used = size;
    d->blocks = b;
    d->total += want;
    return (unsigned char *)b + BLOCK_HDR;
nomem:
    nb_errf(ps->err, NB_ERR_NOMEM, "%s: out of memory (block of %zu bytes)", ps->what, size);
    return NULL;
}

/* Give back the end of the newest allocation: it used `used` of `size`. */
static void doc_trim(parser *ps, size_t size, size_t used) {
    ps->doc->blocks->used -= size - used;
}

/* ---------------------------------------------------------------- errors */

static void where(const parser *ps, const unsigned char *at, size_t *line, size_t *col) {
    if (at >= ps->line_start) {
        *line = ps->line;
        *col = (size_t)(at - ps->line_start) + 1;
        return;
    }
    /* not reached today (errors point into the current line); counted
     * from the start so a future caller still gets the truth */
    size_t l = 1;
    const unsigned char *ls = ps->start;
    for (const unsigned char *q = ps->start; q < at; q++)
        if (*q == '\n') l++, ls = q + 1;
    *line = l;
    *col = (size_t)(at - ls) + 1;
}

static nb_status fail_at(parser *ps, const unsigned char *at, nb_status st, const char *fmt, ...)
    NB_PRINTF(4, 5);
static nb_status fail_at(parser *ps, const unsigned char *at, nb_status st, const char *fmt, ...) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t line, col;
    where(ps, at, &line, &col);
    return nb_errf(ps->err, st, "%s:%zu:%zu: %s", ps->what, line, col, msg);
}

/* "'x'" for a printable byte, "byte 0xC3" otherwise, "end of input" */
static const char *describe(const parser *ps, const unsigned char *at, char buf[16]) {
    if (at >= ps->end) return "end of input";
    if (*at >= 0x20 && *at < 0x7f) snprintf(buf, 16, "'%c'", *at);
    else snprintf(buf, 16, "byte 0x%02X", *at);
    return buf;
}

static nb_status fail_expected(parser *ps, const char *expected) {
    char b[16];
    const char *got = describe(ps, ps->p, b);
    const char *hint = "";
    if (ps->p < ps->end) {
        switch (*ps->p) {
        case '/': hint = " (JSON has no comments)"; break;
        case '\'': hint = " (strings take double quotes)"; break;
        case 0xEF:
            if (ps->end - ps->p >= 3 && memcmp(ps->p, "\xEF\xBB\xBF", 3) == 0)
                hint = " (a byte order mark, allowed only at the start)";
            break;
        default: break;
        }
    }
    return fail_at(ps, ps->p, NB_ERR_FORMAT, "%s, got %s%s", expected, got, hint);
}

/* ---------------------------------------------------------------- lexing */

static void skip_ws(parser *ps) {
    const unsigned char *p = ps->p, *end = ps->end;
    while (p < end) {
        unsigned char c = *p;
        if (c == ' ' || c == '\t' || c == '\r') {
            p++;
        } else if (c == '\n') {
            p++;
            ps->line++;
            ps->line_start = p;
        } else {
            break;
        }
    }
    ps->p = p;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits after "\u" at p; -1 if not. */
static long hex4(const unsigned char *p, const unsigned char *end) {
    if (end - p < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

static size_t put_utf8(unsigned char *d, unsigned long cp) {
    if (cp < 0x80) {
        d[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (unsigned char)(0xC0 | (cp >> 6));
        d[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (unsigned char)(0xE0 | (cp >> 12));
        d[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (unsigned char)(0xF0 | (cp >> 18));
    d[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the well-formed UTF-8 sequence at p (lead byte >= 0x80), or 0
 * with *why set. The ranges are those of Unicode's table 3-7: they exclude
 * overlongs, encoded surrogates and code points above U+10FFFF. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end, const char **why) {
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c < 0xC0) {
        *why = "stray UTF-8 continuation byte";
        return 0;
    } else if (c < 0xC2) {
        *why = "overlong UTF-8 encoding";
        return 0;
    } else if (c < 0xE0) {
        n = 2;
    } else if (c < 0xF0) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c < 0xF5) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        *why = c < 0xF8 ? "UTF-8 code point above U+10FFFF" : "invalid UTF-8 byte";
        return 0;
    }
    if (p + 1 >= end || p[1] < 0x80 || p[1] > 0xBF) {
        *why = "truncated UTF-8 sequence";
        return 0;
    }
    if (p[1] < lo || p[1] > hi) {
        if (c == 0xED) *why = "UTF-16 surrogate encoded in UTF-8";
        else if (c == 0xF4) *why = "UTF-8 code point above U+10FFFF";
        else *why = "overlong UTF-8 encoding";
        return 0;
    }
    for (size_t i = 2; i < n; i++) {
        if (p + i >= end || p[i] < 0x80 || p[i] > 0xBF) {
            *why = "truncated UTF-8 sequence";
            return 0;
        }
    }
    return n;
}

/* Decode the string whose opening quote is at q into dst (NULL: only
 * check). On success *len is the decoded length and ps->p is past the
 * closing quote. */
static nb_status decode_string(parser *ps, const unsigned char *q, unsigned char *dst, size_t *len) {
    const unsigned char *p = q + 1, *end = ps->end;
    size_t n = 0;
    for (;;) {
        if (p >= end) return fail_at(ps, q, NB_ERR_FORMAT, "unterminated string");
        unsigned char c = *p;
        if (c == '"') break;
        if (c < 0x20) {
            return fail_at(ps, p, NB_ERR_FORMAT, "control character 0x%02X in string%s", c,
                           c == '\n' ? " (unterminated string?)" : " (must be escaped)");
        }
        if (c < 0x80 && c != '\\') {
            if (dst) dst[n] = c;
            n++;
            p++;
            continue;
        }
        if (c >= 0x80) {
            const char *why = NULL;
            size_t k = utf8_len(p, end, &why);
            if (!k) return fail_at(ps, p, NB_ERR_FORMAT, "%s in string", why);
            if (dst) memcpy(dst + n, p, k);
            n += k;
            p += k;
            continue;
        }
        /* an escape */
        if (p + 1 >= end) return fail_at(ps, q, NB_ERR_FORMAT, "unterminated string");
        unsigned char e = p[1], out;
        switch (e) {
        case '"': out = '"'; break;
        case '\\': out = '\\'; break;
        case '/': out = '/'; break;
        case 'b': out = '\b'; break;
        case 'f': out = '\f'; break;
        case 'n': out = '\n'; break;
        case 'r': out = '\r'; break;
        case 't': out = '\t'; break;
        case 'u': {
            long u = hex4(p + 2, end);
            if (u < 0) return fail_at(ps, p, NB_ERR_FORMAT, "\\u must be followed by 4 hex digits");
            unsigned long cp = (unsigned long)u;
            const unsigned char *esc = p;
            p += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return fail_at(ps, esc, NB_ERR_FORMAT, "lone low surrogate \\u%04lX", cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                /* a high surrogate needs a low one right after it */
                long lo = (end - p >= 2 && p[0] == '\\' && p[1] == 'u') ? hex4(p + 2, end) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return fail_at(ps, esc, NB_ERR_FORMAT,
                                   "high surrogate \\u%04lX not followed by a low one", cp);
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned long)lo - 0xDC00);
                p += 6;
            }
            if (dst) n += put_utf8(dst + n, cp);
            else n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            continue;
        }
        default:
            if (e > 0x20 && e < 0x7f)
                return fail_at(ps, p, NB_ERR_FORMAT, "invalid escape '\\%c' in string", e);
            return fail_at(ps, p, NB_ERR_FORMAT, "invalid escape: '\\' followed by byte 0x%02X",
                           e);
        }
        if (dst) dst[n] = out;
        n++;
        p += 2;
    }
    ps->p = p + 1;
    *len = n;
    return NB_OK;
}

/* The string at ps->p (an opening quote) as a decoded, NUL-terminated copy. */
static nb_status parse_string(parser *ps, const char **out, size_t *out_len) {
    const unsigned char *q = ps->p, *p = q + 1, *end = ps->end;
    /* fast path: plain printable ASCII up to the closing quote */
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
    if (p < end && *p == '"') {
        size_t n = (size_t)(p - q - 1);
        char *s = doc_alloc(ps, n + 1, 1);
        if (!s) return NB_ERR_NOMEM;
        memcpy(s, q + 1, n);
        s[n] = 0;
        ps->p = p + 1;
        *out = s;
        *out_len = n;
        return NB_OK;
    }
    /* find the closing quote to size the copy; stop at what cannot be in
     * a string (then decode without a copy, to name the first error) */
    while (p < end && *p != '"' && *p >= 0x20) p += (*p == '\\' && end - p > 1) ? 2 : 1;
    if (p >= end || *p != '"') {
        size_t unused;
        nb_status st = decode_string(ps, q, NULL, &unused);
        return st ? st : fail_at(ps, q, NB_ERR_FORMAT, "unterminated string");
    }
    size_t raw = (size_t)(p - q - 1), n = 0;
    unsigned char *s = doc_alloc(ps, raw + 1, 1);
    if (!s) return NB_ERR_NOMEM;
    nb_status st = decode_string(ps, q, s, &n);
    if (st) return st;
    s[n] = 0;
    doc_trim(ps, raw + 1, n + 1);
    *out = (const char *)s;
    *out_len = n;
    return NB_OK;
}

/* strtod on a NUL-terminated copy. The grammar allows only '.', but strtod
 * follows LC_NUMERIC: if it stops early, retry with the locale's point. */
static double to_double(parser *ps, const unsigned char *s, size_t n, int *nomem) {
    char small[64], *buf = small;
    size_t cap = n + 8; /* room for a multibyte decimal point */
    const struct lconv *lc = NULL;
    if (cap > sizeof small) {
        buf = doc_alloc(ps, cap, 1);
        if (!buf) {
            *nomem = 1;
            return 0;
        }
    }
    memcpy(buf, s, n);
    buf[n] = 0;
    char *e;
    double v = strtod(buf, &e);
    if (e != buf + n && (lc = localeconv()) && lc->decimal_point && strlen(lc->decimal_point) <= 8) {
        const char *dp = lc->decimal_point;
        const unsigned char *dot = memchr(s, '.', n);
        if (dot) {
            size_t i = (size_t)(dot - s), k = strlen(dp);
            memcpy(buf, s, i);
            memcpy(buf + i, dp, k);
            memcpy(buf + i + k, dot + 1, n - i - 1);
            buf[n - 1 + k] = 0;
            v = strtod(buf, &e);
        }
    }
    if (buf != small) doc_trim(ps, cap, 0);
    return v;
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* A number per RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static nb_status parse_number(parser *ps, nb_json *v) {
    const unsigned char *s = ps->p, *p = s, *end = ps->end;
    int neg = 0, frac = 0, big = 0;
    uint64_t mag = 0;
    if (*p == '-') {
        neg = 1;
        p++;
        if (p >= end || !is_digit(*p)) {
            ps->p = p;
            return fail_expected(ps, "expected a digit after '-'");
        }
    }
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p))
            return fail_at(ps, p - 1, NB_ERR_FORMAT, "leading zero in number");
    } else {
        for (; p < end && is_digit(*p); p++) {
            unsigned d = (unsigned)(*p - '0');
            if (mag > (UINT64_MAX - d) / 10) big = 1;
            else mag = mag * 10 + d;
        }
    }
    if (p < end && *p == '.') {
        frac = 1;
        p++;
        if (p >= end || !is_digit(*p)) {
            ps->p = p;
            return fail_expected(ps, "expected a digit after '.'");
        }
        while (p < end && is_digit(*p)) p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        frac = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || !is_digit(*p)) {
            ps->p = p;
            return fail_expected(ps, "expected a digit in the exponent");
        }
        while (p < end && is_digit(*p)) p++;
    }
    ps->p = p;
    const uint64_t lim = (uint64_t)INT64_MAX + (uint64_t)neg;
    if (!frac && !big && mag <= lim) {
        v->is_int = 1;
        v->integer = neg ? (mag == lim ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    }
    if (v->is_int && mag <= ((uint64_t)1 << 53)) {
        /* exact in a double, so this is what strtod would return */
        v->number = neg ? -(double)mag : (double)mag;
    } else {
        int nomem = 0;
        v->number = to_double(ps, s, (size_t)(p - s), &nomem);
        if (nomem) return NB_ERR_NOMEM;
    }
    return NB_OK;
}

static nb_status parse_literal(parser *ps, nb_json *v) {
    static const struct { const char *word; size_t n; nb_json_kind kind; int b; } lits[] = {
        {"true", 4, NB_JSON_BOOL, 1}, {"false", 5, NB_JSON_BOOL, 0}, {"null", 4, NB_JSON_NULL, 0}};
    for (size_t i = 0; i < 3; i++) {
        if (*ps->p != (unsigned char)lits[i].word[0]) continue;
        if ((size_t)(ps->end - ps->p) < lits[i].n || memcmp(ps->p, lits[i].word, lits[i].n) != 0)
            return fail_at(ps, ps->p, NB_ERR_FORMAT, "invalid literal (expected '%s')", lits[i].word);
        v->kind = lits[i].kind;
        v->boolean = lits[i].b;
        ps->p += lits[i].n;
        return NB_OK;
    }
    return fail_expected(ps, "expected a value");
}

/* ---------------------------------------------------------------- parser */

static nb_json *new_node(parser *ps, const char *key, size_t key_len) {
    if (ps->n_nodes >= ps->max_nodes) {
        fail_at(ps, ps->p, NB_ERR_RANGE, "more than %zu values (limit)", ps->max_nodes);
        return NULL;
    }
    nb_json *v = doc_alloc(ps, sizeof *v, _Alignof(nb_json));
    if (!v) return NULL;
    memset(v, 0, sizeof *v);
    ps->n_nodes++;
    size_t line, col;
    where(ps, ps->p, &line, &col);
    v->line = line > UINT32_MAX ? UINT32_MAX : (uint32_t)line;
    v->col = col > UINT32_MAX ? UINT32_MAX : (uint32_t)col;
    v->key = key;
    v->key_len = key_len;
    frame *f = ps->top;
    if (f) {
        if (f->tail) f->tail->next = v;
        else f->node->first = v;
        f->tail = v;
        f->node->count++;
    } else {
        ps->doc->root = v;
    }
    return v;
}

static nb_status push(parser *ps, nb_json *v) {
    if (ps->depth >= ps->max_depth)
        return fail_at(ps, ps->p, NB_ERR_RANGE, "nesting deeper than %zu (limit)", ps->max_depth);
    frame *f = ps->spare;
    if (f) {
        ps->spare = f->up;
    } else {
        f = doc_alloc(ps, sizeof *f, _Alignof(frame));
        if (!f) return NB_ERR_NOMEM;
    }
    f->node = v;
    f->tail = NULL;
    f->up = ps->top;
    ps->top = f;
    ps->depth++;
    return NB_OK;
}

static void pop(parser *ps) {
    frame *f = ps->top;
    ps->top = f->up;
    f->up = ps->spare;
    ps->spare = f;
    ps->depth--;
}

/* A member name at ps->p (after '{' or ','), then the ':'. */
static nb_status parse_key(parser *ps, const char **key, size_t *key_len, int after_comma) {
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != '"') {
        if (after_comma && ps->p < ps->end && *ps->p == '}')
            return fail_at(ps, ps->p, NB_ERR_FORMAT, "trailing comma in object");
        return fail_expected(ps, after_comma ? "expected a member name after ','"
                                             : "expected a member name or '}'");
    }
    nb_status st = parse_string(ps, key, key_len);
    if (st) return st;
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p != ':')
        return fail_expected(ps, "expected ':' after member name");
    ps->p++;
    return NB_OK;
}

static nb_status parse_doc(parser *ps) {
    const char *key = NULL;
    size_t key_len = 0;
    nb_status st;
    for (;;) {
        /* a value is expected at ps->p (after whitespace) */
        skip_ws(ps);
        if (ps->p >= ps->end) return fail_expected(ps, "expected a value");
        nb_json *v = new_node(ps, key, key_len);
        if (!v) return ps->err->status;
        key = NULL;
        key_len = 0;
        unsigned char c = *ps->p;
        if (c == '[' || c == '{') {
            v->kind = c == '[' ? NB_JSON_ARRAY : NB_JSON_OBJECT;
            if ((st = push(ps, v))) return st;
            ps->p++;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == (c == '[' ? ']' : '}')) {
                ps->p++;
                pop(ps);
            } else if (c == '[') {
                continue;
            } else {
                if ((st = parse_key(ps, &key, &key_len, 0))) return st;
                continue;
            }
        } else if (c == '"') {
            v->kind = NB_JSON_STRING;
            if ((st = parse_string(ps, &v->str, &v->len))) return st;
        } else if (c == '-' || is_digit(c)) {
            v->kind = NB_JSON_NUMBER;
            if ((st = parse_number(ps, v))) return st;
        } else {
            if ((st = parse_literal(ps, v))) return st;
        }
        /* a value is complete: close containers until one wants more */
        for (;;) {
            skip_ws(ps);
            frame *f = ps->top;
            if (!f) {
                if (ps->p < ps->end) return fail_expected(ps, "expected end of input after the value");
                return NB_OK;
            }
            int arr = f->node->kind == NB_JSON_ARRAY;
            if (ps->p < ps->end && *ps->p == (arr ? ']' : '}')) {
                ps->p++;
                pop(ps);
                continue;
            }
            if (ps->p >= ps->end || *ps->p != ',')
                return fail_expected(ps, arr ? "expected ',' or ']' after array element"
                                             : "expected ',' or '}' after object member");
            ps->p++;
            if (arr) {
                skip_ws(ps);
                if (ps->p < ps->end && *ps->p == ']')
                    return fail_at(ps, ps->p, NB_ERR_FORMAT, "trailing comma in array");
            } else if ((st = parse_key(ps, &key, &key_len, 1))) {
                return st;
            }
            break;
        }
    }
}

void nb_json_free(nb_json_doc *doc) {
    if (!doc) return;
    nb_allocator a = doc->alloc;
    for (block *b = doc->blocks, *next; b; b = next) {
        next = b->next;
        nb_free(&a, b);
    }
    nb_free(&a, doc);
}

nb_status nb_json_parse(const char *text, size_t len, const char *what,
                        const nb_json_limits *lim, const nb_allocator *alloc,
                        nb_json_doc **out, nb_err *err) {
    if (!what) what = "json";
    if (!out) return nb_errf(err, NB_ERR_INVALID_ARG, "%s: no output pointer", what);
    *out = NULL;
    if (!text && len) return nb_errf(err, NB_ERR_INVALID_ARG, "%s: NULL text", what);
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : DEF_MAX_BYTES;
    if (len > max_bytes)
        return nb_errf(err, NB_ERR_RANGE, "%s: %zu bytes, more than the limit of %zu", what, len,
                       max_bytes);
    nb_allocator a = alloc ? *alloc : nb_default_allocator();
    nb_json_doc *doc = nb_alloc(&a, sizeof *doc);
    if (!doc) return nb_errf(err, NB_ERR_NOMEM, "%s: out of memory", what);
    memset(doc, 0, sizeof *doc);
    doc->alloc = a;

    nb_err local;
    parser ps = {0};
    ps.doc = doc;
    ps.start = (const unsigned char *)(text ? text : "");
    ps.p = ps.start;
    ps.end = ps.start + len;
    ps.what = what;
    ps.err = err ? err : &local; /* statuses travel through err */
    ps.max_depth = lim && lim->max_depth ? lim->max_depth : DEF_MAX_DEPTH;
    ps.max_nodes = lim && lim->max_nodes ? lim->max_nodes : DEF_MAX_NODES;
    ps.line = 1;
    if (len >= 3 && memcmp(ps.p, "\xEF\xBB\xBF", 3) == 0) ps.p += 3;
    ps.line_start = ps.p;

    /* the first block sized for the whole tree of a typical document:
     * about 4x the text (a node per 25 bytes, the strings) */
    nb_status st = NB_OK;
    size_t first = len < BLOCK_MAX / 4 ? len * 4 : BLOCK_MAX;
    if (first > BLOCK_MIN) {
        if (!doc_alloc(&ps, first, 1)) st = NB_ERR_NOMEM;
        else doc_trim(&ps, first, 0);
    }
    if (!st) st = parse_doc(&ps);
    if (st) {
        nb_json_free(doc);
        return st;
    }
    *out = doc;
    return NB_OK;
}

const nb_json *nb_json_root(const nb_json_doc *doc) {
    return doc ? doc->root : NULL;
}

const nb_json *nb_json_get(const nb_json *obj, const char *key) {
    if (!obj || !key || obj->kind != NB_JSON_OBJECT) return NULL;
    size_t n = strlen(key);
    const nb_json *found = NULL;
    for (const nb_json *m = obj->first; m; m = m->next)
        if (m->key_len == n && memcmp(m->key, key, n) == 0) found = m;
    return found;
}

const nb_json *nb_json_at(const nb_json *arr, size_t i) {
    if (!arr || arr->kind != NB_JSON_ARRAY || i >= arr->count) return NULL;
    const nb_json *e = arr->first;
    while (i--) e = e->next;
    return e;
}

const char *nb_json_kind_str(nb_json_kind k) {
    switch (k) {
    case NB_JSON_NULL: return "null";
    case NB_JSON_BOOL: return "a boolean";
    case NB_JSON_NUMBER: return "a number";
    case NB_JSON_STRING: return "a string";
    case NB_JSON_ARRAY: return "an array";
    case NB_JSON_OBJECT: return "an object";
    }
    return "?";
}

/* The member for a typed getter, or the status for its absence. */
static nb_status member(const nb_json *obj, const char *key, nb_json_kind want, const char *want_s,
                        const nb_json **out, nb_err *err) {
    *out = NULL;
    if (!key) return nb_errf(err, NB_ERR_INVALID_ARG, "json: NULL key");
    if (!obj) return nb_errf(err, NB_ERR_NOT_FOUND, "json: no object to look up \"%s\" in", key);
    if (obj->kind != NB_JSON_OBJECT)
        return nb_errf(err, NB_ERR_TYPE, "json: looking up \"%s\" in %s (%u:%u), not an object",
                       key, nb_json_kind_str(obj->kind), obj->line, obj->col);
    const nb_json *v = nb_json_get(obj, key);
    if (!v || v->kind == NB_JSON_NULL)
        return nb_errf(err, NB_ERR_NOT_FOUND, "json: \"%s\" %s", key, v ? "is null" : "not found");
    if (v->kind != want)
        return nb_errf(err, NB_ERR_TYPE, "json: \"%s\" (%u:%u) is %s, not %s", key, v->line,
                       v->col, nb_json_kind_str(v->kind), want_s);
    *out = v;
    return NB_OK;
}

/* Integers written as such, and also integral values written with a
 * fraction or exponent (1e3, 2.0) when they fit: converters hand
 * Python-made files where such spellings happen. */
nb_status nb_json_get_int(const nb_json *obj, const char *key, int64_t *out, nb_err *err) {
    const nb_json *v;
    nb_status st = member(obj, key, NB_JSON_NUMBER, "an integer", &v, err);
    if (st) return st;
    if (v->is_int) {
        *out = v->integer;
        return NB_OK;
    }
    double x = v->number;
    if (isfinite(x) && x == floor(x)) {
        /* [-2^63, 2^63) holds exactly the doubles that fit int64 */
        if (x >= -9223372036854775808.0 && x < 9223372036854775808.0) {
            *out = (int64_t)x;
            return NB_OK;
        }
        return nb_errf(err, NB_ERR_RANGE, "json: \"%s\" (%u:%u) = %g does not fit int64", key,
                       v->line, v->col, x);
    }
    if (isinf(x))
        return nb_errf(err, NB_ERR_RANGE, "json: \"%s\" (%u:%u) is out of range", key, v->line, v->col);
    return nb_errf(err, NB_ERR_TYPE, "json: \"%s\" (%u:%u) = %g is not an integer", key, v->line,
                   v->col, x);
}

nb_status nb_json_get_num(const nb_json *obj, const char *key, double *out, nb_err *err) {
    const nb_json *v;
    nb_status st = member(obj, key, NB_JSON_NUMBER, "a number", &v, err);
    if (!st) *out = v->number;
    return st;
}

nb_status nb_json_get_bool(const nb_json *obj, const char *key, int *out, nb_err *err) {
    const nb_json *v;
    nb_status st = member(obj, key, NB_JSON_BOOL, "a boolean", &v, err);
    if (!st) *out = v->boolean;
    return st;
}

nb_status nb_json_get_str(const nb_json *obj, const char *key, const char **out, nb_err *err) {
    const nb_json *v;
    nb_status st = member(obj, key, NB_JSON_STRING, "a string", &v, err);
    if (!st) *out = v->str;
    return st;
}
