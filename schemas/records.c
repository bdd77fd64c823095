#include "records.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/hash.h"
#include "../common/utf8.h"

/* ---- shared helpers ------------------------------------------------------------------ */

static void put_vector(vx_buf *b, uint32_t dim, const float *v) {
    vx_put_varint(b, dim);
    for (uint32_t i = 0; i < dim; i++) vx_put_f32le(b, v[i]);
}

/* Reads a varint dimension and that many finite floats. dim 0 gives NULL. */
static float *get_vector(vx_cursor *c, uint32_t *dim_out, const char **why) {
    uint64_t dim = vx_get_varint(c);
    *dim_out = 0;
    if (c->bad) { *why = "truncated vector length"; return NULL; }
    if (dim > VX_MAX_DIM) { *why = "vector dimension out of range"; c->bad = 1; return NULL; }
    if (dim * 4 > vx_cursor_left(c)) { *why = "vector runs past the end"; c->bad = 1; return NULL; }
    if (dim == 0) return NULL;
    float *v = malloc(dim * sizeof *v);
    if (!v) { *why = "out of memory"; c->bad = 1; return NULL; }
    /* One copy of the little-endian floats, then one check pass (an embedding is read
     * for every similar-video answer and 60 times per feed). */
    const uint8_t *p = vx_get_bytes(c, dim * 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(v, p, dim * 4);
#else
    for (uint64_t i = 0; i < dim; i++) {
        uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                     (uint32_t)p[4 * i + 3] << 24;
        memcpy(&v[i], &u, 4);
    }
#endif
    int finite = 1;
    for (uint64_t i = 0; i < dim; i++) finite &= isfinite(v[i]) != 0;
    if (!finite) { *why = "vector holds a non-finite value"; c->bad = 1; free(v); return NULL; }
    *dim_out = (uint32_t)dim;
    return v;
}

/* Starts decoding: checks the version byte. */
/* Reads the version byte: 1 up to `newest` are known. Returns the version, or -1. */
static int begin_versions(vx_cursor *c, const char *what, int newest, vx_error *err) {
    if (vx_cursor_left(c) == 0) return vx_fail(err, "empty %s record", what);
    uint8_t version = vx_get_u8(c);
    if (version < VX_RECORD_V1 || version > newest)
        return vx_fail(err, "%s record has unknown version %u (this vidx reads 1 to %d)", what, version, newest);
    return version;
}

static int begin(vx_cursor *c, const char *what, vx_error *err) {
    return begin_versions(c, what, VX_RECORD_V1, err) < 0 ? -1 : 0;
}

/* Ends decoding: everything read, nothing left over. */
static int finish(vx_cursor *c, const char *what, const char *why, vx_error *err) {
    if (why) return vx_fail(err, "%s record: %s", what, why);
    if (c->bad) return vx_fail(err, "%s record is truncated or has an invalid field", what);
    if (c->p != c->end) return vx_fail(err, "%s record has %zu unexpected trailing bytes", what, vx_cursor_left(c));
    return 0;
}

static int finite_nonneg(double x) { return isfinite(x) && x >= 0; }

/* ---- meta ---------------------------------------------------------------------------- */

/* Version 1 until the first text change, so that every record has one encoding (and
 * older vidx versions still read such databases). */
void vx_meta_encode(vx_buf *b, const vx_meta *m) {
    vx_put_u8(b, m->text_generation ? VX_RECORD_V2 : VX_RECORD_V1);
    vx_put_u32le(b, m->schema_version);
    vx_put_u64le(b, m->model_fingerprint);
    vx_put_u32le(b, m->embed_dim);
    vx_put_u64le(b, m->index_generation);
    vx_put_u64le(b, (uint64_t)m->created_at);
    vx_put_string(b, m->model);
    if (m->text_generation) vx_put_u64le(b, m->text_generation);
}

int vx_meta_decode(const void *data, size_t len, vx_meta *m, vx_error *err) {
    memset(m, 0, sizeof *m);
    vx_cursor c = vx_cursor_make(data, len);
    const char *why = NULL;
    const int version = begin_versions(&c, "meta", VX_RECORD_V2, err);
    if (version < 0) return -1;
    m->schema_version = vx_get_u32le(&c);
    m->model_fingerprint = vx_get_u64le(&c);
    m->embed_dim = vx_get_u32le(&c);
    m->index_generation = vx_get_u64le(&c);
    m->created_at = (int64_t)vx_get_u64le(&c);
    m->model = vx_get_string(&c, VX_MAX_PATH);
    if (version >= VX_RECORD_V2) m->text_generation = vx_get_u64le(&c);
    if (!c.bad && m->embed_dim > VX_MAX_DIM) why = "embedding dimension out of range";
    if (!c.bad && version >= VX_RECORD_V2 && !m->text_generation) why = "version 2 without a text generation";
    if (finish(&c, "meta", why, err)) { vx_meta_clear(m); return -1; }
    return 0;
}

void vx_meta_clear(vx_meta *m) {
    free(m->model);
    memset(m, 0, sizeof *m);
}

/* ---- videos -------------------------------------------------------------------------- */

/* Version 1 when how it plays is not decided (failed videos, older vidx), so that
 * every record has exactly one encoding. */
void vx_video_encode(vx_buf *b, const vx_video *v) {
    /* The oldest version that holds every field set, so the encoding is canonical;
     * version 5 holds them all. */
    const int v5 = v->inode != 0;
    const int with_playback = v->playback != VX_PLAYBACK_UNDECIDED || v->precision || v->near_duplicate_of || v5;
    vx_put_u8(b, v5                    ? VX_RECORD_V5
                 : v->near_duplicate_of ? VX_RECORD_V4
                 : v->precision       ? VX_RECORD_V3
                 : with_playback      ? VX_RECORD_V2
                                      : VX_RECORD_V1);
    vx_put_u64le(b, v->id);
    vx_put_u64le(b, v->content_hash);
    vx_put_u64le(b, v->size);
    vx_put_u64le(b, (uint64_t)v->mtime_ns);
    vx_put_f64le(b, v->duration);
    vx_put_f64le(b, v->fps);
    vx_put_u32le(b, v->width);
    vx_put_u32le(b, v->height);
    vx_put_u8(b, v->status);
    vx_put_varint(b, v->n_segments);
    vx_put_u64le(b, v->duplicate_of);
    vx_put_u64le(b, (uint64_t)v->created_at);
    vx_put_u64le(b, (uint64_t)v->updated_at);
    vx_put_string(b, v->path);
    vx_put_string(b, v->title);
    vx_put_string(b, v->failure);
    if (with_playback) {
        vx_put_u8(b, v->playback);
        vx_put_string(b, v->playback_note ? v->playback_note : "");
    }
    if (v->precision || v->near_duplicate_of || v5) vx_put_u8(b, v->precision);
    if (v->near_duplicate_of || v5) vx_put_u64le(b, v->near_duplicate_of);
    if (v5) vx_put_u64le(b, v->inode);
}

int vx_video_pending(const vx_video *v) {
    return v->status == VX_VIDEO_INDEXED && !v->duplicate_of && v->precision == VX_EMBEDDED_PENDING;
}

int vx_video_decode(const void *data, size_t len, vx_video *v, vx_error *err) {
    memset(v, 0, sizeof *v);
    vx_cursor c = vx_cursor_make(data, len);
    const char *why = NULL;
    const int version = begin_versions(&c, "video", VX_RECORD_V5, err);
    if (version < 0) return -1;
    v->id = vx_get_u64le(&c);
    v->content_hash = vx_get_u64le(&c);
    v->size = vx_get_u64le(&c);
    v->mtime_ns = (int64_t)vx_get_u64le(&c);
    v->duration = vx_get_f64le(&c);
    v->fps = vx_get_f64le(&c);
    v->width = vx_get_u32le(&c);
    v->height = vx_get_u32le(&c);
    v->status = vx_get_u8(&c);
    uint64_t n_segments = vx_get_varint(&c);
    v->duplicate_of = vx_get_u64le(&c);
    v->created_at = (int64_t)vx_get_u64le(&c);
    v->updated_at = (int64_t)vx_get_u64le(&c);
    v->path = vx_get_string(&c, VX_MAX_PATH);
    v->title = vx_get_string(&c, VX_MAX_TEXT);
    v->failure = vx_get_string(&c, VX_MAX_TEXT);
    if (version >= VX_RECORD_V2) {
        v->playback = vx_get_u8(&c);
        v->playback_note = vx_get_string(&c, VX_MAX_TEXT);
    } else {
        v->playback_note = strdup("");
        if (!v->playback_note) why = "out of memory";
    }
    if (version >= VX_RECORD_V3) v->precision = vx_get_u8(&c);
    if (version >= VX_RECORD_V4) v->near_duplicate_of = vx_get_u64le(&c);
    if (version >= VX_RECORD_V5) v->inode = vx_get_u64le(&c);
    if (!c.bad && !why) {
        if (v->id == 0) why = "video id is 0";
        else if (v->playback > 2) why = "unknown playback";
        else if (version == VX_RECORD_V2 && v->playback == VX_PLAYBACK_UNDECIDED) why = "version 2 without playback";
        else if ((version == VX_RECORD_V3 || version == VX_RECORD_V4) &&
                 (v->precision < VX_EMBEDDED_F32 || v->precision > VX_EMBEDDED_PENDING))
            why = "unknown embedding precision";
        else if (v->precision > VX_EMBEDDED_PENDING) why = "unknown embedding precision";
        else if (version == VX_RECORD_V5 && !v->inode) why = "version 5 without an inode";
        else if (v->precision == VX_EMBEDDED_PENDING && (v->status != VX_VIDEO_INDEXED || v->duplicate_of || n_segments))
            why = "frames waiting for the model, but not an indexed original without segments";
        else if ((version == VX_RECORD_V4 || v->near_duplicate_of) &&
                 (!v->near_duplicate_of || v->near_duplicate_of == v->id || v->status != VX_VIDEO_INDEXED ||
                  v->duplicate_of))
            why = "a near-duplicate link that is 0, to itself, or on a video that is not an indexed original";
        else if (v->status < VX_VIDEO_INDEXED || v->status > VX_VIDEO_REMOVED) why = "unknown status";
        else if (!finite_nonneg(v->duration)) why = "duration is negative or not finite";
        else if (!finite_nonneg(v->fps)) why = "frame rate is negative or not finite";
        else if (n_segments > UINT32_MAX) why = "segment count out of range";
        else if (v->path[0] == '\0') why = "empty path";
        v->n_segments = (uint32_t)n_segments;
    }
    if (finish(&c, "video", why, err)) { vx_video_clear(v); return -1; }
    return 0;
}

void vx_video_clear(vx_video *v) {
    free(v->path);
    free(v->title);
    free(v->failure);
    free(v->playback_note);
    memset(v, 0, sizeof *v);
}

/* ---- renditions ---------------------------------------------------------------------- */

void vx_rendition_encode(vx_buf *b, const vx_rendition *r) {
    vx_put_u8(b, VX_RECORD_V1);
    vx_put_u64le(b, r->content_hash);
    vx_put_u8(b, r->state);
    vx_put_u64le(b, r->bytes);
    vx_put_u32le(b, r->width);
    vx_put_u32le(b, r->height);
    vx_put_f64le(b, r->duration);
    vx_put_f64le(b, r->work_seconds);
    vx_put_u64le(b, (uint64_t)r->made_at);
    vx_put_string(b, r->failure ? r->failure : "");
}

int vx_rendition_decode(const void *data, size_t len, vx_rendition *r, vx_error *err) {
    memset(r, 0, sizeof *r);
    vx_cursor c = vx_cursor_make(data, len);
    const char *why = NULL;
    if (begin(&c, "rendition", err)) return -1;
    r->content_hash = vx_get_u64le(&c);
    r->state = vx_get_u8(&c);
    r->bytes = vx_get_u64le(&c);
    r->width = vx_get_u32le(&c);
    r->height = vx_get_u32le(&c);
    r->duration = vx_get_f64le(&c);
    r->work_seconds = vx_get_f64le(&c);
    r->made_at = (int64_t)vx_get_u64le(&c);
    r->failure = vx_get_string(&c, VX_MAX_TEXT);
    if (!c.bad) {
        if (r->state < VX_RENDITION_READY || r->state > VX_RENDITION_REQUESTED) why = "unknown rendition state";
        else if (!finite_nonneg(r->duration) || !finite_nonneg(r->work_seconds)) why = "negative or not finite time";
        else if (r->state == VX_RENDITION_READY && (r->width == 0 || r->height == 0 || r->width > 16384 || r->height > 16384))
            why = "picture size out of range";
    }
    if (finish(&c, "rendition", why, err)) { vx_rendition_clear(r); return -1; }
    return 0;
}

void vx_rendition_clear(vx_rendition *r) {
    free(r->failure);
    memset(r, 0, sizeof *r);
}

const char *vx_rendition_state_name(uint8_t state) {
    switch (state) {
    case VX_RENDITION_READY: return "ready";
    case VX_RENDITION_FAILED: return "failed";
    case VX_RENDITION_NOT_NEEDED: return "not needed";
    case VX_RENDITION_REQUESTED: return "requested";
    default: return "unknown";
    }
}

/* ---- text ---------------------------------------------------------------------------- */

const char *vx_text_field_name(uint8_t field) {
    switch (field) {
    case VX_FIELD_TITLE: return "title";
    case VX_FIELD_DESCRIPTION: return "description";
    case VX_FIELD_TAG: return "tags";
    case VX_FIELD_SUBTITLE: return "subtitle";
    default: return "unknown";
    }
}

void vx_video_text_encode(vx_buf *b, const vx_video_text *t) {
    vx_put_u8(b, VX_RECORD_V1);
    vx_put_u64le(b, t->id);
    vx_put_u8(b, t->slot);
    vx_put_u64le(b, (uint64_t)t->updated_at);
    vx_put_varint(b, t->n_sidecars);
    for (uint32_t i = 0; i < t->n_sidecars; i++) {
        vx_put_string(b, t->sidecars[i].name);
        vx_put_u64le(b, t->sidecars[i].size);
        vx_put_u64le(b, (uint64_t)t->sidecars[i].mtime_ns);
    }
    vx_put_string(b, t->notes ? t->notes : "");
    vx_put_varint(b, t->n_entries);
    for (uint32_t i = 0; i < t->n_entries; i++) {
        const vx_text_entry *x = &t->entries[i];
        vx_put_u8(b, x->field);
        vx_put_f64le(b, x->start);
        vx_put_f64le(b, x->end);
        vx_put_string(b, x->origin);
        vx_put_string(b, x->text);
    }
}

/* A string that must also be UTF-8 (the lexical index and JSON take nothing else). */
static char *get_utf8(vx_cursor *c, size_t max, const char **why) {
    char *s = vx_get_string(c, max);
    if (s && !*why && !vx_utf8_valid(s, strlen(s))) *why = "text is not UTF-8";
    return s;
}

int vx_video_text_decode(const void *data, size_t len, vx_video_text *t, vx_error *err) {
    memset(t, 0, sizeof *t);
    vx_cursor c = vx_cursor_make(data, len);
    const char *why = NULL;
    if (begin(&c, "text", err)) return -1;
    t->id = vx_get_u64le(&c);
    t->slot = vx_get_u8(&c);
    t->updated_at = (int64_t)vx_get_u64le(&c);
    uint64_t n = vx_get_varint(&c);
    /* Counts are checked against the bytes left (each item takes at least 17) before
     * anything is allocated for them. */
    if (!c.bad && (n > VX_TEXT_MAX_SIDECARS || n * 17 > vx_cursor_left(&c))) why = "sidecar count out of range";
    if (!c.bad && !why && n && !(t->sidecars = calloc(n, sizeof *t->sidecars))) why = "out of memory";
    for (uint64_t i = 0; !c.bad && !why && i < n; i++) {
        vx_sidecar_stamp *s = &t->sidecars[i];
        t->n_sidecars = (uint32_t)i + 1;
        s->name = get_utf8(&c, VX_MAX_PATH, &why);
        s->size = vx_get_u64le(&c);
        s->mtime_ns = (int64_t)vx_get_u64le(&c);
        if (!c.bad && !why && (!s->name[0] || strchr(s->name, '/'))) why = "sidecar name is empty or has a '/'";
    }
    if (!c.bad && !why) t->notes = get_utf8(&c, VX_MAX_TEXT, &why);
    n = c.bad || why ? 0 : vx_get_varint(&c);
    if (!c.bad && !why && (n > VX_TEXT_MAX_ENTRIES || n * 19 > vx_cursor_left(&c))) why = "entry count out of range";
    if (!c.bad && !why && n && !(t->entries = calloc(n, sizeof *t->entries))) why = "out of memory";
    for (uint64_t i = 0; !c.bad && !why && i < n; i++) {
        vx_text_entry *x = &t->entries[i];
        t->n_entries = (uint32_t)i + 1;
        x->field = vx_get_u8(&c);
        x->start = vx_get_f64le(&c);
        x->end = vx_get_f64le(&c);
        x->origin = get_utf8(&c, VX_TEXT_MAX_ORIGIN, &why);
        x->text = c.bad || why ? NULL : get_utf8(&c, VX_TEXT_MAX_ENTRY, &why);
        if (c.bad || why) break;
        if (x->field < VX_FIELD_TITLE || x->field > VX_FIELD_SUBTITLE) why = "unknown text field";
        else if (!finite_nonneg(x->start) || !finite_nonneg(x->end) || x->end < x->start)
            why = "time range is negative, not finite or ends before it starts";
        else if (x->field != VX_FIELD_SUBTITLE && (x->start != 0 || x->end != 0)) why = "a time range on text that is not a subtitle";
        else if (!x->text[0]) why = "empty text";
    }
    if (!c.bad && !why) {
        if (t->id == 0) why = "video id is 0";
        else if (t->slot > VX_TEXT_API) why = "unknown slot";
    }
    if (finish(&c, "text", why, err)) { vx_video_text_clear(t); return -1; }
    return 0;
}

void vx_video_text_clear(vx_video_text *t) {
    for (uint32_t i = 0; t->sidecars && i < t->n_sidecars; i++) free(t->sidecars[i].name);
    for (uint32_t i = 0; t->entries && i < t->n_entries; i++) {
        free(t->entries[i].origin);
        free(t->entries[i].text);
    }
    free(t->sidecars);
    free(t->entries);
    free(t->notes);
    memset(t, 0, sizeof *t);
}

/* ---- frames -------------------------------------------------------------------------- */

void vx_video_frames_encode(vx_buf *b, const vx_video_frames *f) {
    vx_put_u8(b, VX_RECORD_V1);
    vx_put_u64le(b, f->id);
    vx_put_varint(b, f->n);
    for (uint32_t i = 0; i < f->n; i++) {
        vx_put_f32le(b, f->frames[i].t);
        vx_put_u8(b, f->frames[i].flat);
        vx_put_u64le(b, f->frames[i].phash);
    }
    vx_put_varint(b, f->n_keyframes);
    for (uint32_t i = 0; i < f->n_keyframes; i++) vx_put_varint(b, f->keyframes[i]);
}

int vx_video_frames_decode(const void *data, size_t len, vx_video_frames *f, vx_error *err) {
    memset(f, 0, sizeof *f);
    vx_cursor c = vx_cursor_make(data, len);
    const char *why = NULL;
    if (begin(&c, "frames", err)) return -1;
    f->id = vx_get_u64le(&c);
    uint64_t n = vx_get_varint(&c);
    /* Each frame takes 13 bytes: counts are checked against the bytes left first. */
    if (!c.bad && (n > VX_FRAMES_MAX || n * 13 > vx_cursor_left(&c))) why = "frame count out of range";
    if (!c.bad && !why && n && !(f->frames = calloc(n, sizeof *f->frames))) why = "out of memory";
    for (uint64_t i = 0; !c.bad && !why && i < n; i++) {
        vx_frame_print *x = &f->frames[i];
        f->n = (uint32_t)i + 1;
        x->t = vx_get_f32le(&c);
        x->flat = vx_get_u8(&c);
        x->phash = vx_get_u64le(&c);
        if (c.bad) break;
        if (!finite_nonneg(x->t) || (i && x->t < f->frames[i - 1].t)) why = "frame times negative, not finite or decreasing";
        else if (x->flat > 1 || (x->flat && x->phash)) why = "a flat frame with a hash";
    }
    n = c.bad || why ? 0 : vx_get_varint(&c);
    if (!c.bad && !why && (n > VX_KEYFRAMES_MAX || n > f->n)) why = "key frame count out of range";
    if (!c.bad && !why && n && !(f->keyframes = calloc(n, sizeof *f->keyframes))) why = "out of memory";
    for (uint64_t i = 0; !c.bad && !why && i < n; i++) {
        const uint64_t k = vx_get_varint(&c);
        f->n_keyframes = (uint32_t)i + 1;
        f->keyframes[i] = (uint32_t)k;
        if (!c.bad && (k >= f->n || (i && k <= f->keyframes[i - 1]))) why = "key frames out of range or not increasing";
    }
    if (!c.bad && !why && f->id == 0) why = "video id is 0";
    if (finish(&c, "frames", why, err)) { vx_video_frames_clear(f); return -1; }
    return 0;
}

void vx_video_frames_clear(vx_video_frames *f) {
    free(f->frames);
    free(f->keyframes);
    memset(f, 0, sizeof *f);
}

/* ---- segments and embeddings --------------------------------------------------------- */

void vx_segment_encode(vx_buf *b, const vx_segment *s) {
    vx_put_u8(b, VX_RECORD_V1);
    vx_put_f64le(b, s->start);
    vx_put_f64le(b, s->end);
    vx_put_varint(b, s->n_frames);
    put_vector(b, s->dim, s->embedding);
}

int vx_segment_decode(const void *data, size_t len, vx_segment *s, vx_error *err) {
    memset(s, 0, sizeof *s);
    vx_cursor c = vx_cursor_make(data, len);
    const char *why = NULL;
    if (begin(&c, "segment", err)) return -1;
    s->start = vx_get_f64le(&c);
    s->end = vx_get_f64le(&c);
    uint64_t n_frames = vx_get_varint(&c);
    if (!c.bad) {
        if (!finite_nonneg(s->start) || !finite_nonneg(s->end) || s->end < s->start)
            why = "start and end times are not an interval";
        else if (n_frames > UINT32_MAX) why = "frame count out of range";
    }
    s->n_frames = (uint32_t)n_frames;
    if (!why && !c.bad) {
        s->embedding = get_vector(&c, &s->dim, &why);
        if (!why && !c.bad && s->dim == 0) why = "segment has no embedding";
    }
    if (finish(&c, "segment", why, err)) { vx_segment_clear(s); return -1; }
    return 0;
}

void vx_segment_clear(vx_segment *s) {
    free(s->embedding);
    memset(s, 0, sizeof *s);
}

void vx_embedding_encode(vx_buf *b, const vx_embedding *e) {
    vx_put_u8(b, VX_RECORD_V1);
    put_vector(b, e->dim, e->v);
}

int vx_embedding_decode(const void *data, size_t len, vx_embedding *e, vx_error *err) {
    memset(e, 0, sizeof *e);
    vx_cursor c = vx_cursor_make(data, len);
    const char *why = NULL;
    if (begin(&c, "embedding", err)) return -1;
    e->v = get_vector(&c, &e->dim, &why);
    if (!why && !c.bad && e->dim == 0) why = "empty embedding";
    if (finish(&c, "embedding", why, err)) { vx_embedding_clear(e); return -1; }
    return 0;
}

void vx_embedding_clear(vx_embedding *e) {
    free(e->v);
    memset(e, 0, sizeof *e);
}

/* ---- users and events ---------------------------------------------------------------- */

int vx_user_name_valid(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > VX_MAX_USER) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '.' || ch == '@' || ch == '-';
        if (!ok) return 0;
    }
    return 1;
}

