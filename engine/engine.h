/* vidx engine: the application layer.
 *
 * Every operation a user or operator can ask for lives here once: search by text,
 * similar videos, a user's feed, recording an event, indexing paths, describing a
 * video, info and check. `vidx` commands (cli/) and the HTTP service (api/) are thin
 * faces over it: they parse, call one operation, and print its answer with the one
 * serialiser (present/json.h), so both print exactly the same documents.
 *
 * A vx_engine owns a data folder: the catalog (LevelDB, the source of truth), the two
 * vector indexes (derived, behind a read-write lock with a version that every change
 * bumps), the recommender, the CLIP model with the query encoder thread and its query
 * cache, and the background work (indexing jobs, grouped event writes). Every change
 * of state is one explicit operation value (schemas/ops.h) applied by one function,
 * vx_engine_apply; that is the seam a cluster replicates.
 *
 * Conventions:
 *   - vx_engine_open returns NULL and fills err; vx_engine_close accepts NULL.
 *   - Operations return 0, or a negative vx_status (common/status.h) with err filled.
 *   - Results belong to the caller and are released with their _free function.
 *   - Every operation may be called from any thread at any time. Asynchronous ones
 *     call their callback exactly once, from an engine thread; callers hop back to
 *     their own thread from there.
 *   - Configuration comes in vx_engine_options, filled by the caller (command line,
 *     environment): nothing under engine/ reads the environment.
 */
#ifndef VX_ENGINE_H
#define VX_ENGINE_H

#include <stdint.h>

#include "../common/error.h"
#include "../indexer/index.h"
#include "../recommend/events.h"
#include "../recommend/feed.h"
#include "../schemas/ops.h"
#include "../common/path.h"
#include "../common/status.h"
#include "../labels/labels.h"
#include "../schemas/records.h"

/* Limits of the operations, the same for the command line and HTTP. */
#define VX_MAX_K 1000       /* results per page */
#define VX_CACHED_K_MAX 100 /* pages of more results are not cached (a k=1000 answer is ~190 KB) */
#define VX_MAX_OFFSET 10000 /* results skipped (pages) */
#define VX_MAX_QUERY 1000   /* bytes of query text */


typedef enum vx_model_need {
    VX_MODEL_NONE,    /* never loaded (similar, feed, events, info) */
    VX_MODEL_TRY,     /* loaded when it can be; text search and indexing say why not */
    VX_MODEL_REQUIRE, /* open fails without it */
} vx_model_need;

/* A cluster's side of the engine (cluster/cluster.h fills it). With it, every change the
 * engine would apply is committed to the cluster's log instead and applied here when
 * the log delivers it back (vx_engine_apply_logged), like on every other node. */
typedef struct vx_cluster_hooks {
    void *ctx;
    /* Makes ops durable in the log, in order, and returns once this node has applied
     * them (or a bounded wait passed): status[i] per op (0, or a vx_status with errs[i]),
     * and for events what was stored (stored[i]). Returns 0 when every op is in the log. */
    int (*commit)(void *ctx, const vx_op *ops, int n, vx_event_stored *stored, int *status, vx_error *errs);
    /* Puts one work item per path of a committed job into the cluster's queue. */
    int (*enqueue)(void *ctx, const vx_job *job, vx_error *err);
    /* Sharded search: asks one replica of every shard but q->shard (this node's) for its
     * q->pool nearest segments, waiting at most the cluster's shard deadline.
     * answers[i] and answered[i] per shard (q->shards of them); a shard that did not
     * answer in time has answered[i] 0. NULL on a node that is not sharded. */
    void (*ask_shards)(void *ctx, const vx_shard_query *q, vx_shard_answer *answers, int *answered);
} vx_cluster_hooks;

