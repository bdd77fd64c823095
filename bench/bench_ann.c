/* bench_ann: vector index types on N vectors of 512 dimensions (default 1,000,000).
 *
 * Three datasets: video-shaped segment embeddings (make_videos: the statistics of CLIP
 * embeddings of video frames, below), clustered unit vectors (1,000 topics; a vector is
 * its topic plus noise, cosine ~0.75 to it: favours inverted files), and uniformly
 * random unit vectors (no neighbours at all).
 * For each index type and search setting it prints recall@10 against exact search,
 * queries per second with 1 and 2 threads (1,000 queries as one batch, best of 3),
 * build time (2 threads) and bytes per vector (the index's serialised size).
 * For inverted files a second table compares, one query at a time on one thread (the
 * service's pattern), FAISS's own search with vidx's (ann/ivf_search.h): queries/s of
 * both in the same run, their ratio, and vidx's recall. The last lines are one
 * `summary ...` line per index and setting, for scripts.
 *
 * usage: bench_ann [--n N] [--queries Q] [--only video|clustered|random] [--skip-hnsw] [--ivf IVF4096,Flat]
 *                  [--also FACTORY]...   (more inverted files, e.g. --also IVF4096,SQ8 --also IVF4096,PQ64)
 *                  [--compressed FACTORY]... (vidx's compressed index with re-ranking, e.g. IVF4096,PQ64np)
 *                  [--skip flat,ivf] [--stream]  (--stream: generated chunk by chunk, compressed indexes
 *                  only, for N beyond memory: --n 10000000 --stream --compressed IVF8192,PQ128x4fs)
 * (HNSW takes minutes to build at a million vectors on two cores.)
 */
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include <sys/stat.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "../encoder/kernels.h"
#include "../ann/compressed.h"
#include "../ann/ivf_search.h"

#define DIM 512
#define K 10

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Bytes the index holds per vector: the size of its serialised form (codes, labels,
 * centroids, graph), which is what it keeps in memory. (Resident-memory growth, used
 * before, misread indexes built after another was freed: the allocator reuses pages.) */
static double bytes_per_vector(FaissIndex *idx, long n) {
    char path[] = "/tmp/bench_ann_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 0;
    close(fd);
    struct stat st;
    double b = faiss_write_index_fname(idx, path) == 0 && stat(path, &st) == 0 ? (double)st.st_size / (double)n : 0;
    unlink(path);
    return b;
}

static uint64_t rng = 88172645463325252ULL;
static double uniform(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}
static float gauss(void) {
    double u = uniform(), v = uniform();
    if (u < 1e-300) u = 1e-300;
    return (float)(sqrt(-2 * log(u)) * cos(2 * M_PI * v));
}

static void normalize(float *v) {
    double s = 0;
    for (int i = 0; i < DIM; i++) s += (double)v[i] * v[i];
    float inv = (float)(1 / sqrt(s));
    for (int i = 0; i < DIM; i++) v[i] *= inv;
}

static void make(float *x, long n, int clustered, const float *centers) {
    for (long i = 0; i < n; i++) {
        float *v = x + i * DIM;
        if (clustered) {
            const float *c = centers + (rng % 1000) * DIM;
            /* noise norm ~0.9 against a unit centre: cosine to the centre ~0.75 */
            for (int d = 0; d < DIM; d++) v[d] = c[d] + 0.04f * gauss();
        } else {
            for (int d = 0; d < DIM; d++) v[d] = gauss();
        }
        normalize(v);
    }
}

