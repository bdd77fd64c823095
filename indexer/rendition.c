/* Web-playable renditions with libavformat, libavcodec and libavfilter (see rendition.h).
 *
 * One pass: demux, decode the best video stream (and the best audio stream when it
 * decodes), filter (deinterlace when flagged, rotate upright, scale to square pixels
 * within the size limit, 8-bit 4:2:0 / 48 kHz float stereo in 1024-sample frames),
 * encode with libx264 and FFmpeg's AAC, and mux into MP4 with "+faststart" so the index
 * comes first. Timestamps are shifted so the first video frame is at 0: the moments the
 * indexer records (decode.c measures time from the video stream's start) land on the
 * same pictures in the rendition.
 */
#include "rendition.h"

#include <errno.h>
#include <fcntl.h>
#include <libavcodec/avcodec.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/path.h"
#include "../common/system.h"
#include "../common/vecmath.h"
#include "probe.h"

#define PARTIAL_SUFFIX ".partial"

/* ---- making a rendition ----------------------------------------------------------------- */

void vx_rendition_options_default(vx_rendition_options *o) {
    memset(o, 0, sizeof *o);
    o->max_height = 1080;
    o->crf = 23;
    o->preset = "veryfast";
}

int vx_rendition_is_partial(const char *name) {
    size_t n = strlen(name), s = strlen(PARTIAL_SUFFIX);
    return n > s && strcmp(name + n - s, PARTIAL_SUFFIX) == 0;
}

typedef struct stop_check {
    double deadline;
    const atomic_int *cancel;
} stop_check;

static int should_stop(void *p) {
    const stop_check *s = p;
    return (s->cancel && atomic_load(s->cancel)) || (s->deadline > 0 && vx_now() > s->deadline);
}

/* Everything one transcode holds; released by tx_free. */
typedef struct tx {
    const char *src;
    vx_error *err;
    AVFormatContext *in, *out;
    AVCodecContext *vdec, *venc, *adec, *aenc;
    AVFilterGraph *vgraph, *agraph;
    AVFilterContext *vsrc, *vsink, *asrc, *asink;
    AVStream *vst_out, *ast_out;
    int vi, ai;                  /* input stream indexes; ai -1 without audio */
    int64_t vstart;              /* the video stream's first time, its time base */
    int64_t last_vpts;           /* strictly increasing pts into the video encoder */
    int64_t last_in_pts;         /* the last picture's time into the filters */
    int64_t frame_dur;           /* one frame, in the video stream's time base */
    double fps;
    AVFrame *frame, *filtered;
    AVPacket *pkt;
    long frames;
    double done_s, total_s, last_report;
    char note[VX_PLAYBACK_NOTE_MAX];
    const vx_rendition_options *opt;
} tx;

static int av_fail(tx *t, int code, const char *what) {
    char e[128];
    av_strerror(code, e, sizeof e);
    return vx_fail(t->err, "%s: %s: %s", t->src, what, e);
}

/* The size of the rendition: square pixels, upright, at most max_height lines on the
 * short side (and 16:9 of that on the long side), even numbers (4:2:0). */
static void target_size(int w, int h, AVRational sar, int rotation, int max_h, int *ow, int *oh) {
    double dw = w, dh = h;
    if (sar.num > 0 && sar.den > 0) dw = w * av_q2d(sar);
    if (rotation % 180) { double s = dw; dw = dh; dh = s; }
    const double short_side = dw < dh ? dw : dh, long_side = dw < dh ? dh : dw;
    double s = 1;
    if (short_side > max_h) s = max_h / short_side;
    if (long_side * s > max_h * 16.0 / 9.0) s = max_h * 16.0 / 9.0 / long_side;
    *ow = 2 * (int)lround(dw * s / 2);
    *oh = 2 * (int)lround(dh * s / 2);
    if (*ow < 2) *ow = 2;
    if (*oh < 2) *oh = 2;
}

