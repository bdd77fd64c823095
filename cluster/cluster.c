/* vidx cluster: the connection, the two streams, the catalog log's publisher and its
 * follower (cluster.h says what each stream holds). The work loop is in worker.c. */
#include "cluster.h"

#include <ctype.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/hash.h"
#include "../common/log.h"
#include "../common/system.h"
#include "../common/vecmath.h"
#include "cluster_internal.h"

#define APPLIED_RING 1024 /* results of recent applies, for the commits waiting on them */
#define MAX_SERVERS 32
#define SETTLE_EVERY 50000 /* ops applied between saves of the vector indexes while busy */
#define FOLLOW_CHECK_S 2.0  /* a quiet log is checked for ops this node missed this often (a follower
                             * whose consumer died with its server resumes within about this) */
#define COMMIT_MAX 64      /* ops per commit call (more are split) */
#define FOLLOW_START_WAIT_S 60 /* a starting node waits this long for the log to answer */
#define REGRESSED_CHECKS 6     /* looks in a row (FOLLOW_CHECK_S apart) before a log counts as regressed */

void vx_cluster_options_default(vx_cluster_options *o) {
    memset(o, 0, sizeof *o);
    o->role = "serve";
    o->replicas = 3;
    o->ack_wait_s = 60;
    o->max_attempts = 3;
    o->commit_wait_s = 10;
    o->shard_timeout_ms = 250;
}

int vx_cluster_nats_fail(vx_error *err, natsStatus s, jsErrCode jerr, const char *what) {
    const char *detail = nats_GetLastError(NULL);
    if (detail && !*detail) detail = NULL;
    if (jerr) return vx_fail(err, "%s: %s (JetStream error %d%s%s)", what, natsStatus_GetText(s), (int)jerr,
                             detail ? ": " : "", detail ? detail : "");
    return vx_fail(err, "%s: %s%s%s", what, natsStatus_GetText(s), detail ? ": " : "", detail ? detail : "");
}

/* ---- connecting ---------------------------------------------------------------------------- */

/* The host of nats://host:port, host:port, [v6]:port. */
static void url_host(const char *url, char *host, size_t size) {
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *at = strchr(p, '@'); /* user:pass@host */
    if (at) p = at + 1;
    size_t n;
    if (*p == '[') {
        const char *close = strchr(p, ']');
        p++;
        n = close ? (size_t)(close - p) : strlen(p);
    } else {
        n = strcspn(p, ":/");
    }
    if (n >= size) n = size - 1;
    memcpy(host, p, n);
    host[n] = '\0';
}

static int set(const char *s) { return s && *s; }

/* TLS: tls:// URLs, or any TLS setting. */
static int wants_tls(const vx_cluster_options *o, const char *const *servers, int n) {
    for (int i = 0; i < n; i++)
        if (strncmp(servers[i], "tls://", 6) == 0) return 1;
    return set(o->tls_ca) || set(o->tls_cert);
}

/* Servers beyond this machine need credentials and, unless the operator says the network
 * is private, TLS: anyone on the path could otherwise read every user's history and
 * write the log. Settings that cannot work together are refused up front. */
static int check_security(const vx_cluster_options *o, const char *const *servers, int n, vx_error *err) {
    const int kinds = set(o->creds) + set(o->creds_file) + (set(o->nkey) || set(o->nkey_seed));
    if (kinds > 1)
        return vx_fail(err, "cluster: VIDX_CLUSTER_CREDS, VIDX_CLUSTER_CREDS_FILE and VIDX_CLUSTER_NKEY are "
                            "different ways to sign in: set one");
    if (set(o->nkey) != set(o->nkey_seed))
        return vx_fail(err, "cluster: an NKey user needs both VIDX_CLUSTER_NKEY (its public key) and "
                            "VIDX_CLUSTER_NKEY_SEED (the file holding its seed)");
    if (set(o->tls_cert) != set(o->tls_key))
        return vx_fail(err, "cluster: a client certificate needs both VIDX_CLUSTER_TLS_CERT and VIDX_CLUSTER_TLS_KEY");
    const int tls = wants_tls(o, servers, n);
    for (int i = 0; i < n; i++) {
        char host[256];
        url_host(servers[i], host, sizeof host);
        if (vx_host_is_loopback(host)) continue;
        if (!kinds)
            return vx_fail(err, "cluster: %s is not on loopback: sign in to it with VIDX_CLUSTER_CREDS (user:password "
                                "or a token), VIDX_CLUSTER_CREDS_FILE (a .creds file) or VIDX_CLUSTER_NKEY and "
                                "VIDX_CLUSTER_NKEY_SEED to join a cluster beyond this machine", servers[i]);
        if (!tls && !o->plaintext)
            return vx_fail(err, "cluster: %s is not on loopback and the connection would not be encrypted: use "
                                "tls:// URLs (VIDX_CLUSTER_TLS_CA names the CA of the servers' certificates), or set "
                                "VIDX_CLUSTER_PLAINTEXT=1 if the network between the machines is private",
                           servers[i]);
    }
    return 0;
}

/* The CA bundle Debian's ca-certificates keeps: whom tls:// trusts without VIDX_CLUSTER_TLS_CA. */
#define SYSTEM_CAS "/etc/ssl/certs/ca-certificates.crt"

static natsStatus set_security(natsOptions *opts, const vx_cluster_options *o, const char *const *servers, int n) {
    natsStatus s = NATS_OK;
    if (wants_tls(o, servers, n)) {
        s = natsOptions_SetSecure(opts, true);
        if (s == NATS_OK && set(o->tls_ca)) s = natsOptions_LoadCATrustedCertificates(opts, o->tls_ca);
        else if (s == NATS_OK && access(SYSTEM_CAS, R_OK) == 0) s = natsOptions_LoadCATrustedCertificates(opts, SYSTEM_CAS);
        if (s == NATS_OK && set(o->tls_cert)) s = natsOptions_LoadCertificatesChain(opts, o->tls_cert, o->tls_key);
    }
    if (s == NATS_OK && set(o->creds_file)) s = natsOptions_SetUserCredentialsFromFiles(opts, o->creds_file, NULL);
    if (s == NATS_OK && set(o->nkey)) s = natsOptions_SetNKeyFromSeed(opts, o->nkey, o->nkey_seed);
    return s;
}

