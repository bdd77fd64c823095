/* vidx common: faults on demand, for tests of what vidx does when something fails that
 * cannot be made to fail from outside (an index update, a commit).
 *
 * VIDX_FAILPOINTS=name[:count][,name[:count]...] makes vx_failpoint(name) true, every
 * time or for its first `count` calls. Unset (always, outside tests), it is one load and
 * a branch. */
#ifndef VX_FAILPOINT_H
#define VX_FAILPOINT_H

int vx_failpoint(const char *name);

#endif
