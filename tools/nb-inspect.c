/*
 * nb-inspect: print what a GGUF file holds.
 *
 *   nb-inspect [--full] FILE.gguf
 *   nb-inspect FILE.gguf --memory [-c CTX] [--kv f16|f32]
 *
 * Header facts, every metadata key with its type and value, the tensor
 * table and totals by tensor type, then whether nibble can run it as a
 * model (its architecture and shape, or the loader's reason why not: the
 * missing or mis-shaped tensor). The file is parsed completely before
 * anything is printed, so a bad file gives one error line on stderr and no
 * partial listing. Long strings and arrays are abbreviated unless --full.
 * --memory prints what running the model takes instead: the bytes read in
 * place (flash on a microcontroller) and every RAM block, each sized by the
 * library's own *_size functions (docs/embedded.md).
 *
 * Exit status: 0 listed, 1 the file could not be read or is not valid GGUF,
 * 2 bad command line.
 */
#include "nibble.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Abbreviation limits (ignored with --full). */
#define SHOW_ARRAY_ELEMS 8   /* elements of an array, per nesting level */
#define SHOW_STRING_BYTES 64 /* bytes of a string value                 */

static int g_full = 0;

static void usage(FILE *f) {
    fprintf(f,
            "usage: nb-inspect [--full] FILE.gguf\n"
            "       nb-inspect FILE.gguf --dump TENSOR [-o OUT.f32]\n"
            "       nb-inspect FILE.gguf --memory [-c CTX] [--kv f16|f32]\n"
            "Print the header, metadata, tensor table and size totals of a GGUF file.\n"
            "  --full          show every array element and whole strings (default: abbreviate)\n"
            "  --dump TENSOR   dequantize one tensor: print its shape, min/max/mean/rms and\n"
            "                  first values, or with -o write it as raw little-endian F32\n"
            "  -o OUT.f32      output file for --dump (written atomically)\n"
            "  --memory        the memory budget of running the model: weights (read in\n"
            "                  place: flash), GGUF index, tokenizer, KV cache, scratch, total RAM\n"
            "  -c CTX          context length for --memory (default: min(trained, 2048))\n"
            "  --kv f16|f32    KV cache type for --memory (default f16)\n"
            "  --help          show this help\n");
}

/* ------------------------------------------------------------ raw values */

