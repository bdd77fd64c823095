#include "search.h"

#include <stdlib.h>
#include <string.h>

#include "../common/idmap.h"

void vx_results_free(vx_results *r) {
    for (int i = 0; i < r->n; i++) {
        free(r->items[i].title);
        free(r->items[i].path);
    }
    free(r->items);
    memset(r, 0, sizeof *r);
}

static int passes(const vx_video *v, const vx_search_filters *f) {
    if (v->status != VX_VIDEO_INDEXED) return 0;
    if (!f) return 1;
    if (v->duration < f->min_duration) return 0;
    if (f->max_duration > 0 && v->duration > f->max_duration) return 0;
    if (f->path_prefix && strncmp(v->path, f->path_prefix, strlen(f->path_prefix)) != 0) return 0;
    return 1;
}

/* Appends a result for v; page bounds are applied by the caller's counters. */
static int push(vx_results *out, const vx_video *v, float score, double start, double end, int segment) {
    vx_result *items = realloc(out->items, (size_t)(out->n + 1) * sizeof *items);
    if (!items) return -1;
    out->items = items;
    items[out->n] = (vx_result){v->id, score, start, end, segment, strdup(v->title), strdup(v->path), v->duration};
    out->n++;
    return 0;
}

int vx_search_vector(vx_ann *a, vx_catalog *cat, const float *q, int k, int offset, const vx_search_filters *f,
                     vx_results *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    const int64_t total_segments = vx_ann_count_segments(a);
    const int want = offset + k;
    const int filtered = f && (f->path_prefix || f->min_duration > 0 || f->max_duration > 0);
    int64_t pool = (int64_t)want * 8 + 32;
    for (;;) {
        if (pool > total_segments) pool = total_segments;
        vx_ann_hit *hits = malloc((size_t)(pool > 0 ? pool : 1) * sizeof *hits);
        if (!hits) return vx_fail(err, "out of memory");
        int n = pool > 0 ? vx_ann_search_segments(a, q, (int)pool, hits, err) : 0;
        if (n < 0) { free(hits); return -1; }
        vx_results_free(out);
        /* Hits come best first, so a video's first hit is its best segment. */
        /* Videos already ranked: pools grow to tens of thousands of hits for deep pages,
         * where a linear scan per hit would be quadratic. */
        vx_idmap seen;
        int matched = 0, rc = vx_idmap_init(&seen, (size_t)n) ? vx_fail(err, "out of memory") : 0;
        /* Without filters the page is all that is needed (total is the index's count);
         * with them, every candidate is counted. */
        for (int i = 0; i < n && rc == 0 && (filtered || matched < want); i++) {
            if (vx_idmap_get(&seen, hits[i].video_id) >= 0) continue;
            vx_idmap_put(&seen, hits[i].video_id, 1); /* sized for n: never grows, never fails */
            vx_video v;
            int r = vx_catalog_get_video(cat, hits[i].video_id, &v, err);
            if (r < 0) { rc = -1; break; }
            if (r) continue;
            if (passes(&v, f)) {
                matched++;
                if (matched > offset && matched <= want) {
                    vx_segment seg;
                    double start = 0, end = v.duration;
                    if (vx_catalog_get_segment(cat, v.id, (uint32_t)hits[i].segment, &seg, err) == 0) {
                        start = seg.start;
                        end = seg.end;
                        vx_segment_clear(&seg);
                    }
                    if (push(out, &v, hits[i].score, start, end, hits[i].segment)) rc = vx_fail(err, "out of memory");
                }
            }
            vx_video_clear(&v);
        }
        vx_idmap_free(&seen);
        free(hits);
        if (rc) { vx_results_free(out); return -1; }
        /* Without filters every indexed video ranks somewhere; with them, count what
         * the candidates held. */
        out->total = filtered ? matched : (int)vx_ann_count_videos(a);
        if (matched >= want || pool >= total_segments) return 0;
        pool *= 4;
    }
}

int vx_search_similar(vx_ann *a, vx_catalog *cat, uint64_t video_id, int k, int offset, vx_results *out,
                      vx_error *err) {
    memset(out, 0, sizeof *out);
    vx_video self;
    int r = vx_catalog_get_video(cat, video_id, &self, err);
    if (r) return r < 0 ? -1 : vx_fail(err, "no video %016llx", (unsigned long long)video_id);
    r = vx_search_similar_to(a, cat, &self, k, offset, out, err);
    vx_video_clear(&self);
    return r;
}

int vx_search_similar_to(vx_ann *a, vx_catalog *cat, const vx_video *self, int k, int offset, vx_results *out,
                         vx_error *err) {
    memset(out, 0, sizeof *out);
    const uint64_t video_id = self->id;
    /* A duplicate stands for its original: same vectors, same neighbours. */
    const uint64_t source = self->duplicate_of ? self->duplicate_of : self->id;
    const uint64_t hash = self->content_hash;
    /* The query is the video's own vector, from the index (in memory) when it is there. */
    float *q = malloc((size_t)vx_ann_dim(a) * sizeof *q);
    if (!q) return vx_fail(err, "out of memory");
    int r = vx_ann_video_vector_or_stored(a, cat, source, q, err);
    if (r) {
        free(q);
        return r < 0 ? -1 : vx_fail(err, "video %016llx is not indexed (no embedding)", (unsigned long long)video_id);
    }
    const int64_t all = vx_ann_count_videos(a);
    int pool = offset + k + 8;
    if (pool > all) pool = (int)all;
    vx_ann_hit *hits = malloc((size_t)(pool > 0 ? pool : 1) * sizeof *hits);
    int n = hits ? vx_ann_search_videos(a, q, pool, hits, err) : -1;
    free(q);
    if (n < 0) { free(hits); return -1; }
    int matched = 0;
    for (int i = 0; i < n; i++) {
        if (hits[i].video_id == source || hits[i].video_id == video_id) continue;
        vx_video v;
        r = vx_catalog_get_video(cat, hits[i].video_id, &v, err);
        if (r < 0) { free(hits); vx_results_free(out); return -1; }
        if (r) continue;
        /* Exact copies (same bytes) are not "similar", they are the same video. */
        if (v.status == VX_VIDEO_INDEXED && v.content_hash != hash) {
            matched++;
            if (matched > offset && matched <= offset + k && push(out, &v, hits[i].score, 0, v.duration, -1)) {
                vx_video_clear(&v);
                free(hits);
                vx_results_free(out);
                return vx_fail(err, "out of memory");
            }
        }
        vx_video_clear(&v);
    }
    free(hits);
    out->total = (int)(all > 1 ? all - 1 : 0);
    return 0;
}
