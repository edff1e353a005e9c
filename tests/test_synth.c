/* nb-synth: the "tiny" shape writes a llama GGUF that parses, loads as a
 * model with its tokenizer and runs with finite logits; the bytes depend on
 * the seed only; --type; bad command lines leave no file behind. */
#include "harness.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* No "<anything>.tmp.<pid>" left in the scratch directory. */
static int no_temp_files(void) {
    DIR *d = opendir(nb_test_tmp_dir());
    if (!d) return 1;
    struct dirent *e;
    int ok = 1;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) ok = 0;
    closedir(d);
    return ok;
}

/* nb-synth ARGS, output to a log; its exit status. */
static int synth(const char *args) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s/nb-synth %s > %s/log.txt 2>&1", nb_test_bin_dir(), args,
             nb_test_tmp_dir());
    return nb_test_system(cmd);
}

static const char *tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", nb_test_tmp_dir(), name);
    return buf;
}

static int same_bytes(const char *a, const char *b) {
    size_t na, nb;
    void *pa = nb_test_read_file(a, &na), *pb = nb_test_read_file(b, &nb);
    int same = pa && pb && na == nb && memcmp(pa, pb, na) == 0;
    free(pa);
    free(pb);
    return same;
}

static void t_tiny_loads_and_runs(void) {
    char path[512], args[1024];
    tmp_path(path, sizeof path, "tiny.gguf");
    snprintf(args, sizeof args, "tiny %s --seed 7 --force", path);
    CHECK(synth(args) == 0);

    nb_err err = {0};
    nb_file_map fm;
    nb_gguf g;
    CHECK_OK(nb_file_map_open(path, &fm, &err), err);
    if (nb_test_failed()) return;
    CHECK_OK(nb_gguf_parse(fm.data, fm.size, &g, &err), err);
    if (nb_test_failed()) {
        nb_file_map_close(&fm);
        return;
    }
    /* keys and tensors as llama.cpp writes them */
    uint32_t u = 0;
    nb_str str;
    CHECK_OK(nb_gguf_get_str(&g, "general.architecture", &str, &err), err);
    CHECK(nb_str_eq(str, "llama"));
    CHECK_OK(nb_gguf_get_u32(&g, "general.file_type", &u, &err), err);
    CHECK(u == 1);
    CHECK_OK(nb_gguf_get_u32(&g, "llama.block_count", &u, &err), err);
    CHECK(u == 2);
    CHECK_OK(nb_gguf_get_u32(&g, "llama.attention.head_count_kv", &u, &err), err);
    CHECK(u == 2);
    CHECK_OK(nb_gguf_get_u32(&g, "llama.rope.dimension_count", &u, &err), err);
    CHECK(u == 16);
    const nb_gguf_tensor *t = nb_gguf_find_tensor(&g, "blk.1.ffn_down.weight");
    CHECK(t && t->type == NB_TYPE_F16 && t->ne[0] == 128 && t->ne[1] == 64);
    t = nb_gguf_find_tensor(&g, "output_norm.weight");
    CHECK(t && t->type == NB_TYPE_F32 && t->n_dims == 1);
    CHECK(nb_gguf_find_tensor(&g, "output.weight") != NULL);
    CHECK(g.n_tensors == 3 + 2 * 9);

    /* weights: about N(0, 0.02); norms about 1 */
    t = nb_gguf_find_tensor(&g, "blk.0.attn_q.weight");
    if (t) {
        int64_t n = nb_tensor_nelements(t);
        float *f = malloc((size_t)n * sizeof *f);
        double s = 0, q = 0;
        nb_f16_to_f32_row(t->data, f, n);
        for (int64_t i = 0; i < n; i++) s += f[i], q += (double)f[i] * f[i];
        double mean = s / n, sd = sqrt(q / n - mean * mean);
        CHECK_MSG(fabs(mean) < 0.002 && fabs(sd - 0.02) < 0.002, "mean %g sd %g", mean, sd);
        free(f);
    }
    t = nb_gguf_find_tensor(&g, "blk.0.ffn_norm.weight");
    if (t) {
        const float *f = t->data;
        for (int i = 0; i < 64; i++) CHECK_MSG(fabsf(f[i] - 1.0f) < 0.05f, "norm[%d] = %g", i, f[i]);
    }

    nb_tokenizer tok;
    CHECK_OK(nb_tokenizer_load(&g, &tok, NULL, &err), err);
    if (!nb_test_failed()) {
        CHECK(tok.vocab_type == NB_VOCAB_SPM && tok.n_vocab == 512);
        CHECK(tok.bos_id == 1 && tok.eos_id == 2 && tok.unk_id == 0);
        int32_t ids[64], n = 0;
        CHECK_OK(nb_tokenize(&tok, "Hi there", 8, 1, 0, ids, 64, &n, &err), err);
        CHECK(n >= 2 && ids[0] == 1);
        nb_tokenizer_free(&tok);
    }

    nb_model *m = malloc(sizeof *m);
    CHECK_OK(nb_model_load(&g, m, &err), err);
    if (!nb_test_failed()) {
        CHECK(m->hp.n_vocab == 512 && m->hp.n_embd == 64 && m->hp.n_head == 4);
        nb_ctx_params cp = {.n_ctx = 16, .n_threads = 1};
        size_t sz = nb_ctx_size(m, &cp);
        void *mem = malloc(sz);
        float *logits = malloc(512 * sizeof *logits);
        nb_ctx *ctx = NULL;
        CHECK_OK(nb_ctx_init(&ctx, m, &cp, mem, sz, &err), err);
        const int32_t toks[5] = {1, 300, 17, 400, 511};
        if (ctx) {
            CHECK_OK(nb_decode(ctx, toks, 4, logits, &err), err);
            CHECK_OK(nb_decode(ctx, toks + 4, 1, logits, &err), err);
            int finite = 1;
            double mx = 0;
            for (int i = 0; i < 512; i++) {
                if (!isfinite(logits[i])) finite = 0;
                if (fabs(logits[i]) > mx) mx = fabs(logits[i]);
            }
            CHECK(finite);
            CHECK_MSG(mx > 1e-3 && mx < 100, "largest |logit| %g", mx);
        }
        free(logits);
        free(mem);
    }
    free(m);
    nb_gguf_free(&g);
    nb_file_map_close(&fm);

    /* and nb-run runs it */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s/nb-run -m %s -p 'Once upon a time' -n 4 --temp 0 -t 1 > %s/run.txt 2>&1",
             nb_test_bin_dir(), path, nb_test_tmp_dir());
    CHECK(nb_test_system(cmd) == 0);
}