/* ---- video-shaped data ------------------------------------------------------------------
 * Segment embeddings of videos as CLIP gives them, built from independent random
 * directions (nearly orthogonal in 512 dimensions, so the cosine of two vectors is the
 * share of "energy" they have in common):
 *   - every image embedding shares one mean direction: CLIP's image embeddings lie on a
 *     shell around a modality mean, far from the origin (Liang et al. 2022, "Mind the
 *     Gap"; Levi & Gilboa, ICML 2025, "The Double-Ellipsoid Geometry of CLIP", whose
 *     "conformity" is that cosine to the mean): energy 0.45, so unrelated frames have
 *     cosine ~0.45 and no pair is near 0 as with uniform data;
 *   - a topic (1 per ~17 videos): 0.15, so videos of one topic are at ~0.60;
 *   - a video: 0.20, so segments of one video are at ~0.80;
 *   - a shot (5 segments on average, 25 s): 0.12, so neighbouring segments of one shot
 *     are at ~0.92 (the threshold shot-boundary detectors on CLIP features cut at);
 *   - per-segment noise: 0.08.
 * Videos have 60 segments (5-minute videos, 5 s segments). The bench prints the cosines
 * it actually produced, measured on sampled pairs, next to these targets. Queries are
 * segments of videos not in the index, on the same topics: nearest neighbours are
 * then the same topic's videos, as for an image query or "more like this". */
#define VIDEO_SEGMENTS 60
static const float E_MEAN = 0.45f, E_TOPIC = 0.15f, E_VIDEO = 0.20f, E_SHOT = 0.12f, E_NOISE = 0.08f;

static void random_unit(float *v) {
    for (int d = 0; d < DIM; d++) v[d] = gauss();
    normalize(v);
}

typedef struct video_gen {
    float *mean, *topics;
    long n_topics;
} video_gen;

static void video_gen_init(video_gen *g, long n_vectors) {
    g->n_topics = n_vectors / (VIDEO_SEGMENTS * 17);
    if (g->n_topics < 8) g->n_topics = 8;
    g->mean = malloc(DIM * sizeof *g->mean);
    g->topics = malloc((size_t)g->n_topics * DIM * sizeof *g->topics);
    random_unit(g->mean);
    for (long t = 0; t < g->n_topics; t++) random_unit(g->topics + t * DIM);
}

/* n vectors, video after video (VIDEO_SEGMENTS each). */
static void make_videos(const video_gen *g, float *x, long n) {
    float vid[DIM], shot[DIM], noise[DIM];
    const float *topic = g->topics;
    const float a = sqrtf(E_MEAN), b = sqrtf(E_TOPIC), c = sqrtf(E_VIDEO), d = sqrtf(E_SHOT), e = sqrtf(E_NOISE);
    for (long i = 0; i < n; i++) {
        const int seg = (int)(i % VIDEO_SEGMENTS);
        if (seg == 0) {
            topic = g->topics + (long)(uniform() * (double)g->n_topics) * DIM;
            random_unit(vid);
        }
        if (seg == 0 || uniform() < 0.2) random_unit(shot); /* a cut: 5 segments per shot on average */
        random_unit(noise);
        float *v = x + i * DIM;
        for (int k = 0; k < DIM; k++) v[k] = a * g->mean[k] + b * topic[k] + c * vid[k] + d * shot[k] + e * noise[k];
        normalize(v);
    }
}

/* A query made from an indexed segment: another frame of the same moment (its own
 * noise renewed at the per-segment noise level), as an image query or "more like this"
 * asks. Its true neighbours are then graded, not tied: the segment itself, its shot,
 * its video, its topic. (Segments of videos not indexed, used before, have only their
 * topic in common with the index: their top 10 is ~1,000 near-ties at cosine ~0.6,
 * which no approximate index can be expected to order.) */
static void query_from(const float *seg, float *q) {
    float noise[DIM];
    random_unit(noise);
    for (int k = 0; k < DIM; k++) q[k] = sqrtf(1 - E_NOISE) * seg[k] + sqrtf(E_NOISE) * noise[k];
    normalize(q);
}

static float dotf(const float *p, const float *q) {
    double s = 0;
    for (int k = 0; k < DIM; k++) s += (double)p[k] * q[k];
    return (float)s;
}

