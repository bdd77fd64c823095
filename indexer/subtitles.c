#include "subtitles.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/utf8.h"
#include "../common/grow.h"
#include "../common/vecmath.h"
#include "probe.h"

#define MAX_CUE_SECONDS (48 * 3600.0) /* no cue starts or ends later than this */
#define LATE_MARGIN 60.0              /* seconds a cue may start after the video's end */

void vx_subtitle_limits_default(vx_subtitle_limits *l) {
    memset(l, 0, sizeof *l);
    l->max_file_bytes = 8u << 20;
    l->max_cues = 20000;
    l->max_text_bytes = 1u << 20;
    l->max_cue_bytes = 2048;
    l->timeout_s = 30;
}

void vx_cues_clear(vx_cues *c) {
    for (int i = 0; i < c->n; i++) free(c->cues[i].text);
    free(c->cues);
    memset(c, 0, sizeof *c);
}

/* ---- plain text ---------------------------------------------------------------------- */

typedef struct writer {
    char *out;
    size_t size, len;
    int space, newline; /* a space or line break is owed before the next visible char */
    int full;
} writer;

/* Appends one character (n bytes) with the separator owed before it, if it fits whole. */
static void put_char(writer *w, const char *c, size_t n) {
    if (w->full) return;
    const char *sep = w->len == 0 ? "" : w->newline ? "\n" : w->space ? " " : "";
    const size_t s = strlen(sep);
    if (w->len + s + n + 1 > w->size) {
        w->full = 1;
        return;
    }
    memcpy(w->out + w->len, sep, s);
    memcpy(w->out + w->len + s, c, n);
    w->len += s + n;
    w->space = w->newline = 0;
}

size_t vx_subtitle_plain(const char *text, size_t len, char *out, size_t out_size) {
    writer w = {.out = out, .size = out_size};
    if (out_size == 0) return 0;
    for (size_t i = 0; i < len && !w.full;) {
        const unsigned char c = (unsigned char)text[i];
        if (c == '{') { /* an ASS override block: {\i1}, {\an8}, {\pos(1,2)} */
            const char *end = memchr(text + i, '}', len - i);
            if (end) {
                i = (size_t)(end - text) + 1;
                continue;
            }
        } else if (c == '<' && i + 1 < len &&
                   (text[i + 1] == '/' || ((text[i + 1] | 0x20) >= 'a' && (text[i + 1] | 0x20) <= 'z'))) {
            /* A markup tag (<i>, </b>, <font color="red">, <c.yellow>, <v Bob>) */
            const size_t window = len - i < 256 ? len - i : 256;
            const char *end = memchr(text + i, '>', window);
            if (end) {
                i = (size_t)(end - text) + 1;
                continue;
            }
        } else if (c == '\\' && i + 1 < len && (text[i + 1] == 'N' || text[i + 1] == 'n' || text[i + 1] == 'h')) {
            if (text[i + 1] == 'h') w.space = 1;
            else w.newline = 1;
            i += 2;
            continue;
        }
        if (c == '\n') {
            w.newline = 1;
            i++;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r' || c < 0x20 || c == 0x7f) {
            w.space = 1; /* other control characters count as blanks */
            i++;
            continue;
        }
        size_t n = 1;
        if (c >= 0x80) { /* the whole UTF-8 sequence, never split */
            n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            if (i + n > len) break;
        }
        put_char(&w, text + i, n);
        i += n;
    }
    out[w.len] = '\0';
    return w.len;
}

