/* vidx engine: zero-shot tags (scenes, actions, emotions, and operators' own labels).
 *
 * Vocabularies (encoder/prompts.h) come from OpenAI's prompts.md: SUN397 as "scenes",
 * Kinetics700 as "actions", FacialEmotionRecognition2013 as "emotions" (the file in the
 * model folder, or options.tag_prompts), plus every vocabulary of the operator's files
 * (options.tag_vocabularies), named by their headings.
 *
 * A label's embedding is the normalised mean of the text tower's embeddings of its
 * prompts (every template with every synonym). They are computed once per model and
 * vocabulary and kept in DATA/index/tags/, named by the model's fingerprint and a hash
 * of the vocabulary.
 *
 * Scoring, for a segment or a whole video with embedding x:
 *   1. centring: x - m, normalised, where m is the mean of the indexed videos'
 *      embeddings (once there are VX_TAGS_CENTRE_MIN of them). Image embeddings share a
 *      large common part; what it adds to a label's score is the same for every
 *      picture, and would tag every video with the labels that happen to lie along it.
 *   2. per vocabulary, each label's cosine with it, standardised across the vocabulary:
 *      z = (s - mean) / sd. How far a label stands out from the others, whatever the
 *      model's scale of cosines;
 *   3. kept: the VX_TAGS_TOP best labels whose z passes the vocabulary's threshold.
 *
 * The threshold is calibrated, not guessed: for each vocabulary it is the
 * (1 - VX_TAGS_FALSE_RATE) quantile of the best label's z over inputs that favour no
 * label (random directions, VX_TAGS_NULL_DRAWS of them, through the vocabulary's own
 * label embeddings, so that correlated labels are accounted for). A segment related to
 * none of the labels is then tagged with probability about VX_TAGS_FALSE_RATE;
 * bench/tags.md measures that on real frames and what passes with related ones.
 *
 * A video's tags: the labels kept for the whole video or for any of its segments, with
 * the time ranges of those segments (the whole video when only the whole passed), and
 * the best z as the score. They are derived data, kept in memory: built by a
 * background thread at open (label embeddings first, then every indexed video), kept up
 * to date as videos are indexed or removed, and built again whenever the number of
 * indexed videos has doubled since (the mean m moves).
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/hash.h"
#include "../common/idmap.h"
#include "../common/log.h"
#include "../common/system.h"
#include "../common/vecmath.h"
#include "../encoder/prompts.h"
#include "../indexer/thumbs.h"
#include "engine_internal.h"

#define ENCODE_BATCH 32

typedef struct tag_vocab {
    char *name;
    int n_labels;
    char **labels;       /* class names (first synonyms) */
    char *source;        /* the file it came from */
    float *emb;          /* [n_labels x dim], L2-normalised */
    float threshold;     /* calibrated z */
    uint64_t hash;       /* of its classes and templates */
    vx_vocabulary def;   /* its classes and templates (until the embeddings are made) */
} tag_vocab;

typedef struct video_tags {
    int n;
    vx_video_tag *tags;
} video_tags;

typedef struct vx_tagger vx_tagger;
struct vx_tagger {
    vx_engine *e;
    int dim;
    tag_vocab *v;
    int n_vocab;
    vx_worker worker;      /* the builder: woken when the videos doubled (a rebuild) */
    pthread_mutex_t mu;
    pthread_cond_t cv;     /* broadcast when state changes (vx_engine_tags_wait) */
    /* under mu */
    int state;             /* VX_TAGS_* */
    double progress;       /* of the current step, 0..1 */
    char problem[512];
    int ready_once;        /* a build has finished: later ones keep the state ready */
    float *mean;           /* [dim] the centre (NULL until VX_TAGS_CENTRE_MIN videos) */
    uint64_t built_videos; /* indexed videos at the last build */
    vx_idmap by_video;     /* id -> index into videos */
    video_tags *videos;
    size_t n_videos, cap_videos;
    uint64_t *pending;     /* videos changed while a build ran */
    size_t n_pending, cap_pending;
};

