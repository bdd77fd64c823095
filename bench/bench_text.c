/* Text search benchmarks (issue 18). Prints its figures; never a timed test.
 *
 *   bench_text SHARED_DATA [--videos N] [--cues C] [--cache DIR]
 *
 * 1. Lexical retrieval on real captions (bench/text_eval.md has the protocol): MSVD's
 *    670 test clips, some captions of each as its description, the others held out as
 *    queries; R@1/5/10 and median rank; then with MSR-VTT's 1,000 test captions added as
 *    the descriptions of 1,000 more clips (distractors).
 * 2. Fusion: reciprocal-rank fusion of the lexical ranking with simulated visual rankings
 *    of four qualities, for a grid of fusion_k and text weights; the pair kept is the one
 *    whose worst case against the better single ranking is best.
 * 3. Lexical query latency at N videos x C cues (default 100,000 x 50; a video's cues are
 *    real captions of one MSVD clip: its words are about one thing), the index built once
 *    into the cache folder.
 * 4. The text sources' cost at indexing: reading every source of the shared videos
 *    beside sampling their frames (1 per second), in the same run.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "../encoder/kernels.h"
#include "../common/system.h"
#include "../common/vecmath.h"
#include "../indexer/decode.h"
#include "../indexer/text_sources.h"
#include "../schemas/records.h"
#include "../text/lexical.h"

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ---- the captions ------------------------------------------------------------------------ */

typedef struct clip {
    char **captions;
    int n;
} clip;

static clip *read_msvd(const char *path, int *n_out) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    clip *clips = NULL;
    int n = 0, cap = 0;
    char *line = NULL;
    size_t line_cap = 0;
    while (getline(&line, &line_cap, f) > 0) {
        char *tab = strchr(line, '\t');
        if (tab) *tab = '\0';
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            clips = realloc(clips, (size_t)cap * sizeof *clips);
        }
        clip *c = &clips[n++];
        memset(c, 0, sizeof *c);
        for (char *p = line, *next; p && *p; p = next) {
            next = strstr(p, ", ");
            if (next) { *next = '\0'; next += 2; }
            while (*p == ' ') p++;
            if (!*p) continue;
            c->captions = realloc(c->captions, (size_t)(c->n + 1) * sizeof *c->captions);
            c->captions[c->n++] = strdup(p);
        }
    }
    free(line);
    fclose(f);
    *n_out = n;
    return clips;
}

/* MSR-VTT 1k-A test: key;vid_key;video_id;sentence */
static char **read_msrvtt(const char *path, int *n_out) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char **out = NULL, *line = NULL;
    size_t line_cap = 0;
    int n = 0;
    while (getline(&line, &line_cap, f) > 0) {
        char *s = line;
        for (int k = 0; k < 3 && s; k++) s = strchr(s, ';') ? strchr(s, ';') + 1 : NULL;
        if (!s || !strncmp(line, "key;", 4)) continue;
        s[strcspn(s, "\r\n")] = '\0';
        out = realloc(out, (size_t)(n + 1) * sizeof *out);
        out[n++] = strdup(s);
    }
    free(line);
    fclose(f);
    *n_out = n;
    return out;
}

static char *join(char **parts, int from, int to, int step) {
    size_t len = 1;
    for (int i = from; i < to; i += step) len += strlen(parts[i]) + 2;
    char *s = malloc(len), *p = s;
    *p = '\0';
    for (int i = from; i < to; i += step) p += sprintf(p, "%s%s", p == s ? "" : ". ", parts[i]);
    return s;
}

/* ---- 1. retrieval -------------------------------------------------------------------------- */

#define DEPTH 100 /* ranks looked at; a clip not among them ranks DEPTH + 1 */
#define FUSION_DEPTH 40 /* each ranking's head the engine fuses for a first page of 10 (engine/search.c) */

typedef struct query {
    const char *text;
    uint64_t want;            /* the clip's id */
    int lexical[DEPTH];       /* the lexical ranking: clip ids, best first (0: none) */
    int n_lexical;
    int rank;                 /* of the clip in it, DEPTH + 1 when not in it */
} query;

