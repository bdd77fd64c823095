#include "catalog.h"

#include <errno.h>
#include <fcntl.h>
#include <leveldb/c.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/path.h"
#include "../common/status.h"
#include "../common/system.h"
#include "../common/vecmath.h"

/* A write that fails (a full disk, an I/O error) may leave half a record at the end of
 * LevelDB's log, and LevelDB may keep refusing writes for good (its background error).
 * Nothing more is appended to that log: the next write first closes the database and
 * opens it again (which reads the log up to the torn record and starts a new one), once
 * the disk has room. Reads go on meanwhile, except during the reopen itself. */
struct vx_catalog {
    pthread_rwlock_t db_lock;  /* readers: every use of db; writer: the reopen, which replaces it */
    pthread_mutex_t write_mu;  /* one write at a time, so none follows a failed one into its log */
    atomic_int write_failed;   /* written under write_mu: the last write failed; reopen before the next */
    leveldb_t *db;             /* NULL after a reopen that failed: reads fail until one succeeds */
    leveldb_options_t *options;
    leveldb_cache_t *block_cache;
    leveldb_readoptions_t *read;
    leveldb_writeoptions_t *write; /* synced: a batch is durable once written */
    leveldb_writeoptions_t *write_unsynced;
    int lock_fd;
    vx_path dir;
    vx_path db_path;
};

struct vx_batch {
    leveldb_writebatch_t *wb;
    vx_buf key, val; /* scratch */
    uint32_t count;
    int oom;         /* an encode ran out of memory: the batch must not be written */
};

/* ---- open and close ------------------------------------------------------------------ */

static int mkdir_p(const char *dir, vx_error *err) {
    vx_path tmp;
    if (vx_path_fmt(tmp, err, "%s", dir)) return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) && errno != EEXIST) return vx_fail(err, "cannot create %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    /* The data folder itself is the owner's alone: it holds users' histories and the
     * service's token. Parents are ordinary folders; an existing folder keeps its mode. */
    if (mkdir(tmp, 0700) && errno != EEXIST) return vx_fail(err, "cannot create %s: %s", tmp, strerror(errno));
    return 0;
}

/* Takes DATA/LOCK exclusively, or explains who holds it. */
static int take_lock(const char *data_dir, int *fd_out, vx_error *err) {
    vx_path path;
    if (vx_path_fmt(path, err, "%s/LOCK", data_dir)) return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return vx_fail(err, "cannot open lock file %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        close(fd);
        if (e == EWOULDBLOCK) {
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            return vx_fail(err,
                           "database %s is in use by another vidx process%s%s%s; stop it or use another --db",
                           data_dir, *pid ? " (pid " : "", pid, *pid ? ")" : "");
        }
        return vx_fail(err, "cannot lock %s: %s", path, strerror(e));
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        /* The pid only improves the message a second opener sees; the lock still holds. */
        vx_debug("could not record pid in %s", path);
    }
    *fd_out = fd;
    return 0;
}

void vx_catalog_close(vx_catalog *cat) {
    if (!cat) return;
    if (cat->db) leveldb_close(cat->db);
    if (cat->options) leveldb_options_destroy(cat->options);
    if (cat->block_cache) leveldb_cache_destroy(cat->block_cache);
    if (cat->read) leveldb_readoptions_destroy(cat->read);
    if (cat->write) leveldb_writeoptions_destroy(cat->write);
    if (cat->write_unsynced) leveldb_writeoptions_destroy(cat->write_unsynced);
    if (cat->lock_fd >= 0) {
        if (ftruncate(cat->lock_fd, 0) != 0) vx_debug("could not clear the lock file");
        close(cat->lock_fd); /* releases the flock */
    }
    pthread_rwlock_destroy(&cat->db_lock);
    pthread_mutex_destroy(&cat->write_mu);
    free(cat);
}

static int check_or_init_meta(vx_catalog *cat, vx_error *err) {
    vx_meta meta;
    int r = vx_catalog_get_meta(cat, &meta, err);
    if (r < 0) return -1;
    if (r == 0) {
        int ok = meta.schema_version == VX_SCHEMA_VERSION;
        uint32_t v = meta.schema_version;
        vx_meta_clear(&meta);
        if (!ok)
            return vx_fail(err, "%s has schema version %u; this vidx reads version %u", cat->dir, v,
                           VX_SCHEMA_VERSION);
        return 0;
    }
    vx_meta fresh = {.schema_version = VX_SCHEMA_VERSION, .created_at = (int64_t)time(NULL), .model = ""};
    vx_batch *b = vx_batch_new();
    if (!b) return vx_fail(err, "out of memory");
    vx_batch_put_meta(b, &fresh);
    r = vx_catalog_write(cat, b, err);
    vx_batch_free(b);
    return r;
}

vx_catalog *vx_catalog_open(const char *data_dir, int create, vx_error *err) {
    return vx_catalog_open_cached(data_dir, create, 0, err);
}

