#include "tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <jansson.h>
#include <locale.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <wctype.h>
#include <xxhash.h>
#include <zlib.h>

#include "../common/idmap.h"
#include "../common/path.h"
#include "../common/utf8.h"

#define SOT_TEXT "<|startoftext|>"
#define EOT_TEXT "<|endoftext|>"
/* OpenAI's file holds more merges than CLIP uses: it keeps lines 1 .. 49152-256-2. */
#define OPENAI_MERGES (49152 - 256 - 2)

/* CLIP's pre-tokenisation pattern (simple_tokenizer.py), matched case-insensitively. */
static const char PATTERN[] =
    "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

struct vx_tokenizer {
    int n_tokens;
    char **tokens; /* [n_tokens] id -> string */
    vx_idmap vocab; /* token_key(string) -> id */
    int n_merges;
    int32_t (*merges)[2]; /* [n_merges] (a, b) in rank order, for saving */
    vx_idmap pairs; /* pair_key(a, b) -> rank << 32 | merged id */
    int32_t *made_at; /* [n_tokens] the rank of the first merge that makes the token; -1: none */
    char byte_chars[256][3]; /* byte -> its UTF-8 character in CLIP's byte alphabet */
    int32_t byte_id[256], byte_end_id[256]; /* id of that character, and with "</w>" */
    int32_t sot, eot;
    pcre2_code *re;
    locale_t utf8_locale;
};

/* ---- maps ---------------------------------------------------------------------------- */

/* Token strings are keyed by their 64-bit hash, kept clear of the map's reserved keys;
 * lookups compare the string itself, so a colliding word is simply not found. */
static uint64_t token_key(const char *s, size_t len) {
    uint64_t h = XXH3_64bits(s, len);
    return h == 0 || h == UINT64_MAX ? 1 : h;
}

static int32_t vocab_get(const vx_tokenizer *t, const char *s, size_t len) {
    uint64_t id;
    if (!vx_idmap_get(&t->vocab, token_key(s, len), &id)) return -1;
    return strlen(t->tokens[id]) == len && memcmp(t->tokens[id], s, len) == 0 ? (int32_t)id : -1;
}

/* Ids are below 2^31, so the packed pair is never 0 once shifted by one. */
static uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1; }

/* ---- building ------------------------------------------------------------------------ */

static void make_byte_alphabet(vx_tokenizer *t, int order[256]) {
    /* bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other bytes to
     * 256, 257, ... in byte order. `order` lists bytes in the vocabulary's order. */
    int n = 0, extra = 0;
    int printable[256] = {0};
    for (int b = '!'; b <= '~'; b++) printable[b] = 1;
    for (int b = 0xA1; b <= 0xAC; b++) printable[b] = 1;
    for (int b = 0xAE; b <= 0xFF; b++) printable[b] = 1;
    for (int b = 0; b < 256; b++)
        if (printable[b]) order[n++] = b;
    for (int b = 0; b < 256; b++)
        if (!printable[b]) order[n++] = b;
    for (int b = 0; b < 256; b++) {
        uint32_t cp = printable[b] ? (uint32_t)b : (uint32_t)(256 + extra++);
        size_t k = vx_utf8_encode(cp, t->byte_chars[b]);
        t->byte_chars[b][k] = '\0';
    }
}

void vx_tokenizer_free(vx_tokenizer *t) {
    if (!t) return;
    for (int i = 0; t->tokens && i < t->n_tokens; i++) free(t->tokens[i]);
    free(t->tokens);
    vx_idmap_free(&t->vocab);
    free(t->merges);
    free(t->made_at);
    vx_idmap_free(&t->pairs);
    if (t->re) pcre2_code_free(t->re);
    if (t->utf8_locale) freelocale(t->utf8_locale);
    free(t);
}

static vx_tokenizer *tokenizer_new(int order[256]) {
    vx_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    make_byte_alphabet(t, order);
    return t;
}

/* Finishes loading once tokens[] and the merge strings are known: builds the maps,
 * resolves merges to ids, finds the special tokens, compiles the pattern. */
