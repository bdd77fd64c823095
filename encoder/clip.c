#include "clip.h"
#include "clip_gemm.h"

#include <cblas.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "../common/log.h"
#include "../common/path.h"
#include "../common/small_gemm.h"
#include "../common/vecmath.h"
#include "qlinear.h"
#include "checkpoint.h"

/* ---- weights ------------------------------------------------------------------------- */

typedef struct layer_weights {
    const float *ln1_w, *ln1_b; /* [W] */
    float *qkv_w;               /* [3W, W]: q, k and v projections fused into one product */
    float *qkv_b;               /* [3W] */
    const float *out_w, *out_b; /* [W, W], [W] */
    const float *ln2_w, *ln2_b; /* [W] */
    const float *fc1_w, *fc1_b; /* [M, W], [M] */
    const float *fc2_w, *fc2_b; /* [W, M], [W] */
    /* At BF16 or INT8: the four products' weights, packed (then qkv_w is NULL and the
     * FP32 weights are not read). */
    vx_qweight *q_qkv, *q_out, *q_fc1, *q_fc2;
} layer_weights;

struct vx_clip {
    vx_clip_config cfg;
    vx_precision precision;
    char *dir;
    uint64_t fingerprint;
    uint64_t fingerprint_before; /* how fingerprints were made before (config + safetensors header); 0: none */
    vx_checkpoint *ck;
    vx_tokenizer *tok;
    void **owned; /* converted or fused tensors */
    int n_owned, cap_owned;

    /* vision tower */
    const float *patch_w;   /* [Wv, 3 * p * p] (conv kernel, no bias) */
    vx_qweight *q_patch;    /* packed patch_w at BF16 or INT8 */
    const float *class_emb; /* [Wv] */
    const float *vpos;      /* [T, Wv] */
    const float *pre_ln_w, *pre_ln_b, *post_ln_w, *post_ln_b; /* [Wv] */
    layer_weights *vlayers; /* [vision.layers] */
    const float *vproj;     /* [P, Wv] */
    /* text tower */
    const float *tok_emb;   /* [V, Wt] */
    const float *tpos;      /* [C, Wt] */
    layer_weights *tlayers; /* [text.layers] */
    const float *final_ln_w, *final_ln_b; /* [Wt] */
    const float *tproj;     /* [P, Wt] */
};

/* One tower's activations, for up to `rows` token rows. */
typedef struct run_state {
    int rows;
    float *x;      /* [rows, W]  residual stream */
    float *h;      /* [rows, W]  normalised input of a sub-block */
    float *qkv;    /* [rows, 3W] */
    float *attn;   /* [rows, W]  attention output before its projection */
    float *mlp;    /* [rows, M] */
    float *scores; /* per thread: one head's attention matrix [n, n] and its K^T [dh, n] */
    size_t scores_stride; /* floats between two threads' blocks */
} run_state;

struct vx_clip_ctx {
    const vx_clip *m;
    int max_images, max_tokens;
    run_state vision, text;
    float *patches; /* [max_images * grid^2, 3 * p * p] */
    float *pooled;  /* [max(max_images, texts per chunk), max(Wv, Wt)] */
    int32_t *ids;   /* [max_tokens] tokenizer output */
    vx_qrunner *qr; /* reduced-precision products; NULL at FP32 */
    /* Threads for attention heads and element-wise passes (OpenMP). 1 at FP32: there
     * OpenBLAS's own threads share the cores, and both spinning at once halved the
     * vision tower's speed (13.2 -> 5.3 images/s at batch 1). */
    int threads;
    size_t bytes;
};

/* ---- config -------------------------------------------------------------------------- */

static int get_int(json_t *obj, const char *key, int def, int lo, int hi, const char *where, int *out, vx_error *err) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) { *out = def; return 0; }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return vx_fail(err, "%s.%s must be an integer from %d to %d", where, key, lo, hi);
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_tower(json_t *obj, const char *where, const vx_tower_config *def, vx_tower_config *c, vx_error *err) {
    if (get_int(obj, "hidden_size", def->width, 1, 16384, where, &c->width, err) ||
        get_int(obj, "num_hidden_layers", def->layers, 1, 256, where, &c->layers, err) ||
        get_int(obj, "num_attention_heads", def->heads, 1, 256, where, &c->heads, err) ||
        get_int(obj, "intermediate_size", def->mlp, 1, 65536, where, &c->mlp, err))
        return -1;
    if (c->width % c->heads) return vx_fail(err, "%s.hidden_size %d is not a multiple of num_attention_heads %d", where, c->width, c->heads);
    json_t *eps = json_object_get(obj, "layer_norm_eps");
    c->eps = def->eps;
    if (eps && !json_is_null(eps)) {
        if (!json_is_number(eps) || json_number_value(eps) <= 0 || json_number_value(eps) > 1)
            return vx_fail(err, "%s.layer_norm_eps must be a number in (0, 1]", where);
        c->eps = (float)json_number_value(eps);
    }
    json_t *act = json_object_get(obj, "hidden_act");
    c->act = def->act;
    if (act && !json_is_null(act)) {
        const char *a = json_is_string(act) ? json_string_value(act) : "";
        if (strcmp(a, "quick_gelu") == 0) c->act = VX_ACT_QUICK_GELU;
        else if (strcmp(a, "gelu") == 0) c->act = VX_ACT_GELU;
        else return vx_fail(err, "%s.hidden_act \"%s\" is not supported (quick_gelu or gelu)", where, a);
    }
    return 0;
}

