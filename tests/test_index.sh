#!/usr/bin/env bash
# vidx index as a user runs it, on clips made with FFmpeg's lavfi sources, bad files of
# every kind, and the 33 real shared clips: what gets indexed, failed, skipped,
# linked, re-indexed and removed; and kill -9 at random moments of a run.
set -u
vidx="$1"
dump="$2"
shared="$3"
model="$shared/clip-golden/tiny"
export VIDX_MODEL="$model"
work=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'chmod -R u+rw "$work" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ff() { ffmpeg -v error -nostdin -y "$@" || { echo "ffmpeg failed: $*" >&2; exit 1; }; }

# ---- clips made here ------------------------------------------------------------------
mkdir clips bad
ff -f lavfi -i testsrc=duration=6:size=320x240:rate=25 -c:v libx264 -pix_fmt yuv420p clips/a.mp4
ff -i clips/a.mp4 -c copy -metadata:s:v:0 rotate=90 clips/rotated.mp4
ff -f lavfi -i mandelbrot=size=160x120:rate=10 -t 3 -c:v libvpx-vp9 -deadline realtime -cpu-used 8 clips/b.webm
ff -f lavfi -i testsrc=duration=2:size=96x64:rate=10 clips/anim.gif
ff -f lavfi -i "testsrc=duration=8:size=160x120:rate=25,setpts='if(lt(N,100),N,N*3)/25/TB'" -vsync vfr -c:v libx264 clips/vfr.mkv
ff -f lavfi -i color=c=red:size=64x48:rate=25 -t 60 -c:v libx264 -g 250 clips/long.mp4
ff -f lavfi -i testsrc=size=128x96:rate=25 -frames:v 1 -c:v libx264 clips/one-frame.mp4
ff -f lavfi -i testsrc=duration=1:size=16x2048:rate=5 -c:v libx264 clips/thin.mp4
ff -f lavfi -i testsrc=size=320x240 -frames:v 1 still.png
echo "not a video" >clips/README.txt  # not a media name: never looked at
: >bad/zero.mp4
head -c 65536 /dev/urandom >bad/random.mp4
head -c 3000 clips/a.mp4 >bad/truncated.mp4
ff -f lavfi -i sine=duration=2 -c:a aac bad/audio-only.m4a
mv bad/audio-only.m4a bad/audio-only.mp4

"$vidx" index --db db clips bad still.png "$shared/videos" >out 2>err
rc=$?
[ "$rc" -eq 1 ] || fail "first run exited $rc, expected 1 (bad files); stderr: $(tail -5 err)"
grep -qE "^indexed 42, unchanged 0, duplicates 0, failed 3, removed 0, skipped 1( |$)" out ||
  fail "first run summary: $(head -1 out)"
for f in zero random truncated; do grep -q "failed: .*bad/$f.mp4: " out || fail "no reason for $f.mp4: $(cat out)"; done
# Audio without video is no video, whatever its name says: skipped, with the reason.
grep -q "skipped: .*bad/audio-only.mp4: audio only: no video stream" out || fail "audio-only reason: $(cat out)"
"$dump" db >videos.txt
grep -q "^indexed 240x320 .*clips/rotated.mp4" videos.txt || fail "rotation not applied: $(grep rotated videos.txt)"
grep -q "^indexed 0x0\|^indexed 320x240 1 - 0.00 1 .*still.png" videos.txt || fail "still image: $(grep still videos.txt)"
grep -q "^indexed 128x96 1 - .* 1 .*one-frame.mp4" videos.txt || fail "one-frame clip: $(grep one-frame videos.txt)"
grep -q "^indexed .*video_with_failing_audio.mp4" videos.txt || fail "the clip with broken audio was not indexed"
# 60 s at 1 frame/s in 5 s segments: 12 segments, 60 frames.
grep -q "^indexed 64x48 12 - 60.00 60 .*long.mp4" videos.txt || fail "long clip: $(grep long.mp4 videos.txt)"
# Variable frame rate: 4 s at 25 fps then 4 s of frames every 3/25 s: about 4 + 12 s.
grep -q "^indexed 160x120 .*vfr.mkv" videos.txt || fail "vfr clip: $(grep vfr videos.txt)"
grep -q "README" videos.txt && fail "a non-media file was indexed"
[ "$(ls db/thumbs | grep -c -- '-0.jpg')" -ge 42 ] || fail "segment thumbnails missing"
"$vidx" info --check --db db >check.txt || fail "consistency: $(cat check.txt)"