vx_catalog *vx_catalog_open_cached(const char *data_dir, int create, int cache_mb, vx_error *err) {
    vx_catalog *cat = calloc(1, sizeof *cat);
    char *lerr = NULL;
    vx_path path;
    struct stat st;
    if (!cat) { vx_fail(err, "out of memory"); return NULL; }
    cat->lock_fd = -1;
    /* Readers first: a scan's callback may read again while a reopen waits. */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_READER_NP);
    pthread_rwlock_init(&cat->db_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&cat->write_mu, NULL);
    if (vx_path_fmt(cat->dir, err, "%s", data_dir) || vx_path_fmt(path, err, "%s/catalog", data_dir) ||
        vx_path_fmt(cat->db_path, err, "%s", path))
        goto fail;
    if (!create && stat(path, &st) != 0) {
        vx_fail(err, "no vidx database at %s (run `vidx index` to create one)", data_dir);
        goto fail;
    }
    if (create && mkdir_p(data_dir, err)) goto fail;
    if (take_lock(data_dir, &cat->lock_fd, err)) goto fail;

    cat->options = leveldb_options_create();
    leveldb_options_set_create_if_missing(cat->options, (unsigned char)create);
    leveldb_options_set_paranoid_checks(cat->options, 1);
    leveldb_options_set_compression(cat->options, leveldb_snappy_compression);
    /* LevelDB's default block cache (8 MiB) is smaller than the video records of a
     * 100,000-video catalog, which every search and similar-video answer reads (one per
     * result): a miss costs a read, a checksum and a decompression. */
    cat->block_cache = leveldb_cache_create_lru((size_t)(cache_mb > 0 ? cache_mb : VX_CATALOG_CACHE_MB) << 20);
    leveldb_options_set_cache(cat->options, cat->block_cache);
    cat->read = leveldb_readoptions_create();
    leveldb_readoptions_set_verify_checksums(cat->read, 1);
    cat->write = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(cat->write, 1);
    cat->write_unsynced = leveldb_writeoptions_create();
    cat->db = leveldb_open(cat->options, path, &lerr);
    if (lerr) {
        vx_fail(err, "cannot open catalog %s: %s", path, lerr);
        leveldb_free(lerr);
        goto fail;
    }
    if (check_or_init_meta(cat, err)) goto fail;
    return cat;
fail:
    vx_catalog_close(cat);
    return NULL;
}

/* ---- reads --------------------------------------------------------------------------- */

/* Fetches key; 0 found (*val malloc'd by LevelDB), 1 absent, -1 error. */
static int get_raw(vx_catalog *cat, const void *key, size_t klen, char **val, size_t *vlen, vx_error *err) {
    char *lerr = NULL;
    pthread_rwlock_rdlock(&cat->db_lock);
    *val = cat->db ? leveldb_get(cat->db, cat->read, key, klen, vlen, &lerr) : NULL;
    const int closed = !cat->db;
    pthread_rwlock_unlock(&cat->db_lock);
    if (closed) return vx_fail(err, "the catalog in %s is closed: it could not be opened again after a failed write", cat->dir);
    if (lerr) {
        char what[256];
        vx_key_describe(key, klen, what, sizeof what);
        vx_fail(err, "reading %s: %s", what, lerr);
        leveldb_free(lerr);
        return -1;
    }
    return *val ? 0 : 1;
}

typedef int (*decode_fn)(const void *data, size_t len, void *out, vx_error *err);

/* Adapters with the generic signature (calling through a mismatched pointer type is
 * undefined behaviour). */
#define DECODE_ADAPTER(name, type)                                                            \
    static int decode_##name(const void *data, size_t len, void *out, vx_error *err) {     \
        return vx_##name##_decode(data, len, (type *)out, err);                              \
    }
DECODE_ADAPTER(meta, vx_meta)
DECODE_ADAPTER(video, vx_video)
DECODE_ADAPTER(segment, vx_segment)
DECODE_ADAPTER(embedding, vx_embedding)
DECODE_ADAPTER(user, vx_user)
DECODE_ADAPTER(job, vx_job)
DECODE_ADAPTER(rendition, vx_rendition)
DECODE_ADAPTER(video_text, vx_video_text)
DECODE_ADAPTER(video_frames, vx_video_frames)

/* Fetches and decodes one record; a decode failure names the key. */
static int get_record(vx_catalog *cat, const void *key, size_t klen, decode_fn decode, void *out, vx_error *err) {
    char *val;
    size_t vlen;
    int r = get_raw(cat, key, klen, &val, &vlen, err);
    if (r) return r;
    r = decode(val, vlen, out, err);
    leveldb_free(val);
    if (r) {
        char what[256];
        vx_key_describe(key, klen, what, sizeof what);
        return vx_fail_prefix(err, "corrupt record at %s", what);
    }
    return 0;
}

int vx_catalog_get_meta(vx_catalog *cat, vx_meta *out, vx_error *err) {
    uint8_t key = VX_KEY_META;
    return get_record(cat, &key, 1, decode_meta, out, err);
}

int vx_catalog_get_video(vx_catalog *cat, uint64_t id, vx_video *out, vx_error *err) {
    uint8_t key[VX_KEY_ID_LEN];
    vx_key_id(key, VX_KEY_VIDEO, id);
    int r = get_record(cat, key, sizeof key, decode_video, out, err);
    if (r == 0 && out->id != id) {
        char what[256];
        vx_key_describe(key, sizeof key, what, sizeof what);
        vx_video_clear(out);
        return vx_fail(err, "corrupt record at %s: holds another video's id", what);
    }
    return r;
}