int vx_clip_config_load(const char *path, vx_clip_config *cfg, vx_error *err) {
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    int rc = -1;
    if (!root) return vx_fail(err, "%s: %s (line %d)", path, jerr.text, jerr.line);
    memset(cfg, 0, sizeof *cfg);
    /* Defaults are Hugging Face's CLIPTextConfig / CLIPVisionConfig / CLIPConfig ones. */
    const vx_tower_config tdef = {512, 12, 8, 2048, 1e-5f, VX_ACT_QUICK_GELU};
    const vx_tower_config vdef = {768, 12, 12, 3072, 1e-5f, VX_ACT_QUICK_GELU};
    json_t *text = json_object_get(root, "text_config"), *vision = json_object_get(root, "vision_config");
    /* Configs written by old transformers versions keep the towers under *_config_dict. */
    if (!json_is_object(text)) text = json_object_get(root, "text_config_dict");
    if (!json_is_object(vision)) vision = json_object_get(root, "vision_config_dict");
    if (!json_is_object(root)) { vx_fail(err, "%s: not a JSON object", path); goto done; }
    json_t *type = json_object_get(root, "model_type");
    if (json_is_string(type) && strcmp(json_string_value(type), "clip") != 0) {
        vx_fail(err, "%s describes a \"%s\" model, not CLIP (model_type \"clip\")", path, json_string_value(type));
        goto done;
    }
    if (!json_is_object(text) || !json_is_object(vision)) {
        vx_fail(err, "%s: text_config and vision_config objects are required", path);
        goto done;
    }
    if (get_tower(text, "text_config", &tdef, &cfg->text, err) ||
        get_tower(vision, "vision_config", &vdef, &cfg->vision, err) ||
        get_int(text, "max_position_embeddings", VX_CLIP_DEFAULT_CONTEXT, 2, 4096, "text_config", &cfg->context, err) ||
        get_int(text, "vocab_size", 49408, 3, 1 << 22, "text_config", &cfg->vocab, err) ||
        get_int(vision, "image_size", 224, 1, 4096, "vision_config", &cfg->image_size, err) ||
        get_int(vision, "patch_size", 32, 1, 4096, "vision_config", &cfg->patch_size, err) ||
        get_int(root, "projection_dim", 512, 1, 16384, "config", &cfg->proj_dim, err)) {
        vx_fail_prefix(err, "%s", path);
        goto done;
    }
    int channels;
    if (get_int(vision, "num_channels", 3, 3, 3, "vision_config", &channels, err)) {
        vx_fail_prefix(err, "%s", path);
        goto done;
    }
    if (cfg->image_size % cfg->patch_size) {
        vx_fail(err, "%s: image_size %d is not a multiple of patch_size %d", path, cfg->image_size, cfg->patch_size);
        goto done;
    }
    cfg->grid = cfg->image_size / cfg->patch_size;
    cfg->vision_tokens = cfg->grid * cfg->grid + 1;
    rc = 0;
done:
    json_decref(root);
    return rc;
}

/* ---- loading ------------------------------------------------------------------------- */

void vx_clip_missing_hint(const char *dir, char *out, size_t size) {
    snprintf(out, size,
             "download openai/clip-vit-base-patch32 with `scripts/download_model.sh %s` (needs internet), "
             "or point --model or VIDX_MODEL at a folder holding config.json, the weights (model.safetensors or "
             "pytorch_model.bin, or their sharded index.json and shards) and vocab.json + merges.txt (or "
             "bpe_simple_vocab_16e6.txt.gz)",
             dir);
}

static void *own(vx_clip *m, size_t bytes) {
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **p = realloc(m->owned, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        m->owned = p;
        m->cap_owned = cap;
    }
    void *p = malloc(bytes ? bytes : 1);
    if (p) m->owned[m->n_owned++] = p;
    return p;
}

/* A checked float tensor: F32 with 4-byte alignment is used in place from the mapping;
 * anything else is converted into memory the model owns. */
static const float *tensor(vx_clip *m, const char *name, int ndim, const int64_t *shape, vx_error *err) {
    if (vx_ckpt_check(m->ck, name, ndim, shape, err)) return NULL;
    const vx_st_tensor *t = vx_ckpt_find(m->ck, name);
    if (t->dtype == VX_DT_F32 && ((uintptr_t)t->data & 3) == 0) return (const float *)(const void *)t->data;
    float *dst = own(m, t->numel * sizeof(float));
    if (!dst) { vx_fail(err, "out of memory loading %s", name); return NULL; }
    vx_st_to_f32(t, dst);
    vx_ckpt_drop_tensor(m->ck, t); /* its file pages are not read again */
    return dst;
}

#define T1(name, a) tensor(m, name, 1, (const int64_t[]){a}, err)
#define T2(name, a, b) tensor(m, name, 2, (const int64_t[]){a, b}, err)