static void t_seed_decides_bytes(void) {
    char a[512], b[512], c[512], args[1024];
    tmp_path(a, sizeof a, "s1a.gguf");
    tmp_path(b, sizeof b, "s1b.gguf");
    tmp_path(c, sizeof c, "s2.gguf");
    snprintf(args, sizeof args, "tiny %s --seed 1 --force -q", a);
    CHECK(synth(args) == 0);
    snprintf(args, sizeof args, "--force -q tiny %s --seed 1", b);
    CHECK(synth(args) == 0);
    snprintf(args, sizeof args, "tiny %s --seed 2 --force", c);
    CHECK(synth(args) == 0);
    CHECK(same_bytes(a, b));
    CHECK(!same_bytes(a, c));
    size_t na, nc;
    void *pa = nb_test_read_file(a, &na), *pc = nb_test_read_file(c, &nc);
    CHECK(pa && pc && na == nc); /* same layout, other numbers */
    free(pa);
    free(pc);
    /* the default seed is 1 */
    snprintf(args, sizeof args, "tiny %s --force", b);
    CHECK(synth(args) == 0);
    CHECK(same_bytes(a, b));
}

/* --type f32 / bf16: matrices in that type, norms F32, file type set; the
 * same numbers as the F16 file (one stream per tensor, whatever the type). */
static void t_types(void) {
    static const struct {
        const char *arg;
        uint32_t type, ftype;
    } T[] = {{"f32", NB_TYPE_F32, 0}, {"BF16", NB_TYPE_BF16, 32}, {"f16", NB_TYPE_F16, 1}};
    float *ref = NULL;
    for (int i = 0; i < 3; i++) {
        char path[512], args[1024];
        tmp_path(path, sizeof path, "typed.gguf");
        snprintf(args, sizeof args, "tiny %s --type %s --force", path, T[i].arg);
        CHECK_MSG(synth(args) == 0, "--type %s", T[i].arg);
        nb_err err = {0};
        nb_file_map fm;
        nb_gguf g;
        if (nb_file_map_open(path, &fm, &err)) {
            CHECK_MSG(0, "%s", err.msg);
            continue;
        }
        CHECK_OK(nb_gguf_parse(fm.data, fm.size, &g, &err), err);
        if (!nb_test_failed()) {
            uint32_t ft = 99;
            CHECK_OK(nb_gguf_get_u32(&g, "general.file_type", &ft, &err), err);
            CHECK_MSG(ft == T[i].ftype, "%s: file type %u", T[i].arg, ft);
            const nb_gguf_tensor *w = nb_gguf_find_tensor(&g, "token_embd.weight");
            const nb_gguf_tensor *nrm = nb_gguf_find_tensor(&g, "blk.0.attn_norm.weight");
            CHECK(w && w->type == T[i].type);
            CHECK(nrm && nrm->type == NB_TYPE_F32);
            if (w) {
                float f[64];
                nb_err e2;
                CHECK_OK(nb_dequantize_row(w->type, w->data, f, 64, &e2), e2);
                if (!ref) {
                    ref = malloc(sizeof f);
                    memcpy(ref, f, sizeof f);
                } else {
                    for (int k = 0; k < 64; k++)
                        CHECK_MSG(fabsf(f[k] - ref[k]) <= fabsf(ref[k]) / 256 + 1e-6f /* BF16: 8 bits */,
                                  "%s: [%d] %g vs F32 %g", T[i].arg, k, f[k], ref[k]);
                }
            }
            nb_model m;
            CHECK_OK(nb_model_load(&g, &m, &err), err);
            nb_gguf_free(&g);
        }
        nb_file_map_close(&fm);
    }
    free(ref);
}