static int finish(vx_tokenizer *t, char **merge_lines, const char *source, vx_error *err) {
    if (vx_idmap_init(&t->vocab, (size_t)t->n_tokens)) return vx_fail(err, "out of memory");
    for (int32_t id = 0; id < t->n_tokens; id++) {
        const char *s = t->tokens[id];
        uint64_t key = token_key(s, strlen(s)), other;
        if (vx_idmap_get(&t->vocab, key, &other))
            return strcmp(t->tokens[other], s) == 0
                       ? vx_fail(err, "%s: token \"%s\" appears twice", source, s)
                       : vx_fail(err, "%s: tokens \"%s\" and \"%s\" have the same 64-bit hash", source, s,
                                 t->tokens[other]);
        vx_idmap_put(&t->vocab, key, (uint64_t)id); /* sized for n_tokens: never grows */
    }
    t->merges = malloc((size_t)(t->n_merges ? t->n_merges : 1) * sizeof *t->merges);
    t->made_at = malloc((size_t)(t->n_tokens ? t->n_tokens : 1) * sizeof *t->made_at);
    if (t->made_at) memset(t->made_at, 0xff, (size_t)t->n_tokens * sizeof *t->made_at);
    if (!t->merges || !t->made_at || vx_idmap_init(&t->pairs, (size_t)t->n_merges)) return vx_fail(err, "out of memory");
    char joined[1024];
    for (int r = 0; r < t->n_merges; r++) {
        char *line = merge_lines[r], *sp = strchr(line, ' ');
        if (!sp || strchr(sp + 1, ' ') || sp == line || !sp[1])
            return vx_fail(err, "%s: merge %d \"%s\" is not two tokens separated by one space", source, r + 1, line);
        size_t la = (size_t)(sp - line), lb = strlen(sp + 1);
        if (la + lb >= sizeof joined) return vx_fail(err, "%s: merge %d is too long", source, r + 1);
        int32_t a = vocab_get(t, line, la), b = vocab_get(t, sp + 1, lb);
        memcpy(joined, line, la);
        memcpy(joined + la, sp + 1, lb);
        int32_t m = vocab_get(t, joined, la + lb);
        if (a < 0 || b < 0 || m < 0)
            return vx_fail(err, "%s: merge %d \"%s\" uses or makes a token missing from the vocabulary", source, r + 1, line);
        t->merges[r][0] = a;
        t->merges[r][1] = b;
        if (t->made_at[m] < 0) t->made_at[m] = r;
        if (!vx_idmap_get(&t->pairs, pair_key(a, b), NULL)) /* first (best) rank wins */
            vx_idmap_put(&t->pairs, pair_key(a, b), (uint64_t)r << 32 | (uint32_t)m);
    }
    for (int b = 0; b < 256; b++) {
        char with_end[16];
        snprintf(with_end, sizeof with_end, "%s</w>", t->byte_chars[b]);
        t->byte_id[b] = vocab_get(t, t->byte_chars[b], strlen(t->byte_chars[b]));
        t->byte_end_id[b] = vocab_get(t, with_end, strlen(with_end));
        if (t->byte_id[b] < 0 || t->byte_end_id[b] < 0)
            return vx_fail(err, "%s: the vocabulary lacks the byte token for 0x%02x", source, b);
    }
    t->sot = vocab_get(t, SOT_TEXT, strlen(SOT_TEXT));
    t->eot = vocab_get(t, EOT_TEXT, strlen(EOT_TEXT));
    if (t->sot < 0 || t->eot < 0) return vx_fail(err, "%s: the vocabulary lacks %s or %s", source, SOT_TEXT, EOT_TEXT);
    int code;
    PCRE2_SIZE off;
    t->re = pcre2_compile((PCRE2_SPTR)PATTERN, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &code, &off, NULL);
    if (!t->re) return vx_fail(err, "tokenizer pattern does not compile (PCRE2 error %d)", code);
    pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE); /* optional speed-up */
    t->utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    if (!t->utf8_locale) return vx_fail(err, "the C.UTF-8 locale is not available for lower-casing");
    return 0;
}

