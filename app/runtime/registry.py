"""Per-worker tenant registry: eager or lazy runtimes, health, and resolution by host.

A lazy tenant is built on first use, once per worker even when many threads hit
it at once (a lock per tenant). A failed build or validation leaves the tenant
disabled until ``recheck`` or re-registration; it is not retried per request.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ..tenants.hosts import normalize_host
from .health import (DISABLED, HEALTHY, PENDING, TRANSIENT, UNVERIFIED, Outcome,
                     ValidationFailure, next_state, outcome_of)

log = logging.getLogger(__name__)

Factory = Callable[[], Any]
Validator = Callable[[Any], Any]
# Called with (tenant_id, state, reason) whenever health changes; persists it.
HealthSink = Callable[[str, str, str | None], None]


class TenantNotFound(LookupError):
    pass


class TenantUnavailable(Exception):
    """The tenant's build or validation failed (health disabled)."""


class TenantPending(Exception):
    """The tenant's first build and validation is still running."""


@dataclass
class _Entry:
    tenant_id: str
    factory: Factory | None
    validator: Validator | None
    hosts: tuple[str, ...]
    health: str
    runtime: Any = None
    reason: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    meta: dict = field(default_factory=dict)
    # The latest validator call; one abandoned at its deadline may still be running.
    validating: Future | None = None


def _stop(runtime: Any) -> None:
    stop = getattr(runtime, "stop", None)
    if callable(stop):
        stop()


class TenantRegistry:
    def __init__(self, health_sink: HealthSink | None = None, validator_timeout: float = 5.0,
                 build_wait: float = 2.0):
        self._entries: dict[str, _Entry] = {}
        self._hosts: dict[str, str] = {}
        self._lock = threading.Lock()
        self._sink = health_sink or (lambda tenant, state, reason: None)
        self._validator_timeout = validator_timeout
        self._build_wait = build_wait

    # -- registration ------------------------------------------------------------------
    def register(self, tenant_id: str, runtime: Any, hosts: Iterable[str] = (),
                 validator: Validator | None = None, **meta) -> str:
        """Register an already built runtime; validates it now. Returns its health."""
        entry = _Entry(tenant_id, None, validator, self._norm(hosts), PENDING, runtime=runtime,
                       meta=meta)
        with entry.lock:  # held from installation on: nobody is served before validation
            self._install(entry)
            return self._validate(entry)

    def register_lazy(self, tenant_id: str, factory: Factory, hosts: Iterable[str] = (),
                      validator: Validator | None = None, health: str = PENDING,
                      reason: str | None = None, **meta) -> None:
        """Register a factory; the runtime is built on first ``resolve``."""
        self._install(_Entry(tenant_id, factory, validator, self._norm(hosts), health,
                             reason=reason, meta=meta))

    def unregister(self, tenant_id: str) -> bool:
        with self._lock:
            entry = self._entries.pop(tenant_id, None)
            if entry:
                self._drop_hosts(entry)
        if entry and entry.runtime is not None:
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

    def entry_meta(self, tenant_id: str) -> dict | None:
        entry = self._entries.get(tenant_id)
        return entry.meta if entry else None

    def health(self, tenant_id: str) -> str | None:
        entry = self._entries.get(tenant_id)
        return entry.health if entry else None

    def is_built(self, tenant_id: str) -> bool:
        entry = self._entries.get(tenant_id)
        return entry is not None and entry.runtime is not None

    def resolve_by_host(self, host: str) -> str | None:
        normal = normalize_host(host)
        return self._hosts.get(normal) if normal else None

    def resolve(self, tenant_id: str) -> Any:
        """The tenant's runtime, built now if lazy; raises when unknown, failed or pending."""
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
        entry = self._entries.get(tenant_id)
        if entry is None:
            raise TenantNotFound(tenant_id)
        with entry.lock:
            if entry.runtime is None:
                if entry.factory is None:
                    return entry.health, entry.reason
                entry.health = entry.health if entry.health != DISABLED else PENDING
                self._build(entry, recheck=True)
            else:
                self._validate(entry)
            return entry.health, entry.reason

    # -- internals ---------------------------------------------------------------------
    def _install(self, entry: _Entry) -> None:
        with self._lock:
            old = self._entries.get(entry.tenant_id)
            if old:
                self._drop_hosts(old)
            self._entries[entry.tenant_id] = entry
            for host in entry.hosts:
                self._hosts[host] = entry.tenant_id
        if old and old.runtime is not None and old.runtime is not entry.runtime:
            _stop(old.runtime)

    def _drop_hosts(self, entry: _Entry) -> None:
        for host in entry.hosts:
            if self._hosts.get(host) == entry.tenant_id:
                del self._hosts[host]

    def _build(self, entry: _Entry, recheck: bool = False) -> None:
        try:
            runtime = entry.factory()
        except Exception as exc:  # a failed factory disables this tenant only
            log.warning("tenant %s: build failed: %s", entry.tenant_id, exc)
            self._set_health(entry, DISABLED, f"build failed: {type(exc).__name__}: {exc}")
            return
        if self._entries.get(entry.tenant_id) is not entry:
            _stop(runtime)  # unregistered (or replaced) while building: leave no zombie
            return
        entry.runtime = runtime
        if entry.health == PENDING or recheck:
            self._validate(entry)
        if entry.health == DISABLED:
            entry.runtime = None
            _stop(runtime)
        elif self._entries.get(entry.tenant_id) is not entry:
            entry.runtime = None
            _stop(runtime)

    def _validate(self, entry: _Entry) -> str:
        outcome = self._run_validator(entry)
        state = next_state(entry.health, outcome)
        self._set_health(entry, state, outcome.reason)
        return state

    def _run_validator(self, entry: _Entry) -> Outcome:
        if entry.validator is None:
            return Outcome(True)
        if entry.validating is not None and not entry.validating.done():
            # At most one call per tenant: a hung validator never piles up threads.
            return Outcome(False, TRANSIENT, "previous validator call has not returned")
        # Its own thread, not a shared pool: tenants whose validators hang cannot use up
        # the threads another tenant's validation needs.
        future: Future = Future()
        validator, runtime = entry.validator, entry.runtime

        def call() -> None:
            try:
                future.set_result(validator(runtime))
            except BaseException as exc:  # handed to the waiting caller
                future.set_exception(exc)

        entry.validating = future
        threading.Thread(target=call, daemon=True,
                         name=f"tenant-{entry.tenant_id}-validator").start()
        try:
            return outcome_of(future.result(self._validator_timeout))
        except ValidationFailure as failure:
            return Outcome(False, failure.kind, failure.reason)
        except Exception as exc:  # an unexpected validator error is a transient failure
            if not future.done():  # abandoned at the deadline; it may finish on its own
                return Outcome(False, TRANSIENT, f"validator timed out after "
                                                 f"{self._validator_timeout:g}s")
            return Outcome(False, TRANSIENT, f"validator raised {type(exc).__name__}: {exc}")

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

    @staticmethod
    def _norm(hosts: Iterable[str]) -> tuple[str, ...]:
        normal = (normalize_host(h) for h in hosts)
        return tuple(h for h in normal if h)


__all__ = ["TenantRegistry", "TenantNotFound", "TenantUnavailable", "TenantPending",
           "ValidationFailure", "HEALTHY"]
