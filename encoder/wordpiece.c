#include "wordpiece.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "../common/path.h"
#include "../common/utf8.h"
#include "wordpiece_chars.h"

#define MAX_VOCAB (1 << 22)       /* pieces: BERT-multilingual has 119,547 */
#define MAX_PIECE_BYTES 256       /* a piece longer than this is not a word piece */
#define MAX_ADDED 1024            /* added tokens */
#define MAX_FILE_BYTES (64 << 20) /* tokenizer.json: 2.9 MB for the multilingual model */

typedef struct added_token {
    char *content;
    size_t len;
    int32_t id;
} added_token;

struct vx_wordpiece {
    char **token;           /* [n_ids] by id (NULL: an id no piece has) */
    int32_t n_ids;
    /* piece -> id: open addressing over a power-of-two table of ids (-1 empty) */
    int32_t *slots;
    uint32_t mask;
    added_token *added;     /* matched in the text as they are, longest first */
    int n_added;
    char prefix[16];        /* before pieces inside a word: "##" */
    int max_word_chars;     /* longer words are [UNK] */
    int chinese;            /* handle_chinese_chars */
    int32_t unk, cls, sep;
};

/* ---- the vocabulary ------------------------------------------------------------------------ */

static uint32_t slot_of(const vx_wordpiece *t, const char *s, size_t n) {
    return (uint32_t)XXH3_64bits(s, n) & t->mask;
}

/* The id of the piece s[0..n), or -1. */
static int32_t lookup(const vx_wordpiece *t, const char *s, size_t n) {
    for (uint32_t i = slot_of(t, s, n);; i = (i + 1) & t->mask) {
        const int32_t id = t->slots[i];
        if (id < 0) return -1;
        const char *p = t->token[id];
        if (strlen(p) == n && memcmp(p, s, n) == 0) return id;
    }
}

/* Room for n pieces, the table at most half full. */
static int alloc_table(vx_wordpiece *t, size_t n_pieces, int32_t n_ids) {
    uint32_t size = 16;
    while (size < 2 * n_pieces) size <<= 1;
    t->slots = malloc((size_t)size * sizeof *t->slots);
    t->token = calloc((size_t)n_ids, sizeof *t->token);
    if (!t->slots || !t->token) return -1;
    memset(t->slots, 0xff, (size_t)size * sizeof *t->slots);
    t->mask = size - 1;
    t->n_ids = n_ids;
    return 0;
}

/* Adds piece (copied) as id: -1 with err when either is taken or the piece is bad. */
static int add_piece(vx_wordpiece *t, const char *piece, int32_t id, vx_error *err) {
    const size_t n = strlen(piece);
    if (n == 0 || n > MAX_PIECE_BYTES || !vx_utf8_valid(piece, n))
        return vx_fail(err, "vocabulary: piece %d is empty, longer than %d bytes, or not UTF-8", (int)id, MAX_PIECE_BYTES);
    if (id < 0 || id >= t->n_ids || t->token[id]) return vx_fail(err, "vocabulary: id %d is out of range or given twice", (int)id);
    if (lookup(t, piece, n) >= 0) return vx_fail(err, "vocabulary: piece \"%.64s\" is listed twice", piece);
    if (!(t->token[id] = strdup(piece))) return vx_fail(err, "out of memory");
    uint32_t i = slot_of(t, piece, n);
    while (t->slots[i] >= 0) i = (i + 1) & t->mask;
    t->slots[i] = id;
    return 0;
}

void vx_wordpiece_free(vx_wordpiece *t) {
    if (!t) return;
    for (int32_t i = 0; t->token && i < t->n_ids; i++) free(t->token[i]);
    free(t->token);
    free(t->slots);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    free(t);
}

int vx_wordpiece_vocab_size(const vx_wordpiece *t) { return t->n_ids; }

const char *vx_wordpiece_token(const vx_wordpiece *t, int32_t id) {
    return id >= 0 && id < t->n_ids ? t->token[id] : NULL;
}

/* ---- tokenizer.json ------------------------------------------------------------------------- */

static vx_wordpiece *new_tokenizer(void) {
    vx_wordpiece *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    snprintf(t->prefix, sizeof t->prefix, "##");
    t->max_word_chars = 100;
    t->chinese = 1;
    t->unk = t->cls = t->sep = -1;
    return t;
}

