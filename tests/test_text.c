/* Text search end to end (issue 18), on clips made with FFmpeg:
 * - a phrase from one subtitle cue (a subrip stream in Matroska, a mov_text stream in MP4,
 *   a sidecar .srt) finds that video first, with the cue's moment, "matched" and a
 *   highlighted snippet; titles and comments from container tags, a .info.json's tags,
 *   Chinese and Japanese words; filters and paging;
 * - a changed sidecar re-reads the text, not the frames; a broken sidecar is skipped with
 *   its reason and the video is still indexed;
 * - text set through the engine's API operation, shown by the video's view, removed;
 * - the lexical index is derived: deleted or behind the catalog, it is caught up;
 * - without the model, search answers from the words alone.
 * The model is the golden tiny one: its visual ranking is noise, so these checks hold by
 * the words alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/log.h"
#include "../engine/engine.h"
#include "../present/json.h"
#include "../schemas/catalog.h"
#include "check.h"

static char dir[4096], shared[4096], model_dir[4200], db[4200];

static const char *path_of(const char *name) {
    static char path[2][4400];
    static int which;
    which ^= 1;
    snprintf(path[which], sizeof path[which], "%s/v/%s", dir, name);
    return path[which];
}

static void write_file(const char *name, const char *text) {
    FILE *f = fopen(path_of(name), "wb");
    REQUIRE(f && fwrite(text, 1, strlen(text), f) == strlen(text));
    fclose(f);
}

static void sh(const char *fmt, const char *arg) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, fmt, arg);
    REQUIRE_MSG(system(cmd) == 0, "%s", cmd);
}

static vx_engine *open_engine(int with_model) {
    vx_engine_options o;
    vx_engine_options_default(&o);
    o.data_dir = db;
    o.model_dir = with_model ? model_dir : "/nonexistent-model";
    o.create = 1;
    o.model = with_model ? VX_MODEL_REQUIRE : VX_MODEL_TRY;
    vx_error err;
    vx_log_level saved = vx_log_threshold;
    vx_log_threshold = VX_LOG_ERROR;
    vx_engine *e = vx_engine_open(&o, &err);
    vx_log_threshold = saved;
    if (!e) fprintf(stderr, "engine: %s\n", err.msg);
    return e;
}

static void index_folder(vx_engine *e, vx_index_summary *s) {
    const char *paths[] = {path_of("")};
    vx_error err;
    REQUIRE_MSG(vx_engine_index(e, paths, 1, s, &err) == 0, "%s", err.msg);
}

static const vx_job_item *item_of(const vx_index_summary *s, const char *name) {
    for (int i = 0; i < s->n_items; i++)
        if (strcmp(s->items[i].path, path_of(name)) == 0) return &s->items[i];
    return NULL;
}

static int search(vx_engine *e, const char *q, vx_results *r) {
    vx_search_params p;
    vx_search_params_default(&p);
    p.text = q;
    vx_error err;
    int rc = vx_engine_search(e, &p, r, &err);
    if (rc) fprintf(stderr, "search \"%s\": %s\n", q, err.msg);
    return rc;
}

/* The query's first result is `name`, having matched `field`, with that moment (start < 0:
 * not checked) and the word highlighted. */
static void first_is(vx_engine *e, const char *q, const char *name, unsigned field, double start, double end,
                     const char *highlighted) {
    vx_results r;
    REQUIRE(search(e, q, &r) == 0);
    CHECK_MSG(r.n >= 1 && strcmp(r.items[0].path, path_of(name)) == 0, "\"%s\": first is %s, want %s", q,
              r.n ? r.items[0].path : "nothing", name);
    if (r.n >= 1) {
        const vx_result *x = &r.items[0];
        CHECK_MSG(x->matched & field, "\"%s\": matched %#x, want %#x", q, x->matched, field);
        if (start >= 0)
            CHECK_MSG(x->start > start - 0.02 && x->start < start + 0.02 && x->end > end - 0.02 && x->end < end + 0.02,
                      "\"%s\": moment %.3f-%.3f, want %.3f-%.3f", q, x->start, x->end, start, end);
        CHECK_MSG(x->snippet && strstr(x->snippet, highlighted), "\"%s\": snippet %s, want %s in it", q,
                  x->snippet ? x->snippet : "(none)", highlighted);
    }
    vx_results_free(&r);
}

