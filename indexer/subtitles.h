/* vidx indexer: timed text from subtitles, read with FFmpeg.
 *
 * Text subtitle streams inside a video (subrip, ass/ssa, mov_text, webvtt in mkv, mp4,
 * webm) and sidecar files beside it (.srt, .vtt, .ass, .ssa: FFmpeg's demuxers read them
 * too) go through libavcodec's subtitle decoders, which hand every cue over as an ASS
 * event; vidx keeps the cue's time range and its plain text (styling overrides, tags
 * and line-break codes removed). Bitmap subtitles (DVD, PGS, DVB) carry pictures, not
 * text: they are skipped with a note.
 *
 * Everything is bounded: a sidecar's size before it is opened, the cues and bytes kept
 * per video, a cue's times (finite, not negative, end after start, within the video's
 * length plus a margin), and the wall time. A file FFmpeg cannot read, or whose text is
 * not UTF-8, is refused with the reason; cues already read from other sources stay.
 *
 * Conventions: functions return 0, or -1 with err naming the file and the problem.
 */
#ifndef VX_SUBTITLES_H
#define VX_SUBTITLES_H

#include <stddef.h>

#include "../common/error.h"

typedef struct vx_cue {
    double start, end; /* seconds from the start of the video */
    char *text;        /* plain UTF-8, one line per displayed line */
} vx_cue;

typedef struct vx_cues {
    vx_cue *cues;
    int n;
    size_t cap;
    size_t text_bytes;  /* of all cues' text */
    int dropped;        /* cues left out: bad times, empty text, or over the limits */
    char notes[512];    /* what was skipped and why ("stream 3: hdmv_pgs_subtitle is a
                         * bitmap subtitle; "), for the index summary */
} vx_cues;

typedef struct vx_subtitle_limits {
    size_t max_file_bytes; /* a sidecar larger than this is refused unread (8 MiB) */
    int max_cues;          /* per video, over all sources (20,000) */
    size_t max_text_bytes; /* per video, over all sources (1 MiB) */
    size_t max_cue_bytes;  /* one cue's text, cut at a character boundary (2 KiB) */
    double duration;       /* the video's length; cues starting after it + 60 s are
                            * dropped (0: unknown, only the 48-hour bound applies) */
    double timeout_s;      /* wall-clock bound per file (30 s) */
} vx_subtitle_limits;

void vx_subtitle_limits_default(vx_subtitle_limits *l);

/* Appends the cues of every text subtitle stream of a media file. */
int vx_read_subtitle_streams(const char *path, const vx_subtitle_limits *l, vx_cues *out, vx_error *err);
/* Appends the cues of a subtitle file (.srt, .vtt, .ass, .ssa). */
int vx_read_subtitle_file(const char *path, const vx_subtitle_limits *l, vx_cues *out, vx_error *err);
void vx_cues_clear(vx_cues *c);

/* The plain text of one ASS event's Text field (or of a subrip/webvtt line): drops
 * {...} override blocks and <...> tags, turns \N and \n into line breaks and \h into a
 * space, collapses runs of spaces, trims. Writes at most out_size - 1 bytes (cut at a
 * UTF-8 character boundary) and a NUL; returns the length written. Input must be UTF-8
 * (vx_utf8_valid); bytes are never reinterpreted. */
size_t vx_subtitle_plain(const char *text, size_t len, char *out, size_t out_size);

#endif
