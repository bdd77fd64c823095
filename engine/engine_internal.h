/* vidx engine, internal: the state the engine's files share. Only engine/ includes it. */
#ifndef VX_ENGINE_INTERNAL_H
#define VX_ENGINE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include "../ann/ann.h"
#include "../common/worker.h"
#include "../common/lru.h"
#include "../common/path.h"
#include "../common/vecmath.h"
#include "../encoder/clip.h"
#include "../schemas/catalog.h"
#include "../schemas/ops.h"
#include "../text/lexical.h"
#include "engine.h"
#include "query_cache.h"

typedef struct vx_query_encoder vx_query_encoder;
typedef struct vx_jobs vx_jobs;
typedef struct vx_event_writer vx_event_writer;
typedef struct vx_renditions vx_renditions;

#define VX_DATA_DIR_MAX (PATH_MAX - 128) /* bytes of a data folder's path: its files' fit in PATH_MAX */

/* The engine's state. Each group says who writes it and what guards it; the
 * subsystems behind the pointers (workers, labels, lexical index, caches) keep their own
 * state private to their files and lock it themselves. Lock order, when more than one is
 * held: apply_lock, then vectors.lock, then a subsystem's own. */
struct vx_engine {
    /* Set by the open, read-only after: no lock. */
    vx_engine_options opt;
    char data_dir[VX_DATA_DIR_MAX + 1];
    char data_dir_real[PATH_MAX];     /* the same, canonical (where paths are compared with it) */
    atomic_int dirty[2];              /* vx_derived: its index missed a change (repair.c); marked once */
    vx_catalog *cat;                  /* LevelDB: safe from any thread */
    vx_ann_options ann_opt;

    /* The model (model.c). model is published once, whole, with release/acquire (it may
     * arrive while serving); model_dir, model_tried and model_replaces are written only
     * by the open and by the job runner's thread; model_problem only before model is
     * published, by those two. */
    vx_path model_dir;                /* the model folder in use or looked for */
    vx_clip *model;                   /* NULL when missing */
    char model_problem[1024];         /* why, and how to get it */
    uint64_t model_tried;             /* the model folder's state when it last failed to load */
    uint64_t model_replaces;          /* opt.adopt_model: the fingerprint of the database's model that the
                                       * loaded one replaces at the next indexing; 0: none */
    /* The multilingual text tower (encoder/mtext.h): queries not in English, in CLIP's
     * image space. Loaded by the open, read-only after; NULL with why in
     * text_model_problem. */
    struct vx_mtext *text_model;
    char text_model_problem[1024];

    /* Changes of state are applied one at a time, in order, under apply_lock (apply.c):
     * the catalog batch, then what follows from it (vectors, recommender, lexical index,
     * labels, renditions). */
    pthread_mutex_t apply_lock;

    /* The vector indexes and the recommender, behind one lock. Readers (searches,
     * similar, feeds, the feed model's builder, gauges, saving the index) hold it for
     * reading; the apply holds it for writing to change the index or to replace either
     * pointer. The recommender's content has its own lock inside recommend/. */
    struct vx_vectors {
        pthread_rwlock_t lock;
        vx_ann *ann;                      /* GUARDED_BY(lock); swapped whole only under the write lock */
        atomic_uint_least64_t version;    /* bumped by every change of the index: cached answers are stale */
        vx_recommender *rec;              /* replaced only under the write lock (a user's deletion) */
        uint64_t rec_generation;          /* GUARDED_BY(lock); bumped when rec is replaced */
    } vectors;

    /* Derived state with its own lock inside. */
    vx_lexical *lex;                  /* the lexical index (text.c): its writer only under apply_lock */
    struct vx_labeller *labels;       /* zero-shot labels (labels.c); NULL without the model or indexes */
    vx_query_cache *qcache;           /* text embeddings by token ids */
    vx_lru *answers;                  /* similar-video and text search answers, valid while the indexes hold (search.c) */