/* Little-endian unsigned integer of n bytes (1, 2, 4 or 8) at p. */
static uint64_t load_le(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Print a float so that it reads back to the same value, with as few
 * digits as that takes (9 significant digits always do for f32, 17 for
 * f64): plain notation from 1e-4 to 1e16, else scientific, "10000.0" with a
 * ".0" so it reads as a float. */
static void print_float(FILE *f, double v, int is_f32) {
    if (!isfinite(v)) {
        fputs(isnan(v) ? "nan" : v < 0 ? "-inf" : "inf", f);
        return;
    }
    char buf[64];
    int digits, max = is_f32 ? 9 : 17;
    for (digits = 1; digits < max; digits++) {
        snprintf(buf, sizeof buf, "%.*e", digits - 1, v);
        if (is_f32 ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v) break;
    }
    snprintf(buf, sizeof buf, "%.*e", digits - 1, v);
    int exp10 = atoi(strchr(buf, 'e') + 1);
    if (exp10 >= -4 && exp10 < 16) {
        int decimals = digits - 1 - exp10;
        snprintf(buf, sizeof buf, "%.*f", decimals > 0 ? decimals : 0, v);
        if (!strchr(buf, '.')) strcat(buf, ".0");
    }
    fputs(buf, f);
}

/* One scalar of fixed-size GGUF type t at p. */
static void print_scalar(FILE *f, uint32_t t, const uint8_t *p) {
    uint64_t u = load_le(p, nb_gguf_type_size(t));
    switch (t) {
    case NB_GGUF_U8: case NB_GGUF_U16: case NB_GGUF_U32: case NB_GGUF_U64:
        fprintf(f, "%" PRIu64, u);
        break;
    case NB_GGUF_I8: fprintf(f, "%d", (int)(int8_t)u); break;
    case NB_GGUF_I16: fprintf(f, "%d", (int)(int16_t)u); break;
    case NB_GGUF_I32: fprintf(f, "%" PRId32, (int32_t)u); break;
    case NB_GGUF_I64: fprintf(f, "%" PRId64, (int64_t)u); break;
    case NB_GGUF_F32: {
        uint32_t bits = (uint32_t)u;
        float x;
        memcpy(&x, &bits, 4);
        print_float(f, x, 1);
        break;
    }
    case NB_GGUF_F64: {
        double x;
        memcpy(&x, &u, 8);
        print_float(f, x, 0);
        break;
    }
    case NB_GGUF_BOOL:
        if (u <= 1) fputs(u ? "true" : "false", f);
        else fprintf(f, "0x%02x (not a valid bool)", (unsigned)u);
        break;
    default: fputs("?", f); break;
    }
}

/* ---------------------------------------------------------------- strings */

/* Length of a valid UTF-8 sequence of 2-4 bytes at p (n bytes left), or 0
 * (overlong forms, surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_len(const uint8_t *p, uint64_t n) {
    uint8_t c = p[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else return 0;
    if (len > n || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    return len;
}

/* Write s escaped: \n \t \r \\ \" and \xNN for other control bytes and
 * invalid UTF-8; valid UTF-8 passes through. At most `limit` input bytes
 * (never splitting a character). Returns the number of bytes written; with
 * f == NULL only counts. */
static size_t put_escaped(FILE *f, nb_str s, uint64_t limit) {
    const uint8_t *p = (const uint8_t *)s.ptr;
    size_t out = 0;
    for (uint64_t i = 0; i < s.len;) {
        uint8_t c = p[i];
        char buf[8];
        size_t in = 1;
        const char *esc = NULL;
        switch (c) {
        case '\n': esc = "\\n"; break;
        case '\t': esc = "\\t"; break;
        case '\r': esc = "\\r"; break;
        case '\\': esc = "\\\\"; break;
        case '"': esc = "\\\""; break;
        default: break;
        }
        if (!esc) {
            if (c >= 0x20 && c < 0x7f) {
                buf[0] = (char)c;
                buf[1] = 0;
            } else if (c >= 0x80 && (in = utf8_len(p + i, s.len - i)) != 0) {
                memcpy(buf, p + i, in);
                buf[in] = 0;
            } else {
                in = 1;
                snprintf(buf, sizeof buf, "\\x%02x", c);
            }
            esc = buf;
        }
        if (i + in > limit) break;
        if (f) fputs(esc, f);
        out += strlen(esc);
        i += in;
    }
    return out;
}

/* A string value in quotes, abbreviated unless --full. */
static void print_string(FILE *f, nb_str s) {
    uint64_t limit = g_full ? UINT64_MAX : SHOW_STRING_BYTES;
    fputc('"', f);
    put_escaped(f, s, limit);
    fputc('"', f);
    if (s.len > limit) fprintf(f, "... (%" PRIu64 " bytes)", s.len);
}

/* ----------------------------------------------------------------- arrays */

/* [a, b, c, ... (+N more)]; nested arrays recursively. */
static void print_array(FILE *f, const nb_gguf_kv *a) {
    uint64_t show = g_full || a->arr_n <= SHOW_ARRAY_ELEMS ? a->arr_n : SHOW_ARRAY_ELEMS;
    size_t es = nb_gguf_type_size(a->arr_type);
    uint64_t cursor = 0;
    fputc('[', f);
    for (uint64_t i = 0; i < show; i++) {
        if (i) fputs(", ", f);
        if (es) {
            print_scalar(f, a->arr_type, a->val + i * es);
        } else if (a->arr_type == NB_GGUF_STRING) {
            nb_str s;
            if (nb_gguf_arr_next_str(a, &cursor, &s) != NB_OK) break;
            print_string(f, s);
        } else {
            nb_gguf_kv inner;
            if (nb_gguf_arr_next_arr(a, &cursor, &inner) != NB_OK) break;
            print_array(f, &inner);
        }
    }
    if (show < a->arr_n) fprintf(f, ", ... (+%" PRIu64 " more)", a->arr_n - show);
    fputc(']', f);
}

/* "u32", "string", "array[f32; 512]". */
static void type_string(const nb_gguf_kv *kv, char *buf, size_t size) {
    if (kv->type == NB_GGUF_ARRAY)
        snprintf(buf, size, "array[%s; %" PRIu64 "]", nb_gguf_type_name(kv->arr_type), kv->arr_n);
    else
        snprintf(buf, size, "%s", nb_gguf_type_name(kv->type));
}

static void print_value(FILE *f, const nb_gguf_kv *kv) {
    if (kv->type == NB_GGUF_STRING) {
        nb_str s = {(const char *)kv->val, kv->val_size};
        print_string(f, s);
    } else if (kv->type == NB_GGUF_ARRAY) {
        print_array(f, kv);
    } else {
        print_scalar(f, kv->type, kv->val);
    }
}

static void pad(FILE *f, size_t have, size_t want) {
    for (; have < want; have++) fputc(' ', f);
}

/* --------------------------------------------------------------- listing */

static void print_metadata(FILE *f, const nb_gguf *g) {
    size_t kw = 0, tw = 0;
    char tbuf[64];
    for (uint64_t i = 0; i < g->n_kv; i++) {
        size_t k = put_escaped(NULL, g->kv[i].key, UINT64_MAX);
        type_string(&g->kv[i], tbuf, sizeof tbuf);
        if (k > kw) kw = k;
        if (strlen(tbuf) > tw) tw = strlen(tbuf);
    }
    if (kw > 48) kw = 48;
    fprintf(f, "\nmetadata: %" PRIu64 " key%s\n", g->n_kv, g->n_kv == 1 ? "" : "s");
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const nb_gguf_kv *kv = &g->kv[i];
        fputs("  ", f);
        pad(f, put_escaped(f, kv->key, UINT64_MAX), kw);
        type_string(kv, tbuf, sizeof tbuf);
        fprintf(f, "  %-*s  ", (int)tw, tbuf);
        print_value(f, kv);
        fputc('\n', f);
    }
}

