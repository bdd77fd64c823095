/* Recommendations: event validation, decayed profiles, the item model (against a dense
 * ridge regression solved here), the co-engagement walk the benchmark compares with,
 * feeds (cold start, exclusions, sources, diversity, new videos, the model built and
 * swapped) on a synthetic catalog whose videos sit in known clusters; and the query
 * cache and id map they lean on. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ann/ann.h"
#include "../present/json.h"
#include "../engine/query_cache.h"
#include "../common/hash.h"
#include "../common/idmap.h"
#include "../common/lru.h"
#include "../common/vecmath.h"
#include "../recommend/cograph.h"
#include "../recommend/events.h"
#include "../recommend/feed.h"
#include "../recommend/itemmodel.h"
#include "check.h"

char *test_tmpdir(const char *tag);
void test_rmtree(const char *path);

#define DIM 8
#define CLUSTERS 4
#define PER_CLUSTER 6
#define NOW_MS 1800000000000LL /* a fixed "now": 2027-01-15 */

static uint64_t ids[CLUSTERS * PER_CLUSTER + 8];
static int n_videos;

/* Video i of cluster c: the cluster's axis plus a little of its own. */
static void embedding_of(int c, int i, float *v) {
    for (int d = 0; d < DIM; d++) v[d] = 0;
    v[c] = 1.0f;
    v[CLUSTERS + (i % (DIM - CLUSTERS))] = 0.15f + 0.02f * (float)i;
    vx_normalize(v, DIM);
}

static uint64_t add_video(vx_catalog *cat, int c, int i, int64_t created_at, uint8_t status, uint64_t dup_of) {
    char path[64];
    snprintf(path, sizeof path, "/videos/c%d-%d-%lld.mp4", c, i, (long long)created_at);
    float v[DIM];
    embedding_of(c, i, v);
    vx_video rec = {.id = vx_video_id_for_path(path), .content_hash = vx_hash64(path, strlen(path)), .size = 1,
                    .duration = 100, .status = status, .n_segments = status == VX_VIDEO_INDEXED && !dup_of ? 1 : 0,
                    .duplicate_of = dup_of, .created_at = created_at, .updated_at = created_at, .path = path,
                    .title = path + 8, .failure = status == VX_VIDEO_FAILED ? "broken" : ""};
    vx_batch *b = vx_batch_new();
    vx_batch_put_video(b, &rec);
    if (rec.n_segments) {
        vx_segment s = {.start = 0, .end = 5, .n_frames = 1, .dim = DIM, .embedding = v};
        vx_batch_put_segment(b, rec.id, 0, &s);
        vx_embedding e = {.dim = DIM, .v = v};
        vx_batch_put_embedding(b, rec.id, &e);
    }
    vx_meta m;
    vx_error err;
    vx_catalog_get_meta(cat, &m, &err);
    m.embed_dim = DIM;
    m.index_generation++;
    vx_batch_put_meta(b, &m);
    vx_meta_clear(&m);
    int r = vx_catalog_write(cat, b, &err);
    vx_batch_free(b);
    CHECK_MSG(r == 0, "%s", err.msg);
    return rec.id;
}

static int cluster_of(uint64_t id) {
    for (int i = 0; i < CLUSTERS * PER_CLUSTER; i++)
        if (ids[i] == id) return i / PER_CLUSTER;
    return -1;
}

static int record(vx_catalog *cat, vx_recommender *rec, const char *user, uint64_t video, uint8_t type, double secs,
                  int64_t ts_ms, vx_error *err) {
    vx_event_request q = {.user = user, .video_id = video, .type = type, .seconds = secs, .ts_ms = ts_ms};
    vx_event_stored st;
    int r = vx_event_record(cat, &q, NOW_MS, &st, err);
    if (r == 0 && rec) CHECK(vx_rec_observe(rec, user, &st.event, st.fraction, err) == 0);
    return r;
}

