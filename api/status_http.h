/* vidx api: what each engine status (common/status.h) is over HTTP. One table, so a
 * status means the same answer on every route (test_engine checks it). */
#ifndef VX_STATUS_HTTP_H
#define VX_STATUS_HTTP_H

typedef struct vx_status_http {
    int status;       /* vx_status */
    int http;         /* the HTTP status code */
    const char *code; /* the error's "code" (a route may name VX_E_BAD_INPUT's and VX_E_NOT_FOUND's more precisely) */
    int retry_after;  /* seconds for a Retry-After header; 0: none */
} vx_status_http;

/* The answer for a status; any status not in the table (a bug) answers 500 "internal". */
const vx_status_http *vx_status_to_http(int status);

#endif
