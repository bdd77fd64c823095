#include "events.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/hash.h"

float vx_event_weight(uint8_t type, float fraction) {
    const float f = fraction < 0 ? 0.0f : fraction;
    switch (type) {
    case VX_EVENT_VIEW: return 0.25f + 0.75f * f;
    case VX_EVENT_COMPLETE: return 1.0f;
    case VX_EVENT_LIKE: return 2.0f;
    case VX_EVENT_DISLIKE: return -2.0f;
    case VX_EVENT_SKIP: return -0.5f - 0.5f * (1.0f - f); /* skipping at once says more */
    default: return 0;
    }
}

int vx_event_is_positive(uint8_t type, float fraction, float seconds) {
    switch (type) {
    case VX_EVENT_LIKE:
    case VX_EVENT_COMPLETE: return 1;
    case VX_EVENT_VIEW: return fraction >= 0 ? fraction >= 0.5f : seconds >= 30;
    default: return 0;
    }
}

int vx_event_is_negative(uint8_t type) { return type == VX_EVENT_DISLIKE; }

double vx_event_parse_seconds(const char *s) {
    char *end;
    if (!s || !*s) return -1;
    double v = strtod(s, &end);
    return *end || !isfinite(v) || v < 0 ? -1 : v;
}

int vx_event_validate(vx_catalog *cat, const vx_event_request *req, int64_t now_ms, vx_event *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    if (!req->user || !vx_user_name_valid(req->user)) {
        vx_fail(err, "user: must be " VX_USER_NAME_RULE);
        return VX_E_BAD_INPUT;
    }
    if (req->type < VX_EVENT_VIEW || req->type > VX_EVENT_SKIP) {
        vx_fail(err, "type: must be view, complete, like, dislike or skip");
        return VX_E_BAD_INPUT;
    }
    if (!(req->seconds < 0 || (isfinite(req->seconds) && req->seconds <= VX_EVENT_MAX_SECONDS))) {
        vx_fail(err, "seconds: must be a number from 0 to %.0f", VX_EVENT_MAX_SECONDS);
        return VX_E_BAD_INPUT;
    }
    const int64_t ts = req->ts_ms ? req->ts_ms : now_ms;
    if (ts < VX_EVENT_MIN_TS_MS || ts > now_ms + VX_EVENT_FUTURE_TOLERANCE_MS) {
        vx_fail(err, "ts: %s (unix seconds, not before 2000 and at most 5 minutes ahead of this server's clock)",
                ts < VX_EVENT_MIN_TS_MS ? "too far in the past" : "in the future");
        return VX_E_BAD_INPUT;
    }
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(req->video_id, hex);
    vx_video v;
    int r = vx_catalog_get_video(cat, req->video_id, &v, err);
    if (r < 0) return -1;
    if (r == 0 && v.status == VX_VIDEO_INDEXED && (v.duplicate_of || v.near_duplicate_of)) {
        /* A copy or a re-upload: engagement belongs to its original (the one a feed
         * offers and leaves out once seen). */
        uint64_t orig = v.duplicate_of ? v.duplicate_of : v.near_duplicate_of;
        vx_video o;
        r = vx_catalog_get_video(cat, orig, &o, err);
        if (r < 0) { vx_video_clear(&v); return -1; }
        if (r == 0 && (o.status == VX_VIDEO_INDEXED || v.duplicate_of)) {
            vx_video_clear(&v);
            v = o;
        } else {
            /* A re-upload whose original is no longer indexed stands for itself. */
            if (r == 0) vx_video_clear(&o);
            if (v.duplicate_of) {
                vx_video_clear(&v);
                r = 1; /* a copy of nothing: as before, no such video */
            } else {
                r = 0;
            }
        }
    }
    if (r || v.status != VX_VIDEO_INDEXED) {
        vx_fail(err, "video %s: %s", hex, r ? "no such video" : "not indexed (failed or removed)");
        if (!r) vx_video_clear(&v);
        return VX_E_NOT_FOUND;
    }
    *out = (vx_event){.video_id = v.id, .type = req->type, .seconds = req->seconds < 0 ? 0.0f : (float)req->seconds,
                      .ts_ms = ts};
    vx_video_clear(&v);
    return 0;
}

