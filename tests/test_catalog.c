/* Catalog tests: record round trips, corrupt and truncated records, the writer lock,
 * iteration order and batch atomicity under kill -9. */
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/hash.h"
#include "../common/log.h"
#include "../schemas/catalog.h"
#include "../schemas/ops.h"
#include "check.h"

/* ---- sample records ------------------------------------------------------------------ */

static float sample_vec[8] = {0.5f, -0.5f, 0.25f, 0.125f, -0.0625f, 0.7f, 0.0f, -1e-3f};

static vx_video sample_video(uint64_t id, const char *path) {
    vx_video v = {
        .id = id, .content_hash = 0x1234567890abcdefULL ^ id, .size = 123456789, .mtime_ns = 1700000000123456789LL,
        .duration = 12.5, .fps = 29.97, .width = 1920, .height = 1080, .status = VX_VIDEO_INDEXED,
        .n_segments = 3, .duplicate_of = 0, .created_at = 1700000000, .updated_at = 1700000100,
        .path = (char *)path, .title = "A title with ünïcode", .failure = "",
        .playback = 2, .playback_note = "browsers do not play mpeg1video video in mpeg files",
    };
    return v;
}

static void check_video_equal(const vx_video *a, const vx_video *b) {
    CHECK(a->id == b->id);
    CHECK(a->content_hash == b->content_hash);
    CHECK(a->size == b->size);
    CHECK(a->mtime_ns == b->mtime_ns);
    CHECK(a->duration == b->duration);
    CHECK(a->fps == b->fps);
    CHECK(a->width == b->width && a->height == b->height);
    CHECK(a->status == b->status);
    CHECK(a->n_segments == b->n_segments);
    CHECK(a->duplicate_of == b->duplicate_of);
    CHECK(a->created_at == b->created_at && a->updated_at == b->updated_at);
    CHECK(strcmp(a->path, b->path) == 0);
    CHECK(strcmp(a->title, b->title) == 0);
    CHECK(strcmp(a->failure, b->failure) == 0);
    CHECK(a->playback == b->playback && strcmp(a->playback_note, b->playback_note) == 0);
    CHECK(a->precision == b->precision);
}

static vx_catalog *open_fresh(char **dir_out) {
    *dir_out = test_tmpdir("catalog");
    vx_error err = {{0}};
    vx_catalog *cat = vx_catalog_open(*dir_out, 1, &err);
    if (!cat) fprintf(stderr, "open: %s\n", err.msg);
    return cat;
}

/* ---- codecs -------------------------------------------------------------------------- */

typedef int (*decode_any)(const void *, size_t, void *, vx_error *);
typedef void (*clear_any)(void *);

/* Every strict prefix of a valid encoding, the encoding with a wrong version byte and
 * the encoding with trailing bytes must all be rejected with a message; the valid one
 * must decode. ASan watches for reads past the end. */
static void check_rejects_damage(const char *what, const vx_buf *enc, decode_any decode, clear_any clear) {
    union { vx_meta m; vx_video v; vx_segment s; vx_embedding e; vx_user u; vx_event ev; vx_job j; } out;
    vx_error err;
    for (size_t len = 0; len < enc->len; len++) {
        uint8_t *copy = malloc(len ? len : 1); /* exact size, so ASan sees any overread */
        memcpy(copy, enc->data, len);
        err.msg[0] = '\0';
        int r = decode(copy, len, &out, &err);
        CHECK_MSG(r == -1 && err.msg[0], "%s truncated to %zu of %zu bytes was accepted", what, len, enc->len);
        if (r == 0) clear(&out);
        free(copy);
    }
    uint8_t *copy = malloc(enc->len + 1);
    memcpy(copy, enc->data, enc->len);
    copy[0] = 99;
    CHECK(decode(copy, enc->len, &out, &err) == -1 && strstr(err.msg, "unknown version"));
    copy[0] = enc->data[0];
    copy[enc->len] = 0x42;
    CHECK(decode(copy, enc->len + 1, &out, &err) == -1 && strstr(err.msg, "trailing"));
    CHECK(decode(copy, enc->len, &out, &err) == 0);
    clear(&out);
    free(copy);
}

static void clear_meta(void *p) { vx_meta_clear(p); }
static void clear_video(void *p) { vx_video_clear(p); }
static void clear_segment(void *p) { vx_segment_clear(p); }
static void clear_embedding(void *p) { vx_embedding_clear(p); }
static void clear_user(void *p) { vx_user_clear(p); }
static void clear_event(void *p) { (void)p; }
static void clear_job(void *p) { vx_job_clear(p); }
static int dec_meta(const void *d, size_t n, void *o, vx_error *e) { return vx_meta_decode(d, n, o, e); }
static int dec_video(const void *d, size_t n, void *o, vx_error *e) { return vx_video_decode(d, n, o, e); }
static int dec_segment(const void *d, size_t n, void *o, vx_error *e) { return vx_segment_decode(d, n, o, e); }
static int dec_embedding(const void *d, size_t n, void *o, vx_error *e) { return vx_embedding_decode(d, n, o, e); }
static int dec_user(const void *d, size_t n, void *o, vx_error *e) { return vx_user_decode(d, n, o, e); }
static int dec_event(const void *d, size_t n, void *o, vx_error *e) { return vx_event_decode(d, n, o, e); }
static int dec_job(const void *d, size_t n, void *o, vx_error *e) { return vx_job_decode(d, n, o, e); }

