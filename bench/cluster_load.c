/* Load for the cluster benchmark (bench/bench_cluster.py), against a running NATS
 * JetStream cluster whose streams vidx created:
 *
 *   cluster_load videos URLS N [--dim D] [--segments S]
 *       publishes the model op and N synthetic indexed videos (unit vectors, S segments
 *       each) to the catalog log, as workers would; prints the publish rate.
 *   cluster_load queue URLS N
 *       puts N work items in the queue and takes them back one at a time, as a worker
 *       does (fetch 1, ack synchronously); prints items per second each way.
 *
 * Credentials from VIDX_CLUSTER_CREDS, replicas from VIDX_CLUSTER_REPLICAS, as vidx.
 */
#include <math.h>
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cluster/cluster.h"
#include "../common/hash.h"
#include "../common/vecmath.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static float unif(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0)) - 0.5f;
}

static void unit_vector(float *v, int dim) {
    for (int i = 0; i < dim; i++) v[i] = unif();
    vx_normalize(v, (size_t)dim);
}

static int die(const char *what, natsStatus s) {
    fprintf(stderr, "cluster_load: %s: %s %s\n", what, natsStatus_GetText(s), nats_GetLastError(NULL));
    return 1;
}

static jsCtx *connect_js(const char *urls, natsConnection **nc) {
    vx_cluster_options o;
    vx_cluster_options_default(&o);
    o.urls = urls;
    o.creds = getenv("VIDX_CLUSTER_CREDS");
    o.role = "bench";
    const char *r = getenv("VIDX_CLUSTER_REPLICAS");
    if (r && *r) o.replicas = atoi(r);
    vx_error err;
    vx_cluster *c = vx_cluster_connect(&o, &err); /* makes sure the streams exist */
    if (!c) {
        fprintf(stderr, "cluster_load: %s\n", err.msg);
        return NULL;
    }
    vx_cluster_close(c);
    natsOptions *opts = NULL;
    natsOptions_Create(&opts);
    const char *servers[1] = {urls};
    char *first = strdup(urls), *comma = strchr(first, ',');
    if (comma) *comma = '\0';
    servers[0] = first;
    natsOptions_SetServers(opts, servers, 1);
    natsStatus s = natsConnection_Connect(nc, opts);
    natsOptions_Destroy(opts);
    free(first);
    if (s != NATS_OK) { die("connect", s); return NULL; }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 4096;
    jsCtx *js = NULL;
    if ((s = natsConnection_JetStream(&js, *nc, &jo)) != NATS_OK) { die("jetstream", s); return NULL; }
    return js;
}

static int publish_op(jsCtx *js, const vx_op *op, vx_buf *b) {
    char subject[256];
    vx_buf_reset(b);
    vx_op_encode(b, op);
    vx_cluster_op_subject(op, 0, subject, sizeof subject);
    natsStatus s = js_PublishAsync(js, subject, b->data, (int)b->len, NULL);
    return s == NATS_OK ? 0 : die("publish", s);
}

