/* vidx common: the one status vocabulary.
 *
 * Every module that can fail for more than one reason returns a vx_status: 0, or a
 * negative code with a vx_error that says what went wrong in words. One code means one
 * thing everywhere, so a status passes up through the indexer, the engine and a cluster's
 * hooks unchanged, and each face maps it once: the service to an HTTP status and error
 * code (api/status_http.c, a table checked by test_engine), the command line to a
 * message and exit status. Functions that only succeed or fail keep returning 0 / -1
 * (VX_E_INTERNAL). */
#ifndef VX_STATUS_H
#define VX_STATUS_H

typedef enum vx_status {
    VX_OK = 0,
    VX_E_INTERNAL = -1,        /* anything else: a database error, out of memory, a bug */
    VX_E_BAD_INPUT = -2,       /* the caller's input is wrong; err names the parameter at fault */
    VX_E_NOT_FOUND = -3,       /* err names what does not exist */
    VX_E_MODEL_MISSING = -4,   /* the work needs the CLIP model, which is not loaded: err says why, how to get it */
    VX_E_BUSY = -5,            /* too much waits already: try again shortly */
    VX_E_LOG_UNAVAILABLE = -6, /* a cluster's log does not take writes now (servers down, no quorum) */
    VX_E_NOT_READY = -7,       /* being prepared (labels computing): try again shortly; err says how far along */
    VX_E_DISABLED = -8,        /* this service does not do that (labels off, no job runner): err says why */
    VX_E_STORAGE = -9,         /* the data folder takes no writes (full disk, I/O error): nothing was written */
} vx_status;

#define VX_STATUS_MIN VX_E_STORAGE /* every status is from VX_STATUS_MIN to VX_OK */

/* "ok", "internal", "bad_input", ...: for logs and tests. */
const char *vx_status_name(int status);

#endif
