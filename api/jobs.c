/* vidx api: background indexing jobs (POST /v1/index, GET /v1/jobs/{id}).
 *
 * Jobs are records in the catalog ("j" id), so they outlive the process: a job queued
 * or running when the service stopped (or crashed) runs again at the next start, which
 * is safe because indexing skips what is already done. One runner thread takes jobs in
 * order; each video it commits is put in the vector index and the recommender at once,
 * under the index's write lock, so searches see it without a restart.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/hash.h"
#include "../common/log.h"
#include "../indexer/index.h"
#include "service.h"

struct vx_jobs {
    vx_service *S;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t *queue;
    int qn, qcap;
    int stopping;
    atomic_int cancel;
    /* the running job, for live progress (under mu) */
    uint64_t running;
    vx_index_summary live;
    int64_t n_done, n_failed;
    uint64_t counter;
};

static int64_t now_s(void) { return (int64_t)time(NULL); }

static int push(vx_jobs *J, uint64_t id) {
    if (J->qn == J->qcap) {
        int cap = J->qcap ? 2 * J->qcap : 16;
        uint64_t *q = realloc(J->queue, (size_t)cap * sizeof *q);
        if (!q) return -1;
        J->queue = q;
        J->qcap = cap;
    }
    J->queue[J->qn++] = id;
    return 0;
}