const char *vx_tags_state_name(int state) {
    switch (state) {
    case VX_TAGS_OFF: return "off";
    case VX_TAGS_LABELS: return "computing label embeddings";
    case VX_TAGS_BUILDING: return "tagging videos";
    case VX_TAGS_READY: return "ready";
    default: return "?";
    }
}

/* ---- vocabularies and label embeddings ------------------------------------------------- */

static uint64_t vocab_hash(const vx_vocabulary *v) {
    vx_buf b = {0};
    for (int i = 0; i < v->n_classes; i++) {
        for (int j = 0; j < v->classes[i].n_synonyms; j++) vx_put_string(&b, v->classes[i].synonyms[j]);
        vx_put_u8(&b, 0);
    }
    for (int i = 0; i < v->n_templates; i++) vx_put_string(&b, v->templates[i]);
    const uint64_t h = b.oom ? 0 : vx_hash64(b.data, b.len);
    vx_buf_free(&b);
    return h;
}

static int add_vocab(vx_tagger *t, vx_vocabulary *def, const char *name, const char *source, vx_error *err) {
    if (def->n_classes < VX_TAGS_MIN_LABELS)
        return vx_fail(err, "%s: vocabulary \"%s\" has %d labels; tags need at least %d (how far one stands out from "
                            "the others is what passes)", source, name, def->n_classes, VX_TAGS_MIN_LABELS);
    for (int i = 0; i < t->n_vocab; i++)
        if (strcmp(t->v[i].name, name) == 0) return vx_fail(err, "%s: a second vocabulary named \"%s\"", source, name);
    tag_vocab *a = realloc(t->v, (size_t)(t->n_vocab + 1) * sizeof *a);
    if (!a) return vx_fail(err, "out of memory");
    t->v = a;
    tag_vocab *v = &t->v[t->n_vocab];
    memset(v, 0, sizeof *v);
    v->def = *def;
    memset(def, 0, sizeof *def);
    v->name = strdup(name);
    v->source = strdup(source);
    v->n_labels = v->def.n_classes;
    v->labels = calloc((size_t)v->n_labels, sizeof *v->labels);
    /* The threshold depends on the false rate asked for: part of the cache's name. */
    const double rate = t->e->opt.tag_false_rate > 0 ? t->e->opt.tag_false_rate : VX_TAGS_FALSE_RATE;
    v->hash = vocab_hash(&v->def) ^ vx_hash64(&rate, sizeof rate);
    if (!v->name || !v->source || !v->labels) return vx_fail(err, "out of memory");
    for (int i = 0; i < v->n_labels; i++) v->labels[i] = v->def.classes[i].synonyms[0];
    t->n_vocab++;
    return 0;
}

/* The built-in vocabularies of OpenAI's prompts.md, under the names vidx gives them. */
static const struct { const char *section, *name; } builtin[] = {
    {"SUN397", "scenes"}, {"Kinetics700", "actions"}, {"FacialEmotionRecognition2013", "emotions"}};

static int load_vocabularies(vx_tagger *t, vx_error *err) {
    const vx_engine_options *o = &t->e->opt;
    char path[PATH_MAX + 32];
    if (o->tag_prompts && *o->tag_prompts) snprintf(path, sizeof path, "%s", o->tag_prompts);
    else snprintf(path, sizeof path, "%s/prompts.md", vx_clip_dir(t->e->model));
    vx_vocab_set set;
    if (access(path, R_OK) == 0) {
        if (vx_prompts_load(path, &set, err)) return -1;
        for (size_t b = 0; b < sizeof builtin / sizeof *builtin; b++) {
            const int i = vx_vocab_find(&set, builtin[b].section);
            if (i >= 0 && add_vocab(t, &set.v[i], builtin[b].name, path, err)) {
                vx_vocab_set_clear(&set);
                return -1;
            }
        }
        vx_vocab_set_clear(&set);
    }
    /* The operator's: every vocabulary of each file, ':'-separated. */
    const char *list = o->tag_vocabularies;
    while (list && *list) {
        const char *colon = strchr(list, ':');
        const size_t n = colon ? (size_t)(colon - list) : strlen(list);
        if (n && n < sizeof path) {
            snprintf(path, sizeof path, "%.*s", (int)n, list);
            if (vx_prompts_load(path, &set, err)) return -1;
            if (set.n == 0) {
                vx_vocab_set_clear(&set);
                return vx_fail(err, "%s: no vocabulary (a \"## Name\" heading with classes = [...] and templates = [...])", path);
            }
            for (int i = 0; i < set.n; i++)
                if (add_vocab(t, &set.v[i], set.v[i].name, path, err)) {
                    vx_vocab_set_clear(&set);
                    return -1;
                }
            vx_vocab_set_clear(&set);
        }
        list = colon ? colon + 1 : list + n;
    }
    return 0;
}

