#include "json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../common/hash.h"
#include "../common/utf8.h"
#include "../encoder/kernels.h"
#include "urls.h"

/* Scores and times with a sensible number of digits. */
static json_t *num(double v, double scale) { return json_real(round(v * scale) / scale); }

/* ---- search, similar and feeds, straight to text ----------------------------------------- */

/* A JSON string: quotes, backslashes and control characters escaped; bytes that are not
 * UTF-8 (a file name may hold any) become U+FFFD, so the document always parses. */
static void put_json_string(vx_buf *b, const char *s) {
    if (!s) {
        vx_put_bytes(b, "null", 4);
        return;
    }
    vx_put_u8(b, '"');
    const char *run = s; /* bytes copied as they are, up to p */
    const char *p = s;
    for (;;) {
        /* Printable ASCII, the usual case, in one run. */
        while ((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80 && *p != '"' && *p != '\\') p++;
        if (!*p) break;
        const unsigned char c = (unsigned char)*p;
        if (c >= 0x80) {
            const size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (strnlen(p, len) == len && vx_utf8_valid(p, len)) {
                p += len;
                continue;
            }
        }
        vx_put_bytes(b, run, (size_t)(p - run));
        char esc[8];
        if (c == '"' || c == '\\') vx_put_bytes(b, (char[]){'\\', (char)c}, 2);
        else if (c < 0x20) vx_put_bytes(b, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", c));
        else vx_put_bytes(b, "\xEF\xBF\xBD", 3); /* one invalid byte, one replacement */
        run = ++p;
    }
    vx_put_bytes(b, run, (size_t)(p - run));
    vx_put_u8(b, '"');
}

/* Literal text, its length known at compile time. */
#define PUT_LIT(b, text) vx_put_bytes((b), (text), sizeof(text) - 1)

/* Decimal digits of v, at least `width` of them (zero-padded). No printf: this runs a
 * dozen times per result on the service's hottest path. */
static void put_digits(vx_buf *b, unsigned long long v, int width) {
    char t[24];
    int n = 0;
    do {
        t[sizeof t - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v || n < width);
    vx_put_bytes(b, t + sizeof t - n, (size_t)n);
}

/* v rounded to `decimals` places (1 to 4), printed without trailing zeros but with at
 * least one decimal, as jansson prints reals: 5.0, 0.31, -0.0824. */
static void put_fixed(vx_buf *b, double v, int decimals) {
    static const long long pow10[] = {1, 10, 100, 1000, 10000};
    const double scaled = round(v * (double)pow10[decimals]);
    if (!(fabs(scaled) < 9e15)) { /* beyond exact integers (or not finite: never stored) */
        char t[48];
        int n = snprintf(t, sizeof t, "%.17g", isfinite(v) ? v : 0.0);
        vx_put_bytes(b, t, (size_t)n);
        if (!strpbrk(t, ".e")) PUT_LIT(b, ".0");
        return;
    }
    long long q = (long long)scaled;
    if (q < 0) {
        vx_put_u8(b, '-');
        q = -q;
    }
    long long frac = q % pow10[decimals];
    int places = decimals;
    while (places > 1 && frac % 10 == 0) {
        frac /= 10;
        places--;
    }
    put_digits(b, (unsigned long long)(q / pow10[decimals]), 1);
    vx_put_u8(b, '.');
    put_digits(b, (unsigned long long)frac, places);
}

/* File names are bytes, and JSON strings are UTF-8. A name that is not UTF-8 is shown
 * with U+FFFD for each invalid byte ("path", "title": for people) and given whole as
 * base64 beside it ("path_bytes": a client can name the file exactly). */
static void put_base64(vx_buf *b, const unsigned char *s, size_t n) {
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        const unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
        const char q[4] = {digits[v >> 18 & 63], digits[v >> 12 & 63], i + 1 < n ? digits[v >> 6 & 63] : '=',
                           i + 2 < n ? digits[v & 63] : '='};
        vx_put_bytes(b, q, 4);
    }
}

/* A JSON string of text that may not be UTF-8 (each invalid byte becomes U+FFFD); NULL
 * only when out of memory. */
static json_t *lossy_string(const char *s) {
    if (!s) return json_null();
    if (vx_utf8_valid(s, strlen(s))) return json_string(s);
    char *shown = vx_utf8_lossy(s);
    json_t *out = shown ? json_string(shown) : NULL;
    free(shown);
    return out;
}

/* "path_bytes" when the path is not UTF-8 (base64 of its bytes), added to o. */
static void add_path_bytes(json_t *o, const char *path) {
    if (!o || !path || vx_utf8_valid(path, strlen(path))) return;
    vx_buf b = {0};
    put_base64(&b, (const unsigned char *)path, strlen(path));
    vx_put_u8(&b, 0);
    if (!b.oom) json_object_set_new(o, "path_bytes", json_string((const char *)b.data));
    vx_buf_free(&b);
}

/* ,"KEY":"URL" of thumbnail `which` of the video whose hex id is given. */
static void put_thumb(vx_buf *b, const char *key_lit, size_t key_len, const char *hex, long which) {
    char url[VX_URL_THUMB_MAX];
    vx_put_bytes(b, key_lit, key_len);
    vx_put_bytes(b, url, (size_t)vx_url_thumb_hex(hex, which, url));
    vx_put_u8(b, '"');
}
#define PUT_THUMB(b, key, hex, which) put_thumb(b, ",\"" key "\":\"", sizeof(",\"" key "\":\"") - 1, hex, which)

/* An item's opening: {"video_id", "title", "path", ["path_bytes",] "score" (the object
 * left open). */
static void put_item_head(vx_buf *b, const char *id, const char *title, const char *path, float score) {
    PUT_LIT(b, "{\"video_id\":\"");
    vx_put_bytes(b, id, 16);
    PUT_LIT(b, "\",\"title\":");
    put_json_string(b, title);
    PUT_LIT(b, ",\"path\":");
    put_json_string(b, path);
    if (path && !vx_utf8_valid(path, strlen(path))) {
        PUT_LIT(b, ",\"path_bytes\":\"");
        put_base64(b, (const unsigned char *)path, strlen(path));
        vx_put_u8(b, '"');
    }
    PUT_LIT(b, ",\"score\":");
    put_fixed(b, score, 4);
}

void vx_results_write(vx_buf *b, const char *query, double took_ms, const vx_results *r) {
    vx_buf_reserve(b, 256 + (size_t)r->n * 320); /* a typical answer in one allocation */
    PUT_LIT(b, "{\"query\":");
    put_json_string(b, query);
    PUT_LIT(b, ",\"took_ms\":");
    put_fixed(b, took_ms, 1);
    PUT_LIT(b, ",\"total\":");
    put_digits(b, (unsigned long long)(r->total > 0 ? r->total : 0), 1);
    if (r->total_estimated) PUT_LIT(b, ",\"total_estimated\":true");
    /* Which text tower embedded the query; a query not in English that only CLIP's English
     * tower could read says so, and how to add the multilingual one. */
    if (r->text_tower == VX_TOWER_CLIP) PUT_LIT(b, ",\"text_tower\":\"clip\"");
    if (r->text_tower == VX_TOWER_MULTILINGUAL) PUT_LIT(b, ",\"text_tower\":\"multilingual\"");
    if (r->text_tower == VX_TOWER_BOTH) PUT_LIT(b, ",\"text_tower\":\"both\"");
    if (r->english_only)
        PUT_LIT(b, ",\"text_note\":\"search by what is seen reads English only here: add the multilingual text tower "
                   "(scripts/download_model.sh --text-model) for queries in other languages\"");
    if (r->sharded) { /* a shard that did not answer in time leaves its videos out, said here */
        if (r->shards_missing) {
            PUT_LIT(b, ",\"partial\":true,\"shards_missing\":");
            put_digits(b, (unsigned long long)r->shards_missing, 1);
        } else {
            PUT_LIT(b, ",\"partial\":false");
        }
    }
    PUT_LIT(b, ",\"results\":[");
    for (int i = 0; i < r->n; i++) {
        const vx_result *x = &r->items[i];
        char id[VX_ID_HEX_LEN];
        vx_id_to_hex(x->video_id, id);
        if (i) vx_put_u8(b, ',');
        put_item_head(b, id, x->title, x->path, x->score);
        PUT_LIT(b, ",\"moment\":{\"start\":");
        put_fixed(b, x->start, 3);
        PUT_LIT(b, ",\"end\":");
        put_fixed(b, x->end, 3);
        vx_put_u8(b, '}');
        PUT_THUMB(b, "thumbnail", id, -1);
        PUT_LIT(b, ",\"duration\":");
        put_fixed(b, x->duration, 3);
        if (x->segment >= 0) PUT_THUMB(b, "moment_thumbnail", id, x->segment);
        if (x->matched) { /* text search: what matched, and the words in context */
            PUT_LIT(b, ",\"matched\":[");
            int first = 1;
            for (unsigned bit = 1; bit <= VX_MATCHED_LAST; bit <<= 1)
                if (x->matched & bit) {
                    if (!first) vx_put_u8(b, ',');
                    first = 0;
                    put_json_string(b, vx_matched_name(bit));
                }
            vx_put_u8(b, ']');
        }
        if (x->snippet) {
            PUT_LIT(b, ",\"snippet\":");
            put_json_string(b, x->snippet);
        }
        if (x->copies > 0) { /* re-uploads grouped with it: how many, and the first ones */
            PUT_LIT(b, ",\"copies\":");
            put_digits(b, (unsigned long long)x->copies, 1);
            PUT_LIT(b, ",\"copy_ids\":[");
            for (int k = 0; k < x->copies && k < VX_RESULT_COPIES; k++) {
                char cid[VX_ID_HEX_LEN];
                vx_id_to_hex(x->copy_ids[k], cid);
                if (k) vx_put_u8(b, ',');
                put_json_string(b, cid);
            }
            vx_put_u8(b, ']');
        }
        vx_put_u8(b, '}');
    }
    PUT_LIT(b, "]}");
}

void vx_feed_write(vx_buf *b, const char *user, double took_ms, const vx_feed *f) {
    vx_buf_reserve(b, 128 + (size_t)f->n * 400);
    PUT_LIT(b, "{\"user\":");
    put_json_string(b, user);
    PUT_LIT(b, ",\"took_ms\":");
    put_fixed(b, took_ms, 1);
    if (f->known_user) PUT_LIT(b, ",\"new_user\":false,\"events\":");
    else PUT_LIT(b, ",\"new_user\":true,\"events\":");
    put_digits(b, (unsigned long long)f->n_events, 1);
    PUT_LIT(b, ",\"items\":[");
    for (int i = 0; i < f->n; i++) {
        const vx_feed_item *x = &f->items[i];
        char id[VX_ID_HEX_LEN];
        vx_id_to_hex(x->video_id, id);
        if (i) vx_put_u8(b, ',');
        put_item_head(b, id, x->title, x->path, x->score);
        PUT_LIT(b, ",\"reason\":");
        put_json_string(b, x->reason);
        PUT_LIT(b, ",\"source\":");
        put_json_string(b, x->source);
        PUT_THUMB(b, "thumbnail", id, -1);
        vx_put_u8(b, '}');
    }
    PUT_LIT(b, "]}");
}

json_t *vx_event_json(const char *user, const vx_event_stored *e) {
    char id[VX_ID_HEX_LEN];
    vx_id_to_hex(e->event.video_id, id);
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:I, s:I}", "user", user, "video_id", id, "type",
                     vx_event_type_name(e->event.type), "seconds", num(e->event.seconds, 1e3), "ts",
                     num((double)e->event.ts_ms / 1e3, 1e3), "seq", (json_int_t)e->seq, "events",
                     (json_int_t)e->n_events);
}

