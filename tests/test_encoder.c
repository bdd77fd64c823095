/* Encoder tests: the tokenizer and both towers against OpenAI's own CLIP outputs
 * (../shared/data/clip-golden), preprocessing against Pillow, weight formats, model
 * sizes and the validation of broken model folders.
 *
 * Environment: VIDX_SHARED_DATA (the shared data folder), VIDX_TEST_MODELS (models made
 * by make_random_clip in the CTest fixture). */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "../encoder/clip.h"
#include "../encoder/clip_gemm.h"
#include "../encoder/image.h"
#include "../encoder/safetensors.h"
#include "../encoder/tokenizer.h"
#include "../encoder/torchfile.h"
#include "../indexer/decode.h"
#include "check.h"

static char shared[4096], models[4096];

static void path_of(char *out, size_t size, const char *base, const char *rel) { snprintf(out, size, "%s/%s", base, rel); }

/* Reads whitespace-separated floats, one row per line; returns rows read. */
static int read_rows(const char *path, float *out, int max_rows, int dim) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int rows = 0;
    char *line = NULL;
    size_t cap = 0;
    while (rows < max_rows && getline(&line, &cap, f) > 0) {
        char *p = line;
        for (int i = 0; i < dim; i++) out[(size_t)rows * dim + i] = strtof(p, &p);
        rows++;
    }
    free(line);
    fclose(f);
    return rows;
}

/* ---- tokenizer ----------------------------------------------------------------------- */

/* Tokenizes every line of texts_file and compares with the lines of tokens_file. */
static int check_token_file(const vx_tokenizer *tok, const char *texts_file, const char *tokens_file) {
    FILE *ft = fopen(texts_file, "r"), *fk = fopen(tokens_file, "r");
    if (!ft || !fk) {
        fprintf(stderr, "cannot open %s or %s\n", texts_file, tokens_file);
        if (ft) fclose(ft);
        if (fk) fclose(fk);
        return -1;
    }
    char *text = NULL, *want = NULL;
    size_t c1 = 0, c2 = 0;
    int lines = 0, bad = 0;
    int32_t ids[77];
    vx_error err;
    ssize_t n;
    while ((n = getline(&text, &c1, ft)) > 0) {
        if (text[n - 1] == '\n') text[n - 1] = '\0';
        if (getline(&want, &c2, fk) <= 0) { bad++; break; }
        want[strcspn(want, "\n")] = '\0';
        int k = vx_tokenize(tok, text, ids, 77, &err);
        char got[77 * 8] = "";
        size_t o = 0;
        for (int i = 0; i < k; i++) o += (size_t)snprintf(got + o, sizeof got - o, i ? " %d" : "%d", (int)ids[i]);
        if (strcmp(got, want) != 0) {
            if (bad++ < 3) fprintf(stderr, "  \"%s\"\n    got  %s\n    want %s\n", text, got, want);
        }
        lines++;
    }
    free(text);
    free(want);
    fclose(ft);
    fclose(fk);
    return bad ? -1 : lines;
}

static int tokens_equal(const vx_tokenizer *tok, const char *a, const char *b) {
    int32_t x[77], y[77];
    vx_error err;
    int n = vx_tokenize(tok, a, x, 77, &err), m = vx_tokenize(tok, b, y, 77, &err);
    return n > 0 && n == m && memcmp(x, y, (size_t)n * sizeof *x) == 0;
}

static void test_tokenizer_golden(void) {
    char dir[4200], texts[4200], tokens[4200];
    vx_error err;
    path_of(dir, sizeof dir, shared, "clip-golden/tiny");
    vx_tokenizer *hf = vx_tokenizer_load(dir, &err);
    REQUIRE(hf);
    path_of(dir, sizeof dir, shared, "clip/bpe_simple_vocab_16e6.txt.gz");
    vx_tokenizer *gz = vx_tokenizer_load_bpe_gz(dir, &err);
    REQUIRE(gz);
    CHECK(vx_tokenizer_vocab_size(hf) == 49408 && vx_tokenizer_vocab_size(gz) == 49408);
    CHECK(vx_tokenizer_sot(hf) == 49406 && vx_tokenizer_eot(hf) == 49407);
    /* Both sources give the same vocabulary, id for id. */
    int same = 1;
    for (int i = 0; i < 49408; i++) same &= strcmp(vx_tokenizer_token(hf, i), vx_tokenizer_token(gz, i)) == 0;
    CHECK(same);

    int32_t ids[77];
    int n = vx_tokenize(hf, "Hello World!", ids, 77, &err);
    CHECK(n == 5 && ids[0] == 49406 && ids[1] == 3306 && ids[2] == 1002 && ids[3] == 256 && ids[4] == 49407);

    path_of(texts, sizeof texts, shared, "clip-golden/texts.txt");
    path_of(tokens, sizeof tokens, shared, "clip-golden/tokens.txt");
    CHECK(check_token_file(hf, texts, tokens) == 154);
    /* Every shared caption (MSR-VTT and MSVD), with both tokenizer sources. */
    path_of(texts, sizeof texts, shared, "clip-golden/captions_all.txt");
    path_of(tokens, sizeof tokens, shared, "clip-golden/captions_all.tokens.txt");
    CHECK(check_token_file(hf, texts, tokens) == 28763);
    CHECK(check_token_file(gz, texts, tokens) == 28763);
    vx_tokenizer_free(hf);
    vx_tokenizer_free(gz);
}

