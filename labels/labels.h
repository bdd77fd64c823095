/* vidx labels: zero-shot labels (scenes, actions, emotions, operators' own), the part
 * that is pure: vocabularies, the label embeddings' cache file, calibration and scoring.
 * The engine keeps them up to date as videos change (engine/labels.c); the API calls
 * them "tags" (DESIGN.md: /v1/tags, tag=).
 *
 * Vocabularies (encoder/prompts.h) come from OpenAI's prompts.md: SUN397 as "scenes",
 * Kinetics700 as "actions", FacialEmotionRecognition2013 as "emotions", plus every
 * vocabulary of the operator's files, named by their headings. A label's embedding is
 * the normalised mean of the text tower's embeddings of its prompts (every template with
 * every synonym): computed once per model and vocabulary, and cached.
 *
 * Scoring, for a segment or a whole video with embedding x:
 *   1. centring: x - m, normalised, where m is the mean of the indexed videos'
 *      embeddings (once there are VX_LABELS_CENTRE_MIN of them). Image embeddings share
 *      a large common part; what it adds to a label's score is the same for every
 *      picture, and would label every video with the labels that happen to lie along it.
 *   2. per vocabulary, each label's cosine with it, standardised across the vocabulary:
 *      z = (s - mean) / sd. How far a label stands out from the others, whatever the
 *      model's scale of cosines;
 *   3. kept: the VX_LABELS_TOP best labels whose z passes the vocabulary's threshold.
 *
 * The threshold is calibrated, not guessed: the (1 - false rate) quantile of the best
 * label's z over inputs that favour no label (random directions, VX_LABELS_NULL_DRAWS of
 * them, through the vocabulary's own label embeddings, so that correlated labels are
 * accounted for). A segment related to none of the labels then passes with about that
 * probability; bench/understand.md measures it on real frames.
 *
 * A video's labels: those kept for the whole video or for any of its segments, with the
 * time ranges of those segments (the whole video when only the whole passed), and the
 * best z as the score. */
#ifndef VX_LABELS_H
#define VX_LABELS_H

#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"
#include "../common/path.h"
#include "../encoder/prompts.h"
#include "../schemas/records.h"

#define VX_LABELS_TOP 3              /* labels per vocabulary kept for a segment or a video */
#define VX_LABELS_FALSE_RATE 0.01    /* a segment unrelated to every label passes this often */
#define VX_LABELS_NULL_DRAWS 4000    /* inputs that favour no label, drawn to calibrate */
#define VX_LABELS_CENTRE_MIN 10      /* indexed videos before scores are centred on their mean */
#define VX_LABELS_MAX_RANGES 4       /* time ranges kept per label of a video */
#define VX_LABELS_MAX_VOCAB 64
#define VX_LABELS_MIN_LABELS 5       /* a vocabulary's labels at least: z-scores across fewer say nothing */

typedef struct vx_label_range {
    float start, end; /* seconds */
} vx_label_range;

typedef struct vx_video_label {
    int16_t vocabulary;
    int16_t n_ranges;
    int32_t label;
    float score;       /* the best z-score (standard deviations above the vocabulary's mean) */
    vx_label_range ranges[VX_LABELS_MAX_RANGES]; /* the segments where it passed, merged */
} vx_video_label;

typedef struct vx_label_vocab {
    char *name;
    int n_labels;
    char **labels;       /* class names (first synonyms, pointing into def) */
    char *source;        /* the file it came from */
    float *emb;          /* [n_labels x dim], L2-normalised; NULL until computed or read */
    float threshold;     /* calibrated z */
    uint64_t hash;       /* of its classes, templates and the false rate: part of its cache's name */
    vx_vocabulary def;   /* its classes and templates */
} vx_label_vocab;

/* The vocabularies: the built-in ones of prompts_path (OpenAI's prompts.md; skipped when
 * the file is not there) and every vocabulary of the operator's files (':'-separated
 * paths; NULL: none). false_rate is what thresholds will be calibrated for. */
int vx_labels_load_vocabularies(const char *prompts_path, const char *operator_files, double false_rate,
                                vx_label_vocab **out, int *n, vx_error *err);
void vx_label_vocabs_free(vx_label_vocab *v, int n);

/* The cache of a vocabulary's embeddings and threshold: DIR/FINGERPRINT-HASH.f32, a
 * magic, dim, labels, threshold, then the floats. */
int vx_labels_cache_path(const char *dir, uint64_t model_fingerprint, const vx_label_vocab *v, vx_path out,
                         vx_error *err);
/* Reads it into v (emb, threshold): 0, or -1 with err when it is missing or not exactly
 * what this vocabulary and dim must have (size, magic, finite values). */
int vx_labels_cache_read(const char *path, vx_label_vocab *v, int dim, vx_error *err);
int vx_labels_cache_write(const char *path, const vx_label_vocab *v, int dim, vx_error *err);

/* The calibrated threshold of a vocabulary (emb: n_labels x dim, normalised): the
 * (1 - false_rate) quantile of the best label's z over `draws` random directions. */
float vx_labels_calibrate(const float *emb, int n_labels, int dim, int draws, double false_rate);
/* The labels kept for an embedding x (centred, normalised) against a vocabulary's label
 * embeddings (n_labels x dim): up to VX_LABELS_TOP whose z-score across the vocabulary
 * passes threshold, best first, into labels and z; returns how many. */
int vx_labels_keep(const float *emb, int n_labels, int dim, float threshold, const float *x, int *labels, float *z);
/* A video's labels from its segments' embeddings and its whole one, centred on mean
 * (NULL: none yet), best first: *out (free) with *n. Segments whose dim is not dim are
 * skipped. 0, or -1 when out of memory. */
int vx_labels_of_video(const vx_label_vocab *v, int n_vocab, int dim, const float *mean, const float *whole,
                       double duration, const vx_segment *segs, uint32_t n_segs, vx_video_label **out, int *n,
                       vx_error *err);

#endif
