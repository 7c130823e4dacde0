"""Creating and changing tenants: one path for the admin API, set_ready, the CLI and apply.

Every creation goes through the store's atomic cap; every refusal by the cap is
counted in ``tenant_label_rejections_total``, wherever it came from. Every change is
written to the audit log in the transaction that makes it, with the actor that asked.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..settings import Settings
from ..store import LabelCapReached, Store, TenantRecord
from .paths import data_root, resolve_inside

log = logging.getLogger(__name__)


def build_record(settings: Settings, tenant_id: str, body: Mapping[str, Any]) -> TenantRecord:
    """A complete record from a (validated) PUT body; omitted fields take their defaults."""
    root = data_root(settings.data_root)
    data_dir = resolve_inside(root, body.get("data_dir"), root / tenant_id / "data", "data_dir")
    uploads_dir = resolve_inside(root, body.get("uploads_dir"), root / tenant_id / "uploads",
                                 "uploads_dir")
    return TenantRecord(
        tenant_id=tenant_id, data_dir=str(data_dir), uploads_dir=str(uploads_dir),
        enabled=body.get("enabled", True), hosts=list(body.get("hosts", [])),
        limits=dict(body.get("limits", {})), extra=dict(body.get("extra", {})),
        quota=dict(body.get("quota", {})),
        workspaces=None if body.get("workspaces") is None else list(body["workspaces"]),
        **_policy(body))


def _policy(body: Mapping[str, Any]) -> dict[str, Any]:
    """The record's policy fields from the loaded ``models`` and ``budget`` (schemas in
    app/policy/schemas.py): omitted means unrestricted."""
    models, budget = body.get("models") or {}, body.get("budget") or {}
    allowed = models.get("allowed")
    return {"allowed_models": None if allowed is None else list(allowed),
            "daily_cap_micros": budget.get("daily_cap_micros"),
            "max_request_micros": budget.get("max_request_micros")}


def put_tenant(store: Store, settings: Settings, tenant_id: str, body: Mapping[str, Any],
               actor: str) -> tuple[TenantRecord, bool]:
    """Create or replace a tenant; returns (record, created)."""
    stored, created, _ = put_record(store, settings, build_record(settings, tenant_id, body),
                                    actor)
    return stored, created


def put_record(store: Store, settings: Settings, record: TenantRecord,
               actor: str) -> tuple[TenantRecord, bool, list[str]]:
    """Store a complete record; returns (stored, created, the config fields it changed).

    A creation lists the fields that differ from a tenant registered with defaults."""
    with store_refusals(store):
        with store.db.write():
            before = store.tenants.get(record.tenant_id)
            stored, created = store.tenants.upsert(record, settings.max_tenant_labels)
            baseline = before or build_record(settings, record.tenant_id, {})
            fields = baseline.changed_fields(stored)
            store.audit.record("create" if created else "update", record.tenant_id, fields,
                               actor)
    make_directories(stored)
    return stored, created, fields


def ensure_tenant(store: Store, settings: Settings, tenant_id: str,
                  actor: str) -> tuple[TenantRecord, bool]:
    """Register ``tenant_id`` with defaults if it is new (subject to the cap)."""
    existing = store.tenants.get(tenant_id)
    if existing is not None:
        return existing, False
    record = build_record(settings, tenant_id, {})
    with store_refusals(store):
        with store.db.write():
            stored, created = store.tenants.ensure(record, settings.max_tenant_labels)
            if created:
                store.audit.record("create", tenant_id, [], actor)
    if created:
        make_directories(stored)
    return stored, created


def disable_tenant(store: Store, tenant_id: str, actor: str) -> TenantRecord | None:
    """Disable a tenant (its record and label stay); None when there is no such tenant."""
    with store.db.write():
        before = store.tenants.get(tenant_id)
        if before is None:
            return None
        disabled = store.tenants.disable(tenant_id)
        assert disabled is not None  # inside the write lock: nobody purged it meanwhile
        store.audit.record("disable", tenant_id, before.changed_fields(disabled), actor)
    return disabled


def make_directories(record: TenantRecord) -> None:
    for path in (record.data_dir, record.uploads_dir):
        try:
            Path(path).mkdir(parents=True, exist_ok=True)
        except (OSError, RecursionError) as exc:
            # The record stands; the tenant's validator reports the directory.
            log.warning("tenant %s: cannot create %s: %s", record.tenant_id, path,
                        getattr(exc, "strerror", None) or type(exc).__name__)


@contextmanager
def store_refusals(store: Store) -> Iterator[None]:
    """Every refusal by the label cap is counted (tenant_label_rejections_total), wherever
    the creation came from; the refusal itself goes on to be answered (app/errors.py)."""
    try:
        yield
    except LabelCapReached:
        store.tenants.record_label_rejection()
        raise
