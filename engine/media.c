/* vidx engine: web-playable renditions, made in the background (indexer/rendition.h).
 *
 * A video that browsers cannot play as it is (its record says VX_PLAYBACK_CONVERT, or
 * an older record that says nothing is probed here) gets a rendition after it is
 * indexed: DATA/media/HASH.mp4, one per content hash, so copies of a file share it.
 * Its state is a rendition record (catalog "r"): ready, failed (with the reason) or not
 * needed; no record means pending. Renditions are derived data like the vector
 * indexes: each serving node makes its own from the original file, and nothing about
 * them goes through a cluster's log.
 *
 * One thread does the work, at the lowest CPU and I/O priority (SCHED_IDLE, nice 19,
 * idle I/O class; the encoder's own threads inherit them), and it pauses while the
 * service serves searches (wait_for_quiet), so searches never wait for it. It learns of work from the ops applied (vx_renditions_notice) and, at start, from a
 * scan of the catalog, which also resumes what a crash or stop interrupted and clears
 * what is no longer needed: a file whose content no live video has, and temporary
 * files. A rendition is written aside and renamed into place before its record says
 * ready, so a half-made file is never served.
 *
 * A rendition the disk has no room for (less than the reserve would be left, or the
 * write failed for want of space: disk.c) is not a failure: it waits, with the others
 * refused, and all are tried again once the disk has room (looked at with a backoff).
 */
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../common/grow.h"
#include "../common/hash.h"
#include "../common/idmap.h"
#include "../common/log.h"
#include "../common/system.h"
#include "../common/utf8.h"
#include "../common/vecmath.h"
#include "../indexer/rendition.h"
#include "engine_internal.h"

typedef enum { TASK_MAKE = 1, TASK_FORGET = 2 } task_kind;

typedef struct task {
    vx_queue_node link; /* first: queued by it */
    uint64_t hash;
    uint8_t kind;
} task;

struct vx_renditions {
    vx_engine *e;
    vx_worker worker;         /* the maker: task items; its stop flag cancels the rendition being made */
    pthread_mutex_t lock;     /* guards the rest */
    vx_idmap queued;          /* hash -> task kinds queued (bit mask): a task is queued once */
    uint64_t current;         /* what the thread is on now */
    int64_t outstanding;      /* tasks pushed and not finished: counted from the push to the record's write */
    double done_s, total_s;
    uint64_t made, failed;
    /* Renditions waiting for room on the disk (n_waiting changes under lock, only on the
     * thread), and when to look again (the thread's own). */
    uint64_t *waiting;
    size_t n_waiting, cap_waiting;
    double look_at, waited_s;
};

int vx_rendition_path(const vx_engine *e, uint64_t hash, vx_path out, vx_error *err) {
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(hash, hex);
    return vx_path_fmt(out, err, "%s/media/%s.mp4", e->data_dir, hex);
}

/* Content hashes of 0 and UINT64_MAX cannot be idmap keys; they are mapped away. */
static uint64_t map_key(uint64_t hash) { return hash == 0 ? 1 : hash == UINT64_MAX ? UINT64_MAX - 1 : hash; }

/* Marks (hash, kind) queued: 1 when it was not yet, 0 when it was, -1 without memory. */
static int mark_queued(vx_renditions *m, uint64_t hash, uint8_t kind) {
    uint64_t mask = 0;
    pthread_mutex_lock(&m->lock);
    vx_idmap_get(&m->queued, map_key(hash), &mask);
    const int r = mask & kind ? 0 : vx_idmap_put(&m->queued, map_key(hash), mask | kind) ? -1 : 1;
    pthread_mutex_unlock(&m->lock);
    return r;
}

static void unmark_queued(vx_renditions *m, uint64_t hash, uint8_t kind) {
    uint64_t mask = 0;
    pthread_mutex_lock(&m->lock);
    vx_idmap_get(&m->queued, map_key(hash), &mask);
    if (mask & ~(uint64_t)kind) vx_idmap_put(&m->queued, map_key(hash), mask & ~(uint64_t)kind);
    else vx_idmap_del(&m->queued, map_key(hash));
    pthread_mutex_unlock(&m->lock);
}

