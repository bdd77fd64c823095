/* make_random_clip: writes a CLIP checkpoint with random weights in exactly the layout
 * Hugging Face publishes for openai/clip-vit-base-patch32: config.json (same keys),
 * model.safetensors (same tensor names, including the position_ids buffers, F32, F16 or
 * BF16) and the real tokenizer files (vocab.json + merges.txt made from OpenAI's
 * bpe_simple_vocab_16e6.txt.gz, or that file itself with --gz-tokenizer).
 *
 * Every bias and LayerNorm parameter is random too, so a forgotten bias or a swapped
 * LayerNorm changes the outputs. Deterministic for a given --seed.
 *
 * The weights are written as model.safetensors (default) or as pytorch_model.bin the way
 * torch.save writes it, in its zip format (--format bin) or its legacy one (--format
 * bin-legacy; strided views with --strided), in one file or --shards N with the hub's
 * index.json. The values are the same whatever the format.
 *
 * usage: make_random_clip [--preset tiny|b32|b16|l14] [--layers N] [--dtype f32|f16|bf16]
 *                         [--round-to f16|bf16] [--seed N] [--act quick_gelu|gelu]
 *                         [--gz-tokenizer] [--format safetensors|bin|bin-legacy]
 *                         [--shards N] [--strided] --bpe PATH OUT_DIR
 *        make_random_clip --mtext TOKENIZER_JSON [--preset tiny|b32] [--seed N] [--dtype ...] [--format ...] OUT_DIR
 *                         (the multilingual text tower: full size with b32, for benchmarks; tiny, into
 *                         the tiny CLIP's space, for tests)
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "../safetensors.h"
#include "../tokenizer.h"

typedef struct preset {
    const char *name;
    int vw, vl, vh, vm, image, patch; /* vision: width, layers, heads, mlp, image size, patch */
    int tw, tl, th, tm;               /* text */
    int proj;
} preset;

static const preset presets[] = {
    {"tiny", 64, 2, 2, 256, 224, 32, 48, 2, 4, 192, 32},
    {"b32", 768, 12, 12, 3072, 224, 32, 512, 12, 8, 2048, 512},
    {"b16", 768, 12, 12, 3072, 224, 16, 512, 12, 8, 2048, 512},
    {"l14", 1024, 24, 16, 4096, 224, 14, 768, 12, 12, 3072, 768},
};

enum { DT_F32, DT_F16, DT_BF16 };

/* ---- random numbers ------------------------------------------------------------------ */

static uint64_t rng = 1;
static double uniform(void) {
    rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
    return ((rng * 0x2545F4914F6CDD1DULL) >> 11) * (1.0 / 9007199254740992.0);
}
static float normal(void) {
    double u = uniform(), v = uniform();
    if (u < 1e-300) u = 1e-300;
    return (float)(sqrt(-2 * log(u)) * cos(2 * M_PI * v));
}

static uint16_t to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffff;
    if (exp >= 31) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        mant |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = sign | ((uint32_t)exp << 10) | (mant >> 13), rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* round to nearest even; carries into the exponent */
    return (uint16_t)h;
}

static uint16_t to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    x += 0x7fff + ((x >> 16) & 1); /* round to nearest even */
    return (uint16_t)(x >> 16);
}

/* ---- tensors ------------------------------------------------------------------------- */

typedef enum { INIT_WEIGHT, INIT_BIAS, INIT_LN_WEIGHT, INIT_EMBED, INIT_PATCH, INIT_SCALAR, INIT_POSITION_IDS } init_kind;

typedef struct tensor {
    char name[128];
    int ndim;
    int64_t shape[4];
    init_kind init;
    const char *dtype; /* as written: "F32", "F16", "BF16" or "I64" */
    int esize;
    uint8_t *bytes;    /* little-endian, row-major */
    size_t nbytes;
} tensor;

static tensor *tensors;
static int n_tensors, cap_tensors;

