/* vidx search and vidx similar: ranked videos from the command line. */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../ann/search.h"
#include "../api/results_json.h"
#include "../common/config.h"
#include "../common/hash.h"
#include "../common/vecmath.h"
#include "../encoder/clip.h"
#include "cli.h"

#define MAX_K 1000
#define MAX_OFFSET 10000

static int page_options(const cli_command *cmd, cli_args *args, int *k, int *offset) {
    long long v;
    const char *s;
    *k = 10;
    *offset = 0;
    if ((s = cli_get(cmd, args, "k"))) {
        if (cli_int_option(cmd, "k", s, 1, MAX_K, &v)) return CLI_USAGE;
        *k = (int)v;
    }
    if ((s = cli_get(cmd, args, "offset"))) {
        if (cli_int_option(cmd, "offset", s, 0, MAX_OFFSET, &v)) return CLI_USAGE;
        *offset = (int)v;
    }
    return 0;
}

static void print_results(const char *query, double took, const vx_results *r, int json, int offset) {
    if (json) {
        cli_print_json(vx_results_json(query, took, r));
        return;
    }
    if (r->n == 0) {
        printf("no results (%d videos indexed)\n", r->total);
        return;
    }
    printf("%-4s %-7s %-15s %-16s %s\n", "#", "score", "moment", "video", "title");
    for (int i = 0; i < r->n; i++) {
        const vx_result *x = &r->items[i];
        char id[VX_ID_HEX_LEN], moment[32];
        vx_id_to_hex(x->video_id, id);
        snprintf(moment, sizeof moment, "%d:%04.1f-%d:%04.1f", (int)x->start / 60, x->start - 60 * (int)(x->start / 60),
                 (int)x->end / 60, x->end - 60 * (int)(x->end / 60));
        printf("%-4d %-7.4f %-15s %-16s %s\n", offset + i + 1, (double)x->score, moment, id, x->title);
    }
    printf("(%d of %d, %.1f ms)\n", r->n, r->total, took);
}

typedef struct opened {
    vx_catalog *cat;
    vx_ann *ann;
    vx_meta meta;
} opened;

static int open_db(const cli_command *cmd, cli_args *args, opened *o) {
    const char *db = vx_resolve_db(cli_get(cmd, args, "db"));
    vx_error err;
    memset(o, 0, sizeof *o);
    if (!(o->cat = vx_catalog_open(db, 0, &err))) return cli_fail(cmd, "%s", err.msg);
    if (vx_catalog_get_meta(o->cat, &o->meta, &err) || !(o->ann = vx_ann_open(o->cat, db, NULL, 0, &err))) {
        vx_catalog_close(o->cat);
        vx_meta_clear(&o->meta);
        return cli_fail(cmd, "%s", err.msg);
    }
    return 0;
}

static void close_db(opened *o) {
    vx_ann_close(o->ann);
    vx_catalog_close(o->cat);
    vx_meta_clear(&o->meta);
}

static int run_search(const cli_command *cmd, cli_args *args) {
    int k, offset, rc = CLI_OK;
    if (page_options(cmd, args, &k, &offset)) return CLI_USAGE;
    vx_search_filters f = {0};
    const char *s;
    if ((s = cli_get(cmd, args, "min-duration"))) f.min_duration = atof(s);
    if ((s = cli_get(cmd, args, "max-duration"))) f.max_duration = atof(s);
    char prefix[PATH_MAX];
    if ((s = cli_get(cmd, args, "path"))) {
        /* Paths in the catalog are canonical: compare against the canonical prefix. */
        if (!realpath(s, prefix)) snprintf(prefix, sizeof prefix, "%s", s);
        f.path_prefix = prefix;
    }
    const char *text = args->pos[0];
    if (strlen(text) > 1000) return cli_usage_error(cmd, "the query is longer than 1000 bytes");
    opened o;
    if (open_db(cmd, args, &o)) return CLI_SOME_FAILED;
    char model_dir[4096];
    vx_error err;
    vx_clip *m = NULL;
    vx_clip_ctx *ctx = NULL;
    vx_results r = {0};
    if ((rc = cli_model_dir(cmd, args, o.meta.model, model_dir, sizeof model_dir))) goto done;
    if (!(m = vx_clip_load(model_dir, &err))) { rc = cli_fail(cmd, "%s", err.msg); goto done; }
    if (o.meta.model_fingerprint && vx_clip_fingerprint(m) != o.meta.model_fingerprint) {
        rc = cli_fail(cmd, "%s is not the model this database was indexed with (%s)", model_dir, o.meta.model);
        goto done;
    }
    if (!(ctx = vx_clip_ctx_new(m, 1, 77, &err))) { rc = cli_fail(cmd, "%s", err.msg); goto done; }
    double t0 = (vx_now() * 1e3);
    float *q = malloc((size_t)vx_clip_get_config(m)->proj_dim * sizeof *q);
    if (!q || vx_clip_encode_texts(ctx, &text, 1, q, &err) ||
        vx_search_vector(o.ann, o.cat, q, k, offset, &f, &r, &err)) {
        free(q);
        rc = cli_fail(cmd, "%s", q ? err.msg : "out of memory");
        goto done;
    }
    free(q);
    print_results(text, (vx_now() * 1e3) - t0, &r, cli_has(cmd, args, "json"), offset);
done:
    vx_results_free(&r);
    vx_clip_ctx_free(ctx);
    vx_clip_free(m);
    close_db(&o);
    return rc;
}

const cli_command cmd_search = {
    .name = "search",
    .synopsis = "[--db DIR] [-k N] [--json] TEXT",
    .summary = "find the videos (and the moment in them) that match a text",
    .opts = {CLI_DB_OPT, CLI_MODEL_OPT,
             {"k", 'k', "N", "number of results (default 10, at most 1000)"},
             {"offset", 0, "N", "skip the first N results (pages)"},
             {"min-duration", 0, "SECONDS", "only videos at least this long"},
             {"max-duration", 0, "SECONDS", "only videos at most this long"},
             {"path", 0, "PREFIX", "only videos under this folder"},
             {"json", 0, NULL, "print JSON, exactly as the HTTP API returns it"}},
    .min_pos = 1, .max_pos = 1, .run = run_search,
};

static int run_similar(const cli_command *cmd, cli_args *args) {
    int k, offset, rc = CLI_OK;
    if (page_options(cmd, args, &k, &offset)) return CLI_USAGE;
    opened o;
    if (open_db(cmd, args, &o)) return CLI_SOME_FAILED;
    vx_error err;
    uint64_t id;
    vx_results r = {0};
    double t0 = (vx_now() * 1e3);
    if (cli_resolve_video(o.cat, args->pos[0], &id, &err) || vx_search_similar(o.ann, o.cat, id, k, offset, &r, &err)) {
        rc = cli_fail(cmd, "%s", err.msg);
    } else {
        char hex[VX_ID_HEX_LEN];
        vx_id_to_hex(id, hex);
        print_results(hex, (vx_now() * 1e3) - t0, &r, cli_has(cmd, args, "json"), offset);
    }
    vx_results_free(&r);
    close_db(&o);
    return rc;
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