void vx_user_encode(vx_buf *b, const vx_user *u) {
    vx_put_u8(b, VX_RECORD_V1);
    vx_put_string(b, u->name);
    vx_put_u64le(b, (uint64_t)u->created_at);
    vx_put_varint(b, u->n_events);
    vx_put_u64le(b, (uint64_t)u->last_event_ms);
    put_vector(b, u->dim, u->profile);
}

int vx_user_decode(const void *data, size_t len, vx_user *u, vx_error *err) {
    memset(u, 0, sizeof *u);
    vx_cursor c = vx_cursor_make(data, len);
    const char *why = NULL;
    if (begin(&c, "user", err)) return -1;
    u->name = vx_get_string(&c, VX_MAX_USER);
    u->created_at = (int64_t)vx_get_u64le(&c);
    u->n_events = vx_get_varint(&c);
    u->last_event_ms = (int64_t)vx_get_u64le(&c);
    if (!c.bad && !vx_user_name_valid(u->name)) why = "invalid user name";
    if (!why && !c.bad) u->profile = get_vector(&c, &u->dim, &why);
    if (finish(&c, "user", why, err)) { vx_user_clear(u); return -1; }
    return 0;
}

void vx_user_clear(vx_user *u) {
    free(u->name);
    free(u->profile);
    memset(u, 0, sizeof *u);
}