static void test_tokenizer_cleanup(void) {
    char dir[4200];
    vx_error err;
    path_of(dir, sizeof dir, shared, "clip-golden/tiny");
    vx_tokenizer *t = vx_tokenizer_load(dir, &err);
    REQUIRE(t);
    int32_t ids[77];
    /* Whitespace runs collapse and the ends are trimmed; case does not matter. */
    CHECK(tokens_equal(t, "  Hello\t\n   World!  ", "Hello World!"));
    CHECK(tokens_equal(t, "HELLO WORLD!", "hello world!"));
    CHECK(tokens_equal(t, "a\xc2\xa0" "dog", "a dog")); /* no-break space is whitespace */
    /* HTML entities, unescaped twice as simple_tokenizer.py does. */
    CHECK(tokens_equal(t, "rock &amp; roll", "rock & roll"));
    CHECK(tokens_equal(t, "rock &amp;amp; roll", "rock & roll"));
    CHECK(tokens_equal(t, "it&#39;s", "it's"));
    CHECK(tokens_equal(t, "it&#x27;s", "it's"));
    CHECK(tokens_equal(t, "caf&eacute;", "caf\xc3\xa9"));
    CHECK(!tokens_equal(t, "caf&eacute;", "cafe"));
    CHECK(tokens_equal(t, "&unknownentity;", "&unknownentity;"));
    /* Non-ASCII letters are lower-cased too. */
    CHECK(tokens_equal(t, "CAF\xc3\x89", "caf\xc3\xa9"));
    CHECK(tokens_equal(t, "\xd0\x9c\xd0\x9e\xd0\xa1\xd0\x9a\xd0\x92\xd0\x90", "\xd0\xbc\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0"));
    /* Digits are split one by one, each a word of its own. */
    CHECK(vx_tokenize(t, "2024", ids, 77, &err) == 6);
    /* The special tokens written in the text are the special ids, as in CLIP. */
    int n = vx_tokenize(t, "a <|endoftext|> b", ids, 77, &err);
    CHECK(n == 5 && ids[2] == 49407);
    /* Long texts are cut to the context with the end token kept. */
    char longtext[4000] = "";
    for (int i = 0; i < 300; i++) strcat(longtext, "dog ");
    n = vx_tokenize(t, longtext, ids, 77, &err);
    CHECK(n == 77 && ids[0] == 49406 && ids[76] == 49407 && ids[75] != 49407);
    CHECK(vx_tokenize(t, "", ids, 77, &err) == 2);
    /* A 10 MB text costs a pass over its bytes, not a BPE of all of it. */
    size_t big = 10u << 20;
    char *huge = malloc(big + 1);
    for (size_t i = 0; i < big; i++) huge[i] = "ab cd&amp; "[i % 11];
    huge[big] = '\0';
    n = vx_tokenize(t, huge, ids, 77, &err);
    CHECK(n == 77 && ids[76] == 49407);
    free(huge);
    CHECK(vx_tokenize(t, "   ", ids, 77, &err) == 2);
    /* Invalid UTF-8 is refused with a message. */
    err.msg[0] = '\0';
    CHECK(vx_tokenize(t, "bad \xff byte", ids, 77, &err) == -1 && strstr(err.msg, "UTF-8"));
    CHECK(vx_tokenize(t, "overlong \xc0\xaf", ids, 77, &err) == -1);
    CHECK(vx_tokenize(t, "surrogate \xed\xa0\x80", ids, 77, &err) == -1);
    CHECK(vx_tokenize(t, "x", ids, 1, &err) == -1);
    vx_tokenizer_free(t);
}

/* ---- towers against OpenAI's outputs ------------------------------------------------- */

