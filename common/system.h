/* vidx common: what the operating system gives, in the forms vidx uses: random bytes,
 * deadlines for timed condition waits, whether a host name is this machine, syncing
 * files and folders, and removing a folder with what it holds. */
#ifndef VX_SYSTEM_H
#define VX_SYSTEM_H

#include <stddef.h>
#include <time.h>

#include "error.h"

/* Fills out with n bytes from /dev/urandom. Returns 0, or -1 when it cannot be read. */
int vx_random_bytes(void *out, size_t n);

/* The CLOCK_REALTIME time `seconds` from now, as pthread_cond_timedwait takes it. */
struct timespec vx_deadline_in(double seconds);

/* 1 for a host (an address, [IPv6], or a name) every address of which is loopback
 * (127/8, ::1), decided from the resolved addresses; a name that does not resolve is not. */
int vx_host_is_loopback(const char *host);

/* 1 for an errno that says the disk takes no writes now (full, over quota, read-only,
 * failing): the write may succeed later, so it is no verdict on what was written. */
int vx_errno_is_storage(int errnum);
/* Bytes free to an unprivileged writer on the file system holding path: 0, or -1 with
 * errno. */
int vx_disk_free(const char *path, unsigned long long *bytes);

/* Makes a file's bytes durable: 0, or -1 with errno. */
int vx_fsync_path(const char *path);
/* Writes a file under a temporary name beside it and renames it into place, so the
 * name never holds half a file; the temporary file goes when anything fails. Returns 0,
 * VX_E_STORAGE when the disk takes no writes (vx_errno_is_storage), else -1. */
int vx_write_file_atomic(const char *path, const void *data, size_t len, vx_error *err);
/* The same for a secret: readable by its owner only (0600) from the start, and durable
 * (synced, then its folder) before it returns. Same returns. */
int vx_write_file_private(const char *path, const void *data, size_t len, vx_error *err);
/* Makes the names in the folder holding path durable (after a rename into it); best
 * effort: a folder that cannot be opened or synced is left as it is. */
void vx_fsync_parent(const char *path);

/* Removes path and, for a folder, everything under it (symbolic links are removed, not
 * followed). 0, or -1 with errno when something could not be removed. */
int vx_remove_tree(const char *path);


#endif
