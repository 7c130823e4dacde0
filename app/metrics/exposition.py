"""/metrics: per-process metrics (or all workers' under gunicorn) plus scrape-time collectors."""
from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

bp = Blueprint("metrics", __name__)


def build_scrape_registry(app_registry: CollectorRegistry, multiproc_dir: str | None,
                          collectors: list) -> CollectorRegistry:
    """A fresh registry per scrape, so scrape-time collectors are never registered twice."""
    registry = CollectorRegistry(auto_describe=False)
    if multiproc_dir:
        # Sums (or picks, per gauge mode) every worker's values from the shared directory.
        MultiProcessCollector(registry, path=multiproc_dir)
    else:
        registry.register(app_registry)
    for collector in collectors:
        registry.register(collector)
    return registry


@bp.route("/metrics")
def metrics():
    ext = current_app.extensions
    settings = ext["tenantgate.settings"]
    registry = build_scrape_registry(ext["tenantgate.metrics"].registry,
                                     settings.multiproc_dir,
                                     ext.get("tenantgate.scrape_collectors", []))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