static void cache_path(const vx_tagger *t, const tag_vocab *v, char *out, size_t size) {
    char fp[VX_ID_HEX_LEN], h[VX_ID_HEX_LEN];
    vx_id_to_hex(vx_clip_fingerprint(t->e->model), fp);
    vx_id_to_hex(v->hash, h);
    snprintf(out, size, "%s/index/tags/%s-%s.f32", t->e->data_dir, fp, h);
}

#define CACHE_MAGIC "VXLABEL1"

/* A cached vocabulary: its embeddings and threshold, checked against what it must be. */
static int load_cache(const vx_tagger *t, tag_vocab *v) {
    char path[PATH_MAX + 128];
    cache_path(t, v, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char magic[8];
    uint32_t dim = 0, n = 0;
    float thr = 0;
    const size_t want = (size_t)v->n_labels * (size_t)t->dim;
    float *emb = malloc(want * sizeof *emb);
    int ok = emb && fread(magic, 1, 8, f) == 8 && memcmp(magic, CACHE_MAGIC, 8) == 0 && fread(&dim, 4, 1, f) == 1 &&
             fread(&n, 4, 1, f) == 1 && fread(&thr, 4, 1, f) == 1 && dim == (uint32_t)t->dim &&
             n == (uint32_t)v->n_labels && isfinite(thr) && thr > 0 && thr < 100 &&
             fread(emb, sizeof *emb, want, f) == want && fgetc(f) == EOF;
    fclose(f);
    for (size_t i = 0; ok && i < want; i++) ok = isfinite(emb[i]);
    if (!ok) {
        free(emb);
        vx_warn("tag label cache %s is not usable; computing it again", path);
        return -1;
    }
    v->emb = emb;
    v->threshold = thr;
    return 0;
}

static void save_cache(const vx_tagger *t, const tag_vocab *v) {
    char dir[PATH_MAX + 32], path[PATH_MAX + 128];
    snprintf(dir, sizeof dir, "%s/index/tags", t->e->data_dir);
    mkdir(dir, 0755);
    cache_path(t, v, path, sizeof path);
    vx_buf b = {0};
    vx_put_bytes(&b, CACHE_MAGIC, 8);
    const uint32_t dim = (uint32_t)t->dim, n = (uint32_t)v->n_labels;
    vx_put_bytes(&b, &dim, 4);
    vx_put_bytes(&b, &n, 4);
    vx_put_bytes(&b, &v->threshold, 4);
    vx_put_bytes(&b, v->emb, (size_t)n * dim * sizeof(float));
    vx_error err;
    if (b.oom || vx_write_file_atomic(path, b.data, b.len, &err)) vx_warn("tag labels not cached: %s", b.oom ? "out of memory" : err.msg);
    vx_buf_free(&b);
}

static int stopping(vx_tagger *t) { return vx_worker_stopping(&t->worker); }

/* A build after the first leaves the state ready: the tags of the last build keep
 * answering (filters, counts) while every video is tagged again. */
static void set_progress(vx_tagger *t, int state, double progress) {
    pthread_mutex_lock(&t->mu);
    t->state = t->ready_once && state == VX_TAGS_BUILDING ? VX_TAGS_READY : state;
    t->progress = progress;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* Label embeddings by prompt ensembling: each prompt encoded, the label's mean normalised. */
static int embed_labels(vx_tagger *t, tag_vocab *v, int done_prompts, int all_prompts, vx_error *err) {
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
                set_progress(t, VX_TAGS_LABELS, (double)done_prompts / all_prompts);
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

/* A small deterministic generator for the calibration's random directions. */
static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}
static double rng_normal(uint64_t *s) {
    const double u = ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
    const double w = ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * w);
}

/* z-scores of scores s[n] across the vocabulary, in place; their standard deviation
 * 0 (all equal) gives all zeros. */
static void standardise(float *s, int n) {
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++) sum += s[i];
    const double mean = sum / n;
    for (int i = 0; i < n; i++) sq += (s[i] - mean) * (s[i] - mean);
    const double sd = n > 1 ? sqrt(sq / (n - 1)) : 0;
    for (int i = 0; i < n; i++) s[i] = sd > 0 ? (float)((s[i] - mean) / sd) : 0.0f;
}

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