/* Mean cosines of sampled pairs: unrelated, neighbouring segments, same video. */
static void video_stats(const float *x, long n) {
    double unrelated = 0, next = 0, same = 0;
    int m = 2000;
    for (int i = 0; i < m; i++) {
        long p = (long)(uniform() * (double)(n - 1)), q = (long)(uniform() * (double)(n - 1));
        unrelated += dotf(x + p * DIM, x + q * DIM);
        long v0 = (p / VIDEO_SEGMENTS) * VIDEO_SEGMENTS;
        if (v0 + VIDEO_SEGMENTS > n) v0 = 0;
        long s1 = v0 + (long)(uniform() * (VIDEO_SEGMENTS - 1));
        next += dotf(x + s1 * DIM, x + (s1 + 1) * DIM);
        same += dotf(x + (v0 + (long)(uniform() * VIDEO_SEGMENTS)) * DIM, x + (v0 + (long)(uniform() * VIDEO_SEGMENTS)) * DIM);
    }
    printf("video-shaped data: mean cosine of unrelated segments %.3f (target ~0.45 + topic share), neighbouring "
           "segments %.3f (~0.90: most are in one shot), any two of one video %.3f (~0.80)\n\n",
           unrelated / m, next / m, same / m);
}

static double recall(const idx_t *got, const idx_t *truth, int nq) {
    long hits = 0;
    for (int q = 0; q < nq; q++)
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++)
                if (got[q * K + i] == truth[q * K + j]) { hits++; break; }
    return (double)hits / ((double)nq * K);
}

static char one_at_a_time[4096]; /* rows of the second table */
static char summaries[16384];    /* one machine-readable line per index and setting */

/* "summary index=<factory>[/setting] n= recall@10= qps1= bytes_per_vector= build_s=" (the
 * issue's form), then the data set and any extra fields. */
static void add_summary(const char *index, long n, double r10, double qps1, double bytes, double build,
                        const char *data, const char *extra) {
    const size_t used = strlen(summaries);
    snprintf(summaries + used, sizeof summaries - used,
             "summary index=%s n=%ld recall@10=%.3f qps1=%.0f bytes_per_vector=%.0f build_s=%.1f data=%s%s\n", index, n,
             r10, qps1, bytes, build, data, extra);
}

/* Where run_compressed reads the vectors: an array, or the video generator replayed
 * chunk by chunk (--stream: 10 million vectors are 20 GB, more than this machine
 * should hold beside the index). Chunks are whole videos. */
#define CHUNK (1024L * VIDEO_SEGMENTS)
typedef struct source {
    const float *x;      /* in memory, or NULL */
    const video_gen *g;  /* else generated */
    uint64_t rng0;       /* the generator's state at vector 0 */
    long pos;
} source;

static void source_rewind(source *s) {
    s->pos = 0;
    if (!s->x) rng = s->rng0;
}

/* The next m vectors (m a multiple of VIDEO_SEGMENTS unless it is the last chunk). */
static const float *source_next(source *s, long m, float *buf) {
    const float *r = s->x ? s->x + (size_t)s->pos * DIM : (make_videos(s->g, buf, m), buf);
    s->pos += m;
    return r;
}

/* nt training vectors spread evenly over all n (every n/nt-th), as vidx's indexes sample
 * them: the first nt vectors would be a few whole videos, and k-means trained on them
 * leaves every other video to the few centroids nearest the common mean direction
 * (lists of very uneven length). A copy, in a new array. */
static float *training_sample(source *s, long n, long nt) {
    float *t = malloc((size_t)nt * DIM * sizeof *t), *buf = s->x ? NULL : malloc((size_t)CHUNK * DIM * sizeof *buf);
    if (!t || (!s->x && !buf)) { free(t); free(buf); return NULL; }
    source_rewind(s);
    long next = 0;
    for (long i = 0; i < n && next < nt; i += CHUNK) {
        const long m = n - i < CHUNK ? n - i : CHUNK;
        const float *x = source_next(s, m, buf);
        for (long pos; next < nt && (pos = (long)((double)next * n / nt)) < i + m; next++)
            memcpy(t + (size_t)next * DIM, x + (size_t)(pos - i) * DIM, DIM * sizeof *t);
    }
    free(buf);
    return t;
}

