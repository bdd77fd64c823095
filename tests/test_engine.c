/* The engine's core: the background-work facility every engine thread runs on
 * (common/worker.h), the status vocabulary and its one HTTP mapping, and an engine
 * opened on a small catalog: changes applied in order whatever thread makes them, the
 * workers started, woken and stopped, statuses that say what happened. No model: the
 * catalog is written directly, as an index run would have left it. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../api/status_http.h"
#include "../common/hash.h"
#include "../common/path.h"
#include "../common/system.h"
#include "../common/vecmath.h"
#include "../common/worker.h"
#include "../engine/engine.h"
#include "../present/urls.h"
#include "../engine/langid.h"
#include "../encoder/kernels.h"
#include "../encoder/tokenizer.h"
#include "check.h"

/* ---- the worker ------------------------------------------------------------------------- */

typedef struct item {
    vx_queue_node link;
    int value;
} item;

typedef struct sink {
    int seen[1000], n_seen;
    int batches, wakes;
    double quiet_waited, pause_result;
    atomic_int_least64_t busy_us;
    int mode; /* 0: take items; 1: wait quiet once; 2: pause once */
} sink;

static void sink_main(vx_worker *w) {
    sink *s = w->ctx;
    if (s->mode == 1) {
        const double t0 = vx_now();
        const int r = vx_worker_wait_quiet(w, &s->busy_us, 0.2, -1);
        s->quiet_waited = r ? -1 : vx_now() - t0;
    }
    if (s->mode == 2) s->pause_result = vx_worker_pause(w, 60);
    for (;;) {
        vx_queue_node *got[8];
        const int n = vx_worker_take(w, got, 8, -1);
        if (n < 0) return;
        if (n == 0) s->wakes++;
        else s->batches++;
        for (int i = 0; i < n; i++) {
            s->seen[s->n_seen++] = ((item *)got[i])->value;
            usleep(200); /* slower than the pushes: batches form */
        }
    }
}

static void test_worker_queue(void) {
    static item items[500];
    sink s = {0};
    vx_worker w;
    vx_error err;
    REQUIRE(vx_worker_start(&w, "a test worker", sink_main, &s, 1000, 1, &err) == 0);
    for (int i = 0; i < 500; i++) {
        items[i].value = i;
        CHECK(vx_worker_push(&w, &items[i].link) == 0);
    }
    CHECK(vx_worker_stop(&w) == NULL); /* drain: every item taken before the thread ends */
    CHECK(s.n_seen == 500);
    int in_order = 1;
    for (int i = 0; i < s.n_seen; i++) in_order &= s.seen[i] == i;
    CHECK(in_order);
    CHECK_MSG(s.batches < 500, "%d batches for 500 items: none grouped", s.batches);
    CHECK(vx_worker_push(&w, &items[0].link) == -1); /* stopped: refused */
}

static void test_worker_limits(void) {
    static item items[4];
    sink s = {.mode = 2}; /* pauses first, so nothing is taken */
    vx_worker w;
    vx_error err;
    REQUIRE(vx_worker_start(&w, "a test worker", sink_main, &s, 3, 0, &err) == 0);
    for (int i = 0; i < 4; i++) items[i].value = i;
    CHECK(vx_worker_push(&w, &items[1].link) == 0);
    CHECK(vx_worker_push(&w, &items[2].link) == 0);
    CHECK(vx_worker_push_front(&w, &items[0].link) == 0); /* before the others */
    CHECK(vx_worker_push(&w, &items[3].link) == -1);       /* full */
    CHECK(vx_worker_push_front(&w, &items[3].link) == -1); /* full at the front too */
    CHECK(vx_worker_queued(&w) == 3);
    const double t0 = vx_now();
    vx_queue_node *left = vx_worker_stop(&w); /* no drain: what waits comes back */
    CHECK_MSG(vx_now() - t0 < 5, "a pause of 60 s ended by stop took %.1f s", vx_now() - t0);
    CHECK(s.pause_result == -1);
    int n = 0;
    for (vx_queue_node *p = left; p; p = p->next) CHECK(((item *)p)->value == n++);
    CHECK(n == 3 && s.n_seen == 0);
}

