#include "checkpoint.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "../common/path.h"
#include "torchfile.h"

const char *const vx_ckpt_names[VX_CKPT_N_NAMES] = {"model.safetensors", "model.safetensors.index.json",
                                                    "pytorch_model.bin", "pytorch_model.bin.index.json"};

#define MAX_INDEX_BYTES (64u << 20) /* an index.json lists names: megabytes at most */
#define MAX_SHARDS 4096

typedef struct shard {
    vx_safetensors *st; /* one of the two */
    vx_pt_file *pt;
} shard;

struct vx_checkpoint {
    char *dir;
    char describe[160];
    shard *shards;
    int n_shards;
    vx_st_tensor *tensors; /* copies of the shards' entries (names borrowed), sorted by name */
    int n_tensors;
};

static int is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

const char *vx_ckpt_find_file(const char *dir) {
    vx_path path;
    for (int i = 0; i < VX_CKPT_N_NAMES; i++)
        if (vx_path_fmt(path, NULL, "%s/%s", dir, vx_ckpt_names[i]) == 0 && is_file(path)) return vx_ckpt_names[i];
    return NULL;
}

static int cmp_tensor(const void *a, const void *b) {
    return strcmp(((const vx_st_tensor *)a)->name, ((const vx_st_tensor *)b)->name);
}

/* A shard's file, whichever its format: its path, tensors and mapping (NULL when it is
 * not mapped: a legacy .bin read into memory). */
static const char *shard_path(const shard *s) { return s->st ? s->st->path : s->pt->path; }

static const vx_st_tensor *shard_tensors(const shard *s, int *n) {
    *n = s->st ? s->st->n_tensors : s->pt->n_tensors;
    return s->st ? s->st->tensors : s->pt->tensors;
}

static const uint8_t *shard_map(const shard *s, size_t *size) {
    *size = s->st ? s->st->map_size : s->pt->map_size;
    return s->st ? s->st->map : s->pt->map;
}

/* Opens one weights file (safetensors, or a PyTorch container told by its first bytes). */
static int open_shard(vx_checkpoint *c, const char *path, int torch, vx_error *err) {
    shard *s = realloc(c->shards, (size_t)(c->n_shards + 1) * sizeof *s);
    if (!s) return vx_fail(err, "out of memory");
    c->shards = s;
    s = &c->shards[c->n_shards];
    memset(s, 0, sizeof *s);
    if (torch ? !(s->pt = vx_pt_open(path, err)) : !(s->st = vx_st_open(path, err))) return -1;
    c->n_shards++;
    int n;
    const vx_st_tensor *t = shard_tensors(s, &n);
    vx_st_tensor *all = realloc(c->tensors, (size_t)(c->n_tensors + n + 1) * sizeof *all);
    if (!all) return vx_fail(err, "out of memory");
    c->tensors = all;
    memcpy(all + c->n_tensors, t, (size_t)n * sizeof *t);
    c->n_tensors += n;
    return 0;
}

/* Sorts the tensors by name for lookups; a name twice is an error. */
static int sort_unique(vx_checkpoint *c, const char *what, vx_error *err) {
    qsort(c->tensors, (size_t)c->n_tensors, sizeof *c->tensors, cmp_tensor);
    for (int i = 1; i < c->n_tensors; i++)
        if (strcmp(c->tensors[i - 1].name, c->tensors[i].name) == 0)
            return vx_fail(err, "%s: tensor %s appears in two shards", what, c->tensors[i].name);
    return 0;
}

/* The shard that holds tensor t (its name pointer is the shard's own). */
static const shard *owner(const vx_checkpoint *c, const vx_st_tensor *t) {
    for (int i = 0; i < c->n_shards; i++) {
        const shard *s = &c->shards[i];
        int n;
        const vx_st_tensor *base = shard_tensors(s, &n);
        for (int k = 0; k < n; k++)
            if (base[k].name == t->name) return s;
    }
    return NULL;
}

/* A weight_map's file name: a plain name in the same folder. */
static int plain_name(const char *f) {
    return f[0] && f[0] != '.' && !strchr(f, '/') && strlen(f) < 256;
}

