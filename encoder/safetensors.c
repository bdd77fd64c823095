#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER (100u << 20) /* the format's own limit is 100 MB */

static const struct { const char *name; vx_dtype dt; size_t size; } dtypes[] = {
    {"F32", VX_DT_F32, 4}, {"F16", VX_DT_F16, 2}, {"BF16", VX_DT_BF16, 2}, {"F64", VX_DT_F64, 8},
    {"I64", VX_DT_I64, 8}, {"I32", VX_DT_I32, 4}, {"I16", VX_DT_I16, 2},  {"I8", VX_DT_I8, 1},
    {"U8", VX_DT_U8, 1},   {"BOOL", VX_DT_BOOL, 1},
};

const char *vx_dtype_name(vx_dtype dt) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dt == dt) return dtypes[i].name;
    return "?";
}

static void free_tensors(vx_st_tensor *tensors, int n) {
    for (int i = 0; tensors && i < n; i++) free(tensors[i].name);
    free(tensors);
}

/* Parses the JSON header; data_len is the size of the data section that follows it. */
static int parse_header(const char *json, size_t len, size_t data_len, const uint8_t *data,
                        vx_st_tensor **tensors_out, int *n_out, vx_error *err) {
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    vx_st_tensor *t = NULL;
    int n = 0, rc = -1;
    if (!root) return vx_fail(err, "header is not valid JSON: %s (byte %d)", jerr.text, jerr.position);
    if (!json_is_object(root)) {
        vx_fail(err, "header is not a JSON object");
        goto done;
    }
    t = calloc(json_object_size(root) + 1, sizeof *t);
    if (!t) {
        vx_fail(err, "out of memory");
        goto done;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) continue;
        vx_st_tensor *x = &t[n];
        json_t *dt = json_object_get(val, "dtype"), *shape = json_object_get(val, "shape"),
               *offs = json_object_get(val, "data_offsets");
        if (!json_is_object(val) || !json_is_string(dt) || !json_is_array(shape) || !json_is_array(offs) ||
            json_array_size(offs) != 2) {
            vx_fail(err, "tensor %s: entry needs dtype, shape and data_offsets [begin, end]", key);
            goto done;
        }
        size_t esize = 0;
        for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
            if (strcmp(json_string_value(dt), dtypes[i].name) == 0) { x->dtype = dtypes[i].dt; esize = dtypes[i].size; }
        if (!esize) {
            vx_fail(err, "tensor %s: unsupported dtype %s", key, json_string_value(dt));
            goto done;
        }
        if (json_array_size(shape) > VX_ST_MAX_DIMS) {
            vx_fail(err, "tensor %s: %zu dimensions (at most %d)", key, json_array_size(shape), VX_ST_MAX_DIMS);
            goto done;
        }
        x->ndim = (int)json_array_size(shape);
        uint64_t numel = 1;
        for (int d = 0; d < x->ndim; d++) {
            json_t *dim = json_array_get(shape, (size_t)d);
            if (!json_is_integer(dim) || json_integer_value(dim) < 0) {
                vx_fail(err, "tensor %s: shape has a negative or non-integer dimension", key);
                goto done;
            }
            x->shape[d] = json_integer_value(dim);
            if (x->shape[d] != 0 && numel > UINT64_MAX / 16 / (uint64_t)x->shape[d]) {
                vx_fail(err, "tensor %s: shape too large", key);
                goto done;
            }
            numel *= (uint64_t)x->shape[d];
        }
        json_t *b = json_array_get(offs, 0), *e = json_array_get(offs, 1);
        if (!json_is_integer(b) || !json_is_integer(e) || json_integer_value(b) < 0 ||
            json_integer_value(e) < json_integer_value(b)) {
            vx_fail(err, "tensor %s: data_offsets are not an interval", key);
            goto done;
        }
        uint64_t begin = (uint64_t)json_integer_value(b), end = (uint64_t)json_integer_value(e);
        if (end > data_len) {
            vx_fail(err, "tensor %s: data_offsets [%llu, %llu] run past the end of the file (%zu data bytes)", key,
                    (unsigned long long)begin, (unsigned long long)end, data_len);
            goto done;
        }
        if (end - begin != numel * esize) {
            vx_fail(err, "tensor %s: %llu bytes for a %s tensor of %llu elements (expected %llu)", key,
                    (unsigned long long)(end - begin), json_string_value(dt), (unsigned long long)numel,
                    (unsigned long long)(numel * esize));
            goto done;
        }
        x->name = strdup(key);
        if (!x->name) {
            vx_fail(err, "out of memory");
            goto done;
        }
        x->numel = numel;
        x->data = data ? data + begin : NULL;
        x->nbytes = (size_t)(end - begin);
        n++;
    }
    *tensors_out = t;
    *n_out = n;
    t = NULL;
    rc = 0;
