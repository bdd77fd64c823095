/* vidx engine: applying ops (schemas/ops.h), the one path by which state changes.
 *
 * An op is applied in this order, one at a time (apply_lock):
 *   1. files it brings (thumbnails), each written aside and renamed into place;
 *   2. one synced catalog batch: the records it sets and those it replaces (a video's
 *      previous segments, embedding and content entry), and the meta record's
 *      generations when stored vectors or what the lexical index holds change;
 *   3. the vector indexes (under their write lock; the version bump invalidates cached
 *      answers), the lexical index (text.c) and the recommender.
 * A crash between 2 and 3 is caught up at the next open (the indexes record the
 * generation they reflect), so the catalog is always the truth.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/hash.h"
#include "../common/log.h"
#include "../common/system.h"
#include "../common/vecmath.h"
#include "../indexer/thumbs.h"
#include "../recommend/events.h"
#include "../recommend/feed.h"
#include "../common/failpoint.h"
#include "engine_internal.h"

/* A video op's files: its thumbnails. VX_E_STORAGE when the disk lacks room for them
 * and its vectors beyond the reserve (disk.c), or refuses them. */
static int write_thumbs(vx_engine *e, const vx_op *op, vx_error *err) {
    uint64_t bytes = (uint64_t)op->video.n_segments * op->embedding.dim * sizeof(float) * 2; /* catalog + index */
    for (uint32_t i = 0; i < op->n_thumbs; i++) bytes += op->thumbs[i].len;
    if ((op->n_thumbs || vx_op_has_vectors(op)) && vx_engine_disk_room(e, bytes, "indexing", err)) return VX_E_STORAGE;
    if (!op->n_thumbs) return 0;
    vx_path path;
    if (vx_path_fmt(path, err, "%s/thumbs", e->data_dir)) return -1;
    if (mkdir(path, 0755) && errno != EEXIST) {
        const int storage = vx_errno_is_storage(errno);
        vx_fail(err, "cannot create %s: %s", path, strerror(errno));
        return storage ? VX_E_STORAGE : -1;
    }
    for (uint32_t i = 0; i < op->n_thumbs; i++) {
        if (vx_thumb_path(e->data_dir, op->video.id, op->thumbs[i].segment, path, err)) return -1;
        const int r = vx_write_file_atomic(path, op->thumbs[i].jpeg, op->thumbs[i].len, err);
        if (r) return r;
    }
    return 0;
}

/* What the catalog held for the video before: its segments, embedding and content
 * entry go unless the op keeps them. */
static void stage_replacement(vx_batch *b, const vx_video *old, const vx_op *op) {
    const int keeps_vectors = vx_op_has_vectors(op);
    const uint32_t keep = keeps_vectors ? op->video.n_segments : 0;
    if (old->n_segments > keep) vx_batch_delete_segments(b, old->id, keep, old->n_segments);
    if (!keeps_vectors) vx_batch_delete_embedding(b, old->id);
    if (old->content_hash != op->video.content_hash || op->video.status != VX_VIDEO_INDEXED)
        vx_batch_delete_content(b, old->content_hash, old->id);
}

/* Bumps the meta record's generations: of the stored vectors (vectors set) and of what
 * the lexical index holds (always: a video op may change whether the video is
 * searchable, a text op its text). *text_generation: the new one. */
static int bump_generation(vx_engine *e, vx_batch *b, int vectors, uint64_t *text_generation, vx_error *err) {
    vx_meta meta;
    if (vx_catalog_get_meta(e->cat, &meta, err)) return -1;
    if (vectors) meta.index_generation++;
    *text_generation = ++meta.text_generation;
    vx_batch_put_meta(b, &meta);
    vx_meta_clear(&meta);
    return 0;
}

/* Content whose rendition may be owed or no longer needed after a video op (media.c). */
typedef struct media_change {
    uint64_t needs; /* the video now has this content and may need a rendition */
    uint64_t left;  /* the video no longer has this content */
    int has_needs, has_left;
} media_change;

