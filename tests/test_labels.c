/* Zero-shot labels without a model (labels/labels.h): vocabularies from prompts.md and
 * operators' files, the cache file of label embeddings, calibration against its promise,
 * and a video's labels from its segments. test_understand covers the engine's follower
 * with a model. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../common/vecmath.h"
#include "../labels/labels.h"
#include "check.h"

static char *dir;

static const char *path_in(const char *name) {
    static char path[4][4200];
    static int which;
    which = (which + 1) % 4;
    snprintf(path[which], sizeof path[which], "%s/%s", dir, name);
    return path[which];
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    REQUIRE_MSG(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

#define SIX_CLASSES "classes = ['a', 'b', ['c', 'see'], 'd', 'e', 'f']\ntemplates = ['a photo of {}.', '{}']\n"

static void test_vocabularies(void) {
    write_text(path_in("prompts.md"), "## SUN397\n" SIX_CLASSES "## CIFAR10\n" SIX_CLASSES
                                      "## Kinetics700\n" SIX_CLASSES);
    write_text(path_in("mine.md"), "## venue\n" SIX_CLASSES "## mood\n" SIX_CLASSES);
    char list[9000];
    snprintf(list, sizeof list, "%s:%s", path_in("mine.md"), path_in("mine2.md"));
    write_text(path_in("mine2.md"), "## colour\n" SIX_CLASSES);
    vx_label_vocab *v;
    int n;
    vx_error err;
    REQUIRE_MSG(vx_labels_load_vocabularies(path_in("prompts.md"), list, 0.01, &v, &n, &err) == 0, "%s", err.msg);
    /* The built-in ones under vidx's names (CIFAR10 is not one), then the operator's. */
    static const char *names[] = {"scenes", "actions", "venue", "mood", "colour"};
    CHECK(n == 5);
    for (int i = 0; i < n && i < 5; i++) CHECK_MSG(strcmp(v[i].name, names[i]) == 0, "%d: %s", i, v[i].name);
    CHECK(v[0].n_labels == 6 && strcmp(v[0].labels[2], "c") == 0 && v[0].emb == NULL);
    CHECK(v[0].hash == v[1].hash); /* the same classes and templates */
    vx_label_vocab *w;
    int m;
    REQUIRE(vx_labels_load_vocabularies(path_in("prompts.md"), NULL, 0.05, &w, &m, &err) == 0);
    CHECK(m == 2 && w[0].hash != v[0].hash); /* another false rate: another cache */
    vx_label_vocabs_free(w, m);
    vx_label_vocabs_free(v, n);

    /* No prompts.md: the operator's alone. */
    REQUIRE(vx_labels_load_vocabularies(path_in("none.md"), path_in("mine2.md"), 0.01, &v, &n, &err) == 0);
    CHECK(n == 1 && strcmp(v[0].name, "colour") == 0);
    vx_label_vocabs_free(v, n);

    /* What is wrong, named. */
    write_text(path_in("tiny.md"), "## tiny\nclasses = ['yes', 'no']\ntemplates = ['{}']\n");
    CHECK(vx_labels_load_vocabularies(NULL, path_in("tiny.md"), 0.01, &v, &n, &err) == -1);
    CHECK_MSG(strstr(err.msg, "tiny") && strstr(err.msg, "at least 5"), "%s", err.msg);
    snprintf(list, sizeof list, "%s:%s", path_in("mine2.md"), path_in("mine2.md"));
    CHECK(vx_labels_load_vocabularies(NULL, list, 0.01, &v, &n, &err) == -1);
    CHECK_MSG(strstr(err.msg, "a second vocabulary named \"colour\""), "%s", err.msg);
    CHECK(vx_labels_load_vocabularies(NULL, path_in("missing.md"), 0.01, &v, &n, &err) == -1);
    CHECK_MSG(strstr(err.msg, "missing.md"), "%s", err.msg);
    write_text(path_in("empty.md"), "# nothing here\n");
    CHECK(vx_labels_load_vocabularies(NULL, path_in("empty.md"), 0.01, &v, &n, &err) == -1);
    CHECK_MSG(strstr(err.msg, "no vocabulary"), "%s", err.msg);
}

/* n random unit vectors of dim, from a fixed seed. */
static float *random_units(int n, int dim, unsigned seed) {
    float *v = malloc((size_t)n * dim * sizeof *v);
    for (int i = 0; i < n; i++) {
        for (int d = 0; d < dim; d++) {
            seed = seed * 1103515245u + 12345u;
            v[(size_t)i * dim + d] = (float)((seed >> 8) & 0xffff) / 65536.0f - 0.5f;
        }
        vx_normalize(v + (size_t)i * dim, (size_t)dim);
    }
    return v;
}

