/* vidx common: products of a few rows against a large matrix,
 * C[m,n] = alpha * A[m,k] * B[n,k]^T + beta * C (a short text query through the text
 * tower), and of one row against many (vx_dot_rows: a query against an inverted file's
 * centroids and lists).
 *
 * Such products are memory-bound: each weight is used only m times. BLAS either packs
 * the whole matrix (sgemm) or reads it m times (sgemv per row, from cache after the
 * first). This kernel reads every weight row once, uses it for all m rows while it is
 * in L1, and splits the output columns over the cores (OpenMP), so a 10-token query
 * runs near the machine's memory bandwidth. AVX2 and FMA are required at run time;
 * vx_small_gemm_available() says whether they are there.
 */
#ifndef VX_SMALL_GEMM_H
#define VX_SMALL_GEMM_H

int vx_small_gemm_available(void);
void vx_small_gemm(int m, int n, int k, float alpha, const float *A, int lda, const float *B, int ldb, float beta,
                   float *C, int ldc);
/* out[j] = q . B[j] for the n rows of B (k floats each, row-major): one query against a
 * block of stored vectors, on the calling thread. With AVX2, streams B once with
 * prefetching; without, a plain loop. */
void vx_dot_rows(const float *q, const float *B, long n, int k, float *out);

#endif
