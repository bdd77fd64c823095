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
#include "transformer.h"

/* ---- weights ------------------------------------------------------------------------- */

struct vx_clip {
    vx_clip_config cfg;
    vx_precision precision;
    char *dir;
    uint64_t fingerprint;
    uint64_t fingerprint_before; /* how fingerprints were made before (config + safetensors header); 0: none */
    vx_checkpoint *ck;
    vx_tokenizer *tok;
    vx_tf_owner own; /* converted or fused tensors */

    /* vision tower */
    const float *patch_w;   /* [Wv, 3 * p * p] (conv kernel, no bias) */
    vx_qweight *q_patch;    /* packed patch_w, where products run on oneDNN (vx_precision_packed) */
    const float *class_emb; /* [Wv] */
    const float *vpos;      /* [T, Wv] */
    const float *pre_ln_w, *pre_ln_b, *post_ln_w, *post_ln_b; /* [Wv] */
    vx_tf_layer *vlayers;   /* [vision.layers] */
    const float *vproj;     /* [P, Wv] */
    /* text tower */
    const float *tok_emb;   /* [V, Wt] */
    const float *tpos;      /* [C, Wt] */
    vx_tf_layer *tlayers;   /* [text.layers] */
    const float *final_ln_w, *final_ln_b; /* [Wt] */
    const float *tproj;     /* [P, Wt] */
};

