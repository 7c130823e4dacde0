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


class TenantReadiness:
    def __init__(self, store: Store, settings: Settings, global_ready: Callable[[], bool],
                 timeout: float = 2.0, clock: Callable[[], float] = time.perf_counter):
        self._store = store
        self._settings = settings
        self._global_ready = global_ready
        self._timeout = timeout
        self._clock = clock
        self._runner = DeadlineRunner(threads=8, name="tenant-readiness")
        # Tenants with a resolution still running past its deadline: answered at once,
        # so one stuck tenant holds at most one resolver thread.
        self._stuck: set[str] = set()
        self._stuck_lock = threading.Lock()

    def readyz(self, tenant: str) -> TenantStatus:
        with self._stuck_lock:
            if tenant in self._stuck:
                return TenantStatus(tenant, ERROR, "timeout")
        started = self._clock()
        finished = threading.Event()

        def call() -> TenantStatus:
            try:
                return self._resolve_and_record(tenant, inject_faults=True)
            finally:
                with self._stuck_lock:
                    finished.set()
                    self._stuck.discard(tenant)

        try:
            status = self._runner.run(call, self._timeout)
        except DeadlineExceeded:
            with self._stuck_lock:
                if not finished.is_set():
                    self._stuck.add(tenant)
            log.warning("tenant %s: readiness resolution exceeded %.1fs", tenant, self._timeout)
            return TenantStatus(tenant, ERROR, "timeout")
        except StoreUnavailable:
            return TenantStatus(tenant, ERROR, "store_unavailable")
        except Exception:  # any failure resolving this tenant is this tenant's error only
            log.exception("tenant %s: readiness resolution failed", tenant)
            return TenantStatus(tenant, ERROR, "resolution_failed")
        if self._settings.tenant_readiness_histogram and status.reason != "unknown_tenant":
            self._observe(tenant, self._clock() - started)
        return status

    def set_ready(self, tenant: str, ready: bool | None) -> tuple[TenantStatus, bool]:
        ensure_tenant(self._store, self._settings, tenant)
        # Record the status before the change, so the change itself counts as a transition.
        self._resolve_and_record(tenant)
        changed = self._store.readiness.set_override(tenant, ready)
        return self._resolve_and_record(tenant), changed

    def current(self, rows) -> list[TenantStatus]:
        """Statuses of stored rows for the scrape; global readiness asked once."""
        global_ready = self._global_ready()
        return [self._record(row, resolve(row.tenant_id, row, lambda: global_ready))
                for row in rows]

    def _resolve_and_record(self, tenant: str, inject_faults: bool = False) -> TenantStatus:
        if inject_faults and self._settings.chaos_enabled:
            self._inject(tenant)
        row = self._store.readiness.get(tenant)
        status = resolve(tenant, row, self._global_ready)
        return self._record(row, status) if row is not None else status

    def _record(self, row, status: TenantStatus) -> TenantStatus:
        if row.status != status.status:
            self._store.readiness.record_status(row.tenant_id, row.status, status.status)
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
