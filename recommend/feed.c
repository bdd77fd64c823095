#include "feed.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/hash.h"
#include "../common/idmap.h"
#include "../common/log.h"
#include "../common/small_gemm.h"
#include "../common/lru.h"
#include "../common/vecmath.h"
#include "events.h"


#define N_CONTENT 100       /* nearest videos to the profile */
#define N_RECENT 3          /* latest positives whose neighbours are candidates */
#define N_NEIGHBOURS 30     /* neighbours of each */
#define N_COENGAGED 100
#define N_FRESH 50
#define N_POPULAR 50
#define GLOBAL_KEEP 256      /* newest / most popular kept for everyone, before exclusions */
#define FRESH_HALF_LIFE_DAYS 7.0
#define POPULAR_HALF_LIFE_DAYS 7.0
#define SCRATCH_KEEP 8       /* scoring scratch areas kept for reuse */
#define CONTENT_HISTORY_MAX 64 /* users with this many engagements: no profile search (see personal_sources) */

typedef struct rec_video {
    uint64_t id;
    char *title, *path; /* what a feed item shows, kept here: a feed reads no video record */
    int64_t created_at; /* unix seconds */
    double duration;
    double pop;         /* sum of positive weights * 2^((t - pop_t0) / half-life) */
    uint8_t live;       /* an indexed original: recommendable */
} rec_video;

typedef struct seen {
    uint32_t item;
    uint8_t positive, disliked, last_type;
    float x;         /* the engagement's weight for the item model (vx_itemmodel_combine) */
    int64_t last_ms;
} seen;

typedef struct rec_user {
    uint64_t key;
    seen *s;
    uint32_t n, cap;
} rec_user;

struct vx_recommender {
    pthread_rwlock_t lock;
    rec_video *videos;
    uint32_t n_videos, cap_videos;
    uint32_t n_live; /* videos with live set, kept as they change (stats are read per request) */
    vx_idmap video_idx;
    rec_user *users;
    uint32_t n_users, cap_users;
    vx_idmap user_idx;
    int64_t pop_t0_ms;
    uint64_t n_edges;
    vx_lru *neighbours; /* video id -> its nearest videos (vx_ann_hit[]), per index version */
    uint64_t changes;   /* bumped by every update */
    /* The newest and most popular videos, the same for everyone: recomputed at most
     * once a second or after a change, instead of a pass over every video per feed. */
    pthread_mutex_t global_mu;
    uint64_t global_changes;
    int64_t global_at_ms;
    uint32_t global_fresh[GLOBAL_KEEP], global_pop[GLOBAL_KEEP];
    int n_global_fresh, n_global_pop;
    double max_pop;
    /* The item model, swapped whole under the write lock. */
    vx_itemmodel *model;
    uint64_t observed;       /* engagements recorded (loaded or observed) */
    uint64_t model_observed; /* ... when the model's snapshot was taken */
    double model_at;         /* vx_now() when it was swapped in */
    /* Scratch of the model's scoring (three arrays over every video), kept between feeds
     * instead of allocated and zeroed for each: one per feed in flight. */
    pthread_mutex_t scratch_mu;
    vx_itemscores *scratch[SCRATCH_KEEP];
    int n_scratch;
};

static vx_itemscores *take_scratch(vx_recommender *r) {
    pthread_mutex_lock(&r->scratch_mu);
    vx_itemscores *s = r->n_scratch ? r->scratch[--r->n_scratch] : NULL;
    pthread_mutex_unlock(&r->scratch_mu);
    return s ? s : calloc(1, sizeof *s);
}

static void give_scratch(vx_recommender *r, vx_itemscores *s) {
    pthread_mutex_lock(&r->scratch_mu);
    if (r->n_scratch < SCRATCH_KEEP) {
        r->scratch[r->n_scratch++] = s;
        s = NULL;
    }
    pthread_mutex_unlock(&r->scratch_mu);
    if (s) {
        vx_itemscores_free(s);
        free(s);
    }
}

static uint64_t user_key(const char *name) {
    uint64_t k = vx_hash64(name, strlen(name));
    return k == 0 || k == UINT64_MAX ? 1 : k; /* 0 marks empty idmap slots */
}

/* Index of a video, created (not live) when new; -1 when out of memory. */
static int64_t video_slot(vx_recommender *r, uint64_t id) {
    int64_t i = vx_idmap_index(&r->video_idx, id);
    if (i >= 0) return i;
    if (r->n_videos == r->cap_videos) {
        uint32_t cap = r->cap_videos ? 2 * r->cap_videos : 1024;
        rec_video *v = realloc(r->videos, (size_t)cap * sizeof *v);
        if (!v) return -1;
        r->videos = v;
        r->cap_videos = cap;
    }
    if (vx_idmap_put(&r->video_idx, id, r->n_videos)) return -1;
    r->videos[r->n_videos] = (rec_video){.id = id};
    return r->n_videos++;
}

static int64_t user_slot(vx_recommender *r, const char *name, int create) {
    uint64_t key = user_key(name);
    int64_t i = vx_idmap_index(&r->user_idx, key);
    if (i >= 0 || !create) return i;
    if (r->n_users == r->cap_users) {
        uint32_t cap = r->cap_users ? 2 * r->cap_users : 256;
        rec_user *u = realloc(r->users, (size_t)cap * sizeof *u);
        if (!u) return -1;
        r->users = u;
        r->cap_users = cap;
    }
    if (vx_idmap_put(&r->user_idx, key, r->n_users)) return -1;
    r->users[r->n_users] = (rec_user){.key = key};
    return r->n_users++;
}