int vx_catalog_find_path(vx_catalog *cat, const char *path, uint64_t *id_out, vx_error *err) {
    vx_buf key = {0};
    char *val = NULL;
    size_t vlen;
    vx_key_string(&key, VX_KEY_PATH, path);
    if (key.oom) return vx_fail(err, "out of memory");
    int r = get_raw(cat, key.data, key.len, &val, &vlen, err);
    if (r == 0) {
        vx_cursor c = vx_cursor_make(val, vlen);
        *id_out = vx_get_u64le(&c);
        if (!vx_cursor_done(&c) || *id_out == 0) {
            char what[256];
            vx_key_describe(key.data, key.len, what, sizeof what);
            r = vx_fail(err, "corrupt record at %s: expected an 8-byte video id", what);
        }
    }
    leveldb_free(val);
    vx_buf_free(&key);
    return r;
}

int vx_catalog_get_segment(vx_catalog *cat, uint64_t video_id, uint32_t index, vx_segment *out, vx_error *err) {
    uint8_t key[VX_KEY_SEGMENT_LEN];
    vx_key_segment(key, video_id, index);
    return get_record(cat, key, sizeof key, decode_segment, out, err);
}

int vx_catalog_get_embedding(vx_catalog *cat, uint64_t video_id, vx_embedding *out, vx_error *err) {
    uint8_t key[VX_KEY_ID_LEN];
    vx_key_id(key, VX_KEY_EMBEDDING, video_id);
    return get_record(cat, key, sizeof key, decode_embedding, out, err);
}

int vx_catalog_get_user(vx_catalog *cat, const char *name, vx_user *out, vx_error *err) {
    if (!vx_user_name_valid(name)) return vx_fail(err, "invalid user name");
    vx_buf key = {0};
    vx_key_string(&key, VX_KEY_USER, name);
    int r = key.oom ? vx_fail(err, "out of memory") : get_record(cat, key.data, key.len, decode_user, out, err);
    vx_buf_free(&key);
    return r;
}

int vx_catalog_get_job(vx_catalog *cat, uint64_t id, vx_job *out, vx_error *err) {
    uint8_t key[VX_KEY_ID_LEN];
    vx_key_id(key, VX_KEY_JOB, id);
    return get_record(cat, key, sizeof key, decode_job, out, err);
}

int vx_catalog_get_rendition(vx_catalog *cat, uint64_t content_hash, vx_rendition *out, vx_error *err) {
    uint8_t key[VX_KEY_ID_LEN];
    vx_key_id(key, VX_KEY_RENDITION, content_hash);
    return get_record(cat, key, sizeof key, decode_rendition, out, err);
}

int vx_catalog_get_text(vx_catalog *cat, uint64_t video_id, uint8_t slot, vx_video_text *out, vx_error *err) {
    uint8_t key[VX_KEY_TEXT_LEN];
    vx_key_text(key, video_id, slot);
    int r = get_record(cat, key, sizeof key, decode_video_text, out, err);
    if (r == 0 && (out->id != video_id || out->slot != slot)) {
        char what[256];
        vx_key_describe(key, sizeof key, what, sizeof what);
        vx_video_text_clear(out);
        return vx_fail(err, "corrupt record at %s: holds another video's text", what);
    }
    return r;
}

int vx_catalog_get_frames(vx_catalog *cat, uint64_t video_id, vx_video_frames *out, vx_error *err) {
    uint8_t key[VX_KEY_ID_LEN];
    vx_key_id(key, VX_KEY_FRAMES, video_id);
    int r = get_record(cat, key, sizeof key, decode_video_frames, out, err);
    if (r == 0 && out->id != video_id) {
        vx_video_frames_clear(out);
        return vx_fail(err, "corrupt record at frames of video %016llx: holds another video's",
                       (unsigned long long)video_id);
    }
    return r;
}

/* ---- scans --------------------------------------------------------------------------- */

/* Called per record under a prefix; returns <0 error, 0 continue, >0 stop. */
typedef int (*visit_fn)(void *ctx, const uint8_t *key, size_t klen, const char *val, size_t vlen, vx_error *err);

static int scan_prefix(vx_catalog *cat, const void *prefix, size_t plen, visit_fn visit, void *ctx, vx_error *err) {
    pthread_rwlock_rdlock(&cat->db_lock);
    if (!cat->db) {
        pthread_rwlock_unlock(&cat->db_lock);
        return vx_fail(err, "the catalog in %s is closed: it could not be opened again after a failed write", cat->dir);
    }
    leveldb_iterator_t *it = leveldb_create_iterator(cat->db, cat->read);
    int rc = 0;
    for (leveldb_iter_seek(it, prefix, plen); leveldb_iter_valid(it); leveldb_iter_next(it)) {
        size_t klen, vlen;
        const char *key = leveldb_iter_key(it, &klen);
        if (klen < plen || memcmp(key, prefix, plen) != 0) break;
        const char *val = leveldb_iter_value(it, &vlen);
        int r = visit(ctx, (const uint8_t *)key, klen, val, vlen, err);
        if (r < 0) { rc = -1; break; }
        if (r > 0) break;
    }
    char *lerr = NULL;
    leveldb_iter_get_error(it, &lerr);
    if (lerr && rc == 0) rc = vx_fail(err, "scanning the catalog: %s", lerr);
    leveldb_free(lerr);
    leveldb_iter_destroy(it);
    pthread_rwlock_unlock(&cat->db_lock);
    return rc;
}

