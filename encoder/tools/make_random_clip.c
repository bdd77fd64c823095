/* make_random_clip: writes a CLIP checkpoint with random weights in exactly the layout
 * Hugging Face publishes for openai/clip-vit-base-patch32: config.json (same keys),
 * model.safetensors (same tensor names, including the position_ids buffers, F32, F16 or
 * BF16) and the real tokenizer files (vocab.json + merges.txt made from OpenAI's
 * bpe_simple_vocab_16e6.txt.gz, or that file itself with --gz-tokenizer).
 *
 * Every bias and LayerNorm parameter is random too, so a forgotten bias or a swapped
 * LayerNorm changes the outputs. Deterministic for a given --seed.
 *
 * usage: make_random_clip [--preset tiny|b32|b16|l14] [--layers N] [--dtype f32|f16|bf16]
 *                         [--round-to f16|bf16] [--seed N] [--act quick_gelu|gelu]
 *                         [--gz-tokenizer] --bpe PATH OUT_DIR
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static int write_safetensors(const char *path, int dtype, int round_to) {
    qsort(tensors, (size_t)n_tensors, sizeof *tensors, cmp_name);
    json_t *hdr = json_object();
    json_object_set_new(hdr, "__metadata__", json_pack("{s:s}", "format", "pt"));
    uint64_t offset = 0;
    const int esize = dtype == DT_F32 ? 4 : 2;
    const char *dname = dtype == DT_F32 ? "F32" : dtype == DT_F16 ? "F16" : "BF16";
    for (int i = 0; i < n_tensors; i++) {
        tensor *t = &tensors[i];
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        uint64_t bytes = (uint64_t)numel(t) * (t->init == INIT_POSITION_IDS ? 8 : (uint64_t)esize);
        json_object_set_new(hdr, t->name,
                            json_pack("{s:s, s:o, s:[I, I]}", "dtype", t->init == INIT_POSITION_IDS ? "I64" : dname,
                                      "shape", shape, "data_offsets", (json_int_t)offset, (json_int_t)(offset + bytes)));
        offset += bytes;
    }
    char *h = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(hdr);
    size_t hlen = strlen(h), padded = (hlen + 7) & ~(size_t)7; /* data starts 8-aligned */
    FILE *f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "%s: %s\n", path, strerror(errno)); return -1; }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    fwrite(len8, 1, 8, f);
    fwrite(h, 1, hlen, f);
    for (size_t i = hlen; i < padded; i++) fputc(' ', f);
    free(h);
    uint8_t buf[1 << 16];
    size_t used = 0;
    for (int i = 0; i < n_tensors; i++) {
        const tensor *t = &tensors[i];
        int64_t n = numel(t);
        for (int64_t k = 0; k < n; k++) {
            if (used + 8 > sizeof buf) { fwrite(buf, 1, used, f); used = 0; }
            float v = sample(t, k);
            if (t->init == INIT_POSITION_IDS) {
                int64_t id = (int64_t)v;
                for (int b = 0; b < 8; b++) buf[used++] = (uint8_t)((uint64_t)id >> (8 * b));
                continue;
            }
            if (round_to == DT_F16) v = vx_f16_to_f32(to_f16(v));
            if (round_to == DT_BF16) v = vx_bf16_to_f32(to_bf16(v));
            uint32_t bits;
            uint16_t half;
            switch (dtype) {
            case DT_F32: memcpy(&bits, &v, 4); for (int b = 0; b < 4; b++) buf[used++] = (uint8_t)(bits >> (8 * b)); break;
            case DT_F16: half = to_f16(v); buf[used++] = (uint8_t)half; buf[used++] = (uint8_t)(half >> 8); break;
            default: half = to_bf16(v); buf[used++] = (uint8_t)half; buf[used++] = (uint8_t)(half >> 8); break;
            }
        }
    }
    fwrite(buf, 1, used, f);
    if (fclose(f)) { fprintf(stderr, "%s: write failed\n", path); return -1; }
    return 0;
}

static json_t *tower_config(const char *model_type, int w, int l, int h, int m, const char *act, int proj) {
    json_t *c = json_pack("{s:f, s:f, s:s, s:i, s:f, s:f, s:i, s:f, s:s, s:i, s:i, s:i}", "attention_dropout", 0.0,
                          "dropout", 0.0, "hidden_act", act, "hidden_size", w, "initializer_factor", 1.0,
                          "initializer_range", 0.02, "intermediate_size", m, "layer_norm_eps", 1e-5, "model_type",
                          model_type, "num_attention_heads", h, "num_hidden_layers", l, "projection_dim", proj);
    return c;
}

int main(int argc, char **argv) {
    const preset *p = &presets[0];
    int layers = 0, dtype = DT_F32, round_to = -1, gz_tok = 0;
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
        else if (a[0] != '-' && !out) out = a;
        else { fprintf(stderr, "usage: make_random_clip [--preset tiny|b32|b16|l14] [--layers N] [--dtype f32|f16|bf16] "
                               "[--round-to f16|bf16] [--seed N] [--act quick_gelu|gelu] [--gz-tokenizer] --bpe PATH OUT_DIR\n");
               return 2; }
    }
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
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    if (write_safetensors(path, dtype, round_to)) return 1;
    free(tensors);
    return 0;
}