static int load_videos(jsCtx *js, long n, int dim, int n_segments) {
    vx_buf b = {0};
    vx_op model = {.kind = VX_OP_MODEL, .model = "bench-model", .model_fingerprint = 0x5eed, .embed_dim = (uint32_t)dim};
    if (publish_op(js, &model, &b)) return 1;
    float *vec = malloc((size_t)dim * (size_t)(n_segments + 1) * sizeof *vec);
    vx_segment *segs = calloc((size_t)n_segments, sizeof *segs);
    char path[64], title[32];
    const double t0 = vx_now();
    for (long i = 0; i < n; i++) {
        for (int k = 0; k <= n_segments; k++) unit_vector(vec + (size_t)k * dim, dim);
        snprintf(path, sizeof path, "/bench/videos/%08ld.mp4", i);
        snprintf(title, sizeof title, "video %ld", i);
        vx_op op = {.kind = VX_OP_VIDEO, .segments = segs};
        op.video = (vx_video){.id = vx_video_id_for_path(path), .content_hash = vx_hash64(path, strlen(path)),
                              .size = 1000000, .mtime_ns = 1, .duration = 5.0 * n_segments, .fps = 25, .width = 640,
                              .height = 360, .status = VX_VIDEO_INDEXED, .n_segments = (uint32_t)n_segments,
                              .created_at = 1700000000, .updated_at = 1700000000, .path = path, .title = title,
                              .failure = ""};
        op.embedding = (vx_embedding){.dim = (uint32_t)dim, .v = vec};
        for (int k = 0; k < n_segments; k++)
            segs[k] = (vx_segment){.start = 5.0 * k, .end = 5.0 * (k + 1), .n_frames = 5, .dim = (uint32_t)dim,
                                   .embedding = vec + (size_t)(k + 1) * dim};
        if (publish_op(js, &op, &b)) return 1;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 120000;
    natsStatus s = js_PublishAsyncComplete(js, &po);
    if (s != NATS_OK) return die("waiting for the acks", s);
    const double dt = vx_now() - t0;
    printf("published %ld video ops (%d dims, %d segments, %zu bytes each) in %.2f s: %.0f ops/s\n", n, dim, n_segments,
           b.len, dt, n / dt);
    free(vec);
    free(segs);
    vx_buf_free(&b);
    return 0;
}

static int load_queue(jsCtx *js, long n) {
    vx_buf b = {0};
    const double t0 = vx_now();
    for (long i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof path, "/bench/videos/%08ld.mp4", i);
        vx_work_item w = {.job_id = 0xbe1c, .index = (uint32_t)i, .path = path};
        vx_buf_reset(&b);
        vx_work_item_encode(&b, &w);
        natsStatus s = js_PublishAsync(js, "vidx.work.bench", b.data, (int)b.len, NULL);
        if (s != NATS_OK) return die("queueing", s);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 120000;
    natsStatus s = js_PublishAsyncComplete(js, &po);
    if (s != NATS_OK) return die("waiting for the acks", s);
    const double t1 = vx_now();
    printf("queued %ld items in %.2f s: %.0f items/s\n", n, t1 - t0, n / (t1 - t0));
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = VX_CLUSTER_WORK_STREAM;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.AckWait = 30000000000LL;
    so.Config.MaxDeliver = -1;
    so.Config.MaxAckPending = 1000;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    if ((s = js_PullSubscribe(&sub, js, "vidx.work.>", VX_CLUSTER_WORKERS, NULL, &so, &jerr)) != NATS_OK)
        return die("joining the queue", s);
    long got = 0;
    const double t2 = vx_now();
    while (got < n) {
        natsMsgList list = {0};
        s = natsSubscription_Fetch(&list, sub, 1, 5000, &jerr);
        if (s != NATS_OK) return die("fetching", s);
        for (int i = 0; i < list.Count; i++) {
            vx_work_item w;
            vx_error err;
            if (vx_work_item_decode(natsMsg_GetData(list.Msgs[i]), (size_t)natsMsg_GetDataLength(list.Msgs[i]), &w,
                                    &err) == 0)
                vx_work_item_clear(&w);
            natsMsg_AckSync(list.Msgs[i], NULL, NULL);
            got++;
        }
        natsMsgList_Destroy(&list);
    }
    const double t3 = vx_now();
    printf("took %ld items one at a time (fetch 1, ack synchronously, as a worker) in %.2f s: %.0f items/s, "
           "%.2f ms per item\n", n, t3 - t2, n / (t3 - t2), (t3 - t2) / n * 1e3);
    natsSubscription_Destroy(sub);
    vx_buf_free(&b);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: cluster_load videos|queue URLS N [--dim D] [--segments S]\n");
        return 2;
    }
    const long n = atol(argv[3]);
    int dim = 512, segments = 1;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--dim")) dim = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--segments")) segments = atoi(argv[i + 1]);
    }
    natsConnection *nc = NULL;
    jsCtx *js = connect_js(argv[2], &nc);
    if (!js) return 1;
    int rc = !strcmp(argv[1], "videos") ? load_videos(js, n, dim, segments) : load_queue(js, n);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return rc;
}