/* Reads a whole file; caller frees. */
static char *slurp(const char *path, size_t *len, vx_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) { vx_fail(err, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *b2 = cap > (256u << 20) ? NULL : realloc(buf, 2 * cap + 1);
            if (!b2) { free(buf); buf = NULL; break; }
            buf = b2;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) { vx_fail(err, "%s: too large or out of memory", path); return NULL; }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Splits text into lines in place (LF or CRLF); returns the count. */
static int split_lines(char *text, char ***lines_out) {
    int n = 0, cap = 1024;
    char **lines = malloc((size_t)cap * sizeof *lines);
    for (char *p = text; lines && *p;) {
        char *nl = strchr(p, '\n');
        if (nl) { *nl = '\0'; if (nl > p && nl[-1] == '\r') nl[-1] = '\0'; }
        if (n == cap) {
            char **l2 = realloc(lines, (size_t)(cap *= 2) * sizeof *l2);
            if (!l2) { free(lines); lines = NULL; break; }
            lines = l2;
        }
        lines[n++] = p;
        if (!nl) break;
        p = nl + 1;
    }
    *lines_out = lines;
    return lines ? n : -1;
}

static vx_tokenizer *load_hf(const char *vocab_path, const char *merges_path, vx_error *err) {
    int order[256];
    vx_tokenizer *t = tokenizer_new(order);
    json_t *root = NULL;
    char *text = NULL, **lines = NULL;
    json_error_t jerr;
    if (!t) { vx_fail(err, "out of memory"); return NULL; }
    root = json_load_file(vocab_path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        vx_fail(err, "%s: %s", vocab_path, root ? "not a JSON object" : jerr.text);
        goto fail;
    }
    t->n_tokens = (int)json_object_size(root);
    if (t->n_tokens < 258 || t->n_tokens > (1 << 22)) {
        vx_fail(err, "%s: %d tokens is not a CLIP vocabulary", vocab_path, t->n_tokens);
        goto fail;
    }
    t->tokens = calloc((size_t)t->n_tokens, sizeof *t->tokens);
    if (!t->tokens) { vx_fail(err, "out of memory"); goto fail; }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        json_int_t id = json_is_integer(val) ? json_integer_value(val) : -1;
        if (id < 0 || id >= t->n_tokens || t->tokens[id]) {
            vx_fail(err, "%s: token \"%s\" has a missing, repeated or out-of-range id", vocab_path, key);
            goto fail;
        }
        if (!(t->tokens[id] = strdup(key))) { vx_fail(err, "out of memory"); goto fail; }
    }
    size_t len;
    if (!(text = slurp(merges_path, &len, err))) goto fail;
    int n = split_lines(text, &lines);
    if (n < 0) { vx_fail(err, "out of memory"); goto fail; }
    int first = (n > 0 && strncmp(lines[0], "#version", 8) == 0) ? 1 : 0;
    while (n > first && lines[n - 1][0] == '\0') n--; /* trailing newline */
    t->n_merges = n - first;
    if (finish(t, lines + first, merges_path, err)) goto fail;
    json_decref(root);
    free(lines);
    free(text);
    return t;
fail:
    json_decref(root);
    free(lines);
    free(text);
    vx_tokenizer_free(t);
    return NULL;
}

vx_tokenizer *vx_tokenizer_load_bpe_gz(const char *path, vx_error *err) {
    int order[256];
    vx_tokenizer *t = tokenizer_new(order);
    char *text = NULL, **lines = NULL;
    if (!t) { vx_fail(err, "out of memory"); return NULL; }
    gzFile gz = gzopen(path, "rb");
    if (!gz) { vx_fail(err, "%s: cannot open: %s", path, strerror(errno)); goto fail; }
    size_t cap = 2 << 20, n = 0;
    text = malloc(cap + 1);
    int r;
    while (text && (r = gzread(gz, text + n, (unsigned)(cap - n))) > 0) {
        n += (size_t)r;
        if (n == cap) {
            char *b2 = cap > (64u << 20) ? NULL : realloc(text, 2 * cap + 1);
            if (!b2) { free(text); text = NULL; break; }
            text = b2;
            cap *= 2;
        }
    }
    int gz_bad = r < 0;
    gzclose(gz);
    if (!text || gz_bad) { vx_fail(err, "%s: not a readable gzip file", path); goto fail; }
    text[n] = '\0';
    int nl = split_lines(text, &lines);
    if (nl < OPENAI_MERGES + 1) {
        vx_fail(err, "%s: %d lines, expected at least %d", path, nl, OPENAI_MERGES + 1);
        goto fail;
    }
    /* simple_tokenizer.py: merges = lines[1 : 49152-256-2+1]; the vocabulary is the byte
     * alphabet, the same with "</w>", every merge joined, then the two special tokens. */
    t->n_merges = OPENAI_MERGES;
    t->n_tokens = 512 + t->n_merges + 2;
    t->tokens = calloc((size_t)t->n_tokens, sizeof *t->tokens);
    if (!t->tokens) { vx_fail(err, "out of memory"); goto fail; }
    int id = 0;
    for (int i = 0; i < 256; i++) t->tokens[id++] = strdup(t->byte_chars[order[i]]);
    for (int i = 0; i < 256; i++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%s</w>", t->byte_chars[order[i]]);
        t->tokens[id++] = strdup(buf);
    }
    for (int i = 0; i < t->n_merges; i++) {
        const char *line = lines[1 + i], *sp = strchr(line, ' ');
        if (!sp) { vx_fail(err, "%s: line %d is not a merge", path, i + 2); goto fail; }
        size_t la = (size_t)(sp - line);
        char *joined = malloc(strlen(line));
        if (!joined) { vx_fail(err, "out of memory"); goto fail; }
        memcpy(joined, line, la);
        strcpy(joined + la, sp + 1);
        t->tokens[id++] = joined;
    }
    t->tokens[id++] = strdup(SOT_TEXT);
    t->tokens[id++] = strdup(EOT_TEXT);
    for (int i = 0; i < t->n_tokens; i++)
        if (!t->tokens[i]) { vx_fail(err, "out of memory"); goto fail; }
    if (finish(t, lines + 1, path, err)) goto fail;
    free(lines);
    free(text);
    return t;
fail:
    free(lines);
    free(text);
    vx_tokenizer_free(t);
    return NULL;
}

