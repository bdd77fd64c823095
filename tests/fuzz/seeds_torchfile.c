/* Seeds for fuzz_torchfile: the files Debian's torch wrote for the loader's tests
 * (tests/golden/torch: a state dict in both containers, and a pickle importing
 * os.system). */
#include <stdio.h>

#include "fuzz_seeds.h"

int fuzz_seeds(vx_buf *seeds, size_t *n_seeds, size_t max_seeds) {
    static const char *const files[] = {"state-zip.bin", "state-legacy.bin", "evil.bin"};
    size_t n = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0] && n < max_seeds; i++) {
        char path[4096], chunk[4096];
        snprintf(path, sizeof path, "%s/tests/golden/torch/%s", VIDX_SOURCE_DIR, files[i]);
        FILE *f = fopen(path, "rb");
        if (!f) return -1;
        vx_buf_reset(&seeds[n]);
        size_t got;
        while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) vx_put_bytes(&seeds[n], chunk, got);
        fclose(f);
        n++;
    }
    *n_seeds = n;
    return 0;
}