/* ---- reading ------------------------------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static void note(vx_cues *c, const char *fmt, ...) {
    const size_t len = strlen(c->notes);
    if (len + 1 >= sizeof c->notes) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->notes + len, sizeof c->notes - len, fmt, ap);
    va_end(ap);
}

/* Keeps a cue if its times make sense and the limits allow. text: ASS event or plain. */
static void add_cue(vx_cues *out, const vx_subtitle_limits *l, double start, double end, const char *text, int ass) {
    if (ass) { /* ReadOrder, Layer, Style, Name, MarginL, MarginR, MarginV, Effect, Text */
        for (int commas = 0; commas < 8 && text; commas++) {
            text = strchr(text, ',');
            if (text) text++;
        }
        if (!text) { out->dropped++; return; }
    }
    const double latest = l->duration > 0 ? l->duration + LATE_MARGIN : MAX_CUE_SECONDS;
    if (!isfinite(start) || !isfinite(end) || start < 0 || end <= start || start > latest || end > MAX_CUE_SECONDS) {
        out->dropped++;
        return;
    }
    const size_t len = strlen(text);
    if (!vx_utf8_valid(text, len)) { out->dropped++; return; }
    const size_t cap = l->max_cue_bytes + 1;
    char *plain = malloc(cap);
    if (!plain) { out->dropped++; return; }
    const size_t n = vx_subtitle_plain(text, len, plain, cap);
    if (n == 0 || out->n >= l->max_cues || out->text_bytes + n > l->max_text_bytes) {
        free(plain);
        out->dropped++;
        return;
    }
    if (VX_GROW(out->cues, out->cap, (size_t)out->n + 1)) {
        free(plain);
        out->dropped++;
        return;
    }
    out->cues[out->n++] = (vx_cue){.start = start, .end = end, .text = plain};
    out->text_bytes += n;
}

