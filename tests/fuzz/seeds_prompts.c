/* Seeds for fuzz_prompts: a section as OpenAI's prompts.md writes it (a Python code
 * block, synonyms in a nested list, both quotes, an escape, comments), an operator's
 * file with two sections, and a template without its hole (refused). */
#include <string.h>

#include "fuzz_seeds.h"

int fuzz_seeds(vx_buf *seeds, size_t *n_seeds, size_t max_seeds) {
    static const char *const s[] = {
        "## SUN397\n\n```python\nclasses = [\n    'abbey',\n    ['airplane cabin', 'cabin'],\n    \"children's room\",\n"
        "    'it\\'s a bar',  # a comment\n]\n\ntemplates = [\n    'a photo of a {}.',\n    'a photo of the {}.',\n]\n```\n",
        "# mine\n## venue\nclasses = ['stadium', 'kitchen', ['street', 'road']]\ntemplates = ['a video filmed in a {}.']\n"
        "## mood\nclasses = ['calm', 'tense']\ntemplates = ['{}', 'a {} scene']\n",
        "## broken\nclasses = ['a']\ntemplates = ['no hole here']\n",
    };
    size_t n = sizeof s / sizeof s[0];
    if (max_seeds < n) return -1;
    for (size_t i = 0; i < n; i++) {
        vx_buf_reset(&seeds[i]);
        vx_put_bytes(&seeds[i], s[i], strlen(s[i]));
    }
    *n_seeds = n;
    return 0;
}
