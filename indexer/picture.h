/* vidx indexer: pictures sent as queries (POST /v1/search with an image body, `vidx
 * search --image`): JPEG, PNG or WebP, checked before anything is decoded.
 *
 * vx_picture_sniff reads the format and the size from the header alone (a pure parser
 * of untrusted bytes: fuzzed by tests/fuzz/fuzz_picture.c), so a picture too large or
 * not a picture at all is refused at once with the reason, before a decoder allocates
 * anything. vx_picture_decode (decode.c) then decodes it with FFmpeg's decoder for that
 * format alone into the same upright RGB the frame sampler gives, which the encoder's
 * preprocessing takes exactly as it takes frames.
 */
#ifndef VX_PICTURE_H
#define VX_PICTURE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "../encoder/image.h"

#define VX_PICTURE_MAX_BYTES (8u << 20)         /* bytes of one picture (phone photos are 2 to 5 MiB) */
#define VX_PICTURE_MAX_PIXELS (40u * 1000 * 1000) /* width x height of a JPEG (decoded at a reduced scale) */
#define VX_PICTURE_MAX_DECODED (12u * 1000 * 1000) /* ... of a PNG or WebP, decoded whole; of any decoded picture */
#define VX_PICTURE_MAX_SIDE 16384u

typedef enum { VX_PICTURE_JPEG = 1, VX_PICTURE_PNG = 2, VX_PICTURE_WEBP = 3 } vx_picture_format;

typedef struct vx_picture_info {
    int format;               /* vx_picture_format */
    uint32_t width, height;   /* from the header */
} vx_picture_info;

const char *vx_picture_format_name(int format); /* "JPEG", "PNG", "WebP" */
/* What a picture query searched for, as its answer's "query" says it: "JPEG image 640x360". */
void vx_picture_describe(const vx_picture_info *info, char *out, size_t size);

/* The format and size from the header. 0, or -1 with err saying why: not one of the
 * three formats (and what the bytes start like), a header cut short or malformed, or a
 * size outside the limits. */
int vx_picture_sniff(const uint8_t *data, size_t len, vx_picture_info *info, vx_error *err);

/* Sniffs, then decodes the first picture into 8-bit RGB (vx_rgb_free). A JPEG is decoded
 * at 1/2, 1/4 or 1/8 of its size (the DCT's own reduction: a fraction of the work and
 * memory) while its short side stays at least min_side (CLIP needs 224 pixels; 0: whole).
 * -1 with err naming the problem ("the JPEG image is corrupt: ..."). */
int vx_picture_decode(const uint8_t *data, size_t len, int min_side, vx_rgb_image *out, vx_picture_info *info,
                      vx_error *err);

#endif
