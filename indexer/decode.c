#include "decode.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIDE 16384

static const char *av_err(int code, char *buf, size_t size) {
    av_strerror(code, buf, size);
    return buf;
}

/* Converts a decoded frame to packed RGB24; full-range (JPEG) YUV is honoured. */
static int frame_to_rgb(const AVFrame *f, vx_rgb_image *out, const char *path, vx_error *err) {
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
    struct SwsContext *sws = sws_getContext(f->width, f->height, fmt, f->width, f->height, AV_PIX_FMT_RGB24,
                                            SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
    if (!sws) return vx_fail(err, "%s: cannot convert pixel format %s to RGB", path, av_get_pix_fmt_name(fmt));
    const int *coeffs = sws_getCoefficients(f->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_ITU601);
    sws_setColorspaceDetails(sws, coeffs, full_range, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    out->width = f->width;
    out->height = f->height;
    out->stride = f->width * 3;
    out->data = malloc((size_t)out->stride * f->height);
    if (!out->data) {
        sws_freeContext(sws);
        return vx_fail(err, "%s: out of memory", path);
    }
    uint8_t *dst[4] = {out->data, NULL, NULL, NULL};
    int dst_stride[4] = {out->stride, 0, 0, 0};
    sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dst_stride);
    sws_freeContext(sws);
    return 0;
}

int vx_decode_image_file(const char *path, vx_rgb_image *out, vx_error *err) {
    AVFormatContext *fmt = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *frame = av_frame_alloc();
    char e[128];
    int rc = -1, r;
    memset(out, 0, sizeof *out);
    if (!pkt || !frame) { vx_fail(err, "%s: out of memory", path); goto done; }
    if ((r = avformat_open_input(&fmt, path, NULL, NULL)) < 0) {
        vx_fail(err, "%s: cannot open: %s", path, av_err(r, e, sizeof e));
        goto done;
    }
    if ((r = avformat_find_stream_info(fmt, NULL)) < 0) {
        vx_fail(err, "%s: cannot read stream info: %s", path, av_err(r, e, sizeof e));
        goto done;
    }
    const AVCodec *codec = NULL;
    int stream = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (stream < 0 || !codec) { vx_fail(err, "%s: no picture or video stream", path); goto done; }
    dec = avcodec_alloc_context3(codec);
    if (!dec || avcodec_parameters_to_context(dec, fmt->streams[stream]->codecpar) < 0 ||
        (r = avcodec_open2(dec, codec, NULL)) < 0) {
        vx_fail(err, "%s: cannot open the %s decoder", path, codec->name);
        goto done;
    }
    int got = 0, flushing = 0;
    while (!got) {
        if (!flushing) {
            r = av_read_frame(fmt, pkt);
            if (r < 0) { flushing = 1; avcodec_send_packet(dec, NULL); }
            else if (pkt->stream_index != stream) { av_packet_unref(pkt); continue; }
            else { avcodec_send_packet(dec, pkt); av_packet_unref(pkt); }
        }
        r = avcodec_receive_frame(dec, frame);
        if (r == 0) got = 1;
        else if (r == AVERROR(EAGAIN) && !flushing) continue;
        else break;
    }
    if (!got) { vx_fail(err, "%s: no picture could be decoded", path); goto done; }
    rc = frame_to_rgb(frame, out, path, err);
done:
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    return rc;
}