static void add(const char *name, init_kind init, int ndim, int64_t a, int64_t b, int64_t c, int64_t d) {
    if (n_tensors == cap_tensors) {
        cap_tensors = cap_tensors ? 2 * cap_tensors : 256;
        tensors = realloc(tensors, (size_t)cap_tensors * sizeof *tensors);
        if (!tensors) { fprintf(stderr, "out of memory\n"); exit(1); }
    }
    tensor *t = &tensors[n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = a; t->shape[1] = b; t->shape[2] = c; t->shape[3] = d;
    t->init = init;
}

static void add_tower(const char *prefix, int layers, int w, int m) {
    char n[128];
    for (int i = 0; i < layers; i++) {
#define L(s) (snprintf(n, sizeof n, "%s.encoder.layers.%d.%s", prefix, i, s), n)
        static const char *const proj[] = {"k_proj", "v_proj", "q_proj", "out_proj"};
        for (int p = 0; p < 4; p++) {
            char s[64];
            snprintf(s, sizeof s, "self_attn.%s.weight", proj[p]);
            add(L(s), INIT_WEIGHT, 2, w, w, 0, 0);
            snprintf(s, sizeof s, "self_attn.%s.bias", proj[p]);
            add(L(s), INIT_BIAS, 1, w, 0, 0, 0);
        }
        add(L("layer_norm1.weight"), INIT_LN_WEIGHT, 1, w, 0, 0, 0);
        add(L("layer_norm1.bias"), INIT_BIAS, 1, w, 0, 0, 0);
        add(L("mlp.fc1.weight"), INIT_WEIGHT, 2, m, w, 0, 0);
        add(L("mlp.fc1.bias"), INIT_BIAS, 1, m, 0, 0, 0);
        add(L("mlp.fc2.weight"), INIT_WEIGHT, 2, w, m, 0, 0);
        add(L("mlp.fc2.bias"), INIT_BIAS, 1, w, 0, 0, 0);
        add(L("layer_norm2.weight"), INIT_LN_WEIGHT, 1, w, 0, 0, 0);
        add(L("layer_norm2.bias"), INIT_BIAS, 1, w, 0, 0, 0);
#undef L
    }
}

static int64_t numel(const tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

static int cmp_name(const void *a, const void *b) { return strcmp(((const tensor *)a)->name, ((const tensor *)b)->name); }

/* Random value for one element; fan_in scales weights like a trained network's. */
static float sample(const tensor *t, int64_t i) {
    switch (t->init) {
    case INIT_WEIGHT: return normal() / sqrtf((float)t->shape[1]);
    case INIT_BIAS: return 0.1f * normal();
    case INIT_LN_WEIGHT: return 1.0f + 0.2f * normal();
    case INIT_EMBED: return 0.5f * normal();
    case INIT_PATCH: return 3.0f * normal() / sqrtf((float)(t->shape[1] * t->shape[2] * t->shape[3]));
    case INIT_SCALAR: return 2.6592f; /* logit_scale = ln(1 / 0.07), as published */
    case INIT_POSITION_IDS: return (float)i;
    }
    return 0;
}

/* Every tensor's bytes in the file's dtype (I64 for position_ids), sampled in name order:
 * the same values whatever the format written. */
static int fill(int dtype, int round_to) {
    qsort(tensors, (size_t)n_tensors, sizeof *tensors, cmp_name);
    const int esize = dtype == DT_F32 ? 4 : 2;
    for (int i = 0; i < n_tensors; i++) {
        tensor *t = &tensors[i];
        const int ids = t->init == INIT_POSITION_IDS;
        t->dtype = ids ? "I64" : dtype == DT_F32 ? "F32" : dtype == DT_F16 ? "F16" : "BF16";
        t->esize = ids ? 8 : esize;
        t->nbytes = (size_t)numel(t) * (size_t)t->esize;
        uint8_t *b = t->bytes = malloc(t->nbytes ? t->nbytes : 1);
        if (!b) { fprintf(stderr, "out of memory\n"); return -1; }
        for (int64_t k = 0, n = numel(t); k < n; k++) {
            float v = sample(t, k);
            if (ids) {
                int64_t id = (int64_t)v;
                for (int j = 0; j < 8; j++) *b++ = (uint8_t)((uint64_t)id >> (8 * j));
                continue;
            }
            if (round_to == DT_F16) v = vx_f16_to_f32(to_f16(v));
            if (round_to == DT_BF16) v = vx_bf16_to_f32(to_bf16(v));
            uint32_t bits;
            uint16_t half;
            switch (dtype) {
            case DT_F32: memcpy(&bits, &v, 4); for (int j = 0; j < 4; j++) *b++ = (uint8_t)(bits >> (8 * j)); break;
            case DT_F16: half = to_f16(v); *b++ = (uint8_t)half; *b++ = (uint8_t)(half >> 8); break;
            default: half = to_bf16(v); *b++ = (uint8_t)half; *b++ = (uint8_t)(half >> 8); break;
            }
        }
    }
    return 0;
}

static int finish(FILE *f, const char *path) {
    if (ferror(f) | fclose(f)) { fprintf(stderr, "%s: write failed\n", path); return -1; }
    return 0;
}

/* Tensors [first, first + n) as one safetensors file. */
static int write_safetensors(const char *path, int first, int n) {
    json_t *hdr = json_object();
    json_object_set_new(hdr, "__metadata__", json_pack("{s:s}", "format", "pt"));
    uint64_t offset = 0;
    for (int i = first; i < first + n; i++) {
        const tensor *t = &tensors[i];
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_object_set_new(hdr, t->name, json_pack("{s:s, s:o, s:[I, I]}", "dtype", t->dtype, "shape", shape, "data_offsets",
                                                    (json_int_t)offset, (json_int_t)(offset + t->nbytes)));
        offset += t->nbytes;
    }
    char *h = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(hdr);
    size_t hlen = strlen(h), padded = (hlen + 7) & ~(size_t)7; /* data starts 8-aligned */
    FILE *f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "%s: %s\n", path, strerror(errno)); free(h); return -1; }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    fwrite(len8, 1, 8, f);
    fwrite(h, 1, hlen, f);
    for (size_t i = hlen; i < padded; i++) fputc(' ', f);
    free(h);
    for (int i = first; i < first + n; i++) fwrite(tensors[i].bytes, 1, tensors[i].nbytes, f);
    return finish(f, path);
}

