"""Carrying out a plan (plan.py): one transaction per tenant, each with its audit entry.

Each step is decided again inside its own transaction, against the store as it is then:
a step another writer made unnecessary meanwhile becomes ``unchanged``, and a run that
died half-way leaves every tenant either as it was or as its folder says, so applying
the same folder again finishes the work and changes nothing that is already right.
"""
from __future__ import annotations

from typing import Callable, Iterable

from ..errors import api_error_for
from ..settings import Settings
from ..store import LabelCapReached, Store, StoreUnavailable, TenantRecord
from ..tenants.registration import build_record, disable_tenant, make_directories, \
    store_refusals
from .plan import CREATED, DISABLED, FAILED, OVER_CAP, UNCHANGED, UPDATED, BodyProblem, Step, \
    cap_reached, plan, validate

WRITES = (CREATED, UPDATED, OVER_CAP, DISABLED)


def carry_out(store: Store, settings: Settings, steps: Iterable[Step], actor: str,
              report: Callable[[Step], None] = lambda step: None) -> list[Step]:
    """Apply each step; ``report`` hears each outcome as soon as it is committed."""
    done = []
    for step in steps:
        outcome = _one(store, settings, step, actor) if step.outcome in WRITES else step
        report(outcome)
        done.append(outcome)
    return done


def _one(store: Store, settings: Settings, step: Step, actor: str) -> Step:
    try:
        if step.outcome == DISABLED:
            return _disable(store, step.tenant, actor)
        return _put(store, settings, step.record, actor)
    except LabelCapReached:
        return Step(step.tenant, OVER_CAP, detail=cap_reached(settings))
    except StoreUnavailable:
        raise  # every later tenant would fail the same way: stop; a re-run finishes
    except Exception as exc:  # only refusals the API would answer (a 4xx or 503); others go up
        answer = api_error_for(exc)
        if answer is None:
            raise
        details = "".join(f", {k}={v}" for k, v in sorted(answer.extra.items()))
        return Step(step.tenant, FAILED, detail=answer.code + details)


def _put(store: Store, settings: Settings, record: TenantRecord, actor: str) -> Step:
    with store_refusals(store):
        with store.db.write():
            before = store.tenants.get(record.tenant_id)
            if before is not None and not before.changed_fields(record):
                return Step(record.tenant_id, UNCHANGED)
            stored, created = store.tenants.upsert(record, settings.max_tenant_labels)
            baseline = before or build_record(settings, record.tenant_id, {})
            fields = baseline.changed_fields(stored)
            store.audit.record("create" if created else "update", record.tenant_id, fields,
                               actor)
    make_directories(stored)
    return Step(record.tenant_id, CREATED if created else UPDATED, tuple(fields))


def _disable(store: Store, tenant: str, actor: str) -> Step:
    with store.db.write():
        current = store.tenants.get(tenant)
        if current is None or not current.enabled:
            return Step(tenant, UNCHANGED)  # purged or disabled meanwhile: nothing to do
        disable_tenant(store, tenant, actor)
    return Step(tenant, DISABLED, ("enabled",))


def apply_bodies(store: Store, settings: Settings, bodies: dict, *, prune: bool,
                 dry_run: bool, actor: str, report: Callable[[Step], None] = lambda s: None
                 ) -> tuple[list[Step], list[BodyProblem]]:
    """Validate every body, then (unless ``dry_run``) apply them: the steps taken, or the
    problems found and nothing written."""
    records, problems = validate(settings, bodies)
    if problems:
        return [], problems
    steps = plan(store, settings, records, prune)
    if dry_run:
        for step in steps:
            report(step)
        return steps, []
    return carry_out(store, settings, steps, actor, report), []


def succeeded(steps: Iterable[Step]) -> bool:
    """Whether every tenant is as its body says (none refused by the cap or the store)."""
    return not any(step.outcome in (OVER_CAP, FAILED) for step in steps)


def summary(steps: list[Step], dry_run: bool) -> str:
    counts = {}
    for step in steps:
        counts[step.outcome] = counts.get(step.outcome, 0) + 1
    names = {OVER_CAP: "not created (label cap)", FAILED: "not applied"}
    parts = [f"{counts[o]} {names.get(o, o)}" for o in
             (CREATED, UPDATED, UNCHANGED, DISABLED, OVER_CAP, FAILED) if counts.get(o)]
    text = f"{len(steps)} tenants: " + (", ".join(parts) or "nothing to do")
    return text + ("; dry run, nothing written" if dry_run else "")
