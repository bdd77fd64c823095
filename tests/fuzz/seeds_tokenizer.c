/* Seeds for fuzz_tokenizer: captions, entities, Unicode, special tokens, long input, and
 * queries the router tells apart (English, German, unsure, no words). */
#include <string.h>

#include "fuzz_seeds.h"

int fuzz_seeds(vx_buf *seeds, size_t *n_seeds, size_t max_seeds) {
    static const char *const texts[] = {
        "Hello World!",
        "a man is talking about business",
        "rock &amp;amp; roll &#39;n&#x27; &eacute;t&eacute; &lt;|endoftext|&gt; &#0; &#x110000; &#128;",
        "CAF\xc3\x89 \xd0\x9c\xd0\x9e\xd0\xa1\xd0\x9a\xd0\x92\xd0\x90 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80 2024",
        "<|startoftext|>it's we're they'll I'd you've I'm\t\n\xc2\xa0 spaces",
        "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopic",
        "eine Frau kocht in der K\303\274che", "voiture rouge", "a man cooking in a caf\xc3\xa9", "!!! 42",
    };
    size_t n = sizeof texts / sizeof texts[0];
    if (max_seeds < n + 1) return -1;
    for (size_t i = 0; i < n; i++) {
        vx_buf_reset(&seeds[i]);
        vx_put_bytes(&seeds[i], texts[i], strlen(texts[i]));
    }
    vx_buf_reset(&seeds[n]);
    for (int i = 0; i < 200; i++) vx_put_bytes(&seeds[n], "dog ", 4);
    *n_seeds = n + 1;
    return 0;
}