/* nb-quantize takes it, and the result runs (Q4_0 only: the quantizer's
 * search is the slow part, and these tests also run under emulation) */
static void t_quantizes(void) {
    char in[512], out[512], args[1024], cmd[2048];
    tmp_path(in, sizeof in, "q_in.gguf");
    tmp_path(out, sizeof out, "q_out.gguf");
    snprintf(args, sizeof args, "tiny %s --force", in);
    CHECK(synth(args) == 0);
    static const char *types[] = {"Q4_0"};
    for (int i = 0; i < 1; i++) {
        snprintf(cmd, sizeof cmd, "%s/nb-quantize -q --force %s %s %s 1 > %s/q.txt 2>&1",
                 nb_test_bin_dir(), in, out, types[i], nb_test_tmp_dir());
        CHECK_MSG(nb_test_system(cmd) == 0, "%s", types[i]);
        snprintf(cmd, sizeof cmd, "%s/nb-run -m %s -p 'Hi' -n 4 --temp 0 -t 1 > %s/q.txt 2>&1",
                 nb_test_bin_dir(), out, nb_test_tmp_dir());
        CHECK_MSG(nb_test_system(cmd) == 0, "%s", types[i]);
    }
    remove(in);
    remove(out);
}

static void t_list_and_help(void) {
    char log[512];
    CHECK(synth("--list") == 0);
    char *text = nb_test_slurp(tmp_path(log, sizeof log, "log.txt"));
    CHECK(text && strstr(text, "llama-110m") && strstr(text, "llama-1b") && strstr(text, "tiny"));
    free(text);
    CHECK(synth("--help") == 0);
}

/* Bad command lines: exit 2 (1 for an existing OUT), a message, no file. */
static void t_bad_flags(void) {
    char out[512], log[512], args[1024];
    tmp_path(out, sizeof out, "bad.gguf");
    tmp_path(log, sizeof log, "log.txt");
    static const struct {
        const char *fmt; /* %s: OUT */
        const char *says;
    } bad[] = {
        {"nosuch %s", "unknown shape"},
        {"tiny %s --type q4_0", "--type"},
        {"tiny %s --type", "missing value"},
        {"tiny %s --seed abc", "--seed"},
        {"tiny %s --seed -1", "--seed"},
        {"tiny %s --seed 99999999999999999999999", "--seed"},
        {"tiny %s --bogus", "unknown option"},
        {"tiny %s extra", "too many"},
        {"tiny", "need SHAPE"},
        {"--list tiny %s", "--list"},
        {"", "need SHAPE"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        remove(out);
        snprintf(args, sizeof args, bad[i].fmt, out);
        CHECK_MSG(synth(args) == 2, "'%s' should exit 2", args);
        CHECK_MSG(!file_exists(out), "'%s' left %s", args, out);
        char *text = nb_test_slurp(log);
        CHECK_MSG(text && strstr(text, bad[i].says), "'%s': message '%s'", args,
                  text ? text : "(none)");
        free(text);
    }
    /* an existing OUT is kept without --force */
    CHECK(nb_test_write_file(out, "keep", 4) == 0);
    snprintf(args, sizeof args, "tiny %s", out);
    CHECK(synth(args) == 1);
    size_t n = 0;
    char *keep = nb_test_read_file(out, &n);
    CHECK(keep && n == 4 && !memcmp(keep, "keep", 4));
    free(keep);
    /* a directory that does not exist: nothing written, no temp file */
    snprintf(args, sizeof args, "tiny %s/no/such/dir/x.gguf", nb_test_tmp_dir());
    CHECK(synth(args) == 1);
    remove(out);
    CHECK(no_temp_files());
}

int main(void) {
    RUN(t_tiny_loads_and_runs);
    RUN(t_seed_decides_bytes);
    RUN(t_types);
    RUN(t_quantizes);
    RUN(t_list_and_help);
    RUN(t_bad_flags);
    return nb_test_done();
}
