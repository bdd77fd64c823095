/* vidx engine: the whole data folder counted (vidx info, /metrics, /healthz) and checked. */
#include "engine_internal.h"

#include <string.h>

static int count_video(void *ctx, const vx_video *v) {
    vx_engine_stats *c = ctx;
    if (v->status == VX_VIDEO_INDEXED) c->indexed++;
    else if (v->status == VX_VIDEO_FAILED) c->failed++;
    else if (v->status == VX_VIDEO_REMOVED) c->removed++;
    if (v->status == VX_VIDEO_INDEXED && v->duplicate_of) c->duplicates++;
    if (v->status == VX_VIDEO_INDEXED && !v->duplicate_of && v->precision <= VX_EMBEDDED_INT8)
        c->by_precision[v->precision]++;
    if (vx_video_pending(v)) c->visual_pending++;
    return 0;
}

void vx_engine_gauges(vx_engine *e, vx_engine_stats *out) {
    memset(out, 0, sizeof *out);
    if (e->vectors.ann) {
        pthread_rwlock_rdlock(&e->vectors.lock);
        out->index_videos = vx_ann_count_videos(e->vectors.ann);
        out->index_segments = vx_ann_count_segments(e->vectors.ann);
        out->index_kind = vx_ann_kind(e->vectors.ann);
        out->index_list_imbalance = vx_ann_list_imbalance(e->vectors.ann);
        pthread_rwlock_unlock(&e->vectors.lock);
    }
    out->text_search = e->model != NULL;
    out->lexical_search = e->lex != NULL;
    out->text_documents = e->lex ? vx_lexical_doc_count(e->lex) : 0;
    out->precision = e->model ? vx_precision_name(vx_clip_precision(e->model)) : "";
    if (e->jobs) vx_jobs_counts(e->jobs, &out->jobs_queued, &out->jobs_running, &out->jobs_done, &out->jobs_failed);
    uint64_t rec_videos;
    pthread_rwlock_rdlock(&e->vectors.lock); /* the recommender is replaced under its write lock */
    if (e->vectors.rec) {
        vx_rec_stats(e->vectors.rec, &out->rec_users, &rec_videos, &out->rec_engagements);
        vx_rec_model_info_get(e->vectors.rec, &out->feed_model);
    }
    pthread_rwlock_unlock(&e->vectors.lock);
    out->query_cache_entries = e->qcache ? (int64_t)vx_query_cache_size(e->qcache) : 0;
    out->answer_cache_entries = e->answers ? (int64_t)vx_lru_size(e->answers) : 0;
    out->answer_cache_bytes = e->answers ? (int64_t)vx_lru_bytes(e->answers) : 0;
    out->query_cache_hits = atomic_load(&e->cache_hits);
    out->query_cache_misses = atomic_load(&e->cache_misses);
    out->encoder_runs = atomic_load(&e->encoder_runs);
    out->encoder_queries = atomic_load(&e->encoder_queries);
    vx_renditions_counts(e->renditions, &out->renditions_pending, &out->renditions_made, &out->renditions_failed);
    out->disk = vx_engine_disk_state(e, &out->disk_free);
    out->disk_reserve = e->opt.disk_reserve;
}

int vx_engine_info(vx_engine *e, vx_engine_stats *out, vx_error *err) {
    vx_engine_gauges(e, out);
    vx_scan_stats stats = {0};
    if (vx_catalog_get_meta(e->cat, &out->meta, err) || vx_catalog_scan_videos(e->cat, count_video, out, &stats, err) ||
        vx_catalog_count(e->cat, VX_KEY_SEGMENT, &out->segments, err) ||
        vx_catalog_count(e->cat, VX_KEY_USER, &out->users, err) ||
        vx_catalog_count(e->cat, VX_KEY_EVENT, &out->events, err) ||
        vx_catalog_count(e->cat, VX_KEY_JOB, &out->jobs, err) ||
        vx_catalog_count(e->cat, VX_KEY_TEXT, &out->text_records, err)) {
        vx_engine_stats_free(out);
        return VX_E_INTERNAL;
    }
    out->corrupt = stats.corrupt;
    return VX_OK;
}

void vx_engine_stats_free(vx_engine_stats *i) { vx_meta_clear(&i->meta); }

int vx_engine_check(vx_engine *e, void (*report)(void *ctx, const char *problem), void *ctx, uint64_t *problems,
                    vx_error *err) {
    if (vx_catalog_check(e->cat, report, ctx, problems, err)) return VX_E_INTERNAL;
    return vx_engine_check_derived(e, report, ctx, problems, err) ? VX_E_INTERNAL : VX_OK;
}
