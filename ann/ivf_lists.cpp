/* The one thing vidx needs from FAISS that its C API does not offer: read access, in
 * place, to the vectors and labels of one inverted list of an IVF-Flat index. vidx scans
 * the probed lists itself (ann/ann.c) because Debian's FAISS is a generic build whose
 * list scan is scalar code. Only in-memory lists (ArrayInvertedLists) qualify: their
 * storage is plain arrays and releasing them is a no-op, so the pointers stay valid
 * while the caller holds the index unchanged. */
#include "ivf_lists.h"

#include <faiss/IndexIVFFlat.h>
#include <faiss/invlists/InvertedLists.h>

extern "C" int vx_ivf_flat_list(const FaissIndexIVF *index, size_t list_no, const float **vectors,
                                const int64_t **labels, size_t *size) {
    try {
        /* The C API hands out an IndexIVF* as FaissIndexIVF* (faiss_IndexIVF_cast). */
        auto *ivf = dynamic_cast<const faiss::IndexIVFFlat *>(reinterpret_cast<const faiss::IndexIVF *>(index));
        if (!ivf || list_no >= ivf->nlist || ivf->code_size != sizeof(float) * ivf->d) return -1;
        auto *lists = dynamic_cast<const faiss::ArrayInvertedLists *>(ivf->invlists);
        if (!lists) return -1;
        *size = lists->ids[list_no].size();
        *vectors = reinterpret_cast<const float *>(lists->codes[list_no].data());
        *labels = lists->ids[list_no].data();
        return 0;
    } catch (...) {
        return -1;
    }
}
