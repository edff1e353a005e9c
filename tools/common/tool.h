/* Small helpers shared by the nb-* tools (hosted code, not the library). */
#ifndef NB_TOOL_H
#define NB_TOOL_H

#include <stddef.h>

/* Monotonic clock, seconds. */
double nb_tool_now_s(void);
/* A whole file, NUL-terminated, malloc'd; NULL (errno set) on failure.
 * *len receives the byte count (without the NUL). */
char *nb_tool_read_file(const char *path, size_t *len);

#endif
