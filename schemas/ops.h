/* vidx schemas: every change of state as one explicit operation value.
 *
 * Whatever changes a data folder (a video indexed, changed, failed, copied, touched or
 * removed; the database's model set; a user event; a job's progress) is first made
 * into a vx_op, then applied by one function, vx_engine_apply (engine/apply.c), to the
 * catalog, the thumbnails, the vector indexes and the recommender. On one machine the
 * engine applies ops as they are made; a cluster makes them durable in its log first
 * and every node applies the log in order (DESIGN.md, "Data flow"). Applying reads the
 * node's current records (a video's previous segments, a user's profile), so the same
 * ops in the same order give every node the same state.
 *
 * Encoding, version VX_OP_V1 (all integers little-endian, lengths varints):
 *   u8 version, u8 kind, then by kind
 *     MODEL           string model, u64 fingerprint, u32 embed_dim
 *     MODEL_CHANGE    the same as MODEL
 *     VIDEO           blob video record (schemas/records.h), varint n_thumbs,
 *                     n_thumbs x (i32 segment (-1 = the video's, -2-i = key frame i), blob jpeg),
 *                     and for an indexed original: blob embedding, then
 *                     video.n_segments x blob segment, then (absent from ops of an
 *                     older vidx) u8 1, blob frames record
 *     VIDEO_REMOVED   blob video record (status removed)
 *     VIDEO_TOUCHED   blob video record (new mtime, same content)
 *     EVENT           string user, blob event record
 *     JOB             blob job record
 *     JOB_ITEM        u64 job id, u32 item index, u8 outcome, string path, string message,
 *                     i64 at (unix seconds)
 *     USER_DELETED    string user
 *     TEXT            blob text record (records.h: a video's text from its files, or set
 *                     through the API; an API record without entries removes that text)
 * Decoding validates everything (counts against VX_OP_MAX_*, every record with its own
 * decoder, no trailing bytes) and never reads out of bounds.
 *
 * Memory: an op filled by vx_op_decode owns everything it points to (vx_op_clear); an
 * op a producer builds may point at its own memory for the duration of one apply.
 */
#ifndef VX_OPS_H
#define VX_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "../common/coding.h"
#include "../common/error.h"
#include "names.h"
#include "records.h"

#define VX_OP_V1 1
#define VX_OP_MAX_SEGMENTS 4095    /* segments per video (the vector index's label space) */
#define VX_OP_MAX_THUMBS (VX_OP_MAX_SEGMENTS + 1)
#define VX_OP_MAX_JPEG (8u << 20)  /* bytes per thumbnail */

typedef enum vx_op_kind {
    VX_OP_MODEL = 1,         /* the database's model (first indexing) */
    VX_OP_VIDEO = 2,         /* a video indexed, changed, failed or linked as a copy: replaces what it had */
    VX_OP_VIDEO_REMOVED = 3, /* its file is gone: record kept as removed, segments and vectors dropped */
    VX_OP_VIDEO_TOUCHED = 4, /* same content, new modification time: the record only */
    VX_OP_EVENT = 5,         /* a validated user event, about an indexed original */
    VX_OP_JOB = 6,           /* an indexing job's record: queued, running, its outcomes */
    VX_OP_JOB_ITEM = 7,      /* one file's outcome in a job (a cluster's workers report them one by one) */
    VX_OP_USER_DELETED = 8,  /* a user's events and profile erased */
    VX_OP_TEXT = 9,          /* a video's text (from its files, or set through the API) replaced */
    VX_OP_MODEL_CHANGE = 10, /* another model replaces the database's: every indexed original's
                              * vectors go and its frames wait for the new model (VX_EMBEDDED_PENDING);
                              * text, frame hashes, thumbnails and renditions stay */
} vx_op_kind;


typedef struct vx_op_thumb {
    int32_t segment;   /* -1: the video's thumbnail; VX_THUMB_KEYFRAME(i): key frame i's */
    uint32_t len;
    uint8_t *jpeg;     /* [len] */
} vx_op_thumb;

