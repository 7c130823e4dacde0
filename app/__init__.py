"""Tenantgate: one Flask/WSGI deployment hosting many tenants safely.

``create_app`` is the composition root: it reads the settings, builds every service once
in dependency order (``build_services``), stores them under one key, and lets each
concern wire its routes and hooks with the same ``init_app(app, services)``.
"""
from __future__ import annotations

import functools
import time
from typing import Any, Mapping

from flask import Flask
from prometheus_client import CollectorRegistry

from . import admin, chaos, metrics, readiness, runtime, tenant_readiness
from .errors import register_error_handlers
from .flask_app import TenantgateFlask
from .jobs import JobCollector, JobExecution, JobKinds, JobRunner
from .limits import LimitCollector, open_limiter
from .metrics import LabelCapCollector, Metrics
from .openapi import init_api
from .policy import Policy, PolicyCollector
from .readiness import Drain, GlobalReadiness, global_checks
from .request_body import init_request_body
from .request_limits import init_request_limits
from .runtime import (HealthStateCollector, Rechecker, RuntimeFactory, TenantResources,
                      TenantRuntimes, ThreadShare, UploadCollector, UploadPruner)
from .services import EXTENSION, Services, services_of
from .settings import Settings, is_setting, load_settings
from .store import open_store
from .tenant_readiness import TenantReadiness, TenantReadinessCollector


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build an app: settings (environment, then ``config``), services, concerns."""
    config = dict(config or {})
    settings: Settings = load_settings(overrides=config)
    app = TenantgateFlask(__name__, static_folder=None)
    app.config.update({k: v for k, v in config.items() if not is_setting(k)})
    services = build_services(settings, app)
    app.extensions[EXTENSION] = services

    init_api(app, services)
    # In this order: it is the order of the paths in the OpenAPI document.
    for concern in (readiness, tenant_readiness, admin, runtime, chaos, metrics):
        concern.init_app(app, services)
    # After the Api: our handlers replace flask-smorest's so every error has one shape.
    register_error_handlers(app, services)
    init_request_limits(app, services)
    init_request_body(app, services)
    return app


def build_services(settings: Settings, app: Flask) -> Services:
    """Every service, once, each built from the ones before it."""
    store = open_store(settings)
    the_metrics = Metrics(CollectorRegistry(auto_describe=True))
    limiter = open_limiter(settings, store)
    drain = Drain()
    global_readiness = GlobalReadiness(global_checks(store, drain), the_metrics)
    # Asked only once the tenant's row (or the scrape's rows) was read from the store.
    service = TenantReadiness(store, settings,
                              functools.partial(global_readiness.is_ready, after_store_read=True))
    resources = TenantResources()
    factory = RuntimeFactory(settings, store, limiter, app.app_context, resources)
    tenants = TenantRuntimes(store, settings, factory)
    kinds = JobKinds()
    jobs = JobRunner(store, settings,
                     JobExecution(store, settings, kinds, tenants, limiter, app.app_context),
                     kinds)
    # POLICY_CLOCK (a config key, not a setting): tests move the UTC day with it.
    policy = Policy(store, settings, app.config.get("POLICY_CLOCK", time.time))
    return Services(
        settings=settings, store=store, metrics=the_metrics, limiter=limiter, drain=drain,
        readiness=global_readiness, tenant_readiness=service,
        thread_share=ThreadShare(settings.tenant_thread_share),
        tenants=tenants,
        upload_pruner=UploadPruner(store, settings), policy=policy,
        resources=resources,
        rechecker=Rechecker(tenants, store, settings, the_metrics.tenant_rechecks),
        jobs=jobs,
        collectors=(LabelCapCollector(store, settings),
                    TenantReadinessCollector(store, settings, service),
                    UploadCollector(store, settings),
                    LimitCollector(store, settings, limiter),
                    HealthStateCollector(store, settings),
                    JobCollector(store, settings),
                    PolicyCollector(store, settings, policy)))


def close_app(app: Flask) -> None:
    """Stop what the app started in this process (every thread), then close its store."""
    services_of(app).close()
