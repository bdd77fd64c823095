#include "query_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../common/hash.h"
#include "../common/idmap.h"

#define MAX_IDS 77

typedef struct entry {
    uint64_t key;
    int n;
    int32_t ids[MAX_IDS];
    int prev, next; /* LRU list, -1 = none */
} entry;

struct vx_query_cache {
    pthread_mutex_t mu;
    int cap, dim, used;
    entry *e;
    float *emb; /* [cap * dim] */
    int head, tail; /* most and least recently used */
    vx_idmap map;
};

static uint64_t key_of(const int32_t *ids, int n) {
    uint64_t k = vx_hash64(ids, (size_t)n * sizeof *ids);
    return k == 0 || k == UINT64_MAX ? 1 : k;
}

vx_query_cache *vx_query_cache_new(int capacity, int dim) {
    vx_query_cache *c = calloc(1, sizeof *c);
    if (!c || capacity < 1 || dim < 1) { free(c); return NULL; }
    c->cap = capacity;
    c->dim = dim;
    c->e = calloc((size_t)capacity, sizeof *c->e);
    c->emb = malloc((size_t)capacity * (size_t)dim * sizeof *c->emb);
    if (!c->e || !c->emb || vx_idmap_init(&c->map, (size_t)capacity)) { vx_query_cache_free(c); return NULL; }
    c->head = c->tail = -1;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void vx_query_cache_free(vx_query_cache *c) {
    if (!c) return;
    if (c->e) pthread_mutex_destroy(&c->mu);
    free(c->e);
    free(c->emb);
    vx_idmap_free(&c->map);
    free(c);
}

static void unlink_entry(vx_query_cache *c, int i) {
    entry *x = &c->e[i];
    if (x->prev >= 0) c->e[x->prev].next = x->next; else c->head = x->next;
    if (x->next >= 0) c->e[x->next].prev = x->prev; else c->tail = x->prev;
}

static void push_front(vx_query_cache *c, int i) {
    c->e[i].prev = -1;
    c->e[i].next = c->head;
    if (c->head >= 0) c->e[c->head].prev = i;
    c->head = i;
    if (c->tail < 0) c->tail = i;
}

int vx_query_cache_get(vx_query_cache *c, const int32_t *ids, int n, float *out) {
    if (n < 1 || n > MAX_IDS) return 0;
    uint64_t key = key_of(ids, n);
    pthread_mutex_lock(&c->mu);
    int64_t i = vx_idmap_get(&c->map, key);
    int found = i >= 0 && c->e[i].n == n && memcmp(c->e[i].ids, ids, (size_t)n * sizeof *ids) == 0;
    if (found) {
        memcpy(out, c->emb + (size_t)i * c->dim, (size_t)c->dim * sizeof *out);
        unlink_entry(c, (int)i);
        push_front(c, (int)i);
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

void vx_query_cache_put(vx_query_cache *c, const int32_t *ids, int n, const float *emb) {
    if (n < 1 || n > MAX_IDS) return;
    uint64_t key = key_of(ids, n);
    pthread_mutex_lock(&c->mu);
    int64_t i = vx_idmap_get(&c->map, key);
    if (i >= 0) {
        unlink_entry(c, (int)i);
    } else if (c->used < c->cap) {
        i = c->used++;
    } else {
        i = c->tail; /* evict the least recently used */
        unlink_entry(c, (int)i);
        vx_idmap_del(&c->map, c->e[i].key);
    }
    entry *x = &c->e[i];
    x->key = key;
    x->n = n;
    memcpy(x->ids, ids, (size_t)n * sizeof *ids);
    memcpy(c->emb + (size_t)i * c->dim, emb, (size_t)c->dim * sizeof *emb);
    vx_idmap_put(&c->map, key, (uint32_t)i); /* never grows: sized for the capacity */
    push_front(c, (int)i);
    pthread_mutex_unlock(&c->mu);
}

size_t vx_query_cache_size(vx_query_cache *c) {
    pthread_mutex_lock(&c->mu);
    size_t n = c->map.n;
    pthread_mutex_unlock(&c->mu);
    return n;
}
