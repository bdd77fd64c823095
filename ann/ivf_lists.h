/* vidx ann: in-place access to the lists of a FAISS IVF-Flat index (ann/ivf_lists.cpp). */
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

#ifdef __cplusplus
}
#endif

#endif
