/* vidx api: the HTTP server under `vidx serve`.
 *
 * N event loops (libevent evhttp), each accepting on the same listening socket, so
 * cheap requests use every core. Every request goes to the handler given at start
 * (http.h says how it is answered). A loop at its share of the connection limit stops
 * accepting until one closes (the kernel's backlog holds the rest).
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
    size_t max_body;            /* bytes; default 1 MiB */
    size_t max_headers;         /* bytes of request line and headers; default 16 KiB */
    int max_connections;        /* default 1024 */
    int timeout_s;              /* idle / slow client timeout, default 30 */
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
