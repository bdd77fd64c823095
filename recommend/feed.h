/* vidx recommend: per-user feeds.
 *
 * The recommender keeps in memory what ranking needs and LevelDB does not answer fast:
 * the recommendable videos (indexed originals) with their age and decayed popularity,
 * each user's engagements (video, combined weight, time), and the learned item model
 * (itemmodel.h). Videos and engagements are loaded from the catalog at open (one scan of
 * videos and events) and kept current with vx_rec_observe (each recorded event) and
 * vx_rec_video_changed (each indexed video). The model is trained aside from a snapshot
 * of the engagements and swapped in whole (vx_rec_build_model, or its three steps for a
 * caller that trains on its own thread); until the first one a feed has no co-engaged
 * source.
 *
 * A feed (documented in recommend/README.md) gathers candidates from five sources:
 *   content     nearest videos to the user's profile vector (ANN)
 *   neighbours  nearest videos to each of the user's latest positives (ANN)
 *   co-engaged  the item model's scores from the user's engagements, read live
 *   fresh       the newest videos
 *   popular     the most engaged-with videos, popularity decaying with time
 * drops what the user has seen or disliked, blends the normalised source scores with
 * weights (vx_feed_blend), and picks the final order by maximal marginal relevance (relevance
 * against similarity to what is already picked, weight `diversity`). Each item says
 * why it is there.
 *
 * Thread-safe: feeds read under a shared lock, updates take it exclusively. The ANN
 * passed in must not change during the call (the caller's lock).
 */
#ifndef VX_FEED_H
#define VX_FEED_H

#include <stdint.h>

#include "../ann/ann.h"
#include "../common/error.h"
#include "../common/idmap.h"
#include "../schemas/catalog.h"
#include "itemmodel.h"

#define VX_FEED_MAX_K 200
/* A user's latest engagements the item model scores a feed from (bench_recommend's too:
 * the cost of a feed is this times the weights per video). */
#define VX_FEED_MODEL_HISTORY 384

typedef struct vx_recommender vx_recommender;

vx_recommender *vx_rec_open(vx_catalog *cat, vx_error *err);
void vx_rec_close(vx_recommender *r);

/* After an event was stored (see events.h). */
int vx_rec_observe(vx_recommender *r, const char *user, const vx_event *e, float fraction, vx_error *err);
/* After a video was indexed, changed, failed or removed. */
int vx_rec_video_changed(vx_recommender *r, vx_catalog *cat, uint64_t video_id, vx_error *err);

/* How much each source counts in the blend (recommend/README.md: tuned on MovieLens with
 * held-out films by bench_recommend --served). */
typedef struct vx_feed_blend {
    float content, neighbours, coengaged, fresh, popular;
} vx_feed_blend;

typedef struct vx_feed_options {
    int k;            /* items (1..VX_FEED_MAX_K) */
    vx_feed_blend blend; /* the service's defaults from vx_feed_options_default */
    float diversity;  /* 0 = by relevance only .. 1 = most diverse; default 0.3 */
    int64_t now_ms;   /* clock for freshness and decay; 0 = now */
    uint64_t ann_version; /* changes whenever the vector index does: neighbour lists of
                             videos are cached until then (0 = do not cache) */
} vx_feed_options;

void vx_feed_options_default(vx_feed_options *o);

typedef struct vx_feed_item {
    uint64_t video_id;
    float score;       /* blended relevance in [0, 1] */
    const char *source;/* "content", "neighbours", "co-engaged", "fresh", "popular" */
    char *reason;      /* for people: "like Big Buck Bunny, which you liked" */
    char *title, *path;
} vx_feed_item;

typedef struct vx_feed {
    vx_feed_item *items;
    int n;
    int known_user;    /* the user has events */
    uint64_t n_events;
} vx_feed;

int vx_rec_feed(vx_recommender *r, vx_catalog *cat, vx_ann *ann, const char *user, const vx_feed_options *o,
                vx_feed *out, vx_error *err);
void vx_feed_free(vx_feed *f);

/* Counts for /metrics and `vidx info`. */
void vx_rec_stats(vx_recommender *r, uint64_t *users, uint64_t *videos, uint64_t *edges);

/* ---- the item model -------------------------------------------------------------------------
 * A model is due when there is engagement and none yet, when the engagements recorded
 * since its snapshot pass a twentieth of all, or with any change at all when it is older
 * than VX_REC_MODEL_MAX_AGE_S or took less than VX_REC_MODEL_CHEAP_S to train (a small
 * catalog's model is always current). */
#define VX_REC_MODEL_MAX_AGE_S 300
#define VX_REC_MODEL_CHEAP_S 0.5
#define VX_REC_MODEL_NEW_MAX 20000 /* new videos (too few users) given content neighbours, the newest */

/* The nearest videos to a video by content: up to k ids and cosines, best first; the
 * number found (0: no vector), or -1 with err. */
typedef int (*vx_rec_similar_fn)(void *ctx, uint64_t video_id, uint64_t *ids, float *sims, int k, vx_error *err);
/* A vx_rec_similar_fn over the video index (its own vectors); ctx is the vx_ann, which
 * must not change during the call (the caller's lock). */
int vx_rec_ann_similar(void *ctx, uint64_t video_id, uint64_t *ids, float *sims, int k, vx_error *err);

/* The engagements a model is trained from, copied under the recommender's lock. */
typedef struct vx_rec_training {
    vx_itemmodel_input in; /* arrays owned */
    uint64_t *video_ids;   /* [in.n_items]: the video of each item */
    uint8_t *live;         /* [in.n_items]: recommendable (content neighbours only for these) */
    int64_t *created_at;   /* [in.n_items]: the newest VX_REC_MODEL_NEW_MAX new videos get them */
    vx_idmap item_of;      /* video id -> item */
    uint64_t observed;     /* engagements recorded when taken */
} vx_rec_training;

int vx_rec_training_take(vx_recommender *r, vx_rec_training *t, vx_error *err);
/* Trains (no lock held; seconds at 100,000 videos) on `threads` threads (0: the model's
 * default). similar may be NULL: no content side. */
vx_itemmodel *vx_rec_training_run(const vx_rec_training *t, vx_rec_similar_fn similar, void *ctx, int threads,
                                  vx_error *err);
void vx_rec_training_free(vx_rec_training *t);
/* Swaps m in (the recommender owns it from now on; the old model is freed). */
void vx_rec_set_model(vx_recommender *r, vx_itemmodel *m, const vx_rec_training *t);
/* take + run + set, on the caller's thread. */
int vx_rec_build_model(vx_recommender *r, vx_rec_similar_fn similar, void *ctx, vx_error *err);
int vx_rec_model_due(vx_recommender *r);
/* Seconds until a model is due without further engagement: 0 when it is now, INFINITY
 * when only new engagement can make it due. */
double vx_rec_model_due_in(vx_recommender *r);

typedef struct vx_rec_model_info {
    int built;
    vx_itemmodel_stats stats;
    double age_s;           /* since it was swapped in */
    uint64_t changes_since; /* engagements recorded since its snapshot */
} vx_rec_model_info;
void vx_rec_model_info_get(vx_recommender *r, vx_rec_model_info *out);

#endif
