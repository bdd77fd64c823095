/* vidx engine: zero-shot labels ("tags" in the API) kept up to date: the follower of
 * labels/labels.h. A background worker computes the label embeddings (or reads them
 * from DATA/index/tags/, named by the model's fingerprint and the vocabulary's hash),
 * then labels every indexed video; applied ops relabel the videos they change
 * (vx_engine_labels_follow), and every video is labelled again once their number has
 * doubled (the centre moves). Filters (tag=) and counts (GET /v1/tags) read the map
 * under the labeller's lock. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/grow.h"
#include "../common/hash.h"
#include "../common/idmap.h"
#include "../common/failpoint.h"
#include "../common/log.h"
#include "../common/system.h"
#include "../common/vecmath.h"
#include "../labels/labels.h"
#include "engine_internal.h"

#define ENCODE_BATCH 32


typedef struct video_tags {
    uint64_t id; /* set by put_video */
    int n;
    vx_video_label *tags;
} video_tags;

typedef struct vx_labeller vx_labeller;
struct vx_labeller {
    vx_engine *e;
    int dim;
    vx_label_vocab *v;
    int n_vocab;
    vx_worker worker;      /* the builder: woken when the videos doubled (a rebuild) */
    pthread_mutex_t mu;
    pthread_cond_t cv;     /* broadcast when state changes (vx_engine_labels_wait) */
    /* under mu */
    int state;             /* VX_LABELS_* */
    double progress;       /* of the current step, 0..1 */
    char problem[512];
    int ready_once;        /* a build has finished: later ones keep the state ready */
    float *mean;           /* [dim] the centre (NULL until VX_LABELS_CENTRE_MIN videos) */
    uint64_t built_videos; /* indexed videos at the last build */
    vx_idmap by_video;     /* id -> index into videos */
    video_tags *videos;
    size_t n_videos, cap_videos;
    uint64_t *pending;     /* videos changed while a build ran */
    size_t n_pending, cap_pending;
};

static double false_rate(const vx_labeller *t) {
    return t->e->opt.label_false_rate > 0 ? t->e->opt.label_false_rate : VX_LABELS_FALSE_RATE;
}

const char *vx_labels_state_name(int state) {
    switch (state) {
    case VX_LABELS_OFF: return "off";
    case VX_LABELS_LABELS: return "computing label embeddings";
    case VX_LABELS_BUILDING: return "tagging videos";
    case VX_LABELS_READY: return "ready";
    default: return "?";
    }
}

/* ---- vocabularies and label embeddings ------------------------------------------------- */

static int load_vocabularies(vx_labeller *t, vx_error *err) {
    const vx_engine_options *o = &t->e->opt;
    vx_path prompts;
    if (o->label_prompts && *o->label_prompts ? vx_path_fmt(prompts, err, "%s", o->label_prompts)
                                              : vx_path_fmt(prompts, err, "%s/prompts.md", vx_clip_dir(t->e->model)))
        return -1;
    return vx_labels_load_vocabularies(prompts, o->label_vocabularies, false_rate(t), &t->v, &t->n_vocab, err);
}

/* DATA/index/tags (dir) and the vocabulary's cache file in it (path). */
static int cache_path(const vx_labeller *t, const vx_label_vocab *v, vx_path dir, vx_path path, vx_error *err) {
    if (vx_path_fmt(dir, err, "%s/index/tags", t->e->data_dir)) return -1;
    return vx_labels_cache_path(dir, vx_clip_fingerprint(t->e->model), v, path, err);
}

/* A cached vocabulary: its embeddings and threshold, checked against what it must be. */
static int load_cache(const vx_labeller *t, vx_label_vocab *v) {
    vx_path dir, path;
    vx_error err;
    if (cache_path(t, v, dir, path, &err) || access(path, F_OK) != 0) return -1;
    if (vx_labels_cache_read(path, v, t->dim, &err) == 0) return 0;
    vx_warn("tag label cache: %s; computing it again", err.msg);
    return -1;
}

