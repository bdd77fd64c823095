#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub's file endpoints, for test_download.sh.

Serves the files of one folder the way the hub does: HEAD and GET of
/REPO/resolve/REVISION/FILE answer with X-Repo-Commit; small files come directly with
their git blob SHA-1 as ETag; model.safetensors (as a Git LFS file) redirects to /cdn/
with X-Linked-Etag (its SHA-256) and X-Linked-Size; /cdn/ honours Range requests. With
MOCK_PROMPTS set, /github/.../data/prompts.md serves that file (GitHub's raw files).

usage: mock_hub.py FOLDER PORT_FILE [--corrupt FILE]   (prints the port into PORT_FILE)
Every request line is appended to FOLDER/../requests.log.
"""
import hashlib
import http.server
import os
import sys

folder, port_file = sys.argv[1], sys.argv[2]
corrupt = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--corrupt" else None
# GitHub's raw files too: /github/openai/CLIP/COMMIT/data/prompts.md from this file.
PROMPTS = os.environ.get("MOCK_PROMPTS")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS = {"model.safetensors"}
log_path = os.path.join(os.path.dirname(os.path.abspath(folder)), "requests.log")


def content(name):
    with open(os.path.join(folder, name), "rb") as f:
        data = f.read()
    if name == corrupt:  # served bytes differ from the published checksum
        data = bytes([data[0] ^ 1]) + data[1:]
    return data


def published(name):
    with open(os.path.join(folder, name), "rb") as f:
        data = f.read()
    if name in LFS:
        return hashlib.sha256(data).hexdigest(), len(data)
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(), len(data)


class Hub(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send_ranged(self, data, body):
        """The bytes whole, or from a Range request's start (what a resumed download asks)."""
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if body:
            self.wfile.write(data[start:])

    def answer(self, body):
        with open(log_path, "a") as log:
            log.write("%s %s %s\n" % (self.command, self.path, self.headers.get("Range", "-")))
        parts = self.path.split("/")
        if self.path.startswith("/github/") and PROMPTS and self.path.endswith("/data/prompts.md"):
            with open(PROMPTS, "rb") as f:
                self.send_ranged(f.read(), body)
            return
        if self.path.startswith("/cdn/"):
            self.send_ranged(content(parts[2]), body)
            return
        # /ORG/NAME/resolve/REV/FILE
        if len(parts) != 6 or parts[3] != "resolve" or not os.path.exists(os.path.join(folder, parts[5])):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        name = parts[5]
        checksum, size = published(name)
        if name in LFS:
            self.send_response(302)
            self.send_header("Location", "/cdn/" + name)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("X-Linked-Etag", '"%s"' % checksum)
            self.send_header("X-Linked-Size", str(size))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = content(name)
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", '"%s"' % checksum)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_HEAD(self):
        self.answer(False)

    def do_GET(self):
        self.answer(True)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