static void test_codecs_reject_damage(void) {
    vx_buf b = {0};
    vx_meta m = {.schema_version = 1, .model_fingerprint = 7, .embed_dim = 512, .index_generation = 9,
                 .created_at = 5, .model = "/models/clip"};
    vx_meta_encode(&b, &m);
    check_rejects_damage("meta", &b, dec_meta, clear_meta);
    vx_buf_reset(&b);
    vx_video v = sample_video(42, "/videos/a.mp4");
    vx_video_encode(&b, &v);
    check_rejects_damage("video", &b, dec_video, clear_video);
    vx_buf_reset(&b);
    vx_segment s = {.start = 1, .end = 5, .n_frames = 4, .dim = 8, .embedding = sample_vec};
    vx_segment_encode(&b, &s);
    check_rejects_damage("segment", &b, dec_segment, clear_segment);
    vx_buf_reset(&b);
    vx_embedding e = {.dim = 8, .v = sample_vec};
    vx_embedding_encode(&b, &e);
    check_rejects_damage("embedding", &b, dec_embedding, clear_embedding);
    vx_buf_reset(&b);
    vx_user u = {.name = "alice", .created_at = 3, .n_events = 2, .last_event_ms = 99, .dim = 8, .profile = sample_vec};
    vx_user_encode(&b, &u);
    check_rejects_damage("user", &b, dec_user, clear_user);
    vx_buf_reset(&b);
    vx_event ev = {.video_id = 42, .type = VX_EVENT_LIKE, .seconds = 3.5f, .ts_ms = 1700000000000LL};
    vx_event_encode(&b, &ev);
    check_rejects_damage("event", &b, dec_event, clear_event);
    vx_buf_reset(&b);
    vx_job_item items[2] = {{"/a.mp4", VX_ITEM_INDEXED, ""}, {"/b.mp4", VX_ITEM_FAILED, "no video stream"}};
    vx_job j = {.id = 77, .state = VX_JOB_DONE, .created_at = 1, .started_at = 2, .finished_at = 3, .n_items = 2, .items = items};
    vx_job_encode(&b, &j);
    check_rejects_damage("job", &b, dec_job, clear_job);
    vx_buf_reset(&b);
    j.settings = (vx_job_settings){.rate = 2, .max_frames = 30, .timeout_s = 60, .segment_seconds = 2.5};
    vx_job_encode(&b, &j);
    check_rejects_damage("job with settings", &b, dec_job, clear_job);
    vx_buf_free(&b);
}

