/* vidx indexer: decoding pictures with FFmpeg's libraries.
 *
 * Conventions: functions return 0 or -1 with err naming the file and the problem; the
 * returned image is owned by the caller (vx_rgb_free).
 */
#ifndef VX_DECODE_H
#define VX_DECODE_H

#include "../common/error.h"
#include "../encoder/image.h"
#include "probe.h"

/* Decodes the first picture of any file FFmpeg reads (PNG, JPEG, WebP, BMP, GIF, or
 * the first frame of a video) into 8-bit RGB. Pictures larger than 16384 pixels a side
 * are refused. */
int vx_decode_image_file(const char *path, vx_rgb_image *out, vx_error *err);

/* What a video file holds, as far as indexing cares. */
typedef struct vx_video_info {
    double duration;   /* seconds; 0 for a single picture */
    double fps;        /* average frame rate of the video stream; 0 if unknown */
    int width, height; /* pixels, after rotation */
    int rotation;      /* degrees clockwise applied to the frames: 0, 90, 180, 270 */
    char title[512];   /* container title, or "" */
    char codec[32];
    int playback;      /* vx_playback: whether browsers play the file as it is */
    char playback_note[VX_PLAYBACK_NOTE_MAX]; /* why not, or "" */
    int damaged_frames;/* frames decoded with errors (concealed by FFmpeg) or packets refused */
} vx_video_info;

/* Frames with decoding errors from which a file whose codec browsers play gets a
 * rendition all the same: Chromium refuses a stream at its first damaged packet
 * (MediaError 3), where FFmpeg conceals the damage. Measured: H.264 High in MP4 with one
 * damaged key frame every 2 s failed in Chromium at the first one; none of the 33 shared
 * clips has any. */
#define VX_DAMAGED_FRAMES_MIN 1

typedef struct vx_sample_options {
    double rate;       /* frames sampled per second of video (default 1) */
    int max_frames;    /* cap per video; long videos are sampled uniformly instead */
    double timeout_s;  /* wall-clock bound for one file; 0 = none */
    int skip_nonref;   /* let the decoder drop non-reference frames when sampling sparsely */
    double seek_gap;   /* seek to the keyframe before a target further ahead than this (s); 0 = never */
} vx_sample_options;

void vx_sample_options_default(vx_sample_options *o);

typedef struct vx_sample_stats {
    long decoded;      /* frames the decoder produced */
    long sampled;      /* frames passed on */
    long seeks;
} vx_sample_stats;

/* Called per sampled frame, in time order, with the frame as upright RGB and its time
 * in seconds from the start. The image is only valid during the call. Return non-zero
 * to stop early (the sampler then returns 0). */
typedef int (*vx_frame_fn)(void *ctx, const vx_rgb_image *frame, double t);

/* Opens path, fills info, and samples frames (counting the damaged ones: a file that plays
 * directly by its codec is then decided VX_PLAYBACK_CONVERT, with the reason). Fails (-1, err naming the file) on files
 * without a decodable video stream, pictures outside 1..16384 pixels a side, timeouts,
 * or when no frame at all could be decoded. Broken audio streams are ignored. */
int vx_sample_video(const char *path, const vx_sample_options *o, vx_video_info *info, vx_frame_fn fn, void *ctx,
                    vx_sample_stats *stats, vx_error *err);

#endif