static void set_video(vx_recommender *r, uint32_t i, const vx_video *v) {
    rec_video *x = &r->videos[i];
    if (!x->title || strcmp(x->title, v->title)) {
        free(x->title);
        x->title = strdup(v->title); /* NULL when out of memory: feeds read the record then */
    }
    if (!x->path || strcmp(x->path, v->path)) {
        free(x->path);
        x->path = strdup(v->path);
    }
    x->created_at = v->created_at;
    x->duration = v->duration;
    /* Copies and re-uploads are never offered: their original stands for them. */
    const uint8_t live = v->status == VX_VIDEO_INDEXED && !v->duplicate_of && !v->near_duplicate_of;
    if (live != x->live) {
        if (live) r->n_live++;
        else r->n_live--;
    }
    x->live = live;
}

static int load_video(void *ctx, const vx_video *v) {
    vx_recommender *r = ctx;
    int64_t i = video_slot(r, v->id);
    if (i < 0) return 1;
    set_video(r, (uint32_t)i, v);
    return 0;
}

/* The in-memory part of an event: seen set, graph edge, popularity. */
static int apply(vx_recommender *r, const char *user, const vx_event *e, float fraction) {
    int64_t u = user_slot(r, user, 1), v = video_slot(r, e->video_id);
    if (u < 0 || v < 0) return -1;
    rec_user *x = &r->users[u];
    seen *s = NULL;
    for (uint32_t i = 0; i < x->n; i++)
        if (x->s[i].item == (uint32_t)v) { s = &x->s[i]; break; }
    if (!s) {
        if (x->n == x->cap) {
            uint32_t cap = x->cap ? 2 * x->cap : 8;
            seen *n = realloc(x->s, (size_t)cap * sizeof *n);
            if (!n) return -1;
            x->s = n;
            x->cap = cap;
        }
        s = &x->s[x->n++];
        *s = (seen){.item = (uint32_t)v};
    }
    if (e->ts_ms >= s->last_ms) {
        s->last_ms = e->ts_ms;
        s->last_type = e->type;
    }
    if (vx_event_is_positive(e->type, fraction, e->seconds)) {
        r->n_edges += !s->positive;
        s->positive = 1;
        s->disliked = 0;
    } else if (vx_event_is_negative(e->type)) {
        r->n_edges -= s->positive;
        s->positive = 0;
        s->disliked = 1;
    }
    float w = vx_event_weight(e->type, fraction);
    s->x = vx_itemmodel_combine(s->x, w);
    r->observed++;
    if (w > 0)
        r->videos[v].pop += w * exp2((double)(e->ts_ms - r->pop_t0_ms) / (POPULAR_HALF_LIFE_DAYS * 86400e3));
    return 0;
}

typedef struct load_events {
    vx_recommender *r;
    int failed;
} load_events;

static int load_event(void *ctx, const char *user, uint32_t seq, const vx_event *e) {
    (void)seq;
    load_events *l = ctx;
    int64_t v = vx_idmap_index(&l->r->video_idx, e->video_id);
    double d = v >= 0 ? l->r->videos[v].duration : 0;
    float fraction = d > 0 ? (float)fmin(1.0, e->seconds / d) : -1.0f;
    if (apply(l->r, user, e, fraction)) { l->failed = 1; return 1; }
    return 0;
}

vx_recommender *vx_rec_open(vx_catalog *cat, vx_error *err) {
    vx_recommender *r = calloc(1, sizeof *r);
    if (!r) {
        vx_fail(err, "out of memory");
        return NULL;
    }
    pthread_rwlock_init(&r->lock, NULL);
    pthread_mutex_init(&r->global_mu, NULL);
    pthread_mutex_init(&r->scratch_mu, NULL);
    r->global_changes = UINT64_MAX;
    if (!(r->neighbours = vx_lru_new(16384, 0))) {
        vx_rec_close(r);
        vx_fail(err, "out of memory");
        return NULL;
    }
    r->pop_t0_ms = vx_wall_ms();
    load_events l = {r, 0};
    double t0 = vx_now();
    if (vx_catalog_scan_videos(cat, load_video, r, NULL, err) ||
        vx_catalog_scan_events(cat, NULL, load_event, &l, NULL, err)) {
        vx_rec_close(r);
        return NULL;
    }
    if (l.failed || r->n_videos == UINT32_MAX) {
        vx_rec_close(r);
        vx_fail(err, "out of memory loading the recommender");
        return NULL;
    }
    vx_debug("recommender: %u videos, %u users, %llu engagements loaded in %.2f s", r->n_videos, r->n_users,
                 (unsigned long long)r->n_edges, vx_now() - t0);
    return r;
}

void vx_rec_close(vx_recommender *r) {
    if (!r) return;
    for (uint32_t i = 0; i < r->n_users; i++) free(r->users[i].s);
    free(r->users);
    for (uint32_t i = 0; i < r->n_videos; i++) {
        free(r->videos[i].title);
        free(r->videos[i].path);
    }
    free(r->videos);
    vx_idmap_free(&r->video_idx);
    vx_idmap_free(&r->user_idx);
    vx_itemmodel_free(r->model);
    vx_lru_free(r->neighbours);
    pthread_mutex_destroy(&r->global_mu);
    for (int i = 0; i < r->n_scratch; i++) {
        vx_itemscores_free(r->scratch[i]);
        free(r->scratch[i]);
    }
    pthread_mutex_destroy(&r->scratch_mu);
    pthread_rwlock_destroy(&r->lock);
    free(r);
}

int vx_rec_observe(vx_recommender *r, const char *user, const vx_event *e, float fraction, vx_error *err) {
    pthread_rwlock_wrlock(&r->lock);
    int rc = apply(r, user, e, fraction);
    r->changes++;
    pthread_rwlock_unlock(&r->lock);
    return rc ? vx_fail(err, "out of memory") : 0;
}