/* A job's settings travel with it; a job without any keeps the version 1 layout. */
static void test_job_settings(void) {
    vx_buf b = {0};
    vx_error err;
    vx_job_item items[1] = {{"/a.mp4", VX_ITEM_PENDING, ""}};
    vx_job j = {.id = 5, .state = VX_JOB_QUEUED, .created_at = 1, .n_items = 1, .items = items}, out;
    vx_job_encode(&b, &j);
    CHECK(b.data[0] == VX_RECORD_V1);
    CHECK(vx_job_decode(b.data, b.len, &out, &err) == 0 && out.settings.rate == 0 && out.settings.max_frames == 0);
    vx_job_clear(&out);
    vx_buf_reset(&b);
    j.settings = (vx_job_settings){.rate = 0.5, .max_frames = 7, .segment_seconds = 2};
    vx_job_encode(&b, &j);
    CHECK(b.data[0] == VX_RECORD_V2);
    CHECK(vx_job_decode(b.data, b.len, &out, &err) == 0 && out.settings.rate == 0.5 && out.settings.max_frames == 7 &&
          out.settings.timeout_s == 0 && out.settings.segment_seconds == 2 && out.n_items == 1);
    vx_job_clear(&out);
    /* Out of range, and version 2 with nothing set (not the one encoding of such a job). */
    vx_job_settings bad[] = {{.rate = 100}, {.rate = NAN}, {.max_frames = 100001}, {.timeout_s = 0.5},
                             {.segment_seconds = 0.1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(vx_job_settings_problem(&bad[i]) != NULL);
        vx_buf_reset(&b);
        j.settings = bad[i];
        vx_job_encode(&b, &j);
        CHECK(vx_job_decode(b.data, b.len, &out, &err) == -1 && strstr(err.msg, "must be"));
    }
    vx_buf_reset(&b);
    j.settings = (vx_job_settings){0};
    vx_job_encode(&b, &j);
    vx_buf v2 = {0};
    vx_put_u8(&v2, VX_RECORD_V2);
    vx_put_bytes(&v2, b.data + 1, 33); /* id, state, three times */
    for (int i = 0; i < 3; i++) vx_put_u64le(&v2, 0);
    vx_put_u32le(&v2, 0);
    vx_put_bytes(&v2, b.data + 34, b.len - 34);
    CHECK(vx_job_decode(v2.data, v2.len, &out, &err) == -1 && strstr(err.msg, "without settings"));
    vx_buf_free(&v2);
    vx_buf_free(&b);
}

/* Video records written before renditions (version 1) still read, as "not decided";
 * rendition records round-trip and refuse nonsense. */
static void test_old_videos_and_renditions(void) {
    vx_buf b = {0};
    vx_error err;
    vx_video v = sample_video(42, "/videos/a.mp4"), out;
    v.playback = VX_PLAYBACK_UNDECIDED;
    v.playback_note = "";
    vx_video_encode(&b, &v);
    CHECK(b.data[0] == VX_RECORD_V1);
    REQUIRE(vx_video_decode(b.data, b.len, &out, &err) == 0);
    CHECK(out.playback == 0 && strcmp(out.playback_note, "") == 0 && strcmp(out.path, "/videos/a.mp4") == 0);
    vx_video_clear(&out);
    vx_buf_reset(&b);
    v.playback = 7;
    vx_video_encode(&b, &v);
    CHECK(vx_video_decode(b.data, b.len, &out, &err) == -1 && strstr(err.msg, "playback"));
    b.data[b.len - 2] = 0; /* version 2 must say how it plays */
    CHECK(vx_video_decode(b.data, b.len, &out, &err) == -1 && strstr(err.msg, "without playback"));

    /* Version 3 says at which precision the embeddings were made; 2 and 1 read as 0. */
    vx_buf_reset(&b);
    v = sample_video(43, "/videos/b.mp4");
    v.precision = VX_EMBEDDED_BF16;
    vx_video_encode(&b, &v);
    CHECK(b.data[0] == VX_RECORD_V3);
    REQUIRE(vx_video_decode(b.data, b.len, &out, &err) == 0);
    check_video_equal(&v, &out);
    vx_video_clear(&out);
    b.data[b.len - 1] = 9;
    CHECK(vx_video_decode(b.data, b.len, &out, &err) == -1 && strstr(err.msg, "precision"));
    vx_buf_reset(&b);
    v.precision = VX_EMBEDDED_UNKNOWN;
    vx_video_encode(&b, &v);
    CHECK(b.data[0] == VX_RECORD_V2);
    REQUIRE(vx_video_decode(b.data, b.len, &out, &err) == 0);
    CHECK(out.precision == VX_EMBEDDED_UNKNOWN);
    vx_video_clear(&out);

    vx_rendition r = {.content_hash = 0xabc, .state = VX_RENDITION_READY, .bytes = 1234, .width = 640, .height = 360,
                      .duration = 12.5, .work_seconds = 3.25, .made_at = 1700000000, .failure = "the mp3 audio: left out"},
                 ro;
    vx_buf_reset(&b);
    vx_rendition_encode(&b, &r);
    REQUIRE(vx_rendition_decode(b.data, b.len, &ro, &err) == 0);
    CHECK(ro.content_hash == 0xabc && ro.state == VX_RENDITION_READY && ro.bytes == 1234 && ro.width == 640 &&
          ro.height == 360 && ro.duration == 12.5 && ro.work_seconds == 3.25 && ro.made_at == 1700000000 &&
          strcmp(ro.failure, r.failure) == 0);
    vx_rendition_clear(&ro);
    for (size_t cut = 1; cut < b.len; cut++) CHECK(vx_rendition_decode(b.data, cut, &ro, &err) == -1);
    r.width = 0;
    vx_buf_reset(&b);
    vx_rendition_encode(&b, &r);
    CHECK(vx_rendition_decode(b.data, b.len, &ro, &err) == -1 && strstr(err.msg, "size"));
    r.state = 9;
    vx_buf_reset(&b);
    vx_rendition_encode(&b, &r);
    CHECK(vx_rendition_decode(b.data, b.len, &ro, &err) == -1 && strstr(err.msg, "state"));
    vx_buf_free(&b);
}

/* Fields that encode fine but make no sense are rejected too. */
static void test_codecs_reject_bad_values(void) {
    vx_buf b = {0};
    vx_error err;
    vx_video v = sample_video(42, "/videos/a.mp4"), out;
    v.duration = -1;
    vx_video_encode(&b, &v);
    CHECK(vx_video_decode(b.data, b.len, &out, &err) == -1 && strstr(err.msg, "duration"));
    vx_buf_reset(&b);
    v = sample_video(42, "/videos/a.mp4");
    v.status = 9;
    vx_video_encode(&b, &v);
    CHECK(vx_video_decode(b.data, b.len, &out, &err) == -1 && strstr(err.msg, "status"));
    vx_buf_reset(&b);
    float nan_vec[2] = {NAN, 1};
    vx_embedding e = {.dim = 2, .v = nan_vec}, eo;
    vx_embedding_encode(&b, &e);
    CHECK(vx_embedding_decode(b.data, b.len, &eo, &err) == -1 && strstr(err.msg, "non-finite"));
    vx_buf_reset(&b);
    /* A dimension that claims more floats than the record holds must not allocate. */
    vx_put_u8(&b, VX_RECORD_V1);
    vx_put_varint(&b, 4000);
    vx_put_f32le(&b, 1.0f);
    CHECK(vx_embedding_decode(b.data, b.len, &eo, &err) == -1);
    vx_buf_reset(&b);
    vx_put_u8(&b, VX_RECORD_V1);
    vx_put_varint(&b, UINT64_MAX);
    CHECK(vx_embedding_decode(b.data, b.len, &eo, &err) == -1 && strstr(err.msg, "out of range"));
    vx_buf_reset(&b);
    vx_user u = {.name = "bad name!", .created_at = 1};
    vx_user_encode(&b, &u);
    vx_user uo;
    CHECK(vx_user_decode(b.data, b.len, &uo, &err) == -1 && strstr(err.msg, "user name"));
    vx_buf_reset(&b);
    vx_event ev = {.video_id = 1, .type = 0, .seconds = 1, .ts_ms = 1}, evo;
    vx_event_encode(&b, &ev);
    CHECK(vx_event_decode(b.data, b.len, &evo, &err) == -1 && strstr(err.msg, "event type"));
    vx_buf_reset(&b);
    /* A job claiming a million items in a few bytes. */
    vx_put_u8(&b, VX_RECORD_V1);
    vx_put_u64le(&b, 1);
    vx_put_u8(&b, VX_JOB_DONE);
    vx_put_u64le(&b, 0); vx_put_u64le(&b, 0); vx_put_u64le(&b, 0);
    vx_put_varint(&b, 1000000);
    vx_job jo;
    CHECK(vx_job_decode(b.data, b.len, &jo, &err) == -1 && strstr(err.msg, "item count"));
    vx_buf_free(&b);
}

static void test_varints(void) {
    uint64_t values[] = {0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, (uint64_t)1 << 63, UINT64_MAX};
    vx_buf b = {0};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) vx_put_varint(&b, values[i]);
    vx_cursor c = vx_cursor_make(b.data, b.len);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) CHECK(vx_get_varint(&c) == values[i]);
    CHECK(vx_cursor_done(&c));
    /* Eleven continuation bytes: overlong, rejected. */
    uint8_t overlong[11];
    memset(overlong, 0xff, sizeof overlong);
    c = vx_cursor_make(overlong, sizeof overlong);
    vx_get_varint(&c);
    CHECK(c.bad);
    vx_buf_free(&b);
}