static int build_graph(tx *t, AVFilterGraph **graph, AVFilterContext **src, AVFilterContext **sink, const char *src_name,
                       const char *src_args, const char *sink_name, const char *chain) {
    *graph = avfilter_graph_alloc();
    if (!*graph) return vx_fail(t->err, "%s: out of memory", t->src);
    (*graph)->nb_threads = 1;
    int r = avfilter_graph_create_filter(src, avfilter_get_by_name(src_name), "in", src_args, NULL, *graph);
    if (r < 0) return av_fail(t, r, "cannot set up the filter input");
    r = avfilter_graph_create_filter(sink, avfilter_get_by_name(sink_name), "out", NULL, NULL, *graph);
    if (r < 0) return av_fail(t, r, "cannot set up the filter output");
    AVFilterInOut *outputs = avfilter_inout_alloc(), *inputs = avfilter_inout_alloc();
    if (!outputs || !inputs) {
        avfilter_inout_free(&outputs);
        avfilter_inout_free(&inputs);
        return vx_fail(t->err, "%s: out of memory", t->src);
    }
    outputs->name = av_strdup("in");
    outputs->filter_ctx = *src;
    inputs->name = av_strdup("out");
    inputs->filter_ctx = *sink;
    r = avfilter_graph_parse_ptr(*graph, chain, &inputs, &outputs, NULL);
    avfilter_inout_free(&outputs);
    avfilter_inout_free(&inputs);
    if (r >= 0) r = avfilter_graph_config(*graph, NULL);
    if (r < 0) return av_fail(t, r, "cannot set up the filters");
    return 0;
}

static int open_video(tx *t) {
    AVStream *st = t->in->streams[t->vi];
    const AVCodec *dc = avcodec_find_decoder(st->codecpar->codec_id);
    if (!dc) return vx_fail(t->err, "%s: no decoder for %s video", t->src, vx_codec_label(st->codecpar->codec_id));
    t->vdec = avcodec_alloc_context3(dc);
    if (!t->vdec || avcodec_parameters_to_context(t->vdec, st->codecpar) < 0)
        return vx_fail(t->err, "%s: out of memory", t->src);
    t->vdec->pkt_timebase = st->time_base;
    int r = avcodec_open2(t->vdec, dc, NULL);
    if (r < 0) return av_fail(t, r, "cannot open the video decoder");
    if (t->vdec->width < 1 || t->vdec->height < 1 || t->vdec->pix_fmt == AV_PIX_FMT_NONE)
        return vx_fail(t->err, "%s: the video stream does not say its size or pixel format", t->src);
    AVRational fr = av_guess_frame_rate(t->in, st, NULL);
    t->fps = fr.num > 0 && fr.den > 0 ? av_q2d(fr) : 0;
    if (!(t->fps > 0 && t->fps <= 240)) { t->fps = 25; fr = (AVRational){25, 1}; }
    const int rotation = vx_stream_rotation(st);
    AVRational sar = t->vdec->sample_aspect_ratio.num ? t->vdec->sample_aspect_ratio : st->sample_aspect_ratio;
    if (sar.num <= 0 || sar.den <= 0) sar = (AVRational){1, 1};
    int ow, oh;
    target_size(t->vdec->width, t->vdec->height, sar, rotation, t->opt->max_height, &ow, &oh);

    char args[256], chain[256];
    snprintf(args, sizeof args, "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=%d/%d", t->vdec->width,
             t->vdec->height, t->vdec->pix_fmt, st->time_base.num, st->time_base.den, sar.num, sar.den);
    const char *turn = rotation == 90 ? "transpose=clock," : rotation == 180 ? "hflip,vflip,"
                       : rotation == 270 ? "transpose=cclock," : "";
    snprintf(chain, sizeof chain, "yadif=deint=interlaced,%sscale=%d:%d:flags=bicubic:out_range=tv,setsar=1,format=yuv420p",
             turn, ow, oh);
    if (build_graph(t, &t->vgraph, &t->vsrc, &t->vsink, "buffer", args, "buffersink", chain)) return -1;

    const AVCodec *ec = avcodec_find_encoder_by_name("libx264");
    if (!ec) return vx_fail(t->err, "this FFmpeg has no libx264 encoder (Debian's libavcodec59 has it)");
    t->venc = avcodec_alloc_context3(ec);
    if (!t->venc) return vx_fail(t->err, "%s: out of memory", t->src);
    t->venc->width = av_buffersink_get_w(t->vsink);
    t->venc->height = av_buffersink_get_h(t->vsink);
    t->venc->pix_fmt = AV_PIX_FMT_YUV420P;
    t->venc->sample_aspect_ratio = (AVRational){1, 1};
    t->venc->time_base = av_buffersink_get_time_base(t->vsink);
    t->venc->framerate = fr;
    t->venc->color_range = AVCOL_RANGE_MPEG;
    /* A keyframe every 2 s: a seek to a moment decodes little before it. */
    int gop = (int)lround(2 * t->fps);
    t->venc->gop_size = gop < 12 ? 12 : gop > 300 ? 300 : gop;
    t->venc->thread_count = t->opt->threads;
    if (t->out->oformat->flags & AVFMT_GLOBALHEADER) t->venc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary *o = NULL;
    char crf[16];
    snprintf(crf, sizeof crf, "%d", t->opt->crf);
    av_dict_set(&o, "preset", t->opt->preset, 0);
    av_dict_set(&o, "crf", crf, 0);
    av_dict_set(&o, "profile", "high", 0);
    r = avcodec_open2(t->venc, ec, &o);
    av_dict_free(&o);
    if (r < 0) return av_fail(t, r, "cannot open the H.264 encoder");
    t->vst_out = avformat_new_stream(t->out, NULL);
    if (!t->vst_out || avcodec_parameters_from_context(t->vst_out->codecpar, t->venc) < 0)
        return vx_fail(t->err, "%s: out of memory", t->src);
    t->vst_out->time_base = t->venc->time_base;
    t->vst_out->avg_frame_rate = fr;
    t->vstart = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
    t->last_vpts = t->last_in_pts = INT64_MIN;
    t->frame_dur = av_rescale_q(1, av_inv_q(fr), st->time_base);
    if (t->frame_dur < 1) t->frame_dur = 1;
    return 0;
}