# Search and similar through the command line.
"$vidx" search --db db --json -k 3 "a test pattern" >out 2>err || fail "search: $(cat err)"
[ "$(grep -o '"video_id"' out | wc -l)" -eq 3 ] || fail "search --json: $(cat out)"
grep -q '"total":42' out || fail "search total: $(cat out)"
"$vidx" similar --db db --json -k 50 clips/a.mp4 >out 2>err || fail "similar: $(cat err)"
grep -q 'clips/a.mp4' out && fail "similar returned the query video"
# vfr.mkv shows the same test pattern as a.mp4 for its first 4 s, smaller and at another
# frame rate: a re-upload of it, linked (near_duplicate_of) and left out of its similar
# videos like an exact copy.
a_id=$("$vidx" video --db db --json clips/a.mp4 | grep -o '"video_id":"[0-9a-f]*"' | cut -d'"' -f4)
"$vidx" video --db db --json clips/vfr.mkv | grep -q "\"near_duplicate_of\":\"$a_id\"" ||
  fail "vfr.mkv is not linked to a.mp4: $("$vidx" video --db db --json clips/vfr.mkv)"
grep -q 'clips/vfr.mkv' out && fail "similar returned a re-upload of the query video"
[ "$(grep -o '"video_id"' out | wc -l)" -eq 40 ] || fail "similar count: $(cat out)"
# A search groups the re-upload under its original: one result, the original's (both
# match), "copies" 1, naming the re-upload.
vfr_id=$("$vidx" video --db db --json clips/vfr.mkv | grep -o '"video_id":"[0-9a-f]*"' | cut -d'"' -f4)
"$vidx" search --db db --json -k 50 "a test pattern" >out 2>err || fail "search for copies: $(cat err)"
python3 - "$a_id" "$vfr_id" out <<'PY' || fail "re-uploads not grouped: $(cat out)"
import json, sys
a, b, path = sys.argv[1], sys.argv[2], sys.argv[3]
doc = json.load(open(path))
ids = [r["video_id"] for r in doc["results"]]
assert a in ids and b not in ids, ids
head = doc["results"][ids.index(a)]
assert head["copies"] == 1 and head["copy_ids"] == [b], head
assert all("copies" not in r for r in doc["results"] if r is not head), doc
PY
"$vidx" search --db db -k 50 "a test pattern" | grep -q "2 copies: also " || fail "search prints no copies line"
printf 'garbage' | dd of=db/index/segments.faiss bs=1 seek=64 conv=notrunc 2>/dev/null
"$vidx" search --db db -k 1 "a test pattern" >out 2>err || fail "search after corruption: $(cat err)"
grep -q "rebuilding the vector index from the catalog: segments.faiss is missing or corrupt" err || fail "no rebuild line: $(cat err)"
"$vidx" similar --db db 0000000000000001 >out 2>err && fail "similar of an unknown id succeeded"
grep -q "no video 0000000000000001" err || fail "unknown id message: $(cat err)"

# Sparse sampling of a long clip (keyframes every 10 s): seeks, and ends.
timeout 120 "$vidx" index --db sparse --max-frames 4 clips/long.mp4 >out 2>err || fail "sparse sampling: $(cat out err)"
"$dump" sparse | grep -q "^indexed 64x48 4 - 60.00 4 " || fail "sparse sampling: $("$dump" sparse)"

# ---- folders are walked by content ------------------------------------------------------
# .ogg and friends hold video or only audio: the streams decide; audio files (cover art
# included) and audio-only WebM are counted as skipped with the reason, never silently.
mkdir ogg
ff -f lavfi -i testsrc=duration=3:size=160x120:rate=10 -f lavfi -i sine=duration=3 -c:v libtheora -c:a libvorbis \
  ogg/theora.ogg
