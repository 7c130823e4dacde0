"""TenantRuntimes: this worker's tenant runtimes, kept a faithful view of the tenant store.

Each tenant request costs one cheap read (the store's config version); only when it
moved are the loaded tenants compared with their records, and the changed ones
unloaded (their threads stopped) to be built afresh on next use. Tenants are
registered on first use, so start-up does not grow with the number of tenants.

Lock order, outermost first, never the other way round: ``_sync_lock`` (following the
store), ``_register_lock`` (one registration per tenant), then the registry's map lock
and last one tenant's build lock (app/runtime/registry.py).
"""
from __future__ import annotations

import logging
import threading

from ..settings import Settings
from ..store import HealthRecord, Store, TenantRecord
from ..tenants.hosts import normalize_host
from .factory import RuntimeFactory
from .health import DISABLED, Outcome
from .registry import TenantDisabled, TenantNotFound, TenantRegistry
from .tenant_runtime import TenantRuntime

log = logging.getLogger(__name__)

HOST_CACHE_SIZE = 4096  # Host headers and tenant ids are client-controlled: bounded


class TenantRuntimes:
    def __init__(self, store: Store, settings: Settings, factory: RuntimeFactory):
        self.store = store
        self.factory = factory
        self.registry = TenantRegistry(health_sink=self._persist_health,
                                       validator_timeout=settings.validator_timeout_seconds)
        self._seen_version: tuple[int, int] | None = None
        self._sync_lock = threading.Lock()
        self._register_lock = threading.Lock()
        self._host_cache: dict[str, str | None] = {}
        # Ids asked for that the store does not have, until its next change: a 404 costs no
        # store read (bounded like the host cache: the ids are client-controlled).
        self._missing: set[str] = set()

    # -- request path ------------------------------------------------------------------
    def runtime(self, tenant: str) -> TenantRuntime:
        """The tenant's runtime; raises TenantNotFound, TenantDisabled, TenantPending or
        TenantUnavailable (answered as the contract says, app/errors.py)."""
        token = self.sync()
        if tenant in self._missing:
            raise TenantNotFound(tenant)
        try:
            try:
                self._ensure_registered(tenant)
                return self.registry.resolve(tenant)
            except TenantNotFound:
                # Unloaded by a concurrent config change while we waited: load it afresh.
                self._ensure_registered(tenant)
                return self.registry.resolve(tenant)
        except TenantNotFound:
            self._remember_missing(tenant, token)
            raise

    def _remember_missing(self, tenant: str, token) -> None:
        # Under the sync lock: a change seen since this request's token (the tenant may
        # exist now) leaves it out; one seen later clears it with the rest.
        with self._sync_lock:
            if self._seen_version == token:
                if len(self._missing) >= HOST_CACHE_SIZE:
                    self._missing.clear()
                self._missing.add(tenant)

    def tenant_for_host(self, host: str) -> str | None:
        """The tenant configured for a Host header, if any (cached per config version)."""
        self.sync()
        normal = normalize_host(host)
        if normal is None:
            return None
        if normal not in self._host_cache:
            if len(self._host_cache) > HOST_CACHE_SIZE:
                self._host_cache.clear()
            self._host_cache[normal] = self.store.tenants.tenant_for_host(normal)
        return self._host_cache[normal]

    def recheck(self, tenant: str) -> HealthRecord | None:
        """Run the validator now (admin recheck); returns the stored health record."""
        self.sync()
        self._ensure_registered(tenant, for_recheck=True)
        self.registry.recheck(tenant)
        return self.store.health.get(tenant)

    def recheck_loaded(self, tenant: str) -> Outcome | None:
        """A scheduled recheck (app/runtime/rechecks.py) of a tenant this worker holds;
        None when it is no longer loaded (then its next use validates it)."""
        self.sync()
        if tenant not in self.registry:
            return None
        try:
            return self.registry.recheck_outcome(tenant)[2]
        except TenantNotFound:
            return None

    def close(self) -> None:
        self.registry.close()

    # -- keeping in step with the store --------------------------------------------------
    def sync(self):
        """Follow the store; returns the change token this worker's view now reflects."""
        version = self.store.change_token()
        if version == self._seen_version:
            return version
        with self._sync_lock:
            if version == self._seen_version:
                return version
            self._host_cache.clear()
            self._missing.clear()
            loaded = self.registry.tenant_ids()
            states = self.store.tenants.states(loaded)  # one read for every loaded tenant
            for tenant in loaded:
                self._refresh(tenant, states.get(tenant))
            self._seen_version = version
        return version

    def _refresh(self, tenant: str, state) -> None:
        if state is None or not state.enabled or \
                state.updated_at != self.registry.version(tenant):
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

    def _register(self, tenant: str, for_recheck: bool) -> None:
        record = self.store.tenants.get(tenant)
        if record is None:
            raise TenantNotFound(tenant)
        if not record.enabled and not for_recheck:
            raise TenantDisabled(tenant)
        self._register_record(record)

    def _register_record(self, record: TenantRecord) -> None:
        self.registry.register(
            record.tenant_id, lambda: self.factory.build(record),
            validator=self.factory.validate, health=record.health,
            reason=record.health_reason, version=record.updated_at)

    def _persist_health(self, tenant: str, state: str, reason: str | None) -> None:
        self.store.health.set(tenant, state, reason)