static int cmp_int(const void *a, const void *b) { return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b); }

static void report(const char *name, query *q, int n, int n_clips) {
    int r1 = 0, r5 = 0, r10 = 0;
    int *ranks = malloc((size_t)n * sizeof *ranks);
    for (int i = 0; i < n; i++) {
        ranks[i] = q[i].rank;
        r1 += q[i].rank <= 1;
        r5 += q[i].rank <= 5;
        r10 += q[i].rank <= 10;
    }
    qsort(ranks, (size_t)n, sizeof *ranks, cmp_int);
    const int med = ranks[n / 2];
    printf("| %s | %d | %d | %.1f | %.1f | %.1f | %s%d |\n", name, n_clips, n, 100.0 * r1 / n, 100.0 * r5 / n,
           100.0 * r10 / n, med > DEPTH ? ">" : "", med > DEPTH ? DEPTH : med);
    free(ranks);
}

static void rm_rf(const char *dir) {
    if (vx_remove_tree(dir)) fprintf(stderr, "could not remove %s\n", dir);
}

/* Indexes the clips' descriptions (captions [0, n_desc) or every other one) plus the
 * distractors, and ranks every query. */
static query *evaluate(clip *clips, int n_clips, int n_desc, char **distractors, int n_distractors, int *n_queries) {
    char dir[] = "/tmp/vidx-bench-text-XXXXXX";
    if (!mkdtemp(dir)) return NULL;
    vx_error err;
    vx_lexical *lx = vx_lexical_open(dir, &err);
    if (!lx) { fprintf(stderr, "%s\n", err.msg); return NULL; }
    for (int i = 0; i < n_clips; i++) {
        char *desc = n_desc > 0 ? join(clips[i].captions, 0, n_desc < clips[i].n ? n_desc : clips[i].n, 1)
                                : join(clips[i].captions, 0, clips[i].n, 2);
        vx_lexical_doc d = {.field = VX_FIELD_DESCRIPTION, .text = desc};
        if (vx_lexical_put_video(lx, (uint64_t)i + 1, &d, 1, 1, &err)) fprintf(stderr, "%s\n", err.msg);
        free(desc);
    }
    for (int i = 0; i < n_distractors; i++) {
        vx_lexical_doc d = {.field = VX_FIELD_DESCRIPTION, .text = distractors[i]};
        vx_lexical_put_video(lx, (uint64_t)(n_clips + i) + 1, &d, 1, 1, &err);
    }
    vx_lexical_commit(lx, 1, &err);
    /* Held out: up to 10 captions per clip, spread over those not in its description. */
    query *q = NULL;
    int n = 0;
    for (int i = 0; i < n_clips; i++) {
        int held[64], n_held = 0;
        for (int c = 0; c < clips[i].n && n_held < 64; c++)
            if (n_desc > 0 ? c >= n_desc : c % 2 == 1) held[n_held++] = c;
        const int take = n_held < 10 ? n_held : 10;
        for (int t = 0; t < take; t++) {
            q = realloc(q, (size_t)(n + 1) * sizeof *q);
            q[n] = (query){.text = clips[i].captions[held[t * n_held / take]], .want = (uint64_t)i + 1,
                           .rank = DEPTH + 1};
            n++;
        }
    }
    for (int i = 0; i < n; i++) {
        vx_lexical_hits h;
        if (vx_lexical_search(lx, q[i].text, DEPTH, &h, &err)) { fprintf(stderr, "%s\n", err.msg); continue; }
        for (int k = 0; k < h.n; k++) {
            q[i].lexical[k] = (int)h.items[k].video_id;
            if (h.items[k].video_id == q[i].want && q[i].rank > DEPTH) q[i].rank = k + 1;
        }
        q[i].n_lexical = h.n;
        vx_lexical_hits_free(&h);
    }
    vx_lexical_close(lx);
    rm_rf(dir);
    *n_queries = n;
    return q;
}

