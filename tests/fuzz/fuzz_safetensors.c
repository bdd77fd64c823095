/* Fuzz target: safetensors validation on arbitrary file images. An accepted file must
 * have every tensor inside the data, so converting each float tensor reads only bytes
 * of the input (the sanitizers check). */
#include <stdint.h>
#include <stdlib.h>

#include "../../encoder/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vx_error err;
    vx_safetensors *st = vx_st_open_memory(data, size, "fuzz.safetensors", &err);
    if (!st) {
        if (!err.msg[0]) abort();
        return 0;
    }
    for (int i = 0; i < st->n_tensors; i++) {
        const vx_st_tensor *t = &st->tensors[i];
        if (t->data < data || t->data + t->nbytes > data + size) abort();
        if ((t->dtype == VX_DT_F32 || t->dtype == VX_DT_F16 || t->dtype == VX_DT_BF16) && t->numel <= (1u << 20)) {
            float *out = malloc((t->numel ? t->numel : 1) * sizeof *out);
            if (out) vx_st_to_f32(t, out);
            free(out);
        }
        if (vx_st_check(st, t->name, t->ndim, t->shape, &err) != 0 && !err.msg[0]) abort();
    }
    vx_st_close(st);
    return 0;
}
