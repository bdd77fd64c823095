/* vidx api: `vidx serve`, the service over one data folder.
 *
 * Threads: the HTTP server's event loops (server.h), the engine's query encoder, event
 * writer and job runner (engine/), and the main thread waiting for SIGTERM or SIGINT.
 * While it runs the service owns the data folder, and every `vidx` command that needs
 * the folder goes through it: the service writes DATA/service (mode 0600) with its
 * loopback address and a token of its own that admin endpoints accept, so only users
 * who can read the data folder can use it (cli/remote.c).
 * With a cluster (o->cluster) the node connects first, follows the cluster's log into
 * its data folder, sends every change to the log (engine hooks), and answers /healthz
 * as ready once caught up; it stops, refusing to serve, if its model is not the one
 * the cluster's videos were indexed with.
 * Shutdown: stop accepting, let in-flight requests finish (bounded wait), stop the
 * loops, then the engine (a running job stops after its current file and resumes at
 * the next start; the indexes are saved), and remove DATA/service.
 */
#ifndef VX_SERVE_H
#define VX_SERVE_H

#include "../cluster/cluster.h"
#include "../engine/engine.h"
#include "server.h"

#define VX_SERVICE_FILE "service" /* in the data folder: "URL\nTOKEN\n" */

typedef struct vx_serve_options {
    vx_engine_options engine; /* data folder, model, caches, indexing */
    vx_http_options http;
    const char *admin_token;  /* NULL: admin endpoints answer 403 to others than local commands */
    const char *ready_file;   /* written with "HOST:PORT\n" once listening (tests, scripts) */
    const char *api_key;      /* required by the user endpoints (events, feeds, user records) when set */
    int public_user_endpoints;/* listening beyond loopback without api_key: explicitly allowed */
    const char *const *allowed_hosts; /* Host names answered beside addresses and localhost */
    int n_allowed_hosts;
    const vx_cluster_options *cluster; /* a node of a cluster (NULL: one machine, no NATS) */
} vx_serve_options;

/* What a service needs of its engine: the data folder created when missing, the model
 * if there is one, the query encoder thread, background jobs and renditions. Applied on
 * top of any engine options (the command line's: folders, model, precision, caches). */
void vx_serve_engine_role(vx_engine_options *e);
/* Defaults: the engine's defaults with the service's role, HTTP defaults. */
void vx_serve_options_default(vx_serve_options *o);

/* Runs until SIGTERM or SIGINT. Returns 0 after a clean shutdown, -1 with err when the
 * service could not start. */
int vx_serve(const vx_serve_options *o, vx_error *err);

#endif
