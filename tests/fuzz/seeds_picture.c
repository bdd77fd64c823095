/* Seeds for fuzz_picture: the headers of the three formats (JPEG with an APP0 segment and
 * a baseline frame header and its end marker, PNG's IHDR, WebP's VP8, VP8L and VP8X
 * chunks), and a JPEG without a frame header. */
#include <string.h>

#include "fuzz_seeds.h"

int fuzz_seeds(vx_buf *seeds, size_t *n_seeds, size_t max_seeds) {
    static const struct { const char *bytes; size_t len; } s[] = {
#define SEED(lit) {lit, sizeof lit - 1}
        SEED("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
             "\xff\xc0\x00\x11\x08\x01\x10\x02\x80\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
             "\xff\xda\x00\x0c\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00\x12\x34\xff\xd9"),
        SEED("\xff\xd8\xff\xff\xd0\xff\xda\x00\x02\xff\xd9"),
        SEED("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x02\x80\x00\x00\x01\xe0\x08\x02\x00\x00\x00"),
        SEED("RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00\x30\x01\x00\x9d\x01\x2a\x80\x02\xe0\x01\x00\x00"),
        SEED("RIFF\x24\x00\x00\x00WEBPVP8L\x18\x00\x00\x00\x2f\x7f\xc0\x77\x00\x00\x00\x00\x00"),
        SEED("RIFF\x24\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x10\x00\x00\x00\x7f\x02\x00\xdf\x01\x00"),
#undef SEED
    };
    size_t n = sizeof s / sizeof s[0];
    if (max_seeds < n) return -1;
    for (size_t i = 0; i < n; i++) {
        vx_buf_reset(&seeds[i]);
        vx_put_bytes(&seeds[i], s[i].bytes, s[i].len);
    }
    *n_seeds = n;
    return 0;
}
