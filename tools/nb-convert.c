/* nb-convert: a Hugging Face checkpoint folder to GGUF, no Python.
 *
 *   nb-convert HF_DIR OUT.gguf [--outtype f32|f16|bf16|TYPE|RECIPE]
 *              [--vocab-from FILE.gguf]
 *
 * The folder holds config.json, model.safetensors (or shards listed in
 * model.safetensors.index.json) and the tokenizer (tokenizer.json or
 * tokenizer.model, with tokenizer_config.json). The output goes to a
 * temporary file renamed over OUT only on success; a quantized --outtype
 * converts and quantizes in the same pass (see docs/convert.md). */
#define _POSIX_C_SOURCE 200809L
#include "nibble.h"
#include "common/qprogress.h"
#include "common/tool.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: nb-convert [options] HF_DIR OUT.gguf\n"
            "  HF_DIR                  config.json, model.safetensors (or sharded, with\n"
            "                          model.safetensors.index.json), tokenizer.json or\n"
            "                          tokenizer.model, tokenizer_config.json\n"
            "options:\n"
            "  --outtype T             f32, f16 (default), bf16: weights kept as floats\n"
            "                          (norms and biases F32); or a type / recipe of\n"
            "                          nb-quantize (q8_0, q4_0, q4_k_m, ...): quantized\n"
            "                          in the same pass\n"
            "  --vocab-from FILE.gguf  take the tokenizer.* keys from this GGUF\n"
            "  --name NAME             general.name (default: the folder's name)\n"
            "  --pure                  with a recipe: every matrix in its type\n"
            "  -t, --threads N         quantization threads (default: all cores)\n"
            "  --force                 overwrite OUT if it exists\n"
            "  -q, --quiet             no per-tensor lines, only the summary\n"
            "  -h, --help              this help\n"
            "architectures:");
    for (const char *const *a = nb_convert_architectures(); *a; a++) fprintf(f, " %s", *a);
    fprintf(f, "\n");
}

int main(int argc, char **argv) {
    const char *pos[2], *outtype = "f16", *vocab_from = NULL, *name = NULL;
    int n_pos = 0, force = 0, quiet = 0, pure = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--force")) {
            force = 1;
        } else if (!strcmp(a, "--pure")) {
            pure = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--outtype") && has_val) {
            outtype = argv[++i];
        } else if (!strcmp(a, "--vocab-from") && has_val) {
            vocab_from = argv[++i];
        } else if (!strcmp(a, "--name") && has_val) {
            name = argv[++i];
        } else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has_val) {
            char *end;
            errno = 0;
            long t = strtol(argv[++i], &end, 10);
            if (errno || *end || t < 1 || t > 1024) {
                fprintf(stderr, "nb-convert: --threads: invalid value '%s' (expected 1..1024)\n",
                        argv[i]);
                return 2;
            }
            threads = (int)t;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "nb-convert: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 2;
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            fprintf(stderr, "nb-convert: too many arguments ('%s')\n", a);
            return 2;
        }
    }
    if (n_pos < 2) {
        fprintf(stderr, "nb-convert: need HF_DIR and OUT.gguf\n");
        usage(stderr);
        return 2;
    }
    nb_convert_params p;
    memset(&p, 0, sizeof p);
    p.hf_dir = pos[0];
    p.vocab_from = vocab_from;
    p.name = name;
    p.quant.pure = pure;
    p.quant.n_threads = threads;
    char up[32];
    size_t n = strlen(outtype);
    if (n >= sizeof up) n = sizeof up - 1;
    for (size_t i = 0; i < n; i++) up[i] = (char)toupper((unsigned char)outtype[i]);
    up[n] = 0;
    nb_err err = {0};
    if (nb_quant_target_parse(up, &p.quant.target, &err)) {
        fprintf(stderr, "nb-convert: --outtype: %s\n", err.msg);
        return 2;
    }
    const char *out_path = pos[1];
    struct stat st;
    if (stat(p.hf_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "nb-convert: '%s' is not a folder\n", p.hf_dir);
        return 1;
    }
    if (!force && stat(out_path, &st) == 0) {
        fprintf(stderr, "nb-convert: '%s' exists; not overwriting it (pass --force)\n", out_path);
        return 1;
    }
    /* a signal from here on stops the run and removes the temporary file */
    nb_tool_catch_signals();
    nb_file_out out;
    if (nb_file_out_open(&out, out_path, vocab_from, &err)) {
        fprintf(stderr, "nb-convert: %s\n", err.msg);
        return 1;
    }
    nb_tool_progress pg;
    nb_tool_progress_init(&pg, quiet);
    p.quant.progress = nb_tool_on_progress;
    p.quant.progress_user = &pg;
    fprintf(stderr, "nb-convert: %s -> %s as %s\n", p.hf_dir, out_path, p.quant.target.name);
    nb_quant_summary sum;
    nb_status s = nb_convert_hf(&p, nb_file_out_write, &out, &sum, &err);
    nb_tool_progress_clear(&pg);
    if (!s) s = nb_file_out_commit(&out, &err);
    else nb_file_out_abort(&out);
    if (s) {
        fprintf(stderr, "nb-convert: failed, '%s' not written: %s\n", out_path, err.msg);
        return 1;
    }
    nb_tool_print_summary(&sum, nb_tool_now_s() - pg.t0);
    return 0;
}