static void save_cache(const vx_labeller *t, const vx_label_vocab *v) {
    vx_path dir, path;
    vx_error err;
    if (cache_path(t, v, dir, path, &err) || (mkdir(dir, 0755) && errno != EEXIST && vx_fail(&err, "%s: %s", dir, strerror(errno))) ||
        vx_labels_cache_write(path, v, t->dim, &err))
        vx_warn("tag labels not cached: %s", err.msg);
}

static int stopping(vx_labeller *t) { return vx_worker_stopping(&t->worker); }

/* A build after the first leaves the state ready: the tags of the last build keep
 * answering (filters, counts) while every video is tagged again. */
static void set_progress(vx_labeller *t, int state, double progress) {
    pthread_mutex_lock(&t->mu);
    t->state = t->ready_once && state == VX_LABELS_BUILDING ? VX_LABELS_READY : state;
    t->progress = progress;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* Label embeddings by prompt ensembling: each prompt encoded, the label's mean normalised. */
static int embed_labels(vx_labeller *t, vx_label_vocab *v, int done_prompts, int all_prompts, vx_error *err) {
    const int d = t->dim;
    const vx_vocabulary *def = &v->def;
    v->emb = calloc((size_t)v->n_labels * d, sizeof *v->emb);
    vx_clip_ctx *ctx = vx_clip_ctx_new(t->e->model, 1, ENCODE_BATCH * vx_clip_get_config(t->e->model)->context, err);
    float *out = malloc((size_t)ENCODE_BATCH * d * sizeof *out);
    char (*text)[2 * VX_VOCAB_MAX_STRING + 8] = malloc(ENCODE_BATCH * sizeof *text);
    const char *texts[ENCODE_BATCH];
    int owner[ENCODE_BATCH], rc = -1, n = 0;
    if (!v->emb || !ctx || !out || !text) {
        if (ctx) vx_fail(err, "out of memory");
        goto done;
    }
    for (int l = 0; l < v->n_labels; l++) {
        const vx_vocab_class *k = &def->classes[l];
        for (int s = 0; s < k->n_synonyms; s++)
            for (int p = 0; p < def->n_templates; p++) {
                vx_prompt_fill(def->templates[p], k->synonyms[s], text[n], sizeof text[n]);
                texts[n] = text[n];
                owner[n++] = l;
                const int last = l == v->n_labels - 1 && s == k->n_synonyms - 1 && p == def->n_templates - 1;
                if (n < ENCODE_BATCH && !last) continue;
                if (stopping(t)) { vx_fail(err, "stopped"); goto done; }
                vx_engine_wait_quiet(t->e, &t->worker, -1);
                if (vx_clip_encode_texts(ctx, texts, n, out, err)) goto done;
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < d; j++) v->emb[(size_t)owner[i] * d + j] += out[(size_t)i * d + j];
                done_prompts += n;
                n = 0;
                set_progress(t, VX_LABELS_LABELS, (double)done_prompts / all_prompts);
            }
    }
    for (int l = 0; l < v->n_labels; l++) vx_normalize(v->emb + (size_t)l * d, (size_t)d);
    rc = 0;
done:
    vx_clip_ctx_free(ctx);
    free(out);
    free(text);
    return rc;
}

/* Labels of one video from the catalog (none unless it is an indexed original), centred
 * on mean. 0, or -1 on errors. */
