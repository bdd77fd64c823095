/* vidx encoder: label vocabularies and prompt templates for zero-shot tags.
 *
 * The format is OpenAI's data/prompts.md (CLIP repository, MIT): a "## Name" heading per
 * vocabulary, then Python-style lists
 *
 *     classes = [
 *         'abbey',
 *         ['happy', 'smiling'],     # a class with synonyms
 *     ]
 *     templates = [
 *         'a photo of a {}.',
 *     ]
 *
 * Strings in single or double quotes (backslash escapes); "#" starts a comment. A class's
 * name is its first synonym. A label's embedding is the normalised mean of the text
 * tower's embeddings of every template filled with every synonym (prompt ensembling, as
 * OpenAI evaluates zero-shot classification). Operators write their own vocabularies in
 * the same format. The parser takes untrusted bytes (fuzzed: tests/fuzz/fuzz_prompts.c).
 */
#ifndef VX_PROMPTS_H
#define VX_PROMPTS_H

#include <stddef.h>

#include "../common/error.h"

#define VX_VOCAB_MAX_CLASSES 20000
#define VX_VOCAB_MAX_TEMPLATES 128
#define VX_VOCAB_MAX_SYNONYMS 16
#define VX_VOCAB_MAX_STRING 256 /* bytes of a class name, synonym or template */
#define VX_VOCAB_MAX_NAME 64    /* bytes of a vocabulary's name */
#define VX_VOCAB_MAX 64         /* vocabularies in one file */

typedef struct vx_vocab_class {
    char **synonyms; /* [n_synonyms], the first is the class's name */
    int n_synonyms;
} vx_vocab_class;

typedef struct vx_vocabulary {
    char *name;                /* the heading, or the name it was given */
    vx_vocab_class *classes;
    int n_classes;
    char **templates;          /* each with exactly one "{}" */
    int n_templates;
} vx_vocabulary;

typedef struct vx_vocab_set {
    vx_vocabulary *v;
    int n;
} vx_vocab_set;

/* Every section of text that has both lists. origin names the file in messages. -1 with
 * err naming the line and the problem (an unclosed list, a template without "{}", ...). */
int vx_prompts_parse(const char *text, size_t len, const char *origin, vx_vocab_set *out, vx_error *err);
int vx_prompts_load(const char *path, vx_vocab_set *out, vx_error *err);
void vx_vocab_set_clear(vx_vocab_set *s);
void vx_vocabulary_clear(vx_vocabulary *v);
/* Moves vocabulary i of from to the end of to (renamed when name is not NULL). */
int vx_vocab_take(vx_vocab_set *to, vx_vocab_set *from, int i, const char *name);
int vx_vocab_find(const vx_vocab_set *s, const char *name);

/* The prompt for a template and a synonym ("a photo of a {}." + "abbey"), in out. */
void vx_prompt_fill(const char *template_, const char *word, char *out, size_t size);

#endif
