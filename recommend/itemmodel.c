#include "itemmodel.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../common/vecmath.h"

typedef struct weight_to { uint32_t to; float w; } weight_to;

/* Weights by source item: start[i]..start[i + 1] index the items i counts for. */
typedef struct csr {
    uint64_t *start; /* [n_items + 1] */
    uint32_t *to;
    float *w;
} csr;

/* What a feed reads: the weights by source item, into "targets" (the items with any
 * weight into them, numbered densely, so that a user's scores are a small array that
 * stays in cache: at 100,000 videos a third of the items, and the scattered adds into
 * it are most of a feed's cost). */
struct vx_itemmodel {
    uint32_t n_items, n_targets;
    uint32_t *start;       /* [n_items + 1] */
    weight_to *e;          /* target numbers and weights, side by side: one stream per row */
    uint32_t *target_item; /* [n_targets] */
    uint32_t *target_of;   /* [n_items]: its target number, UINT32_MAX for none */
    uint8_t *new_target;   /* [n_targets]: 1 for new items (weights from content) */
    csr into;              /* by target number: the source items and weights (vx_itemmodel_via) */
    vx_itemmodel_stats stats;
};

void vx_itemmodel_params_default(vx_itemmodel_params *p) {
    /* Tuned on MovieLens 100K (every rating an interaction, 80/20 splits): see
     * recommend/README.md for the sweep. */
    p->lambda = 150;
    p->lambda_self = 1;
    p->session_boost = 2;
    p->session_seconds = 300;
    p->pop_penalty = 0.1f;
    p->neighbours = 200;
    p->select_exp = 0.5f;
    p->min_support = 2;
    p->max_history = 500;
    p->content_weight = 1.0f; /* bench_recommend's cold-item protocol */
    p->content_neighbours = 50;
    p->threads = 2;
    p->max_out = 0;
    p->max_content_out = 16; /* at 100,000 videos, a feed's cost; on MovieLens no change */
}

float vx_itemmodel_combine(float current, float event_weight) {
    if (event_weight < 0) return event_weight < current || current > 0 ? event_weight : current;
    if (current < 0) return event_weight; /* engaged again after a dislike or skip */
    return event_weight > current ? event_weight : current;
}

/* ---- training ------------------------------------------------------------------------- */

typedef struct entry {
    uint32_t item;
    float g;    /* G_ai */
    float rank; /* G_ai / (G_ii + 1)^select_exp: which neighbours a keeps */
} entry;

typedef struct pair {
    uint32_t item;
    float g;
} pair;

typedef struct row {
    pair *e; /* best-ranked first */
    uint32_t n;
} row;

typedef struct trainer {
    const vx_itemmodel_params *p;
    uint32_t n_users, n_items;
    /* each user's latest engagements (CSR by user) */
    uint64_t *ustart;
    uint32_t *uitem;
    float *ux;
    int64_t *ut;
    /* users of each item (CSR by item): user and position in that user's list */
    uint64_t *istart;
    uint32_t *iuser;
    uint64_t *ipos;
    uint32_t *support;
    float *diag; /* G_ii */
    uint32_t R;  /* entries kept per row: lookups of G among a target's neighbours */
    row *rows;
    /* learned weights into each target, [target][M] */
    uint32_t M;
    uint32_t *tfrom;
    float *tw;
    uint32_t *tcount;
    atomic_uint next;
    atomic_int failed;
} trainer;

static int by_rank_desc(const void *a, const void *b) {
    const entry *x = a, *y = b;
    return (x->rank < y->rank) - (x->rank > y->rank);
}

static void swap_entries(entry *a, entry *b) {
    entry t = *a;
    *a = *b;
    *b = t;
}

/* Moves the k best-ranked of e[0..n) to the front, in any order (quickselect with a
 * three-way partition: rows are full of ties, items engaged with by one same user). */
static void select_best(entry *e, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        const float a = e[lo].rank, b = e[lo + (hi - lo) / 2].rank, c = e[hi].rank;
        const float pivot = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
        int64_t lt = lo, i = lo, gt = hi; /* [lo, lt) > pivot, [lt, i) = pivot, (gt, hi] < pivot */
        while (i <= gt) {
            if (e[i].rank > pivot) swap_entries(&e[lt++], &e[i++]);
            else if (e[i].rank < pivot) swap_entries(&e[i], &e[gt--]);
            else i++;
        }
        if (k < lt) hi = lt - 1;
        else if (k > gt + 1) lo = gt + 1;
        else return;
    }
}