done:
    free_tensors(t, n);
    json_decref(root);
    return rc;
}

/* Validates the whole file image p[0..size) and fills st's header and tensors. */
static int parse_file(vx_safetensors *st, const uint8_t *p, size_t size, vx_error *err) {
    if (size < 8) return vx_fail(err, "%s: %zu bytes is too short for a safetensors file", st->path, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen > MAX_HEADER || hlen > size - 8)
        return vx_fail(err, "%s: header length %llu does not fit in the file (%zu bytes)", st->path,
                       (unsigned long long)hlen, size);
    st->header = (const char *)p + 8;
    st->header_len = (size_t)hlen;
    if (parse_header(st->header, st->header_len, size - 8 - (size_t)hlen, p + 8 + hlen, &st->tensors,
                           &st->n_tensors, err))
        return vx_fail_prefix(err, "%s", st->path);
    return 0;
}

vx_safetensors *vx_st_open_memory(const void *data, size_t size, const char *name, vx_error *err) {
    vx_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(name))) {
        vx_fail(err, "out of memory");
        vx_st_close(st);
        return NULL;
    }
    if (parse_file(st, data, size, err)) {
        vx_st_close(st);
        return NULL;
    }
    return st;
}

void *vx_weights_map(const char *path, const char *kind, size_t *size, int *fd, vx_error *err) {
    struct stat sb;
    if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        vx_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    void *map = NULL;
    if (fstat(*fd, &sb) != 0 || !S_ISREG(sb.st_mode)) vx_fail(err, "%s: not a regular file", path);
    else if (sb.st_size < 8) vx_fail(err, "%s: %lld bytes is too short for a %s", path, (long long)sb.st_size, kind);
    else if ((map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, *fd, 0)) == MAP_FAILED) {
        vx_fail(err, "%s: cannot map: %s", path, strerror(errno));
        map = NULL;
    }
    if (!map) {
        close(*fd);
        *fd = -1;
        return NULL;
    }
    *size = (size_t)sb.st_size;
    return map;
}

vx_safetensors *vx_st_open(const char *path, vx_error *err) {
    vx_safetensors *st = calloc(1, sizeof *st);
    int fd = -1;
    if (!st || !(st->path = strdup(path))) {
        vx_fail(err, "out of memory");
        goto fail;
    }
    if (!(st->map = vx_weights_map(path, "safetensors file", &st->map_size, &fd, err))) goto fail;
    close(fd);
    if (parse_file(st, st->map, st->map_size, err)) goto fail;
    return st;
fail:
    vx_st_close(st);
    return NULL;
}

void vx_st_close(vx_safetensors *st) {
    if (!st) return;
    if (st->map && st->map_size) munmap(st->map, st->map_size);
    free_tensors(st->tensors, st->n_tensors);
    free(st->path);
    free(st);
}

const vx_st_tensor *vx_st_find(const vx_safetensors *st, const char *name) {
    for (int i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

static void shape_str(int ndim, const int64_t *shape, char *out, size_t size) {
    size_t o = 0;
    o += (size_t)snprintf(out, size, "[");
    for (int d = 0; d < ndim && o < size; d++) o += (size_t)snprintf(out + o, size - o, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (o < size) snprintf(out + o, size - o, "]");
}

int vx_tensor_check(const vx_st_tensor *t, const char *file, const char *name, int ndim, const int64_t *shape,
                    vx_error *err) {
    if (!t) return vx_fail(err, "%s: tensor %s is missing", file, name);
    if (t->dtype != VX_DT_F32 && t->dtype != VX_DT_F16 && t->dtype != VX_DT_BF16)
        return vx_fail(err, "%s: tensor %s has dtype %s (expected F32, F16 or BF16)", file, name, vx_dtype_name(t->dtype));
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        char want[128], got[128];
        shape_str(ndim, shape, want, sizeof want);
        shape_str(t->ndim, t->shape, got, sizeof got);
        return vx_fail(err, "%s: tensor %s has shape %s, but config.json implies %s", file, name, got, want);
    }
    return 0;
}

int vx_st_check(const vx_safetensors *st, const char *name, int ndim, const int64_t *shape, vx_error *err) {
    return vx_tensor_check(vx_st_find(st, name), st->path, name, ndim, shape, err);
}

float vx_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) bits = sign;
        else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) { mant <<= 1; exp--; }
            mant &= 0x3ff;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float vx_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void vx_st_to_f32(const vx_st_tensor *t, float *dst) {
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case VX_DT_F32:
        memcpy(dst, p, t->numel * 4); /* safetensors is little-endian, as is every target here */
        break;
    case VX_DT_F16:
        for (uint64_t i = 0; i < t->numel; i++) dst[i] = vx_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        break;
    case VX_DT_BF16:
        for (uint64_t i = 0; i < t->numel; i++) dst[i] = vx_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        break;
    default:
        break;
    }
}
