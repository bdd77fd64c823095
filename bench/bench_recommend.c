/* Offline evaluation of recommendations on a ratings file in MovieLens u.data format
 * (user, item, rating, unix time; tab or space separated).
 *
 * Protocol of the published Recommenders.jl tables: ratings of 4 and 5 are positives,
 * the rest are dropped; a random 80/20 split of the positive interactions (seeded,
 * several seeds averaged); each user's training items are excluded from their top 10;
 * precision@10 = hits/10, recall@10 = hits/|test items|, NDCG@10 with binary relevance
 * and the ideal DCG over min(|test items|, 10), each averaged over the users that have
 * test items.
 *
 * Methods: popularity (training degree), item-kNN (cosine item-item similarity over the
 * training interactions, the k most similar neighbours of each item), EASE (Steck 2019;
 * dense, for catalogs up to 5,000 items), plain sparse EASE (each item's weights from a
 * ridge regression over its M most co-occurring items: recommend/itemmodel.c with all
 * that vidx adds turned off), the co-engagement walk the feeds used before
 * (recommend/cograph.c), and vidx's item model exactly as the feed trains and calls it.
 *
 *   bench_recommend [--data u.data] [--seeds N] [--alpha A] [--beta B] [--knn K]
 *
 * With --served: the feed as the service serves it (vx_engine_feed on a data folder made
 * from MovieLens, genres as the videos' vectors, 10% of the films held out whole) under a
 * grid of source blends: what the feed's blend weights are chosen by.
 *
 * With --feeds DB (a data folder, e.g. bench_http.sh's synthetic one with users user0..
 * userN-1): the item model's build time and memory on it, then the CPU time of one feed
 * (vx_engine_feed, k 20, as the service computes it) for every user, several rounds.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ftw.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "bench_util.h"
#include "../encoder/kernels.h"
#include "../common/hash.h"
#include "../common/idmap.h"
#include "../common/vecmath.h"
#include "../engine/engine.h"
#include "../recommend/cograph.h"
#include "../recommend/events.h"
#include "../recommend/feed.h"
#include "../recommend/itemmodel.h"
#include "../schemas/catalog.h"
#include "../schemas/records.h"

#define TOPN 10

typedef struct rating { uint32_t user, item; float stars; int64_t t; } rating;

typedef struct split {
    uint32_t n_users, n_items;
    uint32_t **train, *n_train; /* per user */
    rating **train_r;           /* per user, beside train: the ratings themselves */
    uint32_t **test, *n_test;
    uint8_t *cold;              /* [n_items] held out whole (cold-item protocol), or NULL */
} split;

typedef struct metrics {
    double p, r, ndcg;
    int users;
    double train_s, serve_s;
    double cold_r;  /* recall@10 of the held-out items alone (cold-item protocol) */
    int cold_users; /* users with held-out items in their test set */
} metrics;

static double ease_lambda = 500, sparse_lambda = 200;
static vx_itemmodel_params vp; /* vidx's item model: the service's defaults unless overridden */
static int only_vidx;          /* --only-vidx: the item model alone, for sweeps of its parameters */
static uint32_t sparse_m = 200;

static uint64_t rng_state;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int load(const char *path, double min_rating, rating **out, size_t *n_out, uint32_t *users, uint32_t *items) {
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); return -1; }
    size_t n = 0, cap = 1024;
    rating *r = malloc(cap * sizeof *r);
    char line[256];
    long lineno = 0;
    *users = *items = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        long u, i, t;
        double score;
        if (sscanf(line, "%ld %ld %lf %ld", &u, &i, &score, &t) != 4 || u < 1 || i < 1 || u > 10000000 ||
            i > 10000000) {
            fprintf(stderr, "%s:%ld: not a 'user item rating time' line\n", path, lineno);
            fclose(f);
            free(r);
            return -1;
        }
        if (score < min_rating) continue; /* not a positive under this protocol */
        if (n == cap) r = realloc(r, (cap *= 2) * sizeof *r);
        r[n].user = (uint32_t)u - 1;
        r[n].item = (uint32_t)i - 1;
        r[n].stars = (float)score;
        r[n].t = (int64_t)t;
        if (r[n].user + 1 > *users) *users = r[n].user + 1;
        if (r[n].item + 1 > *items) *items = r[n].item + 1;
        n++;
    }
    fclose(f);
    *out = r;
    *n_out = n;
    return 0;
}

/* A random 80/20 split; with cold_share > 0, that share of the items is held out whole
 * first (every rating of theirs goes to the test side). */
static void make_split(const rating *all, size_t n, uint32_t users, uint32_t items, uint64_t seed, double cold_share,
                       split *s) {
    rating *r = malloc(n * sizeof *r);
    memcpy(r, all, n * sizeof *r);
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(rng() % (i + 1));
        rating t = r[i];
        r[i] = r[j];
        r[j] = t;
    }
    memset(s, 0, sizeof *s);
    size_t n_train = (size_t)(0.8 * (double)n);
    if (cold_share > 0) {
        s->cold = calloc(items, 1);
        for (uint32_t i = 0; i < items; i++) s->cold[i] = (double)(rng() >> 11) / 9007199254740992.0 < cold_share;
        size_t warm = 0; /* warm ratings first, then the cold ones (all test) */
        for (size_t i = 0; i < n; i++)
            if (!s->cold[r[i].item]) {
                rating t = r[warm];
                r[warm++] = r[i];
                r[i] = t;
            }
        n_train = (size_t)(0.8 * (double)warm);
    }
    s->n_users = users;
    s->n_items = items;
    s->train = calloc(users, sizeof *s->train);
    s->test = calloc(users, sizeof *s->test);
    s->n_train = calloc(users, sizeof *s->n_train);
    s->n_test = calloc(users, sizeof *s->n_test);
    s->train_r = calloc(users, sizeof *s->train_r);
    for (size_t i = 0; i < n; i++) {
        uint32_t u = r[i].user;
        if (i < n_train) {
            s->train_r[u] = realloc(s->train_r[u], (s->n_train[u] + 1) * sizeof(rating));
            s->train_r[u][s->n_train[u]] = r[i];
        }
        uint32_t ***lists = i < n_train ? &s->train : &s->test;
        uint32_t **counts = i < n_train ? &s->n_train : &s->n_test;
        (*lists)[u] = realloc((*lists)[u], ((*counts)[u] + 1) * sizeof(uint32_t));
        (*lists)[u][(*counts)[u]++] = r[i].item;
    }
    free(r);
}

