#include "lru.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"

/* A value, reference counted: the cache holds one reference, each borrower another, so
 * a value lent out outlives its eviction. */
typedef struct stored {
    atomic_int refs;
    size_t len;
    alignas(max_align_t) unsigned char data[];
} stored;

static void release(stored *v) {
    if (v && atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1) free(v);
}

typedef struct entry {
    uint64_t key, version;
    stored *value;
    int prev, next; /* -1 = none */
} entry;

struct vx_lru {
    pthread_mutex_t mu;
    int cap, used, head, tail; /* head: most recently used */
    size_t bytes, max_bytes;   /* of the values kept, with their headers; 0: no bound */
    entry *e;
    vx_idmap map;
};

static uint64_t map_key(uint64_t k) { return k == 0 || k == UINT64_MAX ? 1 : k; }

vx_lru *vx_lru_new(int capacity, size_t max_bytes) {
    vx_lru *c = calloc(1, sizeof *c);
    if (!c || capacity < 1) { free(c); return NULL; }
    c->cap = capacity;
    c->max_bytes = max_bytes;
    c->head = c->tail = -1;
    c->e = calloc((size_t)capacity, sizeof *c->e);
    if (!c->e || vx_idmap_init(&c->map, (size_t)capacity)) {
        free(c->e);
        vx_idmap_free(&c->map);
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void vx_lru_free(vx_lru *c) {
    if (!c) return;
    for (int i = 0; i < c->used; i++) release(c->e[i].value);
    free(c->e);
    vx_idmap_free(&c->map);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void unlink_entry(vx_lru *c, int i) {
    entry *x = &c->e[i];
    if (x->prev >= 0) c->e[x->prev].next = x->next; else c->head = x->next;
    if (x->next >= 0) c->e[x->next].prev = x->prev; else c->tail = x->prev;
}

static void push_front(vx_lru *c, int i) {
    c->e[i].prev = -1;
    c->e[i].next = c->head;
    if (c->head >= 0) c->e[c->head].prev = i;
    c->head = i;
    if (c->tail < 0) c->tail = i;
}

/* The entry for key at version, moved to the front, or NULL. Under mu. */
static stored *find(vx_lru *c, uint64_t key, uint64_t version) {
    uint64_t i;
    if (!vx_idmap_get(&c->map, map_key(key), &i) || c->e[i].key != key || c->e[i].version != version) return NULL;
    unlink_entry(c, (int)i);
    push_front(c, (int)i);
    return c->e[i].value;
}

void *vx_lru_get(vx_lru *c, uint64_t key, uint64_t version, size_t *len) {
    void *out = NULL;
    pthread_mutex_lock(&c->mu);
    stored *v = find(c, key, version);
    if (v && (out = malloc(v->len ? v->len : 1))) {
        memcpy(out, v->data, v->len);
        *len = v->len;
    }
    pthread_mutex_unlock(&c->mu);
    return out;
}

const void *vx_lru_borrow(vx_lru *c, uint64_t key, uint64_t version, size_t *len) {
    pthread_mutex_lock(&c->mu);
    stored *v = find(c, key, version);
    if (v) {
        atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
        *len = v->len;
    }
    pthread_mutex_unlock(&c->mu);
    return v ? v->data : NULL;
}

void vx_lru_release(const void *value) {
    if (value) release((stored *)((const unsigned char *)value - offsetof(stored, data)));
}

static size_t footprint(const stored *v) { return sizeof *v + v->len; }

/* Drops entry i; the last slot moves into its place, so slots stay packed in [0, used).
 * Under mu. */
static void remove_entry(vx_lru *c, int i) {
    const int last = c->used - 1;
    unlink_entry(c, i);
    vx_idmap_del(&c->map, map_key(c->e[i].key));
    c->bytes -= footprint(c->e[i].value);
    release(c->e[i].value);
    if (i != last) {
        c->e[i] = c->e[last];
        if (c->e[i].prev >= 0) c->e[c->e[i].prev].next = i; else c->head = i;
        if (c->e[i].next >= 0) c->e[c->e[i].next].prev = i; else c->tail = i;
        vx_idmap_put(&c->map, map_key(c->e[i].key), (uint64_t)i); /* overwrite: never grows */
    }
    c->used--;
}

void vx_lru_put(vx_lru *c, uint64_t key, uint64_t version, const void *value, size_t len) {
    if (c->max_bytes && sizeof(stored) + len > c->max_bytes) return; /* it would crowd out everything */
    stored *copy = malloc(sizeof *copy + len);
    if (!copy) return;
    atomic_init(&copy->refs, 1);
    copy->len = len;
    memcpy(copy->data, value, len);
    pthread_mutex_lock(&c->mu);
    uint64_t i;
    if (vx_idmap_get(&c->map, map_key(key), &i)) remove_entry(c, (int)i); /* replaced */
    /* Room by count and by bytes, least recently used first. */
    while (c->used > 0 && (c->used >= c->cap || (c->max_bytes && c->bytes + footprint(copy) > c->max_bytes)))
        remove_entry(c, c->tail);
    i = (uint64_t)c->used++;
    c->e[i] = (entry){.key = key, .version = version, .value = copy};
    c->bytes += footprint(copy);
    vx_idmap_put(&c->map, map_key(key), i); /* never grows: sized for the capacity */
    push_front(c, (int)i);
    pthread_mutex_unlock(&c->mu);
}

size_t vx_lru_bytes(vx_lru *c) {
    pthread_mutex_lock(&c->mu);
    size_t n = c->bytes;
    pthread_mutex_unlock(&c->mu);
    return n;
}

size_t vx_lru_size(vx_lru *c) {
    pthread_mutex_lock(&c->mu);
    size_t n = c->map.n;
    pthread_mutex_unlock(&c->mu);
    return n;
}
