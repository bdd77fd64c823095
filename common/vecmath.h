/* vidx common: small vector helpers shared by the encoder, the indexer and the tests'
 * callers: dot products and L2 normalisation with double accumulators, the monotonic
 * clock and the wall clock in milliseconds. Header-only. */
#ifndef VX_VECMATH_H
#define VX_VECMATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* Compiled three times (AVX-512, AVX2, plain x86-64) and picked at load for this CPU:
 * for the element-wise loops of the encoder, which the default x86-64 target vectorises
 * only 4 floats wide. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) /* clang 14 miscompiled them */
#define VX_VECTORIZE __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VX_VECTORIZE
#endif

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

/* exp(x) for float32 within 2 ulp, written so compilers vectorise loops that call it
 * (libm's expf is a call the vectoriser cannot see through): Cody-Waite reduction by
 * ln 2 and a degree-6 polynomial, 2^n put together in the exponent bits. */
static inline float vx_fast_expf(float x) {
    x = x > -87.3f ? x : -87.3f;
    x = x < 88.7f ? x : 88.7f;
    const float shift = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float n = (x * 1.44269504f + shift) - shift;
    float r = x - n * 0.693145752f - n * 1.42860677e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666418f + r * (0.00833336171f +
                                                                                        r * 0.00138873165f)))));
    int32_t e = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &e, sizeof scale);
    return p * scale;
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
