#include "change.h"

#include <stdlib.h>
#include <string.h>

void vx_frame_signature(const vx_rgb_image *img, vx_frame_sig *out) {
    const int G = VX_CHANGE_GRID;
    memset(out, 0, sizeof *out);
    if (img->width < 1 || img->height < 1) return;
    for (int gy = 0; gy < G; gy++) {
        /* Cell rows and columns cover the picture exactly, however it divides. */
        const int y0 = gy * img->height / G, y1 = (gy + 1) * img->height / G > y0 ? (gy + 1) * img->height / G : y0 + 1;
        for (int gx = 0; gx < G; gx++) {
            const int x0 = gx * img->width / G, x1 = (gx + 1) * img->width / G > x0 ? (gx + 1) * img->width / G : x0 + 1;
            uint32_t sum[3] = {0, 0, 0};
            for (int y = y0; y < y1 && y < img->height; y++) {
                const uint8_t *p = img->data + (size_t)y * img->stride + (size_t)x0 * 3;
                for (int x = x0; x < x1 && x < img->width; x++, p += 3) {
                    sum[0] += p[0];
                    sum[1] += p[1];
                    sum[2] += p[2];
                }
            }
            const uint32_t count = (uint32_t)(y1 - y0) * (uint32_t)(x1 - x0);
            for (int c = 0; c < 3; c++) out->cell[(gy * G + gx) * 3 + c] = (uint8_t)((sum[c] + count / 2) / count);
        }
    }
}

void vx_frame_difference(const vx_frame_sig *a, const vx_frame_sig *b, double *mean, int *max) {
    long total = 0;
    int mx = 0;
    for (size_t i = 0; i < sizeof a->cell; i++) {
        const int d = abs((int)a->cell[i] - (int)b->cell[i]);
        total += d;
        if (d > mx) mx = d;
    }
    *mean = (double)total / (double)sizeof a->cell;
    *max = mx;
}

int vx_frame_same(const vx_frame_sig *a, const vx_frame_sig *b) {
    double mean;
    int max;
    vx_frame_difference(a, b, &mean, &max);
    return mean <= VX_CHANGE_MEAN_LEVELS && max <= VX_CHANGE_MAX_LEVELS;
}
