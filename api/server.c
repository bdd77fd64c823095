/* vidx api: event loops, connection limits, start and stop of the HTTP server. What a
 * request gets is the handler's business (routes.c); answering is http.c's. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <omp.h>
#include <stdatomic.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "../common/idmap.h"
#include "../common/vecmath.h"
#include "../indexer/picture.h"

void vx_http_options_default(vx_http_options *o) {
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o->loops = cores > 2 ? (int)cores : 2;
    o->max_body = 1 << 20;
    o->max_headers = 16 << 10;
    o->max_connections = 1024;
    o->timeout_s = 30;
}

/* One per open connection, from accept to close (evhttp's close callback). */
typedef struct conn_token {
    struct loop *L;
    struct bufferevent *bev;
    struct evhttp_connection *evcon; /* known once evhttp has set the connection up */
    vx_request *rq;                  /* the request being answered, if any */
    uint32_t slot;
} conn_token;

/* ---- event loops ------------------------------------------------------------------------- */


typedef struct loop {
    vx_http_server *server;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    pthread_t thread;
    int connections, max_connections, paused;
    /* open connections: evcon pointer -> slots[i] */
    vx_idmap by_evcon;
    conn_token **slots;
    uint32_t n_slots, cap_slots, *free_slots, n_free;
    /* connections accepted whose evhttp connection is not known yet */
    conn_token **fresh;
    int n_fresh, cap_fresh;
    struct event *adopt;
} loop;

struct vx_http_server {
    vx_http_handler handler;
    void *ctx;
    vx_metrics *metrics;
    struct loop *loops;
    int n, started;
    atomic_int inflight; /* requests received and not yet answered */
};

static void pause_or_resume(loop *L) {
    struct evconnlistener *l = L->bound ? evhttp_bound_socket_get_listener(L->bound) : NULL;
    if (!l) return;
    if (!L->paused && L->connections >= L->max_connections) {
        if (evconnlistener_disable(l) == 0) L->paused = 1;
    } else if (L->paused && L->connections < L->max_connections) {
        if (evconnlistener_enable(l) == 0) L->paused = 0;
    }
}

static void token_release(loop *L, conn_token *t) {
    if (t->evcon) {
        vx_idmap_del(&L->by_evcon, (uint64_t)(uintptr_t)t->evcon);
        L->slots[t->slot] = NULL;
        L->free_slots[L->n_free++] = t->slot;
    }
    free(t);
    L->connections--;
    vx_metrics_connections(L->server->metrics, -1);
    pause_or_resume(L);
}

static void on_closed(struct evhttp_connection *c, void *arg) {
    (void)c;
    conn_token *t = arg;
    if (t->rq) t->rq->closed = 1; /* answered later, to nobody */
    token_release(t->L, t);
}

static conn_token *token_of(loop *L, struct evhttp_connection *evcon) {
    uint64_t i;
    return vx_idmap_get(&L->by_evcon, (uint64_t)(uintptr_t)evcon, &i) ? L->slots[i] : NULL;
}

/* Connection accounting. evhttp asks us for each new connection's bufferevent, then
 * sets it up with its callbacks (their argument is the evhttp connection); on the next
 * turn of the loop we find that connection and ask to be told when it closes. A loop at
 * its share of the connection limit stops accepting until one closes (the kernel's
 * backlog holds the rest). */
static void adopt_fresh(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    loop *L = arg;
    for (int i = 0; i < L->n_fresh; i++) {
        conn_token *t = L->fresh[i];
        void *cbarg = NULL;
        bufferevent_getcb(t->bev, NULL, NULL, NULL, &cbarg);
        if (!cbarg) { token_release(L, t); continue; } /* evhttp gave up on it */
        if (L->n_free == 0) {
            uint32_t cap = L->cap_slots ? 2 * L->cap_slots : 256;
            conn_token **s = realloc(L->slots, cap * sizeof *s);
            uint32_t *f = s ? realloc(L->free_slots, cap * sizeof *f) : NULL;
            if (s) L->slots = s;
            if (f) L->free_slots = f;
            if (!s || !f) { token_release(L, t); continue; } /* uncounted from now on */
            for (uint32_t k = L->cap_slots; k < cap; k++) L->free_slots[L->n_free++] = cap - 1 - (k - L->cap_slots);
            L->cap_slots = cap;
        }
        t->slot = L->free_slots[--L->n_free];
        t->evcon = cbarg;
        L->slots[t->slot] = t;
        if (vx_idmap_put(&L->by_evcon, (uint64_t)(uintptr_t)t->evcon, t->slot)) {
            L->free_slots[L->n_free++] = t->slot;
            t->evcon = NULL;
            token_release(L, t);
            continue;
        }
        evhttp_connection_set_closecb(t->evcon, on_closed, t);
    }
    L->n_fresh = 0;
}

