/* Chat templates: family detection, the exact prompt text of each family,
 * SmolLM2's default system message, buffer sizing, nb-run --chat errors. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static const nb_chat_msg conv[] = {
    {"system", "You are a pirate."},
    {"user", "Hello"},
    {"assistant", "Ahoy!"},
    {"user", "Where is the treasure?"},
};

static void expect(int kind, const nb_chat_msg *m, int n, const char *want) {
    nb_chat_template t;
    memset(&t, 0, sizeof t);
    t.kind = kind;
    char buf[1024];
    size_t len = 0;
    nb_err err = {0};
    CHECK_OK(nb_chat_format(&t, m, n, 1, buf, sizeof buf, &len, &err), err);
    CHECK_MSG(!strcmp(buf, want) && len == strlen(want), "%s:\n got  [%s]\n want [%s]",
              nb_chat_template_name(kind), buf, want);
}

static void t_formats(void) {
    expect(NB_CHAT_CHATML, conv, 4,
           "<|im_start|>system\nYou are a pirate.<|im_end|>\n"
           "<|im_start|>user\nHello<|im_end|>\n"
           "<|im_start|>assistant\nAhoy!<|im_end|>\n"
           "<|im_start|>user\nWhere is the treasure?<|im_end|>\n"
           "<|im_start|>assistant\n");
    expect(NB_CHAT_LLAMA3, conv, 4,
           "<|start_header_id|>system<|end_header_id|>\n\nYou are a pirate.<|eot_id|>"
           "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\nAhoy!<|eot_id|>"
           "<|start_header_id|>user<|end_header_id|>\n\nWhere is the treasure?<|eot_id|>"
           "<|start_header_id|>assistant<|end_header_id|>\n\n");
    /* Gemma has no system role: it opens the first user turn */
    expect(NB_CHAT_GEMMA, conv, 4,
           "<start_of_turn>user\nYou are a pirate.\n\nHello<end_of_turn>\n"
           "<start_of_turn>model\nAhoy!<end_of_turn>\n"
           "<start_of_turn>user\nWhere is the treasure?<end_of_turn>\n"
           "<start_of_turn>model\n");
    expect(NB_CHAT_PHI3, conv, 4,
           "<|system|>\nYou are a pirate.<|end|>\n"
           "<|user|>\nHello<|end|>\n"
           "<|assistant|>\nAhoy!<|end|>\n"
           "<|user|>\nWhere is the treasure?<|end|>\n"
           "<|assistant|>\n");
}

