"""Scrape-time metrics of the label cap, rendered from the tenant store at each scrape.

Every series with a ``tenant`` label (here and in the other collectors: tenant readiness,
limits, uploads) is built from shared state at each scrape, so a purged tenant's series
vanish and the label count follows the store.
"""
from __future__ import annotations

from typing import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..settings import Settings
from ..store import Store


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
