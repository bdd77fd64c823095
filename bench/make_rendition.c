/* For bench_media.py: makes one rendition as `vidx serve` would (defaults, full priority)
 * and prints "SECONDS BYTES WIDTH HEIGHT" for it.
 *
 *   make_rendition SRC DST [MAX_HEIGHT] */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "../common/vecmath.h"
#include "../indexer/rendition.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: make_rendition SRC DST [MAX_HEIGHT]\n");
        return 2;
    }
    vx_rendition_options o;
    vx_rendition_options_default(&o);
    if (argc > 3) o.max_height = atoi(argv[3]);
    vx_rendition_result res;
    vx_error err;
    double t0 = vx_now();
    if (vx_make_rendition(argv[1], argv[2], &o, &res, &err)) {
        fprintf(stderr, "make_rendition: %s\n", err.msg);
        return 1;
    }
    double t = vx_now() - t0;
    struct stat st;
    if (stat(argv[2], &st) != 0) return 1;
    printf("%.3f %lld %d %d\n", t, (long long)st.st_size, res.width, res.height);
    return 0;
}
