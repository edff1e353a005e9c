/* nb-synth: write a random-weight llama GGUF of a named shape.
 *
 *   nb-synth llama-110m out.gguf [--seed N] [--type f16|bf16|f32] [--force]
 *   nb-synth --list
 *
 * For benchmarks of models nobody has to download: the file has llama.cpp's
 * llama layout (keys, tensor names, an SPM "llama" vocabulary), so nibble
 * (nb-run, nb-bench), nb-quantize and llama.cpp (llama-bench, llama-simple)
 * all load it. The weights are NOT a trained model: the text it generates
 * is noise, only its speed means anything.
 *
 * Weights: matrices approximately N(0, 0.02) (llama's initializer_range;
 * the sum of four uniforms, scaled: cheap and smooth enough), norms
 * 1 + N(0, 0.01), so activations stay finite through every layer. Each
 * tensor has its own stream of a splitmix64 generator, seeded from --seed
 * and the tensor's position: the same seed gives the same bytes, in any
 * type (the F32, F16 and BF16 files round the same numbers).
 *
 * Vocabulary (SentencePiece, tokenizer.ggml.model "llama"): <unk>=0,
 * <s>=1, </s>=2, the 256 byte tokens <0x00>..<0xFF>, "▁" and the printable
 * ASCII characters, then filler pieces "▁t<i>" up to the vocabulary size,
 * scores descending.
 *
 * Tensor data is generated and written in chunks of at most 1 Mi values
 * (llama-1b in F16 is about 3 GB; memory stays a few MiB). The output goes
 * to a temporary file renamed over OUT only when everything succeeded, so
 * an error or a signal never leaves a partial OUT behind.
 *
 * Exit status: 0 written, 1 failed (I/O, OUT exists without --force),
 * 2 bad command line. */
#define _POSIX_C_SOURCE 200809L
#include "nibble.h"
#include "common/tool.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct shape {
    const char *name;
    int32_t n_layer, n_embd, n_ff, n_head, n_head_kv, n_vocab, n_ctx;
    float rope_theta;
    const char *about;
} shape;

static const shape SHAPES[] = {
    {"tiny", 2, 64, 128, 4, 2, 512, 256, 10000.0f, "for tests"},
    {"llama-110m", 12, 768, 2048, 12, 12, 32000, 2048, 10000.0f,
     "stories110M's shape (llama2.c), untied output"},
    {"llama-1b", 16, 2048, 8192, 32, 8, 128256, 8192, 500000.0f,
     "Llama 3.2 1B's shape, untied output"},
};
#define N_SHAPES (int)(sizeof SHAPES / sizeof SHAPES[0])

#define RMS_EPS 1e-5f
#define CHUNK (1 << 20) /* values generated per write */

static void usage(FILE *f) {
    fprintf(f,
            "usage: nb-synth SHAPE OUT.gguf [--seed N] [--type f16|bf16|f32] [--force] [-q]\n"
            "       nb-synth --list\n"
            "Writes a llama GGUF of random weights (a benchmark input, not a trained model)\n"
            "that nibble, nb-quantize and llama.cpp load.\n"
            "  SHAPE        tiny, llama-110m, llama-1b (--list shows them)\n"
            "  --seed N     generator seed, 0..2^64-1 (default 1); same seed, same bytes\n"
            "  --type T     type of the weight matrices: f16 (default), bf16 or f32;\n"
            "               norms are always F32\n"
            "  --force      overwrite OUT if it exists\n"
            "  -q, --quiet  no progress, only the summary line\n"
            "  --list       the shapes, their sizes\n"
            "  -h, --help   this help\n");
}

/* ------------------------------------------------------------ numbers */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Approximately N(0, 1): four 16-bit uniforms summed (Irwin-Hall, mean 2,
 * variance 1/3), centred and scaled. Bounded at +-3.46: no outliers that
 * would make the quantized files unusual. */
static float normalish(uint64_t *s) {
    uint64_t r = splitmix64(s);
    uint32_t sum = (uint32_t)(r & 0xffff) + (uint32_t)((r >> 16) & 0xffff) +
                   (uint32_t)((r >> 32) & 0xffff) + (uint32_t)(r >> 48);
    return ((float)sum + 2.0f) / 65536.0f * 1.7320508f - 2.0f * 1.7320508f;
}

/* ------------------------------------------------------------- tensors */

