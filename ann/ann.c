#include "ann.h"

#include <errno.h>
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/coding.h"
#include "../common/hash.h"
#include "../common/idmap.h"
#include "../common/log.h"
#include "../common/path.h"
#include "../common/system.h"
#include "compressed.h"
#include "ivf_lists.h"
#include "ivf_search.h"

#define PREFIX_MASK (~(uint64_t)((1u << VX_ANN_SEGMENT_BITS) - 1))
#define META_MAGIC "vidxann3"    /* v3 adds the shard held (v1, v2: all) */
#define META_MAGIC_V2 "vidxann2" /* v2 adds the time of saving */
#define META_MAGIC_V1 "vidxann1"

struct vx_ann {
    int dim;
    vx_path dir;
    char factory[64];  /* forced type, or "" to choose by size */
    long exact_max;    /* vectors searched exactly before an inverted file */
    long compress_min; /* segments above which their index is compressed */
    long train_max;    /* segments sampled to train an inverted file; 0: by size */
    uint32_t shard, shards; /* segments of videos with id % shards == shard only */
    FaissIndex *segments, *videos; /* segments NULL when seg_c holds them */
    vx_cindex *seg_c;  /* the compressed segment index, or NULL */
    char seg_c_name[64]; /* its files' name in dir ("segments-c-HEX") */
    vx_idmap prefixes; /* segment-label prefix (see prefix_key) -> video id */
    char origin[256];
    int faiss_search; /* inverted files searched by FAISS alone (vx_ann_use_faiss_search) */
};

static int faiss_fail(vx_error *err, const char *what) {
    const char *m = faiss_get_last_error();
    return vx_fail(err, "%s: %s", what, m ? m : "FAISS error");
}

/* ---- prefix table -------------------------------------------------------------------- */

/* A segment label is its video id's high bits with the segment number in the low
 * VX_ANN_SEGMENT_BITS; the table maps those high bits back to the video. Setting bit 0
 * keeps the key clear of the map's reserved 0 and 2^64-1. */
static uint64_t prefix_key(uint64_t label) { return (label & PREFIX_MASK) | 1; }

/* 0, 1 when another video already holds the prefix, -1 when out of memory. */
static int prefix_put(vx_ann *a, uint64_t video_id) {
    uint64_t holder;
    if (vx_idmap_get(&a->prefixes, prefix_key(video_id), &holder)) return holder == video_id ? 0 : 1;
    return vx_idmap_put(&a->prefixes, prefix_key(video_id), video_id);
}

/* The video whose segment carries this label, or 0. */
static uint64_t prefix_get(const vx_ann *a, uint64_t label) {
    uint64_t video_id;
    return vx_idmap_get(&a->prefixes, prefix_key(label), &video_id) ? video_id : 0;
}

/* ---- building ------------------------------------------------------------------------ */

/* The index description for n vectors: "Flat", or "IVF<lists>,Flat" with about 256
 * vectors per list (4096 lists at a million). */
static void choose(const vx_ann *a, long n, char *desc, size_t size) {
    if (a->factory[0]) { snprintf(desc, size, "%s", a->factory); return; }
    if (n <= a->exact_max) { snprintf(desc, size, "Flat"); return; }
    long lists = 1;
    while (lists * 256 < n && lists < 65536) lists *= 2;
    snprintf(desc, size, "IVF%ld,Flat", lists);
}

static void set_nprobe(FaissIndex *idx, int nprobe) {
    FaissParameterSpace *ps = NULL;
    if (faiss_ParameterSpace_new(&ps)) return;
    /* Measured (bench_ann): 16 lists give recall@10 1.0 on CLIP-like data. Not an IVF: no-op. */
    faiss_ParameterSpace_set_index_parameter(ps, idx, "nprobe", nprobe);
    faiss_ParameterSpace_free(ps);
}

/* A new empty index for n vectors, trained on `train` (n_train vectors) if it needs it. */
static int new_index(vx_ann *a, long n, const float *train, long n_train, int nprobe, FaissIndex **out,
                     vx_error *err) {
    char inner[64], desc[96];
    choose(a, n, inner, sizeof inner);
    /* Inverted files store the 64-bit labels in their lists and remove by label. Other
     * types get an IDMap2 for the labels. Never IDMap over an inverted file: in FAISS
     * 1.7.3 its remove_ids compacts the id map while the lists keep their internal ids,
     * so after one removal labels point at the wrong vectors and the next removal
     * aborts (found by test_search; the files of such indexes are rebuilt, see open). */
    if (strncmp(inner, "IVF", 3) == 0) snprintf(desc, sizeof desc, "%s", inner);
    else snprintf(desc, sizeof desc, "IDMap2,%s", inner);
    if (faiss_index_factory(out, a->dim, desc, METRIC_INNER_PRODUCT)) return faiss_fail(err, desc);
    if (!faiss_Index_is_trained(*out)) {
        if (n_train < 1) {
            faiss_Index_free(*out);
            *out = NULL;
            return vx_fail(err, "%s needs training vectors", desc);
        }
        if (faiss_Index_train(*out, n_train, train)) return faiss_fail(err, "training the index");
    }
    /* Vectors by label and O(1) removals (ivf_lists.h). */
    FaissIndexIVF *ivf = faiss_IndexIVF_cast(*out);
    if (ivf && vx_ivf_use_label_table(ivf)) return vx_fail(err, "%s: cannot keep a label table", desc);
    set_nprobe(*out, nprobe);
    return 0;
}

typedef struct adder {
    vx_ann *a;
    vx_catalog *cat;
    int rc;
    vx_error *err;
} adder;