void vx_event_encode(vx_buf *b, const vx_event *e) {
    vx_put_u8(b, VX_RECORD_V1);
    vx_put_u64le(b, e->video_id);
    vx_put_u8(b, e->type);
    vx_put_f32le(b, e->seconds);
    vx_put_u64le(b, (uint64_t)e->ts_ms);
}

int vx_event_decode(const void *data, size_t len, vx_event *e, vx_error *err) {
    memset(e, 0, sizeof *e);
    vx_cursor c = vx_cursor_make(data, len);
    const char *why = NULL;
    if (begin(&c, "event", err)) return -1;
    e->video_id = vx_get_u64le(&c);
    e->type = vx_get_u8(&c);
    e->seconds = vx_get_f32le(&c);
    e->ts_ms = (int64_t)vx_get_u64le(&c);
    if (!c.bad) {
        if (e->video_id == 0) why = "video id is 0";
        else if (e->type < VX_EVENT_VIEW || e->type > VX_EVENT_SKIP) why = "unknown event type";
        else if (!finite_nonneg(e->seconds)) why = "seconds is negative or not finite";
        else if (e->ts_ms < 0) why = "negative timestamp";
    }
    return finish(&c, "event", why, err);
}

/* ---- jobs ---------------------------------------------------------------------------- */

