/* vidx api: the endpoints (DESIGN.md, "HTTP API"; every field and error in
 * schemas/api.md). vx_api_handle is the server's handler: rq->ctx is a vx_api. */
#ifndef VX_ROUTES_H
#define VX_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "../cluster/cluster.h"
#include "../engine/engine.h"
#include "access.h"
#include "http.h"

typedef struct vx_api {
    vx_engine *engine;
    vx_metrics *metrics;
    vx_access access;          /* credentials (access.h) */
    vx_cluster *cluster;       /* NULL on one machine */
    struct vx_offload *offload;/* blocking engine calls, off the loops (offload.h) */
    const char *const *allowed_hosts; /* Host names answered beside addresses and localhost */
    int n_allowed_hosts;
    size_t max_body;
    int64_t started_at;        /* unix seconds */
} vx_api;

void vx_api_handle(vx_request *rq);

#endif