float vx_tags_calibrate(const float *emb, int n_labels, int dim, int draws, double false_rate) {
    float *g = malloc((size_t)draws * dim * sizeof *g), *s = malloc((size_t)draws * n_labels * sizeof *s);
    float *best = malloc((size_t)draws * sizeof *best);
    float thr = 0;
    if (g && s && best && n_labels > 1) {
        uint64_t seed = 0x9e3779b97f4a7c15ull;
        for (size_t i = 0; i < (size_t)draws * dim; i++) g[i] = (float)rng_normal(&seed);
        /* s = G E^T: every draw against every label. */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, draws, n_labels, dim, 1.0f, g, dim, emb, dim, 0.0f, s, n_labels);
        for (int r = 0; r < draws; r++) {
            float *row = s + (size_t)r * n_labels;
            standardise(row, n_labels);
            float m = row[0];
            for (int l = 1; l < n_labels; l++) m = row[l] > m ? row[l] : m;
            best[r] = m;
        }
        qsort(best, (size_t)draws, sizeof *best, cmp_float);
        int k = (int)ceil((1.0 - false_rate) * draws) - 1;
        thr = best[k < 0 ? 0 : k >= draws ? draws - 1 : k];
    }
    free(g);
    free(s);
    free(best);
    return thr;
}

/* ---- tagging a video -------------------------------------------------------------------- */

typedef struct scored {
    float z;
    int label;
} scored;

static int by_z(const void *a, const void *b) {
    const float x = ((const scored *)a)->z, y = ((const scored *)b)->z;
    return (y > x) - (y < x);
}

int vx_tags_keep(const float *emb, int n_labels, int dim, float threshold, const float *x, int *labels, float *z) {
    scored *work = malloc((size_t)(n_labels > 0 ? n_labels : 1) * sizeof *work);
    float *s = malloc((size_t)(n_labels > 0 ? n_labels : 1) * sizeof *s);
    int n = 0;
    if (work && s) {
        for (int l = 0; l < n_labels; l++) s[l] = vx_dot(emb + (size_t)l * dim, x, (size_t)dim);
        standardise(s, n_labels);
        for (int l = 0; l < n_labels; l++)
            if (s[l] >= threshold) work[n++] = (scored){.z = s[l], .label = l};
        qsort(work, (size_t)n, sizeof *work, by_z);
        if (n > VX_TAGS_TOP) n = VX_TAGS_TOP;
        for (int i = 0; i < n; i++) {
            labels[i] = work[i].label;
            z[i] = work[i].z;
        }
    }
    free(work);
    free(s);
    return n;
}

