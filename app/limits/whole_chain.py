"""A whole permit chain taken in one attempt, on a backend that can (LIMIT_BACKEND=postgres).

Every step (tenant total, tenant role, global total, global role) is taken together,
all or nothing, and retried together with the pair's back-off (pair.py) until
LIMIT_WAIT_SECONDS have passed: while it waits, nothing of the chain is held. A refusal
names the step that was full at the last attempt.
"""
from __future__ import annotations

import time
from typing import Callable, Protocol

from .pair import LimitRefused, Releasable, Step, wait_for


class Chain(Protocol):
    def try_acquire(self) -> "tuple[Releasable | None, Step | None]":
        """Every step's permit as one (and None), or None and the first step that was full."""


class hold_whole:
    """Hold every step of ``chain`` for the duration of the block, or raise LimitRefused.

    A class with ``__enter__``/``__exit__``, as the pair's ``hold``: cheaper than a
    generator-based context manager on every limited request.
    """

    __slots__ = ("_chain", "_wait", "_clock", "_pause", "_permit")

    def __init__(self, chain: Chain, wait_seconds: float = 0.0,
                 clock: Callable[[], float] = time.monotonic,
                 pause: Callable[[float], None] = time.sleep):
        self._chain, self._wait, self._clock, self._pause = chain, wait_seconds, clock, pause
        self._permit: Releasable | None = None

    def __enter__(self) -> None:
        permit, full = self._chain.try_acquire()
        if permit is None:  # a step was full: retry the whole chain until the deadline
            try:
                permit = wait_for(self._chain.try_acquire, full, self._clock() + self._wait,
                                  self._clock, self._pause)
            except LimitRefused as refused:
                self.refused(refused)
                raise
        self._permit = permit

    def __exit__(self, *exc_info) -> None:
        permit, self._permit = self._permit, None
        if permit is not None:
            permit.release()

    def refused(self, refused: LimitRefused) -> None:
        """Called with the refusal before it leaves ``__enter__`` (counting it, say)."""