/* Adds one vector. For an inverted file the list is picked here with the AVX2 kernel:
 * FAISS's generic build scores every centroid with scalar code for each single add
 * (and wakes its OpenMP team), which was most of a cluster node's catch-up. */
static int add_one(FaissIndex *index, const float *v, idx_t label) {
    FaissIndexIVF *ivf = faiss_IndexIVF_cast(index);
    int64_t list;
    if (ivf && vx_ivf_assign(ivf, v, &list) == 0) return vx_ivf_add_assigned(ivf, 1, v, &label, &list);
    return faiss_Index_add_with_ids(index, 1, v, &label);
}

static int add_segment_vec(vx_ann *a, uint64_t video_id, uint32_t index, const float *v, vx_error *err) {
    idx_t label = (idx_t)((video_id & PREFIX_MASK) | index);
    if (a->seg_c) {
        uint64_t l = (uint64_t)label;
        return vx_cindex_add(a->seg_c, 1, v, &l, err);
    }
    if (add_one(a->segments, v, label)) return faiss_fail(err, "adding a segment");
    return 0;
}

static int add_video_vectors(vx_ann *a, vx_catalog *cat, const vx_video *v, vx_error *err) {
    if (v->status != VX_VIDEO_INDEXED || v->duplicate_of) return 0;
    vx_embedding e;
    int r = vx_catalog_get_embedding(cat, v->id, &e, err);
    if (r) return r < 0 ? -1 : 0;
    if ((int)e.dim != a->dim) {
        uint32_t dim = e.dim;
        vx_embedding_clear(&e);
        return vx_fail(err, "video %016llx has %u dimensions, the index %d", (unsigned long long)v->id, dim, a->dim);
    }
    idx_t label = (idx_t)v->id;
    int pr = v->n_segments < (1u << VX_ANN_SEGMENT_BITS) ? prefix_put(a, v->id) : 1;
    if (pr < 0) {
        vx_embedding_clear(&e);
        return vx_fail(err, "out of memory");
    }
    if (pr == 1) {
        vx_embedding_clear(&e);
        vx_warn("video %016llx shares its high bits with another video (or has too many segments); it is not "
                "searchable", (unsigned long long)v->id);
        return 0;
    }
    r = add_one(a->videos, e.v, label) ? faiss_fail(err, "adding a video") : 0;
    vx_embedding_clear(&e);
    if (r) return -1;
    if (v->id % a->shards != a->shard) return 0; /* another shard's segments */
    /* A compressed index takes the video's segments in one call (FAISS's adds have a
     * fixed cost each: its OpenMP team wakes). */
    float *batch = a->seg_c && v->n_segments ? malloc((size_t)v->n_segments * a->dim * sizeof *batch) : NULL;
    uint64_t *batch_labels = batch ? malloc((size_t)v->n_segments * sizeof *batch_labels) : NULL;
    long nb = 0;
    for (uint32_t i = 0; i < v->n_segments; i++) {
        vx_segment s;
        r = vx_catalog_get_segment(cat, v->id, i, &s, err);
        if (r < 0) break;
        if (r) { r = 0; continue; }
        if ((int)s.dim == a->dim) {
            if (batch_labels) {
                memcpy(batch + (size_t)nb * a->dim, s.embedding, (size_t)a->dim * sizeof *batch);
                batch_labels[nb++] = (v->id & PREFIX_MASK) | i;
            } else {
                r = add_segment_vec(a, v->id, i, s.embedding, err);
            }
        }
        vx_segment_clear(&s);
        if (r) break;
    }
    if (r == 0 && nb) r = vx_cindex_add(a->seg_c, nb, batch, batch_labels, err);
    free(batch);
    free(batch_labels);
    return r ? -1 : 0;
}

static int add_each(void *ctx, const vx_video *v) {
    adder *ad = ctx;
    if (add_video_vectors(ad->a, ad->cat, v, ad->err)) {
        ad->rc = -1;
        return 1;
    }
    return 0;
}

/* Training samples. Videos: the first in key order (ids are hashes, so that order is as
 * good as random). Segments: every stride-th in key order, so that the sample spreads
 * over all videos; the first ones would be every segment of a few videos, and k-means
 * trained on them leaves all other videos to the few centroids nearest the direction
 * every frame embedding shares: lists of very uneven length, and queries that read far
 * more than nprobe/nlist of the vectors (bench_ann, ann/README.md). */
typedef struct sampler {
    float *v;
    long n, max;
    int dim;
    long stride, seen;
} sampler;

static int sample_segment(void *ctx, uint64_t video_id, uint32_t index, const vx_segment *s) {
    (void)video_id;
    (void)index;
    sampler *sp = ctx;
    if (sp->n >= sp->max) return 1;
    if (sp->seen++ % sp->stride) return 0;
    if ((int)s->dim == sp->dim) memcpy(sp->v + (size_t)sp->n++ * sp->dim, s->embedding, (size_t)sp->dim * sizeof(float));
    return 0;
}

typedef struct emb_sampler {
    vx_catalog *cat;
    sampler *sp;
} emb_sampler;

static int sample_video(void *ctx, const vx_video *v) {
    emb_sampler *es = ctx;
    if (es->sp->n >= es->sp->max) return 1;
    if (v->status != VX_VIDEO_INDEXED || v->duplicate_of) return 0;
    vx_embedding e;
    vx_error err;
    if (vx_catalog_get_embedding(es->cat, v->id, &e, &err) == 0) {
        if ((int)e.dim == es->sp->dim)
            memcpy(es->sp->v + (size_t)es->sp->n++ * es->sp->dim, e.v, (size_t)es->sp->dim * sizeof(float));
        vx_embedding_clear(&e);
    }
    return 0;
}

