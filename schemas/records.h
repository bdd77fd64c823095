/* vidx schemas: the record layout of every LevelDB key family.
 *
 * The byte-level description of each key and value is in schemas/catalog.md; this
 * header is its C form. Conventions:
 *   - Every value starts with a record version byte (VX_RECORD_V1). Integers in values
 *     are little-endian fixed width, counts and string lengths are varints.
 *   - Keys start with one family byte; integers in keys are big-endian so LevelDB's
 *     bytewise order is numeric order.
 *   - vx_*_encode appends to a vx_buf (check buf->oom once).
 *   - vx_*_decode validates everything (version, lengths, bounds, finite floats, no
 *     trailing bytes) and fills a struct whose strings and arrays are fresh heap memory,
 *     released with the matching vx_*_clear (safe on a zeroed or half-decoded struct).
 *     They return 0, or -1 with err saying what is wrong; they never read out of bounds.
 */
#ifndef VX_RECORDS_H
#define VX_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "../common/coding.h"
#include "../common/error.h"

#define VX_SCHEMA_VERSION 1 /* layout of the whole database, kept in the meta record */
#define VX_RECORD_V1 1      /* version byte of every value */
#define VX_RECORD_V2 2      /* job records that carry their settings; videos that say how they play; log positions that say which op */
#define VX_RECORD_V3 3      /* videos that say at which precision their embeddings were made */
#define VX_RECORD_V4 4      /* videos linked to the original they re-upload (near_duplicate_of) */
#define VX_RECORD_V5 5      /* videos that say which file (inode) they were indexed from */

/* Bounds on untrusted sizes. */
#define VX_MAX_DIM 4096       /* embedding dimensions */
#define VX_MAX_PATH 4096      /* bytes in a path */
#define VX_MAX_TEXT 4096      /* bytes in a title, model name or failure reason */
#define VX_MAX_USER 64        /* bytes in a user name */
#define VX_MAX_JOB_ITEMS 100000

/* Key family bytes. */
enum {
    VX_KEY_META = 'm',      /* "m"                               -> vx_meta            */
    VX_KEY_VIDEO = 'v',     /* "v" id:u64be                      -> vx_video           */
    VX_KEY_PATH = 'p',      /* "p" path bytes                    -> id:u64le           */
    VX_KEY_CONTENT = 'c',   /* "c" hash:u64be id:u64be           -> (empty)            */
    VX_KEY_SEGMENT = 's',   /* "s" id:u64be index:u32be          -> vx_segment         */
    VX_KEY_EMBEDDING = 'e', /* "e" id:u64be                      -> vx_embedding       */
    VX_KEY_USER = 'u',      /* "u" name bytes                    -> vx_user            */
    VX_KEY_EVENT = 'i',     /* "i" len:u8 name ts_ms:u64be seq:u32be -> vx_event      */
    VX_KEY_JOB = 'j',       /* "j" id:u64be                      -> vx_job             */
    VX_KEY_LOG = 'l',       /* "l"                               -> vx_log_position    */
    VX_KEY_RENDITION = 'r', /* "r" hash:u64be                    -> vx_rendition       */
    VX_KEY_TEXT = 't',      /* "t" id:u64be slot:u8              -> vx_video_text      */
    VX_KEY_FRAMES = 'f',    /* "f" id:u64be                      -> vx_video_frames    */
    VX_KEY_PHASH = 'h',     /* "h" band:u8 bits:u16be id:u64be   -> (empty): the video has a
                               frame whose perceptual hash has these 16 bits in that band */
};

/* ---- cluster log position ------------------------------------------------------------ */
/* Where a cluster node stands in the cluster's log (cluster/): the last op applied, in
 * the same write batch as the op's changes, and which log that was (the stream's
 * creation time), so a data folder never follows a log that was replaced. */
typedef struct vx_log_position {
    uint64_t seq;            /* last applied stream sequence; 0 = none yet */
    int64_t stream_created;  /* the stream's creation time, ns since the epoch */
    uint64_t op_hash;        /* (version 2) which op that was: a hash of its subject and bytes as the
                              * log holds them (cluster/cluster.c); 0 = not recorded */
} vx_log_position;
void vx_log_position_encode(vx_buf *b, const vx_log_position *p);
int vx_log_position_decode(const void *data, size_t len, vx_log_position *p, vx_error *err);