static void test_worker_wake_and_quiet(void) {
    sink s = {.mode = 1};
    atomic_store(&s.busy_us, (int_least64_t)(vx_now() * 1e6)); /* busy just now */
    vx_worker w;
    vx_error err;
    REQUIRE(vx_worker_start(&w, "a test worker", sink_main, &s, 10, 0, &err) == 0);
    for (int i = 0; i < 20 && !s.wakes; i++) {
        vx_worker_wake(&w); /* does not end the quiet wait; seen by take after it */
        usleep(20000);
    }
    vx_worker_stop(&w);
    CHECK_MSG(s.quiet_waited >= 0.15, "waited %.3f s for 0.2 s of quiet", s.quiet_waited);
    CHECK(s.wakes >= 1);

    /* Told to stop during a quiet wait that would last long. */
    sink t = {.mode = 1};
    atomic_store(&t.busy_us, (int_least64_t)((vx_now() + 3600) * 1e6));
    REQUIRE(vx_worker_start(&w, "a test worker", sink_main, &t, 10, 0, &err) == 0);
    usleep(50000);
    const double t0 = vx_now();
    vx_worker_stop(&w);
    CHECK(t.quiet_waited == -1);
    CHECK_MSG(vx_now() - t0 < 5, "stop during a quiet wait took %.1f s", vx_now() - t0);

    vx_worker idle = {0};
    CHECK(vx_worker_stop(&idle) == NULL); /* never started: nothing to do */
}

typedef struct timed {
    double waited;
    int result;
} timed;

static void timed_main(vx_worker *w) {
    timed *t = w->ctx;
    const double t0 = vx_now();
    vx_queue_node *n;
    t->result = vx_worker_take(w, &n, 1, 0.15);
    t->waited = vx_now() - t0;
    while (vx_worker_take(w, &n, 1, -1) >= 0) {
    }
}

static void test_worker_timeout(void) {
    timed t = {0};
    vx_worker w;
    vx_error err;
    REQUIRE(vx_worker_start(&w, "a test worker", timed_main, &t, 10, 0, &err) == 0);
    usleep(400000);
    vx_worker_stop(&w);
    CHECK(t.result == 0);
    CHECK_MSG(t.waited >= 0.12 && t.waited < 5, "a 0.15 s timeout took %.3f s", t.waited);
}

typedef struct answer {
    vx_completion done;
    int value;
} answer;

static void *answer_later(void *arg) {
    answer *a = arg;
    usleep(20000);
    a->value = 42;
    vx_completion_signal(&a->done);
    return NULL;
}

static void test_completion(void) {
    answer a = {.done = VX_COMPLETION_INIT};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, answer_later, &a) == 0);
    vx_completion_wait(&a.done);
    CHECK(a.value == 42);
    pthread_join(th, NULL);
    vx_completion_destroy(&a.done);
}

/* ---- statuses ----------------------------------------------------------------------------- */

