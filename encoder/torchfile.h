/* vidx encoder: PyTorch checkpoints (pytorch_model.bin) read without Python.
 *
 * torch.save writes a state dict in one of two containers, and the hub publishes both:
 *   - zip (torch >= 1.6): an uncompressed archive holding PREFIX/data.pkl (the pickle) and
 *     PREFIX/data/KEY (one raw storage per key);
 *   - legacy (torch < 1.6): consecutive pickles (magic number, protocol 1001, system
 *     info, the state dict, the list of storage keys), then each storage as an 8-byte
 *     element count and its raw bytes, in that list's order.
 *
 * The pickle is read by a restricted reader written for this purpose, not Python's: only
 * the opcodes of protocols 2-5 that a state dict uses, and only these globals:
 * collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_tensor /
 * _rebuild_parameter, and the torch.*Storage types of F32, F16, BF16, F64, int64, int32,
 * int16, int8, uint8 and bool. Any other global is refused with an error naming it;
 * nothing is ever called or executed: a "call" of an allowed global builds a value.
 *
 * Every storage and every tensor view (offset, shape, strides) is checked against the
 * file's real size before use. Contiguous tensors point into the read-only mapping (for
 * a legacy file with unaligned storages, into one aligned copy of the file: one pass);
 * strided views are copied into memory the file owns. Non-tensor entries of the state
 * dict (an extra state's metadata) are skipped.
 *
 * Conventions: vx_pt_open returns NULL and fills err (naming the file and the problem);
 * vx_pt_close accepts NULL. Tensor pointers stay valid until vx_pt_close.
 */
#ifndef VX_TORCHFILE_H
#define VX_TORCHFILE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "safetensors.h"

typedef enum vx_pt_container { VX_PT_NONE, VX_PT_ZIP, VX_PT_LEGACY } vx_pt_container;

typedef struct vx_pt_file {
    char *path;
    vx_pt_container container;
    void *map;               /* the file, mapped read-only (NULL when read into image) */
    size_t map_size;
    void *image;             /* a legacy file whose float storages sit off 4-byte boundaries
                              * (each follows an 8-byte count at any offset): read into memory
                              * shifted so that they are aligned and used in place */
    size_t image_size;
    int n_tensors;
    vx_st_tensor *tensors;   /* in the state dict's order */
    void **owned;            /* copies of strided views */
    int n_owned;
} vx_pt_file;

/* Which PyTorch container the first bytes of a file are (VX_PT_NONE: neither). */
vx_pt_container vx_pt_sniff(const uint8_t *p, size_t n);

vx_pt_file *vx_pt_open(const char *path, vx_error *err);
/* The same on a file image in memory (borrowed: keep it alive until close). */
vx_pt_file *vx_pt_open_memory(const void *data, size_t size, const char *name, vx_error *err);
void vx_pt_close(vx_pt_file *f);

#endif
