"""Bounded polling: wait for a condition without timing anything, on a machine of any speed.

A test asserts on what the probe last returned, so a bound that runs out fails the
test with the value it saw, never a sleep standing in for a wait.
"""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")

POLL_SECONDS = 10.0
PAUSE_SECONDS = 0.02


def poll(probe: Callable[[], T], done: Callable[[T], bool],
         seconds: float = POLL_SECONDS) -> T:
    """Call ``probe`` until ``done(result)`` or ``seconds`` pass; returns the last result."""
    deadline = time.monotonic() + seconds
    result = probe()
    while not done(result) and time.monotonic() < deadline:
        time.sleep(PAUSE_SECONDS)  # pause inside a loop bounded by its deadline
        result = probe()
    return result


def wait_until(predicate: Callable[[], object], seconds: float = POLL_SECONDS) -> bool:
    """Whether ``predicate`` held within ``seconds`` (asked once more at the bound)."""
    return bool(poll(predicate, bool, seconds))
