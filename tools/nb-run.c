/* nb-run: load a GGUF model, tokenize a prompt, generate text.
 *
 *   nb-run -m model.gguf -p "Once upon a time" -n 64 --temp 0
 *
 * Flags follow llama.cpp's names. Tokens stream to stdout as they are
 * produced; timings go to stderr at the end. */
#define _POSIX_C_SOURCE 200809L
#include "nibble.h"
#include "common/tool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: nb-run -m MODEL.gguf (-p PROMPT | -f FILE) [options]\n"
            "  -n N                 tokens to generate (default 128; stops at EOS)\n"
            "  -c N                 context length (default: model's, at most 2048)\n"
            "  -t N                 threads (default: OpenMP's, e.g. OMP_NUM_THREADS; 1 without OpenMP)\n"
            "  --temp T             temperature (default 0.8; 0 = greedy)\n"
            "  --top-k K            (default 40; 0 = off)\n"
            "  --top-p P            (default 0.95; 1 = off)\n"
            "  --min-p P            (default 0.05; 0 = off)\n"
            "  --repeat-penalty R   (default 1.0 = off)\n"
            "  --repeat-last-n N    penalty window (default 64)\n"
            "  --seed S             RNG seed\n"
            "  --f32                float path (dequantize weights, F32 activations and KV cache)\n"
            "  --kv-f32             F32 KV cache (default F16)\n"
            "  --ids                print token ids (prompt, then generated) instead of text\n"
            "  --logits-out FILE    write the logits of every prompt position (NBLG format)\n"
            "  --chat               the prompt is a user message, formatted with the model's\n"
            "                       chat template (chatml, llama3, gemma, phi3); stops at the\n"
            "                       end of the assistant's turn\n"
            "  -sys, --system TEXT  system message (with --chat)\n"
            "  --chat-template NAME chatml | llama3 | gemma | phi3 (overrides the model's)\n"
            "  -h, --help           this help\n");
}


static int parse_num(const char *flag, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || d < lo || d > hi) {
        fprintf(stderr, "nb-run: %s: invalid value '%s' (expected %g..%g)\n", flag, v, lo, hi);
        return -1;
    }
    *out = d;
    return 0;
}


static void print_piece(const nb_tokenizer *tok, int32_t id) {
    char buf[256];
    int32_t n = nb_token_to_piece(tok, id, buf, sizeof buf);
    if (n > 0) fwrite(buf, 1, (size_t)n, stdout);
    fflush(stdout);
}