static void free_split(split *s) {
    for (uint32_t u = 0; u < s->n_users; u++) { free(s->train[u]); free(s->test[u]); free(s->train_r[u]); }
    free(s->train); free(s->test); free(s->n_train); free(s->n_test); free(s->train_r); free(s->cold);
}

/* Top TOPN of scores (higher is better) among items not excluded; -INFINITY = never. */
static int top_n(const float *scores, uint32_t n, const uint8_t *excluded, uint32_t *out) {
    int m = 0;
    for (uint32_t j = 0; j < n; j++) {
        if (excluded[j] || !(scores[j] > -INFINITY)) continue;
        int pos = m < TOPN ? m++ : TOPN;
        if (pos == TOPN && !(scores[j] > scores[out[TOPN - 1]])) continue;
        if (pos == TOPN) pos = TOPN - 1;
        while (pos > 0 && scores[out[pos - 1]] < scores[j]) { out[pos] = out[pos - 1]; pos--; }
        out[pos] = j;
    }
    return m;
}

static void score_user(const split *s, uint32_t u, const uint32_t *top, int m, metrics *acc) {
    if (!s->n_test[u]) return;
    int hits = 0;
    double dcg = 0, idcg = 0;
    for (int r = 0; r < m; r++)
        for (uint32_t t = 0; t < s->n_test[u]; t++)
            if (s->test[u][t] == top[r]) { hits++; dcg += 1.0 / log2(r + 2.0); break; }
    for (uint32_t r = 0; r < s->n_test[u] && r < TOPN; r++) idcg += 1.0 / log2(r + 2.0);
    if (s->cold) {
        int cold_test = 0, cold_hits = 0;
        for (uint32_t t = 0; t < s->n_test[u]; t++) {
            if (!s->cold[s->test[u][t]]) continue;
            cold_test++;
            for (int r = 0; r < m; r++) cold_hits += top[r] == s->test[u][t];
        }
        if (cold_test) {
            acc->cold_r += cold_hits / (double)cold_test;
            acc->cold_users++;
        }
    }
    acc->p += hits / (double)TOPN;
    acc->r += hits / (double)s->n_test[u];
    acc->ndcg += dcg / idcg;
    acc->users++;
}

typedef void (*score_fn)(void *model, const split *s, uint32_t u, float *scores);

static void evaluate(const split *s, score_fn fn, void *model, metrics *m) {
    float *scores = malloc(s->n_items * sizeof *scores);
    uint8_t *excl = calloc(s->n_items, 1);
    uint32_t top[TOPN];
    double t0 = vx_now();
    for (uint32_t u = 0; u < s->n_users; u++) {
        if (!s->n_test[u]) continue;
        fn(model, s, u, scores);
        for (uint32_t t = 0; t < s->n_train[u]; t++) excl[s->train[u][t]] = 1;
        int n = top_n(scores, s->n_items, excl, top);
        for (uint32_t t = 0; t < s->n_train[u]; t++) excl[s->train[u][t]] = 0;
        score_user(s, u, top, n, m);
    }
    m->serve_s += vx_now() - t0;
    free(scores);
    free(excl);
}

/* ---- popularity ---------------------------------------------------------------------- */
static void pop_score(void *model, const split *s, uint32_t u, float *scores) {
    (void)u;
    memcpy(scores, model, s->n_items * sizeof *scores);
}

/* ---- item-kNN -------------------------------------------------------------------------- */
typedef struct knn { uint32_t k; uint32_t *nb; float *sim; } knn; /* [item][k] */

static knn train_knn(const split *s, uint32_t k) {
    uint32_t I = s->n_items;
    float *co = calloc((size_t)I * I, sizeof *co), *deg = calloc(I, sizeof *deg);
    for (uint32_t u = 0; u < s->n_users; u++)
        for (uint32_t a = 0; a < s->n_train[u]; a++) {
            uint32_t i = s->train[u][a];
            deg[i] += 1;
            for (uint32_t b = 0; b < s->n_train[u]; b++)
                if (b != a) co[(size_t)i * I + s->train[u][b]] += 1;
        }
    knn m = {k, malloc((size_t)I * k * sizeof(uint32_t)), malloc((size_t)I * k * sizeof(float))};
    for (uint32_t i = 0; i < I; i++) {
        float *row = co + (size_t)i * I;
        for (uint32_t j = 0; j < I; j++) row[j] = row[j] > 0 ? row[j] / sqrtf(deg[i] * deg[j]) : 0;
        for (uint32_t r = 0; r < k; r++) {
            uint32_t best = 0;
            for (uint32_t j = 1; j < I; j++) if (row[j] > row[best]) best = j;
            m.nb[(size_t)i * k + r] = best;
            m.sim[(size_t)i * k + r] = row[best];
            row[best] = -1;
        }
    }
    free(co);
    free(deg);
    return m;
}

static void knn_score(void *model, const split *s, uint32_t u, float *scores) {
    knn *m = model;
    memset(scores, 0, s->n_items * sizeof *scores);
    for (uint32_t a = 0; a < s->n_train[u]; a++) {
        uint32_t i = s->train[u][a];
        for (uint32_t r = 0; r < m->k; r++) scores[m->nb[(size_t)i * m->k + r]] += m->sim[(size_t)i * m->k + r];
    }
}

/* ---- EASE -----------------------------------------------------------------------------------
 * EASE (Steck 2019): B = I - P diagMat(1/diag(P)), P = (X'X + lambda I)^-1, diag(B) = 0;
 * a user's scores are their training row times B. Dense item x item: fine for MovieLens,
 * impossible at a million videos (the sparse form is recommend/itemmodel.c's). */
typedef struct ease { uint32_t n; float *b; } ease; /* dense [n][n]: b[i*n+j] = B_ij */

/* X'X as doubles [I][I] (co-occurrence counts; the diagonal holds each item's count). */
static double *gram(const split *s) {
    const uint32_t I = s->n_items;
    double *g = calloc((size_t)I * I, sizeof *g);
    for (uint32_t u = 0; u < s->n_users; u++)
        for (uint32_t a = 0; a < s->n_train[u]; a++) {
            double *row = g + (size_t)s->train[u][a] * I;
            for (uint32_t b = 0; b < s->n_train[u]; b++) row[s->train[u][b]] += 1;
        }
    return g;
}

