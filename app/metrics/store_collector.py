"""Scrape-time metrics of the label cap, rendered from the tenant store at each scrape.

Every series with a ``tenant`` label (here and in the other collectors: tenant readiness,
limits, uploads) is built from shared state at each scrape, so a purged tenant's series
vanish and the label count follows the store.
"""
from __future__ import annotations

import logging
from typing import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..settings import Settings
from ..store import Store, StoreUnavailable

log = logging.getLogger(__name__)


class ScrapeCollectors:
    """Every scrape-time collector, in order, as one: a collector that fails costs its own
    families only. The first (the label cap's) is the gate: when the store cannot even
    count its tenants, no tenant series is rendered at all (the others would only wait
    for it too, or render some tenants and not others)."""

    def __init__(self, collectors: Iterable):
        self._collectors = tuple(collectors)

    def describe(self) -> Iterable[Metric]:
        return []  # computed per scrape: nothing to describe ahead

    def collect(self) -> Iterable[Metric]:
        for index, collector in enumerate(self._collectors):
            try:
                yield from collector.collect()
            except StoreUnavailable as exc:
                # The scrape still answers; readiness_check_ok{check="store"} tells the story.
                log.warning("store unavailable during scrape: %s", exc)
                if index == 0:
                    return
            except Exception:  # one broken collector must not take /metrics down with it
                log.exception("scrape-time collector %s failed", type(collector).__name__)


class LabelCapCollector:
    """A scrape-time collector (``collect()``), as prometheus_client's collectors are."""

    def __init__(self, store: Store, settings: Settings):
        self._store = store
        self._settings = settings

    def collect(self) -> Iterable[Metric]:
        limit = GaugeMetricFamily("tenant_labels_limit",
                                  "MAX_TENANT_LABELS: the cap on distinct tenant label values")
        limit.add_metric([], self._settings.max_tenant_labels)
        yield limit
        active = GaugeMetricFamily("tenant_labels_active",
                                   "Registered tenants (distinct tenant label values)")
        active.add_metric([], self._store.tenants.count())
        yield active
        rejections = CounterMetricFamily(
            "tenant_label_rejections", "Tenant creations refused by the label cap")
        rejections.add_metric([], self._store.tenants.label_rejections())
        yield rejections