static void test_events(vx_catalog *cat) {
    vx_error err;
    CHECK(record(cat, NULL, "bad name", ids[0], VX_EVENT_LIKE, -1, 0, &err) == VX_E_BAD_INPUT);
    CHECK(strstr(err.msg, "user") != NULL);
    CHECK(record(cat, NULL, "ev", ids[0], 9, -1, 0, &err) == VX_E_BAD_INPUT);
    CHECK(record(cat, NULL, "ev", ids[0], VX_EVENT_VIEW, NAN, 0, &err) == VX_E_BAD_INPUT);
    CHECK(record(cat, NULL, "ev", ids[0], VX_EVENT_VIEW, 1e9, 0, &err) == VX_E_BAD_INPUT);
    CHECK(record(cat, NULL, "ev", ids[0], VX_EVENT_VIEW, 5, NOW_MS + 3600 * 1000, &err) == VX_E_BAD_INPUT);
    CHECK(strstr(err.msg, "future") != NULL);
    CHECK(record(cat, NULL, "ev", ids[0], VX_EVENT_VIEW, 5, 1000, &err) == VX_E_BAD_INPUT);
    CHECK(record(cat, NULL, "ev", 0x0123456789abcdefULL, VX_EVENT_LIKE, -1, 0, &err) == VX_E_NOT_FOUND);
    vx_user u;
    CHECK(vx_catalog_get_user(cat, "ev", &u, &err) == 1); /* nothing stored by rejected events */

    /* The profile moves towards what is liked and away from what is disliked. */
    CHECK(record(cat, NULL, "ev", ids[0], VX_EVENT_LIKE, -1, NOW_MS - 1000, &err) == 0);
    REQUIRE(vx_catalog_get_user(cat, "ev", &u, &err) == 0);
    float e0[DIM];
    embedding_of(0, 0, e0);
    vx_normalize(u.profile, u.dim);
    CHECK(u.n_events == 1 && u.dim == DIM && vx_dot(u.profile, e0, DIM) > 0.999f);
    vx_user_clear(&u);
    CHECK(record(cat, NULL, "ev", ids[PER_CLUSTER], VX_EVENT_DISLIKE, -1, NOW_MS - 500, &err) == 0);
    REQUIRE(vx_catalog_get_user(cat, "ev", &u, &err) == 0);
    float e1[DIM];
    embedding_of(1, 0, e1);
    CHECK(u.n_events == 2 && vx_dot(u.profile, e1, DIM) < 0);
    vx_user_clear(&u);

    /* Decay: the same events in either order give the same profile; 30 days halve. */
    int64_t t0 = NOW_MS - 40LL * 86400 * 1000, t1 = t0 + 30LL * 86400 * 1000;
    CHECK(record(cat, NULL, "order1", ids[1], VX_EVENT_LIKE, -1, t0, &err) == 0);
    CHECK(record(cat, NULL, "order1", ids[PER_CLUSTER + 1], VX_EVENT_LIKE, -1, t1, &err) == 0);
    CHECK(record(cat, NULL, "order2", ids[PER_CLUSTER + 1], VX_EVENT_LIKE, -1, t1, &err) == 0);
    CHECK(record(cat, NULL, "order2", ids[1], VX_EVENT_LIKE, -1, t0, &err) == 0);
    vx_user a, b;
    REQUIRE(vx_catalog_get_user(cat, "order1", &a, &err) == 0);
    REQUIRE(vx_catalog_get_user(cat, "order2", &b, &err) == 0);
    float ea[DIM], eb[DIM], expect[DIM];
    embedding_of(0, 1, ea);
    embedding_of(1, 1, eb);
    for (int d = 0; d < DIM; d++) expect[d] = 2.0f * 0.5f * ea[d] + 2.0f * eb[d]; /* like = 2, one half-life */
    for (int d = 0; d < DIM; d++) {
        CHECK_MSG(fabsf(a.profile[d] - b.profile[d]) < 1e-5f, "order matters at %d: %g %g", d, a.profile[d], b.profile[d]);
        CHECK_MSG(fabsf(a.profile[d] - expect[d]) < 1e-4f, "decay at %d: %g, expected %g", d, a.profile[d], expect[d]);
    }
    CHECK(a.last_event_ms == t1 && b.last_event_ms == t1);
    vx_user_clear(&a);
    vx_user_clear(&b);
}

static int in_feed(const vx_feed *f, uint64_t id) {
    for (int i = 0; i < f->n; i++)
        if (f->items[i].video_id == id) return i;
    return -1;
}

