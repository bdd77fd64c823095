/* The FAISS C API built by scripts/setup.sh links and works: an inner-product index
 * with 64-bit ids through an id map, add, search, remove. */
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/MetaIndexes_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>

#include "check.h"

static void test_idmap_flat_inner_product(void) {
    FaissIndex *index = NULL;
    REQUIRE(faiss_index_factory(&index, 4, "IDMap,Flat", METRIC_INNER_PRODUCT) == 0);
    float vecs[3 * 4] = {1, 0, 0, 0, 0, 1, 0, 0, 0.6f, 0.8f, 0, 0};
    idx_t ids[3] = {(idx_t)0x7f2c04a1b3d4e5f6LL, 7, 8};
    CHECK(faiss_Index_add_with_ids(index, 3, vecs, ids) == 0);
    CHECK(faiss_Index_ntotal(index) == 3);
    float q[4] = {0, 1, 0, 0}, dist[2];
    idx_t labels[2];
    CHECK(faiss_Index_search(index, 1, q, 2, dist, labels) == 0);
    CHECK(labels[0] == 7 && labels[1] == 8);
    CHECK(dist[0] > 0.99f && dist[1] > 0.79f && dist[1] < 0.81f);

    FaissIDSelectorBatch *sel = NULL;
    idx_t gone = 7;
    size_t removed = 0;
    REQUIRE(faiss_IDSelectorBatch_new(&sel, 1, &gone) == 0);
    CHECK(faiss_Index_remove_ids(index, (FaissIDSelector *)sel, &removed) == 0 && removed == 1);
    CHECK(faiss_Index_search(index, 1, q, 1, dist, labels) == 0 && labels[0] == 8);
    faiss_IDSelector_free((FaissIDSelector *)sel);

    /* Errors come back as codes with a message, not exceptions. */
    FaissIndex *bad = NULL;
    CHECK(faiss_index_factory(&bad, 4, "NoSuchIndex", METRIC_INNER_PRODUCT) != 0);
    CHECK(faiss_get_last_error() != NULL);
    faiss_Index_free(index);
}

int main(void) {
    RUN(test_idmap_flat_inner_product);
    CHECK_EXIT();
}
