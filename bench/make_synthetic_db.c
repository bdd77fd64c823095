/* Writes a database of synthetic videos and users for the HTTP load benchmark: N videos
 * with clustered 512-d embeddings (1,000 topics, cosine ~0.75 to their topic, as CLIP
 * embeddings of varied footage are), S segments each, and U users with E events each
 * (mostly within a few favourite topics), profiles computed as vidx computes them (no
 * decay: the events are a minute apart).
 *
 * With --cues C and --captions MSVD_test.tsv (the shared data's), each video also gets a
 * title and C subtitle cues of 3 s: real captions, all drawn from the ~40 captions of one
 * MSVD clip, so that a video's words are about one thing, as real subtitles are (the
 * lexical index is built from them when vidx first opens the folder). Cues use their own random
 * numbers: the vectors are the same with or without them.
 *
 *   make_synthetic_db DIR [--videos N] [--segments S] [--users U] [--events E] [--dim D]
 *                         [--ids FILE]    (the video ids, one per line, for load tests)
 *                         [--cues C --captions FILE]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/hash.h"
#include "../common/vecmath.h"
#include "../recommend/events.h"
#include "../schemas/catalog.h"

/* xorshift64; the text has a generator of its own, so vectors are the same with or
 * without it. */
static uint64_t xorshift(uint64_t *state) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}
static uint64_t rng_state = 88172645463325252ULL, text_rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng(void) { return xorshift(&rng_state); }
static uint64_t text_rng(void) { return xorshift(&text_rng_state); }

/* The captions of an MSVD file (one clip per line: captions separated by ", ", a tab, the
 * clip's name); clip_start[c] is the index of clip c's first caption (n_clips + 1 of them). */
static long *clip_start, n_clips;
static char **read_captions(const char *path, long *n_out) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char **out = NULL, *line = NULL;
    size_t cap_line = 0;
    long n = 0, cap = 0;
    while (getline(&line, &cap_line, f) > 0) {
        char *tab = strchr(line, '\t');
        if (tab) *tab = '\0';
        long *cs = realloc(clip_start, (size_t)(n_clips + 2) * sizeof *cs);
        if (!cs) { free(line); fclose(f); return NULL; }
        clip_start = cs;
        clip_start[n_clips++] = n;
        for (char *p = line, *next; p && *p; p = next) {
            next = strstr(p, ", ");
            if (next) { *next = '\0'; next += 2; }
            if (!*p) continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 4096;
                char **o = realloc(out, (size_t)cap * sizeof *o);
                if (!o) { free(line); fclose(f); return NULL; }
                out = o;
            }
            out[n++] = strdup(p);
        }
    }
    free(line);
    fclose(f);
    if (clip_start) clip_start[n_clips] = n;
    *n_out = n;
    return out;
}

static float unif(void) { return (float)((rng() >> 11) * (1.0 / 9007199254740992.0)); }
static float gauss(void) {
    float u = unif() + 1e-12f, v = unif();
    return sqrtf(-2 * logf(u)) * cosf(6.2831853f * v);
}

#define TOPICS 1000

static void vector_near(const float *center, int dim, float noise, float *out) {
    for (int d = 0; d < dim; d++) out[d] = center[d] + noise * gauss() / sqrtf((float)dim);
    vx_normalize(out, (size_t)dim);
}

static int flush(vx_catalog *cat, vx_batch **b, vx_error *err) {
    int r = vx_catalog_write(cat, *b, err);
    vx_batch_clear(*b);
    return r;
}

