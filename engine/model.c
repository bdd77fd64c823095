/* vidx engine: the CLIP model. Loaded and checked against the database's at the open,
 * looked for again while a service waits for it (vx_engine_model_arrived), put in use
 * with its query cache and encoder thread, and made the database's model when indexing
 * adopts another (vx_engine_adopt_model). */
#include "engine_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/hash.h"
#include "../common/log.h"
#include "../encoder/checkpoint.h"
#include "../encoder/mtext.h"

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
 * (opt.query_encoder). At open nothing reads them yet; when the model arrives later
 * (vx_engine_model_arrived) other threads may: the model is published once, whole, after
 * its cache, and searches encode on their own thread until the encoder is up. -1 when
 * the encoder thread did not start (the model is in use all the same). */
int vx_engine_use_model(vx_engine *e, vx_clip *m, vx_error *err) {
    if (!(e->qcache = vx_query_cache_new(e->opt.query_cache > 0 ? e->opt.query_cache : 1,
                                         vx_clip_get_config(m)->proj_dim)))
        return vx_fail(err, "out of memory");
    __atomic_store_n(&e->model, m, __ATOMIC_RELEASE);
    if (!e->opt.query_encoder) return 0;
    vx_query_encoder *enc = vx_query_encoder_start(e, err);
    __atomic_store_n(&e->encoder, enc, __ATOMIC_RELEASE);
    return enc ? 0 : -1;
}

int vx_engine_load_text_model(vx_engine *e, vx_error *err) {
    const int named = e->opt.text_model_dir && *e->opt.text_model_dir;
    const char *dir = named ? e->opt.text_model_dir : e->opt.default_text_model_dir;
    struct stat sb;
    vx_path modules;
    if (!dir || (!named && (vx_path_fmt(modules, NULL, "%s/modules.json", dir) || stat(modules, &sb) != 0))) {
        snprintf(e->text_model_problem, sizeof e->text_model_problem,
                 "no multilingual text tower: get it with `scripts/download_model.sh --text-model` (or name one with "
                 "--text-model or VIDX_TEXT_MODEL); queries not in English go to CLIP's English text tower");
        return 0;
    }
    vx_mtext *t = vx_mtext_load(dir, e->opt.precision, err);
    /* It maps into ViT-B/32's image space: only a model with that space can use it. */
    if (t && e->model && vx_mtext_dim(t) != vx_clip_get_config(e->model)->proj_dim) {
        vx_fail(err, "the multilingual text tower at %s maps into %d dimensions, the CLIP model's space has %d: "
                     "it belongs to another model (sentence-transformers/clip-ViT-B-32-multilingual-v1 goes with "
                     "openai/clip-vit-base-patch32)",
                dir, vx_mtext_dim(t), vx_clip_get_config(e->model)->proj_dim);
        vx_mtext_free(t);
        t = NULL;
    }
    if (!t) {
        snprintf(e->text_model_problem, sizeof e->text_model_problem, "%s", err->msg);
        return named ? -1 : 0;
    }
    e->text_model = t;
    vx_debug("multilingual text tower %s in use", dir);
    return 0;
}

int vx_engine_text_model_usable(const vx_engine *e) {
    const vx_clip *m = __atomic_load_n(&e->model, __ATOMIC_ACQUIRE);
    return e->text_model && m && vx_mtext_dim(e->text_model) == vx_clip_get_config(m)->proj_dim;
}

/* The model: --model / $VIDX_MODEL, else the one the database was indexed with, else
 * the default folder. One model per database: its vectors live in one space. */
void vx_engine_load_model(vx_engine *e, const vx_meta *meta) {
    const char *dir = e->opt.model_dir && *e->opt.model_dir ? e->opt.model_dir
                      : meta->model && *meta->model         ? meta->model
                                                            : e->opt.default_model_dir;
    if (!dir || !*dir) {
        snprintf(e->model_problem, sizeof e->model_problem,
                 "no model folder is known: pass --model DIR or set VIDX_MODEL (scripts/download_model.sh gets it)");
        return;
    }
    if (vx_path_fmt(e->model_dir, NULL, "%s", dir)) {
        snprintf(e->model_problem, sizeof e->model_problem, "model folder %.100s...: its path is too long", dir);
        return;
    }
    e->model = load_checked(e, dir, meta, e->opt.adopt_model && !e->opt.cluster, e->model_problem,
                            sizeof e->model_problem);
}

/* What the model folder holds now (its config's and weights file's size and time), so
 * that a folder that did not load is tried again only once it changed. */
static uint64_t model_folder_state(const char *dir) {
    const char *weights = vx_ckpt_find_file(dir);
    vx_path path;
    uint64_t parts[4] = {0};
    struct stat sb;
    if (vx_path_fmt(path, NULL, "%s/config.json", dir) == 0 && stat(path, &sb) == 0) parts[0] = (uint64_t)sb.st_size, parts[1] = (uint64_t)sb.st_mtim.tv_sec * 1000000000u + (uint64_t)sb.st_mtim.tv_nsec;
    if (weights && vx_path_fmt(path, NULL, "%s/%s", dir, weights) == 0 && stat(path, &sb) == 0)
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
    const int r = vx_engine_use_model(e, m, &err);
    if (!e->model) { /* no memory for its cache */
        vx_warn("the CLIP model arrived but cannot be used: %s", err.msg);
        vx_clip_free(m);
        return 0;
    }
    vx_info("the CLIP model arrived (%s, %s): search by what is seen is on", e->model_dir, vx_clip_weights_format(m));
    if (r) vx_warn("query encoder thread: %s (queries encode on their own thread)", err.msg);
    if (e->vectors.ann && e->opt.labels && vx_engine_labels_open(e, &err)) vx_warn("tags: %s", err.msg);
    return 1;
}

/* Replaces the database's model with the loaded one (opt.adopt_model): one op drops every
 * video's vectors and marks its frames as waiting, and the run that follows encodes them. */
int vx_engine_adopt_model(vx_engine *e, vx_error *err) {
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
