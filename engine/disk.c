/* vidx engine: the data folder's disk.
 *
 * Bulk writes (a video's thumbnails and vectors, renditions, saving the vector indexes)
 * start only while more than the reserve (opt.disk_reserve, VIDX_DISK_RESERVE_MB) is
 * free beyond what they need, so that a full disk still takes the small writes that
 * matter (events, deletions, job records). Whatever is refused or fails for want of space
 * (ENOSPC, EIO: vx_errno_is_storage, VX_E_STORAGE) is transient: it leaves no "failed"
 * record, and who tried waits and tries again (the job runner, the rendition maker, a
 * cluster's follower), so everything resumes once space returns, without a restart.
 */
#include "engine_internal.h"

#include <stdio.h>

#include "../common/log.h"
#include "../common/status.h"
#include "../common/system.h"

/* How long a writer refused for want of space waits before it looks again: doubling from
 * the first wait to the longest. */
#define DISK_WAIT_FIRST_S 1.0
#define DISK_WAIT_LONGEST_S 30.0

double vx_engine_disk_backoff(double waited_s) {
    const double next = waited_s <= 0 ? DISK_WAIT_FIRST_S : waited_s * 2;
    return next < DISK_WAIT_LONGEST_S ? next : DISK_WAIT_LONGEST_S;
}

int vx_engine_disk_room(vx_engine *e, uint64_t need, const char *what, vx_error *err) {
    unsigned long long free_bytes;
    if (vx_disk_free(e->data_dir, &free_bytes) != 0) return VX_OK; /* unknown: the write says */
    if (free_bytes >= need + e->opt.disk_reserve) return VX_OK;
    vx_fail(err, "%s waits: the disk holding %s has %llu MiB free, less than %llu MiB needed and the %llu MiB "
                 "kept free (VIDX_DISK_RESERVE_MB)",
            what, e->data_dir, free_bytes >> 20, (unsigned long long)(need >> 20),
            (unsigned long long)(e->opt.disk_reserve >> 20));
    return VX_E_STORAGE;
}

const char *vx_engine_disk_state(vx_engine *e, uint64_t *free_out) {
    unsigned long long free_bytes = 0;
    const int known = vx_disk_free(e->data_dir, &free_bytes) == 0;
    if (free_out) *free_out = free_bytes;
    if (known && free_bytes < e->opt.disk_reserve) return "full";
    /* Room again after a failed write: the catalog is opened again now rather than at
     * the next write, so the state says what a write would find. */
    return vx_catalog_recover(e->cat) ? "failing" : "ok";
}