/* ---- meta ---------------------------------------------------------------------------- */
typedef struct vx_meta {
    uint32_t schema_version;    /* VX_SCHEMA_VERSION when written */
    uint64_t model_fingerprint; /* hash of the model's config and weights; 0 = no model yet */
    uint32_t embed_dim;         /* joint embedding size of that model; 0 = none yet */
    uint64_t index_generation;  /* bumped by every write that changes stored vectors */
    int64_t created_at;         /* unix seconds */
    char *model;                /* model folder the database was indexed with (may be "") */
    uint64_t text_generation;   /* (version 2) bumped by every write that changes what the lexical
                                   index holds: a video's text, or whether it is searchable */
} vx_meta;

/* ---- videos -------------------------------------------------------------------------- */
typedef enum {
    VX_VIDEO_INDEXED = 1, /* segments and embedding stored, searchable */
    VX_VIDEO_FAILED = 2,  /* could not be indexed; `failure` says why */
    VX_VIDEO_REMOVED = 3, /* file gone; kept so events stay meaningful, never returned */
} vx_video_status;

typedef struct vx_video {
    uint64_t id;           /* vx_video_id_for_path(path) */
    uint64_t content_hash; /* XXH3-64 of the file bytes */
    uint64_t size;         /* bytes */
    int64_t mtime_ns;      /* modification time, nanoseconds since the epoch */
    double duration;       /* seconds; 0 when unknown */
    double fps;            /* average frame rate; 0 when unknown */
    uint32_t width, height;/* pixels, after rotation */
    uint8_t status;        /* vx_video_status */
    uint32_t n_segments;   /* segment records "s" id 0..n_segments-1 */
    uint64_t duplicate_of; /* id of the video with identical content whose vectors this one
                              shares; 0 if none */
    int64_t created_at;    /* unix seconds, first indexed */
    int64_t updated_at;    /* unix seconds, last change of this record */
    char *path;            /* canonical absolute path */
    char *title;           /* from container metadata, else the file name */
    char *failure;         /* reason when status == VX_VIDEO_FAILED, else "" */
    uint8_t playback;      /* VX_PLAYBACK_*: how it plays in browsers */
    char *playback_note;   /* why it needs a rendition, or "" */
    uint8_t precision;     /* VX_EMBEDDED_*: the encoder's precision that made its embeddings */
    uint64_t near_duplicate_of; /* (version 4) the indexed original this video re-uploads (re-encoded,
                                   scaled, trimmed, cropped or marked: indexer/neardup.h); 0 if none */
    uint64_t inode;        /* (version 5) the file's inode when indexed (with size and mtime, what a
                              file must still be to be served); 0 when not recorded */
} vx_video;

/* The precision of the encoder that made a video's embeddings (with the database's model,
 * meta.model_fingerprint): vx_precision + 1, 0 when not recorded (records of an older
 * vidx, failed videos, duplicates that share another video's vectors).
 * VX_EMBEDDED_PENDING: indexed without the model (its text, frame hashes, thumbnail and
 * rendition are stored; no segments and no embedding yet): the first indexing run with
 * the model encodes its frames (vx_video_pending). */
enum { VX_EMBEDDED_UNKNOWN = 0, VX_EMBEDDED_F32 = 1, VX_EMBEDDED_BF16 = 2, VX_EMBEDDED_INT8 = 3, VX_EMBEDDED_PENDING = 4 };

/* An indexed original whose frames wait for the model (VX_EMBEDDED_PENDING). */
int vx_video_pending(const vx_video *v);

/* Whether browsers play a video's file as it is, decided when it is indexed
 * (indexer/probe.h says how). */
typedef enum vx_playback {
    VX_PLAYBACK_UNDECIDED = 0, /* failed videos, and records of an older vidx (version 1) */
    VX_PLAYBACK_DIRECT = 1,    /* browsers play the file as it is */
    VX_PLAYBACK_CONVERT = 2,   /* browsers need a rendition */
} vx_playback;

/* ---- renditions ---------------------------------------------------------------------- */
/* The web-playable rendition of some content (engine/media.c), shared by every video
 * with that content hash, in DATA/media/HASH.mp4. Derived, like the vector indexes:
 * made by each serving node from the original file. */