static struct bufferevent *new_connection(struct event_base *base, void *arg) {
    loop *L = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    conn_token *t = bev ? calloc(1, sizeof *t) : NULL;
    if (t && L->n_fresh == L->cap_fresh) {
        int cap = L->cap_fresh ? 2 * L->cap_fresh : 16;
        conn_token **f = realloc(L->fresh, (size_t)cap * sizeof *f);
        if (f) { L->fresh = f; L->cap_fresh = cap; }
    }
    if (!t || L->n_fresh == L->cap_fresh) {
        free(t);
        return bev; /* uncounted */
    }
    t->L = L;
    t->bev = bev;
    L->fresh[L->n_fresh++] = t;
    L->connections++;
    vx_metrics_connections(L->server->metrics, 1);
    event_active(L->adopt, EV_TIMEOUT, 1);
    pause_or_resume(L);
    return bev;
}

/* Answered: the connection no longer waits on it, and one fewer is in flight. */
static void request_finished(vx_request *rq) {
    if (rq->token) ((conn_token *)rq->token)->rq = NULL;
    atomic_fetch_sub(&((loop *)rq->loop)->server->inflight, 1);
}

/* Every request enters here. */
static void on_request(struct evhttp_request *req, void *arg) {
    loop *L = arg;
    vx_request *rq = calloc(1, sizeof *rq);
    if (!rq) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    rq->req = req;
    rq->ctx = L->server->ctx;
    rq->metrics = L->server->metrics;
    rq->base = L->base;
    rq->loop = L;
    rq->on_finish = request_finished;
    rq->t0 = vx_now();
    rq->route = VX_ROUTE_OTHER;
    rq->method = evhttp_request_get_command(req);
    atomic_fetch_add(&L->server->inflight, 1);
    struct evhttp_connection *c = evhttp_request_get_connection(req);
    char *peer = NULL;
    ev_uint16_t port = 0;
    if (c) evhttp_connection_get_peer(c, &peer, &port);
    snprintf(rq->peer, sizeof rq->peer, "%s", peer ? peer : "-");
    /* Printable ASCII only: the log line must not carry the client's control bytes. */
    const char *uri = evhttp_request_get_uri(req);
    size_t n = 0;
    for (; uri && uri[n] && n < sizeof rq->uri - 1; n++)
        rq->uri[n] = uri[n] > 0x20 && uri[n] < 0x7f && uri[n] != '"' ? uri[n] : '?';
    rq->uri[n] = '\0';
    if (c) adopt_fresh(-1, 0, L); /* in case this request came before the adoption turn */
    conn_token *t = c ? token_of(L, c) : NULL;
    if (t) {
        t->rq = rq;
        rq->token = t;
    }
    L->server->handler(rq);
}

static void *run_loop(void *arg) {
    loop *L = arg;
    /* One request, one thread: FAISS would otherwise start an OpenMP team per search,
     * whose spinning threads fight the other loop for the two cores. */
    omp_set_num_threads(1);
    event_base_dispatch(L->base);
    return NULL;
}

static int listen_on(const char *host, int port, int *port_out, vx_error *err) {
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    struct sockaddr *sa;
    socklen_t len;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&a4;
        len = sizeof a4;
    } else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&a6;
        len = sizeof a6;
    } else {
        return vx_fail(err, "--listen: '%s' is not an IP address (use 127.0.0.1, 0.0.0.0 or an IPv6 address)", host);
    }
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0) return vx_fail(err, "socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, sa, len) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        close(fd);
        return vx_fail(err, "cannot listen on %s:%d: %s", host, port, strerror(e));
    }
    struct sockaddr_storage got;
    socklen_t gl = sizeof got;
    getsockname(fd, (struct sockaddr *)&got, &gl);
    *port_out = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                               : ((struct sockaddr_in6 *)&got)->sin6_port);
    return fd;
}

