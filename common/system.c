#include "system.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <limits.h>
#include <stdarg.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "path.h"
#include "status.h"

int vx_random_bytes(void *out, size_t n) {
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t got = read(fd, out, n);
    close(fd);
    return got == (ssize_t)n ? 0 : -1;
}

struct timespec vx_deadline_in(double seconds) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    const long whole = (long)seconds;
    t.tv_sec += (time_t)whole;
    t.tv_nsec += (long)((seconds - (double)whole) * 1e9);
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static int addr_is_loopback(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET) return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family != AF_INET6) return 0;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

int vx_host_is_loopback(const char *host) {
    char bare[256];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') host++, n -= 2; /* [::1] */
    if (n == 0 || n >= sizeof bare) return 0;
    memcpy(bare, host, n);
    bare[n] = '\0';
    /* By what the name resolves to, every address of it: "127.example.net" is a name
     * like any other. A name that does not resolve is not loopback. */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(bare, NULL, &hints, &res) != 0 || !res) return 0;
    int all = 1;
    for (struct addrinfo *r = res; r && all; r = r->ai_next) all = addr_is_loopback(r->ai_addr);
    freeaddrinfo(res);
    return all;
}

int vx_fsync_path(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return r;
}

void vx_fsync_parent(const char *path) {
    vx_path dir;
    if (vx_path_fmt(dir, NULL, "%s", path)) return;
    int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) ? -1 : 0;
}

int vx_remove_tree(const char *path) { return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

int vx_errno_is_storage(int errnum) {
    return errnum == ENOSPC || errnum == EDQUOT || errnum == EIO || errnum == EROFS;
}

int vx_disk_free(const char *path, unsigned long long *bytes) {
    struct statvfs sv;
    if (statvfs(path, &sv) != 0) return -1;
    *bytes = (unsigned long long)sv.f_bavail * (unsigned long long)sv.f_frsize;
    return 0;
}

/* The failure of writing path (errno e): its temporary file removed. */
static int write_failed(const char *tmp, const char *path, int e, vx_error *err) {
    unlink(tmp);
    vx_fail(err, "%s: cannot write: %s", path, strerror(e));
    return vx_errno_is_storage(e) ? VX_E_STORAGE : -1;
}

static int write_all(int fd, const void *data, size_t len) {
    for (size_t off = 0; off < len;) {
        const ssize_t w = write(fd, (const char *)data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

/* Writes data to a new file beside path (mode), optionally synced, and renames it into place. */
static int write_aside(const char *path, const void *data, size_t len, int mode, int sync, vx_error *err) {
    vx_path tmp;
    if (vx_path_fmt(tmp, err, "%s.tmp.%ld", path, (long)getpid())) return -1;
    unlink(tmp); /* a leftover of a killed run */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) return write_failed(tmp, path, errno, err);
    if (write_all(fd, data, len) || (sync && fsync(fd) != 0)) {
        const int e = errno;
        close(fd);
        return write_failed(tmp, path, e, err);
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) return write_failed(tmp, path, errno, err);
    if (sync) vx_fsync_parent(path);
    return 0;
}

int vx_write_file_atomic(const char *path, const void *data, size_t len, vx_error *err) {
    return write_aside(path, data, len, 0644, 0, err);
}

int vx_write_file_private(const char *path, const void *data, size_t len, vx_error *err) {
    return write_aside(path, data, len, 0600, 1, err);
}

int vx_path_within(const char *path, const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--; /* "/media/" as "/media" */
    if (n == 1 && dir[0] == '/') return path[0] == '/';
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

const char *vx_path_system_folder(const char *path) {
    static const char *const system[] = {"/proc", "/sys", "/dev", "/etc", "/boot"};
    for (size_t i = 0; i < sizeof system / sizeof *system; i++)
        if (vx_path_within(path, system[i])) return system[i];
    return NULL;
}

int vx_path_fmt(vx_path out, vx_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(out, VX_PATH_MAX, fmt, ap);
    va_end(ap);
    if (n >= 0 && n < PATH_MAX) return 0;
    const int shown = n > 0 ? 120 : 0;
    vx_fail(err, "path too long (%d bytes, at most %d): %.*s...", n, PATH_MAX - 1, shown, out);
    out[0] = '\0';
    return -1;
}
