/* vidx present: the one serialiser, above the engine and beside the faces. Every JSON document vidx prints, over HTTP and on
 * the command line (`--json`), is made here from the engine's results, so both faces
 * print exactly the same (DESIGN.md; every field in schemas/api.md).
 * The vx_*_json functions return a new reference (json_decref) or NULL when out of
 * memory. */
#ifndef VX_PRESENT_JSON_H
#define VX_PRESENT_JSON_H

#include <jansson.h>

#include "../common/coding.h"
#include "../engine/engine.h"

/* How every vidx JSON document is printed (compact, shortest round-trip reals). */
#define VX_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(9))

/* search, similar: {"query", "took_ms", "total", "results": [{"video_id", "title", "path",
 * "score", "moment": {"start", "end"}, "thumbnail", "duration", "moment_thumbnail"?}]},
 * appended to b as text (check b->oom). The service's hottest answers (cached similar
 * videos, cached queries) are written straight out: building jansson objects for
 * them cost three quarters of the throughput. */
void vx_results_write(vx_buf *b, const char *query, double took_ms, const vx_results *r);
/* {"user", "took_ms", "new_user", "events", "items": [{"video_id", "title", "path", "score",
 * "reason", "source", "thumbnail"}]}, appended to b as text (check b->oom): a feed's
 * jansson objects cost a quarter of the service's time per feed. */
void vx_feed_write(vx_buf *b, const char *user, double took_ms, const vx_feed *f);
/* The stored event: {"user", "video_id", "type", "seconds", "ts", "seq", "events"}. */
json_t *vx_event_json(const char *user, const vx_event_stored *e);
/* GET /v1/videos/{id}: the record and its segments. */
json_t *vx_video_json(const vx_video_view *v);
/* GET /v1/users/{user} */
json_t *vx_user_json(const vx_user *u);
/* A job's settings as POST /v1/index takes them ("rate", "max_frames", "timeout",
 * "segment"; those set only), added to o. 0, or -1 when out of memory. */
int vx_job_settings_json(json_t *o, const vx_job_settings *js);
/* GET /v1/jobs/{id}: state, times, per-file outcomes (live while it runs). */
json_t *vx_job_json(const vx_job_status *s);
/* vidx info --json, GET /v1/info: what the data folder holds. */
/* GET /v1/tags: the state of tags, the vocabularies, and the tags videos have with
 * their counts (most first). */
json_t *vx_labels_json(vx_engine *e, const vx_labels_state *st, const vx_label_count *counts, int n);
json_t *vx_info_json(const char *database, int exists, const vx_engine_stats *i);
/* {"openblas": core, "openblas_why", "onednn": instruction set}: the kernels in use. */
json_t *vx_kernels_json(void);

#endif
