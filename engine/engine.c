/* vidx engine: opening a data folder, and the operations that read one record or
 * count them (videos, users, feeds, info, check). Searches are in search.c, changes in
 * apply.c, background work in encoder.c, jobs.c and writer.c. */
#include "engine_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/hash.h"
#include "../common/log.h"
#include "../common/vecmath.h"
#include "../encoder/checkpoint.h"

void vx_engine_options_default(vx_engine_options *o) {
    memset(o, 0, sizeof *o);
    o->model = VX_MODEL_NONE;
    o->query_cache = 4096;
    o->similar_cache = 65536;
    o->db_cache_mb = VX_CATALOG_CACHE_MB;
    o->ann_exact_max = VX_ANN_EXACT_MAX;
    o->ann_compress_min = VX_ANN_COMPRESS_MIN;
    o->precision = vx_precision_default();
    o->fusion_k = VX_FUSION_K;
    o->fusion_text_weight = VX_FUSION_TEXT_WEIGHT;
    o->lexical_search = 1;
    vx_index_options_default(&o->index);
}

/* The model in dir, if it is the database's (or the database has none yet); else NULL
 * and why in problem. With adopt, another model is kept and e->model_replaces set: the
 * next indexing makes it the database's (vx_engine_index). */
static vx_clip *load_checked(vx_engine *e, const char *dir, const vx_meta *meta, int adopt, char *problem,
                             size_t size) {
    vx_error err;
    vx_clip *m = vx_clip_load_at(dir, e->opt.precision, &err);
    if (!m) {
        snprintf(problem, size, "%s", err.msg);
        return NULL;
    }
    if (!meta->model_fingerprint || vx_clip_is_fingerprint(m, meta->model_fingerprint)) return m;
    if (adopt) {
        e->model_replaces = meta->model_fingerprint;
        return m;
    }
    snprintf(problem, size,
             "%.200s is not the model this database was indexed with (%.200s): pass --model pointing at that one, "
             "or change the database's model with `vidx index --model %.200s PATH...` while no service runs on it (every "
             "video's frames are encoded again; text, renditions and hashes are kept)",
             dir, meta->model ? meta->model : "?", dir);
    vx_clip_free(m);
    return NULL;
}

/* Puts a loaded model in use: its query cache, the model itself, then the encoder thread
 * (opt.text_encoder). At open nothing reads them yet; when the model arrives later
 * (vx_engine_model_arrived) other threads may: the model is published once, whole, after
 * its cache, and searches encode on their own thread until the encoder is up. -1 when
 * the encoder thread did not start (the model is in use all the same). */
static int use_model(vx_engine *e, vx_clip *m, vx_error *err) {
    if (!(e->qcache = vx_query_cache_new(e->opt.query_cache > 0 ? e->opt.query_cache : 1,
                                         vx_clip_get_config(m)->proj_dim)))
        return vx_fail(err, "out of memory");
    __atomic_store_n(&e->model, m, __ATOMIC_RELEASE);
    if (!e->opt.text_encoder) return 0;
    vx_text_encoder *enc = vx_text_encoder_start(e, err);
    __atomic_store_n(&e->encoder, enc, __ATOMIC_RELEASE);
    return enc ? 0 : -1;
}

/* The model: --model / $VIDX_MODEL, else the one the database was indexed with, else
 * the default folder. One model per database: its vectors live in one space. */
static void load_model(vx_engine *e, const vx_meta *meta) {
    const char *dir = e->opt.model_dir && *e->opt.model_dir ? e->opt.model_dir
                      : meta->model && *meta->model         ? meta->model
                                                            : e->opt.default_model_dir;
    if (!dir || !*dir) {
        snprintf(e->model_problem, sizeof e->model_problem,
                 "no model folder is known: pass --model DIR or set VIDX_MODEL (scripts/download_model.sh gets it)");
        return;
    }
    snprintf(e->model_dir, sizeof e->model_dir, "%s", dir);
    e->model = load_checked(e, dir, meta, e->opt.adopt_model && !e->opt.cluster, e->model_problem,
                            sizeof e->model_problem);
}

/* What the model folder holds now (its config's and weights file's size and time), so
 * that a folder that did not load is tried again only once it changed. */
static uint64_t model_folder_state(const char *dir) {
    const char *weights = vx_ckpt_find_file(dir);
    char path[PATH_MAX + 64];
    uint64_t parts[4] = {0};
    struct stat sb;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (stat(path, &sb) == 0) parts[0] = (uint64_t)sb.st_size, parts[1] = (uint64_t)sb.st_mtim.tv_sec * 1000000000u + (uint64_t)sb.st_mtim.tv_nsec;
    snprintf(path, sizeof path, "%s/%s", dir, weights ? weights : "");
    if (weights && stat(path, &sb) == 0)
        parts[2] = (uint64_t)sb.st_size, parts[3] = (uint64_t)sb.st_mtim.tv_sec * 1000000000u + (uint64_t)sb.st_mtim.tv_nsec;
    return weights ? vx_hash64(parts, sizeof parts) | 1 : 0;
}

