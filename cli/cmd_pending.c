/* Subcommands whose implementation lands with later issues. Their options are declared
 * here already so that `--help`, flag checking and exit codes behave as DESIGN.md says;
 * running one reports plainly that it is not built yet (exit 1). Each moves to its own
 * file when it is implemented. */
#include <stddef.h>

#include "cli.h"

#define K_OPT(def) {"k", 'k', "N", "number of results (default " def ")"}
#define JSON_OPT {"json", 0, NULL, "print JSON, exactly as the HTTP API returns it"}

static int not_built(const cli_command *cmd, cli_args *args) {
    (void)args;
    return cli_fail(cmd, "not implemented in this build yet");
}



const cli_command cmd_event = {
    .name = "event",
    .synopsis = "[--db DIR] --user U --video V --type T [--seconds S] [--ts UNIX]",
    .summary = "record what a user did with a video (view, complete, like, dislike, skip)",
    .opts = {CLI_DB_OPT,
             {"user", 0, "U", "user name"},
             {"video", 0, "V", "video id or path"},
             {"type", 0, "T", "view, complete, like, dislike or skip"},
             {"seconds", 0, "S", "seconds watched"},
             {"ts", 0, "UNIX", "when, in unix seconds (default now)"}},
    .min_pos = 0, .max_pos = 0, .run = not_built,
};

const cli_command cmd_feed = {
    .name = "feed",
    .synopsis = "[--db DIR] [-k N] [--json] USER",
    .summary = "a user's personal feed of recommended videos",
    .opts = {CLI_DB_OPT, K_OPT("20"), JSON_OPT},
    .min_pos = 1, .max_pos = 1, .run = not_built,
};

const cli_command cmd_serve = {
    .name = "serve",
    .synopsis = "[--db DIR] [--model DIR] [--listen HOST:PORT]",
    .summary = "run the HTTP service (search, similar, feeds, indexing jobs, web page)",
    .opts = {CLI_DB_OPT, CLI_MODEL_OPT, {"listen", 0, "HOST:PORT", "address to listen on (default 127.0.0.1:8080)"}},
    .min_pos = 0, .max_pos = 0, .run = not_built,
};