/* No result for `name` matched words of `q`. */
static void words_do_not_find(vx_engine *e, const char *q, const char *name) {
    vx_results r;
    REQUIRE(search(e, q, &r) == 0);
    for (int i = 0; i < r.n; i++)
        CHECK_MSG(strcmp(r.items[i].path, path_of(name)) != 0 || !(r.items[i].matched & ~VX_MATCHED_VISUAL),
                  "\"%s\" still matches the words of %s", q, name);
    vx_results_free(&r);
}

static const char cues_a[] = "1\n00:00:01,000 --> 00:00:02,500\nThe lighthouse keeper waves from the gallery\n\n"
                             "2\n00:00:03,000 --> 00:00:04,500\n\xe5\x8c\x97\xe4\xba\xac\xe7\x9a\x84\xe5\xa4\xa9\xe6\xb0\x94\xe5\xbe\x88\xe5\xa5\xbd\n\n";
static const char cues_c[] = "1\n00:00:02,000 --> 00:00:03,000\nA marmalade sandwich under the hat\n\n"
                             "2\n00:00:04,000 --> 00:00:05,000\n\xe6\x9d\xb1\xe4\xba\xac\xe3\x81\xa7\xe4\xbc\x9a\xe3\x81\x84\xe3\x81\xbe\xe3\x81\x97\xe3\x82\x87\xe3\x81\x86\n\n";

static void make_clips(void) {
    char sub[4400];
    snprintf(sub, sizeof sub, "%s/v", dir);
    REQUIRE(mkdir(sub, 0755) == 0);
    write_file("a.srt.in", cues_a);
    write_file("c.srt.in", cues_c);
    /* a.mkv: a subrip stream and a title; b.mp4: a mov_text stream and a comment;
     * c.mp4: no text inside, a sidecar .srt and a .info.json; d.mp4: nothing but a
     * broken sidecar (binary bytes) and a .txt description. */
    sh("cd '%s/v' && "
       "ffmpeg -v error -y -f lavfi -i testsrc=size=96x64:rate=5:duration=6 -i a.srt.in -map 0 -map 1 "
       "-c:v libx264 -preset ultrafast -c:s srt -metadata title='Harbour lights at dusk' a.mkv && "
       "printf '1\\n00:00:02,000 --> 00:00:03,500\\nNobody expects the spanish inquisition\\n' > b.srt.in && "
       "ffmpeg -v error -y -f lavfi -i smptebars=size=96x64:rate=5:duration=6 -i b.srt.in -map 0 -map 1 "
       "-c:v libx264 -preset ultrafast -c:s mov_text -metadata comment='Fishing boats come home to Odesa' b.mp4 && "
       "ffmpeg -v error -y -f lavfi -i rgbtestsrc=size=96x64:rate=5:duration=6 -c:v libx264 -preset ultrafast c.mp4 && "
       "mv c.srt.in c.srt && "
       "printf '{\"title\": \"Picnic in the park\", \"description\": \"Bears and baskets\", \"tags\": [\"teddy\", \"outdoors\"]}' > c.info.json && "
       "ffmpeg -v error -y -f lavfi -i color=c=blue:size=96x64:rate=5:duration=6 -c:v libx264 -preset ultrafast d.mp4 && "
       "head -c 3000 /dev/urandom > d.srt && printf 'A quiet description of zebras' > d.txt && "
       "rm a.srt.in b.srt.in", dir);
}

