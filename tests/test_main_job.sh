#!/usr/bin/env bash
# The main job (scripts/run.sh) as a user runs it, on 127.0.0.1:
#   1. with a hub laid out as openai/clip-vit-base-patch32 really is (tests/mock_hub.py:
#      pytorch_model.bin, no model.safetensors): it downloads the .bin, indexes and
#      serves, and search by what is seen answers;
#   2. with no hub at all: it says once what is missing, how to get it and what works,
#      indexes without the model and serves words; then the model is placed in its folder
#      and the running service takes it up on its own: the frames are encoded, visual
#      search and similar videos answer, and each video's text stays as it was;
#   3. `vidx index` with another model: the frames are encoded again, the text kept.
#
# usage: test_main_job.sh BUILD_DIR MAKE_RANDOM_CLIP BPE_GZ
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
build=$1
make_clip=$2
bpe=$3
work=$(mktemp -d)
# Clips made here, with a subtitle file and a description beside them.
videos="$work/videos"
mkdir -p "$videos"
ffmpeg -loglevel error -f lavfi -i testsrc=duration=4:size=320x240:rate=10 -pix_fmt yuv420p "$videos/harbour.mp4" &&
  ffmpeg -loglevel error -f lavfi -i smptebars=duration=4:size=320x240:rate=10 -pix_fmt yuv420p "$videos/bars.mp4" &&
  ffmpeg -loglevel error -f lavfi -i mandelbrot=size=320x240:rate=10 -t 4 -pix_fmt yuv420p "$videos/fractal.mp4" ||
  { echo "cannot make clips with ffmpeg" >&2; exit 1; }
printf '1\n00:00:01,000 --> 00:00:03,000\nthe lighthouse keeper waves at dawn\n' >"$videos/harbour.srt"
printf 'Colour bars from a test signal generator\n' >"$videos/bars.txt"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
json() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

export VIDX_BUILD="$build" MOCK_PROMPTS
MOCK_PROMPTS="$(dirname "$bpe")/prompts.md"

# The service's answer to a GET, or nothing.
get() { curl -sf --max-time 10 "http://$listen$1"; }
# Waits (at most $2 s) until the service's /healthz satisfies the Python expression $1.
wait_health() {
  local deadline=$((SECONDS + $2)) h
  while [ $SECONDS -lt $deadline ]; do
    if h=$(get /healthz) && [ "$(printf '%s' "$h" | json "$1" 2>/dev/null)" = True ]; then return 0; fi
    sleep 0.5
  done
  echo "last /healthz: ${h:-none}" >&2
  return 1
}
# Starts run.sh in the background; its output goes to $work/$1.log.
start_main_job() {
  listen=127.0.0.1:$(free_port)
  VIDX_LISTEN=$listen "$root/scripts/run.sh" "$videos" >"$work/$1.log" 2>&1 &
  pids+=($!)
  main_pid=$!
}
stop_main_job() { kill "$main_pid" 2>/dev/null; wait "$main_pid" 2>/dev/null; }

# --- 1. the hub as it really is: pytorch_model.bin only ------------------------------------
mkdir -p "$work/remote"
"$make_clip" --bpe "$bpe" --seed 11 --format bin "$work/remote" >/dev/null || exit 1
for f in tf_model.h5 flax_model.msgpack; do head -c 4096 /dev/urandom >"$work/remote/$f"; done
for f in preprocessor_config.json special_tokens_map.json tokenizer.json tokenizer_config.json; do echo '{}' >"$work/remote/$f"; done
python3 "$root/tests/mock_hub.py" "$work/remote" "$work/hub-port" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/hub-port" ] && break; sleep 0.05; done
export HF_ENDPOINT="http://127.0.0.1:$(cat "$work/hub-port")"
export VIDX_PROMPTS_BASE="$HF_ENDPOINT/github/openai/CLIP"
export VIDX_MODEL="$work/model" VIDX_DB="$work/db"
start_main_job online
if wait_health 'd["visual_search"] == "on" and d["segments"] > 0' 300; then
  [ -f "$work/model/pytorch_model.bin" ] && [ ! -e "$work/model/model.safetensors" ] ||
    fail "the model folder does not hold the hub's pytorch_model.bin: $(ls "$work/model")"
  r=$(get '/v1/search?q=colour+bars&k=3')
  [ "$(printf '%s' "$r" | json '"visual" in d["results"][0]["matched"]')" = True ] ||
    fail "search by what is seen did not answer: $r"
else
  fail "the main job did not serve with the downloaded model: $(tail -20 "$work/online.log")"
fi
grep -q "GET /cdn/pytorch_model.bin" "$work/requests.log" || fail "pytorch_model.bin was not downloaded"
stop_main_job

