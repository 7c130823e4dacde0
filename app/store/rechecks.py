"""When each tenant is rechecked next, shared by every worker of every host (contract sec. 12).

A worker rechecks a tenant only after claiming it: a conditional update that moves
``recheck_due_at`` into the future succeeds for one claimant, whatever the number of
workers and hosts asking at once (SQLite serialises writers; PostgreSQL re-evaluates
the condition on the row it locked). Times are seconds since the epoch, the hosts'
shared clock.
"""
from __future__ import annotations

from typing import Iterable

from .database import SQLiteDatabase
from .id_lists import in_lists


class RecheckStore:
    def __init__(self, db: SQLiteDatabase):
        self.db = db

    def due(self, tenant_ids: Iterable[str], now: float) -> list[str]:
        """The tenants among ``tenant_ids`` whose recheck is due (or never scheduled)."""
        ids = list(tenant_ids)
        found: list[str] = []
        with self.db.read() as conn:
            for marks, chunk in in_lists(ids):
                found.extend(row[0] for row in conn.execute(
                    f"SELECT tenant_id FROM tenants WHERE tenant_id IN ({marks}) "
                    "AND (recheck_due_at IS NULL OR recheck_due_at <= ?)",
                    [*chunk, now]).fetchall())
        return found

    def claim(self, tenant_id: str, now: float, interval: float) -> bool:
        """Take the tenant's due recheck; True for the one claimant that should run it.

        The next one is due an interval after this one was (not after now), so the fleet
        keeps to one recheck per interval however late a worker claims. A tenant never
        scheduled is only scheduled (False): it was validated when it was built.
        """
        with self.db.write() as conn:
            row = conn.execute("SELECT recheck_due_at FROM tenants WHERE tenant_id = ?",
                               (tenant_id,)).fetchone()
            if row is None or (row[0] is not None and row[0] > now):
                return False
            due = row[0]
            following = due + interval if due is not None and due + interval > now \
                else now + interval
            cursor = conn.execute(
                "UPDATE tenants SET recheck_due_at = ? WHERE tenant_id = ? "
                "AND COALESCE(recheck_due_at, 0) <= ?", (following, tenant_id, now))
            return cursor.rowcount == 1 and due is not None

    def record(self, tenant_id: str, ok: bool, now: float, interval: float,
               max_interval: float) -> float | None:
        """Note a recheck's result: a failure pushes the next one back (doubling, at most
        ``max_interval``); a success ends the backoff. Returns the delay of a backoff."""
        with self.db.write() as conn:
            if ok:
                conn.execute("UPDATE tenants SET recheck_failures = 0 WHERE tenant_id = ? "
                             "AND recheck_failures <> 0", (tenant_id,))
                return None
            row = conn.execute("SELECT recheck_failures FROM tenants WHERE tenant_id = ?",
                               (tenant_id,)).fetchone()
            if row is None:
                return None
            failures = row[0] + 1
            delay = min(max_interval, interval * 2 ** min(failures, 32))
            conn.execute("UPDATE tenants SET recheck_failures = ?, recheck_due_at = ? "
                         "WHERE tenant_id = ?", (failures, now + delay, tenant_id))
            return delay
