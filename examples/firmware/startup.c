/* Reset and semihosting for the MPS2 firmware: the vector table, .data
 * copied from flash and .bss zeroed, the FPU enabled (the library is built
 * for the hard-float ABI), then main; output and exit go to the debugger or
 * QEMU through Arm semihosting (BKPT 0xAB). */
#include <stddef.h>
#include <stdint.h>

#include "semihost.h"

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];
int main(void);
void reset_handler(void);
static void fault_handler(void);

/* Initial stack pointer, then the handlers: reset, NMI, HardFault,
 * MemManage, BusFault, UsageFault. Every fault stops the run with an
 * error status, so a crash under QEMU ends the test instead of hanging. */
__attribute__((section(".isr_vector"), used)) static void (*const vectors[])(void) = {
    (void (*)(void))_estack, reset_handler, fault_handler, fault_handler,
    fault_handler,           fault_handler, fault_handler,
};

static uint32_t semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void semihost_write(const char *text, size_t len) {
    /* SYS_WRITE0 prints a NUL-terminated string: copy in pieces */
    char buf[65];
    while (len > 0) {
        size_t n = len < 64 ? len : 64;
        for (size_t i = 0; i < n; i++) buf[i] = text[i];
        buf[n] = 0;
        semihost(0x04, buf);
        text += n;
        len -= n;
    }
}

void semihost_exit(int status) {
    /* SYS_EXIT: ADP_Stopped_ApplicationExit ends QEMU with status 0;
     * ADP_Stopped_RunTimeErrorUnknown with status 1 */
    semihost(0x18, (const void *)(uintptr_t)(status == 0 ? 0x20026 : 0x20023));
    for (;;) {
    }
}

/* No heap: newlib's snprintf references malloc (for stream buffers it
 * never needs when printing into a string), which pulls in _sbrk. This one
 * refuses, so a malloc that slipped in would fail instead of quietly
 * growing into the stack. */
void *_sbrk(ptrdiff_t increment);
void *_sbrk(ptrdiff_t increment) {
    (void)increment;
    return (void *)-1;
}

static void fault_handler(void) {
    semihost_write("fault\n", 6);
    semihost_exit(1);
}

void reset_handler(void) {
    for (uint32_t *src = _sidata, *dst = _sdata; dst < _edata;) *dst++ = *src++;
    for (uint32_t *dst = _sbss; dst < _ebss;) *dst++ = 0;
    /* CPACR: full access to coprocessors 10 and 11 (the FPU) */
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    semihost_exit(main());
}
