"""What every Python test of vidx shares (test_server.py, test_cluster.py, fuzz_http.py,
natscluster.py): checks that record failures and go on, waits with a bound, HTTP requests,
and the harness of one `vidx serve` started on 127.0.0.1."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": "Bearer " + ADMIN_TOKEN}
failures = []


def check(cond, what):
    """Records a failure (printed at once) and goes on."""
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr, flush=True)


def exit_with_failures(passed_message):
    if failures:
        print(f"{len(failures)} failures", file=sys.stderr)
        sys.exit(1)
    print(passed_message)


def wait_for(what, cond, timeout=60, every=0.1):
    """Polls cond until it returns something true (returned), at most timeout seconds;
    then stops the test, naming what it waited for."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(every)
    raise SystemExit(f"timed out waiting for {what}")


def wait_until(cond, timeout, every=0.05):
    """True once cond() is, False when timeout seconds pass first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(every)
    return bool(cond())


_ports_given = set()


def free_port():
    """A port free now and not given before by this process (the kernel may hand the same
    free port to two binds in a row once the first socket is closed)."""
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def error_code(doc):
    return doc and doc.get("error", {}).get("code")


def request(host, port, method, path, body=None, headers=None, timeout=30):
    """One HTTP request: (status, JSON document or None, body bytes, response)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    h = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    doc = json.loads(data) if r.getheader("Content-Type", "").startswith("application/json") else None
    return r.status, doc, data, r


def http_req(port, method, path, body=None, headers=None, timeout=30):
    """A request to 127.0.0.1:port: (status, JSON document or None)."""
    st, doc, _, _ = request("127.0.0.1", port, method, path, body, headers, timeout)
    return st, doc


class Server:
    """`vidx serve` on a data folder, listening on 127.0.0.1 (a free port), its output in
    DB-serverN.log. vidx: the binary (default Server.vidx, set by the test's main)."""
    vidx = None
    running = []  # killed at exit if a test stops half-way
    count = 0

    def __init__(self, db, env, extra=(), vidx=None, listen="127.0.0.1:0", beside=None):
        beside = beside or db  # where its ready file and log go: beside the data folder, or this prefix
        self.ready = beside + "-ready"
        if os.path.exists(self.ready):
            os.unlink(self.ready)
        Server.count += 1
        self.log_path = f"{beside}-server{Server.count}.log"  # one log per server started
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([vidx or Server.vidx, "serve", "--db", db, "--listen", listen,
                                      "--ready-file", self.ready, *extra], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        Server.running.append(self.proc)
        deadline = time.time() + 60
        while not os.path.exists(self.ready):
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit("the server did not start: " + open(self.log_path).read()[-2000:])
            time.sleep(0.05)
        host, port = open(self.ready).read().strip().rsplit(":", 1)
        self.host, self.port = host, int(port)

    def request(self, method, path, body=None, headers=None, timeout=30):
        return request(self.host, self.port, method, path, body, headers, timeout)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def raw(self, data, timeout=10):
        """Sends raw bytes, returns what comes back (until close or timeout)."""
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        try:
            s.sendall(data)
            out = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                out += chunk
                if b"\r\n\r\n" in out and len(out) > 12:
                    head = out.split(b"\r\n\r\n", 1)[0]
                    length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                    if length and len(out.split(b"\r\n\r\n", 1)[1]) >= int(length[0].split(b":")[1]):
                        break
            return out
        except (ConnectionResetError, BrokenPipeError):
            return b""
        finally:
            s.close()

    @staticmethod
    def kill_all():
        for p in Server.running:
            if p.poll() is None:
                p.kill()
                p.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = "killed after 60 s"
        self.log.close()
        if rc != 0:
            print(f"server exit status {rc}; its log ends:\n" + open(self.log_path, errors="replace").read()[-3000:],
                  file=sys.stderr)
        return rc