#define TRAIN_MAX 100000

/* Inverted lists of the compressed index for n vectors: 1,000 to 2,000 codes a list
 * (at 10 million: 8,192 lists reached recall@10 0.952 at nprobe 8 where 4,096 reached
 * 0.830; more lists cost more to pick from, one inner product each; bench_ann). */
static long compressed_lists(long n) {
    long lists = 1;
    while (lists * 2 * 1024 <= n && lists < 65536) lists *= 2;
    return lists;
}

/* A fresh compressed segment index under a name of its own (a rebuild never touches
 * the files an index being replaced still maps), trained on the sample. */
static int new_compressed(vx_ann *a, long n, const float *train, long n_train, vx_error *err) {
    uint64_t tag;
    if (vx_random_bytes(&tag, sizeof tag)) tag = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
    vx_path path;
    char hex[VX_ID_HEX_LEN], desc[64];
    vx_id_to_hex(tag, hex);
    snprintf(a->seg_c_name, sizeof a->seg_c_name, "segments-c-%s", hex);
    vx_path_fmt(path, NULL, "%s/%s", a->dir, a->seg_c_name);
    const long lists = compressed_lists(n);
    /* FastScan PQ, 4 bits per 4 dimensions (PQ128x4fs for 512: 64 bytes a vector), its
     * codes scanned with SIMD shuffles, re-ranked exactly: at a million video-shaped
     * vectors the same recall@10 (1.000 from 100 candidates) as PQ with a byte per 4
     * dimensions (PQ128np) at 126 bytes a vector instead of 187, 1.4x the queries/s and
     * a third of the build time. 4 bits per 8 dimensions (PQ64x4fs, 92 bytes) was as
     * good on that data but lost recall where many segments are nearly tied
     * (test_compressed_segments: 0.74 against 0.9+). Removals leave tombstones
     * (compressed.h). Other sizes: PQ with a byte per 4 dimensions ("np": no polysemous
     * training). */
    if (a->dim % 4 == 0 && (a->dim / 4) % 2 == 0)
        snprintf(desc, sizeof desc, "IVF%ld,PQ%dx4fs", lists, a->dim / 4);
    else
        snprintf(desc, sizeof desc, "IVF%ld,PQ%dnp", lists, a->dim % 4 == 0 ? a->dim / 4 : a->dim);
    if (n_train < 1) return vx_fail(err, "the compressed index needs training vectors");
    if (!(a->seg_c = vx_cindex_create(path, a->dim, desc, train, n_train, err))) return -1;
    vx_cindex_set_nprobe(a->seg_c, VX_ANN_NPROBE_SEGMENTS);
    return 0;
}

static int rebuild(vx_ann *a, vx_catalog *cat, vx_error *err) {
    faiss_Index_free(a->segments);
    faiss_Index_free(a->videos);
    a->segments = a->videos = NULL;
    vx_cindex_free(a->seg_c);
    a->seg_c = NULL;
    vx_idmap_free(&a->prefixes);
    if (a->dim == 0) return 0; /* no vectors of any size yet */
    uint64_t n_seg = 0, n_vid = 0;
    if (vx_catalog_count(cat, VX_KEY_SEGMENT, &n_seg, err) || vx_catalog_count(cat, VX_KEY_EMBEDDING, &n_vid, err))
        return -1;
    /* A shard holds its share of the segments (ids are hashes): sized for that; trained
     * on a sample of all of them (the same distribution). */
    const long held = (long)(n_seg / a->shards);
    const int need = held > a->exact_max || (long)n_vid > a->exact_max;
    const int compress = held > a->compress_min && !a->factory[0];
    /* FAISS asks for ~40 training vectors a list; the compressed index has many lists. */
    long max = a->train_max > 0 ? a->train_max : TRAIN_MAX;
    if (!a->train_max && compress && 40 * compressed_lists(held) > max) max = 40 * compressed_lists(held);
    sampler sp = {NULL, 0, max, a->dim, 1, 0};
    if ((long)n_seg > max) sp.stride = ((long)n_seg + max - 1) / max;
    if (need && !(sp.v = malloc((size_t)max * a->dim * sizeof(float)))) return vx_fail(err, "out of memory");
    if (need && vx_catalog_scan_segments(cat, 0, sample_segment, &sp, NULL, err)) { free(sp.v); return -1; }
    /* Compressed when big (and with enough training vectors for PQ's 256 centroids a
     * sub-space: only a very low compress_min could ask with fewer). */
    int r = compress && sp.n >= 4096
                ? new_compressed(a, held, sp.v, sp.n, err)
                : new_index(a, held, sp.v, sp.n, VX_ANN_NPROBE_SEGMENTS, &a->segments, err);
    sp.n = 0;
    sp.max = TRAIN_MAX;
    emb_sampler es = {cat, &sp};
    if (r == 0 && need && vx_catalog_scan_videos(cat, sample_video, &es, NULL, err)) r = -1;
    if (r == 0) r = new_index(a, (long)n_vid, sp.v, sp.n, VX_ANN_NPROBE_VIDEOS, &a->videos, err);
    free(sp.v);
    if (r) return -1;
    adder ad = {a, cat, 0, err};
    if (vx_catalog_scan_videos(cat, add_each, &ad, NULL, err) || ad.rc) return -1;
    return 0;
}

/* ---- files --------------------------------------------------------------------------- */

static void paths(const vx_ann *a, const char *name, vx_path index, vx_path meta) {
    vx_path_fmt(index, NULL, "%s/%s.faiss", a->dir, name); /* "" when too long: opening it fails */
    vx_path_fmt(meta, NULL, "%s/%s.meta", a->dir, name);
}

