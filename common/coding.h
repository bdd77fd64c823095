/* vidx common: explicit binary encoding of records and keys.
 *
 * Values are encoded little-endian with fixed widths, unsigned LEB128 varints for
 * counts and lengths. Keys use big-endian integers so that LevelDB's bytewise order
 * equals numeric order.
 *
 * vx_buf grows on the heap (free with vx_buf_free). A write that fails to allocate sets
 * `oom` and later writes do nothing, so callers check once at the end.
 *
 * vx_cursor reads from a borrowed byte range. Any read past the end sets `bad` and
 * returns zeros; callers check `bad` (and vx_cursor_done) once after decoding.
 */
#ifndef VX_CODING_H
#define VX_CODING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct vx_buf {
    uint8_t *data;
    size_t len, cap;
    int oom;
} vx_buf;

void vx_buf_free(vx_buf *b);
void vx_buf_reset(vx_buf *b); /* len = 0, memory kept */
/* Room for n more bytes without growing again (one allocation for a known size).
 * Returns 0, or -1 (and oom) when out of memory. */
int vx_buf_reserve(vx_buf *b, size_t n);
void vx_put_bytes_grow(vx_buf *b, const void *p, size_t n);
/* Inline when the bytes fit (serialisers append many short pieces). */
static inline void vx_put_bytes(vx_buf *b, const void *p, size_t n) {
    if (n && !b->oom && n <= b->cap - b->len) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    } else {
        vx_put_bytes_grow(b, p, n);
    }
}
static inline void vx_put_u8(vx_buf *b, uint8_t v) { vx_put_bytes(b, &v, 1); }
void vx_put_u32le(vx_buf *b, uint32_t v);
void vx_put_u64le(vx_buf *b, uint64_t v);
void vx_put_f32le(vx_buf *b, float v);
void vx_put_f64le(vx_buf *b, double v);
void vx_put_varint(vx_buf *b, uint64_t v);
void vx_put_u32be(vx_buf *b, uint32_t v);
void vx_put_u64be(vx_buf *b, uint64_t v);
/* varint length followed by the bytes */
void vx_put_string(vx_buf *b, const char *s);

typedef struct vx_cursor {
    const uint8_t *p, *end;
    int bad;
} vx_cursor;

static inline vx_cursor vx_cursor_make(const void *data, size_t len) {
    vx_cursor c = {(const uint8_t *)data, (const uint8_t *)data + len, 0};
    return c;
}
static inline size_t vx_cursor_left(const vx_cursor *c) { return (size_t)(c->end - c->p); }
/* True when everything was read and nothing is left over. */
static inline int vx_cursor_done(const vx_cursor *c) { return !c->bad && c->p == c->end; }

uint8_t vx_get_u8(vx_cursor *c);
uint32_t vx_get_u32le(vx_cursor *c);
uint64_t vx_get_u64le(vx_cursor *c);
float vx_get_f32le(vx_cursor *c);
double vx_get_f64le(vx_cursor *c);
uint64_t vx_get_varint(vx_cursor *c);
uint32_t vx_get_u32be(vx_cursor *c);
uint64_t vx_get_u64be(vx_cursor *c);
/* Borrowed pointer to the next n bytes, or NULL (and bad) if fewer remain. */
const uint8_t *vx_get_bytes(vx_cursor *c, size_t n);
/* A varint-prefixed string of at most max_len bytes, copied into a fresh NUL-terminated
 * heap string (caller frees). Fails (bad, NULL) on overlong or embedded NUL bytes. */
char *vx_get_string(vx_cursor *c, size_t max_len);

/* Fixed-width helpers on raw memory. */
static inline void vx_store_u64be(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}
static inline uint64_t vx_load_u64be(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}
static inline void vx_store_u32be(uint8_t *p, uint32_t v) {
    for (int i = 3; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}
static inline uint32_t vx_load_u32be(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

#endif
