#include "compressed.h"

#include <errno.h>
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/hash.h"
#include "../common/idmap.h"
#include "../common/path.h"
#include "../common/system.h"
#include "../common/vecmath.h"

#define VEC_MAGIC "vidxvec1"
#define LAB_MAGIC "vidxlab1"            /* removed vectors leave the FAISS index */
#define LAB_MAGIC_TOMBSTONES "vidxlabt" /* they stay in it, marked removed here (see tombstones) */
#define VEC_HEADER 64  /* magic, dim; the vectors start here (a multiple of 64 bytes) */
#define LAB_HEADER 32  /* magic, slots, live, XXH3 of the .faiss file it goes with */
#define DEAD UINT64_MAX

/* The files are this machine's derived data (rebuilt from the catalog anywhere else):
 * integers in native (little-endian x86) order. */
static void st32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void st64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t ld32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t ld64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

struct vx_cindex {
    vx_path path;
    int dim;
    FaissIndex *index;     /* codes; ids are slots */
    int vec_fd;
    uint8_t *map;          /* the .vec file, mapped shared; map_slots slots fit */
    int64_t map_slots;
    uint64_t *labels;      /* [cap_slots]: the label of each slot, DEAD when removed */
    int64_t n_slots, cap_slots, n_live;
    vx_idmap slot_of;      /* label -> slot */
    double index_bytes;    /* the .faiss file's size at the last save or open */
    int tombstones;        /* FAISS cannot remove from this index (FastScan's block lists): a removed
                            * slot's code stays in it, its label is DEAD, and searches skip it; the
                            * next rebuild drops them (vx_ann_outgrown asks for one) */
};

/* FAISS's training and adds run with one OpenMP thread on the calling thread (the
 * setting is per thread, and restored): their matrix products already use OpenBLAS's
 * threads, and OpenMP's spinning team beside those fought them for the two cores
 * (test_search's compressed index: 21 s -> see ann/README.md). */
static int omp_one(void) {
    int before = omp_get_max_threads();
    omp_set_num_threads(1);
    return before;
}

static int faiss_fail(vx_error *err, const char *what) {
    const char *m = faiss_get_last_error();
    return vx_fail(err, "%s: %s", what, m ? m : "FAISS error");
}

static float *slot_vec(const vx_cindex *c, int64_t slot) {
    return (float *)(c->map + VEC_HEADER + (size_t)slot * (size_t)c->dim * sizeof(float));
}

/* The .vec file mapped shared. Re-ranking reads a few scattered vectors a query: no
 * read-ahead around them (MADV_RANDOM), which would fill the page cache with neighbours
 * nobody asked for and push out the vectors queries do read. */
static void *map_vectors(int fd, size_t bytes) {
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m != MAP_FAILED) madvise(m, bytes, MADV_RANDOM);
    return m;
}

/* Grows the label array, and the .vec file (sparse) with its mapping, so that `slots`
 * fit. */
static int reserve(vx_cindex *c, int64_t slots, vx_error *err) {
    if (slots > c->cap_slots) {
        int64_t cap = c->cap_slots ? c->cap_slots : 1024;
        while (cap < slots) cap *= 2;
        uint64_t *l = realloc(c->labels, (size_t)cap * sizeof *l);
        if (!l) return vx_fail(err, "out of memory");
        c->labels = l;
        c->cap_slots = cap;
    }
    if (slots <= c->map_slots) return 0;
    int64_t cap = c->map_slots ? c->map_slots : 1024;
    while (cap < slots) cap *= 2;
    const size_t bytes = VEC_HEADER + (size_t)cap * (size_t)c->dim * sizeof(float);
    if (ftruncate(c->vec_fd, (off_t)bytes) != 0) return vx_fail(err, "%s.vec: cannot grow: %s", c->path, strerror(errno));
    void *m = map_vectors(c->vec_fd, bytes);
    if (m == MAP_FAILED) return vx_fail(err, "%s.vec: cannot map: %s", c->path, strerror(errno));
    if (c->map) munmap(c->map, VEC_HEADER + (size_t)c->map_slots * (size_t)c->dim * sizeof(float));
    c->map = m;
    c->map_slots = cap;
    return 0;
}

