/* vidx api: event loops, connection limits, replies, the text encoder thread, start-up
 * and shutdown. The endpoints are in routes.c, indexing jobs in jobs.c. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <omp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "../common/idmap.h"
#include "../common/log.h"
#include "../common/lru.h"
#include "../common/vecmath.h"
#include "results_json.h"
#include "service.h"

void vx_server_options_default(vx_server_options *o) {
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o->loops = cores > 2 ? (int)cores : 2;
    o->max_body = 1 << 20;
    o->max_headers = 16 << 10;
    o->max_connections = 1024;
    o->timeout_s = 30;
    o->query_cache = 4096;
}

/* One per open connection, from accept to close (evhttp's close callback). */
typedef struct conn_token {
    struct loop *L;
    struct bufferevent *bev;
    struct evhttp_connection *evcon; /* known once evhttp has set the connection up */
    vx_request *rq;                  /* the request being answered, if any */
    uint32_t slot;
} conn_token;

/* ---- replies -------------------------------------------------------------------------- */

static void finish(vx_request *rq, int status, size_t bytes) {
    vx_service *S = rq->S;
    double dt = vx_now() - rq->t0;
    vx_metrics_observe(S->metrics, rq->route, status, dt);
    atomic_fetch_sub(&S->inflight, 1);
    if (vx_log_threshold <= VX_LOG_INFO)
        vx_info("access %s \"%s %s\" %d %zu %.2fms", rq->peer,
                rq->method == EVHTTP_REQ_GET ? "GET" : rq->method == EVHTTP_REQ_POST ? "POST"
                : rq->method == EVHTTP_REQ_HEAD ? "HEAD" : "OTHER",
                rq->uri, status, bytes, dt * 1e3);
    if (rq->have_query) evhttp_clear_headers(&rq->query);
    free(rq->path);
    free(rq);
}

static const char *reason_phrase(int status) {
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 206: return "Partial Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 416: return "Range Not Satisfiable";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "";
    }
}

