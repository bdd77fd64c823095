/* Which files browsers play as they are, and the renditions of the others: clips made
 * here with the ffmpeg command in the formats browsers refuse, each checked by reading
 * the rendition back with libavformat (codecs, index at the front, size, rotation,
 * timing, audio kept), plus failures that must leave no file behind. */
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../indexer/decode.h"
#include "../indexer/picture.h"
#include "../indexer/rendition.h"
#include "check.h"

static char *dir;

static int ffmpeg(const char *args, const char *out) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -nostdin -y %s '%s/%s'", args, dir, out);
    int r = system(cmd);
    if (r != 0) fprintf(stderr, "failed: %s\n", cmd);
    return r;
}

static const char *in(const char *name) {
    static char buf[8][1024];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, 1024, "%s/%s", dir, name);
    return b;
}

#define TESTSRC "-f lavfi -i testsrc=size=320x240:rate=25 "
#define SINE "-f lavfi -i sine=frequency=440:sample_rate=44100 "

/* What is in an MP4: its streams' codecs, the video's size, duration, whether the
 * index (moov) comes before the media (mdat), the first video time. */
typedef struct probe {
    char vcodec[32], acodec[32], pix[32];
    int w, h, moov_first, audio_channels, rotation;
    double duration, first_t;
} probe;

static int probe_file(const char *path, probe *p) {
    memset(p, 0, sizeof *p);
    AVFormatContext *f = NULL;
    if (avformat_open_input(&f, path, NULL, NULL) < 0) return -1;
    avformat_find_stream_info(f, NULL);
    for (unsigned i = 0; i < f->nb_streams; i++) {
        const AVCodecParameters *c = f->streams[i]->codecpar;
        if (c->codec_type == AVMEDIA_TYPE_VIDEO) {
            snprintf(p->vcodec, sizeof p->vcodec, "%s", avcodec_get_name(c->codec_id));
            const char *pf = av_get_pix_fmt_name((enum AVPixelFormat)c->format);
            snprintf(p->pix, sizeof p->pix, "%s", pf ? pf : "?");
            p->w = c->width;
            p->h = c->height;
            p->rotation = vx_stream_rotation(f->streams[i]);
            p->first_t = f->streams[i]->start_time != AV_NOPTS_VALUE ? f->streams[i]->start_time * av_q2d(f->streams[i]->time_base) : -1;
        } else if (c->codec_type == AVMEDIA_TYPE_AUDIO) {
            snprintf(p->acodec, sizeof p->acodec, "%s", avcodec_get_name(c->codec_id));
            p->audio_channels = c->ch_layout.nb_channels;
        }
    }
    p->duration = f->duration > 0 ? (double)f->duration / AV_TIME_BASE : 0;
    avformat_close_input(&f);
    /* Top-level boxes in order. */
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    unsigned char h[8];
    long off = 0;
    int seen_moov = 0;
    while (fseek(fp, off, SEEK_SET) == 0 && fread(h, 1, 8, fp) == 8) {
        unsigned long size = (unsigned long)h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3];
        if (!memcmp(h + 4, "moov", 4)) seen_moov = 1;
        if (!memcmp(h + 4, "mdat", 4)) { p->moov_first = seen_moov; break; }
        if (size < 8) break;
        off += (long)size;
    }
    fclose(fp);
    return 0;
}

