/* model: the attention kernels (lib/model/attn*.c). Every SIMD version
 * against the scalar reference on random data: with F16 keys and values
 * (q and the weights rounded to F16, as the forward pass does) the scores
 * and the weighted sums equal the reference to the bit, since every
 * product of two F16 values is exact in float; with F32 they agree within
 * float rounding (exactly, unless the compiler contracts a scalar tail);
 * round_f16 equals nb_f32_to_fp16 + nb_fp16_to_f32 for every value tried.
 * Head sizes cover the vector widths' tails (8 .. 256, odd ones too). */
#include "harness.h"
#include "model/attn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float rnd_f(float scale) { /* about [-scale, scale) */
    return ((float)(rnd() & 0xffffff) / 8388608.0f - 1.0f) * scale;
}
static float f16r(float x) {
    return nb_fp16_to_f32(nb_f32_to_fp16(x));
}

static const int32_t head_dims[] = {8, 9, 24, 32, 64, 72, 100, 128, 256};
#define N_HD ((int)(sizeof head_dims / sizeof head_dims[0]))

static int same_bits(const float *a, const float *b, size_t n, size_t *where) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], 4)) {
            *where = i;
            return 0;
        }
    return 1;
}

static void check_level(int level) {
    const nb_attn_kernels *ref = nb_attn_get(NB_SIMD_SCALAR), *k = nb_attn_get(level);
    CHECK(ref != NULL && k != NULL);
    if (!ref || !k) return;
    const char *name = nb_simd_name(level);
    for (int hi = 0; hi < N_HD; hi++) {
        int32_t hd = head_dims[hi], n_kv = 3, kv_dim = n_kv * hd, n_tiles = 5;
        int32_t n_pos = n_tiles * NB_ATTN_TILE;
        size_t tile = (size_t)NB_ATTN_TILE * kv_dim;
        uint16_t *k16 = malloc((size_t)n_pos * kv_dim * 2), *v16 = malloc((size_t)n_pos * kv_dim * 2);
        float *k32 = malloc((size_t)n_pos * kv_dim * 4), *v32 = malloc((size_t)n_pos * kv_dim * 4);
        float *q = malloc((size_t)hd * 4), *p = malloc((size_t)n_pos * 4);
        float *s0 = malloc((size_t)n_pos * 4), *s1 = malloc((size_t)n_pos * 4);
        float *o0 = malloc((size_t)hd * 4), *o1 = malloc((size_t)hd * 4);
        CHECK(k16 && v16 && k32 && v32 && q && p && s0 && s1 && o0 && o1);
        if (!(k16 && v16 && k32 && v32 && q && p && s0 && s1 && o0 && o1)) goto done;
        for (size_t i = 0; i < (size_t)n_pos * kv_dim; i++) {
            k32[i] = rnd_f(4.0f);
            v32[i] = rnd_f(4.0f);
            k16[i] = nb_f32_to_fp16(k32[i]);
            v16[i] = nb_f32_to_fp16(v32[i]);
        }
        for (int32_t kvh = 0; kvh < n_kv; kvh++) {
            for (int32_t i = 0; i < hd; i++) q[i] = f16r(rnd_f(2.0f));
            size_t head = (size_t)kvh * hd * NB_ATTN_TILE;
            for (int32_t nt = 1; nt <= n_tiles; nt++) {
                size_t at;
                ref->scores_f16(hd, nt, q, k16 + head, tile, s0);
                k->scores_f16(hd, nt, q, k16 + head, tile, s1);
                CHECK_MSG(same_bits(s0, s1, (size_t)nt * NB_ATTN_TILE, &at),
                          "%s scores_f16 hd %d tiles %d: score %zu %.9g vs %.9g", name, hd, nt, at,
                          s1[at], s0[at]);
                ref->scores_f32(hd, nt, q, k32 + head, tile, s0);
                k->scores_f32(hd, nt, q, k32 + head, tile, s1);
                for (int32_t j = 0; j < nt * NB_ATTN_TILE; j++) {
                    double a = 0; /* sum |q||k|: the scale of the rounding errors */
                    for (int32_t i = 0; i < hd; i++)
                        a += fabs(q[i] * k32[head + (size_t)(j / 16) * tile + (size_t)i * 16 + j % 16]);
                    CHECK_MSG(fabs((double)s0[j] - s1[j]) <= 2 * hd * 0x1p-24 * a,
                              "%s scores_f32 hd %d: score %d %.9g vs %.9g", name, hd, j, s1[j], s0[j]);
                }
            }
            for (int32_t n = 1; n <= n_pos; n += 7) {
                for (int32_t t = 0; t < n; t++) p[t] = f16r((float)(rnd() & 0xffff) / 65536.0f);
                size_t at, v_at = (size_t)kvh * hd;
                ref->mix_f16(hd, n, p, v16 + v_at, (size_t)kv_dim, o0);
                k->mix_f16(hd, n, p, v16 + v_at, (size_t)kv_dim, o1);
                CHECK_MSG(same_bits(o0, o1, (size_t)hd, &at), "%s mix_f16 hd %d n %d: out %zu %.9g vs %.9g",
                          name, hd, n, at, o1[at], o0[at]);
                ref->mix_f32(hd, n, p, v32 + v_at, (size_t)kv_dim, o0);
                k->mix_f32(hd, n, p, v32 + v_at, (size_t)kv_dim, o1);
                for (int32_t i = 0; i < hd; i++) {
                    double a = 0;
                    for (int32_t t = 0; t < n; t++) a += fabs(p[t] * v32[v_at + (size_t)t * kv_dim + i]);
                    CHECK_MSG(fabs((double)o0[i] - o1[i]) <= 2 * n * 0x1p-24 * a,
                              "%s mix_f32 hd %d n %d: out %d %.9g vs %.9g", name, hd, n, i, o1[i], o0[i]);
                }
            }
        }
    done:
        free(k16), free(v16), free(k32), free(v32), free(q), free(p), free(s0), free(s1), free(o0),
            free(o1);
        if (nb_test_failed()) return;
    }
    /* round_f16: ordinary values, ties, tiny (F16 subnormal) and huge ones */
    enum { N = 4099 };
    static float x0[N], x1[N];
    for (int i = 0; i < N; i++) {
        float v;
        switch (i % 4) {
        case 0: v = rnd_f(8.0f); break;
        case 1: v = rnd_f(1e-5f); break;                     /* subnormal in F16 */
        case 2: v = rnd_f(70000.0f); break;                   /* near and past 65504 */
        default: { /* exactly halfway between two F16 values */
            float h = nb_fp16_to_f32((uint16_t)(rnd() & 0x7bff));
            uint32_t u;
            memcpy(&u, &h, 4);
            u += 1u << 12;
            memcpy(&v, &u, 4);
        }
        }
        x0[i] = x1[i] = v;
    }
    ref->round_f16(N, x0);
    k->round_f16(N, x1);
    size_t at;
    CHECK_MSG(same_bits(x0, x1, N, &at), "%s round_f16: value %zu %.9g vs %.9g", name, at, x1[at],
              x0[at]);
}