/* ---- PyTorch's formats, as torch.save writes them (protocol 2 pickles) ------------------ */

typedef struct buf { uint8_t *p; size_t n, cap; } buf;

static void put(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        if (!(b->p = realloc(b->p, b->cap))) { fprintf(stderr, "out of memory\n"); exit(1); }
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void put_op(buf *b, int op) { uint8_t c = (uint8_t)op; put(b, &c, 1); }
static void put_le(buf *b, uint64_t v, int w) { for (int i = 0; i < w; i++) put_op(b, (int)(v >> (8 * i)) & 0xff); }
static void put_str(buf *b, const char *s) { put_op(b, 'X'); put_le(b, strlen(s), 4); put(b, s, strlen(s)); }
static void put_int(buf *b, int64_t v) {
    if (v >= 0 && v < 256) { put_op(b, 'K'); put_le(b, (uint64_t)v, 1); }
    else if (v >= INT32_MIN && v <= INT32_MAX) { put_op(b, 'J'); put_le(b, (uint64_t)v, 4); }
    else { put_op(b, 0x8a); put_op(b, 8); put_le(b, (uint64_t)v, 8); }
}
static void put_global(buf *b, const char *module, const char *name) {
    put_op(b, 'c');
    put(b, module, strlen(module)); put_op(b, '\n');
    put(b, name, strlen(name)); put_op(b, '\n');
}

static const char *storage_type(const char *dtype) {
    return !strcmp(dtype, "F32") ? "FloatStorage" : !strcmp(dtype, "F16") ? "HalfStorage"
         : !strcmp(dtype, "BF16") ? "BFloat16Storage" : "LongStorage";
}

/* A 2-D float tensor written strided (--strided): its storage holds the transpose and the
 * tensor reads it with strides (1, rows), as a saved `w.t()` would. */
static int is_strided(const tensor *t, int strided) { return strided && t->ndim == 2 && strcmp(t->dtype, "I64") != 0; }

/* The storage bytes of tensor t as written (transposed when strided). */
static uint8_t *storage_bytes(const tensor *t, int strided) {
    if (!is_strided(t, strided)) return t->bytes;
    const int64_t r = t->shape[0], c = t->shape[1];
    uint8_t *out = malloc(t->nbytes ? t->nbytes : 1);
    if (!out) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++) memcpy(out + (size_t)(j * r + i) * t->esize, t->bytes + (size_t)(i * c + j) * t->esize, t->esize);
    return out;
}

/* The state dict's pickle: OrderedDict of _rebuild_tensor_v2(persistent storage, ...). The
 * legacy format's persistent ids have a sixth element (view metadata: None). */