static void test_status_http(void) {
    /* Every status has its own name and its own row. */
    for (int s = VX_STATUS_MIN; s <= VX_OK; s++) {
        CHECK_MSG(strcmp(vx_status_name(s), "unknown") != 0, "status %d has no name", s);
        CHECK_MSG(vx_status_to_http(s)->status == s, "status %s has no HTTP row", vx_status_name(s));
        for (int t = VX_STATUS_MIN; t < s; t++) CHECK(strcmp(vx_status_name(s), vx_status_name(t)) != 0);
    }
    static const struct {
        int status, http;
        const char *code;
        int retry;
    } want[] = {
        {VX_OK, 200, "ok", 0},
        {VX_E_INTERNAL, 500, "internal", 0},
        {VX_E_BAD_INPUT, 400, "bad_parameter", 0},
        {VX_E_NOT_FOUND, 404, "not_found", 0},
        {VX_E_MODEL_MISSING, 503, "model_missing", 0},
        {VX_E_BUSY, 503, "overloaded", 1},
        {VX_E_LOG_UNAVAILABLE, 503, "log_unavailable", 1},
        {VX_E_NOT_READY, 503, "not_ready", 1},
        {VX_E_DISABLED, 501, "disabled", 0},
        {VX_E_STORAGE, 507, "storage_unavailable", 0},
    };
    CHECK(sizeof want / sizeof *want == (size_t)(VX_OK - VX_STATUS_MIN + 1));
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const vx_status_http *h = vx_status_to_http(want[i].status);
        CHECK_MSG(h->http == want[i].http && strcmp(h->code, want[i].code) == 0 && (h->retry_after > 0) == want[i].retry,
                  "%s: %d %s (Retry-After %d)", vx_status_name(want[i].status), h->http, h->code, h->retry_after);
    }
    CHECK(vx_status_to_http(-1000)->http == 500); /* not a status: a bug, answered as one */
}

/* ---- names the data folder and URLs share ------------------------------------------------- */

static void test_thumb_names(void) {
    const uint64_t id = 0x0123456789abcdefULL;
    const uint32_t key = 3; /* an unsigned index, as answers hold them */
    const long which[] = {-1, 0, 17, 9999, VX_THUMB_KEYFRAME(0), VX_THUMB_KEYFRAME(key), VX_THUMB_KEYFRAME(VX_KEYFRAMES_MAX - 1)};
    const char *want[] = {"0123456789abcdef.jpg", "0123456789abcdef-0.jpg", "0123456789abcdef-17.jpg",
                          "0123456789abcdef-9999.jpg", "0123456789abcdef-k0.jpg", "0123456789abcdef-k3.jpg",
                          "0123456789abcdef-k15.jpg"};
    for (size_t i = 0; i < sizeof which / sizeof *which; i++) {
        char name[VX_THUMB_NAME_MAX], url[VX_URL_THUMB_MAX];
        vx_thumb_name(id, which[i], name);
        CHECK_MSG(strcmp(name, want[i]) == 0, "%ld: %s", which[i], name);
        uint64_t got;
        long w;
        CHECK(vx_thumb_name_parse(name, &got, &w) == 0 && got == id && w == which[i]);
        const int n = vx_url_thumb(id, which[i], url);
        CHECK(n == (int)strlen(url) && strncmp(url, "/thumbs/", 8) == 0 && strcmp(url + 8, want[i]) == 0);
        char from_hex[VX_URL_THUMB_MAX];
        CHECK(vx_url_thumb_hex("0123456789abcdef", which[i], from_hex) == n && strcmp(from_hex, url) == 0);
    }
    uint64_t got;
    long w;
    static const char *bad[] = {"0123456789abcdef", "0123456789abcdeg.jpg", "0123456789abcdef-k16.jpg",
                                "0123456789abcdef-12345.jpg", "0123456789abcdef-.jpg", "0123456789abcdef_1.jpg",
                                "../0123456789abcdef.jpg", "0123456789abcdef-1.jpg.png", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK_MSG(vx_thumb_name_parse(bad[i], &got, &w) == -1, "%s", bad[i]);
}

/* ---- an engine on a small catalog ------------------------------------------------------------ */

#define DIM 8
#define N_VIDEOS 24

static uint64_t video_ids[N_VIDEOS];

static void write_catalog(const char *dir) {
    vx_error err;
    vx_catalog *cat = vx_catalog_open(dir, 1, &err);
    REQUIRE_MSG(cat, "%s", err.msg);
    vx_batch *b = vx_batch_new();
    for (int i = 0; i < N_VIDEOS; i++) {
        char path[64];
        snprintf(path, sizeof path, "/videos/v%02d.mp4", i);
        float v[DIM] = {0};
        v[i % DIM] = 1;
        v[(i + 1) % DIM] = 0.5f;
        vx_normalize(v, DIM);
        vx_video rec = {.id = vx_video_id_for_path(path), .content_hash = vx_hash64(path, strlen(path)), .size = 1,
                        .duration = 10, .status = VX_VIDEO_INDEXED, .n_segments = 1, .created_at = 1700000000 + i,
                        .updated_at = 1700000000 + i, .path = path, .title = path + 8, .failure = "",
                        .playback = VX_PLAYBACK_DIRECT};
        video_ids[i] = rec.id;
        vx_batch_put_video(b, &rec);
        vx_segment s = {.start = 0, .end = 5, .n_frames = 1, .dim = DIM, .embedding = v};
        vx_batch_put_segment(b, rec.id, 0, &s);
        vx_embedding e = {.dim = DIM, .v = v};
        vx_batch_put_embedding(b, rec.id, &e);
    }
    vx_meta m;
    REQUIRE(vx_catalog_get_meta(cat, &m, &err) == 0);
    m.embed_dim = DIM;
    m.index_generation++;
    vx_batch_put_meta(b, &m);
    vx_meta_clear(&m);
    CHECK_MSG(vx_catalog_write(cat, b, &err) == 0, "%s", err.msg);
    vx_batch_free(b);
    vx_catalog_close(cat);
}

static vx_engine *open_engine(const char *dir, int workers) {
    vx_engine_options o;
    vx_engine_options_default(&o);
    o.data_dir = dir;
    o.model = VX_MODEL_NONE;
    o.jobs = workers;
    o.feed_model = workers;
    vx_error err;
    vx_engine *e = vx_engine_open(&o, &err);
    if (!e) fprintf(stderr, "open: %s\n", err.msg);
    return e;
}

typedef struct writer_arg {
    vx_engine *e;
    int thread, n;
    uint64_t seen[64];
    int failures;
} writer_arg;

static void *write_events(void *p) {
    writer_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        vx_event_request rq = {.user = "ada", .video_id = video_ids[(a->thread * 7 + i) % N_VIDEOS],
                               .type = VX_EVENT_LIKE, .seconds = -1};
        vx_event_stored st;
        vx_error err;
        if (vx_engine_record_event(a->e, &rq, &st, &err)) a->failures++;
        else a->seen[i] = st.n_events;
    }
    return NULL;
}

