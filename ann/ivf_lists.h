/* vidx ann: what the FAISS C API lacks for inverted files (ann/ivf_lists.cpp): in-place
 * access to the lists of an IVF-Flat index, and FAISS's table from labels to their
 * place in the lists. */
#ifndef VX_IVF_LISTS_H
#define VX_IVF_LISTS_H

#include <stddef.h>
#include <stdint.h>

#include <faiss/c_api/IndexIVF_c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The vectors (size x d floats, row-major) and labels of inverted list `list_no`, valid
 * until the index next changes. -1 when the index is not an IVF-Flat held in memory or
 * the list does not exist (callers then let FAISS search). */
int vx_ivf_flat_list(const FaissIndexIVF *index, size_t list_no, const float **vectors, const int64_t **labels,
                     size_t *size);

/* Keeps FAISS's label table (DirectMap::Hashtable) from now on, building it from the
 * lists; saved with the index. 0, or -1 when FAISS refuses. */
int vx_ivf_use_label_table(FaissIndexIVF *index);
/* The stored vector (d floats) of `label`, in place, valid until the index next
 * changes: 0 found, 1 not in the index, -1 when the index keeps no label table or is
 * not an IVF-Flat in memory. */
int vx_ivf_flat_vector(const FaissIndexIVF *index, int64_t label, const float **vector);
/* Adds n vectors with their labels to the given lists (the coarse assignment done by
 * the caller: vx_ivf_assign), on the calling thread alone. */
int vx_ivf_add_assigned(FaissIndexIVF *index, size_t n, const float *x, const int64_t *labels, const int64_t *lists);
/* Removes the labels (an index with a label table removes only this way). */
int vx_ivf_remove_labels(FaissIndexIVF *index, const int64_t *labels, size_t n, size_t *removed);

#ifdef __cplusplus
}
#endif

#endif