static void t_simd_vs_scalar(void) {
    int n = 0;
    for (int level = 1; level < NB_SIMD_COUNT; level++) {
        if (!nb_attn_get(level)) continue;
        printf("  %s\n", nb_simd_name(level));
        check_level(level);
        n++;
    }
    if (!n) nb_test_skip("no SIMD level in this build or on this CPU");
}

/* The scalar reference itself against a double-precision oracle, F32. */
static void t_scalar_oracle(void) {
    const nb_attn_kernels *ref = nb_attn_get(NB_SIMD_SCALAR);
    CHECK(ref == nb_attn_get(0) && ref != NULL);
    int32_t hd = 40, kv_dim = 40;
    static float k[NB_ATTN_TILE * 40], q[40], s[NB_ATTN_TILE];
    for (int i = 0; i < NB_ATTN_TILE * 40; i++) k[i] = rnd_f(1.0f);
    for (int i = 0; i < hd; i++) q[i] = rnd_f(1.0f);
    ref->scores_f32(hd, 1, q, k, (size_t)NB_ATTN_TILE * kv_dim, s);
    for (int l = 0; l < NB_ATTN_TILE; l++) {
        double e = 0;
        for (int i = 0; i < hd; i++) e += (double)q[i] * k[i * NB_ATTN_TILE + l];
        CHECK_MSG(fabs(e - s[l]) < 1e-5, "key %d: %.9g vs %.9g", l, s[l], e);
    }
}

int main(void) {
    RUN(t_scalar_oracle);
    RUN(t_simd_vs_scalar);
    return nb_test_done();
}
