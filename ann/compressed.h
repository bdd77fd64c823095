/* vidx ann: a compressed vector index with exact re-ranking.
 *
 * A FAISS index of compressed codes (an inverted file with product-quantised or scalar
 * quantised codes, e.g. "IVF4096,PQ64": 64 bytes a vector instead of 2,048) finds
 * candidates; they are re-ranked with their full vectors, which live in a file on disk
 * (memory-mapped, so the page cache holds what is read and the kernel can drop it) rather
 * than in the process's memory. In RAM per vector: the code, FAISS's 8-byte id, the
 * 8-byte label and a label-to-slot table entry.
 *
 * Files (written by vx_cindex_save, each synced; the index file is replaced atomically):
 *   NAME.faiss   the FAISS index; its ids are slots
 *   NAME.vec     "vidxvec1", dim, then dim floats per slot (grows in place; slots of
 *                removed vectors stay until the next rebuild)
 *   NAME.labels  "vidxlab1" (or "vidxlabt": removed codes stay in the index, see
 *                below), slots, live, the .faiss file's hash, then a u64 label per
 *                slot (UINT64_MAX: removed)
 * FastScan indexes ("...,PQ64x4fs": 4-bit codes scanned with SIMD shuffles) cannot
 * remove codes in FAISS 1.7.3; there a removal only marks the slot, searches skip it,
 * and a rebuild drops it (vx_cindex_slots against vx_cindex_count says how many).
 * Labels are any 64-bit values but UINT64_MAX and 0.
 *
 * Not thread-safe for writers: searches may run together (read lock), adds and removals
 * alone (write lock), as ann.c does.
 */
#ifndef VX_COMPRESSED_H
#define VX_COMPRESSED_H

#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"

typedef struct vx_cindex vx_cindex;

/* A new empty index at path (NAME without extension: NAME.vec and NAME.labels are
 * created, truncated), with `factory` (a FAISS index_factory description over inner
 * product) trained on n_train vectors. */
vx_cindex *vx_cindex_create(const char *path, int dim, const char *factory, const float *train, long n_train,
                            vx_error *err);
/* Opens what vx_cindex_save wrote at path; NULL (err says why) when any file is missing,
 * of another dimension, or the three disagree: callers rebuild then. */
vx_cindex *vx_cindex_open(const char *path, int dim, vx_error *err);
void vx_cindex_free(vx_cindex *c);

/* Adds n vectors (dim floats each) under their labels; a label already there is
 * replaced. */
int vx_cindex_add(vx_cindex *c, long n, const float *x, const uint64_t *labels, vx_error *err);
/* Removes the labels present (absent ones are ignored). */
int vx_cindex_remove(vx_cindex *c, long n, const uint64_t *labels, vx_error *err);

/* The k best by exact inner product among `candidates` found in the compressed index
 * (clamped to at least k), best first: labels[i], scores[i]. Returns how many. */
int vx_cindex_search(const vx_cindex *c, const float *q, int k, int candidates, uint64_t *labels, float *scores,
                     vx_error *err);
/* Inverted lists the compressed index visits per search (not while searches run). */
void vx_cindex_set_nprobe(vx_cindex *c, int nprobe);
/* The full vector stored under label: 0, or 1 when absent. */
int vx_cindex_get(const vx_cindex *c, uint64_t label, float *out);

/* Makes all three files durable and consistent. */
int vx_cindex_save(vx_cindex *c, vx_error *err);

int64_t vx_cindex_count(const vx_cindex *c);   /* live vectors */
int64_t vx_cindex_slots(const vx_cindex *c);   /* slots in the files, removed ones included */
/* Bytes of process memory the index holds (codes, ids, labels, table): not the vectors. */
double vx_cindex_ram_bytes(const vx_cindex *c);
/* FAISS's imbalance factor of the inverted lists (1 when even). */
double vx_cindex_list_imbalance(const vx_cindex *c);

#endif
