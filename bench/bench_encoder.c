/* bench_encoder: CLIP forward-pass speed on ViT-B/32-shaped random weights, per
 * precision (FP32, BF16, INT8), each in a process of its own within the same run.
 *
 * Prints, per precision, a table: vision tower images/s at batch 1 and 16, text
 * encodings/s and the median latency of a 10-token query, each beside the same-run
 * throughput of the matrix products alone for exactly the products that forward pass
 * makes (recorded through the observers of clip_gemm.h and replayed: vx_clip_blas for
 * FP32 and attention, vx_qlinear on oneDNN for BF16/INT8 layers), so the fraction of the
 * limit is printed next to each figure. Then one table of every precision against
 * FP32. Medians of several runs; peak resident memory per precision.
 *
 * With --text-model DIR (the multilingual text tower, make_random_clip --mtext at full
 * size), also its latency for one English and one Chinese query beside CLIP's text
 * query, for a query both towers read (the router unsure of its language), the router's
 * cost per query, and the memory the tower adds (resident, after loading).
 *
 * usage: bench_encoder MODEL_DIR [--runs N] [--precision f32,bf16,int8] [--text-model DIR]
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "../common/vecmath.h"
#include "../encoder/clip.h"
#include "../encoder/clip_gemm.h"
#include "../encoder/kernels.h"
#include "../encoder/mtext.h"
#include "../encoder/qlinear.h"
#include "../engine/langid.h"

typedef struct gemm_call {
    int m, n, k, lda, ldb, bt, ldc;
    const float *A, *B; /* the real operands: weights are read from where they live */
    float *C;
} gemm_call;

typedef struct qlinear_call {
    const vx_qweight *w;
    const float *in, *bias;
    float *out;
    int rows, accumulate;
    vx_qact act;
} qlinear_call;

typedef struct recorder {
    gemm_call *calls;
    int n, cap;
    qlinear_call *qcalls;
    int nq, capq;
    vx_qrunner *runner; /* replays the reduced-precision products */
    double flops;
} recorder;

static void record_q(void *ctx, const vx_qweight *w, const float *in, int rows, const float *bias, float *out,
                     int accumulate, vx_qact act) {
    recorder *r = ctx;
    if (r->nq == r->capq) {
        r->capq = r->capq ? 2 * r->capq : 1024;
        r->qcalls = realloc(r->qcalls, (size_t)r->capq * sizeof *r->qcalls);
    }
    r->qcalls[r->nq++] = (qlinear_call){w, in, bias, out, rows, accumulate, act};
    r->flops += 2.0 * rows * vx_qweight_rows(w) * vx_qweight_cols(w);
}

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

/* Runs the recorded products alone, on the very operands the forward pass used (the
 * activations they write are recomputed by the next forward run anyway). */
static double replay(const recorder *r) {
    double t0 = vx_now();
    for (int i = 0; i < r->n; i++) {
        const gemm_call *c = &r->calls[i];
        vx_clip_blas(c->m, c->n, c->k, 1.0f, c->A, c->lda, c->B, c->ldb, c->bt, 0.0f, c->C, c->ldc);
    }
    for (int i = 0; i < r->nq; i++) {
        const qlinear_call *c = &r->qcalls[i];
        vx_qlinear(r->runner, c->w, c->in, c->rows, c->bias, c->out, c->accumulate, c->act);
    }
    return vx_now() - t0;
}

typedef struct result {
    double forward, limit; /* median seconds per call: whole forward, its products alone */
    double gflops;         /* flops of the forward's products / forward time */
} result;

typedef int (*forward_fn)(void *arg);

static vx_qrunner *replay_runner;

