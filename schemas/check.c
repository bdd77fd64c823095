/* Catalog consistency check (vidx info --check): every invariant the indexer keeps. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/hash.h"
#include "catalog.h"

typedef struct vinfo {
    uint64_t id, dup_of, hash;
    uint32_t n_segments, seen_segments;
    uint8_t status, has_embedding, has_content, pending;
} vinfo;

typedef struct checker {
    vx_catalog *cat;
    vinfo *v;
    size_t n, cap;
    uint32_t dim;
    vx_check_fn report;
    void *ctx;
    uint64_t problems;
    int oom;         /* the check could not finish: out of memory */
} checker;

static void problem(checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(checker *c, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->problems++;
    if (c->report) c->report(c->ctx, msg);
}

static int cmp_vinfo(const void *a, const void *b) {
    uint64_t x = ((const vinfo *)a)->id, y = ((const vinfo *)b)->id;
    return x < y ? -1 : x > y;
}

static vinfo *find(checker *c, uint64_t id) {
    vinfo key = {.id = id};
    if (!c->n) return NULL;
    return bsearch(&key, c->v, c->n, sizeof *c->v, cmp_vinfo);
}

static int collect(void *ctx, const vx_video *v) {
    checker *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 256;
        vinfo *nv = realloc(c->v, c->cap * sizeof *nv);
        if (!nv) {
            c->oom = 1; /* stops the scan: reported, never a quiet "no problems" */
            return 1;
        }
        c->v = nv;
    }
    c->v[c->n++] = (vinfo){.id = v->id, .dup_of = v->duplicate_of, .hash = v->content_hash,
                           .n_segments = v->n_segments, .status = v->status, .pending = (uint8_t)vx_video_pending(v)};
    uint64_t id;
    vx_error err;
    if (vx_catalog_find_path(c->cat, v->path, &id, &err) != 0 || id != v->id)
        problem(c, "video %016llx: path %s does not lead back to it", (unsigned long long)v->id, v->path);
    return 0;
}

static int seg(void *ctx, uint64_t video_id, uint32_t index, const vx_segment *s) {
    checker *c = ctx;
    vinfo *v = find(c, video_id);
    if (!v || v->status != VX_VIDEO_INDEXED || index >= v->n_segments)
        problem(c, "segment %016llx/%u belongs to no indexed video", (unsigned long long)video_id, index);
    else v->seen_segments++;
    if (c->dim && s->dim != c->dim)
        problem(c, "segment %016llx/%u has %u dimensions, the database %u", (unsigned long long)video_id, index, s->dim, c->dim);
    return 0;
}

int vx_catalog_check(vx_catalog *cat, vx_check_fn report, void *ctx, uint64_t *problems_out, vx_error *err) {
    checker c = {.cat = cat, .report = report, .ctx = ctx};
    vx_meta meta;
    vx_scan_stats stats = {0};
    int rc = -1;
    if (vx_catalog_get_meta(cat, &meta, err) != 0) return -1;
    c.dim = meta.embed_dim;
    vx_meta_clear(&meta);
    if (vx_catalog_scan_videos(cat, collect, &c, &stats, err)) goto done;
    if (c.oom) {
        vx_fail(err, "out of memory after %zu videos: the check did not finish", c.n);
        goto done;
    }
    if (stats.corrupt) problem(&c, "%llu video records are corrupt", (unsigned long long)stats.corrupt);
    if (c.n) qsort(c.v, c.n, sizeof *c.v, cmp_vinfo);
    memset(&stats, 0, sizeof stats);
    if (vx_catalog_scan_segments(cat, 0, seg, &c, &stats, err)) goto done;
    if (stats.corrupt) problem(&c, "%llu segment records are corrupt", (unsigned long long)stats.corrupt);
    for (size_t i = 0; i < c.n; i++) {
        vinfo *v = &c.v[i];
        vx_embedding e;
        vx_error e2;
        int r = vx_catalog_get_embedding(cat, v->id, &e, &e2);
        if (r == 0) {
            if (c.dim && e.dim != c.dim) problem(&c, "embedding %016llx has %u dimensions", (unsigned long long)v->id, e.dim);
            vx_embedding_clear(&e);
        } else if (r < 0) {
            problem(&c, "%s", e2.msg);
        }
        const int original = v->status == VX_VIDEO_INDEXED && !v->dup_of;
        if (v->pending && (r == 0 || v->seen_segments))
            problem(&c, "video %016llx waits for the model but has %u segments%s", (unsigned long long)v->id,
                    v->seen_segments, r == 0 ? " and an embedding" : "");
        if (original && !v->pending && (r != 0 || v->seen_segments != v->n_segments || v->n_segments == 0))
            problem(&c, "video %016llx is indexed but has %u of %u segments%s", (unsigned long long)v->id,
                    v->seen_segments, v->n_segments, r != 0 ? " and no embedding" : "");
        if (!original && r == 0) problem(&c, "video %016llx is %s but still has an embedding", (unsigned long long)v->id,
                                          v->dup_of ? "a duplicate" : vx_video_status_name(v->status));
        for (uint8_t slot = VX_TEXT_FILES; slot <= VX_TEXT_API; slot++) { /* its text decodes */
            vx_video_text t;
            r = vx_catalog_get_text(cat, v->id, slot, &t, &e2);
            if (r == 0) vx_video_text_clear(&t);
            else if (r < 0) problem(&c, "%s", e2.msg);
        }
        vx_video_frames f; /* its frames decode, and only an indexed original has them */
        r = vx_catalog_get_frames(cat, v->id, &f, &e2);
        if (r < 0) problem(&c, "%s", e2.msg);
        if (r == 0) {
            if (!original) problem(&c, "video %016llx is %s but still has frame hashes", (unsigned long long)v->id,
                                   v->dup_of ? "a duplicate" : vx_video_status_name(v->status));
            vx_video_frames_clear(&f);
        }
        if (v->dup_of) {
            vinfo *o = find(&c, v->dup_of);
            if (!o || o->status != VX_VIDEO_INDEXED || o->dup_of)
                problem(&c, "video %016llx duplicates %016llx, which is not an indexed original", (unsigned long long)v->id,
                        (unsigned long long)v->dup_of);
        }
    }
    rc = 0;
done:
    free(c.v);
    *problems_out = c.problems;
    return rc;
}
