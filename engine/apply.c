/* vidx engine: applying ops (schemas/ops.h), the one path by which state changes.
 *
 * An op is applied in this order, one at a time (apply_lock):
 *   1. files it brings (thumbnails), each written aside and renamed into place;
 *   2. one synced catalog batch: the records it sets and those it replaces (a video's
 *      previous segments, embedding and content entry), and the meta record's
 *      generation when stored vectors change;
 *   3. the vector indexes (under their write lock; the version bump invalidates cached
 *      answers) and the recommender.
 * A crash between 2 and 3 is caught up at the next open (the indexes' files record the
 * generation they reflect), so the catalog is always the truth.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/log.h"
#include "../common/vecmath.h"
#include "../indexer/thumbs.h"
#include "../recommend/events.h"
#include "../recommend/feed.h"
#include "engine_internal.h"

static int write_thumbs(vx_engine *e, const vx_op *op, vx_error *err) {
    if (!op->n_thumbs) return 0;
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/thumbs", e->data_dir);
    if (mkdir(path, 0755) && errno != EEXIST) return vx_fail(err, "cannot create %s: %s", path, strerror(errno));
    for (uint32_t i = 0; i < op->n_thumbs; i++) {
        vx_thumb_path(e->data_dir, op->video.id, op->thumbs[i].segment, path, sizeof path);
        if (vx_write_file_atomic(path, op->thumbs[i].jpeg, op->thumbs[i].len, err)) return -1;
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

static int bump_generation(vx_engine *e, vx_batch *b, vx_error *err) {
    vx_meta meta;
    if (vx_catalog_get_meta(e->cat, &meta, err)) return -1;
    meta.index_generation++;
    vx_batch_put_meta(b, &meta);
    vx_meta_clear(&meta);
    return 0;
}

static int stage_video(vx_engine *e, const vx_op *op, vx_batch *b, int *vectors_changed, vx_error *err) {
    const vx_video *v = &op->video;
    if (op->kind == VX_OP_VIDEO_TOUCHED) {
        vx_batch_put_video(b, v);
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
        vx_video_clear(&old);
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
        vx_batch_put_video(b, v);
    }
    /* Stored vectors change when the video had a record (its vectors go or change) or
     * brings vectors or links to an original's. */
    *vectors_changed = had == 0 || vx_op_has_vectors(op) || (v->status == VX_VIDEO_INDEXED && v->duplicate_of);
    return *vectors_changed ? bump_generation(e, b, err) : 0;
}

