"""Policy counts (budget refusals, model requests): gathered in memory, written in batches.

Counting must not add a store write to every spend, nor let a refusal flood become a
write flood, so each process writes what it counted at most every FLUSH_SECONDS, at
every scrape it serves, and when it stops (contract sec. 14: at most 1 s late).
"""
from __future__ import annotations

import logging
import threading
from collections import Counter

from ..store import Store, StoreUnavailable

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5


class PolicyCounts:
    def __init__(self, store: Store, interval: float = FLUSH_SECONDS):
        self._store = store
        self._interval = interval
        self._rejections: Counter = Counter()
        self._requests: Counter = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def rejection(self, tenant: str, scope: str) -> None:
        with self._lock:
            self._rejections[(tenant, scope)] += 1
            self._start()

    def request(self, tenant: str, workspace: str, model: str, outcome: str) -> None:
        with self._lock:
            self._requests[(tenant, workspace, model, outcome)] += 1
            self._start()

    def _start(self) -> None:
        # Under the lock. Started on first use: a process that never spends has no thread.
        if self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name="policy-counts-flush")
            self._thread.start()

    def flush(self) -> None:
        with self._lock:
            rejections, self._rejections = self._rejections, Counter()
            requests, self._requests = self._requests, Counter()
        if not rejections and not requests:
            return
        try:
            self._store.budgets.add_counts(rejections, requests)
        except StoreUnavailable as exc:
            log.warning("policy counts not recorded yet: %s", exc)
            self._keep(rejections, requests)
        except Exception:  # an unexpected store error: keep the counts, keep the flusher alive
            log.exception("policy counts not recorded yet")
            self._keep(rejections, requests)

    def _keep(self, rejections: Counter, requests: Counter) -> None:
        with self._lock:  # for the next flush
            self._rejections.update(rejections)
            self._requests.update(requests)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()
