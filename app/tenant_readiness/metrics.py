"""Tenant readiness metrics, rendered from the store at every scrape."""
from __future__ import annotations

from typing import Iterable

from prometheus_client.core import HistogramMetricFamily, Metric

from ..metrics.store_families import StoreFamilies
from ..metrics.text_family import TextFamily
from ..settings import Settings
from ..store import Store
from .service import DURATION_BUCKETS, TenantReadiness


class TenantReadinessCollector:
    """A scrape-time collector (``collect()``), as prometheus_client's collectors are."""

    def __init__(self, store: Store, settings: Settings, service: TenantReadiness):
        self._store = store
        self._settings = settings
        self._service = service
        self._rows = StoreFamilies(store)
        self._kept: tuple[list, list, list[Metric]] | None = None

    def collect(self) -> Iterable[Metric]:
        # At most MAX_TENANT_LABELS tenants, even if the cap was lowered below the count.
        limit = self._settings.max_tenant_labels
        rows = self._rows.get(lambda: self._store.tenant_readiness.first(limit))
        # Resolved at every scrape: a status follows global readiness, not the store alone.
        statuses = self._service.current(rows)
        kept = self._kept
        if kept is None or kept[0] is not rows or kept[1] != statuses:
            kept = self._kept = (rows, statuses, self._families(rows, statuses))
        yield from kept[2]  # the same rows and statuses render alike
        if self._settings.tenant_readiness_histogram:
            yield self._durations([row.tenant_id for row in rows])

    def _families(self, rows, statuses) -> list[Metric]:
        state = TextFamily("tenant_readiness_state", "Tenant readiness: 1 ready, 0 otherwise",
                           "gauge", ["tenant"])
        transitions = TextFamily("tenant_readiness_transitions",
                                 "Changes of a tenant's effective readiness status", "counter",
                                 ["tenant"])
        state.extend(((row.tenant_id,), 1 if status.ready else 0)
                     for row, status in zip(rows, statuses))
        # The status just recorded may have added one transition to the stored count.
        transitions.extend(((row.tenant_id,), row.transitions + _new_transition(row, status))
                           for row, status in zip(rows, statuses))
        return [state, transitions]

    def _durations(self, tenant_ids: list[str]) -> Metric:
        family = HistogramMetricFamily(
            "tenant_readiness_check_duration_seconds",
            "Time to resolve a tenant's readiness", labels=["tenant"])
        for tenant, values in self._store.tenant_readiness.durations(tenant_ids).items():
            cumulative, buckets = 0.0, []
            for index, bound in enumerate(DURATION_BUCKETS):
                cumulative += values.get(index, 0.0)
                buckets.append((repr(float(bound)), cumulative))
            cumulative += values.get(len(DURATION_BUCKETS), 0.0)
            buckets.append(("+Inf", cumulative))
            family.add_metric([tenant], buckets, values.get(-1, 0.0))
        return family


def _new_transition(row, status) -> int:
    return 1 if row.status is not None and row.status != status.status else 0
