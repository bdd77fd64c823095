/* vidx serve: the HTTP service. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../api/serve.h"
#include "config.h"
#include "cli.h"

/* HOST:PORT, [IPv6]:PORT or PORT. */
static int parse_listen(const char *s, char *host, size_t hsize, int *port) {
    const char *colon = strrchr(s, ':');
    const char *p = colon ? colon + 1 : s;
    char *end;
    long v = strtol(p, &end, 10);
    if (!*p || *end || v < 0 || v > 65535) return -1;
    *port = (int)v;
    if (!colon) {
        snprintf(host, hsize, "127.0.0.1");
        return 0;
    }
    size_t n = (size_t)(colon - s);
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') { s++; n -= 2; }
    if (n == 0 || n >= hsize) return -1;
    memcpy(host, s, n);
    host[n] = '\0';
    return 0;
}

/* The token from VIDX_ADMIN_TOKEN or the first line of a file. */
static int read_token(const cli_command *cmd, const char *file, char *out, size_t size) {
    FILE *f = fopen(file, "r");
    if (!f) return cli_fail(cmd, "--admin-token-file %s: %s", file, strerror(errno));
    if (!fgets(out, (int)size, f)) out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    if (strlen(out) < 16) return cli_fail(cmd, "--admin-token-file %s: the token must be at least 16 characters", file);
    return 0;
}

