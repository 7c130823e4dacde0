"""Graceful drain: after SIGTERM the server keeps serving but reports itself not ready."""
from __future__ import annotations

import threading

from .checks import CheckFailed


class Drain:
    """A per-process flag, set once when shutdown begins; read by the ``shutdown`` check."""

    def __init__(self) -> None:
        self._started = threading.Event()

    def start(self) -> None:
        self._started.set()

    @property
    def draining(self) -> bool:
        return self._started.is_set()

    def check(self) -> None:
        if self.draining:
            raise CheckFailed("server is draining after SIGTERM")
