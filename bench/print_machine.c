/* print_machine: the header line of the benchmarks written as scripts (bench_http.sh,
 * bench_media.py, ...): the machine and the kernels vidx runs with on it. */
#include "bench_util.h"
#include "../encoder/kernels.h"

int main(int argc, char **argv) {
    (void)argc;
    vx_kernels_tune(argv); /* as vidx itself runs */
    bench_print_machine(stdout);
    return 0;
}