/* The index file, then its meta (generation, dim, checksum): each written to a
 * temporary name, synced and renamed, so a crash leaves the old pair or a pair whose
 * checksum does not match (rebuilt at the next open). */
/* NAME.meta: magic, generation, dimension, the index file's checksum, when; written
 * aside, synced, renamed. */
static int write_meta(const vx_ann *a, const char *meta, uint64_t generation, uint64_t checksum, vx_error *err) {
    vx_path tmp;
    vx_buf b = {0};
    vx_put_bytes(&b, META_MAGIC, 8);
    vx_put_u64le(&b, generation);
    vx_put_u32le(&b, (uint32_t)a->dim);
    vx_put_u64le(&b, checksum);
    vx_put_u64le(&b, (uint64_t)time(NULL));
    vx_put_u32le(&b, a->shard);
    vx_put_u32le(&b, a->shards);
    vx_path_fmt(tmp, NULL, "%s.tmp", meta);
    FILE *f = fopen(tmp, "wb");
    int ok = f && !b.oom && fwrite(b.data, 1, b.len, f) == b.len;
    if (f) ok = (fclose(f) == 0) && ok;
    vx_buf_free(&b);
    if (!ok || vx_fsync_path(tmp) || rename(tmp, meta)) {
        unlink(tmp);
        return vx_fail(err, "%s: cannot write", meta);
    }
    return 0;
}

static int save_one(vx_ann *a, FaissIndex *idx, const char *name, uint64_t generation, vx_error *err) {
    vx_path index, meta, tmp;
    paths(a, name, index, meta);
    vx_path_fmt(tmp, NULL, "%s.tmp", index);
    if (faiss_write_index_fname(idx, tmp)) {
        unlink(tmp);
        return faiss_fail(err, tmp);
    }
    uint64_t h;
    if (vx_fsync_path(tmp) || vx_hash_file(tmp, &h, NULL) || rename(tmp, index)) {
        const int e = errno;
        unlink(tmp);
        return vx_fail(err, "%s: cannot write: %s", index, strerror(e));
    }
    return write_meta(a, meta, generation, h, err);
}

/* Reads NAME.meta and checks NAME.faiss against it (dimension, checksum); 1 with why
 * when it does not hold. */
static int check_meta(vx_ann *a, const char *name, uint64_t generation, int *stale, int64_t *saved_at, char *why,
                      size_t why_size) {
    vx_path index, meta;
    paths(a, name, index, meta);
    uint8_t m[45];
    FILE *f = fopen(meta, "rb");
    size_t n = f ? fread(m, 1, sizeof m, f) : 0;
    if (f) fclose(f);
    if (!f) { snprintf(why, why_size, "%s.meta missing", name); return 1; }
    vx_cursor c = vx_cursor_make(m, n);
    const uint8_t *magic = vx_get_bytes(&c, 8);
    const int v3 = !c.bad && memcmp(magic, META_MAGIC, 8) == 0;
    const int v2 = v3 || (!c.bad && memcmp(magic, META_MAGIC_V2, 8) == 0);
    uint64_t gen = vx_get_u64le(&c);
    uint32_t dim = vx_get_u32le(&c);
    uint64_t sum = vx_get_u64le(&c), h;
    *saved_at = v2 ? (int64_t)vx_get_u64le(&c) : 0;
    uint32_t shard = v3 ? vx_get_u32le(&c) : 0, shards = v3 ? vx_get_u32le(&c) : 1;
    if (!vx_cursor_done(&c) || (!v2 && memcmp(magic, META_MAGIC_V1, 8) != 0)) {
        snprintf(why, why_size, "%s.meta is corrupt", name);
        return 1;
    }
    if (shard != a->shard || shards != a->shards) {
        snprintf(why, why_size, "%s.faiss holds shard %u of %u, this node serves shard %u of %u", name, shard, shards,
                 a->shard, a->shards);
        return 1;
    }
    *stale = gen != generation;
    if (*stale && !v2) {
        snprintf(why, why_size, "%s.faiss reflects generation %llu, the catalog is at %llu", name, (unsigned long long)gen,
                 (unsigned long long)generation);
        return 1;
    }
    if ((int)dim != a->dim) { snprintf(why, why_size, "%s.faiss has %u dimensions", name, dim); return 1; }
    if (vx_hash_file(index, &h, NULL) || h != sum) { snprintf(why, why_size, "%s.faiss is missing or corrupt (checksum)", name); return 1; }
    return 0;
}

/* The compressed segment index the pointer file names, if there is one: 0 loaded, 1
 * none (or unusable: why says so, and a->seg_c stays NULL). */
static int load_compressed(vx_ann *a, uint64_t generation, int *stale, int64_t *saved_at, char *why, size_t why_size) {
    vx_path pointer;
    char name[64] = "";
    vx_path_fmt(pointer, NULL, "%s/segments-c.name", a->dir);
    FILE *f = fopen(pointer, "r");
    if (!f) return 1;
    int ok = fgets(name, sizeof name, f) != NULL;
    fclose(f);
    name[strcspn(name, "\n")] = '\0';
    if (!ok || strncmp(name, "segments-c-", 11) != 0 || strchr(name, '/')) {
        snprintf(why, why_size, "segments-c.name is corrupt");
        return 1;
    }
    if (check_meta(a, name, generation, stale, saved_at, why, why_size)) return 1;
    vx_path path;
    vx_error err;
    vx_path_fmt(path, NULL, "%s/%s", a->dir, name);
    if (!(a->seg_c = vx_cindex_open(path, a->dim, &err))) {
        snprintf(why, why_size, "%.400s", err.msg);
        return 1;
    }
    snprintf(a->seg_c_name, sizeof a->seg_c_name, "%s", name);
    vx_cindex_set_nprobe(a->seg_c, VX_ANN_NPROBE_SEGMENTS);
    return 0;
}

