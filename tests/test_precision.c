/* Reduced-precision encoder tests: BF16 and INT8 against the FP32 path.
 *
 * - vx_qlinear against a plain FP32 product: every epilogue (bias, residual sum,
 *   activations) and row counts from 1 to a batch of images.
 * - OpenAI's golden inputs (the shared tiny model): every text and image embedding at
 *   cosine >= 0.999 (BF16) and >= 0.995 (INT8) to OpenAI's own outputs.
 * - A ViT-B/32-shaped random model (all 12 layers, F16 weights so that BF16 rounds
 *   them): frames of the shared clips and MSR-VTT test captions, the same cosines to FP32,
 *   and retrieval: the clip each caption ranks first is FP32's for >= 95% of captions,
 *   with both sides reduced and with reduced queries against FP32-indexed clips (a data
 *   folder indexed at one precision, served at another).
 *
 * Skipped (with a note) on CPUs without BF16/VNNI instructions.
 * Environment: VIDX_SHARED_DATA, VIDX_TEST_MODELS (as test_encoder). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/vecmath.h"
#include "../encoder/clip.h"
#include "../encoder/image.h"
#include "../encoder/qlinear.h"
#include "../indexer/decode.h"
#include "check.h"

static char shared[4096], models[4096];

static const float min_cosine[3] = {1.0f, 0.999f, 0.995f}; /* by vx_precision */

static uint32_t rng = 12345;
static float frand(void) { /* uniform in [-1, 1) */
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / 8388608.0f - 1.0f;
}

/* ---- one product --------------------------------------------------------------------- */

static void reference(const float *in, int rows, int k, const float *W, int n, const float *bias, float *out,
                      int accumulate, vx_qact act) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) {
            double acc = bias ? bias[j] : 0;
            for (int i = 0; i < k; i++) acc += (double)in[(size_t)r * k + i] * W[(size_t)j * k + i];
            if (act == VX_QACT_QUICK_GELU) acc = acc / (1 + exp(-1.702 * acc));
            if (act == VX_QACT_GELU) acc = 0.5 * acc * (1 + erf(acc / sqrt(2.0)));
            float *o = &out[(size_t)r * n + j];
            *o = (float)(accumulate ? *o + acc : acc);
        }
}