vx_tokenizer *vx_tokenizer_load(const char *dir, vx_error *err) {
    vx_path vocab, merges, gz;
    struct stat sb;
    if (vx_path_fmt(vocab, err, "%s/vocab.json", dir) || vx_path_fmt(merges, err, "%s/merges.txt", dir) ||
        vx_path_fmt(gz, err, "%s/bpe_simple_vocab_16e6.txt.gz", dir))
        return NULL;
    if (stat(vocab, &sb) == 0 && stat(merges, &sb) == 0) return load_hf(vocab, merges, err);
    if (stat(gz, &sb) == 0) return vx_tokenizer_load_bpe_gz(gz, err);
    vx_fail(err, "no tokenizer files: need vocab.json and merges.txt, or bpe_simple_vocab_16e6.txt.gz");
    return NULL;
}

int vx_tokenizer_vocab_size(const vx_tokenizer *t) { return t->n_tokens; }
int32_t vx_tokenizer_sot(const vx_tokenizer *t) { return t->sot; }
int32_t vx_tokenizer_eot(const vx_tokenizer *t) { return t->eot; }
const char *vx_tokenizer_token(const vx_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_tokens ? t->tokens[id] : NULL;
}

/* ---- text cleanup -------------------------------------------------------------------- */

/* Python's str.isspace(). */
static int is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Named character references: the common ones. `legacy` ones also match without ';',
 * as in HTML5 and Python's html.unescape. */
static const struct { const char *name; uint32_t cp; int legacy; } entities[] = {
    {"amp", '&', 1},      {"lt", '<', 1},        {"gt", '>', 1},         {"quot", '"', 1},
    {"apos", '\'', 0},    {"nbsp", 0xa0, 1},     {"copy", 0xa9, 1},      {"reg", 0xae, 1},
    {"deg", 0xb0, 1},     {"middot", 0xb7, 1},   {"laquo", 0xab, 1},     {"raquo", 0xbb, 1},
    {"eacute", 0xe9, 1},  {"egrave", 0xe8, 1},   {"aacute", 0xe1, 1},    {"agrave", 0xe0, 1},
    {"iacute", 0xed, 1},  {"oacute", 0xf3, 1},   {"uacute", 0xfa, 1},    {"ntilde", 0xf1, 1},
    {"ouml", 0xf6, 1},    {"uuml", 0xfc, 1},     {"auml", 0xe4, 1},      {"ccedil", 0xe7, 1},
    {"szlig", 0xdf, 1},   {"times", 0xd7, 1},    {"divide", 0xf7, 1},    {"pound", 0xa3, 1},
    {"euro", 0x20ac, 0},  {"trade", 0x2122, 0},  {"hellip", 0x2026, 0},  {"mdash", 0x2014, 0},
    {"ndash", 0x2013, 0}, {"lsquo", 0x2018, 0},  {"rsquo", 0x2019, 0},   {"ldquo", 0x201c, 0},
    {"rdquo", 0x201d, 0}, {"bull", 0x2022, 0},
};

