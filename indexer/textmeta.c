#include "textmeta.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <libavformat/avformat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/grow.h"
#include "../common/path.h"
#include "../common/utf8.h"
#include "probe.h"

void vx_text_fields_clear(vx_text_fields *f) {
    free(f->title);
    free(f->description);
    for (int i = 0; i < f->n_tags; i++) free(f->tags[i]);
    free(f->tags);
    memset(f, 0, sizeof *f);
}

/* Trimmed copy of s[0..len), or NULL when empty or not UTF-8 (counted in f). */
static char *clean(vx_text_fields *f, const char *s, size_t len) {
    while (len > 0 && (unsigned char)s[0] <= ' ') s++, len--;
    while (len > 0 && (unsigned char)s[len - 1] <= ' ') len--;
    if (len == 0) return NULL;
    if (!vx_utf8_valid(s, len)) {
        f->not_utf8++;
        return NULL;
    }
    len = vx_utf8_cut(s, len, VX_TEXT_FIELD_MAX);
    char *out = malloc(len + 1);
    if (!out) return NULL;
    memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

static void set_title(vx_text_fields *f, const char *s, size_t len) {
    if (f->title && *f->title) return; /* the first source that has one */
    char *t = clean(f, s, len);
    if (t) {
        free(f->title);
        f->title = t;
    }
}

static void add_description(vx_text_fields *f, const char *s, size_t len) {
    char *d = clean(f, s, len);
    if (!d) return;
    const size_t have = f->description ? strlen(f->description) : 0, add = strlen(d);
    if (have && strstr(f->description, d)) { free(d); return; } /* the same words twice */
    const size_t room = have + 2 + add > VX_TEXT_FIELD_MAX ? (VX_TEXT_FIELD_MAX > have + 2 ? VX_TEXT_FIELD_MAX - have - 2 : 0) : add;
    const size_t n = vx_utf8_cut(d, add, room);
    if (n == 0) { free(d); return; }
    char *joined = realloc(f->description, have + 2 + n + 1);
    if (!joined) { free(d); return; }
    if (have) memcpy(joined + have, "\n\n", 2);
    memcpy(joined + (have ? have + 2 : 0), d, n);
    joined[(have ? have + 2 : 0) + n] = '\0';
    f->description = joined;
    free(d);
}

static void add_tag(vx_text_fields *f, const char *s, size_t len) {
    if (f->n_tags >= VX_TEXT_MAX_TAGS) return;
    char *t = clean(f, s, len > 256 ? vx_utf8_cut(s, len, 256) : len);
    if (!t) return;
    for (int i = 0; i < f->n_tags; i++)
        if (strcmp(f->tags[i], t) == 0) { free(t); return; }
    char **tags = realloc(f->tags, (size_t)(f->n_tags + 1) * sizeof *tags);
    if (!tags) { free(t); return; }
    f->tags = tags;
    f->tags[f->n_tags++] = t;
}

/* A keywords tag: "a, b; c" -> a, b, c. */
static void add_tag_list(vx_text_fields *f, const char *s) {
    while (*s) {
        const size_t n = strcspn(s, ",;");
        add_tag(f, s, n);
        s += n;
        if (*s) s++;
    }
}

static void ensure_strings(vx_text_fields *f) {
    if (!f->title) f->title = strdup("");
    if (!f->description) f->description = strdup("");
}

/* ---- container tags ------------------------------------------------------------------ */

static void take_metadata(vx_text_fields *f, AVDictionary *m) {
    const AVDictionaryEntry *e;
    if ((e = av_dict_get(m, "title", NULL, 0))) set_title(f, e->value, strlen(e->value));
    static const char *const described[] = {"description", "synopsis", "comment"};
    for (size_t i = 0; i < sizeof described / sizeof *described; i++)
        if ((e = av_dict_get(m, described[i], NULL, 0))) add_description(f, e->value, strlen(e->value));
    static const char *const tagged[] = {"keywords", "genre", "artist", "show"};
    for (size_t i = 0; i < sizeof tagged / sizeof *tagged; i++)
        if ((e = av_dict_get(m, tagged[i], NULL, 0))) add_tag_list(f, e->value);
}

int vx_read_container_text(const char *path, vx_text_fields *out, vx_error *err) {
    AVFormatContext *fmt = NULL;
    vx_ffmpeg_quiet();
    char e[256];
    if (vx_ffmpeg_open(&fmt, path, e, sizeof e) < 0)
        return vx_fail(err, "%s: not a readable media file: %s", path, e);
    take_metadata(out, fmt->metadata);
    for (unsigned i = 0; i < fmt->nb_streams; i++)
        if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
            take_metadata(out, fmt->streams[i]->metadata);
            break;
        }
    avformat_close_input(&fmt);
    ensure_strings(out);
    return 0;
}