int vx_rec_video_changed(vx_recommender *r, vx_catalog *cat, uint64_t video_id, vx_error *err) {
    vx_video v;
    int found = vx_catalog_get_video(cat, video_id, &v, err);
    if (found < 0) return -1;
    pthread_rwlock_wrlock(&r->lock);
    int64_t i = video_slot(r, video_id);
    if (i >= 0) {
        if (found == 0) set_video(r, (uint32_t)i, &v);
        else {
            r->n_live -= r->videos[i].live;
            r->videos[i].live = 0;
        }
    }
    r->changes++;
    pthread_rwlock_unlock(&r->lock);
    if (found == 0) vx_video_clear(&v);
    return i < 0 ? vx_fail(err, "out of memory") : 0;
}

void vx_rec_stats(vx_recommender *r, uint64_t *users, uint64_t *videos, uint64_t *edges) {
    pthread_rwlock_rdlock(&r->lock);
    *users = r->n_users;
    *videos = r->n_live;
    *edges = r->n_edges;
    pthread_rwlock_unlock(&r->lock);
}

void vx_feed_options_default(vx_feed_options *o) {
    o->k = 20;
    /* Chosen on MovieLens with held-out films (bench_recommend --served, recommend/README.md):
     * the most held-out films found for at most 1% less NDCG@10 than the best blend. */
    o->blend = (vx_feed_blend){.content = 0.05f, .neighbours = 0.05f, .coengaged = 0.45f, .fresh = 0.025f,
                               .popular = 0.01f};
    o->diversity = 0.3f;
    o->now_ms = 0;
    o->ann_version = 0; /* no caching unless the caller knows the index's version */
}

void vx_feed_free(vx_feed *f) {
    for (int i = 0; i < f->n; i++) {
        free(f->items[i].reason);
        free(f->items[i].title);
        free(f->items[i].path);
    }
    free(f->items);
    memset(f, 0, sizeof *f);
}

/* ---- the feed ---------------------------------------------------------------------------- */

enum { SRC_CONTENT, SRC_NEIGHBOURS, SRC_COENGAGED, SRC_FRESH, SRC_POPULAR, N_SOURCES };
static const char *const source_names[N_SOURCES] = {"content", "neighbours", "co-engaged", "fresh", "popular"};

typedef struct cand {
    uint32_t item;
    float s[N_SOURCES];    /* raw source scores, 0 = not from that source */
    uint32_t via[N_SOURCES];/* the user's video a personal source came from */
    float blend;
    int best_source;
} cand;

typedef struct cands {
    cand *c;
    int n, cap;
    vx_idmap slot;
} cands;

static cand *cand_get(cands *cs, uint32_t item) {
    int64_t i = vx_idmap_index(&cs->slot, (uint64_t)item + 1);
    if (i >= 0) return &cs->c[i];
    if (cs->n == cs->cap) {
        int cap = cs->cap ? 2 * cs->cap : 256;
        cand *c = realloc(cs->c, (size_t)cap * sizeof *c);
        if (!c) return NULL;
        cs->c = c;
        cs->cap = cap;
    }
    if (vx_idmap_put(&cs->slot, (uint64_t)item + 1, (uint32_t)cs->n)) return NULL;
    cand *c = &cs->c[cs->n++];
    memset(c, 0, sizeof *c);
    c->item = item;
    return c;
}

/* Keeps the n best (item, score) pairs seen: a min-heap on score, so that most offers
 * cost one comparison and a kept one log n (a feed offers thousands). */
typedef struct topn {
    uint32_t *item;
    float *score;
    int n, cap;
} topn;

static void heap_swap(topn *t, int a, int b) {
    const uint32_t i = t->item[a];
    const float s = t->score[a];
    t->item[a] = t->item[b];
    t->score[a] = t->score[b];
    t->item[b] = i;
    t->score[b] = s;
}

static void top_push(topn *t, uint32_t item, float score) {
    if (t->n < t->cap) {
        int at = t->n++;
        t->item[at] = item;
        t->score[at] = score;
        while (at > 0 && t->score[(at - 1) / 2] > t->score[at]) {
            heap_swap(t, at, (at - 1) / 2);
            at = (at - 1) / 2;
        }
        return;
    }
    if (!(score > t->score[0])) return;
    t->item[0] = item;
    t->score[0] = score;
    for (int at = 0;;) {
        const int l = 2 * at + 1, r = l + 1;
        int least = at;
        if (l < t->n && t->score[l] < t->score[least]) least = l;
        if (r < t->n && t->score[r] < t->score[least]) least = r;
        if (least == at) break;
        heap_swap(t, at, least);
        at = least;
    }
}

#define MINE 1       /* the user's video (seen or disliked): never offered */
#define MINE_LIKED 2 /* ... and their latest event on it a like */

typedef struct feed_run {
    vx_recommender *r;
    vx_catalog *cat;
    vx_ann *ann;
    const char *user;
    const rec_user *u;  /* NULL for a user without events */
    int64_t user_idx;
    cands cs;
    vx_itemscores *sc; /* the model's scores of this user, kept to explain the items shown */
    uint8_t *mine;     /* [n_videos]: MINE_* flags of the user's videos */
    vx_error *err;
} feed_run;

/* Adds hits as candidates of source src. */
static int add_hits(feed_run *F, const vx_ann_hit *hits, int n, int src, uint32_t via) {
    for (int i = 0; i < n; i++) {
        int64_t item = vx_idmap_index(&F->r->video_idx, hits[i].video_id);
        if (item < 0 || F->mine[item] || hits[i].score <= 0) continue;
        cand *c = cand_get(&F->cs, (uint32_t)item);
        if (!c) return vx_fail(F->err, "out of memory");
        if (hits[i].score > c->s[src]) {
            c->s[src] = hits[i].score;
            c->via[src] = via;
        }
    }
    return 0;
}

/* Adds the nearest videos to q as candidates of source src. */
static int from_ann(feed_run *F, const float *q, int k, int src, uint32_t via) {
    vx_ann_hit hits[N_CONTENT];
    int n = vx_ann_search_videos(F->ann, q, k, hits, F->err);
    return n < 0 ? -1 : add_hits(F, hits, n, src, via);
}

