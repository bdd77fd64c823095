#include "index.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/grow.h"
#include "../common/hash.h"
#include "../common/log.h"
#include "../common/path.h"
#include "../common/vecmath.h"
#include "change.h"
#include "keyframes.h"
#include "neardup.h"
#include "phash.h"
#include "text_sources.h"
#include "thumbs.h"

#define QUEUE_CAP 32

void vx_index_options_default(vx_index_options *o) {
    memset(o, 0, sizeof *o);
    vx_sample_options_default(&o->sample);
    o->segment_seconds = 5.0;
    o->batch = 16;
    o->reuse_frames = 1;
}

void vx_index_options_set(vx_index_options *o, const vx_job_settings *s) {
    if (s->rate) o->sample.rate = s->rate;
    if (s->max_frames) o->sample.max_frames = (int)s->max_frames;
    if (s->timeout_s) o->sample.timeout_s = s->timeout_s;
    if (s->segment_seconds) o->segment_seconds = s->segment_seconds;
}

void vx_index_summary_clear(vx_index_summary *s) {
    for (int i = 0; i < s->n_items; i++) {
        free(s->items[i].path);
        free(s->items[i].message);
    }
    free(s->items);
    memset(s, 0, sizeof *s);
}

/* ---- the files of one run ------------------------------------------------------------ */

typedef enum { TODO_DECODE, TODO_DUPLICATE } todo_kind;

typedef struct file_job {
    char *path;          /* canonical */
    struct stat st;
    uint64_t id, hash;
    int had_record;
    vx_video old;        /* previous record when had_record */
    todo_kind kind;
    uint64_t dup_of;     /* TODO_DUPLICATE: the original's id */
    int dup_of_job;      /* ... or the index of the job in this run that indexes it, else -1 */
    /* filled while decoding and encoding */
    vx_video_info info;
    int decoded;         /* decoder finished with this file */
    int failed;
    char failure[VX_ERROR_MAX];
    int n_frames, n_encoded, cap_frames;
    double *times;       /* [n_frames] */
    int *reuse_of;       /* [n_frames] the earlier frame whose embedding it reuses, or -1 */
    int last_encoded;    /* the latest frame sent to the encoder */
    float *emb;          /* [n_frames * P] */
    vx_rgb_image *thumbs;/* [n_frames] */
    vx_phash *prints;    /* [n_frames] perceptual hashes */
    int finalized;
    int cancelled;       /* left undone: the run was cancelled before its decoding */
    double decode_s;
    vx_video_text text;  /* what is said and written in it (text_sources.h), read after its frames */
    int visual_only;     /* indexed earlier without the model: only its frames are encoded now
                          * (its text, rendition and record otherwise stay as they are) */
} file_job;

typedef struct run {
    vx_catalog *cat;
    const vx_clip *model;  /* NULL: indexed without it, frames waiting (VX_EMBEDDED_PENDING) */
    const vx_index_options *o;
    const char *data_dir;
    vx_index_summary *sum;
    int P, S;
    file_job *jobs;
    int n_jobs;
    vx_meta meta;
    double t0;
    int done_files, total_files;
    vx_dir_listing listing; /* the calling thread's (checking unchanged videos' sidecars) */
    int halted;             /* VX_E_LOG_UNAVAILABLE or VX_E_STORAGE: the store took no change; the run stops */
} run;

/* A change, through the caller's apply. A store that takes no change for now (a log
 * without quorum, a full disk) is not the file's fault: the run stops with that status
 * and records nothing. */
static int run_apply(run *R, const vx_op *op, vx_error *err) {
    const int r = R->o->apply(R->o->apply_ctx, op, err);
    if (r == VX_E_LOG_UNAVAILABLE || r == VX_E_STORAGE) R->halted = r;
    return r;
}

/* Whether the file is still the one a record was made from: its size and modification
 * time, and its inode where the run compares them (one machine) and the record has one. */
static int same_file(const run *R, const vx_video *old, const struct stat *st) {
    const int64_t mtime = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    return old->size == (uint64_t)st->st_size && old->mtime_ns == mtime &&
           (!R->o->same_inode || !old->inode || old->inode == (uint64_t)st->st_ino);
}

static void add_item(run *R, const char *path, uint8_t outcome, const char *message) {
    vx_index_summary *s = R->sum;
    vx_job_item *items = realloc(s->items, (size_t)(s->n_items + 1) * sizeof *items);
    if (!items) return;
    s->items = items;
    items[s->n_items].path = strdup(path);
    items[s->n_items].outcome = outcome;
    items[s->n_items].message = strdup(message ? message : "");
    s->n_items++;
    switch (outcome) {
    case VX_ITEM_INDEXED: s->indexed++; break;
    case VX_ITEM_UNCHANGED: s->unchanged++; break;
    case VX_ITEM_DUPLICATE: s->duplicates++; break;
    case VX_ITEM_FAILED: s->failed++; break;
    case VX_ITEM_REMOVED: s->removed++; break;
    case VX_ITEM_SKIPPED: s->skipped++; break;
    default: break;
    }
    if (R->o->on_item && items[s->n_items - 1].path)
        R->o->on_item(R->o->on_item_ctx, &items[s->n_items - 1], vx_video_id_for_path(path));
}

static int cancelled(const run *R) { return R->o->cancel && atomic_load(R->o->cancel); }

/* Names a folder walk takes: video containers, and containers that hold video or only
 * audio (.ogg, .mka, ...) or usually audio, whose streams then decide (classify):
 * audio-only files are counted as skipped with the reason, never dropped silently. */
static int is_media_name(const char *path) {
    static const char *const exts[] = {".mp4", ".m4v", ".mov", ".mkv",  ".webm", ".avi", ".gif", ".mpg",  ".mpeg",
                                       ".ts",  ".m2ts", ".flv", ".wmv", ".ogv",  ".3gp", ".mts", ".vob",  ".mxf",
                                       ".ogg", ".ogx", ".ogm", ".oga",  ".mka",  ".mp3", ".m4a", ".opus", ".flac",
                                       ".wav", ".aac", ".wma", ".asf",  ".rm",   ".rmvb", ".divx", ".f4v", ".3g2",
                                       NULL};
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return 0;
    for (int i = 0; exts[i]; i++)
        if (strcasecmp(dot, exts[i]) == 0) return 1;
    return 0;
}

typedef struct path_list {
    char **v;
    int n, cap;
} path_list;

static int push_path(path_list *l, const char *p) {
    if (l->n == l->cap) {
        int c = l->cap ? 2 * l->cap : 64;
        char **np = realloc(l->v, (size_t)c * sizeof *np);
        if (!np) return -1;
        l->v = np;
        l->cap = c;
    }
    if (!(l->v[l->n] = strdup(p))) return -1;
    l->n++;
    return 0;
}

static void free_paths(path_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    *l = (path_list){0};
}

/* What the paths of a run name (gather). */
typedef struct gathered {
    path_list files;   /* media files, canonical */
    path_list roots;   /* folders walked, canonical */
    path_list missing; /* absolute paths that do not exist (removals) */
    path_list refused, why; /* paths not taken (links, places that are never media), each with its reason */
    const vx_index_options *o;
    const char *data_dir;   /* canonical */
    int oom;
} gathered;