static void report_corrupt(const uint8_t *key, size_t klen, const vx_error *why, vx_scan_stats *stats) {
    char what[256];
    vx_key_describe(key, klen, what, sizeof what);
    vx_warn("corrupt record at %s skipped: %s", what, why->msg);
    if (stats) stats->corrupt++;
}

struct typed_scan {
    vx_scan_stats *stats;
    void *fn;
    void *ctx;
};

static int visit_video(void *p, const uint8_t *key, size_t klen, const char *val, size_t vlen, vx_error *err) {
    (void)err;
    struct typed_scan *s = p;
    vx_video v;
    vx_error why;
    if (klen != VX_KEY_ID_LEN) {
        vx_fail(&why, "key has the wrong length");
    } else if (vx_video_decode(val, vlen, &v, &why) == 0) {
        if (v.id == vx_load_u64be(key + 1)) {
            if (s->stats) s->stats->ok++;
            int r = ((vx_video_fn)s->fn)(s->ctx, &v);
            vx_video_clear(&v);
            return r;
        }
        vx_video_clear(&v);
        vx_fail(&why, "holds another video's id");
    }
    report_corrupt(key, klen, &why, s->stats);
    return 0;
}

int vx_catalog_scan_videos(vx_catalog *cat, vx_video_fn fn, void *ctx, vx_scan_stats *stats, vx_error *err) {
    uint8_t prefix = VX_KEY_VIDEO;
    struct typed_scan s = {stats, (void *)fn, ctx};
    return scan_prefix(cat, &prefix, 1, visit_video, &s, err);
}

static int visit_segment(void *p, const uint8_t *key, size_t klen, const char *val, size_t vlen, vx_error *err) {
    (void)err;
    struct typed_scan *s = p;
    vx_segment seg;
    vx_error why;
    if (klen != VX_KEY_SEGMENT_LEN) {
        vx_fail(&why, "key has the wrong length");
    } else if (vx_segment_decode(val, vlen, &seg, &why) == 0) {
        if (s->stats) s->stats->ok++;
        int r = ((vx_segment_fn)s->fn)(s->ctx, vx_load_u64be(key + 1), vx_load_u32be(key + 9), &seg);
        vx_segment_clear(&seg);
        return r;
    }
    report_corrupt(key, klen, &why, s->stats);
    return 0;
}

int vx_catalog_scan_segments(vx_catalog *cat, uint64_t video_id, vx_segment_fn fn, void *ctx,
                             vx_scan_stats *stats, vx_error *err) {
    uint8_t prefix[VX_KEY_ID_LEN];
    vx_key_id(prefix, VX_KEY_SEGMENT, video_id);
    struct typed_scan s = {stats, (void *)fn, ctx};
    return scan_prefix(cat, prefix, video_id ? VX_KEY_ID_LEN : 1, visit_segment, &s, err);
}

typedef struct segment_array {
    vx_segment *v;
    uint32_t n, cap;
    int with_embeddings, oom;
} segment_array;

static int keep_segment(void *ctx, uint64_t video_id, uint32_t index, const vx_segment *s) {
    (void)video_id;
    (void)index;
    segment_array *a = ctx;
    if (a->n == a->cap) {
        const uint32_t cap = a->cap ? 2 * a->cap : 16;
        vx_segment *v = realloc(a->v, cap * sizeof *v);
        if (!v) return a->oom = 1;
        a->v = v;
        a->cap = cap;
    }
    vx_segment c = {.start = s->start, .end = s->end, .n_frames = s->n_frames};
    if (a->with_embeddings) {
        if (!(c.embedding = malloc((size_t)s->dim * sizeof *c.embedding))) return a->oom = 1;
        memcpy(c.embedding, s->embedding, (size_t)s->dim * sizeof *c.embedding);
        c.dim = s->dim;
    }
    a->v[a->n++] = c;
    return 0;
}

int vx_catalog_get_segments(vx_catalog *cat, uint64_t video_id, int with_embeddings, vx_segment **out, uint32_t *n,
                            vx_error *err) {
    segment_array a = {.with_embeddings = with_embeddings};
    *out = NULL;
    *n = 0;
    int r = vx_catalog_scan_segments(cat, video_id, keep_segment, &a, NULL, err);
    if (!r && a.oom) r = vx_fail(err, "out of memory");
    if (r) {
        vx_segments_free(a.v, a.n);
        return -1;
    }
    *out = a.v;
    *n = a.n;
    return 0;
}

void vx_segments_free(vx_segment *s, uint32_t n) {
    for (uint32_t i = 0; s && i < n; i++) free(s[i].embedding);
    free(s);
}

