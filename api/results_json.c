#include "results_json.h"

#include <math.h>
#include <stdio.h>

#include "../common/hash.h"

/* Scores and times with a sensible number of digits. */
static json_t *num(double v, double scale) { return json_real(round(v * scale) / scale); }

json_t *vx_results_json(const char *query, double took_ms, const vx_results *r) {
    json_t *results = json_array();
    for (int i = 0; results && i < r->n; i++) {
        const vx_result *x = &r->items[i];
        char id[VX_ID_HEX_LEN], thumb[64];
        vx_id_to_hex(x->video_id, id);
        snprintf(thumb, sizeof thumb, "/thumbs/%s.jpg", id);
        json_t *item = json_pack("{s:s, s:s?, s:s?, s:o, s:{s:o, s:o}, s:s, s:o}", "video_id", id, "title", x->title,
                                 "path", x->path, "score", num(x->score, 1e4), "moment", "start", num(x->start, 1e3),
                                 "end", num(x->end, 1e3), "thumbnail", thumb, "duration", num(x->duration, 1e3));
        if (item && x->segment >= 0) {
            snprintf(thumb, sizeof thumb, "/thumbs/%s-%d.jpg", id, x->segment);
            json_object_set_new(item, "moment_thumbnail", json_string(thumb));
        }
        if (!item || json_array_append_new(results, item)) {
            json_decref(results);
            return NULL;
        }
    }
    if (!results) return NULL;
    return json_pack("{s:s, s:o, s:i, s:o}", "query", query, "took_ms", num(took_ms, 10), "total", r->total,
                     "results", results);
}

json_t *vx_feed_json(const char *user, double took_ms, const vx_feed *f) {
    json_t *items = json_array();
    for (int i = 0; items && i < f->n; i++) {
        const vx_feed_item *x = &f->items[i];
        char id[VX_ID_HEX_LEN], thumb[64];
        vx_id_to_hex(x->video_id, id);
        snprintf(thumb, sizeof thumb, "/thumbs/%s.jpg", id);
        json_t *item = json_pack("{s:s, s:s?, s:s?, s:o, s:s?, s:s, s:s}", "video_id", id, "title", x->title, "path",
                                 x->path, "score", num(x->score, 1e4), "reason", x->reason, "source", x->source,
                                 "thumbnail", thumb);
        if (!item || json_array_append_new(items, item)) {
            json_decref(items);
            return NULL;
        }
    }
    if (!items) return NULL;
    return json_pack("{s:s, s:o, s:b, s:I, s:o}", "user", user, "took_ms", num(took_ms, 10), "new_user",
                     !f->known_user, "events", (json_int_t)f->n_events, "items", items);
}

json_t *vx_event_json(const char *user, const vx_event_stored *e) {
    char id[VX_ID_HEX_LEN];
    vx_id_to_hex(e->event.video_id, id);
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:I, s:I}", "user", user, "video_id", id, "type",
                     vx_event_type_name(e->event.type), "seconds", num(e->event.seconds, 1e3), "ts",
                     num((double)e->event.ts_ms / 1e3, 1e3), "seq", (json_int_t)e->seq, "events",
                     (json_int_t)e->n_events);
}
