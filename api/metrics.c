#include "metrics.h"

#include <stdatomic.h>
#include <stdlib.h>

static const char *const route_names[VX_N_ROUTES] = {
    "search", "video", "similar", "media", "events", "feed", "user",
    "index", "job", "healthz", "metrics", "thumbnail", "page", "info", "text", "tags", "token", "rendition", "other",
};

const char *vx_route_name(vx_route r) { return r < VX_N_ROUTES ? route_names[r] : "other"; }

/* Statuses counted one by one; anything else is counted as its class. */
static const int statuses[] = {200, 201, 202, 206, 304, 400, 401, 403, 404, 405, 413, 415, 416, 421, 429, 500, 503};
#define N_STATUS (sizeof statuses / sizeof statuses[0])
#define N_STATUS_SLOTS (N_STATUS + 5) /* + 1xx..5xx "other" */

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

struct vx_metrics {
    atomic_uint_least64_t requests[VX_N_ROUTES][N_STATUS_SLOTS];
    atomic_uint_least64_t latency[VX_N_ROUTES][N_BUCKETS + 1]; /* non-cumulative; last = +Inf */
    atomic_uint_least64_t latency_sum_us[VX_N_ROUTES];
    atomic_int connections;
    atomic_uint_least64_t dropped[VX_N_DROPS];
};

vx_metrics *vx_metrics_new(void) { return calloc(1, sizeof(vx_metrics)); }
void vx_metrics_free(vx_metrics *m) { free(m); }

static int status_slot(int status) {
    for (unsigned i = 0; i < N_STATUS; i++)
        if (statuses[i] == status) return (int)i;
    int cls = status / 100;
    return (int)N_STATUS + (cls >= 1 && cls <= 5 ? cls - 1 : 4);
}