/* In-place inverse of a symmetric positive definite matrix [n][n] (Gauss-Jordan; no
 * pivoting needed for SPD). */
static void spd_inverse(double *a, uint32_t n) {
    for (uint32_t k = 0; k < n; k++) {
        const double d = a[(size_t)k * n + k];
        double *rk = a + (size_t)k * n;
        for (uint32_t j = 0; j < n; j++) rk[j] /= d;
        rk[k] = 1.0 / d;
        for (uint32_t i = 0; i < n; i++) {
            if (i == k) continue;
            double *ri = a + (size_t)i * n;
            const double f = ri[k];
            if (f == 0) continue;
            for (uint32_t j = 0; j < n; j++) ri[j] -= f * rk[j];
            ri[k] = -f * rk[k];
        }
    }
}

static ease train_ease(const split *s, double lambda) {
    const uint32_t I = s->n_items;
    double *g = gram(s);
    for (uint32_t i = 0; i < I; i++) g[(size_t)i * I + i] += lambda;
    spd_inverse(g, I);
    ease m = {I, malloc((size_t)I * I * sizeof(float))};
    for (uint32_t i = 0; i < I; i++)
        for (uint32_t j = 0; j < I; j++)
            m.b[(size_t)i * I + j] = i == j ? 0.0f : (float)(-g[(size_t)i * I + j] / g[(size_t)j * I + j]);
    free(g);
    return m;
}

static void ease_score(void *model, const split *s, uint32_t u, float *scores) {
    ease *m = model;
    memset(scores, 0, s->n_items * sizeof *scores);
    for (uint32_t a = 0; a < s->n_train[u]; a++) {
        const float *row = m->b + (size_t)s->train[u][a] * m->n;
        for (uint32_t j = 0; j < m->n; j++) scores[j] += row[j];
    }
}

/* ---- vidx: the item model (recommend/itemmodel.c), trained and called as the feed does --
 * MovieLens ratings stand for the service's events: 5 stars a like, 4 a complete, 1 to 3
 * a view of the whole film, weighed by vx_event_weight as the service weighs events. */
static uint8_t rating_event(float stars) {
    return stars >= 5 ? VX_EVENT_LIKE : stars >= 4 ? VX_EVENT_COMPLETE : VX_EVENT_VIEW;
}

static float rating_weight(float stars) { return vx_event_weight(rating_event(stars), 1.0f); }

typedef struct vidx_model {
    vx_itemmodel *m;
    vx_itemscores sc;
    uint32_t *hist;
    float *x;
    int plain; /* plain sparse EASE: every rating weighs 1, the whole history scored */
} vidx_model;

/* A rating's weight in a model's input and in the history it scores. */
static float input_weight(const vidx_model *m, float stars) { return m->plain ? 1.0f : rating_weight(stars); }

/* Items' content vectors for the cold-item protocol (MovieLens genres, L2-normalised):
 * the stand-in for CLIP embeddings, which MovieLens has none of. */
typedef struct content { uint32_t n, dim; float *v; } content;

static int content_neighbours(void *ctx, uint32_t item, uint32_t *items, float *sims, int k, vx_error *err) {
    (void)err;
    const content *c = ctx;
    if (item >= c->n) return 0;
    const float *q = c->v + (size_t)item * c->dim;
    int n = 0;
    for (uint32_t j = 0; j < c->n; j++) {
        if (j == item) continue;
        const float sim = vx_dot(q, c->v + (size_t)j * c->dim, (int)c->dim);
        if (!(sim > 0)) continue;
        int pos = n < k ? n++ : k;
        if (pos == k && !(sim > sims[k - 1])) continue;
        if (pos == k) pos = k - 1;
        while (pos > 0 && sims[pos - 1] < sim) { sims[pos] = sims[pos - 1]; items[pos] = items[pos - 1]; pos--; }
        sims[pos] = sim;
        items[pos] = j;
    }
    return n;
}

static vidx_model train_vidx(const split *s, const vx_itemmodel_params *p, const content *c, int plain) {
    vidx_model m = {.plain = plain};
    uint64_t total = 0;
    for (uint32_t u = 0; u < s->n_users; u++) total += s->n_train[u];
    uint64_t *start = malloc(((size_t)s->n_users + 1) * sizeof *start);
    uint32_t *item = malloc((size_t)(total + 1) * sizeof *item);
    float *w = malloc((size_t)(total + 1) * sizeof *w);
    int64_t *t = malloc((size_t)(total + 1) * sizeof *t);
    uint64_t at = 0, longest = 0;
    for (uint32_t u = 0; u < s->n_users; u++) {
        start[u] = at;
        for (uint32_t a = 0; a < s->n_train[u]; a++, at++) {
            item[at] = s->train_r[u][a].item;
            w[at] = input_weight(&m, s->train_r[u][a].stars);
            t[at] = s->train_r[u][a].t * 1000;
        }
        if (s->n_train[u] > longest) longest = s->n_train[u];
    }
    start[s->n_users] = at;
    vx_itemmodel_input in = {s->n_users, s->n_items, start, item, w, t};
    vx_itemmodel_content cc = {content_neighbours, (void *)c, NULL};
    vx_error err;
    m.m = vx_itemmodel_train(&in, p, c ? &cc : NULL, &err);
    m.hist = malloc((longest + 1) * sizeof(uint32_t));
    m.x = malloc((longest + 1) * sizeof(float));
    if (!m.m) { fprintf(stderr, "bench_recommend: %s\n", err.msg); exit(1); }
    free(start);
    free(item);
    free(w);
    free(t);
    return m;
}

static int newest_rating_first(const void *a, const void *b) {
    const rating *x = a, *y = b;
    return (x->t < y->t) - (x->t > y->t);
}
static int oldest_rating_first(const void *a, const void *b) { return newest_rating_first(b, a); }

