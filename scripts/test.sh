#!/usr/bin/env bash
# The test command: set up, build with clang + AddressSanitizer + UBSan + libFuzzer,
# warnings as errors, and run every CTest test. `.ci/run` runs exactly this.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/setup.sh
build="${VIDX_TEST_BUILD:-$root/build-test}"
shared=$(./scripts/shared_data.sh)
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DVIDX_WERROR=ON -DVIDX_SANITIZE=address,undefined -DVIDX_LIBFUZZER=ON -DVIDX_SHARED_DATA="$shared" >/dev/null
cmake --build "$build" -j "$(nproc)"
cd "$build"
ctest --output-on-failure -j "$(nproc)" "$@"