typedef struct async_count {
    atomic_int done, ok;
    atomic_uint_least64_t last_n; /* the user's count at the last answer: callbacks come in order */
    atomic_int out_of_order;
} async_count;

static void counted(void *arg, int status, const vx_event_stored *stored, const vx_error *err) {
    (void)err;
    async_count *c = arg;
    if (status == 0) {
        atomic_fetch_add(&c->ok, 1);
        if (stored->n_events <= atomic_load(&c->last_n)) atomic_fetch_add(&c->out_of_order, 1);
        atomic_store(&c->last_n, stored->n_events);
    }
    atomic_fetch_add(&c->done, 1);
}

static char *dir; /* the engine tests' data folder */

static void test_engine_apply_order(void) {
    vx_engine *e = open_engine(dir, 1);
    REQUIRE(e);
    /* Four threads record events of one user at once: each is applied once, in one order. */
    writer_arg args[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        args[t] = (writer_arg){.e = e, .thread = t, .n = 50};
        REQUIRE(pthread_create(&th[t], NULL, write_events, &args[t]) == 0);
    }
    int seen[201] = {0}, failures = 0;
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        failures += args[t].failures;
        for (int i = 0; i < args[t].n; i++)
            if (args[t].seen[i] >= 1 && args[t].seen[i] <= 200) seen[args[t].seen[i]]++;
    }
    CHECK(failures == 0);
    int each_once = 1;
    for (int k = 1; k <= 200; k++) each_once &= seen[k] == 1;
    CHECK_MSG(each_once, "the user's event counts are not 1..200, each once");
    vx_user u;
    vx_error err;
    REQUIRE(vx_engine_user(e, "ada", &u, &err) == VX_OK);
    CHECK(u.n_events == 200);
    vx_user_clear(&u);

    /* The item model follows without polling: woken by the events. */
    vx_engine_stats st;
    double t0 = vx_now();
    do {
        vx_engine_gauges(e, &st);
        if (!st.feed_model.built) usleep(20000);
    } while (!st.feed_model.built && vx_now() - t0 < 30);
    CHECK_MSG(st.feed_model.built, "no item model 30 s after 200 events");

    /* Events accepted before the close are all written by it (the writer drains). */
    async_count c = {0};
    int accepted = 0;
    for (int i = 0; i < 300; i++) {
        vx_event_request rq = {.user = "bob", .video_id = video_ids[i % N_VIDEOS], .type = VX_EVENT_VIEW, .seconds = 3};
        accepted += vx_engine_record_event_async(e, &rq, counted, &c, &err) == VX_OK;
    }
    t0 = vx_now();
    vx_engine_close(e);
    CHECK_MSG(vx_now() - t0 < 10, "close took %.1f s", vx_now() - t0);
    CHECK(accepted == 300 && atomic_load(&c.done) == accepted && atomic_load(&c.ok) == accepted);
    CHECK(atomic_load(&c.out_of_order) == 0);

    /* All of it is there after a reopen. */
    REQUIRE((e = open_engine(dir, 0)));
    REQUIRE(vx_engine_user(e, "bob", &u, &err) == VX_OK);
    CHECK(u.n_events == 300);
    vx_user_clear(&u);
    vx_engine_close(e);
}