/* As the feed does: the user's latest VX_FEED_MODEL_HISTORY engagements. */
static void vidx_score(void *model, const split *s, uint32_t u, float *scores) {
    vidx_model *m = model;
    qsort(s->train_r[u], s->n_train[u], sizeof(rating), newest_rating_first);
    const uint32_t n = s->n_train[u] < VX_FEED_MODEL_HISTORY || m->plain ? s->n_train[u] : VX_FEED_MODEL_HISTORY;
    for (uint32_t a = 0; a < n; a++) {
        m->hist[a] = s->train_r[u][a].item;
        m->x[a] = input_weight(m, s->train_r[u][a].stars);
    }
    if (vx_itemmodel_score(m->m, m->hist, m->x, n, &m->sc)) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (uint32_t j = 0; j < s->n_items; j++) scores[j] = -INFINITY;
    for (uint32_t i = 0; i < m->sc.n_touched; i++) scores[m->sc.item[m->sc.touched[i]]] = m->sc.score[m->sc.touched[i]];
}

static void vidx_free(vidx_model *m) {
    vx_itemmodel_free(m->m);
    vx_itemscores_free(&m->sc);
    free(m->hist);
    free(m->x);
}

/* ---- the co-engagement walk (the feed's collaborative source before the item model) --- */
typedef struct walk { vx_cograph *g; vx_cograph_params p; vx_coscores sc; } walk;

static void walk_score(void *model, const split *s, uint32_t u, float *scores) {
    walk *w = model;
    for (uint32_t j = 0; j < s->n_items; j++) scores[j] = -INFINITY;
    if (vx_cograph_score(w->g, u, &w->p, &w->sc)) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (uint32_t t = 0; t < w->sc.n_touched; t++) scores[w->sc.touched[t]] = w->sc.score[w->sc.touched[t]];
}

static void row(const char *name, const metrics *m, int seeds) {
    printf("| %-24s | %.3f | %.3f | %.3f | %8.3f | %8.2f |\n", name, m->p / m->users, m->r / m->users,
           m->ndcg / m->users, m->train_s / seeds, 1e6 * m->serve_s / (m->users));
}

/* One protocol: positives are the ratings >= min_rating. Returns 0 or 1. */
static int run_protocol(const char *data, double min_rating, int seeds, int k_nn, const vx_cograph_params *wp) {
    rating *all;
    size_t n;
    uint32_t users, items;
    if (load(data, min_rating, &all, &n, &users, &items)) return 1;
    if (n < 10) { fprintf(stderr, "%s: fewer than 10 ratings of %g or more\n", data, min_rating); free(all); return 1; }
    if ((uint64_t)items * items > 400000000ull) k_nn = 0; /* the dense kNN trainer would not fit */
    printf("\n%s, ratings >= %g as positives: %zu interactions, %u users, %u items; %d seeds, 80/20 split\n\n",
           data, min_rating, n, users, items, seeds);
    metrics mp = {0}, mk = {0}, mw = {0}, me = {0}, ms = {0}, mv = {0};
    const int dense_ease = (uint64_t)items * items <= 25000000ull; /* 5,000 items: 200 MB of doubles */
    for (int seed = 1; seed <= seeds; seed++) {
        split s;
        make_split(all, n, users, items, (uint64_t)seed, 0, &s);
        double t0;
        if (only_vidx) goto vidx_alone;
        /* popularity */
        t0 = vx_now();
        float *pop = calloc(items, sizeof *pop);
        for (uint32_t u = 0; u < users; u++)
            for (uint32_t a = 0; a < s.n_train[u]; a++) pop[s.train[u][a]] += 1;
        mp.train_s += vx_now() - t0;
        evaluate(&s, pop_score, pop, &mp);
        free(pop);
        /* item-kNN */
        if (k_nn) {
            t0 = vx_now();
            knn m = train_knn(&s, (uint32_t)k_nn < items ? (uint32_t)k_nn : items);
            mk.train_s += vx_now() - t0;
            evaluate(&s, knn_score, &m, &mk);
            free(m.nb);
            free(m.sim);
        }
        /* EASE, dense (small catalogs only), and its sparse form */
        if (dense_ease) {
            t0 = vx_now();
            ease e = train_ease(&s, ease_lambda);
            me.train_s += vx_now() - t0;
            evaluate(&s, ease_score, &e, &me);
            free(e.b);
        }
        /* plain sparse EASE: the item model with everything vidx adds turned off */
        vx_itemmodel_params plain = vp;
        plain.lambda = (float)sparse_lambda;
        plain.neighbours = (int)sparse_m;
        plain.lambda_self = plain.session_boost = plain.pop_penalty = plain.select_exp = 0;
        plain.min_support = 1;
        plain.max_history = 0;
        t0 = vx_now();
        vidx_model se = train_vidx(&s, &plain, NULL, 1);
        ms.train_s += vx_now() - t0;
        evaluate(&s, vidx_score, &se, &ms);
        vidx_free(&se);
        /* vidx: the item model */
    vidx_alone:
        t0 = vx_now();
        vidx_model vm = train_vidx(&s, &vp, NULL, 0);
        mv.train_s += vx_now() - t0;
        evaluate(&s, vidx_score, &vm, &mv);
        vidx_free(&vm);
        if (only_vidx) {
            free_split(&s);
            continue;
        }
        /* the walk: training is adding the edges, as the service did per event */
        t0 = vx_now();
        walk w = {vx_cograph_new(), *wp, {0}};
        for (uint32_t u = 0; u < users; u++)
            for (uint32_t a = 0; a < s.n_train[u]; a++)
                if (vx_cograph_add(w.g, u, s.train[u][a])) { fprintf(stderr, "out of memory\n"); exit(1); }
        mw.train_s += vx_now() - t0;
        evaluate(&s, walk_score, &w, &mw);
        vx_cograph_free(w.g);
        vx_coscores_free(&w.sc);
        free_split(&s);
    }
    printf("| method                   | P@10  | R@10  | NDCG@10 | train s  | us/user  |\n"
           "|--------------------------|-------|-------|---------|----------|----------|\n");
    char name[64];
    if (only_vidx) goto vidx_row;
    row("popularity", &mp, seeds);
    if (k_nn) {
        snprintf(name, sizeof name, "item-kNN (k=%d)", k_nn);
        row(name, &mk, seeds);
    }
    if (dense_ease) {
        snprintf(name, sizeof name, "EASE (lambda %g)", ease_lambda);
        row(name, &me, seeds);
    }
    snprintf(name, sizeof name, "sparse EASE (l %g, M %u)", sparse_lambda, sparse_m);
    row(name, &ms, seeds);
    snprintf(name, sizeof name, "walk (RP3beta, old feed)");
    row(name, &mw, seeds);
vidx_row:
    snprintf(name, sizeof name, "vidx (item model, M %d)", vp.neighbours);
    row(name, &mv, seeds);
    free(all);
    return 0;
}

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double max_rss_mib(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_maxrss / 1024.0;
}

