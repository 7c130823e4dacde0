"""Tenant resources (contract sec. 12): application teams' own per-tenant objects.

A resource is registered once per app, before the first request, with a factory, an
optional validator and an optional close hook. Each tenant's objects are built with its
runtime (app/runtime/factory.py), so the registry's guarantees hold for them: built
lazily, once per tenant per worker even under concurrent first use; a raising factory
leaves the tenant disabled until a recheck; the validators feed the tenant's one health
state machine under the validator deadline; and they are closed when the runtime stops
(unload, disable, purge, config change), to be built afresh on next use.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable

from flask import Flask, g, has_request_context

from ..services import services, services_of
from ..store import TenantRecord
from .context import active_tenant
from .health import PERMANENT, ValidationFailure

log = logging.getLogger(__name__)


class ResourceBuildFailed(RuntimeError):
    """A resource's factory raised; the tenant is disabled (503 tenant_unavailable)."""


@dataclass(frozen=True)
class ResourceSpec:
    name: str
    factory: Callable[[TenantRecord], Any]
    validator: Callable[[Any, TenantRecord], Any] | None = None
    close: Callable[[Any], Any] | None = None


class TenantResources:
    """The resources registered on one app (a service: ``services().resources``)."""

    def __init__(self) -> None:
        self._specs: dict[str, ResourceSpec] = {}
        self._lock = threading.Lock()

    def add(self, spec: ResourceSpec) -> None:
        with self._lock:
            if spec.name in self._specs:
                raise ValueError(f"tenant resource {spec.name!r} is already registered")
            self._specs = {**self._specs, spec.name: spec}  # readers see one map or the other

    def build(self, record: TenantRecord) -> "BuiltResources":
        """Every resource of the tenant, in registration order; on a failure, those built
        so far are closed and ResourceBuildFailed says which one failed."""
        built = BuiltResources(record.tenant_id)
        for spec in self._specs.values():
            try:
                obj = spec.factory(record)
            except Exception as exc:  # a team's factory: anything it raises disables the tenant
                built.close()
                raise ResourceBuildFailed(
                    f"resource {spec.name!r}: {type(exc).__name__}: {exc}") from exc
            built.add(spec, obj)
        return built


class BuiltResources:
    """One tenant's resource objects in one worker."""

    def __init__(self, tenant: str) -> None:
        self._tenant = tenant
        self._objects: dict[str, tuple[ResourceSpec, Any]] = {}
        self._closed = False

    def add(self, spec: ResourceSpec, obj: Any) -> None:
        self._objects[spec.name] = (spec, obj)

    def get(self, name: str) -> Any:
        try:
            return self._objects[name][1]
        except KeyError:
            raise LookupError(f"no tenant resource named {name!r} is registered") from None

    def validate(self, record: TenantRecord) -> None:
        """Run every resource's validator; the first permanent failure wins over transient
        ones (any exception but ValidationFailure counts as transient)."""
        failures: list[ValidationFailure] = []
        for name, (spec, obj) in self._objects.items():
            if spec.validator is None:
                continue
            try:
                result = spec.validator(obj, record)
            except ValidationFailure as failure:
                failures.append(ValidationFailure(f"resource {name!r}: {failure.reason}",
                                                  failure.kind))
                continue
            except Exception as exc:  # a team's validator: an unexpected error is transient
                failures.append(ValidationFailure(
                    f"resource {name!r}: validator raised {type(exc).__name__}: {exc}"))
                continue
            if result is False:
                failures.append(ValidationFailure(f"resource {name!r}: validator returned "
                                                  "false", PERMANENT))
        permanent = [f for f in failures if f.kind == PERMANENT]
        if permanent or failures:
            raise (permanent or failures)[0]

    def close(self) -> None:
        """Close every object (last built first), once; a close hook that raises is logged
        and the others still run. The objects stay reachable: a request that began before
        the change finishes with the object it started with."""
        if self._closed:
            return
        self._closed = True
        for name, (spec, obj) in reversed(list(self._objects.items())):
            if spec.close is None:
                continue
            try:
                spec.close(obj)
            except Exception:  # a team's close hook: the tenant's other resources still close
                log.exception("tenant %s: closing resource %s failed", self._tenant, name)


def register_tenant_resource(app: Flask, name: str, factory: Callable[[TenantRecord], Any],
                             validator: Callable[[Any, TenantRecord], Any] | None = None,
                             close: Callable[[Any], Any] | None = None) -> None:
    """Register a per-tenant resource on ``app``, before its first request."""
    if getattr(app, "_got_first_request", False):
        raise RuntimeError(f"register tenant resource {name!r} before the first request")
    if not callable(factory):
        raise TypeError("factory must be callable")
    services_of(app).resources.add(ResourceSpec(name, factory, validator, close))


def tenant_resource(name: str) -> Any:
    """The current tenant's resource ``name``: inside a tenant request, or a
    ``use_tenant(...)`` block (which builds the tenant's runtime if this worker has not)."""
    runtime = g.get("tenant_runtime") if has_request_context() else None
    if runtime is None:
        context = active_tenant()
        if context is None:
            raise RuntimeError(f"tenant_resource({name!r}) needs a tenant request or a "
                               "use_tenant(...) block")
        runtime = services().tenants.runtime(context.tenant)
    return runtime.resources.get(name)