static float max_abs_diff(const float *a, const float *b, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

static float dot(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (float)s;
}

static vx_clip *golden_model(void) {
    char dir[4200];
    vx_error err;
    path_of(dir, sizeof dir, shared, "clip-golden/tiny");
    vx_clip *m = vx_clip_load(dir, &err);
    if (!m) fprintf(stderr, "load: %s\n", err.msg);
    return m;
}

static void test_text_golden(void) {
    vx_clip *m = golden_model();
    REQUIRE(m);
    vx_error err;
    const int P = vx_clip_get_config(m)->proj_dim;
    CHECK(P == 32);
    char path[4200];
    path_of(path, sizeof path, shared, "clip-golden/texts.txt");
    char *all = test_read_file(path, NULL);
    REQUIRE(all);
    const char *texts[200];
    int n = 0;
    for (char *line = strtok(all, "\n"); line && n < 200; line = strtok(NULL, "\n")) texts[n++] = line;
    CHECK(n == 154);
    float *want = malloc((size_t)n * P * sizeof *want), *got = malloc((size_t)n * P * sizeof *got);
    path_of(path, sizeof path, shared, "clip-golden/text_embeddings.txt");
    CHECK(read_rows(path, want, n, P) == n);
    /* A context smaller than the batch, so chunking is exercised too. */
    vx_clip_ctx *ctx = vx_clip_ctx_new(m, 2, 300, &err);
    REQUIRE(ctx);
    CHECK(vx_clip_encode_texts(ctx, texts, n, got, &err) == 0);
    float d = max_abs_diff(got, want, (size_t)n * P);
    fprintf(stderr, "  text embeddings: max |diff| %.3g over %d texts\n", (double)d, n);
    CHECK(d <= 1e-5f);
    /* One at a time gives the same as the batch: texts do not leak into each other. */
    float one[64];
    for (int i = 0; i < n; i += 17) {
        CHECK(vx_clip_encode_texts(ctx, texts + i, 1, one, &err) == 0);
        CHECK(max_abs_diff(one, got + (size_t)i * P, (size_t)P) <= 1e-6f);
    }
    vx_clip_ctx_free(ctx);
    vx_clip_free(m);
    free(want);
    free(got);
    free(all);
}

static void test_pixels_and_images_golden(void) {
    vx_clip *m = golden_model();
    REQUIRE(m);
    vx_error err;
    const vx_clip_config *c = vx_clip_get_config(m);
    const int P = c->proj_dim, S = c->image_size;
    char path[4200];
    size_t len;
    path_of(path, sizeof path, shared, "clip-golden/pixels.f32");
    float *pixels = (float *)test_read_file(path, &len);
    REQUIRE(pixels && len == (size_t)3 * 3 * S * S * sizeof(float));
    float want[3 * 32], got[3 * 32], single[32];
    path_of(path, sizeof path, shared, "clip-golden/pixel_embeddings.txt");
    CHECK(read_rows(path, want, 3, P) == 3);
    vx_clip_ctx *ctx = vx_clip_ctx_new(m, 3, 77, &err);
    REQUIRE(ctx);
    CHECK(vx_clip_encode_images(ctx, pixels, 3, got, &err) == 0);
    float d = max_abs_diff(got, want, 3 * (size_t)P);
    fprintf(stderr, "  pixel embeddings: max |diff| %.3g\n", (double)d);
    CHECK(d <= 1e-5f);
    for (int i = 0; i < 3; i++) { /* batch of one = batch of three */
        CHECK(vx_clip_encode_images(ctx, pixels + (size_t)i * 3 * S * S, 1, single, &err) == 0);
        CHECK(max_abs_diff(single, got + i * P, (size_t)P) <= 1e-6f);
    }

    /* Real frames through FFmpeg decoding and our preprocessing. */
    static const char *const images[2] = {"clip-golden/bikes.png", "clip-golden/cars.jpg"};
    path_of(path, sizeof path, shared, "clip-golden/image_embeddings.txt");
    CHECK(read_rows(path, want, 2, P) == 2);
    float *pre = malloc((size_t)3 * S * S * sizeof *pre);
    for (int i = 0; i < 2; i++) {
        vx_rgb_image img;
        path_of(path, sizeof path, shared, images[i]);
        REQUIRE(vx_decode_image_file(path, &img, &err) == 0);
        CHECK(vx_image_preprocess(&img, S, pre, &err) == 0);
        CHECK(vx_clip_encode_images(ctx, pre, 1, single, &err) == 0);
        float cos = dot(single, want + i * P, P);
        fprintf(stderr, "  %s: cosine %.7f to OpenAI's preprocessing\n", images[i], (double)cos);
        CHECK(cos > 0.999f);
        vx_rgb_free(&img);
    }
    free(pre);
    vx_clip_ctx_free(ctx);
    vx_clip_free(m);
    free(pixels);
}

/* ---- preprocessing ------------------------------------------------------------------- */

static void test_preprocess_geometry(void) {
    int w, h;
    vx_clip_resize_dims(640, 480, 224, &w, &h);
    CHECK(w == 298 && h == 224); /* int(224 * 640 / 480) = 298 */
    vx_clip_resize_dims(480, 640, 224, &w, &h);
    CHECK(w == 224 && h == 298);
    vx_clip_resize_dims(100, 100, 224, &w, &h);
    CHECK(w == 224 && h == 224);
    /* A flat colour stays flat: every value is (v / 255 - mean) / std. */
    vx_rgb_image img = {.width = 37, .height = 51, .stride = 37 * 3};
    img.data = malloc((size_t)img.stride * img.height);
    for (int i = 0; i < img.stride * img.height; i += 3) { img.data[i] = 200; img.data[i + 1] = 100; img.data[i + 2] = 0; }
    float *out = malloc((size_t)3 * 224 * 224 * sizeof *out);
    vx_error err;
    CHECK(vx_image_preprocess(&img, 224, out, &err) == 0);
    const float expect[3] = {(200 / 255.0f - 0.48145466f) / 0.26862954f, (100 / 255.0f - 0.4578275f) / 0.26130258f,
                             (0 - 0.40821073f) / 0.27577711f};
    float d = 0;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 224 * 224; i++) d = fmaxf(d, fabsf(out[c * 224 * 224 + i] - expect[c]));
    CHECK(d < 1e-6f);
    /* Too thin to crop after the resize. */
    vx_rgb_image thin = {.width = 2000, .height = 1, .stride = 6000, .data = malloc(6000)};
    memset(thin.data, 9, 6000);
    CHECK(vx_image_preprocess(&thin, 224, out, &err) == 0 || strstr(err.msg, "thin"));
    free(thin.data);
    free(out);
    free(img.data);
}

/* The resize against Pillow 9.4 (Debian's python3-pil): golden files made by
 * tests/golden/make_pil_golden.py from the decoded bikes.png. */