/* Set while a connection closes on purpose: its callbacks (on a libnats thread, maybe
 * after the vx_cluster is gone) then say nothing and touch nothing of it. */
static atomic_int closing;

static void on_disconnected(natsConnection *nc, void *closure) {
    (void)nc;
    (void)closure;
    if (atomic_load(&closing)) return;
    vx_warn("cluster: lost the connection to the NATS servers; reads go on from the local copy, writes answer 503 "
            "until it is back");
}

static void on_reconnected(natsConnection *nc, void *closure) {
    (void)closure;
    if (atomic_load(&closing)) return;
    char url[256] = "";
    natsConnection_GetConnectedUrl(nc, url, sizeof url);
    vx_info("cluster: connected again, to %s", url);
}

static int ensure_stream(vx_cluster *c, const char *name, const char *subjects, int work_queue, vx_error *err) {
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, c->js, name, NULL, &jerr);
    if (s == NATS_OK) {
        if (!work_queue) c->log_created = si->Created;
        jsStreamInfo_Destroy(si);
        return 0;
    }
    if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr)
        return vx_cluster_nats_fail(err, s, jerr, "cluster: reading the stream's state");
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subj[1] = {subjects};
    cfg.Name = name;
    cfg.Subjects = subj;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = c->o.replicas;
    cfg.MaxMsgSize = VX_CLUSTER_MAX_MESSAGE;
    if (work_queue) {
        cfg.Retention = js_WorkQueuePolicy;
    } else {
        cfg.MaxMsgsPerSubject = 1; /* the latest op per video, job item, user; every event has its own subject */
        cfg.AllowRollup = false;
    }
    jerr = 0;
    s = js_AddStream(&si, c->js, &cfg, NULL, &jerr);
    if (s != NATS_OK) {
        char what[256];
        snprintf(what, sizeof what, "cluster: creating stream %s with %d replicas (VIDX_CLUSTER_REPLICAS sets how many; "
                 "a single server needs 1)", name, c->o.replicas);
        return vx_cluster_nats_fail(err, s, jerr, what);
    }
    if (!work_queue) c->log_created = si->Created;
    vx_info("cluster: created stream %s (%d replicas)", name, c->o.replicas);
    jsStreamInfo_Destroy(si);
    return 0;
}

static void on_published(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure);
static void refresh_connection(vx_cluster *c);

static uint64_t random_u64(void) {
    uint64_t v = 0;
    if (vx_random_bytes(&v, sizeof v)) v = 0; /* then time and process alone */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed[3] = {v, (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec, (uint64_t)getpid()};
    return vx_hash64(seed, sizeof seed);
}

vx_cluster *vx_cluster_connect(const vx_cluster_options *o, vx_error *err) {
    if (!o->urls || !*o->urls) {
        vx_fail(err, "cluster: no server URLs (pass --cluster nats://HOST:4222,... or set VIDX_CLUSTER)");
        return NULL;
    }
    vx_cluster *c = calloc(1, sizeof *c);
    if (!c) { vx_fail(err, "out of memory"); return NULL; }
    c->o = *o;
    snprintf(c->urls, sizeof c->urls, "%s", o->urls);
    c->o.urls = c->urls;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_mutex_init(&c->pub_mu, NULL);
    pthread_cond_init(&c->pub_cv, NULL);
    c->nonce = random_u64();
    c->ring = calloc(APPLIED_RING, sizeof *c->ring);
    const char *servers[MAX_SERVERS];
    int n = 0;
    char *save = NULL, *list = strdup(o->urls);
    for (char *t = list ? strtok_r(list, ",", &save) : NULL; t && n < MAX_SERVERS; t = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*t)) t++;
        if (*t) servers[n++] = t;
    }
    int rc = -1;
    natsOptions *opts = NULL;
    if (!c->ring || !list) { vx_fail(err, "out of memory"); goto done; }
    if (!n) { vx_fail(err, "cluster: no server URLs in '%s'", o->urls); goto done; }
    if (check_security(o, servers, n, err)) goto done;
    const int has_creds = o->creds && *o->creds;
    char name[64];
    snprintf(name, sizeof name, "vidx-%s", o->role ? o->role : "node");
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetServers(opts, servers, n);
    if (s == NATS_OK) s = natsOptions_SetName(opts, name);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 500);
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts, 5000);
    if (s == NATS_OK) s = natsOptions_SetPingInterval(opts, 2000);
    if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts, 3);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, on_disconnected, NULL);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, on_reconnected, NULL);
    if (s == NATS_OK) s = set_security(opts, o, servers, n);
    if (s == NATS_OK && has_creds) {
        char user[256];
        const char *colon = strchr(o->creds, ':');
        if (colon && (size_t)(colon - o->creds) < sizeof user) {
            memcpy(user, o->creds, (size_t)(colon - o->creds));
            user[colon - o->creds] = '\0';
            s = natsOptions_SetUserInfo(opts, user, colon + 1);
        } else {
            s = natsOptions_SetToken(opts, o->creds);
        }
    }
    if (s != NATS_OK) { vx_cluster_nats_fail(err, s, 0, "cluster: connection options"); goto done; }
    s = natsConnection_Connect(&c->nc, opts);
    if (s != NATS_OK) {
        char what[1200];
        snprintf(what, sizeof what, "cluster: cannot connect to %s", o->urls);
        vx_cluster_nats_fail(err, s, 0, what);
        goto done;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    s = natsConnection_JetStream(&c->js, c->nc, &jo);
    if (s != NATS_OK) { vx_cluster_nats_fail(err, s, 0, "cluster: JetStream"); goto done; }
    jsOptions ja; /* commits: publishes answered asynchronously (on_published) */
    jsOptions_Init(&ja);
    ja.Wait = 5000;
    ja.PublishAsync.AckHandler = on_published;
    ja.PublishAsync.AckHandlerClosure = c;
    ja.PublishAsync.MaxPending = 4 * COMMIT_MAX;
    s = natsConnection_JetStream(&c->js_async, c->nc, &ja);
    if (s != NATS_OK) { vx_cluster_nats_fail(err, s, 0, "cluster: JetStream"); goto done; }
    if (ensure_stream(c, VX_CLUSTER_LOG_STREAM, "vidx.log.>", 0, err) ||
        ensure_stream(c, VX_CLUSTER_WORK_STREAM, "vidx.work.>", 1, err))
        goto done;
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = VX_CLUSTER_ATTEMPTS_BUCKET;
    kc.History = 1;
    kc.Replicas = o->replicas;
    kc.StorageType = js_FileStorage;
    kc.TTL = 7LL * 86400 * 1000000000LL; /* counts of items long gone expire */
    s = js_KeyValue(&c->attempts, c->js, VX_CLUSTER_ATTEMPTS_BUCKET);
    if (s != NATS_OK) s = js_CreateKeyValue(&c->attempts, c->js, &kc);
    if (s != NATS_OK) { vx_cluster_nats_fail(err, s, 0, "cluster: the work items' attempts bucket"); goto done; }
    c->hooks = (vx_cluster_hooks){.ctx = c, .commit = vx_cluster_commit, .enqueue = vx_cluster_enqueue,
                                  .ask_shards = o->shards > 1 ? vx_cluster_ask_shards : NULL};
    vx_info("cluster: connected to %s as a %s node", o->urls, o->role ? o->role : "serve");
    rc = 0;
done:
    free(list);
    natsOptions_Destroy(opts);
    if (rc) {
        vx_cluster_close(c);
        return NULL;
    }
    return c;
}

