#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

uint64_t vx_hash64(const void *data, size_t len) { return XXH3_64bits(data, len); }

uint64_t vx_video_id_for_path(const char *canonical_path) {
    uint64_t id = XXH3_64bits_withSeed(canonical_path, strlen(canonical_path), VX_VIDEO_ID_SEED);
    /* 0 means "no video" in records; all ones is FAISS's "no result" label. */
    return id == 0 ? 1 : id == UINT64_MAX ? UINT64_MAX - 1 : id;
}

int vx_hash_file(const char *path, uint64_t *hash_out, vx_error *err) {
    int rc = -1;
    XXH3_state_t *st = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vx_fail(err, "%s: cannot open: %s", path, strerror(errno));
    st = XXH3_createState();
    if (!st) {
        vx_fail(err, "%s: out of memory", path);
        goto done;
    }
    XXH3_64bits_reset(st);
    static __thread unsigned char chunk[1 << 16];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR) continue;
            vx_fail(err, "%s: read failed: %s", path, strerror(errno));
            goto done;
        }
        if (n == 0) break;
        XXH3_64bits_update(st, chunk, (size_t)n);
    }
    *hash_out = XXH3_64bits_digest(st);
    rc = 0;
done:
    XXH3_freeState(st);
    close(fd);
    return rc;
}

void vx_id_to_hex(uint64_t id, char out[VX_ID_HEX_LEN]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = digits[id & 15];
        id >>= 4;
    }
    out[16] = '\0';
}

int vx_id_from_hex(const char *s, uint64_t *id_out) {
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char ch = s[i];
        int d;
        if (ch >= '0' && ch <= '9') d = ch - '0';
        else if (ch >= 'a' && ch <= 'f') d = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F') d = ch - 'A' + 10;
        else return -1;
        v = (v << 4) | (uint64_t)d;
    }
    if (s[16] != '\0') return -1;
    *id_out = v;
    return 0;
}
