#include "prompts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/utf8.h"

typedef struct cursor {
    const char *p, *end;
    int line;
    const char *origin;
} cursor;

static int fail_at(const cursor *c, vx_error *err, const char *what) {
    return vx_fail(err, "%s, line %d: %s", c->origin, c->line, what);
}

/* Skips blanks, newlines and # comments. */
static void skip_space(cursor *c) {
    while (c->p < c->end) {
        if (*c->p == '\n') {
            c->line++;
            c->p++;
        } else if (*c->p == ' ' || *c->p == '\t' || *c->p == '\r') {
            c->p++;
        } else if (*c->p == '#') {
            while (c->p < c->end && *c->p != '\n') c->p++;
        } else {
            break;
        }
    }
}

/* A quoted string (either quote, backslash escapes) into a new string. */
static char *read_string(cursor *c, vx_error *err) {
    const char q = *c->p++;
    char buf[VX_VOCAB_MAX_STRING + 1];
    size_t n = 0;
    for (;;) {
        if (c->p >= c->end || *c->p == '\n') {
            fail_at(c, err, "a string is not closed on its line");
            return NULL;
        }
        char ch = *c->p++;
        if (ch == q) break;
        if (ch == '\\') {
            if (c->p >= c->end || *c->p == '\n') {
                fail_at(c, err, "a string ends with a backslash");
                return NULL;
            }
            ch = *c->p++;
            if (ch == 'n' || ch == 't') ch = ' ';
        }
        if ((unsigned char)ch < 0x20) {
            fail_at(c, err, "a string has a control character");
            return NULL;
        }
        if (n == VX_VOCAB_MAX_STRING) {
            fail_at(c, err, "a string is longer than 256 bytes");
            return NULL;
        }
        buf[n++] = ch;
    }
    buf[n] = '\0';
    /* Trimmed; empty strings and text that is not UTF-8 are refused. */
    size_t a = 0;
    while (buf[a] == ' ') a++;
    while (n > a && buf[n - 1] == ' ') buf[--n] = '\0';
    if (n == a) {
        fail_at(c, err, "an empty string");
        return NULL;
    }
    if (!vx_utf8_valid(buf + a, n - a)) {
        fail_at(c, err, "a string is not UTF-8");
        return NULL;
    }
    char *s = strdup(buf + a);
    if (!s) fail_at(c, err, "out of memory");
    return s;
}

static int push_str(char ***arr, int *n, int max, char *s) {
    if (*n >= max) return -1;
    char **a = realloc(*arr, (size_t)(*n + 1) * sizeof *a);
    if (!a) return -1;
    a[(*n)++] = s;
    *arr = a;
    return 0;
}

