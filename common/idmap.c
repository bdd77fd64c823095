#include "idmap.h"

#include <stdlib.h>

static size_t slot_of(uint64_t key, size_t mask) { return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 24) & mask; }

int vx_idmap_init(vx_idmap *m, size_t expected) {
    size_t cap = 16;
    while (cap < 2 * expected) cap *= 2;
    m->keys = calloc(cap, sizeof *m->keys);
    m->vals = malloc(cap * sizeof *m->vals);
    m->mask = cap - 1;
    m->n = 0;
    if (!m->keys || !m->vals) { vx_idmap_free(m); return -1; }
    return 0;
}

void vx_idmap_free(vx_idmap *m) {
    free(m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->mask = m->n = 0;
}

int vx_idmap_get(const vx_idmap *m, uint64_t key, uint64_t *val) {
    if (!m->keys) return 0;
    for (size_t i = slot_of(key, m->mask);; i = (i + 1) & m->mask) {
        if (m->keys[i] == key) {
            if (val) *val = m->vals[i];
            return 1;
        }
        if (m->keys[i] == 0) return 0;
    }
}

static int grow(vx_idmap *m) {
    vx_idmap g;
    if (vx_idmap_init(&g, (m->mask + 1))) return -1;
    for (size_t i = 0; i <= m->mask; i++)
        if (m->keys[i]) vx_idmap_put(&g, m->keys[i], m->vals[i]);
    vx_idmap_free(m);
    *m = g;
    return 0;
}

int vx_idmap_put(vx_idmap *m, uint64_t key, uint64_t val) {
    if (!m->keys && vx_idmap_init(m, 16)) return -1;
    if (2 * (m->n + 1) > m->mask + 1 && grow(m)) return -1;
    size_t i = slot_of(key, m->mask);
    while (m->keys[i] && m->keys[i] != key) i = (i + 1) & m->mask;
    if (!m->keys[i]) { m->keys[i] = key; m->n++; }
    m->vals[i] = val;
    return 0;
}

void vx_idmap_del(vx_idmap *m, uint64_t key) {
    if (!m->keys) return;
    size_t i = slot_of(key, m->mask);
    while (m->keys[i] != key) {
        if (m->keys[i] == 0) return;
        i = (i + 1) & m->mask;
    }
    /* Backward-shift deletion: move later entries of the probe run into the gap. */
    size_t gap = i;
    for (size_t j = (gap + 1) & m->mask; m->keys[j]; j = (j + 1) & m->mask) {
        size_t home = slot_of(m->keys[j], m->mask);
        /* j's entry may fill the gap when its home is not within (gap, j]. */
        int between = gap <= j ? (home > gap && home <= j) : (home > gap || home <= j);
        if (!between) {
            m->keys[gap] = m->keys[j];
            m->vals[gap] = m->vals[j];
            gap = j;
        }
    }
    m->keys[gap] = 0;
    m->n--;
}
