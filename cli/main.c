/* vidx: one binary, one subcommand per task (see DESIGN.md, "Command line"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "cli.h"

static const cli_command *const commands[] = {
    &cmd_index, &cmd_search, &cmd_similar, &cmd_event, &cmd_feed, &cmd_video,
    &cmd_serve, &cmd_worker, &cmd_embed,  &cmd_tokenize, &cmd_info,
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void print_overview(FILE *f) {
    fprintf(f, "usage: vidx COMMAND [OPTIONS] [ARGS]\n\n"
               "Video search and recommendations with CLIP embeddings.\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "\n`vidx COMMAND --help` describes a command. Exit codes: 0 ok, 1 some inputs failed,\n"
               "2 usage error. Environment: VIDX_DB (database folder), VIDX_MODEL (model folder),\n"
               "VIDX_LOG (debug, info, warn, error).\n");
}

/* OpenMP's threads (the encoder's products and attention heads) spin up to
 * GOMP_SPINCOUNT iterations waiting for more work before sleeping: 300,000 by default.
 * While indexing, that spinning takes the core the decoding thread needs. 10,000 keeps
 * back-to-back products spinning (a text query takes 3.1 ms either way) and gives the
 * core up sooner (the shared clips index at 39.5 instead of 34 x real time). libgomp
 * reads the setting when it loads, before main, so vidx sets it and starts again. */
static void tune_openmp(char **argv) {
    if (getenv("GOMP_SPINCOUNT") || getenv("OMP_WAIT_POLICY")) return;
    if (setenv("GOMP_SPINCOUNT", "10000", 1) != 0) return;
    execv("/proc/self/exe", argv); /* returns only on failure: then run as we are */
}

int main(int argc, char **argv) {
    tune_openmp(argv);
    const char *level = getenv("VIDX_LOG");
    if (level && vx_log_set_level_name(level) != 0)
        fprintf(stderr, "vidx: ignoring unknown VIDX_LOG level '%s'\n", level);
    if (argc < 2) {
        print_overview(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        print_overview(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("vidx %s\n", VIDX_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const cli_command *cmd = commands[i];
        if (strcmp(argv[1], cmd->name) != 0) continue;
        cli_args args;
        int r = cli_parse(cmd, argc - 1, argv + 1, &args);
        if (r < 0) return CLI_OK; /* help printed */
        if (r) return r;
        return cmd->run(cmd, &args);
    }
    fprintf(stderr, "vidx: unknown command '%s' (try `vidx --help`)\n", argv[1]);
    return CLI_USAGE;
}
