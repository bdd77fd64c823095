#include "keyframes.h"

#include <stdlib.h>
#include <string.h>

#include "../common/vecmath.h"

#define MAX_CANDIDATES 512
#define MAX_ROUNDS 20

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

int vx_pick_keyframes(const float *emb, int n, int dim, int k, float min_distance, int *out) {
    if (n <= 0 || k <= 0) return 0;
    /* Candidates: every frame, or MAX_CANDIDATES spread evenly. */
    const int m = n < MAX_CANDIDATES ? n : MAX_CANDIDATES;
    int *cand = malloc((size_t)m * sizeof *cand), *owner = malloc((size_t)m * sizeof *owner);
    int *med = malloc((size_t)k * sizeof *med);
    float *d = malloc((size_t)m * m * sizeof *d), *nearest = malloc((size_t)m * sizeof *nearest);
    int got = 0;
    if (!cand || !owner || !med || !d || !nearest) goto done;
    for (int i = 0; i < m; i++) cand[i] = (int)((long)i * n / m);
    for (int i = 0; i < m; i++) {
        d[(size_t)i * m + i] = 0;
        for (int j = i + 1; j < m; j++) {
            const float x = 1.0f - vx_dot(emb + (size_t)cand[i] * dim, emb + (size_t)cand[j] * dim, (size_t)dim);
            d[(size_t)i * m + j] = d[(size_t)j * m + i] = x > 0 ? x : 0;
        }
    }
    /* 1. The frame nearest all others, then the farthest from those chosen. */
    int best = 0;
    double best_sum = 1e300;
    for (int i = 0; i < m; i++) {
        double s = 0;
        for (int j = 0; j < m; j++) s += d[(size_t)i * m + j];
        if (s < best_sum) { best_sum = s; best = i; }
    }
    med[got++] = best;
    for (int i = 0; i < m; i++) nearest[i] = d[(size_t)i * m + best];
    while (got < k) {
        int far = -1;
        for (int i = 0; i < m; i++)
            if (far < 0 || nearest[i] > nearest[far]) far = i;
        if (nearest[far] < min_distance) break; /* everything is close to a chosen frame */
        med[got++] = far;
        for (int i = 0; i < m; i++)
            if (d[(size_t)i * m + far] < nearest[i]) nearest[i] = d[(size_t)i * m + far];
    }
    /* 2. Assign, recompute each cluster's medoid, until stable. */
    for (int round = 0; round < MAX_ROUNDS; round++) {
        for (int i = 0; i < m; i++) {
            int o = 0;
            for (int c = 1; c < got; c++)
                if (d[(size_t)i * m + med[c]] < d[(size_t)i * m + med[o]]) o = c;
            owner[i] = o;
        }
        int changed = 0;
        for (int c = 0; c < got; c++) {
            int arg = med[c];
            double low = 1e300;
            for (int i = 0; i < m; i++) {
                if (owner[i] != c) continue;
                double s = 0;
                for (int j = 0; j < m; j++)
                    if (owner[j] == c) s += d[(size_t)i * m + j];
                if (s < low) { low = s; arg = i; }
            }
            if (arg != med[c]) { med[c] = arg; changed = 1; }
        }
        if (!changed) break;
    }
    /* 3. Mutually different: a medoid too close to an earlier one goes. */
    int kept = 0;
    for (int c = 0; c < got; c++) {
        int close = 0;
        for (int p = 0; p < kept && !close; p++) close = d[(size_t)med[c] * m + med[p]] < min_distance;
        if (!close) med[kept++] = med[c];
    }
    got = kept;
    for (int c = 0; c < got; c++) out[c] = cand[med[c]];
    qsort(out, (size_t)got, sizeof *out, cmp_int);
done:
    free(cand);
    free(owner);
    free(med);
    free(d);
    free(nearest);
    return got;
}