/* Python's html._invalid_charrefs for 0x80..0x9f (Windows-1252), 0 where it keeps the code. */
static const uint16_t cp1252[32] = {
    0x20ac, 0x81, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8d, 0x017d, 0x8f,
    0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x9d, 0x017e, 0x0178,
};

/* What a numeric reference becomes, as html.unescape decides; 0 means "nothing". */
static uint32_t numeric_ref(uint64_t num, int overflow) {
    if (!overflow && num == 0) return 0xfffd;
    if (!overflow && num == 0x0d) return '\r';
    if (!overflow && num >= 0x80 && num <= 0x9f) return cp1252[num - 0x80];
    if (overflow || (num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return 0xfffd;
    if ((num >= 0x1 && num <= 0x8) || num == 0xb || (num >= 0xe && num <= 0x1f) || (num >= 0x7f && num <= 0x9f) ||
        (num >= 0xfdd0 && num <= 0xfdef) || (num & 0xfffe) == 0xfffe)
        return 0;
    return (uint32_t)num;
}

/* html.unescape of in into out (out must hold strlen(in) * 2 + 1: a reference never
 * grows by more than that). */
static void html_unescape(const char *in, char *out) {
    size_t o = 0;
    for (const char *p = in; *p;) {
        if (*p != '&') { out[o++] = *p++; continue; }
        const char *q = p + 1;
        if (*q == '#') {
            int hex = (q[1] == 'x' || q[1] == 'X');
            const char *d = q + 1 + hex;
            uint64_t num = 0;
            int digits = 0, overflow = 0;
            for (;; d++, digits++) {
                int v = (*d >= '0' && *d <= '9') ? *d - '0'
                        : hex && (*d | 32) >= 'a' && (*d | 32) <= 'f' ? (*d | 32) - 'a' + 10 : -1;
                if (v < 0) break;
                if (num > 0x10ffffff) overflow = 1;
                else num = num * (hex ? 16 : 10) + (uint64_t)v;
            }
            if (digits == 0) { out[o++] = *p++; continue; }
            if (*d == ';') d++;
            uint32_t cp = numeric_ref(num, overflow);
            if (cp) o += vx_utf8_encode(cp, out + o);
            p = d;
            continue;
        }
        /* The longest known name, with ';' or (legacy names) without. */
        int best = -1;
        size_t best_len = 0;
        for (size_t e = 0; e < sizeof entities / sizeof entities[0]; e++) {
            size_t n = strlen(entities[e].name);
            if (strncmp(q, entities[e].name, n) != 0) continue;
            int semi = q[n] == ';';
            if ((semi || entities[e].legacy) && n + (size_t)semi > best_len) { best = (int)e; best_len = n + (size_t)semi; }
        }
        if (best < 0) { out[o++] = *p++; continue; }
        o += vx_utf8_encode(entities[best].cp, out + o);
        p = q + best_len;
    }
    out[o] = '\0';
}

/* whitespace_clean(basic_clean(text)).lower(): collapse whitespace runs to one space,
 * trim, lower-case. in is valid UTF-8; out holds strlen(in) * 2 + 1. */
static void clean_and_lower(const vx_tokenizer *t, const char *in, char *out) {
    size_t o = 0;
    int pending_space = 0;
    for (const char *p = in; *p;) {
        uint32_t cp;
        p += vx_utf8_decode(p, &cp);
        if (is_space(cp)) { pending_space = o > 0; continue; }
        if (pending_space) { out[o++] = ' '; pending_space = 0; }
        uint32_t lower = (uint32_t)towlower_l((wint_t)cp, t->utf8_locale);
        o += vx_utf8_encode(lower, out + o);
    }
    out[o] = '\0';
}

/* ---- BPE ----------------------------------------------------------------------------- */

/* Appends the BPE ids of one pre-token (raw UTF-8 bytes) to ids; returns the new count,
 * stopping at cap. `work` has room for len ids. */
static int bpe(const vx_tokenizer *t, const uint8_t *s, size_t len, int32_t *work, int32_t *ids, int n, int cap) {
    if (len == strlen(SOT_TEXT) && memcmp(s, SOT_TEXT, len) == 0) { if (n < cap) ids[n++] = t->sot; return n; }
    if (len == strlen(EOT_TEXT) && memcmp(s, EOT_TEXT, len) == 0) { if (n < cap) ids[n++] = t->eot; return n; }
    int m = (int)len;
    for (int i = 0; i < m; i++) work[i] = i == m - 1 ? t->byte_end_id[s[i]] : t->byte_id[s[i]];
    while (m > 1) {
        int best_rank = -1;
        int32_t a = 0, b = 0, merged = 0;
        for (int i = 0; i + 1 < m; i++) {
            uint64_t e;
            if (!vx_idmap_get(&t->pairs, pair_key(work[i], work[i + 1]), &e)) continue;
            int rank = (int)(e >> 32);
            if (best_rank < 0 || rank < best_rank) { best_rank = rank; a = work[i]; b = work[i + 1]; merged = (int32_t)(uint32_t)e; }
        }
        if (best_rank < 0) break;
        /* Merge every occurrence of the best pair, left to right. */
        int w = 0;
        for (int i = 0; i < m;) {
            if (i + 1 < m && work[i] == a && work[i + 1] == b) { work[w++] = merged; i += 2; }
            else work[w++] = work[i++];
        }
        m = w;
    }
    for (int i = 0; i < m && n < cap; i++) ids[n++] = work[i];
    return n;
}

int vx_tokenize(const vx_tokenizer *t, const char *text, int32_t *ids, int max_len, vx_error *err) {
    if (max_len < 2) return vx_fail(err, "room for fewer than 2 tokens");
    size_t len = strlen(text);
    if (!vx_utf8_valid(text, len)) return vx_fail(err, "text is not valid UTF-8");
    if (len > (16u << 20)) return vx_fail(err, "text longer than 16 MiB");
    int rc = -1, n = 0;
    /* Content beyond what fits is never looked at: stop once max_len ids exist. */
    const int cap = max_len - 1;
    char *a = malloc(2 * len + 1), *b = malloc(4 * len + 1);
    int32_t *work = malloc((4 * len + 1) * sizeof *work);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->re, NULL);
    if (!a || !b || !work || !md) { vx_fail(err, "out of memory"); goto done; }
    html_unescape(text, a);
    html_unescape(a, b);
    if (!vx_utf8_valid(b, strlen(b))) { vx_fail(err, "text is not valid UTF-8 after unescaping"); goto done; }
    clean_and_lower(t, b, a);
    ids[n++] = t->sot;
    size_t alen = strlen(a), at = 0;
    while (at < alen && n < cap) {
        int r = pcre2_match(t->re, (PCRE2_SPTR)a, alen, at, PCRE2_NO_UTF_CHECK, md, NULL);
        if (r == PCRE2_ERROR_NOMATCH) break;
        if (r < 0) { vx_fail(err, "tokenizer pattern failed (PCRE2 error %d)", r); goto done; }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[1] == ov[0]) { at = ov[1] + 1; continue; } /* cannot happen: no empty alternatives */
        n = bpe(t, (const uint8_t *)a + ov[0], ov[1] - ov[0], work, ids, n, cap);
        at = ov[1];
    }
    ids[n++] = t->eot;
    rc = n;
done:
    pcre2_match_data_free(md);
    free(work);
    free(a);
    free(b);
    return rc;
}