static int read_cues(const char *path, int sidecar, const vx_subtitle_limits *l, vx_cues *out, vx_error *err) {
    AVFormatContext *fmt = NULL;
    AVCodecContext **dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    char e[256];
    int rc = -1, r;
    double deadline = l->timeout_s > 0 ? vx_now() + l->timeout_s : 0;
    /* On failure, nothing read from this file stays. */
    const int n_before = out->n, dropped_before = out->dropped;
    const size_t bytes_before = out->text_bytes;
    vx_ffmpeg_quiet();
    if (sidecar) {
        struct stat sb;
        if (stat(path, &sb) != 0) { vx_fail(err, "%s: cannot be read", path); goto done; }
        if ((size_t)sb.st_size > l->max_file_bytes) {
            vx_fail(err, "%s: %lld bytes, more than the %zu a subtitle file may have", path, (long long)sb.st_size,
                    l->max_file_bytes);
            goto done;
        }
    }
    if (!pkt || !(fmt = avformat_alloc_context())) { vx_fail(err, "%s: out of memory", path); goto done; }
    fmt->interrupt_callback.callback = vx_ffmpeg_deadline_passed;
    fmt->interrupt_callback.opaque = &deadline;
    if (vx_ffmpeg_open(&fmt, path, e, sizeof e) < 0) {
        vx_fail(err, "%s: not a readable %s: %s", path, sidecar ? "subtitle file" : "media file", e);
        goto done;
    }
    if ((r = avformat_find_stream_info(fmt, NULL)) < 0) {
        vx_fail(err, "%s: cannot read stream info: %s", path, vx_av_err(r, e, sizeof e));
        goto done;
    }
    if (!(dec = calloc(fmt->nb_streams ? fmt->nb_streams : 1, sizeof *dec))) { vx_fail(err, "%s: out of memory", path); goto done; }
    int text_streams = 0;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        AVStream *st = fmt->streams[i];
        st->discard = AVDISCARD_ALL;
        if (st->codecpar->codec_type != AVMEDIA_TYPE_SUBTITLE) continue;
        const AVCodecDescriptor *desc = avcodec_descriptor_get(st->codecpar->codec_id);
        const char *name = desc ? desc->name : "unknown";
        if (!desc || !(desc->props & AV_CODEC_PROP_TEXT_SUB)) {
            note(out, "stream %u (%s): a bitmap subtitle, no text; ", i, name);
            continue;
        }
        const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
        AVCodecContext *c = codec ? avcodec_alloc_context3(codec) : NULL;
        if (!c || avcodec_parameters_to_context(c, st->codecpar) < 0) {
            avcodec_free_context(&c);
            note(out, "stream %u (%s): no decoder; ", i, name);
            continue;
        }
        c->pkt_timebase = st->time_base;
        if (avcodec_open2(c, codec, NULL) < 0) {
            avcodec_free_context(&c);
            note(out, "stream %u (%s): the decoder would not open; ", i, name);
            continue;
        }
        dec[i] = c;
        st->discard = AVDISCARD_DEFAULT;
        text_streams++;
    }
    if (sidecar && !text_streams) { vx_fail(err, "%s: no text subtitles in it", path); goto done; }
    if (!text_streams) { /* a video without text subtitles: nothing to read through */
        rc = 0;
        goto done;
    }
    while ((r = av_read_frame(fmt, pkt)) >= 0) {
        const int si = pkt->stream_index;
        AVCodecContext *c = si >= 0 && (unsigned)si < fmt->nb_streams ? dec[si] : NULL;
        if (c) {
            AVSubtitle sub;
            int got = 0;
            const int d = avcodec_decode_subtitle2(c, &sub, &got, pkt);
            if (d < 0) {
                /* Typically text that is not UTF-8 (FFmpeg checks): the file or stream is
                 * left out with the reason, nothing half-read is kept from it. */
                if (sidecar) {
                    vx_fail(err, "%s: its text cannot be decoded (%s; subtitles must be UTF-8)", path,
                            vx_av_err(d, e, sizeof e));
                    goto done;
                }
                note(out, "stream %d: text that cannot be decoded (not UTF-8?), left out; ", si);
                avcodec_free_context(&dec[si]);
                fmt->streams[si]->discard = AVDISCARD_ALL;
            } else if (got) {
                const AVRational tb = fmt->streams[si]->time_base;
                const int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
                if (ts != AV_NOPTS_VALUE) {
                    const double base = (double)ts * av_q2d(tb);
                    const double start = base + sub.start_display_time / 1000.0;
                    double end = sub.end_display_time > sub.start_display_time && sub.end_display_time != UINT32_MAX
                                     ? base + sub.end_display_time / 1000.0
                                     : base + (double)pkt->duration * av_q2d(tb);
                    for (unsigned k = 0; k < sub.num_rects; k++) {
                        const AVSubtitleRect *rect = sub.rects[k];
                        if (rect->type == SUBTITLE_ASS && rect->ass) add_cue(out, l, start, end, rect->ass, 1);
                        else if (rect->type == SUBTITLE_TEXT && rect->text) add_cue(out, l, start, end, rect->text, 0);
                    }
                } else
                    out->dropped++;
                avsubtitle_free(&sub);
            }
        }
        av_packet_unref(pkt);
    }
    if (r != AVERROR_EOF && vx_ffmpeg_deadline_passed(&deadline)) {
        vx_fail(err, "%s: reading subtitles took more than %.0f s", path, l->timeout_s);
        goto done;
    }
    rc = 0;
done:
    if (rc) {
        for (int i = n_before; i < out->n; i++) free(out->cues[i].text);
        out->n = n_before;
        out->text_bytes = bytes_before;
        out->dropped = dropped_before;
    }
    if (dec && fmt)
        for (unsigned i = 0; i < fmt->nb_streams; i++) avcodec_free_context(&dec[i]);
    free(dec);
    av_packet_free(&pkt);
    avformat_close_input(&fmt);
    return rc;
}

int vx_read_subtitle_streams(const char *path, const vx_subtitle_limits *l, vx_cues *out, vx_error *err) {
    return read_cues(path, 0, l, out, err);
}

int vx_read_subtitle_file(const char *path, const vx_subtitle_limits *l, vx_cues *out, vx_error *err) {
    return read_cues(path, 1, l, out, err);
}
