/* vidx indexer: what a media file holds, read from its headers with libavformat; below
 * decode.c and rendition.c, which both use it. */
#include "probe.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/path.h"
#include "../common/vecmath.h"

/* ---- FFmpeg, quietly --------------------------------------------------------------------- */

const char *vx_av_err(int code, char *buf, size_t size) {
    av_strerror(code, buf, size);
    return buf;
}

void vx_ffmpeg_quiet(void) {
    if (vx_log_threshold > VX_LOG_DEBUG) av_log_set_level(AV_LOG_QUIET);
}

int vx_ffmpeg_deadline_passed(void *p) { return *(const double *)p > 0 && vx_now() > *(const double *)p; }

int vx_stream_rotation(const AVStream *st) {
    const uint8_t *m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    if (!m) return 0;
    double r = -av_display_rotation_get((const int32_t *)m); /* degrees clockwise */
    if (isnan(r)) return 0;
    int d = ((int)lround(r / 90.0) * 90) % 360;
    return d < 0 ? d + 360 : d;
}

int vx_ffmpeg_open(AVFormatContext **fmt, const char *path, char *why, size_t why_size) {
    const char *demuxers = VX_DEMUXERS;
    /* The file itself, never through a link, never blocking on a FIFO, only a regular file;
     * FFmpeg then opens that very file (its descriptor's /proc name), so a name swapped
     * for a link after this check is not followed. The file protocol only: "http://..."
     * is not a file name. */
    const int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        const int e = fd < 0 ? errno : 0;
        if (fd >= 0) close(fd);
        avformat_free_context(*fmt); /* what avformat_open_input does on failure */
        *fmt = NULL;
        snprintf(why, why_size, "%s", e == ELOOP ? "a symbolic link: not followed" : e ? strerror(e)
                                                                                   : "not a regular file");
        return AVERROR(e ? e : EINVAL);
    }
    char url[64];
    snprintf(url, sizeof url, "file:/proc/self/fd/%d", fd);
    /* Probed under the file's own name: a format guessed from the bytes alone is weighed
     * with the name's extension, as FFmpeg does for a path. Not image2, which reads the
     * picture's codec from the name it opens (the /proc one has no extension): left to
     * FFmpeg's own probe of the bytes, a picture opens with its *_pipe demuxer. */
    const AVInputFormat *guess = NULL;
    AVIOContext *peek = NULL;
    if (avio_open(&peek, url, AVIO_FLAG_READ) >= 0) {
        if (av_probe_input_buffer2(peek, &guess, path, NULL, 0, 0) < 0) guess = NULL;
        avio_closep(&peek);
    }
    if (guess && strcmp(guess->name, "image2") == 0) guess = NULL;
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    av_dict_set(&opts, "format_whitelist", demuxers, 0);
    const int r = avformat_open_input(fmt, url, guess, &opts);
    av_dict_free(&opts);
    if (r < 0) {
        *fmt = NULL;
        /* What the file looks like, to say why when it is a playlist or a script. */
        const AVInputFormat *probed = NULL;
        AVIOContext *io = NULL;
        if (avio_open(&io, url, AVIO_FLAG_READ) >= 0) {
            av_probe_input_buffer(io, &probed, path, NULL, 0, 1 << 16);
            avio_closep(&io);
        }
        if (probed && av_match_list(probed->name, demuxers, ',') <= 0)
            snprintf(why, why_size, "%s (FFmpeg's %s), not a media file vidx reads", probed->long_name ? probed->long_name : probed->name,
                     probed->name);
        else
            vx_av_err(r, why, why_size);
    }
    close(fd); /* FFmpeg holds its own */
    return r < 0 ? r : 0;
}

/* ---- a video or not ------------------------------------------------------------------------ */

int vx_probe_video(const char *path, vx_error *err) {
    AVFormatContext *fmt = NULL;
    char e[256];
    vx_ffmpeg_quiet();
    if (vx_ffmpeg_open(&fmt, path, e, sizeof e) < 0)
        return vx_fail(err, "not a readable media file: %s", e);
    /* Ogg and friends announce their streams' codecs only in the first packets. */
    if (fmt->nb_streams == 0 || fmt->streams[0]->codecpar->codec_type == AVMEDIA_TYPE_UNKNOWN)
        avformat_find_stream_info(fmt, NULL);
    int video = 0, audio = 0, pictures = 0;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVStream *st = fmt->streams[i];
        if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
            if (st->disposition & AV_DISPOSITION_ATTACHED_PIC) pictures++;
            else video++;
        } else if (st->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) {
            audio++;
        }
    }
    avformat_close_input(&fmt);
    if (video) return 1;
    vx_fail(err, "%s", audio && pictures ? "audio only (with cover art): no video stream"
                       : audio           ? "audio only: no video stream"
                                         : "no video stream");
    return 0;
}

/* ---- what browsers play ------------------------------------------------------------------ */