static int tag_video(vx_labeller *t, const float *mean, uint64_t id, video_tags *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    vx_video v;
    int r = vx_catalog_get_video(t->e->cat, id, &v, err);
    if (r) return r < 0 ? -1 : 0;
    const int live = v.status == VX_VIDEO_INDEXED && !v.duplicate_of;
    const double duration = v.duration;
    vx_video_clear(&v);
    if (!live) return 0;
    vx_embedding whole;
    if ((r = vx_catalog_get_embedding(t->e->cat, id, &whole, err)) != 0) return r < 0 ? -1 : 0;
    vx_segment *segs = NULL;
    uint32_t n_segs = 0;
    int rc = 0; /* another model's vectors: no labels */
    if ((int)whole.dim == t->dim) {
        rc = vx_catalog_get_segments(t->e->cat, id, 1, &segs, &n_segs, err);
        if (rc == 0)
            rc = vx_labels_of_video(t->v, t->n_vocab, t->dim, mean, whole.v, duration, segs, n_segs, &out->tags,
                                    &out->n, err);
    }
    vx_segments_free(segs, n_segs);
    vx_embedding_clear(&whole);
    return rc ? -1 : 0;
}

/* ---- the index of tags ------------------------------------------------------------------ */

/* Replaces video id's tags (under mu). */
static int put_video(vx_labeller *t, uint64_t id, video_tags *vt) {
    vt->id = id;
    int64_t at = vx_idmap_index(&t->by_video, id);
    if (at >= 0) {
        free(t->videos[at].tags);
        t->videos[at] = *vt;
        return 0;
    }
    if (!vt->n) return 0;
    if (VX_GROW(t->videos, t->cap_videos, t->n_videos + 1)) return -1;
    if (vx_idmap_put(&t->by_video, id, t->n_videos)) return -1;
    t->videos[t->n_videos++] = *vt;
    return 0;
}

typedef struct mean_scan {
    vx_labeller *t;
    double *sum;
    uint64_t *ids;
    size_t n, cap;
    int oom;
} mean_scan;

static int collect_video(void *ctx, const vx_video *v) {
    mean_scan *m = ctx;
    if (v->status != VX_VIDEO_INDEXED || v->duplicate_of) return 0;
    if (VX_GROW(m->ids, m->cap, m->n + 1)) {
        m->oom = 1;
        return 1;
    }
    m->ids[m->n++] = v->id;
    return 0;
}

/* Tags every indexed video again, with the mean of their embeddings as the centre. */
static int build(vx_labeller *t, vx_error *err) {
    const int d = t->dim;
    mean_scan m = {.t = t};
    if (vx_catalog_scan_videos(t->e->cat, collect_video, &m, NULL, err) || m.oom) {
        free(m.ids);
        return m.oom ? vx_fail(err, "out of memory") : -1;
    }
    double *sum = calloc((size_t)d, sizeof *sum);
    float *mean = NULL;
    uint64_t counted = 0;
    for (size_t i = 0; sum && i < m.n; i++) {
        vx_embedding e;
        if (vx_catalog_get_embedding(t->e->cat, m.ids[i], &e, err) != 0) continue;
        if ((int)e.dim == d) {
            for (int j = 0; j < d; j++) sum[j] += e.v[j];
            counted++;
        }
        vx_embedding_clear(&e);
    }
    if (sum && counted >= VX_LABELS_CENTRE_MIN && (mean = malloc((size_t)d * sizeof *mean)))
        for (int j = 0; j < d; j++) mean[j] = (float)(sum[j] / (double)counted);
    free(sum);
    pthread_mutex_lock(&t->mu);
    free(t->mean);
    t->mean = mean;
    t->built_videos = m.n;
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; i < m.n; i++) {
        if (stopping(t)) break;
        if (i % 64 == 0) {
            set_progress(t, VX_LABELS_BUILDING, (double)i / (double)m.n);
            vx_engine_wait_quiet(t->e, &t->worker, -1);
        }
        video_tags vt;
        pthread_mutex_lock(&t->mu);
        const float *centre_now = t->mean; /* only the builder replaces it */
        pthread_mutex_unlock(&t->mu);
        if (tag_video(t, centre_now, m.ids[i], &vt, err)) vx_warn("tags of %016llx: %s", (unsigned long long)m.ids[i], err->msg);
        pthread_mutex_lock(&t->mu);
        if (put_video(t, m.ids[i], &vt)) free(vt.tags);
        pthread_mutex_unlock(&t->mu);
    }
    free(m.ids);
    return 0;
}