/* Audio is kept when it decodes; any trouble here leaves it out with a note, never
 * fails the rendition. */
static int open_audio(tx *t) {
    AVStream *st = t->in->streams[t->ai];
    const AVCodec *dc = avcodec_find_decoder(st->codecpar->codec_id);
    char layout[64], args[256];
    int r;
    if (!dc) {
        snprintf(t->note, sizeof t->note, "no decoder for the %s audio: left out", vx_codec_label(st->codecpar->codec_id));
        return -1;
    }
    t->adec = avcodec_alloc_context3(dc);
    if (!t->adec || avcodec_parameters_to_context(t->adec, st->codecpar) < 0) return -1;
    t->adec->pkt_timebase = st->time_base;
    if (avcodec_open2(t->adec, dc, NULL) < 0 || t->adec->sample_rate <= 0 || t->adec->ch_layout.nb_channels <= 0 ||
        t->adec->sample_fmt == AV_SAMPLE_FMT_NONE) {
        snprintf(t->note, sizeof t->note, "the %s audio cannot be decoded: left out", vx_codec_label(st->codecpar->codec_id));
        return -1;
    }
    AVChannelLayout cl;
    if (t->adec->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC) av_channel_layout_default(&cl, t->adec->ch_layout.nb_channels);
    else if (av_channel_layout_copy(&cl, &t->adec->ch_layout) < 0) return -1;
    av_channel_layout_describe(&cl, layout, sizeof layout);
    const int mono = cl.nb_channels == 1;
    av_channel_layout_uninit(&cl);
    snprintf(args, sizeof args, "time_base=%d/%d:sample_rate=%d:sample_fmt=%s:channel_layout=%s", st->time_base.num,
             st->time_base.den, t->adec->sample_rate, av_get_sample_fmt_name(t->adec->sample_fmt), layout);
    /* async + first_pts: audio starting before the first picture is cut, after it is
     * preceded by silence, so sound and picture stay in step. */
    const char *chain = mono ? "aresample=48000:async=1:first_pts=0,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=mono"
                             : "aresample=48000:async=1:first_pts=0,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo";
    vx_error quiet;
    vx_error *keep = t->err;
    t->err = &quiet;
    r = build_graph(t, &t->agraph, &t->asrc, &t->asink, "abuffer", args, "abuffersink", chain);
    t->err = keep;
    if (r) {
        snprintf(t->note, sizeof t->note, "the audio's format is not supported: left out");
        return -1;
    }
    const AVCodec *ec = avcodec_find_encoder(AV_CODEC_ID_AAC);
    if (!ec || !(t->aenc = avcodec_alloc_context3(ec))) return -1;
    t->aenc->sample_fmt = AV_SAMPLE_FMT_FLTP;
    t->aenc->sample_rate = 48000;
    if (av_buffersink_get_ch_layout(t->asink, &t->aenc->ch_layout) < 0) return -1;
    t->aenc->bit_rate = mono ? 64000 : 128000;
    t->aenc->time_base = (AVRational){1, 48000};
    if (t->out->oformat->flags & AVFMT_GLOBALHEADER) t->aenc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if ((r = avcodec_open2(t->aenc, ec, NULL)) < 0) return -1;
    av_buffersink_set_frame_size(t->asink, (unsigned)t->aenc->frame_size);
    t->ast_out = avformat_new_stream(t->out, NULL);
    if (!t->ast_out || avcodec_parameters_from_context(t->ast_out->codecpar, t->aenc) < 0) return -1;
    t->ast_out->time_base = t->aenc->time_base;
    return 0;
}

