#!/usr/bin/env python3
"""Bounded HTTP fuzzing of vidx serve (run under ASan in CI): malformed request lines,
huge headers, invalid JSON and UTF-8, random bytes, pipelining and clients that vanish.
The server must stay up, keep answering, and let go of every connection.

usage: fuzz_http.py VIDX SHARED_DATA [CASES] [SECONDS]
"""
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vxtest import ADMIN_TOKEN as TOKEN, Server  # noqa: E402 (the tests' one server harness)

VIDX, SHARED = sys.argv[1], sys.argv[2]
Server.vidx = VIDX
CASES = int(sys.argv[3]) if len(sys.argv) > 3 else 600
SECONDS = float(sys.argv[4]) if len(sys.argv) > 4 else 90

PATHS = [b"/", b"/healthz", b"/metrics", b"/v1/search", b"/v1/search?q=dog", b"/v1/videos/0123456789abcdef",
         b"/v1/videos/0123456789abcdef/similar", b"/v1/users/alice/feed", b"/v1/users/alice/events", b"/v1/users/alice",
         b"/v1/index", b"/v1/jobs/0123456789abcdef", b"/thumbs/0123456789abcdef.jpg",
         b"/v1/videos/0123456789abcdef/rendition", b"/v1/videos/0123456789abcdef/text",
         b"/v1/videos/0123456789abcdef/media"]
