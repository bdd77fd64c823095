#include "http_parse.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/hash.h"
#include "../schemas/ops.h"

int vx_http_parse_id(const char *s, size_t len, uint64_t *id) {
    char buf[17];
    if (len != 16) return -1;
    memcpy(buf, s, 16);
    buf[16] = '\0';
    return vx_id_from_hex(buf, id);
}

const char *vx_http_media_type(const char *path) {
    static const char *const types[][2] = {
        {".mp4", "video/mp4"},  {".m4v", "video/mp4"},         {".mov", "video/quicktime"}, {".webm", "video/webm"},
        {".mkv", "video/x-matroska"}, {".avi", "video/x-msvideo"}, {".gif", "image/gif"},  {".ts", "video/mp2t"},
        {".mpg", "video/mpeg"}, {".mpeg", "video/mpeg"},       {".ogv", "video/ogg"},       {".flv", "video/x-flv"},
        {".wmv", "video/x-ms-wmv"}, {".3gp", "video/3gpp"},    {".png", "image/png"},       {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcasecmp(dot, types[i][0]) == 0) return types[i][1];
    return "application/octet-stream";
}

int vx_http_parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to) {
    if (!h) return 0;
    while (*h == ' ') h++;
    if (strncmp(h, "bytes=", 6) != 0) return 0; /* another unit: ignored, as RFC 9110 allows */
    h += 6;
    if (strchr(h, ',')) return 0;               /* several ranges: the whole file instead */
    char *end;
    if (*h == '-') {                            /* the last N bytes */
        if (h[1] < '0' || h[1] > '9') return -1;
        errno = 0;
        unsigned long long n = strtoull(h + 1, &end, 10);
        if (errno || *end || n == 0 || size == 0) return -1;
        *from = n >= size ? 0 : size - n;
        *to = size - 1;
        return 1;
    }
    if (*h < '0' || *h > '9') return -1;
    errno = 0;
    unsigned long long a = strtoull(h, &end, 10);
    if (errno || *end != '-') return -1;
    unsigned long long b = size ? size - 1 : 0;
    if (end[1]) {
        if (end[1] < '0' || end[1] > '9') return -1;
        b = strtoull(end + 1, &end, 10);
        if (errno || *end || b < a) return -1;
        if (b >= size) b = size - 1;
    }
    if (a >= size) return -1;
    *from = a;
    *to = b;
    return 1;
}

int vx_http_event_from_json(const json_t *body, const char *user, vx_event_request *out, char *why, size_t why_size) {
    *out = (vx_event_request){.user = user, .seconds = -1};
    const char *bad = NULL;
    json_t *vid = json_object_get(body, "video_id"), *type = json_object_get(body, "type"),
           *secs = json_object_get(body, "seconds"), *ts = json_object_get(body, "ts");
    if (!json_is_object(body)) bad = "the body must be a JSON object";
    else if (!json_is_string(vid) || vx_http_parse_id(json_string_value(vid), json_string_length(vid), &out->video_id))
        bad = "video_id: must be a video id, 16 hex digits in a string";
    else if (!json_is_string(type) || vx_event_type_parse(json_string_value(type), &out->type))
        bad = "type: must be one of view, complete, like, dislike, skip";
    else if (secs && !json_is_null(secs) && (!json_is_number(secs) || !(json_number_value(secs) >= 0)))
        bad = "seconds: must be a number >= 0";
    else if (ts && !json_is_null(ts) && (!json_is_number(ts) || !(json_number_value(ts) > 0)))
        bad = "ts: must be unix seconds";
    if (bad) {
        snprintf(why, why_size, "%s", bad);
        return -1;
    }
    if (json_is_number(secs)) out->seconds = json_number_value(secs);
    if (json_is_number(ts)) {
        double t = json_number_value(ts);
        out->ts_ms = t > 1e11 ? INT64_MAX / 2 : (int64_t)llround(t * 1000); /* absurd values fail validation later */
    }
    return 0;
}
