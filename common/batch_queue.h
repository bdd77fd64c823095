/* vidx common: a queue that one worker thread empties in batches.
 *
 * Producers push items from any thread; the worker takes every item waiting, up to a
 * batch, and handles them together (one text tower run, one synced write), so under
 * load a batch carries many items and alone an item waits for nothing. Items are
 * intrusive: a struct that is queued has a vx_queue_node as its FIRST member and is
 * cast back from it. The queue owns no item. */
#ifndef VX_BATCH_QUEUE_H
#define VX_BATCH_QUEUE_H

#include <pthread.h>

typedef struct vx_queue_node {
    struct vx_queue_node *next;
} vx_queue_node;

typedef struct vx_batch_queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    vx_queue_node *head, *tail;
    int queued, max_queued, stopping;
} vx_batch_queue;

/* max_queued: items waiting beyond which pushes are refused. */
void vx_batch_queue_init(vx_batch_queue *q, int max_queued);
void vx_batch_queue_destroy(vx_batch_queue *q);
/* 0, or -1 (nothing queued) when full or stopping. */
int vx_batch_queue_push(vx_batch_queue *q, vx_queue_node *item);
/* Blocks until items wait, then takes up to max of them in order into out. Returns how
 * many; 0 once the queue is stopping and drained (the worker then ends). */
int vx_batch_queue_take(vx_batch_queue *q, vx_queue_node **out, int max);
/* Refuses new items; what waits is still taken. */
void vx_batch_queue_stop(vx_batch_queue *q);

#endif
