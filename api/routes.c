/* vidx api: the endpoints of DESIGN.md's HTTP API, each validating what it is given
 * and answering through the helpers of service.h. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "../ann/search.h"
#include "../common/hash.h"
#include "../common/log.h"
#include "../common/lru.h"
#include "../common/utf8.h"
#include "../common/vecmath.h"
#include "../encoder/tokenizer.h"
#include "../indexer/thumbs.h"
#include "../recommend/events.h"
#include "http_parse.h"
#include "results_json.h"
#include "web_assets.h"
#include "service.h"

/* ---- parameters ----------------------------------------------------------------------------- */

static const char *param(vx_request *rq, const char *name) {
    return rq->have_query ? evhttp_find_header(&rq->query, name) : NULL;
}

/* Integer parameter within [min, max]; replies 400 and returns -1 when malformed. */
static int int_param(vx_request *rq, const char *name, long def, long min, long max, long *out) {
    const char *s = param(rq, name);
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

static int num_param(vx_request *rq, const char *name, double def, double min, double max, double *out) {
    const char *s = param(rq, name);
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

static void method_not_allowed(vx_request *rq, const char *allow) {
    evhttp_add_header(evhttp_request_get_output_headers(rq->req), "Allow", allow);
    vx_reply_error(rq, 405, "method_not_allowed", "%s takes %s", rq->path, allow);
}

/* Admin endpoints: "Authorization: Bearer TOKEN", compared in constant time. */
static int admin_ok(vx_request *rq) {
    const char *want = rq->S->opt.admin_token;
    if (!want || !*want) {
        vx_reply_error(rq, 403, "admin_disabled",
                       "admin endpoints are off: start the service with VIDX_ADMIN_TOKEN set (or --admin-token-file)");
        return 0;
    }
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(rq->req), "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) {
        evhttp_add_header(evhttp_request_get_output_headers(rq->req), "WWW-Authenticate", "Bearer");
        vx_reply_error(rq, 401, "unauthorized", "this endpoint needs the admin token: Authorization: Bearer TOKEN");
        return 0;
    }
    const char *got = h + 7;
    size_t gl = strlen(got), wl = strlen(want);
    unsigned diff = (unsigned)(gl ^ wl);
    for (size_t i = 0; i < wl; i++) diff |= (unsigned char)want[i] ^ (unsigned char)(i < gl ? got[i] : 0);
    if (diff) {
        vx_reply_error(rq, 403, "forbidden", "wrong admin token");
        return 0;
    }
    return 1;
}

/* The request body as JSON (object); replies and returns NULL when it is not. */
static json_t *json_body(vx_request *rq) {
    struct evbuffer *in = evhttp_request_get_input_buffer(rq->req);
    size_t n = evbuffer_get_length(in);
    if (n == 0) {
        vx_reply_error(rq, 400, "bad_body", "the request needs a JSON object body");
        return NULL;
    }
    if (n > rq->S->opt.max_body) {
        vx_reply_error(rq, 413, "body_too_large", "the body is larger than %zu bytes", rq->S->opt.max_body);
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

/* ---- search ------------------------------------------------------------------------------- */

typedef struct search_task {
    vx_encode_task t;
    vx_request *rq;
    struct event *ev;
    char *q;
    long k, offset;
    vx_search_filters f;
    char *prefix;
    double t0;
    float emb[];
} search_task;

static void search_free(search_task *s) {
    if (s->ev) event_free(s->ev);
    free(s->q);
    free(s->prefix);
    free(s);
}

static void answer_search(search_task *s, const float *q) {
    vx_request *rq = s->rq;
    vx_service *S = rq->S;
    vx_results r = {0};
    vx_error err;
    pthread_rwlock_rdlock(&S->ann_lock);
    int rc = vx_search_vector(S->ann, S->cat, q, (int)s->k, (int)s->offset, &s->f, &r, &err);
    pthread_rwlock_unlock(&S->ann_lock);
    if (rc) vx_reply_error(rq, 500, "internal", "search failed: %s", err.msg);
    else vx_reply_json(rq, 200, vx_results_json(s->q, (vx_now() - s->t0) * 1e3, &r));
    vx_results_free(&r);
}

/* Back on the request's loop after the encoder thread. */
static void on_encoded(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    search_task *s = arg;
    if (s->t.rc) {
        vx_reply_error(s->rq, 500, "internal", "encoding the query failed: %s", s->t.err.msg);
    } else {
        vx_query_cache_put(s->rq->S->qcache, s->t.ids, s->t.n, s->emb);
        answer_search(s, s->emb);
    }
    search_free(s);
}

/* On the encoder thread. */
static void encoded(vx_encode_task *t) {
    search_task *s = t->arg;
    event_active(s->ev, EV_READ, 1);
}

static void do_search(vx_request *rq) {
    vx_service *S = rq->S;
    if (!S->model) {
        vx_reply_error(rq, 503, "model_missing", "text search needs the CLIP model: %s", S->model_problem);
        return;
    }
    const char *q = param(rq, "q");
    if (!q || !*q) { vx_reply_error(rq, 400, "bad_parameter", "q: the query text is missing"); return; }
    size_t ql = strlen(q);
    if (ql > VX_API_MAX_QUERY) {
        vx_reply_error(rq, 400, "bad_parameter", "q: longer than %d bytes", VX_API_MAX_QUERY);
        return;
    }
    if (!vx_utf8_valid(q, ql)) { vx_reply_error(rq, 400, "bad_parameter", "q: not valid UTF-8"); return; }
    long k, offset;
    double mind, maxd;
    if (int_param(rq, "k", 10, 1, VX_API_MAX_K, &k) || int_param(rq, "offset", 0, 0, VX_API_MAX_OFFSET, &offset) ||
        num_param(rq, "min_duration", 0, 0, 1e9, &mind) || num_param(rq, "max_duration", 0, 0, 1e9, &maxd))
        return;
    const char *prefix = param(rq, "path");
    if (prefix && (strlen(prefix) > VX_MAX_PATH || !vx_utf8_valid(prefix, strlen(prefix)))) {
        vx_reply_error(rq, 400, "bad_parameter", "path: longer than %d bytes or not UTF-8", VX_MAX_PATH);
        return;
    }
    const int dim = vx_clip_get_config(S->model)->proj_dim;
    search_task *s = calloc(1, sizeof *s + (size_t)dim * sizeof(float));
    if (!s || !(s->q = strdup(q)) || (prefix && !(s->prefix = strdup(prefix)))) {
        if (s) search_free(s);
        vx_reply_error(rq, 503, "overloaded", "out of memory");
        return;
    }
    s->rq = rq;
    s->k = k;
    s->offset = offset;
    s->f = (vx_search_filters){.min_duration = mind, .max_duration = maxd, .path_prefix = s->prefix};
    s->t0 = rq->t0;
    vx_error err;
    int ctxlen = vx_clip_get_config(S->model)->context;
    s->t.n = vx_tokenize(vx_clip_tokenizer(S->model), q, s->t.ids, ctxlen < 80 ? ctxlen : 80, &err);
    if (s->t.n < 0) {
        search_free(s);
        vx_reply_error(rq, 400, "bad_parameter", "q: %s", err.msg);
        return;
    }
    if (vx_query_cache_get(S->qcache, s->t.ids, s->t.n, s->emb)) {
        vx_metrics_cache(S->metrics, 1);
        answer_search(s, s->emb);
        search_free(s);
        return;
    }
    vx_metrics_cache(S->metrics, 0);
    s->t.out = s->emb;
    s->t.done = encoded;
    s->t.arg = s;
    if (!(s->ev = event_new(rq->base, -1, 0, on_encoded, s))) {
        search_free(s);
        vx_reply_error(rq, 503, "overloaded", "out of memory");
        return;
    }
    if (vx_encoder_submit(S->encoder, &s->t)) {
        search_free(s);
        evhttp_add_header(evhttp_request_get_output_headers(rq->req), "Retry-After", "1");
        vx_reply_error(rq, 503, "overloaded", "too many new queries waiting to be encoded; try again shortly");
    }
}

/* ---- videos ---------------------------------------------------------------------------------- */

/* Fetches an indexed (or failed) video; replies 404 and returns 1 when there is none. */
static int get_video(vx_request *rq, uint64_t id, vx_video *v) {
    vx_error err;
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(id, hex);
    int r = vx_catalog_get_video(rq->S->cat, id, v, &err);
    if (r < 0) { vx_reply_error(rq, 500, "internal", "%s", err.msg); return 1; }
    if (r > 0 || v->status == VX_VIDEO_REMOVED) {
        if (r == 0) vx_video_clear(v);
        vx_reply_error(rq, 404, "unknown_video", "no video %s%s", hex, r ? "" : " (its file was removed)");
        return 1;
    }
    return 0;
}

static int add_segment_json(void *ctx, uint64_t video_id, uint32_t index, const vx_segment *s) {
    json_t *arr = ctx;
    char hex[VX_ID_HEX_LEN], thumb[64];
    vx_id_to_hex(video_id, hex);
    snprintf(thumb, sizeof thumb, "/thumbs/%s-%u.jpg", hex, index);
    json_array_append_new(arr, json_pack("{s:i, s:f, s:f, s:s}", "index", (int)index, "start", s->start, "end", s->end,
                                         "thumbnail", thumb));
    return 0;
}

static void do_video(vx_request *rq, uint64_t id) {
    vx_video v;
    if (get_video(rq, id, &v)) return;
    char hex[VX_ID_HEX_LEN], thumb[64], dup[VX_ID_HEX_LEN];
    vx_id_to_hex(v.id, hex);
    snprintf(thumb, sizeof thumb, "/thumbs/%s.jpg", hex);
    json_t *segs = json_array();
    vx_error err;
    uint64_t seg_owner = v.duplicate_of ? v.duplicate_of : v.id;
    if (v.status == VX_VIDEO_INDEXED) vx_catalog_scan_segments(rq->S->cat, seg_owner, add_segment_json, segs, NULL, &err);
    json_t *o = json_pack("{s:s, s:s, s:s, s:f, s:f, s:i, s:i, s:s, s:I, s:I, s:s, s:o}", "video_id", hex, "title",
                          v.title, "path", v.path, "duration", v.duration, "fps", v.fps, "width", (int)v.width, "height",
                          (int)v.height, "status", vx_video_status_name(v.status), "created_at",
                          (json_int_t)v.created_at, "updated_at", (json_int_t)v.updated_at, "thumbnail", thumb,
                          "segments", segs);
    if (o && v.failure && *v.failure) json_object_set_new(o, "failure", json_string(v.failure));
    if (o && v.duplicate_of) {
        vx_id_to_hex(v.duplicate_of, dup);
        json_object_set_new(o, "duplicate_of", json_string(dup));
    }
    vx_video_clear(&v);
    vx_reply_json(rq, 200, o);
}

static void do_similar(vx_request *rq, uint64_t id) {
    long k, offset;
    if (int_param(rq, "k", 10, 1, VX_API_MAX_K, &k) || int_param(rq, "offset", 0, 0, VX_API_MAX_OFFSET, &offset))
        return;
    vx_service *S = rq->S;
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(id, hex);
    /* Answers stay valid until the index changes: cached by (video, k, offset). An
     * answer cached at this index version is for a video still indexed, so a hit needs
     * no record read. */
    const uint64_t key_parts[3] = {id, (uint64_t)k, (uint64_t)offset};
    const uint64_t key = vx_hash64(key_parts, sizeof key_parts), version = atomic_load(&S->ann_version);
    size_t len;
    char *tail = vx_lru_get(S->similar_cache, key, version, &len);
    struct evbuffer *b = tail ? evbuffer_new() : NULL;
    if (b) {
        evbuffer_add_printf(b, "{\"query\":\"%s\",\"took_ms\":%.1f,", hex, (vx_now() - rq->t0) * 1e3);
        evbuffer_add(b, tail, len);
        free(tail);
        vx_reply_buffer(rq, 200, "application/json", b);
        evbuffer_free(b);
        return;
    }
    free(tail); /* a hit but no buffer for it: answered afresh */
    vx_video v;
    if (get_video(rq, id, &v)) return;
    if (v.status != VX_VIDEO_INDEXED) {
        vx_video_clear(&v);
        vx_reply_error(rq, 404, "unknown_video", "video %s could not be indexed, so it has no neighbours", hex);
        return;
    }
    vx_results r = {0};
    vx_error err;
    pthread_rwlock_rdlock(&S->ann_lock);
    int rc = vx_search_similar_to(S->ann, S->cat, &v, (int)k, (int)offset, &r, &err); /* no second read */
    pthread_rwlock_unlock(&S->ann_lock);
    vx_video_clear(&v);
    json_t *o = rc ? NULL : vx_results_json(hex, (vx_now() - rq->t0) * 1e3, &r);
    vx_results_free(&r);
    if (rc) { vx_reply_error(rq, 500, "internal", "%s", err.msg); return; }
    char *s = o ? json_dumps(o, VX_JSON_FLAGS) : NULL;
    const char *total = s ? strstr(s, "\"total\":") : NULL; /* keys keep their order */
    if (total) {
        size_t n = strlen(total);
        char *with_nl = malloc(n + 1);
        if (with_nl) {
            memcpy(with_nl, total, n);
            with_nl[n] = '\n';
            vx_lru_put(S->similar_cache, key, version, with_nl, n + 1);
            free(with_nl);
        }
    }
    free(s);
    vx_reply_json(rq, 200, o);
}

/* ---- media ----------------------------------------------------------------------------------- */

/* The indexed video's file, whole or one byte range (206), for the web page's player. */
static void do_media(vx_request *rq, uint64_t id) {
    vx_video v;
    if (get_video(rq, id, &v)) return;
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(id, hex);
    if (v.status != VX_VIDEO_INDEXED) {
        vx_video_clear(&v);
        vx_reply_error(rq, 404, "unknown_video", "video %s is not indexed", hex);
        return;
    }
    int fd = open(v.path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    const char *type = vx_http_media_type(v.path);
    vx_video_clear(&v);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        vx_reply_error(rq, 404, "unknown_video", "the file of video %s is gone (index its folder again)", hex);
        return;
    }
    const uint64_t size = (uint64_t)st.st_size;
    uint64_t from = 0, to = size ? size - 1 : 0;
    struct evkeyvalq *out = evhttp_request_get_output_headers(rq->req);
    evhttp_add_header(out, "Accept-Ranges", "bytes");
    int r = vx_http_parse_range(evhttp_find_header(evhttp_request_get_input_headers(rq->req), "Range"), size, &from, &to);
    char buf[96];
    if (r < 0) {
        close(fd);
        snprintf(buf, sizeof buf, "bytes */%llu", (unsigned long long)size);
        evhttp_add_header(out, "Content-Range", buf);
        vx_reply_error(rq, 416, "bad_range", "the Range does not fit the %llu bytes of the file",
                       (unsigned long long)size);
        return;
    }
    if (r > 0) {
        snprintf(buf, sizeof buf, "bytes %llu-%llu/%llu", (unsigned long long)from, (unsigned long long)to,
                 (unsigned long long)size);
        evhttp_add_header(out, "Content-Range", buf);
    }
    struct evbuffer *b = evbuffer_new();
    const uint64_t len = size ? to - from + 1 : 0;
    if (!b || (len && evbuffer_add_file(b, fd, (ev_off_t)from, (ev_off_t)len) != 0)) {
        if (b) evbuffer_free(b);
        else close(fd);
        vx_reply_error(rq, 500, "internal", "cannot read the file of video %s", hex);
        return;
    }
    if (!len) close(fd);
    vx_reply_buffer(rq, r > 0 ? 206 : 200, type, b);
    evbuffer_free(b);
}

/* ---- users ----------------------------------------------------------------------------------- */

static void do_event(vx_request *rq, const char *user) {
    json_t *b = json_body(rq);
    if (!b) return;
    char why[200];
    vx_event_request req;
    int bad = vx_http_event_from_json(b, user, &req, why, sizeof why);
    json_decref(b);
    if (bad) {
        vx_reply_error(rq, 400, "bad_event", "%s", why);
        return;
    }
    vx_service *S = rq->S;
    vx_event_stored st;
    vx_error err;
    int r = vx_event_record(S->cat, &req, vx_wall_ms(), &st, &err);
    if (r == VX_EVENT_BAD_INPUT) { vx_reply_error(rq, 400, "bad_event", "%s", err.msg); return; }
    if (r == VX_EVENT_UNKNOWN_VIDEO) { vx_reply_error(rq, 404, "unknown_video", "%s", err.msg); return; }
    if (r) { vx_reply_error(rq, 500, "internal", "%s", err.msg); return; }
    if (vx_rec_observe(S->rec, user, &st.event, st.fraction, &err)) vx_warn("recommender: %s", err.msg);
    vx_reply_json(rq, 201, vx_event_json(user, &st));
}

static void do_feed(vx_request *rq, const char *user) {
    long k;
    double d;
    vx_feed_options fo;
    vx_feed_options_default(&fo);
    if (int_param(rq, "k", 20, 1, VX_FEED_MAX_K, &k) || num_param(rq, "diversity", fo.diversity, 0, 1, &d)) return;
    fo.k = (int)k;
    fo.diversity = (float)d;
    fo.ann_version = atomic_load(&rq->S->ann_version) + 1; /* + 1: never 0 (no caching) */
    vx_service *S = rq->S;
    vx_feed f;
    vx_error err;
    pthread_rwlock_rdlock(&S->ann_lock);
    int rc = vx_rec_feed(S->rec, S->cat, S->ann, user, &fo, &f, &err);
    pthread_rwlock_unlock(&S->ann_lock);
    if (rc) { vx_reply_error(rq, 500, "internal", "%s", err.msg); return; }
    vx_reply_json(rq, 200, vx_feed_json(user, (vx_now() - rq->t0) * 1e3, &f));
    vx_feed_free(&f);
}

static void do_user(vx_request *rq, const char *user) {
    vx_user u;
    vx_error err;
    int r = vx_catalog_get_user(rq->S->cat, user, &u, &err);
    if (r < 0) { vx_reply_error(rq, 500, "internal", "%s", err.msg); return; }
    if (r > 0) { vx_reply_error(rq, 404, "unknown_user", "no user '%s' (users appear with their first event)", user); return; }
    json_t *o = json_pack("{s:s, s:I, s:I, s:f, s:s}", "user", u.name, "created_at", (json_int_t)u.created_at, "events",
                          (json_int_t)u.n_events, "last_event", (double)u.last_event_ms / 1e3, "feed", "");
    char feed[128];
    snprintf(feed, sizeof feed, "/v1/users/%s/feed", u.name);
    if (o) json_object_set_new(o, "feed", json_string(feed));
    vx_user_clear(&u);
    vx_reply_json(rq, 200, o);
}

/* ---- jobs ------------------------------------------------------------------------------------ */

static void do_index(vx_request *rq) {
    if (!admin_ok(rq)) return;
    vx_service *S = rq->S;
    if (!S->model) { vx_reply_error(rq, 503, "model_missing", "indexing needs the CLIP model: %s", S->model_problem); return; }
    json_t *b = json_body(rq);
    if (!b) return;
    json_t *paths = json_object_get(b, "paths");
    size_t n = json_is_array(paths) ? json_array_size(paths) : 0;
    if (n == 0 || n > VX_MAX_JOB_ITEMS) {
        json_decref(b);
        vx_reply_error(rq, 400, "bad_paths", "paths: must be an array of 1 to %d file or folder paths", VX_MAX_JOB_ITEMS);
        return;
    }
    const char **list = malloc(n * sizeof *list);
    for (size_t i = 0; list && i < n; i++) {
        json_t *p = json_array_get(paths, i);
        const char *s = json_string_value(p);
        if (!s || !*s || json_string_length(p) != strlen(s) || strlen(s) > VX_MAX_PATH) {
            free(list);
            json_decref(b);
            vx_reply_error(rq, 400, "bad_paths", "paths[%zu]: must be a non-empty path of at most %d bytes", i,
                           VX_MAX_PATH);
            return;
        }
        list[i] = s;
    }
    vx_error err;
    uint64_t id = list ? vx_jobs_submit(S->jobs, list, (int)n, &err) : 0;
    free(list);
    json_decref(b);
    if (!id) { vx_reply_error(rq, 500, "internal", "%s", list ? err.msg : "out of memory"); return; }
    char hex[VX_ID_HEX_LEN], url[64];
    vx_id_to_hex(id, hex);
    snprintf(url, sizeof url, "/v1/jobs/%s", hex);
    evhttp_add_header(evhttp_request_get_output_headers(rq->req), "Location", url);
    vx_reply_json(rq, 202, json_pack("{s:s, s:s, s:s}", "job_id", hex, "state", "queued", "status", url));
}

static void do_job(vx_request *rq, uint64_t id) {
    if (!admin_ok(rq)) return;
    int found = 0;
    vx_error err;
    json_t *o = vx_jobs_describe(rq->S->jobs, id, &found, &err);
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(id, hex);
    if (!o && found) vx_reply_error(rq, 500, "internal", "%s", err.msg);
    else if (!o) vx_reply_error(rq, 404, "unknown_job", "no job %s", hex);
    else vx_reply_json(rq, 200, o);
}

/* ---- service ----------------------------------------------------------------------------------- */

static int is_get(const vx_request *rq) { return rq->method == EVHTTP_REQ_GET || rq->method == EVHTTP_REQ_HEAD; }

/* The web page: files compiled in from api/web/. */
static int do_page(vx_request *rq, const char *path) {
    for (const vx_web_asset *a = vx_web_assets; a->path; a++) {
        if (strcmp(a->path, path) != 0) continue;
        rq->route = VX_ROUTE_PAGE;
        if (!is_get(rq)) {
            method_not_allowed(rq, "GET");
            return 1;
        }
        struct evbuffer *b = evbuffer_new();
        if (!b || evbuffer_add_reference(b, a->data, a->len, NULL, NULL)) {
            if (b) evbuffer_free(b);
            vx_reply_error(rq, 503, "overloaded", "out of memory");
            return 1;
        }
        struct evkeyvalq *h = evhttp_request_get_output_headers(rq->req);
        /* Nothing from elsewhere, no framing: the page needs neither. */
        evhttp_add_header(h, "Content-Security-Policy",
                          "default-src 'self'; img-src 'self'; media-src 'self'; frame-ancestors 'none'");
        evhttp_add_header(h, "X-Frame-Options", "DENY");
        vx_reply_buffer(rq, 200, a->type, b);
        evbuffer_free(b);
        return 1;
    }
    return 0;
}

static void do_healthz(vx_request *rq) {
    vx_service *S = rq->S;
    pthread_rwlock_rdlock(&S->ann_lock);
    json_int_t videos = vx_ann_count_videos(S->ann), segments = vx_ann_count_segments(S->ann);
    pthread_rwlock_unlock(&S->ann_lock);
    vx_reply_json(rq, 200, json_pack("{s:s, s:I, s:I, s:b, s:I}", "status", "ok", "videos", videos, "segments", segments,
                                     "text_search", S->model != NULL, "uptime_s",
                                     (json_int_t)((int64_t)time(NULL) - S->started_at)));
}

static void do_metrics(vx_request *rq) {
    vx_service *S = rq->S;
    vx_gauges g = {0};
    pthread_rwlock_rdlock(&S->ann_lock);
    g.videos = vx_ann_count_videos(S->ann);
    g.segments = vx_ann_count_segments(S->ann);
    pthread_rwlock_unlock(&S->ann_lock);
    uint64_t users, vids, edges;
    vx_rec_stats(S->rec, &users, &vids, &edges);
    g.users = (int64_t)users;
    g.engagements = (int64_t)edges;
    g.connections = atomic_load(&S->connections);
    g.cache_entries = S->qcache ? (int64_t)vx_query_cache_size(S->qcache) : 0;
    vx_jobs_counts(S->jobs, &g.jobs_queued, &g.jobs_running, &g.jobs_done, &g.jobs_failed);
    struct evbuffer *b = evbuffer_new();
    if (!b) { vx_reply_error(rq, 503, "overloaded", "out of memory"); return; }
    vx_metrics_render(S->metrics, &g, b);
    vx_reply_buffer(rq, 200, "text/plain; version=0.0.4; charset=utf-8", b);
    evbuffer_free(b);
}

/* /thumbs/ID.jpg or /thumbs/ID-SEGMENT.jpg: names are parsed, never used as paths. */
static void do_thumb(vx_request *rq, const char *name) {
    uint64_t id;
    long seg;
    int ok = vx_http_parse_thumb_name(name, &id, &seg) == 0;
    if (!ok) { vx_reply_error(rq, 404, "not_found", "no such thumbnail"); return; }
    char path[PATH_MAX + 64];
    vx_thumb_path(rq->S->data_dir, id, (int)seg, path, sizeof path);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        vx_reply_error(rq, 404, "not_found", "no such thumbnail");
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b || evbuffer_add_file(b, fd, 0, st.st_size) != 0) {
        if (b) evbuffer_free(b);
        else close(fd);
        vx_reply_error(rq, 500, "internal", "cannot read the thumbnail");
        return;
    }
    vx_reply_buffer(rq, 200, "image/jpeg", b);
    evbuffer_free(b);
}

/* ---- routing ------------------------------------------------------------------------------------- */

/* The path's segments after a prefix: "/v1/videos/X/similar" -> "X", "similar". */
static int split(const char *rest, const char **seg, size_t *len, int max) {
    int n = 0;
    while (*rest && n < max) {
        const char *slash = strchr(rest, '/');
        size_t l = slash ? (size_t)(slash - rest) : strlen(rest);
        seg[n] = rest;
        len[n++] = l;
        if (!slash) return n;
        rest = slash + 1;
        if (!*rest) return -1; /* trailing slash */
    }
    return *rest ? -1 : n;
}

void vx_route_request(vx_request *rq) {
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(rq->req);
    const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
    size_t dl = 0;
    rq->path = raw ? evhttp_uridecode(raw, 0, &dl) : NULL;
    if (!rq->path || dl != strlen(rq->path) || rq->path[0] != '/' || !vx_utf8_valid(rq->path, dl)) {
        if (!rq->path) rq->path = strdup("?");
        vx_reply_error(rq, 400, "bad_path", "the request path is malformed");
        return;
    }
    const char *qs = uri ? evhttp_uri_get_query(uri) : NULL;
    TAILQ_INIT(&rq->query);
    rq->have_query = 1;
    if (qs && evhttp_parse_query_str(qs, &rq->query) != 0) {
        vx_reply_error(rq, 400, "bad_query", "the query string is malformed");
        return;
    }
    const char *p = rq->path;
    const char *seg[4];
    size_t len[4];
    if (do_page(rq, p)) return;
    /* Routes at fixed paths, each answering one method (GET includes HEAD). */
    static const struct {
        const char *path;
        vx_route route;
        int post;
        void (*handle)(vx_request *rq);
    } fixed[] = {
        {"/healthz", VX_ROUTE_HEALTHZ, 0, do_healthz},
        {"/metrics", VX_ROUTE_METRICS, 0, do_metrics},
        {"/v1/search", VX_ROUTE_SEARCH, 0, do_search},
        {"/v1/index", VX_ROUTE_INDEX, 1, do_index},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        if (strcmp(p, fixed[i].path) != 0) continue;
        rq->route = fixed[i].route;
        if (fixed[i].post ? rq->method != EVHTTP_REQ_POST : !is_get(rq))
            method_not_allowed(rq, fixed[i].post ? "POST" : "GET");
        else
            fixed[i].handle(rq);
        return;
    }
    if (strncmp(p, "/thumbs/", 8) == 0) {
        rq->route = VX_ROUTE_THUMB;
        if (!is_get(rq)) { method_not_allowed(rq, "GET"); return; }
        do_thumb(rq, p + 8);
        return;
    }
    int n;
    uint64_t id;
    if (strncmp(p, "/v1/jobs/", 9) == 0 && (n = split(p + 9, seg, len, 2)) == 1) {
        rq->route = VX_ROUTE_JOB;
        if (!is_get(rq)) { method_not_allowed(rq, "GET"); return; }
        if (vx_http_parse_id(seg[0], len[0], &id)) { vx_reply_error(rq, 404, "unknown_job", "job ids are 16 hex digits"); return; }
        do_job(rq, id);
        return;
    }
    if (strncmp(p, "/v1/videos/", 11) == 0 && (n = split(p + 11, seg, len, 3)) >= 1 && n <= 2) {
        const char *what = n == 2 ? seg[1] : "";
        size_t wl = n == 2 ? len[1] : 0;
        rq->route = n == 1 ? VX_ROUTE_VIDEO
                    : wl == 7 && !strncmp(what, "similar", 7) ? VX_ROUTE_SIMILAR
                    : wl == 5 && !strncmp(what, "media", 5) ? VX_ROUTE_MEDIA : VX_ROUTE_OTHER;
        if (rq->route == VX_ROUTE_OTHER) { vx_reply_error(rq, 404, "not_found", "no route %s", p); return; }
        if (!is_get(rq)) { method_not_allowed(rq, "GET"); return; }
        if (vx_http_parse_id(seg[0], len[0], &id))
            { vx_reply_error(rq, 404, "unknown_video", "video ids are 16 hex digits, not '%.*s'", (int)len[0], seg[0]); return; }
        if (rq->route == VX_ROUTE_VIDEO) do_video(rq, id);
        else if (rq->route == VX_ROUTE_MEDIA) do_media(rq, id);
        else do_similar(rq, id);
        return;
    }
    if (strncmp(p, "/v1/users/", 10) == 0 && (n = split(p + 10, seg, len, 3)) >= 1 && n <= 2) {
        char user[VX_MAX_USER + 1];
        const char *what = n == 2 ? seg[1] : "";
        size_t wl = n == 2 ? len[1] : 0;
        rq->route = n == 1 ? VX_ROUTE_USER
                    : wl == 6 && !strncmp(what, "events", 6) ? VX_ROUTE_EVENTS
                    : wl == 4 && !strncmp(what, "feed", 4) ? VX_ROUTE_FEED : VX_ROUTE_OTHER;
        if (rq->route == VX_ROUTE_OTHER) { vx_reply_error(rq, 404, "not_found", "no route %s", p); return; }
        if (rq->route == VX_ROUTE_EVENTS ? rq->method != EVHTTP_REQ_POST : !is_get(rq))
            { method_not_allowed(rq, rq->route == VX_ROUTE_EVENTS ? "POST" : "GET"); return; }
        if (len[0] > 0 && len[0] <= VX_MAX_USER) memcpy(user, seg[0], len[0]);
        user[len[0] <= VX_MAX_USER ? len[0] : 0] = '\0';
        if (!vx_user_name_valid(user))
            { vx_reply_error(rq, 400, "bad_user", "user names are " VX_USER_NAME_RULE); return; }
        if (rq->route == VX_ROUTE_EVENTS) do_event(rq, user);
        else if (rq->route == VX_ROUTE_FEED) do_feed(rq, user);
        else do_user(rq, user);
        return;
    }
    vx_reply_error(rq, 404, "not_found", "no route %s (see /v1/search, /v1/videos/ID, /v1/users/USER/feed)", p);
}
