#include "labels.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/coding.h"
#include "../common/hash.h"
#include "../common/system.h"
#include "../common/vecmath.h"

/* ---- vocabularies ------------------------------------------------------------------------ */

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

typedef struct vocab_list {
    vx_label_vocab *v;
    int n;
    double false_rate;
} vocab_list;

/* Takes def over as vocabulary `name`. */
static int add_vocab(vocab_list *l, vx_vocabulary *def, const char *name, const char *source, vx_error *err) {
    if (def->n_classes < VX_LABELS_MIN_LABELS)
        return vx_fail(err, "%s: vocabulary \"%s\" has %d labels; tags need at least %d (how far one stands out from "
                            "the others is what passes)", source, name, def->n_classes, VX_LABELS_MIN_LABELS);
    if (l->n == VX_LABELS_MAX_VOCAB) return vx_fail(err, "%s: more than %d vocabularies", source, VX_LABELS_MAX_VOCAB);
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0) return vx_fail(err, "%s: a second vocabulary named \"%s\"", source, name);
    vx_label_vocab *a = realloc(l->v, (size_t)(l->n + 1) * sizeof *a);
    if (!a) return vx_fail(err, "out of memory");
    l->v = a;
    vx_label_vocab *v = &l->v[l->n++];
    memset(v, 0, sizeof *v);
    v->def = *def;
    memset(def, 0, sizeof *def);
    v->name = strdup(name);
    v->source = strdup(source);
    v->n_labels = v->def.n_classes;
    v->labels = calloc((size_t)v->n_labels, sizeof *v->labels);
    /* The threshold depends on the false rate asked for: part of the cache's name. */
    v->hash = vocab_hash(&v->def) ^ vx_hash64(&l->false_rate, sizeof l->false_rate);
    if (!v->name || !v->source || !v->labels) return vx_fail(err, "out of memory");
    for (int i = 0; i < v->n_labels; i++) v->labels[i] = v->def.classes[i].synonyms[0];
    return 0;
}

/* The built-in vocabularies of OpenAI's prompts.md, under the names vidx gives them. */
static const struct { const char *section, *name; } builtin[] = {
    {"SUN397", "scenes"}, {"Kinetics700", "actions"}, {"FacialEmotionRecognition2013", "emotions"}};

static int add_file(vocab_list *l, const char *path, int builtins_only, vx_error *err) {
    vx_vocab_set set;
    if (vx_prompts_load(path, &set, err)) return -1;
    int rc = 0;
    if (builtins_only) {
        for (size_t b = 0; rc == 0 && b < sizeof builtin / sizeof *builtin; b++) {
            const int i = vx_vocab_find(&set, builtin[b].section);
            if (i >= 0) rc = add_vocab(l, &set.v[i], builtin[b].name, path, err);
        }
    } else if (set.n == 0) {
        rc = vx_fail(err, "%s: no vocabulary (a \"## Name\" heading with classes = [...] and templates = [...])", path);
    } else {
        for (int i = 0; rc == 0 && i < set.n; i++) rc = add_vocab(l, &set.v[i], set.v[i].name, path, err);
    }
    vx_vocab_set_clear(&set);
    return rc;
}

int vx_labels_load_vocabularies(const char *prompts_path, const char *operator_files, double false_rate,
                                vx_label_vocab **out, int *n, vx_error *err) {
    vocab_list l = {.false_rate = false_rate};
    int rc = 0;
    if (prompts_path && access(prompts_path, R_OK) == 0) rc = add_file(&l, prompts_path, 1, err);
    /* The operator's: every vocabulary of each file, ':'-separated. */
    for (const char *p = operator_files; rc == 0 && p && *p;) {
        const char *colon = strchr(p, ':');
        const size_t len = colon ? (size_t)(colon - p) : strlen(p);
        char *path = len ? strndup(p, len) : NULL;
        if (len && !path) rc = vx_fail(err, "out of memory");
        else if (len) rc = add_file(&l, path, 0, err);
        free(path);
        p = colon ? colon + 1 : p + len;
    }
    if (rc) {
        vx_label_vocabs_free(l.v, l.n);
        return -1;
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

void vx_label_vocabs_free(vx_label_vocab *v, int n) {
    for (int i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].labels);
        free(v[i].source);
        free(v[i].emb);
        vx_vocabulary_clear(&v[i].def); /* the labels pointed into it */
    }
    free(v);
}