/* Loads one index if its meta and checksum hold; else returns 1 with why. An index of
 * an older generation (the process stopped between catalog writes and the next save)
 * loads with *stale set and *saved_at the time it was saved, when its meta records it. */
static int load_one(vx_ann *a, const char *name, uint64_t generation, FaissIndex **out, int *stale, int64_t *saved_at,
                    char *why, size_t why_size) {
    vx_path index, meta;
    paths(a, name, index, meta);
    if (check_meta(a, name, generation, stale, saved_at, why, why_size)) return 1;
    if (faiss_read_index_fname(index, 0, out)) { snprintf(why, why_size, "%s.faiss does not load", name); return 1; }
    if (faiss_Index_d(*out) != a->dim) {
        faiss_Index_free(*out);
        *out = NULL;
        snprintf(why, why_size, "%s.faiss has the wrong dimension", name);
        return 1;
    }
    FaissIndexIDMap2 *map = faiss_IndexIDMap2_cast(*out);
    if (map && faiss_IndexIVF_cast(faiss_IndexIDMap2_sub_index(map))) {
        /* Written by an earlier vidx: an id map over an inverted file mislabels vectors
         * after removals (see new_index). */
        faiss_Index_free(*out);
        *out = NULL;
        snprintf(why, why_size, "%s.faiss wraps an inverted file in an id map (older layout)", name);
        return 1;
    }
    /* Files of earlier versions have no label table: built from the lists (a pass over
     * the labels), and saved with the index from then on. */
    FaissIndexIVF *ivf = faiss_IndexIVF_cast(*out);
    if (ivf && vx_ivf_use_label_table(ivf)) {
        faiss_Index_free(*out);
        *out = NULL;
        snprintf(why, why_size, "%s.faiss: cannot build its label table", name);
        return 1;
    }
    return 0;
}

static int remove_labels(FaissIndex *idx, const idx_t *labels, size_t n, vx_error *err);

static int remove_segments(vx_ann *a, const idx_t *labels, size_t n, vx_error *err) {
    if (a->seg_c) return vx_cindex_remove(a->seg_c, (long)n, (const uint64_t *)labels, err);
    return remove_labels(a->segments, labels, n, err);
}

/* Catching up a stale index: the videos whose records changed since it was saved (by
 * updated_at, with a margin for clock steps) are removed whatever the index holds of
 * them and added again as the catalog has them. Above a tenth of the catalog a rebuild
 * is cheaper: then -1. */
#define CATCH_UP_MARGIN_S 120

typedef struct catch_up_scan {
    int64_t since;
    uint64_t *ids;
    size_t n, cap, total;
    int oom;
} catch_up_scan;

static int find_changed(void *ctx, const vx_video *v) {
    catch_up_scan *c = ctx;
    c->total++;
    if (v->updated_at < c->since) return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        uint64_t *ids = realloc(c->ids, cap * sizeof *ids);
        if (!ids) { c->oom = 1; return 1; }
        c->ids = ids;
        c->cap = cap;
    }
    c->ids[c->n++] = v->id;
    return 0;
}

static int catch_up(vx_ann *a, vx_catalog *cat, int64_t since, char *why, size_t why_size) {
    catch_up_scan c = {.since = since};
    vx_error err;
    idx_t *labels = malloc(sizeof(idx_t) << VX_ANN_SEGMENT_BITS);
    int rc = labels ? 0 : -1;
    if (rc == 0 && vx_catalog_scan_videos(cat, find_changed, &c, NULL, &err)) rc = -1;
    if (rc == 0 && c.oom) { vx_fail(&err, "out of memory"); rc = -1; }
    if (rc == 0 && c.n > 1000 && c.n * 10 > c.total) {
        snprintf(why, why_size, "%zu of %zu videos changed since the index was saved", c.n, c.total);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < c.n; i++) {
        const uint64_t id = c.ids[i];
        idx_t vid = (idx_t)id;
        for (uint32_t s = 0; s < (1u << VX_ANN_SEGMENT_BITS); s++) labels[s] = (idx_t)((id & PREFIX_MASK) | s);
        vx_video v;
        int r = remove_labels(a->videos, &vid, 1, &err) ||
                        remove_segments(a, labels, (size_t)1 << VX_ANN_SEGMENT_BITS, &err)
                    ? -1
                    : vx_catalog_get_video(cat, id, &v, &err);
        if (r < 0) { rc = -1; break; }
        if (r == 0) {
            r = add_video_vectors(a, cat, &v, &err);
            vx_video_clear(&v);
            if (r) rc = -1;
        }
    }
    if (rc && !why[0]) snprintf(why, why_size, "catching up failed: %.400s", labels ? err.msg : "out of memory");
    free(labels);
    free(c.ids);
    return rc ? -1 : (int)c.n;
}

static int fill_prefixes(void *ctx, const vx_video *v) {
    vx_ann *a = ctx;
    if (v->status == VX_VIDEO_INDEXED && !v->duplicate_of) prefix_put(a, v->id);
    return 0;
}

