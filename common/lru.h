/* vidx common: a thread-safe least-recently-used cache of byte strings keyed by 64-bit
 * keys (hash what you key by; callers that cannot afford a collision store the full key
 * in the value and compare). Each entry carries a version: a lookup with another
 * version misses, so a whole cache is invalidated by bumping the version it is asked
 * with. Values are copied in under one mutex, and copied or lent out. */
#ifndef VX_LRU_H
#define VX_LRU_H

#include <stddef.h>
#include <stdint.h>

typedef struct vx_lru vx_lru;

/* At most `capacity` entries and, when max_bytes is not 0, values of at most max_bytes
 * in all (a value larger than that is not kept). */
vx_lru *vx_lru_new(int capacity, size_t max_bytes);
void vx_lru_free(vx_lru *c);
/* A malloc'd copy of the value (caller frees) and its length; NULL when absent, stale
 * or out of memory. */
void *vx_lru_get(vx_lru *c, uint64_t key, uint64_t version, size_t *len);
/* The value itself, lent without a copy (and its length); valid until vx_lru_release,
 * even if the cache drops it meanwhile. NULL when absent or stale. */
const void *vx_lru_borrow(vx_lru *c, uint64_t key, uint64_t version, size_t *len);
void vx_lru_release(const void *value);
void vx_lru_put(vx_lru *c, uint64_t key, uint64_t version, const void *value, size_t len);
size_t vx_lru_size(vx_lru *c);
/* Bytes of the values kept (with their headers). */
size_t vx_lru_bytes(vx_lru *c);

#endif
