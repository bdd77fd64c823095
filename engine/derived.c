/* vidx engine: derived state that is not an op. Rendition records are made by each
 * serving node from its own files (media.c) and never go through a cluster's log, so they
 * are not changes of state in the apply's sense (apply.c); this is the one other path by
 * which the engine writes the catalog. No op reads them, so apply_lock is not needed. */
#include "engine_internal.h"

int vx_engine_write_rendition(vx_engine *e, const vx_rendition *r, uint64_t forget_hash, vx_error *err) {
    vx_batch *b = vx_batch_new();
    if (!b) return vx_fail(err, "out of memory");
    if (r) vx_batch_put_rendition(b, r);
    else vx_batch_delete_rendition(b, forget_hash);
    const int rc = vx_catalog_write(e->cat, b, err);
    vx_batch_free(b);
    return rc;
}
