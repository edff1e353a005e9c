/* The strict JSON reader (lib/convert/json.c): valid documents, every class
 * of rejection with its line:column, limits (depth without recursion, size,
 * values), every prefix of a document, allocator use, a 10 MB
 * tokenizer.json-like document and the shared config.json. */
#include "harness.h"
#include "convert/json.h"
#include "core/core.h"

#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Parse from an exactly sized heap copy, so ASan sees any read past `len`. */
static nb_status parse_n(const char *text, size_t len, const char *what, const nb_json_limits *lim,
                         const nb_allocator *a, nb_json_doc **doc, nb_err *err) {
    char *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, text, len);
    nb_status s = nb_json_parse(copy, len, what, lim, a, doc, err);
    free(copy); /* the tree holds copies of everything */
    return s;
}

static nb_json_doc *parse_ok(const char *text, nb_err *err) {
    nb_json_doc *doc = NULL;
    nb_status s = parse_n(text, strlen(text), NULL, NULL, NULL, &doc, err);
    if (s != NB_OK) return NULL;
    return doc;
}

/* ---------------------------------------------------------------- valid */

static void t_nested(void) {
    const char *text =
        "{\n"
        "  \"a\": [1, 2.5, \"x\", true, false, null, {\"b\": []}],\n"
        "  \"c\": {}\n"
        "}";
    nb_err err = {0};
    nb_json_doc *doc = parse_ok(text, &err);
    CHECK_MSG(doc, "%s", err.msg);
    if (!doc) return;
    const nb_json *r = nb_json_root(doc);
    CHECK(r->kind == NB_JSON_OBJECT && r->count == 2 && r->line == 1 && r->col == 1);
    const nb_json *a = nb_json_get(r, "a");
    CHECK(a && a->kind == NB_JSON_ARRAY && a->count == 7);
    CHECK(a && a->line == 2 && a->col == 8 && a->key_len == 1 && strcmp(a->key, "a") == 0);
    nb_json_kind kinds[] = {NB_JSON_NUMBER, NB_JSON_NUMBER, NB_JSON_STRING, NB_JSON_BOOL,
                            NB_JSON_BOOL,   NB_JSON_NULL,   NB_JSON_OBJECT};
    for (size_t i = 0; i < 7; i++) {
        const nb_json *e = nb_json_at(a, i);
        CHECK_MSG(e && e->kind == kinds[i] && e->key == NULL, "element %zu", i);
    }
    CHECK(nb_json_at(a, 7) == NULL);
    CHECK(nb_json_at(r, 0) == NULL); /* not an array */
    CHECK(nb_json_at(a, 0)->is_int && nb_json_at(a, 0)->integer == 1);
    CHECK(!nb_json_at(a, 1)->is_int && nb_json_at(a, 1)->number == 2.5);
    CHECK(nb_json_at(a, 1)->col == 12);
    CHECK(strcmp(nb_json_at(a, 2)->str, "x") == 0 && nb_json_at(a, 2)->len == 1);
    CHECK(nb_json_at(a, 3)->boolean == 1 && nb_json_at(a, 4)->boolean == 0);
    const nb_json *b = nb_json_get(nb_json_at(a, 6), "b");
    CHECK(b && b->kind == NB_JSON_ARRAY && b->count == 0 && b->first == NULL);
    const nb_json *c = nb_json_get(r, "c");
    CHECK(c && c->kind == NB_JSON_OBJECT && c->count == 0 && c->line == 3 && c->col == 8);
    CHECK(nb_json_get(r, "zz") == NULL && nb_json_get(a, "a") == NULL);
    CHECK(nb_json_get(NULL, "a") == NULL && nb_json_root(NULL) == NULL);
    nb_json_free(doc);
    nb_json_free(NULL);
}

static void t_scalars(void) {
    struct { const char *text; nb_json_kind kind; } cases[] = {
        {"1", NB_JSON_NUMBER}, {" \"s\" ", NB_JSON_STRING}, {"null", NB_JSON_NULL},
        {"\t\r\n true \n", NB_JSON_BOOL}, {"[]", NB_JSON_ARRAY}, {"{}", NB_JSON_OBJECT},
        {"[ ]", NB_JSON_ARRAY}, {"{ \n }", NB_JSON_OBJECT}, {"[[[]]]", NB_JSON_ARRAY},
        {"\"\x7f\"", NB_JSON_STRING}, /* DEL is not a control character to JSON */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nb_err err = {0};
        nb_json_doc *doc = parse_ok(cases[i].text, &err);
        CHECK_MSG(doc && nb_json_root(doc)->kind == cases[i].kind, "%s: %s", cases[i].text, err.msg);
        nb_json_free(doc);
    }
    /* the text need not be NUL-terminated, and nothing past len is read */
    nb_json_doc *doc = NULL;
    nb_err err = {0};
    CHECK_OK(nb_json_parse("[1]xyz", 3, NULL, NULL, NULL, &doc, &err), err);
    CHECK(doc && nb_json_root(doc)->count == 1);
    nb_json_free(doc);
    /* err may be NULL */
    CHECK(nb_json_parse("[", 1, NULL, NULL, NULL, &doc, NULL) == NB_ERR_FORMAT && doc == NULL);
    CHECK(nb_json_parse("1", 1, NULL, NULL, NULL, NULL, &err) == NB_ERR_INVALID_ARG);
    CHECK(nb_json_parse(NULL, 1, NULL, NULL, NULL, &doc, &err) == NB_ERR_INVALID_ARG);
    CHECK(nb_json_parse(NULL, 0, NULL, NULL, NULL, &doc, &err) == NB_ERR_FORMAT);
}

