"""Concurrency-limit refusals counted in the store, exact across workers."""
from __future__ import annotations

from typing import Mapping

from .database import SQLiteDatabase

Key = tuple[str, str, str]  # (tenant_id, limit, scope)


class LimitStore:
    def __init__(self, db: SQLiteDatabase):
        self.db = db

    def add_rejections(self, deltas: Mapping[Key, int]) -> None:
        if not deltas:
            return
        with self.db.write() as conn:
            conn.executemany(
                "INSERT INTO limit_rejections (tenant_id, limit_name, scope, count) "
                "SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS INTEGER) "
                "WHERE EXISTS (SELECT 1 FROM tenants WHERE tenant_id = ?) "
                "ON CONFLICT (tenant_id, limit_name, scope) "
                "DO UPDATE SET count = limit_rejections.count + excluded.count",
                [(t, limit, scope, n, t) for (t, limit, scope), n in deltas.items()])

    def rejections(self) -> dict[Key, int]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT tenant_id, limit_name, scope, count FROM limit_rejections").fetchall()
        return {(r[0], r[1], r[2]): r[3] for r in rows}
