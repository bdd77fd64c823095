/* vidx present: the URLs answers link to, written here and matched by the service's
 * routes (api/routes.c) with the same prefixes. Thumbnail names are schemas/names.h's. */
#ifndef VX_URLS_H
#define VX_URLS_H

#include <stdint.h>
#include <string.h>

#include "../schemas/names.h"

#define VX_URL_THUMBS "/thumbs/"     /* + a thumbnail's name */
#define VX_URL_USERS "/v1/users/"    /* + USER, + USER/feed */
#define VX_URL_JOBS "/v1/jobs/"      /* + ID */
#define VX_URL_VIDEOS "/v1/videos/"  /* + ID, + ID/similar, + ID/media, + ID/text */
#define VX_URL_THUMB_MAX (sizeof VX_URL_THUMBS - 1 + VX_THUMB_NAME_MAX)

/* The URL of thumbnail `which` of a video (schemas/names.h) into out; its length. */
static inline int vx_url_thumb(uint64_t video_id, long which, char out[VX_URL_THUMB_MAX]) {
    memcpy(out, VX_URL_THUMBS, sizeof VX_URL_THUMBS - 1);
    return (int)(sizeof VX_URL_THUMBS - 1) + vx_thumb_name(video_id, which, out + sizeof VX_URL_THUMBS - 1);
}

/* The same from the id's 16 hex digits. */
static inline int vx_url_thumb_hex(const char *hex, long which, char out[VX_URL_THUMB_MAX]) {
    memcpy(out, VX_URL_THUMBS, sizeof VX_URL_THUMBS - 1);
    return (int)(sizeof VX_URL_THUMBS - 1) + vx_thumb_name_hex(hex, which, out + sizeof VX_URL_THUMBS - 1);
}

#endif
