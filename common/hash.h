/* vidx common: xxHash-based ids and content hashes.
 *
 * Video ids: XXH3-64 of the file's canonical absolute path (realpath), seeded with
 * VX_VIDEO_ID_SEED. The id stays the same when a file's content changes (so events and
 * links keep pointing at it) and changes when the file moves. 0 and 2^64-1 are never ids
 * (they mean "none" to the catalog and to FAISS): paths hashing to them take 1 and
 * 2^64-2.
 *
 * Content hashes: XXH3-64 of the full file bytes, streamed. They detect changed files
 * (together with size and mtime) and link exact duplicates.
 */
#ifndef VX_HASH_H
#define VX_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define VX_VIDEO_ID_SEED UINT64_C(0x76696478) /* "vidx" */

uint64_t vx_hash64(const void *data, size_t len);
uint64_t vx_video_id_for_path(const char *canonical_path);

/* Hashes the whole file at path. Returns 0 or -1 with err naming the path. */
int vx_hash_file(const char *path, uint64_t *hash_out, vx_error *err);

/* 16 lowercase hex digits plus NUL. */
#define VX_ID_HEX_LEN 17
void vx_id_to_hex(uint64_t id, char out[VX_ID_HEX_LEN]);
/* Parses exactly 16 hex digits (either case). Returns 0 or -1. */
int vx_id_from_hex(const char *s, uint64_t *id_out);

#endif