/* A list of strings after its '[' (nested lists when nested is set, each a class). */
static int read_list(cursor *c, vx_vocabulary *v, int classes, vx_error *err) {
    for (;;) {
        skip_space(c);
        if (c->p >= c->end) return fail_at(c, err, "a list is not closed with ]");
        if (*c->p == ']') {
            c->p++;
            return 0;
        }
        if (classes && *c->p == '[') {
            c->p++;
            vx_vocab_class k = {0};
            for (;;) {
                skip_space(c);
                if (c->p >= c->end) {
                    for (int i = 0; i < k.n_synonyms; i++) free(k.synonyms[i]);
                    free(k.synonyms);
                    return fail_at(c, err, "a class's list of names is not closed with ]");
                }
                if (*c->p == ']') { c->p++; break; }
                if (*c->p != '\'' && *c->p != '"') {
                    for (int i = 0; i < k.n_synonyms; i++) free(k.synonyms[i]);
                    free(k.synonyms);
                    return fail_at(c, err, "expected a quoted name in a class's list");
                }
                char *s = read_string(c, err);
                if (!s || push_str(&k.synonyms, &k.n_synonyms, VX_VOCAB_MAX_SYNONYMS, s)) {
                    if (s) fail_at(c, err, "more than 16 names for one class");
                    free(s);
                    for (int i = 0; i < k.n_synonyms; i++) free(k.synonyms[i]);
                    free(k.synonyms);
                    return -1;
                }
                skip_space(c);
                if (c->p < c->end && *c->p == ',') c->p++;
            }
            if (!k.n_synonyms) {
                free(k.synonyms);
                return fail_at(c, err, "a class without a name");
            }
            vx_vocab_class *a = v->n_classes < VX_VOCAB_MAX_CLASSES
                                    ? realloc(v->classes, (size_t)(v->n_classes + 1) * sizeof *a) : NULL;
            if (!a) {
                for (int i = 0; i < k.n_synonyms; i++) free(k.synonyms[i]);
                free(k.synonyms);
                return fail_at(c, err, "more than 20000 classes, or out of memory");
            }
            v->classes = a;
            v->classes[v->n_classes++] = k;
        } else if (*c->p == '\'' || *c->p == '"') {
            char *s = read_string(c, err);
            if (!s) return -1;
            if (classes) {
                vx_vocab_class k = {.synonyms = malloc(sizeof(char *)), .n_synonyms = 1};
                vx_vocab_class *a = v->n_classes < VX_VOCAB_MAX_CLASSES && k.synonyms
                                        ? realloc(v->classes, (size_t)(v->n_classes + 1) * sizeof *a) : NULL;
                if (!a) {
                    free(s);
                    free(k.synonyms);
                    return fail_at(c, err, "more than 20000 classes, or out of memory");
                }
                k.synonyms[0] = s;
                v->classes = a;
                v->classes[v->n_classes++] = k;
            } else {
                const char *hole = strstr(s, "{}");
                if (!hole || strstr(hole + 2, "{}")) {
                    free(s);
                    return fail_at(c, err, "a template must hold \"{}\" exactly once");
                }
                if (push_str(&v->templates, &v->n_templates, VX_VOCAB_MAX_TEMPLATES, s)) {
                    free(s);
                    return fail_at(c, err, "more than 128 templates, or out of memory");
                }
            }
        } else {
            return fail_at(c, err, "expected a quoted string, a list or ]");
        }
        skip_space(c);
        if (c->p < c->end && *c->p == ',') c->p++;
    }
}

void vx_vocabulary_clear(vx_vocabulary *v) {
    for (int i = 0; i < v->n_classes; i++) {
        for (int j = 0; j < v->classes[i].n_synonyms; j++) free(v->classes[i].synonyms[j]);
        free(v->classes[i].synonyms);
    }
    for (int i = 0; i < v->n_templates; i++) free(v->templates[i]);
    free(v->classes);
    free(v->templates);
    free(v->name);
    memset(v, 0, sizeof *v);
}

