/* vidx engine: indexing, now (vx_engine_index) or as background jobs (POST /v1/index,
 * GET /v1/jobs/{id}).
 *
 * Both run the indexer with vx_engine_apply as its way to change anything, so each
 * video it commits is in the vector index and the recommender at once and searches see
 * it without a restart. Jobs are records in the catalog ("j" id, written as job ops),
 * so they outlive the process: a job queued or running when the engine closed (or
 * crashed) runs again at the next open, which is safe because indexing skips what is
 * already done. One runner thread takes jobs in order.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/hash.h"
#include "../common/log.h"
#include "../indexer/index.h"
#include "engine_internal.h"

struct vx_jobs {
    vx_engine *e;
    vx_worker worker;          /* the runner: queued_job items; its stop flag cancels the running job */
    pthread_mutex_t mu;        /* guards the rest */
    uint64_t running;          /* the running job, with its outcomes so far (live progress) */
    vx_index_summary live;
    int64_t n_done, n_failed;
};

typedef struct queued_job {
    vx_queue_node link; /* first: queued by it */
    uint64_t id;
} queued_job;

static int64_t now_s(void) { return (int64_t)time(NULL); }

static int push(vx_jobs *J, uint64_t id) {
    queued_job *q = malloc(sizeof *q);
    if (!q) return -1;
    q->id = id;
    if (vx_worker_push(&J->worker, &q->link) == 0) return 0;
    free(q);
    return -1;
}

static int write_job(vx_engine *e, const vx_job *j, vx_error *err) {
    vx_op op = {.kind = VX_OP_JOB, .job = *j};
    return vx_engine_commit(e, &op, err);
}

static int apply_op(void *ctx, const vx_op *op, vx_error *err) { return vx_engine_commit(ctx, op, err); }

int vx_engine_run_index(vx_engine *e, const char *const *paths, int n, const vx_index_options *o,
                        vx_index_summary *sum, vx_error *err) {
    vx_index_options io = *o;
    io.model_dir = e->model_dir;
    io.apply = apply_op;
    io.apply_ctx = e;
    return vx_index_paths(e->cat, e->model, e->data_dir, paths, n, &io, sum, err);
}

static void copy_item(vx_index_summary *s, const vx_job_item *it) {
    vx_job_item *items = realloc(s->items, (size_t)(s->n_items + 1) * sizeof *items);
    if (!items) return;
    s->items = items;
    items[s->n_items].path = strdup(it->path);
    items[s->n_items].outcome = it->outcome;
    items[s->n_items].message = strdup(it->message ? it->message : "");
    if (!items[s->n_items].path || !items[s->n_items].message) {
        free(items[s->n_items].path);
        free(items[s->n_items].message);
        return;
    }
    s->n_items++;
}

/* Each file's outcome, for live progress (the op is applied already). */
static void on_item(void *ctx, const vx_job_item *it, uint64_t video_id) {
    (void)video_id;
    vx_jobs *J = ctx;
    pthread_mutex_lock(&J->mu);
    copy_item(&J->live, it);
    pthread_mutex_unlock(&J->mu);
}