/* ---- start and stop ---------------------------------------------------------------------- */

static void stop_accepting(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    loop *L = arg;
    if (L->bound) evhttp_del_accept_socket(L->http, L->bound);
    L->bound = NULL;
}

vx_http_server *vx_http_start(const vx_http_options *o, vx_http_handler handler, void *ctx, vx_metrics *metrics,
                              int *port_out, vx_error *err) {
    if (evthread_use_pthreads()) { vx_fail(err, "libevent has no thread support"); return NULL; }
    int port = 0;
    int fd = listen_on(o->host, o->port, &port, err);
    if (fd < 0) return NULL;
    vx_http_server *S = calloc(1, sizeof *S);
    const int n = o->loops > 0 ? o->loops : 2;
    if (!S || !(S->loops = calloc((size_t)n, sizeof *S->loops))) {
        free(S);
        close(fd);
        vx_fail(err, "out of memory");
        return NULL;
    }
    S->handler = handler;
    S->ctx = ctx;
    S->metrics = metrics;
    S->n = n;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        loop *L = &S->loops[i];
        L->server = S;
        L->max_connections = (o->max_connections + n - 1) / n;
        int dfd = dup(fd); /* each loop closes its own when it stops accepting */
        if (dfd < 0 || !(L->base = event_base_new()) || !(L->http = evhttp_new(L->base))) {
            if (dfd >= 0) close(dfd);
            rc = vx_fail(err, "cannot create event loop %d", i);
            break;
        }
        if (!(L->adopt = event_new(L->base, -1, 0, adopt_fresh, L))) {
            close(dfd);
            rc = vx_fail(err, "cannot create event loop %d", i);
            break;
        }
        evhttp_set_gencb(L->http, on_request, L);
        evhttp_set_bevcb(L->http, new_connection, L);
        /* Pictures sent to POST /v1/search may be larger than JSON bodies, which their
         * routes hold to max_body themselves. A little beyond the picture limit, so that
         * a picture just over it gets the route's own answer (JSON, naming the limit). */
        const size_t most = VX_PICTURE_MAX_BYTES + (64u << 10);
        evhttp_set_max_body_size(L->http, (ev_ssize_t)(o->max_body > most ? o->max_body : most));
        evhttp_set_max_headers_size(L->http, (ev_ssize_t)o->max_headers);
        evhttp_set_timeout(L->http, o->timeout_s);
        evhttp_set_allowed_methods(L->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                                EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
        if (!(L->bound = evhttp_accept_socket_with_handle(L->http, dfd))) {
            close(dfd);
            rc = vx_fail(err, "cannot accept on the listening socket");
            break;
        }
        if (pthread_create(&L->thread, NULL, run_loop, L)) { rc = vx_fail(err, "cannot start a loop thread"); break; }
        S->started++;
    }
    close(fd);
    if (rc) {
        vx_http_free(S);
        return NULL;
    }
    *port_out = port;
    return S;
}

int vx_http_drain(vx_http_server *S, double seconds) {
    for (int i = 0; i < S->started; i++) event_base_once(S->loops[i].base, -1, EV_TIMEOUT, stop_accepting, &S->loops[i], NULL);
    int left = atomic_load(&S->inflight);
    double deadline = vx_now() + seconds;
    while (atomic_load(&S->inflight) > 0 && vx_now() < deadline) usleep(10000);
    return left;
}

void vx_http_stop(vx_http_server *S) {
    if (!S) return;
    for (int i = 0; i < S->started; i++) event_base_loopexit(S->loops[i].base, NULL);
    for (int i = 0; i < S->started; i++) pthread_join(S->loops[i].thread, NULL);
    S->started = 0;
}

void vx_http_free(vx_http_server *S) {
    if (!S) return;
    vx_http_stop(S);
    for (int i = 0; i < S->n; i++) {
        loop *L = &S->loops[i];
        if (L->http) evhttp_free(L->http); /* closes connections: tokens released */
        for (int f = 0; f < L->n_fresh; f++) free(L->fresh[f]);
        if (L->adopt) event_free(L->adopt);
        if (L->base) event_base_free(L->base);
        vx_idmap_free(&L->by_evcon);
        free(L->slots);
        free(L->free_slots);
        free(L->fresh);
    }
    free(S->loops);
    free(S);
}
