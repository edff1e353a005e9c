/* core: fp16/bf16 conversions against an independent reference (and the
 * CPU's F16C instructions when built with them), arena, errors. */
#include "harness.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__F16C__) && !defined(NB_NO_SIMD)
#include <immintrin.h>
#define HAVE_F16C 1
#endif

static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Value of a finite half by the definition: (-1)^s * 2^(e-15) * 1.m, or
 * 2^-14 * 0.m for subnormals. */
static double half_value(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
    return (h & 0x8000) ? -v : v;
}

/* Reference float -> half: nearest representable, ties to even mantissa,
 * overflow to inf (|x| >= 65520). Binary search over positive halves,
 * whose values increase with their bit patterns. */
static uint16_t ref_to_half(float f) {
    uint16_t sign = (bits(f) >> 16) & 0x8000;
    double x = fabs((double)f);
    if (isnan(f)) return 0; /* handled by caller */
    if (x >= 65520.0) return sign | 0x7c00;
    int lo = 0, hi = 0x7bff; /* largest finite */
    while (lo < hi) { /* first half >= x */
        int mid = (lo + hi) / 2;
        if (half_value((uint16_t)mid) >= x) hi = mid; else lo = mid + 1;
    }
    int h = lo;
    if (h > 0 && half_value((uint16_t)h) != x) {
        double up = half_value((uint16_t)h) - x, down = x - half_value((uint16_t)(h - 1));
        if (down < up || (down == up && ((h - 1) & 1) == 0)) h = h - 1;
    }
    return (uint16_t)(sign | h);
}

static void t_fp16_to_f32_all(void) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = nb_fp16_to_f32((uint16_t)h);
        int e = (h >> 10) & 31;
        if (e == 31) {
            CHECK_MSG((h & 1023) ? isnan(f) : isinf(f), "h=0x%04x", h);
            continue;
        }
        CHECK_MSG((double)f == half_value((uint16_t)h) && (bits(f) >> 31) == (h >> 15),
                  "h=0x%04x -> %g", h, f);
#ifdef HAVE_F16C
        CHECK_MSG(bits(f) == bits(_cvtsh_ss((unsigned short)h)), "h=0x%04x vs F16C", h);
#endif
    }
}

static void t_f32_to_fp16(void) {
    /* edges: every half, the midpoints between neighbours, +-1 ulp around */
    for (uint32_t h = 0; h < 0x7c00; h++) {
        float v = (float)half_value((uint16_t)h);
        float mid = (float)((half_value((uint16_t)h) + half_value((uint16_t)(h + 1))) / 2);
        float probes[] = {v, -v, mid, -mid, from_bits(bits(mid) + 1), from_bits(bits(mid) - 1)};
        for (int i = 0; i < 6; i++) {
            uint16_t got = nb_f32_to_fp16(probes[i]), want = ref_to_half(probes[i]);
            CHECK_MSG(got == want, "%a -> 0x%04x, want 0x%04x", (double)probes[i], got, want);
        }
    }
    /* a stride over all float bit patterns */
    for (uint64_t u = 0; u < (1ull << 32); u += 997) {
        float f = from_bits((uint32_t)u);
        uint16_t got = nb_f32_to_fp16(f);
        if (isnan(f)) {
            CHECK_MSG((got & 0x7c00) == 0x7c00 && (got & 0x3ff), "NaN 0x%08x -> 0x%04x", (uint32_t)u, got);
        } else {
            CHECK_MSG(got == ref_to_half(f), "0x%08x -> 0x%04x, want 0x%04x", (uint32_t)u, got,
                      ref_to_half(f));
        }
#ifdef HAVE_F16C
        CHECK_MSG(got == _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT), "0x%08x vs F16C", (uint32_t)u);
#endif
        if (nb_test_failed()) return;
    }
}

static void t_bf16(void) {
    CHECK(nb_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(nb_bf16_to_f32(0x3f80) == 1.0f);
    /* ties to even: 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125 */
    CHECK(nb_f32_to_bf16(1.00390625f) == 0x3f80);
    CHECK(nb_f32_to_bf16(1.01171875f) == 0x3f82);
    CHECK(nb_f32_to_bf16(from_bits(0x3f808001)) == 0x3f81);
    CHECK((nb_f32_to_bf16(NAN) & 0x7fc0) == 0x7fc0);
    CHECK(nb_f32_to_bf16(INFINITY) == 0x7f80);
    CHECK(nb_f32_to_bf16(-INFINITY) == 0xff80);
    CHECK(nb_f32_to_bf16(from_bits(0x7f7fffff)) == 0x7f80); /* max float rounds up to inf */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = nb_bf16_to_f32((uint16_t)h);
        if (!isnan(f)) CHECK_MSG(nb_f32_to_bf16(f) == h, "bf16 0x%04x round trip", h);
    }
}

static void t_arena(void) {
    _Alignas(16) uint8_t buf[256];
    nb_arena a;
    nb_arena_init(&a, buf, sizeof buf);
    void *p = nb_arena_alloc(&a, 10), *q = nb_arena_alloc(&a, 10);
    CHECK(p == buf && q == buf + 16);
    CHECK(((uintptr_t)q & 15) == 0);
    CHECK(nb_arena_alloc(&a, 256) == NULL); /* too big: fails, state kept */
    CHECK(a.used == 26);
    CHECK(nb_arena_alloc(&a, 256 - 32) != NULL);
    CHECK(nb_arena_alloc(&a, 1) == NULL);
    nb_allocator al = nb_arena_allocator(&a);
    CHECK(al.alloc(al.user, 1) == NULL && al.free == NULL);
    nb_arena_init(&a, NULL, 100);
    CHECK(nb_arena_alloc(&a, 1) == NULL);
}

static void t_types(void) {
    CHECK(nb_type_get(NB_TYPE_Q4_K)->type_size == 144 && nb_type_get(NB_TYPE_Q4_K)->block_size == 256);
    CHECK(nb_type_get(NB_TYPE_Q6_K)->type_size == 210);
    CHECK(nb_type_get(NB_TYPE_Q8_0)->type_size == 34);
    CHECK(nb_type_get(4) == NULL && nb_type_get(5) == NULL && nb_type_get(31) == NULL);
    CHECK(nb_type_get(NB_TYPE_COUNT) == NULL && nb_type_get(0xffffffffu) == NULL);
    CHECK(nb_type_from_name("q4_k") == NB_TYPE_Q4_K && nb_type_from_name("BF16") == NB_TYPE_BF16);
    CHECK(nb_type_from_name("Q4") == -1 && nb_type_from_name("") == -1);
    CHECK(strcmp(nb_type_name(7), "Q5_1") == 0 && strcmp(nb_type_name(4), "?") == 0);
}

static void t_status(void) {
    for (int s = NB_OK; s <= NB_ERR_CANCELLED; s++) CHECK(strlen(nb_status_str((nb_status)s)) > 0);
}

int main(void) {
    RUN(t_fp16_to_f32_all);
    RUN(t_f32_to_fp16);
    RUN(t_bf16);
    RUN(t_arena);
    RUN(t_types);
    RUN(t_status);
    return nb_test_done();
}