/* The labels of vocabulary v kept for embedding x (already centred), into keep. */
static int keep_labels(const tag_vocab *v, int dim, const float *x, scored *keep) {
    int labels[VX_TAGS_TOP];
    float z[VX_TAGS_TOP];
    const int n = vx_tags_keep(v->emb, v->n_labels, dim, v->threshold, x, labels, z);
    for (int i = 0; i < n; i++) keep[i] = (scored){.z = z[i], .label = labels[i]};
    return n;
}

/* x centred on the mean (when there is one) and normalised, into out. */
static void centre(const float *mean, const float *x, int dim, float *out) {
    for (int i = 0; i < dim; i++) out[i] = mean ? x[i] - mean[i] : x[i];
    vx_normalize(out, (size_t)dim);
}

/* Adds (or widens) a tag: vocabulary vi, label, z, over [start, end]. */
static int add_tag(video_tags *vt, int vi, int label, float z, double start, double end) {
    for (int i = 0; i < vt->n; i++) {
        vx_video_tag *g = &vt->tags[i];
        if (g->vocabulary != vi || g->label != label) continue;
        if (z > g->score) g->score = z;
        /* merge with the last range when they touch, else a new one */
        if (g->n_ranges && start <= g->ranges[g->n_ranges - 1].end + 1e-6) {
            if (end > g->ranges[g->n_ranges - 1].end) g->ranges[g->n_ranges - 1].end = end;
            return 0;
        }
        if (g->n_ranges == VX_TAGS_MAX_RANGES) return 0;
        g->ranges[g->n_ranges++] = (vx_tag_range){start, end};
        return 0;
    }
    vx_video_tag *a = realloc(vt->tags, (size_t)(vt->n + 1) * sizeof *a);
    if (!a) return -1;
    vt->tags = a;
    vt->tags[vt->n++] = (vx_video_tag){.vocabulary = vi, .label = label, .score = z, .n_ranges = 1,
                                       .ranges = {{start, end}}};
    return 0;
}

static int cmp_tag(const void *a, const void *b) {
    const vx_video_tag *x = a, *y = b;
    return (y->score > x->score) - (y->score < x->score);
}

/* Tags of one video from the catalog (none unless it is an indexed original), with the
 * centre mean. 0, or -1 on errors. */
static int tag_video(vx_tagger *t, const float *mean, uint64_t id, video_tags *out, vx_error *err) {
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
    int rc = -1;
    const int d = t->dim;
    float *x = malloc((size_t)d * sizeof *x);
    scored keep[VX_TAGS_TOP];
    if (!x || (int)whole.dim != d) {
        if (x) rc = 0; /* another model's vectors: no tags */
        else vx_fail(err, "out of memory");
        goto done;
    }
    if (vx_catalog_get_segments(t->e->cat, id, 1, &segs, &n_segs, err)) goto done;
    for (int vi = 0; vi < t->n_vocab; vi++) {
        const tag_vocab *voc = &t->v[vi];
        for (uint32_t s = 0; s < n_segs; s++) {
            if ((int)segs[s].dim != d) continue;
            centre(mean, segs[s].embedding, d, x);
            const int n = keep_labels(voc, d, x, keep);
            const double end = segs[s].end > segs[s].start ? segs[s].end : duration;
            for (int k = 0; k < n; k++)
                if (add_tag(out, vi, keep[k].label, keep[k].z, segs[s].start, end)) goto oom;
        }
        centre(mean, whole.v, d, x);
        const int n = keep_labels(voc, d, x, keep);
        for (int k = 0; k < n; k++) {
            int found = 0;
            for (int i = 0; i < out->n && !found; i++) found = out->tags[i].vocabulary == vi && out->tags[i].label == keep[k].label;
            if (found) {
                for (int i = 0; i < out->n; i++)
                    if (out->tags[i].vocabulary == vi && out->tags[i].label == keep[k].label && keep[k].z > out->tags[i].score)
                        out->tags[i].score = keep[k].z;
            } else if (add_tag(out, vi, keep[k].label, keep[k].z, 0, duration)) {
                goto oom;
            }
        }
    }
    if (out->n > 1) qsort(out->tags, (size_t)out->n, sizeof *out->tags, cmp_tag);
    rc = 0;
    goto done;
oom:
    vx_fail(err, "out of memory");
    free(out->tags);
    memset(out, 0, sizeof *out);
done:
    vx_segments_free(segs, n_segs);
    free(x);
    vx_embedding_clear(&whole);
    return rc;
}

