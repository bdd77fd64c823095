#!/usr/bin/env bash
# Prints the shared data folder (real videos, captions, CLIP vocabulary, golden outputs)
# that tests and benchmarks read: $VIDX_SHARED_DATA, else ../shared/data beside this
# checkout, else beside the repository this one was cloned from. Fails with a message
# naming the places it looked.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
candidates=()
[ -n "${VIDX_SHARED_DATA:-}" ] && candidates+=("$VIDX_SHARED_DATA")
candidates+=("$root/../shared/data")
origin=$(git -C "$root" config --get remote.origin.url 2>/dev/null || true)
case "$origin" in
  /*) candidates+=("$origin/../shared/data") ;;
  file://*) candidates+=("${origin#file://}/../shared/data") ;;
esac
for c in "${candidates[@]}"; do
  if [ -f "$c/clip/bpe_simple_vocab_16e6.txt.gz" ]; then
    (cd "$c" && pwd)
    exit 0
  fi
done
echo "shared data not found (looked in: ${candidates[*]}); set VIDX_SHARED_DATA to the folder holding clip/, clip-golden/, videos/" >&2
exit 1