static int run_serve(const cli_command *cmd, cli_args *args) {
    vx_serve_options o;
    vx_serve_options_default(&o);
    /* The command line's engine options (folders, model, precision, caches...), then
     * what a service needs of its engine. */
    if (cli_engine_options(cmd, args, &o.engine)) return CLI_USAGE;
    vx_serve_engine_role(&o.engine);
    char host[256];
    const char *s;
    long long v;
    if ((s = cli_get(cmd, args, "listen"))) {
        if (parse_listen(s, host, sizeof host, &o.http.port))
            return cli_usage_error(cmd, "--listen must be HOST:PORT (port 0 to 65535), not '%s'", s);
        o.http.host = host;
    }
    if ((s = cli_get(cmd, args, "loops"))) {
        if (cli_int_option(cmd, "loops", s, 1, 64, &v)) return CLI_USAGE;
        o.http.loops = (int)v;
    }
    if ((s = cli_get(cmd, args, "max-connections"))) {
        if (cli_int_option(cmd, "max-connections", s, 1, 100000, &v)) return CLI_USAGE;
        o.http.max_connections = (int)v;
    }
    if ((s = cli_get(cmd, args, "max-per-address"))) {
        if (cli_int_option(cmd, "max-per-address", s, 1, 100000, &v)) return CLI_USAGE;
        o.http.max_per_address = (int)v;
    }
    if ((s = cli_get(cmd, args, "head-timeout"))) {
        if (cli_int_option(cmd, "head-timeout", s, 1, 3600, &v)) return CLI_USAGE;
        o.http.head_timeout_s = (int)v;
    }
    if ((s = cli_get(cmd, args, "timeout"))) {
        if (cli_int_option(cmd, "timeout", s, 1, 3600, &v)) return CLI_USAGE;
        o.http.timeout_s = (int)v;
    }
    const char *allowed[64];
    const int allowed_opt = cli_opt_index(cmd, "allowed-host");
    for (int i = 0; i < args->n_occ; i++) {
        if (args->occ[i].opt != allowed_opt) continue;
        const char *h = args->occ[i].value;
        if (!*h || strlen(h) > 253 || strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != strlen(h))
            return cli_usage_error(cmd, "--allowed-host takes a host name (letters, digits, dots, hyphens), not '%s'", h);
        if (o.n_allowed_hosts == (int)(sizeof allowed / sizeof *allowed))
            return cli_usage_error(cmd, "--allowed-host: at most %d names", (int)(sizeof allowed / sizeof *allowed));
        allowed[o.n_allowed_hosts++] = h;
    }
    o.allowed_hosts = allowed;
    /* --media-root: canonical folders (links resolved), so paths compare with them. */
    static char roots[16][PATH_MAX];
    const char *root_ptrs[16];
    const int root_opt = cli_opt_index(cmd, "media-root");
    for (int i = 0; i < args->n_occ; i++) {
        if (args->occ[i].opt != root_opt) continue;
        const char *r = args->occ[i].value;
        struct stat sb;
        const int k = o.engine.index.n_media_roots;
        if (k == 16) return cli_usage_error(cmd, "--media-root: at most 16 folders");
        if (!realpath(r, roots[k]) || stat(roots[k], &sb) != 0 || !S_ISDIR(sb.st_mode))
            return cli_usage_error(cmd, "--media-root %s: not a folder (%s)", r, strerror(errno ? errno : ENOTDIR));
        if (strcmp(roots[k], "/") == 0) return cli_usage_error(cmd, "--media-root /: that is every file; name the media folders");
        root_ptrs[k] = roots[k];
        o.engine.index.n_media_roots = k + 1;
    }
    o.engine.index.media_roots = root_ptrs;
    o.ready_file = cli_get(cmd, args, "ready-file");
    char token[512] = "";
    if ((s = cli_get(cmd, args, "admin-token-file"))) {
        if (read_token(cmd, s, token, sizeof token)) return CLI_SOME_FAILED;
    } else if ((s = getenv("VIDX_ADMIN_TOKEN")) && *s) {
        if (strlen(s) < 16) return cli_fail(cmd, "VIDX_ADMIN_TOKEN must be at least 16 characters");
        snprintf(token, sizeof token, "%s", s);
    }
    o.admin_token = token[0] ? token : NULL;
    if ((s = getenv("VIDX_API_KEY")) && *s) {
        if (strlen(s) < 16) return cli_fail(cmd, "VIDX_API_KEY must be at least 16 characters");
        o.api_key = s;
    }
    o.public_user_endpoints = cli_has(cmd, args, "public-user-endpoints");
    if (cli_has(cmd, args, "no-renditions")) o.engine.renditions = 0;
    if ((s = cli_get(cmd, args, "rendition-height")) || ((s = getenv("VIDX_RENDITION_HEIGHT")) && *s)) {
        if (cli_int_option(cmd, "rendition-height", s, 144, 4320, &v)) return CLI_USAGE;
        o.engine.rendition_max_height = (int)v;
    }
    vx_cluster_options co;
    int clustered;
    if (cli_cluster_options(cmd, args, "serve", &co, &clustered)) return CLI_USAGE;
    if (clustered) o.cluster = &co;
    if ((s = cli_get(cmd, args, "shard")) || ((s = getenv("VIDX_SHARD")) && *s)) {
        unsigned i, n;
        char tail;
        if (sscanf(s, "%u/%u%c", &i, &n, &tail) != 2 || n < 1 || n > VX_SHARD_MAX || i >= n)
            return cli_usage_error(cmd, "--shard must be I/N, this node's shard I from 0 to N-1 of N (at most %d), "
                                        "not '%s'", VX_SHARD_MAX, s);
        if (!clustered && n > 1) return cli_usage_error(cmd, "--shard %s needs --cluster: the other shards are other nodes", s);
        co.shard = i;
        co.shards = n > 1 ? n : 0;
    }
    if ((s = getenv("VIDX_SHARD_TIMEOUT_MS")) && *s) {
        if (cli_int_option(cmd, "VIDX_SHARD_TIMEOUT_MS", s, 1, 60000, &v)) return CLI_USAGE;
        co.shard_timeout_ms = (int)v;
    }
    if (!o.admin_token)
        fprintf(stderr, "vidx serve: no admin token (VIDX_ADMIN_TOKEN or --admin-token-file): POST /v1/index is off "
                        "(local `vidx index` still goes through)\n");
    vx_error err;
    if (vx_serve(&o, &err)) return cli_fail(cmd, "%s", err.msg);
    return CLI_OK;
}

