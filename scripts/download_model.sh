#!/usr/bin/env bash
# Downloads the CLIP model vidx uses (openai/clip-vit-base-patch32, Hugging Face layout)
# into the default model folder, or into the folder given.
#
#   scripts/download_model.sh [DIR]
#
# Resumable: an interrupted download continues from its .part file. Verified: every file
# is checked against the checksum the Hugging Face hub publishes for it (the SHA-256 of
# large files stored with Git LFS, the git blob SHA-1 of small ones), at one pinned
# commit of the model repository, so files from different pushes never mix.
#
# Then OpenAI's prompts.md (zero-shot tag vocabularies) from the CLIP repository on
# GitHub, at a pinned commit, checked by its SHA-256.
#
# Environment: VIDX_MODEL_REPO (default openai/clip-vit-base-patch32),
# VIDX_MODEL_REVISION (branch, tag or commit; default main), HF_ENDPOINT (default
# https://huggingface.co), HF_TOKEN (for gated or private repositories),
# VIDX_PROMPTS_BASE (default https://raw.githubusercontent.com/openai/CLIP).
set -euo pipefail

repo="${VIDX_MODEL_REPO:-openai/clip-vit-base-patch32}"
revision="${VIDX_MODEL_REVISION:-main}"
endpoint="${HF_ENDPOINT:-https://huggingface.co}"
default_dir="${XDG_DATA_HOME:-$HOME/.local/share}/vidx/models/clip-vit-base-patch32"
dir="${1:-$default_dir}"
files=(config.json vocab.json merges.txt model.safetensors)

say() { printf 'download_model: %s\n' "$*"; }
die() { printf 'download_model: %s\n' "$*" >&2; exit 1; }

command -v curl >/dev/null || die "curl is needed (apt-get install curl)"
auth=()
[ -n "${HF_TOKEN:-}" ] && auth=(-H "Authorization: Bearer $HF_TOKEN")

# Header value (case-insensitive name) from a saved header block, quotes and W/ removed.
header() {
  awk -v name="$(printf '%s' "$1" | tr 'A-Z' 'a-z')" -F': *' '
    { key = tolower($1); sub(/\r$/, "", $0) }
    key == name { v = substr($0, index($0, ":") + 1); sub(/^ */, "", v); sub(/^W\//, "", v); gsub(/"/, "", v); print v; exit }' "$2"
}

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

# Pin the revision to a commit first, so every file comes from the same one.
curl -sS -I "${auth[@]}" "$endpoint/$repo/resolve/$revision/config.json" -o "$tmp/pin" ||
  die "cannot reach $endpoint (no internet?). Without it, copy config.json, model.safetensors, vocab.json and merges.txt of $repo into $dir by other means."
commit=$(header x-repo-commit "$tmp/pin")
status=$(head -n 1 "$tmp/pin" | awk '{print $2}')
case "$status" in
  2*|3*) ;;
  401|403) die "$repo: access denied (HTTP $status); set HF_TOKEN if the repository is gated" ;;
  404) die "$repo: no such repository or revision '$revision' (HTTP 404)" ;;
  *) die "$repo: unexpected HTTP status '$status' from $endpoint" ;;
esac
[ -n "$commit" ] || die "$endpoint did not say which commit '$revision' is (no X-Repo-Commit header)"
say "$repo at $revision = commit $commit -> $dir"

manifest="$tmp/manifest"
: >"$manifest"
for f in "${files[@]}"; do
  url="$endpoint/$repo/resolve/$commit/$f"
  curl -sS -I "${auth[@]}" "$url" -o "$tmp/h" || die "$f: cannot fetch its headers from $url"
  if lfs=$(header x-linked-etag "$tmp/h") && [ -n "$lfs" ]; then
    kind=sha256 want=$lfs size=$(header x-linked-size "$tmp/h")
  else
    kind=gitsha1 want=$(header etag "$tmp/h") size=$(header content-length "$tmp/h")
  fi
  [ -n "$want" ] || die "$f: the hub published no checksum for it"
  printf '%s %s %s %s\n' "$f" "$kind" "$want" "$size" >>"$manifest"
  if verify "$dir/$f" "$kind" "$want" "$size"; then
    say "$f: already present and verified ($kind $want)"
    continue
  fi
  part="$dir/$f.part"
  if [ -f "$part" ] && [ -n "$size" ] && [ "$(stat -c %s "$part")" -gt "$size" ]; then rm -f "$part"; fi
  if [ -f "$part" ]; then say "$f: resuming at $(stat -c %s "$part") of ${size:-?} bytes"; else say "$f: downloading ${size:-?} bytes"; fi
  curl -fL -sS "${auth[@]}" --retry 5 --retry-delay 2 -C - -o "$part" "$url" ||
    die "$f: download interrupted; run this script again to resume"
  if ! verify "$part" "$kind" "$want" "$size"; then
    rm -f "$part"
    die "$f: checksum mismatch ($kind should be $want); the partial file was removed, run again"
  fi
  mv -f "$part" "$dir/$f"
  say "$f: done, verified ($kind $want)"
done

# OpenAI's prompts.md: the label vocabularies and prompt templates of zero-shot tags
# (SUN397, Kinetics700, FER2013; MIT), from the CLIP repository at the commit that last
# changed it, checked by its SHA-256.
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
  cat "$manifest"
} >"$dir/DOWNLOAD.txt"
say "all files in $dir verified; details in $dir/DOWNLOAD.txt"
if [ "$dir" != "$default_dir" ]; then say "use it with --model $dir or VIDX_MODEL=$dir"; fi