/* Row a of G (its co-engagements), best-ranked first, the first R kept. */
static int build_row(trainer *T, uint32_t a, float *acc, uint32_t *touched) {
    const vx_itemmodel_params *p = T->p;
    const double inv_tau = p->session_seconds > 0 ? 1.0 / (1000.0 * p->session_seconds) : 0;
    uint32_t nt = 0;
    for (uint64_t r = T->istart[a]; r < T->istart[a + 1]; r++) {
        const uint32_t u = T->iuser[r];
        const uint64_t at = T->ipos[r];
        const float xa = T->ux[at];
        const int64_t ta = T->ut[at];
        for (uint64_t k = T->ustart[u]; k < T->ustart[u + 1]; k++) {
            const uint32_t b = T->uitem[k];
            if (b == a) continue;
            const double dt = (double)llabs(T->ut[k] - ta);
            const float w = xa * T->ux[k] * (float)(1.0 + p->session_boost * exp(-dt * inv_tau));
            if (acc[b] == 0) touched[nt++] = b;
            acc[b] += w;
            if (acc[b] == 0) acc[b] = 1e-30f; /* still touched */
        }
    }
    uint32_t n = 0;
    entry *e = malloc((size_t)(nt ? nt : 1) * sizeof *e);
    if (!e) return -1;
    for (uint32_t i = 0; i < nt; i++) {
        const uint32_t b = touched[i];
        if (acc[b] > 1e-20f)
            e[n++] = (entry){b, acc[b], acc[b] / powf(T->diag[b] + 1, p->select_exp)};
        acc[b] = 0;
    }
    if (n > T->R) {
        select_best(e, n, (int64_t)T->R);
        n = T->R;
    }
    qsort(e, n, sizeof *e, by_rank_desc);
    pair *kept = malloc((size_t)(n ? n : 1) * sizeof *kept);
    if (!kept) {
        free(e);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) kept[i] = (pair){e[i].item, e[i].g};
    free(e);
    T->rows[a] = (row){kept, n};
    return 0;
}

static double dot_d(const double *a, const double *b, uint32_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    uint32_t k = 0;
    for (; k + 4 <= n; k += 4) {
        s0 += a[k] * b[k];
        s1 += a[k + 1] * b[k + 1];
        s2 += a[k + 2] * b[k + 2];
        s3 += a[k + 3] * b[k + 3];
    }
    for (; k < n; k++) s0 += a[k] * b[k];
    return (s0 + s1) + (s2 + s3);
}

/* Solves a x = b for a symmetric positive definite a ([n][n], lower triangle used and
 * overwritten by its Cholesky factor); b is overwritten by x. */
static void spd_solve(double *a, double *b, uint32_t n) {
    for (uint32_t j = 0; j < n; j++) {
        double *rj = a + (size_t)j * n;
        double d = rj[j] - dot_d(rj, rj, j);
        d = sqrt(d > 1e-12 ? d : 1e-12);
        rj[j] = d;
        for (uint32_t i = j + 1; i < n; i++) {
            double *ri = a + (size_t)i * n;
            ri[j] = (ri[j] - dot_d(ri, rj, j)) / d;
        }
    }
    for (uint32_t i = 0; i < n; i++) b[i] = (b[i] - dot_d(a + (size_t)i * n, b, i)) / a[(size_t)i * n + i];
    for (uint32_t i = n; i-- > 0;) {
        double v = b[i];
        for (uint32_t k = i + 1; k < n; k++) v -= a[(size_t)k * n + i] * b[k];
        b[i] = v / a[(size_t)i * n + i];
    }
}

