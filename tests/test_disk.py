#!/usr/bin/env python3
"""A full disk, for real: the data folder on a small tmpfs that the test fills.

usage: test_disk.py VIDX SHARED_DATA

Checks what issue 34 asks of a full disk (engine/disk.c):
  - below the free-space reserve, small writes go on (events, job records) while bulk work
    waits (a job's videos, renditions), with no "failed" record; /healthz says "full";
  - at ENOSPC, writes answer 507 storage_unavailable (never 500), reads go on, and no
    temporary file is left behind;
  - once space returns, everything resumes without a restart: events are taken again
    (LevelDB is opened again after its failed write), the job indexes its files, the
    rendition is made;
  - a kill -9 while the disk is full leaves a data folder that opens, passes
    `vidx info --check`, and holds every event that was acknowledged;
  - a cluster node whose disk is full skips no op of the log: it falls behind, says so,
    and catches up once space returns (a NATS server and two nodes on 127.0.0.1).

A tmpfs needs a mount namespace: the test runs itself under `unshare -m` (root) or
`unshare -rm` (a user namespace); where neither works it is skipped (exit 77).
"""
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from natscluster import Node, start_nats
from vxtest import ADMIN, ADMIN_TOKEN, Server, check, error_code, exit_with_failures, failures, http_req, wait_until

VIDX = os.path.abspath(sys.argv[1])
SHARED = os.path.abspath(sys.argv[2])
SKIP = 77
TMPFS_MB = 40
RESERVE_MB = 6
OPERATOR = {"Authorization": "Bearer test-operator-key-0123456789"}


