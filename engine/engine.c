/* vidx engine: opening a data folder and closing it. What it opens is listed in
 * engine/README.md ("Files"); every operation lives in its own file. */
#include "engine_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../encoder/mtext.h"

void vx_engine_options_default(vx_engine_options *o) {
    memset(o, 0, sizeof *o);
    o->model = VX_MODEL_NONE;
    o->query_cache = 4096;
    o->similar_cache = 65536;
    o->answer_cache_bytes = (size_t)256 << 20;
    o->filter_pool_max = 50000;
    o->disk_reserve = (uint64_t)256 << 20;
    o->db_cache_mb = VX_CATALOG_CACHE_MB;
    o->ann_exact_max = VX_ANN_EXACT_MAX;
    o->ann_compress_min = VX_ANN_COMPRESS_MIN;
    o->precision = vx_precision_default();
    o->fusion_k = VX_FUSION_K;
    o->fusion_text_weight = VX_FUSION_TEXT_WEIGHT;
    o->lexical_search = 1;
    vx_index_options_default(&o->index);
}

vx_engine *vx_engine_open(const vx_engine_options *o, vx_error *err) {
    if (o->shards > VX_SHARD_MAX || (o->shards > 1 && o->shard >= o->shards)) {
        vx_fail(err, "shard %u/%u: a node serves one shard from 0 to the count - 1, of at most %d", o->shard, o->shards,
                VX_SHARD_MAX);
        return NULL;
    }
    /* Every path in the data folder is the folder's plus at most a few dozen bytes. */
    if (strlen(o->data_dir) > VX_DATA_DIR_MAX) {
        vx_fail(err, "data folder %.100s...: its path is longer than %d bytes", o->data_dir, VX_DATA_DIR_MAX);
        return NULL;
    }
    vx_engine *e = calloc(1, sizeof *e);
    if (!e) { vx_fail(err, "out of memory"); return NULL; }
    e->opt = *o;
    e->opt.index.model_dir = NULL;
    /* One machine: the records' inodes are this machine's (indexer/index.h). */
    e->opt.index.same_inode = !o->cluster;
    snprintf(e->data_dir, sizeof e->data_dir, "%s", o->data_dir);
    pthread_rwlock_init(&e->vectors.lock, NULL);
    pthread_mutex_init(&e->apply_lock, NULL);
    e->ann_opt = (vx_ann_options){.exact_max = o->ann_exact_max, .faiss_search = o->ann_faiss_search,
                                  .compress_min = o->ann_compress_min, .shard = o->shard, .shards = o->shards};

    vx_meta meta = {0};
    if (!(e->cat = vx_catalog_open_cached(o->data_dir, o->create, o->db_cache_mb, err))) goto fail;
    if (!realpath(o->data_dir, e->data_dir_real)) snprintf(e->data_dir_real, sizeof e->data_dir_real, "%s", e->data_dir);
    if (vx_catalog_get_meta(e->cat, &meta, err)) goto fail;
    if (o->model != VX_MODEL_NONE) {
        vx_engine_load_model(e, &meta);
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
    if (o->model != VX_MODEL_NONE && vx_engine_load_text_model(e, err)) goto fail;
    const int dim = e->model ? vx_clip_get_config(e->model)->proj_dim : 0;
    if (!(e->vectors.ann = vx_ann_open(e->cat, e->data_dir, &e->ann_opt, dim, err))) goto fail;
    if (!(e->vectors.rec = vx_rec_open(e->cat, err))) goto fail;
    if (vx_engine_text_open(e, err)) goto fail;
    if (vx_engine_repair_marked(e, err)) goto fail; /* an index that missed a change before */
    if (o->labels && vx_engine_labels_open(e, err)) goto fail;
    if (!(e->answers = vx_lru_new(o->similar_cache > 0 ? o->similar_cache : 1, o->answer_cache_bytes))) {
        vx_fail(err, "out of memory");
        goto fail;
    }
    if (e->model && vx_engine_use_model(e, e->model, err)) goto fail;
    if (!(e->events = vx_event_writer_start(e, err))) goto fail;
    if (o->feed_model && vx_engine_feedmodel_start(e, err)) goto fail;
    if (o->jobs && !(e->jobs = vx_jobs_start(e, err))) goto fail;
    vx_jobs_encode_pending(e->jobs);
    if (o->renditions && !(e->renditions = vx_renditions_start(e, err))) goto fail;
    vx_meta_clear(&meta);
    return e;
fail:
    vx_meta_clear(&meta);
    vx_engine_close(e);
    return NULL;
}

void vx_engine_close(vx_engine *e) {
    if (!e) return;
    vx_renditions_stop(e->renditions);
    vx_jobs_stop(e->jobs);
    vx_event_writer_stop(e->events);
    vx_query_encoder_stop(e->encoder);
    vx_engine_feedmodel_stop(e);
    if (e->vectors.ann && e->cat) vx_engine_settle_index(e, "closing");
    vx_rec_close(e->vectors.rec);
    vx_ann_close(e->vectors.ann);
    vx_engine_labels_close(e);
    vx_engine_text_close(e);
    vx_query_cache_free(e->qcache);
    vx_lru_free(e->answers);
    vx_clip_free(e->model);
    vx_mtext_free(e->text_model);
    vx_catalog_close(e->cat);
    pthread_rwlock_destroy(&e->vectors.lock);
    pthread_mutex_destroy(&e->apply_lock);
    free(e);
}

const char *vx_engine_model_problem(const vx_engine *e) { return e->model ? NULL : e->model_problem; }
const char *vx_engine_data_dir(const vx_engine *e) { return e->data_dir; }