/* Item j's regression on its neighbours. */
static void learn_target(trainer *T, uint32_t j, int32_t *pos, double *A, double *b) {
    const vx_itemmodel_params *p = T->p;
    const row *rj = &T->rows[j];
    const uint32_t n = rj->n < T->M ? rj->n : T->M;
    if (!n) return;
    for (uint32_t x = 0; x < n; x++) pos[rj->e[x].item] = (int32_t)x;
    memset(A, 0, (size_t)n * n * sizeof *A);
    for (uint32_t x = 0; x < n; x++) {
        const row *rx = &T->rows[rj->e[x].item];
        for (uint32_t r = 0; r < rx->n; r++) {
            const int32_t y = pos[rx->e[r].item];
            if (y < 0) continue;
            /* Both rows are cut to their best R: a pair is found in either or neither. */
            double *axy = &A[(size_t)x * n + (uint32_t)y], *ayx = &A[(size_t)y * n + x];
            if (rx->e[r].g > *axy) *axy = *ayx = rx->e[r].g;
        }
    }
    for (uint32_t x = 0; x < n; x++) {
        const float gxx = T->diag[rj->e[x].item];
        A[(size_t)x * n + x] = gxx + p->lambda + p->lambda_self * gxx;
        b[x] = rj->e[x].g;
        pos[rj->e[x].item] = -1;
    }
    spd_solve(A, b, n);
    const float damp = powf((float)T->support[j] + 1, -p->pop_penalty);
    for (uint32_t x = 0; x < n; x++) {
        T->tfrom[(size_t)j * T->M + x] = rj->e[x].item;
        T->tw[(size_t)j * T->M + x] = (float)b[x] * damp;
    }
    T->tcount[j] = n;
}

enum { PHASE_ROWS, PHASE_LEARN };
typedef struct worker { trainer *T; int phase; } worker;

static void *work(void *arg) {
    worker *W = arg;
    trainer *T = W->T;
    const uint32_t chunk = 16;
    float *acc = NULL;
    uint32_t *touched = NULL;
    int32_t *pos = NULL;
    double *A = NULL, *b = NULL;
    if (W->phase == PHASE_ROWS) {
        acc = calloc(T->n_items ? T->n_items : 1, sizeof *acc);
        touched = malloc((size_t)(T->n_items ? T->n_items : 1) * sizeof *touched);
        if (!acc || !touched) goto oom;
    } else {
        pos = malloc((size_t)(T->n_items ? T->n_items : 1) * sizeof *pos);
        A = malloc((size_t)T->M * T->M * sizeof *A + 1);
        b = malloc((size_t)T->M * sizeof *b + 1);
        if (!pos || !A || !b) goto oom;
        for (uint32_t i = 0; i < T->n_items; i++) pos[i] = -1;
    }
    for (;;) {
        if (atomic_load(&T->failed)) break;
        const uint32_t lo = atomic_fetch_add(&T->next, chunk);
        if (lo >= T->n_items) break;
        const uint32_t hi = lo + chunk < T->n_items ? lo + chunk : T->n_items;
        for (uint32_t i = lo; i < hi; i++) {
            if (W->phase == PHASE_ROWS) {
                if (T->support[i] && build_row(T, i, acc, touched)) goto oom;
            } else if (T->support[i] >= (uint32_t)T->p->min_support) {
                learn_target(T, i, pos, A, b);
            }
        }
    }
    goto done;
oom:
    atomic_store(&T->failed, 1);
done:
    free(acc);
    free(touched);
    free(pos);
    free(A);
    free(b);
    return NULL;
}

static int run_phase(trainer *T, int phase) {
    int n = T->p->threads < 1 ? 1 : T->p->threads > 16 ? 16 : T->p->threads;
    pthread_t th[16];
    worker W = {T, phase};
    atomic_store(&T->next, 0);
    int started = 0;
    for (int i = 1; i < n; i++)
        if (pthread_create(&th[i], NULL, work, &W) == 0) started = i;
        else break;
    work(&W);
    for (int i = 1; i <= started; i++) pthread_join(th[i], NULL);
    return atomic_load(&T->failed) ? -1 : 0;
}

typedef struct by_time { int64_t t; uint64_t at; } by_time;
static int newest_first(const void *a, const void *b) {
    const by_time *x = a, *y = b;
    return (x->t < y->t) - (x->t > y->t);
}

/* User u's latest H engagements with a signal, into order (room for all of u's): how
 * many. */
static uint64_t latest_signals(const vx_itemmodel_input *in, uint32_t u, uint64_t H, by_time *order) {
    uint64_t n = 0;
    for (uint64_t k = in->start[u]; k < in->start[u + 1]; k++)
        if (in->weight[k] != 0 && in->item[k] < in->n_items) order[n++] = (by_time){in->t_ms[k], k};
    if (n > H) {
        qsort(order, n, sizeof *order, newest_first);
        n = H;
    }
    return n;
}

static uint64_t longest_history(const vx_itemmodel_input *in) {
    uint64_t longest = 0;
    for (uint32_t u = 0; u < in->n_users; u++)
        if (in->start[u + 1] - in->start[u] > longest) longest = in->start[u + 1] - in->start[u];
    return longest;
}