static int load_layers(vx_clip *m, const char *prefix, const vx_tower_config *c, layer_weights *L, vx_error *err) {
    const int64_t W = c->width, M = c->mlp;
    char n[256];
    for (int i = 0; i < c->layers; i++) {
        layer_weights *l = &L[i];
#define NAME(suffix) (snprintf(n, sizeof n, "%s.encoder.layers.%d.%s", prefix, i, suffix), n)
        if (!(l->ln1_w = T1(NAME("layer_norm1.weight"), W)) || !(l->ln1_b = T1(NAME("layer_norm1.bias"), W)) ||
            !(l->ln2_w = T1(NAME("layer_norm2.weight"), W)) || !(l->ln2_b = T1(NAME("layer_norm2.bias"), W)) ||
            !(l->out_w = T2(NAME("self_attn.out_proj.weight"), W, W)) ||
            !(l->out_b = T1(NAME("self_attn.out_proj.bias"), W)) ||
            !(l->fc1_w = T2(NAME("mlp.fc1.weight"), M, W)) || !(l->fc1_b = T1(NAME("mlp.fc1.bias"), M)) ||
            !(l->fc2_w = T2(NAME("mlp.fc2.weight"), W, M)) || !(l->fc2_b = T1(NAME("mlp.fc2.bias"), W)))
            return -1;
        /* At reduced precision the fused FP32 matrix is only the packing's input. */
        const int reduced = m->precision != VX_PRECISION_F32;
        float *qkv_w = reduced ? malloc((size_t)(3 * W * W) * sizeof(float)) : own(m, (size_t)(3 * W * W) * sizeof(float));
        l->qkv_b = own(m, (size_t)(3 * W) * sizeof(float));
        if (!qkv_w || !l->qkv_b) { if (reduced) free(qkv_w); return vx_fail(err, "out of memory"); }
        static const char *const parts[3] = {"q_proj", "k_proj", "v_proj"};
        for (int p = 0; p < 3; p++) {
            char sub[64];
            snprintf(sub, sizeof sub, "self_attn.%s.weight", parts[p]);
            if (vx_ckpt_check(m->ck, NAME(sub), 2, (const int64_t[]){W, W}, err)) { if (reduced) free(qkv_w); return -1; }
            vx_st_to_f32(vx_ckpt_find(m->ck, n), qkv_w + p * W * W);
            snprintf(sub, sizeof sub, "self_attn.%s.bias", parts[p]);
            if (vx_ckpt_check(m->ck, NAME(sub), 1, (const int64_t[]){W}, err)) { if (reduced) free(qkv_w); return -1; }
            vx_st_to_f32(vx_ckpt_find(m->ck, n), l->qkv_b + p * W);
        }
#undef NAME
        if (!reduced) { l->qkv_w = qkv_w; continue; }
        l->q_qkv = vx_qweight_new(qkv_w, (int)(3 * W), (int)W, m->precision, err);
        free(qkv_w);
        if (!l->q_qkv || !(l->q_out = vx_qweight_new(l->out_w, (int)W, (int)W, m->precision, err)) ||
            !(l->q_fc1 = vx_qweight_new(l->fc1_w, (int)M, (int)W, m->precision, err)) ||
            !(l->q_fc2 = vx_qweight_new(l->fc2_w, (int)W, (int)M, m->precision, err)))
            return vx_fail_prefix(err, "%s layer %d", prefix, i);
        /* The packed copies replace the FP32 matrices: let the kernel drop the file's
         * pages read while packing, layer by layer, so that they never all count as
         * resident at once (smaller tensors fault back in when used). */
        vx_ckpt_drop_pages(m->ck);
    }
    return 0;
}

static void free_layers(layer_weights *L, int n) {
    for (int i = 0; L && i < n; i++) {
        vx_qweight_free(L[i].q_qkv);
        vx_qweight_free(L[i].q_out);
        vx_qweight_free(L[i].q_fc1);
        vx_qweight_free(L[i].q_fc2);
    }
}

static int load_weights(vx_clip *m, vx_error *err) {
    const vx_clip_config *c = &m->cfg;
    const int64_t Wv = c->vision.width, Wt = c->text.width, P = c->proj_dim, p = c->patch_size;
    m->vlayers = own(m, (size_t)c->vision.layers * sizeof *m->vlayers);
    m->tlayers = own(m, (size_t)c->text.layers * sizeof *m->tlayers);
    if (!m->vlayers || !m->tlayers) return vx_fail(err, "out of memory");
    if (vx_ckpt_check(m->ck, "vision_model.embeddings.patch_embedding.weight", 4, (const int64_t[]){Wv, 3, p, p}, err))
        return -1;
    /* [Wv, 3, p, p] is already [Wv, 3*p*p] row-major. */
    const vx_st_tensor *pw = vx_ckpt_find(m->ck, "vision_model.embeddings.patch_embedding.weight");
    if (pw->dtype == VX_DT_F32 && ((uintptr_t)pw->data & 3) == 0) m->patch_w = (const float *)(const void *)pw->data;
    else {
        float *d = own(m, pw->numel * sizeof(float));
        if (!d) return vx_fail(err, "out of memory");
        vx_st_to_f32(pw, d);
        m->patch_w = d;
    }
    if (!(m->class_emb = T1("vision_model.embeddings.class_embedding", Wv)) ||
        !(m->vpos = T2("vision_model.embeddings.position_embedding.weight", c->vision_tokens, Wv)) ||
        /* "pre_layrnorm" is the published name (a typo kept by Hugging Face). */
        !(m->pre_ln_w = T1("vision_model.pre_layrnorm.weight", Wv)) ||
        !(m->pre_ln_b = T1("vision_model.pre_layrnorm.bias", Wv)) ||
        !(m->post_ln_w = T1("vision_model.post_layernorm.weight", Wv)) ||
        !(m->post_ln_b = T1("vision_model.post_layernorm.bias", Wv)) ||
        !(m->vproj = T2("visual_projection.weight", P, Wv)) ||
        !(m->tok_emb = T2("text_model.embeddings.token_embedding.weight", c->vocab, Wt)) ||
        !(m->tpos = T2("text_model.embeddings.position_embedding.weight", c->context, Wt)) ||
        !(m->final_ln_w = T1("text_model.final_layer_norm.weight", Wt)) ||
        !(m->final_ln_b = T1("text_model.final_layer_norm.bias", Wt)) ||
        !(m->tproj = T2("text_projection.weight", P, Wt)))
        return -1;
    /* Zeroed so that a model freed half-loaded frees only what was packed. */
    memset(m->vlayers, 0, (size_t)c->vision.layers * sizeof *m->vlayers);
    memset(m->tlayers, 0, (size_t)c->text.layers * sizeof *m->tlayers);
    if (m->precision != VX_PRECISION_F32 &&
        !(m->q_patch = vx_qweight_new(m->patch_w, (int)Wv, (int)(3 * p * p), m->precision, err)))
        return vx_fail_prefix(err, "patch embedding");
    if (load_layers(m, "vision_model", &c->vision, m->vlayers, err) ||
        load_layers(m, "text_model", &c->text, m->tlayers, err))
        return -1;
    return 0;
}

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The model's identity: config.json's bytes and the weights' hash, whatever the format
 * (encoder/checkpoint.h). Databases made before this recorded XXH3(config.json bytes,
 * safetensors header); that value is kept too, so they still recognise their model. */
