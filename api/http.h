/* vidx api: one HTTP request on its event loop, and the ways to answer it.
 *
 * server.c makes a vx_request for every request and hands it to the handler it was
 * started with (routes.c); the handler answers exactly once, now or later from the
 * same loop, with one of the vx_reply_* functions, which send the answer, count it in
 * the metrics, log it and free the request. Errors are JSON
 * {"error": {"code", "message"}} (DESIGN.md, "HTTP API").
 */
#ifndef VX_HTTP_H
#define VX_HTTP_H

#include <stddef.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "../common/coding.h"

#include "metrics.h"

typedef struct vx_request {
    struct evhttp_request *req;
    struct event_base *base;    /* its loop: later answers are made from there */
    void *loop;                 /* server.c's loop */
    void *ctx;                  /* the handler's context (server options) */
    vx_metrics *metrics;
    vx_route route;
    double t0;
    enum evhttp_cmd_type method;
    char *path;                 /* decoded path */
    struct evkeyvalq query;     /* decoded query parameters */
    int have_query;
    int closed;                 /* the client went away while we worked */
    void *token;                /* its connection's bookkeeping (server.c) */
    void (*on_finish)(struct vx_request *rq); /* server.c: in-flight count */
    char peer[64];              /* for the access log, copied at arrival */
    char uri[201];
} vx_request;

/* Each answers and frees rq. */
void vx_reply_json(vx_request *rq, int status, json_t *body); /* steals body */
void vx_reply_error(vx_request *rq, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void vx_reply_buffer(vx_request *rq, int status, const char *content_type, struct evbuffer *body);
/* A JSON document already written as text (vx_results_write), sent without a copy:
 * takes b's memory (b is left empty). 500 when b ran out of memory. */
void vx_reply_json_text(vx_request *rq, int status, vx_buf *b);

/* Query parameters. NULL when absent. */
const char *vx_param(vx_request *rq, const char *name);
/* A whole number within [min, max] (def when absent); replies 400 and returns -1 when not. */
int vx_param_int(vx_request *rq, const char *name, long def, long min, long max, long *out);
/* A number within [min, max] (def when absent); replies 400 and returns -1 when not. */
int vx_param_num(vx_request *rq, const char *name, double def, double min, double max, double *out);
/* The body as a JSON object of at most max_body bytes; replies and returns NULL when not. */
json_t *vx_json_body(vx_request *rq, size_t max_body);
/* 405 with the Allow header. */
void vx_reply_method_not_allowed(vx_request *rq, const char *allow);

#endif