int vx_itemmodel_supports(const vx_itemmodel_input *in, const vx_itemmodel_params *p, uint32_t *support) {
    const uint64_t H = p->max_history > 0 ? (uint64_t)p->max_history : UINT64_MAX;
    const uint64_t longest = longest_history(in);
    by_time *order = malloc((size_t)(longest ? longest : 1) * sizeof *order);
    if (!order) return -1;
    memset(support, 0, (size_t)in->n_items * sizeof *support);
    for (uint32_t u = 0; u < in->n_users; u++) {
        const uint64_t n = latest_signals(in, u, H, order);
        for (uint64_t i = 0; i < n; i++) support[in->item[order[i].at]]++;
    }
    free(order);
    return 0;
}

/* Each user's latest max_history engagements with a signal; item supports and G_ii. */
static int gather(trainer *T, const vx_itemmodel_input *in) {
    const vx_itemmodel_params *p = T->p;
    const uint64_t H = p->max_history > 0 ? (uint64_t)p->max_history : UINT64_MAX;
    uint64_t total = 0;
    const uint64_t longest = longest_history(in);
    for (uint32_t u = 0; u < in->n_users; u++) {
        uint64_t n = 0;
        for (uint64_t k = in->start[u]; k < in->start[u + 1]; k++) n += in->weight[k] != 0 && in->item[k] < in->n_items;
        total += n < H ? n : H;
    }
    T->ustart = malloc(((size_t)in->n_users + 1) * sizeof *T->ustart);
    T->uitem = malloc((size_t)(total ? total : 1) * sizeof *T->uitem);
    T->ux = malloc((size_t)(total ? total : 1) * sizeof *T->ux);
    T->ut = malloc((size_t)(total ? total : 1) * sizeof *T->ut);
    by_time *order = malloc((size_t)(longest ? longest : 1) * sizeof *order);
    T->support = calloc(T->n_items ? T->n_items : 1, sizeof *T->support);
    T->diag = calloc(T->n_items ? T->n_items : 1, sizeof *T->diag);
    if (!T->ustart || !T->uitem || !T->ux || !T->ut || !order || !T->support || !T->diag) {
        free(order);
        return -1;
    }
    uint64_t at = 0;
    for (uint32_t u = 0; u < in->n_users; u++) {
        T->ustart[u] = at;
        const uint64_t n = latest_signals(in, u, H, order);
        for (uint64_t i = 0; i < n; i++) {
            const uint64_t k = order[i].at;
            const uint32_t item = in->item[k];
            T->uitem[at] = item;
            T->ux[at] = in->weight[k];
            T->ut[at] = in->t_ms[k];
            T->support[item]++;
            T->diag[item] += in->weight[k] * in->weight[k] * (1 + p->session_boost);
            at++;
        }
    }
    T->ustart[in->n_users] = at;
    free(order);
    /* users of each item */
    T->istart = calloc((size_t)T->n_items + 1, sizeof *T->istart);
    T->iuser = malloc((size_t)(at ? at : 1) * sizeof *T->iuser);
    T->ipos = malloc((size_t)(at ? at : 1) * sizeof *T->ipos);
    if (!T->istart || !T->iuser || !T->ipos) return -1;
    for (uint32_t i = 0; i < T->n_items; i++) T->istart[i + 1] = T->istart[i] + T->support[i];
    uint64_t *fill = malloc(((size_t)T->n_items + 1) * sizeof *fill);
    if (!fill) return -1;
    memcpy(fill, T->istart, ((size_t)T->n_items + 1) * sizeof *fill);
    for (uint32_t u = 0; u < in->n_users; u++)
        for (uint64_t k = T->ustart[u]; k < T->ustart[u + 1]; k++) {
            const uint64_t slot = fill[T->uitem[k]]++;
            T->iuser[slot] = u;
            T->ipos[slot] = k;
        }
    free(fill);
    return 0;
}