int vx_engine_model_arrived(vx_engine *e) {
    if (__atomic_load_n(&e->model, __ATOMIC_ACQUIRE)) return 1;
    if (e->opt.model == VX_MODEL_NONE || e->opt.catalog_only || !e->model_dir[0]) return 0;
    const uint64_t state = model_folder_state(e->model_dir);
    if (!state || state == e->model_tried) return 0; /* nothing there, or as it was when it did not load */
    e->model_tried = state;
    vx_error err;
    vx_meta meta;
    char why[sizeof e->model_problem]; /* e->model_problem is read by other threads meanwhile */
    if (vx_catalog_get_meta(e->cat, &meta, &err)) return 0;
    vx_clip *m = load_checked(e, e->model_dir, &meta, 0, why, sizeof why);
    vx_meta_clear(&meta);
    if (!m) { /* incomplete still (a download under way), or another database's model */
        vx_debug("model at %s not usable yet: %s", e->model_dir, why);
        return 0;
    }
    const int r = use_model(e, m, &err);
    if (!e->model) { /* no memory for its cache */
        vx_warn("the CLIP model arrived but cannot be used: %s", err.msg);
        vx_clip_free(m);
        return 0;
    }
    vx_info("the CLIP model arrived (%s, %s): search by what is seen is on", e->model_dir, vx_clip_weights_format(m));
    if (r) vx_warn("text encoder thread: %s (queries encode on their own thread)", err.msg);
    if (e->ann && e->opt.tags && vx_engine_tags_open(e, &err)) vx_warn("tags: %s", err.msg);
    return 1;
}

vx_engine *vx_engine_open(const vx_engine_options *o, vx_error *err) {
    if (o->shards > VX_SHARD_MAX || (o->shards > 1 && o->shard >= o->shards)) {
        vx_fail(err, "shard %u/%u: a node serves one shard from 0 to the count - 1, of at most %d", o->shard, o->shards,
                VX_SHARD_MAX);
        return NULL;
    }
    vx_engine *e = calloc(1, sizeof *e);
    if (!e) { vx_fail(err, "out of memory"); return NULL; }
    e->opt = *o;
    e->opt.index.model_dir = NULL;
    snprintf(e->data_dir, sizeof e->data_dir, "%s", o->data_dir);
    pthread_rwlock_init(&e->ann_lock, NULL);
    pthread_mutex_init(&e->apply_lock, NULL);
    e->ann_opt = (vx_ann_options){.exact_max = o->ann_exact_max, .faiss_search = o->ann_faiss_search,
                                  .compress_min = o->ann_compress_min, .shard = o->shard, .shards = o->shards};

    vx_meta meta = {0};
    if (!(e->cat = vx_catalog_open_cached(o->data_dir, o->create, o->db_cache_mb, err))) goto fail;
    if (vx_catalog_get_meta(e->cat, &meta, err)) goto fail;
    if (o->model != VX_MODEL_NONE) {
        load_model(e, &meta);
        if (!e->model && o->model == VX_MODEL_REQUIRE) {
            vx_fail(err, "%s", e->model_problem);
            goto fail;
        }
        /* The faces say it to the user (vidx index, the service's start, /healthz). */
        if (!e->model) vx_debug("without the CLIP model: %s", e->model_problem);
    }
    if (o->catalog_only) {
        vx_meta_clear(&meta);
        return e;
    }
    const int dim = e->model ? vx_clip_get_config(e->model)->proj_dim : 0;
    if (!(e->ann = vx_ann_open(e->cat, e->data_dir, &e->ann_opt, dim, err))) goto fail;
    if (!(e->rec = vx_rec_open(e->cat, err))) goto fail;
    if (vx_engine_text_open(e, err)) goto fail;
    if (o->tags && vx_engine_tags_open(e, err)) goto fail;
    if (!(e->answers = vx_lru_new(o->similar_cache > 0 ? o->similar_cache : 1))) {
        vx_fail(err, "out of memory");
        goto fail;
    }
    if (e->model && use_model(e, e->model, err)) goto fail;
    if (!(e->events = vx_event_writer_start(e, err))) goto fail;
    if (o->feed_model && vx_engine_feedmodel_start(e, err)) goto fail;
    if (o->jobs && !(e->jobs = vx_jobs_start(e, err))) goto fail;
    vx_jobs_encode_pending(e->jobs);
    if (o->renditions && !(e->media = vx_media_start(e, err))) goto fail;
    vx_meta_clear(&meta);
    return e;
fail:
    vx_meta_clear(&meta);
    vx_engine_close(e);
    return NULL;
}