/* ---- 2. fusion ----------------------------------------------------------------------------- */

/* A visual ranking of the clips for a query: the right clip at a rank drawn from the
 * quality's distribution, the others in random order. */
typedef struct quality {
    const char *name;
    double p; /* the right clip's rank is 1 + geometric(p); 0: uniform (no information) */
} quality;

static int simulated_rank(const quality *qu, int n_clips) {
    if (qu->p <= 0) return 1 + (int)(rng() % (uint64_t)n_clips);
    int r = 1;
    while ((double)(rng() >> 11) / 9007199254740992.0 > qu->p && r < n_clips) r++;
    return r;
}

/* Fused rank of the right clip: score 1/(K + visual rank) + w/(K + lexical rank) over
 * the visual ranking's head and the lexical one. Only the right clip's visual rank and
 * the lexical ranking are known; the visual head's other clips are drawn at random.
 * lexrank[id]: the clip's lexical rank for this query (0: not in it). */
static int fused_rank(const query *q, int vrank, int n_clips, double K, double w, const int *lexrank, int *seen) {
    const int head = FUSION_DEPTH; /* the engine takes both rankings this deep for a first page of 10 */
    double want_score = (vrank <= head ? 1.0 / (K + vrank) : 0) +
                        (lexrank[q->want] && lexrank[q->want] <= head ? w / (K + lexrank[q->want]) : 0);
    int better = 0, n_head = head < n_clips ? head : n_clips;
    /* The visual head: distinct random clips other than the right one, which sits at vrank. */
    for (int i = 1; i <= n_head; i++) {
        if (i == vrank) continue;
        int c;
        do c = 1 + (int)(rng() % (uint64_t)n_clips);
        while ((uint64_t)c == q->want || seen[c]);
        seen[c] = i;
        const double s = 1.0 / (K + i) + (lexrank[c] && lexrank[c] <= head ? w / (K + lexrank[c]) : 0);
        better += s > want_score;
    }
    for (int k = 0; k < q->n_lexical && k < head; k++) {
        const int c = q->lexical[k];
        if ((uint64_t)c != q->want && !seen[c]) better += w / (K + k + 1) > want_score;
    }
    for (int i = 1; i <= n_clips; i++) seen[i] = 0; /* (n_clips is small here) */
    return better + 1;
}

static void tune_fusion(query *q, int n, int n_clips) {
    static const quality qualities[] = {{"strong (R@1 50%)", 0.5}, {"medium (R@1 20%)", 0.2},
                                        {"weak (R@1 5%)", 0.05}, {"none (random)", 0}};
    static const double Ks[] = {10, 30, 60, 100};
    static const double Ws[] = {0.5, 1.0, 1.5, 2.0, 3.0};
    const int NQ = 4;
    int *seen = calloc((size_t)n_clips + 1, sizeof *seen), *lexrank = calloc((size_t)n_clips + 1, sizeof *lexrank);
    int *vr = malloc((size_t)n * NQ * sizeof *vr);
    double vis10[4] = {0}, lex10 = 0;
    for (int i = 0; i < n; i++) lex10 += q[i].rank <= 10;
    lex10 /= n;
    for (int k = 0; k < NQ; k++)
        for (int i = 0; i < n; i++) {
            vr[k * n + i] = simulated_rank(&qualities[k], n_clips);
            vis10[k] += vr[k * n + i] <= 10;
        }
    for (int k = 0; k < NQ; k++) vis10[k] /= n;
    printf("\nFusion on simulated visual rankings (R@10 of the fused ranking; in brackets, as a share of the\n"
           "better of the visual ranking alone and the lexical one, R@10 %.1f%%):\n\n", 100 * lex10);
    printf("| fusion_k | text weight |");
    for (int k = 0; k < NQ; k++) printf(" visual %s: R@10 %.1f%% |", qualities[k].name, 100 * vis10[k]);
    printf(" worst share |\n|---|---|");
    for (int k = 0; k < NQ; k++) printf("---|");
    printf("---|\n");
    double best_worst = -1, best_K = 0, best_w = 0;
    for (size_t a = 0; a < sizeof Ks / sizeof *Ks; a++)
        for (size_t b = 0; b < sizeof Ws / sizeof *Ws; b++) {
            printf("| %.0f | %.1f |", Ks[a], Ws[b]);
            double worst = 1e9;
            for (int k = 0; k < NQ; k++) {
                int hit = 0;
                for (int i = 0; i < n; i++) {
                    for (int x = 0; x < q[i].n_lexical; x++) lexrank[q[i].lexical[x]] = x + 1;
                    hit += fused_rank(&q[i], vr[k * n + i], n_clips, Ks[a], Ws[b], lexrank, seen) <= 10;
                    for (int x = 0; x < q[i].n_lexical; x++) lexrank[q[i].lexical[x]] = 0;
                }
                const double r10 = (double)hit / n, base = vis10[k] > lex10 ? vis10[k] : lex10;
                const double share = r10 / base;
                if (share < worst) worst = share;
                printf(" %.1f%% (%.2f) |", 100 * r10, share);
            }
            printf(" %.3f |\n", worst);
            if (worst > best_worst + 1e-9) { best_worst = worst; best_K = Ks[a]; best_w = Ws[b]; }
        }
    printf("\nkept: fusion_k %.0f, text weight %.1f (worst case %.3f of the better single ranking)\n", best_K, best_w,
           best_worst);
    free(seen);
    free(lexrank);
    free(vr);
}

