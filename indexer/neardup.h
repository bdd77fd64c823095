/* vidx indexer: matching frames by their perceptual hashes (phash.h): the original a new
 * video re-uploads, and the video a picture comes from.
 *
 * Near-duplicates. A re-upload that was re-encoded, scaled, trimmed, slightly cropped,
 * boxed or watermarked keeps its frames' hashes within VX_PHASH_MATCH_BITS of the
 * original's, at times shifted by a constant (the trim). So:
 *   1. candidates: videos that share one of the four 16-bit bands of a frame hash (the
 *      catalog's "h" keys: a lookup per band and frame, never a scan of all videos; by
 *      the pigeonhole principle two hashes within 3 bits share a band, and a re-upload
 *      has enough frames within a few bits for two of them to hit);
 *   2. alignment: every pair of frames within VX_PHASH_MATCH_BITS votes for its time
 *      offset; at the winning offset, a frame of the new video is matched when the
 *      candidate has a frame within the bits and VX_NEARDUP_SLACK seconds;
 *   3. decision: linked when at least VX_NEARDUP_MIN_MATCHED frames match, they cover at
 *      least VX_NEARDUP_COVERAGE of the new video's non-flat frames that overlap the
 *      candidate in time, and they show at least two different pictures (hashes more
 *      than VX_NEARDUP_PICTURE_BITS apart, well beyond the noise of one shot: a still shot
 *      matches any other still shot of the same place: videos without change, or too
 *      short to show one at a frame a second, are never linked);
 *   4. confirmation, where a model is present: the new video's matched frames must lie
 *      near the candidate's segments holding their partners (mean cosine at least
 *      VX_NEARDUP_CONFIRM: a floor against hashes that agree by chance on different
 *      pictures, which CLIP puts far apart; a box or a watermark moves a frame's
 *      embedding less than that).
 * Flat frames (black, fades) have no hash and never match, and a shared intro covers
 * too little of either video: two different videos sharing only those are not linked.
 * bench/understand.md (section 1) measures precision and recall on variants made with FFmpeg.
 */
#ifndef VX_NEARDUP_H
#define VX_NEARDUP_H

#include "../schemas/catalog.h"
#include "phash.h"

#define VX_PHASH_MATCH_BITS 14     /* bits two frames' hashes may differ in and be one picture */
#define VX_NEARDUP_PICTURE_BITS 20 /* bits apart that make two matched frames different pictures */
#define VX_NEARDUP_SLACK 1.0       /* seconds between a frame and its partner at the offset */
#define VX_NEARDUP_MIN_MATCHED 3
#define VX_NEARDUP_COVERAGE 0.6
#define VX_NEARDUP_CONFIRM 0.7f

typedef struct vx_neardup {
    uint64_t original;   /* the linked video (an indexed original), 0 if none */
    double offset;       /* seconds: the original's time = this video's time + offset */
    int matched;         /* frames of this video with a partner at the offset */
    int overlap;         /* frames of this video (non-flat) inside the original's time span at the offset */
    int distinct;        /* pictures among the matched frames (hashes more than VX_NEARDUP_PICTURE_BITS apart) */
    double coverage;     /* matched / overlap */
    float confirm;       /* mean cosine of the confirmation; 2 when no model checked it */
} vx_neardup;

/* The alignment of frames a (a new video) with frames b (a candidate), and whether it
 * links them (returns 1) or not (0); out says why. */
int vx_align_frames(const vx_frame_print *a, int na, const vx_frame_print *b, int nb, vx_neardup *out);
/* The same with another bit threshold and coverage (bench/bench_understand.c sweeps them). */
int vx_align_frames_with(const vx_frame_print *a, int na, const vx_frame_print *b, int nb, int bits, double coverage,
                         vx_neardup *out);

/* The indexed original the video `self` (its frames; emb: its frame embeddings, n x dim,
 * or NULL) re-uploads: 1 with *out filled, 0 when none, -1 on catalog errors. */
int vx_find_near_duplicate(vx_catalog *cat, uint64_t self, const vx_frame_print *frames, int n, const float *emb,
                           int dim, vx_neardup *out, vx_error *err);

/* The frame a picture (its hash) comes from: 1 with the video, its time and the bits
 * apart (at most VX_PHASH_MATCH_BITS), 0 when no indexed frame is that close. */
typedef struct vx_picture_source {
    uint64_t video_id;
    double t;
    int distance;
} vx_picture_source;
int vx_find_picture_source(vx_catalog *cat, uint64_t phash, vx_picture_source *out, vx_error *err);

#endif
