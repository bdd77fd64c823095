#include "error.h"
#include "status.h"

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

const char *vx_status_name(int status) {
    switch (status) {
    case VX_OK: return "ok";
    case VX_E_INTERNAL: return "internal";
    case VX_E_BAD_INPUT: return "bad_input";
    case VX_E_NOT_FOUND: return "not_found";
    case VX_E_MODEL_MISSING: return "model_missing";
    case VX_E_BUSY: return "busy";
    case VX_E_LOG_UNAVAILABLE: return "log_unavailable";
    case VX_E_NOT_READY: return "not_ready";
    case VX_E_DISABLED: return "disabled";
    case VX_E_STORAGE: return "storage";
    }
    return "unknown";
}