static void test_feeds(vx_catalog *cat, const char *dir) {
    vx_error err;
    vx_ann *ann = vx_ann_open(cat, dir, NULL, DIM, &err);
    REQUIRE(ann);
    vx_recommender *rec = vx_rec_open(cat, &err);
    REQUIRE(rec);
    vx_feed_options o;
    vx_feed_options_default(&o);
    o.now_ms = NOW_MS;
    o.k = 8;
    o.ann_version = 1; /* neighbour lists cached, as the service does */
    vx_feed f;

    /* Cold start: k items, each with a reason, several clusters (diversity). */
    REQUIRE(vx_rec_feed(rec, cat, ann, "newcomer", &o, &f, &err) == 0);
    CHECK(f.n == 8 && !f.known_user);
    int seen_cluster[CLUSTERS] = {0}, n_clusters = 0;
    for (int i = 0; i < f.n; i++) {
        CHECK(f.items[i].reason && *f.items[i].reason);
        int c = cluster_of(f.items[i].video_id);
        CHECK(c >= 0); /* failed, removed and duplicate videos never appear */
        if (c >= 0 && !seen_cluster[c]++) n_clusters++;
    }
    CHECK_MSG(n_clusters >= 3, "a new user's feed spans %d clusters", n_clusters);
    vx_feed_free(&f);

    /* Likes in cluster 2: the feed leans there, never shows what was seen or disliked. */
    for (int i = 0; i < 2; i++) CHECK(record(cat, rec, "fan", ids[2 * PER_CLUSTER + i], VX_EVENT_LIKE, -1, NOW_MS - 10000 + i, &err) == 0);
    CHECK(record(cat, rec, "fan", ids[2 * PER_CLUSTER + 2], VX_EVENT_DISLIKE, -1, NOW_MS - 5000, &err) == 0);
    CHECK(record(cat, rec, "fan", ids[3], VX_EVENT_SKIP, 1, NOW_MS - 4000, &err) == 0);
    o.diversity = 0;
    REQUIRE(vx_rec_feed(rec, cat, ann, "fan", &o, &f, &err) == 0);
    CHECK(f.known_user && f.n > 0);
    for (int i = 0; i < 3; i++) CHECK(in_feed(&f, ids[2 * PER_CLUSTER + i]) < 0);
    CHECK(in_feed(&f, ids[3]) < 0);
    int in_cluster = 0;
    for (int i = 0; i < 3 && i < f.n; i++) in_cluster += cluster_of(f.items[i].video_id) == 2;
    CHECK_MSG(in_cluster == 3, "top 3 of a cluster-2 fan: %d from cluster 2 (first: %s, %s)", in_cluster,
              f.n ? f.items[0].title : "-", f.n ? f.items[0].reason : "-");
    CHECK(f.n && (strstr(f.items[0].reason, "like ") || strstr(f.items[0].reason, "matches")));
    vx_feed_free(&f);
    /* With diversity, other clusters come in sooner. */
    o.diversity = 0.7f;
    REQUIRE(vx_rec_feed(rec, cat, ann, "fan", &o, &f, &err) == 0);
    int first_other = -1;
    for (int i = 0; i < f.n && first_other < 0; i++)
        if (cluster_of(f.items[i].video_id) != 2) first_other = i;
    CHECK_MSG(first_other >= 0 && first_other <= 2, "diversified feed: first other cluster at %d", first_other);
    vx_feed_free(&f);
    o.diversity = 0.3f;

    /* Co-engagement: people who liked X (cluster 0) also liked Y (cluster 3). */
    uint64_t X = ids[0 * PER_CLUSTER + 5], Y = ids[3 * PER_CLUSTER + 5];
    for (int u = 0; u < 5; u++) {
        char name[16];
        snprintf(name, sizeof name, "crowd%d", u);
        CHECK(record(cat, rec, name, X, VX_EVENT_COMPLETE, -1, NOW_MS - 20000, &err) == 0);
        CHECK(record(cat, rec, name, Y, VX_EVENT_LIKE, -1, NOW_MS - 19000, &err) == 0);
    }
    CHECK(record(cat, rec, "follower", X, VX_EVENT_LIKE, -1, NOW_MS - 1000, &err) == 0);
    /* The model is due (none yet), built and swapped in; then no longer due. */
    vx_rec_model_info mi;
    vx_rec_model_info_get(rec, &mi);
    CHECK(!mi.built && vx_rec_model_due(rec));
    CHECK_MSG(vx_rec_build_model(rec, vx_rec_ann_similar, ann, &err) == 0, "%s", err.msg);
    vx_rec_model_info_get(rec, &mi);
    CHECK(mi.built && mi.changes_since == 0 && mi.stats.learned >= 2 && mi.stats.weights > 0 && !vx_rec_model_due(rec));
    REQUIRE(vx_rec_feed(rec, cat, ann, "follower", &o, &f, &err) == 0);
    int y = in_feed(&f, Y);
    CHECK_MSG(y >= 0 && y < 3, "co-engaged video at %d", y);
    if (y >= 0) CHECK_MSG(strcmp(f.items[y].source, "co-engaged") == 0 && strstr(f.items[y].reason, "people who watched"),
                          "Y comes as %s: %s", f.items[y].source, f.items[y].reason);
    vx_feed_free(&f);
    /* The user's own history is read live: a like of X moves a new user's feed at once,
     * without a new model. */
    CHECK(record(cat, rec, "latecomer", X, VX_EVENT_LIKE, -1, NOW_MS - 500, &err) == 0);
    REQUIRE(vx_rec_feed(rec, cat, ann, "latecomer", &o, &f, &err) == 0);
    y = in_feed(&f, Y);
    CHECK_MSG(y >= 0 && y < 3 && strcmp(f.items[y].source, "co-engaged") == 0, "latecomer: Y at %d", y);
    vx_feed_free(&f);
    /* ...and Y is now popular for everyone. */
    REQUIRE(vx_rec_feed(rec, cat, ann, "newcomer2", &o, &f, &err) == 0);
    CHECK(in_feed(&f, Y) >= 0);
    vx_feed_free(&f);

    /* A new video is recommendable at once, through its content (and counted). */
    uint64_t users0, live0, edges0, users1, live1, edges1;
    vx_rec_stats(rec, &users0, &live0, &edges0);
    uint64_t fresh = add_video(cat, 2, 40, NOW_MS / 1000 - 60, VX_VIDEO_INDEXED, 0);
    CHECK(vx_ann_update_video(ann, cat, fresh, &err) == 0);
    CHECK(vx_rec_video_changed(rec, cat, fresh, &err) == 0);
    CHECK(vx_rec_video_changed(rec, cat, fresh, &err) == 0); /* told twice: counted once */
    vx_rec_stats(rec, &users1, &live1, &edges1);
    CHECK(live1 == live0 + 1 && users1 == users0);
    o.ann_version = 2;
    o.diversity = 0;
    REQUIRE(vx_rec_feed(rec, cat, ann, "fan", &o, &f, &err) == 0);
    int at = in_feed(&f, fresh);
    CHECK_MSG(at >= 0 && at < 4, "new cluster-2 video at %d in the fan's feed", at);
    vx_feed_free(&f);

    /* The recommender reloaded from the catalog, its model rebuilt, ranks the same. */
    vx_feed f1, f2;
    REQUIRE(vx_rec_build_model(rec, vx_rec_ann_similar, ann, &err) == 0);
    REQUIRE(vx_rec_feed(rec, cat, ann, "follower", &o, &f1, &err) == 0);
    vx_rec_close(rec);
    rec = vx_rec_open(cat, &err);
    REQUIRE(rec);
    REQUIRE(vx_rec_build_model(rec, vx_rec_ann_similar, ann, &err) == 0);
    REQUIRE(vx_rec_feed(rec, cat, ann, "follower", &o, &f2, &err) == 0);
    CHECK(f1.n == f2.n);
    for (int i = 0; i < f1.n && i < f2.n; i++) CHECK(f1.items[i].video_id == f2.items[i].video_id);
    vx_feed_free(&f1);
    vx_feed_free(&f2);
    /* The blend's weights decide: one source alone leads the feed. */
    static const struct { vx_feed_blend w; const char *source, *user; } alone[] = {
        {{1, 0, 0, 0, 0}, "content", "fan"}, {{0, 1, 0, 0, 0}, "neighbours", "fan"},
        {{0, 0, 1, 0, 0}, "co-engaged", "follower"}, {{0, 0, 0, 0, 1}, "popular", "fan"}};
    for (size_t a = 0; a < sizeof alone / sizeof *alone; a++) {
        vx_feed_options ao = o;
        ao.blend = alone[a].w;
        REQUIRE(vx_rec_feed(rec, cat, ann, alone[a].user, &ao, &f, &err) == 0);
        CHECK_MSG(f.n > 0 && strcmp(f.items[0].source, alone[a].source) == 0, "%s alone: first from %s",
                  alone[a].source, f.n ? f.items[0].source : "-");
        vx_feed_free(&f);
    }

    /* A reason names what the user did with the video it comes from: liked after a like,
     * watched otherwise (users known only to the recommender: no profile to search by, so
     * the liked or watched video's neighbours and new videos like it come in). */
    for (int w = 0; w < 2; w++) {
        const char *who = w ? "quiet-watcher" : "quiet-liker";
        const vx_event ev = {.video_id = ids[PER_CLUSTER + 1], .type = w ? VX_EVENT_COMPLETE : VX_EVENT_LIKE,
                             .seconds = 10, .ts_ms = NOW_MS - 3000};
        CHECK(vx_rec_observe(rec, who, &ev, 1.0f, &err) == 0);
        REQUIRE(vx_rec_feed(rec, cat, ann, who, &o, &f, &err) == 0);
        int named = 0;
        for (int i = 0; i < f.n; i++)
            if (strstr(f.items[i].reason, ", which you ")) {
                named++;
                CHECK_MSG(strstr(f.items[i].reason, w ? ", which you watched" : ", which you liked"), "%s: %s", who,
                          f.items[i].reason);
            }
        CHECK_MSG(named > 0, "%s: no reason names what they did", who);
        vx_feed_free(&f);
    }

    CHECK(vx_rec_feed(rec, cat, ann, "bad name", &o, &f, &err) == -1);
    vx_rec_close(rec);
    vx_ann_close(ann);
}