/* ---- 3. latency at scale -------------------------------------------------------------------- */

static double dir_mib(const char *dir) {
    DIR *d = opendir(dir);
    double total = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char p[4600];
        struct stat sb;
        snprintf(p, sizeof p, "%.4200s/%.255s", dir, de->d_name);
        if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) total += (double)sb.st_size;
    }
    if (d) closedir(d);
    return total / (1 << 20);
}

static void latency(clip *clips, int n_clips, char **queries, int n_queries, long n_videos, int n_cues,
                    const char *cache) {
    char dir[4200];
    snprintf(dir, sizeof dir, "mkdir -p '%s'", cache);
    if (system(dir) != 0) { fprintf(stderr, "cannot create %s\n", cache); return; }
    snprintf(dir, sizeof dir, "%s/bench-text-topical-%ld-%d", cache, n_videos, n_cues);
    vx_error err;
    vx_lexical *lx = vx_lexical_open(dir, &err);
    if (!lx) { fprintf(stderr, "%s\n", err.msg); return; }
    const uint64_t want_docs = (uint64_t)n_videos * (n_cues ? 2 : 1); /* a title and a subtitles document each */
    double build_s = -1;
    if (vx_lexical_doc_count(lx) != want_docs || vx_lexical_generation(lx) != 1) {
        printf("\nbuilding the lexical index of %ld videos x %d cues into %s (once; cached)...\n", n_videos, n_cues, dir);
        fflush(stdout);
        vx_lexical_close(lx);
        rm_rf(dir);
        lx = vx_lexical_open(dir, &err);
        if (!lx) { fprintf(stderr, "%s\n", err.msg); return; }
        vx_lexical_doc *docs = malloc((size_t)(n_cues + 1) * sizeof *docs);
        const double t0 = vx_now();
        for (long v = 0; v < n_videos; v++) {
            /* Words about one thing, as real subtitles are: all from one MSVD clip's captions. */
            const clip *from = &clips[rng() % (uint64_t)n_clips];
            docs[0] = (vx_lexical_doc){.field = VX_FIELD_TITLE, .text = from->captions[rng() % (uint64_t)from->n]};
            for (int c = 0; c < n_cues; c++)
                docs[c + 1] = (vx_lexical_doc){.field = VX_FIELD_SUBTITLE, .start = 3.0 * c, .end = 3.0 * c + 3,
                                               .text = from->captions[rng() % (uint64_t)from->n]};
            if (vx_lexical_put_video(lx, (uint64_t)v + 1, docs, n_cues + 1, 1, &err)) { fprintf(stderr, "%s\n", err.msg); break; }
            if ((v + 1) % 20000 == 0 && vx_lexical_commit(lx, 0, &err)) fprintf(stderr, "%s\n", err.msg);
        }
        vx_lexical_commit(lx, 1, &err);
        build_s = vx_now() - t0;
        free(docs);
    }
    /* Queries: MSR-VTT captions (another corpus than the cues'), each searched twice: the
     * first one warms the reader's caches. Depth 40: what a first page of 10 asks for. */
    double *ms = malloc((size_t)n_queries * sizeof *ms), *ms10 = malloc((size_t)n_queries * sizeof *ms10);
    int n = 0;
    for (int i = 0; i < n_queries && i < 300; i++) {
        vx_lexical_hits h;
        vx_lexical_search(lx, queries[i], FUSION_DEPTH, &h, &err);
        vx_lexical_hits_free(&h);
    }
    for (int i = 0; i < n_queries && i < 300; i++, n++) {
        vx_lexical_hits h;
        double t0 = vx_now();
        vx_lexical_search(lx, queries[i], 80, &h, &err);
        double a, b;
        for (int k = 0; k < 10 && k < h.n; k++) free(vx_lexical_locate(&h, k, &a, &b)); /* what a page shows */
        ms[n] = (vx_now() - t0) * 1e3;
        vx_lexical_hits_free(&h);
        t0 = vx_now();
        vx_lexical_search(lx, queries[i], 10, &h, &err);
        ms10[n] = (vx_now() - t0) * 1e3;
        vx_lexical_hits_free(&h);
    }
    qsort(ms, (size_t)n, sizeof *ms, bench_cmp_double);
    qsort(ms10, (size_t)n, sizeof *ms10, bench_cmp_double);
    printf("\nLexical queries at %ld videos x %d cues (+ a title each: %llu documents, %.0f MiB on disk%s):\n\n",
           n_videos, n_cues, (unsigned long long)vx_lexical_doc_count(lx), dir_mib(dir), build_s >= 0 ? "" : ", cached");
    if (build_s >= 0)
        printf("built in %.0f s (%.0f videos/s, %.0f cues/s)\n\n", build_s, (double)n_videos / build_s,
               (double)n_videos * n_cues / build_s);
    printf("| videos asked for | queries | median ms | p90 ms | p99 ms |\n|---|---|---|---|---|\n");
    printf("| %d (a page of 10, its cues and snippets found) | %d | %.2f | %.2f | %.2f |\n", FUSION_DEPTH, n, ms[n / 2],
           ms[n * 9 / 10], ms[n * 99 / 100]);
    printf("| 10 | %d | %.2f | %.2f | %.2f |\n", n, ms10[n / 2], ms10[n * 9 / 10], ms10[n * 99 / 100]);
    free(ms);
    free(ms10);
    vx_lexical_close(lx);
}