static void test_ids(void) {
    char hex[VX_ID_HEX_LEN];
    uint64_t id = vx_video_id_for_path("/videos/a.mp4"), back;
    CHECK(id != 0);
    CHECK(id == vx_video_id_for_path("/videos/a.mp4"));
    CHECK(id != vx_video_id_for_path("/videos/b.mp4"));
    vx_id_to_hex(id, hex);
    CHECK(strlen(hex) == 16);
    CHECK(vx_id_from_hex(hex, &back) == 0 && back == id);
    CHECK(vx_id_from_hex("9f2c04a1b3d4e5f", &back) == -1);
    CHECK(vx_id_from_hex("9f2c04a1b3d4e5f6x", &back) == -1);
    CHECK(vx_id_from_hex("9g2c04a1b3d4e5f6", &back) == -1);
}

/* ---- the catalog --------------------------------------------------------------------- */

static void test_round_trips(void) {
    char *dir;
    vx_catalog *cat = open_fresh(&dir);
    REQUIRE(cat);
    vx_error err = {{0}};
    vx_batch *b = vx_batch_new();

    vx_meta meta = {.schema_version = VX_SCHEMA_VERSION, .model_fingerprint = 0xfeed, .embed_dim = 8,
                    .index_generation = 4, .created_at = 1700000000, .model = "/models/clip-vit-base-patch32"};
    vx_video v = sample_video(0x9f2c04a1b3d4e5f6ULL, "/videos/clip one.mp4");
    vx_segment segs[3];
    for (uint32_t i = 0; i < 3; i++)
        segs[i] = (vx_segment){.start = 4.0 * i, .end = 4.0 * i + 4, .n_frames = 4, .dim = 8, .embedding = sample_vec};
    vx_embedding emb = {.dim = 8, .v = sample_vec};
    vx_user user = {.name = "alice", .created_at = 1700000000, .n_events = 1, .last_event_ms = 1700000000500LL,
                    .dim = 8, .profile = sample_vec};
    vx_event ev = {.video_id = v.id, .type = VX_EVENT_VIEW, .seconds = 7.25f, .ts_ms = 1700000000500LL};
    vx_job_item items[2] = {{"/videos/clip one.mp4", VX_ITEM_INDEXED, ""}, {"/videos/bad.mp4", VX_ITEM_FAILED, "no video stream"}};
    vx_job job = {.id = 5, .state = VX_JOB_DONE, .created_at = 10, .started_at = 11, .finished_at = 12, .n_items = 2, .items = items};

    vx_batch_put_meta(b, &meta);
    vx_batch_put_video(b, &v);
    for (uint32_t i = 0; i < 3; i++) vx_batch_put_segment(b, v.id, i, &segs[i]);
    vx_batch_put_embedding(b, v.id, &emb);
    vx_batch_put_user(b, &user);
    vx_batch_put_event(b, "alice", 0, &ev);
    vx_batch_put_job(b, &job);
    CHECK(vx_catalog_write(cat, b, &err) == 0);
    vx_batch_free(b);

    /* Close and reopen: everything must come back from disk. */
    vx_catalog_close(cat);
    cat = vx_catalog_open(dir, 0, &err);
    REQUIRE(cat);

    vx_meta m2;
    REQUIRE(vx_catalog_get_meta(cat, &m2, &err) == 0);
    CHECK(m2.schema_version == VX_SCHEMA_VERSION && m2.model_fingerprint == 0xfeed && m2.embed_dim == 8);
    CHECK(m2.index_generation == 4 && m2.created_at == 1700000000 && strcmp(m2.model, meta.model) == 0);
    vx_meta_clear(&m2);

    vx_video v2;
    REQUIRE(vx_catalog_get_video(cat, v.id, &v2, &err) == 0);
    check_video_equal(&v, &v2);
    vx_video_clear(&v2);
    CHECK(vx_catalog_get_video(cat, v.id + 1, &v2, &err) == 1);

    uint64_t found = 0;
    CHECK(vx_catalog_find_path(cat, "/videos/clip one.mp4", &found, &err) == 0 && found == v.id);
    CHECK(vx_catalog_find_path(cat, "/videos/other.mp4", &found, &err) == 1);

    for (uint32_t i = 0; i < 3; i++) {
        vx_segment s2;
        REQUIRE(vx_catalog_get_segment(cat, v.id, i, &s2, &err) == 0);
        CHECK(s2.start == segs[i].start && s2.end == segs[i].end && s2.n_frames == 4 && s2.dim == 8);
        CHECK(memcmp(s2.embedding, sample_vec, sizeof sample_vec) == 0);
        vx_segment_clear(&s2);
    }
    vx_embedding e2;
    REQUIRE(vx_catalog_get_embedding(cat, v.id, &e2, &err) == 0);
    CHECK(e2.dim == 8 && memcmp(e2.v, sample_vec, sizeof sample_vec) == 0);
    vx_embedding_clear(&e2);

    vx_user u2;
    REQUIRE(vx_catalog_get_user(cat, "alice", &u2, &err) == 0);
    CHECK(strcmp(u2.name, "alice") == 0 && u2.n_events == 1 && u2.last_event_ms == user.last_event_ms && u2.dim == 8);
    CHECK(memcmp(u2.profile, sample_vec, sizeof sample_vec) == 0);
    vx_user_clear(&u2);
    CHECK(vx_catalog_get_user(cat, "bob", &u2, &err) == 1);
    CHECK(vx_catalog_get_user(cat, "../etc", &u2, &err) == -1);

    vx_job j2;
    REQUIRE(vx_catalog_get_job(cat, 5, &j2, &err) == 0);
    CHECK(j2.state == VX_JOB_DONE && j2.n_items == 2 && strcmp(j2.items[1].message, "no video stream") == 0);
    CHECK(strcmp(j2.items[0].path, "/videos/clip one.mp4") == 0 && j2.items[0].outcome == VX_ITEM_INDEXED);
    vx_job_clear(&j2);

    /* Deleting the video takes its path, content entry, segments and embedding with it. */
    b = vx_batch_new();
    vx_batch_delete_video(b, &v);
    CHECK(vx_catalog_write(cat, b, &err) == 0);
    vx_batch_free(b);
    CHECK(vx_catalog_get_video(cat, v.id, &v2, &err) == 1);
    CHECK(vx_catalog_find_path(cat, v.path, &found, &err) == 1);
    uint64_t n = 99;
    CHECK(vx_catalog_count(cat, VX_KEY_SEGMENT, &n, &err) == 0 && n == 0);
    CHECK(vx_catalog_count(cat, VX_KEY_CONTENT, &n, &err) == 0 && n == 0);
    CHECK(vx_catalog_get_embedding(cat, v.id, &e2, &err) == 1);

    vx_catalog_close(cat);
    test_rmtree(dir);
    free(dir);
}

