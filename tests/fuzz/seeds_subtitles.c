/* Seeds for fuzz_subtitles: cue text (even first byte: the output room) with ASS
 * overrides, HTML-like tags, line-break codes, CJK; .info.json documents (odd first
 * byte). */
#include <string.h>

#include "fuzz_seeds.h"

int fuzz_seeds(vx_buf *seeds, size_t *n_seeds, size_t max_seeds) {
    static const char *const texts[] = {
        "\x3f{\\i1}Hello{\\i0} world\\Nsecond line",
        "\x20<font color=\"#ff0000\">red</font> and <b>bold</b> <v Bob>hi</v>",
        "\x10  lots   of \t space \r\n next \\h line  ",
        "\x07\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c \xe6\x9d\xb1\xe4\xba\xac",
        "\x30{unclosed <unclosed 3 < 4 > 2 \\ backslash \\q",
        "\x01{\"title\": \"Cooking\", \"description\": \"How to \\u00e0\", \"tags\": [\"food\", 3, \"\"], \"categories\": [\"Howto\"]}",
        "\x03{\"title\": \"\\ud83d\\ude00 emoji\", \"tags\": \"not a list\", \"description\": null}",
    };
    size_t n = sizeof texts / sizeof texts[0];
    if (max_seeds < n) return -1;
    for (size_t i = 0; i < n; i++) {
        vx_buf_reset(&seeds[i]);
        vx_put_bytes(&seeds[i], texts[i], strlen(texts[i]));
    }
    *n_seeds = n;
    return 0;
}
