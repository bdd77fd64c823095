#include "neardup.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/grow.h"
#include "../common/log.h"
#include "../common/vecmath.h"

#define BIN 0.5               /* seconds per offset bin of the vote */
#define QUERY_FRAMES 48       /* frames of a new video looked up at most */
#define KEY_SCAN_MAX 512      /* videos read per hash key at most (a very common band) */
#define VERIFY_MAX 12         /* candidates aligned at most */

/* ---- alignment ------------------------------------------------------------------------ */

int vx_align_frames(const vx_frame_print *a, int na, const vx_frame_print *b, int nb, vx_neardup *out) {
    return vx_align_frames_with(a, na, b, nb, VX_PHASH_MATCH_BITS, VX_NEARDUP_COVERAGE, out);
}

int vx_align_frames_with(const vx_frame_print *a, int na, const vx_frame_print *b, int nb, int bits, double coverage,
                         vx_neardup *out) {
    memset(out, 0, sizeof *out);
    out->confirm = 2;
    if (na <= 0 || nb <= 0) return 0;
    /* Votes per offset bin over the offsets of all matching pairs. */
    const double lo = b[0].t - a[na - 1].t - BIN, hi = b[nb - 1].t - a[0].t + BIN;
    const int bins = (int)ceil((hi - lo) / BIN) + 1;
    int *votes = calloc((size_t)bins, sizeof *votes);
    if (!votes) return 0;
    int pairs = 0;
    for (int i = 0; i < na; i++) {
        if (a[i].flat) continue;
        for (int j = 0; j < nb; j++) {
            if (b[j].flat || vx_phash_distance(a[i].phash, b[j].phash) > bits) continue;
            const int k = (int)floor((b[j].t - a[i].t - lo) / BIN);
            if (k >= 0 && k < bins) votes[k]++;
            pairs++;
        }
    }
    int best = -1, best_votes = 0;
    for (int k = 0; k < bins; k++) {
        const int v = votes[k] + (k > 0 ? votes[k - 1] : 0) + (k + 1 < bins ? votes[k + 1] : 0);
        if (v > best_votes) { best_votes = v; best = k; }
    }
    free(votes);
    if (!pairs || best < 0) return 0;
    const double offset = lo + (best + 0.5) * BIN;
    out->offset = offset;
    /* Frames of a inside b's span at the offset, and those with a partner there. */
    uint64_t reps[64];
    int n_reps = 0;
    for (int i = 0; i < na; i++) {
        if (a[i].flat) continue;
        const double u = a[i].t + offset;
        if (u < b[0].t - VX_NEARDUP_SLACK || u > b[nb - 1].t + VX_NEARDUP_SLACK) continue;
        out->overlap++;
        int hit = 0;
        for (int j = 0; j < nb && !hit; j++)
            hit = !b[j].flat && fabs(b[j].t - u) <= VX_NEARDUP_SLACK &&
                  vx_phash_distance(a[i].phash, b[j].phash) <= bits;
        if (!hit) continue;
        out->matched++;
        int seen = 0;
        for (int r = 0; r < n_reps && !seen; r++) seen = vx_phash_distance(reps[r], a[i].phash) <= VX_NEARDUP_PICTURE_BITS;
        if (!seen && n_reps < 64) reps[n_reps++] = a[i].phash;
    }
    out->distinct = n_reps;
    out->coverage = out->overlap ? (double)out->matched / out->overlap : 0;
    /* At least two different pictures: a still shot matches any other still shot of the
     * same place (the ASL clips of the shared data: one person, one office, 2 s each). */
    return out->matched >= VX_NEARDUP_MIN_MATCHED && out->coverage >= coverage && out->distinct >= 2;
}

/* ---- candidates ----------------------------------------------------------------------- */

typedef struct cand {
    uint64_t id;
    int hits;       /* query frames that hit it */
    int last_frame; /* the query frame that hit it last (counted once per frame) */
} cand;

typedef struct lookup {
    cand *c;
    int n;
    size_t cap;
    uint64_t self;
    int frame;
    int scanned;
} lookup;

static int on_posting(void *ctx, uint64_t id) {
    lookup *L = ctx;
    if (++L->scanned > KEY_SCAN_MAX) return 1;
    if (id == L->self) return 0;
    for (int i = 0; i < L->n; i++)
        if (L->c[i].id == id) {
            if (L->c[i].last_frame != L->frame) {
                L->c[i].hits++;
                L->c[i].last_frame = L->frame;
            }
            return 0;
        }
    if (VX_GROW(L->c, L->cap, (size_t)L->n + 1)) return 1;
    L->c[L->n++] = (cand){.id = id, .hits = 1, .last_frame = L->frame};
    return 0;
}

/* Looks up the bands of hash (query frame number `frame`) and adds the videos found. */
static int look_up(vx_catalog *cat, lookup *L, uint64_t hash, int frame, vx_error *err) {
    L->frame = frame;
    for (int band = 0; band < 4; band++) {
        L->scanned = 0;
        if (vx_catalog_scan_phash(cat, band, hash, on_posting, L, err)) return -1;
    }
    return 0;
}

static int by_hits(const void *x, const void *y) {
    const cand *a = x, *b = y;
    return (b->hits > a->hits) - (b->hits < a->hits);
}

/* ---- confirmation by the embeddings --------------------------------------------------- */

/* Mean cosine between self's matched frames and the candidate's segments at their
 * partners' times; 2 when nothing could be compared. */
