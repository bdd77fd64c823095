/* vidx cluster: running on many machines over NATS JetStream (DESIGN.md, "Cluster").
 *
 * Two replicated streams carry everything that crosses machines; vidx adds no
 * consensus of its own:
 *   VIDX_LOG   the catalog log: every change of state as one op (schemas/ops.h), on a
 *              subject per thing it changes (vidx.log.video.ID, vidx.log.event.USER.ID,
 *              ...). One message per subject is kept, the latest, so the stream holds
 *              each video's current state plus every event, and a node that joins late
 *              or lost its data folder rebuilds from it alone.
 *   VIDX_WORK  the work queue: one item per file of an indexing job, taken by workers
 *              through one durable pull consumer with an ack deadline. How often an
 *              item was really taken is counted in a key-value bucket (VIDX_ATTEMPTS):
 *              the server's delivery count also counts deliveries that never reached
 *              a worker (a pull request that expired, a consumer leader that moved).
 * Every node (serve or worker) follows the log: one thread applies each op in order to
 * the node's own data folder (vx_engine_apply_logged), with the op's stream sequence in
 * the same write, and resumes after it at the next start. A change made on a node
 * (an event, a job, a worker's indexing result) is published to the log and answered
 * once this node has applied it, so the node that took a write reads it at once.
 *
 * Conventions: functions return 0 or -1 with err; vx_cluster_close accepts NULL. The
 * hooks (vx_cluster_hooks) are called from engine threads; everything here is
 * thread-safe.
 */
#ifndef VX_CLUSTER_H
#define VX_CLUSTER_H

#include <stdatomic.h>
#include <stdint.h>

#include "../engine/engine.h"

#define VX_CLUSTER_LOG_STREAM "VIDX_LOG"
#define VX_CLUSTER_WORK_STREAM "VIDX_WORK"
#define VX_CLUSTER_WORKERS "vidx-workers" /* the durable consumer every worker shares */
#define VX_CLUSTER_ATTEMPTS_BUCKET "VIDX_ATTEMPTS" /* key-value: tries of each work item (JOB.INDEX) */

typedef struct vx_cluster_options {
    const char *urls;      /* nats://h1:4222,nats://h2:4222 (--cluster, $VIDX_CLUSTER) */
    const char *creds;     /* "user:password" or a token ($VIDX_CLUSTER_CREDS); NULL: none */
    const char *creds_file;/* or a NATS .creds file: a user JWT and its NKey seed ($VIDX_CLUSTER_CREDS_FILE) */
    const char *nkey;      /* or an NKey user: its public key ($VIDX_CLUSTER_NKEY) ... */
    const char *nkey_seed; /* ... and the file that holds its seed ($VIDX_CLUSTER_NKEY_SEED) */
    const char *tls_ca;    /* TLS: the CA that signed the servers' certificates ($VIDX_CLUSTER_TLS_CA;
                            * tls:// URLs without it trust the system's CAs) */
    const char *tls_cert, *tls_key; /* a client certificate and key, for servers that verify clients
                            * ($VIDX_CLUSTER_TLS_CERT, $VIDX_CLUSTER_TLS_KEY) */
    int plaintext;         /* servers beyond loopback without TLS: only over a private network
                            * ($VIDX_CLUSTER_PLAINTEXT=1) */
    const char *role;      /* "serve" or "worker": the connection's name and /healthz */
    int replicas;          /* copies of each stream when creating it (default 3) */
    int ack_wait_s;        /* a work item's ack deadline (default 60; workers extend it while busy) */
    int max_attempts;      /* tries of a work item before it is recorded as failed (default 3) */
    double commit_wait_s;  /* a commit waits this long for this node to apply it (default 10) */
    uint32_t shard, shards;/* sharded search: the segment shard this serving node holds, of how many
                            * (--shard I/N; 0 shards: not sharded). Pass the same to the engine. */
    int shard_timeout_ms;  /* a search waits this long for the other shards (default 250) */
} vx_cluster_options;

void vx_cluster_options_default(vx_cluster_options *o);

typedef struct vx_cluster vx_cluster;

/* Connects (refusing servers beyond loopback without credentials, or without TLS unless
 * o->plaintext) and makes sure both streams exist. Reconnects by itself later on. */
vx_cluster *vx_cluster_connect(const vx_cluster_options *o, vx_error *err);
/* The engine's side: pass it in vx_engine_options.cluster before opening the engine. */
const vx_cluster_hooks *vx_cluster_hooks_of(vx_cluster *c);
/* Starts following the log into e from e's last applied position. */
int vx_cluster_follow(vx_cluster *c, vx_engine *e, vx_error *err);
/* Waits until the node has caught up with the log as it stood when following began
 * (1), or timeout_s passed or stop was set (0). */
int vx_cluster_wait_ready(vx_cluster *c, double timeout_s, const atomic_int *stop);
/* Stops applying the log (before the engine closes); commits waiting return. */
void vx_cluster_unfollow(vx_cluster *c);
/* Stops following and disconnects. */
void vx_cluster_close(vx_cluster *c);

typedef struct vx_cluster_status {
    const char *role;
    int connected;          /* to some server now */
    int ready;              /* caught up once since following began */
    uint64_t applied;       /* last log sequence applied */
    uint64_t lag;           /* ops in the log not applied yet */
    uint64_t skipped;       /* log messages that were not valid ops (logged and skipped) */
    char servers[1024];     /* the servers known, comma-separated */
    uint32_t shard, shards; /* sharded search: this node's shard (0 shards: not sharded) */
    int shard_serving;      /* answering its shard's queries (once caught up) */
    int regressed;          /* the log ends before the last op applied here: the node must not serve */
    char regressed_why[400];
} vx_cluster_status;
void vx_cluster_status_of(vx_cluster *c, vx_cluster_status *out);

/* A worker: takes work items until stop is set, each indexed by the engine
 * (vx_engine_index_items) and acknowledged once its outcome is in the log. -1 with err
 * when the log regressed under it (it then takes no more). */
int vx_cluster_work(vx_cluster *c, vx_engine *e, const atomic_int *stop, vx_error *err);

/* `vidx worker`: connects, catches up with the log into its own data folder (the
 * catalog only: it classifies files against it), then works until SIGTERM or SIGINT
 * (the item in hand is finished or handed back). Refuses to start without a model, or
 * with another model than the cluster's. */
int vx_cluster_worker_run(const vx_engine_options *eo, const vx_cluster_options *co, vx_error *err);

/* The subject an op goes to in the log (vidx.log....); unique_event makes an event's
 * subject its own. */
void vx_cluster_op_subject(const vx_op *op, uint64_t unique_event, char *out, size_t size);

#endif
