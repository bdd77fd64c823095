#include "qlinear.h"

#include "../common/log.h"
#include "../common/vecmath.h"

#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- precision names and CPU support ------------------------------------------------- */

const char *vx_precision_name(vx_precision p) {
    switch (p) {
    case VX_PRECISION_BF16: return "bf16";
    case VX_PRECISION_INT8: return "int8";
    default: return "f32";
    }
}

vx_precision vx_precision_default(void) {
    return vx_precision_check(VX_PRECISION_BF16, NULL) == 0 ? VX_PRECISION_BF16 : VX_PRECISION_F32;
}

int vx_precision_parse(const char *s, vx_precision *p, vx_error *err) {
    if (!s || !*s || strcmp(s, "auto") == 0) *p = vx_precision_default();
    else if (strcmp(s, "f32") == 0 || strcmp(s, "fp32") == 0) *p = VX_PRECISION_F32;
    else if (strcmp(s, "bf16") == 0) *p = VX_PRECISION_BF16;
    else if (strcmp(s, "int8") == 0) *p = VX_PRECISION_INT8;
    else return vx_fail(err, "unknown precision \"%s\" (f32, bf16, int8 or auto)", s);
    return 0;
}

static int has_isa(dnnl_cpu_isa_t have, dnnl_cpu_isa_t want) { return ((unsigned)have & (unsigned)want) == (unsigned)want; }

int vx_precision_check(vx_precision p, vx_error *err) {
    if (p == VX_PRECISION_F32) return 0;
    /* The most capable instruction set oneDNN dispatches to here (ONEDNN_MAX_CPU_ISA may
     * lower it). Without these, oneDNN would emulate: slower than FP32, never chosen. */
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if (p == VX_PRECISION_BF16 && !has_isa(isa, dnnl_cpu_isa_avx512_core_bf16))
        return vx_fail(err, "precision bf16 needs a CPU with AVX-512 BF16 or AMX instructions; use --precision f32");
    if (p == VX_PRECISION_INT8 && !has_isa(isa, dnnl_cpu_isa_avx512_core_vnni) && !has_isa(isa, dnnl_cpu_isa_avx2_vnni))
        return vx_fail(err, "precision int8 needs a CPU with AVX-512 VNNI or AVX-VNNI instructions; use --precision f32");
    return 0;
}

int vx_precision_packed(vx_precision p) {
    if (p != VX_PRECISION_F32) return 1;
    const char *lib = getenv("VIDX_FP32_LIBRARY");
    if (lib && strcmp(lib, "onednn") == 0) return 1;
    if (lib && strcmp(lib, "openblas") == 0) return 0;
    return has_isa(dnnl_get_effective_cpu_isa(), dnnl_cpu_isa_avx512_core);
}

/* ---- the engine ---------------------------------------------------------------------- */

static dnnl_engine_t engine;
static dnnl_status_t engine_status = dnnl_runtime_error;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static void engine_init(void) { engine_status = dnnl_engine_create(&engine, dnnl_cpu, 0); }

static dnnl_engine_t get_engine(vx_error *err) {
    pthread_once(&engine_once, engine_init);
    if (engine_status != dnnl_success) {
        vx_fail(err, "oneDNN: cannot create a CPU engine (status %d)", (int)engine_status);
        return NULL;
    }
    return engine;
}

static int md2(dnnl_memory_desc_t *md, dnnl_dim_t rows, dnnl_dim_t cols, dnnl_data_type_t dt, dnnl_format_tag_t tag) {
    dnnl_dims_t dims = {rows, cols};
    return dnnl_memory_desc_init_by_tag(md, 2, dims, dt, tag) == dnnl_success ? 0 : -1;
}

/* INT8 inputs are unsigned with a zero point (u8 x s8: VNNI's native product), weights
 * signed and symmetric. */
static dnnl_data_type_t input_type(vx_precision p) {
    return p == VX_PRECISION_INT8 ? dnnl_u8 : p == VX_PRECISION_F32 ? dnnl_f32 : dnnl_bf16;
}
static dnnl_data_type_t weight_type(vx_precision p) {
    return p == VX_PRECISION_INT8 ? dnnl_s8 : p == VX_PRECISION_F32 ? dnnl_f32 : dnnl_bf16;
}

