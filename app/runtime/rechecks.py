"""Fleet-wide rechecks (contract sec. 12): every loaded tenant's validators, once per interval.

Each worker runs one scheduling thread. Every poll it asks the store which of the
tenants it holds are due, and rechecks only those it claims (app/store/rechecks.py):
one claimant per tenant per interval across every worker and host. The recheck itself
runs on a thread of its own per tenant (at most one per tenant at a time), so a hung
validator holds neither a request thread nor another tenant's recheck; the validator
deadline (app/runtime/validation.py) bounds how long it is waited for. A failing tenant
is rechecked with backoff, up to RECHECK_MAX_SECONDS.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Callable

from ..settings import Settings
from ..store import Store, StoreUnavailable
from .health import Outcome
from .registry import TenantNotFound

if TYPE_CHECKING:
    from prometheus_client import Counter

    from .runtimes import TenantRuntimes

log = logging.getLogger(__name__)

RESULTS = ("ok", "transient", "permanent", "timeout")
MAX_POLL_SECONDS = 5.0
MIN_POLL_SECONDS = 0.05
STOP_WAIT_SECONDS = 2.0


def result_of(outcome: Outcome) -> str:
    if outcome.ok:
        return "ok"
    return "timeout" if outcome.timed_out else outcome.kind or "transient"


class Rechecker:
    def __init__(self, runtimes: "TenantRuntimes", store: Store, settings: Settings,
                 counter: "Counter", clock: Callable[[], float] = time.time):
        self._runtimes = runtimes
        self._store = store
        self.interval = settings.recheck_seconds
        self._max_interval = max(settings.recheck_max_seconds, self.interval)
        self._counter = counter
        self._clock = clock
        self._in_flight: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for result in RESULTS:
            counter.labels(result=result)  # every series exists from the start, at zero

    @property
    def poll_seconds(self) -> float:
        # A fifth of the interval: a due tenant is claimed soon after it is due.
        return min(max(self.interval / 5, MIN_POLL_SECONDS), MAX_POLL_SECONDS)

    def run_once(self) -> list[threading.Thread]:
        """Claim this worker's due tenants and start their rechecks; returns the threads."""
        if not self.interval:
            return []
        with self._lock:
            loaded = [t for t in self._runtimes.registry.tenant_ids()
                      if t not in self._in_flight]
        now = self._clock()
        started = []
        for tenant in self._store.rechecks.due(loaded, now):
            if self._store.rechecks.claim(tenant, now, self.interval):
                started.append(self._start(tenant))
        return started

    def start(self) -> None:
        if not self.interval or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, daemon=True, name="tenant-rechecks")
        self._thread.start()

    def stop(self, wait: float = STOP_WAIT_SECONDS) -> None:
        """Stop scheduling, and give rechecks under way ``wait`` seconds to finish before
        the store closes; a hung validator's is left to its deadline (a daemon thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        deadline = time.monotonic() + wait
        with self._lock:
            running = list(self._in_flight.values())
        for thread in running:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.run_once()
            except StoreUnavailable as exc:  # the next poll asks again
                log.warning("tenant rechecks skipped a poll: %s", exc)

    def _start(self, tenant: str) -> threading.Thread:
        thread = threading.Thread(target=self._recheck, args=(tenant,), daemon=True,
                                  name=f"tenant-{tenant}-recheck")
        with self._lock:
            self._in_flight[tenant] = thread
        thread.start()
        return thread

    def _recheck(self, tenant: str) -> None:
        try:
            outcome = self._runtimes.recheck_loaded(tenant)
            if outcome is None:
                return  # unloaded meanwhile: whoever uses it next validates it
            self._counter.labels(result=result_of(outcome)).inc()
            delay = self._store.rechecks.record(tenant, outcome.ok, self._clock(),
                                                self.interval, self._max_interval)
            if delay is not None:
                log.info("tenant %s: recheck failed (%s); next in %.0fs", tenant,
                         outcome.reason, delay)
        except TenantNotFound:
            return  # purged meanwhile
        except StoreUnavailable as exc:  # the claim stands; the next interval tries again
            log.warning("tenant %s: recheck not recorded: %s", tenant, exc)
        finally:
            with self._lock:
                self._in_flight.pop(tenant, None)
