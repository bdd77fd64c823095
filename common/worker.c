#include "worker.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "vecmath.h"

static void *thread_main(void *arg) {
    vx_worker *w = arg;
    w->main(w);
    return NULL;
}

int vx_worker_start(vx_worker *w, const char *name, void (*main)(vx_worker *w), void *ctx, int max_queued, int drain,
                    vx_error *err) {
    memset(w, 0, sizeof *w);
    w->name = name;
    w->main = main;
    w->ctx = ctx;
    w->max_queued = max_queued;
    w->drain = drain;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, thread_main, w)) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        return vx_fail(err, "cannot start %s's thread", name);
    }
    w->started = 1;
    return 0;
}

vx_queue_node *vx_worker_stop(vx_worker *w) {
    if (!w->started) return NULL;
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->stopping, 1);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    w->started = 0;
    vx_queue_node *left = w->head;
    w->head = w->tail = NULL;
    w->queued = 0;
    return left;
}

static int push_at(vx_worker *w, vx_queue_node *item, int front) {
    item->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->queued >= w->max_queued || atomic_load(&w->stopping)) {
        pthread_mutex_unlock(&w->mu);
        return -1;
    }
    if (front) {
        item->next = w->head;
        w->head = item;
        if (!w->tail) w->tail = item;
    } else {
        if (w->tail) w->tail->next = item;
        else w->head = item;
        w->tail = item;
    }
    w->queued++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

int vx_worker_push(vx_worker *w, vx_queue_node *item) { return push_at(w, item, 0); }
int vx_worker_push_front(vx_worker *w, vx_queue_node *item) { return push_at(w, item, 1); }

void vx_worker_wake(vx_worker *w) {
    pthread_mutex_lock(&w->mu);
    w->woken = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

struct timespec vx_deadline_after(double seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (!(seconds > 0)) seconds = 0;
    if (seconds > 1e6) seconds = 1e6;
    double whole;
    const double frac = modf(seconds, &whole);
    ts.tv_sec += (time_t)whole;
    ts.tv_nsec += (long)(frac * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int vx_worker_take(vx_worker *w, vx_queue_node **out, int max, double timeout_s) {
    const struct timespec until = vx_deadline_after(timeout_s > 0 ? timeout_s : 0);
    int n = 0, timed_out = timeout_s == 0;
    pthread_mutex_lock(&w->mu);
    while (!w->head && !w->woken && !atomic_load(&w->stopping) && !timed_out) {
        if (timeout_s < 0) pthread_cond_wait(&w->cv, &w->mu);
        else timed_out = pthread_cond_timedwait(&w->cv, &w->mu, &until) == ETIMEDOUT;
    }
    const int stop = atomic_load(&w->stopping) && (!w->drain || !w->head);
    while (!stop && w->head && n < max) {
        out[n++] = w->head;
        w->head = w->head->next;
        w->queued--;
    }
    if (!w->head) w->tail = NULL;
    w->woken = 0;
    pthread_mutex_unlock(&w->mu);
    return stop ? -1 : n;
}

int vx_worker_queued(vx_worker *w) {
    pthread_mutex_lock(&w->mu);
    const int n = w->queued;
    pthread_mutex_unlock(&w->mu);
    return n;
}

int vx_worker_wait_quiet(vx_worker *w, const atomic_int_least64_t *last_busy_us, double quiet_s, double max_s) {
    const double start = vx_now();
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (atomic_load(&w->stopping)) break;
        const double now = vx_now();
        const double idle = now - (double)atomic_load_explicit(last_busy_us, memory_order_relaxed) * 1e-6;
        double wait = quiet_s - idle;
        if (max_s >= 0 && start + max_s - now < wait) wait = start + max_s - now;
        if (wait <= 0) break;
        const struct timespec until = vx_deadline_after(wait + 1e-3);
        pthread_cond_timedwait(&w->cv, &w->mu, &until);
    }
    const int stop = atomic_load(&w->stopping);
    pthread_mutex_unlock(&w->mu);
    return stop ? -1 : 0;
}

int vx_worker_pause(vx_worker *w, double seconds) {
    const double end = vx_now() + seconds;
    pthread_mutex_lock(&w->mu);
    while (!atomic_load(&w->stopping) && vx_now() < end) {
        const struct timespec until = vx_deadline_after(end - vx_now());
        pthread_cond_timedwait(&w->cv, &w->mu, &until);
    }
    const int stop = atomic_load(&w->stopping);
    pthread_mutex_unlock(&w->mu);
    return stop ? -1 : 0;
}

void vx_completion_signal(vx_completion *c) {
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void vx_completion_wait(vx_completion *c) {
    pthread_mutex_lock(&c->mu);
    while (!c->done) pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
}

void vx_completion_destroy(vx_completion *c) {
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
}
