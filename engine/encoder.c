/* vidx engine: the query encoder thread.
 *
 * Text queries that are not in the query cache are encoded here, so a caller on an
 * event loop never runs the text tower itself. Queries waiting when the encoder comes
 * free are encoded together, up to ENCODE_BATCH: the text tower reads its weights once
 * per batch instead of once per query (B/32 on this machine: 112 queries/s one at a
 * time, 263/s in batches of 64). A query that arrives alone is encoded alone, so
 * nothing waits for a batch to fill. Pictures sent as queries are decoded and encoded
 * here too, one at a time, through the vision tower; queries for the multilingual text
 * tower go through it, batched the same way, and a query read by both towers is in both
 * batches (done once both are encoded).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../encoder/mtext.h"
#include "../indexer/phash.h"
#include "../indexer/picture.h"
#include "engine_internal.h"

#define ENCODE_BATCH 16

struct vx_query_encoder {
    vx_engine *e;
    vx_clip_ctx *ctx;
    vx_mtext_ctx *mctx; /* the multilingual tower's, when the engine has it */
    float *out;   /* [ENCODE_BATCH][proj_dim] */
    int proj_dim;
    vx_worker worker;
    atomic_int pictures; /* picture tasks queued or being encoded */
};

void vx_encode_image_task(vx_clip_ctx *ctx, const vx_clip *model, vx_encode_task *t) {
    const int S = vx_clip_get_config(model)->image_size;
    vx_rgb_image img;
    vx_picture_info info;
    float *pixels = NULL;
    t->rc = -1;
    if (vx_picture_decode(t->image, t->image_len, S, &img, &info, &t->err)) {
        t->bad_image = 1;
        return;
    }
    vx_phash print;
    vx_phash_frame(&img, &print); /* to find the video it is a frame of */
    t->image_phash = print.bits;
    t->image_flat = print.flat;
    if (!(pixels = malloc((size_t)3 * S * S * sizeof *pixels))) vx_fail(&t->err, "out of memory");
    else if (vx_image_preprocess(&img, S, pixels, &t->err) == 0)
        t->rc = vx_clip_encode_images(ctx, pixels, 1, t->out, &t->err);
    free(pixels);
    vx_rgb_free(&img);
}

/* n token sequences through one text tower: CLIP's, or with mctx the multilingual one. */
static int encode_tokens(vx_query_encoder *enc, vx_mtext_ctx *mctx, const int32_t *const *ids, const int *lens, int n,
                         float *out, vx_error *err) {
    return mctx ? vx_mtext_encode_tokens(mctx, ids, lens, n, out, err)
                : vx_clip_encode_tokens(enc->ctx, ids, lens, n, out, err);
}

/* A text task's half for one tower: its ids, length and output (a VX_TOWER_BOTH task has
 * one half for each). */
typedef struct half {
    vx_encode_task *t;
    const int32_t *ids;
    int n;
    float *out;
} half;

/* Text queries' halves of one tower, together; a failure is kept in the task's rc. */
static void encode_texts(vx_query_encoder *enc, const half *batch, int n, vx_mtext_ctx *mctx) {
    if (!n) return;
    const int32_t *ids[ENCODE_BATCH];
    int lens[ENCODE_BATCH];
    for (int i = 0; i < n; i++) {
        ids[i] = batch[i].ids;
        lens[i] = batch[i].n;
    }
    vx_error err;
    atomic_fetch_add_explicit(&enc->e->encoder_runs, 1, memory_order_relaxed);
    vx_engine_foreground(enc->e);
    atomic_fetch_add_explicit(&enc->e->encoder_queries, (uint64_t)n, memory_order_relaxed);
    if (encode_tokens(enc, mctx, ids, lens, n, enc->out, &err) == 0) {
        for (int i = 0; i < n; i++)
            memcpy(batch[i].out, enc->out + (size_t)i * enc->proj_dim, (size_t)enc->proj_dim * sizeof *enc->out);
        return;
    }
    /* One bad query must not fail the others: each on its own, with its own error. */
    for (int i = 0; i < n; i++)
        if (encode_tokens(enc, mctx, &ids[i], &lens[i], 1, batch[i].out, &err) && !batch[i].t->rc) {
            batch[i].t->rc = -1;
            batch[i].t->err = err;
        }
}

