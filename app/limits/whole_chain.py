"""A whole permit chain taken in one attempt, on a backend that can (LIMIT_BACKEND=postgres).

Every step (tenant total, tenant role, global total, global role) is taken together,
all or nothing, and retried together with the pair's back-off (pair.py) until
LIMIT_WAIT_SECONDS have passed: while it waits, nothing of the chain is held. A refusal
names the step that was full at the last attempt.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator, Protocol

from .pair import LimitRefused, Releasable, Step


class Chain(Protocol):
    def try_acquire(self) -> "tuple[Releasable | None, Step | None]":
        """Every step's permit as one (and None), or None and the first step that was full."""


@contextmanager
def hold_whole(chain: Chain, wait_seconds: float = 0.0,
               clock: Callable[[], float] = time.monotonic,
               pause: Callable[[float], None] = time.sleep) -> Iterator[None]:
    """Hold every step of ``chain`` for the duration of the block, or raise LimitRefused."""
    permit = _acquire(chain, clock() + wait_seconds, clock, pause)
    try:
        yield
    finally:
        permit.release()


def _acquire(chain: Chain, deadline: float, clock, pause) -> Releasable:
    delay = 0.002
    while True:
        permit, full = chain.try_acquire()
        if permit is not None:
            return permit
        remaining = deadline - clock()
        if remaining <= 0:
            raise LimitRefused(full.scope, full.limit)
        pause(min(delay, remaining))
        delay = min(delay * 2, 0.05)
