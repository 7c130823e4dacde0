"""Policy metrics rendered at scrape time from the store (the same on every host).

Counts are written in batches (app/policy/counts.py); this worker's are flushed before
the store is read, the other workers' are at most FLUSH_SECONDS late.
"""
from __future__ import annotations

from typing import Iterable

from prometheus_client.core import Metric

from ..metrics.store_families import StoreFamilies
from ..metrics.text_family import TextFamily
from ..settings import Settings
from ..store import Store
from .money import usd
from .refusals import utc_day
from .spend import Policy


class PolicyCollector:
    """A scrape-time collector (``collect()``), as prometheus_client's collectors are."""

    def __init__(self, store: Store, settings: Settings, policy: Policy):
        self._store = store
        self._settings = settings
        self._policy = policy
        self._kept = StoreFamilies(store)

    def collect(self) -> Iterable[Metric]:
        self._policy.counts.flush()
        records = self._store.labelled_tenants(self._settings.max_tenant_labels)
        allowed = {r.tenant_id for r in records}
        now = self._policy.clock()
        states = self._store.budgets.states(sorted(allowed), utc_day(now), int(now * 1000))
        yield from self._budgets(states)  # held spend expires with time: never kept
        yield from self._kept.get(self._counts)

    def _counts(self) -> Iterable[Metric]:
        records = self._store.labelled_tenants(self._settings.max_tenant_labels)
        allowed = {r.tenant_id for r in records}
        rejections = TextFamily("tenant_budget_rejections", "Spends refused by a tenant's budget",
                                "counter", ["tenant", "scope"])
        for (tenant, scope), count in sorted(self._store.budgets.rejections().items()):
            if tenant in allowed:
                rejections.add((tenant, scope), count)
        yield rejections
        requests = TextFamily(
            "tenant_model_requests", "Model spends by effective tenant, workspace and outcome",
            "counter", ["tenant", "workspace", "model", "outcome"])
        for key, count in sorted(self._store.budgets.model_requests().items()):
            if key[0] in allowed:
                requests.add(key, count)
        yield requests

    def _budgets(self, states) -> Iterable[Metric]:
        spent = TextFamily("tenant_spend_usd", "USD a tenant's spends settled, ever", "counter",
                           ["tenant"])
        cap = TextFamily("tenant_budget_daily_cap_usd", "A tenant's daily cap in USD", "gauge",
                         ["tenant"])
        remaining = TextFamily(
            "tenant_budget_remaining_usd",
            "USD a tenant may still reserve today (UTC): cap - settled - held", "gauge",
            ["tenant"])
        for tenant, state in sorted(states.items()):
            spent.add((tenant,), usd(state.total_micros))
            if state.cap_micros is not None:
                cap.add((tenant,), usd(state.cap_micros))
                remaining.add((tenant,), usd(state.remaining_micros))
        yield spent
        yield cap
        yield remaining