const vx_cluster_hooks *vx_cluster_hooks_of(vx_cluster *c) { return &c->hooks; }

void vx_cluster_unfollow(vx_cluster *c) {
    if (!c) return;
    if (c->following) {
        atomic_store(&c->stop, 1);
        pthread_join(c->follower, NULL);
        c->following = 0;
        pthread_mutex_lock(&c->mu);
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    vx_cluster_unserve_shard(c); /* after the follower, which starts it */
}

void vx_cluster_close(vx_cluster *c) {
    if (!c) return;
    vx_cluster_unfollow(c);
    if (c->sub) natsSubscription_Destroy(c->sub);
    if (c->attempts) kvStore_Destroy(c->attempts);
    if (c->js) jsCtx_Destroy(c->js);
    if (c->js_async) jsCtx_Destroy(c->js_async);
    if (c->nc) {
        atomic_fetch_add(&closing, 1);
        natsConnection_Close(c->nc);
        natsConnection_Destroy(c->nc);
    }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->pub_mu);
    pthread_cond_destroy(&c->pub_cv);
    free(c->ring);
    free(c);
}

/* ---- subjects -------------------------------------------------------------------------------- */

static void user_hex(const char *user, char *out) {
    static const char digits[] = "0123456789abcdef";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)user; *p && n < 2 * VX_MAX_USER; p++) {
        out[n++] = digits[*p >> 4];
        out[n++] = digits[*p & 15];
    }
    out[n] = '\0';
}

void vx_cluster_op_subject(const vx_op *op, uint64_t unique_event, char *out, size_t size) {
    char a[VX_ID_HEX_LEN], b[VX_ID_HEX_LEN], u[2 * VX_MAX_USER + 1];
    switch (op->kind) {
    case VX_OP_MODEL:
    case VX_OP_MODEL_CHANGE: snprintf(out, size, "vidx.log.model"); break;
    case VX_OP_VIDEO:
    case VX_OP_VIDEO_REMOVED:
        vx_id_to_hex(op->video.id, a);
        snprintf(out, size, "vidx.log.video.%s", a);
        break;
    case VX_OP_VIDEO_TOUCHED:
        vx_id_to_hex(op->video.id, a);
        snprintf(out, size, "vidx.log.touch.%s", a);
        break;
    case VX_OP_EVENT:
        user_hex(op->user, u);
        vx_id_to_hex(unique_event, b);
        snprintf(out, size, "vidx.log.event.%s.%s", u, b);
        break;
    case VX_OP_USER_DELETED:
        user_hex(op->user, u);
        snprintf(out, size, "vidx.log.user.%s", u);
        break;
    case VX_OP_JOB:
        vx_id_to_hex(op->job.id, a);
        snprintf(out, size, "vidx.log.job.%s", a);
        break;
    case VX_OP_JOB_ITEM:
        vx_id_to_hex(op->job_id, a);
        snprintf(out, size, "vidx.log.item.%s.%u", a, op->item_index);
        break;
    default: snprintf(out, size, "vidx.log.unknown"); break;
    }
}

/* ---- committing ------------------------------------------------------------------------------ */

/* A user's events before their deletion leave the log too (the deletion op stays, so a
 * node rebuilding from the log erases what it had). */
static void purge_user_events(vx_cluster *c, const vx_op *op, uint64_t deletion_seq) {
    char u[2 * VX_MAX_USER + 1], subject[2 * VX_MAX_USER + 64];
    user_hex(op->user, u);
    snprintf(subject, sizeof subject, "vidx.log.event.%s.>", u);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Stream.Purge.Subject = subject;
    jo.Stream.Purge.Sequence = deletion_seq;
    jsErrCode jerr = 0;
    natsStatus s = js_PurgeStream(c->js, VX_CLUSTER_LOG_STREAM, &jo, &jerr);
    if (s != NATS_OK) {
        vx_error err;
        vx_cluster_nats_fail(&err, s, jerr, "purging the user's events from the log");
        vx_warn("cluster: user %s: %s (their record is erased; the next deletion purges again)", op->user, err.msg);
    }
}