typedef struct vx_engine_options {
    const char *data_dir;         /* the data folder (DESIGN.md "Data folder") */
    const char *model_dir;        /* --model or $VIDX_MODEL; NULL: the database's, then default_model_dir */
    const char *default_model_dir;/* where the model is looked for last (may be NULL) */
    const char *text_model_dir;   /* the multilingual text tower (--text-model, $VIDX_TEXT_MODEL); NULL:
                                   * default_text_model_dir when it holds one */
    const char *default_text_model_dir;
    vx_precision precision;       /* of the encoder (encoder/qlinear.h); default vx_precision_default() */
    int create;                   /* make the data folder and catalog when missing */
    int catalog_only;             /* only the catalog: info, check and video records (no indexes) */
    vx_model_need model;
    int adopt_model;              /* indexing (vx_engine_index) may replace the database's model with
                                   * the one loaded: the videos' frames are encoded again, the rest kept */
    int query_encoder;            /* run the query encoder thread (queries by text or picture, async) */
    int jobs;                     /* run background indexing jobs and resume unfinished ones */
    int query_cache;              /* query embeddings kept (default 4096) */
    int similar_cache;            /* similar-video and text search answers kept (default 65536) ... */
    long filter_pool_max;         /* nearest segments a filtered search looks through at most (default
                                   * 50,000; VIDX_FILTER_POOL_MAX) */
    size_t answer_cache_bytes;    /* ... in at most this many bytes (default 256 MiB; VIDX_ANSWER_CACHE_MB) */
    uint64_t disk_reserve;        /* bytes left free by bulk writes (engine/disk.c; default 256 MiB;
                                   * VIDX_DISK_RESERVE_MB) */
    int db_cache_mb;              /* LevelDB block cache (default VX_CATALOG_CACHE_MB) */
    long ann_exact_max;           /* vectors searched exactly before an inverted file (VX_ANN_EXACT_MAX) */
    long ann_compress_min;        /* segments above which their index is compressed (VX_ANN_COMPRESS_MIN) */
    int ann_faiss_search;         /* inverted files searched by FAISS alone (A/B runs) */
    vx_index_options index;       /* sampling and segments of indexing (jobs and vx_engine_index) */
    int renditions;               /* make web-playable renditions in the background (engine/media.c) */
    int rendition_max_height;     /* their lines at most (the short side); 0: 1080 */
    /* Text search fuses the visual ranking with the lexical one by reciprocal rank:
     * score = 1/(fusion_k + visual rank) + fusion_text_weight/(fusion_k + lexical rank),
     * ranks from 1 (engine/search.c; tuned in bench/text_eval.md). */
    double fusion_k;              /* default VX_FUSION_K */
    double fusion_text_weight;    /* default VX_FUSION_TEXT_WEIGHT */
    int labels;                   /* keep zero-shot labels, "tags" over HTTP (a background thread prepares them) */
    int feed_model;               /* rebuild the feeds' item model in the background (else on the
                                   * first feed that finds it missing or due) */
    const char *label_prompts;      /* OpenAI's prompts.md (the built-in vocabularies); NULL: MODEL/prompts.md */
    const char *label_vocabularies; /* the operator's vocabulary files, ':'-separated (prompts.md format) */
    double label_false_rate;        /* how often a segment unrelated to every label is tagged; 0: VX_LABELS_FALSE_RATE */
    int lexical_search;           /* 1 (default): text queries search the words too; 0: the visual
                                   * ranking alone (A/B runs; the lexical index is still kept) */
    const vx_cluster_hooks *cluster; /* a cluster node: changes go through its log (NULL: one machine) */
    uint32_t shard, shards;       /* sharded search (a cluster node): this node's segment index holds the
                                   * videos with id % shards == shard; searches ask the other shards
                                   * (cluster->ask_shards). 0 shards: not sharded */
} vx_engine_options;

#define VX_FUSION_K 10.0
#define VX_FUSION_TEXT_WEIGHT 1.5

void vx_engine_options_default(vx_engine_options *o);

typedef struct vx_engine vx_engine;

vx_engine *vx_engine_open(const vx_engine_options *o, vx_error *err);
/* Stops background work (a running job stops after its current file and resumes at
 * the next open), saves the vector indexes, closes the database. */
void vx_engine_close(vx_engine *e);

/* The model's state: NULL when loaded, else why not and how to get it. */
const char *vx_engine_model_problem(const vx_engine *e);
const char *vx_engine_data_dir(const vx_engine *e);

/* ---- search ----------------------------------------------------------------------------- */

typedef struct vx_search_params {
    const char *text;              /* the query */
    int k, offset;                 /* page: 1..VX_MAX_K results after `offset` */
    double min_duration, max_duration; /* seconds; max 0 = no limit */
    const char *path_prefix;       /* only videos under it; NULL = any */
    const char *tag;               /* only videos with this zero-shot tag ("office", "scenes:office"); NULL = any */
    const struct vx_label_filter *tag_filter; /* the engine's reading of tag (callers leave it NULL) */
    const char *lang;              /* the query's language (BCP 47: "en", "zh-CN"); NULL or "": told from
                                    * its script and letters. English goes to CLIP's text tower, others to
                                    * the multilingual one when it is installed, and when unsure, both */
} vx_search_params;