static void run(const char *data, const char *factory, const char *param, const int *values, int n_values,
                const float *x, long n, const float *q, int nq, const idx_t *truth) {
    FaissIndex *idx;
    if (faiss_index_factory(&idx, DIM, factory, METRIC_INNER_PRODUCT)) {
        printf("| %-9s | %-16s | cannot build: %s\n", data, factory, faiss_get_last_error());
        return;
    }
    omp_set_num_threads(2);
    double t0 = now();
    if (!faiss_Index_is_trained(idx)) {
        long nt = n < 100000 ? n : 100000;
        source src = {.x = x};
        float *train = training_sample(&src, n, nt);
        faiss_Index_train(idx, nt, train);
        free(train);
    }
    faiss_Index_add(idx, n, x);
    double build = now() - t0, mem = bytes_per_vector(idx, n);
    float *d = malloc((size_t)nq * K * sizeof *d);
    idx_t *l = malloc((size_t)nq * K * sizeof *l);
    FaissParameterSpace *ps = NULL;
    faiss_ParameterSpace_new(&ps);
    for (int v = 0; v < (n_values ? n_values : 1); v++) {
        char setting[64] = "-";
        if (n_values) {
            faiss_ParameterSpace_set_index_parameter(ps, idx, param, values[v]);
            snprintf(setting, sizeof setting, "%s=%d", param, values[v]);
        }
        double qps[2];
        for (int th = 1; th <= 2; th++) {
            omp_set_num_threads(th);
            double best = 1e30;
            for (int rep = 0; rep < 3; rep++) { /* best of 3: the machine is shared */
                double s = now();
                faiss_Index_search(idx, nq, q, K, d, l);
                double t = now() - s;
                best = t < best ? t : best;
            }
            qps[th - 1] = nq / best;
        }
        const double r10 = truth ? recall(l, truth, nq) : 1.0;
        printf("| %-9s | %-16s | %-12s | %6.3f | %9.0f | %9.0f | %8.1f s | %7.0f B |\n", data, factory, setting,
               r10, qps[0], qps[1], build, mem);
        char index[160];
        snprintf(index, sizeof index, "%s%s%s", factory, n_values ? "/" : "", n_values ? setting : "");
        add_summary(index, n, r10, qps[0], mem, build, data, "");
        fflush(stdout);
        FaissIndexIVF *ivf = faiss_IndexIVF_cast(idx);
        if (ivf && truth) {
            omp_set_num_threads(1);
            double best[2] = {1e30, 1e30};
            int applies = 1;
            for (int rep = 0; rep < 3 && applies; rep++)
                for (int who = 0; who < 2 && applies; who++) {
                    double s0 = now();
                    for (int i = 0; i < nq && applies; i++) {
                        if (who == 0) {
                            faiss_Index_search(idx, 1, q + (size_t)i * DIM, K, d + i * K, l + i * K);
                        } else {
                            vx_error err;
                            int found = vx_ivf_search(ivf, q + (size_t)i * DIM, K, l + i * K, d + i * K, &err);
                            if (found == -2) applies = 0;
                            for (int j = found < 0 ? 0 : found; j < K; j++) l[i * K + j] = -1;
                        }
                    }
                    double t = now() - s0;
                    best[who] = t < best[who] ? t : best[who];
                }
            if (applies)
                snprintf(one_at_a_time + strlen(one_at_a_time), sizeof one_at_a_time - strlen(one_at_a_time),
                         "| %-9s | %-16s | %-12s | %9.0f | %9.0f | %5.2f | %9.3f |\n", data, factory, setting,
                         nq / best[0], nq / best[1], best[0] / best[1], recall(l, truth, nq));
        }
    }
    faiss_ParameterSpace_free(ps);
    free(d);
    free(l);
    faiss_Index_free(idx);
}

/* vidx's compressed index (ann/compressed.h): PQ or SQ codes in an inverted file, the
 * candidates re-ranked with the full vectors from a memory-mapped file. One query at a
 * time on one thread, as the service asks; bytes per vector are what it keeps in RAM
 * (codes, ids, labels, label table); the vectors themselves are on disk. */
