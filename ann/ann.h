/* vidx ann: vector indexes over the catalog's embeddings, on FAISS's C API.
 *
 * Two inner-product indexes (vectors are L2-normalised, so scores are cosines): one of
 * segment embeddings, one of whole-video embeddings. FAISS labels are 64-bit:
 *   video index:   label = the video id
 *   segment index: label = (video id with its low 12 bits cleared) | segment number
 * (segments per video are capped well below 4096); a table from the cleared id back to
 * the video id is kept in memory.
 *
 * The indexes are derived data: files under DATA/index/ record the catalog generation
 * they reflect and a checksum; a missing, stale or corrupt file is rebuilt from the
 * catalog at open, with a log line. Saving is atomic (temporary file, fsync, rename).
 *
 * Only indexed originals are in the indexes; duplicates share their original's vectors
 * and are never returned themselves. Not thread-safe: callers serialise.
 */
#ifndef VX_ANN_H
#define VX_ANN_H

#include <stdint.h>

#include "../common/error.h"
#include "../schemas/catalog.h"

#define VX_ANN_SEGMENT_BITS 12
#define VX_ANN_EXACT_MAX 20000 /* vectors searched exactly; above, an inverted file */
#define VX_ANN_NPROBE_SEGMENTS 16 /* inverted lists visited per text search */
#define VX_ANN_NPROBE_VIDEOS 8     /* ... per similar-video or feed lookup (ann/README.md) */
#define VX_ANN_COMPRESS_MIN 2000000 /* segments kept as full vectors in RAM; above, compressed */
#define VX_ANN_RERANK 200          /* candidates of the compressed index re-ranked exactly */

typedef struct vx_ann vx_ann;

typedef struct vx_ann_hit {
    uint64_t video_id;
    int segment;   /* -1 for video-index hits */
    float score;
} vx_ann_hit;

typedef struct vx_ann_options {
    const char *factory; /* a FAISS index_factory description forced for both indexes; NULL: by size */
    long exact_max;      /* vectors searched exactly before an inverted file; 0: VX_ANN_EXACT_MAX */
    int faiss_search;    /* inverted files searched by FAISS alone instead of vidx's AVX2 scan (same hits) */
    long compress_min;   /* segments above which their index is compressed (ann/compressed.h); 0: VX_ANN_COMPRESS_MIN */
    long train_max;      /* segments an inverted file is trained on, spread over all videos; 0: 100,000 (or
                          * 40 a list for a compressed index) */
    uint32_t shard, shards; /* sharded search (cluster/README.md): the segment index holds only the videos
                             * whose id % shards == shard; 0 shards: all (the video index always does) */
} vx_ann_options;

/* Opens (or rebuilds) the indexes of a data folder. `o` may be NULL (defaults). `dim`
 * is the vector size when the database has none recorded yet (0 if unknown). */
vx_ann *vx_ann_open(vx_catalog *cat, const char *data_dir, const vx_ann_options *o, int dim, vx_error *err);
void vx_ann_close(vx_ann *a);

/* Brings one video's vectors in line with the catalog: removes what it had, adds what
 * the catalog holds now (nothing for failed, removed or duplicate videos). */
int vx_ann_update_video(vx_ann *a, vx_catalog *cat, uint64_t video_id, vx_error *err);
/* Writes both indexes with the catalog's current generation. Saving only reads the
 * index: callers may let searches share it meanwhile. */
int vx_ann_save(vx_ann *a, vx_catalog *cat, vx_error *err);
/* An index that has outgrown its type (an exact one beyond exact_max, or a segment
 * index of whole vectors beyond compress_min): callers build vx_ann_rebuilt aside and
 * swap it in. */
int vx_ann_outgrown(const vx_ann *a);
/* New indexes built from the catalog (no files read or written). */
vx_ann *vx_ann_rebuilt(vx_catalog *cat, const char *data_dir, const vx_ann_options *o, int dim, vx_error *err);

/* Nearest segments / videos to q (dim floats). hits[k]; returns the number found. */
int vx_ann_search_segments(vx_ann *a, const float *q, int k, vx_ann_hit *hits, vx_error *err);
int vx_ann_search_videos(vx_ann *a, const float *q, int k, vx_ann_hit *hits, vx_error *err);

/* The whole-video vector of an indexed video (dim floats into out), from the index
 * itself, without reading the database: 0 found, 1 not in the index, -1 on error. */
int vx_ann_video_vector(vx_ann *a, uint64_t video_id, float *out, vx_error *err);
/* The same, or else the embedding stored in the catalog (when of the index's dimension). */
int vx_ann_video_vector_or_stored(vx_ann *a, vx_catalog *cat, uint64_t video_id, float *out, vx_error *err);
/* The same without a copy where the index holds it: *v points into the index (valid while
 * it is unchanged) or at buf (dim floats), which then holds it. 0 found, 1 none, -1 on error. */
int vx_ann_video_vector_view(vx_ann *a, vx_catalog *cat, uint64_t video_id, float *buf, const float **v,
                             vx_error *err);

int64_t vx_ann_count_segments(const vx_ann *a);
int64_t vx_ann_count_videos(const vx_ann *a);
int vx_ann_dim(const vx_ann *a);
/* Inverted files searched by FAISS alone instead of vidx's AVX2 scan (same hits; for
 * comparisons; also vx_ann_options.faiss_search). */
void vx_ann_use_faiss_search(vx_ann *a, int on);
/* "Flat" (exact), "IVF" (inverted file) or "IVF-PQ" (compressed, re-ranked), for the
 * segment index. */
const char *vx_ann_kind(const vx_ann *a);
/* The segment shard this index holds (0 of 1: all videos). */
void vx_ann_shard(const vx_ann *a, uint32_t *shard, uint32_t *shards);
/* How unevenly the segment index's inverted lists are filled: FAISS's imbalance factor
 * (1 when even; a query then reads about nprobe/lists of the vectors, k when it reads k
 * times that). 0 for an exact index. */
double vx_ann_list_imbalance(const vx_ann *a);
/* How the indexes came to be at open: "loaded" or "rebuilt (reason)". */
const char *vx_ann_origin(const vx_ann *a);

#endif