static int fingerprint(vx_clip *m) {
    vx_path path;
    if (vx_path_fmt(path, NULL, "%s/config.json", m->dir)) return -1;
    XXH3_state_t *now = XXH3_createState(), *before = XXH3_createState();
    FILE *f = fopen(path, "rb");
    int rc = -1;
    if (!now || !before) goto done;
    XXH3_64bits_reset(now);
    XXH3_64bits_reset(before);
    if (f) {
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
            XXH3_64bits_update(now, buf, n);
            XXH3_64bits_update(before, buf, n);
        }
    }
    const uint64_t weights = vx_ckpt_weights_hash(m->ck);
    XXH3_64bits_update(now, &weights, sizeof weights);
    m->fingerprint = XXH3_64bits_digest(now);
    size_t hlen;
    const char *header = vx_ckpt_safetensors_header(m->ck, &hlen);
    if (header) {
        XXH3_64bits_update(before, header, hlen);
        m->fingerprint_before = XXH3_64bits_digest(before);
    }
    rc = 0;
done:
    if (f) fclose(f);
    XXH3_freeState(now);
    XXH3_freeState(before);
    return rc;
}

vx_clip *vx_clip_load(const char *dir, vx_error *err) { return vx_clip_load_at(dir, VX_PRECISION_F32, err); }

vx_clip *vx_clip_load_at(const char *dir, vx_precision precision, vx_error *err) {
    vx_path path;
    char hint[1024];
    struct stat sb;
    vx_clip *m = NULL;
    vx_clip_missing_hint(dir, hint, sizeof hint);
    if (vx_path_fmt(path, err, "%s/config.json", dir)) return NULL;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        vx_fail(err, "no CLIP model at %s (folder not found); %s", dir, hint);
        return NULL;
    }
    if (!file_exists(path)) {
        vx_fail(err, "incomplete CLIP model at %s: config.json is missing; %s", dir, hint);
        return NULL;
    }
    if (!vx_ckpt_find_file(dir)) {
        vx_fail(err, "incomplete CLIP model at %s: the weights are missing (model.safetensors or pytorch_model.bin); %s",
                dir, hint);
        return NULL;
    }
    if (vx_precision_check(precision, err)) return NULL;
    m = calloc(1, sizeof *m);
    if (!m || !(m->dir = strdup(dir))) {
        vx_fail(err, "out of memory");
        goto fail;
    }
    m->precision = precision;
    if (vx_clip_config_load(path, &m->cfg, err)) goto fail;
    if (!(m->ck = vx_ckpt_open(dir, err))) goto fail;
    if (fingerprint(m)) {
        vx_fail(err, "%s: out of memory", dir);
        goto fail;
    }
    if (load_weights(m, err)) goto fail;
    if (!(m->tok = vx_tokenizer_load(dir, err))) {
        vx_fail_prefix(err, "CLIP model at %s", dir);
        goto fail;
    }
    if (vx_tokenizer_vocab_size(m->tok) != m->cfg.vocab) {
        vx_fail(err, "%s: tokenizer has %d tokens but config.json says vocab_size %d", dir,
                vx_tokenizer_vocab_size(m->tok), m->cfg.vocab);
        goto fail;
    }
    vx_debug("loaded CLIP model %s at %s: vision %dx%d (%d layers), text %d (%d layers), projection %d", dir,
             vx_precision_name(m->precision), m->cfg.vision.width, m->cfg.vision_tokens, m->cfg.vision.layers,
             m->cfg.text.width, m->cfg.text.layers, m->cfg.proj_dim);
    return m;
fail:
    vx_clip_free(m);
    return NULL;
}

void vx_clip_free(vx_clip *m) {
    if (!m) return;
    if (m->vlayers) free_layers(m->vlayers, m->cfg.vision.layers);
    if (m->tlayers) free_layers(m->tlayers, m->cfg.text.layers);
    vx_qweight_free(m->q_patch);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    vx_ckpt_close(m->ck);
    vx_tokenizer_free(m->tok);
    free(m->dir);
    free(m);
}

const vx_clip_config *vx_clip_get_config(const vx_clip *m) { return &m->cfg; }
const vx_tokenizer *vx_clip_tokenizer(const vx_clip *m) { return m->tok; }
uint64_t vx_clip_fingerprint(const vx_clip *m) { return m->fingerprint; }
int vx_clip_is_fingerprint(const vx_clip *m, uint64_t fp) {
    return fp && (fp == m->fingerprint || fp == m->fingerprint_before);
}
const char *vx_clip_weights_format(const vx_clip *m) { return vx_ckpt_describe(m->ck); }
const char *vx_clip_dir(const vx_clip *m) { return m->dir; }
vx_precision vx_clip_precision(const vx_clip *m) { return m->precision; }

