/* vidx engine: how a search is answered, top to bottom.
 *
 * Text search
 *   1. vx_engine_search_start checks the parameters and tokenizes the text (the model's
 *      context length); the query cache, keyed by token ids, may hold its embedding.
 *   2. If not, the query encoder thread (encoder.c) encodes it, together with the other
 *      queries waiting, puts it in the cache and calls the caller's ready().
 *   3. vx_engine_search_finish ranks: the nearest segments (ann/; on a node holding one
 *      shard of a sharded cluster, merged with one replica of every other shard's, see
 *      nearest_segments and cluster/README.md), each video's best
 *      segment (its score and time range are the video's score and "moment"), videos
 *      that fail the filters dropped, the page cut with offset and k, and the page's
 *      video records read from the catalog.
 * Similar videos
 *   The video's own whole-video vector is the query against the video index; the video
 *   itself and exact copies of it are left out. Answers are cached as values (the
 *   results) until the vector index changes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/hash.h"
#include "../common/grow.h"
#include "../common/idmap.h"
#include "../common/utf8.h"
#include "../encoder/mtext.h"
#include "langid.h"
#include "../indexer/neardup.h"
#include "../indexer/picture.h"
#include "engine_internal.h"

void vx_search_params_default(vx_search_params *p) {
    memset(p, 0, sizeof *p);
    p->k = 10;
}

void vx_results_free(vx_results *r) {
    for (int i = 0; !r->lent && i < r->n; i++) {
        free(r->items[i].title);
        free(r->items[i].path);
        free(r->items[i].snippet);
    }
    vx_lru_release(r->lent);
    free(r->items);
    memset(r, 0, sizeof *r);
}

static int check_page(int k, int offset, vx_error *err) {
    if (k < 1 || k > VX_MAX_K) return vx_fail(err, "k: must be a whole number from 1 to %d", VX_MAX_K);
    if (offset < 0 || offset > VX_MAX_OFFSET)
        return vx_fail(err, "offset: must be a whole number from 0 to %d", VX_MAX_OFFSET);
    return 0;
}

/* ---- 1. the query -------------------------------------------------------------------------- */

struct vx_query {
    vx_engine *e;
    int lexical_only;         /* no model: the lexical ranking alone answers */
    int english_only;         /* not English, but only CLIP's English tower is here */
    vx_search_params p;       /* strings owned; tag_filter points to tags */
    vx_label_filter tags;
    vx_encode_task task;      /* ids, n, out, rc, err */
    void (*ready)(void *arg);
    void *arg;
};

void vx_query_free(vx_query *q) {
    if (!q) return;
    free((char *)q->p.text);
    free((char *)q->p.path_prefix);
    free((char *)q->p.tag);
    free((char *)q->p.lang);
    free(q->task.ids);
    free((void *)q->task.image);
    free(q->task.out);
    free(q->task.mids);
    free(q->task.mout);
    free(q);
}

