/* Text sources of a video (issue 18, readers only: nothing indexes them yet).
 * - Timed text (indexer/subtitles.h): plain text from styled cues, sidecar files (SubRip,
 *   WebVTT, ASS), subtitle streams inside Matroska (subrip) and MP4 (mov_text) made with
 *   FFmpeg, and bad input: binary, not UTF-8, oversized, absurd times, limits.
 * - Titles, descriptions, tags (indexer/textmeta.h): container tags, .info.json, .txt,
 *   and which files beside a video are its sidecars. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../indexer/subtitles.h"
#include "../indexer/textmeta.h"
#include "check.h"

static char *dir;

static void plain_is(const char *in, const char *want) {
    char out[256];
    vx_subtitle_plain(in, strlen(in), out, sizeof out);
    CHECK_MSG(strcmp(out, want) == 0, "plain(\"%s\") = \"%s\", want \"%s\"", in, out, want);
}

static void test_plain_text(void) {
    plain_is("{\\i1}Hello{\\i0} world", "Hello world");
    plain_is("<i>Line one</i>\\NLine two", "Line one\nLine two");
    plain_is("<font color=\"#ff0000\">red</font> and <b>bold</b>", "red and bold");
    plain_is("<v Bob>Hi there</v>", "Hi there");
    plain_is("a\\hb", "a b");
    plain_is("  lots   of \t space  \r\n  next   line  ", "lots of space\nnext line");
    plain_is("{\\an8}{\\pos(10,20)}top", "top");
    plain_is("3 < 4 and {unclosed", "3 < 4 and {unclosed");
    plain_is("\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c", "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c");
    plain_is("\\N\\N", "");
    plain_is("", "");
    /* Cut to the room given, never inside a character. */
    char out[8];
    size_t n = vx_subtitle_plain("ab\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 11, out, sizeof out);
    CHECK(n == 5 && strcmp(out, "ab\xe6\x97\xa5") == 0);
    n = vx_subtitle_plain("hello", 5, out, 1);
    CHECK(n == 0 && out[0] == '\0');
}

static void write_file(const char *name, const char *text, size_t len) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    REQUIRE(f && fwrite(text, 1, len, f) == len);
    fclose(f);
}