static int by_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The service's feeds on a data folder: model build, then CPU per feed. */
static int run_feeds(const char *db, int users, int rounds) {
    vx_engine_options o;
    vx_engine_options_default(&o);
    o.data_dir = db;
    o.model = VX_MODEL_NONE;
    vx_error err;
    double t0 = vx_now();
    vx_engine *e = vx_engine_open(&o, &err);
    if (!e) {
        fprintf(stderr, "bench_recommend: %s: %s\n", db, err.msg);
        return 1;
    }
    printf("\nfeeds on %s: opened in %.1f s (max RSS %.0f MiB)\n", db, vx_now() - t0, max_rss_mib());
    vx_feed_options fo;
    vx_feed_options_default(&fo);
    fo.k = 20;
    vx_feed f;
    const double rss0 = max_rss_mib();
    t0 = vx_now();
    if (vx_engine_feed(e, "user0", &fo, &f, &err)) { /* builds the model: none yet */
        fprintf(stderr, "bench_recommend: feed: %s\n", err.msg);
        vx_engine_close(e);
        return 1;
    }
    vx_feed_free(&f);
    const double first = vx_now() - t0;
    vx_engine_stats g;
    vx_engine_gauges(e, &g);
    const vx_itemmodel_stats *st = &g.feed_model.stats;
    printf("item model: %u videos learned, %u new from content, %llu weights, %.1f MiB held; trained in %.2f s "
           "(the first feed with it: %.2f s); max RSS grew %.0f MiB while training\n",
           st->learned, st->from_content, (unsigned long long)st->weights, (double)st->bytes / 1048576.0, st->train_s,
           first, max_rss_mib() - rss0);
    const int n = users * rounds;
    double *cpu = malloc((size_t)n * sizeof *cpu), *wall = malloc((size_t)n * sizeof *wall);
    int done = 0;
    uint64_t digest = 14695981039346656037ull; /* of every feed's videos in order: equal digests, equal feeds */
    for (int r = 0; r < rounds; r++)
        for (int u = 0; u < users; u++) {
            char name[32];
            snprintf(name, sizeof name, "user%d", u);
            const double c0 = cpu_now(), w0 = vx_now();
            if (vx_engine_feed(e, name, &fo, &f, &err)) {
                fprintf(stderr, "bench_recommend: feed %s: %s\n", name, err.msg);
                break;
            }
            cpu[done] = cpu_now() - c0;
            wall[done++] = vx_now() - w0;
            for (int i = 0; i < f.n; i++) digest = digest * 1099511628211ull ^ f.items[i].video_id;
            vx_feed_free(&f);
        }
    qsort(cpu, (size_t)done, sizeof *cpu, by_double);
    qsort(wall, (size_t)done, sizeof *wall, by_double);
    if (done)
        printf("one feed (k 20), %d users x %d rounds: CPU median %.0f us, p99 %.0f us; wall median %.0f us; "
               "feeds' digest %016llx\n",
               users, rounds, 1e6 * cpu[done / 2], 1e6 * cpu[(size_t)(0.99 * (done - 1))], 1e6 * wall[done / 2],
               (unsigned long long)digest);
    free(cpu);
    free(wall);
    vx_engine_close(e);
    return done == n ? 0 : 1;
}

/* MovieLens u.item next to u.data: each film's 19 genre flags and its release year
 * (smoothed over a few years: films of one season are watched together), each part a
 * unit vector, half the weight each. */
#define GENRES 19
#define YEAR0 1920
#define YEARS 80
static int load_genres(const char *data, uint32_t items, content *c) {
    char path[4096];
    const char *slash = strrchr(data, '/');
    snprintf(path, sizeof path, "%.*su.item", slash ? (int)(slash - data + 1) : 0, data);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    c->n = items;
    c->dim = GENRES + YEARS;
    c->v = calloc((size_t)items * c->dim, sizeof *c->v);
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        long id = strtol(line, NULL, 10);
        if (id < 1 || id > (long)items) continue;
        /* id|title|release|video release|url|19 flags: the flags follow the fifth '|' */
        char *p = line;
        for (int bars = 0; p && bars < 5; bars++) p = strchr(p, '|') ? strchr(p, '|') + 1 : NULL;
        float *v = c->v + (size_t)(id - 1) * c->dim;
        for (uint32_t g = 0; p && g < GENRES; g++) {
            v[g] = *p == '1' ? 1.0f : 0.0f;
            p = strchr(p, '|') ? strchr(p, '|') + 1 : NULL;
        }
        vx_normalize(v, GENRES);
        const char *date = strchr(line, '|') ? strchr(strchr(line, '|') + 1, '|') : NULL; /* |dd-Mon-yyyy| */
        const int year = date && strlen(date) > 12 && date[12] == '|' ? atoi(date + 8) : 0;
        if (year >= YEAR0 && year < YEAR0 + YEARS) {
            for (int y = 0; y < YEARS; y++) v[GENRES + y] = expf(-(float)((y + YEAR0 - year) * (y + YEAR0 - year)) / 8.0f);
            vx_normalize(v + GENRES, YEARS);
        }
        for (uint32_t d = 0; d < c->dim; d++) v[d] *= 0.70710678f;
    }
    fclose(f);
    return 0;
}

/* Cold items: 10% of the films held out whole (no training interaction), the rest split
 * 80/20; every rating a positive. Popularity and the engagement-only models can never
 * rank a held-out film; vidx's content side can. The content weight is chosen here. */
/* Every rating of data, and the films' genres (from u.item beside it): 0, 1 on error,
 * -1 without u.item (said, as `what` skipped). */
static int load_with_genres(const char *data, const char *what, rating **all, size_t *n, uint32_t *users,
                            uint32_t *items, content *c) {
    if (load(data, 1, all, n, users, items)) return 1;
    if (load_genres(data, *items, c) == 0) return 0;
    printf("\n%s: no u.item beside %s (genres are the content): skipped\n", what, data);
    free(*all);
    return -1;
}

