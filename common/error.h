/* vidx common: error values.
 *
 * Conventions for every vidx library function:
 *   - Functions that can fail return 0 on success and -1 on failure (or NULL for
 *     constructors) and, when `err` is not NULL, fill it with a one-line message that
 *     names the thing that failed and why. Library code never exits.
 *   - The message lives inside the caller's vx_error; nothing to free.
 */
#ifndef VX_ERROR_H
#define VX_ERROR_H

#define VX_ERROR_MAX 512

typedef struct vx_error {
    char msg[VX_ERROR_MAX];
} vx_error;

/* Formats a message into err (if not NULL) and returns -1, so callers can write
 * `return vx_fail(err, "...", ...);`. */
int vx_fail(vx_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to the message already in err. Returns -1. */
int vx_fail_prefix(vx_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
