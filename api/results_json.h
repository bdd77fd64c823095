/* vidx api: the JSON shapes of search, similar, feed and event answers (DESIGN.md), shared
 * by the HTTP service and `vidx search|similar|feed|event --json`, so both print exactly the same.
 * Returns a new reference (json_decref) or NULL when out of memory. */
#ifndef VX_RESULTS_JSON_H
#define VX_RESULTS_JSON_H

#include <jansson.h>

#include "../ann/search.h"
#include "../recommend/events.h"
#include "../recommend/feed.h"

json_t *vx_results_json(const char *query, double took_ms, const vx_results *r);
/* {"user", "took_ms", "new_user", "events", "items": [{"video_id", "title", "path", "score",
 * "reason", "source", "thumbnail"}]} */
json_t *vx_feed_json(const char *user, double took_ms, const vx_feed *f);
/* The stored event: {"user", "video_id", "type", "seconds", "ts", "seq", "events"}. */
json_t *vx_event_json(const char *user, const vx_event_stored *e);

/* How every vidx JSON document is printed (compact, shortest round-trip reals). */
#define VX_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(9))

#endif
