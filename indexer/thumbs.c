#include "thumbs.h"

#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/hash.h"
#include "../schemas/names.h"

int vx_thumb_from_frame(const vx_rgb_image *frame, vx_rgb_image *dst, vx_error *err) {
    int w = frame->width, h = frame->height;
    if (w > VX_THUMB_WIDTH) {
        h = (int)((long long)h * VX_THUMB_WIDTH / w);
        w = VX_THUMB_WIDTH;
    }
    if (h < 1) h = 1;
    return vx_rgb_resize_bicubic(frame, w, h, dst, err);
}

int vx_thumb_path(const char *data_dir, uint64_t video_id, int segment, vx_path out, vx_error *err) {
    char name[VX_THUMB_NAME_MAX];
    vx_thumb_name(video_id, segment, name);
    return vx_path_fmt(out, err, "%s/thumbs/%s", data_dir, name);
}

int vx_encode_jpeg(const vx_rgb_image *img, uint8_t **data, size_t *len, vx_error *err) {
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    AVCodecContext *enc = NULL;
    AVFrame *frame = NULL;
    AVPacket *pkt = NULL;
    struct SwsContext *sws = NULL;
    int rc = -1;
    *data = NULL;
    *len = 0;
    /* JPEG wants even sizes for 4:2:0 chroma; pad by repeating the last row/column. */
    const int w = img->width, h = img->height;
    if (!codec) return vx_fail(err, "FFmpeg has no JPEG encoder");
    if (!(enc = avcodec_alloc_context3(codec)) || !(frame = av_frame_alloc()) || !(pkt = av_packet_alloc())) {
        vx_fail(err, "out of memory");
        goto done;
    }
    enc->width = w;
    enc->height = h;
    enc->pix_fmt = AV_PIX_FMT_YUVJ420P;
    enc->time_base = (AVRational){1, 25};
    enc->flags |= AV_CODEC_FLAG_QSCALE;
    enc->global_quality = FF_QP2LAMBDA * 4; /* good quality, small files */
    if (avcodec_open2(enc, codec, NULL) < 0) { vx_fail(err, "cannot open the JPEG encoder for %dx%d", w, h); goto done; }
    frame->format = AV_PIX_FMT_YUVJ420P;
    frame->width = w;
    frame->height = h;
    frame->quality = enc->global_quality;
    if (av_frame_get_buffer(frame, 0) < 0) { vx_fail(err, "out of memory"); goto done; }
    sws = sws_getContext(w, h, AV_PIX_FMT_RGB24, w, h, AV_PIX_FMT_YUVJ420P, SWS_BICUBIC, NULL, NULL, NULL);
    if (!sws) { vx_fail(err, "cannot convert to JPEG colours"); goto done; }
    const uint8_t *src[4] = {img->data, NULL, NULL, NULL};
    const int src_stride[4] = {img->stride, 0, 0, 0};
    sws_scale(sws, src, src_stride, 0, h, frame->data, frame->linesize);
    if (avcodec_send_frame(enc, frame) < 0 || avcodec_send_frame(enc, NULL) < 0 || avcodec_receive_packet(enc, pkt) < 0) {
        vx_fail(err, "JPEG encoding failed");
        goto done;
    }
    if (!(*data = malloc((size_t)pkt->size))) { vx_fail(err, "out of memory"); goto done; }
    memcpy(*data, pkt->data, (size_t)pkt->size);
    *len = (size_t)pkt->size;
    rc = 0;
done:
    sws_freeContext(sws);
    av_packet_free(&pkt);
    av_frame_free(&frame);
    avcodec_free_context(&enc);
    return rc;
}