/* ---- the cache of label embeddings --------------------------------------------------------- */

#define CACHE_MAGIC "VXLABEL1"
#define CACHE_HEADER 20 /* magic, dim, labels, threshold */

int vx_labels_cache_path(const char *dir, uint64_t model_fingerprint, const vx_label_vocab *v, vx_path out,
                         vx_error *err) {
    char fp[VX_ID_HEX_LEN], h[VX_ID_HEX_LEN];
    vx_id_to_hex(model_fingerprint, fp);
    vx_id_to_hex(v->hash, h);
    return vx_path_fmt(out, err, "%s/%s-%s.f32", dir, fp, h);
}

int vx_labels_cache_read(const char *path, vx_label_vocab *v, int dim, vx_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return vx_fail(err, "%s: not there", path);
    char magic[8];
    uint32_t file_dim = 0, n = 0;
    float thr = 0;
    const size_t want = (size_t)v->n_labels * (size_t)dim;
    float *emb = malloc((want ? want : 1) * sizeof *emb);
    int ok = emb && fread(magic, 1, 8, f) == 8 && memcmp(magic, CACHE_MAGIC, 8) == 0 && fread(&file_dim, 4, 1, f) == 1 &&
             fread(&n, 4, 1, f) == 1 && fread(&thr, 4, 1, f) == 1 && file_dim == (uint32_t)dim &&
             n == (uint32_t)v->n_labels && isfinite(thr) && thr > 0 && thr < 100 &&
             fread(emb, sizeof *emb, want, f) == want && fgetc(f) == EOF;
    fclose(f);
    for (size_t i = 0; ok && i < want; i++) ok = isfinite(emb[i]);
    if (!ok) {
        free(emb);
        return vx_fail(err, "%s: not the cache of this vocabulary (%d labels of %d floats)", path, v->n_labels, dim);
    }
    free(v->emb);
    v->emb = emb;
    v->threshold = thr;
    return 0;
}

int vx_labels_cache_write(const char *path, const vx_label_vocab *v, int dim, vx_error *err) {
    vx_buf b = {0};
    vx_put_bytes(&b, CACHE_MAGIC, 8);
    const uint32_t d = (uint32_t)dim, n = (uint32_t)v->n_labels;
    vx_put_bytes(&b, &d, 4);
    vx_put_bytes(&b, &n, 4);
    vx_put_bytes(&b, &v->threshold, 4);
    vx_put_bytes(&b, v->emb, (size_t)n * d * sizeof(float));
    const int rc = b.oom ? vx_fail(err, "out of memory") : vx_write_file_atomic(path, b.data, b.len, err);
    vx_buf_free(&b);
    return rc;
}

/* ---- calibration and scoring -------------------------------------------------------------- */

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

