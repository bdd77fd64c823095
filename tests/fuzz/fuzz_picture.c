/* Fuzz target: vx_picture_sniff (indexer/picture.h), the header reader of pictures sent
 * as queries, on arbitrary bytes. It must never read out of bounds, must refuse with a
 * message, or accept a known format with a size inside the limits. */
#include <stdlib.h>

#include "../../indexer/picture.h"
#include "fuzz_seeds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* An exact-size copy, so ASan sees any read past the end. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    for (size_t i = 0; i < size; i++) copy[i] = data[i];
    vx_picture_info info;
    vx_error err;
    err.msg[0] = '\0';
    if (vx_picture_sniff(copy, size, &info, &err) != 0) {
        if (!err.msg[0]) abort();
    } else if (info.format < VX_PICTURE_JPEG || info.format > VX_PICTURE_WEBP || info.width == 0 ||
               info.height == 0 || info.width > VX_PICTURE_MAX_SIDE || info.height > VX_PICTURE_MAX_SIDE ||
               (uint64_t)info.width * info.height > VX_PICTURE_MAX_PIXELS) {
        abort();
    }
    free(copy);
    return 0;
}