static void test_cache(void) {
    const int dim = 16;
    vx_label_vocab v = {.name = "scenes", .n_labels = 6, .hash = 0x1234, .threshold = 2.5f};
    v.emb = random_units(6, dim, 7);
    vx_error err;
    vx_path path;
    REQUIRE(vx_labels_cache_path(dir, 0xabcdefULL, &v, path, &err) == 0);
    CHECK(strstr(path, "0000000000abcdef-0000000000001234.f32") != NULL);
    REQUIRE_MSG(vx_labels_cache_write(path, &v, dim, &err) == 0, "%s", err.msg);
    vx_label_vocab r = {.n_labels = 6};
    REQUIRE_MSG(vx_labels_cache_read(path, &r, dim, &err) == 0, "%s", err.msg);
    CHECK(r.threshold == 2.5f && memcmp(r.emb, v.emb, 6 * dim * sizeof(float)) == 0);
    free(r.emb);
    r.emb = NULL;
    /* Not this vocabulary's: another dim, another number of labels. */
    CHECK(vx_labels_cache_read(path, &r, dim * 2, &err) == -1);
    r.n_labels = 7;
    CHECK(vx_labels_cache_read(path, &r, dim, &err) == -1 && r.emb == NULL);
    r.n_labels = 6;
    /* Cut short, one byte more, a NaN: computed again rather than trusted. */
    FILE *f = fopen(path, "r+b");
    REQUIRE(f);
    fseek(f, 0, SEEK_END);
    fputc(0, f);
    fclose(f);
    CHECK(vx_labels_cache_read(path, &r, dim, &err) == -1);
    REQUIRE(truncate(path, 20 + 6 * dim * 4 - 4) == 0);
    CHECK(vx_labels_cache_read(path, &r, dim, &err) == -1);
    v.emb[5] = NAN;
    REQUIRE(vx_labels_cache_write(path, &v, dim, &err) == 0);
    CHECK(vx_labels_cache_read(path, &r, dim, &err) == -1);
    CHECK(vx_labels_cache_read(path_in("nothing.f32"), &r, dim, &err) == -1);
    free(v.emb);
}

/* The threshold keeps its promise: inputs unrelated to every label pass about as often
 * as asked, and an input that is a label passes with that label first. */
static void test_calibration(void) {
    const int dim = 64, n_labels = 40, trials = 4000;
    float *emb = random_units(n_labels, dim, 11);
    const double rate = 0.05;
    const float thr = vx_labels_calibrate(emb, n_labels, dim, VX_LABELS_NULL_DRAWS, rate);
    CHECK_MSG(thr > 1.0f && thr < 6.0f, "threshold %.2f", thr);
    float *x = random_units(trials, dim, 99);
    int passed = 0, labels[VX_LABELS_TOP];
    float z[VX_LABELS_TOP];
    for (int i = 0; i < trials; i++) passed += vx_labels_keep(emb, n_labels, dim, thr, x + (size_t)i * dim, labels, z) > 0;
    const double seen = (double)passed / trials;
    CHECK_MSG(seen > rate / 2 && seen < rate * 2, "unrelated inputs passed %.3f of the time for a promised %.3f", seen,
              rate);
    const int n = vx_labels_keep(emb, n_labels, dim, thr, emb + 17 * dim, labels, z);
    CHECK(n >= 1 && labels[0] == 17 && z[0] >= thr);
    for (int i = 1; i < n; i++) CHECK(z[i] <= z[i - 1]);
    free(x);
    free(emb);
}

static void test_video_labels(void) {
    const int dim = 32, n_labels = 12;
    vx_label_vocab v[2] = {{.name = "a", .n_labels = n_labels}, {.name = "b", .n_labels = n_labels}};
    v[0].emb = random_units(n_labels, dim, 3);
    v[1].emb = random_units(n_labels, dim, 5);
    v[0].threshold = v[1].threshold = vx_labels_calibrate(v[0].emb, n_labels, dim, 2000, 0.01);
    /* Segments 0 and 1 are label 4 of "a", segment 3 label 4 again (a second range),
     * segment 2 is label 9 of "b"; the whole video looks like label 4. */
    static const int label_of[4] = {4, 4, 109, 4};
    vx_segment segs[4];
    for (int s = 0; s < 4; s++) {
        const float *e = label_of[s] >= 100 ? v[1].emb + (size_t)(label_of[s] - 100) * dim : v[0].emb + (size_t)label_of[s] * dim;
        segs[s] = (vx_segment){.start = 5 * s, .end = 5 * s + 5, .n_frames = 1, .dim = (uint32_t)dim, .embedding = (float *)e};
    }
    vx_video_label *out;
    int n;
    vx_error err;
    REQUIRE(vx_labels_of_video(v, 2, dim, NULL, v[0].emb + 4 * dim, 20, segs, 4, &out, &n, &err) == 0);
    const vx_video_label *four = NULL, *nine = NULL;
    for (int i = 0; i < n; i++) {
        if (out[i].vocabulary == 0 && out[i].label == 4) four = &out[i];
        if (out[i].vocabulary == 1 && out[i].label == 9) nine = &out[i];
        if (i) CHECK(out[i].score <= out[i - 1].score);
    }
    REQUIRE(four && nine);
    CHECK(four->n_ranges == 2 && four->ranges[0].start == 0 && four->ranges[0].end == 10 && four->ranges[1].start == 15 &&
          four->ranges[1].end == 20);
    CHECK(nine->n_ranges == 1 && nine->ranges[0].start == 10 && nine->ranges[0].end == 15);
    free(out);
    /* Another model's segments are skipped; the whole alone gives the whole range. */
    for (int s = 0; s < 4; s++) segs[s].dim = (uint32_t)dim + 1;
    REQUIRE(vx_labels_of_video(v, 2, dim, NULL, v[0].emb + 4 * dim, 20, segs, 4, &out, &n, &err) == 0);
    CHECK(n >= 1 && out[0].vocabulary == 0 && out[0].label == 4 && out[0].n_ranges == 1 && out[0].ranges[0].end == 20);
    free(out);
    free(v[0].emb);
    free(v[1].emb);
}

int main(void) {
    dir = test_tmpdir("labels");
    RUN(test_vocabularies);
    RUN(test_cache);
    RUN(test_calibration);
    RUN(test_video_labels);
    test_rmtree(dir);
    free(dir);
    CHECK_EXIT();
}
