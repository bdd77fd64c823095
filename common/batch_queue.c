#include "batch_queue.h"

void vx_batch_queue_init(vx_batch_queue *q, int max_queued) {
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->head = q->tail = NULL;
    q->queued = q->stopping = 0;
    q->max_queued = max_queued;
}

void vx_batch_queue_destroy(vx_batch_queue *q) {
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}

int vx_batch_queue_push(vx_batch_queue *q, vx_queue_node *item) {
    item->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->queued >= q->max_queued || q->stopping) {
        pthread_mutex_unlock(&q->mu);
        return -1;
    }
    if (q->tail) q->tail->next = item;
    else q->head = item;
    q->tail = item;
    q->queued++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

int vx_batch_queue_take(vx_batch_queue *q, vx_queue_node **out, int max) {
    int n = 0;
    pthread_mutex_lock(&q->mu);
    while (!q->head && !q->stopping) pthread_cond_wait(&q->cv, &q->mu);
    while (q->head && n < max) {
        out[n++] = q->head;
        q->head = q->head->next;
        q->queued--;
    }
    if (!q->head) q->tail = NULL;
    pthread_mutex_unlock(&q->mu);
    return n;
}

void vx_batch_queue_stop(vx_batch_queue *q) {
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}
