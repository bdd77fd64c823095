/* vidx common: small vector helpers shared by the encoder, the indexer and the tests'
 * callers: dot products and L2 normalisation with double accumulators, and a
 * monotonic clock. Header-only. */
#ifndef VX_VECMATH_H
#define VX_VECMATH_H

#include <math.h>
#include <stddef.h>
#include <time.h>

static inline float vx_dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (float)s;
}

/* Scales v to unit length; a zero vector stays zero. */
static inline void vx_normalize(float *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)v[i] * v[i];
    float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
    for (size_t i = 0; i < n; i++) v[i] *= inv;
}

/* Seconds on the monotonic clock. */
static inline double vx_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
