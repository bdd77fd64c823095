/* bench_indexer: indexing speed on real videos with ViT-B/32-shaped weights.
 *
 * 1. Decoding alone over every video (sampling at the given rate), with frame skipping
 *    (non-reference frames dropped, keyframe seeks across gaps) off and on: frames
 *    decoded and time, so the saving is measured in the same run.
 * 2. Full `vidx index` runs into fresh databases, per encoder precision and with the
 *    reuse of unchanged frames off and on: frames sampled and encoded, seconds of video
 *    indexed per wall-clock second (and against FP32 encoding every frame, how vidx
 *    indexed before), the decoding thread's CPU time and the encoder's share of the
 *    busy time.
 *
 * usage: bench_indexer MODEL_DIR VIDEO_DIR [--rate FPS]
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "../common/log.h"
#include "../common/system.h"
#include "../common/vecmath.h"
#include "../encoder/kernels.h"
#include "../engine/engine.h"
#include "../indexer/index.h"

static char *files[1024];
static int n_files;

static int collect(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)ftw;
    const char *dot = strrchr(path, '.');
    if (flag == FTW_F && n_files < 1024 && dot &&
        (!strcmp(dot, ".mp4") || !strcmp(dot, ".mkv") || !strcmp(dot, ".webm") || !strcmp(dot, ".gif")))
        files[n_files++] = strdup(path);
    return 0;
}

static int count_frame(void *ctx, const vx_rgb_image *f, double t) {
    (void)f;
    (void)t;
    (*(long *)ctx)++;
    return 0;
}

static void decode_pass(const char *label, const vx_sample_options *o) {
    long decoded = 0, sampled = 0, seeks = 0;
    double seconds = 0, t0 = vx_now();
    for (int i = 0; i < n_files; i++) {
        vx_sample_stats st;
        vx_video_info info;
        vx_error err;
        long n = 0;
        if (vx_sample_video(files[i], o, &info, count_frame, &n, &st, &err) == 0) {
            decoded += st.decoded;
            sampled += st.sampled;
            seeks += st.seeks;
            seconds += info.duration;
        }
    }
    double t = vx_now() - t0;
    printf("| %-34s | %8ld | %7ld | %5ld | %7.2f s | %7.1f x |\n", label, decoded, sampled, seeks, t, seconds / t);
}

int main(int argc, char **argv) {
    vx_kernels_tune(argv); /* as vidx itself runs */
    bench_print_machine(stdout);
    if (argc < 3) {
        fprintf(stderr, "usage: bench_indexer MODEL_DIR VIDEO_DIR [--rate FPS]\n");
        return 2;
    }
    double rate = 1.0;
    for (int i = 3; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--rate")) rate = atof(argv[++i]);
    vx_log_threshold = VX_LOG_WARN;
    nftw(argv[2], collect, 16, FTW_PHYS);
    vx_error err;
    printf("vidx indexer benchmark: %d videos in %s, %.2f frames/s sampled, model %s\n\n", n_files, argv[2], rate, argv[1]);
    printf("| %-34s | decoded  | sampled | seeks | time      | realtime  |\n", "decoding only (no encoder)");
    printf("|------------------------------------|----------|---------|-------|-----------|-----------|\n");
    vx_sample_options o;
    vx_sample_options_default(&o);
    o.rate = rate;
    vx_sample_options plain = o;
    plain.skip_nonref = 0;
    plain.seek_gap = 0;
    decode_pass("every frame decoded", &plain);
    decode_pass("skip non-reference + seek", &o);
    /* Sparse sampling (long videos hit the frame cap): seeking is what pays there. */
    vx_sample_options sparse = o, sparse_plain = plain;
    sparse.rate = sparse_plain.rate = rate / 10;
    sparse.seek_gap = 2.0;
    decode_pass("every frame, 1/10 the rate", &sparse_plain);
    decode_pass("skip + seek, 1/10 the rate", &sparse);

    /* The whole path a user's `vidx index` takes (the engine applies what the indexer
     * makes), per encoder precision and with frame reuse off and on, each into a fresh
     * database; the first row (FP32, every frame) is how vidx indexed before both. */
    printf("\n| %-30s | sampled | encoded | share  | video s/s | x     | decode CPU | encoder busy | frames/s |\n",
           "full index run");
    printf("|--------------------------------|---------|---------|--------|-----------|-------|------------|--------------|----------|\n");
    static const struct { vx_precision p; int reuse; } runs[] = {{VX_PRECISION_F32, 0}, {VX_PRECISION_F32, 1},
                                                                  {VX_PRECISION_BF16, 0}, {VX_PRECISION_BF16, 1},
                                                                  {VX_PRECISION_INT8, 1}};
    double base = 0;
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        if (vx_precision_check(runs[r].p, &err)) continue;
        char dir[] = "/tmp/vidx-bench-XXXXXX";
        if (!mkdtemp(dir)) return 1;
        vx_engine_options eo;
        vx_engine_options_default(&eo);
        eo.data_dir = dir;
        eo.model_dir = argv[1];
        eo.create = 1;
        eo.model = VX_MODEL_REQUIRE;
        eo.precision = runs[r].p;
        eo.index.sample = o;
        eo.index.reuse_frames = runs[r].reuse;
        vx_engine *engine = vx_engine_open(&eo, &err);
        if (!engine) {
            fprintf(stderr, "bench_indexer: %s\n", err.msg);
            return 1;
        }
        vx_index_summary s;
        const char *paths[1] = {argv[2]};
        if (vx_engine_index(engine, paths, 1, &s, &err)) {
            fprintf(stderr, "bench_indexer: %s\n", err.msg);
            return 1;
        }
        const double speed = s.video_seconds / s.wall_seconds;
        if (r == 0) base = speed;
        char label[64];
        snprintf(label, sizeof label, "%s, %s", vx_precision_name(runs[r].p),
                 runs[r].reuse ? "unchanged frames reused" : "every frame encoded");
        const double busy = s.decode_seconds + s.encode_seconds;
        printf("| %-30s | %7ld | %7ld | %5.1f%% | %9.1f | %4.2fx | %8.1f s | %10.1f%% | %8.1f |\n", label,
               s.frames_sampled, s.frames, 100.0 * (double)s.frames / (double)s.frames_sampled, speed,
               base > 0 ? speed / base : 0, s.decode_cpu_seconds, 100 * s.encode_seconds / busy,
               s.frames / s.encode_seconds);
        vx_index_summary_clear(&s);
        vx_engine_close(engine);
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return 0;
}
