/* vidx cluster: a worker's loop over the work queue.
 *
 * Items come from one durable pull consumer that every worker shares, up to TAKE_MAX at
 * a time when that many wait: they are indexed in one run, so the next file decodes
 * while this one encodes, as `vidx index` does over a folder.
 * While a worker is on an item it tells the server so (in progress) every quarter of the
 * ack deadline, so a long file is not handed to another worker; a worker that dies
 * stops telling, and the item is delivered again once the deadline passes. An item is
 * acknowledged only after its outcome is in the catalog log. An item taken more than
 * max_attempts times (counted in the attempts bucket, see count_attempt) is recorded as
 * failed with the reason, never tried again.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/hash.h"
#include "../common/log.h"
#include "../common/system.h"
#include "cluster_internal.h"

#define TAKE_MAX 3 /* items a worker holds at once: one run decodes the next file while encoding this one */

typedef struct heartbeat {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    natsMsg *current[TAKE_MAX]; /* the items in hand */
    int n_current;
    int stopping;
    int every_ms;
} heartbeat;

static void *beat(void *arg) {
    heartbeat *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stopping) {
        const struct timespec until = vx_deadline_in(h->every_ms / 1e3);
        pthread_cond_timedwait(&h->cv, &h->mu, &until);
        for (int i = 0; i < h->n_current && !h->stopping; i++) natsMsg_InProgress(h->current[i], NULL);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* From now on the deadlines of these n messages are extended (at once: they may have
 * waited in a buffer); n = 0 stops. */
static void set_current(heartbeat *h, natsMsg **m, int n) {
    for (int i = 0; i < n; i++) natsMsg_InProgress(m[i], NULL);
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < n; i++) h->current[i] = m[i];
    h->n_current = n;
    pthread_mutex_unlock(&h->mu);
}

/* Counts one more try of an item in the attempts bucket: the value is "TRIES DELIVERY",
 * the tries so far and the server's delivery number of the last one. A copy of the
 * message older than the last try (a delivery that sat in a buffer or a pull request
 * that expired while the server sent it) is no new try: *stale is set and it must be
 * dropped. Returns the tries, or 0 when the bucket cannot be reached now (a leader
 * election): the item is then worked on without counting, never failed on the
 * server's delivery count, which counts deliveries that never reached a worker. */
static uint64_t count_attempt(vx_cluster *c, const char *key, uint64_t delivered, int *stale, uint64_t *rev_out) {
    *stale = 0;
    *rev_out = 0;
    for (int tries = 0; tries < 5; tries++) {
        kvEntry *entry = NULL;
        unsigned long long n = 0, last = 0;
        uint64_t rev = 0, newrev;
        natsStatus s = kvStore_Get(&entry, c->attempts, key);
        if (s == NATS_OK) {
            if (sscanf(kvEntry_ValueString(entry), "%llu %llu", &n, &last) != 2) n = last = 0;
            rev = kvEntry_Revision(entry);
            kvEntry_Destroy(entry);
        } else if (s != NATS_NOT_FOUND) {
            break;
        }
        if (rev && delivered <= last) {
            *stale = 1;
            return n;
        }
        char text[48];
        snprintf(text, sizeof text, "%llu %llu", n + 1, (unsigned long long)delivered);
        s = rev ? kvStore_UpdateString(&newrev, c->attempts, key, text, rev)
                : kvStore_CreateString(&newrev, c->attempts, key, text);
        if (s == NATS_OK) {
            *rev_out = newrev;
            return n + 1;
        }
    }
    vx_warn("cluster: cannot count the tries of work item %s now (delivery %llu); taking it uncounted", key,
            (unsigned long long)delivered);
    return 0;
}

/* A try that the cluster, not the file, cut short is given back (best effort: the
 * bucket may be as unreachable as the log). */