/* A boolean field: 0/1, def when absent or null, -1 when something else. */
static int get_bool(const json_t *o, const char *key, int def) {
    const json_t *v = json_object_get(o, key);
    return !v || json_is_null(v) ? def : json_is_boolean(v) ? json_is_true(v) : -1;
}

static int type_is(const json_t *o, const char *type) {
    const char *s = json_string_value(json_object_get(o, "type"));
    return s && strcmp(s, type) == 0;
}

/* The normaliser and pre-tokenizer: BERT's, with the settings this reads. */
static int read_pipeline(vx_wordpiece *t, const json_t *root, vx_error *err) {
    const json_t *norm = json_object_get(root, "normalizer");
    if (!json_is_object(norm) || !type_is(norm, "BertNormalizer"))
        return vx_fail(err, "normalizer: not a BertNormalizer (vidx reads BERT tokenizers)");
    const int clean = get_bool(norm, "clean_text", 1), chinese = get_bool(norm, "handle_chinese_chars", 1),
              lower = get_bool(norm, "lowercase", 1), strip = get_bool(norm, "strip_accents", lower);
    if (clean != 1) return vx_fail(err, "normalizer: clean_text must be true");
    if (chinese < 0) return vx_fail(err, "normalizer: handle_chinese_chars is not a boolean");
    if (lower != 0 || strip != 0)
        return vx_fail(err, "normalizer: lowercase and strip_accents must be false (a cased model's settings; vidx "
                            "has no Unicode case or decomposition tables)");
    t->chinese = chinese;
    const json_t *pre = json_object_get(root, "pre_tokenizer");
    if (!json_is_object(pre) || !type_is(pre, "BertPreTokenizer"))
        return vx_fail(err, "pre_tokenizer: not a BertPreTokenizer");
    return 0;
}

static int read_model(vx_wordpiece *t, const json_t *model, vx_error *err) {
    if (!json_is_object(model) || (json_object_get(model, "type") && !type_is(model, "WordPiece")))
        return vx_fail(err, "model: not a WordPiece model");
    const json_t *vocab = json_object_get(model, "vocab");
    const size_t n = json_object_size(vocab);
    if (!json_is_object(vocab) || n == 0 || n > MAX_VOCAB)
        return vx_fail(err, "model.vocab: not an object of 1 to %d pieces", MAX_VOCAB);
    json_int_t max_id = -1;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) >= MAX_VOCAB)
            return vx_fail(err, "model.vocab: the id of \"%.64s\" is not an integer from 0 to %d", key, MAX_VOCAB - 1);
        if (json_integer_value(val) > max_id) max_id = json_integer_value(val);
    }
    if (alloc_table(t, n, (int32_t)max_id + 1)) return vx_fail(err, "out of memory");
    json_object_foreach((json_t *)vocab, key, val)
        if (add_piece(t, key, (int32_t)json_integer_value(val), err)) return -1;
    const json_t *prefix = json_object_get(model, "continuing_subword_prefix");
    if (prefix) {
        const char *p = json_string_value(prefix);
        if (!p || strlen(p) >= sizeof t->prefix || !vx_utf8_valid(p, strlen(p)))
            return vx_fail(err, "model.continuing_subword_prefix: not a string of at most %zu bytes", sizeof t->prefix - 1);
        snprintf(t->prefix, sizeof t->prefix, "%s", p);
    }
    const json_t *max = json_object_get(model, "max_input_chars_per_word");
    if (max) {
        if (!json_is_integer(max) || json_integer_value(max) < 1 || json_integer_value(max) > 100000)
            return vx_fail(err, "model.max_input_chars_per_word: not an integer from 1 to 100000");
        t->max_word_chars = (int)json_integer_value(max);
    }
    const char *unk = json_string_value(json_object_get(model, "unk_token"));
    if (!unk || (t->unk = lookup(t, unk, strlen(unk))) < 0) return vx_fail(err, "model.unk_token: not a piece of the vocabulary");
    return 0;
}

