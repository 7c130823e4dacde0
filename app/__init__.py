"""Tenantgate: one Flask/WSGI deployment hosting many tenants safely."""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask

from . import admin, chaos, limits, metrics, readiness, runtime, store, tenant_readiness
from .errors import register_error_handlers
from .openapi import init_api
from .request_body import init_request_body
from .request_limits import init_request_limits
from .settings import Settings, is_setting, load_settings

BACKGROUND_PERMIT_WAIT = 1.0  # seconds a background job waits per attempt for a permit


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build an app: settings (environment, then ``config``), store, metrics, blueprints."""
    config = dict(config or {})
    settings: Settings = load_settings(overrides=config)
    app = Flask(__name__, static_folder=None)
    app.config.update({k: v for k, v in config.items() if not is_setting(k)})
    app.extensions["tenantgate.settings"] = settings

    the_store = store.init_app(app, settings)
    the_metrics = metrics.init_app(app, the_store, settings)
    global_readiness = readiness.init_app(app, the_store, the_metrics)
    tenant_readiness.init_app(app, the_store, settings, global_readiness,
                              app.extensions["tenantgate.store_collector"])

    api = init_api(app, settings)
    api.register_blueprint(readiness.blp)
    api.register_blueprint(tenant_readiness.blp)
    api.register_blueprint(admin.blp)
    tenant_host = runtime.init_app(app, the_store, settings, api)
    limiter = limits.init_app(app, the_store, settings,
                              app.extensions["tenantgate.store_collector"])
    # Background work (upload processing) waits for its permit instead of failing.
    tenant_host.builder.permits = lambda record, name: limiter.hold(
        record.tenant_id, record.limits, name, wait_seconds=BACKGROUND_PERMIT_WAIT)
    if settings.chaos_enabled:
        chaos.init_app(app, api)
    app.cli.add_command(admin.tenants_cli)
    api.register_blueprint(metrics.bp)

    # After Api(): our handlers replace flask-smorest's so every error has one shape.
    register_error_handlers(app)
    init_request_limits(app, settings)
    init_request_body(app)
    return app


def close_app(app: Flask) -> None:
    """Stop what the app started in this process: tenant runtimes (their threads), the store."""
    app.extensions["tenantgate.tenant_host"].close()
    app.extensions["tenantgate.tenant_readiness"].close()
    app.extensions["tenantgate.upload_pruner"].stop()
    app.extensions["tenantgate.limiter"].close()  # and its private slot directory, if any
    app.extensions["tenantgate.store"].close()