struct vx_clip_ctx {
    const vx_clip *m;
    int max_images, max_tokens;
    vx_tf_state vision, text;
    float *patches; /* [max_images * grid^2, 3 * p * p] */
    float *pooled;  /* [max(max_images, texts per chunk), max(Wv, Wt)] */
    int32_t *ids;   /* [max_tokens] tokenizer output */
    /* Reduced-precision products (NULL at FP32), and threads for attention heads and
     * element-wise passes (OpenMP): 1 at FP32, where OpenBLAS's own threads share the
     * cores, and both spinning at once halved the vision tower's speed (13.2 -> 5.3
     * images/s at batch 1). */
    vx_tf_runner run;
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
    const vx_tower_config tdef = {512, 12, 8, 2048, 1e-5f, VX_ACT_QUICK_GELU, 0};
    const vx_tower_config vdef = {768, 12, 12, 3072, 1e-5f, VX_ACT_QUICK_GELU, 0};
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

#define T1(name, a) vx_tf_tensor(&m->own, m->ck, name, 1, (const int64_t[]){a}, err)
#define T2(name, a, b) vx_tf_tensor(&m->own, m->ck, name, 2, (const int64_t[]){a, b}, err)

/* Hugging Face's names of a CLIP block's tensors. */
static const vx_tf_names clip_names = {"layer_norm1", "layer_norm2", "self_attn.q_proj", "self_attn.k_proj",
                                       "self_attn.v_proj", "self_attn.out_proj", "mlp.fc1", "mlp.fc2"};

static int load_weights(vx_clip *m, vx_error *err) {
    const vx_clip_config *c = &m->cfg;
    const int64_t Wv = c->vision.width, Wt = c->text.width, P = c->proj_dim, p = c->patch_size;
    m->vlayers = vx_tf_own(&m->own, (size_t)c->vision.layers * sizeof *m->vlayers);
    m->tlayers = vx_tf_own(&m->own, (size_t)c->text.layers * sizeof *m->tlayers);
    if (!m->vlayers || !m->tlayers) return vx_fail(err, "out of memory");
    if (vx_ckpt_check(m->ck, "vision_model.embeddings.patch_embedding.weight", 4, (const int64_t[]){Wv, 3, p, p}, err))
        return -1;
    /* [Wv, 3, p, p] is already [Wv, 3*p*p] row-major. */
    const vx_st_tensor *pw = vx_ckpt_find(m->ck, "vision_model.embeddings.patch_embedding.weight");
    if (pw->dtype == VX_DT_F32 && ((uintptr_t)pw->data & 3) == 0) m->patch_w = (const float *)(const void *)pw->data;
    else {
        float *d = vx_tf_own(&m->own, pw->numel * sizeof(float));
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
    if (vx_precision_packed(m->precision) &&
        !(m->q_patch = vx_qweight_new(m->patch_w, (int)Wv, (int)(3 * p * p), m->precision, err)))
        return vx_fail_prefix(err, "patch embedding");
    if (vx_tf_load_layers(&m->own, m->ck, m->precision, "vision_model.encoder.layers.", &clip_names, &c->vision,
                          m->vlayers, err) ||
        vx_tf_load_layers(&m->own, m->ck, m->precision, "text_model.encoder.layers.", &clip_names, &c->text,
                          m->tlayers, err))
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
    if (m->vlayers) vx_tf_free_layers(m->vlayers, m->cfg.vision.layers);
    if (m->tlayers) vx_tf_free_layers(m->tlayers, m->cfg.text.layers);
    vx_qweight_free(m->q_patch);
    vx_tf_owner_free(&m->own);
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

vx_clip_ctx *vx_clip_ctx_new(const vx_clip *m, int max_images, int max_tokens, vx_error *err) {
    const vx_clip_config *c = &m->cfg;
    if (max_images < 1) max_images = 1;
    if (max_tokens < c->context) max_tokens = c->context;
    vx_clip_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) { vx_fail(err, "out of memory"); return NULL; }
    ctx->m = m;
    ctx->run.threads = vx_precision_packed(m->precision) ? omp_get_max_threads() : 1; /* OpenBLAS threads itself */
    ctx->max_images = max_images;
    ctx->max_tokens = max_tokens;
    int pp = 3 * c->patch_size * c->patch_size;
    int pooled_rows = max_images > max_tokens / 2 ? max_images : max_tokens / 2;
    int wmax = c->vision.width > c->text.width ? c->vision.width : c->text.width;
    if (vx_tf_state_init(&ctx->vision, &c->vision, max_images * c->vision_tokens, c->vision_tokens, ctx->run.threads, &ctx->bytes) ||
        vx_tf_state_init(&ctx->text, &c->text, max_tokens, c->context, ctx->run.threads, &ctx->bytes) ||
        !(ctx->patches = alloc_floats(ctx, (size_t)max_images * c->grid * c->grid * pp)) ||
        !(ctx->pooled = alloc_floats(ctx, (size_t)pooled_rows * wmax)) ||
        !(ctx->ids = malloc((size_t)max_tokens * sizeof *ctx->ids))) {
        vx_clip_ctx_free(ctx);
        vx_fail(err, "out of memory for the encoder's activations (%d images, %d tokens)", max_images, max_tokens);
        return NULL;
    }
    if (vx_precision_packed(m->precision)) {
        const int vrows = max_images * c->vision_tokens, rows = vrows > max_tokens ? vrows : max_tokens;
        int k = c->vision.mlp > c->text.mlp ? c->vision.mlp : c->text.mlp;
        if (pp > k) k = pp;
        if (wmax > k) k = wmax;
        if (!(ctx->run.qr = vx_qrunner_new(rows, k, err))) {
            vx_clip_ctx_free(ctx);
            return NULL;
        }
        ctx->bytes += vx_qrunner_bytes(ctx->run.qr);
    }
    return ctx;
}

void vx_clip_ctx_free(vx_clip_ctx *ctx) {
    if (!ctx) return;
    vx_tf_state_free(&ctx->vision);
    vx_tf_state_free(&ctx->text);
    free(ctx->patches);
    free(ctx->pooled);
    free(ctx->ids);
    vx_qrunner_free(ctx->run.qr);
    free(ctx);
}

size_t vx_clip_ctx_bytes(const vx_clip_ctx *ctx) { return ctx->bytes; }

static void normalize_rows(float *x, int rows, int dim) {
    for (int r = 0; r < rows; r++) vx_normalize(x + (size_t)r * dim, (size_t)dim);
}

/* ---- vision tower -------------------------------------------------------------------- */

static void encode_image_chunk(vx_clip_ctx *ctx, const float *pixels, int n, float *out) {
    const vx_clip *m = ctx->m;
    const vx_clip_config *c = &m->cfg;
    const int W = c->vision.width, T = c->vision_tokens, G = c->grid, p = c->patch_size, S = c->image_size;
    const int NP = G * G, K = 3 * p * p;
    vx_tf_state *s = &ctx->vision;

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
        vx_tf_linear(&ctx->run, ctx->patches + (size_t)b * NP * K, NP, K, m->patch_w, m->q_patch, NULL, W, s->x + ((size_t)b * T + 1) * W,
               0, NULL);
    for (int b = 0; b < n; b++) {
        float *x = s->x + (size_t)b * T * W;
        for (int i = 0; i < W; i++) x[i] = m->class_emb[i] + m->vpos[i];
        for (size_t i = W; i < (size_t)T * W; i++) x[i] += m->vpos[i];
    }
    const int rows = n * T;
    vx_tf_layernorm(s->x, s->x, rows, W, m->pre_ln_w, m->pre_ln_b, c->vision.eps, ctx->run.threads);
    int starts[n], lens[n];
    for (int b = 0; b < n; b++) { starts[b] = b * T; lens[b] = T; }
    for (int l = 0; l < c->vision.layers; l++) vx_tf_block(&ctx->run, &m->vlayers[l], &c->vision, s, rows, starts, lens, n, 0);
    /* The class token of each image, post-LayerNorm, projected. */
    for (int b = 0; b < n; b++)
        vx_tf_layernorm(s->x + (size_t)b * T * W, ctx->pooled + (size_t)b * W, 1, W, m->post_ln_w, m->post_ln_b, c->vision.eps, ctx->run.threads);
    vx_tf_linear(&ctx->run, ctx->pooled, n, W, m->vproj, NULL, NULL, c->proj_dim, out, 0, NULL);
    normalize_rows(out, n, c->proj_dim);
}

int vx_clip_encode_images(vx_clip_ctx *ctx, const float *pixels, int n, float *out, vx_error *err) {
    const vx_clip_config *c = &ctx->m->cfg;
    if (n < 0) return vx_fail(err, "negative image count");
    const size_t image_floats = (size_t)3 * c->image_size * c->image_size;
    for (int done = 0; done < n; done += ctx->max_images) {
        int k = n - done < ctx->max_images ? n - done : ctx->max_images;
        encode_image_chunk(ctx, pixels + done * image_floats, k, out + (size_t)done * c->proj_dim);
        if (vx_tf_error(&ctx->run, err)) return -1;
    }
    return 0;
}

/* ---- text tower ---------------------------------------------------------------------- */

/* Encodes texts [first, first + n) whose total length fits the context's rows. */
static void encode_token_chunk(vx_clip_ctx *ctx, const int32_t *const *ids, const int *lens, int n, float *out) {
    const vx_clip *m = ctx->m;
    const vx_clip_config *c = &m->cfg;
    const int W = c->text.width;
    vx_tf_state *s = &ctx->text;
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
    for (int l = 0; l < c->text.layers; l++) vx_tf_block(&ctx->run, &m->tlayers[l], &c->text, s, rows, starts, lens, n, 1);
    /* The final LayerNorm is per position, so only the pooled positions need it. */
    for (int t = 0; t < n; t++)
        vx_tf_layernorm(s->x + (size_t)pool[t] * W, ctx->pooled + (size_t)t * W, 1, W, m->final_ln_w, m->final_ln_b, c->text.eps, ctx->run.threads);
    vx_tf_linear(&ctx->run, ctx->pooled, n, W, m->tproj, NULL, NULL, c->proj_dim, out, 0, NULL);
    normalize_rows(out, n, c->proj_dim);
}

static void run_token_chunk(void *ctx, const int32_t *const *ids, const int *lens, int n, float *out) {
    encode_token_chunk(ctx, ids, lens, n, out);
}

int vx_clip_encode_tokens(vx_clip_ctx *ctx, const int32_t *const *ids, const int *lens, int n, float *out,
                          vx_error *err) {
    const vx_clip_config *c = &ctx->m->cfg;
    return vx_tf_encode_runs(&ctx->run, ids, lens, n, c->context, c->vocab, ctx->max_tokens,
                             ctx->max_tokens / 2 /* pooled rows available */, run_token_chunk, ctx, out, c->proj_dim, err);
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