/* The nearest videos to one of the user's videos: the same for every user, so cached
 * until the index changes. */
static int from_neighbours(feed_run *F, uint32_t item, const vx_feed_options *o) {
    const uint64_t id = F->r->videos[item].id;
    size_t len = 0;
    vx_ann_hit *hits = o->ann_version ? vx_lru_get(F->r->neighbours, id, o->ann_version, &len) : NULL;
    if (hits) {
        int rc = add_hits(F, hits, (int)(len / sizeof *hits), SRC_NEIGHBOURS, item);
        free(hits);
        return rc;
    }
    const int dim = vx_ann_dim(F->ann);
    float *q = malloc((size_t)(dim > 0 ? dim : 1) * sizeof *q);
    if (!q) return vx_fail(F->err, "out of memory");
    int r = vx_ann_video_vector_or_stored(F->ann, F->cat, id, q, F->err); /* none: no neighbours */
    vx_ann_hit found[N_NEIGHBOURS];
    int n = r == 0 ? vx_ann_search_videos(F->ann, q, N_NEIGHBOURS, found, F->err) : r < 0 ? -1 : 0;
    free(q);
    if (n < 0) return -1;
    if (r) return 0;
    if (o->ann_version) vx_lru_put(F->r->neighbours, id, o->ann_version, found, (size_t)n * sizeof *found);
    return add_hits(F, found, n, SRC_NEIGHBOURS, item);
}

/* co-engaged: the item model's scores from the user's latest engagements, as they are
 * now (an event counts in the next feed; the model itself is rebuilt on a schedule). */
static int from_model(feed_run *F) {
    vx_recommender *r = F->r;
    const rec_user *u = F->u;
    if (!r->model) return 0;
    const uint32_t from = u->n > VX_FEED_MODEL_HISTORY ? u->n - VX_FEED_MODEL_HISTORY : 0; /* latest first seen */
    uint32_t items[VX_FEED_MODEL_HISTORY];
    float x[VX_FEED_MODEL_HISTORY];
    uint32_t n = 0;
    for (uint32_t i = from; i < u->n; i++)
        if (u->s[i].x != 0) {
            items[n] = u->s[i].item;
            x[n++] = u->s[i].x;
        }
    vx_itemscores *sc = F->sc = take_scratch(r);
    if (!sc || vx_itemmodel_score(r->model, items, x, n, sc)) return vx_fail(F->err, "out of memory");
    uint32_t best[N_COENGAGED];
    float scores[N_COENGAGED];
    topn t = {best, scores, 0, N_COENGAGED};
    float floor = 0; /* the score to beat: 0, then the least of a full top list */
    for (uint32_t i = 0; i < sc->n_touched; i++) {
        const float score = sc->score[sc->touched[i]];
        if (!(score > floor)) continue;
        const uint32_t j = sc->item[sc->touched[i]];
        if (j >= r->n_videos || F->mine[j]) continue;
        top_push(&t, j, score);
        if (t.n == t.cap) floor = t.score[0];
    }
    int rc = 0;
    for (int i = 0; i < t.n; i++) {
        cand *c = cand_get(&F->cs, t.item[i]);
        if (!c) { rc = vx_fail(F->err, "out of memory"); break; }
        c->s[SRC_COENGAGED] = t.score[i];
        c->via[SRC_COENGAGED] = UINT32_MAX; /* found for the items shown (reason_for) */
    }
    return rc;
}

/* content, neighbours and co-engaged: the sources that need the user's history. */
static int personal_sources(feed_run *F, const vx_feed_options *o) {
    const rec_user *u = F->u;
    const int dim = vx_ann_dim(F->ann);
    /* co-engaged: the item model's scores from the user's latest engagements */
    int from_the_model = F->cs.n;
    if (from_model(F)) return -1;
    from_the_model = F->cs.n - from_the_model;
    /* content: nearest videos to the profile vector; for a user with a long history the
     * model has candidates enough and better, and this search would be most of the feed's
     * cost (the profile averages hundreds of videos) */
    if (u->n < CONTENT_HISTORY_MAX || from_the_model < N_COENGAGED / 2) {
        vx_user rec = {0};
        int got = vx_catalog_get_user(F->cat, F->user, &rec, F->err);
        if (got < 0) return -1;
        if (got == 0 && (int)rec.dim == dim && dim > 0) {
            vx_normalize(rec.profile, rec.dim);
            if (vx_dot(rec.profile, rec.profile, rec.dim) > 0.5f && /* not all zero */
                from_ann(F, rec.profile, N_CONTENT, SRC_CONTENT, UINT32_MAX)) {
                vx_user_clear(&rec);
                return -1;
            }
        }
        vx_user_clear(&rec);
    }
    /* neighbours: of the latest positives (latest first, the earlier listed on a tie) */
    uint32_t recent[N_RECENT];
    int64_t recent_ms[N_RECENT];
    int n_recent = 0;
    for (uint32_t i = 0; i < u->n; i++) {
        if (!u->s[i].positive) continue;
        int at = n_recent;
        while (at > 0 && u->s[i].last_ms > recent_ms[at - 1]) at--;
        if (at == N_RECENT) continue;
        for (int j = (n_recent < N_RECENT ? n_recent : N_RECENT - 1); j > at; j--) {
            recent[j] = recent[j - 1];
            recent_ms[j] = recent_ms[j - 1];
        }
        recent[at] = u->s[i].item;
        recent_ms[at] = u->s[i].last_ms;
        if (n_recent < N_RECENT) n_recent++;
    }
    for (int i = 0; i < n_recent; i++)
        if (from_neighbours(F, recent[i], o)) return -1;
    return 0;
}

static double freshness(const rec_video *v, int64_t now) {
    double age_days = (double)(now / 1000 - v->created_at) / 86400.0;
    return exp2(-(age_days > 0 ? age_days : 0) / FRESH_HALF_LIFE_DAYS);
}

