#include "mtext.h"

#include <jansson.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "../common/log.h"
#include "../common/path.h"
#include "../common/vecmath.h"
#include "checkpoint.h"
#include "transformer.h"

#define LN_EPS 1e-12f /* DistilBERT's LayerNorms (fixed in its code, not in the config) */

struct vx_mtext {
    vx_tower_config cfg;   /* post-LN, GELU */
    int vocab, positions;  /* config.json */
    int max_tokens;        /* sentence_bert_config.json max_seq_length, within positions */
    int out_dim;           /* the Dense layer's */
    vx_precision precision;
    uint64_t fingerprint;
    vx_checkpoint *ck, *dense_ck;
    vx_wordpiece *tok;
    vx_tf_owner own;
    const float *word_emb;   /* [vocab, W] */
    const float *pos_emb;    /* [positions, W] */
    const float *emb_ln_w, *emb_ln_b;
    vx_tf_layer *layers;
    const float *dense_w;    /* [out_dim, W] */
};

struct vx_mtext_ctx {
    const vx_mtext *m;
    int max_tokens;
    vx_tf_state s;
    vx_tf_runner run;
    float *pooled; /* [max_tokens / 2, W] */
    int32_t *ids;  /* [max_tokens] */
    size_t bytes;
};

/* ---- the folder's configs ------------------------------------------------------------------- */

static json_t *load_json(const char *dir, const char *name, int required, vx_error *err) {
    vx_path path;
    if (vx_path_fmt(path, err, "%s/%s", dir, name)) return NULL;
    json_error_t jerr;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!j && required) vx_fail(err, "%s: %s", path, jerr.text);
    else if (j && !json_is_object(j) && !json_is_array(j)) {
        vx_fail(err, "%s: not a JSON object", path);
        json_decref(j);
        return NULL;
    }
    return j;
}

static int get_int(const json_t *o, const char *key, int def, int lo, int hi, const char *file, int *out, vx_error *err) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) { *out = def; return 0; }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return vx_fail(err, "%s: %s must be an integer from %d to %d", file, key, lo, hi);
    *out = (int)json_integer_value(v);
    return 0;
}

/* config.json: DistilBertConfig, with its defaults. */
static int read_config(vx_mtext *m, const json_t *c, vx_error *err) {
    const char *type = json_string_value(json_object_get(c, "model_type"));
    if (type && strcmp(type, "distilbert") != 0)
        return vx_fail(err, "config.json describes a \"%s\" model, not the multilingual DistilBERT", type);
    vx_tower_config *t = &m->cfg;
    if (get_int(c, "dim", 768, 8, 8192, "config.json", &t->width, err) ||
        get_int(c, "n_layers", 6, 1, 64, "config.json", &t->layers, err) ||
        get_int(c, "n_heads", 12, 1, 128, "config.json", &t->heads, err) ||
        get_int(c, "hidden_dim", 3072, 1, 65536, "config.json", &t->mlp, err) ||
        get_int(c, "max_position_embeddings", 512, 2, 8192, "config.json", &m->positions, err) ||
        get_int(c, "vocab_size", 30522, 3, 1 << 22, "config.json", &m->vocab, err))
        return -1;
    if (t->width % t->heads) return vx_fail(err, "config.json: dim %d is not a multiple of n_heads %d", t->width, t->heads);
    const char *act = json_string_value(json_object_get(c, "activation"));
    if (act && strcmp(act, "gelu") != 0) return vx_fail(err, "config.json: activation \"%s\" is not read (gelu)", act);
    if (json_is_true(json_object_get(c, "sinusoidal_pos_embds")))
        return vx_fail(err, "config.json: sinusoidal position embeddings are not read");
    t->act = VX_ACT_GELU;
    t->eps = LN_EPS;
    t->post_ln = 1;
    return 0;
}

/* A module's folder from modules.json: a plain name inside the model folder. */
static int module_path(const json_t *modules, const char *type, int index, const char **out, vx_error *err) {
    const json_t *mod = json_array_get(modules, (size_t)index);
    const char *t = json_string_value(json_object_get(mod, "type")), *p = json_string_value(json_object_get(mod, "path"));
    if (!t || !p || !strstr(t, type))
        return vx_fail(err, "modules.json: module %d is not sentence-transformers' %s", index, type);
    if (strchr(p, '/') || strcmp(p, "..") == 0 || (index > 0 && (!*p || strcmp(p, ".") == 0)) || (index == 0 && *p))
        return vx_fail(err, "modules.json: module %d's path \"%.64s\" is not a folder of its own in the model's", index, p);
    *out = p;
    return 0;
}