static void run_compressed(const char *data, const char *factory, source *src, long n, const float *q, int nq,
                           const idx_t *truth) {
    char path[] = "/tmp/bench_ann_cindex_XXXXXX";
    if (!mkdtemp(path)) return;
    char base[64];
    snprintf(base, sizeof base, "%s/segments", path);
    omp_set_num_threads(2);
    vx_error err;
    const double t0 = now();
    /* Training vectors: 100,000, or 40 a list for big inverted files (FAISS's advice). */
    long lists = factory[0] == 'I' && factory[1] == 'V' && factory[2] == 'F' ? atol(factory + 3) : 0;
    long nt = 40 * lists > 100000 ? 40 * lists : 100000;
    if (nt > n) nt = n;
    float *train = training_sample(src, n, nt);
    vx_cindex *c = train ? vx_cindex_create(base, DIM, factory, train, nt, &err) : NULL;
    free(train);
    float *buf = src->x ? NULL : malloc((size_t)CHUNK * DIM * sizeof *buf);
    if (!c) {
        printf("| %-9s | %-16s | cannot build: %s\n", data, factory, err.msg);
        free(buf);
        return;
    }
    source_rewind(src);
    uint64_t *labels = malloc(CHUNK * sizeof *labels);
    for (long i = 0; i < n; i += CHUNK) {
        long m = n - i < CHUNK ? n - i : CHUNK;
        const float *x = source_next(src, m, buf);
        for (long j = 0; j < m; j++) labels[j] = (uint64_t)(i + j + 1);
        if (vx_cindex_add(c, m, x, labels, &err)) { printf("add: %s\n", err.msg); break; }
    }
    vx_cindex_save(c, &err);
    const double build = now() - t0, bytes = vx_cindex_ram_bytes(c) / (double)n;
    free(labels);
    free(buf);
    omp_set_num_threads(1);
    static const int probes[] = {8, 16, 32}, cands[] = {50, 100, 200, 400};
    uint64_t got[K];
    float sc[K];
    idx_t *l = malloc((size_t)nq * K * sizeof *l);
    for (int p = 0; p < 3; p++)
        for (int ci = 0; ci < 4; ci++) {
            vx_cindex_set_nprobe(c, probes[p]);
            double best = 1e30;
            for (int rep = 0; rep < 2; rep++) {
                double s0 = now();
                for (int i = 0; i < nq; i++) {
                    int f = vx_cindex_search(c, q + (size_t)i * DIM, K, cands[ci], got, sc, &err);
                    for (int j = 0; j < K; j++) l[i * K + j] = j < f ? (idx_t)got[j] - 1 : -1;
                }
                double t = now() - s0;
                best = t < best ? t : best;
            }
            char setting[64];
            snprintf(setting, sizeof setting, "nprobe=%d,rerank=%d", probes[p], cands[ci]);
            const double r10 = recall(l, truth, nq);
            printf("| %-9s | %-16s | %-12s | %6.3f | %9.0f | %9s | %8.1f s | %7.0f B |\n", data, factory, setting, r10,
                   nq / best, "-", build, bytes);
            char index[160], disk[64];
            snprintf(index, sizeof index, "vidx:%s/%s", factory, setting);
            snprintf(disk, sizeof disk, " disk_bytes_per_vector=%d", DIM * 4 + 8); /* the re-ranking vectors */
            add_summary(index, n, r10, nq / best, bytes, build, data, disk);
            fflush(stdout);
        }
    free(l);
    vx_cindex_free(c);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", path);
    if (system(cmd)) {}
}

/* --stream: video-shaped vectors never held whole; exact ground truth by scanning them
 * chunk by chunk with FAISS's flat search; then the compressed indexes. */
