/* Fuzz target: the CLIP tokenizer on arbitrary bytes (as text from a query string or
 * a file). Invalid UTF-8 must be refused with a message; anything else must tokenize
 * to 2..77 ids, start and end tokens in place, every id inside the vocabulary. A text
 * that tokenizes also goes through the query router (engine/langid.h), which tokenizes
 * it again and reads its trigrams: one of its three answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../encoder/tokenizer.h"
#include "../../engine/langid.h"

static vx_tokenizer *tok;

static void load_once(void) {
    if (tok) return;
    const char *shared = getenv("VIDX_SHARED_DATA");
    char path[4096];
    snprintf(path, sizeof path, "%s/clip/bpe_simple_vocab_16e6.txt.gz", shared && *shared ? shared : VIDX_DEFAULT_SHARED);
    vx_error err;
    tok = vx_tokenizer_load_bpe_gz(path, &err);
    if (!tok) {
        fprintf(stderr, "fuzz_tokenizer: %s (set VIDX_SHARED_DATA)\n", err.msg);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    load_once();
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0'; /* a NUL inside ends the text, as it would in C */
    int32_t ids[77];
    vx_error err;
    err.msg[0] = '\0';
    int n = vx_tokenize(tok, text, ids, 77, &err);
    if (n < 0) {
        if (!err.msg[0]) abort();
    } else {
        if (n < 2 || n > 77 || ids[0] != vx_tokenizer_sot(tok) || ids[n - 1] != vx_tokenizer_eot(tok)) abort();
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= vx_tokenizer_vocab_size(tok) ||
                vx_tokenizer_merge_rank(tok, ids[i]) >= vx_tokenizer_vocab_size(tok))
                abort();
        const vx_lang_guess g = vx_langid_route(text, tok);
        if (g != VX_LANG_ENGLISH && g != VX_LANG_OTHER && g != VX_LANG_UNSURE) abort();
    }
    free(text);
    return 0;
}
