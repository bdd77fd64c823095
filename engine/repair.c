/* vidx engine: the derived indexes kept true to the catalog.
 *
 * The vector index and the word index follow every change as it is applied. When a
 * follow fails (out of memory, a disk error), the index misses that change, and its next
 * save would stamp it with the catalog's newer generation as if it held it, so no later
 * open would look again. A failed follow therefore marks its index dirty, durably: a file
 * DATA/index/vectors.dirty or words.dirty naming the first failure. The next open rebuilds
 * a dirty vector index and checks every video's words, then removes the mark.
 * vx_engine_check compares each index with the catalog (`vidx info --check`), and
 * vx_engine_repair rebuilds them (`--repair`); the zero-shot tags, kept in memory by a
 * service, are compared and made again the same way (labels.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/path.h"
#include "../common/system.h"
#include "engine_internal.h"

static const char *marker_name(vx_derived which) { return which == VX_DERIVED_VECTORS ? "vectors.dirty" : "words.dirty"; }

static int marker_path(const vx_engine *e, vx_derived which, vx_path out) {
    return vx_path_fmt(out, NULL, "%s/index/%s", e->data_dir, marker_name(which));
}

void vx_engine_mark_dirty(vx_engine *e, vx_derived which, const char *why) {
    if (atomic_exchange(&e->dirty[which], 1)) return; /* marked already: the first reason stays */
    vx_path p;
    char text[600];
    vx_error err;
    snprintf(text, sizeof text, "%lld %s\n", (long long)time(NULL), why);
    if (marker_path(e, which, p) || vx_write_file_private(p, text, strlen(text), &err))
        vx_warn("the %s index missed a change and cannot be marked for repair (%s): run vidx info --check --repair",
                which == VX_DERIVED_VECTORS ? "vector" : "word", why);
    else
        vx_warn("the %s index missed a change (%s): marked, it is rebuilt at the next start",
                which == VX_DERIVED_VECTORS ? "vector" : "word", why);
}

int vx_engine_marked_dirty(const vx_engine *e, vx_derived which) {
    vx_path p;
    return marker_path(e, which, p) == 0 && access(p, F_OK) == 0;
}

static void clear_mark(vx_engine *e, vx_derived which) {
    vx_path p;
    if (marker_path(e, which, p) == 0 && unlink(p) == 0) vx_fsync_parent(p);
    atomic_store(&e->dirty[which], 0);
}

/* Builds the vector index anew from the catalog and puts it in place (searches go on
 * with the old one meanwhile), then saves it. */
static int rebuild_vectors(vx_engine *e, vx_error *err) {
    if (vx_engine_rebuild_vectors(e, err)) return -1;
    pthread_rwlock_rdlock(&e->vectors.lock);
    int r = vx_ann_save(e->vectors.ann, e->cat, err);
    pthread_rwlock_unlock(&e->vectors.lock);
    return r;
}

int vx_engine_repair_marked(vx_engine *e, vx_error *err) {
    if (e->vectors.ann && vx_engine_marked_dirty(e, VX_DERIVED_VECTORS)) {
        vx_info("the vector index missed a change before: rebuilding it from the catalog");
        if (rebuild_vectors(e, err)) return -1;
        clear_mark(e, VX_DERIVED_VECTORS);
    }
    if (e->lex && vx_engine_marked_dirty(e, VX_DERIVED_WORDS)) {
        vx_info("the word index missed a change before: checking every video's words");
        if (vx_engine_text_check(e, 1, NULL, NULL, NULL, err) < 0) return -1;
        clear_mark(e, VX_DERIVED_WORDS);
    }
    return 0;
}

/* What the vector index should hold: indexed originals with their frames encoded. */
typedef struct vector_count {
    int64_t videos, segments;
} vector_count;

static int count_vectors(void *ctx, const vx_video *v) {
    vector_count *c = ctx;
    if (v->status == VX_VIDEO_INDEXED && !v->duplicate_of && !vx_video_pending(v) && v->n_segments) {
        c->videos++;
        c->segments += v->n_segments;
    }
    return 0;
}