# A video's own routes, with the id of a video the service holds (added at start).
VIDEO_ROUTES = [b"", b"/similar", b"/rendition", b"/media", b"/text"]
METHODS = [b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH", b"BREW", b"", b"G\x00ET"]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.random()
        pos = rng.randrange(len(data) + 1)
        if op < 0.3 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif op < 0.5:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op < 0.7 and data:
            del data[pos:pos + rng.randint(1, 16)]
        elif op < 0.85:
            data[pos:pos] = rng.choice([b"\r\n", b"\n", b"%", b"%zz", b"%00", b"\xff\xfe", b"..", b"/../", b"?", b"&=",
                                        b"\x00", b" HTTP/1.1", b"Content-Length: -1\r\n", b"Transfer-Encoding: chunked\r\n"])
        else:
            data[pos:pos] = data[max(0, pos - 32):pos] * rng.randint(1, 50)
    return bytes(data)


def json_body(rng):
    choices = [b'{"video_id": "0123456789abcdef", "type": "like"}', b'{"paths": ["/nonexistent"]}', b"{", b"[]", b"null",
               b'{"video_id": "\xff\xfe", "type": "like"}', b'{"type": "view", "seconds": 1e999}',
               b'{"a":' * 2000 + b"1" + b"}" * 2000, b'{"video_id": 12, "type": ["x"]}', b'"\\ud800"', b"\x00" * 64,
               b'{"reason": "MediaError 3: PIPELINE_ERROR_DECODE"}', b'{"reason": "' + b"x" * 300 + b'"}', b'{"reason": 7}',
               b'{"reason": "\\u0000"}', b'{"title": "t", "tags": ["a", 1]}']
    body = rng.choice(choices)
    return mutate(rng, body) if rng.random() < 0.5 else body


def make_case(rng):
    kind = rng.random()
    if kind < 0.08:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 4096)))
    method = rng.choice(METHODS)
    path = rng.choice(PATHS)
    if rng.random() < 0.3:
        path += b"?q=" + bytes(rng.randrange(256) for _ in range(rng.randint(0, 64))) + b"&k=" + \
            rng.choice([b"1", b"0", b"-5", b"99999999999999999999", b"abc", b""])
    headers = [b"Host: 127.0.0.1" if rng.random() < 0.7 else b"Host: " + rng.choice([b"127.0.0.1", b"127.0.0.1:80", b"localhost:8080", b"[::1]:1", b"fuzz",
                                       b"[", b"1.2.3.4:", b"a:b:c", b"", b"\xff" * 8, b"x" * 300])]
    if rng.random() < 0.8:
        headers.append(b"Content-Type: " + rng.choice([b"application/json", b"application/json; charset=utf-8",
                                                        b"text/plain", b"image/jpeg", b"application/jsonx"]))
    if rng.random() < 0.2:
        headers.append(b"Origin: " + rng.choice([b"http://127.0.0.1", b"http://evil.example", b"null", b"\xfe"]))
    if rng.random() < 0.3:
        headers.append(b"Authorization: Bearer " + rng.choice([TOKEN.encode(), b"x", b"\xff" * 40]))
    if rng.random() < 0.1:
        headers.append(b"X-Huge: " + b"h" * rng.choice([1000, 20000, 200000]))
    if rng.random() < 0.1:
        headers += [b"X-Many-%d: v" % i for i in range(rng.choice([100, 2000]))]
    body = json_body(rng) if method in (b"POST", b"PUT", b"PATCH") or rng.random() < 0.1 else b""
    if body and rng.random() < 0.9:
        headers.append(b"Content-Length: %d" % (len(body) if rng.random() < 0.8 else rng.randint(0, 10 ** 7)))
    req = method + b" " + path + b" " + rng.choice([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/9.9", b"", b"HTTP/1.1 extra"])
    data = req + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body
    if rng.random() < 0.4:
        data = mutate(rng, data)
    if rng.random() < 0.1:
        data = data * rng.randint(2, 5)  # pipelined
    return data


def send(S, data, rng):
    try:
        s = socket.create_connection((S.host, S.port), timeout=2)
    except OSError as e:
        return "connect: " + repr(e)
    try:
        how = rng.random()
        if how < 0.1:  # vanish mid-request
            s.sendall(data[: max(1, len(data) // 2)])
            return None
        if how < 0.15:  # send slowly, a few bytes at a time, then go
            for i in range(0, min(len(data), 40), 8):
                s.sendall(data[i:i + 8])
                time.sleep(0.01)
            return None
        s.sendall(data)
        try:
            if rng.random() < 0.3:
                s.shutdown(socket.SHUT_WR)
            s.recv(65536)
        except (socket.timeout, OSError):
            pass
    except OSError:  # reset, broken pipe: the server may hang up on garbage
        pass
    finally:
        s.close()
    return None


def main():
    work = tempfile.mkdtemp(prefix="vidx-fuzz-http-")
    env = dict(os.environ, VIDX_MODEL=os.path.join(SHARED, "clip-golden", "tiny"), VIDX_ADMIN_TOKEN=TOKEN,
               VIDX_LOG="warn")
    db = os.path.join(work, "db")
    problems = []
    try:
        subprocess.run([VIDX, "index", "--db", db, "-q", os.path.join(SHARED, "videos", "moviepy")], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        S = Server(db, env, extra=("--timeout", "3"))
        st, doc, _, _ = S.get("/v1/search?q=fire&k=3")
        for r in (doc or {}).get("results", []):
            PATHS.extend(b"/v1/videos/" + r["video_id"].encode() + route for route in VIDEO_ROUTES)
        rng = random.Random(int(os.environ.get("FUZZ_SEED", "1")))
        start, n = time.time(), 0
        while n < CASES and time.time() - start < SECONDS:
            err = send(S, make_case(rng), rng)
            if err:
                problems.append(f"case {n}: {err}")
                break
            n += 1
            if S.proc.poll() is not None:
                problems.append(f"the server died at case {n} (exit {S.proc.returncode})")
                break
        print(f"{n} cases in {time.time() - start:.1f} s")
        if S.proc.poll() is None:
            st, doc, _, _ = S.get("/healthz")
            if st != 200 or doc.get("status") != "ok":
                problems.append(f"healthz after fuzzing: {st} {doc}")
            st, doc, _, _ = S.get("/v1/search?q=fire&k=2")
            if st != 200 or len(doc["results"]) != 2:
                problems.append(f"search after fuzzing: {st}")
            # every fuzz connection is let go (idle ones after the 3 s timeout)
            deadline, open_now = time.time() + 15, None
            while time.time() < deadline:
                _, _, data, _ = S.get("/metrics")
                line = [l for l in data.decode().splitlines() if l.startswith("vidx_http_connections ")]
                open_now = int(line[0].split()[1])
                if open_now <= 1:
                    break
                time.sleep(0.5)
            if open_now is None or open_now > 1:
                problems.append(f"connections still open after fuzzing: {open_now}")
            rc = S.stop()
            if rc != 0:
                problems.append(f"exit status after SIGTERM: {rc}")
        log = open(S.log_path, errors="replace").read()
        if "ERROR: AddressSanitizer" in log or "runtime error:" in log:
            problems.append("sanitizer report:\n" + log[-4000:])
    finally:
        Server.kill_all()
        if problems:
            print("\n".join(problems), file=sys.stderr)
            print(open(S.log_path, errors="replace").read()[-3000:], file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
