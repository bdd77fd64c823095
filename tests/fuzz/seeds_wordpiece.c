/* Seeds for fuzz_wordpiece: small tokenizer.json files in the published layout, and
 * queries in many scripts. */
#include <string.h>

#include "fuzz_seeds.h"

#define PIPE "\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true," \
             "\"strip_accents\":null,\"lowercase\":false},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"

int fuzz_seeds(vx_buf *seeds, size_t *n_seeds, size_t max_seeds) {
    /* Each in parentheses: one seed, however many literals it is written in. */
    static const char *const inputs[] = {
        ("\x00{" PIPE "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\","
         "\"max_input_chars_per_word\":100,\"vocab\":{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"a\":3,\"##b\":4,\"\xe5\x8e\xa8\":5}},"
         "\"added_tokens\":[{\"id\":1,\"content\":\"[CLS]\",\"special\":true,\"normalized\":false}],"
         "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},"
         "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}}],"
         "\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[1],\"tokens\":[\"[CLS]\"]},"
         "\"[SEP]\":{\"id\":\"[SEP]\",\"ids\":[2],\"tokens\":[\"[SEP]\"]}}}}"),
        ("\x02{" PIPE "\"model\":{\"vocab\":{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2},\"unk_token\":\"[UNK]\"},"
         "\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",2],\"cls\":[\"[CLS]\",1]}}"),
        "\x01\xe5\x8e\xa8\xe6\x88\xbf\xe9\x87\x8c\xe7\x9a\x84\xe9\xb9\xa6\xe9\xb9\x89 a parrot in the kitchen",
        ("\x01\xd0\x9a\xd0\xbe\xd1\x88\xd0\xba\xd0\xb0 [MASK] Ein M\xc3\xa4" "dchen, l'\xc3\xa9t\xc3\xa9! \xf0\x9f\x98\x80\t\x07"),
        "\x01supercalifragilisticexpialidocious antidisestablishmentarianism",
    };
    size_t n = sizeof inputs / sizeof inputs[0];
    if (max_seeds < n) return -1;
    for (size_t i = 0; i < n; i++) {
        vx_buf_reset(&seeds[i]);
        const size_t len = 1 + strlen(inputs[i] + 1); /* the first byte (which input) may be 0 */
        vx_put_bytes(&seeds[i], inputs[i], len);
    }
    *n_seeds = n;
    return 0;
}
