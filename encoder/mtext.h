/* vidx encoder: the multilingual text tower, sentence-transformers'
 * clip-ViT-B-32-multilingual-v1: a 6-layer multilingual DistilBERT whose mean-pooled
 * output, through a Dense layer, lies in OpenAI ViT-B/32's image space, so the frames
 * CLIP's vision tower already embedded answer queries in 50+ languages.
 *
 * A model folder as sentence-transformers publishes it:
 *   modules.json                   Transformer (the folder itself), Pooling, Dense, in order
 *   config.json                    DistilBertConfig (dim, n_layers, n_heads, hidden_dim,
 *                                  activation, max_position_embeddings, vocab_size)
 *   model.safetensors | pytorch_model.bin   DistilBERT's weights (encoder/checkpoint.h)
 *   tokenizer.json | vocab.txt     WordPiece (encoder/wordpiece.h)
 *   sentence_bert_config.json      max_seq_length (128)
 *   1_Pooling/config.json          mean pooling over the tokens
 *   2_Dense/config.json + weights  dim -> the image space, no bias, identity activation
 * Every setting it does not implement (another pooling, a Dense with bias or an
 * activation, sinusoidal positions) is refused with the reason.
 *
 * One block implementation with CLIP (transformer.h): post-LayerNorm (eps 1e-12), GELU,
 * at F32, BF16 or INT8. Embeddings come out L2-normalised. A vx_mtext is read-only after
 * loading; a vx_mtext_ctx is one thread's activations. */
#ifndef VX_MTEXT_H
#define VX_MTEXT_H

#include <stdint.h>

#include "../common/error.h"
#include "qlinear.h"
#include "wordpiece.h"

typedef struct vx_mtext vx_mtext;
typedef struct vx_mtext_ctx vx_mtext_ctx;

vx_mtext *vx_mtext_load(const char *dir, vx_precision precision, vx_error *err);
void vx_mtext_free(vx_mtext *m);

int vx_mtext_dim(const vx_mtext *m);        /* of the embeddings: the image space's (512) */
int vx_mtext_max_tokens(const vx_mtext *m); /* a text's ids at most, [CLS] and [SEP] included */
const vx_wordpiece *vx_mtext_tokenizer(const vx_mtext *m);
/* The model's identity: its configs' bytes and its weights' hash. */
uint64_t vx_mtext_fingerprint(const vx_mtext *m);

/* Activations for batches of up to max_tokens ids in all. */
vx_mtext_ctx *vx_mtext_ctx_new(const vx_mtext *m, int max_tokens, vx_error *err);
void vx_mtext_ctx_free(vx_mtext_ctx *ctx);

/* n texts' ids (as the tokenizer makes them) -> n embeddings out[n, dim]. */
int vx_mtext_encode_tokens(vx_mtext_ctx *ctx, const int32_t *const *ids, const int *lens, int n, float *out,
                           vx_error *err);
int vx_mtext_encode_texts(vx_mtext_ctx *ctx, const char *const *texts, int n, float *out, vx_error *err);

#endif
