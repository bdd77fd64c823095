#!/usr/bin/env bash
# HTTP load benchmark: vidx serve on loopback over a synthetic database (100,000 videos
# by default), driven by wrk. Prints requests/s, p50 and p99 latency and errors for
# similar-video, feed, and text search with cached and uncached queries, each beside
# /healthz measured in the same run (the cost of HTTP alone on this machine), and the
# server's memory before and after. Run through scripts/bench.sh http.
#
#   bench_http.sh BUILD_DIR MODEL_DIR [SECONDS]        (default 20 s per workload)
#   VIDX_BENCH_LONG=600 ...    then runs similar-video (popular set) for 600 s more, memory
#                              every 60 s
set -euo pipefail
build="$1"
"$build/bench/print_machine"
model="$2"
secs="${3:-20}"
here=$(cd "$(dirname "$0")" && pwd)
cache="${VIDX_CACHE:-$HOME/.cache/vidx}"
videos="${VIDX_BENCH_VIDEOS:-100000}"
users=100
db="$cache/bench-http-$videos"
if [ ! -f "$db/ids.txt" ]; then
  echo "bench_http: writing $videos synthetic videos, $users users x 1000 events to $db"
  rm -rf "$db"
  "$build/bench/make_synthetic_db" "$db" --videos "$videos" --users "$users" --events 1000 --ids "$db/ids.txt.tmp"
  mv "$db/ids.txt.tmp" "$db/ids.txt"
fi
ready="$db/ready"
log="$db/server.log"
rm -f "$ready"
token="bench-admin-token-$RANDOM$RANDOM$RANDOM"
VIDX_ADMIN_TOKEN="$token" VIDX_LOG=warn "$build/vidx" serve --db "$db" --model "$model" --listen 127.0.0.1:0 --ready-file "$ready" \
  >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
echo "bench_http: starting the server (the first start builds the vector index: minutes)"
while [ ! -f "$ready" ]; do
  kill -0 $pid 2>/dev/null || { cat "$log"; exit 1; }
  sleep 1
done
addr=$(cat "$ready")
# Resident memory, MiB: "heap (all)". All includes the pages of LevelDB's table files,
# which it maps; they are the page cache's, not growth. The heap part is what could leak.
rss() { awk '/VmRSS/ {t = $2} /RssAnon/ {a = $2} END {printf "%.0f (%.0f)", a / 1024, t / 1024}' "/proc/$pid/status"; }
export VIDX_IDS="$db/ids.txt" VIDX_USERS="$users"

# The server's CPU time so far, in clock ticks (user + system, all its threads).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)

# wrk's summary -> "rps p50_ms p99_ms errors cpu_ms_per_request" (the server's CPU over the
# run divided by the requests answered: background threads' work included)
run() {
  local script="$1" path="$2" s="$3"
  local out c0 c1
  c0=$(cpu_ticks)
  if [ -n "$script" ]; then out=$(wrk -t2 -c32 -d"${s}s" --latency -s "$here/wrk/$script" "http://$addr$path")
  else out=$(wrk -t2 -c32 -d"${s}s" --latency "http://$addr$path"); fi
  c1=$(cpu_ticks)
  echo "$out" | awk -f "$here/wrk_summary.awk" | tr -d '\n'
  echo "$out" | awk -v c="$((c1 - c0))" -v hz="$hz" '/requests in/ {n = $1} END {printf(" %.3f\n", (n > 0 ? 1000 * c / hz / n : 0))}'
}

printf '\n%s videos, %s s per workload, wrk -t2 -c32 on the same 2 cores as the server\n\n' "$videos" "$secs"
# The feeds' item model: its first build runs in the background after start.
for _ in $(seq 1 600); do
  model=$(curl -sf "http://$addr/healthz" | python3 -c 'import json, sys; m = json.load(sys.stdin).get("feed_model", {})
print(m.get("state", "none"), m.get("train_s", 0), m.get("bytes", 0), m.get("weights", 0), m.get("videos_learned", 0), m.get("videos_from_content", 0))')
  case "$model" in training*) sleep 1 ;; *) break ;; esac
done
read -r mstate mtrain mbytes mweights mlearned mcontent <<<"$model"
printf '\nfeed model: %s; %s videos learned from engagement, %s new ones from content; %s weights, %s MiB; trained in %s s\n' \
  "$mstate" "$mlearned" "$mcontent" "$mweights" "$(awk -v b="$mbytes" 'BEGIN {printf "%.1f", b / 1048576}')" \
  "$(awk -v t="$mtrain" 'BEGIN {printf "%.1f", t}')"