static int run_cold(const char *data, int seeds) {
    rating *all;
    size_t n;
    uint32_t users, items;
    content c;
    int got = load_with_genres(data, "cold items", &all, &n, &users, &items, &c);
    if (got) return got > 0;
    static const float weights[] = {0, 0.4f, 0.6f, 0.8f, 0.9f, 1.0f, 1.1f, 1.2f, 1.4f, 1.7f, 2.0f};
    enum { N_W = sizeof weights / sizeof weights[0] };
    metrics mp = {0}, mv[N_W];
    memset(mv, 0, sizeof mv);
    for (int seed = 1; seed <= seeds; seed++) {
        split s;
        make_split(all, n, users, items, (uint64_t)seed, 0.1, &s);
        float *pop = calloc(items, sizeof *pop);
        for (uint32_t u = 0; u < users; u++)
            for (uint32_t a = 0; a < s.n_train[u]; a++) pop[s.train[u][a]] += 1;
        evaluate(&s, pop_score, pop, &mp);
        free(pop);
        for (int w = 0; w < N_W; w++) {
            vx_itemmodel_params p = vp;
            p.content_weight = weights[w];
            double t0 = vx_now();
            vidx_model vm = train_vidx(&s, &p, w ? &c : NULL, 0);
            mv[w].train_s += vx_now() - t0;
            evaluate(&s, vidx_score, &vm, &mv[w]);
            vidx_free(&vm);
        }
        free_split(&s);
    }
    printf("\n%s, cold items: 10%% of the films held out whole, the rest 80/20, every rating a positive; content = "
           "genres (u.item); %d seeds\n\n",
           data, seeds);
    printf("| method                   | P@10  | R@10  | NDCG@10 | cold R@10 | train s  |\n"
           "|--------------------------|-------|-------|---------|-----------|----------|\n");
    printf("| %-24s | %.3f | %.3f | %.3f | %9.3f | %8.3f |\n", "popularity", mp.p / mp.users, mp.r / mp.users,
           mp.ndcg / mp.users, mp.cold_users ? mp.cold_r / mp.cold_users : 0, 0.0);
    int best = 0, chosen = 0;
    for (int w = 0; w < N_W; w++)
        if (mv[w].ndcg / mv[w].users > mv[best].ndcg / mv[best].users) best = w;
    for (int w = 0; w < N_W; w++) {
        char name[64];
        snprintf(name, sizeof name, "vidx (content weight %.2g)", (double)weights[w]);
        printf("| %-24s | %.3f | %.3f | %.3f | %9.3f | %8.3f |\n", name, mv[w].p / mv[w].users, mv[w].r / mv[w].users,
               mv[w].ndcg / mv[w].users, mv[w].cold_users ? mv[w].cold_r / mv[w].cold_users : 0, mv[w].train_s / seeds);
        /* the most held-out films found for at most 1% of the best NDCG */
        if (mv[w].ndcg / mv[w].users >= 0.99 * mv[best].ndcg / mv[best].users && mv[w].cold_r > mv[chosen].cold_r)
            chosen = w;
    }
    printf("\nbest NDCG@10 at content weight %.2g; the most held-out films for at most 1%% less NDCG at %.2g "
           "(cold R@10 %.3f): the service's default is %.2g\n",
           (double)weights[best], (double)weights[chosen], mv[chosen].cold_r / mv[chosen].cold_users,
           (double)vp.content_weight);
    free(c.v);
    free(all);
    return 0;
}

/* ---- the feed as served, on MovieLens -------------------------------------------------
 * A data folder per seed: every film an indexed video whose embedding is its genre vector
 * (load_genres; MovieLens has no pictures), the training ratings recorded as the service
 * records events (5 stars a like, 4 a complete, 1-3 a whole view; times shifted to end
 * now), then vx_engine_feed (k 10) for each user with test items, every source and MMR as
 * the service runs them, under each blend of a grid. 10% of the films are held out whole
 * (the cold-item split): a blend is judged by NDCG@10 and by how many held-out films it
 * finds. */
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static uint64_t film_id(uint32_t item) {
    char path[64];
    snprintf(path, sizeof path, "/movielens/film-%u.mp4", item + 1);
    return vx_video_id_for_path(path);
}

/* The folder of one split; 0 or -1 (message printed). */
static int write_served_folder(const char *dir, const split *s, const content *c, int64_t shift_ms, int64_t now_ms) {
    vx_error err;
    vx_catalog *cat = vx_catalog_open(dir, 1, &err);
    if (!cat) { fprintf(stderr, "bench_recommend: %s: %s\n", dir, err.msg); return -1; }
    /* Uploaded just before their first training rating; the held-out films in the last
     * week (new uploads, which the fresh source is for). */
    int64_t *uploaded = malloc((s->n_items ? s->n_items : 1) * sizeof *uploaded);
    for (uint32_t i = 0; i < s->n_items; i++)
        uploaded[i] = s->cold && s->cold[i] ? now_ms - (int64_t)(rng() % (7 * 86400000ULL)) : now_ms;
    for (uint32_t u = 0; u < s->n_users; u++)
        for (uint32_t a = 0; a < s->n_train[u]; a++) {
            const rating *x = &s->train_r[u][a];
            if (x->t * 1000 + shift_ms - 3600000 < uploaded[x->item]) uploaded[x->item] = x->t * 1000 + shift_ms - 3600000;
        }
    vx_batch *b = vx_batch_new();
    int rc = 0;
    for (uint32_t i = 0; i < s->n_items && !rc; i++) {
        char path[64], title[64];
        snprintf(path, sizeof path, "/movielens/film-%u.mp4", i + 1);
        snprintf(title, sizeof title, "film %u", i + 1);
        const float *v = c->v + (size_t)i * c->dim;
        vx_video rec = {.id = film_id(i), .content_hash = vx_hash64(path, strlen(path)), .size = 1000000,
                        .duration = 100, .fps = 25, .width = 640, .height = 360, .status = VX_VIDEO_INDEXED,
                        .n_segments = 1, .created_at = uploaded[i] / 1000, .updated_at = now_ms / 1000,
                        .path = path, .title = title, .failure = ""};
        vx_batch_put_video(b, &rec);
        vx_segment seg = {.start = 0, .end = 100, .n_frames = 1, .dim = c->dim, .embedding = (float *)v};
        vx_batch_put_segment(b, rec.id, 0, &seg);
        vx_embedding e = {.dim = c->dim, .v = (float *)v};
        vx_batch_put_embedding(b, rec.id, &e);
    }
    vx_meta m;
    if (vx_catalog_get_meta(cat, &m, &err) == 0) {
        m.embed_dim = c->dim;
        m.index_generation++;
        free(m.model);
        m.model = strdup("movielens genres");
        vx_batch_put_meta(b, &m);
        vx_meta_clear(&m);
        rc = vx_catalog_write(cat, b, &err);
    } else rc = -1;
    vx_batch_free(b);
    free(uploaded);
    /* the training ratings, oldest first, as events */
    size_t n = 0;
    for (uint32_t u = 0; u < s->n_users; u++) n += s->n_train[u];
    rating *r = malloc((n ? n : 1) * sizeof *r);
    n = 0;
    for (uint32_t u = 0; u < s->n_users; u++)
        for (uint32_t a = 0; a < s->n_train[u]; a++) r[n++] = s->train_r[u][a];
    qsort(r, n, sizeof *r, oldest_rating_first);
    for (size_t k = 0; k < n && !rc; k++) {
        char user[32];
        snprintf(user, sizeof user, "u%u", r[k].user + 1);
        const uint8_t type = rating_event(r[k].stars);
        vx_event_request q = {.user = user, .video_id = film_id(r[k].item), .type = type,
                              .seconds = type == VX_EVENT_VIEW ? 100 : -1, .ts_ms = r[k].t * 1000 + shift_ms};
        vx_event_stored st;
        if (vx_event_record(cat, &q, now_ms, &st, &err)) rc = -1;
    }
    free(r);
    if (rc) fprintf(stderr, "bench_recommend: writing %s: %s\n", dir, err.msg);
    vx_catalog_close(cat);
    return rc;
}

