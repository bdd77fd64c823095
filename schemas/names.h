/* vidx schemas: names of files in the data folder that URLs expose as they are.
 *
 * A thumbnail is DATA/thumbs/NAME and /thumbs/NAME over HTTP, NAME being
 *     ID.jpg          the video's (which = -1)
 *     ID-N.jpg        segment N's (which = N, at most 4 digits)
 *     ID-kN.jpg       key frame N's (which = VX_THUMB_KEYFRAME(N), N < VX_KEYFRAMES_MAX)
 * with ID 16 hex digits (written lowercase, read in either case). The indexer writes
 * them (indexer/thumbs.c), the answers link them (present/urls.h), the service maps a
 * request back to the file (api/routes.c): all through these two functions. */
#ifndef VX_NAMES_H
#define VX_NAMES_H

#include <stdint.h>

#define VX_THUMB_KEYFRAME(i) (-2 - (long)(i)) /* `which` of key frame i, whatever the integer type of i */
#define VX_THUMB_NAME_MAX 32            /* bytes of a thumbnail's name with its NUL */

/* The name of thumbnail `which` of a video into out; its length. */
int vx_thumb_name(uint64_t video_id, long which, char out[VX_THUMB_NAME_MAX]);
/* The same from the id's 16 hex digits (answers have them already). */
int vx_thumb_name_hex(const char *hex, long which, char out[VX_THUMB_NAME_MAX]);
/* The inverse, for untrusted names (fuzzed): 0 with id and which, or -1. */
int vx_thumb_name_parse(const char *name, uint64_t *id, long *which);

#endif
