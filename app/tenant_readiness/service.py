"""Tenant readiness: resolve under a deadline, record transitions, answer set_ready.

Nothing here reaches global readiness state or metrics: inheritance asks the
global checks a read-only question. Any failure degrades only this tenant to error.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from ..chaos.faults import fault_for, inject
from ..deadlines import DeadlineExceeded, DeadlineRunner
from ..settings import Settings
from ..store import Store, StoreUnavailable
from ..tenants.registration import ensure_tenant
from .resolution import ERROR, TenantStatus, resolve

log = logging.getLogger(__name__)

# Bounds of tenant_readiness_check_duration_seconds (seconds).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _Flight:
    """One resolution of one tenant in this process. Probes that arrive while it runs wait
    for it instead of starting another, so a hung tenant holds one resolver thread only."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.done = threading.Event()
        self.state = "pending"  # -> "running" (resolver took it) or "abandoned" (never ran)
        self.status: TenantStatus | None = None
        self.resolved = False  # the status comes from a completed resolution


class TenantReadiness:
    def __init__(self, store: Store, settings: Settings, global_ready: Callable[[], bool],
                 timeout: float = 2.0, clock: Callable[[], float] = time.perf_counter):
        self._store = store
        self._settings = settings
        self._global_ready = global_ready
        self._timeout = timeout
        self._clock = clock
        # One resolution per tenant in flight (the flights below), so tenants that hang hold
        # one thread each and never the one another tenant's resolution needs.
        self._runner = DeadlineRunner("tenant-readiness",
                                      max_threads=settings.max_tenant_labels + 16)
        # The resolution in flight per tenant (at most one), removed when it ends.
        self._flights: dict[str, _Flight] = {}
        self._flights_lock = threading.Lock()

    def close(self) -> None:
        self._runner.close()

    def readyz(self, tenant: str) -> TenantStatus:
        started = self._clock()
        arrived = time.monotonic()
        deadline = arrived + self._timeout
        while time.monotonic() < deadline:
            with self._flights_lock:
                flight = self._flights.get(tenant)
                lead = flight is None
                if lead:
                    flight = self._flights[tenant] = _Flight()
            if lead:
                self._lead(tenant, flight, deadline)
            elif flight.began < arrived:
                # It may have read state older than this probe: wait for it to end, then
                # lead (or join) a fresh one. Still running past its deadline: stuck.
                if time.monotonic() - flight.began > self._timeout:
                    break
                if flight.done.wait(max(0.0, deadline - time.monotonic())):
                    continue
                break
            if not flight.done.wait(max(0.0, deadline - time.monotonic())):
                break
            status = flight.status
            if self._settings.tenant_readiness_histogram and flight.resolved \
                    and status.reason != "unknown_tenant":
                self._observe(tenant, self._clock() - started)
            return status
        return TenantStatus(tenant, ERROR, "timeout")

    def _lead(self, tenant: str, flight: _Flight, deadline: float) -> None:
        try:
            self._runner.run(lambda: self._fly(tenant, flight),
                             max(0.0, deadline - time.monotonic()))
        except DeadlineExceeded:
            log.warning("tenant %s: readiness resolution exceeded %.1fs", tenant, self._timeout)
            with self._flights_lock:
                if flight.state != "pending":
                    return  # it runs on and ends the flight itself
                flight.state = "abandoned"
            self._land(tenant, flight, TenantStatus(tenant, ERROR, "timeout"), False)

    def _fly(self, tenant: str, flight: _Flight) -> None:
        with self._flights_lock:
            if flight.state == "abandoned":
                return
            flight.state = "running"
        status, resolved = TenantStatus(tenant, ERROR, "resolution_failed"), False
        try:
            status, resolved = self._resolve_guarded(tenant, inject_faults=True)
        finally:
            self._land(tenant, flight, status, resolved)

    def _land(self, tenant: str, flight: _Flight, status: TenantStatus, resolved: bool) -> None:
        with self._flights_lock:
            flight.status, flight.resolved = status, resolved
            if self._flights.get(tenant) is flight:
                del self._flights[tenant]
        flight.done.set()
        if status.status == ERROR and status.reason in ("timeout", "resolution_failed"):
            self._remember_error(tenant)

    def _remember_error(self, tenant: str) -> None:
        """Record "error" as the tenant's observed status, so its scrape-time state is 0.

        In the background: the store itself may be what is stuck.
        """
        def record() -> None:
            try:
                row = self._store.readiness.get(tenant)
                if row is not None and row.status != ERROR:
                    self._store.readiness.record_status(tenant, row.status, ERROR,
                                                        row.transitions)
            except Exception as exc:  # best effort: whatever failed the resolution may fail here
                log.warning("tenant %s: error status not recorded: %s", tenant, exc)

        threading.Thread(target=record, daemon=True, name="tenant-readiness-error").start()

    def set_ready(self, tenant: str, ready: bool | None) -> tuple[TenantStatus, bool]:
        ensure_tenant(self._store, self._settings, tenant)
        # Record the status before the change, so the change itself counts as a transition.
        # A tenant whose resolution fails can still be given an override (its answer: error).
        self._resolve_guarded(tenant)
        changed = self._store.readiness.set_override(tenant, ready)
        return self._resolve_guarded(tenant)[0], changed

    def current(self, rows) -> list[TenantStatus]:
        """Statuses of stored rows for the scrape; global readiness asked once.

        A tenant last observed in error stays in error here until a probe of its
        readyz resolves it again: the scrape never hides a failing tenant.
        """
        global_ready = self._global_ready()
        return [TenantStatus(row.tenant_id, ERROR, "last_observed") if row.status == ERROR
                else self._record(row, resolve(row.tenant_id, row, lambda: global_ready))
                for row in rows]

    def _resolve_guarded(self, tenant: str,
                         inject_faults: bool = False) -> tuple[TenantStatus, bool]:
        """(status, resolved): a failure is this tenant's error only, never raised."""
        try:
            return self._resolve_and_record(tenant, inject_faults), True
        except StoreUnavailable:
            return TenantStatus(tenant, ERROR, "store_unavailable"), False
        except Exception:  # any failure resolving this tenant is this tenant's error only
            log.exception("tenant %s: readiness resolution failed", tenant)
            return TenantStatus(tenant, ERROR, "resolution_failed"), False

    def _resolve_and_record(self, tenant: str, inject_faults: bool = False) -> TenantStatus:
        if inject_faults and self._settings.chaos_enabled:
            self._inject(tenant)
        row = self._store.readiness.get(tenant)
        status = resolve(tenant, row, self._global_ready)
        return self._record(row, status) if row is not None else status

    def _record(self, row, status: TenantStatus) -> TenantStatus:
        if row.status != status.status:
            self._store.readiness.record_status(row.tenant_id, row.status, status.status,
                                                row.transitions)
        return status

    def _inject(self, tenant: str) -> None:
        record = self._store.tenants.get(tenant)
        fault = fault_for(record.extra, "readiness") if record else None
        if fault:
            inject(fault, self._store, tenant)

    def _observe(self, tenant: str, seconds: float) -> None:
        bucket = next((i for i, bound in enumerate(DURATION_BUCKETS) if seconds <= bound),
                      len(DURATION_BUCKETS))
        try:
            self._store.readiness.observe_duration(tenant, bucket, seconds)
        except StoreUnavailable as exc:
            log.warning("tenant %s: duration not recorded: %s", tenant, exc)
