"""Single flight: at most one call per key in flight; askers who arrive meanwhile share it.

A probe of a tenant's readiness that arrives while that tenant is being resolved waits for
that resolution instead of starting another, so a tenant that hangs holds one thread
only, however often it is probed. A call is run on a DeadlineRunner thread under the
asker's deadline; one abandoned at its deadline before it even started is never run.
Once a call is slow, at most ``max_askers`` asks wait for it: a probe storm on one stuck
tenant holds that tenant's share of the request threads, not all of them.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Generic, TypeVar

from ..deadlines import DeadlineExceeded, DeadlineRunner

T = TypeVar("T")

WAITING, RUNNING, ABANDONED = "waiting", "running", "abandoned"
# A call in flight for this share of the timeout is slow: the cap on its askers applies.
STUCK_SHARE = 0.25


class _Call(Generic[T]):
    def __init__(self) -> None:
        self.began = time.monotonic()
        self.done = threading.Event()
        self.state = WAITING  # -> RUNNING (a thread took it) or ABANDONED (never ran)
        self.result: T | None = None
        self.completed = False  # the result comes from a call that returned
        self.askers = 0  # asks waiting for this call, its leader's included


class SingleFlight(Generic[T]):
    def __init__(self, runner: DeadlineRunner, timeout: float,
                 failed: Callable[[str], T], timed_out: Callable[[str], T],
                 on_end: Callable[[str, T], None], max_askers: int | None = None,
                 slow_after: float | None = None):
        """``failed(key)``: the result of a call that raised; ``timed_out(key)``: of one
        abandoned at its deadline; ``on_end(key, result)``: told of every call's end.
        ``max_askers``: how many asks may wait for one key's call once it is slow (in
        flight for ``slow_after`` seconds, by default STUCK_SHARE of the timeout); one
        more is answered None at once."""
        self._runner = runner
        self._timeout = timeout
        self._max_askers = max_askers
        self._slow_after = timeout * STUCK_SHARE if slow_after is None else slow_after
        self._failed = failed
        self._timed_out = timed_out
        self._on_end = on_end
        self._calls: dict[str, _Call[T]] = {}  # in flight, at most one per key
        self._lock = threading.Lock()

    def ask(self, key: str, work: Callable[[], tuple[T, bool]]) -> tuple[T, bool] | None:
        """(result, completed) of a call of ``work`` that began no earlier than this ask,
        or None when none ended within the timeout."""
        arrived = time.monotonic()
        deadline = arrived + self._timeout
        while time.monotonic() < deadline:
            with self._lock:
                call = self._calls.get(key)
                lead = call is None
                if lead:
                    call = self._calls[key] = _Call()
                elif self._crowded(call):
                    break
                call.askers += 1
            try:
                if lead:
                    self._lead(key, call, work, deadline)
                elif call.began < arrived:
                    # It may have read state older than this ask: wait for it to end, then
                    # lead (or join) a fresh one. Still running past its deadline: stuck.
                    if time.monotonic() - call.began > self._timeout:
                        break
                    if call.done.wait(max(0.0, deadline - time.monotonic())):
                        continue
                    break
                if not call.done.wait(max(0.0, deadline - time.monotonic())):
                    break
                return call.result, call.completed
            finally:
                with self._lock:
                    call.askers -= 1
        return None

    def _crowded(self, call: _Call[T]) -> bool:
        # A call this slow is waiting on something (a fast one takes well under 1 ms):
        # asks of its key past the cap would only hold more of the caller's threads
        # for the same answer.
        return self._max_askers is not None and call.askers >= self._max_askers \
            and time.monotonic() - call.began >= self._slow_after

    def _lead(self, key: str, call: _Call[T], work: Callable[[], tuple[T, bool]],
              deadline: float) -> None:
        try:
            self._runner.run(lambda: self._run(key, call, work),
                             max(0.0, deadline - time.monotonic()))
        except DeadlineExceeded:
            with self._lock:
                if call.state != WAITING:
                    return  # it runs on and ends the call itself
                call.state = ABANDONED
            self._end(key, call, self._timed_out(key), False)

    def _run(self, key: str, call: _Call[T], work: Callable[[], tuple[T, bool]]) -> None:
        with self._lock:
            if call.state == ABANDONED:
                return
            call.state = RUNNING
        result, completed = self._failed(key), False
        try:
            result, completed = work()
        finally:
            self._end(key, call, result, completed)

    def _end(self, key: str, call: _Call[T], result: T, completed: bool) -> None:
        with self._lock:
            call.result, call.completed = result, completed
            if self._calls.get(key) is call:
                del self._calls[key]
        call.done.set()
        self._on_end(key, result)
