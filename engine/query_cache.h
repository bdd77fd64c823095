/* vidx engine: the query embedding cache. Text embeddings keyed by the query's token ids,
 * so texts that normalise alike ("A  Dog", "a dog") share one entry and the key is
 * exactly what decides the embedding. Least recently used entries go first.
 * Thread-safe (one mutex; lookups are a hash probe and a copy). */
#ifndef VX_QUERY_CACHE_H
#define VX_QUERY_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct vx_query_cache vx_query_cache;

vx_query_cache *vx_query_cache_new(int capacity, int dim);
void vx_query_cache_free(vx_query_cache *c);
/* Copies the embedding of these tokens of this tower (its own ids: CLIP's, or the
 * multilingual tower's) into out; returns 1 if found, else 0. */
int vx_query_cache_get(vx_query_cache *c, int tower, const int32_t *ids, int n, float *out);
void vx_query_cache_put(vx_query_cache *c, int tower, const int32_t *ids, int n, const float *emb);
size_t vx_query_cache_size(vx_query_cache *c);

#endif