/* Added tokens: each a piece of the vocabulary or one more id. */
static int read_added(vx_wordpiece *t, const json_t *added, vx_error *err) {
    if (!added || json_is_null(added)) return 0;
    const size_t n = json_array_size(added);
    if (!json_is_array(added) || n > MAX_ADDED) return vx_fail(err, "added_tokens: not an array of at most %d", MAX_ADDED);
    if (n && !(t->added = calloc(n, sizeof *t->added))) return vx_fail(err, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(added, i), *id = json_object_get(a, "id");
        const char *content = json_string_value(json_object_get(a, "content"));
        if (!content || !*content || strlen(content) > MAX_PIECE_BYTES || !json_is_integer(id) ||
            json_integer_value(id) < 0 || json_integer_value(id) >= t->n_ids ||
            !t->token[json_integer_value(id)] || strcmp(t->token[json_integer_value(id)], content) != 0)
            return vx_fail(err, "added_tokens[%zu]: not a piece of the vocabulary with its id", i);
        if (!(t->added[t->n_added].content = strdup(content))) return vx_fail(err, "out of memory");
        t->added[t->n_added].len = strlen(content);
        t->added[t->n_added++].id = (int32_t)json_integer_value(id);
    }
    return 0;
}

/* The special token's id a post-processor names: ["[CLS]", 101] (BertProcessing), or a
 * TemplateProcessing special_tokens entry. */
static int32_t named_id(const vx_wordpiece *t, const json_t *pair_or_entry) {
    const json_t *id = json_is_array(pair_or_entry) ? json_array_get(pair_or_entry, 1)
                                                    : json_array_get(json_object_get(pair_or_entry, "ids"), 0);
    const json_int_t v = json_is_integer(id) ? json_integer_value(id) : -1;
    return v >= 0 && v < t->n_ids && t->token[v] ? (int32_t)v : -1;
}

/* [CLS] and [SEP]: from the post-processor (BertProcessing, or a template of a special
 * token, the sequence, a special token), else the vocabulary's. */
static int read_post(vx_wordpiece *t, const json_t *post, vx_error *err) {
    if (json_is_object(post) && type_is(post, "BertProcessing")) {
        t->cls = named_id(t, json_object_get(post, "cls"));
        t->sep = named_id(t, json_object_get(post, "sep"));
    } else if (json_is_object(post) && type_is(post, "TemplateProcessing")) {
        const json_t *single = json_object_get(post, "single"), *specials = json_object_get(post, "special_tokens");
        const char *first = json_string_value(json_object_get(json_object_get(json_array_get(single, 0), "SpecialToken"), "id"));
        const char *last = json_string_value(json_object_get(json_object_get(json_array_get(single, 2), "SpecialToken"), "id"));
        const json_t *seq = json_object_get(json_array_get(single, 1), "Sequence");
        if (json_array_size(single) != 3 || !first || !last || !seq)
            return vx_fail(err, "post_processor: a template other than [special] $A [special]");
        t->cls = named_id(t, json_object_get(specials, first));
        t->sep = named_id(t, json_object_get(specials, last));
    } else if (!post || json_is_null(post)) {
        t->cls = lookup(t, "[CLS]", 5);
        t->sep = lookup(t, "[SEP]", 5);
    } else {
        return vx_fail(err, "post_processor: neither BertProcessing nor TemplateProcessing");
    }
    if (t->cls < 0 || t->sep < 0) return vx_fail(err, "post_processor: its special tokens are not in the vocabulary");
    return 0;
}

vx_wordpiece *vx_wordpiece_from_json(const char *text, size_t len, vx_error *err) {
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    vx_wordpiece *t = new_tokenizer();
    int rc = -1;
    if (!t) vx_fail(err, "out of memory");
    else if (!json_is_object(root)) vx_fail(err, "not a JSON object: %s (line %d)", root ? "another value" : jerr.text, jerr.line);
    else if (read_pipeline(t, root, err) == 0 && read_model(t, json_object_get(root, "model"), err) == 0 &&
             read_added(t, json_object_get(root, "added_tokens"), err) == 0 &&
             read_post(t, json_object_get(root, "post_processor"), err) == 0)
        rc = 0;
    json_decref(root);
    if (rc) {
        vx_wordpiece_free(t);
        return NULL;
    }
    return t;
}

/* ---- vocab.txt ------------------------------------------------------------------------------ */