static void shape_string(const nb_gguf_tensor *t, char *buf, size_t size) {
    size_t n = 0;
    buf[0] = 0;
    for (uint32_t d = 0; d < t->n_dims && n < size; d++)
        n += (size_t)snprintf(buf + n, size - n, "%s%" PRId64, d ? "," : "", t->ne[d]);
}

static void print_tensors(FILE *f, const nb_gguf *g) {
    size_t nw = 4, sw = 5;
    char sbuf[96];
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        size_t k = put_escaped(NULL, g->tensors[i].name, UINT64_MAX);
        shape_string(&g->tensors[i], sbuf, sizeof sbuf);
        if (k > nw) nw = k;
        if (strlen(sbuf) > sw) sw = strlen(sbuf);
    }
    if (nw > 64) nw = 64;
    fprintf(f, "\ntensors: %" PRIu64 "\n", g->n_tensors);
    if (!g->n_tensors) return;
    fprintf(f, "  %5s  %-*s  %-7s  %-*s  %12s  %12s\n", "#", (int)nw, "name", "type", (int)sw,
            "shape", "offset", "bytes");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const nb_gguf_tensor *t = &g->tensors[i];
        fprintf(f, "  %5" PRIu64 "  ", i);
        pad(f, put_escaped(f, t->name, UINT64_MAX), nw);
        shape_string(t, sbuf, sizeof sbuf);
        fprintf(f, "  %-7s  %-*s  %12" PRIu64 "  %12" PRIu64 "\n", nb_type_name(t->type), (int)sw,
                sbuf, t->offset, t->nbytes);
    }
}

static void print_totals(FILE *f, const nb_gguf *g) {
    uint64_t count[NB_TYPE_COUNT] = {0}, elems[NB_TYPE_COUNT] = {0}, bytes[NB_TYPE_COUNT] = {0};
    uint64_t all_elems = 0, all_bytes = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const nb_gguf_tensor *t = &g->tensors[i];
        uint32_t ty = t->type < NB_TYPE_COUNT ? t->type : 0; /* the parser checked it */
        uint64_t n = (uint64_t)nb_tensor_nelements(t);
        count[ty]++;
        elems[ty] += n;
        bytes[ty] += t->nbytes;
        all_elems += n;
        all_bytes += t->nbytes;
    }
    if (g->n_tensors) {
        fprintf(f, "\nby type:\n  %-7s  %7s  %14s  %14s  %11s\n", "type", "tensors", "elements",
                "bytes", "bits/weight");
        for (int ty = 0; ty < NB_TYPE_COUNT; ty++)
            if (count[ty])
                fprintf(f, "  %-7s  %7" PRIu64 "  %14" PRIu64 "  %14" PRIu64 "  %11.4f\n",
                        nb_type_name((uint32_t)ty), count[ty], elems[ty], bytes[ty],
                        8.0 * (double)bytes[ty] / (double)elems[ty]);
    }
    fprintf(f, "\ntotal: %" PRIu64 " tensors, %" PRIu64 " parameters, %" PRIu64 " bytes",
            g->n_tensors, all_elems, all_bytes);
    if (all_elems) fprintf(f, ", %.4f bits per weight", 8.0 * (double)all_bytes / (double)all_elems);
    fputc('\n', f);
}

