#!/usr/bin/env bash
# scripts/download_model.sh against a local stand-in for the Hugging Face hub
# (tests/mock_hub.py on 127.0.0.1) serving repositories laid out as the real ones are:
# openai/clip-vit-base-patch32's main branch (pytorch_model.bin in torch's zip format,
# tf_model.h5, flax_model.msgpack and the tokenizer files, no model.safetensors), the
# legacy .bin format, a repository with model.safetensors, and sharded ones. Each download
# must give a folder vidx loads, with the same embeddings as the same weights in
# safetensors; then skip when present, resume with a Range request, refuse corrupted
# bytes, and say what to do without a hub. Then the multilingual text tower (--text-model).
#
# usage: test_download.sh MAKE_RANDOM_CLIP BPE_GZ VIDX
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
make_clip="$1"
bpe="$2"
vidx="$3"
work=$(mktemp -d)
hub_pid=""
cleanup() { [ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# A repository in $work/remote: the CLIP files in one format, plus the other files the
# real repository publishes (placeholders: they must never be downloaded).
make_remote() {
  rm -rf "$work/remote"
  "$make_clip" --bpe "$bpe" --seed 9 "$@" "$work/remote" >/dev/null || { echo "cannot make a model" >&2; exit 1; }
  for f in tf_model.h5 flax_model.msgpack; do head -c 4096 /dev/urandom >"$work/remote/$f"; done
  for f in preprocessor_config.json special_tokens_map.json tokenizer.json tokenizer_config.json; do
    echo '{}' >"$work/remote/$f"
  done
  echo "# clip-vit-base-patch32" >"$work/remote/README.md"
  printf '*.bin filter=lfs diff=lfs merge=lfs -text\n*.h5 filter=lfs diff=lfs merge=lfs -text\n' >"$work/remote/.gitattributes"
}

start_hub() {
  [ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null && wait "$hub_pid" 2>/dev/null
  rm -f "$work/port"
  : >"$work/requests.log"
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
embed() { "$vidx" embed --model "$1" --precision f32 --text "a red car on a bridge" 2>&1; }

# The same weights as model.safetensors, to compare embeddings with.
"$make_clip" --bpe "$bpe" --seed 9 "$work/twin" >/dev/null || exit 1
want=$(embed "$work/twin")

# --- openai/clip-vit-base-patch32 as published: pytorch_model.bin (zip), no safetensors
make_remote --format bin
start_hub
dl || fail "first download failed: $(cat "$work/out")"
for f in config.json vocab.json merges.txt pytorch_model.bin; do
  cmp -s "$work/remote/$f" "$work/model/$f" || fail "$f differs from the hub's"
done
grep -q "^commit 0123456789abcdef" "$work/model/DOWNLOAD.txt" || fail "DOWNLOAD.txt lacks the pinned commit"
grep -q "^weights pytorch_model.bin$" "$work/model/DOWNLOAD.txt" || fail "DOWNLOAD.txt lacks the weights file"
grep -q "^GET /api/models/openai/clip-vit-base-patch32/revision/main?blobs=true" "$work/requests.log" ||
  fail "the file list was not asked for: $(cat "$work/requests.log")"
grep -q "/resolve/0123456789abcdef0123456789abcdef01234567/pytorch_model.bin" "$work/requests.log" ||
  fail "files were not fetched at the pinned commit"
grep -Eq "tf_model|flax_model|model.safetensors|tokenizer.json|README" "$work/requests.log" &&
  fail "files vidx does not need were fetched: $(cat "$work/requests.log")"
cmp -s "$MOCK_PROMPTS" "$work/model/prompts.md" || fail "prompts.md differs from OpenAI's"
grep -q "^GET /github/openai/CLIP/e184f608c5d5e58165682f7c332c3a8b4c1545f2/data/prompts.md" "$work/requests.log" ||
  fail "prompts.md was not fetched at the pinned commit"
[ "$(embed "$work/model")" = "$want" ] || fail "the downloaded .bin does not give the safetensors twin's embedding"

# Second run: nothing downloaded again (the file list only).
: >"$work/requests.log"
dl || fail "second run failed: $(cat "$work/out")"
grep -c "already present and verified" "$work/out" | grep -q '^5$' || fail "second run re-downloaded: $(cat "$work/out")"
[ "$(grep -c '^GET' "$work/requests.log")" = 1 ] || fail "second run made GET requests: $(cat "$work/requests.log")"

# Resume: half the weights left as .part.
size=$(stat -c %s "$work/remote/pytorch_model.bin")
head -c $((size / 2)) "$work/remote/pytorch_model.bin" >"$work/model/pytorch_model.bin.part"
rm "$work/model/pytorch_model.bin"
: >"$work/requests.log"
dl || fail "resume failed: $(cat "$work/out")"
grep -q "resuming at $((size / 2))" "$work/out" || fail "did not resume: $(cat "$work/out")"
grep -q "^GET /cdn/pytorch_model.bin bytes=$((size / 2))-" "$work/requests.log" || fail "no Range request: $(cat "$work/requests.log")"
cmp -s "$work/remote/pytorch_model.bin" "$work/model/pytorch_model.bin" || fail "resumed file differs"
[ ! -e "$work/model/pytorch_model.bin.part" ] || fail ".part left behind"

# Corrupted bytes from the hub: refused, nothing kept.
rm "$work/model/vocab.json"
start_hub --corrupt vocab.json
if dl; then fail "a corrupted vocab.json was accepted"; fi
grep -q "vocab.json: checksum mismatch" "$work/out" || fail "no checksum message: $(cat "$work/out")"
[ ! -e "$work/model/vocab.json" ] && [ ! -e "$work/model/vocab.json.part" ] || fail "corrupted file kept"

# --- the legacy .bin format (torch < 1.6)
rm -rf "$work/model"
make_remote --format bin-legacy
start_hub
dl || fail "legacy .bin download failed: $(cat "$work/out")"
[ "$(embed "$work/model")" = "$want" ] || fail "the legacy .bin does not give the safetensors twin's embedding"

# --- a repository with model.safetensors beside pytorch_model.bin: safetensors only, and
# the earlier download's .bin removed (weights of another commit do not stay beside them)
make_remote
"$make_clip" --bpe "$bpe" --seed 9 --format bin "$work/bin" >/dev/null && cp "$work/bin/pytorch_model.bin" "$work/remote/"
start_hub
dl || fail "safetensors download failed: $(cat "$work/out")"
grep -q "GET /cdn/model.safetensors" "$work/requests.log" || fail "model.safetensors was not fetched"
grep -q "pytorch_model.bin" "$work/requests.log" && fail "pytorch_model.bin was fetched beside model.safetensors"
[ ! -e "$work/model/pytorch_model.bin" ] || fail "the earlier pytorch_model.bin was left beside model.safetensors"
[ "$(embed "$work/model")" = "$want" ] || fail "model.safetensors does not load"

# --- sharded repositories: the index and every shard it names
for fmt in safetensors bin; do
  rm -rf "$work/model"
  make_remote --format "$fmt" --shards 3
  start_hub
  dl || fail "sharded $fmt download failed: $(cat "$work/out")"
  stem=model; [ "$fmt" = bin ] && stem=pytorch_model
  for i in 1 2 3; do
    cmp -s "$work/remote/$stem-0000$i-of-00003.$fmt" "$work/model/$stem-0000$i-of-00003.$fmt" || fail "shard $i of $fmt missing"
  done
  [ "$(embed "$work/model")" = "$want" ] || fail "the sharded $fmt does not give the twin's embedding"
done

# --- the multilingual text tower (--text-model): its modules in folders, safetensors at
# the top and in 2_Dense, tokenizer.json chosen over vocab.txt; pytorch_model.bin and
# 2_Dense/pytorch_model.bin (published too) never fetched; the download loads and gives
# PyTorch's embedding (tests/golden/mtext)
rm -rf "$work/remote" "$work/tower"
cp -r "$root/tests/golden/mtext/hub" "$work/remote"
cp "$root/tests/golden/mtext/model/pytorch_model.bin" "$work/remote/"
cp "$root/tests/golden/mtext/model/2_Dense/pytorch_model.bin" "$work/remote/2_Dense/"
echo "# clip-ViT-B-32-multilingual-v1" >"$work/remote/README.md"
start_hub
"$root/scripts/download_model.sh" --text-model "$work/tower" >"$work/out" 2>&1 || fail "text tower download failed: $(cat "$work/out")"
for f in modules.json config.json sentence_bert_config.json tokenizer.json 1_Pooling/config.json 2_Dense/config.json \
         model.safetensors 2_Dense/model.safetensors; do
  cmp -s "$work/remote/$f" "$work/tower/$f" || fail "text tower: $f differs from the hub's"
done
grep -q "^GET /api/models/sentence-transformers/clip-ViT-B-32-multilingual-v1/revision/main" "$work/requests.log" ||
  fail "the text tower's file list was not asked for: $(cat "$work/requests.log")"
grep -Eq "pytorch_model.bin|vocab.txt|README" "$work/requests.log" &&
  fail "text tower: files vidx does not need were fetched: $(cat "$work/requests.log")"
"$vidx" embed --text-model "$work/tower" --precision f32 --json --text "厨房里的鹦鹉" >"$work/emb" 2>&1 ||
  fail "the downloaded text tower does not load: $(cat "$work/emb")"
python3 -c '
import json, sys
got = json.load(open(sys.argv[1])); want = json.load(open(sys.argv[2]))["cases"][1]["embedding"]
sys.exit(0 if max(abs(a - b) for a, b in zip(got, want)) < 1e-4 else 1)' "$work/emb" "$root/tests/golden/mtext/golden.json" ||
  fail "the downloaded text tower's embedding is not PyTorch's"
: >"$work/requests.log"
"$root/scripts/download_model.sh" --text-model "$work/tower" >"$work/out" 2>&1 || fail "second text tower run failed"
grep -c "already present and verified" "$work/out" | grep -q '^8$' || fail "second text tower run re-downloaded: $(cat "$work/out")"

# --- a revision the repository does not have
VIDX_MODEL_REVISION=no-such-branch dl && fail "a missing revision was accepted"
grep -q "no such repository or revision 'no-such-branch'" "$work/out" || fail "missing revision message: $(cat "$work/out")"

# No hub at all: a message that says what to do.
kill "$hub_pid"; wait "$hub_pid" 2>/dev/null; hub_pid=""
if dl; then fail "succeeded without a hub"; fi
grep -q "cannot reach" "$work/out" || fail "offline message: $(cat "$work/out")"

[ "$failures" -eq 0 ] || { echo "$failures failures" >&2; exit 1; }
echo "download ok"
