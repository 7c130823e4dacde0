"""Run a call with a deadline on daemon threads that are reused, and added when all are busy.

A call that overruns is abandoned, not killed: it keeps its thread until it returns,
and the next call is given another one. So calls that hang can only hold the threads
they run on; they never make another caller wait for a thread (contract sec. 17).
Callers that serve several tenants bound how many calls one tenant may have in flight
(tenant readiness: one resolution per tenant), which bounds the threads at the
number of tenants that hang. ``max_threads`` is the last bound, for callers that hang
all at once (a store that stops answering): past it, a call is refused at once.
Threads idle for ``idle_seconds`` exit, down to ``keep_threads``.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable


class DeadlineExceeded(Exception):
    """The call did not finish in time (or no thread could take it) and was abandoned."""


class DeadlineRunner:
    def __init__(self, name: str, max_threads: int, keep_threads: int = 2,
                 idle_seconds: float = 60.0):
        self._name = name
        self._max = max_threads
        self._keep = keep_threads
        self._idle_seconds = idle_seconds
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0  # threads waiting for a task, not yet promised to a caller
        self._started = 0

    def run(self, call: Callable[[], Any], timeout: float) -> Any:
        future: Future = Future()
        self._reserve_thread()
        self._tasks.put((call, future))
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()  # if still queued, it will not run at all
            raise DeadlineExceeded(f"no answer within {timeout:g}s") from None

    @property
    def threads(self) -> int:
        return self._threads

    def close(self) -> None:
        """Let every idle thread exit; one still running a call exits when it returns."""
        with self._lock:
            self._max = 0  # nothing new starts
            count = self._threads
        for _ in range(count):
            self._tasks.put(None)

    def _reserve_thread(self) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1
                return
            if self._threads >= self._max:
                raise DeadlineExceeded(f"all {self._max} {self._name} threads are busy")
            self._threads += 1
            self._started += 1
            index = self._started
        threading.Thread(target=self._work, daemon=True, name=f"{self._name}-{index}").start()

    def _work(self) -> None:
        while True:
            try:
                task = self._tasks.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._idle and self._threads > self._keep:
                        self._idle -= 1
                        self._threads -= 1
                        return
                continue
            if task is None:  # closed
                with self._lock:
                    self._threads -= 1
                return
            call, future = task
            if not future.set_running_or_notify_cancel():
                self._back_to_idle()
                continue
            try:
                result = call()
            except BaseException as exc:  # handed to the waiting caller, who decides
                self._back_to_idle()
                future.set_exception(exc)
            else:
                self._back_to_idle()
                future.set_result(result)

    def _back_to_idle(self) -> None:
        # Before the caller hears the answer: its next call then finds this thread idle
        # instead of starting another.
        with self._lock:
            self._idle += 1


class InlineRunner:
    """DeadlineRunner's interface, running the call on the caller's own thread: for calls
    that bound their own waits (a store call under ``Store.db.bounded``), where handing
    the call to another thread would only add the hop."""

    threads = 0

    def run(self, call: Callable[[], Any], timeout: float) -> Any:
        return call()

    def close(self) -> None:
        """Nothing to stop: no thread of its own."""