void vx_engine_close(vx_engine *e) {
    if (!e) return;
    vx_media_stop(e->media);
    vx_jobs_stop(e->jobs);
    vx_event_writer_stop(e->events);
    vx_text_encoder_stop(e->encoder);
    vx_engine_feedmodel_stop(e);
    if (e->ann && e->cat) vx_engine_settle_index(e, "closing");
    vx_rec_close(e->rec);
    vx_ann_close(e->ann);
    vx_engine_tags_close(e);
    vx_engine_text_close(e);
    vx_query_cache_free(e->qcache);
    vx_lru_free(e->answers);
    vx_clip_free(e->model);
    vx_catalog_close(e->cat);
    pthread_rwlock_destroy(&e->ann_lock);
    pthread_mutex_destroy(&e->apply_lock);
    free(e);
}

const char *vx_engine_model_problem(const vx_engine *e) { return e->model ? NULL : e->model_problem; }
const char *vx_engine_data_dir(const vx_engine *e) { return e->data_dir; }

/* ---- users -------------------------------------------------------------------------------- */

int vx_engine_feed(vx_engine *e, const char *user, const vx_feed_options *o, vx_feed *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    vx_engine_foreground(e);
    if (!vx_user_name_valid(user)) {
        vx_fail(err, "user: must be " VX_USER_NAME_RULE);
        return VX_E_BAD_INPUT;
    }
    if (o->k < 1 || o->k > VX_FEED_MAX_K) {
        vx_fail(err, "k: must be a whole number from 1 to %d", VX_FEED_MAX_K);
        return VX_E_BAD_INPUT;
    }
    if (!(o->diversity >= 0 && o->diversity <= 1)) {
        vx_fail(err, "diversity: must be a number from 0 to 1");
        return VX_E_BAD_INPUT;
    }
    vx_feed_options fo = *o;
    fo.ann_version = atomic_load(&e->ann_version) + 1; /* + 1: never 0 (no caching) */
    if (!e->feedmodel) vx_engine_feedmodel_build_now(e); /* on demand, without the background builder */
    pthread_rwlock_rdlock(&e->ann_lock);
    int rc = vx_rec_feed(e->rec, e->cat, e->ann, user, &fo, out, err);
    pthread_rwlock_unlock(&e->ann_lock);
    return rc ? VX_E_INTERNAL : VX_OK;
}

int vx_engine_user(vx_engine *e, const char *user, vx_user *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    if (!vx_user_name_valid(user)) {
        vx_fail(err, "user: must be " VX_USER_NAME_RULE);
        return VX_E_BAD_INPUT;
    }
    int r = vx_catalog_get_user(e->cat, user, out, err);
    if (r > 0) vx_fail(err, "no user '%s' (users appear with their first event)", user);
    return r < 0 ? VX_E_INTERNAL : r > 0 ? VX_E_NOT_FOUND : VX_OK;
}

/* What a failed index run means to the caller: in a cluster the run stops only when
 * the log refuses its changes (a file's own failure is its item's outcome). */
static int index_run_failed(const vx_engine *e) { return e->opt.cluster ? VX_E_LOG_UNAVAILABLE : VX_E_INTERNAL; }

int vx_engine_delete_user(vx_engine *e, const char *user, vx_error *err) {
    if (!vx_user_name_valid(user)) {
        vx_fail(err, "user: must be " VX_USER_NAME_RULE);
        return VX_E_BAD_INPUT;
    }
    vx_op op = {.kind = VX_OP_USER_DELETED, .user = (char *)user};
    return vx_engine_commit(e, &op, err);
}

int vx_engine_record_event_async(vx_engine *e, const vx_event_request *req, vx_event_done done, void *arg,
                                 vx_error *err) {
    vx_op op = {.kind = VX_OP_EVENT, .user = (char *)req->user};
    if (req->idempotency_key) {
        size_t n = strlen(req->idempotency_key);
        int ok = n >= 1 && n <= VX_IDEMPOTENCY_KEY_MAX;
        for (size_t i = 0; ok && i < n; i++) {
            const char ch = req->idempotency_key[i];
            ok = isalnum((unsigned char)ch) || ch == '_' || ch == '.' || ch == '-';
        }
        if (!ok) {
            vx_fail(err, "Idempotency-Key: must be " VX_IDEMPOTENCY_KEY_RULE);
            return VX_E_BAD_INPUT;
        }
        op.dedup_key = req->idempotency_key;
    }
    int r = vx_event_validate(e->cat, req, vx_wall_ms(), &op.event, err);
    if (r) return r;
    return vx_event_writer_submit(e->events, &op, done, arg, err);
}

typedef struct event_wait {
    vx_completion written;
    int status;
    vx_event_stored stored;
    vx_error err;
} event_wait;

