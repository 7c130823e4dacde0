"""A caller's deadline on this thread's store calls.

A tenant's readiness is resolved on the request thread itself, so a store that does not
answer (a write lock held by another process or host, a statement that runs on) must not
hold that thread past the probe's deadline. Inside ``bounded(deadline)`` every wait the
store can make gives up at ``deadline`` (``time.monotonic()``) with StoreUnavailable:
each backend reads ``wait_ms`` where it waits (SQLite's busy timeout before a write
lock, PostgreSQL's statement and lock timeouts, the pool's checkout), and SQLite's
progress handler stops a statement still running at the deadline.
"""
from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from typing import Iterator

# SQLite calls the progress handler every this many virtual machine steps: a primary-key
# read takes fewer, so the fast path never pays for the call.
PROGRESS_STEPS = 1000


class Deadlines:
    """This thread's deadline, if any; nested bounds keep the earliest."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextmanager
    def bounded(self, deadline: float) -> Iterator[None]:
        outer = getattr(self._local, "deadline", None)
        self._local.deadline = deadline if outer is None else min(outer, deadline)
        try:
            yield
        finally:
            self._local.deadline = outer

    @property
    def active(self) -> bool:
        return getattr(self._local, "deadline", None) is not None

    def wait_ms(self, usual_ms: int) -> int | None:
        """How long the next wait may take, in whole milliseconds (at most ``usual_ms``);
        None when this thread has no deadline. Rounded up, so a wait that gives up ends
        at or after the deadline: the caller can tell a timeout by the clock."""
        deadline = getattr(self._local, "deadline", None)
        if deadline is None:
            return None
        left = math.ceil((deadline - time.monotonic()) * 1000)
        return max(0, min(usual_ms, left))

    def passed(self) -> int:
        """SQLite progress handler: non-zero (interrupt the statement) past the deadline."""
        deadline = getattr(self._local, "deadline", None)
        return int(deadline is not None and time.monotonic() >= deadline)
