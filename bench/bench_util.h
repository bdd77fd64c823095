/* Helpers the benchmarks share: medians of repeated timings, and the machine they ran on. */
#ifndef VX_BENCH_UTIL_H
#define VX_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>

/* One line for a benchmark's header: the CPU, its instruction sets, OpenBLAS's core and
 * why, oneDNN's instruction set, where FP32 layer products run (bench_machine.c). */
void bench_print_machine(FILE *f);

static inline int bench_cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (sorted in place); 0 for none. */
static inline double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n ? (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2])) : 0;
}

#endif
