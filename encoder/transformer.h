/* vidx encoder: the transformer encoder every text and image tower runs: CLIP's towers
 * (pre-LayerNorm blocks) and the multilingual text tower's DistilBERT (post-LayerNorm),
 * one implementation of a block for both.
 *
 *   - vx_tf_layer: one block's weights, checked and loaded from a checkpoint by name
 *     (vx_tf_load_layers), at F32 in place from the mapped file or packed for oneDNN at
 *     BF16/INT8 (qlinear.h);
 *   - vx_tf_state: the activations of up to `rows` token rows, allocated once;
 *   - vx_tf_block: a block over a batch of independent sequences (each attends only
 *     within itself, causally for CLIP's text);
 *   - every matrix product goes through vx_tf_linear (and the BLAS call of clip_gemm.h),
 *     which benchmarks observe.
 * Nothing here allocates during a forward pass. */
#ifndef VX_TRANSFORMER_H
#define VX_TRANSFORMER_H

#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "checkpoint.h"
#include "qlinear.h"

typedef enum { VX_ACT_QUICK_GELU, VX_ACT_GELU } vx_activation;

typedef struct vx_tower_config {
    int width;   /* hidden size */
    int layers;
    int heads;
    int mlp;     /* intermediate size */
    float eps;   /* LayerNorm epsilon */
    vx_activation act;
    int post_ln; /* LayerNorm after each residual sum (BERT), not before each sub-block (CLIP) */
} vx_tower_config;

/* Memory a model owns: tensors converted from the file's dtype, fused or packed copies. */
typedef struct vx_tf_owner {
    void **owned;
    int n, cap;
} vx_tf_owner;
void *vx_tf_own(vx_tf_owner *o, size_t bytes);
void vx_tf_owner_free(vx_tf_owner *o);

/* A checked float tensor: F32 with 4-byte alignment in place from the mapping, anything
 * else converted into memory o owns. NULL with err when missing or of another shape. */
const float *vx_tf_tensor(vx_tf_owner *o, vx_checkpoint *ck, const char *name, int ndim, const int64_t *shape,
                          vx_error *err);

typedef struct vx_tf_layer {
    const float *ln1_w, *ln1_b; /* [W]: before attention (pre-LN), or after its residual sum (post-LN) */
    float *qkv_w;               /* [3W, W]: q, k and v projections fused into one product */
    float *qkv_b;               /* [3W] */
    const float *out_w, *out_b; /* [W, W], [W] */
    const float *ln2_w, *ln2_b; /* [W]: before the MLP, or after its residual sum */
    const float *fc1_w, *fc1_b; /* [M, W], [M] */
    const float *fc2_w, *fc2_b; /* [W, M], [W] */
    /* At BF16 or INT8: the four products' weights, packed (then qkv_w is NULL and the
     * FP32 weights are not read). */
    vx_qweight *q_qkv, *q_out, *q_fc1, *q_fc2;
} vx_tf_layer;

/* The names of a block's tensors in a checkpoint: "PREFIX" + layer + "." + part, then
 * ".weight" or ".bias". */
typedef struct vx_tf_names {
    const char *ln1, *ln2, *q, *k, *v, *out, *fc1, *fc2;
} vx_tf_names;

/* Loads c->layers blocks named prefix0.., prefix1.., ... into L (zeroed first). */
int vx_tf_load_layers(vx_tf_owner *o, vx_checkpoint *ck, vx_precision precision, const char *prefix,
                      const vx_tf_names *names, const vx_tower_config *c, vx_tf_layer *L, vx_error *err);
void vx_tf_free_layers(vx_tf_layer *L, int n);

/* How products run: the reduced-precision runner (NULL at F32) and the threads for
 * attention heads and element-wise passes. */
typedef struct vx_tf_runner {
    vx_qrunner *qr;
    int threads;
} vx_tf_runner;

/* One tower's activations, for up to `rows` token rows. */
typedef struct vx_tf_state {
    int rows;
    float *x;      /* [rows, W]  residual stream */
    float *h;      /* [rows, W]  normalised input of a sub-block */
    float *qkv;    /* [rows, 3W] */
    float *attn;   /* [rows, W]  attention output before its projection */
    float *mlp;    /* [rows, M] */
    float *scores; /* per thread: one head's attention matrix [n, n] and its K^T [dh, n] */
    size_t scores_stride; /* floats between two threads' blocks */
} vx_tf_state;
/* For sequences of at most max_seq rows; adds the bytes to *bytes. -1 out of memory. */
int vx_tf_state_init(vx_tf_state *s, const vx_tower_config *c, int rows, int max_seq, int threads, size_t *bytes);
void vx_tf_state_free(vx_tf_state *s);

/* out[rows, out_dim] (= or +=) in[rows, in_dim] * W^T + b, W stored [out_dim, in_dim],
 * then act (without accumulate) when given; with q, through oneDNN on the packed copy
 * (errors kept in the runner: vx_tf_error). */
void vx_tf_linear(const vx_tf_runner *r, const float *in, int rows, int in_dim, const float *W, const vx_qweight *q,
                  const float *b, int out_dim, float *out, int accumulate, const vx_activation *act);
/* Row by row; in and out may be the same. */
void vx_tf_layernorm(const float *in, float *out, int rows, int dim, const float *w, const float *b, float eps,
                     int threads);
/* One block over `rows` rows of s->x, n_seq independent sequences (seq_start[i],
 * seq_len[i]) that attend only within themselves, causally when causal is set. */
void vx_tf_block(const vx_tf_runner *r, const vx_tf_layer *L, const vx_tower_config *c, vx_tf_state *s, int rows,
                 const int *seq_start, const int *seq_len, int n_seq, int causal);
/* n texts' token ids through a text tower: each text checked (1 to max_len ids, each
 * below vocab), then run(arg, first, k, out_first) on runs of texts whose ids fit
 * max_rows rows, at most max_texts texts a run (its pooled rows), out_first the run's
 * first output row (out_dim floats each). 0, or -1 with err. */
int vx_tf_encode_runs(const vx_tf_runner *r, const int32_t *const *ids, const int *lens, int n, int max_len, int vocab,
                      int max_rows, int max_texts, void (*run)(void *arg, const int32_t *const *ids, const int *lens,
                                                               int k, float *out),
                      void *arg, float *out, int out_dim, vx_error *err);

/* A reduced-precision product that failed during a forward pass (its outputs are then
 * meaningless): -1 with err. */
int vx_tf_error(const vx_tf_runner *r, vx_error *err);

#endif
