/* Fuzz target: the multilingual tower's WordPiece tokenizer (encoder/wordpiece.h). The
 * first byte picks: even, the rest is a tokenizer.json (from a model folder: refused with
 * a message, or read and then used on a few texts); odd, the rest is a query encoded with
 * the golden tokenizer (tests/golden/wordpiece). Encoded ids start with [CLS], end with
 * [SEP], fit max_len and name pieces of the vocabulary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../encoder/wordpiece.h"

static vx_wordpiece *golden;

static void check_ids(const vx_wordpiece *t, const char *text, int max_len) {
    int32_t ids[64];
    vx_error err;
    err.msg[0] = '\0';
    const int n = vx_wordpiece_encode(t, text, ids, max_len, &err);
    if (n < 0) {
        if (!err.msg[0]) abort();
        return;
    }
    if (n < 2 || n > max_len) abort();
    for (int i = 0; i < n; i++)
        if (!vx_wordpiece_token(t, ids[i])) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0'; /* a NUL inside ends the text, as it would in C */
    vx_error err;
    if (data[0] % 2 == 0) {
        err.msg[0] = '\0';
        vx_wordpiece *t = vx_wordpiece_from_json((const char *)data + 1, size - 1, &err);
        if (!t && !err.msg[0]) abort();
        if (t) {
            static const char *const texts[] = {"a b c", "厨房里的鹦鹉 [CLS]", "", "x,y;z ##a"};
            for (int i = 0; i < 4; i++) check_ids(t, texts[i], 2 + i * 5);
        }
        vx_wordpiece_free(t);
    } else {
        if (!golden && !(golden = vx_wordpiece_load(VIDX_SOURCE_DIR "/tests/golden/wordpiece", &err))) {
            fprintf(stderr, "fuzz_wordpiece: %s\n", err.msg);
            abort();
        }
        check_ids(golden, text, 64);
        check_ids(golden, text, 3);
    }
    free(text);
    return 0;
}