static int stage_model(vx_engine *e, const vx_op *op, vx_batch *b, vx_error *err) {
    vx_meta meta;
    if (vx_catalog_get_meta(e->cat, &meta, err)) return -1;
    if (meta.model_fingerprint && meta.model_fingerprint != op->model_fingerprint) {
        vx_meta_clear(&meta);
        return vx_fail(err, "the database was indexed with another model");
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
    pthread_rwlock_wrlock(&e->ann_lock);
    int r = vx_ann_update_video(e->ann, e->cat, id, &err);
    atomic_fetch_add(&e->ann_version, 1); /* cached similar-video answers are stale */
    pthread_rwlock_unlock(&e->ann_lock);
    if (r) vx_warn("vector index update for %016llx: %s", (unsigned long long)id, err.msg);
    if (e->rec && vx_rec_video_changed(e->rec, e->cat, id, &err)) vx_warn("recommender: %s", err.msg);
}

int vx_engine_apply(vx_engine *e, const vx_op *op, vx_error *err) {
    if (op->kind == VX_OP_EVENT) {
        vx_event_stored st;
        int status;
        return vx_engine_apply_events(e, op, 1, &st, &status, err);
    }
    vx_batch *b = vx_batch_new();
    if (!b) return vx_fail(err, "out of memory");
    int rc = 0, vectors_changed = 0;
    pthread_mutex_lock(&e->apply_lock);
    switch (op->kind) {
    case VX_OP_MODEL: rc = stage_model(e, op, b, err); break;
    case VX_OP_VIDEO:
        rc = write_thumbs(e, op, err);
        if (rc == 0) rc = stage_video(e, op, b, &vectors_changed, err);
        break;
    case VX_OP_VIDEO_REMOVED:
    case VX_OP_VIDEO_TOUCHED: rc = stage_video(e, op, b, &vectors_changed, err); break;
    case VX_OP_JOB: vx_batch_put_job(b, &op->job); break;
    default: rc = vx_fail(err, "cannot apply an op of kind %u", op->kind);
    }
    if (rc == 0) rc = vx_catalog_write(e->cat, b, err);
    if (rc == 0 && vectors_changed) follow_video(e, op->video.id);
    pthread_mutex_unlock(&e->apply_lock);
    vx_batch_free(b);
    return rc;
}

/* Several events in one synced write: users' records are read once and staged in turn,
 * so two events of one user in a group see each other. */
int vx_engine_apply_events(vx_engine *e, const vx_op *ops, int n, vx_event_stored *stored, int *status,
                           vx_error *errs) {
    vx_user *users = calloc((size_t)n, sizeof *users);
    vx_batch *b = vx_batch_new();
    int n_users = 0, staged = 0, rc = 0;
    if (!users || !b) {
        free(users);
        vx_batch_free(b);
        for (int i = 0; i < n; i++) { status[i] = VX_E_INTERNAL; vx_fail(&errs[i], "out of memory"); }
        return -1;
    }
    const int64_t now = vx_wall_ms();
    pthread_mutex_lock(&e->apply_lock);
    for (int i = 0; i < n; i++) {
        int u = 0;
        while (u < n_users && strcmp(users[u].name, ops[i].user) != 0) u++;
        status[i] = VX_OK;
        if (u == n_users) {
            if (vx_event_load_user(e->cat, ops[i].user, &users[u], &errs[i])) { status[i] = VX_E_INTERNAL; continue; }
            n_users++;
        }
        if (vx_event_stage(e->cat, &users[u], &ops[i].event, now, b, &stored[i], &errs[i])) status[i] = VX_E_INTERNAL;
        else staged++;
    }
    vx_error werr;
    if (staged && vx_catalog_write(e->cat, b, &werr)) {
        rc = -1;
        for (int i = 0; i < n; i++)
            if (status[i] == VX_OK) { status[i] = VX_E_INTERNAL; errs[i] = werr; }
    }
    pthread_mutex_unlock(&e->apply_lock);
    for (int i = 0; i < n; i++) {
        if (status[i] != VX_OK) { rc = -1; continue; }
        vx_error oerr;
        if (e->rec && vx_rec_observe(e->rec, ops[i].user, &stored[i].event, stored[i].fraction, &oerr))
            vx_warn("recommender: %s", oerr.msg);
    }
    for (int i = 0; i < n_users; i++) vx_user_clear(&users[i]);
    free(users);
    vx_batch_free(b);
    return rc;
}

void vx_engine_settle_index(vx_engine *e, const char *who) {
    vx_error err;
    if (vx_ann_outgrown(e->ann)) {
        /* Built aside while searches go on with the old one, then swapped in. Only the
         * holder of apply_lock changes the index, so nothing changes in between. */
        vx_info("%s: the vector index outgrew exact search; rebuilding it as an inverted file", who);
        pthread_mutex_lock(&e->apply_lock);
        vx_ann *fresh = vx_ann_rebuilt(e->cat, e->data_dir, &e->ann_opt, vx_ann_dim(e->ann), &err);
        if (!fresh) {
            vx_warn("%s: rebuilding the vector index: %s", who, err.msg);
        } else {
            pthread_rwlock_wrlock(&e->ann_lock);
            vx_ann *old = e->ann;
            e->ann = fresh;
            atomic_fetch_add(&e->ann_version, 1);
            pthread_rwlock_unlock(&e->ann_lock);
            vx_ann_close(old);
        }
        pthread_mutex_unlock(&e->apply_lock);
    }
    pthread_rwlock_rdlock(&e->ann_lock); /* saving reads the index: searches may share it */
    if (vx_ann_save(e->ann, e->cat, &err)) vx_warn("%s: saving the vector index: %s", who, err.msg);
    pthread_rwlock_unlock(&e->ann_lock);
}