static const char *path_of(const char *name) {
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static const char srt[] = "1\n00:00:01,000 --> 00:00:03,500\n<i>The quick brown fox</i>\n\n"
                          "2\n00:00:04,000 --> 00:00:06,000\njumps over\nthe lazy dog\n\n"
                          "3\n00:00:07,250 --> 00:00:09,000\n{\\an8}A phrase someone said\n\n";

static void expect_cue(const vx_cues *c, int i, double start, double end, const char *text) {
    REQUIRE(i < c->n);
    CHECK_MSG(c->cues[i].start > start - 0.02 && c->cues[i].start < start + 0.02 && c->cues[i].end > end - 0.02 &&
                  c->cues[i].end < end + 0.02 && strcmp(c->cues[i].text, text) == 0,
              "cue %d: %.3f-%.3f \"%s\", want %.3f-%.3f \"%s\"", i, c->cues[i].start, c->cues[i].end, c->cues[i].text,
              start, end, text);
}

/* Writes a sidecar, reads it with the default limits into *c (emptied first). */
static void read_written(const char *name, const char *text, size_t len, int want_cues, vx_cues *c) {
    vx_subtitle_limits l;
    vx_subtitle_limits_default(&l);
    vx_error err;
    vx_cues_clear(c);
    write_file(name, text, len);
    REQUIRE(vx_read_subtitle_file(path_of(name), &l, c, &err) == 0);
    CHECK_MSG(c->n == want_cues, "%s: %d cues", name, c->n);
}

static void test_sidecars(void) {
    vx_cues c = {0};
    read_written("a.srt", srt, sizeof srt - 1, 3, &c);
    expect_cue(&c, 0, 1.0, 3.5, "The quick brown fox");
    expect_cue(&c, 1, 4.0, 6.0, "jumps over\nthe lazy dog");
    expect_cue(&c, 2, 7.25, 9.0, "A phrase someone said");

    static const char vtt[] = "WEBVTT\n\n00:00:02.000 --> 00:00:04.000 align:start\n<v Ann>Guten Tag, <b>Welt</b>\n\n"
                              "00:01:00.500 --> 00:01:02.000\n\xe6\x9d\xb1\xe4\xba\xac\xe3\x81\xa7\xe4\xbc\x9a\xe3\x81\x84"
                              "\xe3\x81\xbe\xe3\x81\x97\xe3\x82\x87\xe3\x81\x86\n\n";
    read_written("b.vtt", vtt, sizeof vtt - 1, 2, &c);
    expect_cue(&c, 0, 2.0, 4.0, "Guten Tag, Welt");
    expect_cue(&c, 1, 60.5, 62.0, "\xe6\x9d\xb1\xe4\xba\xac\xe3\x81\xa7\xe4\xbc\x9a\xe3\x81\x84\xe3\x81\xbe\xe3\x81\x97"
                                  "\xe3\x82\x87\xe3\x81\x86");

    static const char ass[] = "[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize\n"
                              "Style: Default,Arial,20\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, "
                              "MarginR, MarginV, Effect, Text\nDialogue: 0,0:00:05.00,0:00:07.50,Default,,0,0,0,,"
                              "{\\b1}Bold, with commas{\\b0}\\Nand a second line\n";
    read_written("c.ass", ass, sizeof ass - 1, 1, &c);
    expect_cue(&c, 0, 5.0, 7.5, "Bold, with commas\nand a second line");
    vx_cues_clear(&c);
}

static void test_bad_sidecars(void) {
    vx_subtitle_limits l;
    vx_subtitle_limits_default(&l);
    vx_error err;
    vx_cues c = {0};
    /* Cues from a good file stay when a later one fails. */
    REQUIRE(vx_read_subtitle_file(path_of("a.srt"), &l, &c, &err) == 0);
    CHECK(c.n == 3);
    char binary[4096];
    for (size_t i = 0; i < sizeof binary; i++) binary[i] = (char)(i * 7919 % 251);
    write_file("binary.srt", binary, sizeof binary);
    CHECK(vx_read_subtitle_file(path_of("binary.srt"), &l, &c, &err) == -1);
    CHECK_MSG(strstr(err.msg, "binary.srt") != NULL, "%s", err.msg);
    /* Latin-1, not UTF-8: refused with the reason, nothing half-read kept. */
    static const char latin1[] = "1\n00:00:01,000 --> 00:00:02,000\ncaf\xe9 cr\xe8me br\xfbl\xe9\xe9\n\n";
    write_file("latin1.srt", latin1, sizeof latin1 - 1);
    CHECK(vx_read_subtitle_file(path_of("latin1.srt"), &l, &c, &err) == -1);
    CHECK_MSG(strstr(err.msg, "UTF-8") != NULL, "%s", err.msg);
    CHECK(c.n == 3);
    /* Too big: refused before it is read. */
    l.max_file_bytes = 100;
    CHECK(vx_read_subtitle_file(path_of("a.srt"), &l, &c, &err) == -1);
    CHECK_MSG(strstr(err.msg, "more than the 100") != NULL, "%s", err.msg);
    CHECK(vx_read_subtitle_file(path_of("missing.srt"), &l, &c, &err) == -1);
    vx_cues_clear(&c);
    /* Absurd times: starts far past the video, a day long; dropped and counted. */
    vx_subtitle_limits_default(&l);
    l.duration = 30;
    static const char times[] = "1\n00:00:01,000 --> 00:00:02,000\nfine\n\n"
                                "2\n10:00:00,000 --> 10:00:01,000\nten hours in\n\n"
                                "3\n00:00:05,000 --> 00:00:05,000\nzero length\n\n";
    write_file("times.srt", times, sizeof times - 1);
    REQUIRE(vx_read_subtitle_file(path_of("times.srt"), &l, &c, &err) == 0);
    CHECK_MSG(c.n == 1 && c.dropped == 2, "%d cues, %d dropped", c.n, c.dropped);
    vx_cues_clear(&c);
    /* Limits on cues and bytes per video. */
    vx_subtitle_limits_default(&l);
    l.max_cues = 2;
    REQUIRE(vx_read_subtitle_file(path_of("a.srt"), &l, &c, &err) == 0);
    CHECK(c.n == 2 && c.dropped == 1);
    vx_cues_clear(&c);
    l.max_cues = 100;
    l.max_text_bytes = 25;
    REQUIRE(vx_read_subtitle_file(path_of("a.srt"), &l, &c, &err) == 0);
    CHECK(c.n == 1 && c.text_bytes <= 25);
    vx_cues_clear(&c);
}

static void test_streams(void) {
    char cmd[12000];
    /* Matroska with a subrip stream, MP4 with mov_text, both from a.srt; MP4 with DVD
     * (bitmap) subtitles is not made here: FFmpeg cannot encode text into bitmaps. */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && ffmpeg -v error -y -f lavfi -i testsrc=size=160x120:rate=5:duration=10 -i a.srt "
             "-map 0 -map 1 -c:v libx264 -preset ultrafast -c:s srt -metadata:s:s:0 language=eng subs.mkv && "
             "ffmpeg -v error -y -f lavfi -i testsrc=size=160x120:rate=5:duration=10 -i a.srt "
             "-map 0 -map 1 -c:v libx264 -preset ultrafast -c:s mov_text subs.mp4 && "
             "ffmpeg -v error -y -f lavfi -i testsrc=size=160x120:rate=5:duration=2 -c:v libx264 -preset ultrafast "
             "plain.mp4",
             dir);
    REQUIRE(system(cmd) == 0);
    vx_subtitle_limits l;
    vx_subtitle_limits_default(&l);
    l.duration = 10;
    vx_error err;
    static const char *const files[] = {"subs.mkv", "subs.mp4"};
    for (int f = 0; f < 2; f++) {
        vx_cues c = {0};
        REQUIRE(vx_read_subtitle_streams(path_of(files[f]), &l, &c, &err) == 0);
        CHECK_MSG(c.n == 3, "%s: %d cues", files[f], c.n);
        expect_cue(&c, 0, 1.0, 3.5, "The quick brown fox");
        expect_cue(&c, 1, 4.0, 6.0, "jumps over\nthe lazy dog");
        expect_cue(&c, 2, 7.25, 9.0, "A phrase someone said");
        vx_cues_clear(&c);
    }
    vx_cues c = {0};
    REQUIRE(vx_read_subtitle_streams(path_of("plain.mp4"), &l, &c, &err) == 0);
    CHECK(c.n == 0 && c.notes[0] == '\0');
    /* A video file is not a subtitle file. */
    CHECK(vx_read_subtitle_file(path_of("plain.mp4"), &l, &c, &err) == -1);
    CHECK_MSG(strstr(err.msg, "no text subtitles") != NULL, "%s", err.msg);
    vx_cues_clear(&c);
}

