/* vidx engine: the lexical index kept in step with the catalog, and text set through
 * the API.
 *
 * What the lexical index (text/lexical.h) holds for a video is derived from the catalog
 * alone: nothing unless the video is an indexed original; else the words of its file
 * name and every entry of its two text records (from its files, from the API). Applying
 * an op that changes any of that bumps the meta record's text generation in the same
 * catalog batch, then rewrites the video's documents and commits the index with that
 * generation (apply.c). A crash in between leaves the index behind the catalog; the next
 * open sees the older generation and re-reads the videos whose digest (a hash of what
 * their documents were made from) differs. A folder Xapian cannot open is rebuilt.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/grow.h"
#include "../common/hash.h"
#include "../common/log.h"
#include "../common/system.h"
#include "../common/utf8.h"
#include "../common/failpoint.h"
#include "engine_internal.h"

/* ---- what a video's documents are made from ------------------------------------------ */

typedef struct video_source {
    vx_video video;
    int searchable;          /* an indexed original */
    vx_video_text text[2];   /* VX_TEXT_FILES, VX_TEXT_API (zeroed when absent) */
    char file_words[512];    /* the file name without extension, separators as spaces */
    uint64_t digest;         /* 0 when not searchable */
} video_source;

static void source_clear(video_source *s) {
    vx_video_clear(&s->video);
    vx_video_text_clear(&s->text[0]);
    vx_video_text_clear(&s->text[1]);
}

/* "holiday_2019-beach.mp4" -> "holiday 2019 beach" (cut at a character boundary). */
static void file_words(const char *path, char *out, size_t size) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot > base ? (size_t)(dot - base) : strlen(base);
    if (n >= size) n = vx_utf8_cut(base, n, size - 1);
    for (size_t i = 0; i < n; i++) out[i] = base[i] == '_' || base[i] == '-' || base[i] == '.' ? ' ' : base[i];
    out[n] = '\0';
    if (!vx_utf8_valid(out, n)) out[0] = '\0'; /* a name that is not UTF-8 has no searchable words */
}

/* Reads a video's record and text; 1 when the video has no record. */
static int load_source(vx_engine *e, uint64_t id, video_source *s, vx_error *err) {
    memset(s, 0, sizeof *s);
    int r = vx_catalog_get_video(e->cat, id, &s->video, err);
    if (r) return r;
    s->searchable = s->video.status == VX_VIDEO_INDEXED && !s->video.duplicate_of;
    if (!s->searchable) return 0;
    for (uint8_t slot = VX_TEXT_FILES; slot <= VX_TEXT_API; slot++) {
        r = vx_catalog_get_text(e->cat, id, slot, &s->text[slot], err);
        if (r < 0) {
            /* A corrupt text record: the video stays searchable by what else it has. */
            vx_warn("%s", err->msg);
            memset(&s->text[slot], 0, sizeof s->text[slot]);
        }
    }
    file_words(s->video.path, s->file_words, sizeof s->file_words);
    vx_buf b = {0};
    vx_put_string(&b, s->file_words);
    for (int slot = 0; slot < 2; slot++)
        if (s->text[slot].id) vx_video_text_encode(&b, &s->text[slot]);
    if (b.oom) {
        vx_buf_free(&b);
        source_clear(s);
        return vx_fail(err, "out of memory");
    }
    s->digest = vx_hash64(b.data, b.len) | 1; /* never 0: 0 means "no documents" */
    vx_buf_free(&b);
    return 0;
}

/* Rewrites the video's documents when they were made from something else (with fix 0,
 * only says so: *differs). */
