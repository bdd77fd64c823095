/* vidx text: the lexical index, Xapian behind a C interface (text/lexical.cpp).
 *
 * One Xapian document per field of a searchable video: its titles, its descriptions, its
 * tags, its subtitle cues (all in one document, each cue's time range and text kept in
 * its data) and the words of its file name. Every document carries the video's id (a
 * value, by which a search keeps each video's best document only, and a boolean term, by
 * which all of a video's documents are replaced together). Words are stemmed (English),
 * common English words are left out, and Chinese, Japanese and Korean text is split into
 * character n-grams, so two-character words match. Which cue matched, and the snippet,
 * are found afterwards for the results a page shows (vx_lexical_locate).
 *
 * Like the vector indexes it is derived from the catalog (engine/text.c keeps it in
 * step): it records the catalog's text generation it reflects and, per video, a digest
 * of the text it holds, so a stale index is brought up to date by re-reading only the
 * videos whose digest differs.
 *
 * Threads: writes (put, commit) from one thread at a time; searches from any thread at
 * any time (each takes a reader of its own, reopened after commits).
 *
 * Conventions: functions return 0, or -1 with err (Xapian's own message included).
 */
#ifndef VX_LEXICAL_H
#define VX_LEXICAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "../common/error.h"
#include "../schemas/records.h" /* vx_text_field */

typedef struct vx_lexical vx_lexical;

typedef struct vx_lexical_doc {
    uint8_t field;     /* vx_text_field (VX_FIELD_*), or VX_LEXICAL_FILE_NAME */
    double start, end; /* seconds (subtitle cues), else 0 */
    const char *text;  /* UTF-8 */
} vx_lexical_doc;

/* The one field that is not a text record's: the words of the video's file name. */
enum { VX_LEXICAL_FILE_NAME = 16 };

/* Opens the index in `dir`, creating it when missing. A folder Xapian cannot open is an
 * error (the caller removes it and starts over: the index is derived). */
vx_lexical *vx_lexical_open(const char *dir, vx_error *err);
void vx_lexical_close(vx_lexical *lx);

/* The catalog text generation the committed index reflects (UINT64_MAX for a new index). */
uint64_t vx_lexical_generation(vx_lexical *lx);
/* Commits since the index was opened: a search's answer holds while it stays the same. */
uint64_t vx_lexical_commits(vx_lexical *lx);
/* Documents and videos held (as of the last commit). */
uint64_t vx_lexical_doc_count(vx_lexical *lx);
/* The digest recorded with a video's documents; 0 when it has none. */
int vx_lexical_digest(vx_lexical *lx, uint64_t video_id, uint64_t *digest, vx_error *err);

/* Replaces every document of the video with docs[0..n) (n 0: removes them), recording
 * digest (0: none). Seen by searches after the next commit. */
int vx_lexical_put_video(vx_lexical *lx, uint64_t video_id, const vx_lexical_doc *docs, int n, uint64_t digest,
                         vx_error *err);
/* Makes the changes durable, recording the generation they bring the index to. */
int vx_lexical_commit(vx_lexical *lx, uint64_t generation, vx_error *err);

typedef struct vx_lexical_hit {
    uint64_t video_id;
    double score;      /* BM25 of the video's best document */
    uint8_t field;     /* that document's field (VX_FIELD_* or VX_LEXICAL_FILE_NAME) */
} vx_lexical_hit;

typedef struct vx_lexical_hits {
    vx_lexical_hit *items; /* best first, one per video */
    int n;
    uint64_t matched_estimate; /* videos that match, as Xapian estimates */
    void *state;               /* what snippets are made from (a reader is held until freed) */
} vx_lexical_hits;

/* The `want` best videos for a free-text query (words, "phrases", +must, -must-not). A
 * query with no searchable words gives no hits. */
int vx_lexical_search(vx_lexical *lx, const char *query, int want, vx_lexical_hits *out, vx_error *err);
/* Where hit i matched, for the hits a page shows: its text around the match (a heap
 * string, HTML-escaped, matches in <b>...</b>; NULL when out of memory) and, when the
 * words matched subtitles, the time range of the cue they matched best (*start, *end;
 * else both 0). The cue is the one holding the most query terms, then the closest together,
 * then by BM25; or a run of two adjacent cues when together they hold more terms than
 * either (a phrase said across them), the range then covering both. */
char *vx_lexical_locate(const vx_lexical_hits *h, int i, double *start, double *end);
void vx_lexical_hits_free(vx_lexical_hits *h);

#ifdef __cplusplus
}
#endif

#endif