void vx_search_params_default(vx_search_params *p);

/* What a text search result matched (vx_result.matched): its pictures, and the fields of
 * its text whose words matched. */
enum {
    VX_MATCHED_VISUAL = 1u << 0,
    VX_MATCHED_TITLE = 1u << 1,       /* VX_FIELD_TITLE */
    VX_MATCHED_DESCRIPTION = 1u << 2,
    VX_MATCHED_TAGS = 1u << 3,
    VX_MATCHED_SUBTITLE = 1u << 4,
    VX_MATCHED_FILE_NAME = 1u << 5,
    VX_MATCHED_FRAME = 1u << 6,       /* a picture query: the picture is one of its frames (its hash) */
    VX_MATCHED_LAST = VX_MATCHED_FRAME,
};
/* Its name in JSON ("visual", "title", "description", "tags", "subtitle", "filename"). */
const char *vx_matched_name(unsigned bit);

#define VX_RESULT_COPIES 8
typedef struct vx_result {
    uint64_t video_id;
    float score;
    double start, end; /* the moment; for similar, the whole video */
    int segment;       /* the moment's segment, -1 for similar and for moments of subtitle cues */
    char *title, *path;
    double duration;
    unsigned matched;  /* text search: VX_MATCHED_* (0 for similar videos) */
    char *snippet;     /* words matched: HTML-escaped text with matches in <b>..</b>, else NULL */
    /* Text and picture search: the other copies of this video that matched too (its
     * re-uploads, or the original it re-uploads and that one's other re-uploads), grouped
     * under this result, the group's best; the first VX_RESULT_COPIES of them, best first. */
    int copies;
    uint64_t copy_ids[VX_RESULT_COPIES];
} vx_result;

typedef struct vx_results {
    vx_result *items;
    int n;
    int total; /* videos that matched (all indexed videos passing the filters, as far as looked) */
    int total_estimated;/* filters were applied to the nearest filter_pool_max segments only: total is a
                         * lower bound, and videos beyond the pool are not in the answer */
    uint8_t text_tower; /* which tower embedded a text query: VX_TOWER_* */
    uint8_t english_only;/* a query not in English answered by CLIP's English tower (the multilingual
                         * one is not installed) */
    int sharded;        /* the answer merges the shards of a sharded cluster */
    int shards_missing; /* ... of which this many did not answer in time: the answer is partial */
    const void *lent; /* when set, every title and path lies in this cached answer (lent by the cache) */
} vx_results;

/* Which text tower read a query. BOTH: a Latin-script query that may or may not be English
 * (search.c, pick_tower), read by both and their embeddings fused. */
enum { VX_TOWER_NONE = 0, VX_TOWER_CLIP = 1, VX_TOWER_MULTILINGUAL = 2, VX_TOWER_BOTH = 3 };
void vx_results_free(vx_results *r);

/* Text search, blocking. The query goes to the text tower (the visual ranking) and to
 * the lexical index (titles, descriptions, tags, subtitles, file names); the rankings are
 * fused (options.fusion_*). Without the model, the lexical ranking alone answers. */
int vx_engine_search(vx_engine *e, const vx_search_params *p, vx_results *out, vx_error *err);

/* Text search in two steps, for callers that must not block (the service's loops):
 * vx_engine_search_start validates and tokenizes; if the query's embedding is cached it
 * returns 1 and the search can be finished at once, else it queues the query on the
 * query encoder thread, returns 0, and calls ready(arg) from that thread once the
 * embedding is known (or failed). vx_engine_search_finish then ranks the videos on the
 * caller's thread. A negative return is an error (the query is freed). */
typedef struct vx_query vx_query;
int vx_engine_search_start(vx_engine *e, const vx_search_params *p, void (*ready)(void *arg), void *arg,
                           vx_query **q, vx_error *err);
int vx_engine_search_finish(vx_engine *e, vx_query *q, vx_results *out, vx_error *err);
void vx_query_free(vx_query *q);