static int sync_video_as(vx_engine *e, uint64_t id, int fix, int *differs, vx_error *err) {
    video_source s;
    if (differs) *differs = 0;
    int r = load_source(e, id, &s, err);
    if (r < 0) return -1;
    uint64_t held;
    if (vx_lexical_digest(e->lex, id, &held, err)) { source_clear(&s); return -1; }
    if (held == s.digest) { source_clear(&s); return 0; }
    if (differs) *differs = 1;
    if (!fix) { source_clear(&s); return 0; }
    int n = 0, cap = 1 + (int)(s.text[0].n_entries + s.text[1].n_entries);
    vx_lexical_doc *docs = s.digest ? malloc((size_t)cap * sizeof *docs) : NULL;
    if (s.digest && !docs) { source_clear(&s); return vx_fail(err, "out of memory"); }
    if (s.digest && s.file_words[0]) docs[n++] = (vx_lexical_doc){.field = VX_LEXICAL_FILE_NAME, .text = s.file_words};
    for (int slot = 0; s.digest && slot < 2; slot++)
        for (uint32_t i = 0; i < s.text[slot].n_entries; i++) {
            const vx_text_entry *x = &s.text[slot].entries[i];
            docs[n++] = (vx_lexical_doc){.field = x->field, .start = x->start, .end = x->end, .text = x->text};
        }
    r = vx_lexical_put_video(e->lex, id, docs, n, s.digest, err);
    free(docs);
    source_clear(&s);
    return r;
}

static int sync_video(vx_engine *e, uint64_t id, vx_error *err) { return sync_video_as(e, id, 1, NULL, err); }

void vx_engine_text_follow(vx_engine *e, uint64_t video_id, uint64_t generation) {
    if (!e->lex) return;
    vx_error err;
    if (vx_failpoint("words-follow")) {
        vx_fail(&err, "failpoint words-follow");
    } else if (sync_video(e, video_id, &err) == 0 && vx_lexical_commit(e->lex, generation, &err) == 0) {
        return;
    }
    char why[400];
    snprintf(why, sizeof why, "video %016llx: %.300s", (unsigned long long)video_id, err.msg);
    vx_engine_mark_dirty(e, VX_DERIVED_WORDS, why);
}

/* ---- opening and catching up ----------------------------------------------------------- */

typedef struct id_list {
    uint64_t *ids;
    size_t n, cap;
    int oom;
} id_list;

static int collect_id(void *ctx, const vx_video *v) {
    id_list *l = ctx;
    if (VX_GROW(l->ids, l->cap, l->n + 1)) {
        l->oom = 1;
        return 1;
    }
    l->ids[l->n++] = v->id;
    return 0;
}

int vx_engine_text_check(vx_engine *e, int fix, uint64_t *differ, uint64_t *example, void *unused, vx_error *err) {
    (void)unused;
    id_list l = {0};
    uint64_t n_differ = 0, first = 0;
    if (vx_catalog_scan_videos(e->cat, collect_id, &l, NULL, err)) { free(l.ids); return -1; }
    if (l.oom) { free(l.ids); return vx_fail(err, "out of memory"); }
    for (size_t i = 0; i < l.n; i++) {
        int d = 0;
        if (sync_video_as(e, l.ids[i], fix, &d, err)) { free(l.ids); return -1; }
        if (d && !n_differ++) first = l.ids[i];
    }
    free(l.ids);
    if (fix && n_differ) {
        vx_meta meta;
        if (vx_catalog_get_meta(e->cat, &meta, err)) return -1;
        const uint64_t generation = meta.text_generation;
        vx_meta_clear(&meta);
        if (vx_lexical_commit(e->lex, generation, err)) return -1;
    }
    if (differ) *differ = n_differ;
    if (example) *example = first;
    return 0;
}

/* Brings the index to the catalog's text generation: every video's documents checked
 * by digest, the differing ones rewritten. */
static int catch_up(vx_engine *e, uint64_t generation, vx_error *err) {
    id_list l = {0};
    if (vx_catalog_scan_videos(e->cat, collect_id, &l, NULL, err)) { free(l.ids); return -1; }
    if (l.oom) { free(l.ids); return vx_fail(err, "out of memory"); }
    const double t0 = vx_now();
    for (size_t i = 0; i < l.n; i++)
        if (sync_video(e, l.ids[i], err)) { free(l.ids); return -1; }
    free(l.ids);
    if (vx_lexical_commit(e->lex, generation, err)) return -1;
    vx_info("text index: %zu videos checked against the catalog in %.1f s (%llu documents)", l.n, vx_now() - t0,
            (unsigned long long)vx_lexical_doc_count(e->lex));
    return 0;
}

