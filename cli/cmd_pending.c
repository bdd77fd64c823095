/* Subcommands whose implementation lands with later issues. Their options are declared
 * here already so that `--help`, flag checking and exit codes behave as DESIGN.md says;
 * running one reports plainly that it is not built yet (exit 1). Each moves to its own
 * file when it is implemented. */
#include <stddef.h>

#include "cli.h"


static int not_built(const cli_command *cmd, cli_args *args) {
    (void)args;
    return cli_fail(cmd, "not implemented in this build yet");
}



const cli_command cmd_serve = {
    .name = "serve",
    .synopsis = "[--db DIR] [--model DIR] [--listen HOST:PORT]",
    .summary = "run the HTTP service (search, similar, feeds, indexing jobs, web page)",
    .opts = {CLI_DB_OPT, CLI_MODEL_OPT, {"listen", 0, "HOST:PORT", "address to listen on (default 127.0.0.1:8080)"}},
    .min_pos = 0, .max_pos = 0, .run = not_built,
};
