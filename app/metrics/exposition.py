"""/metrics: per-process metrics (or all workers' under gunicorn) plus scrape-time collectors."""
from __future__ import annotations

from flask import Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ..openapi import Blueprint
from .fold_seqlock import StableMultiProcessCollector

bp = Blueprint("metrics", __name__, description="Prometheus exposition")


def build_scrape_registry(app_registry: CollectorRegistry, multiproc_dir: str | None,
                          collectors: list) -> CollectorRegistry:
    """A fresh registry per scrape, so scrape-time collectors are never registered twice."""
    registry = CollectorRegistry(auto_describe=False)
    if multiproc_dir:
        # Sums (or picks, per gauge mode) every worker's values from the shared directory,
        # read again if the master folded dead workers' files meanwhile; when no stable
        # read is possible the scrape answers 503 metrics_unavailable, never wrong values.
        StableMultiProcessCollector(registry, path=multiproc_dir)
    else:
        registry.register(app_registry)
    for collector in collectors:
        registry.register(collector)
    return registry


@bp.route("/metrics")
@bp.doc(responses={"200": {"description": "Prometheus text exposition format",
                           "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
def metrics():
    """Every metric: this process's (or all workers' under gunicorn) and the scrape-time ones."""
    ext = current_app.extensions
    settings = ext["tenantgate.settings"]
    registry = build_scrape_registry(ext["tenantgate.metrics"].registry,
                                     settings.multiproc_dir,
                                     ext.get("tenantgate.scrape_collectors", []))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
