/* vidx info: what the database holds. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../common/config.h"
#include "../common/hash.h"
#include "../schemas/catalog.h"
#include "cli.h"

typedef struct info_counts {
    uint64_t indexed, failed, removed, duplicates;
    uint64_t segments, users, events, jobs;
    uint64_t corrupt;
} info_counts;

static int count_video(void *ctx, const vx_video *v) {
    info_counts *c = ctx;
    if (v->status == VX_VIDEO_INDEXED) c->indexed++;
    else if (v->status == VX_VIDEO_FAILED) c->failed++;
    else if (v->status == VX_VIDEO_REMOVED) c->removed++;
    if (v->status == VX_VIDEO_INDEXED && v->duplicate_of) c->duplicates++;
    return 0;
}

static int collect(vx_catalog *cat, vx_meta *meta, info_counts *c, vx_error *err) {
    vx_scan_stats stats = {0};
    if (vx_catalog_get_meta(cat, meta, err) != 0) return -1;
    if (vx_catalog_scan_videos(cat, count_video, c, &stats, err)) return -1;
    if (vx_catalog_count(cat, VX_KEY_SEGMENT, &c->segments, err) ||
        vx_catalog_count(cat, VX_KEY_USER, &c->users, err) ||
        vx_catalog_count(cat, VX_KEY_EVENT, &c->events, err) ||
        vx_catalog_count(cat, VX_KEY_JOB, &c->jobs, err))
        return -1;
    c->corrupt = stats.corrupt;
    return 0;
}

static void print_problem(void *ctx, const char *problem) {
    (void)ctx;
    printf("problem: %s\n", problem);
}

/* --check: the catalog's invariants, one line per problem; exit 1 if any. */
static int run_check(const cli_command *cmd, const char *db) {
    vx_error err;
    uint64_t problems = 0;
    vx_catalog *cat = vx_catalog_open(db, 0, &err);
    if (!cat) return cli_fail(cmd, "%s", err.msg);
    int r = vx_catalog_check(cat, print_problem, NULL, &problems, &err);
    vx_catalog_close(cat);
    if (r) return cli_fail(cmd, "%s", err.msg);
    printf("%s: %llu problems\n", db, (unsigned long long)problems);
    return problems ? CLI_SOME_FAILED : CLI_OK;
}

static int run_info(const cli_command *cmd, cli_args *args) {
    const char *db = vx_resolve_db(cli_get(cmd, args, "db"));
    int json = cli_has(cmd, args, "json");
    if (cli_has(cmd, args, "check")) return run_check(cmd, db);
    vx_error err = {{0}};
    vx_meta meta = {0};
    info_counts c = {0};
    int exists = 1;

    vx_catalog *cat = vx_catalog_open(db, 0, &err);
    if (!cat) {
        char probe[4096];
        struct stat st;
        snprintf(probe, sizeof probe, "%s/catalog", db);
        if (stat(probe, &st) == 0) return cli_fail(cmd, "%s", err.msg);
        exists = 0; /* an empty database: report zeros */
    } else if (collect(cat, &meta, &c, &err)) {
        vx_catalog_close(cat);
        vx_meta_clear(&meta);
        return cli_fail(cmd, "%s", err.msg);
    }
    vx_catalog_close(cat);

    char fingerprint[VX_ID_HEX_LEN] = "";
    if (meta.model_fingerprint) vx_id_to_hex(meta.model_fingerprint, fingerprint);
    const char *model = meta.model ? meta.model : "";

    if (json) {
        json_t *o = json_pack("{s:s, s:b, s:{s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:s, s:s, s:{s:I, s:i}, s:I}",
                              "database", db, "exists", exists,
                              "videos", "indexed", (json_int_t)c.indexed, "failed", (json_int_t)c.failed,
                              "removed", (json_int_t)c.removed, "duplicates", (json_int_t)c.duplicates,
                              "segments", (json_int_t)c.segments, "users", (json_int_t)c.users,
                              "events", (json_int_t)c.events, "jobs", (json_int_t)c.jobs,
                              "model", model, "model_fingerprint", fingerprint,
                              "index", "generation", (json_int_t)meta.index_generation, "dim", (int)meta.embed_dim,
                              "corrupt_records", (json_int_t)c.corrupt);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s) puts(s);
        free(s);
        json_decref(o);
        vx_meta_clear(&meta);
        return s ? CLI_OK : cli_fail(cmd, "out of memory");
    }

    if (!exists) printf("database   %s (empty: nothing indexed yet)\n", db);
    else {
        char when[32] = "?";
        time_t t = (time_t)meta.created_at;
        struct tm tm;
        if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
        printf("database   %s (schema %u, created %s)\n", db, meta.schema_version, when);
    }
    printf("model      %s%s%s%s\n", *model ? model : "(none yet)", *fingerprint ? " (fingerprint " : "",
           fingerprint, *fingerprint ? ")" : "");
    printf("videos     %llu indexed (%llu duplicates), %llu failed, %llu removed\n",
           (unsigned long long)c.indexed, (unsigned long long)c.duplicates, (unsigned long long)c.failed,
           (unsigned long long)c.removed);
    printf("segments   %llu\n", (unsigned long long)c.segments);
    printf("users      %llu (%llu events)\n", (unsigned long long)c.users, (unsigned long long)c.events);
    printf("jobs       %llu\n", (unsigned long long)c.jobs);
    printf("index      generation %llu, %u dimensions\n", (unsigned long long)meta.index_generation, meta.embed_dim);
    if (c.corrupt) printf("corrupt    %llu records skipped (see the warnings above)\n", (unsigned long long)c.corrupt);
    vx_meta_clear(&meta);
    return CLI_OK;
}

const cli_command cmd_info = {
    .name = "info",
    .synopsis = "[--db DIR] [--json] [--check]",
    .summary = "show what the database holds: videos, segments, users, events, model, index",
    .opts = {CLI_DB_OPT,
             {"json", 0, NULL, "print JSON"},
             {"check", 0, NULL, "verify the catalog's consistency; exit 1 on any problem"}},
    .min_pos = 0,
    .max_pos = 0,
    .run = run_info,
};