static void state_dict_pickle(buf *b, int first, int n, int legacy, int strided) {
    put_op(b, 0x80); put_op(b, 2);
    put_global(b, "collections", "OrderedDict"); put_op(b, ')'); put_op(b, 'R');
    put_op(b, '(');
    for (int i = first; i < first + n; i++) {
        const tensor *t = &tensors[i];
        char key[32];
        snprintf(key, sizeof key, "%d", i - first);
        put_str(b, t->name);
        put_global(b, "torch._utils", "_rebuild_tensor_v2");
        put_op(b, '(');
        put_op(b, '('); put_str(b, "storage"); put_global(b, "torch", storage_type(t->dtype)); put_str(b, key); put_str(b, "cpu");
        put_int(b, numel(t));
        if (legacy) put_op(b, 'N');
        put_op(b, 't'); put_op(b, 'Q');
        put_int(b, 0);
        put_op(b, '('); for (int d = 0; d < t->ndim; d++) put_int(b, t->shape[d]); put_op(b, 't');
        put_op(b, '(');
        if (is_strided(t, strided)) { put_int(b, 1); put_int(b, t->shape[0]); }
        else for (int d = 0; d < t->ndim; d++) {
            int64_t st = 1;
            for (int e = d + 1; e < t->ndim; e++) st *= t->shape[e];
            put_int(b, st);
        }
        put_op(b, 't');
        put_op(b, 0x89);
        put_global(b, "collections", "OrderedDict"); put_op(b, ')'); put_op(b, 'R');
        put_op(b, 't'); put_op(b, 'R');
    }
    put_op(b, 'u'); put_op(b, '.');
}

typedef struct zip_dir { buf cd; int n; } zip_dir;

/* One stored entry, its data 64-byte aligned by padding the local header's extra field
 * (as torch's writer does). */
static void zip_entry(FILE *f, zip_dir *z, const char *name, const uint8_t *data, size_t size) {
    const long at = ftell(f);
    const size_t nlen = strlen(name);
    size_t pad = (size_t)(64 - (at + 30 + (long)nlen + 4) % 64) % 64;
    const uint32_t crc = (uint32_t)crc32(0, data, (uInt)size);
    buf h = {0};
    put_le(&h, 0x04034b50, 4); put_le(&h, 20, 2); put_le(&h, 0, 2); put_le(&h, 0, 2); put_le(&h, 0, 4);
    put_le(&h, crc, 4); put_le(&h, size, 4); put_le(&h, size, 4); put_le(&h, nlen, 2); put_le(&h, 4 + pad, 2);
    put(&h, name, nlen);
    put_le(&h, 0x4246, 2); put_le(&h, pad, 2);
    for (size_t i = 0; i < pad; i++) put_op(&h, 'Z');
    fwrite(h.p, 1, h.n, f);
    fwrite(data, 1, size, f);
    free(h.p);
    put_le(&z->cd, 0x02014b50, 4); put_le(&z->cd, 20, 2); put_le(&z->cd, 20, 2); put_le(&z->cd, 0, 2); put_le(&z->cd, 0, 2);
    put_le(&z->cd, 0, 4); put_le(&z->cd, crc, 4); put_le(&z->cd, size, 4); put_le(&z->cd, size, 4); put_le(&z->cd, nlen, 2);
    put_le(&z->cd, 0, 2); put_le(&z->cd, 0, 2); put_le(&z->cd, 0, 2); put_le(&z->cd, 0, 2); put_le(&z->cd, 0, 4);
    put_le(&z->cd, (uint64_t)at, 4);
    put(&z->cd, name, nlen);
    z->n++;
}

/* Tensors [first, first + n) as pytorch_model.bin in torch's zip (legacy = 0) or legacy
 * format. */
