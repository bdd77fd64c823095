#!/usr/bin/env bash
# The main job: set up, build an optimised vidx, get the model, index a folder of
# videos, then serve it over HTTP until Ctrl-C.
#
#   scripts/run.sh [VIDEO_DIR]      (default: the shared videos, ../shared/data/videos)
#
# The model comes from --model's usual places (VIDX_MODEL, the default folder); when it
# is missing, scripts/download_model.sh fetches it where there is internet. Where it
# cannot, this says once what is missing, how to get it and what works meanwhile, and
# goes on without it: the videos are indexed with everything that needs no model and
# served (word search, thumbnails, renditions, feeds, the web page); once the model is in
# place the running service takes it up and encodes their frames on its own.
#
# The database is $VIDX_DB (default ./vidx-data); the service listens on $VIDX_LISTEN
# (default 127.0.0.1:8080). The admin token for POST /v1/index is $VIDX_ADMIN_TOKEN, or
# one generated into DATA/admin-token. VIDX_BUILD names a vidx build to use as it is
# (tests); by default this builds one into build/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/setup.sh
if [ -n "${VIDX_BUILD:-}" ]; then
  build="$VIDX_BUILD"
else
  build=build
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j "$(nproc)"
fi
vidx="$build/vidx"

# A model folder is usable when vidx loads it (any weights format it reads; a folder cut
# short by an interrupted copy is not, and the download then completes it).
has_model() { "$vidx" embed --model "$1" --precision f32 --text model >/dev/null 2>&1; }

model="${VIDX_MODEL:-${XDG_DATA_HOME:-$HOME/.local/share}/vidx/models/clip-vit-base-patch32}"
if ! has_model "$model"; then
  echo "run: no usable CLIP model in $model; trying to download it"
  if ! ./scripts/download_model.sh "$model"; then
    cat <<MSG
run: ---------------------------------------------------------------------------------
run: The CLIP model could not be downloaded, so vidx starts without it.
run:   Missing: openai/clip-vit-base-patch32 in $model
run:            (config.json, vocab.json, merges.txt and pytorch_model.bin or
run:            model.safetensors; any format the hub publishes).
run:   To get it: run ./scripts/download_model.sh where there is internet, or copy those
run:            files into that folder (or set VIDX_MODEL to a folder holding them).
run:   Works now: search by words (titles, subtitles, descriptions, file names, tags),
run:            thumbnails, playback in the browser (renditions), near-duplicates,
run:            feeds, the web page.
run:   Waits for the model: search by what is seen, pictures as queries, "more like
run:            this" and zero-shot tags. Once the files are in place, the running
run:            service takes the model up and encodes the videos' frames on its own
run:            (or run: vidx index).
run: ---------------------------------------------------------------------------------
MSG
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
index_args=()
has_model "$model" || index_args=(--quiet) # the note above said it: no per-file lines
"$vidx" index "${index_args[@]}" "$videos" || echo "run: some files failed (listed above)"
"$vidx" info

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
exec "$vidx" serve --listen "$listen" "${token_args[@]}"
