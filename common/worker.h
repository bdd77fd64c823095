/* vidx common: the one way vidx runs background work.
 *
 * A worker is one thread with a queue, a wake flag and a stop flag, all under one mutex
 * and one condition variable, so it never sleeps or polls: it waits until an item is
 * queued, it is woken, it is told to stop, or a deadline it chose passes.
 *
 *   - Items are intrusive: a struct that is queued has a vx_queue_node as its FIRST
 *     member and is cast back from it. The worker owns no item.
 *   - The thread takes every item waiting, up to a batch, and handles them together
 *     (one text tower run, one synced write): under load a batch carries many items, and
 *     alone an item waits for nothing.
 *   - Stopping: pushes are refused from then on; with `drain`, items already queued are
 *     still taken (the event writer writes every event it accepted), without it they
 *     are left to their owner (jobs are records that run again at the next start). Long
 *     work polls vx_worker_stopping or hands &w->stopping to code that takes a cancel flag.
 *   - Waiting for quiet: background work that must not slow serving waits until a
 *     clock of the last foreground work is far enough behind (vx_worker_wait_quiet).
 *
 * Every background thread of the engine is one of these (engine/README.md lists them). */
#ifndef VX_WORKER_H
#define VX_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "error.h"

typedef struct vx_queue_node {
    struct vx_queue_node *next;
} vx_queue_node;

typedef struct vx_worker vx_worker;
struct vx_worker {
    const char *name;          /* for messages ("the event writer") */
    void (*main)(vx_worker *w);/* the thread's body; returns when vx_worker_take says stop */
    void *ctx;                 /* the owner's, for main */
    pthread_mutex_t mu;
    pthread_cond_t cv;         /* signalled on push, wake and stop */
    vx_queue_node *head, *tail;/* under mu */
    int queued, max_queued;    /* under mu */
    int woken;                 /* under mu: a wake not yet seen by take */
    int drain;                 /* stop: items queued are still taken */
    atomic_int stopping;       /* written under mu; read anywhere (a cancel flag for long work) */
    pthread_t thread;
    int started;
};

/* Starts w's thread running main(w). max_queued: items waiting beyond which pushes are
 * refused. -1 with err when the thread cannot start (w then needs no stop). */
int vx_worker_start(vx_worker *w, const char *name, void (*main)(vx_worker *w), void *ctx, int max_queued, int drain,
                    vx_error *err);
/* Tells the thread to stop, waits for it to end, and releases w. A zeroed w that never
 * started is fine. Returns the items left queued (without drain), in order, for their
 * owner to release. */
vx_queue_node *vx_worker_stop(vx_worker *w);

/* 0, or -1 (nothing queued) when the queue is full or the worker is stopping. */
int vx_worker_push(vx_worker *w, vx_queue_node *item);
/* The same, first in the queue (taken before what waits). */
int vx_worker_push_front(vx_worker *w, vx_queue_node *item);
/* Something changed that the thread should look at (vx_worker_take returns 0). */
void vx_worker_wake(vx_worker *w);
/* From the thread: blocks until items wait, a wake, stop or timeout_s (< 0: no
 * timeout), then takes up to max items into out, in order. Returns how many (0 on a wake
 * or the timeout), or -1 to stop (with drain: once nothing is left). */
int vx_worker_take(vx_worker *w, vx_queue_node **out, int max, double timeout_s);
/* Items waiting now. */
int vx_worker_queued(vx_worker *w);
static inline int vx_worker_stopping(const vx_worker *w) { return atomic_load(&w->stopping); }

/* From the thread: waits until *last_busy_us (a vx_now() clock in microseconds, set by
 * foreground work) is quiet_s behind, at most max_s in all (< 0: no limit). 0 then, -1
 * when told to stop meanwhile. Wakes and pushes do not end the wait. */
int vx_worker_wait_quiet(vx_worker *w, const atomic_int_least64_t *last_busy_us, double quiet_s, double max_s);
/* From the thread: waits seconds, or until stop (-1). */
int vx_worker_pause(vx_worker *w, double seconds);

/* seconds from now as CLOCK_REALTIME, what pthread_cond_timedwait takes (at most 1e6 s). */
struct timespec vx_deadline_after(double seconds);

/* One thread waits for another's single answer: the answering side fills its result,
 * then signals; the waiting side reads it after wait returns. */
typedef struct vx_completion {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} vx_completion;
#define VX_COMPLETION_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0}
void vx_completion_signal(vx_completion *c);
void vx_completion_wait(vx_completion *c);
void vx_completion_destroy(vx_completion *c);

#endif
