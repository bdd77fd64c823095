/* vidx engine: the feeds' item model (recommend/itemmodel.h), rebuilt in the background.
 *
 * A thread looks once a second whether a new model is due (vx_rec_model_due: none yet,
 * a twentieth of the engagements new, or any change to a model five minutes old or one
 * that trained in under half a second), takes the
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
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping, started;
    double quiet_since_asked; /* when this build began waiting for quiet */
    double last_end, last_length;
    uint64_t builds;
};

static int stopped_or_waited_enough(void *ctx) {
    vx_feedmodel *m = ctx;
    pthread_mutex_lock(&m->mu);
    const int stop = m->stopping;
    pthread_mutex_unlock(&m->mu);
    return stop || vx_now() - m->quiet_since_asked >= QUIET_WAIT_MAX_S;
}

/* The video index's nearest videos, under its read lock. */
static int similar_locked(void *ctx, uint64_t video_id, uint64_t *ids, float *sims, int k, vx_error *err) {
    vx_engine *e = ctx;
    pthread_rwlock_rdlock(&e->ann_lock);
    const int n = vx_rec_ann_similar(e->ann, video_id, ids, sims, k, err);
    pthread_rwlock_unlock(&e->ann_lock);
    return n;
}

/* One build: 1 when a model was swapped in, 0 when none was due or it was discarded,
 * -1 on failure (logged). */
static int build_once(vx_engine *e, int threads) {
    vx_rec_training t;
    vx_error err;
    pthread_rwlock_rdlock(&e->ann_lock);
    vx_recommender *r = e->rec;
    const uint64_t generation = e->rec_generation;
    int rc = r && vx_rec_model_due(r) ? vx_rec_training_take(r, &t, &err) : 1;
    pthread_rwlock_unlock(&e->ann_lock);
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
    pthread_rwlock_rdlock(&e->ann_lock);
    if (e->rec == r && e->rec_generation == generation) {
        vx_rec_set_model(r, m, &t);
        swapped = 1;
    }
    pthread_rwlock_unlock(&e->ann_lock);
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

static void *run(void *arg) {
    vx_feedmodel *m = arg;
    vx_engine *e = m->e;
    for (;;) {
        pthread_mutex_lock(&m->mu);
        if (!m->stopping) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&m->cv, &m->mu, &until);
        }
        const int quit = m->stopping;
        pthread_mutex_unlock(&m->mu);
        if (quit) return NULL;
        const int first = m->builds == 0;
        if (!first && vx_now() - m->last_end < BUILD_SPACING * m->last_length) continue;
        pthread_rwlock_rdlock(&e->ann_lock);
        const int due = e->rec && vx_rec_model_due(e->rec);
        pthread_rwlock_unlock(&e->ann_lock);
        if (!due) continue;
        if (!first) {
            m->quiet_since_asked = vx_now();
            vx_engine_wait_quiet(e, stopped_or_waited_enough, m);
            pthread_mutex_lock(&m->mu);
            const int stop = m->stopping;
            pthread_mutex_unlock(&m->mu);
            if (stop) return NULL;
        }
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
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    e->feedmodel = m;
    if (pthread_create(&m->thread, NULL, run, m)) return vx_fail(err, "cannot start the feed model's thread");
    m->started = 1;
    return 0;
}

void vx_engine_feedmodel_stop(vx_engine *e) {
    vx_feedmodel *m = e->feedmodel;
    if (!m) return;
    if (m->started) {
        pthread_mutex_lock(&m->mu);
        m->stopping = 1;
        pthread_cond_broadcast(&m->cv);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->thread, NULL);
    }
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
    e->feedmodel = NULL;
}

int vx_engine_feedmodel_build_now(vx_engine *e) {
    return build_once(e, 0);
}
