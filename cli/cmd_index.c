/* vidx index: index new or changed videos, skip unchanged ones, note removed ones. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../engine/engine.h"
#include "../present/json.h"
#include "cli.h"
#include "remote.h"

static void print_summary(int indexed, int unchanged, int duplicates, int failed, int removed, int skipped) {
    printf("indexed %d, unchanged %d, duplicates %d, failed %d, removed %d", indexed, unchanged, duplicates, failed,
           removed);
    if (skipped) printf(", skipped %d", skipped); /* each listed below, with its reason */
}

/* Through the running service: a job, followed until it ends. */
static int index_remote(const cli_command *cmd, cli_target *t, cli_args *args, const vx_job_settings *js,
                        int log_files) {
    json_t *paths = json_array();
    for (int i = 0; paths && i < args->n_pos; i++) {
        /* The service has its own working folder: paths go absolute. */
        char real[PATH_MAX];
        vx_path abs;
        const char *p = args->pos[i];
        if (realpath(p, real)) p = real;
        else if (p[0] != '/' && getcwd(real, sizeof real)) {
            vx_error perr;
            if (vx_path_fmt(abs, &perr, "%s/%s", real, p)) {
                json_decref(paths);
                return cli_usage_error(cmd, "%s", perr.msg);
            }
            p = abs;
        }
        json_array_append_new(paths, json_string(p));
    }
    json_t *body = paths ? json_pack("{s:o}", "paths", paths) : NULL;
    if (body && vx_job_settings_json(body, js)) {
        json_decref(body);
        body = NULL;
    }
    char *text = body ? json_dumps(body, VX_JSON_FLAGS) : NULL;
    json_decref(body);
    json_t *doc = NULL;
    int rc = text ? cli_call(cmd, t, "POST", "/v1/index", text, &doc) : cli_fail(cmd, "out of memory");
    free(text);
    if (rc) return rc;
    char uri[64];
    snprintf(uri, sizeof uri, "/v1/jobs/%s", json_string_value(json_object_get(doc, "job_id")));
    json_decref(doc);
    size_t shown = 0;
    for (;;) {
        if ((rc = cli_call(cmd, t, "GET", uri, NULL, &doc))) return rc;
        const char *state = json_string_value(json_object_get(doc, "state"));
        const json_t *items = json_object_get(doc, "items");
        const int finished = state && (strcmp(state, "done") == 0 || strcmp(state, "failed") == 0);
        for (; log_files && (finished || strcmp(state ? state : "", "running") == 0) && shown < json_array_size(items);
             shown++) {
            const json_t *it = json_array_get(items, shown);
            const char *msg = json_string_value(json_object_get(it, "message"));
            vx_info("%s %s%s%s", json_string_value(json_object_get(it, "outcome")),
                    json_string_value(json_object_get(it, "path")), msg ? ": " : "", msg ? msg : "");
        }
        if (finished) break;
        json_decref(doc);
        struct timespec ts = {0, 250 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    const json_t *s = json_object_get(doc, "summary"), *items = json_object_get(doc, "items");
    int failed = (int)json_integer_value(json_object_get(s, "failed"));
    print_summary((int)json_integer_value(json_object_get(s, "indexed")),
                  (int)json_integer_value(json_object_get(s, "unchanged")),
                  (int)json_integer_value(json_object_get(s, "duplicates")), failed,
                  (int)json_integer_value(json_object_get(s, "removed")),
                  (int)json_integer_value(json_object_get(s, "skipped")));
    putchar('\n');
    for (size_t i = 0; i < json_array_size(items); i++) {
        const json_t *it = json_array_get(items, i);
        const char *outcome = json_string_value(json_object_get(it, "outcome")) ?: "";
        if (strcmp(outcome, "failed") == 0 || strcmp(outcome, "skipped") == 0)
            printf("  %s: %s: %s\n", outcome, json_string_value(json_object_get(it, "path")),
                   json_string_value(json_object_get(it, "message")) ?: "");
    }
    const int job_failed = strcmp(json_string_value(json_object_get(doc, "state")), "failed") == 0;
    json_decref(doc);
    return failed || job_failed ? CLI_SOME_FAILED : CLI_OK;
}

/* A number of the option `name` within [lo, hi]. Returns 0, or CLI_USAGE having said why. */
static int number_option(const cli_command *cmd, cli_args *args, const char *name, const char *what, double lo,
                         double hi, double *out) {
    const char *s = cli_get(cmd, args, name);
    if (!s) return 0;
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi))
        return cli_usage_error(cmd, "--%s must be %s from %g to %g, not '%s'", name, what, lo, hi, s);
    *out = v;
    return 0;
}

