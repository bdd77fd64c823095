/* vidx common: a hash map from 64-bit ids to 32-bit slots (open addressing, linear
 * probing). Keys 0 and UINT64_MAX are reserved (no video id takes them); string keys
 * are mapped through vx_hash64 by the caller. Not thread-safe. */
#ifndef VX_IDMAP_H
#define VX_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct vx_idmap {
    uint64_t *keys; /* 0 = empty */
    uint32_t *vals;
    size_t mask, n;
} vx_idmap;

int vx_idmap_init(vx_idmap *m, size_t expected);
void vx_idmap_free(vx_idmap *m);
/* Value for key, or -1. */
int64_t vx_idmap_get(const vx_idmap *m, uint64_t key);
/* Sets key to val (insert or overwrite). Returns 0, or -1 when out of memory. */
int vx_idmap_put(vx_idmap *m, uint64_t key, uint32_t val);
/* Removes key if present. */
void vx_idmap_del(vx_idmap *m, uint64_t key);

#endif