static result measure(forward_fn fn, void *arg, int runs) {
    recorder r = {.runner = replay_runner};
    fn(arg); /* warm up: page in weights, spin up BLAS threads, compile oneDNN products */
    vx_clip_set_gemm_observer(record, &r);
    vx_clip_set_qlinear_observer(record_q, &r);
    fn(arg);
    vx_clip_set_gemm_observer(NULL, NULL);
    vx_clip_set_qlinear_observer(NULL, NULL);
    double *tf = malloc((size_t)runs * sizeof *tf), *tl = malloc((size_t)runs * sizeof *tl);
    replay(&r);
    /* Interleave the two so machine noise hits both alike. */
    for (int i = 0; i < runs; i++) {
        double t0 = vx_now();
        fn(arg);
        tf[i] = vx_now() - t0;
        tl[i] = replay(&r);
    }
    result res = {bench_median(tf, runs), bench_median(tl, runs), 0};
    res.gflops = r.flops / res.forward * 1e-9;
    free(tf);
    free(tl);
    free(r.calls);
    free(r.qcalls);
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

typedef struct mtext_arg {
    vx_mtext_ctx *ctx;
    const char *text;
    float *out;
} mtext_arg;

static int run_mtext(void *p) {
    mtext_arg *a = p;
    vx_error err;
    return vx_mtext_encode_texts(a->ctx, &a->text, 1, a->out, &err);
}

/* Resident memory now, MiB. */
static double rss_mib(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    if (f) fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static const char *text_model; /* --text-model */

static void row(const char *what, double per_second, const char *unit, const result *r) {
    printf("| %-34s | %10.1f %-9s | %7.1f | %6.1f ms | %6.1f ms | %5.1f%% |\n", what, per_second, unit, r->gflops,
           r->forward * 1e3, r->limit * 1e3, 100.0 * r->limit / r->forward);
}

/* What one precision's run reports to the comparison at the end. */
typedef struct figures {
    double images1, images16, query_ms, texts64, peak_mib, load_s;
    double mquery_ms, mquery_zh_ms, mtext_mib; /* the multilingual tower, when given */
    double route_us;                           /* the router's guess, per query */
    int ok;
} figures;

/* The query router's guess (engine/langid.h): the median over runs of the mean time per
 * query, over an English, an unsure and a Chinese query. */
static double route_cost(const vx_tokenizer *clip) {
    static const char *const queries[] = {"a photo of a dog running on grass", "voiture rouge dans la rue",
                                          "一只狗在草地上奔跑的照片"};
    enum { RUNS = 9, REPEAT = 300 };
    double t[RUNS];
    volatile int sink = 0;
    for (int r = 0; r < RUNS; r++) {
        const double t0 = vx_now();
        for (int i = 0; i < REPEAT; i++)
            for (size_t q = 0; q < sizeof queries / sizeof *queries; q++) sink += (int)vx_langid_route(queries[q], clip);
        t[r] = (vx_now() - t0) / (REPEAT * (double)(sizeof queries / sizeof *queries));
    }
    (void)sink;
    return bench_median(t, RUNS) * 1e6;
}

static figures run_precision(const char *dir, vx_precision p, int runs) {
    figures f = {0};
    vx_error err;
    double t0 = vx_now();
    vx_clip *m = vx_clip_load_at(dir, p, &err);
    if (!m) {
        fprintf(stderr, "bench_encoder: %s\n", err.msg);
        return f;
    }
    f.load_s = vx_now() - t0;
    const vx_clip_config *c = vx_clip_get_config(m);
    vx_clip_ctx *ctx = vx_clip_ctx_new(m, 16, 64 * c->context, &err);
    if (!ctx || !(replay_runner = vx_qrunner_new(16 * c->vision_tokens > 64 * c->context ? 16 * c->vision_tokens
                                                                                           : 64 * c->context,
                                                 4 * (c->vision.mlp > c->text.mlp ? c->vision.mlp : c->text.mlp), &err))) {
        fprintf(stderr, "bench_encoder: %s\n", err.msg);
        return f;
    }
    const size_t image = (size_t)3 * c->image_size * c->image_size;
    float *pixels = malloc(16 * image * sizeof *pixels), *out = malloc(64 * (size_t)c->proj_dim * sizeof *out);
    for (size_t i = 0; i < 16 * image; i++) pixels[i] = sinf((float)i * 0.37f);

    printf("\n## %s\n\n", vx_precision_name(p));
    printf("| %-34s | %-20s | GFLOP/s | forward   | products  | of limit |\n", "workload", "throughput");
    printf("|%.36s|%.22s|---------|-----------|-----------|----------|\n",
           "--------------------------------------------------", "--------------------------------------------------");

    vision_arg v1 = {ctx, pixels, 1, out};
    result r = measure(run_vision, &v1, runs);
    row("vision tower, batch 1", 1.0 / r.forward, "images/s", &r);
    f.images1 = 1.0 / r.forward;
    vision_arg v16 = {ctx, pixels, 16, out};
    r = measure(run_vision, &v16, runs);
    row("vision tower, batch 16", 16.0 / r.forward, "images/s", &r);
    f.images16 = 16.0 / r.forward;

    /* "a photo of a dog running on grass" is 8 words: 10 tokens with start and end. */
    const char *query[1] = {"a photo of a dog running on grass"};
    int32_t ids[77];
    int ntok = vx_tokenize(vx_clip_tokenizer(m), query[0], ids, 77, &err);
    text_arg t1 = {ctx, query, 1, out};
    r = measure(run_text, &t1, runs * 8);
    char label[64];
    snprintf(label, sizeof label, "text, one %d-token query", ntok);
    row(label, 1.0 / r.forward, "texts/s", &r);
    f.query_ms = r.forward * 1e3;

    const char *batch[64];
    for (int i = 0; i < 64; i++) batch[i] = query[0];
    text_arg t64 = {ctx, batch, 64, out};
    r = measure(run_text, &t64, runs);
    row("text, batch of 64 queries", 64.0 / r.forward, "texts/s", &r);
    f.texts64 = 64.0 / r.forward;

    if (text_model) {
        const double before = rss_mib();
        vx_mtext *tm = vx_mtext_load(text_model, p, &err);
        vx_mtext_ctx *tctx = tm ? vx_mtext_ctx_new(tm, vx_mtext_max_tokens(tm), &err) : NULL;
        if (!tctx) {
            fprintf(stderr, "bench_encoder: %s\n", err.msg);
        } else {
            mtext_arg en = {tctx, query[0], out}, zh = {tctx, "一只狗在草地上奔跑的照片", out};
            r = measure(run_mtext, &en, runs * 8);
            int32_t mids[128];
            snprintf(label, sizeof label, "multilingual, one %d-token query",
                     vx_wordpiece_encode(vx_mtext_tokenizer(tm), query[0], mids, 128, &err));
            row(label, 1.0 / r.forward, "texts/s", &r);
            f.mquery_ms = r.forward * 1e3;
            r = measure(run_mtext, &zh, runs * 8);
            snprintf(label, sizeof label, "multilingual, Chinese, %d tokens",
                     vx_wordpiece_encode(vx_mtext_tokenizer(tm), zh.text, mids, 128, &err));
            row(label, 1.0 / r.forward, "texts/s", &r);
            f.mquery_zh_ms = r.forward * 1e3;
            f.mtext_mib = rss_mib() - before;
            f.route_us = route_cost(vx_clip_tokenizer(m));
        }
        vx_mtext_ctx_free(tctx);
        vx_mtext_free(tm);
    }

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    f.peak_mib = ru.ru_maxrss / 1024.0;
    printf("\n  median latency of one %d-token query (tokenize + encode): %.2f ms\n", ntok, f.query_ms);
    printf("  model load %.2f s; activations %.1f MiB (16 images, %d tokens); peak resident memory %.1f MiB\n",
           f.load_s, vx_clip_ctx_bytes(ctx) / 1048576.0, 64 * c->context, f.peak_mib);
    free(pixels);
    free(out);
    vx_qrunner_free(replay_runner);
    vx_clip_ctx_free(ctx);
    vx_clip_free(m);
    f.ok = 1;
    return f;
}

/* ---- FP32: OpenBLAS against oneDNN, product by product ------------------------------------ */

/* Every product shape of both towers' layers (qkv, out, fc1, fc2) at a query's and a
 * batch's rows, as the FP32 path runs them (vx_clip_blas: OpenBLAS's sgemm on the core it
 * picked, or for a few rows vidx's own AVX2 kernel) and on oneDNN's FP32 matmul (packed
 * weights, vx_qlinear at F32). Medians of `runs`. */
static void fp32_libraries(const vx_clip_config *c, int runs) {
    printf("\n## FP32 products: the FP32 path (OpenBLAS; a few rows: vidx's kernel) against oneDNN (GFLOP/s, medians)\n\n");
    printf("| tower | product | rows x k x n | FP32 path | oneDNN | oneDNN / FP32 path |\n|---|---|---|---|---|---|\n");
    struct { const char *tower; int W, M, rows[2]; } towers[2] = {
        {"vision", c->vision.width, c->vision.mlp, {c->vision_tokens, 16 * c->vision_tokens}},
        {"text", c->text.width, c->text.mlp, {10, 64 * 10}},
    };
    vx_error err;
    double log_ratio = 0;
    int n_ratio = 0;
    for (int t = 0; t < 2; t++) {
        const int W = towers[t].W, M = towers[t].M;
        const struct { const char *name; int n, k; } shapes[4] = {{"qkv", 3 * W, W}, {"out", W, W}, {"fc1", M, W}, {"fc2", W, M}};
        for (int sh = 0; sh < 4; sh++)
            for (int r = 0; r < 2; r++) {
                const int rows = towers[t].rows[r], n = shapes[sh].n, k = shapes[sh].k;
                float *w = malloc((size_t)n * k * sizeof *w), *x = malloc((size_t)rows * k * sizeof *x),
                      *y = malloc((size_t)rows * n * sizeof *y);
                for (size_t i = 0; i < (size_t)n * k; i++) w[i] = sinf((float)i * 0.013f) * 0.05f;
                for (size_t i = 0; i < (size_t)rows * k; i++) x[i] = cosf((float)i * 0.007f);
                vx_qweight *qw = vx_qweight_new(w, n, k, VX_PRECISION_F32, &err);
                vx_qrunner *qr = qw ? vx_qrunner_new(rows, k, &err) : NULL;
                if (!qr) {
                    fprintf(stderr, "bench_encoder: %s\n", err.msg);
                    vx_qweight_free(qw);
                    free(w), free(x), free(y);
                    return;
                }
                double tb[64], td[64];
                const int reps = runs * 5 < 64 ? runs * 5 : 64;
                /* Each library in a loop of its own (two warm-up runs first): interleaved, each
                 * one's idle threads, still spinning, take the cores from the other's. */
                for (int i = -2; i < reps; i++) {
                    const double t0 = vx_now();
                    vx_clip_blas(rows, n, k, 1.0f, x, k, w, k, 1, 0.0f, y, n); /* the FP32 path's own */
                    if (i >= 0) tb[i] = vx_now() - t0;
                }
                usleep(50000);
                for (int i = -2; i < reps; i++) {
                    const double t0 = vx_now();
                    vx_qlinear(qr, qw, x, rows, NULL, y, 0, VX_QACT_NONE);
                    if (i >= 0) td[i] = vx_now() - t0;
                }
                usleep(50000);
                const double flop = 2.0 * rows * n * k, gb = flop / bench_median(tb, reps) / 1e9,
                             gd = flop / bench_median(td, reps) / 1e9;
                printf("| %s | %s | %d x %d x %d | %.1f | %.1f | %.2fx |\n", towers[t].tower, shapes[sh].name, rows, k, n, gb,
                       gd, gd / gb);
                log_ratio += log(gd / gb);
                n_ratio++;
                vx_qrunner_free(qr);
                vx_qweight_free(qw);
                free(w), free(x), free(y);
            }
    }
    printf("\noneDNN against the FP32 path, geometric mean over the %d products: %.2fx\n", n_ratio, exp(log_ratio / n_ratio));
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_encoder MODEL_DIR [--runs N] [--precision f32,bf16,int8]\n");
        return 2;
    }
    vx_kernels_tune(argv); /* as vidx itself runs: OpenBLAS on the machine's best core */
    int runs = 7;
    char list[64] = "f32,bf16,int8";
    for (int i = 2; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--runs")) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--precision")) snprintf(list, sizeof list, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--text-model")) text_model = argv[++i];
    }
    vx_clip_config c;
    char cfg[4200];
    vx_error err;
    snprintf(cfg, sizeof cfg, "%s/config.json", argv[1]);
    if (vx_clip_config_load(cfg, &c, &err)) {
        fprintf(stderr, "bench_encoder: %s\n", err.msg);
        return 1;
    }
    printf("vidx encoder benchmark: %s (vision %d wide x %d layers, %d tokens; text %d wide x %d layers), "
           "OpenBLAS %d threads, %d runs, medians; one process per precision\n",
           argv[1], c.vision.width, c.vision.layers, c.vision_tokens, c.text.width, c.text.layers,
           openblas_get_num_threads(), runs);
    bench_print_machine(stdout); /* the machine and the kernels the products run on */
    vx_precision ps[3];
    figures fs[3];
    int n = 0;
    for (char *tok = strtok(list, ","); tok && n < 3; tok = strtok(NULL, ",")) {
        if (vx_precision_parse(tok, &ps[n], &err)) {
            fprintf(stderr, "bench_encoder: %s\n", err.msg);
            return 2;
        }
        if (vx_precision_check(ps[n], &err)) {
            printf("\n## %s: skipped (%s)\n", tok, err.msg);
            continue;
        }
        /* A process per precision: its peak memory is its own. */
        int fd[2];
        fflush(stdout);
        if (pipe(fd)) return 1;
        pid_t pid = fork();
        if (pid == 0) {
            close(fd[0]);
            figures f = run_precision(argv[1], ps[n], runs);
            fflush(stdout);
            if (write(fd[1], &f, sizeof f) != (ssize_t)sizeof f) _exit(1);
            _exit(f.ok ? 0 : 1);
        }
        close(fd[1]);
        memset(&fs[n], 0, sizeof fs[n]);
        if (read(fd[0], &fs[n], sizeof fs[n]) != (ssize_t)sizeof fs[n]) fs[n].ok = 0;
        close(fd[0]);
        waitpid(pid, NULL, 0);
        if (fs[n].ok) n++;
    }
    if (n == 0) return 1;
    if (ps[0] == VX_PRECISION_F32) fp32_libraries(&c, runs);
    printf("\n## against %s, same run\n\n", vx_precision_name(ps[0]));
    printf("| precision | batch 1 img/s | batch 16 img/s | x       | query ms | x       | batch 64 texts/s | peak MiB |\n");
    printf("|-----------|---------------|----------------|---------|----------|---------|------------------|----------|\n");
    for (int i = 0; i < n; i++)
        printf("| %-9s | %13.1f | %14.1f | %6.2fx | %8.2f | %6.2fx | %16.1f | %8.1f |\n", vx_precision_name(ps[i]),
               fs[i].images1, fs[i].images16, fs[i].images16 / fs[0].images16, fs[i].query_ms,
               fs[0].query_ms / fs[i].query_ms, fs[i].texts64, fs[i].peak_mib);
    if (text_model) {
        printf("\n## the multilingual text tower against CLIP's text tower, same process\n\n");
        printf("| precision | CLIP query ms | multilingual, English ms | x CLIP | Chinese ms | x CLIP | both towers ms | x CLIP | memory added MiB | routing us |\n");
        printf("|-----------|---------------|--------------------------|--------|------------|--------|----------------|--------|------------------|------------|\n");
        for (int i = 0; i < n; i++)
            printf("| %-9s | %13.2f | %24.2f | %5.2fx | %10.2f | %5.2fx | %14.2f | %5.2fx | %16.0f | %10.1f |\n",
                   vx_precision_name(ps[i]), fs[i].query_ms, fs[i].mquery_ms, fs[i].mquery_ms / fs[i].query_ms,
                   fs[i].mquery_zh_ms, fs[i].mquery_zh_ms / fs[i].query_ms, fs[i].query_ms + fs[i].mquery_ms,
                   (fs[i].query_ms + fs[i].mquery_ms) / fs[i].query_ms, fs[i].mtext_mib, fs[i].route_us);
        printf("\n(both towers: a query the router is unsure of, CLIP's and the multilingual tower's times added,\n"
               "as the query encoder runs them one after the other; routing: the router's guess per query)\n");
    }
    return 0;
}
