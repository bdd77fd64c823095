#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int vx_op_has_vectors(const vx_op *op) {
    return op->kind == VX_OP_VIDEO && op->video.status == VX_VIDEO_INDEXED && !op->video.duplicate_of &&
           op->video.precision != VX_EMBEDDED_PENDING;
}

int vx_op_has_frames(const vx_op *op) {
    return op->kind == VX_OP_VIDEO && op->video.status == VX_VIDEO_INDEXED && !op->video.duplicate_of;
}

const char *vx_op_kind_name(uint8_t kind) {
    switch (kind) {
    case VX_OP_MODEL: return "model";
    case VX_OP_MODEL_CHANGE: return "model change";
    case VX_OP_VIDEO: return "video";
    case VX_OP_VIDEO_REMOVED: return "video removed";
    case VX_OP_VIDEO_TOUCHED: return "video touched";
    case VX_OP_EVENT: return "event";
    case VX_OP_JOB: return "job";
    case VX_OP_JOB_ITEM: return "job item";
    case VX_OP_USER_DELETED: return "user deleted";
    case VX_OP_TEXT: return "text";
    default: return "unknown";
    }
}

/* ---- encoding ---------------------------------------------------------------------------- */

/* A record as a varint-length blob: encoded into scratch, then copied. */
#define PUT_BLOB(b, scratch, encode, rec)                                                          \
    do {                                                                                           \
        vx_buf_reset(scratch);                                                                     \
        encode(scratch, rec);                                                                      \
        if ((scratch)->oom) (b)->oom = 1;                                                          \
        vx_put_varint(b, (scratch)->len);                                                          \
        vx_put_bytes(b, (scratch)->data, (scratch)->len);                                          \
    } while (0)

void vx_op_encode(vx_buf *b, const vx_op *op) {
    vx_buf s = {0};
    vx_put_u8(b, VX_OP_V1);
    vx_put_u8(b, op->kind);
    switch (op->kind) {
    case VX_OP_MODEL:
    case VX_OP_MODEL_CHANGE:
        vx_put_string(b, op->model ? op->model : "");
        vx_put_u64le(b, op->model_fingerprint);
        vx_put_u32le(b, op->embed_dim);
        break;
    case VX_OP_VIDEO:
        PUT_BLOB(b, &s, vx_video_encode, &op->video);
        vx_put_varint(b, op->n_thumbs);
        for (uint32_t i = 0; i < op->n_thumbs; i++) {
            vx_put_u32le(b, (uint32_t)op->thumbs[i].segment);
            vx_put_varint(b, op->thumbs[i].len);
            vx_put_bytes(b, op->thumbs[i].jpeg, op->thumbs[i].len);
        }
        if (vx_op_has_vectors(op)) {
            PUT_BLOB(b, &s, vx_embedding_encode, &op->embedding);
            for (uint32_t i = 0; i < op->video.n_segments; i++) PUT_BLOB(b, &s, vx_segment_encode, &op->segments[i]);
        }
        if (vx_op_has_frames(op) && op->frames.id) { /* a video waiting for the model has frames only */
            vx_put_u8(b, 1);
            PUT_BLOB(b, &s, vx_video_frames_encode, &op->frames);
        }
        break;
    case VX_OP_VIDEO_REMOVED:
    case VX_OP_VIDEO_TOUCHED:
        PUT_BLOB(b, &s, vx_video_encode, &op->video);
        break;
    case VX_OP_EVENT:
        vx_put_string(b, op->user ? op->user : "");
        PUT_BLOB(b, &s, vx_event_encode, &op->event);
        break;
    case VX_OP_JOB:
        PUT_BLOB(b, &s, vx_job_encode, &op->job);
        break;
    case VX_OP_JOB_ITEM:
        vx_put_u64le(b, op->job_id);
        vx_put_u32le(b, op->item_index);
        vx_put_u8(b, op->item.outcome);
        vx_put_string(b, op->item.path ? op->item.path : "");
        vx_put_string(b, op->item.message ? op->item.message : "");
        vx_put_u64le(b, (uint64_t)op->at);
        break;
    case VX_OP_USER_DELETED:
        vx_put_string(b, op->user ? op->user : "");
        break;
    case VX_OP_TEXT:
        PUT_BLOB(b, &s, vx_video_text_encode, &op->text);
        break;
    default:
        b->oom = 1; /* nothing valid to write */
    }
    vx_buf_free(&s);
}

/* ---- decoding ---------------------------------------------------------------------------- */

typedef int (*blob_decoder)(const void *data, size_t len, void *out, vx_error *err);

#define DECODER(name, type)                                                                        \
    static int dec_##name(const void *data, size_t len, void *out, vx_error *err) {                \
        return vx_##name##_decode(data, len, (type *)out, err);                                    \
    }
