"""Tenant health records in the store, so every worker and /admin/tenants agree."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .database import SQLiteDatabase
from .tenants import bump_version, utc_now

STATES = ("pending", "healthy", "unverified", "disabled")


@dataclass(frozen=True)
class HealthRecord:
    state: str
    reason: str | None = None
    last_checked_at: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


class HealthStore:
    def __init__(self, db: SQLiteDatabase, clock=utc_now):
        self.db = db
        self._now = clock

    def get(self, tenant_id: str) -> HealthRecord | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT health, health_reason, health_checked_at FROM tenants "
                               "WHERE tenant_id = ?", (tenant_id,)).fetchone()
        return HealthRecord(row[0], row[1], row[2]) if row else None

    def set(self, tenant_id: str, state: str, reason: str | None) -> HealthRecord | None:
        """Record a validation outcome; bumps the config version so every worker follows."""
        if state not in STATES:
            raise ValueError(f"unknown health state {state!r}")
        now = self._now()
        with self.db.write() as conn:
            row = conn.execute("SELECT health, health_reason FROM tenants WHERE tenant_id = ?",
                               (tenant_id,)).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE tenants SET health = ?, health_reason = ?, health_checked_at = ? "
                "WHERE tenant_id = ?", (state, reason, now, tenant_id))
            if (row[0], row[1]) != (state, reason):
                # Only a real change makes every worker re-read its loaded tenants.
                bump_version(conn)
        return HealthRecord(state, reason, now)
