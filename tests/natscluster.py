"""A JetStream cluster of nats-server processes on 127.0.0.1, for tests and benchmarks
(test_cluster.py, bench/bench_cluster.py). Every process is appended to `procs` so the
caller can kill what is left at exit."""
import http.client
import json
import os
import signal
import socket
import subprocess
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(what, cond, timeout=60, every=0.1):
    """Polls cond until it returns something true (returned), at most timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(every)
    raise SystemExit(f"timed out waiting for {what}")


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

    def jsz(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.mport, timeout=2)
            c.request("GET", "/jsz")
            return json.loads(c.getresponse().read())
        except (OSError, ValueError):
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