typedef struct served_blend { const char *name; vx_feed_blend w; } served_blend;

static int run_served(const char *data, int seeds, float diversity) {
    rating *all;
    size_t n;
    uint32_t users, items;
    content c;
    int got = load_with_genres(data, "the feed as served", &all, &n, &users, &items, &c);
    if (got) return got > 0;
    int64_t last = 0;
    for (size_t k = 0; k < n; k++) last = all[k].t > last ? all[k].t : last;
    const int64_t now_ms = vx_wall_ms(), shift_ms = now_ms - 60000 - last * 1000;
    /* The blends tried: the service's, one source alone or left out, and a grid around it. */
    vx_feed_options def;
    vx_feed_options_default(&def);
    enum { MAX_BLENDS = 128 };
    served_blend bl[MAX_BLENDS];
    int nb = 0;
    bl[nb++] = (served_blend){"service default", def.blend};
    bl[nb++] = (served_blend){"co-engaged alone", {0, 0, 1, 0, 0}};
    bl[nb++] = (served_blend){"content alone", {1, 0, 0, 0, 0}};
    bl[nb++] = (served_blend){"neighbours alone", {0, 1, 0, 0, 0}};
    bl[nb++] = (served_blend){"fresh alone", {0, 0, 0, 1, 0}};
    bl[nb++] = (served_blend){"popular alone", {0, 0, 0, 0, 1}};
    /* fresh and popular never 0: they are all a new user's feed */
    static const float contents[] = {0, 0.05f, 0.1f, 0.2f}, neighbours[] = {0, 0.05f, 0.15f},
                       globals[] = {0.01f, 0.025f, 0.075f};
    static char names[MAX_BLENDS][64];
    for (size_t a = 0; a < sizeof contents / sizeof *contents; a++)
        for (size_t b = 0; b < sizeof neighbours / sizeof *neighbours; b++)
            for (size_t f = 0; f < sizeof globals / sizeof *globals; f++)
                for (size_t g = 0; g < sizeof globals / sizeof *globals; g++) {
                    snprintf(names[nb], sizeof names[nb], "%.3g / %.3g / 0.45 / %.3g / %.3g", (double)contents[a],
                             (double)neighbours[b], (double)globals[f], (double)globals[g]);
                    bl[nb] = (served_blend){names[nb], {contents[a], neighbours[b], 0.45f, globals[f], globals[g]}};
                    nb++;
                }
    metrics *mb = calloc((size_t)nb, sizeof *mb);
    double feed_s = 0;
    long feeds = 0;
    int rc = 0;
    for (int seed = 1; seed <= seeds && !rc; seed++) {
        split s;
        make_split(all, n, users, items, (uint64_t)seed, 0.1, &s);
        char dir[] = "/tmp/vidx-served-XXXXXX";
        if (!mkdtemp(dir)) { perror("mkdtemp"); rc = 1; free_split(&s); break; }
        vx_engine *e = NULL;
        vx_error err;
        if (write_served_folder(dir, &s, &c, shift_ms, now_ms) == 0) {
            vx_engine_options o;
            vx_engine_options_default(&o);
            o.data_dir = dir;
            o.model = VX_MODEL_NONE;
            if (!(e = vx_engine_open(&o, &err))) fprintf(stderr, "bench_recommend: %s: %s\n", dir, err.msg);
        }
        vx_idmap item_of;
        if (!e || vx_idmap_init(&item_of, items)) rc = 1;
        for (uint32_t i = 0; !rc && i < items; i++) rc = vx_idmap_put(&item_of, film_id(i), i) != 0;
        for (int w = 0; w < nb && !rc; w++) {
            vx_feed_options fo = def;
            fo.k = TOPN;
            fo.diversity = diversity;
            fo.now_ms = now_ms;
            fo.blend = bl[w].w;
            for (uint32_t u = 0; u < users && !rc; u++) {
                if (!s.n_test[u]) continue;
                char name[32];
                snprintf(name, sizeof name, "u%u", u + 1);
                vx_feed f;
                const double t0 = vx_now();
                if (vx_engine_feed(e, name, &fo, &f, &err)) { /* the first one builds the item model */
                    fprintf(stderr, "bench_recommend: feed %s: %s\n", name, err.msg);
                    rc = 1;
                    break;
                }
                if (w) { feed_s += vx_now() - t0; feeds++; }
                uint32_t top[TOPN];
                int m = 0;
                for (int i = 0; i < f.n && m < TOPN; i++) {
                    uint64_t item;
                    if (vx_idmap_get(&item_of, f.items[i].video_id, &item)) top[m++] = (uint32_t)item;
                }
                vx_feed_free(&f);
                score_user(&s, u, top, m, &mb[w]);
            }
        }
        if (e) vx_idmap_free(&item_of);
        vx_engine_close(e);
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        free_split(&s);
    }
    if (!rc) {
        printf("\n%s, the feed as served (vx_engine_feed, k 10, diversity %.2g): 10%% of the films held out whole, "
               "the rest 80/20, every rating an event; content = genres; %d seeds; %.0f us per feed\n\n",
               data, (double)diversity, seeds, feeds ? 1e6 * feed_s / (double)feeds : 0);
        printf("| blend: content / neighbours / co-engaged / fresh / popular | P@10  | R@10  | NDCG@10 | cold R@10 |\n"
               "|---|---|---|---|---|\n");
        int best = 0;
        for (int w = 0; w < nb; w++) {
            const metrics *m = &mb[w];
            printf("| %s | %.3f | %.3f | %.3f | %.3f |\n", bl[w].name, m->p / m->users, m->r / m->users,
                   m->ndcg / m->users, m->cold_users ? m->cold_r / m->cold_users : 0);
            if (m->ndcg / m->users > mb[best].ndcg / mb[best].users) best = w;
        }
        int chosen = best; /* the most held-out films for at most 1% less NDCG than the best */
        for (int w = 0; w < nb; w++)
            if (mb[w].ndcg / mb[w].users >= 0.99 * mb[best].ndcg / mb[best].users && mb[w].cold_r > mb[chosen].cold_r)
                chosen = w;
        printf("\nbest NDCG@10: %s (%.3f); the most held-out films for at most 1%% less NDCG: %s (NDCG %.3f, cold "
               "R@10 %.3f)\n",
               bl[best].name, mb[best].ndcg / mb[best].users, bl[chosen].name, mb[chosen].ndcg / mb[chosen].users,
               mb[chosen].cold_users ? mb[chosen].cold_r / mb[chosen].cold_users : 0);
    }
    free(mb);
    free(c.v);
    free(all);
    return rc;
}