/* Relative error of got against want: |got - want| / |want| over the whole matrix. */
static double rel_error(const float *got, const float *want, size_t count) {
    double num = 0, den = 0;
    for (size_t i = 0; i < count; i++) {
        num += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        den += (double)want[i] * want[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

static void test_products(void) {
    const int n = 96, k = 200, max_rows = 160;
    float *W = malloc((size_t)n * k * sizeof *W), *bias = malloc((size_t)n * sizeof *bias);
    float *in = malloc((size_t)max_rows * k * sizeof *in), *want = malloc((size_t)max_rows * n * sizeof *want),
          *got = malloc((size_t)max_rows * n * sizeof *got);
    for (int i = 0; i < n * k; i++) W[i] = frand() / sqrtf((float)k);
    for (int i = 0; i < n; i++) bias[i] = 0.1f * frand();
    for (int i = 0; i < max_rows * k; i++) in[i] = frand();
    vx_error err;
    for (int p = VX_PRECISION_BF16; p <= VX_PRECISION_INT8; p++) {
        vx_qweight *w = vx_qweight_new(W, n, k, (vx_precision)p, &err);
        vx_qrunner *r = vx_qrunner_new(max_rows, k, &err);
        REQUIRE(w && r);
        CHECK(vx_qweight_rows(w) == n && vx_qweight_cols(w) == k && vx_qweight_bytes(w) >= (size_t)n * k);
        static const int rows[] = {1, 3, 16, 50, 160, 3};
        double worst = 0;
        for (size_t t = 0; t < sizeof rows / sizeof rows[0]; t++)
            for (int variant = 0; variant < 5; variant++) {
                /* 0 plain, 1 bias, 2 bias + sum into the output, 3 QuickGELU, 4 GELU */
                const int accumulate = variant == 2;
                const float *b = variant >= 1 ? bias : NULL;
                const vx_qact act = variant == 3 ? VX_QACT_QUICK_GELU : variant == 4 ? VX_QACT_GELU : VX_QACT_NONE;
                const size_t count = (size_t)rows[t] * n;
                for (size_t i = 0; i < count; i++) want[i] = got[i] = 0.5f * frand();
                reference(in, rows[t], k, W, n, b, want, accumulate, act);
                CHECK(vx_qlinear(r, w, in, rows[t], b, got, accumulate, act) == 0);
                const double e = rel_error(got, want, count);
                if (e > worst) worst = e;
                /* BF16 keeps 8 bits of mantissa (relative 2^-9 per value), INT8 about 7. */
                CHECK_MSG(e < (p == VX_PRECISION_BF16 ? 0.01 : 0.03), "%s, %d rows, variant %d: relative error %.4f",
                          vx_precision_name(p), rows[t], variant, e);
            }
        fprintf(stderr, "  %s products: worst relative error %.4f\n", vx_precision_name(p), worst);
        CHECK(vx_qrunner_take_error(r) == NULL);
        /* More rows than the runner holds: an error, kept until taken. */
        CHECK(vx_qlinear(r, w, in, max_rows + 1, NULL, got, 0, VX_QACT_NONE) == -1);
        const char *e = vx_qrunner_take_error(r);
        CHECK(e && strstr(e, "rows"));
        CHECK(vx_qrunner_take_error(r) == NULL);
        vx_qrunner_free(r);
        vx_qweight_free(w);
    }
    free(W);
    free(bias);
    free(in);
    free(want);
    free(got);
}

static void test_precision_names(void) {
    vx_precision p;
    vx_error err;
    CHECK(vx_precision_parse("bf16", &p, &err) == 0 && p == VX_PRECISION_BF16);
    CHECK(vx_precision_parse("int8", &p, &err) == 0 && p == VX_PRECISION_INT8);
    CHECK(vx_precision_parse("f32", &p, &err) == 0 && p == VX_PRECISION_F32);
    CHECK(vx_precision_parse("auto", &p, &err) == 0 && p == vx_precision_default());
    CHECK(vx_precision_parse("fp8", &p, &err) == -1 && strstr(err.msg, "fp8"));
    CHECK(vx_precision_check(VX_PRECISION_F32, &err) == 0);
    CHECK(strcmp(vx_precision_name(VX_PRECISION_INT8), "int8") == 0);
}

/* ---- whole models -------------------------------------------------------------------- */

static int read_rows(const char *path, float *out, int max_rows, int dim) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    while (n < max_rows) {
        int i = 0;
        for (; i < dim; i++)
            if (fscanf(f, "%f", &out[(size_t)n * dim + i]) != 1) break;
        if (i < dim) break;
        n++;
    }
    fclose(f);
    return n;
}

/* Lowest and mean cosine between rows of a and b. */
static void cosines(const float *a, const float *b, int rows, int dim, float *lowest, float *mean) {
    double sum = 0;
    *lowest = 2;
    for (int r = 0; r < rows; r++) {
        float c = vx_dot(a + (size_t)r * dim, b + (size_t)r * dim, (size_t)dim);
        if (c < *lowest) *lowest = c;
        sum += c;
    }
    *mean = (float)(sum / rows);
}

static char **read_lines(const char *path, int max, int *n, int csv_column) {
    FILE *f = fopen(path, "r");
    char **out = calloc((size_t)max, sizeof *out), line[4096];
    *n = 0;
    if (!f || !out) { if (f) fclose(f); return out; }
    while (*n < max && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *text = line;
        for (int c = 0; c < csv_column && text; c++) text = strchr(text, ';') ? strchr(text, ';') + 1 : NULL;
        if (!text || !*text) continue;
        out[(*n)++] = strdup(text);
    }
    fclose(f);
    return out;
}

static void free_lines(char **lines, int n) {
    for (int i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

static void test_golden_inputs(void) {
    char dir[4200], path[4300];
    vx_error err;
    snprintf(dir, sizeof dir, "%s/clip-golden/tiny", shared);
    int n_texts;
    snprintf(path, sizeof path, "%s/clip-golden/texts.txt", shared);
    char **texts = read_lines(path, 200, &n_texts, 0);
    REQUIRE(n_texts == 154);
    const int P = 32, S = 224;
    float *want_t = malloc((size_t)n_texts * P * sizeof *want_t), *got_t = malloc((size_t)n_texts * P * sizeof *got_t);
    float want_i[5 * 32], got_i[5 * 32];
    snprintf(path, sizeof path, "%s/clip-golden/text_embeddings.txt", shared);
    REQUIRE(read_rows(path, want_t, n_texts, P) == n_texts);
    snprintf(path, sizeof path, "%s/clip-golden/pixel_embeddings.txt", shared);
    REQUIRE(read_rows(path, want_i, 3, P) == 3);
    snprintf(path, sizeof path, "%s/clip-golden/image_embeddings.txt", shared);
    REQUIRE(read_rows(path, want_i + 3 * P, 2, P) == 2);
    /* The golden pixel tensors and two real images through FFmpeg and preprocessing. */
    float *pixels = malloc((size_t)5 * 3 * S * S * sizeof *pixels);
    snprintf(path, sizeof path, "%s/clip-golden/pixels.f32", shared);
    FILE *f = fopen(path, "rb");
    REQUIRE(f && fread(pixels, sizeof(float), (size_t)3 * 3 * S * S, f) == (size_t)3 * 3 * S * S);
    fclose(f);
    static const char *const images[2] = {"clip-golden/bikes.png", "clip-golden/cars.jpg"};
    for (int i = 0; i < 2; i++) {
        vx_rgb_image img;
        snprintf(path, sizeof path, "%s/%s", shared, images[i]);
        REQUIRE(vx_decode_image_file(path, &img, &err) == 0);
        REQUIRE(vx_image_preprocess(&img, S, pixels + (size_t)(3 + i) * 3 * S * S, &err) == 0);
        vx_rgb_free(&img);
    }
    for (int p = VX_PRECISION_BF16; p <= VX_PRECISION_INT8; p++) {
        vx_clip *m = vx_clip_load_at(dir, (vx_precision)p, &err);
        REQUIRE(m);
        REQUIRE(vx_clip_get_config(m)->proj_dim == P && vx_clip_get_config(m)->image_size == S);
        CHECK(vx_clip_precision(m) == (vx_precision)p);
        vx_clip_ctx *ctx = vx_clip_ctx_new(m, 5, 400, &err);
        REQUIRE(ctx);
        CHECK(vx_clip_encode_texts(ctx, (const char *const *)texts, n_texts, got_t, &err) == 0);
        CHECK(vx_clip_encode_images(ctx, pixels, 5, got_i, &err) == 0);
        float lo_t, mean_t, lo_i, mean_i;
        cosines(got_t, want_t, n_texts, P, &lo_t, &mean_t);
        cosines(got_i, want_i, 5, P, &lo_i, &mean_i);
        fprintf(stderr, "  %s vs OpenAI: texts cosine min %.6f mean %.6f; images min %.6f mean %.6f\n",
                vx_precision_name(p), (double)lo_t, (double)mean_t, (double)lo_i, (double)mean_i);
        CHECK(lo_t >= min_cosine[p] && lo_i >= min_cosine[p]);
        vx_clip_ctx_free(ctx);
        vx_clip_free(m);
    }
    free_lines(texts, n_texts);
    free(want_t);
    free(got_t);
    free(pixels);
}

/* Frames of the shared clips: a few per clip, preprocessed. */
typedef struct frames {
    float *pixels;
    int n, cap, S;
    int *video; /* [n] index of the clip */
    int current, per_clip, taken;
} frames;

static int take_frame(void *p, const vx_rgb_image *img, double t) {
    (void)t;
    frames *fr = p;
    if (fr->taken == fr->per_clip) return 1;
    if (fr->n == fr->cap) return 1;
    vx_error err;
    if (vx_image_preprocess(img, fr->S, fr->pixels + (size_t)fr->n * 3 * fr->S * fr->S, &err)) return 1;
    fr->video[fr->n++] = fr->current;
    fr->taken++;
    return 0;
}

/* Rank of the best clip for each query (argmax of dot products). */
static void top1(const float *queries, int nq, const float *clips, int nc, int P, int *out) {
    for (int q = 0; q < nq; q++) {
        int best = 0;
        float bs = -2;
        for (int c = 0; c < nc; c++) {
            float s = vx_dot(queries + (size_t)q * P, clips + (size_t)c * P, (size_t)P);
            if (s > bs) { bs = s; best = c; }
        }
        out[q] = best;
    }
}

static void test_b32_retrieval(void) {
    char dir[4200], path[4300];
    vx_error err;
    snprintf(dir, sizeof dir, "%s/b32-f16", models);
    /* The clips of the shared data, as listed in its manifest. */
    snprintf(path, sizeof path, "%s/videos/MANIFEST.tsv", shared);
    int n_rows;
    char **rows = read_lines(path, 200, &n_rows, 0);
    REQUIRE(n_rows > 10);
    const int S = 224, per_clip = 16;
    frames fr = {.S = S, .per_clip = per_clip, .cap = n_rows * per_clip};
    fr.pixels = malloc((size_t)fr.cap * 3 * S * S * sizeof(float));
    fr.video = malloc((size_t)fr.cap * sizeof(int));
    int n_clips = 0;
    for (int i = 1; i < n_rows; i++) { /* row 0 is the header */
        rows[i][strcspn(rows[i], "\t")] = 0;
        snprintf(path, sizeof path, "%s/videos/%s", shared, rows[i]);
        vx_sample_options so;
        vx_sample_options_default(&so);
        so.rate = 1; /* as vidx indexes */
        fr.current = n_clips;
        fr.taken = 0;
        vx_video_info info;
        if (vx_sample_video(path, &so, &info, take_frame, &fr, NULL, &err) == 0 && fr.taken > 0) n_clips++;
        else fprintf(stderr, "  skipped %s: %s\n", rows[i], fr.taken ? "" : err.msg);
    }
    free_lines(rows, n_rows);
    REQUIRE(n_clips >= 30);
    int n_caps;
    snprintf(path, sizeof path, "%s/captions/MSRVTT_JSFUSION_test.csv", shared);
    char **caps = read_lines(path, 1001, &n_caps, 3);
    REQUIRE(n_caps > 900); /* the header line, then the test split's captions */

    float *frame_emb[3], *clip_emb[3], *cap_emb[3];
    int P = 0;
    for (int p = 0; p < 3; p++) {
        vx_clip *m = vx_clip_load_at(dir, (vx_precision)p, &err);
        REQUIRE(m);
        P = vx_clip_get_config(m)->proj_dim;
        vx_clip_ctx *ctx = vx_clip_ctx_new(m, 16, 64 * 77, &err);
        REQUIRE(ctx);
        frame_emb[p] = malloc((size_t)fr.n * P * sizeof(float));
        clip_emb[p] = calloc((size_t)n_clips * P, sizeof(float));
        cap_emb[p] = malloc((size_t)(n_caps - 1) * P * sizeof(float));
        CHECK(vx_clip_encode_images(ctx, fr.pixels, fr.n, frame_emb[p], &err) == 0);
        CHECK(vx_clip_encode_texts(ctx, (const char *const *)caps + 1, n_caps - 1, cap_emb[p], &err) == 0);
        for (int i = 0; i < fr.n; i++)
            for (int d = 0; d < P; d++) clip_emb[p][(size_t)fr.video[i] * P + d] += frame_emb[p][(size_t)i * P + d];
        for (int c = 0; c < n_clips; c++) vx_normalize(clip_emb[p] + (size_t)c * P, (size_t)P);
        vx_clip_ctx_free(ctx);
        vx_clip_free(m);
    }
    int *want = malloc((size_t)n_caps * sizeof *want), *got = malloc((size_t)n_caps * sizeof *got);
    top1(cap_emb[0], n_caps - 1, clip_emb[0], n_clips, P, want);
    for (int p = 1; p < 3; p++) {
        float lo_f, mean_f, lo_c, mean_c;
        cosines(frame_emb[p], frame_emb[0], fr.n, P, &lo_f, &mean_f);
        cosines(cap_emb[p], cap_emb[0], n_caps - 1, P, &lo_c, &mean_c);
        int same = 0, same_mixed = 0;
        top1(cap_emb[p], n_caps - 1, clip_emb[p], n_clips, P, got);
        for (int q = 0; q < n_caps - 1; q++) same += got[q] == want[q];
        top1(cap_emb[p], n_caps - 1, clip_emb[0], n_clips, P, got);
        for (int q = 0; q < n_caps - 1; q++) same_mixed += got[q] == want[q];
        const double agree = (double)same / (n_caps - 1), mixed = (double)same_mixed / (n_caps - 1);
        fprintf(stderr,
                "  B/32 %s vs f32: %d frames cosine min %.6f mean %.6f; %d captions min %.6f mean %.6f; "
                "top clip the same for %.1f%% of captions (%.1f%% against f32-indexed clips)\n",
                vx_precision_name(p), fr.n, (double)lo_f, (double)mean_f, n_caps - 1, (double)lo_c, (double)mean_c,
                100 * agree, 100 * mixed);
        CHECK(lo_f >= min_cosine[p] && lo_c >= min_cosine[p]);
        CHECK(agree >= 0.95 && mixed >= 0.95);
    }
    for (int p = 0; p < 3; p++) {
        free(frame_emb[p]);
        free(clip_emb[p]);
        free(cap_emb[p]);
    }
    free(want);
    free(got);
    free_lines(caps, n_caps);
    free(fr.pixels);
    free(fr.video);
}

int main(void) {
    const char *s = getenv("VIDX_SHARED_DATA"), *g = getenv("VIDX_TEST_MODELS");
    snprintf(shared, sizeof shared, "%s", s && *s ? s : "../shared/data");
    snprintf(models, sizeof models, "%s", g && *g ? g : "test-models");
    vx_error err;
    RUN(test_precision_names);
    if (vx_precision_check(VX_PRECISION_BF16, &err) || vx_precision_check(VX_PRECISION_INT8, &err)) {
        fprintf(stderr, "test_precision: skipped, %s\n", err.msg);
        CHECK_EXIT();
    }
    RUN(test_products);
    RUN(test_golden_inputs);
    RUN(test_b32_retrieval);
    CHECK_EXIT();
}
