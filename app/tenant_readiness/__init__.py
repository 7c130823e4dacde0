"""Tenant readiness concern: /tenant/<t>/readyz, set_ready, and tenant readiness metrics."""
from __future__ import annotations

from flask import Flask

from ..metrics import StoreCollector
from ..readiness import GlobalReadiness
from ..settings import Settings
from ..store import Store
from .metrics import TenantReadinessFamilies
from .service import TenantReadiness
from .views import blp

__all__ = ["blp", "init_app", "TenantReadiness"]


def init_app(app: Flask, store: Store, settings: Settings, readiness: GlobalReadiness,
             collector: StoreCollector) -> TenantReadiness:
    service = TenantReadiness(store, settings, readiness.is_ready)
    app.extensions["tenantgate.tenant_readiness"] = service
    collector.add_source(TenantReadinessFamilies(store, settings, service))
    return service