static void drop_audio(tx *t) {
    avcodec_free_context(&t->adec);
    avcodec_free_context(&t->aenc);
    avfilter_graph_free(&t->agraph);
    t->asrc = t->asink = NULL;
    t->ai = -1;
}

/* Sends a frame (NULL: flush) to an encoder and writes what comes out. */
static int encode(tx *t, AVCodecContext *enc, AVStream *st, AVFrame *f) {
    int r = avcodec_send_frame(enc, f);
    if (r < 0 && r != AVERROR_EOF) return av_fail(t, r, "encoding failed");
    for (;;) {
        r = avcodec_receive_packet(enc, t->pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
        if (r < 0) return av_fail(t, r, "encoding failed");
        av_packet_rescale_ts(t->pkt, enc->time_base, st->time_base);
        t->pkt->stream_index = st->index;
        r = av_interleaved_write_frame(t->out, t->pkt);
        if (r < 0) return av_fail(t, r, "cannot write the rendition");
    }
}

static void report(tx *t, double s) {
    if (s > t->done_s) t->done_s = s;
    if (t->opt->progress && t->done_s - t->last_report >= 1.0) {
        t->last_report = t->done_s;
        t->opt->progress(t->opt->progress_ctx, t->done_s, t->total_s);
    }
}

/* Pulls filtered pictures and encodes those whose time moves forward. */
static int drain_video(tx *t) {
    for (;;) {
        int r = av_buffersink_get_frame(t->vsink, t->filtered);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
        if (r < 0) return av_fail(t, r, "filtering the video failed");
        const int64_t pts = t->filtered->pts;
        if (pts == AV_NOPTS_VALUE || pts < 0 || pts <= t->last_vpts) { /* before the start, or a repeated time */
            av_frame_unref(t->filtered);
            continue;
        }
        t->last_vpts = pts;
        t->filtered->pict_type = AV_PICTURE_TYPE_NONE;
        report(t, pts * av_q2d(t->venc->time_base));
        r = encode(t, t->venc, t->vst_out, t->filtered);
        av_frame_unref(t->filtered);
        if (r) return -1;
        t->frames++;
    }
}

static int drain_audio(tx *t) {
    for (;;) {
        int r = av_buffersink_get_frame(t->asink, t->filtered);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
        if (r < 0) return av_fail(t, r, "filtering the audio failed");
        r = encode(t, t->aenc, t->ast_out, t->filtered);
        av_frame_unref(t->filtered);
        if (r) return -1;
    }
}

/* Decoded pictures go to the filters with times counted from the video's start. */
static int push_video(tx *t, int flush) {
    for (;;) {
        int r = avcodec_receive_frame(t->vdec, t->frame);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) break;
        if (r < 0) break; /* a broken frame: skipped */
        /* Without a timestamp, one frame after the last. */
        int64_t pts = t->frame->best_effort_timestamp;
        pts = pts != AV_NOPTS_VALUE ? pts - t->vstart : t->last_in_pts == INT64_MIN ? 0 : t->last_in_pts + t->frame_dur;
        t->last_in_pts = pts;
        t->frame->pts = pts;
        r = av_buffersrc_add_frame_flags(t->vsrc, t->frame, AV_BUFFERSRC_FLAG_KEEP_REF);
        av_frame_unref(t->frame);
        if (r < 0) return av_fail(t, r, "filtering the video failed");
        if (drain_video(t)) return -1;
    }
    if (flush) {
        int r = av_buffersrc_add_frame(t->vsrc, NULL);
        if (r < 0) return av_fail(t, r, "filtering the video failed");
        if (drain_video(t)) return -1;
    }
    return 0;
}

