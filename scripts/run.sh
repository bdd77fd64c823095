#!/usr/bin/env bash
# The main job: set up, build an optimised vidx, get the model, index a folder of
# videos and show the database.
#
#   scripts/run.sh [VIDEO_DIR]      (default: the shared videos, ../shared/data/videos)
#
# The model comes from --model's usual places (VIDX_MODEL, the default folder); when it
# is missing, scripts/download_model.sh fetches it where there is internet, and
# otherwise this says exactly what to place where. Serving joins when it lands.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"

model="${VIDX_MODEL:-${XDG_DATA_HOME:-$HOME/.local/share}/vidx/models/clip-vit-base-patch32}"
if [ ! -f "$model/model.safetensors" ]; then
  echo "run: no CLIP model in $model; trying to download it"
  if ! ./scripts/download_model.sh "$model"; then
    cat <<MSG
run: could not download the model. Place the files of openai/clip-vit-base-patch32
     (config.json, model.safetensors, vocab.json, merges.txt) in
       $model
     or set VIDX_MODEL to a folder holding them, then run this again.
MSG
    ./build/vidx info
    exit 1
  fi
fi
videos="${1:-}"
if [ -z "$videos" ]; then videos="$(./scripts/shared_data.sh)/videos"; fi
VIDX_MODEL="$model" ./build/vidx index "$videos" || echo "run: some files failed (listed above)"
./build/vidx info
