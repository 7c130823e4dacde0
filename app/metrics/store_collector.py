"""Scrape-time metrics rendered from the tenant store, exact across workers (and hosts).

Every series with a ``tenant`` label is built here from shared state at each
scrape, so a purged tenant's series vanish and the label count follows the store.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..settings import Settings
from ..store import Store, StoreUnavailable

log = logging.getLogger(__name__)

# Other concerns add per-tenant families: a callable returning metric families.
FamilySource = Callable[[], Iterable[Metric]]


class StoreCollector:
    def __init__(self, store: Store, settings: Settings):
        self._store = store
        self._settings = settings
        self._sources: list[FamilySource] = []

    def add_source(self, source: FamilySource) -> None:
        self._sources.append(source)

    def describe(self) -> Iterable[Metric]:
        # Nothing to pre-describe: families are computed per scrape.
        return []

    def collect(self) -> Iterable[Metric]:
        limit = GaugeMetricFamily("tenant_labels_limit",
                                  "MAX_TENANT_LABELS: the cap on distinct tenant label values")
        limit.add_metric([], self._settings.max_tenant_labels)
        yield limit
        try:
            active_count = self._store.tenants.count()
            rejections_count = self._store.tenants.label_rejections()
        except StoreUnavailable as exc:
            # The scrape still answers; readiness_check_ok{check="store"} tells the story.
            log.warning("store unavailable during scrape: %s", exc)
            return
        active = GaugeMetricFamily("tenant_labels_active",
                                   "Registered tenants (distinct tenant label values)")
        active.add_metric([], active_count)
        yield active
        rejections = CounterMetricFamily(
            "tenant_label_rejections", "Tenant creations refused by the label cap")
        rejections.add_metric([], rejections_count)
        yield rejections
        for source in self._sources:
            try:
                yield from source()
            except StoreUnavailable as exc:
                log.warning("store unavailable during scrape: %s", exc)
            except Exception:  # one broken source must not take /metrics down with it
                log.exception("scrape-time metrics source failed")
