#include "image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Pillow's fixed point: coefficients scaled by 2^22, so a sum of 8-bit products fits. */
#define PRECISION_BITS (32 - 8 - 2)

static const float CLIP_MEAN[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float CLIP_STD[3] = {0.26862954f, 0.26130258f, 0.27577711f};

static double bicubic(double x) {
    const double a = -0.5;
    if (x < 0) x = -x;
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis: for each output
 * position, the first input index, the tap count, and ksize integer weights. */
static int coeffs(int in_size, int out_size, int **bounds_out, int32_t **k_out, int *ksize_out) {
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    int *bounds = malloc((size_t)out_size * 2 * sizeof *bounds);
    int32_t *kk = malloc((size_t)out_size * ksize * sizeof *kk);
    double *w = malloc((size_t)ksize * sizeof *w);
    if (!bounds || !kk || !w) {
        free(bounds); free(kk); free(w);
        return -1;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            w[x] = bicubic((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = kk + (size_t)xx * ksize;
        for (int x = 0; x < ksize; x++) {
            double v = x < xmax ? (ww != 0 ? w[x] / ww : w[x]) : 0;
            k[x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
    free(w);
    *bounds_out = bounds;
    *k_out = kk;
    *ksize_out = ksize;
    return 0;
}

static inline uint8_t clip8(int32_t v) {
    if (v >= (1 << PRECISION_BITS << 8)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

void vx_rgb_free(vx_rgb_image *img) {
    if (!img) return;
    free(img->data);
    img->data = NULL;
}

int vx_rgb_resize_bicubic(const vx_rgb_image *src, int width, int height, vx_rgb_image *dst, vx_error *err) {
    int *hb = NULL, *vb = NULL, hk = 0, vk = 0;
    int32_t *hc = NULL, *vc = NULL;
    uint8_t *tmp = NULL;
    int rc = -1;
    memset(dst, 0, sizeof *dst);
    if (width < 1 || height < 1 || src->width < 1 || src->height < 1) return vx_fail(err, "empty image");
    dst->width = width;
    dst->height = height;
    dst->stride = width * 3;
    dst->data = malloc((size_t)dst->stride * height);
    if (!dst->data) return vx_fail(err, "out of memory resizing to %dx%d", width, height);
    const int need_h = width != src->width, need_v = height != src->height;
    if (need_h && coeffs(src->width, width, &hb, &hc, &hk)) goto oom;
    if (need_v && coeffs(src->height, height, &vb, &vc, &vk)) goto oom;

    /* Horizontal pass first (as Pillow), over only the rows the vertical pass reads. */
    int first = 0, last = src->height;
    if (need_v) {
        first = vb[0];
        last = vb[2 * (height - 1)] + vb[2 * (height - 1) + 1];
    }
    const uint8_t *mid = src->data + (size_t)first * src->stride;
    int mid_stride = src->stride;
    if (need_h) {
        tmp = malloc((size_t)(last - first) * width * 3);
        if (!tmp) goto oom;
        for (int y = first; y < last; y++) {
            const uint8_t *in = src->data + (size_t)y * src->stride;
            uint8_t *out = tmp + (size_t)(y - first) * width * 3;
            for (int xx = 0; xx < width; xx++) {
                const int xmin = hb[2 * xx], n = hb[2 * xx + 1];
                const int32_t *k = hc + (size_t)xx * hk;
                int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
                for (int x = 0; x < n; x++) {
                    const uint8_t *px = in + (size_t)(xmin + x) * 3;
                    s0 += px[0] * k[x];
                    s1 += px[1] * k[x];
                    s2 += px[2] * k[x];
                }
                out[3 * xx] = clip8(s0);
                out[3 * xx + 1] = clip8(s1);
                out[3 * xx + 2] = clip8(s2);
            }
        }
        mid = tmp;
        mid_stride = width * 3;
    }
    if (need_v) {
        for (int yy = 0; yy < height; yy++) {
            const int ymin = vb[2 * yy] - first, n = vb[2 * yy + 1];
            const int32_t *k = vc + (size_t)yy * vk;
            uint8_t *out = dst->data + (size_t)yy * dst->stride;
            for (int x = 0; x < width * 3; x++) {
                int32_t s = 1 << (PRECISION_BITS - 1);
                for (int y = 0; y < n; y++) s += mid[(size_t)(ymin + y) * mid_stride + x] * k[y];
                out[x] = clip8(s);
            }
        }
    } else {
        for (int y = 0; y < height; y++) memcpy(dst->data + (size_t)y * dst->stride, mid + (size_t)y * mid_stride, (size_t)width * 3);
    }
    rc = 0;
    goto done;
oom:
    vx_fail(err, "out of memory resizing to %dx%d", width, height);
    vx_rgb_free(dst);
done:
    free(hb); free(hc); free(vb); free(vc); free(tmp);
    return rc;
}

void vx_clip_resize_dims(int width, int height, int size, int *out_w, int *out_h) {
    if (width <= height) {
        *out_w = size;
        *out_h = (int)((long long)size * height / width); /* int(size * long / short) */
    } else {
        *out_h = size;
        *out_w = (int)((long long)size * width / height);
    }
}

/* round((extra) / 2) with Python's half-to-even rule. */
static int crop_offset(int extra) {
    int q = extra / 2;
    if ((extra & 1) && (q & 1)) q++;
    return q;
}

int vx_image_preprocess(const vx_rgb_image *src, int size, float *out, vx_error *err) {
    return vx_image_preprocess_keep(src, size, out, NULL, err);
}

int vx_image_preprocess_keep(const vx_rgb_image *src, int size, float *out, vx_rgb_image *keep, vx_error *err) {
    int w, h;
    vx_rgb_image resized;
    if (src->width < 1 || src->height < 1) return vx_fail(err, "empty image");
    vx_clip_resize_dims(src->width, src->height, size, &w, &h);
    if (w < size || h < size) return vx_fail(err, "image %dx%d is too thin to crop", src->width, src->height);
    if (vx_rgb_resize_bicubic(src, w, h, &resized, err)) return -1;
    const int top = crop_offset(h - size), left = crop_offset(w - size);
    const size_t plane = (size_t)size * size;
    for (int y = 0; y < size; y++) {
        const uint8_t *row = resized.data + (size_t)(top + y) * resized.stride + (size_t)left * 3;
        for (int x = 0; x < size; x++)
            for (int c = 0; c < 3; c++) {
                /* torchvision: to_tensor divides by 255, Normalize subtracts and divides. */
                float v = (float)row[3 * x + c] / 255.0f;
                out[c * plane + (size_t)y * size + x] = (v - CLIP_MEAN[c]) / CLIP_STD[c];
            }
    }
    if (keep) *keep = resized;
    else vx_rgb_free(&resized);
    return 0;
}