static int visit_event(void *p, const uint8_t *key, size_t klen, const char *val, size_t vlen, vx_error *err) {
    (void)err;
    struct typed_scan *s = p;
    vx_event e;
    vx_error why;
    char user[VX_MAX_USER + 1];
    if (klen < 2 || key[1] == 0 || key[1] > VX_MAX_USER || klen != (size_t)key[1] + 14) {
        vx_fail(&why, "malformed event key");
    } else if (vx_event_decode(val, vlen, &e, &why) == 0) {
        memcpy(user, key + 2, key[1]);
        user[key[1]] = '\0';
        const uint8_t *t = key + 2 + key[1];
        if ((int64_t)vx_load_u64be(t) != e.ts_ms) {
            vx_fail(&why, "timestamp differs from its key");
        } else {
            if (s->stats) s->stats->ok++;
            return ((vx_event_fn)s->fn)(s->ctx, user, vx_load_u32be(t + 8), &e);
        }
    }
    report_corrupt(key, klen, &why, s->stats);
    return 0;
}

int vx_catalog_scan_events(vx_catalog *cat, const char *user, vx_event_fn fn, void *ctx,
                           vx_scan_stats *stats, vx_error *err) {
    uint8_t prefix[VX_KEY_EVENT_MAX];
    size_t plen = 1;
    prefix[0] = VX_KEY_EVENT;
    if (user) {
        if (!vx_user_name_valid(user)) return vx_fail(err, "invalid user name");
        plen = vx_key_event(prefix, user, 0, 0, 1);
    }
    struct typed_scan s = {stats, (void *)fn, ctx};
    return scan_prefix(cat, prefix, plen, visit_event, &s, err);
}

static int visit_job(void *p, const uint8_t *key, size_t klen, const char *val, size_t vlen, vx_error *err) {
    (void)err;
    struct typed_scan *s = p;
    vx_job j;
    vx_error why;
    if (klen != VX_KEY_ID_LEN) {
        vx_fail(&why, "key has the wrong length");
    } else if (vx_job_decode(val, vlen, &j, &why) == 0) {
        if (j.id == vx_load_u64be(key + 1)) {
            if (s->stats) s->stats->ok++;
            int r = ((vx_job_fn)s->fn)(s->ctx, &j);
            vx_job_clear(&j);
            return r;
        }
        vx_job_clear(&j);
        vx_fail(&why, "holds another job's id");
    }
    report_corrupt(key, klen, &why, s->stats);
    return 0;
}

int vx_catalog_scan_jobs(vx_catalog *cat, vx_job_fn fn, void *ctx, vx_scan_stats *stats, vx_error *err) {
    uint8_t prefix = VX_KEY_JOB;
    struct typed_scan s = {stats, (void *)fn, ctx};
    return scan_prefix(cat, &prefix, 1, visit_job, &s, err);
}

static int visit_rendition(void *p, const uint8_t *key, size_t klen, const char *val, size_t vlen, vx_error *err) {
    (void)err;
    struct typed_scan *s = p;
    vx_rendition r;
    vx_error why;
    if (klen != VX_KEY_ID_LEN) {
        vx_fail(&why, "key has the wrong length");
    } else if (vx_rendition_decode(val, vlen, &r, &why) == 0) {
        if (r.content_hash == vx_load_u64be(key + 1)) {
            if (s->stats) s->stats->ok++;
            int rc = ((vx_rendition_fn)s->fn)(s->ctx, &r);
            vx_rendition_clear(&r);
            return rc;
        }
        vx_rendition_clear(&r);
        vx_fail(&why, "holds another content's hash");
    }
    report_corrupt(key, klen, &why, s->stats);
    return 0;
}

int vx_catalog_scan_renditions(vx_catalog *cat, vx_rendition_fn fn, void *ctx, vx_scan_stats *stats, vx_error *err) {
    uint8_t prefix = VX_KEY_RENDITION;
    struct typed_scan s = {stats, (void *)fn, ctx};
    return scan_prefix(cat, &prefix, 1, visit_rendition, &s, err);
}

static int visit_content(void *p, const uint8_t *key, size_t klen, const char *val, size_t vlen, vx_error *err) {
    (void)val;
    (void)vlen;
    (void)err;
    struct typed_scan *s = p;
    if (klen != VX_KEY_CONTENT_LEN) return 0;
    return ((vx_id_fn)s->fn)(s->ctx, vx_load_u64be(key + 9));
}

static int visit_count(void *p, const uint8_t *key, size_t klen, const char *val, size_t vlen, vx_error *err) {
    (void)key; (void)klen; (void)val; (void)vlen; (void)err;
    (*(uint64_t *)p)++;
    return 0;
}

int vx_catalog_count(vx_catalog *cat, uint8_t family, uint64_t *count_out, vx_error *err) {
    *count_out = 0;
    return scan_prefix(cat, &family, 1, visit_count, count_out, err);
}

static int visit_phash(void *p, const uint8_t *key, size_t klen, const char *val, size_t vlen, vx_error *err) {
    (void)val;
    (void)vlen;
    (void)err;
    struct typed_scan *s = p;
    if (klen != VX_KEY_PHASH_LEN) return 0;
    return ((vx_id_fn)s->fn)(s->ctx, vx_load_u64be(key + 4));
}