static void test_resize_matches_pillow(void) {
    char path[4200];
    vx_error err;
    vx_rgb_image img;
    path_of(path, sizeof path, shared, "clip-golden/bikes.png");
    REQUIRE(vx_decode_image_file(path, &img, &err) == 0);
    static const struct { int w, h; const char *file; } cases[] = {
        {527, 224, VIDX_SOURCE_DIR "/tests/golden/bikes_527x224.png"}, /* CLIP's shrink of this frame */
        {97, 61, VIDX_SOURCE_DIR "/tests/golden/bikes_97x61.png"},     /* strong shrink, odd sizes */
        {900, 383, VIDX_SOURCE_DIR "/tests/golden/bikes_900x383.png"}, /* enlargement */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vx_rgb_image golden;
        REQUIRE(vx_decode_image_file(cases[i].file, &golden, &err) == 0);
        REQUIRE(golden.width == cases[i].w && golden.height == cases[i].h);
        const unsigned char *want = golden.data;
        const size_t len = (size_t)golden.width * golden.height * 3;
        vx_rgb_image out;
        REQUIRE(vx_rgb_resize_bicubic(&img, cases[i].w, cases[i].h, &out, &err) == 0);
        int maxd = 0;
        long differing = 0;
        for (size_t k = 0; k < len; k++) {
            int d = abs((int)out.data[k] - (int)want[k]);
            maxd = d > maxd ? d : maxd;
            differing += d != 0;
        }
        fprintf(stderr, "  resize %dx%d -> %dx%d: %ld of %zu values differ from Pillow, max %d\n", img.width,
                img.height, cases[i].w, cases[i].h, differing, len, maxd);
        CHECK(maxd == 0);
        vx_rgb_free(&out);
        vx_rgb_free(&golden);
    }
    vx_rgb_free(&img);
}

/* ---- weight formats and sizes -------------------------------------------------------- */

static void embed_probe(vx_clip *m, float *out_text, float *out_image) {
    vx_error err;
    const vx_clip_config *c = vx_clip_get_config(m);
    vx_clip_ctx *ctx = vx_clip_ctx_new(m, 1, 77, &err);
    if (!ctx) { CHECK(0); return; }
    const char *texts[1] = {"a red car on a bridge"};
    CHECK(vx_clip_encode_texts(ctx, texts, 1, out_text, &err) == 0);
    size_t n = (size_t)3 * c->image_size * c->image_size;
    float *px = malloc(n * sizeof *px);
    for (size_t i = 0; i < n; i++) px[i] = sinf((float)i * 0.01f);
    CHECK(vx_clip_encode_images(ctx, px, 1, out_image, &err) == 0);
    free(px);
    vx_clip_ctx_free(ctx);
}

static vx_clip *load_generated(const char *name) {
    char dir[4200];
    vx_error err;
    path_of(dir, sizeof dir, models, name);
    vx_clip *m = vx_clip_load(dir, &err);
    if (!m) fprintf(stderr, "load %s: %s\n", name, err.msg);
    return m;
}

static void test_half_precision_weights(void) {
    static const char *const pairs[2][2] = {{"tiny-f16", "tiny-f32-rounded-f16"}, {"tiny-bf16", "tiny-f32-rounded-bf16"}};
    for (int i = 0; i < 2; i++) {
        vx_clip *half = load_generated(pairs[i][0]), *full = load_generated(pairs[i][1]);
        REQUIRE(half && full);
        float t1[32], i1[32], t2[32], i2[32];
        embed_probe(half, t1, i1);
        embed_probe(full, t2, i2);
        /* Same values, stored as 16-bit or as float32: the same embeddings. */
        CHECK(max_abs_diff(t1, t2, 32) == 0 && max_abs_diff(i1, i2, 32) == 0);
        CHECK(vx_clip_fingerprint(half) != vx_clip_fingerprint(full));
        vx_clip_free(half);
        vx_clip_free(full);
    }
}

static void test_model_sizes(void) {
    /* B/16 and L/14 at their real widths, patch and image sizes (one layer per tower). */
    static const struct { const char *name; int width, tokens, proj; } sizes[] = {
        {"b16-1layer", 768, 197, 512}, {"l14-1layer", 1024, 257, 768}, {"tiny-gelu", 64, 50, 32}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        vx_clip *m = load_generated(sizes[i].name);
        REQUIRE(m);
        const vx_clip_config *c = vx_clip_get_config(m);
        CHECK(c->vision.width == sizes[i].width && c->vision_tokens == sizes[i].tokens && c->proj_dim == sizes[i].proj);
        float *t = malloc((size_t)c->proj_dim * sizeof *t), *im = malloc((size_t)c->proj_dim * sizeof *im);
        embed_probe(m, t, im);
        CHECK(fabsf(dot(t, t, c->proj_dim) - 1) < 1e-5f && fabsf(dot(im, im, c->proj_dim) - 1) < 1e-5f);
        /* A short text alone goes through matrix-vector products (few rows, wide weights);
         * in a batch of more rows through sgemm: the same embedding either way. */
        vx_error err;
        vx_clip_ctx *ctx = vx_clip_ctx_new(m, 1, 200, &err);
        const char *texts[2] = {"a red car on a bridge", "a much longer caption about a dog that runs along the "
                                                         "beach at sunset while people watch from the sand"};
        float *both = malloc(2 * (size_t)c->proj_dim * sizeof *both);
        CHECK(ctx && vx_clip_encode_texts(ctx, texts, 2, both, &err) == 0);
        CHECK_MSG(max_abs_diff(both, t, (size_t)c->proj_dim) < 1e-5f, "%s: alone vs batched differ by %g", sizes[i].name,
                  (double)max_abs_diff(both, t, (size_t)c->proj_dim));
        free(both);
        vx_clip_ctx_free(ctx);
        free(t);
        free(im);
        vx_clip_free(m);
    }
}

/* FP32 products on either library (encoder/qlinear.h, vx_precision_packed): OpenBLAS's
 * and oneDNN's give the same embeddings, text and pictures, at B/16's real width. */
