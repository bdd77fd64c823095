/* vidx command line: shared parsing and the subcommands.
 *
 * Every subcommand is declared as a cli_command (name, synopsis, options) and parsed by
 * cli_parse, so --help, unknown flags and missing values behave the same everywhere:
 * a one-line error on stderr and exit code 2 (CLI_USAGE).
 */
#ifndef VX_CLI_H
#define VX_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../encoder/qlinear.h"

enum { CLI_OK = 0, CLI_SOME_FAILED = 1, CLI_USAGE = 2 };

#define CLI_MAX_OPTS 24
#define CLI_MAX_POS 4096

#define CLI_MAX_OCC 4096

typedef struct cli_occurrence {
    int opt;           /* index into cli_command.opts */
    const char *value; /* "" for a flag */
} cli_occurrence;

typedef struct cli_args {
    const char *values[CLI_MAX_OPTS]; /* last value of each option (or "" for a set flag), NULL if absent */
    cli_occurrence occ[CLI_MAX_OCC];  /* every option in command-line order, for repeatable ones */
    int n_occ;
    char **pos;
    int n_pos;
} cli_args;

typedef struct cli_opt {
    const char *name;  /* long name without dashes */
    char short_name;   /* 0 if none */
    const char *arg;   /* NULL for a flag, else the value's name for help ("DIR") */
    const char *help;
} cli_opt;

typedef struct cli_command {
    const char *name;
    const char *synopsis;   /* after "vidx NAME " */
    const char *summary;    /* one line for `vidx --help` */
    const char *details;    /* more help text, may be NULL */
    cli_opt opts[CLI_MAX_OPTS];
    int min_pos, max_pos;   /* positional argument counts */
    int (*run)(const struct cli_command *cmd, struct cli_args *args);
} cli_command;


/* Parses argv (argv[0] is the subcommand name). Returns CLI_OK, CLI_USAGE after
 * printing an error, or -1 after printing help (the caller exits 0). */