static int in_range_or_zero(double x, double lo, double hi) { return x == 0 || (x >= lo && x <= hi); }

const char *vx_job_settings_problem(const vx_job_settings *s) {
    if (!in_range_or_zero(s->rate, VX_JOB_RATE_MIN, VX_JOB_RATE_MAX))
        return "rate: must be frames per second from 0.01 to 60";
    if (s->max_frames > VX_JOB_MAX_FRAMES_MAX) return "max_frames: must be from 1 to 100000";
    if (!in_range_or_zero(s->timeout_s, 1, VX_JOB_TIMEOUT_MAX)) return "timeout: must be seconds from 1 to 86400";
    if (!in_range_or_zero(s->segment_seconds, VX_JOB_SEGMENT_MIN, VX_JOB_SEGMENT_MAX))
        return "segment: must be seconds from 0.5 to 3600";
    return NULL;
}

static int any_setting(const vx_job_settings *s) {
    return s->rate != 0 || s->max_frames || s->timeout_s != 0 || s->segment_seconds != 0;
}

/* Version 2 adds the settings after the times, written only when a job has any: one
 * encoding per job, and a vidx that reads version 1 still reads jobs without them. */
void vx_job_encode(vx_buf *b, const vx_job *j) {
    const int with_settings = any_setting(&j->settings);
    vx_put_u8(b, with_settings ? VX_RECORD_V2 : VX_RECORD_V1);
    vx_put_u64le(b, j->id);
    vx_put_u8(b, j->state);
    vx_put_u64le(b, (uint64_t)j->created_at);
    vx_put_u64le(b, (uint64_t)j->started_at);
    vx_put_u64le(b, (uint64_t)j->finished_at);
    if (with_settings) {
        vx_put_f64le(b, j->settings.rate);
        vx_put_u32le(b, j->settings.max_frames);
        vx_put_f64le(b, j->settings.timeout_s);
        vx_put_f64le(b, j->settings.segment_seconds);
    }
    vx_put_varint(b, j->n_items);
    for (uint32_t i = 0; i < j->n_items; i++) {
        vx_put_string(b, j->items[i].path);
        vx_put_u8(b, j->items[i].outcome);
        vx_put_string(b, j->items[i].message);
    }
}