static void test_engine_statuses(void) {
    vx_engine *e = open_engine(dir, 0);
    REQUIRE(e);
    vx_error err;
    vx_label_filter f;
    CHECK(vx_engine_label_parse(e, "kitchen", &f, &err) == VX_E_DISABLED); /* labels off: says so */
    const char *paths[] = {"/videos"};
    uint64_t job;
    CHECK(vx_engine_job_submit(e, paths, 1, NULL, &job, &err) == VX_E_DISABLED); /* no job runner */
    vx_video_view v;
    CHECK(vx_engine_video(e, 0x0123456789abcdefULL, &v, &err) == VX_E_NOT_FOUND);
    CHECK(vx_engine_video(e, video_ids[0], &v, &err) == VX_OK);
    vx_video_view_free(&v);
    vx_event_request bad = {.user = "no spaces allowed", .video_id = video_ids[0], .type = VX_EVENT_LIKE, .seconds = -1};
    vx_event_stored st;
    CHECK(vx_engine_record_event(e, &bad, &st, &err) == VX_E_BAD_INPUT);
    vx_event_request unknown = {.user = "ada", .video_id = 0x0123456789abcdefULL, .type = VX_EVENT_LIKE, .seconds = -1};
    CHECK(vx_engine_record_event(e, &unknown, &st, &err) == VX_E_NOT_FOUND);
    vx_results r;
    const unsigned char png[] = {0x89, 'P', 'N', 'G'};
    vx_search_params p;
    vx_search_params_default(&p);
    CHECK(vx_engine_search_image(e, png, sizeof png, &p, &r, &err) == VX_E_MODEL_MISSING);
    CHECK(strstr(err.msg, "model") != NULL);
    vx_engine_close(e);
}

/* Loopback is decided from addresses: a name that merely starts like one is not; and
 * what paths lie within a folder. */