/* Queues a task, once per (hash, kind); first: at the head of the queue, even when one
 * waits already (making it twice makes it once: the second finds it made). */
static void push_task(vx_renditions *m, uint64_t hash, uint8_t kind, int first) {
    if (!m) return;
    const int fresh = mark_queued(m, hash, kind);
    if (fresh < 0 || (fresh == 0 && !first)) {
        if (fresh < 0) vx_warn("renditions: out of memory; one is left for the next start");
        return;
    }
    task *t = malloc(sizeof *t);
    if (t) *t = (task){.hash = hash, .kind = kind};
    pthread_mutex_lock(&m->lock);
    m->outstanding++; /* before the thread can take it */
    pthread_mutex_unlock(&m->lock);
    if (!t || (first ? vx_worker_push_front : vx_worker_push)(&m->worker, &t->link)) {
        free(t);
        pthread_mutex_lock(&m->lock);
        m->outstanding--;
        pthread_mutex_unlock(&m->lock);
        if (fresh) unmark_queued(m, hash, kind);
        if (!vx_worker_stopping(&m->worker)) vx_warn("renditions: out of memory; one is left for the next start");
    }
}

void vx_renditions_notice(vx_renditions *m, uint64_t content_hash) { push_task(m, content_hash, TASK_MAKE, 0); }
void vx_renditions_forget(vx_renditions *m, uint64_t content_hash) { push_task(m, content_hash, TASK_FORGET, 0); }

int vx_engine_request_rendition(vx_engine *e, uint64_t id, const char *why, vx_error *err) {
    vx_engine_foreground(e);
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(id, hex);
    if (why && (strlen(why) > VX_RENDITION_WHY_MAX || !vx_utf8_valid(why, strlen(why)))) {
        vx_fail(err, "reason: at most %d bytes of UTF-8", VX_RENDITION_WHY_MAX);
        return VX_E_BAD_INPUT;
    }
    vx_video v;
    int r = vx_catalog_get_video(e->cat, id, &v, err);
    if (r < 0) return VX_E_INTERNAL;
    if (r > 0 || v.status != VX_VIDEO_INDEXED) {
        if (r == 0) vx_video_clear(&v);
        vx_fail(err, "video %s is not indexed", hex);
        return VX_E_NOT_FOUND;
    }
    const uint64_t hash = v.content_hash;
    const int direct = v.playback == VX_PLAYBACK_DIRECT;
    vx_video_clear(&v);
    if (!e->renditions) {
        vx_fail(err, "this service makes no renditions (vidx serve --no-renditions)");
        return VX_E_DISABLED;
    }
    /* One that needs a rendition has one made or on its way; a request is made once. */
    vx_rendition have;
    r = vx_catalog_get_rendition(e->cat, hash, &have, err);
    if (r < 0) return VX_E_INTERNAL;
    const int asked = r == 0 && have.state != VX_RENDITION_NOT_NEEDED;
    if (r == 0) vx_rendition_clear(&have);
    if (!direct || asked) return VX_OK;
    int64_t pending;
    uint64_t made, failed;
    vx_renditions_counts(e->renditions, &pending, &made, &failed);
    if (pending >= VX_RENDITION_REQUESTS_MAX) {
        vx_fail(err, "%lld renditions are waiting to be made; ask again later", (long long)pending);
        return VX_E_BUSY;
    }
    const vx_rendition rec = {.content_hash = hash, .state = VX_RENDITION_REQUESTED, .made_at = (int64_t)time(NULL),
                              .failure = (char *)(why && *why ? why : "a browser could not play the file")};
    if ((r = vx_engine_write_rendition(e, &rec, 0, err))) return r;
    vx_info("renditions: video %s asked for one (%s)", hex, rec.failure);
    push_task(e->renditions, hash, TASK_MAKE, 1);
    return VX_OK;
}

/* ---- one content's rendition ---------------------------------------------------------- */