static vx_cindex *alloc(const char *path, int dim, vx_error *err) {
    vx_cindex *c = calloc(1, sizeof *c);
    if (!c || vx_idmap_init(&c->slot_of, 1024)) {
        free(c);
        vx_fail(err, "out of memory");
        return NULL;
    }
    snprintf(c->path, sizeof c->path, "%s", path);
    c->dim = dim;
    c->vec_fd = -1;
    return c;
}

vx_cindex *vx_cindex_create(const char *path, int dim, const char *factory, const float *train, long n_train,
                            vx_error *err) {
    vx_cindex *c = alloc(path, dim, err);
    if (!c) return NULL;
    vx_path file;
    vx_path_fmt(file, NULL, "%s.vec", path);
    c->vec_fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (c->vec_fd < 0) {
        vx_fail(err, "%s: %s", file, strerror(errno));
        goto fail;
    }
    uint8_t header[VEC_HEADER] = {0};
    memcpy(header, VEC_MAGIC, 8);
    st32(header + 8, (uint32_t)dim);
    if (pwrite(c->vec_fd, header, sizeof header, 0) != (ssize_t)sizeof header) {
        vx_fail(err, "%s: %s", file, strerror(errno));
        goto fail;
    }
    c->tombstones = strstr(factory, "fs") != NULL; /* PQ...x4fs: FastScan */
    if (faiss_index_factory(&c->index, dim, factory, METRIC_INNER_PRODUCT)) {
        faiss_fail(err, factory);
        goto fail;
    }
    if (!faiss_Index_is_trained(c->index)) {
        if (n_train < 1) {
            vx_fail(err, "%s needs training vectors", factory);
            goto fail;
        }
        const int threads = omp_one();
        const int r = faiss_Index_train(c->index, n_train, train);
        omp_set_num_threads(threads);
        if (r) {
            faiss_fail(err, "training the compressed index");
            goto fail;
        }
    }
    if (reserve(c, 1, err)) goto fail;
    return c;
fail:
    vx_cindex_free(c);
    return NULL;
}

void vx_cindex_free(vx_cindex *c) {
    if (!c) return;
    if (c->map) munmap(c->map, VEC_HEADER + (size_t)c->map_slots * (size_t)c->dim * sizeof(float));
    if (c->vec_fd >= 0) close(c->vec_fd);
    if (c->index) faiss_Index_free(c->index);
    free(c->labels);
    vx_idmap_free(&c->slot_of);
    free(c);
}

/* ---- changes ----------------------------------------------------------------------------- */

static int remove_slots(vx_cindex *c, const idx_t *slots, size_t n, vx_error *err) {
    if (n == 0) return 0;
    if (!c->tombstones) {
        FaissIDSelectorBatch *sel = NULL;
        if (faiss_IDSelectorBatch_new(&sel, n, slots)) return faiss_fail(err, "removing vectors");
        size_t removed = 0;
        int r = faiss_Index_remove_ids(c->index, (FaissIDSelector *)sel, &removed);
        faiss_IDSelector_free((FaissIDSelector *)sel);
        if (r) return faiss_fail(err, "removing vectors");
    }
    for (size_t i = 0; i < n; i++) {
        vx_idmap_del(&c->slot_of, c->labels[slots[i]]);
        c->labels[slots[i]] = DEAD;
        c->n_live--;
    }
    return 0;
}

int vx_cindex_remove(vx_cindex *c, long n, const uint64_t *labels, vx_error *err) {
    idx_t *slots = malloc((size_t)(n > 0 ? n : 1) * sizeof *slots);
    if (!slots) return vx_fail(err, "out of memory");
    size_t m = 0;
    for (long i = 0; i < n; i++) {
        uint64_t s;
        if (vx_idmap_get(&c->slot_of, labels[i], &s)) {
            int dup = 0; /* a label twice in one call */
            for (size_t j = 0; j < m && !dup; j++) dup = slots[j] == (idx_t)s;
            if (!dup) slots[m++] = (idx_t)s;
        }
    }
    int r = remove_slots(c, slots, m, err);
    free(slots);
    return r;
}