typedef enum {
    VX_RENDITION_READY = 1,      /* the file is in place */
    VX_RENDITION_FAILED = 2,     /* could not be made; `failure` says why */
    VX_RENDITION_NOT_NEEDED = 3, /* probed later (a version 1 video record): browsers play the original */
    VX_RENDITION_REQUESTED = 4,  /* browsers play its format, but a browser refused this file (the web page
                                    said so; `failure` holds its words): one is made all the same */
} vx_rendition_state;

typedef struct vx_rendition {
    uint64_t content_hash;
    uint8_t state;              /* vx_rendition_state */
    uint64_t bytes;             /* of the file */
    uint32_t width, height;
    double duration;            /* seconds */
    double work_seconds;        /* wall-clock time it took to make */
    int64_t made_at;            /* unix seconds */
    char *failure;              /* why it failed, or a note on what was left out, or "" */
} vx_rendition;

/* ---- text ---------------------------------------------------------------------------- */
/* What is said and written in a video (indexer/subtitles.h, indexer/textmeta.h), with
 * where each piece came from. Two records per video: the text read from its files
 * (container tags, subtitle streams, sidecars), replaced whenever they are read again,
 * and the text set through the API, which indexing never touches. */
typedef enum { VX_TEXT_FILES = 0, VX_TEXT_API = 1 } vx_text_slot;
typedef enum {
    VX_FIELD_TITLE = 1,
    VX_FIELD_DESCRIPTION = 2,
    VX_FIELD_TAG = 3,
    VX_FIELD_SUBTITLE = 4, /* a cue: start and end are its time range */
} vx_text_field;

#define VX_TEXT_MAX_ENTRIES 21000   /* cues, tags and fields per record */
#define VX_TEXT_MAX_ENTRY 16384     /* bytes of one entry's text */
#define VX_TEXT_MAX_ORIGIN 512      /* bytes of an origin ("container", "clip.en.srt") */
#define VX_TEXT_MAX_SIDECARS 16

typedef struct vx_text_entry {
    uint8_t field;       /* vx_text_field */
    double start, end;   /* seconds, for subtitles (0 otherwise) */
    char *origin;        /* where it came from: "container", "subtitle stream", a sidecar's name, "api" */
    char *text;          /* UTF-8, not empty */
} vx_text_entry;

/* A sidecar file as it was when read: a change re-reads the text (not the frames). */
typedef struct vx_sidecar_stamp {
    char *name;          /* base name, beside the video */
    uint64_t size;
    int64_t mtime_ns;
} vx_sidecar_stamp;

typedef struct vx_video_text {
    uint64_t id;         /* the video's */
    uint8_t slot;        /* vx_text_slot, as in the key */
    int64_t updated_at;  /* unix seconds */
    uint32_t n_sidecars;
    vx_sidecar_stamp *sidecars;
    char *notes;         /* sources skipped and why (bitmap subtitles, a file that is not UTF-8) or "" */
    uint32_t n_entries;
    vx_text_entry *entries;
} vx_video_text;

const char *vx_text_field_name(uint8_t field); /* "title", "description", "tags", "subtitle" */

/* ---- frames -------------------------------------------------------------------------- */
/* What indexing saw of a video's sampled frames, whatever the model: each frame's time
 * and perceptual hash (indexer/phash.h), and the key frames that summarise the video
 * (indexer/keyframes.h; their pictures are DATA/thumbs/ID-kN.jpg). Near-duplicate
 * videos and pictures sent as queries are matched against the hashes, found through the
 * "h" keys of the non-flat frames. */
#define VX_FRAMES_MAX 100000  /* frames per video (VX_JOB_MAX_FRAMES_MAX) */
#define VX_KEYFRAMES_MAX 16

typedef struct vx_frame_print {
    float t;           /* seconds from the start; not decreasing along the video */
    uint8_t flat;      /* nearly uniform (black, a fade): no usable hash (phash 0) */
    uint64_t phash;
} vx_frame_print;

typedef struct vx_video_frames {
    uint64_t id;
    uint32_t n;
    vx_frame_print *frames;   /* [n] */
    uint32_t n_keyframes;
    uint32_t *keyframes;      /* [n_keyframes] frame numbers, increasing */
} vx_video_frames;