int vx_job_decode(const void *data, size_t len, vx_job *j, vx_error *err) {
    memset(j, 0, sizeof *j);
    vx_cursor c = vx_cursor_make(data, len);
    const char *why = NULL;
    const int version = begin_versions(&c, "job", VX_RECORD_V2, err);
    if (version < 0) return -1;
    j->id = vx_get_u64le(&c);
    j->state = vx_get_u8(&c);
    j->created_at = (int64_t)vx_get_u64le(&c);
    j->started_at = (int64_t)vx_get_u64le(&c);
    j->finished_at = (int64_t)vx_get_u64le(&c);
    if (version >= VX_RECORD_V2) {
        j->settings.rate = vx_get_f64le(&c);
        j->settings.max_frames = vx_get_u32le(&c);
        j->settings.timeout_s = vx_get_f64le(&c);
        j->settings.segment_seconds = vx_get_f64le(&c);
    }
    uint64_t n = vx_get_varint(&c);
    if (!c.bad) {
        if (j->state < VX_JOB_QUEUED || j->state > VX_JOB_FAILED) why = "unknown job state";
        else if (vx_job_settings_problem(&j->settings)) why = vx_job_settings_problem(&j->settings);
        else if (version >= VX_RECORD_V2 && !any_setting(&j->settings)) why = "version 2 without settings";
        /* Each item takes at least 3 bytes: never allocate for more than could be there. */
        else if (n > VX_MAX_JOB_ITEMS || n > vx_cursor_left(&c) / 3) why = "item count out of range";
    }
    if (!why && !c.bad && n > 0) {
        j->items = calloc((size_t)n, sizeof *j->items);
        if (!j->items) why = "out of memory";
        for (uint64_t i = 0; !why && !c.bad && i < n; i++) {
            j->n_items = (uint32_t)(i + 1);
            j->items[i].path = vx_get_string(&c, VX_MAX_PATH);
            j->items[i].outcome = vx_get_u8(&c);
            j->items[i].message = vx_get_string(&c, VX_MAX_TEXT);
            if (!c.bad && j->items[i].outcome > VX_ITEM_SKIPPED) why = "unknown item outcome";
        }
    }
    if (finish(&c, "job", why, err)) { vx_job_clear(j); return -1; }
    return 0;
}

