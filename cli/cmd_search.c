/* vidx search and vidx similar: ranked videos from the command line. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/hash.h"
#include "../common/vecmath.h"
#include "../engine/engine.h"
#include "../present/json.h"
#include "../indexer/picture.h"
#include "cli.h"
#include "remote.h"

static int page_options(const cli_command *cmd, cli_args *args, int *k, int *offset) {
    long long v;
    const char *s;
    *k = 10;
    *offset = 0;
    if ((s = cli_get(cmd, args, "k"))) {
        if (cli_int_option(cmd, "k", s, 1, VX_MAX_K, &v)) return CLI_USAGE;
        *k = (int)v;
    }
    if ((s = cli_get(cmd, args, "offset"))) {
        if (cli_int_option(cmd, "offset", s, 0, VX_MAX_OFFSET, &v)) return CLI_USAGE;
        *offset = (int)v;
    }
    return 0;
}

/* A number of seconds from 0 to 1e9. */
static int seconds_option(const cli_command *cmd, cli_args *args, const char *name, double *out) {
    const char *s = cli_get(cmd, args, name);
    if (!s) return 0;
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= 0 && v <= 1e9))
        return cli_usage_error(cmd, "--%s must be a number of seconds from 0 to 1e9, not '%s'", name, s);
    *out = v;
    return 0;
}

/* The engine's answer as the document the service would send (parsed back from the
 * one writer of results, so both print the same). */
static json_t *results_doc(const char *query, double took_ms, const vx_results *r) {
    vx_buf b = {0};
    vx_results_write(&b, query, took_ms, r);
    json_t *doc = b.oom ? NULL : json_loadb((const char *)b.data, b.len, 0, NULL);
    vx_buf_free(&b);
    return doc;
}

static int print_doc(json_t *doc, int json, int offset) {
    if (!doc) return CLI_SOME_FAILED;
    if (json) cli_print_json(doc);
    else {
        cli_print_results(doc, offset);
        json_decref(doc);
    }
    return CLI_OK;
}

/* A picture file's bytes (at most VX_PICTURE_MAX_BYTES), in *data (free). */
static int read_picture(const cli_command *cmd, const char *path, uint8_t **data, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return cli_fail(cmd, "%s: %s", path, strerror(errno));
    *data = malloc(VX_PICTURE_MAX_BYTES + 1);
    *len = *data ? fread(*data, 1, VX_PICTURE_MAX_BYTES + 1, f) : 0;
    const int bad = ferror(f);
    fclose(f);
    if (!*data) return cli_fail(cmd, "out of memory");
    if (bad) return cli_fail(cmd, "%s: cannot read it", path);
    if (*len > VX_PICTURE_MAX_BYTES)
        return cli_usage_error(cmd, "%s: larger than %u bytes, the most a picture query takes", path, VX_PICTURE_MAX_BYTES);
    return 0;
}

static int run_search(const cli_command *cmd, cli_args *args) {
    vx_search_params p;
    vx_search_params_default(&p);
    if (page_options(cmd, args, &p.k, &p.offset) || seconds_option(cmd, args, "min-duration", &p.min_duration) ||
        seconds_option(cmd, args, "max-duration", &p.max_duration))
        return CLI_USAGE;
    char prefix[PATH_MAX];
    const char *s;
    if ((s = cli_get(cmd, args, "path"))) {
        /* Paths in the catalog are canonical: compare against the canonical prefix. */
        if (!realpath(s, prefix) && (size_t)snprintf(prefix, sizeof prefix, "%s", s) >= sizeof prefix)
            return cli_usage_error(cmd, "--path: longer than %d bytes", PATH_MAX - 1);
        p.path_prefix = prefix;
    }
    const char *picture = cli_get(cmd, args, "image");
    if (!picture == (args->n_pos == 0) || args->n_pos > 1)
        return cli_usage_error(cmd, "give either a TEXT or --image FILE");
    uint8_t *image = NULL;
    size_t image_len = 0;
    if (picture && read_picture(cmd, picture, &image, &image_len)) {
        free(image);
        return CLI_SOME_FAILED;
    }
    p.text = picture ? NULL : args->pos[0];
    p.tag = cli_get(cmd, args, "tag");
    p.lang = cli_get(cmd, args, "lang");
    vx_engine_options o;
    if (cli_engine_options(cmd, args, &o)) { free(image); return CLI_USAGE; }
    o.model = VX_MODEL_REQUIRE;
    o.labels = p.tag != NULL;
    cli_target t;
    if (cli_open(cmd, &o, &t)) { free(image); return CLI_SOME_FAILED; }
    if (!t.remote && p.tag && cli_wait_for_tags(cmd, t.engine)) {
        cli_close(&t);
        free(image);
        return CLI_SOME_FAILED;
    }
    char tag_q[3 * 400 + 128] = "";
    if (p.tag) {
        char enc[3 * 400];
        cli_url_encode(p.tag, enc, sizeof enc);
        snprintf(tag_q, sizeof tag_q, "&tag=%s", enc);
    }
    if (p.lang) {
        char enc[3 * 36];
        cli_url_encode(p.lang, enc, sizeof enc);
        snprintf(tag_q + strlen(tag_q), sizeof tag_q - strlen(tag_q), "&lang=%.100s", enc);
    }
    json_t *doc = NULL;
    int rc = CLI_OK;
    if (t.remote && image) {
        char path[3 * PATH_MAX + 16], uri[4 * PATH_MAX + 256];
        cli_url_encode(p.path_prefix ? p.path_prefix : "", path, sizeof path);
        snprintf(uri, sizeof uri, "/v1/search?k=%d&offset=%d&min_duration=%.17g&max_duration=%.17g%s%s%s", p.k,
                 p.offset, p.min_duration, p.max_duration, p.path_prefix ? "&path=" : "", p.path_prefix ? path : "", tag_q);
        rc = cli_call_body(cmd, &t, "POST", uri, image, image_len, "application/octet-stream", &doc);
    } else if (image) {
        vx_results r;
        vx_error err;
        double t0 = vx_now();
        int st = vx_engine_search_image(t.engine, image, image_len, &p, &r, &err);
        if (st) rc = cli_status(cmd, st, err.msg);
        else {
            /* The query's description, as the service gives it. */
            vx_picture_info info;
            char what[96] = "image";
            if (vx_picture_sniff(image, image_len, &info, &err) == 0)
                vx_picture_describe(&info, what, sizeof what);
            doc = results_doc(what, (vx_now() - t0) * 1e3, &r);
        }
        vx_results_free(&r);
    } else if (t.remote) {
        char q[3 * VX_MAX_QUERY + 16], path[3 * PATH_MAX + 16], uri[4 * PATH_MAX + 256];
        cli_url_encode(p.text, q, sizeof q);
        cli_url_encode(p.path_prefix ? p.path_prefix : "", path, sizeof path);
        snprintf(uri, sizeof uri, "/v1/search?q=%s&k=%d&offset=%d&min_duration=%.17g&max_duration=%.17g%s%s%s", q, p.k,
                 p.offset, p.min_duration, p.max_duration, p.path_prefix ? "&path=" : "", p.path_prefix ? path : "", tag_q);
        rc = cli_call(cmd, &t, "GET", uri, NULL, &doc);
    } else {
        vx_results r;
        vx_error err;
        double t0 = vx_now();
        int st = vx_engine_search(t.engine, &p, &r, &err);
        if (st) rc = cli_status(cmd, st, err.msg);
        else doc = results_doc(p.text, (vx_now() - t0) * 1e3, &r);
        vx_results_free(&r);
    }
    cli_close(&t);
    free(image);
    return rc ? rc : print_doc(doc, cli_has(cmd, args, "json"), p.offset);
}