/* ---- segments and embeddings --------------------------------------------------------- */
typedef struct vx_segment {
    double start, end;   /* seconds, start < end or both 0 for a still */
    uint32_t n_frames;   /* frames pooled into the embedding */
    uint32_t dim;        /* embedding length */
    float *embedding;    /* [dim], L2-normalised */
} vx_segment;

typedef struct vx_embedding {
    uint32_t dim;
    float *v; /* [dim], L2-normalised */
} vx_embedding;

/* ---- users and events ---------------------------------------------------------------- */
typedef struct vx_user {
    char *name;           /* 1..VX_MAX_USER bytes of [A-Za-z0-9_.@-] */
    int64_t created_at;   /* unix seconds */
    uint64_t n_events;
    int64_t last_event_ms;/* unix milliseconds of the newest event, 0 if none */
    uint32_t dim;         /* profile vector length, 0 until the first event */
    float *profile;       /* [dim] content profile, not normalised */
} vx_user;

typedef enum {
    VX_EVENT_VIEW = 1,
    VX_EVENT_COMPLETE = 2,
    VX_EVENT_LIKE = 3,
    VX_EVENT_DISLIKE = 4,
    VX_EVENT_SKIP = 5,
} vx_event_type;

typedef struct vx_event {
    uint64_t video_id;
    uint8_t type;     /* vx_event_type */
    float seconds;    /* watched, >= 0 */
    int64_t ts_ms;    /* unix milliseconds (also in the key) */
} vx_event;

/* ---- jobs ---------------------------------------------------------------------------- */
typedef enum { VX_JOB_QUEUED = 1, VX_JOB_RUNNING = 2, VX_JOB_DONE = 3, VX_JOB_FAILED = 4 } vx_job_state;
typedef enum {
    VX_ITEM_PENDING = 0,
    VX_ITEM_INDEXED = 1,
    VX_ITEM_UNCHANGED = 2,
    VX_ITEM_DUPLICATE = 3,
    VX_ITEM_FAILED = 4,
    VX_ITEM_REMOVED = 5,
    VX_ITEM_SKIPPED = 6, /* not a video (audio only): nothing stored, the message says why */
} vx_item_outcome;

typedef struct vx_job_item {
    char *path;
    uint8_t outcome;  /* vx_item_outcome */
    char *message;    /* failure reason or "" */
} vx_job_item;

/* How a job samples and cuts its videos, as asked for when it was submitted. 0 in a
 * field: the setting of the engine that runs it. */
typedef struct vx_job_settings {
    double rate;             /* frames sampled per second of video */
    uint32_t max_frames;     /* frames per video at most */
    double timeout_s;        /* wall-clock bound for one file */
    double segment_seconds;  /* length of the segment windows */
} vx_job_settings;

#define VX_JOB_RATE_MIN 0.01
#define VX_JOB_RATE_MAX 60.0
#define VX_JOB_MAX_FRAMES_MAX 100000
#define VX_JOB_TIMEOUT_MAX 86400.0
#define VX_JOB_SEGMENT_MIN 0.5
#define VX_JOB_SEGMENT_MAX 3600.0

/* NULL when every field is 0 or within its range, else a sentence naming the field
 * (static text). Checked by the decoder, the engine and the command line alike. */
const char *vx_job_settings_problem(const vx_job_settings *s);

typedef struct vx_job {
    uint64_t id;
    uint8_t state;    /* vx_job_state */
    int64_t created_at, started_at, finished_at; /* unix seconds, 0 = not yet */
    vx_job_settings settings;
    uint32_t n_items;
    vx_job_item *items; /* [n_items] */
} vx_job;

/* ---- codecs -------------------------------------------------------------------------- */
void vx_meta_encode(vx_buf *b, const vx_meta *m);
int vx_meta_decode(const void *data, size_t len, vx_meta *m, vx_error *err);
void vx_meta_clear(vx_meta *m);

void vx_video_encode(vx_buf *b, const vx_video *v);
int vx_video_decode(const void *data, size_t len, vx_video *v, vx_error *err);
void vx_video_clear(vx_video *v);

