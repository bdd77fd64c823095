/* vidx api: request counters and latency histograms for /metrics (Prometheus text
 * format 0.0.4). Lock-free: every update is a relaxed atomic add, from any thread. */
#ifndef VX_METRICS_H
#define VX_METRICS_H

#include <stdint.h>

#include <event2/buffer.h>

/* Routes, as labelled in the metrics and the access log. */
typedef enum {
    VX_ROUTE_SEARCH, VX_ROUTE_VIDEO, VX_ROUTE_SIMILAR, VX_ROUTE_MEDIA, VX_ROUTE_EVENTS, VX_ROUTE_FEED,
    VX_ROUTE_USER, VX_ROUTE_INDEX, VX_ROUTE_JOB, VX_ROUTE_HEALTHZ, VX_ROUTE_METRICS, VX_ROUTE_THUMB,
    VX_ROUTE_PAGE, VX_ROUTE_INFO, VX_ROUTE_TEXT, VX_ROUTE_TAGS, VX_ROUTE_TOKEN, VX_ROUTE_RENDITION, VX_ROUTE_OTHER,
    VX_N_ROUTES
} vx_route;

const char *vx_route_name(vx_route r);

typedef struct vx_metrics vx_metrics;

vx_metrics *vx_metrics_new(void);
void vx_metrics_free(vx_metrics *m);
void vx_metrics_observe(vx_metrics *m, vx_route route, int status, double seconds);
/* Open connections: +1 at accept, -1 at close. */
void vx_metrics_connections(vx_metrics *m, int delta);
/* Connections the server closed to protect the others (server.c, "connections"). */
typedef enum { VX_DROP_DEADLINE, VX_DROP_EVICTED, VX_DROP_PER_ADDRESS, VX_N_DROPS } vx_drop_reason;
void vx_metrics_dropped(vx_metrics *m, vx_drop_reason why);

/* Gauges the service adds at render time. */
typedef struct vx_gauges {
    int64_t videos, segments, users, engagements;
    double list_imbalance;                 /* the segment index's inverted lists, 1 when even (0: exact) */
    int64_t jobs_queued, jobs_running, jobs_done, jobs_failed;
    int64_t cache_entries;
    int64_t answer_cache_entries, answer_cache_bytes;
    uint64_t cache_hits, cache_misses;     /* text queries answered from the cache or not */
    uint64_t encoder_runs, encoder_queries;/* text tower runs and the queries they encoded */
    int64_t renditions_pending;            /* web-playable renditions queued or being made */
    uint64_t renditions_made, renditions_failed;
    uint64_t disk_free, disk_reserve;      /* bytes on the data folder's disk */
    int disk_ok;                           /* 0: full or failing (engine/disk.c) */
    int cluster;                           /* a cluster node: the four below are set */
    int cluster_connected;
    uint64_t log_applied, log_lag, log_skipped;
} vx_gauges;

void vx_metrics_render(vx_metrics *m, const vx_gauges *g, struct evbuffer *out);

#endif