int vx_catalog_scan_phash(vx_catalog *cat, int band, uint64_t phash, vx_id_fn fn, void *ctx, vx_error *err) {
    uint8_t prefix[VX_KEY_PHASH_LEN];
    vx_key_phash(prefix, band, phash, 0);
    struct typed_scan s = {NULL, (void *)fn, ctx};
    return scan_prefix(cat, prefix, 4, visit_phash, &s, err);
}

int vx_catalog_scan_content(vx_catalog *cat, uint64_t hash, vx_id_fn fn, void *ctx, vx_error *err) {
    uint8_t prefix[VX_KEY_ID_LEN];
    vx_key_id(prefix, VX_KEY_CONTENT, hash);
    struct typed_scan s = {NULL, (void *)fn, ctx};
    return scan_prefix(cat, prefix, sizeof prefix, visit_content, &s, err);
}

static int visit_path(void *p, const uint8_t *key, size_t klen, const char *val, size_t vlen, vx_error *err) {
    (void)key;
    (void)klen;
    (void)err;
    struct typed_scan *s = p;
    vx_cursor c = vx_cursor_make(val, vlen);
    const uint64_t id = vx_get_u64le(&c);
    if (!vx_cursor_done(&c) || id == 0) return 0; /* a corrupt entry: vx_catalog_check reports it */
    return ((vx_id_fn)s->fn)(s->ctx, id);
}

int vx_catalog_scan_path_prefix(vx_catalog *cat, const char *prefix, vx_id_fn fn, void *ctx, vx_error *err) {
    vx_buf key = {0};
    vx_key_string(&key, VX_KEY_PATH, prefix);
    if (key.oom) return vx_fail(err, "out of memory");
    struct typed_scan s = {NULL, (void *)fn, ctx};
    const int r = scan_prefix(cat, key.data, key.len, visit_path, &s, err);
    vx_buf_free(&key);
    return r;
}

/* ---- writes -------------------------------------------------------------------------- */

vx_batch *vx_batch_new(void) {
    vx_batch *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->wb = leveldb_writebatch_create();
    return b;
}

void vx_batch_free(vx_batch *b) {
    if (!b) return;
    leveldb_writebatch_destroy(b->wb);
    vx_buf_free(&b->key);
    vx_buf_free(&b->val);
    free(b);
}

void vx_batch_clear(vx_batch *b) {
    leveldb_writebatch_clear(b->wb);
    b->count = 0;
    b->oom = 0;
}

uint32_t vx_batch_count(const vx_batch *b) { return b->count; }

void vx_batch_put_raw(vx_batch *b, const void *key, size_t klen, const void *val, size_t vlen) {
    leveldb_writebatch_put(b->wb, key, klen, val, vlen);
    b->count++;
}

void vx_batch_delete_raw(vx_batch *b, const void *key, size_t klen) {
    leveldb_writebatch_delete(b->wb, key, klen);
    b->count++;
}

/* Puts the scratch key and value, noting any encoding failure. */
static void put_scratch(vx_batch *b) {
    if (b->key.oom || b->val.oom) {
        b->oom = 1;
        return;
    }
    vx_batch_put_raw(b, b->key.data, b->key.len, b->val.data, b->val.len);
}

void vx_batch_put_meta(vx_batch *b, const vx_meta *m) {
    vx_buf_reset(&b->key);
    vx_buf_reset(&b->val);
    vx_put_u8(&b->key, VX_KEY_META);
    vx_meta_encode(&b->val, m);
    put_scratch(b);
}

void vx_batch_put_video(vx_batch *b, const vx_video *v) {
    uint8_t key[VX_KEY_CONTENT_LEN];
    vx_buf_reset(&b->val);
    vx_video_encode(&b->val, v);
    vx_key_id(key, VX_KEY_VIDEO, v->id);
    if (b->val.oom) b->oom = 1;
    else vx_batch_put_raw(b, key, VX_KEY_ID_LEN, b->val.data, b->val.len);

    vx_buf_reset(&b->key);
    vx_buf_reset(&b->val);
    vx_key_string(&b->key, VX_KEY_PATH, v->path);
    vx_put_u64le(&b->val, v->id);
    put_scratch(b);

    if (v->status == VX_VIDEO_INDEXED) {
        vx_key_content(key, v->content_hash, v->id);
        vx_batch_put_raw(b, key, VX_KEY_CONTENT_LEN, "", 0);
    }
}

void vx_batch_delete_video(vx_batch *b, const vx_video *v) {
    uint8_t key[VX_KEY_CONTENT_LEN];
    vx_key_id(key, VX_KEY_VIDEO, v->id);
    vx_batch_delete_raw(b, key, VX_KEY_ID_LEN);
    vx_buf_reset(&b->key);
    vx_key_string(&b->key, VX_KEY_PATH, v->path);
    if (b->key.oom) b->oom = 1;
    else vx_batch_delete_raw(b, b->key.data, b->key.len);
    vx_batch_delete_content(b, v->content_hash, v->id);
    vx_batch_delete_segments(b, v->id, 0, v->n_segments);
    vx_batch_delete_embedding(b, v->id);
    vx_batch_delete_text(b, v->id, VX_TEXT_FILES);
    vx_batch_delete_text(b, v->id, VX_TEXT_API);
}

