#include "query_cache.h"

#include <stdlib.h>
#include <string.h>

#include "../common/hash.h"
#include "../common/lru.h"

/* Values: the token ids (to rule out hash collisions) then the embedding. */
struct vx_query_cache {
    vx_lru *lru;
    int dim;
};

vx_query_cache *vx_query_cache_new(int capacity, int dim) {
    vx_query_cache *c = calloc(1, sizeof *c);
    if (!c || dim < 1 || !(c->lru = vx_lru_new(capacity, 0))) { free(c); return NULL; }
    c->dim = dim;
    return c;
}

void vx_query_cache_free(vx_query_cache *c) {
    if (!c) return;
    vx_lru_free(c->lru);
    free(c);
}

/* The key of a tower's ids: the towers' ids name other pieces. */
static uint64_t key_of(int tower, const int32_t *ids, size_t bytes) {
    return vx_hash64(ids, bytes) + (uint64_t)tower * 0x9E3779B97F4A7C15ull;
}

int vx_query_cache_get(vx_query_cache *c, int tower, const int32_t *ids, int n, float *out) {
    if (n < 1) return 0;
    const size_t key_bytes = (size_t)n * sizeof *ids, emb_bytes = (size_t)c->dim * sizeof *out;
    size_t len = 0;
    char *v = vx_lru_get(c->lru, key_of(tower, ids, key_bytes), 0, &len);
    int found = v && len == key_bytes + emb_bytes && memcmp(v, ids, key_bytes) == 0;
    if (found) memcpy(out, v + key_bytes, emb_bytes);
    free(v);
    return found;
}

void vx_query_cache_put(vx_query_cache *c, int tower, const int32_t *ids, int n, const float *emb) {
    if (n < 1) return;
    const size_t key_bytes = (size_t)n * sizeof *ids, emb_bytes = (size_t)c->dim * sizeof *emb;
    char *v = malloc(key_bytes + emb_bytes);
    if (!v) return;
    memcpy(v, ids, key_bytes);
    memcpy(v + key_bytes, emb, emb_bytes);
    vx_lru_put(c->lru, key_of(tower, ids, key_bytes), 0, v, key_bytes + emb_bytes);
    free(v);
}

size_t vx_query_cache_size(vx_query_cache *c) { return vx_lru_size(c->lru); }