static int stage_video(vx_engine *e, const vx_op *op, vx_batch *b, int *vectors_changed, uint64_t *text_generation,
                       media_change *mc, vx_error *err) {
    const vx_video *v = &op->video;
    if (op->kind == VX_OP_VIDEO_TOUCHED) {
        /* Only the record it touches: a cluster's log may hand a node the touch of a
         * video whose indexing op it has not applied yet (or that changed since). */
        vx_video old;
        int r = vx_catalog_get_video(e->cat, v->id, &old, err);
        if (r < 0) return -1;
        if (r == 0) {
            if (old.content_hash == v->content_hash && old.status == v->status && old.n_segments == v->n_segments)
                vx_batch_put_video(b, v);
            vx_video_clear(&old);
        }
        return 0;
    }
    vx_video old;
    int had = vx_catalog_get_video(e->cat, v->id, &old, err);
    if (had < 0) {
        /* A corrupt record is replaced, as the indexer decided. */
        vx_warn("%s; replacing it", err->msg);
        had = 1;
    }
    if (had == 0) {
        stage_replacement(b, &old, op);
        /* Its frames' record and hash keys go; an indexed original's new ones follow. */
        vx_video_frames frames;
        const int fr = vx_catalog_get_frames(e->cat, v->id, &frames, err);
        if (fr < 0) vx_warn("%s; its hash keys stay until checked", err->msg);
        if (fr == 0) {
            vx_batch_delete_frames(b, &frames);
            vx_video_frames_clear(&frames);
        }
        if (old.status == VX_VIDEO_INDEXED && (old.content_hash != v->content_hash || v->status != VX_VIDEO_INDEXED)) {
            mc->left = old.content_hash;
            mc->has_left = 1;
        }
        vx_video_clear(&old);
    }
    if (op->kind == VX_OP_VIDEO && v->status == VX_VIDEO_INDEXED && v->playback != VX_PLAYBACK_DIRECT) {
        mc->needs = v->content_hash;
        mc->has_needs = 1;
    }
    if (op->kind == VX_OP_VIDEO_REMOVED) {
        vx_video removed = *v;
        removed.status = VX_VIDEO_REMOVED;
        removed.n_segments = 0;
        vx_batch_put_video(b, &removed);
    } else {
        if (vx_op_has_vectors(op)) {
            if (op->embedding.dim == 0 || (op->video.n_segments && !op->segments))
                return vx_fail(err, "op for video %016llx has no vectors", (unsigned long long)v->id);
            vx_batch_put_embedding(b, v->id, &op->embedding);
            for (uint32_t i = 0; i < v->n_segments; i++) vx_batch_put_segment(b, v->id, i, &op->segments[i]);
        }
        if (vx_op_has_frames(op) && op->frames.id == v->id) vx_batch_put_frames(b, &op->frames);
        vx_batch_put_video(b, v);
    }
    /* Stored vectors change when the video had a record (its vectors go or change) or
     * brings vectors or links to an original's. */
    *vectors_changed = had == 0 || vx_op_has_vectors(op) || (v->status == VX_VIDEO_INDEXED && v->duplicate_of);
    if (*vectors_changed) return bump_generation(e, b, 1, text_generation, err);
    /* A new video waiting for the model: no vectors, but searchable by its words. */
    return vx_op_has_frames(op) ? bump_generation(e, b, 0, text_generation, err) : 0;
}

/* A video's text: from its files (replaced whole each time they are read) or from the
 * API (an op without entries removes it). */
static int stage_text(vx_engine *e, const vx_op *op, vx_batch *b, uint64_t *text_generation, vx_error *err) {
    if (op->text.slot == VX_TEXT_API && op->text.n_entries == 0) vx_batch_delete_text(b, op->text.id, VX_TEXT_API);
    else vx_batch_put_text(b, &op->text);
    return bump_generation(e, b, 0, text_generation, err);
}

/* A model change: every indexed original that has vectors loses them and waits for the
 * new model's encoding (what indexer/index.c does for videos indexed without a model). */
typedef struct model_change { vx_batch *b; uint64_t videos; } model_change;

