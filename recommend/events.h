/* vidx recommend: recording what users do (view, complete, like, dislike, skip).
 *
 * An event is validated (user name, known indexed video, type, seconds, timestamp),
 * then stored with the user's updated record in one synced batch: the event under
 * "i" user ts seq, the user under "u" user with its content profile moved towards (or,
 * for negative events, away from) the video's embedding. Events about an exact copy of
 * a video are stored against the original, whose vectors the copy shares.
 *
 * Profiles decay: the stored vector is the sum of w(event) * 2^(-age/half-life) *
 * embedding, kept as of the user's newest event, so an event costs O(dim) and events
 * arriving out of order count as if they had come in order.
 *
 * Writers must be serialised per database (a user's record is read, changed and
 * written back): the engine stages events on its one writer thread; vx_event_record
 * is for single writers (tests, tools).
 */
#ifndef VX_EVENTS_H
#define VX_EVENTS_H

#include <stdint.h>

#include "../common/error.h"
#include "../common/status.h"
#include "../schemas/catalog.h"

#define VX_EVENT_HALF_LIFE_DAYS 30.0
#define VX_EVENT_FUTURE_TOLERANCE_MS (5 * 60 * 1000) /* clocks disagree; beyond this, rejected */
#define VX_EVENT_MIN_TS_MS 946684800000LL           /* 2000-01-01: older timestamps are mistakes */
#define VX_EVENT_MAX_SECONDS (7 * 86400.0)

typedef struct vx_event_request {
    const char *user;
    uint64_t video_id;
    uint8_t type;       /* vx_event_type */
    double seconds;     /* watched; < 0 = not given */
    int64_t ts_ms;      /* unix milliseconds; 0 = now */
    const char *idempotency_key; /* the client's, for retries (cluster: the log keeps one event per key
                                    for 2 minutes); NULL = none. VX_IDEMPOTENCY_KEY_RULE */
} vx_event_request;

#define VX_IDEMPOTENCY_KEY_MAX 64
#define VX_IDEMPOTENCY_KEY_RULE "1 to 64 letters, digits, '_', '.' or '-'"

/* What was stored, for the caller to update in-memory state. */
typedef struct vx_event_stored {
    vx_event event;     /* video_id is the original's */
    uint32_t seq;
    float fraction;     /* watched fraction in [0, 1], -1 when unknown */
    uint64_t n_events;  /* the user's events, this one included */
} vx_event_stored;

/* Checks a request (fields, an indexed video; a copy counts for its original) and
 * resolves it to the event to store. A vx_status: 0, VX_E_BAD_INPUT (err names the field),
 * VX_E_NOT_FOUND (no such video, or not indexed), VX_E_INTERNAL. */
int vx_event_validate(vx_catalog *cat, const vx_event_request *req, int64_t now_ms, vx_event *out, vx_error *err);
/* The user's record, or a fresh one with only the name set when they have none yet. */
int vx_event_load_user(vx_catalog *cat, const char *name, vx_user *u, vx_error *err);
/* Applies a validated event to the user's record in memory (profile, count) and puts
 * the event and the record in b. Several events of one user may be staged in turn. */
int vx_event_stage(vx_catalog *cat, vx_user *u, const vx_event *ev, int64_t now_ms, vx_batch *b, vx_event_stored *out,
                   vx_error *err);
/* validate + stage + one synced write. */
int vx_event_record(vx_catalog *cat, const vx_event_request *req, int64_t now_ms, vx_event_stored *out,
                    vx_error *err);

/* The profile weight of an event: > 0 pulls towards the video, < 0 pushes away. */
float vx_event_weight(uint8_t type, float fraction);
/* Whether an event counts as positive engagement (co-engagement edges, "because you
 * liked"); negative ones (dislike) remove it. */
int vx_event_is_positive(uint8_t type, float fraction, float seconds);
int vx_event_is_negative(uint8_t type);

/* Parses a whole decimal number of seconds (>= 0, finite); -1 if not one. */
double vx_event_parse_seconds(const char *s);

#endif
