"""The per-tenant thread share: one tenant holds at most part of a worker's request threads.

Without it a tenant whose requests are slow (a held limit, a slow upload, a slow
client) could take every thread of every worker, and the probes and every other
tenant with them (contract sec. 17). One more request of a tenant at its share is
refused at once with ``429 tenant_busy``; it never waits, so it holds no thread.
"""
from __future__ import annotations

import threading


class TenantBusy(Exception):
    """The tenant already holds its whole share of this worker's threads."""

    def __init__(self, per_tenant: int):
        super().__init__(f"the tenant holds its {per_tenant} threads")
        self.per_tenant = per_tenant


class ThreadShare:
    def __init__(self, per_tenant: int):
        self.per_tenant = per_tenant
        # Only tenants with a request in flight: bounded by the worker's threads, whatever
        # ids clients send.
        self._busy: dict[str, int] = {}
        self._lock = threading.Lock()

    def try_enter(self, tenant: str) -> bool:
        with self._lock:
            held = self._busy.get(tenant, 0)
            if held >= self.per_tenant:
                return False
            self._busy[tenant] = held + 1
            return True

    def leave(self, tenant: str) -> None:
        with self._lock:
            held = self._busy.get(tenant, 0) - 1
            if held > 0:
                self._busy[tenant] = held
            else:
                self._busy.pop(tenant, None)

    def in_flight(self, tenant: str) -> int:
        return self._busy.get(tenant, 0)