int vx_event_stage(vx_catalog *cat, vx_user *u, const vx_event *ev, int64_t now_ms, vx_batch *b, vx_event_stored *out,
                   vx_error *err) {
    memset(out, 0, sizeof *out);
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(ev->video_id, hex);
    vx_video v;
    int r = vx_catalog_get_video(cat, ev->video_id, &v, err);
    if (r) return r < 0 ? -1 : vx_fail(err, "video %s: no such video", hex);
    const double duration = v.duration;
    vx_video_clear(&v);
    vx_embedding emb;
    r = vx_catalog_get_embedding(cat, ev->video_id, &emb, err);
    if (r) return r < 0 ? -1 : vx_fail(err, "video %s has no embedding (run `vidx info --check`)", hex);
    /* Derived from what is stored, so replaying the event gives the same profile. No
     * seconds (0) and "not given" weigh alike (vx_event_weight, vx_event_is_positive). */
    const float fraction = ev->seconds <= 0 || duration <= 0 ? -1.0f : (float)fmin(1.0, ev->seconds / duration);
    if (!u->created_at) u->created_at = now_ms / 1000;
    if (u->dim && u->dim != emb.dim) {
        /* The database's model changed dimensions: start the profile afresh. */
        free(u->profile);
        u->profile = NULL;
        u->dim = 0;
    }
    if (!u->dim) {
        if (!(u->profile = calloc(emb.dim, sizeof *u->profile))) {
            vx_embedding_clear(&emb);
            return vx_fail(err, "out of memory");
        }
        u->dim = emb.dim;
    }
    /* Decay to the newer of the two times, add the event at its own age. */
    const double half_life_ms = VX_EVENT_HALF_LIFE_DAYS * 86400e3;
    float w = vx_event_weight(ev->type, fraction);
    if (ev->ts_ms >= u->last_event_ms) {
        float decay = u->last_event_ms ? (float)exp2(-(double)(ev->ts_ms - u->last_event_ms) / half_life_ms) : 1.0f;
        for (uint32_t i = 0; i < u->dim; i++) u->profile[i] *= decay;
        u->last_event_ms = ev->ts_ms;
    } else {
        w *= (float)exp2(-(double)(u->last_event_ms - ev->ts_ms) / half_life_ms);
    }
    for (uint32_t i = 0; i < u->dim; i++) u->profile[i] += w * emb.v[i];
    for (uint32_t i = 0; i < u->dim; i++)
        if (!isfinite(u->profile[i])) u->profile[i] = 0; /* never store what the decoder rejects */
    vx_embedding_clear(&emb);
    out->event = *ev;
    out->seq = (uint32_t)u->n_events; /* (ts, seq) is unique per user */
    out->fraction = fraction;
    u->n_events++;
    out->n_events = u->n_events;
    vx_batch_put_event(b, u->name, out->seq, &out->event);
    vx_batch_put_user(b, u);
    return 0;
}

int vx_event_load_user(vx_catalog *cat, const char *name, vx_user *u, vx_error *err) {
    int r = vx_catalog_get_user(cat, name, u, err);
    if (r <= 0) return r;
    memset(u, 0, sizeof *u);
    if (!(u->name = strdup(name))) return vx_fail(err, "out of memory");
    return 0;
}

int vx_event_record(vx_catalog *cat, const vx_event_request *req, int64_t now_ms, vx_event_stored *out,
                    vx_error *err) {
    vx_event ev;
    memset(out, 0, sizeof *out);
    int r = vx_event_validate(cat, req, now_ms, &ev, err);
    if (r) return r;
    vx_user u;
    vx_batch *b = vx_batch_new();
    if (!b) return vx_fail(err, "out of memory");
    r = vx_event_load_user(cat, req->user, &u, err);
    if (r == 0) r = vx_event_stage(cat, &u, &ev, now_ms, b, out, err);
    if (r == 0) r = vx_catalog_write(cat, b, err);
    vx_user_clear(&u);
    vx_batch_free(b);
    return r;
}
