/* Internal to lib/model. */
#ifndef NB_MODEL_H
#define NB_MODEL_H

#include "../core/core.h"

/* Run state for one sequence: scratch buffers and the KV cache, all inside
 * the caller's arena (see nb_ctx_size). A prompt runs in micro-batches of
 * up to n_batch tokens, so the activation buffers hold one row per token of
 * a batch: "(B, n)" is n_batch rows of n values, row t at t * stride. */
struct nb_ctx {
    const nb_model *m;
    int32_t n_ctx;     /* KV cache positions                               */
    int32_t pos;       /* next position                                    */
    int32_t kv_f16;    /* KV cache stored as F16                           */
    int32_t float_path;
    int32_t n_batch;   /* tokens per micro-batch (B)                       */
    int32_t n_threads; /* threads of the matrix products and attention     */
    int32_t xb_dim;    /* row length of xb: max(n_embd, n_head * head_dim) */
    int32_t qkv_dim;   /* row length of q: q_dim + 2 * kv_dim              */
    int32_t max_row;   /* longest weight row (n_in of any matrix)          */
    size_t act_stride; /* bytes of one activation row in a partner format  */
    struct nb_team *team; /* the threads of the batch running (forward.c) */
    int32_t spin_ns;   /* how long a thread spins at a barrier (forward.c) */
    float *x;          /* (B, n_embd) residual stream                      */
    float *xb;         /* (B, xb_dim) activation inside a residual branch  */
    float *xb2;        /* (B, n_embd) branch output before the residual add */
    float *q;          /* (B, qkv_dim) query, then key, then value         */
    float *att;        /* (n_threads, n_ctx up to whole 16-key tiles) scores */
    float *hb;         /* (B, 2 * n_ff) gate, then up projection           */
    float *row;        /* (n_threads, max_row) one dequantized weight row  */
    float *logits;     /* (n_vocab) of the last token                      */
    float *rope_inv;   /* (n_rot / 2) inverse frequencies                  */
    float *rope_inv_swa; /* (n_rot / 2) the same for local layers          */
    void *act;         /* (B, act_stride bytes) activations, partner format */
    void *key_cache;   /* (n_layer, n_ctx / 16 tiles, kv_dim, 16) F32 or F16:
                        * tiles of 16 positions, n_ctx rounded up (attn.h) */
    void *value_cache; /* (n_layer, n_ctx, kv_dim) F32 or F16              */
};

#endif
