"""Tenant runtime concern: /t/<t>/ dispatch, the lazy registry, tenant context and workers."""
from __future__ import annotations

from flask import Flask

from ..settings import Settings
from ..store import Store
from .builder import RuntimeBuilder
from .cache import CrossTenantKeyError, NamespacedCache
from .context import TenantContext, current_tenant, use_tenant
from .dispatch import init_thread_share, register_tenant_blueprint, tenant_runtime
from .host import TenantHost
from .metrics import UploadFamilies
from .retention import UploadPruner
from .thread_share import ThreadShare
from .views import blp

__all__ = ["CrossTenantKeyError", "NamespacedCache", "TenantContext", "TenantHost",
           "current_tenant", "init_app", "register_tenant_blueprint", "tenant_runtime",
           "use_tenant"]


def init_app(app: Flask, store: Store, settings: Settings, api) -> TenantHost:
    builder = RuntimeBuilder(app, store, settings)
    host = TenantHost(store, builder, settings.validator_timeout_seconds)
    app.extensions["tenantgate.tenant_host"] = host
    init_thread_share(app, ThreadShare(settings.tenant_thread_share))
    app.extensions["tenantgate.store_collector"].add_source(UploadFamilies(store, settings))
    # Started by the gunicorn hook in each worker; tests call run_once() themselves.
    app.extensions["tenantgate.upload_pruner"] = UploadPruner(store, settings)
    register_tenant_blueprint(app, blp, api)
    return host
