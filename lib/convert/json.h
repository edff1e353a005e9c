/* A strict JSON reader (RFC 8259) for the converter: config.json,
 * tokenizer.json, safetensors headers. Internal, not part of the API.
 *
 * The whole text is parsed into a tree of nodes allocated from one block
 * (nb_json_doc). Strings are decoded (escapes, surrogate pairs) into
 * NUL-terminated UTF-8 copies; invalid UTF-8 in the input, lone surrogates,
 * control characters in strings, leading zeros, trailing commas, comments,
 * NaN/Infinity, and anything after the top-level value are errors that name
 * line:column. Depth, input size and node count are limited. */
#ifndef NB_CONVERT_JSON_H
#define NB_CONVERT_JSON_H

#include "nibble.h"

#include <stddef.h>
#include <stdint.h>

typedef enum nb_json_kind {
    NB_JSON_NULL,
    NB_JSON_BOOL,
    NB_JSON_NUMBER,
    NB_JSON_STRING,
    NB_JSON_ARRAY,
    NB_JSON_OBJECT
} nb_json_kind;

typedef struct nb_json nb_json;
struct nb_json {
    nb_json_kind kind;
    int boolean;            /* BOOL: 0 or 1                                  */
    int is_int;             /* NUMBER: written without fraction/exponent and
                               fits int64 (then `integer` is exact)          */
    int64_t integer;        /* NUMBER: the value when is_int                 */
    double number;          /* NUMBER: the value (strtod-exact rounding)     */
    const char *str;        /* STRING: decoded UTF-8, NUL-terminated         */
    size_t len;             /* STRING: bytes (may contain U+0000 as a byte 0) */
    const char *key;        /* member of an OBJECT: decoded name, NUL-terminated */
    size_t key_len;
    size_t count;           /* ARRAY/OBJECT: number of children              */
    nb_json *first;         /* ARRAY/OBJECT: first child, in text order      */
    nb_json *next;          /* next sibling                                  */
    uint32_t line, col;     /* where the value starts (1-based; col counts
                               bytes, lines count LF)                        */
};

typedef struct nb_json_limits {
    size_t max_depth;       /* nesting of arrays/objects (default 256)       */
    size_t max_bytes;       /* input size (default 1 GiB)                    */
    size_t max_nodes;       /* values in the tree (default 64 Mi)            */
} nb_json_limits;

typedef struct nb_json_doc nb_json_doc;

/* Parse `len` bytes (need not be NUL-terminated). `lim` NULL = defaults,
 * fields 0 = default. `alloc` NULL = malloc. On failure *out is NULL and
 * err->msg reads like "config.json:3:17: expected ',' or '}' after member". */
nb_status nb_json_parse(const char *text, size_t len, const char *what,
                        const nb_json_limits *lim, const nb_allocator *alloc,
                        nb_json_doc **out, nb_err *err);
const nb_json *nb_json_root(const nb_json_doc *doc);
void nb_json_free(nb_json_doc *doc);

/* Member of an object by name (the last one if a name repeats, as
 * Python's json does). NULL if `obj` is not an object or has no such member. */
const nb_json *nb_json_get(const nb_json *obj, const char *key);
/* i-th element of an array (O(i)); NULL if out of range or not an array. */
const nb_json *nb_json_at(const nb_json *arr, size_t i);

/* Typed member lookups: NB_OK and *out set; NB_ERR_NOT_FOUND when absent (or
 * null); NB_ERR_TYPE when present with another type; NB_ERR_RANGE when an
 * integer does not fit. Messages name `key`. */
nb_status nb_json_get_int(const nb_json *obj, const char *key, int64_t *out, nb_err *err);
nb_status nb_json_get_num(const nb_json *obj, const char *key, double *out, nb_err *err);
nb_status nb_json_get_bool(const nb_json *obj, const char *key, int *out, nb_err *err);
nb_status nb_json_get_str(const nb_json *obj, const char *key, const char **out, nb_err *err);

/* "a string", "an object", … for messages. */
const char *nb_json_kind_str(nb_json_kind kind);

#endif
