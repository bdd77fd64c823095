/* A bounded stand-in for libFuzzer, so every build (gcc included) runs the fuzz targets
 * in CTest under the sanitizers: mutates the target's seeds (bit flips, byte changes,
 * truncation, extension, splicing, random bytes) for a fixed number of runs or seconds,
 * whichever ends first, from a fixed seed so failures reproduce.
 *
 * usage: fuzz_X [--runs N] [--seconds S] [--seed K] [--write-seeds DIR] [FILE...]
 * Files given are run once each (to replay a crash). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz_seeds.h"

#define MAX_SEEDS 64
#define MAX_INPUT 4096

static uint64_t rng_state;
static uint64_t rnd(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t mutate(uint8_t *buf, size_t len, const vx_buf *seeds, size_t n_seeds) {
    int rounds = 1 + (int)(rnd() % 4);
    for (int r = 0; r < rounds; r++) {
        switch (rnd() % 7) {
        case 0: if (len) buf[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8)); break;
        case 1: if (len) buf[rnd() % len] = (uint8_t)rnd(); break;
        case 2: if (len > 1) len = 1 + rnd() % (len - 1); break;
        case 3: { size_t add = 1 + rnd() % 16; while (add-- && len < MAX_INPUT) buf[len++] = (uint8_t)rnd(); break; }
        case 4: { /* interesting values at a random place */
            static const uint8_t vals[] = {0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe};
            if (len) buf[rnd() % len] = vals[rnd() % sizeof vals];
            break;
        }
        case 5: { /* splice the tail of another seed */
            const vx_buf *o = &seeds[rnd() % n_seeds];
            if (!o->len || !len) break;
            size_t at = rnd() % len, from = rnd() % o->len, n = o->len - from;
            if (at + n > MAX_INPUT) n = MAX_INPUT - at;
            memcpy(buf + at, o->data + from, n);
            len = at + n;
            break;
        }
        default: { /* an 0xff run: huge varints and lengths */
            if (!len) break;
            size_t at = rnd() % len, n = 1 + rnd() % 10;
            for (size_t i = 0; i < n && at + i < MAX_INPUT; i++) buf[at + i] = 0xff;
            if (at + n > len) len = at + n > MAX_INPUT ? MAX_INPUT : at + n;
            break;
        }
        }
    }
    return len;
}

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return 1; }
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, buf, n);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    return 0;
}

int main(int argc, char **argv) {
    long runs = 200000;
    double seconds = 20;
    uint64_t seed = 0x5eed;
    const char *write_dir = NULL;
    int files = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atol(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--write-seeds") && i + 1 < argc) write_dir = argv[++i];
        else { files++; if (run_file(argv[i])) return 1; }
    }
    if (files) return 0;

    vx_buf seeds[MAX_SEEDS] = {{0}};
    size_t n_seeds = 0;
    if (fuzz_seeds(seeds, &n_seeds, MAX_SEEDS) || n_seeds == 0) { fprintf(stderr, "no seeds\n"); return 1; }
    if (write_dir) {
        for (size_t i = 0; i < n_seeds; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/seed-%02zu", write_dir, i);
            FILE *f = fopen(path, "wb");
            if (!f || fwrite(seeds[i].data, 1, seeds[i].len, f) != seeds[i].len) { perror(path); return 1; }
            fclose(f);
        }
        for (size_t i = 0; i < n_seeds; i++) vx_buf_free(&seeds[i]);
        return 0;
    }
    rng_state = seed ? seed : 1;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    static uint8_t buf[MAX_INPUT];
    long done = 0;
    for (; done < runs; done++) {
        const vx_buf *s = &seeds[rnd() % n_seeds];
        size_t len = s->len < MAX_INPUT ? s->len : MAX_INPUT;
        memcpy(buf, s->data, len);
        len = done < (long)n_seeds ? len : mutate(buf, len, seeds, n_seeds);
        /* An exact-size copy so the sanitizer catches any read past the input. */
        uint8_t *input = malloc(len ? len : 1);
        memcpy(input, buf, len);
        LLVMFuzzerTestOneInput(input, len);
        free(input);
        if ((done & 1023) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 > seconds) break;
        }
    }
    printf("%ld inputs, no failures\n", done);
    for (size_t i = 0; i < n_seeds; i++) vx_buf_free(&seeds[i]);
    return 0;
}
