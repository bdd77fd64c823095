#include "serve.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/path.h"
#include "../common/system.h"
#include "offload.h"
#include "routes.h"

void vx_serve_engine_role(vx_engine_options *e) {
    e->create = 1;
    e->model = VX_MODEL_TRY;
    e->query_encoder = 1;
    e->jobs = 1;
    e->renditions = 1; /* videos browsers cannot play get a rendition in the background */
    e->labels = 1;     /* zero-shot labels ("tags"), prepared in the background */
    e->feed_model = 1; /* the feeds' item model, rebuilt in the background */
}

void vx_serve_options_default(vx_serve_options *o) {
    memset(o, 0, sizeof *o);
    vx_engine_options_default(&o->engine);
    vx_serve_engine_role(&o->engine);
    vx_http_options_default(&o->http);
}

/* A fresh random token, 32 hex digits. */
static int random_token(char out[33]) {
    unsigned char b[16];
    if (vx_random_bytes(b, sizeof b)) return -1;
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
    return 0;
}

/* The address local commands reach: the listening one, loopback for the wildcards. */
static void local_url(const char *host, int port, char *out, size_t size) {
    if (strcmp(host, "0.0.0.0") == 0) host = "127.0.0.1";
    if (strcmp(host, "::") == 0) host = "::1";
    snprintf(out, size, strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d", host, port);
}

/* Room for every connection beside the data folder's files: the soft limit of open files
 * (often 1024) raised toward the hard one. */
static void raise_file_limit(int max_connections) {
    struct rlimit r;
    const rlim_t want = (rlim_t)max_connections + 512;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur >= want) return;
    r.rlim_cur = r.rlim_max == RLIM_INFINITY || r.rlim_max > want ? want : r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur < want)
        vx_warn("open files are limited to %llu: fewer than --max-connections %d need", (unsigned long long)r.rlim_cur,
                max_connections);
}

/* Waits for a signal while watching the cluster: returns the signal, or 0 when the node
 * must stop serving (why in err). */
static int wait_for_signal(const sigset_t *sigs, vx_cluster *cluster, vx_engine *e, vx_error *err) {
    int was_ready = 0;
    for (;;) {
        struct timespec tick = {0, 500 * 1000000L};
        int sig = sigtimedwait(sigs, NULL, cluster ? &tick : NULL);
        if (sig > 0) return sig;
        if (!cluster) continue;
        vx_cluster_status st;
        vx_cluster_status_of(cluster, &st);
        if (st.regressed) {
            vx_fail(err, "refusing to serve: %s", st.regressed_why);
            return 0;
        }
        if (!st.ready) continue;
        if (!was_ready) vx_info("cluster: caught up with the log (op %llu): ready", (unsigned long long)st.applied);
        was_ready = 1;
        char buf[1024];
        const char *conflict = vx_engine_model_conflict(e, buf, sizeof buf);
        if (conflict) {
            vx_fail(err, "refusing to serve: %s", conflict);
            return 0;
        }
    }
}

int vx_serve(const vx_serve_options *o, vx_error *err) {
    /* The main thread takes the signals; every thread started from here inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!(o->api_key && *o->api_key) && !o->public_user_endpoints && !vx_host_is_loopback(o->http.host))
        return vx_fail(err, "listening on %s needs VIDX_API_KEY for the user endpoints (events, feeds, user records "
                            "are private), or --public-user-endpoints to serve them to anyone", o->http.host);
    char token[33], service_file[PATH_MAX + 16];
    if (random_token(token)) return vx_fail(err, "cannot read /dev/urandom for the local token");
    vx_metrics *metrics = vx_metrics_new();
    if (!metrics) return vx_fail(err, "out of memory");
    vx_cluster *cluster = NULL;
    vx_engine_options eo = o->engine;
    if (o->cluster) {
        if (!(cluster = vx_cluster_connect(o->cluster, err))) {
            vx_metrics_free(metrics);
            return -1;
        }
        eo.cluster = vx_cluster_hooks_of(cluster);
        eo.jobs = 0; /* the cluster's workers index */
        eo.shard = o->cluster->shard;
        eo.shards = o->cluster->shards;
    }
    vx_engine *e = vx_engine_open(&eo, err);
    if (!e || (cluster && vx_cluster_follow(cluster, e, err))) {
        vx_cluster_close(cluster);
        vx_engine_close(e);
        vx_metrics_free(metrics);
        return -1;
    }
    vx_api api = {.engine = e, .metrics = metrics,
                  .access = {.admin_token = o->admin_token, .local_token = token,
                             .api_key = o->api_key && *o->api_key ? o->api_key : NULL},
                  .cluster = cluster,
                  .allowed_hosts = o->allowed_hosts, .n_allowed_hosts = o->n_allowed_hosts,
                  .max_body = o->http.max_body, .started_at = (int64_t)time(NULL)};
    if (vx_access_load_user_secret(&api.access, vx_engine_data_dir(e), err) ||
        !(api.offload = vx_offload_start(VX_OFFLOAD_THREADS, err))) {
        vx_cluster_close(cluster);
        vx_engine_close(e);
        vx_metrics_free(metrics);
        return -1;
    }
    int port = 0;
    raise_file_limit(o->http.max_connections);
    vx_http_server *http = vx_http_start(&o->http, vx_api_handle, &api, metrics, &port, err);
    if (!http) {
        vx_offload_stop(api.offload);
        vx_cluster_close(cluster);
        vx_engine_close(e);
        vx_metrics_free(metrics);
        return -1;
    }
    vx_info("serving %s on http://%s:%d/ (%d loops, %s)", vx_engine_data_dir(e), o->http.host, port, o->http.loops,
            vx_engine_model_problem(e) ? "search by words only until the CLIP model is in place; it is looked for "
                                         "every few seconds"
                                       : "search by words and by what is seen");
    char line[512], url[300];
    local_url(o->http.host, port, url, sizeof url);
    snprintf(line, sizeof line, "%s\n%s\n", url, token);
    snprintf(service_file, sizeof service_file, "%s/%s", vx_engine_data_dir(e), VX_SERVICE_FILE);
    vx_error werr;
    if (vx_write_file_private(service_file, line, strlen(line), &werr))
        vx_warn("%s: `vidx` commands cannot reach this service", werr.msg);
    if (o->ready_file) {
        snprintf(line, sizeof line, "%s:%d\n", o->http.host, port);
        if (vx_write_file_atomic(o->ready_file, line, strlen(line), &werr)) vx_warn("%s", werr.msg);
    }
    vx_error why;
    int sig = wait_for_signal(&sigs, cluster, e, &why);
    unlink(service_file); /* commands from now on wait for the folder, not for us */
    int left = vx_http_drain(http, 10);
    vx_info("%s: shutting down (no new connections; finished %d requests in flight)",
            sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : why.msg, left);
    vx_http_stop(http);
    vx_offload_stop(api.offload); /* what was queued is done (its answers go nowhere now) */
    vx_cluster_unfollow(cluster); /* no op is applied while the engine closes */
    vx_engine_close(e); /* the current job file finishes; queued work resumes at the next start */
    vx_cluster_close(cluster);
    vx_http_free(http);
    vx_metrics_free(metrics);
    if (!sig) {
        *err = why;
        return -1;
    }
    vx_info("stopped cleanly");
    return 0;
}
