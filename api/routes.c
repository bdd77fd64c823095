/* vidx api: the endpoints of DESIGN.md's HTTP API. Each parses what it is given, calls
 * one engine operation and answers with the one serialiser (present/json.h), so
 * `vidx ... --json` prints exactly the same documents. */
#include "routes.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
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
#include <event2/util.h>

#include "../common/hash.h"
#include "../common/log.h"
#include "../common/utf8.h"
#include "../common/vecmath.h"
#include "../present/json.h"
#include "../present/urls.h"
#include "../indexer/picture.h"
#include "../indexer/thumbs.h"
#include "http_parse.h"
#include "offload.h"
#include "status_http.h"
#include "web_assets.h"

static vx_api *api(vx_request *rq) { return rq->ctx; }
static double took_ms(const vx_request *rq) { return (vx_now() - rq->t0) * 1e3; }

/* An engine status as an HTTP answer (api/status_http.c); `not_found` is the route's
 * code for VX_E_NOT_FOUND. */
static void reply_status(vx_request *rq, int status, const char *not_found, const vx_error *err) {
    const vx_status_http *h = vx_status_to_http(status);
    if (h->retry_after) {
        char seconds[16];
        snprintf(seconds, sizeof seconds, "%d", h->retry_after);
        evhttp_add_header(evhttp_request_get_output_headers(rq->req), "Retry-After", seconds);
    }
    vx_reply_error(rq, h->http, status == VX_E_NOT_FOUND ? not_found : h->code, "%s", err->msg);
}

static int admin_ok(vx_request *rq) { return vx_access_admin(rq, &api(rq)->access); }

/* ---- search ------------------------------------------------------------------------------- */

/* A text search whose query is being encoded: finished back on its own loop. */
typedef struct search_wait {
    vx_request *rq;
    vx_query *q;
    struct event *ev;
} search_wait;

static void reply_results(vx_request *rq, const char *query, const vx_results *r) {
    vx_buf b = {0};
    vx_results_write(&b, query, took_ms(rq), r);
    vx_reply_json_text(rq, 200, &b);
}

static void answer_search(vx_request *rq, vx_query *q, const char *text) {
    vx_results r;
    vx_error err;
    int st = vx_engine_search_finish(api(rq)->engine, q, &r, &err);
    if (st) reply_status(rq, st, "not_found", &err);
    else reply_results(rq, text, &r);
    vx_results_free(&r);
}

/* A sharded node's search asks the other shards (up to VIDX_SHARD_TIMEOUT_MS): finished
 * off the loop. */
typedef struct search_task {
    vx_offload_task t; /* first */
    vx_query *q;
    vx_results r;
    int status;
    vx_error err;
} search_task;

static void search_work(vx_offload_task *t) {
    search_task *st = (search_task *)t;
    st->status = vx_engine_search_finish(api(t->rq)->engine, st->q, &st->r, &st->err);
}

static void search_answer(vx_offload_task *t) {
    search_task *st = (search_task *)t;
    if (st->status) reply_status(t->rq, st->status, "not_found", &st->err);
    else reply_results(t->rq, vx_query_text(st->q), &st->r);
    vx_results_free(&st->r);
    vx_query_free(st->q);
    free(st);
}

/* Answers the search whose query is ready, and frees q: on the loop, or off it when the
 * answer asks other nodes. */
static void finish_search(vx_request *rq, vx_query *q) {
    if (vx_engine_sharded(api(rq)->engine)) {
        search_task *st = calloc(1, sizeof *st);
        if (!st) {
            vx_query_free(q);
            vx_reply_error(rq, 503, "overloaded", "out of memory");
            return;
        }
        st->t = (vx_offload_task){.rq = rq, .work = search_work, .answer = search_answer};
        st->q = q;
        if (vx_offload_run(api(rq)->offload, &st->t)) {
            vx_query_free(q);
            free(st);
        }
        return;
    }
    answer_search(rq, q, vx_query_text(q));
    vx_query_free(q);
}

static void on_encoded(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    search_wait *w = arg;
    finish_search(w->rq, w->q);
    event_free(w->ev);
    free(w);
}

/* On the encoder thread. */
static void encoded(void *arg) { event_active(((search_wait *)arg)->ev, EV_READ, 1); }

/* GET: by text (q=); POST: by the picture in the body (JPEG, PNG or WebP). */
static void do_search(vx_request *rq) {
    vx_search_params p;
    vx_search_params_default(&p);
    long k, offset;
    if (vx_param_int(rq, "k", 10, 1, VX_MAX_K, &k) || vx_param_int(rq, "offset", 0, 0, VX_MAX_OFFSET, &offset) ||
        vx_param_num(rq, "min_duration", 0, 0, 1e9, &p.min_duration) ||
        vx_param_num(rq, "max_duration", 0, 0, 1e9, &p.max_duration))
        return;
    const int by_picture = rq->method == EVHTTP_REQ_POST;
    const uint8_t *image = NULL;
    size_t image_len = 0;
    if (by_picture) {
        struct evbuffer *in = evhttp_request_get_input_buffer(rq->req);
        image_len = evbuffer_get_length(in);
        if (image_len == 0) {
            vx_reply_error(rq, 400, "bad_body", "POST /v1/search needs a picture as its body (JPEG, PNG or WebP)");
            return;
        }
        if (image_len > VX_PICTURE_MAX_BYTES) {
            vx_reply_error(rq, 413, "body_too_large", "the picture is larger than %u bytes", VX_PICTURE_MAX_BYTES);
            return;
        }
        if (!(image = evbuffer_pullup(in, -1))) {
            vx_reply_error(rq, 503, "overloaded", "out of memory");
            return;
        }
    }
    p.text = vx_param(rq, "q");
    p.tag = vx_param(rq, "tag");
    p.lang = vx_param(rq, "lang");
    p.k = (int)k;
    p.offset = (int)offset;
    p.path_prefix = vx_param(rq, "path");
    search_wait *w = calloc(1, sizeof *w);
    if (!w || !(w->ev = event_new(rq->base, -1, 0, on_encoded, w))) {
        free(w);
        vx_reply_error(rq, 503, "overloaded", "out of memory");
        return;
    }
    w->rq = rq;
    vx_error err;
    int r = by_picture ? vx_engine_search_image_start(api(rq)->engine, image, image_len, &p, encoded, w, &w->q, &err)
                       : vx_engine_search_start(api(rq)->engine, &p, encoded, w, &w->q, &err);
    if (r == 0) return; /* answered in on_encoded */
    vx_query *q = w->q;
    event_free(w->ev);
    free(w);
    if (r < 0) {
        reply_status(rq, r, "not_found", &err);
        return;
    }
    finish_search(rq, q); /* the embedding was cached: answered now */
}

