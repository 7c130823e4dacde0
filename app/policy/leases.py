"""Leases of this process's budget reservations: renewed while their holder lives.

A reservation is taken with a lease of LEASE_SECONDS. While the process that holds it
lives, a thread of its own renews it every third of that, so a model call may take as
long as it takes; when the process dies the renewals stop and the reservation stops
counting within LEASE_SECONDS, with nobody having to notice the death. The same thread
retries settles that the store could not take at once (the reservation stays held,
renewed, until one succeeds), so a store hiccup never loses a recorded spend while the
process lives.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Callable

from ..store import Store, StoreUnavailable

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (tenant_id, reservation_id)


@dataclass(frozen=True)
class PendingSettle:
    day: str
    actual_micros: int


class LeaseKeeper:
    def __init__(self, store: Store, lease_seconds: float, clock: Callable[[], float]):
        self._store = store
        self.lease_ms = int(lease_seconds * 1000)
        self._clock = clock
        self._held: set[Key] = set()
        self._pending: dict[Key, PendingSettle] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def hold(self, key: Key) -> None:
        with self._lock:
            self._held.add(key)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="budget-leases")
                self._thread.start()

    def drop(self, key: Key) -> None:
        with self._lock:
            self._held.discard(key)

    def settle_later(self, key: Key, settle: PendingSettle) -> None:
        """A settle the store refused for now: held and retried until it is recorded."""
        self.hold(key)
        with self._lock:
            self._pending[key] = settle

    def renew(self) -> None:
        with self._lock:
            held = list(self._held)
        if not held:
            return
        now = self.now_ms()
        missed = self._store.budgets.renew(held, now, now + self.lease_ms)
        with self._lock:
            self._held -= set(missed) - set(self._pending)
        # The others were settled or released while this renewal ran: nothing to say.
        for tenant, reservation in sorted(key for key, lapsed in missed.items() if lapsed):
            # Its holder stalled longer than the lease: its room may be someone else's
            # now. Its settle is still recorded (exactly once) when it comes.
            log.warning("tenant %s: budget reservation %s lapsed before it was settled",
                        tenant, reservation)

    def retry_settles(self) -> None:
        with self._lock:
            pending = list(self._pending.items())
        for (tenant, reservation), settle in pending:
            self._store.budgets.settle(tenant, reservation, settle.day, settle.actual_micros,
                                       self.now_ms())
            with self._lock:
                self._pending.pop((tenant, reservation), None)
                self._held.discard((tenant, reservation))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        try:
            self.retry_settles()
        except StoreUnavailable as exc:
            log.error("%d budget settle(s) not recorded at shutdown: %s", len(self._pending),
                      exc)

    def _run(self) -> None:
        while not self._stop.wait(self.lease_ms / 3000):
            try:
                self.renew()
                self.retry_settles()
            except StoreUnavailable as exc:
                log.warning("budget leases not renewed this time: %s", exc)
            except Exception:  # a bug must not end renewals for the life of the worker
                log.exception("budget leases not renewed this time")
