/* vidx event and vidx feed: record what a user did, show what to watch next. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/hash.h"
#include "../common/vecmath.h"
#include "../engine/engine.h"
#include "../present/json.h"
#include "cli.h"
#include "remote.h"

static int run_event(const cli_command *cmd, cli_args *args) {
    const char *user = cli_get(cmd, args, "user"), *video = cli_get(cmd, args, "video"),
               *type = cli_get(cmd, args, "type"), *s;
    if (!user || !video || !type) return cli_usage_error(cmd, "--user, --video and --type are required");
    vx_event_request req = {.user = user, .seconds = -1};
    if (vx_event_type_parse(type, &req.type))
        return cli_usage_error(cmd, "--type must be view, complete, like, dislike or skip, not '%s'", type);
    if ((s = cli_get(cmd, args, "seconds")) && (req.seconds = vx_event_parse_seconds(s)) < 0)
        return cli_usage_error(cmd, "--seconds must be a number of seconds >= 0, not '%s'", s);
    if ((s = cli_get(cmd, args, "ts"))) {
        char *end;
        double t = strtod(s, &end);
        if (*end || !isfinite(t) || t <= 0 || t > 1e11)
            return cli_usage_error(cmd, "--ts must be unix seconds, not '%s'", s);
        req.ts_ms = (int64_t)llround(t * 1000);
    }
    if (!vx_user_name_valid(user)) return cli_usage_error(cmd, "user names are " VX_USER_NAME_RULE);
    vx_error err;
    if (vx_video_arg_id(video, &req.video_id, &err)) return cli_fail(cmd, "%s", err.msg);
    vx_engine_options o;
    if (cli_engine_options(cmd, args, &o)) return CLI_USAGE;
    cli_target t;
    if (cli_open(cmd, &o, &t)) return CLI_SOME_FAILED;
    json_t *doc = NULL;
    int rc = CLI_OK;
    if (t.remote) {
        char hex[VX_ID_HEX_LEN], uri[160];
        vx_id_to_hex(req.video_id, hex);
        json_t *body = json_pack("{s:s, s:s}", "video_id", hex, "type", vx_event_type_name(req.type));
        if (body && req.seconds >= 0) json_object_set_new(body, "seconds", json_real(req.seconds));
        if (body && req.ts_ms) json_object_set_new(body, "ts", json_real((double)req.ts_ms / 1e3));
        char *text = body ? json_dumps(body, VX_JSON_FLAGS) : NULL;
        json_decref(body);
        snprintf(uri, sizeof uri, "/v1/users/%s/events", user); /* names need no escaping */
        rc = text ? cli_call(cmd, &t, "POST", uri, text, &doc) : cli_fail(cmd, "out of memory");
        free(text);
    } else {
        vx_event_stored st;
        int r = vx_engine_record_event(t.engine, &req, &st, &err);
        if (r) rc = cli_status(cmd, r, err.msg);
        else doc = vx_event_json(user, &st);
    }
    cli_close(&t);
    if (rc) return rc;
    return cli_print_doc(cmd, doc, cli_has(cmd, args, "json"), cli_print_event);
}

const cli_command cmd_event = {
    .name = "event",
    .synopsis = "[--db DIR] --user U --video V --type T [--seconds S] [--ts UNIX]",
    .summary = "record what a user did with a video (view, complete, like, dislike, skip)",
    .details = "V is a 16-digit video id or the path of an indexed file. Events about a copy count for\n"
               "the original. Timestamps more than 5 minutes ahead of this clock are rejected.",
    .opts = {CLI_DB_OPT,
             {"user", 0, "U", "user name (letters, digits, _ . @ -; at most 64)"},
             {"video", 0, "V", "video id or path"},
             {"type", 0, "T", "view, complete, like, dislike or skip"},
             {"seconds", 0, "S", "seconds watched"},
             {"ts", 0, "UNIX", "when, in unix seconds (default now)"},
             {"json", 0, NULL, "print the stored event as JSON, as the HTTP API returns it"}},
    .min_pos = 0, .max_pos = 0, .run = run_event,
};

static int run_feed(const cli_command *cmd, cli_args *args) {
    vx_feed_options fo;
    vx_feed_options_default(&fo);
    long long v;
    const char *s;
    if ((s = cli_get(cmd, args, "k"))) {
        if (cli_int_option(cmd, "k", s, 1, VX_FEED_MAX_K, &v)) return CLI_USAGE;
        fo.k = (int)v;
    }
    if ((s = cli_get(cmd, args, "diversity"))) {
        char *end;
        double d = strtod(s, &end);
        if (!*s || *end || !(d >= 0 && d <= 1)) return cli_usage_error(cmd, "--diversity must be from 0 to 1, not '%s'", s);
        fo.diversity = (float)d;
    }
    const char *user = args->pos[0];
    if (!vx_user_name_valid(user)) return cli_usage_error(cmd, "user names are " VX_USER_NAME_RULE);
    vx_engine_options o;
    if (cli_engine_options(cmd, args, &o)) return CLI_USAGE;
    cli_target t;
    if (cli_open(cmd, &o, &t)) return CLI_SOME_FAILED;
    json_t *doc = NULL;
    int rc = CLI_OK;
    if (t.remote) {
        char uri[200];
        snprintf(uri, sizeof uri, "/v1/users/%s/feed?k=%d&diversity=%.9g", user, fo.k, (double)fo.diversity);
        rc = cli_call(cmd, &t, "GET", uri, NULL, &doc);
    } else {
        vx_feed f;
        vx_error err;
        double t0 = vx_now();
        int r = vx_engine_feed(t.engine, user, &fo, &f, &err);
        if (r) rc = cli_status(cmd, r, err.msg);
        else {
            /* the document the service would send, parsed back from the one writer */
            vx_buf b = {0};
            vx_feed_write(&b, user, (vx_now() - t0) * 1e3, &f);
            vx_feed_free(&f);
            doc = b.oom ? NULL : json_loadb((const char *)b.data, b.len, 0, NULL);
            vx_buf_free(&b);
        }
    }
    cli_close(&t);
    if (rc) return rc;
    return cli_print_doc(cmd, doc, cli_has(cmd, args, "json"), cli_print_feed);
}

const cli_command cmd_feed = {
    .name = "feed",
    .synopsis = "[--db DIR] [-k N] [--json] USER",
    .summary = "a user's personal feed of recommended videos",
    .details = "Blends videos close to what USER engaged with, videos that people with similar\n"
               "taste engaged with, new and popular videos; leaves out what USER has seen or\n"
               "disliked; each item says why it is there. A user without events gets popular, new\n"
               "and varied videos.",
    .opts = {CLI_DB_OPT,
             {"k", 'k', "N", "number of items (default 20, at most 200)"},
             {"diversity", 0, "D", "0 (by relevance only) to 1 (most varied), default 0.3"},
             {"json", 0, NULL, "print JSON, exactly as the HTTP API returns it"}},
    .min_pos = 1, .max_pos = 1, .run = run_feed,
};