# --- 2. no hub: served without the model, then the model arrives ----------------------------
export HF_ENDPOINT="http://127.0.0.1:$(free_port)" # nothing listens there
export VIDX_MODEL="$work/model2" VIDX_DB="$work/db2"
start_main_job offline
if wait_health 'd["visual_search"] == "waiting for the model"' 300; then
  [ "$(grep -c 'could not be downloaded, so vidx starts without it' "$work/offline.log")" = 1 ] ||
    fail "the main job did not say once that it starts without the model: $(cat "$work/offline.log")"
  grep -q "To get it: run ./scripts/download_model.sh" "$work/offline.log" || fail "no word on how to get the model"
  grep -q "Works now: search by words" "$work/offline.log" || fail "no word on what works without the model"
  r=$(get '/v1/search?q=lighthouse+keeper&k=3')
  [ "$(printf '%s' "$r" | json 'd["results"][0]["title"]')" = harbour.mp4 ] || fail "word search without the model: $r"
  [ "$(printf '%s' "$r" | json 'd["results"][0]["matched"]')" = "['subtitle']" ] || fail "matched without the model: $r"
  id=$(printf '%s' "$r" | json 'd["results"][0]["video_id"]')
  before=$(get "/v1/videos/$id")
  [ "$(printf '%s' "$before" | json 'd["text"]["subtitle_cues"]')" = 1 ] ||
    fail "the subtitle was not read without the model: $before"
  [ "$(printf '%s' "$before" | json 'd.get("visual")')" = "waiting for the model" ] ||
    fail "the video does not say it waits for the model: $before"
  curl -s "http://$listen/v1/videos/$id/similar" | grep -q "indexed without the CLIP model" ||
    fail "similar videos without the model did not say why"
  page=$(get /)
  printf '%s' "$page" | grep -q 'id="model-note"' || fail "the page has no place to say the model is missing"
  # The model arrives, as a user copies it in.
  mkdir -p "$work/model2"
  cp "$work/model/"* "$work/model2/"
  if wait_health 'd["visual_search"] == "on" and d["segments"] > 0 and d["videos"] >= 3' 120; then
    r=$(get '/v1/search?q=colour+bars&k=3')
    [ "$(printf '%s' "$r" | json '"visual" in d["results"][0]["matched"]')" = True ] ||
      fail "visual search after the model arrived: $r"
    after=$(get "/v1/videos/$id")
    [ "$(printf '%s' "$after" | json 'd.get("visual")')" = None ] || fail "the video still waits: $after"
    [ "$(printf '%s' "$before" | json '(d["title"], d.get("text"), d["path"], d["created_at"])')" = \
      "$(printf '%s' "$after" | json '(d["title"], d.get("text"), d["path"], d["created_at"])')" ] ||
      fail "the video's text or record changed when its frames were encoded: $before / $after"
    get "/v1/videos/$id/similar" | grep -q '"results"' || fail "similar videos after the model arrived"
    grep -q "the CLIP model arrived" "$work/offline.log" || fail "the service did not log the model's arrival"
  else
    fail "the service did not take the model up: $(tail -20 "$work/offline.log")"
  fi
else
  fail "the main job did not serve without the model: $(tail -30 "$work/offline.log")"
fi
stop_main_job

# --- 3. another model: `vidx index` encodes every video's frames again, keeps the rest -------
"$make_clip" --bpe "$bpe" --seed 12 --format bin-legacy "$work/model3" >/dev/null || exit 1
before=$("$build/vidx" video --db "$work/db2" --json "$id")
out=$("$build/vidx" index --db "$work/db2" --model "$work/model3" "$videos" 2>&1) || fail "indexing with another model: $out"
printf '%s' "$out" | grep -q "the model changed" || fail "the model change was not said: $out"
printf '%s' "$out" | grep -q "frames encoded for 3 that waited for the model" || fail "not every video was encoded again: $out"
"$build/vidx" info --db "$work/db2" --check >/dev/null || fail "the catalog is not consistent after the model change"
after=$("$build/vidx" video --db "$work/db2" --json "$id")
[ "$(printf '%s' "$before" | json '(d["title"], d.get("text"), d["path"], d["created_at"])')" = \
  "$(printf '%s' "$after" | json '(d["title"], d.get("text"), d["path"], d["created_at"])')" ] ||
  fail "the video's text or record changed with the model: $before / $after"
r=$("$build/vidx" search --db "$work/db2" --model "$work/model3" --json "colour bars")
[ "$(printf '%s' "$r" | json '"visual" in d["results"][0]["matched"]')" = True ] || fail "visual search with the new model: $r"
"$build/vidx" info --db "$work/db2" | grep -q "fingerprint" || fail "info does not name the model"

[ "$failures" -eq 0 ] || { echo "$failures failures" >&2; exit 1; }
echo "main job ok"