/* fresh and popular, for everyone; also gives every candidate its fresh and popular scores. */
static int by_score_desc(const void *a, const void *b) {
    const float *x = a, *y = b;
    return (x[1] < y[1]) - (x[1] > y[1]);
}

/* Sorts a topn's items best first into out. */
static int sorted_items(const topn *t, uint32_t *out) {
    float pairs[GLOBAL_KEEP][2];
    for (int i = 0; i < t->n; i++) {
        memcpy(&pairs[i][0], &t->item[i], sizeof(float)); /* the item's bits ride along */
        pairs[i][1] = t->score[i];
    }
    qsort(pairs, (size_t)t->n, sizeof pairs[0], by_score_desc);
    for (int i = 0; i < t->n; i++) memcpy(&out[i], &pairs[i][0], sizeof(uint32_t));
    return t->n;
}

/* The shared newest and most popular lists, recomputed when stale. Called under the
 * recommender's read lock. */
static void refresh_global(vx_recommender *r, int64_t now) {
    if (r->global_changes == r->changes && now >= r->global_at_ms && now - r->global_at_ms < 1000) return;
    uint32_t fi[GLOBAL_KEEP], pi[GLOBAL_KEEP];
    float fs[GLOBAL_KEEP], ps[GLOBAL_KEEP];
    topn fresh = {fi, fs, 0, GLOBAL_KEEP}, pop = {pi, ps, 0, GLOBAL_KEEP};
    double max_pop = 0;
    for (uint32_t i = 0; i < r->n_videos; i++) {
        const rec_video *v = &r->videos[i];
        if (!v->live) continue;
        if (v->pop > max_pop) max_pop = v->pop;
        /* Ties (same second) broken by position: later loaded, later indexed. */
        top_push(&fresh, i, (float)(v->created_at - now / 1000) + (float)i * 1e-6f);
        if (v->pop > 0) top_push(&pop, i, (float)v->pop);
    }
    r->n_global_fresh = sorted_items(&fresh, r->global_fresh);
    r->n_global_pop = sorted_items(&pop, r->global_pop);
    r->max_pop = max_pop;
    r->global_changes = r->changes;
    r->global_at_ms = now;
}

/* fresh and popular, for everyone; also gives every candidate its fresh and popular scores. */
static int global_sources(feed_run *F, int64_t now, double *max_pop) {
    vx_recommender *r = F->r;
    uint32_t fresh[GLOBAL_KEEP], pop[GLOBAL_KEEP];
    pthread_mutex_lock(&r->global_mu);
    refresh_global(r, now);
    int n_fresh = r->n_global_fresh, n_pop = r->n_global_pop;
    memcpy(fresh, r->global_fresh, (size_t)n_fresh * sizeof *fresh);
    memcpy(pop, r->global_pop, (size_t)n_pop * sizeof *pop);
    *max_pop = r->max_pop;
    pthread_mutex_unlock(&r->global_mu);
    for (int i = 0, taken = 0; i < n_fresh && taken < N_FRESH; i++) {
        if (F->mine[fresh[i]]) continue;
        if (!cand_get(&F->cs, fresh[i])) return vx_fail(F->err, "out of memory");
        taken++;
    }
    for (int i = 0, taken = 0; i < n_pop && taken < N_POPULAR; i++) {
        if (F->mine[pop[i]]) continue;
        if (!cand_get(&F->cs, pop[i])) return vx_fail(F->err, "out of memory");
        taken++;
    }
    for (int i = 0; i < F->cs.n; i++) {
        cand *c = &F->cs.c[i];
        const rec_video *v = &r->videos[c->item];
        c->s[SRC_FRESH] = (float)freshness(v, now);
        c->s[SRC_POPULAR] = *max_pop > 0 ? (float)(log1p(v->pop / *max_pop * 100) / log1p(100)) : 0;
    }
    return 0;
}

/* Normalises the personal sources to [0, 1] and blends. */
static void blend(feed_run *F, const vx_feed_blend *w) {
    float source_weights[N_SOURCES];
    source_weights[SRC_CONTENT] = w->content;
    source_weights[SRC_NEIGHBOURS] = w->neighbours;
    source_weights[SRC_COENGAGED] = w->coengaged;
    source_weights[SRC_FRESH] = w->fresh;
    source_weights[SRC_POPULAR] = w->popular;
    for (int s = 0; s < N_SOURCES; s++) source_weights[s] = source_weights[s] > 0 ? source_weights[s] : 0;
    float max[N_SOURCES] = {0};
    for (int i = 0; i < F->cs.n; i++)
        for (int s = 0; s < N_SOURCES; s++)
            if (F->cs.c[i].s[s] > max[s]) max[s] = F->cs.c[i].s[s];
    max[SRC_FRESH] = max[SRC_POPULAR] = 1; /* absolute scales */
    float total = 0;
    for (int s = 0; s < N_SOURCES; s++)
        if (max[s] > 0) total += source_weights[s];
    for (int i = 0; i < F->cs.n; i++) {
        cand *c = &F->cs.c[i];
        c->blend = 0;
        float best = -1;
        for (int s = 0; s < N_SOURCES; s++) {
            if (max[s] <= 0) continue;
            float term = source_weights[s] * c->s[s] / max[s];
            c->blend += term;
            if (term > best) { best = term; c->best_source = s; }
        }
        if (total > 0) c->blend /= total;
    }
}

static int by_blend(const void *a, const void *b) {
    const cand *x = a, *y = b;
    return x->blend < y->blend ? 1 : x->blend > y->blend ? -1 : (x->item > y->item) - (x->item < y->item);
}

