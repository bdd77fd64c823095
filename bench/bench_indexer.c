/* bench_indexer: indexing speed on real videos with ViT-B/32-shaped weights.
 *
 * 1. Decoding alone over every video (sampling at the given rate), with frame skipping
 *    (non-reference frames dropped, keyframe seeks across gaps) off and on: frames
 *    decoded and time, so the saving is measured in the same run.
 * 2. A full `vidx index` run into a fresh database: seconds of video indexed per
 *    wall-clock second, and the busy time of the decoding thread (decode, convert,
 *    resize, thumbnails) against the encoder's, as a share of the total.
 *
 * usage: bench_indexer MODEL_DIR VIDEO_DIR [--rate FPS]
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/vecmath.h"
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
    vx_clip *m = vx_clip_load(argv[1], &err);
    if (!m) {
        fprintf(stderr, "bench_indexer: %s\n", err.msg);
        return 1;
    }
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

    char dir[] = "/tmp/vidx-bench-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    /* The whole path a user's `vidx index` takes: the engine applies what the indexer makes. */
    vx_engine_options eo;
    vx_engine_options_default(&eo);
    eo.data_dir = dir;
    eo.model_dir = argv[1];
    eo.create = 1;
    eo.model = VX_MODEL_REQUIRE;
    eo.index.sample = o;
    vx_engine *engine = vx_engine_open(&eo, &err);
    if (!engine) {
        fprintf(stderr, "bench_indexer: %s\n", err.msg);
        return 1;
    }
    vx_index_summary s;
    const char *paths[1] = {argv[2]};
    struct timespec ts0;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts0);
    const double cpu0 = (double)ts0.tv_sec + (double)ts0.tv_nsec * 1e-9;
    if (vx_engine_index(engine, paths, 1, &s, &err)) {
        fprintf(stderr, "bench_indexer: %s\n", err.msg);
        return 1;
    }
    double busy = s.decode_seconds + s.encode_seconds;
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    double process_cpu = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 - cpu0;
    double encode_cpu = process_cpu - s.decode_cpu_seconds;
    printf("\nfull index run: %d videos, %ld frames, %.1f s of video in %.1f s wall: %.1f s of video per second\n",
           s.indexed, s.frames, s.video_seconds, s.wall_seconds, s.video_seconds / s.wall_seconds);
    printf("  CPU time: decoding %.1f s (%.1f%%), encoding and the rest %.1f s (%.1f%%)\n", s.decode_cpu_seconds,
           100 * s.decode_cpu_seconds / process_cpu, encode_cpu, 100 * encode_cpu / process_cpu);
    printf("  wall time busy: decoding thread %.1f s (%.1f%%), encoder %.1f s (%.1f%%), %.1f frames/s encoded\n",
           s.decode_seconds, 100 * s.decode_seconds / busy, s.encode_seconds, 100 * s.encode_seconds / busy,
           s.frames / s.encode_seconds);
    vx_index_summary_clear(&s);
    vx_engine_close(engine);
    vx_clip_free(m);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}