int vx_engine_text_open(vx_engine *e, vx_error *err) {
    vx_path dir, index_dir;
    if (vx_path_fmt(index_dir, err, "%s/index", e->data_dir) || vx_path_fmt(dir, err, "%s/index/text", e->data_dir))
        return -1;
    if (mkdir(index_dir, 0755) && errno != EEXIST)
        return vx_fail(err, "cannot create %s: %s", index_dir, strerror(errno));
    if (!(e->lex = vx_lexical_open(dir, err))) {
        /* Derived data: start over. */
        vx_warn("%s; rebuilding it from the catalog", err->msg);
        vx_remove_tree(dir);
        if (!(e->lex = vx_lexical_open(dir, err))) return -1;
    }
    vx_meta meta;
    if (vx_catalog_get_meta(e->cat, &meta, err)) return -1;
    const uint64_t want = meta.text_generation;
    vx_meta_clear(&meta);
    if (vx_lexical_generation(e->lex) == want) return 0;
    return catch_up(e, want, err);
}

void vx_engine_text_close(vx_engine *e) {
    vx_lexical_close(e->lex);
    e->lex = NULL;
}

/* ---- text set through the API ---------------------------------------------------------- */

void vx_text_input_init(vx_text_input *in) { memset(in, 0, sizeof *in); }

static int check_field(const char *name, const char *s, size_t max, vx_error *err) {
    if (!s) return 0;
    size_t n = strlen(s);
    if (n > max) return vx_fail(err, "%s: longer than %zu bytes", name, max);
    if (!vx_utf8_valid(s, n)) return vx_fail(err, "%s: not valid UTF-8", name);
    return 0;
}

int vx_engine_set_text(vx_engine *e, uint64_t id, const vx_text_input *in, vx_error *err) {
    if (check_field("title", in->title, VX_MAX_TEXT, err) ||
        check_field("description", in->description, VX_TEXT_MAX_ENTRY, err))
        return VX_E_BAD_INPUT;
    if (in->n_tags < 0 || in->n_tags > VX_API_MAX_TAGS)
        return vx_fail(err, "tags: at most %d", VX_API_MAX_TAGS), VX_E_BAD_INPUT;
    for (int i = 0; i < in->n_tags; i++) {
        char name[32];
        snprintf(name, sizeof name, "tags[%d]", i);
        if (!in->tags[i]) return vx_fail(err, "%s: not a string", name), VX_E_BAD_INPUT;
        if (check_field(name, in->tags[i], 256, err)) return VX_E_BAD_INPUT;
    }
    vx_video v;
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(id, hex);
    int r = vx_catalog_get_video(e->cat, id, &v, err);
    if (r < 0) return VX_E_INTERNAL;
    if (r > 0 || v.status == VX_VIDEO_REMOVED) {
        vx_fail(err, "no video %s%s", hex, r ? "" : " (its file was removed)");
        if (r == 0) vx_video_clear(&v);
        return VX_E_NOT_FOUND;
    }
    vx_video_clear(&v);
    vx_text_entry *entries = calloc((size_t)in->n_tags + 2, sizeof *entries);
    if (!entries) return vx_fail(err, "out of memory"), VX_E_INTERNAL;
    vx_op op = {.kind = VX_OP_TEXT};
    op.text = (vx_video_text){.id = id, .slot = VX_TEXT_API, .updated_at = (int64_t)time(NULL), .notes = "",
                              .entries = entries};
    /* Empty fields are left out: a PUT without any text removes what the API had set. */
    if (in->title && *in->title)
        entries[op.text.n_entries++] = (vx_text_entry){.field = VX_FIELD_TITLE, .origin = "api", .text = (char *)in->title};
    if (in->description && *in->description)
        entries[op.text.n_entries++] =
            (vx_text_entry){.field = VX_FIELD_DESCRIPTION, .origin = "api", .text = (char *)in->description};
    for (int i = 0; i < in->n_tags; i++)
        if (*in->tags[i])
            entries[op.text.n_entries++] = (vx_text_entry){.field = VX_FIELD_TAG, .origin = "api", .text = (char *)in->tags[i]};
    r = vx_engine_commit(e, &op, err);
    free(entries);
    return r;
}