/* The attributes of a product. BF16: the epilogue (residual sum, bias, activation) as
 * post-ops. INT8: none; scales and the rest are vx_qlinear's own pass (see to_int8).
 * Even per-weight-row output scales given per call sent oneDNN 2.6 from its AMX kernels
 * to its generic int8 gemm (3x slower on a text query). */
static int make_attr(vx_precision p, int n, int accumulate, int has_bias, vx_qact act, dnnl_primitive_attr_t *attr) {
    dnnl_post_ops_t po = NULL;
    int rc = -1;
    if (dnnl_primitive_attr_create(attr) || dnnl_post_ops_create(&po)) goto done;
    if (p == VX_PRECISION_INT8) {
        accumulate = has_bias = 0;
        act = VX_QACT_NONE;
    }
    if (accumulate && dnnl_post_ops_append_sum(po, 1.0f)) goto done;
    if (has_bias) {
        dnnl_memory_desc_t bmd;
        if (md2(&bmd, 1, n, dnnl_f32, dnnl_ab) || dnnl_post_ops_append_binary(po, dnnl_binary_add, &bmd)) goto done;
    }
    /* QuickGELU is oneDNN's swish with alpha 1.702. */
    if (act == VX_QACT_QUICK_GELU && dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_swish, 1.702f, 0.0f)) goto done;
    if (act == VX_QACT_GELU && dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_erf, 0.0f, 0.0f)) goto done;
    if (dnnl_primitive_attr_set_post_ops(*attr, po)) goto done;
    rc = 0;
done:
    if (po) dnnl_post_ops_destroy(po);
    if (rc && *attr) { dnnl_primitive_attr_destroy(*attr); *attr = NULL; }
    return rc;
}

/* A matrix-multiply descriptor for rows x k inputs against the weight shape. weights_md
 * NULL lets oneDNN pick the layout it reads fastest. */