static void push_audio(tx *t, int flush) {
    const AVRational vtb = t->in->streams[t->vi]->time_base, atb = t->in->streams[t->ai]->time_base;
    const int64_t shift = av_rescale_q(t->vstart, vtb, atb);
    for (;;) {
        int r = avcodec_receive_frame(t->adec, t->frame);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) break;
        if (r < 0) break;
        if (t->frame->best_effort_timestamp != AV_NOPTS_VALUE) t->frame->pts = t->frame->best_effort_timestamp - shift;
        r = av_buffersrc_add_frame_flags(t->asrc, t->frame, AV_BUFFERSRC_FLAG_KEEP_REF);
        av_frame_unref(t->frame);
        if (r < 0 || drain_audio(t)) {
            snprintf(t->note, sizeof t->note, "the audio broke off part way: the rest is silent");
            drop_audio(t);
            return;
        }
    }
    if (flush && av_buffersrc_add_frame(t->asrc, NULL) >= 0 && drain_audio(t) == 0) encode(t, t->aenc, t->ast_out, NULL);
}

static void tx_free(tx *t) {
    avcodec_free_context(&t->vdec);
    avcodec_free_context(&t->venc);
    avcodec_free_context(&t->adec);
    avcodec_free_context(&t->aenc);
    avfilter_graph_free(&t->vgraph);
    avfilter_graph_free(&t->agraph);
    if (t->out) {
        if (t->out->pb) avio_closep(&t->out->pb);
        avformat_free_context(t->out);
    }
    avformat_close_input(&t->in);
    av_frame_free(&t->frame);
    av_frame_free(&t->filtered);
    av_packet_free(&t->pkt);
}

/* Puts a finished temporary file in place durably: its bytes, then its name. */
static int commit_file(const char *tmp, const char *dst, vx_error *err) {
    if (vx_fsync_path(tmp) != 0) return vx_fail(err, "cannot sync %s: %s", tmp, strerror(errno));
    if (rename(tmp, dst) != 0) return vx_fail(err, "cannot rename %s into place: %s", tmp, strerror(errno));
    vx_fsync_parent(dst);
    return 0;
}

