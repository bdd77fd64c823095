/* vidx recommend: the learned item model behind the feeds' "co-engaged" source.
 *
 * A sparse item-item regression in the manner of EASE (Steck, "Embarrassingly shallow
 * autoencoders for sparse data", 2019), made to scale: EASE solves one ridge regression
 * of every item's engagement column on all the other items (a dense items x items
 * inverse: fine for thousands of items, impossible for a million videos). Here item j's
 * regression uses only its M strongest co-engaged items N(j):
 *
 *   (G_NN + diag(lambda + c G_xx)) b_j = G_Nj,       G = X' W X
 *
 * with X the users' engagement weights (vx_event_weight: a like counts twice a complete
 * or a full view, a dislike or skip against) and W weighting each pair of engagements of
 * one user by 1 + eta e^(-|dt| / tau) (together in one sitting they say more than months
 * apart). c lifts the ridge in proportion to an item's own weight (Steck's "emphasised
 * denoising" variant, 2020); the weights into j are divided by (users of j + 1)^gamma,
 * which takes out part of the pull towards what everybody watched. A user's scores are
 * then x_u B: their history's rows of the sparse B, summed, the cost of history x M.
 * Measured on MovieLens against dense EASE on the same splits: bench/bench_recommend.c.
 *
 * Content: an item with fewer than min_support engaged users (a new upload) gets its
 * incoming weights from its K nearest engaged items by content (the caller's neighbours,
 * CLIP embeddings in the service), content_weight x similarity / K each, so that it is
 * recommended to people who engaged with what it looks like.
 * content_weight was tuned on held-out items (bench_recommend's cold-item protocol).
 *
 * Training is a pure function of its input and may run on any thread; a model is
 * read-only afterwards and may be shared by any number of readers.
 */
#ifndef VX_ITEMMODEL_H
#define VX_ITEMMODEL_H

#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"

typedef struct vx_itemmodel_params {
    float lambda;           /* ridge (default 150) */
    float lambda_self;      /* c: ridge added per unit of the item's own weight (default 1) */
    float session_boost;    /* eta (default 2) */
    float session_seconds;  /* tau: seconds apart at which the boost falls to 1/e (default 300) */
    float pop_penalty;      /* gamma (default 0.1) */
    int neighbours;         /* M: regressors per item (default 200) */
    float select_exp;       /* neighbours ranked by G_ij / (G_ii + 1)^this (default 0.5) */
    int min_support;        /* users an item needs to be learned from engagement (default 2) */
    int max_history;        /* each user's latest engagements used in training (default 500) */
    float content_weight;   /* new items' weight from content neighbours (default: tuned) */
    int content_neighbours; /* engaged neighbours a new item takes (default 20) */
    int threads;            /* training threads (default 2) */
    int max_out;            /* weights kept per source item, the largest (0: all) */
    int max_content_out;    /* ... of those into new items (default 16; 0: all) */
} vx_itemmodel_params;

void vx_itemmodel_params_default(vx_itemmodel_params *p);

/* What the model learns from: each user's engagements, by user (CSR). Items are dense
 * indices 0..n_items-1; a user lists an item at most once, with its combined weight
 * (vx_itemmodel_combine) and the time of the latest engagement. */
typedef struct vx_itemmodel_input {
    uint32_t n_users, n_items;
    const uint64_t *start; /* [n_users + 1] */
    const uint32_t *item;  /* [start[n_users]] */
    const float *weight;   /* signed engagement weight; 0 = seen, no signal */
    const int64_t *t_ms;   /* unix milliseconds */
} vx_itemmodel_input;

/* A new item's nearest items by content: fills up to k (item, similarity) pairs, best
 * first, and returns how many (0 when it has no content), or -1 to stop training with
 * err set. Items returned that have too few users themselves are skipped. */
typedef int (*vx_itemmodel_content_fn)(void *ctx, uint32_t item, uint32_t *items, float *sims, int k, vx_error *err);

typedef struct vx_itemmodel_content {
    vx_itemmodel_content_fn neighbours;
    void *ctx;
    const uint8_t *wanted; /* [n_items]: new items to ask about (1), NULL = every new item */
} vx_itemmodel_content;

typedef struct vx_itemmodel vx_itemmodel;

/* content may be NULL (no content side). NULL with err on failure (out of memory, or
 * the content callback's error). */
vx_itemmodel *vx_itemmodel_train(const vx_itemmodel_input *in, const vx_itemmodel_params *p,
                                 const vx_itemmodel_content *content, vx_error *err);
void vx_itemmodel_free(vx_itemmodel *m);

typedef struct vx_itemmodel_stats {
    uint32_t items;          /* items the model knows (indices below this) */
    uint32_t learned;        /* items with weights learned from engagement */
    uint32_t from_content;   /* new items with weights from content neighbours */
    uint64_t weights;        /* non-zero weights */
    size_t bytes;            /* memory held */
    double train_s;          /* wall time of training */
} vx_itemmodel_stats;

void vx_itemmodel_stats_get(const vx_itemmodel *m, vx_itemmodel_stats *out);

/* The weight an engagement event gives the pair user-item. One user-item pair with
 * several events: a later dislike or skip undoes earlier positives, otherwise the
 * strongest positive counts. */
float vx_itemmodel_combine(float current, float event_weight);

/* 1 when the item's weights come from its content neighbours (a new item), else 0. */
int vx_itemmodel_from_content(const vx_itemmodel *m, uint32_t item);

/* Each item's support as training counts it (the users among whose latest max_history
 * engagements it is), into support[in->n_items]: the items under min_support are the
 * ones content can speak for. 0, or -1 when out of memory. */
int vx_itemmodel_supports(const vx_itemmodel_input *in, const vx_itemmodel_params *p, uint32_t *support);

/* Scores of one user: scratch space, one per thread, reusable. */
typedef struct vx_itemscores {
    uint32_t *touched;    /* the targets reached, n_touched of them: item[t] is the item, */
    float *score;         /* score[t] its summed weights */
    const uint32_t *item;
    uint32_t n_touched;
    /* private: the history scored, for vx_itemmodel_via */
    uint32_t cap, x_cap, n_hist;
    uint32_t *hpos;    /* [n] place in hist + 1, 0 = not in it */
    uint64_t *in_hist; /* [n / 64] the same as bits: a fiftieth the size, in cache for via */
    uint32_t *hist;
    float *x;
} vx_itemscores;

void vx_itemscores_free(vx_itemscores *s);

/* Scores every item reachable from a history (items and weights, n of them; items the
 * model does not know are skipped). Returns 0, or -1 when out of memory. */
int vx_itemmodel_score(const vx_itemmodel *m, const uint32_t *items, const float *weights, uint32_t n,
                       vx_itemscores *s);
/* The history item that contributed most to item's score in the last vx_itemmodel_score
 * (what a feed names as the reason), UINT32_MAX when none did. */
uint32_t vx_itemmodel_via(const vx_itemmodel *m, const vx_itemscores *s, uint32_t item);

#endif