/* An empty vx_ann for a data folder (no indexes yet). */
static vx_ann *ann_new(vx_catalog *cat, const char *data_dir, const vx_ann_options *o, int dim, uint64_t *generation,
                       vx_error *err) {
    vx_ann *a = calloc(1, sizeof *a);
    vx_meta meta;
    if (!a) { vx_fail(err, "out of memory"); return NULL; }
    if (vx_catalog_get_meta(cat, &meta, err)) { free(a); return NULL; }
    a->dim = meta.embed_dim ? (int)meta.embed_dim : dim;
    *generation = meta.index_generation;
    vx_meta_clear(&meta);
    if (a->dim < 0) a->dim = 0; /* 0: nothing indexed and no model yet; indexes made with the first vectors */
    snprintf(a->factory, sizeof a->factory, "%s", o && o->factory ? o->factory : "");
    snprintf(a->dir, sizeof a->dir, "%s/index", data_dir);
    /* Exact search up to this many vectors, an inverted file above (see README.md). */
    a->exact_max = o && o->exact_max > 0 ? o->exact_max : VX_ANN_EXACT_MAX;
    a->compress_min = o && o->compress_min > 0 ? o->compress_min : VX_ANN_COMPRESS_MIN;
    a->train_max = o && o->train_max > 0 ? o->train_max : 0;
    a->shards = o && o->shards > 1 ? o->shards : 1;
    a->shard = a->shards > 1 ? o->shard % a->shards : 0;
    a->faiss_search = o && o->faiss_search;
    if (mkdir(a->dir, 0755) && errno != EEXIST) {
        vx_fail(err, "cannot create %s: %s", a->dir, strerror(errno));
        free(a);
        return NULL;
    }
    return a;
}

int vx_ann_outgrown(const vx_ann *a) {
    if (a->factory[0]) return 0;
    const int exact = a->segments && !faiss_IndexIVF_cast(a->segments);
    /* A compressed index keeps the slots of removed vectors (and FastScan their codes)
     * until it is rebuilt: once they are a quarter of the live ones. */
    const int64_t dead = a->seg_c ? vx_cindex_slots(a->seg_c) - vx_cindex_count(a->seg_c) : 0;
    return (exact && (vx_ann_count_segments(a) > a->exact_max || vx_ann_count_videos(a) > a->exact_max)) ||
           (!a->seg_c && vx_ann_count_segments(a) > a->compress_min) ||
           (a->seg_c && dead > vx_cindex_count(a->seg_c) / 4 + 1000);
}

vx_ann *vx_ann_rebuilt(vx_catalog *cat, const char *data_dir, const vx_ann_options *o, int dim, vx_error *err) {
    uint64_t generation;
    vx_ann *a = ann_new(cat, data_dir, o, dim, &generation, err);
    if (!a) return NULL;
    snprintf(a->origin, sizeof a->origin, "rebuilt (outgrew its type)");
    if (rebuild(a, cat, err)) {
        vx_ann_close(a);
        return NULL;
    }
    return a;
}

vx_ann *vx_ann_open(vx_catalog *cat, const char *data_dir, const vx_ann_options *o, int dim, vx_error *err) {
    uint64_t generation;
    vx_ann *a = ann_new(cat, data_dir, o, dim, &generation, err);
    if (!a) return NULL;
    if (a->dim == 0) { /* nothing indexed yet: no files, no indexes */
        snprintf(a->origin, sizeof a->origin, "empty");
        return a;
    }
    char why[512] = "";
    int stale_s = 0, stale_v = 0;
    int64_t saved_s = 0, saved_v = 0;
    const int compressed = load_compressed(a, generation, &stale_s, &saved_s, why, sizeof why) == 0;
    if ((compressed || (!why[0] && load_one(a, "segments", generation, &a->segments, &stale_s, &saved_s, why,
                                            sizeof why) == 0)) &&
        load_one(a, "videos", generation, &a->videos, &stale_v, &saved_v, why, sizeof why) == 0) {
        if (vx_catalog_scan_videos(cat, fill_prefixes, a, NULL, err)) { vx_ann_close(a); return NULL; }
        if (a->segments) set_nprobe(a->segments, VX_ANN_NPROBE_SEGMENTS);
        set_nprobe(a->videos, VX_ANN_NPROBE_VIDEOS);
        if (!stale_s && !stale_v) {
            snprintf(a->origin, sizeof a->origin, "loaded");
            return a;
        }
        int changed = catch_up(a, cat, (saved_s < saved_v ? saved_s : saved_v) - CATCH_UP_MARGIN_S, why, sizeof why);
        if (changed >= 0 && vx_ann_save(a, cat, err) == 0) {
            vx_info("vector index: caught up %d videos changed since it was last saved", changed);
            snprintf(a->origin, sizeof a->origin, "caught up (%d videos changed since the last save)", changed);
            return a;
        }
        if (changed >= 0) snprintf(why, sizeof why, "saving after catching up: %.400s", err->msg);
    }
    vx_info("rebuilding the vector index from the catalog: %s", why);
    snprintf(a->origin, sizeof a->origin, "rebuilt (%.200s)", why);
    if (rebuild(a, cat, err) || vx_ann_save(a, cat, err)) {
        vx_ann_close(a);
        return NULL;
    }
    return a;
}

void vx_ann_close(vx_ann *a) {
    if (!a) return;
    faiss_Index_free(a->segments);
    faiss_Index_free(a->videos);
    vx_cindex_free(a->seg_c);
    vx_idmap_free(&a->prefixes);
    free(a);
}

/* The compressed segment index: its three files (vx_cindex_save), then a meta file
 * like the others' whose checksum is its .faiss file's, and a pointer file naming it;
 * the files of earlier compressed indexes go (an index still mapping them keeps them
 * until it is closed). Without a compressed index, a stale pointer goes instead. */
