/* Seeds for fuzz_safetensors: small valid files in each float dtype, with metadata and
 * an I64 buffer as the published CLIP checkpoints have. */
#include <stdio.h>
#include <string.h>

#include "fuzz_seeds.h"

static void file(vx_buf *b, const char *header, size_t data_bytes) {
    size_t n = strlen(header);
    vx_put_u64le(b, n);
    vx_put_bytes(b, header, n);
    for (size_t i = 0; i < data_bytes; i++) vx_put_u8(b, (uint8_t)(i * 37 + 11));
}

int fuzz_seeds(vx_buf *seeds, size_t *n_seeds, size_t max_seeds) {
    if (max_seeds < 4) return -1;
    for (int i = 0; i < 4; i++) vx_buf_reset(&seeds[i]);
    file(&seeds[0], "{\"__metadata__\":{\"format\":\"pt\"},\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                    "\"data_offsets\":[0,24]},\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]}}", 32);
    file(&seeds[1], "{\"x\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
                    "\"ids\":{\"dtype\":\"I64\",\"shape\":[1,2],\"data_offsets\":[8,24]}}", 24);
    file(&seeds[2], "{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4);
    file(&seeds[3], "{}", 0);
    *n_seeds = 4;
    return 0;
}