struct collected {
    uint64_t ids[64];
    int n;
};

static int collect_video(void *ctx, const vx_video *v) {
    struct collected *c = ctx;
    if (c->n < 64) c->ids[c->n++] = v->id;
    return 0;
}

static void test_corrupt_records_are_reported_not_fatal(void) {
    char *dir;
    vx_catalog *cat = open_fresh(&dir);
    REQUIRE(cat);
    vx_error err = {{0}};
    vx_batch *b = vx_batch_new();
    vx_video good1 = sample_video(100, "/v/1.mp4"), good2 = sample_video(300, "/v/3.mp4");
    vx_batch_put_video(b, &good1);
    vx_batch_put_video(b, &good2);
    /* Garbage, a truncated record and a future version under video keys. */
    uint8_t key[VX_KEY_ID_LEN];
    vx_key_id(key, VX_KEY_VIDEO, 200);
    vx_batch_put_raw(b, key, sizeof key, "\x01garbage", 8);
    vx_buf enc = {0};
    vx_video mid = sample_video(250, "/v/2.mp4");
    vx_video_encode(&enc, &mid);
    vx_key_id(key, VX_KEY_VIDEO, 250);
    vx_batch_put_raw(b, key, sizeof key, enc.data, enc.len - 3);
    enc.data[0] = VX_RECORD_V5 + 1;
    vx_key_id(key, VX_KEY_VIDEO, 260);
    vx_batch_put_raw(b, key, sizeof key, enc.data, enc.len);
    /* A record copied under the wrong key. */
    enc.data[0] = VX_RECORD_V2;
    vx_key_id(key, VX_KEY_VIDEO, 270);
    vx_batch_put_raw(b, key, sizeof key, enc.data, enc.len);
    CHECK(vx_catalog_write(cat, b, &err) == 0);
    vx_batch_free(b);
    vx_buf_free(&enc);

    vx_video v;
    CHECK(vx_catalog_get_video(cat, 200, &v, &err) == -1);
    CHECK_MSG(strstr(err.msg, "video 00000000000000c8") != NULL, "message: %s", err.msg);
    CHECK(vx_catalog_get_video(cat, 250, &v, &err) == -1 && strstr(err.msg, "corrupt"));
    CHECK(vx_catalog_get_video(cat, 260, &v, &err) == -1 && strstr(err.msg, "unknown version 6"));
    CHECK(vx_catalog_get_video(cat, 270, &v, &err) == -1 && strstr(err.msg, "another video"));
    CHECK(vx_catalog_get_video(cat, 100, &v, &err) == 0);
    vx_video_clear(&v);

    struct collected c = {.n = 0};
    vx_scan_stats stats = {0};
    vx_log_level saved = vx_log_threshold;
    vx_log_threshold = VX_LOG_ERROR; /* the warnings are expected here */
    CHECK(vx_catalog_scan_videos(cat, collect_video, &c, &stats, &err) == 0);
    vx_log_threshold = saved;
    CHECK(stats.ok == 2 && stats.corrupt == 4);
    CHECK(c.n == 2 && c.ids[0] == 100 && c.ids[1] == 300);

    /* A corrupt meta record makes open fail with a message, not a crash. */
    b = vx_batch_new();
    uint8_t mkey = VX_KEY_META;
    vx_batch_put_raw(b, &mkey, 1, "\x01\x02", 2);
    CHECK(vx_catalog_write(cat, b, &err) == 0);
    vx_batch_free(b);
    vx_catalog_close(cat);
    CHECK(vx_catalog_open(dir, 0, &err) == NULL && strstr(err.msg, "corrupt record at meta"));
    test_rmtree(dir);
    free(dir);
}

