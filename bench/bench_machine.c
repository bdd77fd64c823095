/* The machine a benchmark ran on, for its header (bench_util.h): the CPU, the instruction
 * sets that matter to vidx, and the kernels the products use (encoder/kernels.h). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "../encoder/kernels.h"

void bench_print_machine(FILE *f) {
    char cpu[256] = "unknown";
    FILE *ci = fopen("/proc/cpuinfo", "r");
    for (char line[512]; ci && fgets(line, sizeof line, ci);)
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            snprintf(cpu, sizeof cpu, "%s", strchr(line, ':') + 2);
            cpu[strcspn(cpu, "\n")] = '\0';
            break;
        }
    if (ci) fclose(ci);
    __builtin_cpu_init();
    static const char *const isas[] = {"avx2", "fma", "avx512f", "avx512bw", "avx512vnni", "avx512bf16"};
    char have[160] = "";
    for (size_t i = 0; i < sizeof isas / sizeof *isas; i++) {
        int yes = 0;
        if (i == 0) yes = __builtin_cpu_supports("avx2");
        else if (i == 1) yes = __builtin_cpu_supports("fma");
        else if (i == 2) yes = __builtin_cpu_supports("avx512f");
        else if (i == 3) yes = __builtin_cpu_supports("avx512bw");
        else if (i == 4) yes = __builtin_cpu_supports("avx512vnni");
        else yes = __builtin_cpu_supports("avx512bf16");
        if (yes) snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s", *have ? " " : "", isas[i]);
    }
    vx_kernels k;
    vx_kernels_describe(&k);
    fprintf(f, "machine: %s, %ld cores online; %s; OpenBLAS core %s (%s); oneDNN ISA %s; FP32 layer products on %s\n",
            cpu, sysconf(_SC_NPROCESSORS_ONLN), *have ? have : "no AVX2", k.openblas, k.openblas_why, k.onednn, k.fp32);
}