static void test_fp32_libraries_agree(void) {
    const char *saved = getenv("VIDX_FP32_LIBRARY");
    float *e[2][2] = {{NULL, NULL}, {NULL, NULL}};
    int dim = 0;
    static const char *const libs[2] = {"openblas", "onednn"};
    for (int l = 0; l < 2; l++) {
        setenv("VIDX_FP32_LIBRARY", libs[l], 1);
        CHECK(vx_precision_packed(VX_PRECISION_F32) == l);
        vx_clip *m = load_generated("b16-1layer");
        REQUIRE(m);
        dim = vx_clip_get_config(m)->proj_dim;
        e[l][0] = malloc((size_t)dim * sizeof(float));
        e[l][1] = malloc((size_t)dim * sizeof(float));
        embed_probe(m, e[l][0], e[l][1]);
        vx_clip_free(m);
    }
    if (saved) setenv("VIDX_FP32_LIBRARY", saved, 1);
    else unsetenv("VIDX_FP32_LIBRARY");
    CHECK_MSG(max_abs_diff(e[0][0], e[1][0], (size_t)dim) < 1e-5f && max_abs_diff(e[0][1], e[1][1], (size_t)dim) < 1e-5f,
              "OpenBLAS and oneDNN differ: text %g, picture %g", (double)max_abs_diff(e[0][0], e[1][0], (size_t)dim),
              (double)max_abs_diff(e[0][1], e[1][1], (size_t)dim));
    for (int l = 0; l < 2; l++) free(e[l][0]), free(e[l][1]);
}

/* Models made by make_random_clip against PyTorch (tests/golden/make_torch_golden.py,
 * itself checked against OpenAI's outputs): covers the generator's layout, GELU and
 * BF16 weights. Token ids come from the golden tokens, so only the towers are tested. */
static void test_generated_models_match_torch(void) {
    static const char *const names[] = {"tiny-f32", "tiny-gelu", "tiny-bf16"};
    char path[4300];
    vx_error err;
    path_of(path, sizeof path, shared, "clip-golden/tokens.txt");
    char *all = test_read_file(path, NULL);
    REQUIRE(all);
    static int32_t ids[160][77];
    int lens[160], n = 0;
    for (char *line = strtok(all, "\n"); line && n < 160; line = strtok(NULL, "\n"), n++) {
        lens[n] = 0;
        for (char *p = line; *p && lens[n] < 77;) ids[n][lens[n]++] = (int32_t)strtol(p, &p, 10), p += strspn(p, " ");
    }
    free(all);
    const int32_t *ptrs[160];
    for (int i = 0; i < n; i++) ptrs[i] = ids[i];
    size_t px_len;
    path_of(path, sizeof path, shared, "clip-golden/pixels.f32");
    float *pixels = (float *)test_read_file(path, &px_len);
    REQUIRE(pixels);
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        vx_clip *m = load_generated(names[k]);
        REQUIRE(m);
        const int P = vx_clip_get_config(m)->proj_dim;
        float *got = malloc((size_t)n * P * sizeof *got), *want = malloc((size_t)n * P * sizeof *want);
        vx_clip_ctx *ctx = vx_clip_ctx_new(m, 3, 1000, &err);
        REQUIRE(ctx);
        CHECK(vx_clip_encode_tokens(ctx, ptrs, lens, n, got, &err) == 0);
        snprintf(path, sizeof path, "%s/tests/golden/%s/text_embeddings.txt", VIDX_SOURCE_DIR, names[k]);
        CHECK(read_rows(path, want, n, P) == n);
        float dt = max_abs_diff(got, want, (size_t)n * P);
        CHECK(vx_clip_encode_images(ctx, pixels, 3, got, &err) == 0);
        snprintf(path, sizeof path, "%s/tests/golden/%s/pixel_embeddings.txt", VIDX_SOURCE_DIR, names[k]);
        CHECK(read_rows(path, want, 3, P) == 3);
        float dp = max_abs_diff(got, want, 3 * (size_t)P);
        fprintf(stderr, "  %s vs PyTorch: text max |diff| %.3g, pixels %.3g\n", names[k], (double)dt, (double)dp);
        CHECK_MSG(dt <= 1e-5f && dp <= 1e-5f,
                  "if make_random_clip changed on purpose, rerun tests/golden/make_torch_golden.py for %s", names[k]);
        vx_clip_ctx_free(ctx);
        vx_clip_free(m);
        free(got);
        free(want);
    }
    free(pixels);
}

/* ---- broken model folders ------------------------------------------------------------ */

static int copy_file(const char *from, const char *to, long truncate_to) {
    size_t len;
    char *data = test_read_file(from, &len);
    if (!data) return -1;
    if (truncate_to >= 0 && (size_t)truncate_to < len) len = (size_t)truncate_to;
    FILE *f = fopen(to, "wb");
    int ok = f && fwrite(data, 1, len, f) == len;
    if (f) fclose(f);
    free(data);
    return ok ? 0 : -1;
}

/* Makes a copy of the tiny model in dir, then lets the caller break one thing. */
static void copy_model(const char *dir) {
    static const char *const files[] = {"config.json", "model.safetensors", "vocab.json", "merges.txt"};
    char src[4300], dst[4300];
    mkdir(dir, 0755);
    for (int i = 0; i < 4; i++) {
        snprintf(src, sizeof src, "%s/tiny-f32/%s", models, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        copy_file(src, dst, -1);
    }
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) { fputs(text, f); fclose(f); }
}

/* Replaces the first occurrence of `from` with `to` (same length) in a file. */
static void patch_file(const char *path, const char *from, const char *to) {
    size_t len;
    char *data = test_read_file(path, &len);
    char *p = data ? memmem(data, len, from, strlen(from)) : NULL;
    if (p) memcpy(p, to, strlen(to));
    FILE *f = fopen(path, "wb");
    if (f) { fwrite(data, 1, len, f); fclose(f); }
    free(data);
}

