/* vidx api: the web page's files (api/web/), compiled into the binary so the service
 * needs nothing beside it. The table ends with a zeroed entry. */
#ifndef VX_WEB_ASSETS_H
#define VX_WEB_ASSETS_H

#include <stddef.h>

typedef struct vx_web_asset {
    const char *path; /* URL path: "/", "/app.js", ... */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
} vx_web_asset;

extern const vx_web_asset vx_web_assets[];

#endif