static void test_second_writer_refused(void) {
    char *dir;
    vx_catalog *cat = open_fresh(&dir);
    REQUIRE(cat);
    int pipefd[2];
    REQUIRE(pipe(pipefd) == 0);
    pid_t child = fork();
    if (child == 0) {
        vx_error err = {{0}};
        vx_catalog *other = vx_catalog_open(dir, 1, &err);
        ssize_t w = write(pipefd[1], err.msg, strlen(err.msg));
        (void)w;
        _exit(other ? 1 : 0);
    }
    close(pipefd[1]);
    char msg[VX_ERROR_MAX + 1] = {0};
    ssize_t n = read(pipefd[0], msg, VX_ERROR_MAX);
    (void)n;
    close(pipefd[0]);
    int status;
    waitpid(child, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "second open succeeded");
    char pid[32];
    snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
    CHECK_MSG(strstr(msg, "in use by another vidx process") && strstr(msg, pid), "message: %s", msg);

    /* Once the first closes, another process may open it. */
    vx_catalog_close(cat);
    child = fork();
    if (child == 0) {
        vx_error err;
        vx_catalog *other = vx_catalog_open(dir, 0, &err);
        vx_catalog_close(other);
        _exit(other ? 0 : 1);
    }
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    vx_error err;
    char *missing = test_tmpdir("missing");
    CHECK(vx_catalog_open(missing, 0, &err) == NULL && strstr(err.msg, "no vidx database"));
    test_rmtree(missing);
    free(missing);
    test_rmtree(dir);
    free(dir);
}

struct seg_order {
    uint64_t last_video;
    int64_t last_index;
    int ok, n;
};

static int check_seg_order(void *ctx, uint64_t video_id, uint32_t index, const vx_segment *s) {
    (void)s;
    struct seg_order *o = ctx;
    if (video_id < o->last_video || (video_id == o->last_video && (int64_t)index <= o->last_index)) o->ok = 0;
    o->last_video = video_id;
    o->last_index = index;
    o->n++;
    return 0;
}

struct ev_order {
    int64_t last_ts;
    char last_user[VX_MAX_USER + 1];
    int ok, n;
};

static int check_ev_order(void *ctx, const char *user, uint32_t seq, const vx_event *e) {
    (void)seq;
    struct ev_order *o = ctx;
    if (strcmp(user, o->last_user) == 0 && e->ts_ms < o->last_ts) o->ok = 0;
    snprintf(o->last_user, sizeof o->last_user, "%s", user);
    o->last_ts = e->ts_ms;
    o->n++;
    return 0;
}

static int stop_after_two(void *ctx, const vx_video *v) {
    (void)v;
    return ++*(int *)ctx >= 2;
}

static void test_iteration_order(void) {
    char *dir;
    vx_catalog *cat = open_fresh(&dir);
    REQUIRE(cat);
    vx_error err;
    vx_batch *b = vx_batch_new();
    /* Ids whose little-endian bytes would sort differently from their values. */
    uint64_t ids[] = {0x0100000000000000ULL, 0x00000000000000ffULL, 0x0000000000000100ULL, 0xff00000000000001ULL, 7};
    char path[64];
    for (size_t i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "/v/%zu.mp4", i);
        vx_video v = sample_video(ids[i], path);
        vx_batch_put_video(b, &v);
        /* Segment indexes 0..11: 2 must come before 10. */
        for (uint32_t s = 0; s < 12; s++) {
            vx_segment seg = {.start = s, .end = s + 1, .n_frames = 1, .dim = 8, .embedding = sample_vec};
            vx_batch_put_segment(b, ids[i], s, &seg);
        }
    }
    /* Events written out of time order, for two users whose names are prefixes. */
    int64_t times[] = {5000, 1000, 300000000000LL, 2000, 256};
    for (uint32_t i = 0; i < 5; i++) {
        vx_event ev = {.video_id = 7, .type = VX_EVENT_VIEW, .seconds = 1, .ts_ms = times[i]};
        vx_batch_put_event(b, "al", i, &ev);
        vx_batch_put_event(b, "alice", i, &ev);
    }
    CHECK(vx_catalog_write(cat, b, &err) == 0);
    vx_batch_free(b);

    struct collected c = {.n = 0};
    CHECK(vx_catalog_scan_videos(cat, collect_video, &c, NULL, &err) == 0);
    CHECK(c.n == 5);
    for (int i = 1; i < c.n; i++) CHECK(c.ids[i - 1] < c.ids[i]);

    struct seg_order so = {.last_video = 0, .last_index = -1, .ok = 1};
    CHECK(vx_catalog_scan_segments(cat, 0, check_seg_order, &so, NULL, &err) == 0);
    CHECK(so.ok && so.n == 60);
    so = (struct seg_order){.last_video = 0, .last_index = -1, .ok = 1};
    CHECK(vx_catalog_scan_segments(cat, 7, check_seg_order, &so, NULL, &err) == 0);
    CHECK(so.ok && so.n == 12);

    struct ev_order eo = {.ok = 1};
    CHECK(vx_catalog_scan_events(cat, "al", check_ev_order, &eo, NULL, &err) == 0);
    CHECK(eo.ok && eo.n == 5); /* "al" must not see "alice"'s events */
    eo = (struct ev_order){.ok = 1};
    CHECK(vx_catalog_scan_events(cat, NULL, check_ev_order, &eo, NULL, &err) == 0);
    CHECK(eo.ok && eo.n == 10);

    int seen = 0;
    CHECK(vx_catalog_scan_videos(cat, stop_after_two, &seen, NULL, &err) == 0);
    CHECK(seen == 2);
    vx_catalog_close(cat);
    test_rmtree(dir);
    free(dir);
}

/* ---- atomicity under kill -9 --------------------------------------------------------- */

#define SEGS_PER_VIDEO 40

/* Writes videos forever after those already there, each with its segments and
 * embedding in one batch, and a byte to `progress` after each write. */
