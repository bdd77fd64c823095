/* vidx event and vidx feed: record what a user did, show what to watch next. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../ann/ann.h"
#include "../api/results_json.h"
#include "../common/config.h"
#include "../common/hash.h"
#include "../common/vecmath.h"
#include "../recommend/events.h"
#include "../recommend/feed.h"
#include "cli.h"

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
    vx_error err;
    vx_catalog *cat = vx_catalog_open(vx_resolve_db(cli_get(cmd, args, "db")), 0, &err);
    if (!cat) return cli_fail(cmd, "%s", err.msg);
    int rc = CLI_OK;
    vx_event_stored st;
    int r = cli_resolve_video(cat, video, &req.video_id, &err);
    if (r == 0) r = vx_event_record(cat, &req, vx_wall_ms(), &st, &err);
    if (r == VX_EVENT_BAD_INPUT) rc = cli_usage_error(cmd, "%s", err.msg);
    else if (r) rc = cli_fail(cmd, "%s", err.msg);
    else if (cli_has(cmd, args, "json")) cli_print_json(vx_event_json(user, &st));
    else {
        char id[VX_ID_HEX_LEN];
        vx_id_to_hex(st.event.video_id, id);
        printf("recorded %s of %s by %s (%llu events)\n", vx_event_type_name(st.event.type), id, user,
               (unsigned long long)st.n_events);
    }
    vx_catalog_close(cat);
    return rc;
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
        if (*end || !(d >= 0 && d <= 1)) return cli_usage_error(cmd, "--diversity must be from 0 to 1, not '%s'", s);
        fo.diversity = (float)d;
    }
    const char *user = args->pos[0];
    if (!vx_user_name_valid(user))
        return cli_usage_error(cmd, "user names are " VX_USER_NAME_RULE);
    const char *db = vx_resolve_db(cli_get(cmd, args, "db"));
    vx_error err;
    vx_catalog *cat = vx_catalog_open(db, 0, &err);
    if (!cat) return cli_fail(cmd, "%s", err.msg);
    int rc = CLI_OK;
    vx_ann *ann = vx_ann_open(cat, db, NULL, 0, &err);
    vx_recommender *rec = ann ? vx_rec_open(cat, &err) : NULL;
    vx_feed f = {0};
    double t0 = vx_now();
    if (!rec || vx_rec_feed(rec, cat, ann, user, &fo, &f, &err)) {
        rc = cli_fail(cmd, "%s", err.msg);
    } else if (cli_has(cmd, args, "json")) {
        cli_print_json(vx_feed_json(user, (vx_now() - t0) * 1e3, &f));
    } else if (f.n == 0) {
        printf("nothing to recommend yet (index some videos first)\n");
    } else {
        printf("%-4s %-7s %-16s %-40s %s\n", "#", "score", "video", "title", "why");
        for (int i = 0; i < f.n; i++) {
            char id[VX_ID_HEX_LEN];
            vx_id_to_hex(f.items[i].video_id, id);
            printf("%-4d %-7.4f %-16s %-40.40s %s\n", i + 1, (double)f.items[i].score, id, f.items[i].title,
                   f.items[i].reason);
        }
        printf("(%s: %s)\n", user, f.known_user ? "personal feed" : "new user: popular, new and varied videos");
    }
    vx_feed_free(&f);
    vx_rec_close(rec);
    vx_ann_close(ann);
    vx_catalog_close(cat);
    return rc;
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