int vx_cindex_add(vx_cindex *c, long n, const float *x, const uint64_t *labels, vx_error *err) {
    if (n <= 0) return 0;
    for (long i = 0; i < n; i++)
        if (labels[i] == DEAD || labels[i] == 0) return vx_fail(err, "label %llx is reserved", (unsigned long long)labels[i]);
    if (reserve(c, c->n_slots + n, err)) return -1;
    /* The new vectors' blocks are allocated before they are written through the mapping:
     * a full disk is then an error here, not a SIGBUS at the first write to a hole. */
    const off_t at = (off_t)(VEC_HEADER + (size_t)c->n_slots * (size_t)c->dim * sizeof(float));
    const int fe = posix_fallocate(c->vec_fd, at, (off_t)((size_t)n * (size_t)c->dim * sizeof(float)));
    if (fe) return vx_fail(err, "%s.vec: cannot make room for %ld vectors: %s", c->path, n, strerror(fe));
    if (vx_cindex_remove(c, n, labels, err)) return -1; /* replaced */
    idx_t *ids = malloc((size_t)n * sizeof *ids);
    if (!ids) return vx_fail(err, "out of memory");
    const int64_t first = c->n_slots;
    for (long i = 0; i < n; i++) {
        ids[i] = first + i;
        memcpy(slot_vec(c, first + i), x + (size_t)i * c->dim, (size_t)c->dim * sizeof(float));
    }
    const int threads = omp_one();
    const int r = faiss_Index_add_with_ids(c->index, n, x, ids);
    omp_set_num_threads(threads);
    if (r) {
        free(ids);
        return faiss_fail(err, "adding vectors");
    }
    free(ids);
    for (long i = 0; i < n; i++) {
        c->labels[first + i] = labels[i];
        if (vx_idmap_put(&c->slot_of, labels[i], (uint64_t)(first + i))) return vx_fail(err, "out of memory");
    }
    c->n_slots += n;
    c->n_live += n;
    return 0;
}

/* ---- search ------------------------------------------------------------------------------ */

int vx_cindex_search(const vx_cindex *c, const float *q, int k, int candidates, uint64_t *labels, float *scores,
                     vx_error *err) {
    if (k <= 0 || c->n_live == 0) return 0;
    if (candidates < k) candidates = k;
    float *d = malloc((size_t)candidates * sizeof *d);
    idx_t *s = malloc((size_t)candidates * sizeof *s);
    if (!d || !s) {
        free(d);
        free(s);
        return vx_fail(err, "out of memory");
    }
    if (faiss_Index_search(c->index, 1, q, candidates, d, s)) {
        free(d);
        free(s);
        return faiss_fail(err, "searching the compressed index");
    }
    /* Exact scores for every candidate, then the k best (insertion into a short list:
     * k is small next to the candidates). */
    int found = 0;
    for (int i = 0; i < candidates; i++) {
        if (s[i] < 0 || s[i] >= c->n_slots || c->labels[s[i]] == DEAD) continue;
        const float score = vx_dot(q, slot_vec(c, s[i]), (size_t)c->dim);
        if (found == k && score <= scores[k - 1]) continue;
        int j = found < k ? found++ : k - 1;
        while (j > 0 && scores[j - 1] < score) {
            scores[j] = scores[j - 1];
            labels[j] = labels[j - 1];
            j--;
        }
        scores[j] = score;
        labels[j] = c->labels[s[i]];
    }
    free(d);
    free(s);
    return found;
}

int vx_cindex_get(const vx_cindex *c, uint64_t label, float *out) {
    uint64_t s;
    if (!vx_idmap_get(&c->slot_of, label, &s)) return 1;
    memcpy(out, slot_vec(c, (int64_t)s), (size_t)c->dim * sizeof(float));
    return 0;
}

void vx_cindex_set_nprobe(vx_cindex *c, int nprobe) {
    FaissParameterSpace *ps = NULL;
    if (faiss_ParameterSpace_new(&ps)) return;
    faiss_ParameterSpace_set_index_parameter(ps, c->index, "nprobe", nprobe);
    faiss_ParameterSpace_free(ps);
}

/* ---- files ------------------------------------------------------------------------------- */

