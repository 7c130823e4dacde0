"""HTTP request metrics from prometheus-flask-exporter, labelled by route template."""
from __future__ import annotations

from flask import Flask, Request
from prometheus_client import CollectorRegistry
from prometheus_flask_exporter import PrometheusMetrics


def route(request: Request) -> str:
    """The matched URL rule (never the raw path, which a client could vary without bound)."""
    rule = request.url_rule
    return rule.rule if rule is not None else "<unmatched>"


def init_http_metrics(app: Flask, registry: CollectorRegistry) -> PrometheusMetrics:
    # path=None: /metrics is served by our own view, which adds the scrape-time collectors.
    return PrometheusMetrics(app, path=None, registry=registry, group_by=route,
                             defaults_prefix="flask")
