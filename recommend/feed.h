/* vidx recommend: per-user feeds.
 *
 * The recommender keeps in memory what ranking needs and LevelDB does not answer fast:
 * the recommendable videos (indexed originals) with their age and decayed popularity,
 * each user's seen videos, and the co-engagement graph (cograph.h). It is loaded from
 * the catalog at open (one scan of videos and events) and kept current with
 * vx_rec_observe (each recorded event) and vx_rec_video_changed (each indexed video).
 *
 * A feed (documented in recommend/README.md) gathers candidates from five sources:
 *   content     nearest videos to the user's profile vector (ANN)
 *   neighbours  nearest videos to each of the user's latest positives (ANN)
 *   co-engaged  the co-engagement walk from the user's positives
 *   fresh       the newest videos
 *   popular     the most engaged-with videos, popularity decaying with time
 * drops what the user has seen or disliked, blends the normalised source scores with
 * fixed weights, and picks the final order by maximal marginal relevance (relevance
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
#include "../schemas/catalog.h"

#define VX_FEED_MAX_K 200

typedef struct vx_recommender vx_recommender;

vx_recommender *vx_rec_open(vx_catalog *cat, vx_error *err);
void vx_rec_close(vx_recommender *r);

/* After an event was stored (see events.h). */
int vx_rec_observe(vx_recommender *r, const char *user, const vx_event *e, float fraction, vx_error *err);
/* After a video was indexed, changed, failed or removed. */
int vx_rec_video_changed(vx_recommender *r, vx_catalog *cat, uint64_t video_id, vx_error *err);

typedef struct vx_feed_options {
    int k;            /* items (1..VX_FEED_MAX_K) */
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

#endif