void vx_vocab_set_clear(vx_vocab_set *s) {
    for (int i = 0; i < s->n; i++) vx_vocabulary_clear(&s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* Ends the section being read: kept when it has both lists, dropped otherwise. */
static int close_section(vx_vocab_set *out, vx_vocabulary *cur, const cursor *c, vx_error *err) {
    if (cur->name && cur->n_classes && cur->n_templates) {
        if (out->n == VX_VOCAB_MAX) {
            vx_vocabulary_clear(cur);
            return fail_at(c, err, "more than 64 vocabularies in one file");
        }
        vx_vocabulary *a = realloc(out->v, (size_t)(out->n + 1) * sizeof *a);
        if (!a) {
            vx_vocabulary_clear(cur);
            return fail_at(c, err, "out of memory");
        }
        out->v = a;
        out->v[out->n++] = *cur;
        memset(cur, 0, sizeof *cur);
        return 0;
    }
    vx_vocabulary_clear(cur);
    return 0;
}

static int at_line_start(const cursor *c, const char *start) { return c->p == start || c->p[-1] == '\n'; }

int vx_prompts_parse(const char *text, size_t len, const char *origin, vx_vocab_set *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    cursor c = {.p = text, .end = text + len, .line = 1, .origin = origin};
    vx_vocabulary cur = {0};
    while (c.p < c.end) {
        if (at_line_start(&c, text) && c.end - c.p >= 3 && memcmp(c.p, "## ", 3) == 0) {
            if (close_section(out, &cur, &c, err)) goto fail;
            c.p += 3;
            const char *s = c.p;
            while (c.p < c.end && *c.p != '\n') c.p++;
            size_t n = (size_t)(c.p - s);
            while (n && (s[n - 1] == ' ' || s[n - 1] == '\r')) n--;
            while (n && *s == ' ') { s++; n--; }
            if (!n || n > VX_VOCAB_MAX_NAME || !vx_utf8_valid(s, n)) {
                fail_at(&c, err, "a heading must be a name of 1 to 64 bytes of UTF-8");
                goto fail;
            }
            if (!(cur.name = strndup(s, n))) { fail_at(&c, err, "out of memory"); goto fail; }
            continue;
        }
        int which = 0; /* 1 classes, 2 templates */
        if (at_line_start(&c, text)) {
            const char *q = c.p;
            while (q < c.end && (*q == ' ' || *q == '\t')) q++;
            if (c.end - q >= 7 && memcmp(q, "classes", 7) == 0) which = 1, c.p = q + 7;
            else if (c.end - q >= 9 && memcmp(q, "templates", 9) == 0) which = 2, c.p = q + 9;
        }
        if (!which) {
            if (*c.p == '\n') c.line++;
            c.p++;
            continue;
        }
        while (c.p < c.end && (*c.p == ' ' || *c.p == '\t')) c.p++;
        if (c.p >= c.end || *c.p != '=') continue; /* prose that starts with the word */
        c.p++;
        skip_space(&c);
        if (c.p >= c.end || *c.p != '[') { fail_at(&c, err, "expected [ after ="); goto fail; }
        c.p++;
        if (!cur.name) { fail_at(&c, err, "a list before any \"## Name\" heading"); goto fail; }
        if ((which == 1 ? cur.n_classes : cur.n_templates) > 0) {
            fail_at(&c, err, which == 1 ? "a second list of classes in one section" : "a second list of templates in one section");
            goto fail;
        }
        if (read_list(&c, &cur, which == 1, err)) goto fail;
    }
    if (close_section(out, &cur, &c, err)) goto fail;
    return 0;
fail:
    vx_vocabulary_clear(&cur);
    vx_vocab_set_clear(out);
    return -1;
}

int vx_prompts_load(const char *path, vx_vocab_set *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return vx_fail(err, "%s: %s", path, strerror(errno));
    char *text = malloc((4u << 20) + 1);
    size_t n = text ? fread(text, 1, (4u << 20) + 1, f) : 0;
    const int bad = ferror(f);
    fclose(f);
    if (!text) return vx_fail(err, "out of memory");
    if (bad || n > (4u << 20)) {
        free(text);
        return vx_fail(err, "%s: %s", path, bad ? "cannot read it" : "larger than 4 MiB");
    }
    const int r = vx_prompts_parse(text, n, path, out, err);
    free(text);
    return r;
}

int vx_vocab_take(vx_vocab_set *to, vx_vocab_set *from, int i, const char *name) {
    vx_vocabulary *a = realloc(to->v, (size_t)(to->n + 1) * sizeof *a);
    if (!a) return -1;
    to->v = a;
    vx_vocabulary v = from->v[i];
    if (name) {
        char *n = strdup(name);
        if (!n) return -1;
        free(v.name);
        v.name = n;
    }
    to->v[to->n++] = v;
    memmove(from->v + i, from->v + i + 1, (size_t)(from->n - i - 1) * sizeof *from->v);
    from->n--;
    return 0;
}

int vx_vocab_find(const vx_vocab_set *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (s->v[i].name && strcmp(s->v[i].name, name) == 0) return i; /* a vocabulary taken over has none */
    return -1;
}

void vx_prompt_fill(const char *template_, const char *word, char *out, size_t size) {
    const char *hole = strstr(template_, "{}");
    if (!hole) {
        snprintf(out, size, "%s", template_);
        return;
    }
    snprintf(out, size, "%.*s%s%s", (int)(hole - template_), template_, word, hole + 2);
}
