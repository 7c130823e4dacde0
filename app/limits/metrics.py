"""Limit metrics rendered at scrape time: in-flight straight from the slot files,
refusals from the store; tenant series only for tenants in the store."""
from __future__ import annotations

from typing import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from ..metrics.store_families import StoreFamilies
from ..metrics.text_family import TextFamily
from ..settings import Settings
from ..store import Store
from .limiter import Limiter
from .local import GLOBAL_OWNER
from .names import tenant_limits


class LimitCollector:
    """A scrape-time collector (``collect()``), as prometheus_client's collectors are."""

    def __init__(self, store: Store, settings: Settings, limiter: Limiter):
        self._store = store
        self._settings = settings
        self._limiter = limiter
        self._kept = StoreFamilies(store)
        self._wanted: tuple[object, list[tuple[str, str, int]]] = (None, [])
        self._inflight: tuple[list, list[int], TextFamily] | None = None

    def collect(self) -> Iterable[Metric]:
        capacity = GaugeMetricFamily("global_limit_capacity", "Server-wide limit capacity",
                                     labels=["limit"])
        inflight = GaugeMetricFamily("global_limit_inflight", "Server-wide permits held now",
                                     labels=["limit"])
        limits = sorted(self._settings.global_limits.items())
        self._limiter.counter.flush()  # this worker's pending refusals, before reading
        wanted = self._tenant_wanted()
        # Every permit count of the scrape in one read (one read of pg_locks with
        # LIMIT_BACKEND=postgres): global and tenant series show the same moment.
        held = self._inflight_many([(GLOBAL_OWNER, name, cap) for name, cap in limits] + wanted)
        for (name, cap), count in zip(limits, held):
            capacity.add_metric([name], cap)
            inflight.add_metric([name], count)
        yield capacity
        yield inflight
        yield self._tenant_inflight(wanted, held[len(limits):])
        yield from self._kept.get(self._rejections)

    def _inflight_many(self, wanted: list[tuple[str, str, int]]) -> list[int]:
        backend = self._limiter.backend
        many = getattr(backend, "inflight_many", None)  # a backend that counts all at once
        if many is not None:
            return many(wanted)
        return [backend.inflight(owner, name, cap) for owner, name, cap in wanted]

    def _tenant_wanted(self) -> list[tuple[str, str, int]]:
        records = self._store.labelled_tenants(self._settings.max_tenant_labels)
        if self._wanted[0] is not records:  # the same list while tenant state is unchanged
            self._wanted = (records, [(r.tenant_id, name, cap) for r in records
                                      for name, cap in sorted(tenant_limits(r.limits).items())])
        return self._wanted[1]

    def _tenant_inflight(self, wanted: list[tuple[str, str, int]], held: list[int]) -> Metric:
        kept = self._inflight
        if kept is None or kept[0] is not wanted or kept[1] != held:
            inflight = TextFamily("tenant_limit_inflight", "Tenant permits held now", "gauge",
                                  ["tenant", "limit"])
            inflight.extend(((tenant, name), count)
                            for (tenant, name, _), count in zip(wanted, held))
            kept = self._inflight = (wanted, held, inflight)  # the same counts show alike
        return kept[2]

    def _rejections(self) -> Iterable[Metric]:
        records = self._store.labelled_tenants(self._settings.max_tenant_labels)
        allowed = {r.tenant_id for r in records}
        rejections = TextFamily("tenant_limit_rejections",
                                "Requests refused by a concurrency limit", "counter",
                                ["tenant", "limit", "scope"])
        for (tenant, limit, scope), count in sorted(self._store.limits.rejections().items()):
            if tenant in allowed:
                rejections.add((tenant, limit, scope), count)
        yield rejections