/* "playback": direct|rendition|pending|failed, with the reason and progress when any. */
static void playback_json(json_t *o, const vx_playback_view *p) {
    if (!p->state) return;
    json_object_set_new(o, "playback", json_string(p->state));
    if (p->reason[0]) json_object_set_new(o, "playback_reason", json_string(p->reason));
    if (p->progress >= 0) json_object_set_new(o, "rendition_progress", num(p->progress, 1e3));
}

/* "text": {"title", "description", "tags", "subtitles": {"cues", "sources"}, "sources":
 * [{"origin", "field", ...}], "notes"}: what was read from the files and set through the
 * API (API first: it wins where both set a title). Cues are counted, not listed. */
static json_t *text_json(const vx_video_text text[2]) {
    json_t *o = json_object(), *tags = json_array(), *sources = json_array();
    const char *title = NULL, *description = NULL;
    json_int_t cues = 0;
    for (int k = 0; k < 2; k++) {
        const vx_video_text *t = &text[k == 0 ? VX_TEXT_API : VX_TEXT_FILES];
        for (uint32_t i = 0; i < t->n_entries; i++) {
            const vx_text_entry *x = &t->entries[i];
            if (x->field == VX_FIELD_TITLE && !title) title = x->text;
            else if (x->field == VX_FIELD_DESCRIPTION && !description) description = x->text;
            else if (x->field == VX_FIELD_TAG) json_array_append_new(tags, json_string(x->text));
            else if (x->field == VX_FIELD_SUBTITLE) cues++;
            /* One source per (origin, field), with its count. */
            size_t j;
            json_t *src;
            json_array_foreach(sources, j, src) {
                if (strcmp(json_string_value(json_object_get(src, "origin")), x->origin) == 0 &&
                    strcmp(json_string_value(json_object_get(src, "field")), vx_text_field_name(x->field)) == 0)
                    break;
            }
            if (j == json_array_size(sources))
                json_array_append_new(sources, json_pack("{s:s, s:s, s:i}", "origin", x->origin, "field",
                                                         vx_text_field_name(x->field), "entries", 0));
            src = json_array_get(sources, j);
            if (src) json_object_set_new(src, "entries", json_integer(json_integer_value(json_object_get(src, "entries")) + 1));
        }
    }
    if (!o || !tags || !sources) {
        json_decref(o);
        json_decref(tags);
        json_decref(sources);
        return NULL;
    }
    if (title) json_object_set_new(o, "title", lossy_string(title));
    if (description) json_object_set_new(o, "description", lossy_string(description));
    json_object_set_new(o, "tags", tags);
    json_object_set_new(o, "subtitle_cues", json_integer(cues));
    json_object_set_new(o, "sources", sources);
    if (text[VX_TEXT_FILES].notes && *text[VX_TEXT_FILES].notes)
        json_object_set_new(o, "notes", json_string(text[VX_TEXT_FILES].notes));
    if (text[VX_TEXT_API].id) json_object_set_new(o, "set_through_api", json_true());
    return o;
}