void vx_metrics_observe(vx_metrics *m, vx_route route, int status, double seconds) {
    if (route >= VX_N_ROUTES) route = VX_ROUTE_OTHER;
    atomic_fetch_add_explicit(&m->requests[route][status_slot(status)], 1, memory_order_relaxed);
    unsigned b = 0;
    while (b < N_BUCKETS && seconds > buckets[b]) b++;
    atomic_fetch_add_explicit(&m->latency[route][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency_sum_us[route], (uint64_t)(seconds * 1e6), memory_order_relaxed);
}

void vx_metrics_connections(vx_metrics *m, int delta) {
    atomic_fetch_add_explicit(&m->connections, delta, memory_order_relaxed);
}

void vx_metrics_dropped(vx_metrics *m, vx_drop_reason why) {
    if (why < VX_N_DROPS) atomic_fetch_add_explicit(&m->dropped[why], 1, memory_order_relaxed);
}


static uint64_t get(atomic_uint_least64_t *v) { return atomic_load_explicit(v, memory_order_relaxed); }

void vx_metrics_render(vx_metrics *m, const vx_gauges *g, struct evbuffer *out) {
    evbuffer_add_printf(out, "# HELP vidx_http_requests_total HTTP requests answered, by route and status.\n"
                             "# TYPE vidx_http_requests_total counter\n");
    for (int r = 0; r < VX_N_ROUTES; r++)
        for (unsigned s = 0; s < N_STATUS_SLOTS; s++) {
            uint64_t n = get(&m->requests[r][s]);
            if (!n) continue;
            if (s < N_STATUS)
                evbuffer_add_printf(out, "vidx_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", route_names[r],
                                    statuses[s], (unsigned long long)n);
            else
                evbuffer_add_printf(out, "vidx_http_requests_total{route=\"%s\",status=\"%dxx\"} %llu\n",
                                    route_names[r], (int)(s - N_STATUS) + 1, (unsigned long long)n);
        }
    evbuffer_add_printf(out, "# HELP vidx_http_request_duration_seconds Time from request to response, by route.\n"
                             "# TYPE vidx_http_request_duration_seconds histogram\n");
    for (int r = 0; r < VX_N_ROUTES; r++) {
        uint64_t cum = 0, total = 0;
        for (unsigned b = 0; b <= N_BUCKETS; b++) total += get(&m->latency[r][b]);
        if (!total) continue;
        for (unsigned b = 0; b < N_BUCKETS; b++) {
            cum += get(&m->latency[r][b]);
            evbuffer_add_printf(out, "vidx_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                                route_names[r], buckets[b], (unsigned long long)cum);
        }
        evbuffer_add_printf(out, "vidx_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                            route_names[r], (unsigned long long)total);
        evbuffer_add_printf(out, "vidx_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", route_names[r],
                            (double)get(&m->latency_sum_us[r]) * 1e-6);
        evbuffer_add_printf(out, "vidx_http_request_duration_seconds_count{route=\"%s\"} %llu\n", route_names[r],
                            (unsigned long long)total);
    }
    evbuffer_add_printf(out,
                        "# HELP vidx_query_cache_requests_total Text queries answered from the embedding cache or not.\n"
                        "# TYPE vidx_query_cache_requests_total counter\n"
                        "vidx_query_cache_requests_total{result=\"hit\"} %llu\n"
                        "vidx_query_cache_requests_total{result=\"miss\"} %llu\n"
                        "# HELP vidx_query_cache_entries Query embeddings held.\n# TYPE vidx_query_cache_entries gauge\n"
                        "vidx_query_cache_entries %lld\n"
                        "# HELP vidx_answer_cache_entries Search and similar-video answers held.\n"
                        "# TYPE vidx_answer_cache_entries gauge\nvidx_answer_cache_entries %lld\n"
                        "# HELP vidx_answer_cache_bytes Bytes of the answers held (VIDX_ANSWER_CACHE_MB bounds them).\n"
                        "# TYPE vidx_answer_cache_bytes gauge\nvidx_answer_cache_bytes %lld\n",
                        (unsigned long long)g->cache_hits, (unsigned long long)g->cache_misses,
                        (long long)g->cache_entries, (long long)g->answer_cache_entries,
                        (long long)g->answer_cache_bytes);
    evbuffer_add_printf(out,
                        "# HELP vidx_text_encoder_queries_total Queries run through the text tower.\n"
                        "# TYPE vidx_text_encoder_queries_total counter\n"
                        "vidx_text_encoder_queries_total %llu\n"
                        "# HELP vidx_text_encoder_batches_total Text tower runs (queries waiting together are "
                        "encoded together).\n# TYPE vidx_text_encoder_batches_total counter\n"
                        "vidx_text_encoder_batches_total %llu\n",
                        (unsigned long long)g->encoder_queries, (unsigned long long)g->encoder_runs);
    evbuffer_add_printf(out,
                        "# HELP vidx_index_videos Videos searchable.\n# TYPE vidx_index_videos gauge\nvidx_index_videos %lld\n"
                        "# HELP vidx_index_segments Segments searchable.\n# TYPE vidx_index_segments gauge\n"
                        "vidx_index_segments %lld\n"
                        "# HELP vidx_index_list_imbalance How unevenly the segment index's inverted lists are filled "
                        "(1: even; a text search reads that many times its share of vectors; 0: exact index).\n"
                        "# TYPE vidx_index_list_imbalance gauge\nvidx_index_list_imbalance %.3f\n"
                        "# HELP vidx_users Users with events.\n# TYPE vidx_users gauge\nvidx_users %lld\n"
                        "# HELP vidx_engagements Positive user-video engagements.\n# TYPE vidx_engagements gauge\n"
                        "vidx_engagements %lld\n"
                        "# HELP vidx_http_connections Open client connections.\n# TYPE vidx_http_connections gauge\n"
                        "vidx_http_connections %lld\n",
                        (long long)g->videos, (long long)g->segments, g->list_imbalance, (long long)g->users,
                        (long long)g->engagements,
                        (long long)atomic_load(&m->connections));
    evbuffer_add_printf(out,
                        "# HELP vidx_http_connections_dropped_total Connections closed to protect the others: a "
                        "request past its deadline, the one waiting longest at the limit, an address over its cap.\n"
                        "# TYPE vidx_http_connections_dropped_total counter\n"
                        "vidx_http_connections_dropped_total{reason=\"deadline\"} %llu\n"
                        "vidx_http_connections_dropped_total{reason=\"evicted\"} %llu\n"
                        "vidx_http_connections_dropped_total{reason=\"per_address\"} %llu\n",
                        (unsigned long long)atomic_load(&m->dropped[VX_DROP_DEADLINE]),
                        (unsigned long long)atomic_load(&m->dropped[VX_DROP_EVICTED]),
                        (unsigned long long)atomic_load(&m->dropped[VX_DROP_PER_ADDRESS]));
    evbuffer_add_printf(out,
                        "# HELP vidx_jobs Indexing jobs by state.\n# TYPE vidx_jobs gauge\n"
                        "vidx_jobs{state=\"queued\"} %lld\nvidx_jobs{state=\"running\"} %lld\n"
                        "vidx_jobs{state=\"done\"} %lld\nvidx_jobs{state=\"failed\"} %lld\n",
                        (long long)g->jobs_queued, (long long)g->jobs_running, (long long)g->jobs_done,
                        (long long)g->jobs_failed);
    evbuffer_add_printf(out,
                        "# HELP vidx_renditions_pending Web-playable renditions queued or being made.\n"
                        "# TYPE vidx_renditions_pending gauge\nvidx_renditions_pending %lld\n"
                        "# HELP vidx_renditions_total Web-playable renditions finished since the start, by outcome.\n"
                        "# TYPE vidx_renditions_total counter\n"
                        "vidx_renditions_total{outcome=\"made\"} %llu\nvidx_renditions_total{outcome=\"failed\"} %llu\n",
                        (long long)g->renditions_pending, (unsigned long long)g->renditions_made,
                        (unsigned long long)g->renditions_failed);
    evbuffer_add_printf(out,
                        "# HELP vidx_disk_free_bytes Bytes free on the data folder's disk.\n"
                        "# TYPE vidx_disk_free_bytes gauge\nvidx_disk_free_bytes %llu\n"
                        "# HELP vidx_disk_reserve_bytes Bytes bulk work leaves free (VIDX_DISK_RESERVE_MB).\n"
                        "# TYPE vidx_disk_reserve_bytes gauge\nvidx_disk_reserve_bytes %llu\n"
                        "# HELP vidx_disk_ok 1 while the data folder takes writes and has more free than the reserve.\n"
                        "# TYPE vidx_disk_ok gauge\nvidx_disk_ok %d\n",
                        (unsigned long long)g->disk_free, (unsigned long long)g->disk_reserve, g->disk_ok);
    if (!g->cluster) return;
    evbuffer_add_printf(out,
                        "# HELP vidx_cluster_connected 1 while connected to a NATS server.\n"
                        "# TYPE vidx_cluster_connected gauge\nvidx_cluster_connected %d\n"
                        "# HELP vidx_log_applied_seq The last cluster log op applied here.\n"
                        "# TYPE vidx_log_applied_seq gauge\nvidx_log_applied_seq %llu\n"
                        "# HELP vidx_log_lag Cluster log ops not applied here yet.\n"
                        "# TYPE vidx_log_lag gauge\nvidx_log_lag %llu\n"
                        "# HELP vidx_log_skipped_total Log messages that were not valid ops.\n"
                        "# TYPE vidx_log_skipped_total counter\nvidx_log_skipped_total %llu\n",
                        g->cluster_connected, (unsigned long long)g->log_applied, (unsigned long long)g->log_lag,
                        (unsigned long long)g->log_skipped);
}