/* ---- run state ----------------------------------------------------------------------- */

static float *alloc_floats(vx_clip_ctx *ctx, size_t n) {
    ctx->bytes += n * sizeof(float);
    return malloc((n ? n : 1) * sizeof(float));
}

static int run_state_init(vx_clip_ctx *ctx, run_state *s, const vx_tower_config *c, int rows, int max_seq) {
    s->rows = rows;
    s->x = alloc_floats(ctx, (size_t)rows * c->width);
    s->h = alloc_floats(ctx, (size_t)rows * c->width);
    s->qkv = alloc_floats(ctx, (size_t)rows * 3 * c->width);
    s->attn = alloc_floats(ctx, (size_t)rows * c->width);
    s->mlp = alloc_floats(ctx, (size_t)rows * c->mlp);
    s->scores_stride = (size_t)max_seq * max_seq + (size_t)max_seq * (c->width / c->heads);
    s->scores = alloc_floats(ctx, (size_t)ctx->threads * s->scores_stride);
    return s->x && s->h && s->qkv && s->attn && s->mlp && s->scores ? 0 : -1;
}

static void run_state_free(run_state *s) {
    free(s->x);
    free(s->h);
    free(s->qkv);
    free(s->attn);
    free(s->mlp);
    free(s->scores);
}

vx_clip_ctx *vx_clip_ctx_new(const vx_clip *m, int max_images, int max_tokens, vx_error *err) {
    const vx_clip_config *c = &m->cfg;
    if (max_images < 1) max_images = 1;
    if (max_tokens < c->context) max_tokens = c->context;
    vx_clip_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) { vx_fail(err, "out of memory"); return NULL; }
    ctx->m = m;
    ctx->threads = m->precision == VX_PRECISION_F32 ? 1 : omp_get_max_threads();
    ctx->max_images = max_images;
    ctx->max_tokens = max_tokens;
    int pp = 3 * c->patch_size * c->patch_size;
    int pooled_rows = max_images > max_tokens / 2 ? max_images : max_tokens / 2;
    int wmax = c->vision.width > c->text.width ? c->vision.width : c->text.width;
    if (run_state_init(ctx, &ctx->vision, &c->vision, max_images * c->vision_tokens, c->vision_tokens) ||
        run_state_init(ctx, &ctx->text, &c->text, max_tokens, c->context) ||
        !(ctx->patches = alloc_floats(ctx, (size_t)max_images * c->grid * c->grid * pp)) ||
        !(ctx->pooled = alloc_floats(ctx, (size_t)pooled_rows * wmax)) ||
        !(ctx->ids = malloc((size_t)max_tokens * sizeof *ctx->ids))) {
        vx_clip_ctx_free(ctx);
        vx_fail(err, "out of memory for the encoder's activations (%d images, %d tokens)", max_images, max_tokens);
        return NULL;
    }
    if (m->precision != VX_PRECISION_F32) {
        const int vrows = max_images * c->vision_tokens, rows = vrows > max_tokens ? vrows : max_tokens;
        int k = c->vision.mlp > c->text.mlp ? c->vision.mlp : c->text.mlp;
        if (pp > k) k = pp;
        if (wmax > k) k = wmax;
        if (!(ctx->qr = vx_qrunner_new(rows, k, err))) {
            vx_clip_ctx_free(ctx);
            return NULL;
        }
        ctx->bytes += vx_qrunner_bytes(ctx->qr);
    }
    return ctx;
}

void vx_clip_ctx_free(vx_clip_ctx *ctx) {
    if (!ctx) return;
    run_state_free(&ctx->vision);
    run_state_free(&ctx->text);
    free(ctx->patches);
    free(ctx->pooled);
    free(ctx->ids);
    vx_qrunner_free(ctx->qr);
    free(ctx);
}

size_t vx_clip_ctx_bytes(const vx_clip_ctx *ctx) { return ctx->bytes; }

/* ---- kernels ------------------------------------------------------------------------- */

#define SMALL_M 16                /* rows up to which products go row by row */
#define SMALL_M_MIN_WEIGHTS 65536 /* ... when the other matrix is at least this big */

static vx_gemm_observer gemm_observer;
static void *gemm_observer_ctx;
static vx_qlinear_observer qlinear_observer;
static void *qlinear_observer_ctx;

void vx_clip_set_qlinear_observer(vx_qlinear_observer fn, void *ctx) {
    qlinear_observer = fn;
    qlinear_observer_ctx = ctx;
}

void vx_clip_set_gemm_observer(vx_gemm_observer fn, void *ctx) {
    gemm_observer = fn;
    gemm_observer_ctx = ctx;
}

/* Every matrix product goes through here (and only here calls BLAS):
 * C[m,n] = alpha * A[m,k] * op(B) + beta * C, row-major, with B given as [n,k]
 * (transposed, as weights are stored) or [k,n]. */