static void t_strings(void) {
    const char *text = "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20AC\\ud83d\\uDE00\\u0000z\","
                       "\"\\uFFFF\\uDBFF\\uDFFF\\u0080\\u07ff\\u0800\\uD7FF\\uE000\","
                       "\"\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF\xED\x9F\xBF\xEE\x80\x80"
                       "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF\","
                       "\"\", \"plain ascii\", {\"k\\u0000ey\": 1, \"\\u00e9\": 2}]";
    nb_err err = {0};
    nb_json_doc *doc = parse_ok(text, &err);
    CHECK_MSG(doc, "%s", err.msg);
    if (!doc) return;
    const nb_json *r = nb_json_root(doc);
    static const char want0[] = "\"\\/\b\f\n\r\tA\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\0z";
    const nb_json *s = nb_json_at(r, 0);
    CHECK(s->len == sizeof want0 - 1 && memcmp(s->str, want0, sizeof want0) == 0);
    CHECK(s->str[s->len] == 0);
    /* U+FFFF, U+10FFFF by a surrogate pair, and the encoding-length edges */
    static const char want1[] = "\xEF\xBF\xBF\xF4\x8F\xBF\xBF\xC2\x80\xDF\xBF\xE0\xA0\x80"
                                "\xED\x9F\xBF\xEE\x80\x80";
    s = nb_json_at(r, 1);
    CHECK(s->len == sizeof want1 - 1 && memcmp(s->str, want1, sizeof want1) == 0);
    /* raw UTF-8 at every edge of the well-formed ranges passes unchanged */
    static const char want2[] = "\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF\xED\x9F\xBF\xEE\x80\x80"
                                "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF";
    s = nb_json_at(r, 2);
    CHECK(s->len == sizeof want2 - 1 && memcmp(s->str, want2, sizeof want2) == 0);
    CHECK(nb_json_at(r, 3)->len == 0 && nb_json_at(r, 3)->str[0] == 0);
    CHECK(strcmp(nb_json_at(r, 4)->str, "plain ascii") == 0);
    const nb_json *o = nb_json_at(r, 5);
    CHECK(o->first->key_len == 4 && memcmp(o->first->key, "k\0ey", 5) == 0);
    CHECK(nb_json_get(o, "k") == NULL); /* a C string cannot name it */
    CHECK(nb_json_get(o, "\xC3\xA9") && nb_json_get(o, "\xC3\xA9")->integer == 2);
    nb_json_free(doc);
}

static void t_numbers(void) {
    struct { const char *text; int is_int; int64_t integer; } cases[] = {
        {"0", 1, 0},
        {"-0", 1, 0},
        {"7", 1, 7},
        {"-12", 1, -12},
        {"9223372036854775807", 1, INT64_MAX},
        {"-9223372036854775808", 1, INT64_MIN},
        {"9223372036854775808", 0, 0},
        {"-9223372036854775809", 0, 0},
        {"18446744073709551615", 0, 0},
        {"18446744073709551616", 0, 0},
        {"123456789012345678901234567890", 0, 0},
        {"9007199254740993", 1, 9007199254740993LL}, /* 2^53 + 1: the double rounds */
        {"-9007199254740993", 1, -9007199254740993LL},
        {"1.5", 0, 0},
        {"-0.0", 0, 0},
        {"0.1", 0, 0},
        {"1e2", 0, 0},
        {"1E+2", 0, 0},
        {"1e-2", 0, 0},
        {"-1.25e-3", 0, 0},
        {"2.2250738585072011e-308", 0, 0},
        {"4.9e-324", 0, 0},
        {"1.7976931348623157e308", 0, 0},
        {"1e400", 0, 0},
        {"-1e400", 0, 0},
        {"1e-400", 0, 0},
        {"0.30000000000000004441", 0, 0},
        {"3.141592653589793238462643383279502884197169399375105820974944592307816406286", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nb_err err = {0};
        nb_json_doc *doc = parse_ok(cases[i].text, &err);
        CHECK_MSG(doc, "%s: %s", cases[i].text, err.msg);
        if (!doc) continue;
        const nb_json *v = nb_json_root(doc);
        double want = strtod(cases[i].text, NULL);
        CHECK_MSG(v->kind == NB_JSON_NUMBER && v->is_int == cases[i].is_int, "%s", cases[i].text);
        CHECK_MSG(!cases[i].is_int || v->integer == cases[i].integer, "%s", cases[i].text);
        CHECK_MSG(memcmp(&v->number, &want, sizeof want) == 0, "%s: %.17g, want %.17g",
                  cases[i].text, v->number, want);
        nb_json_free(doc);
    }
    nb_err err = {0};
    nb_json_doc *doc = parse_ok("[-0, 1e400, -1e400]", &err);
    CHECK(doc && signbit(nb_json_at(nb_json_root(doc), 0)->number));
    CHECK(doc && isinf(nb_json_at(nb_json_root(doc), 1)->number));
    CHECK(doc && nb_json_at(nb_json_root(doc), 2)->number == -HUGE_VAL);
    nb_json_free(doc);
}

/* With a comma decimal point, strtod alone would read "1.5" as 1. */
static void t_locale(void) {
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "ru_RU.UTF-8"};
    const char *got = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !got; i++)
        got = setlocale(LC_NUMERIC, names[i]);
    if (!got) {
        nb_test_skip("no locale with a decimal comma installed");
        return;
    }
    nb_err err = {0};
    nb_json_doc *doc = parse_ok("[1.5, -2.25e1, 0.1]", &err);
    setlocale(LC_NUMERIC, "C");
    CHECK_MSG(doc, "%s", err.msg);
    if (!doc) return;
    CHECK(nb_json_at(nb_json_root(doc), 0)->number == 1.5);
    CHECK(nb_json_at(nb_json_root(doc), 1)->number == -22.5);
    CHECK(nb_json_at(nb_json_root(doc), 2)->number == 0.1);
    nb_json_free(doc);
}