static void run(vx_worker *w) {
    vx_labeller *t = w->ctx;
    vx_error err;
    /* 1. Label embeddings: from the cache, else the text tower (once per model). */
    int all = 0, done = 0;
    for (int i = 0; i < t->n_vocab; i++)
        for (int l = 0; l < t->v[i].def.n_classes; l++) all += t->v[i].def.classes[l].n_synonyms * t->v[i].def.n_templates;
    for (int i = 0; i < t->n_vocab; i++) {
        vx_label_vocab *v = &t->v[i];
        int prompts = 0;
        for (int l = 0; l < v->def.n_classes; l++) prompts += v->def.classes[l].n_synonyms * v->def.n_templates;
        if (load_cache(t, v) != 0) {
            const double t0 = vx_now();
            if (embed_labels(t, v, done, all, &err)) {
                if (!stopping(t)) {
                    pthread_mutex_lock(&t->mu);
                    snprintf(t->problem, sizeof t->problem, "label embeddings of %.64s: %.400s", v->name, err.msg);
                    t->state = VX_LABELS_OFF;
                    pthread_cond_broadcast(&t->cv);
                    pthread_mutex_unlock(&t->mu);
                    vx_warn("tags are off: %s", t->problem);
                }
                return;
            }
            v->threshold = vx_labels_calibrate(v->emb, v->n_labels, t->dim, VX_LABELS_NULL_DRAWS,
                                             false_rate(t));
            save_cache(t, v);
            vx_info("tags: %s: %d labels from %d prompts in %.1f s, threshold z %.2f", v->name, v->n_labels, prompts,
                    vx_now() - t0, v->threshold);
        }
        done += prompts;
    }
    /* 2. Every video, then again whenever their number has doubled. */
    for (;;) {
        set_progress(t, VX_LABELS_BUILDING, 0);
        if (build(t, &err)) vx_warn("tagging videos: %s", err.msg);
        pthread_mutex_lock(&t->mu);
        /* Videos changed meanwhile: tagged now, with the new centre. */
        while (t->n_pending && !stopping(t)) {
            const uint64_t id = t->pending[--t->n_pending];
            pthread_mutex_unlock(&t->mu);
            video_tags vt;
            int r = tag_video(t, t->mean, id, &vt, &err);
            pthread_mutex_lock(&t->mu);
            if (r == 0 && put_video(t, id, &vt)) free(vt.tags);
        }
        t->state = VX_LABELS_READY;
        t->ready_once = 1;
        t->progress = 1;
        pthread_cond_broadcast(&t->cv);
        pthread_mutex_unlock(&t->mu);
        /* Until the number of videos has doubled (vx_engine_labels_follow wakes it). */
        if (vx_worker_take(w, NULL, 0, -1) < 0) return;
    }
}

int vx_engine_labels_open(vx_engine *e, vx_error *err) {
    e->labels = NULL;
    if (!e->model) return 0; /* vx_engine_labels_state says why */
    vx_labeller *t = calloc(1, sizeof *t);
    if (!t) return vx_fail(err, "out of memory");
    t->e = e;
    t->dim = vx_clip_get_config(e->model)->proj_dim;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    e->labels = t;
    if (vx_idmap_init(&t->by_video, 1024) || load_vocabularies(t, err)) {
        vx_fail_prefix(err, "tag vocabularies");
        return -1;
    }
    if (t->n_vocab == 0) {
        snprintf(t->problem, sizeof t->problem,
                 "no vocabulary: put OpenAI's prompts.md in the model folder (%s; scripts/download_model.sh fetches "
                 "it), set VIDX_TAG_PROMPTS to it, or give your own with VIDX_TAG_VOCABULARIES",
                 vx_clip_dir(e->model));
        return 0;
    }
    t->state = VX_LABELS_LABELS;
    vx_error why;
    if (vx_worker_start(&t->worker, "the tagger", run, t, 0, 0, &why)) {
        t->state = VX_LABELS_OFF;
        snprintf(t->problem, sizeof t->problem, "%s", why.msg);
    }
    return 0;
}