void vx_job_clear(vx_job *j) {
    for (uint32_t i = 0; i < j->n_items && j->items; i++) {
        free(j->items[i].path);
        free(j->items[i].message);
    }
    free(j->items);
    memset(j, 0, sizeof *j);
}

/* ---- keys ---------------------------------------------------------------------------- */

void vx_key_id(uint8_t out[VX_KEY_ID_LEN], uint8_t family, uint64_t id) {
    out[0] = family;
    vx_store_u64be(out + 1, id);
}

void vx_key_segment(uint8_t out[VX_KEY_SEGMENT_LEN], uint64_t video_id, uint32_t index) {
    out[0] = VX_KEY_SEGMENT;
    vx_store_u64be(out + 1, video_id);
    vx_store_u32be(out + 9, index);
}

void vx_key_text(uint8_t out[VX_KEY_TEXT_LEN], uint64_t video_id, uint8_t slot) {
    out[0] = VX_KEY_TEXT;
    vx_store_u64be(out + 1, video_id);
    out[9] = slot;
}

void vx_key_phash(uint8_t out[VX_KEY_PHASH_LEN], int band, uint64_t phash, uint64_t video_id) {
    out[0] = VX_KEY_PHASH;
    out[1] = (uint8_t)band;
    const uint16_t bits = (uint16_t)(phash >> (16 * band));
    out[2] = (uint8_t)(bits >> 8);
    out[3] = (uint8_t)bits;
    vx_store_u64be(out + 4, video_id);
}