static void test_text_search(void) {
    make_clips();
    vx_engine *e = open_engine(1);
    REQUIRE(e);
    vx_index_summary s;
    index_folder(e, &s);
    CHECK_MSG(s.indexed == 4 && s.failed == 0, "indexed %d, failed %d", s.indexed, s.failed);
    /* The broken sidecar is skipped with its reason; the video is indexed anyway. */
    const vx_job_item *d = item_of(&s, "d.mp4");
    CHECK_MSG(d && d->outcome == VX_ITEM_INDEXED && strstr(d->message, "d.srt"), "d.mp4: %s",
              d ? d->message : "(missing)");
    CHECK(s.text_entries >= 10);
    vx_index_summary_clear(&s);

    /* A phrase from one cue: that video first, at the cue. */
    first_is(e, "lighthouse keeper", "a.mkv", VX_MATCHED_SUBTITLE, 1.0, 2.5, "<b>lighthouse</b>");
    first_is(e, "spanish inquisition", "b.mp4", VX_MATCHED_SUBTITLE, 2.0, 3.5, "<b>inquisition</b>");
    first_is(e, "marmalade sandwich", "c.mp4", VX_MATCHED_SUBTITLE, 2.0, 3.0, "<b>marmalade</b>");
    /* Stemming: "waving" finds "waves". */
    first_is(e, "waving keepers", "a.mkv", VX_MATCHED_SUBTITLE, 1.0, 2.5, "<b>keeper</b>");
    /* Container tags, .info.json, .txt, the file name. */
    first_is(e, "harbour", "a.mkv", VX_MATCHED_TITLE, -1, 0, "<b>Harbour</b>");
    first_is(e, "odesa", "b.mp4", VX_MATCHED_DESCRIPTION, -1, 0, "<b>Odesa</b>");
    first_is(e, "teddy", "c.mp4", VX_MATCHED_TAGS, -1, 0, "<b>teddy</b>");
    first_is(e, "picnic", "c.mp4", VX_MATCHED_TITLE, -1, 0, "<b>Picnic</b>");
    first_is(e, "zebras", "d.mp4", VX_MATCHED_DESCRIPTION, -1, 0, "<b>zebras</b>");
    /* Chinese (北京) and Japanese (東京): two-character words. */
    first_is(e, "\xe5\x8c\x97\xe4\xba\xac", "a.mkv", VX_MATCHED_SUBTITLE, 3.0, 4.5, "<b>\xe5\x8c\x97\xe4\xba\xac</b>");
    first_is(e, "\xe6\x9d\xb1\xe4\xba\xac", "c.mp4", VX_MATCHED_SUBTITLE, 4.0, 5.0, "<b>\xe6\x9d\xb1\xe4\xba\xac</b>");

    /* Every result of a fused search says what matched; the one the words matched also
     * "visual" (the visual ranking holds every video here). */
    vx_results r;
    REQUIRE(search(e, "lighthouse", &r) == 0);
    CHECK_MSG(r.n == 4 && r.total == 4, "%d results of %d", r.n, r.total);
    for (int i = 0; i < r.n; i++) CHECK(r.items[i].matched & VX_MATCHED_VISUAL);
    CHECK(r.n && (r.items[0].matched & VX_MATCHED_SUBTITLE) && !(r.items[1].matched & ~VX_MATCHED_VISUAL));
    vx_results_free(&r);
    /* The answer as JSON: "matched" and the snippet. */
    REQUIRE(search(e, "inquisition", &r) == 0);
    vx_buf b = {0};
    vx_results_write(&b, "inquisition", 1.0, &r);
    vx_put_u8(&b, 0);
    CHECK_MSG(strstr((char *)b.data, "\"matched\":[\"visual\",\"subtitle\"]") &&
                  strstr((char *)b.data, "\"snippet\":\"Nobody expects the spanish <b>inquisition</b>\""),
              "%s", (char *)b.data);
    vx_buf_free(&b);
    vx_results_free(&r);

    /* Asked again, the answer comes from the answer cache: every field the same. */
    vx_results again;
    REQUIRE(search(e, "inquisition", &r) == 0);
    REQUIRE(search(e, "inquisition", &again) == 0);
    CHECK(again.lent != NULL && r.n == again.n && r.total == again.total);
    for (int i = 0; i < r.n && i < again.n; i++)
        CHECK(r.items[i].video_id == again.items[i].video_id && r.items[i].score == again.items[i].score &&
              r.items[i].start == again.items[i].start && r.items[i].end == again.items[i].end &&
              r.items[i].matched == again.items[i].matched && r.items[i].segment == again.items[i].segment &&
              !strcmp(r.items[i].title, again.items[i].title) &&
              !r.items[i].snippet == !again.items[i].snippet &&
              (!r.items[i].snippet || !strcmp(r.items[i].snippet, again.items[i].snippet)));
    vx_results_free(&r);
    vx_results_free(&again);

    /* Filters and paging as for pictures. */
    vx_search_params p;
    vx_search_params_default(&p);
    p.text = "lighthouse";
    p.path_prefix = path_of("b");
    vx_error err;
    REQUIRE(vx_engine_search(e, &p, &r, &err) == 0);
    CHECK_MSG(r.n == 1 && r.total == 1 && strcmp(r.items[0].path, path_of("b.mp4")) == 0, "path filter: %d", r.n);
    vx_results_free(&r);
    p.path_prefix = NULL;
    p.k = 1;
    p.offset = 1;
    REQUIRE(vx_engine_search(e, &p, &r, &err) == 0);
    CHECK_MSG(r.n == 1 && strcmp(r.items[0].path, path_of("a.mkv")) != 0, "page 2 holds the first result");
    vx_results_free(&r);

    /* A changed sidecar: the text is read again, the frames are not. */
    sleep(1); /* a new modification time even on coarse clocks */
    write_file("c.srt", "1\n00:00:01,000 --> 00:00:02,000\nPenguins on parade\n");
    index_folder(e, &s);
    CHECK_MSG(s.unchanged == 4 && s.text_refreshed == 1 && s.frames == 0, "unchanged %d, text re-read %d, frames %ld",
              s.unchanged, s.text_refreshed, s.frames);
    const vx_job_item *c = item_of(&s, "c.mp4");
    CHECK_MSG(c && strstr(c->message, "text read again"), "c.mp4: %s", c ? c->message : "(missing)");
    vx_index_summary_clear(&s);
    first_is(e, "penguins", "c.mp4", VX_MATCHED_SUBTITLE, 1.0, 2.0, "<b>Penguins</b>");
    words_do_not_find(e, "marmalade", "c.mp4");
    /* Nothing changed: nothing read again. */
    index_folder(e, &s);
    CHECK(s.text_refreshed == 0 && s.unchanged == 4);
    vx_index_summary_clear(&s);

    /* Text through the API: searchable, shown, and removed by an empty one. */
    uint64_t id;
    REQUIRE(vx_video_arg_id(path_of("d.mp4"), &id, &err) == 0);
    const char *tags[] = {"okapi", "savanna"};
    vx_text_input in;
    vx_text_input_init(&in);
    in.title = "Stripes at noon";
    in.tags = tags;
    in.n_tags = 2;
    CHECK(vx_engine_set_text(e, id, &in, &err) == VX_OK);
    first_is(e, "okapi", "d.mp4", VX_MATCHED_TAGS, -1, 0, "<b>okapi</b>");
    first_is(e, "stripes", "d.mp4", VX_MATCHED_TITLE, -1, 0, "<b>Stripes</b>");
    vx_video_view v;
    REQUIRE(vx_engine_video(e, id, &v, &err) == 0);
    json_t *doc = vx_video_json(&v);
    json_t *text = json_object_get(doc, "text");
    CHECK_MSG(text && !strcmp(json_string_value(json_object_get(text, "title")), "Stripes at noon") &&
                  json_array_size(json_object_get(text, "tags")) == 2 &&
                  !strcmp(json_string_value(json_object_get(text, "description")), "A quiet description of zebras") &&
                  strstr(json_string_value(json_object_get(text, "notes")), "d.srt"),
              "video text: %s", text ? json_dumps(text, 0) : "(none)");
    json_decref(doc);
    vx_video_view_free(&v);
    /* Re-indexing the files leaves the API's text alone. */
    sleep(1);
    write_file("d.txt", "A quiet description of giraffes");
    index_folder(e, &s);
    CHECK(s.text_refreshed == 1);
    vx_index_summary_clear(&s);
    first_is(e, "okapi", "d.mp4", VX_MATCHED_TAGS, -1, 0, "<b>okapi</b>");
    first_is(e, "giraffes", "d.mp4", VX_MATCHED_DESCRIPTION, -1, 0, "<b>giraffes</b>");
    /* Bad input names the field; an unknown video is not found. */
    in.title = "\xff\xfe";
    CHECK(vx_engine_set_text(e, id, &in, &err) == VX_E_BAD_INPUT && strstr(err.msg, "title"));
    in.title = NULL;
    CHECK(vx_engine_set_text(e, 0x1234, &in, &err) == VX_E_NOT_FOUND);
    vx_text_input_init(&in);
    CHECK(vx_engine_set_text(e, id, &in, &err) == VX_OK);
    words_do_not_find(e, "okapi", "d.mp4");

    /* A removed video's words go with it. */
    REQUIRE(rename(path_of("b.mp4"), path_of("b.mp4.gone")) == 0);
    index_folder(e, &s);
    CHECK(s.removed == 1);
    vx_index_summary_clear(&s);
    words_do_not_find(e, "inquisition", "b.mp4");
    vx_engine_close(e);

    /* The lexical index is derived: gone, it is rebuilt; behind the catalog (a crash
     * between the catalog's write and its own), it catches up. */
    char text_index[4400];
    snprintf(text_index, sizeof text_index, "%s/index/text", db);
    test_rmtree(text_index);
    REQUIRE((e = open_engine(1)));
    first_is(e, "penguins", "c.mp4", VX_MATCHED_SUBTITLE, 1.0, 2.0, "<b>Penguins</b>");
    vx_engine_close(e);
    {
        vx_catalog *cat = vx_catalog_open(db, 0, &err);
        REQUIRE(cat);
        vx_video_text t = {.id = id, .slot = VX_TEXT_API, .notes = "",
                           .entries = &(vx_text_entry){.field = VX_FIELD_TAG, .origin = "api", .text = "narwhal"},
                           .n_entries = 1};
        vx_meta m;
        REQUIRE(vx_catalog_get_meta(cat, &m, &err) == 0);
        m.text_generation++;
        vx_batch *bt = vx_batch_new();
        vx_batch_put_text(bt, &t);
        vx_batch_put_meta(bt, &m);
        REQUIRE(vx_catalog_write(cat, bt, &err) == 0);
        vx_batch_free(bt);
        vx_meta_clear(&m);
        vx_catalog_close(cat);
    }
    REQUIRE((e = open_engine(1)));
    first_is(e, "narwhal", "d.mp4", VX_MATCHED_TAGS, -1, 0, "<b>narwhal</b>");
    vx_engine_close(e);

    /* Without the model: the words alone answer, and nothing claims a visual match. */
    REQUIRE((e = open_engine(0)));
    first_is(e, "lighthouse keeper", "a.mkv", VX_MATCHED_SUBTITLE, 1.0, 2.5, "<b>lighthouse</b>");
    REQUIRE(search(e, "harbour", &r) == 0);
    CHECK(r.n == 1 && r.items[0].matched == VX_MATCHED_TITLE);
    vx_results_free(&r);
    vx_engine_stats g;
    vx_engine_gauges(e, &g);
    CHECK(!g.text_search && g.lexical_search && g.text_documents > 0);
    vx_engine_close(e);
}

