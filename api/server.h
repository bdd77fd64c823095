/* vidx api: the HTTP server under `vidx serve`.
 *
 * N event loops (libevent evhttp), each accepting on the same listening socket, so
 * cheap requests use every core. Every request goes to the handler given at start
 * (http.h says how it is answered). Connections are policed (server.c,
 * "connections"): a deadline for each request, eviction of the connection waiting
 * longest at the limit, a per-address cap, body limits by route from Content-Length.
 */
#ifndef VX_SERVER_H
#define VX_SERVER_H

#include <stddef.h>

#include "../common/error.h"
#include "http.h"
#include "metrics.h"

typedef struct vx_http_options {
    const char *host;           /* default 127.0.0.1 */
    int port;                   /* 0 = any free port */
    int loops;                  /* event loop threads; default: one per core, at least 2 */
    size_t max_body;            /* bytes of a JSON body; default 1 MiB */
    size_t max_picture_body;    /* bytes of a picture (POST /v1/search); default VX_PICTURE_MAX_BYTES */
    size_t max_headers;         /* bytes of request line and headers; default 16 KiB */
    int max_connections;        /* default 1024; beyond, the connection waiting longest goes */
    int max_per_address;        /* connections from one address (IPv6: /64), loopback exempt; default 64 */
    int head_timeout_s;         /* a request's head and body arrive within this of its first byte, default 10 ... */
    int min_body_rate;          /* ... plus a second per this many bytes received, default 16 KiB */
    int timeout_s;              /* inactivity: idle between requests, stalled while written to; default 30 */
} vx_http_options;

void vx_http_options_default(vx_http_options *o);

typedef void (*vx_http_handler)(vx_request *rq);
typedef struct vx_http_server vx_http_server;

/* Listens and starts the loops; *port_out is the port listened on. NULL with err. */
vx_http_server *vx_http_start(const vx_http_options *o, vx_http_handler handler, void *ctx, vx_metrics *metrics,
                              int *port_out, vx_error *err);
/* Stops accepting and waits (at most `seconds`) for the requests in flight; returns how
 * many were in flight when it began. */
int vx_http_drain(vx_http_server *s, double seconds);
/* Stops the loops (their state stays: late answers from other threads find it). */
void vx_http_stop(vx_http_server *s);
/* Stops if needed, closes every connection, frees. Accepts NULL. */
void vx_http_free(vx_http_server *s);

#endif
