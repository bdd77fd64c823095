/* Fuzz target: vocabulary files (encoder/prompts.c), OpenAI's prompts.md format that
 * operators also write their own vocabularies in. Accepted input must make sense: every
 * vocabulary has a name, classes with a first synonym, templates each with one "{}", all
 * within the limits; refused input says why. Every vocabulary is also handed to the labels
 * module's loader rules (a vocabulary taken over from a set leaves it searchable). */
#include <stdlib.h>
#include <string.h>

#include "../../encoder/prompts.h"
#include "fuzz_seeds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vx_vocab_set set;
    vx_error err;
    err.msg[0] = '\0';
    if (vx_prompts_parse((const char *)data, size, "fuzz.md", &set, &err) != 0) {
        if (!err.msg[0]) abort();
        return 0;
    }
    if (set.n < 0 || set.n > VX_VOCAB_MAX) abort();
    for (int i = 0; i < set.n; i++) {
        const vx_vocabulary *v = &set.v[i];
        if (!v->name || strlen(v->name) > VX_VOCAB_MAX_NAME) abort();
        if (v->n_classes < 1 || v->n_classes > VX_VOCAB_MAX_CLASSES || v->n_templates < 1 ||
            v->n_templates > VX_VOCAB_MAX_TEMPLATES)
            abort();
        for (int c = 0; c < v->n_classes; c++) {
            if (v->classes[c].n_synonyms < 1 || v->classes[c].n_synonyms > VX_VOCAB_MAX_SYNONYMS) abort();
            for (int s = 0; s < v->classes[c].n_synonyms; s++)
                if (!v->classes[c].synonyms[s] || strlen(v->classes[c].synonyms[s]) > VX_VOCAB_MAX_STRING) abort();
        }
        for (int t = 0; t < v->n_templates; t++) {
            const char *hole = strstr(v->templates[t], "{}");
            if (!hole || strstr(hole + 2, "{}") || strlen(v->templates[t]) > VX_VOCAB_MAX_STRING) abort();
            char prompt[2 * VX_VOCAB_MAX_STRING + 8];
            vx_prompt_fill(v->templates[t], v->classes[0].synonyms[0], prompt, sizeof prompt);
            if (strlen(prompt) >= sizeof prompt) abort();
        }
        if (vx_vocab_find(&set, v->name) < 0) abort();
    }
    /* Taking the first vocabulary over leaves the set searchable (labels/ does this). */
    if (set.n > 1) {
        vx_vocab_set taken = {0};
        char *second = strdup(set.v[1].name);
        if (second && vx_vocab_take(&taken, &set, 0, NULL) == 0 && vx_vocab_find(&set, second) < 0) abort();
        free(second);
        vx_vocab_set_clear(&taken);
    }
    vx_vocab_set_clear(&set);
    return 0;
}
