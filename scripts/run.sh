#!/usr/bin/env bash
# The main job: set up, build an optimised vidx, get the model, index a folder of
# videos, then serve it over HTTP until Ctrl-C.
#
#   scripts/run.sh [VIDEO_DIR]      (default: the shared videos, ../shared/data/videos)
#
# The model comes from --model's usual places (VIDX_MODEL, the default folder); when it
# is missing, scripts/download_model.sh fetches it where there is internet, and
# otherwise this says exactly what to place where. The database is $VIDX_DB (default
# ./vidx-data); the service listens on $VIDX_LISTEN (default 127.0.0.1:8080). The admin
# token for POST /v1/index is $VIDX_ADMIN_TOKEN, or one generated into DATA/admin-token.
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
export VIDX_MODEL="$model"
# Zero-shot tags read OpenAI's prompts.md from the model folder (download_model.sh puts it
# there); a model placed by hand may lack it: then the shared data's copy, when present.
shared_prompts="$(./scripts/shared_data.sh 2>/dev/null || true)/clip/prompts.md"
if [ -z "${VIDX_TAG_PROMPTS:-}" ] && [ ! -f "$model/prompts.md" ] && [ -f "$shared_prompts" ]; then
  export VIDX_TAG_PROMPTS="$shared_prompts"
fi
./build/vidx index "$videos" || echo "run: some files failed (listed above)"
./build/vidx info

db="${VIDX_DB:-vidx-data}"
token_args=()
if [ -z "${VIDX_ADMIN_TOKEN:-}" ]; then
  if [ ! -s "$db/admin-token" ]; then
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$db/admin-token")
  fi
  token_args=(--admin-token-file "$db/admin-token")
  echo "run: admin token for POST /v1/index is in $db/admin-token"
fi
listen="${VIDX_LISTEN:-127.0.0.1:8080}"
echo "run: serving on http://$listen/ (Ctrl-C stops it cleanly)"
exec ./build/vidx serve --listen "$listen" "${token_args[@]}"
