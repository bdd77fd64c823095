/* vidx encoder: which kernels run the matrix products, and making sure they are the
 * machine's best.
 *
 * FP32 products (every product at --precision f32, attention, the labels' calibration)
 * run on OpenBLAS, which picks its kernels from the CPU it recognises. Debian 12's
 * OpenBLAS 0.3.21 does not know every recent Xeon: on one with AVX-512 BF16/VNNI and AMX
 * it picked its generic "Prescott" kernels, 34 GFLOP/s on a vision-tower product where
 * its Haswell kernels gave 140 and SkylakeX 263 (issue 39: 800x768 by 768x3072, 2
 * threads). OpenBLAS reads OPENBLAS_CORETYPE when it loads, before main, so vidx sets it
 * and executes itself again, as it does for GOMP_SPINCOUNT (common/system.h). BF16 and
 * INT8 products run on oneDNN, which dispatches by instruction set itself.
 */
#ifndef VX_KERNELS_H
#define VX_KERNELS_H

/* The OpenBLAS core to ask for in place of `picked` on a CPU with these instructions, or
 * NULL when picked is good enough: a core older than AVX2 (Prescott, Nehalem,
 * Sandybridge, ...) on a CPU with AVX2 and FMA gets Haswell, or SkylakeX with AVX-512
 * F/BW/DQ/VL. */
const char *vx_openblas_better_core(const char *picked, int avx2_fma, int avx512);

/* OpenMP's threads (the encoder's products and attention heads) spin up to
 * GOMP_SPINCOUNT iterations waiting for more work before sleeping: 300,000 by default.
 * While indexing, that spinning takes the core the decoding thread needs. 10,000 keeps
 * back-to-back products spinning (a text query takes 3.1 ms either way) and gives the
 * core up sooner (the shared clips index at 40 instead of 34 s of video per second).
 *
 * First thing in main: GOMP_SPINCOUNT (unless it or OMP_WAIT_POLICY is set) and, unless the user set it,
 * OPENBLAS_CORETYPE when OpenBLAS picked a weaker core than the CPU runs; then the program
 * is executed again (same pid and arguments) when either changed. */
void vx_kernels_tune(char **argv);

/* The kernels in use, for vidx info, /healthz and the benchmarks. */
typedef struct vx_kernels {
    char openblas[32];   /* the core OpenBLAS runs ("SkylakeX") */
    char openblas_why[96]; /* "picked by OpenBLAS", "OPENBLAS_CORETYPE", "set by vidx: OpenBLAS picked Prescott" */
    const char *onednn;  /* oneDNN's instruction set ("avx512_core_amx") */
    const char *fp32;    /* the library of FP32 layer products: "oneDNN" or "OpenBLAS" (vx_precision_packed) */
} vx_kernels;
void vx_kernels_describe(vx_kernels *out);

#endif