static int run_stream(long n, int nq, const char *const *compressed, int n_compressed) {
    float *q = malloc((size_t)nq * DIM * sizeof *q), *buf = malloc((size_t)CHUNK * DIM * sizeof *buf);
    idx_t *truth = malloc((size_t)nq * K * sizeof *truth), *l = malloc((size_t)nq * K * sizeof *l);
    float *best = malloc((size_t)nq * K * sizeof *best), *d = malloc((size_t)nq * K * sizeof *d);
    if (!q || !buf || !truth || !l || !best || !d) { fprintf(stderr, "out of memory\n"); return 1; }
    video_gen g;
    video_gen_init(&g, n);
    source src = {.g = &g, .rng0 = rng};
    /* Queries from segments spread over the whole stream (a first pass), query_from. */
    source_rewind(&src);
    for (long i = 0, next = 0; i < n && next < nq; i += CHUNK) {
        long m = n - i < CHUNK ? n - i : CHUNK;
        const float *x = source_next(&src, m, buf);
        for (; next < nq && (long)((double)next * n / nq) < i + m; next++) {
            const uint64_t keep = rng; /* the stream itself must not move: the query's noise has its own seed */
            rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(next + 1);
            query_from(x + (size_t)((long)((double)next * n / nq) - i) * DIM, q + (size_t)next * DIM);
            rng = keep;
        }
    }
    rng = src.rng0;
    printf("vidx vector index benchmark, streamed: %ld video-shaped vectors x %d dims, %d queries, top %d\n\n", n, DIM,
           nq, K);
    const double t0 = now();
    for (long i = 0; i < (long)nq * K; i++) { best[i] = -1e30f; truth[i] = -1; }
    omp_set_num_threads(2);
    source_rewind(&src);
    for (long i = 0; i < n; i += CHUNK) {
        long m = n - i < CHUNK ? n - i : CHUNK;
        const float *x = source_next(&src, m, buf);
        if (i == 0) { /* its sampling draws from the generator: put its state back */
            const uint64_t keep = rng;
            video_stats(x, m);
            rng = keep;
        }
        FaissIndex *flat;
        faiss_index_factory(&flat, DIM, "Flat", METRIC_INNER_PRODUCT);
        faiss_Index_add(flat, m, x);
        faiss_Index_search(flat, nq, q, K, d, l);
        faiss_Index_free(flat);
        for (int qi = 0; qi < nq; qi++) /* merge into the running top K */
            for (int j = 0; j < K; j++) {
                const float s = d[qi * K + j];
                float *b = best + (size_t)qi * K;
                idx_t *t = truth + (size_t)qi * K;
                if (l[qi * K + j] < 0 || s <= b[K - 1]) continue;
                int p = K - 1;
                while (p > 0 && b[p - 1] < s) { b[p] = b[p - 1]; t[p] = t[p - 1]; p--; }
                b[p] = s;
                t[p] = i + l[qi * K + j];
            }
    }
    printf("exact ground truth over %ld vectors: %.0f s\n\n", n, now() - t0);
    printf("| data      | index            | setting      | R@10   | qps 1 thr | qps 2 thr | build      | mem/vec   |\n");
    printf("|-----------|------------------|--------------|--------|-----------|-----------|------------|-----------|\n");
    for (int e = 0; e < n_compressed; e++) run_compressed("video", compressed[e], &src, n, q, nq, truth);
    fputs(summaries, stdout);
    free(q); free(buf); free(truth); free(l); free(best); free(d);
    free(g.mean);
    free(g.topics);
    return 0;
}

