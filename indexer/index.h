/* vidx indexer: the indexing job behind `vidx index` and POST /v1/index.
 *
 * For each path (files, or folders walked for media files): unchanged files (same size
 * and mtime, or same content hash) are skipped without decoding; exact duplicates of an
 * indexed video are linked to it; new and changed files are decoded (one thread),
 * sampled, encoded in batches (the calling thread) and cut into fixed-length segments;
 * files gone from a walked folder or named explicitly are marked removed.
 *
 * Every outcome is one op (schemas/ops.h: the video's record, segments, embedding and
 * thumbnails) handed to options.apply, which the engine applies in one synced batch
 * after the thumbnails are on disk: a crash at any moment leaves each video either
 * fully indexed or as it was before.
 *
 * Conventions: returns 0 when the job ran (individual files may have failed: see the
 * summary), -1 with err when it could not run at all (model mismatch, catalog error).
 */
#ifndef VX_INDEX_H
#define VX_INDEX_H

#include <stdatomic.h>

#include "../common/status.h"
#include "../encoder/clip.h"
#include "../schemas/catalog.h"
#include "../schemas/ops.h"
#include "decode.h"

/* The size frames are sampled at without the model (CLIP's input; thumbnails and frame
 * hashes come from that copy). */
#define VX_INDEX_IMAGE_SIZE 224

typedef struct vx_index_options {
    vx_sample_options sample; /* frame sampling (rate, cap, timeout, skipping) */
    double segment_seconds;   /* length of the fixed segment windows (default 5) */
    int batch;                /* frames per encoder call (default 16) */
    int reuse_frames;         /* a frame nearly identical to the last one encoded from its file
                               * reuses that embedding (indexer/change.h; default 1) */
    int progress;             /* redraw a progress line on stderr (for terminals) */
    int log_files;            /* one log line per file (when not a terminal) */
    const char *model_dir;    /* recorded in the database's meta */
    /* Where media may come from (vidx serve --media-root; canonical folders). When set,
     * a path given must resolve inside one of them, and a symbolic link met in a folder
     * is followed only when its target is a file inside one. Unset: any path given, and
     * links in folders are skipped with a reason. Either way nothing inside the data
     * folder or a system folder (/proc, /sys, /dev, /etc, /boot) is media. */
    const char *const *media_roots;
    int n_media_roots;
    /* A file whose inode is not its record's counts as changed (hashed again; the same
     * bytes only update the record). Set on one machine, where the record's inode is
     * this machine's; a cluster's workers may see other copies of a file. */
    int same_inode;
    /* Every change the run makes (schemas/ops.h), in order: the indexer reads the
     * catalog but never writes it. Returns a vx_status: 0, or VX_E_LOG_UNAVAILABLE or
     * VX_E_STORAGE with err when the store refuses changes for now (a cluster's log
     * without quorum, a full disk): the run then stops, records no failure and returns
     * that status; any other with err: the file fails. */
    int (*apply)(void *ctx, const vx_op *op, vx_error *err);
    void *apply_ctx;
    /* Called on the calling thread after each file's outcome is applied (video_id is
     * the file's id), for progress. */
    void (*on_item)(void *ctx, const vx_job_item *item, uint64_t video_id);
    void *on_item_ctx;
    /* When another thread sets it, files not yet decoded are left as they were (not in
     * the summary); the run ends after the file being decoded. */
    const atomic_int *cancel;
} vx_index_options;

void vx_index_options_default(vx_index_options *o);
/* Overrides o's sampling and segments with the settings' non-zero fields. */
void vx_index_options_set(vx_index_options *o, const vx_job_settings *s);

typedef struct vx_index_summary {
    int indexed, unchanged, duplicates, failed, removed, skipped;
    int visual_pending;       /* videos indexed without the model (frames waiting for it) */
    int visual_encoded;       /* videos indexed earlier without the model whose frames were encoded now */
    long frames;              /* frames encoded */
    long frames_sampled;      /* frames sampled: encoded, or reusing an unchanged frame's embedding */
    long text_entries;        /* titles, descriptions, tags and subtitle cues read */
    int text_refreshed;       /* unchanged videos whose text was read again (sidecars changed) */
    double video_seconds;     /* duration of the videos decoded */
    double wall_seconds;
    double decode_seconds;    /* wall time the decoding thread worked (slowed by sharing cores) */
    double encode_seconds;    /* wall time the encoder worked */
    double decode_cpu_seconds;/* CPU time of the decoding thread: decode, convert, resize, thumbnails */
    int n_items;
    vx_job_item *items;       /* per-file outcome, in the order handled */
    int cancelled;            /* files left undone because options.cancel was set */
} vx_index_summary;

void vx_index_summary_clear(vx_index_summary *s);

/* model may be NULL: then every new or changed video is indexed with what needs no model
 * (its record, text, frame hashes, a thumbnail, near-duplicates by hash) and marked
 * VX_EMBEDDED_PENDING. With the model, a run also encodes the frames of every pending
 * video whose file is unchanged, wherever it is, keeping the rest. */
int vx_index_paths(vx_catalog *cat, const vx_clip *model, const char *data_dir, const char *const *paths, int n_paths,
                   const vx_index_options *o, vx_index_summary *summary, vx_error *err);

/* The paths of the videos indexed without the model (VX_EMBEDDED_PENDING), at most max
 * (0: all). *out is an array of heap strings (free each, then the array). */
int vx_index_pending_paths(vx_catalog *cat, int max, char ***out, int *n_out, vx_error *err);

/* What a request's paths come to, one entry per file, as a cluster's work queue takes
 * them: files, media files under folders, indexed videos under those folders whose
 * files are gone, and named paths that do not exist (absolute); sorted, no repeats.
 * *out is an array of heap strings (free each, then the array). */
int vx_index_expand(vx_catalog *cat, const char *const *paths, int n_paths, const vx_index_options *o,
                    const char *data_dir, char ***out, int *n_out, vx_error *err);

#endif
