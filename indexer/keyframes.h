/* vidx indexer: key frames, a few frames that summarise a video.
 *
 * k-medoids over the sampled frames' embeddings (cosine distance): the medoids start
 * from the frame nearest all others and then, one by one, the frame farthest from those
 * chosen (so a cut to a new scene is picked before a second view of the same one), then
 * frames are assigned to their nearest medoid and each cluster's medoid recomputed until
 * nothing changes. A medoid closer than min_distance to another one is dropped, so the
 * frames shown differ from each other: a static video gets one or two, not k copies.
 * Each is an actual frame (its picture and moment exist), and a medoid rather than a
 * mean, so it is typical of the stretch it stands for.
 */
#ifndef VX_KEYFRAMES_H
#define VX_KEYFRAMES_H

#define VX_KEYFRAMES_DEFAULT 6          /* key frames per video at most */
#define VX_KEYFRAMES_MIN_DISTANCE 0.05f /* 1 - cosine between any two of them at least */

/* emb: n frames x dim, L2-normalised. Writes up to k frame numbers to out, increasing;
 * returns how many (0 only when n is 0 or memory ran out). Videos with more than 512
 * frames are summarised from 512 spread evenly. */
int vx_pick_keyframes(const float *emb, int n, int dim, int k, float min_distance, int *out);

#endif