static void event_waited(void *arg, int status, const vx_event_stored *stored, const vx_error *err) {
    event_wait *w = arg;
    w->status = status;
    if (stored) w->stored = *stored;
    if (err) w->err = *err;
    vx_completion_signal(&w->written);
}

int vx_engine_record_event(vx_engine *e, const vx_event_request *req, vx_event_stored *stored, vx_error *err) {
    event_wait w = {.written = VX_COMPLETION_INIT};
    int r = vx_engine_record_event_async(e, req, event_waited, &w, err);
    if (r == 0) vx_completion_wait(&w.written);
    vx_completion_destroy(&w.written);
    if (r) return r;
    *stored = w.stored;
    if (w.status) *err = w.err;
    return w.status;
}

/* ---- videos ------------------------------------------------------------------------------- */

int vx_video_arg_id(const char *arg, uint64_t *id, vx_error *err) {
    if (strlen(arg) == 16 && vx_id_from_hex(arg, id) == 0) return 0;
    char real[PATH_MAX];
    if (realpath(arg, real)) {
        *id = vx_video_id_for_path(real);
        return 0;
    }
    vx_fail(err, "no video '%s' (give a 16-digit id or the path of an indexed file)", arg);
    return VX_E_BAD_INPUT;
}

int vx_engine_video(vx_engine *e, uint64_t id, vx_video_view *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(id, hex);
    int r = vx_catalog_get_video(e->cat, id, &out->video, err);
    if (r < 0) return VX_E_INTERNAL;
    if (r > 0 || out->video.status == VX_VIDEO_REMOVED) {
        vx_fail(err, "no video %s%s", hex, r ? "" : " (its file was removed)");
        vx_video_view_free(out);
        return VX_E_NOT_FOUND;
    }
    if (out->video.status != VX_VIDEO_INDEXED) return VX_OK;
    /* A copy shows its original's segments: it shares them. */
    const uint64_t owner = out->video.duplicate_of ? out->video.duplicate_of : id;
    if (vx_catalog_get_segments(e->cat, owner, 0, &out->segments, &out->n_segments, err)) {
        vx_video_view_free(out);
        return VX_E_INTERNAL;
    }
    vx_engine_playback(e, &out->video, &out->playback);
    for (uint8_t slot = VX_TEXT_FILES; slot <= VX_TEXT_API; slot++)
        if (vx_catalog_get_text(e->cat, id, slot, &out->text[slot], err) < 0) {
            vx_video_view_free(out);
            return VX_E_INTERNAL;
        }
    if (vx_catalog_get_frames(e->cat, owner, &out->frames, err) < 0) {
        vx_video_view_free(out);
        return VX_E_INTERNAL;
    }
    vx_video_tag *tags;
    int n_tags;
    if (vx_engine_video_tags(e, owner, &tags, &n_tags) || (n_tags && !(out->tags = calloc((size_t)n_tags, sizeof *out->tags)))) {
        free(tags);
        vx_fail(err, "out of memory");
        vx_video_view_free(out);
        return VX_E_INTERNAL;
    }
    for (int i = 0; i < n_tags; i++) {
        vx_tag_view *g = &out->tags[i];
        g->label = vx_engine_tag_name(e, tags[i].vocabulary, tags[i].label, &g->vocabulary);
        g->score = tags[i].score;
        g->n_ranges = tags[i].n_ranges;
        memcpy(g->ranges, tags[i].ranges, sizeof g->ranges);
    }
    out->n_tags = n_tags;
    free(tags);
    return VX_OK;
}

void vx_engine_playback(vx_engine *e, const vx_video *v, vx_playback_view *out) {
    memset(out, 0, sizeof *out);
    out->progress = -1;
    if (v->status != VX_VIDEO_INDEXED) return;
    if (v->playback == VX_PLAYBACK_DIRECT) {
        out->state = "direct";
        return;
    }
    vx_rendition r;
    vx_error err;
    char path[PATH_MAX + 64];
    struct stat sb;
    int have = vx_catalog_get_rendition(e->cat, v->content_hash, &r, &err);
    vx_media_path(e, v->content_hash, path, sizeof path);
    if (have == 0 && r.state == VX_RENDITION_NOT_NEEDED) out->state = "direct";
    else if (have == 0 && r.state == VX_RENDITION_FAILED) out->state = "failed";
    else if (have == 0 && r.state == VX_RENDITION_READY && stat(path, &sb) == 0) out->state = "rendition";
    else out->state = "pending";
    if (have == 0 && r.state == VX_RENDITION_READY && *out->state == 'p') vx_media_notice(e->media, v->content_hash); /* its file went */
    if (have == 0 && r.failure[0]) snprintf(out->reason, sizeof out->reason, "%s", r.failure);
    else if (v->playback_note && *out->state == 'p') snprintf(out->reason, sizeof out->reason, "%s", v->playback_note);
    if (have == 0) vx_rendition_clear(&r);
    if (*out->state == 'p') out->progress = vx_media_progress(e->media, v->content_hash);
}

