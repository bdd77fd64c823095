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

#include "../common/hash.h"
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
    o->max_per_address = 64;
    o->head_timeout_s = 10;
    o->min_body_rate = 16 << 10;
    o->max_picture_body = VX_PICTURE_MAX_BYTES;
    o->timeout_s = 30;
}

/* One per open connection, from accept to close (evhttp's close callback). */
typedef struct conn_token {
    struct loop *L;
    struct bufferevent *bev;
    struct evhttp_connection *evcon; /* known once evhttp has set the connection up */
    struct evbuffer_cb_entry *counting; /* counts the bytes that arrive (bytes) */
    vx_request *rq;                  /* the request being answered, if any */
    uint32_t slot;
    uint64_t peer;                   /* its address's key in the per-address counts; 0: not counted */
    double since;                    /* its request's first byte (or its accept, its last answer) */
    uint64_t bytes;                  /* bytes received since then */
    int route_known;                 /* the request line has been seen: its body limit is set */
    int doomed;                      /* over its address's cap: closed once it is not answering */
} conn_token;

/* ---- event loops ------------------------------------------------------------------------- */


typedef struct loop {
    vx_http_server *server;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    pthread_t thread;
    int connections, max_connections, paused;
    int busy;        /* connections whose request is being answered: never evicted */
    struct event *sweep; /* once a second: requests past their deadline */
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
    vx_http_options o;
    /* open connections per client address (every loop's), for the per-address cap */
    pthread_mutex_t peers_lock;
    vx_idmap peers;
};

/* ---- connections -------------------------------------------------------------------------
 * What keeps one client, or many slow ones, from locking everyone else out:
 * - a deadline for each request: from its first byte its head and body must arrive
 *   within head_timeout_s, plus one second per min_body_rate bytes received (a client
 *   that trickles a header line every few seconds is closed after head_timeout_s, however
 *   often it sends). A connection silent between requests is closed by evhttp's
 *   inactivity timeout (timeout_s), or sooner by eviction;
 * - at the connection limit a new connection evicts the one that has waited longest for
 *   its next request, so a new client (a health check, a local operator) always gets in;
 *   only when every connection has a request being answered does the loop stop accepting;
 * - at most max_per_address connections per client address (IPv6 by its /64), loopback
 *   exempt (a local reverse proxy carries many clients);
 * - a body larger than its route allows is refused from its Content-Length before it is
 *   read: the request line is seen as the first bytes arrive, and the connection's body
 *   limit set for its route (pictures for POST /v1/search, JSON for the rest). */

static int is_loopback(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET) return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family != AF_INET6) return 0;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(a)) return 1;
    return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
}

/* The per-address key of a peer: an IPv4 address alone, an IPv6 one by its /64; 0 for
 * loopback and what is not IP (not counted). */
static uint64_t peer_key(const struct sockaddr *sa) {
    if (!sa || is_loopback(sa)) return 0;
    unsigned char k[9] = {0};
    if (sa->sa_family == AF_INET) {
        k[0] = 4;
        memcpy(k + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) { k[0] = 4; memcpy(k + 1, a->s6_addr + 12, 4); }
        else { k[0] = 6; memcpy(k + 1, a->s6_addr, 8); }
    } else {
        return 0;
    }
    uint64_t h = vx_hash64(k, sizeof k);
    return h == 0 || h == UINT64_MAX ? 1 : h;
}

/* Counts one more connection from key; -1 (not counted) when it has its cap already. */
static int peer_enter(vx_http_server *S, uint64_t key) {
    uint64_t n = 0;
    int r = 0;
    pthread_mutex_lock(&S->peers_lock);
    vx_idmap_get(&S->peers, key, &n);
    if ((int)n >= S->o.max_per_address || vx_idmap_put(&S->peers, key, n + 1)) r = -1;
    pthread_mutex_unlock(&S->peers_lock);
    return r;
}

static void peer_leave(vx_http_server *S, uint64_t key) {
    uint64_t n = 0;
    pthread_mutex_lock(&S->peers_lock);
    if (vx_idmap_get(&S->peers, key, &n)) {
        if (n <= 1) vx_idmap_del(&S->peers, key);
        else vx_idmap_put(&S->peers, key, n - 1); /* overwrite: never fails */
    }
    pthread_mutex_unlock(&S->peers_lock);
}

