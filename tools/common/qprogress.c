#define _POSIX_C_SOURCE 200809L
#include "qprogress.h"
#include "tool.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

void nb_tool_catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

void nb_tool_progress_init(nb_tool_progress *pg, int quiet) {
    memset(pg, 0, sizeof *pg);
    pg->tty = isatty(2);
    pg->quiet = quiet;
    pg->t0 = nb_tool_now_s();
}

static void fmt_shape(const nb_quant_status *s, char *buf, size_t size) {
    int n = snprintf(buf, size, "%lld", (long long)s->ne[0]);
    for (uint32_t d = 1; d < s->n_dims && n > 0 && (size_t)n < size; d++)
        n += snprintf(buf + n, size - (size_t)n, " x %lld", (long long)s->ne[d]);
}

void nb_tool_progress_clear(nb_tool_progress *pg) {
    if (pg->bar_shown) fprintf(stderr, "\r\033[K");
    pg->bar_shown = 0;
}

int nb_tool_on_progress(void *user, const nb_quant_status *s) {
    nb_tool_progress *pg = user;
    if (interrupted) return 1;
    if (s->event == NB_QUANT_TENSOR_END && !pg->quiet) {
        char shape[64];
        fmt_shape(s, shape, sizeof shape);
        nb_tool_progress_clear(pg);
        printf("[%4lld/%4lld] %-32s %-16s %6s -> %-6s", (long long)s->i_tensor + 1,
               (long long)s->n_tensors, s->name, shape, nb_type_name(s->in_type),
               nb_type_name(s->choice.type));
        if (s->choice.quantize)
            printf("  rel RMSE %.5f%s", s->rel_rmse, s->used_imatrix ? "  imatrix" : "");
        else
            printf("  (copied)");
        printf("  %8.2f -> %8.2f KiB", s->bytes_in / 1024.0, s->bytes_out / 1024.0);
        if (s->choice.fallback)
            printf("\n             fallback %s -> %s: %s", nb_type_name(s->choice.wanted),
                   nb_type_name(s->choice.type), s->choice.why);
        printf("\n");
        fflush(stdout);
    }
    double now = nb_tool_now_s();
    /* redraw at most ten times a second (and always on the last tensor) */
    if (pg->tty && s->total_in > 0 &&
        (now - pg->last_draw >= 0.1 || s->i_tensor + 1 == s->n_tensors)) {
        pg->last_draw = now;
        double t = now - pg->t0, frac = (double)s->done_in / (double)s->total_in;
        double mbs = t > 0 ? s->done_in / 1048576.0 / t : 0;
        double eta = frac > 0 ? t * (1 - frac) / frac : 0;
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\r\033[K[%s] %3d%%  tensor %lld/%lld  %.1f MB/s  ETA %d:%02d", bar,
                (int)(frac * 100), (long long)s->i_tensor + 1, (long long)s->n_tensors, mbs,
                (int)eta / 60, (int)eta % 60);
        fflush(stderr);
        pg->bar_shown = 1;
    }
    return 0;
}

void nb_tool_print_summary(const nb_quant_summary *sum, double t) {
    double n = sum->n_elements ? (double)sum->n_elements : 1;
    printf("size: %.2f MiB -> %.2f MiB (%.2f -> %.2f bits per weight), file %.2f MiB\n",
           sum->bytes_in / 1048576.0, sum->bytes_out / 1048576.0, 8.0 * sum->bytes_in / n,
           8.0 * sum->bytes_out / n, sum->file_bytes / 1048576.0);
    printf("tensors: %lld, %lld quantized, %lld fell back to another type, %lld with imatrix\n",
           (long long)sum->n_tensors, (long long)sum->n_quantized, (long long)sum->n_fallback,
           (long long)sum->n_imatrix);
    printf("time: %.2f s (%.1f MB/s of input)\n", t, t > 0 ? sum->bytes_in / 1048576.0 / t : 0.0);
}
