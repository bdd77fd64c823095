/* vidx encoder: the transformer encoder of every tower (transformer.h). */
#include "transformer.h"
#include "clip_gemm.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/small_gemm.h"
#include "../common/vecmath.h"

/* ---- weights --------------------------------------------------------------------------- */

void *vx_tf_own(vx_tf_owner *o, size_t bytes) {
    if (o->n == o->cap) {
        int cap = o->cap ? 2 * o->cap : 64;
        void **p = realloc(o->owned, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        o->owned = p;
        o->cap = cap;
    }
    void *p = malloc(bytes ? bytes : 1);
    if (p) o->owned[o->n++] = p;
    return p;
}

void vx_tf_owner_free(vx_tf_owner *o) {
    for (int i = 0; i < o->n; i++) free(o->owned[i]);
    free(o->owned);
    memset(o, 0, sizeof *o);
}

const float *vx_tf_tensor(vx_tf_owner *o, vx_checkpoint *ck, const char *name, int ndim, const int64_t *shape,
                          vx_error *err) {
    if (vx_ckpt_check(ck, name, ndim, shape, err)) return NULL;
    const vx_st_tensor *t = vx_ckpt_find(ck, name);
    if (t->dtype == VX_DT_F32 && ((uintptr_t)t->data & 3) == 0) return (const float *)(const void *)t->data;
    float *dst = vx_tf_own(o, t->numel * sizeof(float));
    if (!dst) { vx_fail(err, "out of memory loading %s", name); return NULL; }
    vx_st_to_f32(t, dst);
    vx_ckpt_drop_tensor(ck, t); /* its file pages are not read again */
    return dst;
}

#define T1(name, a) vx_tf_tensor(o, ck, name, 1, (const int64_t[]){a}, err)
#define T2(name, a, b) vx_tf_tensor(o, ck, name, 2, (const int64_t[]){a, b}, err)

int vx_tf_load_layers(vx_tf_owner *o, vx_checkpoint *ck, vx_precision precision, const char *prefix,
                      const vx_tf_names *nm, const vx_tower_config *c, vx_tf_layer *L, vx_error *err) {
    const int64_t W = c->width, M = c->mlp;
    char n[256];
    memset(L, 0, (size_t)c->layers * sizeof *L); /* a model freed half-loaded frees only what was packed */
    for (int i = 0; i < c->layers; i++) {
        vx_tf_layer *l = &L[i];
#define NAME(part, kind) (snprintf(n, sizeof n, "%s%d.%s.%s", prefix, i, part, kind), n)
        if (!(l->ln1_w = T1(NAME(nm->ln1, "weight"), W)) || !(l->ln1_b = T1(NAME(nm->ln1, "bias"), W)) ||
            !(l->ln2_w = T1(NAME(nm->ln2, "weight"), W)) || !(l->ln2_b = T1(NAME(nm->ln2, "bias"), W)) ||
            !(l->out_w = T2(NAME(nm->out, "weight"), W, W)) || !(l->out_b = T1(NAME(nm->out, "bias"), W)) ||
            !(l->fc1_w = T2(NAME(nm->fc1, "weight"), M, W)) || !(l->fc1_b = T1(NAME(nm->fc1, "bias"), M)) ||
            !(l->fc2_w = T2(NAME(nm->fc2, "weight"), W, M)) || !(l->fc2_b = T1(NAME(nm->fc2, "bias"), W)))
            return -1;
        /* Packed for oneDNN, the fused FP32 matrix is only the packing's input. */
        const int reduced = vx_precision_packed(precision);
        float *qkv_w = reduced ? malloc((size_t)(3 * W * W) * sizeof(float)) : vx_tf_own(o, (size_t)(3 * W * W) * sizeof(float));
        l->qkv_b = vx_tf_own(o, (size_t)(3 * W) * sizeof(float));
        if (!qkv_w || !l->qkv_b) { if (reduced) free(qkv_w); return vx_fail(err, "out of memory"); }
        const char *const parts[3] = {nm->q, nm->k, nm->v};
        for (int p = 0; p < 3; p++) {
            if (vx_ckpt_check(ck, NAME(parts[p], "weight"), 2, (const int64_t[]){W, W}, err)) { if (reduced) free(qkv_w); return -1; }
            vx_st_to_f32(vx_ckpt_find(ck, n), qkv_w + p * W * W);
            if (vx_ckpt_check(ck, NAME(parts[p], "bias"), 1, (const int64_t[]){W}, err)) { if (reduced) free(qkv_w); return -1; }
            vx_st_to_f32(vx_ckpt_find(ck, n), l->qkv_b + p * W);
        }
#undef NAME
        if (!reduced) { l->qkv_w = qkv_w; continue; }
        l->q_qkv = vx_qweight_new(qkv_w, (int)(3 * W), (int)W, precision, err);
        free(qkv_w);
        if (!l->q_qkv || !(l->q_out = vx_qweight_new(l->out_w, (int)W, (int)W, precision, err)) ||
            !(l->q_fc1 = vx_qweight_new(l->fc1_w, (int)M, (int)W, precision, err)) ||
            !(l->q_fc2 = vx_qweight_new(l->fc2_w, (int)W, (int)M, precision, err)))
            return vx_fail_prefix(err, "%s%d", prefix, i);
        /* The packed copies replace the FP32 matrices: let the kernel drop the file's
         * pages read while packing, layer by layer, so that they never all count as
         * resident at once (smaller tensors fault back in when used). */
        vx_ckpt_drop_pages(ck);
    }
    return 0;
}

void vx_tf_free_layers(vx_tf_layer *L, int n) {
    for (int i = 0; L && i < n; i++) {
        vx_qweight_free(L[i].q_qkv);
        vx_qweight_free(L[i].q_out);
        vx_qweight_free(L[i].q_fc1);
        vx_qweight_free(L[i].q_fc2);
    }
}

/* ---- activations ----------------------------------------------------------------------- */

static float *alloc_floats(size_t *bytes, size_t n) {
    *bytes += n * sizeof(float);
    return malloc((n ? n : 1) * sizeof(float));
}

int vx_tf_state_init(vx_tf_state *s, const vx_tower_config *c, int rows, int max_seq, int threads, size_t *bytes) {
    s->rows = rows;
    s->x = alloc_floats(bytes, (size_t)rows * c->width);
    s->h = alloc_floats(bytes, (size_t)rows * c->width);
    s->qkv = alloc_floats(bytes, (size_t)rows * 3 * c->width);
    s->attn = alloc_floats(bytes, (size_t)rows * c->width);
    s->mlp = alloc_floats(bytes, (size_t)rows * c->mlp);
    s->scores_stride = (size_t)max_seq * max_seq + (size_t)max_seq * (c->width / c->heads);
    s->scores = alloc_floats(bytes, (size_t)threads * s->scores_stride);
    return s->x && s->h && s->qkv && s->attn && s->mlp && s->scores ? 0 : -1;
}

void vx_tf_state_free(vx_tf_state *s) {
    free(s->x);
    free(s->h);
    free(s->qkv);
    free(s->attn);
    free(s->mlp);
    free(s->scores);
}

/* ---- kernels --------------------------------------------------------------------------- */

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
void vx_tf_linear(const vx_tf_runner *r, const float *in, int rows, int in_dim, const float *W, const vx_qweight *q,
                  const float *b, int out_dim, float *out, int accumulate, const vx_activation *act) {
    if (q) {
        const vx_qact qact = !act ? VX_QACT_NONE : *act == VX_ACT_QUICK_GELU ? VX_QACT_QUICK_GELU : VX_QACT_GELU;
        if (qlinear_observer) qlinear_observer(qlinear_observer_ctx, q, in, rows, b, out, accumulate, qact);
        vx_qlinear(r->qr, q, in, rows, b, out, accumulate, qact);
        return;
    }
    gemm(rows, out_dim, in_dim, 1.0f, in, in_dim, W, in_dim, 1, accumulate ? 1.0f : 0.0f, out, out_dim);
    if (b)
        for (int r = 0; r < rows; r++) {
            float *o = out + (size_t)r * out_dim;
            for (int j = 0; j < out_dim; j++) o[j] += b[j];
        }
    if (act) activate(out, (size_t)rows * out_dim, *act, r->threads);
}

VX_VECTORIZE void vx_tf_layernorm(const float *in, float *out, int rows, int dim, const float *w, const float *b, float eps,
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

/* One block. Pre-LN (CLIP): x += Attn(LN1(x)); x += MLP(LN2(x)). Post-LN (BERT):
 * x = LN1(x + Attn(x)); x = LN2(x + MLP(x)). */
void vx_tf_block(const vx_tf_runner *r, const vx_tf_layer *L, const vx_tower_config *c, vx_tf_state *s, int rows,
                 const int *seq_start, const int *seq_len, int n_seq, int causal) {
    const int W = c->width, dh = W / c->heads;
    const float scale = 1.0f / sqrtf((float)dh);
    const float *in = s->x;
    if (!c->post_ln) {
        vx_tf_layernorm(s->x, s->h, rows, W, L->ln1_w, L->ln1_b, c->eps, r->threads);
        in = s->h;
    }
    vx_tf_linear(r, in, rows, W, L->qkv_w, L->q_qkv, L->qkv_b, 3 * W, s->qkv, 0, NULL);
    /* Attention, at BF16/INT8: every (sequence, head) on its own, spread over the cores.
     * Once the layers' products are cheap, products this small (50 x 50 x 64 for an
     * image) cost BLAS more in calls and thread hand-offs than in arithmetic. */
    const int pairs = n_seq * c->heads;
    if (r->threads == 1) /* FP32: per head through BLAS (its threads), as measured fastest there */
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
#pragma omp parallel for schedule(dynamic) num_threads(r->threads) if (pairs > 1)
    for (int t = 0; t < pairs; t++) {
        const int q = t / c->heads, hd = t % c->heads;
        const float *base = s->qkv + (size_t)seq_start[q] * 3 * W;
        attend(base + hd * dh, base + W + hd * dh, base + 2 * W + hd * dh, 3 * W, seq_len[q], dh, scale, causal,
               s->scores + (size_t)omp_get_thread_num() * s->scores_stride,
               s->attn + (size_t)seq_start[q] * W + hd * dh, W);
    }
    vx_tf_linear(r, s->attn, rows, W, L->out_w, L->q_out, L->out_b, W, s->x, 1, NULL);
    if (c->post_ln) {
        vx_tf_layernorm(s->x, s->x, rows, W, L->ln1_w, L->ln1_b, c->eps, r->threads);
        in = s->x;
    } else {
        vx_tf_layernorm(s->x, s->h, rows, W, L->ln2_w, L->ln2_b, c->eps, r->threads);
        in = s->h;
    }
    vx_tf_linear(r, in, rows, W, L->fc1_w, L->q_fc1, L->fc1_b, c->mlp, s->mlp, 0, &c->act);
    vx_tf_linear(r, s->mlp, rows, c->mlp, L->fc2_w, L->q_fc2, L->fc2_b, W, s->x, 1, NULL);
    if (c->post_ln) vx_tf_layernorm(s->x, s->x, rows, W, L->ln2_w, L->ln2_b, c->eps, r->threads);
}

int vx_tf_error(const vx_tf_runner *r, vx_error *err) {
    const char *e = r->qr ? vx_qrunner_take_error(r->qr) : NULL;
    return e ? vx_fail(err, "encoder: %s", e) : 0;
}

int vx_tf_encode_runs(const vx_tf_runner *r, const int32_t *const *ids, const int *lens, int n, int max_len, int vocab,
                      int max_rows, int max_texts, void (*run)(void *arg, const int32_t *const *ids, const int *lens,
                                                               int k, float *out),
                      void *arg, float *out, int out_dim, vx_error *err) {
    for (int t = 0; t < n; t++) {
        if (lens[t] < 1 || lens[t] > max_len)
            return vx_fail(err, "text %d has %d tokens (1 to %d allowed)", t, lens[t], max_len);
        for (int i = 0; i < lens[t]; i++)
            if (ids[t][i] < 0 || ids[t][i] >= vocab)
                return vx_fail(err, "text %d: token id %d outside the vocabulary", t, (int)ids[t][i]);
    }
    for (int first = 0; first < n;) {
        int k = 0, total = 0;
        while (first + k < n && k < max_texts && total + lens[first + k] <= max_rows) total += lens[first + k++];
        run(arg, ids + first, lens + first, k, out + (size_t)first * out_dim);
        if (vx_tf_error(r, err)) return -1;
        first += k;
    }
    return 0;
}
