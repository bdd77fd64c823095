#include "coding.h"
#include "grow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void vx_buf_free(vx_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

void vx_buf_reset(vx_buf *b) {
    b->len = 0;
    b->oom = 0;
}

int vx_buf_reserve(vx_buf *b, size_t n) {
    if (b->oom) return -1;
    if (n <= b->cap - b->len) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) { b->oom = 1; return -1; }
        cap *= 2;
    }
    uint8_t *d = realloc(b->data, cap);
    if (!d) { b->oom = 1; return -1; }
    b->data = d;
    b->cap = cap;
    return 0;
}

void vx_put_bytes_grow(vx_buf *b, const void *p, size_t n) {
    if (n == 0 || vx_buf_reserve(b, n)) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}


void vx_put_u32le(vx_buf *b, uint32_t v) {
    uint8_t t[4];
    for (int i = 0; i < 4; i++) t[i] = (uint8_t)(v >> (8 * i));
    vx_put_bytes(b, t, 4);
}

void vx_put_u64le(vx_buf *b, uint64_t v) {
    uint8_t t[8];
    for (int i = 0; i < 8; i++) t[i] = (uint8_t)(v >> (8 * i));
    vx_put_bytes(b, t, 8);
}

void vx_put_f32le(vx_buf *b, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    vx_put_u32le(b, u);
}

void vx_put_f64le(vx_buf *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    vx_put_u64le(b, u);
}

void vx_put_varint(vx_buf *b, uint64_t v) {
    uint8_t t[10];
    int n = 0;
    while (v >= 0x80) { t[n++] = (uint8_t)(v | 0x80); v >>= 7; }
    t[n++] = (uint8_t)v;
    vx_put_bytes(b, t, (size_t)n);
}

void vx_put_u32be(vx_buf *b, uint32_t v) {
    uint8_t t[4];
    vx_store_u32be(t, v);
    vx_put_bytes(b, t, 4);
}

void vx_put_u64be(vx_buf *b, uint64_t v) {
    uint8_t t[8];
    vx_store_u64be(t, v);
    vx_put_bytes(b, t, 8);
}

void vx_put_string(vx_buf *b, const char *s) {
    size_t n = s ? strlen(s) : 0;
    vx_put_varint(b, n);
    vx_put_bytes(b, s, n);
}

const uint8_t *vx_get_bytes(vx_cursor *c, size_t n) {
    if (c->bad || n > vx_cursor_left(c)) {
        c->bad = 1;
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += n;
    return p;
}

uint8_t vx_get_u8(vx_cursor *c) {
    const uint8_t *p = vx_get_bytes(c, 1);
    return p ? p[0] : 0;
}

uint32_t vx_get_u32le(vx_cursor *c) {
    const uint8_t *p = vx_get_bytes(c, 4);
    if (!p) return 0;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t vx_get_u64le(vx_cursor *c) {
    const uint8_t *p = vx_get_bytes(c, 8);
    if (!p) return 0;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

float vx_get_f32le(vx_cursor *c) {
    uint32_t u = vx_get_u32le(c);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

double vx_get_f64le(vx_cursor *c) {
    uint64_t u = vx_get_u64le(c);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

uint64_t vx_get_varint(vx_cursor *c) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        const uint8_t *p = vx_get_bytes(c, 1);
        if (!p) return 0;
        /* The tenth byte may only carry the top bit of a 64-bit value. */
        if (shift == 63 && (*p & 0xFE)) break;
        v |= (uint64_t)(*p & 0x7F) << shift;
        if (!(*p & 0x80)) {
            /* A zero final byte after others is an overlong encoding: each value has
             * exactly one encoding, so equal records are equal bytes. */
            if (*p == 0 && shift > 0) break;
            return v;
        }
    }
    c->bad = 1;
    return 0;
}

uint32_t vx_get_u32be(vx_cursor *c) {
    const uint8_t *p = vx_get_bytes(c, 4);
    return p ? vx_load_u32be(p) : 0;
}

uint64_t vx_get_u64be(vx_cursor *c) {
    const uint8_t *p = vx_get_bytes(c, 8);
    return p ? vx_load_u64be(p) : 0;
}

char *vx_get_string(vx_cursor *c, size_t max_len) {
    uint64_t n = vx_get_varint(c);
    if (c->bad || n > max_len || n > vx_cursor_left(c)) {
        c->bad = 1;
        return NULL;
    }
    const uint8_t *p = vx_get_bytes(c, (size_t)n);
    if (memchr(p, 0, (size_t)n)) {
        c->bad = 1;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        c->bad = 1;
        return NULL;
    }
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    return s;
}

int vx_grow(void *array_ptr, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / size) return -1;
        c *= 2;
    }
    void *old;
    memcpy(&old, array_ptr, sizeof old); /* array_ptr points to a T *: copied, not cast */
    void *p = realloc(old, c * size);
    if (!p) return -1;
    memcpy(array_ptr, &p, sizeof p);
    *cap = c;
    return 0;
}
