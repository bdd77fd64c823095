#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub, for test_download.sh and the main job's test.

Serves one repository whose files are those of FOLDER (with its subfolders, as
"1_Pooling/config.json"; dot files included), the way the hub serves a model repository (huggingface_hub's model_info and hf_hub_download
read the same answers):
  GET /api/models/ORG/NAME/revision/REV[?blobs=true]
      {"id", "sha": the commit, "siblings": [{"rfilename", "size", "blobId", "lfs":
      {"sha256", "size", "pointerSize"} for files stored with Git LFS}]}; REV is "main" or
      the commit, anything else is 404 as on the hub.
  HEAD/GET /ORG/NAME/resolve/REV/FILE
      small files directly (ETag: git blob SHA-1, X-Repo-Commit); LFS files redirect to
      /cdn/FILE with X-Linked-Etag (SHA-256) and X-Linked-Size; /cdn/ honours Range.
Git LFS holds the extensions the hub's default .gitattributes lists (.bin, .safetensors,
.h5, .msgpack, ...), as for openai/clip-vit-base-patch32. With MOCK_PROMPTS set,
/github/.../data/prompts.md serves that file (GitHub's raw files).

usage: mock_hub.py FOLDER PORT_FILE [--corrupt FILE]   (prints the port into PORT_FILE)
Every request line is appended to FOLDER/../requests.log.
"""
import hashlib
import http.server
import json
import os
import sys

folder, port_file = sys.argv[1], sys.argv[2]
corrupt = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--corrupt" else None
PROMPTS = os.environ.get("MOCK_PROMPTS")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
LFS_EXTENSIONS = (".bin", ".safetensors", ".h5", ".msgpack", ".pt", ".pth", ".ckpt", ".onnx", ".ot", ".tflite",
                  ".pb", ".npy", ".npz", ".zip", ".tar.gz", ".model", ".joblib", ".pkl", ".pickle")
log_path = os.path.join(os.path.dirname(os.path.abspath(folder)), "requests.log")


def files():
    """Every file of the repository, by its path inside it."""
    out = []
    for root, _, names in os.walk(folder):
        for n in names:
            out.append(os.path.relpath(os.path.join(root, n), folder))
    return sorted(out)


def is_lfs(name):
    return name.endswith(LFS_EXTENSIONS)


def raw(name):
    with open(os.path.join(folder, name), "rb") as f:
        return f.read()


def content(name):
    data = raw(name)
    if name == corrupt:  # served bytes differ from the published checksum
        data = bytes([data[0] ^ 1]) + data[1:]
    return data


def git_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sibling(name):
    data = raw(name)
    s = {"rfilename": name, "size": len(data)}
    if is_lfs(name):
        sha = hashlib.sha256(data).hexdigest()
        pointer = b"version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (sha.encode(), len(data))
        s["blobId"] = git_sha1(pointer)  # the repository holds the pointer
        s["lfs"] = {"sha256": sha, "size": len(data), "pointerSize": len(pointer)}
    else:
        s["blobId"] = git_sha1(data)
    return s


class Hub(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=(), send_body=True):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def send_ranged(self, data, body):
        """The bytes whole, or from a Range request's start (what a resumed download asks)."""
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.reply(416, headers=[("Content-Range", "bytes */%d" % len(data))])
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
        path = self.path.split("?")[0]
        parts = path.split("/")
        if path.startswith("/github/") and PROMPTS and path.endswith("/data/prompts.md"):
            with open(PROMPTS, "rb") as f:
                self.send_ranged(f.read(), body)
            return
        if path.startswith("/cdn/"):
            name = "/".join(parts[2:])
            if name not in files():
                self.reply(404, send_body=body)
                return
            self.send_ranged(content(name), body)
            return
        # /api/models/ORG/NAME/revision/REV
        if len(parts) == 7 and parts[1:3] == ["api", "models"] and parts[5] == "revision":
            if parts[6] not in ("main", COMMIT):
                self.reply(404, b'{"error":"Invalid rev id: %s"}' % parts[6].encode(), send_body=body)
                return
            names = files()
            info = {"_id": "mock", "id": parts[3] + "/" + parts[4], "modelId": parts[3] + "/" + parts[4],
                    "sha": COMMIT, "private": False, "siblings": [sibling(n) for n in names]}
            self.reply(200, json.dumps(info).encode(), [("Content-Type", "application/json")], body)
            return
        # /ORG/NAME/resolve/REV/FILE (FILE may be in a subfolder)
        name = "/".join(parts[5:])
        if len(parts) < 6 or parts[3] != "resolve" or parts[4] not in ("main", COMMIT) or name not in files():
            self.reply(404, send_body=body)
            return
        s = sibling(name)
        if is_lfs(name):
            self.reply(302, headers=[("Location", "/cdn/" + name), ("X-Repo-Commit", COMMIT),
                                     ("X-Linked-Etag", '"%s"' % s["lfs"]["sha256"]), ("X-Linked-Size", str(s["size"]))],
                       send_body=body)
            return
        self.reply(200, content(name), [("X-Repo-Commit", COMMIT), ("ETag", '"%s"' % s["blobId"])], body)

    def do_HEAD(self):
        self.answer(False)

    def do_GET(self):
        self.answer(True)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