static int inside_media_roots(const vx_index_options *o, const char *real) {
    for (int i = 0; i < o->n_media_roots; i++)
        if (vx_path_within(real, o->media_roots[i])) return 1;
    return 0;
}

/* Why a canonical path may not be media, or NULL when it may. */
static const char *never_media(const gathered *g, const char *real, char *buf, size_t size) {
    const char *sys = vx_path_system_folder(real);
    if (sys) return snprintf(buf, size, "in the system folder %s: never media", sys), buf;
    if (g->data_dir && vx_path_within(real, g->data_dir)) return "in vidx's data folder: never media";
    if (g->o->n_media_roots && !inside_media_roots(g->o, real))
        return "outside the media roots (vidx serve --media-root): not indexed";
    return NULL;
}

static void refuse(gathered *g, const char *path, const char *why) {
    if (push_path(&g->refused, path) || push_path(&g->why, why)) g->oom = 1;
}

/* The walk's state (nftw has no context pointer). */
static __thread gathered *walking;

/* A symbolic link met in a folder: followed only to a media file inside the media roots;
 * else skipped, saying why, when its name is a media file's. */
static void visit_link(gathered *g, const char *path) {
    if (!is_media_name(path)) return;
    char real[PATH_MAX], buf[160];
    struct stat sb;
    if (!g->o->n_media_roots) {
        refuse(g, path, "a symbolic link: not followed (vidx serve --media-root DIR follows links that stay inside DIR)");
        return;
    }
    if (!realpath(path, real) || stat(real, &sb) != 0) { refuse(g, path, "a symbolic link to nothing"); return; }
    const char *why = never_media(g, real, buf, sizeof buf);
    if (why) { refuse(g, path, "a symbolic link to outside the media roots: not followed"); return; }
    if (!S_ISREG(sb.st_mode) || !is_media_name(real)) { refuse(g, path, "a symbolic link to no media file"); return; }
    if (push_path(&g->files, real)) g->oom = 1;
}

static int walk_visit(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)ftw;
    gathered *g = walking;
    char buf[160];
    if (flag == FTW_SL) {
        visit_link(g, path);
    } else if (flag == FTW_F && S_ISREG(sb->st_mode) && is_media_name(path)) {
        const char *why = never_media(g, path, buf, sizeof buf);
        if (why) refuse(g, path, why);
        else if (push_path(&g->files, path)) g->oom = 1;
    } else if (flag == FTW_D && g->data_dir && strcmp(path, g->data_dir) == 0) {
        return FTW_SKIP_SUBTREE; /* the data folder inside a library: its renditions are not videos */
    }
    return g->oom ? -1 : FTW_CONTINUE;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Absolute form of a path that may no longer exist (no symlink resolution). */
static int absolute(const char *p, vx_path out, vx_error *err) {
    if (p[0] == '/') return vx_path_fmt(out, err, "%s", p);
    vx_path cwd;
    if (!getcwd(cwd, sizeof cwd)) cwd[0] = '\0';
    return vx_path_fmt(out, err, "%s/%s", cwd, p);
}

static void gathered_free(gathered *g) {
    free_paths(&g->files);
    free_paths(&g->roots);
    free_paths(&g->missing);
    free_paths(&g->refused);
    free_paths(&g->why);
}

/* The files that paths name: files as they are, media files under folders (walked);
 * the folders walked and the absolute paths that do not exist. Paths are canonical
 * (symbolic links resolved). Places that are never media are refused, with reasons. */
static int gather(const char *const *paths, int n_paths, gathered *g, vx_error *err) {
    char buf[160];
    for (int i = 0; i < n_paths; i++) {
        char real[PATH_MAX];
        vx_path abs;
        struct stat sb;
        if (stat(paths[i], &sb) != 0 || !realpath(paths[i], real)) {
            if (absolute(paths[i], abs, err)) return -1;
            if (push_path(&g->missing, abs)) return vx_fail(err, "out of memory");
            continue;
        }
        const char *why = never_media(g, real, buf, sizeof buf);
        if (why) {
            refuse(g, paths[i], why);
        } else if (S_ISDIR(sb.st_mode)) { /* (a folder holding the data folder is walked around it) */
            if (push_path(&g->roots, real)) return vx_fail(err, "out of memory");
            walking = g;
            nftw(real, walk_visit, 32, FTW_PHYS | FTW_ACTIONRETVAL);
            walking = NULL;
        } else if (push_path(&g->files, real)) {
            return vx_fail(err, "out of memory");
        }
        if (g->oom) return vx_fail(err, "out of memory");
    }
    return 0;
}

/* ---- removals ------------------------------------------------------------------------ */

typedef struct removal_scan {
    char **roots;
    int n_roots;
    vx_video *gone;
    int n_gone;
    size_t cap_gone;
} removal_scan;

static int find_gone(void *ctx, const vx_video *v) {
    removal_scan *r = ctx;
    if (v->status == VX_VIDEO_REMOVED) return 0;
    for (int i = 0; i < r->n_roots; i++) {
        size_t n = strlen(r->roots[i]);
        int under = strncmp(v->path, r->roots[i], n) == 0 && (v->path[n] == '/' || v->path[n] == '\0');
        struct stat sb;
        if (!under || stat(v->path, &sb) == 0) continue;
        if (VX_GROW(r->gone, r->cap_gone, (size_t)r->n_gone + 1)) return 1;
        vx_video *c = &r->gone[r->n_gone++];
        *c = *v;
        c->path = strdup(v->path);
        c->title = strdup(v->title);
        c->failure = strdup(v->failure);
        c->playback_note = strdup(v->playback_note ? v->playback_note : "");
        break;
    }
    return 0;
}

static int mark_removed(run *R, vx_video *v, vx_error *err) {
    vx_op op = {.kind = VX_OP_VIDEO_REMOVED, .video = *v};
    op.video.status = VX_VIDEO_REMOVED; /* kept so events about it stay meaningful */
    op.video.n_segments = 0;
    op.video.updated_at = (int64_t)time(NULL);
    int r = run_apply(R, &op, err);
    if (r == 0) add_item(R, v->path, VX_ITEM_REMOVED, "");
    return r;
}

/* ---- text ---------------------------------------------------------------------------- */

/* Applies a video's text read from its files; message gets what was skipped ("text: ..."). */
static int commit_text(run *R, const vx_video_text *t, char *message, size_t size, vx_error *err) {
    vx_op op = {.kind = VX_OP_TEXT, .text = *t};
    int r = run_apply(R, &op, err);
    if (r == 0) {
        R->sum->text_entries += t->n_entries;
        if (t->notes && *t->notes) snprintf(message, size, "text: %s", t->notes);
    }
    return r;
}

/* An unchanged video's text is read again when it has none yet (indexed before vidx
 * read text, or a crash between its two ops) or its sidecars changed: the frames are
 * not decoded again. 1 when re-read (message says so), 0 when current, else the apply's
 * error. */