/* Search by a picture: JPEG, PNG or WebP bytes (indexer/picture.h: at most
 * VX_PICTURE_MAX_BYTES and VX_PICTURE_MAX_PIXELS), preprocessed exactly as frames are and
 * encoded by the vision tower; p->text is ignored. Results are shaped like a text
 * search's (the moment: the best segment; matched "visual"). A video that has the picture
 * among its frames (perceptual hashes within VX_PHASH_MATCH_BITS, whatever the model)
 * comes first, at the segment of that frame, matched "visual" and "frame": the video the
 * picture comes from. VX_E_BAD_INPUT says what is
 * wrong with the picture ("image: the PNG image is corrupt ..."), VX_E_MODEL_MISSING that
 * the model is missing. The two-step form works like the text search's; the query's
 * text (vx_query_text) then describes the picture ("JPEG image 640x480"). */
int vx_engine_search_image(vx_engine *e, const void *image, size_t len, const vx_search_params *p, vx_results *out,
                           vx_error *err);
int vx_engine_search_image_start(vx_engine *e, const void *image, size_t len, const vx_search_params *p,
                                 void (*ready)(void *arg), void *arg, vx_query **q, vx_error *err);
/* What a query searched for: its text, or the picture's description. */
const char *vx_query_text(const vx_query *q);

/* Search by a query vector (proj_dim floats, L2-normalised) in place of text: an image's
 * embedding, a frame's. p->text is ignored. */
int vx_engine_search_vector(vx_engine *e, const float *q, const vx_search_params *p, vx_results *out, vx_error *err);

/* Videos like a given one (its whole-video embedding), leaving out the video itself and
 * exact copies of it. VX_E_NOT_FOUND for unknown, removed or failed videos. */
int vx_engine_similar(vx_engine *e, uint64_t video_id, int k, int offset, vx_results *out, vx_error *err);

/* Sharded search, a shard's side: this node's q->pool nearest segments for a query
 * another node took (q->shard and q->shards must be this node's), best first. */
int vx_engine_shard_search(vx_engine *e, const vx_shard_query *q, vx_shard_answer *out, vx_error *err);
/* 1 on a node of a sharded cluster: a search then asks other nodes (it may wait). */
int vx_engine_sharded(const vx_engine *e);

/* ---- users -------------------------------------------------------------------------------- */

/* Validates, stores (durably) and applies one event. `stored` says what was stored. */
int vx_engine_record_event(vx_engine *e, const vx_event_request *req, vx_event_stored *stored, vx_error *err);
/* The same without blocking: done(arg, status, stored, err) from the event writer
 * thread, which writes the events that wait together in one synced batch. Returns a
 * negative status (and never calls done) when the request is refused at once. */
typedef void (*vx_event_done)(void *arg, int status, const vx_event_stored *stored, const vx_error *err);
int vx_engine_record_event_async(vx_engine *e, const vx_event_request *req, vx_event_done done, void *arg,
                                 vx_error *err);

int vx_engine_feed(vx_engine *e, const char *user, const vx_feed_options *o, vx_feed *out, vx_error *err);
/* The user's record (vx_user_clear); VX_E_NOT_FOUND before their first event. */
int vx_engine_user(vx_engine *e, const char *user, vx_user *out, vx_error *err);
/* Erases a user's events and profile (and, in a cluster, their events from the log).
 * Deleting a user who has none is not an error. */
int vx_engine_delete_user(vx_engine *e, const char *user, vx_error *err);

/* ---- videos ------------------------------------------------------------------------------- */

/* ---- zero-shot tags --------------------------------------------------------------------------
 * Labels of scenes, actions and emotions (and operators' own vocabularies) that the
 * pictures of a video or of its segments match best, without training: labels/labels.h
 * says how they are scored and how the threshold is calibrated. Derived data, prepared
 * in the background after the engine opens. */
enum { VX_LABELS_OFF = 0, VX_LABELS_LABELS = 1, VX_LABELS_BUILDING = 2, VX_LABELS_READY = 3 };
const char *vx_labels_state_name(int state);

/* A video's tag as its view shows it (names owned by the engine). */
typedef struct vx_label_view {
    const char *vocabulary, *label;
    float score;
    int n_ranges;
    vx_label_range ranges[VX_LABELS_MAX_RANGES];
} vx_label_view;