/* ---- the index of tags ------------------------------------------------------------------ */

/* Replaces video id's tags (under mu). */
static int put_video(vx_tagger *t, uint64_t id, video_tags *vt) {
    int64_t at = vx_idmap_index(&t->by_video, id);
    if (at >= 0) {
        free(t->videos[at].tags);
        t->videos[at] = *vt;
        return 0;
    }
    if (!vt->n) return 0;
    if (t->n_videos == t->cap_videos) {
        size_t cap = t->cap_videos ? 2 * t->cap_videos : 1024;
        video_tags *a = realloc(t->videos, cap * sizeof *a);
        if (!a) return -1;
        t->videos = a;
        t->cap_videos = cap;
    }
    if (vx_idmap_put(&t->by_video, id, t->n_videos)) return -1;
    t->videos[t->n_videos++] = *vt;
    return 0;
}

typedef struct mean_scan {
    vx_tagger *t;
    double *sum;
    uint64_t *ids;
    size_t n, cap;
    int oom;
} mean_scan;

static int collect_video(void *ctx, const vx_video *v) {
    mean_scan *m = ctx;
    if (v->status != VX_VIDEO_INDEXED || v->duplicate_of) return 0;
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 1024;
        uint64_t *a = realloc(m->ids, cap * sizeof *a);
        if (!a) { m->oom = 1; return 1; }
        m->ids = a;
        m->cap = cap;
    }
    m->ids[m->n++] = v->id;
    return 0;
}

/* Tags every indexed video again, with the mean of their embeddings as the centre. */
static int build(vx_tagger *t, vx_error *err) {
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
    if (sum && counted >= VX_TAGS_CENTRE_MIN && (mean = malloc((size_t)d * sizeof *mean)))
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
            set_progress(t, VX_TAGS_BUILDING, (double)i / (double)m.n);
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
    vx_tagger *t = w->ctx;
    vx_error err;
    /* 1. Label embeddings: from the cache, else the text tower (once per model). */
    int all = 0, done = 0;
    for (int i = 0; i < t->n_vocab; i++)
        for (int l = 0; l < t->v[i].def.n_classes; l++) all += t->v[i].def.classes[l].n_synonyms * t->v[i].def.n_templates;
    for (int i = 0; i < t->n_vocab; i++) {
        tag_vocab *v = &t->v[i];
        int prompts = 0;
        for (int l = 0; l < v->def.n_classes; l++) prompts += v->def.classes[l].n_synonyms * v->def.n_templates;
        if (load_cache(t, v) != 0) {
            const double t0 = vx_now();
            if (embed_labels(t, v, done, all, &err)) {
                if (!stopping(t)) {
                    pthread_mutex_lock(&t->mu);
                    snprintf(t->problem, sizeof t->problem, "label embeddings of %.64s: %.400s", v->name, err.msg);
                    t->state = VX_TAGS_OFF;
                    pthread_cond_broadcast(&t->cv);
                    pthread_mutex_unlock(&t->mu);
                    vx_warn("tags are off: %s", t->problem);
                }
                return;
            }
            v->threshold = vx_tags_calibrate(v->emb, v->n_labels, t->dim, VX_TAGS_NULL_DRAWS,
                                             t->e->opt.tag_false_rate > 0 ? t->e->opt.tag_false_rate : VX_TAGS_FALSE_RATE);
            save_cache(t, v);
            vx_info("tags: %s: %d labels from %d prompts in %.1f s, threshold z %.2f", v->name, v->n_labels, prompts,
                    vx_now() - t0, v->threshold);
        }
        done += prompts;
    }
    /* 2. Every video, then again whenever their number has doubled. */
    for (;;) {
        set_progress(t, VX_TAGS_BUILDING, 0);
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
        t->state = VX_TAGS_READY;
        t->ready_once = 1;
        t->progress = 1;
        pthread_cond_broadcast(&t->cv);
        pthread_mutex_unlock(&t->mu);
        /* Until the number of videos has doubled (vx_engine_tags_follow wakes it). */
        if (vx_worker_take(w, NULL, 0, -1) < 0) return;
    }
}

