/* vidx api: the JSON shapes of search and similar results (DESIGN.md), shared by the
 * HTTP service and `vidx search|similar --json`, so both print exactly the same.
 * Returns a new reference (json_decref) or NULL when out of memory. */
#ifndef VX_RESULTS_JSON_H
#define VX_RESULTS_JSON_H

#include <jansson.h>

#include "../ann/search.h"

json_t *vx_results_json(const char *query, double took_ms, const vx_results *r);

/* How every vidx JSON document is printed (compact, shortest round-trip reals). */
#define VX_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(9))

#endif