static void uncount_attempt(vx_cluster *c, const char *key, uint64_t attempt, uint64_t delivered, uint64_t rev) {
    if (!attempt || !rev) return;
    char text[48];
    uint64_t newrev;
    snprintf(text, sizeof text, "%llu %llu", (unsigned long long)attempt - 1, (unsigned long long)delivered);
    kvStore_UpdateString(&newrev, c->attempts, key, text, rev);
}

/* Waits until the cluster takes writes again (a write to the attempts bucket, which is
 * replicated like the log, goes through), so that a worker does not burn through the
 * queue while the cluster cannot take results. */
static void wait_for_log(vx_cluster *c, const atomic_int *stop) {
    for (int waited = 0; !atomic_load(stop); waited++) {
        uint64_t rev;
        if (kvStore_PutString(&rev, c->attempts, "probe", "1") == NATS_OK) {
            if (waited) vx_info("cluster: the cluster takes writes again; taking work again");
            return;
        }
        if (!waited) vx_warn("cluster: the cluster does not take writes; no work is taken until it does");
        sleep(1);
    }
}

/* An item in hand. */
typedef struct taken {
    natsMsg *msg;
    vx_work_item w;
    char hex[VX_ID_HEX_LEN], key[VX_ID_HEX_LEN + 16];
    uint64_t delivered, attempt, rev;
} taken;

/* Decodes and counts a delivered item: 1 when it is to be worked on (t filled), 0 when
 * it was settled here (not an item, an old copy, or recorded as failed after too many
 * tries). */
static int take(vx_cluster *c, vx_engine *e, natsMsg *m, taken *t) {
    jsMsgMetaData *meta = NULL;
    t->msg = m;
    t->delivered = 1;
    if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
        t->delivered = meta->NumDelivered;
        jsMsgMetaData_Destroy(meta);
    }
    vx_error err;
    if (vx_work_item_decode(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &t->w, &err)) {
        vx_warn("cluster: work message on %s is not a valid item (%s); dropped", natsMsg_GetSubject(m), err.msg);
        natsMsg_Term(m, NULL);
        return 0;
    }
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(t->w.job_id, hex);
    memcpy(t->hex, hex, sizeof hex);
    snprintf(t->key, sizeof t->key, "%s.%u", hex, t->w.index);
    int stale;
    t->attempt = count_attempt(c, t->key, t->delivered, &stale, &t->rev);
    if (stale) {
        vx_debug("cluster: job %s: %s: an old copy of a delivery (%llu); dropped", t->hex, t->w.path,
                 (unsigned long long)t->delivered);
        vx_work_item_clear(&t->w);
        return 0;
    }
    if (t->attempt > (uint64_t)c->o.max_attempts) {
        char reason[512];
        snprintf(reason, sizeof reason,
                 "gave up after %d attempts: each worker that took it stopped or failed before finishing it",
                 c->o.max_attempts);
        vx_warn("cluster: job %s: %s: %s", t->hex, t->w.path, reason);
        if (vx_engine_fail_item(e, &t->w, reason, &err) == 0) {
            natsMsg_AckSync(m, NULL, NULL);
            kvStore_Delete(c->attempts, t->key);
        } else {
            vx_warn("cluster: job %s: %s (the item comes back)", t->hex, err.msg);
        }
        vx_work_item_clear(&t->w);
        return 0;
    }
    if (t->attempt)
        vx_info("cluster: job %s: taking %s (attempt %llu)", t->hex, t->w.path, (unsigned long long)t->attempt);
    else
        vx_info("cluster: job %s: taking %s (attempt not counted)", t->hex, t->w.path);
    return 1;
}

/* After the work: acknowledged once its outcome is in the log, else back to the queue
 * (the try given back when the cluster, not the file, cut it short). */
