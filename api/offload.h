/* vidx api: a request's blocking work, off its event loop.
 *
 * Some engine operations wait on others: in a cluster a change waits for the log (up to
 * 6 s while a new leader is elected), a job's folders are walked, a sharded search asks
 * the other shards. A loop thread that waited would hold up every connection it serves,
 * so such work runs on a few threads of its own and the answer is made back on the
 * request's own loop, as a search's is after the encoder.
 *
 * A caller embeds a vx_offload_task as the FIRST member of its own struct, fills work
 * (run on an offload thread: the engine only, never evhttp or the request) and answer
 * (run on the request's loop: replies and frees the struct), then calls vx_offload_run.
 */
#ifndef VX_OFFLOAD_H
#define VX_OFFLOAD_H

#include <event2/event.h>

#include "../common/error.h"
#include "../common/worker.h"
#include "http.h"

typedef struct vx_offload_task {
    vx_queue_node link; /* first: queued intrusively */
    vx_request *rq;
    struct event *ev;   /* on rq's loop: runs answer */
    void (*work)(struct vx_offload_task *t);
    void (*answer)(struct vx_offload_task *t);
} vx_offload_task;

typedef struct vx_offload vx_offload;

#define VX_OFFLOAD_THREADS 4     /* so that one change waiting on the log does not hold up the rest */
#define VX_OFFLOAD_MAX_QUEUE 256 /* waiting per thread; beyond, 503 overloaded */

vx_offload *vx_offload_start(int threads, vx_error *err);
/* Runs what is queued, then stops the threads. Accepts NULL. */
void vx_offload_stop(vx_offload *o);
/* Queues t (t->rq set, work and answer filled). 0, or -1 when it cannot (out of memory,
 * the queues full, stopping): the request is then answered 503 and t is the caller's to
 * free. */
int vx_offload_run(vx_offload *o, vx_offload_task *t);

#endif