static int content_like_item1(void *ctx, uint32_t item, uint32_t *items, float *sims, int k, vx_error *err) {
    (void)ctx, (void)err;
    CHECK(item == 5 && k >= 3); /* only the wanted new item is asked about */
    items[0] = 1, sims[0] = 0.9f;
    items[1] = 5, sims[1] = 0.8f; /* itself: skipped */
    items[2] = 4, sims[2] = 0.3f;
    return 3;
}

static int content_fails(void *ctx, uint32_t item, uint32_t *items, float *sims, int k, vx_error *err) {
    (void)ctx, (void)item, (void)items, (void)sims, (void)k;
    return vx_fail(err, "no vectors");
}

/* Dense ridge regression of item j on every other item: the exact answer the sparse model
 * must give when its neighbourhoods hold every co-engaged item. g is [n][n]. */
static void dense_ridge(const double *g, int stride, int n, int j, double lambda, double *b) {
    double a[8][9];
    int m = 0, idx[8];
    for (int i = 0; i < n; i++)
        if (i != j) idx[m++] = i;
    for (int x = 0; x < m; x++) {
        for (int y = 0; y < m; y++) a[x][y] = g[idx[x] * stride + idx[y]] + (x == y ? lambda : 0);
        a[x][m] = g[idx[x] * stride + j];
    }
    for (int k = 0; k < m; k++) /* Gauss-Jordan, SPD: no pivoting */
        for (int x = 0; x < m; x++) {
            if (x == k) continue;
            const double f = a[x][k] / a[k][k];
            for (int y = k; y <= m; y++) a[x][y] -= f * a[k][y];
        }
    for (int i = 0; i < n; i++) b[i] = 0;
    for (int x = 0; x < m; x++) b[idx[x]] = a[x][m] / a[x][x];
}