static void expect_load_error(const char *dir, const char *needle1, const char *needle2) {
    vx_error err = {{0}};
    vx_clip *m = vx_clip_load(dir, &err);
    CHECK_MSG(m == NULL, "%s loaded", dir);
    vx_clip_free(m);
    CHECK_MSG(strstr(err.msg, needle1) && (!needle2 || strstr(err.msg, needle2)), "message: %s", err.msg);
}

static void test_broken_models(void) {
    vx_error err;
    char *tmp = test_tmpdir("models");
    char dir[4300], file[4400], src[4300];
    snprintf(dir, sizeof dir, "%s/nothing-here", tmp);
    expect_load_error(dir, "no CLIP model at", "download_model.sh");

    snprintf(dir, sizeof dir, "%s/no-weights", tmp);
    copy_model(dir);
    snprintf(file, sizeof file, "%s/model.safetensors", dir);
    remove(file);
    expect_load_error(dir, "the weights are missing", "download_model.sh");

    snprintf(dir, sizeof dir, "%s/truncated", tmp);
    copy_model(dir);
    snprintf(src, sizeof src, "%s/tiny-f32/model.safetensors", models);
    snprintf(file, sizeof file, "%s/model.safetensors", dir);
    copy_file(src, file, 5000000);
    expect_load_error(dir, "model.safetensors", "run past the end");
    copy_file(src, file, 5);
    expect_load_error(dir, "too short", NULL);
    copy_file(src, file, 300); /* the header itself is cut */
    expect_load_error(dir, "header length", NULL);

    snprintf(dir, sizeof dir, "%s/bad-header", tmp);
    copy_model(dir);
    snprintf(file, sizeof file, "%s/model.safetensors", dir);
    patch_file(file, "\"dtype\":\"F32\"", "\"dtype\":\"Q99\"");
    expect_load_error(dir, "unsupported dtype Q99", NULL);
    copy_model(dir);
    patch_file(file, "{\"__metadata__\"", "[\"__metadata__\"");
    expect_load_error(dir, "not valid JSON", NULL);

    /* The config implies shapes the weights do not have: the tensor is named. */
    snprintf(dir, sizeof dir, "%s/wrong-shape", tmp);
    copy_model(dir);
    snprintf(file, sizeof file, "%s/config.json", dir);
    patch_file(file, "\"intermediate_size\": 256", "\"intermediate_size\": 128");
    expect_load_error(dir, "vision_model.encoder.layers.0.mlp.fc1.weight", "has shape [256, 64], but config.json implies [128, 64]");
    copy_model(dir);
    patch_file(file, "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
    expect_load_error(dir, "layers.2.", "is missing");
    copy_model(dir);
    patch_file(file, "\"num_attention_heads\": 2", "\"num_attention_heads\": 5");
    expect_load_error(dir, "not a multiple of num_attention_heads", NULL);
    write_text(file, "{\"text_config\": {}, ");
    expect_load_error(dir, "config.json", NULL);
    write_text(file, "{\"text_config\": {\"hidden_act\": \"relu\"}, \"vision_config\": {}}");
    expect_load_error(dir, "hidden_act", "relu");
    write_text(file, "{\"model_type\": \"bert\", \"hidden_size\": 768, \"num_hidden_layers\": 12}");
    expect_load_error(dir, "\"bert\" model, not CLIP", NULL);
    write_text(file, "{\"architectures\": [\"BertModel\"], \"hidden_size\": 768}");
    expect_load_error(dir, "text_config and vision_config", NULL);

    /* An image that is not an image. */
    vx_rgb_image img;
    snprintf(file, sizeof file, "%s/not-an-image.png", tmp);
    write_text(file, "this is text, not pixels");
    err.msg[0] = '\0';
    CHECK(vx_decode_image_file(file, &img, &err) == -1 && strstr(err.msg, "not-an-image.png"));

    /* Tokenizer files missing. */
    snprintf(dir, sizeof dir, "%s/no-tokenizer", tmp);
    copy_model(dir);
    snprintf(file, sizeof file, "%s/merges.txt", dir);
    remove(file);
    expect_load_error(dir, "no tokenizer files", NULL);
    test_rmtree(tmp);
    free(tmp);
}

/* The same weights in every published format: the same embeddings and fingerprint. */
static void test_weight_formats(void) {
    static const struct { const char *name, *same_as, *format; } cases[] = {
        {"tiny-f32-bin", "tiny-f32", "pytorch_model.bin (PyTorch zip)"},
        {"tiny-f32-bin-legacy-strided", "tiny-f32", "pytorch_model.bin (PyTorch legacy)"},
        {"tiny-f32-bin-shards", "tiny-f32", "pytorch_model.bin.index.json (3 PyTorch shards)"},
        {"tiny-f32-shards", "tiny-f32", "model.safetensors.index.json (2 safetensors shards)"},
        {"tiny-f16-bin-legacy", "tiny-f16", "pytorch_model.bin (PyTorch legacy)"},
        {"tiny-bf16-bin", "tiny-bf16", "pytorch_model.bin (PyTorch zip)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vx_clip *a = load_generated(cases[i].name), *b = load_generated(cases[i].same_as);
        REQUIRE(a && b);
        float t1[32], i1[32], t2[32], i2[32];
        embed_probe(a, t1, i1);
        embed_probe(b, t2, i2);
        CHECK_MSG(max_abs_diff(t1, t2, 32) == 0 && max_abs_diff(i1, i2, 32) == 0, "%s", cases[i].name);
        CHECK_MSG(vx_clip_fingerprint(a) == vx_clip_fingerprint(b), "%s", cases[i].name);
        CHECK_MSG(strcmp(vx_clip_weights_format(a), cases[i].format) == 0, "%s", vx_clip_weights_format(a));
        vx_clip_free(a);
        vx_clip_free(b);
    }
    /* A database made before the fingerprint covered every format recorded
     * XXH3(config.json, safetensors header): still this model. */
    vx_clip *m = load_generated("tiny-f32");
    REQUIRE(m);
    char path[4200];
    path_of(path, sizeof path, models, "tiny-f32/config.json");
    size_t clen, slen;
    char *cfg = test_read_file(path, &clen);
    path_of(path, sizeof path, models, "tiny-f32/model.safetensors");
    char *st = test_read_file(path, &slen);
    REQUIRE(cfg && st && slen > 8);
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = hlen << 8 | (uint8_t)st[k];
    XXH3_state_t *h = XXH3_createState();
    XXH3_64bits_reset(h);
    XXH3_64bits_update(h, cfg, clen);
    XXH3_64bits_update(h, st + 8, (size_t)hlen);
    const uint64_t before = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    CHECK(vx_clip_is_fingerprint(m, before) && vx_clip_is_fingerprint(m, vx_clip_fingerprint(m)));
    CHECK(!vx_clip_is_fingerprint(m, before ^ 1) && !vx_clip_is_fingerprint(m, 0));
    free(cfg);
    free(st);
    vx_clip_free(m);
}

/* Files torch.save wrote (Debian's torch 1.13; tests/golden/make_torch_checkpoints.py):
 * every tensor as torch holds it, strided views and offsets included. */
static void check_torch_state(const vx_pt_file *f) {
    char path[4300], line[8192];
    snprintf(path, sizeof path, "%s/tests/golden/torch/state.txt", VIDX_SOURCE_DIR);
    FILE *in = fopen(path, "r");
    REQUIRE(in);
    int n = 0;
    while (fgets(line, sizeof line, in)) {
        char name[256], dtype[8], shape[64];
        int used;
        if (sscanf(line, "%255s %7s %63s %n", name, dtype, shape, &used) != 3) continue;
        n++;
        const vx_st_tensor *t = NULL;
        for (int i = 0; i < f->n_tensors; i++)
            if (strcmp(f->tensors[i].name, name) == 0) t = &f->tensors[i];
        CHECK_MSG(t != NULL, "%s missing", name);
        if (!t) continue;
        CHECK_MSG(strcmp(vx_dtype_name(t->dtype), dtype) == 0, "%s: %s", name, vx_dtype_name(t->dtype));
        char got[64] = "";
        for (int d = 0; d < t->ndim; d++) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "", (long long)t->shape[d]);
        CHECK_MSG(strcmp(t->ndim ? got : "-", shape) == 0, "%s: shape %s", name, got);
        float *vals = malloc((t->numel + 1) * sizeof *vals);
        if (t->dtype != VX_DT_I64) vx_st_to_f32(t, vals);
        char *p = line + used;
        for (uint64_t k = 0; k < t->numel; k++) {
            double want = strtod(p, &p), have;
            if (t->dtype == VX_DT_I64) {
                int64_t v;
                memcpy(&v, t->data + 8 * k, 8);
                have = (double)v;
            } else {
                have = vals[k];
            }
            CHECK_MSG((float)want == (float)have, "%s[%llu]: %g, torch has %g", name, (unsigned long long)k, have, want);
        }
        free(vals);
    }
    fclose(in);
    CHECK(n == 7 && f->n_tensors == 7);
}

static void test_torch_files(void) {
    vx_error err;
    char path[4300];
    static const char *const files[] = {"state-zip.bin", "state-legacy.bin"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/tests/golden/torch/%s", VIDX_SOURCE_DIR, files[i]);
        vx_pt_file *f = vx_pt_open(path, &err);
        REQUIRE_MSG(f, "%s", err.msg);
        CHECK(f->container == (i == 0 ? VX_PT_ZIP : VX_PT_LEGACY));
        check_torch_state(f);
        vx_pt_close(f);
        /* Every cut is refused with a reason; every damaged byte is refused or read
         * within the file (the sanitizers watch). */
        size_t len;
        char *data = test_read_file(path, &len);
        REQUIRE(data);
        for (size_t cut = 0; cut < len; cut++) {
            err.msg[0] = '\0';
            f = vx_pt_open_memory(data, cut, "cut.bin", &err);
            CHECK_MSG(f == NULL && err.msg[0], "%s cut at %zu was read", files[i], cut);
            vx_pt_close(f);
        }
        for (size_t at = 0; at < len; at++) {
            data[at] ^= 0x5a;
            err.msg[0] = '\0';
            f = vx_pt_open_memory(data, len, "damaged.bin", &err);
            CHECK(f != NULL || err.msg[0]);
            vx_pt_close(f);
            data[at] ^= 0x5a;
        }
        free(data);
    }
    /* A pickle that would run a command under Python's pickle: refused, naming it. */
    remove("/tmp/vidx-evil-pickle-ran");
    snprintf(path, sizeof path, "%s/tests/golden/torch/evil.bin", VIDX_SOURCE_DIR);
    err.msg[0] = '\0';
    vx_pt_file *f = vx_pt_open(path, &err);
    CHECK(f == NULL);
    vx_pt_close(f);
    CHECK_MSG(strstr(err.msg, "posix.system") && strstr(err.msg, "refused"), "%s", err.msg);
    CHECK(access("/tmp/vidx-evil-pickle-ran", F_OK) != 0);
}

/* Shard indexes name files in the model's folder only, and every tensor's shard. */
static void test_bad_shard_indexes(void) {
    char *tmp = test_tmpdir("shards");
    char dir[4300], file[4400], src[4400];
    snprintf(dir, sizeof dir, "%s/m", tmp);
    copy_model(dir);
    snprintf(file, sizeof file, "%s/model.safetensors", dir);
    remove(file);
    snprintf(file, sizeof file, "%s/model.safetensors.index.json", dir);
    write_text(file, "{\"weight_map\": {\"logit_scale\": \"../model.safetensors\"}}");
    expect_load_error(dir, "not a file name in the same folder", NULL);
    write_text(file, "{\"weight_map\": {\"logit_scale\": \"model-00001-of-00002.safetensors\"}}");
    expect_load_error(dir, "missing", "model-00001-of-00002.safetensors");
    write_text(file, "{\"metadata\": {}}");
    expect_load_error(dir, "weight_map", NULL);
    /* a real shard, but the map puts a tensor in it that it lacks */
    snprintf(src, sizeof src, "%s/tiny-f32/model.safetensors", models);
    snprintf(file, sizeof file, "%s/a.safetensors", dir);
    copy_file(src, file, -1);
    snprintf(file, sizeof file, "%s/model.safetensors.index.json", dir);
    write_text(file, "{\"weight_map\": {\"logit_scale\": \"a.safetensors\", \"no.such.tensor\": \"a.safetensors\"}}");
    expect_load_error(dir, "no.such.tensor", "a.safetensors");
    /* two shards holding the same tensor */
    snprintf(file, sizeof file, "%s/b.safetensors", dir);
    copy_file(src, file, -1);
    snprintf(file, sizeof file, "%s/model.safetensors.index.json", dir);
    write_text(file, "{\"weight_map\": {\"logit_scale\": \"a.safetensors\", \"text_projection.weight\": \"b.safetensors\"}}");
    expect_load_error(dir, "appears in two shards", NULL);
    test_rmtree(tmp);
    free(tmp);
}

/* The few-rows product (short text queries) against sgemm on the text tower's shapes,
 * with odd sizes, strides and accumulation. */
static void test_small_row_products(void) {
    const int shapes[][3] = {{10, 1536, 512}, {10, 512, 2048}, {1, 2048, 512}, {16, 513, 515}, {7, 129, 1031}, {3, 64, 1024}};
    unsigned seed = 7;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], lda = k + 3, ldc = n + 5;
        float *A = malloc(sizeof(float) * (size_t)m * lda), *B = malloc(sizeof(float) * (size_t)n * k);
        float *C = malloc(sizeof(float) * (size_t)m * ldc), *R = malloc(sizeof(float) * (size_t)m * ldc);
        REQUIRE(A && B && C && R);
        for (size_t i = 0; i < (size_t)m * lda; i++) A[i] = (float)(rand_r(&seed) % 2001 - 1000) / 1000.0f;
        for (size_t i = 0; i < (size_t)n * k; i++) B[i] = (float)(rand_r(&seed) % 2001 - 1000) / 5000.0f;
        for (int pass = 0; pass < 2; pass++) {
            const float beta = pass ? 1.0f : 0.0f;
            for (size_t i = 0; i < (size_t)m * ldc; i++) C[i] = R[i] = (float)(i % 7) - 3.0f;
            vx_clip_blas(m, n, k, 0.5f, A, lda, B, k, 1, beta, C, ldc);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 0.5f, A, lda, B, k, beta, R, ldc);
            double worst = 0;
            for (int r = 0; r < m; r++)
                for (int j = 0; j < ldc; j++) {
                    double d = fabs((double)C[(size_t)r * ldc + j] - R[(size_t)r * ldc + j]);
                    if (j >= n) d = C[(size_t)r * ldc + j] != R[(size_t)r * ldc + j] ? 1 : 0; /* padding untouched */
                    if (d > worst) worst = d;
                }
            CHECK_MSG(worst < 1e-4, "%dx%dx%d beta %g: max difference %g", m, n, k, (double)beta, worst);
        }
        free(A);
        free(B);
        free(C);
        free(R);
    }
}

int main(void) {
    const char *s = getenv("VIDX_SHARED_DATA"), *g = getenv("VIDX_TEST_MODELS");
    snprintf(shared, sizeof shared, "%s", s && *s ? s : "../shared/data");
    snprintf(models, sizeof models, "%s", g && *g ? g : "test-models");
    struct stat sb;
    char probe[4200];
    path_of(probe, sizeof probe, shared, "clip-golden/tiny/model.safetensors");
    if (stat(probe, &sb) != 0) {
        fprintf(stderr, "test_encoder: the shared data is missing (%s); set VIDX_SHARED_DATA\n", probe);
        return 1;
    }
    RUN(test_tokenizer_golden);
    RUN(test_tokenizer_cleanup);
    RUN(test_text_golden);
    RUN(test_pixels_and_images_golden);
    RUN(test_preprocess_geometry);
    RUN(test_resize_matches_pillow);
    RUN(test_half_precision_weights);
    RUN(test_model_sizes);
    RUN(test_fp32_libraries_agree);
    RUN(test_generated_models_match_torch);
    RUN(test_broken_models);
    RUN(test_weight_formats);
    RUN(test_torch_files);
    RUN(test_bad_shard_indexes);
    RUN(test_small_row_products);
    CHECK_EXIT();
}
