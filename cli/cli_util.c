#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <limits.h>

#include "../common/hash.h"
#include "../engine/engine.h"
#include "../present/json.h"
#include "../cluster/cluster.h"
#include "cli.h"
#include "config.h"
#include "remote.h"

int cli_opt_index(const cli_command *cmd, const char *name) {
    for (int i = 0; i < CLI_MAX_OPTS && cmd->opts[i].name; i++)
        if (strcmp(cmd->opts[i].name, name) == 0) return i;
    return -1;
}

const char *cli_get(const cli_command *cmd, const cli_args *args, const char *name) {
    int i = cli_opt_index(cmd, name);
    return i < 0 ? NULL : args->values[i];
}

int cli_has(const cli_command *cmd, const cli_args *args, const char *name) {
    return cli_get(cmd, args, name) != NULL;
}

int cli_usage_error(const cli_command *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "vidx %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try `vidx %s --help`)\n", cmd->name);
    return CLI_USAGE;
}

int cli_fail(const cli_command *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "vidx %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_SOME_FAILED;
}

void cli_print_help(const cli_command *cmd) {
    printf("usage: vidx %s %s\n\n%s\n", cmd->name, cmd->synopsis, cmd->summary);
    if (cmd->details) printf("\n%s\n", cmd->details);
    printf("\noptions:\n");
    for (int i = 0; i < CLI_MAX_OPTS && cmd->opts[i].name; i++) {
        const cli_opt *o = &cmd->opts[i];
        char left[64];
        if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-24s %s\n", left, o->help);
    }
    printf("  %-24s %s\n", "-h, --help", "show this help");
}

/* Finds an option by its long name (up to '=' if present) or short letter. */
static int find_long(const cli_command *cmd, const char *s, size_t n) {
    for (int i = 0; i < CLI_MAX_OPTS && cmd->opts[i].name; i++)
        if (strlen(cmd->opts[i].name) == n && strncmp(cmd->opts[i].name, s, n) == 0) return i;
    return -1;
}

static int find_short(const cli_command *cmd, char c) {
    for (int i = 0; i < CLI_MAX_OPTS && cmd->opts[i].name; i++)
        if (cmd->opts[i].short_name == c) return i;
    return -1;
}

int cli_parse(const cli_command *cmd, int argc, char **argv, cli_args *out) {
    memset(out, 0, sizeof *out);
    /* Positionals are collected in place: argv is ours to reorder. */
    out->pos = argv + 1;
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        /* "-" alone is a positional (standard input), as is anything after "--". */
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            out->pos[out->n_pos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) { only_pos = 1; continue; }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            cli_print_help(cmd);
            return -1;
        }
        int k;
        const char *inline_value = NULL;
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t n = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            k = find_long(cmd, a + 2, n);
            if (eq) inline_value = eq + 1;
            if (k < 0) return cli_usage_error(cmd, "unknown option '%.*s'", (int)(n + 2), a);
        } else {
            k = find_short(cmd, a[1]);
            if (k < 0) return cli_usage_error(cmd, "unknown option '-%c'", a[1]);
            if (a[2]) inline_value = a + 2;
        }
        const cli_opt *o = &cmd->opts[k];
        if (out->n_occ == CLI_MAX_OCC) return cli_usage_error(cmd, "more than %d options", CLI_MAX_OCC);
        if (!o->arg) {
            if (inline_value) return cli_usage_error(cmd, "option --%s takes no value", o->name);
            out->values[k] = "";
        } else if (inline_value) {
            out->values[k] = inline_value;
        } else {
            if (i + 1 >= argc) return cli_usage_error(cmd, "option --%s needs a value (%s)", o->name, o->arg);
            out->values[k] = argv[++i];
        }
        out->occ[out->n_occ++] = (cli_occurrence){k, out->values[k]};
    }
    if (out->n_pos < cmd->min_pos)
        return cli_usage_error(cmd, "missing argument: usage: vidx %s %s", cmd->name, cmd->synopsis);
    if (out->n_pos > cmd->max_pos)
        return cli_usage_error(cmd, "unexpected argument '%s'", out->pos[cmd->max_pos]);
    return CLI_OK;
}

int cli_int_option(const cli_command *cmd, const char *name, const char *text, long long min, long long max,
                   long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < min || v > max)
        return cli_usage_error(cmd, "--%s must be a whole number from %lld to %lld, not '%s'", name, min, max, text);
    *out = v;
    return 0;
}

static int env_int(const cli_command *cmd, const char *name, long long min, long long max, long long *out) {
    const char *s = getenv(name);
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return cli_usage_error(cmd, "%s must be a whole number from %lld to %lld, not '%s'", name, min, max, s);
    *out = v;
    return 0;
}

