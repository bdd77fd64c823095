/* vidx engine: every job's logic: indexing now (vx_engine_index), background jobs on one
 * machine (POST /v1/index, GET /v1/jobs/{id}), and in a cluster the job's record and its
 * work items (submitted here; a cluster worker's loop, cluster/worker.c, hands items to
 * vx_engine_index_items and vx_engine_fail_item).
 *
 * Both run the indexer with vx_engine_apply as its way to change anything, so each
 * video it commits is in the vector index and the recommender at once and searches see
 * it without a restart. Jobs are records in the catalog ("j" id, written as job ops),
 * so they outlive the process: a job queued or running when the engine closed (or
 * crashed) runs again at the next open, which is safe because indexing skips what is
 * already done. One runner thread takes jobs in order.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/grow.h"
#include "../common/hash.h"
#include "../common/log.h"
#include "../indexer/index.h"
#include "../common/path.h"
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
    /* The disk took nothing (full, failing): no file failed. The job waits for room and
     * runs again (what it committed is then unchanged and skipped). */
    for (double waited = 0; r == VX_E_STORAGE && !sum.cancelled;) {
        vx_warn("job %s: %s; it goes on once the disk has room", hex, err.msg);
        do {
            waited = vx_engine_disk_backoff(waited);
            if (vx_worker_pause(&J->worker, waited)) break;
        } while (vx_engine_disk_room(e, 0, "the job", &err) == VX_E_STORAGE);
        if (vx_worker_stopping(&J->worker)) {
            sum.cancelled = 1;
            break;
        }
        vx_index_summary_clear(&sum);
        pthread_mutex_lock(&J->mu);
        vx_index_summary_clear(&J->live);
        pthread_mutex_unlock(&J->mu);
        r = vx_engine_run_index(e, paths, (int)job.n_items, &o, &sum, &err);
    }
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

typedef struct resume {
    vx_jobs *J;
    vx_job *pending;
    size_t n, cap;
} resume;

