#!/usr/bin/env bash
# The main job: set up, build an optimised vidx, and show the database.
# Later steps (model download, indexing a folder, serving it) join as they land.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
./build/vidx info
