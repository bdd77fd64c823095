/* vidx common: the project's one hash map, from 64-bit keys to 64-bit values (open
 * addressing, linear probing, backward-shift deletion).
 *
 * Keys 0 and UINT64_MAX are reserved: no video id takes them, and callers with other
 * keys (string hashes, packed pairs, pointers) map them away first. A map keyed by a
 * string's hash must compare the string itself on lookup (see encoder/tokenizer.c).
 * Not thread-safe. */
#ifndef VX_IDMAP_H
#define VX_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct vx_idmap {
    uint64_t *keys; /* 0 = empty */
    uint64_t *vals;
    size_t mask, n;
} vx_idmap;

/* Sized so that `expected` keys fit without growing. Returns 0, or -1 when out of memory. */
int vx_idmap_init(vx_idmap *m, size_t expected);
void vx_idmap_free(vx_idmap *m);
/* 1 and *val (when val is not NULL) if key is present, else 0. */
int vx_idmap_get(const vx_idmap *m, uint64_t key, uint64_t *val);
/* For maps whose values are indexes (below 2^63): the value, or -1 when absent. */
static inline int64_t vx_idmap_index(const vx_idmap *m, uint64_t key) {
    uint64_t v;
    return vx_idmap_get(m, key, &v) ? (int64_t)v : -1;
}
/* Sets key to val (insert or overwrite). Returns 0, or -1 when out of memory. */
int vx_idmap_put(vx_idmap *m, uint64_t key, uint64_t val);
/* Removes key if present. */
void vx_idmap_del(vx_idmap *m, uint64_t key);

#endif
