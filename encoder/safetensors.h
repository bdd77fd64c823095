/* vidx encoder: reading safetensors files.
 *
 * The file is mmapped read-only and its header validated completely before any tensor
 * is used: 8-byte little-endian header length within the file, JSON that parses, every
 * entry with a known dtype, a shape of non-negative dimensions whose byte size matches
 * its data_offsets, and offsets inside the data section.
 *
 * Conventions: vx_st_open returns NULL and fills err (naming the file and the problem);
 * vx_st_close accepts NULL. Tensor data pointers stay valid until vx_st_close.
 */
#ifndef VX_SAFETENSORS_H
#define VX_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"

#define VX_ST_MAX_DIMS 8

typedef enum {
    VX_DT_F32, VX_DT_F16, VX_DT_BF16, VX_DT_F64,
    VX_DT_I64, VX_DT_I32, VX_DT_I16, VX_DT_I8, VX_DT_U8, VX_DT_BOOL,
} vx_dtype;

typedef struct vx_st_tensor {
    char *name;
    vx_dtype dtype;
    int ndim;
    int64_t shape[VX_ST_MAX_DIMS];
    uint64_t numel;
    const uint8_t *data; /* into the mapping; may be unaligned */
    size_t nbytes;
} vx_st_tensor;

typedef struct vx_safetensors {
    char *path;
    void *map;
    size_t map_size;
    const char *header;   /* the JSON header bytes (not NUL-terminated) */
    size_t header_len;
    int n_tensors;
    vx_st_tensor *tensors;
} vx_safetensors;

vx_safetensors *vx_st_open(const char *path, vx_error *err);
/* Opens a weights file read-only and maps it whole (the loaders here): a regular file of
 * at least 8 bytes, `kind` naming its format in the message. Returns the mapping, its
 * size in *size and the open descriptor in *fd (the caller closes it), or NULL with err. */
void *vx_weights_map(const char *path, const char *kind, size_t *size, int *fd, vx_error *err);
/* The same validation on a file image in memory (borrowed: keep it alive until close). */
vx_safetensors *vx_st_open_memory(const void *data, size_t size, const char *name, vx_error *err);
void vx_st_close(vx_safetensors *st);
const vx_st_tensor *vx_st_find(const vx_safetensors *st, const char *name);
const char *vx_dtype_name(vx_dtype dt);

/* Checks that `name` exists as a float tensor (F32, F16 or BF16) with exactly the given
 * shape; err names the file, the tensor and the mismatch. */
int vx_st_check(const vx_safetensors *st, const char *name, int ndim, const int64_t *shape, vx_error *err);
/* The same check on a tensor found elsewhere (NULL: missing); file names its source. */
int vx_tensor_check(const vx_st_tensor *t, const char *file, const char *name, int ndim, const int64_t *shape,
                    vx_error *err);

/* Copies a float tensor into dst as float32 (converting F16/BF16). vx_st_check first. */
void vx_st_to_f32(const vx_st_tensor *t, float *dst);

/* IEEE half and bfloat16 (bit patterns) to float32, exactly. */
float vx_f16_to_f32(uint16_t h);
float vx_bf16_to_f32(uint16_t b);

#endif
