"""Tenant readiness state in the store: overrides, observed status, transitions, durations."""
from __future__ import annotations

from dataclasses import dataclass

from .database import SQLiteDatabase
from .id_lists import select_in


@dataclass(frozen=True)
class ReadinessRow:
    tenant_id: str
    enabled: bool
    ready_override: bool | None
    health: str
    status: str | None
    transitions: int

    def with_override(self, ready: bool | None) -> "ReadinessRow":
        """This row with its override set to ``ready`` (a third of ``dataclasses.replace``'s
        cost, on every set_ready)."""
        return ReadinessRow(self.tenant_id, self.enabled, ready, self.health, self.status,
                            self.transitions)


_SELECT = ("SELECT tenant_id, enabled, ready_override, health, readiness_status, "
           "readiness_transitions FROM tenants")


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _row(r) -> ReadinessRow:
    override = r["ready_override"]
    return ReadinessRow(r["tenant_id"], bool(r["enabled"]),
                        None if override is None else bool(override), r["health"],
                        r["readiness_status"], r["readiness_transitions"])


class TenantReadinessStore:
    def __init__(self, db: SQLiteDatabase):
        self.db = db

    def get(self, tenant_id: str) -> ReadinessRow | None:
        with self.db.read() as conn:
            row = conn.execute(_SELECT + " WHERE tenant_id = ?", (tenant_id,)).fetchone()
        return _row(row) if row else None

    def first(self, limit: int) -> list[ReadinessRow]:
        """The ``limit`` oldest tenants: the ones whose labels metrics may carry."""
        with self.db.read() as conn:
            rows = conn.execute(_SELECT + " ORDER BY created_at, tenant_id LIMIT ?",
                                (limit,)).fetchall()
        return [_row(r) for r in rows]

    def set_override(self, tenant_id: str, ready: bool | None) -> bool:
        """Set (or clear, with None) the override; True when the stored value changed."""
        value = _flag(ready)
        with self.db.write() as conn:
            cursor = conn.execute(
                "UPDATE tenants SET ready_override = ? WHERE tenant_id = ? "
                "AND ready_override IS DISTINCT FROM ?", (value, tenant_id, value))
            return cursor.rowcount > 0

    @staticmethod
    def writes(row: ReadinessRow, ready: bool | None, observed: tuple[str, ...]) -> bool:
        """Whether ``override(row, ready, observed)`` has anything to write."""
        return ready != row.ready_override or any(seen != row.status for seen in observed)

    def override(self, row: ReadinessRow, ready: bool | None,
                 observed: tuple[str, ...]) -> bool | None:
        """Set ``row``'s override and record the statuses ``observed`` since ``row`` was
        read, in order: True when the override changed, False when it did not, None when
        the stored row is no longer ``row`` (nothing written: read it again).

        One statement, compare-and-set on every field read: the statuses were resolved
        from ``row``, so they stand only while it does. Each observed status that differs
        from the one before it counts a transition, as record_status counts it.
        """
        if not self.writes(row, ready, observed):
            return False
        status, transitions = row.status, row.transitions
        for seen in observed:
            if seen != status:
                transitions += 0 if status is None else 1
                status = seen
        with self.db.write(savepoint=False) as conn:
            cursor = conn.execute(
                "UPDATE tenants SET ready_override = ?, readiness_status = ?, "
                "readiness_transitions = ? WHERE tenant_id = ? AND enabled = ? AND health = ? "
                "AND ready_override IS NOT DISTINCT FROM ? "
                "AND readiness_status IS NOT DISTINCT FROM ? AND readiness_transitions = ?",
                (_flag(ready), status, transitions, row.tenant_id, int(row.enabled),
                 row.health, _flag(row.ready_override), row.status, row.transitions))
        if cursor.rowcount == 0:
            return None
        return ready != row.ready_override

    def record_status(self, tenant_id: str, seen: str | None, status: str,
                      seen_transitions: int | None = None) -> bool:
        """Store a newly observed effective status; count a transition if it changed.

        Compare-and-set on the previously seen value, so when several workers observe
        the same change at once, exactly one of them counts it. The first observation
        of a tenant is not a transition. Pass ``seen_transitions`` (the count read with
        ``seen``) to compare the pair: every recorded change leaves NULL or adds one, so
        the pair never repeats, and an observer that read ``ready`` before a
        ready -> not ready -> ready round trip cannot write its stale status over it (ABA).
        """
        sql = ("UPDATE tenants SET readiness_status = ?, readiness_transitions = "
               "readiness_transitions + (CASE WHEN readiness_status IS NULL THEN 0 ELSE 1 END) "
               "WHERE tenant_id = ? AND readiness_status IS NOT DISTINCT FROM ?")
        params: tuple = (status, tenant_id, seen)
        if seen_transitions is not None:
            sql += " AND readiness_transitions = ?"
            params += (seen_transitions,)
        with self.db.write() as conn:
            return conn.execute(sql, params).rowcount > 0

    def observe_duration(self, tenant_id: str, bucket: int, seconds: float) -> None:
        with self.db.write() as conn:
            if conn.execute("SELECT 1 FROM tenants WHERE tenant_id = ?",
                            (tenant_id,)).fetchone() is None:
                return  # purged meanwhile: its series must not come back
            conn.executemany(
                "INSERT INTO tenant_readiness_durations (tenant_id, bucket, value) "
                "VALUES (?, ?, ?) ON CONFLICT (tenant_id, bucket) "
                "DO UPDATE SET value = tenant_readiness_durations.value + excluded.value",
                [(tenant_id, bucket, 1.0), (tenant_id, -1, seconds)])

    def durations(self, tenant_ids: list[str]) -> dict[str, dict[int, float]]:
        if not tenant_ids:
            return {}
        with self.db.read() as conn:
            rows = select_in(
                conn, "SELECT tenant_id, bucket, value FROM tenant_readiness_durations "
                "WHERE tenant_id IN ({marks})", tenant_ids)
        found: dict[str, dict[int, float]] = {}
        for r in rows:
            found.setdefault(r["tenant_id"], {})[r["bucket"]] = r["value"]
        return found
