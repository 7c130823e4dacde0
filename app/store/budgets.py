"""Budget reservations and spend in the store: admission exact across workers and hosts.

A reservation is taken inside the store's write lock (BEGIN IMMEDIATE on SQLite, the
advisory lock on PostgreSQL) after adding up what the tenant's UTC day has settled and
what live reservations hold, so concurrent spends can never pass the cap together. The
cap is read inside that transaction too: a changed cap counts from the next spend on.
Amounts are integer micro-dollars.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Iterable, Mapping

from .database import SQLiteDatabase
from .id_lists import select_in

_TENANT_EXISTS = "WHERE EXISTS (SELECT 1 FROM tenants WHERE tenant_id = ?)"


@dataclass(frozen=True)
class Admission:
    admitted: bool
    cap_micros: int | None  # None: the tenant has no daily cap (nothing was reserved)
    remaining_micros: int | None  # what the day has left before this spend


@dataclass(frozen=True)
class BudgetState:
    cap_micros: int | None
    day_micros: int  # settled in the day asked about
    held_micros: int  # held by live reservations of that day
    total_micros: int  # settled ever

    @property
    def remaining_micros(self) -> int | None:
        if self.cap_micros is None:
            return None
        return max(0, self.cap_micros - self.day_micros - self.held_micros)


def _settled_in(row, day: str) -> int:
    # A row already on a later day (another host's clock is past midnight) is counted
    # rather than ignored: a skewed clock may refuse a little early, never overspend.
    return row[1] if row is not None and row[0] >= day else 0


class BudgetStore:
    def __init__(self, db: SQLiteDatabase):
        self.db = db

    def reserve(self, tenant_id: str, reservation_id: str, day: str, estimate: int,
                now_ms: int, expires_ms: int) -> Admission:
        """Hold ``estimate`` of the tenant's ``day`` until ``expires_ms``, if the cap allows."""
        with self.db.write() as conn:
            # One round trip for the cap, the day's settled spend and what is held.
            row = conn.execute(
                "SELECT t.daily_cap_micros, s.day, s.day_micros, "
                "(SELECT CAST(COALESCE(SUM(r.estimate_micros), 0) AS BIGINT) "
                " FROM budget_reservations r WHERE r.tenant_id = t.tenant_id AND r.day = ? "
                " AND r.settled = 0 AND r.expires_ms > ?) "
                "FROM tenants t LEFT JOIN budget_spend s ON s.tenant_id = t.tenant_id "
                "WHERE t.tenant_id = ?", (day, now_ms, tenant_id)).fetchone()
            cap = row[0] if row is not None else None
            if cap is None:
                return Admission(True, None, None)
            spend, held = (None if row[1] is None else (row[1], row[2])), row[3]
            remaining = max(0, cap - _settled_in(spend, day) - held)
            if estimate > remaining:
                return Admission(False, cap, remaining)
            conn.execute("INSERT INTO budget_reservations (tenant_id, reservation_id, day, "
                         "estimate_micros, expires_ms) VALUES (?, ?, ?, ?, ?)",
                         (tenant_id, reservation_id, day, estimate, expires_ms))
            return Admission(True, cap, remaining)

    def settle(self, tenant_id: str, reservation_id: str, day: str, actual: int,
               now_ms: int) -> bool:
        """Record ``actual`` as spent in ``day``, once: False if it was settled before.

        A reservation whose lease ran out (or that was never taken: no cap) is recorded
        all the same; its row, kept settled, makes a second settle of it a no-op. Old rows
        are pruned here, not in ``reserve``: every spend settles or releases, and the
        admission's transaction, which every spend of the tenant waits for, stays short.
        """
        with self.db.write() as conn:
            self._prune(conn, tenant_id, day, now_ms)
            if not conn.execute("UPDATE budget_reservations SET settled = 1 "
                                "WHERE tenant_id = ? AND reservation_id = ? AND settled = 0",
                                (tenant_id, reservation_id)).rowcount:
                if conn.execute("SELECT 1 FROM budget_reservations WHERE tenant_id = ? "
                                "AND reservation_id = ?",
                                (tenant_id, reservation_id)).fetchone() is not None:
                    return False
                conn.execute(
                    "INSERT INTO budget_reservations (tenant_id, reservation_id, day, "
                    "estimate_micros, expires_ms, settled) SELECT CAST(? AS TEXT), "
                    "CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT), "
                    f"1 {_TENANT_EXISTS}",
                    (tenant_id, reservation_id, day, actual, now_ms, tenant_id))
            conn.execute(
                "INSERT INTO budget_spend (tenant_id, day, day_micros, total_micros) "
                "SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), "
                f"CAST(? AS BIGINT) {_TENANT_EXISTS} ON CONFLICT (tenant_id) DO UPDATE SET "
                "total_micros = budget_spend.total_micros + excluded.total_micros, "
                # A settle of an earlier day (after midnight) adds to the total only.
                "day_micros = CASE WHEN excluded.day = budget_spend.day "
                "THEN budget_spend.day_micros + excluded.day_micros "
                "WHEN excluded.day > budget_spend.day THEN excluded.day_micros "
                "ELSE budget_spend.day_micros END, "
                "day = CASE WHEN excluded.day > budget_spend.day THEN excluded.day "
                "ELSE budget_spend.day END",
                (tenant_id, day, actual, actual, tenant_id))
            return True

    def release(self, tenant_id: str, reservation_id: str) -> None:
        """Give a reservation back unspent (a settled one stays settled)."""
        with self.db.write() as conn:
            conn.execute("DELETE FROM budget_reservations WHERE tenant_id = ? "
                         "AND reservation_id = ? AND settled = 0", (tenant_id, reservation_id))

    def renew(self, held: Iterable[tuple[str, str]], now_ms: int,
              expires_ms: int) -> dict[tuple[str, str], bool]:
        """Extend the leases of live reservations; returns those not renewed, each with
        True if its lease had lapsed, False if it was settled or released meanwhile.

        A lapsed lease is never revived: its room may have been given to another spend.
        """
        missed = {}
        with self.db.write() as conn:
            for key in held:
                if conn.execute(
                        "UPDATE budget_reservations SET expires_ms = ? WHERE tenant_id = ? "
                        "AND reservation_id = ? AND settled = 0 AND expires_ms > ?",
                        (expires_ms, key[0], key[1], now_ms)).rowcount:
                    continue
                missed[key] = conn.execute(
                    "SELECT 1 FROM budget_reservations WHERE tenant_id = ? "
                    "AND reservation_id = ? AND settled = 0", key).fetchone() is not None
        return missed

    def states(self, tenant_ids: list[str], day: str, now_ms: int) -> dict[str, BudgetState]:
        """Each tenant's cap, its ``day``'s settled and held spend, and its total."""
        if not tenant_ids:
            return {}
        with self.db.read() as conn:
            rows = select_in(
                conn, "SELECT t.tenant_id, t.daily_cap_micros, s.day, s.day_micros, "
                "s.total_micros FROM tenants t LEFT JOIN budget_spend s "
                "ON s.tenant_id = t.tenant_id WHERE t.tenant_id IN ({marks})", tenant_ids)
            held = dict(select_in(
                conn, "SELECT tenant_id, CAST(SUM(estimate_micros) AS BIGINT) "
                "FROM budget_reservations WHERE day = ? AND settled = 0 AND expires_ms > ? "
                "AND tenant_id IN ({marks}) GROUP BY tenant_id", tenant_ids, (day, now_ms)))
        return {row[0]: BudgetState(
                    row[1], _settled_in(None if row[2] is None else (row[2], row[3]), day),
                    held.get(row[0], 0), row[4] or 0)
                for row in rows}

    def _prune(self, conn, tenant_id: str, day: str, now_ms: int) -> None:
        # Rows of days before yesterday that are settled or whose lease ran out: a settle
        # that late is still recorded (settle inserts it again), only no longer held.
        conn.execute("DELETE FROM budget_reservations WHERE tenant_id = ? AND day < ? "
                     "AND (settled = 1 OR expires_ms <= ?)",
                     (tenant_id, _yesterday(day), now_ms))

    # -- counts for the metrics ----------------------------------------------------------
    def add_counts(self, rejections: Mapping[tuple[str, str], int],
                   requests: Mapping[tuple[str, str, str, str], int]) -> None:
        if not rejections and not requests:
            return
        with self.db.write() as conn:
            if rejections:
                conn.executemany(
                    "INSERT INTO budget_rejections (tenant_id, scope, count) "
                    "SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT) "
                    f"{_TENANT_EXISTS} ON CONFLICT (tenant_id, scope) "
                    "DO UPDATE SET count = budget_rejections.count + excluded.count",
                    [(t, scope, n, t) for (t, scope), n in rejections.items()])
            if requests:
                conn.executemany(
                    "INSERT INTO model_requests (tenant_id, workspace, model, outcome, count) "
                    "SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), "
                    f"CAST(? AS TEXT), CAST(? AS BIGINT) {_TENANT_EXISTS} "
                    "ON CONFLICT (tenant_id, workspace, model, outcome) "
                    "DO UPDATE SET count = model_requests.count + excluded.count",
                    [(*key, n, key[0]) for key, n in requests.items()])

    def rejections(self) -> dict[tuple[str, str], int]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT tenant_id, scope, count FROM budget_rejections")
            return {(r[0], r[1]): r[2] for r in rows.fetchall()}

    def model_requests(self) -> dict[tuple[str, str, str, str], int]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT tenant_id, workspace, model, outcome, count FROM model_requests")
            return {(r[0], r[1], r[2], r[3]): r[4] for r in rows.fetchall()}


def _yesterday(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()
