/* vidx engine: the Latin-script language of a query (langid.c), for routing it to a text
 * tower. Thread-safe; the profiles are set up at the first call. */
#ifndef VX_LANGID_H
#define VX_LANGID_H

#define VX_LANGID_MIN_CHARS 10 /* shorter texts (cleaned) say too little to tell */
/* A query is taken for another language than English when that language is closer by at
 * least this margin. Measured (test_engine, test_langid): of 1,000 MSR-VTT test captions
 * (English) 27 pass it; of 20 short queries in 11 other languages, 17. Below it a query
 * stays with CLIP's tower, which reads English best. */
#define VX_LANGID_MARGIN 0.12

/* The ISO 639-3 code of the closest of 44 Latin-script languages ("eng", "deu", "spa",
 * ...), and in *margin_over_english how much closer it is than English (a share of the
 * largest distance there is: 0 when it is English). NULL when the text is too short. */
const char *vx_langid_latin(const char *text, double *margin_over_english);

#endif
