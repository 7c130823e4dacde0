"""Refusal counts: a flush never returns before the counts it could not take are stored."""
from __future__ import annotations

import threading

from app.limits.rejections import RejectionCounter


class _SlowLimits:
    """A store whose first write of refusal counts waits until it is let go."""

    def __init__(self):
        self.entered = threading.Event()
        self.go_on = threading.Event()
        self.stored: list[dict] = []

    def add_rejections(self, pending) -> None:
        if not self.stored and not self.entered.is_set():
            self.entered.set()
            assert self.go_on.wait(30)
        self.stored.append(dict(pending))


class _Store:
    def __init__(self):
        self.limits = _SlowLimits()


def test_a_flush_during_another_flush_returns_once_the_counts_are_stored():
    store = _Store()
    counter = RejectionCounter(store, interval=3600)  # its own flusher stays asleep
    counter._stop.set()  # no background thread: the two flushes below are the test's
    counter.add("acme", "llm_student", "tenant")
    first = threading.Thread(target=counter.flush)
    first.start()
    assert store.limits.entered.wait(30)  # the first flush holds the counts, unstored

    seen_after_second: list[list[dict]] = []
    second = threading.Thread(target=lambda: (counter.flush(),
                                              seen_after_second.append(list(store.limits.stored))))
    second.start()
    second.join(0.5)  # a bound for the wait, not a timing assertion
    store.limits.go_on.set()
    first.join(30)
    second.join(30)
    assert seen_after_second == [[{("acme", "llm_student", "tenant"): 1}]]