const cli_command cmd_search = {
    .name = "search",
    .synopsis = "[--db DIR] [-k N] [--json] (TEXT | --image FILE)",
    .summary = "find the videos (and the moment in them) that match a text, or look like a picture",
    .opts = {CLI_DB_OPT, CLI_MODEL_OPT, CLI_TEXT_MODEL_OPT, CLI_PRECISION_OPT,
             {"k", 'k', "N", "number of results (default 10, at most 1000)"},
             {"lang", 0, "TAG", "the query's language (en, zh, de...; default: told from its script)"},
             {"offset", 0, "N", "skip the first N results (pages)"},
             {"min-duration", 0, "SECONDS", "only videos at least this long"},
             {"max-duration", 0, "SECONDS", "only videos at most this long"},
             {"path", 0, "PREFIX", "only videos under this folder"},
             {"image", 0, "FILE", "search by a picture (JPEG, PNG or WebP) instead of a text"},
             {"tag", 0, "TAG", "only videos with this zero-shot tag (office, or scenes:office; see vidx tags)"},
             {"json", 0, NULL, "print JSON, exactly as the HTTP API returns it"}},
    .min_pos = 0, .max_pos = 1, .run = run_search,
};

static int run_similar(const cli_command *cmd, cli_args *args) {
    int k, offset, rc = CLI_OK;
    if (page_options(cmd, args, &k, &offset)) return CLI_USAGE;
    uint64_t id;
    vx_error err;
    if (vx_video_arg_id(args->pos[0], &id, &err)) return cli_fail(cmd, "%s", err.msg);
    char hex[VX_ID_HEX_LEN];
    vx_id_to_hex(id, hex);
    vx_engine_options o;
    if (cli_engine_options(cmd, args, &o)) return CLI_USAGE;
    cli_target t;
    if (cli_open(cmd, &o, &t)) return CLI_SOME_FAILED;
    json_t *doc = NULL;
    if (t.remote) {
        char uri[128];
        snprintf(uri, sizeof uri, "/v1/videos/%s/similar?k=%d&offset=%d", hex, k, offset);
        rc = cli_call(cmd, &t, "GET", uri, NULL, &doc);
    } else {
        vx_results r;
        double t0 = vx_now();
        int st = vx_engine_similar(t.engine, id, k, offset, &r, &err);
        if (st) rc = cli_status(cmd, st, err.msg);
        else doc = results_doc(hex, (vx_now() - t0) * 1e3, &r);
        vx_results_free(&r);
    }
    cli_close(&t);
    return rc ? rc : print_doc(doc, cli_has(cmd, args, "json"), offset);
}

const cli_command cmd_similar = {
    .name = "similar",
    .synopsis = "[--db DIR] [-k N] [--json] VIDEO",
    .summary = "videos like a given one (VIDEO is an id or a path)",
    .opts = {CLI_DB_OPT,
             {"k", 'k', "N", "number of results (default 10, at most 1000)"},
             {"offset", 0, "N", "skip the first N results (pages)"},
             {"json", 0, NULL, "print JSON, exactly as the HTTP API returns it"}},
    .min_pos = 1, .max_pos = 1, .run = run_similar,
};