/* Waits until this node applied seq or the deadline passed; 1 when applied. */
static int wait_applied(vx_cluster *c, uint64_t seq, double seconds) {
    const struct timespec until = vx_deadline_in(seconds);
    pthread_mutex_lock(&c->mu);
    while (c->applied < seq && !atomic_load(&c->stop))
        if (pthread_cond_timedwait(&c->cv, &c->mu, &until)) break;
    int ok = c->applied >= seq;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

/* One commit's publishes, answered by the server asynchronously (on_published). Each
 * message carries the commit's number and its place in a header, so an answer that
 * comes after its commit gave up matches nothing. */
typedef struct pub_wait {
    uint64_t id;
    int n, left;
    uint64_t seq[COMMIT_MAX];   /* 0 until answered well */
    int failed[COMMIT_MAX];
    int retry[COMMIT_MAX];      /* failed in a way that says it was not written: publish again */
    vx_error err[COMMIT_MAX];
    struct pub_wait *next;
} pub_wait;

#define COMMIT_HEADER "Vidx-Commit"
#define COMMIT_WAIT_S 15.0  /* a commit's answers, retries included, within this: NATS elects a new
                             * stream leader within its election timeout (up to 9 s) and a heartbeat */
#define COMMIT_ROUND_S 2.0  /* one round of publishes waits this long for its answers */

static void on_published(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure) {
    (void)js;
    vx_cluster *c = closure;
    const char *tag = NULL;
    unsigned long long id = 0;
    int at = -1;
    if (natsMsgHeader_Get(msg, COMMIT_HEADER, &tag) == NATS_OK && tag) sscanf(tag, "%llu.%d", &id, &at);
    pthread_mutex_lock(&c->pub_mu);
    for (pub_wait *w = c->pub_waits; w; w = w->next) {
        if (w->id != id || at < 0 || at >= w->n || w->seq[at] || w->failed[at]) continue;
        if (pa) {
            w->seq[at] = pa->Sequence;
        } else {
            w->failed[at] = 1;
            /* "No responders": no stream leader took it (one is being elected); a timeout:
             * maybe written. Both are sent again under the same message id, which JetStream
             * keeps once. */
            w->retry[at] = pae && (pae->Err == NATS_NO_RESPONDERS || pae->Err == NATS_TIMEOUT);
            vx_cluster_nats_fail(&w->err[at], pae ? pae->Err : NATS_ERR, pae ? pae->ErrCode : 0,
                                 "the cluster's log did not take the change (is a majority of the NATS servers up?)");
        }
        w->left--;
        pthread_cond_broadcast(&c->pub_cv);
        break;
    }
    pthread_mutex_unlock(&c->pub_mu);
    natsMsg_Destroy(msg);
}

/* Sends op i of the commit (its encoding in b, its subject and message id made once). */
static natsStatus publish_one(vx_cluster *c, const pub_wait *w, int i, const vx_buf *b, const char *subject,
                              const char *msg_id) {
    char tag[48];
    snprintf(tag, sizeof tag, "%llu.%d", (unsigned long long)w->id, i);
    natsMsg *m = NULL;
    natsStatus s = natsMsg_Create(&m, subject, NULL, (const char *)b->data, (int)b->len);
    if (s == NATS_OK) s = natsMsgHeader_Set(m, COMMIT_HEADER, tag);
    /* JetStream keeps one message per id for its duplicate window (2 minutes): a retry is
     * answered with the first one's sequence. */
    if (s == NATS_OK) s = natsMsgHeader_Set(m, "Nats-Msg-Id", msg_id);
    if (s == NATS_OK) s = js_PublishMsgAsync(c->js_async, &m, NULL);
    natsMsg_Destroy(m); /* NULL when the library took it */
    return s;
}

/* Publishes ops[0..n) together and waits for the server's answers: status[i] and errs[i]
 * say which got in, seqs[i] where. Losing one server of three costs time, not errors: a
 * change refused as "no responders" (the stream's leader is gone and another is being
 * elected) or left unanswered is sent again, under the same message id, until
 * COMMIT_WAIT_S has passed. */
static void publish_all(vx_cluster *c, const vx_op *ops, int n, uint64_t *seqs, uint64_t *idh, int *status,
                        vx_error *errs) {
    pub_wait w = {.id = atomic_fetch_add(&c->commit_counter, 1) + 1, .n = n};
    pthread_mutex_lock(&c->pub_mu);
    w.next = c->pub_waits;
    c->pub_waits = &w;
    pthread_mutex_unlock(&c->pub_mu);
    vx_buf enc[COMMIT_MAX];
    char subjects[COMMIT_MAX][384], ids[COMMIT_MAX][2 * VX_MAX_USER + VX_IDEMPOTENCY_KEY_MAX + 8];
    int pending[COMMIT_MAX];
    for (int i = 0; i < n; i++) {
        enc[i] = (vx_buf){0};
        seqs[i] = 0;
        status[i] = VX_OK;
        pending[i] = 0;
        vx_op_encode(&enc[i], &ops[i]);
        if (enc[i].oom || enc[i].len > VX_CLUSTER_MAX_MESSAGE) {
            status[i] = VX_E_INTERNAL;
            vx_fail(&errs[i], enc[i].oom ? "out of memory" : "the change is %zu bytes; the cluster's log takes at most %d",
                    enc[i].len, VX_CLUSTER_MAX_MESSAGE);
            continue;
        }
        uint64_t seed[2] = {c->nonce, atomic_fetch_add(&c->event_counter, 1)}; /* an event's own subject */
        vx_cluster_op_subject(&ops[i], vx_hash64(seed, sizeof seed), subjects[i], sizeof subjects[i]);
        if (ops[i].dedup_key && ops[i].user) /* the client's Idempotency-Key: its retries too are kept once */
            snprintf(ids[i], sizeof ids[i], "%s/%s", ops[i].user, ops[i].dedup_key);
        else
            snprintf(ids[i], sizeof ids[i], "c%016llx-%llu-%d", (unsigned long long)c->nonce, (unsigned long long)w.id, i);
        idh[i] = vx_hash64(ids[i], strlen(ids[i]));
        pending[i] = 1;
    }
    const double deadline = vx_now() + COMMIT_WAIT_S;
    int rounds = 0;
    for (;;) {
        /* Send what is pending, then wait for its answers (a round at most). */
        int sent = 0;
        pthread_mutex_lock(&c->pub_mu);
        for (int i = 0; i < n; i++)
            if (pending[i]) w.failed[i] = w.retry[i] = 0;
        pthread_mutex_unlock(&c->pub_mu);
        for (int i = 0; i < n; i++) {
            if (!pending[i]) continue;
            natsStatus s = publish_one(c, &w, i, &enc[i], subjects[i], ids[i]);
            if (s == NATS_OK) {
                sent++;
            } else {
                pending[i] = 0;
                status[i] = VX_E_LOG_UNAVAILABLE;
                vx_cluster_nats_fail(&errs[i], s, 0, "the cluster's log did not take the change");
            }
        }
        rounds++;
        const double round_end = vx_now() + COMMIT_ROUND_S < deadline ? vx_now() + COMMIT_ROUND_S : deadline;
        const struct timespec until = vx_deadline_in(round_end - vx_now());
        pthread_mutex_lock(&c->pub_mu);
        w.left = sent;
        while (w.left > 0)
            if (pthread_cond_timedwait(&c->pub_cv, &c->pub_mu, &until)) break;
        int again = 0, taken = 0;
        for (int i = 0; i < n; i++) {
            if (!pending[i]) continue;
            if (w.seq[i]) {
                pending[i] = 0;
                taken++;
            } else if (w.failed[i] && !w.retry[i]) { /* refused for good (a limit, a bad message) */
                pending[i] = 0;
                status[i] = VX_E_LOG_UNAVAILABLE;
                errs[i] = w.err[i];
            } else {
                again++; /* retryable, or unanswered this round */
            }
        }
        pthread_mutex_unlock(&c->pub_mu);
        /* Only a round that the log took none of is sent again: once a later op of the
         * commit is in, sending an earlier one again would put it after that one (the ops
         * of a commit must stay in order); those are "maybe written", as before. */
        if (!again || taken || vx_now() + 0.25 >= deadline) break;
        usleep(rounds < 4 ? 100000 : 250000); /* while a leader is elected */
    }
    pthread_mutex_lock(&c->pub_mu);
    for (pub_wait **p = &c->pub_waits; *p; p = &(*p)->next)
        if (*p == &w) {
            *p = w.next;
            break;
        }
    for (int i = 0; i < n; i++) {
        vx_buf_free(&enc[i]);
        if (!pending[i]) {
            if (status[i] == VX_OK) seqs[i] = w.seq[i];
            continue;
        }
        status[i] = VX_E_LOG_UNAVAILABLE; /* still not taken when the time was up */
        if (w.failed[i]) errs[i] = w.err[i];
        else vx_fail(&errs[i], "the cluster's log did not answer within %.0f s (is a majority of the NATS servers up?)",
                     COMMIT_WAIT_S);
    }
    pthread_mutex_unlock(&c->pub_mu);
    if (rounds > 1) vx_info("cluster: a commit took %d rounds of publishing (the log's leader changed?)", rounds);
}

int vx_cluster_commit(void *ctx, const vx_op *ops, int n, vx_event_stored *stored, int *status, vx_error *errs) {
    vx_cluster *c = ctx;
    if (n > COMMIT_MAX) {
        int a = vx_cluster_commit(ctx, ops, COMMIT_MAX, stored, status, errs);
        int b = vx_cluster_commit(ctx, ops + COMMIT_MAX, n - COMMIT_MAX, stored + COMMIT_MAX, status + COMMIT_MAX,
                                  errs + COMMIT_MAX);
        return a || b ? -1 : 0;
    }
    uint64_t seqs[COMMIT_MAX], idh[COMMIT_MAX] = {0}, last = 0;
    int rc = 0, warned = 0;
    publish_all(c, ops, n, seqs, idh, status, errs);
    for (int i = 0; i < n; i++) {
        if (status[i] != VX_OK) {
            if (!warned++) vx_warn("cluster: %s", errs[i].msg);
            rc = -1;
            continue;
        }
        if (seqs[i] > last) last = seqs[i];
        if (ops[i].kind == VX_OP_USER_DELETED) purge_user_events(c, &ops[i], seqs[i]);
    }
    if (!last) return rc;
    /* Read your writes: answered once this node applied them (bounded: they are durable). */
    int applied = c->following && wait_applied(c, last, c->o.commit_wait_s);
    if (!applied && c->following)
        vx_warn("cluster: this node has not applied log op %llu after %.0f s; answering anyway (it is in the log)",
                (unsigned long long)last, c->o.commit_wait_s);
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < n; i++) {
        if (status[i] != VX_OK || !seqs[i]) continue;
        const applied_result *a = &c->ring[seqs[i] % APPLIED_RING];
        /* The op applied at that sequence must be this one (its message id): after a log
         * lost ops, a sequence can come back holding another. */
        if (applied && a->seq == seqs[i] && a->id_hash == idh[i]) {
            status[i] = a->status;
            if (a->status) errs[i] = a->err;
            if (ops[i].kind == VX_OP_EVENT) stored[i] = a->stored;
        } else if (ops[i].kind == VX_OP_EVENT) {
            memset(&stored[i], 0, sizeof stored[i]);
            stored[i].event = ops[i].event;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int vx_cluster_enqueue(void *ctx, const vx_job *job, vx_error *err) {
    vx_cluster *c = ctx;
    char hex[VX_ID_HEX_LEN], subject[64], msg_id[64];
    vx_id_to_hex(job->id, hex);
    snprintf(subject, sizeof subject, "vidx.work.%s", hex);
    vx_buf b = {0};
    int rc = 0;
    for (uint32_t i = 0; i < job->n_items && rc == 0; i++) {
        vx_work_item w = {.job_id = job->id, .index = i, .path = job->items[i].path, .settings = job->settings};
        vx_buf_reset(&b);
        vx_work_item_encode(&b, &w);
        if (b.oom) { rc = vx_fail(err, "out of memory"); break; }
        jsPubOptions po;
        jsPubOptions_Init(&po);
        snprintf(msg_id, sizeof msg_id, "%s-%u", hex, i); /* a repeated publish of an item is dropped */
        po.MsgId = msg_id;
        /* Sent again while the queue's stream elects a leader ("no responders", a timeout):
         * the message id keeps one copy. */
        jsErrCode jerr = 0;
        natsStatus s;
        const double give_up = vx_now() + COMMIT_WAIT_S;
        while ((s = js_Publish(NULL, c->js, subject, b.data, (int)b.len, &po, &jerr)) != NATS_OK &&
               (s == NATS_NO_RESPONDERS || s == NATS_TIMEOUT) && vx_now() + 0.25 < give_up)
            usleep(250000);
        if (s != NATS_OK) rc = vx_cluster_nats_fail(err, s, jerr, "cluster: queueing the job's work");
    }
    vx_buf_free(&b);
    return rc;
}

/* ---- following the log ----------------------------------------------------------------------- */

/* An ordered consumer of the log from the op after `after` (c->sub). */
static int subscribe_after(vx_cluster *c, uint64_t after, vx_error *err) {
    if (c->sub) {
        natsSubscription_Destroy(c->sub);
        c->sub = NULL;
    }
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = VX_CLUSTER_LOG_STREAM;
    so.Ordered = true;
    so.Config.DeliverPolicy = after ? js_DeliverByStartSequence : js_DeliverAll;
    so.Config.OptStartSeq = after ? after + 1 : 0;
    jsErrCode jerr = 0;
    natsStatus s = js_SubscribeSync(&c->sub, c->js, "vidx.log.>", NULL, &so, &jerr);
    return s == NATS_OK ? 0 : vx_cluster_nats_fail(err, s, jerr, "cluster: following the log");
}

/* The log's last sequence, or 0 when the servers cannot say now; *known says which. */
static uint64_t log_last_seq(vx_cluster *c, int *known) {
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    *known = 0;
    if (js_GetStreamInfo(&si, c->js, VX_CLUSTER_LOG_STREAM, NULL, &jerr) != NATS_OK) return 0;
    const uint64_t last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    *known = 1;
    return last;
}

/* The log lost ops this node applied: the servers lost acknowledged writes (NATS 2.9
 * after a majority crashed at once, or servers restored from an older copy), and the ops
 * published since reuse sequences this node has already passed, so following on would
 * skip them without a word. Seen as a log that ends before the last op applied, or that
 * holds another op at its sequence (last: 0). The node stops following and refuses to
 * serve (api/serve.c). */
static void log_regressed(vx_cluster *c, uint64_t applied, uint64_t last) {
    pthread_mutex_lock(&c->mu);
    if (!c->regressed) {
        c->regressed = 1;
        char what[160];
        if (last) snprintf(what, sizeof what, "the log ends at %llu", (unsigned long long)last);
        else snprintf(what, sizeof what, "the log holds another op at %llu", (unsigned long long)applied);
        snprintf(c->regressed_why, sizeof c->regressed_why,
                 "log regressed: this node applied op %llu, %s (its servers lost acknowledged writes): rebuild this "
                 "node (move its data folder away and start it again) or restore the servers",
                 (unsigned long long)applied, what);
        vx_log_error("cluster: %s", c->regressed_why);
    }
    pthread_mutex_unlock(&c->mu);
}

/* Which op a log message is: its subject and bytes, hashed (never 0: "not recorded"). */
static uint64_t op_identity(const char *subject, const void *data, int len) {
    const uint64_t h = vx_hash64(data, len > 0 ? (size_t)len : 0) ^ (vx_hash64(subject, strlen(subject)) * 0x9E3779B97F4A7C15ull);
    return h ? h : 1;
}

/* 1 when the log holds an op at seq that is not the one with identity `hash`; 0 when it
 * holds that one, holds none (a user's events purged with the user), or cannot say now. */
static int log_op_differs(vx_cluster *c, uint64_t seq, uint64_t hash) {
    if (!seq || !hash) return 0;
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    if (js_GetMsg(&m, c->js, VX_CLUSTER_LOG_STREAM, seq, NULL, &jerr) != NATS_OK) return 0;
    const int differs = op_identity(natsMsg_GetSubject(m), natsMsg_GetData(m), natsMsg_GetDataLength(m)) != hash;
    natsMsg_Destroy(m);
    return differs;
}

/* Called when the log is quiet or the subscription failed: the consumer lives on the
 * servers and can be lost with them (a leader that died, quorum lost and regained).
 * When the log has ops this node has not seen for a while, follow it afresh from the
 * last op applied. */
static void check_following(vx_cluster *c, int failed, double *last_check, double last_msg) {
    const double now = vx_now();
    if (!failed && now - *last_check < FOLLOW_CHECK_S) return;
    *last_check = now;
    int known;
    const uint64_t last = log_last_seq(c, &known);
    pthread_mutex_lock(&c->mu);
    const uint64_t applied = c->applied, applied_hash = c->applied_hash;
    if (last > applied) c->lag = last - applied;
    pthread_mutex_unlock(&c->mu);
    /* A log shorter than what was applied, seen on REGRESSED_CHECKS looks in a row: one
     * look can come from a replica that is behind while a new leader is elected. */
    if (known && last < applied) {
        if (++c->regress_seen >= REGRESSED_CHECKS) log_regressed(c, applied, last);
        return;
    }
    if (known) c->regress_seen = 0;
    /* Another op where the last one applied was: the log lost it and grew again past it.
     * A replica behind answers "no such message", never another op. */
    if (known && log_op_differs(c, applied, applied_hash)) {
        log_regressed(c, applied, 0);
        return;
    }
    if (!failed && (last <= applied || now - last_msg < FOLLOW_CHECK_S)) return;
    vx_error err;
    if (subscribe_after(c, applied, &err)) {
        vx_warn("%s; trying again", err.msg);
        usleep(500000);
    } else {
        vx_info("cluster: following the log again from op %llu (the servers' consumer was lost)",
                (unsigned long long)applied + 1);
    }
}

/* 1 when the log holds op `seq` (or the servers cannot say now), 0 when it is gone. */
static int log_holds(vx_cluster *c, uint64_t seq) {
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetMsg(&m, c->js, VX_CLUSTER_LOG_STREAM, seq, NULL, &jerr);
    if (s == NATS_OK) natsMsg_Destroy(m);
    return s == NATS_OK || (s != NATS_NOT_FOUND && jerr != JSNoMessageFoundErr);
}

static void *follow_loop(void *arg) {
    vx_cluster *c = arg;
    vx_log_position pos = {.seq = 0, .stream_created = c->log_created};
    uint64_t unsaved = 0; /* ops applied since the vector indexes were saved */
    double storage_wait = 0; /* the last wait for the data folder's disk (0: it takes writes) */
    double last_check = vx_now(), last_msg = vx_now(), last_view = 0;
    while (!atomic_load(&c->stop)) {
        pthread_mutex_lock(&c->mu);
        const int regressed = c->regressed;
        pthread_mutex_unlock(&c->mu);
        if (regressed) break; /* nothing more is applied: the node is rebuilt or its servers restored */
        if (vx_now() - last_view >= 0.5) {
            refresh_connection(c);
            last_view = vx_now();
        }
        pthread_mutex_lock(&c->mu);
        const int ready = c->ready;
        pthread_mutex_unlock(&c->mu);
        if (ready && !c->shard_sub[0]) vx_cluster_serve_shard(c); /* a shard answers once caught up */
        natsMsg *msg = NULL;
        natsStatus s = c->sub ? natsSubscription_NextMsg(&msg, c->sub, 500) : NATS_INVALID_SUBSCRIPTION;
        if (s == NATS_TIMEOUT) {
            if (unsaved) { /* the log went quiet */
                vx_engine_settle(c->engine);
                unsaved = 0;
            }
            check_following(c, 0, &last_check, last_msg);
            continue;
        }
        if (s != NATS_OK) {
            vx_debug("cluster: following the log: %s", natsStatus_GetText(s));
            usleep(200000);
            check_following(c, 1, &last_check, last_msg);
            continue;
        }
        last_msg = vx_now();
        jsMsgMetaData *meta = NULL;
        if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) {
            natsMsg_Destroy(msg);
            continue;
        }
        pos.seq = meta->Sequence.Stream;
        pos.op_hash = op_identity(natsMsg_GetSubject(msg), natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
        const uint64_t pending = meta->NumPending;
        jsMsgMetaData_Destroy(meta);
        vx_op op;
        vx_error err;
        applied_result res = {.seq = pos.seq};
        const char *msg_id = NULL;
        if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &msg_id) == NATS_OK && msg_id)
            res.id_hash = vx_hash64(msg_id, strlen(msg_id));
        int r;
        if (vx_op_decode(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &op, &err)) {
            vx_warn("cluster: log message %llu on %s is not a valid op (%s); skipped", (unsigned long long)pos.seq,
                    natsMsg_GetSubject(msg), err.msg);
            atomic_fetch_add(&c->skipped, 1);
            vx_op nothing = {0}; /* applies nothing: only the position moves past it */
            r = vx_engine_apply_logged(c->engine, &nothing, &pos, &res.stored, &err);
            r = r == VX_E_STORAGE ? VX_E_STORAGE : VX_OK;
            res.status = VX_E_BAD_INPUT;
            res.err = err;
        } else {
            r = vx_engine_apply_logged(c->engine, &op, &pos, &res.stored, &err);
            if (r == -1) {
                vx_warn("cluster: log op %llu (%s) skipped: %s", (unsigned long long)pos.seq, vx_op_kind_name(op.kind),
                        err.msg);
                res.status = VX_E_NOT_FOUND;
                res.err = err;
            }
            vx_op_clear(&op);
        }
        natsMsg_Destroy(msg);
        if (r == VX_E_STORAGE) {
            /* The data folder took nothing (a full disk, an I/O error): the op is not
             * skipped. The node stays behind (its /healthz says so: disk, lag) and, after
             * a wait that doubles while the disk refuses, follows again from this op. */
            if (!storage_wait) vx_warn("cluster: cannot write log op %llu to the data folder: %s; following waits",
                                       (unsigned long long)pos.seq, err.msg);
            storage_wait = vx_engine_disk_backoff(storage_wait);
            natsSubscription_Destroy(c->sub);
            c->sub = NULL;
            pthread_mutex_lock(&c->mu);
            c->lag = pending + 1;
            const uint64_t applied = c->applied;
            pthread_mutex_unlock(&c->mu);
            for (const double until = vx_now() + storage_wait; !atomic_load(&c->stop) && vx_now() < until;)
                usleep(100000);
            if (subscribe_after(c, applied, &err)) vx_warn("%s; trying again", err.msg); /* else check_following */
            continue;
        }
        if (storage_wait) vx_info("cluster: the data folder takes writes again; following goes on");
        storage_wait = 0;
        if (++unsaved >= SETTLE_EVERY) {
            vx_engine_settle(c->engine);
            unsaved = 0;
        }
        /* Caught up: the log's last op as it stood at the start is applied. The consumer's
         * "nothing pending" alone is not enough: an ordered consumer may sit on a replica
         * that is behind the leader (a NATS server just restarted), which sees no more
         * and says 0 pending while the log holds more; it counts only when the start's
         * last op is gone (a user's purged event), as the leader says. */
        int caught_up = pos.seq >= c->target;
        if (!caught_up && pending == 0 && !c->ready) caught_up = !log_holds(c, c->target);
        pthread_mutex_lock(&c->mu);
        c->applied = pos.seq;
        c->applied_hash = pos.op_hash;
        c->lag = pending;
        c->ring[pos.seq % APPLIED_RING] = res;
        if (caught_up) c->ready = 1;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    return NULL;
}

int vx_cluster_follow(vx_cluster *c, vx_engine *e, vx_error *err) {
    vx_log_position pos;
    if (vx_engine_log_position(e, &pos, err)) return -1;
    if (pos.seq && pos.stream_created != c->log_created)
        return vx_fail(err, "cluster: this data folder follows another cluster log (stream %s was created anew): "
                            "move it away and start again to rebuild it from this cluster", VX_CLUSTER_LOG_STREAM);
    /* A node started while the servers elect a leader (one of them just died) waits for
     * it, a while, instead of giving up at the first timeout. */
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = NATS_TIMEOUT;
    const double give_up = vx_now() + FOLLOW_START_WAIT_S;
    int subscribed = 0;
    for (int tries = 0;; tries++) {
        if ((s = js_GetStreamInfo(&si, c->js, VX_CLUSTER_LOG_STREAM, NULL, &jerr)) == NATS_OK) {
            if ((subscribed = subscribe_after(c, pos.seq, err) == 0)) break;
            jsStreamInfo_Destroy(si);
            si = NULL;
        }
        if (vx_now() > give_up || (s != NATS_OK && s != NATS_TIMEOUT && s != NATS_NO_RESPONDERS)) break;
        if (!tries) vx_info("cluster: the log does not answer yet (a leader being elected?); waiting");
        usleep(500000);
    }
    if (s != NATS_OK) return vx_cluster_nats_fail(err, s, jerr, "cluster: reading the log's state");
    if (!subscribed) return -1; /* err says why */
    uint64_t last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    /* Shorter than what this node applied: looked at again a few times (a replica behind
     * the leader can answer while one is elected) before refusing. */
    for (int look = 1; pos.seq > last && look < REGRESSED_CHECKS; look++) {
        int known;
        usleep((useconds_t)(FOLLOW_CHECK_S * 1e6));
        const uint64_t again = log_last_seq(c, &known);
        if (known) last = again;
    }
    /* Or as long, but with another op where this node's last one was. */
    const int other_op = pos.seq <= last && log_op_differs(c, pos.seq, pos.op_hash);
    if (pos.seq > last || other_op) {
        if (c->sub) {
            natsSubscription_Destroy(c->sub);
            c->sub = NULL;
        }
        log_regressed(c, pos.seq, other_op ? 0 : last);
        return vx_fail(err, "cluster: %s", c->regressed_why);
    }
    c->engine = e;
    pthread_mutex_lock(&c->mu);
    c->applied = pos.seq;
    c->applied_hash = pos.op_hash;
    c->target = last;
    c->lag = last > pos.seq ? last - pos.seq : 0;
    c->ready = pos.seq >= last;
    pthread_mutex_unlock(&c->mu);
    if (pthread_create(&c->follower, NULL, follow_loop, c)) return vx_fail(err, "cannot start the log follower");
    c->following = 1;
    vx_info("cluster: following the log from op %llu (%llu in the log)", (unsigned long long)pos.seq + 1,
            (unsigned long long)last);
    return 0;
}

int vx_cluster_wait_ready(vx_cluster *c, double timeout_s, const atomic_int *stop) {
    const double t_end = vx_now() + timeout_s;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        int ready = c->ready;
        pthread_mutex_unlock(&c->mu);
        if (ready) return 1;
        if (vx_now() > t_end || (stop && atomic_load(stop))) return 0;
        usleep(50000);
    }
}

/* The connection as the NATS client sees it (connected, the servers it knows), read into
 * c by the follower thread: a loop thread answering /healthz never waits on the client's
 * own lock, which its threads can hold for seconds while servers hang. */
static void read_connection(vx_cluster *c, int *connected, char *servers_out, size_t size) {
    *connected = natsConnection_Status(c->nc) == NATS_CONN_STATUS_CONNECTED;
    servers_out[0] = '\0';
    char **servers = NULL;
    int n = 0;
    if (natsConnection_GetServers(c->nc, &servers, &n) == NATS_OK) {
        size_t len = 0;
        for (int i = 0; i < n; i++) {
            int w = snprintf(servers_out + len, size - len, "%s%s", i ? "," : "", servers[i]);
            if (w > 0 && (size_t)w < size - len) len += (size_t)w;
            free(servers[i]);
        }
        free(servers);
    }
}

static void refresh_connection(vx_cluster *c) {
    int connected;
    char servers[sizeof c->view_servers];
    read_connection(c, &connected, servers, sizeof servers);
    pthread_mutex_lock(&c->mu);
    c->view_connected = connected;
    memcpy(c->view_servers, servers, sizeof servers);
    c->view_fresh = 1;
    pthread_mutex_unlock(&c->mu);
}

void vx_cluster_status_of(vx_cluster *c, vx_cluster_status *out) {
    memset(out, 0, sizeof *out);
    out->role = c->o.role ? c->o.role : "serve";
    pthread_mutex_lock(&c->mu);
    const int fresh = c->view_fresh;
    if (fresh) {
        out->connected = c->view_connected;
        snprintf(out->servers, sizeof out->servers, "%s", c->view_servers);
    }
    out->ready = c->ready;
    out->applied = c->applied;
    out->lag = c->lag;
    out->regressed = c->regressed;
    snprintf(out->regressed_why, sizeof out->regressed_why, "%s", c->regressed_why);
    pthread_mutex_unlock(&c->mu);
    out->skipped = atomic_load(&c->skipped);
    out->shard = c->o.shard;
    out->shards = c->o.shards > 1 ? c->o.shards : 0;
    out->shard_serving = atomic_load(&c->shard_serving);
    if (!fresh) read_connection(c, &out->connected, out->servers, sizeof out->servers); /* not following yet */
}
