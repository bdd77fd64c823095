/* vidx engine: the event writer thread.
 *
 * Every event is durable before it is acknowledged (a synced LevelDB write), and a
 * user's record is read, changed and written back, so writes of events must be
 * serialised. Doing that on the caller's thread would stall an event loop for every
 * sync and serialise all loops behind one lock. Instead callers queue validated events
 * here; the writer takes every event waiting (up to GROUP_MAX), applies them in one
 * synced batch (vx_engine_apply_events), and calls each caller's done(). Under load a
 * sync then carries many events; alone, an event waits for nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

#define GROUP_MAX 64
#define QUEUE_MAX 4096 /* events waiting; beyond, new ones are refused (busy) */

typedef struct pending_event {
    vx_queue_node link;     /* first: queued by it */
    vx_op op;               /* user and dedup_key owned */
    vx_event_done done;
    void *arg;
} pending_event;

struct vx_event_writer {
    vx_engine *e;
    vx_worker worker;
};

static void write_loop(vx_worker *worker) {
    vx_event_writer *w = worker->ctx;
    vx_queue_node *group[GROUP_MAX];
    vx_op ops[GROUP_MAX];
    vx_event_stored stored[GROUP_MAX];
    int status[GROUP_MAX];
    vx_error errs[GROUP_MAX];
    for (;;) {
        const int n = vx_worker_take(worker, group, GROUP_MAX, -1);
        if (n < 0) return; /* stopping and drained */
        if (n == 0) continue;
        for (int i = 0; i < n; i++) ops[i] = ((pending_event *)group[i])->op;
        vx_engine_commit_events(w->e, ops, n, stored, status, errs);
        for (int i = 0; i < n; i++) {
            pending_event *p = (pending_event *)group[i];
            p->done(p->arg, status[i], status[i] ? NULL : &stored[i], status[i] ? &errs[i] : NULL);
            free(p->op.user);
            free((char *)p->op.dedup_key);
            free(p);
        }
    }
}

vx_event_writer *vx_event_writer_start(vx_engine *e, vx_error *err) {
    vx_event_writer *w = calloc(1, sizeof *w);
    if (!w) { vx_fail(err, "out of memory"); return NULL; }
    w->e = e;
    if (vx_worker_start(&w->worker, "the event writer", write_loop, w, QUEUE_MAX, 1, err)) {
        free(w);
        return NULL;
    }
    return w;
}

int vx_event_writer_submit(vx_event_writer *w, const vx_op *op, vx_event_done done, void *arg, vx_error *err) {
    pending_event *p = calloc(1, sizeof *p);
    if (!p || !(p->op.user = strdup(op->user))) {
        free(p);
        vx_fail(err, "out of memory");
        return VX_E_INTERNAL;
    }
    p->op.kind = VX_OP_EVENT;
    p->op.event = op->event;
    if (op->dedup_key && !(p->op.dedup_key = strdup(op->dedup_key))) {
        free(p->op.user);
        free(p);
        vx_fail(err, "out of memory");
        return VX_E_INTERNAL;
    }
    p->done = done;
    p->arg = arg;
    if (vx_worker_push(&w->worker, &p->link)) {
        free(p->op.user);
        free((char *)p->op.dedup_key);
        free(p);
        vx_fail(err, "too many events waiting to be written; try again shortly");
        return VX_E_BUSY;
    }
    return VX_OK;
}

void vx_event_writer_stop(vx_event_writer *w) {
    if (!w) return;
    vx_worker_stop(&w->worker); /* what is queued is still written */
    free(w);
}
