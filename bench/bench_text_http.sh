#!/usr/bin/env bash
# Fused search beside visual-only search, over HTTP: vidx serve on loopback over 100,000
# synthetic videos, each with a title and 50 subtitle cues (real captions of one MSVD clip),
# driven by wrk (search.lua: cached and uncached queries). The same server folder is served twice
# back to back: with the words searched too (the default) and with VIDX_LEXICAL_SEARCH=0
# (the visual ranking alone, as before text search). Run through scripts/bench.sh text.
#
#   bench_text_http.sh BUILD_DIR MODEL_DIR SHARED_DATA [SECONDS]   (default 15 s per workload)
set -euo pipefail
build="$1"
"$build/bench/print_machine"
model="$2"
shared="$3"
secs="${4:-15}"
here=$(cd "$(dirname "$0")" && pwd)
cache="${VIDX_CACHE:-$HOME/.cache/vidx}"
videos="${VIDX_BENCH_VIDEOS:-100000}"
cues="${VIDX_BENCH_CUES:-50}"
db="$cache/bench-text-http-topical-$videos-$cues"
if [ ! -f "$db/ids.txt" ]; then
  echo "bench_text_http: writing $videos synthetic videos x $cues cues to $db"
  rm -rf "$db"
  "$build/bench/make_synthetic_db" "$db" --videos "$videos" --users 10 --events 10 --cues "$cues" \
    --captions "$shared/captions/MSVD_test.tsv" --ids "$db/ids.txt.tmp"
  mv "$db/ids.txt.tmp" "$db/ids.txt"
fi

pid=
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=; fi; }
trap stop EXIT
start() { # $1: VIDX_LEXICAL_SEARCH
  rm -f "$db/ready"
  local t0=$SECONDS
  VIDX_LEXICAL_SEARCH="$1" VIDX_LOG=info "$build/vidx" serve --db "$db" --model "$model" --listen 127.0.0.1:0 \
    --ready-file "$db/ready" >"$db/server.log" 2>&1 &
  pid=$!
  while [ ! -f "$db/ready" ]; do
    kill -0 "$pid" 2>/dev/null || { cat "$db/server.log"; exit 1; }
    sleep 1
  done
  addr=$(cat "$db/ready")
  echo "bench_text_http: server up in $((SECONDS - t0)) s (VIDX_LEXICAL_SEARCH=$1)" >&2
  grep -h "text index:" "$db/server.log" >&2 || true
}
run() { # wrk summary -> "rps p50_ms p99_ms errors"
  wrk -t2 -c32 -d"${secs}s" --latency -s "$here/wrk/search.lua" "http://$addr/" | awk -f "$here/wrk_summary.awk"
}
declare -A result
for words in 0 1; do
  start "$words"
  VIDX_QUERIES=cached wrk -t1 -c1 -d2s -s "$here/wrk/search.lua" "http://$addr/" >/dev/null # warm the query cache
  for q in cached uncached; do
    result[$words-$q]=$(VIDX_QUERIES=$q run)
  done
  stop
done
printf '\n%s videos x %s cues, wrk -t2 -c32 for %s s on the same 2 cores as the server\n\n' "$videos" "$cues" "$secs"
printf '| search | visual only: req/s | p50 / p99 ms | fused with words: req/s | p50 / p99 ms | fused / visual req/s |\n'
printf '|---|---|---|---|---|---|\n'
for q in cached uncached; do
  read -r v_rps v_p50 v_p99 v_err <<<"${result[0-$q]}"
  read -r f_rps f_p50 f_p99 f_err <<<"${result[1-$q]}"
  printf '| %s queries | %s | %s / %s | %s | %s / %s | %s |\n' "$q" "$v_rps" "$v_p50" "$v_p99" "$f_rps" "$f_p50" "$f_p99" \
    "$(awk -v a="$f_rps" -v b="$v_rps" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')"
  if [ "$v_err" != 0 ] || [ "$f_err" != 0 ]; then echo "errors: visual $v_err, fused $f_err"; fi
done