int vx_engine_tags_open(vx_engine *e, vx_error *err) {
    e->tags = NULL;
    if (!e->model) return 0; /* vx_engine_tags_state says why */
    vx_tagger *t = calloc(1, sizeof *t);
    if (!t) return vx_fail(err, "out of memory");
    t->e = e;
    t->dim = vx_clip_get_config(e->model)->proj_dim;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    e->tags = t;
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
    t->state = VX_TAGS_LABELS;
    vx_error why;
    if (vx_worker_start(&t->worker, "the tagger", run, t, 0, 0, &why)) {
        t->state = VX_TAGS_OFF;
        snprintf(t->problem, sizeof t->problem, "%s", why.msg);
    }
    return 0;
}

void vx_engine_tags_close(vx_engine *e) {
    vx_tagger *t = e->tags;
    if (!t) return;
    vx_worker_stop(&t->worker);
    for (int i = 0; i < t->n_vocab; i++) {
        tag_vocab *v = &t->v[i];
        free(v->name);
        free(v->labels);
        free(v->source);
        free(v->emb);
        vx_vocabulary_clear(&v->def); /* the labels pointed into it */
    }
    free(t->v);
    for (size_t i = 0; i < t->n_videos; i++) free(t->videos[i].tags);
    free(t->videos);
    vx_idmap_free(&t->by_video);
    free(t->pending);
    free(t->mean);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
    e->tags = NULL;
}

