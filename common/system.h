/* vidx common: what the operating system gives, in the forms vidx uses: random bytes,
 * deadlines for timed condition waits, and whether a host name is this machine. */
#ifndef VX_SYSTEM_H
#define VX_SYSTEM_H

#include <stddef.h>
#include <time.h>

/* Fills out with n bytes from /dev/urandom. Returns 0, or -1 when it cannot be read. */
int vx_random_bytes(void *out, size_t n);

/* The CLOCK_REALTIME time `seconds` from now, as pthread_cond_timedwait takes it. */
struct timespec vx_deadline_in(double seconds);

/* 1 for loopback hosts: 127.x.y.z, ::1, localhost. */
int vx_host_is_loopback(const char *host);

#endif
