/* samplers: each stage's effect on known logits, chain order, determinism,
 * exact sizing in caller memory, invalid params, a 262144-entry vocab. */
#include "harness.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Params with every stage off except what a test turns on. */
static nb_sampler_params plain(void) {
    nb_sampler_params p = nb_sampler_default_params();
    p.temp = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.freq_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.penalty_last_n = 64;
    return p;
}

/* A sampler in malloc'd memory (freed with free(s)). */
static nb_sampler *make(int32_t n_vocab, const nb_sampler_params *p) {
    size_t size = nb_sampler_size(n_vocab, p);
    if (size == 0) return NULL;
    void *mem = malloc(size);
    nb_sampler *s = NULL;
    nb_err err;
    if (!mem) return NULL;
    if (nb_sampler_init(&s, n_vocab, p, mem, size, &err) != NB_OK) {
        nb_test_fail(__FILE__, __LINE__, "init: %s", err.msg);
        free(mem);
        return NULL;
    }
    CHECK((void *)s == mem);
    return s;
}

/* Draw `draws` tokens; hist[id] counts them. */
static void histogram(nb_sampler *s, const float *logits, int32_t n, int draws, int *hist) {
    memset(hist, 0, (size_t)n * sizeof(int));
    for (int i = 0; i < draws; i++) {
        int32_t t = nb_sampler_sample(s, logits);
        if (t < 0 || t >= n) {
            nb_test_fail(__FILE__, __LINE__, "token %d out of range", (int)t);
            return;
        }
        hist[t]++;
    }
}

static void t_defaults(void) {
    nb_sampler_params p = nb_sampler_default_params();
    CHECK(p.temp == 0.8f);
    CHECK(p.top_k == 40);
    CHECK(p.top_p == 0.95f);
    CHECK(p.min_p == 0.05f);
    CHECK(p.repeat_penalty == 1.0f);
    CHECK(p.freq_penalty == 0.0f && p.presence_penalty == 0.0f);
    CHECK(p.penalty_last_n == 64);
    CHECK(p.seed == NB_SAMPLER_DEFAULT_SEED);
    CHECK(nb_sampler_size(100, NULL) == nb_sampler_size(100, &p));
}

static void t_greedy(void) {
    nb_sampler_params p = plain();
    p.temp = 0.0f;
    const float l[5] = {1.0f, 3.0f, -2.0f, 3.0f, 2.0f};
    nb_sampler *s = make(5, &p);
    if (!s) return;
    for (int i = 0; i < 10; i++) CHECK(nb_sampler_sample(s, l) == 1); /* tie 1/3 -> 1 */
    free(s);

    /* greedy ignores top-k/top-p/min-p but honours the penalties */
    p.top_k = 1;
    p.top_p = 0.1f;
    p.min_p = 0.9f;
    p.repeat_penalty = 2.0f;
    s = make(5, &p);
    if (!s) return;
    nb_sampler_accept(s, 1);
    CHECK(nb_sampler_sample(s, l) == 3);
    nb_sampler_accept(s, 3);
    CHECK(nb_sampler_sample(s, l) == 4); /* 1.5, 1.5, 2.0 */
    free(s);

    /* NaN counts as -inf; all -inf gives the lowest id */
    p = plain();
    p.temp = 0.0f;
    const float ln[3] = {NAN, -1.0f, -5.0f};
    s = make(3, &p);
    if (!s) return;
    CHECK(nb_sampler_sample(s, ln) == 1);
    free(s);
    p.temp = 1.0f;
    const float li[3] = {-INFINITY, -INFINITY, -INFINITY};
    s = make(3, &p);
    if (!s) return;
    CHECK(nb_sampler_sample(s, li) == 0);
    CHECK(nb_sampler_sample(s, ln) != 0); /* NaN never drawn */
    free(s);
}

