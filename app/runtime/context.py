"""The tenant context of the code that is running: on ``flask.g`` in requests.

Background work for a tenant sets it with ``use_tenant`` (a context variable).
Outside any context, strict mode raises; otherwise ``default:main`` is used and
``tenancy_fallback_total`` counts it, so a missing context is never silent.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

from flask import g, has_app_context, has_request_context

from ..services import services

FALLBACK_TENANT, FALLBACK_WORKSPACE = "default", "main"


@dataclass(frozen=True)
class TenantContext:
    tenant: str
    workspace: str = "main"

    def namespace(self) -> str:
        return f"{self.tenant}:{self.workspace}:"


_background: ContextVar[TenantContext | None] = ContextVar("tenant_context", default=None)


@contextmanager
def use_tenant(context: TenantContext) -> Iterator[TenantContext]:
    token = _background.set(context)
    try:
        yield context
    finally:
        _background.reset(token)


def push_request_context(context: TenantContext) -> None:
    g.tenant_context = context


def active_tenant() -> TenantContext | None:
    """The TenantContext of a tenant request or a ``use_tenant`` block; None elsewhere
    (no fallback: for callers that must not act for the wrong tenant)."""
    if has_request_context() and g.get("tenant_context") is not None:
        return g.tenant_context
    return _background.get()


def current_tenant(component: str = "unknown") -> TenantContext:
    """The active TenantContext; ``component`` names the caller in the fallback counter."""
    if has_request_context() and g.get("tenant_context") is not None:
        return g.tenant_context
    context = _background.get()
    if context is not None:
        return context
    if not has_app_context():
        raise RuntimeError("current_tenant() needs an application context")
    found = services()
    if found.settings.tenancy_strict:
        raise RuntimeError(f"no tenant context in {component} (ENABLE_TENANCY_STRICT=1)")
    found.metrics.tenancy_fallback.labels(
        tenant=FALLBACK_TENANT, workspace=FALLBACK_WORKSPACE, component=component).inc()
    return TenantContext(FALLBACK_TENANT, FALLBACK_WORKSPACE)
