/* nb-quantize: turn an F32/F16/BF16 GGUF into a quantized one.
 *
 *   nb-quantize model-f16.gguf model-q4_k_m.gguf Q4_K_M [threads]
 *
 * Types and recipes follow llama-quantize (see docs/quantizer.md). The
 * input is mmapped and read one tensor at a time; the output goes to a
 * temporary file that is renamed over OUT only when everything succeeded,
 * so an error or Ctrl-C never leaves a partial OUT behind. */
#define _POSIX_C_SOURCE 200809L
#include "nibble.h"
#include "common/qprogress.h"
#include "common/tool.h"

#include <errno.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: nb-quantize [options] IN.gguf OUT.gguf TYPE [THREADS]\n"
            "  TYPE: a single type  Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL\n"
            "                       IQ4_XS F16 BF16 F32\n"
            "        or a recipe    Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K Q8_0\n"
            "        (llama.cpp's per-tensor choices; legacy types Q4_0..Q8_0, IQ4_* too)\n"
            "  THREADS              worker threads (default: all cores)\n"
            "options:\n"
            "  --tensor-type RE=TYPE   tensors whose name matches the extended regex RE get\n"
            "                          TYPE (first match wins; repeatable)\n"
            "  --output-tensor-type T  type of output.weight\n"
            "  --token-embedding-type T  type of token_embd.weight\n"
            "  --imatrix FILE          importance matrix (llama-imatrix GGUF or legacy .dat)\n"
            "  --pure                  every weight matrix in TYPE (no recipe rules)\n"
            "  --allow-requantize      accept an already-quantized input\n"
            "  --force                 overwrite OUT if it exists\n"
            "  -q, --quiet             no per-tensor lines, only the summary\n"
            "  -h, --help              this help\n");
}

/* ---------------------------------------------------------- overrides */

typedef struct override {
    regex_t re;
    char *pattern;
    int type;
} override;

typedef struct overrides {
    override *v;
    int n;
} overrides;

static int override_type(void *user, const char *name) {
    const overrides *o = user;
    for (int i = 0; i < o->n; i++)
        if (regexec(&o->v[i].re, name, 0, NULL, 0) == 0) return o->v[i].type;
    return -1;
}

static int parse_type(const char *s) {
    int t = nb_type_from_name(s);
    const nb_type_info *ti = t >= 0 ? nb_type_get((uint32_t)t) : NULL;
    return ti && ti->quantize ? t : -1;
}

static int add_override(overrides *o, const char *pattern, size_t plen, const char *type) {
    int t = parse_type(type);
    if (t < 0) {
        fprintf(stderr, "nb-quantize: unknown tensor type '%s' in override\n", type);
        return -1;
    }
    override *v = realloc(o->v, (size_t)(o->n + 1) * sizeof *v);
    if (!v) return -1;
    o->v = v;
    override *e = &v[o->n];
    e->pattern = malloc(plen + 1);
    if (!e->pattern) return -1;
    memcpy(e->pattern, pattern, plen);
    e->pattern[plen] = 0;
    int rc = regcomp(&e->re, e->pattern, REG_EXTENDED | REG_NOSUB);
    if (rc) {
        char msg[128];
        regerror(rc, &e->re, msg, sizeof msg);
        fprintf(stderr, "nb-quantize: bad regex '%s': %s\n", e->pattern, msg);
        free(e->pattern);
        return -1;
    }
    e->type = t;
    o->n++;
    return 0;
}

static void free_overrides(overrides *o) {
    for (int i = 0; i < o->n; i++) {
        regfree(&o->v[i].re);
        free(o->v[i].pattern);
    }
    free(o->v);
}

