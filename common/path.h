/* vidx common: paths in one buffer size, built with a check.
 *
 * Every path vidx makes (a data folder's files, a model's, a sidecar beside a video) is a
 * vx_path: PATH_MAX plus room for the suffixes vidx adds, made by vx_path_fmt, which
 * fails rather than cut a path short: a truncated path names another file. */
#ifndef VX_PATH_H
#define VX_PATH_H

#include <limits.h>

#include "error.h"

#define VX_PATH_MAX (PATH_MAX + 256)

typedef char vx_path[VX_PATH_MAX];

/* Formats a path into out: 0, or -1 with err ("path too long: ...") when it does not fit
 * in VX_PATH_MAX bytes or is longer than PATH_MAX (the kernel would refuse it); out is
 * then "". */
int vx_path_fmt(vx_path out, vx_error *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* 1 when path is dir or lies under it (both canonical: absolute, no links, no "..").
 * "/a/bc" is not under "/a/b". */
int vx_path_within(const char *path, const char *dir);

/* Folders of the system that are never media: /proc, /sys, /dev, /etc, /boot. The one
 * path lies in, or NULL. */
const char *vx_path_system_folder(const char *path);

#endif
