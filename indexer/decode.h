/* vidx indexer: decoding pictures with FFmpeg's libraries.
 *
 * Conventions: functions return 0 or -1 with err naming the file and the problem; the
 * returned image is owned by the caller (vx_rgb_free).
 */
#ifndef VX_DECODE_H
#define VX_DECODE_H

#include "../common/error.h"
#include "../encoder/image.h"

/* Decodes the first picture of any file FFmpeg reads (PNG, JPEG, WebP, BMP, GIF, or
 * the first frame of a video) into 8-bit RGB. Pictures larger than 16384 pixels a side
 * are refused. */
int vx_decode_image_file(const char *path, vx_rgb_image *out, vx_error *err);

#endif