static int write_torch(const char *path, int first, int n, int legacy, int strided) {
    FILE *f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "%s: %s\n", path, strerror(errno)); return -1; }
    buf pk = {0};
    state_dict_pickle(&pk, first, n, legacy, strided);
    if (!legacy) {
        /* the archive's folder is the file's stem, as torch names it */
        char prefix[256], name[512];
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        snprintf(prefix, sizeof prefix, "%.*s", (int)(strchr(base, '.') ? strchr(base, '.') - base : (long)strlen(base)), base);
        zip_dir z = {0};
        snprintf(name, sizeof name, "%s/data.pkl", prefix);
        zip_entry(f, &z, name, pk.p, pk.n);
        for (int i = first; i < first + n; i++) {
            uint8_t *data = storage_bytes(&tensors[i], strided);
            snprintf(name, sizeof name, "%s/data/%d", prefix, i - first);
            zip_entry(f, &z, name, data, tensors[i].nbytes);
            if (data != tensors[i].bytes) free(data);
        }
        snprintf(name, sizeof name, "%s/version", prefix);
        zip_entry(f, &z, name, (const uint8_t *)"3\n", 2);
        const long cd_at = ftell(f);
        fwrite(z.cd.p, 1, z.cd.n, f);
        buf e = {0};
        put_le(&e, 0x06054b50, 4); put_le(&e, 0, 2); put_le(&e, 0, 2); put_le(&e, (uint64_t)z.n, 2); put_le(&e, (uint64_t)z.n, 2);
        put_le(&e, z.cd.n, 4); put_le(&e, (uint64_t)cd_at, 4); put_le(&e, 0, 2);
        fwrite(e.p, 1, e.n, f);
        free(e.p);
        free(z.cd.p);
    } else {
        static const uint8_t magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};
        static const uint8_t version[] = {0x80, 0x02, 'M', 0xe9, 0x03, '.'};
        fwrite(magic, 1, sizeof magic, f);
        fwrite(version, 1, sizeof version, f);
        buf info = {0};
        put_op(&info, 0x80); put_op(&info, 2); put_op(&info, '}'); put_op(&info, '(');
        put_str(&info, "protocol_version"); put_int(&info, 1001);
        put_str(&info, "little_endian"); put_op(&info, 0x88);
        put_str(&info, "type_sizes"); put_op(&info, '}'); put_op(&info, '(');
        put_str(&info, "short"); put_int(&info, 2); put_str(&info, "int"); put_int(&info, 4); put_str(&info, "long"); put_int(&info, 4);
        put_op(&info, 'u'); put_op(&info, 'u'); put_op(&info, '.');
        fwrite(info.p, 1, info.n, f);
        fwrite(pk.p, 1, pk.n, f);
        buf keys = {0};
        put_op(&keys, 0x80); put_op(&keys, 2); put_op(&keys, ']'); put_op(&keys, '(');
        for (int i = first; i < first + n; i++) {
            char key[32];
            snprintf(key, sizeof key, "%d", i - first);
            put_str(&keys, key);
        }
        put_op(&keys, 'e'); put_op(&keys, '.');
        fwrite(keys.p, 1, keys.n, f);
        for (int i = first; i < first + n; i++) {
            buf cnt = {0};
            put_le(&cnt, (uint64_t)numel(&tensors[i]), 8);
            fwrite(cnt.p, 1, 8, f);
            free(cnt.p);
            uint8_t *data = storage_bytes(&tensors[i], strided);
            fwrite(data, 1, tensors[i].nbytes, f);
            if (data != tensors[i].bytes) free(data);
        }
        free(info.p);
        free(keys.p);
    }
    free(pk.p);
    return finish(f, path);
}

enum { FMT_SAFETENSORS, FMT_BIN, FMT_BIN_LEGACY };

/* The weights in `format`, in one file or `shards` files with the hub's index.json. */
static int write_weights(const char *dir, int format, int shards, int strided) {
    char path[8192];
    const char *stem = format == FMT_SAFETENSORS ? "model" : "pytorch_model";
    const char *ext = format == FMT_SAFETENSORS ? "safetensors" : "bin";
    if (shards <= 1) {
        snprintf(path, sizeof path, "%s/%s.%s", dir, stem, ext);
        return format == FMT_SAFETENSORS ? write_safetensors(path, 0, n_tensors)
                                         : write_torch(path, 0, n_tensors, format == FMT_BIN_LEGACY, strided);
    }
    json_t *map = json_object();
    uint64_t total = 0;
    for (int s = 0; s < shards; s++) {
        const int first = (int)((int64_t)n_tensors * s / shards), end = (int)((int64_t)n_tensors * (s + 1) / shards);
        char file[256];
        snprintf(file, sizeof file, "%s-%05d-of-%05d.%s", stem, s + 1, shards, ext);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        if (format == FMT_SAFETENSORS ? write_safetensors(path, first, end - first)
                                      : write_torch(path, first, end - first, format == FMT_BIN_LEGACY, strided))
            return -1;
        for (int i = first; i < end; i++) {
            json_object_set_new(map, tensors[i].name, json_string(file));
            total += tensors[i].nbytes;
        }
    }
    json_t *index = json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)total, "weight_map", map);
    snprintf(path, sizeof path, "%s/%s.%s.index.json", dir, stem, ext);
    int rc = json_dump_file(index, path, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(index);
    if (rc) fprintf(stderr, "%s: cannot write\n", path);
    return rc ? -1 : 0;
}

static json_t *tower_config(const char *model_type, int w, int l, int h, int m, const char *act, int proj) {
    json_t *c = json_pack("{s:f, s:f, s:s, s:i, s:f, s:f, s:i, s:f, s:s, s:i, s:i, s:i}", "attention_dropout", 0.0,
                          "dropout", 0.0, "hidden_act", act, "hidden_size", w, "initializer_factor", 1.0,
                          "initializer_range", 0.02, "intermediate_size", m, "layer_norm_eps", 1e-5, "model_type",
                          model_type, "num_attention_heads", h, "num_hidden_layers", l, "projection_dim", proj);
    return c;
}

static int dump(json_t *j, const char *dir, const char *name) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    const int rc = json_dump_file(j, path, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    if (rc) fprintf(stderr, "%s: cannot write\n", path);
    return rc ? -1 : 0;
}

