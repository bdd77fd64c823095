/* vidx indexer: web-playable renditions of what browsers do not play (probe.h decides).
 *
 * Everything else than MP4 with H.264 or AV1 and WebM with VP8, VP9 or AV1 (with AAC, Opus
 * or Vorbis sound, or none) (MPEG-1/2, MPEG-4 part 2, Theora, FLV, GIF, H.264 in Matroska or AVI,
 * 10-bit or 4:4:4 H.264, MP3 audio, ...) gets a rendition: H.264 + AAC in MP4 with the
 * index at the front (so seeking to a moment works with byte ranges), upright (the
 * rotation applied), square pixels, at most max_height lines (the short side for
 * portrait video), time 0 at the first video frame (the moments the indexer records).
 *
 * Conventions: functions return 0 or -1 with err naming the problem.
 */
#ifndef VX_RENDITION_H
#define VX_RENDITION_H

#include <stdatomic.h>
#include <stddef.h>

#include "../common/error.h"
#include "probe.h"

typedef struct vx_rendition_options {
    int max_height;        /* lines at most (the short side); default 1080 */
    int crf;               /* x264 constant rate factor; default 23 */
    const char *preset;    /* x264 preset; default "veryfast" */
    int threads;           /* encoder threads; 0 = FFmpeg's choice */
    double timeout_s;      /* wall-clock bound; 0 = none */
    const atomic_int *cancel; /* set: stop soon, fail with "cancelled" */
    /* Called now and then with the seconds of video done and the total (0 if unknown). */
    void (*progress)(void *ctx, double done_s, double total_s);
    void *progress_ctx;
    /* Called between packets; may block for as long as the work should wait (the
     * service pauses renditions while it serves searches). */
    void (*throttle)(void *ctx);
    void *throttle_ctx;
} vx_rendition_options;

void vx_rendition_options_default(vx_rendition_options *o);

typedef struct vx_rendition_result {
    int width, height;     /* of the rendition */
    double duration;       /* seconds */
    int has_audio;
    long frames;           /* video frames written */
    char note[VX_PLAYBACK_NOTE_MAX]; /* what was left out ("the audio stream does not decode"), or "" */
} vx_rendition_result;

/* Makes a rendition of src at dst: written to a temporary file beside dst, synced, then
 * renamed into place, so dst is either absent or whole (a crash leaves only a
 * "*.partial" file, which vx_rendition_is_partial recognises). */
int vx_make_rendition(const char *src, const char *dst, const vx_rendition_options *o, vx_rendition_result *out,
                      vx_error *err);

/* 1 when a file name is one of vx_make_rendition's temporary files. */
int vx_rendition_is_partial(const char *name);

#endif
