"""TenantStore: tenant records in the store, with the label cap enforced atomically.

Every write bumps ``config_version`` in the same transaction, so workers can tell
with one read whether their per-worker views are stale.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from .database import SQLiteDatabase
from .id_lists import in_lists

MICROS_PER_USD = 1_000_000


class LabelCapReached(Exception):
    """Creating one more tenant would exceed MAX_TENANT_LABELS."""

    def __init__(self, limit: int):
        super().__init__(f"label cap of {limit} tenants reached")
        self.limit = limit


class HostTaken(Exception):
    """A host name is already served by another tenant."""

    def __init__(self, host: str, tenant_id: str):
        super().__init__(f"host {host} belongs to tenant {tenant_id}")
        self.host = host
        self.tenant_id = tenant_id


class DirectoryTaken(Exception):
    """A directory is, contains, or lies inside another tenant's directory."""

    def __init__(self, field: str, tenant_id: str):
        super().__init__(f"{field} overlaps a directory of tenant {tenant_id}")
        self.field = field
        self.tenant_id = tenant_id


@dataclass(frozen=True)
class TenantState:
    """What a worker compares to know whether its view of a tenant is stale."""

    enabled: bool
    updated_at: str
    health: str


@dataclass
class TenantRecord:
    tenant_id: str
    data_dir: str
    uploads_dir: str
    enabled: bool
    hosts: list[str] = field(default_factory=list)
    limits: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    quota: dict[str, int] = field(default_factory=dict)
    # None: any valid workspace id; a list: only those (contract sec. 15).
    workspaces: list[str] | None = None
    created_at: str = ""
    updated_at: str = ""
    health: str = "pending"
    health_reason: str | None = None
    health_checked_at: str | None = None
    # Tenant policy (contract sec. 14); None: unrestricted. Money in micro-dollars.
    allowed_models: list[str] | None = None
    daily_cap_micros: int | None = None
    max_request_micros: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The public shape: health nested as {state, reason, last_checked_at}; the policy
        as ``models`` {allowed} and ``budget`` {daily_cap_usd, max_per_request_usd}."""
        data = asdict(self)
        data["health"] = {"state": data.pop("health"), "reason": data.pop("health_reason"),
                          "last_checked_at": data.pop("health_checked_at")}
        allowed = data.pop("allowed_models")
        data["models"] = {} if allowed is None else {"allowed": allowed}
        caps = {"daily_cap_usd": data.pop("daily_cap_micros"),
                "max_per_request_usd": data.pop("max_request_micros")}
        data["budget"] = {k: v / MICROS_PER_USD for k, v in caps.items() if v is not None}
        return data

    def changed_fields(self, other: "TenantRecord") -> list[str]:
        """The config fields whose values differ between the two (the audit's "fields"),
        named as the admin API names them (``models``, ``budget``)."""
        mine, theirs = asdict(self), asdict(other)
        return sorted({API_NAMES.get(name, name) for name in mine
                       if name not in NOT_CONFIG and mine[name] != theirs[name]})


# Record fields that are not the tenant's configuration: identity, timestamps, health.
NOT_CONFIG = frozenset({"tenant_id", "created_at", "updated_at", "health", "health_reason",
                        "health_checked_at"})
# Record fields stored under another name than the admin API's.
API_NAMES = {"allowed_models": "models", "daily_cap_micros": "budget",
             "max_request_micros": "budget"}


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_COLUMNS = ("tenant_id, data_dir, uploads_dir, enabled, hosts_json, limits_json, extra_json, "
            "quota_json, created_at, updated_at, models_json, daily_cap_micros, "
            "max_request_micros, workspaces_json")
_VALUES = ", ".join("?" * 14)
_READ_COLUMNS = _COLUMNS + ", health, health_reason, health_checked_at"


def _record(row) -> TenantRecord:
    # Unpacked in _READ_COLUMNS' order: a scrape decodes every labelled tenant's row, and
    # a lookup by name scans the row's column names.
    (tenant_id, data_dir, uploads_dir, enabled, hosts, limits, extra, quota, created_at,
     updated_at, models, daily_cap_micros, max_request_micros, workspaces, health,
     health_reason, health_checked_at) = row
    return TenantRecord(
        tenant_id=tenant_id, data_dir=data_dir, uploads_dir=uploads_dir,
        enabled=bool(enabled), hosts=_decoded(hosts), limits=_decoded(limits),
        extra=_decoded(extra), quota=_decoded(quota), workspaces=_workspaces(workspaces),
        created_at=created_at, updated_at=updated_at, health=health,
        health_reason=health_reason, health_checked_at=health_checked_at,
        allowed_models=None if models is None else _decoded(models),
        daily_cap_micros=daily_cap_micros, max_request_micros=max_request_micros)


# The values most tenants store: made directly, each a new object, not decoded.
_EMPTY_JSON = {"{}": dict, "[]": list}


def _decoded(text: str):
    """``json.loads(text)``."""
    empty = _EMPTY_JSON.get(text)
    return json.loads(text) if empty is None else empty()


def _policy_values(record: TenantRecord) -> tuple:
    models = None if record.allowed_models is None else json.dumps(record.allowed_models)
    return models, record.daily_cap_micros, record.max_request_micros


def _workspaces(text: str | None) -> list[str] | None:
    return None if text is None else _decoded(text)


def bump_version(conn) -> None:
    """Inside a write: every worker follows the change at its next request."""
    conn.execute("UPDATE store_meta SET value = value + 1 WHERE key = 'config_version'")
    conn.config_changed()


class TenantStore:
    def __init__(self, db: SQLiteDatabase, clock=utc_now):
        self.db = db
        self._now = clock

    # -- reads -------------------------------------------------------------------------
    def get(self, tenant_id: str) -> TenantRecord | None:
        with self.db.read() as conn:
            row = conn.execute(f"SELECT {_READ_COLUMNS} FROM tenants WHERE tenant_id = ?",
                               (tenant_id,)).fetchone()
        return _record(row) if row else None

    def list(self) -> list[TenantRecord]:
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {_READ_COLUMNS} FROM tenants ORDER BY tenant_id").fetchall()
        return [_record(r) for r in rows]

    def states(self, tenant_ids: list[str]) -> dict[str, TenantState]:
        found: dict[str, TenantState] = {}
        with self.db.read() as conn:
            for marks, chunk in in_lists(tenant_ids):
                for row in conn.execute(
                        "SELECT tenant_id, enabled, updated_at, health FROM tenants "
                        f"WHERE tenant_id IN ({marks})", chunk).fetchall():
                    found[row[0]] = TenantState(bool(row[1]), row[2], row[3])
        return found

    def first(self, limit: int) -> list[TenantRecord]:
        """The ``limit`` oldest tenants: the ones whose labels metrics may carry."""
        with self.db.read() as conn:
            rows = conn.execute(f"SELECT {_READ_COLUMNS} FROM tenants "
                                "ORDER BY created_at, tenant_id LIMIT ?", (limit,)).fetchall()
        return [_record(r) for r in rows]

    def count(self) -> int:
        with self.db.read() as conn:
            return conn.execute("SELECT COUNT(*) FROM tenants").fetchone()[0]

    def tenant_for_host(self, host: str) -> str | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT tenant_id FROM tenant_hosts WHERE host = ?",
                               (host,)).fetchone()
        return row[0] if row else None

    def label_rejections(self) -> int:
        with self.db.read() as conn:
            return conn.execute(
                "SELECT value FROM store_meta WHERE key = 'label_rejections'").fetchone()[0]

    # -- writes ------------------------------------------------------------------------
    def upsert(self, record: TenantRecord, max_labels: int) -> tuple[TenantRecord, bool]:
        """Create or replace a tenant; returns (record, created). Raises LabelCapReached."""
        now = self._now()
        with self.db.write() as conn:
            existing = conn.execute("SELECT created_at FROM tenants WHERE tenant_id = ?",
                                    (record.tenant_id,)).fetchone()
            if existing is None:
                self._admit(conn, max_labels)
            self._check_hosts(conn, record)
            self._check_directories(conn, record)
            created_at = existing["created_at"] if existing else now
            conn.execute(
                f"INSERT INTO tenants ({_COLUMNS}) VALUES ({_VALUES}) "
                "ON CONFLICT (tenant_id) DO UPDATE SET data_dir = excluded.data_dir, "
                "uploads_dir = excluded.uploads_dir, enabled = excluded.enabled, "
                "hosts_json = excluded.hosts_json, limits_json = excluded.limits_json, "
                "extra_json = excluded.extra_json, quota_json = excluded.quota_json, "
                "updated_at = excluded.updated_at, models_json = excluded.models_json, "
                "daily_cap_micros = excluded.daily_cap_micros, "
                "max_request_micros = excluded.max_request_micros, "
                "workspaces_json = excluded.workspaces_json, "
                # Re-registration: the new config is validated afresh.
                "health = 'pending', health_reason = NULL",
                (record.tenant_id, record.data_dir, record.uploads_dir, int(record.enabled),
                 json.dumps(record.hosts), json.dumps(record.limits, sort_keys=True),
                 json.dumps(record.extra, sort_keys=True),
                 json.dumps(record.quota, sort_keys=True), created_at, now,
                 *_policy_values(record),
                 None if record.workspaces is None else json.dumps(record.workspaces)))
            conn.execute("DELETE FROM tenant_hosts WHERE tenant_id = ?", (record.tenant_id,))
            conn.executemany("INSERT INTO tenant_hosts (host, tenant_id) VALUES (?, ?)",
                             [(h, record.tenant_id) for h in record.hosts])
            bump_version(conn)
        stored = self.get(record.tenant_id)
        assert stored is not None
        return stored, existing is None

    def ensure(self, record: TenantRecord, max_labels: int) -> tuple[TenantRecord, bool]:
        """Register a new id (subject to the cap); an existing tenant is left as it is."""
        existing = self.get(record.tenant_id)
        if existing is not None:
            return existing, False
        now = self._now()
        with self.db.write() as conn:
            if conn.execute("SELECT 1 FROM tenants WHERE tenant_id = ?",
                            (record.tenant_id,)).fetchone() is None:
                self._admit(conn, max_labels)
                self._check_directories(conn, record)
                conn.execute(
                    f"INSERT INTO tenants ({_COLUMNS}) VALUES ({_VALUES})",
                    (record.tenant_id, record.data_dir, record.uploads_dir, int(record.enabled),
                     "[]", "{}", "{}", "{}", now, now, None, None, None, None))
                bump_version(conn)
                created = True
            else:
                created = False
        stored = self.get(record.tenant_id)
        assert stored is not None
        return stored, created

    def disable(self, tenant_id: str) -> TenantRecord | None:
        with self.db.write() as conn:
            cursor = conn.execute("UPDATE tenants SET enabled = 0, updated_at = ? "
                                  "WHERE tenant_id = ?", (self._now(), tenant_id))
            if cursor.rowcount:
                bump_version(conn)
        return self.get(tenant_id)

    def purge(self, tenant_id: str) -> bool:
        """Remove the record (and, by cascade, everything keyed on it), freeing its label."""
        with self.db.write() as conn:
            cursor = conn.execute("DELETE FROM tenants WHERE tenant_id = ?", (tenant_id,))
            if cursor.rowcount:
                bump_version(conn)
            return cursor.rowcount > 0

    def record_label_rejection(self) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE store_meta SET value = value + 1 WHERE key = 'label_rejections'")

    # -- internals ---------------------------------------------------------------------
    def _admit(self, conn, max_labels: int) -> None:
        # Inside BEGIN IMMEDIATE: no other writer can insert between this count and the insert.
        count = conn.execute("SELECT COUNT(*) FROM tenants").fetchone()[0]
        if count >= max_labels:
            raise LabelCapReached(max_labels)

    def _check_hosts(self, conn, record: TenantRecord) -> None:
        for host in record.hosts:
            row = conn.execute("SELECT tenant_id FROM tenant_hosts WHERE host = ?",
                               (host,)).fetchone()
            if row and row[0] != record.tenant_id:
                raise HostTaken(host, row[0])

    def _check_directories(self, conn, record: TenantRecord) -> None:
        # Isolation: no tenant may see into another tenant's directories.
        others = conn.execute("SELECT tenant_id, data_dir, uploads_dir FROM tenants "
                              "WHERE tenant_id != ?", (record.tenant_id,)).fetchall()
        for field_name in ("data_dir", "uploads_dir"):
            mine = getattr(record, field_name)
            for other in others:
                if directories_overlap(mine, other["data_dir"]) or \
                        directories_overlap(mine, other["uploads_dir"]):
                    raise DirectoryTaken(field_name, other["tenant_id"])


def directories_overlap(a: str, b: str) -> bool:
    """One directory is, contains, or lies inside the other."""
    # Stored paths are absolute and resolved, so plain string prefixes decide (fast even
    # with many tenants, inside the write lock).
    a, b = a.rstrip("/") + "/", b.rstrip("/") + "/"
    return a.startswith(b) or b.startswith(a)
