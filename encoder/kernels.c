/* vidx encoder: the kernels behind the products (kernels.h). */
#include "kernels.h"
#include "qlinear.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>


/* Set before the program executes itself again: what OpenBLAS picked on its own. */
#define PICKED_ENV "VIDX_OPENBLAS_PICKED"

const char *vx_openblas_better_core(const char *picked, int avx2_fma, int avx512) {
    /* OpenBLAS's x86-64 cores with AVX2 kernels or better. */
    static const char *const strong[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "Excavator"};
    if (!avx2_fma || !picked) return NULL;
    for (size_t i = 0; i < sizeof strong / sizeof *strong; i++)
        if (strcasecmp(picked, strong[i]) == 0) return NULL; /* a user or a distribution chose it: kept */
    return avx512 ? "SkylakeX" : "Haswell";
}

void vx_kernels_tune(char **argv) {
    int changed = 0;
    if (!getenv("GOMP_SPINCOUNT") && !getenv("OMP_WAIT_POLICY") && setenv("GOMP_SPINCOUNT", "10000", 1) == 0)
        changed = 1; /* why: kernels.h */
    if (!getenv("OPENBLAS_CORETYPE")) {
        __builtin_cpu_init();
        const int avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        const int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
        const char *picked = openblas_get_corename();
        const char *better = vx_openblas_better_core(picked, avx2_fma, avx512);
        if (better && setenv(PICKED_ENV, picked, 1) == 0 && setenv("OPENBLAS_CORETYPE", better, 1) == 0) changed = 1;
    }
    if (changed) execv("/proc/self/exe", argv); /* returns only on failure: then run as we are */
}

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_sse41: return "sse41";
    default: return "other";
    }
}

void vx_kernels_describe(vx_kernels *out) {
    memset(out, 0, sizeof *out);
    const char *core = openblas_get_corename();
    snprintf(out->openblas, sizeof out->openblas, "%s", core ? core : "unknown");
    const char *set = getenv("OPENBLAS_CORETYPE"), *picked = getenv(PICKED_ENV);
    if (set && picked) snprintf(out->openblas_why, sizeof out->openblas_why, "set by vidx: OpenBLAS picked %s", picked);
    else if (set) snprintf(out->openblas_why, sizeof out->openblas_why, "OPENBLAS_CORETYPE");
    else snprintf(out->openblas_why, sizeof out->openblas_why, "picked by OpenBLAS");
    out->onednn = isa_name(dnnl_get_effective_cpu_isa());
    out->fp32 = vx_precision_packed(VX_PRECISION_F32) ? "oneDNN" : "OpenBLAS";
}
