"""What applying a set of tenant bodies would change: validated first, then compared.

``validate`` runs every body through the admin API's own schema (so a folder accepts
exactly what ``PUT /admin/tenants/<t>`` accepts) and resolves its directories, returning
complete records or every problem found, never a mix. ``plan`` compares those records
with the store: one step per tenant, in tenant order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from marshmallow import ValidationError

from ..admin.schemas import TenantPutSchema
from ..errors import ApiError
from ..settings import Settings
from ..store import Store, TenantRecord
from ..store.tenants import directories_overlap
from ..tenants.ids import is_valid_id
from ..tenants.registration import build_record
from .folders import BAD_ID

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"
DISABLED, OVER_CAP, FAILED = "disabled", "over_cap", "failed"


@dataclass(frozen=True)
class BodyProblem:
    """A problem in one tenant's body: ``field`` is a path such as ``limits.ocr``."""

    tenant: str | None
    field: str | None
    message: str

    def as_dict(self) -> dict:
        return {"tenant": self.tenant, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class Step:
    tenant: str
    outcome: str
    fields: tuple[str, ...] = ()
    record: TenantRecord | None = field(default=None, compare=False, repr=False)
    detail: str | None = None

    def line(self) -> str:
        if self.outcome == UPDATED:
            return f"{self.tenant}: updated: {', '.join(self.fields)}"
        if self.outcome == DISABLED:
            return f"{self.tenant}: disabled (no folder)"
        if self.outcome == OVER_CAP:
            return f"{self.tenant}: not created: {self.detail}"
        if self.outcome == FAILED:
            return f"{self.tenant}: not applied: {self.detail}"
        return f"{self.tenant}: {self.outcome}"

    def as_dict(self) -> dict:
        answer = {"tenant": self.tenant, "outcome": self.outcome, "fields": list(self.fields)}
        if self.detail:
            answer["detail"] = self.detail
        return answer


def validate(settings: Settings, bodies: Mapping[str, Any]
             ) -> tuple[dict[str, TenantRecord], list[BodyProblem]]:
    """Complete records for every body, or (if any is invalid) every problem found."""
    records: dict[str, TenantRecord] = {}
    problems: list[BodyProblem] = []
    for tenant in sorted(bodies):
        if not is_valid_id(tenant):
            problems.append(BodyProblem(tenant, None, BAD_ID))
            continue
        record, found = _one(settings, tenant, bodies[tenant])
        problems.extend(found)
        if record is not None:
            records[tenant] = record
    problems.extend(_clashes(records))
    return ({} if problems else records), problems


def _one(settings: Settings, tenant: str, body: Any
         ) -> tuple[TenantRecord | None, list[BodyProblem]]:
    if not isinstance(body, dict):
        return None, [BodyProblem(tenant, None, "must be a mapping of field: value")]
    try:
        loaded = TenantPutSchema().load(body)
    except ValidationError as exc:
        return None, [BodyProblem(tenant, path, message)
                      for path, message in _flatten(exc.messages)]
    try:
        return build_record(settings, tenant, loaded), []
    except ApiError as exc:  # a directory outside TENANT_DATA_ROOT, or not a usable path
        return None, [BodyProblem(tenant, exc.extra.get("field"), _describe(exc.code))]


def _describe(code: str) -> str:
    return {"path_outside_data_root": "must stay inside TENANT_DATA_ROOT",
            "invalid_path": "not a usable path"}.get(code, code)


def _flatten(messages: Any, path: str = "") -> list[tuple[str | None, str]]:
    """Marshmallow's nested messages as (field path, message) pairs."""
    if isinstance(messages, dict):
        found = []
        for key, inner in messages.items():
            if key == "_schema":
                found.extend(_flatten(inner, path))
            elif isinstance(key, int):
                found.extend(_flatten(inner, f"{path}[{key}]"))
            else:
                found.extend(_flatten(inner, f"{path}.{key}" if path else str(key)))
        return found
    if isinstance(messages, list):
        return [pair for item in messages for pair in _flatten(item, path)]
    return [(path or None, str(messages).rstrip("."))]


def _clashes(records: Mapping[str, TenantRecord]) -> list[BodyProblem]:
    """Two tenants of one folder claiming one host or overlapping directories: the store
    would refuse the second one half-way through, so it is refused before anything."""
    problems, hosts = [], {}
    for tenant, record in records.items():
        for index, host in enumerate(record.hosts):
            if host in hosts:
                problems.append(BodyProblem(tenant, f"hosts[{index}]",
                                            f"{host} is also a host of {hosts[host]}"))
            hosts.setdefault(host, tenant)
    ordered = list(records.values())
    for position, record in enumerate(ordered):
        for earlier in ordered[:position]:
            for name in ("data_dir", "uploads_dir"):
                mine = getattr(record, name)
                if directories_overlap(mine, earlier.data_dir) or \
                        directories_overlap(mine, earlier.uploads_dir):
                    problems.append(BodyProblem(record.tenant_id, name,
                                                f"overlaps a directory of {earlier.tenant_id}"))
    return problems


def plan(store: Store, settings: Settings, records: Mapping[str, TenantRecord],
         prune: bool) -> list[Step]:
    """One step per tenant: what applying ``records`` would do to the store now."""
    stored = {r.tenant_id: r for r in store.tenants.list()}
    room = settings.max_tenant_labels - len(stored)
    steps = []
    for tenant in sorted(set(records) | (set(stored) if prune else set())):
        record, before = records.get(tenant), stored.get(tenant)
        if record is None:
            if before.enabled:
                steps.append(Step(tenant, DISABLED, ("enabled",)))
        elif before is None:
            if room <= 0:
                steps.append(Step(tenant, OVER_CAP, record=record, detail=cap_reached(settings)))
            else:
                room -= 1
                steps.append(Step(tenant, CREATED, tuple(_created_fields(settings, record)),
                                  record))
        else:
            changed = before.changed_fields(record)
            steps.append(Step(tenant, UPDATED if changed else UNCHANGED, tuple(changed),
                              record))
    return steps


def _created_fields(settings: Settings, record: TenantRecord) -> list[str]:
    return build_record(settings, record.tenant_id, {}).changed_fields(record)


def cap_reached(settings: Settings) -> str:
    return f"the label cap of {settings.max_tenant_labels} tenants (MAX_TENANT_LABELS) is reached"
