/* vidx command line: where things live (the edge: environment variables are read here).
 *
 * Resolution order (DESIGN.md):
 *   database: --db flag, then $VIDX_DB, then ./vidx-data
 *   model:    --model flag, then $VIDX_MODEL, then the model recorded in the database
 *             (the engine knows it), then the default model folder ($XDG_DATA_HOME or
 *             ~/.local/share, under vidx/models/clip-vit-base-patch32)
 *   the multilingual text tower: --text-model, then $VIDX_TEXT_MODEL, then
 *             vidx/models/clip-ViT-B-32-multilingual-v1 there when it holds one
 * Returned strings are static or the caller's own; nothing to free.
 */
#ifndef VX_CONFIG_H
#define VX_CONFIG_H

#include <stddef.h>

#define VX_DEFAULT_DB "vidx-data"
#define VX_DEFAULT_MODEL_NAME "clip-vit-base-patch32"
#define VX_DEFAULT_TEXT_MODEL_NAME "clip-ViT-B-32-multilingual-v1" /* the multilingual text tower */

const char *vx_resolve_db(const char *flag);

/* Writes the default model folder into out. Returns 0, or -1 if it does not fit or no
 * home folder is known. */
int vx_default_model_dir(char *out, size_t out_size);
/* The same for the folder NAME beside it (the multilingual text tower's). */
int vx_default_models_dir(const char *name, char *out, size_t out_size);

#endif