/* The video's title and path, from memory (or its record when they could not be kept). */
static int shown_as(vx_recommender *r, vx_catalog *cat, uint32_t item, char **title, char **path) {
    const rec_video *x = &r->videos[item];
    if (x->title && x->path) {
        *title = strdup(x->title);
        if (path) *path = strdup(x->path);
        return 0;
    }
    vx_video v;
    vx_error e;
    if (vx_catalog_get_video(cat, x->id, &v, &e) != 0) return -1;
    *title = strdup(v.title);
    if (path) *path = strdup(v.path);
    vx_video_clear(&v);
    return 0;
}

static char *title_of(feed_run *F, uint32_t item) {
    char *t = NULL;
    return shown_as(F->r, F->cat, item, &t, NULL) == 0 ? t : strdup("a video");
}

static char *reason_for(feed_run *F, const cand *c) {
    char buf[600];
    uint32_t via = c->via[c->best_source];
    if (c->best_source == SRC_COENGAGED && via == UINT32_MAX && F->sc) via = vx_itemmodel_via(F->r->model, F->sc, c->item);
    if (via >= F->r->n_videos) via = c->item; /* never: a score has a source */
    switch (c->best_source) {
    case SRC_CONTENT: return strdup("matches what you watch");
    case SRC_NEIGHBOURS:
    case SRC_COENGAGED: {
        char *t = title_of(F, via);
        const char *did = F->mine[via] & MINE_LIKED ? "liked" : "watched";
        /* a new video's co-engaged score comes from its content neighbours */
        if (c->best_source == SRC_NEIGHBOURS || vx_itemmodel_from_content(F->r->model, c->item))
            snprintf(buf, sizeof buf, "like %.256s, which you %s", t ? t : "?", did);
        else snprintf(buf, sizeof buf, "people who watched %.256s also watched this", t ? t : "?");
        free(t);
        return strdup(buf);
    }
    case SRC_FRESH: return strdup("new");
    default: return strdup("popular");
    }
}

/* Maximal marginal relevance over the best n candidates (sorted by blend): each pick
 * maximises (1 - d) blend - d (its highest similarity to an earlier pick). That penalty
 * only grows as picks are made, so a candidate's last computed value bounds what it is
 * worth now: the best bound is brought up to date against the picks made since, and
 * taken once it is current. The same picks as scoring every candidate against every
 * pick, reading only the vectors of those that come near the top (in place in the
 * index where it holds them: vx_ann_video_vector_view). */
typedef struct pooled {
    const float *v;  /* its vector, or NULL when it has none (then never penalised) */
    float max_sim;   /* highest similarity to a pick compared so far (at least 0) */
    int checked;     /* picks with vectors it has been compared against */
    uint8_t fetched, taken;
} pooled;

typedef struct mmr {
    feed_run *F;
    float d;
    int n, dim;
    pooled *p;
    float *picked;  /* [picks with vectors][dim] */
    int n_picked;
    float *sims;    /* [k] */
    float *copies;  /* [n][dim], for vectors not held in place in the index */
} mmr;

static int mmr_vector(mmr *M, int i) {
    pooled *p = &M->p[i];
    if (p->fetched || M->dim <= 0) return 0;
    p->fetched = 1;
    const uint64_t id = M->F->r->videos[M->F->cs.c[i].item].id;
    const int g = vx_ann_video_vector_view(M->F->ann, M->F->cat, id, M->copies + (size_t)i * M->dim, &p->v, M->F->err);
    if (g) p->v = NULL;
    return g < 0 ? -1 : 0;
}

/* The next pick (marked taken, its vector added to the picks'), -1 when none is left,
 * -2 on error. */
static int mmr_pick(mmr *M) {
    for (;;) {
        int best = -1;
        float best_v = -INFINITY;
        for (int i = 0; i < M->n; i++) {
            if (M->p[i].taken) continue;
            const float v = (1 - M->d) * M->F->cs.c[i].blend - M->d * M->p[i].max_sim;
            if (v > best_v) { best_v = v; best = i; }
        }
        if (best < 0) return -1;
        pooled *p = &M->p[best];
        if (mmr_vector(M, best)) return -2;
        if (p->v && p->checked < M->n_picked) {
            const int since = M->n_picked - p->checked;
            vx_dot_rows(p->v, M->picked + (size_t)p->checked * M->dim, since, M->dim, M->sims);
            for (int j = 0; j < since; j++)
                if (M->sims[j] > p->max_sim) p->max_sim = M->sims[j];
            p->checked = M->n_picked;
            continue; /* its value may have dropped below another's bound */
        }
        p->taken = 1;
        if (p->v) memcpy(M->picked + (size_t)M->n_picked++ * M->dim, p->v, (size_t)M->dim * sizeof *p->v);
        return best;
    }
}