static void run_job(vx_jobs *J, uint64_t id) {
    vx_engine *e = J->e;
    vx_error err;
    vx_job job;
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(id, hex);
    if (vx_catalog_get_job(e->cat, id, &job, &err) != 0) {
        vx_warn("job %s: cannot read it: %s", hex, err.msg);
        return;
    }
    job.state = VX_JOB_RUNNING;
    job.started_at = now_s();
    if (write_job(e, &job, &err)) vx_warn("job %s: %s", hex, err.msg);
    const char **paths = malloc((size_t)(job.n_items ? job.n_items : 1) * sizeof *paths);
    for (uint32_t i = 0; paths && i < job.n_items; i++) paths[i] = job.items[i].path;
    vx_info("job %s: indexing %u paths", hex, job.n_items);

    vx_index_options o = e->opt.index;
    vx_index_options_set(&o, &job.settings);
    o.on_item = on_item;
    o.on_item_ctx = J;
    o.cancel = &J->worker.stopping;
    o.progress = 0;
    o.log_files = 1;
    vx_index_summary sum;
    memset(&sum, 0, sizeof sum);
    int r = paths ? vx_engine_run_index(e, paths, (int)job.n_items, &o, &sum, &err) : vx_fail(&err, "out of memory");
    free(paths);
    if (sum.cancelled) {
        /* Stopped by shutdown: the record stays "running" and the job runs again at the
         * next start (what it committed is then unchanged and skipped). */
        vx_info("job %s: interrupted with %d files left; it resumes at the next start", hex, sum.cancelled);
    } else {
        if (r == 0) {
            /* The outcome per file replaces the paths asked for. */
            for (uint32_t i = 0; i < job.n_items; i++) {
                free(job.items[i].path);
                free(job.items[i].message);
            }
            free(job.items);
            job.items = sum.items;
            job.n_items = (uint32_t)sum.n_items;
            for (uint32_t i = VX_MAX_JOB_ITEMS; i < job.n_items; i++) { /* the rest are in the log only */
                free(job.items[i].path);
                free(job.items[i].message);
            }
            if (job.n_items > VX_MAX_JOB_ITEMS) job.n_items = VX_MAX_JOB_ITEMS;
            sum.items = NULL;
            sum.n_items = 0;
            job.state = VX_JOB_DONE;
        } else {
            for (uint32_t i = 0; i < job.n_items; i++) {
                job.items[i].outcome = VX_ITEM_FAILED;
                free(job.items[i].message);
                job.items[i].message = strdup(err.msg);
                if (!job.items[i].message) job.items[i].message = strdup("");
            }
            job.state = VX_JOB_FAILED;
            vx_warn("job %s failed: %s", hex, err.msg);
        }
        job.finished_at = now_s();
        vx_error werr;
        if (write_job(e, &job, &werr)) vx_warn("job %s: %s", hex, werr.msg);
        pthread_mutex_lock(&J->mu); /* counted as soon as the record says so */
        if (job.state == VX_JOB_DONE) J->n_done++;
        else J->n_failed++;
        pthread_mutex_unlock(&J->mu);
        vx_engine_settle_index(e, "job");
        vx_info("job %s: %s (indexed %d, unchanged %d, duplicates %d, failed %d, removed %d)", hex,
                vx_job_state_name(job.state), sum.indexed, sum.unchanged, sum.duplicates, sum.failed, sum.removed);
    }
    pthread_mutex_lock(&J->mu);
    J->running = 0;
    vx_index_summary_clear(&J->live);
    pthread_mutex_unlock(&J->mu);
    vx_index_summary_clear(&sum);
    vx_job_clear(&job);
}

/* A job that encodes the frames of the videos indexed without the model, when there are
 * any and the model is in use. At most VX_MAX_JOB_ITEMS paths: a run encodes every
 * pending video whatever paths it is given (indexer/index.h). */
static void encode_pending(vx_jobs *J) {
    vx_engine *e = J->e;
    char **paths;
    int n;
    vx_error err;
    if (vx_index_pending_paths(e->cat, VX_MAX_JOB_ITEMS, &paths, &n, &err)) {
        vx_warn("looking for the videos indexed without the model: %s", err.msg);
        return;
    }
    if (n) {
        vx_job_settings none = {0};
        uint64_t id;
        if (vx_engine_job_submit(e, (const char *const *)paths, n, &none, &id, &err))
            vx_warn("encoding the videos indexed without the model: %s", err.msg);
        else
            vx_info("job %016llx encodes the frames of %d%s videos indexed without the model", (unsigned long long)id, n,
                    n == VX_MAX_JOB_ITEMS ? "+" : "");
    }
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
}

/* How often an idle service without its model looks for it. */
#define MODEL_POLL_SECONDS 5

static void runner(vx_worker *w) {
    vx_jobs *J = w->ctx;
    for (;;) {
        /* Idle without the model: its folder is looked at every few seconds. */
        const int model_awaited = !J->e->model && J->e->opt.model != VX_MODEL_NONE;
        vx_queue_node *node;
        const int n = vx_worker_take(w, &node, 1, model_awaited ? MODEL_POLL_SECONDS : -1);
        if (n < 0) return;
        if (n == 0) {
            if (model_awaited && vx_engine_model_arrived(J->e)) vx_jobs_encode_pending(J);
            continue;
        }
        const uint64_t id = ((queued_job *)node)->id;
        free(node);
        pthread_mutex_lock(&J->mu);
        J->running = id;
        pthread_mutex_unlock(&J->mu);
        run_job(J, id);
    }
}

typedef struct resume { vx_jobs *J; vx_job *pending; int n, cap; } resume;

