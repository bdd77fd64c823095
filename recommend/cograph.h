/* vidx recommend: the co-engagement graph ("people who engaged with X also engaged
 * with Y") and its scoring walk.
 *
 * A bipartite graph of users and items (dense indices 0..n-1, mapped from names and
 * video ids by the caller) with an edge for every positive engagement. A user's scores
 * come from three-step random walks user -> item -> user -> item, the RP3beta scheme
 * (Paudel et al., "Updatable, accurate, diverse, and scalable recommendations for
 * interactive applications", 2017):
 *
 *   score(u, j) = sum over paths u-i-v-j of  p(u->i)^a * p(i->v)^a * p(v->j)^a
 *                 / popularity(j)^b
 *
 * with p the uniform transition probability of each step (1/degree) and popularity the
 * item's degree. a > 1 sharpens towards strong links, b > 0 takes the bias towards
 * popular items back out. Updates are O(1) (add or remove one edge); scoring one user
 * costs the number of paths, bounded by starting from the user's `max_history` latest
 * items, following no more than `max_fanout` users per item (the latest ones), and
 * stopping after about `max_paths` paths: the newest items and users are walked first,
 * so on a dense graph the budget cuts the oldest links, never the freshest.
 *
 * The feeds' collaborative source until the learned item model (itemmodel.h) replaced
 * it: kept for bench_recommend, which prints it beside the model on the same splits.
 * Not thread-safe: callers serialise writers against readers.
 */
#ifndef VX_COGRAPH_H
#define VX_COGRAPH_H

#include <stdint.h>

typedef struct vx_cograph vx_cograph;

typedef struct vx_cograph_params {
    float alpha;    /* exponent of the transition probabilities (default 0.8) */
    float beta;     /* popularity penalty (default 0.6) */
    int max_fanout; /* users followed per item, the most recent (default 2000) */
    int max_history;/* the user's items the walk starts from, the most recent (default 256) */
    int max_paths;  /* paths walked per user, about (default 4,000,000: ~10 ms); 0 = all */
} vx_cograph_params;

void vx_cograph_params_default(vx_cograph_params *p);

vx_cograph *vx_cograph_new(void);
void vx_cograph_free(vx_cograph *g);

/* Adds the edge user-item (no-op when present); grows the index ranges as needed.
 * Returns 0, or -1 when out of memory. */
int vx_cograph_add(vx_cograph *g, uint32_t user, uint32_t item);
/* Removes the edge when present. */
void vx_cograph_remove(vx_cograph *g, uint32_t user, uint32_t item);

uint32_t vx_cograph_item_degree(const vx_cograph *g, uint32_t item);
uint32_t vx_cograph_user_degree(const vx_cograph *g, uint32_t user);
/* The user's items, oldest edge first. */
const uint32_t *vx_cograph_user_items(const vx_cograph *g, uint32_t user);

/* Scratch space for scoring, one per thread. */
typedef struct vx_coscores {
    float *score;      /* [n_items] walk scores (after the popularity penalty); 0 = not reached */
    uint32_t *via;     /* [n_items] the user's item that contributed most to each score */
    uint32_t *touched; /* items with a non-zero score, n_touched of them */
    uint32_t n_touched;
    uint64_t paths;    /* paths walked */
    int truncated;     /* 1 when max_paths stopped the walk */
    /* private */
    float *cur, *best;
    uint32_t *last;
    uint32_t cap;
} vx_coscores;

void vx_coscores_free(vx_coscores *s);

/* Scores every item reachable from user. Returns 0, or -1 when out of memory. Paths
 * back through the user are skipped: they only reach the user's own items, which
 * callers exclude (their scores here are partial). */
int vx_cograph_score(const vx_cograph *g, uint32_t user, const vx_cograph_params *p, vx_coscores *s);

#endif