static void test_itemmodel(void) {
    /* 6 users, 6 items; item 5 has no users (new). Weights as events give them; user 0
     * engaged with items 0-4, so every pair of them is co-engaged and each item's
     * neighbourhood holds all the others: the sparse model is then the dense ridge. */
    enum { U = 6, I = 6 };
    static const uint32_t items[] = {0, 1, 2, 3, 4, /**/ 0, 1, /**/ 1, 2, 3, /**/ 0, 3, 4, /**/ 2, 4, /**/ 0, 1, 4};
    static const float x[] = {1, 1, 1, 1, 1, /**/ 1, 1, /**/ 2, 1, 1, /**/ 1, 1, 2, /**/ 1, 1, /**/ 1, 2, 1};
    static const uint64_t start[] = {0, 5, 7, 10, 13, 15, 18};
    int64_t t[18];
    for (int k = 0; k < 18; k++) t[k] = (int64_t)k * 86400000LL * 30; /* far apart: no session boost */
    vx_itemmodel_input in = {U, I, start, items, x, t};
    vx_itemmodel_params p;
    vx_itemmodel_params_default(&p);
    p.session_boost = 0;
    p.lambda_self = 0;
    p.pop_penalty = 0;
    p.lambda = 2;
    p.min_support = 1;
    vx_error err;
    vx_itemmodel *m = vx_itemmodel_train(&in, &p, NULL, &err);
    REQUIRE(m);
    double g[I * I] = {0};
    for (int u = 0; u < U; u++)
        for (uint64_t a = start[u]; a < start[u + 1]; a++)
            for (uint64_t b = start[u]; b < start[u + 1]; b++) g[items[a] * I + items[b]] += x[a] * x[b];
    vx_itemscores sc = {0};
    for (uint32_t src = 0; src < 5; src++) { /* a history of one item scores its row of B */
        float one = 1;
        REQUIRE(vx_itemmodel_score(m, &src, &one, 1, &sc) == 0);
        for (int j = 0; j < 5; j++) {
            if ((uint32_t)j == src) continue;
            double b[I];
            dense_ridge(g, I, 5, j, p.lambda, b);
            float got = 0;
            for (uint32_t k = 0; k < sc.n_touched; k++)
                if (sc.item[sc.touched[k]] == (uint32_t)j) got = sc.score[sc.touched[k]];
            CHECK_MSG(fabs(got - b[src]) < 1e-4, "B[%u][%d] = %g, dense ridge %g", src, j, got, b[src]);
        }
    }
    /* A disliked item in a history counts against what it predicts. */
    const uint32_t both[] = {0, 3};
    const float liked_disliked[] = {1, -2}, liked[] = {1, 0};
    float with_dislike = 0, without = 0;
    REQUIRE(vx_itemmodel_score(m, both, liked_disliked, 2, &sc) == 0);
    for (uint32_t k = 0; k < sc.n_touched; k++)
        if (sc.item[sc.touched[k]] == 4) with_dislike = sc.score[sc.touched[k]];
    REQUIRE(vx_itemmodel_score(m, both, liked, 2, &sc) == 0);
    for (uint32_t k = 0; k < sc.n_touched; k++)
        if (sc.item[sc.touched[k]] == 4) without = sc.score[sc.touched[k]];
    double b4[I];
    dense_ridge(g, I, 5, 4, p.lambda, b4);
    CHECK_MSG(fabsf(with_dislike - (float)(b4[0] - 2 * b4[3])) < 1e-4f && fabsf(without - (float)b4[0]) < 1e-4f,
              "item 4 after a like of 0 and a dislike of 3: %g (%g without the dislike)", with_dislike, without);
    vx_itemmodel_stats st;
    vx_itemmodel_stats_get(m, &st);
    CHECK(st.items == I && st.learned == 5 && st.from_content == 0 && st.weights > 0 && st.bytes > 0);
    CHECK(!vx_itemmodel_from_content(m, 5) && !vx_itemmodel_from_content(m, 99));
    vx_itemmodel_free(m);

    /* Supports as training counts them: the users among whose latest max_history
     * engagements an item is (which new items content may speak for). */
    uint32_t sup[I];
    REQUIRE(vx_itemmodel_supports(&in, &p, sup) == 0);
    const uint32_t all_users[I] = {4, 4, 3, 3, 4, 0}, latest_two[I] = {1, 2, 2, 3, 4, 0};
    CHECK(memcmp(sup, all_users, sizeof sup) == 0);
    p.max_history = 2;
    REQUIRE(vx_itemmodel_supports(&in, &p, sup) == 0);
    CHECK_MSG(memcmp(sup, latest_two, sizeof sup) == 0, "supports over the latest two: %u %u %u %u %u %u", sup[0],
              sup[1], sup[2], sup[3], sup[4], sup[5]);
    p.max_history = 500;

    /* Deterministic whatever the threads; a new item scored through its content
     * neighbours, for a user who engaged with them. */
    p.threads = 1;
    vx_itemmodel *one = vx_itemmodel_train(&in, &p, NULL, &err);
    p.threads = 3;
    vx_itemmodel *three = vx_itemmodel_train(&in, &p, NULL, &err);
    REQUIRE(one && three);
    const uint32_t hist[] = {0, 1};
    const float hx[] = {1, 2};
    vx_itemscores s1 = {0};
    REQUIRE(vx_itemmodel_score(one, hist, hx, 2, &s1) == 0 && vx_itemmodel_score(three, hist, hx, 2, &sc) == 0);
    CHECK(s1.n_touched == sc.n_touched);
    for (uint32_t k = 0; k < s1.n_touched; k++)
        CHECK(s1.item[s1.touched[k]] == sc.item[s1.touched[k]] && s1.score[s1.touched[k]] == sc.score[s1.touched[k]]);
    vx_itemscores_free(&s1);
    vx_itemmodel_free(one);
    vx_itemmodel_free(three);
    p.content_weight = 0.5f;
    uint8_t wanted[I] = {0, 0, 0, 0, 0, 1};
    vx_itemmodel_content content = {content_like_item1, NULL, wanted};
    m = vx_itemmodel_train(&in, &p, &content, &err);
    REQUIRE(m);
    vx_itemmodel_stats_get(m, &st);
    CHECK(st.from_content == 1 && vx_itemmodel_from_content(m, 5) && !vx_itemmodel_from_content(m, 1));
    const uint32_t fan[] = {1};
    const float fx[] = {2};
    REQUIRE(vx_itemmodel_score(m, fan, fx, 1, &sc) == 0);
    float s5 = 0;
    for (uint32_t k = 0; k < sc.n_touched; k++)
        if (sc.item[sc.touched[k]] == 5) s5 = sc.score[sc.touched[k]];
    /* item 1's weight into item 5: content weight x similarity / K (item 5 itself skipped) */
    CHECK_MSG(fabsf(s5 - 2 * 0.5f * 0.9f / (float)p.content_neighbours) < 1e-6f && vx_itemmodel_via(m, &sc, 5) == 1, "new item's score %g",
              s5);
    vx_itemmodel_free(m);
    /* A content callback's error stops training with it. */
    content.neighbours = content_fails;
    CHECK(vx_itemmodel_train(&in, &p, &content, &err) == NULL && strstr(err.msg, "no vectors") != NULL);
    vx_itemscores_free(&sc);

    /* One pair, several events: a later dislike or skip undoes positives, a later
     * positive after them counts, otherwise the strongest positive. */
    CHECK(vx_itemmodel_combine(0, 1) == 1 && vx_itemmodel_combine(1, 2) == 2 && vx_itemmodel_combine(2, 1) == 2);
    CHECK(vx_itemmodel_combine(2, -2) == -2 && vx_itemmodel_combine(-2, 1) == 1 && vx_itemmodel_combine(-2, -0.5f) == -2);
    CHECK(vx_itemmodel_combine(0, -0.5f) == -0.5f && vx_itemmodel_combine(-0.5f, -2) == -2);
}

