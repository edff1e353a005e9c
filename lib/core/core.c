/* Status strings, error formatting, allocators, arena. */
#include "core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *nb_status_str(nb_status s) {
    switch (s) {
    case NB_OK: return "ok";
    case NB_ERR_INVALID_ARG: return "invalid argument";
    case NB_ERR_FORMAT: return "malformed input";
    case NB_ERR_UNSUPPORTED: return "unsupported";
    case NB_ERR_NOT_FOUND: return "not found";
    case NB_ERR_TYPE: return "wrong type";
    case NB_ERR_RANGE: return "out of range";
    case NB_ERR_NOMEM: return "out of memory";
    case NB_ERR_IO: return "i/o error";
    case NB_ERR_CANCELLED: return "cancelled";
    }
    return "unknown status";
}

/* vsnprintf is the one formatted-output routine the core uses; it writes to
 * a caller buffer, never to a stream. */
nb_status nb_errf(nb_err *err, nb_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

#ifndef NB_NO_MALLOC
static void *default_alloc(void *user, size_t size) {
    (void)user;
    return malloc(size ? size : 1);
}
static void default_free(void *user, void *ptr) {
    (void)user;
    free(ptr);
}
#else
static void *default_alloc(void *user, size_t size) {
    (void)user;
    (void)size;
    return NULL; /* built without malloc: callers must pass an allocator */
}
#define default_free NULL
#endif

nb_allocator nb_default_allocator(void) {
    nb_allocator a = {default_alloc, default_free, NULL};
    return a;
}

void *nb_alloc(const nb_allocator *a, size_t size) {
    if (!a) {
        nb_allocator d = nb_default_allocator();
        return d.alloc(d.user, size);
    }
    return a->alloc(a->user, size);
}

void nb_free(const nb_allocator *a, void *ptr) {
    if (!ptr) return;
    if (!a) {
        nb_allocator d = nb_default_allocator();
        if (d.free) d.free(d.user, ptr);
        return;
    }
    if (a->free) a->free(a->user, ptr);
}

/* ---- arena */

void nb_arena_init(nb_arena *a, void *mem, size_t size) {
    a->base = (uint8_t *)mem;
    a->size = mem ? size : 0;
    a->used = 0;
}

void *nb_arena_alloc(nb_arena *a, size_t size) {
    if (!a->base) return NULL; /* NULL + 0 is undefined behaviour */
    uintptr_t start = (uintptr_t)(a->base + a->used);
    size_t pad = (size_t)((16 - (start & 15)) & 15);
    if (pad > a->size - a->used || size > a->size - a->used - pad) return NULL;
    void *p = a->base + a->used + pad;
    a->used += pad + size;
    return p;
}

static void *arena_alloc_cb(void *user, size_t size) {
    return nb_arena_alloc((nb_arena *)user, size);
}

nb_allocator nb_arena_allocator(nb_arena *a) {
    nb_allocator al = {arena_alloc_cb, NULL, a};
    return al;
}
