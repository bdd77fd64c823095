#include "names.h"

#include <stdlib.h>
#include <string.h>

#include "../common/hash.h"
#include "records.h"

int vx_thumb_name(uint64_t video_id, long which, char out[VX_THUMB_NAME_MAX]) {
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(video_id, hex);
    return vx_thumb_name_hex(hex, which, out);
}

int vx_thumb_name_hex(const char *hex, long which, char out[VX_THUMB_NAME_MAX]) {
    /* Written by hand, not with snprintf: answers link a thumbnail per result, and cached
     * answers are the service's hottest path. */
    memcpy(out, hex, 16);
    char *p = out + 16;
    if (which != -1) {
        *p++ = '-';
        if (which < -1) {
            *p++ = 'k';
            which = -2 - which;
        }
        char digits[24];
        int n = 0;
        unsigned long v = (unsigned long)which;
        do digits[n++] = (char)('0' + v % 10); while ((v /= 10) && n < 20);
        while (n) *p++ = digits[--n];
    }
    memcpy(p, ".jpg", 5);
    return (int)(p + 4 - out);
}

int vx_thumb_name_parse(const char *name, uint64_t *id, long *which) {
    const size_t n = strlen(name);
    char hex[VX_ID_HEX_LEN];
    *which = -1;
    if (n < 20 || strcmp(name + n - 4, ".jpg") != 0) return -1;
    memcpy(hex, name, 16);
    hex[16] = '\0';
    if (vx_id_from_hex(hex, id) != 0) return -1;
    if (n == 20) return 0;
    if (name[16] != '-') return -1;
    const int key = name[17] == 'k';
    const size_t from = 17 + (size_t)key;
    if (n < from + 5 || n - 4 - from > 4) return -1;
    for (size_t i = from; i < n - 4; i++)
        if (name[i] < '0' || name[i] > '9') return -1;
    *which = strtol(name + from, NULL, 10);
    if (key) {
        if (*which >= VX_KEYFRAMES_MAX) return -1;
        *which = VX_THUMB_KEYFRAME(*which);
    }
    return 0;
}
