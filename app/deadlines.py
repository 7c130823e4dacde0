"""Run a call with a deadline on a small pool of daemon threads.

A call that overruns is abandoned, not killed: its thread finishes (or hangs) on
its own while the caller moves on. Daemon threads never hold up process exit.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable


class DeadlineExceeded(Exception):
    """The call did not finish in time and was abandoned."""


class DeadlineRunner:
    def __init__(self, threads: int, name: str):
        self._size = threads
        self._name = name
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def run(self, call: Callable[[], Any], timeout: float) -> Any:
        future: Future = Future()
        self._start_threads()
        self._tasks.put((call, future))
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()  # if still queued, it will not run at all
            raise DeadlineExceeded(f"no answer within {timeout:g}s") from None

    def _start_threads(self) -> None:
        if len(self._threads) == self._size:
            return
        with self._lock:
            while len(self._threads) < self._size:
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"{self._name}-{len(self._threads)}")
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        while True:
            call, future = self._tasks.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:  # handed to the waiting caller, who decides
                future.set_exception(exc)