DECODER(video, vx_video)
DECODER(embedding, vx_embedding)
DECODER(segment, vx_segment)
DECODER(event, vx_event)
DECODER(job, vx_job)
DECODER(video_text, vx_video_text)
DECODER(video_frames, vx_video_frames)

static int get_blob(vx_cursor *c, blob_decoder dec, void *out, const char *what, vx_error *err) {
    uint64_t n = vx_get_varint(c);
    if (c->bad || n > vx_cursor_left(c)) return vx_fail(err, "op: %s runs past the end", what);
    const uint8_t *p = vx_get_bytes(c, (size_t)n);
    if (dec(p, (size_t)n, out, err)) return vx_fail_prefix(err, "op: %s", what);
    return 0;
}

int vx_op_decode(const void *data, size_t len, vx_op *op, vx_error *err) {
    memset(op, 0, sizeof *op);
    vx_cursor c = vx_cursor_make(data, len);
    uint8_t version = vx_get_u8(&c);
    if (c.bad) return vx_fail(err, "op: empty");
    if (version != VX_OP_V1) return vx_fail(err, "op: unknown version %u (this vidx reads %u)", version, VX_OP_V1);
    op->kind = vx_get_u8(&c);
    int rc = 0;
    switch (op->kind) {
    case VX_OP_MODEL:
    case VX_OP_MODEL_CHANGE:
        op->model = vx_get_string(&c, VX_MAX_TEXT);
        op->model_fingerprint = vx_get_u64le(&c);
        op->embed_dim = vx_get_u32le(&c);
        if (!c.bad && (op->embed_dim == 0 || op->embed_dim > VX_MAX_DIM || !op->model_fingerprint))
            rc = vx_fail(err, "op: model with dimension %u or fingerprint 0", op->embed_dim);
        break;
    case VX_OP_VIDEO: {
        if ((rc = get_blob(&c, dec_video, &op->video, "video record", err))) break;
        uint64_t n = vx_get_varint(&c);
        if (c.bad || n > VX_OP_MAX_THUMBS || n > vx_cursor_left(&c)) { rc = vx_fail(err, "op: bad thumbnail count"); break; }
        if (n && !(op->thumbs = calloc((size_t)n, sizeof *op->thumbs))) { rc = vx_fail(err, "out of memory"); break; }
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            vx_op_thumb *t = &op->thumbs[i];
            t->segment = (int32_t)vx_get_u32le(&c);
            uint64_t l = vx_get_varint(&c);
            if (c.bad || l == 0 || l > VX_OP_MAX_JPEG || l > vx_cursor_left(&c) ||
                t->segment < VX_THUMB_KEYFRAME(VX_KEYFRAMES_MAX - 1) || t->segment >= VX_OP_MAX_SEGMENTS) {
                rc = vx_fail(err, "op: thumbnail %u is malformed", i);
                break;
            }
            if (!(t->jpeg = malloc((size_t)l))) { rc = vx_fail(err, "out of memory"); break; }
            memcpy(t->jpeg, vx_get_bytes(&c, (size_t)l), (size_t)l);
            t->len = (uint32_t)l;
            op->n_thumbs = i + 1;
        }
        if (rc || !vx_op_has_frames(op)) break;
        if (vx_op_has_vectors(op) && op->video.n_segments > VX_OP_MAX_SEGMENTS) { rc = vx_fail(err, "op: too many segments"); break; }
        if (vx_op_has_vectors(op) && (rc = get_blob(&c, dec_embedding, &op->embedding, "embedding", err))) break;
        if (vx_op_has_vectors(op) && op->video.n_segments &&
            !(op->segments = calloc(op->video.n_segments, sizeof *op->segments))) {
            rc = vx_fail(err, "out of memory");
            break;
        }
        for (uint32_t i = 0; vx_op_has_vectors(op) && i < op->video.n_segments && rc == 0; i++) {
            rc = get_blob(&c, dec_segment, &op->segments[i], "segment", err);
            if (rc == 0 && op->segments[i].dim != op->embedding.dim)
                rc = vx_fail(err, "op: segment %u has %u dimensions, the video %u", i, op->segments[i].dim,
                             op->embedding.dim);
        }
        /* Its frames (ops of an older vidx have none). */
        if (rc || vx_cursor_done(&c)) break;
        if (vx_get_u8(&c) != 1) { rc = vx_fail(err, "op: unknown part after the segments"); break; }
        rc = get_blob(&c, dec_video_frames, &op->frames, "frames record", err);
        if (rc == 0 && op->frames.id != op->video.id) rc = vx_fail(err, "op: the frames record is another video's");
        break;
    }
    case VX_OP_VIDEO_REMOVED:
    case VX_OP_VIDEO_TOUCHED:
        rc = get_blob(&c, dec_video, &op->video, "video record", err);
        break;
    case VX_OP_EVENT:
        op->user = vx_get_string(&c, VX_MAX_USER);
        if (c.bad || !vx_user_name_valid(op->user)) { rc = vx_fail(err, "op: event without a valid user name"); break; }
        rc = get_blob(&c, dec_event, &op->event, "event", err);
        break;
    case VX_OP_JOB:
        rc = get_blob(&c, dec_job, &op->job, "job record", err);
        break;
    case VX_OP_JOB_ITEM:
        op->job_id = vx_get_u64le(&c);
        op->item_index = vx_get_u32le(&c);
        op->item.outcome = vx_get_u8(&c);
        op->item.path = vx_get_string(&c, VX_MAX_PATH);
        op->item.message = vx_get_string(&c, VX_MAX_TEXT);
        op->at = (int64_t)vx_get_u64le(&c);
        if (!c.bad && (!op->job_id || op->item_index >= VX_MAX_JOB_ITEMS || op->item.outcome == VX_ITEM_PENDING ||
                       op->item.outcome > VX_ITEM_SKIPPED || !*op->item.path || op->at < 0))
            rc = vx_fail(err, "op: job item with job 0, index %u, outcome %u or an empty path", op->item_index,
                         op->item.outcome);
        break;
    case VX_OP_USER_DELETED:
        op->user = vx_get_string(&c, VX_MAX_USER);
        if (c.bad || !vx_user_name_valid(op->user)) rc = vx_fail(err, "op: user deletion without a valid user name");
        break;
    case VX_OP_TEXT:
        rc = get_blob(&c, dec_video_text, &op->text, "text record", err);
        break;
    default:
        rc = vx_fail(err, "op: unknown kind %u", op->kind);
    }
    if (rc == 0 && c.bad) rc = vx_fail(err, "op (%s) is truncated", vx_op_kind_name(op->kind));
    if (rc == 0 && !vx_cursor_done(&c))
        rc = vx_fail(err, "op (%s) has %zu unexpected trailing bytes", vx_op_kind_name(op->kind), vx_cursor_left(&c));
    if (rc) vx_op_clear(op);
    return rc ? -1 : 0;
}