static void test_container_tags(void) {
    char cmd[8000];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && ffmpeg -v error -y -f lavfi -i testsrc=size=160x120:rate=5:duration=1 -c:v libx264 "
             "-preset ultrafast -metadata title='Harbour at dawn' -metadata comment='Fishing boats leave Kyiv' "
             "-metadata keywords='boats, sea; morning' -metadata genre=documentary tagged.mkv",
             dir);
    REQUIRE(system(cmd) == 0);
    vx_text_fields f = {0};
    vx_error err;
    REQUIRE(vx_read_container_text(path_of("tagged.mkv"), &f, &err) == 0);
    CHECK_MSG(strcmp(f.title, "Harbour at dawn") == 0, "title %s", f.title);
    CHECK_MSG(strcmp(f.description, "Fishing boats leave Kyiv") == 0, "description %s", f.description);
    CHECK_MSG(f.n_tags == 4 && strcmp(f.tags[0], "boats") == 0 && strcmp(f.tags[1], "sea") == 0 &&
                  strcmp(f.tags[2], "morning") == 0 && strcmp(f.tags[3], "documentary") == 0,
              "%d tags", f.n_tags);
    vx_text_fields_clear(&f);
    CHECK(vx_read_container_text(path_of("nothing-here.mkv"), &f, &err) == -1);
    vx_text_fields_clear(&f);
    /* A title in Latin-1: left out (never guessed at) and counted, the rest kept. */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && ffmpeg -v error -y -f lavfi -i testsrc=size=160x120:rate=5:duration=1 -c:v libx264 "
             "-preset ultrafast -metadata title=\"$(printf 'Caf\351')\" -metadata genre=documentary latin1.mkv",
             dir);
    REQUIRE(system(cmd) == 0);
    REQUIRE(vx_read_container_text(path_of("latin1.mkv"), &f, &err) == 0);
    CHECK_MSG(f.not_utf8 == 1 && strcmp(f.title, "") == 0 && f.n_tags == 1, "title '%s', %d not UTF-8, %d tags",
              f.title, f.not_utf8, f.n_tags);
    vx_text_fields_clear(&f);
}