/* --mtext: the multilingual text tower (sentence-transformers'
 * clip-ViT-B-32-multilingual-v1: DistilBERT 768 x 6 layers, 119,547 pieces, mean
 * pooling, Dense 768 -> 512; --preset tiny: 48 x 2 into 32), random weights in its
 * published layout, with the tokenizer.json given (any WordPiece tokenizer whose pieces
 * fit the vocabulary). */
static int make_mtext(const char *out, const char *tokenizer, const preset *p, int dtype, int format) {
    /* --preset tiny: a small one into the tiny CLIP's 32 dimensions, for tests. */
    const int tiny = !strcmp(p->name, "tiny");
    const int D = tiny ? 48 : 768, L = tiny ? 2 : 6, H = tiny ? 4 : 12, F = tiny ? 96 : 3072, V = tiny ? 8192 : 119547,
              P = tiny ? 64 : 512, OUT = p->proj;
    char path[8192];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", out, i == 0 ? "" : i == 1 ? "/1_Pooling" : "/2_Dense");
        if (mkdir(path, 0755) && errno != EEXIST) { fprintf(stderr, "%s: %s\n", path, strerror(errno)); return 1; }
    }
    snprintf(path, sizeof path, "cp '%s' '%s/tokenizer.json'", tokenizer, out);
    if (system(path) != 0) { fprintf(stderr, "make_random_clip: copying %s failed\n", tokenizer); return 1; }
    if (dump(json_pack("[{s:i, s:s, s:s, s:s}, {s:i, s:s, s:s, s:s}, {s:i, s:s, s:s, s:s}]", "idx", 0, "name", "0",
                       "path", "", "type", "sentence_transformers.models.Transformer", "idx", 1, "name", "1", "path",
                       "1_Pooling", "type", "sentence_transformers.models.Pooling", "idx", 2, "name", "2", "path",
                       "2_Dense", "type", "sentence_transformers.models.Dense"),
             out, "modules.json") ||
        dump(json_pack("{s:s, s:[s], s:i, s:i, s:i, s:i, s:i, s:s, s:i, s:b}", "activation", "gelu", "architectures",
                       "DistilBertModel", "dim", D, "hidden_dim", F, "max_position_embeddings", P, "n_heads", H,
                       "n_layers", L, "model_type", "distilbert", "vocab_size", V, "sinusoidal_pos_embds", 0),
             out, "config.json") ||
        dump(json_pack("{s:i, s:b}", "max_seq_length", P < 128 ? P : 128, "do_lower_case", 0), out, "sentence_bert_config.json") ||
        dump(json_pack("{s:i, s:b, s:b, s:b, s:b}", "word_embedding_dimension", D, "pooling_mode_cls_token", 0,
                       "pooling_mode_mean_tokens", 1, "pooling_mode_max_tokens", 0, "pooling_mode_mean_sqrt_len_tokens", 0),
             out, "1_Pooling/config.json") ||
        dump(json_pack("{s:i, s:i, s:b, s:s}", "in_features", D, "out_features", OUT, "bias", 0, "activation_function",
                       "torch.nn.modules.linear.Identity"),
             out, "2_Dense/config.json"))
        return 1;
    add("embeddings.word_embeddings.weight", INIT_EMBED, 2, V, D, 0, 0);
    add("embeddings.position_embeddings.weight", INIT_EMBED, 2, P, D, 0, 0);
    add("embeddings.LayerNorm.weight", INIT_LN_WEIGHT, 1, D, 0, 0, 0);
    add("embeddings.LayerNorm.bias", INIT_BIAS, 1, D, 0, 0, 0);
    char n[128];
    for (int i = 0; i < L; i++) {
        static const char *const lin[] = {"attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin"};
        for (int k = 0; k < 4; k++) {
            snprintf(n, sizeof n, "transformer.layer.%d.%s.weight", i, lin[k]);
            add(n, INIT_WEIGHT, 2, D, D, 0, 0);
            snprintf(n, sizeof n, "transformer.layer.%d.%s.bias", i, lin[k]);
            add(n, INIT_BIAS, 1, D, 0, 0, 0);
        }
        static const char *const ln[] = {"sa_layer_norm", "output_layer_norm"};
        for (int k = 0; k < 2; k++) {
            snprintf(n, sizeof n, "transformer.layer.%d.%s.weight", i, ln[k]);
            add(n, INIT_LN_WEIGHT, 1, D, 0, 0, 0);
            snprintf(n, sizeof n, "transformer.layer.%d.%s.bias", i, ln[k]);
            add(n, INIT_BIAS, 1, D, 0, 0, 0);
        }
        snprintf(n, sizeof n, "transformer.layer.%d.ffn.lin1.weight", i);
        add(n, INIT_WEIGHT, 2, F, D, 0, 0);
        snprintf(n, sizeof n, "transformer.layer.%d.ffn.lin1.bias", i);
        add(n, INIT_BIAS, 1, F, 0, 0, 0);
        snprintf(n, sizeof n, "transformer.layer.%d.ffn.lin2.weight", i);
        add(n, INIT_WEIGHT, 2, D, F, 0, 0);
        snprintf(n, sizeof n, "transformer.layer.%d.ffn.lin2.bias", i);
        add(n, INIT_BIAS, 1, D, 0, 0, 0);
    }
    if (fill(dtype, -1) || write_weights(out, format, 1, 0)) return 1;
    for (int i = 0; i < n_tensors; i++) free(tensors[i].bytes);
    n_tensors = 0;
    add("linear.weight", INIT_WEIGHT, 2, OUT, D, 0, 0);
    snprintf(path, sizeof path, "%s/2_Dense", out);
    if (fill(dtype, -1) || write_weights(path, format, 1, 0)) return 1;
    free(tensors[0].bytes);
    free(tensors);
    return 0;
}