/* ---- 4. the text sources' cost at indexing --------------------------------------------------- */

static int count_frame(void *ctx, const vx_rgb_image *frame, double t) {
    (void)frame;
    (void)t;
    (*(long *)ctx)++;
    return 0;
}

static void source_cost(const char *shared) {
    char videos[4200];
    snprintf(videos, sizeof videos, "%s/videos", shared);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "find '%s' -type f \\( -name '*.mp4' -o -name '*.mkv' -o -name '*.webm' -o -name '*.gif' "
                              "-o -name '*.avi' -o -name '*.mov' \\) | sort", videos);
    FILE *p = popen(cmd, "r");
    if (!p) return;
    char path[4200];
    double text_s = 0, frames_s = 0, seconds = 0;
    long frames = 0, entries = 0;
    int files = 0;
    vx_dir_listing listing = {0};
    while (fgets(path, sizeof path, p)) {
        path[strcspn(path, "\n")] = '\0';
        vx_sample_options o;
        vx_sample_options_default(&o);
        vx_video_info info;
        vx_error err;
        double t0 = vx_now();
        if (vx_sample_video(path, &o, &info, count_frame, &frames, NULL, &err)) continue;
        frames_s += vx_now() - t0;
        seconds += info.duration;
        t0 = vx_now();
        vx_video_text t;
        if (vx_read_video_text(path, 1, info.duration, &listing, &t, &err) == 0) {
            entries += t.n_entries;
            vx_video_text_clear(&t);
        }
        text_s += vx_now() - t0;
        files++;
    }
    pclose(p);
    vx_dir_listing_clear(&listing);
    printf("\nText sources at indexing, the shared videos (%d files, %.0f s of video), in the same run:\n\n", files, seconds);
    printf("| step | seconds | ms per file | share of frame sampling |\n|---|---|---|---|\n");
    printf("| frames sampled (1 per second, decode and convert; %ld frames) | %.2f | %.1f | 1.000 |\n", frames, frames_s,
           1e3 * frames_s / files);
    printf("| text read (container tags, subtitle streams, sidecars; %ld pieces) | %.3f | %.2f | %.4f |\n", entries,
           text_s, 1e3 * text_s / files, text_s / frames_s);
}