static void t_duplicates(void) {
    nb_err err = {0};
    nb_json_doc *doc = parse_ok("{\"a\": 1, \"a\": 2, \"b\": 3, \"a\": 4, \"ab\": 5}", &err);
    CHECK_MSG(doc, "%s", err.msg);
    if (!doc) return;
    const nb_json *r = nb_json_root(doc);
    CHECK(r->count == 5);
    CHECK(nb_json_get(r, "a")->integer == 4);
    CHECK(nb_json_get(r, "ab")->integer == 5);
    int64_t v = 0;
    CHECK(nb_json_get_int(r, "a", &v, &err) == NB_OK && v == 4);
    nb_json_free(doc);
}

static void t_bom(void) {
    nb_err err = {0};
    nb_json_doc *doc = parse_ok("\xEF\xBB\xBF{\"a\": [1]}", &err);
    CHECK_MSG(doc, "%s", err.msg);
    if (doc) {
        const nb_json *a = nb_json_get(nb_json_root(doc), "a");
        CHECK(a && a->count == 1 && a->line == 1 && a->col == 7); /* columns start after it */
    }
    nb_json_free(doc);
    const char *bad[] = {" \xEF\xBB\xBF{}", "{}\xEF\xBB\xBF", "\xEF\xBB\xBF\xEF\xBB\xBF{}",
                         "[\xEF\xBB\xBF]", "\xEF\xBB\xBF", "\xEF\xBB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nb_json_doc *d = NULL;
        CHECK_MSG(parse_n(bad[i], strlen(bad[i]), NULL, NULL, NULL, &d, &err) == NB_ERR_FORMAT,
                  "case %zu parsed", i);
    }
    nb_json_doc *d = NULL;
    CHECK(parse_n("[\xEF\xBB\xBF]", 5, NULL, NULL, NULL, &d, &err) == NB_ERR_FORMAT);
    CHECK_MSG(strcmp(err.msg, "json:1:2: expected a value, got byte 0xEF (a byte order mark, "
                              "allowed only at the start)") == 0, "%s", err.msg);
    CHECK(parse_n("\xEF\xBB\xBF\n [1,\n 2,]", 13, NULL, NULL, NULL, &d, &err) == NB_ERR_FORMAT);
    CHECK_MSG(strcmp(err.msg, "json:3:4: trailing comma in array") == 0, "%s", err.msg);
}

/* -------------------------------------------------------------- invalid */

typedef struct { const char *text; size_t len; const char *msg; } bad_case;
#define BAD(t, m) {t, sizeof t - 1, m}

