/* vidx common: level-filtered logging to standard error.
 *
 * VX_LOG checks the level before any formatting happens, so debug lines cost a
 * comparison when they are off. Thread-safe: each line is written with one call.
 */
#ifndef VX_LOG_H
#define VX_LOG_H

typedef enum { VX_LOG_DEBUG = 0, VX_LOG_INFO, VX_LOG_WARN, VX_LOG_ERROR, VX_LOG_OFF } vx_log_level;

extern vx_log_level vx_log_threshold;

/* Sets the threshold from a name ("debug", "info", "warn", "error", "off"); returns -1
 * for an unknown name. */
int vx_log_set_level_name(const char *name);

void vx_log_write(vx_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define VX_LOG(level, ...)                                                                   \
    do {                                                                                     \
        if ((level) >= vx_log_threshold) vx_log_write((level), __VA_ARGS__);                 \
    } while (0)
#define vx_debug(...) VX_LOG(VX_LOG_DEBUG, __VA_ARGS__)
#define vx_info(...) VX_LOG(VX_LOG_INFO, __VA_ARGS__)
#define vx_warn(...) VX_LOG(VX_LOG_WARN, __VA_ARGS__)
#define vx_log_error(...) VX_LOG(VX_LOG_ERROR, __VA_ARGS__)

#endif