static int env_real(const cli_command *cmd, const char *name, double min, double max, double *out) {
    const char *s = getenv(name);
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= min && v <= max))
        return cli_usage_error(cmd, "%s must be a number from %g to %g, not '%s'", name, min, max, s);
    *out = v;
    return 0;
}

int cli_precision(const cli_command *cmd, const cli_args *args, vx_precision *out) {
    const char *flag = cli_opt_index(cmd, "precision") >= 0 ? cli_get(cmd, args, "precision") : NULL;
    const char *env = getenv("VIDX_PRECISION");
    const char *text = flag && *flag ? flag : env && *env ? env : NULL;
    vx_error err;
    if (vx_precision_parse(text, out, &err) || vx_precision_check(*out, &err))
        return cli_usage_error(cmd, "%s%s", flag && *flag ? "--precision: " : text ? "VIDX_PRECISION: " : "", err.msg);
    return 0;
}

int cli_engine_options(const cli_command *cmd, const cli_args *args, vx_engine_options *o) {
    static vx_path default_model;
    vx_engine_options_default(o);
    o->data_dir = vx_resolve_db(cli_get(cmd, args, "db"));
    const char *flag = cli_opt_index(cmd, "model") >= 0 ? cli_get(cmd, args, "model") : NULL;
    const char *env = getenv("VIDX_MODEL");
    o->model_dir = flag && *flag ? flag : env && *env ? env : NULL;
    o->default_model_dir = vx_default_model_dir(default_model, sizeof default_model) == 0 ? default_model : NULL;
    /* The multilingual text tower: --text-model, $VIDX_TEXT_MODEL, else its default folder. */
    static vx_path default_text_model;
    const char *tflag = cli_opt_index(cmd, "text-model") >= 0 ? cli_get(cmd, args, "text-model") : NULL;
    const char *tenv = getenv("VIDX_TEXT_MODEL");
    o->text_model_dir = tflag && *tflag ? tflag : tenv && *tenv ? tenv : NULL;
    o->default_text_model_dir = vx_default_models_dir(VX_DEFAULT_TEXT_MODEL_NAME, default_text_model,
                                                      sizeof default_text_model) == 0 ? default_text_model : NULL;
    if (cli_precision(cmd, args, &o->precision)) return CLI_USAGE;
    /* VIDX_FRAME_REUSE=0: encode every sampled frame, even unchanged ones (comparisons). */
    const char *reuse = getenv("VIDX_FRAME_REUSE");
    if (reuse && *reuse) o->index.reuse_frames = strcmp(reuse, "0") != 0;
    long long v = o->db_cache_mb;
    if (env_int(cmd, "VIDX_DB_CACHE_MB", 1, 1 << 20, &v)) return CLI_USAGE;
    o->db_cache_mb = (int)v;
    v = (long long)(o->answer_cache_bytes >> 20);
    if (env_int(cmd, "VIDX_ANSWER_CACHE_MB", 1, 1 << 20, &v)) return CLI_USAGE;
    o->answer_cache_bytes = (size_t)v << 20;
    v = (long long)(o->disk_reserve >> 20);
    if (env_int(cmd, "VIDX_DISK_RESERVE_MB", 0, 1 << 24, &v)) return CLI_USAGE;
    o->disk_reserve = (uint64_t)v << 20;
    v = o->filter_pool_max;
    if (env_int(cmd, "VIDX_FILTER_POOL_MAX", 1, 1LL << 40, &v)) return CLI_USAGE;
    o->filter_pool_max = (long)v;
    v = o->ann_exact_max;
    if (env_int(cmd, "VIDX_ANN_EXACT_MAX", 1, 1LL << 40, &v)) return CLI_USAGE;
    o->ann_exact_max = (long)v;
    v = o->ann_compress_min;
    if (env_int(cmd, "VIDX_ANN_COMPRESS_MIN", 1, 1LL << 40, &v)) return CLI_USAGE;
    o->ann_compress_min = (long)v;
    o->ann_faiss_search = getenv("VIDX_ANN_FAISS_SEARCH") != NULL;
    /* How text search fuses pictures and words (engine.h), and words off (A/B runs). */
    if (env_real(cmd, "VIDX_FUSION_K", 1, 10000, &o->fusion_k) ||
        env_real(cmd, "VIDX_FUSION_TEXT_WEIGHT", 0, 100, &o->fusion_text_weight))
        return CLI_USAGE;
    const char *words = getenv("VIDX_LEXICAL_SEARCH");
    if (words && *words) o->lexical_search = strcmp(words, "0") != 0;
    /* Zero-shot tags: OpenAI's prompts.md elsewhere than the model folder; the operator's
     * own vocabularies (files, ':'-separated). */
    o->label_prompts = getenv("VIDX_TAG_PROMPTS");
    o->label_vocabularies = getenv("VIDX_TAG_VOCABULARIES");
    if (env_real(cmd, "VIDX_TAG_FALSE_RATE", 1e-6, 0.5, &o->label_false_rate)) return CLI_USAGE;
    return 0;
}

