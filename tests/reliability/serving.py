"""A real gunicorn for the security and reliability tests, stopped with SIGTERM.

SIGTERM is production's stop: each worker drains (SHUTDOWN_DRAIN_SECONDS, 0 in tests),
then exits gracefully. The SIGINT that ``running_server`` sends makes gunicorn 27's gthread
workers call ``ThreadPoolExecutor.shutdown`` from the signal handler, which deadlocks when
the signal lands while the main thread is inside ``submit``; ``Server.stop`` then kills
the master alone after 30 s and the worker is left behind as an orphan.
"""
from __future__ import annotations

import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tests.support.server import Server, start_server


@contextmanager
def serving(tmp_path: Path, **kwargs) -> Iterator[Server]:
    server = start_server(tmp_path, **kwargs)
    try:
        yield server
    finally:
        server.stop(signal.SIGTERM)