static void finish(vx_cluster *c, taken *t, int r, const vx_error *why) {
    if (r == 0) {
        jsErrCode jerr = 0;
        natsStatus s = natsMsg_AckSync(t->msg, NULL, &jerr);
        kvStore_Delete(c->attempts, t->key);
        if (s != NATS_OK) {
            /* Delivered again later: its outcome is in the log, so the file is unchanged then. */
            vx_error err;
            vx_cluster_nats_fail(&err, s, jerr, "acknowledging");
            vx_warn("cluster: job %s: %s: %s", t->hex, t->w.path, err.msg);
        }
    } else {
        vx_warn("cluster: job %s: %s: %s; it is tried again", t->hex, t->w.path, why->msg);
        if (r == VX_E_LOG_UNAVAILABLE || r == VX_E_BUSY || r == VX_E_STORAGE) uncount_attempt(c, t->key, t->attempt, t->delivered, t->rev);
        natsMsg_NakWithDelay(t->msg, r == VX_E_BUSY ? 0 : 2000, NULL);
    }
    vx_work_item_clear(&t->w);
}

static int same_settings(const vx_job_settings *a, const vx_job_settings *b) {
    return a->rate == b->rate && a->max_frames == b->max_frames && a->timeout_s == b->timeout_s &&
           a->segment_seconds == b->segment_seconds;
}

static int is_folder(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The items in hand, in runs of files with the same settings (a folder alone). Returns
 * VX_E_LOG_UNAVAILABLE when the cluster refused results. */
static int work(vx_cluster *c, vx_engine *e, taken *ts, int n, const atomic_int *stop) {
    int down = 0;
    for (int i = 0; i < n;) {
        int j = i + 1;
        if (!is_folder(ts[i].w.path))
            while (j < n && same_settings(&ts[j].w.settings, &ts[i].w.settings) && !is_folder(ts[j].w.path)) j++;
        vx_work_item items[TAKE_MAX];
        int status[TAKE_MAX];
        vx_error errs[TAKE_MAX];
        for (int k = i; k < j; k++) items[k - i] = ts[k].w;
        vx_engine_index_items(e, items, j - i, stop, status, errs);
        for (int k = i; k < j; k++) {
            down |= status[k - i] == VX_E_LOG_UNAVAILABLE;
            finish(c, &ts[k], status[k - i], &errs[k - i]);
        }
        i = j;
    }
    return down ? VX_E_LOG_UNAVAILABLE : 0;
}

/* Up to TAKE_MAX items waiting now, else one within a second. */
static natsStatus fetch(natsSubscription *sub, natsMsgList *list, jsErrCode *jerr) {
    jsFetchRequest req;
    jsFetchRequest_Init(&req);
    req.Batch = TAKE_MAX;
    req.NoWait = true;
    natsStatus s = natsSubscription_FetchRequest(list, sub, &req);
    if (s == NATS_OK && list->Count > 0) return s;
    natsMsgList_Destroy(list);
    return natsSubscription_Fetch(list, sub, 1, 1000, jerr);
}

int vx_cluster_work(vx_cluster *c, vx_engine *e, const atomic_int *stop, vx_error *err) {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = VX_CLUSTER_WORK_STREAM;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.AckWait = (int64_t)c->o.ack_wait_s * 1000000000LL;
    so.Config.MaxDeliver = -1; /* bounded by the tries counted (count_attempt), not by deliveries */
    so.Config.MaxAckPending = 1000;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    natsStatus s;
    /* The servers may be electing leaders or unreachable for a while: keep trying. */
    for (int tries = 0; (s = js_PullSubscribe(&sub, c->js, "vidx.work.>", VX_CLUSTER_WORKERS, NULL, &so, &jerr)) != NATS_OK;
         tries++) {
        if (atomic_load(stop)) return 0;
        if (jerr == JSConsumerCreateErr || tries == 0 || tries % 30 == 0) {
            vx_error e2;
            vx_cluster_nats_fail(&e2, s, jerr, "cluster: joining the work queue");
            vx_warn("%s; trying again", e2.msg);
        }
        jerr = 0;
        sleep(1);
    }
    heartbeat h = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
                   .every_ms = c->o.ack_wait_s * 1000 / 4};
    if (h.every_ms < 100) h.every_ms = 100;
    pthread_t beater;
    if (pthread_create(&beater, NULL, beat, &h)) {
        natsSubscription_Destroy(sub);
        return vx_fail(err, "cannot start the worker's heartbeat");
    }
    vx_info("cluster: worker ready: taking indexing work (ack deadline %d s, %d attempts per file)", c->o.ack_wait_s,
            c->o.max_attempts);
    int quiet = 0, rc = 0;
    while (!atomic_load(stop)) {
        /* A log that lost ops this worker's catalog applied: its view of what is indexed
         * is no longer the cluster's, so it takes no more work (as a serving node stops). */
        pthread_mutex_lock(&c->mu);
        if (c->regressed) rc = vx_fail(err, "cluster: this worker takes no more work: %s", c->regressed_why);
        pthread_mutex_unlock(&c->mu);
        if (rc) break;
        natsMsgList list = {0};
        jerr = 0;
        s = fetch(sub, &list, &jerr);
        if (s == NATS_TIMEOUT || (s == NATS_OK && list.Count == 0)) {
            natsMsgList_Destroy(&list);
            continue;
        }
        if (s != NATS_OK) {
            if (!quiet++) {
                vx_error e2;
                vx_cluster_nats_fail(&e2, s, jerr, "cluster: fetching work");
                vx_warn("%s; trying again", e2.msg);
            }
            natsMsgList_Destroy(&list);
            usleep(500000);
            continue;
        }
        quiet = 0;
        set_current(&h, list.Msgs, list.Count < TAKE_MAX ? list.Count : TAKE_MAX);
        taken ts[TAKE_MAX];
        int n = 0;
        for (int i = 0; i < list.Count && i < TAKE_MAX; i++) n += take(c, e, list.Msgs[i], &ts[n]);
        const int log_down = n && work(c, e, ts, n, stop) == VX_E_LOG_UNAVAILABLE;
        set_current(&h, NULL, 0);
        natsMsgList_Destroy(&list);
        if (log_down) wait_for_log(c, stop);
    }
    pthread_mutex_lock(&h.mu);
    h.stopping = 1;
    pthread_cond_signal(&h.cv);
    pthread_mutex_unlock(&h.mu);
    pthread_join(beater, NULL);
    natsSubscription_Destroy(sub);
    return rc;
}

