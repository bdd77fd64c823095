/* vidx cluster: sharded search (cluster/README.md, "Sharded search").
 *
 * A serving node may hold one shard of the segment index: the videos whose id % N == I
 * (`vidx serve --shard I/N`; every node still has the whole catalog and video index,
 * which the log gives every node). Its replicas are the nodes started with the same
 * I/N. Once caught up with the log, a node answers its shard's queries on the subject
 * vidx.shard.N.I in the queue group of that subject, so NATS hands each query to one
 * replica. The node that takes a search asks every other shard at once (a request each,
 * the answers to one inbox, vidx.shard.* wire format in schemas/ops.h) and waits at most
 * the shard deadline; a shard with no replica answers at once with NATS's "no
 * responders", one that is slow is left out, and the answer says it is partial. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/vecmath.h"
#include "cluster_internal.h"

static void shard_subject(uint32_t shard, uint32_t shards, char *out, size_t size) {
    snprintf(out, size, "vidx.shard.%u.%u", shards, shard);
}

/* On the subscription's thread: one query for this node's shard, answered (or, when it
 * cannot be, an empty reply, which the asker counts as a shard that did not answer). */
static void on_shard_query(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    (void)sub;
    vx_cluster *c = closure;
    const char *reply = natsMsg_GetReply(msg);
    vx_shard_query q;
    vx_shard_answer a = {0};
    vx_error err;
    vx_buf b = {0};
    if (vx_shard_query_decode(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &q, &err) ||
        vx_engine_shard_search(c->engine, &q, &a, &err))
        vx_debug("cluster: shard query not answered: %s", err.msg);
    else
        vx_shard_answer_encode(&b, &a);
    if (reply && *reply) natsConnection_Publish(nc, reply, b.oom ? NULL : b.data, b.oom ? 0 : (int)b.len);
    vx_buf_free(&b);
    vx_shard_answer_clear(&a);
    vx_shard_query_clear(&q);
    natsMsg_Destroy(msg);
}

/* One subscription per core in the shard's queue group: each has its own delivery
 * thread, so this node answers that many queries at once (NATS spreads a queue group's
 * messages over its members, these included). */
static int answer_threads(void) {
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores < 2 ? 2 : cores > VX_SHARD_ANSWER_THREADS ? VX_SHARD_ANSWER_THREADS : (int)cores;
}

void vx_cluster_serve_shard(vx_cluster *c) {
    if (c->o.shards < 2 || c->shard_sub[0] || !c->engine) return;
    char subject[64];
    shard_subject(c->o.shard, c->o.shards, subject, sizeof subject);
    const int n = answer_threads();
    for (int i = 0; i < n; i++) {
        natsStatus s = natsConnection_QueueSubscribe(&c->shard_sub[i], c->nc, subject, subject, on_shard_query, c);
        if (s != NATS_OK) {
            vx_warn("cluster: cannot answer for shard %u of %u (%s); will try again", c->o.shard, c->o.shards,
                    natsStatus_GetText(s));
            c->shard_sub[i] = NULL;
            vx_cluster_unserve_shard(c);
            return;
        }
    }
    atomic_store(&c->shard_serving, 1);
    vx_info("cluster: answering searches for shard %u of %u (%s, %d at once)", c->o.shard, c->o.shards, subject, n);
}

void vx_cluster_unserve_shard(vx_cluster *c) {
    atomic_store(&c->shard_serving, 0);
    /* Queries in hand finish before the engine goes away. */
    for (int i = 0; i < VX_SHARD_ANSWER_THREADS; i++)
        if (c->shard_sub[i] && natsSubscription_Drain(c->shard_sub[i]) == NATS_OK)
            natsSubscription_WaitForDrainCompletion(c->shard_sub[i], 2000);
    for (int i = 0; i < VX_SHARD_ANSWER_THREADS; i++) {
        if (c->shard_sub[i]) natsSubscription_Destroy(c->shard_sub[i]);
        c->shard_sub[i] = NULL;
    }
}

/* The engine's hook: every shard but q->shard asked at once, answers gathered until all
 * came or the deadline passed. */
void vx_cluster_ask_shards(void *ctx, const vx_shard_query *q, vx_shard_answer *answers, int *answered) {
    vx_cluster *c = ctx;
    natsInbox *inbox = NULL;
    natsSubscription *sub = NULL;
    char wildcard[256], reply[256], subject[64];
    if (natsInbox_Create(&inbox) != NATS_OK) return;
    snprintf(wildcard, sizeof wildcard, "%s.*", (const char *)inbox);
    if (natsConnection_SubscribeSync(&sub, c->nc, wildcard) != NATS_OK) {
        natsInbox_Destroy(inbox);
        return;
    }
    vx_buf b = {0};
    int asked = 0;
    for (uint32_t s = 0; s < q->shards; s++) {
        if (s == q->shard) continue;
        vx_shard_query one = *q;
        one.shard = s;
        vx_buf_reset(&b);
        vx_shard_query_encode(&b, &one);
        shard_subject(s, q->shards, subject, sizeof subject);
        snprintf(reply, sizeof reply, "%s.%u", (const char *)inbox, s);
        if (!b.oom && natsConnection_PublishRequest(c->nc, subject, reply, b.data, (int)b.len) == NATS_OK) asked++;
    }
    vx_buf_free(&b);
    const double deadline = vx_now() + c->o.shard_timeout_ms / 1000.0;
    for (int got = 0; got < asked;) {
        const double left = deadline - vx_now();
        natsMsg *msg = NULL;
        if (left <= 0 || natsSubscription_NextMsg(&msg, sub, (int64_t)(left * 1000) + 1) != NATS_OK) break;
        got++;
        const char *dot = strrchr(natsMsg_GetSubject(msg), '.');
        char *end;
        unsigned long s = dot ? strtoul(dot + 1, &end, 10) : q->shards;
        /* An empty reply: no replica of that shard is up (NATS's "no responders") or it
         * could not answer; counted as missing. */
        if (s < q->shards && s != q->shard && !answered[s] && natsMsg_GetDataLength(msg) > 0) {
            vx_shard_answer a;
            vx_error err;
            const int ok = vx_shard_answer_decode(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &a, &err) == 0;
            if (ok && a.shard == s && a.shards == q->shards) {
                answers[s] = a;
                answered[s] = 1;
            } else {
                if (ok) vx_shard_answer_clear(&a);
                vx_warn("cluster: shard %lu answered with something else than its hits: %s", s,
                        ok ? "another shard's" : err.msg);
            }
        }
        natsMsg_Destroy(msg);
    }
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    natsInbox_Destroy(inbox);
}
