/* Change-aware sampling (indexer/change.h): frames nearly identical to the last one
 * encoded reuse its embedding.
 *
 * - The frame test on made-up pictures: sensor noise is the same picture; a cut, a
 *   brightness change and a small local change (a caption, a box in a corner) are not.
 * - The shared clips indexed twice through the engine, encoding every sampled frame and
 *   reusing unchanged ones, with a ViT-B/32-shaped model: every segment embedding and
 *   every video embedding within cosine 0.999, and fewer frames encoded.
 *
 * Environment: VIDX_SHARED_DATA, VIDX_TEST_MODELS (as test_encoder). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/vecmath.h"
#include "../engine/engine.h"
#include "../indexer/change.h"
#include "../schemas/catalog.h"
#include "check.h"

static char shared[4096], models[4096];

static uint32_t rng = 777;
static int rand_level(int spread) { /* uniform in [-spread, spread] */
    rng = rng * 1664525u + 1013904223u;
    return (int)((rng >> 8) % (uint32_t)(2 * spread + 1)) - spread;
}

static vx_rgb_image make_picture(int w, int h) {
    vx_rgb_image img = {.width = w, .height = h, .stride = 3 * w};
    img.data = malloc((size_t)3 * w * h);
    /* A smooth scene: horizontal and vertical gradients per channel. */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img.data + (size_t)y * img.stride + 3 * x;
            p[0] = (uint8_t)(40 + 150 * x / w);
            p[1] = (uint8_t)(60 + 120 * y / h);
            p[2] = (uint8_t)(90 + 60 * (x + y) / (w + h));
        }
    return img;
}

static vx_rgb_image copy_picture(const vx_rgb_image *a) {
    vx_rgb_image b = *a;
    b.data = malloc((size_t)a->stride * a->height);
    memcpy(b.data, a->data, (size_t)a->stride * a->height);
    return b;
}

static int same_picture(const vx_rgb_image *a, const vx_rgb_image *b) {
    vx_frame_sig sa, sb;
    vx_frame_signature(a, &sa);
    vx_frame_signature(b, &sb);
    return vx_frame_same(&sa, &sb);
}

static void test_frame_test(void) {
    vx_rgb_image a = make_picture(298, 224);
    CHECK(same_picture(&a, &a));
    /* Sensor or compression noise of a few levels per pixel: the same picture. */
    vx_rgb_image noisy = copy_picture(&a);
    for (int i = 0; i < noisy.stride * noisy.height; i++) {
        int v = noisy.data[i] + rand_level(4);
        noisy.data[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    CHECK(same_picture(&a, &noisy));
    /* A caption-sized box in a corner: few cells, but much. */
    vx_rgb_image box = copy_picture(&a);
    for (int y = 190; y < 215; y++)
        for (int x = 10; x < 60; x++) memset(box.data + (size_t)y * box.stride + 3 * x, 255, 3);
    CHECK(!same_picture(&a, &box));
    /* Lights going up a little everywhere. */
    vx_rgb_image bright = copy_picture(&a);
    for (int i = 0; i < bright.stride * bright.height; i++) bright.data[i] = (uint8_t)(bright.data[i] + 6);
    CHECK(!same_picture(&a, &bright));
    /* A cut: another scene (mirrored). */
    vx_rgb_image cut = copy_picture(&a);
    for (int y = 0; y < cut.height; y++)
        for (int x = 0; x < cut.width; x++)
            memcpy(cut.data + (size_t)y * cut.stride + 3 * x, a.data + (size_t)(a.height - 1 - y) * a.stride +
                                                                3 * (a.width - 1 - x), 3);
    CHECK(!same_picture(&a, &cut));
    /* Tiny pictures (fewer pixels than cells) still get a signature. */
    vx_rgb_image tiny = make_picture(5, 3);
    vx_frame_sig s;
    vx_frame_signature(&tiny, &s);
    CHECK(vx_frame_same(&s, &s));
    vx_rgb_image *all[] = {&a, &noisy, &box, &bright, &cut, &tiny};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]->data);
}

/* ---- the shared clips ------------------------------------------------------------------ */

typedef struct indexed {
    char *dir;
    vx_index_summary sum;
} indexed;

static int index_path(const char *tag, int reuse, const char *videos, indexed *out) {
    char model[4200];
    snprintf(model, sizeof model, "%s/b32-f16", models);
    out->dir = test_tmpdir(tag);
    vx_engine_options o;
    vx_engine_options_default(&o);
    o.data_dir = out->dir;
    o.model_dir = model;
    o.create = 1;
    o.model = VX_MODEL_REQUIRE;
    o.index.reuse_frames = reuse;
    vx_error err;
    vx_engine *e = vx_engine_open(&o, &err);
    if (!e) {
        fprintf(stderr, "open: %s\n", err.msg);
        return -1;
    }
    const char *paths[1] = {videos};
    int rc = vx_engine_index(e, paths, 1, &out->sum, &err);
    if (rc) fprintf(stderr, "index: %s\n", err.msg);
    vx_engine_close(e);
    return rc;
}

typedef struct compare {
    vx_catalog *other;
    int segments;
    float lowest, sum;
    float lowest_video;
    int missing;
} compare;

