"""/metrics: per-process metrics (or all workers' under gunicorn) plus scrape-time collectors."""
from __future__ import annotations

from typing import Iterable

from flask import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from ..openapi import Blueprint
from ..services import services
from .fold_seqlock import StableMultiProcessCollector
from .gc_pause import collector_paused
from .store_collector import ScrapeCollectors
from .text_render import render

bp = Blueprint("metrics", __name__, description="Prometheus exposition")


def build_scrape_registry(app_registry: CollectorRegistry, multiproc_dir: str | None,
                          collectors: Iterable) -> CollectorRegistry:
    """A fresh registry per scrape, so scrape-time collectors are never registered twice."""
    registry = CollectorRegistry(auto_describe=False)
    if multiproc_dir:
        # Sums (or picks, per gauge mode) every worker's values from the shared directory,
        # read again if the master folded dead workers' files meanwhile; when no stable
        # read is possible the scrape answers 503 metrics_unavailable, never wrong values.
        StableMultiProcessCollector(registry, path=multiproc_dir)
    else:
        registry.register(app_registry)
    registry.register(ScrapeCollectors(collectors))
    return registry


@bp.route("/metrics")
@bp.doc(responses={"200": {"description": "Prometheus text exposition format",
                           "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
def metrics():
    """Every metric: this process's (or all workers' under gunicorn) and the scrape-time ones."""
    found = services()
    registry = build_scrape_registry(found.metrics.registry, found.settings.multiproc_dir,
                                     found.collectors)
    with collector_paused():
        body = render(registry)
    return Response(body, content_type=CONTENT_TYPE_LATEST)