int main(int argc, char **argv) {
    const preset *p = &presets[0];
    const char *mtext = NULL;
    int layers = 0, dtype = DT_F32, round_to = -1, gz_tok = 0, format = FMT_SAFETENSORS, shards = 1, strided = 0;
    const char *bpe = NULL, *out = NULL, *act = "quick_gelu";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--preset") && v) {
            p = NULL;
            for (size_t k = 0; k < sizeof presets / sizeof presets[0]; k++)
                if (!strcmp(v, presets[k].name)) p = &presets[k];
            if (!p) { fprintf(stderr, "unknown preset %s (tiny, b32, b16, l14)\n", v); return 2; }
            i++;
        } else if (!strcmp(a, "--layers") && v) { layers = atoi(v); i++; }
        else if (!strcmp(a, "--dtype") && v) { dtype = !strcmp(v, "f16") ? DT_F16 : !strcmp(v, "bf16") ? DT_BF16 : DT_F32; i++; }
        else if (!strcmp(a, "--round-to") && v) { round_to = !strcmp(v, "f16") ? DT_F16 : DT_BF16; i++; }
        else if (!strcmp(a, "--seed") && v) { rng = strtoull(v, NULL, 0) * 2654435761u + 1; i++; }
        else if (!strcmp(a, "--act") && v) { act = v; i++; }
        else if (!strcmp(a, "--bpe") && v) { bpe = v; i++; }
        else if (!strcmp(a, "--gz-tokenizer")) gz_tok = 1;
        else if (!strcmp(a, "--format") && v) {
            format = !strcmp(v, "bin") ? FMT_BIN : !strcmp(v, "bin-legacy") ? FMT_BIN_LEGACY : !strcmp(v, "safetensors") ? FMT_SAFETENSORS : -1;
            if (format < 0) { fprintf(stderr, "unknown format %s (safetensors, bin, bin-legacy)\n", v); return 2; }
            i++;
        } else if (!strcmp(a, "--shards") && v) { shards = atoi(v); i++; }
        else if (!strcmp(a, "--strided")) strided = 1;
        else if (!strcmp(a, "--mtext") && v) { mtext = v; i++; }
        else if (a[0] != '-' && !out) out = a;
        else { fprintf(stderr, "usage: make_random_clip [--preset tiny|b32|b16|l14] [--layers N] [--dtype f32|f16|bf16] "
                               "[--round-to f16|bf16] [--seed N] [--act quick_gelu|gelu] [--gz-tokenizer] "
                               "[--format safetensors|bin|bin-legacy] [--shards N] [--strided] --bpe PATH OUT_DIR\n");
               return 2; }
    }
    if (mtext && out) return make_mtext(out, mtext, p, dtype, format);
    if (!bpe || !out) { fprintf(stderr, "make_random_clip: --bpe and OUT_DIR are required\n"); return 2; }
    const int vl = layers > 0 ? layers : p->vl, tl = layers > 0 ? layers : p->tl;
    const int grid = p->image / p->patch, vtok = grid * grid + 1, ctx = 77, vocab = 49408;
    if (mkdir(out, 0755) && errno != EEXIST) { fprintf(stderr, "%s: %s\n", out, strerror(errno)); return 1; }

    /* Tokenizer files: the real vocabulary. */
    vx_error err;
    vx_tokenizer *tok = vx_tokenizer_load_bpe_gz(bpe, &err);
    if (!tok) { fprintf(stderr, "make_random_clip: %s\n", err.msg); return 1; }
    if (gz_tok) {
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "cp '%s' '%s/bpe_simple_vocab_16e6.txt.gz'", bpe, out);
        if (system(cmd) != 0) { fprintf(stderr, "make_random_clip: copying %s failed\n", bpe); return 1; }
    } else if (vx_tokenizer_save_hf(tok, out, &err)) {
        fprintf(stderr, "make_random_clip: %s\n", err.msg);
        return 1;
    }
    vx_tokenizer_free(tok);

    /* config.json with the published keys. */
    json_t *text = tower_config("clip_text_model", p->tw, tl, p->th, p->tm, act, p->proj);
    json_object_set_new(text, "max_position_embeddings", json_integer(ctx));
    json_object_set_new(text, "vocab_size", json_integer(vocab));
    json_object_set_new(text, "bos_token_id", json_integer(0));
    json_object_set_new(text, "eos_token_id", json_integer(2)); /* the published legacy value */
    json_object_set_new(text, "pad_token_id", json_integer(1));
    json_t *vision = tower_config("clip_vision_model", p->vw, vl, p->vh, p->vm, act, p->proj);
    json_object_set_new(vision, "image_size", json_integer(p->image));
    json_object_set_new(vision, "patch_size", json_integer(p->patch));
    json_object_set_new(vision, "num_channels", json_integer(3));
    json_t *cfg = json_pack("{s:[s], s:f, s:f, s:s, s:i, s:o, s:s, s:s, s:o}", "architectures", "CLIPModel",
                            "initializer_factor", 1.0, "logit_scale_init_value", 2.6592, "model_type", "clip",
                            "projection_dim", p->proj, "text_config", text, "torch_dtype",
                            dtype == DT_F32 ? "float32" : dtype == DT_F16 ? "float16" : "bfloat16",
                            "transformers_version", "4.21.3", "vision_config", vision);
    char path[8192];
    snprintf(path, sizeof path, "%s/config.json", out);
    if (json_dump_file(cfg, path, JSON_INDENT(2) | JSON_SORT_KEYS)) { fprintf(stderr, "%s: cannot write\n", path); return 1; }
    json_decref(cfg);

    /* Tensors with the published names. */
    add("logit_scale", INIT_SCALAR, 0, 0, 0, 0, 0);
    add("text_model.embeddings.token_embedding.weight", INIT_EMBED, 2, vocab, p->tw, 0, 0);
    add("text_model.embeddings.position_embedding.weight", INIT_EMBED, 2, ctx, p->tw, 0, 0);
    add("text_model.embeddings.position_ids", INIT_POSITION_IDS, 2, 1, ctx, 0, 0);
    add_tower("text_model", tl, p->tw, p->tm);
    add("text_model.final_layer_norm.weight", INIT_LN_WEIGHT, 1, p->tw, 0, 0, 0);
    add("text_model.final_layer_norm.bias", INIT_BIAS, 1, p->tw, 0, 0, 0);
    add("text_projection.weight", INIT_WEIGHT, 2, p->proj, p->tw, 0, 0);
    add("vision_model.embeddings.class_embedding", INIT_EMBED, 1, p->vw, 0, 0, 0);
    add("vision_model.embeddings.patch_embedding.weight", INIT_PATCH, 4, p->vw, 3, p->patch, p->patch);
    add("vision_model.embeddings.position_embedding.weight", INIT_EMBED, 2, vtok, p->vw, 0, 0);
    add("vision_model.embeddings.position_ids", INIT_POSITION_IDS, 2, 1, vtok, 0, 0);
    add("vision_model.pre_layrnorm.weight", INIT_LN_WEIGHT, 1, p->vw, 0, 0, 0);
    add("vision_model.pre_layrnorm.bias", INIT_BIAS, 1, p->vw, 0, 0, 0);
    add_tower("vision_model", vl, p->vw, p->vm);
    add("vision_model.post_layernorm.weight", INIT_LN_WEIGHT, 1, p->vw, 0, 0, 0);
    add("vision_model.post_layernorm.bias", INIT_BIAS, 1, p->vw, 0, 0, 0);
    add("visual_projection.weight", INIT_WEIGHT, 2, p->proj, p->vw, 0, 0);
    if (fill(dtype, round_to) || write_weights(out, format, shards, strided)) return 1;
    for (int i = 0; i < n_tensors; i++) free(tensors[i].bytes);
    free(tensors);
    return 0;
}