static void writer_forever(const char *dir, int progress) {
    vx_error err;
    vx_catalog *cat = vx_catalog_open(dir, 1, &err);
    uint64_t have = 0;
    if (!cat || vx_catalog_count(cat, VX_KEY_VIDEO, &have, &err)) _exit(3);
    vx_batch *b = vx_batch_new();
    if (!b) _exit(3);
    float vec[64];
    for (int i = 0; i < 64; i++) vec[i] = (float)i / 64;
    char path[64];
    for (uint64_t id = have + 1;; id++) {
        vx_batch_clear(b);
        snprintf(path, sizeof path, "/v/%llu.mp4", (unsigned long long)id);
        vx_video v = sample_video(id, path);
        v.n_segments = SEGS_PER_VIDEO;
        vx_batch_put_video(b, &v);
        for (uint32_t s = 0; s < SEGS_PER_VIDEO; s++) {
            vx_segment seg = {.start = s, .end = s + 1, .n_frames = 1, .dim = 64, .embedding = vec};
            vx_batch_put_segment(b, id, s, &seg);
        }
        vx_embedding e = {.dim = 64, .v = vec};
        vx_batch_put_embedding(b, id, &e);
        if (vx_catalog_write(cat, b, &err)) _exit(4);
        if (write(progress, "w", 1) != 1) _exit(5);
    }
}

struct consistency {
    vx_catalog *cat;
    uint64_t videos;
    int ok;
};

static int check_video_complete(void *ctx, const vx_video *v) {
    struct consistency *c = ctx;
    vx_error err;
    uint32_t n = 0;
    for (uint32_t s = 0; s < v->n_segments + 1; s++) {
        vx_segment seg;
        int r = vx_catalog_get_segment(c->cat, v->id, s, &seg, &err);
        if (r == 0) { n++; vx_segment_clear(&seg); }
        else if (r < 0) c->ok = 0;
    }
    vx_embedding e;
    if (vx_catalog_get_embedding(c->cat, v->id, &e, &err) != 0) c->ok = 0;
    else vx_embedding_clear(&e);
    if (n != v->n_segments) c->ok = 0;
    c->videos++;
    return 0;
}

static void test_batch_atomic_under_kill(void) {
    char *dir = test_tmpdir("kill");
    unsigned seed = 20261201; /* fixed: a failure can be rerun as it was */
    uint64_t last_videos = 0;
    for (int round = 0; round < 6; round++) {
        int pipefd[2];
        REQUIRE(pipe(pipefd) == 0);
        pid_t child = fork();
        if (child == 0) {
            close(pipefd[0]);
            writer_forever(dir, pipefd[1]);
        }
        close(pipefd[1]);
        /* Once the writer has written (so every round tests something), kill it at a
         * moment from 0 to 50 ms later, most likely in the middle of another batch. */
        char byte;
        CHECK_MSG(read(pipefd[0], &byte, 1) == 1, "the writer wrote nothing in round %d", round);
        struct timespec ts = {0, (long)(rand_r(&seed) % 50) * 1000000L};
        nanosleep(&ts, NULL);
        kill(child, SIGKILL);
        close(pipefd[0]);
        int status;
        waitpid(child, &status, 0);
        CHECK(WIFSIGNALED(status));

        vx_error err = {{0}};
        vx_catalog *cat = vx_catalog_open(dir, 0, &err);
        CHECK_MSG(cat != NULL, "reopen after kill: %s", err.msg);
        if (!cat) break;
        struct consistency c = {.cat = cat, .ok = 1};
        vx_scan_stats stats = {0};
        CHECK(vx_catalog_scan_videos(cat, check_video_complete, &c, &stats, &err) == 0);
        CHECK(stats.corrupt == 0);
        uint64_t segments = 0, embeddings = 0;
        vx_catalog_count(cat, VX_KEY_SEGMENT, &segments, &err);
        vx_catalog_count(cat, VX_KEY_EMBEDDING, &embeddings, &err);
        CHECK_MSG(c.ok, "a video is only partly written after kill -9 in round %d", round);
        CHECK(segments == c.videos * SEGS_PER_VIDEO && embeddings == c.videos);
        /* Synced writes survive, and this round added some. */
        CHECK_MSG(c.videos > last_videos, "round %d: %llu videos after %llu", round, (unsigned long long)c.videos,
                  (unsigned long long)last_videos);
        last_videos = c.videos;
        vx_catalog_close(cat);
    }
    fprintf(stderr, "  (%llu videos written across kills)\n", (unsigned long long)last_videos);
    test_rmtree(dir);
    free(dir);
}

static void count_problem(void *ctx, const char *problem) {
    (void)problem;
    (*(int *)ctx)++;
}

/* vidx info --check finds what a torn write would leave. */
/* Linked with --wrap=realloc: growing a block to more than this many bytes fails. */
static size_t realloc_limit = SIZE_MAX;
void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n) { return n > realloc_limit ? NULL : __real_realloc(p, n); }

static void test_consistency_check(void) {
    char *dir;
    vx_catalog *cat = open_fresh(&dir);
    REQUIRE(cat);
    vx_error err;
    uint64_t problems = 99;
    int reported = 0;
    vx_batch *b = vx_batch_new();
    vx_meta meta = {.schema_version = VX_SCHEMA_VERSION, .embed_dim = 8, .model = ""};
    vx_batch_put_meta(b, &meta);
    vx_video v = sample_video(10, "/v/ok.mp4");
    v.n_segments = 2;
    vx_batch_put_video(b, &v);
    vx_segment s = {.start = 0, .end = 1, .n_frames = 1, .dim = 8, .embedding = sample_vec};
    vx_batch_put_segment(b, 10, 0, &s);
    vx_batch_put_segment(b, 10, 1, &s);
    vx_embedding e = {.dim = 8, .v = sample_vec};
    vx_batch_put_embedding(b, 10, &e);
    CHECK(vx_catalog_write(cat, b, &err) == 0);
    CHECK(vx_catalog_check(cat, count_problem, &reported, &problems, &err) == 0 && problems == 0 && reported == 0);
    /* A missing segment, an orphan segment, a failed video with an embedding. */
    vx_batch_clear(b);
    vx_batch_delete_segments(b, 10, 1, 2);
    vx_batch_put_segment(b, 11, 0, &s);
    vx_video f = sample_video(12, "/v/bad.mp4");
    f.status = VX_VIDEO_FAILED;
    f.n_segments = 0;
    vx_batch_put_video(b, &f);
    vx_batch_put_embedding(b, 12, &e);
    CHECK(vx_catalog_write(cat, b, &err) == 0);
    CHECK(vx_catalog_check(cat, count_problem, &reported, &problems, &err) == 0);
    CHECK_MSG(problems == 3 && reported == 3, "%llu problems", (unsigned long long)problems);
    /* Out of memory while checking: an error that says so, never "no problems". */
    realloc_limit = 1024;
    int r = vx_catalog_check(cat, count_problem, &reported, &problems, &err);
    realloc_limit = SIZE_MAX;
    CHECK_MSG(r == -1 && strstr(err.msg, "out of memory") && strstr(err.msg, "did not finish"), "%d: %s", r, err.msg);
    vx_batch_free(b);
    vx_catalog_close(cat);
    test_rmtree(dir);
    free(dir);
}