static char *read_file(const char *path, size_t *len, vx_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        vx_fail(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_FILE_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MAX_FILE_BYTES + 1, f) : 0;
    fclose(f);
    if (!buf || n > MAX_FILE_BYTES) {
        free(buf);
        vx_fail(err, buf ? "%s: larger than %d MiB" : "out of memory", path, MAX_FILE_BYTES >> 20);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* vocab.txt (a piece a line, its id the line's number) and tokenizer_config.json (whether
 * it lower-cases, splits CJK characters; BERT's defaults otherwise). */
static vx_wordpiece *load_vocab_txt(const char *dir, vx_error *err) {
    vx_path path;
    size_t len;
    char *text = vx_path_fmt(path, err, "%s/vocab.txt", dir) ? NULL : read_file(path, &len, err);
    if (!text) return NULL;
    vx_wordpiece *t = new_tokenizer();
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    if (len && text[len - 1] != '\n') lines++;
    int rc = !t ? vx_fail(err, "out of memory") : lines == 0 || lines > MAX_VOCAB ? vx_fail(err, "%s: not 1 to %d lines", path, MAX_VOCAB)
             : alloc_table(t, lines, (int32_t)lines) ? vx_fail(err, "out of memory") : 0;
    int32_t id = 0;
    for (char *line = text, *next; rc == 0 && line < text + len; line = next, id++) {
        next = strchr(line, '\n');
        next = next ? next + 1 : text + len;
        size_t n = (size_t)(next - line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        line[n] = '\0';
        if (add_piece(t, line, id, err)) rc = vx_fail_prefix(err, "%s line %d", path, (int)id + 1);
    }
    free(text);
    json_t *cfg = rc == 0 && vx_path_fmt(path, err, "%s/tokenizer_config.json", dir) == 0 ? json_load_file(path, 0, NULL) : NULL;
    if (cfg) {
        const int lower = get_bool(cfg, "do_lower_case", 1), chinese = get_bool(cfg, "tokenize_chinese_chars", 1),
                  strip = get_bool(cfg, "strip_accents", lower);
        if (lower != 0 || strip != 0) rc = vx_fail(err, "%s: do_lower_case and strip_accents must be false (a cased model)", path);
        if (chinese < 0) rc = vx_fail(err, "%s: tokenize_chinese_chars is not a boolean", path);
        t->chinese = chinese;
        json_decref(cfg);
    } else if (rc == 0) {
        rc = vx_fail(err, "%s/tokenizer_config.json: missing or not JSON (without it vocab.txt would be read lower-cased, "
                          "as BERT's default, which vidx does not do)", dir);
    }
    if (rc == 0) {
        t->unk = lookup(t, "[UNK]", 5);
        t->cls = lookup(t, "[CLS]", 5);
        t->sep = lookup(t, "[SEP]", 5);
        if (t->unk < 0 || t->cls < 0 || t->sep < 0) rc = vx_fail(err, "%s/vocab.txt: no [UNK], [CLS] or [SEP]", dir);
    }
    static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    if (rc == 0 && !(t->added = calloc(5, sizeof *t->added))) rc = vx_fail(err, "out of memory");
    for (int i = 0; rc == 0 && i < 5; i++) {
        const int32_t sid = lookup(t, specials[i], strlen(specials[i]));
        if (sid < 0) continue;
        if (!(t->added[t->n_added].content = strdup(specials[i]))) rc = vx_fail(err, "out of memory");
        else {
            t->added[t->n_added].len = strlen(specials[i]);
            t->added[t->n_added++].id = sid;
        }
    }
    if (rc) {
        vx_wordpiece_free(t);
        return NULL;
    }
    return t;
}

vx_wordpiece *vx_wordpiece_load(const char *dir, vx_error *err) {
    vx_path path;
    if (vx_path_fmt(path, err, "%s/tokenizer.json", dir)) return NULL;
    FILE *probe = fopen(path, "rb");
    if (!probe) return load_vocab_txt(dir, err);
    fclose(probe);
    size_t len;
    char *text = read_file(path, &len, err);
    if (!text) return NULL;
    vx_wordpiece *t = vx_wordpiece_from_json(text, len, err);
    free(text);
    if (!t) vx_fail_prefix(err, "%s", path);
    return t;
}

/* ---- encoding ------------------------------------------------------------------------------- */

enum { C_WORD, C_REMOVED, C_SPACE, C_PUNCT, C_CHINESE };

static int in_ranges(const uint32_t (*r)[2], size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        const size_t mid = (lo + hi) / 2;
        if (cp < r[mid][0]) hi = mid;
        else if (cp > r[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

#define RANGES(a) (a), sizeof(a) / sizeof *(a)

static int char_class(const vx_wordpiece *t, uint32_t cp) {
    if (in_ranges(RANGES(WP_REMOVED), cp)) return C_REMOVED;
    if (in_ranges(RANGES(WP_SPACE), cp)) return C_SPACE;
    if (in_ranges(RANGES(WP_PUNCT), cp)) return C_PUNCT;
    if (in_ranges(RANGES(WP_CHINESE), cp)) return t->chinese ? C_CHINESE : C_WORD;
    return C_WORD;
}

typedef struct out_ids {
    int32_t *ids;
    int n, cap; /* cap: room for pieces (the caller's max_len less [CLS] and [SEP]) */
} out_ids;

static void emit(out_ids *o, int32_t id) {
    if (o->n < o->cap) o->ids[o->n++] = id;
}

/* One word (n_chars characters, UTF-8 w[0..len)) as pieces: the longest first. */
static void word_pieces(const vx_wordpiece *t, const char *w, size_t len, int n_chars, out_ids *o) {
    if (n_chars > t->max_word_chars) { emit(o, t->unk); return; }
    const size_t plen = strlen(t->prefix);
    char buf[MAX_PIECE_BYTES + 16];
    int32_t found[MAX_PIECE_BYTES];
    int n_found = 0;
    for (size_t start = 0; start < len;) {
        int32_t id = -1;
        size_t end = len;
        while (end > start) {
            const size_t n = end - start;
            if (n + plen <= MAX_PIECE_BYTES) {
                if (start == 0) id = lookup(t, w, n);
                else {
                    memcpy(buf, t->prefix, plen);
                    memcpy(buf + plen, w + start, n);
                    id = lookup(t, buf, plen + n);
                }
                if (id >= 0) break;
            }
            do end--; while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80); /* a character back */
        }
        if (id < 0 || n_found == MAX_PIECE_BYTES) { emit(o, t->unk); return; } /* no pieces spell it */
        found[n_found++] = id;
        start = end;
    }
    for (int i = 0; i < n_found; i++) emit(o, found[i]);
}

/* Normalised and pre-tokenized s[0..len) (no added tokens in it), word by word. */
static void encode_span(const vx_wordpiece *t, const char *s, size_t len, out_ids *o) {
    char *word = malloc(len * 1 + 8);
    if (!word) return;
    size_t wlen = 0;
    int wchars = 0;
    for (size_t i = 0; i < len && o->n < o->cap;) {
        uint32_t cp;
        const size_t k = vx_utf8_decode(s + i, &cp);
        const int c = char_class(t, cp);
        if (c == C_WORD) {
            memcpy(word + wlen, s + i, k);
            wlen += k;
            wchars++;
        } else if (c != C_REMOVED) {
            if (wlen) word_pieces(t, word, wlen, wchars, o);
            wlen = 0;
            wchars = 0;
            if (c == C_PUNCT || c == C_CHINESE) word_pieces(t, s + i, k, 1, o);
        }
        i += k;
    }
    if (wlen) word_pieces(t, word, wlen, wchars, o);
    free(word);
}

/* The longest added token at s, or NULL. */
static const added_token *added_at(const vx_wordpiece *t, const char *s, size_t left) {
    const added_token *best = NULL;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len <= left && memcmp(s, t->added[i].content, t->added[i].len) == 0 &&
            (!best || t->added[i].len > best->len))
            best = &t->added[i];
    return best;
}

int vx_wordpiece_encode(const vx_wordpiece *t, const char *text, int32_t *ids, int max_len, vx_error *err) {
    if (max_len < 2) return vx_fail(err, "max_len %d leaves no room for [CLS] and [SEP]", max_len);
    const size_t len = strlen(text);
    if (!vx_utf8_valid(text, len)) return vx_fail(err, "the text is not UTF-8");
    out_ids o = {.ids = ids + 1, .cap = max_len - 2};
    size_t span = 0;
    for (size_t i = 0; i < len && o.n < o.cap;) {
        const added_token *a = added_at(t, text + i, len - i);
        if (!a) {
            i++;
            continue;
        }
        encode_span(t, text + span, i - span, &o);
        emit(&o, a->id);
        i += a->len;
        span = i;
    }
    if (span < len) encode_span(t, text + span, len - span, &o);
    ids[0] = t->cls;
    ids[o.n + 1] = t->sep;
    return o.n + 2;
}
