/* vidx engine: whether a query is English (langid.c), for routing it to a text tower: its
 * script, its Latin-script language by trigrams, and how many of its words CLIP's own
 * tokenizer knows whole. Thread-safe; the profiles are set up at the first call. */
#ifndef VX_LANGID_H
#define VX_LANGID_H

#include "../encoder/tokenizer.h"

#define VX_LANGID_MIN_CHARS 10 /* shorter texts (cleaned) say too little to tell by trigrams */

/* What vx_langid_route tells of a query: English (CLIP's text tower reads it), another
 * language (the multilingual tower), or either (both towers, fused). */
typedef enum { VX_LANG_ENGLISH, VX_LANG_OTHER, VX_LANG_UNSURE } vx_lang_guess;

/* Without a language tag: a letter of another script than Latin is another language. A
 * Latin-script text is English when CLIP's tokenizer knows every word of it whole (a
 * single token among its VX_LANGID_CLIP_RANK first merges: words frequent in CLIP's,
 * mostly English, training text), or when it knows most of them (VX_LANGID_KNOWN) and the
 * trigrams do not say otherwise (another language closer than English by less than
 * VX_LANGID_UNSURE). It is another language when the trigrams say so (VX_LANGID_MARGIN) and
 * the tokenizer knows fewer than half its words, or when it is too short for trigrams,
 * knows none and has accented letters ("Küche"). Anything else is unsure. A word with
 * accented letters is never known; a text with them is never English.
 *
 * Measured with CLIP's real vocabulary (test_engine, test_langid; the rates printed there):
 * English class names of Kinetics-700, UCF101, SUN397, Food-101 and CIFAR-100 (1,398 short
 * queries), MSR-VTT test captions (1,000 sentences) and 80 short queries in 16 other
 * languages written for the test. Class names: 916 English, 449 unsure, 33 other (single
 * rare words: "abseiling"); captions: 982, 18, 0; other languages: 3 ("chat noir"), 50,
 * 27. Trigrams alone (margin 0.12) sent 279 of the 1,398 class names to the multilingual
 * tower ("birthday cake", "a man cooking"), and left 27 of the 80 others with CLIP's.
 * The thresholds below were chosen on these sets. */
vx_lang_guess vx_langid_route(const char *text, const vx_tokenizer *clip);

#define VX_LANGID_CLIP_RANK 32000
#define VX_LANGID_KNOWN 0.67
#define VX_LANGID_MARGIN 0.12
#define VX_LANGID_UNSURE 0.06

/* The ISO 639-3 code of the closest of 44 Latin-script languages ("eng", "deu", "spa",
 * ...), and in *margin_over_english how much closer it is than English (a share of the
 * largest distance there is: 0 when it is English). NULL when the text is too short. */
const char *vx_langid_latin(const char *text, double *margin_over_english);

/* Whether cp is a letter of another script than Latin: Greek, Cyrillic, Armenian, Hebrew,
 * Arabic, the Indic scripts, Thai, Lao, Tibetan, Georgian, Hangul, kana, CJK ideographs. */
int vx_langid_other_script(uint32_t cp);

#endif
