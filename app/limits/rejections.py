"""Refusal counts: gathered in memory, written to the store in small batches.

A flood of refusals must not become a flood of store writes (that would let a
noisy tenant slow everyone's writes), so each worker flushes at most every
FLUSH_SECONDS, at every scrape it serves, and when it stops.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter

from ..store import Store, StoreUnavailable

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5


class RejectionCounter:
    def __init__(self, store: Store, interval: float = FLUSH_SECONDS):
        self._store = store
        self._interval = interval
        self._pending: Counter = Counter()
        self._lock = threading.Lock()
        # One flush at a time: a scrape's flush waits for the flusher's write in progress,
        # so the counts taken from memory are in the store before the scrape reads it.
        self._flushing = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, tenant: str, limit: str, scope: str) -> None:
        with self._lock:
            self._pending[(tenant, limit, scope)] += 1
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="limit-rejections-flush")
                self._thread.start()

    def flush(self) -> None:
        with self._flushing:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, Counter()
        if not pending:
            return
        try:
            self._store.limits.add_rejections(pending)
        except StoreUnavailable as exc:
            log.warning("limit refusals not recorded yet: %s", exc)
            with self._lock:
                self._pending.update(pending)  # keep them for the next flush
        except Exception:  # an unexpected store error: keep the counts, keep the flusher alive
            log.exception("limit refusals not recorded yet")
            with self._lock:
                self._pending.update(pending)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self.flush()