static int open_sharded(vx_checkpoint *c, const char *index_path, int torch, vx_error *err) {
    struct stat sb;
    if (stat(index_path, &sb) != 0 || sb.st_size > (off_t)MAX_INDEX_BYTES)
        return vx_fail(err, "%s: missing or larger than %u MiB", index_path, MAX_INDEX_BYTES >> 20);
    json_error_t jerr;
    json_t *root = json_load_file(index_path, JSON_REJECT_DUPLICATES, &jerr), *map;
    const char **files = NULL;
    int n_files = 0, rc = -1;
    if (!root) return vx_fail(err, "%s: %s (line %d)", index_path, jerr.text, jerr.line);
    if (!json_is_object(root) || !json_is_object(map = json_object_get(root, "weight_map")) || !json_object_size(map)) {
        vx_fail(err, "%s: no weight_map object naming each tensor's shard", index_path);
        goto done;
    }
    if (!(files = calloc(json_object_size(map), sizeof *files))) {
        vx_fail(err, "out of memory");
        goto done;
    }
    const char *name;
    json_t *file;
    json_object_foreach(map, name, file) {
        const char *f = json_string_value(file);
        if (!f || !plain_name(f)) {
            vx_fail(err, "%s: tensor %s is mapped to \"%s\", not a file name in the same folder", index_path, name,
                    f ? f : "(not a string)");
            goto done;
        }
        int seen = 0;
        for (int i = 0; i < n_files && !seen; i++) seen = strcmp(files[i], f) == 0;
        if (!seen) files[n_files++] = f;
    }
    if (n_files > MAX_SHARDS) {
        vx_fail(err, "%s: %d shards (at most %d)", index_path, n_files, MAX_SHARDS);
        goto done;
    }
    for (int i = 0; i < n_files; i++) {
        vx_path path;
        if (vx_path_fmt(path, err, "%s/%s", c->dir, files[i])) goto done;
        if (!is_file(path)) {
            vx_fail(err, "%s names shard %s, which is missing from %s", index_path, files[i], c->dir);
            goto done;
        }
        if (open_shard(c, path, torch, err)) goto done;
    }
    if (sort_unique(c, index_path, err)) goto done;
    /* every mapped tensor in the shard the map names */
    json_object_foreach(map, name, file) {
        const vx_st_tensor *t = vx_ckpt_find(c, name);
        const shard *s = t ? owner(c, t) : NULL;
        const char *base = s ? strrchr(shard_path(s), '/') : NULL;
        if (!t || !base || strcmp(base + 1, json_string_value(file)) != 0) {
            vx_fail(err, "%s: tensor %s is not in shard %s", index_path, name, json_string_value(file));
            goto done;
        }
    }
    snprintf(c->describe, sizeof c->describe, "%s (%d %s shards)", torch ? "pytorch_model.bin.index.json" : "model.safetensors.index.json",
             n_files, torch ? "PyTorch" : "safetensors");
    rc = 0;
done:
    free(files);
    json_decref(root);
    return rc;
}

vx_checkpoint *vx_ckpt_open(const char *dir, vx_error *err) {
    vx_checkpoint *c = calloc(1, sizeof *c);
    vx_path path;
    if (!c || !(c->dir = strdup(dir))) {
        vx_fail(err, "out of memory");
        goto fail;
    }
    const char *file = vx_ckpt_find_file(dir);
    if (!file) {
        vx_fail(err, "%s holds no weights (model.safetensors, pytorch_model.bin, or an index.json of their shards)", dir);
        goto fail;
    }
    if (vx_path_fmt(path, err, "%s/%s", dir, file)) goto fail;
    const int torch = strncmp(file, "pytorch_model", 13) == 0;
    if (strstr(file, ".index.json")) {
        if (open_sharded(c, path, torch, err)) goto fail;
    } else {
        if (open_shard(c, path, torch, err)) goto fail;
        snprintf(c->describe, sizeof c->describe, "%s%s", file,
                 !torch ? "" : c->shards[0].pt->container == VX_PT_ZIP ? " (PyTorch zip)" : " (PyTorch legacy)");
    }
    if (sort_unique(c, path, err)) goto fail;
    return c;
fail:
    vx_ckpt_close(c);
    return NULL;
}

void vx_ckpt_close(vx_checkpoint *c) {
    if (!c) return;
    for (int i = 0; i < c->n_shards; i++) {
        vx_st_close(c->shards[i].st);
        vx_pt_close(c->shards[i].pt);
    }
    free(c->shards);
    free(c->tensors);
    free(c->dir);
    free(c);
}

const char *vx_ckpt_describe(const vx_checkpoint *c) { return c->describe; }

const vx_st_tensor *vx_ckpt_find(const vx_checkpoint *c, const char *name) {
    vx_st_tensor key = {.name = (char *)name};
    return c->n_tensors ? bsearch(&key, c->tensors, (size_t)c->n_tensors, sizeof key, cmp_tensor) : NULL;
}

