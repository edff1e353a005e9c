/* Arm semihosting: text to the host's console, and the exit status. */
#ifndef NB_SEMIHOST_H
#define NB_SEMIHOST_H
#include <stddef.h>
void semihost_write(const char *text, size_t len);
void semihost_exit(int status) __attribute__((noreturn));
#endif
