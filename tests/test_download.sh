#!/usr/bin/env bash
# scripts/download_model.sh against a local stand-in for the Hugging Face hub
# (tests/mock_hub.py on 127.0.0.1): fresh download, checksums, skip when present,
# resume from a .part file with a Range request, refusal of corrupted bytes.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
make_clip="$1"
bpe="$2"
work=$(mktemp -d)
hub_pid=""
cleanup() { [ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

"$make_clip" --bpe "$bpe" --seed 9 "$work/remote" || { echo "cannot make a model" >&2; exit 1; }

start_hub() {
  [ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null && wait "$hub_pid" 2>/dev/null
  rm -f "$work/port"
  python3 "$root/tests/mock_hub.py" "$work/remote" "$work/port" "$@" &
  hub_pid=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
  [ -s "$work/port" ] || { echo "mock hub did not start" >&2; exit 1; }
  export HF_ENDPOINT="http://127.0.0.1:$(cat "$work/port")"
  export VIDX_PROMPTS_BASE="$HF_ENDPOINT/github/openai/CLIP"
}
# OpenAI's prompts.md, as GitHub serves it (the shared copy is that file).
export MOCK_PROMPTS
MOCK_PROMPTS="$(dirname "$bpe")/prompts.md"

dl() { "$root/scripts/download_model.sh" "$work/model" >"$work/out" 2>&1; }

start_hub
dl || fail "first download failed: $(cat "$work/out")"
for f in config.json vocab.json merges.txt model.safetensors; do
  cmp -s "$work/remote/$f" "$work/model/$f" || fail "$f differs from the hub's"
done
grep -q "commit 0123456789abcdef" "$work/model/DOWNLOAD.txt" || fail "DOWNLOAD.txt lacks the pinned commit"
cmp -s "$MOCK_PROMPTS" "$work/model/prompts.md" || fail "prompts.md differs from OpenAI's"
grep -q "^GET /github/openai/CLIP/e184f608c5d5e58165682f7c332c3a8b4c1545f2/data/prompts.md" "$work/requests.log" ||
  fail "prompts.md was not fetched at the pinned commit"
grep -q "/resolve/0123456789abcdef0123456789abcdef01234567/model.safetensors" "$work/requests.log" ||
  fail "files were not fetched at the pinned commit"

# Second run: nothing downloaded again.
: >"$work/requests.log"
dl || fail "second run failed: $(cat "$work/out")"
grep -c "already present and verified" "$work/out" | grep -q '^5$' || fail "second run re-downloaded: $(cat "$work/out")"
grep -q '^GET' "$work/requests.log" && fail "second run made GET requests"

# Resume: half a model left as .part.
size=$(stat -c %s "$work/remote/model.safetensors")
head -c $((size / 2)) "$work/remote/model.safetensors" >"$work/model/model.safetensors.part"
rm "$work/model/model.safetensors"
: >"$work/requests.log"
dl || fail "resume failed: $(cat "$work/out")"
grep -q "resuming at $((size / 2))" "$work/out" || fail "did not resume: $(cat "$work/out")"
grep -q "^GET /cdn/model.safetensors bytes=$((size / 2))-" "$work/requests.log" || fail "no Range request: $(cat "$work/requests.log")"
cmp -s "$work/remote/model.safetensors" "$work/model/model.safetensors" || fail "resumed file differs"
[ ! -e "$work/model/model.safetensors.part" ] || fail ".part left behind"

# Corrupted bytes from the hub: refused, nothing kept.
rm "$work/model/vocab.json"
start_hub --corrupt vocab.json
if dl; then fail "a corrupted vocab.json was accepted"; fi
grep -q "vocab.json: checksum mismatch" "$work/out" || fail "no checksum message: $(cat "$work/out")"
[ ! -e "$work/model/vocab.json" ] && [ ! -e "$work/model/vocab.json.part" ] || fail "corrupted file kept"

# No hub at all: a message that says what to do.
kill "$hub_pid"; wait "$hub_pid" 2>/dev/null; hub_pid=""
if dl; then fail "succeeded without a hub"; fi
grep -q "cannot reach" "$work/out" || fail "offline message: $(cat "$work/out")"

[ "$failures" -eq 0 ] || { echo "$failures failures" >&2; exit 1; }
echo "download ok"