static void check_bad(const bad_case *c, size_t n, const char *what, nb_status want) {
    for (size_t i = 0; i < n; i++) {
        nb_json_doc *doc = (nb_json_doc *)1;
        nb_err err = {NB_OK, ""};
        nb_status s = parse_n(c[i].text, c[i].len, what, NULL, NULL, &doc, &err);
        CHECK_MSG(s == want && err.status == s && doc == NULL, "case %zu (%s): status %s, msg '%s'",
                  i, c[i].msg, nb_status_str(s), err.msg);
        CHECK_MSG(strstr(err.msg, c[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i, err.msg,
                  c[i].msg);
    }
}

static void t_reject_structure(void) {
    static const bad_case c[] = {
        BAD("", "json:1:1: expected a value, got end of input"),
        BAD("   ", "json:1:4: expected a value, got end of input"),
        BAD("\n\n  ", "json:3:3: expected a value"),
        BAD("{\"a\":1,}", "json:1:8: trailing comma in object"),
        BAD("[1,]", "json:1:4: trailing comma in array"),
        BAD("[1 2]", "json:1:4: expected ',' or ']' after array element, got '2'"),
        BAD("{\n  \"a\": 1\n  \"b\": 2\n}", "json:3:3: expected ',' or '}' after object member"),
        BAD("{\"a\" 1}", "json:1:6: expected ':' after member name, got '1'"),
        BAD("{\"a\"}", "expected ':' after member name, got '}'"),
        BAD("{1:2}", "json:1:2: expected a member name or '}', got '1'"),
        BAD("{,}", "expected a member name or '}', got ','"),
        BAD("{\"a\":1,,}", "json:1:8: expected a member name after ','"),
        BAD("{'a':1}", "(strings take double quotes)"),
        BAD("['a']", "json:1:2: expected a value, got ''' (strings take double quotes)"),
        BAD("[,1]", "json:1:2: expected a value, got ','"),
        BAD("[1,,2]", "json:1:4: expected a value, got ','"),
        BAD("[1] x", "json:1:5: expected end of input after the value, got 'x'"),
        BAD("[1]]", "expected end of input after the value, got ']'"),
        BAD("1 2", "expected end of input after the value, got '2'"),
        BAD("{}{}", "expected end of input after the value"),
        BAD("[1}", "expected ',' or ']' after array element, got '}'"),
        BAD("{\"a\":1]", "expected ',' or '}' after object member, got ']'"),
        BAD("// c\n1", "json:1:1: expected a value, got '/' (JSON has no comments)"),
        BAD("[1 /* c */]", "(JSON has no comments)"),
        BAD("]", "expected a value, got ']'"),
        BAD("}", "expected a value, got '}'"),
        BAD(":", "expected a value, got ':'"),
        BAD("tru", "json:1:1: invalid literal (expected 'true')"),
        BAD("True", "expected a value, got 'T'"),
        BAD("nul", "invalid literal (expected 'null')"),
        BAD("[nulL]", "json:1:2: invalid literal (expected 'null')"),
        BAD("falsey", "json:1:6: expected end of input after the value, got 'y'"),
        BAD("fals", "json:1:1: invalid literal (expected 'false')"),
        BAD("truefalse", "expected end of input after the value, got 'f'"),
        BAD("undefined", "expected a value, got 'u'"),
        BAD("\xC3\xA9", "json:1:1: expected a value, got byte 0xC3"),
        BAD("1\0", "json:1:2: expected end of input after the value, got byte 0x00"),
        BAD("\v1", "expected a value, got byte 0x0B"),
        BAD("\f1", "expected a value, got byte 0x0C"),
        BAD("\xC2\xA0" "1", "expected a value, got byte 0xC2"),
        BAD("[1,\n 2,\n  3,, 4]", "json:3:5: expected a value, got ','"),
        BAD("{\"a\":\n  [1, 2\n\n}", "json:4:1: expected ',' or ']' after array element, got '}'"),
        BAD("[1,\r\n2 3]", "json:2:3: expected ',' or ']'"),
    };
    check_bad(c, sizeof c / sizeof c[0], NULL, NB_ERR_FORMAT);
}

static void t_reject_numbers(void) {
    static const bad_case c[] = {
        BAD("01", "json:1:1: leading zero in number"),
        BAD("-01", "json:1:2: leading zero in number"),
        BAD("00", "leading zero in number"),
        BAD("[0123]", "json:1:2: leading zero"),
        BAD("+1", "expected a value, got '+'"),
        BAD(".5", "expected a value, got '.'"),
        BAD("-.5", "json:1:2: expected a digit after '-', got '.'"),
        BAD("1.", "json:1:3: expected a digit after '.', got end of input"),
        BAD("[1.]", "json:1:4: expected a digit after '.', got ']'"),
        BAD("1.e5", "expected a digit after '.', got 'e'"),
        BAD("1e", "expected a digit in the exponent, got end of input"),
        BAD("1e+", "expected a digit in the exponent"),
        BAD("1E-x", "json:1:4: expected a digit in the exponent, got 'x'"),
        BAD("-", "expected a digit after '-', got end of input"),
        BAD("--1", "expected a digit after '-', got '-'"),
        BAD("- 1", "expected a digit after '-', got ' '"),
        BAD("0x10", "expected end of input after the value, got 'x'"),
        BAD("0b1", "expected end of input after the value, got 'b'"),
        BAD("1.5.2", "expected end of input after the value, got '.'"),
        BAD("1e5e5", "expected end of input after the value, got 'e'"),
        BAD("NaN", "expected a value, got 'N'"),
        BAD("Infinity", "expected a value, got 'I'"),
        BAD("-Infinity", "expected a digit after '-', got 'I'"),
        BAD("[1, -NaN]", "json:1:6: expected a digit after '-'"),
        BAD("1_000", "got '_'"),
    };
    check_bad(c, sizeof c / sizeof c[0], "config.json", NB_ERR_FORMAT);
    /* `what` names the input */
    nb_json_doc *doc;
    nb_err err = {0};
    CHECK(parse_n("01", 2, "config.json", NULL, NULL, &doc, &err) == NB_ERR_FORMAT);
    CHECK_MSG(strcmp(err.msg, "config.json:1:1: leading zero in number") == 0, "%s", err.msg);
}

static void t_reject_strings(void) {
    static const bad_case c[] = {
        BAD("\"abc", "json:1:1: unterminated string"),
        BAD("[\"abc\\\"]", "json:1:2: unterminated string"),
        BAD("\"\\", "unterminated string"),
        BAD("\"a\nb\"", "json:1:3: control character 0x0A in string (unterminated string?)"),
        BAD("\"a\tb\"", "json:1:3: control character 0x09 in string (must be escaped)"),
        BAD("\"a\0b\"", "control character 0x00 in string"),
        BAD("\"\x1f\"", "control character 0x1F"),
        BAD("{\"k\x01\":1}", "json:1:4: control character 0x01"),
        BAD("\"\\x\"", "json:1:2: invalid escape '\\x' in string"),
        BAD("\"\\U0041\"", "invalid escape '\\U'"),
        BAD("\"\\'\"", "invalid escape '\\''"),
        BAD("\"\\\x01\"", "invalid escape: '\\' followed by byte 0x01"),
        BAD("\"\\u12\"", "json:1:2: \\u must be followed by 4 hex digits"),
        BAD("\"\\u12G4\"", "\\u must be followed by 4 hex digits"),
        BAD("\"\\u", "\\u must be followed by 4 hex digits"),
        BAD("\"\\u-123\"", "\\u must be followed by 4 hex digits"),
        BAD("\"\\uD800\"", "json:1:2: high surrogate \\uD800 not followed by a low one"),
        BAD("\"\\uDBFF", "high surrogate \\uDBFF not followed by a low one"),
        BAD("\"\\uD800\\u0041\"", "high surrogate \\uD800 not followed"),
        BAD("\"\\uD800\\uD800\"", "high surrogate \\uD800 not followed"),
        BAD("\"\\uD800\\uE000\"", "high surrogate \\uD800 not followed"),
        BAD("\"\\uD800x\"", "high surrogate"),
        BAD("\"\\uD800\\n\"", "high surrogate"),
        BAD("\"\\uDC00\"", "json:1:2: lone low surrogate \\uDC00"),
        BAD("\"x\\uDFFF\\uD800\"", "json:1:3: lone low surrogate \\uDFFF"),
        /* invalid UTF-8 */
        BAD("\"\xC0\x80\"", "json:1:2: overlong UTF-8 encoding in string"),
        BAD("\"\xC1\xBF\"", "overlong UTF-8 encoding"),
        BAD("\"\xE0\x80\x80\"", "overlong UTF-8 encoding"),
        BAD("\"\xE0\x9F\xBF\"", "overlong UTF-8 encoding"),
        BAD("\"\xF0\x80\x80\x80\"", "overlong UTF-8 encoding"),
        BAD("\"\xF0\x8F\xBF\xBF\"", "overlong UTF-8 encoding"),
        BAD("\"\xED\xA0\x80\"", "UTF-16 surrogate encoded in UTF-8"),
        BAD("\"\xED\xBF\xBF\"", "UTF-16 surrogate encoded in UTF-8"),
        BAD("\"\xED\xA0\xBD\xED\xB8\x80\"", "UTF-16 surrogate encoded in UTF-8"), /* CESU-8 */
        BAD("\"\xF4\x90\x80\x80\"", "UTF-8 code point above U+10FFFF"),
        BAD("\"\xF5\x80\x80\x80\"", "UTF-8 code point above U+10FFFF"),
        BAD("\"\xF7\xBF\xBF\xBF\"", "UTF-8 code point above U+10FFFF"),
        BAD("\"\xF8\x88\x80\x80\x80\"", "invalid UTF-8 byte"),
        BAD("\"\xFF\"", "invalid UTF-8 byte"),
        BAD("\"\xFE\"", "invalid UTF-8 byte"),
        BAD("\"\x80\"", "stray UTF-8 continuation byte"),
        BAD("\"a\xBF\"", "json:1:3: stray UTF-8 continuation byte"),
        BAD("\"\xC3\"", "truncated UTF-8 sequence"),
        BAD("\"\xC3(\"", "truncated UTF-8 sequence"),
        BAD("\"\xE2\x82\"", "truncated UTF-8 sequence"),
        BAD("\"\xE2\x82(\"", "truncated UTF-8 sequence"),
        BAD("\"\xF0\x9F\x98\"", "truncated UTF-8 sequence"),
        BAD("\"\xF0\x9F\x98", "truncated UTF-8 sequence"),
        BAD("\"\xC3", "json:1:2: truncated UTF-8 sequence"),
        BAD("{\"\xC3\x28\":1}", "json:1:3: truncated UTF-8 sequence"),
        /* columns count bytes: é is two */
        BAD("[\"\xC3\xA9\", \"\xFF\"]", "json:1:9: invalid UTF-8 byte in string"),
        BAD("{\n  \"name\": \"ok\",\n  \"bad\": \"x\\q\"\n}", "json:3:12: invalid escape '\\q'"),
    };
    check_bad(c, sizeof c / sizeof c[0], NULL, NB_ERR_FORMAT);
}

/* --------------------------------------------------------------- limits */

static char *nest(size_t depth, const char *open, const char *inner, const char *close) {
    size_t lo = strlen(open), li = strlen(inner), lc = strlen(close);
    char *s = malloc(depth * (lo + lc) + li + 1), *p = s;
    for (size_t i = 0; i < depth; i++, p += lo) memcpy(p, open, lo);
    memcpy(p, inner, li);
    p += li;
    for (size_t i = 0; i < depth; i++, p += lc) memcpy(p, close, lc);
    *p = 0;
    return s;
}

static void t_depth(void) {
    nb_json_doc *doc = NULL;
    nb_err err = {0};
    /* far past the limit: fails at the first bracket too many, no recursion */
    char *s = nest(100000, "[", "", "");
    CHECK(parse_n(s, strlen(s), NULL, NULL, NULL, &doc, &err) == NB_ERR_RANGE && !doc);
    CHECK_MSG(strstr(err.msg, "json:1:257: nesting deeper than 256") != NULL, "%s", err.msg);
    free(s);
    /* exactly at the default limit, both kinds of container */
    s = nest(256, "[", "1", "]");
    CHECK_OK(parse_n(s, strlen(s), NULL, NULL, NULL, &doc, &err), err);
    nb_json_free(doc);
    free(s);
    s = nest(257, "[", "1", "]");
    CHECK(parse_n(s, strlen(s), NULL, NULL, NULL, &doc, &err) == NB_ERR_RANGE);
    free(s);
    s = nest(256, "{\"a\":", "{}", "}");
    CHECK(parse_n(s, strlen(s), NULL, NULL, NULL, &doc, &err) == NB_ERR_RANGE); /* 257 objects */
    free(s);
    s = nest(255, "{\"a\":", "{}", "}");
    CHECK_OK(parse_n(s, strlen(s), NULL, NULL, NULL, &doc, &err), err);
    nb_json_free(doc);
    free(s);
    /* a caller may allow far more: the parser keeps its stack on the heap */
    nb_json_limits lim = {200000, 0, 0};
    s = nest(200000, "[", "", "]");
    CHECK_OK(parse_n(s, strlen(s), NULL, &lim, NULL, &doc, &err), err);
    if (doc) {
        const nb_json *v = nb_json_root(doc);
        size_t d = 1;
        while (v->first) v = v->first, d++;
        CHECK(d == 200000 && v->count == 0);
    }
    nb_json_free(doc);
    free(s);
    /* deep and truncated: fails cleanly at the end */
    s = nest(1000, "{\"k\":[", "", "");
    lim.max_depth = 5000;
    CHECK(parse_n(s, strlen(s), NULL, &lim, NULL, &doc, &err) == NB_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "expected a value, got end of input"), "%s", err.msg);
    free(s);
}

static void t_limits(void) {
    nb_json_doc *doc = NULL;
    nb_err err = {0};
    nb_json_limits lim = {0, 9, 0};
    CHECK(parse_n("[1,2,3,4]", 9, NULL, &lim, NULL, &doc, &err) == NB_OK);
    nb_json_free(doc);
    CHECK(parse_n("[1,2,3,4] ", 10, "x.json", &lim, NULL, &doc, &err) == NB_ERR_RANGE && !doc);
    CHECK_MSG(strcmp(err.msg, "x.json: 10 bytes, more than the limit of 9") == 0, "%s", err.msg);
    nb_json_limits nodes = {0, 0, 5};
    CHECK(parse_n("[1,2,3,4]", 9, NULL, &nodes, NULL, &doc, &err) == NB_OK);
    nb_json_free(doc);
    CHECK(parse_n("[1,2,3,4,5]", 11, NULL, &nodes, NULL, &doc, &err) == NB_ERR_RANGE && !doc);
    CHECK_MSG(strcmp(err.msg, "json:1:10: more than 5 values (limit)") == 0, "%s", err.msg);
    nodes.max_nodes = 3;
    CHECK(parse_n("{\"a\":{\"b\":{}}}", 14, NULL, &nodes, NULL, &doc, &err) == NB_OK);
    nb_json_free(doc);
    CHECK(parse_n("{\"a\":{\"b\":{}},\"c\":1}", 20, NULL, &nodes, NULL, &doc, &err) == NB_ERR_RANGE);
}

/* Every proper prefix of a document that ends with its closing brace fails
 * as malformed, read from an exactly sized buffer; the whole one parses. */
static void t_truncated(void) {
    const char *text =
        "\xEF\xBB\xBF{\n"
        "  \"version\": \"1.0\", \"n\": -12.5e-3, \"big\": 123456789012345678901,\n"
        "  \"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true},\n"
        "                   {\"id\": 1, \"content\": \"\\u00e9\\uD83D\\uDE00\\\"\\\\\\/\\b\\f\\n\\r\\t\","
        " \"special\": false}],\n"
        "  \"model\": {\"type\": \"BPE\", \"dropout\": null, \"vocab\": {\"\xC4\xA0the\": 262,"
        " \"\xE2\x82\xAC\": 7, \"\xF0\x9F\x98\x80\": 8, \"a\\u0000b\": 9},\n"
        "            \"merges\": [\"\xC4\xA0 t\", [\"h\", \"e\"], [], {}, [[0, -0, 0.0, 1E+2]]]}\n"
        "}";
    size_t n = strlen(text);
    for (size_t k = 0; k < n; k++) {
        nb_json_doc *doc = (nb_json_doc *)1;
        nb_err err = {NB_OK, ""};
        nb_status s = parse_n(text, k, "tok.json", NULL, NULL, &doc, &err);
        CHECK_MSG(s == NB_ERR_FORMAT && doc == NULL && strncmp(err.msg, "tok.json:", 9) == 0,
                  "prefix %zu: %s '%s'", k, nb_status_str(s), err.msg);
    }
    nb_json_doc *doc = NULL;
    nb_err err = {0};
    CHECK_OK(parse_n(text, n, "tok.json", NULL, NULL, &doc, &err), err);
    if (doc) {
        const nb_json *vocab = nb_json_get(nb_json_get(nb_json_root(doc), "model"), "vocab");
        int64_t id = 0;
        CHECK_OK(nb_json_get_int(vocab, "\xC4\xA0the", &id, &err), err);
        CHECK(id == 262);
        CHECK(vocab && vocab->count == 4 && vocab->line == 5);
        const nb_json *c = nb_json_get(nb_json_at(nb_json_get(nb_json_root(doc), "added_tokens"), 1),
                                       "content");
        CHECK(c && c->len == 14 && memcmp(c->str, "\xC3\xA9\xF0\x9F\x98\x80\"\\/\b\f\n\r\t", 15) == 0);
    }
    nb_json_free(doc);
}

/* ------------------------------------------------------------ getters */

static void t_getters(void) {
    const char *text = "{\"i\": 42, \"neg\": -7, \"f\": 2.5, \"e\": 1e3, \"z\": -0.0, \"huge\": 1e30,"
                       " \"u64\": 18446744073709551615, \"inf\": 1e999, \"b\": true, \"s\": \"hi\","
                       " \"n\": null, \"a\": [1], \"o\": {\"x\": 1}}";
    nb_err err = {0};
    nb_json_doc *doc = parse_ok(text, &err);
    CHECK_MSG(doc, "%s", err.msg);
    if (!doc) return;
    const nb_json *r = nb_json_root(doc);
    int64_t i = 0;
    double d = 0;
    int b = -1;
    const char *s = NULL;
    CHECK(nb_json_get_int(r, "i", &i, &err) == NB_OK && i == 42);
    CHECK(nb_json_get_int(r, "neg", &i, &err) == NB_OK && i == -7);
    CHECK(nb_json_get_int(r, "e", &i, &err) == NB_OK && i == 1000); /* integral */
    CHECK(nb_json_get_int(r, "z", &i, &err) == NB_OK && i == 0);
    CHECK(nb_json_get_int(r, "f", &i, &err) == NB_ERR_TYPE);
    CHECK_MSG(strstr(err.msg, "\"f\"") && strstr(err.msg, "not an integer"), "%s", err.msg);
    CHECK(nb_json_get_int(r, "huge", &i, &err) == NB_ERR_RANGE);
    CHECK_MSG(strstr(err.msg, "\"huge\"") && strstr(err.msg, "does not fit int64"), "%s", err.msg);
    CHECK(nb_json_get_int(r, "u64", &i, &err) == NB_ERR_RANGE);
    CHECK(nb_json_get_int(r, "inf", &i, &err) == NB_ERR_RANGE);
    CHECK(nb_json_get_int(r, "s", &i, &err) == NB_ERR_TYPE);
    CHECK_MSG(strcmp(err.msg, "json: \"s\" (1:126) is a string, not an integer") == 0, "%s", err.msg);
    CHECK(nb_json_get_int(r, "missing", &i, &err) == NB_ERR_NOT_FOUND);
    CHECK_MSG(strstr(err.msg, "\"missing\" not found"), "%s", err.msg);
    CHECK(nb_json_get_int(r, "n", &i, &err) == NB_ERR_NOT_FOUND);
    CHECK_MSG(strstr(err.msg, "\"n\" is null"), "%s", err.msg);
    CHECK(nb_json_get_num(r, "f", &d, &err) == NB_OK && d == 2.5);
    CHECK(nb_json_get_num(r, "i", &d, &err) == NB_OK && d == 42);
    CHECK(nb_json_get_num(r, "inf", &d, &err) == NB_OK && isinf(d));
    CHECK(nb_json_get_num(r, "b", &d, &err) == NB_ERR_TYPE);
    CHECK(nb_json_get_num(r, "n", &d, &err) == NB_ERR_NOT_FOUND);
    CHECK(nb_json_get_bool(r, "b", &b, &err) == NB_OK && b == 1);
    CHECK(nb_json_get_bool(r, "i", &b, &err) == NB_ERR_TYPE);
    CHECK(nb_json_get_bool(r, "nope", &b, &err) == NB_ERR_NOT_FOUND);
    CHECK(nb_json_get_str(r, "s", &s, &err) == NB_OK && strcmp(s, "hi") == 0);
    CHECK(nb_json_get_str(r, "a", &s, &err) == NB_ERR_TYPE);
    CHECK_MSG(strstr(err.msg, "is an array, not a string"), "%s", err.msg);
    CHECK(nb_json_get_str(r, "o", &s, &err) == NB_ERR_TYPE);
    CHECK(nb_json_get_str(r, "n", &s, &err) == NB_ERR_NOT_FOUND);
    /* the object itself: absent (chained lookups) or not an object */
    CHECK(nb_json_get_int(nb_json_get(r, "nothing"), "x", &i, &err) == NB_ERR_NOT_FOUND);
    CHECK(nb_json_get_int(nb_json_get(r, "o"), "x", &i, &err) == NB_OK && i == 1);
    CHECK(nb_json_get_int(nb_json_get(r, "a"), "x", &i, &err) == NB_ERR_TYPE);
    CHECK(nb_json_get_int(r, NULL, &i, &err) == NB_ERR_INVALID_ARG);
    CHECK(nb_json_get_int(r, "i", &i, NULL) == NB_OK);
    CHECK(nb_json_get_int(r, "s", &i, NULL) == NB_ERR_TYPE);
    CHECK(strcmp(nb_json_kind_str(NB_JSON_OBJECT), "an object") == 0);
    nb_json_free(doc);
}

/* ---------------------------------------------------------- allocation */

typedef struct {
    size_t live, n_alloc, fail_after; /* fail_after: allocations that succeed */
} counting;

static void *count_alloc(void *user, size_t size) {
    counting *c = user;
    if (c->n_alloc >= c->fail_after) return NULL;
    c->n_alloc++;
    c->live++;
    return malloc(size);
}
static void count_free(void *user, void *p) {
    counting *c = user;
    c->live--;
    free(p);
}

/* [{"k": "vNNN", "n": [NNN, NNN.5]}, ...] of about `target` bytes */
static char *gen_array(size_t target, size_t *len) {
    size_t cap = target + 256, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n, "[");
    for (size_t i = 0; n < target; i++)
        n += (size_t)snprintf(s + n, cap - n, "%s{\"k\": \"v\\u00e9%zu\", \"n\": [%zu, %zu.5]}",
                              i ? "," : "", i, i, i);
    n += (size_t)snprintf(s + n, cap - n, "]");
    *len = n;
    return s;
}

