/* vidx encoder: a model folder's weights, in every format the Hugging Face hub publishes.
 *
 * Looked for in this order (the first present is read):
 *   model.safetensors                  one safetensors file
 *   model.safetensors.index.json       safetensors shards named by its weight_map
 *   pytorch_model.bin                  PyTorch's zip or legacy format (encoder/torchfile.h)
 *   pytorch_model.bin.index.json       PyTorch shards named by its weight_map
 * A shard's name must be a plain file name in the same folder. Every tensor named by a
 * weight_map must be in its shard, and no name may appear twice.
 *
 * The weights' identity (vx_ckpt_weights_hash) does not depend on the format: the same
 * float tensors (names, dtypes, shapes and bytes) give the same hash whether they come
 * from safetensors or a .bin, one file or shards, so a folder converted from one format to
 * another is still the same model. Large tensors are hashed by windows spread over them,
 * so that identifying a model costs milliseconds, not a pass over it. Integer buffers (position_ids) are left out: some
 * exports drop them.
 *
 * Conventions: vx_ckpt_open returns NULL and fills err (naming the file and the problem);
 * vx_ckpt_close accepts NULL. Tensors stay valid until vx_ckpt_close.
 */
#ifndef VX_CHECKPOINT_H
#define VX_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "safetensors.h"

typedef struct vx_checkpoint vx_checkpoint;

/* The weights file names looked for, in order, and how many there are. */
extern const char *const vx_ckpt_names[];
#define VX_CKPT_N_NAMES 4

/* The first of vx_ckpt_names present in dir (a regular file), or NULL. */
const char *vx_ckpt_find_file(const char *dir);

vx_checkpoint *vx_ckpt_open(const char *dir, vx_error *err);
void vx_ckpt_close(vx_checkpoint *c);

/* What was read, e.g. "pytorch_model.bin (PyTorch zip)" or "model.safetensors.index.json
 * (2 safetensors shards)". */
const char *vx_ckpt_describe(const vx_checkpoint *c);

const vx_st_tensor *vx_ckpt_find(const vx_checkpoint *c, const char *name);
/* Checks that `name` exists as a float tensor (F32, F16 or BF16) with exactly this shape;
 * err names the file, the tensor and the mismatch. */
int vx_ckpt_check(const vx_checkpoint *c, const char *name, int ndim, const int64_t *shape, vx_error *err);

/* XXH3 of the float tensors (see above): names, dtypes, shapes, and each tensor's bytes
 * (all of a small one; 16 windows of 1 KiB spread over a large one). */
uint64_t vx_ckpt_weights_hash(const vx_checkpoint *c);
/* The JSON header of a single model.safetensors (what fingerprints were made of before
 * the hash above), or NULL for any other format. */
const char *vx_ckpt_safetensors_header(const vx_checkpoint *c, size_t *len);

/* Lets the kernel drop the pages of the files read so far (after packing the weights
 * into another form); tensors used in place fault back in when read. */
void vx_ckpt_drop_pages(const vx_checkpoint *c);
/* The same for one tensor's whole pages, once it was copied or converted elsewhere. */
void vx_ckpt_drop_tensor(const vx_checkpoint *c, const vx_st_tensor *t);

#endif
