/* The multilingual text tower's WordPiece tokenizer (encoder/wordpiece.h) against Hugging
 * Face's tokenizers: the ids its Rust core gave for 25 texts (Chinese, Japanese, Korean,
 * Russian, German, French, Greek, Arabic, Thai, emoji, control and format characters,
 * special tokens in the text, empty and blank texts, a 400-word text, 100- and
 * 120-character words) at three lengths, on a tokenizer.json in the published layout
 * (tests/golden/wordpiece/make_golden.js made both). Then the same vocabulary read from
 * vocab.txt, and tokenizer files that must be refused, each with its reason. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/system.h"
#include "../encoder/wordpiece.h"
#include "check.h"

static char *dir;
static const char *golden = VIDX_SOURCE_DIR "/tests/golden/wordpiece";

static void test_golden_ids(void) {
    vx_error err;
    vx_wordpiece *t = vx_wordpiece_load(golden, &err);
    REQUIRE_MSG(t, "%s", err.msg);
    json_t *g = json_load_file(VIDX_SOURCE_DIR "/tests/golden/wordpiece/golden.json", 0, NULL);
    REQUIRE(g);
    const json_t *cases = json_object_get(g, "cases");
    size_t i;
    const json_t *c;
    int compared = 0, differ = 0;
    json_array_foreach(cases, i, c) {
        const int max_len = (int)json_integer_value(json_object_get(c, "max_len"));
        const char *text = json_string_value(json_object_get(c, "text"));
        const json_t *want = json_object_get(c, "ids");
        int32_t ids[512];
        const int n = vx_wordpiece_encode(t, text, ids, max_len, &err);
        int same = n == (int)json_array_size(want);
        for (int k = 0; same && k < n; k++) same = ids[k] == json_integer_value(json_array_get(want, (size_t)k));
        if (!same) {
            differ++;
            fprintf(stderr, "max_len %d, \"%.60s\": %d ids, Hugging Face %zu\n", max_len, text, n, json_array_size(want));
        }
        compared++;
    }
    CHECK_MSG(differ == 0 && compared == 75, "%d of %d texts differ from Hugging Face's ids", differ, compared);
    json_decref(g);
    /* The pieces read back: ids name their pieces. */
    CHECK(strcmp(vx_wordpiece_token(t, 101), "[CLS]") == 0 && vx_wordpiece_token(t, -1) == NULL);
    int32_t ids[4];
    CHECK(vx_wordpiece_encode(t, "x", ids, 1, &err) == -1 && strstr(err.msg, "max_len"));
    CHECK(vx_wordpiece_encode(t, "caf\xe9", ids, 4, &err) == -1 && strstr(err.msg, "UTF-8"));
    vx_wordpiece_free(t);
}

/* The same vocabulary as vocab.txt + tokenizer_config.json: the same ids. */
static void test_vocab_txt(void) {
    vx_error err;
    vx_wordpiece *t = vx_wordpiece_load(golden, &err);
    REQUIRE(t);
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    for (int32_t id = 0; id < vx_wordpiece_vocab_size(t); id++) fprintf(f, "%s\n", vx_wordpiece_token(t, id));
    fclose(f);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    const char *cfg = "{\"do_lower_case\": false, \"tokenize_chinese_chars\": true, \"strip_accents\": null}";
    REQUIRE(vx_write_file_atomic(path, cfg, strlen(cfg), &err) == 0);
    vx_wordpiece *v = vx_wordpiece_load(dir, &err);
    REQUIRE_MSG(v, "%s", err.msg);
    static const char *const texts[] = {"厨房里的鹦鹉 [MASK] Кошка играет", "Ein Mädchen spielt; a man is playing guitar"};
    for (int i = 0; i < 2; i++) {
        int32_t a[64], b[64];
        const int na = vx_wordpiece_encode(t, texts[i], a, 64, &err), nb = vx_wordpiece_encode(v, texts[i], b, 64, &err);
        CHECK_MSG(na == nb && na > 2 && memcmp(a, b, (size_t)na * sizeof *a) == 0, "\"%s\": %d against %d ids", texts[i], nb, na);
    }
    /* Without its config, vocab.txt would be BERT's lower-cased default: refused. */
    remove(path);
    vx_wordpiece *none = vx_wordpiece_load(dir, &err);
    CHECK_MSG(!none && strstr(err.msg, "tokenizer_config.json"), "%s", err.msg);
    vx_wordpiece_free(v);
    vx_wordpiece_free(t);
}

static void refused(const char *json, const char *why) {
    vx_error err = {{0}};
    vx_wordpiece *t = vx_wordpiece_from_json(json, strlen(json), &err);
    CHECK_MSG(!t && strstr(err.msg, why), "%.80s: want \"%s\", got \"%s\"", json, why, err.msg);
    vx_wordpiece_free(t);
}

#define PIPE "\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":false},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
#define VOCAB "\"vocab\":{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"a\":3}"

static void test_refused(void) {
    refused("[1, 2]", "not a JSON object");
    refused("{\"normalizer\":{\"type\":\"BertNormalizer\"}," "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}}",
            "lowercase and strip_accents must be false");
    refused("{\"normalizer\":{\"type\":\"NFKC\"}}", "not a BertNormalizer");
    refused("{" PIPE "\"model\":{\"type\":\"BPE\"," VOCAB ",\"unk_token\":\"[UNK]\"}}", "not a WordPiece");
    refused("{" PIPE "\"model\":{\"vocab\":{\"a\":0,\"b\":0},\"unk_token\":\"a\"}}", "given twice");
    refused("{" PIPE "\"model\":{\"vocab\":{\"a\":-1},\"unk_token\":\"a\"}}", "not an integer");
    refused("{" PIPE "\"model\":{" VOCAB ",\"unk_token\":\"[NOPE]\"}}", "unk_token");
    refused("{" PIPE "\"model\":{" VOCAB ",\"unk_token\":\"[UNK]\",\"max_input_chars_per_word\":0}}",
            "max_input_chars_per_word");
    refused("{" PIPE "\"model\":{" VOCAB ",\"unk_token\":\"[UNK]\"},\"added_tokens\":[{\"id\":3,\"content\":\"b\"}]}",
            "added_tokens[0]");
    refused("{" PIPE "\"model\":{" VOCAB ",\"unk_token\":\"[UNK]\"},\"post_processor\":{\"type\":\"RobertaProcessing\"}}",
            "post_processor");
    /* The smallest file read: no post-processor, [CLS] and [SEP] from the vocabulary. */
    const char *ok = "{" PIPE "\"model\":{" VOCAB ",\"unk_token\":\"[UNK]\"}}";
    vx_error err;
    vx_wordpiece *t = vx_wordpiece_from_json(ok, strlen(ok), &err);
    REQUIRE_MSG(t, "%s", err.msg);
    int32_t ids[8];
    CHECK(vx_wordpiece_encode(t, "a b", ids, 8, &err) == 4 && ids[0] == 1 && ids[1] == 3 && ids[2] == 0 && ids[3] == 2);
    vx_wordpiece_free(t);
}

int main(void) {
    dir = test_tmpdir("wordpiece");
    RUN(test_golden_ids);
    RUN(test_vocab_txt);
    RUN(test_refused);
    test_rmtree(dir);
    free(dir);
    CHECK_EXIT();
}