static int find_unfinished(void *ctx, const vx_job *j) {
    resume *r = ctx;
    if (j->state == VX_JOB_DONE) { r->J->n_done++; return 0; }
    if (j->state == VX_JOB_FAILED) { r->J->n_failed++; return 0; }
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 8;
        vx_job *p = realloc(r->pending, (size_t)cap * sizeof *p);
        if (!p) return 1;
        r->pending = p;
        r->cap = cap;
    }
    r->pending[r->n++] = (vx_job){.id = j->id, .created_at = j->created_at};
    return 0;
}

static int by_created(const void *a, const void *b) {
    const vx_job *x = a, *y = b;
    return x->created_at < y->created_at ? -1 : x->created_at > y->created_at ? 1 : (x->id > y->id) - (x->id < y->id);
}

vx_jobs *vx_jobs_start(vx_engine *e, vx_error *err) {
    vx_jobs *J = calloc(1, sizeof *J);
    if (!J) { vx_fail(err, "out of memory"); return NULL; }
    J->e = e;
    pthread_mutex_init(&J->mu, NULL);
    resume r = {J, NULL, 0, 0};
    if (vx_catalog_scan_jobs(e->cat, find_unfinished, &r, NULL, err) ||
        vx_worker_start(&J->worker, "the job runner", runner, J, INT_MAX, 0, err)) {
        free(r.pending);
        pthread_mutex_destroy(&J->mu);
        free(J);
        return NULL;
    }
    if (r.n) qsort(r.pending, (size_t)r.n, sizeof *r.pending, by_created);
    for (int i = 0; i < r.n; i++)
        if (push(J, r.pending[i].id)) vx_warn("job %016llx: out of memory; it resumes at the next start", (unsigned long long)r.pending[i].id);
    if (r.n) vx_info("resuming %d unfinished indexing jobs", r.n);
    free(r.pending);
    return J;
}

void vx_jobs_encode_pending(vx_jobs *J) {
    if (J && J->e->model && !J->e->opt.cluster) encode_pending(J);
}


void vx_jobs_stop(vx_jobs *J) {
    if (!J) return;
    /* A running job is cancelled; it and the queued ones stay "queued" or "running" in
     * their records and run again at the next start. */
    for (vx_queue_node *n = vx_worker_stop(&J->worker), *next; n; n = next) {
        next = n->next;
        free(n);
    }
    pthread_mutex_destroy(&J->mu);
    vx_index_summary_clear(&J->live);
    free(J);
}

uint64_t vx_jobs_new_id(void) {
    static atomic_uint_least64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed[4] = {(uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec, atomic_fetch_add(&counter, 1), (uint64_t)getpid()};
    uint64_t id = vx_hash64(seed, sizeof seed);
    return id == 0 || id == UINT64_MAX ? 1 : id;
}

uint64_t vx_jobs_submit(vx_jobs *J, const char *const *paths, int n, const vx_job_settings *settings,
                        vx_error *err) {
    uint64_t id = vx_jobs_new_id();
    vx_job job = {.id = id, .state = VX_JOB_QUEUED, .created_at = now_s(), .settings = *settings, .n_items = (uint32_t)n};
    job.items = calloc((size_t)n, sizeof *job.items);
    int r = job.items ? 0 : vx_fail(err, "out of memory");
    for (int i = 0; r == 0 && i < n; i++) {
        job.items[i].outcome = VX_ITEM_PENDING;
        if (!(job.items[i].path = strdup(paths[i])) || !(job.items[i].message = strdup("")))
            r = vx_fail(err, "out of memory");
    }
    if (r == 0) r = write_job(J->e, &job, err);
    vx_job_clear(&job);
    if (r) return 0;
    /* Not queued (no memory, or stopping): its record says queued, so it runs at the next start. */
    if (push(J, id)) vx_warn("job %016llx: not queued now; it runs at the next start", (unsigned long long)id);
    return id;
}

/* A copy of the running job's outcomes so far; 0 when it is not the one running. */
int vx_jobs_live(vx_jobs *J, uint64_t id, vx_index_summary *live) {
    memset(live, 0, sizeof *live);
    pthread_mutex_lock(&J->mu);
    int running = J->running == id;
    for (int i = 0; running && i < J->live.n_items; i++) copy_item(live, &J->live.items[i]);
    pthread_mutex_unlock(&J->mu);
    return running;
}

void vx_jobs_counts(vx_jobs *J, int64_t *queued, int64_t *running, int64_t *done, int64_t *failed) {
    *queued = vx_worker_queued(&J->worker);
    pthread_mutex_lock(&J->mu);
    *running = J->running != 0;
    *done = J->n_done;
    *failed = J->n_failed;
    pthread_mutex_unlock(&J->mu);
}
