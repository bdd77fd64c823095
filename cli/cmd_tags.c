/* vidx tags: the zero-shot tags videos have (GET /v1/tags), or one video's. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/hash.h"
#include "../engine/engine.h"
#include "../present/json.h"
#include "cli.h"
#include "remote.h"

/* Without a service: waits for the engine's tags (label embeddings, then every video),
 * saying so on a terminal. */
int cli_wait_for_tags(const cli_command *cmd, vx_engine *e) {
    vx_labels_state st;
    for (;;) {
        const int state = vx_engine_labels_wait(e, 1.0);
        vx_engine_labels_state(e, &st);
        if (state == VX_LABELS_READY) {
            if (isatty(STDERR_FILENO)) fprintf(stderr, "\r\033[K");
            return CLI_OK;
        }
        if (state == VX_LABELS_OFF) return cli_fail(cmd, "tags are off: %s", st.problem);
        if (isatty(STDERR_FILENO))
            fprintf(stderr, "\r\033[Ktags: %s, %.0f%%", vx_labels_state_name(st.state), 100 * st.progress);
    }
}

static void print_counts(const json_t *doc) {
    const json_t *tags = json_object_get(doc, "tags");
    printf("%-10s %-40s %s\n", "vocabulary", "tag", "videos");
    for (size_t i = 0; i < json_array_size(tags); i++) {
        const json_t *t = json_array_get(tags, i);
        printf("%-10s %-40s %lld\n", json_string_value(json_object_get(t, "vocabulary")),
               json_string_value(json_object_get(t, "label")), (long long)json_integer_value(json_object_get(t, "videos")));
    }
    const json_t *v = json_object_get(doc, "vocabularies");
    printf("(%zu tags; %s;", json_array_size(tags), json_string_value(json_object_get(doc, "state")));
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *x = json_array_get(v, i);
        printf(" %s %lld labels, threshold z %.2f%s", json_string_value(json_object_get(x, "name")),
               (long long)json_integer_value(json_object_get(x, "labels")), json_number_value(json_object_get(x, "threshold")),
               i + 1 < json_array_size(v) ? ";" : "");
    }
    printf(")\n");
}

static void print_video_tags(const json_t *doc) {
    const json_t *tags = json_object_get(doc, "tags");
    printf("%s  %s\n", json_string_value(json_object_get(doc, "video_id")), json_string_value(json_object_get(doc, "title")));
    if (!json_array_size(tags)) printf("  no tags\n");
    for (size_t i = 0; i < json_array_size(tags); i++) {
        const json_t *t = json_array_get(tags, i), *r = json_object_get(t, "ranges");
        printf("  %-9s %-36s z %5.2f ", json_string_value(json_object_get(t, "vocabulary")),
               json_string_value(json_object_get(t, "label")), json_number_value(json_object_get(t, "score")));
        for (size_t k = 0; k < json_array_size(r); k++) {
            const json_t *x = json_array_get(r, k);
            printf(" %.1f-%.1f s", json_number_value(json_object_get(x, "start")), json_number_value(json_object_get(x, "end")));
        }
        putchar('\n');
    }
}

static int run_tags(const cli_command *cmd, cli_args *args) {
    const char *vocabulary = cli_get(cmd, args, "vocabulary");
    uint64_t id = 0;
    vx_error err;
    if (args->n_pos && vx_video_arg_id(args->pos[0], &id, &err)) return cli_fail(cmd, "%s", err.msg);
    vx_engine_options o;
    if (cli_engine_options(cmd, args, &o)) return CLI_USAGE;
    o.model = VX_MODEL_REQUIRE;
    o.labels = 1;
    cli_target t;
    if (cli_open(cmd, &o, &t)) return CLI_SOME_FAILED;
    json_t *doc = NULL;
    int rc = CLI_OK;
    if (t.remote) {
        char uri[512], hex[VX_ID_HEX_LEN], v[256];
        vx_id_to_hex(id, hex);
        cli_url_encode(vocabulary ? vocabulary : "", v, sizeof v);
        if (id) snprintf(uri, sizeof uri, "/v1/videos/%s", hex);
        else snprintf(uri, sizeof uri, "/v1/tags%s%s", vocabulary ? "?vocabulary=" : "", vocabulary ? v : "");
        rc = cli_call(cmd, &t, "GET", uri, NULL, &doc);
    } else if ((rc = cli_wait_for_tags(cmd, t.engine)) == CLI_OK) {
        if (id) {
            vx_video_view v;
            int r = vx_engine_video(t.engine, id, &v, &err);
            if (r) rc = cli_status(cmd, r, err.msg);
            else {
                doc = vx_video_json(&v);
                vx_video_view_free(&v);
            }
        } else {
            vx_labels_state st;
            vx_engine_labels_state(t.engine, &st);
            vx_label_count *counts;
            int n;
            if (vx_engine_label_counts(t.engine, vocabulary, &counts, &n, &err)) rc = cli_usage_error(cmd, "%s", err.msg);
            else {
                doc = vx_labels_json(t.engine, &st, counts, n);
                free(counts);
            }
        }
    }
    cli_close(&t);
    if (rc) return rc;
    if (id && !cli_has(cmd, args, "json")) {
        /* One video: its tags alone (vidx video shows the rest). */
        if (!doc) return cli_fail(cmd, "out of memory");
        print_video_tags(doc);
        json_decref(doc);
        return CLI_OK;
    }
    return cli_print_doc(cmd, doc, cli_has(cmd, args, "json"), print_counts);
}

const cli_command cmd_tags = {
    .name = "tags",
    .synopsis = "[--db DIR] [--json] [--vocabulary NAME] [VIDEO]",
    .summary = "zero-shot tags (scenes, actions, emotions): how many videos have each, or one video's",
    .opts = {CLI_DB_OPT, CLI_MODEL_OPT,
             {"vocabulary", 0, "NAME", "only this vocabulary's tags (scenes, actions, emotions, or your own)"},
             {"json", 0, NULL, "print JSON, exactly as the HTTP API returns it"}},
    .min_pos = 0, .max_pos = 1, .run = run_tags,
};
