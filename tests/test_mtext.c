/* The multilingual text tower (encoder/mtext.h) against PyTorch: a small DistilBERT with
 * random weights in the published sentence-transformers layout (torch.save files) and
 * the embeddings nn.TransformerEncoderLayer gave for 7 id sequences
 * (tests/golden/make_mtext_golden.py made both). F32 within 1e-4 of the reference;
 * BF16 and INT8, where this CPU runs them, at cosine >= 0.999. A batch gives what texts
 * one by one give; text goes through the WordPiece tokenizer; settings the tower does
 * not implement are refused with the reason. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/system.h"
#include "../encoder/mtext.h"
#include "check.h"

#define MODEL VIDX_SOURCE_DIR "/tests/golden/mtext/model"

static char *dir;

typedef struct golden {
    int n;
    int32_t *ids[16];
    int lens[16];
    float want[16][64];
} golden;

static void read_golden(golden *g) {
    memset(g, 0, sizeof *g);
    json_t *j = json_load_file(VIDX_SOURCE_DIR "/tests/golden/mtext/golden.json", 0, NULL);
    const json_t *cases = json_object_get(j, "cases"), *c;
    size_t i;
    json_array_foreach(cases, i, c) {
        const json_t *ids = json_object_get(c, "ids"), *emb = json_object_get(c, "embedding");
        g->lens[i] = (int)json_array_size(ids);
        g->ids[i] = malloc((size_t)g->lens[i] * sizeof(int32_t));
        for (int k = 0; k < g->lens[i]; k++) g->ids[i][k] = (int32_t)json_integer_value(json_array_get(ids, (size_t)k));
        for (size_t k = 0; k < json_array_size(emb) && k < 64; k++) g->want[i][k] = (float)json_real_value(json_array_get(emb, k));
        g->n++;
    }
    json_decref(j);
}

static void free_golden(golden *g) {
    for (int i = 0; i < g->n; i++) free(g->ids[i]);
}

static void test_against_torch(void) {
    golden g;
    read_golden(&g);
    REQUIRE(g.n == 7);
    static const vx_precision precisions[] = {VX_PRECISION_F32, VX_PRECISION_BF16, VX_PRECISION_INT8};
    for (int p = 0; p < 3; p++) {
        vx_error err;
        if (precisions[p] != VX_PRECISION_F32 && vx_precision_check(precisions[p], &err)) {
            printf("  %s: not on this CPU (%s)\n", vx_precision_name(precisions[p]), err.msg);
            continue;
        }
        vx_mtext *m = vx_mtext_load(MODEL, precisions[p], &err);
        REQUIRE_MSG(m, "%s", err.msg);
        const int D = vx_mtext_dim(m);
        REQUIRE(D == 16);
        vx_mtext_ctx *ctx = vx_mtext_ctx_new(m, 64, &err);
        REQUIRE_MSG(ctx, "%s", err.msg);
        /* All in one call (they share the activations' rows), then each alone. */
        float batch[16 * 16], one[16];
        REQUIRE_MSG(vx_mtext_encode_tokens(ctx, (const int32_t *const *)g.ids, g.lens, g.n, batch, &err) == 0, "%s", err.msg);
        double worst = 0, worst_cos = 1;
        for (int i = 0; i < g.n; i++) {
            REQUIRE(vx_mtext_encode_tokens(ctx, (const int32_t *const *)&g.ids[i], &g.lens[i], 1, one, &err) == 0);
            double dot = 0, diff = 0;
            for (int k = 0; k < D; k++) {
                dot += (double)batch[i * D + k] * g.want[i][k];
                const double d = fabs(batch[i * D + k] - g.want[i][k]);
                if (d > diff) diff = d;
                CHECK_MSG(fabsf(one[k] - batch[i * D + k]) < 1e-5f, "case %d: alone and in a batch differ", i);
            }
            if (diff > worst) worst = diff;
            if (dot < worst_cos) worst_cos = dot;
        }
        printf("  %s: max |diff| %.2e, min cosine %.6f against PyTorch\n", vx_precision_name(precisions[p]), worst, worst_cos);
        if (precisions[p] == VX_PRECISION_F32) CHECK_MSG(worst <= 1e-4, "F32: max |diff| %.3g", worst);
        else CHECK_MSG(worst_cos >= 0.999, "%s: cosine %.5f", vx_precision_name(precisions[p]), worst_cos);
        /* Text through the tokenizer: the ids of case 1 ("[CLS] 厨 房 里 的 鹦 鹉 [SEP]"). */
        const char *text = "厨房里的鹦鹉";
        float from_text[16];
        REQUIRE_MSG(vx_mtext_encode_texts(ctx, &text, 1, from_text, &err) == 0, "%s", err.msg);
        for (int k = 0; k < D; k++) CHECK(fabsf(from_text[k] - batch[1 * D + k]) < 1e-5f);
        vx_mtext_ctx_free(ctx);
        vx_mtext_free(m);
    }
    free_golden(&g);
}