ff -f lavfi -i sine=duration=3 -c:a libvorbis ogg/voice.ogg
ff -f lavfi -i sine=duration=3 -i still.png -map 0 -map 1 -c:a libmp3lame -c:v mjpeg -disposition:v attached_pic \
  ogg/song.mp3
ff -f lavfi -i sine=duration=3 -c:a libopus ogg/talk.webm
"$vidx" index --db oggdb ogg >out 2>err || fail "walk by content: $(cat out err)"
grep -qE "^indexed 1, unchanged 0, duplicates 0, failed 0, removed 0, skipped 3( |$)" out ||
  fail "walk by content: $(cat out)"
grep -q "skipped: .*ogg/voice.ogg: audio only: no video stream" out || fail "voice.ogg: $(cat out)"
grep -q "skipped: .*ogg/song.mp3: audio only (with cover art): no video stream" out || fail "song.mp3: $(cat out)"
grep -q "skipped: .*ogg/talk.webm: audio only" out || fail "talk.webm: $(cat out)"
"$dump" oggdb | grep -q "^indexed 160x120 .*ogg/theora.ogg" || fail "theora in ogg: $("$dump" oggdb)"
"$vidx" index --db oggdb ogg >out 2>err || fail "walk by content, again: $(cat out err)"
grep -q "^indexed 0, unchanged 1, duplicates 0, failed 0, removed 0, skipped 3" out || fail "again: $(cat out)"

# ---- a second run does nothing ----------------------------------------------------------
"$vidx" index --db db clips still.png "$shared/videos" >out 2>err || fail "second run failed: $(cat out)"
grep -q "^indexed 0, unchanged 42," out || fail "second run: $(head -1 out)"

# ---- touched, changed, copied, deleted ----------------------------------------------------
touch clips/a.mp4
ff -f lavfi -i testsrc2=duration=3:size=160x120:rate=25 -c:v libvpx-vp9 -deadline realtime -cpu-used 8 b2.webm
mv b2.webm clips/b.webm
cp clips/anim.gif clips/copy-of-anim.gif
"$vidx" index --db db clips >out 2>err || fail "third run failed: $(cat out)"
# a.mp4 touched (same bytes: not decoded), b.webm changed (re-indexed), the copy linked.
grep -q "^indexed 1, unchanged 7, duplicates 1, failed 0, removed 0" out || fail "after changes: $(head -1 out)"
grep -q "indexed .*clips/b.webm" err || fail "b.webm was not the one re-indexed: $(cat err)"
rm clips/anim.gif
"$vidx" index --db db clips >out 2>err || fail "fourth run failed: $(cat out)"
# The original of the copy is gone: it is removed, the copy now indexed on its own.
grep -q "^indexed 1, unchanged 7, duplicates 0, failed 0, removed 1" out || fail "after delete: $(head -1 out)"
"$dump" db >videos.txt
grep -q "^removed .*clips/anim.gif" videos.txt || fail "anim.gif not marked removed"
grep -q "^indexed .* - .*copy-of-anim.gif" videos.txt || fail "copy not promoted: $(grep copy-of videos.txt)"
rm clips/one-frame.mp4
"$vidx" index --db db clips/one-frame.mp4 >out 2>err || fail "explicit missing file: $(cat out)"
grep -q "removed 1" out || fail "explicitly named deleted file not removed: $(head -1 out)"
"$vidx" info --check --db db >check.txt || fail "consistency after changes: $(cat check.txt)"

# ---- unreadable files (only meaningful when not root) ------------------------------------
if [ "$(id -u)" -ne 0 ]; then
  cp clips/a.mp4 secret.mp4 && chmod 000 secret.mp4
  "$vidx" index --db db secret.mp4 >out 2>err
  grep -q "secret.mp4: permission denied" out || fail "unreadable file: $(cat out)"
fi

# ---- a derived index that missed a change ---------------------------------------------------
# The vector and word indexes of the first video fail to follow it (failpoints: its video
# op and its text op each follow the words): each is
# marked, and the next open rebuilds it, so the video is found by its pictures and words.
mkdir follow
cp clips/a.mp4 follow/aardvark.mp4
cp clips/b.webm follow/zebra.webm
VIDX_FAILPOINTS=vector-follow:1,words-follow:2 "$vidx" index --db followdb follow >out 2>err ||
  fail "index with failing follows: $(cat out) $(tail -3 err)"
