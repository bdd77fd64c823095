/* vidx index: index new or changed videos, skip unchanged ones, note removed ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/config.h"
#include "../common/log.h"
#include "../ann/ann.h"
#include "../common/hash.h"
#include "../indexer/index.h"
#include "cli.h"

static int run_index(const cli_command *cmd, cli_args *args) {
    const char *db = vx_resolve_db(cli_get(cmd, args, "db"));
    vx_index_options o;
    vx_index_options_default(&o);
    long long v;
    const char *s;
    if ((s = cli_get(cmd, args, "max-frames")) && cli_int_option(cmd, "max-frames", s, 1, 100000, &v)) return CLI_USAGE;
    if (s) o.sample.max_frames = (int)v;
    if ((s = cli_get(cmd, args, "timeout")) && cli_int_option(cmd, "timeout", s, 1, 86400, &v)) return CLI_USAGE;
    if (s) o.sample.timeout_s = (double)v;
    if ((s = cli_get(cmd, args, "rate"))) {
        char *end;
        o.sample.rate = strtod(s, &end);
        if (*end || !(o.sample.rate >= 0.01 && o.sample.rate <= 60))
            return cli_usage_error(cmd, "--rate must be a number of frames per second from 0.01 to 60, not '%s'", s);
    }
    if ((s = cli_get(cmd, args, "segment"))) {
        char *end;
        o.segment_seconds = strtod(s, &end);
        if (*end || !(o.segment_seconds >= 0.5 && o.segment_seconds <= 3600))
            return cli_usage_error(cmd, "--segment must be seconds from 0.5 to 3600, not '%s'", s);
    }
    const int quiet = cli_has(cmd, args, "quiet");
    o.progress = !quiet && isatty(STDERR_FILENO);
    o.log_files = !quiet && !o.progress;

    vx_error err;
    vx_catalog *cat = vx_catalog_open(db, 1, &err);
    if (!cat) return cli_fail(cmd, "%s", err.msg);
    /* The model: --model, VIDX_MODEL, the one the database was indexed with, the default. */
    vx_meta meta = {0};
    char model_dir[4096];
    vx_catalog_get_meta(cat, &meta, &err);
    int r = cli_model_dir(cmd, args, meta.model, model_dir, sizeof model_dir);
    vx_meta_clear(&meta);
    if (r) {
        vx_catalog_close(cat);
        return r;
    }
    vx_clip *model = vx_clip_load(model_dir, &err);
    if (!model) {
        vx_catalog_close(cat);
        return cli_fail(cmd, "%s", err.msg);
    }
    o.model_dir = model_dir;
    /* The vector indexes as of before this run, updated with what it changed. */
    vx_ann *ann = vx_ann_open(cat, db, NULL, vx_clip_get_config(model)->proj_dim, &err);
    if (!ann) {
        vx_clip_free(model);
        vx_catalog_close(cat);
        return cli_fail(cmd, "%s", err.msg);
    }
    vx_index_summary sum;
    r = vx_index_paths(cat, model, db, (const char *const *)args->pos, args->n_pos, &o, &sum, &err);
    vx_clip_free(model);
    for (int i = 0; r == 0 && i < sum.n_items; i++) {
        if (sum.items[i].outcome == VX_ITEM_UNCHANGED) continue;
        if (vx_ann_update_video(ann, cat, vx_video_id_for_path(sum.items[i].path), &err)) r = -1;
    }
    /* Not saved when the run stopped on an error: the files then keep their older
     * generation and the next open rebuilds them from what was committed. */
    if (r == 0 && vx_ann_save(ann, cat, &err)) r = -1;
    vx_ann_close(ann);
    vx_catalog_close(cat);
    if (r) {
        vx_index_summary_clear(&sum);
        return cli_fail(cmd, "%s", err.msg);
    }
    printf("indexed %d, unchanged %d, duplicates %d, failed %d, removed %d", sum.indexed, sum.unchanged,
           sum.duplicates, sum.failed, sum.removed);
    if (sum.frames)
        printf(" (%ld frames, %.1f s of video in %.1f s: %.1f x real time)", sum.frames, sum.video_seconds,
               sum.wall_seconds, sum.wall_seconds > 0 ? sum.video_seconds / sum.wall_seconds : 0);
    putchar('\n');
    for (int i = 0; i < sum.n_items; i++)
        if (sum.items[i].outcome == VX_ITEM_FAILED) printf("  failed: %s: %s\n", sum.items[i].path, sum.items[i].message);
    int rc = sum.failed ? CLI_SOME_FAILED : CLI_OK;
    vx_index_summary_clear(&sum);
    return rc;
}

const cli_command cmd_index = {
    .name = "index",
    .synopsis = "[--db DIR] [--model DIR] PATH...",
    .summary = "index new or changed videos, skip unchanged ones, note removed ones",
    .details = "PATHs are video files or folders (walked for video files). Unchanged files are skipped\n"
               "without decoding, exact duplicates are linked to the video they copy, files gone from a\n"
               "folder (or named but missing) are marked removed. Ends with a summary; exit code 1 when\n"
               "any file failed (each listed with its reason).",
    .opts = {CLI_DB_OPT, CLI_MODEL_OPT,
             {"rate", 0, "FPS", "frames sampled per second of video (default 1)"},
             {"max-frames", 0, "N", "at most N frames per video, spread over long ones (default 256)"},
             {"segment", 0, "SECONDS", "segment length for moments (default 5)"},
             {"timeout", 0, "SECONDS", "give up on a file after this long (default 300)"},
             {"quiet", 'q', NULL, "no progress or per-file lines, only the summary"}},
    .min_pos = 1,
    .max_pos = CLI_MAX_POS,
    .run = run_index,
};
