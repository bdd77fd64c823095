#!/usr/bin/env bash
# Downloads the CLIP model vidx uses (openai/clip-vit-base-patch32, Hugging Face layout)
# into the default model folder, or into the folder given; with --text-model, the
# multilingual text tower (sentence-transformers/clip-ViT-B-32-multilingual-v1: queries in
# 50+ languages, in CLIP ViT-B/32's image space) instead.
#
#   scripts/download_model.sh [DIR]
#   scripts/download_model.sh --text-model [DIR]
#
# Asks the hub what the revision holds first (its model API lists a commit's files with
# their sizes and checksums), pins that commit, and takes the weights in the first format
# it has: model.safetensors, sharded safetensors (model.safetensors.index.json and its
# shards), pytorch_model.bin, or sharded pytorch_model.bin. openai/clip-vit-base-patch32
# publishes only pytorch_model.bin on main; vidx reads every one of these formats.
#
# Resumable: an interrupted download continues from its .part file. Verified: every file
# is checked against the checksum the hub lists for it (the SHA-256 of large files stored
# with Git LFS, the git blob SHA-1 of small ones) and its size, at one pinned commit, so
# files from different pushes never mix.
#
# Then OpenAI's prompts.md (zero-shot tag vocabularies) from the CLIP repository on
# GitHub, at a pinned commit, checked by its SHA-256.
#
# The text tower's repository holds its modules in folders (1_Pooling, 2_Dense, each with
# its config and, for the Dense layer, its own weights): the same checks file by file.
#
# Environment: VIDX_MODEL_REPO (default openai/clip-vit-base-patch32; with --text-model
# sentence-transformers/clip-ViT-B-32-multilingual-v1),
# VIDX_MODEL_REVISION (branch, tag or commit; default main), HF_ENDPOINT (default
# https://huggingface.co), HF_TOKEN (for gated or private repositories),
# VIDX_PROMPTS_BASE (default https://raw.githubusercontent.com/openai/CLIP).
set -euo pipefail

text_model=0
if [ "${1:-}" = "--text-model" ]; then
  text_model=1
  shift
fi
models="${XDG_DATA_HOME:-$HOME/.local/share}/vidx/models"
if [ $text_model = 1 ]; then
  repo="${VIDX_MODEL_REPO:-sentence-transformers/clip-ViT-B-32-multilingual-v1}"
  default_dir="$models/clip-ViT-B-32-multilingual-v1"
else
  repo="${VIDX_MODEL_REPO:-openai/clip-vit-base-patch32}"
  default_dir="$models/clip-vit-base-patch32"
fi
revision="${VIDX_MODEL_REVISION:-main}"
endpoint="${HF_ENDPOINT:-https://huggingface.co}"
dir="${1:-$default_dir}"
# Every weights file name vidx reads (encoder/checkpoint.h), in its order of preference.
weight_names=(model.safetensors model.safetensors.index.json pytorch_model.bin pytorch_model.bin.index.json)

say() { printf 'download_model: %s\n' "$*"; }
die() { printf 'download_model: %s\n' "$*" >&2; exit 1; }

command -v curl >/dev/null || die "curl is needed (apt-get install curl)"
command -v python3 >/dev/null || die "python3 is needed to read the hub's file list (apt-get install python3)"
auth=()
[ -n "${HF_TOKEN:-}" ] && auth=(-H "Authorization: Bearer $HF_TOKEN")

# The git blob id of a file: SHA-1 of "blob SIZE\0" followed by the bytes.
git_blob_sha1() {
  local size
  size=$(stat -c %s "$1")
  { printf 'blob %d\0' "$size"; cat "$1"; } | sha1sum | cut -d' ' -f1
}

# Checks path against the published checksum; prints nothing, returns 0 when it matches.
verify() {
  local path=$1 kind=$2 want=$3 size=$4
  [ -f "$path" ] || return 1
  [ -z "$size" ] || [ "$(stat -c %s "$path")" = "$size" ] || return 1
  case "$kind" in
    sha256) [ "$(sha256sum "$path" | cut -d' ' -f1)" = "$want" ] ;;
    gitsha1) [ "$(git_blob_sha1 "$path")" = "$want" ] ;;
  esac
}

mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. What the revision holds: GET /api/models/REPO/revision/REV?blobs=true answers with the
#    commit ("sha") and every file ("siblings": rfilename, size, blobId, lfs.sha256).
api="$endpoint/api/models/$repo/revision/$revision?blobs=true"
status=$(curl -sS "${auth[@]}" -o "$tmp/info.json" -w '%{http_code}' "$api") ||
  die "cannot reach $endpoint (no internet?). Without it, copy config.json, vocab.json, merges.txt and the weights (model.safetensors or pytorch_model.bin) of $repo into $dir by other means."
case "$status" in
  2*) ;;
  401|403) die "$repo: access denied (HTTP $status); set HF_TOKEN if the repository is gated" ;;
  404) die "$repo: no such repository or revision '$revision' (HTTP 404)" ;;
  *) die "$repo: unexpected HTTP status '$status' from $api" ;;
esac
# One line per file: NAME KIND CHECKSUM SIZE; first line: the commit.
python3 - "$tmp/info.json" >"$tmp/listing" <<'PY' || die "the hub's answer for $repo is not a file list: $(head -c 300 "$tmp/info.json")"
import json, re, sys
info = json.load(open(sys.argv[1]))
sha = info.get("sha") or ""
if not re.fullmatch(r"[0-9a-f]{40}", sha):
    sys.exit("no commit id")
print(sha)
for s in info.get("siblings") or []:
    name = s.get("rfilename") or ""
    if not name or name.startswith("/") or ".." in name.split("/") or any(c in name for c in " \n\t"):
        continue
    lfs = s.get("lfs")
    if lfs and re.fullmatch(r"[0-9a-f]{64}", str(lfs.get("sha256", ""))):
        print(name, "sha256", lfs["sha256"], int(lfs.get("size", s.get("size", 0))))
    elif re.fullmatch(r"[0-9a-f]{40}", str(s.get("blobId", ""))) and isinstance(s.get("size"), int):
        print(name, "gitsha1", s["blobId"], s["size"])
PY
commit=$(head -n 1 "$tmp/listing")
tail -n +2 "$tmp/listing" >"$tmp/files"
listed() { awk -v f="$1" '$1 == f { found = 1 } END { exit !found }' "$tmp/files"; }
say "$repo at $revision = commit $commit -> $dir"

# 2. Which files: the tokenizer, the config(s), and the weights in the first format listed.
if [ $text_model = 1 ]; then
  files=(modules.json config.json sentence_bert_config.json 1_Pooling/config.json 2_Dense/config.json)
  what="the multilingual text tower in sentence-transformers' layout"
  # Its tokenizer: tokenizer.json, else vocab.txt with tokenizer_config.json.
  if listed tokenizer.json; then files+=(tokenizer.json); else files+=(vocab.txt tokenizer_config.json); fi
else
  files=(config.json vocab.json merges.txt)
  what="a CLIP model in the Hugging Face layout"
fi
for f in "${files[@]}"; do listed "$f" || die "$repo@$commit has no $f: not $what"; done
weights=""
for w in "${weight_names[@]}"; do
  if listed "$w"; then weights=$w; break; fi
done
[ -n "$weights" ] || die "$repo@$commit holds none of ${weight_names[*]}: no weights vidx can read"
say "weights: $weights"
# The text tower's Dense layer keeps its own weights in 2_Dense.
dense_names=(2_Dense/model.safetensors 2_Dense/pytorch_model.bin)
dense_weights=""
if [ $text_model = 1 ]; then
  for w in "${dense_names[@]}"; do
    if listed "$w"; then dense_weights=$w; break; fi
  done
  [ -n "$dense_weights" ] || die "$repo@$commit holds none of ${dense_names[*]}: no weights for its Dense layer"
  files+=("$dense_weights")
fi

manifest="$tmp/manifest"
: >"$manifest"
# Downloads one listed file into $dir, resuming a .part file, and verifies it.
fetch() {
  local f=$1 kind want size
  read -r _ kind want size < <(awk -v f="$f" '$1 == f' "$tmp/files")
  [ -n "${want:-}" ] || die "$f: the hub lists no checksum for it"
  printf '%s %s %s %s\n' "$f" "$kind" "$want" "$size" >>"$manifest"
  if verify "$dir/$f" "$kind" "$want" "$size"; then
    say "$f: already present and verified ($kind $want)"
    return 0
  fi
  local part="$dir/$f.part" url="$endpoint/$repo/resolve/$commit/$f"
  mkdir -p "$(dirname "$dir/$f")"
  if [ -f "$part" ] && [ "$(stat -c %s "$part")" -gt "$size" ]; then rm -f "$part"; fi
  if [ -f "$part" ]; then say "$f: resuming at $(stat -c %s "$part") of $size bytes"; else say "$f: downloading $size bytes"; fi
  curl -fL -sS "${auth[@]}" --retry 5 --retry-delay 2 -C - -o "$part" "$url" ||
    die "$f: download interrupted; run this script again to resume"
  if ! verify "$part" "$kind" "$want" "$size"; then
    rm -f "$part"
    die "$f: checksum mismatch ($kind should be $want); the partial file was removed, run again"
  fi
  mv -f "$part" "$dir/$f"
  say "$f: done, verified ($kind $want)"
}