typedef struct tensor_plan {
    char name[64];
    uint32_t n_dims;
    int64_t ne[2];
    int norm; /* 1: F32, 1 + N(0, 0.01) */
} tensor_plan;

static void plan_add(tensor_plan *t, int64_t *n, const char *name, int norm, int64_t ne0,
                     int64_t ne1) {
    if (t) {
        snprintf(t[*n].name, sizeof t[*n].name, "%s", name);
        t[*n].norm = norm;
        t[*n].n_dims = norm ? 1 : 2;
        t[*n].ne[0] = ne0;
        t[*n].ne[1] = ne1;
    }
    (*n)++;
}

/* The tensors in file order (t NULL: only count them). */
static int64_t plan_tensors(const shape *sh, tensor_plan *t) {
    int64_t n = 0, d = sh->n_embd, ff = sh->n_ff, kv = (int64_t)(d / sh->n_head) * sh->n_head_kv;
    static const struct {
        const char *what;
        int norm, in, out; /* 0: d, 1: kv, 2: ff */
    } BLK[] = {{"attn_norm", 1, 0, 0}, {"attn_q", 0, 0, 0},      {"attn_k", 0, 0, 1},
               {"attn_v", 0, 0, 1},    {"attn_output", 0, 0, 0}, {"ffn_norm", 1, 0, 0},
               {"ffn_gate", 0, 0, 2},  {"ffn_up", 0, 0, 2},      {"ffn_down", 0, 2, 0}};
    const int64_t dims[3] = {d, kv, ff};
    char name[64];
    plan_add(t, &n, "token_embd.weight", 0, d, sh->n_vocab);
    for (int32_t l = 0; l < sh->n_layer; l++)
        for (size_t k = 0; k < sizeof BLK / sizeof BLK[0]; k++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", (int)l, BLK[k].what);
            plan_add(t, &n, name, BLK[k].norm, dims[BLK[k].in], BLK[k].norm ? 1 : dims[BLK[k].out]);
        }
    plan_add(t, &n, "output_norm.weight", 1, d, 1);
    plan_add(t, &n, "output.weight", 0, d, sh->n_vocab);
    return n;
}

static double shape_params(const shape *sh) {
    int64_t n = plan_tensors(sh, NULL);
    tensor_plan *t = malloc((size_t)n * sizeof *t);
    double p = 0;
    if (!t) return 0;
    plan_tensors(sh, t);
    for (int64_t i = 0; i < n; i++) p += (double)t[i].ne[0] * (double)t[i].ne[1];
    free(t);
    return p;
}

/* ---------------------------------------------------------- vocabulary */

typedef struct vocab {
    nb_str *text;
    float *score;
    int32_t *type;
    char *chars;
} vocab;

static void vocab_free(vocab *v) {
    free(v->text);
    free(v->score);
    free(v->type);
    free(v->chars);
}

static int vocab_build(vocab *v, int32_t n_vocab) {
    static const char SP[] = "\xe2\x96\x81"; /* U+2581, SentencePiece's space */
    memset(v, 0, sizeof *v);
    size_t cap = (size_t)n_vocab * 16 + 64;
    v->text = malloc((size_t)n_vocab * sizeof *v->text);
    v->score = malloc((size_t)n_vocab * sizeof *v->score);
    v->type = malloc((size_t)n_vocab * sizeof *v->type);
    v->chars = malloc(cap);
    if (!v->text || !v->score || !v->type || !v->chars) return -1;
    /* texts first into one buffer (offsets), pointers after it is final */
    size_t *off = malloc((size_t)n_vocab * sizeof *off), used = 0;
    if (!off) return -1;
    int32_t id = 0, n_normal = 0;
#define PUT(TYPE, ...)                                                              \
    do {                                                                            \
        off[id] = used;                                                             \
        used += (size_t)snprintf(v->chars + used, cap - used, __VA_ARGS__);         \
        v->type[id] = (TYPE);                                                       \
        v->score[id] = (TYPE) == NB_TOKEN_NORMAL ? -(float)(n_normal++) : 0.0f;    \
        id++;                                                                       \
    } while (0)
    PUT(NB_TOKEN_UNKNOWN, "<unk>");
    PUT(NB_TOKEN_CONTROL, "<s>");
    PUT(NB_TOKEN_CONTROL, "</s>");
    for (int b = 0; b < 256; b++) PUT(NB_TOKEN_BYTE, "<0x%02X>", b);
    if (id < n_vocab) PUT(NB_TOKEN_NORMAL, "%s", SP);
    for (int c = 0x21; c < 0x7f && id < n_vocab; c++) PUT(NB_TOKEN_NORMAL, "%c", c);
    for (int32_t i = 0; id < n_vocab; i++) PUT(NB_TOKEN_NORMAL, "%st%d", SP, (int)i);
#undef PUT
    for (int32_t i = 0; i < n_vocab; i++) {
        v->text[i].ptr = v->chars + off[i];
        v->text[i].len = (i + 1 < n_vocab ? off[i + 1] : used) - off[i];
    }
    free(off);
    return 0;
}

