/* bench_encoder: CLIP forward-pass speed on ViT-B/32-shaped random weights.
 *
 * Prints, as a table: vision tower images/s at batch 1 and 16, text encodings/s and the
 * median latency of a 10-token query, each beside the same-run throughput of
 * the BLAS calls alone for exactly the matrix products that forward pass makes (recorded
 * through vx_clip_set_gemm_observer and replayed with vx_clip_blas: sgemm, or sgemv per
 * row for a few rows against a large matrix), so the fraction of the hardware
 * limit is printed next to each figure. Medians of several runs; peak memory at the end.
 *
 * usage: bench_encoder MODEL_DIR [--runs N]
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "../common/vecmath.h"
#include "../encoder/clip.h"
#include "../encoder/clip_gemm.h"

typedef struct gemm_call {
    int m, n, k, lda, ldb, bt, ldc;
    const float *A, *B; /* the real operands: weights are read from where they live */
    float *C;
} gemm_call;

typedef struct recorder {
    gemm_call *calls;
    int n, cap;
    double flops;
} recorder;

static void record(void *ctx, int m, int n, int k, const float *A, int lda, const float *B, int ldb, int bt, float *C,
                   int ldc) {
    recorder *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 1024;
        r->calls = realloc(r->calls, (size_t)r->cap * sizeof *r->calls);
    }
    r->calls[r->n++] = (gemm_call){m, n, k, lda, ldb, bt, ldc, A, B, C};
    r->flops += 2.0 * m * n * k;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Runs the recorded products alone, on the very operands the forward pass used (the
 * activations they write are recomputed by the next forward run anyway). */
static double replay(const recorder *r) {
    double t0 = vx_now();
    for (int i = 0; i < r->n; i++) {
        const gemm_call *c = &r->calls[i];
        vx_clip_blas(c->m, c->n, c->k, 1.0f, c->A, c->lda, c->B, c->ldb, c->bt, 0.0f, c->C, c->ldc);
    }
    return vx_now() - t0;
}

typedef struct result {
    double forward, limit; /* median seconds per call: whole forward, its products alone */
    double gflops;         /* flops of the forward's products / forward time */
} result;

typedef int (*forward_fn)(void *arg);

static result measure(forward_fn fn, void *arg, int runs) {
    recorder r = {0};
    fn(arg); /* warm up: page in weights, spin up BLAS threads */
    vx_clip_set_gemm_observer(record, &r);
    fn(arg);
    vx_clip_set_gemm_observer(NULL, NULL);
    double *tf = malloc((size_t)runs * sizeof *tf), *tl = malloc((size_t)runs * sizeof *tl);
    replay(&r);
    /* Interleave the two so machine noise hits both alike. */
    for (int i = 0; i < runs; i++) {
        double t0 = vx_now();
        fn(arg);
        tf[i] = vx_now() - t0;
        tl[i] = replay(&r);
    }
    result res = {median(tf, runs), median(tl, runs), 0};
    res.gflops = r.flops / res.forward * 1e-9;
    free(tf);
    free(tl);
    free(r.calls);
    return res;
}

typedef struct vision_arg {
    vx_clip_ctx *ctx;
    const float *pixels;
    int n;
    float *out;
} vision_arg;

static int run_vision(void *p) {
    vision_arg *a = p;
    vx_error err;
    return vx_clip_encode_images(a->ctx, a->pixels, a->n, a->out, &err);
}

typedef struct text_arg {
    vx_clip_ctx *ctx;
    const char *const *texts;
    int n;
    float *out;
} text_arg;

static int run_text(void *p) {
    text_arg *a = p;
    vx_error err;
    return vx_clip_encode_texts(a->ctx, a->texts, a->n, a->out, &err);
}

static void row(const char *what, double per_second, const char *unit, const result *r) {
    printf("| %-34s | %10.1f %-9s | %7.1f | %6.1f ms | %6.1f ms | %5.1f%% |\n", what, per_second, unit, r->gflops,
           r->forward * 1e3, r->limit * 1e3, 100.0 * r->limit / r->forward);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_encoder MODEL_DIR [--runs N]\n");
        return 2;
    }
    int runs = 7;
    for (int i = 2; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--runs")) runs = atoi(argv[++i]);
    vx_error err;
    double t0 = vx_now();
    vx_clip *m = vx_clip_load(argv[1], &err);
    if (!m) {
        fprintf(stderr, "bench_encoder: %s\n", err.msg);
        return 1;
    }
    double load_s = vx_now() - t0;
    const vx_clip_config *c = vx_clip_get_config(m);
    vx_clip_ctx *ctx = vx_clip_ctx_new(m, 16, 64 * c->context, &err);
    if (!ctx) {
        fprintf(stderr, "bench_encoder: %s\n", err.msg);
        return 1;
    }
    const size_t image = (size_t)3 * c->image_size * c->image_size;
    float *pixels = malloc(16 * image * sizeof *pixels), *out = malloc(64 * (size_t)c->proj_dim * sizeof *out);
    for (size_t i = 0; i < 16 * image; i++) pixels[i] = sinf((float)i * 0.37f);

    printf("vidx encoder benchmark: %s (vision %d wide x %d layers, %d tokens; text %d wide x %d layers), "
           "OpenBLAS %d threads, %d runs, medians\n\n",
           argv[1], c->vision.width, c->vision.layers, c->vision_tokens, c->text.width, c->text.layers,
           openblas_get_num_threads(), runs);
    printf("| %-34s | %-20s | GFLOP/s | forward   | BLAS only  | of limit |\n", "workload", "throughput");
    printf("|%.36s|%.22s|---------|-----------|-----------|----------|\n",
           "--------------------------------------------------", "--------------------------------------------------");

    vision_arg v1 = {ctx, pixels, 1, out};
    result r = measure(run_vision, &v1, runs);
    row("vision tower, batch 1", 1.0 / r.forward, "images/s", &r);
    vision_arg v16 = {ctx, pixels, 16, out};
    r = measure(run_vision, &v16, runs);
    row("vision tower, batch 16", 16.0 / r.forward, "images/s", &r);

    /* "a photo of a dog running on grass" is 8 words: 10 tokens with start and end. */
    const char *query[1] = {"a photo of a dog running on grass"};
    int32_t ids[77];
    int ntok = vx_tokenize(vx_clip_tokenizer(m), query[0], ids, 77, &err);
    text_arg t1 = {ctx, query, 1, out};
    r = measure(run_text, &t1, runs * 8);
    char label[64];
    snprintf(label, sizeof label, "text, one %d-token query", ntok);
    row(label, 1.0 / r.forward, "texts/s", &r);
    printf("\n  median latency of one %d-token query (tokenize + encode): %.2f ms\n", ntok, r.forward * 1e3);

    const char *batch[64];
    for (int i = 0; i < 64; i++) batch[i] = query[0];
    text_arg t64 = {ctx, batch, 64, out};
    r = measure(run_text, &t64, runs);
    printf("\n");
    row("text, batch of 64 queries", 64.0 / r.forward, "texts/s", &r);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("\n  model load %.2f s; activations %.1f MiB (16 images, %d tokens); peak resident memory %.1f MiB\n",
           load_s, vx_clip_ctx_bytes(ctx) / 1048576.0, 64 * c->context, ru.ru_maxrss / 1024.0);
    free(pixels);
    free(out);
    vx_clip_ctx_free(ctx);
    vx_clip_free(m);
    return 0;
}
