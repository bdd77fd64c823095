/* Each fuzz target provides valid example inputs; the standalone driver mutates them
 * and libFuzzer runs can start from them (`fuzz_X --write-seeds DIR`). */
#ifndef VX_FUZZ_SEEDS_H
#define VX_FUZZ_SEEDS_H

#include <stddef.h>
#include <stdint.h>

#include "../../common/coding.h"

int fuzz_seeds(vx_buf *seeds, size_t *n_seeds, size_t max_seeds);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
