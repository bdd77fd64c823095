/* vidx api: parsers of what clients send, kept apart from the I/O so they can be fuzzed
 * (tests/fuzz/fuzz_http_parse.c). Each accepts arbitrary bytes and never reads past the
 * string it is given. */
#ifndef VX_HTTP_PARSE_H
#define VX_HTTP_PARSE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../recommend/events.h"

/* 16 hex digits (either case), exactly len bytes. 0, or -1. */
int vx_http_parse_id(const char *s, size_t len, uint64_t *id);

/* A Range header against a file of size bytes: 1 with [*from, *to] for one satisfiable
 * "bytes=" range; 0 when there is none to honour (no header, another unit, several
 * ranges: serve the whole file); -1 when unsatisfiable or malformed (416). */
int vx_http_parse_range(const char *header, uint64_t size, uint64_t *from, uint64_t *to);

/* The Content-Type for a media file, by its extension. */
const char *vx_http_media_type(const char *path);

/* An event body {"video_id", "type", "seconds"?, "ts"?} for user. 0 with out filled, or
 * -1 with why naming the field at fault. */
int vx_http_event_from_json(const json_t *body, const char *user, vx_event_request *out, char *why, size_t why_size);

#endif