void vx_engine_labels_close(vx_engine *e) {
    vx_labeller *t = e->labels;
    if (!t) return;
    vx_worker_stop(&t->worker);
    vx_label_vocabs_free(t->v, t->n_vocab);
    for (size_t i = 0; i < t->n_videos; i++) free(t->videos[i].tags);
    free(t->videos);
    vx_idmap_free(&t->by_video);
    free(t->pending);
    free(t->mean);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
    e->labels = NULL;
}

void vx_engine_labels_follow(vx_engine *e, uint64_t id) {
    vx_labeller *t = e->labels;
    if (!t || !t->worker.started) return;
    if (vx_failpoint("labels-follow")) return; /* a change the tags miss: tests of --check */
    pthread_mutex_lock(&t->mu);
    if (t->state != VX_LABELS_READY) {
        /* The build may have passed it: tagged when the build ends. */
        if (VX_GROW(t->pending, t->cap_pending, t->n_pending + 1) == 0) t->pending[t->n_pending++] = id;
        pthread_mutex_unlock(&t->mu);
        return;
    }
    /* A copy of the centre: a rebuild may replace it meanwhile. */
    float *mean = t->mean ? malloc((size_t)t->dim * sizeof *mean) : NULL;
    if (mean) memcpy(mean, t->mean, (size_t)t->dim * sizeof *mean);
    const int centred = t->mean != NULL;
    pthread_mutex_unlock(&t->mu);
    video_tags vt;
    vx_error err;
    const int r = centred && !mean ? vx_fail(&err, "out of memory") : tag_video(t, mean, id, &vt, &err);
    free(mean);
    if (r) {
        vx_warn("tags of %016llx: %s", (unsigned long long)id, err.msg);
        return;
    }
    /* Indexed videos now (the video index holds one vector per indexed original). */
    pthread_rwlock_rdlock(&t->e->vectors.lock);
    const uint64_t live = t->e->vectors.ann ? (uint64_t)vx_ann_count_videos(t->e->vectors.ann) : 0;
    pthread_rwlock_unlock(&t->e->vectors.lock);
    pthread_mutex_lock(&t->mu);
    if (put_video(t, id, &vt)) free(vt.tags);
    const int rebuild = live >= 2 * (t->built_videos > 16 ? t->built_videos : 16);
    pthread_mutex_unlock(&t->mu);
    if (rebuild) vx_worker_wake(&t->worker);
}

/* ---- checked against the catalog ---------------------------------------------------------- */

static int same_tags(const video_tags *a, const video_tags *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++) {
        const vx_video_label *x = &a->tags[i], *y = &b->tags[i];
        if (x->vocabulary != y->vocabulary || x->label != y->label || x->score != y->score || x->n_ranges != y->n_ranges)
            return 0;
        for (int r = 0; r < x->n_ranges; r++)
            if (x->ranges[r].start != y->ranges[r].start || x->ranges[r].end != y->ranges[r].end) return 0;
    }
    return 1;
}

