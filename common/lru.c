#include "lru.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"

typedef struct entry {
    uint64_t key, version;
    void *value;
    size_t len;
    int prev, next; /* -1 = none */
} entry;

struct vx_lru {
    pthread_mutex_t mu;
    int cap, used, head, tail; /* head: most recently used */
    entry *e;
    vx_idmap map;
};

static uint64_t map_key(uint64_t k) { return k == 0 || k == UINT64_MAX ? 1 : k; }

vx_lru *vx_lru_new(int capacity) {
    vx_lru *c = calloc(1, sizeof *c);
    if (!c || capacity < 1) { free(c); return NULL; }
    c->cap = capacity;
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
    for (int i = 0; i < c->used; i++) free(c->e[i].value);
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

void *vx_lru_get(vx_lru *c, uint64_t key, uint64_t version, size_t *len) {
    void *out = NULL;
    pthread_mutex_lock(&c->mu);
    uint64_t i;
    if (vx_idmap_get(&c->map, map_key(key), &i) && c->e[i].key == key && c->e[i].version == version && (out = malloc(c->e[i].len ? c->e[i].len : 1))) {
        memcpy(out, c->e[i].value, c->e[i].len);
        *len = c->e[i].len;
        unlink_entry(c, (int)i);
        push_front(c, (int)i);
    }
    pthread_mutex_unlock(&c->mu);
    return out;
}

void vx_lru_put(vx_lru *c, uint64_t key, uint64_t version, const void *value, size_t len) {
    void *copy = malloc(len ? len : 1);
    if (!copy) return;
    memcpy(copy, value, len);
    pthread_mutex_lock(&c->mu);
    uint64_t i;
    if (vx_idmap_get(&c->map, map_key(key), &i)) {
        unlink_entry(c, (int)i);
    } else if (c->used < c->cap) {
        i = c->used++;
    } else {
        i = c->tail; /* evict the least recently used */
        unlink_entry(c, (int)i);
        vx_idmap_del(&c->map, map_key(c->e[i].key));
    }
    entry *x = &c->e[i];
    free(x->value);
    *x = (entry){.key = key, .version = version, .value = copy, .len = len};
    vx_idmap_put(&c->map, map_key(key), i); /* never grows: sized for the capacity */
    push_front(c, (int)i);
    pthread_mutex_unlock(&c->mu);
}

size_t vx_lru_size(vx_lru *c) {
    pthread_mutex_lock(&c->mu);
    size_t n = c->map.n;
    pthread_mutex_unlock(&c->mu);
    return n;
}
