"""Tenantgate: one Flask/WSGI deployment hosting many tenants safely."""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask
from flask_smorest import Api

from . import metrics, readiness, store
from .errors import register_error_handlers
from .request_limits import init_request_limits
from .settings import Settings, is_setting, load_settings

API_SPEC = {
    "API_TITLE": "Tenantgate",
    "API_VERSION": "1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build an app: settings (environment, then ``config``), store, metrics, blueprints."""
    config = dict(config or {})
    settings: Settings = load_settings(overrides=config)
    app = Flask(__name__)
    app.config.update(API_SPEC)
    app.config.update({k: v for k, v in config.items() if not is_setting(k)})
    app.extensions["tenantgate.settings"] = settings

    the_store = store.init_app(app, settings)
    the_metrics = metrics.init_app(app)
    readiness.init_app(app, the_store, the_metrics)

    api = Api(app)
    api.register_blueprint(readiness.blp)
    app.register_blueprint(metrics.bp)

    # After Api(): our handlers replace flask-smorest's so every error has one shape.
    register_error_handlers(app)
    init_request_limits(app, settings)
    return app