typedef struct live_pick {
    vx_engine *e;
    vx_video video; /* the first live video with the content (vx_video_clear) */
    int found;
} live_pick;

static int pick_live(void *ctx, uint64_t id) {
    live_pick *p = ctx;
    vx_error err;
    vx_video v;
    if (vx_catalog_get_video(p->e->cat, id, &v, &err) != 0) return 0;
    struct stat sb;
    if (v.status == VX_VIDEO_INDEXED && stat(v.path, &sb) == 0) {
        p->video = v;
        p->found = 1;
        return 1;
    }
    vx_video_clear(&v);
    return 0;
}

/* A live video with this content whose file is there, or 0. */
static int find_live(vx_engine *e, uint64_t hash, vx_video *out) {
    live_pick p = {.e = e};
    vx_error err;
    if (vx_catalog_scan_content(e->cat, hash, pick_live, &p, &err)) return 0;
    if (p.found) *out = p.video;
    return p.found;
}

static int put_record(vx_engine *e, const vx_rendition *r) {
    vx_error err;
    const int rc = vx_engine_write_rendition(e, r, 0, &err);
    if (rc) vx_warn("renditions: cannot record %016llx: %s", (unsigned long long)r->content_hash, err.msg);
    return rc;
}

static void forget(vx_renditions *m, uint64_t hash) {
    vx_engine *e = m->e;
    vx_video v;
    if (find_live(e, hash, &v)) { /* another copy of the content still needs it */
        vx_video_clear(&v);
        return;
    }
    vx_path path;
    vx_error err;
    if (vx_rendition_path(e, hash, path, &err) == 0 && unlink(path) == 0)
        vx_debug("renditions: removed %s (its video is gone)", path);
    if (vx_engine_write_rendition(e, NULL, hash, &err)) vx_warn("renditions: %s", err.msg);
}

static void on_progress(void *ctx, double done_s, double total_s) {
    vx_renditions *m = ctx;
    pthread_mutex_lock(&m->lock);
    m->done_s = done_s;
    m->total_s = total_s;
    pthread_mutex_unlock(&m->lock);
}

/* Renditions wait while the service serves (vx_engine_wait_quiet). */
static void wait_for_quiet(void *ctx) {
    vx_renditions *m = ctx;
    vx_engine_wait_quiet(m->e, &m->worker, -1);
}

/* A rendition refused by the disk waits for room (the thread looks again: run). */
static void wait_for_room(vx_renditions *m, uint64_t hash, const char *why) {
    if (!m->n_waiting) {
        m->waited_s = vx_engine_disk_backoff(0);
        m->look_at = vx_now() + m->waited_s;
        vx_warn("renditions: %s; they wait for room", why);
    }
    for (size_t i = 0; i < m->n_waiting; i++)
        if (m->waiting[i] == hash) return;
    if (VX_GROW(m->waiting, m->cap_waiting, m->n_waiting + 1)) {
        vx_warn("renditions: out of memory; one is left for the next start");
        return;
    }
    m->waiting[m->n_waiting] = hash;
    pthread_mutex_lock(&m->lock);
    m->n_waiting++;
    pthread_mutex_unlock(&m->lock);
}

/* Whether a failed rendition failed for want of space: then it is no verdict on the file. */
static int refused_by_disk(vx_engine *e, const vx_error *why) {
    vx_error err;
    return strstr(why->msg, strerror(ENOSPC)) || strstr(why->msg, strerror(EDQUOT)) ||
           vx_engine_disk_room(e, 0, "", &err) == VX_E_STORAGE;
}