static void t_top_k(void) {
    nb_sampler_params p = plain();
    p.top_k = 2;
    const float l[6] = {0.0f, 5.0f, 1.0f, 4.5f, 2.0f, -3.0f};
    int h[6];
    nb_sampler *s = make(6, &p);
    if (!s) return;
    histogram(s, l, 6, 4000, h);
    CHECK_MSG(h[0] == 0 && h[2] == 0 && h[4] == 0 && h[5] == 0, "outside top-2: %d %d %d %d",
              h[0], h[2], h[4], h[5]);
    CHECK(h[1] > 0 && h[3] > 0);
    /* 5 vs 4.5 at temp 1: p(1) = 1 / (1 + e^-0.5) = 0.6225 */
    CHECK_MSG(fabs(h[1] / 4000.0 - 0.6225) < 0.03, "p(1) %g", h[1] / 4000.0);
    free(s);

    /* ties: top-1 over equal logits is always the lowest id */
    p.top_k = 1;
    const float eq[4] = {2.0f, 2.0f, 2.0f, 2.0f};
    s = make(4, &p);
    if (!s) return;
    for (int i = 0; i < 50; i++) CHECK(nb_sampler_sample(s, eq) == 0);
    free(s);

    /* top_k larger than the vocabulary keeps everything */
    p.top_k = 100;
    s = make(6, &p);
    if (!s) return;
    histogram(s, l, 6, 20000, h);
    CHECK(h[0] > 0 && h[2] > 0 && h[4] > 0);
    free(s);
}

/* logits = log(probs): probs 0.5, 0.3, 0.15, 0.05 */
static void known_dist(float *l) {
    l[0] = logf(0.5f);
    l[1] = logf(0.3f);
    l[2] = logf(0.15f);
    l[3] = logf(0.05f);
}

static void t_top_p(void) {
    float l[4];
    int h[4];
    known_dist(l);
    /* cumulative 0.5, 0.8, 0.95, 1.0 */
    const struct { float top_p; int keep; } cases[] = {
        {0.0f, 1}, {0.4f, 1}, {0.49f, 1}, {0.75f, 2}, {0.85f, 3}, {0.97f, 4}, {1.0f, 4}};
    /* top_k 0: top-p's own partial heap; top_k 3: after a top-k cut (the
     * renormalized cumulative 0.526, 0.842, 1 keeps min(keep, 3) here) */
    for (int tk = 0; tk <= 3; tk += 3)
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        nb_sampler_params p = plain();
        p.top_p = cases[c].top_p;
        p.top_k = tk;
        int keep = tk && cases[c].keep > tk ? tk : cases[c].keep;
        nb_sampler *s = make(4, &p);
        if (!s) return;
        histogram(s, l, 4, 20000, h);
        for (int i = 0; i < 4; i++) {
            if (i < keep)
                CHECK_MSG(h[i] > 0, "top_p %g: token %d never drawn", (double)cases[c].top_p, i);
            else
                CHECK_MSG(h[i] == 0, "top_p %g: token %d drawn %d times",
                          (double)cases[c].top_p, i, h[i]);
        }
        if (keep == 2) /* renormalized: 0.5/0.8 */
            CHECK_MSG(fabs(h[0] / 20000.0 - 0.625) < 0.02, "p(0) %g", h[0] / 20000.0);
        free(s);
    }
}

static void t_min_p(void) {
    float l[4];
    int h[4];
    known_dist(l);
    /* probability >= min_p * 0.5 */
    const struct { float min_p; int keep; } cases[] = {
        {0.0f, 4}, {0.05f, 4}, {0.2f, 3}, {0.5f, 2}, {0.7f, 1}, {1.0f, 1}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        nb_sampler_params p = plain();
        p.min_p = cases[c].min_p;
        nb_sampler *s = make(4, &p);
        if (!s) return;
        histogram(s, l, 4, 20000, h);
        for (int i = 0; i < 4; i++) {
            if (i < cases[c].keep)
                CHECK_MSG(h[i] > 0, "min_p %g: token %d never drawn", (double)cases[c].min_p, i);
            else
                CHECK_MSG(h[i] == 0, "min_p %g: token %d drawn %d times",
                          (double)cases[c].min_p, i, h[i]);
        }
        free(s);
    }
}