int vx_engine_media_file(vx_engine *e, uint64_t id, int original, vx_media_file *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    vx_video v;
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(id, hex);
    int r = vx_catalog_get_video(e->cat, id, &v, err);
    if (r < 0) return VX_E_INTERNAL;
    if (r > 0 || v.status != VX_VIDEO_INDEXED) {
        vx_fail(err, "video %s is not indexed", hex);
        if (r == 0) vx_video_clear(&v);
        return VX_E_NOT_FOUND;
    }
    if (!original && v.playback != VX_PLAYBACK_DIRECT) {
        vx_playback_view pv;
        vx_engine_playback(e, &v, &pv);
        if (pv.state && strcmp(pv.state, "rendition") == 0) {
            vx_media_path(e, v.content_hash, out->path, sizeof out->path);
            out->content_type = "video/mp4";
            out->rendition = 1;
        }
    }
    if (!out->rendition) snprintf(out->path, sizeof out->path, "%s", v.path);
    vx_video_clear(&v);
    return VX_OK;
}

void vx_video_view_free(vx_video_view *v) {
    vx_video_clear(&v->video);
    free(v->segments);
    vx_video_text_clear(&v->text[0]);
    vx_video_text_clear(&v->text[1]);
    vx_video_frames_clear(&v->frames);
    free(v->tags);
    memset(v, 0, sizeof *v);
}

/* ---- indexing ----------------------------------------------------------------------------- */

/* Replaces the database's model with the loaded one (opt.adopt_model): one op drops every
 * video's vectors and marks its frames as waiting, and the run that follows encodes them. */
static int change_model(vx_engine *e, vx_error *err) {
    char a[VX_ID_HEX_LEN], b[VX_ID_HEX_LEN];
    vx_id_to_hex(e->model_replaces, a);
    vx_id_to_hex(vx_clip_fingerprint(e->model), b);
    vx_info("the model changed (fingerprint %s -> %s, %s): every video's frames are encoded again; their text, frame "
            "hashes, thumbnails and renditions are kept", a, b, e->model_dir);
    vx_op op = {.kind = VX_OP_MODEL_CHANGE, .model = e->model_dir, .model_fingerprint = vx_clip_fingerprint(e->model),
                .embed_dim = (uint32_t)vx_clip_get_config(e->model)->proj_dim};
    if (vx_engine_commit(e, &op, err)) return -1;
    e->model_replaces = 0;
    return 0;
}