void vx_clip_blas(int m, int n, int k, float alpha, const float *A, int lda, const float *B, int ldb, int b_transposed,
                  float beta, float *C, int ldc) {
    /* A few rows against a large weight matrix (a short text query) is memory-bound:
     * sgemm would pack the whole matrix for a handful of rows. With AVX2, a kernel that
     * reads each weight once on both cores (small_gemm.c); without, one matrix-vector
     * product per row, the matrix staying in the last-level cache between rows.
     * Measured on the ViT-B/32 text shapes, 10 rows, all layers' products: sgemm
     * 16.8 ms, sgemv per row 11.3 ms, the kernel 7.8-8.1 ms (151 MB at ~19 GB/s). */
    static int kernel = -1;
    if (kernel < 0) kernel = vx_small_gemm_available();
    if (b_transposed && m <= SMALL_M && (long)n * k >= SMALL_M_MIN_WEIGHTS) {
        if (kernel) {
            vx_small_gemm(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
            return;
        }
        for (int r = 0; r < m; r++)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, alpha, B, ldb, A + (size_t)r * lda, 1, beta,
                        C + (size_t)r * ldc, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, b_transposed ? CblasTrans : CblasNoTrans, m, n, k, alpha, A, lda, B, ldb,
                beta, C, ldc);
}

static void gemm(int m, int n, int k, float alpha, const float *A, int lda, const float *B, int ldb, int b_transposed,
                 float beta, float *C, int ldc) {
    if (gemm_observer) gemm_observer(gemm_observer_ctx, m, n, k, A, lda, B, ldb, b_transposed, C, ldc);
    vx_clip_blas(m, n, k, alpha, A, lda, B, ldb, b_transposed, beta, C, ldc);
}

VX_VECTORIZE static void activate(float *x, size_t n, vx_activation act, int threads);

/* out[rows, out_dim] (= or +=) in[rows, in_dim] * W^T + b, W stored [out_dim, in_dim],
 * then act (without accumulate) when given; with q (BF16 or INT8), through oneDNN on
 * the packed copy of W (errors are kept in the context's runner and reported at the end
 * of the forward pass). */
static void linear(vx_clip_ctx *ctx, const float *in, int rows, int in_dim, const float *W, const vx_qweight *q,
                   const float *b, int out_dim, float *out, int accumulate, const vx_activation *act) {
    if (q) {
        const vx_qact qact = !act ? VX_QACT_NONE : *act == VX_ACT_QUICK_GELU ? VX_QACT_QUICK_GELU : VX_QACT_GELU;
        if (qlinear_observer) qlinear_observer(qlinear_observer_ctx, q, in, rows, b, out, accumulate, qact);
        vx_qlinear(ctx->qr, q, in, rows, b, out, accumulate, qact);
        return;
    }
    gemm(rows, out_dim, in_dim, 1.0f, in, in_dim, W, in_dim, 1, accumulate ? 1.0f : 0.0f, out, out_dim);
    if (b)
        for (int r = 0; r < rows; r++) {
            float *o = out + (size_t)r * out_dim;
            for (int j = 0; j < out_dim; j++) o[j] += b[j];
        }
    if (act) activate(out, (size_t)rows * out_dim, *act, ctx->threads);
}

VX_VECTORIZE static void layernorm(const float *in, float *out, int rows, int dim, const float *w, const float *b, float eps,
                      int threads) {
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && rows >= 64)
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * dim;
        float *y = out + (size_t)r * dim;
        double mean = 0, var = 0;
        for (int i = 0; i < dim; i++) mean += x[i];
        mean /= dim;
        for (int i = 0; i < dim; i++) var += (x[i] - mean) * (x[i] - mean);
        var /= dim;
        float inv = (float)(1.0 / sqrt(var + eps));
        float mu = (float)mean;
        for (int i = 0; i < dim; i++) y[i] = (x[i] - mu) * inv * w[i] + b[i];
    }
}

VX_VECTORIZE static void activate(float *x, size_t n, vx_activation act, int threads) {
    if (act == VX_ACT_QUICK_GELU) {
#pragma omp parallel for simd schedule(static) num_threads(threads) if (threads > 1 && n >= 65536)
        for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + vx_fast_expf(-1.702f * x[i]));
    } else {
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && n >= 65536)
        for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
    }
}

/* Softmax of each row of s[n, n]; with causal set, row i sees columns 0..i only. */
VX_VECTORIZE static void softmax_rows(float *s, int n, int causal) {
    for (int i = 0; i < n; i++) {
        float *row = s + (size_t)i * n;
        int cols = causal ? i + 1 : n;
        float mx = row[0];
        for (int j = 1; j < cols; j++) mx = row[j] > mx ? row[j] : mx;
        float sum = 0;
        for (int j = 0; j < cols; j++) { row[j] = vx_fast_expf(row[j] - mx); sum += row[j]; }
        float inv = 1.0f / sum;
        for (int j = 0; j < cols; j++) row[j] *= inv;
        for (int j = cols; j < n; j++) row[j] = 0;
    }
}

/* One head of one sequence of n rows: out[n, dh] = softmax(scale * Q K^T) V, where Q,
 * K and V are dh-wide column blocks of rows ld floats apart (the fused qkv buffer) and
 * out's rows are ldo apart. scores: [n, n] then [dh, n] of the calling thread. With
 * causal, row i attends to rows 0..i only. */
VX_VECTORIZE static void attend(const float *Q, const float *K, const float *V, int ld, int n, int dh, float scale, int causal,
                   float *scores, float *out, int ldo) {
    /* K transposed first: each row of scores is then dh multiply-adds of contiguous
     * rows (vectorised along the keys) instead of n dot products, each ending in a
     * horizontal sum: 2.4x faster on image heads (50 x 64). */
    float *kt = scores + (size_t)n * n;
    for (int j = 0; j < n; j++)
        for (int d = 0; d < dh; d++) kt[(size_t)d * n + j] = K[(size_t)j * ld + d];
    for (int i = 0; i < n; i++) {
        const float *q = Q + (size_t)i * ld;
        float *row = scores + (size_t)i * n;
        const int cols = causal ? i + 1 : n;
        for (int j = 0; j < cols; j++) row[j] = 0;
        for (int d = 0; d < dh; d++) {
            const float qd = q[d] * scale, *k = kt + (size_t)d * n;
#pragma omp simd
            for (int j = 0; j < cols; j++) row[j] += qd * k[j];
        }
    }
    softmax_rows(scores, n, causal);
    for (int i = 0; i < n; i++) {
        float *o = out + (size_t)i * ldo;
        const float *p = scores + (size_t)i * n;
        const int cols = causal ? i + 1 : n;
        for (int d = 0; d < dh; d++) o[d] = 0;
        for (int j = 0; j < cols; j++) {
            const float pj = p[j], *v = V + (size_t)j * ld;
#pragma omp simd
            for (int d = 0; d < dh; d++) o[d] += pj * v[d];
        }
    }
}

