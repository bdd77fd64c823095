/* vidx indexer: JPEG thumbnails.
 *
 * Thumbnails live in DATA/thumbs/: VIDEOID.jpg for a video, VIDEOID-SEGMENT.jpg for a
 * segment (ids as 16 hex digits). Written to a temporary file and renamed, so a crash
 * never leaves half a JPEG under the final name.
 */
#ifndef VX_THUMBS_H
#define VX_THUMBS_H

#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "../common/path.h"
#include "../encoder/image.h"

#define VX_THUMB_WIDTH 320 /* pixels; height keeps the aspect ratio */

/* Downscales (never enlarges) a frame to thumbnail size; dst allocated here. */
int vx_thumb_from_frame(const vx_rgb_image *frame, vx_rgb_image *dst, vx_error *err);
/* Encodes img as JPEG into *data (malloc'd, caller frees), *len bytes. */
int vx_encode_jpeg(const vx_rgb_image *img, uint8_t **data, size_t *len, vx_error *err);
/* DATA/thumbs/ID.jpg (segment < 0) or DATA/thumbs/ID-SEGMENT.jpg. */
int vx_thumb_path(const char *data_dir, uint64_t video_id, int segment, vx_path out, vx_error *err);

#endif
