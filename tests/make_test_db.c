/* Writes a small database for the command-line tests: two indexed videos, one failed,
 * one user with three events. Usage: make_test_db DIR
 * Or moves a cluster node's log position forward, as if its log had lost ops since
 * (test_cluster's "log regressed"): make_test_db --log-position DIR ADD|other-op */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/hash.h"
#include "../schemas/catalog.h"

/* add: a number of ops to move the position by, or "other-op" to record another op's
 * identity at the same position. */
static int move_log_position(const char *dir, const char *add) {
    vx_error err;
    vx_catalog *cat = vx_catalog_open(dir, 0, &err);
    vx_log_position pos;
    if (!cat || vx_catalog_get_log_position(cat, &pos, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        vx_catalog_close(cat);
        return 1;
    }
    if (strcmp(add, "other-op") == 0) pos.op_hash ^= 1;
    else pos.seq += strtoull(add, NULL, 10);
    vx_batch *b = vx_batch_new();
    vx_batch_put_log_position(b, &pos);
    int rc = vx_catalog_write(cat, b, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    else printf("log position %llu\n", (unsigned long long)pos.seq);
    vx_batch_free(b);
    vx_catalog_close(cat);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--log-position") == 0) return move_log_position(argv[2], argv[3]);
    if (argc != 2) {
        fprintf(stderr, "usage: make_test_db DIR\n");
        return 2;
    }
    vx_error err;
    vx_catalog *cat = vx_catalog_open(argv[1], 1, &err);
    if (!cat) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    float vec[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    const char *paths[3] = {"/videos/a.mp4", "/videos/b.mkv", "/videos/broken.mp4"};
    vx_batch *b = vx_batch_new();
    for (int i = 0; i < 3; i++) {
        vx_video v = {.id = vx_video_id_for_path(paths[i]), .content_hash = (uint64_t)i + 1, .size = 1000,
                      .status = i < 2 ? VX_VIDEO_INDEXED : VX_VIDEO_FAILED, .n_segments = i < 2 ? 1 : 0,
                      .path = (char *)paths[i], .title = (char *)paths[i] + 8,
                      .failure = i < 2 ? "" : "no video stream"};
        vx_batch_put_video(b, &v);
        if (i < 2) {
            vx_segment s = {.start = 0, .end = 4, .n_frames = 4, .dim = 4, .embedding = vec};
            vx_batch_put_segment(b, v.id, 0, &s);
            vx_embedding e = {.dim = 4, .v = vec};
            vx_batch_put_embedding(b, v.id, &e);
        }
    }
    vx_user u = {.name = "alice", .created_at = 1700000000, .n_events = 3};
    vx_batch_put_user(b, &u);
    for (uint32_t i = 0; i < 3; i++) {
        vx_event e = {.video_id = vx_video_id_for_path(paths[0]), .type = VX_EVENT_VIEW, .seconds = 2,
                      .ts_ms = 1700000000000LL + i};
        vx_batch_put_event(b, "alice", i, &e);
    }
    int rc = vx_catalog_write(cat, b, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    vx_batch_free(b);
    vx_catalog_close(cat);
    return rc ? 1 : 0;
}