static dnnl_status_t make_pd(vx_precision p, int rows, int n, int k, const dnnl_memory_desc_t *weights_md,
                             int accumulate, int has_bias, vx_qact act, dnnl_primitive_desc_t *pd) {
    dnnl_memory_desc_t src, wei, dst;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_matmul_desc_t desc;
    if (md2(&src, rows, k, input_type(p), dnnl_ab) || md2(&dst, rows, n, dnnl_f32, dnnl_ab)) return dnnl_invalid_arguments;
    if (weights_md) wei = *weights_md;
    else if (md2(&wei, k, n, weight_type(p), dnnl_format_tag_any)) return dnnl_invalid_arguments;
    if (make_attr(p, n, accumulate, has_bias, act, &attr)) return dnnl_out_of_memory;
    dnnl_status_t s = dnnl_matmul_desc_init(&desc, &src, &wei, NULL, &dst);
    if (s == dnnl_success) s = dnnl_primitive_desc_create(pd, &desc, attr, engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    return s;
}

/* ---- weights ------------------------------------------------------------------------- */

/* Rows of the input the weight layout is chosen for. oneDNN's choice depends on the
 * weight shape and types, not on the rows; products of any row count then read it. */
#define LAYOUT_ROWS 64

struct vx_qweight {
    vx_precision precision;
    int n, k;
    dnnl_memory_desc_t md; /* packed layout */
    dnnl_memory_t mem;     /* owns the packed data */
    void *data;
    size_t bytes;
    float *scale;          /* INT8: [n] per output row; NULL for BF16 */
    float *zero_sum;       /* INT8: [n] the row's sum of quantised weights (for the inputs'
                            * zero points) */
};

/* f to BF16, round to nearest, ties to even; f finite (activations always are). */
static inline uint16_t bf16_round_finite(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* The same for weights read from a file, where a NaN stays NaN. */
static uint16_t bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return bf16_round_finite(f);
}

vx_qweight *vx_qweight_new(const float *W, int n, int k, vx_precision p, vx_error *err) {
    if (p != VX_PRECISION_BF16 && p != VX_PRECISION_INT8 && p != VX_PRECISION_F32) {
        vx_fail(err, "vx_qweight_new: unknown precision %d", (int)p);
        return NULL;
    }
    if (!get_engine(err)) return NULL;
    vx_qweight *w = calloc(1, sizeof *w);
    void *plain = NULL;
    dnnl_primitive_desc_t pd = NULL, rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_memory_t src = NULL;
    dnnl_stream_t stream = NULL;
    dnnl_status_t s;
    if (!w) goto oom;
    w->precision = p;
    w->n = n;
    w->k = k;
    /* The plain [n, k] matrix in the target type. */
    const size_t count = (size_t)n * k;
    if (p == VX_PRECISION_F32) {
        float *f = plain = malloc(count * sizeof *f);
        if (!f) goto oom;
        memcpy(f, W, count * sizeof *f);
    } else if (p == VX_PRECISION_BF16) {
        uint16_t *b = plain = malloc(count * sizeof *b);
        if (!b) goto oom;
        for (size_t i = 0; i < count; i++) b[i] = bf16_round(W[i]);
    } else {
        int8_t *q = plain = malloc(count);
        w->scale = malloc((size_t)n * sizeof *w->scale);
        w->zero_sum = malloc((size_t)n * sizeof *w->zero_sum);
        if (!q || !w->scale || !w->zero_sum) goto oom;
        for (int j = 0; j < n; j++) {
            const float *row = W + (size_t)j * k;
            float mx = 0;
            for (int i = 0; i < k; i++) mx = fmaxf(mx, fabsf(row[i]));
            const float scale = mx > 0 ? mx / 127.0f : 1.0f, inv = 1.0f / scale;
            w->scale[j] = scale;
            long sum = 0;
            for (int i = 0; i < k; i++) {
                q[(size_t)j * k + i] = (int8_t)lrintf(fminf(fmaxf(row[i] * inv, -127.f), 127.f));
                sum += q[(size_t)j * k + i];
            }
            w->zero_sum[j] = (float)sum;
        }
    }
    /* Pack: the layout oneDNN chose, filled by a reorder from the plain matrix. As a
     * [k, n] matrix, W's rows of k are the "ba" layout. */
    dnnl_memory_desc_t plain_md;
    if ((s = make_pd(p, LAYOUT_ROWS, n, k, NULL, 0, 0, VX_QACT_NONE, &pd)) != dnnl_success) {
        vx_fail(err, "oneDNN has no %s product for %d x %d weights (status %d)", vx_precision_name(p), n, k, (int)s);
        goto fail;
    }
    w->md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    if (md2(&plain_md, k, n, weight_type(p), dnnl_ba) ||
        dnnl_memory_create(&src, &plain_md, engine, plain) ||
        dnnl_memory_create(&w->mem, &w->md, engine, DNNL_MEMORY_ALLOCATE) ||
        dnnl_reorder_primitive_desc_create(&rpd, &plain_md, engine, &w->md, engine, NULL) ||
        dnnl_primitive_create(&reorder, rpd) || dnnl_stream_create(&stream, engine, dnnl_stream_default_flags)) {
        vx_fail(err, "oneDNN: cannot pack %d x %d %s weights", n, k, vx_precision_name(p));
        goto fail;
    }
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, w->mem}};
    if (dnnl_primitive_execute(reorder, stream, 2, args) || dnnl_stream_wait(stream)) {
        vx_fail(err, "oneDNN: packing %d x %d %s weights failed", n, k, vx_precision_name(p));
        goto fail;
    }
    dnnl_memory_get_data_handle(w->mem, &w->data);
    w->bytes = dnnl_memory_desc_get_size(&w->md) + (w->scale ? 2 * (size_t)n * sizeof(float) : 0);
    goto done;
oom:
    vx_fail(err, "out of memory for %d x %d %s weights", n, k, vx_precision_name(p));
fail:
    vx_qweight_free(w);
    w = NULL;
done:
    if (stream) dnnl_stream_destroy(stream);
    if (reorder) dnnl_primitive_destroy(reorder);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (src) dnnl_memory_destroy(src);
    free(plain);
    return w;
}

void vx_qweight_free(vx_qweight *w) {
    if (!w) return;
    if (w->mem) dnnl_memory_destroy(w->mem);
    free(w->scale);
    free(w->zero_sum);
    free(w);
}

size_t vx_qweight_bytes(const vx_qweight *w) { return w ? w->bytes : 0; }
int vx_qweight_rows(const vx_qweight *w) { return w->n; }
int vx_qweight_cols(const vx_qweight *w) { return w->k; }