static int refresh_text(run *R, const vx_video *v, char *message, size_t size, vx_error *err) {
    if (v->status != VX_VIDEO_INDEXED || v->duplicate_of) return 0;
    vx_video_text held;
    int r = vx_catalog_get_text(R->cat, v->id, VX_TEXT_FILES, &held, err);
    if (r < 0) vx_warn("%s; reading the text again", err->msg);
    const int stale = r != 0 || vx_video_text_stale(v->path, &held, &R->listing);
    if (r == 0) vx_video_text_clear(&held);
    if (!stale) return 0;
    vx_video_text t;
    if (vx_read_video_text(v->path, v->id, v->duration, &R->listing, &t, err)) return -1;
    char notes[VX_MAX_TEXT + 16] = "";
    r = commit_text(R, &t, notes, sizeof notes, err);
    vx_video_text_clear(&t);
    if (r) return r;
    R->sum->text_refreshed++;
    snprintf(message, size, "text read again, frames unchanged%s%s", notes[0] ? "; " : "", notes);
    return 1;
}

/* ---- classification ------------------------------------------------------------------ */

struct first_id { uint64_t id; };

static int pick_original(void *ctx, uint64_t id) {
    struct first_id *f = ctx;
    f->id = id;
    return 1;
}

/* An indexed original (not itself a duplicate, file still there) with this content. */
static uint64_t find_original(run *R, uint64_t hash, uint64_t except) {
    struct first_id f = {0};
    vx_error err;
    if (vx_catalog_scan_content(R->cat, hash, pick_original, &f, &err) || !f.id || f.id == except) return 0;
    vx_video v;
    if (vx_catalog_get_video(R->cat, f.id, &v, &err) != 0) return 0;
    struct stat sb;
    uint64_t id = (v.status == VX_VIDEO_INDEXED && !v.duplicate_of && stat(v.path, &sb) == 0) ? v.id : 0;
    vx_video_clear(&v);
    return id;
}

/* Decides what to do with one file. Returns 1 when it needs work (added to jobs), 0
 * when it is settled (unchanged, recorded in the summary), -1 on catalog errors. */
static int classify(run *R, const char *path, vx_error *err) {
    file_job j;
    memset(&j, 0, sizeof j);
    j.dup_of_job = -1;
    if (stat(path, &j.st) != 0 || !S_ISREG(j.st.st_mode)) {
        add_item(R, path, VX_ITEM_FAILED, "not a readable regular file");
        return 0;
    }
    if (access(path, R_OK) != 0) {
        add_item(R, path, VX_ITEM_FAILED, "permission denied");
        return 0;
    }
    j.id = vx_video_id_for_path(path);
    int r = vx_catalog_get_video(R->cat, j.id, &j.old, err);
    if (r < 0) {
        /* A corrupt record is replaced by indexing the file again. */
        vx_warn("%s; indexing %s again", err->msg, path);
        r = 1;
    }
    j.had_record = r == 0;
    const int64_t mtime = (int64_t)j.st.st_mtim.tv_sec * 1000000000 + j.st.st_mtim.tv_nsec;
    int orig_ok = 1;
    if (j.had_record && j.old.duplicate_of) {
        vx_video o;
        int found = vx_catalog_get_video(R->cat, j.old.duplicate_of, &o, err) == 0;
        orig_ok = found && o.status == VX_VIDEO_INDEXED;
        if (found) vx_video_clear(&o);
    }
    if (j.had_record && j.old.status != VX_VIDEO_REMOVED && orig_ok && same_file(R, &j.old, &j.st) && R->model &&
        vx_video_pending(&j.old)) {
        vx_video_clear(&j.old);
        return 0; /* unchanged, its frames waiting: add_pending encodes them */
    }
    if (j.had_record && j.old.status != VX_VIDEO_REMOVED && orig_ok && same_file(R, &j.old, &j.st)) {
        char message[2 * VX_MAX_TEXT] = "";
        r = refresh_text(R, &j.old, message, sizeof message, err);
        add_item(R, path, VX_ITEM_UNCHANGED, j.old.status == VX_VIDEO_FAILED ? j.old.failure : message);
        vx_video_clear(&j.old);
        return r < 0 ? r : 0;
    }
    /* New or changed: is it a video at all? (Read from its streams, before hashing it.)
     * Media without a video stream is skipped; what FFmpeg cannot open goes on to fail
     * in the decoder, with its reason, like any broken video. */
    vx_error perr;
    if (vx_probe_video(path, &perr) == 0) {
        if (j.had_record && j.old.status != VX_VIDEO_REMOVED) {
            /* It was a video and is not any more: what it had goes. */
            r = mark_removed(R, &j.old, err);
        } else {
            add_item(R, path, VX_ITEM_SKIPPED, perr.msg);
            r = 0;
        }
        if (j.had_record) vx_video_clear(&j.old);
        return r;
    }
    vx_error herr;
    if (vx_hash_file(path, &j.hash, &herr)) {
        add_item(R, path, VX_ITEM_FAILED, herr.msg);
        vx_video_clear(&j.old);
        return 0;
    }
    if (j.had_record && j.old.status != VX_VIDEO_REMOVED && orig_ok && j.old.content_hash == j.hash &&
        j.old.size == (uint64_t)j.st.st_size && !(R->model && vx_video_pending(&j.old))) {
        /* Touched, not changed (or the same bytes in another file): note the new mtime
         * and inode, keep everything else. */
        j.old.mtime_ns = mtime;
        j.old.inode = (uint64_t)j.st.st_ino;
        j.old.updated_at = (int64_t)time(NULL);
        vx_op op = {.kind = VX_OP_VIDEO_TOUCHED, .video = j.old};
        r = run_apply(R, &op, err);
        char message[2 * VX_MAX_TEXT] = "";
        if (r == 0) r = refresh_text(R, &j.old, message, sizeof message, err);
        add_item(R, path, VX_ITEM_UNCHANGED, j.old.status == VX_VIDEO_FAILED ? j.old.failure : message);
        vx_video_clear(&j.old);
        return r < 0 ? r : 0;
    }
    j.path = strdup(path);
    j.kind = TODO_DECODE;
    if ((j.dup_of = find_original(R, j.hash, j.id))) j.kind = TODO_DUPLICATE;
    else
        for (int i = 0; i < R->n_jobs; i++)
            if (R->jobs[i].kind == TODO_DECODE && R->jobs[i].hash == j.hash) {
                j.kind = TODO_DUPLICATE;
                j.dup_of_job = i;
                break;
            }
    file_job *jobs = realloc(R->jobs, (size_t)(R->n_jobs + 1) * sizeof *jobs);
    if (!jobs || !j.path) return vx_fail(err, "out of memory");
    R->jobs = jobs;
    R->jobs[R->n_jobs++] = j;
    return 1;
}

typedef struct pending_scan {
    path_list paths;
    int max;
} pending_scan;

static int collect_pending(void *ctx, const vx_video *v) {
    pending_scan *p = ctx;
    if (!vx_video_pending(v)) return 0;
    if (p->max && p->paths.n == p->max) return 1; /* enough */
    if (push_path(&p->paths, v->path)) {
        p->max = -1; /* out of memory */
        return 1;
    }
    return 0;
}