int vx_rec_feed(vx_recommender *r, vx_catalog *cat, vx_ann *ann, const char *user, const vx_feed_options *o,
                vx_feed *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    if (!vx_user_name_valid(user))
        return vx_fail(err, "user: must be " VX_USER_NAME_RULE);
    const int k = o->k < 1 ? 1 : o->k > VX_FEED_MAX_K ? VX_FEED_MAX_K : o->k;
    const float d = o->diversity < 0 ? 0 : o->diversity > 1 ? 1 : o->diversity;
    const int64_t now = o->now_ms ? o->now_ms : vx_wall_ms();
    int rc = -1;
    pthread_rwlock_rdlock(&r->lock);
    feed_run F = {.r = r, .cat = cat, .ann = ann, .user = user, .err = err};
    F.mine = calloc(r->n_videos ? r->n_videos : 1, 1);
    if (!F.mine || vx_idmap_init(&F.cs.slot, 512)) { vx_fail(err, "out of memory"); goto done; }
    F.user_idx = user_slot(r, user, 0);
    if (F.user_idx >= 0) {
        F.u = &r->users[F.user_idx];
        out->known_user = 1;
        for (uint32_t i = 0; i < F.u->n; i++)
            F.mine[F.u->s[i].item] = MINE | (F.u->s[i].last_type == VX_EVENT_LIKE ? MINE_LIKED : 0);
        if (personal_sources(&F, o)) goto done;
    }
    double max_pop;
    if (global_sources(&F, now, &max_pop)) goto done;
    /* Only recommendable videos (the ANN holds only those, the graph may not). */
    int n = 0;
    for (int i = 0; i < F.cs.n; i++)
        if (r->videos[F.cs.c[i].item].live && !F.mine[F.cs.c[i].item]) F.cs.c[n++] = F.cs.c[i];
    F.cs.n = n;
    blend(&F, &o->blend);
    qsort(F.cs.c, (size_t)F.cs.n, sizeof *F.cs.c, by_blend);
    /* Diversify the best of the pool by maximal marginal relevance (mmr_pick). */
    mmr M = {.F = &F, .d = d, .n = F.cs.n < 3 * k + 10 ? F.cs.n : 3 * k + 10, .dim = vx_ann_dim(ann)};
    out->items = calloc((size_t)k, sizeof *out->items);
    M.p = calloc((size_t)M.n + 1, sizeof *M.p);
    M.picked = malloc((size_t)k * (size_t)(M.dim > 0 ? M.dim : 1) * sizeof *M.picked);
    M.sims = malloc((size_t)k * sizeof *M.sims);
    M.copies = malloc((size_t)(M.n ? M.n : 1) * (size_t)(M.dim > 0 ? M.dim : 1) * sizeof *M.copies);
    if (!out->items || !M.p || !M.picked || !M.sims || !M.copies) {
        vx_fail(err, "out of memory");
        goto mmr_done;
    }
    while (out->n < k) {
        const int best = mmr_pick(&M);
        if (best == -1) break;
        if (best < 0) goto mmr_done;
        cand *c = &F.cs.c[best];
        vx_feed_item *it = &out->items[out->n++];
        it->video_id = r->videos[c->item].id;
        it->score = c->blend;
        it->source = source_names[c->best_source];
        it->reason = reason_for(&F, c);
        if (shown_as(r, cat, c->item, &it->title, &it->path) || !it->reason || !it->title || !it->path) {
            vx_fail(err, "video %016llx: cannot read its record", (unsigned long long)it->video_id);
            goto mmr_done;
        }
    }
    out->n_events = F.u ? F.u->n : 0;
    rc = 0;
mmr_done:
    free(M.p);
    free(M.picked);
    free(M.sims);
    free(M.copies);
done:
    pthread_rwlock_unlock(&r->lock);
    if (F.sc) give_scratch(r, F.sc);
    free(F.cs.c);
    vx_idmap_free(&F.cs.slot);
    free(F.mine);
    if (rc) vx_feed_free(out);
    return rc;
}

/* ---- the item model ------------------------------------------------------------------------ */

int vx_rec_ann_similar(void *ctx, uint64_t video_id, uint64_t *ids, float *sims, int k, vx_error *err) {
    vx_ann *ann = ctx;
    const int dim = vx_ann_dim(ann);
    if (dim <= 0 || k <= 0) return 0;
    float *q = malloc((size_t)dim * sizeof *q);
    vx_ann_hit *hits = malloc((size_t)(k + 1) * sizeof *hits);
    int n = -1;
    if (!q || !hits) vx_fail(err, "out of memory");
    else {
        int got = vx_ann_video_vector(ann, video_id, q, err);
        n = got < 0 ? -1 : got ? 0 : vx_ann_search_videos(ann, q, k + 1, hits, err);
    }
    int out = 0;
    for (int i = 0; i < n && out < k; i++) {
        if (hits[i].video_id == video_id) continue;
        ids[out] = hits[i].video_id;
        sims[out++] = hits[i].score;
    }
    free(q);
    free(hits);
    return n < 0 ? -1 : out;
}

void vx_rec_training_free(vx_rec_training *t) {
    free((void *)t->in.start);
    free((void *)t->in.item);
    free((void *)t->in.weight);
    free((void *)t->in.t_ms);
    free(t->video_ids);
    free(t->live);
    free(t->created_at);
    vx_idmap_free(&t->item_of);
    memset(t, 0, sizeof *t);
}

typedef struct newest { int64_t created_at; uint32_t item; } newest;
static int by_newest(const void *a, const void *b) {
    const newest *x = a, *y = b;
    return (x->created_at < y->created_at) - (x->created_at > y->created_at);
}

int vx_rec_training_take(vx_recommender *r, vx_rec_training *t, vx_error *err) {
    memset(t, 0, sizeof *t);
    pthread_rwlock_rdlock(&r->lock);
    uint64_t total = 0;
    for (uint32_t u = 0; u < r->n_users; u++) total += r->users[u].n;
    const uint32_t n_items = r->n_videos;
    const size_t items = n_items ? n_items : 1;
    uint64_t *start = malloc(((size_t)r->n_users + 1) * sizeof *start);
    uint32_t *item = malloc((size_t)(total ? total : 1) * sizeof *item);
    float *w = malloc((size_t)(total ? total : 1) * sizeof *w);
    int64_t *ts = malloc((size_t)(total ? total : 1) * sizeof *ts);
    t->video_ids = malloc(items * sizeof *t->video_ids);
    t->live = malloc(items);
    t->created_at = malloc(items * sizeof *t->created_at);
    t->in = (vx_itemmodel_input){r->n_users, n_items, start, item, w, ts};
    int ok = start && item && w && ts && t->video_ids && t->live && t->created_at &&
             vx_idmap_init(&t->item_of, n_items) == 0;
    if (ok) {
        uint64_t at = 0;
        for (uint32_t u = 0; u < r->n_users; u++) {
            start[u] = at;
            for (uint32_t i = 0; i < r->users[u].n; i++) {
                const seen *s = &r->users[u].s[i];
                item[at] = s->item;
                w[at] = s->x;
                ts[at++] = s->last_ms;
            }
        }
        start[r->n_users] = at;
        for (uint32_t i = 0; i < n_items && ok; i++) {
            t->video_ids[i] = r->videos[i].id;
            t->live[i] = r->videos[i].live;
            t->created_at[i] = r->videos[i].created_at;
            ok = vx_idmap_put(&t->item_of, r->videos[i].id, i) == 0;
        }
        t->observed = r->observed;
    }
    pthread_rwlock_unlock(&r->lock);
    if (!ok) {
        vx_rec_training_free(t);
        return vx_fail(err, "out of memory taking the item model's input");
    }
    return 0;
}