static void test_loopback_and_paths(void) {
    CHECK(vx_host_is_loopback("127.0.0.1") && vx_host_is_loopback("127.9.8.7") && vx_host_is_loopback("::1") &&
          vx_host_is_loopback("[::1]") && vx_host_is_loopback("localhost"));
    CHECK(!vx_host_is_loopback("127.example.net") && !vx_host_is_loopback("192.0.2.1") &&
          !vx_host_is_loopback("0.0.0.0") && !vx_host_is_loopback("") && !vx_host_is_loopback("::ffff:10.0.0.1") &&
          !vx_host_is_loopback("[::1"));
    CHECK(vx_path_within("/a/b", "/a/b") && vx_path_within("/a/b/c", "/a/b") && vx_path_within("/a/b/c", "/a/b/") &&
          vx_path_within("/x", "/"));
    CHECK(!vx_path_within("/a/bc", "/a/b") && !vx_path_within("/a", "/a/b") && !vx_path_within("/ab/c", "/a"));
    CHECK(vx_path_system_folder("/proc/self/environ") && vx_path_system_folder("/etc") &&
          !vx_path_system_folder("/etcetera/x.mp4") && !vx_path_system_folder("/home/me/proc/x.mp4"));
}

/* The query router's language guess (engine/langid.h), with CLIP's real vocabulary from
 * the shared data, on three sets: English class names of five of OpenAI's zero-shot
 * sets (short queries), MSR-VTT's 1,000 test captions (sentences), and 80 short queries in
 * 16 other languages (tests/golden/langid/other_languages.txt). Prints the rates that
 * langid.h quotes, and checks that they hold. */
typedef struct route_counts {
    int n, english, unsure, other;
} route_counts;

static void count_route(route_counts *c, const char *text, const vx_tokenizer *clip) {
    const vx_lang_guess g = vx_langid_route(text, clip);
    c->n++;
    c->english += g == VX_LANG_ENGLISH;
    c->unsure += g == VX_LANG_UNSURE;
    c->other += g == VX_LANG_OTHER;
}

static FILE *open_shared(const char *rel, char *path, size_t size) {
    const char *shared = getenv("VIDX_SHARED_DATA");
    snprintf(path, size, "%s/%s", shared ? shared : "", rel);
    return fopen(path, "r");
}