/* ---- files beside the video ---------------------------------------------------------- */

/* A text file beside a video: opened without following a link (it could name any file of
 * the machine) and without blocking on a FIFO; it must be a regular file. */
static char *read_small_file(const char *path, size_t *len, vx_error *err) {
    struct stat sb;
    const int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0) close(fd);
        vx_fail(err, "%s: cannot be read (not a regular file, or a link)", path);
        return NULL;
    }
    if ((size_t)sb.st_size > VX_TEXT_FILE_MAX) {
        close(fd);
        vx_fail(err, "%s: %lld bytes, more than the %u a text file beside a video may have", path,
                (long long)sb.st_size, VX_TEXT_FILE_MAX);
        return NULL;
    }
    char *buf = malloc((size_t)sb.st_size + 1);
    if (!buf) {
        close(fd);
        vx_fail(err, "%s: out of memory", path);
        return NULL;
    }
    size_t n = 0;
    while (n < (size_t)sb.st_size) {
        const ssize_t got = read(fd, buf + n, (size_t)sb.st_size - n);
        if (got <= 0) break;
        n += (size_t)got;
    }
    close(fd);
    *len = n;
    buf[n] = '\0';
    return buf;
}

int vx_read_description_file(const char *path, vx_text_fields *out, vx_error *err) {
    size_t len;
    char *text = read_small_file(path, &len, err);
    if (!text) return -1;
    const char *s = text;
    if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) s += 3, len -= 3; /* a byte order mark */
    if (!vx_utf8_valid(s, len)) {
        free(text);
        return vx_fail(err, "%s: not UTF-8 text", path);
    }
    add_description(out, s, len);
    free(text);
    ensure_strings(out);
    return 0;
}

int vx_parse_info_json(const char *data, size_t len, const char *name, vx_text_fields *out, vx_error *err) {
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return vx_fail(err, "%s: not JSON: %s (line %d)", name, je.text, je.line);
    if (!json_is_object(root)) {
        json_decref(root);
        return vx_fail(err, "%s: not a JSON object", name);
    }
    json_t *v;
    if ((v = json_object_get(root, "title")) && json_is_string(v))
        set_title(out, json_string_value(v), json_string_length(v));
    if ((v = json_object_get(root, "description")) && json_is_string(v))
        add_description(out, json_string_value(v), json_string_length(v));
    static const char *const lists[] = {"tags", "categories"};
    for (size_t k = 0; k < sizeof lists / sizeof *lists; k++) {
        json_t *arr = json_object_get(root, lists[k]);
        size_t i;
        json_t *t;
        if (json_is_array(arr))
            json_array_foreach(arr, i, t) if (json_is_string(t)) add_tag(out, json_string_value(t), json_string_length(t));
    }
    json_decref(root);
    ensure_strings(out);
    return 0;
}

int vx_read_info_json(const char *path, vx_text_fields *out, vx_error *err) {
    size_t len;
    char *text = read_small_file(path, &len, err);
    if (!text) return -1;
    int r = vx_parse_info_json(text, len, path, out, err);
    free(text);
    return r;
}

