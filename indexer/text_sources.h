/* vidx indexer: all of a video's text, from all its sources, as one text record.
 *
 * Sources, each entry kept with its origin: the container's tags ("container"), its text
 * subtitle streams ("subtitle stream"), and the sidecar files beside it (by their names:
 * subtitles, a .txt description, a .info.json). A source that cannot be read (not UTF-8,
 * too big, absurd cue times, not the JSON expected) is skipped with the reason in the
 * record's notes; the rest still counts, and the video is indexed either way. The
 * record also stamps each sidecar (name, size, modification time), so a later run tells
 * when they changed and re-reads the text without decoding the frames again.
 */
#ifndef VX_TEXT_SOURCES_H
#define VX_TEXT_SOURCES_H

#include "../schemas/records.h"
#include "textmeta.h"

/* Fills out (slot VX_TEXT_FILES) for the video at path (id, duration in seconds: cue
 * times beyond it are dropped). -1 only when out of memory. */
int vx_read_video_text(const char *path, uint64_t id, double duration, vx_dir_listing *cache, vx_video_text *out,
                       vx_error *err);

/* 1 when the sidecars beside the video are not the ones the record stamped (added,
 * removed, or changed in size or time), else 0. */
int vx_video_text_stale(const char *path, const vx_video_text *t, vx_dir_listing *cache);

#endif