/* One pre-LayerNorm transformer block over `rows` rows of s->x, made of n_seq
 * independent sequences (seq_start[i], seq_len[i]) that attend only within themselves. */
static void block(vx_clip_ctx *ctx, const layer_weights *L, const vx_tower_config *c, run_state *s, int rows,
                  const int *seq_start,
                  const int *seq_len, int n_seq, int causal) {
    const int W = c->width, dh = W / c->heads;
    const float scale = 1.0f / sqrtf((float)dh);
    layernorm(s->x, s->h, rows, W, L->ln1_w, L->ln1_b, c->eps, ctx->threads);
    linear(ctx, s->h, rows, W, L->qkv_w, L->q_qkv, L->qkv_b, 3 * W, s->qkv, 0, NULL);
    /* Attention, at BF16/INT8: every (sequence, head) on its own, spread over the cores.
     * Once the layers' products are cheap, products this small (50 x 50 x 64 for an
     * image) cost BLAS more in calls and thread hand-offs than in arithmetic. */
    const int pairs = n_seq * c->heads;
    if (ctx->threads == 1) /* FP32: per head through BLAS (its threads), as measured fastest there */
        for (int q = 0; q < n_seq; q++) {
            const int n = seq_len[q];
            const float *base = s->qkv + (size_t)seq_start[q] * 3 * W;
            for (int hd = 0; hd < c->heads; hd++) {
                const float *Q = base + hd * dh, *K = base + W + hd * dh, *V = base + 2 * W + hd * dh;
                gemm(n, n, dh, scale, Q, 3 * W, K, 3 * W, 1, 0.0f, s->scores, n);
                softmax_rows(s->scores, n, causal);
                gemm(n, dh, n, 1.0f, s->scores, n, V, 3 * W, 0, 0.0f, s->attn + (size_t)seq_start[q] * W + hd * dh, W);
            }
        }
    else
#pragma omp parallel for schedule(dynamic) num_threads(ctx->threads) if (pairs > 1)
    for (int t = 0; t < pairs; t++) {
        const int q = t / c->heads, hd = t % c->heads;
        const float *base = s->qkv + (size_t)seq_start[q] * 3 * W;
        attend(base + hd * dh, base + W + hd * dh, base + 2 * W + hd * dh, 3 * W, seq_len[q], dh, scale, causal,
               s->scores + (size_t)omp_get_thread_num() * s->scores_stride,
               s->attn + (size_t)seq_start[q] * W + hd * dh, W);
    }
    linear(ctx, s->attn, rows, W, L->out_w, L->q_out, L->out_b, W, s->x, 1, NULL);
    layernorm(s->x, s->h, rows, W, L->ln2_w, L->ln2_b, c->eps, ctx->threads);
    linear(ctx, s->h, rows, W, L->fc1_w, L->q_fc1, L->fc1_b, c->mlp, s->mlp, 0, &c->act);
    linear(ctx, s->mlp, rows, c->mlp, L->fc2_w, L->q_fc2, L->fc2_b, W, s->x, 1, NULL);
}

static void normalize_rows(float *x, int rows, int dim) {
    for (int r = 0; r < rows; r++) vx_normalize(x + (size_t)r * dim, (size_t)dim);
}

/* A reduced-precision product that failed during a forward pass (its outputs are then
 * meaningless): -1 with err. */
static int product_error(vx_clip_ctx *ctx, vx_error *err) {
    const char *e = ctx->qr ? vx_qrunner_take_error(ctx->qr) : NULL;
    return e ? vx_fail(err, "encoder: %s", e) : 0;
}

/* ---- vision tower -------------------------------------------------------------------- */

static void encode_image_chunk(vx_clip_ctx *ctx, const float *pixels, int n, float *out) {
    const vx_clip *m = ctx->m;
    const vx_clip_config *c = &m->cfg;
    const int W = c->vision.width, T = c->vision_tokens, G = c->grid, p = c->patch_size, S = c->image_size;
    const int NP = G * G, K = 3 * p * p;
    run_state *s = &ctx->vision;

    /* Patches as rows (im2col): the convolution with stride p becomes one product. */
    for (int b = 0; b < n; b++)
        for (int py = 0; py < G; py++)
            for (int px = 0; px < G; px++) {
                float *row = ctx->patches + ((size_t)b * NP + py * G + px) * K;
                for (int ch = 0; ch < 3; ch++)
                    for (int ky = 0; ky < p; ky++)
                        memcpy(row + (ch * p + ky) * p,
                               pixels + (((size_t)b * 3 + ch) * S + (size_t)py * p + ky) * S + (size_t)px * p,
                               (size_t)p * sizeof(float));
            }
    /* Patch embeddings land in rows 1..NP of each image's block of T rows. */
    for (int b = 0; b < n; b++)
        linear(ctx, ctx->patches + (size_t)b * NP * K, NP, K, m->patch_w, m->q_patch, NULL, W, s->x + ((size_t)b * T + 1) * W,
               0, NULL);
    for (int b = 0; b < n; b++) {
        float *x = s->x + (size_t)b * T * W;
        for (int i = 0; i < W; i++) x[i] = m->class_emb[i] + m->vpos[i];
        for (size_t i = W; i < (size_t)T * W; i++) x[i] += m->vpos[i];
    }
    const int rows = n * T;
    layernorm(s->x, s->x, rows, W, m->pre_ln_w, m->pre_ln_b, c->vision.eps, ctx->threads);
    int starts[n], lens[n];
    for (int b = 0; b < n; b++) { starts[b] = b * T; lens[b] = T; }
    for (int l = 0; l < c->vision.layers; l++) block(ctx, &m->vlayers[l], &c->vision, s, rows, starts, lens, n, 0);
    /* The class token of each image, post-LayerNorm, projected. */
    for (int b = 0; b < n; b++)
        layernorm(s->x + (size_t)b * T * W, ctx->pooled + (size_t)b * W, 1, W, m->post_ln_w, m->post_ln_b, c->vision.eps, ctx->threads);
    linear(ctx, ctx->pooled, n, W, m->vproj, NULL, NULL, c->proj_dim, out, 0, NULL);
    normalize_rows(out, n, c->proj_dim);
}