static int save_compressed(vx_ann *a, uint64_t generation, vx_error *err) {
    vx_path pointer, tmp;
    vx_path_fmt(pointer, NULL, "%s/segments-c.name", a->dir);
    if (!a->seg_c) {
        unlink(pointer);
        return 0;
    }
    if (vx_cindex_save(a->seg_c, err)) return -1;
    vx_path index, meta;
    vx_path_fmt(index, NULL, "%s/%s.faiss", a->dir, a->seg_c_name);
    vx_path_fmt(meta, NULL, "%s/%s.meta", a->dir, a->seg_c_name);
    uint64_t h;
    if (vx_hash_file(index, &h, err) || write_meta(a, meta, generation, h, err)) return -1;
    vx_path_fmt(tmp, NULL, "%s.tmp", pointer);
    FILE *f = fopen(tmp, "w");
    int ok = f && fprintf(f, "%s\n", a->seg_c_name) > 0;
    if (f) ok = (fclose(f) == 0) && ok;
    if (!ok || vx_fsync_path(tmp) || rename(tmp, pointer)) {
        unlink(tmp);
        return vx_fail(err, "%s: cannot write", pointer);
    }
    DIR *d = opendir(a->dir);
    struct dirent *de;
    const size_t nl = strlen(a->seg_c_name);
    while (d && (de = readdir(d)) != NULL)
        if (strncmp(de->d_name, "segments-c-", 11) == 0 && strncmp(de->d_name, a->seg_c_name, nl) != 0) {
            vx_path_fmt(tmp, NULL, "%s/%s", a->dir, de->d_name);
            unlink(tmp);
        }
    if (d) closedir(d);
    return 0;
}

int vx_ann_save(vx_ann *a, vx_catalog *cat, vx_error *err) {
    if (!a->segments && !a->seg_c) return 0; /* nothing to save before the first vectors */
    vx_meta meta;
    if (vx_catalog_get_meta(cat, &meta, err)) return -1;
    uint64_t g = meta.index_generation;
    vx_meta_clear(&meta);
    if (a->seg_c ? save_compressed(a, g, err) : save_one(a, a->segments, "segments", g, err) || save_compressed(a, g, err))
        return -1;
    return save_one(a, a->videos, "videos", g, err) ? -1 : 0;
}

/* ---- updates and searches ------------------------------------------------------------ */

static int remove_labels(FaissIndex *idx, const idx_t *labels, size_t n, vx_error *err) {
    FaissIDSelectorBatch *sel = NULL;
    size_t removed;
    FaissIndexIVF *ivf = faiss_IndexIVF_cast(idx);
    if (ivf) /* with a label table, FAISS removes only through a selector the C API lacks */
        return vx_ivf_remove_labels(ivf, labels, n, &removed) ? vx_fail(err, "removing vectors") : 0;
    if (faiss_IDSelectorBatch_new(&sel, n, labels)) return faiss_fail(err, "selecting vectors");
    int r = faiss_Index_remove_ids(idx, (FaissIDSelector *)sel, &removed);
    faiss_IDSelector_free((FaissIDSelector *)sel);
    return r ? faiss_fail(err, "removing vectors") : 0;
}

/* Indexes of the database's dimension once it has one (its first indexed video). */
static int ensure_indexes(vx_ann *a, vx_catalog *cat, vx_error *err) {
    if (a->segments || a->seg_c) return 0;
    vx_meta meta;
    if (vx_catalog_get_meta(cat, &meta, err)) return -1;
    a->dim = (int)meta.embed_dim;
    vx_meta_clear(&meta);
    if (a->dim == 0) return 0;
    return new_index(a, 0, NULL, 0, VX_ANN_NPROBE_SEGMENTS, &a->segments, err) ||
                   new_index(a, 0, NULL, 0, VX_ANN_NPROBE_VIDEOS, &a->videos, err)
               ? -1
               : 0;
}

int vx_ann_update_video(vx_ann *a, vx_catalog *cat, uint64_t video_id, vx_error *err) {
    if (ensure_indexes(a, cat, err)) return -1;
    if (!a->segments && !a->seg_c) return 0; /* no vectors yet */
    /* Everything the video might have had: its id, and every segment label it could use.
     * Removal scans the index, so it is skipped for videos not in it (new ones). */
    idx_t vid = (idx_t)video_id;
    /* Every video added got its prefix entry (the table is the membership test: inverted
     * files cannot look an id up). */
    int present = prefix_get(a, video_id) == video_id;
    if (present && remove_labels(a->videos, &vid, 1, err)) return -1;
    if (present) {
        idx_t *labels = malloc(sizeof(idx_t) << VX_ANN_SEGMENT_BITS);
        if (!labels) return vx_fail(err, "out of memory");
        for (uint32_t i = 0; i < (1u << VX_ANN_SEGMENT_BITS); i++) labels[i] = (idx_t)((video_id & PREFIX_MASK) | i);
        int r = remove_segments(a, labels, (size_t)1 << VX_ANN_SEGMENT_BITS, err);
        free(labels);
        if (r) return -1;
    }
    vx_video v;
    int r = vx_catalog_get_video(cat, video_id, &v, err);
    if (r) return r < 0 ? -1 : 0;
    r = add_video_vectors(a, cat, &v, err);
    vx_video_clear(&v);
    return r;
}

static int search(const vx_ann *a, FaissIndex *idx, const float *q, int k, idx_t *labels, float *scores,
                  vx_error *err) {
    idx_t n = idx ? faiss_Index_ntotal(idx) : 0;
    if (k > n) k = (int)n;
    if (k <= 0) return 0;
    FaissIndexIVF *ivf = faiss_IndexIVF_cast(idx);
    const int scanned = ivf && !a->faiss_search ? vx_ivf_search(ivf, q, k, labels, scores, err) : -2;
    if (scanned != -2) return scanned;
    if (faiss_Index_search(idx, 1, q, k, scores, labels)) return faiss_fail(err, "searching");
    /* Labels are 64-bit ids, negative as int64 when their top bit is set; FAISS marks
     * "no result" with -1, an id vidx never gives out. */
    int found = 0;
    while (found < k && labels[found] != -1) found++;
    return found;
}

