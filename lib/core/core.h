/* Internal helpers shared by the library's layers. Not part of the API. */
#ifndef NB_CORE_H
#define NB_CORE_H

#include "nibble.h"

#include <string.h>

#if defined(__GNUC__)
#define NB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NB_PRINTF(a, b)
#endif

/* Fill `err` (may be NULL) and return `status`. */
nb_status nb_errf(nb_err *err, nb_status status, const char *fmt, ...) NB_PRINTF(3, 4);

/* Allocation through an nb_allocator (NULL = the default one). */
void *nb_alloc(const nb_allocator *a, size_t size);
void nb_free(const nb_allocator *a, void *ptr);
/* The default allocator (malloc/free), or one whose alloc fails under
 * NB_NO_MALLOC. */
nb_allocator nb_default_allocator(void);

/* Little-endian loads that work on any host and any alignment (GGUF is LE;
 * its KV section is not aligned). */
static inline uint16_t nb_load_u16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t nb_load_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}
static inline uint64_t nb_load_u64(const uint8_t *p) {
    return (uint64_t)nb_load_u32(p) | ((uint64_t)nb_load_u32(p + 4) << 32);
}
static inline float nb_load_f32(const uint8_t *p) {
    uint32_t u = nb_load_u32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline double nb_load_f64(const uint8_t *p) {
    uint64_t u = nb_load_u64(p);
    double d;
    memcpy(&d, &u, 8);
    return d;
}
static inline void nb_store_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void nb_store_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void nb_store_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Overflow-checked arithmetic: return 1 on overflow. */
static inline int nb_mul_overflow_u64(uint64_t a, uint64_t b, uint64_t *out) {
    if (a != 0 && b > UINT64_MAX / a) return 1;
    *out = a * b;
    return 0;
}
static inline int nb_add_overflow_u64(uint64_t a, uint64_t b, uint64_t *out) {
    if (b > UINT64_MAX - a) return 1;
    *out = a + b;
    return 0;
}

#endif