int vx_ckpt_check(const vx_checkpoint *c, const char *name, int ndim, const int64_t *shape, vx_error *err) {
    const vx_st_tensor *t = vx_ckpt_find(c, name);
    return vx_tensor_check(t, t ? shard_path(owner(c, t)) : c->describe, name, ndim, shape, err);
}

static int is_float(vx_dtype dt) { return dt == VX_DT_F32 || dt == VX_DT_F16 || dt == VX_DT_BF16 || dt == VX_DT_F64; }

/* Drops the pages of p[0..n) when they are a file's mapping (never a copy in memory:
 * there MADV_DONTNEED would zero them). */
static void drop_range(const vx_checkpoint *c, const uint8_t *p, size_t n) {
    int mapped = 0;
    for (int i = 0; i < c->n_shards && !mapped; i++) {
        size_t size;
        const uint8_t *map = shard_map(&c->shards[i], &size);
        mapped = map && p >= map && n <= size && p - map <= (ptrdiff_t)(size - n);
    }
    if (!mapped) return;
    const long page = sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1), b = ((uintptr_t)p + n) & ~((uintptr_t)page - 1);
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

/* A tensor's bytes: all of them up to SAMPLE_ALL (biases, LayerNorms, small tensors), else
 * SAMPLE_WINDOWS windows of SAMPLE_BYTES spread evenly over it, the first and last
 * included. Identifying a 600 MB model then reads ~4 MB of it: hashing every byte cost
 * ~145 ms on each load (every command that loads the model). Trained weights differ
 * everywhere, so any two models differ in the windows; the same weights in another
 * format have the same bytes there. */
#define SAMPLE_ALL (64u << 10)
#define SAMPLE_WINDOWS 16
#define SAMPLE_BYTES 1024

static uint64_t tensor_hash(const vx_st_tensor *t) {
    if (t->nbytes <= SAMPLE_ALL) return XXH3_64bits(t->data, t->nbytes);
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    for (size_t w = 0; w < SAMPLE_WINDOWS; w++) {
        const size_t at = (t->nbytes - SAMPLE_BYTES) / (SAMPLE_WINDOWS - 1) * w;
        XXH3_64bits_update(&st, t->data + at, SAMPLE_BYTES);
    }
    const uint64_t n = t->nbytes;
    XXH3_64bits_update(&st, &n, sizeof n);
    return XXH3_64bits_digest(&st);
}

uint64_t vx_ckpt_weights_hash(const vx_checkpoint *c) {
    /* Names, dtypes, shapes and each tensor's hash, in name order. */
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    for (int i = 0; i < c->n_tensors; i++) {
        const vx_st_tensor *t = &c->tensors[i];
        if (!is_float(t->dtype)) continue;
        const char *dt = vx_dtype_name(t->dtype);
        int64_t dims[VX_ST_MAX_DIMS + 1] = {t->ndim};
        memcpy(dims + 1, t->shape, (size_t)t->ndim * sizeof *dims);
        const uint64_t h = tensor_hash(t);
        /* The windows faulted in their neighbours (fault-around, readahead): let them go,
         * as if never read (tensors used in place fault back in when used). */
        if (t->nbytes > SAMPLE_ALL) drop_range(c, t->data, t->nbytes);
        XXH3_64bits_update(&st, t->name, strlen(t->name) + 1);
        XXH3_64bits_update(&st, dt, strlen(dt) + 1);
        XXH3_64bits_update(&st, dims, (size_t)(t->ndim + 1) * sizeof *dims);
        XXH3_64bits_update(&st, &h, sizeof h);
    }
    return XXH3_64bits_digest(&st);
}

const char *vx_ckpt_safetensors_header(const vx_checkpoint *c, size_t *len) {
    if (c->n_shards != 1 || !c->shards[0].st || strcmp(c->describe, "model.safetensors") != 0) return NULL;
    *len = c->shards[0].st->header_len;
    return c->shards[0].st->header;
}

void vx_ckpt_drop_tensor(const vx_checkpoint *c, const vx_st_tensor *t) { drop_range(c, t->data, t->nbytes); }

void vx_ckpt_drop_pages(const vx_checkpoint *c) {
    for (int i = 0; i < c->n_shards; i++) {
        size_t size;
        const uint8_t *map = shard_map(&c->shards[i], &size);
        if (map && size) madvise((void *)map, size, MADV_DONTNEED);
    }
}
