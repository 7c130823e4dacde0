"""The peers' HTTP metrics: prometheus-flask-exporter in multiprocess mode, as for gunicorn.

They record the series Tenantgate records (the same names; the duration labelled by
the matched route, so that tenant ids in paths cannot grow the label set) and serve
/metrics on the app itself, as Tenantgate does. Import only where
PROMETHEUS_MULTIPROC_DIR is set (the exporter refuses to start otherwise).
"""
from flask import Flask, Request
from prometheus_flask_exporter.multiprocess import GunicornInternalPrometheusMetrics


def route(request: Request) -> str:
    """The duration's ``route`` label: the URL rule, never the raw path."""
    return request.url_rule.rule if request.url_rule is not None else "<unmatched>"


def instrument(app: Flask) -> GunicornInternalPrometheusMetrics:
    return GunicornInternalPrometheusMetrics(app, group_by=route)