int main(int argc, char **argv) {
    vx_kernels_tune(argv); /* as vidx itself runs: encoder/kernels.h */
    bench_print_machine(stdout);
    const char *data = "../shared/data/movielens/ml-100k/u.data";
    int seeds = 5, k_nn = 50, cold_only = 0, served = 0, feed_users = 100, feed_rounds = 5;
    float diversity = 0.3f;
    const char *feeds_db = NULL;
    double min_rating = 0;
    vx_cograph_params wp;
    vx_cograph_params_default(&wp);
    vx_itemmodel_params_default(&vp);
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--data") == 0) data = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--seeds") == 0) seeds = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--alpha") == 0) wp.alpha = (float)atof(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--beta") == 0) wp.beta = (float)atof(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--knn") == 0) k_nn = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--min-rating") == 0) min_rating = atof(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--ease-lambda") == 0) ease_lambda = atof(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--sparse-lambda") == 0) sparse_lambda = atof(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--sparse-m") == 0) sparse_m = (uint32_t)atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--vidx-lambda") == 0) vp.lambda = (float)atof(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--vidx-m") == 0) vp.neighbours = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--vidx-session") == 0) vp.session_boost = (float)atof(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--vidx-gamma") == 0) vp.pop_penalty = (float)atof(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--vidx-support") == 0) vp.min_support = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--vidx-history") == 0) vp.max_history = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--vidx-self") == 0) vp.lambda_self = (float)atof(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--vidx-session-s") == 0) vp.session_seconds = (float)atof(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--vidx-max-out") == 0) vp.max_out = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--vidx-max-content-out") == 0) vp.max_content_out = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--vidx-content-k") == 0) vp.content_neighbours = atoi(argv[++i]);
        else if (strcmp(argv[i], "--cold-only") == 0) cold_only = 1;
        else if (strcmp(argv[i], "--served") == 0) served = 1;
        else if (i + 1 < argc && strcmp(argv[i], "--diversity") == 0) diversity = (float)atof(argv[++i]);
        else if (strcmp(argv[i], "--only-vidx") == 0) only_vidx = 1;
        else if (i + 1 < argc && strcmp(argv[i], "--feeds") == 0) feeds_db = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--feed-users") == 0) feed_users = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--feed-rounds") == 0) feed_rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_recommend [--data u.data] [--seeds N] [--alpha A] [--beta B] [--knn K] "
                            "[--min-rating R] [--ease-lambda L] [--sparse-lambda L] [--sparse-m M] [--vidx-lambda L] "
                            "[--vidx-m M] [--vidx-session ETA] [--vidx-gamma G] [--vidx-support N] [--vidx-history H] "
                            "[--vidx-self C] [--vidx-session-s S] [--cold-only] [--only-vidx] [--served [--diversity D]] "
                            "[--feeds DB [--feed-users N] "
                            "[--feed-rounds R]]\n");
            return 2;
        }
    }
    if (seeds < 1 || seeds > 100 || k_nn < 1) { fprintf(stderr, "bench_recommend: bad --seeds or --knn\n"); return 2; }
    /* Both readings of the protocol unless one is asked for: ratings 4-5 only (as the
     * task words it) and every rating an interaction (what reproduces the published
     * popularity row; see recommend/README.md). */
    if (feeds_db) return run_feeds(feeds_db, feed_users < 1 ? 1 : feed_users, feed_rounds < 1 ? 1 : feed_rounds);
    int rc = 0;
    if (served) return run_served(data, seeds, diversity);
    if (cold_only) rc = run_cold(data, seeds);
    else if (min_rating > 0) rc = run_protocol(data, min_rating, seeds, k_nn, &wp);
    else
        rc = run_protocol(data, 4, seeds, k_nn, &wp) || run_protocol(data, 1, seeds, k_nn, &wp) ||
             run_cold(data, seeds) || run_served(data, seeds, diversity);
    printf("\npublished on ml-100k (Recommenders.jl): popularity P@10 0.190, R@10 0.118, NDCG@10 0.220; item-kNN NDCG "
           "0.399; matrix factorisation NDCG 0.440\n");
    return rc;
}