static void test_langid(void) {
    char path[4096], line[4096];
    vx_error err;
    FILE *f = open_shared("clip/bpe_simple_vocab_16e6.txt.gz", path, sizeof path);
    REQUIRE_MSG(f, "%s: set VIDX_SHARED_DATA", path);
    fclose(f);
    vx_tokenizer *clip = vx_tokenizer_load_bpe_gz(path, &err);
    REQUIRE_MSG(clip, "%s", err.msg);
    /* Class names: the lines "    'name'," of these sections of prompts.md. */
    route_counts names = {0}, captions = {0}, others = {0};
    REQUIRE_MSG((f = open_shared("clip/prompts.md", path, sizeof path)), "%s", path);
    static const char *const sets[] = {"## Kinetics700", "## UCF101", "## SUN397", "## Food101", "## CIFAR100"};
    int in_set = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "## ", 3) == 0) {
            in_set = 0;
            for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
                in_set |= strncmp(line, sets[i], strlen(sets[i])) == 0 && (line[strlen(sets[i])] == '\n');
        } else if (strncmp(line, "templates", 9) == 0) {
            in_set = 0;
        } else if (in_set && strncmp(line, "    '", 5) == 0) {
            char *name = line + 5, *end = strrchr(name, '\'');
            if (end) *end = '\0', count_route(&names, name, clip);
        }
    }
    fclose(f);
    REQUIRE_MSG((f = open_shared("captions/MSRVTT_JSFUSION_test.csv", path, sizeof path)), "%s", path);
    while (fgets(line, sizeof line, f)) {
        char *s = line;
        for (int k = 0; k < 3 && s; k++) s = strchr(s, ';') ? strchr(s, ';') + 1 : NULL;
        if (!s || strstr(line, "key;vid_key") == line) continue;
        s[strcspn(s, "\r\n")] = '\0';
        count_route(&captions, s, clip);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/tests/golden/langid/other_languages.txt", VIDX_SOURCE_DIR);
    REQUIRE_MSG((f = fopen(path, "r")), "%s", path);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (*line) count_route(&others, line, clip);
    }
    fclose(f);
    const route_counts *all[] = {&names, &captions, &others};
    const char *what[] = {"English class names", "English captions", "queries in other languages"};
    for (int i = 0; i < 3; i++)
        printf("  %-27s %4d: English %4d, unsure (both towers) %4d, other (multilingual) %4d\n", what[i], all[i]->n,
               all[i]->english, all[i]->unsure, all[i]->other);
    CHECK_MSG(names.n == 1398 && names.other * 100 <= names.n * 3 && names.english * 100 >= names.n * 60,
              "class names: %d of %d to the multilingual tower, %d English", names.other, names.n, names.english);
    CHECK_MSG(captions.n == 1000 && captions.other <= 5 && captions.english >= 950, "captions: %d other, %d English",
              captions.other, captions.english);
    CHECK_MSG(others.n == 80 && others.english <= 4 && others.other >= 20, "other languages: %d English, %d other",
              others.english, others.other);
    /* The rules, one by one. */
    CHECK(vx_langid_route("a man cooking", clip) == VX_LANG_ENGLISH);  /* every word known whole */
    CHECK(vx_langid_route("厨房里的鹦鹉", clip) == VX_LANG_OTHER);       /* another script */
    CHECK(vx_langid_route("Küche", clip) == VX_LANG_OTHER);            /* short, unknown, accented */
    CHECK(vx_langid_route("Katze", clip) == VX_LANG_UNSURE);           /* short, unknown, no accent */
    CHECK(vx_langid_route("eine Frau kocht in der Küche", clip) == VX_LANG_OTHER);
    CHECK(vx_langid_route("a man cooking in a café", clip) == VX_LANG_UNSURE); /* accented: never English */
    CHECK(vx_langid_route("2024 !!", clip) == VX_LANG_ENGLISH);        /* no words */
    double margin;
    CHECK(vx_langid_latin("a dog", &margin) == NULL); /* too short for trigrams */
    CHECK(strcmp(vx_langid_latin("a dog running in the snow", &margin), "eng") == 0 && margin == 0);
    vx_tokenizer_free(clip);
}

/* Which OpenBLAS core vidx asks for (encoder/kernels.h). */
static void test_openblas_core(void) {
    CHECK(strcmp(vx_openblas_better_core("Prescott", 1, 1), "SkylakeX") == 0);
    CHECK(strcmp(vx_openblas_better_core("Prescott", 1, 0), "Haswell") == 0);
    CHECK(strcmp(vx_openblas_better_core("Sandybridge", 1, 0), "Haswell") == 0);
    CHECK(vx_openblas_better_core("Prescott", 0, 0) == NULL); /* no AVX2: what OpenBLAS picked */
    CHECK(vx_openblas_better_core("Haswell", 1, 1) == NULL);  /* an AVX2 core already */
    CHECK(vx_openblas_better_core("Zen", 1, 0) == NULL && vx_openblas_better_core("SkylakeX", 1, 1) == NULL);
    CHECK(vx_openblas_better_core(NULL, 1, 1) == NULL);
}

int main(void) {
    RUN(test_langid);
    RUN(test_openblas_core);
    RUN(test_loopback_and_paths);
    RUN(test_worker_queue);
    RUN(test_worker_limits);
    RUN(test_worker_wake_and_quiet);
    RUN(test_worker_timeout);
    RUN(test_completion);
    RUN(test_status_http);
    RUN(test_thumb_names);
    dir = test_tmpdir("engine");
    write_catalog(dir);
    RUN(test_engine_apply_order);
    RUN(test_engine_statuses);
    test_rmtree(dir);
    free(dir);
    CHECK_EXIT();
}