static void test_info_json_and_txt(void) {
    vx_text_fields f = {0};
    vx_error err;
    static const char info[] = "{\"id\": \"x\", \"title\": \"  Cooking pasta  \", \"description\": "
                               "\"How to cook \\u00e0 la carbonara\", \"tags\": [\"food\", \"pasta\", \"food\", 3, "
                               "\"\"], \"categories\": [\"Howto\"], \"formats\": [{\"a\": 1}]}";
    write_file("clip.info.json", info, sizeof info - 1);
    REQUIRE(vx_read_info_json(path_of("clip.info.json"), &f, &err) == 0);
    CHECK(strcmp(f.title, "Cooking pasta") == 0);
    CHECK(strcmp(f.description, "How to cook \xc3\xa0 la carbonara") == 0);
    CHECK_MSG(f.n_tags == 3 && strcmp(f.tags[2], "Howto") == 0, "%d tags", f.n_tags);
    /* A .txt adds to the description; the title stays the first one found. */
    write_file("clip.txt", "\xef\xbb\xbfShot in Naples.\n", 19);
    REQUIRE(vx_read_description_file(path_of("clip.txt"), &f, &err) == 0);
    CHECK_MSG(strcmp(f.description, "How to cook \xc3\xa0 la carbonara\n\nShot in Naples.") == 0, "%s", f.description);
    vx_text_fields_clear(&f);
    /* Bad ones: refused with the reason. */
    CHECK(vx_parse_info_json("[1, 2]", 6, "list.json", &f, &err) == -1 && strstr(err.msg, "not a JSON object"));
    CHECK(vx_parse_info_json("{\"title\": ", 10, "cut.json", &f, &err) == -1 && strstr(err.msg, "not JSON"));
    CHECK(vx_parse_info_json("{\"title\": \"\xff\"}", 14, "bytes.json", &f, &err) == -1);
    write_file("latin1.txt", "caf\xe9\n", 5);
    CHECK(vx_read_description_file(path_of("latin1.txt"), &f, &err) == -1 && strstr(err.msg, "not UTF-8"));
    vx_text_fields_clear(&f);
}

static void test_find_sidecars(void) {
    vx_error err;
    static const char *const names[] = {"show.mp4", "show.srt", "show.en.vtt", "show.info.json", "show.txt",
                                        "showtime.srt", "show.mp4.srt.bak", "other.srt", "show.a.b.srt",
                                        "show.ass"};
    char *sub = NULL;
    {
        char p[4200];
        snprintf(p, sizeof p, "%s/side", dir);
        REQUIRE(mkdir(p, 0755) == 0);
        sub = strdup(p);
    }
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char p[4300];
        snprintf(p, sizeof p, "%s/%s", sub, names[i]);
        FILE *f = fopen(p, "w");
        REQUIRE(f);
        fclose(f);
    }
    /* A link beside the video naming a file outside the folder, and a FIFO: neither is a
     * sidecar (the link's target would leak as the video's text; the FIFO would block). */
    char outside[4300], link[4300], fifo[4300];
    snprintf(outside, sizeof outside, "%s/secret.txt", dir);
    FILE *secret = fopen(outside, "w");
    REQUIRE(secret);
    fputs("token=not-for-the-api\n", secret);
    fclose(secret);
    snprintf(link, sizeof link, "%s/show.description.txt", sub);
    REQUIRE(symlink(outside, link) == 0);
    snprintf(link, sizeof link, "%s/show.fr.srt", sub);
    REQUIRE(symlink(outside, link) == 0);
    snprintf(fifo, sizeof fifo, "%s/show.de.srt", sub);
    REQUIRE(mkfifo(fifo, 0600) == 0);
    vx_text_fields tf = {0};
    CHECK(vx_read_description_file(link, &tf, &err) == -1 && strstr(err.msg, "link"));
    CHECK(vx_read_description_file(fifo, &tf, &err) == -1);
    vx_text_fields_clear(&tf);
    char video[4300], **paths;
    snprintf(video, sizeof video, "%s/show.mp4", sub);
    int n = vx_find_sidecars(video, NULL, &paths, &err);
    static const char *const want[] = {"show.ass", "show.en.vtt", "show.info.json", "show.srt", "show.txt"};
    CHECK_MSG(n == 5, "%d sidecars", n);
    for (int i = 0; i < n && i < 5; i++) {
        CHECK_MSG(strcmp(strrchr(paths[i], '/') + 1, want[i]) == 0, "sidecar %d: %s", i, paths[i]);
        free(paths[i]);
    }
    free(paths);
    free(sub);
}

int main(void) {
    dir = test_tmpdir("subtitles");
    RUN(test_plain_text);
    RUN(test_sidecars);
    RUN(test_bad_sidecars);
    RUN(test_streams);
    RUN(test_container_tags);
    RUN(test_info_json_and_txt);
    RUN(test_find_sidecars);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    free(dir);
    CHECK_EXIT();
}
