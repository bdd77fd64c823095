/* Seed inputs for fuzz_records: one valid encoding of each record type, prefixed with
 * the selector byte the target reads. */
#include <stdint.h>
#include <string.h>

#include "../../schemas/records.h"
#include "../../schemas/ops.h"
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
    /* Ops (selector 7): an indexed video with its thumbnail, vectors and segments; an event. */
    static uint8_t jpeg[3] = {0xff, 0xd8, 0xff};
    vx_op_thumb th = {.segment = -1, .len = 3, .jpeg = jpeg};
    vx_segment segs[2] = {s, s};
    vx_op video_op = {.kind = VX_OP_VIDEO, .video = v, .thumbs = &th, .n_thumbs = 1, .embedding = e, .segments = segs};
    vx_op event_op = {.kind = VX_OP_EVENT, .user = "bob", .event = ev};
    vx_job tuned = j;
    tuned.settings = (vx_job_settings){.rate = 2, .max_frames = 30, .segment_seconds = 2};
    /* What a cluster adds: a job item's outcome, a user's deletion, a work item, a log position. */
    vx_op item_op = {.kind = VX_OP_JOB_ITEM, .job_id = 7, .item_index = 3, .item = item, .at = 1700000000};
    vx_op deletion_op = {.kind = VX_OP_USER_DELETED, .user = "bob"};
    vx_work_item work = {.job_id = 7, .index = 3, .path = "/a.mp4", .settings = tuned.settings};
    vx_log_position pos = {.seq = 42, .stream_created = 1700000000000000000LL, .op_hash = 0x1234abcd5678ef01ULL};
    /* A rendition record, and a video that says how it plays (version 2 records). */
    vx_rendition rend = {.content_hash = 5, .state = VX_RENDITION_READY, .bytes = 9, .width = 2, .height = 2,
                         .duration = 1, .failure = ""};
    vx_video playable = v;
    playable.playback = VX_PLAYBACK_CONVERT;
    playable.playback_note = "why";
    playable.inode = 1234567; /* a version 5 record */
    /* A shard search's query and answer (sharded search over the cluster). */
    vx_shard_query sq = {.shard = 1, .shards = 2, .pool = 3, .dim = 4, .v = vec};
    vx_shard_hit sh[2] = {{9, 1, 0.5f}, {10, 0, 0.25f}};
    vx_shard_answer sa = {.shard = 1, .shards = 2, .segments = 7, .n = 2, .hits = sh};
    /* A video's text (subtitle cue, tag, a sidecar's stamp), as a record and an op; a meta
     * record with a text generation (version 2). */
    vx_sidecar_stamp stamp = {.name = "a.srt", .size = 10, .mtime_ns = 5};
    vx_text_entry entries[2] = {{.field = VX_FIELD_SUBTITLE, .start = 1, .end = 2, .origin = "a.srt", .text = "hello"},
                                {.field = VX_FIELD_TAG, .origin = "container", .text = "\xe5\x8c\x97\xe4\xba\xac"}};
    vx_video_text text = {.id = 9, .slot = VX_TEXT_FILES, .updated_at = 1, .n_sidecars = 1, .sidecars = &stamp,
                          .notes = "b.srt: not UTF-8", .n_entries = 2, .entries = entries};
    vx_op text_op = {.kind = VX_OP_TEXT, .text = text};
    vx_meta m2 = m;
    m2.text_generation = 4;
    /* A video's frames (hashes, a flat frame, key frames), a re-upload linked to its
     * original (version 4), and an indexed video's op that carries its frames. */
    vx_frame_print prints[3] = {{.t = 0, .phash = 0x0123456789abcdefull}, {.t = 1, .flat = 1}, {.t = 2.5f, .phash = 7}};
    uint32_t keys[2] = {0, 2};
    vx_video_frames frames = {.id = 9, .n = 3, .frames = prints, .n_keyframes = 2, .keyframes = keys};
    vx_video reupload = v;
    reupload.precision = VX_EMBEDDED_F32;
    reupload.near_duplicate_of = 11;
    vx_op_thumb key_th = {.segment = VX_THUMB_KEYFRAME(1), .len = 3, .jpeg = jpeg};
    vx_op framed_op = video_op;
    framed_op.video = reupload;
    framed_op.frames = frames;
    framed_op.thumbs = &key_th;
    /* A video indexed without the model (its op: frames, no vectors), and a model change. */
    vx_video waiting = v;
    waiting.n_segments = 0;
    waiting.precision = VX_EMBEDDED_PENDING;
    vx_op waiting_op = {.kind = VX_OP_VIDEO, .video = waiting, .thumbs = &th, .n_thumbs = 1, .frames = frames};
    vx_op change_op = {.kind = VX_OP_MODEL_CHANGE, .model = "/models/other", .model_fingerprint = 5, .embed_dim = 768};
    if (max_seeds < 28) return -1;
    const uint8_t selector[28] = {0, 1, 2, 3, 4, 5, 6, 7, 7, 7, 6, 7, 7, 9, 10, 11, 1, 12, 13, 14, 7, 0, 15, 1, 7, 1, 7, 7};
    for (int i = 0; i < 28; i++) { vx_buf_reset(&seeds[i]); vx_put_u8(&seeds[i], selector[i]); }
    vx_video_encode(&seeds[25], &waiting);
    vx_op_encode(&seeds[26], &waiting_op);
    vx_op_encode(&seeds[27], &change_op);
    vx_video_frames_encode(&seeds[22], &frames);
    vx_video_encode(&seeds[23], &reupload);
    vx_op_encode(&seeds[24], &framed_op);
    vx_video_text_encode(&seeds[19], &text);
    vx_op_encode(&seeds[20], &text_op);
    vx_meta_encode(&seeds[21], &m2);
    vx_op_encode(&seeds[11], &item_op);
    vx_op_encode(&seeds[12], &deletion_op);
    vx_work_item_encode(&seeds[13], &work);
    vx_log_position_encode(&seeds[14], &pos);
    vx_op_encode(&seeds[8], &video_op);
    vx_op_encode(&seeds[9], &event_op);
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
    seeds[7].data[0] = 8; /* the key describer's selector */
    vx_job_encode(&seeds[10], &tuned); /* a job with its settings (record version 2) */
    vx_rendition_encode(&seeds[15], &rend);
    vx_video_encode(&seeds[16], &playable);
    vx_shard_query_encode(&seeds[17], &sq);
    vx_shard_answer_encode(&seeds[18], &sa);
    *n_seeds = 28;
    return 0;
}
