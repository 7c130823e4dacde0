"""Tenant runtime concern: /t/<t>/ dispatch, the lazy registry, tenant context and workers."""
from __future__ import annotations

from flask import Flask

from .cache import CrossTenantKeyError, NamespacedCache
from .context import TenantContext, current_tenant, use_tenant
from .dispatch import leave_thread_share, register_tenant_blueprint, tenant_runtime
from .factory import RuntimeFactory
from .metrics import UploadCollector
from .retention import UploadPruner
from .runtimes import TenantRuntimes
from .thread_share import ThreadShare
from .views import blp

__all__ = ["CrossTenantKeyError", "NamespacedCache", "RuntimeFactory", "TenantContext",
           "TenantRuntimes", "ThreadShare", "UploadCollector", "UploadPruner",
           "current_tenant", "init_app", "register_tenant_blueprint", "tenant_runtime",
           "use_tenant"]


def init_app(app: Flask, services) -> None:
    """Serve the built-in tenant routes; give back thread shares at each request's end."""
    app.teardown_request(leave_thread_share)
    register_tenant_blueprint(app, blp)