/* ---- videos ---------------------------------------------------------------------------------- */

static void do_video(vx_request *rq, uint64_t id) {
    vx_video_view v;
    vx_error err;
    int r = vx_engine_video(api(rq)->engine, id, &v, &err);
    if (r) { reply_status(rq, r, "unknown_video", &err); return; }
    vx_reply_json(rq, 200, vx_video_json(&v));
    vx_video_view_free(&v);
}

/* Setting a video's text: a change (in a cluster it waits for the log), off the loop. */
typedef struct set_text_task {
    vx_offload_task t; /* first */
    uint64_t id;
    vx_text_input in;  /* its strings in body */
    json_t *body;
    int status;
    vx_error err;
} set_text_task;

static void set_text_work(vx_offload_task *t) {
    set_text_task *st = (set_text_task *)t;
    st->status = vx_engine_set_text(api(t->rq)->engine, st->id, &st->in, &st->err);
}

static void set_text_answer(vx_offload_task *t) {
    set_text_task *st = (set_text_task *)t;
    if (st->status == VX_E_BAD_INPUT) vx_reply_error(t->rq, 400, "bad_text", "%s", st->err.msg);
    else if (st->status) reply_status(t->rq, st->status, "unknown_video", &st->err);
    else do_video(t->rq, st->id);
    free(st->in.tags);
    json_decref(st->body);
    free(st);
}

/* PUT /v1/videos/{id}/text {"title", "description", "tags": [...]}: text an operator
 * sets, searched with what the files say; answered with the video's document. */
static void do_set_text(vx_request *rq, uint64_t id) {
    if (!admin_ok(rq)) return;
    json_t *b = vx_json_body(rq, api(rq)->max_body);
    if (!b) return;
    vx_text_input in;
    vx_text_input_init(&in);
    const char *key;
    json_t *v;
    const char *problem = NULL;
    json_object_foreach(b, key, v) {
        const int is_str = json_is_string(v) && json_string_length(v) == strlen(json_string_value(v));
        if (!strcmp(key, "title") && (is_str || json_is_null(v))) in.title = json_string_value(v);
        else if (!strcmp(key, "description") && (is_str || json_is_null(v))) in.description = json_string_value(v);
        else if (!strcmp(key, "tags") && (json_is_array(v) || json_is_null(v))) continue;
        else { problem = key; break; }
    }
    json_t *tags = json_object_get(b, "tags");
    const size_t n = json_array_size(tags);
    in.tags = problem || n > VX_API_MAX_TAGS ? NULL : calloc(n ? n : 1, sizeof *in.tags);
    for (size_t i = 0; in.tags && i < n; i++) {
        json_t *t = json_array_get(tags, i);
        in.tags[i] = json_is_string(t) && json_string_length(t) == strlen(json_string_value(t)) ? json_string_value(t) : NULL;
    }
    in.n_tags = (int)n;
    set_text_task *st = NULL;
    if (problem) {
        vx_reply_error(rq, 400, "bad_text", "%s: unknown field or wrong type (title and description are strings, tags a list of strings)", problem);
    } else if (n > VX_API_MAX_TAGS) {
        vx_reply_error(rq, 400, "bad_text", "tags: at most %d", VX_API_MAX_TAGS);
    } else if (!in.tags || !(st = calloc(1, sizeof *st))) {
        vx_reply_error(rq, 500, "internal", "out of memory");
    } else { /* the strings stay in b until the answer */
        *st = (set_text_task){.t = {.rq = rq, .work = set_text_work, .answer = set_text_answer}, .id = id, .in = in,
                              .body = b};
        if (vx_offload_run(api(rq)->offload, &st->t) == 0) return;
        free(st);
    }
    free(in.tags);
    json_decref(b);
}

static void do_similar(vx_request *rq, uint64_t id) {
    long k, offset;
    if (vx_param_int(rq, "k", 10, 1, VX_MAX_K, &k) || vx_param_int(rq, "offset", 0, 0, VX_MAX_OFFSET, &offset)) return;
    vx_results r;
    vx_error err;
    int st = vx_engine_similar(api(rq)->engine, id, (int)k, (int)offset, &r, &err);
    if (st) { reply_status(rq, st, "unknown_video", &err); return; }
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(id, hex);
    reply_results(rq, hex, &r);
    vx_results_free(&r);
}

/* ---- media ----------------------------------------------------------------------------------- */

/* POST /v1/videos/{id}/rendition {"reason": "..."}: the web page's browser could not play
 * the original (a format browsers play, with a damaged stream): this node makes a
 * rendition first; answered with the video's document ("playback": "pending"). Open like
 * the video itself: a request is made once per content, and few wait at a time. */