static int run_index(const cli_command *cmd, cli_args *args) {
    vx_engine_options o;
    if (cli_engine_options(cmd, args, &o)) return CLI_USAGE;
    /* The settings go to the engine here, or with the job to the running service. */
    vx_job_settings js = {0};
    long long v;
    const char *s;
    if ((s = cli_get(cmd, args, "max-frames")) &&
        cli_int_option(cmd, "max-frames", s, 1, VX_JOB_MAX_FRAMES_MAX, &v))
        return CLI_USAGE;
    if (s) js.max_frames = (uint32_t)v;
    if ((s = cli_get(cmd, args, "timeout")) && cli_int_option(cmd, "timeout", s, 1, (long long)VX_JOB_TIMEOUT_MAX, &v))
        return CLI_USAGE;
    if (s) js.timeout_s = (double)v;
    if (number_option(cmd, args, "rate", "a number of frames per second", VX_JOB_RATE_MIN, VX_JOB_RATE_MAX, &js.rate) ||
        number_option(cmd, args, "segment", "seconds", VX_JOB_SEGMENT_MIN, VX_JOB_SEGMENT_MAX, &js.segment_seconds))
        return CLI_USAGE;
    vx_index_options *io = &o.index;
    vx_index_options_set(io, &js);
    const int quiet = cli_has(cmd, args, "quiet");
    io->progress = !quiet && isatty(STDERR_FILENO);
    io->log_files = !quiet && !io->progress;
    o.create = 1;
    o.model = VX_MODEL_TRY;
    o.adopt_model = 1; /* indexing with another model re-encodes the frames (engine.h) */
    cli_target t;
    if (cli_open(cmd, &o, &t)) return CLI_SOME_FAILED;
    const char *no_model = t.remote ? NULL : vx_engine_model_problem(t.engine);
    if (no_model && !quiet)
        fprintf(stderr,
                "vidx index: without the CLIP model, indexing what needs none (words, thumbnails, frame hashes,\n"
                "  near-duplicates, renditions); search by what is seen waits for it, and the next `vidx index`\n"
                "  with it (or the running service) encodes these frames. %s\n",
                no_model);
    if (t.remote) {
        int rc = index_remote(cmd, &t, args, &js, !quiet);
        cli_close(&t);
        return rc;
    }
    vx_index_summary sum;
    vx_error err;
    int r = vx_engine_index(t.engine, (const char *const *)args->pos, args->n_pos, &sum, &err);
    cli_close(&t); /* saves the vector indexes */
    if (r) {
        vx_index_summary_clear(&sum);
        return cli_fail(cmd, "%s", err.msg);
    }
    print_summary(sum.indexed, sum.unchanged, sum.duplicates, sum.failed, sum.removed, sum.skipped);
    if (sum.frames_sampled)
        printf(" (%ld frames sampled, %ld encoded, %.1f s of video in %.1f s: %.1f x real time)", sum.frames_sampled,
               sum.frames, sum.video_seconds, sum.wall_seconds,
               sum.wall_seconds > 0 ? sum.video_seconds / sum.wall_seconds : 0);
    if (sum.text_refreshed) printf("; text read again for %d (sidecars changed; frames unchanged)", sum.text_refreshed);
    if (sum.visual_encoded) printf("; frames encoded for %d that waited for the model", sum.visual_encoded);
    if (sum.visual_pending) printf("; %d waiting for the model (frames not encoded)", sum.visual_pending);
    putchar('\n');
    for (int i = 0; i < sum.n_items; i++)
        if (sum.items[i].outcome == VX_ITEM_FAILED || sum.items[i].outcome == VX_ITEM_SKIPPED)
            printf("  %s: %s: %s\n", vx_item_outcome_name(sum.items[i].outcome), sum.items[i].path,
                   sum.items[i].message);
        else if (sum.items[i].message && strncmp(sum.items[i].message, "text", 4) == 0)
            printf("  note: %s: %s\n", sum.items[i].path, sum.items[i].message); /* text sources skipped, re-read */
    int rc = sum.failed ? CLI_SOME_FAILED : CLI_OK;
    vx_index_summary_clear(&sum);
    return rc;
}

const cli_command cmd_index = {
    .name = "index",
    .synopsis = "[--db DIR] [--model DIR] [--precision P] PATH...",
    .summary = "index new or changed videos, skip unchanged ones, note removed ones",
    .details = "PATHs are video files or folders (walked for video files). Unchanged files are skipped\n"
               "without decoding, exact duplicates are linked to the video they copy, files gone from a\n"
               "folder (or named but missing) are marked removed. Whether a file is a video is read from\n"
               "its streams: audio-only files (.ogg, .mp3, audio-only WebM...) are listed as skipped with\n"
               "the reason. Ends with a summary; exit code 1 when any file failed (each listed with its\n"
               "reason). While `vidx serve` runs on the database, the work goes to the service as a job\n"
               "and this command follows it to the end.",
    .opts = {CLI_DB_OPT, CLI_MODEL_OPT, CLI_PRECISION_OPT,
             {"rate", 0, "FPS", "frames sampled per second of video (default 1)"},
             {"max-frames", 0, "N", "at most N frames per video, spread over long ones (default 256)"},
             {"segment", 0, "SECONDS", "segment length for moments (default 5)"},
             {"timeout", 0, "SECONDS", "give up on a file after this long (default 300)"},
             {"quiet", 'q', NULL, "no progress or per-file lines, only the summary"}},
    .min_pos = 1,
    .max_pos = CLI_MAX_POS,
    .run = run_index,
};