json_t *vx_video_json(const vx_video_view *vv) {
    const vx_video *v = &vv->video;
    char hex[VX_ID_HEX_LEN], thumb[VX_URL_THUMB_MAX];
    vx_id_to_hex(v->id, hex);
    vx_url_thumb(v->id, -1, thumb);
    json_t *segs = json_array();
    /* A copy's segments are its original's, with the original's thumbnails. */
    char owner[VX_ID_HEX_LEN];
    const uint64_t owner_id = v->duplicate_of ? v->duplicate_of : v->id;
    vx_id_to_hex(owner_id, owner);
    for (uint32_t i = 0; segs && i < vv->n_segments; i++) {
        char st[VX_URL_THUMB_MAX];
        vx_url_thumb(owner_id, i, st);
        if (json_array_append_new(segs, json_pack("{s:i, s:o, s:o, s:s}", "index", (int)i, "start",
                                                  num(vv->segments[i].start, 1e3), "end",
                                                  num(vv->segments[i].end, 1e3), "thumbnail", st))) {
            json_decref(segs);
            return NULL;
        }
    }
    json_t *o = segs ? json_pack("{s:s, s:o, s:o, s:o, s:o, s:i, s:i, s:s, s:I, s:I, s:s, s:o}", "video_id", hex,
                                 "title", lossy_string(v->title), "path", lossy_string(v->path), "duration",
                                 num(v->duration, 1e3), "fps",
                                 num(v->fps, 1e3), "width", (int)v->width, "height", (int)v->height, "status",
                                 vx_video_status_name(v->status), "created_at", (json_int_t)v->created_at,
                                 "updated_at", (json_int_t)v->updated_at, "thumbnail", thumb, "segments", segs)
                     : NULL;
    add_path_bytes(o, v->path);
    if (o && v->failure && *v->failure) json_object_set_new(o, "failure", lossy_string(v->failure));
    if (o && v->duplicate_of) json_object_set_new(o, "duplicate_of", json_string(owner));
    if (o && v->near_duplicate_of) {
        char orig[VX_ID_HEX_LEN];
        vx_id_to_hex(v->near_duplicate_of, orig);
        json_object_set_new(o, "near_duplicate_of", json_string(orig));
    }
    if (o && vv->n_labels) {
        /* Zero-shot labels ("tags" in the API), best first, with where they hold. */
        json_t *tags = json_array();
        for (int i = 0; tags && i < vv->n_labels; i++) {
            const vx_label_view *g = &vv->labels[i];
            json_t *ranges = json_array();
            for (int r = 0; ranges && r < g->n_ranges; r++)
                json_array_append_new(ranges, json_pack("{s:o, s:o}", "start", num(g->ranges[r].start, 1e3), "end",
                                                        num(g->ranges[r].end, 1e3)));
            json_array_append_new(tags, json_pack("{s:s, s:s, s:o, s:o}", "label", g->label, "vocabulary",
                                                  g->vocabulary ? g->vocabulary : "?", "score", num(g->score, 1e3),
                                                  "ranges", ranges ? ranges : json_array()));
        }
        if (tags) json_object_set_new(o, "tags", tags);
    }
    if (o && vv->frames.n_keyframes) {
        /* Key frames: moments that summarise the video, each with its picture. */
        json_t *keys = json_array();
        for (uint32_t i = 0; keys && i < vv->frames.n_keyframes; i++) {
            char kt[VX_URL_THUMB_MAX];
            vx_url_thumb(owner_id, VX_THUMB_KEYFRAME(i), kt);
            json_array_append_new(keys, json_pack("{s:o, s:s}", "t", num(vv->frames.frames[vv->frames.keyframes[i]].t, 1e3),
                                                  "thumbnail", kt));
        }
        if (keys) json_object_set_new(o, "keyframes", keys);
    }
    if (o && vx_video_pending(v)) json_object_set_new(o, "visual", json_string("waiting for the model"));
    else if (o && v->precision) json_object_set_new(o, "precision", json_string(vx_precision_name(v->precision - 1)));
    if (o) playback_json(o, &vv->playback);
    if (o && (vv->text[0].id || vv->text[1].id)) json_object_set_new(o, "text", text_json(vv->text));
    return o;
}