void vx_engine_tags_follow(vx_engine *e, uint64_t id) {
    vx_tagger *t = e->tags;
    if (!t || !t->worker.started) return;
    pthread_mutex_lock(&t->mu);
    if (t->state != VX_TAGS_READY) {
        /* The build may have passed it: tagged when the build ends. */
        if (t->n_pending == t->cap_pending) {
            size_t cap = t->cap_pending ? 2 * t->cap_pending : 64;
            uint64_t *a = realloc(t->pending, cap * sizeof *a);
            if (a) { t->pending = a; t->cap_pending = cap; }
        }
        if (t->n_pending < t->cap_pending) t->pending[t->n_pending++] = id;
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
    pthread_rwlock_rdlock(&t->e->ann_lock);
    const uint64_t live = t->e->ann ? (uint64_t)vx_ann_count_videos(t->e->ann) : 0;
    pthread_rwlock_unlock(&t->e->ann_lock);
    pthread_mutex_lock(&t->mu);
    if (put_video(t, id, &vt)) free(vt.tags);
    const int rebuild = live >= 2 * (t->built_videos > 16 ? t->built_videos : 16);
    pthread_mutex_unlock(&t->mu);
    if (rebuild) vx_worker_wake(&t->worker);
}

/* ---- questions ---------------------------------------------------------------------------- */

void vx_engine_tags_state(vx_engine *e, vx_tags_state *out) {
    memset(out, 0, sizeof *out);
    vx_tagger *t = e->tags;
    if (!t) {
        out->state = VX_TAGS_OFF;
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
    for (int i = 0; i < t->n_vocab && i < VX_TAGS_MAX_VOCAB; i++) {
        out->vocabularies[i].name = t->v[i].name;
        out->vocabularies[i].labels = t->v[i].n_labels;
        out->vocabularies[i].threshold = t->v[i].emb ? t->v[i].threshold : 0;
    }
}

int vx_engine_tag_label_embedding(vx_engine *e, const char *vocabulary, const char *label, float *out, float *threshold) {
    vx_tagger *t = e->tags;
    if (!t || vx_engine_tags_wait(e, 0) < VX_TAGS_BUILDING) return -1;
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

int vx_engine_tags_wait(vx_engine *e, double timeout_s) {
    vx_tagger *t = e->tags;
    if (!t) return VX_TAGS_OFF;
    const struct timespec until = vx_deadline_after(timeout_s);
    pthread_mutex_lock(&t->mu);
    while (t->state != VX_TAGS_READY && t->state != VX_TAGS_OFF &&
           pthread_cond_timedwait(&t->cv, &t->mu, &until) != ETIMEDOUT) {
    }
    const int state = t->state;
    pthread_mutex_unlock(&t->mu);
    return state;
}

const char *vx_engine_tag_name(vx_engine *e, int vocabulary, int label, const char **vocabulary_name) {
    vx_tagger *t = e->tags;
    if (!t || vocabulary < 0 || vocabulary >= t->n_vocab || label < 0 || label >= t->v[vocabulary].n_labels) return "?";
    if (vocabulary_name) *vocabulary_name = t->v[vocabulary].name;
    return t->v[vocabulary].labels[label];
}

int vx_engine_video_tags(vx_engine *e, uint64_t id, vx_video_tag **tags, int *n) {
    *tags = NULL;
    *n = 0;
    vx_tagger *t = e->tags;
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

int vx_engine_tag_parse(vx_engine *e, const char *text, vx_tag_filter *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    vx_tagger *t = e->tags;
    vx_tags_state st;
    vx_engine_tags_state(e, &st);
    if (!t || st.state == VX_TAGS_OFF) {
        vx_fail(err, "tag: tags are off: %.450s", st.problem[0] ? st.problem : "this engine keeps none");
        return VX_E_DISABLED;
    }
    if (st.state != VX_TAGS_READY) {
        vx_fail(err, "tag: tags are being prepared (%s, %.0f%%); try again shortly", vx_tags_state_name(st.state),
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
            if (strcasecmp(t->v[vi].labels[l], label) == 0 && out->n < VX_TAGS_MAX_VOCAB)
                out->pairs[out->n++] = (vx_tag_pair){vi, l};
    }
    if (!out->n) {
        vx_fail(err, "tag: no vocabulary has the label \"%s\" (GET /v1/tags lists the tags videos have)", text);
        return VX_E_BAD_INPUT;
    }
    return 0;
}

int vx_engine_tag_matches(vx_engine *e, uint64_t id, const vx_tag_filter *f) {
    vx_tagger *t = e->tags;
    if (!t || !f || !f->n) return 1;
    pthread_mutex_lock(&t->mu);
    const int64_t at = vx_idmap_index(&t->by_video, id);
    int yes = 0;
    for (int i = 0; at >= 0 && i < t->videos[at].n && !yes; i++)
        for (int k = 0; k < f->n && !yes; k++)
            yes = t->videos[at].tags[i].vocabulary == f->pairs[k].vocabulary && t->videos[at].tags[i].label == f->pairs[k].label;
    pthread_mutex_unlock(&t->mu);
    return yes;
}

static int by_count(const void *a, const void *b) {
    const vx_tag_count *x = a, *y = b;
    if (x->videos != y->videos) return (y->videos > x->videos) - (y->videos < x->videos);
    if (x->vocabulary != y->vocabulary) return x->vocabulary - y->vocabulary;
    return x->label - y->label;
}

int vx_engine_tag_counts(vx_engine *e, const char *vocabulary, vx_tag_count **out, int *n, vx_error *err) {
    *out = NULL;
    *n = 0;
    vx_tagger *t = e->tags;
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
    vx_tag_count *list = calloc((size_t)(m ? m : 1), sizeof *list);
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
                list[m++] = (vx_tag_count){.vocabulary = vi, .label = l, .videos = counts[offset[vi] + (size_t)l]};
    }
    qsort(list, (size_t)m, sizeof *list, by_count);
    free(offset);
    free(counts);
    *out = list;
    *n = m;
    return 0;
}