/* The new videos to give content neighbours: recommendable, with too few users for
 * training to learn them from (counted as training counts them), the newest
 * VX_REC_MODEL_NEW_MAX of them. wanted[in.n_items]. */
static int new_videos(const vx_rec_training *t, const vx_itemmodel_params *p, uint8_t *wanted) {
    const uint32_t n_items = t->in.n_items;
    uint32_t *support = malloc((size_t)(n_items ? n_items : 1) * sizeof *support);
    newest *fresh = malloc((size_t)(n_items ? n_items : 1) * sizeof *fresh);
    if (!support || !fresh || vx_itemmodel_supports(&t->in, p, support)) {
        free(support);
        free(fresh);
        return -1;
    }
    uint32_t n_fresh = 0;
    for (uint32_t i = 0; i < n_items; i++)
        if (t->live[i] && support[i] < (uint32_t)p->min_support) fresh[n_fresh++] = (newest){t->created_at[i], i};
    if (n_fresh > VX_REC_MODEL_NEW_MAX) qsort(fresh, n_fresh, sizeof *fresh, by_newest);
    memset(wanted, 0, n_items);
    for (uint32_t i = 0; i < n_fresh && i < VX_REC_MODEL_NEW_MAX; i++) wanted[fresh[i].item] = 1;
    free(support);
    free(fresh);
    return 0;
}

/* The model's content callback over video ids. */
typedef struct content_by_id {
    const vx_rec_training *t;
    vx_rec_similar_fn similar;
    void *ctx;
    uint64_t *ids;
    int cap;
} content_by_id;

static int content_of_item(void *ctx, uint32_t item, uint32_t *items, float *sims, int k, vx_error *err) {
    content_by_id *c = ctx;
    if (item >= c->t->in.n_items) return 0;
    if (k > c->cap) {
        uint64_t *ids = realloc(c->ids, (size_t)k * sizeof *ids);
        if (!ids) return vx_fail(err, "out of memory");
        c->ids = ids;
        c->cap = k;
    }
    int n = c->similar(c->ctx, c->t->video_ids[item], c->ids, sims, k, err);
    int out = 0;
    for (int i = 0; i < n; i++) {
        const int64_t j = vx_idmap_index(&c->t->item_of, c->ids[i]);
        if (j < 0) continue; /* indexed after the snapshot */
        items[out] = (uint32_t)j;
        sims[out++] = sims[i];
    }
    return n < 0 ? -1 : out;
}

vx_itemmodel *vx_rec_training_run(const vx_rec_training *t, vx_rec_similar_fn similar, void *ctx, int threads,
                                  vx_error *err) {
    vx_itemmodel_params p;
    vx_itemmodel_params_default(&p);
    if (threads > 0) p.threads = threads;
    uint8_t *wanted = NULL;
    if (similar && (!(wanted = malloc(t->in.n_items ? t->in.n_items : 1)) || new_videos(t, &p, wanted))) {
        free(wanted);
        vx_fail(err, "out of memory choosing the new videos of the item model");
        return NULL;
    }
    content_by_id c = {t, similar, ctx, NULL, 0};
    vx_itemmodel_content content = {content_of_item, &c, wanted};
    vx_itemmodel *m = vx_itemmodel_train(&t->in, &p, similar ? &content : NULL, err);
    free(c.ids);
    free(wanted);
    return m;
}

void vx_rec_set_model(vx_recommender *r, vx_itemmodel *m, const vx_rec_training *t) {
    pthread_rwlock_wrlock(&r->lock);
    vx_itemmodel *old = r->model;
    r->model = m;
    r->model_observed = t->observed;
    r->model_at = vx_now();
    r->changes++;
    pthread_rwlock_unlock(&r->lock);
    vx_itemmodel_free(old);
}

int vx_rec_build_model(vx_recommender *r, vx_rec_similar_fn similar, void *ctx, vx_error *err) {
    vx_rec_training t;
    if (vx_rec_training_take(r, &t, err)) return -1;
    vx_itemmodel *m = vx_rec_training_run(&t, similar, ctx, 0, err);
    if (m) vx_rec_set_model(r, m, &t);
    vx_rec_training_free(&t);
    return m ? 0 : -1;
}

double vx_rec_model_due_in(vx_recommender *r) {
    pthread_rwlock_rdlock(&r->lock);
    const uint64_t since = r->observed - r->model_observed;
    double in = INFINITY;
    if (!r->model) {
        if (r->observed > 0) in = 0;
    } else if (since > 0) {
        vx_itemmodel_stats st;
        vx_itemmodel_stats_get(r->model, &st);
        /* a model that trains in well under a second is rebuilt on any change */
        if (since > r->observed / 20 || st.train_s < VX_REC_MODEL_CHEAP_S) in = 0;
        else in = fmax(0, r->model_at + VX_REC_MODEL_MAX_AGE_S - vx_now());
    }
    pthread_rwlock_unlock(&r->lock);
    return in;
}

int vx_rec_model_due(vx_recommender *r) { return vx_rec_model_due_in(r) <= 0; }

void vx_rec_model_info_get(vx_recommender *r, vx_rec_model_info *out) {
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&r->lock);
    if (r->model) {
        out->built = 1;
        vx_itemmodel_stats_get(r->model, &out->stats);
        out->age_s = vx_now() - r->model_at;
    }
    out->changes_since = r->observed - r->model_observed;
    pthread_rwlock_unlock(&r->lock);
}
