"""/metrics: per-process metrics (or all workers' under gunicorn) plus scrape-time collectors."""
from __future__ import annotations

import logging
from typing import Iterable

from flask import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import Metric

from ..openapi import Blueprint
from ..services import services
from ..store import StoreUnavailable
from .fold_seqlock import StableMultiProcessCollector

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__, description="Prometheus exposition")


class Guarded:
    """A scrape-time collector whose failure costs its own families only, never the scrape."""

    def __init__(self, collector):
        self._collector = collector

    def describe(self) -> Iterable[Metric]:
        return []  # computed per scrape: nothing to describe ahead

    def collect(self) -> Iterable[Metric]:
        try:
            yield from self._collector.collect()
        except StoreUnavailable as exc:
            # The scrape still answers; readiness_check_ok{check="store"} tells the story.
            log.warning("store unavailable during scrape: %s", exc)
        except Exception:  # one broken collector must not take /metrics down with it
            log.exception("scrape-time collector %s failed", type(self._collector).__name__)


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
    for collector in collectors:
        registry.register(Guarded(collector))
    return registry


@bp.route("/metrics")
@bp.doc(responses={"200": {"description": "Prometheus text exposition format",
                           "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
def metrics():
    """Every metric: this process's (or all workers' under gunicorn) and the scrape-time ones."""
    found = services()
    registry = build_scrape_registry(found.metrics.registry, found.settings.multiproc_dir,
                                     found.collectors)
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