static void t_temperature(void) {
    const float l[2] = {0.0f, 1.0f};
    const struct { float temp; double p1; } cases[] = {
        {1.0f, 0.7310586}, {0.5f, 0.8807971}, {2.0f, 0.6224593}, {0.1f, 0.9999546}, {100.0f, 0.5025}};
    int h[2];
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        nb_sampler_params p = plain();
        p.temp = cases[c].temp;
        nb_sampler *s = make(2, &p);
        if (!s) return;
        histogram(s, l, 2, 40000, h);
        double f = h[1] / 40000.0;
        CHECK_MSG(fabs(f - cases[c].p1) < 0.012, "temp %g: p(1) %g, expected %g",
                  (double)cases[c].temp, f, cases[c].p1);
        free(s);
    }
    /* a tiny temperature neither overflows nor picks anything but the max */
    nb_sampler_params p = plain();
    p.temp = 1e-30f;
    nb_sampler *s = make(2, &p);
    if (!s) return;
    for (int i = 0; i < 100; i++) CHECK(nb_sampler_sample(s, l) == 1);
    free(s);
}

/* temperature comes after top-p / min-p: a high temperature cannot bring
 * back what they cut */
static void t_chain_order(void) {
    float l[4];
    int h[4];
    known_dist(l);
    nb_sampler_params p = plain();
    p.min_p = 0.5f;  /* keeps 0 and 1 */
    p.temp = 50.0f;  /* flattens what is left */
    nb_sampler *s = make(4, &p);
    if (!s) return;
    histogram(s, l, 4, 20000, h);
    CHECK(h[2] == 0 && h[3] == 0);
    CHECK_MSG(fabs(h[0] / 20000.0 - 0.5) < 0.03, "p(0) %g", h[0] / 20000.0);
    free(s);

    /* penalties come first: top-k sees penalized logits */
    p = plain();
    p.top_k = 1;
    p.repeat_penalty = 10.0f;
    const float l2[3] = {3.0f, 2.0f, 1.0f};
    s = make(3, &p);
    if (!s) return;
    nb_sampler_accept(s, 0); /* 3 -> 0.3 */
    for (int i = 0; i < 20; i++) CHECK(nb_sampler_sample(s, l2) == 1);
    free(s);
}

static void t_penalties(void) {
    nb_sampler_params p = plain();
    p.temp = 0.0f;
    nb_sampler *s;

    /* repeat: positive logits divided */
    p.repeat_penalty = 1.5f;
    const float a[3] = {2.0f, 1.9f, -1.0f};
    s = make(3, &p);
    if (!s) return;
    CHECK(nb_sampler_sample(s, a) == 0);
    nb_sampler_accept(s, 0); /* 1.333 */
    CHECK(nb_sampler_sample(s, a) == 1);
    nb_sampler_accept(s, 0); /* count 2: repeat is applied once, not per count */
    nb_sampler_accept(s, 1); /* 1.2667 */
    CHECK(nb_sampler_sample(s, a) == 0);
    nb_sampler_reset(s);
    CHECK(nb_sampler_sample(s, a) == 0);
    free(s);

    /* repeat: negative logits multiplied */
    const float b[2] = {-1.0f, -1.2f};
    s = make(2, &p);
    if (!s) return;
    nb_sampler_accept(s, 0); /* -1.5 */
    CHECK(nb_sampler_sample(s, b) == 1);
    free(s);

    /* frequency: count * freq */
    p.repeat_penalty = 1.0f;
    p.freq_penalty = 0.3f;
    const float c[2] = {1.0f, 0.5f};
    s = make(2, &p);
    if (!s) return;
    nb_sampler_accept(s, 0); /* 0.7 */
    CHECK(nb_sampler_sample(s, c) == 0);
    nb_sampler_accept(s, 0); /* 0.4 */
    CHECK(nb_sampler_sample(s, c) == 1);
    free(s);

    /* presence: once, whatever the count */
    p.freq_penalty = 0.0f;
    p.presence_penalty = 0.4f;
    const float d[2] = {1.0f, 0.5f};
    s = make(2, &p);
    if (!s) return;
    nb_sampler_accept(s, 0); /* 0.6 */
    CHECK(nb_sampler_sample(s, d) == 0);
    nb_sampler_accept(s, 0);
    nb_sampler_accept(s, 0);
    CHECK(nb_sampler_sample(s, d) == 0);
    free(s);
    p.presence_penalty = 0.6f; /* 0.4 < 0.5 */
    s = make(2, &p);
    if (!s) return;
    nb_sampler_accept(s, 0);
    CHECK(nb_sampler_sample(s, d) == 1);
    free(s);

    /* window: only the last penalty_last_n tokens count */
    p.presence_penalty = 0.0f;
    p.repeat_penalty = 2.0f;
    p.penalty_last_n = 2;
    const float e[4] = {1.0f, 0.8f, 0.1f, 0.0f};
    s = make(4, &p);
    if (!s) return;
    nb_sampler_accept(s, 0);
    CHECK(nb_sampler_sample(s, e) == 1);
    nb_sampler_accept(s, 2);
    CHECK(nb_sampler_sample(s, e) == 1);
    nb_sampler_accept(s, 3); /* 0 leaves the window */
    CHECK(nb_sampler_sample(s, e) == 0);
    for (int i = 0; i < 100; i++) nb_sampler_accept(s, (i % 2) ? 2 : 3);
    CHECK(nb_sampler_sample(s, e) == 0);
    nb_sampler_accept(s, 0);
    nb_sampler_accept(s, 0);
    CHECK(nb_sampler_sample(s, e) == 1);
    nb_sampler_accept(s, -1);  /* ignored */
    nb_sampler_accept(s, 4);   /* ignored */
    CHECK(nb_sampler_sample(s, e) == 1);
    free(s);

    /* last_n 0: off */
    p.penalty_last_n = 0;
    s = make(4, &p);
    if (!s) return;
    nb_sampler_accept(s, 0);
    CHECK(nb_sampler_sample(s, e) == 0);
    free(s);
}

