/* Chat templates. A GGUF carries its chat format as a Jinja template
 * (tokenizer.chat_template); nibble runs no Jinja. Like llama.cpp's
 * built-in templates (llm_chat_apply_template) it recognizes the family
 * from marker strings in the template and writes that family's format:
 *
 *   chatml  <|im_start|>ROLE\nCONTENT<|im_end|>\n ...  <|im_start|>assistant\n
 *   llama3  <|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|> ...
 *           <|start_header_id|>assistant<|end_header_id|>\n\n
 *   gemma   <start_of_turn>user\nCONTENT<end_of_turn>\n ... <start_of_turn>model\n
 *           (no system role: the system text opens the first user turn)
 *   phi3    <|ROLE|>\nCONTENT<|end|>\n ...  <|assistant|>\n
 *
 * A ChatML template that inserts a default system message when the
 * conversation has none (SmolLM2's does) gets it inserted here too. */
#include "../core/core.h"

#include <stdio.h>
#include <string.h>

static const char *const names[] = {"unknown", "chatml", "llama3", "gemma", "phi3"};

const char *nb_chat_template_name(int t) {
    return t > 0 && t < (int)(sizeof names / sizeof names[0]) ? names[t] : "unknown";
}

int nb_chat_template_from_name(const char *name) {
    for (int t = 1; t < (int)(sizeof names / sizeof names[0]); t++)
        if (name && !strcmp(name, names[t])) return t;
    return NB_CHAT_UNKNOWN;
}

static const char *find_n(const char *s, size_t n, const char *sub) {
    size_t m = strlen(sub);
    for (size_t i = 0; m <= n && i <= n - m; i++)
        if (!memcmp(s + i, sub, m)) return s + i;
    return NULL;
}

int nb_chat_template_detect(const char *tmpl, size_t len) {
    if (!tmpl) return NB_CHAT_UNKNOWN;
    if (find_n(tmpl, len, "<|im_start|>")) return NB_CHAT_CHATML;
    if (find_n(tmpl, len, "<|start_header_id|>") && find_n(tmpl, len, "<|end_header_id|>"))
        return NB_CHAT_LLAMA3;
    if (find_n(tmpl, len, "<start_of_turn>")) return NB_CHAT_GEMMA;
    if (find_n(tmpl, len, "<|assistant|>") && find_n(tmpl, len, "<|end|>")) return NB_CHAT_PHI3;
    return NB_CHAT_UNKNOWN;
}

/* The default system text a ChatML template writes as a literal:
 * '<|im_start|>system\n' TEXT '<|im_end|>' inside one quoted string. */
static void default_system(const char *tmpl, size_t len, nb_chat_template *t) {
    static const char *const opens[] = {"<|im_start|>system\\n", "<|im_start|>system\n"};
    t->default_system[0] = 0;
    for (int k = 0; k < 2; k++) {
        const char *p = find_n(tmpl, len, opens[k]);
        if (!p) continue;
        p += strlen(opens[k]);
        const char *end = find_n(p, len - (size_t)(p - tmpl), "<|im_end|>");
        if (!end) return;
        /* a literal only: no Jinja expression or quote inside */
        size_t n = (size_t)(end - p);
        if (n == 0 || n >= sizeof t->default_system || find_n(p, n, "{") || find_n(p, n, "'") ||
            find_n(p, n, "\""))
            return;
        memcpy(t->default_system, p, n);
        t->default_system[n] = 0;
        return;
    }
}

nb_status nb_chat_template_for_model(const nb_gguf *g, nb_chat_template *t, nb_err *err) {
    memset(t, 0, sizeof *t);
    nb_str s;
    if (nb_gguf_get_str(g, "tokenizer.chat_template", &s, NULL) == NB_OK) {
        t->kind = nb_chat_template_detect(s.ptr, (size_t)s.len);
        if (t->kind == NB_CHAT_UNKNOWN)
            return nb_errf(err, NB_ERR_UNSUPPORTED,
                           "the model's chat template (tokenizer.chat_template, %llu bytes) is "
                           "not one of the known families (chatml, llama3, gemma, phi3); "
                           "choose one explicitly",
                           (unsigned long long)s.len);
        if (t->kind == NB_CHAT_CHATML) default_system(s.ptr, (size_t)s.len, t);
        return NB_OK;
    }
    /* no template in the file: the architecture's own format */
    nb_str arch = {"", 0};
    nb_gguf_get_str(g, "general.architecture", &arch, NULL);
    if (arch.len >= 5 && !memcmp(arch.ptr, "gemma", 5)) t->kind = NB_CHAT_GEMMA;
    else if (nb_str_eq(arch, "phi3")) t->kind = NB_CHAT_PHI3;
    if (t->kind) return NB_OK;
    return nb_errf(err, NB_ERR_NOT_FOUND,
                   "the model has no chat template (tokenizer.chat_template) and its "
                   "architecture '%.*s' implies none; choose one explicitly",
                   (int)arch.len, arch.ptr);
}

