/* vidx encoder: CLIP image and text towers in C on OpenBLAS.
 *
 * A vx_clip holds a model loaded from a Hugging Face CLIP folder (config.json, the
 * weights in any published format: model.safetensors, pytorch_model.bin, or their shards
 * (encoder/checkpoint.h), vocab.json + merges.txt or bpe_simple_vocab_16e6.txt.gz): its
 * config, its weights (F32 tensors used in place from the mmapped file, F16/BF16
 * converted once) and its tokenizer. It is read-only after loading and may be shared by
 * threads.
 *
 * A vx_clip_ctx is one thread's run state: every activation buffer, allocated once for
 * a maximum batch. The forward passes never allocate; bigger inputs run in chunks.
 *
 * Embeddings come out L2-normalised, proj_dim floats each.
 *
 * Conventions: constructors return NULL and fill err; free functions accept NULL;
 * other calls return 0 or -1 with err.
 */
#ifndef VX_CLIP_H
#define VX_CLIP_H

#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "qlinear.h"
#include "tokenizer.h"
#include "transformer.h"

/* vx_tower_config and vx_activation: transformer.h. */

typedef struct vx_clip_config {
    vx_tower_config vision, text;
    int image_size;    /* pixels per side of the model's input */
    int patch_size;
    int grid;          /* image_size / patch_size */
    int vision_tokens; /* grid * grid + 1 (class token) */
    int context;       /* text positions (max_position_embeddings) */
    int vocab;
    int proj_dim;      /* joint embedding size */
} vx_clip_config;

/* Hugging Face's CLIPTextConfig default for max_position_embeddings, for tokenizer
 * folders without a config.json. */
#define VX_CLIP_DEFAULT_CONTEXT 77

typedef struct vx_clip vx_clip;
typedef struct vx_clip_ctx vx_clip_ctx;

/* Reads and validates config.json into cfg (HF defaults for absent keys). */
int vx_clip_config_load(const char *path, vx_clip_config *cfg, vx_error *err);

/* Loads a model folder. A missing folder or file gets a message that says what is
 * missing and how to get the model. */
vx_clip *vx_clip_load(const char *dir, vx_error *err);
/* The same at a precision (qlinear.h): the large matrix products' weights are packed
 * once in BF16 or INT8; LayerNorm, softmax, attention and residuals stay FP32. Fails
 * when this CPU lacks the instructions for it. vx_clip_load is vx_clip_load_at(F32). */
vx_clip *vx_clip_load_at(const char *dir, vx_precision precision, vx_error *err);
vx_precision vx_clip_precision(const vx_clip *m);
void vx_clip_free(vx_clip *m);
const vx_clip_config *vx_clip_get_config(const vx_clip *m);
const vx_tokenizer *vx_clip_tokenizer(const vx_clip *m);
/* Identifies the model: XXH3 of config.json and of the weights' hash, the same for every
 * format of the same weights (encoder/checkpoint.h). */
uint64_t vx_clip_fingerprint(const vx_clip *m);
/* Whether fp (recorded in a database) names this model: its fingerprint, or the one
 * databases made before recorded for the same files (config.json + safetensors header). */
int vx_clip_is_fingerprint(const vx_clip *m, uint64_t fp);
/* What the weights were read from, e.g. "pytorch_model.bin (PyTorch zip)". */
const char *vx_clip_weights_format(const vx_clip *m);
const char *vx_clip_dir(const vx_clip *m);

/* Run state for up to max_images images and max_tokens text tokens per chunk. */
vx_clip_ctx *vx_clip_ctx_new(const vx_clip *m, int max_images, int max_tokens, vx_error *err);
void vx_clip_ctx_free(vx_clip_ctx *ctx);
/* Bytes of activation memory the context holds. */
size_t vx_clip_ctx_bytes(const vx_clip_ctx *ctx);

/* pixels: n x 3 x S x S float32, preprocessed (vx_image_preprocess). out: n x proj_dim. */
int vx_clip_encode_images(vx_clip_ctx *ctx, const float *pixels, int n, float *out, vx_error *err);
/* ids[i]: lens[i] token ids with start and end tokens (vx_tokenize). out: n x proj_dim.
 * Each text costs only its own length: no padding positions. */
int vx_clip_encode_tokens(vx_clip_ctx *ctx, const int32_t *const *ids, const int *lens, int n, float *out,
                          vx_error *err);
/* Tokenizes and encodes n texts. */
int vx_clip_encode_texts(vx_clip_ctx *ctx, const char *const *texts, int n, float *out, vx_error *err);

/* The message every command prints when no model is at `dir`. */
void vx_clip_missing_hint(const char *dir, char *out, size_t size);

#endif