int cli_parse(const cli_command *cmd, int argc, char **argv, cli_args *out);
/* Index of the named option in cmd->opts, or -1. */
int cli_opt_index(const cli_command *cmd, const char *name);
/* Value of the named option, or NULL. */
const char *cli_get(const cli_command *cmd, const cli_args *args, const char *name);
int cli_has(const cli_command *cmd, const cli_args *args, const char *name);
/* Prints "vidx NAME: message (try `vidx NAME --help`)" and returns CLI_USAGE. */
int cli_usage_error(const cli_command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "vidx NAME: message" and returns CLI_SOME_FAILED. */
int cli_fail(const cli_command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses a whole decimal integer within [min, max]; on failure a usage error naming
 * the option. Returns 0 or CLI_USAGE. */
int cli_int_option(const cli_command *cmd, const char *name, const char *text, long long min, long long max,
                   long long *out);
void cli_print_help(const cli_command *cmd);

/* Options shared by several subcommands. */
#define CLI_DB_OPT {"db", 0, "DIR", "database folder (default $VIDX_DB, then ./vidx-data)"}
#define CLI_MODEL_OPT                                                                            \
    {"model", 0, "DIR", "CLIP model folder (default $VIDX_MODEL, the database's model, then "   \
                        "~/.local/share/vidx/models/clip-vit-base-patch32)"}
#define CLI_TEXT_MODEL_OPT                                                                          \
    {"text-model", 0, "DIR", "the multilingual text tower for queries not in English (default "        \
                             "$VIDX_TEXT_MODEL, then ~/.local/share/vidx/models/clip-ViT-B-32-multilingual-v1)"}
#define CLI_PRECISION_OPT                                                                            \
    {"precision", 0, "P", "encoder precision: f32, bf16 or int8 (default $VIDX_PRECISION, else bf16 where " \
                          "the CPU has BF16 instructions, else f32)"}

/* The encoder's precision: --precision, $VIDX_PRECISION, then the CPU's default.
 * Returns 0, or CLI_USAGE after printing why (unknown, or not on this CPU). */
int cli_precision(const cli_command *cmd, const cli_args *args, vx_precision *out);

/* The engine's options from the command line and the environment (the edge: nothing
 * below reads the environment): --db, $VIDX_DB, ./vidx-data; --model, $VIDX_MODEL, the
 * default model folder; --precision, $VIDX_PRECISION; $VIDX_DB_CACHE_MB, $VIDX_ANN_EXACT_MAX, $VIDX_ANN_COMPRESS_MIN,
 * $VIDX_ANN_FAISS_SEARCH; $VIDX_FUSION_K, $VIDX_FUSION_TEXT_WEIGHT, $VIDX_LEXICAL_SEARCH=0.
 * Returns 0, or CLI_USAGE after printing what is wrong. */
struct vx_engine_options;
int cli_engine_options(const cli_command *cmd, const cli_args *args, struct vx_engine_options *o);

/* A cluster's options: --cluster or $VIDX_CLUSTER (URLs), $VIDX_CLUSTER_CREDS,
 * $VIDX_CLUSTER_REPLICAS, $VIDX_CLUSTER_ACK_WAIT (seconds), $VIDX_CLUSTER_ATTEMPTS.
 * *on is 0 when no cluster is named. Returns 0, or CLI_USAGE after printing why. */
struct vx_cluster_options;
int cli_cluster_options(const cli_command *cmd, const cli_args *args, const char *role, struct vx_cluster_options *o,
                        int *on);
#define CLI_CLUSTER_OPT {"cluster", 0, "URLS", "join a cluster: its NATS servers, nats://HOST:4222,... ($VIDX_CLUSTER)"}

/* Where a command's answer comes from: the service running on the data folder, or the
 * engine opened here. */
struct vx_engine;
struct cli_remote;
typedef struct cli_target {
    struct cli_remote *remote;
    struct vx_engine *engine;
    const char *db;
} cli_target;
/* Opens the target (the service first). Returns 0, or CLI_SOME_FAILED after printing why. */
int cli_open(const cli_command *cmd, const struct vx_engine_options *o, cli_target *t);
void cli_close(cli_target *t);
/* A request to the service; *doc is its 2xx answer. Errors are printed: CLI_USAGE for
 * 400 (the input), CLI_SOME_FAILED otherwise. */
int cli_call(const cli_command *cmd, cli_target *t, const char *method, const char *uri, const char *body,
             json_t **doc);
/* The same with a body of any type (a picture). */
int cli_call_body(const cli_command *cmd, cli_target *t, const char *method, const char *uri, const void *body,
                  size_t len, const char *content_type, json_t **doc);
/* An engine status as an exit code, the message printed. */
int cli_status(const cli_command *cmd, int status, const char *msg);

/* The model folder for commands without a database (embed, tokenize): --model,
 * $VIDX_MODEL, then the default; and the encoder's precision when asked (--precision,
 * $VIDX_PRECISION). Returns 0, or CLI_USAGE / CLI_SOME_FAILED after printing why. */
int cli_model_dir(const cli_command *cmd, const cli_args *args, char *out, size_t size, vx_precision *precision);

/* Prints a JSON document on one line, as the HTTP API sends it, and releases it. */
void cli_print_json(json_t *doc);

/* Prints a command's document, as JSON or with `human`, and releases it. NULL (out of
 * memory) fails. Returns the exit code. */
int cli_print_doc(const cli_command *cmd, json_t *doc, int json, void (*human)(const json_t *doc));

/* Human-readable forms of the API's documents (cli/print.c). */
void cli_print_results(const json_t *doc, int offset);
void cli_print_feed(const json_t *doc);
void cli_print_event(const json_t *doc);
void cli_print_video(const json_t *doc);
void cli_print_info(const json_t *doc);

/* The subcommands, in the order `vidx --help` lists them. */
extern const cli_command cmd_index, cmd_search, cmd_similar, cmd_event, cmd_feed, cmd_video, cmd_serve, cmd_embed,
    cmd_tokenize, cmd_info, cmd_worker, cmd_tags;
/* Without a service: waits until the engine's zero-shot tags are ready (CLI_OK) or off. */
int cli_wait_for_tags(const cli_command *cmd, struct vx_engine *e);

#endif
