#include "phash.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SMALL 128  /* the frame is first averaged down to at most this a side */
#define GRID 32    /* then its content to GRID x GRID */
#define FREQS 8    /* frequencies 1..FREQS each way */

/* Box average of the rectangle [x0, x1) x [y0, y1) of src (fractional edges weighted). */
static float box_mean(const float *src, int stride, double x0, double x1, double y0, double y1) {
    double sum = 0, area = 0;
    for (int y = (int)y0; y < (int)ceil(y1); y++) {
        const double wy = fmin(y + 1, y1) - fmax(y, y0);
        if (wy <= 0) continue;
        for (int x = (int)x0; x < (int)ceil(x1); x++) {
            const double wx = fmin(x + 1, x1) - fmax(x, x0);
            if (wx <= 0) continue;
            sum += wx * wy * src[(size_t)y * stride + x];
            area += wx * wy;
        }
    }
    return area > 0 ? (float)(sum / area) : 0.0f;
}

/* Whether line i (a row when rows is set, else a column) of g is a uniform border line
 * of the colour `edge`: barely varying along itself and close to the edge's level. */
static int border_line(const float *g, int w, int h, int i, int rows, float edge) {
    const int n = rows ? w : h;
    double s = 0, s2 = 0;
    for (int k = 0; k < n; k++) {
        const float v = rows ? g[(size_t)i * w + k] : g[(size_t)k * w + i];
        s += v;
        s2 += (double)v * v;
    }
    const double mean = s / n, var = s2 / n - mean * mean;
    return var < 16.0 && fabs(mean - edge) < 8.0;
}

static float line_mean(const float *g, int w, int h, int i, int rows) {
    const int n = rows ? w : h;
    double s = 0;
    for (int k = 0; k < n; k++) s += rows ? g[(size_t)i * w + k] : g[(size_t)k * w + i];
    return (float)(s / n);
}

static double cos_table[FREQS + 1][GRID];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static void make_table(void) {
    for (int u = 0; u <= FREQS; u++)
        for (int x = 0; x < GRID; x++) cos_table[u][x] = cos(M_PI * (2 * x + 1) * u / (2.0 * GRID));
}

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void vx_phash_frame(const vx_rgb_image *img, vx_phash *out) {
    memset(out, 0, sizeof *out);
    out->flat = 1;
    if (img->width < 1 || img->height < 1) return;
    pthread_once(&table_once, make_table);
    /* 1. Luma (BT.601 weights), averaged down to at most SMALL a side. */
    const int w = img->width < SMALL ? img->width : SMALL, h = img->height < SMALL ? img->height : SMALL;
    float *g = calloc((size_t)w * h, sizeof *g);
    float *cnt = calloc((size_t)w * h, sizeof *cnt);
    if (!g || !cnt) {
        free(g);
        free(cnt);
        return;
    }
    for (int y = 0; y < img->height; y++) {
        const uint8_t *row = img->data + (size_t)y * img->stride;
        const int gy = (int)((long)y * h / img->height);
        for (int x = 0; x < img->width; x++) {
            const int gx = (int)((long)x * w / img->width);
            g[(size_t)gy * w + gx] += 0.299f * row[3 * x] + 0.587f * row[3 * x + 1] + 0.114f * row[3 * x + 2];
            cnt[(size_t)gy * w + gx] += 1;
        }
    }
    for (size_t i = 0; i < (size_t)w * h; i++) g[i] /= cnt[i] > 0 ? cnt[i] : 1;
    free(cnt);
    /* 2. Uniform borders cut away, at most a third of each side. */
    int top = 0, bottom = h, left = 0, right = w;
    const float e_top = line_mean(g, w, h, 0, 1), e_bottom = line_mean(g, w, h, h - 1, 1);
    const float e_left = line_mean(g, w, h, 0, 0), e_right = line_mean(g, w, h, w - 1, 0);
    while (top < h / 3 && border_line(g, w, h, top, 1, e_top)) top++;
    while (h - bottom < h / 3 && border_line(g, w, h, bottom - 1, 1, e_bottom)) bottom--;
    while (left < w / 3 && border_line(g, w, h, left, 0, e_left)) left++;
    while (w - right < w / 3 && border_line(g, w, h, right - 1, 0, e_right)) right--;
    /* 3. The content averaged to GRID x GRID. */
    float grid[GRID * GRID];
    const double cw = (double)(right - left) / GRID, ch = (double)(bottom - top) / GRID;
    double s = 0, s2 = 0;
    for (int y = 0; y < GRID; y++)
        for (int x = 0; x < GRID; x++) {
            const float v = box_mean(g, w, left + x * cw, left + (x + 1) * cw, top + y * ch, top + (y + 1) * ch);
            grid[y * GRID + x] = v;
            s += v;
            s2 += (double)v * v;
        }
    free(g);
    const double mean = s / (GRID * GRID), var = s2 / (GRID * GRID) - mean * mean;
    /* Nearly uniform (a standard deviation under 6 of 255): black, fades, plain cards. */
    if (var < 36.0) return;
    /* 4. Low frequencies of the DCT, each compared with their median. */
    double rowt[FREQS][GRID]; /* rowt[v-1][y] = sum_x cos(v, x) grid[y][x] */
    for (int v = 1; v <= FREQS; v++)
        for (int y = 0; y < GRID; y++) {
            double acc = 0;
            for (int x = 0; x < GRID; x++) acc += cos_table[v][x] * grid[y * GRID + x];
            rowt[v - 1][y] = acc;
        }
    float coef[FREQS * FREQS], sorted[FREQS * FREQS];
    for (int u = 1; u <= FREQS; u++)
        for (int v = 1; v <= FREQS; v++) {
            double acc = 0;
            for (int y = 0; y < GRID; y++) acc += cos_table[u][y] * rowt[v - 1][y];
            coef[(u - 1) * FREQS + (v - 1)] = (float)acc;
        }
    memcpy(sorted, coef, sizeof coef);
    qsort(sorted, FREQS * FREQS, sizeof *sorted, cmp_float);
    const float median = 0.5f * (sorted[FREQS * FREQS / 2 - 1] + sorted[FREQS * FREQS / 2]);
    for (int i = 0; i < FREQS * FREQS; i++)
        if (coef[i] > median) out->bits |= 1ull << i;
    out->flat = 0;
}
