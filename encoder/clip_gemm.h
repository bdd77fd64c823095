/* vidx encoder: the matrix products of CLIP's forward passes, for benchmarks.
 *
 * Not part of the model API (encoder/clip.h): bench_encoder records every product a
 * forward pass makes and replays exactly those, on the same memory, with the BLAS calls
 * alone, which gives the hardware limit its figures are compared against. */
#ifndef VX_CLIP_GEMM_H
#define VX_CLIP_GEMM_H

/* Called with every matrix product the forward passes make (shapes and operands);
 * process-wide; NULL to stop. */
typedef void (*vx_gemm_observer)(void *ctx, int m, int n, int k, const float *A, int lda, const float *B, int ldb,
                                 int b_transposed, float *C, int ldc);
void vx_clip_set_gemm_observer(vx_gemm_observer fn, void *ctx);

/* The same for the products a reduced-precision model makes through oneDNN (qlinear.h):
 * replayed with vx_qlinear on a runner of the benchmark's own. */
#include "qlinear.h"
typedef void (*vx_qlinear_observer)(void *ctx, const vx_qweight *w, const float *in, int rows, const float *bias,
                                    float *out, int accumulate, vx_qact act);
void vx_clip_set_qlinear_observer(vx_qlinear_observer fn, void *ctx);

/* The BLAS call behind every product: C[m,n] = alpha * A[m,k] * op(B) + beta * C,
 * row-major, B given as [n,k] (b_transposed, as weights are stored) or [k,n]. */
void vx_clip_blas(int m, int n, int k, float alpha, const float *A, int lda, const float *B, int ldb, int b_transposed,
                  float beta, float *C, int ldc);

#endif