float vx_labels_calibrate(const float *emb, int n_labels, int dim, int draws, double false_rate) {
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

typedef struct scored {
    float z;
    int label;
} scored;

static int by_z(const void *a, const void *b) {
    const float x = ((const scored *)a)->z, y = ((const scored *)b)->z;
    return (y > x) - (y < x);
}

int vx_labels_keep(const float *emb, int n_labels, int dim, float threshold, const float *x, int *labels, float *z) {
    scored *work = malloc((size_t)(n_labels > 0 ? n_labels : 1) * sizeof *work);
    float *s = malloc((size_t)(n_labels > 0 ? n_labels : 1) * sizeof *s);
    int n = 0;
    if (work && s) {
        for (int l = 0; l < n_labels; l++) s[l] = vx_dot(emb + (size_t)l * dim, x, (size_t)dim);
        standardise(s, n_labels);
        for (int l = 0; l < n_labels; l++)
            if (s[l] >= threshold) work[n++] = (scored){.z = s[l], .label = l};
        qsort(work, (size_t)n, sizeof *work, by_z);
        if (n > VX_LABELS_TOP) n = VX_LABELS_TOP;
        for (int i = 0; i < n; i++) {
            labels[i] = work[i].label;
            z[i] = work[i].z;
        }
    }
    free(work);
    free(s);
    return n;
}

/* x centred on the mean (when there is one) and normalised, into out. */
static void centre(const float *mean, const float *x, int dim, float *out) {
    for (int i = 0; i < dim; i++) out[i] = mean ? x[i] - mean[i] : x[i];
    vx_normalize(out, (size_t)dim);
}

typedef struct label_list {
    vx_video_label *v;
    int n;
} label_list;

/* Adds (or widens) a label: vocabulary vi, label, z, over [start, end]. */
static int add_label(label_list *l, int vi, int label, float z, double start, double end) {
    for (int i = 0; i < l->n; i++) {
        vx_video_label *g = &l->v[i];
        if (g->vocabulary != vi || g->label != label) continue;
        if (z > g->score) g->score = z;
        /* merge with the last range when they touch, else a new one */
        if (g->n_ranges && start <= g->ranges[g->n_ranges - 1].end + 1e-6) {
            if (end > g->ranges[g->n_ranges - 1].end) g->ranges[g->n_ranges - 1].end = (float)end;
            return 0;
        }
        if (g->n_ranges == VX_LABELS_MAX_RANGES) return 0;
        g->ranges[g->n_ranges++] = (vx_label_range){(float)start, (float)end};
        return 0;
    }
    vx_video_label *a = realloc(l->v, (size_t)(l->n + 1) * sizeof *a);
    if (!a) return -1;
    l->v = a;
    l->v[l->n++] = (vx_video_label){.vocabulary = (int16_t)vi, .label = label, .score = z, .n_ranges = 1,
                                    .ranges = {{(float)start, (float)end}}};
    return 0;
}

static int by_score(const void *a, const void *b) {
    const vx_video_label *x = a, *y = b;
    return (y->score > x->score) - (y->score < x->score);
}

int vx_labels_of_video(const vx_label_vocab *v, int n_vocab, int dim, const float *mean, const float *whole,
                       double duration, const vx_segment *segs, uint32_t n_segs, vx_video_label **out, int *n,
                       vx_error *err) {
    *out = NULL;
    *n = 0;
    label_list l = {0};
    float *x = malloc((size_t)dim * sizeof *x);
    int labels[VX_LABELS_TOP];
    float z[VX_LABELS_TOP];
    if (!x) return vx_fail(err, "out of memory");
    for (int vi = 0; vi < n_vocab; vi++) {
        const vx_label_vocab *voc = &v[vi];
        if (!voc->emb) continue;
        for (uint32_t s = 0; s < n_segs; s++) {
            if ((int)segs[s].dim != dim) continue;
            centre(mean, segs[s].embedding, dim, x);
            const int k = vx_labels_keep(voc->emb, voc->n_labels, dim, voc->threshold, x, labels, z);
            const double end = segs[s].end > segs[s].start ? segs[s].end : duration;
            for (int i = 0; i < k; i++)
                if (add_label(&l, vi, labels[i], z[i], segs[s].start, end)) goto oom;
        }
        /* The whole video: a better score for a label a segment has, else the whole range. */
        centre(mean, whole, dim, x);
        const int k = vx_labels_keep(voc->emb, voc->n_labels, dim, voc->threshold, x, labels, z);
        for (int i = 0; i < k; i++) {
            int found = 0;
            for (int j = 0; j < l.n; j++)
                if (l.v[j].vocabulary == vi && l.v[j].label == labels[i]) {
                    found = 1;
                    if (z[i] > l.v[j].score) l.v[j].score = z[i];
                }
            if (!found && add_label(&l, vi, labels[i], z[i], 0, duration)) goto oom;
        }
    }
    free(x);
    if (l.n > 1) qsort(l.v, (size_t)l.n, sizeof *l.v, by_score);
    *out = l.v;
    *n = l.n;
    return 0;
oom:
    free(x);
    free(l.v);
    return vx_fail(err, "out of memory");
}
