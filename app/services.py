"""Services: every object one app runs on, built once by create_app (app/__init__.py).

They live under one key of ``app.extensions``; code reaches them with ``services()``
inside a request or app context, and with ``services_of(app)`` given the app (gunicorn
hooks, tests). Nothing is patched onto them after they are built, and ``close``
stops what they started, in the reverse order of building.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

if TYPE_CHECKING:  # the concerns import this module for the accessor: no cycle at run time
    from .jobs import JobRunner
    from .limits import Limiter
    from .metrics import Metrics
    from .policy import Policy
    from .readiness import Drain, GlobalReadiness
    from .runtime import Rechecker, TenantResources, TenantRuntimes, ThreadShare, UploadPruner
    from .settings import Settings
    from .store import Store
    from .tenant_readiness import TenantReadiness

EXTENSION = "tenantgate"


@dataclass(frozen=True)
class Services:
    settings: "Settings"
    store: "Store"
    metrics: "Metrics"
    limiter: "Limiter"
    drain: "Drain"
    readiness: "GlobalReadiness"
    tenant_readiness: "TenantReadiness"
    thread_share: "ThreadShare"
    tenants: "TenantRuntimes"
    upload_pruner: "UploadPruner"
    policy: "Policy"
    # Application teams' per-tenant resources (registered before the first request).
    resources: "TenantResources"
    rechecker: "Rechecker"
    jobs: "JobRunner"
    # Scrape-time metric sources (each with ``collect()``), rendered by /metrics.
    collectors: tuple[Any, ...]

    def close(self) -> None:
        """Stop every thread these services started, then close the store."""
        self.jobs.stop()  # before the tenants: a running job may still use its runtime
        self.policy.close()  # settles it could not record yet, its last counts
        self.upload_pruner.stop()
        self.rechecker.stop()
        self.tenants.close()
        self.tenant_readiness.close()
        self.limiter.close()  # its refusal flusher, backend and private slot directory
        self.store.close()


def services() -> Services:
    """The services of the current app (inside a request or an app context)."""
    return current_app.extensions[EXTENSION]


def services_of(app: Flask) -> Services:
    return app.extensions[EXTENSION]
