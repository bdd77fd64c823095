/* vidx engine: which Latin-script language a query is in, so that one not in English goes
 * to the multilingual text tower (search.c). Built from data: each language's 300 most
 * frequent trigrams (langid_data.h, franc-min's profiles of the Universal Declaration of
 * Human Rights in 44 languages). A query's trigrams, ranked by count, are compared with
 * each profile by the out-of-place distance of Cavnar and Trenkle: the sum, over the
 * query's trigrams, of how far its rank is from the profile's (300 when the profile lacks
 * it). */
#include "langid.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../common/utf8.h"
#include "langid_data.h"

#define PROFILE 300  /* trigrams per language, and the distance of one a profile lacks */
#define MAX_GRAMS 512
#define TRIGRAM_BYTES 16 /* three characters of UTF-8, at most 12 bytes, and a NUL */

typedef struct gram {
    char s[TRIGRAM_BYTES];
    int rank; /* in its profile; in a query: its count */
} gram;

static gram profiles[LANGID_N][PROFILE]; /* each sorted by trigram, for binary search */
static int profile_len[LANGID_N];
static pthread_once_t loaded = PTHREAD_ONCE_INIT;

static int by_text(const void *a, const void *b) { return strcmp(((const gram *)a)->s, ((const gram *)b)->s); }

static void load(void) {
    for (int l = 0; l < LANGID_N; l++) {
        const char *s = langid_trigrams[l];
        int n = 0;
        while (*s && n < PROFILE) {
            const size_t len = strcspn(s, "|");
            if (len < TRIGRAM_BYTES) {
                memcpy(profiles[l][n].s, s, len);
                profiles[l][n].s[len] = '\0';
                profiles[l][n].rank = n;
                n++;
            }
            s += len + (s[len] == '|');
        }
        profile_len[l] = n;
        qsort(profiles[l], (size_t)n, sizeof **profiles, by_text);
    }
}

/* Lower case for the letters of Latin scripts (ASCII, Latin-1, Latin Extended-A). */
static uint32_t lower(uint32_t c) {
    if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
    if (c == 0x130) return 'i';  /* İ */
    if (c == 0x178) return 0xFF; /* Ÿ */
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c | 1; /* upper even, lower odd */
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return c & 1 ? c + 1 : c; /* upper odd */
    return c;
}

/* The text as the profiles were made: ASCII punctuation, digits and symbols (U+0021 to
 * U+0040) as spaces, runs of spaces as one, lower case, a space before and after; as
 * code points into out (at most max). Returns the count. */
static int clean(const char *text, uint32_t *out, int max) {
    int n = 0;
    out[n++] = ' ';
    for (const char *s = text; *s && n < max - 1;) {
        uint32_t c;
        s += vx_utf8_decode(s, &c);
        if ((c >= 0x21 && c <= 0x40) || c == '\t' || c == '\n' || c == '\r' || c == ' ') c = ' ';
        else c = lower(c);
        if (c == ' ' && out[n - 1] == ' ') continue;
        out[n++] = c;
    }
    if (out[n - 1] != ' ') out[n++] = ' ';
    return n;
}

static int by_count(const void *a, const void *b) {
    const gram *x = a, *y = b;
    return x->rank != y->rank ? y->rank - x->rank : strcmp(x->s, y->s);
}

const char *vx_langid_latin(const char *text, double *margin_over_english) {
    pthread_once(&loaded, load);
    *margin_over_english = 0;
    uint32_t cps[MAX_GRAMS + 2];
    const int n = clean(text, cps, MAX_GRAMS + 2);
    if (n < VX_LANGID_MIN_CHARS + 2) return NULL; /* too short to tell */
    /* The query's trigrams, counted, most frequent first. */
    gram g[MAX_GRAMS];
    int ng = 0;
    for (int i = 0; i + 2 < n; i++) {
        gram t = {.rank = 1};
        size_t len = 0;
        for (int k = 0; k < 3; k++) len += vx_utf8_encode(cps[i + k], t.s + len);
        t.s[len] = '\0';
        int found = 0;
        for (int j = 0; j < ng && !found; j++)
            if (strcmp(g[j].s, t.s) == 0) g[j].rank++, found = 1;
        if (!found && ng < MAX_GRAMS) g[ng++] = t;
    }
    qsort(g, (size_t)ng, sizeof *g, by_count);
    /* Each language's out-of-place distance. */
    long best = -1, english = -1;
    int best_lang = -1;
    for (int l = 0; l < LANGID_N; l++) {
        long d = 0;
        for (int i = 0; i < ng; i++) {
            const gram *p = bsearch(&g[i], profiles[l], (size_t)profile_len[l], sizeof **profiles, by_text);
            d += p ? labs((long)p->rank - i) : PROFILE;
        }
        if (best < 0 || d < best) best = d, best_lang = l;
        if (strcmp(langid_codes[l], "eng") == 0) english = d;
    }
    /* How much closer the best is than English, out of the largest distance there is. */
    if (english >= 0) *margin_over_english = (double)(english - best) / ((double)ng * PROFILE);
    return langid_codes[best_lang];
}
