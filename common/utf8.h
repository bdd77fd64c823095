/* vidx common: UTF-8 helpers (strict: no overlong forms, surrogates or values above
 * U+10FFFF). */
#ifndef VX_UTF8_H
#define VX_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* True when s[0..len) is valid UTF-8 without NUL bytes. */
int vx_utf8_valid(const char *s, size_t len);
/* Decodes one character of valid UTF-8; returns its byte length. */
size_t vx_utf8_decode(const char *s, uint32_t *cp);
/* A copy of s (NUL-terminated) in which each byte that is not part of valid UTF-8 is
 * U+FFFD; malloc'd, NULL when out of memory. */
char *vx_utf8_lossy(const char *s);
/* Encodes cp (<= 0x10FFFF) into out (4 bytes room); returns the byte length. */
size_t vx_utf8_encode(uint32_t cp, char *out);
/* Length of s[0..len) cut to at most max bytes at a character boundary. */
size_t vx_utf8_cut(const char *s, size_t len, size_t max);

#endif