/* ---- runner -------------------------------------------------------------------------- */

/* One compiled product: a weight shape and precision, a row count and an epilogue.
 * Memory objects are kept with it; their data pointers are set per call. */
typedef struct product {
    int n, k, rows, accumulate, has_bias;
    vx_qact act;
    vx_precision precision;
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, dst, bias;
    unsigned long last_use;
} product;

/* Text queries come in every length from 3 to 77 tokens: 5 weight shapes x lengths. */
#define CACHE_CAP 192

struct vx_qrunner {
    dnnl_stream_t stream;
    int max_rows, max_k;
    void *input;     /* [max_rows * max_k] converted input (2 bytes per value at most) */
    float *row_scales; /* [max_rows] INT8 scale of each input row of one call */
    float *row_zeros;  /* [max_rows] and its zero point */
    float *product;    /* [cap_product] INT8: the product before the epilogue */
    size_t cap_product;
    product cache[CACHE_CAP];
    int n_cache;
    unsigned long clock;
    size_t bytes;
    char error[256];
};

vx_qrunner *vx_qrunner_new(int max_rows, int max_k, vx_error *err) {
    if (!get_engine(err)) return NULL;
    vx_qrunner *r = calloc(1, sizeof *r);
    if (!r) { vx_fail(err, "out of memory"); return NULL; }
    r->max_rows = max_rows;
    r->max_k = max_k;
    r->bytes = (size_t)max_rows * max_k * 2 + 2 * (size_t)max_rows * sizeof(float);
    r->input = malloc((size_t)max_rows * max_k * 2 + 1);
    r->row_scales = malloc((size_t)(max_rows > 0 ? max_rows : 1) * sizeof(float));
    r->row_zeros = malloc((size_t)(max_rows > 0 ? max_rows : 1) * sizeof(float));
    if (!r->input || !r->row_scales || !r->row_zeros || dnnl_stream_create(&r->stream, engine, dnnl_stream_default_flags)) {
        vx_qrunner_free(r);
        vx_fail(err, "out of memory for the encoder's reduced-precision inputs");
        return NULL;
    }
    return r;
}

static void product_clear(product *p) {
    dnnl_memory_t *mems[] = {&p->src, &p->wei, &p->dst, &p->bias};
    for (size_t i = 0; i < sizeof mems / sizeof *mems; i++)
        if (*mems[i]) dnnl_memory_destroy(*mems[i]);
    if (p->prim) dnnl_primitive_destroy(p->prim);
    memset(p, 0, sizeof *p);
}

void vx_qrunner_free(vx_qrunner *r) {
    if (!r) return;
    for (int i = 0; i < r->n_cache; i++) product_clear(&r->cache[i]);
    if (r->stream) dnnl_stream_destroy(r->stream);
    free(r->input);
    free(r->row_scales);
    free(r->row_zeros);
    free(r->product);
    free(r);
}

size_t vx_qrunner_bytes(const vx_qrunner *r) { return r ? r->bytes : 0; }

const char *vx_qrunner_take_error(vx_qrunner *r) {
    static __thread char taken[256];
    if (!r->error[0]) return NULL;
    memcpy(taken, r->error, sizeof taken);
    r->error[0] = 0;
    return taken;
}

static int fail(vx_qrunner *r, const char *fmt, int a, int b, int c, int status) {
    if (!r->error[0]) {
        snprintf(r->error, sizeof r->error, fmt, a, b, c);
        size_t len = strlen(r->error);
        snprintf(r->error + len, sizeof r->error - len, " (oneDNN status %d)", status);
    }
    return -1;
}