/* Whether the file loads as a model nibble can run, and if so its shape;
 * if not, the loader's reason (it names the architecture the file claims
 * and the missing or mis-shaped tensor or key). */
static void print_model(FILE *f, const nb_gguf *g) {
    if (!nb_gguf_find_key(g, "general.architecture")) return; /* not a model file */
    nb_model *m = malloc(sizeof *m);
    nb_err err = {0};
    if (!m) return;
    if (nb_model_load(g, m, &err) != NB_OK) {
        fprintf(f, "\nmodel: cannot be run: %s\n", err.msg);
        free(m);
        return;
    }
    const nb_hparams *hp = &m->hp;
    int n_local = 0;
    for (int32_t l = 0; l < hp->n_layer; l++) n_local += m->layers[l].swa;
    fprintf(f,
            "\nmodel: %s, %d layers, n_embd %d, %d heads (%d kv) of %d, n_ff %d, vocab %d, "
            "rope %s base %g, %s output",
            nb_arch_name(hp->arch), hp->n_layer, hp->n_embd, hp->n_head, hp->n_head_kv,
            hp->head_dim, hp->n_ff, hp->n_vocab, hp->rope_neox ? "neox" : "normal",
            (double)hp->rope_freq_base, m->output == m->tok_embd ? "tied" : "own");
    if (n_local)
        fprintf(f, ", %d of %d layers sliding-window %d", n_local, hp->n_layer, hp->n_swa);
    fputc('\n', f);
    free(m);
}

static void print_all(FILE *f, const char *path, const nb_gguf *g) {
    fprintf(f, "file: %s\n", path);
    fprintf(f, "size: %zu bytes\n", g->size);
    fprintf(f, "gguf version: %" PRIu32 "\n", g->version);
    fprintf(f, "alignment: %" PRIu32 "\n", g->alignment);
    fprintf(f, "data offset: %" PRIu64 "\n", g->data_offset);
    fprintf(f, "n_kv: %" PRIu64 "\n", g->n_kv);
    fprintf(f, "n_tensors: %" PRIu64 "\n", g->n_tensors);
    print_metadata(f, g);
    print_tensors(f, g);
    print_totals(f, g);
    print_model(f, g);
}

/* ------------------------------------------------------------------ dump */

/* Dequantize `t` row by row (one row buffer, never the whole tensor) and
 * either write the floats to `out_path` or print statistics. */
static int dump_tensor(const char *path, const nb_gguf *g, const char *name, const char *out_path) {
    nb_err err = {0};
    const nb_gguf_tensor *t = nb_gguf_find_tensor(g, name);
    if (!t) {
        fprintf(stderr, "nb-inspect: %s: no tensor named '%s'\n", path, name);
        return 1;
    }
    const nb_type_info *ti = nb_type_get(t->type);
    if (!ti || !ti->to_float) {
        fprintf(stderr, "nb-inspect: %s: tensor '%s': cannot dequantize type %s\n", path, name,
                nb_type_name(t->type));
        return 1;
    }
    int64_t row_len = t->ne[0], n_rows = nb_tensor_nelements(t) / row_len;
    size_t row_bytes = nb_row_size(t->type, row_len);
    float *row = malloc((size_t)row_len * sizeof(float));
    if (!row) {
        fprintf(stderr, "nb-inspect: out of memory for a row of %lld values\n", (long long)row_len);
        return 1;
    }
    nb_file_out out;
    if (out_path && nb_file_out_open(&out, out_path, path, &err)) {
        fprintf(stderr, "nb-inspect: %s: %s\n", out_path, err.msg);
        free(row);
        return 1;
    }
    double sum = 0, sum2 = 0, lo = INFINITY, hi = -INFINITY;
    enum { N_FIRST = 16 };
    float first[N_FIRST];
    int n_first = 0;
    for (int64_t r = 0; r < n_rows; r++) {
        ti->to_float((const uint8_t *)t->data + (size_t)r * row_bytes, row, row_len);
        if (out_path) {
            /* raw little-endian F32: bytes as stored on a little-endian host */
            if (nb_file_out_write(&out, row, (size_t)row_len * sizeof(float), &err)) {
                fprintf(stderr, "nb-inspect: %s: %s\n", out_path, err.msg);
                nb_file_out_abort(&out);
                free(row);
                return 1;
            }
            continue;
        }
        for (int64_t i = 0; i < row_len; i++) {
            double v = row[i];
            sum += v;
            sum2 += v * v;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
            if (n_first < N_FIRST) first[n_first++] = row[i];
        }
    }
    free(row);
    if (out_path) {
        if (nb_file_out_commit(&out, &err)) {
            fprintf(stderr, "nb-inspect: %s: %s\n", out_path, err.msg);
            return 1;
        }
        fprintf(stderr, "nb-inspect: wrote %s: %lld F32 values (%lld bytes)\n", out_path,
                (long long)(n_rows * row_len), (long long)(n_rows * row_len * 4));
        return 0;
    }
    double n = (double)(n_rows * row_len);
    char shape[96];
    shape_string(t, shape, sizeof shape);
    printf("tensor: %s\ntype: %s\nshape: %s\nvalues: %lld\n", name, nb_type_name(t->type), shape,
           (long long)(n_rows * row_len));
    printf("min: %.9g\nmax: %.9g\nmean: %.9g\nrms: %.9g\nfirst:", lo, hi, sum / n, sqrt(sum2 / n));
    for (int i = 0; i < n_first; i++) printf(" %.9g", first[i]);
    printf("\n");
    return 0;
}

