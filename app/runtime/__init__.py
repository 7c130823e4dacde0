"""Tenant runtime concern: /t/<t>/ dispatch, the lazy registry, tenant context and workers."""
from __future__ import annotations

from flask import Flask

from .cache import CrossTenantKeyError, NamespacedCache
from .context import TenantContext, current_tenant, use_tenant
from .dispatch import leave_thread_share, register_tenant_blueprint, tenant_runtime
from .factory import RuntimeFactory
from .health import ValidationFailure
from .metrics import HealthStateCollector, UploadCollector
from .rechecks import Rechecker
from .resources import TenantResources, register_tenant_resource, tenant_resource
from .retention import UploadPruner
from .runtimes import TenantRuntimes
from .thread_share import ThreadShare
from .views import blp

__all__ = ["CrossTenantKeyError", "HealthStateCollector", "NamespacedCache", "Rechecker",
           "RuntimeFactory", "TenantContext", "TenantResources", "TenantRuntimes",
           "ThreadShare", "UploadCollector", "UploadPruner", "ValidationFailure",
           "current_tenant", "init_app", "register_tenant_blueprint",
           "register_tenant_resource", "tenant_resource", "tenant_runtime", "use_tenant"]


def init_app(app: Flask, services) -> None:
    """Serve the built-in tenant routes; give back thread shares at each request's end."""
    app.teardown_request(leave_thread_share)
    register_tenant_blueprint(app, blp)
