"""gunicorn servers for the benchmarks: Tenantgate, the bare app or a peer, on free 127.0.0.1
ports."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping, Sequence

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GUNICORN = BIN / "gunicorn"
TENANTGATE_CONF = ROOT / "config" / "gunicorn.conf.py"
BARE_CONF = ROOT / "bench" / "bare_gunicorn.conf.py"
PEER_CONF = ROOT / "bench" / "peer_gunicorn.conf.py"
ADMIN_KEY = "bench-admin-key"
API_KEY = "bench-api-key"
WORKERS, THREADS = 2, 4
START_TIMEOUT = 60.0
QUIT_GRACE = 5.0  # seconds a quick shutdown (SIGINT) takes at most when nothing is stuck


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port: int, method: str, path: str, body: dict | None = None,
            headers: Mapping[str, str] | None = None, timeout: float = 30.0) -> tuple[int, bytes]:
    """One request on a fresh connection to 127.0.0.1:port; (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        all_headers = dict(headers or {})
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=all_headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Server:
    """A running gunicorn master (its own session) and where its log goes."""

    def __init__(self, name: str, process: subprocess.Popen, port: int, log_path: Path,
                 spawned_at: float, env: Mapping[str, str]):
        self.name = name
        self.process = process
        self.port = port
        self.log_path = log_path
        self.spawned_at = spawned_at
        self.env = dict(env)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, **kwargs) -> tuple[int, bytes]:
        return request(self.port, method, path, **kwargs)

    def worker_pids(self) -> list[int]:
        """The master's live children: the workers."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(p) for p in children.read_text().split()]
        except OSError:
            return []

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def boots(self) -> int:
        """Workers booted so far (from gunicorn's own log lines)."""
        return self.log().count("Booting worker with pid")

    def wait_ready(self, path: str = "/readyz", timeout: float = START_TIMEOUT,
                   poll: float = 0.005) -> float:
        """Seconds from spawn to the first 200 on ``path``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                                   f"{self.log()[-3000:]}")
            try:
                if request(self.port, "GET", path, timeout=2)[0] == 200:
                    return time.perf_counter() - self.spawned_at
            except OSError:
                pass
            time.sleep(poll)
        raise RuntimeError(f"{self.name} not ready within {timeout}s:\n{self.log()[-3000:]}")

    def wait_workers(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.worker_pids()) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self, timeout: float = 30.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(QUIT_GRACE)
            return
        except subprocess.TimeoutExpired:
            pass
        # A gthread worker whose quit signal lands while it hands a connection to its
        # thread pool deadlocks in its own handler (the pool's lock is held by the code
        # it interrupted); the master would wait graceful_timeout (60 s) for it.
        for pid in self.worker_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it exited meanwhile
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the session this bench started
            self.process.wait(5)


class ServerPool:
    """Every server started through it is stopped when the block ends, however it ends."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.servers: list[Server] = []

    def __enter__(self) -> "ServerPool":
        return self

    def __exit__(self, *exc) -> None:
        for server in reversed(self.servers):
            server.stop()

    def start(self, name: str, conf: Path, app: str, env: Mapping[str, str],
              extra_args: Sequence[str] = (), wait: bool = True,
              ready_path: str = "/readyz") -> Server:
        port = free_port()
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("TENANT", "GLOBAL_LIMIT_", "PROMETHEUS_MULTIPROC_DIR",
                                         "LIMIT_", "MAX_TENANT_LABELS", "CHAOS_ENABLED",
                                         "MANAGEMENT_", "PEER_"))}
        full_env.update({"BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(WORKERS),
                         "GUNICORN_THREADS": str(THREADS)})
        full_env.update(env)
        log_path = self.workdir / f"{name}-{port}.log"
        with open(log_path, "wb") as log:
            spawned_at = time.perf_counter()
            process = subprocess.Popen(
                [str(GUNICORN), "-c", str(conf), *extra_args, app], cwd=ROOT, env=full_env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        server = Server(name, process, port, log_path, spawned_at, full_env)
        self.servers.append(server)
        if wait:
            server.wait_ready(ready_path)
            server.wait_workers(int(full_env["WEB_CONCURRENCY"]))
        return server

    def stop(self, server: Server) -> None:
        server.stop()
        self.servers.remove(server)

    def tenantgate(self, name: str, env: Mapping[str, str] | None = None,
                   extra_args: Sequence[str] = (), conf: Path = TENANTGATE_CONF,
                   store_dir: Path | None = None, wait: bool = True) -> Server:
        base = self.workdir / name
        store_dir = store_dir or base
        settings = {
            "TENANT_DB_PATH": str(store_dir / "store" / "tenants.sqlite3"),
            "TENANT_DATA_ROOT": str(store_dir / "tenants"),
            "TENANT_ADMIN_KEY": ADMIN_KEY,
            "TENANT_API_KEY": API_KEY,
            "PROMETHEUS_MULTIPROC_DIR": str(base / "metrics"),
            "LIMIT_STATE_DIR": str(base / "limits"),
            "SHUTDOWN_DRAIN_SECONDS": "0",
            # 100 bench tenants and the default tenant (a measure may ask for more).
            "MAX_TENANT_LABELS": "101",
            # Its own free port: the default (9180) would clash between the servers of a
            # run, and with any other Tenantgate on this machine.
            "MANAGEMENT_BIND": f"127.0.0.1:{free_port()}",
        }
        settings.update(env or {})
        return self.start(name, conf, "wsgi:app", settings, extra_args, wait)

    def bare(self, name: str = "bare") -> Server:
        return self.start(name, BARE_CONF, "bench.bare_app:app", {}, ready_path="/health")

    def peer(self, name: str, app: str, ready_path: str,
             env: Mapping[str, str] | None = None) -> Server:
        """A peer app (bench/*_app.py) with the bare app's settings plus its metrics."""
        settings = {"PROMETHEUS_MULTIPROC_DIR": str(self.workdir / name / "metrics")}
        settings.update(env or {})
        return self.start(name, PEER_CONF, app, settings, ready_path=ready_path)


def tenant_ids(count: int, prefix: str = "bench-") -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


def create_tenants(server: Server, tenants: Sequence[str], config: dict | None = None) -> None:
    """PUT /admin/tenants/<t> (``config`` as the body) for each; any answer but 200/201 stops
    the benchmark."""
    for tenant in tenants:
        status, body = server.request("PUT", f"/admin/tenants/{tenant}", body=config or {},
                                      headers={"X-Admin-Key": ADMIN_KEY})
        if status not in (200, 201):
            raise RuntimeError(f"PUT /admin/tenants/{tenant}: {status} {body[:200]!r}")


def rss_kib(pid: int) -> int:
    """VmRSS of a process, in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
