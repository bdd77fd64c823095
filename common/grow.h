/* vidx common: one way to grow an array.
 *
 *     size_t n = 0, cap = 0;
 *     item *items = NULL;
 *     if (VX_GROW(items, cap, n + 1)) return vx_fail(err, "out of memory");
 *     items[n++] = x;
 *
 * Capacity doubles (from 16), so appending n items costs O(n); on failure nothing
 * changes: the array and its capacity are as they were. */
#ifndef VX_GROW_H
#define VX_GROW_H

#include <stddef.h>

/* Room for at least `need` elements of `size` bytes in the array *array_ptr (of capacity
 * *cap): 0, or -1 when out of memory or the size would overflow. */
int vx_grow(void *array_ptr, size_t *cap, size_t need, size_t size);

#define VX_GROW(array, cap, need) vx_grow(&(array), &(cap), (need), sizeof *(array))

#endif