static void t_allocator(void) {
    size_t len;
    char *text = gen_array(300000, &len);
    nb_json_doc *doc = NULL;
    nb_err err = {0};
    counting c = {0, 0, SIZE_MAX};
    nb_allocator a = {count_alloc, count_free, &c};
    CHECK_OK(nb_json_parse(text, len, NULL, NULL, &a, &doc, &err), err);
    size_t need = c.n_alloc;
    CHECK_MSG(need >= 3 && need < 12, "%zu allocations for %zu bytes", need, len); /* a few blocks */
    nb_json_free(doc);
    CHECK(c.live == 0);
    /* each allocation failing in turn: NOMEM, nothing left allocated */
    for (size_t k = 0; k < need; k++) {
        counting f = {0, 0, k};
        nb_allocator fa = {count_alloc, count_free, &f};
        doc = (nb_json_doc *)1;
        nb_status s = nb_json_parse(text, len, NULL, NULL, &fa, &doc, &err);
        CHECK_MSG(s == NB_ERR_NOMEM && doc == NULL && f.live == 0, "fail after %zu: %s, %zu live",
                  k, err.msg, f.live);
        CHECK_MSG(strstr(err.msg, "out of memory"), "%s", err.msg);
    }
    /* an arena (no free) works too */
    size_t size = 64u << 20;
    void *mem = malloc(size);
    nb_arena arena;
    nb_arena_init(&arena, mem, size);
    nb_allocator aa = nb_arena_allocator(&arena);
    CHECK_OK(nb_json_parse(text, len, NULL, NULL, &aa, &doc, &err), err);
    CHECK(doc && nb_json_root(doc)->count > 1000);
    nb_json_free(doc);
    nb_arena_init(&arena, mem, 100000); /* too small */
    CHECK(nb_json_parse(text, len, NULL, NULL, &aa, &doc, &err) == NB_ERR_NOMEM && !doc);
    free(mem);
    free(text);
}

