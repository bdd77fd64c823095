/* vidx indexer: perceptual hashes of frames, for near-duplicate videos and for finding
 * the video a picture comes from, whatever the model.
 *
 * A frame's hash is the DCT hash of the published pHash family: uniform borders (letter
 * and pillar boxes, padding) are cut away, the rest is averaged down to 32x32 grey, its
 * 2-D DCT taken, and the 64 lowest frequencies but the constant one ([1..8] x [1..8])
 * compared with their median: one bit each. Re-encoding, scaling, a slight crop, a
 * small watermark or a change of colour balance move few bits; different pictures
 * differ in about half (32) of them.
 *
 * A frame that is nearly uniform (black, a fade, a solid title card) has no stable hash:
 * its low frequencies are noise. Such frames are marked flat and never used to link
 * videos or match pictures, so two videos that share only black frames or a fade are
 * not linked.
 */
#ifndef VX_PHASH_H
#define VX_PHASH_H

#include <stdint.h>

#include "../encoder/image.h"

typedef struct vx_phash {
    uint64_t bits;
    int flat;       /* nearly uniform: no usable hash */
} vx_phash;

void vx_phash_frame(const vx_rgb_image *img, vx_phash *out);

static inline int vx_phash_distance(uint64_t a, uint64_t b) { return __builtin_popcountll(a ^ b); }

#endif