for f in "${files[@]}" "$weights"; do fetch "$f"; done
# A sharded checkpoint: every shard its index names (plain names, listed at this commit).
if [[ "$weights" == *.index.json ]]; then
  python3 - "$dir/$weights" >"$tmp/shards" <<'PY' || die "$weights: not a shard index (no weight_map)"
import json, sys
m = json.load(open(sys.argv[1])).get("weight_map")
if not isinstance(m, dict) or not m:
    sys.exit(1)
for f in sorted(set(m.values())):
    print(f)
PY
  while read -r shard; do
    case "$shard" in */*|.*|"") die "$weights names '$shard', not a file of the repository's top folder" ;; esac
    listed "$shard" || die "$weights names $shard, which $repo@$commit does not hold"
    fetch "$shard"
  done <"$tmp/shards"
fi
# Weights of another format left from an earlier download would be read first: remove them.
for w in "${weight_names[@]}"; do
  if [ "$w" != "$weights" ] && [ -e "$dir/$w" ]; then
    rm -f "$dir/$w"
    say "removed $w (from an earlier download; $repo@$commit holds $weights)"
  fi
done
for w in "${dense_names[@]}"; do
  if [ -n "$dense_weights" ] && [ "$w" != "$dense_weights" ] && [ -e "$dir/$w" ]; then
    rm -f "$dir/$w"
    say "removed $w (from an earlier download; $repo@$commit holds $dense_weights)"
  fi
done

# OpenAI's prompts.md: the label vocabularies and prompt templates of zero-shot tags
# (SUN397, Kinetics700, FER2013; MIT), from the CLIP repository at the commit that last
# changed it, checked by its SHA-256.
if [ $text_model = 1 ]; then
  {
    echo "repository $repo"
    echo "revision $revision"
    echo "commit $commit"
    echo "endpoint $endpoint"
    echo "weights $weights $dense_weights"
    cat "$manifest"
  } >"$dir/DOWNLOAD.txt"
  say "all files in $dir verified; details in $dir/DOWNLOAD.txt"
  say "use it with --text-model $dir or VIDX_TEXT_MODEL=$dir"
  exit 0
fi
prompts_base="${VIDX_PROMPTS_BASE:-https://raw.githubusercontent.com/openai/CLIP}"
prompts_commit=e184f608c5d5e58165682f7c332c3a8b4c1545f2
prompts_sha256=f98d2d25e78cc1fee650240b519f7cb58a83cfcc5aa538cde52514809cf4a1c9
if verify "$dir/prompts.md" sha256 "$prompts_sha256" ""; then
  say "prompts.md: already present and verified (sha256 $prompts_sha256)"
else
  part="$dir/prompts.md.part"
  curl -fL -sS --retry 5 --retry-delay 2 -C - -o "$part" "$prompts_base/$prompts_commit/data/prompts.md" ||
    die "prompts.md: download interrupted; run this script again to resume (tags need it; the model works without)"
  if ! verify "$part" sha256 "$prompts_sha256" ""; then
    rm -f "$part"
    die "prompts.md: checksum mismatch (sha256 should be $prompts_sha256); the partial file was removed, run again"
  fi
  mv -f "$part" "$dir/prompts.md"
  say "prompts.md: done, verified (sha256 $prompts_sha256)"
fi
printf 'prompts.md sha256 %s openai/CLIP@%s\n' "$prompts_sha256" "$prompts_commit" >>"$manifest"

{
  echo "repository $repo"
  echo "revision $revision"
  echo "commit $commit"
  echo "endpoint $endpoint"
  echo "weights $weights"
  cat "$manifest"
} >"$dir/DOWNLOAD.txt"
say "all files in $dir verified; details in $dir/DOWNLOAD.txt"
if [ "$dir" != "$default_dir" ]; then say "use it with --model $dir or VIDX_MODEL=$dir"; fi