static int stage_pending(void *ctx, const vx_video *v) {
    model_change *mc = ctx;
    if (v->status != VX_VIDEO_INDEXED || v->duplicate_of || vx_video_pending(v)) return 0;
    vx_video pending = *v;
    pending.precision = VX_EMBEDDED_PENDING;
    pending.n_segments = 0;
    if (v->n_segments) vx_batch_delete_segments(mc->b, v->id, 0, v->n_segments);
    vx_batch_delete_embedding(mc->b, v->id);
    vx_batch_put_video(mc->b, &pending);
    mc->videos++;
    return 0;
}

static int stage_model(vx_engine *e, const vx_op *op, vx_batch *b, vx_error *err) {
    vx_meta meta;
    if (vx_catalog_get_meta(e->cat, &meta, err)) return -1;
    if (op->kind == VX_OP_MODEL && meta.model_fingerprint && meta.model_fingerprint != op->model_fingerprint) {
        vx_meta_clear(&meta);
        return vx_fail(err, "the database was indexed with another model");
    }
    if (op->kind == VX_OP_MODEL_CHANGE) {
        model_change mc = {b, 0};
        if (vx_catalog_scan_videos(e->cat, stage_pending, &mc, NULL, err)) {
            vx_meta_clear(&meta);
            return -1;
        }
        vx_info("model change: the vectors of %llu videos go; their frames wait for the new model",
                (unsigned long long)mc.videos);
        meta.index_generation++;
    }
    meta.model_fingerprint = op->model_fingerprint;
    meta.embed_dim = op->embed_dim;
    free(meta.model);
    meta.model = strdup(op->model ? op->model : "");
    vx_batch_put_meta(b, &meta);
    int oom = meta.model == NULL;
    vx_meta_clear(&meta);
    return oom ? vx_fail(err, "out of memory") : 0;
}

/* The vector indexes and the recommender follow a committed video op. */
static void follow_video(vx_engine *e, uint64_t id) {
    vx_error err;
    if (!e->vectors.ann) return; /* a catalog-only engine (a cluster's worker) keeps no indexes */
    pthread_rwlock_wrlock(&e->vectors.lock);
    int r = vx_failpoint("vector-follow") ? vx_fail(&err, "failpoint vector-follow")
                                          : vx_ann_update_video(e->vectors.ann, e->cat, id, &err);
    atomic_fetch_add(&e->vectors.version, 1); /* cached similar-video answers are stale */
    pthread_rwlock_unlock(&e->vectors.lock);
    if (r) {
        char why[400];
        snprintf(why, sizeof why, "video %016llx: %.300s", (unsigned long long)id, err.msg);
        vx_engine_mark_dirty(e, VX_DERIVED_VECTORS, why);
    }
    if (e->vectors.rec && vx_rec_video_changed(e->vectors.rec, e->cat, id, &err)) vx_warn("recommender: %s", err.msg);
    vx_engine_labels_follow(e, id);
}

/* One job item's outcome (a cluster's workers report files one by one): the job runs
 * from its first outcome and is done at its last, at the times the ops carry, so every
 * node derives the same record. */
static int stage_job_item(vx_engine *e, const vx_op *op, vx_batch *b, vx_error *err) {
    vx_job job;
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(op->job_id, hex);
    int r = vx_catalog_get_job(e->cat, op->job_id, &job, err);
    if (r) return r < 0 ? -1 : vx_fail(err, "job item for unknown job %s", hex);
    if (op->item_index >= job.n_items) {
        vx_job_clear(&job);
        return vx_fail(err, "job %s has %u items, not item %u", hex, job.n_items, op->item_index);
    }
    vx_job_item *it = &job.items[op->item_index];
    char *path = strdup(op->item.path), *message = strdup(op->item.message ? op->item.message : "");
    if (!path || !message) {
        free(path);
        free(message);
        vx_job_clear(&job);
        return vx_fail(err, "out of memory");
    }
    free(it->path);
    free(it->message);
    it->path = path;
    it->message = message;
    it->outcome = op->item.outcome;
    uint32_t pending = 0;
    for (uint32_t i = 0; i < job.n_items; i++) pending += job.items[i].outcome == VX_ITEM_PENDING;
    if (!job.started_at) job.started_at = op->at;
    job.state = pending ? VX_JOB_RUNNING : VX_JOB_DONE;
    if (!pending) job.finished_at = op->at;
    vx_batch_put_job(b, &job);
    vx_job_clear(&job);
    return 0;
}