static void encode_loop(vx_worker *w) {
    vx_query_encoder *enc = w->ctx;
    for (;;) {
        vx_queue_node *taken[ENCODE_BATCH];
        int n = vx_worker_take(w, taken, ENCODE_BATCH, -1);
        if (n < 0) return; /* stopping and drained */
        half clip[ENCODE_BATCH], multi[ENCODE_BATCH];
        vx_encode_task *texts[ENCODE_BATCH];
        int n_clip = 0, n_multi = 0, n_texts = 0;
        for (int i = 0; i < n; i++) {
            vx_encode_task *t = (vx_encode_task *)taken[i];
            if (!t->image) {
                t->rc = 0;
                texts[n_texts++] = t;
                if (t->tower == VX_TOWER_MULTILINGUAL && enc->mctx) multi[n_multi++] = (half){t, t->ids, t->n, t->out};
                else clip[n_clip++] = (half){t, t->ids, t->n, t->out};
                if (t->tower == VX_TOWER_BOTH && enc->mctx) multi[n_multi++] = (half){t, t->mids, t->mn, t->mout};
                continue;
            }
            /* Pictures one by one, through the vision tower. */
            vx_engine_foreground(enc->e);
            vx_encode_image_task(enc->ctx, enc->e->model, t);
            atomic_fetch_sub(&enc->pictures, 1);
            t->done(t);
        }
        encode_texts(enc, clip, n_clip, NULL);
        encode_texts(enc, multi, n_multi, enc->mctx);
        for (int i = 0; i < n_texts; i++) texts[i]->done(texts[i]);
    }
}

vx_query_encoder *vx_query_encoder_start(vx_engine *e, vx_error *err) {
    vx_query_encoder *enc = calloc(1, sizeof *enc);
    if (!enc) { vx_fail(err, "out of memory"); return NULL; }
    const vx_clip_config *c = vx_clip_get_config(e->model);
    enc->e = e;
    enc->proj_dim = c->proj_dim;
    enc->out = malloc((size_t)ENCODE_BATCH * (size_t)c->proj_dim * sizeof *enc->out);
    if (!enc->out || !(enc->ctx = vx_clip_ctx_new(e->model, 1, ENCODE_BATCH * c->context, err)) ||
        (vx_engine_text_model_usable(e) &&
         !(enc->mctx = vx_mtext_ctx_new(e->text_model, ENCODE_BATCH * vx_mtext_max_tokens(e->text_model), err)))) {
        if (!enc->out) vx_fail(err, "out of memory");
        vx_clip_ctx_free(enc->ctx);
        free(enc->out);
        free(enc);
        return NULL;
    }
    if (vx_worker_start(&enc->worker, "the query encoder", encode_loop, enc, VX_ENCODER_MAX_QUEUE, 1, err)) {
        vx_clip_ctx_free(enc->ctx);
        vx_mtext_ctx_free(enc->mctx);
        free(enc->out);
        free(enc);
        return NULL;
    }
    return enc;
}

int vx_query_encoder_submit(vx_query_encoder *enc, vx_encode_task *t) {
    if (t->image && atomic_fetch_add(&enc->pictures, 1) >= VX_ENCODER_MAX_PICTURES) {
        atomic_fetch_sub(&enc->pictures, 1);
        return -1;
    }
    if (vx_worker_push(&enc->worker, &t->link)) {
        if (t->image) atomic_fetch_sub(&enc->pictures, 1);
        return -1;
    }
    return 0;
}

void vx_query_encoder_stop(vx_query_encoder *enc) {
    if (!enc) return;
    vx_worker_stop(&enc->worker); /* queries waiting are still answered */
    vx_clip_ctx_free(enc->ctx);
    vx_mtext_ctx_free(enc->mctx);
    free(enc->out);
    free(enc);
}