/* An appender that counts what does not fit (snprintf-style). */
typedef struct out {
    char *buf;
    size_t size, len;
} out;

static void put(out *o, const char *s, size_t n) {
    if (o->len < o->size) {
        size_t room = o->size - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void puts_(out *o, const char *s) {
    put(o, s, strlen(s));
}

/* Gemma's template trims each message. */
static void put_trimmed(out *o, const char *s) {
    size_t n = strlen(s);
    while (n && (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
    put(o, s, n);
}

nb_status nb_chat_format(const nb_chat_template *t, const nb_chat_msg *msgs, int n_msgs,
                         int add_assistant, char *buf, size_t size, size_t *len, nb_err *err) {
    out o = {buf, size, 0};
    if (!t || (n_msgs > 0 && !msgs) || n_msgs < 0)
        return nb_errf(err, NB_ERR_INVALID_ARG, "nb_chat_format: bad arguments");
    for (int i = 0; i < n_msgs; i++)
        if (!msgs[i].role || !msgs[i].content)
            return nb_errf(err, NB_ERR_INVALID_ARG, "chat message %d has no role or content", i);
    switch (t->kind) {
    case NB_CHAT_CHATML:
        if (t->default_system[0] && (n_msgs == 0 || strcmp(msgs[0].role, "system"))) {
            puts_(&o, "<|im_start|>system\n");
            puts_(&o, t->default_system);
            puts_(&o, "<|im_end|>\n");
        }
        for (int i = 0; i < n_msgs; i++) {
            puts_(&o, "<|im_start|>");
            puts_(&o, msgs[i].role);
            puts_(&o, "\n");
            puts_(&o, msgs[i].content);
            puts_(&o, "<|im_end|>\n");
        }
        if (add_assistant) puts_(&o, "<|im_start|>assistant\n");
        break;
    case NB_CHAT_LLAMA3:
        for (int i = 0; i < n_msgs; i++) {
            puts_(&o, "<|start_header_id|>");
            puts_(&o, msgs[i].role);
            puts_(&o, "<|end_header_id|>\n\n");
            put_trimmed(&o, msgs[i].content);
            puts_(&o, "<|eot_id|>");
        }
        if (add_assistant) puts_(&o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case NB_CHAT_GEMMA: {
        const char *system = NULL;
        for (int i = 0; i < n_msgs; i++) {
            if (!strcmp(msgs[i].role, "system")) { /* folded into the next user turn */
                system = msgs[i].content;
                continue;
            }
            const char *role = !strcmp(msgs[i].role, "assistant") ? "model" : msgs[i].role;
            puts_(&o, "<start_of_turn>");
            puts_(&o, role);
            puts_(&o, "\n");
            if (system && !strcmp(role, "user")) {
                put_trimmed(&o, system);
                puts_(&o, "\n\n");
                system = NULL;
            }
            put_trimmed(&o, msgs[i].content);
            puts_(&o, "<end_of_turn>\n");
        }
        if (add_assistant) puts_(&o, "<start_of_turn>model\n");
        break;
    }
    case NB_CHAT_PHI3:
        for (int i = 0; i < n_msgs; i++) {
            puts_(&o, "<|");
            puts_(&o, msgs[i].role);
            puts_(&o, "|>\n");
            puts_(&o, msgs[i].content);
            puts_(&o, "<|end|>\n");
        }
        if (add_assistant) puts_(&o, "<|assistant|>\n");
        break;
    default:
        return nb_errf(err, NB_ERR_UNSUPPORTED, "unknown chat template kind %d", t->kind);
    }
    if (o.size) buf[o.len < o.size ? o.len : o.size - 1] = 0;
    if (len) *len = o.len;
    if (o.len >= o.size)
        return nb_errf(err, NB_ERR_RANGE, "chat prompt needs %zu bytes, the buffer has %zu",
                       o.len + 1, size);
    return NB_OK;
}

const char *nb_chat_end_of_turn(const nb_chat_template *t) {
    switch (t ? t->kind : 0) {
    case NB_CHAT_CHATML: return "<|im_end|>";
    case NB_CHAT_LLAMA3: return "<|eot_id|>";
    case NB_CHAT_GEMMA: return "<end_of_turn>";
    case NB_CHAT_PHI3: return "<|end|>";
    default: return NULL;
    }
}