void vx_reply_buffer(vx_request *rq, int status, const char *content_type, struct evbuffer *body) {
    size_t bytes = body ? evbuffer_get_length(body) : 0;
    if (rq->closed) { /* nobody to answer: the connection is gone */
        finish(rq, 499, 0);
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(rq->req);
    if (content_type) evhttp_add_header(h, "Content-Type", content_type);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    const int cacheable = (status == 200 || status == 206) && (rq->route == VX_ROUTE_THUMB || rq->route == VX_ROUTE_MEDIA);
    evhttp_add_header(h, "Cache-Control", cacheable ? "max-age=300" : rq->route == VX_ROUTE_PAGE ? "no-cache" : "no-store");
    if (rq->token) ((conn_token *)rq->token)->rq = NULL;
    evhttp_send_reply(rq->req, status, reason_phrase(status), body);
    finish(rq, status, bytes);
}

void vx_reply_json(vx_request *rq, int status, json_t *body) {
    struct evbuffer *b = evbuffer_new();
    char *s = body ? json_dumps(body, VX_JSON_FLAGS) : NULL;
    json_decref(body);
    if (!b || !s) {
        free(s);
        if (b) evbuffer_free(b);
        vx_reply_buffer(rq, 500, NULL, NULL);
        return;
    }
    evbuffer_add(b, s, strlen(s));
    evbuffer_add(b, "\n", 1);
    free(s);
    vx_reply_buffer(rq, status, "application/json", b);
    evbuffer_free(b);
}

void vx_reply_error(vx_request *rq, int status, const char *code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Messages may quote the client's bytes: jansson needs valid UTF-8. */
    json_t *m = json_string(msg);
    if (!m) m = json_string("(message not printable)");
    vx_reply_json(rq, status, json_pack("{s:{s:s, s:o}}", "error", "code", code, "message", m));
}

/* ---- event loops ------------------------------------------------------------------------- */


typedef struct loop {
    vx_service *S;
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
    atomic_fetch_sub(&L->S->connections, 1);
    pause_or_resume(L);
}

static void on_closed(struct evhttp_connection *c, void *arg) {
    (void)c;
    conn_token *t = arg;
    if (t->rq) t->rq->closed = 1; /* answered later, to nobody */
    token_release(t->L, t);
}

static conn_token *token_of(loop *L, struct evhttp_connection *evcon) {
    int64_t i = vx_idmap_get(&L->by_evcon, (uint64_t)(uintptr_t)evcon);
    return i >= 0 ? L->slots[i] : NULL;
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
    atomic_fetch_add(&L->S->connections, 1);
    event_active(L->adopt, EV_TIMEOUT, 1);
    pause_or_resume(L);
    return bev;
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
    rq->S = L->S;
    rq->base = L->base;
    rq->t0 = vx_now();
    rq->route = VX_ROUTE_OTHER;
    rq->method = evhttp_request_get_command(req);
    atomic_fetch_add(&L->S->inflight, 1);
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
    vx_route_request(rq);
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

/* ---- the text encoder thread ---------------------------------------------------------- */

/* Queries waiting when the encoder comes free are encoded together, up to this many:
 * the text tower reads its 151 MB of weights once per batch instead of once per query
 * (B/32 on this machine: 112 queries/s one at a time, 263/s in batches of 64). A query
 * that arrives alone is encoded alone, so nothing waits for a batch to fill. */
#define ENCODE_BATCH 16

struct vx_encoder {
    const vx_clip *model;
    vx_clip_ctx *ctx;
    vx_metrics *metrics;
    float *out;   /* [ENCODE_BATCH][proj_dim] */
    int proj_dim;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    vx_encode_task *head, *tail;
    int queued, stop;
};

static void *encode_loop(void *arg) {
    vx_encoder *e = arg;
    for (;;) {
        vx_encode_task *batch[ENCODE_BATCH];
        int n = 0;
        pthread_mutex_lock(&e->mu);
        while (!e->head && !e->stop) pthread_cond_wait(&e->cv, &e->mu);
        while (e->head && n < ENCODE_BATCH) {
            batch[n++] = e->head;
            e->head = e->head->next;
            e->queued--;
        }
        if (!e->head) e->tail = NULL;
        pthread_mutex_unlock(&e->mu);
        if (!n) return NULL; /* stopping and drained */
        const int32_t *ids[ENCODE_BATCH];
        int lens[ENCODE_BATCH];
        for (int i = 0; i < n; i++) {
            ids[i] = batch[i]->ids;
            lens[i] = batch[i]->n;
        }
        vx_error err;
        vx_metrics_encoded(e->metrics, n);
        if (vx_clip_encode_tokens(e->ctx, ids, lens, n, e->out, &err) == 0) {
            for (int i = 0; i < n; i++) {
                memcpy(batch[i]->out, e->out + (size_t)i * e->proj_dim, (size_t)e->proj_dim * sizeof *e->out);
                batch[i]->rc = 0;
            }
        } else {
            /* One bad query must not fail the others: each on its own, with its own error. */
            for (int i = 0; i < n; i++)
                batch[i]->rc = vx_clip_encode_tokens(e->ctx, &ids[i], &lens[i], 1, batch[i]->out, &batch[i]->err);
        }
        for (int i = 0; i < n; i++) batch[i]->done(batch[i]);
    }
}

static vx_encoder *encoder_start(const vx_clip *model, vx_metrics *metrics, vx_error *err) {
    vx_encoder *e = calloc(1, sizeof *e);
    if (!e) { vx_fail(err, "out of memory"); return NULL; }
    const vx_clip_config *c = vx_clip_get_config(model);
    e->model = model;
    e->metrics = metrics;
    e->proj_dim = c->proj_dim;
    e->out = malloc((size_t)ENCODE_BATCH * (size_t)c->proj_dim * sizeof *e->out);
    if (!e->out || !(e->ctx = vx_clip_ctx_new(model, 1, ENCODE_BATCH * c->context, err))) {
        if (!e->out) vx_fail(err, "out of memory");
        free(e->out);
        free(e);
        return NULL;
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    if (pthread_create(&e->thread, NULL, encode_loop, e)) {
        vx_clip_ctx_free(e->ctx);
        free(e->out);
        free(e);
        vx_fail(err, "cannot start the encoder thread");
        return NULL;
    }
    return e;
}

int vx_encoder_submit(vx_encoder *e, vx_encode_task *t) {
    t->next = NULL;
    pthread_mutex_lock(&e->mu);
    if (e->queued >= VX_ENCODER_MAX_QUEUE) {
        pthread_mutex_unlock(&e->mu);
        return -1;
    }
    if (e->tail) e->tail->next = t; else e->head = t;
    e->tail = t;
    e->queued++;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

static void encoder_stop(vx_encoder *e) {
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->stop = 1;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    vx_clip_ctx_free(e->ctx);
    free(e->out);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

/* ---- start and stop ------------------------------------------------------------------- */

static void load_model(vx_service *S) {
    vx_error err;
    vx_meta meta = {0};
    if (vx_catalog_get_meta(S->cat, &meta, &err) != 0) meta.model_fingerprint = 0;
    if (!S->opt.model_dir) {
        snprintf(S->model_problem, sizeof S->model_problem, "no model folder configured");
    } else if (!(S->model = vx_clip_load(S->opt.model_dir, &err))) {
        snprintf(S->model_problem, sizeof S->model_problem, "%s", err.msg);
    } else if (meta.model_fingerprint && vx_clip_fingerprint(S->model) != meta.model_fingerprint) {
        snprintf(S->model_problem, sizeof S->model_problem,
                 "%s is not the model this database was indexed with (%s): start with --model pointing at that one",
                 S->opt.model_dir, meta.model ? meta.model : "?");
        vx_clip_free(S->model);
        S->model = NULL;
    }
    vx_meta_clear(&meta);
    if (!S->model) vx_warn("text search and indexing are off: %s", S->model_problem);
}

static void service_close(vx_service *S) {
    if (S->jobs) vx_jobs_stop(S->jobs);
    encoder_stop(S->encoder);
    if (S->ann && S->cat) {
        vx_error err;
        if (vx_ann_save(S->ann, S->cat, &err)) vx_warn("could not save the vector index: %s", err.msg);
    }
    vx_rec_close(S->rec);
    vx_ann_close(S->ann);
    vx_query_cache_free(S->qcache);
    vx_lru_free(S->similar_cache);
    vx_clip_free(S->model);
    vx_catalog_close(S->cat);
    vx_metrics_free(S->metrics);
    pthread_rwlock_destroy(&S->ann_lock);
}

static int service_open(vx_service *S, const vx_server_options *o, vx_error *err) {
    memset(S, 0, sizeof *S);
    S->opt = *o;
    snprintf(S->data_dir, sizeof S->data_dir, "%s", o->data_dir);
    pthread_rwlock_init(&S->ann_lock, NULL);
    S->started_at = (int64_t)time(NULL);
    if (!(S->metrics = vx_metrics_new())) return vx_fail(err, "out of memory");
    if (!(S->cat = vx_catalog_open(o->data_dir, 1, err))) return -1;
    load_model(S);
    int dim = S->model ? vx_clip_get_config(S->model)->proj_dim : 0;
    if (!(S->ann = vx_ann_open(S->cat, o->data_dir, NULL, dim, err))) return -1;
    if (!(S->rec = vx_rec_open(S->cat, err))) return -1;
    if (!(S->similar_cache = vx_lru_new(65536))) return vx_fail(err, "out of memory");
    if (S->model) {
        if (!(S->qcache = vx_query_cache_new(o->query_cache > 0 ? o->query_cache : 1, dim)))
            return vx_fail(err, "out of memory");
        if (!(S->encoder = encoder_start(S->model, S->metrics, err))) return -1;
    }
    if (!(S->jobs = vx_jobs_start(S, err))) return -1;
    return 0;
}

static void stop_accepting(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    loop *L = arg;
    if (L->bound) evhttp_del_accept_socket(L->http, L->bound);
    L->bound = NULL;
}

int vx_serve(const vx_server_options *o, vx_error *err) {
    if (evthread_use_pthreads()) return vx_fail(err, "libevent has no thread support");
    /* The main thread takes the signals; every thread started from here inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int port = 0;
    int fd = listen_on(o->host, o->port, &port, err);
    if (fd < 0) return -1;
    vx_service S;
    if (service_open(&S, o, err)) {
        service_close(&S);
        close(fd);
        return -1;
    }
    const int n = o->loops > 0 ? o->loops : 2;
    loop *loops = calloc((size_t)n, sizeof *loops);
    int started = 0, rc = 0;
    for (int i = 0; loops && i < n; i++) {
        loop *L = &loops[i];
        L->S = &S;
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
        evhttp_set_max_body_size(L->http, (ev_ssize_t)o->max_body);
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
        started++;
    }
    close(fd);
    if (!loops) rc = vx_fail(err, "out of memory");
    if (rc == 0) {
        vx_info("serving %s on http://%s:%d/ (%d loops, %s)", S.data_dir, o->host, port, n,
                S.model ? "text search on" : "text search off: no model");
        if (o->ready_file) {
            char tmp[PATH_MAX];
            snprintf(tmp, sizeof tmp, "%s.tmp", o->ready_file);
            FILE *f = fopen(tmp, "w");
            if (f) {
                fprintf(f, "%s:%d\n", o->host, port);
                fclose(f);
                rename(tmp, o->ready_file);
            }
        }
        int sig = 0;
        sigwait(&sigs, &sig);
        vx_info("%s: shutting down (no new connections; finishing %d requests in flight)",
                sig == SIGINT ? "SIGINT" : "SIGTERM", atomic_load(&S.inflight));
    }
    /* Graceful: stop accepting on every loop, wait for answers in flight (bounded). */
    for (int i = 0; i < started; i++) event_base_once(loops[i].base, -1, EV_TIMEOUT, stop_accepting, &loops[i], NULL);
    double deadline = vx_now() + 10;
    while (atomic_load(&S.inflight) > 0 && vx_now() < deadline) usleep(10000);
    if (S.jobs) {
        vx_jobs_stop(S.jobs); /* the current file finishes; queued work resumes at the next start */
        S.jobs = NULL;
    }
    for (int i = 0; i < started; i++) event_base_loopexit(loops[i].base, NULL);
    for (int i = 0; i < started; i++) pthread_join(loops[i].thread, NULL);
    for (int i = 0; loops && i < n; i++) {
        if (loops[i].http) evhttp_free(loops[i].http); /* closes connections: tokens released */
        for (int f = 0; f < loops[i].n_fresh; f++) free(loops[i].fresh[f]);
        if (loops[i].adopt) event_free(loops[i].adopt);
        if (loops[i].base) event_base_free(loops[i].base);
        vx_idmap_free(&loops[i].by_evcon);
        free(loops[i].slots);
        free(loops[i].free_slots);
        free(loops[i].fresh);
    }
    free(loops);
    service_close(&S);
    if (rc == 0) vx_info("stopped cleanly");
    return rc;
}