    /* The workers (common/worker.h; engine/README.md lists them). Started by the open
     * (the encoder also when the model arrives, published like the model), stopped by the
     * close; NULL when not run. */
    vx_query_encoder *encoder;        /* opt.query_encoder: queries and pictures encoded in batches */
    vx_event_writer *events;          /* events written in synced groups */
    vx_jobs *jobs;                    /* opt.jobs: indexing jobs, one at a time */
    vx_renditions *renditions;        /* opt.renditions: the rendition maker */
    struct vx_feedmodel *feedmodel;   /* opt.feed_model: the item model's builder; NULL: built on demand */

    /* Counters, relaxed atomics. */
    atomic_int_least64_t foreground_us; /* when a search, similar or feed last ran (monotonic
                                           microseconds): background work yields to them */
    atomic_uint_least64_t cache_hits, cache_misses, encoder_runs, encoder_queries;
};

/* Notes that serving work runs now: background work waits for quiet. */
static inline void vx_engine_foreground(vx_engine *e) {
    atomic_store_explicit(&e->foreground_us, (int_least64_t)(vx_now() * 1e6), memory_order_relaxed);
}

/* From worker w's thread: waits until no search, similar-video or feed request has run
 * for VX_QUIET_S, at most max_s (< 0: no limit). 0, or -1 when w is told to stop
 * meanwhile. SCHED_IDLE alone is not enough: the query encoder's BLAS and OpenMP threads
 * synchronise by spinning and yielding, and any co-runner, however low its priority,
 * stretches their waits (measured here: a SCHED_IDLE busy loop per core cut uncached
 * searches from 114/s to 31/s). */
#define VX_QUIET_S 0.3
static inline int vx_engine_wait_quiet(vx_engine *e, vx_worker *w, double max_s) {
    return vx_worker_wait_quiet(w, &e->foreground_us, VX_QUIET_S, max_s);
}

/* engine/apply.c: the one way state changes. */
/* Applies one op (catalog, thumbnails, vector indexes, recommender, then the followers).
 * Takes apply_lock; REQUIRES: not held. */
int vx_engine_apply(vx_engine *e, const vx_op *op, vx_error *err);
/* Applies event ops together in one write (synced, or at log position pos); stored[i]
 * and status[i] per op. Returns 0, VX_E_INTERNAL when some failed, VX_E_STORAGE when
 * nothing was written. */
int vx_engine_apply_events(vx_engine *e, const vx_op *ops, int n, const vx_log_position *pos, vx_event_stored *stored,
                           int *status, vx_error *errs);
/* A change made here: applied now on one machine, committed to the log in a cluster.
 * Returns a vx_status: VX_E_LOG_UNAVAILABLE when the cluster's log refused it. */
int vx_engine_commit(vx_engine *e, const vx_op *op, vx_error *err);
void vx_engine_commit_events(vx_engine *e, const vx_op *ops, int n, vx_event_stored *stored, int *status,
                             vx_error *errs);
/* Swaps in an inverted file when the exact index outgrew its limit (apply_lock, then
 * vectors.lock for writing only for the swap), then saves (vectors.lock for reading:
 * saving only reads the index). REQUIRES: neither held. */
void vx_engine_settle_index(vx_engine *e, const char *who);

/* engine/labels.c: every indexed original's tags made again and compared with the
 * labeller's (vidx info --check); with fix, those that differ are replaced and those of
 * videos no longer indexed dropped. *differ: videos whose tags differ, *example one of
 * them. 0, 1 when there are no labels to check (off, or being built), -1 with err. */
int vx_engine_labels_check(vx_engine *e, int fix, uint64_t *differ, uint64_t *example, vx_error *err);

/* engine/disk.c: the data folder's disk. */
/* VX_OK when a bulk write of `need` bytes leaves the reserve free, else VX_E_STORAGE with
 * err saying so ("WHAT waits: ..."). */
int vx_engine_disk_room(vx_engine *e, uint64_t need, const char *what, vx_error *err);
/* "ok", "full" or "failing" (vx_engine_stats.disk), with the bytes free. */
const char *vx_engine_disk_state(vx_engine *e, uint64_t *free_bytes);

/* engine/derived.c: derived state that is not an op (the one other catalog write). */
/* A rendition record (r), or with r NULL the removal of forget_hash's. */
int vx_engine_write_rendition(vx_engine *e, const vx_rendition *r, uint64_t forget_hash, vx_error *err);

