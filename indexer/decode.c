#include "decode.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/log.h"
#include "../common/vecmath.h"
#include "picture.h"

#define MAX_SIDE 16384

/* Converts a decoded frame to packed RGB24; full-range (JPEG) YUV is honoured. */
static int frame_to_rgb(const AVFrame *f, vx_rgb_image *out, struct SwsContext **cache, const char *path,
                        vx_error *err) {
    if (f->width < 1 || f->height < 1 || f->width > MAX_SIDE || f->height > MAX_SIDE)
        return vx_fail(err, "%s: picture size %dx%d is out of range", path, f->width, f->height);
    enum AVPixelFormat fmt = (enum AVPixelFormat)f->format;
    int full_range = f->color_range == AVCOL_RANGE_JPEG;
    /* The deprecated yuvj formats mean full range; swscale wants the plain format. */
    switch (fmt) {
    case AV_PIX_FMT_YUVJ420P: fmt = AV_PIX_FMT_YUV420P; full_range = 1; break;
    case AV_PIX_FMT_YUVJ422P: fmt = AV_PIX_FMT_YUV422P; full_range = 1; break;
    case AV_PIX_FMT_YUVJ444P: fmt = AV_PIX_FMT_YUV444P; full_range = 1; break;
    case AV_PIX_FMT_YUVJ440P: fmt = AV_PIX_FMT_YUV440P; full_range = 1; break;
    default: break;
    }
    /* Reused across frames of the same size and format (sws_getCachedContext). */
    struct SwsContext *sws = *cache = sws_getCachedContext(*cache, f->width, f->height, fmt, f->width, f->height,
                                                           AV_PIX_FMT_RGB24,
                                                           SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL,
                                                           NULL, NULL);
    if (!sws) return vx_fail(err, "%s: cannot convert pixel format %s to RGB", path, av_get_pix_fmt_name(fmt));
    const int *coeffs = sws_getCoefficients(f->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_ITU601);
    sws_setColorspaceDetails(sws, coeffs, full_range, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    out->width = f->width;
    out->height = f->height;
    out->stride = f->width * 3;
    out->data = malloc((size_t)out->stride * f->height);
    if (!out->data) return vx_fail(err, "%s: out of memory", path);
    uint8_t *dst[4] = {out->data, NULL, NULL, NULL};
    int dst_stride[4] = {out->stride, 0, 0, 0};
    sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dst_stride);
    return 0;
}

/* ---- video sampling ------------------------------------------------------------------ */

void vx_sample_options_default(vx_sample_options *o) {
    o->rate = 1.0;
    o->max_frames = 256;
    o->timeout_s = 300;
    o->skip_nonref = 1;
    o->seek_gap = 4.0;
}


/* Rotates a packed RGB image clockwise by 90, 180 or 270 degrees into dst (allocated). */
static int rotate_rgb(const vx_rgb_image *src, int degrees, vx_rgb_image *dst) {
    const int w = src->width, h = src->height;
    dst->width = degrees == 180 ? w : h;
    dst->height = degrees == 180 ? h : w;
    dst->stride = dst->width * 3;
    dst->data = malloc((size_t)dst->stride * dst->height);
    if (!dst->data) return -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int dx, dy;
            if (degrees == 90) { dx = h - 1 - y; dy = x; }
            else if (degrees == 180) { dx = w - 1 - x; dy = h - 1 - y; }
            else { dx = y; dy = w - 1 - x; }
            memcpy(dst->data + (size_t)dy * dst->stride + (size_t)dx * 3, src->data + (size_t)y * src->stride + (size_t)x * 3, 3);
        }
    return 0;
}