static void t_detect(void) {
    struct { const char *tmpl; int kind; } cases[] = {
        {"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}", NB_CHAT_CHATML},
        {"{{- bos_token }}{%- for m in messages %}{{- '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] | trim + '<|eot_id|>' }}{%- endfor %}", NB_CHAT_LLAMA3},
        {"{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}", NB_CHAT_GEMMA},
        {"{% for message in messages %}{{'<|' + message['role'] + '|>' + '\\n' + message['content'] + '<|end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}", NB_CHAT_PHI3},
        {"{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}", NB_CHAT_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_MSG(nb_chat_template_detect(cases[i].tmpl, strlen(cases[i].tmpl)) == cases[i].kind,
                  "case %zu", i);
    for (int k = NB_CHAT_CHATML; k <= NB_CHAT_PHI3; k++)
        CHECK(nb_chat_template_from_name(nb_chat_template_name(k)) == k);
    CHECK(nb_chat_template_from_name("jinja") == NB_CHAT_UNKNOWN);
}

/* A model's template from its GGUF: SmolLM2's ChatML with its default
 * system message (inserted only when the conversation has none); Gemma 3
 * has no template and gets gemma from its architecture. */
static void t_real_models(void) {
    const char *paths[] = {"models/cache/SmolLM2-135M-Instruct.Q4_1.gguf",
                           "models/cache/gemma-3-270m-q4_k_m.gguf"};
    int found = 0;
    for (int i = 0; i < 2; i++) {
        nb_file_map fm;
        nb_gguf g;
        nb_err err = {0};
        if (nb_file_map_open(paths[i], &fm, &err)) continue;
        found++;
        CHECK_OK(nb_gguf_parse(fm.data, fm.size, &g, &err), err);
        nb_chat_template t;
        CHECK_OK(nb_chat_template_for_model(&g, &t, &err), err);
        if (i == 0) {
            CHECK(t.kind == NB_CHAT_CHATML);
            CHECK_MSG(!strcmp(t.default_system,
                              "You are a helpful AI assistant named SmolLM, trained by Hugging Face"),
                      "default system: [%s]", t.default_system);
            char buf[512];
            nb_chat_msg m = {"user", "Hi"};
            CHECK_OK(nb_chat_format(&t, &m, 1, 1, buf, sizeof buf, NULL, &err), err);
            CHECK_MSG(!strcmp(buf, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, "
                                   "trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                                   "<|im_start|>assistant\n"), "%s", buf);
            CHECK_OK(nb_chat_format(&t, conv, 2, 0, buf, sizeof buf, NULL, &err), err);
            CHECK(!strstr(buf, "SmolLM"));
        } else {
            CHECK(t.kind == NB_CHAT_GEMMA);
        }
        nb_gguf_free(&g);
        nb_file_map_close(&fm);
    }
    if (!found) nb_test_skip("models/cache not filled (make models)");
}

static void t_sizes_and_errors(void) {
    nb_chat_template t = {NB_CHAT_CHATML, ""};
    nb_chat_msg m = {"user", "Hello"};
    size_t need = 0;
    nb_err err = {0};
    CHECK(nb_chat_format(&t, &m, 1, 1, NULL, 0, &need, &err) == NB_ERR_RANGE);
    CHECK(need == strlen("<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"));
    char small[10];
    CHECK(nb_chat_format(&t, &m, 1, 1, small, sizeof small, &need, &err) == NB_ERR_RANGE);
    CHECK(small[9] == 0 && strlen(small) == 9);
    char *buf = malloc(need + 1);
    CHECK_OK(nb_chat_format(&t, &m, 1, 1, buf, need + 1, NULL, &err), err);
    free(buf);
    nb_chat_msg bad = {NULL, "x"};
    CHECK(nb_chat_format(&t, &bad, 1, 1, small, sizeof small, NULL, &err) == NB_ERR_INVALID_ARG);
    t.kind = 99;
    CHECK(nb_chat_format(&t, &m, 1, 1, small, sizeof small, NULL, &err) == NB_ERR_UNSUPPORTED);
    CHECK(nb_chat_end_of_turn(&t) == NULL);
}

static void t_nb_run_chat_errors(void) {
    const char *sh = nb_test_shared_dir();
    if (!sh) { nb_test_skip("../shared not found"); return; }
    char cmd[2048], log[512];
    snprintf(log, sizeof log, "%s/log.txt", nb_test_tmp_dir());
    /* stories260K has no template and llama implies none */
    snprintf(cmd, sizeof cmd, "%s/nb-run -m %s/models/tinystories/stories260K.gguf -p hi --chat > %s 2>&1",
             nb_test_bin_dir(), sh, log);
    int rc = system(cmd);
    CHECK(rc != -1 && (rc >> 8) == 1);
    size_t n;
    char *t = nb_test_read_file(log, &n);
    if (t) t[n] = 0;
    CHECK_MSG(t && strstr(t, "no chat template") && strstr(t, "--chat-template"), "%s", t ? t : "");
    free(t);
    snprintf(cmd, sizeof cmd, "%s/nb-run -m %s/models/tinystories/stories260K.gguf -p hi --chat-template jinja > %s 2>&1",
             nb_test_bin_dir(), sh, log);
    rc = system(cmd);
    CHECK(rc != -1 && (rc >> 8) == 2);
    /* an explicit template works on any model */
    snprintf(cmd, sizeof cmd, "%s/nb-run -m %s/models/tinystories/stories260K.gguf -p 'Once upon a time' -n 8 --temp 0 --chat-template gemma > %s 2>&1",
             nb_test_bin_dir(), sh, log);
    rc = system(cmd);
    CHECK(rc != -1 && (rc >> 8) == 0);
}

int main(void) {
    RUN(t_formats);
    RUN(t_detect);
    RUN(t_real_models);
    RUN(t_sizes_and_errors);
    RUN(t_nb_run_chat_errors);
    return nb_test_done();
}