static int find_unfinished(void *ctx, const vx_job *j) {
    resume *r = ctx;
    if (j->state == VX_JOB_DONE) { r->J->n_done++; return 0; }
    if (j->state == VX_JOB_FAILED) { r->J->n_failed++; return 0; }
    if (VX_GROW(r->pending, r->cap, r->n + 1)) return 1;
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
    for (size_t i = 0; i < r.n; i++)
        if (push(J, r.pending[i].id)) vx_warn("job %016llx: out of memory; it resumes at the next start", (unsigned long long)r.pending[i].id);
    if (r.n) vx_info("resuming %zu unfinished indexing jobs", r.n);
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

/* ---- the operations: indexing now, jobs submitted, a cluster's items ------------------------ */

/* What a failed index run means to the caller: in a cluster the run stops only when
 * the log refuses its changes (a file's own failure is its item's outcome). */
static int index_run_failed(const vx_engine *e) { return e->opt.cluster ? VX_E_LOG_UNAVAILABLE : VX_E_INTERNAL; }

int vx_engine_index(vx_engine *e, const char *const *paths, int n, vx_index_summary *summary, vx_error *err) {
    memset(summary, 0, sizeof *summary);
    if (e->model_replaces && vx_engine_adopt_model(e, err)) return VX_E_INTERNAL;
    /* Without the model the videos are indexed with what needs none (indexer/index.h). */
    int r = vx_engine_run_index(e, paths, n, &e->opt.index, summary, err);
    /* Not saved when the run stopped on an error: the files then keep their older
     * generation and the next open catches them up from what was committed. */
    if (r == 0) vx_engine_settle_index(e, "index");
    return r == VX_E_STORAGE ? VX_E_STORAGE : r ? VX_E_INTERNAL : VX_OK;
}

/* A cluster's job: the request's paths expanded into files here, the job's record
 * committed, then one work item per file queued for the workers. */
static int submit_to_cluster(vx_engine *e, const char *const *paths, int n, const vx_job_settings *settings,
                             uint64_t *job_id, vx_error *err) {
    char **files = NULL;
    int n_files = 0;
    if (vx_index_expand(e->cat, paths, n, &e->opt.index, e->data_dir, &files, &n_files, err)) return VX_E_INTERNAL;
    int rc = VX_OK;
    if (n_files > VX_MAX_JOB_ITEMS) {
        vx_fail(err, "paths: %d files; a job takes at most %d (split the request)", n_files, VX_MAX_JOB_ITEMS);
        rc = VX_E_BAD_INPUT;
    }
    vx_job job = {.id = vx_jobs_new_id(), .state = n_files ? VX_JOB_QUEUED : VX_JOB_DONE, .created_at = time(NULL),
                  .settings = *settings};
    if (rc == 0 && n_files) {
        job.items = calloc((size_t)n_files, sizeof *job.items);
        if (!job.items) rc = vx_fail(err, "out of memory");
        for (int i = 0; rc == 0 && i < n_files; i++) {
            job.items[i].path = files[i];
            files[i] = NULL;
            job.items[i].outcome = VX_ITEM_PENDING;
            if (!(job.items[i].message = strdup(""))) rc = vx_fail(err, "out of memory");
            job.n_items = (uint32_t)i + 1;
        }
        if (rc) rc = VX_E_INTERNAL;
    }
    if (!n_files) job.started_at = job.finished_at = job.created_at;
    for (int i = 0; i < n_files; i++) free(files[i]);
    free(files);
    vx_op op = {.kind = VX_OP_JOB, .job = job};
    if (rc == 0) rc = vx_engine_commit(e, &op, err);
    if (rc == 0 && job.n_items && e->opt.cluster->enqueue(e->opt.cluster->ctx, &job, err)) {
        /* The record says so rather than waiting forever for items never queued. */
        vx_error why = *err, ignored;
        for (uint32_t i = 0; i < job.n_items; i++) {
            job.items[i].outcome = VX_ITEM_FAILED;
            free(job.items[i].message);
            job.items[i].message = strdup(why.msg);
        }
        job.state = VX_JOB_FAILED;
        job.finished_at = time(NULL);
        op.job = job;
        if (vx_engine_commit(e, &op, &ignored)) vx_warn("job: %s", ignored.msg);
        rc = VX_E_LOG_UNAVAILABLE;
    }
    *job_id = job.id;
    vx_job_clear(&job);
    return rc;
}

/* A path of a job must lie inside the media roots when the engine has them (a service
 * started with --media-root), and never in the data folder: 1 with err when it does not.
 * Paths that no longer exist are judged by their absolute form (they mark removals). */
static int outside_media_roots(const vx_engine *e, int i, const char *path, vx_error *err) {
    char real[PATH_MAX];
    vx_path abs;
    if (!realpath(path, real)) {
        if (path[0] != '/') {
            if (!getcwd(abs, sizeof abs) || strlen(abs) + strlen(path) + 2 > sizeof real) abs[0] = '\0';
            snprintf(real, sizeof real, "%s/%s", abs, path);
        } else {
            snprintf(real, sizeof real, "%s", path);
        }
    }
    if (vx_path_within(real, e->data_dir_real)) {
        vx_fail(err, "paths[%d]: %s is in vidx's data folder: never media", i, path);
        return 1;
    }
    const vx_index_options *o = &e->opt.index;
    if (!o->n_media_roots) return 0;
    for (int r = 0; r < o->n_media_roots; r++)
        if (vx_path_within(real, o->media_roots[r])) return 0;
    vx_fail(err, "paths[%d]: %s is outside the media roots (%s%s): the service indexes only what --media-root allows",
            i, path, o->media_roots[0], o->n_media_roots > 1 ? ", ..." : "");
    return 1;
}

int vx_engine_job_submit(vx_engine *e, const char *const *paths, int n, const vx_job_settings *settings,
                         uint64_t *job_id, vx_error *err) {
    if (!e->jobs && !e->opt.cluster) {
        vx_fail(err, "this engine runs no background jobs");
        return VX_E_DISABLED;
    }
    if (n < 1 || n > VX_MAX_JOB_ITEMS) {
        vx_fail(err, "paths: must be an array of 1 to %d file or folder paths", VX_MAX_JOB_ITEMS);
        return VX_E_BAD_INPUT;
    }
    for (int i = 0; i < n; i++)
        if (!paths[i] || !*paths[i] || strlen(paths[i]) > VX_MAX_PATH) {
            vx_fail(err, "paths[%d]: must be a non-empty path of at most %d bytes", i, VX_MAX_PATH);
            return VX_E_BAD_INPUT;
        }
    for (int i = 0; i < n; i++)
        if (outside_media_roots(e, i, paths[i], err)) return VX_E_BAD_INPUT;
    const vx_job_settings none = {0};
    if (!settings) settings = &none;
    const char *problem = vx_job_settings_problem(settings);
    if (problem) {
        vx_fail(err, "%s", problem);
        return VX_E_BAD_INPUT;
    }
    if (e->opt.cluster) return submit_to_cluster(e, paths, n, settings, job_id, err);
    *job_id = vx_jobs_submit(e->jobs, paths, n, settings, err);
    return *job_id ? VX_OK : VX_E_INTERNAL;
}

/* One item's outcome from what indexing its path reported: the file's own, or for a
 * folder that only the worker could see, the counts of what was under it. */
static void item_outcome(const vx_index_summary *sum, vx_job_item *out, char *buf, size_t size) {
    if (sum->n_items == 1) {
        *out = sum->items[0];
        return;
    }
    out->path = "";
    out->outcome = sum->indexed ? VX_ITEM_INDEXED : sum->failed ? VX_ITEM_FAILED : VX_ITEM_UNCHANGED;
    snprintf(buf, size, "%d files: %d indexed, %d unchanged, %d duplicates, %d failed, %d removed, %d skipped",
             sum->n_items, sum->indexed, sum->unchanged, sum->duplicates, sum->failed, sum->removed, sum->skipped);
    out->message = buf;
}

/* An item's file found unchanged was indexed since its job began: by an earlier try
 * whose result the log took although the worker was told otherwise (a publish that
 * timed out and still landed), or that died after publishing. For the job it was
 * indexed. */
static int indexed_for_job(vx_engine *e, const vx_work_item *w) {
    vx_job job;
    vx_video v;
    vx_error err;
    if (vx_catalog_get_job(e->cat, w->job_id, &job, &err) != 0) return 0;
    const int64_t since = job.created_at;
    vx_job_clear(&job);
    if (vx_catalog_get_video(e->cat, vx_video_id_for_path(w->path), &v, &err) != 0) return 0;
    const int yes = v.status == VX_VIDEO_INDEXED && !v.duplicate_of && v.updated_at >= since;
    vx_video_clear(&v);
    return yes;
}

int vx_engine_index_items(vx_engine *e, const vx_work_item *items, int n, const atomic_int *cancel, int *status,
                          vx_error *errs) {
    vx_error err;
    int rc = VX_OK;
    if (!e->model) {
        vx_fail(&err, "indexing needs the CLIP model: %s", e->model_problem);
        rc = VX_E_MODEL_MISSING;
    }
    const char **paths = rc ? NULL : malloc((size_t)n * sizeof *paths);
    if (!rc && !paths) {
        vx_fail(&err, "out of memory");
        rc = VX_E_INTERNAL;
    }
    vx_index_summary sum;
    memset(&sum, 0, sizeof sum);
    if (!rc) {
        for (int i = 0; i < n; i++) paths[i] = items[i].path;
        vx_index_options o = e->opt.index;
        vx_index_options_set(&o, &items[0].settings); /* the caller groups items by settings */
        o.progress = 0;
        o.log_files = 1;
        o.cancel = cancel;
        const int r = vx_engine_run_index(e, paths, n, &o, &sum, &err);
        if (r) rc = r == VX_E_STORAGE ? VX_E_STORAGE : index_run_failed(e);
    }
    free(paths);
    for (int i = 0; i < n; i++) {
        status[i] = rc;
        errs[i] = err;
        if (rc) continue;
        /* This item's outcome: its file's, found by path (a folder that only workers see
         * is indexed alone: its outcome is the counts of what was under it). */
        vx_job_item outcome = {0};
        char buf[256];
        for (int k = 0; k < sum.n_items && !outcome.path; k++)
            if (strcmp(sum.items[k].path, items[i].path) == 0) outcome = sum.items[k];
        if (!outcome.path && n == 1 && sum.n_items) item_outcome(&sum, &outcome, buf, sizeof buf);
        if (!outcome.path && !outcome.outcome) {
            status[i] = VX_E_BUSY;
            vx_fail(&errs[i], "%s", sum.cancelled ? "interrupted before it was indexed" : "no outcome for it in the run");
            continue;
        }
        if (outcome.outcome == VX_ITEM_UNCHANGED && indexed_for_job(e, &items[i])) {
            outcome.outcome = VX_ITEM_INDEXED;
            outcome.message = "indexed by an earlier try";
        }
        vx_op op = {.kind = VX_OP_JOB_ITEM, .job_id = items[i].job_id, .item_index = items[i].index, .at = time(NULL)};
        op.item = (vx_job_item){.path = items[i].path, .outcome = outcome.outcome,
                                .message = outcome.message ? outcome.message : ""};
        status[i] = vx_engine_commit(e, &op, &errs[i]);
    }
    vx_index_summary_clear(&sum);
    for (int i = 0; i < n; i++)
        if (status[i]) return status[i];
    return VX_OK;
}

int vx_engine_fail_item(vx_engine *e, const vx_work_item *w, const char *reason, vx_error *err) {
    vx_op op = {.kind = VX_OP_JOB_ITEM, .job_id = w->job_id, .item_index = w->index, .at = time(NULL)};
    op.item = (vx_job_item){.path = w->path, .outcome = VX_ITEM_FAILED, .message = (char *)reason};
    return vx_engine_commit(e, &op, err);
}

int vx_engine_job(vx_engine *e, uint64_t id, vx_job_status *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    int r = vx_catalog_get_job(e->cat, id, &out->job, err);
    if (r < 0) return VX_E_INTERNAL;
    if (r > 0) {
        char hex[VX_ID_HEX_LEN];
        vx_id_to_hex(id, hex);
        vx_fail(err, "no job %s", hex);
        return VX_E_NOT_FOUND;
    }
    out->running = out->job.state == VX_JOB_RUNNING && e->jobs && vx_jobs_live(e->jobs, id, &out->live);
    /* How the listed items' videos play. */
    const vx_job_item *items = out->running ? out->live.items : out->job.items;
    const int n = out->running ? out->live.n_items : (int)out->job.n_items;
    if (n > 0 && (out->playback = calloc((size_t)n, sizeof *out->playback))) {
        out->n_playback = n;
        for (int i = 0; i < n; i++) {
            const uint8_t oc = items[i].outcome;
            if (oc != VX_ITEM_INDEXED && oc != VX_ITEM_UNCHANGED && oc != VX_ITEM_DUPLICATE) continue;
            vx_video v;
            vx_error verr;
            if (vx_catalog_get_video(e->cat, vx_video_id_for_path(items[i].path), &v, &verr) != 0) continue;
            vx_engine_playback(e, &v, &out->playback[i]);
            vx_video_clear(&v);
        }
    }
    return VX_OK;
}

void vx_job_status_free(vx_job_status *s) {
    vx_job_clear(&s->job);
    vx_index_summary_clear(&s->live);
    free(s->playback);
    s->playback = NULL;
    s->n_playback = 0;
}