static void test_cograph(void) {
    /* users 0,1,2; items 0..3.  0:{0,1}  1:{0,2}  2:{0,2,3} */
    vx_cograph *g = vx_cograph_new();
    uint32_t edges[][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 2}, {2, 0}, {2, 2}, {2, 3}, {2, 3}};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) CHECK(vx_cograph_add(g, edges[i][0], edges[i][1]) == 0);
    CHECK(vx_cograph_item_degree(g, 0) == 3 && vx_cograph_item_degree(g, 3) == 1 && vx_cograph_user_degree(g, 2) == 3);
    vx_cograph_params p = {.alpha = 1, .beta = 0, .max_fanout = 0, .max_history = 0};
    vx_coscores s = {0};
    REQUIRE(vx_cograph_score(g, 0, &p, &s) == 0);
    /* user 0 -> item 0 (1/2) -> users 0,1,2 (1/3 each) -> their items; -> item 1 (1/2) -> user 0 */
    float want2 = 0.5f * (1.0f / 3) * (0.5f + 1.0f / 3), want3 = 0.5f * (1.0f / 3) * (1.0f / 3);
    CHECK(fabsf(s.score[2] - want2) < 1e-6f && fabsf(s.score[3] - want3) < 1e-6f);
    CHECK(s.via[2] == 0 && s.via[3] == 0);
    p.beta = 1; /* the popularity penalty divides by the degree */
    REQUIRE(vx_cograph_score(g, 0, &p, &s) == 0);
    CHECK(fabsf(s.score[2] - want2 / 2) < 1e-6f && fabsf(s.score[3] - want3) < 1e-6f);
    vx_cograph_remove(g, 2, 3);
    REQUIRE(vx_cograph_score(g, 0, &p, &s) == 0);
    CHECK(s.score[3] == 0 && vx_cograph_item_degree(g, 3) == 0);
    REQUIRE(vx_cograph_score(g, 99, &p, &s) == 0); /* unknown user: nothing */
    CHECK(s.n_touched == 0);
    vx_coscores_free(&s);
    vx_cograph_free(g);

    /* The path budget: user 0 engaged with items 0..9 in order; co-viewer 1+i shares
     * item i and also has item 100+i (two paths each). A budget of 6 paths covers the
     * three newest items only, and says it stopped. */
    g = vx_cograph_new();
    for (uint32_t i = 0; i < 10; i++) {
        REQUIRE(vx_cograph_add(g, 0, i) == 0);
        REQUIRE(vx_cograph_add(g, 1 + i, i) == 0);
        REQUIRE(vx_cograph_add(g, 1 + i, 100 + i) == 0);
    }
    memset(&s, 0, sizeof s);
    p = (vx_cograph_params){.alpha = 1, .beta = 0, .max_fanout = 0, .max_history = 0, .max_paths = 6};
    REQUIRE(vx_cograph_score(g, 0, &p, &s) == 0);
    CHECK(s.truncated && s.paths == 6);
    CHECK(s.score[109] > 0 && s.score[108] > 0 && s.score[107] > 0 && s.score[106] == 0 && s.score[100] == 0);
    p.max_paths = 0; /* no budget: every path, the same scores for the items reached before */
    const float s109 = s.score[109];
    REQUIRE(vx_cograph_score(g, 0, &p, &s) == 0);
    CHECK(!s.truncated && s.paths == 20 && s.score[100] > 0 && s.score[109] == s109);
    vx_coscores_free(&s);
    vx_cograph_free(g);
}