static void fill_random(float *l, int32_t n, uint32_t seed) {
    uint32_t x = seed;
    for (int32_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        l[i] = (float)(x >> 8) / 16777216.0f * 8.0f - 4.0f;
    }
}

static void t_determinism(void) {
    enum { N = 200, DRAWS = 300 };
    float l[N], copy[N];
    fill_random(l, N, 7);
    memcpy(copy, l, sizeof(l));
    nb_sampler_params p = nb_sampler_default_params();
    p.temp = 1.5f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 1234;
    int32_t a[DRAWS], b[DRAWS], c[DRAWS], d[DRAWS];
    nb_sampler *s1 = make(N, &p), *s2 = make(N, &p);
    p.seed = 1235;
    nb_sampler *s3 = make(N, &p);
    if (!s1 || !s2 || !s3) { free(s1); free(s2); free(s3); return; }
    for (int i = 0; i < DRAWS; i++) {
        a[i] = nb_sampler_sample(s1, l);
        b[i] = nb_sampler_sample(s2, l);
        c[i] = nb_sampler_sample(s3, l);
    }
    CHECK(memcmp(a, b, sizeof(a)) == 0);
    CHECK(memcmp(a, c, sizeof(a)) != 0);
    CHECK(memcmp(l, copy, sizeof(l)) == 0); /* logits untouched */
    nb_sampler_reset(s1);
    for (int i = 0; i < DRAWS; i++) d[i] = nb_sampler_sample(s1, l);
    CHECK(memcmp(a, d, sizeof(a)) == 0);
    int distinct = 0;
    for (int i = 1; i < DRAWS; i++) distinct += a[i] != a[0];
    CHECK(distinct > 0);
    free(s1);
    free(s2);
    free(s3);

    /* the default chain, with penalties and accept(), is reproducible too */
    p = nb_sampler_default_params();
    p.repeat_penalty = 1.3f;
    p.freq_penalty = 0.1f;
    s1 = make(N, &p);
    s2 = make(N, &p);
    if (!s1 || !s2) { free(s1); free(s2); return; }
    for (int i = 0; i < DRAWS; i++) {
        a[i] = nb_sampler_sample(s1, l);
        b[i] = nb_sampler_sample(s2, l);
        nb_sampler_accept(s1, a[i]);
        nb_sampler_accept(s2, b[i]);
    }
    CHECK(memcmp(a, b, sizeof(a)) == 0);
    CHECK(memcmp(l, copy, sizeof(l)) == 0);
    free(s1);
    free(s2);
}