void vx_key_content(uint8_t out[VX_KEY_CONTENT_LEN], uint64_t hash, uint64_t video_id) {
    out[0] = VX_KEY_CONTENT;
    vx_store_u64be(out + 1, hash);
    vx_store_u64be(out + 9, video_id);
}

void vx_key_string(vx_buf *b, uint8_t family, const char *s) {
    vx_put_u8(b, family);
    vx_put_bytes(b, s, strlen(s));
}

size_t vx_key_event(uint8_t out[VX_KEY_EVENT_MAX], const char *user, int64_t ts_ms, uint32_t seq,
                    int prefix_only) {
    size_t n = strlen(user);
    if (n > VX_MAX_USER) n = VX_MAX_USER;
    out[0] = VX_KEY_EVENT;
    out[1] = (uint8_t)n;
    memcpy(out + 2, user, n);
    if (prefix_only) return 2 + n;
    vx_store_u64be(out + 2 + n, (uint64_t)ts_ms);
    vx_store_u32be(out + 10 + n, seq);
    return 14 + n;
}

/* Copies printable bytes, escaping the rest, so a garbage key cannot garble a log line. */
static void printable(const uint8_t *p, size_t n, char *out, size_t out_size) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < out_size; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') out[o++] = (char)p[i];
        else o += (size_t)snprintf(out + o, out_size - o, "\\x%02x", p[i]);
    }
    out[o < out_size ? o : out_size - 1] = '\0';
}