void vx_op_clear(vx_op *op) {
    /* Segments first: their count is the video record's. Decoding fills segments in
     * order from a zeroed array, so clearing all of them is safe when it stopped early. */
    for (uint32_t i = 0; op->segments && i < op->video.n_segments; i++) vx_segment_clear(&op->segments[i]);
    free(op->segments);
    free(op->model);
    vx_video_clear(&op->video);
    for (uint32_t i = 0; i < op->n_thumbs; i++) free(op->thumbs[i].jpeg);
    free(op->thumbs);
    vx_embedding_clear(&op->embedding);
    free(op->user);
    vx_job_clear(&op->job);
    free(op->item.path);
    free(op->item.message);
    vx_video_text_clear(&op->text);
    vx_video_frames_clear(&op->frames);
    memset(op, 0, sizeof *op);
}

/* ---- work items -------------------------------------------------------------------------- */

void vx_work_item_encode(vx_buf *b, const vx_work_item *w) {
    vx_put_u8(b, VX_OP_V1);
    vx_put_u64le(b, w->job_id);
    vx_put_u32le(b, w->index);
    vx_put_string(b, w->path ? w->path : "");
    vx_put_f64le(b, w->settings.rate);
    vx_put_u32le(b, w->settings.max_frames);
    vx_put_f64le(b, w->settings.timeout_s);
    vx_put_f64le(b, w->settings.segment_seconds);
}

int vx_work_item_decode(const void *data, size_t len, vx_work_item *w, vx_error *err) {
    memset(w, 0, sizeof *w);
    vx_cursor c = vx_cursor_make(data, len);
    uint8_t version = vx_get_u8(&c);
    w->job_id = vx_get_u64le(&c);
    w->index = vx_get_u32le(&c);
    w->path = vx_get_string(&c, VX_MAX_PATH);
    w->settings.rate = vx_get_f64le(&c);
    w->settings.max_frames = vx_get_u32le(&c);
    w->settings.timeout_s = vx_get_f64le(&c);
    w->settings.segment_seconds = vx_get_f64le(&c);
    const char *problem = NULL;
    if (!c.bad && version != VX_OP_V1) problem = "unknown version";
    else if (!vx_cursor_done(&c)) problem = "truncated or with trailing bytes";
    else if (!w->job_id || w->index >= VX_MAX_JOB_ITEMS || !*w->path) problem = "job 0, index out of range or empty path";
    else problem = vx_job_settings_problem(&w->settings);
    if (problem) {
        vx_work_item_clear(w);
        return vx_fail(err, "work item: %s", problem);
    }
    return 0;
}