static int write_sync(const char *path, const void *a, size_t na, const void *b, size_t nb, vx_error *err) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return vx_fail(err, "%s: %s", path, strerror(errno));
    const uint8_t *parts[2] = {a, b};
    size_t sizes[2] = {na, nb};
    for (int p = 0; p < 2; p++)
        for (size_t off = 0; off < sizes[p];) {
            ssize_t w = write(fd, parts[p] + off, sizes[p] - off);
            if (w <= 0) {
                const int e = w < 0 ? errno : EIO;
                close(fd);
                unlink(path);
                return vx_fail(err, "%s: %s", path, strerror(e));
            }
            off += (size_t)w;
        }
    const int r = fsync(fd), e = errno;
    close(fd);
    if (r) unlink(path);
    return r ? vx_fail(err, "%s: %s", path, strerror(e)) : 0;
}

/* The vectors first (the index and labels name slots that must be there), then the
 * index and the labels, each beside its final name, then both renamed. The labels file
 * carries the index file's hash: a crash between the two renames leaves a pair that
 * does not match, which vx_cindex_open refuses (the caller rebuilds). */
int vx_cindex_save(vx_cindex *c, vx_error *err) {
    vx_path faiss_tmp, faiss_path, lab_tmp, lab_path;
    vx_path_fmt(faiss_path, NULL, "%s.faiss", c->path);
    vx_path_fmt(faiss_tmp, NULL, "%s.faiss.tmp", c->path);
    vx_path_fmt(lab_path, NULL, "%s.labels", c->path);
    vx_path_fmt(lab_tmp, NULL, "%s.labels.tmp", c->path);
    if (msync(c->map, VEC_HEADER + (size_t)c->n_slots * (size_t)c->dim * sizeof(float), MS_SYNC) != 0 ||
        fsync(c->vec_fd) != 0)
        return vx_fail(err, "%s.vec: cannot sync: %s", c->path, strerror(errno));
    /* A failure leaves the saved pair as it was, and no temporary file. */
    if (faiss_write_index_fname(c->index, faiss_tmp)) {
        unlink(faiss_tmp);
        return faiss_fail(err, faiss_tmp);
    }
    uint64_t h;
    if (vx_fsync_path(faiss_tmp) != 0) {
        vx_fail(err, "%s: cannot sync: %s", faiss_tmp, strerror(errno));
        unlink(faiss_tmp);
        return -1;
    }
    if (vx_hash_file(faiss_tmp, &h, err)) {
        unlink(faiss_tmp);
        return -1;
    }
    uint8_t header[LAB_HEADER] = {0};
    memcpy(header, c->tombstones ? LAB_MAGIC_TOMBSTONES : LAB_MAGIC, 8);
    st64(header + 8, (uint64_t)c->n_slots);
    st64(header + 16, (uint64_t)c->n_live);
    st64(header + 24, h);
    if (write_sync(lab_tmp, header, sizeof header, c->labels, (size_t)c->n_slots * sizeof *c->labels, err)) {
        unlink(faiss_tmp);
        return -1;
    }
    if (rename(faiss_tmp, faiss_path) != 0 || rename(lab_tmp, lab_path) != 0) {
        vx_fail(err, "%s: cannot rename into place: %s", c->path, strerror(errno));
        unlink(faiss_tmp);
        unlink(lab_tmp);
        return -1;
    }
    vx_fsync_parent(faiss_path);
    struct stat st;
    if (stat(faiss_path, &st) == 0) c->index_bytes = (double)st.st_size;
    return 0;
}