/* Which cue a subtitle match points to (issue 38): the cue that holds the most of the
 * query's words, then the one where they are closest, then by BM25; a phrase said across
 * two cues is that run of two. Every query here shares stop words ("the", "a", "into")
 * with the first cue, and some share a stem with an earlier cue ("crested"). */
static const char many_cues[] =
    "1\n00:00:01,000 --> 00:00:04,000\nWelcome back to the lobby camera feed.\n\n"
    "2\n00:00:10,000 --> 00:00:14,000\nSecurity desk: the courier in the red jacket signs in at the gate.\n\n"
    "3\n00:00:20,000 --> 00:00:24,000\nOur sulphur-crested cockatoo Pepper sits on the perch.\n\n"
    "4\n00:00:30,000 --> 00:00:34,000\nThe submarine slowly sinks\n\n"
    "5\n00:00:34,000 --> 00:00:38,000\ninto the deep trench below the ship.\n\n"
    "6\n00:00:40,000 --> 00:00:44,500\nNote the cyclist who stops beside the lamp post and checks a map.\n\n"
    "7\n00:00:50,000 --> 00:00:54,000\nThe kettle whistles while Pepper watches from the crest of the cupboard.\n\n"
    "8\n00:01:00,000 --> 00:01:04,000\nA lamp post leans over the cycle path.\n\n"
    "9\n00:01:10,000 --> 00:01:14,000\nA jacket hangs by the red door.\n\n";