/* The recommender forgets a deleted user: rebuilt from the catalog (deletions are rare;
 * its structures are built for adding). Under apply_lock and the index's write lock, so
 * no feed or event sees the swap half done. */
static void rebuild_recommender(vx_engine *e) {
    if (!e->vectors.rec) return;
    vx_error err;
    vx_recommender *fresh = vx_rec_open(e->cat, &err);
    if (!fresh) {
        vx_warn("recommender rebuild: %s", err.msg);
        return;
    }
    pthread_rwlock_wrlock(&e->vectors.lock);
    vx_recommender *old = e->vectors.rec;
    e->vectors.rec = fresh;
    e->vectors.rec_generation++; /* a model trained from the old one is not swapped in */
    pthread_rwlock_unlock(&e->vectors.lock);
    vx_rec_close(old);
    vx_engine_feedmodel_notice(e);
}

/* After a model change: the vector indexes start again, empty, at the new model's size
 * (every video's frames wait for it); the recommender forgets the old vectors. */
static void reset_vectors(vx_engine *e, int dim) {
    vx_error err;
    if (!e->vectors.ann) return;
    pthread_rwlock_wrlock(&e->vectors.lock);
    vx_ann *fresh = vx_ann_rebuilt(e->cat, e->data_dir, &e->ann_opt, dim, &err);
    if (fresh) {
        vx_ann_close(e->vectors.ann);
        e->vectors.ann = fresh;
    }
    atomic_fetch_add(&e->vectors.version, 1);
    pthread_rwlock_unlock(&e->vectors.lock);
    if (!fresh) vx_warn("vector index after the model change: %s", err.msg);
    rebuild_recommender(e);
}

/* Writes what was staged: synced; or, for an op from a cluster's log, with the op's log
 * position and without a sync (the log is the durable copy: a crash loses a tail that
 * is applied again, never half a batch). */
static int write_staged(vx_engine *e, vx_batch *b, const vx_log_position *pos, vx_error *err) {
    if (!pos) return vx_catalog_write(e->cat, b, err);
    vx_batch_put_log_position(b, pos);
    return vx_catalog_write_unsynced(e->cat, b, err);
}

/* Every op but events: staged into one batch, with the log position when the op comes
 * from a cluster's log (then written without a sync: the log is the durable copy). An
 * op that cannot apply still moves the position, so a node never stops on it; one the
 * disk refuses does not (VX_E_STORAGE: it is tried again). 0, -1 or VX_E_STORAGE. */
static int apply_one(vx_engine *e, const vx_op *op, const vx_log_position *pos, vx_error *err) {
    vx_batch *b = vx_batch_new();
    if (!b) return vx_fail(err, "out of memory");
    int rc = 0, vectors_changed = 0, had_user = 0;
    uint64_t text_generation = 0; /* set when the op changes what the lexical index holds */
    media_change mc = {0};
    pthread_mutex_lock(&e->apply_lock);
    switch (op->kind) {
    case VX_OP_MODEL:
    case VX_OP_MODEL_CHANGE: rc = stage_model(e, op, b, err); break;
    case VX_OP_VIDEO:
        rc = write_thumbs(e, op, err);
        if (rc == 0) rc = stage_video(e, op, b, &vectors_changed, &text_generation, &mc, err);
        break;
    case VX_OP_VIDEO_REMOVED:
    case VX_OP_VIDEO_TOUCHED: rc = stage_video(e, op, b, &vectors_changed, &text_generation, &mc, err); break;
    case VX_OP_TEXT: rc = stage_text(e, op, b, &text_generation, err); break;
    case VX_OP_JOB: vx_batch_put_job(b, &op->job); break;
    case VX_OP_JOB_ITEM: rc = stage_job_item(e, op, b, err); break;
    case VX_OP_USER_DELETED: { /* the recommender is rebuilt only when the user was known here */
        vx_user u;
        int r = vx_catalog_get_user(e->cat, op->user, &u, err);
        if (r == 0) { had_user = 1; vx_user_clear(&u); }
        rc = r < 0 ? -1 : vx_batch_delete_user(e->cat, b, op->user, err);
        break;
    }
    default: rc = vx_fail(err, "cannot apply an op of kind %u", op->kind);
    }
    int wrc = 0;
    vx_error werr;
    /* Refused by the disk: transient, so not even a logged op's position moves (its
     * follower tries again once there is room). */
    const int storage = rc == VX_E_STORAGE;
    if (rc && pos && !storage) {
        vx_batch_clear(b); /* nothing of the op, only the position */
        vectors_changed = 0;
        text_generation = 0;
    }
    if (rc == 0 || (pos && !storage)) {
        wrc = write_staged(e, b, pos, &werr);
        if (wrc && rc == 0) { *err = werr; rc = -1; }
    }
    if (rc == 0 && vectors_changed) follow_video(e, op->video.id);
    if (rc == 0 && text_generation)
        vx_engine_text_follow(e, op->kind == VX_OP_TEXT ? op->text.id : op->video.id, text_generation);
    if (rc == 0 && had_user) rebuild_recommender(e);
    if (rc == 0 && op->kind == VX_OP_MODEL_CHANGE) reset_vectors(e, (int)op->embed_dim);
    if (rc == 0 && mc.has_left) vx_renditions_forget(e->renditions, mc.left);
    if (rc == 0 && mc.has_needs) vx_renditions_notice(e->renditions, mc.needs);
    pthread_mutex_unlock(&e->apply_lock);
    vx_batch_free(b);
    return wrc || storage ? VX_E_STORAGE : rc ? -1 : 0; /* VX_E_STORAGE: not even the position was written */
}

