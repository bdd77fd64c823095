/* vidx api: answering requests (http.h). */
#include "http.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/util.h>

#include "../common/log.h"
#include "../common/vecmath.h"
#include "../present/json.h"

static void finish(vx_request *rq, int status, size_t bytes) {
    double dt = vx_now() - rq->t0;
    vx_metrics_observe(rq->metrics, rq->route, status, dt);
    if (rq->on_finish) rq->on_finish(rq);
    if (vx_log_threshold <= VX_LOG_INFO)
        vx_info("access %s \"%s %s\" %d %zu %.2fms", rq->peer,
                rq->method == EVHTTP_REQ_GET ? "GET" : rq->method == EVHTTP_REQ_POST ? "POST"
                : rq->method == EVHTTP_REQ_HEAD ? "HEAD" : rq->method == EVHTTP_REQ_DELETE ? "DELETE" : "OTHER",
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
    case 415: return "Unsupported Media Type";
    case 421: return "Misdirected Request";
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
    evhttp_send_reply(rq->req, status, reason_phrase(status), body);
    finish(rq, status, bytes);
}

static void free_data(const void *data, size_t len, void *arg) {
    (void)data;
    (void)len;
    free(arg);
}

/* Sends `data` (malloc'd, len bytes, taken) and a newline without copying it: the
 * connection's buffer frees it once written. */
static void reply_owned_json(vx_request *rq, int status, char *data, size_t len) {
    struct evbuffer *b = data ? evbuffer_new() : NULL;
    if (!b || evbuffer_add_reference(b, data, len, free_data, data)) {
        free(data);
        if (b) evbuffer_free(b);
        vx_reply_buffer(rq, 500, NULL, NULL);
        return;
    }
    evbuffer_add(b, "\n", 1);
    vx_reply_buffer(rq, status, "application/json", b);
    evbuffer_free(b);
}

void vx_reply_json(vx_request *rq, int status, json_t *body) {
    char *s = body ? json_dumps(body, VX_JSON_FLAGS) : NULL;
    json_decref(body);
    reply_owned_json(rq, status, s, s ? strlen(s) : 0);
}

void vx_reply_json_text(vx_request *rq, int status, vx_buf *text) {
    char *data = text->oom ? NULL : (char *)text->data;
    const size_t len = text->len;
    if (data) text->data = NULL; /* the reply owns it now */
    vx_buf_free(text);
    reply_owned_json(rq, status, data, len);
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

void vx_reply_method_not_allowed(vx_request *rq, const char *allow) {
    evhttp_add_header(evhttp_request_get_output_headers(rq->req), "Allow", allow);
    vx_reply_error(rq, 405, "method_not_allowed", "%s takes %s", rq->path, allow);
}

const char *vx_param(vx_request *rq, const char *name) {
    return rq->have_query ? evhttp_find_header(&rq->query, name) : NULL;
}

int vx_param_int(vx_request *rq, const char *name, long def, long min, long max, long *out) {
    const char *s = vx_param(rq, name);
    *out = def;
    if (!s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max) {
        vx_reply_error(rq, 400, "bad_parameter", "%s: must be a whole number from %ld to %ld", name, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int vx_param_num(vx_request *rq, const char *name, double def, double min, double max, double *out) {
    const char *s = vx_param(rq, name);
    *out = def;
    if (!s) return 0;
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !isfinite(v) || v < min || v > max) {
        vx_reply_error(rq, 400, "bad_parameter", "%s: must be a number from %g to %g", name, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* application/json, with parameters or not ("application/json; charset=utf-8"). A form
 * of another site can post text/plain, urlencoded or multipart without asking; JSON
 * needs a CORS preflight that this service never grants. */
static int is_json_type(const char *t) {
    static const char want[] = "application/json";
    if (!t || evutil_ascii_strncasecmp(t, want, sizeof want - 1) != 0) return 0;
    t += sizeof want - 1;
    while (*t == ' ' || *t == '\t') t++;
    return *t == '\0' || *t == ';';
}

json_t *vx_json_body(vx_request *rq, size_t max_body) {
    struct evbuffer *in = evhttp_request_get_input_buffer(rq->req);
    size_t n = evbuffer_get_length(in);
    if (!is_json_type(evhttp_find_header(evhttp_request_get_input_headers(rq->req), "Content-Type"))) {
        vx_reply_error(rq, 415, "bad_content_type", "the body must be sent as Content-Type: application/json");
        return NULL;
    }
    if (n == 0) {
        vx_reply_error(rq, 400, "bad_body", "the request needs a JSON object body");
        return NULL;
    }
    if (n > max_body) {
        vx_reply_error(rq, 413, "body_too_large", "the body is larger than %zu bytes", max_body);
        return NULL;
    }
    const char *data = (const char *)evbuffer_pullup(in, -1);
    json_error_t je;
    json_t *j = data ? json_loadb(data, n, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!j) {
        vx_reply_error(rq, 400, "bad_json", "the body is not valid JSON: %s (at byte %d)", je.text, je.position);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        vx_reply_error(rq, 400, "bad_json", "the body must be a JSON object");
        return NULL;
    }
    return j;
}
