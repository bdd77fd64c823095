/* vidx engine: users: their feeds, their records, their events (written by the event
 * writer, writer.c) and their deletion. */
#include "engine_internal.h"

#include <ctype.h>
#include <string.h>

#include "../common/vecmath.h"

int vx_engine_feed(vx_engine *e, const char *user, const vx_feed_options *o, vx_feed *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    vx_engine_foreground(e);
    if (!vx_user_name_valid(user)) {
        vx_fail(err, "user: must be " VX_USER_NAME_RULE);
        return VX_E_BAD_INPUT;
    }
    if (o->k < 1 || o->k > VX_FEED_MAX_K) {
        vx_fail(err, "k: must be a whole number from 1 to %d", VX_FEED_MAX_K);
        return VX_E_BAD_INPUT;
    }
    if (!(o->diversity >= 0 && o->diversity <= 1)) {
        vx_fail(err, "diversity: must be a number from 0 to 1");
        return VX_E_BAD_INPUT;
    }
    vx_feed_options fo = *o;
    fo.ann_version = atomic_load(&e->vectors.version) + 1; /* + 1: never 0 (no caching) */
    if (!e->feedmodel) vx_engine_feedmodel_build_now(e); /* on demand, without the background builder */
    pthread_rwlock_rdlock(&e->vectors.lock);
    int rc = vx_rec_feed(e->vectors.rec, e->cat, e->vectors.ann, user, &fo, out, err);
    pthread_rwlock_unlock(&e->vectors.lock);
    return rc ? VX_E_INTERNAL : VX_OK;
}

int vx_engine_user(vx_engine *e, const char *user, vx_user *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    if (!vx_user_name_valid(user)) {
        vx_fail(err, "user: must be " VX_USER_NAME_RULE);
        return VX_E_BAD_INPUT;
    }
    int r = vx_catalog_get_user(e->cat, user, out, err);
    if (r > 0) vx_fail(err, "no user '%s' (users appear with their first event)", user);
    return r < 0 ? VX_E_INTERNAL : r > 0 ? VX_E_NOT_FOUND : VX_OK;
}

int vx_engine_delete_user(vx_engine *e, const char *user, vx_error *err) {
    if (!vx_user_name_valid(user)) {
        vx_fail(err, "user: must be " VX_USER_NAME_RULE);
        return VX_E_BAD_INPUT;
    }
    vx_op op = {.kind = VX_OP_USER_DELETED, .user = (char *)user};
    return vx_engine_commit(e, &op, err);
}

int vx_engine_record_event_async(vx_engine *e, const vx_event_request *req, vx_event_done done, void *arg,
                                 vx_error *err) {
    vx_op op = {.kind = VX_OP_EVENT, .user = (char *)req->user};
    if (req->idempotency_key) {
        size_t n = strlen(req->idempotency_key);
        int ok = n >= 1 && n <= VX_IDEMPOTENCY_KEY_MAX;
        for (size_t i = 0; ok && i < n; i++) {
            const char ch = req->idempotency_key[i];
            ok = isalnum((unsigned char)ch) || ch == '_' || ch == '.' || ch == '-';
        }
        if (!ok) {
            vx_fail(err, "Idempotency-Key: must be " VX_IDEMPOTENCY_KEY_RULE);
            return VX_E_BAD_INPUT;
        }
        op.dedup_key = req->idempotency_key;
    }
    int r = vx_event_validate(e->cat, req, vx_wall_ms(), &op.event, err);
    if (r) return r;
    return vx_event_writer_submit(e->events, &op, done, arg, err);
}

typedef struct event_wait {
    vx_completion written;
    int status;
    vx_event_stored stored;
    vx_error err;
} event_wait;

static void event_waited(void *arg, int status, const vx_event_stored *stored, const vx_error *err) {
    event_wait *w = arg;
    w->status = status;
    if (stored) w->stored = *stored;
    if (err) w->err = *err;
    vx_completion_signal(&w->written);
}

int vx_engine_record_event(vx_engine *e, const vx_event_request *req, vx_event_stored *stored, vx_error *err) {
    event_wait w = {.written = VX_COMPLETION_INIT};
    int r = vx_engine_record_event_async(e, req, event_waited, &w, err);
    if (r == 0) vx_completion_wait(&w.written);
    vx_completion_destroy(&w.written);
    if (r) return r;
    *stored = w.stored;
    if (w.status) *err = w.err;
    return w.status;
}
