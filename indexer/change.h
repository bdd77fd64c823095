/* vidx indexer: whether a sampled frame changed from the last one encoded.
 *
 * Much video barely changes from one sampled second to the next (slides, screen
 * recordings, interviews, surveillance). A frame that is nearly identical to the last
 * frame encoded from the same file reuses its embedding instead of going through the
 * encoder. The test is cheap and runs on the decoding thread before the encoder: the
 * frame (the model-sized copy) is averaged into a 32 x 32 grid of RGB cells, and two
 * frames are the same picture when their cells differ little on average and nowhere
 * much. The "nowhere much" part keeps local changes (a caption appearing, a slide's
 * next bullet, a person entering a corner) encoded; a cut changes nearly every cell.
 * Comparing with the last *encoded* frame, not the previous one, bounds the drift of a
 * slow change: it is encoded once it adds up past the thresholds.
 */
#ifndef VX_CHANGE_H
#define VX_CHANGE_H

#include <stdint.h>

#include "../encoder/image.h"

#define VX_CHANGE_GRID 32

/* Thresholds in 8-bit levels (0..255) of a cell's mean, chosen on the shared clips with
 * a ViT-B/32-shaped random model (which, untrained, reacts to small changes more than a
 * trained one): between consecutive sampled frames within them, embeddings agreed to
 * cosine >= 0.9992; looser ones (mean 2, max 12 on a 16 x 16 grid) let frames of small
 * moving cars and people through at cosine 0.9977 and segments fell to 0.9979. With
 * these, segments stay within 0.9998 of encoding every frame (test_reuse). */
#define VX_CHANGE_MEAN_LEVELS 0.8 /* mean |difference| over all cells */
#define VX_CHANGE_MAX_LEVELS 8    /* largest |difference| of any one cell */

typedef struct vx_frame_sig {
    uint8_t cell[VX_CHANGE_GRID * VX_CHANGE_GRID * 3];
} vx_frame_sig;

void vx_frame_signature(const vx_rgb_image *img, vx_frame_sig *out);
/* Mean and largest absolute difference of the cells, in levels. */
void vx_frame_difference(const vx_frame_sig *a, const vx_frame_sig *b, double *mean, int *max);
/* 1 when b is the same picture as a, within the thresholds above. */
int vx_frame_same(const vx_frame_sig *a, const vx_frame_sig *b);

#endif
