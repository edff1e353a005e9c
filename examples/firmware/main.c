/* Firmware for the MPS2 AN386 board (Cortex-M4) under qemu-system-arm:
 * the embedded demo (examples/embedded/demo.c) with stories260K Q8_0 in
 * flash and a static RAM block, text out through semihosting. `make
 * firmware-run` builds it, runs it and compares the text with the host's
 * greedy output. */
#include "../embedded/demo.h"
#include "semihost.h"

/* The RAM budget (the board has 4 MiB): about 100 KiB are used at n_ctx
 * 64 with one token of scratch; the run prints what it took */
static _Alignas(16) unsigned char g_ram[384 * 1024];

static void to_semihost(void *user, const char *text, size_t len) {
    (void)user;
    semihost_write(text, len);
}

/* decimal without printf: the firmware links no stdio */
static void put_num(const char *label, size_t v) {
    char buf[24];
    int n = 0;
    do {
        buf[sizeof buf - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    size_t len = 0;
    while (label[len]) len++;
    semihost_write(label, len);
    semihost_write(buf + sizeof buf - n, (size_t)n);
}

int main(void) {
    nb_demo_report r;
    if (nb_demo_run(g_ram, sizeof g_ram, 32, to_semihost, 0, &r) != NB_OK) return 1;
    /* the budget, after the text (the run's check compares only the text) */
    put_num("# flash: model ", nb_model_bytes_size);
    put_num(" bytes; RAM used ", r.used);
    put_num(" of ", sizeof g_ram);
    put_num(": context ", r.ctx);
    put_num(", model views ", r.model);
    put_num(", tokenizer ", r.tokenizer);
    put_num(", index ", r.index);
    semihost_write("\n", 1);
    return 0;
}
