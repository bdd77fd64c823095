/* vidx: one binary, one subcommand per task (see DESIGN.md, "Command line"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/system.h"
#include "../encoder/kernels.h"
#include "cli.h"

static const cli_command *const commands[] = {
    &cmd_index, &cmd_search, &cmd_similar, &cmd_event, &cmd_feed, &cmd_video, &cmd_tags,
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

int main(int argc, char **argv) {
    vx_kernels_tune(argv); /* encoder/kernels.h: OpenMP threads idle less greedily, OpenBLAS on its best kernels */
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