int main(int argc, char **argv) {
    long n_videos = 100000, n_users = 100, n_events = 1000;
    int n_seg = 3, dim = 512, n_cues = 0;
    const char *dir = NULL, *ids_file = NULL, *captions_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--videos")) n_videos = atol(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--segments")) n_seg = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--users")) n_users = atol(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--events")) n_events = atol(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--dim")) dim = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--ids")) ids_file = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--cues")) n_cues = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--captions")) captions_file = argv[++i];
        else if (!dir && argv[i][0] != '-') dir = argv[i];
        else dir = NULL, i = argc;
    }
    if (!dir || n_videos < 1 || n_seg < 1 || n_seg > 100 || dim < 2 || dim > VX_MAX_DIM || n_users < 0 ||
        n_events < 0 || n_events > n_videos || n_cues < 0 || n_cues > 10000 || (n_cues && !captions_file)) {
        fprintf(stderr, "usage: make_synthetic_db DIR [--videos N] [--segments S] [--users U] [--events E] [--dim D] "
                        "[--ids FILE] [--cues C --captions MSVD_test.tsv]\n");
        return 2;
    }
    long n_captions = 0;
    char **captions = n_cues ? read_captions(captions_file, &n_captions) : NULL;
    if (n_cues && (!captions || n_captions == 0 || n_clips == 0)) { fprintf(stderr, "%s: no captions read\n", captions_file); return 1; }
    vx_text_entry *cues = n_cues ? calloc((size_t)n_cues + 1, sizeof *cues) : NULL;
    vx_error err;
    vx_catalog *cat = vx_catalog_open(dir, 1, &err);
    if (!cat) { fprintf(stderr, "%s\n", err.msg); return 1; }
    float *centers = malloc((size_t)TOPICS * dim * sizeof *centers);
    float *emb = malloc((size_t)n_videos * dim * sizeof *emb);
    uint64_t *ids = malloc((size_t)n_videos * sizeof *ids);
    int *topic = malloc((size_t)n_videos * sizeof *topic);
    float *seg = malloc((size_t)dim * sizeof *seg);
    if (!centers || !emb || !ids || !topic || !seg) { fprintf(stderr, "out of memory\n"); return 1; }
    for (int t = 0; t < TOPICS; t++) {
        for (int d = 0; d < dim; d++) centers[(size_t)t * dim + d] = gauss();
        vx_normalize(centers + (size_t)t * dim, (size_t)dim);
    }
    const int64_t now = (int64_t)time(NULL);
    vx_batch *b = vx_batch_new();
    for (long i = 0; i < n_videos; i++) {
        char path[64], title[64];
        snprintf(path, sizeof path, "/synthetic/video-%07ld.mp4", i);
        snprintf(title, sizeof title, "synthetic video %ld", i);
        topic[i] = (int)(rng() % TOPICS);
        float *v = emb + (size_t)i * dim;
        vector_near(centers + (size_t)topic[i] * dim, dim, 0.9f, v);
        ids[i] = vx_video_id_for_path(path);
        vx_video rec = {.id = ids[i], .content_hash = vx_hash64(path, strlen(path)), .size = 1000000,
                        .duration = 5.0 * n_seg, .fps = 25, .width = 640, .height = 360, .status = VX_VIDEO_INDEXED,
                        .n_segments = (uint32_t)n_seg, .created_at = now - (int64_t)(rng() % (90 * 86400)),
                        .updated_at = now, .path = path, .title = title, .failure = ""};
        vx_batch_put_video(b, &rec);
        for (int s = 0; s < n_seg; s++) {
            vector_near(v, dim, 0.5f, seg);
            vx_segment sr = {.start = 5.0 * s, .end = 5.0 * (s + 1), .n_frames = 5, .dim = (uint32_t)dim,
                             .embedding = seg};
            vx_batch_put_segment(b, ids[i], (uint32_t)s, &sr);
        }
        vx_embedding e = {.dim = (uint32_t)dim, .v = v};
        vx_batch_put_embedding(b, ids[i], &e);
        if (n_cues) { /* a title and n_cues cues, 3 s each, from the captions of one MSVD clip */
            const long clip = (long)(text_rng() % (uint64_t)n_clips);
            const long first = clip_start[clip], count = clip_start[clip + 1] - first;
            cues[0] = (vx_text_entry){.field = VX_FIELD_TITLE, .origin = "container",
                                      .text = captions[first + (long)(text_rng() % (uint64_t)count)]};
            for (int c = 0; c < n_cues; c++)
                cues[c + 1] = (vx_text_entry){.field = VX_FIELD_SUBTITLE, .start = 3.0 * c, .end = 3.0 * c + 3,
                                              .origin = "subtitle stream",
                                              .text = captions[first + (long)(text_rng() % (uint64_t)count)]};
            vx_video_text t = {.id = ids[i], .slot = VX_TEXT_FILES, .updated_at = now, .notes = "",
                               .n_entries = (uint32_t)n_cues + 1, .entries = cues};
            vx_batch_put_text(b, &t);
        }
        if (vx_batch_count(b) > 20000 && flush(cat, &b, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    }
    /* Users: favourite topics, events on videos of those (and some others). */
    float *profile = malloc((size_t)dim * sizeof *profile);
    long *by_topic_start = calloc(TOPICS + 1, sizeof *by_topic_start);
    long *order = malloc((size_t)n_videos * sizeof *order);
    for (long i = 0; i < n_videos; i++) by_topic_start[topic[i] + 1]++;
    for (int t = 0; t < TOPICS; t++) by_topic_start[t + 1] += by_topic_start[t];
    long *fill = calloc(TOPICS, sizeof *fill);
    for (long i = 0; i < n_videos; i++) order[by_topic_start[topic[i]] + fill[topic[i]]++] = i;
    for (long u = 0; u < n_users; u++) {
        char name[32];
        snprintf(name, sizeof name, "user%ld", u);
        memset(profile, 0, (size_t)dim * sizeof *profile);
        int fav[5];
        for (int f = 0; f < 5; f++) fav[f] = (int)(rng() % TOPICS);
        int64_t t0 = (now - 86400) * 1000;
        for (long e = 0; e < n_events; e++) {
            long vi;
            int t = fav[rng() % 5];
            long cnt = by_topic_start[t + 1] - by_topic_start[t];
            vi = (rng() % 4 == 0 || cnt == 0) ? (long)(rng() % (uint64_t)n_videos)
                                               : order[by_topic_start[t] + (long)(rng() % (uint64_t)cnt)];
            uint8_t type = (uint8_t)(1 + rng() % 5);
            float secs = type == VX_EVENT_VIEW ? 5.0f * n_seg * unif() : 0;
            vx_event ev = {.video_id = ids[vi], .type = type, .seconds = secs, .ts_ms = t0 + e * 60000};
            vx_batch_put_event(b, name, (uint32_t)e, &ev);
            float w = vx_event_weight(type, type == VX_EVENT_VIEW ? secs / (5.0f * n_seg) : -1);
            for (int d = 0; d < dim; d++) profile[d] += w * emb[(size_t)vi * dim + d];
        }
        vx_user ur = {.name = name, .created_at = now - 86400, .n_events = (uint64_t)n_events,
                      .last_event_ms = t0 + (n_events - 1) * 60000, .dim = n_events ? (uint32_t)dim : 0,
                      .profile = n_events ? profile : NULL};
        vx_batch_put_user(b, &ur);
        if (vx_batch_count(b) > 20000 && flush(cat, &b, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    }
    vx_meta m;
    if (vx_catalog_get_meta(cat, &m, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    m.embed_dim = (uint32_t)dim;
    m.index_generation++;
    if (n_cues) m.text_generation++;
    free(m.model);
    m.model = strdup("synthetic");
    vx_batch_put_meta(b, &m);
    vx_meta_clear(&m);
    if (flush(cat, &b, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    vx_batch_free(b);
    vx_catalog_close(cat);
    printf("%s: %ld videos x %d segments (and %d cues), %ld users x %ld events, %d dimensions\n", dir, n_videos, n_seg,
           n_cues, n_users, n_events, dim);
    if (ids_file) {
        FILE *f = fopen(ids_file, "w");
        if (!f) { perror(ids_file); return 1; }
        for (long i = 0; i < n_videos; i++) fprintf(f, "%016llx\n", (unsigned long long)ids[i]);
        if (fclose(f)) { perror(ids_file); return 1; }
    }
    return 0;
}
