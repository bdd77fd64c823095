/* vidx api: the HTTP service behind `vidx serve` (DESIGN.md, "HTTP API").
 *
 * Threads:
 *   - N event loops (libevent evhttp), each accepting on the same listening socket, so
 *     cheap requests use every core;
 *   - one text encoder: uncached search queries are encoded there and answered back on
 *     their loop, so a 10 ms encoding never holds up other requests;
 *   - one indexing job runner: POST /v1/index queues a job, and each video it indexes
 *     becomes searchable as soon as it is committed;
 *   - the main thread, waiting for SIGTERM or SIGINT.
 * Shutdown: stop accepting, let in-flight requests finish (bounded wait), stop the job
 * runner after its current file, save the indexes, close the database.
 */
#ifndef VX_SERVER_H
#define VX_SERVER_H

#include <stddef.h>

#include "../common/error.h"

typedef struct vx_server_options {
    const char *data_dir;
    const char *model_dir;      /* resolved model folder; it may be missing (searches then say so) */
    const char *host;           /* default 127.0.0.1 */
    int port;                   /* 0 = any free port (printed) */
    int loops;                  /* event loop threads; default: one per core, at least 2 */
    const char *admin_token;    /* NULL: admin endpoints answer 403 */
    size_t max_body;            /* bytes; default 1 MiB */
    size_t max_headers;         /* bytes of request line and headers; default 16 KiB */
    int max_connections;        /* default 1024 */
    int timeout_s;              /* idle / slow client timeout, default 30 */
    int query_cache;            /* query embeddings kept, default 4096 */
    const char *ready_file;     /* written with "HOST:PORT\n" once listening (tests, scripts) */
} vx_server_options;

void vx_server_options_default(vx_server_options *o);

/* Runs until SIGTERM or SIGINT. Returns 0 after a clean shutdown, -1 with err when the
 * service could not start. */
int vx_serve(const vx_server_options *o, vx_error *err);

#endif