static float confirm(vx_catalog *cat, uint64_t cand_id, const vx_frame_print *a, int na, const float *emb, int dim,
                     const vx_video_frames *b, double offset) {
    vx_segment *segs;
    uint32_t n_segs;
    vx_error err;
    if (vx_catalog_get_segments(cat, cand_id, 1, &segs, &n_segs, &err)) return 2;
    if (n_segs == 0 || (int)segs[0].dim != dim) {
        vx_segments_free(segs, n_segs);
        return 2;
    }
    double sum = 0;
    int n = 0;
    for (int i = 0; i < na; i++) {
        if (a[i].flat) continue;
        const double u = a[i].t + offset;
        int hit = 0;
        for (uint32_t j = 0; j < b->n && !hit; j++)
            hit = !b->frames[j].flat && fabs(b->frames[j].t - u) <= VX_NEARDUP_SLACK &&
                  vx_phash_distance(a[i].phash, b->frames[j].phash) <= VX_PHASH_MATCH_BITS;
        if (!hit) continue;
        uint32_t s = 0;
        for (uint32_t k = 0; k < n_segs; k++)
            if (u >= segs[k].start && u < segs[k].end) { s = k; break; }
            else if (u >= segs[k].end) s = k;
        sum += vx_dot(emb + (size_t)i * dim, segs[s].embedding, (size_t)dim);
        n++;
    }
    vx_segments_free(segs, n_segs);
    return n ? (float)(sum / n) : 2;
}

/* ---- the two questions ---------------------------------------------------------------- */

int vx_find_near_duplicate(vx_catalog *cat, uint64_t self, const vx_frame_print *frames, int n, const float *emb,
                           int dim, vx_neardup *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    lookup L = {.self = self};
    /* Query frames: non-flat, spread over the video, not repeating the one before. */
    int usable = 0;
    for (int i = 0; i < n; i++) usable += !frames[i].flat;
    if (usable < VX_NEARDUP_MIN_MATCHED) return 0;
    const int step = usable > QUERY_FRAMES ? usable / QUERY_FRAMES : 1;
    uint64_t prev = 0;
    int have_prev = 0, k = 0, looked = 0;
    for (int i = 0; i < n; i++) {
        if (frames[i].flat) continue;
        if (k++ % step) continue;
        if (have_prev && vx_phash_distance(prev, frames[i].phash) <= 4) continue;
        prev = frames[i].phash;
        have_prev = 1;
        if (look_up(cat, &L, frames[i].phash, i, err)) { free(L.c); return -1; }
        looked++;
    }
    if (L.n > 1) qsort(L.c, (size_t)L.n, sizeof *L.c, by_hits);
    const int need = looked >= 4 ? 2 : 1;
    int found = 0;
    for (int c = 0; c < L.n && c < VERIFY_MAX && L.c[c].hits >= need; c++) {
        vx_video v;
        int r = vx_catalog_get_video(cat, L.c[c].id, &v, err);
        if (r < 0) { free(L.c); return -1; }
        if (r) continue;
        const int live = v.status == VX_VIDEO_INDEXED && !v.duplicate_of;
        const uint64_t root = v.near_duplicate_of ? v.near_duplicate_of : v.id;
        vx_video_clear(&v);
        if (!live || root == self) continue;
        vx_video_frames f;
        if ((r = vx_catalog_get_frames(cat, L.c[c].id, &f, err)) < 0) { free(L.c); return -1; }
        if (r) continue;
        vx_neardup d;
        if (vx_align_frames(frames, n, f.frames, (int)f.n, &d)) {
            if (emb) d.confirm = confirm(cat, L.c[c].id, frames, n, emb, dim, &f, d.offset);
            vx_debug("near-duplicate check of %016llx against %016llx: %d of %d frames match at %+.2f s, %d pictures, "
                     "coverage %.2f, embeddings %.3f", (unsigned long long)self, (unsigned long long)L.c[c].id, d.matched,
                     d.overlap, d.offset, d.distinct, d.coverage, d.confirm);
            if (d.confirm >= VX_NEARDUP_CONFIRM && (!found || d.matched > out->matched)) {
                *out = d;
                out->original = root;
                found = 1;
            }
        }
        vx_video_frames_clear(&f);
    }
    free(L.c);
    return found;
}

int vx_find_picture_source(vx_catalog *cat, uint64_t phash, vx_picture_source *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    out->distance = VX_PHASH_MATCH_BITS + 1;
    lookup L = {.self = 0};
    int best_reupload = 0;
    if (look_up(cat, &L, phash, 0, err)) { free(L.c); return -1; }
    for (int c = 0; c < L.n && c < 4 * VERIFY_MAX; c++) {
        vx_video v;
        int r = vx_catalog_get_video(cat, L.c[c].id, &v, err);
        if (r < 0) { free(L.c); return -1; }
        if (r) continue;
        const int live = v.status == VX_VIDEO_INDEXED && !v.duplicate_of, reupload = v.near_duplicate_of != 0;
        vx_video_clear(&v);
        vx_video_frames f;
        if (!live || (r = vx_catalog_get_frames(cat, L.c[c].id, &f, err)) > 0) continue;
        if (r < 0) { free(L.c); return -1; }
        for (uint32_t j = 0; j < f.n; j++) {
            if (f.frames[j].flat) continue;
            const int dist = vx_phash_distance(phash, f.frames[j].phash);
            /* Nearest first; at equal distance an original before its re-uploads. */
            if (dist < out->distance || (dist == out->distance && !reupload && best_reupload)) {
                best_reupload = reupload;
                out->distance = dist;
                out->video_id = f.id;
                out->t = f.frames[j].t;
            }
        }
        vx_video_frames_clear(&f);
    }
    free(L.c);
    return out->video_id != 0;
}