/* ---------------------------------------------------------------- memory */

static void mem_row(const char *what, uint64_t bytes, const char *note) {
    char human[32];
    if (bytes >= 1024 * 1024)
        snprintf(human, sizeof human, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
    else
        snprintf(human, sizeof human, "%.1f KiB", (double)bytes / 1024.0);
    printf("  %-24s %12" PRIu64 "  %11s%s%s\n", what, bytes, human, *note ? "  " : "", note);
}

/* The memory budget of running the model with this context: what stays in
 * the file's bytes (read in place, so flash on a microcontroller) and each
 * RAM block, sized by the same functions a caller sizes its arena with.
 * The KV cache line is the cache's formula; scratch is the rest of
 * nb_ctx_size, so the two always add up to what nb_ctx_init asks for. */
static int print_memory(const char *path, const nb_gguf *g, int32_t n_ctx, int kv_f32) {
    nb_err err = {0};
    nb_model *m = malloc(sizeof *m);
    if (!m) {
        fprintf(stderr, "nb-inspect: out of memory\n");
        return 1;
    }
    if (nb_model_load(g, m, &err) != NB_OK) {
        fprintf(stderr, "nb-inspect: %s: cannot be run: %s\n", path, err.msg);
        free(m);
        return 1;
    }
    const nb_hparams *hp = &m->hp;
    nb_ctx_params cp = {.n_ctx = n_ctx, .kv_f32 = kv_f32};
    /* nb_ctx_init's default when n_ctx is 0 */
    int32_t ctx_len = n_ctx > 0 ? n_ctx : hp->n_ctx_train < 2048 ? hp->n_ctx_train : 2048;
    uint64_t tensor_bytes = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) tensor_bytes += g->tensors[i].nbytes;
    uint64_t index = nb_gguf_index_size(g->base, g->size);
    uint64_t tokenizer = nb_tokenizer_mem_size(g); /* 0: no vocabulary */
    uint64_t ctx = nb_ctx_size(m, &cp);
    uint64_t kv = 2ull * (uint64_t)hp->n_layer * (uint64_t)ctx_len * (uint64_t)hp->n_head_kv *
                  (uint64_t)hp->head_dim * (kv_f32 ? 4u : 2u);
    uint64_t sampler = nb_sampler_size(hp->n_vocab, NULL);
    uint64_t logits = (uint64_t)hp->n_vocab * sizeof(float);
    uint64_t views = sizeof(nb_model);
    uint64_t ram = index + views + tokenizer + ctx + sampler + logits;
    printf("memory: %s, %s, n_ctx %d, %s KV cache\n", path, nb_arch_name(hp->arch), ctx_len,
           kv_f32 ? "F32" : "F16");
    printf("read in place (flash):\n");
    mem_row("model file", g->size, "the GGUF bytes, never copied");
    mem_row("  of which weights", tensor_bytes, "tensor data");
    printf("RAM:\n");
    mem_row("GGUF index", index, "nb_gguf_index_size");
    mem_row("model views", views, "sizeof(nb_model), this host");
    mem_row("tokenizer", tokenizer, "nb_tokenizer_mem_size");
    mem_row("KV cache", kv, "2 x n_layer x n_ctx x kv_dim x elem");
    mem_row("scratch", ctx > kv ? ctx - kv : 0, "activations, logits, alignment");
    mem_row("  context (nb_ctx_size)", ctx, "KV cache + scratch, one arena");
    mem_row("sampler", sampler, "nb_sampler_size, default chain");
    mem_row("logits", logits, "n_vocab floats for nb_decode");
    mem_row("total RAM", ram, "");
    free(m);
    return 0;
}

