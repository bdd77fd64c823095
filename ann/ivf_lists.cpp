/* What vidx needs from FAISS's inverted files that its C API does not offer:
 * - read access, in place, to the vectors and labels of one list of an IVF-Flat index:
 *   vidx scans the probed lists itself (ivf_search.c) because Debian's FAISS is a
 *   generic build whose list scan is scalar code. Only in-memory lists
 *   (ArrayInvertedLists) qualify: their storage is plain arrays and releasing them is a
 *   no-op, so the pointers stay valid while the caller holds the index unchanged;
 * - FAISS's label table (DirectMap::Hashtable): a vector by its label without reading
 *   the database, and removals by label in O(1) instead of a scan of every list. FAISS
 *   then removes only through an IDSelectorArray, which the C API cannot make. */
#include "ivf_lists.h"

#include <omp.h>

#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/invlists/InvertedLists.h>

static const faiss::IndexIVFFlat *ivf_flat(const FaissIndexIVF *index) {
    /* The C API hands out an IndexIVF* as FaissIndexIVF* (faiss_IndexIVF_cast). */
    return dynamic_cast<const faiss::IndexIVFFlat *>(reinterpret_cast<const faiss::IndexIVF *>(index));
}

extern "C" int vx_ivf_flat_list(const FaissIndexIVF *index, size_t list_no, const float **vectors,
                                const int64_t **labels, size_t *size) {
    try {
        auto *ivf = ivf_flat(index);
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

extern "C" int vx_ivf_use_label_table(FaissIndexIVF *index) {
    try {
        auto *ivf = reinterpret_cast<faiss::IndexIVF *>(index);
        if (ivf->direct_map.type != faiss::DirectMap::Hashtable)
            ivf->set_direct_map_type(faiss::DirectMap::Hashtable);
        return 0;
    } catch (...) {
        return -1;
    }
}

extern "C" int vx_ivf_flat_vector(const FaissIndexIVF *index, int64_t label, const float **vector) {
    try {
        auto *ivf = ivf_flat(index);
        if (!ivf || ivf->direct_map.type != faiss::DirectMap::Hashtable) return -1;
        auto *lists = dynamic_cast<const faiss::ArrayInvertedLists *>(ivf->invlists);
        if (!lists) return -1;
        auto it = ivf->direct_map.hashtable.find(label);
        if (it == ivf->direct_map.hashtable.end()) return 1;
        const size_t list_no = faiss::lo_listno(it->second), offset = faiss::lo_offset(it->second);
        if (list_no >= ivf->nlist || offset >= lists->ids[list_no].size()) return -1;
        *vector = reinterpret_cast<const float *>(lists->codes[list_no].data()) + offset * ivf->d;
        return 0;
    } catch (...) {
        return -1;
    }
}

extern "C" int vx_ivf_remove_labels(FaissIndexIVF *index, const int64_t *labels, size_t n, size_t *removed) {
    try {
        auto *ivf = reinterpret_cast<faiss::IndexIVF *>(index);
        faiss::IDSelectorArray sel(n, labels);
        *removed = ivf->remove_ids(sel);
        return 0;
    } catch (...) {
        return -1;
    }
}

extern "C" int vx_ivf_add_assigned(FaissIndexIVF *index, size_t n, const float *x, const int64_t *labels,
                                   const int64_t *lists) {
    /* A few vectors: waking FAISS's OpenMP team for them costs more than the work (the
     * team spins), so the calling thread adds them alone; its setting comes back after. */
    struct one_thread {
        int saved = omp_get_max_threads();
        one_thread() { omp_set_num_threads(1); }
        ~one_thread() { omp_set_num_threads(saved); }
    } guard;
    try {
        auto *ivf = reinterpret_cast<faiss::IndexIVF *>(index);
        for (size_t i = 0; i < n; i++)
            if (lists[i] < 0 || (size_t)lists[i] >= ivf->nlist) return -1;
        ivf->add_core((faiss::Index::idx_t)n, x, labels, lists);
        return 0;
    } catch (...) {
        return -1;
    }
}
