/* Fuzz target: the text readers of issue 18 on arbitrary bytes. The first byte picks:
 * - even: the plain text of a subtitle cue (vx_subtitle_plain) on UTF-8 input, with an
 *   output room from the byte: the output must be valid UTF-8, fit the room, and have
 *   no control characters, no doubled or edge blanks;
 * - odd: an .info.json (vx_parse_info_json): refused with a message, or fields that are
 *   valid UTF-8 within their bounds. */
#include <stdlib.h>
#include <string.h>

#include "../../common/utf8.h"
#include "../../indexer/subtitles.h"
#include "../../indexer/textmeta.h"
#include "fuzz_seeds.h"

static void plain(const uint8_t *data, size_t size, size_t room) {
    if (!vx_utf8_valid((const char *)data, size)) return;
    char *out = malloc(room);
    const size_t n = vx_subtitle_plain((const char *)data, size, out, room);
    if (n >= room || out[n] != '\0' || strlen(out) != n || !vx_utf8_valid(out, n)) abort();
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)out[i];
        if ((c < 0x20 && c != '\n') || c == 0x7f) abort();
        if ((c == ' ' || c == '\n') && (i == 0 || i + 1 == n)) abort();
        if ((c == ' ' || c == '\n') && i + 1 < n && (out[i + 1] == ' ' || out[i + 1] == '\n')) abort();
    }
    free(out);
}

static void info_json(const uint8_t *data, size_t size) {
    vx_text_fields f = {0};
    vx_error err;
    err.msg[0] = '\0';
    if (vx_parse_info_json((const char *)data, size, "fuzz.info.json", &f, &err) != 0) {
        if (!err.msg[0]) abort();
    } else {
        if (!f.title || !f.description || strlen(f.title) > VX_TEXT_FIELD_MAX ||
            strlen(f.description) > VX_TEXT_FIELD_MAX || f.n_tags > VX_TEXT_MAX_TAGS ||
            !vx_utf8_valid(f.title, strlen(f.title)) || !vx_utf8_valid(f.description, strlen(f.description)))
            abort();
        for (int i = 0; i < f.n_tags; i++)
            if (!f.tags[i][0] || strlen(f.tags[i]) > 256 || !vx_utf8_valid(f.tags[i], strlen(f.tags[i]))) abort();
    }
    vx_text_fields_clear(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (data[0] & 1) info_json(data + 1, size - 1);
    else plain(data + 1, size - 1, (size_t)(data[0] >> 1) % 64 + 1); /* 1..64 bytes, often too few */
    return 0;
}