int vx_sample_video(const char *path, const vx_sample_options *o, vx_video_info *info, vx_frame_fn fn, void *ctx,
                    vx_sample_stats *stats, vx_error *err) {
    AVFormatContext *fmt = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *frame = av_frame_alloc();
    vx_rgb_image rgb = {0}, turned = {0};
    struct SwsContext *sws = NULL;
    char e[256];
    int rc = -1, r;
    double deadline = o->timeout_s > 0 ? vx_now() + o->timeout_s : 0;
    vx_sample_stats local = {0};
    vx_ffmpeg_quiet();
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    memset(info, 0, sizeof *info);
    if (!pkt || !frame || !(fmt = avformat_alloc_context())) { vx_fail(err, "%s: out of memory", path); goto done; }
    fmt->interrupt_callback.callback = vx_ffmpeg_deadline_passed;
    fmt->interrupt_callback.opaque = &deadline;
    if (vx_ffmpeg_open(&fmt, path, e, sizeof e) < 0) {
        vx_fail(err, "%s: not a readable media file: %s", path, e);
        goto done;
    }
    if ((r = avformat_find_stream_info(fmt, NULL)) < 0) {
        vx_fail(err, "%s: cannot read stream info: %s", path, vx_av_err(r, e, sizeof e));
        goto done;
    }
    const AVCodec *codec = NULL;
    int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (si < 0 || !codec) { vx_fail(err, "%s: no video stream", path); goto done; }
    AVStream *st = fmt->streams[si];
    /* Only the video stream is read; broken audio never reaches a decoder. */
    for (unsigned i = 0; i < fmt->nb_streams; i++)
        if ((int)i != si) fmt->streams[i]->discard = AVDISCARD_ALL;
    if (st->codecpar->width < 1 || st->codecpar->height < 1 || st->codecpar->width > MAX_SIDE ||
        st->codecpar->height > MAX_SIDE) {
        vx_fail(err, "%s: video size %dx%d is out of range (1 to %d pixels a side)", path, st->codecpar->width,
                st->codecpar->height, MAX_SIDE);
        goto done;
    }
    dec = avcodec_alloc_context3(codec);
    if (!dec || avcodec_parameters_to_context(dec, st->codecpar) < 0) { vx_fail(err, "%s: out of memory", path); goto done; }
    dec->thread_count = 1; /* the other core encodes */
    if ((r = avcodec_open2(dec, codec, NULL)) < 0) {
        vx_fail(err, "%s: cannot open the %s decoder: %s", path, codec->name, vx_av_err(r, e, sizeof e));
        goto done;
    }

    /* What the file says about itself; durations are often missing or wrong. */
    const double tb = av_q2d(st->time_base);
    double sdur = st->duration != AV_NOPTS_VALUE && st->duration > 0 ? (double)st->duration * tb : 0;
    double fdur = fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0 ? (double)fmt->duration / AV_TIME_BASE : 0;
    double duration = sdur > fdur ? sdur : fdur;
    if (!isfinite(duration) || duration > 1e7) duration = 0;
    AVRational fr = st->avg_frame_rate.num && st->avg_frame_rate.den ? st->avg_frame_rate : st->r_frame_rate;
    info->fps = fr.num && fr.den ? av_q2d(fr) : 0;
    if (!isfinite(info->fps) || info->fps < 0 || info->fps > 10000) info->fps = 0;
    info->rotation = vx_stream_rotation(st);
    info->playback = vx_playback_of(fmt, path, info->playback_note, sizeof info->playback_note);
    info->width = info->rotation % 180 ? st->codecpar->height : st->codecpar->width;
    info->height = info->rotation % 180 ? st->codecpar->width : st->codecpar->height;
    snprintf(info->codec, sizeof info->codec, "%s", codec->name);
    const AVDictionaryEntry *title = av_dict_get(fmt->metadata, "title", NULL, 0);
    if (!title) title = av_dict_get(st->metadata, "title", NULL, 0);
    if (title && title->value) snprintf(info->title, sizeof info->title, "%s", title->value);
    const int single_picture = (fmt->iformat->flags & AVFMT_NOTIMESTAMPS) || st->nb_frames == 1 ||
                               (duration == 0 && codec->type == AVMEDIA_TYPE_VIDEO && fmt->iformat->name &&
                                strstr(fmt->iformat->name, "_pipe"));
    if (o->skip_nonref && info->fps > 2 * o->rate) dec->skip_frame = AVDISCARD_NONREF;

    /* Targets: one frame every 1/rate s, or max_frames spread uniformly over long videos. */
    const int max_frames = o->max_frames > 0 ? o->max_frames : 256;
    double interval = o->rate > 0 ? 1.0 / o->rate : 1.0, first = 0;
    long n_targets = max_frames;
    if (duration > 0) {
        n_targets = (long)ceil(duration * o->rate - 1e-9);
        if (n_targets < 1) n_targets = 1;
        if (n_targets > max_frames) {
            n_targets = max_frames;
            interval = duration / max_frames;
            first = interval / 2;
        }
    }
    const double start = st->start_time != AV_NOPTS_VALUE ? (double)st->start_time * tb : 0;
    const int can_seek = !single_picture && o->seek_gap > 0 && duration > 0 && !(fmt->iformat->flags & AVFMT_NOBINSEARCH) &&
                         (fmt->pb && (fmt->pb->seekable & AVIO_SEEKABLE_NORMAL));
    long k = 0;            /* next target index */
    long seeked_for = -1;  /* the target we last seeked towards: never twice for one */
    double last_t = -1, max_t = 0;
    int eof = 0, stop = 0;
    while (!stop && k < n_targets) {
        if (vx_ffmpeg_deadline_passed(&deadline)) {
            vx_fail(err, "%s: took longer than %.0f s; stopped", path, o->timeout_s);
           
            goto done;
        }
        if (!eof) {
            r = av_read_frame(fmt, pkt);
            if (r == AVERROR_EXIT) {
                vx_fail(err, "%s: took longer than %.0f s; stopped", path, o->timeout_s);
               
                goto done;
            }
            if (r < 0) { eof = 1; avcodec_send_packet(dec, NULL); }
            else {
                /* A bad packet is skipped, and counted. */
                if (pkt->stream_index == si && (r = avcodec_send_packet(dec, pkt)) < 0 && r != AVERROR(EAGAIN))
                    info->damaged_frames++;
                av_packet_unref(pkt);
            }
        }
        for (;;) {
            r = avcodec_receive_frame(dec, frame);
            if (r == AVERROR(EAGAIN)) break;
            if (r < 0) {
                if (r != AVERROR_EOF) info->damaged_frames++;
                if (eof) stop = 1;
                break;
            }
            stats->decoded++;
            if (frame->decode_error_flags || (frame->flags & AV_FRAME_FLAG_CORRUPT)) info->damaged_frames++;
            int64_t pts = frame->best_effort_timestamp;
            double t = pts != AV_NOPTS_VALUE ? (double)pts * tb - start
                       : (info->fps > 0 ? (double)stats->decoded / info->fps : last_t + interval);
            if (t < last_t) t = last_t; /* keep time monotonic across odd timestamps */
            if (t > max_t) max_t = t;
            const double target = first + (double)k * interval;
            const double slack = info->fps > 0 ? 0.5 / info->fps : 0;
            if (t + slack >= target || single_picture) {
                vx_rgb_free(&rgb);
                if (frame->width < 1 || frame->height < 1 || frame->width > MAX_SIDE || frame->height > MAX_SIDE) {
                    vx_fail(err, "%s: frame size %dx%d is out of range", path, frame->width, frame->height);
                    av_frame_unref(frame);
                   
                    goto done;
                }
                if (frame_to_rgb(frame, &rgb, &sws, path, err)) { av_frame_unref(frame); goto done; }
                const vx_rgb_image *img = &rgb;
                if (info->rotation) {
                    vx_rgb_free(&turned);
                    if (rotate_rgb(&rgb, info->rotation, &turned)) { vx_fail(err, "%s: out of memory", path); goto done; }
                    img = &turned;
                }
                stats->sampled++;
                if (fn(ctx, img, t < 0 ? 0 : t)) stop = 1;
                /* Targets this frame already covers (low frame rates) are merged into it. */
                while (k < n_targets && first + (double)k * interval <= t + slack) k++;
                if (single_picture) k = n_targets;
            }
            last_t = t;
            av_frame_unref(frame);
            if (stop || k >= n_targets) break;
            /* Far from the next target: jump to the keyframe before it. */
            const double next = first + (double)k * interval;
            if (can_seek && !eof && next - t > o->seek_gap && seeked_for != k) {
                seeked_for = k;
                int64_t ts = (int64_t)((next + start) / tb);
                if (av_seek_frame(fmt, si, ts, AVSEEK_FLAG_BACKWARD) >= 0) {
                    avcodec_flush_buffers(dec);
                    stats->seeks++;
                }
                break;
            }
        }
    }
   
    if (stats->sampled == 0) {
        vx_fail(err, "%s: no frame could be decoded from the %s stream", path, codec->name);
        goto done;
    }
    /* Browsers refuse a damaged stream that FFmpeg decodes (it conceals the damage). */
    if (info->playback == VX_PLAYBACK_DIRECT && info->damaged_frames >= VX_DAMAGED_FRAMES_MIN) {
        info->playback = VX_PLAYBACK_CONVERT;
        snprintf(info->playback_note, sizeof info->playback_note,
                 "its %s stream has decoding errors (%d damaged frame%s while indexing): browsers refuse such streams",
                 codec->name, info->damaged_frames, info->damaged_frames == 1 ? "" : "s");
    }
    /* The container's duration, unless frames showed it was short. */
    info->duration = single_picture ? 0 : (duration > max_t ? duration : max_t + (info->fps > 0 ? 1.0 / info->fps : 0));
    rc = 0;
done:
    sws_freeContext(sws);
    vx_rgb_free(&rgb);
    vx_rgb_free(&turned);
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    return rc;
}

