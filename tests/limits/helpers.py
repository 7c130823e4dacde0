"""A real gunicorn for the limits tests, started tolerantly on a busy host."""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import requests

from tests.support.server import START_TIMEOUT, Server, start_server


def wait_until_up(server: Server, timeout: float = START_TIMEOUT * 2) -> None:
    """Like Server.wait_ready, but a worker still booting (a read timeout) is retried too."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.process.returncode}:\n"
                               f"{server.log()}")
        try:
            if requests.get(server.url("/healthz"), timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)  # pause inside a loop bounded by its deadline
    raise RuntimeError(f"gunicorn did not answer within {timeout}s:\n{server.log()}")


@contextmanager
def serve(tmp_path: Path, **kwargs) -> Iterator[Server]:
    server = start_server(tmp_path, wait=False, **kwargs)
    try:
        wait_until_up(server)
        yield server
    finally:
        server.stop()
