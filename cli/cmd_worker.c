/* vidx worker: an indexing node of a cluster. */
#include "../cluster/cluster.h"
#include "cli.h"

static int run_worker(const cli_command *cmd, cli_args *args) {
    vx_engine_options eo;
    if (cli_engine_options(cmd, args, &eo)) return CLI_USAGE;
    vx_cluster_options co;
    int clustered;
    if (cli_cluster_options(cmd, args, "worker", &co, &clustered)) return CLI_USAGE;
    if (!clustered) return cli_usage_error(cmd, "a worker works for a cluster: pass --cluster URLS or set VIDX_CLUSTER");
    vx_error err;
    if (vx_cluster_worker_run(&eo, &co, &err)) return cli_fail(cmd, "%s", err.msg);
    return CLI_OK;
}

const cli_command cmd_worker = {
    .name = "worker",
    .synopsis = "--cluster URLS [--model DIR] [--text-model DIR] [--precision P] [--db DIR]",
    .summary = "take indexing work from a cluster's queue (decode, encode, publish)",
    .details = "Follows the cluster's log into its own data folder (--db; the catalog only, for\n"
               "telling unchanged files and copies apart), then takes one file at a time from the\n"
               "cluster's work queue, indexes it, and publishes the result to the log. Files must be\n"
               "readable here under the paths the jobs name. A worker killed mid-file loses nothing:\n"
               "the file comes back to some worker after the ack deadline ($VIDX_CLUSTER_ACK_WAIT,\n"
               "default 60 s); after $VIDX_CLUSTER_ATTEMPTS tries (default 3) it is recorded as\n"
               "failed. Without the model, or with another model than the cluster's, it takes no work.\n"
               "SIGTERM or SIGINT stop it; the file in hand goes back to the queue.",
    .opts = {CLI_DB_OPT, CLI_MODEL_OPT, CLI_TEXT_MODEL_OPT, CLI_PRECISION_OPT, CLI_CLUSTER_OPT},
    .min_pos = 0, .max_pos = 0, .run = run_worker,
};