json_t *vx_labels_json(vx_engine *e, const vx_labels_state *st, const vx_label_count *counts, int n) {
    json_t *vocabs = json_array(), *tags = json_array();
    for (int i = 0; vocabs && i < st->n_vocabularies && i < VX_LABELS_MAX_VOCAB; i++)
        json_array_append_new(vocabs, json_pack("{s:s, s:i, s:o}", "name", st->vocabularies[i].name, "labels",
                                                st->vocabularies[i].labels, "threshold",
                                                num(st->vocabularies[i].threshold, 1e3)));
    for (int i = 0; tags && i < n; i++) {
        const char *vocabulary = "?";
        const char *label = vx_engine_label_name(e, counts[i].vocabulary, counts[i].label, &vocabulary);
        json_array_append_new(tags, json_pack("{s:s, s:s, s:I}", "vocabulary", vocabulary, "label", label, "videos",
                                              (json_int_t)counts[i].videos));
    }
    json_t *o = vocabs && tags ? json_pack("{s:s, s:o, s:I, s:b, s:o, s:o}", "state", vx_labels_state_name(st->state),
                                           "progress", num(st->progress, 1e3), "videos_tagged",
                                           (json_int_t)st->videos_tagged, "centred", st->centred, "vocabularies",
                                           vocabs, "tags", tags)
                               : NULL;
    if (!o) {
        json_decref(vocabs);
        json_decref(tags);
        return NULL;
    }
    if (st->problem[0]) json_object_set_new(o, "problem", json_string(st->problem));
    return o;
}