/* ------------------------------------------------------------- big file */

typedef struct { char *s; size_t n, cap; } sbuf;
static void put(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = realloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}
static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

/* A token like the byte-level BPE ones: ASCII, "Ġ" (U+0120), escapes. */
static void token(sbuf *b, size_t i) {
    char t[64];
    static const char *pre[] = {"", "\xC4\xA0", "\\u0120", "\xE2\x96\x81", "\\\"", "\\n", "\xF0\x9F\x98\x80"};
    int n = snprintf(t, sizeof t, "\"%stok%zx\"", pre[i % 7], i * 2654435761u % 1000003u);
    put(b, t, (size_t)n);
}

static void t_big_tokenizer(void) {
    const size_t n_vocab = 128256, n_merges = 300000;
    sbuf b = {0};
    puts_(&b, "{\n  \"version\": \"1.0\",\n  \"added_tokens\": [\n");
    for (int i = 0; i < 256; i++) {
        char t[160];
        snprintf(t, sizeof t, "    {\"id\": %d, \"content\": \"<|reserved_%d|>\", \"single_word\": false,"
                 " \"special\": true}%s\n", 128000 + i, i, i < 255 ? "," : "");
        puts_(&b, t);
    }
    puts_(&b, "  ],\n  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"vocab\": {\n");
    for (size_t i = 0; i < n_vocab; i++) {
        char t[48];
        puts_(&b, "      ");
        token(&b, i);
        snprintf(t, sizeof t, ": %zu%s\n", i, i + 1 < n_vocab ? "," : "");
        puts_(&b, t);
    }
    puts_(&b, "    },\n    \"merges\": [\n");
    for (size_t i = 0; i < n_merges; i++) {
        puts_(&b, "      [");
        token(&b, i);
        puts_(&b, ", ");
        token(&b, i + 1);
        puts_(&b, i + 1 < n_merges ? "],\n" : "]\n");
    }
    puts_(&b, "    ]\n  }\n}\n");
    CHECK_MSG(b.n >= 10000000, "only %zu bytes", b.n);

    nb_json_doc *doc = NULL;
    nb_err err = {0};
    CHECK_OK(nb_json_parse(b.s, b.n, "tokenizer.json", NULL, NULL, &doc, &err), err);
    if (doc) {
        const nb_json *model = nb_json_get(nb_json_root(doc), "model");
        const nb_json *vocab = nb_json_get(model, "vocab");
        const nb_json *merges = nb_json_get(model, "merges");
        CHECK(vocab && vocab->count == n_vocab && merges && merges->count == n_merges);
        size_t i = 0, bad = 0;
        for (const nb_json *v = vocab ? vocab->first : NULL; v; v = v->next, i++)
            bad += !(v->kind == NB_JSON_NUMBER && v->is_int && v->integer == (int64_t)i);
        CHECK_MSG(bad == 0, "%zu vocab values wrong", bad);
        const nb_json *last = nb_json_at(merges, n_merges - 1);
        CHECK(last && last->count == 2 && last->first->kind == NB_JSON_STRING);
        const nb_json *v2 = vocab ? vocab->first->next->next : NULL; /* "\u0120tok…" decoded */
        CHECK(v2 && memcmp(v2->key, "\xC4\xA0tok", 5) == 0);
        CHECK(nb_json_at(nb_json_get(nb_json_root(doc), "added_tokens"), 255)->line == 259);
    }
    nb_json_free(doc);
    free(b.s);
}

