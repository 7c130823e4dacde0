"""Test doubles for the registry tests: runtimes, factories and validators to steer."""
from __future__ import annotations

import threading

WAIT = 10.0  # bound for every wait on an event or a future; never reached when all is well


class Runtime:
    def __init__(self):
        self.stopped = threading.Event()

    def stop(self):
        self.stopped.set()


class Factory:
    """Counts its calls; fails while ``fail`` is set; blocks on ``gate`` when one is given."""

    def __init__(self, fail: bool = False, gate: threading.Event | None = None):
        self.fail = fail
        self.gate = gate
        self.calls = 0
        self.built: list[Runtime] = []
        self.entered = threading.Event()
        self._lock = threading.Lock()

    def __call__(self) -> Runtime:
        with self._lock:
            self.calls += 1
        self.entered.set()
        if self.gate is not None and not self.gate.wait(WAIT):
            raise AssertionError("the test never released the factory")
        if self.fail:
            raise OSError("disk on fire")
        runtime = Runtime()
        self.built.append(runtime)
        return runtime


class Validator:
    """Passes, or raises / returns whatever ``result`` is set to."""

    def __init__(self):
        self.result = None

    def __call__(self, runtime):
        if isinstance(self.result, Exception):
            raise self.result
        return self.result