int vx_engine_labels_check(vx_engine *e, int fix, uint64_t *differ, uint64_t *example, vx_error *err) {
    vx_labeller *t = e->labels;
    *differ = *example = 0;
    if (!t) return 1;
    pthread_mutex_lock(&t->mu);
    const int ready = t->state == VX_LABELS_READY;
    float *mean = ready && t->mean ? malloc((size_t)t->dim * sizeof *mean) : NULL;
    if (mean) memcpy(mean, t->mean, (size_t)t->dim * sizeof *mean);
    const int centred = t->mean != NULL;
    pthread_mutex_unlock(&t->mu);
    if (!ready) return 1; /* being built: nothing to compare yet */
    if (centred && !mean) return vx_fail(err, "out of memory");
    mean_scan m = {.t = t};
    vx_idmap live;
    if (vx_idmap_init(&live, 1024)) { free(mean); return vx_fail(err, "out of memory"); }
    int rc = vx_catalog_scan_videos(e->cat, collect_video, &m, NULL, err) ? -1 : m.oom ? vx_fail(err, "out of memory") : 0;
    /* Every indexed original's tags as they would be made now, against the map's. */
    for (size_t i = 0; rc == 0 && i < m.n; i++) {
        video_tags want;
        if (vx_idmap_put(&live, m.ids[i], 1) || tag_video(t, mean, m.ids[i], &want, err)) { rc = -1; break; }
        pthread_mutex_lock(&t->mu);
        const int64_t at = vx_idmap_index(&t->by_video, m.ids[i]);
        const video_tags none = {0};
        const int same = same_tags(at >= 0 ? &t->videos[at] : &none, &want);
        if (!same) {
            if (!(*differ)++) *example = m.ids[i];
            if (fix && put_video(t, m.ids[i], &want) == 0) want.tags = NULL;
        }
        pthread_mutex_unlock(&t->mu);
        free(want.tags);
    }
    /* Tags of videos that are no longer indexed originals. */
    pthread_mutex_lock(&t->mu);
    for (size_t v = 0; rc == 0 && v < t->n_videos; v++) {
        if (!t->videos[v].n || vx_idmap_get(&live, t->videos[v].id, NULL)) continue;
        if (!(*differ)++) *example = t->videos[v].id;
        if (fix) {
            free(t->videos[v].tags);
            t->videos[v].tags = NULL;
            t->videos[v].n = 0;
        }
    }
    pthread_mutex_unlock(&t->mu);
    vx_idmap_free(&live);
    free(m.ids);
    free(mean);
    return rc;
}

/* ---- questions ---------------------------------------------------------------------------- */

void vx_engine_labels_state(vx_engine *e, vx_labels_state *out) {
    memset(out, 0, sizeof *out);
    vx_labeller *t = e->labels;
    if (!t) {
        out->state = VX_LABELS_OFF;
        snprintf(out->problem, sizeof out->problem, "tags need the CLIP model: %.450s", e->model_problem);
        return;
    }
    pthread_mutex_lock(&t->mu);
    out->state = t->state;
    out->progress = t->progress;
    snprintf(out->problem, sizeof out->problem, "%s", t->problem);
    out->videos_tagged = 0;
    for (size_t i = 0; i < t->n_videos; i++) out->videos_tagged += t->videos[i].n > 0;
    out->centred = t->mean != NULL;
    pthread_mutex_unlock(&t->mu);
    out->n_vocabularies = t->n_vocab;
    for (int i = 0; i < t->n_vocab && i < VX_LABELS_MAX_VOCAB; i++) {
        out->vocabularies[i].name = t->v[i].name;
        out->vocabularies[i].labels = t->v[i].n_labels;
        out->vocabularies[i].threshold = t->v[i].emb ? t->v[i].threshold : 0;
    }
}

int vx_engine_label_embedding(vx_engine *e, const char *vocabulary, const char *label, float *out, float *threshold) {
    vx_labeller *t = e->labels;
    if (!t || vx_engine_labels_wait(e, 0) < VX_LABELS_BUILDING) return -1;
    for (int vi = 0; vi < t->n_vocab; vi++) {
        if (strcmp(t->v[vi].name, vocabulary) != 0 || !t->v[vi].emb) continue;
        for (int l = 0; l < t->v[vi].n_labels; l++)
            if (strcmp(t->v[vi].labels[l], label) == 0) {
                memcpy(out, t->v[vi].emb + (size_t)l * t->dim, (size_t)t->dim * sizeof *out);
                if (threshold) *threshold = t->v[vi].threshold;
                return 0;
            }
    }
    return -1;
}

