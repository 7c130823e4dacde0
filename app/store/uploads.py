"""Upload records in the store: quotas enforced atomically, status readable by every worker.

A row is reserved ('receiving') inside the write lock after counting what the tenant
already holds, so concurrent uploads can never pass a quota together; the file is
written after, and the row turns 'queued' once the file is on disk. A row left
'receiving' (the worker died writing its file) is removed by ``stale``'s caller.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .database import SQLiteDatabase
from .id_lists import select_in
from .tenants import utc_now

STATES = ("receiving", "queued", "processing", "done", "failed")
# States a client may see: anything acknowledged.
VISIBLE = ("queued", "processing", "done", "failed")


class QuotaExceeded(Exception):
    """One more upload would pass one of the tenant's quotas."""

    def __init__(self, quota: str, limit: int, used: int):
        super().__init__(f"upload quota {quota} of {limit} reached ({used} used)")
        self.quota = quota
        self.limit = limit
        self.used = used


@dataclass(frozen=True)
class UploadRecord:
    tenant_id: str
    upload_id: str
    filename: str
    size: int
    state: str
    sha256: str | None
    error: str | None
    created_at: str
    updated_at: str

    def public(self) -> dict:
        """What GET /t/<t>/uploads/<id> answers."""
        body = {"id": self.upload_id, "tenant": self.tenant_id, "filename": self.filename,
                "size": self.size, "state": self.state}
        if self.sha256:
            body["sha256"] = self.sha256
        if self.error:
            body["error"] = self.error
        return body


_COLUMNS = ("tenant_id, upload_id, filename, size, state, sha256, error, created_at, "
            "updated_at")


def _record(row) -> UploadRecord:
    return UploadRecord(*(row[i] for i in range(9)))


class UploadRecords:
    def __init__(self, db: SQLiteDatabase, clock=utc_now):
        self.db = db
        self._now = clock

    def reserve(self, tenant_id: str, upload_id: str, filename: str, size: int,
                max_bytes: int, max_count: int) -> None:
        """Hold ``size`` bytes and one upload of the tenant's quota, or raise QuotaExceeded."""
        now = self._now()
        with self.db.write() as conn:
            used_bytes, used_count = conn.execute(
                "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT), COUNT(*) FROM uploads "
                "WHERE tenant_id = ?", (tenant_id,)).fetchone()
            if used_count + 1 > max_count:
                raise QuotaExceeded("uploads", max_count, used_count)
            # A byte quota of 0 switches uploads off, empty files included.
            if used_bytes + size > max_bytes or max_bytes == 0:
                raise QuotaExceeded("upload_bytes", max_bytes, used_bytes)
            conn.execute(f"INSERT INTO uploads ({_COLUMNS}) "
                         "VALUES (?, ?, ?, ?, 'receiving', NULL, NULL, ?, ?)",
                         (tenant_id, upload_id, filename, size, now, now))

    def set_state(self, tenant_id: str, upload_id: str, state: str,
                  sha256: str | None = None, error: str | None = None) -> bool:
        """Move an upload on; False when it is gone (deleted or purged meanwhile)."""
        if state not in STATES:
            raise ValueError(f"unknown upload state {state!r}")
        with self.db.write() as conn:
            return conn.execute(
                "UPDATE uploads SET state = ?, sha256 = COALESCE(?, sha256), error = ?, "
                "updated_at = ? WHERE tenant_id = ? AND upload_id = ?",
                (state, sha256, error, self._now(), tenant_id, upload_id)).rowcount > 0

    def get(self, tenant_id: str, upload_id: str) -> UploadRecord | None:
        """An acknowledged upload (one still being received is not an upload yet)."""
        with self.db.read() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM uploads WHERE tenant_id = ? "
                               "AND upload_id = ? AND state != 'receiving'",
                               (tenant_id, upload_id)).fetchone()
        return _record(row) if row else None

    def delete(self, tenant_id: str, upload_id: str) -> bool:
        with self.db.write() as conn:
            return conn.execute("DELETE FROM uploads WHERE tenant_id = ? AND upload_id = ?",
                                (tenant_id, upload_id)).rowcount > 0

    def bytes_by_tenant(self, tenant_ids: Iterable[str]) -> dict[str, int]:
        """Bytes each tenant holds now (what its quota counts), for the scrape."""
        ids = list(tenant_ids)
        if not ids:
            return {}
        with self.db.read() as conn:
            rows = select_in(
                conn, "SELECT tenant_id, CAST(SUM(size) AS BIGINT) FROM uploads "
                "WHERE tenant_id IN ({marks}) GROUP BY tenant_id", ids)
        return {row[0]: row[1] for row in rows}

    def expired(self, created_before: str, receiving_before: str,
                limit: int = 500) -> list[UploadRecord]:
        """Uploads older than retention allows, and receptions abandoned by a dead worker."""
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM uploads WHERE created_at < ? "
                "OR (state = 'receiving' AND created_at < ?) ORDER BY created_at LIMIT ?",
                (created_before, receiving_before, limit)).fetchall()
        return [_record(r) for r in rows]