int vx_ann_search_segments(vx_ann *a, const float *q, int k, vx_ann_hit *hits, vx_error *err) {
    idx_t *labels = malloc((size_t)(k > 0 ? k : 1) * sizeof *labels);
    float *scores = malloc((size_t)(k > 0 ? k : 1) * sizeof *scores);
    if (!labels || !scores) { free(labels); free(scores); return vx_fail(err, "out of memory"); }
    int n;
    if (a->seg_c)
        n = vx_cindex_search(a->seg_c, q, k, k * 4 > VX_ANN_RERANK ? k * 4 : VX_ANN_RERANK, (uint64_t *)labels, scores, err);
    else
        n = search(a, a->segments, q, k, labels, scores, err);
    int out = 0;
    for (int i = 0; i < n; i++) {
        uint64_t l = (uint64_t)labels[i], vid = prefix_get(a, l);
        if (!vid) continue;
        hits[out++] = (vx_ann_hit){vid, (int)(l & ~PREFIX_MASK), scores[i]};
    }
    free(labels);
    free(scores);
    return n < 0 ? -1 : out;
}

int vx_ann_search_videos(vx_ann *a, const float *q, int k, vx_ann_hit *hits, vx_error *err) {
    idx_t *labels = malloc((size_t)(k > 0 ? k : 1) * sizeof *labels);
    float *scores = malloc((size_t)(k > 0 ? k : 1) * sizeof *scores);
    if (!labels || !scores) { free(labels); free(scores); return vx_fail(err, "out of memory"); }
    int n = search(a, a->videos, q, k, labels, scores, err);
    for (int i = 0; i < n; i++) hits[i] = (vx_ann_hit){(uint64_t)labels[i], -1, scores[i]};
    free(labels);
    free(scores);
    return n;
}

/* The index's own copy of a video's vector: 0 in place at *v, 1 not in the index, 2 in an
 * index that keeps none in place (an exact one: faiss_Index_reconstruct), -1 on error. */
static int vector_in_place(vx_ann *a, uint64_t video_id, const float **v, vx_error *err) {
    if (!a->videos || prefix_get(a, video_id) != video_id) return 1;
    FaissIndexIVF *ivf = faiss_IndexIVF_cast(a->videos);
    if (!ivf) return 2;
    int r = vx_ivf_flat_vector(ivf, (int64_t)video_id, v);
    if (r < 0) return vx_fail(err, "video %016llx: the video index keeps no label table", (unsigned long long)video_id);
    return r;
}

int vx_ann_video_vector(vx_ann *a, uint64_t video_id, float *out, vx_error *err) {
    const float *v;
    int r = vector_in_place(a, video_id, &v, err);
    if (r == 0) memcpy(out, v, (size_t)a->dim * sizeof *out);
    if (r == 2) r = faiss_Index_reconstruct(a->videos, (idx_t)video_id, out) ? 1 : 0;
    return r;
}

int vx_ann_video_vector_view(vx_ann *a, vx_catalog *cat, uint64_t video_id, float *buf, const float **v,
                             vx_error *err) {
    int r = vector_in_place(a, video_id, v, err);
    if (r <= 0) return r;
    *v = buf;
    if (r == 2 && faiss_Index_reconstruct(a->videos, (idx_t)video_id, buf) == 0) return 0;
    vx_embedding e;
    if ((r = vx_catalog_get_embedding(cat, video_id, &e, err)) != 0) return r;
    r = a->dim && (int)e.dim == a->dim ? 0 : 1; /* of another dimension: unusable with this index */
    if (r == 0) memcpy(buf, e.v, (size_t)a->dim * sizeof *buf);
    vx_embedding_clear(&e);
    return r;
}

int vx_ann_video_vector_or_stored(vx_ann *a, vx_catalog *cat, uint64_t video_id, float *out, vx_error *err) {
    const float *v;
    int r = vx_ann_video_vector_view(a, cat, video_id, out, &v, err);
    if (r == 0 && v != out) memcpy(out, v, (size_t)a->dim * sizeof *out);
    return r;
}

int64_t vx_ann_count_segments(const vx_ann *a) {
    return a->seg_c ? vx_cindex_count(a->seg_c) : a->segments ? faiss_Index_ntotal(a->segments) : 0;
}
int64_t vx_ann_count_videos(const vx_ann *a) { return a->videos ? faiss_Index_ntotal(a->videos) : 0; }
int vx_ann_dim(const vx_ann *a) { return a->dim; }
const char *vx_ann_origin(const vx_ann *a) { return a->origin; }
void vx_ann_use_faiss_search(vx_ann *a, int on) { a->faiss_search = on; }

void vx_ann_shard(const vx_ann *a, uint32_t *shard, uint32_t *shards) {
    *shard = a->shard;
    *shards = a->shards;
}

double vx_ann_list_imbalance(const vx_ann *a) {
    if (a->seg_c) return vx_cindex_list_imbalance(a->seg_c);
    FaissIndexIVF *ivf = a->segments ? faiss_IndexIVF_cast(a->segments) : NULL;
    return ivf ? faiss_IndexIVF_imbalance_factor(ivf) : 0;
}

const char *vx_ann_kind(const vx_ann *a) {
    if (a->seg_c) return "IVF-PQ";
    return a->segments && faiss_IndexIVF_cast(a->segments) ? "IVF" : "Flat";
}
