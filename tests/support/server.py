"""Start a real gunicorn (Tenantgate's own config) on a free 127.0.0.1 port, for tests.

``running_server`` is the one way the tests start one: it yields once every worker has
built its app and, whatever happens in the test, stops the server and every process of
its group at the end.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

import requests

from tests.support.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
# Generous: on a loaded machine a worker may take many seconds to import and build its app.
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 15.0
# Each start-up probe may wait this long for a worker still booting before it is asked again.
PROBE_TIMEOUT = 5.0


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

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        """One request on a connection of its own, so that any worker may answer it.

        ``Connection: close`` also leaves no idle keep-alive socket to wake a worker while
        it shuts down (gthread can deadlock on a signal arriving inside submit()).
        """
        headers = {"Connection": "close", **kwargs.pop("headers", {})}
        return requests.request(method, self.url(path), headers=headers,
                                timeout=kwargs.pop("timeout", REQUEST_TIMEOUT), **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """The master's live children (the workers)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        if not wait_until(self._ready, timeout):
            raise RuntimeError(f"gunicorn did not answer within {timeout}s:\n{self.log()}")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
        try:
            return requests.get(self.url("/healthz"), timeout=PROBE_TIMEOUT).status_code == 200 \
                and self.booted_workers() >= self.workers
        except requests.RequestException:
            return False  # not listening yet, or a worker still booting

    def booted_workers(self) -> int:
        """Workers whose app is built: each evaluates global readiness once at start-up.

        Waiting for all of them matters: a signal sent to a worker still booting (before
        gunicorn installs its handlers) is lost, and that worker never drains or exits.
        """
        text = requests.get(self.url("/metrics"), timeout=PROBE_TIMEOUT).text
        for line in text.splitlines():
            if line.startswith("readiness_check_duration_seconds_count "):
                return int(float(line.split()[1]))
        return 0

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Stop the server (SIGTERM, production's stop: each worker drains, then exits) and
        kill whatever of its process group is left.

        Not SIGINT: it makes gunicorn 27's gthread workers call ThreadPoolExecutor.shutdown
        from the signal handler, which deadlocks when the signal lands while the main
        thread is inside submit().
        """
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                # The whole group: a worker stuck in shutdown must not outlive its master.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self._kill_leftovers()
        return self.process.returncode

    def _kill_leftovers(self) -> None:
        """SIGKILL any worker that outlived its master (they share its process group)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the group is empty: every worker exited with its master


def _environment(tmp_path: Path, port: int, management_port: int, workers: int, threads: int,
                 env: Mapping[str, str] | None) -> dict[str, str]:
    """The server's environment: this machine's, without Tenantgate settings, plus its own
    store, data root and metrics directory under ``tmp_path``, then ``env``."""
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
        # A server registers its DEFAULT_TENANT at start (contract sec. 11); tests start
        # from an empty store unless they name a default tenant themselves.
        "DEFAULT_TENANT": "",
    })
    full_env.update(env or {})
    return full_env


def _launch(tmp_path: Path, env: Mapping[str, str] | None, workers: int, threads: int,
            app_module: str) -> Server:
    port, management_port = free_port(), free_port()
    full_env = _environment(tmp_path, port, management_port, workers, threads, env)
    log_path = tmp_path / f"gunicorn-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", str(ROOT / "config" / "gunicorn.conf.py"), app_module],
            cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    management = full_env["MANAGEMENT_BIND"]
    return Server(process, port, log_path, workers,
                  int(management.rpartition(":")[2]) if management else None)


@contextmanager
def running_server(tmp_path: Path, env: Mapping[str, str] | None = None, workers: int = 2,
                   threads: int = 8, wait: bool = True, start_timeout: float = START_TIMEOUT,
                   app_module: str = "wsgi:app") -> Iterator[Server]:
    """gunicorn with ``workers`` x ``threads`` and ``env`` on top of the test environment,
    its store and data root under ``tmp_path``.

    With ``wait`` it is yielded once /healthz answers and every worker has built its app
    (within ``start_timeout``); without, at once (to watch it fail to start, or to start
    several servers side by side and wait for each). A server the test stopped or killed
    itself is only reaped at the end.
    """
    server = _launch(tmp_path, env, workers, threads, app_module)
    try:
        if wait:
            try:
                server.wait_ready(start_timeout)
            except RuntimeError:
                # A worker still booting would miss SIGTERM (no handler yet): kill them all.
                server.stop(signal.SIGKILL)
                raise
        yield server
    finally:
        server.stop()