/* Whether the cache holds key (version 0). */
static int lru_has(vx_lru *c, uint64_t key) {
    size_t len;
    const void *v = vx_lru_borrow(c, key, 0, &len);
    vx_lru_release(v);
    return v != NULL;
}

static void test_idmap_and_cache(void) {
    vx_idmap m = {0};
    for (uint64_t k = 1; k <= 5000; k++) CHECK(vx_idmap_put(&m, k * 7919, k << 32 | k) == 0);
    for (uint64_t k = 1; k <= 5000; k += 2) vx_idmap_del(&m, k * 7919);
    int ok = 1;
    for (uint64_t k = 1; k <= 5000; k++) {
        uint64_t v = 0;
        ok &= vx_idmap_get(&m, k * 7919, &v) == !(k % 2) && (k % 2 || v == (k << 32 | k));
    }
    CHECK(ok && m.n == 2500);
    vx_idmap_free(&m);

    vx_query_cache *c = vx_query_cache_new(2, 3);
    REQUIRE(c);
    int32_t a[] = {49406, 320, 49407}, b[] = {49406, 321, 49407}, d[] = {49406, 322, 49407};
    float ea[3] = {1, 0, 0}, eb[3] = {0, 1, 0}, ed[3] = {0, 0, 1}, out[3];
    CHECK(!vx_query_cache_get(c, 1, a, 3, out));
    vx_query_cache_put(c, 1, a, 3, ea);
    vx_query_cache_put(c, 1, b, 3, eb);
    CHECK(vx_query_cache_get(c, 1, a, 3, out) && out[0] == 1); /* a is now the most recent */
    vx_query_cache_put(c, 1, d, 3, ed);                          /* evicts b */
    CHECK(!vx_query_cache_get(c, 1, b, 3, out));
    CHECK(vx_query_cache_get(c, 1, d, 3, out) && out[2] == 1);
    CHECK(vx_query_cache_get(c, 1, a, 2, out) == 0); /* a prefix is another query */
    CHECK(vx_query_cache_get(c, 2, a, 3, out) == 0); /* the same ids of another tower too */
    CHECK(vx_query_cache_size(c) == 2);
    vx_query_cache_free(c);

    /* A lent value outlives its eviction and its replacement; stale versions miss. */
    vx_lru *l = vx_lru_new(1, 0);
    REQUIRE(l);
    size_t len = 0;
    vx_lru_put(l, 7, 1, "seven", 6);
    CHECK(vx_lru_borrow(l, 7, 2, &len) == NULL);
    const char *lent = vx_lru_borrow(l, 7, 1, &len);
    CHECK(lent && len == 6);
    vx_lru_put(l, 7, 1, "SEVEN", 6); /* replaced while lent */
    vx_lru_put(l, 8, 1, "eight", 6); /* and evicted */
    CHECK(lent && strcmp(lent, "seven") == 0);
    vx_lru_release(lent);
    CHECK(vx_lru_borrow(l, 7, 1, &len) == NULL);
    const char *other = vx_lru_borrow(l, 8, 1, &len);
    vx_lru_free(l); /* the cache goes; the borrower's reference stays good */
    CHECK(other && strcmp(other, "eight") == 0);
    vx_lru_release(other);

    /* A byte budget: the least recently used go until the new value fits; a value
     * larger than the budget is not kept; entries beyond keep their order. */
    static char big[12000];
    vx_lru *bc = vx_lru_new(100, 10000);
    REQUIRE(bc);
    for (uint64_t k = 1; k <= 10; k++) vx_lru_put(bc, k, 0, big, 4000);
    CHECK(vx_lru_bytes(bc) <= 10000 && vx_lru_size(bc) == 2);
    CHECK(lru_has(bc, 10) && lru_has(bc, 9) && !lru_has(bc, 8));
    for (uint64_t k = 20; k < 40; k++) vx_lru_put(bc, k, 0, big, 100); /* small ones crowd out a big one */
    CHECK(vx_lru_size(bc) == 21 && lru_has(bc, 9) && !lru_has(bc, 10)); /* 10 was used least recently */
    vx_lru_put(bc, 99, 0, big, 11000); /* over the budget alone: not kept, nothing evicted */
    CHECK(!lru_has(bc, 99) && vx_lru_size(bc) == 21);
    for (uint64_t k = 20; k < 40; k++) CHECK(lru_has(bc, k));
    vx_lru_put(bc, 25, 0, big, 200); /* replaced: the count stays */
    CHECK(vx_lru_size(bc) == 21 && vx_lru_bytes(bc) <= 10000);
    vx_lru_free(bc);
}