static void make(vx_renditions *m, uint64_t hash) {
    vx_engine *e = m->e;
    vx_error err;
    vx_video v;
    if (!find_live(e, hash, &v)) return; /* gone since: nothing to make */
    vx_rendition have;
    int r = vx_catalog_get_rendition(e->cat, hash, &have, &err);
    vx_path path, dir;
    if (vx_rendition_path(e, hash, path, &err) || vx_path_fmt(dir, &err, "%s/media", e->data_dir)) {
        vx_warn("renditions: %s", err.msg);
        if (r == 0) vx_rendition_clear(&have);
        vx_video_clear(&v);
        return;
    }
    struct stat sb;
    /* Asked for by a browser that refused the file (or made so once, its file gone since):
     * made although the format plays. */
    int asked = 0;
    if (r == 0) {
        asked = have.state == VX_RENDITION_REQUESTED || have.state == VX_RENDITION_READY;
        const int done = have.state != VX_RENDITION_REQUESTED && (have.state != VX_RENDITION_READY || stat(path, &sb) == 0);
        vx_rendition_clear(&have);
        if (done) { vx_video_clear(&v); return; }
    }
    vx_rendition rec = {.content_hash = hash, .made_at = (int64_t)time(NULL), .failure = ""};
    char note[VX_PLAYBACK_NOTE_MAX];
    int playback = v.playback;
    if (playback == VX_PLAYBACK_UNDECIDED) playback = vx_probe_playback(v.path, note, sizeof note, &err);
    if (playback == VX_PLAYBACK_DIRECT && !asked) {
        rec.state = VX_RENDITION_NOT_NEEDED;
        put_record(e, &rec);
        vx_video_clear(&v);
        return;
    }
    if (playback < 0) {
        rec.state = VX_RENDITION_FAILED;
        rec.failure = err.msg;
    } else if (mkdir(dir, 0755) && errno != EEXIST) {
        vx_warn("renditions: cannot create %s: %s", dir, strerror(errno));
        vx_video_clear(&v);
        return;
    } else if (vx_engine_disk_room(e, v.size, "a rendition", &err) == VX_E_STORAGE) { /* about the original's size */
        wait_for_room(m, hash, err.msg);
        vx_video_clear(&v);
        return;
    } else {
        pthread_mutex_lock(&m->lock);
        m->total_s = v.duration;
        pthread_mutex_unlock(&m->lock);
        vx_rendition_options o;
        vx_rendition_options_default(&o);
        if (e->opt.rendition_max_height) o.max_height = e->opt.rendition_max_height;
        o.cancel = &m->worker.stopping;
        o.timeout_s = 3600 + 20 * v.duration; /* a bound, generous at idle priority */
        o.progress = on_progress;
        o.progress_ctx = m;
        o.throttle = wait_for_quiet;
        o.throttle_ctx = m;
        vx_rendition_result res;
        const double t0 = vx_now();
        vx_info("renditions: making one of %s", v.path);
        if (vx_make_rendition(v.path, path, &o, &res, &err) == 0) {
            rec.state = VX_RENDITION_READY;
            rec.width = (uint32_t)res.width;
            rec.height = (uint32_t)res.height;
            rec.duration = res.duration;
            rec.bytes = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
            snprintf(note, sizeof note, "%s", res.note);
            rec.failure = note;
        } else {
            rec.state = VX_RENDITION_FAILED;
            rec.failure = err.msg;
        }
        rec.work_seconds = vx_now() - t0;
        if (vx_worker_stopping(&m->worker)) { vx_video_clear(&v); return; } /* cancelled: made at the next start */
        if (rec.state == VX_RENDITION_FAILED && refused_by_disk(e, &err)) {
            wait_for_room(m, hash, err.msg);
            vx_video_clear(&v);
            return;
        }
        if (rec.state == VX_RENDITION_READY)
            vx_info("renditions: %s done in %.1f s (%ux%u, %.1f MB)", v.path, rec.work_seconds, rec.width, rec.height,
                    rec.bytes / 1e6);
    }
    if (rec.state == VX_RENDITION_FAILED) vx_warn("renditions: %s: %s", v.path, rec.failure);
    if (put_record(e, &rec) == VX_E_STORAGE) { /* made again once the catalog takes its record */
        wait_for_room(m, hash, "the catalog takes no record");
        vx_video_clear(&v);
        return;
    }
    pthread_mutex_lock(&m->lock);
    if (rec.state == VX_RENDITION_READY) m->made++;
    else if (rec.state == VX_RENDITION_FAILED) m->failed++;
    pthread_mutex_unlock(&m->lock);
    vx_video_clear(&v);
    /* Its video may have gone while it was being made. */
    vx_video still;
    if (find_live(e, hash, &still)) vx_video_clear(&still);
    else forget(m, hash);
}