static product *get_product(vx_qrunner *r, const vx_qweight *w, int rows, int accumulate, int has_bias, vx_qact act) {
    for (int i = 0; i < r->n_cache; i++) {
        product *p = &r->cache[i];
        if (p->n == w->n && p->k == w->k && p->rows == rows && p->precision == w->precision &&
            p->accumulate == accumulate && p->has_bias == has_bias && p->act == act) {
            p->last_use = ++r->clock;
            return p;
        }
    }
    product *p;
    if (r->n_cache < CACHE_CAP) p = &r->cache[r->n_cache++];
    else { /* evict the least recently used */
        p = &r->cache[0];
        for (int i = 1; i < CACHE_CAP; i++)
            if (r->cache[i].last_use < p->last_use) p = &r->cache[i];
        product_clear(p);
    }
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t s = make_pd(w->precision, rows, w->n, w->k, &w->md, accumulate, has_bias, act, &pd);
    if (s == dnnl_success) {
        const char *impl = "?";
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
        vx_debug("oneDNN %s product: %d rows x %d x %d, %s", vx_precision_name(w->precision), rows, w->n, w->k, impl);
        s = dnnl_primitive_create(&p->prim, pd);
    }
    dnnl_memory_desc_t src, dst, bias;
    if (s == dnnl_success &&
        (md2(&src, rows, w->k, input_type(w->precision), dnnl_ab) || md2(&dst, rows, w->n, dnnl_f32, dnnl_ab) ||
         md2(&bias, 1, w->n, dnnl_f32, dnnl_ab) || dnnl_memory_create(&p->src, &src, engine, DNNL_MEMORY_NONE) ||
         dnnl_memory_create(&p->wei, &w->md, engine, DNNL_MEMORY_NONE) ||
         dnnl_memory_create(&p->dst, &dst, engine, DNNL_MEMORY_NONE) ||
         dnnl_memory_create(&p->bias, &bias, engine, DNNL_MEMORY_NONE)))
        s = dnnl_out_of_memory;
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (s != dnnl_success) {
        product_clear(p);
        r->n_cache--; /* p is now the zeroed slot; keep the array dense */
        if (p != &r->cache[r->n_cache]) { *p = r->cache[r->n_cache]; memset(&r->cache[r->n_cache], 0, sizeof *p); }
        fail(r, "oneDNN cannot build a %d-row product with %d x %d weights", rows, w->n, w->k, (int)s);
        return NULL;
    }
    p->n = w->n;
    p->k = w->k;
    p->rows = rows;
    p->precision = w->precision;
    p->accumulate = accumulate;
    p->has_bias = has_bias;
    p->act = act;
    p->last_use = ++r->clock;
    return p;
}

/* Element-wise passes split over the cores above this many values. */
#define PARALLEL_MIN 65536

/* in[count] to BF16, round to nearest even. */
VX_VECTORIZE static void to_bf16(const float *in, size_t count, uint16_t *out) {
#pragma omp parallel for simd schedule(static) if (count >= PARALLEL_MIN)
    for (size_t i = 0; i < count; i++) out[i] = bf16_round_finite(in[i]);
}

/* in[rows, k] to unsigned 8 bits, each row over its own range (scale and zero point): one
 * symmetric scale for the whole input changed the top clip for 7% of captions on a B/32-shaped
 * model (a few large rows crush the rest); per row, as per token in PyTorch's dynamic
 * quantization, it does not. oneDNN 2.6 applies per-row scales only in its reference
 * kernels (a [rows, 1] multiply post-op: hundreds of times slower), so vx_qlinear
 * applies them in its own pass with the bias, residual sum and activation. */
VX_VECTORIZE static void to_int8(const float *in, int rows, int k, uint8_t *out, float *row_scales, float *row_zeros) {
#pragma omp parallel for schedule(static) if ((size_t)rows * k >= PARALLEL_MIN)
    for (int r = 0; r < rows; r++) {
        const float *x = in + (size_t)r * k;
        uint8_t *q = out + (size_t)r * k;
        /* Asymmetric: the row's own range over 0..255, so that one-sided inputs (after
         * GELU: -0.17 to large) keep all 8 bits. Zero stays exact (range includes 0). */
        float lo = 0, hi = 0;
#pragma omp simd reduction(min : lo) reduction(max : hi)
        for (int i = 0; i < k; i++) {
            lo = x[i] < lo ? x[i] : lo; /* not fminf: without -ffinite-math-only a libm call */
            hi = x[i] > hi ? x[i] : hi;
        }
        const float scale = hi > lo ? (hi - lo) / 255.0f : 1.0f, inv = 1.0f / scale;
        const float zero = rintf(-lo * inv);
        row_scales[r] = scale;
        row_zeros[r] = zero;
#pragma omp simd
        for (int i = 0; i < k; i++) {
            float v = rintf(x[i] * inv) + zero;
            v = v < 0.0f ? 0.0f : v;
            q[i] = (uint8_t)(v > 255.0f ? 255.0f : v);
        }
    }
}