int vx_engine_apply(vx_engine *e, const vx_op *op, vx_error *err) {
    if (op->kind == VX_OP_EVENT) {
        vx_event_stored st;
        int status;
        return vx_engine_apply_events(e, op, 1, NULL, &st, &status, err);
    }
    return apply_one(e, op, NULL, err);
}

int vx_engine_apply_logged(vx_engine *e, const vx_op *op, const vx_log_position *pos, vx_event_stored *stored,
                           vx_error *err) {
    /* An op at or before the stored position was applied already (the position is
     * written with each op's changes): applying it again changes nothing. Only the
     * follower thread applies logged ops, so nothing moves the position in between. */
    vx_log_position at;
    if (vx_catalog_get_log_position(e->cat, &at, err) < 0) return VX_E_STORAGE;
    memset(stored, 0, sizeof *stored);
    if (at.seq && pos->seq <= at.seq && at.stream_created == pos->stream_created) return 0;
    if (op->kind == VX_OP_EVENT) {
        int status;
        int r = vx_engine_apply_events(e, op, 1, pos, stored, &status, err);
        return r == VX_E_STORAGE ? VX_E_STORAGE : status ? VX_E_INTERNAL : VX_OK;
    }
    return apply_one(e, op, pos, err);
}

/* Several events in one write (synced, or with the log position when they come from a
 * cluster's log): users' records are read once and staged in turn, so two events of one
 * user in a group see each other. A logged event is applied as of its own time, so every
 * node derives the same user record. */
int vx_engine_apply_events(vx_engine *e, const vx_op *ops, int n, const vx_log_position *pos, vx_event_stored *stored,
                           int *status, vx_error *errs) {
    vx_user *users = calloc((size_t)n, sizeof *users);
    vx_batch *b = vx_batch_new();
    int n_users = 0, staged = 0, rc = 0;
    if (!users || !b) {
        free(users);
        vx_batch_free(b);
        for (int i = 0; i < n; i++) { status[i] = VX_E_INTERNAL; vx_fail(&errs[i], "out of memory"); }
        return -1;
    }
    const int64_t wall = vx_wall_ms();
    pthread_mutex_lock(&e->apply_lock);
    for (int i = 0; i < n; i++) {
        int u = 0;
        while (u < n_users && strcmp(users[u].name, ops[i].user) != 0) u++;
        status[i] = VX_OK;
        if (u == n_users) {
            if (vx_event_load_user(e->cat, ops[i].user, &users[u], &errs[i])) { status[i] = VX_E_INTERNAL; continue; }
            n_users++;
        }
        const int64_t now = pos ? ops[i].event.ts_ms : wall;
        if (vx_event_stage(e->cat, &users[u], &ops[i].event, now, b, &stored[i], &errs[i])) status[i] = VX_E_INTERNAL;
        else staged++;
    }
    vx_error werr;
    if ((staged || pos) && write_staged(e, b, pos, &werr)) {
        rc = VX_E_STORAGE;
        for (int i = 0; i < n; i++)
            if (status[i] == VX_OK) { status[i] = VX_E_STORAGE; errs[i] = werr; }
    }
    for (int i = 0; i < n; i++) {
        if (status[i] != VX_OK) { if (rc == 0) rc = VX_E_INTERNAL; continue; }
        vx_error oerr;
        if (e->vectors.rec && vx_rec_observe(e->vectors.rec, ops[i].user, &stored[i].event, stored[i].fraction, &oerr))
            vx_warn("recommender: %s", oerr.msg);
    }
    if (rc != VX_E_STORAGE) vx_engine_feedmodel_notice(e);
    pthread_mutex_unlock(&e->apply_lock);
    for (int i = 0; i < n_users; i++) vx_user_clear(&users[i]);
    free(users);
    vx_batch_free(b);
    return rc;
}