typedef struct vx_op {
    uint8_t kind;            /* vx_op_kind */
    /* MODEL */
    char *model;             /* model folder recorded for the database */
    uint64_t model_fingerprint;
    uint32_t embed_dim;
    /* VIDEO, VIDEO_REMOVED, VIDEO_TOUCHED */
    vx_video video;          /* the record as it is to be */
    vx_op_thumb *thumbs;     /* VIDEO: [n_thumbs] */
    uint32_t n_thumbs;
    vx_embedding embedding;  /* VIDEO, indexed original: the whole-video embedding */
    vx_segment *segments;    /* VIDEO, indexed original: [video.n_segments] */
    vx_video_frames frames;  /* VIDEO, indexed original: its frames' hashes and key frames (id 0: none) */
    /* EVENT */
    char *user;
    vx_event event;
    /* JOB */
    vx_job job;
    /* JOB_ITEM: item (path, outcome, message) is item number item_index of job job_id */
    uint64_t job_id;
    uint32_t item_index;
    vx_job_item item;
    int64_t at;              /* unix seconds */
    /* USER_DELETED: user */
    /* TEXT */
    vx_video_text text;
    /* Not encoded: a key a cluster's log keeps one op per (its duplicate window), so a
     * client's retry is recorded once. NULL = none. */
    const char *dedup_key;
} vx_op;

/* 1 when the op carries vectors (an indexed video that is not a copy, with its frames
 * encoded: not VX_EMBEDDED_PENDING). */
int vx_op_has_vectors(const vx_op *op);
/* 1 when the op may carry the video's frame hashes (an indexed video that is not a copy,
 * encoded or waiting for the model). */
int vx_op_has_frames(const vx_op *op);
const char *vx_op_kind_name(uint8_t kind);

void vx_op_encode(vx_buf *b, const vx_op *op);
int vx_op_decode(const void *data, size_t len, vx_op *op, vx_error *err);
/* Releases a decoded op (safe on a zeroed or half-decoded one). */
void vx_op_clear(vx_op *op);

/* ---- work items ----------------------------------------------------------------------------
 * A cluster's unit of indexing work (cluster/: the work queue): one path of a job, taken
 * by any worker. Encoding, version VX_OP_V1: u8 version, u64 job id, u32 index, string
 * path, f64 rate, u32 max_frames, f64 timeout, f64 segment (the job's settings, 0 = the
 * worker's own). Decoding validates like vx_op_decode. */
typedef struct vx_work_item {
    uint64_t job_id;
    uint32_t index;          /* the item's place in the job's list */
    char *path;
    vx_job_settings settings;
} vx_work_item;

void vx_work_item_encode(vx_buf *b, const vx_work_item *w);
int vx_work_item_decode(const void *data, size_t len, vx_work_item *w, vx_error *err);
void vx_work_item_clear(vx_work_item *w);

/* ---- shard searches -------------------------------------------------------------------------
 * Sharded search (cluster/README.md): the node that takes a query asks one replica of
 * each other shard for its nearest segments and merges the answers with its own.
 * Query, version VX_OP_V1: u8 version, u32 shard, u32 shards, u32 pool (hits wanted),
 * u32 dim, dim x f32 (the query vector; finite). Answer: u8 version, u32 shard, u32
 * shards, u64 segments the shard holds, u32 n (<= VX_SHARD_MAX_POOL), n x (u64 video id,
 * u32 segment, f32 score), best first (scores finite, not increasing). Decoding
 * validates all of it: the bytes come from the network. */
#define VX_SHARD_MAX 64             /* shards of a cluster at most */
#define VX_SHARD_MAX_POOL (1 << 20) /* hits asked of a shard at most */
#define VX_SHARD_MAX_DIM 4096

typedef struct vx_shard_query {
    uint32_t shard, shards; /* the shard asked, of how many */
    uint32_t pool;          /* nearest segments wanted */
    uint32_t dim;
    float *v;
} vx_shard_query;

typedef struct vx_shard_hit {
    uint64_t video_id;
    uint32_t segment;
    float score;
} vx_shard_hit;

typedef struct vx_shard_answer {
    uint32_t shard, shards;
    uint64_t segments;      /* segments the shard holds (for the merged count) */
    uint32_t n;
    vx_shard_hit *hits;     /* best first */
} vx_shard_answer;

void vx_shard_query_encode(vx_buf *b, const vx_shard_query *q);
int vx_shard_query_decode(const void *data, size_t len, vx_shard_query *q, vx_error *err);
void vx_shard_query_clear(vx_shard_query *q);
void vx_shard_answer_encode(vx_buf *b, const vx_shard_answer *a);
int vx_shard_answer_decode(const void *data, size_t len, vx_shard_answer *a, vx_error *err);
void vx_shard_answer_clear(vx_shard_answer *a);

#endif
