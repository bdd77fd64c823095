/* vidx ann: vidx's own search of FAISS IVF-Flat indexes (ivf_search.h). */
#include "ivf_search.h"

#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/Index_c.h>
#include <math.h>
#include <stdlib.h>

#include "../common/small_gemm.h"
#include "ivf_lists.h"

/* The k best (score, label) pairs seen so far: a min-heap on score, its root the worst
 * kept. A candidate replaces the root only when strictly better, as in FAISS. */
typedef struct top_k {
    float *score;
    idx_t *label;
    int n, k;
} top_k;

static void top_k_sift_down(top_k *t, int i) {
    for (;;) {
        int c = 2 * i + 1;
        if (c >= t->n) return;
        if (c + 1 < t->n && t->score[c + 1] < t->score[c]) c++;
        if (t->score[i] <= t->score[c]) return;
        float s = t->score[i]; t->score[i] = t->score[c]; t->score[c] = s;
        idx_t l = t->label[i]; t->label[i] = t->label[c]; t->label[c] = l;
        i = c;
    }
}

static void top_k_push(top_k *t, float score, idx_t label) {
    if (t->n < t->k) {
        int i = t->n++;
        while (i > 0 && t->score[(i - 1) / 2] > score) {
            t->score[i] = t->score[(i - 1) / 2];
            t->label[i] = t->label[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        t->score[i] = score;
        t->label[i] = label;
    } else if (score > t->score[0]) {
        t->score[0] = score;
        t->label[0] = label;
        top_k_sift_down(t, 0);
    }
}

/* Sorts the kept pairs best first, in place (heap sort: the worst goes last). */
static int top_k_finish(top_k *t) {
    const int n = t->n;
    while (t->n > 1) {
        int last = --t->n;
        float s = t->score[0]; t->score[0] = t->score[last]; t->score[last] = s;
        idx_t l = t->label[0]; t->label[0] = t->label[last]; t->label[last] = l;
        top_k_sift_down(t, 0);
    }
    return n;
}

int vx_ivf_search(FaissIndexIVF *ivf, const float *q, int k, int64_t *labels, float *scores, vx_error *err) {
    const int dim = faiss_Index_d((FaissIndex *)ivf);
    FaissIndexFlat *centroids = faiss_IndexFlat_cast(faiss_IndexIVF_quantizer(ivf));
    static int kernel = -1;
    if (kernel < 0) kernel = vx_small_gemm_available();
    const float *probe_vectors;
    const int64_t *probe_labels;
    size_t probe_size;
    if (!centroids || !kernel ||
        faiss_Index_metric_type((FaissIndex *)centroids) != METRIC_INNER_PRODUCT ||
        faiss_Index_metric_type((FaissIndex *)ivf) != METRIC_INNER_PRODUCT ||
        vx_ivf_flat_list(ivf, 0, &probe_vectors, &probe_labels, &probe_size))
        return -2;
    float *xb;
    size_t floats;
    faiss_IndexFlat_xb(centroids, &xb, &floats);
    const size_t nlist = faiss_IndexIVF_nlist(ivf), nprobe_set = faiss_IndexIVF_nprobe(ivf);
    const size_t nprobe = nprobe_set < nlist ? nprobe_set : nlist;
    if (floats != nlist * (size_t)dim || nprobe == 0) return -2;
    size_t *probe = malloc(nprobe * sizeof *probe), longest = 0;
    float *cs = malloc(nlist * sizeof *cs);
    if (!probe || !cs) {
        free(probe); free(cs);
        return vx_fail(err, "out of memory");
    }
    vx_dot_rows(q, xb, (long)nlist, dim, cs);
    /* The nprobe best centroids, best first, in one pass: a short sorted list that most
     * centroids fail to enter at its last place (equal scores: the lower list first). */
    float *probe_score = malloc(nprobe * sizeof *probe_score);
    if (!probe_score) {
        free(probe); free(cs);
        return vx_fail(err, "out of memory");
    }
    size_t kept = 0;
    for (size_t c = 0; c < nlist; c++) {
        const float v = cs[c];
        if (kept == nprobe && !(v > probe_score[kept - 1])) continue;
        size_t at = kept < nprobe ? kept++ : nprobe - 1;
        while (at > 0 && v > probe_score[at - 1]) {
            probe_score[at] = probe_score[at - 1];
            probe[at] = probe[at - 1];
            at--;
        }
        probe_score[at] = v;
        probe[at] = c;
    }
    free(probe_score);
    for (size_t p = 0; p < kept; p++) {
        const size_t size = faiss_IndexIVF_get_list_size(ivf, probe[p]);
        if (size > longest) longest = size;
    }
    float *dots = longest > nlist ? malloc(longest * sizeof *dots) : cs;
    if (!dots) { free(probe); free(cs); return vx_fail(err, "out of memory"); }
    top_k best = {scores, labels, 0, k};
    for (size_t p = 0; p < kept; p++) {
        const float *v;
        const int64_t *l;
        size_t n;
        if (vx_ivf_flat_list(ivf, probe[p], &v, &l, &n) || n > longest) continue; /* cannot happen: checked above */
        vx_dot_rows(q, v, (long)n, dim, dots);
        for (size_t i = 0; i < n; i++) top_k_push(&best, dots[i], (idx_t)l[i]);
    }
    if (dots != cs) free(dots);
    free(cs);
    free(probe);
    return top_k_finish(&best);
}


int vx_ivf_assign(FaissIndexIVF *ivf, const float *x, int64_t *list) {
    const int dim = faiss_Index_d((FaissIndex *)ivf);
    FaissIndexFlat *centroids = faiss_IndexFlat_cast(faiss_IndexIVF_quantizer(ivf));
    static int kernel = -1;
    if (kernel < 0) kernel = vx_small_gemm_available();
    if (!centroids || !kernel || faiss_Index_metric_type((FaissIndex *)centroids) != METRIC_INNER_PRODUCT) return -2;
    float *xb;
    size_t floats;
    faiss_IndexFlat_xb(centroids, &xb, &floats);
    const size_t nlist = faiss_IndexIVF_nlist(ivf);
    if (nlist == 0 || floats != nlist * (size_t)dim) return -2;
    float *cs = malloc(nlist * sizeof *cs);
    if (!cs) return -1;
    vx_dot_rows(x, xb, (long)nlist, dim, cs);
    size_t best = 0;
    for (size_t c = 1; c < nlist; c++)
        if (cs[c] > cs[best]) best = c;
    free(cs);
    *list = (int64_t)best;
    return 0;
}
