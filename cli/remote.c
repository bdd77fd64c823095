#include "remote.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "../api/serve.h"
#include "../common/path.h"

struct cli_remote {
    char host[256];
    int port;
    char token[128];
};

/* Whether something accepts connections there (the service, not a stale file). */
static int reachable(const char *host, int port) {
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        len = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        len = sizeof *a6;
    } else {
        return 0;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    int ok = connect(fd, (struct sockaddr *)&ss, len) == 0;
    close(fd);
    return ok;
}

cli_remote *cli_remote_find(const char *data_dir) {
    vx_path path;
    char url[300] = "", token[128] = "";
    FILE *f = vx_path_fmt(path, NULL, "%s/%s", data_dir, VX_SERVICE_FILE) ? NULL : fopen(path, "r");
    if (!f) return NULL;
    int ok = fgets(url, sizeof url, f) && fgets(token, sizeof token, f);
    fclose(f);
    if (!ok) return NULL;
    url[strcspn(url, "\r\n")] = '\0';
    token[strcspn(token, "\r\n")] = '\0';
    struct evhttp_uri *u = evhttp_uri_parse(url);
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    int port = u ? evhttp_uri_get_port(u) : -1;
    cli_remote *r = NULL;
    if (host && port > 0 && port < 65536 && strlen(host) < sizeof r->host && *token && reachable(host, port) &&
        (r = calloc(1, sizeof *r))) {
        snprintf(r->host, sizeof r->host, "%s", host);
        r->port = port;
        snprintf(r->token, sizeof r->token, "%s", token);
    }
    if (u) evhttp_uri_free(u);
    return r;
}

void cli_remote_free(cli_remote *r) { free(r); }

typedef struct answer {
    struct event_base *base;
    int status;
    char *body;
    size_t len;
} answer;

static void on_answer(struct evhttp_request *req, void *arg) {
    answer *a = arg;
    if (req && (a->status = evhttp_request_get_response_code(req)) > 0) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        a->len = evbuffer_get_length(in);
        if ((a->body = malloc(a->len + 1))) {
            evbuffer_remove(in, a->body, a->len);
            a->body[a->len] = '\0';
        }
    }
    event_base_loopexit(a->base, NULL);
}

int cli_remote_call(cli_remote *r, const char *method, const char *uri, const void *body, size_t len,
                    const char *content_type, int *status, json_t **doc, vx_error *err) {
    *doc = NULL;
    *status = 0;
    answer a = {0};
    struct evhttp_connection *conn = NULL;
    int rc = -1;
    if (!(a.base = event_base_new()) || !(conn = evhttp_connection_base_new(a.base, NULL, r->host, (uint16_t)r->port))) {
        vx_fail(err, "out of memory");
        goto done;
    }
    evhttp_connection_set_timeout(conn, 3600); /* a search of a cold service may wait on its model */
    struct evhttp_request *req = evhttp_request_new(on_answer, &a);
    if (!req) { vx_fail(err, "out of memory"); goto done; }
    char auth[160];
    snprintf(auth, sizeof auth, "Bearer %s", r->token);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", r->host);
    evhttp_add_header(h, "Authorization", auth);
    evhttp_add_header(h, "Connection", "close");
    if (body) {
        evhttp_add_header(h, "Content-Type", content_type);
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    }
    if (evhttp_make_request(conn, req, strcmp(method, "POST") == 0 ? EVHTTP_REQ_POST : EVHTTP_REQ_GET, uri)) {
        vx_fail(err, "cannot send a request to the service at %s:%d", r->host, r->port);
        goto done;
    }
    event_base_dispatch(a.base);
    if (!a.status || !a.body) {
        vx_fail(err, "the service at %s:%d did not answer", r->host, r->port);
        goto done;
    }
    json_error_t je;
    *doc = json_loadb(a.body, a.len, 0, &je);
    if (!*doc) {
        vx_fail(err, "the service's answer (%d) is not JSON: %s", a.status, je.text);
        goto done;
    }
    *status = a.status;
    rc = 0;
done:
    free(a.body);
    if (conn) evhttp_connection_free(conn);
    if (a.base) event_base_free(a.base);
    return rc;
}

const char *cli_remote_error(const json_t *doc) {
    const char *m = json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
    return m ? m : "the service refused the request";
}

void cli_url_encode(const char *s, char *out, size_t size) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && n + 4 < size; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("-_.~", *p)) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
}
