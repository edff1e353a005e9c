/* Internal to lib/model. */
#ifndef NB_MODEL_H
#define NB_MODEL_H

#include "../core/core.h"

/* Run state for one sequence: scratch buffers and the KV cache, all inside
 * the caller's arena (see nb_ctx_size). Shapes in the comments. */
struct nb_ctx {
    const nb_model *m;
    int32_t n_ctx;     /* KV cache positions                               */
    int32_t pos;       /* next position                                    */
    int32_t kv_f16;    /* KV cache stored as F16                           */
    int32_t float_path;
    float *x;          /* (n_embd) residual stream                         */
    float *xb;         /* (n_embd) activation inside a residual branch     */
    float *xb2;        /* (n_embd) branch output before the residual add   */
    float *q;          /* (n_head * head_dim) query; k and v follow it     */
    float *k;          /* (kv_dim) key of this position                    */
    float *v;          /* (kv_dim) value of this position                  */
    float *att;        /* (n_ctx) attention scores of one head             */
    float *hb;         /* (n_ff) gate activation; hb2 follows it           */
    float *hb2;        /* (n_ff) up projection                             */
    float *row;        /* (max row length) one dequantized weight row      */
    float *logits;     /* (n_vocab)                                        */
    float *rope_inv;   /* (n_rot / 2) inverse frequencies                  */
    float *rope_inv_swa; /* (n_rot / 2) the same for local layers          */
    void *act;         /* (max row length) activation in a partner format  */
    void *key_cache;   /* (n_layer, n_ctx, kv_dim) F32 or F16              */
    void *value_cache; /* (n_layer, n_ctx, kv_dim) F32 or F16              */
};

#endif
