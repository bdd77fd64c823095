/* vidx indexer: what a media file holds, read from its container's headers (libavformat):
 * whether it is a video at all, how its pictures are turned, and whether browsers play it
 * as it is. Beneath decode.c (sampling frames) and rendition.c (web-playable copies), and
 * the FFmpeg helpers every reader of the indexer shares (decode.c, subtitles.c,
 * textmeta.c, rendition.c).
 *
 * Browsers play a small set of containers and codecs. vidx decides from the container
 * and the streams (never the file name) whether a file plays as it is:
 *   - MP4 (ISO BMFF / QuickTime) with H.264 (8-bit 4:2:0) or AV1 video;
 *   - WebM (Matroska whose DocType is "webm") with VP8, VP9 or AV1 video;
 *   - and in both, audio that is AAC, Opus or Vorbis, or no audio.
 * Everything else gets a rendition (rendition.h). */
#ifndef VX_PROBE_H
#define VX_PROBE_H

#include <stddef.h>

#include "../common/error.h"
#include "../schemas/records.h" /* vx_playback */

struct AVFormatContext;
struct AVStream;

#define VX_PLAYBACK_NOTE_MAX 160

/* FFmpeg's own log lines (warnings about odd files) only at debug level: vidx reports
 * failures itself, naming the file. */
void vx_ffmpeg_quiet(void);
/* FFmpeg's message for an error code, in buf. */
const char *vx_av_err(int code, char *buf, size_t size);
/* An AVIOInterruptCB callback: p points to a deadline (vx_now() seconds; 0 = none). */
int vx_ffmpeg_deadline_passed(void *p);

/* What the indexer lets FFmpeg open: the demuxers of media files, pictures and subtitle
 * files. Playlists and scripts (HLS, DASH, concat, ...) are not among them: they name
 * other files or URLs, and a manifest in a watched folder must not make the indexer read
 * outside it or fetch anything. */
#define VX_DEMUXERS                                                                                            \
    "mov,matroska,avi,gif,mpeg,mpegts,mpegvideo,flv,asf,ogg,mxf,mp3,wav,aac,flac,rm,nut,m4v,h264,hevc,ivf,dv," \
    "yuv4mpegpipe,image2,png_pipe,jpeg_pipe,webp_pipe,bmp_pipe,srt,webvtt,ass"
/* avformat_open_input for a local file (the file protocol alone) with one of
 * VX_DEMUXERS. *fmt may be preallocated (for its interrupt callback); on failure it is
 * freed and NULL. An FFmpeg error code (< 0) or 0; why names the problem ("Apple HTTP Live
 * Streaming (FFmpeg's hls), not a media file vidx reads"). */
int vx_ffmpeg_open(struct AVFormatContext **fmt, const char *path, char *why, size_t why_size);

/* FFmpeg's short name of a codec (AVCodecID): "h264", "mpeg1video"; "unknown". */
const char *vx_codec_label(int codec_id);

/* Degrees clockwise a stream's pictures are turned to be upright (its display matrix):
 * 0, 90, 180 or 270. */
int vx_stream_rotation(const struct AVStream *st);

/* Whether a file holds a moving picture, from its streams rather than its name: 1 when
 * it has a video stream that is not an attached picture (cover art), 0 when it is
 * media without one (err says what it holds: "audio only"), -1 when FFmpeg cannot
 * open it as media (err says why). Reads only the container's headers. */
int vx_probe_video(const char *path, vx_error *err);

/* How an opened file plays in browsers (vx_playback), from its container and streams;
 * note (may be NULL) says why a rendition is needed ("MPEG-1 video in an MPEG-PS file").
 * path is the file the context was opened from (to read Matroska's DocType). */
int vx_playback_of(const struct AVFormatContext *fmt, const char *path, char *note, size_t note_size);

/* The same for a file not opened yet: VX_PLAYBACK_DIRECT or VX_PLAYBACK_CONVERT, or -1
 * (err) when it is not readable media. */
int vx_probe_playback(const char *path, char *note, size_t note_size, vx_error *err);

#endif