int main(int argc, char **argv) {
    vx_kernels_tune(argv); /* as vidx itself runs: encoder/kernels.h */
    bench_print_machine(stdout);
    if (argc < 2) {
        fprintf(stderr, "usage: bench_text SHARED_DATA [--videos N] [--cues C] [--cache DIR]\n");
        return 2;
    }
    const char *shared = argv[1], *cache = NULL;
    long n_videos = 100000;
    int n_cues = 50;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--videos")) n_videos = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--cues")) n_cues = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--cache")) cache = argv[i + 1];
    }
    char cache_dir[4096];
    const char *home = getenv("HOME");
    snprintf(cache_dir, sizeof cache_dir, "%s", cache ? cache : getenv("VIDX_CACHE") ? getenv("VIDX_CACHE") : "");
    if (!cache_dir[0]) snprintf(cache_dir, sizeof cache_dir, "%s/.cache/vidx", home ? home : "/tmp");
    char path[4200];
    snprintf(path, sizeof path, "%s/captions/MSVD_test.tsv", shared);
    int n_clips = 0, n_msr = 0;
    clip *clips = read_msvd(path, &n_clips);
    snprintf(path, sizeof path, "%s/captions/MSRVTT_JSFUSION_test.csv", shared);
    char **msr = read_msrvtt(path, &n_msr);
    if (!clips || !msr) { fprintf(stderr, "bench_text: cannot read the captions under %s/captions\n", shared); return 1; }

    printf("Lexical retrieval, MSVD test (%d clips): some captions of each clip as its description, up to 10 of\n"
           "the others as queries (bench/text_eval.md). R@k: share of queries whose clip is among the first k.\n\n",
           n_clips);
    printf("| description | clips indexed | queries | R@1 %% | R@5 %% | R@10 %% | median rank |\n|---|---|---|---|---|---|---|\n");
    int n;
    query *q5 = evaluate(clips, n_clips, 5, NULL, 0, &n);
    report("5 captions", q5, n, n_clips);
    int n_half;
    query *qh = evaluate(clips, n_clips, 0, NULL, 0, &n_half);
    report("every other caption (~20)", qh, n_half, n_clips);
    free(qh);
    int n1;
    query *q1 = evaluate(clips, n_clips, 1, NULL, 0, &n1);
    report("1 caption", q1, n1, n_clips);
    free(q1);
    int nd;
    query *qd = evaluate(clips, n_clips, 5, msr, n_msr, &nd);
    report("5 captions, + 1,000 MSR-VTT clips (1 caption each) as distractors", qd, nd, n_clips + n_msr);
    free(qd);

    tune_fusion(q5, n, n_clips);
    free(q5);

    latency(clips, n_clips, msr, n_msr, n_videos, n_cues, cache_dir);
    source_cost(shared);
    return 0;
}