static int compare_segment(void *ctx, uint64_t id, uint32_t index, const vx_segment *s) {
    compare *c = ctx;
    vx_segment o;
    vx_error err;
    if (vx_catalog_get_segment(c->other, id, index, &o, &err) != 0) {
        c->missing++;
        return 0;
    }
    const float cos = vx_dot(s->embedding, o.embedding, s->dim);
    c->lowest = cos < c->lowest ? cos : c->lowest;
    c->sum += cos;
    c->segments++;
    vx_segment_clear(&o);
    return 0;
}

typedef struct video_walk {
    vx_catalog *cat;
    compare *c;
} video_walk;

static int compare_video(void *ctx, const vx_video *v) {
    video_walk *w = ctx;
    vx_error err;
    vx_embedding a, b;
    if (vx_catalog_scan_segments(w->cat, v->id, compare_segment, w->c, NULL, &err)) w->c->missing++;
    if (vx_catalog_get_embedding(w->cat, v->id, &a, &err) == 0) {
        if (vx_catalog_get_embedding(w->c->other, v->id, &b, &err) == 0) {
            const float cos = vx_dot(a.v, b.v, a.dim);
            w->c->lowest_video = cos < w->c->lowest_video ? cos : w->c->lowest_video;
            vx_embedding_clear(&b);
        } else
            w->c->missing++;
        vx_embedding_clear(&a);
    }
    return 0;
}

/* Indexes `videos` encoding every frame and reusing unchanged ones; compares. *share_out:
 * the share of sampled frames encoded. */
static void compare_runs(const char *videos, int min_segments, double *share_out) {
    indexed all = {0}, reused = {0};
    REQUIRE(index_path("reuse-all", 0, videos, &all) == 0);
    REQUIRE(index_path("reuse-on", 1, videos, &reused) == 0);
    CHECK(all.sum.failed == 0 && reused.sum.failed == 0 && all.sum.indexed == reused.sum.indexed);
    CHECK(all.sum.frames == all.sum.frames_sampled);
    CHECK(reused.sum.frames_sampled == all.sum.frames_sampled);
    CHECK(reused.sum.frames < reused.sum.frames_sampled);
    vx_error err;
    vx_catalog *a = vx_catalog_open(all.dir, 0, &err), *b = vx_catalog_open(reused.dir, 0, &err);
    REQUIRE(a && b);
    compare c = {.other = b, .lowest = 2, .lowest_video = 2};
    video_walk w = {a, &c};
    CHECK(vx_catalog_scan_videos(a, compare_video, &w, NULL, &err) == 0);
    fprintf(stderr,
            "  %d videos: %ld frames sampled, %ld encoded (%.1f%%); %d segments: cosine to encoding every frame "
            "min %.6f mean %.6f; videos min %.6f\n",
            all.sum.indexed, reused.sum.frames_sampled, reused.sum.frames,
            100.0 * (double)reused.sum.frames / (double)reused.sum.frames_sampled, c.segments, (double)c.lowest,
            (double)(c.sum / (c.segments ? c.segments : 1)), (double)c.lowest_video);
    CHECK(c.missing == 0 && c.segments >= min_segments);
    CHECK(c.lowest >= 0.999f && c.lowest_video >= 0.999f);
    *share_out = (double)reused.sum.frames / (double)reused.sum.frames_sampled;
    vx_catalog_close(a);
    vx_catalog_close(b);
    vx_index_summary_clear(&all.sum);
    vx_index_summary_clear(&reused.sum);
    free(all.dir);
    free(reused.dir);
}

static void test_shared_clips(void) {
    char videos[4200];
    snprintf(videos, sizeof videos, "%s/videos", shared);
    double share;
    compare_runs(videos, 70, &share);
}

/* Slides: four still pictures, 8 s each, through H.264 (its noise only). */
static void test_slides(void) {
    char *dir = test_tmpdir("slides"), cmd[8192], clip[4200];
    snprintf(clip, sizeof clip, "%s/slides.mp4", dir);
    snprintf(cmd, sizeof cmd,
             "ffmpeg -v error -y -f lavfi -i smptebars=size=640x360:rate=25:duration=8 -f lavfi -i "
             "pal75bars=size=640x360:rate=25:duration=8 -f lavfi -i rgbtestsrc=size=640x360:rate=25:duration=8 "
             "-f lavfi -i yuvtestsrc=size=640x360:rate=25:duration=8 -filter_complex "
             "'[0][1][2][3]concat=n=4:v=1:a=0,format=yuv420p' -c:v libx264 -preset veryfast -crf 28 '%s'",
             clip);
    REQUIRE(system(cmd) == 0);
    double share;
    compare_runs(clip, 7, &share);
    /* 32 frames sampled: the first of each slide, and little else. */
    CHECK_MSG(share <= 0.25, "%.0f%% of the slides' frames encoded", 100 * share);
    char rm[4300];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    CHECK(system(rm) == 0);
    free(dir);
}

int main(void) {
    const char *s = getenv("VIDX_SHARED_DATA"), *g = getenv("VIDX_TEST_MODELS");
    snprintf(shared, sizeof shared, "%s", s && *s ? s : "../shared/data");
    snprintf(models, sizeof models, "%s", g && *g ? g : "test-models");
    RUN(test_frame_test);
    RUN(test_shared_clips);
    RUN(test_slides);
    CHECK_EXIT();
}