vx_cindex *vx_cindex_open(const char *path, int dim, vx_error *err) {
    vx_cindex *c = alloc(path, dim, err);
    if (!c) return NULL;
    vx_path file;
    uint8_t header[LAB_HEADER];
    vx_path_fmt(file, NULL, "%s.faiss", path);
    uint64_t h;
    struct stat st;
    if (vx_hash_file(file, &h, NULL) || stat(file, &st) != 0) {
        vx_fail(err, "%s is missing or unreadable", file);
        goto fail;
    }
    c->index_bytes = (double)st.st_size;
    if (faiss_read_index_fname(file, 0, &c->index)) {
        faiss_fail(err, file);
        goto fail;
    }
    if (faiss_Index_d(c->index) != dim) {
        vx_fail(err, "%s holds %d-dimensional vectors, not %d", file, faiss_Index_d(c->index), dim);
        goto fail;
    }
    vx_path_fmt(file, NULL, "%s.labels", path);
    FILE *f = fopen(file, "rb");
    if (!f || fread(header, 1, sizeof header, f) != sizeof header ||
        (memcmp(header, LAB_MAGIC, 8) != 0 && memcmp(header, LAB_MAGIC_TOMBSTONES, 8) != 0)) {
        if (f) fclose(f);
        vx_fail(err, "%s is missing or not a label file", file);
        goto fail;
    }
    const int64_t slots = (int64_t)ld64(header + 8), live = (int64_t)ld64(header + 16);
    c->tombstones = memcmp(header, LAB_MAGIC_TOMBSTONES, 8) == 0;
    if (ld64(header + 24) != h || slots < 0 || live < 0 || live > slots ||
        (c->tombstones ? slots : live) != faiss_Index_ntotal(c->index)) {
        fclose(f);
        vx_fail(err, "%s does not go with %s.faiss (an interrupted save)", file, path);
        goto fail;
    }
    vx_path_fmt(file, NULL, "%s.vec", path);
    c->vec_fd = open(file, O_RDWR | O_CLOEXEC);
    uint8_t vh[VEC_HEADER];
    if (c->vec_fd < 0 || pread(c->vec_fd, vh, sizeof vh, 0) != (ssize_t)sizeof vh || memcmp(vh, VEC_MAGIC, 8) != 0 ||
        (int)ld32(vh + 8) != dim || fstat(c->vec_fd, &st) != 0 ||
        (uint64_t)st.st_size < VEC_HEADER + (uint64_t)slots * (uint64_t)dim * sizeof(float)) {
        fclose(f);
        vx_fail(err, "%s is missing, of another dimension or shorter than its %lld vectors", file, (long long)slots);
        goto fail;
    }
    c->map_slots = (int64_t)(((uint64_t)st.st_size - VEC_HEADER) / ((uint64_t)dim * sizeof(float)));
    if (c->map_slots < 1) c->map_slots = 0;
    if (c->map_slots > 0) {
        c->map = map_vectors(c->vec_fd, VEC_HEADER + (size_t)c->map_slots * (size_t)dim * sizeof(float));
        if (c->map == MAP_FAILED) {
            c->map = NULL;
            fclose(f);
            vx_fail(err, "%s: cannot map: %s", file, strerror(errno));
            goto fail;
        }
    }
    if (reserve(c, slots > 0 ? slots : 1, err)) {
        fclose(f);
        goto fail;
    }
    if (fread(c->labels, sizeof *c->labels, (size_t)slots, f) != (size_t)slots) {
        fclose(f);
        vx_fail(err, "%s.labels is shorter than its %lld slots", path, (long long)slots);
        goto fail;
    }
    fclose(f);
    int64_t n_live = 0;
    for (int64_t s = 0; s < slots; s++) {
        if (c->labels[s] == DEAD) continue;
        n_live++;
        if (c->labels[s] == 0 || vx_idmap_put(&c->slot_of, c->labels[s], (uint64_t)s)) {
            vx_fail(err, "%s.labels: a bad label, or out of memory", path);
            goto fail;
        }
    }
    if (n_live != live) {
        vx_fail(err, "%s.labels counts %lld live vectors but holds %lld", path, (long long)live, (long long)n_live);
        goto fail;
    }
    c->n_slots = slots;
    c->n_live = live;
    return c;
fail:
    vx_cindex_free(c);
    return NULL;
}

int64_t vx_cindex_count(const vx_cindex *c) { return c->n_live; }
int64_t vx_cindex_slots(const vx_cindex *c) { return c->n_slots; }

double vx_cindex_ram_bytes(const vx_cindex *c) {
    return c->index_bytes + (double)c->cap_slots * sizeof *c->labels +
           (double)(c->slot_of.mask + 1) * 2 * sizeof(uint64_t);
}

double vx_cindex_list_imbalance(const vx_cindex *c) {
    FaissIndexIVF *ivf = faiss_IndexIVF_cast(c->index);
    return ivf ? faiss_IndexIVF_imbalance_factor(ivf) : 0;
}
