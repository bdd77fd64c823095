/* vidx encoder: CLIP's byte-level BPE tokenizer.
 *
 * Same output as OpenAI's clip/simple_tokenizer.py: the text is cleaned (HTML entities
 * unescaped twice, whitespace runs collapsed, trimmed, lower-cased), split with CLIP's
 * pattern (PCRE2 with Unicode properties), each piece mapped byte by byte to CLIP's
 * byte alphabet with "</w>" closing the word, merged by BPE rank, and framed with
 * <|startoftext|> and <|endoftext|>. Not replicated: ftfy's mojibake repair.
 *
 * Loads vocab.json + merges.txt (Hugging Face) or bpe_simple_vocab_16e6.txt.gz (OpenAI).
 * Read-only after loading; safe to share between threads.
 */
#ifndef VX_TOKENIZER_H
#define VX_TOKENIZER_H

#include <stdint.h>

#include "../common/error.h"

typedef struct vx_tokenizer vx_tokenizer;

/* Loads from a model folder: vocab.json + merges.txt, else bpe_simple_vocab_16e6.txt.gz. */
vx_tokenizer *vx_tokenizer_load(const char *dir, vx_error *err);
/* Loads OpenAI's gzip merges file directly. */
vx_tokenizer *vx_tokenizer_load_bpe_gz(const char *path, vx_error *err);
void vx_tokenizer_free(vx_tokenizer *t);

int vx_tokenizer_vocab_size(const vx_tokenizer *t);
int32_t vx_tokenizer_sot(const vx_tokenizer *t);
int32_t vx_tokenizer_eot(const vx_tokenizer *t);

/* Writes the ids of text, start and end tokens included, into ids[max_len]; a longer
 * text is cut to max_len with the end token kept last. Returns the count (>= 2), or -1
 * with err (invalid UTF-8, max_len < 2). */
int vx_tokenize(const vx_tokenizer *t, const char *text, int32_t *ids, int max_len, vx_error *err);

/* The token string of an id (CLIP's byte alphabet, "</w>" kept), or NULL. */
const char *vx_tokenizer_token(const vx_tokenizer *t, int32_t id);

/* The rank of the merge that makes token id (0 the first learned, so the most frequent pair
 * of CLIP's training text), or -1 for the byte alphabet and the special tokens. */
int vx_tokenizer_merge_rank(const vx_tokenizer *t, int32_t id);

/* Writes vocab.json and merges.txt in the Hugging Face layout into dir. */
int vx_tokenizer_save_hf(const vx_tokenizer *t, const char *dir, vx_error *err);

#endif