/* ---- single pictures ----------------------------------------------------------------- */

typedef struct first_frame {
    vx_rgb_image *out;
    int got;
} first_frame;

static int keep_first(void *ctx, const vx_rgb_image *f, double t) {
    (void)t;
    first_frame *ff = ctx;
    ff->out->width = f->width;
    ff->out->height = f->height;
    ff->out->stride = f->width * 3;
    ff->out->data = malloc((size_t)ff->out->stride * f->height);
    if (ff->out->data) {
        for (int y = 0; y < f->height; y++)
            memcpy(ff->out->data + (size_t)y * ff->out->stride, f->data + (size_t)y * f->stride, (size_t)f->width * 3);
        ff->got = 1;
    }
    return 1; /* one is enough */
}

/* A picture is the first frame of whatever FFmpeg reads: the same opening, checks,
 * time bound and colour conversion as video frames. */
int vx_decode_image_file(const char *path, vx_rgb_image *out, vx_error *err) {
    vx_sample_options o;
    vx_sample_options_default(&o);
    o.max_frames = 1;
    o.timeout_s = 60;
    o.skip_nonref = 0;
    o.seek_gap = 0;
    vx_video_info info;
    first_frame ff = {out, 0};
    memset(out, 0, sizeof *out);
    if (vx_sample_video(path, &o, &info, keep_first, &ff, NULL, err)) return -1;
    if (!ff.got) return vx_fail(err, "%s: out of memory", path);
    return 0;
}