/* out (= or +=) act(row scale x weight scale x (product - row zero x weight row sum) +
 * bias), over the cores. product: the integer products, exact in float below 2^24. */
VX_VECTORIZE static void int8_epilogue(const float *product, const float *row_scales, const float *row_zeros, const float *w_scale,
                          const float *zero_sum, int rows, int n, const float *bias, float *out, int accumulate,
                          vx_qact act) {
#pragma omp parallel for schedule(static) if ((size_t)rows * n >= PARALLEL_MIN)
    for (int r = 0; r < rows; r++) {
        const float s = row_scales[r], z = row_zeros[r], *p = product + (size_t)r * n;
        float *o = out + (size_t)r * n;
#pragma omp simd
        for (int j = 0; j < n; j++) {
            float v = (p[j] - z * zero_sum[j]) * (s * w_scale[j]) + (bias ? bias[j] : 0.0f);
            if (act == VX_QACT_QUICK_GELU) v = v / (1.0f + vx_fast_expf(-1.702f * v));
            else if (act == VX_QACT_GELU) v = 0.5f * v * (1.0f + erff(v * (float)M_SQRT1_2));
            o[j] = accumulate ? o[j] + v : v;
        }
    }
}

int vx_qlinear(vx_qrunner *r, const vx_qweight *w, const float *in, int rows, const float *bias, float *out,
               int accumulate, vx_qact act) {
    if (rows < 1) return 0;
    if (rows > r->max_rows || w->k > r->max_k)
        return fail(r, "product of %d rows x %d inputs exceeds the runner's %d rows", rows, w->k, r->max_rows, 0);
    const int int8 = w->precision == VX_PRECISION_INT8;
    /* At INT8 the epilogue is not oneDNN's: one compiled product per shape and rows. */
    product *p = int8 ? get_product(r, w, rows, 0, 0, VX_QACT_NONE)
                      : get_product(r, w, rows, accumulate, bias != NULL, accumulate ? VX_QACT_NONE : act);
    if (!p) return -1;
    const size_t count = (size_t)rows * w->k;
    dnnl_exec_arg_t args[8];
    int n_args = 0;
    const void *src = r->input;
    if (w->precision == VX_PRECISION_F32) src = in; /* read as it is */
    else if (w->precision == VX_PRECISION_BF16) to_bf16(in, count, r->input);
    else {
        to_int8(in, rows, w->k, r->input, r->row_scales, r->row_zeros);
        if (r->cap_product < (size_t)rows * w->n) {
            float *t = realloc(r->product, (size_t)rows * w->n * sizeof *t);
            if (!t) return fail(r, "out of memory for a %d x %d product", rows, w->n, 0, 0);
            r->bytes += ((size_t)rows * w->n - r->cap_product) * sizeof *t;
            r->product = t;
            r->cap_product = (size_t)rows * w->n;
        }

    }
    dnnl_memory_set_data_handle(p->src, (void *)src);
    dnnl_memory_set_data_handle(p->wei, w->data);
    dnnl_memory_set_data_handle(p->dst, int8 ? r->product : out);
    args[n_args++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, p->src};
    args[n_args++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, p->wei};
    args[n_args++] = (dnnl_exec_arg_t){DNNL_ARG_DST, p->dst};
    if (bias && !int8) {
        dnnl_memory_set_data_handle(p->bias, (void *)bias);
        /* The bias is post-op 1 after a sum, else post-op 0. */
        args[n_args++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(accumulate ? 1 : 0) | DNNL_ARG_SRC_1, p->bias};
    }
    dnnl_status_t s = dnnl_primitive_execute(p->prim, r->stream, n_args, args);
    if (s == dnnl_success) s = dnnl_stream_wait(r->stream);
    if (s != dnnl_success) return fail(r, "oneDNN product of %d rows with %d x %d weights failed", rows, w->n, w->k, (int)s);
    if (int8)
        int8_epilogue(r->product, r->row_scales, r->row_zeros, w->scale, w->zero_sum, rows, w->n, bias, out, accumulate,
                      act);
    return 0;
}
