/* Fuzz target: what HTTP clients send that vidx parses itself (api/http_parse.c,
 * schemas/names.c): Range headers, thumbnail names, video ids, media types and event bodies. The first byte
 * picks the parser, the rest is the input (as a NUL-terminated string). Accepted inputs
 * must make sense: a range lies inside the file, a thumbnail name spells its own id, an
 * event has a known type and non-negative seconds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../api/http_parse.h"
#include "../../common/hash.h"
#include "../../schemas/names.h"
#include "../../schemas/ops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const uint8_t which = data[0] % 5;
    char *s = malloc(size);
    if (!s) return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    switch (which) {
    case 0: { /* a Range header against several file sizes */
        static const uint64_t sizes[] = {0, 1, 100, 1000000, UINT64_MAX / 2};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            uint64_t from = 7, to = 7;
            int r = vx_http_parse_range(s, sizes[i], &from, &to);
            if (r < -1 || r > 1) abort();
            if (r == 1 && !(from <= to && to < sizes[i])) abort();
        }
        break;
    }
    case 1: { /* a thumbnail name */
        uint64_t id;
        long seg;
        if (vx_thumb_name_parse(s, &id, &seg) == 0) {
            char hex[VX_ID_HEX_LEN];
            vx_id_to_hex(id, hex);
            if (strncasecmp(hex, s, 16) != 0 || seg < VX_THUMB_KEYFRAME(VX_KEYFRAMES_MAX - 1) || seg > 9999) abort();
        }
        break;
    }
    case 2: { /* a video id */
        uint64_t id;
        if (vx_http_parse_id(s, strlen(s), &id) == 0 && strlen(s) != 16) abort();
        break;
    }
    case 3: /* a path's media type */
        if (!vx_http_media_type(s)) abort();
        break;
    default: { /* an event body */
        json_error_t je;
        json_t *j = json_loadb(s, strlen(s), JSON_REJECT_DUPLICATES, &je);
        if (j) {
            vx_event_request req;
            char why[200];
            if (vx_http_event_from_json(j, "fuzz", &req, why, sizeof why) == 0) {
                if (req.type < VX_EVENT_VIEW || req.type > VX_EVENT_SKIP || !(req.seconds == -1 || req.seconds >= 0))
                    abort();
            } else if (!why[0]) {
                abort();
            }
            json_decref(j);
        }
        break;
    }
    }
    free(s);
    return 0;
}
