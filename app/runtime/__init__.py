"""Tenant runtime concern: /t/<t>/ dispatch, the lazy registry, tenant context and workers."""
from __future__ import annotations

from flask import Flask

from .cache import CrossTenantKeyError, NamespacedCache
from .context import TenantContext, current_tenant, use_tenant
from .dispatch import leave_thread_share, register_tenant_blueprint, tenant_runtime
from ..jobs.api import register_tenant_job, submit_tenant_job
from .factory import RuntimeFactory
from .health import ValidationFailure
from .metrics import HealthStateCollector, UploadCollector
from .rechecks import Rechecker
from .resources import TenantResources, register_tenant_resource, tenant_resource
from .retention import UploadPruner
from .runtimes import TenantRuntimes
from .thread_share import ThreadShare
from .upload_job import UPLOAD_JOB, UPLOAD_LIMIT, process_upload
from .views import blp

__all__ = ["CrossTenantKeyError", "HealthStateCollector", "NamespacedCache", "Rechecker",
           "RuntimeFactory", "TenantContext", "TenantResources", "TenantRuntimes",
           "ThreadShare", "UploadCollector", "UploadPruner", "ValidationFailure",
           "current_tenant", "init_app", "register_tenant_blueprint", "register_tenant_job",
           "register_tenant_resource", "submit_tenant_job", "tenant_resource",
           "tenant_runtime", "use_tenant"]


def init_app(app: Flask, services) -> None:
    """Serve the built-in tenant routes; give back thread shares at each request's end;
    process uploads as jobs."""
    app.teardown_request(leave_thread_share)
    register_tenant_blueprint(app, blp)
    register_tenant_job(app, UPLOAD_JOB, process_upload, limit=UPLOAD_LIMIT)