void vx_batch_put_segment(vx_batch *b, uint64_t video_id, uint32_t index, const vx_segment *s) {
    uint8_t key[VX_KEY_SEGMENT_LEN];
    vx_key_segment(key, video_id, index);
    vx_buf_reset(&b->val);
    vx_segment_encode(&b->val, s);
    if (b->val.oom) b->oom = 1;
    else vx_batch_put_raw(b, key, sizeof key, b->val.data, b->val.len);
}

void vx_batch_delete_segments(vx_batch *b, uint64_t video_id, uint32_t from, uint32_t to) {
    uint8_t key[VX_KEY_SEGMENT_LEN];
    for (uint32_t i = from; i < to; i++) {
        vx_key_segment(key, video_id, i);
        vx_batch_delete_raw(b, key, sizeof key);
    }
}

void vx_batch_put_embedding(vx_batch *b, uint64_t video_id, const vx_embedding *e) {
    uint8_t key[VX_KEY_ID_LEN];
    vx_key_id(key, VX_KEY_EMBEDDING, video_id);
    vx_buf_reset(&b->val);
    vx_embedding_encode(&b->val, e);
    if (b->val.oom) b->oom = 1;
    else vx_batch_put_raw(b, key, sizeof key, b->val.data, b->val.len);
}

void vx_batch_delete_embedding(vx_batch *b, uint64_t video_id) {
    uint8_t key[VX_KEY_ID_LEN];
    vx_key_id(key, VX_KEY_EMBEDDING, video_id);
    vx_batch_delete_raw(b, key, sizeof key);
}

void vx_batch_delete_content(vx_batch *b, uint64_t hash, uint64_t video_id) {
    uint8_t key[VX_KEY_CONTENT_LEN];
    vx_key_content(key, hash, video_id);
    vx_batch_delete_raw(b, key, sizeof key);
}

void vx_batch_put_user(vx_batch *b, const vx_user *u) {
    vx_buf_reset(&b->key);
    vx_buf_reset(&b->val);
    vx_key_string(&b->key, VX_KEY_USER, u->name);
    vx_user_encode(&b->val, u);
    put_scratch(b);
}

void vx_batch_put_event(vx_batch *b, const char *user, uint32_t seq, const vx_event *e) {
    uint8_t key[VX_KEY_EVENT_MAX];
    size_t klen = vx_key_event(key, user, e->ts_ms, seq, 0);
    vx_buf_reset(&b->val);
    vx_event_encode(&b->val, e);
    if (b->val.oom) b->oom = 1;
    else vx_batch_put_raw(b, key, klen, b->val.data, b->val.len);
}

void vx_batch_put_job(vx_batch *b, const vx_job *j) {
    uint8_t key[VX_KEY_ID_LEN];
    vx_key_id(key, VX_KEY_JOB, j->id);
    vx_buf_reset(&b->val);
    vx_job_encode(&b->val, j);
    if (b->val.oom) b->oom = 1;
    else vx_batch_put_raw(b, key, sizeof key, b->val.data, b->val.len);
}

void vx_batch_put_rendition(vx_batch *b, const vx_rendition *r) {
    uint8_t key[VX_KEY_ID_LEN];
    vx_key_id(key, VX_KEY_RENDITION, r->content_hash);
    vx_buf_reset(&b->val);
    vx_rendition_encode(&b->val, r);
    if (b->val.oom) b->oom = 1;
    else vx_batch_put_raw(b, key, sizeof key, b->val.data, b->val.len);
}

void vx_batch_delete_rendition(vx_batch *b, uint64_t content_hash) {
    uint8_t key[VX_KEY_ID_LEN];
    vx_key_id(key, VX_KEY_RENDITION, content_hash);
    vx_batch_delete_raw(b, key, sizeof key);
}

void vx_batch_put_text(vx_batch *b, const vx_video_text *t) {
    uint8_t key[VX_KEY_TEXT_LEN];
    vx_key_text(key, t->id, t->slot);
    vx_buf_reset(&b->val);
    vx_video_text_encode(&b->val, t);
    if (b->val.oom) b->oom = 1;
    else vx_batch_put_raw(b, key, sizeof key, b->val.data, b->val.len);
}

void vx_batch_delete_text(vx_batch *b, uint64_t video_id, uint8_t slot) {
    uint8_t key[VX_KEY_TEXT_LEN];
    vx_key_text(key, video_id, slot);
    vx_batch_delete_raw(b, key, sizeof key);
}

static void frames_keys(vx_batch *b, const vx_video_frames *f, int put) {
    for (uint32_t i = 0; i < f->n; i++) {
        if (f->frames[i].flat) continue;
        for (int band = 0; band < 4; band++) {
            uint8_t key[VX_KEY_PHASH_LEN];
            vx_key_phash(key, band, f->frames[i].phash, f->id);
            if (put) vx_batch_put_raw(b, key, sizeof key, "", 0);
            else vx_batch_delete_raw(b, key, sizeof key);
        }
    }
}

void vx_batch_put_frames(vx_batch *b, const vx_video_frames *f) {
    uint8_t key[VX_KEY_ID_LEN];
    vx_key_id(key, VX_KEY_FRAMES, f->id);
    vx_buf_reset(&b->val);
    vx_video_frames_encode(&b->val, f);
    if (b->val.oom) b->oom = 1;
    else vx_batch_put_raw(b, key, sizeof key, b->val.data, b->val.len);
    frames_keys(b, f, 1);
}

