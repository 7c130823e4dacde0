"""``tenant_spend``: a model call admitted by its tenant's policy, and paid for once.

The allow-list and the per-request cap are checked against the tenant's config; the
daily cap by a reservation taken atomically in the store (app/store/budgets.py). The
reservation is settled (the estimate, or what ``charge.settle`` says) when the block
ends normally and released when it ends by an exception — a client that disconnects
ends it the same way — and, if the whole process dies, it stops counting when its lease
runs out (app/policy/leases.py).
"""
from __future__ import annotations

import logging
import time
import uuid
from contextlib import contextmanager
from typing import Callable, Iterator

from flask import g, has_request_context

from ..runtime.context import TenantContext, current_tenant
from ..services import services
from ..settings import Settings
from ..store import Store, StoreUnavailable, TenantRecord
from .counts import PolicyCounts
from .labels import model_label, workspace_label
from .leases import LeaseKeeper, PendingSettle
from .money import micros_up, usd
from .refusals import BudgetExceeded, ModelNotAllowed, utc_day

log = logging.getLogger(__name__)


class Charge:
    """What a spend costs: the estimate unless ``settle`` says otherwise (once)."""

    def __init__(self, tenant: str, model: str, estimate_micros: int):
        self.tenant = tenant
        self.model = model
        self.estimate_micros = estimate_micros
        self.actual_micros: int | None = None

    @property
    def estimate_usd(self) -> float:
        return usd(self.estimate_micros)

    def settle(self, actual_usd: float) -> None:
        """The spend's real cost (>= 0), recorded when the block ends; above the estimate
        it is recorded all the same, and reported as an overshoot."""
        self.actual_micros = micros_up(actual_usd)


class Policy:
    """The tenant policy of one process: its leases, its batched counts, its clock."""

    def __init__(self, store: Store, settings: Settings,
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock
        self.leases = LeaseKeeper(store, settings.lease_seconds, clock)
        self.counts = PolicyCounts(store)

    def remaining_micros(self, tenant: str) -> int | None:
        """What the tenant may still reserve today; None: it has no daily cap."""
        now = self.clock()
        state = self.store.budgets.states([tenant], utc_day(now), int(now * 1000)).get(tenant)
        return None if state is None else state.remaining_micros

    def close(self) -> None:
        self.leases.stop()
        self.counts.stop()

    @contextmanager
    def spend(self, context: TenantContext, record: TenantRecord | None, model: str,
              estimate_usd: float) -> Iterator[Charge]:
        allowed = None if record is None else record.allowed_models
        labels = (context.tenant, workspace_label(context.workspace),
                  model_label(model, allowed))
        charge = Charge(context.tenant, model, micros_up(estimate_usd))
        reservation = uuid.uuid4().hex
        day = self._admit(record, labels, charge, reservation)
        try:
            yield charge
        except BaseException:
            self._release(context.tenant, reservation)
            self.counts.request(*labels, "released")
            raise
        self._settle(context.tenant, reservation, day, charge, labels)

    def _admit(self, record: TenantRecord | None, labels: tuple, charge: Charge,
               reservation: str) -> str:
        tenant = charge.tenant
        if record is not None and record.allowed_models is not None \
                and charge.model not in record.allowed_models:
            self.counts.request(*labels, "model_not_allowed")
            raise ModelNotAllowed(tenant, charge.model)
        limit = None if record is None else record.max_request_micros
        if limit is not None and charge.estimate_micros > limit:
            self._refused(labels, "request")
            raise BudgetExceeded(tenant, "request", limit_micros=limit)
        now = self.clock()
        day, now_ms = utc_day(now), int(now * 1000)
        if record is None or record.daily_cap_micros is None:
            # No daily cap in the config this request runs with: nothing to reserve, no
            # write lock to take (the settle still records the spend).
            return day
        admission = self.store.budgets.reserve(tenant, reservation, day, charge.estimate_micros,
                                               now_ms, now_ms + self.leases.lease_ms)
        if not admission.admitted:
            self._refused(labels, "daily")
            raise BudgetExceeded(tenant, "daily", remaining_micros=admission.remaining_micros,
                                 now=now)
        if admission.cap_micros is not None:
            self.leases.hold((tenant, reservation))
        return day

    def _refused(self, labels: tuple, scope: str) -> None:
        self.counts.rejection(labels[0], scope)
        self.counts.request(*labels, "budget_exceeded")

    def _settle(self, tenant: str, reservation: str, day: str, charge: Charge,
                labels: tuple) -> None:
        actual = charge.estimate_micros if charge.actual_micros is None else charge.actual_micros
        overshoot = actual > charge.estimate_micros
        if overshoot:
            log.warning("tenant %s: spend on %s settled at %d micro-USD above its estimate",
                        tenant, labels[2], actual - charge.estimate_micros)
        key = (tenant, reservation)
        try:
            self.store.budgets.settle(tenant, reservation, day, actual, self.leases.now_ms())
        except StoreUnavailable as exc:
            # The model was called: the spend must be recorded. The reservation stays
            # held (renewed) until a retry records it.
            log.warning("tenant %s: spend recorded later: %s", tenant, exc)
            self.leases.settle_later(key, PendingSettle(day, actual))
        except BaseException:
            self.leases.drop(key)  # not renewed for ever: it lapses within the lease
            raise
        else:
            self.leases.drop(key)
        self.counts.request(*labels, "overshoot" if overshoot else "settled")

    def _release(self, tenant: str, reservation: str) -> None:
        self.leases.drop((tenant, reservation))
        try:
            self.store.budgets.release(tenant, reservation)
        except StoreUnavailable as exc:  # no longer renewed: it lapses within the lease
            log.warning("tenant %s: reservation left to its lease: %s", tenant, exc)


def _record(context: TenantContext, found) -> TenantRecord | None:
    # In a tenant request the runtime holds the record, in step with the store.
    runtime = g.get("tenant_runtime") if has_request_context() else None
    if runtime is not None and runtime.tenant == context.tenant:
        return runtime.record
    return found.store.tenants.get(context.tenant)


@contextmanager
def tenant_spend(model: str, estimate_usd: float) -> Iterator[Charge]:
    """Spend on ``model`` under the current tenant's policy (contract sec. 14).

    Raises ModelNotAllowed or BudgetExceeded before the block runs; yields a Charge
    whose ``settle(actual_usd)`` records the real cost (default: the estimate).
    """
    found = services()
    context = current_tenant("policy")
    with found.policy.spend(context, _record(context, found), model, estimate_usd) as charge:
        yield charge
