"""Clusters on 127.0.0.1 for tests and benchmarks (test_cluster.py, bench/bench_cluster.py):
nats-server processes with JetStream, vidx nodes, and requests to them. Every process
is appended to the caller's `procs` so that it can kill what is left at exit."""
import http.client
import json
import os
import signal
import subprocess
import time

from vxtest import free_port, http_req, wait_for  # noqa: F401 (http_req, wait_for: for the callers too)


class Nats:
    """One nats-server; with routes, a member of a cluster."""

    def __init__(self, work, i, routes, procs, auth=""):
        self.i, self.procs, self.auth = i, procs, auth
        self.port, self.cport, self.mport = free_port(), free_port(), free_port()
        self.conf = os.path.join(work, f"nats{i}.conf")
        self.log = os.path.join(work, f"nats{i}.log")
        self.store = os.path.join(work, f"nats{i}")
        self.routes = routes

    def write_conf(self, routes):
        cluster = (f"cluster {{ name: vidx-test, listen: 127.0.0.1:{self.cport}, routes: [{routes}] }}"
                   if routes is not None else "")
        with open(self.conf, "w") as f:
            f.write(f"""server_name: n{self.i}
listen: 127.0.0.1:{self.port}
http: 127.0.0.1:{self.mport}
max_payload: 8MB
{self.auth}
jetstream {{ store_dir: "{self.store}", max_memory_store: 64MB, max_file_store: 8GB }}
{cluster}
""")

    def start(self):
        self.proc = subprocess.Popen(["nats-server", "-c", self.conf], stdout=open(self.log, "a"),
                                     stderr=subprocess.STDOUT)
        self.procs.append(self.proc)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def pause(self):
        """SIGSTOP: a server that hangs or is cut off, with its data intact."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def jsz(self, query=""):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.mport, timeout=2)
            c.request("GET", "/jsz" + query)
            return json.loads(c.getresponse().read())
        except (OSError, ValueError, http.client.HTTPException):
            return None


def stream_leader(servers, stream):
    """The server leading stream, or None."""
    for s in servers:
        j = s.jsz("?accounts=true&streams=true")
        for acc in (j or {}).get("account_details", []):
            for st in acc.get("stream_detail", []):
                leader = st.get("name") == stream and st.get("cluster", {}).get("leader")
                if leader:
                    return next((x for x in servers if f"n{x.i}" == leader), None)
    return None


def start_nats(work, n, procs, auth=""):
    """n servers (a cluster when n > 1) with JetStream; returns them and the client URLs
    once JetStream answers (a meta leader elected). auth: an authorization block."""
    os.makedirs(work, exist_ok=True)
    servers = [Nats(work, i, None, procs, auth) for i in range(n)]
    routes = ", ".join(f"nats-route://127.0.0.1:{s.cport}" for s in servers) if n > 1 else None
    for s in servers:
        s.write_conf(routes)
        s.start()
    if n > 1:
        wait_for("a JetStream meta leader", lambda: all((j := s.jsz()) and j.get("meta_cluster", {}).get("leader")
                                                         for s in servers), 60, 0.2)
    else:
        wait_for("JetStream", lambda: servers[0].jsz(), 30, 0.1)
    return servers, ",".join(f"nats://127.0.0.1:{s.port}" for s in servers)


class Node:
    """vidx serve or vidx worker, with its own data folder and log; urls None: one
    machine, no cluster."""
    count = 0

    def __init__(self, vidx, kind, db, urls, env, procs, extra=(), start_timeout=60, beside=None):
        self.vidx, self.kind, self.db, self.urls, self.env = vidx, kind, db, urls, env
        self.beside = beside or db  # where its ready file and logs go: beside the data folder, or this prefix
        self.procs, self.extra, self.start_timeout = procs, list(extra), start_timeout
        self.start()

    def start(self):
        Node.count += 1
        self.log = f"{self.beside}-{self.kind}{Node.count}.log"
        cmd = [self.vidx, self.kind, "--db", self.db, *(["--cluster", self.urls] if self.urls else []), *self.extra]
        if self.kind == "serve":
            self.ready = self.beside + "-ready"
            if os.path.exists(self.ready):
                os.unlink(self.ready)
            cmd += ["--listen", "127.0.0.1:0", "--ready-file", self.ready]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        self.procs.append(self.proc)
        if self.kind == "serve":
            wait_for(f"{self.db} to listen", lambda: os.path.exists(self.ready) or self.proc.poll() is not None,
                     self.start_timeout)
            if self.proc.poll() is not None:
                raise SystemExit(f"serve did not start: {open(self.log).read()[-3000:]}")
            self.port = int(open(self.ready).read().strip().rsplit(":", 1)[1])

    def logtext(self):
        return open(self.log).read()

    def get(self, path, **kw):
        return http_req(self.port, "GET", path, **kw)

    def healthz(self):
        try:
            return self.get("/healthz", timeout=5)
        except OSError:
            return 0, None

    def wait_ready(self, timeout=120):
        wait_for(f"{self.db} ready", lambda: self.healthz()[0] == 200, timeout, 0.2)
        return self.healthz()

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