int vx_engine_labels_wait(vx_engine *e, double timeout_s) {
    vx_labeller *t = e->labels;
    if (!t) return VX_LABELS_OFF;
    const struct timespec until = vx_deadline_after(timeout_s);
    pthread_mutex_lock(&t->mu);
    while (t->state != VX_LABELS_READY && t->state != VX_LABELS_OFF &&
           pthread_cond_timedwait(&t->cv, &t->mu, &until) != ETIMEDOUT) {
    }
    const int state = t->state;
    pthread_mutex_unlock(&t->mu);
    return state;
}

const char *vx_engine_label_name(vx_engine *e, int vocabulary, int label, const char **vocabulary_name) {
    vx_labeller *t = e->labels;
    if (!t || vocabulary < 0 || vocabulary >= t->n_vocab || label < 0 || label >= t->v[vocabulary].n_labels) return "?";
    if (vocabulary_name) *vocabulary_name = t->v[vocabulary].name;
    return t->v[vocabulary].labels[label];
}

int vx_engine_video_labels(vx_engine *e, uint64_t id, vx_video_label **tags, int *n) {
    *tags = NULL;
    *n = 0;
    vx_labeller *t = e->labels;
    if (!t) return 0;
    pthread_mutex_lock(&t->mu);
    const int64_t at = vx_idmap_index(&t->by_video, id);
    int rc = 0;
    if (at >= 0 && t->videos[at].n) {
        *tags = malloc((size_t)t->videos[at].n * sizeof **tags);
        if (*tags) {
            memcpy(*tags, t->videos[at].tags, (size_t)t->videos[at].n * sizeof **tags);
            *n = t->videos[at].n;
        } else {
            rc = -1;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

int vx_engine_label_parse(vx_engine *e, const char *text, vx_label_filter *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    vx_labeller *t = e->labels;
    vx_labels_state st;
    vx_engine_labels_state(e, &st);
    if (!t || st.state == VX_LABELS_OFF) {
        vx_fail(err, "tag: tags are off: %.450s", st.problem[0] ? st.problem : "this engine keeps none");
        return VX_E_DISABLED;
    }
    if (st.state != VX_LABELS_READY) {
        vx_fail(err, "tag: tags are being prepared (%s, %.0f%%); try again shortly", vx_labels_state_name(st.state),
                100 * st.progress);
        return VX_E_NOT_READY;
    }
    if (strlen(text) > VX_VOCAB_MAX_NAME + 1 + VX_VOCAB_MAX_STRING) {
        vx_fail(err, "tag: longer than %d bytes", VX_VOCAB_MAX_NAME + 1 + VX_VOCAB_MAX_STRING);
        return VX_E_BAD_INPUT;
    }
    const char *colon = strchr(text, ':');
    const size_t vlen = colon ? (size_t)(colon - text) : 0;
    const char *label = colon ? colon + 1 : text;
    for (int vi = 0; vi < t->n_vocab; vi++) {
        if (colon && (strlen(t->v[vi].name) != vlen || strncmp(t->v[vi].name, text, vlen) != 0)) continue;
        for (int l = 0; l < t->v[vi].n_labels; l++)
            if (strcasecmp(t->v[vi].labels[l], label) == 0 && out->n < VX_LABELS_MAX_VOCAB)
                out->pairs[out->n++] = (vx_label_pair){vi, l};
    }
    if (!out->n) {
        vx_fail(err, "tag: no vocabulary has the label \"%s\" (GET /v1/tags lists the tags videos have)", text);
        return VX_E_BAD_INPUT;
    }
    return 0;
}

/* Whether a video's tags hold one of the filter's (under mu). */
static int tags_match(const video_tags *vt, const vx_label_filter *f) {
    for (int i = 0; i < vt->n; i++)
        for (int k = 0; k < f->n; k++)
            if (vt->tags[i].vocabulary == f->pairs[k].vocabulary && vt->tags[i].label == f->pairs[k].label) return 1;
    return 0;
}

int vx_engine_label_matches(vx_engine *e, uint64_t id, const vx_label_filter *f) {
    vx_labeller *t = e->labels;
    if (!t || !f || !f->n) return 1;
    pthread_mutex_lock(&t->mu);
    const int64_t at = vx_idmap_index(&t->by_video, id);
    const int yes = at >= 0 && tags_match(&t->videos[at], f);
    pthread_mutex_unlock(&t->mu);
    return yes;
}

int vx_engine_label_select(vx_engine *e, const vx_label_filter *f, size_t max, uint64_t **ids, size_t *n) {
    vx_labeller *t = e->labels;
    *ids = NULL;
    *n = 0;
    if (!t || !f || !f->n) return 1;
    size_t cap = 0;
    int rc = 0;
    pthread_mutex_lock(&t->mu);
    for (size_t v = 0; v < t->n_videos && rc == 0; v++) {
        if (!tags_match(&t->videos[v], f)) continue;
        if (*n == max) rc = 1;
        else if (VX_GROW(*ids, cap, *n + 1)) rc = -1;
        else (*ids)[(*n)++] = t->videos[v].id;
    }
    pthread_mutex_unlock(&t->mu);
    if (rc) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

static int by_count(const void *a, const void *b) {
    const vx_label_count *x = a, *y = b;
    if (x->videos != y->videos) return (y->videos > x->videos) - (y->videos < x->videos);
    if (x->vocabulary != y->vocabulary) return x->vocabulary - y->vocabulary;
    return x->label - y->label;
}

int vx_engine_label_counts(vx_engine *e, const char *vocabulary, vx_label_count **out, int *n, vx_error *err) {
    *out = NULL;
    *n = 0;
    vx_labeller *t = e->labels;
    if (!t) return 0;
    int vsel = -1;
    if (vocabulary && *vocabulary) {
        for (int i = 0; i < t->n_vocab; i++)
            if (strcmp(t->v[i].name, vocabulary) == 0) vsel = i;
        if (vsel < 0) {
            vx_fail(err, "vocabulary: no vocabulary \"%s\"", vocabulary);
            return VX_E_BAD_INPUT;
        }
    }
    size_t total = 0;
    for (int i = 0; i < t->n_vocab; i++) total += (size_t)t->v[i].n_labels;
    size_t *offset = calloc((size_t)t->n_vocab + 1, sizeof *offset);
    uint32_t *counts = calloc(total ? total : 1, sizeof *counts);
    if (!offset || !counts) {
        free(offset);
        free(counts);
        vx_fail(err, "out of memory");
        return VX_E_INTERNAL;
    }
    for (int i = 0; i < t->n_vocab; i++) offset[i + 1] = offset[i] + (size_t)t->v[i].n_labels;
    pthread_mutex_lock(&t->mu);
    for (size_t v = 0; v < t->n_videos; v++)
        for (int i = 0; i < t->videos[v].n; i++) counts[offset[t->videos[v].tags[i].vocabulary] + (size_t)t->videos[v].tags[i].label]++;
    pthread_mutex_unlock(&t->mu);
    int m = 0;
    for (size_t i = 0; i < total; i++) m += counts[i] > 0;
    vx_label_count *list = calloc((size_t)(m ? m : 1), sizeof *list);
    if (!list) {
        free(offset);
        free(counts);
        vx_fail(err, "out of memory");
        return VX_E_INTERNAL;
    }
    m = 0;
    for (int vi = 0; vi < t->n_vocab; vi++) {
        if (vsel >= 0 && vi != vsel) continue;
        for (int l = 0; l < t->v[vi].n_labels; l++)
            if (counts[offset[vi] + (size_t)l])
                list[m++] = (vx_label_count){.vocabulary = vi, .label = l, .videos = counts[offset[vi] + (size_t)l]};
    }
    qsort(list, (size_t)m, sizeof *list, by_count);
    free(offset);
    free(counts);
    *out = list;
    *n = m;
    return 0;
}
