"""Job metrics, rendered from the store at every scrape (the same on every host)."""
from __future__ import annotations

import time
from typing import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from ..metrics.store_families import StoreFamilies
from ..metrics.text_family import TextFamily
from ..settings import Settings
from ..store import Store
from ..store.jobs import PENDING


class JobCollector:
    def __init__(self, store: Store, settings: Settings, clock=time.time):
        self._store = store
        self._settings = settings
        self._clock = clock
        self._kept = StoreFamilies(store)

    def collect(self) -> Iterable[Metric]:
        yield from self._kept.get(self._tenant_families)
        oldest = self._store.jobs.oldest_queued_at()
        age = GaugeMetricFamily(
            "jobs_oldest_queued_seconds",
            "Age of the oldest queued job of an enabled tenant (0: none queued)")
        age.add_metric([], max(0.0, self._clock() - oldest) if oldest is not None else 0.0)
        yield age

    def _tenant_families(self) -> Iterable[Metric]:
        tenants = [r.tenant_id for r in self._store.labelled_tenants(
            self._settings.max_tenant_labels)]
        counts = self._store.jobs.pending_counts(tenants)
        failed = self._store.jobs.failed_totals(tenants)
        jobs = TextFamily("tenant_jobs", "A tenant's jobs not finished yet, by state", "gauge",
                          ["tenant", "state"])
        failures = TextFamily("tenant_jobs_failed",
                              "A tenant's jobs that ended failed (every try used)", "counter",
                              ["tenant"])
        jobs.extend(((tenant, state), counts.get((tenant, state), 0))
                    for tenant in tenants for state in PENDING)
        failures.extend(((tenant,), failed.get(tenant, 0)) for tenant in tenants)
        yield jobs
        yield failures
