#!/usr/bin/env bash
# The vidx command as a user runs it: help, exit codes, --db / VIDX_DB resolution,
# `vidx info` on an empty and an existing database, a held lock.
set -u
vidx="$1"
make_db="${2:-}"
shared="${3:-}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect CODE CMD... : runs the command, checks its exit code, keeps its output.
expect() {
  local want=$1
  shift
  "$@" >"$work/out" 2>"$work/err"
  local got=$?
  [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want; stderr: $(cat "$work/err")"
}

expect 0 "$vidx" --help
grep -q 'commands:' out || fail "--help lists no commands"
expect 2 "$vidx"
expect 2 "$vidx" frobnicate
grep -q "unknown command 'frobnicate'" err || fail "unknown command message: $(cat err)"
[ "$(wc -l <err)" -eq 1 ] || fail "unknown command error is not one line"

for cmd in index search similar event feed video serve embed tokenize info; do
  expect 0 "$vidx" "$cmd" --help
  grep -q "usage: vidx $cmd" out || fail "$cmd --help has no usage line"
  expect 2 "$vidx" "$cmd" --no-such-flag
  grep -q "unknown option '--no-such-flag'" err || fail "$cmd: bad flag message: $(cat err)"
  [ "$(wc -l <err)" -eq 1 ] || fail "$cmd: bad flag error is not one line"
done
expect 2 "$vidx" search
expect 2 "$vidx" info extra-argument
expect 2 "$vidx" info --db
grep -q "needs a value" err || fail "missing value message: $(cat err)"
expect 2 "$vidx" info --json=yes

# info on a database that does not exist yet: zeros, nothing created.
expect 0 "$vidx" info --db "$work/none"
grep -q 'empty' out || fail "info on a missing database does not say empty"
[ ! -e "$work/none" ] || fail "info created a database"
expect 0 "$vidx" info --json --db "$work/none"
grep -q '"videos":{"indexed":0,"failed":0,"removed":0' out || fail "info --json: $(cat out)"

# --db, then VIDX_DB, then ./vidx-data.
expect 0 "$vidx" info --json
grep -q '"database":"vidx-data"' out || fail "default database is not ./vidx-data: $(cat out)"
VIDX_DB="$work/env-db" expect 0 "$vidx" info --json
grep -q "\"database\":\"$work/env-db\"" out || fail "VIDX_DB ignored: $(cat out)"
VIDX_DB="$work/env-db" expect 0 "$vidx" info --json --db "$work/flag-db"
grep -q "\"database\":\"$work/flag-db\"" out || fail "--db does not win over VIDX_DB: $(cat out)"

# An existing database, made by the catalog (the test helper writes one).
if [ -n "$make_db" ]; then
  "$make_db" "$work/db" || fail "could not make a database"
  # A data folder vidx creates is its owner's alone (histories, the service's token).
  [ "$(stat -c %a "$work/db")" = 700 ] || fail "a new data folder is mode $(stat -c %a "$work/db"), not 700"
  expect 0 "$vidx" info --json --db "$work/db"
  grep -q '"indexed":2' out || fail "info on an existing database: $(cat out)"
  grep -q '"users":1,"events":3' out || fail "info counts users and events: $(cat out)"
  # While another process holds the database, info says who.
  flock "$work/db/LOCK" sleep 3 &
  holder=$!
  sleep 0.3
  expect 1 "$vidx" info --db "$work/db"
  grep -q "in use by another vidx process" err || fail "locked database message: $(cat err)"
  kill "$holder" 2>/dev/null
  wait "$holder" 2>/dev/null
fi

# The multilingual text tower (tests/golden/mtext): WordPiece ids, and the embedding
# PyTorch gave for them, without CLIP.
mtext="$(cd "$(dirname "$0")" && pwd)/golden/mtext"
expect 0 "$vidx" tokenize --text-model "$mtext/model" "厨房里的鹦鹉"
[ "$(cat out)" = "101 292 293 294 295 296 297 102" ] || fail "tokenize --text-model: $(cat out)"
VIDX_TEXT_MODEL="$mtext/model" expect 0 "$vidx" embed --precision f32 --json --text "厨房里的鹦鹉"
python3 -c '
import json, sys
got = json.load(open("out")); want = json.load(open(sys.argv[1]))["cases"][1]["embedding"]
sys.exit(0 if max(abs(a - b) for a, b in zip(got, want)) < 1e-4 and len(got) == len(want) else 1)' "$mtext/golden.json" ||
  fail "embed --text-model: not PyTorch's embedding: $(cat out)"
expect 1 "$vidx" embed --text-model "$work/no-such-tower" --text "x"
grep -q "no multilingual text tower at $work/no-such-tower (no such folder).*download_model.sh --text-model" err ||
  fail "a missing text tower: $(cat err)"

# tokenize and embed with the shared tiny CLIP model.
if [ -n "$shared" ]; then
  tiny="$shared/clip-golden/tiny"
  expect 0 "$vidx" tokenize --model "$tiny" "Hello World!"
  [ "$(cat out)" = "49406 3306 1002 256 49407" ] || fail "tokenize: $(cat out)"
  "$vidx" tokenize --model "$tiny" - <"$shared/clip-golden/texts.txt" >tok.txt || fail "tokenize - failed"
  cmp -s tok.txt "$shared/clip-golden/tokens.txt" || fail "tokenize - differs from the golden tokens"
  VIDX_MODEL="$tiny" expect 0 "$vidx" tokenize "Hello World!"
  [ "$(cat out)" = "49406 3306 1002 256 49407" ] || fail "VIDX_MODEL ignored: $(cat out)"

  expect 0 "$vidx" embed --model "$tiny" --text "a dog" --pixels "$shared/clip-golden/pixels.f32" --text "a cat"
  [ "$(wc -l <out)" -eq 5 ] || fail "embed: expected 5 lines, got $(wc -l <out)"
  [ "$(head -n 1 out | wc -w)" -eq 32 ] || fail "embed: expected 32 floats per line"
  head -n 5 "$shared/clip-golden/texts.txt" | "$vidx" embed --model "$tiny" --text - >emb.txt || fail "embed --text - failed"
  [ "$(wc -l <emb.txt)" -eq 5 ] || fail "embed --text -: expected 5 lines"
  expect 0 "$vidx" embed --model "$tiny" --json --image "$shared/clip-golden/cars.jpg"
  grep -q '^\[-\?[0-9]' out || fail "embed --json: $(cat out)"
  # A bad input fails (exit 1, named) while the good ones still print, in order.
  printf 'abc' >bad.f32
  expect 1 "$vidx" embed --model "$tiny" --text "first" --pixels bad.f32 --image /nonexistent.png --text "last"
  [ "$(wc -l <out)" -eq 2 ] || fail "embed with bad inputs: expected 2 lines, got $(wc -l <out)"
  grep -q "bad.f32: 3 bytes is not a whole number" err || fail "bad pixels message: $(cat err)"
  grep -q "/nonexistent.png" err || fail "bad image message: $(cat err)"
  # Precisions: each gives the same embedding within its tolerance; unknown ones and
  # ones the CPU lacks are usage errors that say so; without BF16 instructions the
  # default is FP32 (ONEDNN_MAX_CPU_ISA hides them from oneDNN here).
  expect 0 "$vidx" embed --model "$tiny" --precision f32 --text "a dog on a beach"
  mv out f32.txt
  for p in bf16 int8; do
    if ONEDNN_MAX_CPU_ISA=ALL "$vidx" embed --model "$tiny" --precision $p --text "a dog on a beach" >"$p.txt" 2>err; then
      awk -v p=$p 'NR==FNR {for (i = 1; i <= NF; i++) a[i] = $i; next}
                   {d = 0; for (i = 1; i <= NF; i++) d += a[i] * $i; if (d < (p == "bf16" ? 0.999 : 0.995)) exit 1}' \
        f32.txt "$p.txt" || fail "embed --precision $p strays from f32"
    else
      grep -q "needs a CPU with" err || fail "embed --precision $p: $(cat err)"
    fi
  done
  expect 2 "$vidx" embed --model "$tiny" --precision fp4 --text hi
  grep -q 'unknown precision "fp4" (f32, bf16, int8 or auto)' err || fail "bad precision message: $(cat err)"
  VIDX_PRECISION=fp4 expect 2 "$vidx" embed --model "$tiny" --text hi
  grep -q "VIDX_PRECISION: unknown precision" err || fail "bad VIDX_PRECISION message: $(cat err)"
  ONEDNN_MAX_CPU_ISA=AVX2 expect 2 "$vidx" embed --model "$tiny" --precision bf16 --text hi
  grep -q "precision bf16 needs a CPU with AVX-512 BF16 or AMX instructions; use --precision f32" err ||
    fail "bf16 without the instructions: $(cat err)"
  ONEDNN_MAX_CPU_ISA=AVX2 VIDX_LOG=debug expect 0 "$vidx" embed --model "$tiny" --text hi
  grep -q "at f32:" err || fail "default without BF16 instructions is not f32: $(cat err)"
  # No model: says what is missing and how to get it.
  HOME="$work/nohome" expect 1 "$vidx" embed --text hi
  grep -q "no CLIP model at $work/nohome/.local/share/vidx/models/clip-vit-base-patch32" err || fail "missing model: $(cat err)"
  grep -q "download_model.sh" err || fail "missing model message lacks the download script"
  HOME="$work/nohome" expect 1 "$vidx" tokenize hi
  grep -q "download_model.sh" err || fail "tokenize without a model: $(cat err)"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures failures" >&2
  exit 1
fi
echo "cli ok"