static void do_request_rendition(vx_request *rq, uint64_t id) {
    json_t *b = vx_json_body(rq, 4096);
    if (!b) return;
    const char *key, *why = NULL;
    json_t *v;
    json_object_foreach(b, key, v) {
        if (strcmp(key, "reason") || !json_is_string(v) || json_string_length(v) != strlen(json_string_value(v))) {
            vx_reply_error(rq, 400, "bad_body", "%s: unknown field or wrong type (reason is a string)", key);
            json_decref(b);
            return;
        }
        why = json_string_value(v);
    }
    vx_error err;
    const int st = vx_engine_request_rendition(api(rq)->engine, id, why, &err);
    json_decref(b);
    if (st == VX_E_BAD_INPUT) vx_reply_error(rq, 400, "bad_body", "%s", err.msg);
    else if (st) reply_status(rq, st, "unknown_video", &err);
    else do_video(rq, id);
}

/* The video for the web page's player, whole or one byte range (206): its rendition
 * when one is ready, else (or with ?original=1) the file as it is. */
static void do_media(vx_request *rq, uint64_t id) {
    long original;
    if (vx_param_int(rq, "original", 0, 0, 1, &original)) return;
    vx_media_file mf;
    vx_error err;
    int r = vx_engine_media_file(api(rq)->engine, id, (int)original, &mf, &err);
    if (r) { reply_status(rq, r, "unknown_video", &err); return; }
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(id, hex);
    /* Never through a link, never blocking on a FIFO, only a regular file, and only the
     * file that was indexed: a swapped or rewritten file is not served. */
    int fd = open(mf.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    const char *type = mf.content_type ? mf.content_type : vx_http_media_type(mf.path);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        if (mf.rendition) vx_reply_error(rq, 404, "unknown_video", "the rendition of video %s is gone; it is made again", hex);
        else vx_reply_error(rq, 404, "unknown_video", "the file of video %s is gone or not a regular file (index its folder again)", hex);
        return;
    }
    const int64_t mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if ((mf.size && (uint64_t)st.st_size != mf.size) || (mf.mtime_ns && mtime_ns != mf.mtime_ns) ||
        (mf.inode && (uint64_t)st.st_ino != mf.inode)) {
        close(fd);
        vx_reply_error(rq, 404, "unknown_video", "the file of video %s changed since it was indexed (index its folder again)", hex);
        return;
    }
    const uint64_t size = (uint64_t)st.st_size;
    uint64_t from = 0, to = size ? size - 1 : 0;
    struct evkeyvalq *out = evhttp_request_get_output_headers(rq->req);
    evhttp_add_header(out, "Accept-Ranges", "bytes");
    r = vx_http_parse_range(evhttp_find_header(evhttp_request_get_input_headers(rq->req), "Range"), size, &from, &to);
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

/* An event being written: answered back on its own loop once it is durable. */
typedef struct event_wait {
    vx_request *rq;
    struct event *ev;
    char user[VX_MAX_USER + 1];
    int status;
    vx_event_stored stored;
    vx_error err;
} event_wait;

static void on_written(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    event_wait *w = arg;
    if (w->status) reply_status(w->rq, w->status, "unknown_video", &w->err);
    else vx_reply_json(w->rq, 201, vx_event_json(w->user, &w->stored));
    event_free(w->ev);
    free(w);
}

/* On the event writer thread. */
static void written(void *arg, int status, const vx_event_stored *stored, const vx_error *err) {
    event_wait *w = arg;
    w->status = status;
    if (stored) w->stored = *stored;
    if (err) w->err = *err;
    event_active(w->ev, EV_READ, 1);
}

static void do_event(vx_request *rq, const char *user) {
    json_t *b = vx_json_body(rq, api(rq)->max_body);
    if (!b) return;
    char why[200];
    vx_event_request req;
    int bad = vx_http_event_from_json(b, user, &req, why, sizeof why);
    json_decref(b);
    if (bad) { vx_reply_error(rq, 400, "bad_event", "%s", why); return; }
    event_wait *w = calloc(1, sizeof *w);
    if (!w || !(w->ev = event_new(rq->base, -1, 0, on_written, w))) {
        free(w);
        vx_reply_error(rq, 503, "overloaded", "out of memory");
        return;
    }
    w->rq = rq;
    snprintf(w->user, sizeof w->user, "%s", user);
    req.user = w->user;
    req.idempotency_key = evhttp_find_header(evhttp_request_get_input_headers(rq->req), "Idempotency-Key");
    vx_error err;
    int r = vx_engine_record_event_async(api(rq)->engine, &req, written, w, &err);
    if (r == 0) return; /* answered in on_written */
    event_free(w->ev);
    free(w);
    if (r == VX_E_BAD_INPUT) vx_reply_error(rq, 400, "bad_event", "%s", err.msg);
    else reply_status(rq, r, "unknown_video", &err);
}

static void do_feed(vx_request *rq, const char *user) {
    long k;
    double d;
    vx_feed_options fo;
    vx_feed_options_default(&fo);
    if (vx_param_int(rq, "k", 20, 1, VX_FEED_MAX_K, &k) || vx_param_num(rq, "diversity", fo.diversity, 0, 1, &d)) return;
    fo.k = (int)k;
    fo.diversity = (float)d;
    vx_feed f;
    vx_error err;
    int r = vx_engine_feed(api(rq)->engine, user, &fo, &f, &err);
    if (r) { reply_status(rq, r, "unknown_user", &err); return; }
    vx_buf b = {0};
    vx_feed_write(&b, user, took_ms(rq), &f);
    vx_feed_free(&f);
    vx_reply_json_text(rq, 200, &b);
}

static void do_user(vx_request *rq, const char *user) {
    vx_user u;
    vx_error err;
    int r = vx_engine_user(api(rq)->engine, user, &u, &err);
    if (r) { reply_status(rq, r, "unknown_user", &err); return; }
    vx_reply_json(rq, 200, vx_user_json(&u));
    vx_user_clear(&u);
}

/* Deleting a user: in a cluster a change that waits for the log, so off the loop. */
typedef struct delete_user_task {
    vx_offload_task t; /* first */
    char user[VX_MAX_USER + 1];
    int status;
    vx_error err;
} delete_user_task;

static void delete_user_work(vx_offload_task *t) {
    delete_user_task *d = (delete_user_task *)t;
    d->status = vx_engine_delete_user(api(t->rq)->engine, d->user, &d->err);
}

static void delete_user_answer(vx_offload_task *t) {
    delete_user_task *d = (delete_user_task *)t;
    if (d->status) reply_status(t->rq, d->status, "unknown_user", &d->err);
    else vx_reply_json(t->rq, 200, json_pack("{s:s, s:b}", "user", d->user, "deleted", 1));
    free(d);
}

static void do_delete_user(vx_request *rq, const char *user) {
    if (!admin_ok(rq)) return;
    delete_user_task *d = calloc(1, sizeof *d);
    if (!d) { vx_reply_error(rq, 503, "overloaded", "out of memory"); return; }
    d->t = (vx_offload_task){.rq = rq, .work = delete_user_work, .answer = delete_user_answer};
    snprintf(d->user, sizeof d->user, "%s", user);
    if (vx_offload_run(api(rq)->offload, &d->t)) free(d);
}

/* A user's own token (admin): what the user's page signs in with. Derived, not stored
 * (access.h): asking again gives the same token. */
static void do_user_token(vx_request *rq, const char *user) {
    if (!admin_ok(rq)) return;
    char token[VX_USER_TOKEN_LEN];
    vx_access_user_token(&api(rq)->access, user, token);
    vx_reply_json(rq, 200, json_pack("{s:s, s:s}", "user", user, "token", token));
}

/* ---- jobs ------------------------------------------------------------------------------------ */

/* One optional number of the index request; a present value must be positive (0 is
 * how the record says "the service's own"). Returns 0, or -1 having replied. */
static int job_setting(vx_request *rq, const json_t *body, const char *key, double *out) {
    const json_t *v = json_object_get(body, key);
    if (!v) return 0;
    if (!json_is_number(v) || !(json_number_value(v) > 0)) {
        vx_reply_error(rq, 400, "bad_settings", "%s: must be a positive number", key);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

/* A job being submitted (index_work, index_answer). */
typedef struct index_task {
    vx_offload_task t; /* first */
    const char **paths; /* in body */
    int n;
    vx_job_settings settings;
    json_t *body;
    int status;
    uint64_t id;
    vx_error err;
} index_task;

static void index_work(vx_offload_task *t);
static void index_answer(vx_offload_task *t);

/* {"paths": [...], "rate": 2, "max_frames": 300, "timeout": 600, "segment": 5}: the
 * four settings are optional, as `vidx index` takes them. */
static void do_index(vx_request *rq) {
    if (!admin_ok(rq)) return;
    json_t *b = vx_json_body(rq, api(rq)->max_body);
    if (!b) return;
    vx_job_settings settings = {0};
    double max_frames = 0;
    if (job_setting(rq, b, "rate", &settings.rate) || job_setting(rq, b, "max_frames", &max_frames) ||
        job_setting(rq, b, "timeout", &settings.timeout_s) || job_setting(rq, b, "segment", &settings.segment_seconds)) {
        json_decref(b);
        return;
    }
    /* Out of range stays out of range (for the message) without overflowing the field. */
    settings.max_frames = max_frames > VX_JOB_MAX_FRAMES_MAX ? VX_JOB_MAX_FRAMES_MAX + 1 : (uint32_t)max_frames;
    const char *problem = max_frames != floor(max_frames) ? "max_frames: must be a whole number of frames"
                                                          : vx_job_settings_problem(&settings);
    if (problem) {
        json_decref(b);
        vx_reply_error(rq, 400, "bad_settings", "%s", problem);
        return;
    }
    json_t *paths = json_object_get(b, "paths");
    size_t n = json_array_size(paths); /* 0 when not an array: the engine says what is allowed */
    const char **list = malloc((n ? n : 1) * sizeof *list);
    for (size_t i = 0; list && i < n; i++) {
        json_t *p = json_array_get(paths, i);
        const char *s = json_string_value(p);
        if (!s || json_string_length(p) != strlen(s)) {
            free(list);
            json_decref(b);
            vx_reply_error(rq, 400, "bad_paths", "paths[%zu]: must be a path (a string without NUL bytes)", i);
            return;
        }
        list[i] = s;
    }
    index_task *it = list ? calloc(1, sizeof *it) : NULL;
    if (!it) {
        free(list);
        json_decref(b);
        vx_reply_error(rq, 500, "internal", "out of memory");
        return;
    }
    *it = (index_task){.t = {.rq = rq, .work = index_work, .answer = index_answer}, .paths = list, .n = (int)n,
                       .settings = settings, .body = b};
    if (vx_offload_run(api(rq)->offload, &it->t)) {
        free(list);
        json_decref(b);
        free(it);
    }
}

/* On an offload thread: the job's record (in a cluster its folders are walked and its work
 * queued first). */
static void index_work(vx_offload_task *t) {
    index_task *it = (index_task *)t;
    it->status = vx_engine_job_submit(api(t->rq)->engine, (const char *const *)it->paths, it->n, &it->settings, &it->id,
                                      &it->err);
}

static void index_answer(vx_offload_task *t) {
    index_task *it = (index_task *)t;
    vx_request *rq = t->rq;
    const int r = it->status;
    const uint64_t id = it->id;
    const vx_error err = it->err;
    free(it->paths);
    json_decref(it->body);
    free(it);
    if (r) {
        if (r == VX_E_BAD_INPUT) vx_reply_error(rq, 400, "bad_paths", "%s", err.msg);
        else reply_status(rq, r, "not_found", &err);
        return;
    }
    char hex[VX_ID_HEX_LEN], url[64];
    vx_id_to_hex(id, hex);
    snprintf(url, sizeof url, VX_URL_JOBS "%s", hex);
    evhttp_add_header(evhttp_request_get_output_headers(rq->req), "Location", url);
    vx_reply_json(rq, 202, json_pack("{s:s, s:s, s:s}", "job_id", hex, "state", "queued", "status", url));
}

static void do_job(vx_request *rq, uint64_t id) {
    if (!admin_ok(rq)) return;
    vx_job_status s;
    vx_error err;
    int r = vx_engine_job(api(rq)->engine, id, &s, &err);
    if (r) { reply_status(rq, r, "unknown_job", &err); return; }
    vx_reply_json(rq, 200, vx_job_json(&s));
    vx_job_status_free(&s);
}

/* ---- the whole ------------------------------------------------------------------------------- */

static int is_get(const vx_request *rq) { return rq->method == EVHTTP_REQ_GET || rq->method == EVHTTP_REQ_HEAD; }

static void add_problem(void *ctx, const char *problem) { json_array_append_new(ctx, json_string(problem)); }

/* What the data folder holds (vidx info), or with check=1 its problems (vidx info --check). */
/* GET /v1/info?check=1 (every record and index read: seconds for a large catalog) and
 * POST /v1/info?repair=1 (the derived indexes rebuilt): off the loop. */
typedef struct check_task {
    vx_offload_task t; /* first */
    int repair;
    json_t *list;      /* problems, or what was repaired */
    uint64_t problems;
    int status;
    vx_error err;
} check_task;

static void check_work(vx_offload_task *t) {
    check_task *c = (check_task *)t;
    vx_engine *e = api(t->rq)->engine;
    c->status = c->repair ? vx_engine_repair(e, add_problem, c->list, &c->err)
                          : vx_engine_check(e, add_problem, c->list, &c->problems, &c->err);
}

static void check_answer(vx_offload_task *t) {
    check_task *c = (check_task *)t;
    const char *dir = vx_engine_data_dir(api(t->rq)->engine);
    if (c->status) {
        json_decref(c->list);
        reply_status(t->rq, c->status, "not_found", &c->err);
    } else if (c->repair) {
        vx_reply_json(t->rq, 200, json_pack("{s:s, s:o}", "database", dir, "repaired", c->list));
    } else {
        vx_reply_json(t->rq, 200, json_pack("{s:s, s:I, s:o}", "database", dir, "count", (json_int_t)c->problems,
                                            "problems", c->list));
    }
    free(c);
}

static void do_info(vx_request *rq) {
    if (!admin_ok(rq)) return;
    vx_engine *e = api(rq)->engine;
    vx_error err;
    const char *check = vx_param(rq, "check"), *repair = vx_param(rq, "repair");
    const int repairing = rq->method == EVHTTP_REQ_POST;
    if (repairing && !(repair && strcmp(repair, "1") == 0)) {
        vx_reply_error(rq, 400, "bad_parameter", "POST /v1/info takes repair=1 (the derived indexes rebuilt)");
        return;
    }
    if (repairing || (check && strcmp(check, "1") == 0)) {
        check_task *c = calloc(1, sizeof *c);
        if (!c || !(c->list = json_array())) {
            free(c);
            vx_reply_error(rq, 503, "overloaded", "out of memory");
            return;
        }
        c->t = (vx_offload_task){.rq = rq, .work = check_work, .answer = check_answer};
        c->repair = repairing;
        if (vx_offload_run(api(rq)->offload, &c->t)) {
            json_decref(c->list);
            free(c);
        }
        return;
    }
    vx_engine_stats st;
    int r = vx_engine_info(e, &st, &err);
    if (r) { reply_status(rq, r, "not_found", &err); return; }
    vx_reply_json(rq, 200, vx_info_json(vx_engine_data_dir(e), 1, &st));
    vx_engine_stats_free(&st);
}

/* GET /v1/tags[?vocabulary=NAME]: the tags videos have, with their counts. */
static void do_tags(vx_request *rq) {
    vx_engine *e = api(rq)->engine;
    vx_labels_state st;
    vx_engine_labels_state(e, &st);
    vx_label_count *counts = NULL;
    int n = 0;
    vx_error err;
    int r = st.state == VX_LABELS_READY ? vx_engine_label_counts(e, vx_param(rq, "vocabulary"), &counts, &n, &err) : VX_OK;
    if (r) {
        reply_status(rq, r, "not_found", &err);
        return;
    }
    json_t *doc = vx_labels_json(e, &st, counts, n);
    free(counts);
    if (!doc) { vx_reply_error(rq, 503, "overloaded", "out of memory"); return; }
    vx_reply_json(rq, 200, doc);
}

/* Liveness and, in a cluster, readiness: 503 until the node caught up with the log. */
static void do_healthz(vx_request *rq) {
    vx_engine_stats g;
    vx_engine_gauges(api(rq)->engine, &g);
    json_t *doc = json_pack("{s:s, s:I, s:I, s:b, s:I}", "status", "ok", "videos", (json_int_t)g.index_videos,
                            "segments", (json_int_t)g.index_segments, "text_search", g.text_search, "uptime_s",
                            (json_int_t)((int64_t)time(NULL) - api(rq)->started_at));
    json_object_set_new(doc, "renditions_pending", json_integer(g.renditions_pending));
    /* The encoder's precision (f32, bf16, int8), with the model loaded. */
    if (g.text_search) json_object_set_new(doc, "precision", json_string(g.precision));
    json_object_set_new(doc, "kernels", vx_kernels_json()); /* OpenBLAS's core, oneDNN's instruction set */
    /* Search by what is seen: on, or waiting for the model (what is missing, how to get
     * it); the service takes the model up on its own once it is in place. */
    const char *no_model = vx_engine_model_problem(api(rq)->engine);
    json_object_set_new(doc, "visual_search", json_string(no_model ? "waiting for the model" : "on"));
    if (no_model) json_object_set_new(doc, "model_problem", json_string(no_model));
    /* How text queries are answered: both rankings fused, or words alone (no model). */
    json_object_set_new(doc, "text_query", json_string(g.text_search && g.lexical_search ? "fused"
                                                       : g.text_search                  ? "visual"
                                                       : g.lexical_search               ? "lexical only"
                                                                                        : "unavailable"));
    /* Zero-shot tags: off, being prepared, or ready. */
    vx_labels_state tags;
    vx_engine_labels_state(api(rq)->engine, &tags);
    json_object_set_new(doc, "tags", json_string(vx_labels_state_name(tags.state)));
    /* The feeds' item model: "none" before any engagement, "training" until the first
     * one is in, then its figures. */
    const vx_rec_model_info *fm = &g.feed_model;
    json_t *model = json_pack("{s:s}", "state", fm->built ? "ready" : g.rec_engagements ? "training" : "none");
    if (fm->built) {
        json_object_set_new(model, "videos_learned", json_integer(fm->stats.learned));
        json_object_set_new(model, "videos_from_content", json_integer(fm->stats.from_content));
        json_object_set_new(model, "weights", json_integer((json_int_t)fm->stats.weights));
        json_object_set_new(model, "bytes", json_integer((json_int_t)fm->stats.bytes));
        json_object_set_new(model, "train_s", json_real(fm->stats.train_s));
        json_object_set_new(model, "age_s", json_real(fm->age_s));
        json_object_set_new(model, "engagements_since", json_integer((json_int_t)fm->changes_since));
    }
    json_object_set_new(doc, "feed_model", model);
    /* The data folder's disk: "full" (less free than the reserve: bulk work waits) or
     * "failing" (the last write failed); reads go on either way. */
    json_object_set_new(doc, "disk", json_string(g.disk));
    json_object_set_new(doc, "disk_free_mb", json_integer((json_int_t)(g.disk_free >> 20)));
    if (strcmp(g.disk, "ok") != 0) json_object_set_new(doc, "status", json_string("degraded"));
    int code = 200;
    if (!api(rq)->cluster) {
        json_object_set_new(doc, "role", json_string("single"));
        json_object_set_new(doc, "shards", json_pack("{s:i, s:[i], s:b}", "count", 1, "held", 0, "serving", 1));
    } else {
        vx_cluster_status st;
        vx_cluster_status_of(api(rq)->cluster, &st);
        /* Sharded search: the shard this node holds and answers for (once caught up). */
        json_object_set_new(doc, "shards",
                            json_pack("{s:i, s:[i], s:b}", "count", st.shards ? (int)st.shards : 1, "held",
                                      (int)st.shard, "serving", st.shards ? st.shard_serving : st.ready));
        json_t *servers = json_array();
        char *save = NULL;
        for (char *t = strtok_r(st.servers, ",", &save); t; t = strtok_r(NULL, ",", &save))
            json_array_append_new(servers, json_string(t));
        json_object_set_new(doc, "role", json_string(st.role));
        json_object_set_new(doc, "cluster", json_pack("{s:b, s:b, s:I, s:I, s:I, s:o}", "ready", st.ready, "connected",
                                                      st.connected, "applied", (json_int_t)st.applied, "lag",
                                                      (json_int_t)st.lag, "skipped", (json_int_t)st.skipped,
                                                      "servers", servers));
        if (!st.ready) {
            json_object_set_new(doc, "status", json_string("catching_up"));
            code = 503;
        }
    }
    vx_reply_json(rq, code, doc);
}

static void do_metrics(vx_request *rq) {
    vx_engine_stats s;
    vx_engine_gauges(api(rq)->engine, &s);
    vx_gauges g = {.videos = s.index_videos, .segments = s.index_segments, .list_imbalance = s.index_list_imbalance,
                   .users = (int64_t)s.rec_users,
                   .engagements = (int64_t)s.rec_engagements, .jobs_queued = s.jobs_queued,
                   .jobs_running = s.jobs_running, .jobs_done = s.jobs_done, .jobs_failed = s.jobs_failed,
                   .cache_entries = s.query_cache_entries, .cache_hits = s.query_cache_hits,
                   .answer_cache_entries = s.answer_cache_entries, .answer_cache_bytes = s.answer_cache_bytes,
                   .cache_misses = s.query_cache_misses, .encoder_runs = s.encoder_runs,
                   .encoder_queries = s.encoder_queries, .renditions_pending = s.renditions_pending,
                   .renditions_made = s.renditions_made, .renditions_failed = s.renditions_failed,
                   .disk_free = s.disk_free, .disk_reserve = s.disk_reserve, .disk_ok = strcmp(s.disk, "ok") == 0};
    if (api(rq)->cluster) {
        vx_cluster_status st;
        vx_cluster_status_of(api(rq)->cluster, &st);
        g.cluster = 1;
        g.cluster_connected = st.connected;
        g.log_applied = st.applied;
        g.log_lag = st.lag;
        g.log_skipped = st.skipped;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b) { vx_reply_error(rq, 503, "overloaded", "out of memory"); return; }
    vx_metrics_render(api(rq)->metrics, &g, b);
    vx_reply_buffer(rq, 200, "text/plain; version=0.0.4; charset=utf-8", b);
    evbuffer_free(b);
}

/* The web page: files compiled in from api/web/. */
static int do_page(vx_request *rq, const char *path) {
    for (const vx_web_asset *a = vx_web_assets; a->path; a++) {
        if (strcmp(a->path, path) != 0) continue;
        rq->route = VX_ROUTE_PAGE;
        if (!is_get(rq)) {
            vx_reply_method_not_allowed(rq, "GET");
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
static void do_thumb(vx_request *rq, const char *name) {
    uint64_t id;
    long seg;
    int ok = vx_thumb_name_parse(name, &id, &seg) == 0;
    if (!ok) { vx_reply_error(rq, 404, "not_found", "no such thumbnail"); return; }
    vx_path path;
    vx_error err;
    int fd = vx_thumb_path(vx_engine_data_dir(api(rq)->engine), id, (int)seg, path, &err) ? -1
                                                                                         : open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
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

/* ---- browsers ------------------------------------------------------------------------------------ */

/* Host must name this service: an IP address (a page served from an address is this
 * service's own), localhost, or a name given with --allowed-host. Anything else is a page
 * of another site whose name was pointed here (DNS rebinding): 421. No Host (HTTP/1.0,
 * never a browser) passes. */
static int host_allowed(const vx_api *a, const char *host) {
    if (!host) return 1;
    char name[256];
    size_t n = strlen(host);
    if (n == 0 || n >= sizeof name) return 0;
    const char *port = NULL;
    if (host[0] == '[') { /* [IPv6]:port */
        const char *close = strchr(host, ']');
        if (!close) return 0;
        n = (size_t)(close - host - 1);
        memcpy(name, host + 1, n);
        name[n] = '\0';
        if (close[1] == ':') port = close + 2;
        else if (close[1]) return 0;
        struct in6_addr a6;
        if (inet_pton(AF_INET6, name, &a6) != 1) return 0;
    } else {
        const char *colon = strchr(host, ':');
        if (colon && strchr(colon + 1, ':')) { /* a bare IPv6 address (cli/remote.c before brackets) */
            struct in6_addr a6;
            return inet_pton(AF_INET6, host, &a6) == 1;
        }
        n = colon ? (size_t)(colon - host) : n;
        memcpy(name, host, n);
        name[n] = '\0';
        if (colon) port = colon + 1;
    }
    if (port && (!*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)) return 0;
    if (host[0] == '[') return 1;
    if (n && name[n - 1] == '.') name[--n] = '\0'; /* "localhost." is localhost */
    struct in_addr a4;
    if (inet_pton(AF_INET, name, &a4) == 1 || evutil_ascii_strcasecmp(name, "localhost") == 0) return 1;
    for (int i = 0; i < a->n_allowed_hosts; i++)
        if (evutil_ascii_strcasecmp(name, a->allowed_hosts[i]) == 0) return 1;
    return 0;
}

/* A request that changes state (every method but GET, HEAD, OPTIONS) sent by a page must
 * come from this service's own page: its Origin, when a browser sends one, is
 * http(s)://HOST with the request's own Host. Requests without Origin (programs, the
 * command line) pass; so does every read (a foreign page cannot read the answers: no
 * CORS headers are ever sent). */
static int origin_allowed(vx_request *rq, const char *host) {
    if (rq->method == EVHTTP_REQ_GET || rq->method == EVHTTP_REQ_HEAD || rq->method == EVHTTP_REQ_OPTIONS) return 1;
    const char *origin = evhttp_find_header(evhttp_request_get_input_headers(rq->req), "Origin");
    if (!origin) return 1;
    if (!host) return 0;
    const char *rest = !strncmp(origin, "http://", 7) ? origin + 7 : !strncmp(origin, "https://", 8) ? origin + 8 : NULL;
    return rest && evutil_ascii_strcasecmp(rest, host) == 0;
}

/* ---- routing ------------------------------------------------------------------------------------- */

void vx_api_handle(vx_request *rq) {
    const char *host = evhttp_find_header(evhttp_request_get_input_headers(rq->req), "Host");
    if (!host_allowed(api(rq), host)) {
        vx_reply_error(rq, 421, "bad_host",
                       "this service does not answer to Host '%.100s' (an address, localhost, or a name given with "
                       "--allowed-host)", host);
        return;
    }
    if (!origin_allowed(rq, host)) {
        vx_reply_error(rq, 403, "cross_origin", "a page of another site (Origin %.100s) cannot change this service",
                       evhttp_find_header(evhttp_request_get_input_headers(rq->req), "Origin"));
        return;
    }
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
        {"/v1/search", VX_ROUTE_SEARCH, 2, do_search},
        {"/v1/index", VX_ROUTE_INDEX, 1, do_index},
        {"/v1/info", VX_ROUTE_INFO, 2, do_info},
        {"/v1/tags", VX_ROUTE_TAGS, 0, do_tags},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        if (strcmp(p, fixed[i].path) != 0) continue;
        rq->route = fixed[i].route;
        /* post: 0 GET, 1 POST, 2 either */
        if (fixed[i].post == 2 ? !is_get(rq) && rq->method != EVHTTP_REQ_POST
            : fixed[i].post    ? rq->method != EVHTTP_REQ_POST
                               : !is_get(rq))
            vx_reply_method_not_allowed(rq, fixed[i].post == 2 ? "GET, POST" : fixed[i].post ? "POST" : "GET");
        else
            fixed[i].handle(rq);
        return;
    }
    if (strncmp(p, VX_URL_THUMBS, strlen(VX_URL_THUMBS)) == 0) {
        rq->route = VX_ROUTE_THUMB;
        if (!is_get(rq)) { vx_reply_method_not_allowed(rq, "GET"); return; }
        do_thumb(rq, p + strlen(VX_URL_THUMBS));
        return;
    }
    int n;
    uint64_t id;
    if (strncmp(p, VX_URL_JOBS, strlen(VX_URL_JOBS)) == 0 && (n = split(p + strlen(VX_URL_JOBS), seg, len, 2)) == 1) {
        rq->route = VX_ROUTE_JOB;
        if (!is_get(rq)) { vx_reply_method_not_allowed(rq, "GET"); return; }
        if (vx_http_parse_id(seg[0], len[0], &id)) { vx_reply_error(rq, 404, "unknown_job", "job ids are 16 hex digits"); return; }
        do_job(rq, id);
        return;
    }
    if (strncmp(p, VX_URL_VIDEOS, strlen(VX_URL_VIDEOS)) == 0 && (n = split(p + strlen(VX_URL_VIDEOS), seg, len, 3)) >= 1 &&
        n <= 2) {
        const char *what = n == 2 ? seg[1] : "";
        size_t wl = n == 2 ? len[1] : 0;
        rq->route = n == 1 ? VX_ROUTE_VIDEO
                    : wl == 7 && !strncmp(what, "similar", 7) ? VX_ROUTE_SIMILAR
                    : wl == 5 && !strncmp(what, "media", 5) ? VX_ROUTE_MEDIA
                    : wl == 4 && !strncmp(what, "text", 4) ? VX_ROUTE_TEXT
                    : wl == 9 && !strncmp(what, "rendition", 9) ? VX_ROUTE_RENDITION : VX_ROUTE_OTHER;
        if (rq->route == VX_ROUTE_OTHER) { vx_reply_error(rq, 404, "not_found", "no route %s", p); return; }
        const int method = rq->route == VX_ROUTE_TEXT ? EVHTTP_REQ_PUT : rq->route == VX_ROUTE_RENDITION ? EVHTTP_REQ_POST : 0;
        if (method ? (int)rq->method != method : !is_get(rq))
            { vx_reply_method_not_allowed(rq, method == EVHTTP_REQ_PUT ? "PUT" : method ? "POST" : "GET"); return; }
        if (vx_http_parse_id(seg[0], len[0], &id))
            { vx_reply_error(rq, 404, "unknown_video", "video ids are 16 hex digits, not '%.*s'", (int)len[0], seg[0]); return; }
        if (rq->route == VX_ROUTE_VIDEO) do_video(rq, id);
        else if (rq->route == VX_ROUTE_TEXT) do_set_text(rq, id);
        else if (rq->route == VX_ROUTE_MEDIA) do_media(rq, id);
        else if (rq->route == VX_ROUTE_RENDITION) do_request_rendition(rq, id);
        else do_similar(rq, id);
        return;
    }
    if (strncmp(p, VX_URL_USERS, strlen(VX_URL_USERS)) == 0 && (n = split(p + strlen(VX_URL_USERS), seg, len, 3)) >= 1 &&
        n <= 2) {
        char user[VX_MAX_USER + 1];
        const char *what = n == 2 ? seg[1] : "";
        size_t wl = n == 2 ? len[1] : 0;
        rq->route = n == 1 ? VX_ROUTE_USER
                    : wl == 6 && !strncmp(what, "events", 6) ? VX_ROUTE_EVENTS
                    : wl == 4 && !strncmp(what, "feed", 4) ? VX_ROUTE_FEED
                    : wl == 5 && !strncmp(what, "token", 5) ? VX_ROUTE_TOKEN : VX_ROUTE_OTHER;
        if (rq->route == VX_ROUTE_OTHER) { vx_reply_error(rq, 404, "not_found", "no route %s", p); return; }
        const int deleting = rq->route == VX_ROUTE_USER && rq->method == EVHTTP_REQ_DELETE;
        const int posted = rq->route == VX_ROUTE_EVENTS || rq->route == VX_ROUTE_TOKEN;
        if (!deleting && (posted ? rq->method != EVHTTP_REQ_POST : !is_get(rq)))
            { vx_reply_method_not_allowed(rq, posted ? "POST" : rq->route == VX_ROUTE_USER ? "GET, DELETE" : "GET"); return; }
        if (len[0] > 0 && len[0] <= VX_MAX_USER) memcpy(user, seg[0], len[0]);
        user[len[0] <= VX_MAX_USER ? len[0] : 0] = '\0';
        if (!vx_user_name_valid(user))
            { vx_reply_error(rq, 400, "bad_user", "user names are " VX_USER_NAME_RULE); return; }
        if (deleting) { do_delete_user(rq, user); return; }
        if (rq->route == VX_ROUTE_TOKEN) { do_user_token(rq, user); return; }
        if (!vx_access_user(rq, &api(rq)->access, user)) return;
        if (rq->route == VX_ROUTE_EVENTS) do_event(rq, user);
        else if (rq->route == VX_ROUTE_FEED) do_feed(rq, user);
        else do_user(rq, user);
        return;
    }
    vx_reply_error(rq, 404, "not_found", "no route %s (see /v1/search, /v1/videos/ID, /v1/users/USER/feed)", p);
}