int main(int argc, char **argv) {
    const char *path = NULL, *dump = NULL, *out_path = NULL, *ctx_arg = NULL, *kv_arg = NULL;
    int opts_done = 0, memory = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!opts_done && a[0] == '-' && a[1]) {
            if (strcmp(a, "--full") == 0) g_full = 1;
            else if (strcmp(a, "--memory") == 0) memory = 1;
            else if ((strcmp(a, "--dump") == 0 || strcmp(a, "-o") == 0 || strcmp(a, "-c") == 0 ||
                      strcmp(a, "--kv") == 0) &&
                     i + 1 >= argc) {
                fprintf(stderr, "nb-inspect: option '%s' needs a value\n", a);
                usage(stderr);
                return 2;
            } else if (strcmp(a, "--dump") == 0) dump = argv[++i];
            else if (strcmp(a, "-o") == 0) out_path = argv[++i];
            else if (strcmp(a, "-c") == 0) ctx_arg = argv[++i];
            else if (strcmp(a, "--kv") == 0) kv_arg = argv[++i];
            else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                usage(stdout);
                return 0;
            } else if (strcmp(a, "--") == 0) opts_done = 1;
            else {
                fprintf(stderr, "nb-inspect: unknown option '%s'\n", a);
                usage(stderr);
                return 2;
            }
        } else if (!path) {
            path = a;
        } else {
            fprintf(stderr, "nb-inspect: one file at a time ('%s' and '%s' given)\n", path, a);
            usage(stderr);
            return 2;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    if (out_path && !dump) {
        fprintf(stderr, "nb-inspect: -o needs --dump TENSOR\n");
        usage(stderr);
        return 2;
    }
    if ((ctx_arg || kv_arg) && !memory) {
        fprintf(stderr, "nb-inspect: -c and --kv need --memory\n");
        usage(stderr);
        return 2;
    }
    if (memory && dump) {
        fprintf(stderr, "nb-inspect: --memory and --dump are separate listings\n");
        usage(stderr);
        return 2;
    }
    long n_ctx = 0;
    if (ctx_arg) {
        char *end;
        n_ctx = strtol(ctx_arg, &end, 10);
        if (end == ctx_arg || *end || n_ctx < 1 || n_ctx > (1L << 24)) {
            fprintf(stderr, "nb-inspect: -c: invalid context length '%s' (1..16777216)\n", ctx_arg);
            return 2;
        }
    }
    int kv_f32 = 0;
    if (kv_arg) {
        if (strcmp(kv_arg, "f32") == 0 || strcmp(kv_arg, "F32") == 0) kv_f32 = 1;
        else if (strcmp(kv_arg, "f16") != 0 && strcmp(kv_arg, "F16") != 0) {
            fprintf(stderr, "nb-inspect: --kv: '%s' is not f16 or f32\n", kv_arg);
            return 2;
        }
    }

    nb_err err = {0};
    nb_file_map m;
    nb_gguf g;
    if (nb_file_map_open(path, &m, &err) != NB_OK) {
        fprintf(stderr, "nb-inspect: %s: %s\n", path, err.msg);
        return 1;
    }
    if (nb_gguf_parse(m.data, m.size, &g, &err) != NB_OK) {
        fprintf(stderr, "nb-inspect: %s: %s\n", path, err.msg);
        nb_file_map_close(&m);
        return 1;
    }
    int rc = 0;
    if (dump) rc = dump_tensor(path, &g, dump, out_path);
    else if (memory) rc = print_memory(path, &g, (int32_t)n_ctx, kv_f32);
    else print_all(stdout, path, &g);
    nb_gguf_free(&g);
    nb_file_map_close(&m);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "nb-inspect: error writing the listing\n");
        return 1;
    }
    return rc;
}