int main(int argc, char **argv) {
    vx_kernels_tune(argv); /* as vidx itself runs: encoder/kernels.h */
    bench_print_machine(stdout);
    long n = 1000000;
    int nq = 1000;
    const char *only = NULL, *ivf = "IVF4096,Flat";
    int skip_hnsw = 0;
    const char *skip = "";
    int stream = 0, center = 0;
    const char *extra[8], *compressed[8];
    int n_extra = 0, n_compressed = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--skip-hnsw")) skip_hnsw = 1;
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--n")) n = atol(argv[++i]);
        else if (!strcmp(argv[i], "--queries")) nq = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only")) only = argv[++i];
        else if (!strcmp(argv[i], "--ivf")) ivf = argv[++i];
        else if (!strcmp(argv[i], "--also") && n_extra < 8) extra[n_extra++] = argv[++i];
        else if (!strcmp(argv[i], "--compressed") && n_compressed < 8) compressed[n_compressed++] = argv[++i];
        else if (!strcmp(argv[i], "--skip")) skip = argv[++i];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--stream")) stream = 1;
        if (!strcmp(argv[i], "--center")) center = 1;
    }
    }
    if (stream) return run_stream(n, nq, (const char *const *)compressed, n_compressed);
    float *x = malloc((size_t)n * DIM * sizeof *x), *q = malloc((size_t)nq * DIM * sizeof *q);
    float *centers = malloc((size_t)1000 * DIM * sizeof *centers);
    idx_t *truth = malloc((size_t)nq * K * sizeof *truth);
    float *td = malloc((size_t)nq * K * sizeof *td);
    if (!x || !q || !centers || !truth || !td) { fprintf(stderr, "out of memory\n"); return 1; }
    printf("vidx vector index benchmark: %ld vectors x %d dims, %d queries, top %d, inner product\n\n", n, DIM, nq, K);
    printf("| data      | index            | setting      | R@10   | qps 1 thr | qps 2 thr | build      | mem/vec   |\n");
    printf("|-----------|------------------|--------------|--------|-----------|-----------|------------|-----------|\n");
    static const int ef[] = {16, 32, 64, 128}, probe[] = {4, 8, 16, 32, 64};
    static const char *const datasets[] = {"video", "clustered", "random"};
    for (int ds = 0; ds < 3; ds++) {
        const char *name = datasets[ds];
        if (only && strcmp(only, name)) continue;
        if (ds == 0) {
            video_gen g;
            video_gen_init(&g, n);
            make_videos(&g, x, n);
            for (int i = 0; i < nq; i++) query_from(x + (size_t)((long)(uniform() * (double)(n - 1))) * DIM, q + (size_t)i * DIM);
            video_stats(x, n);
            free(g.mean);
            free(g.topics);
        } else {
            for (int c = 0; c < 1000; c++) {
                for (int d = 0; d < DIM; d++) centers[c * DIM + d] = gauss();
                normalize(centers + c * DIM);
            }
            make(x, n, ds == 1, centers);
            make(q, nq, ds == 1, centers);
        }
        /* Ground truth: exact search. */
        FaissIndex *flat;
        faiss_index_factory(&flat, DIM, "Flat", METRIC_INNER_PRODUCT);
        faiss_Index_add(flat, n, x);
        omp_set_num_threads(2);
        faiss_Index_search(flat, nq, q, K, td, truth);
        faiss_Index_free(flat);
        if (center) { /* x - mean: inner products with any query shift by a constant, the ranking stays */
            double *mean = calloc(DIM, sizeof *mean);
            for (long i = 0; i < n; i++)
                for (int d = 0; d < DIM; d++) mean[d] += x[i * DIM + d];
            for (long i = 0; i < n; i++)
                for (int d = 0; d < DIM; d++) x[i * DIM + d] -= (float)(mean[d] / (double)n);
            free(mean);
            printf("database vectors centred (their mean subtracted)\n");
        }
        if (!strstr(skip, "flat")) run(name, "Flat", NULL, NULL, 0, x, n, q, nq, NULL);
        if (!skip_hnsw) run(name, "HNSW32", "efSearch", ef, 4, x, n, q, nq, truth);
        if (!strstr(skip, "ivf")) run(name, ivf, "nprobe", probe, 5, x, n, q, nq, truth);
        for (int e = 0; e < n_extra; e++) run(name, extra[e], "nprobe", probe, 5, x, n, q, nq, truth);
        source src = {.x = x};
        for (int e = 0; e < n_compressed; e++) run_compressed(name, compressed[e], &src, n, q, nq, truth);
        if (one_at_a_time[0]) {
            printf("\none query at a time, one thread: FAISS's search and vidx's (AVX2 list scan)\n\n"
                   "| data      | index            | setting      | FAISS q/s | vidx q/s  | ratio | vidx R@10 |\n"
                   "|-----------|------------------|--------------|-----------|-----------|-------|-----------|\n%s\n",
                   one_at_a_time);
            one_at_a_time[0] = '\0';
        }
        printf("\n");
    }
    fputs(summaries, stdout);
    free(x); free(q); free(centers); free(truth); free(td);
    return 0;
}