int vx_engine_rebuild_vectors(vx_engine *e, vx_error *err) {
    /* Built aside while searches go on with the old one, then swapped in. Only the
     * holder of apply_lock changes the index, so nothing changes in between. */
    pthread_mutex_lock(&e->apply_lock);
    vx_ann *fresh = vx_ann_rebuilt(e->cat, e->data_dir, &e->ann_opt, vx_ann_dim(e->vectors.ann), err);
    if (fresh) {
        pthread_rwlock_wrlock(&e->vectors.lock);
        vx_ann *old = e->vectors.ann;
        e->vectors.ann = fresh;
        atomic_fetch_add(&e->vectors.version, 1);
        pthread_rwlock_unlock(&e->vectors.lock);
        vx_ann_close(old);
    }
    pthread_mutex_unlock(&e->apply_lock);
    return fresh ? 0 : -1;
}

void vx_engine_settle_index(vx_engine *e, const char *who) {
    vx_error err;
    if (!e->vectors.ann) return;
    /* Without room the saved index stays older: the next open catches it up from the catalog. */
    if (vx_engine_disk_room(e, 0, "saving the vector index", &err)) {
        vx_warn("%s: %s", who, err.msg);
        return;
    }
    if (vx_ann_outgrown(e->vectors.ann)) {
        vx_info("%s: the vector index outgrew its type (exact search, or whole vectors in memory); rebuilding it",
                who);
        if (vx_engine_rebuild_vectors(e, &err)) vx_warn("%s: rebuilding the vector index: %s", who, err.msg);
    }
    pthread_rwlock_rdlock(&e->vectors.lock); /* saving reads the index: searches may share it */
    if (vx_ann_save(e->vectors.ann, e->cat, &err)) vx_warn("%s: saving the vector index: %s", who, err.msg);
    pthread_rwlock_unlock(&e->vectors.lock);
}

/* ---- changes: applied here, or committed to a cluster's log ------------------------------------ */

int vx_engine_commit(vx_engine *e, const vx_op *op, vx_error *err) {
    if (!e->opt.cluster) return vx_engine_apply(e, op, err);
    vx_event_stored stored;
    int status = 0;
    int r = e->opt.cluster->commit(e->opt.cluster->ctx, op, 1, &stored, &status, err);
    return status ? status : r ? VX_E_INTERNAL : VX_OK;
}

void vx_engine_commit_events(vx_engine *e, const vx_op *ops, int n, vx_event_stored *stored, int *status,
                             vx_error *errs) {
    if (e->opt.cluster) e->opt.cluster->commit(e->opt.cluster->ctx, ops, n, stored, status, errs);
    else vx_engine_apply_events(e, ops, n, NULL, stored, status, errs);
}

void vx_engine_settle(vx_engine *e) { vx_engine_settle_index(e, "cluster"); }

int vx_engine_log_position(vx_engine *e, vx_log_position *out, vx_error *err) {
    return vx_catalog_get_log_position(e->cat, out, err) < 0 ? VX_E_INTERNAL : VX_OK;
}