void vx_key_describe(const void *key, size_t len, char *out, size_t out_size) {
    const uint8_t *k = key;
    char hex[VX_ID_HEX_LEN], hex2[VX_ID_HEX_LEN], text[2 * VX_MAX_USER + 512];
    if (len == 0) { snprintf(out, out_size, "empty key"); return; }
    switch (k[0]) {
    case VX_KEY_META:
        if (len == 1) { snprintf(out, out_size, "meta"); return; }
        break;
    case VX_KEY_LOG:
        if (len == 1) { snprintf(out, out_size, "cluster log position"); return; }
        break;
    case VX_KEY_VIDEO:
    case VX_KEY_EMBEDDING:
    case VX_KEY_JOB:
    case VX_KEY_RENDITION:
    case VX_KEY_FRAMES:
        if (len == VX_KEY_ID_LEN) {
            vx_id_to_hex(vx_load_u64be(k + 1), hex);
            snprintf(out, out_size, "%s %s",
                     k[0] == VX_KEY_VIDEO ? "video" : k[0] == VX_KEY_JOB ? "job"
                     : k[0] == VX_KEY_RENDITION ? "rendition of content"
                     : k[0] == VX_KEY_FRAMES ? "frames of video" : "embedding", hex);
            return;
        }
        break;
    case VX_KEY_SEGMENT:
        if (len == VX_KEY_SEGMENT_LEN) {
            vx_id_to_hex(vx_load_u64be(k + 1), hex);
            snprintf(out, out_size, "segment %s/%u", hex, (unsigned)vx_load_u32be(k + 9));
            return;
        }
        break;
    case VX_KEY_PHASH:
        if (len == VX_KEY_PHASH_LEN) {
            vx_id_to_hex(vx_load_u64be(k + 4), hex);
            snprintf(out, out_size, "frame hash band %u bits %04x of video %s", k[1], (unsigned)(k[2] << 8 | k[3]), hex);
            return;
        }
        break;
    case VX_KEY_TEXT:
        if (len == VX_KEY_TEXT_LEN) {
            vx_id_to_hex(vx_load_u64be(k + 1), hex);
            snprintf(out, out_size, "text %s/%s", hex, k[9] == VX_TEXT_API ? "api" : k[9] == VX_TEXT_FILES ? "files" : "?");
            return;
        }
        break;
    case VX_KEY_CONTENT:
        if (len == VX_KEY_CONTENT_LEN) {
            vx_id_to_hex(vx_load_u64be(k + 1), hex);
            vx_id_to_hex(vx_load_u64be(k + 9), hex2);
            snprintf(out, out_size, "content %s/%s", hex, hex2);
            return;
        }
        break;
    case VX_KEY_PATH:
    case VX_KEY_USER:
        printable(k + 1, len - 1, text, sizeof text < 512 ? sizeof text : 512);
        snprintf(out, out_size, "%s %s", k[0] == VX_KEY_PATH ? "path" : "user", text);
        return;
    case VX_KEY_EVENT:
        if (len >= 2 && len == (size_t)k[1] + 14) {
            printable(k + 2, k[1], text, sizeof text);
            const uint8_t *p = k + 2 + k[1];
            snprintf(out, out_size, "event %s/%llu/%u", text, (unsigned long long)vx_load_u64be(p),
                     (unsigned)vx_load_u32be(p + 8));
            return;
        }
        break;
    default:
        break;
    }
    printable(k, len, text, sizeof text < 512 ? sizeof text : 512);
    snprintf(out, out_size, "unknown key \"%s\"", text);
}

/* ---- names --------------------------------------------------------------------------- */

const char *vx_video_status_name(uint8_t status) {
    switch (status) {
    case VX_VIDEO_INDEXED: return "indexed";
    case VX_VIDEO_FAILED: return "failed";
    case VX_VIDEO_REMOVED: return "removed";
    default: return "unknown";
    }
}

static const char *const event_names[] = {NULL, "view", "complete", "like", "dislike", "skip"};

const char *vx_event_type_name(uint8_t type) {
    return (type >= VX_EVENT_VIEW && type <= VX_EVENT_SKIP) ? event_names[type] : "unknown";
}

int vx_event_type_parse(const char *name, uint8_t *type_out) {
    for (uint8_t t = VX_EVENT_VIEW; t <= VX_EVENT_SKIP; t++) {
        if (strcmp(name, event_names[t]) == 0) {
            *type_out = t;
            return 0;
        }
    }
    return -1;
}

const char *vx_job_state_name(uint8_t state) {
    switch (state) {
    case VX_JOB_QUEUED: return "queued";
    case VX_JOB_RUNNING: return "running";
    case VX_JOB_DONE: return "done";
    case VX_JOB_FAILED: return "failed";
    default: return "unknown";
    }
}

const char *vx_item_outcome_name(uint8_t outcome) {
    switch (outcome) {
    case VX_ITEM_PENDING: return "pending";
    case VX_ITEM_INDEXED: return "indexed";
    case VX_ITEM_UNCHANGED: return "unchanged";
    case VX_ITEM_DUPLICATE: return "duplicate";
    case VX_ITEM_FAILED: return "failed";
    case VX_ITEM_REMOVED: return "removed";
    case VX_ITEM_SKIPPED: return "skipped";
    default: return "unknown";
    }
}
_Static_assert(VX_MAX_USER == 64, "VX_USER_NAME_RULE spells the limit out");

/* ---- cluster log position ------------------------------------------------------------ */

/* Version 2 only with an op's identity, so the encoding stays canonical. */
void vx_log_position_encode(vx_buf *b, const vx_log_position *p) {
    vx_put_u8(b, p->op_hash ? VX_RECORD_V2 : VX_RECORD_V1);
    vx_put_u64le(b, p->seq);
    vx_put_u64le(b, (uint64_t)p->stream_created);
    if (p->op_hash) vx_put_u64le(b, p->op_hash);
}

int vx_log_position_decode(const void *data, size_t len, vx_log_position *p, vx_error *err) {
    vx_cursor c = vx_cursor_make(data, len);
    uint8_t v = vx_get_u8(&c);
    p->seq = vx_get_u64le(&c);
    p->stream_created = (int64_t)vx_get_u64le(&c);
    p->op_hash = v == VX_RECORD_V2 ? vx_get_u64le(&c) : 0; /* version 1 did not record it */
    if (c.bad || (v != VX_RECORD_V1 && v != VX_RECORD_V2) || (v == VX_RECORD_V2 && !p->op_hash) ||
        !vx_cursor_done(&c))
        return vx_fail(err, "log position: malformed");
    return 0;
}
