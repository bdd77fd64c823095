/* Prints one line per video record, for the indexer tests:
 * STATUS WIDTHxHEIGHT SEGMENTS DUPLICATE DURATION FRAMES PATH [| FAILURE]
 * (FRAMES: total frames pooled into the segments). Usage: dump_videos DB */
#include <stdio.h>

#include "../schemas/catalog.h"

struct ctx {
    vx_catalog *cat;
};

static int count_frames(void *p, uint64_t id, uint32_t index, const vx_segment *s) {
    (void)id;
    (void)index;
    *(uint32_t *)p += s->n_frames;
    return 0;
}

static int print_video(void *p, const vx_video *v) {
    struct ctx *c = p;
    uint32_t frames = 0;
    vx_error err;
    vx_catalog_scan_segments(c->cat, v->id, count_frames, &frames, NULL, &err);
    printf("%s %ux%u %u %s %.2f %u %s%s%s\n", vx_video_status_name(v->status), v->width, v->height, v->n_segments,
           v->duplicate_of ? "dup" : "-", v->duration, frames, v->path, v->failure[0] ? " | " : "", v->failure);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: dump_videos DB\n");
        return 2;
    }
    vx_error err;
    struct ctx c = {vx_catalog_open(argv[1], 0, &err)};
    if (!c.cat) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int r = vx_catalog_scan_videos(c.cat, print_video, &c, NULL, &err);
    vx_catalog_close(c.cat);
    return r ? 1 : 0;
}
