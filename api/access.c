/* vidx api: who may do what (access.h). */
#include "access.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../common/path.h"
#include "../common/system.h"

/* Equal strings, in time that depends only on want's length. */
static int token_equal(const char *got, const char *want) {
    size_t gl = strlen(got), wl = strlen(want);
    unsigned diff = (unsigned)(gl ^ wl);
    for (size_t i = 0; i < wl; i++) diff |= (unsigned char)want[i] ^ (unsigned char)(i < gl ? got[i] : 0);
    return diff == 0;
}

/* The credential of "Authorization: Bearer TOKEN", or NULL. */
static const char *bearer_token(vx_request *rq) {
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(rq->req), "Authorization");
    return h && strncmp(h, "Bearer ", 7) == 0 ? h + 7 : NULL;
}

static int is_admin_token(const vx_access *a, const char *token) {
    return (a->local_token && *a->local_token && token_equal(token, a->local_token)) ||
           (a->admin_token && *a->admin_token && token_equal(token, a->admin_token));
}

int vx_access_admin(vx_request *rq, const vx_access *a) {
    const char *token = bearer_token(rq);
    if (token && is_admin_token(a, token)) return 1;
    if (!a->admin_token || !*a->admin_token) {
        vx_reply_error(rq, 403, "admin_disabled",
                       "admin endpoints are off: start the service with VIDX_ADMIN_TOKEN set (or --admin-token-file)");
        return 0;
    }
    if (!token) {
        evhttp_add_header(evhttp_request_get_output_headers(rq->req), "WWW-Authenticate", "Bearer");
        vx_reply_error(rq, 401, "unauthorized", "this endpoint needs the admin token: Authorization: Bearer TOKEN");
        return 0;
    }
    vx_reply_error(rq, 403, "forbidden", "wrong admin token");
    return 0;
}

int vx_access_user(vx_request *rq, const vx_access *a, const char *user) {
    if (!a->api_key) return 1;
    const char *key = evhttp_find_header(evhttp_request_get_input_headers(rq->req), "X-API-Key");
    if (key && token_equal(key, a->api_key)) return 1;
    const char *token = bearer_token(rq);
    if (token) {
        char own[VX_USER_TOKEN_LEN];
        vx_access_user_token(a, user, own);
        if (token_equal(token, own) || token_equal(token, a->api_key) || is_admin_token(a, token)) return 1;
        vx_reply_error(rq, 403, "forbidden", "this credential does not open user %s (a user token opens only its own "
                                             "user)", user);
        return 0;
    }
    if (key) {
        vx_reply_error(rq, 403, "forbidden", "wrong API key");
        return 0;
    }
    evhttp_add_header(evhttp_request_get_output_headers(rq->req), "WWW-Authenticate", "Bearer");
    vx_reply_error(rq, 401, "unauthorized",
                   "user endpoints need a credential: Authorization: Bearer TOKEN, the user's own token (an admin "
                   "gets it from POST /v1/users/USER/token) or the operator key");
    return 0;
}

void vx_access_user_token(const vx_access *a, const char *user, char out[VX_USER_TOKEN_LEN]) {
    static const char domain[] = "vidx user token v1:";
    unsigned char msg[sizeof domain + 256], mac[32];
    const size_t ul = strnlen(user, 255);
    memcpy(msg, domain, sizeof domain - 1);
    memcpy(msg + sizeof domain - 1, user, ul);
    unsigned int n = sizeof mac;
    if (!HMAC(EVP_sha256(), a->user_secret, sizeof a->user_secret, msg, sizeof domain - 1 + ul, mac, &n))
        memset(mac, 0, sizeof mac); /* cannot happen with SHA-256; an all-zero mac never matches a sent token */
    memcpy(out, "vu1.", 4);
    for (int i = 0; i < 32; i++) snprintf(out + 4 + 2 * i, 3, "%02x", mac[i]);
}

/* The secret from text: its SHA-256, so any length of at least 32 characters serves. */
static void secret_from_text(vx_access *a, const char *text, size_t n) {
    unsigned int len = sizeof a->user_secret;
    EVP_Digest(text, n, a->user_secret, &len, EVP_sha256(), NULL);
}

int vx_access_load_user_secret(vx_access *a, const char *data_dir, vx_error *err) {
    const char *env = getenv("VIDX_USER_TOKEN_SECRET");
    if (env && *env) {
        if (strlen(env) < 32) return vx_fail(err, "VIDX_USER_TOKEN_SECRET must be at least 32 characters");
        secret_from_text(a, env, strlen(env));
        return 0;
    }
    vx_path path;
    if (vx_path_fmt(path, err, "%s/%s", data_dir, VX_USER_TOKEN_SECRET_FILE)) return -1;
    char text[128];
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
        struct stat st;
        ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, text, sizeof text) : -1;
        close(fd);
        if (n < 64 || (st.st_mode & 077))
            return vx_fail(err, "%s: %s (remove it to make a new one: every user token changes)", path,
                           n < 64 ? "not a user-token secret (64 hex digits)" : "readable by others: chmod 600 it");
        secret_from_text(a, text, (size_t)n);
        return 0;
    }
    if (errno != ENOENT) return vx_fail(err, "%s: %s", path, strerror(errno));
    unsigned char raw[32];
    if (vx_random_bytes(raw, sizeof raw)) return vx_fail(err, "cannot read /dev/urandom for the user-token secret");
    for (int i = 0; i < 32; i++) snprintf(text + 2 * i, 3, "%02x", raw[i]);
    text[64] = '\n';
    if (vx_write_file_private(path, text, 65, err)) return -1;
    secret_from_text(a, text, 65);
    return 0;
}
