"""Start a real gunicorn (Tenantgate's own config) on a free 127.0.0.1 port, for tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

import requests

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, process: subprocess.Popen, port: int, log_path: Path, workers: int = 1,
                 management_port: int | None = None):
        self.process = process
        self.workers = workers
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.management_port = management_port
        self.log_path = log_path
        self.session = requests.Session()

    def url(self, path: str) -> str:
        return self.base + path

    def management_url(self, path: str) -> str:
        """The same path on the management listener (probes and /metrics)."""
        assert self.management_port is not None, "this server has no management listener"
        return f"http://127.0.0.1:{self.management_port}{path}"

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url(path), timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.url(path), timeout=10, **kwargs)

    def put(self, path: str, **kwargs) -> requests.Response:
        return requests.put(self.url(path), timeout=10, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return requests.delete(self.url(path), timeout=10, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """The master's live children (the workers)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url("/healthz"), timeout=1).status_code == 200 \
                        and self.booted_workers() >= self.workers:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or a worker still booting
            time.sleep(0.05)  # pause inside a loop bounded by its deadline
        raise RuntimeError(f"gunicorn did not answer within {timeout}s:\n{self.log()}")

    def booted_workers(self) -> int:
        """Workers whose app is built: each evaluates global readiness once at start-up.

        Waiting for all of them matters: a signal sent to a worker still booting (before
        gunicorn installs its handlers) is lost, and that worker never drains or exits.
        """
        text = requests.get(self.url("/metrics"), timeout=2).text
        for line in text.splitlines():
            if line.startswith("readiness_check_duration_seconds_count "):
                return int(float(line.split()[1]))
        return 0

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                # The whole group: a worker stuck in shutdown must not outlive its master.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        return self.process.returncode


def start_server(tmp_path: Path, env: Mapping[str, str] | None = None, workers: int = 2,
                 threads: int = 8, wait: bool = True, app_module: str = "wsgi:app") -> Server:
    port, management_port = free_port(), free_port()
    full_env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("TENANT", "GLOBAL_LIMIT_", "PROMETHEUS_MULTIPROC_DIR"))
    }
    full_env.update({
        "BIND": f"127.0.0.1:{port}",
        # A port of its own for every server: tests run side by side on one machine.
        "MANAGEMENT_BIND": f"127.0.0.1:{management_port}",
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_THREADS": str(threads),
        "TENANT_DB_PATH": str(tmp_path / "store" / "tenants.sqlite3"),
        "TENANT_DATA_ROOT": str(tmp_path / "tenants"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"metrics-{port}"),
        "SHUTDOWN_DRAIN_SECONDS": "0",
        # The product keeps 256 MiB free; a test machine's disk may have less to spare.
        "STORAGE_RESERVE_BYTES": str(1 << 20),
    })
    full_env.update(env or {})
    log_path = tmp_path / f"gunicorn-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", str(ROOT / "config" / "gunicorn.conf.py"), app_module],
            cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    management = full_env["MANAGEMENT_BIND"]
    server = Server(process, port, log_path, workers,
                    int(management.rpartition(":")[2]) if management else None)
    if wait:
        try:
            server.wait_ready()
        except RuntimeError:
            server.stop(signal.SIGKILL)
            raise
    return server


@contextmanager
def running_server(tmp_path: Path, **kwargs) -> Iterator[Server]:
    server = start_server(tmp_path, **kwargs)
    try:
        yield server
    finally:
        server.stop()