int cli_cluster_options(const cli_command *cmd, const cli_args *args, const char *role, vx_cluster_options *o,
                        int *on) {
    vx_cluster_options_default(o);
    o->role = role;
    const char *flag = cli_get(cmd, args, "cluster"), *env = getenv("VIDX_CLUSTER");
    o->urls = flag && *flag ? flag : env && *env ? env : NULL;
    *on = o->urls != NULL;
    o->creds = getenv("VIDX_CLUSTER_CREDS");
    o->creds_file = getenv("VIDX_CLUSTER_CREDS_FILE");
    o->nkey = getenv("VIDX_CLUSTER_NKEY");
    o->nkey_seed = getenv("VIDX_CLUSTER_NKEY_SEED");
    o->tls_ca = getenv("VIDX_CLUSTER_TLS_CA");
    o->tls_cert = getenv("VIDX_CLUSTER_TLS_CERT");
    o->tls_key = getenv("VIDX_CLUSTER_TLS_KEY");
    const char *plain = getenv("VIDX_CLUSTER_PLAINTEXT");
    o->plaintext = plain && strcmp(plain, "1") == 0;
    long long v = o->replicas;
    if (env_int(cmd, "VIDX_CLUSTER_REPLICAS", 1, 5, &v)) return CLI_USAGE;
    o->replicas = (int)v;
    v = o->ack_wait_s;
    if (env_int(cmd, "VIDX_CLUSTER_ACK_WAIT", 1, 3600, &v)) return CLI_USAGE;
    o->ack_wait_s = (int)v;
    v = o->max_attempts;
    if (env_int(cmd, "VIDX_CLUSTER_ATTEMPTS", 1, 100, &v)) return CLI_USAGE;
    o->max_attempts = (int)v;
    return 0;
}

int cli_model_dir(const cli_command *cmd, const cli_args *args, char *out, size_t size, vx_precision *precision) {
    vx_engine_options o;
    if (cli_engine_options(cmd, args, &o)) return CLI_USAGE;
    if (precision) *precision = o.precision;
    const char *dir = o.model_dir ? o.model_dir : o.default_model_dir;
    if (!dir || (size_t)snprintf(out, size, "%s", dir) >= size)
        return cli_fail(cmd, "cannot work out the model folder: pass --model DIR or set VIDX_MODEL");
    return 0;
}

int cli_open(const cli_command *cmd, const vx_engine_options *o, cli_target *t) {
    memset(t, 0, sizeof *t);
    t->db = o->data_dir;
    if ((t->remote = cli_remote_find(o->data_dir))) return 0;
    vx_error err;
    if (!(t->engine = vx_engine_open(o, &err))) return cli_fail(cmd, "%s", err.msg);
    return 0;
}

void cli_close(cli_target *t) {
    cli_remote_free(t->remote);
    vx_engine_close(t->engine);
    memset(t, 0, sizeof *t);
}

int cli_call(const cli_command *cmd, cli_target *t, const char *method, const char *uri, const char *body,
             json_t **doc) {
    return cli_call_body(cmd, t, method, uri, body, body ? strlen(body) : 0, "application/json", doc);
}

int cli_call_body(const cli_command *cmd, cli_target *t, const char *method, const char *uri, const void *body,
                  size_t len, const char *content_type, json_t **doc) {
    int status;
    vx_error err;
    if (cli_remote_call(t->remote, method, uri, body, len, content_type, &status, doc, &err))
        return cli_fail(cmd, "%s", err.msg);
    if (status >= 200 && status < 300) return CLI_OK;
    int rc = status == 400 ? cli_usage_error(cmd, "%s", cli_remote_error(*doc))
                           : cli_fail(cmd, "%s", cli_remote_error(*doc));
    json_decref(*doc);
    *doc = NULL;
    return rc;
}

int cli_status(const cli_command *cmd, int status, const char *msg) {
    if (status == VX_OK) return CLI_OK;
    return status == VX_E_BAD_INPUT ? cli_usage_error(cmd, "%s", msg) : cli_fail(cmd, "%s", msg);
}

int cli_print_doc(const cli_command *cmd, json_t *doc, int json, void (*human)(const json_t *doc)) {
    if (!doc) return cli_fail(cmd, "out of memory");
    if (json) {
        cli_print_json(doc);
    } else {
        human(doc);
        json_decref(doc);
    }
    return CLI_OK;
}

void cli_print_json(json_t *doc) {
    char *s = doc ? json_dumps(doc, VX_JSON_FLAGS) : NULL;
    if (s) puts(s);
    free(s);
    json_decref(doc);
}