static void test_cue_location(void) {
    char base[4000];
    snprintf(base, sizeof base, "%s", dir);
    snprintf(dir, sizeof dir, "%s/cues", base);
    snprintf(db, sizeof db, "%s/db", dir);
    REQUIRE(mkdir(dir, 0755) == 0);
    char sub[4400];
    snprintf(sub, sizeof sub, "%s/v", dir);
    REQUIRE(mkdir(sub, 0755) == 0);
    write_file("e.srt", many_cues);
    sh("cd '%s/v' && ffmpeg -v error -y -f lavfi -i testsrc=size=64x48:rate=1:duration=80 -c:v libx264 "
       "-preset ultrafast e.mp4 && ffmpeg -v error -y -f lavfi -i smptebars=size=64x48:rate=1:duration=10 "
       "-c:v libx264 -preset ultrafast f.mp4", dir);
    vx_engine *e = open_engine(1);
    REQUIRE(e);
    vx_index_summary s;
    index_folder(e, &s);
    CHECK_MSG(s.indexed == 2 && s.failed == 0, "indexed %d, failed %d", s.indexed, s.failed);
    vx_index_summary_clear(&s);
    /* All the words in one later cue. */
    first_is(e, "cyclist checks a map by the lamp post", "e.mp4", VX_MATCHED_SUBTITLE, 40, 44.5, "<b>cyclist</b>");
    /* All three terms in cue 7; cue 3 holds only the stem of one. */
    first_is(e, "kettle whistles crest", "e.mp4", VX_MATCHED_SUBTITLE, 50, 54, "<b>kettle</b>");
    /* Both terms in cues 2 and 9: cue 2 holds them side by side (cue 9 is shorter, so
     * BM25 alone would pick it). */
    first_is(e, "red jacket", "e.mp4", VX_MATCHED_SUBTITLE, 10, 14, "<b>red</b> <b>jacket</b>");
    /* A phrase said across cues 4 and 5: the run of both, quoted whole. */
    first_is(e, "submarine sinks into the trench", "e.mp4", VX_MATCHED_SUBTITLE, 30, 38, "<b>trench</b>");
    first_is(e, "submarine sinks into the trench", "e.mp4", VX_MATCHED_SUBTITLE, 30, 38, "<b>submarine</b>");
    /* One word found in several cues (2 and 9): the moment and the snippet from the same one. */
    first_is(e, "jacket", "e.mp4", VX_MATCHED_SUBTITLE, 70, 74, "hangs");
    vx_engine_close(e);
    snprintf(dir, sizeof dir, "%s", base);
}

int main(void) {
    const char *s = getenv("VIDX_SHARED_DATA");
    snprintf(shared, sizeof shared, "%s", s && *s ? s : "../shared/data");
    snprintf(model_dir, sizeof model_dir, "%s/clip-golden/tiny", shared);
    vx_log_threshold = VX_LOG_WARN;
    char *tmp = test_tmpdir("test-text");
    snprintf(dir, sizeof dir, "%s", tmp);
    free(tmp);
    snprintf(db, sizeof db, "%s/db", dir);
    RUN(test_text_search);
    RUN(test_cue_location);
    test_rmtree(dir);
    CHECK_EXIT();
}