/* The same model as the hub publishes it (safetensors; tests/golden/mtext/hub): the same
 * embeddings and the same identity as from the torch.save files. */
static void test_published_layout(void) {
    vx_error err;
    vx_mtext *a = vx_mtext_load(MODEL, VX_PRECISION_F32, &err), *b = vx_mtext_load(VIDX_SOURCE_DIR "/tests/golden/mtext/hub", VX_PRECISION_F32, &err);
    REQUIRE_MSG(a && b, "%s", err.msg);
    CHECK(vx_mtext_fingerprint(a) == vx_mtext_fingerprint(b));
    vx_mtext_ctx *ca = vx_mtext_ctx_new(a, 64, &err), *cb = vx_mtext_ctx_new(b, 64, &err);
    REQUIRE(ca && cb);
    const char *text = "Кошка играет, the parrot";
    float ea[16], eb[16];
    REQUIRE(vx_mtext_encode_texts(ca, &text, 1, ea, &err) == 0 && vx_mtext_encode_texts(cb, &text, 1, eb, &err) == 0);
    for (int k = 0; k < 16; k++) CHECK(ea[k] == eb[k]);
    vx_mtext_ctx_free(ca);
    vx_mtext_ctx_free(cb);
    vx_mtext_free(a);
    vx_mtext_free(b);
}

/* A copy of the model folder with one config file replaced: refused, saying why. */
static void refused_with(const char *file, const char *json, const char *why) {
    char cmd[8192], path[4096];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/m' && cp -r '%s' '%s/m'", dir, MODEL, dir);
    REQUIRE(system(cmd) == 0);
    snprintf(path, sizeof path, "%s/m/%s", dir, file);
    vx_error err;
    if (json) REQUIRE(vx_write_file_atomic(path, json, strlen(json), &err) == 0);
    else remove(path);
    snprintf(path, sizeof path, "%s/m", dir);
    vx_mtext *m = vx_mtext_load(path, VX_PRECISION_F32, &err);
    CHECK_MSG(!m && strstr(err.msg, why), "%s: want \"%s\" in \"%s\"", file, why, m ? "(loaded)" : err.msg);
    vx_mtext_free(m);
}

static void test_refused(void) {
    refused_with("modules.json", NULL, "(modules.json is missing): get sentence-transformers/clip-ViT-B-32-multilingual-v1");
    refused_with("1_Pooling/config.json", "{\"word_embedding_dimension\": 32, \"pooling_mode_cls_token\": true}",
                 "not mean pooling");
    refused_with("2_Dense/config.json",
                 "{\"in_features\": 32, \"out_features\": 16, \"bias\": true, \"activation_function\": \"x.Identity\"}",
                 "bias");
    refused_with("2_Dense/config.json",
                 "{\"in_features\": 32, \"out_features\": 16, \"bias\": false, \"activation_function\": \"torch.nn.Tanh\"}",
                 "Tanh");
    refused_with("config.json", "{\"model_type\": \"bert\"}", "not the multilingual DistilBERT");
    refused_with("config.json", "{\"dim\": 32, \"n_layers\": 2, \"n_heads\": 4, \"hidden_dim\": 64, "
                                "\"max_position_embeddings\": 40, \"vocab_size\": 512, \"sinusoidal_pos_embds\": true}",
                 "sinusoidal");
    refused_with("config.json", "{\"dim\": 32, \"n_layers\": 2, \"n_heads\": 4, \"hidden_dim\": 64, "
                                "\"max_position_embeddings\": 40, \"vocab_size\": 600}",
                 "embeddings.word_embeddings.weight");
    refused_with("modules.json", "[{\"type\": \"sentence_transformers.models.Transformer\", \"path\": \"\"},"
                                 "{\"type\": \"sentence_transformers.models.Pooling\", \"path\": \"../etc\"},"
                                 "{\"type\": \"sentence_transformers.models.Dense\", \"path\": \"2_Dense\"}]",
                 "folder of its own");
}

int main(void) {
    dir = test_tmpdir("mtext");
    RUN(test_against_torch);
    RUN(test_published_layout);
    RUN(test_refused);
    test_rmtree(dir);
    free(dir);
    CHECK_EXIT();
}