[ -f followdb/index/vectors.dirty ] && [ -f followdb/index/words.dirty ] ||
  fail "failed follows are marked: $(ls followdb/index) $(cat err)"
"$vidx" search --db followdb --json aardvark >found.json 2>err || fail "search after failed follows: $(cat err)"
grep -q 'aardvark.mp4' found.json || fail "the video whose follows failed is found by its words: $(cat found.json)"
[ ! -f followdb/index/vectors.dirty ] && [ ! -f followdb/index/words.dirty ] || fail "the marks go once repaired"
"$vidx" info --check --db followdb >check.txt || fail "repaired at open, the indexes check clean: $(cat check.txt)"
# Unmarked (as before marks existed), the check finds the difference and --repair fixes it.
VIDX_FAILPOINTS=vector-follow:1,words-follow:2 "$vidx" index --db followdb2 follow >/dev/null 2>&1
rm -f followdb2/index/vectors.dirty followdb2/index/words.dirty
"$vidx" info --check --db followdb2 >check.txt && fail "an index missing a video checks clean: $(cat check.txt)"
grep -q "vector index: holds 1 videos" check.txt && grep -q "word index: the words of 1 videos differ" check.txt ||
  fail "the check names what differs: $(cat check.txt)"
"$vidx" info --check --repair --db followdb2 >check.txt || fail "--repair: $(cat check.txt)"
grep -q "repaired: vector index rebuilt: 2 videos" check.txt && grep -q ": 0 problems" check.txt ||
  fail "--repair rebuilds, then checks clean: $(cat check.txt)"

# ---- kill -9 at random moments ---------------------------------------------------------------
for round in 1 2 3 4 5; do
  "$vidx" index --db killdb "$shared/videos" >/dev/null 2>&1 &
  pid=$!
  sleep "$((RANDOM % 5)).$((RANDOM % 10))"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  if [ -d killdb/catalog ]; then
    "$vidx" info --check --db killdb >check.txt 2>&1 || fail "round $round: inconsistent after kill -9: $(cat check.txt)"
  fi
done
"$vidx" index --db killdb "$shared/videos" >out 2>err || fail "run after kills failed: $(cat out) $(tail -3 err)"
"$dump" killdb | grep -c '^indexed' | grep -q '^33$' || fail "after kills and a full run, not all 33 indexed"
"$vidx" info --check --db killdb >check.txt || fail "final consistency: $(cat check.txt)"

# A video that starts black (a dark intro): its card's thumbnail shows its pictures, with
# the model (the frame nearest the whole video's embedding that is not blank) and
# without it (the frame nearest the middle that is not).
bright() { ffprobe -v error -f lavfi -i "movie=$1,signalstats" -show_entries frame_tags=lavfi.signalstats.YMAX -of csv=p=0 | head -n 1; }
mkdir -p "$work/intro"
ffmpeg -v error -nostdin -y -f lavfi -i color=black:size=160x120:rate=10:duration=7 -f lavfi \
  -i testsrc2=size=160x120:rate=10:duration=3 -filter_complex '[0][1]concat=n=2:v=1' -pix_fmt yuv420p \
  "$work/intro/dark_intro.mp4"
for with in model none; do
  rm -rf "$work/introdb"
  if [ $with = model ]; then "$vidx" index --db "$work/introdb" -q "$work/intro" >/dev/null 2>&1
  else VIDX_MODEL="$work/no-model" "$vidx" index --db "$work/introdb" -q "$work/intro" >/dev/null 2>&1; fi
  id=$("$vidx" video --db "$work/introdb" --json "$work/intro/dark_intro.mp4" | python3 -c 'import json,sys; print(json.load(sys.stdin)["video_id"])')
  y=$(bright "$work/introdb/thumbs/$id.jpg")
  [ "${y:-0}" -gt 100 ] || fail "a video that starts black (model: $with): its thumbnail is blank (YMAX ${y:-?})"
done

if [ "$failures" -ne 0 ]; then
  echo "$failures failures" >&2
  exit 1
fi
echo "index ok"