/* Videos indexed without the model: records, ops and the check's invariants. */
static void test_pending_videos(void) {
    vx_buf b = {0};
    vx_error err;
    vx_video v = sample_video(20, "/v/waiting.mp4"), out;
    v.n_segments = 0;
    v.precision = VX_EMBEDDED_PENDING;
    vx_video_encode(&b, &v);
    CHECK(vx_video_decode(b.data, b.len, &out, &err) == 0);
    check_video_equal(&v, &out);
    CHECK(vx_video_pending(&out));
    vx_video_clear(&out);
    /* Waiting for the model with segments, as a copy, or failed: not a record vidx writes. */
    static const struct { uint32_t segments; uint64_t dup; uint8_t status; } bad[] = {
        {2, 0, VX_VIDEO_INDEXED}, {0, 7, VX_VIDEO_INDEXED}, {0, 0, VX_VIDEO_FAILED}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vx_video w = v;
        w.n_segments = bad[i].segments;
        w.duplicate_of = bad[i].dup;
        w.status = bad[i].status;
        vx_buf_reset(&b);
        vx_video_encode(&b, &w);
        CHECK_MSG(vx_video_decode(b.data, b.len, &out, &err) == -1 && strstr(err.msg, "waiting for the model"), "case %zu",
                  i);
    }
    /* An op of such a video carries its frame hashes and no vectors. */
    vx_frame_print fr[2] = {{.t = 0, .phash = 0x1234}, {.t = 1, .phash = 0x5678}};
    vx_op op = {.kind = VX_OP_VIDEO, .video = v, .frames = {.id = 20, .n = 2, .frames = fr}}, dec;
    CHECK(!vx_op_has_vectors(&op) && vx_op_has_frames(&op));
    vx_buf_reset(&b);
    vx_op_encode(&b, &op);
    CHECK(vx_op_decode(b.data, b.len, &dec, &err) == 0);
    CHECK(dec.frames.id == 20 && dec.frames.n == 2 && dec.frames.frames[1].phash == 0x5678 && dec.embedding.dim == 0 &&
          !dec.segments && vx_video_pending(&dec.video));
    vx_op_clear(&dec);
    /* A model change round trips like the model op. */
    vx_op mc = {.kind = VX_OP_MODEL_CHANGE, .model = "/models/new", .model_fingerprint = 99, .embed_dim = 768};
    vx_buf_reset(&b);
    vx_op_encode(&b, &mc);
    CHECK(vx_op_decode(b.data, b.len, &dec, &err) == 0 && dec.kind == VX_OP_MODEL_CHANGE && dec.model_fingerprint == 99 &&
          dec.embed_dim == 768 && strcmp(dec.model, "/models/new") == 0);
    vx_op_clear(&dec);
    vx_buf_free(&b);

    /* The check: a waiting video has neither segments nor an embedding. */
    char *dir;
    vx_catalog *cat = open_fresh(&dir);
    REQUIRE(cat);
    vx_batch *batch = vx_batch_new();
    vx_meta meta = {.schema_version = VX_SCHEMA_VERSION, .embed_dim = 8, .model = ""};
    vx_batch_put_meta(batch, &meta);
    vx_batch_put_video(batch, &v);
    CHECK(vx_catalog_write(cat, batch, &err) == 0);
    uint64_t problems = 99;
    int reported = 0;
    CHECK(vx_catalog_check(cat, count_problem, &reported, &problems, &err) == 0 && problems == 0);
    vx_batch_clear(batch);
    vx_segment seg = {.start = 0, .end = 1, .n_frames = 1, .dim = 8, .embedding = sample_vec};
    vx_embedding e = {.dim = 8, .v = sample_vec};
    vx_batch_put_segment(batch, 20, 0, &seg);
    vx_batch_put_embedding(batch, 20, &e);
    CHECK(vx_catalog_write(cat, batch, &err) == 0);
    CHECK(vx_catalog_check(cat, count_problem, &reported, &problems, &err) == 0 && problems >= 1);
    vx_batch_free(batch);
    vx_catalog_close(cat);
    test_rmtree(dir);
    free(dir);
}

int main(void) {
    RUN(test_varints);
    RUN(test_ids);
    RUN(test_codecs_reject_damage);
    RUN(test_job_settings);
    RUN(test_codecs_reject_bad_values);
    RUN(test_old_videos_and_renditions);
    RUN(test_round_trips);
    RUN(test_corrupt_records_are_reported_not_fatal);
    RUN(test_second_writer_refused);
    RUN(test_iteration_order);
    RUN(test_batch_atomic_under_kill);
    RUN(test_consistency_check);
    RUN(test_pending_videos);
    CHECK_EXIT();
}