/* New items' incoming weights from their engaged content neighbours. */
static int learn_from_content(trainer *T, const vx_itemmodel_content *c, uint32_t *n_content, vx_error *err) {
    const vx_itemmodel_params *p = T->p;
    const int K = p->content_neighbours < 1 ? 1 : p->content_neighbours > (int)T->M ? (int)T->M : p->content_neighbours;
    const int ask = 4 * K; /* some of the nearest are new too */
    uint32_t *items = malloc((size_t)ask * sizeof *items);
    float *sims = malloc((size_t)ask * sizeof *sims);
    if (!items || !sims) {
        free(items);
        free(sims);
        return vx_fail(err, "out of memory");
    }
    int rc = 0;
    for (uint32_t j = 0; j < T->n_items && rc == 0; j++) {
        if (T->support[j] >= (uint32_t)p->min_support || (c->wanted && !c->wanted[j])) continue;
        int n = c->neighbours(c->ctx, j, items, sims, ask, err);
        if (n < 0) { rc = -1; break; }
        uint32_t kept = 0;
        for (int i = 0; i < n && kept < (uint32_t)K; i++) {
            if (items[i] >= T->n_items || items[i] == j || T->support[items[i]] < (uint32_t)p->min_support ||
                !(sims[i] > 0))
                continue;
            T->tfrom[(size_t)j * T->M + kept] = items[i];
            T->tw[(size_t)j * T->M + kept] = sims[i];
            kept++;
        }
        /* Each neighbour's share is its similarity over K, not over the neighbours found:
         * a new item resembling the one engaged item of a young catalog is not thereby
         * as strong as a learned one. */
        for (uint32_t i = 0; i < kept; i++)
            T->tw[(size_t)j * T->M + i] = (float)(p->content_weight * T->tw[(size_t)j * T->M + i] / K);
        T->tcount[j] = kept;
        *n_content += kept > 0;
    }
    free(items);
    free(sims);
    return rc;
}

/* The weights into learned items (learned = 1) or into new items (0), by source. */
static int to_csr(const trainer *T, int learned, csr *c, uint64_t *n_weights) {
    const uint32_t min = (uint32_t)T->p->min_support;
    c->start = calloc((size_t)T->n_items + 1, sizeof *c->start);
    if (!c->start) return -1;
    uint64_t n = 0;
    for (uint32_t j = 0; j < T->n_items; j++) {
        if ((T->support[j] >= min) != learned) continue;
        for (uint32_t x = 0; x < T->tcount[j]; x++)
            if (T->tw[(size_t)j * T->M + x] != 0) {
                c->start[T->tfrom[(size_t)j * T->M + x] + 1]++;
                n++;
            }
    }
    for (uint32_t i = 0; i < T->n_items; i++) c->start[i + 1] += c->start[i];
    c->to = malloc((size_t)(n ? n : 1) * sizeof *c->to);
    c->w = malloc((size_t)(n ? n : 1) * sizeof *c->w);
    uint64_t *fill = malloc(((size_t)T->n_items + 1) * sizeof *fill);
    if (!c->to || !c->w || !fill) {
        free(fill);
        return -1;
    }
    memcpy(fill, c->start, ((size_t)T->n_items + 1) * sizeof *fill);
    for (uint32_t j = 0; j < T->n_items; j++) {
        if ((T->support[j] >= min) != learned) continue;
        for (uint32_t x = 0; x < T->tcount[j]; x++) {
            const float w = T->tw[(size_t)j * T->M + x];
            if (w == 0) continue;
            const uint64_t at = fill[T->tfrom[(size_t)j * T->M + x]]++;
            c->to[at] = j;
            c->w[at] = w;
        }
    }
    free(fill);
    *n_weights = n;
    return 0;
}

static int by_magnitude(const void *a, const void *b) {
    const float x = fabsf(((const weight_to *)a)->w), y = fabsf(((const weight_to *)b)->w);
    return (x < y) - (x > y);
}

/* Keeps each source's `keep` largest weights (by magnitude), compacting in place: a
 * feed's cost is then at most history x keep. */
static int prune_rows(csr *c, uint32_t n_items, uint32_t keep, uint64_t *n_weights) {
    uint64_t longest = 0;
    for (uint32_t i = 0; i < n_items; i++)
        if (c->start[i + 1] - c->start[i] > longest) longest = c->start[i + 1] - c->start[i];
    if (!keep || longest <= keep) return 0;
    weight_to *tmp = malloc((size_t)longest * sizeof *tmp);
    if (!tmp) return -1;
    uint64_t out = 0, from = c->start[0];
    for (uint32_t i = 0; i < n_items; i++) {
        const uint64_t to = c->start[i + 1], len = to - from;
        c->start[i] = out;
        if (len > keep) {
            for (uint64_t r = 0; r < len; r++) tmp[r] = (weight_to){c->to[from + r], c->w[from + r]};
            qsort(tmp, len, sizeof *tmp, by_magnitude);
            for (uint32_t r = 0; r < keep; r++, out++) {
                c->to[out] = tmp[r].to;
                c->w[out] = tmp[r].w;
            }
        } else {
            for (uint64_t r = from; r < to; r++, out++) {
                c->to[out] = c->to[r];
                c->w[out] = c->w[r];
            }
        }
        from = to;
    }
    c->start[n_items] = out;
    *n_weights = out;
    free(tmp);
    return 0;
}