/* engine/model.c */
/* The multilingual text tower, when opt names one or the default folder holds one, and it
 * maps into the CLIP model's space: e->text_model, else why in e->text_model_problem.
 * -1 with err only when opt.text_model_dir names one that cannot be used. */
int vx_engine_load_text_model(vx_engine *e, vx_error *err);
/* 1 when the multilingual tower is loaded and maps into the CLIP model's space (a model
 * that arrived after the open may have another). */
int vx_engine_text_model_usable(const vx_engine *e);
/* A service opened without its model looks for it again (the job runner's thread, while
 * idle): once the folder holds a model that loads and is the database's (or the database
 * has none yet), it is put in use with its query cache, encoder thread and labels. 1 when
 * the model is in use. */
int vx_engine_model_arrived(vx_engine *e);
/* The model: --model / $VIDX_MODEL, else the database's, else the default folder; NULL
 * in e->model with why in e->model_problem. */
void vx_engine_load_model(vx_engine *e, const vx_meta *meta);
/* Puts a loaded model in use (query cache, model, encoder thread). -1 when the encoder
 * thread did not start (the model is in use all the same). */
int vx_engine_use_model(vx_engine *e, vx_clip *m, vx_error *err);
/* Makes the loaded model the database's (opt.adopt_model): one MODEL_CHANGE op. */
int vx_engine_adopt_model(vx_engine *e, vx_error *err);

/* engine/text.c: the lexical index in step with the catalog. */
int vx_engine_text_open(vx_engine *e, vx_error *err);
void vx_engine_text_close(vx_engine *e);
/* After a committed op changed what the video's documents are made from: rewrites them
 * and commits at the catalog's text generation. REQUIRES: apply_lock held. */
void vx_engine_text_follow(vx_engine *e, uint64_t video_id, uint64_t generation);

/* engine/feedmodel.c: the feeds' item model, rebuilt in the background. */
typedef struct vx_feedmodel vx_feedmodel;
int vx_engine_feedmodel_start(vx_engine *e, vx_error *err);
void vx_engine_feedmodel_stop(vx_engine *e);
/* The recommender changed (events, a user deleted): the builder looks whether a model is due. */
void vx_engine_feedmodel_notice(vx_engine *e);
/* Builds it on the caller's thread when one is due: 1 built, 0 not due, -1 failed (logged). */
int vx_engine_feedmodel_build_now(vx_engine *e);

/* engine/labels.c: zero-shot labels, derived and kept in memory. */
int vx_engine_labels_open(vx_engine *e, vx_error *err);
void vx_engine_labels_close(vx_engine *e);
/* After an op changed the video: its labels again. REQUIRES: apply_lock held, not
 * vectors.lock (it reads the index's size under it). */
void vx_engine_labels_follow(vx_engine *e, uint64_t video_id);

/* engine/encoder.c: the query encoder thread. */
typedef struct vx_encode_task {
    vx_queue_node link;         /* first: queued by it (common/worker.h) */
    int32_t *ids;               /* [n], token ids with start and end */
    int n;
    int tower;                  /* which text tower: VX_TOWER_CLIP, _MULTILINGUAL or _BOTH */
    /* With VX_TOWER_BOTH, ids/n/out are CLIP's half and these the multilingual one's; done()
     * comes once both are encoded, rc the first failure. */
    int32_t *mids;
    int mn;
    float *mout;
    /* A picture query instead (ids NULL): decoded, preprocessed like frames and encoded
     * by the vision tower, on the encoder thread. */
    const uint8_t *image;
    size_t image_len;
    int bad_image;              /* rc's error is the picture's fault (bad input), not the encoder's */
    uint64_t image_phash;       /* the picture's perceptual hash (indexer/phash.h), when not flat */
    int image_flat;
    float *out;                 /* [proj_dim] */
    int rc;
    vx_error err;
    void (*done)(struct vx_encode_task *t); /* on the encoder thread */
} vx_encode_task;
#define VX_ENCODER_MAX_QUEUE 256 /* ~2.5 s of encoding: beyond, new queries are refused (busy) */
#define VX_ENCODER_MAX_PICTURES 8 /* pictures among them (each a decode and a vision-tower run) */
vx_query_encoder *vx_query_encoder_start(vx_engine *e, vx_error *err);
/* Runs one picture task with ctx (the encoder thread's, or the caller's without one). */
void vx_encode_image_task(vx_clip_ctx *ctx, const vx_clip *model, vx_encode_task *t);
/* -1 (and nothing done) when VX_ENCODER_MAX_QUEUE queries already wait, or for a picture,
 * VX_ENCODER_MAX_PICTURES pictures: they cannot crowd out text queries. */