static int write_job(vx_service *S, const vx_job *j, vx_error *err) {
    vx_batch *b = vx_batch_new();
    if (!b) return vx_fail(err, "out of memory");
    vx_batch_put_job(b, j);
    int r = vx_catalog_write(S->cat, b, err);
    vx_batch_free(b);
    return r;
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

/* Each committed file: searchable and recommendable now. */
static void on_item(void *ctx, const vx_job_item *it, uint64_t video_id) {
    vx_jobs *J = ctx;
    vx_service *S = J->S;
    vx_error err;
    if (it->outcome != VX_ITEM_UNCHANGED && it->outcome != VX_ITEM_PENDING) {
        pthread_rwlock_wrlock(&S->ann_lock);
        int r = vx_ann_update_video(S->ann, S->cat, video_id, &err);
        atomic_fetch_add(&S->ann_version, 1); /* cached similar-video answers are stale */
        pthread_rwlock_unlock(&S->ann_lock);
        if (r) vx_warn("job: vector index update for %s: %s", it->path, err.msg);
        if (vx_rec_video_changed(S->rec, S->cat, video_id, &err)) vx_warn("job: recommender: %s", err.msg);
    }
    pthread_mutex_lock(&J->mu);
    copy_item(&J->live, it);
    pthread_mutex_unlock(&J->mu);
}

static void run_job(vx_jobs *J, uint64_t id) {
    vx_service *S = J->S;
    vx_error err;
    vx_job job;
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(id, hex);
    if (vx_catalog_get_job(S->cat, id, &job, &err) != 0) {
        vx_warn("job %s: cannot read it: %s", hex, err.msg);
        return;
    }
    job.state = VX_JOB_RUNNING;
    job.started_at = now_s();
    if (write_job(S, &job, &err)) vx_warn("job %s: %s", hex, err.msg);
    const char **paths = malloc((size_t)(job.n_items ? job.n_items : 1) * sizeof *paths);
    for (uint32_t i = 0; paths && i < job.n_items; i++) paths[i] = job.items[i].path;
    vx_info("job %s: indexing %u paths", hex, job.n_items);

    vx_index_options o;
    vx_index_options_default(&o);
    o.model_dir = S->opt.model_dir;
    o.on_item = on_item;
    o.on_item_ctx = J;
    o.cancel = &J->cancel;
    o.log_files = 1;
    vx_index_summary sum;
    memset(&sum, 0, sizeof sum);
    int r = paths ? vx_index_paths(S->cat, S->model, S->data_dir, paths, (int)job.n_items, &o, &sum, &err)
                  : vx_fail(&err, "out of memory");
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
        if (write_job(S, &job, &werr)) vx_warn("job %s: %s", hex, werr.msg);
        pthread_mutex_lock(&J->mu); /* counted as soon as the record says so */
        if (job.state == VX_JOB_DONE) J->n_done++;
        else J->n_failed++;
        pthread_mutex_unlock(&J->mu);
        if (vx_ann_outgrown(S->ann)) {
            /* Built aside while searches go on with the old one, then swapped in. Only
             * this thread writes the index, so nothing changes in between. */
            vx_info("job %s: the vector index outgrew exact search; rebuilding it as an inverted file", hex);
            vx_ann *fresh = vx_ann_rebuilt(S->cat, S->data_dir, NULL, vx_ann_dim(S->ann), &werr);
            if (!fresh) {
                vx_warn("job %s: rebuilding the vector index: %s", hex, werr.msg);
            } else {
                pthread_rwlock_wrlock(&S->ann_lock);
                vx_ann *old = S->ann;
                S->ann = fresh;
                atomic_fetch_add(&S->ann_version, 1);
                pthread_rwlock_unlock(&S->ann_lock);
                vx_ann_close(old);
            }
        }
        pthread_rwlock_rdlock(&S->ann_lock); /* saving reads the index: searches may share it */
        if (vx_ann_save(S->ann, S->cat, &werr)) vx_warn("job %s: saving the vector index: %s", hex, werr.msg);
        pthread_rwlock_unlock(&S->ann_lock);
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

static void *runner(void *arg) {
    vx_jobs *J = arg;
    for (;;) {
        pthread_mutex_lock(&J->mu);
        while (!J->qn && !J->stopping) pthread_cond_wait(&J->cv, &J->mu);
        if (J->stopping) {
            pthread_mutex_unlock(&J->mu);
            return NULL;
        }
        uint64_t id = J->queue[0];
        memmove(J->queue, J->queue + 1, (size_t)(J->qn - 1) * sizeof *J->queue);
        J->qn--;
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

vx_jobs *vx_jobs_start(vx_service *S, vx_error *err) {
    vx_jobs *J = calloc(1, sizeof *J);
    if (!J) { vx_fail(err, "out of memory"); return NULL; }
    J->S = S;
    pthread_mutex_init(&J->mu, NULL);
    pthread_cond_init(&J->cv, NULL);
    resume r = {J, NULL, 0, 0};
    if (vx_catalog_scan_jobs(S->cat, find_unfinished, &r, NULL, err)) {
        free(r.pending);
        free(J);
        return NULL;
    }
    if (r.n) qsort(r.pending, (size_t)r.n, sizeof *r.pending, by_created);
    for (int i = 0; i < r.n; i++) push(J, r.pending[i].id);
    if (r.n && S->model) vx_info("resuming %d unfinished indexing jobs", r.n);
    free(r.pending);
    if (!S->model) J->qn = 0; /* nothing can run without the model; they stay queued in the catalog */
    if (pthread_create(&J->thread, NULL, runner, J)) {
        free(J->queue);
        free(J);
        vx_fail(err, "cannot start the job runner");
        return NULL;
    }
    return J;
}

void vx_jobs_stop(vx_jobs *J) {
    if (!J) return;
    pthread_mutex_lock(&J->mu);
    J->stopping = 1;
    atomic_store(&J->cancel, 1);
    pthread_cond_signal(&J->cv);
    pthread_mutex_unlock(&J->mu);
    pthread_join(J->thread, NULL);
    pthread_mutex_destroy(&J->mu);
    pthread_cond_destroy(&J->cv);
    vx_index_summary_clear(&J->live);
    free(J->queue);
    free(J);
}

uint64_t vx_jobs_submit(vx_jobs *J, const char *const *paths, int n, vx_error *err) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pthread_mutex_lock(&J->mu);
    uint64_t seed[3] = {(uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec, ++J->counter};
    pthread_mutex_unlock(&J->mu);
    uint64_t id = vx_hash64(seed, sizeof seed);
    if (id == 0 || id == UINT64_MAX) id = 1;
    vx_job job = {.id = id, .state = VX_JOB_QUEUED, .created_at = now_s(), .n_items = (uint32_t)n};
    job.items = calloc((size_t)n, sizeof *job.items);
    if (!job.items) { vx_fail(err, "out of memory"); return 0; }
    for (int i = 0; i < n; i++) {
        job.items[i].path = (char *)paths[i];
        job.items[i].outcome = VX_ITEM_PENDING;
        job.items[i].message = "";
    }
    int r = write_job(J->S, &job, err);
    free(job.items);
    if (r) return 0;
    pthread_mutex_lock(&J->mu);
    r = push(J, id);
    pthread_cond_signal(&J->cv);
    pthread_mutex_unlock(&J->mu);
    if (r) { vx_fail(err, "out of memory"); return 0; }
    return id;
}

static json_t *items_json(const vx_job_item *items, int n) {
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) {
        json_t *it = json_pack("{s:s, s:s}", "path", items[i].path, "outcome", vx_item_outcome_name(items[i].outcome));
        if (it && items[i].message && *items[i].message) json_object_set_new(it, "message", json_string(items[i].message));
        if (it) json_array_append_new(a, it);
    }
    return a;
}

static json_t *summary_json(const vx_job_item *items, int n) {
    int c[6] = {0};
    for (int i = 0; i < n; i++)
        if (items[i].outcome < 6) c[items[i].outcome]++;
    return json_pack("{s:i, s:i, s:i, s:i, s:i, s:i}", "pending", c[VX_ITEM_PENDING], "indexed", c[VX_ITEM_INDEXED],
                     "unchanged", c[VX_ITEM_UNCHANGED], "duplicates", c[VX_ITEM_DUPLICATE], "failed", c[VX_ITEM_FAILED],
                     "removed", c[VX_ITEM_REMOVED]);
}

json_t *vx_jobs_describe(vx_jobs *J, uint64_t id, int *found, vx_error *err) {
    vx_job job;
    int r = vx_catalog_get_job(J->S->cat, id, &job, err);
    *found = r == 0 || r < 0;
    if (r) return NULL;
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(id, hex);
    json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I}", "job_id", hex, "state", vx_job_state_name(job.state),
                          "created_at", (json_int_t)job.created_at, "started_at", (json_int_t)job.started_at,
                          "finished_at", (json_int_t)job.finished_at);
    pthread_mutex_lock(&J->mu);
    int live = J->running == id && job.state == VX_JOB_RUNNING;
    if (o && live) {
        /* In progress: the files done so far; the record still holds the paths asked for. */
        json_object_set_new(o, "requested", items_json(job.items, (int)job.n_items));
        json_object_set_new(o, "files_done", json_integer(J->live.n_items));
        json_object_set_new(o, "summary", summary_json(J->live.items, J->live.n_items));
        json_object_set_new(o, "items", items_json(J->live.items, J->live.n_items));
    }
    pthread_mutex_unlock(&J->mu);
    if (o && !live) {
        json_object_set_new(o, "files_done", json_integer(job.state == VX_JOB_DONE ? (json_int_t)job.n_items : 0));
        json_object_set_new(o, "summary", summary_json(job.items, (int)job.n_items));
        json_object_set_new(o, "items", items_json(job.items, (int)job.n_items));
    }
    vx_job_clear(&job);
    if (!o) { *found = 1; vx_fail(err, "out of memory"); }
    return o;
}

void vx_jobs_counts(vx_jobs *J, int64_t *queued, int64_t *running, int64_t *done, int64_t *failed) {
    pthread_mutex_lock(&J->mu);
    *queued = J->qn;
    *running = J->running != 0;
    *done = J->n_done;
    *failed = J->n_failed;
    pthread_mutex_unlock(&J->mu);
}
