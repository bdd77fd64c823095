/* Seed inputs for fuzz_http_parse: typical and edge-case inputs of each parser,
 * prefixed with the selector byte the target reads. */
#include <string.h>

#include "fuzz_seeds.h"

static const struct { uint8_t which; const char *text; } seeds_text[] = {
    {0, "bytes=0-99"}, {0, "bytes=-500"}, {0, "bytes=100-"}, {0, "bytes=5-1"}, {0, "bytes=0-1,5-9"},
    {0, "items=0-1"}, {0, "bytes=18446744073709551615-"}, {0, " bytes=-0"},
    {1, "0123456789abcdef.jpg"}, {1, "0123456789ABCDEF-12.jpg"}, {1, "0123456789abcdef-.jpg"}, {1, "../x.jpg"},
    {2, "9f2c04a1b3d4e5f6"}, {2, "9f2c04a1b3d4e5fg"},
    {3, "/videos/a.MP4"}, {3, "noext"}, {3, "/a.b/c"},
    {4, "{\"video_id\": \"9f2c04a1b3d4e5f6\", \"type\": \"like\"}"},
    {4, "{\"video_id\": \"9f2c04a1b3d4e5f6\", \"type\": \"view\", \"seconds\": 12.5, \"ts\": 1700000000}"},
    {4, "{\"video_id\": \"9f2c04a1b3d4e5f6\", \"type\": \"view\", \"seconds\": -1}"},
    {4, "[1, 2]"},
};

int fuzz_seeds(vx_buf *seeds, size_t *n_seeds, size_t max_seeds) {
    const size_t n = sizeof seeds_text / sizeof seeds_text[0];
    if (max_seeds < n) return -1;
    for (size_t i = 0; i < n; i++) {
        vx_buf_reset(&seeds[i]);
        vx_put_u8(&seeds[i], seeds_text[i].which);
        vx_put_bytes(&seeds[i], seeds_text[i].text, strlen(seeds_text[i].text));
    }
    *n_seeds = n;
    return 0;
}