/* Accepting stops only when no connection could make room: every one is answering. */
static void pause_or_resume(loop *L) {
    struct evconnlistener *l = L->bound ? evhttp_bound_socket_get_listener(L->bound) : NULL;
    if (!l) return;
    const int full = L->connections >= L->max_connections && L->busy >= L->connections;
    if (!L->paused && full) {
        if (evconnlistener_disable(l) == 0) L->paused = 1;
    } else if (L->paused && !full) {
        if (evconnlistener_enable(l) == 0) L->paused = 0;
    }
}

static void token_release(loop *L, conn_token *t) {
    if (t->evcon) {
        vx_idmap_del(&L->by_evcon, (uint64_t)(uintptr_t)t->evcon);
        L->slots[t->slot] = NULL;
        L->free_slots[L->n_free++] = t->slot;
        if (t->counting) evbuffer_remove_cb_entry(bufferevent_get_input(t->bev), t->counting);
    }
    if (t->rq) L->busy--;
    if (t->peer) peer_leave(L->server, t->peer);
    free(t);
    L->connections--;
    vx_metrics_connections(L->server->metrics, -1);
    pause_or_resume(L);
}

static void on_closed(struct evhttp_connection *c, void *arg) {
    (void)c;
    conn_token *t = arg;
    if (t->rq) { /* answered later, to nobody */
        t->rq->closed = 1;
        t->rq->token = NULL;
    }
    token_release(t->L, t);
}

static conn_token *token_of(loop *L, struct evhttp_connection *evcon) {
    uint64_t i;
    return vx_idmap_get(&L->by_evcon, (uint64_t)(uintptr_t)evcon, &i) ? L->slots[i] : NULL;
}

/* Closes a connection that has no request being answered (its token goes with it). */
static void drop(conn_token *t, vx_drop_reason why) {
    vx_metrics_dropped(t->L->server->metrics, why);
    evhttp_connection_free(t->evcon);
}

/* The connection that has waited longest for its next request, or NULL. */
static conn_token *longest_waiting(loop *L) {
    conn_token *oldest = NULL;
    for (uint32_t i = 0; i < L->cap_slots; i++) {
        conn_token *t = L->slots[i];
        if (t && !t->rq && (!oldest || t->since < oldest->since)) oldest = t;
    }
    return oldest;
}

/* Sets the connection's body limit from its request line, once the line (or enough of it)
 * is in: only POST /v1/search takes a picture. */
static void set_body_limit(conn_token *t, struct evbuffer *in) {
    if (t->route_known || !t->evcon) return;
    char line[20];
    const ev_ssize_t got = evbuffer_copyout(in, line, sizeof line - 1);
    const size_t have = got > 0 ? (size_t)got : 0;
    static const char picture_route[] = "POST /v1/search";
    const size_t pl = sizeof picture_route - 1;
    if (have <= pl && !memchr(line, '\n', have)) return; /* not enough yet */
    const int picture = have > pl && memcmp(line, picture_route, pl) == 0 && (line[pl] == ' ' || line[pl] == '?');
    const vx_http_options *o = &t->L->server->o;
    evhttp_connection_set_max_body_size(t->evcon, (ev_ssize_t)(picture ? o->max_picture_body : o->max_body));
    t->route_known = 1;
}

static void on_input(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg) {
    conn_token *t = arg;
    if (!info->n_added) return;
    if (!t->bytes) t->since = vx_now(); /* a request begins: its deadline runs from here */
    t->bytes += info->n_added;
    set_body_limit(t, in);
}

/* Ready for its next request: its deadline starts with its first byte. */
static void restart_clock(conn_token *t) {
    t->since = vx_now();
    t->bytes = 0;
    t->route_known = 0;
    if (t->evcon) set_body_limit(t, bufferevent_get_input(t->bev)); /* a pipelined request already in */
}

/* Once a second: closes connections whose request is past its deadline. A connection
 * still writing its last answer is not waiting (evhttp's own timeout covers writes). */
static void sweep(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    loop *L = arg;
    const vx_http_options *o = &L->server->o;
    const double now = vx_now();
    for (uint32_t i = 0; i < L->cap_slots; i++) {
        conn_token *t = L->slots[i];
        if (!t || t->rq) continue;
        if (evbuffer_get_length(bufferevent_get_output(t->bev))) {
            t->since = now;
            t->bytes = 0;
            continue;
        }
        if (!t->bytes && !t->doomed) continue; /* idle between requests: evhttp's --timeout */
        if (t->doomed) drop(t, VX_DROP_PER_ADDRESS);
        else if (now - t->since > o->head_timeout_s + (double)t->bytes / o->min_body_rate) drop(t, VX_DROP_DEADLINE);
    }
}