const cli_command cmd_serve = {
    .name = "serve",
    .synopsis = "[--db DIR] [--model DIR] [--precision P] [--listen HOST:PORT] [--cluster URLS]",
    .summary = "run the HTTP service (search, similar, feeds, indexing jobs, web page)",
    .details = "Listens on 127.0.0.1:8080 unless told otherwise. Indexing jobs (POST /v1/index) need an\n"
               "admin token: set VIDX_ADMIN_TOKEN or pass --admin-token-file (at least 16 characters),\n"
               "then send `Authorization: Bearer TOKEN`. Without the model, text search and indexing\n"
               "answer 503 saying what is missing; everything else works. SIGTERM or SIGINT stop it\n"
               "gracefully: requests in flight finish, an indexing job stops after its current file\n"
               "and resumes at the next start.\n"
               "Videos browsers cannot play as they are (MPEG-1/2, MPEG-4 part 2, Theora, FLV, H.264 in\n"
               "Matroska, ...) get a web-playable rendition (H.264 + AAC in MP4, DATA/media/) in the\n"
               "background at the lowest priority, after they are indexed; /v1/videos/ID/media serves it.\n"
               "User endpoints (events, feeds, user records) are private: with VIDX_API_KEY set (the operator\n"
               "key) they need `Authorization: Bearer TOKEN`, the user's own token (POST /v1/users/USER/token,\n"
               "admin) or the operator key; listening beyond loopback without a key is refused unless\n"
               "--public-user-endpoints says they are public. Only Host names that are addresses, localhost\n"
               "or --allowed-host names are answered; --media-root bounds what is indexed and served.\n"
               "With --cluster (or VIDX_CLUSTER) this is a node of a cluster on NATS JetStream: it follows\n"
               "the cluster's log into its data folder, sends every change to the log, and queues\n"
               "POST /v1/index for the workers (`vidx worker`). VIDX_CLUSTER_CREDS gives the servers'\n"
               "user:password or token (needed unless every server is on loopback).\n"
               "With --shard I/N (or VIDX_SHARD) the node's segment index holds one shard of N (the videos\n"
               "whose id % N is I); nodes started with the same I/N are its replicas. A search on any node\n"
               "asks one replica of every other shard and merges; a shard that does not answer within\n"
               "VIDX_SHARD_TIMEOUT_MS (default 250) is left out and the answer says \"partial\": true.",
    .opts = {CLI_DB_OPT, CLI_MODEL_OPT, CLI_TEXT_MODEL_OPT, CLI_PRECISION_OPT,
             {"listen", 0, "HOST:PORT", "address to listen on (default 127.0.0.1:8080; port 0 picks a free one)"},
             {"loops", 0, "N", "event loop threads (default: one per core, at least 2)"},
             {"max-connections", 0, "N", "open connections at most (default 1024; beyond, the one waiting longest goes)"},
             {"max-per-address", 0, "N", "open connections from one address, loopback exempt (default 64)"},
             {"head-timeout", 0, "SECONDS", "a request must arrive within this of its first byte, plus 1 s per 16 KiB of body (default 10)"},
             {"timeout", 0, "SECONDS", "close connections idle or stalled for this long (default 30)"},
             {"admin-token-file", 0, "FILE", "file whose first line is the admin token"},
             {"ready-file", 0, "FILE", "write HOST:PORT here once listening"},
             {"allowed-host", 0, "NAME", "answer requests for this host name too (repeatable; addresses and localhost always)"},
             {"media-root", 0, "DIR", "index and serve only files inside DIR (repeatable); links are followed only inside"},
             {"public-user-endpoints", 0, NULL, "serve events and feeds beyond loopback without VIDX_API_KEY"},
             {"no-renditions", 0, NULL, "make no web-playable renditions (the originals are served as they are)"},
             {"rendition-height", 0, "LINES", "renditions' short side at most (default 1080; $VIDX_RENDITION_HEIGHT)"},
             CLI_CLUSTER_OPT,
             {"shard", 0, "I/N", "hold shard I of N of the segment index (a cluster node; $VIDX_SHARD)"}},
    .min_pos = 0, .max_pos = 0, .run = run_serve,
};