/* ------------------------------------------------------------- writing */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

typedef struct type_opt {
    const char *name;
    uint32_t type;
    uint32_t ftype;
} type_opt;

static const type_opt TYPES[] = {
    {"f16", NB_TYPE_F16, NB_FTYPE_MOSTLY_F16},
    {"bf16", NB_TYPE_BF16, NB_FTYPE_MOSTLY_BF16},
    {"f32", NB_TYPE_F32, NB_FTYPE_ALL_F32},
};

#define TRY(call)                     \
    do {                              \
        if ((s = (call)) != NB_OK) goto done; \
    } while (0)

/* Metadata as llama.cpp's converter writes it for a llama model. */
static nb_status set_metadata(nb_gguf_writer *w, const shape *sh, const type_opt *ty,
                              uint64_t seed, const vocab *v, nb_err *err) {
    nb_status s;
    char buf[160];
    TRY(nb_gguf_set_str(w, "general.architecture", "llama", err));
    TRY(nb_gguf_set_str(w, "general.type", "model", err));
    snprintf(buf, sizeof buf, "nb-synth %s", sh->name);
    TRY(nb_gguf_set_str(w, "general.name", buf, err));
    snprintf(buf, sizeof buf,
             "random weights from nb-synth (seed %llu), not a trained model: for benchmarks",
             (unsigned long long)seed);
    TRY(nb_gguf_set_str(w, "general.description", buf, err));
    TRY(nb_gguf_set_u32(w, "llama.block_count", (uint32_t)sh->n_layer, err));
    TRY(nb_gguf_set_u32(w, "llama.context_length", (uint32_t)sh->n_ctx, err));
    TRY(nb_gguf_set_u32(w, "llama.embedding_length", (uint32_t)sh->n_embd, err));
    TRY(nb_gguf_set_u32(w, "llama.feed_forward_length", (uint32_t)sh->n_ff, err));
    TRY(nb_gguf_set_u32(w, "llama.attention.head_count", (uint32_t)sh->n_head, err));
    TRY(nb_gguf_set_u32(w, "llama.attention.head_count_kv", (uint32_t)sh->n_head_kv, err));
    TRY(nb_gguf_set_f32(w, "llama.rope.freq_base", sh->rope_theta, err));
    TRY(nb_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", RMS_EPS, err));
    TRY(nb_gguf_set_u32(w, "general.file_type", ty->ftype, err));
    TRY(nb_gguf_set_u32(w, "llama.vocab_size", (uint32_t)sh->n_vocab, err));
    TRY(nb_gguf_set_u32(w, "llama.rope.dimension_count", (uint32_t)(sh->n_embd / sh->n_head), err));
    TRY(nb_gguf_set_str(w, "tokenizer.ggml.model", "llama", err));
    TRY(nb_gguf_set_arr_str(w, "tokenizer.ggml.tokens", v->text, (uint64_t)sh->n_vocab, err));
    TRY(nb_gguf_set_arr(w, "tokenizer.ggml.scores", NB_GGUF_F32, v->score, (uint64_t)sh->n_vocab, err));
    TRY(nb_gguf_set_arr(w, "tokenizer.ggml.token_type", NB_GGUF_I32, v->type, (uint64_t)sh->n_vocab,
                        err));
    TRY(nb_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1, err));
    TRY(nb_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 2, err));
    TRY(nb_gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", 0, err));
    TRY(nb_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", 1, err));
    TRY(nb_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", 0, err));
done:
    return s;
}

typedef struct progress {
    int show;
    double t0, last;
    uint64_t done, total;
} progress;

static void show_progress(progress *pg, int64_t i, int64_t n, int final) {
    if (!pg->show) return;
    double now = nb_tool_now_s();
    if (!final && now - pg->last < 0.1) return;
    pg->last = now;
    double frac = pg->total ? (double)pg->done / (double)pg->total : 1.0;
    double t = now - pg->t0, mbs = t > 0 ? pg->done / 1048576.0 / t : 0;
    fprintf(stderr, "\r\033[Knb-synth: %3d%%  tensor %lld/%lld  %.1f MB/s", (int)(frac * 100),
            (long long)i + 1, (long long)n, mbs);
    if (final) fprintf(stderr, "\r\033[K");
    fflush(stderr);
}

/* Generate and stream every tensor's data. */
static nb_status write_tensors(nb_gguf_writer *w, const tensor_plan *t, int64_t n_t,
                               const type_opt *ty, uint64_t seed, progress *pg, nb_err *err) {
    nb_status s = NB_OK;
    float *f = malloc(CHUNK * sizeof *f);
    uint16_t *h = malloc(CHUNK * sizeof *h);
    if (!f || !h) {
        free(f);
        free(h);
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return err->status = NB_ERR_NOMEM;
    }
    for (int64_t i = 0; i < n_t && !s; i++) {
        /* one stream per tensor: seed and position, mixed */
        uint64_t st = seed ^ 0x6e622d73796e7468ull; /* "nb-synth" */
        uint64_t mix = splitmix64(&st) + (uint64_t)i * 0xd1b54a32d192ed03ull;
        st = splitmix64(&mix);
        int64_t n = t[i].ne[0] * t[i].ne[1];
        uint32_t type = t[i].norm ? NB_TYPE_F32 : ty->type;
        for (int64_t at = 0; at < n && !s; at += CHUNK) {
            if (interrupted) {
                snprintf(err->msg, sizeof err->msg, "interrupted");
                s = err->status = NB_ERR_CANCELLED;
                break;
            }
            size_t k = (size_t)(n - at < CHUNK ? n - at : CHUNK);
            if (t[i].norm)
                for (size_t j = 0; j < k; j++) f[j] = 1.0f + 0.01f * normalish(&st);
            else
                for (size_t j = 0; j < k; j++) f[j] = 0.02f * normalish(&st);
            const void *out = f;
            size_t bytes = k * sizeof(float);
            if (type == NB_TYPE_F16) {
                nb_f32_to_f16_row(f, h, (int64_t)k);
                out = h;
                bytes = k * 2;
            } else if (type == NB_TYPE_BF16) {
                nb_f32_to_bf16_row(f, h, (int64_t)k);
                out = h;
                bytes = k * 2;
            }
            s = nb_gguf_writer_write_data(w, out, bytes, err);
            pg->done += bytes;
            show_progress(pg, i, n_t, 0);
        }
    }
    free(f);
    free(h);
    return s;
}

/* The whole file to `out`; nothing is committed here. */
static nb_status synth(const shape *sh, const type_opt *ty, uint64_t seed, nb_file_out *out,
                       progress *pg, uint64_t *data_bytes, nb_err *err) {
    nb_status s = NB_OK;
    nb_gguf_writer *w = NULL;
    vocab v;
    int64_t n_t = plan_tensors(sh, NULL);
    tensor_plan *t = malloc((size_t)n_t * sizeof *t);
    if (!t || vocab_build(&v, sh->n_vocab)) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        s = err->status = NB_ERR_NOMEM;
        if (t) vocab_free(&v);
        free(t);
        return s;
    }
    plan_tensors(sh, t);
    *data_bytes = 0;
    TRY(nb_gguf_writer_new(&w, nb_file_out_write, out, NULL, err));
    TRY(set_metadata(w, sh, ty, seed, &v, err));
    for (int64_t i = 0; i < n_t; i++) {
        uint32_t type = t[i].norm ? NB_TYPE_F32 : ty->type;
        TRY(nb_gguf_add_tensor(w, t[i].name, type, t[i].n_dims, t[i].ne, err));
        *data_bytes += nb_row_size(type, t[i].ne[0]) * (uint64_t)t[i].ne[1];
    }
    pg->total = *data_bytes;
    TRY(nb_gguf_writer_write_header(w, err));
    TRY(write_tensors(w, t, n_t, ty, seed, pg, err));
    TRY(nb_gguf_writer_finish(w, err));
    show_progress(pg, n_t - 1, n_t, 1);
done:
    if (s && pg->show) fprintf(stderr, "\r\033[K");
    nb_gguf_writer_free(w);
    vocab_free(&v);
    free(t);
    return s;
}

static void list_shapes(void) {
    printf("| shape | layers | dim | ff | heads | kv heads | vocab | ctx | rope base | parameters "
           "| F16 size |\n"
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < N_SHAPES; i++) {
        const shape *sh = &SHAPES[i];
        double p = shape_params(sh);
        printf("| %s | %d | %d | %d | %d | %d | %d | %d | %.0f | %.1f M | %.1f MiB |\n", sh->name,
               sh->n_layer, sh->n_embd, sh->n_ff, sh->n_head, sh->n_head_kv, sh->n_vocab, sh->n_ctx,
               sh->rope_theta, p / 1e6, 2.0 * p / 1048576.0);
    }
    printf("\n");
    for (int i = 0; i < N_SHAPES; i++) printf("%s: %s\n", SHAPES[i].name, SHAPES[i].about);
}

int main(int argc, char **argv) {
    const char *pos[2];
    int n_pos = 0, force = 0, quiet = 0, list = 0;
    uint64_t seed = 1;
    const type_opt *ty = &TYPES[0];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--list")) {
            list = 1;
        } else if (!strcmp(a, "--force")) {
            force = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--seed") && has_val) {
            const char *v = argv[++i];
            char *end;
            errno = 0;
            unsigned long long x = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-' || v[0] == '+') {
                fprintf(stderr, "nb-synth: --seed: invalid value '%s' (expected 0..2^64-1)\n", v);
                return 2;
            }
            seed = (uint64_t)x;
        } else if (!strcmp(a, "--type") && has_val) {
            const char *v = argv[++i];
            ty = NULL;
            for (size_t k = 0; k < sizeof TYPES / sizeof TYPES[0]; k++) {
                const char *p = TYPES[k].name, *q = v;
                while (*p && (*q | 0x20) == *p) p++, q++;
                if (!*p && !*q) ty = &TYPES[k];
            }
            if (!ty) {
                fprintf(stderr,
                        "nb-synth: --type: unknown type '%s' (f16, bf16 or f32; quantize the "
                        "result with nb-quantize)\n",
                        v);
                return 2;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "nb-synth: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 2;
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            fprintf(stderr, "nb-synth: too many arguments ('%s')\n", a);
            return 2;
        }
    }
    if (list) {
        if (n_pos) {
            fprintf(stderr, "nb-synth: --list takes no other arguments\n");
            return 2;
        }
        list_shapes();
        return 0;
    }
    if (n_pos < 2) {
        fprintf(stderr, "nb-synth: need SHAPE OUT.gguf\n");
        usage(stderr);
        return 2;
    }
    const shape *sh = NULL;
    for (int i = 0; i < N_SHAPES; i++)
        if (!strcmp(pos[0], SHAPES[i].name)) sh = &SHAPES[i];
    if (!sh) {
        fprintf(stderr, "nb-synth: unknown shape '%s' (known:", pos[0]);
        for (int i = 0; i < N_SHAPES; i++) fprintf(stderr, " %s", SHAPES[i].name);
        fprintf(stderr, "; --list shows them)\n");
        return 2;
    }
    const char *out_path = pos[1];
    struct stat st;
    if (!force && stat(out_path, &st) == 0) {
        fprintf(stderr, "nb-synth: '%s' exists; not overwriting it (pass --force)\n", out_path);
        return 1;
    }

    /* a signal from here on stops the run cleanly (temporary file removed) */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    nb_err err = {0};
    nb_file_out out;
    if (nb_file_out_open(&out, out_path, NULL, &err)) {
        fprintf(stderr, "nb-synth: %s\n", err.msg);
        return 1;
    }
    progress pg = {!quiet && isatty(2), nb_tool_now_s(), 0, 0, 0};
    uint64_t data_bytes = 0;
    nb_status s = synth(sh, ty, seed, &out, &pg, &data_bytes, &err);
    if (!s) s = nb_file_out_commit(&out, &err);
    else nb_file_out_abort(&out);
    if (s) {
        fprintf(stderr, "nb-synth: failed, '%s' not written: %s\n", out_path, err.msg);
        return 1;
    }
    double t = nb_tool_now_s() - pg.t0;
    printf("nb-synth: %s -> %s: %s, seed %llu, %.1f M parameters, %.2f MiB of tensor data, "
           "%.2f s\n",
           sh->name, out_path, nb_type_name(ty->type), (unsigned long long)seed,
           shape_params(sh) / 1e6, data_bytes / 1048576.0, t);
    return 0;
}
