/* Composable token samplers (see the sampler section of nibble.h).
 *
 * Chain order, as llama.cpp's common sampler builds it by default:
 *   penalties -> top-k -> top-p -> min-p -> temperature -> softmax -> draw
 * temp <= 0 replaces everything after the penalties by an argmax (lowest id
 * on ties).
 *
 * Memory (one block of caller memory, nb_sampler_size bytes):
 *   struct nb_sampler | candidates[n_vocab] | counts[n_vocab] | ring[last_n]
 * counts and ring exist only when the penalties are active. counts[t] is
 * the number of times t occurs in the ring, kept up to date by accept(). */
#include "core/core.h"

#include <math.h>

typedef struct nb_cand {
    int32_t id;
    float logit;
    float p;
} nb_cand;

struct nb_sampler {
    nb_sampler_params params;
    int32_t n_vocab;
    int32_t last_n;     /* ring capacity (0 when penalties are off) */
    int32_t hist_len;   /* tokens in the ring                       */
    int32_t hist_pos;   /* next slot to write                       */
    int32_t penalties;  /* 1 when the penalty stage is active        */
    int32_t pad_;
    uint64_t rng[4];
    nb_cand *cand;
    int32_t *counts;
    int32_t *ring;
};

/* ------------------------------------------------------------------ RNG */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) {
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

static void rng_seed(uint64_t s[4], uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) s[i] = splitmix64(&x);
}

/* Uniform in [0,1) with 24 bits: exact in a float, same on every platform. */
static float rng_uniform(uint64_t s[4]) {
    return (float)(xoshiro_next(s) >> 40) * (1.0f / 16777216.0f);
}

/* --------------------------------------------------------------- params */

nb_sampler_params nb_sampler_default_params(void) {
    nb_sampler_params p;
    p.temp = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.freq_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.penalty_last_n = 64;
    p.seed = NB_SAMPLER_DEFAULT_SEED;
    return p;
}