/* NBLG v1: magic, version, n_tokens, n_vocab, ids, logits (little-endian). */
static int write_nblg(const char *path, const char *input, const int32_t *ids, int32_t n,
                      int32_t n_vocab, const float *logits) {
    nb_err err = {0};
    nb_file_out out;
    uint32_t head[4] = {0x474C424Eu, 1, (uint32_t)n, (uint32_t)n_vocab};
    if (nb_file_out_open(&out, path, input, &err) ||
        nb_file_out_write(&out, head, sizeof head, &err) ||
        nb_file_out_write(&out, ids, (size_t)n * 4, &err) ||
        nb_file_out_write(&out, logits, (size_t)n * n_vocab * 4, &err)) {
        fprintf(stderr, "nb-run: %s: %s\n", path, err.msg);
        nb_file_out_abort(&out);
        return -1;
    }
    if (nb_file_out_commit(&out, &err)) {
        fprintf(stderr, "nb-run: %s: %s\n", path, err.msg);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL, *prompt_file = NULL, *logits_out = NULL;
    const char *system_msg = NULL, *tmpl_name = NULL;
    int n_gen = 128, print_ids = 0, chat = 0;
    nb_ctx_params cp = {0};
    nb_sampler_params sp = nb_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        double d;
#define NEED_VALUE()                                                          \
    if (i + 1 >= argc) {                                                      \
        fprintf(stderr, "nb-run: option '%s' needs a value\n", a);            \
        return 2;                                                             \
    }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--f32")) { cp.float_path = 1; cp.kv_f32 = 1; }
        else if (!strcmp(a, "--kv-f32")) cp.kv_f32 = 1;
        else if (!strcmp(a, "--ids")) print_ids = 1;
        else if (!strcmp(a, "--chat")) chat = 1;
        else if (!strcmp(a, "-sys") || !strcmp(a, "--system")) { NEED_VALUE(); system_msg = argv[++i]; chat = 1; }
        else if (!strcmp(a, "--chat-template")) {
            NEED_VALUE();
            tmpl_name = argv[++i];
            if (!nb_chat_template_from_name(tmpl_name)) {
                fprintf(stderr, "nb-run: unknown chat template '%s' (chatml, llama3, gemma, phi3)\n", tmpl_name);
                return 2;
            }
            chat = 1;
        }
        else if (!strcmp(a, "-m")) { NEED_VALUE(); model_path = argv[++i]; }
        else if (!strcmp(a, "-p")) { NEED_VALUE(); prompt = argv[++i]; }
        else if (!strcmp(a, "-f")) { NEED_VALUE(); prompt_file = argv[++i]; }
        else if (!strcmp(a, "--logits-out")) { NEED_VALUE(); logits_out = argv[++i]; }
        else if (!strcmp(a, "-n")) { NEED_VALUE(); if (parse_num(a, argv[++i], 0, 1e7, &d)) return 2; n_gen = (int)d; }
        else if (!strcmp(a, "-c")) { NEED_VALUE(); if (parse_num(a, argv[++i], 1, 1 << 24, &d)) return 2; cp.n_ctx = (int32_t)d; }
        else if (!strcmp(a, "-t")) { NEED_VALUE(); if (parse_num(a, argv[++i], 1, 256, &d)) return 2; cp.n_threads = (int32_t)d; }
        else if (!strcmp(a, "--temp")) { NEED_VALUE(); if (parse_num(a, argv[++i], 0, 1e6, &d)) return 2; sp.temp = (float)d; }
        else if (!strcmp(a, "--top-k")) { NEED_VALUE(); if (parse_num(a, argv[++i], 0, 1e9, &d)) return 2; sp.top_k = (int32_t)d; }
        else if (!strcmp(a, "--top-p")) { NEED_VALUE(); if (parse_num(a, argv[++i], 0, 1, &d)) return 2; sp.top_p = (float)d; }
        else if (!strcmp(a, "--min-p")) { NEED_VALUE(); if (parse_num(a, argv[++i], 0, 1, &d)) return 2; sp.min_p = (float)d; }
        else if (!strcmp(a, "--repeat-penalty")) { NEED_VALUE(); if (parse_num(a, argv[++i], 1e-6, 1e6, &d)) return 2; sp.repeat_penalty = (float)d; }
        else if (!strcmp(a, "--repeat-last-n")) { NEED_VALUE(); if (parse_num(a, argv[++i], 0, 1e7, &d)) return 2; sp.penalty_last_n = (int32_t)d; }
        else if (!strcmp(a, "--seed")) { NEED_VALUE(); if (parse_num(a, argv[++i], 0, 1.8e19, &d)) return 2; sp.seed = (uint64_t)d; }
        else {
            fprintf(stderr, "nb-run: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
#undef NEED_VALUE
    }
    if (!model_path || (!prompt && !prompt_file) || (prompt && prompt_file)) {
        fprintf(stderr, "nb-run: need -m MODEL and one of -p PROMPT / -f FILE\n");
        usage(stderr);
        return 2;
    }

    double t0 = nb_tool_now_s();
    nb_err err = {0};
    nb_file_map fm;
    nb_gguf g;
    nb_model *m = malloc(sizeof *m);
    nb_tokenizer tok;
    if (!m) return 1;
    if (nb_file_map_open(model_path, &fm, &err)) {
        fprintf(stderr, "nb-run: %s: %s\n", model_path, err.msg);
        return 1;
    }
    if (nb_gguf_parse(fm.data, fm.size, &g, &err) || nb_model_load(&g, m, &err) ||
        nb_tokenizer_load(&g, &tok, NULL, &err)) {
        fprintf(stderr, "nb-run: %s: %s\n", model_path, err.msg);
        return 1;
    }
    size_t ctx_bytes = nb_ctx_size(m, &cp);
    void *arena = malloc(ctx_bytes);
    size_t samp_bytes = nb_sampler_size(m->hp.n_vocab, &sp);
    void *samp_mem = malloc(samp_bytes);
    nb_ctx *ctx;
    nb_sampler *smp;
    if (!arena || !samp_mem) {
        fprintf(stderr, "nb-run: cannot allocate %zu bytes for the context\n", ctx_bytes);
        return 1;
    }
    if (nb_ctx_init(&ctx, m, &cp, arena, ctx_bytes, &err) ||
        nb_sampler_init(&smp, m->hp.n_vocab, &sp, samp_mem, samp_bytes, &err)) {
        fprintf(stderr, "nb-run: %s\n", err.msg);
        return 1;
    }
    double t_load = nb_tool_now_s() - t0;

    /* tokenize */
    size_t text_len = prompt ? strlen(prompt) : 0;
    char *text = prompt ? (char *)prompt : nb_tool_read_file(prompt_file, &text_len);
    if (!text) {
        fprintf(stderr, "nb-run: cannot read prompt file '%s'\n", prompt_file);
        return 1;
    }
    /* chat: the prompt becomes the user's turn; generation stops at the
     * end of the assistant's turn as well as at EOS */
    int32_t end_of_turn = -1;
    char *chat_text = NULL;
    if (chat) {
        nb_chat_template tmpl;
        if (tmpl_name) {
            memset(&tmpl, 0, sizeof tmpl);
            tmpl.kind = nb_chat_template_from_name(tmpl_name);
        } else if (nb_chat_template_for_model(&g, &tmpl, &err)) {
            fprintf(stderr, "nb-run: %s: %s (--chat-template NAME)\n", model_path, err.msg);
            return 1;
        }
        nb_chat_msg msgs[2];
        int n_msgs = 0;
        if (system_msg) msgs[n_msgs++] = (nb_chat_msg){"system", system_msg};
        msgs[n_msgs++] = (nb_chat_msg){"user", text};
        size_t need = 0;
        nb_chat_format(&tmpl, msgs, n_msgs, 1, NULL, 0, &need, NULL);
        chat_text = malloc(need + 1);
        if (!chat_text || nb_chat_format(&tmpl, msgs, n_msgs, 1, chat_text, need + 1, &need, &err)) {
            fprintf(stderr, "nb-run: chat: %s\n", err.msg);
            return 1;
        }
        const char *eot = nb_chat_end_of_turn(&tmpl);
        end_of_turn = eot ? nb_token_find(&tok, eot, strlen(eot)) : -1;
        if (text != prompt) free(text);
        text = chat_text;
        text_len = need;
        prompt = NULL;
    }
    int32_t n_prompt = 0;
    nb_tokenize(&tok, text, text_len, 1, 1, NULL, 0, &n_prompt, NULL);
    int32_t *ids = malloc(((size_t)n_prompt + (size_t)n_gen + 1) * sizeof(int32_t));
    if (!ids || nb_tokenize(&tok, text, text_len, 1, 1, ids, n_prompt, &n_prompt, &err)) {
        fprintf(stderr, "nb-run: tokenize: %s\n", err.msg);
        return 1;
    }
    if (n_prompt == 0) {
        fprintf(stderr, "nb-run: the prompt is empty\n");
        return 1;
    }
    if (n_prompt + n_gen > nb_ctx_n_ctx(ctx)) {
        int32_t room = nb_ctx_n_ctx(ctx) - n_prompt;
        if (room < 0) {
            fprintf(stderr, "nb-run: prompt of %d tokens exceeds the context of %d\n", n_prompt,
                    nb_ctx_n_ctx(ctx));
            return 1;
        }
        n_gen = room;
    }

    /* prompt */
    int32_t n_vocab = m->hp.n_vocab;
    float *logits = malloc((size_t)n_vocab * sizeof(float) * (logits_out ? (size_t)n_prompt : 1));
    if (!logits) return 1;
    if (print_ids) {
        for (int32_t i = 0; i < n_prompt; i++) printf("%s%d", i ? " " : "", ids[i]);
    } else if (!chat) {
        fwrite(text, 1, text_len, stdout);
    }
    fflush(stdout);
    double t1 = nb_tool_now_s();
    /* the whole prompt in one call (micro-batches inside); every
     * position's logits only when they are written out */
    nb_status ds = logits_out ? nb_decode_all(ctx, ids, n_prompt, logits, &err)
                              : nb_decode(ctx, ids, n_prompt, logits, &err);
    if (ds) {
        fprintf(stderr, "\nnb-run: %s\n", err.msg);
        return 1;
    }
    for (int32_t i = 0; i < n_prompt; i++) nb_sampler_accept(smp, ids[i]);
    double t_prompt = nb_tool_now_s() - t1;
    if (logits_out &&
        write_nblg(logits_out, model_path, ids, n_prompt, n_vocab, logits))
        return 1;
    const float *last = logits_out ? logits + (size_t)(n_prompt - 1) * n_vocab : logits;
    float *cur = malloc((size_t)n_vocab * sizeof(float));
    memcpy(cur, last, (size_t)n_vocab * sizeof(float));

    /* generate */
    double t2 = nb_tool_now_s();
    int n_done = 0;
    for (; n_done < n_gen; n_done++) {
        int32_t id = nb_sampler_sample(smp, cur);
        nb_sampler_accept(smp, id);
        if (print_ids) {
            printf(" %d", id);
            fflush(stdout);
        } else if (id != tok.eos_id && id != end_of_turn) {
            print_piece(&tok, id);
        }
        if (id == tok.eos_id || id == end_of_turn) {
            n_done++;
            break;
        }
        if (n_done + 1 < n_gen && nb_decode(ctx, &id, 1, cur, &err)) {
            fprintf(stderr, "\nnb-run: %s\n", err.msg);
            return 1;
        }
    }
    double t_gen = nb_tool_now_s() - t2;
    printf("\n");
    fflush(stdout);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr,
            "\nnb-run: model %.1f MiB | load %.1f ms | prompt %d tokens, %.1f tok/s | generated %d "
            "tokens, %.1f tok/s | peak RSS %.1f MiB | %s path, KV %s\n",
            fm.size / 1048576.0, 1e3 * t_load, n_prompt, t_prompt > 0 ? n_prompt / t_prompt : 0.0, n_done,
            t_gen > 0 ? n_done / t_gen : 0.0, ru.ru_maxrss / 1024.0,
            cp.float_path ? "float" : "fast", cp.kv_f32 ? "F32" : "F16");
    free(cur);
    free(logits);
    free(ids);
    if (text != prompt) free(text);
    free(samp_mem);
    free(arena);
    nb_tokenizer_free(&tok);
    nb_gguf_free(&g);
    nb_file_map_close(&fm);
    free(m);
    return 0;
}
