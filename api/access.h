/* vidx api: who may do what (DESIGN.md, "HTTP API", Access).
 *
 * - Admin endpoints (indexing jobs, a video's text, deleting a user, issuing a user's
 *   token, /v1/info) take `Authorization: Bearer TOKEN` with the admin token
 *   (VIDX_ADMIN_TOKEN or --admin-token-file) or the local token the service writes in
 *   its data folder for this machine's `vidx` commands.
 * - User endpoints (a user's events, feed and record) are open on a service without an
 *   operator key (VIDX_API_KEY: loopback by default). With one they take a Bearer
 *   credential: the operator key or an admin token (any user), or that user's own token,
 *   which opens only its user. `X-API-Key: KEY` is still taken for the operator key.
 * - A user's token is HMAC-SHA256 of the user's name under the service's user-token
 *   secret (VIDX_USER_TOKEN_SECRET, else DATA/user-token-secret, 32 random bytes made at
 *   the first start, mode 0600), written "vu1." + 64 hex digits. Nothing is stored per
 *   user; changing the secret revokes every user token at once. The nodes of a cluster
 *   must share the secret (set VIDX_USER_TOKEN_SECRET alike), or a token works only on
 *   the node that issued it.
 * Every comparison is in constant time.
 */
#ifndef VX_ACCESS_H
#define VX_ACCESS_H

#include "../common/error.h"
#include "http.h"

#define VX_USER_TOKEN_SECRET_FILE "user-token-secret"
#define VX_USER_TOKEN_LEN 69 /* "vu1." + 64 hex digits + NUL */

typedef struct vx_access {
    const char *admin_token; /* NULL: admin endpoints answer 403 (except to local_token) */
    const char *local_token; /* what `vidx` commands of this machine send (serve.c) */
    const char *api_key;     /* the operator key; NULL: user endpoints are open */
    unsigned char user_secret[32];
} vx_access;

/* The user-token secret: VIDX_USER_TOKEN_SECRET (at least 32 characters), else the data
 * folder's file, made when missing. -1 with err when neither can be had. */
int vx_access_load_user_secret(vx_access *a, const char *data_dir, vx_error *err);
/* The token of a user (a valid user name). */
void vx_access_user_token(const vx_access *a, const char *user, char out[VX_USER_TOKEN_LEN]);

/* 1 when the request may use an admin endpoint; else answers it (401/403) and returns 0. */
int vx_access_admin(vx_request *rq, const vx_access *a);
/* 1 when the request may read and write this user's records; else answers it and returns 0. */
int vx_access_user(vx_request *rq, const vx_access *a, const char *user);

#endif
