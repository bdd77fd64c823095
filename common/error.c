#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int vx_fail(vx_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int vx_fail_prefix(vx_error *err, const char *fmt, ...) {
    if (!err) return -1;
    char prefix[VX_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char joined[2 * VX_ERROR_MAX + 4];
    snprintf(joined, sizeof joined, "%s: %s", prefix, err->msg);
    /* Truncation is fine: the message stays a readable prefix. */
    size_t n = strnlen(joined, VX_ERROR_MAX - 1);
    memcpy(err->msg, joined, n);
    err->msg[n] = '\0';
    return -1;
}
