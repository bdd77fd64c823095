/* vidx indexer: what a video is called and how it is described, from its container's
 * tags and from files beside it.
 *
 * - Container tags (libavformat metadata of the file and its first video stream):
 *   title, description, synopsis, comment, keywords, genre, artist, show, episode_id.
 * - Sidecar files with the video's base name (`clip.mp4` -> `clip.srt`, `clip.en.vtt`,
 *   `clip.ass`, `clip.ssa`, `clip.txt`, `clip.info.json`): subtitles are read by
 *   subtitles.h; `.txt` is a description; `.info.json` (as written by download tools such
 *   as yt-dlp) gives title, description and tags.
 *
 * All text is UTF-8 checked and bounded (VX_TEXT_*); a file that is too big, not
 * UTF-8 or not the JSON expected is refused with the reason and the rest still counts.
 *
 * Conventions: functions return 0, or -1 with err naming the file and the problem.
 */
#ifndef VX_TEXTMETA_H
#define VX_TEXTMETA_H

#include <stddef.h>

#include "../common/error.h"
#include "../common/path.h"

#define VX_TEXT_FIELD_MAX 16384    /* bytes kept of a title, description or tag list */
#define VX_TEXT_MAX_TAGS 200
#define VX_TEXT_FILE_MAX (4u << 20) /* a .txt or .info.json larger than this is refused */
#define VX_SIDECARS_MAX 16

typedef struct vx_text_fields {
    char *title;       /* "" when none */
    char *description; /* "" when none; several sources are joined by blank lines */
    char **tags;       /* keywords, genre, tags */
    int n_tags;
    int not_utf8;      /* pieces left out because they are not UTF-8 (bytes are never guessed at:
                        * Latin-1, GBK and Shift-JIS cannot be told apart) */
} vx_text_fields;

void vx_text_fields_clear(vx_text_fields *f);

/* Adds the container's tags of a media file. */
int vx_read_container_text(const char *path, vx_text_fields *out, vx_error *err);
/* Adds title, description and tags from a .info.json file, or from its bytes. */
int vx_read_info_json(const char *path, vx_text_fields *out, vx_error *err);
int vx_parse_info_json(const char *data, size_t len, const char *name, vx_text_fields *out, vx_error *err);
/* Adds a .txt file as description. */
int vx_read_description_file(const char *path, vx_text_fields *out, vx_error *err);

/* A folder's entries, sorted, kept between calls of vx_find_sidecars for videos of the
 * same folder (a run of the indexer takes files folder by folder). */
typedef struct vx_dir_listing {
    vx_path dir;
    char **names;
    int n;
} vx_dir_listing;
void vx_dir_listing_clear(vx_dir_listing *l);

/* The sidecar files of a video that exist, sorted: paths[] heap strings (free each, then
 * the array). cache: the listing of the last folder asked about (NULL: none). Returns the
 * count (0..VX_SIDECARS_MAX), or -1 with err. */
int vx_find_sidecars(const char *video_path, vx_dir_listing *cache, char ***paths, vx_error *err);

#endif
