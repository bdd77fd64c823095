/* vidx encoder: linear layers in reduced precision (BF16 or INT8) on oneDNN.
 *
 * A vx_qweight is one weight matrix W[n, k] (rows = outputs, as CLIP stores them)
 * converted once to BF16, or to INT8 with one scale per output row, and packed in the
 * layout oneDNN's matrix-multiply kernels read fastest on this CPU (AMX tiles, AVX-512
 * BF16/VNNI). It is read-only after creation and may be shared by threads.
 *
 * A vx_qrunner is one thread's state: a stream, the scratch for converted inputs and a
 * cache of compiled products, one per (shape, rows, epilogue).
 *
 *   out[rows, n] (= or +=) in[rows, k] * W^T + bias
 *
 * Inputs are converted per call: to BF16 (round to nearest even), or to INT8 with one
 * scale per row (max |x| / 127, symmetric). Products accumulate in FP32 (BF16) or INT32
 * (INT8); the output, bias, residual sum and activation stay FP32.
 *
 * Conventions: constructors return NULL and fill err; free functions accept NULL.
 */
#ifndef VX_QLINEAR_H
#define VX_QLINEAR_H

#include <stddef.h>

#include "../common/error.h"

typedef enum vx_precision {
    VX_PRECISION_F32 = 0, /* the exact path: OpenBLAS, FP32 weights */
    VX_PRECISION_BF16 = 1,
    VX_PRECISION_INT8 = 2,
} vx_precision;

/* "f32", "bf16", "int8". */
const char *vx_precision_name(vx_precision p);
/* Parses one of those names; "auto" (or NULL or "") gives vx_precision_default(). */
int vx_precision_parse(const char *s, vx_precision *p, vx_error *err);
/* What this CPU runs best at full accuracy: BF16 where it has BF16 instructions (AMX or
 * AVX-512 BF16), else FP32. INT8 is never the default: it costs accuracy. */
vx_precision vx_precision_default(void);
/* 0 when this CPU has instructions for p (FP32 always); else -1 and err says what is
 * missing. */
int vx_precision_check(vx_precision p, vx_error *err);
/* Whether the layers' products at p run on oneDNN (packed weights, vx_qlinear): BF16 and
 * INT8 always; FP32 when VIDX_FP32_LIBRARY says "onednn", or by default on a CPU with
 * AVX-512, where oneDNN's FP32 products measured faster than OpenBLAS's (bench_encoder,
 * Intel Xeon: 1.1-1.2x on batches, 1.9-2.8x on a query's rows). "openblas" keeps the
 * OpenBLAS path (the default on other CPUs, not measured yet). */
int vx_precision_packed(vx_precision p);

typedef struct vx_qweight vx_qweight;
typedef struct vx_qrunner vx_qrunner;

/* W: [n, k] row-major FP32. p: BF16 or INT8; or F32 (oneDNN's FP32 products, measured
 * against OpenBLAS by bench_encoder: the encoder's FP32 path is OpenBLAS's). */
vx_qweight *vx_qweight_new(const float *W, int n, int k, vx_precision p, vx_error *err);
void vx_qweight_free(vx_qweight *w);
size_t vx_qweight_bytes(const vx_qweight *w);
int vx_qweight_rows(const vx_qweight *w); /* n */
int vx_qweight_cols(const vx_qweight *w); /* k */

/* For inputs of up to max_rows x max_k floats. */
vx_qrunner *vx_qrunner_new(int max_rows, int max_k, vx_error *err);
void vx_qrunner_free(vx_qrunner *r);
size_t vx_qrunner_bytes(const vx_qrunner *r);

/* An activation applied to the output in the same pass. */
typedef enum vx_qact {
    VX_QACT_NONE = 0,
    VX_QACT_QUICK_GELU = 1, /* x * sigmoid(1.702 x) */
    VX_QACT_GELU = 2,       /* x * Phi(x), with erf */
} vx_qact;

/* out[rows, n] (= or += with accumulate) act(in[rows, k] * W^T + bias) (bias may be
 * NULL; act only without accumulate). in and out are contiguous row-major. On failure
 * returns -1 and records the first error in the runner (vx_qrunner_take_error). */
int vx_qlinear(vx_qrunner *r, const vx_qweight *w, const float *in, int rows, const float *bias, float *out,
               int accumulate, vx_qact act);
/* The first error since the last call (NULL if none); clears it. */
const char *vx_qrunner_take_error(vx_qrunner *r);

#endif