/* Pooling: the mean of every token's output, nothing else. */
static int read_pooling(vx_mtext *m, const json_t *p, vx_error *err) {
    static const char *const others[] = {"pooling_mode_cls_token", "pooling_mode_max_tokens",
                                         "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                                         "pooling_mode_lasttoken"};
    int dim;
    if (get_int(p, "word_embedding_dimension", m->cfg.width, 1, 1 << 20, "pooling config", &dim, err)) return -1;
    if (dim != m->cfg.width) return vx_fail(err, "pooling config: dimension %d, the model's is %d", dim, m->cfg.width);
    if (!json_is_true(json_object_get(p, "pooling_mode_mean_tokens")))
        return vx_fail(err, "pooling config: not mean pooling (the only pooling read)");
    for (size_t i = 0; i < sizeof others / sizeof *others; i++)
        if (json_is_true(json_object_get(p, others[i]))) return vx_fail(err, "pooling config: %s is not read", others[i]);
    return 0;
}

/* Dense: the model's width -> the image space, no bias, no activation. */
static int read_dense(vx_mtext *m, const json_t *d, vx_error *err) {
    int in = 0;
    if (get_int(d, "in_features", 0, 1, 1 << 20, "dense config", &in, err) ||
        get_int(d, "out_features", 0, 1, 1 << 16, "dense config", &m->out_dim, err))
        return -1;
    if (in != m->cfg.width) return vx_fail(err, "dense config: in_features %d, the model's width is %d", in, m->cfg.width);
    if (!json_is_false(json_object_get(d, "bias"))) return vx_fail(err, "dense config: a bias is not read (bias: false)");
    const char *act = json_string_value(json_object_get(d, "activation_function"));
    if (!act || !strstr(act, "Identity")) return vx_fail(err, "dense config: activation \"%s\" is not read (Identity)", act ? act : "?");
    return 0;
}

/* ---- loading ------------------------------------------------------------------------------- */

/* DistilBERT's names of a block's tensors. */
static const vx_tf_names distilbert_names = {"sa_layer_norm",     "output_layer_norm", "attention.q_lin", "attention.k_lin",
                                             "attention.v_lin",   "attention.out_lin", "ffn.lin1",        "ffn.lin2"};

static int load_weights(vx_mtext *m, vx_error *err) {
    const int64_t W = m->cfg.width;
    /* DistilBertModel's names, or DistilBertFor*'s under "distilbert.". */
    const char *prefix = vx_ckpt_find(m->ck, "embeddings.word_embeddings.weight") ? "" : "distilbert.";
    char name[256], layers[128];
#define T(suffix, ...) \
    vx_tf_tensor(&m->own, m->ck, (snprintf(name, sizeof name, "%s%s", prefix, suffix), name), \
                 (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]){__VA_ARGS__}, err)
    if (!(m->word_emb = T("embeddings.word_embeddings.weight", m->vocab, W)) ||
        !(m->pos_emb = T("embeddings.position_embeddings.weight", m->positions, W)) ||
        !(m->emb_ln_w = T("embeddings.LayerNorm.weight", W)) || !(m->emb_ln_b = T("embeddings.LayerNorm.bias", W)))
        return -1;
#undef T
    snprintf(layers, sizeof layers, "%stransformer.layer.", prefix);
    if (!(m->layers = vx_tf_own(&m->own, (size_t)m->cfg.layers * sizeof *m->layers))) return vx_fail(err, "out of memory");
    if (vx_tf_load_layers(&m->own, m->ck, m->precision, layers, &distilbert_names, &m->cfg, m->layers, err)) return -1;
    if (!(m->dense_w = vx_tf_tensor(&m->own, m->dense_ck, "linear.weight", 2, (const int64_t[]){m->out_dim, W}, err)))
        return -1;
    return 0;
}

/* The configs' bytes and both checkpoints' weight hashes. */
static void fingerprint(vx_mtext *m, const char *dir, const char *dense_dir) {
    XXH3_state_t *st = XXH3_createState();
    if (!st) return;
    XXH3_64bits_reset(st);
    const char *files[2][2] = {{dir, "config.json"}, {dense_dir, "config.json"}};
    for (int i = 0; i < 2; i++) {
        vx_path path;
        FILE *f = vx_path_fmt(path, NULL, "%s/%s", files[i][0], files[i][1]) ? NULL : fopen(path, "rb");
        char buf[4096];
        size_t n;
        while (f && (n = fread(buf, 1, sizeof buf, f)) > 0) XXH3_64bits_update(st, buf, n);
        if (f) fclose(f);
    }
    const uint64_t w[2] = {vx_ckpt_weights_hash(m->ck), vx_ckpt_weights_hash(m->dense_ck)};
    XXH3_64bits_update(st, w, sizeof w);
    m->fingerprint = XXH3_64bits_digest(st);
    XXH3_freeState(st);
}