json_t *vx_user_json(const vx_user *u) {
    char feed[128];
    snprintf(feed, sizeof feed, VX_URL_USERS "%s/feed", u->name);
    return json_pack("{s:s, s:I, s:I, s:o, s:s}", "user", u->name, "created_at", (json_int_t)u->created_at, "events",
                     (json_int_t)u->n_events, "last_event", num((double)u->last_event_ms / 1e3, 1e3), "feed", feed);
}

static json_t *items_json(const vx_job_item *items, int n, const vx_playback_view *playback) {
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) {
        json_t *it = json_pack("{s:o, s:s}", "path", lossy_string(items[i].path), "outcome",
                               vx_item_outcome_name(items[i].outcome));
        add_path_bytes(it, items[i].path);
        if (it && items[i].message && *items[i].message) json_object_set_new(it, "message", lossy_string(items[i].message));
        if (it && playback) playback_json(it, &playback[i]);
        if (!it || json_array_append_new(a, it)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *summary_json(const vx_job_item *items, int n) {
    int c[VX_ITEM_SKIPPED + 1] = {0};
    for (int i = 0; i < n; i++)
        if (items[i].outcome <= VX_ITEM_SKIPPED) c[items[i].outcome]++;
    return json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "pending", c[VX_ITEM_PENDING], "indexed",
                     c[VX_ITEM_INDEXED], "unchanged", c[VX_ITEM_UNCHANGED], "duplicates", c[VX_ITEM_DUPLICATE],
                     "failed", c[VX_ITEM_FAILED], "removed", c[VX_ITEM_REMOVED], "skipped", c[VX_ITEM_SKIPPED]);
}

int vx_job_settings_json(json_t *o, const vx_job_settings *js) {
    int r = 0;
    if (js->rate) r |= json_object_set_new(o, "rate", json_real(js->rate));
    if (js->max_frames) r |= json_object_set_new(o, "max_frames", json_integer(js->max_frames));
    if (js->timeout_s) r |= json_object_set_new(o, "timeout", json_real(js->timeout_s));
    if (js->segment_seconds) r |= json_object_set_new(o, "segment", json_real(js->segment_seconds));
    return r ? -1 : 0;
}

json_t *vx_job_json(const vx_job_status *s) {
    const vx_job *job = &s->job;
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(job->id, hex);
    json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I}", "job_id", hex, "state", vx_job_state_name(job->state),
                          "created_at", (json_int_t)job->created_at, "started_at", (json_int_t)job->started_at,
                          "finished_at", (json_int_t)job->finished_at);
    if (!o) return NULL;
    /* The settings it was asked to use, when any (0: the service's own). */
    json_t *settings = json_object();
    if (settings && vx_job_settings_json(settings, &job->settings) == 0 && json_object_size(settings))
        json_object_set_new(o, "settings", settings);
    else json_decref(settings);
    if (s->running) {
        /* In progress: the files done so far; the record still holds the paths asked for. */
        json_object_set_new(o, "requested", items_json(job->items, (int)job->n_items, NULL));
        json_object_set_new(o, "files_done", json_integer(s->live.n_items));
        json_object_set_new(o, "summary", summary_json(s->live.items, s->live.n_items));
        json_object_set_new(o, "items", items_json(s->live.items, s->live.n_items, s->playback));
    } else {
        json_object_set_new(o, "files_done", json_integer(job->state == VX_JOB_DONE ? (json_int_t)job->n_items : 0));
        json_object_set_new(o, "summary", summary_json(job->items, (int)job->n_items));
        json_object_set_new(o, "items", items_json(job->items, (int)job->n_items, s->playback));
    }
    /* Renditions follow indexing: how many of this job's videos play how. */
    int direct = 0, ready = 0, pending = 0, failed = 0;
    for (int i = 0; i < s->n_playback; i++) {
        const char *st = s->playback[i].state;
        if (!st) continue;
        direct += !strcmp(st, "direct");
        ready += !strcmp(st, "rendition");
        pending += !strcmp(st, "pending");
        failed += !strcmp(st, "failed");
    }
    json_object_set_new(o, "playback", json_pack("{s:i, s:i, s:i, s:i}", "direct", direct, "rendition", ready,
                                                 "pending", pending, "failed", failed));
    return o;
}