typedef struct vx_labels_state {
    int state;              /* VX_LABELS_* */
    double progress;        /* of the current step, 0..1 */
    char problem[512];      /* why tags are off */
    uint64_t videos_tagged;
    int centred;            /* scores are centred on the videos' mean */
    int n_vocabularies;
    struct {
        const char *name;
        int labels;
        float threshold;    /* the calibrated z (0 until known) */
    } vocabularies[VX_LABELS_MAX_VOCAB];
} vx_labels_state;
void vx_engine_labels_state(vx_engine *e, vx_labels_state *out);
/* Waits until tags are ready or off, at most timeout_s seconds; the state then. */
int vx_engine_labels_wait(vx_engine *e, double timeout_s);

/* A label's embedding (proj_dim floats) and its vocabulary's threshold, once computed:
 * 0, or -1 when there is no such label (yet). */
int vx_engine_label_embedding(vx_engine *e, const char *vocabulary, const char *label, float *out, float *threshold);
/* A label's name and its vocabulary's ("?" when out of range). */
const char *vx_engine_label_name(vx_engine *e, int vocabulary, int label, const char **vocabulary_name);
/* A video's tags, best first (*tags to free; none until tags are ready). */
int vx_engine_video_labels(vx_engine *e, uint64_t id, vx_video_label **tags, int *n);

typedef struct vx_label_count {
    int vocabulary, label;
    uint32_t videos;
} vx_label_count;
/* Every tag some video has, with how many videos, most first; vocabulary NULL: all.
 * VX_E_BAD_INPUT when there is no such vocabulary. */
int vx_engine_label_counts(vx_engine *e, const char *vocabulary, vx_label_count **out, int *n, vx_error *err);

/* A tag filter ("label" or "vocabulary:label", any case): the pairs it names. 0, or
 * VX_E_BAD_INPUT (no such label), VX_E_NOT_READY (tags are being prepared), VX_E_DISABLED
 * (tags are off: why). */
typedef struct vx_label_pair {
    int vocabulary, label;
} vx_label_pair;
typedef struct vx_label_filter { /* struct tag: vx_search_params points to one */
    int n;
    vx_label_pair pairs[VX_LABELS_MAX_VOCAB];
} vx_label_filter;
int vx_engine_label_parse(vx_engine *e, const char *text, vx_label_filter *out, vx_error *err);
int vx_engine_label_matches(vx_engine *e, uint64_t id, const vx_label_filter *f);
/* The videos whose tags pass f, if at most max do: 0 with *ids (malloc'd) and *n; 1 when
 * more do (or there are no labels to select by), -1 out of memory. */
int vx_engine_label_select(vx_engine *e, const vx_label_filter *f, size_t max, uint64_t **ids, size_t *n);

/* ---- text ---------------------------------------------------------------------------------- */

/* Text set through the API (PUT /v1/videos/{id}/text); indexing never replaces it.
 * Empty or absent fields are left out; nothing at all removes what was set. */
#define VX_API_MAX_TAGS 200
typedef struct vx_text_input {
    const char *title;       /* <= VX_MAX_TEXT bytes of UTF-8, or NULL */
    const char *description; /* <= VX_TEXT_MAX_ENTRY bytes, or NULL */
    const char **tags;       /* [n_tags], each <= 256 bytes */
    int n_tags;
} vx_text_input;
void vx_text_input_init(vx_text_input *in);
int vx_engine_set_text(vx_engine *e, uint64_t video_id, const vx_text_input *in, vx_error *err);

/* How a video plays in browsers: as it is, from its rendition, or not yet. */
typedef struct vx_playback_view {
    const char *state;    /* "direct", "rendition", "pending" or "failed" (static); NULL
                             for videos that are not indexed */
    char reason[512];     /* why a rendition (pending), why it failed, what a rendition left
                             out; or "" */
    double progress;      /* 0..1 while it is being made, else -1 */
} vx_playback_view;

/* A video as GET /v1/videos/{id} shows it: its record, its segments, how it plays. */
typedef struct vx_video_view {
    vx_video video;
    vx_segment *segments; /* [n_segments], embeddings not kept */
    uint32_t n_segments;
    vx_playback_view playback;
    vx_video_text text[2];  /* from its files and from the API (VX_TEXT_*; zeroed when none) */
    vx_video_frames frames; /* its frames' hashes and key frames (the original's for a copy; id 0: none) */
    struct vx_label_view *labels; /* [n_labels] its zero-shot labels ("tags" in JSON), best first */
    int n_labels;
} vx_video_view;
int vx_engine_video(vx_engine *e, uint64_t id, vx_video_view *out, vx_error *err);
void vx_video_view_free(vx_video_view *v);

