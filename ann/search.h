/* vidx ann: ranked videos for a query vector (text search) or a video (similar).
 *
 * Text search looks up the nearest segments, keeps each video's best segment (its
 * score and time range are the video's score and "moment"), drops videos that fail the
 * filters, and pages with offset and k. Similar looks up the nearest whole-video
 * embeddings and leaves out the video itself and exact duplicates of it.
 *
 * Results own their strings; free with vx_results_free.
 */
#ifndef VX_SEARCH_H
#define VX_SEARCH_H

#include "ann.h"

typedef struct vx_result {
    uint64_t video_id;
    float score;
    double start, end; /* the moment; for similar, the whole video */
    int segment;       /* the moment's segment, -1 for similar */
    char *title, *path;
    double duration;
} vx_result;

typedef struct vx_results {
    vx_result *items;
    int n;
    int total; /* videos that matched (all indexed videos passing the filters, as far as looked) */
} vx_results;

typedef struct vx_search_filters {
    double min_duration, max_duration; /* seconds; max 0 = no limit */
    const char *path_prefix;           /* NULL = any */
} vx_search_filters;

int vx_search_vector(vx_ann *a, vx_catalog *cat, const float *q, int k, int offset, const vx_search_filters *f,
                     vx_results *out, vx_error *err);
int vx_search_similar(vx_ann *a, vx_catalog *cat, uint64_t video_id, int k, int offset, vx_results *out, vx_error *err);
/* The same for a video record the caller has already read. */
int vx_search_similar_to(vx_ann *a, vx_catalog *cat, const vx_video *self, int k, int offset, vx_results *out,
                         vx_error *err);
void vx_results_free(vx_results *r);

#endif