vx_mtext *vx_mtext_load(const char *dir, vx_precision precision, vx_error *err) {
    vx_path probe;
    struct stat sb;
    if (vx_path_fmt(probe, err, "%s/modules.json", dir)) return NULL;
    if (stat(probe, &sb) != 0) {
        vx_fail(err, "no multilingual text tower at %s (%s): get sentence-transformers/clip-ViT-B-32-multilingual-v1 "
                     "with `scripts/download_model.sh --text-model %s` (needs internet), or point --text-model or "
                     "VIDX_TEXT_MODEL at a folder holding it; without it CLIP's own text tower answers, in English",
                dir, stat(dir, &sb) == 0 ? "modules.json is missing" : "no such folder", dir);
        return NULL;
    }
    vx_mtext *m = calloc(1, sizeof *m);
    json_t *modules = NULL, *config = NULL, *sbert = NULL, *pooling = NULL, *dense = NULL;
    vx_path pool_dir, dense_dir;
    const char *pool_path, *dense_path;
    if (!m) { vx_fail(err, "out of memory"); return NULL; }
    m->precision = precision;
    int rc = -1;
    if (vx_precision_check(precision, err) || !(modules = load_json(dir, "modules.json", 1, err)) ||
        !(config = load_json(dir, "config.json", 1, err)))
        goto done;
    const char *transformer_path;
    if (!json_is_array(modules) || json_array_size(modules) != 3) {
        vx_fail(err, "modules.json: not the three modules Transformer, Pooling, Dense");
        goto done;
    }
    if (module_path(modules, "Transformer", 0, &transformer_path, err) ||
        module_path(modules, "Pooling", 1, &pool_path, err) || module_path(modules, "Dense", 2, &dense_path, err))
        goto done;
    if (vx_path_fmt(pool_dir, err, "%s/%s", dir, pool_path) || vx_path_fmt(dense_dir, err, "%s/%s", dir, dense_path) ||
        read_config(m, config, err) || !(pooling = load_json(pool_dir, "config.json", 1, err)) ||
        read_pooling(m, pooling, err) || !(dense = load_json(dense_dir, "config.json", 1, err)) || read_dense(m, dense, err))
        goto done;
    /* sentence-transformers cuts texts at max_seq_length (128 for this model). */
    sbert = load_json(dir, "sentence_bert_config.json", 0, err);
    if (get_int(sbert, "max_seq_length", m->positions, 2, m->positions, "sentence_bert_config.json", &m->max_tokens, err))
        goto done;
    if (!(m->ck = vx_ckpt_open(dir, err)) || !(m->dense_ck = vx_ckpt_open(dense_dir, err)) || load_weights(m, err))
        goto done;
    if (!(m->tok = vx_wordpiece_load(dir, err))) goto done;
    if (vx_wordpiece_vocab_size(m->tok) > m->vocab) {
        vx_fail(err, "the tokenizer has %d pieces, more than config.json's vocab_size %d", vx_wordpiece_vocab_size(m->tok),
                m->vocab);
        goto done;
    }
    fingerprint(m, dir, dense_dir);
    vx_debug("loaded the multilingual text tower %s at %s: %d layers of %d, %d pieces, %d tokens, into %d", dir,
             vx_precision_name(precision), m->cfg.layers, m->cfg.width, m->vocab, m->max_tokens, m->out_dim);
    rc = 0;
done:
    json_decref(modules);
    json_decref(config);
    json_decref(sbert);
    json_decref(pooling);
    json_decref(dense);
    if (rc) {
        vx_fail_prefix(err, "multilingual text tower at %s", dir);
        vx_mtext_free(m);
        return NULL;
    }
    return m;
}

void vx_mtext_free(vx_mtext *m) {
    if (!m) return;
    if (m->layers) vx_tf_free_layers(m->layers, m->cfg.layers);
    vx_tf_owner_free(&m->own);
    vx_ckpt_close(m->ck);
    vx_ckpt_close(m->dense_ck);
    vx_wordpiece_free(m->tok);
    free(m);
}

int vx_mtext_dim(const vx_mtext *m) { return m->out_dim; }
int vx_mtext_max_tokens(const vx_mtext *m) { return m->max_tokens; }
const vx_wordpiece *vx_mtext_tokenizer(const vx_mtext *m) { return m->tok; }
uint64_t vx_mtext_fingerprint(const vx_mtext *m) { return m->fingerprint; }

/* ---- running ------------------------------------------------------------------------------- */