static nb_status check_params(int32_t n_vocab, const nb_sampler_params *p, nb_err *err) {
    if (n_vocab <= 0) return nb_errf(err, NB_ERR_INVALID_ARG, "n_vocab %d must be > 0", (int)n_vocab);
    if (!(p->temp >= 0.0f) || isinf(p->temp))
        return nb_errf(err, NB_ERR_INVALID_ARG, "temp %g must be a finite value >= 0", (double)p->temp);
    if (!(p->top_p >= 0.0f && p->top_p <= 1.0f))
        return nb_errf(err, NB_ERR_INVALID_ARG, "top_p %g must be in [0,1]", (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return nb_errf(err, NB_ERR_INVALID_ARG, "min_p %g must be in [0,1]", (double)p->min_p);
    if (!(p->repeat_penalty > 0.0f) || isinf(p->repeat_penalty))
        return nb_errf(err, NB_ERR_INVALID_ARG, "repeat_penalty %g must be a finite value > 0",
                       (double)p->repeat_penalty);
    if (!isfinite(p->freq_penalty))
        return nb_errf(err, NB_ERR_INVALID_ARG, "freq_penalty %g must be finite", (double)p->freq_penalty);
    if (!isfinite(p->presence_penalty))
        return nb_errf(err, NB_ERR_INVALID_ARG, "presence_penalty %g must be finite",
                       (double)p->presence_penalty);
    if (p->penalty_last_n < 0)
        return nb_errf(err, NB_ERR_INVALID_ARG, "penalty_last_n %d must be >= 0",
                       (int)p->penalty_last_n);
    return NB_OK;
}

static int penalties_active(const nb_sampler_params *p) {
    return p->penalty_last_n > 0 &&
           (p->repeat_penalty != 1.0f || p->freq_penalty != 0.0f || p->presence_penalty != 0.0f);
}

/* Total bytes, or 0 on overflow. */
static size_t layout_size(int32_t n_vocab, const nb_sampler_params *p) {
    size_t n = (size_t)n_vocab, total = sizeof(struct nb_sampler);
    size_t per = sizeof(nb_cand) + (penalties_active(p) ? sizeof(int32_t) : 0);
    if (n > (SIZE_MAX - total) / per) return 0;
    total += n * per;
    if (penalties_active(p)) {
        size_t r = (size_t)p->penalty_last_n * sizeof(int32_t);
        if (r > SIZE_MAX - total) return 0;
        total += r;
    }
    return total;
}

size_t nb_sampler_size(int32_t n_vocab, const nb_sampler_params *p) {
    nb_sampler_params d = nb_sampler_default_params();
    if (!p) p = &d;
    if (check_params(n_vocab, p, NULL) != NB_OK) return 0;
    return layout_size(n_vocab, p);
}

void nb_sampler_reset(nb_sampler *s) {
    if (!s) return;
    s->hist_len = 0;
    s->hist_pos = 0;
    if (s->penalties) memset(s->counts, 0, (size_t)s->n_vocab * sizeof(int32_t));
    rng_seed(s->rng, s->params.seed);
}

nb_status nb_sampler_init(nb_sampler **out, int32_t n_vocab, const nb_sampler_params *p,
                          void *mem, size_t mem_size, nb_err *err) {
    nb_sampler_params d = nb_sampler_default_params();
    if (!out) return nb_errf(err, NB_ERR_INVALID_ARG, "s (output pointer) is NULL");
    *out = NULL;
    if (!p) p = &d;
    nb_status st = check_params(n_vocab, p, err);
    if (st != NB_OK) return st;
    if (!mem) return nb_errf(err, NB_ERR_INVALID_ARG, "mem is NULL");
    if ((uintptr_t)mem % 8 != 0)
        return nb_errf(err, NB_ERR_INVALID_ARG, "mem %p is not 8-byte aligned", mem);
    size_t need = layout_size(n_vocab, p);
    if (need == 0)
        return nb_errf(err, NB_ERR_RANGE, "sampler size for n_vocab %d overflows", (int)n_vocab);
    if (mem_size < need)
        return nb_errf(err, NB_ERR_NOMEM, "sampler needs %zu bytes, mem_size is %zu", need, mem_size);

    uint8_t *base = (uint8_t *)mem;
    nb_sampler *s = (nb_sampler *)(void *)base;
    memset(s, 0, sizeof(*s));
    s->params = *p;
    s->n_vocab = n_vocab;
    s->penalties = penalties_active(p);
    s->last_n = s->penalties ? p->penalty_last_n : 0;
    size_t off = sizeof(*s);
    s->cand = (nb_cand *)(void *)(base + off);
    off += (size_t)n_vocab * sizeof(nb_cand);
    if (s->penalties) {
        s->counts = (int32_t *)(void *)(base + off);
        off += (size_t)n_vocab * sizeof(int32_t);
        s->ring = (int32_t *)(void *)(base + off);
    }
    nb_sampler_reset(s);
    *out = s;
    return NB_OK;
}

void nb_sampler_accept(nb_sampler *s, int32_t token) {
    if (!s || !s->penalties || token < 0 || token >= s->n_vocab) return;
    if (s->hist_len == s->last_n) {
        int32_t old = s->ring[s->hist_pos]; /* oldest, about to be overwritten */
        s->counts[old]--;
    } else {
        s->hist_len++;
    }
    s->ring[s->hist_pos] = token;
    s->counts[token]++;
    s->hist_pos = (s->hist_pos + 1) % s->last_n;
}

/* -------------------------------------------------------------- stages */

/* a ranks before b: larger logit, then lower id (a strict total order). */
static int ranks_before(const nb_cand *a, const nb_cand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/* Min-heap by rank (root = the worst-ranked kept candidate). */
static void sift_down(nb_cand *h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && ranks_before(&h[m], &h[l])) m = l;
        if (l + 1 < n && ranks_before(&h[m], &h[l + 1])) m = l + 1;
        if (m == i) return;
        nb_cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Max-heap by rank (root = the best). */
static void sift_down_max(nb_cand *h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && ranks_before(&h[l], &h[m])) m = l;
        if (l + 1 < n && ranks_before(&h[l + 1], &h[m])) m = l + 1;
        if (m == i) return;
        nb_cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Move the k best of c[0..n) to c[0..k), sorted best first. O(n log k):
 * a heap of the k best so far, then a heap sort of it. */
static void select_top_k(nb_cand *c, size_t n, size_t k) {
    if (k == 0) return;
    for (size_t i = k / 2; i-- > 0;) sift_down(c, k, i);
    for (size_t i = k; i < n; i++) {
        if (ranks_before(&c[i], &c[0])) {
            c[0] = c[i];
            sift_down(c, k, 0);
        }
    }
    /* heap sort: repeatedly move the worst to the end -> best first */
    for (size_t end = k; end > 1; end--) {
        nb_cand t = c[0];
        c[0] = c[end - 1];
        c[end - 1] = t;
        sift_down(c, end - 1, 0);
    }
}

static void apply_penalties(nb_sampler *s) {
    const nb_sampler_params *p = &s->params;
    /* Each distinct token once: counts[t] is negated after it is applied,
     * and restored afterwards. */
    for (int32_t i = 0; i < s->hist_len; i++) {
        int32_t t = s->ring[i];
        int32_t count = s->counts[t];
        if (count <= 0) continue;
        float *l = &s->cand[t].logit; /* candidates are still in id order */
        if (*l <= 0.0f) *l *= p->repeat_penalty;
        else *l /= p->repeat_penalty;
        *l -= (float)count * p->freq_penalty + p->presence_penalty;
        s->counts[t] = -count;
    }
    for (int32_t i = 0; i < s->hist_len; i++) {
        int32_t t = s->ring[i];
        if (s->counts[t] < 0) s->counts[t] = -s->counts[t];
    }
}

/* p = softmax(logit) over c[0..n); max_logit is the largest logit. */
static void softmax(nb_cand *c, size_t n, float max_logit) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        float e = expf(c[i].logit - max_logit);
        c[i].p = e;
        sum += e;
    }
    float inv = (float)(1.0 / sum);
    for (size_t i = 0; i < n; i++) c[i].p *= inv;
}

int32_t nb_sampler_sample(nb_sampler *s, const float *logits) {
    if (!s || !logits) return -1;
    const nb_sampler_params *p = &s->params;
    size_t n = (size_t)s->n_vocab;
    nb_cand *c = s->cand;
    for (size_t i = 0; i < n; i++) {
        c[i].id = (int32_t)i;
        c[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
        c[i].p = 0.0f;
    }
    if (s->penalties) apply_penalties(s);

    if (p->temp <= 0.0f) { /* greedy: first (lowest id) maximum */
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if (c[i].logit > c[best].logit) best = i;
        return c[best].id;
    }

    /* top-k (sorted, best first) when it cuts */
    int sorted = 0;
    size_t k = n;
    if (p->top_k > 0 && (size_t)p->top_k < n) k = (size_t)p->top_k;
    if (k < n) {
        select_top_k(c, n, k);
        n = k;
        sorted = 1;
    }

    float max_logit = c[0].logit;
    if (!sorted)
        for (size_t i = 1; i < n; i++)
            if (c[i].logit > max_logit) max_logit = c[i].logit;
    if (isinf(max_logit)) { /* -inf: all masked; +inf: dominates: the best-ranked */
        if (sorted) return c[0].id;
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if (ranks_before(&c[i], &c[best])) best = i;
        return c[best].id;
    }

    /* top-p: smallest sorted prefix with cumulative probability >= top_p */
    if (p->top_p < 1.0f && !sorted) {
        /* no top-k: pop from a max-heap only as far as the prefix reaches */
        softmax(c, n, max_logit);
        for (size_t i = n / 2; i-- > 0;) sift_down_max(c, n, i);
        size_t end = n;
        double cum = 0.0;
        while (end > 0) {
            nb_cand t = c[0];
            c[0] = c[end - 1];
            c[end - 1] = t;
            end--;
            sift_down_max(c, end, 0);
            cum += c[end].p;
            if (cum >= p->top_p) break;
        }
        /* kept: c[end..n), worst first -> best first at the front */
        for (size_t i = end, j = n - 1; i < j; i++, j--) {
            nb_cand t = c[i];
            c[i] = c[j];
            c[j] = t;
        }
        memmove(c, c + end, (n - end) * sizeof(nb_cand));
        n -= end;
        sorted = 1;
    } else if (p->top_p < 1.0f) {
        softmax(c, n, max_logit);
        double cum = 0.0;
        size_t keep = n;
        for (size_t i = 0; i < n; i++) {
            cum += c[i].p;
            if (cum >= p->top_p) { /* min_keep 1: i + 1 >= 1 always */
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }

    /* min-p: logit >= max + log(min_p), i.e. p >= min_p * p_max */
    if (p->min_p > 0.0f) {
        float thr = max_logit + logf(p->min_p);
        size_t j = 0;
        for (size_t i = 0; i < n; i++)
            if (c[i].logit >= thr) c[j++] = c[i]; /* order kept; max always stays */
        n = j;
    }

    /* temperature, softmax, draw */
    for (size_t i = 0; i < n; i++) c[i].logit = (c[i].logit - max_logit) / p->temp;
    softmax(c, n, 0.0f); /* shifted first: a tiny temp cannot overflow */

    float u = rng_uniform(s->rng);
    double target = (double)u, cum = 0.0;
    size_t last = 0;
    for (size_t i = 0; i < n; i++) {
        if (c[i].p <= 0.0f) continue;
        last = i;
        cum += c[i].p;
        if (target < cum) return c[i].id;
    }
    return c[last].id; /* rounding left the sum a hair below u */
}
