/* vidx ann: vidx's own search of a FAISS IVF-Flat index.
 *
 * Debian's FAISS is a generic build whose inner products are scalar code: scoring the
 * query against the centroids and scanning the probed lists took 80% of an uncached
 * similar-video lookup. This scores both with the AVX2 kernel vx_dot_rows, reading the
 * centroids and the lists in place (ivf_lists.cpp), and keeps the k best as FAISS does
 * (a heap that takes a candidate only when strictly better). Same lists, same hits:
 * tests/test_search.c compares the two.
 */
#ifndef VX_IVF_SEARCH_H
#define VX_IVF_SEARCH_H

#include <stdint.h>

#include <faiss/c_api/IndexIVF_c.h>

#include "../common/error.h"

/* The k nearest vectors to q (inner product) among the index's nprobe best lists: best
 * first into labels and scores; returns how many were found (fewer than k when the
 * probed lists hold fewer), -1 with err when out of memory, or -2 when this search does
 * not apply (not an IVF-Flat in memory with an inner-product flat quantizer, or no
 * AVX2): then FAISS must search. */
int vx_ivf_search(FaissIndexIVF *ivf, const float *q, int k, int64_t *labels, float *scores, vx_error *err);

/* The list a vector belongs to (the centroid of largest inner product, the lower list
 * on ties), scored with vx_dot_rows; -2 when this does not apply (as vx_ivf_search),
 * -1 when out of memory. */
int vx_ivf_assign(FaissIndexIVF *ivf, const float *x, int64_t *list);

#endif