json_t *vx_kernels_json(void) {
    vx_kernels k;
    vx_kernels_describe(&k);
    return json_pack("{s:s, s:s, s:s, s:s}", "openblas", k.openblas, "openblas_why", k.openblas_why, "onednn", k.onednn,
                     "fp32_products", k.fp32);
}

json_t *vx_info_json(const char *database, int exists, const vx_engine_stats *c) {
    char fingerprint[VX_ID_HEX_LEN] = "";
    if (c->meta.model_fingerprint) vx_id_to_hex(c->meta.model_fingerprint, fingerprint);
    json_t *o = json_pack("{s:s, s:b, s:i, s:I, s:{s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:s, s:s, s:{s:I, s:i}, s:I}",
                     "database", database, "exists", exists, "schema", (int)c->meta.schema_version, "created_at",
                     (json_int_t)c->meta.created_at, "videos", "indexed", (json_int_t)c->indexed, "failed",
                     (json_int_t)c->failed, "removed", (json_int_t)c->removed, "duplicates", (json_int_t)c->duplicates,
                     "segments", (json_int_t)c->segments, "users", (json_int_t)c->users, "events",
                     (json_int_t)c->events, "jobs", (json_int_t)c->jobs, "model", c->meta.model ? c->meta.model : "",
                     "model_fingerprint", fingerprint, "index", "generation", (json_int_t)c->meta.index_generation,
                     "dim", (int)c->meta.embed_dim, "corrupt_records", (json_int_t)c->corrupt);
    /* Videos indexed without the model, whose frames the model will encode. */
    json_t *videos = o ? json_object_get(o, "videos") : NULL;
    if (videos) json_object_set_new(videos, "waiting_for_model", json_integer((json_int_t)c->visual_pending));
    /* Which precision made the stored embeddings, and which this process encodes at:
     * a folder indexed at one and served at another works (same model, same space). */
    if (o)
        json_object_set_new(o, "encoder",
                            json_pack("{s:s, s:{s:I, s:I, s:I, s:I}}", "precision", c->precision ? c->precision : "",
                                      "embeddings", "f32", (json_int_t)c->by_precision[VX_EMBEDDED_F32], "bf16",
                                      (json_int_t)c->by_precision[VX_EMBEDDED_BF16], "int8",
                                      (json_int_t)c->by_precision[VX_EMBEDDED_INT8], "unrecorded",
                                      (json_int_t)c->by_precision[VX_EMBEDDED_UNKNOWN]));
    /* The kernels the products run on here (encoder/kernels.h). */
    json_t *enc = o ? json_object_get(o, "encoder") : NULL;
    if (enc) json_object_set_new(enc, "kernels", vx_kernels_json());
    /* Text: the records (videos' text from their files and from the API) and, where this
     * process keeps the lexical index, its documents (titles, descriptions, tags, cues, file
     * names). */
    json_t *text = o ? json_pack("{s:I, s:I}", "generation", (json_int_t)c->meta.text_generation, "records",
                                 (json_int_t)c->text_records)
                     : NULL;
    if (text && c->lexical_search) json_object_set_new(text, "documents", json_integer((json_int_t)c->text_documents));
    if (text) json_object_set_new(o, "text", text);
    return o;
}