vx_mtext_ctx *vx_mtext_ctx_new(const vx_mtext *m, int max_tokens, vx_error *err) {
    if (max_tokens < m->max_tokens) max_tokens = m->max_tokens;
    vx_mtext_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) { vx_fail(err, "out of memory"); return NULL; }
    ctx->m = m;
    ctx->max_tokens = max_tokens;
    ctx->run.threads = vx_precision_packed(m->precision) ? omp_get_max_threads() : 1; /* OpenBLAS threads itself */
    const int W = m->cfg.width, pooled = max_tokens / 2;
    ctx->pooled = malloc((size_t)pooled * W * sizeof(float));
    ctx->ids = malloc((size_t)max_tokens * sizeof *ctx->ids);
    ctx->bytes = (size_t)pooled * W * sizeof(float) + (size_t)max_tokens * sizeof *ctx->ids;
    if (!ctx->pooled || !ctx->ids || vx_tf_state_init(&ctx->s, &m->cfg, max_tokens, m->max_tokens, ctx->run.threads, &ctx->bytes)) {
        vx_fail(err, "out of memory for the multilingual tower's activations (%d tokens)", max_tokens);
        vx_mtext_ctx_free(ctx);
        return NULL;
    }
    if (vx_precision_packed(m->precision) && !(ctx->run.qr = vx_qrunner_new(max_tokens, m->cfg.mlp > W ? m->cfg.mlp : W, err))) {
        vx_mtext_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

void vx_mtext_ctx_free(vx_mtext_ctx *ctx) {
    if (!ctx) return;
    vx_tf_state_free(&ctx->s);
    vx_qrunner_free(ctx->run.qr);
    free(ctx->pooled);
    free(ctx->ids);
    free(ctx);
}

/* Texts whose ids fit the context's rows: embeddings, blocks, the mean of each text's
 * outputs, the Dense layer, normalised. */
static void encode_chunk(vx_mtext_ctx *ctx, const int32_t *const *ids, const int *lens, int n, float *out) {
    const vx_mtext *m = ctx->m;
    const int W = m->cfg.width;
    vx_tf_state *s = &ctx->s;
    int starts[n], rows = 0;
    for (int t = 0; t < n; t++) {
        starts[t] = rows;
        for (int i = 0; i < lens[t]; i++) {
            float *x = s->x + (size_t)(rows + i) * W;
            const float *e = m->word_emb + (size_t)ids[t][i] * W, *p = m->pos_emb + (size_t)i * W;
            for (int j = 0; j < W; j++) x[j] = e[j] + p[j];
        }
        rows += lens[t];
    }
    vx_tf_layernorm(s->x, s->x, rows, W, m->emb_ln_w, m->emb_ln_b, m->cfg.eps, ctx->run.threads);
    for (int l = 0; l < m->cfg.layers; l++) vx_tf_block(&ctx->run, &m->layers[l], &m->cfg, s, rows, starts, lens, n, 0);
    for (int t = 0; t < n; t++) {
        float *p = ctx->pooled + (size_t)t * W;
        memset(p, 0, (size_t)W * sizeof *p);
        for (int i = 0; i < lens[t]; i++) {
            const float *x = s->x + (size_t)(starts[t] + i) * W;
            for (int j = 0; j < W; j++) p[j] += x[j];
        }
        const float inv = 1.0f / (float)lens[t];
        for (int j = 0; j < W; j++) p[j] *= inv;
    }
    vx_tf_linear(&ctx->run, ctx->pooled, n, W, m->dense_w, NULL, NULL, m->out_dim, out, 0, NULL);
    for (int t = 0; t < n; t++) vx_normalize(out + (size_t)t * m->out_dim, (size_t)m->out_dim);
}

static void run_chunk(void *ctx, const int32_t *const *ids, const int *lens, int n, float *out) {
    encode_chunk(ctx, ids, lens, n, out);
}

int vx_mtext_encode_tokens(vx_mtext_ctx *ctx, const int32_t *const *ids, const int *lens, int n, float *out,
                           vx_error *err) {
    const vx_mtext *m = ctx->m;
    return vx_tf_encode_runs(&ctx->run, ids, lens, n, m->max_tokens, m->vocab, ctx->max_tokens, ctx->max_tokens / 2,
                             run_chunk, ctx, out, m->out_dim, err);
}

int vx_mtext_encode_texts(vx_mtext_ctx *ctx, const char *const *texts, int n, float *out, vx_error *err) {
    const vx_mtext *m = ctx->m;
    for (int t = 0; t < n; t++) {
        const int32_t *ptr = ctx->ids;
        const int len = vx_wordpiece_encode(m->tok, texts[t], ctx->ids, m->max_tokens, err);
        if (len < 0) return vx_fail_prefix(err, "text %d", t);
        if (vx_mtext_encode_tokens(ctx, &ptr, &len, 1, out + (size_t)t * m->out_dim, err)) return -1;
    }
    return 0;
}