/* Defaults leave nothing undefined: a feed asked with them caches nothing by mistake. */
static void test_feed_options_default(void) {
    vx_feed_options o;
    memset(&o, 0xa5, sizeof o);
    vx_feed_options_default(&o);
    CHECK(o.k == 20 && o.now_ms == 0);
    CHECK_MSG(o.ann_version == 0, "ann_version left as %llu", (unsigned long long)o.ann_version);
}

/* The feed writer: what it writes parses, with every value as given (the score rounded
 * to 4 places), strings escaped, and bytes that are not UTF-8 replaced, not dropped. */
static void test_feed_writer(void) {
    vx_feed_item items[2] = {
        {.video_id = 0x9f2c04a1b3d4e5f6ULL, .score = 0.64291f, .title = "a \"quoted\"\\ title\n",
         .path = "/v/caf\xc3\xa9.mp4", .reason = "like \xff, which you liked", .source = "co-engaged"},
        {.video_id = 1, .score = 1, .title = NULL, .path = "/v/x.mp4", .reason = "new", .source = "fresh"},
    };
    for (int known = 0; known < 2; known++) {
        vx_feed f = {.items = items, .n = known ? 2 : 0, .known_user = known, .n_events = known ? 1000 : 0};
        vx_buf b = {0};
        vx_feed_write(&b, "user-1", 0.26, &f);
        REQUIRE(!b.oom);
        json_error_t jerr;
        json_t *doc = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
        CHECK_MSG(doc, "does not parse: %s: %.*s", jerr.text, (int)b.len, (const char *)b.data);
        vx_buf_free(&b);
        if (!doc) continue;
        CHECK(strcmp(json_string_value(json_object_get(doc, "user")), "user-1") == 0);
        CHECK(json_real_value(json_object_get(doc, "took_ms")) == 0.3);
        CHECK(json_is_boolean(json_object_get(doc, "new_user")) && json_is_true(json_object_get(doc, "new_user")) == !known);
        CHECK(json_integer_value(json_object_get(doc, "events")) == (known ? 1000 : 0));
        json_t *its = json_object_get(doc, "items");
        CHECK(json_array_size(its) == (size_t)f.n);
        if (known) {
            json_t *a = json_array_get(its, 0), *c = json_array_get(its, 1);
            CHECK(strcmp(json_string_value(json_object_get(a, "video_id")), "9f2c04a1b3d4e5f6") == 0);
            CHECK(strcmp(json_string_value(json_object_get(a, "title")), "a \"quoted\"\\ title\n") == 0);
            CHECK(strcmp(json_string_value(json_object_get(a, "path")), "/v/caf\xc3\xa9.mp4") == 0);
            CHECK(json_real_value(json_object_get(a, "score")) == 0.6429);
            CHECK(strcmp(json_string_value(json_object_get(a, "reason")), "like \xef\xbf\xbd, which you liked") == 0);
            CHECK(strcmp(json_string_value(json_object_get(a, "source")), "co-engaged") == 0);
            CHECK(strcmp(json_string_value(json_object_get(a, "thumbnail")), "/thumbs/9f2c04a1b3d4e5f6.jpg") == 0);
            CHECK(json_is_null(json_object_get(c, "title")));
            CHECK(json_is_real(json_object_get(c, "score")) && json_real_value(json_object_get(c, "score")) == 1.0);
            CHECK(json_object_size(c) == 7);
        }
        json_decref(doc);
    }
}

int main(void) {
    test_feed_writer();
    test_itemmodel();
    test_cograph();
    test_feed_options_default();
    test_idmap_and_cache();
    char *dir = test_tmpdir("recommend");
    vx_error err;
    vx_catalog *cat = vx_catalog_open(dir, 1, &err);
    if (!cat) { fprintf(stderr, "%s\n", err.msg); return 1; }
    /* Clusters of videos; the older ones first, so freshness does not follow clusters. */
    for (int c = 0; c < CLUSTERS; c++)
        for (int i = 0; i < PER_CLUSTER; i++)
            ids[n_videos++] = add_video(cat, c, i, NOW_MS / 1000 - 86400 * (10 + (i * CLUSTERS + c) % 7), VX_VIDEO_INDEXED, 0);
    add_video(cat, 1, 90, NOW_MS / 1000, VX_VIDEO_FAILED, 0);
    add_video(cat, 1, 91, NOW_MS / 1000, VX_VIDEO_REMOVED, 0);
    uint64_t dup = add_video(cat, 0, 92, NOW_MS / 1000, VX_VIDEO_INDEXED, ids[4]);
    vx_event_stored st;
    vx_event_request q = {.user = "copycat", .video_id = dup, .type = VX_EVENT_LIKE, .seconds = -1};
    CHECK(vx_event_record(cat, &q, NOW_MS, &st, &err) == 0 && st.event.video_id == ids[4]); /* counts for the original */
    test_events(cat);
    test_feeds(cat, dir);
    vx_catalog_close(cat);
    test_rmtree(dir);
    free(dir);
    return check_failures ? 1 : 0;
}
