/* vidx api: a request's blocking work, off its event loop (offload.h). */
#include "offload.h"

#include <stdatomic.h>
#include <stdlib.h>

struct vx_offload {
    int n;
    atomic_uint next; /* round robin */
    vx_worker *threads;
};

static void on_done(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    vx_offload_task *t = arg;
    struct event *ev = t->ev;
    t->answer(t); /* frees t */
    event_free(ev);
}

static void offload_main(vx_worker *w) {
    for (;;) {
        vx_queue_node *taken[8];
        int n = vx_worker_take(w, taken, 8, -1);
        if (n < 0) return; /* stopping and drained */
        for (int i = 0; i < n; i++) {
            vx_offload_task *t = (vx_offload_task *)taken[i];
            t->work(t);
            event_active(t->ev, EV_READ, 1);
        }
    }
}

vx_offload *vx_offload_start(int threads, vx_error *err) {
    vx_offload *o = calloc(1, sizeof *o);
    if (!o || !(o->threads = calloc((size_t)threads, sizeof *o->threads))) {
        free(o);
        vx_fail(err, "out of memory");
        return NULL;
    }
    for (; o->n < threads; o->n++)
        if (vx_worker_start(&o->threads[o->n], "a request worker", offload_main, o, VX_OFFLOAD_MAX_QUEUE, 1, err)) {
            vx_offload_stop(o);
            return NULL;
        }
    return o;
}

void vx_offload_stop(vx_offload *o) {
    if (!o) return;
    for (int i = 0; i < o->n; i++) vx_worker_stop(&o->threads[i]); /* drains: every task queued is worked */
    free(o->threads);
    free(o);
}

int vx_offload_run(vx_offload *o, vx_offload_task *t) {
    if (!(t->ev = event_new(t->rq->base, -1, 0, on_done, t))) {
        vx_reply_error(t->rq, 503, "overloaded", "out of memory");
        return -1;
    }
    /* The next thread, or any other with room. */
    const unsigned first = atomic_fetch_add(&o->next, 1);
    for (int k = 0; k < o->n; k++)
        if (vx_worker_push(&o->threads[(first + (unsigned)k) % (unsigned)o->n], &t->link) == 0) return 0;
    event_free(t->ev);
    t->ev = NULL;
    vx_reply_error(t->rq, 503, "overloaded", "too many requests waiting for the engine; try again shortly");
    return -1;
}
