"""TenantHost: keeps this worker's registry a faithful view of the tenant store.

Each tenant request costs one cheap read (the store's config version); only when
it moved are the loaded tenants compared with their records. Tenants are
registered on first use, so start-up does not grow with the number of tenants.
"""
from __future__ import annotations

import logging
import threading

from ..errors import ApiError
from ..store import Store, TenantRecord
from ..tenants.hosts import normalize_host
from .builder import RuntimeBuilder
from .health import DISABLED
from .registry import TenantNotFound, TenantPending, TenantRegistry, TenantUnavailable
from .tenant_runtime import TenantRuntime

log = logging.getLogger(__name__)


class TenantHost:
    def __init__(self, store: Store, builder: RuntimeBuilder, validator_timeout: float):
        self.store = store
        self.builder = builder
        self.registry = TenantRegistry(health_sink=self._persist_health,
                                       validator_timeout=validator_timeout)
        self._seen_version: int | None = None
        self._sync_lock = threading.Lock()
        self._register_lock = threading.Lock()
        self._host_cache: dict[str, str | None] = {}

    # -- request path ------------------------------------------------------------------
    def runtime(self, tenant: str) -> TenantRuntime:
        """The tenant's runtime, or the contract's 404/503 answer."""
        self.sync()
        try:
            try:
                self._ensure_registered(tenant)
                return self.registry.resolve(tenant)
            except TenantNotFound:
                # Unloaded by a concurrent config change while we waited: load it afresh.
                self._ensure_registered(tenant)
                return self.registry.resolve(tenant)
        except TenantNotFound:
            raise ApiError(404, "unknown_tenant") from None
        except TenantPending:
            raise ApiError(503, "tenant_pending", headers={"Retry-After": "1"}) from None
        except TenantUnavailable:
            raise ApiError(503, "tenant_unavailable", headers={"Retry-After": "5"}) from None

    def tenant_for_host(self, host: str) -> str | None:
        """The tenant configured for a Host header, if any (cached per config version)."""
        self.sync()
        by_registry = self.registry.resolve_by_host(host)
        if by_registry:
            return by_registry
        normal = normalize_host(host)
        if normal is None:
            return None
        if normal not in self._host_cache:
            if len(self._host_cache) > 4096:
                self._host_cache.clear()  # bounded: Host headers are client-controlled
            self._host_cache[normal] = self.store.tenants.tenant_for_host(normal)
        return self._host_cache[normal]

    def recheck(self, tenant: str):
        """Run the validator now (admin recheck); returns the stored health record."""
        self.sync()
        self._ensure_registered(tenant, for_recheck=True)
        try:
            self.registry.recheck(tenant)
        except TenantNotFound:
            raise ApiError(404, "unknown_tenant") from None
        return self.store.health.get(tenant)

    def close(self) -> None:
        self.registry.close()

    # -- keeping in step with the store --------------------------------------------------
    def sync(self) -> None:
        version = self.store.version()
        if version == self._seen_version:
            return
        with self._sync_lock:
            if version == self._seen_version:
                return
            self._host_cache.clear()
            loaded = self.registry.tenant_ids()
            states = self.store.tenants.states(loaded)  # one read for every loaded tenant
            for tenant in loaded:
                self._refresh(tenant, states.get(tenant))
            self._seen_version = version

    def _refresh(self, tenant: str, state) -> None:
        meta = self.registry.entry_meta(tenant) or {}
        if state is None or not state.enabled or state.updated_at != meta.get("updated_at"):
            self.registry.unregister(tenant)  # stops its workers; rebuilt on next use
            return
        local = self.registry.health(tenant)
        if state.health != local and (state.health == DISABLED or local == DISABLED):
            # Another worker's build, validation or recheck decided; follow it.
            self.registry.unregister(tenant)

    def _ensure_registered(self, tenant: str, for_recheck: bool = False) -> None:
        # One registration per tenant: concurrent first hits must not each register (and
        # build) their own entry, replacing one another's.
        if tenant in self.registry:
            return
        with self._register_lock:
            if tenant not in self.registry:
                self._register(tenant, for_recheck)

    def _register(self, tenant: str, for_recheck: bool = False) -> None:
        record = self.store.tenants.get(tenant)
        if record is None:
            raise ApiError(404, "unknown_tenant")
        if not record.enabled and not for_recheck:
            raise ApiError(503, "tenant_disabled")
        self._register_record(record)

    def _register_record(self, record: TenantRecord) -> None:
        self.registry.register_lazy(
            record.tenant_id, self.builder.factory(record), hosts=record.hosts,
            validator=self.builder.validate, health=record.health, reason=record.health_reason,
            updated_at=record.updated_at)

    def _persist_health(self, tenant: str, state: str, reason: str | None) -> None:
        self.store.health.set(tenant, state, reason)
