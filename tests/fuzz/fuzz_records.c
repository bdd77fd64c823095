/* Fuzz target: every catalog record decoder, the op and work item decoders (what a
 * cluster's streams carry), the shard search query and answer, a video's text, its frames and the key
 * describer, on
 * arbitrary bytes.
 * The first byte picks the decoder; the rest is the record. A decoder must either
 * reject the bytes with a message or accept them, and an accepted record must encode
 * back to exactly the same bytes (the encoding is canonical). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../schemas/ops.h"
#include "../../schemas/records.h"

static void same_bytes(const vx_buf *b, const uint8_t *data, size_t size) {
    if (b->oom) return;
    if (b->len != size || memcmp(b->data, data, size) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    uint8_t which = data[0] % 16;
    data++;
    size--;
    vx_error err;
    vx_buf b = {0};
    switch (which) {
    case 0: {
        vx_meta m;
        if (vx_meta_decode(data, size, &m, &err) == 0) { vx_meta_encode(&b, &m); same_bytes(&b, data, size); vx_meta_clear(&m); }
        else if (!err.msg[0]) abort();
        break;
    }
    case 1: {
        vx_video v;
        if (vx_video_decode(data, size, &v, &err) == 0) { vx_video_encode(&b, &v); same_bytes(&b, data, size); vx_video_clear(&v); }
        else if (!err.msg[0]) abort();
        break;
    }
    case 2: {
        vx_segment s;
        if (vx_segment_decode(data, size, &s, &err) == 0) { vx_segment_encode(&b, &s); same_bytes(&b, data, size); vx_segment_clear(&s); }
        else if (!err.msg[0]) abort();
        break;
    }
    case 3: {
        vx_embedding e;
        if (vx_embedding_decode(data, size, &e, &err) == 0) { vx_embedding_encode(&b, &e); same_bytes(&b, data, size); vx_embedding_clear(&e); }
        else if (!err.msg[0]) abort();
        break;
    }
    case 4: {
        vx_user u;
        if (vx_user_decode(data, size, &u, &err) == 0) { vx_user_encode(&b, &u); same_bytes(&b, data, size); vx_user_clear(&u); }
        else if (!err.msg[0]) abort();
        break;
    }
    case 5: {
        vx_event e;
        if (vx_event_decode(data, size, &e, &err) == 0) { vx_event_encode(&b, &e); same_bytes(&b, data, size); }
        else if (!err.msg[0]) abort();
        break;
    }
    case 6: {
        vx_job j;
        if (vx_job_decode(data, size, &j, &err) == 0) { vx_job_encode(&b, &j); same_bytes(&b, data, size); vx_job_clear(&j); }
        else if (!err.msg[0]) abort();
        break;
    }
    case 7: {
        vx_op op;
        if (vx_op_decode(data, size, &op, &err) == 0) { vx_op_encode(&b, &op); same_bytes(&b, data, size); vx_op_clear(&op); }
        else if (!err.msg[0]) abort();
        break;
    }
    case 9: {
        vx_work_item w;
        if (vx_work_item_decode(data, size, &w, &err) == 0) { vx_work_item_encode(&b, &w); same_bytes(&b, data, size); vx_work_item_clear(&w); }
        else if (!err.msg[0]) abort();
        break;
    }
    case 10: {
        vx_log_position p;
        if (vx_log_position_decode(data, size, &p, &err) == 0) { vx_log_position_encode(&b, &p); same_bytes(&b, data, size); }
        else if (!err.msg[0]) abort();
        break;
    }
    case 11: {
        vx_rendition r;
        if (vx_rendition_decode(data, size, &r, &err) == 0) { vx_rendition_encode(&b, &r); same_bytes(&b, data, size); vx_rendition_clear(&r); }
        else if (!err.msg[0]) abort();
        break;
    }
    case 12: {
        vx_shard_query q;
        if (vx_shard_query_decode(data, size, &q, &err) == 0) { vx_shard_query_encode(&b, &q); same_bytes(&b, data, size); vx_shard_query_clear(&q); }
        else if (!err.msg[0]) abort();
        break;
    }
    case 13: {
        vx_shard_answer a;
        if (vx_shard_answer_decode(data, size, &a, &err) == 0) { vx_shard_answer_encode(&b, &a); same_bytes(&b, data, size); vx_shard_answer_clear(&a); }
        else if (!err.msg[0]) abort();
        break;
    }
    case 14: {
        vx_video_text t;
        if (vx_video_text_decode(data, size, &t, &err) == 0) { vx_video_text_encode(&b, &t); same_bytes(&b, data, size); vx_video_text_clear(&t); }
        else if (!err.msg[0]) abort();
        break;
    }
    case 15: {
        vx_video_frames f;
        if (vx_video_frames_decode(data, size, &f, &err) == 0) { vx_video_frames_encode(&b, &f); same_bytes(&b, data, size); vx_video_frames_clear(&f); }
        else if (!err.msg[0]) abort();
        break;
    }
    default: {
        char out[256];
        vx_key_describe(data, size, out, sizeof out);
        if (strlen(out) >= sizeof out) abort();
        break;
    }
    }
    vx_buf_free(&b);
    return 0;
}
