"""Metrics concern: metric definitions, HTTP metrics, and the /metrics exposition."""
from __future__ import annotations

from flask import Flask
from prometheus_client import CollectorRegistry

from .definitions import Metrics
from .exposition import bp
from .http import init_http_metrics

__all__ = ["Metrics", "bp", "init_app"]


def init_app(app: Flask) -> Metrics:
    registry = CollectorRegistry(auto_describe=True)
    metrics = Metrics(registry)
    init_http_metrics(app, registry)
    app.extensions["tenantgate.metrics"] = metrics
    app.extensions.setdefault("tenantgate.scrape_collectors", [])
    return metrics