int vx_query_encoder_submit(vx_query_encoder *enc, vx_encode_task *t);
void vx_query_encoder_stop(vx_query_encoder *enc);

/* engine/jobs.c */
vx_jobs *vx_jobs_start(vx_engine *e, vx_error *err);
/* Submits a job that encodes the frames of the videos indexed without the model, when
 * there are any and the model is in use (one machine only: a cluster's workers index
 * with their own model). */
void vx_jobs_encode_pending(vx_jobs *J);
void vx_jobs_stop(vx_jobs *j);
uint64_t vx_jobs_submit(vx_jobs *j, const char *const *paths, int n, const vx_job_settings *settings,
                        vx_error *err);
int vx_jobs_live(vx_jobs *j, uint64_t id, vx_index_summary *live);
/* A fresh job id (never 0): time, process and a counter hashed. */
uint64_t vx_jobs_new_id(void);
void vx_jobs_counts(vx_jobs *j, int64_t *queued, int64_t *running, int64_t *done, int64_t *failed);
/* The index run behind vx_engine_index and jobs: every change through vx_engine_apply. */
int vx_engine_run_index(vx_engine *e, const char *const *paths, int n, const vx_index_options *o,
                        vx_index_summary *sum, vx_error *err);

/* engine/writer.c: the event writer thread. */
vx_event_writer *vx_event_writer_start(vx_engine *e, vx_error *err);
void vx_event_writer_stop(vx_event_writer *w);
int vx_event_writer_submit(vx_event_writer *w, const vx_op *op, vx_event_done done, void *arg, vx_error *err);

/* engine/media.c: renditions in the background. */
vx_renditions *vx_renditions_start(vx_engine *e, vx_error *err);
void vx_renditions_stop(vx_renditions *m);
/* A video with this content was indexed (it may need a rendition). NULL m: ignored. */
void vx_renditions_notice(vx_renditions *m, uint64_t content_hash);
/* A video with this content went (its rendition goes with the last one). */
void vx_renditions_forget(vx_renditions *m, uint64_t content_hash);
/* 0..1 while this content's rendition is being made, else -1. */
double vx_renditions_progress(vx_renditions *m, uint64_t content_hash);
void vx_renditions_counts(vx_renditions *m, int64_t *pending, uint64_t *made, uint64_t *failed);
/* DATA/media/HASH.mp4 */
int vx_rendition_path(const vx_engine *e, uint64_t content_hash, vx_path out, vx_error *err);
/* How a video plays (vx_engine_video, jobs). */
void vx_engine_playback(vx_engine *e, const vx_video *v, vx_playback_view *out);

/* engine/apply.c: the vector index built anew from the catalog aside and swapped in
 * (under apply_lock, then briefly the index's write lock). -1 with err. */
int vx_engine_rebuild_vectors(vx_engine *e, vx_error *err);
/* engine/repair.c: the derived indexes kept true to the catalog */
typedef enum { VX_DERIVED_VECTORS = 0, VX_DERIVED_WORDS = 1 } vx_derived;
/* A follow failed: the index is marked (a file in DATA/index/), so the next open repairs it. */
void vx_engine_mark_dirty(vx_engine *e, vx_derived which, const char *why);
int vx_engine_marked_dirty(const vx_engine *e, vx_derived which);
/* At open: rebuilds what is marked, then removes the marks. */
int vx_engine_repair_marked(vx_engine *e, vx_error *err);
/* engine/text.c: every video's words against the catalog; with fix, the differing ones
 * rewritten. *differ: how many differed, *example: one of them. */
int vx_engine_text_check(vx_engine *e, int fix, uint64_t *differ, uint64_t *example, void *unused, vx_error *err);

#endif