static void t_size_exact(void) {
    nb_sampler_params ps[3] = {nb_sampler_default_params(), plain(), plain()};
    ps[1].repeat_penalty = 1.1f;
    ps[1].penalty_last_n = 7;
    ps[2].penalty_last_n = 0;
    const int32_t vocabs[3] = {1, 33, 1000};
    for (int k = 0; k < 3; k++) {
        for (int v = 0; v < 3; v++) {
            size_t size = nb_sampler_size(vocabs[v], &ps[k]);
            CHECK(size > 0);
            /* guard bytes after the block: nothing may write past size */
            uint8_t *mem = malloc(size + 64);
            if (!mem) return;
            memset(mem, 0xA5, size + 64);
            nb_sampler *s = NULL;
            nb_err err;
            memset(&err, 0, sizeof(err));
            CHECK(nb_sampler_init(&s, vocabs[v], &ps[k], mem, size - 1, &err) == NB_ERR_NOMEM);
            CHECK(s == NULL);
            CHECK(strstr(err.msg, "bytes") != NULL);
            CHECK_OK(nb_sampler_init(&s, vocabs[v], &ps[k], mem, size, &err), err);
            CHECK((void *)s == (void *)mem);
            float *l = malloc((size_t)vocabs[v] * sizeof(float));
            if (!l) { free(mem); return; }
            fill_random(l, vocabs[v], 3);
            for (int i = 0; i < 200; i++) {
                int32_t t = nb_sampler_sample(s, l);
                CHECK(t >= 0 && t < vocabs[v]);
                nb_sampler_accept(s, t);
            }
            nb_sampler_reset(s);
            for (int i = 0; i < 64; i++) CHECK(mem[size + (size_t)i] == 0xA5);
            free(l);
            free(mem);
        }
    }
    /* a sampler in an arena, as firmware would do it */
    static uint8_t buf[1 << 16];
    nb_arena ar;
    nb_arena_init(&ar, buf, sizeof(buf));
    nb_sampler_params p = nb_sampler_default_params();
    size_t size = nb_sampler_size(1000, &p);
    void *m = nb_arena_alloc(&ar, size);
    CHECK(m != NULL);
    nb_sampler *s = NULL;
    nb_err err;
    CHECK_OK(nb_sampler_init(&s, 1000, &p, m, size, &err), err);
    float l[1000];
    fill_random(l, 1000, 5);
    int32_t t = nb_sampler_sample(s, l);
    CHECK(t >= 0 && t < 1000);
    /* the penalty buffers only exist when penalties are on */
    nb_sampler_params q = plain();
    size_t off = nb_sampler_size(1000, &q);
    q.repeat_penalty = 1.1f;
    CHECK(nb_sampler_size(1000, &q) == off + 1000 * sizeof(int32_t) + 64 * sizeof(int32_t));
}

