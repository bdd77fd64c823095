/* vidx encoder: CLIP's image preprocessing.
 *
 * From an 8-bit RGB image: resize so the short side is the model's size with bicubic
 * filtering (PIL's algorithm: a = -0.5 kernel widened by the scale when shrinking, so it
 * antialiases; fixed-point coefficients and 8-bit rounding between the horizontal and
 * vertical passes, exactly as Pillow does for 8-bit images), centre crop, scale to
 * [0, 1], normalise with CLIP's mean and std, and lay out as 3 x S x S planes.
 *
 * The long side becomes int(S * long / short), the crop offset round((side - S) / 2)
 * with Python's half-to-even rounding: torchvision's Resize and CenterCrop.
 */
#ifndef VX_IMAGE_H
#define VX_IMAGE_H

#include <stdint.h>

#include "../common/error.h"

typedef struct vx_rgb_image {
    int width, height;
    int stride;     /* bytes per row */
    uint8_t *data;  /* RGB, 3 bytes per pixel */
} vx_rgb_image;

/* Resizes src into dst (allocated here, free with vx_rgb_free) with Pillow's bicubic
 * filter. Returns 0 or -1. */
int vx_rgb_resize_bicubic(const vx_rgb_image *src, int width, int height, vx_rgb_image *dst, vx_error *err);
void vx_rgb_free(vx_rgb_image *img);

/* Output size of the short-side resize to `size`. */
void vx_clip_resize_dims(int width, int height, int size, int *out_w, int *out_h);

/* CLIP preprocessing of src into out[3 * size * size]. Returns 0 or -1. With resized
 * not NULL, the short-side-resized image (before the crop) is handed over too, for
 * callers that want a small copy of the frame (free with vx_rgb_free). */
int vx_image_preprocess(const vx_rgb_image *src, int size, float *out, vx_error *err);
int vx_image_preprocess_keep(const vx_rgb_image *src, int size, float *out, vx_rgb_image *resized, vx_error *err);

#endif
