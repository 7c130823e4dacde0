"""The semaphore pair: tenant permits, then global ones, in a fixed order.

Order: tenant total -> tenant role -> global total -> global role; release in
reverse, also when the guarded code raises. A permit that is not free is
retried with non-blocking attempts until LIMIT_WAIT_SECONDS have passed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol


class Semaphore(Protocol):
    def try_acquire(self) -> "Releasable | None": ...


class Releasable(Protocol):
    def release(self) -> None: ...


@dataclass(frozen=True)
class Step:
    scope: str  # "tenant" or "global"
    limit: str
    semaphore: Semaphore


class LimitRefused(Exception):
    """No permit of ``limit`` in ``scope`` ("tenant" or "global") was free in time."""

    def __init__(self, scope: str, limit: str):
        super().__init__(f"{scope} limit {limit} is full")
        self.scope = scope
        self.limit = limit


class UnknownLimit(LookupError):
    """Neither the tenant nor the server has a limit of this name."""

    def __init__(self, name: str):
        super().__init__(f"no limit named {name!r}")
        self.name = name


class hold:
    """Hold every step's permit for the duration of the block, or raise LimitRefused.

    A class, not a generator: it is entered on every limited request, and a plain
    ``__enter__``/``__exit__`` pair costs a fraction of a generator-based context manager.
    """

    __slots__ = ("_steps", "_wait", "_clock", "_pause", "_held")

    def __init__(self, steps: list[Step], wait_seconds: float = 0.0,
                 clock: Callable[[], float] = time.monotonic,
                 pause: Callable[[float], None] = time.sleep):
        self._steps, self._wait, self._clock, self._pause = steps, wait_seconds, clock, pause
        self._held: list[Releasable] = []

    def __enter__(self) -> None:
        held = self._held
        deadline = None
        try:
            for step in self._steps:
                permit = step.semaphore.try_acquire()
                if permit is None:  # full now: wait for it, within the one shared deadline
                    if deadline is None:
                        deadline = self._clock() + self._wait
                    permit = wait_for(lambda: (step.semaphore.try_acquire(), step), step,
                                      deadline, self._clock, self._pause)
                held.append(permit)
        except LimitRefused as refused:
            self._release()
            self.refused(refused)
            raise
        except BaseException:
            self._release()
            raise

    def __exit__(self, *exc_info) -> None:
        self._release()

    def _release(self) -> None:
        held = self._held
        while held:
            held.pop().release()

    def refused(self, refused: LimitRefused) -> None:
        """Called with the refusal before it leaves ``__enter__`` (counting it, say)."""


def wait_for(attempt: Callable[[], "tuple[Releasable | None, Step]"], full: Step,
             deadline: float, clock, pause) -> Releasable:
    """Call ``attempt`` (a permit or None, and the step that was full) again and again
    with a short back-off until it gives a permit, or raise LimitRefused for the step
    last full when ``deadline`` has passed."""
    delay = 0.002
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            raise LimitRefused(full.scope, full.limit)
        pause(min(delay, remaining))
        delay = min(delay * 2, 0.05)
        permit, full = attempt()
        if permit is not None:
            return permit