void vx_work_item_clear(vx_work_item *w) {
    free(w->path);
    memset(w, 0, sizeof *w);
}

/* ---- shard searches ------------------------------------------------------------------------ */

void vx_shard_query_encode(vx_buf *b, const vx_shard_query *q) {
    vx_put_u8(b, VX_OP_V1);
    vx_put_u32le(b, q->shard);
    vx_put_u32le(b, q->shards);
    vx_put_u32le(b, q->pool);
    vx_put_u32le(b, q->dim);
    for (uint32_t i = 0; i < q->dim; i++) vx_put_f32le(b, q->v[i]);
}

int vx_shard_query_decode(const void *data, size_t len, vx_shard_query *q, vx_error *err) {
    memset(q, 0, sizeof *q);
    vx_cursor c = vx_cursor_make(data, len);
    const uint8_t version = vx_get_u8(&c);
    q->shard = vx_get_u32le(&c);
    q->shards = vx_get_u32le(&c);
    q->pool = vx_get_u32le(&c);
    q->dim = vx_get_u32le(&c);
    const char *problem = NULL;
    if (c.bad || version != VX_OP_V1) problem = "truncated or of an unknown version";
    else if (q->shards < 1 || q->shards > VX_SHARD_MAX || q->shard >= q->shards) problem = "shard out of range";
    else if (q->pool < 1 || q->pool > VX_SHARD_MAX_POOL) problem = "pool out of range";
    else if (q->dim < 1 || q->dim > VX_SHARD_MAX_DIM || vx_cursor_left(&c) != (size_t)q->dim * 4)
        problem = "dimension out of range or not the vector's length";
    else if (!(q->v = malloc((size_t)q->dim * sizeof *q->v))) problem = "out of memory";
    for (uint32_t i = 0; !problem && i < q->dim; i++)
        if (!isfinite(q->v[i] = vx_get_f32le(&c))) problem = "a component is not a finite number";
    if (problem) {
        vx_shard_query_clear(q);
        return vx_fail(err, "shard query: %s", problem);
    }
    return 0;
}

void vx_shard_query_clear(vx_shard_query *q) {
    free(q->v);
    memset(q, 0, sizeof *q);
}

void vx_shard_answer_encode(vx_buf *b, const vx_shard_answer *a) {
    vx_put_u8(b, VX_OP_V1);
    vx_put_u32le(b, a->shard);
    vx_put_u32le(b, a->shards);
    vx_put_u64le(b, a->segments);
    vx_put_u32le(b, a->n);
    for (uint32_t i = 0; i < a->n; i++) {
        vx_put_u64le(b, a->hits[i].video_id);
        vx_put_u32le(b, a->hits[i].segment);
        vx_put_f32le(b, a->hits[i].score);
    }
}

int vx_shard_answer_decode(const void *data, size_t len, vx_shard_answer *a, vx_error *err) {
    memset(a, 0, sizeof *a);
    vx_cursor c = vx_cursor_make(data, len);
    const uint8_t version = vx_get_u8(&c);
    a->shard = vx_get_u32le(&c);
    a->shards = vx_get_u32le(&c);
    a->segments = vx_get_u64le(&c);
    a->n = vx_get_u32le(&c);
    const char *problem = NULL;
    if (c.bad || version != VX_OP_V1) problem = "truncated or of an unknown version";
    else if (a->shards < 1 || a->shards > VX_SHARD_MAX || a->shard >= a->shards) problem = "shard out of range";
    else if (a->n > VX_SHARD_MAX_POOL || a->n > a->segments || vx_cursor_left(&c) != (size_t)a->n * 16)
        problem = "hit count out of range or not the answer's length";
    else if (a->n && !(a->hits = malloc((size_t)a->n * sizeof *a->hits))) problem = "out of memory";
    for (uint32_t i = 0; !problem && i < a->n; i++) {
        vx_shard_hit *h = &a->hits[i];
        h->video_id = vx_get_u64le(&c);
        h->segment = vx_get_u32le(&c);
        h->score = vx_get_f32le(&c);
        if (!isfinite(h->score) || (i && h->score > a->hits[i - 1].score)) problem = "scores not finite or not best first";
    }
    if (problem) {
        vx_shard_answer_clear(a);
        return vx_fail(err, "shard answer: %s", problem);
    }
    return 0;
}

void vx_shard_answer_clear(vx_shard_answer *a) {
    free(a->hits);
    memset(a, 0, sizeof *a);
}