/* The file a browser gets for a video (GET /v1/videos/{id}/media): its rendition when
 * one is ready, else the original; with `original` set, always the original. */
typedef struct vx_media_file {
    vx_path path;
    const char *content_type; /* for a rendition "video/mp4"; NULL: from the original's name */
    int rendition;            /* path is the rendition */
    /* What the file must still be (the record's): a file that is no longer it (replaced,
     * rewritten, swapped for a link) is not served. 0: not known. */
    uint64_t size;
    int64_t mtime_ns;
    uint64_t inode;           /* 0 in a cluster too: another node's copy of the file has its own */
} vx_media_file;
int vx_engine_media_file(vx_engine *e, uint64_t id, int original, vx_media_file *out, vx_error *err);

/* A browser could not play video id from its original (the web page says so, with the
 * browser's words in why): when its format is one browsers play (so it has no rendition),
 * this node makes one, first in the queue. A request is kept (rendition record
 * "requested") and made once; VX_OK too when one exists or is on its way. Derived, like
 * every rendition: each serving node keeps its own, nothing goes through a cluster's log.
 * VX_E_BUSY when VX_RENDITION_REQUESTS_MAX renditions already wait; VX_E_DISABLED when the
 * service makes none. */
#define VX_RENDITION_WHY_MAX 200
#define VX_RENDITION_REQUESTS_MAX 16
int vx_engine_request_rendition(vx_engine *e, uint64_t id, const char *why, vx_error *err);

/* The id of a video argument: 16 hex digits, or the path of a file (indexed or not:
 * ids are derived from canonical paths). VX_E_BAD_INPUT when neither. */
int vx_video_arg_id(const char *arg, uint64_t *id, vx_error *err);

/* ---- indexing ----------------------------------------------------------------------------- */

/* Indexes paths now, on the calling thread, with progress as the options say; each
 * committed video is searchable at once. The summary lists every file's outcome. */
int vx_engine_index(vx_engine *e, const char *const *paths, int n, vx_index_summary *summary, vx_error *err);

/* Background jobs (options.jobs): queued and run in order by one thread. settings: how
 * this job samples and cuts (NULL or 0 fields: the engine's options.index). */
int vx_engine_job_submit(vx_engine *e, const char *const *paths, int n, const vx_job_settings *settings,
                         uint64_t *job_id, vx_error *err);
/* A job's record; while it runs, `live` holds the outcomes so far (vx_index_summary_clear). */
typedef struct vx_job_status {
    vx_job job;
    int running;              /* the runner is on it now: `live` is current */
    vx_index_summary live;
    /* How each listed item's video plays (the live items while running, else the job's):
     * state NULL for items without an indexed video. */
    vx_playback_view *playback;
    int n_playback;
} vx_job_status;
int vx_engine_job(vx_engine *e, uint64_t id, vx_job_status *out, vx_error *err);
void vx_job_status_free(vx_job_status *s);

/* ---- a cluster's node -------------------------------------------------------------------- */

/* Applies one op the cluster's log delivered, at log position pos: the op's changes and
 * the position go in one write, so a restart resumes after the last op applied and
 * applying an op twice is harmless. Returns 0; VX_E_INTERNAL with err when the op could
 * not apply (it is skipped: the position still moves); VX_E_STORAGE when the disk took
 * nothing (full, failing: the position stays, for the op to be applied again later). For
 * events, stored says what was stored. */
/* How long to wait before trying again a write the disk refused (VX_E_STORAGE), after
 * waiting waited_s the last time (0 the first time): doubling, at most 30 s (disk.c). */
double vx_engine_disk_backoff(double waited_s);
int vx_engine_apply_logged(vx_engine *e, const vx_op *op, const vx_log_position *pos, vx_event_stored *stored,
                           vx_error *err);
/* Saves the vector indexes, rebuilding an exact index that outgrew its limit as an
 * inverted file (what a job does when it ends); a cluster node does it when its log
 * goes quiet, so a restart loads them instead of rebuilding. */