static void test_playback_decisions(void) {
    struct { const char *args, *name; int want; } cases[] = {
        {TESTSRC SINE "-t 1 -c:v libx264 -pix_fmt yuv420p -c:a aac", "h264-aac.mp4", VX_PLAYBACK_DIRECT},
        {TESTSRC "-t 1 -c:v libx264 -pix_fmt yuv420p", "h264.mov", VX_PLAYBACK_DIRECT},
        {TESTSRC SINE "-t 1 -pix_fmt yuv420p -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -c:a libopus", "vp9-opus.webm", VX_PLAYBACK_DIRECT},
        {TESTSRC SINE "-t 1 -c:v libvpx -deadline realtime -cpu-used 8 -c:a libvorbis", "vp8-vorbis.webm", VX_PLAYBACK_DIRECT},
        {TESTSRC "-t 1 -c:v libx264 -pix_fmt yuv444p", "h264-444.mp4", VX_PLAYBACK_CONVERT},
        {TESTSRC SINE "-t 1 -c:v libx264 -pix_fmt yuv420p -c:a libmp3lame", "h264-mp3.mp4", VX_PLAYBACK_CONVERT},
        {TESTSRC "-t 1 -c:v libx264 -pix_fmt yuv420p", "h264.mkv", VX_PLAYBACK_CONVERT},
        /* The same codecs as WebM, in a file that says it is Matroska. */
        {TESTSRC "-t 1 -pix_fmt yuv420p -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -f matroska", "vp9.mkv", VX_PLAYBACK_CONVERT},
        {TESTSRC "-t 1 -c:v mpeg1video", "mpeg1.mpg", VX_PLAYBACK_CONVERT},
        {TESTSRC "-t 1 -c:v mpeg4", "mpeg4.avi", VX_PLAYBACK_CONVERT},
        {TESTSRC "-t 1 -c:v libtheora", "theora.ogv", VX_PLAYBACK_CONVERT},
        {TESTSRC "-t 1 -c:v flv1", "old.flv", VX_PLAYBACK_CONVERT},
        /* Named like an MP4 but WebM inside: decided by content. */
        {TESTSRC "-t 1 -pix_fmt yuv420p -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -f webm", "webm-named.mp4", VX_PLAYBACK_DIRECT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        REQUIRE(ffmpeg(cases[i].args, cases[i].name) == 0);
        char note[VX_PLAYBACK_NOTE_MAX];
        vx_error err;
        int p = vx_probe_playback(in(cases[i].name), note, sizeof note, &err);
        CHECK_MSG(p == cases[i].want, "%s: playback %d, want %d (%s)", cases[i].name, p, cases[i].want, note);
        if (p == VX_PLAYBACK_CONVERT) CHECK_MSG(note[0] != '\0', "%s: a reason", cases[i].name);
    }
    char note[VX_PLAYBACK_NOTE_MAX];
    vx_error err;
    CHECK(vx_probe_playback(in("h264.mkv"), note, sizeof note, &err) == VX_PLAYBACK_CONVERT &&
          strstr(note, "h264") && strstr(note, "Matroska"));
    FILE *f = fopen(in("junk.mp4"), "w");
    fputs("not a video", f);
    fclose(f);
    CHECK(vx_probe_playback(in("junk.mp4"), note, sizeof note, &err) == -1 && strstr(err.msg, "junk.mp4"));
}

/* A frame callback that counts the frames sampled. */
static int count_frames(void *ctx, const vx_rgb_image *f, double t) {
    (void)f;
    (void)t;
    (*(int *)ctx)++;
    return 0;
}

/* A stream that FFmpeg decodes with errors (concealed) but browsers refuse: H.264 High in
 * MP4, every key frame damaged by the noise bitstream filter. Indexing decides a rendition,
 * with the reason; the same file undamaged plays directly; the rendition decodes clean. */
static void test_damaged_stream(void) {
    REQUIRE(ffmpeg(TESTSRC "-t 6 -c:v libx264 -profile:v high -pix_fmt yuv420p -g 25", "clean.mp4") == 0);
    char args[1200];
    snprintf(args, sizeof args, "-i '%s' -c copy -bsf:v 'noise=amount=if(key\\,50\\,0)'", in("clean.mp4"));
    REQUIRE(ffmpeg(args, "damaged.mp4") == 0);
    vx_sample_options o;
    vx_sample_options_default(&o);
    vx_video_info info;
    vx_error err;
    int frames = 0;
    REQUIRE_MSG(vx_sample_video(in("clean.mp4"), &o, &info, count_frames, &frames, NULL, &err) == 0, "%s", err.msg);
    CHECK_MSG(info.playback == VX_PLAYBACK_DIRECT && info.damaged_frames == 0, "clean: playback %d, %d damaged",
              info.playback, info.damaged_frames);
    REQUIRE_MSG(vx_sample_video(in("damaged.mp4"), &o, &info, count_frames, &frames, NULL, &err) == 0, "%s", err.msg);
    CHECK_MSG(info.playback == VX_PLAYBACK_CONVERT && info.damaged_frames >= 3 && strstr(info.playback_note, "decoding errors"),
              "damaged: playback %d, %d damaged (%s)", info.playback, info.damaged_frames, info.playback_note);
    /* The container and codec alone say it plays: the probe cannot tell. */
    char note[VX_PLAYBACK_NOTE_MAX];
    CHECK(vx_probe_playback(in("damaged.mp4"), note, sizeof note, &err) == VX_PLAYBACK_DIRECT);
    char out[1100];
    snprintf(out, sizeof out, "%s.rendition.mp4", in("damaged.mp4"));
    vx_rendition_result res;
    REQUIRE_MSG(vx_make_rendition(in("damaged.mp4"), out, NULL, &res, &err) == 0, "%s", err.msg);
    REQUIRE_MSG(vx_sample_video(out, &o, &info, count_frames, &frames, NULL, &err) == 0, "%s", err.msg);
    CHECK_MSG(info.playback == VX_PLAYBACK_DIRECT && info.damaged_frames == 0, "the rendition: playback %d, %d damaged",
              info.playback, info.damaged_frames);
}

/* Each refused format becomes H.264 + AAC in MP4 with the index first, the whole length. */
static void test_renditions_of_refused_formats(void) {
    struct { const char *args, *name; int audio; } cases[] = {
        {TESTSRC SINE "-t 3 -c:v mpeg1video -c:a mp2", "r-mpeg1.mpg", 1},
        {TESTSRC SINE "-t 3 -c:v mpeg4 -c:a libmp3lame", "r-mpeg4.avi", 1},
        {TESTSRC SINE "-t 3 -c:v libtheora -c:a libvorbis", "r-theora.ogv", 1},
        {TESTSRC "-t 3 -c:v libtheora", "r-theora.ogg", 0},
        {TESTSRC SINE "-t 3 -c:v flv1 -c:a libmp3lame -ar 44100", "r-old.flv", 1},
        {TESTSRC "-t 3 -c:v gif", "r-anim.gif", 0},
        /* MPEG-TS starts its clock at 1.4 s: the rendition starts at 0. */
        {TESTSRC SINE "-t 3 -c:v mpeg2video -c:a mp2", "r-mpeg2.ts", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        REQUIRE(ffmpeg(cases[i].args, cases[i].name) == 0);
        char out[1100];
        snprintf(out, sizeof out, "%s.mp4", in(cases[i].name));
        vx_rendition_result res;
        vx_error err;
        int r = vx_make_rendition(in(cases[i].name), out, NULL, &res, &err);
        CHECK_MSG(r == 0, "%s: %s", cases[i].name, err.msg);
        if (r) continue;
        probe p;
        REQUIRE(probe_file(out, &p) == 0);
        CHECK_MSG(!strcmp(p.vcodec, "h264") && !strcmp(p.pix, "yuv420p"), "%s: %s %s", cases[i].name, p.vcodec, p.pix);
        CHECK_MSG(p.w == 320 && p.h == 240, "%s: %dx%d", cases[i].name, p.w, p.h);
        CHECK_MSG(p.moov_first, "%s: the index comes first", cases[i].name);
        CHECK_MSG(fabs(p.duration - 3.0) < 0.25, "%s: duration %.2f", cases[i].name, p.duration);
        CHECK_MSG(p.first_t >= 0 && p.first_t < 0.1, "%s: starts at %.3f", cases[i].name, p.first_t);
        CHECK_MSG(cases[i].audio ? !strcmp(p.acodec, "aac") && res.has_audio : p.acodec[0] == '\0',
                  "%s: audio '%s'", cases[i].name, p.acodec);
        CHECK(res.width == 320 && res.height == 240 && res.frames >= 70);
        CHECK_MSG(access(in(cases[i].name), F_OK) == 0, "the original stays");
        /* The rendition plays as it is. */
        CHECK(vx_probe_playback(out, NULL, 0, &err) == VX_PLAYBACK_DIRECT);
    }
}

/* Rotation applied (a phone's portrait clip), anamorphic pixels made square, big
 * pictures scaled to the limit. */
static void test_geometry(void) {
    /* Top half red, bottom half blue, with a display matrix saying "turn it a quarter
     * counter-clockwise" (the `rotate` tag of FFmpeg 5.1's muxer): shown upright, red
     * is on the left, as the ffmpeg command's own autorotation shows it. */
    REQUIRE(ffmpeg("-f lavfi -i color=red:s=320x120:r=10 -f lavfi -i color=blue:s=320x120:r=10 "
                   "-filter_complex vstack -t 2 -c:v mpeg4", "flat.mp4") == 0);
    char args[1200];
    snprintf(args, sizeof args, "-i '%s' -c copy -metadata:s:v:0 rotate=90", in("flat.mp4"));
    REQUIRE(ffmpeg(args, "turned.mp4") == 0);
    probe p;
    REQUIRE(probe_file(in("turned.mp4"), &p) == 0);
    REQUIRE(p.rotation == 270);
    vx_rendition_result res;
    vx_error err;
    char out[1100];
    snprintf(out, sizeof out, "%s", in("turned.out.mp4"));
    REQUIRE(vx_make_rendition(in("turned.mp4"), out, NULL, &res, &err) == 0);
    REQUIRE(probe_file(out, &p) == 0);
    CHECK_MSG(p.w == 240 && p.h == 320 && p.rotation == 0, "upright: %dx%d rotation %d", p.w, p.h, p.rotation);
    vx_rgb_image img;
    REQUIRE(vx_decode_image_file(out, &img, &err) == 0);
    const uint8_t *left = img.data + (size_t)(img.height / 2) * img.stride + 20 * 3;
    const uint8_t *right = img.data + (size_t)(img.height / 2) * img.stride + (size_t)(img.width - 20) * 3;
    CHECK_MSG(left[0] > 180 && left[2] < 80 && right[2] > 180 && right[0] < 80,
              "red on the left (%d,%d,%d), blue on the right (%d,%d,%d)", left[0], left[1], left[2], right[0], right[1],
              right[2]);
    vx_rgb_free(&img);

    /* DVD-style anamorphic 16:9: 720x576 pixels shown 1024x576. */
    REQUIRE(ffmpeg("-f lavfi -i testsrc=size=720x576:rate=25 -t 1 -vf setsar=64/45 -c:v mpeg2video", "wide.mpg") == 0);
    snprintf(out, sizeof out, "%s", in("wide.out.mp4"));
    REQUIRE(vx_make_rendition(in("wide.mpg"), out, NULL, &res, &err) == 0);
    REQUIRE(probe_file(out, &p) == 0);
    CHECK_MSG(p.w == 1024 && p.h == 576, "square pixels: %dx%d", p.w, p.h);

    /* Beyond the limit: scaled down, the aspect kept. */
    REQUIRE(ffmpeg("-f lavfi -i testsrc=size=1280x720:rate=10 -t 1 -c:v mpeg4", "big.avi") == 0);
    vx_rendition_options o;
    vx_rendition_options_default(&o);
    o.max_height = 360;
    snprintf(out, sizeof out, "%s", in("big.out.mp4"));
    REQUIRE(vx_make_rendition(in("big.avi"), out, &o, &res, &err) == 0);
    REQUIRE(probe_file(out, &p) == 0);
    CHECK_MSG(p.w == 640 && p.h == 360, "scaled to 360 lines: %dx%d", p.w, p.h);
    /* Portrait: the short side is limited. */
    REQUIRE(ffmpeg("-f lavfi -i testsrc=size=720x1280:rate=10 -t 1 -c:v mpeg4", "tall.avi") == 0);
    snprintf(out, sizeof out, "%s", in("tall.out.mp4"));
    REQUIRE(vx_make_rendition(in("tall.avi"), out, &o, &res, &err) == 0);
    REQUIRE(probe_file(out, &p) == 0);
    CHECK_MSG(p.w == 360 && p.h == 640, "portrait scaled: %dx%d", p.w, p.h);
}

static int partial_files(void) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c '\\.partial$' > '%s/count'", dir, dir);
    if (system(cmd) < 0) return -1;
    FILE *f = fopen(in("count"), "r");
    int n = -1;
    if (f) { if (fscanf(f, "%d", &n) != 1) n = -1; fclose(f); }
    return n;
}

/* Failures leave neither the rendition nor its temporary file; broken audio is left
 * out, not fatal. */
static void test_failures(void) {
    vx_rendition_result res;
    vx_error err;
    char out[1100];
    snprintf(out, sizeof out, "%s", in("junk.out.mp4"));
    FILE *f = fopen(in("junk.avi"), "w");
    fputs("RIFF not really", f);
    fclose(f);
    CHECK(vx_make_rendition(in("junk.avi"), out, NULL, &res, &err) == -1 && strstr(err.msg, "junk.avi"));
    CHECK(access(out, F_OK) != 0);

    /* Cancelled part way (as at shutdown). */
    REQUIRE(ffmpeg(TESTSRC "-t 20 -c:v mpeg4", "long.avi") == 0);
    atomic_int cancel = 1;
    vx_rendition_options o;
    vx_rendition_options_default(&o);
    o.cancel = &cancel;
    snprintf(out, sizeof out, "%s", in("long.out.mp4"));
    CHECK(vx_make_rendition(in("long.avi"), out, &o, &res, &err) == -1 && strstr(err.msg, "cancelled"));
    CHECK(access(out, F_OK) != 0);
    CHECK(partial_files() == 0);
    CHECK(vx_rendition_is_partial("abc.mp4.partial") && !vx_rendition_is_partial("abc.mp4"));

    /* The shared clip whose audio stream is broken: the picture is kept. */
    const char *shared = getenv("VIDX_SHARED_DATA");
    if (shared) {
        char src[1024];
        snprintf(src, sizeof src, "%s/videos/moviepy/video_with_failing_audio.mp4", shared);
        snprintf(out, sizeof out, "%s", in("failing_audio.out.mp4"));
        CHECK_MSG(vx_make_rendition(src, out, NULL, &res, &err) == 0, "%s", err.msg);
        probe p;
        if (probe_file(out, &p) == 0) CHECK_MSG(!strcmp(p.vcodec, "h264") && p.duration > 10, "%s %.1f", p.vcodec, p.duration);
    }
}

/* Playlists and scripts in a media folder: FFmpeg would follow them to other files or
 * URLs. The indexer's readers open local files with media demuxers only, and say why. */
static void test_playlists_refused(void) {
    REQUIRE(ffmpeg(TESTSRC "-t 2 -c:v libx264 -pix_fmt yuv420p", "inner.mp4") == 0);
    /* A concat script named like a video, naming a clip beside it (safe by FFmpeg's rules:
     * relative, no "..") whose frames would be indexed under the script's name. */
    FILE *f = fopen(in("trick.mp4"), "w");
    REQUIRE(f);
    fputs("ffconcat version 1.0\nfile 'inner.mp4'\n", f);
    fclose(f);
    /* An HLS playlist whose segment is a URL. */
    f = fopen(in("live.mkv"), "w");
    REQUIRE(f);
    fputs("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:9/segment.ts\n#EXT-X-ENDLIST\n", f);
    fclose(f);
    vx_error err;
    CHECK(vx_probe_video(in("inner.mp4"), &err) == 1); /* the clip itself is a video */
    CHECK_MSG(vx_probe_video(in("trick.mp4"), &err) == -1 && strstr(err.msg, "concat") &&
                  strstr(err.msg, "not a media file vidx reads"),
              "%s", err.msg);
    CHECK_MSG(vx_probe_video(in("live.mkv"), &err) == -1 && strstr(err.msg, "hls"), "%s", err.msg);
    vx_sample_options o;
    vx_sample_options_default(&o);
    vx_video_info info;
    int frames = 0;
    CHECK(vx_sample_video(in("trick.mp4"), &o, &info, count_frames, &frames, NULL, &err) == -1 && frames == 0);
    char note[VX_PLAYBACK_NOTE_MAX];
    CHECK(vx_probe_playback(in("live.mkv"), note, sizeof note, &err) == -1 && strstr(err.msg, "hls"));
    vx_rendition_result res;
    CHECK(vx_make_rendition(in("trick.mp4"), in("trick.out.mp4"), NULL, &res, &err) == -1 && strstr(err.msg, "concat"));
    /* Not a URL either: a path is a local file name. */
    CHECK(vx_probe_video("http://127.0.0.1:9/x.mp4", &err) == -1);
    /* A link is not followed (a name swapped for one after the walk must not lead
     * elsewhere), and a FIFO is refused at once instead of blocking the reader. */
    REQUIRE(symlink(in("inner.mp4"), in("link.mp4")) == 0);
    CHECK_MSG(vx_probe_video(in("link.mp4"), &err) == -1 && strstr(err.msg, "symbolic link"), "%s", err.msg);
    REQUIRE(mkfifo(in("fifo.mp4"), 0600) == 0);
    CHECK_MSG(vx_probe_video(in("fifo.mp4"), &err) == -1 && strstr(err.msg, "not a regular file"), "%s", err.msg);
    CHECK(vx_sample_video(in("link.mp4"), &o, &info, count_frames, &frames, NULL, &err) == -1 && frames == 0);
}

static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = n > 0 ? malloc((size_t)n) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Pictures as queries: a large JPEG is decoded at the smallest DCT scale that keeps the
 * model's side (a fraction of the work and memory), a small one whole; a PNG larger than
 * what is decoded whole is refused from its header. */
static void test_picture_scale(void) {
    REQUIRE(ffmpeg("-f lavfi -i testsrc2=size=4000x3000 -frames:v 1 -q:v 3", "big.jpg") == 0);
    REQUIRE(ffmpeg("-f lavfi -i testsrc2=size=600x400 -frames:v 1", "small.jpg") == 0);
    REQUIRE(ffmpeg("-f lavfi -i testsrc2=size=4096x3000 -frames:v 1", "big.png") == 0);
    size_t len;
    vx_rgb_image img;
    vx_picture_info info;
    vx_error err;
    uint8_t *b = slurp(in("big.jpg"), &len);
    REQUIRE(b);
    CHECK_MSG(vx_picture_decode(b, len, 224, &img, &info, &err) == 0 && img.width == 500 && img.height == 375,
              "%dx%d %s", img.width, img.height, err.msg); /* 1/8: 375 lines still cover 224 */
    vx_rgb_free(&img);
    CHECK(vx_picture_decode(b, len, 1000, &img, &info, &err) == 0 && img.width == 2000 && img.height == 1500);
    vx_rgb_free(&img);
    free(b);
    b = slurp(in("small.jpg"), &len);
    REQUIRE(b);
    CHECK(vx_picture_decode(b, len, 224, &img, &info, &err) == 0 && img.width == 600 && img.height == 400);
    vx_rgb_free(&img);
    free(b);
    b = slurp(in("big.png"), &len);
    REQUIRE(b);
    CHECK_MSG(vx_picture_decode(b, len, 224, &img, &info, &err) == -1 && strstr(err.msg, "a JPEG may have more"), "%s",
              err.msg);
    free(b);
}

int main(void) {
    dir = test_tmpdir("rendition");
    RUN(test_playback_decisions);
    RUN(test_damaged_stream);
    RUN(test_renditions_of_refused_formats);
    RUN(test_geometry);
    RUN(test_failures);
    RUN(test_playlists_refused);
    RUN(test_picture_scale);
    if (!getenv("KEEP")) test_rmtree(dir);
    free(dir);
    CHECK_EXIT();
}