/* ---- saving -------------------------------------------------------------------------- */

int vx_tokenizer_save_hf(const vx_tokenizer *t, const char *dir, vx_error *err) {
    vx_path path;
    if (vx_path_fmt(path, err, "%s/merges.txt", dir) || vx_path_fmt(path, err, "%s/vocab.json", dir)) return -1;
    json_t *vocab = json_object();
    for (int i = 0; vocab && i < t->n_tokens; i++) json_object_set_new(vocab, t->tokens[i], json_integer(i));
    int r = vocab ? json_dump_file(vocab, path, JSON_COMPACT | JSON_PRESERVE_ORDER) : -1;
    json_decref(vocab);
    if (r) return vx_fail(err, "%s: cannot write", path);
    vx_path_fmt(path, err, "%s/merges.txt", dir); /* fits: checked above */
    FILE *f = fopen(path, "w");
    if (!f) return vx_fail(err, "%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "#version: 0.2\n");
    for (int i = 0; i < t->n_merges; i++) fprintf(f, "%s %s\n", t->tokens[t->merges[i][0]], t->tokens[t->merges[i][1]]);
    if (fclose(f)) return vx_fail(err, "%s: write failed", path);
    return 0;
}

int vx_tokenizer_merge_rank(const vx_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_tokens && t->made_at ? t->made_at[id] : -1;
}
