/* vidx engine: one video as the faces show it: its record, segments, text, frames and
 * labels; how it plays, and which file /media serves. */
#include "../common/path.h"
#include "engine_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/hash.h"

int vx_video_arg_id(const char *arg, uint64_t *id, vx_error *err) {
    if (strlen(arg) == 16 && vx_id_from_hex(arg, id) == 0) return 0;
    char real[PATH_MAX];
    if (realpath(arg, real)) {
        *id = vx_video_id_for_path(real);
        return 0;
    }
    vx_fail(err, "no video '%s' (give a 16-digit id or the path of an indexed file)", arg);
    return VX_E_BAD_INPUT;
}

int vx_engine_video(vx_engine *e, uint64_t id, vx_video_view *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(id, hex);
    int r = vx_catalog_get_video(e->cat, id, &out->video, err);
    if (r < 0) return VX_E_INTERNAL;
    if (r > 0 || out->video.status == VX_VIDEO_REMOVED) {
        vx_fail(err, "no video %s%s", hex, r ? "" : " (its file was removed)");
        vx_video_view_free(out);
        return VX_E_NOT_FOUND;
    }
    if (out->video.status != VX_VIDEO_INDEXED) return VX_OK;
    /* A copy shows its original's segments: it shares them. */
    const uint64_t owner = out->video.duplicate_of ? out->video.duplicate_of : id;
    if (vx_catalog_get_segments(e->cat, owner, 0, &out->segments, &out->n_segments, err)) {
        vx_video_view_free(out);
        return VX_E_INTERNAL;
    }
    vx_engine_playback(e, &out->video, &out->playback);
    for (uint8_t slot = VX_TEXT_FILES; slot <= VX_TEXT_API; slot++)
        if (vx_catalog_get_text(e->cat, id, slot, &out->text[slot], err) < 0) {
            vx_video_view_free(out);
            return VX_E_INTERNAL;
        }
    if (vx_catalog_get_frames(e->cat, owner, &out->frames, err) < 0) {
        vx_video_view_free(out);
        return VX_E_INTERNAL;
    }
    vx_video_label *labels;
    int n_labels;
    if (vx_engine_video_labels(e, owner, &labels, &n_labels) ||
        (n_labels && !(out->labels = calloc((size_t)n_labels, sizeof *out->labels)))) {
        free(labels);
        vx_fail(err, "out of memory");
        vx_video_view_free(out);
        return VX_E_INTERNAL;
    }
    for (int i = 0; i < n_labels; i++) {
        vx_label_view *g = &out->labels[i];
        g->label = vx_engine_label_name(e, labels[i].vocabulary, labels[i].label, &g->vocabulary);
        g->score = labels[i].score;
        g->n_ranges = labels[i].n_ranges;
        memcpy(g->ranges, labels[i].ranges, sizeof g->ranges);
    }
    out->n_labels = n_labels;
    free(labels);
    return VX_OK;
}

void vx_engine_playback(vx_engine *e, const vx_video *v, vx_playback_view *out) {
    memset(out, 0, sizeof *out);
    out->progress = -1;
    if (v->status != VX_VIDEO_INDEXED) return;
    vx_rendition r;
    vx_error err;
    vx_path path;
    struct stat sb;
    int have = vx_catalog_get_rendition(e->cat, v->content_hash, &r, &err);
    /* A format browsers play: the original, unless a browser refused it and asked for one. */
    if (v->playback == VX_PLAYBACK_DIRECT && (have != 0 || r.state == VX_RENDITION_NOT_NEEDED)) {
        if (have == 0) vx_rendition_clear(&r);
        out->state = "direct";
        return;
    }
    if (vx_rendition_path(e, v->content_hash, path, &err)) path[0] = '\0'; /* stat fails: pending */
    if (have == 0 && r.state == VX_RENDITION_NOT_NEEDED) out->state = "direct";
    else if (have == 0 && r.state == VX_RENDITION_FAILED) out->state = "failed";
    else if (have == 0 && r.state == VX_RENDITION_READY && stat(path, &sb) == 0) out->state = "rendition";
    else out->state = "pending";
    if (have == 0 && r.state == VX_RENDITION_READY && *out->state == 'p') vx_renditions_notice(e->renditions, v->content_hash); /* its file went */
    if (have == 0 && r.failure[0]) snprintf(out->reason, sizeof out->reason, "%s", r.failure);
    else if (v->playback_note && *out->state == 'p') snprintf(out->reason, sizeof out->reason, "%s", v->playback_note);
    if (have == 0) vx_rendition_clear(&r);
    if (*out->state == 'p') out->progress = vx_renditions_progress(e->renditions, v->content_hash);
}

static int within_media_roots(const vx_engine *e, const char *path) {
    for (int i = 0; i < e->opt.index.n_media_roots; i++)
        if (vx_path_within(path, e->opt.index.media_roots[i])) return 1;
    return 0;
}

int vx_engine_media_file(vx_engine *e, uint64_t id, int original, vx_media_file *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    vx_video v;
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(id, hex);
    int r = vx_catalog_get_video(e->cat, id, &v, err);
    if (r < 0) return VX_E_INTERNAL;
    if (r > 0 || v.status != VX_VIDEO_INDEXED) {
        vx_fail(err, "video %s is not indexed", hex);
        if (r == 0) vx_video_clear(&v);
        return VX_E_NOT_FOUND;
    }
    if (!original) { /* a rendition when one is ready (a format browsers play has one when a browser asked) */
        vx_playback_view pv;
        vx_engine_playback(e, &v, &pv);
        if (pv.state && strcmp(pv.state, "rendition") == 0) {
            out->rendition = vx_rendition_path(e, v.content_hash, out->path, err) == 0;
            out->content_type = out->rendition ? "video/mp4" : NULL;
        }
    }
    if (!out->rendition && (vx_path_system_folder(v.path) || vx_path_within(v.path, e->data_dir_real) ||
                            (e->opt.index.n_media_roots && !within_media_roots(e, v.path)))) {
        vx_fail(err, "the file of video %s is outside the media roots (vidx serve --media-root): not served", hex);
        vx_video_clear(&v);
        return VX_E_NOT_FOUND;
    }
    const int bad = !out->rendition && vx_path_fmt(out->path, err, "%s", v.path);
    if (!out->rendition) {
        out->size = v.size;
        out->mtime_ns = v.mtime_ns;
        out->inode = e->opt.index.same_inode ? v.inode : 0;
    }
    vx_video_clear(&v);
    return bad ? VX_E_INTERNAL : VX_OK;
}

void vx_video_view_free(vx_video_view *v) {
    vx_video_clear(&v->video);
    free(v->segments);
    vx_video_text_clear(&v->text[0]);
    vx_video_text_clear(&v->text[1]);
    vx_video_frames_clear(&v->frames);
    free(v->labels);
    memset(v, 0, sizeof *v);
}
