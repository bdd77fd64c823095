#include "text_sources.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../common/grow.h"
#include "subtitles.h"

typedef struct builder {
    vx_video_text *t;
    size_t cap;
    char notes[VX_MAX_TEXT];
    int oom, full;
} builder;

static void note(builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(builder *b, const char *fmt, ...) {
    size_t len = strlen(b->notes);
    if (len + 8 >= sizeof b->notes) return;
    if (len) len += (size_t)snprintf(b->notes + len, sizeof b->notes - len, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->notes + len, sizeof b->notes - len, fmt, ap);
    va_end(ap);
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void add(builder *b, uint8_t field, double start, double end, const char *origin, const char *text) {
    if (!text || !*text || b->oom) return;
    vx_video_text *t = b->t;
    if (t->n_entries == VX_TEXT_MAX_ENTRIES) {
        if (!b->full) note(b, "more than %d pieces of text: the rest left out", VX_TEXT_MAX_ENTRIES);
        b->full = 1;
        return;
    }
    if (VX_GROW(t->entries, b->cap, (size_t)t->n_entries + 1)) {
        b->oom = 1;
        return;
    }
    vx_text_entry *x = &t->entries[t->n_entries];
    *x = (vx_text_entry){.field = field, .start = start, .end = end, .origin = strdup(origin), .text = strdup(text)};
    if (!x->origin || !x->text) {
        free(x->origin);
        free(x->text);
        b->oom = 1;
        return;
    }
    t->n_entries++;
}

static void add_fields(builder *b, const char *origin, const vx_text_fields *f) {
    add(b, VX_FIELD_TITLE, 0, 0, origin, f->title);
    add(b, VX_FIELD_DESCRIPTION, 0, 0, origin, f->description);
    for (int i = 0; i < f->n_tags; i++) add(b, VX_FIELD_TAG, 0, 0, origin, f->tags[i]);
    if (f->not_utf8) note(b, "%s: %d pieces of text left out: not UTF-8", origin, f->not_utf8);
}

/* Cues from index `from` on came from `origin`. */
static void add_cues(builder *b, const vx_cues *c, int from, const char *origin) {
    for (int i = from; i < c->n; i++) add(b, VX_FIELD_SUBTITLE, c->cues[i].start, c->cues[i].end, origin, c->cues[i].text);
}

/* The reason without the path the readers put first (the notes name the source). */
static const char *reason(const vx_error *err, const char *path) {
    const size_t n = strlen(path);
    return strncmp(err->msg, path, n) == 0 && err->msg[n] == ':' ? err->msg + n + 2 : err->msg;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int vx_read_video_text(const char *path, uint64_t id, double duration, vx_dir_listing *cache, vx_video_text *out,
                       vx_error *err) {
    memset(out, 0, sizeof *out);
    out->id = id;
    out->slot = VX_TEXT_FILES;
    out->updated_at = (int64_t)time(NULL);
    builder b = {.t = out};
    vx_error why;

    vx_text_fields f = {0};
    if (vx_read_container_text(path, &f, &why) == 0) add_fields(&b, "container", &f);
    vx_text_fields_clear(&f);

    vx_subtitle_limits lim;
    vx_subtitle_limits_default(&lim);
    lim.duration = duration;
    vx_cues cues = {0};
    if (vx_read_subtitle_streams(path, &lim, &cues, &why)) note(&b, "subtitle streams: %s", reason(&why, path));
    add_cues(&b, &cues, 0, "subtitle stream");

    char **sidecars = NULL;
    int n = vx_find_sidecars(path, cache, &sidecars, &why);
    if (n < 0) {
        note(&b, "sidecar files: %s", why.msg);
        n = 0;
    }
    if (n && !(out->sidecars = calloc((size_t)n, sizeof *out->sidecars))) b.oom = 1;
    for (int i = 0; i < n && !b.oom; i++) {
        const char *side = sidecars[i], *name = base_name(side);
        struct stat sb;
        if (stat(side, &sb) == 0) {
            vx_sidecar_stamp *st = &out->sidecars[out->n_sidecars];
            if (!(st->name = strdup(name))) { b.oom = 1; break; }
            st->size = (uint64_t)sb.st_size;
            st->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
            out->n_sidecars++;
        }
        int r;
        if (ends_with(side, ".info.json") || ends_with(side, ".txt")) {
            memset(&f, 0, sizeof f);
            r = ends_with(side, ".txt") ? vx_read_description_file(side, &f, &why) : vx_read_info_json(side, &f, &why);
            if (r == 0) add_fields(&b, name, &f);
            vx_text_fields_clear(&f);
        } else {
            const int from = cues.n;
            r = vx_read_subtitle_file(side, &lim, &cues, &why);
            if (r == 0) add_cues(&b, &cues, from, name);
        }
        if (r) note(&b, "%s: %s", name, reason(&why, side));
    }
    if (cues.dropped) note(&b, "%d subtitle cues left out (empty, bad times, or over the limits)", cues.dropped);
    if (cues.notes[0]) {
        /* The reader's own notes end with "; " */
        size_t len = strlen(cues.notes);
        while (len && (cues.notes[len - 1] == ' ' || cues.notes[len - 1] == ';')) cues.notes[--len] = '\0';
        note(&b, "%s", cues.notes);
    }
    vx_cues_clear(&cues);
    for (int i = 0; i < n; i++) free(sidecars[i]);
    free(sidecars);
    if (b.oom || !(out->notes = strdup(b.notes))) {
        vx_video_text_clear(out);
        return vx_fail(err, "out of memory reading the text of %s", path);
    }
    return 0;
}

int vx_video_text_stale(const char *path, const vx_video_text *t, vx_dir_listing *cache) {
    char **sidecars = NULL;
    vx_error err;
    int n = vx_find_sidecars(path, cache, &sidecars, &err);
    if (n < 0) return 1;
    int stale = (uint32_t)n != t->n_sidecars;
    for (int i = 0; i < n; i++) {
        if (!stale) {
            const vx_sidecar_stamp *st = &t->sidecars[i]; /* both sorted by name */
            struct stat sb;
            stale = strcmp(st->name, base_name(sidecars[i])) != 0 || stat(sidecars[i], &sb) != 0 ||
                    (uint64_t)sb.st_size != st->size ||
                    (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec != st->mtime_ns;
        }
        free(sidecars[i]);
    }
    free(sidecars);
    return stale;
}
