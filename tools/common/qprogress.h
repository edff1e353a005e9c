/* Progress lines and bar of nb-quantize and nb-convert (nb_quant_status
 * events), and the signal handling that makes Ctrl-C stop them cleanly. */
#ifndef NB_TOOL_QPROGRESS_H
#define NB_TOOL_QPROGRESS_H

#include "nibble.h"

typedef struct nb_tool_progress {
    int tty, quiet;
    double t0, last_draw;
    int bar_shown;
} nb_tool_progress;

/* SIGINT/SIGTERM/SIGHUP make the next progress callback cancel the run. */
void nb_tool_catch_signals(void);
void nb_tool_progress_init(nb_tool_progress *pg, int quiet);
/* nb_quant_progress_fn: per-tensor lines on stdout (unless quiet), a bar
 * on stderr when it is a terminal; returns 1 after a signal. */
int nb_tool_on_progress(void *user, const nb_quant_status *s);
void nb_tool_progress_clear(nb_tool_progress *pg);
/* The closing summary lines (size, tensors, time). */
void nb_tool_print_summary(const nb_quant_summary *sum, double seconds);

#endif