/* ---- the start: what is owed, what is left over ---------------------------------------- */

typedef struct start_scan {
    vx_renditions *m;
    vx_idmap wanted; /* content hashes that need a rendition (or a probe) */
    uint64_t owed;
} start_scan;

static int scan_video(void *ctx, const vx_video *v) {
    start_scan *s = ctx;
    if (vx_worker_stopping(&s->m->worker)) return 1;
    if (v->status != VX_VIDEO_INDEXED) return 0;
    if (vx_idmap_get(&s->wanted, map_key(v->content_hash), NULL)) return 0;
    if (vx_idmap_put(&s->wanted, map_key(v->content_hash), 1)) return 1;
    vx_rendition r;
    vx_error err;
    vx_path path;
    struct stat sb;
    int have = vx_catalog_get_rendition(s->m->e->cat, v->content_hash, &r, &err);
    /* A file browsers play is owed one only when a browser asked for it. */
    int owed = have != 0 && v->playback != VX_PLAYBACK_DIRECT;
    if (have == 0) {
        /* asked for and not made yet, or the file went: made (again) */
        owed = r.state == VX_RENDITION_REQUESTED ||
               (r.state == VX_RENDITION_READY &&
                (vx_rendition_path(s->m->e, v->content_hash, path, &err) || stat(path, &sb) != 0));
        vx_rendition_clear(&r);
    }
    if (owed) {
        s->owed++;
        vx_renditions_notice(s->m, v->content_hash);
    }
    return 0;
}

static int scan_record(void *ctx, const vx_rendition *r) {
    start_scan *s = ctx;
    if (!vx_idmap_get(&s->wanted, map_key(r->content_hash), NULL)) vx_renditions_forget(s->m, r->content_hash);
    return 0;
}

static void start_scan_run(vx_renditions *m) {
    vx_engine *e = m->e;
    start_scan s = {.m = m};
    vx_error err;
    if (vx_idmap_init(&s.wanted, 1024)) return;
    vx_scan_stats stats = {0};
    if (vx_catalog_scan_videos(e->cat, scan_video, &s, &stats, &err)) vx_warn("renditions: %s", err.msg);
    else if (!vx_worker_stopping(&m->worker)) vx_catalog_scan_renditions(e->cat, scan_record, &s, NULL, &err);
    /* Files: temporary ones from an interrupted run, and renditions nobody needs. */
    vx_path dir, path;
    DIR *d = vx_path_fmt(dir, &err, "%s/media", e->data_dir) ? NULL : opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        uint64_t hash;
        char hex[VX_ID_HEX_LEN];
        const int ours = strlen(de->d_name) == 20 && strcmp(de->d_name + 16, ".mp4") == 0 &&
                         (memcpy(hex, de->d_name, 16), hex[16] = '\0', vx_id_from_hex(hex, &hash) == 0);
        if (vx_path_fmt(path, &err, "%s/%s", dir, de->d_name)) continue;
        if (vx_rendition_is_partial(de->d_name)) {
            if (unlink(path) == 0) vx_info("renditions: removed the unfinished %s", path);
        } else if (ours && !vx_idmap_get(&s.wanted, map_key(hash), NULL)) {
            vx_renditions_forget(m, hash);
        }
    }
    if (d) closedir(d);
    if (s.owed) vx_info("renditions: %llu to make", (unsigned long long)s.owed);
    vx_idmap_free(&s.wanted);
}

/* ---- the thread -------------------------------------------------------------------------- */