static int transcode(tx *t, const char *tmp, stop_check *stop) {
    int r;
    if (!(t->frame = av_frame_alloc()) || !(t->filtered = av_frame_alloc()) || !(t->pkt = av_packet_alloc()) ||
        !(t->in = avformat_alloc_context()))
        return vx_fail(t->err, "%s: out of memory", t->src);
    t->in->interrupt_callback.callback = should_stop;
    t->in->interrupt_callback.opaque = stop;
    char why[256];
    if (vx_ffmpeg_open(&t->in, t->src, why, sizeof why) < 0)
        return vx_fail(t->err, "%s: not a readable media file: %s", t->src, why);
    if ((r = avformat_find_stream_info(t->in, NULL)) < 0) return av_fail(t, r, "cannot read stream info");
    t->vi = av_find_best_stream(t->in, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (t->vi < 0) return vx_fail(t->err, "%s: no video stream", t->src);
    t->ai = av_find_best_stream(t->in, AVMEDIA_TYPE_AUDIO, -1, t->vi, NULL, 0);
    if (t->ai < 0) t->ai = -1;
    for (unsigned i = 0; i < t->in->nb_streams; i++)
        if ((int)i != t->vi && (int)i != t->ai) t->in->streams[i]->discard = AVDISCARD_ALL;
    t->total_s = t->in->duration > 0 ? (double)t->in->duration / AV_TIME_BASE : 0;

    if ((r = avformat_alloc_output_context2(&t->out, NULL, "mp4", tmp)) < 0) return av_fail(t, r, "cannot make an MP4");
    if (open_video(t)) return -1;
    if (t->ai >= 0 && open_audio(t)) {
        drop_audio(t);
        if (t->out->nb_streams > 1) return vx_fail(t->err, "%s: cannot drop the audio stream", t->src);
    }
    if ((r = avio_open(&t->out->pb, tmp, AVIO_FLAG_WRITE)) < 0) return av_fail(t, r, "cannot create the rendition");
    AVDictionary *mo = NULL;
    av_dict_set(&mo, "movflags", "+faststart", 0); /* the index first: seeking works with byte ranges */
    r = avformat_write_header(t->out, &mo);
    av_dict_free(&mo);
    if (r < 0) return av_fail(t, r, "cannot write the rendition");

    for (;;) {
        if (t->opt->throttle) t->opt->throttle(t->opt->throttle_ctx);
        if (should_stop(stop))
            return vx_fail(t->err, "%s", stop->cancel && atomic_load(stop->cancel) ? "cancelled" : "took too long; stopped");
        r = av_read_frame(t->in, t->pkt);
        if (r == AVERROR_EXIT)
            return vx_fail(t->err, "%s", stop->cancel && atomic_load(stop->cancel) ? "cancelled" : "took too long; stopped");
        if (r < 0) break; /* the end, or a read error: what was read is kept */
        if (t->pkt->stream_index == t->vi) {
            avcodec_send_packet(t->vdec, t->pkt); /* a bad packet is skipped */
            av_packet_unref(t->pkt);
            if (push_video(t, 0)) return -1;
        } else if (t->pkt->stream_index == t->ai && t->adec) {
            avcodec_send_packet(t->adec, t->pkt);
            av_packet_unref(t->pkt);
            push_audio(t, 0);
        } else {
            av_packet_unref(t->pkt);
        }
    }
    avcodec_send_packet(t->vdec, NULL);
    if (push_video(t, 1)) return -1;
    if (t->frames == 0) return vx_fail(t->err, "%s: no picture could be decoded", t->src);
    if (encode(t, t->venc, t->vst_out, NULL)) return -1;
    if (t->adec) {
        avcodec_send_packet(t->adec, NULL);
        push_audio(t, 1);
    }
    if ((r = av_write_trailer(t->out)) < 0) return av_fail(t, r, "cannot finish the rendition");
    return 0;
}

int vx_make_rendition(const char *src, const char *dst, const vx_rendition_options *o, vx_rendition_result *out,
                      vx_error *err) {
    vx_rendition_options defaults;
    if (!o) { vx_rendition_options_default(&defaults); o = &defaults; }
    if (o->max_height < 144 || o->max_height > 4320)
        return vx_fail(err, "rendition height limit %d is out of range (144 to 4320)", o->max_height);
    vx_path tmp;
    if (vx_path_fmt(tmp, err, "%s%s", dst, PARTIAL_SUFFIX)) return -1;
    vx_ffmpeg_quiet();
    stop_check stop = {o->timeout_s > 0 ? vx_now() + o->timeout_s : 0, o->cancel};
    tx t = {.src = src, .err = err, .opt = o, .vi = -1, .ai = -1};
    int rc = transcode(&t, tmp, &stop);
    if (rc && o->cancel && atomic_load(o->cancel)) vx_fail(err, "cancelled");
    if (rc == 0) {
        memset(out, 0, sizeof *out);
        out->width = t.venc->width;
        out->height = t.venc->height;
        out->has_audio = t.aenc != NULL;
        out->frames = t.frames;
        out->duration = t.done_s + 1.0 / t.fps;
        snprintf(out->note, sizeof out->note, "%s", t.note);
    }
    tx_free(&t);
    if (rc == 0 && commit_file(tmp, dst, err)) rc = -1;
    if (rc) unlink(tmp);
    return rc;
}