int vx_index_pending_paths(vx_catalog *cat, int max, char ***out, int *n_out, vx_error *err) {
    pending_scan p = {.max = max};
    *out = NULL;
    *n_out = 0;
    if (vx_catalog_scan_videos(cat, collect_pending, &p, NULL, err) || p.max < 0) {
        if (p.max < 0) vx_fail(err, "out of memory");
        free_paths(&p.paths);
        return -1;
    }
    *out = p.paths.v;
    *n_out = p.paths.n;
    return 0;
}

/* Every video indexed without the model whose file is as it was then: a job that
 * encodes its frames (and keeps the rest). Called once the named paths are classified,
 * so a pending video whose file changed is indexed again whole instead. */
static int add_pending(run *R, vx_error *err) {
    char **paths;
    int n, rc = -1;
    if (vx_index_pending_paths(R->cat, 0, &paths, &n, err)) return -1;
    for (int i = 0; i < n; i++) {
        if (cancelled(R)) break;
        const uint64_t id = vx_video_id_for_path(paths[i]);
        int queued = 0;
        for (int k = 0; k < R->n_jobs && !queued; k++) queued = R->jobs[k].id == id;
        if (queued) continue;
        file_job j;
        memset(&j, 0, sizeof j);
        j.dup_of_job = -1;
        int r = vx_catalog_get_video(R->cat, id, &j.old, err);
        if (r < 0) goto done;
        if (r) continue;
        if (stat(j.old.path, &j.st) != 0 || !S_ISREG(j.st.st_mode) || !same_file(R, &j.old, &j.st) ||
            !vx_video_pending(&j.old)) {
            vx_video_clear(&j.old); /* gone or changed: indexed whole when its path is named */
            continue;
        }
        j.had_record = 1;
        j.path = strdup(j.old.path);
        j.id = j.old.id;
        j.hash = j.old.content_hash;
        j.kind = TODO_DECODE;
        j.visual_only = 1;
        file_job *jobs = realloc(R->jobs, (size_t)(R->n_jobs + 1) * sizeof *jobs);
        if (!jobs || !j.path) {
            free(j.path);
            vx_video_clear(&j.old);
            vx_fail(err, "out of memory");
            goto done;
        }
        R->jobs = jobs;
        R->jobs[R->n_jobs++] = j;
    }
    rc = 0;
done:
    free_paths(&(path_list){.v = paths, .n = n});
    return rc;
}

/* ---- decoding thread ----------------------------------------------------------------- */

typedef struct frame_item {
    int job;        /* index into jobs; -1 marks the end of everything */
    int end_of_file;
    int reuse;      /* same picture as the file's last encoded frame: no pixels */
    double t;
    float *pixels;  /* [3 * S * S], owned */
    vx_rgb_image thumb;
    vx_phash print; /* of the whole frame */
} frame_item;

typedef struct queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    frame_item items[QUEUE_CAP];
    int head, count;
} queue;