printf '| workload | requests/s | p50 ms | p99 ms | errors | of /healthz rps | server CPU ms/request | RSS MiB after: heap (all) |\n'
printf '|---|---|---|---|---|---|---|---|\n'
rss0=$(rss)
read -r hrps hp50 hp99 herr hcpu < <(run "" /healthz "$secs")
printf '| /healthz (baseline) | %s | %s | %s | %s | 1.00 | %s | %s |\n' "$hrps" "$hp50" "$hp99" "$herr" "$hcpu" "$(rss)"
# Steady service: the popular set's answers and the common queries are cached first.
VIDX_SIMILAR=hot wrk -t2 -c32 -d5s -s "$here/wrk/similar.lua" "http://$addr/" >/dev/null
VIDX_QUERIES=cached wrk -t1 -c1 -d2s -s "$here/wrk/search.lua" "http://$addr/" >/dev/null
for w in "similar.lua|/|similar video, never asked before" "similar.lua|/|similar video, 5,000 popular ones" \
         "feed.lua|/|feed (users with 1000 events)" \
         "search.lua|/|search, cached queries" "search.lua|/|search, uncached queries"; do
  IFS='|' read -r script path name <<<"$w"
  case "$name" in *uncached*) export VIDX_QUERIES=uncached ;; *) export VIDX_QUERIES=cached ;; esac
  case "$name" in *popular*) export VIDX_SIMILAR=hot ;; *) export VIDX_SIMILAR=cold ;; esac
  read -r rps p50 p99 err cpu < <(run "$script" "$path" "$secs")
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$rps" "$p50" "$p99" "$err" \
    "$(awk -v a="$rps" -v b="$hrps" 'BEGIN {printf "%.3f", (b > 0 ? a / b : 0)}')" "$cpu" "$(rss)"
done
# Latency without queueing: one client at a time.
for w in "feed.lua|feed, one client at a time" "similar.lua|similar (never asked before), one client at a time"; do
  IFS='|' read -r script name <<<"$w"
  export VIDX_SIMILAR=cold VIDX_SIMILAR_K=9 # another k: nothing cached by the runs above
  out=$(wrk -t1 -c1 -d"${secs}s" --latency -s "$here/wrk/$script" "http://$addr/")
  printf '| %s | %s |\n' "$name" "$(echo "$out" | awk '/Requests\/sec/ {r = $2} $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2}
    END {printf "%.0f req/s, p50 %s, p99 %s", r, p50, p99}')"
done

# Cheap requests while CPU-heavy work runs beside them: compare with the popular-set
# row above (same wrk settings).
printf '\ncheap requests beside heavy work (similar video, 5,000 popular ones; wrk -t2 -c32):\n\n'
printf '| beside | requests/s | p50 ms | p99 ms | errors | heavy work done meanwhile |\n|---|---|---|---|---|---|\n'
export VIDX_SIMILAR=hot VIDX_SIMILAR_K=10
VIDX_QUERIES=uncached wrk -t1 -c4 -d"${secs}s" -s "$here/wrk/search.lua" "http://$addr/" >"$db/beside.txt" &
bg=$!
read -r rps p50 p99 err _ < <(run similar.lua / "$secs")
wait $bg || true
printf '| new text queries (4 clients, each encoded) | %s | %s | %s | %s | %s text queries/s |\n' "$rps" "$p50" "$p99" \
  "$err" "$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$db/beside.txt")"
# An indexing job over fresh clips (new content every run, so the job has work to do).
clips=$(mktemp -d)
for i in 1 2 3 4 5 6; do
  ffmpeg -loglevel error -f lavfi -i "life=s=320x240:rate=25:seed=$((RANDOM * 7 + i)):mold=10" -t 40 \
    -c:v libx264 -pix_fmt yuv420p "$clips/life$i.mp4"
done
job=$(curl -sf -H "Authorization: Bearer $token" -d "{\"paths\": [\"$clips\"]}" "http://$addr/v1/index" |
  sed -n 's/.*"job_id": *"\([0-9a-f]*\)".*/\1/p')
t0=$SECONDS
read -r rps p50 p99 err _ < <(run similar.lua / "$secs")
jstate() { curl -sf -H "Authorization: Bearer $token" "http://$addr/v1/jobs/$job" | sed -n 's/.*"state": *"\([a-z]*\)".*/\1/p'; }
done_during=$(jstate)
while [ "$(jstate)" = running ] || [ "$(jstate)" = queued ]; do sleep 1; done
printf '| an indexing job (6 clips x 40 s) | %s | %s | %s | %s | job %s at the end of the run, %s after %s s |\n' \
  "$rps" "$p50" "$p99" "$err" "$done_during" "$(jstate)" "$((SECONDS - t0))"
rm -rf "$clips"

printf '\nserver RSS: %s MiB at start of the runs, %s MiB at the end\n' "$rss0" "$(rss)"

if [ -n "${VIDX_BENCH_LONG:-}" ]; then
  # Half the requests cached answers, half never asked before (these fill the answer
  # cache to its bound and then evict): both paths that allocate.
  printf '\nlong run: similar video for %s s, popular and never-asked-before mixed; RSS every 60 s\n' "$VIDX_BENCH_LONG"
  VIDX_SIMILAR=mixed wrk -t2 -c32 -d"${VIDX_BENCH_LONG}s" --latency -s "$here/wrk/similar.lua" "http://$addr/" \
    >"$db/long.txt" &
  wpid=$!
  while kill -0 $wpid 2>/dev/null; do printf '  t=%ss RSS %s MiB\n' "$SECONDS" "$(rss)"; sleep 60; done
  wait $wpid || true
  grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors" "$db/long.txt" | sed 's/^/  /'
  printf '  RSS at the end %s MiB\n' "$(rss)"
fi