static void t_invalid(void) {
    struct { const char *field; nb_sampler_params p; } cases[9];
    int n = 0;
    nb_sampler_params p;
    p = plain(); p.temp = -0.5f; cases[n].field = "temp"; cases[n++].p = p;
    p = plain(); p.temp = NAN; cases[n].field = "temp"; cases[n++].p = p;
    p = plain(); p.top_p = 1.5f; cases[n].field = "top_p"; cases[n++].p = p;
    p = plain(); p.top_p = -0.1f; cases[n].field = "top_p"; cases[n++].p = p;
    p = plain(); p.min_p = 2.0f; cases[n].field = "min_p"; cases[n++].p = p;
    p = plain(); p.repeat_penalty = 0.0f; cases[n].field = "repeat_penalty"; cases[n++].p = p;
    p = plain(); p.freq_penalty = INFINITY; cases[n].field = "freq_penalty"; cases[n++].p = p;
    p = plain(); p.presence_penalty = NAN; cases[n].field = "presence_penalty"; cases[n++].p = p;
    p = plain(); p.penalty_last_n = -1; cases[n].field = "penalty_last_n"; cases[n++].p = p;
    static uint64_t mem[4096];
    for (int i = 0; i < n; i++) {
        nb_sampler *s = (nb_sampler *)(void *)mem;
        nb_err err;
        memset(&err, 0, sizeof(err));
        nb_status st = nb_sampler_init(&s, 10, &cases[i].p, mem, sizeof(mem), &err);
        CHECK_MSG(st == NB_ERR_INVALID_ARG, "%s: %s", cases[i].field, nb_status_str(st));
        CHECK_MSG(strstr(err.msg, cases[i].field) != NULL, "%s: message '%s'", cases[i].field,
                  err.msg);
        CHECK(s == NULL);
        CHECK(nb_sampler_size(10, &cases[i].p) == 0);
    }
    nb_sampler *s = NULL;
    nb_err err;
    p = plain();
    CHECK(nb_sampler_init(&s, 0, &p, mem, sizeof(mem), &err) == NB_ERR_INVALID_ARG);
    CHECK(strstr(err.msg, "n_vocab") != NULL);
    CHECK(nb_sampler_size(0, &p) == 0);
    CHECK(nb_sampler_init(&s, 10, &p, NULL, sizeof(mem), &err) == NB_ERR_INVALID_ARG);
    CHECK(nb_sampler_init(&s, 10, &p, (uint8_t *)mem + 4, sizeof(mem) - 4, &err) ==
          NB_ERR_INVALID_ARG);
    CHECK(nb_sampler_init(NULL, 10, &p, mem, sizeof(mem), &err) == NB_ERR_INVALID_ARG);
    /* boundaries are valid */
    p.temp = 0.0f; p.top_p = 0.0f; p.min_p = 1.0f; p.top_k = -5; p.penalty_last_n = 0;
    CHECK_OK(nb_sampler_init(&s, 10, &p, mem, sizeof(mem), &err), err);
    CHECK(nb_sampler_sample(NULL, NULL) == -1);
}

static void t_large_vocab(void) {
    enum { N = 262144 };
    float *l = malloc((size_t)N * sizeof(float));
    if (!l) return;
    fill_random(l, N, 11);
    l[123456] = 30.0f; /* one dominant token */
    nb_sampler_params p = nb_sampler_default_params();
    p.repeat_penalty = 1.1f;
    nb_sampler *s = make(N, &p);
    if (!s) { free(l); return; }
    for (int i = 0; i < 200; i++) {
        int32_t t = nb_sampler_sample(s, l);
        CHECK(t == 123456);
        nb_sampler_accept(s, t);
    }
    l[123456] = 0.0f;
    /* top-k 40 over a flat-ish vocab: every draw among the 40 largest */
    float thr = 0.0f;
    {
        /* 40th largest by a count-based scan (test only, slow is fine) */
        float lo = -4.0f, hi = 4.0f;
        for (int it = 0; it < 40; it++) {
            float mid = 0.5f * (lo + hi);
            int cnt = 0;
            for (int32_t i = 0; i < N; i++) cnt += l[i] >= mid;
            if (cnt >= 40) lo = mid; else hi = mid;
        }
        thr = lo;
    }
    nb_sampler_reset(s);
    for (int i = 0; i < 200; i++) {
        int32_t t = nb_sampler_sample(s, l);
        CHECK_MSG(t >= 0 && t < N && l[t] >= thr, "token %d logit %g thr %g", (int)t,
                  (double)(t >= 0 && t < N ? l[t] : 0), (double)thr);
    }
    free(s);
    /* no top-k: top-p sorts the whole vocabulary (once per draw) */
    p.top_k = 0;
    s = make(N, &p);
    if (!s) { free(l); return; }
    for (int i = 0; i < 5; i++) {
        int32_t t = nb_sampler_sample(s, l);
        CHECK(t >= 0 && t < N);
    }
    free(s);
    free(l);
}

int main(void) {
    RUN(t_defaults);
    RUN(t_greedy);
    RUN(t_top_k);
    RUN(t_top_p);
    RUN(t_min_p);
    RUN(t_temperature);
    RUN(t_chain_order);
    RUN(t_penalties);
    RUN(t_determinism);
    RUN(t_size_exact);
    RUN(t_invalid);
    RUN(t_large_vocab);
    return nb_test_done();
}