int vx_clip_encode_images(vx_clip_ctx *ctx, const float *pixels, int n, float *out, vx_error *err) {
    const vx_clip_config *c = &ctx->m->cfg;
    if (n < 0) return vx_fail(err, "negative image count");
    const size_t image_floats = (size_t)3 * c->image_size * c->image_size;
    for (int done = 0; done < n; done += ctx->max_images) {
        int k = n - done < ctx->max_images ? n - done : ctx->max_images;
        encode_image_chunk(ctx, pixels + done * image_floats, k, out + (size_t)done * c->proj_dim);
        if (product_error(ctx, err)) return -1;
    }
    return 0;
}

/* ---- text tower ---------------------------------------------------------------------- */

/* Encodes texts [first, first + n) whose total length fits the context's rows. */
static void encode_token_chunk(vx_clip_ctx *ctx, const int32_t *const *ids, const int *lens, int n, float *out) {
    const vx_clip *m = ctx->m;
    const vx_clip_config *c = &m->cfg;
    const int W = c->text.width;
    run_state *s = &ctx->text;
    int starts[n], pool[n], rows = 0;
    for (int t = 0; t < n; t++) {
        starts[t] = rows;
        /* CLIP pools at the first position of the highest id, the end token. */
        int best = 0;
        for (int i = 0; i < lens[t]; i++) {
            const int32_t id = ids[t][i];
            if (id > ids[t][best]) best = i;
            float *x = s->x + (size_t)(rows + i) * W;
            const float *e = m->tok_emb + (size_t)id * W, *pe = m->tpos + (size_t)i * W;
            for (int j = 0; j < W; j++) x[j] = e[j] + pe[j];
        }
        pool[t] = rows + best;
        rows += lens[t];
    }
    for (int l = 0; l < c->text.layers; l++) block(ctx, &m->tlayers[l], &c->text, s, rows, starts, lens, n, 1);
    /* The final LayerNorm is per position, so only the pooled positions need it. */
    for (int t = 0; t < n; t++)
        layernorm(s->x + (size_t)pool[t] * W, ctx->pooled + (size_t)t * W, 1, W, m->final_ln_w, m->final_ln_b, c->text.eps, ctx->threads);
    linear(ctx, ctx->pooled, n, W, m->tproj, NULL, NULL, c->proj_dim, out, 0, NULL);
    normalize_rows(out, n, c->proj_dim);
}

int vx_clip_encode_tokens(vx_clip_ctx *ctx, const int32_t *const *ids, const int *lens, int n, float *out,
                          vx_error *err) {
    const vx_clip_config *c = &ctx->m->cfg;
    for (int t = 0; t < n; t++) {
        if (lens[t] < 1 || lens[t] > c->context)
            return vx_fail(err, "text %d has %d tokens (1 to %d allowed)", t, lens[t], c->context);
        for (int i = 0; i < lens[t]; i++)
            if (ids[t][i] < 0 || ids[t][i] >= c->vocab)
                return vx_fail(err, "text %d: token id %d outside the vocabulary", t, (int)ids[t][i]);
    }
    const int max_texts = ctx->max_tokens / 2; /* pooled rows available */
    int first = 0;
    while (first < n) {
        int k = 0, total = 0;
        while (first + k < n && k < max_texts && total + lens[first + k] <= ctx->max_tokens) total += lens[first + k++];
        encode_token_chunk(ctx, ids + first, lens + first, k, out + (size_t)first * c->proj_dim);
        if (product_error(ctx, err)) return -1;
        first += k;
    }
    return 0;
}

int vx_clip_encode_texts(vx_clip_ctx *ctx, const char *const *texts, int n, float *out, vx_error *err) {
    const vx_clip_config *c = &ctx->m->cfg;
    /* Tokenize as many texts as fit in the context's id buffer, encode, repeat. */
    const int32_t *ptrs[64];
    int lens[64];
    int first = 0;
    while (first < n) {
        int k = 0, used = 0;
        while (first + k < n && k < 64 && used + c->context <= ctx->max_tokens) {
            int len = vx_tokenize(ctx->m->tok, texts[first + k], ctx->ids + used, c->context, err);
            if (len < 0) return vx_fail_prefix(err, "text %d", first + k);
            ptrs[k] = ctx->ids + used;
            lens[k] = len;
            used += len;
            k++;
        }
        if (vx_clip_encode_tokens(ctx, ptrs, lens, k, out + (size_t)first * c->proj_dim, err)) return -1;
        first += k;
    }
    return 0;
}