/* ---- pictures sent as queries -------------------------------------------------------- */

int vx_picture_decode(const uint8_t *data, size_t len, int min_side, vx_rgb_image *out, vx_picture_info *info,
                      vx_error *err) {
    memset(out, 0, sizeof *out);
    if (vx_picture_sniff(data, len, info, err)) return -1;
    const char *name = vx_picture_format_name(info->format);
    const enum AVCodecID id = info->format == VX_PICTURE_JPEG  ? AV_CODEC_ID_MJPEG
                              : info->format == VX_PICTURE_PNG ? AV_CODEC_ID_PNG
                                                               : AV_CODEC_ID_WEBP;
    vx_ffmpeg_quiet();
    const AVCodec *codec = avcodec_find_decoder(id);
    if (!codec) return vx_fail(err, "this FFmpeg has no %s decoder", name);
    AVCodecContext *c = avcodec_alloc_context3(codec);
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    uint8_t *copy = av_malloc(len + AV_INPUT_BUFFER_PADDING_SIZE); /* decoders read past the end */
    struct SwsContext *sws = NULL;
    int rc = -1, r;
    char e[128], what[64];
    snprintf(what, sizeof what, "the %s image", name);
    if (!c || !pkt || !f || !copy) { vx_fail(err, "out of memory"); goto done; }
    memcpy(copy, data, len);
    memset(copy + len, 0, AV_INPUT_BUFFER_PADDING_SIZE);
    /* A JPEG at the smallest scale that keeps min_side: a 40-megapixel photo decodes at
     * 1/8, 0.6 megapixels, for the 224 pixels CLIP sees. */
    int lowres = 0;
    const uint32_t short_side = info->width < info->height ? info->width : info->height;
    while (info->format == VX_PICTURE_JPEG && min_side > 0 && lowres < 3 && (short_side >> (lowres + 1)) >= (uint32_t)min_side)
        lowres++;
    c->lowres = lowres;
    c->max_pixels = VX_PICTURE_MAX_DECODED; /* the header's size is checked; this holds the decoder to it */
    c->thread_count = 1;
    c->err_recognition |= AV_EF_EXPLODE; /* a damaged picture is refused, not concealed */
    if ((r = avcodec_open2(c, codec, NULL)) < 0) { vx_fail(err, "cannot open the %s decoder: %s", name, vx_av_err(r, e, sizeof e)); goto done; }
    pkt->data = copy;
    pkt->size = (int)len;
    if ((r = avcodec_send_packet(c, pkt)) >= 0 && (r = avcodec_receive_frame(c, f)) == AVERROR(EAGAIN)) {
        avcodec_send_packet(c, NULL); /* decoders that hold the picture until the end */
        r = avcodec_receive_frame(c, f);
    }
    if (r < 0) { vx_fail(err, "%s is corrupt or cut short: %s", what, vx_av_err(r, e, sizeof e)); goto done; }
    if ((f->flags & AV_FRAME_FLAG_CORRUPT) || f->decode_error_flags) {
        vx_fail(err, "%s is corrupt or cut short: parts of it could not be decoded", what);
        goto done;
    }
    const uint32_t want_w = (info->width + (1u << lowres) - 1) >> lowres, want_h = (info->height + (1u << lowres) - 1) >> lowres;
    if ((uint32_t)f->width != want_w || (uint32_t)f->height != want_h) {
        vx_fail(err, "%s is corrupt: its header says %ux%u, its picture is %dx%d (at 1/%d)", what, info->width,
                info->height, f->width, f->height, 1 << lowres);
        goto done;
    }
    rc = frame_to_rgb(f, out, &sws, what, err);
done:
    sws_freeContext(sws);
    av_free(copy);
    av_frame_free(&f);
    av_packet_free(&pkt);
    avcodec_free_context(&c);
    return rc;
}
