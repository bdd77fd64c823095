/* bench_load: how long loading a model takes in each published format of the same
 * weights, beside one pass over its files (the limit: a .bin may cost its
 * safetensors twin plus one pass over the file).
 *
 * usage: bench_load [--runs N] SAFETENSORS_DIR OTHER_DIR...
 *
 * Every load runs in a child process of its own (its peak memory is its own), the
 * folders in rotating order, page cache warm (each folder is read once before timing).
 * Prints per folder and precision the median wall time, the ratio to the first folder's,
 * one pass over the weights files (read() and XXH3, the same warm cache) and the child's
 * peak resident memory; checks that every folder gives the first one's fingerprint.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "bench_util.h"
#include "../encoder/kernels.h"
#include "../common/vecmath.h"
#include "../encoder/checkpoint.h"
#include "../encoder/clip.h"
#include "../encoder/qlinear.h"

#define MAX_DIRS 8
#define MAX_RUNS 64

/* One load in a child: its seconds and fingerprint through a pipe, its peak RSS (KiB)
 * from wait4. Returns 0 when the child loaded the model. */
static int load_in_child(const char *dir, vx_precision p, double *seconds, uint64_t *fp, long *rss_kib) {
    int fd[2];
    if (pipe(fd)) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fd[0]);
        vx_error err;
        double t0 = vx_now();
        vx_clip *m = vx_clip_load_at(dir, p, &err);
        struct { double s; uint64_t fp; } r = {vx_now() - t0, m ? vx_clip_fingerprint(m) : 0};
        if (!m) fprintf(stderr, "bench_load: %s\n", err.msg);
        if (write(fd[1], &r, sizeof r) != (ssize_t)sizeof r) _exit(2);
        _exit(m ? 0 : 1);
    }
    close(fd[1]);
    struct { double s; uint64_t fp; } r = {0, 0};
    ssize_t got = read(fd[0], &r, sizeof r);
    close(fd[0]);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || got != (ssize_t)sizeof r || !WIFEXITED(status) || WEXITSTATUS(status)) return -1;
    *seconds = r.s;
    *fp = r.fp;
    *rss_kib = ru.ru_maxrss;
    return 0;
}

static volatile uint64_t sink; /* keeps the pass's hash alive */

/* Reads every file of the folder's weights once (read() into a buffer, XXH3 over it):
 * the cost of one pass. */
static double one_pass(const char *dir) {
    const char *name = vx_ckpt_find_file(dir);
    if (!name) return -1;
    /* the weights file, or every shard a sharded index names (its files share a prefix) */
    char list[64][4300];
    int n = 0;
    if (!strstr(name, ".index.json")) {
        snprintf(list[n++], sizeof list[0], "%s/%s", dir, name);
    } else {
        char cmd[4400];
        snprintf(cmd, sizeof cmd, "ls '%s' | grep -E '^(model|pytorch_model)-[0-9]+-of-[0-9]+\\.(safetensors|bin)$'", dir);
        FILE *ls = popen(cmd, "r");
        char line[512];
        while (ls && n < 64 && fgets(line, sizeof line, ls)) {
            line[strcspn(line, "\n")] = 0;
            snprintf(list[n++], sizeof list[0], "%s/%s", dir, line);
        }
        if (ls) pclose(ls);
    }
    static char buf[1 << 20];
    double t0 = vx_now();
    uint64_t h = 0;
    for (int i = 0; i < n; i++) {
        int f = open(list[i], O_RDONLY);
        if (f < 0) return -1;
        XXH3_state_t *st = XXH3_createState();
        XXH3_64bits_reset(st);
        ssize_t k;
        while ((k = read(f, buf, sizeof buf)) > 0) XXH3_64bits_update(st, buf, (size_t)k);
        h ^= XXH3_64bits_digest(st);
        XXH3_freeState(st);
        close(f);
    }
    sink ^= h;
    return vx_now() - t0;
}

int main(int argc, char **argv) {
    vx_kernels_tune(argv); /* as vidx itself runs: encoder/kernels.h */
    bench_print_machine(stdout);
    int runs = 7, n = 0;
    const char *dirs[MAX_DIRS];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (n < MAX_DIRS) dirs[n++] = argv[i];
    }
    if (n < 1 || runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "usage: bench_load [--runs N<=%d] SAFETENSORS_DIR OTHER_DIR...\n", MAX_RUNS);
        return 2;
    }
    vx_precision precisions[2] = {VX_PRECISION_F32, VX_PRECISION_BF16};
    vx_error err;
    const int n_prec = vx_precision_check(VX_PRECISION_BF16, &err) == 0 ? 2 : 1;
    /* warm the cache: one pass over each */
    double pass[MAX_DIRS][MAX_RUNS];
    for (int d = 0; d < n; d++) one_pass(dirs[d]);
    printf("Loading the same weights in each format (%d runs each, medians; page cache warm; each load in a fresh "
           "process)\n\n", runs);
    printf("%-44s %-5s %10s %9s %12s %10s\n", "weights", "prec", "load ms", "vs first", "1 pass ms", "peak MiB");
    int bad = 0;
    uint64_t first_fp = 0;
    for (int p = 0; p < n_prec; p++) {
        double t[MAX_DIRS][MAX_RUNS];
        long rss[MAX_DIRS] = {0};
        for (int r = 0; r < runs; r++)
            for (int k = 0; k < n; k++) {
                int d = (k + r) % n; /* rotating order */
                uint64_t fp;
                long kib;
                if (load_in_child(dirs[d], precisions[p], &t[d][r], &fp, &kib)) {
                    fprintf(stderr, "bench_load: %s did not load\n", dirs[d]);
                    return 1;
                }
                if (!first_fp) first_fp = fp;
                if (fp != first_fp) {
                    fprintf(stderr, "bench_load: %s has another fingerprint than %s\n", dirs[d], dirs[0]);
                    bad = 1;
                }
                if (kib > rss[d]) rss[d] = kib;
                if (p == 0) pass[d][r] = one_pass(dirs[d]);
            }
        double base = 0;
        for (int d = 0; d < n; d++) {
            vx_checkpoint *c = vx_ckpt_open(dirs[d], &err);
            char what[160];
            snprintf(what, sizeof what, "%s", c ? vx_ckpt_describe(c) : "?");
            vx_ckpt_close(c);
            const double ms = 1000 * bench_median(t[d], runs);
            if (d == 0) base = ms;
            double pass_copy[MAX_RUNS];
            memcpy(pass_copy, pass[d], sizeof(double) * (size_t)runs);
            printf("%-44s %-5s %10.1f %8.2fx %12.1f %10.1f\n", what, vx_precision_name(precisions[p]), ms, ms / base,
                   1000 * bench_median(pass_copy, runs), (double)rss[d] / 1024);
        }
    }
    printf("\n'vs first': load time against the first folder's (safetensors) in the same run. '1 pass': reading\n"
           "every weights file once (read() + XXH3). A format meets its limit when load <= first + 1 pass.\n");
    return bad;
}
