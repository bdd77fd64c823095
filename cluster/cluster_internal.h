/* vidx cluster, internal: the state cluster.c and worker.c share. */
#ifndef VX_CLUSTER_INTERNAL_H
#define VX_CLUSTER_INTERNAL_H

#include <limits.h>
#include <nats/nats.h>
#include <pthread.h>

#include "cluster.h"

#define VX_CLUSTER_MAX_MESSAGE (8 << 20) /* an op with its thumbnails; servers need max_payload >= this */
#define VX_SHARD_ANSWER_THREADS 8       /* shard queries a node answers at once, at most (one per core) */

typedef struct applied_result {
    uint64_t seq;
    uint64_t id_hash;         /* of its Nats-Msg-Id: which op it was (a commit compares it) */
    int status;               /* 0, or why the op did not apply here */
    vx_error err;
    vx_event_stored stored;   /* events */
} applied_result;

struct vx_cluster {
    vx_cluster_options o;
    char urls[1024];
    natsConnection *nc;
    jsCtx *js;
    jsCtx *js_async;          /* commits: publishes answered asynchronously */
    pthread_mutex_t pub_mu;   /* guards pub_waits; pub_cv signals every answer */
    pthread_cond_t pub_cv;
    struct pub_wait *pub_waits;
    atomic_uint_least64_t commit_counter;
    kvStore *attempts;        /* VIDX_ATTEMPTS: how many times each work item was taken */
    int64_t log_created;      /* the log stream's creation time: which log a data folder follows */
    vx_cluster_hooks hooks;
    uint64_t nonce;           /* this process's, in event subjects */
    atomic_uint_least64_t event_counter, skipped;

    /* following the log */
    vx_engine *engine;
    natsSubscription *sub;
    pthread_t follower;
    int following;
    atomic_int stop;
    pthread_mutex_t mu;       /* guards what follows; cv signals every applied op */
    pthread_cond_t cv;
    uint64_t applied, lag, target; /* target: the log's last op when following began */
    uint64_t applied_hash;         /* which op `applied` was (op_identity; 0: not known) */
    int regressed;                 /* the log lost ops applied here (log_regressed): under mu */
    int regress_seen;              /* looks in a row that saw it so (the follower thread's) */
    int view_fresh, view_connected; /* the connection as last read by the follower (under mu) */
    char view_servers[1024];
    char regressed_why[400];
    int ready;
    applied_result *ring;     /* [APPLIED_RING] by sequence */

    /* sharded search (shards.c) */
    natsSubscription *shard_sub[VX_SHARD_ANSWER_THREADS]; /* this node's shard's queries, once caught up */
    atomic_int shard_serving;
};

/* shards.c: answering this node's shard's queries (from when it is caught up), and
 * asking the other shards (the engine's ask_shards hook). */
void vx_cluster_serve_shard(vx_cluster *c);
void vx_cluster_unserve_shard(vx_cluster *c);
void vx_cluster_ask_shards(void *ctx, const vx_shard_query *q, vx_shard_answer *answers, int *answered);

int vx_cluster_commit(void *ctx, const vx_op *ops, int n, vx_event_stored *stored, int *status, vx_error *errs);
int vx_cluster_enqueue(void *ctx, const vx_job *job, vx_error *err);
/* err from a NATS status (and JetStream error code, 0 if none): "what: text". Returns -1. */
int vx_cluster_nats_fail(vx_error *err, natsStatus s, jsErrCode jerr, const char *what);

#endif