/* The lowest priorities Linux has, for this thread and the threads it starts. */
static void lowest_priority(void) {
    const pid_t tid = (pid_t)syscall(SYS_gettid);
    struct sched_param sp = {0};
    if (sched_setscheduler(0, SCHED_IDLE, &sp) != 0) vx_debug("renditions: SCHED_IDLE: %s", strerror(errno));
    setpriority(PRIO_PROCESS, (id_t)tid, 19);
#ifdef SYS_ioprio_set
    /* IOPRIO_WHO_PROCESS = 1 (a thread id), class IOPRIO_CLASS_IDLE = 3 in the top bits. */
    syscall(SYS_ioprio_set, 1, tid, 3 << 13);
#endif
}

static void run(vx_worker *w) {
    vx_renditions *m = w->ctx;
    lowest_priority();
    start_scan_run(m);
    vx_queue_node *node;
    int n;
    while ((n = vx_worker_take(w, &node, 1, m->n_waiting ? fmax(m->look_at - vx_now(), 1e-3) : -1)) >= 0) {
        if (m->n_waiting && vx_now() >= m->look_at) {
            vx_error err;
            if (vx_engine_disk_room(m->e, 0, "renditions", &err) == VX_OK) { /* room again: all queued again */
                vx_info("renditions: the disk has room again; %zu go on", m->n_waiting);
                for (size_t i = 0; i < m->n_waiting; i++) push_task(m, m->waiting[i], TASK_MAKE, 0);
                pthread_mutex_lock(&m->lock);
                m->n_waiting = 0;
                pthread_mutex_unlock(&m->lock);
            } else {
                m->waited_s = vx_engine_disk_backoff(m->waited_s);
                m->look_at = vx_now() + m->waited_s;
            }
        }
        if (n == 0) continue;
        const task *t = (const task *)node;
        pthread_mutex_lock(&m->lock);
        if (t->kind == TASK_MAKE) m->current = t->hash;
        m->done_s = m->total_s = 0;
        pthread_mutex_unlock(&m->lock);
        unmark_queued(m, t->hash, t->kind);
        if (t->kind == TASK_MAKE) make(m, t->hash);
        else forget(m, t->hash);
        /* Pending from its push until its record is written (a count that dipped to 0
         * between the take and the write told a waiting client it was done). */
        pthread_mutex_lock(&m->lock);
        m->current = 0;
        m->outstanding--;
        pthread_mutex_unlock(&m->lock);
        free(node);
    }
}

vx_renditions *vx_renditions_start(vx_engine *e, vx_error *err) {
    vx_renditions *m = calloc(1, sizeof *m);
    if (!m || vx_idmap_init(&m->queued, 64)) {
        free(m);
        vx_fail(err, "out of memory");
        return NULL;
    }
    m->e = e;
    pthread_mutex_init(&m->lock, NULL);
    if (vx_worker_start(&m->worker, "the rendition maker", run, m, INT_MAX, 0, err)) {
        vx_renditions_stop(m);
        return NULL;
    }
    return m;
}

void vx_renditions_stop(vx_renditions *m) {
    if (!m) return;
    /* A rendition being made stops soon and is made at the next start, like those queued
     * (the start's scan finds them owed). */
    for (vx_queue_node *n = vx_worker_stop(&m->worker), *next; n; n = next) {
        next = n->next;
        free(n);
    }
    pthread_mutex_destroy(&m->lock);
    vx_idmap_free(&m->queued);
    free(m->waiting);
    free(m);
}

double vx_renditions_progress(vx_renditions *m, uint64_t content_hash) {
    if (!m) return -1;
    pthread_mutex_lock(&m->lock);
    double p = m->current == content_hash && content_hash
                   ? (m->total_s > 0 ? (m->done_s < m->total_s ? m->done_s / m->total_s : 1) : 0)
                   : -1;
    pthread_mutex_unlock(&m->lock);
    return p;
}

void vx_renditions_counts(vx_renditions *m, int64_t *pending, uint64_t *made, uint64_t *failed) {
    *pending = 0;
    *made = *failed = 0;
    if (!m) return;
    pthread_mutex_lock(&m->lock);
    *pending = m->outstanding + (int64_t)m->n_waiting;
    *made = m->made;
    *failed = m->failed;
    pthread_mutex_unlock(&m->lock);
}