int vx_engine_check_derived(vx_engine *e, void (*report)(void *ctx, const char *problem), void *ctx,
                            uint64_t *problems, vx_error *err) {
    char msg[512];
    if (e->vectors.ann) {
        vector_count want = {0};
        if (vx_catalog_scan_videos(e->cat, count_vectors, &want, NULL, err)) return -1;
        pthread_rwlock_rdlock(&e->vectors.lock);
        const int64_t videos = vx_ann_count_videos(e->vectors.ann), segments = vx_ann_count_segments(e->vectors.ann);
        pthread_rwlock_unlock(&e->vectors.lock);
        /* A sharded node holds its shard's segments: only the video count is whole. */
        if (videos != want.videos || (e->opt.shards <= 1 && segments != want.segments)) {
            snprintf(msg, sizeof msg, "vector index: holds %lld videos and %lld segments, the catalog %lld and %lld "
                                      "(vidx info --check --repair rebuilds it)",
                     (long long)videos, (long long)segments, (long long)want.videos, (long long)want.segments);
            report(ctx, msg);
            (*problems)++;
        }
        if (vx_engine_marked_dirty(e, VX_DERIVED_VECTORS)) {
            report(ctx, "vector index: marked as having missed a change (rebuilt at the next start, or by --repair)");
            (*problems)++;
        }
    }
    uint64_t tags_differ, tags_example;
    const int tags = vx_engine_labels_check(e, 0, &tags_differ, &tags_example, err);
    if (tags < 0) return -1;
    if (tags == 0 && tags_differ) {
        snprintf(msg, sizeof msg, "tags: %llu videos' tags differ from what their vectors give now (for one, %016llx; "
                                  "vidx info --check --repair tags them again)",
                 (unsigned long long)tags_differ, (unsigned long long)tags_example);
        report(ctx, msg);
        (*problems)++;
    }
    if (e->lex) {
        uint64_t differ = 0, example = 0;
        if (vx_engine_text_check(e, 0, &differ, &example, NULL, err) < 0) return -1;
        if (differ) {
            snprintf(msg, sizeof msg, "word index: the words of %llu videos differ from the catalog (for one, %016llx; "
                                      "vidx info --check --repair rewrites them)",
                     (unsigned long long)differ, (unsigned long long)example);
            report(ctx, msg);
            (*problems)++;
        }
    }
    return 0;
}

int vx_engine_repair(vx_engine *e, void (*report)(void *ctx, const char *what), void *ctx, vx_error *err) {
    char msg[256];
    if (e->vectors.ann) {
        if (rebuild_vectors(e, err)) return VX_E_INTERNAL;
        clear_mark(e, VX_DERIVED_VECTORS);
        pthread_rwlock_rdlock(&e->vectors.lock);
        snprintf(msg, sizeof msg, "vector index rebuilt: %lld videos, %lld segments",
                 (long long)vx_ann_count_videos(e->vectors.ann), (long long)vx_ann_count_segments(e->vectors.ann));
        pthread_rwlock_unlock(&e->vectors.lock);
        report(ctx, msg);
    }
    if (e->lex) {
        uint64_t rewritten = 0;
        if (vx_engine_text_check(e, 1, &rewritten, NULL, NULL, err) < 0) return VX_E_INTERNAL;
        clear_mark(e, VX_DERIVED_WORDS);
        snprintf(msg, sizeof msg, "word index: %llu videos' words rewritten", (unsigned long long)rewritten);
        report(ctx, msg);
    }
    uint64_t retagged, example;
    const int tags = vx_engine_labels_check(e, 1, &retagged, &example, err);
    if (tags < 0) return VX_E_INTERNAL;
    if (tags == 0) {
        snprintf(msg, sizeof msg, "tags: %llu videos tagged again", (unsigned long long)retagged);
        report(ctx, msg);
    }
    return VX_OK;
}