void vx_engine_settle(vx_engine *e);
/* The last log position applied (zero before the first). */
int vx_engine_log_position(vx_engine *e, vx_log_position *out, vx_error *err);
/* NULL when this node may serve the database's vectors, else why not: the model loaded
 * here is not the one the log's videos were indexed with. */
const char *vx_engine_model_conflict(vx_engine *e, char *buf, size_t size);

/* A worker's part of jobs: indexes the items' paths in one run like vx_engine_index
 * (decoding the next file while encoding this one; every change committed through the
 * cluster's log) and commits each item's outcome. The items must share their settings,
 * and a folder comes alone. status[i] and errs[i] per item: 0, VX_E_LOG_UNAVAILABLE
 * when the log refused (nothing recorded for it), VX_E_BUSY when cancel was set before
 * the item was done; returns the first non-zero status. */
int vx_engine_index_items(vx_engine *e, const vx_work_item *items, int n, const atomic_int *cancel, int *status,
                          vx_error *errs);
/* Records a work item that could not be finished as failed, with the reason. */
int vx_engine_fail_item(vx_engine *e, const vx_work_item *w, const char *reason, vx_error *err);

/* ---- the whole ---------------------------------------------------------------------------- */

typedef struct vx_engine_stats {
    vx_meta meta;                 /* vx_meta_clear */
    uint64_t indexed, failed, removed, duplicates;
    uint64_t segments, users, events, jobs, corrupt;
    uint64_t by_precision[4];     /* indexed videos whose embeddings were made at VX_EMBEDDED_* */
    uint64_t visual_pending;      /* indexed without the model: frames waiting for it */
    const char *precision;        /* the encoder's precision in this process ("" without a model) */
    int64_t index_videos, index_segments; /* vectors in the indexes */
    const char *index_kind;       /* "Flat", "IVF" or "IVF-PQ" (static) */
    double index_list_imbalance;  /* of the segment index's inverted lists (vx_ann_list_imbalance) */
    int text_search;              /* the model is loaded */
    int lexical_search;           /* the lexical index is open */
    uint64_t text_documents;      /* in the lexical index (0 when this engine keeps none) */
    uint64_t text_records;        /* vx_engine_info: text records (from files, from the API) */
    int64_t jobs_queued, jobs_running, jobs_done, jobs_failed;
    uint64_t rec_users, rec_engagements;
    vx_rec_model_info feed_model;  /* the feeds' item model: built or not, its figures */
    int64_t query_cache_entries;
    int64_t answer_cache_entries, answer_cache_bytes; /* cached answers (search, similar) */
    uint64_t query_cache_hits, query_cache_misses; /* text queries answered from the cache or not */
    uint64_t encoder_runs, encoder_queries;        /* text tower runs and the queries they encoded */
    int64_t renditions_pending;                    /* queued or being made (this run) */
    uint64_t renditions_made, renditions_failed;   /* since the engine opened */
    const char *disk;             /* the data folder's disk (engine/disk.c): "ok", "full" (below the
                                   * reserve) or "failing" (the catalog's last write failed) */
    uint64_t disk_free, disk_reserve;              /* bytes */
} vx_engine_stats;
int vx_engine_info(vx_engine *e, vx_engine_stats *out, vx_error *err);
/* Cheap counts for /healthz and /metrics (no database scan): the index sizes, jobs,
 * recommender and cache figures of vx_engine_info; meta and record counts stay zero. */
void vx_engine_gauges(vx_engine *e, vx_engine_stats *out);
void vx_engine_stats_free(vx_engine_stats *i);

/* The catalog's invariants, and each derived index (vectors, words) against the catalog
 * when the engine has it open (vidx info --check): each problem to report(ctx, text). */
int vx_engine_check(vx_engine *e, void (*report)(void *ctx, const char *problem), void *ctx, uint64_t *problems,
                    vx_error *err);
int vx_engine_check_derived(vx_engine *e, void (*report)(void *ctx, const char *problem), void *ctx,
                            uint64_t *problems, vx_error *err);
/* Rebuilds the vector index and rewrites every video's words that differ from the catalog
 * (vidx info --check --repair); each thing done to report(ctx, text). A vx_status. */
int vx_engine_repair(vx_engine *e, void (*report)(void *ctx, const char *what), void *ctx, vx_error *err);

#endif
