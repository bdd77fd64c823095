#include "picture.h"

#include <stdio.h>
#include <string.h>

const char *vx_picture_format_name(int format) {
    switch (format) {
    case VX_PICTURE_JPEG: return "JPEG";
    case VX_PICTURE_PNG: return "PNG";
    case VX_PICTURE_WEBP: return "WebP";
    default: return "unknown";
    }
}

void vx_picture_describe(const vx_picture_info *info, char *out, size_t size) {
    snprintf(out, size, "%s image %ux%u", vx_picture_format_name(info->format), info->width, info->height);
}

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint32_t le16(const uint8_t *p) { return (uint32_t)p[1] << 8 | p[0]; }
static uint32_t le24(const uint8_t *p) { return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]; }
static uint32_t le32(const uint8_t *p) { return le24(p) | (uint32_t)p[3] << 24; }

/* A whole JPEG ends with EOI (FF D9) after its frame header; a file cut short does not
 * (decoders would fill the missing part with grey rather than fail). */
static int jpeg_ends(const uint8_t *d, size_t len, size_t from, vx_error *err) {
    for (size_t i = len; i >= from + 2; i--)
        if (d[i - 2] == 0xFF && d[i - 1] == 0xD9) return 0;
    return vx_fail(err, "the JPEG image is cut short: it has no end marker");
}

/* JPEG: markers from SOI to the first frame header (SOFn), whose height and width it
 * holds. Markers without a length: SOI, TEMn, RSTn; fill bytes 0xFF may precede any. */
static int sniff_jpeg(const uint8_t *d, size_t len, vx_picture_info *info, vx_error *err) {
    size_t at = 2;
    for (;;) {
        if (at >= len) return vx_fail(err, "the JPEG image ends before its frame header");
        if (d[at] != 0xFF) return vx_fail(err, "the JPEG image is corrupt: no marker at byte %zu", at);
        while (at < len && d[at] == 0xFF) at++;
        if (at >= len) return vx_fail(err, "the JPEG image ends before its frame header");
        const uint8_t m = d[at++];
        if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;
        if (m == 0xD9 || m == 0xDA) return vx_fail(err, "the JPEG image has no frame header before its data");
        if (at + 2 > len) return vx_fail(err, "the JPEG image ends before its frame header");
        const uint32_t seg = be16(d + at);
        if (seg < 2) return vx_fail(err, "the JPEG image is corrupt: a segment of length %u", seg);
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            if (seg < 8 || at + 7 > len) return vx_fail(err, "the JPEG image's frame header is cut short");
            info->height = be16(d + at + 3);
            info->width = be16(d + at + 5);
            return jpeg_ends(d, len, at + seg, err);
        }
        at += seg;
    }
}

static int sniff_png(const uint8_t *d, size_t len, vx_picture_info *info, vx_error *err) {
    if (len < 24 || memcmp(d + 12, "IHDR", 4) != 0 || be32(d + 8) != 13)
        return vx_fail(err, "the PNG image has no header chunk (IHDR) where it belongs");
    info->width = be32(d + 16);
    info->height = be32(d + 20);
    return 0;
}

/* WebP: a RIFF container whose first chunk is VP8 (lossy), VP8L (lossless) or VP8X
 * (extended: the canvas size). */
static int sniff_webp(const uint8_t *d, size_t len, vx_picture_info *info, vx_error *err) {
    if (len < 30) return vx_fail(err, "the WebP image ends before its header");
    const uint8_t *c = d + 12;
    if (memcmp(c, "VP8 ", 4) == 0) {
        if (d[23] != 0x9d || d[24] != 0x01 || d[25] != 0x2a)
            return vx_fail(err, "the WebP image is corrupt: no VP8 start code");
        info->width = le16(d + 26) & 0x3fff;
        info->height = le16(d + 28) & 0x3fff;
    } else if (memcmp(c, "VP8L", 4) == 0) {
        if (d[20] != 0x2f) return vx_fail(err, "the WebP image is corrupt: no VP8L signature");
        const uint32_t bits = le32(d + 21);
        info->width = (bits & 0x3fff) + 1;
        info->height = ((bits >> 14) & 0x3fff) + 1;
    } else if (memcmp(c, "VP8X", 4) == 0) {
        info->width = le24(d + 24) + 1;
        info->height = le24(d + 27) + 1;
    } else {
        return vx_fail(err, "the WebP image's first chunk is not VP8, VP8L or VP8X");
    }
    return 0;
}

int vx_picture_sniff(const uint8_t *d, size_t len, vx_picture_info *info, vx_error *err) {
    memset(info, 0, sizeof *info);
    if (len == 0) return vx_fail(err, "the image is empty");
    if (len > VX_PICTURE_MAX_BYTES)
        return vx_fail(err, "the image is %zu bytes; at most %u are taken", len, VX_PICTURE_MAX_BYTES);
    int r;
    if (len >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) {
        info->format = VX_PICTURE_JPEG;
        r = sniff_jpeg(d, len, info, err);
    } else if (len >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) {
        info->format = VX_PICTURE_PNG;
        r = sniff_png(d, len, info, err);
    } else if (len >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) {
        info->format = VX_PICTURE_WEBP;
        r = sniff_webp(d, len, info, err);
    } else {
        char start[3 * 8 + 1] = "";
        for (size_t i = 0; i < len && i < 8; i++) snprintf(start + 3 * i, sizeof start - 3 * i, "%02x ", d[i]);
        if (*start) start[strlen(start) - 1] = '\0';
        return vx_fail(err, "not a JPEG, PNG or WebP image (it starts with bytes %s)", start);
    }
    if (r) return r;
    const char *name = vx_picture_format_name(info->format);
    if (info->width == 0 || info->height == 0)
        return vx_fail(err, "the %s image says it is %ux%u pixels", name, info->width, info->height);
    const unsigned most = info->format == VX_PICTURE_JPEG ? VX_PICTURE_MAX_PIXELS : VX_PICTURE_MAX_DECODED;
    if (info->width > VX_PICTURE_MAX_SIDE || info->height > VX_PICTURE_MAX_SIDE ||
        (uint64_t)info->width * info->height > most)
        return vx_fail(err, "the %s image is %ux%u pixels; at most %u a side and %u pixels in all are taken%s", name,
                       info->width, info->height, VX_PICTURE_MAX_SIDE, most,
                       info->format == VX_PICTURE_JPEG ? "" : " (a JPEG may have more)");
    return 0;
}