/* ------------------------------------------------------- shared config */

static void t_shared_config(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) {
        nb_test_skip("../shared not found");
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/models/derived/hf/stories260K-hf-f32/config.json", sh);
    size_t n;
    char *text = nb_test_read_file(path, &n);
    if (!text) {
        nb_test_skip("%s not found", path);
        return;
    }
    nb_json_doc *doc = NULL;
    nb_err err = {0};
    CHECK_OK(nb_json_parse(text, n, "config.json", NULL, NULL, &doc, &err), err);
    free(text);
    if (!doc) return;
    const nb_json *r = nb_json_root(doc);
    int64_t v = 0;
    double d = 0;
    int b = 0;
    const char *s = NULL;
    CHECK_OK(nb_json_get_int(r, "hidden_size", &v, &err), err);
    CHECK(v == 64);
    CHECK_OK(nb_json_get_int(r, "vocab_size", &v, &err), err);
    CHECK(v == 512);
    CHECK_OK(nb_json_get_num(r, "rms_norm_eps", &d, &err), err);
    CHECK(d == 1e-05);
    CHECK_OK(nb_json_get_num(r, "rope_theta", &d, &err), err);
    CHECK(d == 10000.0);
    CHECK_OK(nb_json_get_bool(r, "tie_word_embeddings", &b, &err), err);
    CHECK(b == 1);
    CHECK_OK(nb_json_get_str(r, "model_type", &s, &err), err);
    CHECK(s && strcmp(s, "llama") == 0);
    const nb_json *arch = nb_json_at(nb_json_get(r, "architectures"), 0);
    CHECK(arch && arch->kind == NB_JSON_STRING && strcmp(arch->str, "LlamaForCausalLM") == 0);
    nb_json_free(doc);
}

int main(void) {
    RUN(t_nested);
    RUN(t_scalars);
    RUN(t_strings);
    RUN(t_numbers);
    RUN(t_locale);
    RUN(t_duplicates);
    RUN(t_bom);
    RUN(t_reject_structure);
    RUN(t_reject_numbers);
    RUN(t_reject_strings);
    RUN(t_depth);
    RUN(t_limits);
    RUN(t_truncated);
    RUN(t_getters);
    RUN(t_allocator);
    RUN(t_big_tokenizer);
    RUN(t_shared_config);
    return nb_test_done();
}