/* ---- the worker process ---------------------------------------------------------------------- */

static atomic_int worker_stop;
static void on_stop_signal(int sig) {
    (void)sig;
    atomic_store(&worker_stop, 1);
}

int vx_cluster_worker_run(const vx_engine_options *eo_in, const vx_cluster_options *co, vx_error *err) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    vx_cluster *c = vx_cluster_connect(co, err);
    if (!c) return -1;
    vx_engine_options eo = *eo_in;
    eo.create = 1;
    eo.catalog_only = 1; /* classification reads the catalog; searches are the serve nodes' */
    eo.model = VX_MODEL_TRY;
    eo.cluster = vx_cluster_hooks_of(c);
    vx_engine *e = vx_engine_open(&eo, err);
    int rc = -1;
    if (!e) goto done;
    if (vx_engine_model_problem(e)) {
        vx_fail(err, "this worker has no model, so it takes no work: %s", vx_engine_model_problem(e));
        goto done;
    }
    if (vx_cluster_follow(c, e, err)) goto done;
    vx_info("cluster: catching up with the log before taking work");
    while (!vx_cluster_wait_ready(c, 5, &worker_stop))
        if (atomic_load(&worker_stop)) { rc = 0; goto done; }
    char buf[1024];
    const char *conflict = vx_engine_model_conflict(e, buf, sizeof buf);
    if (conflict) {
        vx_fail(err, "this worker takes no work: %s", conflict);
        goto done;
    }
    rc = vx_cluster_work(c, e, &worker_stop, err);
    if (rc == 0) vx_info("worker stopped cleanly");
done:
    vx_cluster_unfollow(c);
    vx_engine_close(e);
    vx_cluster_close(c);
    return rc;
}