/* Matroska's DocType from the EBML header at the start of the file: "webm" or
 * "matroska". Browsers promise WebM; a Matroska file with the same codecs gets a
 * rendition. Returns 1 for "webm". */
static int matroska_is_webm(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char h[64];
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    /* The DocType element: ID 0x4282, a one-byte size (0x80 | length), then the text. */
    for (size_t i = 0; i + 3 < n; i++)
        if (h[i] == 0x42 && h[i + 1] == 0x82 && (h[i + 2] & 0x80)) {
            size_t len = h[i + 2] & 0x7f;
            return len == 4 && i + 3 + len <= n && memcmp(h + i + 3, "webm", 4) == 0;
        }
    return 0;
}

static int pix_fmt_is(int fmt, const enum AVPixelFormat *ok) {
    for (; *ok != AV_PIX_FMT_NONE; ok++)
        if (fmt == *ok) return 1;
    return 0;
}

const char *vx_codec_label(int codec_id) {
    const enum AVCodecID id = (enum AVCodecID)codec_id;
    const AVCodecDescriptor *d = avcodec_descriptor_get(id);
    return d ? d->name : "unknown";
}

int vx_playback_of(const struct AVFormatContext *fmt, const char *path, char *note, size_t note_size) {
    char scratch[VX_PLAYBACK_NOTE_MAX];
    if (!note) { note = scratch; note_size = sizeof scratch; }
    note[0] = '\0';
    const char *container = fmt->iformat && fmt->iformat->name ? fmt->iformat->name : "unknown";
    const int mp4 = strcmp(container, "mov,mp4,m4a,3gp,3g2,mj2") == 0;
    const int webm = strcmp(container, "matroska,webm") == 0 && path && matroska_is_webm(path);
    const char *short_name = mp4 ? "MP4" : webm ? "WebM" : strcmp(container, "matroska,webm") == 0 ? "Matroska" : container;
    if (!mp4 && !webm) {
        const char *vc = NULL;
        for (unsigned i = 0; i < fmt->nb_streams && !vc; i++)
            if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) vc = vx_codec_label(fmt->streams[i]->codecpar->codec_id);
        snprintf(note, note_size, "browsers do not play %s video in %s files", vc ? vc : "the", short_name);
        return VX_PLAYBACK_CONVERT;
    }
    static const enum AVPixelFormat h264_ok[] = {AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_NONE};
    static const enum AVPixelFormat vpx_ok[] = {AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUVA420P, AV_PIX_FMT_YUV420P10LE,
                                                AV_PIX_FMT_NONE};
    int video = 0;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVCodecParameters *p = fmt->streams[i]->codecpar;
        if (p->codec_type == AVMEDIA_TYPE_VIDEO) {
            if (fmt->streams[i]->disposition & AV_DISPOSITION_ATTACHED_PIC) continue; /* cover art */
            video++;
            int ok;
            switch (p->codec_id) {
            case AV_CODEC_ID_H264: ok = mp4 && pix_fmt_is(p->format, h264_ok); break;
            case AV_CODEC_ID_AV1: ok = pix_fmt_is(p->format, vpx_ok); break;
            case AV_CODEC_ID_VP8:
            case AV_CODEC_ID_VP9: ok = webm && pix_fmt_is(p->format, vpx_ok); break;
            default: ok = 0;
            }
            if (!ok) {
                const char *pf = av_get_pix_fmt_name((enum AVPixelFormat)p->format);
                snprintf(note, note_size, "browsers do not play %s video (%s) in %s", vx_codec_label(p->codec_id),
                         pf ? pf : "unknown pixels", short_name);
                return VX_PLAYBACK_CONVERT;
            }
        } else if (p->codec_type == AVMEDIA_TYPE_AUDIO) {
            const int ok = p->codec_id == AV_CODEC_ID_AAC || p->codec_id == AV_CODEC_ID_OPUS ||
                           (p->codec_id == AV_CODEC_ID_VORBIS && webm);
            if (!ok) {
                snprintf(note, note_size, "browsers do not play %s audio in %s", vx_codec_label(p->codec_id), short_name);
                return VX_PLAYBACK_CONVERT;
            }
        }
    }
    if (!video) {
        snprintf(note, note_size, "no video stream");
        return VX_PLAYBACK_CONVERT;
    }
    return VX_PLAYBACK_DIRECT;
}

int vx_probe_playback(const char *path, char *note, size_t note_size, vx_error *err) {
    AVFormatContext *fmt = NULL;
    char e[256];
    vx_ffmpeg_quiet();
    int r = vx_ffmpeg_open(&fmt, path, e, sizeof e);
    if (r < 0) return vx_fail(err, "%s: not a readable media file: %s", path, e);
    if ((r = avformat_find_stream_info(fmt, NULL)) < 0) {
        av_strerror(r, e, sizeof e);
        avformat_close_input(&fmt);
        return vx_fail(err, "%s: cannot read stream info: %s", path, e);
    }
    int p = vx_playback_of(fmt, path, note, note_size);
    avformat_close_input(&fmt);
    return p;
}
