/* vidx schemas: the catalog, a LevelDB database holding every record of records.h.
 *
 * The catalog is the source of truth: metadata, embeddings, users, events and jobs. The
 * FAISS index files are derived from it and can always be rebuilt.
 *
 * Conventions:
 *   - vx_catalog_open returns NULL and fills err on failure; vx_catalog_close accepts NULL.
 *   - One process at a time may open a data folder: the open holds an exclusive lock on
 *     DATA/LOCK (with the holder's pid in it) and a second opener gets an error naming
 *     that pid.
 *   - Getters return 0 when found, 1 when absent, -1 on error (err filled). A record that
 *     does not decode is an error that names its key; it never aborts the process.
 *   - Writes that belong together go in one vx_batch, applied atomically and synced.
 *   - Scans visit records in key order and skip corrupt ones, counting them in
 *     vx_scan_stats and logging each with its key; a callback returning non-zero stops
 *     the scan early (the scan then returns 0).
 *   - Strings passed in are copied; structs filled by getters are released with the
 *     records.h clear functions.
 */
#ifndef VX_CATALOG_H
#define VX_CATALOG_H

#include <stdint.h>

#include "../common/error.h"
#include "records.h"

typedef struct vx_catalog vx_catalog;
typedef struct vx_batch vx_batch;

typedef struct vx_scan_stats {
    uint64_t ok;      /* records decoded and passed to the callback */
    uint64_t corrupt; /* records skipped because they did not decode */
} vx_scan_stats;

/* LevelDB's block cache, MiB, by default. */
#define VX_CATALOG_CACHE_MB 64

/* Opens DATA_DIR/catalog. With create set, makes DATA_DIR and an empty database (with
 * a meta record) when missing; otherwise a missing database is an error. cache_mb is
 * LevelDB's block cache (0: VX_CATALOG_CACHE_MB). */
vx_catalog *vx_catalog_open_cached(const char *data_dir, int create, int cache_mb, vx_error *err);
vx_catalog *vx_catalog_open(const char *data_dir, int create, vx_error *err);
void vx_catalog_close(vx_catalog *cat);

/* ---- reads --------------------------------------------------------------------------- */
int vx_catalog_get_meta(vx_catalog *cat, vx_meta *out, vx_error *err);
int vx_catalog_get_video(vx_catalog *cat, uint64_t id, vx_video *out, vx_error *err);
/* Video id recorded for a canonical path. */
int vx_catalog_find_path(vx_catalog *cat, const char *path, uint64_t *id_out, vx_error *err);
int vx_catalog_get_segment(vx_catalog *cat, uint64_t video_id, uint32_t index, vx_segment *out, vx_error *err);
int vx_catalog_get_embedding(vx_catalog *cat, uint64_t video_id, vx_embedding *out, vx_error *err);
int vx_catalog_get_user(vx_catalog *cat, const char *name, vx_user *out, vx_error *err);
int vx_catalog_get_job(vx_catalog *cat, uint64_t id, vx_job *out, vx_error *err);
int vx_catalog_get_rendition(vx_catalog *cat, uint64_t content_hash, vx_rendition *out, vx_error *err);
/* A video's text from its files or from the API (slot: vx_text_slot). */
int vx_catalog_get_text(vx_catalog *cat, uint64_t video_id, uint8_t slot, vx_video_text *out, vx_error *err);
int vx_catalog_get_frames(vx_catalog *cat, uint64_t video_id, vx_video_frames *out, vx_error *err);

/* ---- scans --------------------------------------------------------------------------- */
typedef int (*vx_video_fn)(void *ctx, const vx_video *v);
typedef int (*vx_segment_fn)(void *ctx, uint64_t video_id, uint32_t index, const vx_segment *s);
typedef int (*vx_event_fn)(void *ctx, const char *user, uint32_t seq, const vx_event *e);
typedef int (*vx_job_fn)(void *ctx, const vx_job *j);
typedef int (*vx_id_fn)(void *ctx, uint64_t id);

int vx_catalog_scan_videos(vx_catalog *cat, vx_video_fn fn, void *ctx, vx_scan_stats *stats, vx_error *err);
/* video_id 0 scans the segments of every video. */
int vx_catalog_scan_segments(vx_catalog *cat, uint64_t video_id, vx_segment_fn fn, void *ctx,
                             vx_scan_stats *stats, vx_error *err);
/* A video's segments in order, as an array (*out to release with vx_segments_free);
 * with_embeddings 0 keeps their times and frame counts only (embedding NULL). */
int vx_catalog_get_segments(vx_catalog *cat, uint64_t video_id, int with_embeddings, vx_segment **out, uint32_t *n,
                            vx_error *err);
void vx_segments_free(vx_segment *s, uint32_t n);
/* user NULL scans the events of every user. Events of one user come in time order. */
int vx_catalog_scan_events(vx_catalog *cat, const char *user, vx_event_fn fn, void *ctx,
                           vx_scan_stats *stats, vx_error *err);