int main(int argc, char **argv) {
    const char *pos[4];
    int n_pos = 0, pure = 0, requant = 0, force = 0, quiet = 0;
    const char *imatrix_path = NULL;
    overrides ov = {NULL, 0};
    int rc = 2;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free_overrides(&ov);
            return 0;
        } else if (!strcmp(a, "--pure")) {
            pure = 1;
        } else if (!strcmp(a, "--allow-requantize")) {
            requant = 1;
        } else if (!strcmp(a, "--force")) {
            force = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--imatrix") && has_val) {
            imatrix_path = argv[++i];
        } else if (!strcmp(a, "--tensor-type") && has_val) {
            const char *v = argv[++i], *eq = strrchr(v, '=');
            if (!eq || eq == v || !eq[1]) {
                fprintf(stderr, "nb-quantize: --tensor-type expects REGEX=TYPE, got '%s'\n", v);
                goto out;
            }
            if (add_override(&ov, v, (size_t)(eq - v), eq + 1)) goto out;
        } else if ((!strcmp(a, "--output-tensor-type") || !strcmp(a, "--token-embedding-type")) &&
                   has_val) {
            const char *pat = !strcmp(a, "--output-tensor-type") ? "^output\\.weight$"
                                                                 : "^token_embd\\.weight$";
            if (add_override(&ov, pat, strlen(pat), argv[++i])) goto out;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "nb-quantize: unknown option or missing value: %s\n", a);
            usage(stderr);
            goto out;
        } else if (n_pos < 4) {
            pos[n_pos++] = a;
        } else {
            fprintf(stderr, "nb-quantize: too many arguments ('%s')\n", a);
            goto out;
        }
    }
    if (n_pos < 3) {
        fprintf(stderr, "nb-quantize: need IN.gguf OUT.gguf TYPE\n");
        usage(stderr);
        goto out;
    }
    const char *in_path = pos[0], *out_path = pos[1];
    nb_quant_params p;
    memset(&p, 0, sizeof p);
    nb_err err = {0};
    if (nb_quant_target_parse(pos[2], &p.target, &err)) {
        fprintf(stderr, "nb-quantize: %s\n", err.msg);
        goto out;
    }
    if (n_pos == 4) {
        char *end;
        errno = 0;
        long t = strtol(pos[3], &end, 10);
        if (errno || *end || t < 1 || t > 1024) {
            fprintf(stderr, "nb-quantize: THREADS: invalid value '%s' (expected 1..1024)\n", pos[3]);
            goto out;
        }
        p.n_threads = (int)t;
    }
    p.pure = pure;
    p.allow_requantize = requant;
    if (ov.n) {
        p.override_type = override_type;
        p.override_user = &ov;
    }

    rc = 1;
    struct stat st;
    if (!force && stat(out_path, &st) == 0) {
        fprintf(stderr, "nb-quantize: '%s' exists; not overwriting it (pass --force)\n", out_path);
        goto out;
    }

    nb_imatrix im;
    memset(&im, 0, sizeof im);
    if (imatrix_path) {
        size_t n;
        char *bytes = nb_tool_read_file(imatrix_path, &n);
        if (!bytes) {
            fprintf(stderr, "nb-quantize: cannot read imatrix '%s': %s\n", imatrix_path,
                    strerror(errno));
            goto out;
        }
        nb_status s = nb_imatrix_load(bytes, n, &im, &err);
        free(bytes);
        if (s) {
            fprintf(stderr, "nb-quantize: %s: %s\n", imatrix_path, err.msg);
            goto out;
        }
        p.imatrix = &im;
        p.imatrix_file = imatrix_path;
        fprintf(stderr, "nb-quantize: imatrix: %lld entries, %lld chunks%s%s\n",
                (long long)im.n_entries, (long long)im.n_chunks, im.dataset[0] ? ", dataset " : "",
                im.dataset);
    }

    nb_file_map map;
    nb_gguf g;
    if (nb_file_map_open(in_path, &map, &err)) {
        fprintf(stderr, "nb-quantize: %s\n", err.msg);
        nb_imatrix_free(&im);
        goto out;
    }
    if (nb_gguf_parse(map.data, map.size, &g, &err)) {
        fprintf(stderr, "nb-quantize: %s: not a valid GGUF: %s\n", in_path, err.msg);
        nb_file_map_close(&map);
        nb_imatrix_free(&im);
        goto out;
    }

    /* from here on a signal stops the run cleanly (the temporary file is
     * removed), so install the handler before that file exists */
    nb_tool_catch_signals();

    nb_file_out out;
    if (nb_file_out_open(&out, out_path, in_path, &err)) {
        fprintf(stderr, "nb-quantize: %s\n", err.msg);
    } else {
        nb_tool_progress pg;
        nb_tool_progress_init(&pg, quiet);
        p.progress = nb_tool_on_progress;
        p.progress_user = &pg;
        fprintf(stderr, "nb-quantize: %s -> %s as %s%s, %llu tensors\n", in_path, out_path,
                p.target.name, p.pure ? " (pure)" : "", (unsigned long long)g.n_tensors);
        nb_quant_summary sum;
        nb_status s = nb_quantize_gguf(&g, &p, nb_file_out_write, &out, &sum, &err);
        nb_tool_progress_clear(&pg);
        if (!s) s = nb_file_out_commit(&out, &err);
        else nb_file_out_abort(&out);
        double t = nb_tool_now_s() - pg.t0;
        if (s) {
            fprintf(stderr, "nb-quantize: failed, '%s' not written: %s\n", out_path, err.msg);
        } else {
            nb_tool_print_summary(&sum, t);
            rc = 0;
        }
    }
    nb_gguf_free(&g);
    nb_file_map_close(&map);
    nb_imatrix_free(&im);
out:
    free_overrides(&ov);
    return rc;
}
