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
    vx_op op;               /* user owned */
    vx_event_done done;
    void *arg;
    struct pending_event *next;
} pending_event;

struct vx_event_writer {
    vx_engine *e;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pending_event *head, *tail;
    int queued, stop;
};

static void *write_loop(void *arg) {
    vx_event_writer *w = arg;
    pending_event *group[GROUP_MAX];
    vx_op ops[GROUP_MAX];
    vx_event_stored stored[GROUP_MAX];
    int status[GROUP_MAX];
    vx_error errs[GROUP_MAX];
    for (;;) {
        int n = 0;
        pthread_mutex_lock(&w->mu);
        while (!w->head && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
        while (w->head && n < GROUP_MAX) {
            group[n++] = w->head;
            w->head = w->head->next;
            w->queued--;
        }
        if (!w->head) w->tail = NULL;
        pthread_mutex_unlock(&w->mu);
        if (!n) return NULL; /* stopping and drained */
        for (int i = 0; i < n; i++) ops[i] = group[i]->op;
        vx_engine_apply_events(w->e, ops, n, stored, status, errs);
        for (int i = 0; i < n; i++) {
            group[i]->done(group[i]->arg, status[i], status[i] ? NULL : &stored[i], status[i] ? &errs[i] : NULL);
            free(group[i]->op.user);
            free(group[i]);
        }
    }
}

vx_event_writer *vx_event_writer_start(vx_engine *e, vx_error *err) {
    vx_event_writer *w = calloc(1, sizeof *w);
    if (!w) { vx_fail(err, "out of memory"); return NULL; }
    w->e = e;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, write_loop, w)) {
        free(w);
        vx_fail(err, "cannot start the event writer thread");
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
    p->done = done;
    p->arg = arg;
    pthread_mutex_lock(&w->mu);
    if (w->queued >= QUEUE_MAX || w->stop) {
        pthread_mutex_unlock(&w->mu);
        free(p->op.user);
        free(p);
        vx_fail(err, "too many events waiting to be written; try again shortly");
        return VX_E_BUSY;
    }
    if (w->tail) w->tail->next = p;
    else w->head = p;
    w->tail = p;
    w->queued++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return VX_OK;
}

void vx_event_writer_stop(vx_event_writer *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1; /* what is queued is still written */
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
