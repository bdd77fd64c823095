#!/usr/bin/env bash
# Runs the benchmarks on an optimised build and prints their tables.
# Random ViT-B/32-shaped weights are generated once into the cache (VIDX_CACHE).
#
#   scripts/bench.sh          encoder and indexer (a few minutes)
#   scripts/bench.sh ann      vector indexes on 1,000,000 vectors (about 20 minutes;
#                             extra arguments go to bench_ann, e.g. --n 200000)
#   scripts/bench.sh http     HTTP load with wrk on 100,000 synthetic videos (a few
#                             minutes; the first run builds the database and index)
#   scripts/bench.sh recommend   offline evaluation on MovieLens 100K (u.data): the models,
#                             held-out films, and the feed as served under a grid of
#                             blends (about 5 minutes)
#   scripts/bench.sh text     text search: lexical retrieval on MSVD/MSR-VTT captions, the
#                             fusion's tuning, lexical latency at 100,000 videos x 50 cues,
#                             the text sources' cost, and fused beside visual-only search
#                             over HTTP (about 15 minutes the first time: it builds both)
#   scripts/bench.sh understand  near-duplicates (precision and recall on FFmpeg variants,
#                             the check at 100,000 videos), tags, key frames and picture
#                             queries: costs and the tags' calibration (about 15 minutes)
#   scripts/bench.sh load     loading the same ViT-B/32 weights from model.safetensors,
#                             pytorch_model.bin (zip, legacy) and shards, beside one pass
#                             over the files (a few minutes; writes 2.4 GB into the cache)
#   scripts/bench.sh media    renditions: time per minute of video beside indexing, disk,
#                             search latency while they run (about 10 minutes)
#   scripts/bench.sh cluster  NATS JetStream cluster: queue, 1/2/4 workers, events across
#                             nodes, catch-up of a new node from 100,000 synthetic videos
#                             (about 15 minutes; extra arguments go to bench_cluster.py,
#                             e.g. --videos 20000)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/setup.sh >/dev/null
cache="${VIDX_CACHE:-$HOME/.cache/vidx}"
shared=$(./scripts/shared_data.sh)
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DVIDX_BUILD_TESTS=OFF >/dev/null
cmake --build build-bench -j "$(nproc)" >/dev/null
if [ "${1:-}" = "ann" ]; then
  shift
  exec build-bench/bench/bench_ann "$@"
fi
if [ "${1:-}" = "recommend" ]; then
  shift
  exec build-bench/bench/bench_recommend --data "$shared/movielens/ml-100k/u.data" "$@"
fi
model="$cache/bench-b32"
if [ ! -f "$model/model.safetensors" ]; then
  echo "bench: generating random ViT-B/32 weights in $model"
  build-bench/make_random_clip --preset b32 --bpe "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$model"
fi
if [ "${1:-}" = "http" ]; then
  shift
  exec bench/bench_http.sh build-bench "$model" "$@"
fi
if [ "${1:-}" = "text" ]; then
  shift
  build-bench/bench/bench_text "$shared"
  exec bench/bench_text_http.sh build-bench "$model" "$shared" "$@"
fi
if [ "${1:-}" = "understand" ]; then
  shift
  exec build-bench/bench/bench_understand "$shared" --model "$model" --cache "$cache" "$@"
fi
if [ "${1:-}" = "load" ]; then
  # The same weights as pytorch_model.bin (zip, legacy) and in shards (same seed as $model).
  for fmt in "bin" "bin-legacy" "bin 2" "safetensors 2"; do
    set -- $fmt
    dir="$model-${1}${2:+-shards}"
    if [ -z "$(ls "$dir"/*.json 2>/dev/null | grep -v config.json)" ] && [ ! -f "$dir/pytorch_model.bin" ]; then
      echo "bench: writing the same weights as $1${2:+ in $2 shards} into $dir"
      build-bench/make_random_clip --preset b32 --format "$1" ${2:+--shards "$2"} \
        --bpe "$shared/clip/bpe_simple_vocab_16e6.txt.gz" "$dir" >/dev/null
    fi
  done
  exec build-bench/bench/bench_load "$model" "$model-bin" "$model-bin-legacy" "$model-bin-shards" "$model-safetensors-shards"
fi
if [ "${1:-}" = "media" ]; then
  shift
  exec python3 bench/bench_media.py build-bench "$shared" "$model" "$@"
fi
if [ "${1:-}" = "cluster" ]; then
  shift
  exec python3 bench/bench_cluster.py build-bench/vidx build-bench/bench/cluster_load "$shared" "$model" "$@"
fi
# The multilingual text tower at full size (random weights, its published layout).
text_model="$cache/bench-mtext"
if [ ! -f "$text_model/model.safetensors" ]; then
  echo "bench: generating a random multilingual text tower in $text_model"
  build-bench/make_random_clip --preset b32 --mtext tests/golden/wordpiece/tokenizer.json "$text_model" >/dev/null
fi
build-bench/bench/bench_encoder "$model" --text-model "$text_model"
echo
build-bench/bench/bench_indexer "$model" "$shared/videos"