/* The serving layout from the learned and content weights (by source, to items). */
static int serving_layout(vx_itemmodel *m, const csr *parts[2], uint32_t n_items, uint64_t n_weights,
                          const uint8_t *is_new) {
    if (n_weights >= UINT32_MAX) return -1; /* offsets are 32-bit: 4 billion weights */
    m->target_of = malloc((size_t)(n_items ? n_items : 1) * sizeof *m->target_of);
    m->start = calloc((size_t)n_items + 1, sizeof *m->start);
    m->e = malloc((size_t)(n_weights ? n_weights : 1) * sizeof *m->e);
    if (!m->target_of || !m->start || !m->e) return -1;
    for (uint32_t j = 0; j < n_items; j++) m->target_of[j] = UINT32_MAX;
    uint32_t n_targets = 0;
    for (int p = 0; p < 2; p++)
        for (uint64_t r = 0; r < parts[p]->start[n_items]; r++)
            if (m->target_of[parts[p]->to[r]] == UINT32_MAX) m->target_of[parts[p]->to[r]] = n_targets++;
    m->n_targets = n_targets;
    m->target_item = malloc((size_t)(n_targets ? n_targets : 1) * sizeof *m->target_item);
    m->new_target = calloc(n_targets ? n_targets : 1, 1);
    if (!m->target_item || !m->new_target) return -1;
    for (uint32_t j = 0; j < n_items; j++)
        if (m->target_of[j] != UINT32_MAX) {
            m->target_item[m->target_of[j]] = j;
            m->new_target[m->target_of[j]] = is_new[j];
        }
    uint32_t at = 0;
    for (uint32_t i = 0; i < n_items; i++) {
        m->start[i] = at;
        for (int p = 0; p < 2; p++)
            for (uint64_t r = parts[p]->start[i]; r < parts[p]->start[i + 1]; r++, at++) {
                m->e[at] = (weight_to){m->target_of[parts[p]->to[r]], parts[p]->w[r]};
            }
    }
    m->start[n_items] = at;
    /* by target, for the reasons */
    csr *into = &m->into;
    into->start = calloc((size_t)n_targets + 1, sizeof *into->start);
    into->to = malloc((size_t)(at ? at : 1) * sizeof *into->to);
    into->w = malloc((size_t)(at ? at : 1) * sizeof *into->w);
    uint64_t *fill = malloc(((size_t)n_targets + 1) * sizeof *fill);
    if (!into->start || !into->to || !into->w || !fill) {
        free(fill);
        return -1;
    }
    for (uint32_t r = 0; r < at; r++) into->start[m->e[r].to + 1]++;
    for (uint32_t t = 0; t < n_targets; t++) into->start[t + 1] += into->start[t];
    memcpy(fill, into->start, ((size_t)n_targets + 1) * sizeof *fill);
    for (uint32_t i = 0; i < n_items; i++)
        for (uint32_t r = m->start[i]; r < m->start[i + 1]; r++) {
            const uint64_t k = fill[m->e[r].to]++;
            into->to[k] = i;
            into->w[k] = m->e[r].w;
        }
    free(fill);
    return 0;
}

static void csr_free(csr *c) {
    free(c->start);
    free(c->to);
    free(c->w);
}

static void trainer_free(trainer *T) {
    free(T->ustart);
    free(T->uitem);
    free(T->ux);
    free(T->ut);
    free(T->istart);
    free(T->iuser);
    free(T->ipos);
    free(T->support);
    free(T->diag);
    if (T->rows)
        for (uint32_t i = 0; i < T->n_items; i++) free(T->rows[i].e);
    free(T->rows);
    free(T->tfrom);
    free(T->tw);
    free(T->tcount);
}