def own_mount_namespace():
    """Runs this script again in a mount namespace of its own (once)."""
    if os.environ.get("VIDX_TEST_DISK_NS") == "1":
        return
    env = dict(os.environ, VIDX_TEST_DISK_NS="1")
    for unshare in (["unshare", "-m", "--propagation", "private"], ["unshare", "-rm", "--propagation", "private"]):
        if shutil.which("unshare") and subprocess.run(unshare + ["true"], stderr=subprocess.DEVNULL).returncode == 0:
            os.execvpe(unshare[0], unshare + [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)
    print("SKIP: no mount namespace here for a small tmpfs (unshare -m / -rm)")
    sys.exit(SKIP)


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


def make_media(media):
    os.makedirs(media)
    for i in range(3):
        ffmpeg("-f", "lavfi", "-i", "testsrc2=duration=4:size=160x120:rate=10", "-vf", f"hue=h={90 * i}",
               "-c:v", "libx264", "-pix_fmt", "yuv420p", os.path.join(media, f"clip{i}.mp4"))
    # MPEG-1 in MPEG-PS: no browser plays it, so the service makes a rendition.
    ffmpeg("-f", "lavfi", "-i", "smptebars=size=320x240:rate=25", "-t", "4", "-c:v", "mpeg1video",
           os.path.join(media, "old.mpg"))
    ffmpeg("-f", "lavfi", "-i", "mandelbrot=size=160x120:rate=10", "-t", "4", "-c:v", "libx264", "-pix_fmt",
           "yuv420p", os.path.join(media, "later.mp4"))


def free_mb(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / 2**20


def fill(folder, leave_mb, name):
    """Writes a file until less than leave_mb MiB stay free (0: until ENOSPC)."""
    chunk = b"\0" * (64 << 10)
    with open(os.path.join(folder, name), "wb") as f:
        try:
            while leave_mb == 0 or free_mb(folder) > leave_mb:
                f.write(chunk)
                f.flush()
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise


def leftovers(db):
    """Temporary files anywhere in the data folder."""
    out = []
    for root, _, files in os.walk(db):
        out += [os.path.join(root, f) for f in files if ".tmp" in f or f.endswith(".partial")]
    return out


def post_event(srv, vid, user="u1"):
    st, doc, _, _ = srv.request("POST", f"/v1/users/{user}/events", {"video_id": vid, "type": "like"},
                                headers=OPERATOR)
    return st, doc


def health(srv):
    return srv.get("/healthz")[1]


def info(db, env):
    out = subprocess.run([VIDX, "info", "--db", db, "--json"], env=env, capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else None


def main():
    own_mount_namespace()
    work = tempfile.mkdtemp(prefix="vidx-disk-")
    disk = os.path.join(work, "disk")
    os.makedirs(disk)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "tmpfs", disk], check=True)
    Server.vidx = VIDX
    procs = []
    try:
        run(work, disk)
        cluster_node(work, disk, procs)
    finally:
        Server.kill_all()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["umount", "-l", disk])
        if failures:
            print(f"the services' logs are kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    exit_with_failures("test_disk: passed")


def run(work, disk):
    """The steps; logs go beside the tmpfs (work/db-serverN.log), not on it."""
    media = os.path.join(work, "media")
    make_media(media)
    db = os.path.join(disk, "db")
    env = dict(os.environ, VIDX_MODEL=os.path.join(SHARED, "clip-golden", "tiny"), VIDX_ADMIN_TOKEN=ADMIN_TOKEN,
               VIDX_API_KEY=OPERATOR["Authorization"].split()[1], VIDX_DISK_RESERVE_MB=str(RESERVE_MB))
    subprocess.run([VIDX, "index", "--db", db, os.path.join(media, "clip0.mp4"), os.path.join(media, "clip1.mp4"),
                    os.path.join(media, "old.mpg")], env=env, check=True, stdout=subprocess.DEVNULL)
    serve = ["--media-root", media]

    # 1. Below the reserve: small writes go on, bulk work waits.
    fill(disk, RESERVE_MB - 2, "filler-1")
    srv = Server(db, env, serve, beside=os.path.join(work, "db"))
    h = health(srv)
    check(h.get("disk") == "full" and h["status"] == "degraded", f"below the reserve /healthz says full: {h}")
    st, doc, metrics, _ = srv.get("/metrics")
    check(b"vidx_disk_ok 0" in metrics, "/metrics: vidx_disk_ok 0 below the reserve")
    st, doc, _, _ = srv.get("/v1/search?q=colour+bars&k=5")
    check(st == 200 and sum(1 + r.get("copies", 0) for r in doc["results"]) == 3,  # copies grouped
          f"searches go on with the disk full: {st} {doc}")
    vid = doc["results"][0]["video_id"]
    st, doc = post_event(srv, vid)
    check(st == 201, f"an event is taken below the reserve: {st} {doc}")
    acked = 1 if st == 201 else 0
    st, doc, _, _ = srv.request("POST", "/v1/index", {"paths": [os.path.join(media, "clip2.mp4"),
                                                                os.path.join(media, "later.mp4")]}, headers=ADMIN)
    check(st == 202, f"a job is taken below the reserve (its record is small): {st} {doc}")
    job = doc.get("job_id") if doc else None
    time.sleep(3)
    st, doc, _, _ = srv.get(f"/v1/jobs/{job}", headers=ADMIN)
    check(st == 200 and doc["state"] in ("queued", "running") and
          not any(i["outcome"] == "failed" for i in doc.get("items", [])),
          f"the job waits for room, nothing failed: {doc}")
    old = [r for r in srv.get("/v1/search?q=bars&k=5")[1]["results"] if r["path"].endswith("old.mpg")]
    check(len(old) == 1, "old.mpg is indexed")
    if old:
        st, doc, _, _ = srv.get(f"/v1/videos/{old[0]['video_id']}")
        check(doc["playback"] == "pending", f"its rendition waits, not failed: {doc['playback']} {doc.get('playback_reason')}")
    h = health(srv)
    check(h["renditions_pending"] >= 1, f"the rendition is pending: {h}")

    # 2. No room at all: writes answer 507, never 500; reads go on; nothing half-written.
    fill(disk, 0, "filler-2")
    statuses = []
    for _ in range(400):
        st, doc = post_event(srv, vid)
        statuses.append(st)
        if st == 201:
            acked += 1
        if st == 507:
            check(error_code(doc) == "storage_unavailable", f"507 says storage_unavailable: {doc}")
            break
    print(f"at ENOSPC: {statuses.count(201)} events taken, then {statuses[-1]}")
    check(507 in statuses, f"a full disk refuses events with 507: {sorted(set(statuses))}")
    check(500 not in statuses, f"no event answered 500: {sorted(set(statuses))}")
    st, doc, _, _ = srv.get("/v1/search?q=colour+bars&k=5")
    check(st == 200 and doc["results"], f"searches go on at ENOSPC: {st}")
    check(health(srv).get("disk") in ("full", "failing"), "/healthz: full")
    check(not leftovers(db), f"no temporary files at ENOSPC: {leftovers(db)}")

    # 3. Space returns: everything resumes without a restart.
    os.unlink(os.path.join(disk, "filler-2"))
    os.unlink(os.path.join(disk, "filler-1"))
    check(wait_until(lambda: health(srv).get("disk") == "ok", 10), f"/healthz: ok once space returns: {health(srv)}")
    st, doc = post_event(srv, vid)
    check(st == 201, f"events are taken again without a restart: {st} {doc}")
    acked += st == 201
    done = wait_until(lambda: srv.get(f"/v1/jobs/{job}", headers=ADMIN)[1]["state"] == "done", 90)
    st, doc, _, _ = srv.get(f"/v1/jobs/{job}", headers=ADMIN)
    check(done and [i["outcome"] for i in doc["items"]] == ["indexed", "indexed"],
          f"the job indexed both files once the disk had room: {doc}")
    check(wait_until(lambda: health(srv)["renditions_pending"] == 0, 90), "the waiting rendition is made")
    if old:
        st, doc, _, _ = srv.get(f"/v1/videos/{old[0]['video_id']}")
        check(doc["playback"] == "rendition", f"old.mpg plays from its rendition: {doc['playback']}")
    check(srv.stop() == 0, "the service stops cleanly")
    out = subprocess.run([VIDX, "info", "--db", db, "--check"], env=env, capture_output=True, text=True)
    check(out.returncode == 0 and " 0 problems" in out.stdout, f"vidx info --check: {out.stdout} {out.stderr}")
    i = info(db, env)
    check(i and i["events"] == acked, f"every acknowledged event is stored ({acked}): {i and i['events']}")

    # 4. Killed while the disk is full: the data folder opens once there is room, whole.
    srv = Server(db, env, serve, beside=os.path.join(work, "db"))
    fill(disk, 0, "filler-3")
    for _ in range(400):
        st, doc = post_event(srv, vid, "u2")
        if st == 201:
            acked += 1
        if st != 201:
            break
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    os.unlink(os.path.join(disk, "filler-3"))
    out = subprocess.run([VIDX, "info", "--db", db, "--check"], env=env, capture_output=True, text=True)
    check(out.returncode == 0 and " 0 problems" in out.stdout,
          f"killed at ENOSPC, the folder opens and checks clean: {out.stdout} {out.stderr}")
    i = info(db, env)
    check(i and i["events"] == acked, f"every acknowledged event survived the kill ({acked}): {i and i['events']}")
    srv = Server(db, env, serve, beside=os.path.join(work, "db"))
    st, doc = post_event(srv, vid)
    check(st == 201, f"the service takes events after the restart: {st}")
    check(srv.stop() == 0, "the service stops cleanly after the restart")


def cluster_node(work, disk, procs):
    """Node B's data folder on the tmpfs, A's not: ops A commits while B's disk is full
    wait on B, none skipped."""
    media = os.path.join(work, "media")
    env = dict(os.environ, VIDX_MODEL=os.path.join(SHARED, "clip-golden", "tiny"), VIDX_ADMIN_TOKEN=ADMIN_TOKEN,
               VIDX_DISK_RESERVE_MB=str(RESERVE_MB), VIDX_CLUSTER_REPLICAS="1")
    _, urls = start_nats(os.path.join(work, "nats"), 1, procs)
    a = Node(VIDX, "serve", os.path.join(work, "a"), urls, env, procs, ["--media-root", media])
    b = Node(VIDX, "serve", os.path.join(disk, "b"), urls, env, procs, ["--media-root", media],
             beside=os.path.join(work, "b"))
    a.wait_ready()
    b.wait_ready()

    def applied(node):
        return node.healthz()[1]["cluster"]["applied"]

    def submit():
        st, doc = http_req(a.port, "POST", "/v1/index", {"paths": [os.path.join(media, "clip0.mp4")]}, ADMIN)
        check(st == 202, f"A takes a job while B's disk is full: {st} {doc}")
        return doc and doc.get("job_id")

    fill(disk, 0, "filler-4")
    jobs = [submit() for _ in range(10)]
    behind = wait_until(lambda: applied(b) < applied(a), 10)
    while not behind and len(jobs) < 200:  # the log's last page may take a few more
        jobs.append(submit())
        behind = wait_until(lambda: applied(b) < applied(a), 1)
    h = b.healthz()[1]
    check(behind and h.get("disk") == "full", f"B falls behind with its disk full and says so: {h}")
    check(b.get("/v1/search?q=bars")[0] == 200, "B still answers searches")
    os.unlink(os.path.join(disk, "filler-4"))
    check(wait_until(lambda: applied(b) == applied(a), 60),
          f"B catches up once space returns: A {applied(a)}, B {applied(b)}")
    st, doc = b.get(f"/v1/jobs/{jobs[-1]}", headers=ADMIN)
    check(st == 200, f"B has the last job A committed: {st} {doc}")
    check(b.healthz()[1]["cluster"]["skipped"] == 0 and "skipped" not in b.logtext(), "B skipped no op")
    check(b.stop() == 0 and a.stop() == 0, "both nodes stop cleanly")
    out = subprocess.run([VIDX, "info", "--db", b.db, "--check"], env=env, capture_output=True, text=True)
    check(out.returncode == 0 and " 0 problems" in out.stdout, f"B's folder checks clean: {out.stdout} {out.stderr}")


if __name__ == "__main__":
    main()