void vx_batch_delete_frames(vx_batch *b, const vx_video_frames *old) {
    uint8_t key[VX_KEY_ID_LEN];
    vx_key_id(key, VX_KEY_FRAMES, old->id);
    vx_batch_delete_raw(b, key, sizeof key);
    frames_keys(b, old, 0);
}

/* Free bytes a reopen needs: LevelDB writes the old log's records into a table, a new
 * log and a new manifest. */
#define REOPEN_ROOM (16ull << 20)

/* After a failed write: the database closed and opened again (REQUIRES write_mu). Waits
 * at most wait_s for readers (a reader that writes would otherwise wait for itself). */
static int reopen(vx_catalog *cat, double wait_s, vx_error *err) {
    unsigned long long room;
    if (vx_disk_free(cat->dir, &room) == 0 && room < REOPEN_ROOM)
        return vx_fail(err, "the disk holding %s is full (%llu KiB free): nothing written", cat->dir, room >> 10);
    const double give_up = vx_now() + wait_s;
    while (pthread_rwlock_trywrlock(&cat->db_lock) != 0) {
        if (vx_now() > give_up) return vx_fail(err, "the catalog in %s is busy; try again", cat->dir);
        usleep(1000);
    }
    if (cat->db) leveldb_close(cat->db);
    char *lerr = NULL;
    cat->db = leveldb_open(cat->options, cat->db_path, &lerr);
    pthread_rwlock_unlock(&cat->db_lock);
    if (lerr) {
        vx_fail(err, "opening the catalog %s again after a failed write: %s", cat->db_path, lerr);
        leveldb_free(lerr);
        return -1;
    }
    vx_info("catalog: opened again after a failed write; writes go on");
    cat->write_failed = 0;
    return 0;
}

static int write_batch(vx_catalog *cat, leveldb_writeoptions_t *how, vx_batch *b, vx_error *err) {
    if (b->oom) return vx_fail(err, "out of memory while preparing a catalog write; nothing written");
    char *lerr = NULL;
    pthread_mutex_lock(&cat->write_mu);
    if (cat->write_failed && reopen(cat, 5, err)) {
        pthread_mutex_unlock(&cat->write_mu);
        return VX_E_STORAGE;
    }
    pthread_rwlock_rdlock(&cat->db_lock);
    leveldb_write(cat->db, how, b->wb, &lerr);
    pthread_rwlock_unlock(&cat->db_lock);
    if (lerr) cat->write_failed = 1;
    pthread_mutex_unlock(&cat->write_mu);
    if (lerr) {
        vx_fail(err, "writing to the catalog in %s: %s", cat->dir, lerr);
        leveldb_free(lerr);
        return VX_E_STORAGE;
    }
    return 0;
}

int vx_catalog_recover(vx_catalog *cat) {
    if (!atomic_load(&cat->write_failed)) return 0;
    if (pthread_mutex_trylock(&cat->write_mu) != 0) return -1; /* a write is on it */
    vx_error err;
    const int r = cat->write_failed ? reopen(cat, 0, &err) : 0;
    pthread_mutex_unlock(&cat->write_mu);
    return r;
}

int vx_catalog_write(vx_catalog *cat, vx_batch *b, vx_error *err) { return write_batch(cat, cat->write, b, err); }

int vx_catalog_write_unsynced(vx_catalog *cat, vx_batch *b, vx_error *err) {
    return write_batch(cat, cat->write_unsynced, b, err);
}

static int decode_log_position(const void *data, size_t len, void *out, vx_error *err) {
    return vx_log_position_decode(data, len, out, err);
}

int vx_catalog_get_log_position(vx_catalog *cat, vx_log_position *out, vx_error *err) {
    const uint8_t key = VX_KEY_LOG;
    memset(out, 0, sizeof *out);
    return get_record(cat, &key, 1, decode_log_position, out, err);
}

void vx_batch_put_log_position(vx_batch *b, const vx_log_position *p) {
    const uint8_t key = VX_KEY_LOG;
    vx_buf_reset(&b->val);
    vx_log_position_encode(&b->val, p);
    if (b->val.oom) b->oom = 1;
    else vx_batch_put_raw(b, &key, 1, b->val.data, b->val.len);
}

static int stage_delete(void *ctx, const uint8_t *key, size_t klen, const char *val, size_t vlen, vx_error *err) {
    (void)val;
    (void)vlen;
    (void)err;
    vx_batch_delete_raw(ctx, key, klen);
    return 0;
}

int vx_batch_delete_user(vx_catalog *cat, vx_batch *b, const char *user, vx_error *err) {
    if (!vx_user_name_valid(user)) return vx_fail(err, "invalid user name");
    uint8_t prefix[VX_KEY_EVENT_MAX];
    size_t plen = vx_key_event(prefix, user, 0, 0, 1);
    if (scan_prefix(cat, prefix, plen, stage_delete, b, err)) return -1;
    vx_buf key = {0};
    vx_key_string(&key, VX_KEY_USER, user);
    if (key.oom) b->oom = 1;
    else vx_batch_delete_raw(b, key.data, key.len);
    vx_buf_free(&key);
    return 0;
}
