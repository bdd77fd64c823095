/* Seed inputs for fuzz_records: one valid encoding of each record type, prefixed with
 * the selector byte the target reads. */
#include <stdint.h>
#include <string.h>

#include "../../schemas/records.h"
#include "fuzz_seeds.h"

int fuzz_seeds(vx_buf *seeds, size_t *n_seeds, size_t max_seeds) {
    static float vec[4] = {0.5f, -0.5f, 0.25f, 1.0f};
    vx_meta m = {.schema_version = 1, .model_fingerprint = 3, .embed_dim = 4, .model = "/m"};
    vx_video v = {.id = 9, .status = VX_VIDEO_INDEXED, .n_segments = 2, .duration = 3, .fps = 25,
                  .path = "/a.mp4", .title = "t", .failure = ""};
    vx_segment s = {.start = 0, .end = 2, .n_frames = 2, .dim = 4, .embedding = vec};
    vx_embedding e = {.dim = 4, .v = vec};
    vx_user u = {.name = "bob", .dim = 4, .profile = vec};
    vx_event ev = {.video_id = 9, .type = VX_EVENT_LIKE, .seconds = 1, .ts_ms = 5};
    vx_job_item item = {"/a.mp4", VX_ITEM_FAILED, "why"};
    vx_job j = {.id = 1, .state = VX_JOB_DONE, .n_items = 1, .items = &item};
    if (max_seeds < 8) return -1;
    for (int i = 0; i < 8; i++) { vx_buf_reset(&seeds[i]); vx_put_u8(&seeds[i], (uint8_t)i); }
    vx_meta_encode(&seeds[0], &m);
    vx_video_encode(&seeds[1], &v);
    vx_segment_encode(&seeds[2], &s);
    vx_embedding_encode(&seeds[3], &e);
    vx_user_encode(&seeds[4], &u);
    vx_event_encode(&seeds[5], &ev);
    vx_job_encode(&seeds[6], &j);
    uint8_t key[VX_KEY_SEGMENT_LEN];
    vx_key_segment(key, 9, 1);
    vx_put_bytes(&seeds[7], key, sizeof key);
    *n_seeds = 8;
    return 0;
}