static const char *const sidecar_exts[] = {".srt", ".vtt", ".ass", ".ssa", ".txt", ".info.json"};

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void vx_dir_listing_clear(vx_dir_listing *l) {
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

/* Lists dir's entries, sorted, into l (once per folder and run: videos come folder by
 * folder, and a folder of 100,000 videos must not be read 100,000 times). */
static int list_dir(const char *dir, vx_dir_listing *l, vx_error *err) {
    if (l->names && strcmp(l->dir, dir) == 0) return 0;
    vx_dir_listing_clear(l);
    if (vx_path_fmt(l->dir, err, "%s", dir)) return -1;
    DIR *d = opendir(dir);
    if (!d) return 0; /* a folder we cannot list has no sidecars we can read */
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (VX_GROW(l->names, cap, (size_t)l->n + 1)) break;
        if (!(l->names[l->n] = strdup(de->d_name))) break;
        l->n++;
    }
    const int complete = de == NULL;
    closedir(d);
    if (!complete) {
        vx_dir_listing_clear(l);
        return vx_fail(err, "%s: out of memory listing the folder", dir);
    }
    if (!l->names && !(l->names = malloc(sizeof *l->names))) return vx_fail(err, "out of memory");
    qsort(l->names, (size_t)l->n, sizeof *l->names, cmp_str);
    return 0;
}

int vx_find_sidecars(const char *video_path, vx_dir_listing *cache, char ***paths, vx_error *err) {
    *paths = NULL;
    const char *slash = strrchr(video_path, '/');
    const size_t dir_len = slash ? (size_t)(slash - video_path) : 0;
    const char *file = slash ? slash + 1 : video_path;
    const char *dot = strrchr(file, '.');
    const size_t base_len = dot && dot != file ? (size_t)(dot - file) : strlen(file);
    vx_path dir;
    if (dir_len >= PATH_MAX) return vx_fail(err, "%s: path too long", video_path);
    if (slash) {
        memcpy(dir, video_path, dir_len ? dir_len : 1);
        dir[dir_len ? dir_len : 1] = '\0';
    } else
        strcpy(dir, ".");
    vx_dir_listing own = {0}, *l = cache ? cache : &own;
    if (list_dir(dir, l, err)) return -1;
    char **out = calloc(VX_SIDECARS_MAX, sizeof *out);
    int n = 0;
    /* The names that start with BASE. lie together in the sorted listing. */
    int lo = 0, hi = l->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (strncmp(l->names[mid], file, base_len) < 0) lo = mid + 1;
        else hi = mid;
    }
    for (int i = lo; out && i < l->n && n < VX_SIDECARS_MAX && strncmp(l->names[i], file, base_len) == 0; i++) {
        const char *name = l->names[i];
        /* BASE.ext or BASE.LANG.ext (clip.en.srt), never the video itself. */
        if (name[base_len] != '.' || strcmp(name, file) == 0) continue;
        const char *rest = name + base_len;
        int ok = 0;
        for (size_t k = 0; k < sizeof sidecar_exts / sizeof *sidecar_exts && !ok; k++) {
            const size_t el = strlen(sidecar_exts[k]), rl = strlen(rest);
            if (rl < el || strcmp(rest + rl - el, sidecar_exts[k]) != 0) continue;
            /* between the base and the extension: nothing, or one short language code */
            const size_t mid = rl - el;
            ok = mid == 0 || (mid >= 3 && mid <= 9 && rest[0] == '.' && !memchr(rest + 1, '.', mid - 1));
        }
        if (!ok) continue;
        vx_path path;
        struct stat sb;
        /* lstat: a link beside a video could name any file of the machine; a FIFO would block. */
        if (vx_path_fmt(path, NULL, "%s/%s", dir, name) || lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (!(out[n] = strdup(path))) break;
        n++;
    }
    if (l == &own) vx_dir_listing_clear(&own);
    if (!out) return vx_fail(err, "out of memory");
    *paths = out;
    return n;
}