int vx_engine_index(vx_engine *e, const char *const *paths, int n, vx_index_summary *summary, vx_error *err) {
    memset(summary, 0, sizeof *summary);
    if (e->model_replaces && change_model(e, err)) return VX_E_INTERNAL;
    /* Without the model the videos are indexed with what needs none (indexer/index.h). */
    int r = vx_engine_run_index(e, paths, n, &e->opt.index, summary, err);
    /* Not saved when the run stopped on an error: the files then keep their older
     * generation and the next open catches them up from what was committed. */
    if (r == 0) vx_engine_settle_index(e, "index");
    return r ? VX_E_INTERNAL : VX_OK;
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

const char *vx_engine_model_conflict(vx_engine *e, char *buf, size_t size) {
    vx_meta meta;
    vx_error err;
    if (vx_catalog_get_meta(e->cat, &meta, &err)) {
        snprintf(buf, size, "%s", err.msg);
        return buf;
    }
    const char *problem = NULL;
    if (e->model && meta.model_fingerprint && !vx_clip_is_fingerprint(e->model, meta.model_fingerprint)) {
        char a[VX_ID_HEX_LEN], b[VX_ID_HEX_LEN];
        vx_id_to_hex(meta.model_fingerprint, a);
        vx_id_to_hex(vx_clip_fingerprint(e->model), b);
        snprintf(buf, size,
                 "the cluster's videos were indexed with model %s (fingerprint %s), this node loaded %s (fingerprint "
                 "%s): start it with --model pointing at the cluster's model",
                 meta.model ? meta.model : "?", a, e->model_dir, b);
        problem = buf;
    }
    vx_meta_clear(&meta);
    return problem;
}

/* A cluster's job: the request's paths expanded into files here, the job's record
 * committed, then one work item per file queued for the workers. */
static int submit_to_cluster(vx_engine *e, const char *const *paths, int n, const vx_job_settings *settings,
                             uint64_t *job_id, vx_error *err) {
    char **files = NULL;
    int n_files = 0;
    if (vx_index_expand(e->cat, paths, n, &files, &n_files, err)) return VX_E_INTERNAL;
    int rc = VX_OK;
    if (n_files > VX_MAX_JOB_ITEMS) {
        vx_fail(err, "paths: %d files; a job takes at most %d (split the request)", n_files, VX_MAX_JOB_ITEMS);
        rc = VX_E_BAD_INPUT;
    }
    vx_job job = {.id = vx_jobs_new_id(), .state = n_files ? VX_JOB_QUEUED : VX_JOB_DONE, .created_at = time(NULL),
                  .settings = *settings};
    if (rc == 0 && n_files) {
        job.items = calloc((size_t)n_files, sizeof *job.items);
        if (!job.items) rc = vx_fail(err, "out of memory");
        for (int i = 0; rc == 0 && i < n_files; i++) {
            job.items[i].path = files[i];
            files[i] = NULL;
            job.items[i].outcome = VX_ITEM_PENDING;
            if (!(job.items[i].message = strdup(""))) rc = vx_fail(err, "out of memory");
            job.n_items = (uint32_t)i + 1;
        }
        if (rc) rc = VX_E_INTERNAL;
    }
    if (!n_files) job.started_at = job.finished_at = job.created_at;
    for (int i = 0; i < n_files; i++) free(files[i]);
    free(files);
    vx_op op = {.kind = VX_OP_JOB, .job = job};
    if (rc == 0) rc = vx_engine_commit(e, &op, err);
    if (rc == 0 && job.n_items && e->opt.cluster->enqueue(e->opt.cluster->ctx, &job, err)) {
        /* The record says so rather than waiting forever for items never queued. */
        vx_error why = *err, ignored;
        for (uint32_t i = 0; i < job.n_items; i++) {
            job.items[i].outcome = VX_ITEM_FAILED;
            free(job.items[i].message);
            job.items[i].message = strdup(why.msg);
        }
        job.state = VX_JOB_FAILED;
        job.finished_at = time(NULL);
        op.job = job;
        if (vx_engine_commit(e, &op, &ignored)) vx_warn("job: %s", ignored.msg);
        rc = VX_E_LOG_UNAVAILABLE;
    }
    *job_id = job.id;
    vx_job_clear(&job);
    return rc;
}

int vx_engine_job_submit(vx_engine *e, const char *const *paths, int n, const vx_job_settings *settings,
                         uint64_t *job_id, vx_error *err) {
    if (!e->jobs && !e->opt.cluster) {
        vx_fail(err, "this engine runs no background jobs");
        return VX_E_DISABLED;
    }
    if (n < 1 || n > VX_MAX_JOB_ITEMS) {
        vx_fail(err, "paths: must be an array of 1 to %d file or folder paths", VX_MAX_JOB_ITEMS);
        return VX_E_BAD_INPUT;
    }
    for (int i = 0; i < n; i++)
        if (!paths[i] || !*paths[i] || strlen(paths[i]) > VX_MAX_PATH) {
            vx_fail(err, "paths[%d]: must be a non-empty path of at most %d bytes", i, VX_MAX_PATH);
            return VX_E_BAD_INPUT;
        }
    const vx_job_settings none = {0};
    if (!settings) settings = &none;
    const char *problem = vx_job_settings_problem(settings);
    if (problem) {
        vx_fail(err, "%s", problem);
        return VX_E_BAD_INPUT;
    }
    if (e->opt.cluster) return submit_to_cluster(e, paths, n, settings, job_id, err);
    *job_id = vx_jobs_submit(e->jobs, paths, n, settings, err);
    return *job_id ? VX_OK : VX_E_INTERNAL;
}

/* One item's outcome from what indexing its path reported: the file's own, or for a
 * folder that only the worker could see, the counts of what was under it. */
static void item_outcome(const vx_index_summary *sum, vx_job_item *out, char *buf, size_t size) {
    if (sum->n_items == 1) {
        *out = sum->items[0];
        return;
    }
    out->path = "";
    out->outcome = sum->indexed ? VX_ITEM_INDEXED : sum->failed ? VX_ITEM_FAILED : VX_ITEM_UNCHANGED;
    snprintf(buf, size, "%d files: %d indexed, %d unchanged, %d duplicates, %d failed, %d removed, %d skipped",
             sum->n_items, sum->indexed, sum->unchanged, sum->duplicates, sum->failed, sum->removed, sum->skipped);
    out->message = buf;
}

/* An item's file found unchanged was indexed since its job began: by an earlier try
 * whose result the log took although the worker was told otherwise (a publish that
 * timed out and still landed), or that died after publishing. For the job it was
 * indexed. */
static int indexed_for_job(vx_engine *e, const vx_work_item *w) {
    vx_job job;
    vx_video v;
    vx_error err;
    if (vx_catalog_get_job(e->cat, w->job_id, &job, &err) != 0) return 0;
    const int64_t since = job.created_at;
    vx_job_clear(&job);
    if (vx_catalog_get_video(e->cat, vx_video_id_for_path(w->path), &v, &err) != 0) return 0;
    const int yes = v.status == VX_VIDEO_INDEXED && !v.duplicate_of && v.updated_at >= since;
    vx_video_clear(&v);
    return yes;
}

int vx_engine_index_items(vx_engine *e, const vx_work_item *items, int n, const atomic_int *cancel, int *status,
                          vx_error *errs) {
    vx_error err;
    int rc = VX_OK;
    if (!e->model) {
        vx_fail(&err, "indexing needs the CLIP model: %s", e->model_problem);
        rc = VX_E_MODEL_MISSING;
    }
    const char **paths = rc ? NULL : malloc((size_t)n * sizeof *paths);
    if (!rc && !paths) {
        vx_fail(&err, "out of memory");
        rc = VX_E_INTERNAL;
    }
    vx_index_summary sum;
    memset(&sum, 0, sizeof sum);
    if (!rc) {
        for (int i = 0; i < n; i++) paths[i] = items[i].path;
        vx_index_options o = e->opt.index;
        vx_index_options_set(&o, &items[0].settings); /* the caller groups items by settings */
        o.progress = 0;
        o.log_files = 1;
        o.cancel = cancel;
        if (vx_engine_run_index(e, paths, n, &o, &sum, &err)) rc = index_run_failed(e);
    }
    free(paths);
    for (int i = 0; i < n; i++) {
        status[i] = rc;
        errs[i] = err;
        if (rc) continue;
        /* This item's outcome: its file's, found by path (a folder that only workers see
         * is indexed alone: its outcome is the counts of what was under it). */
        vx_job_item outcome = {0};
        char buf[256];
        for (int k = 0; k < sum.n_items && !outcome.path; k++)
            if (strcmp(sum.items[k].path, items[i].path) == 0) outcome = sum.items[k];
        if (!outcome.path && n == 1 && sum.n_items) item_outcome(&sum, &outcome, buf, sizeof buf);
        if (!outcome.path && !outcome.outcome) {
            status[i] = VX_E_BUSY;
            vx_fail(&errs[i], "%s", sum.cancelled ? "interrupted before it was indexed" : "no outcome for it in the run");
            continue;
        }
        if (outcome.outcome == VX_ITEM_UNCHANGED && indexed_for_job(e, &items[i])) {
            outcome.outcome = VX_ITEM_INDEXED;
            outcome.message = "indexed by an earlier try";
        }
        vx_op op = {.kind = VX_OP_JOB_ITEM, .job_id = items[i].job_id, .item_index = items[i].index, .at = time(NULL)};
        op.item = (vx_job_item){.path = items[i].path, .outcome = outcome.outcome,
                                .message = outcome.message ? outcome.message : ""};
        status[i] = vx_engine_commit(e, &op, &errs[i]);
    }
    vx_index_summary_clear(&sum);
    for (int i = 0; i < n; i++)
        if (status[i]) return status[i];
    return VX_OK;
}

int vx_engine_fail_item(vx_engine *e, const vx_work_item *w, const char *reason, vx_error *err) {
    vx_op op = {.kind = VX_OP_JOB_ITEM, .job_id = w->job_id, .item_index = w->index, .at = time(NULL)};
    op.item = (vx_job_item){.path = w->path, .outcome = VX_ITEM_FAILED, .message = (char *)reason};
    return vx_engine_commit(e, &op, err);
}

int vx_engine_job(vx_engine *e, uint64_t id, vx_job_status *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    int r = vx_catalog_get_job(e->cat, id, &out->job, err);
    if (r < 0) return VX_E_INTERNAL;
    if (r > 0) {
        char hex[VX_ID_HEX_LEN];
        vx_id_to_hex(id, hex);
        vx_fail(err, "no job %s", hex);
        return VX_E_NOT_FOUND;
    }
    out->running = out->job.state == VX_JOB_RUNNING && e->jobs && vx_jobs_live(e->jobs, id, &out->live);
    /* How the listed items' videos play. */
    const vx_job_item *items = out->running ? out->live.items : out->job.items;
    const int n = out->running ? out->live.n_items : (int)out->job.n_items;
    if (n > 0 && (out->playback = calloc((size_t)n, sizeof *out->playback))) {
        out->n_playback = n;
        for (int i = 0; i < n; i++) {
            const uint8_t oc = items[i].outcome;
            if (oc != VX_ITEM_INDEXED && oc != VX_ITEM_UNCHANGED && oc != VX_ITEM_DUPLICATE) continue;
            vx_video v;
            vx_error verr;
            if (vx_catalog_get_video(e->cat, vx_video_id_for_path(items[i].path), &v, &verr) != 0) continue;
            vx_engine_playback(e, &v, &out->playback[i]);
            vx_video_clear(&v);
        }
    }
    return VX_OK;
}

void vx_job_status_free(vx_job_status *s) {
    vx_job_clear(&s->job);
    vx_index_summary_clear(&s->live);
    free(s->playback);
    s->playback = NULL;
    s->n_playback = 0;
}

/* ---- the whole ---------------------------------------------------------------------------- */

static int count_video(void *ctx, const vx_video *v) {
    vx_engine_stats *c = ctx;
    if (v->status == VX_VIDEO_INDEXED) c->indexed++;
    else if (v->status == VX_VIDEO_FAILED) c->failed++;
    else if (v->status == VX_VIDEO_REMOVED) c->removed++;
    if (v->status == VX_VIDEO_INDEXED && v->duplicate_of) c->duplicates++;
    if (v->status == VX_VIDEO_INDEXED && !v->duplicate_of && v->precision <= VX_EMBEDDED_INT8)
        c->by_precision[v->precision]++;
    if (vx_video_pending(v)) c->visual_pending++;
    return 0;
}

void vx_engine_gauges(vx_engine *e, vx_engine_stats *out) {
    memset(out, 0, sizeof *out);
    if (e->ann) {
        pthread_rwlock_rdlock(&e->ann_lock);
        out->index_videos = vx_ann_count_videos(e->ann);
        out->index_segments = vx_ann_count_segments(e->ann);
        out->index_kind = vx_ann_kind(e->ann);
        out->index_list_imbalance = vx_ann_list_imbalance(e->ann);
        pthread_rwlock_unlock(&e->ann_lock);
    }
    out->text_search = e->model != NULL;
    out->lexical_search = e->lex != NULL;
    out->text_documents = e->lex ? vx_lexical_doc_count(e->lex) : 0;
    out->precision = e->model ? vx_precision_name(vx_clip_precision(e->model)) : "";
    if (e->jobs) vx_jobs_counts(e->jobs, &out->jobs_queued, &out->jobs_running, &out->jobs_done, &out->jobs_failed);
    uint64_t rec_videos;
    pthread_rwlock_rdlock(&e->ann_lock); /* the recommender is replaced under its write lock */
    if (e->rec) {
        vx_rec_stats(e->rec, &out->rec_users, &rec_videos, &out->rec_engagements);
        vx_rec_model_info_get(e->rec, &out->feed_model);
    }
    pthread_rwlock_unlock(&e->ann_lock);
    out->query_cache_entries = e->qcache ? (int64_t)vx_query_cache_size(e->qcache) : 0;
    out->query_cache_hits = atomic_load(&e->cache_hits);
    out->query_cache_misses = atomic_load(&e->cache_misses);
    out->encoder_runs = atomic_load(&e->encoder_runs);
    out->encoder_queries = atomic_load(&e->encoder_queries);
    vx_media_counts(e->media, &out->renditions_pending, &out->renditions_made, &out->renditions_failed);
}

int vx_engine_info(vx_engine *e, vx_engine_stats *out, vx_error *err) {
    vx_engine_gauges(e, out);
    vx_scan_stats stats = {0};
    if (vx_catalog_get_meta(e->cat, &out->meta, err) || vx_catalog_scan_videos(e->cat, count_video, out, &stats, err) ||
        vx_catalog_count(e->cat, VX_KEY_SEGMENT, &out->segments, err) ||
        vx_catalog_count(e->cat, VX_KEY_USER, &out->users, err) ||
        vx_catalog_count(e->cat, VX_KEY_EVENT, &out->events, err) ||
        vx_catalog_count(e->cat, VX_KEY_JOB, &out->jobs, err) ||
        vx_catalog_count(e->cat, VX_KEY_TEXT, &out->text_records, err)) {
        vx_engine_stats_free(out);
        return VX_E_INTERNAL;
    }
    out->corrupt = stats.corrupt;
    return VX_OK;
}

void vx_engine_stats_free(vx_engine_stats *i) { vx_meta_clear(&i->meta); }

int vx_engine_check(vx_engine *e, void (*report)(void *ctx, const char *problem), void *ctx, uint64_t *problems,
                    vx_error *err) {
    return vx_catalog_check(e->cat, report, ctx, problems, err) ? VX_E_INTERNAL : VX_OK;
}

/* Background work (renditions, tags) waits while the service serves: SCHED_IDLE alone is
 * not enough, because the text encoder's BLAS and OpenMP threads synchronise by spinning
 * and yielding, and any co-runner, however low its priority, stretches their waits
 * (measured here: a SCHED_IDLE busy loop per core cut uncached searches from 114/s to
 * 31/s). So it pauses until no search, similar-video or feed request has run for QUIET_S. */
#define QUIET_S 0.3
int vx_engine_wait_quiet(vx_engine *e, vx_worker *w, double max_s) {
    return vx_worker_wait_quiet(w, &e->foreground_us, QUIET_S, max_s);
}