void vx_segment_encode(vx_buf *b, const vx_segment *s);
int vx_segment_decode(const void *data, size_t len, vx_segment *s, vx_error *err);
void vx_segment_clear(vx_segment *s);

void vx_embedding_encode(vx_buf *b, const vx_embedding *e);
int vx_embedding_decode(const void *data, size_t len, vx_embedding *e, vx_error *err);
void vx_embedding_clear(vx_embedding *e);

void vx_user_encode(vx_buf *b, const vx_user *u);
int vx_user_decode(const void *data, size_t len, vx_user *u, vx_error *err);
void vx_user_clear(vx_user *u);

void vx_event_encode(vx_buf *b, const vx_event *e);
int vx_event_decode(const void *data, size_t len, vx_event *e, vx_error *err);

void vx_rendition_encode(vx_buf *b, const vx_rendition *r);
int vx_rendition_decode(const void *data, size_t len, vx_rendition *r, vx_error *err);
void vx_rendition_clear(vx_rendition *r);
const char *vx_rendition_state_name(uint8_t state);

void vx_video_text_encode(vx_buf *b, const vx_video_text *t);
int vx_video_text_decode(const void *data, size_t len, vx_video_text *t, vx_error *err);
void vx_video_text_clear(vx_video_text *t);

void vx_video_frames_encode(vx_buf *b, const vx_video_frames *f);
int vx_video_frames_decode(const void *data, size_t len, vx_video_frames *f, vx_error *err);
void vx_video_frames_clear(vx_video_frames *f);

void vx_job_encode(vx_buf *b, const vx_job *j);
int vx_job_decode(const void *data, size_t len, vx_job *j, vx_error *err);
void vx_job_clear(vx_job *j);

/* ---- keys ---------------------------------------------------------------------------- */
#define VX_KEY_ID_LEN 9       /* family + u64be */
#define VX_KEY_SEGMENT_LEN 13 /* family + u64be + u32be */
#define VX_KEY_CONTENT_LEN 17 /* family + u64be + u64be */
#define VX_KEY_TEXT_LEN 10    /* family + u64be + slot */
#define VX_KEY_PHASH_LEN 12   /* family + band + u16be + u64be */
#define VX_KEY_EVENT_MAX (2 + VX_MAX_USER + 12)

void vx_key_id(uint8_t out[VX_KEY_ID_LEN], uint8_t family, uint64_t id);
void vx_key_segment(uint8_t out[VX_KEY_SEGMENT_LEN], uint64_t video_id, uint32_t index);
void vx_key_content(uint8_t out[VX_KEY_CONTENT_LEN], uint64_t hash, uint64_t video_id);
void vx_key_text(uint8_t out[VX_KEY_TEXT_LEN], uint64_t video_id, uint8_t slot);
/* The band's 16 bits (band 0..3: bits 16*band and up) of a perceptual hash. */
void vx_key_phash(uint8_t out[VX_KEY_PHASH_LEN], int band, uint64_t phash, uint64_t video_id);
/* Family byte + the string's bytes. */
void vx_key_string(vx_buf *b, uint8_t family, const char *s);
/* Event key; with ts_ms and seq both 0 and prefix_only set, the prefix of a user's events. */
size_t vx_key_event(uint8_t out[VX_KEY_EVENT_MAX], const char *user, int64_t ts_ms, uint32_t seq,
                    int prefix_only);

/* A human-readable description of any key ("video 9f2c04a1b3d4e5f6", "segment
 * 9f2c04a1b3d4e5f6/3", "user alice", ...) for error messages. */
void vx_key_describe(const void *key, size_t len, char *out, size_t out_size);

/* Validates a user name: 1..VX_MAX_USER bytes of [A-Za-z0-9_.@-]. VX_USER_NAME_RULE says
 * so in error messages. */
#define VX_USER_NAME_RULE "1 to 64 letters, digits, '_', '.', '@' or '-'"
int vx_user_name_valid(const char *name);

const char *vx_video_status_name(uint8_t status);
const char *vx_event_type_name(uint8_t type);
int vx_event_type_parse(const char *name, uint8_t *type_out);
const char *vx_job_state_name(uint8_t state);
const char *vx_item_outcome_name(uint8_t outcome);

#endif
