/* vidx engine: the feeds' item model (recommend/itemmodel.h), rebuilt in the background.
 *
 * A worker is woken by every change of the recommender (the apply's follow) and builds
 * when a new model is due (vx_rec_model_due_in: none yet, a twentieth of the engagements
 * new, or any change to a model five minutes old or one that trained in under half a
 * second; it waits for the time when that comes, not in steps), takes the
 * recommender's engagements under the index's read lock (a copy: milliseconds), trains
 * with no lock held, and swaps the model in, unless the recommender itself was replaced
 * meanwhile (a user's deletion rebuilds it). New videos find their content neighbours in
 * the video index, under its read lock one lookup at a time, so indexing is never held up
 * for a whole build.
 *
 * Rebuilds after the first wait until serving has been quiet a moment (at most a
 * minute), train on one thread, and start no sooner after the last one ended than four
 * times its length: on a busy machine a model costs at most a fifth of a core. The
 * first build uses every training thread: until it is done, feeds have no co-engaged
 * source.
 *
 * Engines without the thread (the command line, tools) build the model on the first feed
 * that needs it (vx_engine_feed). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/log.h"
#include "../common/vecmath.h"
#include "engine_internal.h"

#define QUIET_WAIT_MAX_S 60.0
#define BUILD_SPACING 4.0 /* times the last build's length, from its end to the next start */

struct vx_feedmodel {
    vx_engine *e;
    vx_worker worker;             /* woken by changes; only its thread reads the rest */
    double last_end, last_length;
    uint64_t builds;
};

/* The video index's nearest videos, under its read lock. */
static int similar_locked(void *ctx, uint64_t video_id, uint64_t *ids, float *sims, int k, vx_error *err) {
    vx_engine *e = ctx;
    pthread_rwlock_rdlock(&e->vectors.lock);
    const int n = vx_rec_ann_similar(e->vectors.ann, video_id, ids, sims, k, err);
    pthread_rwlock_unlock(&e->vectors.lock);
    return n;
}

/* One build: 1 when a model was swapped in, 0 when none was due or it was discarded,
 * -1 on failure (logged). */
static int build_once(vx_engine *e, int threads) {
    vx_rec_training t;
    vx_error err;
    pthread_rwlock_rdlock(&e->vectors.lock);
    vx_recommender *r = e->vectors.rec;
    const uint64_t generation = e->vectors.rec_generation;
    int rc = r && vx_rec_model_due(r) ? vx_rec_training_take(r, &t, &err) : 1;
    pthread_rwlock_unlock(&e->vectors.lock);
    if (rc) {
        if (rc < 0) vx_warn("feed model: %s", err.msg);
        return rc < 0 ? -1 : 0;
    }
    vx_itemmodel *m = vx_rec_training_run(&t, similar_locked, e, threads, &err);
    if (!m) {
        vx_warn("feed model: %s", err.msg);
        vx_rec_training_free(&t);
        return -1;
    }
    int swapped = 0;
    pthread_rwlock_rdlock(&e->vectors.lock);
    if (e->vectors.rec == r && e->vectors.rec_generation == generation) {
        vx_rec_set_model(r, m, &t);
        swapped = 1;
    }
    pthread_rwlock_unlock(&e->vectors.lock);
    if (swapped) {
        vx_itemmodel_stats st;
        vx_itemmodel_stats_get(m, &st);
        vx_info("feed model: %u videos learned from engagement, %u new ones from content, %llu weights, %.1f MiB, "
                "trained in %.2f s",
                st.learned, st.from_content, (unsigned long long)st.weights, (double)st.bytes / 1048576.0, st.train_s);
    } else {
        vx_itemmodel_free(m);
    }
    vx_rec_training_free(&t);
    return swapped;
}

/* Seconds until the next build may start: when a model is due, and no sooner than
 * BUILD_SPACING times the last build's length after it ended; INFINITY: not until
 * something changes. */
static double next_build_in(vx_feedmodel *m) {
    vx_engine *e = m->e;
    pthread_rwlock_rdlock(&e->vectors.lock);
    double in = e->vectors.rec ? vx_rec_model_due_in(e->vectors.rec) : INFINITY;
    pthread_rwlock_unlock(&e->vectors.lock);
    if (m->builds) in = fmax(in, m->last_end + BUILD_SPACING * m->last_length - vx_now());
    return in;
}

static void run(vx_worker *w) {
    vx_feedmodel *m = w->ctx;
    vx_engine *e = m->e;
    for (;;) {
        const double in = next_build_in(m);
        if (in > 0) {
            if (vx_worker_take(w, NULL, 0, isinf(in) ? -1 : in) < 0) return;
            continue; /* woken by a change, or the time came: look again */
        }
        const int first = m->builds == 0;
        if (!first && vx_engine_wait_quiet(e, w, QUIET_WAIT_MAX_S)) return;
        const double t0 = vx_now();
        if (build_once(e, first ? 0 : 1) > 0) m->builds++;
        m->last_end = vx_now();
        m->last_length = m->last_end - t0;
    }
}

int vx_engine_feedmodel_start(vx_engine *e, vx_error *err) {
    vx_feedmodel *m = calloc(1, sizeof *m);
    if (!m) return vx_fail(err, "out of memory");
    m->e = e;
    if (vx_worker_start(&m->worker, "the feed model's builder", run, m, 0, 0, err)) {
        free(m);
        return -1;
    }
    e->feedmodel = m;
    return 0;
}

void vx_engine_feedmodel_stop(vx_engine *e) {
    vx_feedmodel *m = e->feedmodel;
    if (!m) return;
    vx_worker_stop(&m->worker);
    free(m);
    e->feedmodel = NULL;
}

void vx_engine_feedmodel_notice(vx_engine *e) {
    if (e->feedmodel) vx_worker_wake(&e->feedmodel->worker);
}

int vx_engine_feedmodel_build_now(vx_engine *e) {
    return build_once(e, 0);
}
