/* vidx common: small vector helpers shared by the encoder, the indexer and the tests'
 * callers: dot products and L2 normalisation with double accumulators, the monotonic
 * clock and the wall clock in milliseconds. Header-only. */
#ifndef VX_VECMATH_H
#define VX_VECMATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
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

/* Unix time in milliseconds (events, freshness). */
static inline int64_t vx_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Seconds on the monotonic clock. */
static inline double vx_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
