/* vidx info and vidx video: what the data folder holds, one video. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/hash.h"
#include "../engine/engine.h"
#include "../present/json.h"
#include "cli.h"
#include "remote.h"

static void print_problem(void *ctx, const char *problem) {
    (void)ctx;
    printf("problem: %s\n", problem);
}

static void print_repaired(void *ctx, const char *what) {
    (void)ctx;
    printf("repaired: %s\n", what);
}

/* --repair: the derived indexes (vectors, words) rebuilt from the catalog, through the
 * service when one runs. */
static int run_repair(const cli_command *cmd, cli_target *t) {
    if (t->remote) {
        json_t *doc;
        int rc = cli_call(cmd, t, "POST", "/v1/info?repair=1", NULL, &doc);
        if (rc) return rc;
        const json_t *list = json_object_get(doc, "repaired");
        for (size_t i = 0; i < json_array_size(list); i++) print_repaired(NULL, json_string_value(json_array_get(list, i)));
        json_decref(doc);
        return CLI_OK;
    }
    vx_error err;
    int r = vx_engine_repair(t->engine, print_repaired, NULL, &err);
    return r ? cli_fail(cmd, "%s", err.msg) : CLI_OK;
}

/* --check: the catalog's invariants and the derived indexes against it, one line per
 * problem; exit 1 if any. */
static int run_check(const cli_command *cmd, cli_target *t) {
    uint64_t problems = 0;
    if (t->remote) {
        json_t *doc;
        int rc = cli_call(cmd, t, "GET", "/v1/info?check=1", NULL, &doc);
        if (rc) return rc;
        const json_t *list = json_object_get(doc, "problems");
        for (size_t i = 0; i < json_array_size(list); i++) print_problem(NULL, json_string_value(json_array_get(list, i)));
        problems = (uint64_t)json_integer_value(json_object_get(doc, "count"));
        json_decref(doc);
    } else {
        vx_error err;
        int r = vx_engine_check(t->engine, print_problem, NULL, &problems, &err);
        if (r) return cli_fail(cmd, "%s", err.msg);
    }
    printf("%s: %llu problems\n", t->db, (unsigned long long)problems);
    return problems ? CLI_SOME_FAILED : CLI_OK;
}

static int run_info(const cli_command *cmd, cli_args *args) {
    vx_engine_options o;
    if (cli_engine_options(cmd, args, &o)) return CLI_USAGE;
    const int checking = cli_has(cmd, args, "check"), repairing = cli_has(cmd, args, "repair");
    if (repairing && !checking) return cli_usage_error(cmd, "--repair goes with --check");
    /* A check reads the derived indexes too (no model needed: their size is the catalog's). */
    o.catalog_only = !checking;
    o.model = VX_MODEL_NONE;
    vx_path probe;
    struct stat st;
    vx_error perr;
    if (vx_path_fmt(probe, &perr, "%s/catalog", o.data_dir)) return cli_fail(cmd, "--db: %s", perr.msg);
    json_t *doc = NULL;
    int rc = CLI_OK;
    if (stat(probe, &st) != 0) {
        /* Nothing indexed yet: zeros, and nothing created. */
        vx_engine_stats none;
        memset(&none, 0, sizeof none);
        none.precision = vx_precision_name(o.precision);
        doc = vx_info_json(o.data_dir, 0, &none);
        if (cli_has(cmd, args, "check")) {
            json_decref(doc);
            printf("%s: 0 problems (empty)\n", o.data_dir);
            return CLI_OK;
        }
    } else {
        cli_target t;
        if (cli_open(cmd, &o, &t)) return CLI_SOME_FAILED;
        if (checking) {
            rc = repairing ? run_repair(cmd, &t) : CLI_OK;
            if (!rc) rc = run_check(cmd, &t);
            cli_close(&t);
            return rc;
        }
        if (t.remote) {
            rc = cli_call(cmd, &t, "GET", "/v1/info", NULL, &doc);
            /* The service names the folder as it was started; say it as asked here. */
            if (doc) json_object_set_new(doc, "database", json_string(o.data_dir));
        } else {
            vx_engine_stats s;
            vx_error err;
            int r = vx_engine_info(t.engine, &s, &err);
            /* No model is loaded here: say the precision this machine encodes at. */
            s.precision = vx_precision_name(o.precision);
            if (r) rc = cli_fail(cmd, "%s", err.msg);
            else doc = vx_info_json(o.data_dir, 1, &s);
            if (!r) vx_engine_stats_free(&s);
        }
        cli_close(&t);
    }
    if (rc) return rc;
    return cli_print_doc(cmd, doc, cli_has(cmd, args, "json"), cli_print_info);
}

const cli_command cmd_info = {
    .name = "info",
    .synopsis = "[--db DIR] [--json] [--check [--repair]]",
    .summary = "show what the database holds: videos, segments, users, events, model, index",
    .opts = {CLI_DB_OPT,
             {"json", 0, NULL, "print JSON"},
             {"check", 0, NULL, "verify the catalog's consistency and the indexes against it; exit 1 on any problem"},
             {"repair", 0, NULL, "with --check: rebuild the vector index and rewrite words that differ, then check"}},
    .min_pos = 0,
    .max_pos = 0,
    .run = run_info,
};

static int run_video(const cli_command *cmd, cli_args *args) {
    uint64_t id;
    vx_error err;
    if (vx_video_arg_id(args->pos[0], &id, &err)) return cli_fail(cmd, "%s", err.msg);
    vx_engine_options o;
    if (cli_engine_options(cmd, args, &o)) return CLI_USAGE;
    o.catalog_only = 1;
    cli_target t;
    if (cli_open(cmd, &o, &t)) return CLI_SOME_FAILED;
    json_t *doc = NULL;
    int rc = CLI_OK;
    if (t.remote) {
        char hex[VX_ID_HEX_LEN], uri[64];
        vx_id_to_hex(id, hex);
        snprintf(uri, sizeof uri, "/v1/videos/%s", hex);
        rc = cli_call(cmd, &t, "GET", uri, NULL, &doc);
    } else {
        vx_video_view v;
        int r = vx_engine_video(t.engine, id, &v, &err);
        if (r) rc = cli_status(cmd, r, err.msg);
        else doc = vx_video_json(&v);
        if (!r) vx_video_view_free(&v);
    }
    cli_close(&t);
    if (rc) return rc;
    return cli_print_doc(cmd, doc, cli_has(cmd, args, "json"), cli_print_video);
}

const cli_command cmd_video = {
    .name = "video",
    .synopsis = "[--db DIR] [--json] VIDEO",
    .summary = "one video (an id or a path) as GET /v1/videos/{id} shows it",
    .opts = {CLI_DB_OPT, {"json", 0, NULL, "print JSON, exactly as the HTTP API returns it"}},
    .min_pos = 1, .max_pos = 1, .run = run_video,
};
