/* vidx engine: whether a query is English, so that one that is not goes to the multilingual
 * text tower (search.c; the rules in langid.h). Two signals built from data. CLIP's own
 * tokenizer: its merges were learned from its (mostly English) training text, so the
 * words it makes one early token of are frequent there. And trigrams: each language's 300 most
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

int vx_langid_other_script(uint32_t cp) {
    static const uint32_t ranges[][2] = {
        {0x0370, 0x03FF}, {0x0400, 0x052F}, {0x0530, 0x058F}, {0x0590, 0x05FF}, {0x0600, 0x06FF}, {0x0700, 0x08FF},
        {0x0900, 0x0DFF}, {0x0E00, 0x0FFF}, {0x1000, 0x109F}, {0x10A0, 0x10FF}, {0x1100, 0x11FF}, {0x1780, 0x17FF},
        {0x2E80, 0x2FDF}, {0x3040, 0x30FF}, {0x3100, 0x318F}, {0x31A0, 0x31FF}, {0x3400, 0x4DBF}, {0x4E00, 0x9FFF},
        {0xA000, 0xA4CF}, {0xAC00, 0xD7AF}, {0xF900, 0xFAFF}, {0xFE70, 0xFEFF}, {0xFF66, 0xFFDC}, {0x20000, 0x3134F},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof *ranges; i++)
        if (cp >= ranges[i][0] && cp <= ranges[i][1]) return 1;
    return 0;
}

/* The share of the text's words (those with a letter) that CLIP's tokenizer makes one
 * token of, among its VX_LANGID_CLIP_RANK first merges; -1 when it has no words. A word
 * ends with the token that ends in "</w>"; token strings are CLIP's byte alphabet, where
 * ASCII stands for itself and any other byte for a character beyond ASCII. */
static double clip_known_share(const char *text, const vx_tokenizer *clip) {
    enum { MAX_IDS = 256 };
    int32_t ids[MAX_IDS];
    vx_error err;
    const int n = vx_tokenize(clip, text, ids, MAX_IDS, &err);
    int words = 0, known = 0, pieces = 0, letters = 0, ascii = 1, rank = -1;
    for (int i = 1; i + 1 < n; i++) {
        const char *s = vx_tokenizer_token(clip, ids[i]);
        if (!s) return -1;
        const size_t len = strlen(s);
        const int last = len >= 4 && strcmp(s + len - 4, "</w>") == 0;
        for (size_t k = 0; k < (last ? len - 4 : len); k++) {
            const unsigned char c = (unsigned char)s[k];
            letters |= (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
            ascii &= c < 0x80;
        }
        pieces++;
        rank = vx_tokenizer_merge_rank(clip, ids[i]);
        if (!last) continue;
        if (letters) {
            words++;
            /* One piece: a merge's token, or a single letter (the byte alphabet's). */
            known += ascii && pieces == 1 && rank < VX_LANGID_CLIP_RANK;
        }
        pieces = letters = 0, ascii = 1;
    }
    return words ? (double)known / words : -1;
}

vx_lang_guess vx_langid_route(const char *text, const vx_tokenizer *clip) {
    int accented = 0;
    for (const char *s = text; *s;) {
        uint32_t cp;
        s += vx_utf8_decode(s, &cp);
        if (vx_langid_other_script(cp)) return VX_LANG_OTHER;
        accented |= cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7;
    }
    const double known = clip_known_share(text, clip);
    if (known < 0) return VX_LANG_ENGLISH; /* no words: digits and signs read alike */
    double margin;
    const char *code = vx_langid_latin(text, &margin);
    if (code && strcmp(code, "eng") == 0) margin = 0;
    if (!accented && (known == 1 || (code && margin < VX_LANGID_UNSURE && known >= VX_LANGID_KNOWN)))
        return VX_LANG_ENGLISH;
    if ((code && margin >= VX_LANGID_MARGIN && known < 0.5) || (!code && known == 0 && accented)) return VX_LANG_OTHER;
    return VX_LANG_UNSURE;
}
