"""The semaphore pair: tenant permits, then global ones, in a fixed order.

Order: tenant total -> tenant role -> global total -> global role; release in
reverse, also when the guarded code raises. A permit that is not free is
retried with non-blocking attempts until LIMIT_WAIT_SECONDS have passed.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol


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


@contextmanager
def hold(steps: list[Step], wait_seconds: float = 0.0,
         clock: Callable[[], float] = time.monotonic,
         pause: Callable[[float], None] = time.sleep) -> Iterator[None]:
    """Hold every step's permit for the duration of the block, or raise LimitRefused."""
    held: list[Releasable] = []
    deadline = clock() + wait_seconds
    try:
        for step in steps:
            held.append(_acquire(step, deadline, clock, pause))
        yield
    finally:
        for permit in reversed(held):
            permit.release()


def _acquire(step: Step, deadline: float, clock, pause) -> Releasable:
    delay = 0.002
    while True:
        permit = step.semaphore.try_acquire()
        if permit is not None:
            return permit
        remaining = deadline - clock()
        if remaining <= 0:
            raise LimitRefused(step.scope, step.limit)
        pause(min(delay, remaining))
        delay = min(delay * 2, 0.05)