static int check_search(const vx_search_params *p, vx_error *err) {
    if (!p->text || !*p->text) return vx_fail(err, "q: the query text is missing");
    size_t n = strlen(p->text);
    if (n > VX_MAX_QUERY) return vx_fail(err, "q: longer than %d bytes", VX_MAX_QUERY);
    if (!vx_utf8_valid(p->text, n)) return vx_fail(err, "q: not valid UTF-8");
    if (check_page(p->k, p->offset, err)) return -1;
    if (!(p->min_duration >= 0 && p->min_duration <= 1e9))
        return vx_fail(err, "min_duration: must be a number of seconds from 0 to 1e9");
    if (!(p->max_duration >= 0 && p->max_duration <= 1e9))
        return vx_fail(err, "max_duration: must be a number of seconds from 0 to 1e9 (0: no limit)");
    if (p->path_prefix && (strlen(p->path_prefix) > VX_MAX_PATH || !vx_utf8_valid(p->path_prefix, strlen(p->path_prefix))))
        return vx_fail(err, "path: longer than %d bytes or not UTF-8", VX_MAX_PATH);
    if (p->lang && *p->lang) { /* BCP 47: a 2-3 letter language, subtags after '-' */
        const size_t n = strlen(p->lang), head = strspn(p->lang, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
        if (n > 35 || head < 2 || head > 3 || strspn(p->lang, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != n)
            return vx_fail(err, "lang: not a language tag (\"en\", \"zh-CN\", \"de\")");
    }
    return 0;
}

/* ---- which text tower -------------------------------------------------------------------- */

/* Which text tower reads a query: its lang when given ("en..." is English), else what
 * vx_langid_route tells (English: CLIP's; another language: the multilingual one; unsure:
 * both, fused). Without the multilingual tower, CLIP's reads everything, and *english_only
 * says when the query is not English. */
static int pick_tower(const vx_engine *e, const char *text, const char *lang, int *english_only) {
    vx_lang_guess guess;
    if (lang && *lang)
        guess = (lang[0] == 'e' || lang[0] == 'E') && (lang[1] == 'n' || lang[1] == 'N') && (lang[2] == '\0' || lang[2] == '-')
                    ? VX_LANG_ENGLISH : VX_LANG_OTHER;
    else
        guess = vx_langid_route(text, vx_clip_tokenizer(e->model));
    const int multi = vx_engine_text_model_usable(e);
    *english_only = guess == VX_LANG_OTHER && !multi;
    if (!multi || guess == VX_LANG_ENGLISH) return VX_TOWER_CLIP;
    return guess == VX_LANG_OTHER ? VX_TOWER_MULTILINGUAL : VX_TOWER_BOTH;
}

/* A query read by both towers: the two embeddings' sum, normalised. Its cosine with a
 * frame is the two towers' cosines added (scaled alike for every frame), so the ranking
 * is the sum of the two towers' scores: a frame must suit both readings to lead. */
static void fuse_towers(float *clip, const float *multi, int dim) {
    double ss = 0;
    for (int i = 0; i < dim; i++) {
        clip[i] += multi[i];
        ss += (double)clip[i] * clip[i];
    }
    const float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.f;
    for (int i = 0; i < dim; i++) clip[i] *= inv;
}

/* On the encoder thread: the embedding is known (or failed). */
static void encoded(vx_encode_task *t) {
    vx_query *q = (vx_query *)((char *)t - offsetof(vx_query, task));
    if (t->rc == 0 && !t->image) {
        const int both = t->tower == VX_TOWER_BOTH;
        vx_query_cache_put(q->e->qcache, both ? VX_TOWER_CLIP : t->tower, t->ids, t->n, t->out);
        if (both) {
            vx_query_cache_put(q->e->qcache, VX_TOWER_MULTILINGUAL, t->mids, t->mn, t->mout);
            fuse_towers(t->out, t->mout, vx_clip_get_config(q->e->model)->proj_dim);
        }
    }
    q->ready(q->arg);
}

/* Hands a query's task to the encoder thread, or runs it here without one (the command
 * line). 0, or VX_E_BUSY when too many wait (q is then freed). */
static int submit(vx_engine *e, vx_query *q, vx_error *err) {
    q->task.done = encoded;
    if (!e->encoder) {
        const int32_t *ids = q->task.ids;
        if (q->task.tower == VX_TOWER_MULTILINGUAL || q->task.tower == VX_TOWER_BOTH) {
            const int both = q->task.tower == VX_TOWER_BOTH;
            const int32_t *mids = both ? q->task.mids : ids;
            vx_mtext_ctx *mctx = vx_mtext_ctx_new(e->text_model, vx_mtext_max_tokens(e->text_model), &q->task.err);
            q->task.rc = mctx ? vx_mtext_encode_tokens(mctx, &mids, both ? &q->task.mn : &q->task.n, 1,
                                                       both ? q->task.mout : q->task.out, &q->task.err) : -1;
            vx_mtext_ctx_free(mctx);
            if (!both || q->task.rc) {
                encoded(&q->task);
                return 0;
            }
        }
        vx_clip_ctx *ctx = vx_clip_ctx_new(e->model, 1, q->task.image ? 0 : vx_clip_get_config(e->model)->context, err);
        if (!ctx) {
            q->task.rc = -1;
            q->task.err = *err;
        } else if (q->task.image) {
            vx_encode_image_task(ctx, e->model, &q->task);
        } else {
            q->task.rc = vx_clip_encode_tokens(ctx, &ids, &q->task.n, 1, q->task.out, &q->task.err);
        }
        vx_clip_ctx_free(ctx);
        encoded(&q->task);
        return 0;
    }
    if (vx_query_encoder_submit(e->encoder, &q->task)) {
        const int picture = q->task.image != NULL;
        vx_query_free(q);
        vx_fail(err, picture ? "too many pictures waiting to be encoded (at most %d); try again shortly"
                             : "too many new queries waiting to be encoded; try again shortly", VX_ENCODER_MAX_PICTURES);
        return VX_E_BUSY;
    }
    return 0;
}

/* The query's own copy of the page, the filters (its tag read by vx_engine_label_parse)
 * and whom to tell: 0, or a vx_status with q freed. */
static int take_params(vx_engine *e, vx_query *q, const vx_search_params *p, void (*ready)(void *arg), void *arg,
                       vx_error *err) {
    q->e = e;
    q->p.k = p->k;
    q->p.offset = p->offset;
    q->p.min_duration = p->min_duration;
    q->p.max_duration = p->max_duration;
    q->ready = ready;
    q->arg = arg;
    if (!p->tag || !*p->tag) return 0;
    int r = vx_engine_label_parse(e, p->tag, &q->tags, err);
    if (!r && !(q->p.tag = strdup(p->tag))) {
        vx_fail(err, "out of memory");
        r = VX_E_INTERNAL;
    }
    if (r) {
        vx_query_free(q);
        return r;
    }
    q->p.tag_filter = &q->tags;
    return 0;
}

int vx_engine_search_start(vx_engine *e, const vx_search_params *p, void (*ready)(void *arg), void *arg,
                           vx_query **out, vx_error *err) {
    *out = NULL;
    vx_engine_foreground(e);
    if (!e->model && !e->lex) {
        vx_fail(err, "text search needs the CLIP model: %s", e->model_problem);
        return VX_E_MODEL_MISSING;
    }
    if (check_search(p, err)) return VX_E_BAD_INPUT;
    const vx_clip_config *c = e->model ? vx_clip_get_config(e->model) : NULL;
    int english_only = 0;
    const int tower = c ? pick_tower(e, p->text, p->lang, &english_only) : VX_TOWER_NONE;
    const int multi = tower == VX_TOWER_MULTILINGUAL, both = tower == VX_TOWER_BOTH;
    const int max_ids = multi ? vx_mtext_max_tokens(e->text_model) : c ? c->context : 0;
    const int max_mids = both ? vx_mtext_max_tokens(e->text_model) : 0;
    vx_query *q = calloc(1, sizeof *q);
    if (!q || (c && !(q->task.ids = malloc((size_t)max_ids * sizeof *q->task.ids))) ||
        (c && !(q->task.out = malloc((size_t)c->proj_dim * sizeof *q->task.out))) ||
        (both && !(q->task.mids = malloc((size_t)max_mids * sizeof *q->task.mids))) ||
        (both && !(q->task.mout = malloc((size_t)c->proj_dim * sizeof *q->task.mout))) || !(q->p.text = strdup(p->text)) ||
        (p->path_prefix && !(q->p.path_prefix = strdup(p->path_prefix))) ||
        (p->lang && *p->lang && !(q->p.lang = strdup(p->lang)))) {
        vx_query_free(q);
        vx_fail(err, "out of memory");
        return VX_E_INTERNAL;
    }
    int r = take_params(e, q, p, ready, arg, err);
    if (r) return r;
    if (!c) { /* no model: words only, nothing to encode */
        q->lexical_only = 1;
        *out = q;
        return 1;
    }
    q->task.tower = tower;
    q->english_only = english_only;
    q->task.n = multi ? vx_wordpiece_encode(vx_mtext_tokenizer(e->text_model), p->text, q->task.ids, max_ids, err)
                      : vx_tokenize(vx_clip_tokenizer(e->model), p->text, q->task.ids, c->context, err);
    if (both && q->task.n >= 0)
        q->task.mn = vx_wordpiece_encode(vx_mtext_tokenizer(e->text_model), p->text, q->task.mids, max_mids, err);
    if (q->task.n < 0 || q->task.mn < 0) {
        vx_fail_prefix(err, "q");
        vx_query_free(q);
        return VX_E_BAD_INPUT;
    }
    /* From the query cache (both halves, for a query both towers read: else both again). */
    if (vx_query_cache_get(e->qcache, both ? VX_TOWER_CLIP : tower, q->task.ids, q->task.n, q->task.out) &&
        (!both || vx_query_cache_get(e->qcache, VX_TOWER_MULTILINGUAL, q->task.mids, q->task.mn, q->task.mout))) {
        if (both) fuse_towers(q->task.out, q->task.mout, c->proj_dim);
        atomic_fetch_add_explicit(&e->cache_hits, 1, memory_order_relaxed);
        *out = q;
        return 1;
    }
    atomic_fetch_add_explicit(&e->cache_misses, 1, memory_order_relaxed);
    *out = q; /* before submitting: ready() may come at once */
    r = submit(e, q, err);
    if (r) *out = NULL;
    return r;
}

/* ---- 3. ranking ---------------------------------------------------------------------------- */

static int passes(vx_engine *e, const vx_video *v, const vx_search_params *f) {
    if (v->status != VX_VIDEO_INDEXED) return 0;
    if (v->duration < f->min_duration) return 0;
    if (f->max_duration > 0 && v->duration > f->max_duration) return 0;
    if (f->path_prefix && strncmp(v->path, f->path_prefix, strlen(f->path_prefix)) != 0) return 0;
    if (f->tag_filter && !vx_engine_label_matches(e, v->duplicate_of ? v->duplicate_of : v->id, f->tag_filter)) return 0;
    return 1;
}

/* Appends a result for v. */
static int push(vx_results *out, const vx_video *v, float score, double start, double end, int segment) {
    vx_result *items = realloc(out->items, (size_t)(out->n + 1) * sizeof *items);
    if (!items) return -1;
    out->items = items;
    items[out->n] = (vx_result){.video_id = v->id, .score = score, .start = start, .end = end, .segment = segment,
                                .title = strdup(v->title), .path = strdup(v->path), .duration = v->duration};
    if (!items[out->n].title || !items[out->n].path) {
        free(items[out->n].title);
        free(items[out->n].path);
        return -1;
    }
    out->n++;
    return 0;
}

/* Appends a result for v at hit h, its moment the hit's segment (the whole video when
 * the segment cannot be read). */
static int push_hit(vx_engine *e, vx_results *out, const vx_video *v, const vx_ann_hit *h, vx_error *err) {
    vx_segment seg;
    double start = 0, end = v->duration;
    if (vx_catalog_get_segment(e->cat, v->id, (uint32_t)h->segment, &seg, err) == 0) {
        start = seg.start;
        end = seg.end;
        vx_segment_clear(&seg);
    }
    return push(out, v, h->score, start, end, h->segment) ? vx_fail(err, "out of memory") : 0;
}

/* Best first; equal scores by video and segment, so that every node, sharded or not,
 * orders the same hits the same way. */
static int hit_order(const void *pa, const void *pb) {
    const vx_ann_hit *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->video_id != b->video_id) return a->video_id < b->video_id ? -1 : 1;
    return (a->segment > b->segment) - (a->segment < b->segment);
}

/* Re-uploads are one result: a video and its re-uploads (near_duplicate_of, indexer/
 * neardup.h) are a group, ranked where its best-ranked member that passes the filters is,
 * and shown as its original when the original is among the candidates and passes them
 * too (with the original's own moment and score), else as that member. The others that
 * match are listed with it (vx_result.copies) and not counted again, so pages and totals
 * count groups. */
typedef struct copy_groups {
    vx_idmap slot;  /* group (its original's id) -> its result's slot + 1 on this page, 0 off it */
    vx_idmap first; /* video -> the index of its first (best) candidate */
    int folded;     /* copies that joined a group (on this page or not) */
} copy_groups;

static int groups_init(copy_groups *g, int candidates) {
    memset(g, 0, sizeof *g);
    return vx_idmap_init(&g->slot, (size_t)candidates + 1) || vx_idmap_init(&g->first, (size_t)candidates + 1);
}

static void groups_free(copy_groups *g) {
    vx_idmap_free(&g->slot);
    vx_idmap_free(&g->first);
}

/* Candidate i is video id (callers go through every candidate before ranking). */
static void groups_candidate(copy_groups *g, uint64_t id, int i) {
    if (!vx_idmap_get(&g->first, id, NULL)) vx_idmap_put(&g->first, id, (uint64_t)i); /* sized: never fails */
}

static uint64_t group_of(const vx_video *v) { return v->near_duplicate_of ? v->near_duplicate_of : v->id; }

/* Lists id among x's copies: all counted, the first VX_RESULT_COPIES kept. */
static void list_copy(vx_result *x, uint64_t id) {
    if (x->copies < VX_RESULT_COPIES) x->copy_ids[x->copies] = id;
    x->copies++;
}

/* The original (its id is the group's) only ever joins as the head itself, met again. */
static void add_copy(copy_groups *g, uint64_t group, uint64_t id, vx_results *out) {
    uint64_t slot;
    if (id == group || !vx_idmap_get(&g->slot, group, &slot)) return;
    g->folded++;
    if (slot) list_copy(&out->items[slot - 1], id);
}

/* 1 when v belongs to a group already ranked: it joins that result (on this page). */
static int joins_group(copy_groups *g, const vx_video *v, vx_results *out) {
    if (!vx_idmap_get(&g->slot, group_of(v), NULL)) return 0;
    add_copy(g, group_of(v), v->id, out);
    return 1;
}

/* v, candidate i, passes the filters and starts a group: who stands for the group. v
 * itself, or when v is a re-upload whose original is a later candidate that passes the
 * filters, the original: then v holds the original's record (v's cleared), *at its
 * candidate index and *copy the re-upload's id (0 otherwise). -1 on catalog errors. */
static int group_head(vx_engine *e, copy_groups *g, int i, const vx_search_params *f, vx_video *v, int *at,
                      uint64_t *copy, vx_error *err) {
    uint64_t j;
    *at = i;
    *copy = 0;
    if (!v->near_duplicate_of || !vx_idmap_get(&g->first, v->near_duplicate_of, &j) || (int)j <= i) return 0;
    vx_video o;
    const int r = vx_catalog_get_video(e->cat, v->near_duplicate_of, &o, err);
    if (r) return r < 0 ? -1 : 0;
    if (!passes(e, &o, f) || o.duplicate_of) {
        vx_video_clear(&o);
        return 0;
    }
    *copy = v->id;
    vx_video_clear(v);
    *v = o;
    *at = (int)j;
    return 0;
}

/* v (the head) starts its group; on_page: its result is the last of out. */
static int heads_group(copy_groups *g, const vx_video *v, uint64_t copy, vx_results *out, int on_page) {
    if (vx_idmap_put(&g->slot, group_of(v), on_page ? (uint64_t)out->n : 0)) return -1;
    if (copy) add_copy(g, group_of(v), copy, out);
    return 0;
}

/* This node's `pool` nearest segments (its shard's when sharded), best first as the
 * index gives them (callers put ties in hit_order); *held: the segments its index
 * holds. Under the index's read lock. */
static int local_segments(vx_engine *e, const float *q, int64_t pool, vx_ann_hit *hits, int64_t *held, int *dim,
                          vx_error *err) {
    pthread_rwlock_rdlock(&e->vectors.lock);
    *held = vx_ann_count_segments(e->vectors.ann);
    *dim = vx_ann_dim(e->vectors.ann);
    if (pool > *held) pool = *held;
    int n = pool > 0 ? vx_ann_search_segments(e->vectors.ann, q, (int)pool, hits, err) : 0;
    pthread_rwlock_unlock(&e->vectors.lock);
    return n;
}

/* The pool nearest segments to q over the whole catalog: this node's, merged with one
 * replica of every other shard's when the index is sharded (asked without holding the
 * index's lock; a shard that does not answer in time is counted in out->shards_missing).
 * With exact indexes the merge is the single index's answer: each shard's `pool` best
 * hold every hit of the overall `pool` best that lives in it. *total: segments searched. */
static int nearest_segments(vx_engine *e, const float *q, int64_t pool, vx_ann_hit **hits, int64_t *total,
                            vx_results *out, vx_error *err) {
    const uint32_t shards = e->opt.shards > 1 ? e->opt.shards : 1;
    int dim;
    if (!(*hits = malloc((size_t)(pool > 0 ? pool : 1) * sizeof **hits))) return vx_fail(err, "out of memory");
    int n = local_segments(e, q, pool, *hits, total, &dim, err);
    out->sharded = shards > 1;
    out->shards_missing = 0;
    if (n < 0) return n;
    if (shards == 1) {
        if (n > 1) qsort(*hits, (size_t)n, sizeof **hits, hit_order);
        return n;
    }
    vx_shard_answer *answers = calloc(shards, sizeof *answers);
    int *answered = calloc(shards, sizeof *answered);
    if (!answers || !answered) {
        free(answers);
        free(answered);
        return vx_fail(err, "out of memory");
    }
    const vx_shard_query sq = {.shard = e->opt.shard, .shards = shards, .dim = (uint32_t)dim, .v = (float *)q,
                               .pool = (uint32_t)(pool < VX_SHARD_MAX_POOL ? pool : VX_SHARD_MAX_POOL)};
    if (e->opt.cluster && e->opt.cluster->ask_shards && dim > 0) e->opt.cluster->ask_shards(e->opt.cluster->ctx, &sq, answers, answered);
    int64_t all = n;
    for (uint32_t s = 0; s < shards; s++)
        if (s != e->opt.shard) {
            if (!answered[s]) out->shards_missing++;
            else all += answers[s].n, *total += (int64_t)answers[s].segments;
        }
    vx_ann_hit *merged = realloc(*hits, (size_t)(all > 0 ? all : 1) * sizeof *merged);
    if (!merged) {
        n = vx_fail(err, "out of memory");
    } else {
        *hits = merged;
        for (uint32_t s = 0; s < shards; s++)
            for (uint32_t i = 0; answered[s] && i < answers[s].n; i++)
                merged[n++] = (vx_ann_hit){answers[s].hits[i].video_id, (int)answers[s].hits[i].segment,
                                           answers[s].hits[i].score};
        qsort(merged, (size_t)n, sizeof *merged, hit_order);
        if (n > pool) n = (int)pool;
    }
    for (uint32_t s = 0; s < shards; s++) vx_shard_answer_clear(&answers[s]);
    free(answers);
    free(answered);
    return n;
}

/* ---- narrow filters: the videos they name, scored whole ------------------------------------ */

/* A filter by path or tag that names at most this many videos, with at most this many
 * segments in all, is applied before the nearest-neighbour search: those segments are
 * scored exactly, from the catalog. Otherwise the filter is applied to the nearest
 * segments (below), which finds its videos soon when it names many. */
#define SELECT_MAX_VIDEOS 4096
#define SELECT_MAX_SEGMENTS 65536

typedef struct picked {
    uint64_t *ids;
    size_t n, cap;
    int too_many, oom;
} picked;

static int pick_id(void *ctx, uint64_t id) {
    picked *p = ctx;
    if (p->n == SELECT_MAX_VIDEOS) return p->too_many = 1;
    if (VX_GROW(p->ids, p->cap, p->n + 1)) return p->oom = 1;
    p->ids[p->n++] = id;
    return 0;
}

/* The best segment of every video that passes f, best first (hit_order), when f names
 * few videos by path or tag: 0 with *hits and *n (*n the exact count of videos that
 * pass); 1 when f names none that way or too many (then the nearest segments are
 * filtered instead); -1 on error. */
static int selected_hits(vx_engine *e, const float *q, const vx_search_params *f, vx_ann_hit **hits, int *n,
                         vx_error *err) {
    *hits = NULL;
    *n = 0;
    if (!f->path_prefix && !f->tag_filter) return 1;
    picked p = {0};
    if (f->path_prefix) {
        if (vx_catalog_scan_path_prefix(e->cat, f->path_prefix, pick_id, &p, err)) { free(p.ids); return -1; }
    } else {
        const int r = vx_engine_label_select(e, f->tag_filter, SELECT_MAX_VIDEOS, &p.ids, &p.n);
        if (r < 0) return vx_fail(err, "out of memory");
        p.too_many = r > 0;
    }
    if (p.oom) { free(p.ids); return vx_fail(err, "out of memory"); }
    if (p.too_many) { free(p.ids); return 1; }
    pthread_rwlock_rdlock(&e->vectors.lock);
    const uint32_t dim = (uint32_t)vx_ann_dim(e->vectors.ann);
    pthread_rwlock_unlock(&e->vectors.lock);
    /* First the records: which videos pass, and how many segments they have. */
    size_t kept = 0;
    int64_t segments = 0;
    for (size_t i = 0; i < p.n; i++) {
        vx_video v;
        const int r = vx_catalog_get_video(e->cat, p.ids[i], &v, err);
        if (r < 0) { free(p.ids); return -1; }
        if (r) continue;
        if (passes(e, &v, f) && !v.duplicate_of && v.n_segments) {
            p.ids[kept++] = v.id;
            segments += v.n_segments;
        }
        vx_video_clear(&v);
    }
    if (segments > SELECT_MAX_SEGMENTS) { free(p.ids); return 1; }
    vx_ann_hit *h = malloc((kept ? kept : 1) * sizeof *h);
    if (!h) { free(p.ids); return vx_fail(err, "out of memory"); }
    int m = 0;
    for (size_t i = 0; i < kept; i++) {
        vx_segment *segs;
        uint32_t ns;
        if (vx_catalog_get_segments(e->cat, p.ids[i], 1, &segs, &ns, err)) { free(h); free(p.ids); return -1; }
        vx_ann_hit best = {p.ids[i], -1, 0};
        for (uint32_t k = 0; k < ns; k++) {
            if (segs[k].dim != dim || !segs[k].embedding) continue; /* another model's, waiting */
            const float score = vx_dot(q, segs[k].embedding, dim);
            if (best.segment < 0 || score > best.score) best = (vx_ann_hit){p.ids[i], (int)k, score};
        }
        vx_segments_free(segs, ns);
        if (best.segment >= 0) h[m++] = best;
    }
    free(p.ids);
    qsort(h, (size_t)m, sizeof *h, hit_order);
    *hits = h;
    *n = m;
    return 0;
}

/* Nearest segments, best per video, filtered, paged. */
static int rank_segments(vx_engine *e, const float *q, const vx_search_params *f, vx_results *out, vx_error *err) {
    const int want = f->offset + f->k;
    vx_ann_hit *picked_hits;
    int n_picked;
    const int sel = selected_hits(e, q, f, &picked_hits, &n_picked, err);
    if (sel < 0) return -1;
    if (sel == 0) { /* a narrow filter: every video it names, scored */
        vx_results_free(out);
        copy_groups g;
        int matched = 0, rc = groups_init(&g, n_picked) ? vx_fail(err, "out of memory") : 0;
        for (int i = 0; i < n_picked && rc == 0; i++) groups_candidate(&g, picked_hits[i].video_id, i);
        for (int i = 0; i < n_picked && rc == 0; i++) {
            vx_video v;
            const int r = vx_catalog_get_video(e->cat, picked_hits[i].video_id, &v, err);
            if (r) { rc = r < 0 ? -1 : 0; continue; }
            int at;
            uint64_t copy;
            if (!joins_group(&g, &v, out) && !(rc = group_head(e, &g, i, f, &v, &at, &copy, err))) {
                const int on_page = ++matched > f->offset && matched <= want;
                if (on_page) rc = push_hit(e, out, &v, &picked_hits[at], err);
                if (rc == 0 && heads_group(&g, &v, copy, out, on_page)) rc = vx_fail(err, "out of memory");
            }
            vx_video_clear(&v);
        }
        groups_free(&g);
        free(picked_hits);
        if (rc) { vx_results_free(out); return -1; }
        out->total = matched;
        return 0;
    }
    const int filtered = f->path_prefix || f->min_duration > 0 || f->max_duration > 0 || f->tag_filter;
    /* A filter that matches little would grow the pool to every segment, each candidate a
     * record read: a filtered search stops at filter_pool_max, and says so. */
    const int64_t most = filtered && e->opt.filter_pool_max > 0 ? e->opt.filter_pool_max : INT64_MAX;
    int64_t pool = (int64_t)want * 8 + 32 < most ? (int64_t)want * 8 + 32 : most;
    for (;;) {
        vx_ann_hit *hits = NULL;
        int64_t total_segments = 0;
        vx_results_free(out);
        int n = nearest_segments(e, q, pool, &hits, &total_segments, out, err);
        if (n < 0) { free(hits); return -1; }
        /* Hits come best first, so a video's first hit is its best segment. Videos
         * already ranked: pools grow to tens of thousands of hits for deep pages, where
         * a linear scan per hit would be quadratic. */
        vx_idmap seen;
        copy_groups g;
        int matched = 0, rc = vx_idmap_init(&seen, (size_t)n) || groups_init(&g, n) ? vx_fail(err, "out of memory") : 0;
        for (int i = 0; i < n && rc == 0; i++) groups_candidate(&g, hits[i].video_id, i);
        /* Without filters the page is all that is needed (total is the index's count, which
         * counts copies apart); with them, every candidate is counted. */
        for (int i = 0; i < n && rc == 0 && (filtered || matched < want); i++) {
            if (vx_idmap_get(&seen, hits[i].video_id, NULL)) continue;
            vx_idmap_put(&seen, hits[i].video_id, 1); /* sized for n: never grows, never fails */
            vx_video v;
            int r = vx_catalog_get_video(e->cat, hits[i].video_id, &v, err);
            if (r < 0) { rc = -1; break; }
            if (r) continue;
            int at;
            uint64_t copy;
            if (passes(e, &v, f) && !joins_group(&g, &v, out) && !(rc = group_head(e, &g, i, f, &v, &at, &copy, err))) {
                const int on_page = ++matched > f->offset && matched <= want;
                if (on_page) rc = push_hit(e, out, &v, &hits[at], err);
                if (rc == 0 && heads_group(&g, &v, copy, out, on_page)) rc = vx_fail(err, "out of memory");
            }
            vx_video_clear(&v);
        }
        vx_idmap_free(&seen);
        groups_free(&g);
        free(hits);
        if (rc) { vx_results_free(out); return -1; }
        if (filtered) {
            out->total = matched;
        } else {
            /* Every node's video index holds them all; less the copies met (all of them
             * when the page reached the last video). */
            pthread_rwlock_rdlock(&e->vectors.lock);
            out->total = (int)vx_ann_count_videos(e->vectors.ann) - g.folded;
            pthread_rwlock_unlock(&e->vectors.lock);
        }
        /* Sharded: fewer hits than asked means every shard gave all it could find (a
         * bigger pool finds no more), whatever segment counts the shards claimed. */
        if (matched >= want || pool >= total_segments || (out->sharded && n < pool)) return 0;
        if (pool >= most) {
            out->total_estimated = 1;
            return 0;
        }
        pool = pool * 4 < most ? pool * 4 : most;
    }
}

int vx_engine_sharded(const vx_engine *e) { return e->opt.shards > 1; }

int vx_engine_shard_search(vx_engine *e, const vx_shard_query *q, vx_shard_answer *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    vx_engine_foreground(e);
    const uint32_t shards = e->opt.shards > 1 ? e->opt.shards : 1;
    if (q->shards != shards || q->shard != e->opt.shard)
        return vx_fail(err, "asked for shard %u of %u; this node serves shard %u of %u", q->shard, q->shards,
                       e->opt.shard, shards);
    vx_ann_hit *hits = malloc((size_t)q->pool * sizeof *hits);
    if (!hits) return vx_fail(err, "out of memory");
    int64_t held;
    int dim;
    int n = local_segments(e, q->v, q->pool, hits, &held, &dim, err);
    if (n > 1) qsort(hits, (size_t)n, sizeof *hits, hit_order);
    if (n >= 0 && held > 0 && (uint32_t)dim != q->dim) n = vx_fail(err, "the query has %u dimensions, the index %d", q->dim, dim);
    if (n >= 0 && n > 0 && !(out->hits = malloc((size_t)n * sizeof *out->hits))) n = vx_fail(err, "out of memory");
    if (n < 0) {
        free(hits);
        return -1;
    }
    out->shard = q->shard;
    out->shards = shards;
    out->segments = (uint64_t)held;
    out->n = (uint32_t)n;
    for (int i = 0; i < n; i++) out->hits[i] = (vx_shard_hit){hits[i].video_id, (uint32_t)hits[i].segment, hits[i].score};
    free(hits);
    return 0;
}

/* Answers as values (defined with similar videos below). */
static void encode_results(vx_buf *b, const vx_results *r);
static int decode_results(const void *data, size_t len, vx_results *r);

/* ---- 4. words: the lexical ranking, fused with the visual one -------------------------- */

static unsigned vx_matched_of_field(uint8_t field) {
    switch (field) {
    case VX_FIELD_TITLE: return VX_MATCHED_TITLE;
    case VX_FIELD_DESCRIPTION: return VX_MATCHED_DESCRIPTION;
    case VX_FIELD_TAG: return VX_MATCHED_TAGS;
    case VX_FIELD_SUBTITLE: return VX_MATCHED_SUBTITLE;
    case VX_LEXICAL_FILE_NAME: return VX_MATCHED_FILE_NAME;
    default: return 0;
    }
}

const char *vx_matched_name(unsigned bit) {
    switch (bit) {
    case VX_MATCHED_VISUAL: return "visual";
    case VX_MATCHED_TITLE: return "title";
    case VX_MATCHED_DESCRIPTION: return "description";
    case VX_MATCHED_TAGS: return "tags";
    case VX_MATCHED_SUBTITLE: return "subtitle";
    case VX_MATCHED_FILE_NAME: return "filename";
    case VX_MATCHED_FRAME: return "frame";
    default: return "?";
    }
}

/* A video in either ranking. */
typedef struct fused {
    uint64_t id;
    int visual_rank, lexical_rank; /* from 1; 0: not in that ranking */
    int segment;                   /* its best segment (visual) */
    const vx_lexical_hit *words;   /* its best document (lexical) */
    double score;
} fused;

static int fused_order(const void *pa, const void *pb) {
    const fused *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

/* Up to `want` videos by their best segment among the `pool` nearest, best first; with
 * a narrow filter (selected_hits), among the videos it names. */
static int visual_ranking(vx_engine *e, const float *q, int64_t pool, int want, const vx_search_params *f, fused *out,
                          int *n_out, int64_t *segments, vx_results *meta, vx_error *err) {
    vx_ann_hit *hits = NULL;
    *n_out = 0;
    int n;
    const int sel = selected_hits(e, q, f, &hits, &n, err);
    if (sel < 0) return -1;
    if (sel > 0) n = nearest_segments(e, q, pool, &hits, segments, meta, err);
    if (n < 0) { free(hits); return -1; }
    vx_idmap seen;
    if (vx_idmap_init(&seen, (size_t)(n > 0 ? n : 1))) { free(hits); return vx_fail(err, "out of memory"); }
    for (int i = 0; i < n && *n_out < want; i++) {
        if (vx_idmap_get(&seen, hits[i].video_id, NULL)) continue;
        vx_idmap_put(&seen, hits[i].video_id, 1);
        out[*n_out] = (fused){.id = hits[i].video_id, .visual_rank = *n_out + 1, .segment = hits[i].segment};
        (*n_out)++;
    }
    vx_idmap_free(&seen);
    free(hits);
    return 0;
}

/* Both rankings of the query (the visual one only with an embedding), fused by
 * reciprocal rank, then filtered and paged like rank_segments. */
static int rank_fused(vx_engine *e, const float *q, const vx_lexical_hits *words, int depth,
                      const vx_search_params *f, vx_results *out, vx_error *err) {
    const int want = f->offset + f->k;
    const double K = e->opt.fusion_k > 0 ? e->opt.fusion_k : VX_FUSION_K;
    const double wt = e->opt.fusion_text_weight >= 0 ? e->opt.fusion_text_weight : VX_FUSION_TEXT_WEIGHT;
    /* Each ranking contributes its head, to the same depth (however few videos the words
     * matched: a video the words put first must meet the visual ranking's head). */
    if (depth < want) depth = want;
    fused *c = calloc((size_t)depth + (size_t)words->n + 1, sizeof *c);
    if (!c) return vx_fail(err, "out of memory");
    int n = 0, rc = 0;
    int64_t segments = 0;
    if (q && visual_ranking(e, q, (int64_t)depth * 8 + 32, depth, f, c, &n, &segments, out, err)) { free(c); return -1; }
    vx_idmap at;
    if (vx_idmap_init(&at, (size_t)(n + words->n + 1))) { free(c); return vx_fail(err, "out of memory"); }
    for (int i = 0; i < n; i++) vx_idmap_put(&at, c[i].id, (uint64_t)i);
    for (int i = 0; i < words->n; i++) {
        uint64_t slot;
        if (!vx_idmap_get(&at, words->items[i].video_id, &slot)) {
            slot = (uint64_t)n;
            c[n++] = (fused){.id = words->items[i].video_id};
            vx_idmap_put(&at, c[slot].id, slot);
        }
        c[slot].lexical_rank = i + 1;
        c[slot].words = &words->items[i];
    }
    vx_idmap_free(&at);
    for (int i = 0; i < n; i++)
        c[i].score = (c[i].visual_rank ? 1.0 / (K + c[i].visual_rank) : 0) +
                     (c[i].lexical_rank ? wt / (K + c[i].lexical_rank) : 0);
    qsort(c, (size_t)n, sizeof *c, fused_order);
    int matched = 0;
    copy_groups g;
    if (groups_init(&g, n)) { groups_free(&g); free(c); return vx_fail(err, "out of memory"); }
    for (int i = 0; i < n; i++) groups_candidate(&g, c[i].id, i);
    for (int i = 0; i < n && rc == 0; i++) {
        vx_video v;
        int r = vx_catalog_get_video(e->cat, c[i].id, &v, err);
        if (r < 0) { rc = -1; break; }
        if (r) continue;
        int at;
        uint64_t copy;
        if (passes(e, &v, f) && !v.duplicate_of && !joins_group(&g, &v, out) &&
            !(rc = group_head(e, &g, i, f, &v, &at, &copy, err))) {
            const int on_page = ++matched > f->offset && matched <= want;
            const fused *ci = &c[at]; /* the head's own rankings */
            if (on_page) {
                double start = 0, end = v.duration, cue_start, cue_end;
                int segment = -1;
                const vx_lexical_hit *w = ci->words;
                /* Where the words matched: the snippet and, for subtitles, the cue. */
                char *snippet = w ? vx_lexical_locate(words, (int)(w - words->items), &cue_start, &cue_end) : NULL;
                if (w && !snippet) rc = vx_fail(err, "out of memory");
                if (w && w->field == VX_FIELD_SUBTITLE) {
                    start = cue_start; /* the words were said then */
                    end = cue_end > cue_start ? cue_end : cue_start;
                } else if (ci->visual_rank) {
                    vx_segment seg;
                    if (vx_catalog_get_segment(e->cat, v.id, (uint32_t)ci->segment, &seg, err) == 0) {
                        start = seg.start;
                        end = seg.end;
                        segment = ci->segment;
                        vx_segment_clear(&seg);
                    }
                }
                if (rc == 0 && push(out, &v, (float)ci->score, start, end, segment)) rc = vx_fail(err, "out of memory");
                if (rc == 0) {
                    vx_result *x = &out->items[out->n - 1];
                    x->matched = (ci->visual_rank ? VX_MATCHED_VISUAL : 0) | (w ? vx_matched_of_field(w->field) : 0);
                    x->snippet = snippet;
                } else {
                    free(snippet);
                }
            }
            if (rc == 0 && heads_group(&g, &v, copy, out, on_page)) rc = vx_fail(err, "out of memory");
        }
        vx_video_clear(&v);
    }
    groups_free(&g);
    free(c);
    if (rc) { vx_results_free(out); return -1; }
    out->total = matched;
    return 0;
}

/* A text search's answer is cached as a value, like similar videos', until either index
 * changes (both rankings are then the same): the key is the query and its page and
 * filters, the version the vector index's and the lexical index's. Not on a node of a
 * sharded cluster (other shards change without this node's version moving). */
static int answer_key(vx_engine *e, const vx_query *q, uint64_t *key, uint64_t *version) {
    if (e->opt.shards > 1 || !e->answers || q->p.k > VX_CACHED_K_MAX) return 0;
    vx_buf b = {0};
    vx_put_bytes(&b, "search", 6);
    vx_put_string(&b, q->p.text);
    vx_put_u32le(&b, (uint32_t)q->p.k);
    vx_put_u32le(&b, (uint32_t)q->p.offset);
    vx_put_f64le(&b, q->p.min_duration);
    vx_put_f64le(&b, q->p.max_duration);
    vx_put_string(&b, q->p.path_prefix ? q->p.path_prefix : "");
    vx_put_string(&b, q->p.tag ? q->p.tag : "");
    vx_put_u8(&b, (uint8_t)(q->lexical_only | (e->opt.lexical_search ? 2 : 0)));
    vx_put_u8(&b, (uint8_t)q->task.tower); /* the tower follows from the text, lang and what is installed */
    const int ok = !b.oom;
    if (ok) *key = vx_hash64(b.data, b.len);
    vx_buf_free(&b);
    const uint64_t versions[2] = {atomic_load(&e->vectors.version), e->lex ? vx_lexical_commits(e->lex) : 0};
    *version = vx_hash64(versions, sizeof versions);
    return ok;
}

/* The segment of video v that holds time t (the last one before it when none does; -1
 * when it has none), with its range; -2 on catalog errors. */
static int segment_at(vx_engine *e, const vx_video *v, double t, double *start, double *end, vx_error *err) {
    int best = -1;
    *start = 0;
    *end = v->duration;
    for (uint32_t i = 0; i < v->n_segments; i++) {
        vx_segment s;
        int r = vx_catalog_get_segment(e->cat, v->id, i, &s, err);
        if (r < 0) return -2;
        if (r) continue;
        const int holds = t >= s.start && t < s.end;
        if (holds || s.start <= t) {
            best = (int)i;
            *start = s.start;
            *end = s.end;
        }
        vx_segment_clear(&s);
        if (holds) break;
    }
    return best;
}

/* A picture's answer: the video it is a frame of (found by its perceptual hash) first,
 * then the visual ranking without that video (scores are cosines). Not cached: each
 * picture is new. */
static int rank_picture(vx_engine *e, vx_query *q, vx_results *out, vx_error *err) {
    vx_picture_source src = {0};
    vx_video v = {0};
    int have = 0;
    if (!q->task.image_flat && vx_find_picture_source(e->cat, q->task.image_phash, &src, err) > 0 &&
        vx_catalog_get_video(e->cat, src.video_id, &v, err) == 0) {
        have = passes(e, &v, &q->p);
        if (!have) vx_video_clear(&v);
    }
    vx_search_params p = q->p;
    if (have) {
        /* The rest of the page comes from the visual ranking, one place on, with room
         * for the source itself, which is left out of it. */
        p.offset = q->p.offset > 0 ? q->p.offset - 1 : 0;
        p.k = q->p.k + 1;
    }
    if (rank_segments(e, q->task.out, &p, out, err)) {
        vx_video_clear(&v);
        return -1;
    }
    for (int i = 0; i < out->n; i++) out->items[i].matched = VX_MATCHED_VISUAL;
    if (!have) return 0;
    /* The source's group leaves the ranking: its other copies go with the source. */
    int w = 0;
    vx_result gathered = {0}; /* its copies */
    for (int i = 0; i < out->n; i++) {
        vx_result *x = &out->items[i];
        int in_group = x->video_id == src.video_id || x->video_id == group_of(&v);
        for (int c = 0; c < x->copies && c < VX_RESULT_COPIES; c++) in_group |= x->copy_ids[c] == src.video_id;
        if (!in_group) {
            out->items[w++] = *x;
            continue;
        }
        if (x->video_id != src.video_id) list_copy(&gathered, x->video_id);
        for (int c = 0; c < x->copies; c++) /* beyond the ids kept: counted only */
            if (c >= VX_RESULT_COPIES) gathered.copies++;
            else if (x->copy_ids[c] != src.video_id) list_copy(&gathered, x->copy_ids[c]);
        free(x->title);
        free(x->path);
        free(x->snippet);
    }
    out->n = w;
    int rc = 0;
    if (q->p.offset == 0) {
        /* First place: the source, at the segment of its matching frame. */
        double start, end;
        const int seg = segment_at(e, &v, src.t, &start, &end, err);
        if (seg < -1) rc = -1;
        else if (push(out, &v, (float)(1.0 - src.distance / 64.0), start, end, seg)) rc = vx_fail(err, "out of memory");
        if (rc == 0) {
            vx_result first = out->items[out->n - 1];
            first.matched = VX_MATCHED_VISUAL | VX_MATCHED_FRAME;
            first.copies = gathered.copies;
            memcpy(first.copy_ids, gathered.copy_ids, sizeof first.copy_ids);
            memmove(out->items + 1, out->items, (size_t)(out->n - 1) * sizeof *out->items);
            out->items[0] = first;
        }
    }
    vx_video_clear(&v);
    if (out->n > q->p.k) {
        for (int i = q->p.k; i < out->n; i++) {
            free(out->items[i].title);
            free(out->items[i].path);
            free(out->items[i].snippet);
        }
        out->n = q->p.k;
    }
    return rc;
}

int vx_engine_search_image_start(vx_engine *e, const void *image, size_t len, const vx_search_params *p,
                                 void (*ready)(void *arg), void *arg, vx_query **out, vx_error *err) {
    *out = NULL;
    vx_engine_foreground(e);
    if (!e->model) {
        vx_fail(err, "searching by a picture needs the CLIP model: %s", e->model_problem);
        return VX_E_MODEL_MISSING;
    }
    vx_picture_info info;
    if (vx_picture_sniff(image, len, &info, err)) {
        vx_fail_prefix(err, "image");
        return VX_E_BAD_INPUT;
    }
    char what[96];
    vx_picture_describe(&info, what, sizeof what);
    vx_search_params f = *p;
    f.text = what;
    if (check_search(&f, err)) return VX_E_BAD_INPUT;
    const vx_clip_config *c = vx_clip_get_config(e->model);
    vx_query *q = calloc(1, sizeof *q);
    uint8_t *copy = malloc(len);
    if (!q || !copy || !(q->task.out = malloc((size_t)c->proj_dim * sizeof *q->task.out)) ||
        !(q->p.text = strdup(what)) || (p->path_prefix && !(q->p.path_prefix = strdup(p->path_prefix)))) {
        free(copy);
        vx_query_free(q);
        vx_fail(err, "out of memory");
        return VX_E_INTERNAL;
    }
    memcpy(copy, image, len);
    q->task.image = copy;
    q->task.image_len = len;
    int r = take_params(e, q, p, ready, arg, err);
    if (r) return r;
    *out = q;
    r = submit(e, q, err);
    if (r) *out = NULL;
    return r;
}

const char *vx_query_text(const vx_query *q) { return q->p.text; }

int vx_engine_search_finish(vx_engine *e, vx_query *q, vx_results *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    if (q->task.rc) {
        *err = q->task.err;
        if (q->task.bad_image) {
            vx_fail_prefix(err, "image");
            return VX_E_BAD_INPUT;
        }
        vx_fail_prefix(err, "encoding the query failed");
        return VX_E_INTERNAL;
    }
    if (q->task.image) return rank_picture(e, q, out, err) ? VX_E_INTERNAL : VX_OK;
    uint64_t key = 0, version = 0;
    const int cacheable = answer_key(e, q, &key, &version);
    size_t len;
    const void *cached = cacheable ? vx_lru_borrow(e->answers, key, version, &len) : NULL;
    if (cached && decode_results(cached, len, out) == 0) return VX_OK;
    vx_lexical_hits words = {0};
    /* Each ranking's head: twice the page and 20 more (40 for a first page of 10). With
     * k = 10 a video at rank 40 adds 1/50 to a fused score whose top is near 0.2: deeper
     * heads change little and cost both rankings (bench/text_eval.md). */
    const int depth = (q->p.offset + q->p.k) * 2 + 20;
    if (e->lex && (e->opt.lexical_search || q->lexical_only) &&
        vx_lexical_search(e->lex, q->p.text, depth, &words, err))
        return VX_E_INTERNAL;
    int r;
    if (words.n || q->lexical_only) {
        r = rank_fused(e, q->lexical_only ? NULL : q->task.out, &words, depth, &q->p, out, err);
    } else {
        /* No words matched: the visual ranking as it is (scores are cosines). */
        r = rank_segments(e, q->task.out, &q->p, out, err);
        for (int i = 0; r == 0 && i < out->n; i++) out->items[i].matched = VX_MATCHED_VISUAL;
    }
    vx_lexical_hits_free(&words);
    if (r) return VX_E_INTERNAL;
    out->text_tower = q->lexical_only ? VX_TOWER_NONE : (uint8_t)q->task.tower;
    out->english_only = (uint8_t)q->english_only;
    if (cacheable && !out->shards_missing) {
        vx_buf b = {0};
        encode_results(&b, out);
        if (!b.oom) vx_lru_put(e->answers, key, version, b.data, b.len);
        vx_buf_free(&b);
    }
    return VX_OK;
}

int vx_engine_search_vector(vx_engine *e, const float *q, const vx_search_params *p, vx_results *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    vx_engine_foreground(e);
    vx_search_params f = *p;
    f.text = "vector";
    if (check_search(&f, err)) return VX_E_BAD_INPUT;
    vx_label_filter tags;
    if (p->tag && *p->tag) {
        const int r = vx_engine_label_parse(e, p->tag, &tags, err);
        if (r) return r;
        f.tag_filter = &tags;
    }
    return rank_segments(e, q, &f, out, err) ? VX_E_INTERNAL : VX_OK;
}

static void query_ready(void *arg) { vx_completion_signal(arg); }

/* A search by text (image NULL) or by a picture, blocking. */
static int search_blocking(vx_engine *e, const void *image, size_t len, const vx_search_params *p, vx_results *out,
                           vx_error *err) {
    memset(out, 0, sizeof *out);
    vx_engine_foreground(e);
    vx_completion encoded = VX_COMPLETION_INIT;
    vx_query *q;
    int r = image ? vx_engine_search_image_start(e, image, len, p, query_ready, &encoded, &q, err)
                  : vx_engine_search_start(e, p, query_ready, &encoded, &q, err);
    if (r == 0) vx_completion_wait(&encoded);
    vx_completion_destroy(&encoded);
    if (r < 0) return r;
    r = vx_engine_search_finish(e, q, out, err);
    vx_query_free(q);
    return r;
}

int vx_engine_search(vx_engine *e, const vx_search_params *p, vx_results *out, vx_error *err) {
    return search_blocking(e, NULL, 0, p, out, err);
}

int vx_engine_search_image(vx_engine *e, const void *image, size_t len, const vx_search_params *p, vx_results *out,
                           vx_error *err) {
    if (!image) {
        memset(out, 0, sizeof *out);
        vx_fail(err, "image: none given");
        return VX_E_BAD_INPUT;
    }
    return search_blocking(e, image, len, p, out, err);
}

/* ---- similar videos ------------------------------------------------------------------------ */

/* Cached answers: the results as values (explicit encoding). Strings are kept with
 * their NUL, so a decoded answer points into the cached bytes instead of copying each. */
static void put_cstring(vx_buf *b, const char *s) { vx_put_bytes(b, s, strlen(s) + 1); }

static const char *get_cstring(vx_cursor *c) {
    const uint8_t *nul = c->bad ? NULL : memchr(c->p, 0, vx_cursor_left(c));
    if (!nul) {
        c->bad = 1;
        return NULL;
    }
    return (const char *)vx_get_bytes(c, (size_t)(nul - c->p) + 1);
}

static void encode_results(vx_buf *b, const vx_results *r) {
    vx_put_u8(b, (uint8_t)(r->sharded | (r->total_estimated ? 2 : 0) | (r->text_tower & 3) << 2 | (r->english_only ? 16 : 0)));
    vx_put_varint(b, (uint64_t)r->total);
    vx_put_varint(b, (uint64_t)r->n);
    for (int i = 0; i < r->n; i++) {
        const vx_result *x = &r->items[i];
        vx_put_u64le(b, x->video_id);
        vx_put_f32le(b, x->score);
        vx_put_f64le(b, x->start);
        vx_put_f64le(b, x->end);
        vx_put_f64le(b, x->duration);
        put_cstring(b, x->title);
        put_cstring(b, x->path);
        vx_put_u32le(b, (uint32_t)x->segment);
        vx_put_u32le(b, x->matched);
        put_cstring(b, x->snippet ? x->snippet : "");
        vx_put_varint(b, (uint64_t)x->copies);
        for (int k = 0; k < x->copies && k < VX_RESULT_COPIES; k++) vx_put_u64le(b, x->copy_ids[k]);
    }
}

/* Takes `data` (lent by the cache): the results' strings stay in it. */
static int decode_results(const void *data, size_t len, vx_results *r) {
    memset(r, 0, sizeof *r);
    r->lent = data;
    vx_cursor c = vx_cursor_make(data, len);
    const uint8_t flags = vx_get_u8(&c);
    r->sharded = flags & 1;
    r->total_estimated = (flags & 2) != 0;
    r->text_tower = (uint8_t)(flags >> 2 & 3);
    r->english_only = (flags & 16) != 0;
    r->total = (int)vx_get_varint(&c);
    uint64_t n = vx_get_varint(&c);
    if (c.bad || n > VX_MAX_K || !(r->items = calloc(n ? n : 1, sizeof *r->items))) {
        vx_results_free(r);
        return -1;
    }
    for (uint64_t i = 0; i < n && !c.bad; i++) {
        vx_result *x = &r->items[i];
        x->video_id = vx_get_u64le(&c);
        x->score = vx_get_f32le(&c);
        x->start = vx_get_f64le(&c);
        x->end = vx_get_f64le(&c);
        x->duration = vx_get_f64le(&c);
        x->title = (char *)get_cstring(&c);
        x->path = (char *)get_cstring(&c);
        x->segment = (int)vx_get_u32le(&c);
        x->matched = vx_get_u32le(&c);
        x->snippet = (char *)get_cstring(&c);
        if (x->snippet && !*x->snippet) x->snippet = NULL;
        const uint64_t copies = vx_get_varint(&c);
        x->copies = copies <= INT32_MAX ? (int)copies : 0;
        for (int k = 0; k < x->copies && k < VX_RESULT_COPIES; k++) x->copy_ids[k] = vx_get_u64le(&c);
        r->n = (int)i + 1;
    }
    if (!vx_cursor_done(&c)) {
        vx_results_free(r);
        return -1;
    }
    return 0;
}

static int rank_similar(vx_engine *e, const vx_video *self, int k, int offset, vx_results *out, vx_error *err) {
    vx_ann *a = e->vectors.ann;
    /* A copy stands for its original: same vectors, same neighbours. */
    const uint64_t source = self->duplicate_of ? self->duplicate_of : self->id;
    /* The query is the video's own vector, from the index (in memory) when it is there. */
    float *q = malloc((size_t)(vx_ann_dim(a) > 0 ? vx_ann_dim(a) : 1) * sizeof *q);
    if (!q) return vx_fail(err, "out of memory");
    int r = vx_ann_video_vector_or_stored(a, e->cat, source, q, err);
    if (r) {
        free(q);
        return r < 0 ? -1 : vx_fail(err, "video %016llx is not indexed (no embedding)", (unsigned long long)self->id);
    }
    const int64_t all = vx_ann_count_videos(a);
    int pool = offset + k + 8;
    if (pool > all) pool = (int)all;
    vx_ann_hit *hits = malloc((size_t)(pool > 0 ? pool : 1) * sizeof *hits);
    int n = hits ? vx_ann_search_videos(a, q, pool, hits, err) : vx_fail(err, "out of memory");
    free(q);
    int matched = 0, rc = n < 0 ? -1 : 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        if (hits[i].video_id == source || hits[i].video_id == self->id) continue;
        vx_video v;
        r = vx_catalog_get_video(e->cat, hits[i].video_id, &v, err);
        if (r < 0) { rc = -1; break; }
        if (r) continue;
        /* Exact copies (same bytes) are not "similar", they are the same video; nor are
         * re-uploads (near-duplicates: their original stands for them) or the original
         * the video itself re-uploads. */
        if (v.status == VX_VIDEO_INDEXED && v.content_hash != self->content_hash && !v.near_duplicate_of &&
            v.id != self->near_duplicate_of) {
            matched++;
            if (matched > offset && matched <= offset + k && push(out, &v, hits[i].score, 0, v.duration, -1))
                rc = vx_fail(err, "out of memory");
        }
        vx_video_clear(&v);
    }
    free(hits);
    if (rc) { vx_results_free(out); return -1; }
    out->total = (int)(all > 1 ? all - 1 : 0);
    return 0;
}

int vx_engine_similar(vx_engine *e, uint64_t id, int k, int offset, vx_results *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    vx_engine_foreground(e);
    if (check_page(k, offset, err)) return VX_E_BAD_INPUT;
    /* Valid until the index changes. An answer cached at this index version is for a
     * video still indexed, so a hit needs no record read. */
    const uint64_t key_parts[3] = {id, (uint64_t)k, (uint64_t)offset};
    const uint64_t key = vx_hash64(key_parts, sizeof key_parts), version = atomic_load(&e->vectors.version);
    size_t len;
    const int cacheable = k <= VX_CACHED_K_MAX;
    const void *cached = cacheable ? vx_lru_borrow(e->answers, key, version, &len) : NULL;
    if (cached && decode_results(cached, len, out) == 0) return VX_OK;

    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(id, hex);
    vx_video self;
    int r = vx_catalog_get_video(e->cat, id, &self, err);
    if (r < 0) return VX_E_INTERNAL;
    if (r > 0 || self.status != VX_VIDEO_INDEXED) {
        vx_fail(err, "no video %s%s", hex,
                r                                   ? ""
                : self.status == VX_VIDEO_REMOVED ? " (its file was removed)"
                                                    : ": it could not be indexed, so it has no neighbours");
        if (r == 0) vx_video_clear(&self);
        return VX_E_NOT_FOUND;
    }
    if (vx_video_pending(&self)) {
        vx_fail(err, "video %s was indexed without the CLIP model: its neighbours come once its frames are encoded (%s)",
                hex, e->model ? "under way" : "place the model, then run vidx index or let the service find it");
        vx_video_clear(&self);
        return VX_E_MODEL_MISSING;
    }
    pthread_rwlock_rdlock(&e->vectors.lock);
    r = rank_similar(e, &self, k, offset, out, err);
    pthread_rwlock_unlock(&e->vectors.lock);
    vx_video_clear(&self);
    if (r) return VX_E_INTERNAL;
    if (cacheable) {
        vx_buf b = {0};
        encode_results(&b, out);
        if (!b.oom) vx_lru_put(e->answers, key, version, b.data, b.len);
        vx_buf_free(&b);
    }
    return VX_OK;
}
