/* Fuzz target: PyTorch checkpoints (zip and legacy containers, the restricted pickle
 * reader) on arbitrary file images. An accepted file's tensors lie inside the input or in
 * copies the reader made, so converting each float tensor reads only valid bytes (the
 * sanitizers check). */
#include <stdint.h>
#include <stdlib.h>

#include "../../encoder/torchfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vx_error err;
    err.msg[0] = '\0';
    vx_pt_file *f = vx_pt_open_memory(data, size, "fuzz.bin", &err);
    if (!f) {
        if (!err.msg[0]) abort();
        return 0;
    }
    for (int i = 0; i < f->n_tensors; i++) {
        const vx_st_tensor *t = &f->tensors[i];
        int inside = t->data >= data && t->data + t->nbytes <= data + size;
        for (int k = 0; !inside && k < f->n_owned; k++) inside = t->data == f->owned[k];
        if (!inside && t->nbytes) abort();
        if ((t->dtype == VX_DT_F32 || t->dtype == VX_DT_F16 || t->dtype == VX_DT_BF16) && t->numel <= (1u << 20)) {
            float *out = malloc((t->numel ? t->numel : 1) * sizeof *out);
            if (out) vx_st_to_f32(t, out);
            free(out);
        }
    }
    vx_pt_close(f);
    return 0;
}