vx_itemmodel *vx_itemmodel_train(const vx_itemmodel_input *in, const vx_itemmodel_params *p,
                                 const vx_itemmodel_content *content, vx_error *err) {
    const double t0 = vx_now();
    trainer T = {.p = p, .n_users = in->n_users, .n_items = in->n_items};
    T.M = p->neighbours < 1 ? 1 : (uint32_t)p->neighbours;
    if (content && (uint32_t)p->content_neighbours > T.M) T.M = (uint32_t)p->content_neighbours;
    /* Row entries kept: on MovieLens 4M is within 0.001 NDCG of whole rows, 2M 0.007 below. */
    T.R = 4 * T.M;
    vx_itemmodel *m = calloc(1, sizeof *m);
    if (!m || gather(&T, in)) goto oom;
    T.rows = calloc(T.n_items ? T.n_items : 1, sizeof *T.rows);
    T.tfrom = malloc((size_t)(T.n_items ? T.n_items : 1) * T.M * sizeof *T.tfrom);
    T.tw = malloc((size_t)(T.n_items ? T.n_items : 1) * T.M * sizeof *T.tw);
    T.tcount = calloc(T.n_items ? T.n_items : 1, sizeof *T.tcount);
    if (!T.rows || !T.tfrom || !T.tw || !T.tcount) goto oom;
    if (run_phase(&T, PHASE_ROWS) || run_phase(&T, PHASE_LEARN)) goto oom;
    for (uint32_t i = 0; i < T.n_items; i++) {
        free(T.rows[i].e);
        T.rows[i].e = NULL;
    }
    uint32_t n_content = 0;
    if (content && content->neighbours && learn_from_content(&T, content, &n_content, err)) {
        trainer_free(&T);
        free(m);
        return NULL;
    }
    /* by source, for serving */
    m->n_items = T.n_items;
    uint64_t n_learned = 0, n_from_content = 0;
    csr learned_w = {0}, content_w = {0};
    uint8_t *is_new = calloc(T.n_items ? T.n_items : 1, 1);
    uint32_t learned = 0;
    for (uint32_t j = 0; is_new && j < T.n_items; j++) {
        const int is_learned = T.support[j] >= (uint32_t)p->min_support;
        learned += T.tcount[j] > 0 && is_learned;
        is_new[j] = T.tcount[j] > 0 && !is_learned;
    }
    const csr *parts[2] = {&learned_w, &content_w};
    const int built = is_new && !to_csr(&T, 1, &learned_w, &n_learned) && !to_csr(&T, 0, &content_w, &n_from_content) &&
                      !prune_rows(&learned_w, T.n_items, (uint32_t)(p->max_out > 0 ? p->max_out : 0), &n_learned) &&
                      !prune_rows(&content_w, T.n_items,
                                  (uint32_t)(p->max_content_out > 0 ? p->max_content_out : 0), &n_from_content) &&
                      !serving_layout(m, parts, T.n_items, n_learned + n_from_content, is_new);
    csr_free(&learned_w);
    csr_free(&content_w);
    free(is_new);
    if (!built) goto oom;
    const uint64_t weights = n_learned + n_from_content;
    m->stats = (vx_itemmodel_stats){
        .items = T.n_items,
        .learned = learned,
        .from_content = n_content,
        .weights = weights,
        .bytes = sizeof *m + ((size_t)T.n_items + 1) * sizeof(uint32_t) * 2 +
                 ((size_t)m->n_targets + 1) * (sizeof(uint64_t) + sizeof(uint32_t) + 1) +
                 2 * (size_t)weights * (sizeof(uint32_t) + sizeof(float)),
    };
    trainer_free(&T);
    m->stats.train_s = vx_now() - t0;
    return m;
oom:
    trainer_free(&T);
    vx_itemmodel_free(m);
    vx_fail(err, "out of memory training the item model");
    return NULL;
}

void vx_itemmodel_free(vx_itemmodel *m) {
    if (!m) return;
    free(m->start);
    free(m->e);
    free(m->target_item);
    free(m->target_of);
    free(m->new_target);
    csr_free(&m->into);
    free(m);
}

int vx_itemmodel_from_content(const vx_itemmodel *m, uint32_t item) {
    return item < m->n_items && m->target_of[item] != UINT32_MAX && m->new_target[m->target_of[item]];
}

void vx_itemmodel_stats_get(const vx_itemmodel *m, vx_itemmodel_stats *out) { *out = m->stats; }

/* ---- scoring -------------------------------------------------------------------------- */

void vx_itemscores_free(vx_itemscores *s) {
    free(s->score);
    free(s->touched);
    free(s->hpos);
    free(s->in_hist);
    free(s->hist);
    free(s->x);
    memset(s, 0, sizeof *s);
}