/* Over the limit, the connections waiting longest for their next request go. */
static void make_room(loop *L) {
    conn_token *oldest;
    while (L->connections > L->max_connections && (oldest = longest_waiting(L))) drop(oldest, VX_DROP_EVICTED);
    pause_or_resume(L);
}

/* Connection accounting. evhttp asks us for each new connection's bufferevent, then
 * sets it up with its callbacks (their argument is the evhttp connection); on the next
 * turn of the loop (or at its first request, if that comes first) we find that
 * connection, count its address and ask to be told when it closes. From inside a
 * request (may_drop 0) a connection over its address's cap is only marked: its request
 * is answered, then the sweep closes it. */
static void adopt(loop *L, int may_drop) {
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
            for (uint32_t k = L->cap_slots; k < cap; k++) {
                L->slots[k] = NULL;
                L->free_slots[L->n_free++] = cap - 1 - (k - L->cap_slots);
            }
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
        evhttp_connection_set_max_body_size(t->evcon, (ev_ssize_t)L->server->o.max_body);
        if (!(t->counting = evbuffer_add_cb(bufferevent_get_input(t->bev), on_input, t))) {
            t->doomed = 1; /* uncounted bytes: no deadline beyond the sweep's next turn */
            continue;
        }
        const uint64_t key = peer_key(evhttp_connection_get_addr(t->evcon));
        if (key && peer_enter(L->server, key)) { /* its address has its share */
            if (may_drop) drop(t, VX_DROP_PER_ADDRESS);
            else t->doomed = 1;
            continue;
        }
        t->peer = key;
        set_body_limit(t, bufferevent_get_input(t->bev)); /* bytes that came before the adoption */
    }
    L->n_fresh = 0;
}

static void on_adopt(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    adopt(arg, 1);
    make_room(arg);
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
    t->since = vx_now();
    L->fresh[L->n_fresh++] = t;
    L->connections++;
    vx_metrics_connections(L->server->metrics, 1);
    event_active(L->adopt, EV_TIMEOUT, 1);
    return bev;
}

/* Answered: the connection no longer waits on it, and one fewer is in flight. */
static void request_finished(vx_request *rq) {
    conn_token *t = rq->token;
    if (t) {
        t->rq = NULL;
        t->L->busy--;
        restart_clock(t);
        pause_or_resume(t->L);
    }
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
    if (c) adopt(L, 0); /* in case this request came before the adoption turn */
    conn_token *t = c ? token_of(L, c) : NULL;
    if (t) {
        t->rq = rq;
        rq->token = t;
        L->busy++;
        make_room(L); /* never this connection: it is answering */
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
    S->o = *o;
    S->o.host = NULL; /* not owned */
    if (S->o.min_body_rate < 1) S->o.min_body_rate = 1;
    pthread_mutex_init(&S->peers_lock, NULL);
    int rc = vx_idmap_init(&S->peers, 64) ? vx_fail(err, "out of memory") : 0;
    for (int i = 0; i < n && !rc; i++) {
        loop *L = &S->loops[i];
        L->server = S;
        L->max_connections = (o->max_connections + n - 1) / n;
        int dfd = dup(fd); /* each loop closes its own when it stops accepting */
        if (dfd < 0 || !(L->base = event_base_new()) || !(L->http = evhttp_new(L->base))) {
            if (dfd >= 0) close(dfd);
            rc = vx_fail(err, "cannot create event loop %d", i);
            break;
        }
        const struct timeval second = {1, 0};
        if (!(L->adopt = event_new(L->base, -1, 0, on_adopt, L)) ||
            !(L->sweep = event_new(L->base, -1, EV_PERSIST, sweep, L)) || event_add(L->sweep, &second)) {
            close(dfd);
            rc = vx_fail(err, "cannot create event loop %d", i);
            break;
        }
        evhttp_set_gencb(L->http, on_request, L);
        evhttp_set_bevcb(L->http, new_connection, L);
        /* Each connection's body limit is its route's (set_body_limit); this is the most. */
        evhttp_set_max_body_size(L->http, (ev_ssize_t)(o->max_body > o->max_picture_body ? o->max_body
                                                                                        : o->max_picture_body));
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
        if (L->sweep) event_free(L->sweep);
        if (L->base) event_base_free(L->base);
        vx_idmap_free(&L->by_evcon);
        free(L->slots);
        free(L->free_slots);
        free(L->fresh);
    }
    free(S->loops);
    vx_idmap_free(&S->peers);
    pthread_mutex_destroy(&S->peers_lock);
    free(S);
}