int vx_catalog_scan_jobs(vx_catalog *cat, vx_job_fn fn, void *ctx, vx_scan_stats *stats, vx_error *err);
typedef int (*vx_rendition_fn)(void *ctx, const vx_rendition *r);
int vx_catalog_scan_renditions(vx_catalog *cat, vx_rendition_fn fn, void *ctx, vx_scan_stats *stats, vx_error *err);
/* Number of keys of one family (VX_KEY_*), without decoding them. */
int vx_catalog_count(vx_catalog *cat, uint8_t family, uint64_t *count_out, vx_error *err);
/* Ids of the videos whose content hash is `hash`. */
int vx_catalog_scan_content(vx_catalog *cat, uint64_t hash, vx_id_fn fn, void *ctx, vx_error *err);
/* Every video whose path starts with prefix (byte for byte), in path order; fn returns
 * nonzero to stop. */
int vx_catalog_scan_path_prefix(vx_catalog *cat, const char *prefix, vx_id_fn fn, void *ctx, vx_error *err);
/* Videos with a frame whose perceptual hash has phash's 16 bits of that band (0..3). */
int vx_catalog_scan_phash(vx_catalog *cat, int band, uint64_t phash, vx_id_fn fn, void *ctx, vx_error *err);

/* ---- writes -------------------------------------------------------------------------- */
vx_batch *vx_batch_new(void);
void vx_batch_free(vx_batch *b);
void vx_batch_clear(vx_batch *b);
/* Number of puts and deletes queued. */
uint32_t vx_batch_count(const vx_batch *b);

void vx_batch_put_meta(vx_batch *b, const vx_meta *m);
/* Puts the video record and its path index entry; content index entry when indexed. */
void vx_batch_put_video(vx_batch *b, const vx_video *v);
/* Deletes a video with its path and content entries, segments and embedding. */
void vx_batch_delete_video(vx_batch *b, const vx_video *v);
void vx_batch_put_segment(vx_batch *b, uint64_t video_id, uint32_t index, const vx_segment *s);
void vx_batch_delete_segments(vx_batch *b, uint64_t video_id, uint32_t from, uint32_t to);
void vx_batch_put_embedding(vx_batch *b, uint64_t video_id, const vx_embedding *e);
void vx_batch_delete_embedding(vx_batch *b, uint64_t video_id);
void vx_batch_delete_content(vx_batch *b, uint64_t hash, uint64_t video_id);
void vx_batch_put_user(vx_batch *b, const vx_user *u);
void vx_batch_put_event(vx_batch *b, const char *user, uint32_t seq, const vx_event *e);
void vx_batch_put_job(vx_batch *b, const vx_job *j);
void vx_batch_put_rendition(vx_batch *b, const vx_rendition *r);
void vx_batch_delete_rendition(vx_batch *b, uint64_t content_hash);
void vx_batch_put_text(vx_batch *b, const vx_video_text *t);
void vx_batch_delete_text(vx_batch *b, uint64_t video_id, uint8_t slot);
/* A video's frames record and the "h" keys of its non-flat frames; the delete takes the
 * record that was stored, to know its keys. */
void vx_batch_put_frames(vx_batch *b, const vx_video_frames *f);
void vx_batch_delete_frames(vx_batch *b, const vx_video_frames *old);
/* Raw access, for tests and repair tools. */
void vx_batch_put_raw(vx_batch *b, const void *key, size_t klen, const void *val, size_t vlen);
void vx_batch_delete_raw(vx_batch *b, const void *key, size_t klen);

/* Applies the batch atomically with a synced write. Fails without writing anything if
 * any record in the batch could not be encoded (-1). The batch is left as it was.
 * VX_E_STORAGE when LevelDB's write failed (a full disk, an I/O error): what it wrote is
 * not relied on; the next write opens the database again first, once the disk has room
 * (the file's top comment). */
int vx_catalog_write(vx_catalog *cat, vx_batch *b, vx_error *err);
/* After a failed write, opens the database again now if nothing holds it and the disk has
 * room (else the next write does): 0 when writes may go on. */
int vx_catalog_recover(vx_catalog *cat);
/* The same without waiting for the disk: for changes that are durable elsewhere (a
 * cluster's log) and carry their log position, so a crash loses a tail that is then
 * applied again, never half a batch. */
int vx_catalog_write_unsynced(vx_catalog *cat, vx_batch *b, vx_error *err);

/* The cluster log position (records.h); 1 when none is stored. */
int vx_catalog_get_log_position(vx_catalog *cat, vx_log_position *out, vx_error *err);
void vx_batch_put_log_position(vx_batch *b, const vx_log_position *p);
/* Stages the deletion of a user's record and every event of theirs. */
int vx_batch_delete_user(vx_catalog *cat, vx_batch *b, const char *user, vx_error *err);

/* ---- consistency ---------------------------------------------------------------------- */
typedef void (*vx_check_fn)(void *ctx, const char *problem);
/* Checks the invariants the indexer keeps (each indexed original has its embedding and
 * exactly its segments; failed, removed and duplicate videos have none; duplicates
 * point at indexed originals; paths lead back to their videos; dimensions agree). Each
 * problem goes to report; *problems_out counts them. */
int vx_catalog_check(vx_catalog *cat, vx_check_fn report, void *ctx, uint64_t *problems_out, vx_error *err);

#endif
