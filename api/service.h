/* vidx api, internal: the state every request handler shares, and the helpers they
 * answer with. Only the api module includes this. */
#ifndef VX_SERVICE_H
#define VX_SERVICE_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "../ann/ann.h"
#include "../encoder/clip.h"
#include "../recommend/feed.h"
#include "../schemas/catalog.h"
#include "metrics.h"
#include "query_cache.h"
#include "server.h"

#define VX_API_MAX_K 1000
#define VX_API_MAX_OFFSET 10000
#define VX_API_MAX_QUERY 1000 /* bytes of query text */

typedef struct vx_jobs vx_jobs;
typedef struct vx_encoder vx_encoder;

typedef struct vx_service {
    vx_server_options opt;
    char data_dir[PATH_MAX];
    vx_catalog *cat;
    vx_ann *ann;
    pthread_rwlock_t ann_lock;  /* searches read; the job runner writes */
    vx_recommender *rec;
    vx_clip *model;             /* NULL when missing */
    char model_problem[1024];   /* why, and how to get it */
    vx_encoder *encoder;
    vx_query_cache *qcache;
    struct vx_lru *similar_cache;  /* similar-video answers, valid while ann_version holds */
    atomic_uint_least64_t ann_version; /* bumped by every change to the vector index */
    vx_metrics *metrics;
    vx_jobs *jobs;
    atomic_int connections;
    atomic_int inflight;        /* requests received and not yet answered */
    int64_t started_at;
} vx_service;

/* One request on its event loop. */
typedef struct vx_request {
    struct evhttp_request *req;
    vx_service *S;
    struct event_base *base;
    vx_route route;
    double t0;
    enum evhttp_cmd_type method;
    char *path;                 /* decoded path */
    struct evkeyvalq query;     /* decoded query parameters */
    int have_query;
    int closed;                 /* the client went away while we worked */
    void *token;                /* its connection's bookkeeping (server.c) */
    char peer[64];              /* for the access log, copied at arrival */
    char uri[201];
} vx_request;

/* Answers and frees rq. */
void vx_reply_json(vx_request *rq, int status, json_t *body); /* steals body */
void vx_reply_error(vx_request *rq, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void vx_reply_buffer(vx_request *rq, int status, const char *content_type, struct evbuffer *body);

/* Routes (api/routes.c). */
void vx_route_request(vx_request *rq);

/* The text encoder thread (api/server.c): encodes ids and calls done(arg) on its thread. */
typedef struct vx_encode_task {
    int32_t ids[80];
    int n;
    float *out;                 /* [proj_dim] */
    int rc;
    vx_error err;
    void (*done)(struct vx_encode_task *t);
    void *arg;
    struct vx_encode_task *next;
} vx_encode_task;
/* Returns -1 (and does nothing) when VX_ENCODER_MAX_QUEUE queries already wait. */
int vx_encoder_submit(vx_encoder *e, vx_encode_task *t);
#define VX_ENCODER_MAX_QUEUE 256 /* ~2.5 s of encoding: beyond, new queries get 503 */

/* Jobs (api/jobs.c). */
vx_jobs *vx_jobs_start(vx_service *S, vx_error *err);
/* Stops after the current file; returns when the runner has exited. */
void vx_jobs_stop(vx_jobs *j);
/* Queues the paths; returns the job id, 0 with err on failure. */
uint64_t vx_jobs_submit(vx_jobs *j, const char *const *paths, int n, vx_error *err);
/* The job as JSON (with live progress when running); NULL with found = 0 when unknown. */
json_t *vx_jobs_describe(vx_jobs *j, uint64_t id, int *found, vx_error *err);
void vx_jobs_counts(vx_jobs *j, int64_t *queued, int64_t *running, int64_t *done, int64_t *failed);

#endif
