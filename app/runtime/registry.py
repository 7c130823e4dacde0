"""TenantRegistry: this worker's tenant runtimes, each built lazily, validated, with health.

A tenant is registered with a factory; its runtime is built on first ``resolve``, once
per worker even when many threads hit it at once (the entry's lock), and validated
before it is served. A failed build or validation leaves the tenant disabled until
``recheck`` or re-registration; it is not retried per request. Health changes go to a
sink (the store), so every worker and the admin API agree.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from .health import (DISABLED, HEALTHY, PENDING, PERMANENT, TRANSIENT, UNVERIFIED, Outcome,
                     next_state)
from .validation import Validator, ValidatorCall

log = logging.getLogger(__name__)

Factory = Callable[[], Any]
# Called with (tenant_id, state, reason) whenever validation decides; persists it.
HealthSink = Callable[[str, str, str | None], None]


class TenantNotFound(LookupError):
    """No such tenant is registered (in the store, or in this worker)."""


class TenantDisabled(Exception):
    """An operator disabled the tenant."""


class TenantUnavailable(Exception):
    """The tenant's build or validation failed (health disabled)."""


class TenantPending(Exception):
    """The tenant's first build and validation is still running."""


@dataclass
class _Entry:
    tenant_id: str
    factory: Factory
    validation: ValidatorCall
    health: str
    reason: str | None
    version: str  # the stored record's updated_at this entry was built from
    runtime: Any = None
    outcome: Outcome | None = None  # of the latest build or validation
    lock: threading.Lock = field(default_factory=threading.Lock)


def _stop(runtime: Any) -> None:
    stop = getattr(runtime, "stop", None)
    if callable(stop):
        stop()


class TenantRegistry:
    def __init__(self, health_sink: HealthSink | None = None, validator_timeout: float = 5.0,
                 build_wait: float = 2.0):
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()  # the map only; never held while building
        self._sink = health_sink or (lambda tenant, state, reason: None)
        self._validator_timeout = validator_timeout
        self._build_wait = build_wait

    # -- registration ------------------------------------------------------------------
    def register(self, tenant_id: str, factory: Factory, validator: Validator | None = None,
                 health: str = PENDING, reason: str | None = None, version: str = "") -> None:
        """Register (or re-register) a tenant; its runtime is built on first ``resolve``."""
        entry = _Entry(tenant_id, factory, ValidatorCall(tenant_id, validator,
                                                         self._validator_timeout),
                       health, reason, version)
        with self._lock:
            old = self._entries.get(tenant_id)
            self._entries[tenant_id] = entry
        if old is not None and old.runtime is not None:
            _stop(old.runtime)

    def unregister(self, tenant_id: str) -> bool:
        with self._lock:
            entry = self._entries.pop(tenant_id, None)
        if entry is not None and entry.runtime is not None:
            _stop(entry.runtime)
        return entry is not None

    def close(self) -> None:
        for tenant_id in self.tenant_ids():
            self.unregister(tenant_id)

    # -- lookups -----------------------------------------------------------------------
    def tenant_ids(self) -> list[str]:
        with self._lock:
            return list(self._entries)

    def __contains__(self, tenant_id: str) -> bool:
        return tenant_id in self._entries

    def version(self, tenant_id: str) -> str | None:
        entry = self._entries.get(tenant_id)
        return entry.version if entry else None

    def health(self, tenant_id: str) -> str | None:
        entry = self._entries.get(tenant_id)
        return entry.health if entry else None

    def is_built(self, tenant_id: str) -> bool:
        """Whether this worker holds the tenant's runtime (what unloading stops)."""
        entry = self._entries.get(tenant_id)
        return entry is not None and entry.runtime is not None

    def resolve(self, tenant_id: str) -> Any:
        """The tenant's runtime, built now if needed; raises when unknown, failed or pending."""
        while True:
            entry = self._entries.get(tenant_id)
            if entry is None:
                raise TenantNotFound(tenant_id)
            # Served without the lock only once validated: never while first validation runs.
            if entry.runtime is not None and entry.health in (HEALTHY, UNVERIFIED):
                return entry.runtime
            if entry.health == DISABLED:
                raise TenantUnavailable(entry.reason or "disabled")
            if not entry.lock.acquire(timeout=self._build_wait):
                raise TenantPending(tenant_id)
            try:
                if entry.runtime is None and entry.health != DISABLED:
                    self._build(entry)
                if entry.health == DISABLED:
                    raise TenantUnavailable(entry.reason or "disabled")
                if self._entries.get(tenant_id) is entry:
                    return entry.runtime
            finally:
                entry.lock.release()
            # Unregistered or replaced while we waited or built: look the tenant up again.

    def recheck(self, tenant_id: str) -> tuple[str, str | None]:
        """Validate now (building first if needed); returns (state, reason)."""
        state, reason, _ = self.recheck_outcome(tenant_id)
        return state, reason

    def recheck_outcome(self, tenant_id: str) -> tuple[str, str | None, Outcome]:
        """Validate now (building first if needed); returns (state, reason, outcome)."""
        entry = self._entries.get(tenant_id)
        if entry is None:
            raise TenantNotFound(tenant_id)
        with entry.lock:
            if entry.runtime is None:
                entry.health = entry.health if entry.health != DISABLED else PENDING
                self._build(entry, recheck=True)
            else:
                self._validate(entry)
                if entry.health == DISABLED and entry.runtime is not None:
                    # Failed for good: its workers and resources stop now; a later
                    # recheck builds it afresh.
                    runtime, entry.runtime = entry.runtime, None
                    _stop(runtime)
            # No outcome: the tenant was reloaded while it was being built; it is validated
            # afresh by its next use.
            return entry.health, entry.reason, entry.outcome or Outcome(
                False, TRANSIENT, "reloaded during the recheck")

    # -- internals ---------------------------------------------------------------------
    def _build(self, entry: _Entry, recheck: bool = False) -> None:
        try:
            runtime = entry.factory()
        except Exception as exc:  # a failed factory disables this tenant only
            log.warning("tenant %s: build failed: %s", entry.tenant_id, exc)
            reason = f"build failed: {type(exc).__name__}: {exc}"
            entry.outcome = Outcome(False, PERMANENT, reason)
            self._set_health(entry, DISABLED, reason)
            return
        if self._entries.get(entry.tenant_id) is not entry:
            _stop(runtime)  # unregistered (or replaced) while building: leave no zombie
            return
        entry.runtime = runtime
        if entry.health == PENDING or recheck:
            self._validate(entry)
        if entry.health == DISABLED or self._entries.get(entry.tenant_id) is not entry:
            entry.runtime = None
            _stop(runtime)

    def _validate(self, entry: _Entry) -> str:
        outcome = entry.outcome = entry.validation.run(entry.runtime)
        state = next_state(entry.health, outcome)
        self._set_health(entry, state, outcome.reason)
        return state

    def _set_health(self, entry: _Entry, state: str, reason: str | None) -> None:
        changed = (state, reason) != (entry.health, entry.reason)
        entry.health, entry.reason = state, reason
        if self._entries.get(entry.tenant_id) is entry:
            try:
                self._sink(entry.tenant_id, state, reason)
            except Exception:  # persisting failed: this worker still acts on it
                log.exception("tenant %s: could not persist health %s", entry.tenant_id, state)
        if changed:
            log.info("tenant %s: health %s (%s)", entry.tenant_id, state, reason or "ok")