static int scores_fit(vx_itemscores *s, uint32_t n_items, uint32_t n_history) {
    if (n_items > s->cap || !s->score) {
        vx_itemscores_free(s);
        const size_t c = n_items ? n_items : 1;
        s->score = calloc(c, sizeof *s->score);
        s->hpos = calloc(c, sizeof *s->hpos);
        s->in_hist = calloc(c / 64 + 1, sizeof *s->in_hist);
        s->touched = malloc((c + 1) * sizeof *s->touched); /* + 1: the branch-free append writes one ahead */
        if (!s->score || !s->hpos || !s->in_hist || !s->touched) {
            vx_itemscores_free(s);
            return -1;
        }
        s->cap = n_items;
    }
    if (n_history > s->x_cap) {
        float *x = realloc(s->x, (size_t)n_history * sizeof *x);
        if (x) s->x = x;
        uint32_t *h = realloc(s->hist, (size_t)n_history * sizeof *h);
        if (h) s->hist = h;
        if (!x || !h) return -1;
        s->x_cap = n_history;
    }
    return 0;
}

int vx_itemmodel_score(const vx_itemmodel *m, const uint32_t *items, const float *weights, uint32_t n,
                       vx_itemscores *s) {
    for (uint32_t t = 0; t < s->n_touched; t++) s->score[s->touched[t]] = 0; /* what the last user reached */
    for (uint32_t h = 0; h < s->n_hist; h++) {
        s->hpos[s->hist[h]] = 0;
        s->in_hist[s->hist[h] / 64] = 0;
    }
    s->n_touched = s->n_hist = 0;
    if (scores_fit(s, m->n_items, n)) return -1; /* targets are some of the items */
    s->item = m->target_item;
    /* The history first, then its rows: they are scattered over the model, so each is
     * fetched whole a few rows ahead of its adds (and its place in `start` further
     * ahead), the adds being the hot loop of a feed: one scattered add each, no branch. */
    for (uint32_t h = 0; h < n; h++) {
        const uint32_t i = items[h];
        if (i >= m->n_items || weights[h] == 0 || s->in_hist[i / 64] >> (i % 64) & 1) continue;
        s->hist[s->n_hist] = i;
        s->x[s->n_hist] = weights[h];
        s->hpos[i] = ++s->n_hist;
        s->in_hist[i / 64] |= 1ull << (i % 64);
    }
    enum { AHEAD = 4 };
    float *score = s->score;
    uint32_t *touched = s->touched, nt = 0;
    for (uint32_t h = 0; h < s->n_hist; h++) {
        if (h + 2 * AHEAD < s->n_hist) __builtin_prefetch(&m->start[s->hist[h + 2 * AHEAD]]);
        if (h + AHEAD < s->n_hist) {
            const uint32_t a = m->start[s->hist[h + AHEAD]], z = m->start[s->hist[h + AHEAD] + 1];
            for (uint32_t r = a; r < z; r += 8) __builtin_prefetch(m->e + r);
        }
        /* Learned weights and, for new items, content ones: as much as the user engaged
         * with their content neighbours. (Scoring new items by the model's scores of
         * those neighbours instead, a second hop, ranked held-out films worse on
         * MovieLens at every weight.) */
        const uint32_t i = s->hist[h];
        const float x = s->x[h];
        const weight_to *row = m->e + m->start[i];
        const uint32_t len = m->start[i + 1] - m->start[i];
        for (uint32_t r = 0; r < len; r++) {
            const uint32_t t = row[r].to;
            const float before = score[t], after = before + x * row[r].w;
            touched[nt] = t; /* kept only when t was not reached before */
            nt += before == 0;
            score[t] = after != 0 ? after : 1e-30f; /* cancelled out, but still listed */
        }
    }
    s->n_touched = nt;
    return 0;
}

uint32_t vx_itemmodel_via(const vx_itemmodel *m, const vx_itemscores *s, uint32_t item) {
    uint32_t via = UINT32_MAX;
    float best = 0;
    if (item >= m->n_items || m->target_of[item] == UINT32_MAX) return via;
    const uint32_t t = m->target_of[item];
    for (uint64_t r = m->into.start[t]; r < m->into.start[t + 1]; r++) {
        const uint32_t from = m->into.to[r];
        if (!(s->in_hist[from / 64] >> (from % 64) & 1)) continue;
        const float c = s->x[s->hpos[from] - 1] * m->into.w[r];
        if (via == UINT32_MAX || c > best) {
            via = m->into.to[r];
            best = c;
        }
    }
    return via;
}