static void q_push(queue *q, frame_item it) {
    pthread_mutex_lock(&q->mu);
    while (q->count == QUEUE_CAP) pthread_cond_wait(&q->not_full, &q->mu);
    q->items[(q->head + q->count) % QUEUE_CAP] = it;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

/* Pops one item; with wait unset returns 0 when the queue is empty. */
static int q_pop(queue *q, frame_item *out, int wait) {
    pthread_mutex_lock(&q->mu);
    while (wait && q->count == 0) pthread_cond_wait(&q->not_empty, &q->mu);
    int got = q->count > 0;
    if (got) {
        *out = q->items[q->head];
        q->head = (q->head + 1) % QUEUE_CAP;
        q->count--;
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->mu);
    return got;
}

typedef struct decoder {
    run *R;
    queue *q;
    int job;
    double busy;      /* wall seconds working (not waiting on the queue) */
    double cpu;       /* CPU seconds of the thread */
    vx_frame_sig last; /* of the current file's last frame sent to the encoder */
    int have_last;
    vx_error frame_err;
    int frame_failed;
    vx_dir_listing listing; /* the folder of the last file whose sidecars were read */
} decoder;

static int on_frame(void *ctx, const vx_rgb_image *frame, double t) {
    decoder *d = ctx;
    frame_item it = {.job = d->job, .t = t};
    vx_rgb_image resized = {0};
    vx_phash_frame(frame, &it.print);
    it.pixels = malloc((size_t)3 * d->R->S * d->R->S * sizeof(float));
    /* The thumbnail comes from the model-sized copy: a small resize, not a second one
     * from the full frame. */
    int bad = !it.pixels || vx_image_preprocess_keep(frame, d->R->S, it.pixels, &resized, &d->frame_err) ||
              vx_thumb_from_frame(&resized, &it.thumb, &d->frame_err);
    if (!bad && d->R->o->reuse_frames) {
        /* Decided here, before the encoder: an unchanged picture is not encoded again. */
        vx_frame_sig sig;
        vx_frame_signature(&resized, &sig);
        if (d->have_last && vx_frame_same(&d->last, &sig)) {
            it.reuse = 1;
            free(it.pixels);
            it.pixels = NULL;
        } else {
            d->last = sig;
            d->have_last = 1;
        }
    }
    vx_rgb_free(&resized);
    if (bad) {
        free(it.pixels);
        d->frame_failed = 1;
        return 1;
    }
    /* Time spent blocked on a full queue is the encoder's, not decoding. */
    d->busy += vx_now();
    q_push(d->q, it);
    d->busy -= vx_now();
    return 0;
}

static void *decode_all(void *p) {
    decoder *d = p;
    run *R = d->R;
    for (int i = 0; i < R->n_jobs; i++) {
        file_job *j = &R->jobs[i];
        if (j->kind != TODO_DECODE) continue;
        if (cancelled(R)) {
            j->cancelled = 1;
            q_push(d->q, (frame_item){.job = i, .end_of_file = 1});
            continue;
        }
        d->job = i;
        d->frame_failed = 0;
        d->have_last = 0;
        vx_error err;
        double t0 = vx_now();
        d->busy -= t0;
        int r = vx_sample_video(j->path, &R->o->sample, &j->info, on_frame, d, NULL, &err);
        d->busy += vx_now();
        j->decode_s = vx_now() - t0;
        /* The encoder thread reads failed/failure only after the end-of-file item. */
        /* Its text too, on this thread (a pass over the file's subtitle packets). */
        if (r == 0 && !d->frame_failed && !j->visual_only &&
            vx_read_video_text(j->path, j->id, j->info.duration, &d->listing, &j->text, &err))
            r = -1;
        if (d->frame_failed) { j->failed = 1; snprintf(j->failure, sizeof j->failure, "%s", d->frame_err.msg); }
        else if (r) {
            j->failed = 1;
            /* Messages start with the path; the summary names the file already. */
            const char *msg = err.msg;
            size_t n = strlen(j->path);
            if (strncmp(msg, j->path, n) == 0 && msg[n] == ':') msg += n + 2;
            snprintf(j->failure, sizeof j->failure, "%s", msg);
        }
        q_push(d->q, (frame_item){.job = i, .end_of_file = 1});
    }
    q_push(d->q, (frame_item){.job = -1});
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    d->cpu = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    return NULL;
}

/* ---- encoding and committing --------------------------------------------------------- */

static void free_frames(file_job *j) {
    for (int i = 0; i < j->n_frames; i++) vx_rgb_free(&j->thumbs[i]);
    free(j->thumbs);
    free(j->times);
    free(j->reuse_of);
    free(j->emb);
    free(j->prints);
    j->prints = NULL;
    j->thumbs = NULL;
    j->times = NULL;
    j->reuse_of = NULL;
    j->emb = NULL;
    j->n_frames = j->cap_frames = 0;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* A failed file: its record says why, and whatever it had before goes. */
static int commit_failure(run *R, file_job *j, vx_error *err) {
    int64_t now = (int64_t)time(NULL);
    vx_op op = {.kind = VX_OP_VIDEO};
    vx_video *v = &op.video;
    v->id = j->id;
    v->content_hash = j->hash;
    v->size = (uint64_t)j->st.st_size;
    v->mtime_ns = (int64_t)j->st.st_mtim.tv_sec * 1000000000 + j->st.st_mtim.tv_nsec;
    v->inode = (uint64_t)j->st.st_ino;
    v->status = VX_VIDEO_FAILED;
    v->created_at = j->had_record ? j->old.created_at : now;
    v->updated_at = now;
    v->path = j->path;
    v->title = (char *)base_name(j->path);
    v->failure = j->failure;
    int r = run_apply(R, &op, err);
    add_item(R, j->path, VX_ITEM_FAILED, j->failure);
    return r;
}

/* Adds a thumbnail (JPEG bytes) to the op. */
static int add_thumb(vx_op *op, const vx_rgb_image *img, int segment, vx_error *err) {
    uint8_t *jpeg;
    size_t len;
    if (vx_encode_jpeg(img, &jpeg, &len, err)) return -1;
    op->thumbs[op->n_thumbs++] = (vx_op_thumb){.segment = segment, .len = (uint32_t)len, .jpeg = jpeg};
    return 0;
}

/* The frame of [from, to) nearest centre: the thumbnail of a segment or of the video.
 * Frames that show nothing (nearly uniform: a black intro, a fade) only when all do, so a
 * card does not show a black picture of a video that has others. */
static int representative(const file_job *j, int from, int to, const float *centre, int P) {
    int best = -1;
    float best_score = 0;
    for (int pass = 0; pass < 2 && best < 0; pass++)
        for (int k = from; k < to; k++) {
            if (pass == 0 && j->prints[k].flat) continue;
            const float score = vx_dot(j->emb + (size_t)k * P, centre, (size_t)P);
            if (best < 0 || score > best_score) { best = k; best_score = score; }
        }
    return best;
}

/* Segments, pooled embeddings and thumbnails of a file whose frames are all encoded,
 * applied as one op (one atomic catalog write after the thumbnails are on disk). Without
 * the model: its frame hashes and a thumbnail (the middle frame), no segments, marked
 * VX_EMBEDDED_PENDING. */
static int commit_video(run *R, file_job *j, vx_error *err) {
    const int P = R->P, n = j->n_frames, encoded = R->model != NULL;
    const double duration = j->info.duration;
    /* Unchanged frames take the embedding of the frame they repeat (encoded earlier). */
    for (int f = 0; f < n; f++)
        if (j->reuse_of[f] >= 0)
            memcpy(j->emb + (size_t)f * P, j->emb + (size_t)j->reuse_of[f] * P, (size_t)P * sizeof(float));
    /* Windows at least as long as the sampling interval, so each holds a frame. */
    double interval = j->n_frames > 1 ? (j->times[n - 1] - j->times[0]) / (n - 1) : 0;
    double L = R->o->segment_seconds > interval ? R->o->segment_seconds : interval * 1.0001;
    if (L <= 0) L = 5;
    int rc = -1, n_seg = 0;
    vx_op op = {.kind = VX_OP_VIDEO};
    vx_frame_print *frames = NULL;
    uint32_t keyframes[VX_KEYFRAMES_MAX];
    float *mean = calloc((size_t)P + 1, sizeof *mean);
    /* At most one segment per frame, and one thumbnail per segment plus the video's and
     * the key frames'. */
    vx_segment *segs = calloc((size_t)n, sizeof *segs);
    op.thumbs = calloc((size_t)n + 1 + VX_KEYFRAMES_MAX, sizeof *op.thumbs);
    if (!mean || !segs || !op.thumbs) { vx_fail(err, "out of memory"); goto done; }
    if (!encoded) { /* the frame nearest the middle that shows something */
        int pick = n / 2;
        for (int d = 0; d < n && j->prints[pick].flat; d++) {
            if (n / 2 + d < n && !j->prints[n / 2 + d].flat) pick = n / 2 + d;
            else if (n / 2 - d >= 0 && !j->prints[n / 2 - d].flat) pick = n / 2 - d;
        }
        if (add_thumb(&op, &j->thumbs[pick], -1, err)) goto done;
        goto frames;
    }
    for (int f = 0; f < n; f++)
        for (int i = 0; i < P; i++) mean[i] += j->emb[(size_t)f * P + i];
    vx_normalize(mean, (size_t)P);
    for (int f = 0; f < n;) {
        if (n_seg == VX_OP_MAX_SEGMENTS) { vx_fail(err, "more than %d segments", VX_OP_MAX_SEGMENTS); goto done; }
        /* The window that holds frame f, and every later frame inside it. */
        const long w = (long)floor(j->times[f] / L);
        int g = f;
        float *seg = calloc((size_t)P, sizeof *seg);
        if (!seg) { vx_fail(err, "out of memory"); goto done; }
        segs[n_seg].embedding = seg;
        while (g < n && (long)floor(j->times[g] / L) == w) {
            for (int i = 0; i < P; i++) seg[i] += j->emb[(size_t)g * P + i];
            g++;
        }
        vx_normalize(seg, (size_t)P);
        const int best = representative(j, f, g, seg, P);
        if (add_thumb(&op, &j->thumbs[best], n_seg, err)) goto done;
        double start = (double)w * L, end = start + L;
        if (duration > 0 && end > duration) end = duration;
        if (duration <= 0) start = end = 0; /* a single picture */
        if (end < start) end = start;
        segs[n_seg].start = start;
        segs[n_seg].end = end;
        segs[n_seg].n_frames = (uint32_t)(g - f);
        segs[n_seg].dim = (uint32_t)P;
        n_seg++;
        f = g;
    }
    if (add_thumb(&op, &j->thumbs[representative(j, 0, n, mean, P)], -1, err)) goto done;
frames:
    /* What the frames looked like (model-independent hashes) and the key frames. */
    if (!(frames = calloc((size_t)n, sizeof *frames))) { vx_fail(err, "out of memory"); goto done; }
    for (int f = 0; f < n; f++)
        frames[f] = (vx_frame_print){.t = (float)j->times[f], .flat = (uint8_t)j->prints[f].flat,
                                     .phash = j->prints[f].flat ? 0 : j->prints[f].bits};
    /* Times must not decrease in the record (a sampler's rounding could). */
    for (int f = 1; f < n; f++)
        if (frames[f].t < frames[f - 1].t) frames[f].t = frames[f - 1].t;
    int picks[VX_KEYFRAMES_MAX];
    const int n_keys = encoded ? vx_pick_keyframes(j->emb, n, P, VX_KEYFRAMES_DEFAULT, VX_KEYFRAMES_MIN_DISTANCE, picks) : 0;
    for (int i = 0; i < n_keys; i++) {
        keyframes[i] = (uint32_t)picks[i];
        if (add_thumb(&op, &j->thumbs[picks[i]], VX_THUMB_KEYFRAME(i), err)) goto done;
    }
    op.frames = (vx_video_frames){.id = j->id, .n = (uint32_t)n, .frames = frames, .n_keyframes = (uint32_t)n_keys,
                                  .keyframes = keyframes};
    /* A re-upload of a video already indexed? */
    vx_neardup dup;
    int nd = vx_find_near_duplicate(R->cat, j->id, frames, n, encoded ? j->emb : NULL, P, &dup, err);
    if (nd < 0) goto done;

    int64_t now = (int64_t)time(NULL);
    op.video = (vx_video){
        .id = j->id, .content_hash = j->hash, .size = (uint64_t)j->st.st_size,
        .mtime_ns = (int64_t)j->st.st_mtim.tv_sec * 1000000000 + j->st.st_mtim.tv_nsec, .inode = (uint64_t)j->st.st_ino,
        .duration = duration, .fps = j->info.fps, .width = (uint32_t)j->info.width, .height = (uint32_t)j->info.height,
        .status = VX_VIDEO_INDEXED, .n_segments = (uint32_t)n_seg, .duplicate_of = 0,
        .created_at = j->had_record ? j->old.created_at : now, .updated_at = now,
        .path = j->path, .title = j->info.title[0] ? j->info.title : (char *)base_name(j->path), .failure = "",
        .playback = (uint8_t)j->info.playback, .playback_note = j->info.playback_note,
        .precision = (uint8_t)(encoded ? vx_clip_precision(R->model) + 1 : VX_EMBEDDED_PENDING),
        .near_duplicate_of = nd ? dup.original : 0,
    };
    if (j->visual_only) { /* what was decided without the model stays */
        op.video.created_at = j->old.created_at;
        op.video.title = j->old.title;
    }
    if (encoded) {
        op.embedding = (vx_embedding){.dim = (uint32_t)P, .v = mean};
        op.segments = segs;
    }
    if ((rc = run_apply(R, &op, err)) != 0) goto done; /* VX_E_LOG_UNAVAILABLE passes up */
    R->sum->video_seconds += duration;
    if (!encoded) R->sum->visual_pending++;
    if (j->visual_only) {
        R->sum->visual_encoded++;
        add_item(R, j->path, VX_ITEM_INDEXED, "frames encoded (they waited for the model)");
        rc = 0;
        goto done;
    }
    /* Then its text (a crash in between leaves a video without a text record, which
     * the next run reads: see refresh_text). */
    char message[VX_MAX_TEXT + 16] = "", text_note[VX_MAX_TEXT + 16] = "";
    if ((rc = commit_text(R, &j->text, text_note, sizeof text_note, err)) != 0) goto done;
    if (nd) {
        char hex[VX_ID_HEX_LEN];
        vx_id_to_hex(dup.original, hex);
        snprintf(message, sizeof message, "near-duplicate of %s (%d of %d frames match, offset %+.1f s)%s%s", hex,
                 dup.matched, dup.overlap, dup.offset, text_note[0] ? "; " : "", text_note);
    } else {
        snprintf(message, sizeof message, "%s", text_note);
    }
    add_item(R, j->path, VX_ITEM_INDEXED, message);
    rc = 0;
done:
    for (uint32_t i = 0; op.thumbs && i < op.n_thumbs; i++) free(op.thumbs[i].jpeg);
    free(op.thumbs);
    for (int i = 0; segs && i < n; i++) free(segs[i].embedding);
    free(segs);
    free(mean);
    free(frames);
    return rc;
}

static void progress(run *R, const char *current) {
    if (!R->o->progress) return;
    double el = vx_now() - R->t0;
    double fps = el > 0 ? (double)R->sum->frames / el : 0;
    int left = R->total_files - R->done_files;
    char eta[32] = "--:--"; /* unknown until a file is done */
    if (R->done_files > 0) {
        double e = el / R->done_files * left;
        snprintf(eta, sizeof eta, "%d:%02d", (int)e / 60, (int)e % 60);
    }
    fprintf(stderr, "\r\033[K[%d/%d] %5.1f frames/s  ETA %s  %.60s", R->done_files, R->total_files, fps, eta,
            current ? base_name(current) : "");
    fflush(stderr);
}

/* Encodes the pending frames and commits every file that is complete. */
typedef struct pending {
    float *pixels;     /* [batch * 3 * S * S] */
    int *job, *slot;   /* [batch] */
    int n;
    float *out;        /* [batch * P] */
} pending;

static int flush(run *R, vx_clip_ctx *ctx, pending *pd, vx_error *err) {
    if (pd->n > 0) {
        double t0 = vx_now();
        if (vx_clip_encode_images(ctx, pd->pixels, pd->n, pd->out, err)) return -1;
        R->sum->encode_seconds += vx_now() - t0;
        R->sum->frames += pd->n;
        for (int i = 0; i < pd->n; i++) {
            file_job *j = &R->jobs[pd->job[i]];
            memcpy(j->emb + (size_t)pd->slot[i] * R->P, pd->out + (size_t)i * R->P, (size_t)R->P * sizeof(float));
            j->n_encoded++;
        }
        /* Redrawn per batch too, so a long video shows frames/s while it runs. */
        progress(R, R->jobs[pd->job[pd->n - 1]].path);
        pd->n = 0;
    }
    for (int i = 0; i < R->n_jobs; i++) {
        file_job *j = &R->jobs[i];
        if (j->kind != TODO_DECODE || !j->decoded || j->finalized || j->n_encoded < j->n_frames) continue;
        j->finalized = 1;
        R->done_files++;
        if (j->cancelled) {
            R->sum->cancelled++;
            continue;
        }
        if (j->failed && j->visual_only) { /* its record, text and thumbnail stay as they were */
            char why[VX_ERROR_MAX + 64];
            snprintf(why, sizeof why, "frames not encoded: %s", j->failure);
            add_item(R, j->path, VX_ITEM_FAILED, why);
            free_frames(j);
            progress(R, j->path);
            continue;
        }
        int r = j->failed ? commit_failure(R, j, err) : commit_video(R, j, err);
        if (R->halted) { /* not the file's fault: nothing is recorded, the run stops */
            vx_info("not indexed %s: %s", j->path, err->msg);
            free_frames(j);
            return -1;
        }
        if (r && !j->failed) {
            /* A commit that fails (disk full...) fails this file, not the run. */
            j->failed = 1;
            snprintf(j->failure, sizeof j->failure, "%s", err->msg);
            r = commit_failure(R, j, err);
        }
        if (R->o->log_files)
            vx_info("%s %s%s%s (%d frames, %.1f s decoding)", j->failed ? "failed" : "indexed", j->path,
                    j->failed ? ": " : "", j->failed ? j->failure : "", j->n_frames, j->decode_s);
        free_frames(j);
        progress(R, j->path);
        if (r) return -1;
    }
    return 0;
}

static int add_frame(run *R, file_job *j, frame_item *it, pending *pd, vx_clip_ctx *ctx, vx_error *err) {
    if (j->n_frames == j->cap_frames) {
        int cap = j->cap_frames ? 2 * j->cap_frames : 16;
        double *t = realloc(j->times, (size_t)cap * sizeof *t);
        if (t) j->times = t;
        int *ro = realloc(j->reuse_of, (size_t)cap * sizeof *ro);
        if (ro) j->reuse_of = ro;
        float *e = realloc(j->emb, ((size_t)cap * R->P + 1) * sizeof *e);
        if (e) j->emb = e;
        vx_rgb_image *th = realloc(j->thumbs, (size_t)cap * sizeof *th);
        if (th) j->thumbs = th;
        vx_phash *pr = realloc(j->prints, (size_t)cap * sizeof *pr);
        if (pr) j->prints = pr;
        if (!t || !ro || !e || !th || !pr) return vx_fail(err, "out of memory");
        j->cap_frames = cap;
    }
    const size_t image = (size_t)3 * R->S * R->S;
    j->times[j->n_frames] = it->t;
    j->thumbs[j->n_frames] = it->thumb;
    j->prints[j->n_frames] = it->print;
    R->sum->frames_sampled++;
    if (!R->model) { /* nothing to encode: its hash and thumbnail are all it gives */
        free(it->pixels);
        j->reuse_of[j->n_frames++] = -1;
        j->n_encoded++;
        return 0;
    }
    if (it->reuse) {
        /* The decoder compared it with the file's last encoded frame; nothing to encode. */
        j->reuse_of[j->n_frames++] = j->last_encoded;
        j->n_encoded++;
        return 0;
    }
    j->reuse_of[j->n_frames] = -1;
    j->last_encoded = j->n_frames;
    memcpy(pd->pixels + (size_t)pd->n * image, it->pixels, image * sizeof(float));
    free(it->pixels);
    pd->job[pd->n] = (int)(j - R->jobs);
    pd->slot[pd->n] = j->n_frames++;
    pd->n++;
    return pd->n == R->o->batch ? flush(R, ctx, pd, err) : 0;
}

static int run_pipeline(run *R, vx_error *err) {
    const int B = R->o->batch > 0 ? R->o->batch : 16;
    const size_t image = (size_t)3 * R->S * R->S;
    pending pd = {0};
    queue q;
    memset(&q, 0, sizeof q);
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.not_empty, NULL);
    pthread_cond_init(&q.not_full, NULL);
    decoder d = {.R = R, .q = &q};
    vx_clip_ctx *ctx = NULL;
    int rc = -1;
    if (R->model) {
        if (!(ctx = vx_clip_ctx_new(R->model, B, 0, err))) goto done; /* 0: the smallest text state */
        pd.pixels = malloc((size_t)B * image * sizeof(float));
        pd.job = malloc((size_t)B * sizeof(int));
        pd.slot = malloc((size_t)B * sizeof(int));
        pd.out = malloc((size_t)B * R->P * sizeof(float));
        if (!pd.pixels || !pd.job || !pd.slot || !pd.out) {
            vx_fail(err, "out of memory");
            goto done;
        }
    }
    pthread_t th;
    if (pthread_create(&th, NULL, decode_all, &d)) { vx_fail(err, "cannot start the decoding thread"); goto done; }
    rc = 0;
    for (;;) {
        frame_item it;
        /* With frames pending and nothing new, encode now rather than wait. */
        if (!q_pop(&q, &it, pd.n == 0)) {
            if (rc == 0 && flush(R, ctx, &pd, err)) rc = -1;
            continue;
        }
        if (it.job < 0) break;
        file_job *j = &R->jobs[it.job];
        if (it.end_of_file) {
            j->decoded = 1;
            if (rc == 0 && flush(R, ctx, &pd, err)) rc = -1;
            continue;
        }
        if (rc != 0) { free(it.pixels); vx_rgb_free(&it.thumb); continue; } /* drain */
        if (add_frame(R, j, &it, &pd, ctx, err)) rc = -1;
    }
    pthread_join(th, NULL);
    vx_dir_listing_clear(&d.listing);
    if (rc == 0 && flush(R, ctx, &pd, err)) rc = -1;
    R->sum->decode_seconds += d.busy;
    R->sum->decode_cpu_seconds += d.cpu;
done:
    for (int i = 0; i < R->n_jobs; i++) free_frames(&R->jobs[i]);
    vx_clip_ctx_free(ctx);
    free(pd.pixels);
    free(pd.job);
    free(pd.slot);
    free(pd.out);
    pthread_mutex_destroy(&q.mu);
    pthread_cond_destroy(&q.not_empty);
    pthread_cond_destroy(&q.not_full);
    return rc;
}

/* Links duplicates to their originals once those are committed. */
static int commit_duplicates(run *R, vx_error *err) {
    for (int i = 0; i < R->n_jobs; i++) {
        file_job *j = &R->jobs[i];
        if (j->kind != TODO_DUPLICATE) continue;
        uint64_t orig = j->dup_of;
        if (j->dup_of_job >= 0) {
            file_job *o = &R->jobs[j->dup_of_job];
            if (o->cancelled) {
                R->sum->cancelled++;
                continue;
            }
            if (o->failed) {
                char why[2 * VX_ERROR_MAX + PATH_MAX];
                snprintf(why, sizeof why, "same content as %s, which failed: %s", o->path, o->failure);
                snprintf(j->failure, sizeof j->failure, "%.*s", (int)sizeof j->failure - 1, why);
                if (commit_failure(R, j, err)) return -1;
                continue;
            }
            orig = o->id;
        }
        vx_video o;
        if (vx_catalog_get_video(R->cat, orig, &o, err) != 0) return -1;
        int64_t now = (int64_t)time(NULL);
        vx_op op = {.kind = VX_OP_VIDEO, .video = o}; /* same content: same duration, rate and size */
        vx_video *v = &op.video;
        v->id = j->id;
        v->size = (uint64_t)j->st.st_size;
        v->mtime_ns = (int64_t)j->st.st_mtim.tv_sec * 1000000000 + j->st.st_mtim.tv_nsec;
        v->inode = (uint64_t)j->st.st_ino;
        v->near_duplicate_of = 0; /* the original's own link */
        v->n_segments = 0;
        v->duplicate_of = orig;
        if (v->precision == VX_EMBEDDED_PENDING) v->precision = VX_EMBEDDED_UNKNOWN; /* it shares the original's */
        v->created_at = j->had_record ? j->old.created_at : now;
        v->updated_at = now;
        v->path = j->path;
        v->title = (char *)base_name(j->path);
        v->failure = "";
        int r = run_apply(R, &op, err);
        char msg[VX_ERROR_MAX];
        snprintf(msg, sizeof msg, "same content as %s", o.path);
        vx_video_clear(&o);
        if (r) return -1;
        add_item(R, j->path, VX_ITEM_DUPLICATE, msg);
    }
    return 0;
}

int vx_index_paths(vx_catalog *cat, const vx_clip *model, const char *data_dir, const char *const *paths, int n_paths,
                   const vx_index_options *o, vx_index_summary *sum, vx_error *err) {
    run R = {.cat = cat, .model = model, .o = o, .data_dir = data_dir, .sum = sum, .t0 = vx_now()};
    /* Without the model, frames are still sampled at CLIP's size: their hashes, change
     * detection and thumbnails come from that copy. */
    R.P = model ? vx_clip_get_config(model)->proj_dim : 0;
    R.S = model ? vx_clip_get_config(model)->image_size : VX_INDEX_IMAGE_SIZE;
    memset(sum, 0, sizeof *sum);
    char data_real[PATH_MAX];
    gathered g = {.o = o, .data_dir = data_dir && realpath(data_dir, data_real) ? data_real : NULL};
    int rc = -1;
    removal_scan rs = {0};

    /* One model per database: its vectors live in one space. */
    if (vx_catalog_get_meta(cat, &R.meta, err) != 0) return -1;
    const uint64_t fp = model ? vx_clip_fingerprint(model) : 0;
    if (model && R.meta.model_fingerprint && !vx_clip_is_fingerprint(model, R.meta.model_fingerprint)) {
        char a[VX_ID_HEX_LEN], b2[VX_ID_HEX_LEN];
        vx_id_to_hex(R.meta.model_fingerprint, a);
        vx_id_to_hex(fp, b2);
        vx_fail(err, "the database was indexed with another model (%s, fingerprint %s; this one is %s): use a new --db, "
                     "or that model", R.meta.model, a, b2);
        vx_meta_clear(&R.meta);
        return -1;
    }
    if (model && !R.meta.model_fingerprint) {
        vx_op op = {.kind = VX_OP_MODEL, .model_fingerprint = fp, .embed_dim = (uint32_t)R.P,
                    .model = (char *)(o->model_dir ? o->model_dir : vx_clip_dir(model))};
        if (run_apply(&R, &op, err)) goto done;
    }

    /* Gather files; remember walked folders and vanished explicit files. */
    if (gather(paths, n_paths, &g, err)) goto done;
    for (int i = 0; i < g.refused.n; i++) add_item(&R, g.refused.v[i], VX_ITEM_SKIPPED, g.why.v[i]);
    for (int i = 0; i < g.missing.n; i++) {
        uint64_t id;
        vx_video v;
        vx_error e2;
        const char *gone = g.missing.v[i];
        if (vx_catalog_find_path(cat, gone, &id, &e2) == 0 && vx_catalog_get_video(cat, id, &v, &e2) == 0) {
            int r = 0;
            if (v.status != VX_VIDEO_REMOVED) r = mark_removed(&R, &v, err);
            else add_item(&R, gone, VX_ITEM_UNCHANGED, "removed earlier");
            vx_video_clear(&v);
            if (r) goto done;
        } else {
            add_item(&R, gone, VX_ITEM_FAILED, strerror(ENOENT));
        }
    }
    if (g.files.n) qsort(g.files.v, (size_t)g.files.n, sizeof *g.files.v, cmp_str);

    /* Videos under walked folders whose files are gone. */
    rs.roots = g.roots.v;
    rs.n_roots = g.roots.n;
    if (g.roots.n && vx_catalog_scan_videos(cat, find_gone, &rs, NULL, err)) goto done;
    for (int i = 0; i < rs.n_gone; i++)
        if (mark_removed(&R, &rs.gone[i], err)) goto done;

    for (int i = 0; i < g.files.n; i++) {
        if (cancelled(&R)) { sum->cancelled += g.files.n - i; break; }
        if (i > 0 && strcmp(g.files.v[i], g.files.v[i - 1]) == 0) continue;
        if (classify(&R, g.files.v[i], err) < 0) goto done;
    }
    if (model && add_pending(&R, err)) goto done;
    for (int i = 0; i < R.n_jobs; i++) R.total_files += R.jobs[i].kind == TODO_DECODE;
    if (R.total_files && run_pipeline(&R, err)) goto done;
    if (commit_duplicates(&R, err)) goto done;
    rc = 0;
done:
    if (o->progress) fprintf(stderr, "\r\033[K");
    sum->wall_seconds = vx_now() - R.t0;
    for (int i = 0; i < R.n_jobs; i++) {
        free(R.jobs[i].path);
        if (R.jobs[i].had_record) vx_video_clear(&R.jobs[i].old);
        vx_video_text_clear(&R.jobs[i].text);
    }
    vx_dir_listing_clear(&R.listing);
    free(R.jobs);
    gathered_free(&g);
    for (int i = 0; i < rs.n_gone; i++) vx_video_clear(&rs.gone[i]);
    free(rs.gone);
    vx_meta_clear(&R.meta);
    return rc && R.halted ? R.halted : rc;
}

int vx_index_expand(vx_catalog *cat, const char *const *paths, int n_paths, const vx_index_options *o,
                    const char *data_dir, char ***out, int *n_out, vx_error *err) {
    char data_real[PATH_MAX];
    gathered g = {.o = o, .data_dir = data_dir && realpath(data_dir, data_real) ? data_real : NULL};
    int rc = -1;
    removal_scan rs = {0};
    *out = NULL;
    *n_out = 0;
    if (gather(paths, n_paths, &g, err)) goto done;
    rs.roots = g.roots.v;
    rs.n_roots = g.roots.n;
    if (g.roots.n && vx_catalog_scan_videos(cat, find_gone, &rs, NULL, err)) goto done;
    for (int i = 0; i < rs.n_gone; i++)
        if (push_path(&g.files, rs.gone[i].path)) { vx_fail(err, "out of memory"); goto done; }
    for (int i = 0; i < g.missing.n; i++)
        if (push_path(&g.files, g.missing.v[i])) { vx_fail(err, "out of memory"); goto done; }
    if (g.files.n) qsort(g.files.v, (size_t)g.files.n, sizeof *g.files.v, cmp_str);
    int w = 0;
    for (int i = 0; i < g.files.n; i++) {
        if (w > 0 && strcmp(g.files.v[i], g.files.v[w - 1]) == 0) { free(g.files.v[i]); continue; }
        g.files.v[w++] = g.files.v[i];
    }
    *out = g.files.v;
    *n_out = w;
    g.files = (path_list){0};
    rc = 0;
done:
    gathered_free(&g);
    for (int i = 0; i < rs.n_gone; i++) vx_video_clear(&rs.gone[i]);
    free(rs.gone);
    return rc;
}
